"""The chapters run once: nbval's run of each chapter is also the book's.

``pytest --nbval-lax notebooks/ --executed-into=book/notebooks`` (``make test`` and ``make book``
pass it) writes every chapter that passed all its cells into that folder, with the outputs
nbval collected and the state of its widgets, as nbclient would have saved them; the book is
then built from those notebooks without executing them again (book/_config.yml).

The notebooks' kernels talk to pytest over encrypted ZeroMQ, as ``make course``'s kernels do
(jupyter_client's default, "disabled", makes each kernel print a warning).
"""

from __future__ import annotations

import json
from pathlib import Path
from queue import Empty

import pytest

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# Printed by the kernel after the chapter's last cell: every widget it still holds, in the
# notebook format's widget-state layout (ipywidgets' own Widget.get_manager_state).
DUMP_WIDGETS = (
    "import json as _json, sys as _sys\n"
    "_ipywidgets = _sys.modules.get('ipywidgets')\n"
    "print(_json.dumps(_ipywidgets.Widget.get_manager_state(drop_defaults=False)"
    " if _ipywidgets else None))\n"
)
SECONDS = 60


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--executed-into",
        metavar="DIR",
        help="write each chapter that nbval ran without an error, with its outputs and widget "
        "state, into DIR (the book's source)",
    )


def pytest_configure(config: pytest.Config) -> None:
    try:
        import zmq
        from jupyter_client.manager import KernelManager
    except ImportError:  # a GPU machine runs tests/parity with numpy, torch and pytest only
        return

    trait = KernelManager.class_traits().get("transport_encryption")
    if trait is not None and zmq.has("curve"):
        trait.default_value = "auto"


def _is_notebook_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    if _is_notebook_cell(item) and call.when == "call":
        chapter = item.parent
        if not hasattr(chapter, "executed_outputs"):
            chapter.executed_outputs, chapter.failed = {}, False
        chapter.executed_outputs[item.cell_num] = item.test_outputs or []
        chapter.failed |= outcome.get_result().failed


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    folder = item.config.getoption("executed_into")
    chapter = item.parent
    last = _is_notebook_cell(item) and (nextitem is None or nextitem.parent is not chapter)
    if folder and last and not getattr(chapter, "failed", True):
        _write_executed(chapter, Path(folder))
    yield


def _write_executed(chapter, folder: Path) -> None:
    """The chapter's notebook with nbval's outputs and its kernel's widget state, into folder."""
    import nbformat

    notebook = nbformat.from_dict(json.loads(json.dumps(chapter.nb)))
    outputs = chapter.executed_outputs
    assert len(outputs) == sum(c.cell_type == "code" for c in notebook.cells), "a cell did not run"
    count = 0
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(dict(output)) for output in outputs[count]]
            count += 1
            cell.execution_count = count
            for output in cell.outputs:
                if output.output_type == "execute_result":
                    output.execution_count = count
    widgets = _widget_state(chapter.kernel)
    if widgets:
        notebook.metadata["widgets"] = {WIDGET_STATE: widgets}
    nbformat.validate(notebook)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / Path(str(chapter.fspath)).name)


def _widget_state(kernel) -> dict | None:
    """What DUMP_WIDGETS prints in the chapter's kernel."""
    msg_id = kernel.execute_cell_input(DUMP_WIDGETS, allow_stdin=False)
    printed = []
    while True:
        try:
            message = kernel.get_message(stream="iopub", timeout=SECONDS)
        except Empty as error:
            raise RuntimeError("the kernel did not report its widgets") from error
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "error":
            raise RuntimeError("\n".join(content["traceback"]))
        if kind == "stream" and content["name"] == "stdout":
            printed.append(content["text"])
        if kind == "status" and content["execution_state"] == "idle":
            return json.loads("".join(printed))

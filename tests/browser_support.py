"""What the browser tests share: Chromium driven by Playwright, the servers (the built book,
JupyterLab), screenshots, and the check of what a learner sees of an explorer.

Chromium is the system's (Debian's /usr/bin/chromium, or ``CHROMIUM=/path``), installed by
``make test`` when missing; Playwright's own browser download is never used. Screenshots go to
test-artifacts/ (git-ignored): one of every explorer at 1280 px on every run, and one of the page
whenever a test fails, named in the failure message.

The fixtures (one Chromium, one book server, one JupyterLab for the whole session) are in
tests/browser_fixtures.py, which the test modules load as a pytest plugin.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book" / "_build" / "html"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# The chapters with explorers (widgets); tests/test_book.py checks that no other page has one.
EXPLORER_CHAPTERS = ("00_tour", "01_neuron", "02_activations", "07_optimizers", "08_training")
# The screens every explorer must fit: a laptop (the smallest the course supports) and a desktop.
VIEWPORTS = ((1280, 800), (1920, 1080))
SCREENSHOT_WIDTH = 1280
EXPLORER = ".nnlearn-explorer"
HANDLE = ".noUi-handle"
EXPLORER_CHECK = (Path(__file__).with_name("explorer_check.js")).read_text()


# ---------------------------------------------------------------------------------------------
# Screenshots and servers


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=False)
    return path


@contextmanager
def screenshot_on_failure(page: Page, name: str) -> Iterator[None]:
    """Re-raise any failure inside the block with the path of a screenshot taken at that moment."""
    try:
        yield
    except Exception as error:
        path = screenshot(page, f"{name}-failure")
        raise AssertionError(f"{error}\nScreenshot of the page: {path}") from error


# ---------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyter_server(command: list[str], env: dict[str, str], port: int, token: str):
    """Start a Jupyter server (its own process group), wait until it answers, stop it after.

    Its output goes to a file, read back when the server does not come up."""
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        else:
            log.seek(0)
            output = log.read().decode(errors="replace")[-3000:]
            pytest.fail(f"the Jupyter server did not answer (exit {server.poll()}):\n{output}")
        yield base
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def lab_command(root_dir: Path, settings: Path, port: int, token: str) -> list[str]:
    """``jupyter lab`` on 127.0.0.1 with a token and fresh settings: no news pop-up (it asks
    about fetching news from the internet and covers part of the page), no virtual scrolling."""
    for plugin, value in {
        "apputils-extension/notification": '{"fetchNews": "false"}',
        # Every cell stays in the page, scrolled into view or not.
        "notebook-extension/tracker": '{"windowingMode": "none"}',
    }.items():
        path = settings / "settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
    command = [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
        # Fresh settings and workspace: nothing from the user's own JupyterLab leaks in.
        f"--LabApp.user_settings_dir={settings / 'settings'}",
        f"--LabApp.workspaces_dir={settings / 'workspaces'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


class Lab:
    """A running JupyterLab: its address with the token, and its REST API."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def url(self, path: str) -> str:
        return f"{self.base}/{path}?token={self.token}"

    def shut_down_kernels(self) -> None:
        """Stop every kernel, so a chapter already checked takes no more CPU or memory."""
        with urllib.request.urlopen(self.url("api/kernels"), timeout=10) as answer:
            kernels = json.load(answer)
        for kernel in kernels:
            request = urllib.request.Request(
                self.url(f"api/kernels/{kernel['id']}"), method="DELETE"
            )
            urllib.request.urlopen(request, timeout=30).close()


# ---------------------------------------------------------------------------------------------
# Explorers


def settle(page: Page) -> None:
    """Wait until the page has laid itself out again (after a resize): two animation frames."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def resize(page: Page, width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    settle(page)
    page.wait_for_timeout(200)  # JupyterLab's panels lay out on their own message loop
    settle(page)


def what_is_hidden(explorer: Locator, area: str) -> list[str]:
    """Every control, readout or figure of ``explorer`` a learner cannot fully see in the
    output area ``area`` (a CSS selector of its ancestor); see tests/explorer_check.js."""
    return explorer.evaluate(EXPLORER_CHECK, area)


# The source of the figure's image on show (a Stack renders only its selected frame).
SHOWN_FIGURE = """e => [...e.querySelectorAll('.nnlearn-figure img')]
    .filter(i => i.getClientRects().length)
    .map(i => i.getAttribute('src') || '').join(' ')"""


def shown_figure(explorer: Locator) -> str:
    return explorer.evaluate(SHOWN_FIGURE)


def move_slider(page: Page, explorer: Locator, number: int) -> str:
    """Press an arrow key on the explorer's slider ``number`` (0: the first, its main control),
    to the right or, at the slider's end, to the left; return the figure on show before."""
    handle = explorer.locator(HANDLE).nth(number)
    handle.scroll_into_view_if_needed()
    before = shown_figure(explorer)
    now, end = handle.get_attribute("aria-valuenow"), handle.get_attribute("aria-valuemax")
    at_end = now is not None and end is not None and float(now) >= float(end)
    handle.focus()
    page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")
    return before


def wait_for_new_figure(page: Page, explorer: Locator, before: str, timeout_ms: int) -> None:
    page.wait_for_function(
        f"([e, old]) => {{ const src = ({SHOWN_FIGURE})(e); return src && src !== old; }}",
        arg=[explorer.element_handle(), before],
        timeout=timeout_ms,
    )


def explorer_shot(page: Page, explorer: Locator, name: str, margin_px: int) -> Path:
    """A screenshot of the page with ``explorer`` near the top of the view, ``margin_px`` below
    it (below the book's sticky header, or the end of the cell above in JupyterLab)."""
    explorer.evaluate(
        """(e, margin) => {
            e.scrollIntoView({block: 'start'});
            let s = e.parentElement;  // the panel that scrolls (JupyterLab's), else the window
            while (s && !(s.scrollHeight > s.clientHeight
                          && /auto|scroll/.test(getComputedStyle(s).overflowY))) {
                s = s.parentElement;
            }
            (s || window).scrollBy(0, -margin);
        }""",
        margin_px,
    )
    settle(page)
    return screenshot(page, name)


def shot_name(where: str, chapter: str, number: int, width: int) -> str:
    """``lab-02_activations-1280``; the second explorer of a chapter ``lab-00_tour-2-1280``."""
    return f"{where}-{chapter}{'' if number == 1 else f'-{number}'}-{width}"


def explorers_problems(
    page: Page,
    where: str,
    chapter: str,
    area: str,
    respond: Callable[[Page, Locator], str | None],
    margin_px: int,
) -> list[str]:
    """Check every explorer on the page at every size in VIEWPORTS; at SCREENSHOT_WIDTH also
    move its controls (``respond`` says what went wrong, if anything) and check it again.

    Returns one line per problem, each naming the explorer, the size and a screenshot of it
    (taken at SCREENSHOT_WIDTH always, at another size when something is wrong there)."""
    explorers = page.locator(EXPLORER)
    problems = []
    for width, height in VIEWPORTS:
        resize(page, width, height)
        for i in range(explorers.count()):
            explorer = explorers.nth(i)
            hidden = what_is_hidden(explorer, area)
            label = f"{where} {chapter} explorer {i + 1} at {width}x{height}"
            if hidden or width == SCREENSHOT_WIDTH:
                name = shot_name(where, chapter, i + 1, width)
                label += f" ({explorer_shot(page, explorer, name, margin_px).relative_to(ROOT)})"
            problems += [f"{label}: {p}" for p in hidden]
            if width == SCREENSHOT_WIDTH:
                failure = respond(page, explorer)
                moved = [failure] if failure else what_is_hidden(explorer, area)
                problems += [f"{label}, after moving its sliders: {p}" for p in moved]
    return problems


def figure_follows_the_slider(
    page: Page, explorer: Locator, timeout_ms: int, number: int = 0
) -> str | None:
    """Move the explorer's slider ``number`` (0: its main control); None when the figure on
    show changes within ``timeout_ms``, else what went wrong."""
    before = move_slider(page, explorer, number)
    try:
        wait_for_new_figure(page, explorer, before, timeout_ms)
    except PlaywrightTimeoutError:
        return f"slider {number + 1} moved, the figure did not change in {timeout_ms / 1000:g} s"
    return None

"""The house rules of nnlearn's import graph, read from the source with ``ast``.

* No module imports a module of a later chapter (a learner who opens a module after its chapter
  recognises every name in it), and no chapter module imports a tool module, except the
  documented lazy uses listed below.
* No import circle, except the engine's documented one.
* No module over MAX_LINES lines (DESIGN: "at most ~400").

Every import counts: at the top of a module, inside a function, under ``TYPE_CHECKING``, and a
module named to ``importlib.import_module``. When the name given to ``import_module`` is
computed (``f"nnlearn.{module}"``), every string of the module that names an nnlearn module
(``"activations"``, ``"functional.add"``, ``"nnlearn.reductions"``) counts as an import of it:
that is how ``Tensor``'s methods name the functions they call.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nnlearn as nl

pytestmark = pytest.mark.harness

PACKAGE = Path(nl.__file__).parent
MAX_LINES = 430

# The course order, as each module's docstring states it. A module may import modules of its own
# chapter and of earlier ones. The engine is built in chapter 06 but every chapter uses it (the
# tour shows Tensors), so it comes first.
CHAPTERS = {
    "engine": ("tensor", "functional", "autograd", "reductions", "inplace", "seeding", "display"),
    "02": ("activations",),
    "03": ("initializers", "module", "layers"),
    "04": ("losses",),
    "05": ("gradcheck", "scalar"),
    "07": ("update_rules", "schedules", "optim"),
    "08": ("metrics", "data", "training", "trainer", "models"),
    "09": ("regularizers", "regularization", "pruning", "augmentation"),
    "10": ("tracking",),
    "11": ("tuning", "tuning_optuna", "estimators"),
    "13": ("saving",),
    "14": ("conv",),
    "15": ("recurrent", "bptt", "clipping", "series"),
    "16": ("attention",),
    "17": ("generative",),
    "18": ("cartpole", "policy_gradient"),
    "19": ("clinical",),
    "20": ("distributed",),
}
# Tools around the chapters may import any module; chapter modules do not import them. The
# package itself (``nnlearn``) is the front door: it loads every module lazily.
TOOLS = ("nnlearn", "parity", "report", "plotting", "widgets", "graph_view")

# Imports against the chapter order that the modules document, and why.
LATER_CHAPTER_IMPORTS = {
    ("tensor", "activations"): "Tensor.relu()/tanh()/sigmoid() call chapter 02's functions, "
    "imported at the first call (tensor.py's docstring)",
    ("layers", "regularizers"): "Dense(kernel_regularizer='l2') looks the name up in chapter 09's "
    "module, imported only when a name is given",
    ("layers", "regularization"): "nnlearn.layers.Dropout and the other later layers are "
    "reachable by their Keras path; their module loads at the first use of the name (PEP 562)",
    ("layers", "conv"): "nnlearn.layers.Conv2D and the other Part III layers: the same PEP 562 "
    "route as Dropout",
    ("layers", "recurrent"): "nnlearn.layers.LSTM, ...: the same route",
    ("layers", "attention"): "nnlearn.layers.MultiHeadAttention, Embedding: the same route",
    ("models", "saving"): "model.save()/save_weights()/load_weights() and models.load_model are "
    "Keras's names on the model; they call chapter 13's module, imported when called",
}
TOOL_IMPORTS = {
    ("gradcheck", "report"): "gradcheck returns a Report, the table parity checks return too",
}
# The engine's one circle: Tensor's methods call the operation modules, and those import
# tensor (to make Tensors). tensor imports them inside the methods, at the first call, so
# `import nnlearn.tensor` works alone; autograd names Tensor only in type annotations.
CIRCLE_IMPORTS = {
    ("tensor", "functional"),
    ("tensor", "reductions"),
    ("tensor", "inplace"),
    ("tensor", "activations"),
    ("autograd", "tensor"),
    # Keras's API puts save() on the model and rebuilding a model in the loader: models calls
    # saving inside its methods (chapter 13), saving makes Sequential models.
    ("models", "saving"),
    # Keras's layers are all reachable as nnlearn.layers.<Name>: layers names the later
    # chapters' modules inside its PEP 562 __getattr__, and they build on Dense's helpers
    # (Affine, the get_config helpers) from layers.
    ("layers", "conv"),
    ("layers", "recurrent"),
    ("layers", "attention"),
}


# --- reading the imports -------------------------------------------------------------------------
def module_files() -> dict[str, Path]:
    """Each module of the package by its name inside it (``"losses.classes"``); the package
    itself is ``"nnlearn"``."""
    files = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts) or "nnlearn"] = path
    return files


def _module_named(dotted: str, modules: set[str]) -> str | None:
    """The longest known module that ``dotted`` names or is inside (``"nnlearn.losses.huber"``
    -> ``"losses"``); the package itself for a name of its own (``"nnlearn.Tensor"``)."""
    parts = dotted.split(".")
    if parts[0] != "nnlearn":
        return None
    for end in range(len(parts), 1, -1):
        if ".".join(parts[1:end]) in modules:
            return ".".join(parts[1:end])
    return "nnlearn"


def imports_of(source: str, name: str, modules: set[str], package: bool = False) -> set[str]:
    """The nnlearn modules that the module ``name`` (a package's ``__init__`` when ``package``)
    with this source imports, anywhere in it."""
    here = [] if name == "nnlearn" else name.split(".")[: None if package else -1]
    found, computed, strings = set(), False, set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {_module_named(alias.name, modules) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = [node.module] if node.module else []
            if node.level:  # from . import x, from ..tensor import Tensor
                base = ["nnlearn", *here[: len(here) - node.level + 1], *base]
            for alias in node.names:
                found.add(_module_named(".".join([*base, alias.name]), modules))
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module"):
            argument = node.args[0]
            if isinstance(argument, ast.Constant):
                found.add(_module_named(argument.value, modules))
            else:
                computed = True
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.add(node.value)
    if computed:  # the strings that name a module (the others name the package: dropped)
        named = {_module_named(f"nnlearn.{s.removeprefix('nnlearn.')}", modules) for s in strings}
        found |= named - {"nnlearn"}
    return found - {None, name}


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {
        name: imports_of(path.read_text(), name, set(files) - {"nnlearn"}, path.stem == "__init__")
        for name, path in files.items()
    }


# --- the rules, as functions of a graph {module: the modules it imports} -------------------------
def _part(module: str) -> str:
    return module.split(".")[0]


RANK = {part: rank for rank, parts in enumerate(CHAPTERS.values()) for part in parts}
CHAPTER_OF = {part: chapter for chapter, parts in CHAPTERS.items() for part in parts}


def order_violations(graph: dict[str, set[str]]) -> list[str]:
    """Each import of a later chapter's module, or of a tool by a chapter module, not listed
    above, as a sentence naming both modules and their chapters."""
    found = []
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            edge = (_part(module), _part(target))
            if edge[0] in TOOLS or edge[0] == edge[1] or not {*edge} <= {*RANK, *TOOLS}:
                continue  # (a module in no chapter fails the test that places every module)
            if edge[1] in TOOLS:
                if edge not in TOOL_IMPORTS:
                    found.append(f"{module} (chapter {CHAPTER_OF[edge[0]]}) imports tool {target}")
            elif RANK[edge[1]] > RANK[edge[0]] and edge not in LATER_CHAPTER_IMPORTS:
                found.append(
                    f"{module} (chapter {CHAPTER_OF[edge[0]]}) imports {target}, "
                    f"of the later chapter {CHAPTER_OF[edge[1]]}"
                )
    return found


def circles(graph: dict[str, set[str]], allowed: set[tuple[str, str]]) -> list[list[str]]:
    """Each import circle ``[a, b, ..., a]`` found by a depth-first walk, once the ``allowed``
    imports are set aside."""
    edges = {
        m: sorted(t for t in ts if (m, t) not in allowed and t in graph) for m, ts in graph.items()
    }
    found, done = [], set()
    for start in sorted(edges):
        if start in done:
            continue
        path, stack = [start], [iter(edges[start])]
        while stack:  # depth first, without recursion
            target = next(stack[-1], None)
            if target is None:
                done.add(path.pop())
                stack.pop()
            elif target in path:
                found.append(path[path.index(target) :] + [target])
            elif target not in done:
                path.append(target)
                stack.append(iter(edges[target]))
    return found


GRAPH = import_graph()


# --- the package obeys them ----------------------------------------------------------------------
def test_every_module_has_a_place_in_the_chapter_order_or_among_the_tools():
    placed = set(RANK) | set(TOOLS)
    assert sorted({_part(m) for m in GRAPH} - placed) == [], "add it to CHAPTERS or TOOLS"
    assert sorted(placed - {_part(m) for m in GRAPH}) == [], "no such module: remove it"


def test_no_module_imports_a_later_chapter_or_a_tool():
    assert order_violations(GRAPH) == []


def test_the_only_circle_is_the_engines():
    assert circles(GRAPH, CIRCLE_IMPORTS) == []


def test_every_listed_exception_is_an_import_the_package_makes():
    """An exception that no longer happens is removed from the lists, so they stay the truth."""
    made = {(_part(m), _part(t)) for m, ts in GRAPH.items() for t in ts}
    assert sorted({*LATER_CHAPTER_IMPORTS, *TOOL_IMPORTS, *CIRCLE_IMPORTS} - made) == []


def test_schedules_and_update_rules_import_no_nnlearn_module():
    """optim imports them; an import back (even a late one) would be a circle."""
    assert GRAPH["schedules"] == GRAPH["update_rules"] == set()


def test_no_module_is_over_the_line_limit():
    lines = {name: len(path.read_text().splitlines()) for name, path in module_files().items()}
    largest = sorted(lines, key=lines.get, reverse=True)[:3]
    print("largest modules:", ", ".join(f"{name} ({lines[name]} lines)" for name in largest))
    assert {name: n for name, n in lines.items() if n > MAX_LINES} == {}


# --- and the rules catch what they should ---------------------------------------------------------
MODULES = {"tensor", "functional", "activations", "layers", "losses", "losses.classes", "models"}


def test_imports_are_found_at_the_top_in_functions_and_through_import_module():
    source = """
import importlib
from nnlearn import activations
from nnlearn.losses.classes import Loss
import nnlearn.functional as F

def late():
    from nnlearn import models
    return importlib.import_module("nnlearn.layers")
"""
    found = imports_of(source, "tensor", MODULES)
    assert found == {"activations", "losses.classes", "functional", "models", "layers"}
    relative = "from .classes import Loss\nfrom ..tensor import Tensor\n"
    assert imports_of(relative, "losses.functions", MODULES) == {"losses.classes", "tensor"}
    assert imports_of("from . import classes", "losses", MODULES, package=True) == {
        "losses.classes"
    }


def test_a_computed_import_module_counts_every_module_the_strings_name():
    source = """
import importlib
METHODS = ["functional.add", "layers.Dense", "nnlearn.models", "data", "T"]
def call(path):
    return importlib.import_module(f"nnlearn.{path.split('.')[0]}")
"""
    assert imports_of(source, "tensor", MODULES) == {"functional", "layers", "models"}


def test_a_planted_import_of_a_later_chapter_or_a_tool_is_named():
    graph = {
        "layers": {"tensor", "models"},
        "losses.classes": {"parity.core"},
        "tensor": {"activations"},
    }
    assert order_violations(graph) == [
        "layers (chapter 03) imports models, of the later chapter 08",
        "losses.classes (chapter 04) imports tool parity.core",
    ]


def test_a_planted_circle_is_named_and_the_allowed_one_is_not():
    graph = {
        "tensor": {"functional"},
        "functional": {"tensor"},
        "layers": {"losses.classes"},
        "losses.classes": {"models"},
        "models": {"layers"},
    }
    assert circles(graph, CIRCLE_IMPORTS) == [["layers", "losses.classes", "models", "layers"]]
    assert circles(graph, set()) == [
        ["functional", "tensor", "functional"],
        ["layers", "losses.classes", "models", "layers"],
    ]

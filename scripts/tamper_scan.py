"""Static flags for a submission's cells (issue 13): what a student's code should have no reason
to do, read with ``ast`` before anything runs. The judge already keeps the student's code from
changing the tests (scripts/judge.py); these flags point the instructor at submissions that
tried, and at the ones that reach outside their folder, for a review by a person.

``scan(student_cells, instructor_cells)`` returns flags such as
``rebinds-instructor-name:check_activation`` (a name an instructor's cell defines or imports,
given another value), ``sets-module-attribute:np.testing.assert_allclose``, ``uses:setattr``,
``uses:os.fork``, ``imports:ctypes``, ``path-outside-folder:/etc/passwd``. A cell Python
cannot parse gives ``unparsable-cell`` (it fails when it runs, too).
"""

from __future__ import annotations

import ast
import re

# Names, attributes and modules that reach into the interpreter, the process or the machine.
NAMES = set("setattr delattr __builtins__ builtins globals vars eval exec __import__".split())
ATTRIBUTES = set(
    "__code__ __globals__ __subclasses__ __builtins__ f_globals f_locals f_back _getframe".split()
)
OS_CALLS = set(
    "system popen fork forkpty kill killpg _exit execv execve execvp spawnv remove unlink rename "
    "replace rmdir chmod chown symlink setrlimit".split()
)
MODULES = set(
    "ctypes subprocess socket multiprocessing signal resource urllib http requests gc inspect "
    "importlib builtins pty mmap".split()
)
OUTSIDE = re.compile(r"^(~?/|\.\./)\S*[A-Za-z]\S*$")  # /abs/path, ~/path, ../path


def _imports(nodes) -> dict[str, str]:
    """name -> what it imports (np -> numpy, gradcheck -> nnlearn.gradcheck.gradcheck)."""
    names = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _bound(node: ast.AST, names: set[str]) -> set[str]:
    """Names a cell binds in its own scope (not inside its functions, classes, lambdas)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names.add(node.name)
        return names
    if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        return names
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        names.add(node.id)
    names.update(_imports([node]))
    for child in ast.iter_child_nodes(node):
        _bound(child, names)
    return names


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "(...)"


def scan(student_cells: list[str], instructor_cells: list[str]) -> list[str]:
    """The flags of the student's cells, in order, each once."""
    imported, defined = {}, set()
    for source in instructor_cells:
        tree = ast.parse(source)
        imported.update(_imports(ast.walk(tree)))
        defined.update(
            node.name
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        )
    flags: dict[str, None] = {}
    for source in student_cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            flags["unparsable-cell"] = None
            continue
        own = _imports(ast.walk(tree))
        modules = {**imported, **own}
        for name in sorted(_bound(tree, set()) & (defined | set(imported))):
            if not (name in own and own[name] == imported.get(name)):  # not the same import
                flags[f"rebinds-instructor-name:{name}"] = None
        for node in ast.walk(tree):
            flags.update(dict.fromkeys(_node_flags(node, modules)))
    return list(flags)


def _node_flags(node: ast.AST, modules: dict[str, str]):
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            for part in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
                # np.testing.assert_allclose = ..., sys.modules["numpy"] = ...
                if isinstance(part, ast.Subscript) and isinstance(part.value, ast.Attribute):
                    part = part.value
                if isinstance(part, ast.Attribute) and _dotted(part).split(".")[0] in modules:
                    yield f"sets-module-attribute:{_dotted(part)}"
    elif isinstance(node, ast.Name) and node.id in NAMES:
        yield f"uses:{node.id}"
    elif isinstance(node, ast.Attribute):
        dotted = _dotted(node)
        if node.attr in ATTRIBUTES or dotted == "sys.modules":
            yield f"uses:{dotted}"
        elif node.attr in OS_CALLS and modules.get(dotted.split(".")[0]) == "os":
            yield f"uses:os.{node.attr}"
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        for name in [getattr(node, "module", None) or ""] + [alias.name for alias in node.names]:
            if name.split(".")[0] in MODULES:
                yield f"imports:{name.split('.')[0]}"
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        if OUTSIDE.match(node.value) and len(node.value) < 200:
            yield f"path-outside-folder:{node.value}"

"""The shape of the product code (shared/, functions/, main.py), read from the source with `ast`.

- No import cycles, counting every import: at module level, inside functions, under TYPE_CHECKING.
- An import inside a function says why on its line or the line above (it keeps a heavy dependency off a
  cold path); anything else belongs at the top of the module.
- No module over MAX_LINES lines.

"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 300


def product_files() -> dict[str, Path]:
    """Every product module by its dotted name (a package by its own name, not `.__init__`)."""
    files = [*sorted((ROOT / "shared").rglob("*.py")), *sorted((ROOT / "functions").rglob("*.py")), ROOT / "main.py"]
    modules = {}
    for path in files:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = product_files()


def _product_module(dotted: str) -> str | None:
    """The product module a dotted name is or lies in (`shared.queue.Task` -> `shared.queue`)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in MODULES:
            return name
    return None


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the importing package
            package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
            anchor = package[: len(package) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        # `from pkg import mod` imports the submodule; `from mod import name` the module itself
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    for name in names:
        found = _product_module(name)
        if found is not None and found != module:
            yield found


def _walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function
        inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _walk(child, inside)


def import_edges() -> set[tuple[str, str]]:
    """(importer, imported) for every import of a product module by another, wherever it is written."""
    edges = set()
    for module, path in MODULES.items():
        for node, _ in _walk(ast.parse(path.read_text(), filename=str(path)), False):
            edges |= {(module, target) for target in _targets(module, node)}
    return edges


def function_level_imports() -> list[tuple[str, int, str]]:
    """(module, line, statement's first line) of every import inside a function, of product modules or not."""
    found = []
    for module, path in MODULES.items():
        source = path.read_text()
        lines = source.splitlines()
        for node, in_function in _walk(ast.parse(source), False):
            if in_function:
                found.append((module, node.lineno, lines[node.lineno - 1].strip()))
    return found


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for a, b in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _explained(lines: list[str], line: int) -> bool:
    """A comment on the import's line, or a comment line just above it or above the run of imports it ends."""
    if "#" in lines[line - 1]:
        return True
    above = line - 2
    while above >= 0 and lines[above].strip().startswith(("import ", "from ")):
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")


def test_the_import_graph_sees_every_kind_of_import() -> None:
    source = (
        "def f():\n    from shared.deploy import engine\n    import shared.queue.local\nfrom shared.queue import Task\n"
    )
    found = [(t, inside) for node, inside in _walk(ast.parse(source), False) for t in _targets("main", node)]
    assert found == [("shared.deploy.engine", True), ("shared.queue.local", True), ("shared.queue", False)]
    assert ("main", "functions.routes") in import_edges()
    # a cycle is found, whatever its length
    assert cycles({("main", "shared.services"), ("shared.services", "shared.queue"), ("shared.queue", "main")}) == [
        ["main", "shared.queue", "shared.services"]
    ]
    # a comment above a run of imports explains the run; one on the line explains that line alone
    lines = [
        "def f():",
        "    # why",
        "    import a",
        "    import b",
        "    x = 1",
        "    import c  # why",
        "    import d",
    ]
    assert [_explained(lines, n) for n in (3, 4, 6, 7)] == [True, True, True, False]


def test_no_import_cycles() -> None:
    edges = import_edges()
    assert cycles(edges) == []


def subsystem(module: str) -> str:
    """shared.deploy.steps.cleanup -> shared.deploy; functions.routes -> functions; main -> main."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "shared" else parts[0]


def test_subsystems_form_layers() -> None:
    # No package imports another that imports it back: the README's layers and docs/packages.svg hold.
    edges = {(subsystem(a), subsystem(b)) for a, b in import_edges() if subsystem(a) != subsystem(b)}
    assert cycles(edges) == []


def test_imports_inside_functions_say_why() -> None:
    unexplained = []
    for module, line, statement in function_level_imports():
        if not _explained(MODULES[module].read_text().splitlines(), line):
            unexplained.append((module, statement))
    assert sorted(set(unexplained)) == [], "say why on the line or the line above"


def test_no_module_is_long() -> None:
    lengths = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    long = {m for m, n in lengths.items() if n > MAX_LINES}
    assert sorted((m, lengths[m]) for m in long) == []

"""The product's packages and the imports between them, read from the code with ast (no imports run).

Nodes are the subpackages of shared/ (plus shared/services.py, the composition root), functions/ and main.py;
an edge A -> B means some module of A imports one of B. Imports under `if TYPE_CHECKING:` are left out (they
create no runtime dependency); an edge whose imports all sit inside functions (kept off a cold path) is
marked lazy. scripts/package_diagram.py draws it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Edge:
    imports: int = 0  # import statements behind it
    lazy: bool = True  # all of them inside functions


@dataclass
class Graph:
    modules: dict[str, list[str]] = field(default_factory=dict)  # node -> its module names
    edges: dict[tuple[str, str], Edge] = field(default_factory=dict)  # (importer, imported)


# ---- reading the code ---------------------------------------------------------------------------------


def node_of(module: str) -> str | None:
    """The diagram node a dotted module name belongs to (None: outside the product, or `shared` itself)."""
    parts = module.split(".")
    if parts[0] in ("main", "functions"):
        return parts[0]
    if parts[0] == "shared" and len(parts) > 1:
        return parts[1]
    return None


def product_modules(root: Path) -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every product module, in a stable order."""
    yield "main", root / "main.py"
    for package in ("functions", "shared"):
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[str, bool]]:
    """(imported module, inside a function) for each import that runs, TYPE_CHECKING blocks left out."""

    def visit(node: ast.AST, lazy: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    yield from visit(other, lazy)
                continue
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, inner
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(child, module, is_package)
                for alias in child.names:
                    yield f"{base}.{alias.name}" if base in ("shared", "") else base, inner
            else:
                yield from visit(child, inner)

    yield from visit(tree, False)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def read_graph(root: Path = ROOT) -> Graph:
    graph = Graph()
    for module, path in product_modules(root):
        source = node_of(module)
        if source is None:
            continue  # shared/__init__.py
        graph.modules.setdefault(source, [])
        if path.name != "__init__.py":
            graph.modules[source].append(path.stem if module.count(".") else module)
        tree = ast.parse(path.read_text(), str(path))
        for target_module, lazy in imports(tree, module, path.name == "__init__.py"):
            target = node_of(target_module)
            if target is None or target == source:
                continue
            edge = graph.edges.setdefault((source, target), Edge())
            edge.imports += 1
            edge.lazy = edge.lazy and lazy
    return graph


# ---- cycles and layers ----------------------------------------------------------------------------------


def in_cycle(graph: Graph, a: str, b: str) -> bool:
    """True when the edge a -> b lies on an import cycle (b reaches a back)."""
    seen, todo = {b}, [b]
    while todo:
        cur = todo.pop()
        for x, y in graph.edges:
            if x == cur and y not in seen:
                if y == a:
                    return True
                seen.add(y)
                todo.append(y)
    return a == b


def upward_edges(graph: Graph) -> set[tuple[str, str]]:
    """The edges to draw upwards so the rest has no cycle: the lightest edge of a cycle first (by imports)."""
    up: set[tuple[str, str]] = set()
    while True:
        rest = Graph(graph.modules, {k: v for k, v in graph.edges.items() if k not in up})
        cyclic = [k for k in sorted(rest.edges) if in_cycle(rest, *k)]
        if not cyclic:
            return up
        up.add(min(cyclic, key=lambda k: (graph.edges[k].imports, k)))


def levels(graph: Graph, up: set[tuple[str, str]]) -> dict[str, int]:
    """0 for a package that imports nothing of ours; else one above the highest package it imports."""
    level = dict.fromkeys(graph.modules, 0)
    for _ in graph.modules:  # longest path: len(nodes) rounds always settle it
        for a, b in sorted(graph.edges):
            if (a, b) not in up:
                level[a] = max(level[a], level[b] + 1)
    return level

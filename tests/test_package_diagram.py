"""The checked-in package diagram (docs/packages.svg, docs/packages.txt) is what the code says now."""

from __future__ import annotations

from pathlib import Path

from scripts.package_diagram import SVG_PATH, TEXT_PATH, svg, text
from scripts.package_graph import read_graph

SHARED = Path(__file__).resolve().parent.parent / "shared"


def test_the_checked_in_diagram_matches_the_code() -> None:
    graph = read_graph()
    assert SVG_PATH.read_text() == svg(graph), "docs/packages.svg is stale: run `make diagram`"
    assert TEXT_PATH.read_text() == text(graph), "docs/packages.txt is stale: run `make diagram`"


def test_every_package_is_a_node_and_the_output_is_deterministic() -> None:
    packages = {p.parent.name for p in SHARED.glob("*/__init__.py")} | {"services", "functions", "main"}
    graph = read_graph()
    assert set(graph.modules) == packages
    assert svg(read_graph()) == svg(graph) and text(read_graph()) == text(graph)
    assert ("main", "functions") in graph.edges and not any(b == "main" for _, b in graph.edges)

"""No two packages under makegood import each other, directly or round a loop."""

from __future__ import annotations

from collections import defaultdict

import grimp


def package_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("makegood")
    edges: dict[str, set[str]] = defaultdict(set)
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = (m.split(".")[1] if "." in m else m for m in (module, imported))
            if a != b and b != "makegood":
                edges[a].add(b)
    return edges


def cycle_in(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle, as the packages round it, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_loop():
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": {"c"}}) is None


def test_no_cycle_among_the_packages():
    edges = package_graph()
    assert "core" in edges["campaigns"]  # the graph was really built
    assert cycle_in(edges) is None

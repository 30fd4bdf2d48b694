"""The hmpo import graph has no circle (issue #13, item 7): the config is the bottom layer,
the multi-stage baseline sits above the trainer, the method dispatch above both.

Every ``import``/``from ... import`` of an hmpo module counts, at module level or inside a
function (a lazy import is still a dependency); only ``if TYPE_CHECKING:`` blocks, which
never run, are left out.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "hmpo"
MODULES = sorted(f"hmpo.{p.stem}" for p in PKG.glob("*.py") if p.stem != "__init__")


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def hmpo_imports(path: Path) -> set[str]:
    """hmpo modules imported anywhere in the file (TYPE_CHECKING blocks excepted)."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("hmpo."))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "hmpo":  # from hmpo import synthetic
                out.update(f"hmpo.{a.name}" for a in node.names)
            elif node.module.startswith("hmpo."):
                out.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" \
                and node.args and isinstance(node.args[0], ast.Constant) \
                and str(node.args[0].value).startswith("hmpo."):
            out.add(node.args[0].value)  # importlib.import_module("hmpo.x")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in out if (PKG / f"{m.split('.')[1]}.py").is_file()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state and (c := dfs(v)):
                return c
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state and (c := dfs(u)):
            return c
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_hmpo_import_graph_has_no_cycle():
    graph = {m: hmpo_imports(PKG / f"{m.split('.')[1]}.py") - {m} for m in MODULES}
    assert graph["hmpo.config"] <= {"hmpo.benchmarks", "hmpo.rewards"}, graph["hmpo.config"]
    assert "hmpo.train" not in graph["hmpo.multistage"] or \
        "hmpo.multistage" not in graph["hmpo.train"]
    assert find_cycle(graph) is None, f"import circle: {' -> '.join(find_cycle(graph))}"


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports(module):
    importlib.import_module(module)

"""The hmpo import graph has no circle and runs only downwards through the pipeline's layers.

Layers, bottom to top (a module may import its own layer and those below it):
``config``/``paths``/``io`` < ``task`` < ``models`` < ``training`` < ``evaluation`` < ``analysis``
< ``pipeline``. One exception, declared in ALLOWED_UP: the config's cross-field checks look
reward and benchmark names up in their registries, so a typo in params.yaml fails before any
stage runs.

Every ``import``/``from ... import`` of an hmpo module counts, at module level or inside a
function (a lazy import is still a dependency); only ``if TYPE_CHECKING:`` blocks, which
never run, are left out.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "hmpo"


def module_name(path: Path) -> str:
    """hmpo/task/data.py -> hmpo.task.data; hmpo/task/__init__.py -> hmpo.task."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_path(name: str) -> Path | None:
    """The file of an hmpo module or package, or None when there is none."""
    base = ROOT.joinpath(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


MODULES = sorted(module_name(p) for p in PKG.rglob("*.py"))
LAYERS = ("config", "paths", "io", "task", "models", "training", "evaluation", "analysis",
          "pipeline")
RANK = {"config": 0, "paths": 0, "io": 0, "task": 1, "models": 2, "training": 3, "evaluation": 4,
        "analysis": 5, "pipeline": 6}
ALLOWED_UP = {("hmpo.config", "hmpo.training.rewards"), ("hmpo.config", "hmpo.task.benchmarks")}


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
            if node.module == "hmpo":  # from hmpo.task import synthetic
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
    return {m for m in out if module_path(m) and m != "hmpo"}


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


def import_graph() -> dict[str, set[str]]:
    return {m: hmpo_imports(module_path(m)) - {m} for m in MODULES}


def layer(module: str) -> int:
    return RANK[module.split(".")[1]]


def test_hmpo_import_graph_has_no_cycle():
    graph = import_graph()
    assert find_cycle(graph) is None, f"import circle: {' -> '.join(find_cycle(graph))}"


def test_every_module_sits_in_a_layer():
    assert {m.split(".")[1] for m in MODULES if m != "hmpo"} <= set(LAYERS)


def test_imports_run_down_the_layers():
    up = sorted((m, d) for m, deps in import_graph().items() if m != "hmpo" for d in deps
                if layer(d) > layer(m) and (m, d) not in ALLOWED_UP)
    assert not up, f"imports from a lower layer to a higher one: {up}"


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports(module):
    importlib.import_module(module)

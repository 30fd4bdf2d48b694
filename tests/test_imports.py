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

import importlib

import pytest

from hmpo.pipeline.stage_deps import ROOT, hmpo_imports, module_name, module_path

PKG = ROOT / "hmpo"
MODULES = sorted(module_name(p) for p in PKG.rglob("*.py"))
LAYERS = ("config", "paths", "io", "task", "models", "training", "evaluation", "analysis",
          "pipeline")
RANK = {"config": 0, "paths": 0, "io": 0, "task": 1, "models": 2, "training": 3, "evaluation": 4,
        "analysis": 5, "pipeline": 6}
ALLOWED_UP = {("hmpo.config", "hmpo.training.rewards"), ("hmpo.config", "hmpo.task.benchmarks")}


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
    """Every module's hmpo imports (hmpo.pipeline.stage_deps: lazy ones and modules named
    as strings count)."""
    return {m: hmpo_imports(module_path(m)) - {m, "hmpo"} for m in MODULES}


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

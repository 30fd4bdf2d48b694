"""Each DVC stage depends on exactly the hmpo modules its notebook runs (hmpo.pipeline.stage_deps).

The import graph decides: a change to a plot must rerun the figures stage and nothing else,
and a change to any module a stage runs must rerun that stage.
"""

from pathlib import Path

import pytest

from hmpo.pipeline.stage_deps import (
    closure,
    hmpo_imports,
    rewrite_dvc_yaml,
    stage_modules,
)

REPO = Path(__file__).resolve().parent.parent


def test_dvc_yaml_lists_each_stage_s_modules():
    text = (REPO / "dvc.yaml").read_text()
    assert rewrite_dvc_yaml(text) == text, (
        "dvc.yaml's hmpo deps differ from the import graph: run "
        "`python -m hmpo.pipeline.stage_deps --write`")


def test_every_stage_runs_the_runner_and_the_pins():
    for nb in sorted((REPO / "notebooks").glob("0*.py")):
        mods = stage_modules(nb.relative_to(REPO))
        assert {"hmpo/__init__.py", "hmpo/pipeline/notebook.py", "hmpo/config.py"} <= set(mods)


def test_a_plot_reruns_only_the_figures_stage():
    """plots.py and the report are in the figures stage's deps and in no other stage's."""
    for module in ("hmpo/analysis/plots.py", "hmpo/analysis/report.py",
                   "hmpo/analysis/claims.py"):
        users = [nb.name for nb in sorted((REPO / "notebooks").glob("0*.py"))
                 if module in stage_modules(nb.relative_to(REPO))]
        assert users == ["05_figures.py"], (module, users)


def test_the_trainer_is_a_dependency_of_the_train_stage():
    mods = set(stage_modules("notebooks/03_train.py"))
    assert {"hmpo/training/rewards.py", "hmpo/training/methods.py"} <= mods


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in {"hmpo/__init__.py": "", "hmpo/a/__init__.py": "", **files}.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


@pytest.mark.parametrize("source, expected", [
    ("import hmpo.a.x", {"hmpo.a.x"}),                        # plain import
    ("from hmpo.a import x", {"hmpo.a.x"}),                   # a module through its package
    ("from hmpo.a.x import f", {"hmpo.a.x"}),                 # a name of a module
    ("def f():\n    from hmpo.a import y\n", {"hmpo.a.y"}),  # a lazy import still runs
    ("MODS = ('hmpo.a.y',)", {"hmpo.a.y"}),                   # imported by name elsewhere
    ("CMD = ['-m', 'hmpo.a.x']", {"hmpo.a.x"}),              # run as a worker process
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import hmpo.a.y\n", set()),
    ("X = 'hmpo.a.nothing'\nimport json", set()),             # not a module: not a dep
    ("PREFIX = 'hmpo.'", set()),                              # a prefix, not a module
])
def test_hmpo_imports_known_answers(tmp_path, source, expected):
    root = _tree(tmp_path, {"hmpo/a/x.py": "", "hmpo/a/y.py": "", "hmpo/b.py": source})
    assert hmpo_imports(root / "hmpo/b.py", root) == expected


def test_closure_follows_imports_and_adds_packages(tmp_path):
    root = _tree(tmp_path, {"hmpo/a/x.py": "import hmpo.a.y", "hmpo/a/y.py": "",
                            "hmpo/b.py": "from hmpo.a import x"})
    assert closure({"hmpo.b"}, root) == {"hmpo", "hmpo.b", "hmpo.a", "hmpo.a.x", "hmpo.a.y"}


def test_rewrite_replaces_only_the_module_lines(tmp_path):
    root = _tree(tmp_path, {"hmpo/pipeline/__init__.py": "", "hmpo/pipeline/notebook.py": "",
                            "hmpo/config.py": "", "notebooks/01_x.py": "import hmpo.config"})
    text = ("stages:\n  x:\n    deps:\n      - notebooks/01_x.py\n      - hmpo/stale.py\n"
            "      - data/processed\n")
    assert rewrite_dvc_yaml(text, root) == (
        "stages:\n  x:\n    deps:\n      - notebooks/01_x.py\n      - hmpo/__init__.py\n"
        "      - hmpo/config.py\n      - hmpo/pipeline/__init__.py\n"
        "      - hmpo/pipeline/notebook.py\n      - data/processed\n")

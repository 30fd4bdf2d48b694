"""The DVC pipeline (dvc.yaml): its structure (fast) and a full smoke run (slow).

The slow test copies the repository to a temporary folder, sets ``profile: smoke`` and runs
``dvc repro`` there twice (the second time with ``--force``): every declared output must
exist, summary.json must name every method, the two summary.json files must be identical
bytes, and DVC must report the pipeline up to date afterwards. Run it alone with::

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_pipeline.py -m slow -s
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hmpo.config import load_config

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NOTEBOOK_OF = {"data": "01_data", "sft_model": "02a_sft_model", "base_model": "02b_base_model",
               "predictions": "02c_predictions",
               "train": "03_train", "evaluate_sft": "04_evaluate", "evaluate_base": "04_evaluate",
               "evaluate": "04_evaluate", "figures": "05_figures"}


def _dvc_yaml() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


def _paths(entries) -> list[str]:
    """Paths of a deps/outs/metrics/plots list (entries are strings or one-key mappings)."""
    return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]


def _expanded_stages(methods: list[str] | None = None) -> dict[str, dict]:
    """``{stage name: definition}`` with the ``foreach: ${methods}`` stages expanded
    (``name@<method>``) over `methods` (default: params.yaml's)."""
    if methods is None:
        methods = list(load_config(REPO / "params.yaml", profile="default").methods)
    out = {}
    for name, st in _dvc_yaml()["stages"].items():
        if "foreach" not in st:
            out[name] = st
            continue
        assert st["foreach"] == "${methods}", f"{name}: foreach over {st['foreach']!r}"
        for key in methods:
            text = yaml.safe_dump(st["do"]).replace("${key}", key)
            out[f"{name}@{key}"] = yaml.safe_load(text)
    return out


def _outputs(stage: dict) -> list[tuple[str, dict]]:
    """(path, properties) of every output of a stage: outs, metrics and plots."""
    res = []
    for kind in ("outs", "metrics", "plots"):
        for e in stage.get(kind) or []:
            res.append((e, {}) if isinstance(e, str) else next(iter(e.items())))
    return res


# --------------------------------------------------------------------------- structure (fast)
def test_method_stages_come_from_params_methods():
    """One list: the train@ and evaluate@ stages are DVC's expansion of params.yaml `methods`."""
    stages = _dvc_yaml()["stages"]
    assert stages["train"]["foreach"] == stages["evaluate"]["foreach"] == "${methods}"
    for name, st in _expanded_stages().items():
        if name.startswith("train@"):
            assert f"methods.{name.split('@')[1]}" in st["params"]


def test_a_new_params_entry_is_a_new_method_in_the_pipeline(tmp_path):
    """The recipe's second step: one `methods:` entry in params.yaml gives the method its
    train@ and evaluate@ stages, and the figures stage reads their folders."""
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["methods"]["my_method"] = {"reward": "hmpo", "params": {"lam": 0.7}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=tmp_path, env=env, check=True)
    out = subprocess.run([str(BIN / "dvc"), "stage", "list"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"train@my_method", "evaluate@my_method"} <= names
    stages = _expanded_stages([*load_config(REPO / "params.yaml").methods, "my_method"])
    figures_deps = set(_paths(stages["figures"]["deps"]))
    for kind, _ in _outputs(stages["train@my_method"]) + _outputs(stages["evaluate@my_method"]):
        if kind.startswith("results/"):
            assert any(kind.startswith(d + "/") for d in figures_deps), kind


def test_every_stage_is_complete():
    for name, st in _expanded_stages().items():
        nb = NOTEBOOK_OF[name.split("@")[0]]
        deps = _paths(st["deps"])
        assert f"notebooks/{nb}.py" in deps, name  # the text form is the source
        assert "configs/profiles" in deps, name
        assert "hmpo" not in deps, f"{name}: depends on its modules, not the whole package"
        assert not [d for d in deps if d.endswith(".ipynb")], f"{name}: .ipynb are outputs"
        assert {"profile", "seed"} <= set(_paths(st["params"])), name
        # the stage executes its own notebook source into its own executed copy, which is an
        # output (itself, or inside an output folder such as results/train/<method>/)
        m = re.match(rf"python -m hmpo\.pipeline\.notebook notebooks/{nb}\.py (\S+\.ipynb)",
                     st["cmd"])
        assert m, f"{name}: {st['cmd']}"
        executed = m.group(1)
        assert executed.startswith("results/"), name
        assert any(executed == p or executed.startswith(p.rstrip("/") + "/")
                   for p, _ in _outputs(st)), f"{name}: {executed} is not an output"
        for path, props in _outputs(st):
            if path.endswith(".json") and (path in _paths(st.get("metrics"))):
                assert props.get("cache") is False, f"{name}: metrics {path} must be cache: false"


def test_stage_graph_chains_the_outputs():
    stages = _expanded_stages()
    produced = {p: n for n, st in stages.items() for p, _ in _outputs(st)}
    assert produced["data/processed"] == "data"
    assert produced["models/sft"] == "sft_model"
    assert produced["models/base"] == "base_model"
    assert "models/sft" in _paths(stages["base_model"]["deps"])  # the base is the SFT after RL
    assert "results/predictions/predictions.json" in _paths(stages["figures"]["deps"])
    # adding a method changes the predictions, never the base model
    assert "methods" not in stages["base_model"]["params"]
    for name, st in stages.items():
        for dep in _paths(st["deps"]):
            if dep.startswith(("models/", "data/", "results/")):  # an output, or a folder of them
                assert dep in produced or any(p.startswith(dep + "/") for p in produced), \
                    f"{name} depends on {dep}, which no stage produces"
    figures_deps = set(_paths(stages["figures"]["deps"]))
    assert {"results/train", "results/evaluate"} <= figures_deps  # every run's folder
    for name, st in stages.items():
        if name.startswith(("evaluate", "train@")):
            for path, _ in _outputs(st):
                if path.startswith("results/"):
                    assert any(path.startswith(d + "/") for d in figures_deps), (name, path)
        if name.startswith("train@"):  # a percentile budget is read from the base stage
            assert "results/base_model/budgets.json" in _paths(stages[name]["deps"])


def test_dvc_parses_the_pipeline():
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    out = subprocess.run([str(BIN / "dvc"), "stage", "list"], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True).stdout
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert names == set(_expanded_stages())


# --------------------------------------------------------------------------- smoke run (slow)
_ANYWHERE = shutil.ignore_patterns(".venv", ".venv-*", ".git", "__pycache__", ".pytest_cache",
                                   ".ruff_cache", ".hypothesis", "*.egg-info", ".ipynb_checkpoints")
# outputs and DVC's own state, by their place in the repository (hmpo/models/ is source code)
_AT = {REPO: {"models", "results", "dvc.lock"}, REPO / "data": {"processed"},
       REPO / ".dvc": {"cache", "tmp"}}


def _IGNORE(folder: str, names: list[str]) -> set[str]:
    return set(_ANYWHERE(folder, names)) | (_AT.get(Path(folder), set()) & set(names))


def _run(cmd: list[str], cwd: Path, env: dict) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-6000:]}\n"
                    f"{p.stderr[-6000:]}")
    return time.perf_counter() - t0


def _repo_copy(tmp_path: Path) -> Path:
    """A copy of the repository's sources (no venv, git, outputs or dvc.lock) in tmp_path/repo,
    with ../shared beside it when this checkout has one (benchmarks.local_dir)."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, ignore=_IGNORE)
    if (REPO.parent / "shared").is_dir():
        (tmp_path / "shared").symlink_to(REPO.parent / "shared")
    return repo


def _pipeline_env(repo: Path) -> dict:
    """The environment `make` gives the stages (venv first on PATH, one thread, no hub)."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "DVC_NO_ANALYTICS": "1",
            "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONHASHSEED": "0"}


def _commit(repo: Path, env: dict, message: str) -> None:
    """``git add -A && git commit`` in `repo`, initialising the repository the first time."""
    if not (repo / ".git").is_dir():
        _run(["git", "init", "-q"], repo, env)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    _run([*git, "add", "-A"], repo, env)
    _run([*git, "commit", "-qm", message], repo, env)


@pytest.mark.slow
def test_smoke_pipeline_end_to_end_and_deterministic(tmp_path):
    repo = _repo_copy(tmp_path)
    params = repo / "params.yaml"
    params.write_text(re.sub(r"(?m)^profile: .*$", "profile: smoke", params.read_text()))
    env = _pipeline_env(repo)
    _commit(repo, env, "smoke")

    first = _run([str(BIN / "dvc"), "repro"], repo, env)
    for name, st in _expanded_stages().items():
        for path, _ in _outputs(st):
            assert (repo / path).exists(), f"{name} did not write {path}"
    summary = (repo / "results" / "summary.json").read_bytes()
    cfg = load_config(repo / "params.yaml")
    assert cfg.profile == "smoke"
    assert set(json.loads(summary)["methods"]) == {"sft", "base", *cfg.methods}
    base = json.loads((repo / "results" / "base_model" / "metrics.json").read_text())
    bases = [f"seed{s}" for s in cfg.train.seeds]  # one base model per training seed
    assert cfg.base_model.per_seed and list(base) == bases
    for run in bases:  # each base model's RL ran
        assert base[run]["rl"]["rollout_steps"] == cfg.base_model.rl_steps
        assert (repo / "models" / "base" / run / "model.safetensors").is_file()
    assert json.loads(summary)["base_seeds"] == cfg.train.seeds
    predictions = json.loads((repo / "results" / "predictions" / "predictions.json").read_text())
    assert set(predictions["methods"]) == set(cfg.methods) and list(predictions["bases"]) == bases
    assert "| hmpo |" in (repo / "results" / "predictions.md").read_text()
    # params.yaml veils half the problems: the table of each model on them is filled
    assert "| hmpo_add_ungated |" in (repo / "results" / "veiled.md").read_text()
    claims = json.loads((repo / "results" / "claims.json").read_text())
    assert len(claims) == 5 and all(c["verdict"] for c in claims)
    status = subprocess.run([str(BIN / "dvc"), "status"], cwd=repo, env=env, capture_output=True,
                            text=True).stdout
    assert "up to date" in status, f"dvc status after repro:\n{status}"

    second = _run([str(BIN / "dvc"), "repro", "--force"], repo, env)
    again = (repo / "results" / "summary.json").read_bytes()
    # identical but for the measured wall/CPU seconds of training (TIMING_FIELDS)
    assert _without_timing(again) == _without_timing(summary)
    assert json.loads(again)["methods"]["hmpo"]["train_seconds"] > 0
    print(f"\nsmoke pipeline: {first:.0f} s, forced rerun {second:.0f} s")


def _without_timing(summary_bytes: bytes) -> str:
    from hmpo.analysis.report import TIMING_FIELDS

    data = json.loads(summary_bytes)
    for entry in data["methods"].values():
        for key in TIMING_FIELDS:
            entry.pop(key, None)
    return json.dumps(data, sort_keys=True)

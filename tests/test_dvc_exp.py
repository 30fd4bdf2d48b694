"""Comparing two runs with DVC experiments, as the README shows a reviewer (smoke profile).

In a temporary git copy of the repository on the smoke profile, cut down to the base model
and one method (:data:`KEEP`: the other ``methods:`` entries are dropped, and dvc.yaml's
method stages follow that mapping): `dvc repro` and a commit (the baseline), then
``dvc exp run -S train.learning_rate=<x> -S evaluate.temperature=<t>`` (the temperature
makes the metrics change for certain: see NEW_TEMPERATURE). `dvc exp show --json` must list
the experiment with the changed parameter next to the baseline's value, `dvc params diff
--json` must report it, and `dvc metrics diff --json` must report changed values of the
declared metrics (the headline files of hmpo.evaluation.headline), which must stay flat and
small. About 3 minutes on 2 busy cores (6 stages, then the 4 that depend on the changed parameters).

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_dvc_exp.py -m slow -s
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from test_pipeline import BIN, _commit, _pipeline_env, _repo_copy

from hmpo.evaluation.headline import check_flat_metrics

KEEP = ("base", "hmpo")
NEW_LR = 0.0007
# The smoke model solves nothing, so every GRPO group's rewards are 0, the advantages are 0 and
# two RL steps leave what it samples unchanged at any learning rate: only the measured train_s
# would differ, and rounded to 0.1 s it sometimes did not (a flaky diff). Another sampling
# temperature at evaluation (the smoke profile does not override it) changes the samples, so
# `tok`, on every run alike (the evaluation's seed is fixed).
NEW_TEMPERATURE = 0.5


def _dvc(args: list[str], repo, env) -> str:
    p = subprocess.run([str(BIN / "dvc"), *args], cwd=repo, env=env, capture_output=True,
                       text=True)
    if p.returncode != 0:
        pytest.fail(f"dvc {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-4000:]}\n"
                    f"{p.stderr[-4000:]}")
    return p.stdout


def _find(obj, key: str):
    """Every value stored under ``key`` anywhere in a nested JSON structure."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield v
            yield from _find(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from _find(v, key)


def _path(entry) -> str:
    return entry if isinstance(entry, str) else next(iter(entry))


def _trim_pipeline(repo: Path, methods: list[str]) -> None:
    """Keep only :data:`KEEP` of ``methods`` in params.yaml (a temporary copy): dvc.yaml's
    method stages are expanded from that mapping (``foreach: ${methods}``), so they follow."""
    assert set(KEEP) - {"base"} <= set(methods), f"{KEEP} not all in params.yaml methods"
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["profile"] = "smoke"
    params["methods"] = {m: v for m, v in params["methods"].items() if m in KEEP}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.mark.slow
def test_exp_run_with_a_changed_learning_rate_is_compared_by_dvc(tmp_path):
    repo = _repo_copy(tmp_path)
    params = repo / "params.yaml"
    _trim_pipeline(repo, list(yaml.safe_load(params.read_text())["methods"]))
    old_lr = yaml.safe_load(params.read_text())["train"]["learning_rate"]
    assert old_lr != NEW_LR
    env = _pipeline_env(repo)
    _commit(repo, env, "smoke")

    # the baseline: committed, so HEAD holds its dvc.lock and metrics (exp run compares to it)
    _dvc(["repro"], repo, env)
    _commit(repo, env, "baseline")
    declared = _dvc(["metrics", "show", "--json"], repo, env)
    files = sorted({p for p in re.findall(r'"([^"]+\.json)"', declared) if (repo / p).is_file()})
    assert files, f"no metrics file declared and written: nothing to compare\n{declared}"
    if any(f.startswith("results/metrics/") for f in files):  # the headline files
        for f in files:
            check_flat_metrics(repo / f)

    _dvc(["exp", "run", "-S", f"train.learning_rate={NEW_LR}",
          "-S", f"evaluate.temperature={NEW_TEMPERATURE}"], repo, env)

    # dvc exp show: the baseline commit and the experiment, each with its learning rate
    shown = json.loads(_dvc(["exp", "show", "--json"], repo, env))
    rates = [float(v) for v in _find(shown, "learning_rate")]
    assert old_lr in rates and NEW_LR in rates, rates
    names = [v for v in _find(shown, "name") if v]
    assert names, "dvc exp show lists no named experiment"

    # the experiment is applied to the workspace: diffs against HEAD (the baseline)
    pdiff = json.loads(_dvc(["params", "diff", "--json"], repo, env))
    lr = pdiff["params.yaml"]["train.learning_rate"]
    assert (lr["old"], lr["new"]) == (old_lr, NEW_LR)
    mdiff = json.loads(_dvc(["metrics", "diff", "--json"], repo, env))
    changed = {(path, key) for path, keys in mdiff.items() for key, d in keys.items()
               if d.get("old") != d.get("new")}
    assert changed, f"dvc metrics diff reports no changed metric: {mdiff}"
    assert ("results/metrics/hmpo.json", "tok") in changed, mdiff  # the new temperature
    assert {p for p, _ in changed} <= set(files)
    # the training run took the new rate: its model differs from the baseline's
    assert "models/hmpo" in _dvc(["diff", "--json", "HEAD"], repo, env)
    print(f"\nchanged metrics: {sorted(changed)}")

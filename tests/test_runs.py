"""Training seeds (hmpo.pipeline.runs) and the fixed-budget rule (hmpo.models.fixed_budgets)."""

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from hmpo.config import (
    ConfigError,
    MethodConfig,
    config_from_dict,
    load_config,
)
from hmpo.models.fixed_budgets import fixed_budgets
from hmpo.pipeline.runs import (
    eval_run_dir,
    model_run_dirs,
    run_jobs,
    seed_config,
)
from hmpo.training.methods import method_horizon, resolve_method


def _square(x: int) -> int:  # module level: picklable for the worker processes
    return x * x


def _fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("two is bad")
    return x


def _noisy_steps(x: int, steps: int, linger: float = 0.0) -> int:
    """Prints through Python, through file descriptor 2 (as C code and subprocesses do) and a
    warning, and reports `steps` units of progress (a trainer reports rollout steps)."""
    import os
    import sys
    import warnings

    from hmpo.training.progress import advance

    print(f"stdout line of job {x}")
    print(f"stderr line of job {x}", file=sys.stderr)
    os.write(2, f"fd-2 line of job {x}\n".encode())
    warnings.warn(f"warning of job {x}", UserWarning, stacklevel=1)
    for _ in range(steps):
        advance(1)
    time.sleep(linger)  # a worker's ticks reach the parent while the job still runs
    return x


class _Bar:
    """Stands in for tqdm: records the updates run_jobs makes."""

    def __init__(self, total, **kwargs):
        self.total, self.n, self.closed, self.updates = total, 0, False, []
        made.append(self)

    def update(self, n=1):
        self.n += n
        self.updates.append(n)

    def close(self):
        self.closed = True


made: list[_Bar] = []


@pytest.fixture
def cfg():
    return load_config("params.yaml")


def test_run_jobs_in_process_and_in_two_workers_give_the_same_ordered_results():
    jobs = [{"x": i} for i in range(5)]
    assert run_jobs(_square, jobs, workers=1, desc="t", progress=False) == [0, 1, 4, 9, 16]
    assert run_jobs(_square, jobs, workers=2, desc="t", progress=False) == [0, 1, 4, 9, 16]


_PRELOAD_SCRIPT = textwrap.dedent("""
    import json, os, sys, threading
    from hmpo.pipeline.runs import run_jobs

    def seen(name):
        # at the job's start: was `name` imported before (by the server)? any extra thread?
        return [name in sys.modules, threading.active_count(), os.getpid()]

    if __name__ == "__main__":
        out = run_jobs(seen, [{"name": "colorsys"}] * 3, workers=2, desc="t", progress=False,
                       preload=("colorsys",))
        print(json.dumps({"workers": out, "parent_imported": "colorsys" in sys.modules,
                          "parent": os.getpid()}))
""")


def test_workers_start_with_the_preloaded_modules_and_no_inherited_threads(tmp_path):
    # a fresh interpreter: the forkserver is one per process, so this test's preload must be
    # the first (in pytest's own process another test may already have started the server)
    script = tmp_path / "preload.py"
    script.write_text(_PRELOAD_SCRIPT)
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, cwd=os.getcwd())
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["parent_imported"] is False  # the stage's own process never imported it
    assert [w[0] for w in out["workers"]] == [True, True, True]  # the workers found it loaded
    assert all(w[1] == 1 for w in out["workers"])  # only the main thread
    assert {w[2] for w in out["workers"]}.isdisjoint({out["parent"]})


def test_run_jobs_names_the_failed_job_after_the_others_finish():
    with pytest.raises(RuntimeError, match=r"1 of 3 runs failed; first: \{'x': 2\}.*two is bad"):
        run_jobs(_fail_on_two, [{"x": 1}, {"x": 2}, {"x": 3}], workers=2, desc="t",
                 progress=False)
    with pytest.raises(ValueError, match="two is bad"):  # in process: the exception as it is
        run_jobs(_fail_on_two, [{"x": 2}], workers=1, desc="t", progress=False)


@pytest.mark.filterwarnings("ignore:warning of job")  # in this process pytest records them
@pytest.mark.parametrize("workers", [1, 2])
def test_run_jobs_sends_each_jobs_output_to_its_log_and_counts_its_steps(
        tmp_path, capfd, monkeypatch, workers):
    import hmpo.pipeline.runs

    monkeypatch.setattr(hmpo.pipeline.runs, "tqdm", _Bar)
    made.clear()
    # job 1 reports fewer steps than its share (a resumed run): topped up when it ends;
    # job 2 reports more (late ticks): capped at its share
    jobs = [{"x": 0, "steps": 4, "linger": 0.5}, {"x": 1, "steps": 2, "linger": 0.5},
            {"x": 2, "steps": 9, "linger": 0.5}]
    logs = [tmp_path / f"run{i}" / "train.log" for i in range(3)]
    out = run_jobs(_noisy_steps, jobs, workers=workers, desc="t", logs=logs, units=[4, 4, 4],
                   unit="step")
    assert out == [0, 1, 2]
    assert made[-1].total == 12 and made[-1].n == 12 and made[-1].closed
    # step by step as the jobs report them (4 + 2 + 4 capped), then job 1's top-up of 2
    assert made[-1].updates.count(1) == 10 and made[-1].updates.count(2) == 1
    captured = capfd.readouterr()
    assert "line of job" not in captured.out + captured.err  # nothing reached the console
    for i, log in enumerate(logs):
        text = log.read_text()
        # (in this process pytest records the warnings itself, so only workers print them)
        for line in (f"stdout line of job {i}", f"stderr line of job {i}",
                     f"fd-2 line of job {i}", *([f"warning of job {i}"] * (workers > 1))):
            assert line in text, f"{line!r} missing from {log}"
        assert not re.search(rf"of job (?!{i}\b)\d", text)  # only this job's lines
    print("after")  # the console is restored
    assert capfd.readouterr().out == "after\n"


def test_a_failing_job_leaves_its_traceback_in_its_log_and_the_error_names_it(tmp_path):
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    failed = r"1 of 2 runs failed; first: \{'x': 2\} \(log: .*b\.log\)"
    with pytest.raises(RuntimeError, match=failed):
        run_jobs(_fail_on_two, [{"x": 1}, {"x": 2}], workers=2, desc="t", progress=False,
                 logs=logs)
    assert "ValueError: two is bad" in logs[1].read_text()
    assert logs[0].read_text() == ""
    with pytest.raises(ValueError, match="logs: 1 paths for 2 jobs"):
        run_jobs(_square, [{"x": 1}, {"x": 2}], workers=1, desc="t", logs=logs[:1])


def test_run_dirs_one_per_seed_and_one_for_base(cfg):
    cfg.train.seeds = [0, 3]
    assert {k: str(v) for k, v in model_run_dirs(cfg, "hmpo").items()} == {
        "seed0": "models/hmpo/seed0", "seed3": "models/hmpo/seed3"}
    assert {k: str(v) for k, v in model_run_dirs(cfg, "base").items()} == {"base": "models/base"}
    assert str(eval_run_dir("hmpo", "seed3")) == "results/evaluate/hmpo/seed3"
    assert str(eval_run_dir("base", "base")) == "results/evaluate/base"
    with pytest.raises(ValueError, match="neither 'base' nor a method"):
        model_run_dirs(cfg, "nope")


def test_seed_config_changes_only_the_seed_of_a_copy(cfg):
    c = seed_config(cfg, 7)
    assert c.seed == 7 and cfg.seed == 0
    c.train.learning_rate = 1.0
    assert cfg.train.learning_rate != 1.0


def test_resolve_method_reads_the_percentile_from_budgets_json(cfg, tmp_path):
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"budgets_tokens": {"p25": 12.5, "p50": 20.0, "p75": 31.0}}))
    c = resolve_method(cfg, "hmpo_fixed_p75", path)
    assert c.methods["hmpo_fixed_p75"].params["fixed_budget_tokens"] == 31.0
    assert "fixed_budget_tokens" not in cfg.methods["hmpo_fixed_p75"].params  # a copy
    assert resolve_method(cfg, "hmpo", path).methods["hmpo"].params == {}
    with pytest.raises(FileNotFoundError, match="dvc repro base_model"):
        resolve_method(cfg, "hmpo_fixed_p25", tmp_path / "missing.json")
    path.write_text(json.dumps({"budgets_tokens": {"p50": 20.0}}))
    with pytest.raises(ValueError, match="no 'p25'"):
        resolve_method(cfg, "hmpo_fixed_p25", path)


def _with_long_run(cfg):
    """`cfg` with ``hmpo_long``: HMPO trained for 3x ``train.max_steps`` (``steps_factor``)."""
    cfg.methods["hmpo_long"] = MethodConfig(reward="hmpo", steps_factor=3)
    return cfg


def test_resolve_method_multiplies_the_steps_of_a_long_run(cfg):
    cfg = _with_long_run(cfg)
    steps = cfg.train.max_steps
    assert resolve_method(cfg, "hmpo_long").train.max_steps == 3 * steps
    assert resolve_method(cfg, "hmpo").train.max_steps == steps
    assert cfg.train.max_steps == steps  # resolve_method works on a copy
    cfg.train.max_steps = -1  # epoch-long runs (the paper profiles): the epochs are multiplied
    long = resolve_method(cfg, "hmpo_long").train
    assert long.max_steps == -1 and long.num_train_epochs == 3 * cfg.train.num_train_epochs
    with pytest.raises(ValueError, match="method: 'nope' is not in methods"):
        resolve_method(cfg, "nope")


def test_method_horizon_is_the_steps_of_one_run_and_reads_no_file(cfg, tmp_path,
                                                                   monkeypatch):
    """The horizon resolve_method gives the run, computed purely (no budgets.json, even for a
    fixed-budget method)."""
    cfg = _with_long_run(cfg)
    monkeypatch.chdir(tmp_path)  # no results/base_model/budgets.json here
    steps = cfg.train.max_steps
    assert method_horizon(cfg, "hmpo_long") == (3 * steps, cfg.train.num_train_epochs)
    assert method_horizon(cfg, "hmpo_fixed_p25") == (steps, cfg.train.num_train_epochs)
    assert method_horizon(cfg, "hmpo_long")[0] == resolve_method(cfg, "hmpo_long").train.max_steps
    cfg.train.max_steps = -1
    assert method_horizon(cfg, "hmpo_long") == (-1, 3 * cfg.train.num_train_epochs)
    with pytest.raises(ValueError, match="method: 'nope' is not in methods"):
        method_horizon(cfg, "nope")


@pytest.fixture
def budgets(tmp_path):
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"budgets_tokens": {"p25": 12.5, "p50": 20.0, "p75": 31.0}}))
    return path


@pytest.fixture
def seen_runs(monkeypatch):
    """Replaces the trainer under hmpo.training.methods.train_method and the `hmpo.training.grpo` CLI; records
    each run's reward params, steps and results folder."""
    import hmpo.training.grpo
    import hmpo.training.methods

    seen = []

    def fake_run_grpo(cfg, reward, **kw):
        seen.append(dict(params=dict(reward.params), steps=cfg.train.max_steps,
                         results_dir=str(kw["results_dir"])))
        return {"final": {}}

    monkeypatch.setattr(hmpo.training.methods, "run_grpo", fake_run_grpo)
    monkeypatch.setattr(hmpo.training.grpo, "run_grpo", fake_run_grpo)
    return seen


def test_train_method_resolves_the_budget_and_the_steps_once(cfg, budgets, seen_runs, tmp_path):
    """The library entry point resolves the method itself (a direct call of a fixed-budget
    method once trained with the reward's default T = 10,000); train_seeds passes the
    unresolved config, so a long run's steps are multiplied once, not twice."""
    from hmpo.pipeline.runs import train_seeds
    from hmpo.training.methods import train_method

    cfg = _with_long_run(cfg)
    steps = cfg.train.max_steps
    train_method(cfg, "hmpo_fixed_p25", budgets_path=budgets, out_dir=tmp_path / "m",
                 results_dir=tmp_path / "r")
    assert seen_runs[-1]["params"]["fixed_budget_tokens"] == 12.5
    assert "fixed_budget_tokens" not in cfg.methods["hmpo_fixed_p25"].params
    cfg.workers, cfg.train.seeds = 1, [0, 1]  # in process: the replaced trainer is seen
    seen_runs.clear()
    train_seeds(cfg, "hmpo_long", models_dir=str(tmp_path / "models"),
                results_dir=str(tmp_path / "results"), budgets_path=budgets, progress=False)
    assert [r["steps"] for r in seen_runs] == [3 * steps, 3 * steps]
    assert [r["results_dir"].split("/")[-1] for r in seen_runs] == ["seed0", "seed1"]
    train_seeds(cfg, "hmpo_fixed_p75", models_dir=str(tmp_path / "models"),
                results_dir=str(tmp_path / "results"), budgets_path=budgets, progress=False)
    assert seen_runs[-1]["params"]["fixed_budget_tokens"] == 31.0


def test_a_missing_budgets_file_stops_the_stage_before_any_run_starts(cfg, tmp_path,
                                                                      monkeypatch):
    """train_seeds resolves the method in the stage's own process, so a fixed-budget method
    without the base_model stage's budgets.json fails there with resolve_method's message,
    not in each worker after its start-up; a method without a budget needs no file."""
    import hmpo.pipeline.runs

    started = []
    monkeypatch.setattr(hmpo.pipeline.runs, "run_jobs", lambda *a, **kw: started.append(a) or [{}])
    cfg.workers, cfg.train.seeds = 3, [0]
    with pytest.raises(FileNotFoundError, match=r"missing.json does not exist.*dvc repro "
                                                r"base_model"):
        hmpo.pipeline.runs.train_seeds(cfg, "hmpo_fixed_p25", budgets_path=tmp_path / "missing.json",
                              progress=False)
    assert started == []
    assert hmpo.pipeline.runs.train_seeds(cfg, "hmpo", budgets_path=tmp_path / "missing.json",
                                 progress=False) == {"seed0": {}}
    assert len(started) == 1


def test_the_train_cli_trains_a_fixed_budget_method_with_its_budget(monkeypatch, budgets,
                                                                   seen_runs, tmp_path):
    """`python -m hmpo.training.grpo --method hmpo_fixed_p25` (the GPU launch) resolves the budget as
    the pipeline does, rather than training the reward without one. The CLI resolves the
    method itself and calls the trainer (it sits below hmpo.training.methods: tests/test_imports.py)."""
    import yaml

    import hmpo.training.grpo

    params = yaml.safe_load(open("params.yaml"))
    params["methods"]["hmpo_long"] = {"reward": "hmpo", "steps_factor": 3}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "results/base_model").mkdir(parents=True)
    budgets.rename(tmp_path / "results/base_model/budgets.json")  # where the pipeline writes it
    monkeypatch.chdir(tmp_path)
    hmpo.training.grpo.main(["--method", "hmpo_fixed_p25", "--out-dir", "m"])
    assert seen_runs[-1]["params"]["fixed_budget_tokens"] == 12.5
    hmpo.training.grpo.main(["--method", "hmpo_long", "--out-dir", "m"])
    assert seen_runs[-1]["steps"] == 3 * params["train"]["max_steps"]
    with pytest.raises(ValueError, match="multi-stage baseline"):
        hmpo.training.grpo.main(["--method", "multistage"])


def test_fixed_budgets_use_correct_lengths_only():
    # the wrong 5-token answer would pull every percentile down if it counted
    assert fixed_budgets([10, 20, 30, 40, 5], [1, 1, 1, 1, 0], [25, 50, 75]) == {
        "p25": 17.5, "p50": 25.0, "p75": 32.5}
    with pytest.raises(ValueError, match="no correct response"):
        fixed_budgets([3, 4], [False, False], [50])
    with pytest.raises(ValueError, match="differ in size"):
        fixed_budgets([3, 4], [True], [50])
    with pytest.raises(ValueError, match=r"in \(0, 100\)"):
        fixed_budgets([3], [True], [100])


@pytest.mark.parametrize("patch, key", [
    ({"train": {"seeds": []}}, "train.seeds"),
    ({"train": {"seeds": [1, 1]}}, "train.seeds"),
    ({"workers": 0}, "workers"),
    ({"methods": {"hmpo": {"reward": "hmpo", "budget_percentile": 50}}},
     "methods.hmpo.budget_percentile"),
    ({"methods": {"hmpo_fixed_p25": {"reward": "hmpo_fixed", "budget_percentile": 30}}},
     "methods.hmpo_fixed_p25.budget_percentile"),
    ({"methods": {"hmpo_fixed_p25": {"reward": "hmpo_fixed", "budget_percentile": 25,
                                     "params": {"fixed_budget_tokens": 9}}}},
     "methods.hmpo_fixed_p25.params"),
    ({"data": {"synthetic": {"early_share": 1.5}}}, "data.synthetic.early_share"),
    ({"base_model": {"sft_mix_steps": 0}, "data": {"synthetic": {"early_share": 0.1}}},
     "data.synthetic.early_share"),
])
def test_bad_seed_and_budget_configs_name_the_key(patch, key):
    import yaml

    raw = yaml.safe_load(open("params.yaml"))

    def merge(a, b):
        for k, v in b.items():
            a[k] = merge(a.get(k, {}), v) if isinstance(v, dict) and isinstance(a.get(k), dict) \
                else v
        return a

    with pytest.raises(ConfigError, match=f"^{key}"):
        config_from_dict(merge(raw, patch))

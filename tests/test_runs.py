"""Training seeds (hmpo.pipeline.train_runs, eval_runs, pool) and the fixed-budget rule
(hmpo.models.fixed_budgets)."""

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
from hmpo.pipeline.eval_runs import eval_run_dir, model_run_dirs
from hmpo.pipeline.pool import run_jobs
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
    from hmpo.pipeline.pool import run_jobs

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
    import hmpo.pipeline.pool

    monkeypatch.setattr(hmpo.pipeline.pool, "tqdm", _Bar)
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


def test_run_dirs_one_per_training_seed_and_one_per_base_seed(cfg):
    cfg.train.seeds = [0, 3]
    assert cfg.base_model.per_seed  # params.yaml: one base model per training seed
    assert {k: str(v) for k, v in model_run_dirs(cfg, "hmpo").items()} == {
        "seed0": "models/hmpo/seed0", "seed3": "models/hmpo/seed3"}
    assert {k: str(v) for k, v in model_run_dirs(cfg, "base").items()} == {
        "seed0": "models/base/seed0", "seed3": "models/base/seed3"}
    assert {k: str(v) for k, v in model_run_dirs(cfg, "sft").items()} == {
        "seed0": "models/sft/seed0", "seed3": "models/sft/seed3"}
    assert str(eval_run_dir("hmpo", "seed3")) == "results/evaluate/hmpo/seed3"
    assert str(eval_run_dir("base", "seed3")) == "results/evaluate/base/seed3"
    assert str(eval_run_dir("sft", "seed0")) == "results/evaluate/sft/seed0"
    cfg.base_model.per_seed = False  # one shared base: the first training seed's
    assert {k: str(v) for k, v in model_run_dirs(cfg, "base").items()} == {
        "seed0": "models/base/seed0"}
    with pytest.raises(ValueError, match="neither 'sft', 'base' nor a method"):
        model_run_dirs(cfg, "nope")


#: budgets.json of two base seeds (the base_model stage's, hmpo.pipeline.base_runs)
BUDGETS = {"seed0": {"budgets_tokens": {"p10": 9.0, "p25": 12.5, "p50": 20.0, "p75": 31.0}},
           "seed1": {"budgets_tokens": {"p10": 8.0, "p25": 14.0, "p50": 22.0, "p75": 40.0}},
           "seed2": {"budgets_tokens": {"p10": 7.0, "p25": 11.0, "p50": 18.0, "p75": 27.0}}}


def test_resolve_method_reads_the_percentile_from_budgets_json(cfg, tmp_path):
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps(BUDGETS))
    run = resolve_method(cfg, "hmpo_fixed_p75", path)  # the first base seed's
    assert run.method == "hmpo_fixed_p75" and run.spec is run.cfg.methods["hmpo_fixed_p75"]
    assert run.spec.params["fixed_budget_tokens"] == 31.0
    assert run.reward().params["fixed_budget_tokens"] == 31.0  # the reward it trains with
    assert "fixed_budget_tokens" not in cfg.methods["hmpo_fixed_p75"].params  # a copy
    assert resolve_method(cfg, "hmpo", path).spec.params == {}
    # each base model's own budget
    assert resolve_method(cfg, "hmpo_fixed_p75", path, base_seed=1).spec.params[
        "fixed_budget_tokens"] == 40.0
    with pytest.raises(ValueError, match="no base seed 'seed5'"):
        resolve_method(cfg, "hmpo_fixed_p75", path, base_seed=5)
    with pytest.raises(FileNotFoundError, match="dvc repro base_model"):
        resolve_method(cfg, "hmpo_fixed_p25", tmp_path / "missing.json")
    path.write_text(json.dumps({"seed0": {"budgets_tokens": {"p50": 20.0}}}))
    with pytest.raises(ValueError, match="no 'p25' for seed0"):
        resolve_method(cfg, "hmpo_fixed_p25", path)


def _with_long_run(cfg):
    """`cfg` with ``hmpo_long``: HMPO trained for 3x ``train.max_steps`` (``steps_factor``)."""
    cfg.methods["hmpo_long"] = MethodConfig(reward="hmpo", steps_factor=3)
    return cfg


def test_resolve_method_multiplies_the_steps_of_a_long_run(cfg):
    cfg = _with_long_run(cfg)
    steps = cfg.train.max_steps
    assert resolve_method(cfg, "hmpo_long").cfg.train.max_steps == 3 * steps
    assert resolve_method(cfg, "hmpo").cfg.train.max_steps == steps
    assert cfg.train.max_steps == steps  # resolve_method works on a copy
    cfg.train.max_steps = -1  # epoch-long runs (the paper profiles): the epochs are multiplied
    long = resolve_method(cfg, "hmpo_long").cfg.train
    assert long.max_steps == -1 and long.num_train_epochs == 3 * cfg.train.num_train_epochs
    with pytest.raises(ValueError, match="method: 'nope' is not in methods"):
        resolve_method(cfg, "nope")


def test_a_resolved_method_cannot_be_resolved_again_nor_a_config_trained_unresolved(cfg):
    """The guard against applying steps_factor twice (or never): resolve_method refuses what
    it made, and train_resolved / train_seeds refuse a bare config."""
    from hmpo.pipeline.train_runs import train_seeds
    from hmpo.training.methods import train_resolved

    run = resolve_method(_with_long_run(cfg), "hmpo_long")
    with pytest.raises(TypeError, match="already resolved"):
        resolve_method(run, "hmpo_long")
    with pytest.raises(TypeError, match="an unresolved config goes to train_method"):
        train_resolved(cfg)
    with pytest.raises(TypeError, match="train_seeds takes the unresolved config"):
        train_seeds(run, "hmpo_long")
    with pytest.raises(ValueError, match="until: 'sample' is a stage of the multi-stage"):
        train_resolved(run, until="sample")
    with pytest.raises(ValueError, match="until: expected one of sample, sft, rl"):
        train_resolved(run, until="eval")


def test_method_horizon_is_the_steps_of_one_run_and_reads_no_file(cfg, tmp_path,
                                                                   monkeypatch):
    """The horizon resolve_method gives the run, computed purely (no budgets.json, even for a
    fixed-budget method)."""
    cfg = _with_long_run(cfg)
    monkeypatch.chdir(tmp_path)  # no results/base_model/budgets.json here
    steps = cfg.train.max_steps
    assert method_horizon(cfg, "hmpo_long") == (3 * steps, cfg.train.num_train_epochs)
    assert method_horizon(cfg, "hmpo_fixed_p25") == (steps, cfg.train.num_train_epochs)
    assert method_horizon(cfg, "hmpo_long")[0] == \
        resolve_method(cfg, "hmpo_long").cfg.train.max_steps
    cfg.train.max_steps = -1
    assert method_horizon(cfg, "hmpo_long") == (-1, 3 * cfg.train.num_train_epochs)
    with pytest.raises(ValueError, match="method: 'nope' is not in methods"):
        method_horizon(cfg, "nope")


@pytest.fixture
def budgets(tmp_path):
    """BUDGETS where the base_model stage writes them, under `tmp_path` as the root."""
    path = tmp_path / "results" / "base_model" / "budgets.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(BUDGETS))
    return path


@pytest.fixture
def seen_runs(monkeypatch):
    """Replaces the GRPO run and the multi-stage baseline under
    hmpo.training.methods.train_resolved (every entry point's way to train); records each
    run's reward params, steps, seeds, folders and stage."""
    import hmpo.training.methods

    seen = []

    def fake_run(cfg, reward, *, seed, **kw):
        seen.append(dict(params=dict(reward.params), steps=cfg.train.max_steps, seed=seed,
                         cfg_seed=cfg.seed, model_dir=str(kw["model_dir"]),
                         out_dir=str(kw["out_dir"]),
                         results_dir=str(kw["results_dir"]), until=kw.get("until", "rl")))
        return {"final": {}}

    monkeypatch.setattr(hmpo.training.methods, "run_grpo", fake_run)
    monkeypatch.setattr(hmpo.training.methods, "run_multistage",
                        lambda cfg, method, reward, **kw: fake_run(cfg, reward, **kw))
    return seen


def test_train_method_resolves_the_budget_and_the_steps_once(cfg, budgets, seen_runs, tmp_path):
    """The library entry point resolves the method itself (a direct call of a fixed-budget
    method once trained with the reward's default T = 10,000), with the budget of the seed's
    base model; train_seeds resolves the method once per base seed and hands each seed its
    base's, so a long run's steps are multiplied once."""
    from hmpo.pipeline.train_runs import train_seeds
    from hmpo.training.methods import train_method

    cfg = _with_long_run(cfg)
    steps = cfg.train.max_steps
    train_method(cfg, "hmpo_fixed_p25", budgets_path=budgets, out_dir=tmp_path / "m",
                 results_dir=tmp_path / "r")
    assert seen_runs[-1]["params"]["fixed_budget_tokens"] == 12.5
    train_method(cfg, "hmpo_fixed_p25", seed=1, budgets_path=budgets, out_dir=tmp_path / "m",
                 results_dir=tmp_path / "r")
    assert seen_runs[-1]["params"]["fixed_budget_tokens"] == 14.0  # base seed 1's
    assert "fixed_budget_tokens" not in cfg.methods["hmpo_fixed_p25"].params
    cfg.workers, cfg.train.seeds = 1, [0, 1]  # in process: the replaced trainer is seen
    seen_runs.clear()
    train_seeds(cfg, "hmpo_long", root=tmp_path, progress=False)
    assert [r["steps"] for r in seen_runs] == [3 * steps, 3 * steps]
    assert [r["results_dir"] for r in seen_runs] == [
        str(tmp_path / "results/train/hmpo_long" / s) for s in ("seed0", "seed1")]
    assert [r["out_dir"] for r in seen_runs] == [
        str(tmp_path / "models/hmpo_long" / s) for s in ("seed0", "seed1")]
    seen_runs.clear()
    train_seeds(cfg, "hmpo_fixed_p75", root=tmp_path, progress=False)
    assert [r["params"]["fixed_budget_tokens"] for r in seen_runs] == [31.0, 40.0]


def test_a_stage_resolves_its_method_once_per_base_model(cfg, budgets, seen_runs, tmp_path,
                                                        monkeypatch):
    """Notebook 03's way: one resolve_method (one budgets.json read) per base seed, each seed's
    run from its own base model with its base's budget; with one shared base, one read and
    every run from it."""
    import hmpo.training.methods
    from hmpo.pipeline.train_runs import train_seeds

    reads = []
    real = hmpo.training.methods.budget_tokens
    monkeypatch.setattr(hmpo.training.methods, "budget_tokens",
                        lambda *a, **k: reads.append(k) or real(*a, **k))
    cfg.workers, cfg.train.seeds = 1, [0, 1, 2]
    train_seeds(cfg, "hmpo_fixed_p25", root=tmp_path, progress=False)
    assert reads == [{"base_seed": 0}, {"base_seed": 1}, {"base_seed": 2}]
    assert [r["params"]["fixed_budget_tokens"] for r in seen_runs] == [12.5, 14.0, 11.0]
    assert [r["model_dir"] for r in seen_runs] == [
        str(tmp_path / "models/base" / f"seed{s}") for s in (0, 1, 2)]
    cfg.base_model.per_seed = False
    reads.clear()
    seen_runs.clear()
    train_seeds(cfg, "hmpo_fixed_p25", root=tmp_path, progress=False)
    assert reads == [{"base_seed": 0}] and len(seen_runs) == 3
    assert {r["params"]["fixed_budget_tokens"] for r in seen_runs} == {12.5}
    assert {r["model_dir"] for r in seen_runs} == {str(tmp_path / "models/base/seed0")}


def test_each_seed_trains_with_the_seed_it_used_before_and_cfg_seed_is_left_alone(
        cfg, seen_runs, tmp_path):
    """Before the training seed was an argument, the run of training seed s read it from
    ``cfg.seed``, which the stage had overwritten with s (``seed_config``): every draw of the
    run was seeded with s, whatever the top-level seed. The runs get the same s now, as
    ``seed``, and their config keeps the data/evaluation seed."""
    from hmpo.pipeline.train_runs import train_seeds

    cfg.seed, cfg.workers, cfg.train.seeds = 7, 1, [0, 3, 5]
    before = list(cfg.train.seeds)  # seed_config(cfg, s).seed: what each run read
    for method in ("hmpo", "multistage"):
        seen_runs.clear()
        train_seeds(cfg, method, root=tmp_path, progress=False)
        assert [r["seed"] for r in seen_runs] == before, method
        assert [r["cfg_seed"] for r in seen_runs] == [7, 7, 7], method


def test_a_runs_trl_seeds_are_its_training_seed(cfg, tmp_path, monkeypatch):
    """Down to TRL: the GRPOConfig of the run of seed s has ``seed`` = ``data_seed`` = s (as
    when s travelled in cfg.seed), for every seed of a stage, with the top-level seed 7."""
    import hmpo.training.grpo
    from hmpo.pipeline.pool import run_jobs as real_run_jobs
    from hmpo.pipeline.train_runs import train_seeds
    from hmpo.training.grpo_config import grpo_config_kwargs

    class Stop(Exception):
        pass

    seen = []

    def grpo_config_of_the_run(run_cfg, out_dir, *, seed, **kw):
        made = grpo_config_kwargs(run_cfg, out_dir, seed=seed, **kw)
        seen.append((made["seed"], made["data_seed"], run_cfg.seed))
        raise Stop  # the config is all this test needs: no model is trained

    def each_job(fn, jobs, **kw):  # every seed's job, each stopped after its GRPOConfig
        out = []
        for job in jobs:
            with pytest.raises(Stop):
                real_run_jobs(fn, [job], workers=1, desc="t", progress=False)
            out.append({})
        return out

    monkeypatch.setattr(hmpo.training.grpo, "build_grpo_config", grpo_config_of_the_run)
    monkeypatch.setattr("hmpo.pipeline.train_runs.run_jobs", each_job)
    for b in (0, 3):
        (tmp_path / f"models/base/seed{b}").mkdir(parents=True)
        (tmp_path / f"models/base/seed{b}/config.json").write_text("{}")
    (tmp_path / "data/processed").mkdir(parents=True)
    (tmp_path / "data/processed/train.jsonl").write_text("")
    cfg.seed, cfg.train.seeds = 7, [0, 3]
    train_seeds(cfg, "hmpo", root=tmp_path, progress=False)
    assert seen == [(0, 0, 7), (3, 3, 7)]


def test_config_resolved_json_of_a_run_is_the_file_it_was(cfg, tmp_path):
    """A run's config.resolved.json records its training seed as ``seed``, byte for byte the
    file written when the stage overwrote ``cfg.seed`` with the training seed."""
    import copy

    from hmpo.config import write_resolved
    from hmpo.training.grpo import write_run_config

    run = resolve_method(_with_long_run(cfg), "hmpo_long")
    old = copy.deepcopy(run.cfg)
    old.seed = 3  # what seed_config did
    write_resolved(old, tmp_path / "before")
    write_run_config(run.cfg, tmp_path / "now", seed=3)
    name = "config.resolved.json"
    assert (tmp_path / "now" / name).read_bytes() == (tmp_path / "before" / name).read_bytes()
    assert json.loads((tmp_path / "now" / name).read_text())["seed"] == 3
    assert run.cfg.seed == cfg.seed  # the run's own config is not touched


def test_fingerprints_carry_the_training_seed_as_before(cfg, tmp_path):
    """The payloads that decide whether a run's (or a multistage stage's) outputs are reused
    are what they were when the training seed was ``cfg.seed`` (written out below as the
    code then computed them): the fingerprints of existing outputs still match, so those
    outputs are resumed, not retrained."""
    import copy

    from hmpo.training.fingerprint import path_fingerprint
    from hmpo.training.grpo import run_fingerprint
    from hmpo.training.multistage import _stage_payload
    from hmpo.training.rewards import get_reward

    cfg.seed = 7
    model, data = tmp_path / "m", tmp_path / "t.jsonl"
    model.mkdir()
    (model / "config.json").write_text("{}")
    data.write_text("")
    old = copy.deepcopy(cfg)
    old.seed = 2  # seed_config(cfg, 2): the run of training seed 2 read it from here
    reward = get_reward("hmpo")
    assert run_fingerprint(cfg, "hmpo", reward, model, data, seed=2) == {
        "method": "hmpo", "reward": repr(reward), "train": old.to_dict()["train"],
        "seed": old.seed, "prompt_style": old.base_model.prompt_style,
        "model": path_fingerprint(model), "train_data": path_fingerprint(data)}
    stage = _stage_payload(cfg, model, data, seed=2)
    assert stage["seed"] == old.seed
    assert stage == _stage_payload(old, model, data, seed=old.seed)  # nothing reads cfg.seed


def test_the_train_cli_trains_one_seed_into_the_folders_evaluate_reads(monkeypatch, budgets,
                                                                       seen_runs, tmp_path):
    """`python -m hmpo.training.methods --method hmpo_fixed_p25` (also the GPU launch)
    resolves the budget as the pipeline does, trains the first seed of train.seeds (or
    --seed) into models/<m>/seed<s> and results/train/<m>/seed<s>, and stops the
    multi-stage baseline after --until."""
    import yaml

    from hmpo.training.methods import main

    params = yaml.safe_load(open("params.yaml"))
    params["methods"]["hmpo_long"] = {"reward": "hmpo", "steps_factor": 3}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)  # budgets.json where the pipeline writes it
    main(["--method", "hmpo_fixed_p25"])
    first = params["train"]["seeds"][0]
    assert seen_runs[-1]["params"]["fixed_budget_tokens"] == 12.5
    assert seen_runs[-1]["model_dir"] == f"models/base/seed{first}"  # its base model
    assert seen_runs[-1]["seed"] == first and seen_runs[-1]["cfg_seed"] == params["seed"]
    assert seen_runs[-1]["out_dir"] == f"models/hmpo_fixed_p25/seed{first}"
    assert seen_runs[-1]["results_dir"] == f"results/train/hmpo_fixed_p25/seed{first}"
    main(["--method", "hmpo_long", "--seed", "2", "--out-dir", "m"])
    assert seen_runs[-1]["steps"] == 3 * params["train"]["max_steps"]
    assert seen_runs[-1]["seed"] == 2 and seen_runs[-1]["out_dir"] == "m"
    assert seen_runs[-1]["model_dir"] == "models/base/seed2"  # per_seed: training seed 2's base
    assert seen_runs[-1]["results_dir"] == "results/train/hmpo_long/seed2"
    main(["--method", "hmpo_fixed_p25", "--seed", "1"])
    assert seen_runs[-1]["params"]["fixed_budget_tokens"] == 14.0  # base seed 1's
    main(["--method", "multistage", "--until", "sample"])
    assert seen_runs[-1]["until"] == "sample"
    assert seen_runs[-1]["out_dir"] == f"models/multistage/seed{first}"
    with pytest.raises(ValueError, match="stage of the multi-stage baseline"):
        main(["--method", "hmpo", "--until", "sft"])
    with pytest.raises(SystemExit):
        main(["--method", "hmpo", "--seed", "-1"])


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

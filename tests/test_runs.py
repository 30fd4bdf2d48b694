"""Training seeds (hmpo.runs) and the fixed-budget rule (hmpo.fixed_budgets)."""

import json

import pytest

from hmpo.config import ConfigError, config_from_dict, load_config
from hmpo.fixed_budgets import fixed_budgets
from hmpo.runs import (
    eval_run_dir,
    model_run_dirs,
    resolve_budget,
    run_jobs,
    seed_config,
)


def _square(x: int) -> int:  # module level: picklable for the spawn workers
    return x * x


def _fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("two is bad")
    return x


@pytest.fixture
def cfg():
    return load_config("params.yaml")


def test_run_jobs_in_process_and_in_two_workers_give_the_same_ordered_results():
    jobs = [{"x": i} for i in range(5)]
    assert run_jobs(_square, jobs, workers=1, desc="t", progress=False) == [0, 1, 4, 9, 16]
    assert run_jobs(_square, jobs, workers=2, desc="t", progress=False) == [0, 1, 4, 9, 16]


def test_run_jobs_names_the_failed_job_after_the_others_finish():
    with pytest.raises(RuntimeError, match=r"1 of 3 runs failed; first: \{'x': 2\}.*two is bad"):
        run_jobs(_fail_on_two, [{"x": 1}, {"x": 2}, {"x": 3}], workers=2, desc="t",
                 progress=False)
    with pytest.raises(ValueError, match="two is bad"):  # in process: the exception as it is
        run_jobs(_fail_on_two, [{"x": 2}], workers=1, desc="t", progress=False)


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


def test_resolve_budget_reads_the_percentile_from_budgets_json(cfg, tmp_path):
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"budgets_tokens": {"p25": 12.5, "p50": 20.0, "p75": 31.0}}))
    c = resolve_budget(cfg, "hmpo_fixed_p75", path)
    assert c.methods["hmpo_fixed_p75"].params["fixed_budget_tokens"] == 31.0
    assert "fixed_budget_tokens" not in cfg.methods["hmpo_fixed_p75"].params  # a copy
    assert resolve_budget(cfg, "hmpo", path).methods["hmpo"].params == {}
    with pytest.raises(FileNotFoundError, match="dvc repro base_model"):
        resolve_budget(cfg, "hmpo_fixed_p25", tmp_path / "missing.json")
    path.write_text(json.dumps({"budgets_tokens": {"p50": 20.0}}))
    with pytest.raises(ValueError, match="no 'p25'"):
        resolve_budget(cfg, "hmpo_fixed_p25", path)


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

"""hmpo.analysis.report (seeds, paired statistics, tables, write_report) and the results
figures of hmpo.analysis.plots, on hand-made results in the pipeline's layout; the claim rules
are in test_claims.py."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_matrices import N
from report_matrices import const as _const
from report_matrices import mats as _mats
from report_matrices import summary_of as _summary_of

from hmpo.analysis.report import (
    DISCLOSURES_FILE,
    TIMING_FIELDS,
    build_summary,
    collect_costs,
    collect_evaluations,
    compare,
    comparisons_markdown,
    comparisons_table,
    cost_to_compression,
    load_budgets,
    load_disclosures,
    load_train_logs,
    pareto_front,
    problem_matrices,
    reference_length,
    results_table,
    round_floats,
    run_dir,
    run_groups,
    table_latex,
    table_markdown,
    time_to_length,
    train_cost,
    training_seeds,
    write_report,
)
from hmpo.config import config_from_dict
from hmpo.evaluation.evaluate import summarize_samples
from hmpo.training.train_log import load_train_log

SETS = ["synthetic_eval", "synthetic_transfer"]


# --------------------------------------------------------------------------- fixtures
def _samples(rng, acc, tok, n=N, k=4, difficulty=2, tok_sd=0.0):
    """Per-sample rows for ``n`` problems x ``k`` samples: correct with probability ``acc``."""
    rows = []
    for i in range(n):
        for j in range(k):
            rows.append({"id": f"p{i}", "sample": j, "difficulty": difficulty + i % 2,
                         "completion": "x", "n_tokens": int(max(1, round(rng.normal(tok, tok_sd)))),
                         "finished": True, "correct": bool(rng.random() < acc)})
    return rows


def _write_eval(root, model, seed, set_name, rows):
    d = root / "evaluate" / model if seed is None else root / "evaluate" / model / f"seed{seed}"
    (d / "samples").mkdir(parents=True, exist_ok=True)
    (d / "metrics").mkdir(parents=True, exist_ok=True)
    (d / "samples" / f"{set_name}.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows))
    m = summarize_samples(rows, n_bootstrap=50, seed=0)
    (d / "metrics" / f"{set_name}.json").write_text(json.dumps(m))
    return m


def _write_train(root, method, seed, wall, lengths, step_s=1.0, stages=None):
    d = root / "train" / method / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    metrics = {"wall_s": wall, "cpu_s": 1.5 * wall, "device_s": wall}
    if stages:
        metrics["stages"] = stages
    (d / "metrics.json").write_text(json.dumps(metrics))
    live = d / "live" / "plots" / "metrics"
    (live / "hmpo").mkdir(parents=True, exist_ok=True)
    (live / "time").mkdir(parents=True, exist_ok=True)
    steps = range(1, len(lengths) + 1)
    (live / "hmpo" / "length_mean.tsv").write_text(
        "timestamp\tstep\tlength_mean\n"
        + "".join(f"0\t{s}\t{v}\n" for s, v in zip(steps, lengths, strict=True)))
    (live / "hmpo" / "accuracy.tsv").write_text(
        "timestamp\tstep\taccuracy\n" + "".join(f"0\t{s}\t0.5\n" for s in steps))
    (live / "time" / "step_s.tsv").write_text(
        "timestamp\tstep\tstep_s\n" + "".join(f"0\t{s}\t{step_s}\n" for s in steps))


def _cfg(methods, seeds=(0, 1, 2), seed=7):
    """The smoke profile's Config (train.max_steps 2) with these methods ({name: fields, the
    reward defaulting to the name}), training seeds, data seed and evaluation sets."""
    cfg = config_from_dict({"seed": seed, "evaluate": {"sets": SETS},
                            "methods": {m: {"reward": m, **kw} for m, kw in methods.items()}},
                           profile="smoke")
    # the profile sets its own seeds (later wins): these replace them
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seeds=list(seeds)))


# --------------------------------------------------------------------------- summary
def _runs(**models):
    """{model: {run: {set: metrics}}} from {model: [(acc, tok) per seed]}."""
    out = {}
    for name, per_seed in models.items():
        for i, (a, t) in enumerate(per_seed):
            run = "base" if name == "base" else str(i)
            out.setdefault(name, {})[run] = {
                s: {"accuracy": a - (0.1 if s == SETS[1] else 0), "mean_tokens": t * (
                    1.2 if s == SETS[1] else 1), "median_tokens": t, "finished_rate": 1.0,
                    "n_problems": N, "accuracy_ci": [a - 0.05, a + 0.05],
                    "mean_tokens_ci": [t - 2, t + 2]} for s in SETS}
    return out


def test_summary_means_over_seeds_with_spread_and_per_seed_values():
    s = build_summary(_runs(base=[(0.5, 100.0)], hmpo=[(0.4, 60.0), (0.5, 70.0), (0.6, 80.0)]),
                      profile="smoke", seed=0, sets=SETS, train_seeds=[0, 1, 2])
    hm = s["methods"]["hmpo"]
    assert hm["accuracy"] == pytest.approx(0.5) and hm["mean_tokens"] == pytest.approx(70.0)
    assert hm["compression"] == pytest.approx(0.3)  # 1 - 70/100 (across-seed means)
    assert hm["sets"]["synthetic_transfer"]["compression"] == pytest.approx(0.3)  # 84 vs 120
    assert hm["n_seeds"] == 3 and hm["accuracy_seed_sd"] == pytest.approx(0.1)
    assert hm["mean_tokens_seed_sd"] == pytest.approx(10.0)
    assert hm["per_seed"]["2"] == {"accuracy": 0.6, "mean_tokens": 80.0,
                                   "compression": 0.2, "finished_rate": 1.0}
    base = s["methods"]["base"]
    assert base["n_seeds"] == 1 and base["accuracy_seed_sd"] is None
    assert base["compression"] == 0.0 and s["train_seeds"] == [0, 1, 2]
    # without samples and with several seeds there is no honest interval
    assert hm["accuracy_ci"] is None and base["accuracy_ci"] == [0.45, 0.55]


def test_summary_cis_combine_problems_and_seeds():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.2, 0.9, N)
    same = np.tile(p, (3, 1))
    spread = same + np.array([[-0.1], [0.0], [0.1]])
    m = {"synthetic_eval": {"ids": list(range(N)), "base": {"accuracy": p[None], "tokens":
                                                            _const(50)},
                            "a": {"accuracy": same, "tokens": _const(30, 3)},
                            "b": {"accuracy": spread, "tokens": _const(30, 3)}}}
    s = _summary_of(m)
    ci_a, ci_b = s["methods"]["a"]["accuracy_ci"], s["methods"]["b"]["accuracy_ci"]
    assert ci_a[0] <= s["methods"]["a"]["accuracy"] <= ci_a[1]
    assert ci_b[1] - ci_b[0] > 1.5 * (ci_a[1] - ci_a[0])  # seed spread widens the interval
    assert s["methods"]["b"]["accuracy_seed_sd"] == pytest.approx(0.1)
    assert s["methods"]["a"]["mean_tokens_ci"] == [30.0, 30.0]


def test_summary_main_set_falls_back_to_first_set_and_no_base_means_no_compression():
    runs = {"hmpo": {"0": {"gsm8k": {"accuracy": 0.3, "mean_tokens": 200.0, "n_problems": 5}}}}
    s = build_summary(runs, profile="x", seed=1, sets=["gsm8k"])
    assert s["main_set"] == "gsm8k" and s["methods"]["hmpo"]["compression"] is None


def test_summary_missing_set_fails():
    runs = {"hmpo": {"0": {"synthetic_eval": {"accuracy": 0.5, "mean_tokens": 10.0}}}}
    with pytest.raises(ValueError, match="synthetic_transfer"):
        build_summary(runs, profile="x", seed=0, sets=SETS)


def test_summary_is_rounded_and_byte_stable():
    e = _runs(base=[(1 / 3, 100.0 / 7)], hmpo=[(0.123456789, 9.87654321)])
    a = json.dumps(build_summary(e, profile="p", seed=0, sets=SETS), sort_keys=True)
    assert a == json.dumps(build_summary(e, profile="p", seed=0, sets=SETS), sort_keys=True)
    assert json.loads(a)["methods"]["base"]["accuracy"] == 0.3333


def test_round_floats_rejects_nan_and_normalises_negative_zero():
    assert round_floats({"a": [-0.0, 1.23456], "b": None}) == {"a": [0.0, 1.2346], "b": None}
    assert str(round_floats(-0.00001)) == "0.0"
    assert round_floats({"x": np.float64(0.5), "n": np.int64(3)}) == {"x": 0.5, "n": 3}
    with pytest.raises(ValueError, match="non-finite"):
        round_floats({"a": float("nan")})


def test_training_seeds_are_the_configs():
    assert training_seeds(_cfg({"hmpo": {}}, seeds=(3, 1), seed=4)) == [3, 1]


def test_run_dir_is_the_run_layout_under_the_results_folder(tmp_path):
    from hmpo import paths

    assert run_dir(None, "evaluate", "hmpo", 2) == paths.eval_results_dir("hmpo", 2)
    assert run_dir(None, "train", "kimi", 0) == paths.train_results_dir("kimi", 0)
    assert run_dir(tmp_path, "evaluate", "base", 0) == tmp_path / "evaluate" / "base" / "seed0"
    assert run_dir(tmp_path, "train", "hmpo", 1) == tmp_path / "train" / "hmpo" / "seed1"
    with pytest.raises(ValueError, match="figures"):
        run_dir(tmp_path, "figures", "hmpo", 0)


# --------------------------------------------------------------------------- the record
def test_load_disclosures_reads_the_repositorys_record():
    assert DISCLOSURES_FILE == Path(__file__).resolve().parent.parent / "docs" / "disclosures.yaml"
    record = load_disclosures()
    assert [e.get("key") for e in record if e["kind"] == "param"] == [
        "train.max_steps", "base_model.rl_steps", "base_model.budget_percentiles",
        "data.synthetic.n_eval", "evaluate.n_samples", "data.synthetic.n_transfer",
        "base_model.per_seed", "data.synthetic.veiled_share", "base_model.rl_max_steps"]
    assert {e["rule"] for e in record if e["kind"] == "rule"} >= {"compression"}


def test_load_disclosures_fails_naming_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="changes: \\[\\]"):
        load_disclosures(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("changes: [unclosed\n")
    with pytest.raises(ValueError, match="bad.yaml is not valid YAML"):
        load_disclosures(bad)
    bad.write_text("changes:\n  - key: train.max_steps\n")
    with pytest.raises(ValueError, match=r"bad.yaml: changes\[0\]: missing from"):
        load_disclosures(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("changes: []\n")
    assert load_disclosures(empty) == []


# --------------------------------------------------------------------------- costs / inputs
def test_train_cost_reads_hmpo_train_and_multistage_metrics():
    assert train_cost({"wall_s": 12.5, "cpu_s": 20, "device_s": 50.0, "final": {}}) == {
        "train_seconds": 12.5, "train_cpu_seconds": 20.0, "device_seconds": 50.0,
        "pre_rl_seconds": 0.0}
    assert train_cost({"wall_s": 3})["device_seconds"] == 3.0  # one process: wall seconds
    ms = {"wall_s": 100.0, "stages": {"sample": {"wall_s": 30.0}, "sft": {"wall_s": 20.0},
                                      "rl": {"wall_s": 50.0}}}
    assert train_cost(ms)["pre_rl_seconds"] == 50.0
    with pytest.raises(ValueError, match="wall_s"):
        train_cost({"steps": []})


def test_collect_costs_means_and_per_seed(tmp_path):
    for seed, wall in ((0, 10.0), (1, 20.0)):
        _write_train(tmp_path, "hmpo", seed, wall, [50, 40])
    c = collect_costs(["hmpo"], tmp_path, seeds=[0, 1])
    assert c["hmpo"]["train_seconds"] == 15.0 and c["hmpo"]["train_cpu_seconds"] == 22.5
    assert c["hmpo"]["train_seconds_per_seed"] == {"0": 10.0, "1": 20.0}
    assert c["base"]["train_seconds"] is None
    with pytest.raises(FileNotFoundError, match=r"train@hmpo"):
        collect_costs(["hmpo"], tmp_path, seeds=[0, 1, 2])


def test_load_train_log_per_seed_dir_and_all_seeds(tmp_path):
    _write_train(tmp_path, "hmpo", 0, 10.0, [50, 40, 30], step_s=2.0)
    _write_train(tmp_path, "hmpo", 1, 10.0, [52, 41, 33])
    log = load_train_log(tmp_path / "train" / "hmpo" / "seed0")
    assert list(log.columns) == ["step", "completion_length", "accuracy", "step_seconds"]
    assert log["completion_length"].tolist() == [50, 40, 30] and log["step_seconds"].iloc[0] == 2
    logs = load_train_logs(["hmpo"], [0, 1], tmp_path)
    assert set(logs["hmpo"]) == {0, 1} and logs["hmpo"][1]["completion_length"].iloc[2] == 33
    with pytest.raises(FileNotFoundError, match="train stage"):
        load_train_log(tmp_path / "train" / "grpo" / "seed0")


def test_collect_fails_naming_the_stage_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"evaluate@hmpo"):
        collect_evaluations(["hmpo"], ["synthetic_eval"], tmp_path, seeds=[0])
    bad = tmp_path / "evaluate" / "base" / "seed0" / "metrics" / "synthetic_eval.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{truncated")
    with pytest.raises(ValueError, match="corrupt.*evaluate_base"):
        collect_evaluations(["base"], ["synthetic_eval"], tmp_path)
    with pytest.raises(FileNotFoundError, match="samples"):
        problem_matrices(["base"], ["synthetic_eval"], tmp_path)


def test_problem_matrices_pair_by_problem_id_and_reject_other_problems(tmp_path):
    rng = np.random.default_rng(0)
    rows = _samples(rng, 0.5, 30.0)
    _write_eval(tmp_path, "base", 0, "synthetic_eval", rows)
    _write_eval(tmp_path, "hmpo", 0, "synthetic_eval", list(reversed(rows)))  # other order
    m = problem_matrices(["base", "hmpo"], ["synthetic_eval"], tmp_path, seeds=[0])
    assert m["synthetic_eval"]["ids"] == sorted(f"p{i}" for i in range(N))
    assert np.array_equal(m["synthetic_eval"]["base"]["accuracy"],
                          m["synthetic_eval"]["hmpo"]["accuracy"])
    assert m["synthetic_eval"]["hmpo"]["tokens"].shape == (1, N)
    _write_eval(tmp_path, "hmpo", 1, "synthetic_eval", rows[4:])  # one problem fewer
    with pytest.raises(ValueError, match="same problems"):
        problem_matrices(["base", "hmpo"], ["synthetic_eval"], tmp_path, seeds=[0, 1])


# --------------------------------------------------------------------------- time to compression
def test_time_to_length_smoothing_pre_rl_and_never():
    log = pd.DataFrame({"step": [1, 2, 3, 4, 5], "completion_length": [40., 20., 40., 20., 20.],
                        "step_seconds": [1., 2., 3., 4., 5.]})
    assert time_to_length(log, 25.0, window=1) == 3.0  # step 2: 1 + 2 s
    assert time_to_length(log, 25.0, window=1, pre_rl_seconds=100.0) == 103.0
    # a 2-step mean reaches 25 only at step 5 (20, 20): the one-step dip does not count
    assert time_to_length(log, 25.0, window=2) == 15.0
    assert time_to_length(log, 10.0, window=1) is None
    # logged every 2 steps: each row stands for 2 rollout steps of step_seconds each
    log2 = pd.DataFrame({"step": [2, 4], "completion_length": [40., 20.], "step_seconds": [1., 3.]})
    assert time_to_length(log2, 25.0, window=1) == 8.0
    # no step times: the RL seconds spread over the steps
    log3 = log.drop(columns="step_seconds")
    assert time_to_length(log3, 25.0, window=1, rl_seconds=50.0) == 20.0


def test_reference_length_and_cost_to_compression():
    mk = lambda lengths: pd.DataFrame({"step": range(1, len(lengths) + 1),  # noqa: E731
                                       "completion_length": lengths,
                                       "step_seconds": [1.0] * len(lengths)})
    logs = {"hmpo": {0: mk([100., 90., 70., 60.]), 1: mk([110., 70., 60., 50.])},
            "multistage": {0: mk([60., 60., 55., 50.]), 1: mk([90., 90., 90., 90.])}}
    ref = reference_length(logs, ["hmpo"])  # multistage starts after its SFT: not the base
    assert ref == 105.0
    costs = {"hmpo": {"pre_rl_seconds_per_seed": {"0": 0.0, "1": 0.0}},
             "multistage": {"pre_rl_seconds_per_seed": {"0": 30.0, "1": 30.0}}}
    t = cost_to_compression(logs, costs, ["hmpo", "multistage"], reference_tokens=ref,
                            levels=(0.19, 0.4), window=1)
    # 0.81 * 105 = 85.05: hmpo seed 0 at step 3, seed 1 at step 2; multistage seed 0 at step 1
    assert t["hmpo"]["0.19"] == {"0": 3.0, "1": 2.0}
    assert t["multistage"]["0.19"] == {"0": 31.0, "1": None}  # seed 1 never gets there
    assert t["hmpo"]["0.4"] == {"0": 4.0, "1": 3.0}


# --------------------------------------------------------------------------- tables
def test_results_table_rows_deltas_and_seed_sd():
    s = build_summary(_runs(base=[(0.5, 100.0)], hmpo=[(0.4, 50.0), (0.5, 70.0)],
                           multistage=[(0.5, 80.0), (0.5, 80.0)]),
                      profile="smoke", seed=0, sets=SETS)
    costs = {"base": {"train_seconds": None, "train_cpu_seconds": None},
             "hmpo": {"train_seconds": 100.0, "train_cpu_seconds": 150.0},
             "multistage": {"train_seconds": 180.0, "train_cpu_seconds": 260.0}}
    t = results_table(s, costs)
    assert list(t["method"][:3]) == ["base", "hmpo", "multistage"] and len(t) == 6
    hm = t[(t["set"] == "synthetic_eval") & (t["method"] == "hmpo")].iloc[0]
    assert hm["delta_acc_pt"] == pytest.approx(-5.0) and hm["compression"] == pytest.approx(0.4)
    assert hm["n_seeds"] == 2 and hm["mean_tokens_seed_sd"] == pytest.approx(14.1421, abs=1e-3)
    assert hm["train_seconds"] == 100.0 and pd.isna(t.loc[0, "train_seconds"])
    md = table_markdown(t)
    assert md.count("### ") == 2 and "| hmpo " in md and "-5.0" in md and "+40.0" in md
    assert "Tokens seed sd" in md and "14.1" in md and "seeds" in md.lower()
    tex = table_latex(t)
    assert tex.count(r"\begin{tabular}") == 2 and r"$\Delta$" in tex and r"\%" in tex
    body = "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))
    assert "_" not in body.replace(r"\_", "")  # escaped for LaTeX


def test_comparisons_table_every_model_vs_hmpo():
    m = _mats(base=(0.8, 100.0), hmpo=(0.82, 60.0), kimi=(0.82, 60.0), grpo=(0.9, 95.0))
    df = comparisons_table(m, ["base", "hmpo", "kimi", "grpo"], n_boot=200)
    assert df["method"].tolist() == ["base", "kimi", "grpo"]
    g = df[df["method"] == "grpo"].iloc[0]
    assert g["delta_acc_pt"] == pytest.approx(8.0) and g["delta_tokens"] == pytest.approx(35.0)
    assert g["delta_tokens_ci_low"] == pytest.approx(35.0) and not g["same_value"]
    assert df[df["method"] == "kimi"].iloc[0]["same_value"]  # identical: the floor flag
    md = comparisons_markdown(df)
    assert "## synthetic_eval" in md and "| kimi " in md and "yes" in md


def test_comparisons_floor_flag_is_the_paired_equivalence_not_overlapping_model_cis():
    # three base seeds whose levels differ by 30 points (the models' own CIs overlap widely),
    # each model's run paired with the others by base seed, and a model 5 points and 2 tokens
    # below hmpo on every seed: paired, the difference is exact, so no floor (the unpaired
    # overlap flag said "yes" here); a model within 0.5 pt and 0.1 token of hmpo on every seed
    # (margins 0.7 pt and 1% of the base's 20 tokens) is one
    rng = np.random.default_rng(3)
    level = np.array([[0.4], [0.6], [0.7]]) + 0.02 * rng.standard_normal((3, 40))
    tok = np.array([[10.0], [14.0], [18.0]]) + np.zeros((3, 40))
    g = [0, 1, 2]

    def run(acc, tokens):
        return {"accuracy": acc, "tokens": tokens, "groups": g}

    m = _mats(base=run(level, tok + 10.0), hmpo=run(level, tok),
              worse=run(level - 0.05, tok - 2.0),
              same=run(level + 0.005 * rng.uniform(-1, 1, (3, 40)), tok + 0.1))
    df = comparisons_table(m, ["base", "hmpo", "worse", "same"], n_boot=200).set_index("method")
    assert df.loc["worse", "delta_acc_ci_high"] == pytest.approx(-5.0)
    assert not df.loc["worse", "same_value"] and df.loc["same", "same_value"]
    # the two models' own intervals overlap in accuracy and tokens: the old flag said "floor"
    from hmpo.analysis.stats import model_mean
    ci = {k: [model_mean(m["synthetic_eval"][x][k], groups=g).ci for x in ("hmpo", "worse")]
          for k in ("accuracy", "tokens")}
    assert all(max(a[0], b[0]) <= min(a[1], b[1]) for a, b in ci.values())
    assert "shown equivalent" in comparisons_markdown(df.reset_index())


def test_comparisons_pair_each_long_run_with_the_hmpo_run_of_its_length():
    from hmpo.analysis.report import references
    from hmpo.config import MethodConfig, load_config

    cfg = load_config("params.yaml")
    cfg.methods["hmpo_long"] = MethodConfig(reward="hmpo", steps_factor=3)
    cfg.methods["hmpo_add_long"] = MethodConfig(reward="hmpo_add", steps_factor=3)
    refs = references(cfg)
    assert refs["hmpo_add_long"] == "hmpo_long" and refs["hmpo_long"] == "hmpo_long"
    assert refs["hmpo_add"] == refs["hmpo_fixed_p25"] == refs["base"] == "hmpo"
    m = _mats(base=(0.8, 100.0), hmpo=(0.7, 60.0), hmpo_add=(0.9, 60.0),
              hmpo_long=(0.9, 50.0), hmpo_add_long=(0.85, 50.0))
    df = comparisons_table(m, [k for k in m["synthetic_eval"] if k != "ids"], refs=refs, n_boot=200)
    got = {r.method: (r.reference, r.delta_acc_pt) for r in df.itertuples()}
    assert got == {"base": ("hmpo", pytest.approx(10.0)), "hmpo_add": ("hmpo", pytest.approx(20.0)),
                   "hmpo_add_long": ("hmpo_long", pytest.approx(-5.0))}  # hmpo_long: itself
    md = comparisons_markdown(df)
    assert "## synthetic_eval: vs hmpo\n" in md and "## synthetic_eval: vs hmpo_long\n" in md


def test_pareto_front():
    s = build_summary(_runs(base=[(0.5, 100.0)], hmpo=[(0.5, 70.0)], grpo=[(0.55, 110.0)],
                           kimi=[(0.4, 80.0)], hmpo_add_ungated=[(0.1, 20.0)]),
                      profile="p", seed=0, sets=SETS)
    assert pareto_front(s, "synthetic_eval") == ["hmpo_add_ungated", "hmpo", "grpo"]


# --------------------------------------------------------------------------- the whole report
def _write_tree(root, seeds=(0, 1, 2), per_seed=False):
    """A results tree in the pipeline's layout: sft and base (one run, or one per seed with
    `per_seed`), hmpo, hmpo_add, a fixed budget and multistage, three seeds each, two sets."""
    rng = np.random.default_rng(0)
    spec = {"sft": (0.7, 70.0), "base": (0.8, 60.0), "hmpo": (0.8, 30.0), "hmpo_add": (0.75, 28.0),
            "hmpo_fixed_p50": (0.7, 35.0), "multistage": (0.8, 40.0)}
    bases = list(seeds) if per_seed else list(seeds[:1])
    for s_i, set_name in enumerate(SETS):
        for model, (acc, tok) in spec.items():
            for seed in (bases if model in ("sft", "base") else seeds):
                rows = _samples(rng, acc - 0.1 * s_i, tok * (1 + 0.5 * s_i), tok_sd=3.0)
                _write_eval(root, model, seed, set_name, rows)
    for model in spec:
        if model in ("sft", "base"):
            continue
        for seed in seeds:
            if model == "multistage":
                _write_train(root, model, seed, 80.0 + seed, [40.0] * 20, step_s=1.0,
                             stages={"sample": {"wall_s": 40.0}, "sft": {"wall_s": 10.0}})
            else:
                _write_train(root, model, seed, 30.0 + seed,
                             list(np.linspace(60.0, 30.0, 20)), step_s=1.0)
    (root / "base_model").mkdir()
    (root / "base_model" / "budgets.json").write_text(json.dumps({
        f"seed{b}": {"budgets_tokens": {"p25": 20.0, "p50": 31.0 + 2 * i, "p75": 45.0}}
        for i, b in enumerate(bases)}))
    (root / "predictions").mkdir()
    (root / "predictions" / "predictions.json").write_text(json.dumps({
        "set": "synthetic_eval", "methods": {
            "hmpo": {"modelled": True, "tokens": 30.0, "accuracy": 0.8, "by_difficulty": {
                "2": {"name": "early1", "tokens": 29.0, "accuracy": 0.8},
                "3": {"name": "minimal", "tokens": 31.0, "accuracy": 0.8}}},
            "hmpo_add": {"modelled": True, "tokens": 10.0, "accuracy": 0.8},
            "multistage": {"modelled": False, "why": "not a reward walk"}}}))
    return spec


def test_write_report_end_to_end(tmp_path):
    spec = _write_tree(tmp_path)
    cfg = _cfg({"hmpo": {}, "hmpo_add": {},
                "hmpo_fixed_p50": {"reward": "hmpo_fixed", "budget_percentile": 50},
                "multistage": {"reward": "grpo", "multistage": True}})
    out = write_report(cfg, tmp_path, n_boot=300)
    first = (tmp_path / "summary.json").read_bytes()
    write_report(cfg, tmp_path, n_boot=300)
    assert (tmp_path / "summary.json").read_bytes() == first  # deterministic
    summary = json.loads(first)
    assert summary["seed"] == 7 and summary["train_seeds"] == [0, 1, 2]
    assert summary["train_steps"] == 2
    assert set(summary["methods"]) == set(spec)
    hm = summary["methods"]["hmpo"]
    assert hm["n_seeds"] == 3 and set(hm["per_seed"]) == {"0", "1", "2"}
    assert hm["accuracy"] == pytest.approx(np.mean([hm["per_seed"][s]["accuracy"]
                                                    for s in "012"]), abs=1e-4)
    assert hm["accuracy_ci"][0] <= hm["accuracy"] <= hm["accuracy_ci"][1]
    assert hm["train_seconds"] == 31.0 and hm["train_seconds_per_seed"]["2"] == 32.0
    assert summary["methods"]["base"]["train_seconds"] is None
    assert set(TIMING_FIELDS) <= set(hm)
    costs = json.loads((tmp_path / "costs.json").read_text())
    assert costs["multistage"]["pre_rl_seconds_per_seed"]["0"] == 50.0
    claims = {c["id"]: c for c in json.loads((tmp_path / "claims.json").read_text())}
    assert set(claims) == {"compression", "median_vs_fixed", "multiplicative_vs_additive",
                           "single_stage_cheaper", "length_generalisation"}
    # hmpo 60 -> 30 tokens: compression ~50%
    assert claims["compression"]["values"]["compression"]["estimate"] == pytest.approx(0.5,
                                                                                       abs=0.05)
    # multistage sits at 40 tokens from step 1 (after 50 s of sampling + SFT); the reference
    # is the single-stage runs' step-1 length (60): 0.81 * 60 = 48.6 tokens
    cost = claims["single_stage_cheaper"]["values"]
    assert cost["reference_tokens"] == pytest.approx(60.0)
    assert cost["c0.19"]["multistage_seconds"]["0"] == 51.0
    assert claims["median_vs_fixed"]["comparisons"][0]["budget_tokens"] == 31.0
    comp = pd.read_csv(tmp_path / "comparisons.csv")
    assert set(comp["method"]) == {"sft", "base", "hmpo_add", "hmpo_fixed_p50", "multistage"}
    assert summary["methods"]["sft"]["n_seeds"] == 1
    # theory's predictions beside the outcomes, with the pre-registered verdict
    pred = pd.read_csv(tmp_path / "predictions.csv").set_index("method")
    assert pred.loc["hmpo", "verdict"] == "held"  # 30 tokens, 80% as predicted (+- noise)
    assert pred.loc["hmpo_add", "verdict"] == "failed"  # ~28 tokens, predicted 10
    assert pred.loc["multistage", "verdict"] == "not modelled"
    assert pred.loc["hmpo", "observed_tokens"] == pytest.approx(hm["sets"]["synthetic_eval"][
        "mean_tokens"])
    pred_md = (tmp_path / "predictions.md").read_text()
    assert "| hmpo_add | 10.0 |" in pred_md
    # per difficulty: the predicted style and predicted -> observed (hmpo's k = 2 mean tokens)
    obs2 = out["evaluations"]["hmpo"]["synthetic_eval"]["by_difficulty"]["2"]["mean_tokens"]
    assert f"| hmpo | early1: 29.0 -> {obs2:.1f};" in pred_md
    assert set(comp["set"]) == set(SETS)
    for name in ("results_table.md", "results_table.csv", "results_table.tex", "claims.md",
                 "comparisons.md"):
        assert (tmp_path / name).stat().st_size > 0
    assert not list(tmp_path.glob(".*.tmp"))
    assert (tmp_path / "figures" / "pareto.csv").read_text().startswith("method,accuracy")
    lengths = pd.read_csv(tmp_path / "figures" / "completion_length.csv")
    assert list(lengths.columns) == ["method", "step", "completion_length"]
    assert set(lengths["method"]) == set(out["train_logs"])  # one line per method, seed 0
    hmpo0 = out["train_logs"]["hmpo"][0]
    assert lengths[lengths["method"] == "hmpo"]["completion_length"].tolist() == \
        hmpo0["completion_length"].dropna().tolist()
    # what the figures notebook uses
    assert set(out["train_logs"]["hmpo"]) == {0, 1, 2}
    bd = out["evaluations"]["hmpo"]["synthetic_eval"]["by_difficulty"]
    assert set(bd) == {"2", "3"} and 0 <= bd["2"]["accuracy"] <= 1
    assert math.isclose(out["evaluations"]["hmpo"]["synthetic_eval"]["accuracy"],
                        hm["accuracy"])
    # claims.md lists the record's changes of the reported profile: none for smoke
    claims_md = (tmp_path / "claims.md").read_text()
    assert "## Changes made after seeing results\n\nNone recorded for profile `smoke`" in claims_md


def test_write_report_lists_the_records_entries_and_rejects_a_malformed_one(tmp_path):
    _write_tree(tmp_path)
    cfg = _cfg({"hmpo": {}, "multistage": {"reward": "grpo", "multistage": True}})
    record = tmp_path / "record.yaml"
    record.write_text(json.dumps({"changes": [{
        "key": "train.num_generations", "from": 4, "to": 8, "commit": "abcdef1",
        "why": "Groups of 4 had no median.", "profiles": ["smoke"], "verdicts_flipped": []}]}))
    write_report(cfg, tmp_path, n_boot=50, disclosures=record)
    md = (tmp_path / "claims.md").read_text()
    assert "- `train.num_generations`: 4 -> 8 (commit abcdef1). Groups of 4 had no median." in md
    record.write_text(json.dumps({"changes": [{"key": "train.num_generations"}]}))
    (tmp_path / "claims.md").unlink()
    with pytest.raises(ValueError, match=r"record.yaml: changes\[0\]: missing"):
        write_report(cfg, tmp_path, n_boot=50, disclosures=record)
    assert not (tmp_path / "claims.md").exists()  # it failed before writing anything


# --------------------------------------------------------------------------- figures
def _png(fig, path):
    fig.savefig(path, dpi=60)
    return path.stat().st_size


def test_figures_render(tmp_path):
    from hmpo.analysis.plots import plot_costs, plot_pareto
    from hmpo.analysis.stage_plots import plot_difficulty_lengths, plot_training_curves

    s = build_summary(_runs(base=[(0.5, 100.0)], hmpo=[(0.5, 70.0)], grpo=[(0.55, 110.0)]),
                      profile="p", seed=0, sets=SETS)
    fig = plot_pareto(s)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "mean response tokens"
    assert {t.get_text() for t in ax.texts} == {"base", "hmpo", "grpo"}
    assert _png(fig, tmp_path / "p.png") > 1000

    logs = {"hmpo": pd.DataFrame({"step": [1, 2, 3], "completion_length": [50, 45, 40],
                                  "accuracy": [0.4, 0.5, 0.5], "budget_tokens": [48, 44, 40]}),
            "grpo": pd.DataFrame({"step": [1, 2, 3], "completion_length": [50, 52, 55],
                                  "accuracy": [0.4, 0.5, 0.6]})}
    fig = plot_training_curves(logs)
    assert _png(fig, tmp_path / "t.png") > 1000

    bd = {"base": {"2": {"n_problems": 3, "accuracy": 0.5, "mean_tokens": 30.0},
                   "3": {"n_problems": 3, "accuracy": 0.3, "mean_tokens": 50.0}},
          "hmpo": {"2": {"n_problems": 3, "accuracy": 0.5, "mean_tokens": 20.0}}}
    fig = plot_difficulty_lengths(bd, "synthetic_eval")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["2", "3"]
    assert _png(fig, tmp_path / "d.png") > 1000

    costs = {"base": {"train_seconds": None, "train_cpu_seconds": None},
             "hmpo": {"train_seconds": 100.0, "train_cpu_seconds": 150.0},
             "multistage": {"train_seconds": 180.0, "train_cpu_seconds": 260.0}}
    fig = plot_costs(costs)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["hmpo", "multistage"]
    assert _png(fig, tmp_path / "c.png") > 1000


def test_report_doctests():
    import doctest

    import hmpo.analysis.report

    res = doctest.testmod(hmpo.analysis.report)
    assert res.attempted > 0 and res.failed == 0


# --------------------------------------------------------------------------- one base per seed
def test_runs_are_grouped_by_their_base_seed():
    assert run_groups("hmpo", [0, 1, 2], [0, 1, 2]) == [0, 1, 2]
    assert run_groups("base", [0, 1, 2], [0, 1, 2]) == [0, 1, 2]
    assert run_groups("hmpo", [0, 1, 2], [0]) == [0, 0, 0]  # one shared base
    assert run_groups("sft", [0, 1, 2], [0]) == [0]
    assert run_groups("hmpo", [3, 5]) == [3, 3]  # default: the first training seed's base


def test_compare_pairs_runs_by_base_seed():
    # each base seed shifts its base model and the run trained from it alike; the method adds
    # 0.1 on every problem: paired by base seed the difference is exactly 0.1, and without
    # the groups (runs unpaired) the base draws' spread makes it noise
    rng = np.random.default_rng(3)
    base = rng.uniform(0.3, 0.7, 60) + np.array([[-0.2], [0.0], [0.2]])
    mats = {"base": {"accuracy": base, "tokens": base * 10, "groups": [0, 1, 2]},
            "hmpo": {"accuracy": base + 0.1, "tokens": base * 10 - 1, "groups": [0, 1, 2]}}
    c = compare(mats, "hmpo", "base")
    assert c["accuracy"].ci == pytest.approx([0.1, 0.1]) and c["tokens"].ci == pytest.approx(
        [-1.0, -1.0])
    unpaired = {m: {k: v for k, v in d.items() if k != "groups"} for m, d in mats.items()}
    assert compare(unpaired, "hmpo", "base")["accuracy"].se > 0.05


def test_write_report_with_one_base_model_per_seed(tmp_path):
    _write_tree(tmp_path, per_seed=True)
    cfg = _cfg({"hmpo": {}, "hmpo_add": {},
                "hmpo_fixed_p50": {"reward": "hmpo_fixed", "budget_percentile": 50},
                "multistage": {"reward": "grpo", "multistage": True}})
    cfg.base_model.per_seed = True
    write_report(cfg, tmp_path, n_boot=300)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["base_seeds"] == [0, 1, 2] and summary["train_seeds"] == [0, 1, 2]
    for model in ("sft", "base"):
        assert summary["methods"][model]["n_seeds"] == 3
        assert set(summary["methods"][model]["per_seed"]) == {"0", "1", "2"}
    m = problem_matrices(["base", "hmpo"], SETS[:1], tmp_path, [0, 1, 2], [0, 1, 2])
    assert m[SETS[0]]["base"]["accuracy"].shape[0] == 3
    assert m[SETS[0]]["base"]["groups"] == m[SETS[0]]["hmpo"]["groups"] == [0, 1, 2]
    # each fixed-budget run trained with its own base's budget: the report shows their mean
    assert load_budgets(cfg, tmp_path) == {"hmpo_fixed_p50": pytest.approx(33.0)}
    cfg.base_model.per_seed = False  # the same tree read as one shared base: base seed 0 only
    shared = problem_matrices(["base", "hmpo"], SETS[:1], tmp_path, [0, 1, 2], [0])
    assert shared[SETS[0]]["base"]["groups"] == [0]
    assert shared[SETS[0]]["hmpo"]["groups"] == [0, 0, 0]
    assert load_budgets(cfg, tmp_path) == {"hmpo_fixed_p50": 31.0}  # base seed 0's

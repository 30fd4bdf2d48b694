"""hmpo.report and the results figures of hmpo.plots, on hand-made metrics."""

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from hmpo.report import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNTESTABLE,
    build_summary,
    claims_markdown,
    collect_costs,
    collect_evaluations,
    evaluate_claims,
    load_train_log,
    pareto_front,
    results_table,
    round_floats,
    table_latex,
    table_markdown,
    train_cost,
    write_report,
)

SETS = ["synthetic_eval", "synthetic_transfer"]


def _m(acc, tokens, ci=0.05, difficulty=None):
    """A metrics.json as hmpo.evaluate writes it (only the fields the report reads)."""
    return {"accuracy": acc, "accuracy_ci": [acc - ci, acc + ci], "mean_tokens": tokens,
            "mean_tokens_ci": [tokens - 2, tokens + 2], "median_tokens": tokens,
            "n_problems": 100, "finished_rate": 1.0,
            "by_difficulty": difficulty or {"2": {"n_problems": 100, "accuracy": acc,
                                                  "mean_tokens": tokens}}}


def _evals(**models):
    """{model: (acc, tokens)} -> evaluations on both sets (transfer: 20% longer, 0.1 less acc)."""
    return {name: {"synthetic_eval": _m(a, t), "synthetic_transfer": _m(a - 0.1, 1.2 * t)}
            for name, (a, t) in models.items()}


def _cost(wall, cpu):
    return {"train_seconds": wall, "train_cpu_seconds": cpu, "device_seconds": wall}


COSTS = {"base": _cost(None, None), "hmpo": _cost(100.0, 150.0),
         "multistage": _cost(180.0, 260.0)}


def _summary(evals, sets=SETS):
    return build_summary(evals, profile="smoke", seed=0, sets=sets)


def _verdicts(summary, costs=COSTS, **kw):
    return {c["id"]: c["verdict"] for c in evaluate_claims(summary, costs, **kw)}


# --------------------------------------------------------------------------- summary
def test_summary_compression_and_top_level_main_set():
    s = _summary(_evals(base=(0.5, 100.0), hmpo=(0.5, 70.0)))
    assert s["main_set"] == "synthetic_eval" and s["eval_sets"] == SETS
    hm = s["methods"]["hmpo"]
    assert hm["compression"] == pytest.approx(0.3)  # 1 - 70/100
    assert hm["sets"]["synthetic_transfer"]["compression"] == pytest.approx(0.3)  # 84 vs 120
    assert s["methods"]["base"]["compression"] == 0.0
    assert hm["accuracy"] == hm["sets"]["synthetic_eval"]["accuracy"] == 0.5
    assert hm["accuracy_ci"] == [0.45, 0.55]


def test_summary_main_set_falls_back_to_first_set_and_no_base_means_no_compression():
    s = build_summary({"hmpo": {"gsm8k": _m(0.3, 200.0)}}, profile="x", seed=1, sets=["gsm8k"])
    assert s["main_set"] == "gsm8k"
    assert s["methods"]["hmpo"]["compression"] is None


def test_summary_missing_set_fails():
    with pytest.raises(ValueError, match="synthetic_transfer"):
        _summary({"hmpo": {"synthetic_eval": _m(0.5, 10.0)}})


def test_summary_is_rounded_and_byte_stable():
    e = _evals(base=(1 / 3, 100.0 / 7), hmpo=(0.123456789, 9.87654321))
    a = json.dumps(_summary(e), sort_keys=True)
    assert a == json.dumps(_summary(e), sort_keys=True)
    assert _summary(e)["methods"]["base"]["accuracy"] == 0.3333


def test_round_floats_rejects_nan_and_normalises_negative_zero():
    assert round_floats({"a": [-0.0, 1.23456], "b": None}) == {"a": [0.0, 1.2346], "b": None}
    assert str(round_floats(-0.00001)) == "0.0"
    with pytest.raises(ValueError, match="non-finite"):
        round_floats({"a": float("nan")})


# --------------------------------------------------------------------------- costs / inputs
def test_train_cost_reads_hmpo_train_metrics():
    assert train_cost({"wall_s": 12.5, "cpu_s": 20, "device_s": 50.0, "final": {}}) == {
        "train_seconds": 12.5, "train_cpu_seconds": 20.0, "device_seconds": 50.0}
    # no device_s (one process): device seconds are the wall seconds
    assert train_cost({"wall_s": 3})["device_seconds"] == 3.0
    assert train_cost({"wall_s": 3})["train_cpu_seconds"] is None
    with pytest.raises(ValueError, match="wall_s"):
        train_cost({"steps": []})


def test_load_train_log_merges_dvclive_series(tmp_path):
    root = tmp_path / "hmpo" / "live" / "plots" / "metrics" / "hmpo"
    root.mkdir(parents=True)
    (root / "length_mean.tsv").write_text("timestamp\tstep\tlength_mean\n1\t0\t50\n2\t1\t40\n")
    (root / "accuracy.tsv").write_text("timestamp\tstep\taccuracy\n1\t1\t0.5\n2\t0\t0.25\n")
    log = load_train_log(tmp_path / "hmpo")
    assert list(log.columns) == ["step", "completion_length", "accuracy"]  # no budget logged
    assert log["step"].tolist() == [0, 1] and log["accuracy"].tolist() == [0.25, 0.5]
    with pytest.raises(FileNotFoundError, match="train stage"):
        load_train_log(tmp_path / "grpo")


def test_collect_fails_naming_the_stage_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"evaluate@hmpo"):
        collect_evaluations(["hmpo"], ["synthetic_eval"], tmp_path)
    with pytest.raises(FileNotFoundError, match=r"train@kimi"):
        collect_costs(["kimi"], tmp_path)
    bad = tmp_path / "evaluate" / "base" / "metrics" / "synthetic_eval.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{truncated")
    with pytest.raises(ValueError, match="corrupt.*evaluate@base"):
        collect_evaluations(["base"], ["synthetic_eval"], tmp_path)


# --------------------------------------------------------------------------- claims
def test_claims_reproduced_when_the_numbers_say_so():
    s = _summary(_evals(base=(0.50, 100.0), hmpo=(0.498, 70.0), hmpo_fixed=(0.49, 95.0),
                        hmpo_add=(0.49, 60.0), hmpo_add_ungated=(0.20, 30.0),
                        multistage=(0.5, 72.0)))
    v = _verdicts(s)
    assert v == {"compression": REPRODUCED, "median_vs_fixed": REPRODUCED,
                 "multiplicative_vs_additive": REPRODUCED, "single_stage_cheaper": REPRODUCED,
                 "transfer": REPRODUCED}


def test_claims_not_reproduced_for_each_failing_rule():
    # hmpo: only 10% shorter; fixed budget shorter still; every additive variant as accurate;
    # multistage barely dearer; transfer: shorter but loses 5 pt
    e = _evals(base=(0.5, 100.0), hmpo=(0.5, 90.0), hmpo_fixed=(0.5, 80.0),
               hmpo_add=(0.5, 85.0), hmpo_add_ungated=(0.5, 70.0), multistage=(0.5, 80.0))
    e["hmpo"]["synthetic_transfer"] = _m(0.35, 60.0)
    costs = {**COSTS, "multistage": _cost(120.0, 160.0)}
    v = _verdicts(_summary(e), costs)
    assert set(v.values()) == {NOT_REPRODUCED}


def test_compression_claim_thresholds_are_the_papers():
    # 19% compression at exactly 0.7 pt loss: on the boundary, reproduced
    s = _summary(_evals(base=(0.5, 100.0), hmpo=(0.493, 81.0)))
    assert _verdicts(s)["compression"] == REPRODUCED
    # 0.8 pt loss: not negligible by the paper's wording
    s = _summary(_evals(base=(0.5, 100.0), hmpo=(0.492, 50.0)))
    assert _verdicts(s)["compression"] == NOT_REPRODUCED
    # a looser tolerance changes the verdict (the rule is a parameter, not a constant answer)
    assert _verdicts(s, tol=0.01)["compression"] == REPRODUCED


def test_multiplicative_claim_needs_an_actual_accuracy_advantage():
    # hmpo ties every additive variant: no evidence that gating matters -> not reproduced
    s = _summary(_evals(base=(0.5, 100.0), hmpo=(0.5, 70.0), hmpo_add=(0.5, 70.0),
                        hmpo_add_ungated=(0.5, 60.0)))
    assert _verdicts(s)["multiplicative_vs_additive"] == NOT_REPRODUCED
    # hmpo much worse than one additive variant, better than the other -> not reproduced
    s = _summary(_evals(base=(0.5, 100.0), hmpo=(0.4, 70.0), hmpo_add=(0.5, 70.0),
                        hmpo_add_ungated=(0.1, 20.0)))
    assert _verdicts(s)["multiplicative_vs_additive"] == NOT_REPRODUCED


def test_differences_inside_the_confidence_intervals_are_not_evidence():
    # hmpo 1.0 pt more accurate than hmpo_add_ungated (> 0.7 pt) but the CIs (+-5 pt) overlap,
    # and 1 token shorter than hmpo_fixed with overlapping token CIs (+-2): neither claim holds
    s = _summary(_evals(base=(0.5, 100.0), hmpo=(0.5, 70.0), hmpo_fixed=(0.5, 71.0),
                        hmpo_add=(0.5, 70.0), hmpo_add_ungated=(0.49, 70.0)))
    v = _verdicts(s)
    assert v["multiplicative_vs_additive"] == NOT_REPRODUCED
    assert v["median_vs_fixed"] == NOT_REPRODUCED
    # the same gaps with tight CIs are evidence
    for entry in s["methods"].values():
        for row in entry["sets"].values():
            for key in ("accuracy", "mean_tokens"):
                row[f"{key}_ci"] = [row[key] - 0.001, row[key] + 0.001]
    v = _verdicts(s)
    assert v["multiplicative_vs_additive"] == v["median_vs_fixed"] == REPRODUCED


def test_claims_untestable_when_inputs_are_absent():
    s = build_summary({"base": {"gsm8k": _m(0.5, 100.0)}}, profile="p", seed=0, sets=["gsm8k"])
    rows = evaluate_claims(s, {"base": COSTS["base"]})
    assert [r["verdict"] for r in rows] == [UNTESTABLE] * 5
    transfer = next(r for r in rows if r["id"] == "transfer")
    assert "synthetic_transfer" in transfer["metric"]  # says why


def test_accuracy_claims_untestable_when_base_solves_nothing():
    s = _summary(_evals(base=(0.0, 100.0), hmpo=(0.0, 50.0), hmpo_fixed=(0.0, 90.0),
                        hmpo_add=(0.0, 60.0), multistage=(0.0, 60.0)))
    # transfer accuracy would be -0.1: give it a solvable base instead
    s["methods"]["base"]["sets"]["synthetic_transfer"]["accuracy"] = 0.2
    s["methods"]["hmpo"]["sets"]["synthetic_transfer"]["accuracy"] = 0.2
    v = _verdicts(s)
    assert v["compression"] == v["median_vs_fixed"] == v["multiplicative_vs_additive"] == UNTESTABLE
    assert v["single_stage_cheaper"] == REPRODUCED  # cost does not need a solvable task
    assert v["transfer"] == REPRODUCED  # 50% shorter on transfer at equal accuracy
    assert "accuracy on synthetic_eval is 0" in evaluate_claims(s, COSTS)[0]["metric"]


def test_claim_rows_carry_rule_metric_and_noise_note():
    s = _summary(_evals(base=(0.50, 100.0), hmpo=(0.52, 70.0)))
    row = evaluate_claims(s, COSTS)[0]
    assert "19%" in row["rule"] and "0.7 pt" in row["rule"]
    assert "30.0%" in row["metric"] and row["values"]["compression"] == pytest.approx(0.3)
    assert "within sampling noise" in row["note"]  # CIs of 0.50 +- 0.05 and 0.52 +- 0.05
    md = claims_markdown(evaluate_claims(s, COSTS), s)
    assert md.count("\n| ") == 7 and "Profile `smoke`" in md  # header, rule, 5 claims


# --------------------------------------------------------------------------- tables
def test_results_table_rows_and_deltas():
    s = _summary(_evals(base=(0.5, 100.0), hmpo=(0.45, 60.0), multistage=(0.5, 80.0),
                        hmpo_add=(0.5, 90.0)))
    t = results_table(s, COSTS)
    assert list(t["method"][:3]) == ["base", "hmpo", "multistage"] and len(t) == 8
    hm = t[(t["set"] == "synthetic_eval") & (t["method"] == "hmpo")].iloc[0]
    assert hm["delta_acc_pt"] == pytest.approx(-5.0) and hm["compression"] == pytest.approx(0.4)
    assert hm["train_seconds"] == 100.0
    assert pd.isna(t.loc[0, "train_seconds"])  # base: no RL cost
    md = table_markdown(t)
    assert md.count("### ") == 2 and "| hmpo " in md and "-5.0" in md and "+40.0" in md
    tex = table_latex(t)
    assert tex.count(r"\begin{tabular}") == 2 and r"$\Delta$" in tex and r"\%" in tex
    body = "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))
    assert r"hmpo\_add &" in body and "_" not in body.replace(r"\_", "")  # escaped for LaTeX


def test_pareto_front():
    s = _summary(_evals(base=(0.5, 100.0), hmpo=(0.5, 70.0), grpo=(0.55, 110.0),
                        kimi=(0.4, 80.0), hmpo_add_ungated=(0.1, 20.0)))
    # base is dominated by hmpo (shorter, as accurate); kimi by hmpo
    assert pareto_front(s, "synthetic_eval") == ["hmpo_add_ungated", "hmpo", "grpo"]


# --------------------------------------------------------------------------- the whole report
def test_write_report_end_to_end(tmp_path):
    e = _evals(base=(0.5, 100.0), hmpo=(0.5, 70.0), multistage=(0.5, 75.0))
    for model, per_set in e.items():
        for s, m in per_set.items():
            p = tmp_path / "evaluate" / model / "metrics" / f"{s}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(m))
    for method, secs in (("hmpo", 10.0), ("multistage", 25.0)):
        p = tmp_path / "train" / method / "metrics.json"
        p.parent.mkdir(parents=True)
        p.write_text(json.dumps({"wall_s": secs, "cpu_s": secs * 1.5, "device_s": secs}))
    cfg = SimpleNamespace(profile="smoke", seed=7, evaluate=SimpleNamespace(sets=SETS),
                          methods={"hmpo": None, "multistage": None})
    write_report(cfg, tmp_path)
    first = (tmp_path / "summary.json").read_bytes()
    write_report(cfg, tmp_path)
    assert (tmp_path / "summary.json").read_bytes() == first
    summary = json.loads(first)
    assert summary["seed"] == 7 and set(summary["methods"]) == {"base", "hmpo", "multistage"}
    # the measured training cost per method (null for the base model, which is not trained)
    assert summary["methods"]["hmpo"]["train_seconds"] == 10
    assert summary["methods"]["multistage"]["train_cpu_seconds"] == 37.5
    assert summary["methods"]["base"]["train_seconds"] is None
    assert json.loads((tmp_path / "costs.json").read_text())["multistage"]["train_seconds"] == 25
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert {c["id"]: c["verdict"] for c in claims}["single_stage_cheaper"] == REPRODUCED
    for name in ("results_table.md", "results_table.csv", "results_table.tex", "claims.md"):
        assert (tmp_path / name).stat().st_size > 0
    assert not list(tmp_path.glob(".*.tmp"))
    assert (tmp_path / "figures" / "pareto.csv").read_text().startswith("method,accuracy")


# --------------------------------------------------------------------------- figures
def _png(fig, path):
    fig.savefig(path, dpi=60)
    return path.stat().st_size


def test_figures_render(tmp_path):
    from hmpo.plots import plot_costs, plot_difficulty_lengths, plot_pareto, plot_training_curves

    s = _summary(_evals(base=(0.5, 100.0), hmpo=(0.5, 70.0), grpo=(0.55, 110.0)))
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
    budget_ax = fig.axes[2]
    assert [ln.get_label() for ln in budget_ax.lines] == ["hmpo"]  # grpo logs no budget
    assert _png(fig, tmp_path / "t.png") > 1000

    bd = {"base": {"2": {"n_problems": 3, "accuracy": 0.5, "mean_tokens": 30.0},
                   "3": {"n_problems": 3, "accuracy": 0.3, "mean_tokens": 50.0}},
          "hmpo": {"2": {"n_problems": 3, "accuracy": 0.5, "mean_tokens": 20.0}}}
    fig = plot_difficulty_lengths(bd, "synthetic_eval")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["2", "3"]
    assert _png(fig, tmp_path / "d.png") > 1000

    fig = plot_costs(COSTS)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["hmpo", "multistage"]
    assert _png(fig, tmp_path / "c.png") > 1000
    with pytest.raises(ValueError):
        plot_costs({"base": COSTS["base"]})

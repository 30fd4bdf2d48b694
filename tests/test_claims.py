"""hmpo.analysis.claims: each paper-claim rule's verdicts (reproduced / contradicted / inconclusive /
untestable here) on hand-made per-problem matrices, and the claims table."""

import json

import numpy as np
import pytest
from report_matrices import N
from report_matrices import const as _const
from report_matrices import mats as _mats
from report_matrices import summary_of as _summary_of

from hmpo.analysis.claims import (
    FLOOR_NOTE,
    UNTESTABLE,
    additive_claim,
    claims_markdown,
    compression_claim,
    cost_claim,
    dominance,
    evaluate_claims,
    median_vs_fixed_claim,
)
from hmpo.analysis.stats import CONTRADICTED, INCONCLUSIVE, REPRODUCED, Estimate

SETS = ["synthetic_eval", "synthetic_transfer"]


# --------------------------------------------------------------------------- claim 1 / 5
def test_compression_claim_verdicts():
    kw = dict(n_boot=300, seed=0)
    rep = _mats(base=(0.8, 100.0), hmpo=(0.8, 60.0))
    row = compression_claim(_summary_of(rep), rep, "c", "claim", "synthetic_eval", **kw)
    assert row["verdict"] == REPRODUCED
    assert row["values"]["compression"]["estimate"] == pytest.approx(0.4)
    assert row["values"]["verdict_accuracy"] == REPRODUCED
    # 10% shorter (zero variance): the compression part is contradicted
    con = _mats(base=(0.8, 100.0), hmpo=(0.8, 90.0))
    assert compression_claim(_summary_of(con), con, "c", "c", "synthetic_eval",
                             **kw)["verdict"] == CONTRADICTED
    # 2 pt less accurate on every problem: non-inferiority at 0.7 pt contradicted
    loss = _mats(base=(0.8, 100.0), hmpo=(0.78, 60.0))
    assert compression_claim(_summary_of(loss), loss, "c", "c", "synthetic_eval",
                             **kw)["values"]["verdict_accuracy"] == CONTRADICTED
    # a tolerance of 3 pt makes the same numbers reproduced (the rule is a parameter)
    assert compression_claim(_summary_of(loss), loss, "c", "c", "synthetic_eval", tol=0.03,
                             **kw)["verdict"] == REPRODUCED


def test_compression_claim_noisy_accuracy_is_inconclusive_and_says_the_mdd():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.3, 0.9, N)
    acc_h = rng.binomial(4, np.tile(p, (3, 1))) / 4
    acc_b = rng.binomial(4, p[None]) / 4
    m = _mats(base={"accuracy": acc_b, "tokens": _const(100)},
              hmpo={"accuracy": acc_h, "tokens": _const(50, 3)})
    row = compression_claim(_summary_of(m), m, "c", "c", "synthetic_eval", n_boot=500, seed=0)
    d = row["values"]["delta_accuracy"]
    assert d["ci"][0] < -0.007 < d["ci"][1]
    assert row["verdict"] == INCONCLUSIVE
    assert "accuracy" in row["mdd"] and "can detect" in row["note"]
    assert d["mdd"] == pytest.approx(2.8016 * d["se"], rel=1e-3)


def test_compression_claim_untestable_cases():
    m = _mats(base=(0.0, 100.0), hmpo=(0.0, 50.0))
    row = compression_claim(_summary_of(m), m, "c", "c", "synthetic_eval")
    assert row["verdict"] == UNTESTABLE and "accuracy on synthetic_eval is 0" in row["metric"]
    row = compression_claim(_summary_of(m), m, "t", "c", "synthetic_transfer")
    assert row["verdict"] == UNTESTABLE and "synthetic_transfer" in row["metric"]


# --------------------------------------------------------------------------- claim 2
FIXED = {"hmpo_fixed_p25": (0.6, 20.0), "hmpo_fixed_p50": (0.8, 30.0),
         "hmpo_fixed_p75": (0.9, 40.0)}


def _fixed_case(acc, tok):
    m = _mats(base=(0.85, 50.0), hmpo=(acc, tok), **FIXED)
    return median_vs_fixed_claim(_summary_of(m), m, list(FIXED), n_boot=200, seed=0)


@pytest.mark.parametrize("acc,tok,verdict,position", [
    (0.9, 30.0, REPRODUCED, "within"),     # above the frontier at its length (0.8 there)
    (0.75, 25.0, REPRODUCED, "within"),    # frontier at 25 tokens: 0.7
    (0.7, 30.0, CONTRADICTED, "within"),   # below the frontier (0.8 at 30 tokens)
    (0.6, 15.0, REPRODUCED, "left of"),    # shorter than every budget, as accurate as p25
    (0.4, 15.0, INCONCLUSIVE, "left of"),  # shorter but less accurate: a trade-off
    (0.95, 50.0, INCONCLUSIVE, "right of"),  # longer and more accurate: a trade-off
    (0.85, 50.0, CONTRADICTED, "right of"),  # p75 is shorter and more accurate: dominated
    (0.8, 30.0, INCONCLUSIVE, "within"),   # exactly on the frontier
])
def test_median_vs_fixed_frontier_rule(acc, tok, verdict, position):
    row = _fixed_case(acc, tok)
    assert row["verdict"] == verdict
    assert row["values"]["position"] == position
    assert len(row["comparisons"]) == 3 and "V" in row["mdd"]


def test_median_vs_fixed_untestable_without_fixed_budgets():
    m = _mats(base=(0.85, 50.0), hmpo=(0.9, 30.0))
    assert median_vs_fixed_claim(_summary_of(m), m, [])["verdict"] == UNTESTABLE


def test_dominance_rule():
    e = lambda est, lo, hi: Estimate(est, [lo, hi], 0.0, 0.0)  # noqa: E731
    assert dominance(e(0.0, -0.005, 0.01), e(-3, -4, -2), 0.007) == REPRODUCED
    assert dominance(e(0.0, -0.02, 0.01), e(-3, -4, -2), 0.007) == INCONCLUSIVE
    assert dominance(e(0.0, -0.01, 0.005), e(3, 2, 4), 0.007) == CONTRADICTED
    assert dominance(e(0.03, 0.02, 0.04), e(3, 2, 4), 0.007) == INCONCLUSIVE  # a trade


# --------------------------------------------------------------------------- claim 3
def test_additive_claim_three_values_and_floor():
    def verdict(h, add, ungated):
        m = _mats(base=(0.9, 50.0), hmpo=h, hmpo_add=add, hmpo_add_ungated=ungated)
        return additive_claim(_summary_of(m), m, n_boot=200, seed=0)

    assert verdict((0.9, 20.0), (0.88, 20.5), (0.8, 15.0))["verdict"] == REPRODUCED
    # better than ungated, exactly tied with (hence not better than) gated additive: mixed
    assert verdict((0.9, 20.0), (0.9, 20.5), (0.8, 15.0))["verdict"] == INCONCLUSIVE
    assert verdict((0.8, 20.0), (0.9, 20.0), (0.85, 15.0))["verdict"] == CONTRADICTED
    assert verdict((0.85, 20.0), (0.9, 20.0), (0.8, 15.0))["verdict"] == INCONCLUSIVE  # mixed
    tie = verdict((0.9, 16.0), (0.9, 16.0), (0.9, 16.0))
    assert tie["verdict"] == CONTRADICTED  # identical accuracy: not better
    assert tie["floor"] and tie["note"].startswith(FLOOR_NOTE)
    assert not verdict((0.9, 20.0), (0.9, 20.5), (0.8, 15.0))["floor"]


# --------------------------------------------------------------------------- claim 4
def _times(h, ms, key="0.19"):
    return {"hmpo": {key: dict(enumerate(h))}, "multistage": {key: dict(enumerate(ms))}}


def _t(h, ms):
    to = lambda v: {str(k): x for k, x in v.items()}  # noqa: E731
    raw = _times(h, ms)
    return {m: {k: to(v) for k, v in d.items()} for m, d in raw.items()}


@pytest.mark.parametrize("h,ms,verdict", [
    ([10, 12, 11], [20, 30, 25], REPRODUCED),     # every seed >= 1.5x
    ([10, 12, 11], [12, 13, 11], CONTRADICTED),   # every seed < 1.5x
    ([10, 12, 11], [20, 13, 25], INCONCLUSIVE),   # the seeds disagree
    ([10, 12, 11], [None, 30, 25], REPRODUCED),   # multistage never gets there: infinite
    ([None, None, None], [20, 30, 25], CONTRADICTED),  # hmpo never does: ratio 0
    ([None, None, None], [None, None, None], UNTESTABLE),
])
def test_cost_claim_rule(h, ms, verdict):
    costs = {"hmpo": {"device_seconds_per_seed": {"0": 50.0, "1": 60.0, "2": 55.0}},
             "multistage": {"device_seconds_per_seed": {"0": 100.0, "1": 90.0, "2": 110.0}}}
    row = cost_claim(costs, _t(h, ms), levels=(0.19,), reference_tokens=40.0)
    assert row["verdict"] == verdict
    assert row["values"]["end_to_end_ratio"] == pytest.approx({"0": 2.0, "1": 1.5, "2": 2.0})
    if verdict == REPRODUCED and None not in ms:
        assert row["values"]["mdd_factor"] > 1 and "factor" in row["mdd"]


def test_cost_claim_untestable_without_logs():
    assert cost_claim({}, {})["verdict"] == UNTESTABLE


# --------------------------------------------------------------------------- all claims
def test_evaluate_claims_rows_and_markdown():
    m = _mats(base=(0.8, 100.0), hmpo=(0.82, 60.0), hmpo_add=(0.8, 60.0),
              hmpo_add_ungated=(0.7, 40.0), **{"hmpo_fixed_p50": (0.8, 70.0)})
    m.update(_mats("synthetic_transfer", base=(0.5, 150.0), hmpo=(0.5, 140.0),
                   hmpo_add=(0.5, 140.0), hmpo_add_ungated=(0.5, 140.0),
                   hmpo_fixed_p50=(0.5, 140.0)))
    s = _summary_of(m, sets=SETS)
    times = _t([10, 10, 10], [30, 30, 30])
    claims = evaluate_claims(s, {}, m, fixed=["hmpo_fixed_p50"], times=times, n_boot=200,
                             budgets={"hmpo_fixed_p50": 33.0})
    v = {c["id"]: c["verdict"] for c in claims}
    assert v == {"compression": REPRODUCED, "median_vs_fixed": REPRODUCED,
                 "multiplicative_vs_additive": REPRODUCED, "single_stage_cheaper": REPRODUCED,
                 "length_generalisation": CONTRADICTED}  # only 6.7% shorter on transfer
    md = claims_markdown(claims, s)
    assert "cross-domain transfer" in md and "untestable" in md and "0.7 pt" in md
    assert "Smallest detectable" in md and "(T = 33)" in md
    assert md.count("## ") == 2  # per-comparison tables of claims 2 and 3
    assert "RL steps per training run" not in md  # the summary does not record them
    assert ", 240 RL steps per training run," in claims_markdown(claims, {**s, "train_steps": 240})
    # the 80 -> 240 step history is the default profile's; another profile's claims.md
    # (smoke, the GPU profiles) does not tell it as its own
    assert "used 80 RL steps per run" in claims_markdown(claims, {**s, "profile": "default"})
    assert "80 RL steps" not in claims_markdown(claims, {**s, "profile": "smoke"})
    assert "nothing is tuned to the outcome. Every comparison" in claims_markdown(
        claims, {**s, "profile": "smoke"})
    json.dumps(claims, allow_nan=False)  # serialisable, no NaN/inf

"""hmpo.analysis.claims: each paper-claim rule's verdicts (reproduced / contradicted /
inconclusive / untestable here) on hand-made per-problem matrices, the claims table, and the
record of changes made after seeing results (docs/disclosures.yaml)."""

import copy
import json

import numpy as np
import pytest
import yaml
from report_matrices import N
from report_matrices import const as _const
from report_matrices import mats as _mats
from report_matrices import summary_of as _summary_of

from hmpo.analysis.claims import (
    CLAIM_IDS,
    DISCLOSURES_PATH,
    FLOOR_NOTE,
    UNTESTABLE,
    additive_claim,
    claims_markdown,
    compression_claim,
    cost_claim,
    disclosures_markdown,
    dominance,
    evaluate_claims,
    median_vs_fixed_claim,
    validate_disclosures,
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
    md = claims_markdown(claims, s, [])
    assert "cross-domain transfer" in md and "untestable" in md and "0.7 pt" in md
    assert "Smallest detectable" in md and "(T = 33)" in md
    # the record's section, the verdicts, the per-comparison tables of claims 2 and 3
    assert md.count("\n## ") == 4 and "\n## Verdicts\n\n| Claim |" in md
    assert "RL steps per training run" not in md  # the summary does not record them
    assert ", 240 RL steps per training run," in claims_markdown(
        claims, {**s, "train_steps": 240}, [])
    # the rules' module is named where it lives
    assert "`hmpo.analysis.claims.evaluate_claims`" in md and "hmpo.report" not in md
    # no history is written into the code: the record's entries of the profile, or none
    assert "80 RL steps" not in claims_markdown(claims, {**s, "profile": "default"}, [])
    assert "None recorded for profile `default`" in claims_markdown(
        claims, {**s, "profile": "default"}, [])
    record = validate_disclosures(_record())
    md = claims_markdown(claims, {**s, "profile": "default"}, record)
    assert "`train.max_steps`: 80 -> 240 (commit 9f92387)" in md
    assert md.index("## Changes made after seeing results") < md.index("## Verdicts")
    assert "None recorded for profile `smoke`" in claims_markdown(
        claims, {**s, "profile": "smoke"}, record)
    json.dumps(claims, allow_nan=False)  # serialisable, no NaN/inf


# --------------------------------------------------------------------------- the record
def _record():
    """The repository's record of changes made after seeing results, as parsed YAML."""
    from pathlib import Path

    return yaml.safe_load((Path(__file__).resolve().parent.parent / DISCLOSURES_PATH)
                          .read_text(encoding="utf-8"))


def test_claim_ids_are_the_rows_evaluate_claims_writes():
    m = _mats(base=(0.8, 100.0), hmpo=(0.82, 60.0))
    claims = evaluate_claims(_summary_of(m), {}, m, n_boot=50)
    assert tuple(c["id"] for c in claims) == CLAIM_IDS


def test_the_record_holds_the_horizon_change():
    (entry,) = validate_disclosures(_record())
    assert (entry["key"], entry["from"], entry["to"]) == ("train.max_steps", 80, 240)
    assert entry["commit"] == "9f92387" and entry["profiles"] == ["default"]
    (flip,) = entry["verdicts_flipped"]
    assert flip["claim"] == "compression"
    assert (flip["before"]["verdict"], flip["after"]["verdict"]) == (INCONCLUSIVE, REPRODUCED)
    assert "+1.9 pt [-8.9, +15.2]" in flip["before"]["value"]
    assert flip["before"]["results"] == "9f97e38"


def test_disclosures_markdown_lists_the_profiles_entries():
    record = validate_disclosures(_record())
    md = disclosures_markdown(record, "default")
    assert md.startswith("## Changes made after seeing results\n")
    assert "`train.max_steps`: 80 -> 240 (commit 9f92387)." in md
    assert ("`compression`: inconclusive (results 9f97e38: acc(hmpo) - acc(base) +1.9 pt "
            "[-8.9, +15.2]" in md and ") -> reproduced (results 67691c5: " in md)
    assert "curves have flattened" in md  # the why
    for profile in ("smoke", "smollm2", "qwen3.5-9b-lora"):
        md = disclosures_markdown(record, profile)
        assert f"None recorded for profile `{profile}`" in md and "max_steps" not in md
    # an entry that flipped nothing says so
    quiet = [{**record[0], "verdicts_flipped": []}]
    assert "Verdicts flipped: none." in disclosures_markdown(quiet, "default")


def _set(raw, path, value):
    node = raw
    for p in path[:-1]:
        node = node[p]
    if value is _DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return raw


_DROP = object()
_E = ("changes", 0)
_F = ("changes", 0, "verdicts_flipped", 0)
# Each case: (where in the record, the bad value, what the message must name). Comment: why.
MALFORMED = [
    (("changes",), {"key": "x"}, "changes: expected a list"),  # not a list of entries
    (_E, "train.max_steps 80 -> 240", "changes[0]: expected a mapping"),  # prose, not an entry
    ((*_E, "why"), _DROP, "changes[0]: missing why"),  # no reason given
    ((*_E, "reason"), "x", "changes[0]: unknown reason"),  # a typo'd field is not ignored
    ((*_E, "key"), "max steps", "changes[0].key"),  # not a dotted params key
    ((*_E, "to"), 80, "changes[0]: from and to are both 80"),  # nothing changed
    ((*_E, "commit"), 9192387, "changes[0].commit"),  # an unquoted all-digit commit
    ((*_E, "commit"), "HEAD", "changes[0].commit"),  # not a commit id
    ((*_E, "why"), " ", "changes[0].why"),  # an empty reason
    ((*_E, "profiles"), [], "changes[0].profiles"),  # applies to no profile
    ((*_E, "profiles"), ["cpu"], "changes[0].profiles"),  # an unknown profile
    ((*_E, "profiles"), "default", "changes[0].profiles"),  # a string, not a list
    ((*_E, "verdicts_flipped"), None, "changes[0].verdicts_flipped"),  # [] says "none"
    ((*_F, "claim"), "claim 1", "changes[0].verdicts_flipped[0].claim"),  # not a claim id
    ((*_F, "before", "verdict"), "flaky", "verdicts_flipped[0].before.verdict"),
    ((*_F, "after", "verdict"), "inconclusive", "did not flip"),  # before == after
    ((*_F, "after", "value"), "", "verdicts_flipped[0].after.value"),  # no number
    ((*_F, "before", "results"), _DROP, "verdicts_flipped[0].before: missing results"),
]


@pytest.mark.parametrize("path,value,names", MALFORMED, ids=[m[2] for m in MALFORMED])
def test_a_malformed_record_fails_naming_the_entry_and_field(path, value, names):
    raw = _set(copy.deepcopy(_record()), path, value)
    with pytest.raises(ValueError, match="^record.yaml: ") as e:
        validate_disclosures(raw, "record.yaml")
    assert names in str(e.value), str(e.value)


def test_an_empty_record_is_valid_and_a_claim_listed_twice_is_not():
    assert validate_disclosures({"changes": []}) == []
    with pytest.raises(ValueError, match="changes: expected a list"):
        validate_disclosures({"changes": None})
    with pytest.raises(ValueError, match="missing changes"):
        validate_disclosures({})
    raw = copy.deepcopy(_record())
    flips = raw["changes"][0]["verdicts_flipped"]
    flips.append(copy.deepcopy(flips[0]))
    with pytest.raises(ValueError, match=r"verdicts_flipped\[1\].claim: 'compression' is listed"):
        validate_disclosures(raw)

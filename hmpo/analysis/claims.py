"""The paper-claim rules: one reproduced / contradicted / inconclusive / untestable verdict per
claim of the HMPO paper, computed from the results the report collected, with the outcome
behind it, its qualifiers (underpowered, above the paper's range, extrapolated) and the numbers
it rests on.

One function per rule (:func:`compression_claim`, :func:`median_vs_fixed_claim`,
:func:`additive_claim`, :func:`cost_claim`) and :func:`evaluate_claims`, which applies them
all. Each rule's decision is a small pure function of the estimates (:func:`dominance`,
:func:`frontier_verdict`, :func:`additive_outcome`, :func:`cost_verdict`), so that every
outcome can be checked with known answers (tests/test_claims.py) and the rules can be
re-applied to the numbers of committed results. :func:`claims_markdown` renders the rows with
:data:`CLAIMS_PREAMBLE` and the record of changes made after seeing results
(``docs/disclosures.yaml``, checked by :func:`validate_disclosures`, rendered by
:func:`disclosures_markdown`). The tolerances (the constants below) are the paper's numbers;
the rules were first fixed before the three-seed results existed (issue 11) and were revised
once they had been seen (so that every rule can come out against the paper in every geometry):
those revisions are entries of the record (``kind: rule``), with the verdicts they flipped.
Statistics are :mod:`hmpo.analysis.stats` (paired hierarchical bootstrap over problems and
training seeds).

Called by :func:`hmpo.analysis.report.write_report` (stage ``figures``), which gathers the
inputs (summary, costs, per-problem matrices, times to compression, the record) and writes
``results/claims.{md,json}``; this module never reads files and never imports
hmpo.analysis.report::

    from hmpo.analysis.claims import claims_markdown, evaluate_claims
    claims = evaluate_claims(summary, costs, matrices, fixed=[...], times=times)
    text = claims_markdown(claims, summary, disclosures)  # report.load_disclosures()
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hmpo.analysis import stats
from hmpo.analysis.stats import CONTRADICTED, INCONCLUSIVE, REPRODUCED, round_floats
from hmpo.config import PROFILE_NAMES
from hmpo.paths import BASE

# The compared models and sets (hmpo.analysis.report uses the same names; BASE is hmpo.paths').
REFERENCE = "hmpo"  # the method every other model is compared with
MULTISTAGE = "multistage"  # the multi-stage pipeline of the cost claim
TRANSFER_SET = "synthetic_transfer"
N_BOOT = 2000  # bootstrap replicates of every interval in the report

# The rules' tolerances: the paper's numbers (none is chosen from this project's results).
NEGLIGIBLE_LOSS = 0.007  # "at most 0.7 percentage points" of accuracy
MIN_COMPRESSION = 0.19  # "shortens ... by 19%-46%": the low end
MAX_COMPRESSION = 0.46  # ... and the high end (a value above it is flagged, not rejected)
MIN_COST_RATIO = 1.5  # "1.5x-2.5x fewer GPU hours than multi-stage pipelines": the low end
MAX_COST_RATIO = 2.5  # ... and the high end (flagged, not rejected)
#: The length margin of the paired equivalence tests (the floor flag, the cost claim's matched
#: final length): 1 point of compression, i.e. 1% of the base model's mean length on the set.
#: The paper states compression in whole percents ("19%-46%"): a smaller length difference is
#: below the resolution of its own numbers.
LENGTH_TOL = 0.01
#: The power below which a row is qualified "underpowered": the power, at no true difference,
#: of the test the rule applies at its margin (80%, the convention of the MDD).
MIN_POWER = 0.80
ADDITIVE = ("hmpo_add", "hmpo_add_ungated")
#: Compressions at which the cost claim times the runs (reported next to its end-to-end ratio).
COST_COMPRESSIONS = (0.19, 0.30)
SMOOTH_STEPS = 10  # trailing window (rollout steps) of the smoothed training length

UNTESTABLE = "untestable here"
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE, UNTESTABLE)
#: The claims' ids, in :func:`evaluate_claims`' order (results/claims.json "id").
CLAIM_IDS = ("compression", "median_vs_fixed", "multiplicative_vs_additive",
             "single_stage_cheaper", "length_generalisation")
#: Qualifiers a verdict can carry (a row's "qualifiers").
UNDERPOWERED = "underpowered"
ABOVE_RANGE = "above the paper's range"
ESTIMATE_ABOVE_RANGE = "estimate above the paper's range"
EXTRAPOLATED = "extrapolated"
#: Outcomes of one pairwise comparison hmpo vs a fixed-budget run (:func:`dominance`).
DOMINATES, DOMINATED, TRADE_OFF, UNRESOLVED = "dominates", "dominated", "trade-off", "unresolved"
#: Outcomes of one hmpo vs additive comparison (:func:`additive_outcome`).
ADVANTAGE, DISADVANTAGE, NO_ADVANTAGE = "advantage", "disadvantage", "no advantage"
#: Why an accuracy claim is untestable when the base model solves nothing: no group has a
#: correct rollout, so no length reward acts and there is no accuracy to preserve.
NO_SIGNAL = "the base model's accuracy on {s} is 0: no correct rollout, nothing to compare"
FLOOR_NOTE = ("every compared model is equivalent to hmpo by a paired equivalence test "
              "(accuracy within the {tol:.1f}-pt margin, length within 1% of the base model's): "
              "a common floor")


def _pt(x: float) -> str:
    return f"{100 * x:+.1f}"


def _ci_pt(e: stats.Estimate) -> str:
    return f"{_pt(e.estimate)} pt [{_pt(e.ci[0])}, {_pt(e.ci[1])}]"


def _ci_tok(e: stats.Estimate) -> str:
    return f"{e.estimate:+.1f} [{e.ci[0]:+.1f}, {e.ci[1]:+.1f}]"


def _ci_pct(e: stats.Estimate) -> str:
    return f"{100 * e.estimate:.1f}% [{100 * e.ci[0]:.1f}, {100 * e.ci[1]:.1f}]"


def _est(e: stats.Estimate) -> dict[str, Any]:
    return e.as_dict()


def _as_est(d: Mapping[str, Any]) -> stats.Estimate:
    """An :class:`hmpo.analysis.stats.Estimate` from its dict, how it was made included."""
    keep = ("method", "df", "seed_share", "seeds_needed")
    return stats.Estimate(d["estimate"], list(d["ci"]), d["se"], d["mdd"],
                          **{k: d[k] for k in keep if k in d})


def _r(e: stats.Estimate) -> stats.Estimate:
    """``e`` rounded to the 6 decimals claims.json keeps: every text then agrees with it."""
    return _as_est(round_floats(e.as_dict(), 6))


def _evidence(what: str, e: stats.Estimate, unit: str, test: str, outcome: str, *,
              margin: float | None = None, power: float | None = None) -> dict[str, Any]:
    """One number a verdict rests on: ``what`` (in words), its estimate, 95% interval, SE and
    MDD, ``unit`` (pt: an accuracy difference; %: a compression; tokens; x: a ratio), the
    ``test`` applied (in words, with the margin), the ``outcome``, the ``margin`` (in the
    estimate's own scale) and the test's ``power`` at no true difference."""
    return {"what": what, "unit": unit, **_est(e), "test": test, "outcome": outcome,
            "margin": margin, "power": power}


def _row(cid: str, claim: str, rule: str, verdict: str, metric: str, values: dict,
         *, mdd: str = "–", floor: bool = False, note: str = "", outcome: str = "",
         qualifiers: Sequence[str] = (), evidence: Sequence[Mapping[str, Any]] = (),
         comparisons: Sequence[Mapping[str, Any]] = (), tol: float = NEGLIGIBLE_LOSS
         ) -> dict[str, Any]:
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}")
    if floor:
        note = f"{FLOOR_NOTE.format(tol=100 * tol)}. {note}".strip()
    # 6 decimals: finer than any displayed digit, so the table and the metric text agree
    return {"id": cid, "claim": claim, "rule": rule, "verdict": verdict,
            "qualifiers": list(dict.fromkeys(qualifiers)), "outcome": outcome,
            "metric": metric, "evidence": round_floats(list(evidence), 6),
            "values": round_floats(values, 6), "mdd": mdd, "floor": bool(floor), "note": note,
            "comparisons": round_floats(list(comparisons), 6)}


def _stack(model_mats: Mapping[str, np.ndarray]) -> np.ndarray:
    """A model's accuracy and tokens as one ``(2, seeds, problems)`` array: the bootstrap then
    draws the same seeds for both (bootstrap columns: accuracy, tokens)."""
    return np.stack([model_mats["accuracy"], model_mats["tokens"]])


def _groups(mats: Mapping[str, Any], *names: str) -> list[Any]:
    """The models' base-seed labels per run (:func:`hmpo.analysis.report.problem_matrices`'
    ``groups``; None when absent): runs of one base seed are paired across models, and the
    intervals include the base models' variability (:func:`hmpo.analysis.stats.seed_t_interval`)."""
    return [mats[n].get("groups") for n in names]


def _base_unsolved(summary: Mapping[str, Any], s: str) -> bool:
    b = summary["methods"].get(BASE, {}).get("sets", {}).get(s)
    return b is not None and b["accuracy"] == 0


def _untestable(summary: Mapping[str, Any], s: str, missing: str | None) -> str | None:
    """Why a paired accuracy claim on set `s` cannot be tested (None: it can): `missing`
    names absent inputs; a base model that solves nothing on `s` gives no signal."""
    if missing is not None:
        return missing
    return NO_SIGNAL.format(s=s) if _base_unsolved(summary, s) else None


def length_margin(summary: Mapping[str, Any] | None, mats: Mapping[str, Any] | None,
                  s: str) -> float:
    """The token margin of the length equivalence tests on set ``s``: :data:`LENGTH_TOL` x the
    base model's mean tokens (from the matrices, else the summary; hmpo's without a base;
    0.0 without either)."""
    for source in ((mats or {}).get(BASE), (mats or {}).get(REFERENCE)):
        if source is not None:
            return LENGTH_TOL * float(np.mean(source["tokens"]))
    b = (summary or {}).get("methods", {}).get(BASE, {}).get("sets", {}).get(s)
    return LENGTH_TOL * float(b["mean_tokens"]) if b else 0.0


def _pair_row(mats: Mapping[str, Any], a: str, b: str, *, n_boot: int, seed: int
              ) -> tuple[stats.Estimate, stats.Estimate]:
    ga, gb = _groups(mats, a, b)
    return tuple(_r(stats.paired_difference(mats[a][k], mats[b][k], n_boot=n_boot, seed=seed,
                                            groups_a=ga, groups_b=gb))
                 for k in ("accuracy", "tokens"))


def _equivalence(da: stats.Estimate, dt: stats.Estimate, tol: float, tok_margin: float
                 ) -> dict[str, Any]:
    """The paired equivalence tests (TOST) of one comparison: accuracy within ``tol``,
    tokens within ``tok_margin``."""
    return {"accuracy": stats.equivalence(da.ci, tol),
            "tokens": stats.equivalence(dt.ci, tok_margin), "accuracy_margin": tol,
            "tokens_margin": tok_margin}


def _both_equivalent(eq: Mapping[str, Any]) -> bool:
    """An :func:`_equivalence` result equivalent in accuracy and in tokens."""
    return eq["accuracy"] == eq["tokens"] == stats.EQUIVALENT


def floor_flag(da: stats.Estimate, dt: stats.Estimate, tol: float, tok_margin: float) -> bool:
    """The floor flag of one comparison: equivalent in accuracy (within ``tol``) and in tokens
    (within ``tok_margin``), paired TOST (:func:`_equivalence`)."""
    return _both_equivalent(_equivalence(da, dt, tol, tok_margin))


def _floor(rows: Sequence[Mapping[str, Any]]) -> bool:
    """The floor flag of a claim row: every comparison equivalent in accuracy and in tokens
    (paired TOST)."""
    return bool(rows) and all(_both_equivalent(r["equivalence"]) for r in rows)


def _power_words(power: float) -> str:
    return f"{100 * power:.0f}%"


# ----------------------------------------------------------------------------- rule 1 / 5
def range_qualifier(e: stats.Estimate, high: float) -> str | None:
    """"above the paper's range" when the whole interval lies above the paper's upper end
    ``high``; "estimate above the paper's range" when only the estimate does; else None."""
    if e.ci[0] > high:
        return ABOVE_RANGE
    if e.estimate > high:
        return ESTIMATE_ABOVE_RANGE
    return None


def compression_verdict(comp: stats.Estimate, dacc: stats.Estimate, *,
                        tol: float = NEGLIGIBLE_LOSS, min_compression: float = MIN_COMPRESSION,
                        max_compression: float = MAX_COMPRESSION) -> dict[str, Any]:
    """Rule 1's decision from ``comp`` (compression of hmpo against the base) and ``dacc``
    (paired ``acc(hmpo) - acc(base)``).

    * compression: reproduced if its 95% CI lies >= ``min_compression`` (19%), contradicted if
      wholly below, else inconclusive (:func:`hmpo.analysis.stats.verdict_at_least`);
    * accuracy, non-inferiority at ``tol`` (0.7 pt): reproduced if the CI's low end is
      >= -tol, contradicted if the whole CI is < -tol, else inconclusive;
    * the claim: both reproduced -> reproduced; either contradicted -> contradicted; else
      inconclusive (:func:`hmpo.analysis.stats.verdict_all`).

    Qualifiers, whatever the verdict: "underpowered" when the non-inferiority test has under
    80% power at no true difference (equivalently: its MDD, 2.80 x SE, exceeds the margin),
    and "above the paper's range" ("estimate above ...") when the compression's CI (estimate)
    exceeds ``max_compression`` (46%). Returns ``{"verdict", "verdict_compression",
    "verdict_accuracy", "qualifiers", "power", "outcome"}``.
    """
    v_comp = stats.verdict_at_least(comp.ci, min_compression)
    v_acc = stats.verdict_at_least(dacc.ci, -tol)
    power = stats.noninferiority_power(tol, dacc.se)
    qualifiers = [UNDERPOWERED] if power < MIN_POWER else []
    if q := range_qualifier(comp, max_compression):
        qualifiers.append(q)
    words = {REPRODUCED: "shown", CONTRADICTED: "refuted", INCONCLUSIVE: "not resolved"}
    outcome = (f"compression >= {min_compression:.0%} {words[v_comp]}; accuracy loss <= "
               f"{100 * tol:.1f} pt {words[v_acc]}")
    return {"verdict": stats.verdict_all([v_comp, v_acc]), "verdict_compression": v_comp,
            "verdict_accuracy": v_acc, "qualifiers": qualifiers, "power": power,
            "outcome": outcome}


def compression_claim(summary: Mapping[str, Any], matrices: Mapping[str, Any], cid: str,
                      claim: str, s: str, *, tol: float = NEGLIGIBLE_LOSS,
                      min_compression: float = MIN_COMPRESSION, n_boot: int = N_BOOT,
                      seed: int = 0) -> dict[str, Any]:
    """Rule 1 (and 5 on the transfer set): compression and non-inferior accuracy, paired.

    ``compression = 1 - tokens(hmpo) / tokens(base)`` and ``d = acc(hmpo) - acc(base)``, both
    from the same bootstrap replicates (problems paired, hmpo's seeds resampled); the decision
    is :func:`compression_verdict`. The floor flag: hmpo and base equivalent in accuracy and
    length (paired TOST, :func:`hmpo.analysis.stats.equivalence`).
    """
    rule = (f"on {s}: compression(hmpo) = 1 - tokens(hmpo)/tokens(base) and paired "
            f"d = acc(hmpo) - acc(base); compression: 95% CI >= {min_compression:.0%} "
            f"reproduced / wholly < {min_compression:.0%} contradicted; accuracy "
            f"(non-inferiority at {100 * tol:.1f} pt): CI low >= -{100 * tol:.1f} pt reproduced / "
            f"CI wholly < -{100 * tol:.1f} pt contradicted; both reproduced -> reproduced, "
            "either contradicted -> contradicted, else inconclusive; qualified underpowered "
            "when the non-inferiority test's power at no true difference is < 80% (MDD > "
            f"margin), above the paper's range when compression exceeds {MAX_COMPRESSION:.0%}")
    mats = matrices.get(s)
    missing = (f"set {s!r} not evaluated" if mats is None else
               "base or hmpo missing" if BASE not in mats or REFERENCE not in mats else None)
    if why := _untestable(summary, s, missing):
        return _row(cid, claim, rule, UNTESTABLE, why, {}, outcome=why)
    h, b = mats[REFERENCE], mats[BASE]
    tb = float(b["tokens"].mean())
    if tb == 0:
        why = "the base model's responses are empty"
        return _row(cid, claim, rule, UNTESTABLE, why, {}, outcome=why)
    # seed-t intervals (delta method for the ratio): columns acc(h), tok(h), acc(b), tok(b)
    pair, g = [_stack(h), _stack(b)], _groups(mats, REFERENCE, BASE)
    comp = _r(stats.seed_t_estimate(pair, lambda m: 1.0 - m[:, 1] / m[:, 3], groups=g))
    dacc = _r(stats.seed_t_estimate(pair, lambda m: m[:, 0] - m[:, 2], groups=g))
    dtok = _r(stats.seed_t_estimate(pair, lambda m: m[:, 1] - m[:, 3], groups=g))
    d = compression_verdict(comp, dacc, tol=tol, min_compression=min_compression)
    v_comp, v_acc = d["verdict_compression"], d["verdict_accuracy"]
    metric = (f"compression {_ci_pct(comp)} ({v_comp}); acc(hmpo) - acc(base) {_ci_pt(dacc)} "
              f"({v_acc}); tokens {tb:.1f} -> {float(h['tokens'].mean()):.1f}")
    mdd = (f"accuracy {100 * dacc.mdd:.1f} pt; compression {100 * comp.mdd:.1f} pt")
    note = ""
    if UNDERPOWERED in d["qualifiers"]:
        note = (f"underpowered: the accuracy margin ({100 * tol:.1f} pt) is below the smallest "
                f"detectable difference ({100 * dacc.mdd:.1f} pt); with no true difference the "
                f"non-inferiority test succeeds with probability {_power_words(d['power'])}, so "
                "it is passed only when hmpo is clearly more accurate than the base")
    evidence = [
        _evidence("compression of hmpo against the base model", comp, "%",
                  f">= {min_compression:.0%} (the paper's range {min_compression:.0%}-"
                  f"{MAX_COMPRESSION:.0%})", v_comp, margin=min_compression),
        _evidence("acc(hmpo) - acc(base)", dacc, "pt",
                  f"non-inferiority: >= -{100 * tol:.1f} pt", v_acc, margin=-tol,
                  power=d["power"]),
    ]
    eq = _equivalence(dacc, dtok, tol, LENGTH_TOL * tb)
    floor = _both_equivalent(eq)
    return _row(cid, claim, rule, d["verdict"], metric,
                {"compression": _est(comp), "delta_accuracy": _est(dacc),
                 "delta_tokens": _est(dtok), "verdict_compression": v_comp,
                 "verdict_accuracy": v_acc, "power_accuracy": d["power"], "equivalence": eq},
                mdd=mdd, floor=floor, note=note, outcome=d["outcome"],
                qualifiers=d["qualifiers"], evidence=evidence, tol=tol)


# ----------------------------------------------------------------------------- rule 2
def near_length(length_ratio: stats.Estimate | None,
                min_compression: float = MIN_COMPRESSION) -> bool:
    """Whether two lengths differ by less than the paper's smallest compression, in either
    direction: the 95% CI of ``tokens(A) / tokens(B)`` lies inside
    ``(1 - min_compression, 1 / (1 - min_compression))`` = (0.81, 1.235): neither model is
    shorter than the other by the 19% the paper calls a compression."""
    if length_ratio is None:
        return False
    lo, hi = 1.0 - min_compression, 1.0 / (1.0 - min_compression)
    return lo < length_ratio.ci[0] and length_ratio.ci[1] < hi


def dominance(dacc: stats.Estimate, dtok: stats.Estimate, tol: float = NEGLIGIBLE_LOSS, *,
              length_ratio: stats.Estimate | None = None,
              min_compression: float = MIN_COMPRESSION) -> str:
    """How model A (hmpo) stands against model B on the accuracy-length plane, from the paired
    ``dacc = acc(A) - acc(B)``, ``dtok = tokens(A) - tokens(B)`` and (optional) the length
    ratio ``tokens(A) / tokens(B)``, all with 95% intervals. Four outcomes, exclusive:

    * dominates: A shorter (dtok CI wholly < 0) and non-inferior (dacc CI low >= -tol); or the
      lengths within the paper's smallest compression (:func:`near_length`) and A more
      accurate by more than the margin (dacc CI wholly > +tol);
    * dominated: B shorter (dtok CI wholly > 0) and B non-inferior (dacc CI high <= +tol); or
      the lengths within the paper's smallest compression and B more accurate by more than
      the margin (dacc CI wholly < -tol);
    * trade-off: A shorter and less accurate by more than the margin, or longer and more
      accurate by more than it (and the lengths apart by at least the paper's compression);
    * unresolved: anything else (the intervals straddle a bound).

    The near-length clauses use the paper's own yardstick (claim 1): compressing by less
    than 19% while losing more than 0.7 pt is not a compression the paper would call one, so
    the shorter model is worse, not a trade. Without ``length_ratio`` only the strict clauses
    (Pareto dominance with the accuracy margin) apply.

    >>> e = lambda lo, hi: stats.Estimate((lo + hi) / 2, [lo, hi], 0.0, 0.0)
    >>> dominance(e(-0.48, -0.48), e(-1.0, -1.0), length_ratio=e(0.95, 0.95))
    'dominated'
    >>> dominance(e(-0.2, -0.2), e(-10, -10), length_ratio=e(0.5, 0.5))
    'trade-off'
    """
    near = near_length(length_ratio, min_compression)
    lo_a, hi_a = dacc.ci
    lo_t, hi_t = dtok.ci
    if (hi_t < 0 and lo_a >= -tol) or (near and lo_a > tol):
        return DOMINATES
    if (lo_t > 0 and hi_a <= tol) or (near and hi_a < -tol):
        return DOMINATED
    if (hi_t < 0 and hi_a < -tol) or (lo_t > 0 and lo_a > tol):
        return TRADE_OFF
    return UNRESOLVED


def frontier_verdict(position: str, gap: stats.Estimate | None, outcomes: Mapping[str, str],
                     nearest: str | None, tol: float = NEGLIGIBLE_LOSS) -> tuple[str, str]:
    """Rule 2's decision: ``(verdict, outcome in words)``.

    ``position``: where hmpo's mean length lies against the fixed-budget runs' ("within" their
    span, "left of" it: shorter than every run, "right of" it); ``gap``: V = acc(hmpo) -
    F(tokens(hmpo)), F the piecewise-linear frontier through the runs; ``outcomes``: per fixed
    run, :func:`dominance` of hmpo against it (strict clauses only, except for the nearest run
    outside the span, which gets the near-length clauses too); ``nearest``: the run at the
    span's end next to hmpo (outside the span).

    * within the span (F interpolates): evidence for if V's CI is wholly > 0 and not within
      the margin; against if V's CI is wholly < 0, or within ``[-tol, tol]`` (on the frontier:
      no advantage, :func:`hmpo.analysis.stats.direction`);
    * outside the span F is a flat extrapolation, so V is not used; hmpo is judged against the
      nearest run: evidence for if hmpo dominates it; against if it dominates hmpo; a
      trade-off or an unresolved comparison is no evidence (the grid does not bracket hmpo's
      length: qualifier "extrapolated");
    * in every position, a run that dominates hmpo is evidence against.

    reproduced: for and not against; contradicted: against and not for; else inconclusive.
    The paper's near-length yardstick replaces the frontier only outside the span and only
    against the nearest run: within the span the interpolated frontier is the family's own
    exchange rate of accuracy for length, and a run farther away is compared through the runs
    between (a yardstick that disagrees with the frontier would turn every steep stretch of it
    into "dominated").
    """
    dominated_by = [f for f, o in outcomes.items() if o == DOMINATED]
    against, words = bool(dominated_by), []
    if position == "within":
        if gap is None:
            raise ValueError("within the span the rule needs V (gap)")
        d = stats.direction(gap.ci, tol)
        evidence_for = d == stats.HIGHER
        if d == stats.LOWER:
            against = True
            words.append("hmpo below the fixed-budget frontier")
        elif d == stats.EQUIVALENT:
            against = True
            words.append(f"hmpo on the frontier within {100 * tol:.1f} pt: no advantage")
        elif evidence_for:
            words.append("hmpo above the fixed-budget frontier")
        else:
            words.append("V not resolved")
    else:
        if nearest is None or nearest not in outcomes:
            raise ValueError(f"hmpo {position} the span: the rule needs the nearest run")
        o = outcomes[nearest]
        evidence_for = o == DOMINATES
        words.append(f"hmpo {position} every fixed-budget run (extrapolated); against the "
                     f"nearest, {nearest}: " + {DOMINATES: "hmpo dominates it",
                                                DOMINATED: "it dominates hmpo",
                                                TRADE_OFF: "a trade-off",
                                                UNRESOLVED: "unresolved"}[o])
    named = [f for f in dominated_by if position == "within" or f != nearest]
    if named:
        words.append(", ".join(named) + (" dominates" if len(named) == 1 else " dominate")
                     + " hmpo")
    verdict = (REPRODUCED if evidence_for and not against else
               CONTRADICTED if against and not evidence_for else INCONCLUSIVE)
    return verdict, "; ".join(words)


def median_vs_fixed_claim(summary: Mapping[str, Any], matrices: Mapping[str, Any],
                          fixed: Sequence[str], *, tol: float = NEGLIGIBLE_LOSS,
                          n_boot: int = N_BOOT, seed: int = 0,
                          budgets: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Rule 2: HMPO against the fixed-budget runs on the accuracy-length plane.

    Inputs, on the main set: hmpo's and every fixed-budget run's (tokens, accuracy) from one
    joint bootstrap (problems paired across all models, each model's seeds resampled), which
    gives V = acc(hmpo) - F(tokens(hmpo)) (:func:`hmpo.analysis.stats.frontier_gap`) and each
    run's length ratio tokens(hmpo) / tokens(run); per run the paired differences
    (:func:`hmpo.analysis.stats.paired_difference`) and :func:`dominance` (its near-length
    clauses for the nearest run outside the span only). Margins: the paper's 0.7 pt of
    accuracy and 19% of length. The decision is :func:`frontier_verdict`: within the runs'
    span V decides (above: for; below or on the frontier: against); outside it the nearest
    run does (qualifier "extrapolated"); any run that dominates hmpo is against. Qualified
    "underpowered" when the test the verdict reads (V's equivalence within the span, the
    non-inferiority against the nearest run outside it) has under 80% power at no true
    difference.
    """
    main = summary["main_set"]
    claim = "The median-of-correct budget beats a fixed token budget (the fixed-budget frontier)"
    rule = (f"on {main}: per fixed-budget run f, hmpo dominates f (shorter and non-inferior "
            f"at {100 * tol:.1f} pt) / is dominated by f (the mirror image) / a trade-off / "
            "unresolved, from paired 95% CIs; within the runs' span V = acc(hmpo) - "
            "F(tokens(hmpo)) (F piecewise linear through the runs) decides: CI wholly > 0 for, "
            f"CI wholly < 0 or within +-{100 * tol:.1f} pt against; outside the span V is a "
            "flat extrapolation and hmpo is judged against the nearest run, where lengths "
            f"within {MIN_COMPRESSION:.0%} of each other and an accuracy gap beyond "
            f"{100 * tol:.1f} pt also count as dominance (dominates: for; dominated: against; "
            "else no evidence, extrapolated); a run dominating hmpo is always against; "
            "reproduced if for and not against, contradicted if against and not for, else "
            "inconclusive")
    mats = matrices.get(main)
    present = [f for f in fixed if mats is not None and f in mats]
    missing = ("hmpo or every fixed-budget method (reward hmpo_fixed) missing"
               if mats is None or REFERENCE not in mats or not present else None)
    if why := _untestable(summary, main, missing):
        return _row("median_vs_fixed", claim, rule, UNTESTABLE, why, {}, outcome=why)
    h = mats[REFERENCE]
    tok = {f: float(mats[f]["tokens"].mean()) for f in present}
    t_h, a_h = float(h["tokens"].mean()), float(h["accuracy"].mean())
    # V's seed-t interval (delta method; columns acc(h), tok(h), then acc, tok of each run)
    gap = _r(stats.seed_t_estimate(
        [_stack(h), *(_stack(mats[f]) for f in present)],
        lambda m: stats.frontier_gap(m[:, 0], m[:, 1], m[:, 2::2], m[:, 3::2]),
        groups=_groups(mats, REFERENCE, *present)))
    tok_margin = length_margin(summary, mats, main)
    t_lo, t_hi = min(tok.values()), max(tok.values())
    where = ("left of" if t_h < t_lo else "right of" if t_h > t_hi else "within")
    nearest = (min(tok, key=tok.get) if where == "left of" else
               max(tok, key=tok.get) if where == "right of" else None)
    rows, outcomes = [], {}
    for f in present:
        da, dt = _pair_row(mats, REFERENCE, f, n_boot=n_boot, seed=seed)
        ratio = None
        if tok[f] > 0:  # tokens(hmpo) / tokens(f), seed-t by the delta method
            ratio = _r(stats.seed_t_estimate([_stack(h), _stack(mats[f])],
                                             lambda m: m[:, 1] / m[:, 3],
                                             groups=_groups(mats, REFERENCE, f)))
        # the paper's yardstick (near lengths) stands in for the frontier only where the
        # frontier is unknown and no run lies between: against the nearest run, outside
        outcomes[f] = dominance(da, dt, tol, length_ratio=ratio if f == nearest else None)
        rows.append({"method": f, "budget_tokens": (budgets or {}).get(f),
                     "delta_accuracy": _est(da), "delta_tokens": _est(dt),
                     "length_ratio": None if ratio is None else _est(ratio),
                     "near_clause": f == nearest, "outcome": outcomes[f],
                     "equivalence": _equivalence(da, dt, tol, tok_margin)})
    verdict, outcome = frontier_verdict(where, gap, outcomes, nearest, tol)
    qualifiers = [] if where == "within" else [EXTRAPOLATED]
    if where == "within":
        power = stats.equivalence_power(tol, gap.se)
        power_of = f"V's equivalence test at {100 * tol:.1f} pt"
    else:
        near_da = _as_est(rows[present.index(nearest)]["delta_accuracy"])
        power = stats.noninferiority_power(tol, near_da.se)
        power_of = f"the non-inferiority test against {nearest} at {100 * tol:.1f} pt"
    if power < MIN_POWER:
        qualifiers.insert(0, UNDERPOWERED)
    metric = (f"hmpo {100 * a_h:.1f}% at {t_h:.1f} tokens, {where} the fixed-budget runs "
              f"({t_lo:.1f}-{t_hi:.1f} tokens); V = {_ci_pt(gap)}"
              + (" (flat extrapolation, not used)" if where != "within" else "") + "; "
              + "; ".join(f"{r['method']}: dAcc {_ci_pt(_as_est(r['delta_accuracy']))}, dTok "
                          f"{_ci_tok(_as_est(r['delta_tokens']))} ({r['outcome']})"
                          for r in rows))
    mdd = f"V {100 * gap.mdd:.1f} pt; " + "; ".join(
        f"vs {r['method']}: acc {100 * r['delta_accuracy']['mdd']:.1f} pt, tokens "
        f"{r['delta_tokens']['mdd']:.1f}" for r in rows)
    note = (f"{power_of} has {_power_words(power)} power at no true difference"
            + (" (underpowered)" if power < MIN_POWER else ""))
    if where != "within":
        note += ("; the fixed-budget runs do not bracket hmpo's length, so the frontier at "
                 "hmpo's length is unknown: a fixed budget near hmpo's length would settle it")
    evidence = [_evidence("V = acc(hmpo) - frontier(tokens(hmpo))", gap, "pt",
                          f"> 0, or within +-{100 * tol:.1f} pt (no advantage)"
                          + ("" if where == "within" else "; not used: extrapolated"),
                          stats.direction(gap.ci, tol), margin=tol,
                          power=stats.equivalence_power(tol, gap.se))]
    for r in rows:
        da = _as_est(r["delta_accuracy"])
        evidence.append(_evidence(f"acc(hmpo) - acc({r['method']})", da, "pt",
                                  f"margin {100 * tol:.1f} pt", r["outcome"], margin=tol,
                                  power=stats.noninferiority_power(tol, da.se)))
        if r["length_ratio"] is not None and r["near_clause"]:
            evidence.append(_evidence(f"tokens(hmpo) / tokens({r['method']})",
                                      _as_est(r["length_ratio"]), "x",
                                      f"within ({1 - MIN_COMPRESSION:.2f}, "
                                      f"{1 / (1 - MIN_COMPRESSION):.3f}): lengths within "
                                      f"{MIN_COMPRESSION:.0%}",
                                      "near" if near_length(_as_est(r["length_ratio"]))
                                      else "apart", margin=MIN_COMPRESSION))
    return _row("median_vs_fixed", claim, rule, verdict, metric,
                {"frontier_gap": _est(gap), "hmpo_tokens": t_h, "hmpo_accuracy": a_h,
                 "frontier_tokens": [t_lo, t_hi], "position": where, "nearest": nearest,
                 "power": power},
                mdd=mdd, floor=_floor(rows), note=note, outcome=outcome,
                qualifiers=qualifiers, evidence=evidence, comparisons=rows, tol=tol)


# ----------------------------------------------------------------------------- rule 3
def additive_outcome(dacc: stats.Estimate, tol: float = NEGLIGIBLE_LOSS) -> str:
    """hmpo against one additive variant from the paired ``acc(hmpo) - acc(variant)``:
    "no advantage" if the 95% CI lies within ``[-tol, tol]`` (equivalent by two one-sided
    tests, :func:`hmpo.analysis.stats.equivalence`); else "advantage" if the CI is wholly
    > 0, "disadvantage" if wholly < 0; else "unresolved".

    >>> e = lambda lo, hi: stats.Estimate((lo + hi) / 2, [lo, hi], 0.0, 0.0)
    >>> [additive_outcome(e(*c)) for c in ((0, 0), (0.01, 0.05), (-0.05, -0.01), (-0.02, 0.02))]
    ['no advantage', 'advantage', 'disadvantage', 'unresolved']
    """
    return {stats.EQUIVALENT: NO_ADVANTAGE, stats.HIGHER: ADVANTAGE, stats.LOWER: DISADVANTAGE,
            stats.UNRESOLVED: UNRESOLVED}[stats.direction(dacc.ci, tol)]


#: A variant's outcome as a sub-verdict of the claim "the gate keeps accuracy better".
ADDITIVE_VERDICT = {ADVANTAGE: REPRODUCED, DISADVANTAGE: CONTRADICTED,
                    NO_ADVANTAGE: CONTRADICTED, UNRESOLVED: INCONCLUSIVE}


def additive_claim(summary: Mapping[str, Any], matrices: Mapping[str, Any], *,
                   additive: Sequence[str] = ADDITIVE, tol: float = NEGLIGIBLE_LOSS,
                   n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Rule 3: multiplicative gating keeps accuracy better than the additive forms.

    Per additive variant x, on the main set: the paired ``acc(hmpo) - acc(x)`` with its 95%
    CI, judged by :func:`additive_outcome` at the paper's 0.7-pt margin: advantage (CI wholly
    > 0) -> reproduced; disadvantage (wholly < 0) or no advantage (CI within +-0.7 pt) ->
    contradicted; unresolved -> inconclusive. The claim: reproduced if some variant's row is
    reproduced and none contradicted, contradicted if the reverse, else inconclusive
    (:func:`hmpo.analysis.stats.verdict_any`). Qualified "underpowered" when a variant's
    equivalence test has under 80% power at no true difference (the design could not have
    said "no advantage"). The floor flag: every variant equivalent in accuracy and length.
    """
    main = summary["main_set"]
    claim = ("Multiplicative gating (correctness first) keeps accuracy better than additive "
             "length rewards")
    rule = (f"on {main}: per x in {list(additive)}: paired 95% CI of acc(hmpo) - acc(x) "
            f"within +-{100 * tol:.1f} pt -> no advantage (contradicted), else wholly > 0 -> "
            "advantage (reproduced), wholly < 0 -> disadvantage (contradicted), else "
            "unresolved (inconclusive); the claim is reproduced if some x is and none "
            "contradicted, contradicted if the reverse, else inconclusive")
    mats = matrices.get(main)
    present = [x for x in additive if mats is not None and x in mats]
    missing = ("hmpo or every additive variant missing"
               if mats is None or REFERENCE not in mats or not present else None)
    if why := _untestable(summary, main, missing):
        return _row("multiplicative_vs_additive", claim, rule, UNTESTABLE, why, {},
                    outcome=why)
    tok_margin = length_margin(summary, mats, main)
    rows, evidence, powers = [], [], {}
    for x in present:
        da, dt = _pair_row(mats, REFERENCE, x, n_boot=n_boot, seed=seed)
        o = additive_outcome(da, tol)
        powers[x] = stats.equivalence_power(tol, da.se)
        rows.append({"method": x, "delta_accuracy": _est(da), "delta_tokens": _est(dt),
                     "outcome": o, "verdict": ADDITIVE_VERDICT[o],
                     "power_equivalence": powers[x],
                     "equivalence": _equivalence(da, dt, tol, tok_margin)})
        evidence.append(_evidence(f"acc(hmpo) - acc({x})", da, "pt",
                                  f"> 0 (advantage), or within +-{100 * tol:.1f} pt (no "
                                  "advantage)", o, margin=tol, power=powers[x]))
    verdict = stats.verdict_any([r["verdict"] for r in rows])
    weak = [x for x, p in powers.items() if p < MIN_POWER]
    metric = "; ".join(
        f"hmpo - {r['method']}: acc {_ci_pt(_as_est(r['delta_accuracy']))} ({r['outcome']}), "
        f"tokens {_ci_tok(_as_est(r['delta_tokens']))}" for r in rows)
    mdd = "; ".join(f"vs {r['method']}: acc {100 * r['delta_accuracy']['mdd']:.1f} pt"
                    for r in rows)
    note = ("; ".join(f"vs {x}: the equivalence test at {100 * tol:.1f} pt has "
                      f"{_power_words(p)} power at no true difference" for x, p in powers.items())
            + (" (underpowered: this design cannot say 'no advantage')" if weak else ""))
    outcome = "; ".join(f"{r['method']}: {r['outcome']}" for r in rows)
    return _row("multiplicative_vs_additive", claim, rule, verdict, metric, {},
                mdd=mdd, floor=_floor(rows), note=note, outcome=outcome,
                qualifiers=[UNDERPOWERED] if weak else [], evidence=evidence,
                comparisons=rows, tol=tol)


# ----------------------------------------------------------------------------- rule 4
def _ratio(num: float | None, den: float | None) -> float | None:
    """``num / den`` of two times-to-compression; None marks "never reached" (infinite)."""
    if num is None and den is None:
        return None
    if den is None:
        return 0.0
    if num is None:
        return math.inf
    return num / den if den > 0 else math.inf


def cost_verdict(ratios: Mapping[str, float], length_gap: stats.Estimate,
                 accuracy_gap: stats.Estimate, *, tol: float = NEGLIGIBLE_LOSS,
                 tok_margin: float = 0.0, min_ratio: float = MIN_COST_RATIO,
                 max_ratio: float = MAX_COST_RATIO) -> dict[str, Any]:
    """Rule 4's decision from the end-to-end cost ratios per seed, ``r_s = device seconds of
    the whole multistage pipeline / of the whole hmpo run``, and the paired final differences
    ``length_gap = tokens(hmpo) - tokens(multistage)``, ``accuracy_gap = acc(hmpo) -
    acc(multistage)`` on the main set (95% CIs).

    A whole-run ratio compares the costs of the two *final* models; it is the ratio at
    matched final compression only as far as those models match. If hmpo ends no longer
    (length CI high <= 0, or equivalent within ``tok_margin``, a paired TOST) and no less
    accurate (accuracy CI low >= -tol) than multistage, its cost bought at least the same
    result: r_s bounds the matched ratio from below, and r_s >= ``min_ratio`` for every seed
    -> reproduced. If multistage ends no longer and no less accurate (length CI low >= 0 or
    equivalent; accuracy CI high <= +tol), r_s bounds it from above, and r_s < ``min_ratio``
    for every seed -> contradicted. Anything else -> inconclusive: the seeds disagree, or the
    final models differ in the direction that makes the bound useless (a trade-off, or one
    model further along for its cost). Qualifier "above the paper's range" when every r_s >
    ``max_ratio``. Returns ``{"verdict", "outcome", "qualifiers", "match"}``.
    """
    rs = [r for r in ratios.values() if r is not None]
    if not rs:
        raise ValueError("no end-to-end ratio")
    eq_len = stats.equivalence(length_gap.ci, tok_margin) == stats.EQUIVALENT
    match = {"hmpo_not_longer": bool(length_gap.ci[1] <= 0 or eq_len),
             "multistage_not_longer": bool(length_gap.ci[0] >= 0 or eq_len),
             "hmpo_not_less_accurate": bool(accuracy_gap.ci[0] >= -tol),
             "multistage_not_less_accurate": bool(accuracy_gap.ci[1] <= tol),
             "length_equivalent": eq_len}
    above, below = all(r >= min_ratio for r in rs), all(r < min_ratio for r in rs)
    bound_below = match["hmpo_not_longer"] and match["hmpo_not_less_accurate"]
    bound_above = match["multistage_not_longer"] and match["multistage_not_less_accurate"]
    if above and bound_below:
        verdict, outcome = REPRODUCED, (f"every seed >= {min_ratio}x, and hmpo ends at least as "
                                        "short and as accurate: the matched ratio is at least "
                                        "this")
    elif below and bound_above:
        verdict, outcome = CONTRADICTED, (f"every seed < {min_ratio}x, and multistage ends at "
                                          "least as short and as accurate: the matched ratio "
                                          "is at most this")
    else:
        verdict = INCONCLUSIVE
        if not (above or below):
            outcome = f"the seeds disagree about {min_ratio}x"
        else:
            side = "hmpo" if above else "multistage"
            gaps = []
            if not match[f"{side}_not_longer"]:
                gaps.append(f"{side} is not shown to end at most as long")
            if not match[f"{side}_not_less_accurate"]:
                gaps.append(f"{side} is not shown non-inferior in final accuracy at "
                            f"{100 * tol:.1f} pt")
            outcome = (f"every seed {'>=' if above else '<'} {min_ratio}x, but "
                       + " and ".join(gaps) + ": the final models are not matched, so the "
                       "whole-run ratio does not bound the ratio at matched compression")
    qualifiers = [ABOVE_RANGE] if all(r > max_ratio for r in rs) else []
    return {"verdict": verdict, "outcome": outcome, "qualifiers": qualifiers, "match": match}


def cost_claim(costs: Mapping[str, Any], times: Mapping[str, Any] | None = None, *,
               length_gap: stats.Estimate | None = None,
               accuracy_gap: stats.Estimate | None = None, tok_margin: float = 0.0,
               levels: Sequence[float] = COST_COMPRESSIONS, tol: float = NEGLIGIBLE_LOSS,
               min_ratio: float = MIN_COST_RATIO, reference_tokens: float | None = None
               ) -> dict[str, Any]:
    """Rule 4: end-to-end compute of the multi-stage pipeline against single-stage HMPO, at
    matched final compression (the paper's comparison of GPU hours).

    Primary figure, per training seed s run by both: ``r_s = device_seconds(multistage, s) /
    device_seconds(hmpo, s)``, whole runs (multistage: sampling + SFT + RL; hmpo: RL), from
    ``costs`` (:func:`hmpo.analysis.report.collect_costs`); the decision is
    :func:`cost_verdict` with the final models' paired length and accuracy differences
    (``length_gap``, ``accuracy_gap``: hmpo - multistage on the main set; ``tok_margin`` the
    length equivalence margin). Shown apart: the multistage's fixed overhead (its sampling +
    SFT seconds and their share of its run), the ratio of the RL stages alone, and (from
    ``times``, :func:`hmpo.analysis.report.cost_to_compression`) the seconds until each
    run's smoothed training length first compresses by ``levels`` (mostly the multistage's
    fixed overhead, since SFT starts it short). The smallest detectable ratio change:
    ``exp(2.80 * sd(log r_s) / sqrt(n))`` (n >= 2 seeds).
    """
    claim = "Single-stage HMPO costs 1.5-2.5x less compute than a multi-stage pipeline"
    rule = (f"per training seed s: r_s = device seconds of the whole multistage pipeline "
            f"(sampling + SFT + RL) / of the whole hmpo run; on the main set the final models' "
            f"paired tokens and accuracy (hmpo - multistage); reproduced if every r_s >= "
            f"{min_ratio} and hmpo ends no longer (CI high <= 0 or equivalent within 1% of the "
            f"base length) and non-inferior in accuracy at {100 * tol:.1f} pt; contradicted if "
            f"every r_s < {min_ratio} and multistage ends no longer and non-inferior; else "
            "inconclusive. Shown apart: the multistage's sampling + SFT seconds, the RL-only "
            "ratio, and the times to " + ", ".join(f"{c:.0%}" for c in levels)
            + f" training compression (smoothed over {SMOOTH_STEPS} steps)")
    ch, cm = costs.get(REFERENCE) or {}, costs.get(MULTISTAGE) or {}
    dh, dm = ch.get("device_seconds_per_seed") or {}, cm.get("device_seconds_per_seed") or {}
    seeds = sorted((s for s in set(dh) & set(dm) if dh[s] and dm[s] is not None), key=int)
    if not seeds:
        why = "training costs of hmpo or multistage missing"
        return _row("single_stage_cheaper", claim, rule, UNTESTABLE, why, {}, outcome=why)
    e2e = {s: dm[s] / dh[s] for s in seeds}
    values: dict[str, Any] = {"end_to_end_ratio": e2e, "reference_tokens": reference_tokens}
    text = ["end to end (primary) " + ", ".join(f"{r:.2f}x" for r in e2e.values())]
    wall = cm.get("train_seconds_per_seed") or {}
    pre = cm.get("pre_rl_seconds_per_seed") or {}
    if pre and all(wall.get(s) and s in pre for s in seeds):
        share = {s: pre[s] / wall[s] for s in seeds}
        rl_only = {s: dm[s] * (1.0 - share[s]) / dh[s] for s in seeds}
        values.update({"multistage_pre_rl_seconds": {s: pre[s] for s in seeds},
                       "multistage_pre_rl_share": share, "rl_only_ratio": rl_only})
        text.append("multistage fixed overhead (sampling + SFT) " + ", ".join(
            f"{pre[s]:.0f} s ({share[s]:.0%})" for s in seeds) + "; RL stages alone "
            + ", ".join(f"{r:.2f}x" for r in rl_only.values()))
    th, tm = ((times or {}).get(REFERENCE) or {}), ((times or {}).get(MULTISTAGE) or {})
    for c in levels:
        key = f"{c:g}"
        both = sorted(set(th.get(key, {})) & set(tm.get(key, {})), key=int)
        if not both:
            continue
        ratios = {s: _ratio(tm[key][s], th[key][s]) for s in both}
        values[f"c{key}"] = {
            "hmpo_seconds": {s: th[key][s] for s in both},
            "multistage_seconds": {s: tm[key][s] for s in both},
            "ratio": {s: (None if r is None or math.isinf(r) else r) for s, r in ratios.items()},
            "never_reached": {m: [s for s in both if t[key][s] is None]
                              for m, t in (("hmpo", th), ("multistage", tm))},
        }
        text.append(f"time to {c:.0%} training compression " + ", ".join(
            "never" if r is None else "inf" if math.isinf(r) else f"{r:.2f}x"
            for r in ratios.values()))
    logs = [math.log(r) for r in e2e.values() if 0 < r < math.inf]
    mdd = "–"
    if len(logs) >= 2:
        factor = math.exp(stats.min_detectable(float(np.std(logs, ddof=1)) / math.sqrt(len(logs))))
        values["mdd_factor"] = factor
        mdd = f"a ratio change by a factor {factor:.2f} (seed spread of log r_s)"
    if length_gap is None or accuracy_gap is None:
        why = ("hmpo or multistage not evaluated on the main set: the final compression the "
               "costs buy cannot be matched; " + "; ".join(text))
        return _row("single_stage_cheaper", claim, rule, UNTESTABLE, why, values, mdd=mdd,
                    outcome="final models not compared")
    d = cost_verdict(e2e, length_gap, accuracy_gap, tol=tol, tok_margin=tok_margin,
                     min_ratio=min_ratio)
    values.update({"final_length_gap": _est(length_gap),
                   "final_accuracy_gap": _est(accuracy_gap), "match": d["match"],
                   "length_margin_tokens": tok_margin})
    text.insert(1, f"final hmpo - multistage: tokens {_ci_tok(length_gap)}, accuracy "
                   f"{_ci_pt(accuracy_gap)}")
    gmean = float(np.exp(np.mean(logs))) if logs else None
    evidence = [
        {"what": "end-to-end cost ratio multistage / hmpo (geometric mean over seeds)",
         "unit": "x", "estimate": gmean, "ci": [min(e2e.values()), max(e2e.values())],
         "interval": "range over seeds", "se": None, "mdd": None,
         "test": f"every seed >= {min_ratio}x (the paper's range {min_ratio}-"
                 f"{MAX_COST_RATIO}x)",
         "outcome": (f"every seed >= {min_ratio}x" if all(r >= min_ratio for r in e2e.values())
                     else f"every seed < {min_ratio}x" if all(r < min_ratio for r in e2e.values())
                     else "the seeds disagree"), "margin": min_ratio,
         "power": None},
        _evidence("final tokens(hmpo) - tokens(multistage)", length_gap, "tokens",
                  f"<= 0 or within +-{tok_margin:.2f} tokens (matched)",
                  "hmpo not longer" if d["match"]["hmpo_not_longer"] else
                  "multistage not longer" if d["match"]["multistage_not_longer"] else
                  "unresolved", margin=tok_margin),
        _evidence("final acc(hmpo) - acc(multistage)", accuracy_gap, "pt",
                  f"non-inferiority at {100 * tol:.1f} pt (matched)",
                  "hmpo non-inferior" if d["match"]["hmpo_not_less_accurate"] else
                  "multistage non-inferior" if d["match"]["multistage_not_less_accurate"] else
                  "unresolved", margin=tol, power=stats.noninferiority_power(tol, accuracy_gap.se)),
    ]
    return _row("single_stage_cheaper", claim, rule, d["verdict"], "; ".join(text), values,
                mdd=mdd, outcome=d["outcome"], qualifiers=d["qualifiers"], evidence=evidence,
                tol=tol)


def evaluate_claims(
    summary: Mapping[str, Any],
    costs: Mapping[str, Any],
    matrices: Mapping[str, Any],
    *,
    fixed: Sequence[str] = (),
    times: Mapping[str, Any] | None = None,
    reference_tokens: float | None = None,
    budgets: Mapping[str, float] | None = None,
    tol: float = NEGLIGIBLE_LOSS,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per paper claim, each verdict computed by its rule.

    1. compression (:func:`compression_claim` on the main set);
    2. median vs fixed (:func:`median_vs_fixed_claim`, ``fixed`` = the hmpo_fixed methods);
    3. multiplicative vs additive (:func:`additive_claim`);
    4. single stage cheaper (:func:`cost_claim`: end-to-end ``costs``, matched on the main
       set's paired hmpo - multistage differences; ``times`` = the times to compression of
       :func:`hmpo.analysis.report.cost_to_compression`, reported);
    5. length generalisation: rule 1 on ``synthetic_transfer`` (longer chains than trained on).

    A claim whose inputs are absent is "untestable here", with the reason in ``metric``; so
    are the accuracy claims when the base model's accuracy on the set is 0. Every row has
    ``verdict``, ``qualifiers``, ``outcome`` (in words) and ``evidence`` (the numbers it rests
    on, with their margins, MDDs and powers).
    """
    kw = dict(n_boot=n_boot, seed=seed)
    main = summary["main_set"]
    mats = matrices.get(main)
    gaps: dict[str, Any] = {}
    if mats is not None and REFERENCE in mats and MULTISTAGE in mats:
        ga, gt = _pair_row(mats, REFERENCE, MULTISTAGE, **kw)
        gaps = {"accuracy_gap": ga, "length_gap": gt,
                "tok_margin": length_margin(summary, mats, main)}
    return [
        compression_claim(summary, matrices, "compression",
                          "Single-stage HMPO shortens responses by 19-46% with negligible "
                          "accuracy loss (<= 0.7 pt)", main, tol=tol, **kw),
        median_vs_fixed_claim(summary, matrices, fixed, tol=tol, budgets=budgets, **kw),
        additive_claim(summary, matrices, tol=tol, **kw),
        cost_claim(costs, times or {}, reference_tokens=reference_tokens, tol=tol, **gaps),
        compression_claim(summary, matrices, "length_generalisation",
                          "Length generalisation: compression at negligible accuracy loss holds "
                          "on longer chains than trained on", TRANSFER_SET, tol=tol, **kw),
    ]


# ----------------------------------------------------------------------------- disclosures
#: Where the record of changes made after seeing results lives (repository-relative); read by
#: :func:`hmpo.analysis.report.load_disclosures`, named in claims.md.
DISCLOSURES_PATH = "docs/disclosures.yaml"
#: The kinds of record entry: a params setting changed, or a claim rule changed.
PARAM, RULE = "param", "rule"
#: The fields of one record entry (a param entry may also say ``kind: param``), of one flipped
#: verdict and of its two sides.
DISCLOSURE_FIELDS = ("key", "from", "to", "commit", "why", "profiles", "verdicts_flipped")
RULE_FIELDS = ("kind", "rule", "from", "to", "commit", "why", "profiles", "verdicts_flipped")
FLIP_FIELDS = ("claim", "before", "after")
SIDE_FIELDS = ("verdict", "value", "results")
_COMMIT = re.compile(r"[0-9a-f]{7,40}")
_KEY = re.compile(r"[a-z_][a-z0-9_]*(\.[A-Za-z0-9_-]+)*")


def _fields(node: Any, fields: Sequence[str], where: str) -> Mapping[str, Any]:
    """``node`` as a mapping with exactly ``fields``; ValueError naming ``where`` otherwise."""
    if not isinstance(node, Mapping):
        raise ValueError(f"{where}: expected a mapping with {', '.join(fields)}, "
                         f"got {type(node).__name__} {node!r}")
    missing = [f for f in fields if f not in node]
    unknown = [str(k) for k in node if k not in fields]
    if missing or unknown:
        raise ValueError(f"{where}: " + "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else [])
            + ([f"unknown {', '.join(unknown)}"] if unknown else []))
            + f" (an entry has exactly: {', '.join(fields)})")
    return node


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _commit(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _COMMIT.fullmatch(value):
        raise ValueError(f"{where}: expected a commit, 7-40 lowercase hex digits in quotes, "
                         f"got {value!r}")
    return value


def _flips(flips: Any, at: str) -> list[dict[str, Any]]:
    if not isinstance(flips, list):
        raise ValueError(f"{at}.verdicts_flipped: expected a list (empty: none flipped), "
                         f"got {flips!r}")
    checked: list[dict[str, Any]] = []
    for j, f in enumerate(flips):
        fat = f"{at}.verdicts_flipped[{j}]"
        f = _fields(f, FLIP_FIELDS, fat)
        if f["claim"] not in CLAIM_IDS:
            raise ValueError(f"{fat}.claim: expected one of {list(CLAIM_IDS)}, "
                             f"got {f['claim']!r}")
        if f["claim"] in (c["claim"] for c in checked):
            raise ValueError(f"{fat}.claim: {f['claim']!r} is listed twice")
        sides = {}
        for side in ("before", "after"):
            sat = f"{fat}.{side}"
            d = _fields(f[side], SIDE_FIELDS, sat)
            if d["verdict"] not in VERDICTS:
                raise ValueError(f"{sat}.verdict: expected one of {list(VERDICTS)}, "
                                 f"got {d['verdict']!r}")
            sides[side] = {"verdict": d["verdict"], "value": _text(d["value"], f"{sat}.value"),
                           "results": _commit(d["results"], f"{sat}.results")}
        if sides["before"]["verdict"] == sides["after"]["verdict"]:
            raise ValueError(f"{fat}: before and after are both "
                             f"{sides['before']['verdict']!r}: the verdict did not flip")
        checked.append({"claim": f["claim"], **sides})
    return checked


def validate_disclosures(raw: Any, where: str = DISCLOSURES_PATH) -> list[dict[str, Any]]:
    """The record of changes made after seeing results, checked; ValueError naming the entry
    and the field at fault.

    The record is a mapping ``{"changes": [entry, ...]}`` (an empty list: nothing changed).
    An entry is one of two kinds:

    * a params change (``kind: param``, or no ``kind``), with exactly
      :data:`DISCLOSURE_FIELDS`: ``key`` (the dotted params key changed), ``from`` and ``to``
      (its values, different), ``commit`` (the commit that changed it), ``why`` (text),
      ``profiles`` and ``verdicts_flipped``;
    * a claim-rule change (``kind: rule``), with exactly :data:`RULE_FIELDS`: ``rule`` (the
      claim id of :data:`CLAIM_IDS` whose rule changed), ``from`` and ``to`` (the rule before
      and after, short texts, different), ``commit`` (the commit that changed it, or null: the
      commit that adds the entry, which cannot name itself), ``why``, ``profiles`` and
      ``verdicts_flipped``.

    ``profiles``: the profiles whose (seen) results the change applies to, distinct names of
    :data:`hmpo.config.PROFILE_NAMES`; ``verdicts_flipped``: a list (possibly empty) of
    ``{"claim": a claim id, "before": side, "after": side}``, a side being ``{"verdict": one
    of VERDICTS, "value": the number it rests on, as text, "results": the commit of those
    results}``; before and after verdicts differ (the verdict flipped). Each returned entry
    has its ``kind``.

    >>> validate_disclosures({"changes": []})
    []
    """
    top = _fields(raw, ("changes",), where)
    if not isinstance(top["changes"], list):
        raise ValueError(f"{where}: changes: expected a list of entries, "
                         f"got {type(top['changes']).__name__}")
    out = []
    for i, node in enumerate(top["changes"]):
        at = f"{where}: changes[{i}]"
        kind = node.get("kind", PARAM) if isinstance(node, Mapping) else PARAM
        if kind not in (PARAM, RULE):
            raise ValueError(f"{at}.kind: expected {PARAM!r} or {RULE!r}, got {kind!r}")
        if kind == RULE:
            e = _fields(node, RULE_FIELDS, at)
            rule = _text(e["rule"], f"{at}.rule")
            if rule not in CLAIM_IDS:
                raise ValueError(f"{at}.rule: expected a claim id of {list(CLAIM_IDS)}, "
                                 f"got {rule!r}")
            old, new = _text(e["from"], f"{at}.from"), _text(e["to"], f"{at}.to")
            if " ".join(old.split()) == " ".join(new.split()):
                raise ValueError(f"{at}: from and to are the same rule: nothing changed")
            head: dict[str, Any] = {"kind": RULE, "rule": rule, "from": " ".join(old.split()),
                                    "to": " ".join(new.split()),
                                    "commit": None if e["commit"] is None else
                                    _commit(e["commit"], f"{at}.commit")}
        else:
            fields = DISCLOSURE_FIELDS + (("kind",) if isinstance(node, Mapping)
                                          and "kind" in node else ())
            e = _fields(node, fields, at)
            key = _text(e["key"], f"{at}.key")
            if not _KEY.fullmatch(key):
                raise ValueError(f"{at}.key: expected a dotted params key (train.max_steps), "
                                 f"got {key!r}")
            if e["from"] == e["to"]:
                raise ValueError(f"{at}: from and to are both {e['from']!r}: nothing changed")
            head = {"kind": PARAM, "key": key, "from": e["from"], "to": e["to"],
                    "commit": _commit(e["commit"], f"{at}.commit")}
        profiles = e["profiles"]
        if not isinstance(profiles, list) or not profiles or len(set(map(str, profiles))) \
                < len(profiles) or any(p not in PROFILE_NAMES for p in profiles):
            raise ValueError(f"{at}.profiles: expected a non-empty list of distinct profiles "
                             f"of {list(PROFILE_NAMES)}, got {profiles!r}")
        out.append({**head, "why": " ".join(_text(e["why"], f"{at}.why").split()),
                    "profiles": list(profiles),
                    "verdicts_flipped": _flips(e["verdicts_flipped"], at)})
    return out


def _value(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False)


def disclosures_markdown(disclosures: Sequence[Mapping[str, Any]], profile: str) -> str:
    """The section "Changes made after seeing results" of claims.md: the record's entries
    that apply to ``profile`` (from :func:`validate_disclosures`), or "none recorded"."""
    head = "## Changes made after seeing results\n\n"
    mine = [e for e in disclosures if profile in e["profiles"]]
    if not mine:
        return head + f"None recorded for profile `{profile}` (`{DISCLOSURES_PATH}`).\n"
    out = head + (f"Every change made once results had been seen that applies to profile "
                  f"`{profile}`, and the claim verdicts it flipped (`{DISCLOSURES_PATH}`):\n\n")
    for e in mine:
        flips = "; ".join(
            f"`{f['claim']}`: {f['before']['verdict']} (results {f['before']['results']}: "
            f"{f['before']['value']}) -> {f['after']['verdict']} (results "
            f"{f['after']['results']}: {f['after']['value']})" for f in e["verdicts_flipped"]
        ) or "none"
        if e.get("kind", PARAM) == RULE:
            commit = (f"commit {e['commit']}" if e["commit"] else
                      "in the commit that adds this entry")
            out += (f"- rule of `{e['rule']}` ({commit}): was \"{e['from']}\"; now "
                    f"\"{e['to']}\". {e['why']} Verdicts flipped: {flips}.\n")
        else:
            out += (f"- `{e['key']}`: {_value(e['from'])} -> {_value(e['to'])} (commit "
                    f"{e['commit']}). {e['why']} Verdicts flipped: {flips}.\n")
    return out


CLAIMS_PREAMBLE = """\
The rules are applied by `hmpo.analysis.claims.evaluate_claims`. They were first fixed before
the three-seed results existed (issue 11) and revised once those results had been seen, so that
every rule can come out against the paper in every geometry; each revision is listed under
"Changes made after seeing results", with the verdicts it flipped, and no margin was chosen
from this project's results. Every comparison is paired: all models answer the same evaluation
problems with the same samples per problem. Paired differences and per-model means use the
seed-t interval of `hmpo.analysis.stats` (the problem-level variance plus the between-seed
variance net of problem noise, with a t quantile on its effective degrees of freedom; 4.30
instead of 1.96 when three training seeds disagree); so do the compression ratio and the
frontier gap, through the delta method (their gradient at the means turns them into a paired
difference of per-problem statistics). {base_models} Every interval is a 95% interval.

Verdicts: **reproduced** (the evidence the rule reads supports the claim and none is against
it), **contradicted** (the reverse), **inconclusive** (neither, or both), **untestable here**
(inputs missing). Each rule can return each verdict; its outcome says which test decided.
Equivalence ("no advantage", "equivalent") is two one-sided tests on the 95% interval: the
whole interval within plus or minus the margin. Qualifiers: **underpowered** (the test the
verdict reads has under 80% power at no true difference, e.g. a non-inferiority margin below
the smallest detectable difference), **above the paper's range** (the whole interval, or only
the estimate, above the paper's upper end), **extrapolated** (hmpo's length lies outside the
fixed-budget runs' span, so the frontier at its length is unknown). "Smallest detectable" is
the minimal detectable difference, (z_0.975 + z_0.80) x SE = 2.80 x SE: the true difference
the interval finds with 80% power at 5% (two-sided).

Margins, all the paper's: negligible accuracy loss = {tol:.1f} pt (the paper's); compression
>= 19% (the low end of its "19%-46%"; 46% is its high end); cost ratio >= 1.5 (the low end of
its "1.5x-2.5x"). The paper's 19% also stands in for the unknown frontier when hmpo lies
outside the fixed-budget runs' span: against the nearest run, lengths within 19% of each
other are "near", and the nearer model loses if it is less accurate by more than {tol:.1f} pt
(saving less than 19% while losing more than {tol:.1f} pt fails the paper's own yardstick). Length
equivalence (the floor flag, the cost claim's matched final length): within 1% of the base
model's mean length, the resolution of the paper's whole-percent compression figures.

Not testable at this scale: the paper's cross-domain transfer (training on math, evaluating on
code, science and instruction following). The tiny model here knows one synthetic task; the
"length generalisation" row tests only longer chains of the same task than it was trained on.
"""


def _num(x: float | None, unit: str, signed: bool = True) -> str:
    if x is None:
        return "–"
    if unit == "pt":
        return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"
    if unit == "%":
        return f"{100 * x:.1f}"
    if unit == "tokens":
        return f"{x:+.2f}" if signed else f"{x:.2f}"
    return f"{x:.3f}"


_SUFFIX = {"pt": " pt", "%": "%", "tokens": " tokens", "x": "x"}
_MDD_UNIT = {"pt": " pt", "%": " pt", "tokens": " tokens", "x": ""}


def evidence_words(e: Mapping[str, Any]) -> str:
    """One number a verdict rests on, in words: what, estimate [interval], test, outcome,
    smallest detectable difference and power."""
    u = e["unit"]
    lo, hi = e["ci"]
    text = (f"{e['what']}: {_num(e['estimate'], u)}{_SUFFIX[u]} [{_num(lo, u)}, {_num(hi, u)}] "
            f"({e.get('interval', '95% CI')}); test: {e['test']}; outcome: {e['outcome']}")
    if e.get("mdd") is not None:
        text += f"; smallest detectable {_num(e['mdd'], u, signed=False)}{_MDD_UNIT[u]}"
    if e.get("power") is not None:
        text += f"; power at no true difference {100 * e['power']:.0f}%"
    return text


def _cell(x: Any) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def base_models_words(base_seeds: Sequence[int] | None, train_seeds: Sequence[int] | None) -> str:
    """What the intervals say about the base model's own draw: one base model per training
    seed (its draw is in them, every model paired by base seed), or one (it is not).

    >>> base_models_words([0, 1, 2], [0, 1, 2])[:40]
    'Each training seed starts from its own b'
    """
    if base_seeds is not None and len(base_seeds) > 1:
        return ("Each training seed starts from its own base model (its own SFT and RL draw, "
                f"base seeds {list(base_seeds)}), and every model is paired by base seed: the "
                "base models' variability is in the intervals.")
    return ("The base model is one draw, shared by every training seed: its own variability is "
            "not in the intervals.")


def claims_markdown(claims: Sequence[Mapping[str, Any]], summary: Mapping[str, Any],
                    disclosures: Sequence[Mapping[str, Any]]) -> str:
    """claims.md: the rules, the changes made after seeing results that apply to the summary's
    profile (``disclosures``: the whole record, :func:`validate_disclosures`), a table of the
    verdicts, then per claim its verdict, qualifiers and outcome, the numbers it rests on (in
    words, with margins, MDDs and powers), the rule, and its per-comparison rows."""
    seeds = summary.get("train_seeds")
    steps = summary.get("train_steps")
    head = (f"# Paper claims at this scale\n\nProfile `{summary['profile']}`, training seeds "
            f"{seeds if seeds is not None else [summary['seed']]}"
            + (f", {steps} RL steps per training run" if steps and steps > 0 else "")
            + ", evaluation/data seed "
            f"{summary['seed']}, main set `{summary['main_set']}`. The paper's results are on "
            "Qwen3.5 models at 9B-122B parameters, these are not.\n\n"
            + CLAIMS_PREAMBLE.format(
                n_boot=summary.get("n_bootstrap", N_BOOT), tol=100 * NEGLIGIBLE_LOSS,
                base_models=base_models_words(summary.get("base_seeds"), seeds)) + "\n"
            + disclosures_markdown(disclosures, summary["profile"]) + "\n## Verdicts\n\n")
    lines = ["| Claim | Verdict | Qualifiers | Outcome |", "| --- | --- | --- | --- |"]
    for c in claims:
        lines.append("| " + " | ".join(_cell(x) for x in (
            c["claim"], f"**{c['verdict']}**", ", ".join(c.get("qualifiers") or []) or "–",
            c.get("outcome") or "–")) + " |")
    out = head + "\n".join(lines) + "\n"
    for c in claims:
        quals = c.get("qualifiers") or []
        out += (f"\n### {c['id']}: {c['claim']}\n\n**Verdict: {c['verdict']}**"
                + (f" ({', '.join(quals)})" if quals else "")
                + (f". Outcome: {c['outcome']}." if c.get("outcome") else ".")
                + "\n\n")
        if c.get("evidence"):
            out += "Rests on:\n\n" + "".join(f"- {evidence_words(e)}.\n"
                                              for e in c["evidence"]) + "\n"
        out += f"Numbers: {c['metric']}.\n\nSmallest detectable: {c.get('mdd', '–')}.\n\n"
        out += f"Rule: {c['rule']}.\n"
        if c.get("note"):
            out += f"\nNote: {c['note']}.\n"
        if c.get("comparisons"):
            out += ("\nPer comparison (hmpo - other, paired):\n\n"
                    "| Other | ΔAcc (pt) [95% CI] | MDD acc (pt) | ΔTokens [95% CI] | MDD tokens "
                    "| Length ratio [95% CI] | Equivalent (acc, tokens) | Outcome |\n"
                    "| --- | --- | --- | --- | --- | --- | --- | --- |\n")
            for r in c["comparisons"]:
                da, dt = _as_est(r["delta_accuracy"]), _as_est(r["delta_tokens"])
                lr = r.get("length_ratio")
                ratio = (f"{lr['estimate']:.3f} [{lr['ci'][0]:.3f}, {lr['ci'][1]:.3f}]"
                         if lr else "–")
                eq = r.get("equivalence") or {}
                eqs = f"{eq.get('accuracy', '–')}, {eq.get('tokens', '–')}"
                name = r["method"] + (f" (T = {r['budget_tokens']:.0f})"
                                      if r.get("budget_tokens") is not None else "")
                outcome = r.get("outcome") or r.get("verdict")
                out += (f"| {name} | {_ci_pt(da)} | {100 * da.mdd:.1f} | {_ci_tok(dt)} | "
                        f"{dt.mdd:.1f} | {ratio} | {eqs} | {outcome} |\n")
    return out

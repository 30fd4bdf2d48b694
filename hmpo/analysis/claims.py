"""The paper-claim rules: one reproduced / contradicted / inconclusive / untestable verdict per
claim of the HMPO paper, computed from the results the report collected.

One function per rule (:func:`compression_claim`, :func:`median_vs_fixed_claim`,
:func:`additive_claim`, :func:`cost_claim`) and :func:`evaluate_claims`, which applies them
all; :func:`claims_markdown` renders the rows with :data:`CLAIMS_PREAMBLE`, the rules in words,
and the record of changes made after seeing results (``docs/disclosures.yaml``, checked by
:func:`validate_disclosures`, rendered by :func:`disclosures_markdown`). The rules and their
tolerances (the constants below) were fixed before the three-seed results existed (issue 11)
and nothing here is tuned to the outcome; what was changed once results had been seen is in
the record, not in this code. Statistics are :mod:`hmpo.analysis.stats` (paired hierarchical
bootstrap over problems and training seeds).

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
TRANSFER_SET = "synthetic_transfer"
N_BOOT = 2000  # bootstrap replicates of every interval in the report

# The rules' tolerances, fixed before the results (the paper's numbers).
NEGLIGIBLE_LOSS = 0.007  # "at most 0.7 percentage points" of accuracy
MIN_COMPRESSION = 0.19  # "shortens ... by 19%-46%": the low end
MIN_COST_RATIO = 1.5  # "1.5x-2.5x fewer GPU hours than multi-stage pipelines": the low end
ADDITIVE = ("hmpo_add", "hmpo_add_ungated")
#: Compressions at which the cost claim times the runs: the paper's low end (the verdict) and
#: a deeper one (reported). Fixed before the three-seed results existed.
COST_COMPRESSIONS = (0.19, 0.30)
SMOOTH_STEPS = 10  # trailing window (rollout steps) of the smoothed training length

UNTESTABLE = "untestable here"
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE, UNTESTABLE)
#: The claims' ids, in :func:`evaluate_claims`' order (results/claims.json "id").
CLAIM_IDS = ("compression", "median_vs_fixed", "multiplicative_vs_additive",
             "single_stage_cheaper", "length_generalisation")
#: Why an accuracy claim is untestable when the base model solves nothing: no group has a
#: correct rollout, so no length reward acts and there is no accuracy to preserve.
NO_SIGNAL = "the base model's accuracy on {s} is 0: no correct rollout, nothing to compare"
FLOOR_NOTE = ("all compared models at the same value within their CIs (accuracy and tokens): "
              "a common floor, the design cannot separate them")


def _pt(x: float) -> str:
    return f"{100 * x:+.1f}"


def _ci_pt(e: stats.Estimate) -> str:
    return f"{_pt(e.estimate)} pt [{_pt(e.ci[0])}, {_pt(e.ci[1])}]"


def _ci_tok(e: stats.Estimate) -> str:
    return f"{e.estimate:+.1f} [{e.ci[0]:+.1f}, {e.ci[1]:+.1f}]"


def _row(cid: str, claim: str, rule: str, verdict: str, metric: str, values: dict,
         *, mdd: str = "–", floor: bool = False, note: str = "",
         comparisons: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}")
    if floor:
        note = f"{FLOOR_NOTE}. {note}".strip()
    # 6 decimals: finer than any displayed digit, so the table and the metric text agree
    return {"id": cid, "claim": claim, "rule": rule, "verdict": verdict, "metric": metric,
            "values": round_floats(values, 6), "mdd": mdd, "floor": bool(floor), "note": note,
            "comparisons": round_floats(list(comparisons), 6)}


def _est(e: stats.Estimate) -> dict[str, Any]:
    return e.as_dict()


def _floor(mats: Mapping[str, Any], models: Sequence[str], *, n_boot: int, seed: int) -> bool:
    """Floor flag: every model's own CI shares a value with the others', in accuracy and tokens."""
    return all(stats.common_value([stats.model_mean(mats[m][k], n_boot=n_boot, seed=seed).ci
                                   for m in models]) for k in ("accuracy", "tokens"))


def _stack(model_mats: Mapping[str, np.ndarray]) -> np.ndarray:
    """A model's accuracy and tokens as one ``(2, seeds, problems)`` array: the bootstrap then
    draws the same seeds for both (bootstrap columns: accuracy, tokens)."""
    return np.stack([model_mats["accuracy"], model_mats["tokens"]])


def _base_unsolved(summary: Mapping[str, Any], s: str) -> bool:
    b = summary["methods"].get(BASE, {}).get("sets", {}).get(s)
    return b is not None and b["accuracy"] == 0


def _untestable(summary: Mapping[str, Any], s: str, missing: str | None) -> str | None:
    """Why a paired accuracy claim on set `s` cannot be tested (None: it can): `missing`
    names absent inputs; a base model that solves nothing on `s` gives no signal."""
    if missing is not None:
        return missing
    return NO_SIGNAL.format(s=s) if _base_unsolved(summary, s) else None


def compression_claim(summary: Mapping[str, Any], matrices: Mapping[str, Any], cid: str,
                      claim: str, s: str, *, tol: float = NEGLIGIBLE_LOSS,
                      min_compression: float = MIN_COMPRESSION, n_boot: int = N_BOOT,
                      seed: int = 0) -> dict[str, Any]:
    """Rule 1 (and 5 on the transfer set): compression and non-inferior accuracy, paired.

    ``compression = 1 - tokens(hmpo) / tokens(base)`` and ``d = acc(hmpo) - acc(base)``, both
    from the same bootstrap replicates (problems paired, hmpo's seeds resampled). Sub-verdicts:
    compression ">= min_compression" (:func:`hmpo.analysis.stats.verdict_at_least` on its CI) and
    non-inferiority "d >= -tol"; the claim is their conjunction (:func:`verdict_all`).
    """
    rule = (f"on {s}: 95% CI of compression(hmpo) = 1 - tokens(hmpo)/tokens(base) lies "
            f">= {min_compression:.0%} (reproduced) / wholly < {min_compression:.0%} "
            f"(contradicted); AND paired 95% CI of acc(hmpo) - acc(base) lies >= "
            f"-{100 * tol:.1f} pt (reproduced) / wholly < -{100 * tol:.1f} pt (contradicted); "
            "both reproduced -> reproduced, either contradicted -> contradicted, else "
            "inconclusive")
    mats = matrices.get(s)
    missing = (f"set {s!r} not evaluated" if mats is None else
               "base or hmpo missing" if BASE not in mats or REFERENCE not in mats else None)
    if why := _untestable(summary, s, missing):
        return _row(cid, claim, rule, UNTESTABLE, why, {})
    h, b = mats[REFERENCE], mats[BASE]
    reps = stats.bootstrap_means([_stack(h), _stack(b)], n_boot=n_boot, seed=seed)
    tb = float(b["tokens"].mean())
    if tb == 0:
        return _row(cid, claim, rule, UNTESTABLE, "the base model's responses are empty", {})
    comp = stats.summarize(1.0 - float(h["tokens"].mean()) / tb, 1.0 - reps[:, 1] / reps[:, 3])
    dacc = stats.summarize(float(h["accuracy"].mean() - b["accuracy"].mean()),
                           reps[:, 0] - reps[:, 2])
    v_comp = stats.verdict_at_least(comp.ci, min_compression)
    v_acc = stats.verdict_at_least(dacc.ci, -tol)
    metric = (f"compression {100 * comp.estimate:.1f}% [{100 * comp.ci[0]:.1f}, "
              f"{100 * comp.ci[1]:.1f}] ({v_comp}); acc(hmpo) - acc(base) {_ci_pt(dacc)} "
              f"({v_acc}); tokens {tb:.1f} -> {float(h['tokens'].mean()):.1f}")
    mdd = (f"accuracy {100 * dacc.mdd:.1f} pt; compression {100 * comp.mdd:.1f} pt")
    note = ""
    if v_acc == INCONCLUSIVE and 100 * dacc.mdd > 100 * tol:
        note = (f"the accuracy margin ({100 * tol:.1f} pt) is below what this design can "
                f"detect ({100 * dacc.mdd:.1f} pt)")
    floor = _floor(mats, [REFERENCE, BASE], n_boot=n_boot, seed=seed)
    return _row(cid, claim, rule, stats.verdict_all([v_comp, v_acc]), metric,
                {"compression": _est(comp), "delta_accuracy": _est(dacc),
                 "verdict_compression": v_comp, "verdict_accuracy": v_acc},
                mdd=mdd, floor=floor, note=note)


def _pair_row(mats: Mapping[str, Any], a: str, b: str, *, n_boot: int, seed: int
              ) -> tuple[stats.Estimate, stats.Estimate]:
    return (stats.paired_difference(mats[a]["accuracy"], mats[b]["accuracy"], n_boot=n_boot,
                                    seed=seed),
            stats.paired_difference(mats[a]["tokens"], mats[b]["tokens"], n_boot=n_boot,
                                    seed=seed))


def dominance(dacc: stats.Estimate, dtok: stats.Estimate, tol: float) -> str:
    """Whether A dominates B from the paired ``acc(A) - acc(B)`` and ``tokens(A) - tokens(B)``.

    reproduced (A dominates): A shorter (tokens CI wholly < 0) and non-inferior in accuracy
    (accuracy CI low >= -tol); contradicted (B dominates): B shorter (tokens CI wholly > 0) and
    B non-inferior (accuracy CI high <= +tol); else inconclusive (a trade-off or noise).
    """
    if dtok.ci[1] < 0 and dacc.ci[0] >= -tol:
        return REPRODUCED
    if dtok.ci[0] > 0 and dacc.ci[1] <= tol:
        return CONTRADICTED
    return INCONCLUSIVE


def median_vs_fixed_claim(summary: Mapping[str, Any], matrices: Mapping[str, Any],
                          fixed: Sequence[str], *, tol: float = NEGLIGIBLE_LOSS,
                          n_boot: int = N_BOOT, seed: int = 0,
                          budgets: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Rule 2: HMPO against the fixed-budget frontier on the accuracy-length plane.

    The frontier F is the piecewise-linear curve through the fixed-budget methods'
    (tokens, accuracy), flat beyond its ends (:func:`hmpo.analysis.stats.frontier_value`); the gap
    ``V = acc(hmpo) - F(tokens(hmpo))`` is computed per joint bootstrap replicate (problems
    paired across all models, each model's seeds resampled). Per fixed budget f the paired
    differences give a dominance verdict (:func:`dominance`). Then, with t_lo / t_hi the
    shortest / longest fixed budget's mean tokens:

    * evidence for: (V's CI wholly > 0 and tokens(hmpo) <= t_hi: above the frontier within
      or left of its span) or (tokens(hmpo) < t_lo and hmpo dominates the shortest budget);
    * evidence against: (V's CI wholly < 0 and tokens(hmpo) >= t_lo: below the frontier
      within or right of its span) or some fixed budget dominates hmpo;
    * reproduced: for and not against; contradicted: against and not for; else inconclusive.

    To the right of the longest budget "more accurate" is a trade, not a win, and to the left
    of the shortest "less accurate" is a trade, not a loss: hence the span conditions.
    """
    main = summary["main_set"]
    claim = "The median-of-correct budget beats a fixed token budget (the fixed-budget frontier)"
    rule = ("on " + main + ": V = acc(hmpo) - F(tokens(hmpo)), F = the piecewise-linear "
            "frontier through the fixed-budget runs (flat beyond its ends); reproduced if "
            "(CI of V > 0 and hmpo not longer than the longest budget) or (hmpo shorter than the "
            "shortest budget and dominating it: tokens CI < 0, accuracy CI low >= "
            f"-{100 * tol:.1f} pt) and no budget dominates hmpo; contradicted if (CI of V < 0 "
            "and hmpo not shorter than the shortest budget) or a budget dominates hmpo, and "
            "no evidence for; else inconclusive")
    mats = matrices.get(main)
    present = [f for f in fixed if mats is not None and f in mats]
    missing = ("hmpo or every fixed-budget method (reward hmpo_fixed) missing"
               if mats is None or REFERENCE not in mats or not present else None)
    if why := _untestable(summary, main, missing):
        return _row("median_vs_fixed", claim, rule, UNTESTABLE, why, {})
    h = mats[REFERENCE]
    reps = stats.bootstrap_means([_stack(h), *(_stack(mats[f]) for f in present)],
                                 n_boot=n_boot, seed=seed)
    fa, ft = reps[:, 2::2], reps[:, 3::2]
    gap_reps = stats.frontier_gap(reps[:, 0], reps[:, 1], fa, ft)
    tok = {f: float(mats[f]["tokens"].mean()) for f in present}
    acc = {f: float(mats[f]["accuracy"].mean()) for f in present}
    t_h, a_h = float(h["tokens"].mean()), float(h["accuracy"].mean())
    gap = stats.summarize(a_h - stats.frontier_value(t_h, list(tok.values()),
                                                     list(acc.values())), gap_reps)
    rows, verdicts = [], {}
    for f in present:
        da, dt = _pair_row(mats, REFERENCE, f, n_boot=n_boot, seed=seed)
        verdicts[f] = dominance(da, dt, tol)
        rows.append({"method": f, "budget_tokens": (budgets or {}).get(f),
                     "delta_accuracy": _est(da), "delta_tokens": _est(dt),
                     "hmpo_dominates": verdicts[f]})
    t_lo, t_hi = min(tok.values()), max(tok.values())
    shortest = min(tok, key=tok.get)
    evidence_for = (gap.ci[0] > 0 and t_h <= t_hi) or (
        t_h < t_lo and verdicts[shortest] == REPRODUCED)
    evidence_against = (gap.ci[1] < 0 and t_h >= t_lo) or CONTRADICTED in verdicts.values()
    verdict = (REPRODUCED if evidence_for and not evidence_against else
               CONTRADICTED if evidence_against and not evidence_for else INCONCLUSIVE)
    where = ("left of" if t_h < t_lo else "right of" if t_h > t_hi else "within")
    metric = (f"hmpo {100 * a_h:.1f}% at {t_h:.1f} tokens, {where} the fixed frontier "
              f"({t_lo:.1f}-{t_hi:.1f} tokens); V = {_ci_pt(gap)}; " + "; ".join(
                  f"{r['method']}: dAcc {_ci_pt(_as_est(r['delta_accuracy']))}, dTok "
                  f"{_ci_tok(_as_est(r['delta_tokens']))} (hmpo dominates: "
                  f"{r['hmpo_dominates']})" for r in rows))
    mdd = f"V {100 * gap.mdd:.1f} pt; " + "; ".join(
        f"vs {r['method']}: acc {100 * r['delta_accuracy']['mdd']:.1f} pt, tokens "
        f"{r['delta_tokens']['mdd']:.1f}" for r in rows)
    floor = _floor(mats, [REFERENCE, *present], n_boot=n_boot, seed=seed)
    return _row("median_vs_fixed", claim, rule, verdict, metric,
                {"frontier_gap": _est(gap), "hmpo_tokens": t_h, "hmpo_accuracy": a_h,
                 "frontier_tokens": [t_lo, t_hi], "position": where},
                mdd=mdd, floor=floor, comparisons=rows)


def _as_est(d: Mapping[str, Any]) -> stats.Estimate:
    return stats.Estimate(d["estimate"], list(d["ci"]), d["se"], d["mdd"])


def additive_claim(summary: Mapping[str, Any], matrices: Mapping[str, Any], *,
                   additive: Sequence[str] = ADDITIVE, n_boot: int = N_BOOT,
                   seed: int = 0) -> dict[str, Any]:
    """Rule 3: multiplicative gating keeps accuracy better than the additive forms.

    Per additive variant x: paired ``acc(hmpo) - acc(x)``; reproduced if its CI is wholly > 0,
    contradicted if wholly <= 0 (:func:`hmpo.analysis.stats.verdict_above`). The claim:
    reproduced if some variant's row is reproduced and none contradicted, contradicted if the
    reverse, else inconclusive (:func:`hmpo.analysis.stats.verdict_any`).
    """
    main = summary["main_set"]
    claim = ("Multiplicative gating (correctness first) keeps accuracy better than additive "
             "length rewards")
    rule = (f"on {main}: per x in {list(additive)}: paired 95% CI of acc(hmpo) - acc(x) wholly "
            "> 0 -> reproduced, wholly <= 0 -> contradicted, else inconclusive; the claim is "
            "reproduced if some x is and none contradicted, contradicted if the reverse, else "
            "inconclusive")
    mats = matrices.get(main)
    present = [x for x in additive if mats is not None and x in mats]
    missing = ("hmpo or every additive variant missing"
               if mats is None or REFERENCE not in mats or not present else None)
    if why := _untestable(summary, main, missing):
        return _row("multiplicative_vs_additive", claim, rule, UNTESTABLE, why, {})
    rows = []
    for x in present:
        da, dt = _pair_row(mats, REFERENCE, x, n_boot=n_boot, seed=seed)
        rows.append({"method": x, "delta_accuracy": _est(da), "delta_tokens": _est(dt),
                     "verdict": stats.verdict_above(da.ci, 0.0)})
    metric = "; ".join(
        f"hmpo - {r['method']}: acc {_ci_pt(_as_est(r['delta_accuracy']))} ({r['verdict']}), "
        f"tokens {_ci_tok(_as_est(r['delta_tokens']))}" for r in rows)
    mdd = "; ".join(f"vs {r['method']}: acc {100 * r['delta_accuracy']['mdd']:.1f} pt"
                    for r in rows)
    floor = _floor(mats, [REFERENCE, *present], n_boot=n_boot, seed=seed)
    return _row("multiplicative_vs_additive", claim, rule,
                stats.verdict_any([r["verdict"] for r in rows]), metric, {},
                mdd=mdd, floor=floor, comparisons=rows)


def _ratio(num: float | None, den: float | None) -> float | None:
    """``num / den`` of two times-to-compression; None marks "never reached" (infinite)."""
    if num is None and den is None:
        return None
    if den is None:
        return 0.0
    if num is None:
        return math.inf
    return num / den if den > 0 else math.inf


def cost_claim(costs: Mapping[str, Any], times: Mapping[str, Any], *,
               levels: Sequence[float] = COST_COMPRESSIONS,
               min_ratio: float = MIN_COST_RATIO, reference_tokens: float | None = None
               ) -> dict[str, Any]:
    """Rule 4: time to reach a compression, multistage / hmpo, per training seed.

    For c = ``levels[0]`` (the verdict; the others are reported) and each seed run by both:
    ``r_s = time_multistage(c) / time_hmpo(c)`` (seed-matched; a run that never reaches c
    counts as infinite time). Reproduced if every defined ``r_s >= min_ratio``; contradicted if
    every ``r_s < min_ratio``; else inconclusive (the seeds disagree). The smallest detectable
    ratio change: ``exp(2.80 * sd(log r_s) / sqrt(n))`` (finite, positive ratios, n >= 2).
    """
    claim = "Single-stage HMPO costs 1.5-2.5x less compute than a multi-stage pipeline"
    primary = f"{levels[0]:g}"
    rule = (f"per training seed s: r_s = T_multistage / T_hmpo, T = wall seconds until the "
            f"smoothed ({SMOOTH_STEPS}-step trailing mean) training completion length first "
            f"reaches <= (1 - {levels[0]:g}) x the base model's length at step 1 (multistage: "
            f"+ its sampling and SFT seconds); reproduced if every r_s >= {min_ratio}, "
            f"contradicted if every r_s < {min_ratio}, else inconclusive. Reported too: c = "
            + ", ".join(f"{c:g}" for c in levels[1:]) + " and the end-to-end device-seconds "
            "ratio per seed")
    th, tm = (times.get("hmpo") or {}), (times.get("multistage") or {})
    if not th or not tm or primary not in th:
        return _row("single_stage_cheaper", claim, rule, UNTESTABLE,
                    "training logs of hmpo or multistage missing", {})
    values: dict[str, Any] = {"reference_tokens": reference_tokens}
    text = []
    for c in levels:
        key = f"{c:g}"
        seeds = sorted(set(th.get(key, {})) & set(tm.get(key, {})), key=int)
        ratios = {s: _ratio(tm[key][s], th[key][s]) for s in seeds}
        values[f"c{key}"] = {
            "hmpo_seconds": {s: th[key][s] for s in seeds},
            "multistage_seconds": {s: tm[key][s] for s in seeds},
            "ratio": {s: (None if r is None or math.isinf(r) else r) for s, r in ratios.items()},
            "never_reached": {m: [s for s in seeds if t[key][s] is None]
                              for m, t in (("hmpo", th), ("multistage", tm))},
        }
        shown = ", ".join("never" if r is None else "inf" if math.isinf(r) else f"{r:.2f}x"
                          for r in ratios.values())
        text.append(f"c = {key}: ratio per seed {shown}")
    ratios = {s: _ratio(tm[primary][s], th[primary][s])
              for s in sorted(set(th[primary]) & set(tm[primary]), key=int)}
    defined = [r for r in ratios.values() if r is not None]
    ch, cm = costs.get("hmpo") or {}, costs.get("multistage") or {}
    dh, dm = ch.get("device_seconds_per_seed") or {}, cm.get("device_seconds_per_seed") or {}
    e2e = {s: dm[s] / dh[s] for s in sorted(set(dh) & set(dm), key=int) if dh[s]}
    values["end_to_end_ratio"] = e2e
    if e2e:
        text.append("end to end " + ", ".join(f"{r:.2f}x" for r in e2e.values()))
    if not defined:
        return _row("single_stage_cheaper", claim, rule, UNTESTABLE,
                    f"neither method reached {levels[0]:.0%} compression in any seed; "
                    + "; ".join(text), values)
    if all(r >= min_ratio for r in defined):
        verdict = REPRODUCED
    elif all(r < min_ratio for r in defined):
        verdict = CONTRADICTED
    else:
        verdict = INCONCLUSIVE
    logs = [math.log(r) for r in defined if 0 < r < math.inf]
    mdd = "–"
    if len(logs) >= 2:
        factor = math.exp(stats.min_detectable(float(np.std(logs, ddof=1)) / math.sqrt(len(logs))))
        values["mdd_factor"] = factor
        mdd = f"a ratio change by a factor {factor:.2f} (seed spread of log r_s)"
    return _row("single_stage_cheaper", claim, rule, verdict, "; ".join(text), values, mdd=mdd)


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
    """One row per paper claim, each verdict computed by its pre-registered rule.

    1. compression (:func:`compression_claim` on the main set);
    2. median vs fixed (:func:`median_vs_fixed_claim`, ``fixed`` = the hmpo_fixed methods);
    3. multiplicative vs additive (:func:`additive_claim`);
    4. single stage cheaper (:func:`cost_claim`, ``times`` = :func:`cost_to_compression`);
    5. length generalisation: rule 1 on ``synthetic_transfer`` (longer chains than trained on).

    A claim whose inputs are absent is "untestable here", with the reason in ``metric``; so
    are the accuracy claims when the base model's accuracy on the set is 0.
    """
    kw = dict(n_boot=n_boot, seed=seed)
    return [
        compression_claim(summary, matrices, "compression",
                          "Single-stage HMPO shortens responses by 19-46% with negligible "
                          "accuracy loss (<= 0.7 pt)", summary["main_set"], tol=tol, **kw),
        median_vs_fixed_claim(summary, matrices, fixed, tol=tol, budgets=budgets, **kw),
        additive_claim(summary, matrices, **kw),
        cost_claim(costs, times or {}, reference_tokens=reference_tokens),
        compression_claim(summary, matrices, "length_generalisation",
                          "Length generalisation: compression at negligible accuracy loss holds "
                          "on longer chains than trained on", TRANSFER_SET, tol=tol, **kw),
    ]


# ----------------------------------------------------------------------------- disclosures
#: Where the record of changes made after seeing results lives (repository-relative); read by
#: :func:`hmpo.analysis.report.load_disclosures`, named in claims.md.
DISCLOSURES_PATH = "docs/disclosures.yaml"
#: The fields of one record entry, and of one flipped verdict and its two sides.
DISCLOSURE_FIELDS = ("key", "from", "to", "commit", "why", "profiles", "verdicts_flipped")
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


def validate_disclosures(raw: Any, where: str = DISCLOSURES_PATH) -> list[dict[str, Any]]:
    """The record of changes made after seeing results, checked; ValueError naming the entry
    and the field at fault.

    The record is a mapping ``{"changes": [entry, ...]}`` (an empty list: nothing changed).
    Each entry has exactly :data:`DISCLOSURE_FIELDS`: ``key`` (the dotted params key changed),
    ``from`` and ``to`` (its values, different), ``commit`` (the commit that changed it),
    ``why`` (text), ``profiles`` (the profiles whose results it applies to, distinct names of
    :data:`hmpo.config.PROFILE_NAMES`) and ``verdicts_flipped``: a list (possibly empty) of
    ``{"claim": a claim id of CLAIM_IDS, "before": side, "after": side}``, a side being
    ``{"verdict": one of VERDICTS, "value": the number it rests on, as text, "results": the
    commit of those results}``; before and after verdicts differ (the verdict flipped).

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
        e = _fields(node, DISCLOSURE_FIELDS, at)
        key = _text(e["key"], f"{at}.key")
        if not _KEY.fullmatch(key):
            raise ValueError(f"{at}.key: expected a dotted params key (train.max_steps), "
                             f"got {key!r}")
        if e["from"] == e["to"]:
            raise ValueError(f"{at}: from and to are both {e['from']!r}: nothing changed")
        profiles = e["profiles"]
        if not isinstance(profiles, list) or not profiles or len(set(map(str, profiles))) \
                < len(profiles) or any(p not in PROFILE_NAMES for p in profiles):
            raise ValueError(f"{at}.profiles: expected a non-empty list of distinct profiles "
                             f"of {list(PROFILE_NAMES)}, got {profiles!r}")
        flips = e["verdicts_flipped"]
        if not isinstance(flips, list):
            raise ValueError(f"{at}.verdicts_flipped: expected a list (empty: none flipped), "
                             f"got {flips!r}")
        checked = []
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
        out.append({"key": key, "from": e["from"], "to": e["to"],
                    "commit": _commit(e["commit"], f"{at}.commit"),
                    "why": " ".join(_text(e["why"], f"{at}.why").split()),
                    "profiles": list(profiles), "verdicts_flipped": checked})
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
        out += (f"- `{e['key']}`: {_value(e['from'])} -> {_value(e['to'])} (commit "
                f"{e['commit']}). {e['why']} Verdicts flipped: {flips}.\n")
    return out


CLAIMS_PREAMBLE = """\
The rules below were fixed before the three-seed results existed (issue 11) and are applied by
`hmpo.analysis.claims.evaluate_claims`; nothing is tuned to the outcome, and every setting
changed after results had been seen is listed under "Changes made after seeing results", with
the verdicts it flipped. Every comparison is paired: all models answer the same evaluation
problems with the same samples per problem, and a paired hierarchical bootstrap ({n_boot}
replicates, `hmpo.analysis.stats`) resamples the problems (the same ones for both models) and
each model's training seeds (the base model is one run). Verdicts are three-valued:
**reproduced** (the whole 95% interval satisfies the claim), **contradicted** (the whole
interval violates it), **inconclusive** (the interval straddles the claim's bound: this design
cannot tell); **untestable here** when the inputs are missing. "Smallest detectable" is the
minimal detectable difference, (z_0.975 + z_0.80) x SE = 2.80 x SE: the true difference this
design finds with 80% power at 5% (two-sided). "Floor" marks rows whose models all sit at the
same value within their own CIs, in accuracy and tokens.

Tolerances: negligible accuracy loss = {tol:.1f} pt (the paper's); compression >= 19% (the
paper's low end); cost ratio >= 1.5 (the paper's low end).

Not testable at this scale: the paper's cross-domain transfer (training on math, evaluating on
code, science and instruction following). The tiny model here knows one synthetic task; the
"length generalisation" row tests only longer chains of the same task than it was trained on.
"""


def claims_markdown(claims: Sequence[Mapping[str, Any]], summary: Mapping[str, Any],
                    disclosures: Sequence[Mapping[str, Any]]) -> str:
    """claims.md: the rules, the changes made after seeing results that apply to the summary's
    profile (``disclosures``: the whole record, :func:`validate_disclosures`), one row per
    claim, then the per-comparison rows of the claims that have them."""
    seeds = summary.get("train_seeds")
    steps = summary.get("train_steps")
    head = (f"# Paper claims at this scale\n\nProfile `{summary['profile']}`, training seeds "
            f"{seeds if seeds is not None else [summary['seed']]}"
            + (f", {steps} RL steps per training run" if steps and steps > 0 else "")
            + ", evaluation/data seed "
            f"{summary['seed']}, main set `{summary['main_set']}`. The paper's results are on "
            "Qwen3.5 models at 9B-122B parameters, these are not.\n\n"
            + CLAIMS_PREAMBLE.format(
                n_boot=summary.get("n_bootstrap", N_BOOT), tol=100 * NEGLIGIBLE_LOSS) + "\n"
            + disclosures_markdown(disclosures, summary["profile"]) + "\n## Verdicts\n\n")
    lines = ["| Claim | Verdict | Metric | Smallest detectable | Rule | Note |",
             "| --- | --- | --- | --- | --- | --- |"]
    for c in claims:
        cells = [c["claim"], f"**{c['verdict']}**", c["metric"], c.get("mdd", "–"), c["rule"],
                 c["note"]]
        lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    out = head + "\n".join(lines) + "\n"
    for c in claims:
        if not c.get("comparisons"):
            continue
        out += (f"\n## {c['id']}: per comparison (hmpo - other, paired)\n\n"
                "| Other | ΔAcc (pt) [95% CI] | MDD acc (pt) | ΔTokens [95% CI] | MDD tokens | "
                "Verdict |\n| --- | --- | --- | --- | --- | --- |\n")
        for r in c["comparisons"]:
            da, dt = _as_est(r["delta_accuracy"]), _as_est(r["delta_tokens"])
            v = r.get("verdict") or f"hmpo dominates: {r.get('hmpo_dominates')}"
            name = r["method"] + (f" (T = {r['budget_tokens']:.0f})"
                                  if r.get("budget_tokens") is not None else "")
            out += (f"| {name} | {_ci_pt(da)} | {100 * da.mdd:.1f} | {_ci_tok(dt)} | "
                    f"{dt.mdd:.1f} | {v} |\n")
    return out

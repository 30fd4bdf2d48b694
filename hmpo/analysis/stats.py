"""Paired statistics across problems and training seeds: bootstrap CIs, power, verdicts.

Every model is evaluated on the same problems with the same number of samples, so two models
are compared *paired by problem*; a trained method has several training seeds, and seed-to-seed
differences are larger than one run's interval over problems, so the seeds must enter the
interval too. The data of one model on one set is a matrix ``X`` of shape
``(n_seeds, n_problems)``: per training seed (row) and problem (column, the same problem order
for every model) the problem's mean over its samples of a statistic (correctness, tokens). The
base model has one run: a 1-row matrix.

**Hierarchical paired bootstrap** (:func:`bootstrap_means`). One replicate draws

1. ``n_problems`` problem indices with replacement, *the same indices for every model*
   (paired: the problem-to-problem variation common to the models cancels in a difference);
2. for each model separately, ``n_seeds`` of its seeds with replacement (a model with one
   run is fixed: nothing to resample);

and takes each model's mean over the drawn seeds and problems. Over ``n_boot`` replicates
this gives the joint sampling distribution of the models' means, from which any function of
them (a difference, a compression ratio, a gap to a frontier) gets a percentile interval. With
3 seeds the seed level of the bootstrap is coarse (and underestimates the seed variance by a
factor ``(n - 1) / n``); it is still the only honest way to let seed spread widen the interval.

**Minimal detectable difference** (:func:`min_detectable`): the true difference a two-sided
5% test has 80% power to detect, ``MDD = (z_0.975 + z_0.80) * SE = 2.80 * SE``, with ``SE``
the bootstrap standard error of the difference (normal approximation).

**Verdicts** (:func:`verdict_at_least`, :func:`verdict_below`, :func:`verdict_above`): three
values, decided by where the 95% interval lies relative to the claim's bound:
``reproduced`` (the whole interval satisfies the claim), ``contradicted`` (the whole interval
violates it), ``inconclusive`` (the interval contains the bound: the design cannot tell).

>>> import numpy as np
>>> a = np.array([[1.0, 0.0, 1.0, 1.0]]); b = np.array([[0.0, 1.0, 1.0, 0.0]])
>>> c = paired_difference(a, b, n_boot=200, seed=0)
>>> c.estimate, verdict_at_least(c.ci, -0.007)
(0.25, 'inconclusive')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "contradicted", "inconclusive"
#: z quantiles of the power formula: two-sided 5% test, 80% power.
Z_ALPHA = 1.959963984540054  # Phi^-1(0.975)
Z_POWER = 0.8416212335729143  # Phi^-1(0.80)
LEVEL = 0.95


def _as_matrix(x: np.ndarray | Sequence, name: str) -> np.ndarray:
    """``x`` as a finite float array ``(n_stats, n_seeds, n_problems)``.

    A 1-D input is one seed of one statistic, a 2-D input ``(seeds, problems)`` one statistic.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim == 2:
        arr = arr[None, :, :]
    if arr.ndim != 3 or 0 in arr.shape:
        raise ValueError(f"{name} must be a non-empty (seeds x problems) matrix, "
                         f"got shape {np.shape(x)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _counts(rng: np.random.Generator, n_boot: int, n: int) -> np.ndarray:
    """``(n_boot, n)`` multiplicities of ``n`` items drawn with replacement, per replicate."""
    idx = rng.integers(0, n, size=(n_boot, n)) + (np.arange(n_boot) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def bootstrap_means(
    matrices: Sequence[np.ndarray], *, n_boot: int = 2000, seed: int = 0
) -> np.ndarray:
    """Joint hierarchical bootstrap replicates of each model's mean: ``(n_boot, n_columns)``.

    ``matrices[j]`` is model j's ``(n_seeds_j, n_problems)`` matrix, or several statistics of
    one model stacked as ``(n_stats, n_seeds_j, n_problems)`` (e.g. accuracy and tokens: they
    then share the model's seed draws, keeping their correlation across seeds); one output
    column per statistic, in order. Every model must have the same problems (columns, same
    order). Problems are resampled once per replicate and shared by all models (paired); each
    model's seeds are resampled independently (a one-run model stays fixed). Deterministic
    given ``seed``. Vectorised: a replicate mean is ``u @ X @ w / (n_seeds * n_problems)``
    with ``u``, ``w`` the seed and problem counts.

    >>> x = np.array([[1.0, 1.0, 1.0]])
    >>> bootstrap_means([x, 2 * x], n_boot=3, seed=0).tolist()
    [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    mats = [_as_matrix(m, f"matrices[{j}]") for j, m in enumerate(matrices)]
    if not mats:
        raise ValueError("matrices is empty")
    n_problems = mats[0].shape[2]
    for j, m in enumerate(mats):
        if m.shape[2] != n_problems:
            raise ValueError(f"matrices[{j}] has {m.shape[2]} problems, matrices[0] "
                             f"{n_problems}: paired comparisons need the same problems")
    rng = np.random.default_rng(seed)
    w = _counts(rng, n_boot, n_problems)  # shared problem draw: the pairing
    cols = []
    for m in mats:
        n_seeds = m.shape[1]
        if n_seeds == 1:
            cols.append(w @ m[:, 0, :].T / n_problems)  # (n_boot, n_stats)
        else:
            u = _counts(rng, n_boot, n_seeds)  # this model's own seed draw
            per_problem = np.einsum("bs,ksp->kbp", u, m) / n_seeds
            cols.append(np.einsum("kbp,bp->bk", per_problem, w) / n_problems)
    return np.concatenate(cols, axis=1)


def percentile_ci(replicates: np.ndarray, level: float = LEVEL) -> list[float]:
    """``[low, high]``: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(replicates, dtype=np.float64), [tail, 1.0 - tail])
    return [float(low), float(high)]


def min_detectable(se: float, *, z_alpha: float = Z_ALPHA, z_power: float = Z_POWER) -> float:
    """Minimal detectable difference ``(z_alpha + z_power) * se``.

    With the defaults: the true difference that a two-sided test at 5% rejects with 80%
    probability, given the standard error ``se`` of the estimated difference (normal
    approximation): ``2.8016 * se``.

    >>> round(min_detectable(1.0), 4)
    2.8016
    """
    if not math.isfinite(se) or se < 0:
        raise ValueError(f"se must be finite and >= 0, got {se!r}")
    return float((z_alpha + z_power) * se)


@dataclass(frozen=True)
class Estimate:
    """A bootstrap estimate: point value, 95% percentile CI, bootstrap SE and the MDD."""

    estimate: float
    ci: list[float]
    se: float
    mdd: float

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(point: float, replicates: np.ndarray, level: float = LEVEL) -> Estimate:
    """An :class:`Estimate` from a point value and its bootstrap replicates."""
    reps = np.asarray(replicates, dtype=np.float64)
    se = float(reps.std(ddof=1)) if reps.size > 1 else 0.0
    return Estimate(float(point), percentile_ci(reps, level), se, min_detectable(se))


def model_mean(x: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> Estimate:
    """One model's mean over seeds and problems with the hierarchical bootstrap's CI."""
    m = _as_matrix(x, "x")
    return summarize(float(m.mean()), bootstrap_means([m], n_boot=n_boot, seed=seed)[:, 0])


def paired_difference(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000,
                      seed: int = 0) -> Estimate:
    """``mean(A) - mean(B)`` over seeds and problems, with its paired hierarchical bootstrap.

    The point estimate is the difference of the across-seed means (each model's mean over its
    seeds of its mean over problems); the CI, SE and MDD come from :func:`bootstrap_means`.

    >>> x = np.array([[0.0, 1.0, 2.0]])
    >>> e = paired_difference(x + 1, x, n_boot=50, seed=0)  # a constant shift: no variance
    >>> e.estimate, [round(v, 9) for v in e.ci], round(e.se, 9)
    (1.0, [1.0, 1.0], 0.0)
    """
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    reps = bootstrap_means([a, b], n_boot=n_boot, seed=seed)
    return summarize(float(a.mean() - b.mean()), reps[:, 0] - reps[:, 1])


# ----------------------------------------------------------------------------- verdicts
def verdict_at_least(ci: Sequence[float], bound: float) -> str:
    """Claim "the quantity is >= ``bound``" (e.g. non-inferiority: ``acc(A) - acc(B) >= -tol``).

    reproduced if ``low >= bound``; contradicted if ``high < bound``; else inconclusive.

    >>> verdict_at_least([-0.005, 0.02], -0.007), verdict_at_least([-0.03, -0.008], -0.007)
    ('reproduced', 'contradicted')
    """
    low, high = _ci(ci)
    if low >= bound:
        return REPRODUCED
    if high < bound:
        return CONTRADICTED
    return INCONCLUSIVE


def verdict_below(ci: Sequence[float], bound: float = 0.0) -> str:
    """Claim "the quantity is < ``bound``" (e.g. A shorter than B: ``tokens(A) - tokens(B) < 0``).

    reproduced if ``high < bound`` (the whole interval below); contradicted if
    ``low >= bound`` (the whole interval at or above: A is not shorter); else inconclusive.

    >>> verdict_below([-3.0, -0.1]), verdict_below([0.0, 0.0]), verdict_below([-1.0, 1.0])
    ('reproduced', 'contradicted', 'inconclusive')
    """
    low, high = _ci(ci)
    if high < bound:
        return REPRODUCED
    if low >= bound:
        return CONTRADICTED
    return INCONCLUSIVE


def verdict_above(ci: Sequence[float], bound: float = 0.0) -> str:
    """Claim "the quantity is > ``bound``" (e.g. A more accurate than B).

    reproduced if ``low > bound``; contradicted if ``high <= bound``; else inconclusive.

    >>> verdict_above([0.01, 0.05]), verdict_above([-0.02, 0.0]), verdict_above([-0.01, 0.01])
    ('reproduced', 'contradicted', 'inconclusive')
    """
    low, high = _ci(ci)
    if low > bound:
        return REPRODUCED
    if high <= bound:
        return CONTRADICTED
    return INCONCLUSIVE


def verdict_all(verdicts: Sequence[str]) -> str:
    """A conjunction of sub-claims: reproduced if all are, contradicted if any is, else
    inconclusive.

    >>> verdict_all(["reproduced", "inconclusive"]), verdict_all(["contradicted", "reproduced"])
    ('inconclusive', 'contradicted')
    """
    if not verdicts:
        raise ValueError("verdicts is empty")
    if any(v == CONTRADICTED for v in verdicts):
        return CONTRADICTED
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return INCONCLUSIVE


def verdict_any(verdicts: Sequence[str]) -> str:
    """"Better than at least one": reproduced if some sub-claim is reproduced and none
    contradicted, contradicted if some is contradicted and none reproduced, else inconclusive
    (mixed evidence or no evidence either way).

    >>> verdict_any(["reproduced", "inconclusive"]), verdict_any(["reproduced", "contradicted"])
    ('reproduced', 'inconclusive')
    """
    if not verdicts:
        raise ValueError("verdicts is empty")
    rep, con = REPRODUCED in verdicts, CONTRADICTED in verdicts
    if rep and not con:
        return REPRODUCED
    if con and not rep:
        return CONTRADICTED
    return INCONCLUSIVE


def _ci(ci: Sequence[float]) -> tuple[float, float]:
    if ci is None or len(ci) != 2:
        raise ValueError(f"ci must be [low, high], got {ci!r}")
    low, high = float(ci[0]), float(ci[1])
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"ci must be finite with low <= high, got {ci!r}")
    return low, high


def common_value(cis: Sequence[Sequence[float]]) -> bool:
    """Whether some value lies inside every interval (all models "at the same value within
    their CIs": the floor flag of a claim row).

    >>> common_value([[15.8, 16.4], [16.0, 16.6], [16.2, 16.3]]), common_value([[1, 2], [3, 4]])
    (True, False)
    """
    if not cis:
        raise ValueError("cis is empty")
    pairs = [_ci(c) for c in cis]
    return max(lo for lo, _ in pairs) <= min(hi for _, hi in pairs)


# ----------------------------------------------------------------------------- frontier
def frontier_value(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """The piecewise-linear frontier through ``(xs, ys)`` evaluated at ``x``.

    Points are sorted by ``xs``; between two points the frontier interpolates linearly;
    left of the first and right of the last it stays flat at the end point's ``y`` (no
    extrapolation). Points with equal ``x`` keep the higher ``y``.

    >>> frontier_value(15.0, [10.0, 20.0, 30.0], [0.5, 0.7, 0.8])
    0.6
    >>> [frontier_value(x, [10.0, 20.0], [0.5, 0.7]) for x in (5.0, 40.0)]
    [0.5, 0.7]
    """
    xs_a, ys_a = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    if xs_a.shape != ys_a.shape or xs_a.ndim != 1 or xs_a.size == 0:
        raise ValueError("xs and ys must be non-empty 1-D sequences of the same length")
    best: dict[float, float] = {}
    for xi, yi in zip(xs_a.tolist(), ys_a.tolist(), strict=True):
        best[xi] = max(yi, best.get(xi, -math.inf))
    px = np.array(sorted(best))
    py = np.array([best[v] for v in px])
    return float(np.interp(x, px, py))


def frontier_gap(acc_reps: np.ndarray, tok_reps: np.ndarray, fixed_acc_reps: np.ndarray,
                 fixed_tok_reps: np.ndarray) -> np.ndarray:
    """Per replicate, ``acc - frontier(tokens)``: a model's accuracy above (> 0) or below the
    frontier of a family of models (e.g. fixed budgets) at the model's own length.

    ``acc_reps``, ``tok_reps``: ``(n_boot,)``; ``fixed_*_reps``: ``(n_boot, n_family)``,
    replicates from the same :func:`bootstrap_means` call (the problems are paired).
    """
    acc_reps, tok_reps = np.asarray(acc_reps), np.asarray(tok_reps)
    fa, ft = np.atleast_2d(fixed_acc_reps), np.atleast_2d(fixed_tok_reps)
    if not (acc_reps.shape[0] == tok_reps.shape[0] == fa.shape[0] == ft.shape[0]):
        raise ValueError("replicate counts differ")
    return np.array([a - frontier_value(t, xs, ys) for a, t, xs, ys in zip(
        acc_reps, tok_reps, ft, fa, strict=True)])


def round_floats(obj: Any, digits: int = 4) -> Any:
    """``obj`` with every float rounded to ``digits`` decimals (recursively; -0.0 becomes 0.0):
    the estimates written to JSON are then byte-stable across reruns. Non-finite floats are
    rejected (JSON has no NaN)."""
    if isinstance(obj, (float, np.floating)):
        obj = float(obj)
        if not math.isfinite(obj):
            raise ValueError(f"non-finite value {obj!r} cannot go into the report")
        return round(obj, digits) + 0.0
    if isinstance(obj, Mapping):
        return {str(k): round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_floats(v, digits) for v in obj]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    return obj

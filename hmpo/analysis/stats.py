"""Paired statistics across problems and training seeds: calibrated intervals, power, verdicts.

Every model is evaluated on the same problems with the same number of samples, so two models
are compared *paired by problem*; a trained method has several training seeds, and seed-to-seed
differences are often larger than one run's interval over problems, so the seeds must enter the
interval too. The data of one model on one set is a matrix ``X`` of shape
``(n_seeds, n_problems)``: per training seed (row) and problem (column, the same problem order
for every model) the problem's mean over its samples of a statistic (correctness, tokens). The
base model has one run: a 1-row matrix.

**Seed-t interval** (:func:`seed_t_interval`; the default of :func:`paired_difference`,
:func:`model_mean` and :func:`seed_t_estimate`). For ``D = sum_j w_j mean(X_j)`` (a paired
difference: ``w = (+1, -1)``; one model's mean: ``w = (1,)``):

* *units*: a model's runs, unpaired between models; with ``groups`` (runs grouped by base seed,
  at least 2 groups) the group means, each group weighing the same, and models with the same
  groups are paired by group. ``Z_b`` = the ``(n_b units x P problems)`` matrix of a *block*:
  one model's ``w_j Z_j``, or the sum of the paired models' (aligned by group);
* problem term ``T = s^2_p(sum_b zbar_b[p]) / P``, ``zbar_b[p]`` the mean over its units of
  block b's column p, ``s^2_p`` the sample variance over the P problems (the problem-level
  variance, paired: what models share per problem cancels); df ``P - 1``;
* seed term of a block with ``n_b >= 2`` units: ``S_b = max(U_b - W_b, 0)`` with
  ``U_b = s^2_u(row means of Z_b) / n_b`` (between units) and ``W_b = MS_res(Z_b) / (n_b P)``,
  ``MS_res`` the residual mean square of the additive units + problems fit (df
  ``(n_b - 1)(P - 1)``): the within-unit problem noise, which ``U_b`` holds and ``T`` already
  counts (without it the interval is ~1.5x too wide where seeds agree);
* ``SE^2 = T + S``, ``S = sum_b S_b`` (the seed terms); the 95% CI is ``D +- q SE`` with
  ``q = max(q_S, q_CC)`` (:func:`combine_levels`):

  - Satterthwaite on the mean squares: ``q_S = t_{0.975, df_S}``, ``df_S = SE^4 / (T^2 /
    (P - 1) + sum_{S_b > 0} (U_b^2 / (n_b - 1) + W_b^2 / ((n_b - 1)(P - 1))))``;
  - Cochran-Cox across the two levels: ``q_CC = ((SE^2 - S) t_{0.975, P - 1} + S
    t_{0.975, df_seed}) / SE^2``, ``df_seed = S^2 / sum_b (S_b^2 / (n_b - 1))`` (Welch);

  each alone under-covers (0.92-0.93) in a corner the other covers (see
  :func:`combine_levels`);
* ``df``: the effective df, ``t_{0.975, df} = q``; ``MDD = (q + t_{0.80, df}) SE``
  (= :func:`min_detectable` with that df).

Which branch acts is read off the data: seeds that agree (every ``S_b = 0``, or one run) give
``df = P - 1``, the problem-level interval (~1.97 SE); seed spread that dominates gives
``df -> n_seeds - 1`` (one seeded model: the t interval on the per-seed means, 4.30 SE at 3
seeds; two: up to Welch's df); in between, the two levels' quantiles mix. The output says
which (``seed_share``: ``S / SE^2``; ``df``), and a comparison limited by its seeds with
fewer than :data:`MIN_SEEDS` seeds says so (``seeds_needed``, :func:`seeds_needed`).
Known-answer simulation (tests/test_stats.py: 200 problems x 4 samples, 3 or 5 seeds, seed
sd 0-7 pt, vs another seeded method or vs the base model): coverage 0.94-0.98, where the
bootstrap below gives 0.85-0.91 at 4-7 pt with 3 seeds. With one base model per training
seed (the units are base seeds, every model paired by them): 0.92-0.93 with 3 seeds at a
seed sd of 4 pt (a 2-df seed term drawn small), 0.95 with 5, 0.96-0.97 where seeds agree.

**Hierarchical paired bootstrap** (:func:`bootstrap_means`; ``method="bootstrap"``). One
replicate draws

1. ``n_problems`` problem indices with replacement, *the same indices for every model*
   (paired: the problem-to-problem variation common to the models cancels in a difference);
2. for each model separately, ``n_seeds`` of its seeds with replacement (a model with one
   run is fixed: nothing to resample);

and takes each model's mean over the drawn seeds and problems. Over ``n_boot`` replicates
this gives the joint sampling distribution of the models' means, from which any function of
them gets a percentile interval. With 3 seeds its seed level is coarse: it under-covers where
seeds disagree (0.88 at a seed sd of 7 pt) and double-counts the within-seed noise where they
agree (1.2-1.5x too wide), hence the seed-t interval above.

**Minimal detectable difference** (:func:`min_detectable`): the true difference a two-sided
5% test has 80% power to detect, ``MDD = (q_0.975 + q_0.80) * SE``: 2.80 SE with normal
quantiles (the bootstrap), the t quantiles of the interval's df otherwise (5.36 SE at 2 df).

**Verdicts** (:func:`verdict_at_least`, :func:`verdict_below`, :func:`verdict_above`): three
values, decided by where the 95% interval lies relative to the claim's bound:
``reproduced`` (the whole interval satisfies the claim), ``contradicted`` (the whole interval
violates it), ``inconclusive`` (the interval contains the bound: the design cannot tell).

>>> import numpy as np
>>> a = np.array([[1.0, 0.0, 1.0, 1.0]]); b = np.array([[0.0, 1.0, 1.0, 0.0]])
>>> c = paired_difference(a, b)
>>> c.estimate, c.df, verdict_at_least(c.ci, -0.007)
(0.25, 3.0, 'inconclusive')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "contradicted", "inconclusive"
#: z quantiles of the power formula: two-sided 5% test, 80% power.
Z_ALPHA = 1.959963984540054  # Phi^-1(0.975)
Z_POWER = 0.8416212335729143  # Phi^-1(0.80)
LEVEL = 0.95
POWER = 0.80
#: The two interval methods (Estimate.method).
SEED_T, BOOTSTRAP = "seed-t", "bootstrap"
#: Fewest seeds for a comparison whose seed term dominates: below it the t quantile of its
#: ~n_seeds - 1 df inflates the interval (t_0.975 = 4.30 at 3 seeds, 2.78 at 5; MDD 5.36 SE
#: vs 3.72 SE) on top of the seed variance itself.
MIN_SEEDS = 5


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


# ----------------------------------------------------------------------------- Student t
_TINY = 1e-300
_LGAMMA = np.vectorize(math.lgamma, otypes=[float])
_ERF = np.vectorize(math.erf, otypes=[float])
#: From this many degrees of freedom on, t quantiles come from the Cornish-Fisher expansion
#: (error < 3e-7 at 20 df, falling as df^-5); below it the incomplete beta is inverted.
_EXPANSION_DF = 20.0


def _betacf(a: np.ndarray, b: np.ndarray, x: np.ndarray, maxit: int = 400) -> np.ndarray:
    """The continued fraction of the incomplete beta function (modified Lentz), vectorised."""
    def guard(v: np.ndarray) -> np.ndarray:
        return np.where(np.abs(v) < _TINY, _TINY, v)

    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 / guard(1.0 - qab * x / qap)
    h = d.copy()
    for m in range(1, maxit + 1):
        aa = m * (b - m) * x / ((qam + 2 * m) * (a + 2 * m))
        d = 1.0 / guard(1.0 + aa * d)
        c = guard(1.0 + aa / c)
        h = h * d * c
        aa = -(a + m) * (qab + m) * x / ((a + 2 * m) * (qap + 2 * m))
        d = 1.0 / guard(1.0 + aa * d)
        c = guard(1.0 + aa / c)
        h = h * d * c
        if np.all(np.abs(d * c - 1.0) < 1e-15):
            break
    return h


def _betainc(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The regularised incomplete beta function ``I_x(a, b)``, vectorised."""
    a, b, x = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, x)))
    xc = np.clip(x, 1e-300, 1.0 - 1e-16)
    front = np.exp(_LGAMMA(a + b) - _LGAMMA(a) - _LGAMMA(b) + a * np.log(xc)
                   + b * np.log1p(-xc))
    direct = xc < (a + 1.0) / (a + b + 2.0)  # where the fraction converges fast
    aa, bb, xx = np.where(direct, a, b), np.where(direct, b, a), np.where(direct, xc, 1 - xc)
    frac = _betacf(aa, bb, xx)
    out = np.where(direct, front * frac / a, 1.0 - front * frac / b)
    return np.where(x <= 0, 0.0, np.where(x >= 1, 1.0, out))


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _ERF(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)))


def t_cdf(x: float | np.ndarray, df: float | np.ndarray) -> float | np.ndarray:
    """``P(T <= x)`` for Student's t with ``df`` degrees of freedom (``inf``: the normal).

    Vectorised over ``x`` and ``df`` (broadcast); a float for scalar inputs.

    >>> round(float(t_cdf(4.302652729911275, 2)), 6), round(float(t_cdf(1.96, math.inf)), 4)
    (0.975, 0.975)
    """
    x, df = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(df, dtype=np.float64))
    if np.any(df <= 0) or np.any(np.isnan(df)):
        raise ValueError("df must be > 0")
    finite = np.isfinite(df)
    dfs = np.where(finite, df, 1.0)
    tail = 0.5 * _betainc(dfs / 2.0, 0.5, dfs / (dfs + x * x))  # P(T > |x|)
    out = np.where(finite, np.where(x >= 0, 1.0 - tail, tail), _normal_cdf(x))
    return float(out) if out.ndim == 0 else out


def t_quantile(p: float, df: float | np.ndarray) -> float | np.ndarray:
    """The ``p`` quantile of Student's t with ``df`` (> 0) degrees of freedom; ``inf``: the
    normal. Vectorised over ``df``; a float for a scalar ``df``.

    From 20 df on: the Cornish-Fisher expansion in ``1/df`` (four terms); below, Newton's
    method on ``P(T <= t) = 1 - 0.5 I_{df/(df + t^2)}(df/2, 1/2)`` from the larger of the
    expansion and the normal quantile (the CDF is concave right of 0 and the root lies above
    the normal quantile, so the iterates cannot leave ``[z, inf)``).

    >>> [round(float(t_quantile(0.975, d)), 4) for d in (1, 2, 4, 30, math.inf)]
    [12.7062, 4.3027, 2.7764, 2.0423, 1.96]
    >>> round(float(t_quantile(0.975, 2) + t_quantile(0.8, 2)), 2)  # the MDD factor at 3 seeds
    5.36
    """
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    dfa = np.asarray(df, dtype=np.float64)
    if np.any(dfa <= 0) or np.any(np.isnan(dfa)):
        raise ValueError("df must be > 0")
    if p < 0.5:
        out = -np.asarray(t_quantile(1.0 - p, dfa))
        return float(out) if out.ndim == 0 else out
    z = NormalDist().inv_cdf(p)
    big = np.where(dfa >= _EXPANSION_DF, dfa, _EXPANSION_DF)
    expansion = (z + (z**3 + z) / 4 / big + (5 * z**5 + 16 * z**3 + 3 * z) / 96 / big**2
                 + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384 / big**3
                 + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z)
                 / 92160 / big**4)
    out = np.where(np.isfinite(dfa), expansion, z)
    small = dfa < _EXPANSION_DF
    if np.any(small) and p > 0.5:
        v = dfa[small]
        start = (z + (z**3 + z) / 4 / v + (5 * z**5 + 16 * z**3 + 3 * z) / 96 / v**2)
        x = np.maximum(start, z)
        log_norm = _LGAMMA((v + 1) / 2) - _LGAMMA(v / 2) - 0.5 * np.log(v * math.pi)
        for _ in range(60):
            cdf = 1.0 - 0.5 * _betainc(v / 2.0, 0.5, v / (v + x * x))
            pdf = np.exp(log_norm - (v + 1) / 2 * np.log1p(x * x / v))
            step = (p - cdf) / pdf
            x = np.maximum(x + step, z)
            if np.all(np.abs(step) <= 1e-13 * x):
                break
        out = out.copy()
        out[small] = x
    if p == 0.5:
        out = np.zeros_like(out)
    return float(out) if out.ndim == 0 else out


# ----------------------------------------------------------------------------- seed-t interval
def _units(y: np.ndarray, groups: Sequence[Hashable] | None) -> tuple[np.ndarray, tuple | None]:
    """One model's seed-level units: ``(unit matrix (..., n_units, P), group labels or None)``.

    Without ``groups`` (or with a single group: the interval is then conditional on it) the
    units are the runs, unpaired; runs grouped by base seed into >= 2 groups give one unit per
    group (its runs' mean: each group weighs the same), labelled for pairing across models.
    """
    if groups is None:
        return y, None
    labels = [g.item() if isinstance(g, np.generic) else g for g in groups]
    if len(labels) != y.shape[-2]:
        raise ValueError(f"groups has {len(labels)} labels for {y.shape[-2]} runs")
    distinct = sorted(set(labels), key=repr)
    if len(distinct) < 2:
        return y, None
    rows = [[i for i, g in enumerate(labels) if g == d] for d in distinct]
    return np.stack([y[..., r, :].mean(axis=-2) for r in rows], axis=-2), tuple(distinct)


def seed_t_interval(matrices: Sequence[np.ndarray], weights: Sequence[float], *,
                    groups: Sequence[Sequence[Hashable] | None] | None = None,
                    level: float = LEVEL) -> dict[str, np.ndarray]:
    """The seed-t interval of ``D = sum_j weights[j] * mean(matrices[j])`` (module docstring),
    vectorised over independent data sets.

    ``matrices[j]``: model j's ``(..., n_runs_j, n_problems)`` array; leading dims (the same
    for every model) index independent data sets, e.g. simulation replicates. ``groups[j]``:
    None, or model j's base-seed label per run. Returns arrays of the leading shape:
    ``estimate``, ``se``, ``df`` (``inf`` where SE is 0), ``low``, ``high``, ``mdd``,
    ``seed_share`` (the seed terms' part of SE^2), ``seed_df`` (their Welch df; inf without
    one) and ``seed_units`` (units of the largest seed term; 0 where there is none).

    >>> base = np.array([[0.6, 0.8, 1.0]])  # one run
    >>> x = base + np.array([[-0.1], [0.0], [0.1]])  # three seeds, shifted by -0.1, 0, +0.1
    >>> r = seed_t_interval([x, base], [1.0, -1.0])  # only the seeds vary: t on 2 df
    >>> [round(float(r[k]), 4) for k in ("estimate", "se", "df", "high", "seed_share")]
    [0.0, 0.0577, 2.0, 0.2484, 1.0]
    """
    if len(weights) != len(matrices) or not matrices:
        raise ValueError("one weight per matrix, at least one matrix")
    if groups is None:
        groups = [None] * len(matrices)
    if len(groups) != len(matrices):
        raise ValueError("groups needs one entry (None or labels) per matrix")
    blocks: dict[Hashable, np.ndarray] = {}
    for j, (m, w, g) in enumerate(zip(matrices, weights, groups, strict=True)):
        y = np.asarray(m, dtype=np.float64)
        if y.ndim < 2 or 0 in y.shape[-2:]:
            raise ValueError(f"matrices[{j}] must be (..., runs, problems), got {y.shape}")
        z, labels = _units(y, g)
        key = ("groups", labels) if labels is not None else ("model", j)
        blocks[key] = float(w) * z + blocks.get(key, 0.0)
    shapes = {(b.shape[:-2], b.shape[-1]) for b in blocks.values()}
    if len(shapes) != 1:
        raise ValueError(f"matrices differ in data sets or problems: {sorted(shapes)}; paired "
                         "comparisons need the same problems")
    n_problems = next(iter(shapes))[1]
    point = sum(b.mean(axis=(-2, -1)) for b in blocks.values())
    profile = sum(b.mean(axis=-2) for b in blocks.values())
    zeros = np.zeros(np.shape(point))
    t_prob = profile.var(axis=-1, ddof=1) / n_problems if n_problems > 1 else zeros
    sat_den = t_prob**2 / (n_problems - 1) if n_problems > 1 else zeros
    seed_var, seed_den, best, units = zeros, zeros, zeros, zeros
    for b in blocks.values():
        n = b.shape[-2]
        if n < 2:
            continue
        u = b.mean(axis=-1).var(axis=-1, ddof=1) / n
        if n_problems > 1:
            resid = (b - b.mean(axis=-1, keepdims=True) - b.mean(axis=-2, keepdims=True)
                     + b.mean(axis=(-2, -1), keepdims=True))
            df_res = (n - 1) * (n_problems - 1)
            w = (resid**2).sum(axis=(-2, -1)) / df_res / (n * n_problems)
            w_den = w**2 / df_res
        else:
            w, w_den = zeros, zeros
        net = np.maximum(u - w, 0.0)
        seed_var = seed_var + net
        seed_den = seed_den + net**2 / (n - 1)
        sat_den = sat_den + np.where(net > 0, u**2 / (n - 1) + w_den, 0.0)
        units = np.where(net > best, n, units)
        best = np.maximum(best, net)
    with np.errstate(divide="ignore", invalid="ignore"):
        seed_df = np.where(seed_den > 0, seed_var**2 / np.where(seed_den > 0, seed_den, 1.0),
                           np.inf)
    var = t_prob + seed_var
    r = combine_levels(var, sat_den, seed_var, seed_df, max(n_problems - 1, 1), level=level,
                       scale=point)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(r["se"] > 0, seed_var / np.where(var > 0, var, 1.0), 0.0)
    return {"estimate": point, "se": r["se"], "df": r["df"], "low": point - r["q"] * r["se"],
            "high": point + r["q"] * r["se"], "mdd": r["mdd"], "seed_share": share,
            "seed_df": seed_df, "seed_units": np.where(r["se"] > 0, units, 0)}


#: log-spaced df grid of the effective-df lookup (:func:`_effective_df`), per probability.
_DF_GRID = np.geomspace(1.0, 1e6, 2000)
_Q_TABLES: dict[float, np.ndarray] = {}


def _effective_df(q: np.ndarray, p: float) -> np.ndarray:
    """The df whose t quantile at ``p`` is ``q`` (``inf`` at the normal quantile, 1 above
    ``t_{1, p}``): interpolation of ``log df`` in ``log(q - z_p)`` (nearly linear: ``q - z_p``
    falls as ``1/df``) on a cached table; relative error < 1e-6."""
    table = _Q_TABLES.get(p)
    if table is None:
        table = _Q_TABLES[p] = np.log(np.asarray(t_quantile(p, _DF_GRID)) - NormalDist().inv_cdf(p))
    excess = np.asarray(q, dtype=np.float64) - NormalDist().inv_cdf(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.exp(np.interp(-np.log(np.maximum(excess, 1e-300)), -table, np.log(_DF_GRID)))
    return np.where(excess <= 0, np.inf, df)


def combine_levels(var: Any, sat_den: Any, seed_var: Any, seed_df: Any, problem_df: Any, *,
                   level: float = LEVEL, scale: Any = 1.0) -> dict[str, np.ndarray]:
    """SE, quantile, effective df and MDD of the seed-t interval from its variance parts
    (vectorised; the module docstring has the terms).

    ``q = max(q_S, q_CC)`` at ``x = (1 + level) / 2``: Satterthwaite on the mean squares,
    ``q_S = t_{x, var^2 / sat_den}``, and Cochran-Cox across the two levels,
    ``q_CC = ((var - seed_var) t_{x, problem_df} + seed_var t_{x, seed_df}) / var``. Each is
    known to fail where the other holds (simulated, tests/test_stats.py): Satterthwaite is
    liberal where one few-df seed term dominates (0.92-0.93 coverage with 3 seeds against
    the base model: its df comes out high exactly when the seed term was drawn small);
    Cochran-Cox on the net seed term is liberal where the within-seed noise it nets out is
    most of the between-seed spread (0.92 with runs paired by base seed). The larger quantile
    covers 0.94-0.98 in both. ``df`` is the effective df (``t_{x, df} = q``) and ``mdd = (q +
    t_{0.80, df}) se = min_detectable(se, df=df)``, so an interval's ``(se, df)`` give its
    half-width and its MDD. Variances below ``(1e-12 * max(1, |scale|))^2`` are the rounding
    noise of a constant difference: SE 0, df inf.

    >>> r = combine_levels(1.0, 0.5, 1.0, 2.0, 199)  # all seed variance, 2 df: t on 2 df
    >>> round(float(r["q"]), 4), float(r["df"]), round(float(r["mdd"]), 2)
    (4.3027, 2.0, 5.36)
    """
    var = np.asarray(var, dtype=np.float64)
    var = np.where(var > (1e-12 * np.maximum(1.0, np.abs(scale))) ** 2, var, 0.0)
    p = (1.0 + level) / 2.0

    def finite(df: Any) -> np.ndarray:
        df = np.asarray(df, dtype=np.float64)
        return np.maximum(np.where(np.isfinite(df), df, 1e9), 1.0)

    sat_den = np.asarray(sat_den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        sat_df = finite(np.where((var > 0) & (sat_den > 0), var**2 / np.where(
            sat_den > 0, sat_den, 1.0), np.inf))
        f = np.where(var > 0, np.clip(np.asarray(seed_var, dtype=np.float64)
                                      / np.where(var > 0, var, 1.0), 0.0, 1.0), 0.0)
    q_sat = np.asarray(t_quantile(p, sat_df))
    q_cc = ((1.0 - f) * np.asarray(t_quantile(p, finite(problem_df)))
            + f * np.asarray(t_quantile(p, finite(seed_df))))
    q = np.maximum(q_sat, q_cc)
    df = np.where(q_sat >= q_cc, sat_df, np.where(f >= 1.0, finite(seed_df),
                                                  _effective_df(q, p)))
    df = np.where((var > 0) & (df < 1e9), df, np.inf)
    se = np.sqrt(var)
    q_power = np.asarray(t_quantile(POWER, np.where(np.isfinite(df), df, 1e9)))
    return {"se": se, "q": q, "df": df, "mdd": (q + q_power) * se}


def _estimate_from(r: Mapping[str, np.ndarray], point: float | None = None) -> Estimate:
    """An :class:`Estimate` from a scalar :func:`seed_t_interval` result, re-centred on
    ``point`` when given (a non-linear function's value; the interval is its linearisation's)."""
    est = float(r["estimate"]) if point is None else float(point)
    half = float(r["high"]) - float(r["estimate"])
    df = float(r["df"])
    share = float(r["seed_share"])
    needs = (MIN_SEEDS if share >= 0.5 and 0 < int(r["seed_units"]) < MIN_SEEDS else None)
    return Estimate(est, [est - half, est + half], float(r["se"]), float(r["mdd"]),
                    method=SEED_T, df=df if math.isfinite(df) else None, seed_share=share,
                    seeds_needed=needs)


def column_means(matrices: Sequence[np.ndarray],
                 groups: Sequence[Sequence[Hashable] | None] | None = None) -> np.ndarray:
    """Each model's mean per statistic, in :func:`bootstrap_means`' column order (grouped runs:
    the mean of the group means).

    >>> column_means([np.array([[1.0, 3.0]]), np.stack([np.ones((2, 2)), np.zeros((2, 2))])])
    array([2., 1., 0.])
    """
    mats = [_as_matrix(m, f"matrices[{j}]") for j, m in enumerate(matrices)]
    groups = [None] * len(mats) if groups is None else list(groups)
    return np.concatenate([_units(m, g)[0].mean(axis=(-2, -1)) for m, g in zip(
        mats, groups, strict=True)])


def seed_t_estimate(matrices: Sequence[np.ndarray], fn: Callable[[np.ndarray], np.ndarray], *,
                    groups: Sequence[Sequence[Hashable] | None] | None = None,
                    level: float = LEVEL) -> Estimate:
    """``fn`` of the models' means with a seed-t interval (delta method).

    ``matrices`` as in :func:`bootstrap_means` (a model's statistics may be stacked
    ``(n_stats, n_seeds, n_problems)``); ``fn`` maps an ``(n, n_columns)`` array of means in
    its column order to ``(n,)`` values, as one would apply it to bootstrap replicates (e.g.
    ``lambda m: 1 - m[:, 1] / m[:, 3]``, a compression). The gradient ``g`` of ``fn`` at the
    means (central differences) turns model j's statistics into one matrix
    ``sum_k g_jk X_jk``, and :func:`seed_t_interval` of their sum gives SE, df, MDD (exact for
    a linear ``fn``; a first-order approximation otherwise, fine for smooth functions of
    means over hundreds of problems, not at a kink of a piecewise-linear ``fn``). The
    interval is centred on ``fn(means)``.

    >>> a, b = np.array([[2.0, 4.0], [2.0, 4.0]]), np.array([[1.0, 3.0]])
    >>> e = seed_t_estimate([a, b], lambda m: m[:, 0] / m[:, 1])
    >>> e.estimate, e.method
    (1.5, 'seed-t')
    """
    mats = [_as_matrix(m, f"matrices[{j}]") for j, m in enumerate(matrices)]
    groups = [None] * len(mats) if groups is None else list(groups)
    means = column_means(mats, groups)
    step = 1e-6 * np.maximum(np.abs(means), 1.0)
    grid = np.vstack([means, means + np.diag(step), means - np.diag(step)])
    vals = np.asarray(fn(grid), dtype=np.float64).reshape(-1)
    if vals.shape != (2 * means.size + 1,) or not np.all(np.isfinite(vals)):
        raise ValueError("fn must map (n, n_columns) means to n finite values")
    n = means.size
    grad = (vals[1:n + 1] - vals[n + 1:]) / (2 * step)
    combos, start = [], 0
    for m in mats:
        k = m.shape[0]
        combos.append(np.tensordot(grad[start:start + k], m, axes=(0, 0)))
        start += k
    r = seed_t_interval(combos, [1.0] * len(combos), groups=groups, level=level)
    return _estimate_from(r, point=vals[0])


def seeds_needed(seed_sd: float, n_seeds: int, *, problem_se: float, n_seeded: int = 1,
                 min_seeds: int = MIN_SEEDS) -> int | None:
    """How many seeds a comparison needs, or None when ``n_seeds`` will do.

    The comparison is *seed-limited* when its seed variance ``n_seeded * seed_sd^2 / n_seeds``
    (``n_seeded``: how many compared models have seeds, 2 for method vs method, 1 vs the
    base model) is at least its problem-level variance ``problem_se^2``: its interval then has
    ~``n_seeds - 1`` df (Satterthwaite) and more problems barely help. A seed-limited comparison
    with fewer than ``min_seeds`` seeds needs ``min_seeds`` (its MDD factor drops from 5.36 at
    3 seeds to 3.72 at 5, besides the variance's 1/n); more seeds help further, which
    :func:`design_mdd` quantifies.

    >>> seeds_needed(0.03, 3, problem_se=0.017), seeds_needed(0.02, 3, problem_se=0.017)
    (5, None)
    """
    if n_seeds < 1 or n_seeded < 0 or seed_sd < 0 or problem_se < 0:
        raise ValueError("n_seeds >= 1, n_seeded >= 0, seed_sd >= 0 and problem_se >= 0")
    limited = n_seeded * seed_sd**2 / n_seeds >= problem_se**2 and seed_sd > 0
    return min_seeds if limited and n_seeds < min_seeds else None


def design_mdd(problem_se: float, seed_sd: float, n_seeds: int, *, n_seeded: int = 1,
               n_problems: int | None = None) -> float:
    """The MDD of a design with known variance components, by the seed-t rule
    (:func:`combine_levels`): ``SE^2 = problem_se^2 + n_seeded * seed_sd^2 / n_seeds``, the
    problem level on ``n_problems - 1`` df (None: normal), the seed level on
    ``n_seeded * (n_seeds - 1)`` (Welch's df of equal seed terms). For planning: how many
    seeds buy which MDD.

    >>> round(design_mdd(0.0, 1.0, 3) * math.sqrt(3), 2), round(design_mdd(1.0, 0.0, 3), 2)
    (5.36, 2.8)
    >>> [round(100 * design_mdd(0.01, 0.03, n), 1) for n in (3, 5, 10)]  # pt, vs base
    [9.5, 5.7, 4.1]
    """
    if min(problem_se, seed_sd) < 0 or n_seeded < 0 or n_seeds < 1:
        raise ValueError("problem_se, seed_sd >= 0, n_seeded >= 0, n_seeds >= 1")
    seed_var = n_seeded * seed_sd**2 / n_seeds
    if seed_var > 0 and n_seeds < 2:
        raise ValueError("a seed variance needs n_seeds >= 2")
    problem_df = n_problems - 1 if n_problems else math.inf
    seed_df = n_seeded * (n_seeds - 1) if seed_var else math.inf
    sat_den = problem_se**4 / problem_df + (seed_var**2 / seed_df if seed_var else 0.0)
    r = combine_levels(problem_se**2 + seed_var, sat_den, seed_var, seed_df, problem_df)
    return float(r["mdd"])


# ----------------------------------------------------------------------------- bootstrap
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


def min_detectable(se: float, *, z_alpha: float = Z_ALPHA, z_power: float = Z_POWER,
                   df: float | None = None) -> float:
    """Minimal detectable difference ``(q_alpha + q_power) * se``.

    With the defaults: the true difference that a two-sided test at 5% rejects with 80%
    probability, given the standard error ``se`` of the estimated difference (normal
    approximation): ``2.8016 * se``. With ``df``, the t quantiles at the same probabilities
    (the seed-t interval's): ``5.36 * se`` at 2 df, 3.72 at 4.

    >>> round(min_detectable(1.0), 4), round(min_detectable(1.0, df=2), 2)
    (2.8016, 5.36)
    """
    if not math.isfinite(se) or se < 0:
        raise ValueError(f"se must be finite and >= 0, got {se!r}")
    if df is None or math.isinf(df):
        return float((z_alpha + z_power) * se)
    nd = NormalDist()
    return float((t_quantile(nd.cdf(z_alpha), df) + t_quantile(nd.cdf(z_power), df)) * se)


@dataclass(frozen=True)
class Estimate:
    """A point value with its 95% CI, SE and MDD, and how the interval was made.

    ``method``: :data:`SEED_T` (the seed-t interval) or :data:`BOOTSTRAP` (percentile
    bootstrap); ``df``: the t quantiles' degrees of freedom (None: normal quantiles);
    ``seed_share``: the seed terms' part of SE^2 (seed-t); ``seeds_needed``: :data:`MIN_SEEDS`
    where the seeds dominate SE^2 and fewer were run, else None.
    """

    estimate: float
    ci: list[float]
    se: float
    mdd: float
    method: str = BOOTSTRAP
    df: float | None = None
    seed_share: float | None = None
    seeds_needed: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(point: float, replicates: np.ndarray, level: float = LEVEL) -> Estimate:
    """An :class:`Estimate` from a point value and its bootstrap replicates."""
    reps = np.asarray(replicates, dtype=np.float64)
    se = float(reps.std(ddof=1)) if reps.size > 1 else 0.0
    return Estimate(float(point), percentile_ci(reps, level), se, min_detectable(se))


def _check_method(method: str) -> None:
    if method not in (SEED_T, BOOTSTRAP):
        raise ValueError(f"method must be {SEED_T!r} or {BOOTSTRAP!r}, got {method!r}")


def model_mean(x: np.ndarray, *, n_boot: int = 2000, seed: int = 0, method: str = SEED_T,
               groups: Sequence[Hashable] | None = None) -> Estimate:
    """One model's mean over seeds and problems with its 95% CI: the seed-t interval
    (default; ``groups``: the runs' base seeds, or None) or the hierarchical bootstrap
    (``method="bootstrap"``, which ignores ``groups``; ``n_boot`` and ``seed`` are its)."""
    _check_method(method)
    m = _as_matrix(x, "x")
    if m.shape[0] != 1:
        raise ValueError("x must be one statistic: a (seeds x problems) matrix")
    if method == BOOTSTRAP:
        return summarize(float(m.mean()), bootstrap_means([m], n_boot=n_boot, seed=seed)[:, 0])
    return _estimate_from(seed_t_interval([m[0]], [1.0], groups=[groups]))


def paired_difference(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000, seed: int = 0,
                      method: str = SEED_T, groups_a: Sequence[Hashable] | None = None,
                      groups_b: Sequence[Hashable] | None = None) -> Estimate:
    """``mean(A) - mean(B)`` over seeds and problems, paired by problem, with its 95% CI.

    The point estimate is the difference of the across-seed means (each model's mean over its
    seeds of its mean over problems; with ``groups_*``, the runs' base seeds, the mean of the
    group means). The CI, SE and MDD: the seed-t interval (default, :func:`seed_t_interval`;
    models with the same groups are paired by group) or the hierarchical bootstrap
    (``method="bootstrap"``, :func:`bootstrap_means` with ``n_boot`` and ``seed``; no groups).

    >>> x = np.array([[0.0, 1.0, 2.0]])
    >>> e = paired_difference(x + 1, x)  # a constant shift: no variance
    >>> e.estimate, e.ci, e.se, e.df
    (1.0, [1.0, 1.0], 0.0, None)
    """
    _check_method(method)
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    if a.shape[0] != 1 or b.shape[0] != 1:
        raise ValueError("a and b must be one statistic each: (seeds x problems) matrices")
    if method == BOOTSTRAP:
        reps = bootstrap_means([a, b], n_boot=n_boot, seed=seed)
        return summarize(float(a.mean() - b.mean()), reps[:, 0] - reps[:, 1])
    return _estimate_from(seed_t_interval([a[0], b[0]], [1.0, -1.0],
                                          groups=[groups_a, groups_b]))


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


# ---- claim-rule statistics
# Equivalence, direction and power of a paired difference judged by its 95% interval (the
# interval every claim rule reads). Added for hmpo.analysis.claims; the functions above are
# unchanged.
EQUIVALENT, DIFFERENT, UNRESOLVED = "equivalent", "different", "unresolved"
HIGHER, LOWER = "higher", "lower"
Z_POWER_EQ = 1.2815515655446004  # Phi^-1(0.90): each side of a TOST at 80% power


def normal_cdf(x: float) -> float:
    """Phi(x), the standard normal CDF.

    >>> round(normal_cdf(1.959963984540054), 4)
    0.975
    """
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def equivalence(ci: Sequence[float], margin: float) -> str:
    """Two one-sided tests (TOST) of ``|difference| <= margin`` on the 95% interval (each
    one-sided test at 2.5%, the interval the report shows).

    equivalent if the interval lies within ``[-margin, margin]``; different if it lies wholly
    beyond one end (the difference exceeds the margin); else unresolved.

    >>> equivalence([-0.2, 0.3], 0.5), equivalence([0.6, 0.9], 0.5), equivalence([0.2, 0.9], 0.5)
    ('equivalent', 'different', 'unresolved')
    """
    low, high = _ci(ci)
    if margin < 0 or not math.isfinite(margin):
        raise ValueError(f"margin must be finite and >= 0, got {margin!r}")
    if -margin <= low and high <= margin:
        return EQUIVALENT
    if low > margin or high < -margin:
        return DIFFERENT
    return UNRESOLVED


def direction(ci: Sequence[float], margin: float) -> str:
    """Where a paired difference ``A - B`` lies, with equivalence first: equivalent (the
    interval within ``[-margin, margin]``: no difference worth the name, :func:`equivalence`),
    else higher (interval wholly > 0), lower (wholly < 0), else unresolved.

    >>> [direction(c, 0.007) for c in ([0.0, 0.0], [0.01, 0.05], [-0.05, -0.01], [-0.02, 0.03])]
    ['equivalent', 'higher', 'lower', 'unresolved']
    """
    low, high = _ci(ci)
    if equivalence(ci, margin) == EQUIVALENT:
        return EQUIVALENT
    if low > 0:
        return HIGHER
    if high < 0:
        return LOWER
    return UNRESOLVED


def noninferiority_power(margin: float, se: float, *, z_alpha: float = Z_ALPHA) -> float:
    """Probability that the 95% interval's low end clears ``-margin`` when the true
    difference is 0 (normal approximation): ``Phi(margin / se - z_0.975)``. At least 80%
    exactly when ``margin >= min_detectable(se)``. A zero SE gives 1 (a margin > 0) or 0.

    >>> round(noninferiority_power(0.007, 0.016), 3), noninferiority_power(0.007, 0.0)
    (0.064, 1.0)
    """
    if se < 0 or not math.isfinite(se):
        raise ValueError(f"se must be finite and >= 0, got {se!r}")
    if se == 0:
        return 1.0 if margin > 0 else 0.0
    return normal_cdf(margin / se - z_alpha)


def equivalence_power(margin: float, se: float, *, z_alpha: float = Z_ALPHA) -> float:
    """Probability that :func:`equivalence` says "equivalent" when the true difference is 0
    (normal approximation): ``max(0, 2 Phi(margin / se - z_0.975) - 1)``; 80% needs
    ``margin >= (z_0.975 + z_0.90) se = 3.24 se``.

    >>> round(equivalence_power(0.007, 0.0096), 3), round(equivalence_power(3.2415, 1.0), 2)
    (0.0, 0.8)
    """
    return max(0.0, 2.0 * noninferiority_power(margin, se, z_alpha=z_alpha) - 1.0)

"""Group statistics of rollouts: input checks, group factorisation and HMPO's length budget.

HMPO (Zheng, Chen, Ren et al., arXiv 2606.01934) gives each prompt's group of rollouts a
length budget ``b`` in tokens, recomputed at every step from the current rollouts only:

- ``"median"`` (the paper): ``b = median({n_i : c_i = 1})``, numpy's median (the mean of the
  two middle values for an even count);
- ``"mean"`` (ablation): ``b = mean({n_i : c_i = 1})``;
- ``"fixed"`` (the authors' fixed-budget ablation): ``b = T``, ``fixed_budget_tokens``
  (default 10000 when ``None``).

A group with no correct rollout has no median/mean budget (NaN here); its rewards are 0.

Everything is vectorised: group ids are factorised once (``np.unique`` for sortable ids, a
dict for mixed / unsortable ones such as tuples) and per-group statistics are segment
operations on sorted arrays; no Python loop runs over groups. Groups need not be contiguous
or equally sized. The reward functions live in :mod:`hmpo.training.rewards`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

BUDGETS = ("median", "mean", "fixed")
DEFAULT_FIXED_BUDGET_TOKENS = 10000  # the spec's default target T for budget="fixed"

_SORTABLE_TYPES = (int, float, str, bytes, np.integer, np.floating, np.str_, np.bytes_)


class Rollouts(NamedTuple):
    """Validated rollouts: ``correct`` (bool), ``lengths`` (float64 tokens), ``codes``
    (int64 group index per rollout, groups numbered by first appearance) and ``n_groups``."""

    correct: np.ndarray
    lengths: np.ndarray
    codes: np.ndarray
    n_groups: int


def _as_1d(x, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be a 1-D sequence, got a scalar")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _check_correct(correct) -> np.ndarray:
    """Correctness as bool: True/1 is correct, False/0 and the verifier's -1 are wrong."""
    arr = _as_1d(correct, "correct")
    if arr.dtype == bool:
        return arr
    try:
        val = arr.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"correct must be bools or numbers in {{-1, 0, 1}}: {e}") from None
    if not np.all(np.isfinite(val)):
        raise ValueError("correct contains NaN or inf")
    # Partial scores (0.5, 2, ...) are rejected rather than silently thresholded one way.
    if not np.all((val == 1) | (val == 0) | (val == -1)):
        bad = val[~((val == 1) | (val == 0) | (val == -1))][0]
        raise ValueError(f"correct must be bools or numbers in {{-1, 0, 1}}, got {bad!r}")
    return val == 1


def _check_lengths(lengths) -> np.ndarray:
    arr = _as_1d(lengths, "lengths")
    if arr.dtype == bool:
        raise ValueError("lengths must be token counts (numbers), got bools")
    try:
        val = arr.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"lengths must be numeric token counts: {e}") from None
    if not np.all(np.isfinite(val)):
        raise ValueError("lengths contains NaN or inf")
    if val.size and val.min() < 0:
        raise ValueError(f"lengths must be >= 0, got {val.min()!r}")
    return val


def factorize_groups(group_ids) -> tuple[np.ndarray, list]:
    """Map hashable group ids to int64 codes ``0..G-1`` numbered by first appearance.

    Returns ``(codes, keys)`` with ``keys[codes[i]] == group_ids[i]``. Homogeneous sortable
    ids (ints, floats, strings) go through ``np.unique``; anything else (tuples, mixed types
    such as ``1`` and ``"1"``, which numpy would coerce to the same string) uses a dict, so
    equality is Python's (``1 == 1.0 == True`` are one group).

    >>> codes, keys = factorize_groups(["b", "a", "b", "c"])
    >>> codes.tolist(), keys
    ([0, 1, 0, 2], ['b', 'a', 'c'])
    >>> factorize_groups([(0, 1), 7, (0, 1)])[0].tolist()
    [0, 1, 0]
    """
    if isinstance(group_ids, np.ndarray):
        if group_ids.ndim != 1:
            raise ValueError(f"group_ids must be 1-D, got shape {group_ids.shape}")
        arr = group_ids if group_ids.dtype != object else None
        items = group_ids.tolist() if arr is None else None
    else:
        items = list(group_ids)
        arr = None
    if arr is None and items:
        types = set(map(type, items))
        if len(types) == 1 and issubclass(types.pop(), _SORTABLE_TYPES):
            cand = np.asarray(items)
            if cand.ndim == 1 and cand.dtype != object:
                arr = cand
    if arr is not None:
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64), []
        uniq, inv = np.unique(arr, return_inverse=True)
        inv = inv.reshape(-1)
        first = np.full(uniq.size, arr.size)  # each group's first position (no 2nd sort)
        np.minimum.at(first, inv, np.arange(arr.size))
        order = np.argsort(first)  # renumber by first appearance
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        return rank[inv], uniq[order].tolist()
    table: dict = {}
    try:
        codes = [table.setdefault(g, len(table)) for g in items]
    except TypeError as e:
        raise ValueError(f"group_ids must be hashable: {e}") from None
    return np.asarray(codes, dtype=np.int64).reshape(-1), list(table)


def validate_rollouts(correct, lengths, group_ids) -> Rollouts:
    """Check and convert the three per-rollout inputs; ``ValueError`` names the bad argument."""
    c = _check_correct(correct)
    n = _check_lengths(lengths)
    if c.size != n.size:
        raise ValueError(f"correct and lengths differ in length: {c.size} != {n.size}")
    codes, keys = factorize_groups(group_ids)
    if codes.size != c.size:
        raise ValueError(f"group_ids and correct differ in length: {codes.size} != {c.size}")
    return Rollouts(c, n, codes, len(keys))


def check_budget_args(budget: str, fixed_budget_tokens) -> float | None:
    """Validate the budget switch; return T for ``"fixed"`` (default 10000) else None."""
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    if budget != "fixed":
        if fixed_budget_tokens is not None:  # a logged T that is not used would mislead
            raise ValueError(f"fixed_budget_tokens is only used with budget='fixed', "
                             f"got budget={budget!r}")
        return None
    t = DEFAULT_FIXED_BUDGET_TOKENS if fixed_budget_tokens is None else fixed_budget_tokens
    try:
        t = float(t)
    except (TypeError, ValueError):
        raise ValueError(f"fixed_budget_tokens must be a number, got {t!r}") from None
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"fixed_budget_tokens must be a finite number > 0, got {t!r}")
    return t


def group_reduce(values: np.ndarray, codes: np.ndarray, n_groups: int, ufunc) -> np.ndarray:
    """Per-group ``np.minimum`` or ``np.maximum`` of ``values`` (an empty group gives the
    identity, +inf or -inf). Unbuffered ``ufunc.at``: fast in numpy >= 2, no sort."""
    fill = {np.minimum: np.inf, np.maximum: -np.inf}[ufunc]
    out = np.full(n_groups, fill)
    ufunc.at(out, codes, values)
    return out


def group_mean_std(values: np.ndarray, codes: np.ndarray, n_groups: int,
                   mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group count, mean and population std (ddof=0) of ``values[mask]``.

    Shifted and two-pass (deviations from the group mean), so a group of equal values has
    its mean exactly and std exactly 0.
    Mean and std are NaN for a group with no selected value.
    """
    w = np.ones(values.size) if mask is None else mask.astype(np.float64)
    count = np.bincount(codes, weights=w, minlength=n_groups)
    # Shift by each group's minimum: equal values then have a mean exactly equal to them (a
    # plain sum / count can be off by round-off, which z-scores would blow up), and the
    # result does not depend on the rollouts' order (exactly so for integer token counts).
    ref = group_reduce(values if mask is None else values[mask],
                       codes if mask is None else codes[mask], n_groups, np.minimum)
    ref[~np.isfinite(ref)] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        shifted = (values - ref[codes]) * w
        mean = ref + np.bincount(codes, weights=shifted, minlength=n_groups) / count
        dev = np.where(w > 0, values - mean[codes], 0.0)
        var = np.bincount(codes, weights=dev * dev, minlength=n_groups) / count
    return count, mean, np.sqrt(var)


def group_median(values: np.ndarray, codes: np.ndarray, n_groups: int,
                 mask: np.ndarray | None = None) -> np.ndarray:
    """Per-group ``numpy.median`` of ``values[mask]`` (NaN for an empty group), by one sort."""
    if mask is not None:
        values, codes = values[mask], codes[mask]
    counts = np.bincount(codes, minlength=n_groups)
    out = np.full(n_groups, np.nan)
    if values.size == 0:
        return out
    vmax = values.max()
    if (vmax + 1) * n_groups < 2**62 and np.array_equal(values, np.floor(values)):
        # token counts are integers: one argsort of a (group, length) key, ~6x a lexsort
        key = codes * np.int64(vmax + 1) + values.astype(np.int64)
        order = np.argsort(key)
    else:
        order = np.lexsort((values, codes))  # by group, then by value within the group
    sv = values[order]
    starts = np.cumsum(counts) - counts
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = (sv[lo] + sv[hi]) / 2  # numpy's median: mean of the two middle values
    return out


def group_budget_tokens(r: Rollouts, budget: str = "median",
                        fixed_budget_tokens: float | None = None) -> np.ndarray:
    """HMPO budget per group (first-appearance order) from validated rollouts; NaN if none
    correct (median/mean). ``fixed_budget_tokens`` must already be resolved for "fixed"."""
    if budget == "median":
        return group_median(r.lengths, r.codes, r.n_groups, mask=r.correct)
    if budget == "mean":
        return group_mean_std(r.lengths, r.codes, r.n_groups, mask=r.correct)[1]
    if budget == "fixed":
        return np.full(r.n_groups, float(fixed_budget_tokens))
    raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")


def hmpo_budget(correct, lengths, group_ids, *, budget: str = "median",
                fixed_budget_tokens: float | None = None) -> np.ndarray:
    """HMPO's length budget ``b`` in tokens **per rollout** (its group's budget).

    ``b = median({n_i : c_i = 1})`` over the rollout's group (``budget="median"``, HMPO,
    arXiv 2606.01934), the mean of the correct lengths (``"mean"``), or the constant
    ``fixed_budget_tokens`` (``"fixed"``, default 10000). NaN where the group has no correct
    rollout (median/mean); those rollouts get reward 0. Per-group values: :func:`group_stats`.

    >>> hmpo_budget([1, 1, 0, 1, 0], [100, 300, 50, 80, 10], ["a", "a", "a", "b", "c"]).tolist()
    [200.0, 200.0, 200.0, 80.0, nan]
    """
    t = check_budget_args(budget, fixed_budget_tokens)
    r = validate_rollouts(correct, lengths, group_ids)
    return group_budget_tokens(r, budget, t)[r.codes]


class GroupStats(NamedTuple):
    """Per-step budget diagnostics for logging."""

    budget_tokens: np.ndarray  # per group, first-appearance order (NaN: no correct rollout)
    frac_no_correct: float  # fraction of groups with no correct rollout (their rewards are all 0)
    mean_budget_tokens: float  # mean budget over groups that have one (NaN if no group has)


def group_stats(correct, lengths, group_ids, *, budget: str = "median",
                fixed_budget_tokens: float | None = None) -> GroupStats:
    """Budget per group and the fraction of groups without a correct rollout (for logging).

    Groups are in order of first appearance in ``group_ids``.

    >>> s = group_stats([1, 1, 0, 0, 1], [100, 300, 50, 10, 70], [0, 0, 0, 1, 2])
    >>> s.budget_tokens.tolist(), s.frac_no_correct, s.mean_budget_tokens
    ([200.0, nan, 70.0], 0.3333333333333333, 135.0)
    """
    t = check_budget_args(budget, fixed_budget_tokens)
    r = validate_rollouts(correct, lengths, group_ids)
    b = group_budget_tokens(r, budget, t)
    if r.n_groups == 0:
        return GroupStats(b, 0.0, float("nan"))
    any_correct = np.bincount(r.codes, weights=r.correct, minlength=r.n_groups) > 0
    ok = np.isfinite(b)
    mean_b = float(b[ok].mean()) if ok.any() else float("nan")
    return GroupStats(b, float((~any_correct).mean()), mean_b)

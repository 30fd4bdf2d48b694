"""The reward zoo: HMPO's reward and the peer length rewards it is compared with.

Every reward is a pure, vectorised function of one training step's rollouts::

    f(correct, lengths, group_ids, **params) -> np.ndarray  # float64, one reward per rollout

- ``correct``: bools or numbers in {-1, 0, 1} (1 = correct; 0 and the verifier's -1 = wrong);
- ``lengths``: response lengths in tokens (every generated token, thinking included), >= 0;
- ``group_ids``: any hashable per rollout naming its prompt's group (strings, ints, tuples);
  groups need not be contiguous or equally sized.

HMPO changes only GRPO's reward (Zheng, Chen, Ren et al., arXiv 2606.01934): a correct rollout
earns a cosine-decayed token reward up to its group's *median correct length* and 0 beyond,
multiplied by correctness (see :func:`hmpo_reward`). The trainer gets a reward through the
registry, ``get_reward(name, **params)``, a picklable callable with a stable ``__name__`` and
a ``components`` method so each reward component can be logged separately::

    reward = get_reward("hmpo", lam=0.8)
    r = reward(correct, lengths, group_ids)                 # np.ndarray
    parts = reward.components(correct, lengths, group_ids)  # {"correct", "length", "total"}

Bad input (mismatched sizes, negative / NaN / inf lengths, non-finite or partial correctness,
unknown switches or parameters) raises ``ValueError`` naming the argument; empty input gives
an empty float array; a reward is never NaN. Group statistics and HMPO's budget live in
:mod:`hmpo.training.group_stats` (``hmpo_budget`` and ``group_stats`` are re-exported here).
"""

from __future__ import annotations

import inspect

import numpy as np

from hmpo.training.group_stats import (
    BUDGETS,
    DEFAULT_FIXED_BUDGET_TOKENS,
    GroupStats,
    Rollouts,
    check_budget_args,
    group_budget_tokens,
    group_mean_std,
    group_reduce,
    group_stats,
    hmpo_budget,
    validate_rollouts,
)

__all__ = [
    "BUDGETS", "COMBINES", "DECAYS", "BOUNDARIES", "DEFAULT_FIXED_BUDGET_TOKENS", "GroupStats",
    "Reward", "get_reward", "list_rewards", "hmpo_budget", "group_stats", "token_reward",
    "hmpo_reward", "grpo_reward", "kimi_reward", "arora_zanette_reward", "shorterbetter_reward",
    "grpo_lead_reward", "gr3_reward", "laser_reward", "dapo_overlong_reward",
]

COMBINES = ("mul", "add", "add_ungated")
DECAYS = ("cosine", "linear")
BOUNDARIES = ("le", "lt")


# ----------------------------------------------------------------------------- helpers
def _num(name: str, value, *, low: float | None = None, low_open: bool = False) -> float:
    """A finite float parameter (optionally >= low, or > low if low_open); else ValueError."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    return v


def _choice(name: str, value, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _parts(r: Rollouts, length: np.ndarray, total: np.ndarray, name: str) -> dict:
    # The guarantee that no reward is ever NaN/inf lives here, once, for every reward.
    if not np.all(np.isfinite(total)):
        raise ValueError(f"{name} produced non-finite rewards; check its parameters")
    return {"correct": r.correct.astype(np.float64), "length": length, "total": total}


def _empty() -> dict:
    z = np.zeros(0)
    return {"correct": z, "length": z.copy(), "total": z.copy()}


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0/0 := 0 (e.g. a length-0 rollout against a budget of 0 tokens)."""
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=(den != 0))
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free and exactly 0.5 at 0


# ----------------------------------------------------------------------------- HMPO
def token_reward(lengths, budget_tokens, *, lam: float = 0.8, beta: float = 1.0,
                 clip_high: float = 1.0, decay: str = "cosine",
                 boundary: str = "le") -> np.ndarray:
    """HMPO's token reward of a length ``n`` against a budget ``b`` (elementwise, broadcast).

    ``R_token(n, b) = clip(β·cos(π·n / (2b)) + λ, 0, h)`` if ``n ≤ b`` else 0 (HMPO, arXiv
    2606.01934; cosine decay). ``decay="linear"``: ``clip(β·(b − n)/b + λ, 0, h)``.
    ``boundary="le"`` gates on ``n ≤ b`` (the authors' code, default), ``"lt"`` on ``n < b``
    (the paper's text). A NaN budget (group without a correct rollout) gives 0. With
    ``b = 0`` the ratio ``0/0`` of a length-0 rollout counts as 0.

    >>> token_reward([0, 50, 100, 101], 100).round(4).tolist()  # λ=0.8: 1 until n≈0.87b
    [1.0, 1.0, 0.8, 0.0]
    >>> token_reward([100], 100, boundary="lt").tolist()  # the paper's strict n < b
    [0.0]
    """
    lam = _num("lam", lam)
    beta = _num("beta", beta)
    clip_high = _num("clip_high", clip_high, low=0.0)
    _choice("decay", decay, DECAYS)
    _choice("boundary", boundary, BOUNDARIES)
    n = np.asarray(lengths, dtype=np.float64)
    b = np.asarray(budget_tokens, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # NaN budgets compare False: no bonus
        inside = (n <= b) if boundary == "le" else (n < b)
    ratio = _safe_ratio(n, np.where(inside, b, 1.0))
    shape = np.cos(0.5 * np.pi * ratio) if decay == "cosine" else 1.0 - ratio
    return np.where(inside, np.clip(beta * shape + lam, 0.0, clip_high), 0.0)


def _hmpo_parts(correct, lengths, group_ids, *, lam, beta, clip_high, combine, budget,
                fixed_budget_tokens, decay, boundary) -> dict:
    _choice("combine", combine, COMBINES)
    t = check_budget_args(budget, fixed_budget_tokens)
    token_reward([], [], lam=lam, beta=beta, clip_high=clip_high, decay=decay,
                 boundary=boundary)  # validates the shape parameters even on empty input
    r = validate_rollouts(correct, lengths, group_ids)
    if r.correct.size == 0:
        return _empty()
    c = r.correct.astype(np.float64)
    if budget == "fixed":
        tok = (r.lengths < t).astype(np.float64)  # binary, strict n < T: the authors' code
    else:
        b = group_budget_tokens(r, budget)[r.codes]
        tok = token_reward(r.lengths, b, lam=lam, beta=beta, clip_high=clip_high,
                           decay=decay, boundary=boundary)
    if combine == "mul":
        total = c * tok
    elif combine == "add":
        total = c * (1.0 + tok)
    else:  # add_ungated: a wrong but short answer still earns the length bonus
        total = c + tok
    return _parts(r, tok, total, "hmpo_reward")


def hmpo_reward(correct, lengths, group_ids, *, lam: float = 0.8, beta: float = 1.0,
                clip_high: float = 1.0, combine: str = "mul", budget: str = "median",
                fixed_budget_tokens: float | None = None, decay: str = "cosine",
                boundary: str = "le") -> np.ndarray:
    """HMPO reward (Zheng, Chen, Ren et al., "HMPO: Hybrid Median-length Policy Optimization
    for Chain-of-Thought Compression", arXiv 2606.01934).

    Per group, the budget ``b = median({n_i : c_i = 1})`` (numpy's median) of the correct
    rollouts' lengths, then ``R = c · R_token(n, b)`` with
    ``R_token = clip(β·cos(π·n/(2b)) + λ, 0, h)`` for ``n ≤ b`` and 0 above (see
    :func:`token_reward`). A group with no correct rollout gets 0 everywhere. Released
    setting: λ = 0.8, β = 1, h = ``clip_high`` = 1.

    Switches (the authors' ablations):

    - ``combine``: ``"mul"`` ``c·R_token`` (the paper); ``"add"`` ``c·(1 + R_token)``;
      ``"add_ungated"`` ``c + R_token`` (reward-hacking form; where b is undefined,
      R_token = 0).
    - ``budget``: ``"median"`` (the paper), ``"mean"`` of the correct lengths, or ``"fixed"``:
      ``b = T = fixed_budget_tokens`` (default 10000 when None; must be > 0; passing it with
      another budget is an error) with the authors' **binary** token reward ``1[n < T]``;
      ``lam``, ``beta``, ``clip_high``, ``decay`` and ``boundary`` do not apply there.
    - ``decay``: ``"cosine"`` or ``"linear"`` (``β·(b − n)/b + λ``, same clip and gate).
    - ``boundary``: ``"le"`` (``n ≤ b``, the authors' code) or ``"lt"`` (``n < b``, the
      paper's text); they differ only at ``n = b``: λ versus 0.

    ``components`` (via :func:`get_reward`): ``length`` is ``R_token`` before gating.

    >>> c, n, g = [1, 1, 1, 0], [100, 200, 300, 50], ["q", "q", "q", "q"]  # b = 200
    >>> hmpo_reward(c, n, g).round(4).tolist()  # n = b/2: cos(π/4) + 0.8 -> clipped to 1
    [1.0, 0.8, 0.0, 0.0]
    >>> hmpo_reward(c, n, g, combine="add").round(4).tolist()
    [2.0, 1.8, 1.0, 0.0]
    >>> hmpo_reward([1, 0], [20000, 5], [0, 0], budget="fixed").tolist()  # 1[n < 10000]
    [0.0, 0.0]
    """
    return _hmpo_parts(correct, lengths, group_ids, lam=lam, beta=beta, clip_high=clip_high,
                       combine=combine, budget=budget, fixed_budget_tokens=fixed_budget_tokens,
                       decay=decay, boundary=boundary)["total"]


# ----------------------------------------------------------------------------- peers
def _grpo_parts(correct, lengths, group_ids) -> dict:
    r = validate_rollouts(correct, lengths, group_ids)
    c = r.correct.astype(np.float64)
    return _parts(r, np.zeros_like(c), c, "grpo_reward")


def grpo_reward(correct, lengths, group_ids) -> np.ndarray:
    """GRPO's accuracy reward, ``r = c`` (Shao et al., DeepSeekMath, arXiv 2402.03300).

    No length term: the reference point that shows length drift. Lengths are still checked.

    >>> grpo_reward([1, 0, -1, True], [5, 6, 7, 8], [0, 0, 1, 1]).tolist()
    [1.0, 0.0, 0.0, 1.0]
    """
    return _grpo_parts(correct, lengths, group_ids)["total"]


def _kimi_parts(correct, lengths, group_ids, *, w) -> dict:
    w = _num("w", w)
    r = validate_rollouts(correct, lengths, group_ids)
    if r.correct.size == 0:
        return _empty()
    lo = group_reduce(r.lengths, r.codes, r.n_groups, np.minimum)[r.codes]
    hi = group_reduce(r.lengths, r.codes, r.n_groups, np.maximum)[r.codes]
    lam = np.where(hi > lo, 0.5 - _safe_ratio(r.lengths - lo, hi - lo), 0.0)
    length = w * np.where(r.correct, lam, np.minimum(0.0, lam))
    return _parts(r, length, r.correct + length, "kimi_reward")


def kimi_reward(correct, lengths, group_ids, *, w: float = 1.0) -> np.ndarray:
    """Kimi k1.5 length reward (Kimi Team, arXiv 2501.12599).

    ``λ_i = 0.5 − (L_i − min_G L)/(max_G L − min_G L)`` over **all** rollouts of the group
    (λ = 0 when max = min); ``r = c + w·λ`` if correct, ``r = c + w·min(0, λ)`` if wrong.
    ``components``: ``length`` is ``w·λ`` (correct) or ``w·min(0, λ)`` (wrong).

    Reference followed by the defaults: the report's formula, per group, in tokens, w = 1.
    The public reimplementation (huggingface/open-r1, ``len_reward`` in
    ``src/open_r1/rewards.py``) computes the same λ but in characters, over the completions
    of one reward call rather than one group, and returns λ alone, weighted against the
    accuracy reward by the recipe (0.1 there, per the issue #13 review): ``w=0.1`` gives
    that weight (still per group, in tokens).

    >>> kimi_reward([1, 1, 0], [100, 200, 300], [0, 0, 0]).tolist()  # λ = 0.5, 0, -0.5
    [1.5, 1.0, -0.5]
    """
    return _kimi_parts(correct, lengths, group_ids, w=w)["total"]


def _correct_zscore(r: Rollouts, eps: float) -> np.ndarray:
    """z = (L − mean_correct∈G) / (std_correct∈G + eps), population std (ddof=0), so z = 0
    for one correct rollout or equal correct lengths. Only meaningful on correct rollouts;
    0 in groups without a correct one."""
    _, mean, std = group_mean_std(r.lengths, r.codes, r.n_groups, mask=r.correct)
    mean, std = mean[r.codes], std[r.codes]
    ok = np.isfinite(mean)
    dev = np.where(ok, r.lengths - np.where(ok, mean, 0.0), 0.0)
    return _safe_ratio(dev, np.where(ok, std, 0.0) + eps)


def _arora_zanette_parts(correct, lengths, group_ids, *, alpha) -> dict:
    alpha = _num("alpha", alpha)
    r = validate_rollouts(correct, lengths, group_ids)
    if r.correct.size == 0:
        return _empty()
    z = _correct_zscore(r, 1e-7)
    length = np.where(r.correct, 1.0 - alpha * _sigmoid(z), 0.0)
    return _parts(r, length, r.correct * length, "arora_zanette_reward")


def arora_zanette_reward(correct, lengths, group_ids, *, alpha: float = 0.2) -> np.ndarray:
    """Arora & Zanette, "Training Language Models to Reason Efficiently" (arXiv 2502.04463).

    ``r = c · (1 − α·σ((L − mean_{correct∈G} L) / (std_{correct∈G} L + 1e-7)))``, 0 if wrong.
    Choice: population std (ddof=0), so a single correct rollout (or equal correct lengths)
    has std 0, z = 0 and earns ``1 − α/2``. ``components``: ``length`` is the factor
    ``1 − α·σ(z)`` on correct rollouts, 0 on wrong ones. Reference followed by the
    defaults: the paper's formula, α = 0.2 (the issue #13 review checked this function
    against the authors' code on random groups: equal).

    >>> arora_zanette_reward([1, 1, 0], [100, 300, 50], [0, 0, 0]).round(4).tolist()
    [0.9462, 0.8538, 0.0]
    >>> arora_zanette_reward([1], [100], [0]).tolist()  # one correct: z = 0, 1 - 0.2/2
    [0.9]
    """
    return _arora_zanette_parts(correct, lengths, group_ids, alpha=alpha)["total"]


def _shorterbetter_parts(correct, lengths, group_ids, *, alpha, beta, length_scale) -> dict:
    alpha = _num("alpha", alpha)
    beta = _num("beta", beta)
    length_scale = _num("length_scale", length_scale, low=0.0, low_open=True)
    r = validate_rollouts(correct, lengths, group_ids)
    if r.correct.size == 0:
        return _empty()
    big = np.where(r.correct, r.lengths, np.inf)
    sol = group_reduce(big, r.codes, r.n_groups, np.minimum)
    mean_all = group_mean_std(r.lengths, r.codes, r.n_groups)[1]
    sol = np.where(np.isfinite(sol), sol, mean_all)[r.codes]  # no correct: mean length of G
    length = -beta * np.abs(r.lengths - sol) / length_scale
    return _parts(r, length, alpha * r.correct + length, "shorterbetter_reward")


def shorterbetter_reward(correct, lengths, group_ids, *, alpha: float = 2.0,
                         beta: float = 0.001, length_scale: float = 1.0) -> np.ndarray:
    """ShorterBetter (Yi et al., 2025, "ShorterBetter: Guiding Reasoning Models to Find
    Optimal Inference Length for Efficient Reasoning").

    Sample Optimal Length ``SOL`` = the shortest correct length in the group (the mean length
    of the group if none is correct); ``r = α·c − β·|L − SOL| / L_scale``. Defaults α = 2,
    β = 0.001 per token. Choice: ``length_scale`` (L_scale) = 1, i.e. β is per token as
    published; set it (> 0) to rescale the penalty. ``components``: ``length`` is
    ``−β·|L − SOL|/L_scale``. Reference followed by the defaults: the paper's α = 2,
    β = 0.001 (the issue #13 review checked this function against the reference code on
    random groups: equal).

    >>> shorterbetter_reward([1, 1, 0], [100, 300, 50], [0, 0, 0]).tolist()  # SOL = 100
    [2.0, 1.8, -0.05]
    """
    return _shorterbetter_parts(correct, lengths, group_ids, alpha=alpha, beta=beta,
                                length_scale=length_scale)["total"]


GRPO_LEAD_STDS = ("sample", "population")


def _grpo_lead_parts(correct, lengths, group_ids, *, alpha, gate_tokens, std,
                     no_answer_reward) -> dict:
    alpha = _num("alpha", alpha)
    if gate_tokens is not None:
        gate_tokens = _num("gate_tokens", gate_tokens, low=0.0)
    no_answer_reward = _num("no_answer_reward", no_answer_reward)
    std = _choice("std", std, GRPO_LEAD_STDS)
    r = validate_rollouts(correct, lengths, group_ids)
    if r.correct.size == 0:
        return _empty()
    no_answer = np.asarray(correct, dtype=np.float64).ravel() == -1  # the verifier's "no answer"
    if std == "sample":  # the authors' code: ddof = 1, + 1e-6; std 1.0 below two correct
        n, mean, pop = group_mean_std(r.lengths, r.codes, r.n_groups, mask=r.correct)
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.where(n > 1, pop * np.sqrt(n / np.maximum(n - 1, 1)), 1.0)
        mean, sd = mean[r.codes], sd[r.codes]
        ok = np.isfinite(mean)
        z = np.where(ok, (r.lengths - np.where(ok, mean, 0.0)) / (sd + 1e-6), 0.0)
    else:
        z = _correct_zscore(r, 1e-7)
    # the authors reweight only groups whose three shortest rollouts (all of them, correct or
    # not) average more than gate_tokens; fewer than three rollouts: the mean is +inf (their
    # float("inf") start values), so the gate opens
    order = np.lexsort((r.lengths, r.codes))
    codes_sorted, len_sorted = r.codes[order], r.lengths[order]
    start = np.searchsorted(codes_sorted, np.arange(r.n_groups))
    size = np.bincount(r.codes, minlength=r.n_groups)
    three = np.full(r.n_groups, np.inf)
    for g in range(r.n_groups):
        if size[g] >= 3:
            three[g] = len_sorted[start[g]:start[g] + 3].mean()
    gated = np.ones(r.correct.size, dtype=bool) if gate_tokens is None \
        else (three > gate_tokens)[r.codes]
    with np.errstate(over="ignore"):  # overflow only for absurd alpha; caught by _parts
        factor = np.where(r.correct & gated, np.exp(-alpha * z), np.where(r.correct, 1.0, 0.0))
    wrong = np.where(no_answer, no_answer_reward, -1.0)
    return _parts(r, factor, np.where(r.correct, factor, wrong), "grpo_lead_reward")


def grpo_lead_reward(correct, lengths, group_ids, *, alpha: float = 0.05,
                     gate_tokens: float | None = 4000.0, std: str = "sample",
                     no_answer_reward: float = 0.0) -> np.ndarray:
    """GRPO-LEAD length-dependent accuracy reward (Zhang & Zuo, 2025, "GRPO-LEAD: A
    Difficulty-Aware Reinforcement Learning Approach for Concise Mathematical Reasoning");
    length term only, without its difficulty weighting.

    Defaults reproduce the authors' code (``aeroplanepaper/GRPO-LEAD``,
    ``verl/verl/trainer/main_ppo.py``: ``RewardManager.get_reweight_rewards`` and the score
    mapping in ``__call__``) exactly:

    - correct: ``r = exp(−α·z)``, ``z = (L − mean_{correct∈G} L) / (s + 1e-6)`` with ``s``
      the **sample** std (ddof = 1) of the group's correct lengths, ``s = 1.0`` when fewer
      than two are correct (``std="sample"``); ``std="population"`` is the earlier choice
      here (ddof = 0, ``+ 1e-7``, one correct rollout gives z = 0);
    - only in groups whose **three shortest rollouts** (correct or not) average more than
      ``gate_tokens`` = 4,000 tokens; other groups keep r = 1 for a correct rollout
      (``gate_tokens=None``: every group, the choice for 128-token CPU profiles, where a
      4,000-token gate never opens);
    - wrong with an answer: ``r = −1``; **no answer** (``correct == -1``: truncated, or no
      answer stated): ``r = no_answer_reward`` = 0.

    ``components``: ``length`` is the factor (``exp(−α·z)`` in gated groups, 1 otherwise)
    on correct rollouts, 0 on wrong ones.

    >>> grpo_lead_reward([1, 1, 0], [100, 300, 50], [0, 0, 0]).tolist()  # gate shut: 150 tokens
    [1.0, 1.0, -1.0]
    >>> grpo_lead_reward([1, 1, -1], [100, 300, 50], [0, 0, 0], gate_tokens=None).round(4).tolist()
    [1.036, 0.9653, 0.0]
    """
    return _grpo_lead_parts(correct, lengths, group_ids, alpha=alpha, gate_tokens=gate_tokens,
                            std=std, no_answer_reward=no_answer_reward)["total"]


def _gr3_parts(correct, lengths, group_ids, *, alpha) -> dict:
    alpha = _num("alpha", alpha, low=0.0)
    r = validate_rollouts(correct, lengths, group_ids)
    if r.correct.size == 0:
        return _empty()
    mean_all = group_mean_std(r.lengths, r.codes, r.n_groups)[1][r.codes]
    length = 1.0 / (1.0 + alpha * _safe_ratio(r.lengths, mean_all))
    return _parts(r, length, r.correct * length, "gr3_reward")


def gr3_reward(correct, lengths, group_ids, *, alpha: float = 0.33) -> np.ndarray:
    """GR³ length-rescaled reward, as specified in the project spec (HMPO_SPEC.md).

    ``r = c / (1 + α·L / mean_G L)`` with the mean over **all** rollouts of the group;
    α = 0.33, must be >= 0. An all-zero-length group counts ``L / mean`` as 0.
    ``components``: ``length`` is the factor ``1 / (1 + α·L/mean_G L)`` on every rollout.

    >>> gr3_reward([1, 1, 0], [100, 300, 200], [0, 0, 0]).round(4).tolist()  # mean 200
    [0.8584, 0.6689, 0.0]
    """
    return _gr3_parts(correct, lengths, group_ids, alpha=alpha)["total"]


def _laser_parts(correct, lengths, group_ids, *, lam, target_tokens) -> dict:
    lam = _num("lam", lam)
    target_tokens = _num("target_tokens", target_tokens, low=0.0, low_open=True)
    r = validate_rollouts(correct, lengths, group_ids)
    length = lam * (r.lengths <= target_tokens)
    return _parts(r, length, r.correct * (1.0 + length), "laser_reward")


def laser_reward(correct, lengths, group_ids, *, lam: float = 0.5,
                 target_tokens: float = 4096) -> np.ndarray:
    """LASER step reward (Liu et al., "Learn to Reason Efficiently with Adaptive Length-based
    Reward Shaping", arXiv 2505.15612), fixed-target variant.

    ``r = c · (1 + λ·1[L ≤ L_T])``, λ = 0.5. Choice: ``target_tokens`` (L_T) defaults to 4096,
    a budget for long-CoT models; set it for the model's scale (it must be > 0). Group ids
    are only checked. ``components``: ``length`` is ``λ·1[L ≤ L_T]`` on every rollout.

    >>> laser_reward([1, 1, 0], [4096, 4097, 10], [0, 0, 0]).tolist()
    [1.5, 1.0, 0.0]
    """
    return _laser_parts(correct, lengths, group_ids, lam=lam,
                        target_tokens=target_tokens)["total"]


def _dapo_overlong_parts(correct, lengths, group_ids, *, max_tokens, cache_tokens) -> dict:
    max_tokens = _num("max_tokens", max_tokens, low=0.0, low_open=True)
    cache_tokens = _num("cache_tokens", cache_tokens, low=0.0, low_open=True)
    if cache_tokens > max_tokens:
        raise ValueError(f"cache_tokens must be <= max_tokens ({max_tokens!r}), "
                         f"got {cache_tokens!r}")
    r = validate_rollouts(correct, lengths, group_ids)
    length = np.clip((max_tokens - cache_tokens - r.lengths) / cache_tokens, -1.0, 0.0)
    return _parts(r, length, r.correct + length, "dapo_overlong_reward")


def dapo_overlong_reward(correct, lengths, group_ids, *, max_tokens: float = 20480,
                         cache_tokens: float = 4096) -> np.ndarray:
    """DAPO soft overlong punishment added to the accuracy reward (Yu et al., "DAPO: An
    Open-Source LLM Reinforcement Learning System at Scale", arXiv 2503.14476).

    ``r = c + p(L)``, ``p = 0`` for ``L ≤ L_max − L_cache``, ``(L_max − L_cache − L)/L_cache``
    up to ``L_max``, ``−1`` beyond; applied to wrong rollouts too. Choice: DAPO's published
    ``max_tokens`` (L_max) = 20480 and ``cache_tokens`` (L_cache) = 4096 (0 < L_cache ≤ L_max);
    set L_max to the run's max completion length. ``components``: ``length`` is ``p(L)``.

    >>> dapo_overlong_reward([1, 1, 0], [16384, 18432, 30000], [0, 0, 0]).tolist()
    [1.0, 0.5, -1.0]
    """
    return _dapo_overlong_parts(correct, lengths, group_ids, max_tokens=max_tokens,
                                cache_tokens=cache_tokens)["total"]


# ----------------------------------------------------------------------------- registry
# name -> (public function: owns the defaults and docs, parts function, fixed presets)
_REGISTRY: dict[str, tuple] = {
    "grpo": (grpo_reward, _grpo_parts, {}),
    "hmpo": (hmpo_reward, _hmpo_parts, {}),
    "hmpo_add": (hmpo_reward, _hmpo_parts, {"combine": "add"}),
    "hmpo_add_ungated": (hmpo_reward, _hmpo_parts, {"combine": "add_ungated"}),
    "hmpo_fixed": (hmpo_reward, _hmpo_parts, {"budget": "fixed"}),
    "hmpo_mean": (hmpo_reward, _hmpo_parts, {"budget": "mean"}),
    "hmpo_linear": (hmpo_reward, _hmpo_parts, {"decay": "linear"}),
    "hmpo_lt": (hmpo_reward, _hmpo_parts, {"boundary": "lt"}),
    "kimi": (kimi_reward, _kimi_parts, {}),
    "arora_zanette": (arora_zanette_reward, _arora_zanette_parts, {}),
    "shorterbetter": (shorterbetter_reward, _shorterbetter_parts, {}),
    "grpo_lead": (grpo_lead_reward, _grpo_lead_parts, {}),
    "gr3": (gr3_reward, _gr3_parts, {}),
    "laser": (laser_reward, _laser_parts, {}),
    "dapo_overlong": (dapo_overlong_reward, _dapo_overlong_parts, {}),
}


def _defaults(fn) -> dict:
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


class Reward:
    """A registered reward with its resolved parameters: picklable, callable as
    ``reward(correct, lengths, group_ids) -> np.ndarray``, with a stable ``__name__`` (the
    registry name) and ``params`` (every parameter as used, defaults included, for logging)."""

    def __init__(self, name: str, params: dict):
        self.__name__ = name
        self.params = dict(params)

    def components(self, correct, lengths, group_ids) -> dict[str, np.ndarray]:
        """``{"correct": c, "length": <length term>, "total": r}``, each one per rollout.

        ``length`` is the reward's length term as documented on its function (an additive
        term or a multiplicative factor); ``total`` is what ``__call__`` returns.
        """
        return _REGISTRY[self.__name__][1](correct, lengths, group_ids, **self.params)

    def __call__(self, correct, lengths, group_ids) -> np.ndarray:
        return self.components(correct, lengths, group_ids)["total"]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"get_reward({self.__name__!r}{', ' if args else ''}{args})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Reward) and (self.__name__, self.params) == (
            other.__name__, other.params)

    def __hash__(self) -> int:
        return hash((self.__name__, tuple(sorted(self.params.items(), key=str))))


def list_rewards() -> list[str]:
    """Names accepted by :func:`get_reward`, sorted.

    >>> "hmpo" in list_rewards() and "grpo" in list_rewards()
    True
    """
    return sorted(_REGISTRY)


def get_reward(name: str, **params) -> Reward:
    """The registered reward ``name`` with ``params`` over its defaults, validated now.

    Preset variants fix one switch (``hmpo_add``: combine="add", ``hmpo_add_ungated``,
    ``hmpo_fixed``: budget="fixed", ``hmpo_mean``, ``hmpo_linear``, ``hmpo_lt``); overriding
    a preset, an unknown name, an unknown parameter or a bad value raises ``ValueError``.

    >>> reward = get_reward("hmpo_add", lam=0.5)
    >>> reward.__name__, reward.params["combine"], reward.params["lam"]
    ('hmpo_add', 'add', 0.5)
    >>> reward([1, 0], [10, 10], ["p", "p"]).tolist()  # b = 10, n = b: 0.5 bonus
    [1.5, 0.0]
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown reward {name!r}; known: {', '.join(list_rewards())}")
    public, parts, preset = _REGISTRY[name]
    resolved = _defaults(public)
    for key, value in params.items():
        if key not in resolved:
            raise ValueError(f"unknown parameter {key!r} for reward {name!r}; "
                             f"known: {', '.join(resolved) or 'none'}")
        if key in preset and value != preset[key]:
            raise ValueError(f"reward {name!r} fixes {key}={preset[key]!r}; got {value!r} "
                             f"(use 'hmpo' with {key}={value!r})")
    resolved.update(preset)
    resolved.update(params)
    parts([], [], [], **resolved)  # validates every parameter at construction time
    return Reward(name, resolved)

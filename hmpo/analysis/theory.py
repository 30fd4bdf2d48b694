"""Endpoint predictions of each length reward from a base model's measured style table.

An *invasion* model of where GRPO training with a given reward ends, checked against the
exact reward code of :mod:`hmpo.training.rewards` rather than re-derived formulas
(``../shared/TESTBED_THEORY.md`` derives the thresholds by hand; the tests reproduce them
with this module).

The model
---------
**Rungs.** Per ``k``-step problem the policy can write one of a few *styles* (rungs), each
with a length ``L`` in tokens (EOS included, as the rewards count it) and an accuracy ``a``
(:func:`ladder`):

- ``verbose``: the measured mean length and accuracy of the base model's verbose traces at
  ``k`` (only if the table has that cell);
- ``minimal``: every step, nothing else, ``L = 3k + 4`` (:func:`hmpo.task.synthetic.
  minimal_trace_tokens`), accuracy ``a_r(k)`` = the accuracy of *full* traces at ``k``: the
  ``minimal`` and ``verbose`` cells pooled, weighted by their ``n`` (0 if neither exists);
- ``early<m>``, ``m = 1..k``: an early answer that absorbs ``m`` operations,
  ``L = 3(k − m) + m + 5 = 3k − 2m + 5`` (:func:`hmpo.task.synthetic.early_answer_trace`),
  with accuracy

      a_s(k, m) = a_r(k) · t_m + (1 − a_r(k)) · chance,    chance = 0.1,

  where ``t_m`` is the teacher-forced answer accuracy when the answer absorbs ``m``
  operations (``teacher_forced_lines["early_answer_by_absorbed"][m]``; the largest measured
  ``m`` stands in for larger ones). **Assumption:** the written prefix of an early trace is
  right exactly as often as a full trace (``a_r``); given a right prefix the answer is right
  with the teacher-forced probability ``t_m``; given a wrong prefix the answer is a uniform
  guess among the 10 digits.

**Veiled problems** (:mod:`hmpo.task.synthetic`; their cells are keyed ``"k?"``, see
:func:`cell_key`): a hidden factor makes the answer 0 with probability ``q``
(``data.synthetic.veil_zero_prob``), so every rung above is right only when the factor is 1
(or the answer happens to be 0), and one more rung exists, ``guess`` (``A: 0``, 4 tokens),
right with ``q + (1 − q)·chance`` (:func:`ladder`). Its accuracy lies between the gated and
the ungated rewards' thresholds, which is what the veiled problems are for.

**Invasion criterion** (:func:`expected_rewards`). A group made of ``n`` rollouts of the
*current* rung and ONE rollout of a *candidate* rung; the reward function of the registry is
evaluated on that group for every number ``j`` of correct current rollouts and for the
candidate correct and wrong, and the cases weighted by their probabilities (``j ~
Binomial(n, a_cur)``, candidate correct with ``a_c``):

    E[r_cand] = E_j[a_c·r_cand(j, correct) + (1 − a_c)·r_cand(j, wrong)]
    E[r_cur]  = E_j[a_c·mean r_cur(j, correct) + (1 − a_c)·mean r_cur(j, wrong)]

GRPO's advantage of the candidate is ``r_cand − mean_G r ≈ r_cand − r_cur`` for large ``n``,
so the policy's share of the candidate grows iff ``E[r_cand] > E[r_cur]``. Because the real
reward code is called, the group statistics are the real ones: HMPO's median (or mean)
budget of the correct lengths, Kimi's min/max, the z-scores of Arora–Zanette and GRPO-LEAD,
ShorterBetter's shortest correct length, a fixed budget's ``1[n < T]``.

**Walk** (:func:`endpoint`). Start at the verbose rung (the minimal one if there is no
verbose cell); at each step every other rung invades the current one; the rung with the
largest expected advantage ``E[r_cand] − E[r_cur]`` replaces the current rung when that
advantage exceeds ``1e-9``. Stop when no rung invades (the endpoint), when a rung is visited
twice (a cycle, reported), or after 50 moves. A move replaces the whole population at once,
so HMPO's tipping point (the median drops to the shortcut once shortcuts are the majority of
the correct rollouts) is taken for granted after a successful invasion.

**Aggregation** (:func:`predict`). Per method and difficulty the endpoint rung; the method's
predicted mean tokens and accuracy are their means over ``k`` weighted by the share of the
evaluation set at ``k``.

Assumptions and limits
----------------------
- Only the styles above exist; the policy ends in a pure style per difficulty (no mixture at
  the endpoint), and rungs are compared one invader at a time.
- The criterion is evaluated at group size ``n + 1``. The pipeline's predictions
  (:func:`write_predictions`) use the training group, ``n = G − 1`` (one invader among the
  ``num_generations`` rollouts of a prompt); the functions' default is 1,000. The
  median/mean/min/max rewards barely depend on it, but the z-score rewards do. A single
  invader among ``n`` equal correct lengths has ``z ≈ −√n``: Arora–Zanette's ``σ(z)``
  saturates (threshold ≈ 0.9·a_r at any size), but GRPO-LEAD's ``exp(−α·z)`` grows with
  ``n`` (threshold ≈ 0.34–0.37·a_r at n = 1000 against ≈ 0.93·a_r for one invader in a
  group of 8, the doc's figure). Pass ``n`` to study that.
- Multi-stage training (SFT on the shortest correct samples, then GRPO) is not a reward
  walk: such methods are reported as not modelled.
- Pre-registered tolerance (:data:`TOLERANCE`, :func:`check`): a prediction *holds* when the
  observed seed mean is within ±1.5 tokens and ±0.05 accuracy of it.

- Every style is one fixed length: the mean budget then drops below the reliable length as
  soon as one shorter rollout is correct (every reliable trace over budget), so its threshold
  is far below HMPO's. Real lengths vary; this is a prediction that can fail.

:func:`predict` and :func:`check` are pure; :func:`write_predictions` (stage predictions: from
the base model's measurements, before any method is trained) and
:func:`predictions_vs_outcomes` (stage figures) are the pipeline's two ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hmpo import paths
from hmpo.config import Config, MethodConfig
from hmpo.io import dumps_json, write_text_atomic
from hmpo.task.data import read_records
from hmpo.task.synthetic import cell_key, minimal_trace_tokens, parse_cell, parse_prompt
from hmpo.training.rewards import get_reward

__all__ = [
    "CHANCE", "GUESS_TOKENS", "TOLERANCE", "Rung", "Walk", "ladder",
    "expected_rewards", "endpoint",
    "method_reward", "predict", "check", "write_predictions", "predictions_vs_outcomes",
    "predictions_by_difficulty",
]

#: Accuracy of a guessed answer: the answer is one digit 0-9.
CHANCE = 0.1
#: Tokens of the guess style of a veiled problem (``\\nA: 0`` and EOS).
GUESS_TOKENS = 4
#: Pre-registered rule: a prediction holds when the observed seed mean is within both.
TOLERANCE = {"tokens": 1.5, "accuracy": 0.05}
#: An invader must beat the current rung by more than this (ties keep the current rung).
MARGIN = 1e-9
MAX_MOVES = 50

RewardFn = Callable[[Any, Any, Any], np.ndarray]


@dataclass(frozen=True)
class Rung:
    """One style of a k-step problem: ``name`` (``verbose``, ``minimal``, ``early1``, ...),
    ``length`` in tokens (EOS included) and ``accuracy`` in [0, 1]."""

    name: str
    length: float
    accuracy: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.length) and self.length >= 0):
            raise ValueError(f"Rung {self.name!r}: length must be finite and >= 0, "
                             f"got {self.length!r}")
        if not 0.0 <= self.accuracy <= 1.0:
            raise ValueError(f"Rung {self.name!r}: accuracy must be in [0, 1], "
                             f"got {self.accuracy!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tokens": float(self.length),
                "accuracy": float(self.accuracy)}


@dataclass(frozen=True)
class Walk:
    """The result of :func:`endpoint`: the ``final`` rung, the ``path`` of rungs visited
    (start first, final last) and why the walk stopped: ``"endpoint"`` (no rung invades),
    ``"cycle"`` (the best invader was already visited; ``final`` is the rung where the walk
    stopped) or ``"max_moves"``."""

    final: Rung
    path: tuple[Rung, ...]
    stopped: str

    @property
    def cycle(self) -> bool:
        return self.stopped == "cycle"


# ----------------------------------------------------------------------------- ladder
def _by_int_key(d: Mapping) -> dict[int, Any]:
    """A mapping keyed by ints, from one keyed by ints or digit strings (other keys dropped:
    the table's ``"all"``)."""
    out: dict[int, Any] = {}
    for key, value in d.items():
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            out[int(key)] = value
        elif isinstance(key, str) and key.strip().isdigit():
            out[int(key)] = value
    return out


def _table_parts(table: Mapping) -> tuple[dict[int, Mapping], dict[int, float]]:
    if "styles" not in table or "teacher_forced_lines" not in table:
        raise ValueError("table must have the keys 'styles' and 'teacher_forced_lines' "
                         f"(hmpo.models.sft.measure's output), got {sorted(table)}")
    styles = _by_int_key(table["styles"])
    tf = table["teacher_forced_lines"].get("early_answer_by_absorbed")
    if not tf:
        raise ValueError("table['teacher_forced_lines'] has no 'early_answer_by_absorbed': "
                         "the early rungs' accuracy is undefined")
    t = {m: float(v) for m, v in _by_int_key(tf).items()}
    if not t:
        raise ValueError("early_answer_by_absorbed has no numbered entries")
    return styles, t


def _full_accuracy(cells: Mapping) -> float | None:
    """Accuracy of the full traces (minimal and verbose pooled by n), None if neither."""
    full = [cells[s] for s in ("minimal", "verbose") if s in cells and cells[s].get("n", 0) > 0]
    n_full = sum(float(c["n"]) for c in full)
    return sum(float(c["accuracy"]) * float(c["n"]) for c in full) / n_full if n_full else None


def ladder(k: int, table: Mapping, *, veil_zero_prob: float | None = None) -> list[Rung]:
    """The rungs of a ``k``-step problem from a measured ``table`` (longest first): verbose
    (if measured at ``k``), minimal, early1 .. early<k>. See the module docstring.

    With ``veil_zero_prob`` (q) the rungs of a *veiled* ``k``-step problem (its cells under
    ``"k?"``; the plain ones stand in where the table has none): the full rungs' accuracy
    ``a_r`` is the veiled cells' measured one (else ``(1 − q)·a_r(plain) + q·chance``); an
    early answer is right when the hidden factor is 1 and the answer is, or when it is 0 and
    the answer happens to be 0: ``(1 − q)·(a_c·t_m + (1 − a_c)·chance) + q·chance`` with the
    computation's accuracy ``a_c = (a_r − q·chance)/(1 − q)``; and one more rung, ``guess``
    (``A: 0`` with no work, 4 tokens with EOS), right with ``P(gold = 0) = q + (1 − q)·chance``.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    k = int(k)
    styles, t = _table_parts(table)
    q = 0.0 if veil_zero_prob is None else float(veil_zero_prob)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"veil_zero_prob must be in [0, 1], got {veil_zero_prob!r}")
    plain = styles.get(k, {})
    cells = plain
    a_r = _full_accuracy(plain) or 0.0
    if veil_zero_prob is not None:
        veiled = (table["styles"].get(cell_key(k, True)) or {})
        measured = _full_accuracy(veiled)
        cells = veiled if "verbose" in veiled else plain
        a_r = measured if measured is not None else (1.0 - q) * a_r + q * CHANCE
    a_c = a_r if q == 0.0 else (min(1.0, max(0.0, (a_r - q * CHANCE) / (1.0 - q)))
                                if q < 1.0 else 0.0)
    rungs = []
    if "verbose" in cells:
        v = cells["verbose"]
        a_v = float(v["accuracy"])
        if veil_zero_prob is not None and cells is plain:  # a plain cell standing in
            a_v = (1.0 - q) * a_v + q * CHANCE
        rungs.append(Rung("verbose", float(v["mean_tokens"]), a_v))
    minimal = minimal_trace_tokens(k)
    rungs.append(Rung("minimal", float(minimal), a_r))
    largest = max(t)
    for m in range(1, k + 1):
        t_m = t.get(m, t[largest] if m > largest else None)
        if t_m is None:  # a gap below the largest measured m: the next smaller one measured
            t_m = t[max(x for x in t if x < m)] if any(x < m for x in t) else t[min(t)]
        a_s = a_c * t_m + (1.0 - a_c) * CHANCE
        if veil_zero_prob is not None:
            a_s = (1.0 - q) * a_s + q * CHANCE
        rungs.append(Rung(f"early{m}", float(minimal - (2 * m - 1)), min(1.0, max(0.0, a_s))))
    if veil_zero_prob is not None:
        rungs.append(Rung("guess", float(GUESS_TOKENS), q + (1.0 - q) * CHANCE))
    return rungs


# ----------------------------------------------------------------------------- invasion
def expected_rewards(reward_fn: RewardFn, current: Rung, candidate: Rung, *,
                     n: int = 1000) -> tuple[float, float]:
    """``(E[reward of a current rollout], E[reward of the candidate rollout])`` in a group of
    ``n`` rollouts of ``current`` plus one of ``candidate``, computed with
    ``reward_fn(correct, lengths, group_ids)`` (a registry reward): the expectation over the
    number ``j ~ Binomial(n, a_cur)`` of correct current rollouts and over the candidate being
    correct (probability ``a_cand``) or wrong. (Terms with probability under 1e-12 are dropped
    and the rest renormalised.)

    >>> from hmpo.training.rewards import get_reward
    >>> cur, cand = Rung("reliable", 20, 0.9), Rung("shortcut", 16, 0.73)
    >>> r_cur, r_cand = expected_rewards(get_reward("hmpo"), cur, cand)
    >>> round(r_cur, 4), round(r_cand, 4)  # 0.8·a_r against R(0.8)·a_s = a_s
    (0.72, 0.73)
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    lengths = np.full(n + 1, float(current.length))
    lengths[n] = float(candidate.length)
    groups = np.zeros(n + 1, dtype=np.int64)
    a = float(candidate.accuracy)
    e_cur = e_cand = total = 0.0
    for j, p_j in _binomial_pmf(n, float(current.accuracy)):
        c = np.zeros(n + 1, dtype=bool)
        c[:j] = True
        for cand_ok, p_c in ((True, a), (False, 1.0 - a)):
            if p_c == 0.0:
                continue
            c[n] = cand_ok
            r = np.asarray(reward_fn(c, lengths, groups), dtype=np.float64)
            e_cur += p_j * p_c * float(r[:n].mean())
            e_cand += p_j * p_c * float(r[n])
        total += p_j
    return e_cur / total, e_cand / total


def _binomial_pmf(n: int, p: float, floor: float = 1e-12) -> list[tuple[int, float]]:
    """``(j, P(J = j))`` for ``J ~ Binomial(n, p)``, the terms of probability >= `floor`."""
    if p <= 0.0:
        return [(0, 1.0)]
    if p >= 1.0:
        return [(n, 1.0)]
    out = []
    for j in range(n + 1):
        logp = (math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1)
                + j * math.log(p) + (n - j) * math.log1p(-p))
        if logp >= math.log(floor):
            out.append((j, math.exp(logp)))
    return out


def _start_rung(rungs: list[Rung], start: Rung | str | None) -> Rung:
    if isinstance(start, Rung):
        if start not in rungs:
            raise ValueError(f"start rung {start!r} is not among the rungs")
        return start
    names = {r.name: r for r in rungs}
    if start is not None:
        if start not in names:
            raise ValueError(f"start: no rung named {start!r} (have {sorted(names)})")
        return names[start]
    return names.get("verbose") or names.get("minimal") or rungs[0]


def endpoint(reward_fn: RewardFn, rungs: list[Rung], start: Rung | str | None = None, *,
             n: int = 1000, max_moves: int = MAX_MOVES) -> Walk:
    """Walk from ``start`` (a rung or its name; default the verbose rung, else the minimal
    one) to the rung no other rung invades under ``reward_fn`` (module docstring)."""
    rungs = list(rungs)
    if not rungs:
        raise ValueError("rungs is empty")
    current = _start_rung(rungs, start)
    path = [current]
    for _ in range(max_moves):
        best, best_adv = None, MARGIN
        for cand in rungs:
            if cand == current:
                continue
            r_cur, r_cand = expected_rewards(reward_fn, current, cand, n=n)
            if r_cand - r_cur > best_adv:
                best, best_adv = cand, r_cand - r_cur
        if best is None:
            return Walk(current, tuple(path), "endpoint")
        if best in path:
            return Walk(current, tuple(path + [best]), "cycle")
        current = best
        path.append(current)
    return Walk(current, tuple(path), "max_moves")


# ----------------------------------------------------------------------------- methods
def _method_config(spec: MethodConfig | Mapping) -> MethodConfig:
    if isinstance(spec, MethodConfig):
        return spec
    spec = dict(spec)
    spec["params"] = dict(spec.get("params") or {})
    return MethodConfig(**spec)


def _budget_key(percentile: float) -> str:
    return f"p{percentile:g}"  # hmpo.models.fixed_budgets.fixed_budgets' keys: "p25"


def method_reward(spec: MethodConfig | Mapping,
                  budgets_tokens: Mapping | None = None) -> tuple[RewardFn | None, str]:
    """The registry reward of one method of params.yaml's ``methods:`` (a
    :class:`hmpo.config.MethodConfig` or its dict), with a ``budget_percentile`` turned into
    ``fixed_budget_tokens`` from ``budgets_tokens`` as the train stage does
    (``{"p25": 14.0, ...}`` or all of budgets.json). Returns ``(reward, "")``, or
    ``(None, why)`` for a method the model does not cover."""
    try:
        m = _method_config(spec)
    except TypeError as e:
        return None, f"not a method spec: {e}"
    if m.multistage:
        return None, ("multistage: SFT on the shortest correct samples before GRPO is not a "
                      "reward walk")
    params = dict(m.params)
    if m.budget_percentile is not None:
        budgets = dict(budgets_tokens or {})
        budgets = dict(budgets.get("budgets_tokens", budgets))
        key = _budget_key(m.budget_percentile)
        if key not in budgets:
            return None, (f"budget_percentile {m.budget_percentile}: no {key!r} in "
                          f"budgets_tokens (have {sorted(budgets)})")
        params["fixed_budget_tokens"] = float(budgets[key])
    elif m.reward == "hmpo_fixed" and "fixed_budget_tokens" not in params:
        return None, "hmpo_fixed without budget_percentile or params.fixed_budget_tokens"
    try:
        return get_reward(m.reward, **params), ""
    except ValueError as e:
        return None, f"reward {m.reward!r}: {e}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    return repr(value)


def predict(table: Mapping, methods: Mapping[str, MethodConfig | Mapping], *,
            difficulty_weights: Mapping, budgets_tokens: Mapping | None = None,
            n: int = 1000, veil_zero_prob: float | None = None) -> dict[str, Any]:
    """Predicted endpoints of each method from a measured ``table`` (``{"styles": ...,
    "teacher_forced_lines": ...}``, as :func:`hmpo.models.sft.measure` returns them).

    ``methods``: name -> ``{reward, params?, budget_percentile?, multistage?}`` (params.yaml's
    ``methods:``) or :class:`hmpo.config.MethodConfig`. ``difficulty_weights``: ``k`` -> share
    of the evaluation set (normalised to sum 1); a key ``"k?"`` is the veiled ``k``-step
    problems (:func:`cell_key`), whose ladder uses ``veil_zero_prob`` (required then).
    ``budgets_tokens``: the fixed budgets,
    ``{"p25": 14.0, ...}`` or all of budgets.json. Returns, JSON-able::

        {"tolerance": {"tokens": 1.5, "accuracy": 0.05},
         "assumptions": {"chance": 0.1, "n": 1000, ...},
         "difficulty_weights": {"1": 0.5, ...},
         "methods": {name: {"modelled": True, "reward": ..., "params": {...},
                            "tokens": <weighted mean>, "accuracy": <weighted mean>,
                            "by_difficulty": {"1": {"name": "early1", "tokens": 6.0,
                                                    "accuracy": 0.97, "path": [...],
                                                    "stopped": "endpoint"}, ...}},
                     other: {"modelled": False, "why": "..."}}}
    """
    try:
        weights = {parse_cell(k): float(w) for k, w in difficulty_weights.items()}
    except (TypeError, ValueError):
        weights = {}
    if not weights or len(weights) != len(difficulty_weights):
        raise ValueError(f"difficulty_weights must map difficulties k >= 1 (or 'k?') to "
                         f"shares, got {dict(difficulty_weights)!r}")
    if any(k < 1 or not math.isfinite(w) or w < 0 for (k, _), w in weights.items()) \
            or sum(weights.values()) <= 0:
        raise ValueError(f"difficulty_weights need k >= 1 and shares >= 0 summing > 0, got "
                         f"{weights!r}")
    if veil_zero_prob is None and any(v for _, v in weights):
        raise ValueError("difficulty_weights has veiled cells ('k?'): pass veil_zero_prob")
    total = sum(weights.values())
    weights = {c: w / total for c, w in sorted(weights.items())}
    ladders = {(k, v): ladder(k, table, veil_zero_prob=veil_zero_prob if v else None)
               for k, v in weights}
    out_methods: dict[str, Any] = {}
    for name, spec in methods.items():
        reward, why = method_reward(spec, budgets_tokens)
        if reward is None:
            out_methods[name] = {"modelled": False, "why": why}
            continue
        by_k, tokens, acc = {}, 0.0, 0.0
        for c, w in weights.items():
            walk = endpoint(reward, ladders[c], n=n)
            by_k[cell_key(*c)] = {**walk.final.to_dict(), "path": [r.name for r in walk.path],
                            "stopped": walk.stopped}
            tokens += w * walk.final.length
            acc += w * walk.final.accuracy
        out_methods[name] = {"modelled": True, "reward": reward.__name__,
                             "params": _jsonable(reward.params), "tokens": tokens,
                             "accuracy": acc, "by_difficulty": by_k}
    assumptions = {"chance": CHANCE, "n": n, "margin": MARGIN, "max_moves": MAX_MOVES,
                   "start": "verbose, else minimal",
                   "early_accuracy": "a_r*t_m + (1 - a_r)*chance"}
    if any(v for _, v in weights):
        assumptions["veil_zero_prob"] = veil_zero_prob
        assumptions["veiled_early_accuracy"] = ("(1 - q)*(a_c*t_m + (1 - a_c)*chance) + "
                                                "q*chance, a_c = (a_r - q*chance)/(1 - q)")
        assumptions["guess_accuracy"] = "q + (1 - q)*chance"
    return _jsonable({
        "tolerance": dict(TOLERANCE),
        "assumptions": assumptions,
        "difficulty_weights": {cell_key(*c): w for c, w in weights.items()},
        "methods": out_methods,
    })


def check(prediction: Mapping, observed_tokens: float, observed_accuracy: float) -> str:
    """``"held"`` when the observed seed mean is within ±1.5 tokens AND ±0.05 accuracy of
    a modelled ``prediction`` (one method's entry of :func:`predict`, or any mapping with
    ``tokens`` and ``accuracy``), else ``"failed"``. Edges count as held.

    >>> check({"tokens": 13.5, "accuracy": 0.95}, 15.0, 0.90)
    'held'
    >>> check({"tokens": 13.5, "accuracy": 0.95}, 15.1, 0.95)
    'failed'
    """
    if prediction.get("modelled", True) is False:
        raise ValueError(f"prediction is not modelled ({prediction.get('why', '')}): "
                         "nothing to check")
    eps = 1e-9  # decimal edges (0.9 + 0.05) are not exact in binary
    d_tok = abs(float(observed_tokens) - float(prediction["tokens"]))
    d_acc = abs(float(observed_accuracy) - float(prediction["accuracy"]))
    ok = d_tok <= TOLERANCE["tokens"] + eps and d_acc <= TOLERANCE["accuracy"] + eps
    return "held" if ok else "failed"


# ----------------------------------------------------------------------------- the pipeline
def write_predictions(cfg: Config, metrics: Mapping[str, Any], budgets: Mapping[str, Any],
                      path: Any) -> dict[str, Any]:
    """Stage predictions: :func:`predict` every method of ``cfg`` from each base model's measured
    style table and fixed budgets (`metrics` and `budgets`: the base_model stage's
    ``{"seed<b>": ...}``; a seed's ``metrics["eval"]`` is
    :func:`hmpo.models.sft.measure_synthetic`'s), with the difficulty mix of the main
    evaluation set, at the training group size (``n = num_generations - 1``); write it to
    `path` (JSON) and return it.

    The file holds each base seed's predictions (``bases``) and their mean (``methods``,
    :func:`mean_predictions`), which is what the runs' across-seed mean is checked against
    (each training seed starts from its own base with ``base_model.per_seed``). Without a
    style table (a pretrained base model, a non-synthetic main set) it says why there is no
    prediction."""
    main = "synthetic_eval" if "synthetic_eval" in cfg.evaluate.sets else cfg.evaluate.sets[0]
    evals = {run: m.get("eval") or {} for run, m in metrics.items()}
    out: dict[str, Any]
    if main != "synthetic_eval" or not evals or not all(
            "styles" in ev and "teacher_forced_lines" in ev for ev in evals.values()):
        out = {"methods": {}, "why": "no style table: the base model is not measured on the "
                                     "synthetic task (theory predicts the synthetic task only)"}
    else:
        counts: dict[str, int] = {}
        for rec in read_records(paths.data_file(main)):
            p = parse_prompt(rec["prompt"])
            c = cell_key(p.n_steps, p.veiled)
            counts[c] = counts.get(c, 0) + 1
        bases = {}
        for run, ev in evals.items():
            bases[run] = predict({"styles": ev["styles"],
                                  "teacher_forced_lines": ev["teacher_forced_lines"]},
                                 cfg.methods, difficulty_weights=counts,
                                 budgets_tokens=budgets[run],
                                 n=max(1, cfg.train.num_generations - 1),
                                 veil_zero_prob=cfg.data.synthetic.veil_zero_prob
                                 if cfg.data.synthetic.veiled_share > 0 else None)
            bases[run]["set"] = main
        first = next(iter(bases.values()))
        out = {k: v for k, v in first.items() if k != "methods"}
        out["bases"] = bases
        out["methods"] = mean_predictions([b["methods"] for b in bases.values()])
    write_text_atomic(path, dumps_json(out))
    return out


def mean_predictions(per_base: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The mean over base models of each method's prediction (``per_base``: each base's
    ``predict(...)["methods"]``): tokens and accuracy averaged, overall and per difficulty; a
    difficulty's style is the common one, else the bases' styles joined with ``/``; modelled
    only if every base's is (else the first unmodelled entry). One base: its own entry.

    >>> a = {"m": {"modelled": True, "tokens": 10.0, "accuracy": 0.9, "by_difficulty": {}}}
    >>> b = {"m": {"modelled": True, "tokens": 12.0, "accuracy": 0.8, "by_difficulty": {}}}
    >>> r = mean_predictions([a, b])["m"]
    >>> r["tokens"], round(r["accuracy"], 3)
    (11.0, 0.85)
    """
    if len(per_base) == 1:
        return dict(per_base[0])
    out: dict[str, Any] = {}
    for name in per_base[0]:
        entries = [p[name] for p in per_base]
        unmodelled = [e for e in entries if not e.get("modelled")]
        if unmodelled:
            out[name] = dict(unmodelled[0])
            continue
        m = {k: v for k, v in entries[0].items() if k not in ("tokens", "accuracy",
                                                              "by_difficulty")}
        m["tokens"] = float(np.mean([e["tokens"] for e in entries]))
        m["accuracy"] = float(np.mean([e["accuracy"] for e in entries]))
        by_k = {}
        for k in entries[0].get("by_difficulty") or {}:
            cells = [e["by_difficulty"][k] for e in entries]
            names = list(dict.fromkeys(c["name"] for c in cells))
            by_k[k] = {"name": "/".join(names),
                       "tokens": float(np.mean([c["tokens"] for c in cells])),
                       "accuracy": float(np.mean([c["accuracy"] for c in cells]))}
        m["by_difficulty"] = by_k
        out[name] = m
    return out


def predictions_vs_outcomes(predictions: Mapping[str, Any],
                            summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Stage figures: one row per method of `predictions` with its predicted and observed
    (across-seed mean on the predictions' set, from :func:`hmpo.analysis.report.build_summary`'s
    dict) tokens and accuracy, and the pre-registered verdict of :func:`check` (``held`` /
    ``failed``; ``not modelled`` / ``not run`` otherwise)."""
    rows = []
    s = predictions.get("set")
    for name, p in (predictions.get("methods") or {}).items():
        obs = summary.get("methods", {}).get(name, {}).get("sets", {}).get(s)
        row: dict[str, Any] = {"method": name, "predicted_tokens": p.get("tokens"),
                               "predicted_accuracy": p.get("accuracy"),
                               "observed_tokens": obs.get("mean_tokens") if obs else None,
                               "observed_accuracy": obs.get("accuracy") if obs else None}
        if not p.get("modelled"):
            row["verdict"] = "not modelled"
        elif not obs:
            row["verdict"] = "not run"
        else:
            row["verdict"] = check(p, obs["mean_tokens"], obs["accuracy"])
        rows.append(row)
    return rows


def predictions_by_difficulty(predictions: Mapping[str, Any],
                              observed: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per modelled method and difficulty: the predicted style, tokens and accuracy beside the
    observed ones (``observed``: model -> :func:`hmpo.analysis.report.mean_by_difficulty`'s
    dict; None if absent). The observed table is per ``k``, so a ``k`` with veiled problems
    pools its plain and veiled cells' predictions, weighted by the predictions'
    ``difficulty_weights``, and names both styles (``"early1 | guess?"``)."""
    weights = predictions.get("difficulty_weights") or {}
    rows = []
    for name, p in (predictions.get("methods") or {}).items():
        if not p.get("modelled"):
            continue
        pooled: dict[int, list[tuple[str, float, Mapping[str, Any]]]] = {}
        for c, cell in (p.get("by_difficulty") or {}).items():
            k, veiled = parse_cell(c)
            pooled.setdefault(k, []).append((cell["name"] + "?" * veiled,
                                             float(weights.get(c, 1.0)), cell))
        for k, cells in pooled.items():
            if len(cells) == 1:  # a plain k: its cell as it is
                cells = [(cells[0][0], 1.0, cells[0][2])]
            total = sum(w for _, w, _ in cells) or 1.0
            obs = (observed.get(name) or {}).get(str(k)) or {}
            rows.append({"method": name, "k": str(k),
                         "style": " | ".join(n for n, _, _ in cells),
                         "predicted_tokens": sum(w * c["tokens"] for _, w, c in cells) / total,
                         "observed_tokens": obs.get("mean_tokens"),
                         "predicted_accuracy": sum(w * c["accuracy"]
                                                   for _, w, c in cells) / total,
                         "observed_accuracy": obs.get("accuracy")})
    return rows

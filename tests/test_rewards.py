"""Tests of the reward zoo (hmpo.training.rewards, hmpo.training.group_stats): hand-computed
tables, adversarial input, the registry, and hypothesis properties against plain reference
implementations."""

from __future__ import annotations

import doctest
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hmpo.training.group_stats
import hmpo.training.rewards
from hmpo.training.group_stats import factorize_groups, group_stats, hmpo_budget
from hmpo.training.rewards import get_reward, hmpo_reward, list_rewards, token_reward

# GRPO-LEAD with the earlier choices of this file (gate off, ddof 0, no answer = wrong)
LEAD_POP = {"gate_tokens": None, "std": "population", "no_answer_reward": -1}

COS45 = math.cos(math.pi / 4)  # 0.7071: the cosine at n = b/2


# ----------------------------------------------------------------------------- doctests
@pytest.mark.parametrize("module", [hmpo.training.rewards, hmpo.training.group_stats])
def test_doctests(module):
    res = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0, "no doctest found: examples were removed?"
    assert res.failed == 0


# ----------------------------------------------------------------------------- HMPO table
G1 = ["q"] * 4
HMPO_CASES = [
    # (kwargs, correct, lengths, group_ids, expected), one comment per case
    # b = median(100, 200, 300) = 200; n = b/2: cos(π/4) + 0.8 = 1.507 -> clipped to 1.0;
    # n = b: cos(π/2) + 0.8 = 0.8 ("le"); n > b: 0; wrong: 0 whatever its length
    ({}, [1, 1, 1, 0], [100, 200, 300, 50], G1, [1.0, 0.8, 0.0, 0.0]),
    # the paper's strict n < b: at n = b the reward is 0 instead of λ
    ({"boundary": "lt"}, [1, 1, 1, 0], [100, 200, 300, 50], G1, [1.0, 0.0, 0.0, 0.0]),
    # λ = 0 shows the raw cosine: n = b/2 -> 0.7071, n = 2b/3 (b = 300) -> cos(π/3) = 0.5
    ({"lam": 0.0}, [1, 1, 1], [200, 300, 400], G1[:3], [0.5, 0.0, 0.0]),
    ({"lam": 0.0}, [1, 1, 1], [100, 200, 300], G1[:3], [COS45, 0.0, 0.0]),
    # h = 2 lifts the clip; b = median(0, 100, 200, 300, 400) = 200:
    # n = 0 -> 1 + 0.8 = 1.8, n = b/2 -> 0.7071 + 0.8 = 1.5071, n = b -> 0.8
    ({"clip_high": 2.0}, [1] * 5, [0, 100, 200, 300, 400], ["q"] * 5,
     [1.8, COS45 + 0.8, 0.8, 0.0, 0.0]),
    # β = 0.5, λ = 0.3, n = b/2: 0.5·0.7071 + 0.3 = 0.6536
    ({"beta": 0.5, "lam": 0.3}, [1, 1, 1], [100, 200, 300], G1[:3], [0.5 * COS45 + 0.3, 0.3, 0.0]),
    # even count: b = (100 + 300)/2 = 200 (numpy's median); the wrong 150 earns 0
    ({}, [1, 1, 0], [100, 300, 150], G1[:3], [1.0, 0.0, 0.0]),
    # a verifier score of -1 is wrong: only the 100 is correct, b = 100, n = b -> 0.8
    ({}, [1, -1, 0], [100, 50, 60], G1[:3], [0.8, 0.0, 0.0]),
    # no correct rollout: b undefined, every reward 0
    ({}, [0, 0, -1], [10, 20, 30], G1[:3], [0.0, 0.0, 0.0]),
    # ...also in the ungated additive form (R_token is 0 where b is undefined)
    ({"combine": "add_ungated"}, [0, 0], [10, 20], G1[:2], [0.0, 0.0]),
    # additive: c·(1 + R_token): 1 + 1, 1 + 0.8, 1 + 0 (over budget), wrong 0
    ({"combine": "add"}, [1, 1, 1, 0], [100, 200, 300, 50], G1, [2.0, 1.8, 1.0, 0.0]),
    # ungated: the short wrong answer (n = 50 < b) still earns R_token = 1: reward hacking
    ({"combine": "add_ungated"}, [1, 1, 1, 0], [100, 200, 300, 50], G1, [2.0, 1.8, 1.0, 1.0]),
    # mean budget: b = (100 + 200 + 600)/3 = 300; n = 200 = 2b/3: 0.5 + 0.8 -> 1.0; 600 > b
    ({"budget": "mean"}, [1, 1, 1], [100, 200, 600], G1[:3], [1.0, 1.0, 0.0]),
    # ...versus the median b = 200 on the same rollouts: n = b -> 0.8
    ({}, [1, 1, 1], [100, 200, 600], G1[:3], [1.0, 0.8, 0.0]),
    # linear decay, λ = 0, b = 200: (200 - 50)/200 = 0.75, (200 - 100)/200 = 0.5, 0 at b
    ({"decay": "linear", "lam": 0.0}, [1] * 5, [50, 100, 200, 300, 400], ["q"] * 5,
     [0.75, 0.5, 0.0, 0.0, 0.0]),
    # linear with λ = 0.8: 0.5 + 0.8 -> clipped to 1; n = b -> 0.8
    ({"decay": "linear"}, [1, 1, 1], [100, 200, 300], G1[:3], [1.0, 0.8, 0.0]),
    # fixed T = 150, binary strict n < T: 100 -> 1, 150 -> 0 (not < T), 200 -> 0, wrong -> 0
    ({"budget": "fixed", "fixed_budget_tokens": 150}, [1, 1, 1, 0], [100, 150, 200, 50], G1,
     [1.0, 0.0, 0.0, 0.0]),
    ({"budget": "fixed", "fixed_budget_tokens": 150, "combine": "add"}, [1, 1, 1, 0],
     [100, 150, 200, 50], G1, [2.0, 1.0, 1.0, 0.0]),
    # ungated fixed: T is defined without any correct rollout, so the wrong short one earns 1
    ({"budget": "fixed", "fixed_budget_tokens": 150, "combine": "add_ungated"}, [0, 0],
     [100, 200], G1[:2], [1.0, 0.0]),
    # fixed default T = 10000: 9999 < T -> 1, 10000 -> 0; λ is irrelevant to the binary reward
    ({"budget": "fixed", "lam": 0.0}, [1, 1], [9999, 10000], G1[:2], [1.0, 0.0]),
    # b = 0 (all correct rollouts empty): n = 0 = b, the ratio 0/0 counts as 0 -> 1 + 0.8 -> 1
    ({}, [1, 1, 0], [0, 0, 5], G1[:3], [1.0, 1.0, 0.0]),
    # two interleaved groups of unequal size: "a" b = 200, "b" b = 10 -> each its own budget
    ({}, [1, 1, 1, 1, 1], [200, 10, 100, 20, 300], ["a", "b", "a", "b", "a"],
     [0.8, 1.0, 1.0, 0.0, 0.0]),
]


@pytest.mark.parametrize("kwargs,correct,lengths,groups,expected", HMPO_CASES)
def test_hmpo_table(kwargs, correct, lengths, groups, expected):
    r = hmpo_reward(correct, lengths, groups, **kwargs)
    assert r.dtype == np.float64 and np.all(np.isfinite(r))
    np.testing.assert_allclose(r, expected, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- peer table
G3 = [0, 0, 0]
PEER_CASES = [
    # (registry name, params, correct, lengths, group_ids, expected), one comment per case
    # GRPO: r = c; -1 and 0 are wrong; lengths play no part
    ("grpo", {}, [1, 0, -1, 1], [5, 6, 7, 10**6], [0, 0, 1, 1], [1.0, 0.0, 0.0, 1.0]),
    # Kimi: min 100, max 300 -> λ = 0.5, 0, -0.5; wrong gets min(0, λ) = -0.5
    ("kimi", {}, [1, 1, 0], [100, 200, 300], G3, [1.5, 1.0, -0.5]),
    # Kimi: a short wrong answer has λ = 0.5 > 0 -> min(0, λ) = 0, no bonus for being wrong
    ("kimi", {}, [0, 1], [100, 300], [0, 0], [0.0, 0.5]),
    # Kimi: all lengths equal -> max = min -> λ = 0
    ("kimi", {}, [1, 0], [50, 50], [0, 0], [1.0, 0.0]),
    # Kimi with w = 0.5: 1 + 0.5·0.5, 1 + 0.5·(-0.5)
    ("kimi", {"w": 0.5}, [1, 1], [100, 300], [0, 0], [1.25, 0.75]),
    # Arora & Zanette: correct {100, 300}: mean 200, std 100, z = ∓1 (up to the 1e-7 guard,
    # hence the table's rtol 1e-8) -> 1 - 0.2·σ(∓1)
    ("arora_zanette", {}, [1, 1, 0], [100, 300, 50], G3,
     [1 - 0.2 / (1 + math.e), 1 - 0.2 / (1 + math.exp(-1)), 0.0]),
    # one correct: ddof=0 std = 0, z = 0/(0 + 1e-7) = 0 -> 1 - 0.2·0.5 = 0.9
    ("arora_zanette", {}, [1, 0], [100, 10], [0, 0], [0.9, 0.0]),
    # equal correct lengths: std 0 -> z = 0 -> 0.9 each
    ("arora_zanette", {}, [1, 1], [70, 70], [0, 0], [0.9, 0.9]),
    # α = 0: plain accuracy
    ("arora_zanette", {"alpha": 0.0}, [1, 1, 0], [1, 1000, 5], G3, [1.0, 1.0, 0.0]),
    # ShorterBetter: SOL = 100 (shortest correct): 2 - 0, 2 - 0.001·200, wrong -0.001·50
    ("shorterbetter", {}, [1, 1, 0], [100, 300, 50], G3, [2.0, 1.8, -0.05]),
    # no correct rollout: SOL = mean length 200 -> -0.001·100 each
    ("shorterbetter", {}, [0, 0], [100, 300], [0, 0], [-0.1, -0.1]),
    # L_scale = 100, β = 1: |300 - 100|/100 = 2 -> 2 - 2 = 0
    ("shorterbetter", {"beta": 1.0, "length_scale": 100.0}, [1, 1], [100, 300], [0, 0],
     [2.0, 0.0]),
    # GRPO-LEAD, gate off, population std (LEAD_POP): correct {100, 200, 300}: std = 81.65,
    # z = ∓1.2247, 0 -> exp(∓0.05·z); wrong -1 (the authors' defaults: test_grpo_lead_*)
    ("grpo_lead", LEAD_POP, [1, 1, 1, 0], [100, 200, 300, 5], [0] * 4,
     [math.exp(0.05 * math.sqrt(1.5)), 1.0, math.exp(-0.05 * math.sqrt(1.5)), -1.0]),
    # one correct: std 0 -> z = 0 -> exp(0) = 1
    ("grpo_lead", LEAD_POP, [1, 0], [100, 10], [0, 0], [1.0, -1.0]),
    # GR³: mean_G L = 200 over all rollouts: 1/(1 + 0.33·0.5), 1/(1 + 0.33·1.5), wrong 0
    ("gr3", {}, [1, 1, 0], [100, 300, 200], G3, [1 / 1.165, 1 / 1.495, 0.0]),
    # all lengths 0: L/mean = 0/0 counts as 0 -> 1
    ("gr3", {}, [1, 1], [0, 0], [0, 0], [1.0, 1.0]),
    # LASER: L ≤ L_T = 4096 earns 1 + 0.5; 4097 earns 1; wrong 0
    ("laser", {}, [1, 1, 0], [4096, 4097, 10], G3, [1.5, 1.0, 0.0]),
    # LASER with L_T = 100, λ = 1: 100 -> 2, 101 -> 1
    ("laser", {"target_tokens": 100, "lam": 1.0}, [1, 1], [100, 101], [0, 0], [2.0, 1.0]),
    # DAPO, L_max 100, L_cache 20: ≤ 80 free; 90 -> -0.5; 100 -> -1; 120 -> -1 (also wrong)
    ("dapo_overlong", {"max_tokens": 100, "cache_tokens": 20}, [1, 1, 1, 1, 0],
     [80, 90, 100, 120, 90], [0] * 5, [1.0, 0.5, 0.0, 0.0, -0.5]),
    # DAPO defaults 20480/4096: 18432 is halfway into the cache -> 1 - 0.5
    ("dapo_overlong", {}, [1, 1], [16384, 18432], [0, 0], [1.0, 0.5]),
    # registry presets = hmpo_reward switches: add, mean, linear, fixed
    ("hmpo_add", {}, [1, 1, 1, 0], [100, 200, 300, 50], [0] * 4, [2.0, 1.8, 1.0, 0.0]),
    ("hmpo_mean", {}, [1, 1, 1], [100, 200, 600], G3, [1.0, 1.0, 0.0]),
    ("hmpo_linear", {"lam": 0.0}, [1, 1, 1], [100, 200, 300], G3, [0.5, 0.0, 0.0]),
    ("hmpo_fixed", {"fixed_budget_tokens": 150}, [1, 1], [100, 150], [0, 0], [1.0, 0.0]),
    ("hmpo_lt", {}, [1, 1, 1], [100, 200, 300], G3, [1.0, 0.0, 0.0]),
]


@pytest.mark.parametrize("name,params,correct,lengths,groups,expected", PEER_CASES)
def test_peer_table(name, params, correct, lengths, groups, expected):
    r = get_reward(name, **params)(correct, lengths, groups)
    assert r.dtype == np.float64 and np.all(np.isfinite(r))
    np.testing.assert_allclose(r, expected, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", ["grpo", "kimi", "arora_zanette", "shorterbetter",
                                  "grpo_lead", "gr3", "laser", "dapo_overlong", "hmpo"])
def test_public_functions_match_registry(name):
    c, n, g = [1, 0, 1, 1], [100, 50, 400, 250], ["a", "a", "b", "a"]
    fn = getattr(hmpo.training.rewards, f"{name}_reward")
    np.testing.assert_array_equal(fn(c, n, g), get_reward(name)(c, n, g))


# ----------------------------------------------------------------------------- bad input
BAD_INPUT = [
    # (call, expected words in the message)
    (lambda: hmpo_reward([1, 0], [1, 2, 3], [0, 0]), "lengths"),  # mismatched sizes
    (lambda: hmpo_reward([1, 0], [1, 2], [0]), "group_ids"),
    (lambda: hmpo_reward([1, 0], [1, -2], [0, 0]), "lengths"),  # negative length
    (lambda: hmpo_reward([1, 0], [1, np.nan], [0, 0]), "lengths"),
    (lambda: hmpo_reward([1, 0], [1, np.inf], [0, 0]), "lengths"),
    (lambda: hmpo_reward([1, np.nan], [1, 2], [0, 0]), "correct"),  # non-finite correctness
    (lambda: hmpo_reward([1, 0.5], [1, 2], [0, 0]), "correct"),  # a partial score is ambiguous
    (lambda: hmpo_reward(["yes", 0], [1, 2], [0, 0]), "correct"),
    (lambda: hmpo_reward([1, 0], ["a", 2], [0, 0]), "lengths"),
    (lambda: hmpo_reward([[1, 0]], [[1, 2]], [[0, 0]]), "correct"),  # 2-D input
    (lambda: hmpo_reward([1], [1], [[0]]), "group_ids"),  # unhashable id
    (lambda: hmpo_reward([1], [1], [0], combine="max"), "combine"),
    (lambda: hmpo_reward([1], [1], [0], budget="min"), "budget"),
    (lambda: hmpo_reward([1], [1], [0], decay="exp"), "decay"),
    (lambda: hmpo_reward([1], [1], [0], boundary="ge"), "boundary"),
    (lambda: hmpo_reward([1], [1], [0], budget="fixed", fixed_budget_tokens=0), "fixed_budget"),
    (lambda: hmpo_reward([1], [1], [0], budget="fixed", fixed_budget_tokens=-5), "fixed_budget"),
    (lambda: hmpo_reward([1], [1], [0], fixed_budget_tokens=100), "fixed_budget"),  # unused T
    (lambda: hmpo_reward([1], [1], [0], lam=np.nan), "lam"),
    (lambda: hmpo_reward([1], [1], [0], clip_high=-1), "clip_high"),
    (lambda: hmpo_reward([1], [1], [0], beta="x"), "beta"),
    (lambda: hmpo_reward([], [], [], combine="max"), "combine"),  # checked even when empty
    (lambda: get_reward("nope"), "nope"),
    (lambda: get_reward("hmpo", gamma=1.0), "gamma"),
    (lambda: get_reward("grpo", lam=1.0), "lam"),
    (lambda: get_reward("hmpo_add", combine="mul"), "combine"),  # overriding a preset
    (lambda: get_reward("hmpo", lam=float("inf")), "lam"),
    (lambda: get_reward("shorterbetter", length_scale=0), "length_scale"),
    (lambda: get_reward("gr3", alpha=-1), "alpha"),
    (lambda: get_reward("laser", target_tokens=0), "target_tokens"),
    (lambda: get_reward("dapo_overlong", max_tokens=10, cache_tokens=20), "cache_tokens"),
    (lambda: get_reward("grpo_lead", alpha=1e6)([1, 1], [0, 10**6], [0, 0]), "non-finite"),
    (lambda: hmpo_budget([1], [1], [0], budget="max"), "budget"),
]


@pytest.mark.parametrize("call,word", BAD_INPUT)
def test_bad_input_raises(call, word):
    with pytest.raises(ValueError, match=word):
        call()


@pytest.mark.parametrize("name", list_rewards())
def test_empty_input_gives_empty_float_array(name):
    r = get_reward(name)([], [], [])
    assert isinstance(r, np.ndarray) and r.dtype == np.float64 and r.shape == (0,)


def test_accepts_bools_numpy_and_lists_alike():
    c, n, g = [True, False, True], [10, 5, 30], [7, 7, 7]
    a = hmpo_reward(c, n, g)
    np.testing.assert_array_equal(a, hmpo_reward(np.array([1, 0, 1]), np.array(n, float), g))
    np.testing.assert_array_equal(a, hmpo_reward(c, n, np.array(g)))


# ----------------------------------------------------------------------------- registry
REQUIRED = ["grpo", "hmpo", "hmpo_add", "hmpo_add_ungated", "hmpo_fixed", "hmpo_mean",
            "hmpo_linear", "kimi", "arora_zanette", "shorterbetter", "grpo_lead", "gr3",
            "laser", "dapo_overlong"]


def test_registry_names():
    assert set(REQUIRED) <= set(list_rewards())
    assert list_rewards() == sorted(list_rewards())


@pytest.mark.parametrize("name", REQUIRED)
def test_registry_callable_pickles_and_logs_components(name):
    reward = get_reward(name)
    assert reward.__name__ == name
    c, n, g = [1, 0, 1, 1, -1], [100, 50, 400, 250, 30], ["a", "a", "b", "a", "b"]
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.__name__ == name and clone.params == reward.params
    r = reward(c, n, g)
    np.testing.assert_array_equal(clone(c, n, g), r)
    parts = reward.components(c, n, g)
    assert {"correct", "length", "total"} <= set(parts)
    np.testing.assert_array_equal(parts["total"], r)
    np.testing.assert_array_equal(parts["correct"], [1.0, 0.0, 1.0, 1.0, 0.0])
    for v in parts.values():
        assert v.shape == (5,) and np.all(np.isfinite(v))
    assert eval(repr(reward), {"get_reward": get_reward}) == reward  # repr is the recipe


def test_registry_params_are_what_runs():
    reward = get_reward("hmpo_fixed", fixed_budget_tokens=150)
    # the logged params include the defaults and the preset
    assert reward.params["budget"] == "fixed" and reward.params["fixed_budget_tokens"] == 150
    assert reward.params["lam"] == 0.8
    np.testing.assert_array_equal(reward([1, 1], [149, 150], [0, 0]), [1.0, 0.0])


def test_components_length_terms():
    c, n, g = [1, 1, 0], [100, 300, 50], [0, 0, 0]
    # HMPO: length = ungated R_token against b = 200 (the wrong 50 would earn 1), total gated
    p = get_reward("hmpo").components(c, n, g)
    np.testing.assert_allclose(p["length"], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(p["total"], [1.0, 0.0, 0.0])
    # additive rewards: total = accuracy term + length term
    for name, acc in [("kimi", 1.0), ("shorterbetter", 2.0), ("dapo_overlong", 1.0)]:
        p = get_reward(name).components(c, n, g)
        np.testing.assert_allclose(p["total"], acc * p["correct"] + p["length"])


# ----------------------------------------------------------------------------- budget
def test_hmpo_budget_per_rollout_and_group_stats():
    c, n, g = [1, 1, 0, 0, 1, 1], [100, 300, 50, 10, 70, 20], ["x", "x", "x", "y", "z", "x"]
    # "x": correct {100, 300, 20} -> median 100; "y": none; "z": 70
    np.testing.assert_array_equal(hmpo_budget(c, n, g), [100, 100, 100, np.nan, 70, 100])
    np.testing.assert_array_equal(hmpo_budget(c, n, g, budget="mean"),
                                  [140, 140, 140, np.nan, 70, 140])
    np.testing.assert_array_equal(hmpo_budget(c, n, g, budget="fixed"), [10000.0] * 6)
    s = group_stats(c, n, g)
    np.testing.assert_array_equal(s.budget_tokens, [100, np.nan, 70])  # first-appearance order
    assert s.frac_no_correct == pytest.approx(1 / 3) and s.mean_budget_tokens == 85.0
    empty = group_stats([], [], [])
    assert empty.budget_tokens.shape == (0,) and empty.frac_no_correct == 0.0


def test_group_ids_mixed_and_unsortable():
    # numpy would turn [1, "1"] into two equal strings: they must stay two groups
    codes, keys = factorize_groups([1, "1", 1, (2, "a"), (2, "a")])
    assert codes.tolist() == [0, 1, 0, 2, 2] and keys == [1, "1", (2, "a")]
    r = hmpo_reward([1, 1, 1, 1, 1], [100, 10, 200, 5, 50], [1, "1", 1, (2, "a"), (2, "a")])
    # group 1: b = 150 -> 100 ~ 0.67b earns 1.0, 200 > b; "1": b = 10 -> 0.8; tuple: b = 27.5
    np.testing.assert_allclose(r, [1.0, 0.8, 0.0, 1.0, 0.0])


# ----------------------------------------------------------------------------- plots
def test_plot_reward_shape_one_line_per_lambda():
    import matplotlib

    matplotlib.use("Agg")
    from hmpo.analysis.plots import plot_reward_shape

    lams = (0.0, 0.5, 0.8)
    ax = plot_reward_shape(lams=lams)
    lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    assert len(lines) == len(lams)
    x, y = lines[2].get_data()  # λ = 0.8: 1 near 0, 0.8 at n = b, 0 beyond
    assert y[0] == 1.0 and y[np.argmin(abs(x - 1.0))] == pytest.approx(0.8) and y[-1] == 0.0
    np.testing.assert_allclose(y, token_reward(x * 1000, 1000.0, lam=0.8), atol=1e-12)


# ----------------------------------------------------------------------------- references
def _ref_median(xs):
    xs = sorted(xs)
    k = len(xs)
    return (xs[(k - 1) // 2] + xs[k // 2]) / 2


def ref_hmpo(correct, lengths, groups, lam=0.8, beta=1.0, clip_high=1.0, combine="mul",
             budget="median", fixed_budget_tokens=None, decay="cosine", boundary="le"):
    """The spec's formulas, one rollout at a time."""
    out = []
    for i in range(len(lengths)):
        c = 1.0 if correct[i] == 1 else 0.0
        n = float(lengths[i])
        if budget == "fixed":
            t = 10000 if fixed_budget_tokens is None else fixed_budget_tokens
            tok = 1.0 if n < t else 0.0
        else:
            cl = [float(lengths[j]) for j in range(len(lengths))
                  if groups[j] == groups[i] and correct[j] == 1]
            tok = 0.0
            if cl:
                b = _ref_median(cl) if budget == "median" else sum(cl) / len(cl)
                if (n <= b) if boundary == "le" else (n < b):
                    x = n / b if b > 0 else 0.0
                    shape = math.cos(math.pi * x / 2) if decay == "cosine" else 1 - x
                    tok = min(max(beta * shape + lam, 0.0), clip_high)
        out.append({"mul": c * tok, "add": c * (1 + tok), "add_ungated": c + tok}[combine])
    return out


def _members(groups, i):
    return [j for j in range(len(groups)) if groups[j] == groups[i]]


def _ref_z(correct, lengths, groups, i):
    cl = [lengths[j] for j in _members(groups, i) if correct[j] == 1]
    mean = sum(cl) / len(cl)
    std = math.sqrt(sum((x - mean) ** 2 for x in cl) / len(cl))
    return (lengths[i] - mean) / (std + 1e-7)


def ref_peer(name, correct, lengths, groups):
    out = []
    for i in range(len(lengths)):
        c = 1.0 if correct[i] == 1 else 0.0
        L = float(lengths[i])
        grp = [float(lengths[j]) for j in _members(groups, i)]
        cor = [float(lengths[j]) for j in _members(groups, i) if correct[j] == 1]
        if name == "kimi":
            lo, hi = min(grp), max(grp)
            lam = 0.5 - (L - lo) / (hi - lo) if hi > lo else 0.0
            out.append(c + (lam if c else min(0.0, lam)))
        elif name == "arora_zanette":
            z = _ref_z(correct, lengths, groups, i) if c else 0.0
            out.append(c * (1 - 0.2 / (1 + math.exp(-z))))
        elif name == "shorterbetter":
            sol = min(cor) if cor else sum(grp) / len(grp)
            out.append(2 * c - 0.001 * abs(L - sol))
        elif name == "grpo_lead":
            out.append(math.exp(-0.05 * _ref_z(correct, lengths, groups, i)) if c else -1.0)
        elif name == "gr3":
            m = sum(grp) / len(grp)
            out.append(c / (1 + 0.33 * (L / m if m > 0 else 0.0)))
        elif name == "laser":
            out.append(c * (1 + 0.5 * (L <= 4096)))
        elif name == "dapo_overlong":
            out.append(c + min(0.0, max(-1.0, (20480 - 4096 - L) / 4096)))
        else:
            out.append(c)
    return out


# ----------------------------------------------------------------------------- properties
@st.composite
def rollouts(draw, max_size=30, max_len=30000):
    size = draw(st.integers(0, max_size))
    n_groups = draw(st.integers(1, 6))
    groups = draw(st.lists(st.integers(0, n_groups - 1), min_size=size, max_size=size))
    correct = draw(st.lists(st.sampled_from([1, 0, -1, True, False]), min_size=size,
                            max_size=size))
    lengths = draw(st.lists(st.integers(0, max_len), min_size=size, max_size=size))
    return correct, lengths, groups


@st.composite
def float_rollouts(draw):
    """Non-integer lengths: the median's lexsort path (integers take a composite-key sort)."""
    correct, lengths, groups = draw(rollouts())
    frac = draw(st.lists(st.floats(0, 1, exclude_max=True), min_size=len(lengths),
                         max_size=len(lengths)))
    return correct, [x + f for x, f in zip(lengths, frac, strict=True)], groups


switches = st.fixed_dictionaries({
    "lam": st.floats(-0.5, 1.5), "beta": st.floats(0.0, 2.0), "clip_high": st.floats(0.0, 3.0),
    "combine": st.sampled_from(["mul", "add", "add_ungated"]),
    "budget": st.sampled_from(["median", "mean", "fixed"]),
    "decay": st.sampled_from(["cosine", "linear"]), "boundary": st.sampled_from(["le", "lt"]),
})
FAST = settings(max_examples=100, deadline=None)


@FAST
@given(st.one_of(rollouts(), float_rollouts()), switches)
def test_matches_reference(data, kw):
    correct, lengths, groups = data
    if kw["budget"] == "mean" and any(x != int(x) for x in lengths):
        kw["budget"] = "median"  # a float mean's last bit depends on summation order
    got = hmpo_reward(correct, lengths, groups, **kw)
    assert got.dtype == np.float64 and got.shape == (len(lengths),)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref_hmpo(correct, lengths, groups, **kw), rtol=1e-12,
                               atol=1e-12)


@FAST
@given(rollouts())
def test_peers_match_reference(data):
    correct, lengths, groups = data
    for name in ["grpo", "kimi", "arora_zanette", "shorterbetter", "grpo_lead", "gr3",
                 "laser", "dapo_overlong"]:
        got = get_reward(name, **(LEAD_POP if name == "grpo_lead" else {}))(
            correct, lengths, groups)
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, ref_peer(name, correct, lengths, groups), rtol=1e-9,
                                   atol=1e-9, err_msg=name)


@FAST
@given(rollouts(), st.floats(-0.5, 1.5), st.floats(0.0, 2.0), st.floats(0.0, 3.0),
       st.sampled_from(["cosine", "linear"]), st.sampled_from(["median", "mean"]))
def test_mul_bounded_gated_and_monotone(data, lam, beta, clip_high, decay, budget):
    correct, lengths, groups = data
    r = hmpo_reward(correct, lengths, groups, lam=lam, beta=beta, clip_high=clip_high,
                    decay=decay, budget=budget)
    assert np.all((r >= 0) & (r <= clip_high))
    ok = np.array([x == 1 for x in correct], dtype=bool)
    assert np.all(r[~ok] == 0)  # wrong => exactly 0
    n, g = np.asarray(lengths), np.asarray(groups)
    for i in np.flatnonzero(ok):  # longer correct rollout of the same group never earns more
        same = ok & (g == g[i]) & (n > n[i])
        assert np.all(r[same] <= r[i] + 1e-12)


@FAST
@given(rollouts(), st.randoms(use_true_random=False), switches)
def test_permutation_equivariant(data, rnd, kw):
    correct, lengths, groups = data
    perm = list(range(len(lengths)))
    rnd.shuffle(perm)
    r = hmpo_reward(correct, lengths, groups, **kw)
    rp = hmpo_reward([correct[i] for i in perm], [lengths[i] for i in perm],
                     [groups[i] for i in perm], **kw)
    np.testing.assert_array_equal(rp, r[perm])


@FAST
@given(st.one_of(rollouts(), float_rollouts()))
def test_budget_is_numpy_median_of_correct_lengths(data):
    correct, lengths, groups = data
    b = hmpo_budget(correct, lengths, groups)
    for i in range(len(lengths)):
        cl = [lengths[j] for j in _members(groups, i) if correct[j] == 1]
        if cl:
            assert b[i] == np.median(np.array(cl, dtype=np.float64))  # exact, not approx
        else:
            assert np.isnan(b[i])


@FAST
@given(rollouts(), switches)
def test_groups_computed_separately_agree(data, kw):
    # non-contiguous, unequal groups == each group on its own; and any relabelling of ids
    correct, lengths, groups = data
    r = hmpo_reward(correct, lengths, groups, **kw)
    for gid in set(groups):
        idx = [i for i in range(len(groups)) if groups[i] == gid]
        alone = hmpo_reward([correct[i] for i in idx], [lengths[i] for i in idx],
                            [gid] * len(idx), **kw)
        np.testing.assert_array_equal(r[idx], alone)
    relabelled = [("prompt", str(x)) for x in groups]  # tuples: the dict factorisation path
    np.testing.assert_array_equal(hmpo_reward(correct, lengths, relabelled, **kw), r)


@settings(max_examples=60, deadline=None)
@given(rollouts(max_size=20))
def test_every_registered_reward_is_finite(data):
    correct, lengths, groups = data
    for name in list_rewards():
        r = get_reward(name)(correct, lengths, groups)
        assert r.shape == (len(lengths),) and np.all(np.isfinite(r)), name


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 1e5, allow_nan=False), st.integers(1, 12))
def test_equal_float_lengths_give_zscore_zero(x, k):
    # k equal float lengths (whose computed mean may be off by round-off) must give z = 0,
    # not the ±1 a bare "std == 0" guard would produce
    n, c, g = [x * 0.1] * k, [1] * k, [0] * k
    np.testing.assert_allclose(get_reward("grpo_lead")(c, n, g), 1.0, atol=1e-6)
    np.testing.assert_allclose(get_reward("arora_zanette")(c, n, g), 0.9, atol=1e-6)


# ------------------------------------------------------------------- GRPO-LEAD, authors' code
def _lead_reference(scores, lengths, index):
    """The authors' get_reweight_rewards after their score mapping, transcribed by hand as a
    plain loop (aeroplanepaper/GRPO-LEAD, verl/verl/trainer/main_ppo.py): score -1 (no answer)
    -> 0, 0 (wrong) -> -1, 1 -> 1; gate on the three shortest; ddof-1 std, 1.0 below two."""
    import math

    rewards = [0.0 if s == -1 else -1.0 if s == 0 else 1.0 for s in scores]
    for q in set(index):
        g = [i for i, x in enumerate(index) if x == q]
        shortest = sorted(lengths[i] for i in g)[:3] + [math.inf] * 3
        if sum(shortest[:3]) / 3 <= 4000:
            continue
        ok = [i for i in g if rewards[i] > 0]
        mean = sum(lengths[i] for i in ok) / len(ok) if ok else 0.0
        sd = math.sqrt(sum((lengths[i] - mean) ** 2 for i in ok) / (len(ok) - 1)) \
            if len(ok) > 1 else 1.0
        for i in ok:
            rewards[i] *= math.exp(-0.05 * (lengths[i] - mean) / (sd + 1e-6))
    return rewards


@pytest.mark.parametrize("scores, lengths, index, expected", [
    # gate shut: the three shortest average 4000 (<= 4000): no reweighting at all
    ([1, 1, 0, -1], [4000, 4000, 4000, 9000], [0] * 4, [1.0, 1.0, -1.0, 0.0]),
    # gate open (shortest three average 5000): correct 5000 and 7000, mean 6000,
    # sample std sqrt(2e6 / 1) = 1414.21; z = -/+0.70711; exp(0.05 * 0.70711) = 1.035988
    ([1, 1, 0], [5000, 7000, 3000 + 3000 + 3000 - 0], [0] * 3, None),
    # one correct rollout: std 1.0, z = 0 -> 1; no answer scores 0 before reweighting
    ([1, -1, 0], [6000, 6000, 6000], [0] * 3, [1.0, 0.0, -1.0]),
])
def test_grpo_lead_matches_the_authors_code(scores, lengths, index, expected):
    got = get_reward("grpo_lead")(scores, lengths, index)
    ref = _lead_reference(scores, lengths, index)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    if expected is not None:
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_grpo_lead_hand_computed_open_gate():
    r = get_reward("grpo_lead")([1, 1, 0], [5000, 7000, 9000], [0, 0, 0])
    sd = (2e6) ** 0.5
    np.testing.assert_allclose(r, [np.exp(0.05 * 1000 / (sd + 1e-6)),
                                   np.exp(-0.05 * 1000 / (sd + 1e-6)), -1.0], rtol=1e-12)


def test_grpo_lead_equals_the_authors_code_on_random_groups():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 12))
        scores = rng.choice([-1, 0, 1], size=n).tolist()
        lengths = rng.integers(1000, 12000, size=n).tolist()
        index = rng.integers(0, 3, size=n).tolist()
        np.testing.assert_allclose(get_reward("grpo_lead")(scores, lengths, index),
                                   _lead_reference(scores, lengths, index), rtol=1e-10)


def test_grpo_lead_switches_give_the_earlier_behaviour():
    # gate off, population std, no answer = wrong: the formula this file tested before
    old = get_reward("grpo_lead", **LEAD_POP)
    np.testing.assert_allclose(old([1, 1, -1], [100, 300, 50], [0, 0, 0]),
                               [np.exp(0.05), np.exp(-0.05), -1.0], rtol=1e-6)
    with pytest.raises(ValueError, match="std"):
        get_reward("grpo_lead", std="ddof2")

"""hmpo.analysis.theory: the endpoint model of ../shared/TESTBED_THEORY.md, checked with known
answers derived from the reward formulas (the model calls the real registry rewards)."""

from __future__ import annotations

import json
import math

import pytest

from hmpo.analysis.theory import (
    CHANCE,
    TOLERANCE,
    Rung,
    check,
    endpoint,
    expected_rewards,
    ladder,
    method_reward,
    predict,
)
from hmpo.training.rewards import get_reward

EPS = 0.01  # margin around a threshold


def R(x: float) -> float:
    """HMPO's token reward at n = x·b (λ = 0.8, β = 1, h = 1)."""
    return min(1.0, math.cos(math.pi * x / 2) + 0.8)


def prefers(reward, current: Rung, candidate: Rung, n: int = 1000) -> bool:
    r_cur, r_cand = expected_rewards(reward, current, candidate, n=n)
    return r_cand > r_cur + 1e-9


# ----------------------------------------------------------------------------- thresholds
A_R, L_R = 0.9, 20.0
RELIABLE = Rung("reliable", L_R, A_R)

# (reward, threshold on a_s) for a shortcut at x = 0.8 (R = 1), TESTBED_THEORY.md's table
THRESHOLDS = [
    ("hmpo", 0.8 * A_R),
    ("hmpo_add_ungated", A_R - 0.2),
    ("hmpo_add", 0.9 * A_R),
    ("kimi", (A_R - 0.5) / 1.5),
]


@pytest.mark.parametrize("name,threshold", THRESHOLDS)
def test_invasion_thresholds_at_full_length_reward(name, threshold):
    reward = get_reward(name)
    assert R(0.8) == 1.0 and math.isclose(R(1.0), 0.8)
    above = Rung("shortcut", 0.8 * L_R, threshold + EPS)
    below = Rung("shortcut", 0.8 * L_R, threshold - EPS)
    assert prefers(reward, RELIABLE, above)
    assert not prefers(reward, RELIABLE, below)


def test_mean_budget_threshold_with_point_mass_lengths():
    # Discrepancy with TESTBED_THEORY.md ("the mean budget once lengths collapse" shares
    # HMPO's 0.8·a_r): with every reliable trace at exactly L_r, ONE correct shorter rollout
    # pulls the mean budget below L_r, so in that case every reliable trace is over budget and
    # earns 0 (gate n <= b). E[cur] = 0.8·a_r·(1 − a_s), E[cand] = a_s: the shortcut invades
    # iff a_s > 0.8·a_r / (1 + 0.8·a_r) (0.419 at a_r = 0.9), far below the median's 0.72.
    reward = get_reward("hmpo_mean")
    thr = 0.8 * A_R / (1 + 0.8 * A_R)
    assert prefers(reward, RELIABLE, Rung("s", 0.8 * L_R, thr + EPS))
    assert not prefers(reward, RELIABLE, Rung("s", 0.8 * L_R, thr - EPS))


def test_expected_rewards_values_hmpo():
    # reliable correct at the budget earn λ = 0.8; the shortcut earns R = 1 when correct
    r_cur, r_cand = expected_rewards(get_reward("hmpo"), RELIABLE, Rung("s", 16, 0.5))
    assert r_cur == pytest.approx(0.8 * A_R, abs=1e-9)
    assert r_cand == pytest.approx(0.5, abs=1e-9)
    # ungated: a wrong rollout at the budget still earns λ; a wrong shortcut R = 1
    r_cur, r_cand = expected_rewards(get_reward("hmpo_add_ungated"), RELIABLE,
                                     Rung("s", 16, 0.5))
    assert r_cur == pytest.approx(A_R + 0.8, abs=1e-9)
    assert r_cand == pytest.approx(0.5 + 1.0, abs=1e-9)


@pytest.mark.parametrize("x", [0.9, 0.95])
def test_thresholds_move_with_x_above_the_flat_part(x):
    # HMPO: a_s > 0.8·a_r / R(x); ungated: a_s > a_r − (R(x) − 0.8); gated: 1.8·a_r/(1 + R)
    for name, thr in [("hmpo", 0.8 * A_R / R(x)), ("hmpo_add_ungated", A_R - (R(x) - 0.8)),
                      ("hmpo_add", 1.8 * A_R / (1 + R(x)))]:
        reward = get_reward(name)
        assert prefers(reward, RELIABLE, Rung("s", x * L_R, min(1.0, thr + EPS))), name
        assert not prefers(reward, RELIABLE, Rung("s", x * L_R, thr - EPS)), name


def test_arora_zanette_threshold_near_0_9_a_r():
    reward = get_reward("arora_zanette")
    assert prefers(reward, RELIABLE, Rung("s", 16, 0.9 * A_R + EPS))
    assert not prefers(reward, RELIABLE, Rung("s", 16, 0.9 * A_R - 2 * EPS))


def test_grpo_lead_threshold_depends_on_the_group_size():
    # Discrepancy with TESTBED_THEORY.md: its "≈ 0.93·a_r as the shortcut share → 0" is one
    # invader in a group of 8 (G = num_generations). A lone shorter invader among n equal
    # correct lengths has z ≈ −√n and exp(−α·z) is unbounded, so at n = 1000 the threshold
    # falls to ≈ 0.34·a_r: the z-score rewards' criterion depends on the group size.
    reward = get_reward("grpo_lead", gate_tokens=None)
    top = Rung("reliable", L_R, 1.0)
    assert prefers(reward, top, Rung("s", 16, 0.94), n=7)
    assert not prefers(reward, top, Rung("s", 16, 0.92), n=7)
    assert prefers(reward, top, Rung("s", 16, 0.5), n=1000)


# ----------------------------------------------------------------------------- worked examples
def steps(accuracies, names=None, l0=20.0, saving=0.2):
    """Rungs each `saving` shorter than the previous one (longest first)."""
    names = names or [f"a{round(100 * a)}" for a in accuracies]
    return [Rung(nm, l0 * (1 - saving) ** i, a)
            for i, (nm, a) in enumerate(zip(names, accuracies, strict=True))]


def final(name, rungs, **params):
    return endpoint(get_reward(name, **params), rungs, rungs[0])


def test_ladder_100_85_65_45():
    rungs = steps([1.0, 0.85, 0.65, 0.45])
    assert final("hmpo", rungs).final.name == "a85"
    # ungated: 85 -> 65 is an exact tie (0.85 − 0.65 = 0.2 = the ungated threshold), so the
    # walk stays at 85% as the doc says, but only on the knife-edge (next test)
    assert final("hmpo_add_ungated", rungs).final.name == "a85"
    assert final("hmpo_add", rungs).final.name == "a100"
    assert final("hmpo_add", rungs).path == (rungs[0],)


def test_ladder_ungated_knife_edge():
    rungs = steps([1.0, 0.85, 0.66, 0.45])
    assert final("hmpo_add_ungated", rungs).final.name == "a66"
    assert final("hmpo", rungs).final.name == "a85"


EASY = 0.94  # easy problems (k <= 3), implied by the doc's 72.0% = (0.94 + 0.50) / 2


def test_one_shortcut_example_72_0_vs_64_5():
    rungs = steps([0.5, 0.35])
    hard_hmpo = final("hmpo", rungs).final.accuracy
    hard_ungated = final("hmpo_add_ungated", rungs).final.accuracy
    assert (hard_hmpo, hard_ungated) == (0.5, 0.35)
    assert (EASY + hard_hmpo) / 2 == pytest.approx(0.720)
    assert (EASY + hard_ungated) / 2 == pytest.approx(0.645)


def test_staircase_60_45_32_20():
    rungs = steps([0.60, 0.45, 0.32, 0.20])
    hmpo = final("hmpo", rungs)
    assert hmpo.final.name == "a60" and hmpo.stopped == "endpoint"
    ungated = final("hmpo_add_ungated", rungs)
    assert [r.name for r in ungated.path] == ["a60", "a45", "a32", "a20"]
    # Discrepancy with TESTBED_THEORY.md: with the staircase as stated, ungated ends at 20%,
    # i.e. (0.94 + 0.20)/2 = 57.0%, not the doc's 52.0%. The 52.0% needs the hard problems at
    # 10% = chance: one more rung, a guess, which the ungated reward also takes (a drop of
    # 0.1 < 0.2); HMPO's 77.0% = (0.94 + 0.60)/2 holds either way.
    assert (EASY + hmpo.final.accuracy) / 2 == pytest.approx(0.770)
    assert (EASY + ungated.final.accuracy) / 2 == pytest.approx(0.570)
    with_guess = steps([0.60, 0.45, 0.32, 0.20, CHANCE])
    assert final("hmpo", with_guess).final.name == "a60"
    assert final("hmpo_add_ungated", with_guess).final.accuracy == CHANCE
    assert (EASY + CHANCE) / 2 == pytest.approx(0.520)


# ----------------------------------------------------------------------------- grpo / fixed
def test_grpo_ends_at_the_most_accurate_rung():
    rungs = [Rung("v", 40, 0.7), Rung("m", 20, 0.95), Rung("e1", 18, 0.9), Rung("e2", 16, 0.3)]
    walk = final("grpo", rungs)
    assert walk.final.name == "m" and walk.stopped == "endpoint"
    # GRPO has no length term: from the most accurate rung nothing moves
    assert endpoint(get_reward("grpo"), rungs, "m").path == (rungs[1],)
    # each move takes the invader with the largest advantage, not the first one that wins
    climb = [Rung("a", 30, 0.5), Rung("b", 20, 0.7), Rung("c", 10, 0.9)]
    assert [r.name for r in final("grpo", climb).path] == ["a", "c"]


def test_fixed_budget_below_every_rung_does_not_move():
    rungs = steps([1.0, 0.85, 0.65, 0.45])
    walk = final("hmpo_fixed", rungs, fixed_budget_tokens=5)
    assert walk.final == rungs[0] and walk.path == (rungs[0],)


@pytest.mark.parametrize("T", [11.0, 13.0, 17.0])
def test_fixed_budget_between_rungs_moves_below_it(T):
    rungs = steps([1.0, 0.85, 0.65, 0.45])  # 20, 16, 12.8, 10.24 tokens
    walk = final("hmpo_fixed", rungs, fixed_budget_tokens=T)
    assert walk.final.length < T
    # binary 1[n < T]: the most accurate rung under T, whatever the accuracy lost
    assert walk.final == max((r for r in rungs if r.length < T), key=lambda r: r.accuracy)


def test_endpoint_reports_a_cycle():
    class RockPaperScissors:
        """Each of three lengths beats the next: a preference with no endpoint."""

        beats = {10.0: 20.0, 20.0: 30.0, 30.0: 10.0}

        def __call__(self, correct, lengths, group_ids):
            cand, cur = float(lengths[-1]), float(lengths[0])
            out = [0.0] * len(lengths)
            if self.beats[cand] == cur:
                out[-1] = 1.0
            return out

    rungs = [Rung("a", 10, 1), Rung("b", 20, 1), Rung("c", 30, 1)]
    walk = endpoint(RockPaperScissors(), rungs, "c")
    assert walk.stopped == "cycle" and walk.cycle
    assert [r.name for r in walk.path] == ["c", "b", "a", "c"]


# ----------------------------------------------------------------------------- ladder / predict
T_FORCED = {"1": 0.995, "2": 0.10, "3": 0.08, "4": 0.12, "5": 0.10, "6": 0.11}


def realistic_table(a_r=0.98, ks=range(1, 7)):
    styles = {}
    for k in ks:
        styles[str(k)] = {
            "verbose": {"accuracy": a_r, "mean_tokens": 3 * k + 4 + 8 * k, "n": 80, "share": .6},
            "minimal": {"accuracy": a_r, "mean_tokens": 3 * k + 4, "n": 30, "share": .2},
            "early": {"accuracy": 0.4, "mean_tokens": 3 * k, "n": 20, "share": .2},
        }
    styles["all"] = {"verbose": {"accuracy": a_r, "mean_tokens": 30.0, "n": 480, "share": .6}}
    return {"styles": styles,
            "teacher_forced_lines": {"early_answer_by_absorbed": dict(T_FORCED)}}


def test_ladder_lengths_and_accuracies():
    table = {"styles": {"4": {"verbose": {"accuracy": 0.8, "mean_tokens": 40.0, "n": 30},
                              "minimal": {"accuracy": 1.0, "mean_tokens": 16.0, "n": 10}}},
             "teacher_forced_lines": {"early_answer_by_absorbed": {"1": 0.9, "2": 0.2}}}
    rungs = {r.name: r for r in ladder(4, table)}
    assert list(rungs) == ["verbose", "minimal", "early1", "early2", "early3", "early4"]
    assert rungs["verbose"] == Rung("verbose", 40.0, 0.8)
    a_r = (0.8 * 30 + 1.0 * 10) / 40  # pooled full traces
    assert rungs["minimal"].length == 16.0
    assert rungs["minimal"].accuracy == pytest.approx(a_r)
    for m in range(1, 5):
        assert rungs[f"early{m}"].length == 3 * 4 - 2 * m + 5
    assert rungs["early1"].accuracy == pytest.approx(a_r * 0.9 + (1 - a_r) * 0.1)
    # absorbed 3, 4: fall back to the largest measured m (2)
    assert rungs["early4"].accuracy == pytest.approx(a_r * 0.2 + (1 - a_r) * 0.1)
    # a difficulty with no full trace measured: a_r = 0, early answers at chance
    bare = {r.name: r for r in ladder(2, table)}
    assert "verbose" not in bare and bare["minimal"].accuracy == 0.0
    assert bare["early1"].accuracy == pytest.approx(CHANCE)
    assert endpoint(get_reward("hmpo"), ladder(2, table)).path[0].name == "minimal"


MEDIAN_MEAN = ["hmpo", "hmpo_add", "hmpo_add_ungated", "hmpo_mean", "kimi", "arora_zanette",
               "grpo_lead"]


def test_realistic_table_every_median_mean_reward_ends_at_early1():
    table = realistic_table()
    methods = {m: {"reward": m} for m in MEDIAN_MEAN}
    methods["grpo_lead"]["params"] = {"gate_tokens": None}
    out = predict(table, methods, difficulty_weights={k: 1 for k in range(1, 7)})
    for m in MEDIAN_MEAN:
        res = out["methods"][m]
        assert res["modelled"], m
        assert {d["name"] for d in res["by_difficulty"].values()} == {"early1"}, m
        for k, d in res["by_difficulty"].items():
            assert d["tokens"] == 3 * int(k) + 3
        # mean of 3k + 3 over k = 1..6, uniform: the doc's 13.44 on the real eval mix
        assert res["tokens"] == pytest.approx(13.5), m
        a_s = 0.98 * 0.995 + 0.02 * CHANCE
        assert res["accuracy"] == pytest.approx(a_s), m


def test_realistic_table_shorterbetter_and_grpo():
    # ShorterBetter pays 0.001 per token: one token saved does not pay 2·(a_r − a_s) ≈ 0.006,
    # so the model keeps it at the minimal trace (derived from the formula, see the report)
    out = predict(realistic_table(), {"shorterbetter": {"reward": "shorterbetter"},
                                      "grpo": {"reward": "grpo"}},
                  difficulty_weights={1: 1, 2: 1, 3: 1})
    sb = out["methods"]["shorterbetter"]["by_difficulty"]
    assert {d["name"] for d in sb.values()} == {"minimal"}
    # GRPO: verbose and minimal are equally accurate; no length term, so nothing moves
    grpo = out["methods"]["grpo"]["by_difficulty"]
    assert {d["name"] for d in grpo.values()} == {"verbose"}


def test_predict_output_json_multistage_and_fixed_budgets():
    methods = {"hmpo": {"reward": "hmpo"},
               "multistage": {"reward": "grpo", "multistage": True},
               "hmpo_fixed_p25": {"reward": "hmpo_fixed", "budget_percentile": 25},
               "hmpo_fixed_p75": {"reward": "hmpo_fixed", "budget_percentile": 75},
               "bogus": {"reward": "no_such_reward"}}
    budgets_json = {"budgets_tokens": {"p25": 14.0, "p50": 24.0, "p75": 44.0},
                    "percentiles": [25, 50, 75]}
    weights = {"1": 0.5, "4": 0.5}
    out = predict(realistic_table(), methods, difficulty_weights=weights,
                  budgets_tokens=budgets_json)
    assert json.loads(json.dumps(out)) == out
    assert out["tolerance"] == {"tokens": 1.5, "accuracy": 0.05} == TOLERANCE
    assert out["methods"]["multistage"]["modelled"] is False
    assert "multistage" in out["methods"]["multistage"]["why"]
    assert out["methods"]["bogus"]["modelled"] is False
    p25 = out["methods"]["hmpo_fixed_p25"]
    assert p25["params"]["fixed_budget_tokens"] == 14.0
    for d in p25["by_difficulty"].values():
        assert d["tokens"] < 14.0
    # the flat format gives the same; a missing percentile is not modelled
    flat = predict(realistic_table(), methods, difficulty_weights=weights,
                   budgets_tokens=budgets_json["budgets_tokens"])
    assert flat["methods"] == out["methods"]
    none = predict(realistic_table(), methods, difficulty_weights=weights)
    assert none["methods"]["hmpo_fixed_p25"]["modelled"] is False
    # aggregation: weighted mean over difficulties
    h = out["methods"]["hmpo"]
    assert h["tokens"] == pytest.approx(0.5 * (3 * 1 + 3) + 0.5 * (3 * 4 + 3))


def test_method_reward_accepts_config_objects():
    from hmpo.config import MethodConfig

    reward, why = method_reward(MethodConfig(reward="hmpo_fixed", budget_percentile=50),
                                {"p50": 24.0})
    assert why == "" and reward.params["fixed_budget_tokens"] == 24.0
    reward, why = method_reward(MethodConfig(reward="hmpo_fixed"))
    assert reward is None and "budget" in why


def test_predict_rejects_bad_weights():
    with pytest.raises(ValueError):
        predict(realistic_table(), {}, difficulty_weights={})
    with pytest.raises(ValueError):
        predict(realistic_table(), {}, difficulty_weights={1: -1.0, 2: 0.5})


@pytest.mark.parametrize("tokens,acc,verdict", [
    (13.5, 0.90, "held"),
    (15.0, 0.90, "held"), (12.0, 0.90, "held"),        # token edges
    (13.5, 0.95, "held"), (13.5, 0.85, "held"),        # accuracy edges
    (15.01, 0.90, "failed"), (11.99, 0.90, "failed"),
    (13.5, 0.951, "failed"), (13.5, 0.849, "failed"),
    (15.01, 0.96, "failed"),
])
def test_check_tolerance_edges(tokens, acc, verdict):
    assert check({"modelled": True, "tokens": 13.5, "accuracy": 0.90}, tokens, acc) == verdict


def test_check_refuses_unmodelled():
    with pytest.raises(ValueError):
        check({"modelled": False, "why": "multistage"}, 13.5, 0.9)


def test_expected_rewards_use_the_current_rungs_accuracy_exactly_in_a_small_group():
    """In a group of 8 (n = 7 current rollouts + one invader), a current accuracy of 0.988 is
    0.988 in expectation (Binomial over the correct count), not round(0.988 * 7) / 7 = 1."""
    grpo = get_reward("grpo")
    cur, cand = Rung("verbose", 20.0, 0.988), Rung("minimal", 10.0, 0.992)
    r_cur, r_cand = expected_rewards(grpo, cur, cand, n=7)
    assert r_cur == pytest.approx(0.988) and r_cand == pytest.approx(0.992)
    # so GRPO moves to the more accurate rung however few rollouts share the group
    assert endpoint(grpo, [cur, cand], n=7).final.name == "minimal"


# ----------------------------------------------------------------------------- veiled problems
Q = 0.4  # the default veil_zero_prob


def test_veiled_ladder_from_plain_cells_known_values():
    # no veiled cell measured: the plain cells stand in, every rung right only when the hidden
    # factor is 1 (or its answer happens to be 0), plus the guess A: 0
    table = realistic_table(a_r=0.96, ks=[3])
    rungs = {r.name: r for r in ladder(3, table, veil_zero_prob=Q)}
    assert list(rungs) == ["verbose", "minimal", "early1", "early2", "early3", "guess"]
    a_r = 0.6 * 0.96 + 0.4 * CHANCE
    assert rungs["minimal"].accuracy == pytest.approx(a_r)
    assert rungs["verbose"].accuracy == pytest.approx(a_r)
    early1 = 0.6 * (0.96 * 0.995 + 0.04 * CHANCE) + 0.4 * CHANCE
    assert rungs["early1"].accuracy == pytest.approx(early1)
    assert rungs["guess"] == Rung("guess", 4.0, 0.4 + 0.6 * CHANCE)
    # the plain ladder is unchanged, with no guess rung
    assert [r.name for r in ladder(3, table)] == ["verbose", "minimal", "early1", "early2",
                                                  "early3"]


def test_veiled_ladder_reads_measured_veiled_cells():
    table = realistic_table(a_r=0.96, ks=[2])
    table["styles"]["2?"] = {"verbose": {"accuracy": 0.5, "mean_tokens": 20.0, "n": 10},
                             "minimal": {"accuracy": 0.7, "mean_tokens": 10.0, "n": 10}}
    rungs = {r.name: r for r in ladder(2, table, veil_zero_prob=Q)}
    assert rungs["verbose"] == Rung("verbose", 20.0, 0.5)
    assert rungs["minimal"].accuracy == pytest.approx(0.6)
    a_c = (0.6 - Q * CHANCE) / (1 - Q)  # the computation's accuracy behind the measured 0.6
    assert rungs["early1"].accuracy == pytest.approx(
        (1 - Q) * (a_c * 0.995 + (1 - a_c) * CHANCE) + Q * CHANCE)


def test_veiled_cells_separate_the_gate_in_both_directions():
    # the window: HMPO (c·R) keeps reasoning, the ungated c + R guesses, the gated additive
    # c·(1 + R) keeps reasoning; with q outside the window both agree
    table = realistic_table(a_r=0.96)
    methods = {m: {"reward": m} for m in ("hmpo", "hmpo_add", "hmpo_add_ungated", "grpo")}
    weights = {"3": 1, "3?": 1}
    out = predict(table, methods, difficulty_weights=weights, veil_zero_prob=Q, n=7)
    cell = {m: out["methods"][m]["by_difficulty"]["3?"]["name"] for m in methods}
    assert cell == {"hmpo": "early1", "hmpo_add": "early1", "hmpo_add_ungated": "guess",
                    "grpo": "verbose"}
    assert out["methods"]["hmpo"]["by_difficulty"]["3"]["name"] == "early1"
    assert out["assumptions"]["veil_zero_prob"] == Q
    low = predict(table, methods, difficulty_weights=weights, veil_zero_prob=0.2, n=7)
    high = predict(table, methods, difficulty_weights=weights, veil_zero_prob=0.6, n=7)
    for m in ("hmpo", "hmpo_add_ungated"):
        assert low["methods"][m]["by_difficulty"]["3?"]["name"] == "early1"
        assert high["methods"][m]["by_difficulty"]["3?"]["name"] == "guess"


def test_predict_needs_veil_zero_prob_for_veiled_cells_and_pools_them_by_k():
    from hmpo.analysis.theory import predictions_by_difficulty
    with pytest.raises(ValueError, match="veil_zero_prob"):
        predict(realistic_table(), {"hmpo": {"reward": "hmpo"}},
                difficulty_weights={"3": 1, "3?": 1})
    with pytest.raises(ValueError, match="difficulty_weights"):
        predict(realistic_table(), {"hmpo": {"reward": "hmpo"}},
                difficulty_weights={"3x": 1}, veil_zero_prob=Q)
    out = predict(realistic_table(a_r=0.96), {"u": {"reward": "hmpo_add_ungated"}},
                  difficulty_weights={"3": 3, "3?": 1}, veil_zero_prob=Q, n=7)
    cells = out["methods"]["u"]["by_difficulty"]
    rows = predictions_by_difficulty(out, {"u": {"3": {"accuracy": 0.5, "mean_tokens": 9.0}}})
    assert len(rows) == 1 and rows[0]["k"] == "3" and rows[0]["style"] == "early1 | guess?"
    assert rows[0]["predicted_tokens"] == pytest.approx(
        0.75 * cells["3"]["tokens"] + 0.25 * cells["3?"]["tokens"])
    assert rows[0]["observed_accuracy"] == 0.5

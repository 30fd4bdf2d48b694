"""hmpo.analysis.stats: the paired hierarchical bootstrap, the MDD and the verdict logic, on data
whose answer is known."""

import time

import numpy as np
import pytest

from hmpo.analysis.stats import (
    CONTRADICTED,
    INCONCLUSIVE,
    REPRODUCED,
    bootstrap_means,
    common_value,
    frontier_gap,
    frontier_value,
    min_detectable,
    model_mean,
    paired_difference,
    verdict_above,
    verdict_all,
    verdict_any,
    verdict_at_least,
    verdict_below,
)


def _bernoulli(rng, p, n_seeds, n_problems, k=4):
    """Per-problem accuracy over k samples, problem difficulty p (shape n_problems)."""
    return rng.binomial(k, np.broadcast_to(p, (n_seeds, n_problems))) / k


# --------------------------------------------------------------------------- bootstrap
def test_zero_variance_gives_a_point_interval():
    x = np.tile(np.linspace(10, 30, 50), (3, 1))
    e = paired_difference(x - 2.5, x, n_boot=300, seed=1)  # every problem and seed: -2.5
    assert e.estimate == pytest.approx(-2.5)
    assert e.ci == pytest.approx([-2.5, -2.5]) and e.se == pytest.approx(0.0, abs=1e-12)
    assert e.mdd == pytest.approx(0.0, abs=1e-11)


def test_pairing_cancels_shared_problem_variation():
    # B = A + 1 on every problem, problems vary wildly: paired CI is a point, the unpaired
    # (independent) intervals of the two means are wide
    rng = np.random.default_rng(0)
    a = rng.normal(50, 20, size=(1, 200))
    e = paired_difference(a + 1.0, a, n_boot=500, seed=0)
    assert e.ci == pytest.approx([1.0, 1.0])
    single = model_mean(a, n_boot=500, seed=0)
    assert single.ci[1] - single.ci[0] > 3.0


def test_ci_covers_the_true_difference_and_excludes_zero():
    # 300 problems, true accuracy difference 0.15 on every problem
    rng = np.random.default_rng(3)
    p = rng.uniform(0.3, 0.8, 300)
    a = _bernoulli(rng, p + 0.15, 3, 300)
    b = _bernoulli(rng, p, 3, 300)
    e = paired_difference(a, b, n_boot=2000, seed=0)
    assert e.ci[0] < 0.15 < e.ci[1]
    assert e.ci[0] > 0  # the difference is detected
    assert e.ci[0] < e.estimate < e.ci[1]
    assert e.mdd == pytest.approx(2.8016 * e.se, rel=1e-4)


def test_coverage_is_near_nominal():
    # 200 simulated designs with no true difference: the 95% CI contains 0 in ~95% of them
    rng = np.random.default_rng(11)
    hits = 0
    for i in range(200):
        p = rng.uniform(0.2, 0.9, 100)
        a, b = _bernoulli(rng, p, 1, 100), _bernoulli(rng, p, 1, 100)
        ci = paired_difference(a, b, n_boot=400, seed=i).ci
        hits += ci[0] <= 0 <= ci[1]
    assert 0.88 <= hits / 200 <= 0.99


def test_seed_spread_widens_the_interval():
    # three seeds whose means differ by +-3 tokens (a seed effect), same problems
    rng = np.random.default_rng(5)
    base = rng.normal(40, 5, size=200)
    noise = rng.normal(0, 1, size=(3, 200))
    spread = base + noise + np.array([[-3.0], [0.0], [3.0]])
    no_spread = base + noise
    ref = base[None, :] + rng.normal(0, 1, size=(1, 200))
    wide = paired_difference(spread, ref, n_boot=2000, seed=0)
    narrow = paired_difference(no_spread, ref, n_boot=2000, seed=0)
    one_seed = paired_difference(spread[1:2], ref, n_boot=2000, seed=0)
    assert wide.estimate == pytest.approx(narrow.estimate)
    assert wide.se > 5 * narrow.se and wide.se > 5 * one_seed.se
    assert (wide.ci[1] - wide.ci[0]) > 5 * (one_seed.ci[1] - one_seed.ci[0])


def test_one_run_models_are_fixed_and_seeds_are_resampled_per_model():
    a = np.array([[1.0, 1.0], [3.0, 3.0]])  # two seeds, means 1 and 3
    b = np.array([[0.0, 0.0]])  # one run
    reps = bootstrap_means([a, b], n_boot=4000, seed=2)
    assert set(np.unique(reps[:, 1])) == {0.0}
    assert set(np.round(np.unique(reps[:, 0]), 6)) == {1.0, 2.0, 3.0}
    # seed draws: (1,1) 1/4, mixed 1/2, (3,3) 1/4
    assert np.mean(reps[:, 0] == 2.0) == pytest.approx(0.5, abs=0.03)


def test_bootstrap_is_deterministic_and_seed_dependent():
    rng = np.random.default_rng(0)
    a, b = rng.random((3, 80)), rng.random((3, 80))
    r1 = bootstrap_means([a, b], n_boot=200, seed=7)
    assert np.array_equal(r1, bootstrap_means([a, b], n_boot=200, seed=7))
    assert not np.array_equal(r1, bootstrap_means([a, b], n_boot=200, seed=8))
    assert paired_difference(a, b, seed=7) == paired_difference(a, b, seed=7)


def test_bootstrap_input_checks():
    with pytest.raises(ValueError, match="same problems"):
        bootstrap_means([np.ones((1, 3)), np.ones((1, 4))])
    with pytest.raises(ValueError, match="finite"):
        bootstrap_means([np.array([[1.0, np.nan]])])
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_means([np.ones((1, 3))], n_boot=0)
    with pytest.raises(ValueError, match="empty"):
        bootstrap_means([])


def test_fast_enough_for_a_report():
    rng = np.random.default_rng(0)
    mats = [rng.random((3, 300)) for _ in range(12)]
    t0 = time.perf_counter()
    for i in range(100):
        paired_difference(mats[i % 12], mats[(i + 1) % 12], n_boot=2000, seed=0)
    assert time.perf_counter() - t0 < 15.0  # ~100 comparisons x 2,000 replicates


# --------------------------------------------------------------------------- power
def test_min_detectable_formula():
    assert min_detectable(0.01) == pytest.approx((1.959964 + 0.841621) * 0.01, rel=1e-6)
    assert min_detectable(0.0) == 0.0
    with pytest.raises(ValueError):
        min_detectable(-1.0)


# --------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize("ci,expected", [
    ([-0.007, 0.01], REPRODUCED),     # low exactly at -tol: non-inferior (boundary included)
    ([-0.0071, 0.01], INCONCLUSIVE),  # low just below -tol, high above
    ([-0.02, -0.007], INCONCLUSIVE),  # high exactly at -tol: not strictly below
    ([-0.02, -0.0071], CONTRADICTED), # the whole interval worse than -tol
    ([0.01, 0.02], REPRODUCED),
])
def test_non_inferiority_boundaries(ci, expected):
    assert verdict_at_least(ci, -0.007) == expected


@pytest.mark.parametrize("ci,expected", [
    ([-2.0, -0.01], REPRODUCED),  # shorter
    ([-2.0, 0.0], INCONCLUSIVE),  # could be equal
    ([0.0, 0.0], CONTRADICTED),   # identical: not shorter
    ([0.5, 2.0], CONTRADICTED),   # longer
    ([-1.0, 1.0], INCONCLUSIVE),
])
def test_below_boundaries(ci, expected):
    assert verdict_below(ci, 0.0) == expected


@pytest.mark.parametrize("ci,expected", [
    ([0.001, 0.02], REPRODUCED), ([0.0, 0.02], INCONCLUSIVE), ([-0.02, 0.0], CONTRADICTED),
    ([0.0, 0.0], CONTRADICTED), ([-0.01, 0.01], INCONCLUSIVE),
])
def test_above_boundaries(ci, expected):
    assert verdict_above(ci, 0.0) == expected


def test_verdict_input_checks():
    with pytest.raises(ValueError):
        verdict_at_least([0.1, 0.0], 0.0)  # low > high
    with pytest.raises(ValueError):
        verdict_below(None)
    with pytest.raises(ValueError):
        verdict_all([])


def test_combinations():
    R, C, U = REPRODUCED, CONTRADICTED, INCONCLUSIVE
    assert verdict_all([R, R]) == R and verdict_all([R, U]) == U and verdict_all([U, C]) == C
    assert verdict_any([U, R]) == R and verdict_any([C, U]) == C
    assert verdict_any([R, C]) == U and verdict_any([U, U]) == U


def test_common_value_floor_flag():
    assert common_value([[16.0, 16.3], [16.1, 16.4], [15.9, 16.1]])
    assert not common_value([[16.0, 16.3], [16.31, 16.4]])
    assert common_value([[1.0, 1.0], [1.0, 1.0]])


# --------------------------------------------------------------------------- frontier
def test_frontier_interpolates_and_stays_flat_outside():
    xs, ys = [30.0, 10.0, 20.0], [0.8, 0.5, 0.7]  # unsorted on purpose
    assert frontier_value(25.0, xs, ys) == pytest.approx(0.75)
    assert frontier_value(10.0, xs, ys) == pytest.approx(0.5)
    assert frontier_value(0.0, xs, ys) == 0.5 and frontier_value(99.0, xs, ys) == 0.8
    assert frontier_value(10.0, [10.0, 10.0], [0.2, 0.6]) == 0.6  # ties keep the best


def test_frontier_gap_per_replicate():
    # a model at 15 tokens and 0.7 accuracy above a frontier through (10, .5), (20, .7): +0.1
    fa = np.array([[0.5, 0.7], [0.5, 0.7]])
    ft = np.array([[10.0, 20.0], [10.0, 20.0]])
    gap = frontier_gap(np.array([0.7, 0.55]), np.array([15.0, 15.0]), fa, ft)
    assert gap == pytest.approx([0.1, -0.05])


def test_stacked_statistics_share_their_models_seed_draws():
    # accuracy and tokens of one model, perfectly correlated across seeds: stacked, the
    # replicates keep that (a draw of the long seed is also a draw of the accurate one)
    acc = np.array([[0.2] * 5, [0.8] * 5])
    tok = np.array([[10.0] * 5, [40.0] * 5])
    reps = bootstrap_means([np.stack([acc, tok])], n_boot=500, seed=0)
    assert reps.shape == (500, 2)
    assert np.corrcoef(reps[:, 0], reps[:, 1])[0, 1] == pytest.approx(1.0)
    apart = bootstrap_means([acc, tok], n_boot=500, seed=0)  # separate: independent draws
    assert abs(np.corrcoef(apart[:, 0], apart[:, 1])[0, 1]) < 0.3

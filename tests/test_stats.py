"""hmpo.analysis.stats: the seed-t interval, the paired hierarchical bootstrap, the MDD and the
verdict logic, on data whose answer is known."""

import time

import numpy as np
import pytest

from hmpo.analysis.stats import (
    BOOTSTRAP,
    CONTRADICTED,
    INCONCLUSIVE,
    MIN_SEEDS,
    REPRODUCED,
    SEED_T,
    bootstrap_means,
    column_means,
    combine_levels,
    design_mdd,
    frontier_gap,
    frontier_value,
    min_detectable,
    model_mean,
    paired_difference,
    seed_t_estimate,
    seed_t_interval,
    seeds_needed,
    t_cdf,
    t_quantile,
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
    assert e.method == SEED_T and e.mdd == pytest.approx(min_detectable(e.se, df=e.df), rel=1e-5)


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


# --------------------------------------------------------------------------- seed-t interval
DELTA = 0.03  # the known accuracy difference A - B of the simulations


def _simulate(rng, reps, n_seeds, seed_sd, *, n_problems=200, k=4, base=False):
    """`reps` independent data sets of model A (`n_seeds` seeds) and model B (as many seeds, or
    one base-model run), paired by problem, with a known accuracy difference DELTA.

    Per problem: a difficulty shared by both models (in 0.35-0.75: paired), a model x problem
    interaction (uniform +-8 pt, independent per model), per seed a shift N(0, seed_sd) (the
    base model has none: it is one fixed run), a seed x problem interaction (uniform +-5 pt),
    then `k` Bernoulli samples. Returns `(a, b)`: `(reps, n_seeds, n_problems)` and
    `(reps, n_seeds or 1, n_problems)`.
    """
    shape = (reps, 1, n_problems)
    p0 = rng.uniform(0.35, 0.75, shape)

    def model(n, shift, sd):
        seed_shift = rng.normal(0.0, sd, (reps, n, 1)) if sd else 0.0
        p = (p0 + shift + rng.uniform(-0.08, 0.08, shape) + seed_shift
             + rng.uniform(-0.05, 0.05, (reps, n, n_problems)))
        return rng.binomial(k, np.clip(p, 0.0, 1.0)) / k

    a = model(n_seeds, DELTA / 2, seed_sd)
    b = model(1, -DELTA / 2, 0.0) if base else model(n_seeds, -DELTA / 2, seed_sd)
    return a, b


def _coverage(r, truth=DELTA):
    return float(np.mean((r["low"] <= truth) & (truth <= r["high"])))


# 600 replicates per design: the Monte Carlo sd of an observed coverage is 0.009 at a true
# 0.95, so 0.92 is 3.4 sd below nominal and 0.99 4.4 sd above (20 designs: a correct interval
# fails this by chance with probability ~0.01). Observed with 4,000 replicates (seed sd
# 0/2/4/7 pt): vs another seeded method 0.98/0.96/0.96/0.96 (3 seeds), 0.97/0.96/0.96/0.96
# (5); vs the base run 0.96/0.96/0.95/0.94 (3), 0.95/0.95/0.96/0.96 (5). The hierarchical
# bootstrap (1,000 replicates): 0.99/0.96/0.91/0.87 and 0.98/0.95/0.91/0.85 with 3 seeds.
# 12 pt per model (a per-seed difference sd of ~17 pt between two seeded models) lies beyond
# the largest the veiled results show (10.3 pt, hmpo_fixed_p10 - hmpo; results/summary.json):
# 0.98 / 0.95 / 0.94 / 0.96 for the four designs at 600 replicates.
@pytest.mark.parametrize("n_seeds,base", [(3, False), (5, False), (3, True), (5, True)])
def test_seed_t_interval_covers_the_known_difference_at_every_seed_sd(n_seeds, base):
    for sd in (0.0, 0.02, 0.04, 0.07, 0.12):
        rng = np.random.default_rng([n_seeds, int(base), int(1000 * sd)])
        a, b = _simulate(rng, 600, n_seeds, sd, base=base)
        r = seed_t_interval([a, b], [1.0, -1.0])
        assert np.allclose(r["estimate"], a.mean(axis=(1, 2)) - b.mean(axis=(1, 2)))
        assert 0.92 <= _coverage(r) <= 0.99, (n_seeds, base, sd, _coverage(r))
        # SE calibrated where seeds agree (the bootstrap's is 1.1-1.5x the true sd there)
        ratio = r["se"].mean() / r["estimate"].std()
        assert (0.85 if sd else 0.9) <= ratio <= 1.25, (n_seeds, base, sd, ratio)


def test_the_bootstrap_under_covers_where_seeds_disagree():
    # the known-answer design at seed sd 7 pt, 3 seeds per model: the hierarchical bootstrap
    # covers ~0.83 (Monte Carlo sd 0.02 at 300 replicates: 0.90 is 3 sd above), failing the
    # bound of the test above; the seed-t interval on the same data passes it
    rng = np.random.default_rng(7)
    a, b = _simulate(rng, 300, 3, 0.07)
    cis = np.array([paired_difference(a[i], b[i], n_boot=400, seed=i, method=BOOTSTRAP).ci
                    for i in range(len(a))])
    boot = float(np.mean((cis[:, 0] <= DELTA) & (DELTA <= cis[:, 1])))
    new = _coverage(seed_t_interval([a, b], [1.0, -1.0]))
    assert boot < 0.90 and new >= 0.92, (boot, new)


def test_paired_difference_is_the_seed_t_interval_with_its_fields():
    rng = np.random.default_rng(2)
    a, b = _simulate(rng, 1, 3, 0.04)
    e = paired_difference(a[0], b[0])
    r = seed_t_interval([a[0], b[0]], [1.0, -1.0])
    assert e.method == SEED_T and e.estimate == pytest.approx(float(r["estimate"]))
    assert e.ci == pytest.approx([float(r["low"]), float(r["high"])])
    assert e.se == pytest.approx(float(r["se"])) and e.df == pytest.approx(float(r["df"]))
    # the CI's quantile and the MDD's come from the same df
    assert e.ci[1] - e.estimate == pytest.approx(t_quantile(0.975, e.df) * e.se, rel=1e-5)
    assert e.mdd == pytest.approx(min_detectable(e.se, df=e.df), rel=1e-5)
    d = e.as_dict()
    assert {"method", "df", "seed_share", "seeds_needed"} <= set(d)
    old = paired_difference(a[0], b[0], n_boot=300, method=BOOTSTRAP)
    assert old.method == BOOTSTRAP and old.df is None
    assert old.mdd == pytest.approx(2.8016 * old.se, rel=1e-4)
    with pytest.raises(ValueError, match="method"):
        paired_difference(a[0], b[0], method="jackknife")


def test_the_branches_problems_alone_seeds_alone_and_between():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.2, 0.9, 200)
    noisy = rng.binomial(4, np.tile(p, (3, 1))) / 4  # three seeds that agree
    # seeds agree -> (almost always) no seed term: the problem-level t on P - 1 = 199 df
    e = paired_difference(noisy, p[None])
    assert e.seed_share == 0.0 and e.df == pytest.approx(199.0)
    # only the seeds vary (every problem shifted alike): the t interval on the 3 seed means
    shifts = np.array([[-0.05], [0.01], [0.07]])
    e = paired_difference(p + shifts, p[None])
    means = shifts.ravel()
    half = t_quantile(0.975, 2) * means.std(ddof=1) / np.sqrt(3)
    assert e.seed_share == 1.0 and e.df == pytest.approx(2.0)
    assert e.ci == pytest.approx([means.mean() - half, means.mean() + half])
    assert e.mdd == pytest.approx(5.36 * e.se, rel=1e-3)
    assert e.seeds_needed == MIN_SEEDS
    # both levels: the larger of Cochran-Cox (each level's variance weighs its own t quantile)
    # and Satterthwaite on the mean squares
    t_199, t_2 = t_quantile(0.975, 199), t_quantile(0.975, 2)
    r = combine_levels(2.0, 1.0 / 199 + 1.0 / 2, 1.0, 2.0, 199)  # T = 1, U = S = 1 on 2 df
    assert float(r["q"]) == pytest.approx((t_199 + t_2) / 2)  # CC: 3.14 > t(7.9 df) = 2.31
    assert 2.0 < float(r["df"]) < 7.9
    assert float(r["q"]) == pytest.approx(t_quantile(0.975, float(r["df"])), rel=1e-5)
    assert float(r["mdd"]) == pytest.approx(min_detectable(np.sqrt(2.0), df=float(r["df"])),
                                            rel=1e-5)
    # a between-seed spread U = 1.5 that is mostly within-seed noise (net S = 0.2): its 2 df
    # carry 1.5, not 0.2 -> Satterthwaite (3.5 df, t = 2.98) beats CC (2.20)
    den = 1.8**2 / 199 + 1.5**2 / 2
    r = combine_levels(2.0, den, 0.2, 2.0, 199)
    assert float(r["df"]) == pytest.approx(4.0 / den) and float(r["q"]) > 0.9 * t_199 + 0.1 * t_2


def test_seed_terms_net_of_the_within_seed_noise():
    # a seed-mean spread no larger than the within-seed problem noise implies is no seed
    # variance (the problem term already holds that noise): it is not counted twice
    rng = np.random.default_rng(4)
    p = rng.uniform(0.3, 0.7, 400)
    x = rng.binomial(1, np.tile(p, (5, 1))).astype(float)
    e = model_mean(x)
    naive = np.sqrt(x.mean(axis=0).var(ddof=1) / 400 + x.mean(axis=1).var(ddof=1) / 5)
    assert e.se < naive
    assert e.se == pytest.approx(x.mean(axis=0).std(ddof=1) / np.sqrt(400), rel=1e-9) or (
        e.seed_share > 0)


def test_seeds_needed_and_design_mdd():
    # seed-limited: n_seeded * seed_sd^2 / n_seeds >= problem_se^2, with fewer than 5 seeds
    assert seeds_needed(0.03, 3, problem_se=0.017) == MIN_SEEDS
    assert seeds_needed(0.02, 3, problem_se=0.017) is None
    assert seeds_needed(0.03, 5, problem_se=0.017) is None  # enough for the t quantile
    assert seeds_needed(0.02, 3, problem_se=0.015, n_seeded=2) == MIN_SEEDS  # 2 x 2^2/3 >= 1.5^2
    assert seeds_needed(0.0, 3, problem_se=0.0) is None
    with pytest.raises(ValueError):
        seeds_needed(-1.0, 3, problem_se=0.01)
    mdds = [design_mdd(0.01, 0.03, n) for n in (3, 5, 8, 20)]
    assert mdds == sorted(mdds, reverse=True)  # more seeds, smaller MDD
    assert design_mdd(0.01, 0.0, 3) == pytest.approx(2.8016 * 0.01, rel=1e-4)
    assert design_mdd(0.0, 0.01, 3) == pytest.approx(5.3633 * 0.01 / np.sqrt(3), rel=1e-4)
    # the flag on an estimate: seeds dominate at 3 seeds -> needs 5; 5 seeds -> nothing to add
    rng = np.random.default_rng(5)
    p = rng.uniform(0.3, 0.7, 200)[None]
    for n, needed in ((3, MIN_SEEDS), (5, None)):
        a = p + rng.normal(0, 0.07, (n, 1)) + rng.normal(0, 0.02, (n, 200))
        e = paired_difference(a, p)
        assert e.seed_share > 0.5 and e.seeds_needed == needed


# --------------------------------------------------------------------------- base seeds
def _nested(rng, reps, n_base, n_train, *, base_sd=0.05, train_sd=0.03, n_problems=200):
    """A trained model with `n_train` seeds on each of `n_base` base-model seeds and the base
    model's own run per base seed; a base seed shifts the base run and its trained runs alike
    (N(0, base_sd)), a training seed shifts its run (N(0, train_sd)); known difference DELTA."""
    p = rng.uniform(0.35, 0.75, (reps, 1, n_problems))
    shift = rng.normal(0, base_sd, (reps, n_base, 1))
    base = p + shift + rng.uniform(-0.05, 0.05, (reps, n_base, n_problems))
    trained = (np.repeat(p + shift, n_train, axis=1) + DELTA
               + rng.normal(0, train_sd, (reps, n_base * n_train, 1))
               + rng.uniform(-0.05, 0.05, (reps, n_base * n_train, n_problems)))
    labels = np.repeat(np.arange(n_base), n_train)
    return (rng.binomial(4, np.clip(trained, 0, 1)) / 4, rng.binomial(4, np.clip(base, 0, 1)) / 4,
            labels)


def test_runs_grouped_by_base_seed_are_paired_by_group():
    # every trained run = its base seed's run + 0.1 on every problem; the base seeds differ
    # a lot: paired by base seed the difference is exactly 0.1, unpaired it is noise
    rng = np.random.default_rng(8)
    base = rng.uniform(0.3, 0.7, 100) + np.array([[-0.2], [0.0], [0.2]])
    trained = np.repeat(base, 2, axis=0) + 0.1
    labels = [0, 0, 1, 1, 2, 2]
    e = paired_difference(trained, base, groups_a=labels, groups_b=[0, 1, 2])
    assert e.estimate == pytest.approx(0.1) and e.ci == pytest.approx([0.1, 0.1])
    assert e.se == pytest.approx(0.0, abs=1e-12)
    assert paired_difference(trained, base).se > 0.05  # the same runs, unpaired
    # one group: conditional on that base seed, the runs are the units (as without groups)
    x = rng.random((3, 50))
    assert model_mean(x, groups=[4, 4, 4]) == model_mean(x)
    # unbalanced groups: each base seed weighs the same
    assert column_means([np.array([[1.0], [1.0], [4.0]])], [[0, 0, 1]]) == pytest.approx([2.5])
    with pytest.raises(ValueError, match="labels"):
        model_mean(x, groups=[0, 1])


def test_base_seed_nesting_covers_the_marginal_difference():
    # 4 base seeds x 2 training seeds, 400 replicates (Monte Carlo sd 0.011): the grouped
    # interval covers the difference over base and training seeds; pairing by base seed makes
    # it narrower than treating every run as unpaired
    rng = np.random.default_rng(9)
    a, b, labels = _nested(rng, 400, 4, 2)
    grouped = seed_t_interval([a, b], [1.0, -1.0], groups=[labels, np.arange(4)])
    unpaired = seed_t_interval([a, b], [1.0, -1.0])
    assert 0.92 <= _coverage(grouped) <= 0.99, _coverage(grouped)
    assert np.median(grouped["high"] - grouped["low"]) < 0.8 * np.median(
        unpaired["high"] - unpaired["low"])


@pytest.mark.parametrize("n_base, low, high", [(3, 0.90, 0.96), (5, 0.925, 0.99)])
def test_one_base_per_training_seed_coverage(n_base, low, high):
    # the pipeline's design (base_model.per_seed): each training seed on its own base seed, the
    # base model evaluated once per base seed, so the units are base seeds and the interval is
    # over base draws too. 1,000 replicates (Monte Carlo sd 0.008) at a seed sd of 4 points:
    # measured 0.92-0.93 with 3 base seeds (liberal by 2-3 points: a 2-df seed term drawn
    # small) and 0.95 with 5 (README: rows whose seed spread dominates need >= 5 seeds)
    rng = np.random.default_rng(12)
    a, b, labels = _nested(rng, 1000, n_base, 1, base_sd=0.05, train_sd=0.04)
    grouped = seed_t_interval([a, b], [1.0, -1.0], groups=[labels, np.arange(n_base)])
    assert low <= _coverage(grouped) <= high, _coverage(grouped)


# --------------------------------------------------------------------------- functions of means
def test_seed_t_estimate_of_a_linear_function_is_paired_difference():
    rng = np.random.default_rng(10)
    a, b = _simulate(rng, 1, 3, 0.03)
    e = seed_t_estimate([a[0], b[0]], lambda m: m[:, 0] - m[:, 1])
    d = paired_difference(a[0], b[0])
    assert e.estimate == pytest.approx(d.estimate) and e.se == pytest.approx(d.se, rel=1e-6)
    assert e.ci == pytest.approx(d.ci, rel=1e-6) and e.df == pytest.approx(d.df, rel=1e-4)
    with pytest.raises(ValueError, match="finite"):
        seed_t_estimate([a[0]], lambda m: m[:, 0] * np.nan)


def test_seed_t_estimate_of_a_compression_covers():
    # compression 1 - tokens(A) / tokens(base), A = 0.6 x base length per problem, times a
    # per-seed factor 1 + N(0, 0.05) and per-sample noise: true compression 0.4. Stacked
    # (accuracy, tokens) columns as the claims pass them. 300 replicates: Monte Carlo sd 0.013
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(300):
        length = rng.lognormal(4.0, 0.5, 200)
        tok_b = length * rng.lognormal(0, 0.2, 200) / np.exp(0.02)  # E[lognormal(0, .2)]
        seed = 1 + rng.normal(0, 0.05, (3, 1))
        tok_a = 0.6 * length * seed * rng.lognormal(0, 0.2, (3, 200)) / np.exp(0.02)
        acc = rng.random((3, 200))
        e = seed_t_estimate([np.stack([acc, tok_a]), np.stack([acc[:1], tok_b[None]])],
                            lambda m: 1 - m[:, 1] / m[:, 3])
        hits += e.ci[0] <= 0.4 <= e.ci[1]
    assert 0.92 <= hits / 300 <= 0.99


# --------------------------------------------------------------------------- Student t
def test_t_quantiles_and_cdf():
    # textbook values
    assert t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-4)
    assert t_quantile(0.975, 4) == pytest.approx(2.7764, abs=1e-4)
    assert t_quantile(0.80, 2) == pytest.approx(1.0607, abs=1e-4)
    assert t_quantile(0.975, np.inf) == pytest.approx(1.959964, abs=1e-6)
    assert t_quantile(0.025, 3) == pytest.approx(-t_quantile(0.975, 3))
    dfs = np.array([1.0, 1.7, 2.0, 3.3, 7.0, 19.9, 20.0, 55.0, 1e4])
    for p in (0.6, 0.8, 0.975, 0.999):
        assert np.allclose(t_cdf(t_quantile(p, dfs), dfs), p, atol=1e-7)
    assert t_cdf(0.0, 5) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError):
        t_quantile(0.9, 0.0)


def test_stats_doctests():
    import doctest

    import hmpo.analysis.stats

    assert doctest.testmod(hmpo.analysis.stats).failed == 0


def test_seed_t_estimate_of_a_compression_covers_at_the_observed_seed_spreads():
    """The compression claim's interval (a ratio of means, delta method): known answer 0.5,
    problems and training seeds drawn afresh each replicate, hmpo's seeds shifting its length
    by a seed sd of 0%, 5% and 10% (the observed token seed spreads are ~0-8%); one base run."""
    from hmpo.analysis.stats import seed_t_estimate

    rng = np.random.default_rng(11)
    n, reps = 200, 300
    for seed_sd in (0.0, 0.05, 0.10):
        hits = 0
        for _ in range(reps):
            length = rng.uniform(10, 40, n)
            base = length * (1 + rng.normal(0, 0.1, n))
            shift = 1 + rng.normal(0, seed_sd, (3, 1))
            hmpo = 0.5 * length * shift * (1 + rng.normal(0, 0.1, (3, n)))
            acc_b, acc_h = np.ones((1, n)), np.ones((3, n))
            e = seed_t_estimate([np.stack([acc_h, hmpo]), np.stack([acc_b, base[None]])],
                                lambda m: 1.0 - m[:, 1] / m[:, 3])
            hits += e.ci[0] <= 0.5 <= e.ci[1]
        assert 0.92 <= hits / reps <= 0.995, (seed_sd, hits / reps)

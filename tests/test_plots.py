"""hmpo.analysis.plots: the results figures stay legible with ~14 methods x 3 seeds in one cluster.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_plots.py -q
"""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import hmpo.analysis.plots
import hmpo.analysis.stage_plots
from hmpo.analysis.plots import crowded, plot_costs, plot_pareto, spread_1d
from hmpo.analysis.stage_plots import plot_training_curves, smooth

CLUSTER = ["hmpo", "hmpo_add", "hmpo_add_ungated", "hmpo_fixed", "hmpo_fixed_p25",
           "hmpo_fixed_p50", "hmpo_fixed_p75", "hmpo_mean", "kimi", "arora_zanette",
           "shorterbetter", "grpo_lead"]
SPREAD = {"base": (0.972, 35.6), "grpo": (0.979, 32.6), "multistage": (0.982, 19.0)}
SETS = ("synthetic_eval", "synthetic_transfer")


def seeded_summary(n_seeds: int = 3, rng_seed: int = 0, per_seed: bool = True) -> dict:
    """A summary of the issue-#11 schema: 12 methods within ~0.3 tokens / 1 point of
    accuracy at 16 tokens, grpo and multistage apart, base with one run."""
    rng = np.random.default_rng(rng_seed)
    methods = {}
    centres = {**SPREAD, **{m: (0.975 + 0.008 * rng.random(), 16.0 + 0.3 * rng.random())
                            for m in CLUSTER}}
    for name, (acc, tok) in centres.items():
        sets = {}
        for k, s in enumerate(SETS):
            a0, t0 = (acc, tok) if k == 0 else (acc - 0.08, 1.7 * tok)
            n = 1 if name == "base" else n_seeds
            seeds = {str(i): {"accuracy": float(np.clip(a0 + rng.normal(0, 0.003), 0, 1)),
                              "mean_tokens": float(t0 + rng.normal(0, 0.15))} for i in range(n)}
            a = float(np.mean([v["accuracy"] for v in seeds.values()]))
            t = float(np.mean([v["mean_tokens"] for v in seeds.values()]))
            entry = {"accuracy": a, "mean_tokens": t, "accuracy_ci": [a - 0.01, a + 0.009],
                     "mean_tokens_ci": [t - 0.6, t + 0.6], "finished_rate": 1.0,
                     "compression": 0.0 if name == "base" else 1 - t / 35.6}
            if per_seed:
                sd = n > 1
                entry.update({
                    "per_seed": seeds,
                    "accuracy_seed_sd": float(np.std([v["accuracy"] for v in seeds.values()],
                                                     ddof=1)) if sd else None,
                    "mean_tokens_seed_sd": float(np.std(
                        [v["mean_tokens"] for v in seeds.values()], ddof=1)) if sd else None})
            sets[s] = entry
        methods[name] = {"sets": sets, **sets[SETS[0]]}
    return {"profile": "default", "seed": 0, "main_set": SETS[0], "eval_sets": list(SETS),
            "methods": methods}


def seeded_logs(n_seeds: int = 3, steps: int = 100) -> dict:
    """``{method: {seed: per-step DataFrame}}``: noisy lengths decaying from ~36 to ~16."""
    rng = np.random.default_rng(1)
    out = {}
    for name in ["grpo", "multistage", *CLUSTER]:
        floor = {"grpo": 32.0, "multistage": 19.0}.get(name, 16.0)
        out[name] = {}
        for s in range(n_seeds):
            step = np.arange(1, steps + 1)
            length = floor + (36 - floor) * np.exp(-step / 15) + rng.normal(0, 1.5, steps)
            df = pd.DataFrame({"step": step, "completion_length": length,
                               "accuracy": np.clip(0.95 + rng.normal(0, 0.03, steps), 0, 1)})
            if name != "grpo":
                df["budget_tokens"] = length - 0.5
            out[name][str(s)] = df
    return out


def _labels(ax) -> list[str]:
    """The method names written on ``ax`` (not the note that points to the zoom)."""
    return [t.get_text() for t in ax.texts if t.get_gid() != "zoom-note"]


def _text_boxes(fig, ax):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # a Figure made without pyplot has no renderer of its own
    canvas.draw()
    r = canvas.get_renderer()
    from matplotlib.text import Text

    # Text's extent: the words alone, without an annotation's leader line
    return {t.get_text(): Text.get_window_extent(t, r) for t in ax.texts
            if t.get_gid() != "zoom-note"}


def test_doctests():
    assert doctest.testmod(hmpo.analysis.plots).failed == 0
    assert doctest.testmod(hmpo.analysis.stage_plots).attempted > 0
    assert doctest.testmod(hmpo.analysis.stage_plots).failed == 0


def test_crowded_groups_only_colliding_points():
    pts = {"a": (16.0, 98.0), "b": (16.1, 98.1), "c": (16.2, 98.0), "d": (35.0, 97.0),
           "e": (32.0, 97.9)}
    assert crowded(pts, span=(20.0, 3.0)) == ["a", "b", "c"]
    assert crowded(pts, span=(20.0, 3.0), min_size=4) == []


def test_spread_1d_keeps_order_and_gap():
    targets = [0.50, 0.51, 0.49, 0.50, 0.9]
    pos = spread_1d(targets, gap=0.06)
    order = sorted(range(5), key=lambda i: -targets[i])
    ranked = [pos[i] for i in order]
    assert all(a - b >= 0.06 - 1e-9 for a, b in zip(ranked, ranked[1:], strict=False))
    assert abs(pos[4] - 0.9) < 1e-9  # an isolated label stays at its point
    squeezed = spread_1d([0.5] * 30, gap=0.06)  # does not fit: the gap shrinks, within [0, 1]
    assert min(squeezed) >= 0 and max(squeezed) <= 1 and len(set(squeezed)) == 30


def test_pareto_names_every_method_once_without_overlap(tmp_path):
    s = seeded_summary()
    fig = plot_pareto(s)
    overview, zoom = fig.axes[:2]
    names = set(s["methods"])
    # the crowded methods are named in the zoom, the others in the overview: each once
    assert sorted(_labels(overview) + _labels(zoom)) == sorted(names)
    assert set(CLUSTER) <= set(_labels(zoom))
    for ax in (overview, zoom):
        boxes = list(_text_boxes(fig, ax).values())
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not a.overlaps(b), f"two labels overlap on {ax.get_title()!r}"
    legend = fig.legends[0]
    assert {t.get_text() for t in legend.get_texts()} == names | {"Pareto front"}
    fig.savefig(tmp_path / "p.png", dpi=60)


def test_pareto_draws_every_seed_and_seed_sd_bars():
    s = seeded_summary(n_seeds=3)
    fig = plot_pareto(s)
    zoom = fig.axes[1]
    # one faint scatter of seeds per crowded method (3 points each) + one mean marker each
    seed_sets = [c for c in zoom.collections
                 if c.get_offsets().shape[0] == 3 and c.get_alpha() is not None
                 and c.get_alpha() < 0.5]
    assert len(seed_sets) == len(CLUSTER)
    assert "SD across seeds" in zoom.get_title()


def test_pareto_reads_the_old_one_seed_schema():
    fig = plot_pareto(seeded_summary(per_seed=False))
    assert "95% CI" in fig.axes[1].get_title()
    assert sorted(_labels(fig.axes[0]) + _labels(fig.axes[1])) == sorted(
        seeded_summary()["methods"])


def test_pareto_without_a_crowd_has_one_panel():
    s = seeded_summary()
    s["methods"] = {m: s["methods"][m] for m in ("base", "grpo", "multistage", "hmpo")}
    fig = plot_pareto(s)
    assert len(fig.axes) == 1 and set(_labels(fig.axes[0])) == set(s["methods"])


def test_smooth_is_an_ema_that_starts_at_the_first_value():
    y = smooth([10.0, 0.0, 0.0, 0.0, 0.0], span=3)
    assert y[0] == 10.0 and all(a > b for a, b in zip(y, y[1:], strict=False))
    noisy = 16 + np.random.default_rng(0).normal(0, 2, 200)
    assert np.std(smooth(noisy)) < 0.5 * np.std(noisy)


def test_training_curves_take_seeds_and_draw_one_smoothed_line_per_method():
    logs = seeded_logs()
    fig = plot_training_curves(logs)
    length_ax, _, budget_ax = fig.axes[:3]
    assert [ln.get_label() for ln in length_ax.lines] == list(logs)
    assert "grpo" not in [ln.get_label() for ln in budget_ax.lines]  # it logs no budget
    raw = length_ax.collections
    assert len(raw) == len(logs) and all(len(c.get_segments()) == 3 for c in raw)
    hmpo = next(ln for ln in length_ax.lines if ln.get_label() == "hmpo")
    ys = hmpo.get_ydata()
    seed_mean = pd.concat(logs["hmpo"].values()).groupby("step")["completion_length"].mean()
    assert np.allclose(ys, smooth(seed_mean.to_numpy()))  # the EMA of the seed mean
    assert np.std(np.diff(ys)) < np.std(np.diff(seed_mean.to_numpy()))


def test_training_curves_still_take_one_dataframe_per_method():
    logs = {m: next(iter(d.values())) for m, d in seeded_logs(n_seeds=1).items()}
    fig = plot_training_curves(logs)
    assert len(fig.axes[0].lines) == len(logs)


def test_costs_show_the_seed_spread():
    costs = {"base": {"train_seconds": None, "train_cpu_seconds": None},
             "hmpo": {"train_seconds": 60.0, "train_cpu_seconds": 59.0,
                      "train_seconds_per_seed": {"0": 55.0, "1": 60.0, "2": 65.0}},
             "multistage": {"train_seconds": 234.0, "train_cpu_seconds": 230.0}}
    fig = plot_costs(costs)
    ax = fig.axes[0]
    seed_points = [c for c in ax.collections if c.get_offsets().shape[0] == 3]
    assert len(seed_points) == 1
    assert sorted(seed_points[0].get_offsets()[:, 0].tolist()) == [55.0, 60.0, 65.0]


@pytest.mark.parametrize("n_seeds", [1, 3])
def test_figures_render_to_png(tmp_path, n_seeds):
    for name, fig in {"pareto": plot_pareto(seeded_summary(n_seeds)),
                      "curves": plot_training_curves(seeded_logs(n_seeds))}.items():
        path = tmp_path / f"{name}.png"
        fig.savefig(path, dpi=60)
        assert path.stat().st_size > 5000


def test_plot_styles_stacks_shares_and_plots_accuracy_per_style():
    from hmpo.analysis.stage_plots import plot_styles

    styles = {"1": {"verbose": {"share": 0.8, "accuracy": 1.0, "mean_tokens": 14, "n": 80},
                    "early": {"share": 0.2, "accuracy": 0.9, "mean_tokens": 5, "n": 20}},
              "6": {"verbose": {"share": 0.7, "accuracy": 0.9, "mean_tokens": 60, "n": 70},
                    "early": {"share": 0.3, "accuracy": 0.1, "mean_tokens": 12, "n": 30}},
              "all": {"verbose": {"share": 0.75, "accuracy": 0.95, "mean_tokens": 37, "n": 150}}}
    fig = plot_styles(styles)
    ax_share, ax_acc = fig.axes[:2]
    heights = sorted(round(p.get_height()) for p in ax_share.patches)
    assert heights == [20, 30, 70, 80]  # two styles x two difficulties, "all" left out
    assert [t.get_text() for t in ax_share.get_xticklabels()] == ["1", "6"]
    assert {t.get_text() for t in ax_acc.get_legend().get_texts()} >= {"verbose", "early"}
    with pytest.raises(ValueError, match="no difficulty"):
        plot_styles({"all": {}})

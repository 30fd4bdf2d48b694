"""Figures of hmpo. Functions take an optional matplotlib ``ax`` and return it; none calls
``plt.show`` (safe under the Agg backend used by notebooks in CI)."""

from __future__ import annotations

import numpy as np


def plot_reward_shape(ax=None, lams=(0.0, 0.5, 0.8, 1.0), beta: float = 1.0,
                      clip_high: float = 1.0, decay: str = "cosine"):
    """HMPO's reward of a correct rollout against n/b, one line per λ; returns the Axes.

    Computed by :func:`hmpo.rewards.hmpo_reward` itself: point k is a group of three correct
    rollouts with lengths ``(n_k, b, b)``, whose median budget is exactly ``b``.
    """
    if ax is None:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

        ax = Figure(figsize=(5, 3.5)).subplots()
    from hmpo.rewards import hmpo_reward

    b = 1000.0
    x = np.linspace(0.0, 1.5, 301)
    k = np.arange(x.size)
    lengths = np.column_stack([x * b, np.full(x.size, b), np.full(x.size, b)]).ravel()
    groups = np.repeat(k, 3)
    correct = np.ones(lengths.size, dtype=bool)
    for lam in lams:
        r = hmpo_reward(correct, lengths, groups, lam=lam, beta=beta, clip_high=clip_high,
                        decay=decay)[0::3]
        ax.plot(x, r, label=f"λ = {lam:g}")
    ax.axvline(1.0, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("response length n / budget b (median correct length)")
    ax.set_ylabel("reward of a correct rollout")
    ax.set_title(f"HMPO token reward ({decay}, β = {beta:g}, h = {clip_high:g})")
    ax.legend(frameon=False)
    return ax


# ----------------------------------------------------------------------------- results figures
# (stage `figures`, notebook 05_figures). Each takes plain data (the summary / costs dicts
# of hmpo.report, per-step DataFrames of the train logs) and returns a matplotlib Figure;
# the notebook saves it under results/figures/.
def _figure(ncols: int = 1, size: tuple[float, float] = (5.5, 4.0)):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(size[0] * ncols, size[1]), layout="constrained")
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _color(name: str, names: list[str]):
    """One stable colour per method: base black, hmpo red, the others from a red-free palette
    (tab10 then tab20's light shades, reds removed: only HMPO is red)."""
    from matplotlib import colormaps

    if name == "base":
        return "black"
    if name == "hmpo":
        return "tab:red"
    tab10, tab20 = colormaps["tab10"].colors, colormaps["tab20"].colors
    palette = [c for i, c in enumerate(tab10) if i != 3] + [
        c for i, c in enumerate(tab20) if i % 2 == 1 and i != 7]
    others = [n for n in names if n not in ("base", "hmpo")]
    return palette[(others.index(name) if name in others else 0) % len(palette)]


def plot_pareto(summary: dict, set_name: str | None = None):
    """Accuracy (%) against mean response tokens, one point per method with 95% CIs.

    ``summary`` is :func:`hmpo.report.build_summary`'s dict. Up and to the left is better;
    the dashed line joins the methods on the Pareto front (no other method is both shorter
    and at least as accurate). Dotted lines mark the base model.
    """
    from hmpo.report import pareto_front

    set_name = set_name or summary["main_set"]
    names = list(summary["methods"])
    fig, (ax,) = _figure()
    for name in names:
        m = summary["methods"][name]["sets"][set_name]
        x, y = m["mean_tokens"], 100 * m["accuracy"]
        xci, yci = m.get("mean_tokens_ci"), m.get("accuracy_ci")
        xerr = [[x - xci[0]], [xci[1] - x]] if xci else None
        yerr = [[y - 100 * yci[0]], [100 * yci[1] - y]] if yci else None
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="*" if name == "base" else "o",
                    ms=12 if name == "base" else 7, color=_color(name, names), capsize=2,
                    lw=0.8, label=name)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    front = pareto_front(summary, set_name)
    pts = sorted((summary["methods"][n]["sets"][set_name]["mean_tokens"],
                  100 * summary["methods"][n]["sets"][set_name]["accuracy"]) for n in front)
    ax.plot(*zip(*pts, strict=True), ls="--", color="0.5", lw=1, zorder=0, label="Pareto front")
    if "base" in summary["methods"]:
        b = summary["methods"]["base"]["sets"][set_name]
        ax.axhline(100 * b["accuracy"], color="0.7", ls=":", lw=1, zorder=0)
        ax.axvline(b["mean_tokens"], color="0.7", ls=":", lw=1, zorder=0)
    ax.set_xlabel("mean response tokens")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"Accuracy vs length on {set_name} (95% CIs)")
    ax.legend(fontsize=7, frameon=False, loc="best", ncols=2)
    return fig


def plot_training_curves(logs: dict, panels: dict[str, str] | None = None, step: str = "step"):
    """Per-step training curves, one panel per logged quantity, one line per method.

    ``logs`` maps a method name to a DataFrame of its per-step log (a ``step`` column and the
    columns named in ``panels``); ``panels`` maps a column to its panel title (default: the
    mean completion length, the share of correct rollouts and HMPO's budget b). A column a
    method did not log (e.g. the budget of plain GRPO) is skipped for that method.
    """
    panels = panels or {
        "completion_length": "mean completion length (tokens)",
        "accuracy": "share of correct rollouts",
        "budget_tokens": "budget b (median correct length, tokens)",
    }
    if not logs:
        raise ValueError("logs is empty: no training log to plot")
    names = list(logs)
    fig, axes = _figure(len(panels), (4.5, 3.5))
    from matplotlib.ticker import MaxNLocator

    for ax, (col, title) in zip(axes, panels.items(), strict=True):
        drawn = 0
        for name, df in logs.items():
            if col in df and df[col].notna().any():
                ax.plot(df[step], df[col], label=name, color=_color(name, names), lw=1.2)
                drawn += 1
        if not drawn:  # e.g. the budget when no group had a correct rollout
            ax.text(0.5, 0.5, f"no {col} logged", ha="center", va="center", color="0.5",
                    transform=ax.transAxes)
        if col == "accuracy":  # a share: keep the whole 0..1 range in view
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(step)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=7, frameon=False)
    return fig


def plot_difficulty_lengths(by_difficulty: dict, set_name: str = ""):
    """Mean response tokens and accuracy per difficulty, grouped bars per model.

    ``by_difficulty`` maps a model name (e.g. "base", "hmpo") to the ``by_difficulty`` dict
    of its evaluation metrics (``{difficulty: {"n_problems", "accuracy", "mean_tokens"}}``).
    """
    if not by_difficulty:
        raise ValueError("by_difficulty is empty")
    names = list(by_difficulty)
    levels = list(dict.fromkeys(k for d in by_difficulty.values() for k in d))
    width = 0.8 / len(names)
    fig, (ax_tok, ax_acc) = _figure(2, (4.5, 3.5))
    for i, name in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(levels))]
        d = by_difficulty[name]
        tok = [d[k]["mean_tokens"] if k in d else float("nan") for k in levels]
        acc = [100 * d[k]["accuracy"] if k in d else float("nan") for k in levels]
        ax_tok.bar(xs, tok, width, label=name, color=_color(name, names))
        ax_acc.bar(xs, acc, width, label=name, color=_color(name, names))
    ax_acc.set_ylim(0, 100)
    for ax, label in ((ax_tok, "mean response tokens"), (ax_acc, "accuracy (%)")):
        ax.set_xticks(range(len(levels)), levels)
        ax.set_xlabel("difficulty (operations)")
        ax.set_ylabel(label)
    ax_tok.set_title(f"Length per difficulty {set_name}".strip(), fontsize=10)
    ax_acc.set_title(f"Accuracy per difficulty {set_name}".strip(), fontsize=10)
    ax_tok.legend(fontsize=8, frameon=False)
    return fig


def plot_costs(costs: dict):
    """Training cost per method: wall seconds (bars) and CPU seconds (hatched), base omitted.

    ``costs`` is :func:`hmpo.report.collect_costs`'s dict
    (``{method: {"train_seconds", "train_cpu_seconds"}}``).
    """
    names = [n for n, c in costs.items() if c.get("train_seconds") is not None]
    if not names:
        raise ValueError("costs holds no method with a train_seconds value")
    fig, (ax,) = _figure(1, (6.5, 0.35 * len(names) + 1.5))
    ys = range(len(names))
    wall = [costs[n]["train_seconds"] for n in names]
    cpu = [costs[n].get("train_cpu_seconds") or float("nan") for n in names]
    from matplotlib.patches import Patch

    ax.barh([y - 0.2 for y in ys], wall, 0.4, color=[_color(n, list(costs)) for n in names])
    ax.barh([y + 0.2 for y in ys], cpu, 0.4, color="none", edgecolor="0.3", hatch="//")
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xlabel("training seconds (RL; multistage includes its sampling and SFT)")
    ax.set_title("Training cost per method")
    ax.legend([Patch(color="0.5"), Patch(facecolor="none", edgecolor="0.3", hatch="//")],
              ["wall seconds (method colour)", "CPU seconds"], fontsize=8, frameon=False,
              loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2)
    return fig

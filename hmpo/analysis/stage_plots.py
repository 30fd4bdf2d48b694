"""Plots the base_model, train and evaluate notebooks show (the figures stage draws them too).

Each takes plain data and returns a matplotlib Figure (no pyplot, no ``plt.show``: safe under
the Agg backend of notebooks in CI). They live apart from :mod:`hmpo.analysis.plots`, which
only the figures stage runs, so that editing a results figure reruns that stage alone while
editing one of these reruns every stage that shows it (``hmpo.pipeline.stage_deps``).
"""

from __future__ import annotations

import numpy as np

from hmpo.paths import BASE, SFT
from hmpo.task.synthetic import parse_cell


def _figure(ncols: int = 1, size: tuple[float, float] = (5.5, 4.0)):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(size[0] * ncols, size[1]), layout="constrained")
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _color(name: str, names: list[str]):
    """One stable colour per method: base black, hmpo red, the others from a red-free palette
    (tab10 then tab20's light shades, reds removed: only HMPO is red)."""
    from matplotlib import colormaps

    if name == BASE:
        return "black"
    if name == SFT:
        return "0.5"
    if name == "hmpo":
        return "tab:red"
    tab10, tab20 = colormaps["tab10"].colors, colormaps["tab20"].colors
    palette = [c for i, c in enumerate(tab10) if i != 3] + [
        c for i, c in enumerate(tab20) if i % 2 == 1 and i != 7]
    others = [n for n in names if n not in (BASE, SFT, "hmpo")]
    return palette[(others.index(name) if name in others else 0) % len(palette)]


def smooth(values, span: int | None = None):
    """Exponential moving average (pandas ``ewm(span, adjust=True)``, so the first point is
    the first value, not a ramp from 0) with ``span = max(3, n // 10)`` by default: a
    ~10-step window on a 100-step run. NaNs are skipped, not propagated.

    >>> [round(float(v), 2) for v in smooth([0.0, 1.0, 1.0, 1.0], span=3)]
    [0.0, 0.67, 0.86, 0.93]
    """
    import pandas as pd

    s = pd.Series(values, dtype=float)
    span = span or max(3, len(s) // 10)
    return s.ewm(span=span, adjust=True, ignore_na=True).mean().to_numpy()


def _by_seed(entry) -> dict:
    """``{seed: DataFrame}`` from a method's log: a DataFrame (one run) or a seed mapping."""
    if hasattr(entry, "columns"):
        return {None: entry}
    if not entry:
        raise ValueError("a method's seed mapping is empty")
    return dict(entry)


def plot_training_curves(logs: dict, panels: dict[str, str] | None = None, step: str = "step",
                         span: int | None = None):
    """Per-step training curves, one panel per logged quantity, one colour per method.

    ``logs`` maps a method name to a DataFrame of its per-step log (a ``step`` column and the
    columns named in ``panels``) or to ``{seed: DataFrame}``. Raw per-step values (every seed)
    are thin faint lines; the bold line is the across-seed mean per step, smoothed by an
    exponential moving average (:func:`smooth`, ``span`` steps, default ``max(3, n // 10)``).
    ``panels`` maps a column to its panel title (default: mean completion length, share of
    correct rollouts, HMPO's budget b). A column a method did not log (e.g. the budget of
    plain GRPO) is skipped for that method.
    """
    import pandas as pd
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    panels = panels or {
        "completion_length": "mean completion length (tokens)",
        "accuracy": "share of correct rollouts",
        "budget_tokens": "budget b (median correct length, tokens)",
    }
    if not logs:
        raise ValueError("logs is empty: no training log to plot")
    names = list(logs)
    runs = {n: _by_seed(e) for n, e in logs.items()}
    fig, axes = _figure(len(panels), (4.8, 3.8))
    for ax, (col, title) in zip(axes, panels.items(), strict=True):
        drawn = 0
        for name, seeds in runs.items():
            color = _color(name, names)
            frames = [df[[step, col]].dropna() for df in seeds.values()
                      if col in df and df[col].notna().any()]
            if not frames:
                continue
            # raw lines as one collection: ax.lines holds only the smoothed line per method
            ax.add_collection(LineCollection(
                [np.column_stack([df[step], df[col]]) for df in frames], colors=[color],
                linewidths=0.6, alpha=0.25, zorder=1))
            mean = pd.concat(frames).groupby(step)[col].mean().sort_index()
            ax.plot(mean.index, smooth(mean.to_numpy(), span), color=color, lw=2.0,
                    zorder=3 if name == "hmpo" else 2, label=name)
            drawn += 1
        if not drawn:  # e.g. the budget when no group had a correct rollout
            ax.text(0.5, 0.5, f"no {col} logged", ha="center", va="center", color="0.5",
                    transform=ax.transAxes)
        if col == "accuracy":  # a share: keep the whole 0..1 range in view
            ax.set_ylim(-0.02, 1.02)
        ax.autoscale_view()  # a collection does not update the data limits by itself
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(step)
        ax.grid(alpha=0.25)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    n_seeds = max(len(s) for s in runs.values())
    handles = [Line2D([], [], color=_color(n, names), lw=2, label=n) for n in names]
    handles += [Line2D([], [], color="0.4", lw=0.6, alpha=0.4,
                       label="raw per step" + (f" ({n_seeds} seeds)" if n_seeds > 1 else "")),
                Line2D([], [], color="0.4", lw=2, label="EMA" + (" of the seed mean"
                                                                  if n_seeds > 1 else ""))]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(8, len(handles)),
               fontsize=8, frameon=False)
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
        ax.set_xlabel("difficulty (operations; ? = veiled)")
        ax.set_ylabel(label)
    ax_tok.set_title(f"Length per difficulty {set_name}".strip(), fontsize=10)
    ax_acc.set_title(f"Accuracy per difficulty {set_name}".strip(), fontsize=10)
    ax_tok.legend(fontsize=8, frameon=False)
    return fig


#: Colours of the synthetic task's trace styles (hmpo.task.synthetic.STYLES).
STYLE_COLORS = {"verbose": "tab:blue", "minimal": "tab:green", "early": "tab:red",
                "guess": "tab:orange", "malformed": "tab:gray"}


def plot_styles(styles: dict):
    """The base model's trace styles per difficulty: share of samples and accuracy.

    ``styles`` is ``metrics["eval"]["styles"]`` of the base_model stage
    (hmpo.models.sft.style_table: ``{"<k>": {style: {"share", "accuracy", "mean_tokens", "n"}}}``,
    plus a pooled ``"all"`` entry, which is left out; veiled problems' levels are ``"<k>?"``).
    Left: stacked shares; right: accuracy
    per style (marker size ~ number of samples), the accuracy-length trade-off below the
    reliable trace at a glance.
    """
    levels = sorted((k for k in styles if k != "all"), key=parse_cell)
    if not levels:
        raise ValueError("styles has no difficulty level")
    present = [st for st in STYLE_COLORS if any(st in styles[k] for k in levels)]
    fig, (ax_share, ax_acc) = _figure(2, (4.5, 3.5))
    bottom = np.zeros(len(levels))
    xs = np.arange(len(levels))
    for st in present:
        share = np.array([styles[k].get(st, {}).get("share", 0.0) for k in levels])
        ax_share.bar(xs, 100 * share, 0.7, bottom=100 * bottom, label=st,
                     color=STYLE_COLORS[st])
        bottom += share
        pts = [(x, 100 * styles[k][st]["accuracy"], styles[k][st]["n"])
               for x, k in zip(xs, levels, strict=True) if st in styles[k]]
        if pts:
            px, py, pn = zip(*pts, strict=True)
            ax_acc.plot(px, py, "-", color=STYLE_COLORS[st], lw=1, alpha=0.6)
            ax_acc.scatter(px, py, s=[8 + 2 * np.sqrt(n) for n in pn], color=STYLE_COLORS[st],
                           label=st, zorder=3)
    ax_acc.axhline(10, color="k", lw=0.8, ls=":", label="chance (10%)")
    for ax, label in ((ax_share, "share of samples (%)"), (ax_acc, "accuracy (%)")):
        ax.set_xticks(xs, levels)
        ax.set_xlabel("difficulty (operations; ? = veiled)")
        ax.set_ylabel(label)
        ax.set_ylim(0, 102)
    ax_share.set_title("Trace style of sampled responses", fontsize=10)
    ax_acc.set_title("Accuracy per style", fontsize=10)
    ax_acc.legend(fontsize=8, frameon=False, loc="lower left")
    return fig


def style_tables(ev: dict) -> dict:
    """The style tables the sft_model and base_model notebooks show beside :func:`plot_styles`,
    from one model's ``metrics["eval"]`` (:func:`hmpo.models.sft.measure_synthetic`):
    ``styles`` (per difficulty and style: share, accuracy, mean tokens, n), ``lines`` (the
    teacher-forced per-line accuracy per difficulty) and ``early_answer`` (the teacher-forced
    accuracy of an early answer by the operations it absorbs), as pandas objects."""
    import pandas as pd

    styles = ev["styles"]
    table = pd.DataFrame({(k, st): cell for k, per in styles.items()
                          for st, cell in per.items()}).T
    table.index.names = ["difficulty", "style"]
    tf = ev["teacher_forced_lines"]
    return {"styles": table[["share", "accuracy", "mean_tokens", "n"]].round(3),
            "lines": pd.DataFrame(tf["lines"]).rename_axis("difficulty").round(3),
            "early_answer": pd.Series(tf["early_answer_by_absorbed"],
                                      name="early answer accuracy")
            .rename_axis("operations absorbed").round(3)}

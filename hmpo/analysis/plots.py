"""The results figures of hmpo (stage figures): the Pareto plot, the costs, the reward's shape.

Functions take an optional matplotlib ``ax`` and return it; none calls ``plt.show`` (safe
under the Agg backend used by notebooks in CI)."""

from __future__ import annotations

import numpy as np

from hmpo.analysis.stage_plots import _color, _figure
from hmpo.paths import BASE, SFT


def plot_reward_shape(ax=None, lams=(0.0, 0.5, 0.8, 1.0), beta: float = 1.0,
                      clip_high: float = 1.0, decay: str = "cosine"):
    """HMPO's reward of a correct rollout against n/b, one line per λ; returns the Axes.

    Computed by :func:`hmpo.training.rewards.hmpo_reward` itself: point k is a group of three
    correct rollouts with lengths ``(n_k, b, b)``, whose median budget is exactly ``b``.
    """
    if ax is None:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

        ax = Figure(figsize=(5, 3.5)).subplots()
    from hmpo.training.rewards import hmpo_reward

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
# of hmpo.analysis.report) and returns a matplotlib Figure; the notebook saves it under
# results/figures/. The plots other stages show too live in hmpo.analysis.stage_plots.

#: Marker shapes cycled over methods (base keeps its star): with the colour they give every
#: method a distinct (marker, colour) pair for the legend.
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">", "h", "p", "d", "8", "H")


def _marker(name: str, names: list[str]) -> str:
    if name in (BASE, SFT):
        return "*"  # told apart by colour: base black, sft grey
    others = [n for n in names if n not in (BASE, SFT)]
    return MARKERS[(others.index(name) if name in others else 0) % len(MARKERS)]


def _point(entry: dict) -> dict:
    """One method on one set, with what the plot needs: the across-seed mean (x tokens,
    y accuracy %), the 95% CIs, the across-seed SDs and the per-seed points (empty for a
    summary of the old schema, which had one run and no ``per_seed``)."""
    x, y = entry["mean_tokens"], 100 * entry["accuracy"]
    xci, yci = entry.get("mean_tokens_ci"), entry.get("accuracy_ci")
    seeds = [(s["mean_tokens"], 100 * s["accuracy"])
             for s in (entry.get("per_seed") or {}).values()]
    xsd, ysd = entry.get("mean_tokens_seed_sd"), entry.get("accuracy_seed_sd")
    return {"x": x, "y": y,
            "xci": [x - xci[0], xci[1] - x] if xci else None,
            "yci": [y - 100 * yci[0], 100 * yci[1] - y] if yci else None,
            "xsd": xsd, "ysd": None if ysd is None else 100 * ysd, "seeds": seeds}


def crowded(points: dict[str, tuple[float, float]], span: tuple[float, float],
            box: tuple[float, float] = (0.06, 0.1), min_size: int = 3) -> list[str]:
    """Names of the crowded region: the largest group of at least ``min_size`` points whose
    labels would collide, plus any smaller colliding group (2+ points) next to it.

    Two points are neighbours when they are closer than ``box`` (x, y distances as fractions
    of the axis spans ``span`` = (x span, y span)) on both axes, about the size of a label's
    first characters; the groups are the connected components of that relation (single
    linkage). A group of two or more within three ``box`` of the largest group's bounding box
    joins it, so that no near-overlapping pair is left labelled just beside the zoom.

    >>> crowded({"a": (16.0, 98.0), "b": (16.1, 98.1), "c": (16.2, 98.0), "d": (35, 97)},
    ...         span=(20.0, 3.0))
    ['a', 'b', 'c']
    """
    names = list(points)
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            n = parent[n]
        return n

    for i, a in enumerate(names):
        for b in names[i + 1:]:
            (xa, ya), (xb, yb) = points[a], points[b]
            if abs(xa - xb) < box[0] * span[0] and abs(ya - yb) < box[1] * span[1]:
                parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(root(n), []).append(n)
    ranked = sorted(groups.values(), key=len, reverse=True)
    if not ranked or len(ranked[0]) < min_size:
        return []
    main = ranked[0]
    x0, x1 = min(points[n][0] for n in main), max(points[n][0] for n in main)
    y0, y1 = min(points[n][1] for n in main), max(points[n][1] for n in main)
    dx, dy = 3 * box[0] * span[0], 3 * box[1] * span[1]
    near = {n for g in ranked[1:] if len(g) >= 2 for n in g
            if x0 - dx <= points[n][0] <= x1 + dx and y0 - dy <= points[n][1] <= y1 + dy}
    return [n for n in names if n in main or n in near]


def spread_1d(targets: list[float], gap: float, low: float = 0.0, high: float = 1.0) -> list[float]:
    """Positions as close as possible to ``targets`` but at least ``gap`` apart, in the same
    order, within [low, high] (the gap shrinks when they do not fit): the label column.

    >>> [round(v, 2) for v in spread_1d([0.5, 0.5, 0.5], 0.1)]
    [0.6, 0.5, 0.4]
    """
    n = len(targets)
    if n == 0:
        return []
    gap = min(gap, (high - low) / max(n - 1, 1))
    order = sorted(range(n), key=lambda i: -targets[i])  # top to bottom
    want = [min(max(targets[i], low), high) for i in order]
    # pull the block centred on its targets, then push apart downwards and clamp upwards
    pos = list(want)
    for _ in range(3):
        for k in range(1, n):
            pos[k] = min(pos[k], pos[k - 1] - gap)
        shift = max(0.0, low - pos[-1])
        pos = [p + shift for p in pos]
        for k in range(n - 2, -1, -1):
            pos[k] = max(pos[k], pos[k + 1] + gap)
        over = max(0.0, pos[0] - high)
        pos = [p - over for p in pos]
        # centre each run of stacked labels on the mean of its targets
        k = 0
        while k < n:
            j = k
            while j + 1 < n and abs(pos[j] - pos[j + 1] - gap) < 1e-9:
                j += 1
            centre = sum(want[k:j + 1]) / (j - k + 1)
            mid = (pos[k] + pos[j]) / 2
            d = centre - mid
            d = min(d, high - pos[k]) if d > 0 else max(d, low - pos[j])
            if k > 0:
                d = min(d, pos[k - 1] - gap - pos[k]) if d > 0 else d
            if j < n - 1:
                d = max(d, pos[j + 1] + gap - pos[j]) if d < 0 else d
            for t in range(k, j + 1):
                pos[t] += d
            k = j + 1
    out = [0.0] * n
    for k, i in enumerate(order):
        out[i] = min(max(pos[k], low), high)  # rounding only: the passes kept them inside
    return out


def _text_color(name: str, names: list[str]):
    """The method's colour darkened by a third: the light shades stay readable as text."""
    from matplotlib.colors import to_rgb

    return tuple(0.67 * c for c in to_rgb(_color(name, names)))


def _draw_points(ax, pts: dict[str, dict], names: list[str], bars: str) -> None:
    """Seeds as small faint markers, the mean as a large marker with error bars:
    ``bars`` = "ci" (95% CI) or "sd" (±1 SD across seeds, falling back to no bar)."""
    for name, p in pts.items():
        color, marker = _color(name, names), _marker(name, names)
        if p["seeds"]:
            sx, sy = zip(*p["seeds"], strict=True)
            ax.scatter(sx, sy, s=14, marker=marker, color=color, alpha=0.35, lw=0, zorder=2)
        xerr, yerr = (p["xci"], p["yci"]) if bars == "ci" else (p["xsd"], p["ysd"])
        ax.errorbar(p["x"], p["y"],
                    xerr=None if xerr is None else np.reshape(xerr, (-1, 1)),
                    yerr=None if yerr is None else np.reshape(yerr, (-1, 1)),
                    fmt="none", ecolor=color, elinewidth=0.8, capsize=2, alpha=0.6, zorder=3)
        ax.scatter([p["x"]], [p["y"]], s=150 if name == BASE else 55, marker=marker,
                   color=color, edgecolor="black", lw=0.6, zorder=4)


def _place_labels(ax, pts: dict[str, dict], names: list[str], span: tuple[float, float],
                  skip: set[str], avoid: tuple[float, float, float, float] | None = None,
                  within: tuple[float, float, float, float] | None = None) -> None:
    """Greedy label placement: each label takes the first of eight offsets around its point
    whose (estimated) box overlaps no placed label, no other point and the ``avoid`` box
    (x0, y0, x1, y1 in data units: the zoom rectangle), and stays inside ``within`` (the
    data extent, same units) so that no label lands on the tick labels."""
    boxes: list[tuple[float, float, float, float]] = []  # in axis-span units
    if avoid is not None:
        boxes.append((avoid[0] / span[0], avoid[1] / span[1], avoid[2] / span[0],
                      avoid[3] / span[1]))
    marks = [(p["x"] / span[0], p["y"] / span[1]) for p in pts.values()]
    fw, fh = 0.013, 0.045  # one character's width, a line's height (axis fractions, 8 pt)
    offsets = [(6, 4), (6, -12), (-6, 4), (-6, -12), (6, 12), (-6, 12), (6, -20), (-6, -20)]
    for name, p in pts.items():
        if name in skip:
            continue
        x0, y0 = p["x"] / span[0], p["y"] / span[1]
        w = fw * len(name)
        chosen = offsets[0]
        for dx, dy in offsets:
            bx = x0 + dx / 400 - (w if dx < 0 else 0)  # 400 pt ~ the axes width
            by = y0 + dy / 300
            box = (bx, by, bx + w, by + fh)
            hit = any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                      for b in boxes)
            hit = hit or any(box[0] < mx < box[2] and box[1] < my < box[3] and (mx, my) !=
                             (x0, y0) for mx, my in marks)
            if within is not None:
                hit = hit or box[0] < within[0] / span[0] or box[2] > within[2] / span[0] \
                    or box[1] < within[1] / span[1] or box[3] > within[3] / span[1]
            if not hit:
                chosen = (dx, dy)
                boxes.append(box)
                break
        else:
            boxes.append((x0, y0, x0 + w, y0 + fh))
        ax.annotate(name, (p["x"], p["y"]), textcoords="offset points", xytext=chosen,
                    ha="left" if chosen[0] > 0 else "right", fontsize=8,
                    color=_text_color(name, names), fontweight="bold")


def _label_column(ax, pts: dict[str, dict], names: list[str]) -> None:
    """Labels in a column right of the axes, each at (nearly) its point's height, joined to
    its point by a leader line in its colour: no two labels overlap, however close the points."""
    lo, hi = ax.get_ylim()
    items = list(pts)
    targets = [(pts[n]["y"] - lo) / (hi - lo) for n in items]
    rows = spread_1d(targets, gap=0.062, low=0.02, high=0.98)
    for name, row in zip(items, rows, strict=True):
        color = _color(name, names)
        ax.annotate(name, (pts[name]["x"], pts[name]["y"]), xycoords="data",
                    xytext=(1.04, row), textcoords="axes fraction", va="center", fontsize=8,
                    color=_text_color(name, names), fontweight="bold", annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "color": color, "lw": 0.7, "alpha": 0.7,
                                "shrinkA": 0, "shrinkB": 4})


def plot_pareto(summary: dict, set_name: str | None = None):
    """Accuracy (%) against mean response tokens, one marker per method (mean over seeds).

    ``summary`` is :func:`hmpo.analysis.report.build_summary`'s dict. Left panel: every method,
    95% CI bars, the dashed Pareto front (no other method is both shorter and at least as
    accurate) and dotted lines at the base model. When labels would collide (:func:`crowded`:
    methods within a label's size of each other), those methods get a right panel zooming on
    their region: bars there are ±1 SD across training seeds, small faint markers are the
    individual seeds, and each name sits in a column right of the panel, joined to its point
    by a leader line. The legend below keys every method by marker and colour.
    A summary without ``per_seed`` / ``*_seed_sd`` (one seed, the old schema) draws no seed
    markers and, in the zoom, the 95% CIs.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    from hmpo.analysis.report import pareto_front

    set_name = set_name or summary["main_set"]
    names = list(summary["methods"])
    pts = {n: _point(summary["methods"][n]["sets"][set_name]) for n in names}

    def extent(axis: str) -> tuple[float, float]:
        """The axis range the left panel shows: means, CI ends and seeds."""
        i = 0 if axis == "x" else 1
        vals = [v for p in pts.values() for v in (
            p[axis], *(s[i] for s in p["seeds"]),
            *([p[axis] - p[axis + "ci"][0], p[axis] + p[axis + "ci"][1]] if p[axis + "ci"]
              else []))]
        return min(vals), max(vals)

    (xlo, xhi), (ylo, yhi) = extent("x"), extent("y")
    span = (max(xhi - xlo, 1e-9), max(yhi - ylo, 1e-9))
    crowd = crowded({n: (p["x"], p["y"]) for n, p in pts.items()}, span)
    # a zoom only pays when the crowded points occupy a small part of the view
    if crowd:
        cx = [v for n in crowd for v in [pts[n]["x"], *(s[0] for s in pts[n]["seeds"])]]
        cy = [v for n in crowd for v in [pts[n]["y"], *(s[1] for s in pts[n]["seeds"])]]
        if (max(cx) - min(cx)) > 0.5 * span[0] and (max(cy) - min(cy)) > 0.5 * span[1]:
            crowd = []

    from matplotlib.figure import Figure

    ncols = 2 if crowd else 1
    fig = Figure(figsize=(12.0 if crowd else 6.5, 5.6), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False, width_ratios=[1, 0.9] if crowd else None)[0]
    ax = axes[0]
    _draw_points(ax, pts, names, bars="ci")
    front = pareto_front(summary, set_name)
    fpts = sorted((pts[n]["x"], pts[n]["y"]) for n in front)
    ax.plot(*zip(*fpts, strict=True), ls="--", color="0.5", lw=1, zorder=1)
    if BASE in pts:
        ax.axhline(pts[BASE]["y"], color="0.7", ls=":", lw=1, zorder=0)
        ax.axvline(pts[BASE]["x"], color="0.7", ls=":", lw=1, zorder=0)
    ax.set_xlabel("mean response tokens")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"Accuracy vs length on {set_name}\n(mean over seeds, bars: 95% CI)",
                 fontsize=10)
    ax.grid(alpha=0.25)

    zbox = None
    if crowd:
        zx0, zx1, zy0, zy1 = min(cx), max(cx), min(cy), max(cy)
        px, py = max(0.15 * (zx1 - zx0), 0.01 * span[0]), max(0.15 * (zy1 - zy0), 0.01 * span[1])
        zx0, zx1, zy0, zy1 = zx0 - px, zx1 + px, zy0 - py, zy1 + py
        zbox = (zx0, zy0, zx1, zy1)
        # a method whose mean falls inside the zoomed region is shown (and named) there too
        crowd = [n for n in names if n in crowd or (zx0 <= pts[n]["x"] <= zx1
                                                   and zy0 <= pts[n]["y"] <= zy1)]
        ax.add_patch(Rectangle((zx0, zy0), zx1 - zx0, zy1 - zy0, fill=False, ec="0.3",
                               lw=0.8, ls="-", zorder=5))
        ax.annotate(f"{len(crowd)} methods:\nzoom right", (zx1, zy0), xytext=(4, -4),
                    textcoords="offset points", va="top", fontsize=7, color="0.3",
                    gid="zoom-note")
        zoom = axes[1]
        zpts = {n: pts[n] for n in crowd}
        has_sd = any(p["xsd"] is not None or p["ysd"] is not None for p in zpts.values())
        _draw_points(zoom, zpts, names, bars="sd" if has_sd else "ci")
        zoom.plot(*zip(*fpts, strict=True), ls="--", color="0.5", lw=1, zorder=1)
        zoom.set_xlim(zx0, zx1)
        zoom.set_ylim(zy0, zy1)
        _label_column(zoom, zpts, names)
        zoom.set_xlabel("mean response tokens")
        zoom.set_ylabel("accuracy (%)")
        zoom.grid(alpha=0.25)
        zoom.set_title("zoom on the crowded region\n(" + (
            "bars: ±1 SD across seeds, small markers: seeds" if has_sd
            else "bars: 95% CI") + ")", fontsize=10)
        for spine in zoom.spines.values():
            spine.set_edgecolor("0.3")

    _place_labels(ax, pts, names, span, skip=set(crowd), avoid=zbox,
                  within=(xlo, ylo, xhi, yhi))
    handles = [Line2D([], [], ls="none", marker=_marker(n, names), color=_color(n, names),
                      markeredgecolor="black", markeredgewidth=0.6,
                      ms=12 if n == BASE else 7, label=n) for n in names]
    handles.append(Line2D([], [], ls="--", color="0.5", label="Pareto front"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(8, len(handles)),
               fontsize=8, frameon=False)
    return fig



def _seed_values(cost: dict) -> list[float]:
    """``train_seconds_per_seed`` as a list (a ``{seed: seconds}`` mapping or a list)."""
    v = cost.get("train_seconds_per_seed") or []
    return [float(x) for x in (v.values() if isinstance(v, dict) else v) if x is not None]


def plot_costs(costs: dict):
    """Training cost per method: wall seconds (bars) and CPU seconds (hatched), base omitted.

    ``costs`` is :func:`hmpo.analysis.report.collect_costs`'s dict
    (``{method: {"train_seconds", "train_cpu_seconds"}}``; with several seeds the values
    are their means and ``train_seconds_per_seed`` lists each seed's wall seconds, drawn as
    black dots on the wall bar).
    """
    names = [n for n, c in costs.items() if c.get("train_seconds") is not None]
    if not names:
        raise ValueError("costs holds no method with a train_seconds value")
    fig, (ax,) = _figure(1, (6.5, 0.35 * len(names) + 1.5))
    ys = range(len(names))
    wall = [costs[n]["train_seconds"] for n in names]
    cpu = [costs[n].get("train_cpu_seconds") or float("nan") for n in names]
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ax.barh([y - 0.2 for y in ys], wall, 0.4, color=[_color(n, list(costs)) for n in names])
    ax.barh([y + 0.2 for y in ys], cpu, 0.4, color="none", edgecolor="0.3", hatch="//")
    any_seeds = False
    for y, n in zip(ys, names, strict=True):
        seeds = _seed_values(costs[n])
        if len(seeds) > 1:
            any_seeds = True
            ax.scatter(seeds, [y - 0.2] * len(seeds), s=12, color="black", zorder=3)
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xlabel("training seconds (RL; multistage includes its sampling and SFT)")
    ax.set_title("Training cost per method" + (" (mean over seeds)" if any_seeds else ""))
    handles = [Patch(color="0.5"), Patch(facecolor="none", edgecolor="0.3", hatch="//")]
    labels = ["wall seconds (method colour)", "CPU seconds"]
    if any_seeds:
        handles.append(Line2D([], [], ls="none", marker="o", ms=3.5, color="black"))
        labels.append("wall seconds of each seed")
    ax.legend(handles, labels, fontsize=8, frameon=False,
              loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=len(labels))
    return fig

"""The veiled problems' table (stage `figures`): what each model does where a guess pays.

A veiled problem (:mod:`hmpo.task.synthetic`) hides a factor that makes the answer 0 with
probability q, so reasoning is right about (1 − q) + q/10 of the time and the guess ``A: 0``
about q + (1 − q)/10. At the default q = 0.4 the guess lies between the thresholds at which the
gated and the ungated length rewards prefer a shortcut (``docs/task_design.md``): theory
predicts that HMPO keeps reasoning there and the ungated reward guesses. This table shows the
observables that prediction is about, per model, over its runs on the main set:

- ``veiled_accuracy`` / ``plain_accuracy``: accuracy on the veiled and on the plain problems;
- ``veiled_tokens`` / ``plain_tokens``: mean response tokens on each;
- ``guess_share``: the share of the veiled problems' samples whose style is ``guess``
  (:func:`hmpo.task.synthetic.trace_style`: an answer with no operation written);
- ``hmpo_minus_veiled``: acc(hmpo) − acc(model) on the veiled problems only, paired by problem
  with the seed-t interval (:func:`hmpo.analysis.report.compare` on the veiled columns).

:func:`veiled_rows` is pure; :func:`veiled_table` reads the runs' samples and the set's
prompts; the report writes ``results/veiled.{md,csv}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hmpo.task.synthetic import is_veiled, trace_style

COLUMNS = ["model", "n_veiled", "n_plain", "veiled_accuracy", "plain_accuracy",
           "veiled_tokens", "plain_tokens", "guess_share", "hmpo_minus_veiled",
           "hmpo_minus_veiled_low", "hmpo_minus_veiled_high"]


def veiled_rows(samples: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]],
                prompts: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per model (``samples``: model -> its runs, each a list of sample rows with ``id``,
    ``completion``, ``n_tokens`` and ``correct``; ``prompts``: problem id -> prompt) the
    across-run means of the table's columns (module docstring) except the paired difference.
    A problem's accuracy and tokens are the means over its samples; a subset's, the mean over
    its problems; a model's, the mean over its runs. Empty list if no problem is veiled."""
    veiled = {i for i, p in prompts.items() if is_veiled(p)}
    if not veiled:
        return []
    rows = []
    for model, runs in samples.items():
        per_run: dict[str, list[float]] = {k: [] for k in COLUMNS[3:8]}
        n_v = n_p = 0
        for run in runs:
            by_problem: dict[str, list[Mapping[str, Any]]] = {}
            for s in run:
                if s["id"] not in prompts:
                    raise ValueError(f"{model}: sample of problem {s['id']!r}, which the set "
                                     "does not have")
                by_problem.setdefault(s["id"], []).append(s)
            v = [rows_ for i, rows_ in by_problem.items() if i in veiled]
            p = [rows_ for i, rows_ in by_problem.items() if i not in veiled]
            n_v, n_p = len(v), len(p)
            for key, group, field in (("veiled_accuracy", v, "correct"),
                                      ("plain_accuracy", p, "correct"),
                                      ("veiled_tokens", v, "n_tokens"),
                                      ("plain_tokens", p, "n_tokens")):
                per_run[key].append(_mean_of_means(group, field))
            guesses = [trace_style(prompts[s["id"]], s["completion"]) == "guess"
                       for g in v for s in g]
            per_run["guess_share"].append(float(np.mean(guesses)) if guesses else float("nan"))
        row: dict[str, Any] = {"model": model, "n_veiled": n_v, "n_plain": n_p}
        for key, values in per_run.items():
            row[key] = float(np.mean(values)) if values else float("nan")
        rows.append(row)
    return rows


def _mean_of_means(groups: Sequence[Sequence[Mapping[str, Any]]], field: str) -> float:
    if not groups:
        return float("nan")
    return float(np.mean([np.mean([float(s[field]) for s in g]) for g in groups]))


def veiled_table(models: Sequence[str], mats: Mapping[str, Any], prompts: Mapping[str, str],
                 load: Callable[[str], Sequence[Sequence[Mapping[str, Any]]]], *,
                 compare: Callable[..., Mapping[str, Any]], reference: str = "hmpo",
                 **compare_kw: Any) -> pd.DataFrame:
    """The table as a DataFrame (:data:`COLUMNS`; empty without veiled problems).

    ``mats``: the set's paired matrices (:func:`hmpo.analysis.report.problem_matrices`),
    restricted here to the veiled problems' columns for ``compare`` (the report's
    :func:`~hmpo.analysis.report.compare`, called with ``compare_kw``) of ``reference``
    against each other model; ``load(model)``: that model's runs' sample rows."""
    rows = veiled_rows({m: load(m) for m in models}, prompts)
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    ids = list(mats["ids"])
    cols = np.array([is_veiled(prompts[i]) for i in ids])
    sub: dict[str, Any] = {"ids": [i for i, c in zip(ids, cols, strict=True) if c]}
    for m in models:
        sub[m] = {"accuracy": mats[m]["accuracy"][:, cols],
                  "tokens": mats[m]["tokens"][:, cols], "groups": mats[m].get("groups")}
    for row in rows:
        m = row["model"]
        if reference in sub and m != reference:
            est = compare(sub, reference, m, **compare_kw)["accuracy"]
            row.update(hmpo_minus_veiled=est.estimate, hmpo_minus_veiled_low=est.ci[0],
                       hmpo_minus_veiled_high=est.ci[1])
    return pd.DataFrame(rows, columns=COLUMNS)


def veiled_markdown(df: pd.DataFrame, *, q: float) -> str:
    """``results/veiled.md``: the table with what it is for."""
    if df.empty:
        return "# Veiled problems\n\nThe main set has no veiled problems.\n"
    guess = q + (1 - q) * 0.1
    lines = [
        "# Veiled problems",
        "",
        f"Main-set problems whose prompt shows a hidden factor (answer 0 with q = {q:g}): "
        f"reasoning is right about {(1 - q) + q / 10:.0%} of the time at best, the guess "
        f"`A: 0` about {guess:.0%}. Theory predicts that HMPO keeps reasoning on them and the "
        "ungated additive reward, the mean budget and Kimi guess (`results/predictions.md`). "
        "Means over each model's runs; `hmpo - model` is the paired accuracy difference on the "
        "veiled problems only (95% seed-t interval).",
        "",
        "| model | veiled acc | plain acc | veiled tokens | plain tokens | guesses on veiled "
        "| hmpo - model on veiled |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in df.to_dict("records"):
        diff = ("" if pd.isna(r["hmpo_minus_veiled"]) else
                f"{100 * r['hmpo_minus_veiled']:+.1f} pt [{100 * r['hmpo_minus_veiled_low']:+.1f}"
                f", {100 * r['hmpo_minus_veiled_high']:+.1f}]")
        lines.append(f"| {r['model']} | {100 * r['veiled_accuracy']:.1f}% | "
                     f"{100 * r['plain_accuracy']:.1f}% | {r['veiled_tokens']:.1f} | "
                     f"{r['plain_tokens']:.1f} | {100 * r['guess_share']:.1f}% | {diff} |")
    n = df.iloc[0]
    lines += ["", f"{int(n['n_veiled'])} veiled and {int(n['n_plain'])} plain problems.", ""]
    return "\n".join(lines)


def set_prompts(path: str | Path) -> dict[str, str]:
    """Problem id -> prompt of an evaluation set's JSONL."""
    from hmpo.task.data import read_records
    return {str(r["id"]): str(r["prompt"]) for r in read_records(path)}

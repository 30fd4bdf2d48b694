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

:func:`veiled_rows` is pure; :func:`veiled_table` reads the runs' samples (for the guess
share) and the set's prompts; the report writes ``results/veiled.{md,csv}``.
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


def veiled_columns(mats: Mapping[str, Any], prompts: Mapping[str, str]) -> np.ndarray:
    """Which columns of the set's matrices (``mats["ids"]``) are veiled problems."""
    return np.array([is_veiled(prompts[i]) for i in mats["ids"]], dtype=bool)


def veiled_rows(mats: Mapping[str, Any], prompts: Mapping[str, str],
                samples: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]]
                ) -> list[dict[str, Any]]:
    """Per model of ``samples`` the across-run means of the table's columns (module
    docstring) except the paired difference. Accuracy and tokens come from ``mats`` (the
    set's per-problem means, :func:`hmpo.analysis.report.problem_matrices`: a subset's value
    is the mean over its problems, a model's the mean over its runs); the guess share from
    ``samples`` (model -> its runs, each a list of sample rows with ``id`` and
    ``completion``), the only column that needs the completions' text. ``prompts``: problem
    id -> prompt. Empty list if no problem is veiled."""
    cols = veiled_columns(mats, prompts)
    if not cols.any():
        return []
    rows = []
    for model, runs in samples.items():
        row: dict[str, Any] = {"model": model, "n_veiled": int(cols.sum()),
                               "n_plain": int((~cols).sum())}
        for key in ("accuracy", "tokens"):
            values = np.asarray(mats[model][key], dtype=float)
            row[f"veiled_{key}"] = float(values[:, cols].mean(axis=1).mean())
            row[f"plain_{key}"] = (float(values[:, ~cols].mean(axis=1).mean())
                                   if (~cols).any() else float("nan"))
        shares = []
        for run in runs:
            guesses = []
            for smp in run:
                if smp["id"] not in prompts:
                    raise ValueError(f"{model}: sample of problem {smp['id']!r}, which the set "
                                     "does not have")
                if is_veiled(prompts[smp["id"]]):
                    guesses.append(trace_style(prompts[smp["id"]], smp["completion"]) == "guess")
            shares.append(float(np.mean(guesses)) if guesses else float("nan"))
        row["guess_share"] = float(np.mean(shares)) if shares else float("nan")
        rows.append(row)
    return rows


def veiled_table(models: Sequence[str], mats: Mapping[str, Any], prompts: Mapping[str, str],
                 load: Callable[[str], Sequence[Sequence[Mapping[str, Any]]]], *,
                 compare: Callable[..., Mapping[str, Any]], reference: str = "hmpo",
                 **compare_kw: Any) -> pd.DataFrame:
    """The table as a DataFrame (:data:`COLUMNS`; empty without veiled problems).

    ``mats``: the set's paired matrices (:func:`hmpo.analysis.report.problem_matrices`),
    restricted here to the veiled problems' columns for ``compare`` (the report's
    :func:`~hmpo.analysis.report.compare`, called with ``compare_kw``) of ``reference``
    against each other model; ``load(model)``: that model's runs' sample rows, read only
    when the set has veiled problems."""
    ids = list(mats["ids"])
    cols = veiled_columns(mats, prompts)
    if not cols.any():
        return pd.DataFrame(columns=COLUMNS)
    rows = veiled_rows(mats, prompts, {m: load(m) for m in models})
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

"""The results report (stage `figures`, notebook 05_figures): summary, tables, comparisons, claims.

Reads what the upstream stages wrote (``<s>`` = a training seed of ``train.seeds``, ``<b>`` a
base seed, :func:`hmpo.config.base_seeds`)::

    results/evaluate/{sft,base}/seed<b>/{metrics,samples}/<set>.{json,jsonl}
    results/evaluate/<method>/seed<s>/{metrics,samples}/<set>.{json,jsonl}
                                                     (hmpo.evaluation.evaluate)
    results/train/<method>/seed<s>/metrics.json      (hmpo.training.grpo, .multistage: seconds)
    results/train/<method>/seed<s>/live/plots/metrics/**.tsv   (per-step dvclive logs)
    results/base_model/budgets.json                  (each base's fixed budgets, in tokens)
    docs/disclosures.yaml       the changes made after seeing results (:func:`load_disclosures`)

(folders named by :mod:`hmpo.paths`)

and writes::

    results/summary.json        per model and set: across-seed means (accuracy, mean_tokens,
                                compression, ...), CIs over problems *and* seeds, the seed sd
                                and per-seed values; per method the training seconds (mean and
                                per seed). Deterministic (sorted keys, rounded floats) except
                                the measured seconds (TIMING_FIELDS), which differ between reruns
    results/costs.json          training cost per method (means and per seed)
    results/results_table.{md,csv,tex}   across-seed means, combined CIs, seed sd
    results/comparisons.{md,csv}         every model vs hmpo: paired differences with CIs, MDDs
                                and the floor flag (paired equivalence, as in claims.md)
    results/claims.{md,json}    one row per paper claim: reproduced / contradicted /
                                inconclusive / untestable here, with the rule, the numbers,
                                the smallest detectable difference and the floor flag
    results/figures/pareto.csv  the Pareto plot's data series (for ``dvc plots``)
    results/veiled.{md,csv}     each model on the main set's veiled and plain problems
                                (:mod:`hmpo.analysis.veiled`)

Statistics are :mod:`hmpo.analysis.stats`: every comparison is paired by problem (the same
problems for every model), with the seed-t interval over the evaluation problems and the
seeds (:func:`hmpo.analysis.stats.seed_t_interval`). With ``base_model.per_seed`` each
training seed starts from its own base model, so a seed is a base draw and an RL draw: runs
are paired by base seed across models (:func:`run_groups`) and the intervals include the
base models' variability; with one shared base they are conditional on it. The
claim rules live in :mod:`hmpo.analysis.claims` (:func:`~hmpo.analysis.claims.evaluate_claims`,
fixed before the three-seed results existed); this module gathers their inputs, reads the
record of changes made after seeing results, and writes claims.{md,json}.

Run from the repository root after the evaluate stage::

    from hmpo.config import load_config
    from hmpo.analysis.report import write_report
    write_report(load_config("params.yaml"))

or ``dvc repro figures``. Nothing is hard-coded: every verdict is computed from the files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from hmpo import config, paths
from hmpo.analysis import stats, veiled
from hmpo.analysis.claims import (
    COST_COMPRESSIONS,
    DISCLOSURES_PATH,
    LENGTH_TOL,
    N_BOOT,
    NEGLIGIBLE_LOSS,
    REFERENCE,
    SMOOTH_STEPS,
    claims_markdown,
    evaluate_claims,
    floor_flag,
    length_margin,
    validate_disclosures,
)
from hmpo.analysis.stats import round_floats
from hmpo.analysis.theory import TOLERANCE, predictions_by_difficulty, predictions_vs_outcomes
from hmpo.config import Config, base_seeds
from hmpo.evaluation.evaluate import (
    compression,
    eval_paths,
    problem_table,
)
from hmpo.io import dumps_json, write_text_atomic
from hmpo.paths import BASE, BASE_MODELS
from hmpo.training.train_log import load_train_log

MAIN_SET = "synthetic_eval"
FIXED_REWARD = "hmpo_fixed"  # every method with this reward is a point of the fixed frontier
DIGITS = 4  # floats in summary.json are rounded to this many decimals
#: Per-set fields averaged over a model's seeds from its metrics.json files.
MEAN_FIELDS = ("accuracy", "mean_tokens", "median_tokens", "finished_rate")
PER_SEED_FIELDS = ("accuracy", "mean_tokens", "compression", "finished_rate")
#: The record of changes made after seeing results (a plain YAML file a reviewer reads; its
#: format is :func:`hmpo.analysis.claims.validate_disclosures`'s). Stage figures depends on it.
DISCLOSURES_FILE = Path(__file__).resolve().parents[2] / DISCLOSURES_PATH


# ----------------------------------------------------------------------------- helpers
def model_names(cfg: Config) -> list[str]:
    """The evaluated models in report order: the SFT model, the base model (the SFT model after
    its RL, every method's start), then the methods of params."""
    return [*BASE_MODELS, *cfg.methods]


def training_seeds(cfg: Config) -> list[int]:
    """``cfg.train.seeds``: the RL seeds (the config requires at least one)."""
    return [int(s) for s in cfg.train.seeds]


def fixed_budget_methods(cfg: Config) -> list[str]:
    """The methods whose reward is ``hmpo_fixed``: the points of the fixed-budget frontier."""
    return [m for m, mc in cfg.methods.items() if mc.reward == FIXED_REWARD]


def references(cfg: Config) -> dict[str, str]:
    """``{model: the HMPO run it is compared with}`` in comparisons.{md,csv}.

    A method trained for ``steps_factor`` x ``train.max_steps`` steps is compared with the
    method of reward ``hmpo`` (no params, no budget, single-stage) trained as long, when there
    is one (``hmpo_add_long`` -> ``hmpo_long``); everything else with ``hmpo``.
    """
    plain_hmpo = {mc.steps_factor: m for m, mc in cfg.methods.items()
                  if mc.reward == REFERENCE and not mc.params and mc.budget_percentile is None
                  and not mc.multistage}
    plain_hmpo[1] = REFERENCE
    return {m: plain_hmpo.get(cfg.methods[m].steps_factor if m in cfg.methods else 1, REFERENCE)
            for m in model_names(cfg)}


def main_set(sets: Sequence[str]) -> str:
    """The set the top-level numbers come from: ``synthetic_eval`` if evaluated, else the first."""
    if not sets:
        raise ValueError("sets is empty")
    return MAIN_SET if MAIN_SET in sets else sets[0]


#: The run folders the report reads, per stage (:mod:`hmpo.paths`).
_RUN_DIRS = {"evaluate": paths.eval_results_dir, "train": paths.train_results_dir}


def _results(results_dir: str | Path | None) -> Path:
    """The results folder: ``results_dir``, or :func:`hmpo.paths.results_dir` when None."""
    return paths.results_dir() if results_dir is None else Path(results_dir)


def _under(results_dir: str | Path | None, path: Path) -> Path:
    """``path`` (a folder of :mod:`hmpo.paths` under ``results/``) moved under ``results_dir``,
    so that tests and other callers can point the report at another results folder."""
    return _results(results_dir) / path.relative_to(paths.results_dir())


def run_dir(results_dir: str | Path | None, stage: str, model: str, seed: int) -> Path:
    """One run's folder of stage ``evaluate`` or ``train`` under ``results_dir``:
    ``<results_dir>/<stage>/<model>/seed<s>`` (:func:`hmpo.paths.eval_results_dir`,
    :func:`hmpo.paths.train_results_dir`; ``s`` a base seed for the SFT and base models)."""
    if stage not in _RUN_DIRS:
        raise ValueError(f"stage {stage!r}: the report reads runs of {sorted(_RUN_DIRS)}")
    return _under(results_dir, _RUN_DIRS[stage](model, seed))


def model_runs(model: str, seeds: Sequence[int],
               base_seeds: Sequence[int] | None = None) -> list[int]:
    """The runs of a model: its base seeds (`base_seeds`, default the first training seed:
    :func:`hmpo.config.base_seeds`) for the SFT and base models, else its training seeds."""
    if model in BASE_MODELS:
        return list(seeds[:1] if base_seeds is None else base_seeds)
    return list(seeds)


def run_groups(model: str, seeds: Sequence[int],
               base_seeds: Sequence[int] | None = None) -> list[int]:
    """The base seed of each run of :func:`model_runs` (:func:`hmpo.config.base_of`): the
    labels that pair runs across models and put the base models' variability into the
    intervals (:func:`hmpo.analysis.stats.seed_t_interval`'s ``groups``).

    >>> run_groups("hmpo", [0, 1, 2], [0, 1, 2]), run_groups("hmpo", [0, 1, 2], [0])
    ([0, 1, 2], [0, 0, 0])
    """
    bases = list(seeds[:1] if base_seeds is None else base_seeds)
    return [config.base_of(s, bases) for s in model_runs(model, seeds, bases)]


def _stage(model: str) -> str:
    return paths.eval_stage(model)


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def _sd(values: Sequence[float | None]) -> float | None:
    """Sample standard deviation (ddof 1); None with fewer than two values."""
    vals = [float(v) for v in values if v is not None]
    return float(np.std(vals, ddof=1)) if len(vals) >= 2 else None


# ----------------------------------------------------------------------------- collect
def collect_evaluations(
    models: Sequence[str], sets: Sequence[str], results_dir: str | Path | None = None,
    seeds: Sequence[int] = (0,), base_seeds: Sequence[int] | None = None,
) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """``{model: {run: {set: metrics}}}`` from every run's ``metrics/<set>.json``.

    ``run`` is the seed as a string: a training seed for a method, a base seed (`base_seeds`,
    :func:`model_runs`) for ``sft`` and ``base``. A missing file fails at once, naming the
    stage that makes it.
    """
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    missing = []
    for m in models:
        for seed in model_runs(m, seeds, base_seeds):
            run = str(seed)
            for s in sets:
                path = eval_paths(run_dir(results_dir, "evaluate", m, seed), s)[0]
                if not path.is_file():
                    missing.append(f"{path} (run `dvc repro {_stage(m)}`)")
                    continue
                try:
                    out.setdefault(m, {}).setdefault(run, {})[s] = json.loads(path.read_text())
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path} is corrupt ({e}); rerun `dvc repro {_stage(m)}`") \
                        from e
    if missing:
        raise FileNotFoundError("evaluation metrics missing: " + "; ".join(missing))
    return out


def load_samples(path: str | Path) -> list[dict[str, Any]]:
    """The per-sample rows of one evaluation (``samples/<set>.jsonl``, hmpo.evaluation.evaluate)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def problem_matrices(
    models: Sequence[str], sets: Sequence[str], results_dir: str | Path | None = None,
    seeds: Sequence[int] = (0,), base_seeds: Sequence[int] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per set, the paired data of every model: ``{set: {"ids": [...], model: {"accuracy":
    (n_runs, n_problems), "tokens": (n_runs, n_problems), "groups": [base seed per run]}}}``
    (runs and groups: :func:`model_runs`, :func:`run_groups`).

    Built from each run's ``samples/<set>.jsonl``: per problem the mean over its samples of
    correctness and of ``n_tokens`` (:func:`hmpo.evaluation.evaluate.problem_table`), columns in
    sorted problem-id order. Every run of every model must cover the same problems (the pairing).
    """
    out: dict[str, dict[str, Any]] = {}
    for s in sets:
        per_set: dict[str, Any] = {}
        ids: list[str] | None = None
        for m in models:
            acc_rows, tok_rows = [], []
            for seed in model_runs(m, seeds, base_seeds):
                path = eval_paths(run_dir(results_dir, "evaluate", m, seed), s)[1]
                if not path.is_file():
                    raise FileNotFoundError(f"{path} does not exist (run `dvc repro "
                                            f"{_stage(m)}`; the report needs the samples)")
                rows = {r["id"]: r for r in problem_table(load_samples(path))}
                run_ids = sorted(rows)
                if ids is None:
                    ids = run_ids
                elif run_ids != ids:
                    raise ValueError(f"{path}: its problems differ from the other models' on "
                                     f"{s!r}; paired comparisons need the same problems "
                                     "(rerun the evaluate stages)")
                acc_rows.append([rows[i]["accuracy"] for i in ids])
                tok_rows.append([rows[i]["mean_tokens"] for i in ids])
            per_set[m] = {"accuracy": np.array(acc_rows), "tokens": np.array(tok_rows),
                          "groups": run_groups(m, seeds, base_seeds)}
        per_set["ids"] = ids
        out[s] = per_set
    return out


def train_cost(train_metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Training cost of one run from its ``results/train/<m>/seed<s>/metrics.json``.

    ``wall_s`` (wall seconds; a multi-stage run's total includes its sampling and SFT),
    ``cpu_s`` (CPU seconds of all processes), ``device_s`` (wall x processes: GPU-seconds on
    GPUs, the unit of the paper's cost claim; the wall time on one CPU process) and
    ``pre_rl_seconds``: the wall seconds before the RL stage started (multistage: sampling +
    SFT from ``stages``; 0 for a single-stage method).
    """
    if train_metrics.get("wall_s") is None:
        raise ValueError(f"train metrics have no wall_s (keys: {sorted(train_metrics)}); "
                         "rerun the train stage")

    def num(key: str) -> float | None:
        v = train_metrics.get(key)
        return None if v is None else float(v)

    stages_ = train_metrics.get("stages") or {}
    pre = sum(float(stages_[k]["wall_s"]) for k in ("sample", "sft") if k in stages_)
    return {"train_seconds": num("wall_s"), "train_cpu_seconds": num("cpu_s"),
            "device_seconds": num("device_s") if "device_s" in train_metrics else num("wall_s"),
            "pre_rl_seconds": pre}


def collect_costs(methods: Sequence[str], results_dir: str | Path | None = None,
                  seeds: Sequence[int] = (0,)) -> dict[str, Any]:
    """Per method the across-seed mean costs and the per-seed values; the base model: None.

    ``{m: {"train_seconds", "train_cpu_seconds", "device_seconds" (means),
    "train_seconds_per_seed", "train_cpu_seconds_per_seed", "device_seconds_per_seed",
    "pre_rl_seconds_per_seed": {"<seed>": seconds}}}``.
    """
    costs: dict[str, Any] = {m: {"train_seconds": None, "train_cpu_seconds": None,
                                 "device_seconds": None} for m in BASE_MODELS}
    for m in methods:
        per_seed = {}
        for seed in seeds:
            path = run_dir(results_dir, "train", m, seed) / "metrics.json"
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist; run `dvc repro train@{m}`")
            per_seed[str(seed)] = train_cost(json.loads(path.read_text()))
        entry: dict[str, Any] = {}
        for key in ("train_seconds", "train_cpu_seconds", "device_seconds", "pre_rl_seconds"):
            vals = {s: c[key] for s, c in per_seed.items()}
            if key != "pre_rl_seconds":
                entry[key] = _mean(list(vals.values()))
            entry[f"{key}_per_seed"] = vals
        costs[m] = entry
    return costs


def load_train_logs(methods: Sequence[str], seeds: Sequence[int],
                    results_dir: str | Path | None = None) -> dict[str, dict[int, pd.DataFrame]]:
    """``{method: {seed: load_train_log(results/train/<method>/seed<s>)}}`` (seed spread)."""
    return {m: {s: load_train_log(run_dir(results_dir, "train", m, s)) for s in seeds}
            for m in methods}


# ----------------------------------------------------------------------------- summary
#: Measured seconds in summary.json: they differ between reruns of the same seed.
TIMING_FIELDS = ("train_seconds", "train_cpu_seconds", "train_seconds_per_seed",
                 "train_cpu_seconds_per_seed")


def _set_row(runs: Mapping[str, Mapping[str, Any]], s: str, base_tokens: float | None,
             mats: Mapping[str, np.ndarray] | None, *, n_boot: int, seed: int) -> dict[str, Any]:
    """One model's summary row on set ``s`` from its runs' metrics (and its problem matrices)."""
    per_run = {r: m[s] for r, m in runs.items()}
    row: dict[str, Any] = {k: _mean([m.get(k) for m in per_run.values()]) for k in MEAN_FIELDS}
    row["n_problems"] = next(iter(per_run.values())).get("n_problems")
    row["n_seeds"] = len(per_run)
    row["accuracy_seed_sd"] = _sd([m["accuracy"] for m in per_run.values()])
    row["mean_tokens_seed_sd"] = _sd([m["mean_tokens"] for m in per_run.values()])
    comp = (lambda t: compression(t, base_tokens)) if base_tokens else (lambda t: None)
    row["compression"] = comp(row["mean_tokens"])
    row["per_seed"] = {r: {"accuracy": m["accuracy"], "mean_tokens": m["mean_tokens"],
                           "compression": comp(m["mean_tokens"]),
                           "finished_rate": m.get("finished_rate")}
                       for r, m in per_run.items()}
    if mats is not None:  # CIs over problems and seeds (seed-t interval)
        for key, name in (("accuracy", "accuracy_ci"), ("tokens", "mean_tokens_ci")):
            row[name] = stats.model_mean(mats[key], n_boot=n_boot, seed=seed,
                                         groups=mats.get("groups")).ci
    elif len(per_run) == 1:  # one run and no samples: its own interval over problems
        only = next(iter(per_run.values()))
        row["accuracy_ci"], row["mean_tokens_ci"] = only.get("accuracy_ci"), only.get(
            "mean_tokens_ci")
    else:
        row["accuracy_ci"] = row["mean_tokens_ci"] = None
    return row


def build_summary(
    evaluations: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]],
    *,
    profile: str,
    seed: int,
    sets: Sequence[str],
    matrices: Mapping[str, Mapping[str, Any]] | None = None,
    train_seeds: Sequence[int] | None = None,
    base_seeds: Sequence[int] | None = None,
    train_steps: int | None = None,
    n_boot: int = N_BOOT,
) -> dict[str, Any]:
    """The deterministic summary from ``{model: {run: {set: metrics}}}``.

    Per model and set: ``accuracy``, ``mean_tokens``, ``median_tokens``, ``finished_rate``
    (means over the model's runs), ``compression`` = ``1 - mean_tokens / base mean_tokens``
    (across-seed means; None without a base model), ``accuracy_ci`` / ``mean_tokens_ci`` (95%
    seed-t interval over problems and seeds from ``matrices``, :func:`problem_matrices`),
    ``n_seeds``, ``accuracy_seed_sd`` / ``mean_tokens_seed_sd`` (sample sd across seeds, None
    with one) and ``per_seed`` (``{run: {accuracy, mean_tokens, compression,
    finished_rate}}``). The main set's values are repeated at the model's top level (the schema
    readers used with one seed). ``train_steps``: the RL steps of a training run
    (``train.max_steps``; -1 for epoch-long runs), recorded as is; ``base_seeds``: the base
    models' seeds (:func:`hmpo.config.base_seeds`), recorded as is.
    """
    main = main_set(sets)
    base_runs = evaluations.get(BASE, {})
    methods: dict[str, Any] = {}
    for model, runs in evaluations.items():
        if not runs:
            raise ValueError(f"model {model!r} has no runs")
        entry: dict[str, Any] = {"sets": {}}
        for s in sets:
            for r, per_set in runs.items():
                if s not in per_set:
                    raise ValueError(f"model {model!r} (run {r}) has no evaluation on set {s!r}")
            base_tok = _mean([m[s]["mean_tokens"] for m in base_runs.values() if s in m])
            mats = (matrices or {}).get(s, {}).get(model)
            entry["sets"][s] = _set_row(runs, s, base_tok, mats, n_boot=n_boot, seed=seed)
        entry.update(entry["sets"][main])
        methods[model] = entry
    return round_floats({"profile": profile, "seed": seed, "main_set": main,
                         "train_seeds": list(train_seeds) if train_seeds is not None else None,
                         "base_seeds": list(base_seeds) if base_seeds is not None else None,
                         "train_steps": train_steps, "n_bootstrap": n_boot,
                         "eval_sets": list(sets), "methods": methods},
                        DIGITS)


def mean_by_difficulty(runs: Mapping[str, Mapping[str, Any]], s: str) -> dict[str, Any]:
    """A model's ``by_difficulty`` on set ``s`` averaged over its runs (per level: mean
    accuracy and mean tokens; n_problems of the first run)."""
    out: dict[str, Any] = {}
    tables = [m[s].get("by_difficulty") or {} for m in runs.values()]
    for level in tables[0] if tables else {}:
        vals = [t[level] for t in tables if level in t]
        out[level] = {"n_problems": vals[0].get("n_problems"),
                      "accuracy": _mean([v["accuracy"] for v in vals]),
                      "mean_tokens": _mean([v["mean_tokens"] for v in vals])}
    return out


def pareto_front(summary: Mapping[str, Any], set_name: str) -> list[str]:
    """Models no other model dominates on ``set_name`` (shorter-or-equal *and* at least as
    accurate, strictly better in one), ordered by mean tokens."""
    pts = {n: (e["sets"][set_name]["mean_tokens"], e["sets"][set_name]["accuracy"])
           for n, e in summary["methods"].items()}

    def dominated(t: float, a: float) -> bool:
        return any(t2 <= t and a2 >= a and (t2, a2) != (t, a) for t2, a2 in pts.values())

    return sorted((n for n, (t, a) in pts.items() if not dominated(t, a)), key=lambda n: pts[n])


# ----------------------------------------------------------------------------- comparisons
def compare(mats: Mapping[str, Any], a: str, b: str, *, n_boot: int = N_BOOT,
            seed: int = 0) -> dict[str, Any]:
    """Paired differences ``a - b`` on one set (``mats`` = :func:`problem_matrices`'s set).

    Returns ``{"accuracy": Estimate, "tokens": Estimate, "same_value": bool}``; ``same_value``
    is the floor flag of :mod:`hmpo.analysis.claims` (:func:`~hmpo.analysis.claims.floor_flag`):
    the paired differences equivalent (TOST on their 95% intervals) within the negligible
    accuracy loss and :data:`~hmpo.analysis.claims.LENGTH_TOL` of the base model's length.
    """
    out: dict[str, Any] = {
        key: stats.paired_difference(mats[a][key], mats[b][key], n_boot=n_boot, seed=seed,
                                     groups_a=mats[a].get("groups"),
                                     groups_b=mats[b].get("groups"))
        for key in ("accuracy", "tokens")}
    margin = length_margin(None, mats, "") or LENGTH_TOL * float(np.mean(mats[b]["tokens"]))
    out["same_value"] = floor_flag(out["accuracy"], out["tokens"], NEGLIGIBLE_LOSS, margin)
    return out


def comparisons_table(matrices: Mapping[str, Mapping[str, Any]], models: Sequence[str], *,
                      refs: Mapping[str, str] | None = None, n_boot: int = N_BOOT,
                      seed: int = 0) -> pd.DataFrame:
    """Every model vs its reference (``refs[model]``; hmpo for a model `refs` does not name,
    and for all when `refs` is None) on every set: paired accuracy (points) and token
    differences ``model - reference`` with 95% CIs, SEs, MDDs, the intervals' effective df
    (empty: normal), the floor flag and ``seeds_needed`` (5 where the seed spread dominates the
    accuracy or token interval with fewer than 5 seeds, :func:`hmpo.analysis.stats.seeds_needed`;
    else empty). A model is not compared with itself."""
    rows = []
    for s, mats in matrices.items():
        for m in models:
            ref = (refs or {}).get(m, REFERENCE)
            if m == ref or m not in mats or ref not in mats:
                continue
            c = compare(mats, m, ref, n_boot=n_boot, seed=seed)
            a, t = c["accuracy"], c["tokens"]
            rows.append({
                "set": s, "method": m, "reference": ref,
                "delta_acc_pt": 100 * a.estimate, "delta_acc_ci_low": 100 * a.ci[0],
                "delta_acc_ci_high": 100 * a.ci[1], "delta_acc_se_pt": 100 * a.se,
                "delta_acc_mdd_pt": 100 * a.mdd,
                "delta_tokens": t.estimate, "delta_tokens_ci_low": t.ci[0],
                "delta_tokens_ci_high": t.ci[1], "delta_tokens_se": t.se,
                "delta_tokens_mdd": t.mdd, "delta_acc_df": a.df, "delta_tokens_df": t.df,
                "same_value": c["same_value"],
                "seeds_needed": max((e.seeds_needed for e in (a, t) if e.seeds_needed),
                                    default=None),
            })
    cols = ["set", "method", "reference", "delta_acc_pt", "delta_acc_ci_low",
            "delta_acc_ci_high", "delta_acc_se_pt", "delta_acc_mdd_pt", "delta_tokens",
            "delta_tokens_ci_low", "delta_tokens_ci_high", "delta_tokens_se", "delta_tokens_mdd",
            "delta_acc_df", "delta_tokens_df", "same_value", "seeds_needed"]
    df = pd.DataFrame(rows, columns=cols)
    num = [c for c in cols if c not in ("set", "method", "reference", "same_value",
                                        "seeds_needed")]
    df[num] = df[num].astype(float).round(DIGITS) + 0.0
    df["seeds_needed"] = df["seeds_needed"].astype("Int64")
    return df


def comparisons_markdown(df: pd.DataFrame) -> str:
    """Markdown: per set, one table of the paired differences per reference model."""
    if df.empty:
        return "No comparison: the reference model was not evaluated.\n"
    refs = list(dict.fromkeys(df["reference"]))
    title = (f"Every model vs {refs[0]}" if len(refs) == 1 else
             "Every model vs the HMPO run of its length (" + ", ".join(refs) + ")")
    parts = [f"# {title}: paired differences (model - reference)\n\n"
             "Paired by problem, 95% seed-t intervals over the evaluation problems and the "
             "training seeds (hmpo.analysis.stats.seed_t_interval: t quantiles on the "
             "interval's effective df, 4.30 x SE where 3 seeds dominate); MDD = the smallest "
             "true difference the design detects with 80% power at 5% ((t_0.975 + t_0.80) x "
             "SE on the same df: 2.80 x SE at many df, 5.36 x SE at 2); *floor* = the two "
             "models shown equivalent, as in claims.md: both paired 95% intervals within the "
             "margins, 0.7 pt of accuracy and 1% of the base model's length (TOST); *seeds* = "
             "the seed spread dominates the interval and needs at least that many seeds.\n"]
    for (s, ref), rows in df.groupby(["set", "reference"], sort=False):
        r = rows.reset_index(drop=True)
        t = pd.DataFrame({
            "Method": r["method"],
            "ΔAcc (pt) [95% CI]": [_fmt_ci(*v, "+.1f") for v in zip(
                r["delta_acc_pt"], r["delta_acc_ci_low"], r["delta_acc_ci_high"], strict=True)],
            "MDD acc (pt)": [_fmt(v, ".1f") for v in r["delta_acc_mdd_pt"]],
            "ΔTokens [95% CI]": [_fmt_ci(*v, "+.1f") for v in zip(
                r["delta_tokens"], r["delta_tokens_ci_low"], r["delta_tokens_ci_high"],
                strict=True)],
            "MDD tokens": [_fmt(v, ".1f") for v in r["delta_tokens_mdd"]],
            "Floor": ["yes" if v else "" for v in r["same_value"]],
            "Seeds": [f"needs >= {int(v)}" if pd.notna(v) else ""
                      for v in r.get("seeds_needed", [None] * len(r))],
        })
        head = f"## {s}" if len(refs) == 1 else f"## {s}: vs {ref}"
        parts.append(f"{head}\n\n{t.to_markdown(index=False, disable_numparse=True)}\n")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- tables
def results_table(summary: Mapping[str, Any], costs: Mapping[str, Any]) -> pd.DataFrame:
    """The paper-style table in long form: one row per set x model (base first).

    Columns: set, method, n_seeds, accuracy (across-seed mean), accuracy_ci_low/high (over
    problems and seeds), accuracy_seed_sd, delta_acc_pt (points vs base on the same set),
    mean_tokens, mean_tokens_ci_low/high, mean_tokens_seed_sd, compression, train_seconds,
    train_cpu_seconds (means over seeds).
    """
    rows = []
    for s in summary["eval_sets"]:
        base = summary["methods"].get(BASE, {}).get("sets", {}).get(s)
        for model, entry in summary["methods"].items():
            m = entry["sets"][s]
            acc_ci = m.get("accuracy_ci") or [None, None]
            tok_ci = m.get("mean_tokens_ci") or [None, None]
            cost = costs.get(model, {})
            rows.append({
                "set": s,
                "method": model,
                "n_seeds": m.get("n_seeds", 1),
                "accuracy": m["accuracy"],
                "accuracy_ci_low": acc_ci[0],
                "accuracy_ci_high": acc_ci[1],
                "accuracy_seed_sd": m.get("accuracy_seed_sd"),
                "delta_acc_pt": (100 * (m["accuracy"] - base["accuracy"])) if base else None,
                "mean_tokens": m["mean_tokens"],
                "mean_tokens_ci_low": tok_ci[0],
                "mean_tokens_ci_high": tok_ci[1],
                "mean_tokens_seed_sd": m.get("mean_tokens_seed_sd"),
                "compression": m["compression"],
                "train_seconds": cost.get("train_seconds"),
                "train_cpu_seconds": cost.get("train_cpu_seconds"),
            })
    return pd.DataFrame(rows)


def _fmt(x: Any, spec: str, scale: float = 1.0) -> str:
    """``x * scale`` formatted with ``spec``; an en dash for a missing value (None / NaN)."""
    return "–" if x is None or pd.isna(x) else f"{x * scale:{spec}}"


def _fmt_ci(value: Any, low: Any, high: Any, spec: str, scale: float = 1.0) -> str:
    """``value [low, high]`` (the interval left out when there is none)."""
    text = _fmt(value, spec, scale)
    if low is None or pd.isna(low):
        return text
    return f"{text} [{_fmt(low, spec, scale)}, {_fmt(high, spec, scale)}]"


def format_table(df: pd.DataFrame) -> pd.DataFrame:
    """Human-readable columns of one set's rows (percentages, CIs in brackets, seed sd)."""
    r = df.reset_index(drop=True)
    return pd.DataFrame({
        "Method": r["method"],
        "Seeds": [str(int(n)) for n in r["n_seeds"]],
        "Acc. (%) [95% CI]": [_fmt_ci(*v, ".1f", 100) for v in zip(
            r["accuracy"], r["accuracy_ci_low"], r["accuracy_ci_high"], strict=True)],
        "Acc. seed sd (pt)": [_fmt(v, ".1f", 100) for v in r["accuracy_seed_sd"]],
        "ΔAcc (pt)": [_fmt(d, "+.1f") for d in r["delta_acc_pt"]],
        "Tokens [95% CI]": [_fmt_ci(*v, ".1f") for v in zip(
            r["mean_tokens"], r["mean_tokens_ci_low"], r["mean_tokens_ci_high"], strict=True)],
        "Tokens seed sd": [_fmt(v, ".1f") for v in r["mean_tokens_seed_sd"]],
        "Compression (%)": [_fmt(c, "+.1f", 100) for c in r["compression"]],
        "Train wall (s)": [_fmt(t, ".0f") for t in r["train_seconds"]],
        "Train CPU (s)": [_fmt(t, ".0f") for t in r["train_cpu_seconds"]],
    })


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"),
                 ("#", r"\#"), ("Δ", r"$\Delta$"), ("–", "--")):
        text = text.replace(a, b)
    return text


TABLE_NOTE = ("Across-seed means; 95% CIs over evaluation problems and seeds (seed-t "
              "interval, hmpo.analysis.stats; with one base model per training seed, the base "
              "draws too); seed sd = sample sd of the per-seed values (– with one run).")


PREDICTION_COLUMNS = ["method", "predicted_tokens", "observed_tokens", "predicted_accuracy",
                      "observed_accuracy", "verdict"]


def predictions_markdown(df: pd.DataFrame, by_k: Sequence[Mapping[str, Any]] = ()) -> str:
    """``predictions.md``: theory's predicted endpoint of every method beside the outcome, and
    (`by_k`, :func:`hmpo.analysis.theory.predictions_by_difficulty`) per difficulty."""
    tol = TOLERANCE
    lines = ["# Predictions beside outcomes", "",
             "Each method's endpoint as `hmpo.analysis.theory` predicted it from the base "
             "models' measured style tables (`results/predictions/predictions.json`, written by "
             "stage predictions before any method was trained; with one base model per "
             "training seed, the mean of the base seeds' predictions), beside the observed "
             "mean over seeds on the main set. Pre-registered rule: a prediction holds when "
             "the outcome "
             f"is within ±{tol['tokens']:g} tokens and ±{100 * tol['accuracy']:g} pt of it. "
             "A failed prediction is a finding about the model of the task, not tuned away.", "",
             "| method | predicted tokens | observed tokens | predicted accuracy | "
             "observed accuracy | verdict |", "| --- | --- | --- | --- | --- | --- |"]

    def num(v, pct=False):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "–"
        return f"{100 * v:.1f}%" if pct else f"{v:.1f}"

    for r in df.to_dict("records"):
        lines.append(f"| {r['method']} | {num(r['predicted_tokens'])} | "
                     f"{num(r['observed_tokens'])} | {num(r['predicted_accuracy'], True)} | "
                     f"{num(r['observed_accuracy'], True)} | {r['verdict']} |")
    if by_k:
        ks = sorted({r["k"] for r in by_k}, key=int)
        lines += ["", "## Per difficulty", "",
                  "Each cell: the predicted style (base seeds that differ joined with `/`); "
                  "predicted -> observed tokens; predicted -> observed accuracy (observed: mean "
                  "over seeds, the main set's problems of that difficulty).", "",
                  "| method | " + " | ".join(f"k = {k}" for k in ks) + " |",
                  "| --- |" + " --- |" * len(ks)]
        cells: dict[str, dict[str, str]] = {}
        for r in by_k:
            cells.setdefault(r["method"], {})[r["k"]] = (
                f"{r['style']}: {num(r['predicted_tokens'])} -> {num(r['observed_tokens'])}; "
                f"{num(r['predicted_accuracy'], True)} -> {num(r['observed_accuracy'], True)}")
        for m, row in cells.items():
            lines.append(f"| {m} | " + " | ".join(row.get(k, "–") for k in ks) + " |")
    return "\n".join(lines) + "\n"


def table_markdown(df: pd.DataFrame) -> str:
    """Markdown: one section and table per evaluation set."""
    parts = [TABLE_NOTE + "\n"]
    for s, rows in df.groupby("set", sort=False):
        table = format_table(rows).to_markdown(index=False, disable_numparse=True)
        parts.append(f"### {s}\n\n{table}\n")
    return "\n".join(parts)


def table_latex(df: pd.DataFrame) -> str:
    """LaTeX (booktabs): one tabular per evaluation set."""
    parts = [f"% {TABLE_NOTE}"]
    for s, rows in df.groupby("set", sort=False):
        t = format_table(rows)
        cols = [_latex_escape(c) for c in t.columns]
        body = [" & ".join(_latex_escape(str(v)) for v in r) + r" \\" for r in t.itertuples(
            index=False)]
        parts.append("\n".join([
            f"% {s}",
            r"\begin{tabular}{l" + "r" * (len(cols) - 1) + "}",
            r"\toprule",
            " & ".join(cols) + r" \\",
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            "",
        ]))
    return "\n".join(parts)


# ----------------------------------------------------------------------------- training time
def reference_length(logs: Mapping[str, Mapping[int, pd.DataFrame]],
                     methods: Sequence[str]) -> float | None:
    """The base model's mean rollout length on the training prompts: the mean over every run
    of ``methods`` (single-stage methods, which all start from the base model) of the
    completion length logged at its first step. None when no run logged one."""
    firsts = []
    for m in methods:
        for df in logs.get(m, {}).values():
            col = df.get("completion_length")
            if col is not None and col.notna().any():
                firsts.append(float(col[col.notna()].iloc[0]))
    return float(np.mean(firsts)) if firsts else None


def time_to_length(log: pd.DataFrame, target_tokens: float, *, pre_rl_seconds: float = 0.0,
                   window: int = SMOOTH_STEPS, rl_seconds: float | None = None) -> float | None:
    """Wall seconds until the smoothed training completion length first reaches
    ``<= target_tokens``; None if it never does.

    Smoothing: trailing mean over ``window`` logged rows (the first rows average what exists).
    Seconds = ``pre_rl_seconds`` (multistage: its sampling + SFT) + the summed step times of
    the rollout steps up to and including the crossing step (``step_seconds`` x the steps each
    logged row stands for); without a ``step_seconds`` column, ``rl_seconds`` spread evenly
    over the logged steps. Model loading and saving are outside both (the same for every
    method).

    >>> log = pd.DataFrame({"step": [1, 2, 3, 4], "completion_length": [40., 30., 20., 20.],
    ...                     "step_seconds": [1., 1., 1., 1.]})
    >>> time_to_length(log, 25.0, window=1), time_to_length(log, 25.0, window=2, pre_rl_seconds=5)
    (3.0, 8.0)
    """
    if "completion_length" not in log:
        raise ValueError("log has no completion_length column")
    df = log.dropna(subset=["completion_length"]).sort_values("step").reset_index(drop=True)
    if df.empty:
        return None
    smooth = df["completion_length"].rolling(window, min_periods=1).mean()
    hit = np.flatnonzero(smooth.to_numpy() <= target_tokens)
    if hit.size == 0:
        return None
    i = int(hit[0])
    steps = df["step"].to_numpy(dtype=float)
    # rollout steps each logged row stands for (logging_steps > 1: several)
    span = np.maximum(np.diff(np.concatenate([[0.0], steps])), 1.0)
    if "step_seconds" in df and df["step_seconds"].notna().all():
        rl = float(np.sum(df["step_seconds"].to_numpy()[: i + 1] * span[: i + 1]))
    elif rl_seconds is not None:
        rl = float(rl_seconds) * float(np.sum(span[: i + 1])) / float(np.sum(span))
    else:
        raise ValueError("log has no step_seconds; pass rl_seconds")
    return float(pre_rl_seconds) + rl


def cost_to_compression(logs: Mapping[str, Mapping[int, pd.DataFrame]],
                        costs: Mapping[str, Any], methods: Sequence[str], *,
                        reference_tokens: float, levels: Sequence[float] = COST_COMPRESSIONS,
                        window: int = SMOOTH_STEPS) -> dict[str, Any]:
    """``{method: {"<c>": {"<seed>": seconds or None}}}``: time to compress by ``c``, i.e. to a
    smoothed training length ``<= (1 - c) * reference_tokens``, per seed (see
    :func:`time_to_length`; multistage includes its sampling and SFT)."""
    out: dict[str, Any] = {}
    for m in methods:
        cost = costs.get(m) or {}
        pre = cost.get("pre_rl_seconds_per_seed") or {}
        wall = cost.get("train_seconds_per_seed") or {}
        per_level: dict[str, Any] = {}
        for c in levels:
            per_level[f"{c:g}"] = {
                str(s): time_to_length(
                    df, (1.0 - c) * reference_tokens, pre_rl_seconds=pre.get(str(s), 0.0),
                    window=window,
                    rl_seconds=(wall.get(str(s)) or 0.0) - pre.get(str(s), 0.0))
                for s, df in logs.get(m, {}).items()}
        out[m] = per_level
    return out


def load_budgets(cfg: Config, results_dir: str | Path | None = None) -> dict[str, float]:
    """``{method: budget tokens}`` of the fixed-budget methods: the resolved percentile budgets
    of ``results/base_model/budgets.json`` (:func:`hmpo.paths.budgets_file`; the mean over the
    base models, each of whose runs trained with its own base's) or a method's own
    ``fixed_budget_tokens``."""
    path = _under(results_dir, paths.budgets_file())
    raw = json.loads(path.read_text()) if path.is_file() else {}
    runs = [paths.seed_dir_name(b) for b in base_seeds(cfg)]
    tables = [raw[r].get("budgets_tokens", {}) for r in runs
              if isinstance(raw, Mapping) and isinstance(raw.get(r), Mapping)]
    out = {}
    for m in fixed_budget_methods(cfg):
        mc = cfg.methods[m]
        q = mc.budget_percentile
        if q is not None and tables and all(f"p{q}" in t for t in tables):
            out[m] = float(np.mean([t[f"p{q}"] for t in tables]))
        elif "fixed_budget_tokens" in mc.params:
            out[m] = float(mc.params["fixed_budget_tokens"])
    return out


def write_veiled(cfg: Config, models: Sequence[str], mats: Mapping[str, Any] | None,
                 results_dir: Path, seeds: Sequence[int], bases: Sequence[int], *,
                 n_boot: int = N_BOOT) -> pd.DataFrame:
    """``results/veiled.{md,csv}`` (:mod:`hmpo.analysis.veiled`): each model on the main
    set's veiled and plain problems. The main set's prompts come from its data file
    (``data/processed/<set>.jsonl``); without it, or without veiled problems, the files say so
    (an empty table)."""
    main = main_set(list(cfg.evaluate.sets))
    data = paths.data_file(main)
    df = pd.DataFrame(columns=veiled.COLUMNS)
    if mats is not None and data.is_file():

        def load(m: str) -> list[list[dict[str, Any]]]:
            return [load_samples(eval_paths(run_dir(results_dir, "evaluate", m, s), main)[1])
                    for s in model_runs(m, seeds, bases)]

        df = veiled.veiled_table(models, mats, veiled.set_prompts(data), load, compare=compare,
                                 n_boot=n_boot, seed=cfg.seed)
    write_text_atomic(results_dir / "veiled.csv", df.to_csv(index=False))
    write_text_atomic(results_dir / "veiled.md",
                      veiled.veiled_markdown(df, q=cfg.data.synthetic.veil_zero_prob))
    return df


def load_disclosures(path: str | Path = DISCLOSURES_FILE) -> list[dict[str, Any]]:
    """The record of changes made after seeing results (``docs/disclosures.yaml``), checked by
    :func:`hmpo.analysis.claims.validate_disclosures`; ValueError naming the file, the entry and
    the field when it is malformed, FileNotFoundError when it is missing (an absent record
    must not read as "nothing changed")."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the record of changes made after "
                                "seeing results (an empty one is `changes: []`)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ValueError(f"{path} is not valid YAML: {e}") from e
    return validate_disclosures(raw, str(path))


# ----------------------------------------------------------------------------- the stage
def completion_length_series(logs: Mapping[str, Mapping[int, pd.DataFrame]],
                             seed: int) -> pd.DataFrame:
    """``method, step, completion_length`` rows of every method's run of training seed `seed`
    (long format: ``dvc plots`` draws one line per method with the ``by_method`` template).

    >>> log = pd.DataFrame({"step": [1, 2], "completion_length": [40.0, 30.0]})
    >>> completion_length_series({"hmpo": {0: log}, "grpo": {0: log}}, 0).shape
    (4, 3)
    """
    frames = [logs[m][seed][["step", "completion_length"]].dropna().assign(method=m)
              for m in logs if "completion_length" in logs[m][seed]]
    if not frames:
        return pd.DataFrame(columns=["method", "step", "completion_length"])
    return pd.concat(frames, ignore_index=True)[["method", "step", "completion_length"]]


def write_report(cfg: Config, results_dir: str | Path | None = None, *,
                 n_boot: int = N_BOOT,
                 disclosures: str | Path = DISCLOSURES_FILE) -> dict[str, Any]:
    """Collect every run's evaluation, samples, training cost and log; write the summary,
    costs, tables, comparisons and claims (with the entries of the record ``disclosures``
    that apply to ``cfg.profile``, :func:`load_disclosures`). ``results_dir`` defaults to
    ``results/`` (:func:`hmpo.paths.results_dir`).

    Also writes the data series that ``dvc plots`` draws: ``results/figures/pareto.csv``
    (method, accuracy, mean_tokens, compression on the main set) and
    ``results/figures/completion_length.csv`` (:func:`completion_length_series`). Returns
    ``{"summary", "costs", "table", "comparisons", "claims", "evaluations" ({model: {set:
    across-seed metrics incl. by_difficulty}}), "runs" ({model: {run: {set: metrics}}}),
    "train_logs" ({method: {seed: DataFrame}}), "times" (time to compression)}``.
    """
    record = load_disclosures(disclosures)  # a malformed record fails before any work
    results_dir = _results(results_dir)
    sets = list(cfg.evaluate.sets)
    seeds = training_seeds(cfg)
    bases = base_seeds(cfg)
    models = model_names(cfg)
    methods = list(cfg.methods)
    runs = collect_evaluations(models, sets, results_dir, seeds, bases)
    matrices = problem_matrices(models, sets, results_dir, seeds, bases)
    costs = round_floats(collect_costs(methods, results_dir, seeds), 2)
    summary = build_summary(runs, profile=cfg.profile, seed=cfg.seed, sets=sets,
                            matrices=matrices, train_seeds=seeds, base_seeds=bases,
                            train_steps=cfg.train.max_steps, n_boot=n_boot)
    for model, entry in summary["methods"].items():
        cost = costs.get(model, {})
        for key in TIMING_FIELDS:
            entry[key] = cost.get(key)
    logs = load_train_logs(methods, seeds, results_dir)
    single = [m for m in methods if not cfg.methods[m].multistage]
    ref_tok = reference_length(logs, single)
    times = (cost_to_compression(logs, costs, [m for m in ("hmpo", "multistage") if m in logs],
                                 reference_tokens=ref_tok) if ref_tok else {})
    table = results_table(summary, costs)
    comparisons = comparisons_table(matrices, models, refs=references(cfg), n_boot=n_boot,
                                    seed=cfg.seed)
    claims = evaluate_claims(summary, costs, matrices, fixed=fixed_budget_methods(cfg),
                             times=times, reference_tokens=ref_tok,
                             budgets=load_budgets(cfg, results_dir), n_boot=n_boot,
                             seed=cfg.seed)

    write_text_atomic(results_dir / "summary.json", dumps_json(summary))
    write_text_atomic(results_dir / "costs.json", dumps_json(costs))
    write_text_atomic(results_dir / "results_table.csv", table.to_csv(index=False))
    write_text_atomic(results_dir / "results_table.md", table_markdown(table))
    write_text_atomic(results_dir / "results_table.tex", table_latex(table))
    write_text_atomic(results_dir / "comparisons.csv", comparisons.to_csv(index=False))
    write_text_atomic(results_dir / "comparisons.md", comparisons_markdown(comparisons))
    write_text_atomic(results_dir / "claims.json", dumps_json(claims))
    write_text_atomic(results_dir / "claims.md", claims_markdown(claims, summary, record))
    pred_path = _under(results_dir, paths.predictions_file())
    if pred_path.is_file():  # theory's endpoints, written by stage predictions before training
        predictions = json.loads(pred_path.read_text())
        rows = predictions_vs_outcomes(predictions, summary)
        frame = pd.DataFrame(rows, columns=PREDICTION_COLUMNS)
        pset = predictions.get("set")
        observed = {m: mean_by_difficulty(runs[m], pset) for m in runs
                    if pset in next(iter(runs[m].values()), {})}
        by_k = predictions_by_difficulty(predictions, observed)
        write_text_atomic(results_dir / "predictions.csv", frame.to_csv(index=False))
        write_text_atomic(results_dir / "predictions.md", predictions_markdown(frame, by_k))
    write_veiled(cfg, models, matrices.get(summary["main_set"]), results_dir, seeds, bases,
                 n_boot=n_boot)
    main = table[table["set"] == summary["main_set"]]
    pareto = main[["method", "accuracy", "mean_tokens", "compression"]]
    write_text_atomic(results_dir / "figures" / "pareto.csv", pareto.to_csv(index=False))
    lengths = completion_length_series(logs, seeds[0])
    write_text_atomic(results_dir / "figures" / "completion_length.csv",
                      lengths.to_csv(index=False))
    evaluations = {m: {s: {**summary["methods"][m]["sets"][s],
                           "by_difficulty": mean_by_difficulty(r, s)} for s in sets}
                   for m, r in runs.items()}
    return {"summary": summary, "costs": costs, "table": table, "comparisons": comparisons,
            "claims": claims, "evaluations": evaluations, "runs": runs, "train_logs": logs,
            "times": times}

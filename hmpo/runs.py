"""Training seeds: one stage trains (or evaluates) a method once per seed, runs in parallel.

Seed-to-seed differences of an RL run are larger than one run's bootstrap CI over problems
(NOTES.md: 3-6 accuracy points between two seeds on the same base model), so every trained
method runs once per seed of ``train.seeds`` and the statistics (hmpo.stats, hmpo.report)
combine seeds and problems. DVC runs stages one at a time, so the parallelism lives here,
inside a stage: ``workers`` processes (2 on the 2-core CPU, one torch thread each) take the
(seed, ...) jobs of one stage.

Layout (``<s>`` = a training seed; ``base`` is one run, without seed folders)::

    models/<method>/seed<s>/                      hmpo.train output (checkpoints, final model)
    results/train/<method>/seed<s>/metrics.json   + live/ (per-step dvclive logs)
    results/evaluate/<method>/seed<s>/{metrics,samples}/<set>.{json,jsonl}
    results/evaluate/base/{metrics,samples}/<set>.{json,jsonl}

The top-level ``seed`` keeps fixing the data, the base model and the evaluation samples (every
model is evaluated on the same problems with the same sampling seed: comparisons are paired);
``train.seeds`` seed the RL runs (:func:`seed_config` sets ``cfg.seed`` of the training run).

Run from the repository root::

    python -c "from hmpo.config import load_config; from hmpo.runs import train_seeds; \\
               train_seeds(load_config(), 'hmpo')"
"""

from __future__ import annotations

import copy
import json
import multiprocessing as mp
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from hmpo.config import Config

BASE = "base"
BUDGETS_PATH = Path("results/base_model/budgets.json")


def run_name(seed: int) -> str:
    """Folder name of one training seed's run."""
    return f"seed{seed}"


def model_run_dirs(cfg: Config, model: str, models_dir: str | Path = "models") -> dict[str, Path]:
    """``{run: model folder}``: ``{"base": models/base}`` or ``{"seed<s>": models/<m>/seed<s>}``."""
    if model == BASE:
        return {BASE: Path(models_dir) / BASE}
    if model not in cfg.methods:
        raise ValueError(f"model: {model!r} is neither 'base' nor a method "
                         f"(known: {', '.join(cfg.methods)})")
    return {run_name(s): Path(models_dir) / model / run_name(s) for s in cfg.train.seeds}


def eval_run_dir(model: str, run: str, results_dir: str | Path = "results") -> Path:
    """Where one run's evaluation goes: results/evaluate/<model>[/seed<s>]."""
    root = Path(results_dir) / "evaluate" / model
    return root if run == BASE else root / run


def seed_config(cfg: Config, seed: int) -> Config:
    """A copy of `cfg` whose ``seed`` is the training seed (data/eval files are already made)."""
    out = copy.deepcopy(cfg)
    out.seed = seed
    return out


def resolve_budget(cfg: Config, method: str, budgets_path: str | Path = BUDGETS_PATH) -> Config:
    """A copy of `cfg` with a percentile budget turned into ``params.fixed_budget_tokens``.

    ``methods.<m>.budget_percentile = q`` reads ``p<q>`` from the base-model stage's
    budgets.json (percentiles of the base model's correct response lengths on training
    prompts); other methods are returned unchanged (a copy).
    """
    out = copy.deepcopy(cfg)
    m = out.methods[method]
    if m.budget_percentile is None:
        return out
    path = Path(budgets_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the base_model stage writes it "
                                "(run `dvc repro base_model`)")
    budgets = json.loads(path.read_text())
    key = f"p{m.budget_percentile}"
    if key not in budgets.get("budgets_tokens", {}):
        raise ValueError(f"{path} has no {key!r} (has {sorted(budgets.get('budgets_tokens', {}))});"
                         " rerun `dvc repro base_model` after changing budget_percentiles")
    m.params = {**m.params, "fixed_budget_tokens": float(budgets["budgets_tokens"][key])}
    return out


def run_jobs(fn: Callable[..., Any], jobs: Sequence[dict[str, Any]], *, workers: int,
             desc: str, progress: bool = True) -> list[Any]:
    """``[fn(**job) for job in jobs]``, in order, on up to `workers` processes.

    One worker runs the jobs in this process (no start-up cost, exceptions as they are). More
    workers use fresh ``spawn`` processes (forking a process that already holds torch's thread
    pools can hang); `fn` must be importable (a module-level function of hmpo). A failed job
    re-raises its exception here after the others have finished, naming the job.
    """
    bar = tqdm(total=len(jobs), desc=desc, unit="run", disable=not progress)
    if workers <= 1 or len(jobs) <= 1:
        out = []
        for job in jobs:
            out.append(fn(**job))
            bar.update()
        bar.close()
        return out
    results: list[Any] = [None] * len(jobs)
    errors = []
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                             mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(fn, **job): i for i, job in enumerate(jobs)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except Exception as e:  # noqa: BLE001 - re-raised below with the job named
                errors.append((jobs[i], e))
            bar.update()
    bar.close()
    if errors:
        job, e = errors[0]
        raise RuntimeError(f"{len(errors)} of {len(jobs)} runs failed; first: {job}: "
                           f"{type(e).__name__}: {e}") from e
    return results


# --------------------------------------------------------------------------- stage bodies
def _train_one(cfg: Config, method: str, seed: int, model_dir: str, train_path: str,
               models_dir: str, results_dir: str) -> dict[str, Any]:
    import torch

    from hmpo.methods import train_method

    torch.set_num_threads(cfg.threads)
    run = run_name(seed)
    return train_method(seed_config(cfg, seed), method, model_dir=model_dir,
                        train_path=train_path, out_dir=str(Path(models_dir) / method / run),
                        results_dir=str(Path(results_dir) / "train" / method / run))


def train_seeds(cfg: Config, method: str, *, model_dir: str = "models/base",
                train_path: str = "data/processed/train.jsonl", models_dir: str = "models",
                results_dir: str = "results", budgets_path: str | Path = BUDGETS_PATH,
                progress: bool = True) -> dict[str, dict[str, Any]]:
    """Train `method` once per seed of ``train.seeds`` (``workers`` at a time).

    Returns ``{"seed<s>": metrics}`` (each also in results/train/<m>/seed<s>/metrics.json).
    """
    if method not in cfg.methods:
        raise ValueError(f"method: {method!r} is not in methods (known: {', '.join(cfg.methods)})")
    run_cfg = resolve_budget(cfg, method, budgets_path)
    jobs = [dict(cfg=run_cfg, method=method, seed=s, model_dir=model_dir, train_path=train_path,
                 models_dir=models_dir, results_dir=results_dir) for s in cfg.train.seeds]
    out = run_jobs(_train_one, jobs, workers=cfg.workers, desc=f"train {method}",
                   progress=progress)
    return {run_name(s): m for s, m in zip(cfg.train.seeds, out, strict=True)}


def _evaluate_one(cfg: Config, model_dir: str, set_name: str, out_dir: str,
                  data_dir: str, progress: bool) -> dict[str, Any]:
    import torch

    from hmpo.evaluate import evaluate_model

    torch.set_num_threads(cfg.threads)
    return evaluate_model(cfg, model_dir, set_name, out_dir=out_dir, data_dir=data_dir,
                          progress=progress)


def evaluate_runs(cfg: Config, model: str, *, models_dir: str = "models",
                  results_dir: str = "results", data_dir: str = "data/processed",
                  progress: bool = True) -> dict[str, dict[str, dict[str, Any]]]:
    """Evaluate every run of `model` on every set of ``evaluate.sets`` (``workers`` at a time).

    Every run uses the evaluation seed (top-level ``seed``), so all models answer the same
    problems with the same sampling stream. Returns ``{run: {set: metrics}}``.
    """
    runs = model_run_dirs(cfg, model, models_dir)
    jobs, keys = [], []
    for run, mdir in runs.items():
        for s in cfg.evaluate.sets:
            keys.append((run, s))
            # per-sample bars only when runs go one at a time (parallel bars would interleave)
            jobs.append(dict(cfg=cfg, model_dir=str(mdir), set_name=s,
                             out_dir=str(eval_run_dir(model, run, results_dir)),
                             data_dir=data_dir, progress=progress and cfg.workers <= 1))
    out = run_jobs(_evaluate_one, jobs, workers=cfg.workers, desc=f"evaluate {model}",
                   progress=progress)
    res: dict[str, dict[str, dict[str, Any]]] = {}
    for (run, s), m in zip(keys, out, strict=True):
        res.setdefault(run, {})[s] = m
    return res

"""Stage `evaluate`: every run of one model (the base model, or each seed of a method) on
every set of ``evaluate.sets``, in parallel.

Layout (:mod:`hmpo.paths`; ``<s>`` a training seed, ``<b>`` a base seed)::

    results/evaluate/<method>/seed<s>/{metrics,samples,logs}/<set>.{json,jsonl,log}
    results/evaluate/base/seed<b>/{metrics,samples,logs}/<set>.{json,jsonl,log}  (sft likewise)

Every run uses the evaluation seed (top-level ``seed``): all models answer the same problems
with the same sampling stream, so comparisons are paired.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hmpo.config import Config, base_seeds
from hmpo.paths import BASE_MODELS, data_dir, eval_results_dir, model_dir, seed_dir_name
from hmpo.pipeline.pool import run_jobs

# evaluate_model's lazy imports (hmpo.models.model brings torch and transformers)
EVALUATE_PRELOAD = ("hmpo.evaluation.evaluate", "hmpo.models.generate", "hmpo.models.model",
                    "hmpo.task.verify")


def model_run_dirs(cfg: Config, model: str, root: str | Path = ".") -> dict[str, Path]:
    """``{run: model folder}``: ``{"seed<b>": models/base/seed<b>}`` per base seed (``sft``
    likewise, :func:`hmpo.config.base_seeds`) or ``{"seed<s>": models/<m>/seed<s>}`` per
    training seed (:func:`hmpo.paths.model_dir` under `root`)."""
    if model in BASE_MODELS:
        return {seed_dir_name(b): model_dir(model, b, root) for b in base_seeds(cfg)}
    if model not in cfg.methods:
        raise ValueError(f"model: {model!r} is neither 'sft', 'base' nor a method "
                         f"(known: {', '.join(cfg.methods)})")
    return {seed_dir_name(s): model_dir(model, s, root) for s in cfg.train.seeds}


def eval_run_dir(model: str, run: str, root: str | Path = ".") -> Path:
    """Where one run's evaluation goes: results/evaluate/<model>/<run> under `root`."""
    return eval_results_dir(model, root=root) / run


def _evaluate_one(cfg: Config, model_dir: str, set_name: str, out_dir: str,
                  data_dir: str, progress: bool) -> dict[str, Any]:
    from hmpo.evaluation.evaluate import evaluate_model

    return evaluate_model(cfg, model_dir, set_name, out_dir=out_dir, data_dir=data_dir,
                          progress=progress)


def evaluate_runs(cfg: Config, model: str, *, root: str | Path = ".",
                  progress: bool = True) -> dict[str, dict[str, dict[str, Any]]]:
    """Evaluate every run of `model` on every set of ``evaluate.sets`` (``workers`` at a time).

    Every run uses the evaluation seed (top-level ``seed``), so all models answer the same
    problems with the same sampling stream. Each job's console output goes to
    ``<run folder>/logs/<set>.log``. Returns ``{run: {set: metrics}}``.
    """
    runs = model_run_dirs(cfg, model, root)
    jobs, keys = [], []
    for run, mdir in runs.items():
        for s in cfg.evaluate.sets:
            keys.append((run, s))
            # per-sample bars only when runs go one at a time (parallel bars would interleave)
            jobs.append(dict(cfg=cfg, model_dir=str(mdir), set_name=s,
                             out_dir=str(eval_run_dir(model, run, root)),
                             data_dir=str(data_dir(root)),
                             progress=progress and cfg.workers <= 1))
    logs = [Path(j["out_dir"]) / "logs" / f"{j['set_name']}.log" for j in jobs]
    out = run_jobs(_evaluate_one, jobs, workers=cfg.workers, desc=f"evaluate {model}",
                   progress=progress, logs=logs, preload=EVALUATE_PRELOAD)
    res: dict[str, dict[str, dict[str, Any]]] = {}
    for (run, s), m in zip(keys, out, strict=True):
        res.setdefault(run, {})[s] = m
    return res

"""Stage `train`: one method trained once per seed of ``train.seeds``, runs in parallel.

Seed-to-seed differences of an RL run are larger than one run's bootstrap CI over problems
(../shared/NOTES.md: 3-6 accuracy points between two seeds on the same base model), so every
trained method runs once per seed and the statistics (hmpo.analysis.stats, hmpo.analysis.report)
combine seeds and problems.

Layout (:mod:`hmpo.paths`; ``<s>`` = a training seed)::

    models/<method>/seed<s>/                      the run's model (checkpoints, final model)
    results/train/<method>/seed<s>/metrics.json   + live/ (per-step dvclive logs), train.log

The top-level ``seed`` keeps fixing the data and the evaluation samples; each seed ``s`` of
``train.seeds`` is the training seed of one run, passed to it as its own argument
(:func:`hmpo.training.methods.train_resolved` ``seed=s``), and the run starts from its base
model ``models/base/seed<b>`` (``b`` = :func:`hmpo.config.base_seed_of`: ``s`` itself with
``base_model.per_seed``, else the one base). The method is resolved once per base seed
(:func:`hmpo.training.methods.resolve_method`: a fixed budget is its base model's) and every
run of that base gets the same resolved method.

Run from the repository root::

    python -c "from hmpo.config import load_config; from hmpo.pipeline.train_runs import \\
               train_seeds; train_seeds(load_config(), 'hmpo')"
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hmpo.config import Config, base_seed_of, base_seeds
from hmpo.paths import (
    base_model_dir,
    budgets_file,
    data_file,
    method_model_dir,
    seed_dir_name,
    train_results_dir,
)
from hmpo.pipeline.pool import run_jobs

if TYPE_CHECKING:  # imported lazily below: torch + TRL are ~9 s a process
    from hmpo.training.methods import ResolvedMethod

TRAIN_LOG = "train.log"  # a run's console output, beside its metrics.json
# what the stage's worker processes import before their first job (hmpo.pipeline.pool)
TRAIN_PRELOAD = ("hmpo.training.methods",)  # torch, transformers, TRL, peft: ~9 s a process


def _train_one(run: ResolvedMethod, seed: int, model_dir: str, train_path: str, out_dir: str,
               results_dir: str) -> dict[str, Any]:
    from hmpo.training.methods import train_resolved

    # progress=False: the trainer's own bars and per-step prints go to the run's log; the
    # stage's bar counts the run's rollout steps (hmpo.training.callbacks.StepProgress)
    return train_resolved(run, seed=seed, model_dir=model_dir, train_path=train_path,
                          out_dir=out_dir, results_dir=results_dir, progress=False)


def train_seeds(cfg: Config, method: str, *, root: str | Path = ".",
                model_dir: str | Path | None = None, train_path: str | Path | None = None,
                progress: bool = True) -> dict[str, dict[str, Any]]:
    """Train `method` of the unresolved `cfg` once per seed of ``train.seeds``, ``workers`` runs
    at a time, each with its seed as training seed and from its seed's base model.

    Folders are :mod:`hmpo.paths`' under `root`: run ``s`` starts from ``models/base/seed<b>``
    (``b`` = :func:`hmpo.config.base_seed_of`; `model_dir`, if given, for every run; a fixed
    budget is base ``b``'s, from ``results/base_model/budgets.json``) on
    ``data/processed/train.jsonl`` (unless `train_path` says otherwise) and writes
    ``models/<m>/seed<s>/`` and ``results/train/<m>/seed<s>/``. One bar counts the rollout
    steps of all seeds; each run's console output (the trainer's per-step log lines, warnings)
    goes to ``results/train/<m>/seed<s>/train.log``. Returns ``{"seed<s>": metrics}`` (each
    also in results/train/<m>/seed<s>/metrics.json).
    """
    from hmpo.training.methods import ResolvedMethod, resolve_method

    if isinstance(cfg, ResolvedMethod) or not isinstance(cfg, Config):
        raise TypeError(f"train_seeds takes the unresolved config and a method name, got "
                        f"{type(cfg).__name__}")
    budgets = budgets_file(root)  # read only for a fixed-budget method
    resolved = {b: resolve_method(cfg, method, budgets, base_seed=b) for b in base_seeds(cfg)}
    seeds = cfg.train.seeds
    train_path = data_file("train", root) if train_path is None else train_path
    steps = resolved[base_seeds(cfg)[0]].cfg.train.max_steps  # steps_factor applied once
    jobs = []
    for s in seeds:
        b = base_seed_of(cfg, s)
        jobs.append(dict(run=resolved[b], seed=s,
                         model_dir=str(base_model_dir(b, root) if model_dir is None else model_dir),
                         train_path=str(train_path), out_dir=str(method_model_dir(method, s, root)),
                         results_dir=str(train_results_dir(method, s, root))))
    logs = [train_results_dir(method, s, root) / TRAIN_LOG for s in seeds]
    out = run_jobs(_train_one, jobs, workers=cfg.workers, desc=f"train {method}",
                   progress=progress, logs=logs, units=[steps] * len(jobs) if steps > 0 else None,
                   unit="step" if steps > 0 else "run", preload=TRAIN_PRELOAD)
    return {seed_dir_name(s): m for s, m in zip(seeds, out, strict=True)}

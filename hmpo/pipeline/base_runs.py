"""Stages `sft_model` and `base_model`: one job per base seed, in parallel.

With ``base_model.per_seed`` every training seed starts from its own base model (its own SFT
and RL draw), so a seed of the statistics is a base draw and an RL draw and the intervals
include the base model's variability; the base seeds are :func:`hmpo.config.base_seeds`.
:func:`sft_models` runs :func:`hmpo.models.sft_model.make_sft_model` and :func:`base_models`
:func:`hmpo.training.base_model.make_base_model` for every base seed, ``workers`` at a time
(:mod:`hmpo.pipeline.pool`), each job's console output in its run folder, then gather the
seeds' files the notebooks show and git keeps.

Layout (:mod:`hmpo.paths`; ``<b>`` = a base seed)::

    models/sft/seed<b>/, results/sft_model/runs/seed<b>/{metrics.json,sft_loss.csv,sft.log}
    results/sft_model/metrics.json ({"seed<b>": metrics}), sft_loss.csv (a seed column)
    models/base/seed<b>/, results/base_model/runs/seed<b>/{rl/,metrics.json,budgets.json,base.log}
    results/base_model/metrics.json, budgets.json ({"seed<b>": ...})
"""

from __future__ import annotations

import copy
import csv
from pathlib import Path
from typing import TYPE_CHECKING

from hmpo import paths
from hmpo.config import Config, base_seeds, write_resolved
from hmpo.io import dumps_json, write_text_atomic
from hmpo.pipeline.pool import run_jobs

if TYPE_CHECKING:  # imported lazily below: torch, transformers, TRL
    from hmpo.models.sft_model import SFTModel
    from hmpo.training.base_model import BaseModel

SFT_LOG = "sft.log"  # an SFT run's console output, in its run folder
BASE_LOG = "base.log"  # a base model's RL run's console output, in its run folder
# what the workers import before their first job (hmpo.pipeline.pool)
SFT_PRELOAD = ("hmpo.models.sft_model", "hmpo.models.sft")
BASE_PRELOAD = ("hmpo.training.base_model", "hmpo.training.grpo", "hmpo.models.sft")


def _sft_one(cfg: Config, base_seed: int, root: str, progress: bool) -> SFTModel:
    from hmpo.models.sft_model import make_sft_model

    return make_sft_model(cfg, base_seed, paths.sft_model_dir(base_seed, root),
                          paths.base_run_dir(paths.SFT, base_seed, root),
                          data_dir=paths.data_dir(root), progress=progress)


def _base_one(cfg: Config, base_seed: int, root: str, progress: bool) -> BaseModel:
    from hmpo.training.base_model import make_base_model

    return make_base_model(cfg, base_seed, paths.sft_model_dir(base_seed, root),
                           paths.base_model_dir(base_seed, root),
                           paths.base_run_dir(paths.BASE, base_seed, root),
                           data_dir=paths.data_dir(root), progress=progress)


def _parallel(cfg: Config) -> bool:
    """Whether the base seeds' jobs run side by side (``workers`` > 1 and several seeds)."""
    return cfg.workers > 1 and len(base_seeds(cfg)) > 1


def _jobs(cfg: Config, root: str | Path, progress: bool) -> list[dict]:
    # a job's own bars only when the jobs run one at a time (parallel bars would interleave)
    own = progress and not _parallel(cfg)
    return [dict(cfg=cfg, base_seed=s, root=str(root), progress=own) for s in base_seeds(cfg)]


def sft_config(cfg: Config) -> Config:
    """The config the SFT jobs run with: `cfg`, except that SFTs running side by side use one
    forward thread each: ``base_model.sft_forward_threads`` is for an SFT that has the cores to
    itself (three SFTs with 2 forward threads each on 2 cores had not finished after 22
    minutes, where one alone takes 5). The forward gives the same bits at any thread count, so
    the models do not change (tests/test_sft.py, tests/test_base_runs.py)."""
    if not _parallel(cfg) or cfg.base_model.sft_forward_threads == 1:
        return cfg
    out = copy.deepcopy(cfg)
    out.base_model.sft_forward_threads = 1
    return out


def sft_models(cfg: Config, *, root: str | Path = ".",
               progress: bool = True) -> dict[str, SFTModel]:
    """Stage sft_model: every base seed's SFT model, ``workers`` at a time (one bar counts the
    runs; each run's console output goes to its run folder's ``sft.log``); then
    ``results/sft_model/metrics.json`` and ``sft_loss.csv`` gather the seeds. Returns
    ``{"seed<b>": SFTModel}``."""
    seeds = base_seeds(cfg)
    logs = [paths.base_run_dir(paths.SFT, s, root) / SFT_LOG for s in seeds]
    out = run_jobs(_sft_one, _jobs(sft_config(cfg), root, progress), workers=cfg.workers,
                   desc="sft", progress=progress, logs=logs, preload=SFT_PRELOAD)
    models = {paths.seed_dir_name(s): m for s, m in zip(seeds, out, strict=True)}
    results = paths.results_dir("sft_model", root)
    write_resolved(cfg, results)
    write_text_atomic(results / "metrics.json",
                      dumps_json({run: m.metrics for run, m in models.items()}))
    rows = []
    for run, m in models.items():
        loss = m.results_dir / "sft_loss.csv"
        if loss.is_file():
            with open(loss, newline="") as f:
                rows += [{"seed": run, **r} for r in csv.DictReader(f)]
    if rows:
        with open(results / "sft_loss.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return models


def base_models(cfg: Config, *, root: str | Path = ".",
                progress: bool = True) -> dict[str, BaseModel]:
    """Stage base_model: every base seed's base model, ``workers`` at a time (one bar over all
    seeds' rollout steps; each run's console output goes to its run folder's ``base.log``);
    then ``results/base_model/metrics.json`` and ``budgets.json``
    (:func:`hmpo.paths.budgets_file`) gather the seeds, ``{"seed<b>": ...}``. Returns
    ``{"seed<b>": BaseModel}``."""
    seeds = base_seeds(cfg)
    steps = cfg.base_model.rl_horizon  # a run that flattens sooner fills its bar share at its end
    logs = [paths.base_run_dir(paths.BASE, s, root) / BASE_LOG for s in seeds]
    out = run_jobs(_base_one, _jobs(cfg, root, progress), workers=cfg.workers,
                   desc="base model RL", progress=progress, logs=logs,
                   units=[steps] * len(seeds) if steps else None,
                   unit="step" if steps else "run", preload=BASE_PRELOAD)
    models = {paths.seed_dir_name(s): m for s, m in zip(seeds, out, strict=True)}
    results = paths.results_dir("base_model", root)
    write_resolved(cfg, results)
    write_text_atomic(results / "metrics.json",
                      dumps_json({run: m.metrics for run, m in models.items()}))
    write_text_atomic(paths.budgets_file(root),
                      dumps_json({run: m.budgets for run, m in models.items()}))
    return models

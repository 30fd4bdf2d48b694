"""Stage `sft_model`: the model before the base model's RL, one per base seed.

:func:`make_sft_models` is the stage (notebook ``02a_sft_model`` calls it and shows what it
returns): :func:`make_sft_model` for every base seed (:func:`hmpo.config.base_seeds`: each
training seed's own with ``base_model.per_seed``, else one), ``workers`` at a time. By
``base_model.kind``:

* ``tiny`` (the CPU profiles): :func:`hmpo.models.sft.train_base_model` builds the tokenizer,
  SFT-trains a tiny Qwen3 on verbose traces of the synthetic task with the base seed's config
  (:func:`hmpo.config.base_config`: seed ``seed + b``), saves it and measures it;
* ``smollm2`` / ``pretrained``: :func:`hmpo.models.pretrained.resolve_base_model` finds the
  model (converts SmolLM2 once into its cache, checks a local folder, or resolves a hub id)
  and its folder is copied as is; ``metrics.json`` says which kind and from where.

Layout (:mod:`hmpo.paths`): ``models/sft/seed<b>/`` (Hugging Face format) and
``results/sft_model/runs/seed<b>/`` (``metrics.json``, tiny: ``sft_loss.csv``, the run's log
``sft.log``); ``results/sft_model/metrics.json`` (``{"seed<b>": metrics}``) and
``sft_loss.csv`` (a ``seed`` column) gather the seeds. The base model every method starts
from is this model after ``base_model.rl_steps`` of GRPO on correctness (stage
``base_model``, :mod:`hmpo.training.base_model`).

Run::

    dvc repro sft_model
    python -m hmpo.pipeline.notebook notebooks/02a_sft_model.py \\
        results/sft_model/02a_sft_model.ipynb -p profile smoke
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmpo import paths
from hmpo.config import Config, base_config, base_seeds, write_resolved
from hmpo.io import dumps_json, write_text_atomic
from hmpo.pipeline.pool import run_jobs

#: what each SFT worker imports before its first job (hmpo.pipeline.pool): torch, transformers
SFT_PRELOAD = ("hmpo.models.sft", "hmpo.models.pretrained")
LOG = "sft.log"  # a run's console output, in its run folder


@dataclass(frozen=True)
class SFTModel:
    """What one base seed's SFT made: where, and its metrics.json."""

    model_dir: Path  # the Hugging Face folder the base model's RL starts from
    results_dir: Path  # config.resolved.json, metrics.json (tiny: sft_loss.csv)
    metrics: dict[str, Any]  # tiny: the SFT and its measurements; else {"kind", "source"}


def make_sft_model(cfg: Config, base_seed: int = 0, out_dir: str | Path | None = None,
                   results_dir: str | Path | None = None, *,
                   data_dir: str | Path | None = None, progress: bool = True) -> SFTModel:
    """Make base seed `base_seed`'s model of ``cfg.base_model.kind`` in `out_dir`.

    Defaults are the run layout (:mod:`hmpo.paths`): `out_dir` ``models/sft/seed<b>``,
    `results_dir` ``results/sft_model/runs/seed<b>``, `data_dir` ``data/processed`` (the tiny
    model's SFT problems).
    """
    from hmpo.models.pretrained import resolve_base_model
    from hmpo.models.sft import train_base_model

    out = Path(out_dir) if out_dir is not None else paths.sft_model_dir(base_seed)
    results = (Path(results_dir) if results_dir is not None
               else paths.base_run_dir(paths.SFT, base_seed))
    data = Path(data_dir) if data_dir is not None else paths.data_dir()
    bcfg = base_config(cfg, base_seed)
    if cfg.base_model.kind == "tiny":
        metrics = train_base_model(bcfg, out, results, data_dir=data, progress=progress)
    else:
        src = resolve_base_model(cfg)
        shutil.copytree(src, out, dirs_exist_ok=True)
        metrics = {"kind": cfg.base_model.kind, "source": str(src)}
        write_resolved(bcfg, results)
        write_text_atomic(results / "metrics.json", dumps_json(metrics))
    return SFTModel(model_dir=out, results_dir=results, metrics=metrics)


def _sft_one(cfg: Config, base_seed: int, root: str, progress: bool) -> SFTModel:
    return make_sft_model(cfg, base_seed, paths.sft_model_dir(base_seed, root),
                          paths.base_run_dir(paths.SFT, base_seed, root),
                          data_dir=paths.data_dir(root), progress=progress)


def make_sft_models(cfg: Config, *, root: str | Path = ".",
                    progress: bool = True) -> dict[str, SFTModel]:
    """Stage sft_model: :func:`make_sft_model` for every base seed, ``workers`` at a time (one
    bar over all seeds' SFT steps; each run's console output goes to its run folder's
    ``sft.log``); then ``results/sft_model/metrics.json`` and ``sft_loss.csv`` gather the
    seeds. Returns ``{"seed<b>": SFTModel}``."""
    seeds = base_seeds(cfg)
    b = cfg.base_model
    steps = b.sft_steps + b.sft_mix_steps if b.kind == "tiny" else 0
    jobs = [dict(cfg=cfg, base_seed=s, root=str(root),
                 progress=progress and (cfg.workers <= 1 or len(seeds) <= 1)) for s in seeds]
    logs = [paths.base_run_dir(paths.SFT, s, root) / LOG for s in seeds]
    out = run_jobs(_sft_one, jobs, workers=cfg.workers, desc="sft", progress=progress,
                   logs=logs, units=[steps] * len(jobs) if steps else None,
                   unit="step" if steps else "run", preload=SFT_PRELOAD)
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

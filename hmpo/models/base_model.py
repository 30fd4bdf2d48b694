"""Stage `base_model`: the model every method starts from, and its fixed budgets.

:func:`make_base_model` is the stage (notebook ``02_base_model`` calls it and shows what it
returns). By ``base_model.kind``:

* ``tiny`` (the CPU profiles): :func:`hmpo.models.sft.train_base_model` builds the tokenizer,
  SFT-trains a tiny Qwen3 on verbose traces of the synthetic task, saves it and measures it
  (``metrics.json`` holds the measurements, ``sft_loss.csv`` the loss per step);
* ``smollm2`` / ``pretrained``: :func:`hmpo.models.pretrained.resolve_base_model` finds the
  model (converts SmolLM2 once into its cache, checks a local folder, or resolves a hub id)
  and its folder is copied as is; ``metrics.json`` says which kind and from where.

Either way it writes the model to ``models/base/`` (Hugging Face format) and
``config.resolved.json`` and ``metrics.json`` to ``results/base_model/``; then
:func:`hmpo.models.fixed_budgets.measure_budgets` samples the model on training prompts and
writes ``budgets.json`` there (the budgets of the ``hmpo_fixed_p*`` methods).

Run::

    dvc repro base_model
    python -m hmpo.pipeline.notebook notebooks/02_base_model.py \\
        results/base_model/02_base_model.ipynb -p profile smoke
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmpo import paths
from hmpo.config import Config, write_resolved
from hmpo.io import write_text_atomic
from hmpo.models.fixed_budgets import measure_budgets
from hmpo.models.pretrained import resolve_base_model
from hmpo.models.sft import train_base_model


@dataclass(frozen=True)
class BaseModel:
    """What the base_model stage made: where, its metrics.json and its budgets.json."""

    model_dir: Path  # the Hugging Face folder every method starts from
    results_dir: Path  # config.resolved.json, metrics.json, budgets.json (tiny: sft_loss.csv)
    metrics: dict[str, Any]  # tiny: the SFT and its measurements; else {"kind", "source"}
    budgets: dict[str, Any]  # fixed budgets: percentiles of the correct response lengths


def make_base_model(cfg: Config, out_dir: str | Path | None = None,
                    results_dir: str | Path | None = None, *,
                    data_dir: str | Path | None = None, progress: bool = True) -> BaseModel:
    """Make the base model of ``cfg.base_model.kind`` in `out_dir`, then measure its budgets.

    Defaults are the run layout (:mod:`hmpo.paths`): `out_dir` ``models/base``, `results_dir`
    ``results/base_model``, `data_dir` ``data/processed`` (the tiny model's SFT problems and
    the training prompts the budgets are measured on, ``train.jsonl``).
    """
    out = Path(out_dir) if out_dir is not None else paths.base_model_dir()
    results = Path(results_dir) if results_dir is not None else paths.results_dir("base_model")
    data = Path(data_dir) if data_dir is not None else paths.data_dir()
    if cfg.base_model.kind == "tiny":
        metrics = train_base_model(cfg, out, results, data_dir=data, progress=progress)
    else:
        src = resolve_base_model(cfg)
        shutil.copytree(src, out, dirs_exist_ok=True)
        metrics = {"kind": cfg.base_model.kind, "source": str(src)}
        write_resolved(cfg, results)
        write_text_atomic(results / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    budgets = measure_budgets(cfg, out, data / "train.jsonl",
                              out_path=results / paths.budgets_file().name, progress=progress)
    return BaseModel(model_dir=out, results_dir=results, metrics=metrics, budgets=budgets)


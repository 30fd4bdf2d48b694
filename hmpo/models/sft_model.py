"""Stage `sft_model`: the model before the base model's RL.

:func:`make_sft_model` is the stage (notebook ``02a_sft_model`` calls it and shows what it
returns). By ``base_model.kind``:

* ``tiny`` (the CPU profiles): :func:`hmpo.models.sft.train_base_model` builds the tokenizer,
  SFT-trains a tiny Qwen3 on verbose traces of the synthetic task, saves it and measures it
  (``metrics.json`` holds the measurements, ``sft_loss.csv`` the loss per step);
* ``smollm2`` / ``pretrained``: :func:`hmpo.models.pretrained.resolve_base_model` finds the
  model (converts SmolLM2 once into its cache, checks a local folder, or resolves a hub id)
  and its folder is copied as is; ``metrics.json`` says which kind and from where.

Either way it writes the model to ``models/sft/`` (Hugging Face format) and
``config.resolved.json`` and ``metrics.json`` to ``results/sft_model/``. The base model every
method starts from is this model after ``base_model.rl_steps`` of GRPO on correctness
(stage ``base_model``, :mod:`hmpo.training.base_model`).

Run::

    dvc repro sft_model
    python -m hmpo.pipeline.notebook notebooks/02a_sft_model.py \\
        results/sft_model/02a_sft_model.ipynb -p profile smoke
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
from hmpo.models.pretrained import resolve_base_model
from hmpo.models.sft import train_base_model


@dataclass(frozen=True)
class SFTModel:
    """What the sft_model stage made: where, and its metrics.json."""

    model_dir: Path  # the Hugging Face folder the base model's RL starts from
    results_dir: Path  # config.resolved.json, metrics.json (tiny: sft_loss.csv)
    metrics: dict[str, Any]  # tiny: the SFT and its measurements; else {"kind", "source"}


def make_sft_model(cfg: Config, out_dir: str | Path | None = None,
                   results_dir: str | Path | None = None, *,
                   data_dir: str | Path | None = None, progress: bool = True) -> SFTModel:
    """Make the model of ``cfg.base_model.kind`` in `out_dir`.

    Defaults are the run layout (:mod:`hmpo.paths`): `out_dir` ``models/sft``, `results_dir`
    ``results/sft_model``, `data_dir` ``data/processed`` (the tiny model's SFT problems).
    """
    out = Path(out_dir) if out_dir is not None else paths.sft_model_dir()
    results = Path(results_dir) if results_dir is not None else paths.results_dir("sft_model")
    data = Path(data_dir) if data_dir is not None else paths.data_dir()
    if cfg.base_model.kind == "tiny":
        metrics = train_base_model(cfg, out, results, data_dir=data, progress=progress)
    else:
        src = resolve_base_model(cfg)
        shutil.copytree(src, out, dirs_exist_ok=True)
        metrics = {"kind": cfg.base_model.kind, "source": str(src)}
        write_resolved(cfg, results)
        write_text_atomic(results / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return SFTModel(model_dir=out, results_dir=results, metrics=metrics)

"""Stage `sft_model`: the model before the base model's RL, one per base seed.

:func:`make_sft_model` makes one base seed's; the stage runs it for every base seed
(:func:`hmpo.config.base_seeds`: each training seed's own with ``base_model.per_seed``, else
one), ``workers`` at a time (:func:`hmpo.pipeline.base_runs.sft_models`, which notebook
``02a_sft_model`` calls). By ``base_model.kind``:

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
from is this model after GRPO on correctness until flat (at least ``base_model.rl_steps``; stage
``base_model``, :mod:`hmpo.training.base_model`).

Run::

    dvc repro sft_model
    python -m hmpo.pipeline.notebook notebooks/02a_sft_model.py \\
        results/sft_model/02a_sft_model.ipynb -p profile smoke
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmpo import paths
from hmpo.config import Config, base_config, write_resolved
from hmpo.io import dumps_json, write_text_atomic


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

"""Stage `train`: one entry point for every comparison method of ``params.yaml``.

``train_method(cfg, method)`` looks the method up in ``cfg.methods`` and runs it: a reward of
:mod:`hmpo.training.rewards` through the GRPO trainer (:func:`hmpo.training.grpo.run_grpo`), or, for
``multistage: true``, the multi-stage baseline (:func:`hmpo.training.multistage.run_multistage`, which
itself uses that trainer). It sits above both, so neither imports the other's caller::

    from hmpo.config import load_config
    from hmpo.training.methods import train_method
    train_method(load_config("params.yaml"), "hmpo")            # models/hmpo, results/train/hmpo
    train_method(cfg, "kimi", out_dir="models/kimi/seed1", results_dir="results/train/kimi/seed1")

Command line: ``python -m hmpo.training.grpo --method <grpo method>`` or
``python -m hmpo.training.multistage --method multistage``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from hmpo.config import Config
from hmpo.models.fixed_budgets import budget_tokens
from hmpo.paths import budgets_file
from hmpo.training.grpo import CorrectFn, run_grpo
from hmpo.training.multistage import run_multistage
from hmpo.training.rewards import get_reward


def train_method(cfg: Config, method: str, *, model_dir: str | Path = "models/base",
                 train_path: str | Path = "data/processed/train.jsonl",
                 out_dir: str | Path | None = None, results_dir: str | Path | None = None,
                 correct_fn: CorrectFn | None = None,
                 callbacks: Sequence[TrainerCallback] = (),
                 progress: bool = True,
                 budgets_path: str | Path | None = None) -> dict[str, Any]:
    """Train one comparison method of ``cfg.methods`` with the same code for all of them.

    ``cfg.methods[method].reward`` (+ ``params``) selects the reward of :mod:`hmpo.training.rewards`;
    ``multistage: true`` runs :func:`hmpo.training.multistage.run_multistage` instead. The run's config
    is :func:`hmpo.config.resolve_method` of `cfg` (its ``steps_factor`` and, for a
    ``budget_percentile``, the fixed budget read from `budgets_path`): pass the unresolved
    config, as every caller does (resolving twice would multiply the steps twice). Defaults:
    ``out_dir = models/<method>``, ``results_dir = results/train/<method>``; any folders work
    (e.g. one per training seed). Outputs made by another config or base model are deleted
    and the run starts over (:mod:`hmpo.training.fingerprint`). ``progress=False`` turns off the
    trainer's (and the multi-stage sampling/SFT) progress bars, e.g. when the caller shows its
    own (:func:`hmpo.pipeline.runs.train_seeds`). Returns the metrics written to
    ``results_dir/metrics.json``.
    """
    cfg = resolve_method(cfg, method, budgets_path)  # rejects a method not in cfg.methods
    m = cfg.methods[method]
    out_dir = Path(out_dir) if out_dir is not None else Path("models") / method
    results_dir = Path(results_dir) if results_dir is not None else Path("results/train") / method
    reward = get_reward(m.reward, **m.params)
    if m.multistage:
        return run_multistage(cfg, method, reward, model_dir=model_dir, train_path=train_path,
                              out_dir=out_dir, results_dir=results_dir, correct_fn=correct_fn,
                              callbacks=callbacks, progress=progress)
    return run_grpo(cfg, reward, model_dir=model_dir, train_path=train_path, out_dir=out_dir,
                    results_dir=results_dir, method=method, correct_fn=correct_fn,
                    callbacks=callbacks, progress=progress)


def method_horizon(cfg: Config, method: str) -> tuple[int, float]:
    """``(max_steps, num_train_epochs)`` of one training run of `method`: the ``train`` values
    with ``methods.<m>.steps_factor`` applied (to ``num_train_epochs`` when ``max_steps`` is -1,
    an epoch-long run). Pure: reads nothing but `cfg` (:func:`resolve_method` uses it)."""
    if method not in cfg.methods:
        raise ValueError(f"method: {method!r} is not in methods (known: {', '.join(cfg.methods)})")
    factor = cfg.methods[method].steps_factor
    if cfg.train.max_steps == -1:
        return -1, cfg.train.num_train_epochs * factor
    return cfg.train.max_steps * factor, cfg.train.num_train_epochs


def resolve_method(cfg: Config, method: str,
                   budgets_path: str | Path | None = None) -> Config:
    """The config one training run of `method` uses: a copy of `cfg` with

    * ``train.max_steps`` multiplied by ``methods.<m>.steps_factor`` (``num_train_epochs``
      when ``max_steps`` is -1, an epoch-long run);
    * a percentile budget turned into ``params.fixed_budget_tokens``:
      ``methods.<m>.budget_percentile = q`` reads ``p<q>`` from the base-model stage's
      budgets.json (percentiles of the base model's correct response lengths on training
      prompts).

    Every entry point that trains (the pipeline's runs, ``python -m hmpo.training.grpo``,
    ``python -m hmpo.training.multistage``) goes through here, so none trains a fixed-budget method
    without its budget.
    """
    out = copy.deepcopy(cfg)
    out.train.max_steps, out.train.num_train_epochs = method_horizon(cfg, method)
    m = out.methods[method]
    if m.budget_percentile is None:
        return out
    tokens = budget_tokens(m.budget_percentile, budgets_path or budgets_file())
    m.params = {**m.params, "fixed_budget_tokens": tokens}
    return out

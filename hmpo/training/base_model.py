"""Stage `base_model`: the RL-trained reasoning model every method starts from.

The paper's base models are RL-trained reasoning models that think too long, and its "no
accuracy loss" is measured against them. So the base model is the SFT model
(stage ``sft_model``) after at least ``base_model.rl_steps`` rollout steps of GRPO on
correctness alone (:func:`hmpo.training.rewards.grpo_reward`, the ``train`` section's
hyperparameters, training seed ``seed + b`` for base seed ``b``,
:func:`hmpo.config.base_config`). With ``base_model.per_seed`` there is one per training
seed (:func:`hmpo.config.base_seeds`), so
the base model's own variability enters every interval; else one, shared. Every length
method, the fixed budgets' measurement, the multi-stage baseline and the ``grpo`` control
(continued RL, no length reward) start from it; a method's gain over it is the length
reward's, not RL's. With ``rl_max_steps`` the RL goes on past ``rl_steps`` until its
accuracy curve has flattened (:class:`UntilFlat`, checked every ``rl_check_steps``, at most
``rl_max_steps`` steps in all). ``rl_steps: 0`` (the paper
profiles, whose pretrained models are RL-trained already) makes the base model the SFT
model's files as they are.

:func:`make_base_model` trains one (or links it), then measures it; the stage does so for
every base seed, ``workers`` at a time (:func:`hmpo.pipeline.base_runs.base_models`, which
notebook ``02b_base_model`` calls), and gathers per seed:

* ``metrics.json``: ``rl`` (the run's metrics and its accuracy curve's flatness,
  :func:`flatness`) and, on the synthetic task, the measurements of
  :func:`hmpo.models.sft.measure_synthetic` (the style table theory reads);
* ``budgets.json``: the fixed budgets (:mod:`hmpo.models.fixed_budgets`).

Layout (:mod:`hmpo.paths`): ``models/sft/seed<b>`` -> ``models/base/seed<b>``;
``results/base_model/runs/seed<b>/`` (``rl/``: the GRPO run's log and metrics; the seed's
``metrics.json``, ``budgets.json``, ``base.log``); ``results/base_model/metrics.json`` and
``budgets.json`` gather them (``{"seed<b>": ...}``).
"""

from __future__ import annotations

import copy
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from transformers import TrainerCallback

from hmpo import paths
from hmpo.config import Config, base_config, write_resolved
from hmpo.io import dumps_json, write_text_atomic
from hmpo.models.fixed_budgets import measure_budgets
from hmpo.training.rewards import get_reward
from hmpo.training.train_log import load_train_log

#: The base model's RL: GRPO's reward, correctness alone.
RL_REWARD = "grpo"
#: The flatness rule, fixed before the first RL-trained base was made: the accuracy curve has
#: flattened when the mean training accuracy of the last quarter of the run is within this many
#: points of the quarter before it. With ``base_model.rl_max_steps`` the RL goes on until it
#: holds (:class:`UntilFlat`); a curve still moving at ``rl_max_steps`` is reported.
FLAT_TOLERANCE_PT = 2.0
#: The per-step training accuracy the rule reads (the trainer's log key; hmpo.training.train_log).
ACCURACY_KEY = "hmpo/accuracy"


@dataclass(frozen=True)
class BaseModel:
    """What the base_model stage made: where, its metrics.json and its budgets.json."""

    model_dir: Path  # the Hugging Face folder every method starts from
    results_dir: Path  # config.resolved.json, metrics.json, budgets.json, rl/
    metrics: dict[str, Any]  # rl: the run and its flatness; synthetic task: its measurements
    budgets: dict[str, Any]  # fixed budgets: percentiles of the correct response lengths


def flatness(accuracy: list[float] | np.ndarray,
             tolerance_pt: float = FLAT_TOLERANCE_PT) -> dict[str, Any]:
    """Has a training-accuracy curve flattened? Compares the mean of its last quarter with the
    quarter before it: ``flat`` when they differ by at most `tolerance_pt` points (too short a
    curve, under 8 points: ``flat`` None)."""
    acc = np.asarray(accuracy, dtype=float)
    acc = acc[np.isfinite(acc)]
    out: dict[str, Any] = {"n_steps_logged": int(acc.size), "tolerance_pt": tolerance_pt,
                           "first_quarter": None, "third_quarter": None, "last_quarter": None,
                           "change_pt": None, "flat": None}
    if acc.size < 8:
        return out
    q = acc.size // 4
    first, third, last = acc[:q].mean(), acc[-2 * q:-q].mean(), acc[-q:].mean()
    change = 100 * (last - third)
    out.update(first_quarter=float(first), third_quarter=float(third), last_quarter=float(last),
               change_pt=float(change), flat=bool(abs(change) <= tolerance_pt + 1e-9))
    return out


class UntilFlat(TrainerCallback):
    """Stops the base model's RL once its training-accuracy curve has flattened: at rollout
    step `min_steps` and every `every` steps after it, :func:`flatness` of the whole curve so
    far (the trainer's per-step :data:`ACCURACY_KEY`); the first check that says flat ends the
    run there (``converged``, which :func:`hmpo.training.grpo.run_grpo` counts as a completed
    run). The trainer's ``max_steps`` is the cap. A resumed run reads the curve from the
    checkpoint's log history, so it stops where an uninterrupted one would."""

    def __init__(self, min_steps: int, every: int, *, updates_per_step: int = 1,
                 tolerance_pt: float = FLAT_TOLERANCE_PT):
        if min_steps < 1 or every < 1 or updates_per_step < 1:
            raise ValueError("min_steps, every and updates_per_step must be >= 1")
        self.min_steps, self.every, self.ups = min_steps, every, updates_per_step
        self.tolerance_pt = tolerance_pt
        self.converged = False

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or ACCURACY_KEY not in logs or state.global_step % self.ups:
            return
        step = state.global_step // self.ups
        if step < self.min_steps or (step - self.min_steps) % self.every:
            return
        curve = [e[ACCURACY_KEY] for e in state.log_history if ACCURACY_KEY in e]
        if flatness(curve, self.tolerance_pt)["flat"]:
            self.converged = True
            control.should_training_stop = True


def _link_tree(src: Path, dst: Path) -> None:
    """``dst`` holds `src`'s files (hard links where the file system allows, else copies)."""
    if dst.exists():
        shutil.rmtree(dst)
    try:
        shutil.copytree(src, dst, copy_function=os.link)
    except OSError:
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)


def rl_config(cfg: Config) -> Config:
    """The base model's RL run config: `cfg` with ``train.max_steps`` =
    ``base_model.rl_horizon`` (the cap of the run until flat)."""
    out = copy.deepcopy(cfg)
    out.train.max_steps = cfg.base_model.rl_horizon
    return out


def make_base_model(cfg: Config, base_seed: int = 0, sft_dir: str | Path | None = None,
                    out_dir: str | Path | None = None, results_dir: str | Path | None = None, *,
                    data_dir: str | Path | None = None, progress: bool = True) -> BaseModel:
    """RL-train base seed `base_seed`'s SFT model into its base model (or link it,
    ``rl_steps`` 0), measure it, measure its fixed budgets; write the seed's
    ``metrics.json`` and ``budgets.json`` to `results_dir`.

    Everything here runs with the base seed's config (:func:`hmpo.config.base_config`).
    Defaults are the run layout (:mod:`hmpo.paths`): `sft_dir` ``models/sft/seed<b>``,
    `out_dir` ``models/base/seed<b>``, `results_dir` ``results/base_model/runs/seed<b>``,
    `data_dir` ``data/processed``. An interrupted RL run resumes from its last checkpoint
    (:func:`hmpo.training.grpo.run_grpo`).
    """
    from hmpo.training.grpo import run_grpo

    sft = Path(sft_dir) if sft_dir is not None else paths.sft_model_dir(base_seed)
    out = Path(out_dir) if out_dir is not None else paths.base_model_dir(base_seed)
    results = (Path(results_dir) if results_dir is not None
               else paths.base_run_dir(paths.BASE, base_seed))
    data = Path(data_dir) if data_dir is not None else paths.data_dir()
    bcfg = base_config(cfg, base_seed)
    results.mkdir(parents=True, exist_ok=True)
    write_resolved(bcfg, results)
    b = cfg.base_model
    metrics: dict[str, Any] = {"rl_steps": b.rl_steps, "rl_reward": RL_REWARD}
    if b.rl_steps > 0:
        rl_dir = results / "rl"
        until_flat = []
        if b.rl_horizon > b.rl_steps:
            metrics.update(rl_max_steps=b.rl_max_steps, rl_check_steps=b.rl_check_steps)
            ups = bcfg.train.geometry(int(os.environ.get("WORLD_SIZE", "1")))["updates_per_step"]
            until_flat = [UntilFlat(b.rl_steps, b.rl_check_steps, updates_per_step=ups)]
        run = run_grpo(rl_config(bcfg), get_reward(RL_REWARD), seed=bcfg.seed, model_dir=sft,
                       train_path=data / "train.jsonl", out_dir=out, results_dir=rl_dir,
                       method=paths.BASE, callbacks=until_flat, progress=progress)
        log = load_train_log(rl_dir)
        metrics["rl"] = {k: run[k] for k in ("wall_s", "cpu_s", "device_s", "rollout_steps",
                                             "completed", "final") if k in run}
        metrics["rl"]["flatness"] = flatness(log["accuracy"].to_numpy()
                                             if "accuracy" in log else [])
    else:
        _link_tree(sft, out)
    if cfg.base_model.kind == "tiny":
        from hmpo.models.model import load_model
        from hmpo.models.sft import load_problem_sets, measure_synthetic

        model, tokenizer = load_model(out)
        metrics.update(measure_synthetic(bcfg, model, tokenizer, load_problem_sets(bcfg, data),
                                         progress=progress))
    write_text_atomic(results / "metrics.json", dumps_json(metrics))
    budgets = measure_budgets(bcfg, out, data / "train.jsonl", progress=progress)
    write_text_atomic(results / "budgets.json", dumps_json(budgets))
    return BaseModel(model_dir=out, results_dir=results, metrics=metrics, budgets=budgets)

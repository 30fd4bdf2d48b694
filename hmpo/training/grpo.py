"""Stage `train`: one GRPO run -- the training set, the trainer, the run's outputs.

:func:`run_grpo` trains one model with one reward of :mod:`hmpo.training.rewards` through
:class:`hmpo.training.trainer.HMPOTrainer` (TRL's ``GRPOTrainer``, group-aware reward hook),
configured by :mod:`hmpo.training.grpo_config` and logged by :mod:`hmpo.training.callbacks`.
It is the last step of every method: :func:`hmpo.training.methods.train_method` resolves a
method and calls it (the multi-stage baseline after its sample and SFT stages). Run it through
that entry point::

    python -m hmpo.training.methods --method hmpo                 # models/hmpo/seed0
    python -m hmpo.training.methods --method grpo --profile smoke --seed 1

How HMPO differs from plain GRPO: only in the reward (see :mod:`hmpo.training.trainer`). A
rollout that hits ``max_completion_length`` without EOS has no answer (reward of a wrong one),
as in evaluation (:func:`hmpo.task.prompts.rollout_verdict`).

Outputs of a run (folders chosen by the caller; the pipeline's are
``models/<method>/seed<s>/`` and ``results/train/<method>/seed<s>/``, :mod:`hmpo.paths`):

- ``out_dir``: the final Hugging Face model folder (LoRA merged), plus ``checkpoint-*`` while
  running (each with the cost so far, ``hmpo_cost.json``) and ``hmpo_fingerprint.json``: a
  rerun resumes from the last checkpoint if the fingerprint says the same config, seed, base
  model and data made it, and otherwise starts over with a warning;
- ``results_dir``: ``metrics.json`` (final metrics, the run's machine-seconds and
  ``devices_counted``: :mod:`hmpo.training.cost`), ``live/`` (dvclive per-step metrics) and
  ``config.resolved.json`` (:func:`write_run_config`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint
from trl import GRPOTrainer

from hmpo.config import Config, write_resolved
from hmpo.task.prompts import build_prompt
from hmpo.training.callbacks import COST_FILE, CostMeter, LiveLogger, StepProgress, metric_name
from hmpo.training.cost import device_cost
from hmpo.training.fingerprint import (
    fingerprint_matches,
    path_fingerprint,
    reuse_or_reset,
    write_fingerprint,
)
from hmpo.training.grpo_config import build_grpo_config, peft_config
from hmpo.training.rewards import Reward
from hmpo.training.train_log import live_dir
from hmpo.training.trainer import ANSWER_COLUMN, ID_COLUMN, CorrectFn, HMPOTrainer


# --------------------------------------------------------------------------- data
def _prompt_tokens(prompt: str, tokenizer) -> int:
    # TRL tokenizes plain-text prompts without special tokens (chat text already has them)
    return len(tokenizer(prompt, add_special_tokens=False)["input_ids"])


def load_train_dataset(train_path: str | Path, tokenizer, *, prompt_style: str,
                       max_prompt_length: int):
    """The RL training set as a ``datasets.Dataset`` with ``prompt``, ``id`` and ``answer``.

    Prompts are built with ``hmpo.task.prompts.build_prompt`` (the "synthetic" style is the
    record's text unchanged). Prompts longer than ``max_prompt_length`` tokens are dropped
    (TRL 1.16 has no prompt truncation; a truncated question is a different question).
    Returns ``(dataset, n_dropped)``.
    """
    from datasets import Dataset

    path = Path(train_path)
    if not path.is_file():
        raise ValueError(f"train_path: {path} not found (run the data stage first)")
    rows, seen, dropped = [], set(), 0
    with path.open() as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            for k in ("id", "prompt", "answer"):
                if k not in rec:
                    raise ValueError(f"train_path: {path}:{line_no} has no {k!r} field")
            if rec["id"] in seen:
                raise ValueError(f"train_path: duplicate id {rec['id']!r} at {path}:{line_no}")
            seen.add(rec["id"])
            prompt = build_prompt(rec["prompt"], prompt_style, tokenizer)
            if _prompt_tokens(prompt, tokenizer) > max_prompt_length:
                dropped += 1
                continue
            rows.append({"prompt": prompt, ID_COLUMN: str(rec["id"]),
                         ANSWER_COLUMN: str(rec["answer"])})
    if not rows:
        raise ValueError(f"train_path: no usable prompt in {path} "
                         f"({dropped} longer than train.max_prompt_length={max_prompt_length})")
    return Dataset.from_list(rows), dropped


def grpo_prompt_order(n_prompts: int, *, seed: int, prompts_per_step: int, n_steps: int,
                      shuffle: bool = True) -> list[int]:
    """Indices of the prompts GRPO trains on, in the order TRL's ``RepeatSampler`` draws them.

    Per epoch the sampler takes ``torch.randperm(n, generator seeded with seed)`` (one
    generator across epochs; ``0..n-1`` when not shuffled), cuts it into steps of
    ``prompts_per_step`` and drops an incomplete last step. The first ``n_steps`` steps are
    returned, a prompt drawn twice (a later epoch) once, at its first draw. ``n_steps < 0``
    (``max_steps = -1``: epochs) means one epoch. Used by the multi-stage baseline to sample
    exactly the prompts HMPO sees.

    >>> grpo_prompt_order(10, seed=0, prompts_per_step=3, n_steps=2, shuffle=False)
    [0, 1, 2, 3, 4, 5]
    """
    if n_prompts < 1 or prompts_per_step < 1:
        raise ValueError(f"n_prompts and prompts_per_step must be >= 1, got {n_prompts}, "
                         f"{prompts_per_step}")
    per_epoch = n_prompts // prompts_per_step
    if per_epoch == 0:
        raise ValueError(f"prompts_per_step={prompts_per_step} exceeds the {n_prompts} prompts")
    steps = per_epoch if n_steps < 0 else n_steps
    gen = torch.Generator()
    gen.manual_seed(seed)
    order: list[int] = []
    seen: set[int] = set()
    while steps > 0:
        perm = torch.randperm(n_prompts, generator=gen).tolist() if shuffle \
            else list(range(n_prompts))
        take = min(steps, per_epoch)
        for i in perm[:take * prompts_per_step]:
            if i not in seen:
                seen.add(i)
                order.append(i)
        steps -= take
    return order


# --------------------------------------------------------------------------- one run
def run_fingerprint(cfg: Config, method: str, reward: Reward, model_dir: str | Path,
                    train_path: str | Path, *, seed: int) -> dict:
    """What made a run's outputs: must match for ``out_dir`` to be resumed (else it restarts).

    The config values that shape training, the reward, the training seed, and the *contents*
    of the starting model and of the training data (a retrained base model in the same folder
    is another run).
    """
    return {"method": method, "reward": repr(reward), "train": cfg.to_dict()["train"],
            "seed": seed, "prompt_style": cfg.base_model.prompt_style,
            "model": path_fingerprint(model_dir), "train_data": path_fingerprint(train_path)}


def _inputs_inside(out_dir: Path, *paths: str | Path) -> tuple[str, ...]:
    """Top-level names of ``out_dir`` that hold one of ``paths`` (kept when it is reset)."""
    out = out_dir.resolve()
    names = []
    for p in paths:
        try:
            names.append(Path(p).resolve().relative_to(out).parts[0])
        except (ValueError, IndexError):
            continue
    return tuple(names)


def _final_metrics(log_history: list[dict]) -> dict[str, float]:
    """The final-step summary: the last logged training row, plus the run summary row.

    Only that row's values (a metric that was NaN there is absent, not an older value).
    """
    out: dict[str, float] = {}
    train_rows = [r for r in log_history if "loss" in r]
    summary = [r for r in log_history if "train_runtime" in r]
    for row in train_rows[-1:] + summary[-1:]:
        for k, v in row.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out[metric_name(k)] = float(v)
    return out


def _step_times(log_history: list[dict]) -> dict[str, float]:
    """Mean seconds per rollout step and its split, over the logged rows of this run.

    The first row is left out when there are more (it carries one-off warm-up costs).
    """
    rows = [r for r in log_history if "time/step_s" in r]
    rows = rows[1:] if len(rows) > 1 else rows
    if not rows:
        return {}
    keys = ("step_s", "generation_s", "reward_s", "reference_logps_s", "update_s")
    means = {k: float(np.mean([r[f"time/{k}"] for r in rows])) for k in keys}
    return means | {"n_rows": len(rows)}


def write_run_config(cfg: Config, results_dir: str | Path, *, seed: int) -> Path:
    """Write a training run's ``config.resolved.json``: the resolved config it ran with, its
    top-level ``seed`` being the run's training seed.

    A training run uses one seed, ``seed``; the config's own ``seed`` (the data and
    evaluation seed, already spent on the files the run reads) plays no part in it, so the
    record names the seed the run used, in the key a config has for it. This is the file
    the pipeline wrote when the training seed travelled in ``cfg.seed``, byte for byte.
    """
    return write_resolved(dataclasses.replace(cfg, seed=seed), results_dir)


def run_grpo(cfg: Config, reward: Reward, *, seed: int, model_dir: str | Path,
             train_path: str | Path, out_dir: str | Path, results_dir: str | Path, method: str,
             correct_fn: CorrectFn | None = None, callbacks: Sequence[TrainerCallback] = (),
             keep_checkpoints: bool = False, live: bool = True,
             keep: tuple[str, ...] = (), progress: bool = True) -> dict[str, Any]:
    """Train ``model_dir`` with ``reward`` on ``train_path``; write the model and metrics.

    ``cfg`` is the method's resolved config (:func:`hmpo.training.methods.resolve_method`);
    ``seed`` the training seed (TRL's ``seed`` and ``data_seed``; ``cfg.seed`` is not read).
    Resumes from the last ``checkpoint-*`` in ``out_dir`` when there is one (and it belongs
    to the same run: :func:`run_fingerprint`; stale outputs are deleted, except the
    top-level names in ``keep`` and inputs inside ``out_dir``). ``live=False`` skips the
    dvclive log (for machines without dvclive, e.g. the GPU check). ``progress=False`` turns
    the trainer's bar off (it prints its log lines instead); either way each rollout step is
    reported to :func:`hmpo.training.progress.advance`. Returns the dict written to
    ``results_dir/metrics.json``.
    """
    from transformers import AutoTokenizer

    torch.set_num_threads(cfg.threads)
    out_dir, results_dir = Path(out_dir), Path(results_dir)
    if not (Path(model_dir) / "config.json").is_file():
        raise ValueError(f"model_dir: {model_dir} is not a Hugging Face model folder "
                         "(run the base_model stage first)")
    run_fp = run_fingerprint(cfg, method, reward, model_dir, train_path, seed=seed)
    # Stale outputs (another config, base model or data) are deleted, with a message, by rank
    # 0; every rank decides from the (read-only) fingerprint whether there is a run to resume,
    # so none races the deletion.
    resumable = fingerprint_matches(out_dir, run_fp)
    if trainer_is_main() and not resumable:
        reuse_or_reset(out_dir, run_fp, what=f"train@{method}",
                       keep=tuple(keep) + _inputs_inside(out_dir, model_dir, train_path))
    last = get_last_checkpoint(str(out_dir)) if resumable and out_dir.is_dir() else None
    prior = None
    if last is not None and (Path(last) / COST_FILE).is_file():
        prior = json.loads((Path(last) / COST_FILE).read_text())
    meter = CostMeter(prior)

    args = build_grpo_config(cfg, out_dir, seed=seed, progress=progress)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), padding_side="left")
    dataset, n_dropped = load_train_dataset(train_path, tokenizer,
                                            prompt_style=cfg.base_model.prompt_style,
                                            max_prompt_length=cfg.train.max_prompt_length)
    resume_step = int(Path(last).name.split("-")[-1]) if last is not None else None
    trainer = HMPOTrainer(
        str(model_dir), reward, correct_fn=correct_fn,
        count_eos_in_length=cfg.train.count_eos_in_length,
        drop_finished_rollouts=cfg.train.drop_finished_rollouts,
        forward_chunk_rows=cfg.train.forward_chunk_rows,
        args=args, train_dataset=dataset, processing_class=tokenizer,
        peft_config=peft_config(cfg.train),
    )
    ups = trainer.updates_per_step
    trainer.add_callback(meter)
    trainer.add_callback(StepProgress(ups))
    if live:
        trainer.add_callback(LiveLogger(live_dir(results_dir), updates_per_step=ups,
                                        resume_step=resume_step))
    for cb in callbacks:
        trainer.add_callback(cb)
    if trainer.accelerator.is_main_process:
        write_fingerprint(out_dir, run_fp)
        write_run_config(cfg, results_dir, seed=seed)

    trainer.train(resume_from_checkpoint=last)
    # a callback that ends the run on purpose (``converged``, e.g. the base model's
    # hmpo.training.base_model.UntilFlat) completes it; any other stop before max_steps does not
    stopped_early = (trainer.state.global_step < trainer.state.max_steps
                     and not any(getattr(cb, "converged", False) for cb in callbacks))
    save_final_model(trainer, tokenizer, out_dir, use_lora=cfg.train.use_lora)

    totals = meter.totals()
    cpu_local = torch.tensor([totals["cpu_s"]], dtype=torch.float64,
                             device=trainer.accelerator.device)
    cpu_all = trainer.accelerator.gather(cpu_local).sum().item()
    nproc = trainer.accelerator.num_processes
    cost = device_cost(totals["wall_s"], num_processes=nproc, device=_device_name(),
                       rollout_server_gpus=cfg.train.rollout_server_gpus)
    metrics = {
        "method": method,
        "reward": reward.__name__,
        "reward_params": dict(getattr(reward, "params", {})),
        "wall_s": totals["wall_s"],
        "cpu_s": cpu_all,  # all processes, children included (the rollout server's not)
        "num_processes": nproc,
        "device": _device_name(),
        # accelerator-seconds: training processes + the separate vLLM server's GPUs
        # (hmpo.training.cost)
        "device_s": cost["device_s"],
        "devices_counted": cost["devices_counted"],
        "resumed_from_step": (resume_step // ups) if resume_step is not None else None,
        "rollout_steps": trainer.state.global_step // ups,
        "optimizer_steps": trainer.state.global_step,
        "updates_per_step": ups,
        "completed": not stopped_early,
        "n_train_prompts": len(dataset),
        "n_prompts_dropped_too_long": n_dropped,
        "time_per_step_s": _step_times(trainer.state.log_history),
        "final": _final_metrics(trainer.state.log_history),
    }
    if trainer.accelerator.is_main_process:
        results_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
        (results_dir / "metrics.json").write_text(text)
        if not stopped_early and not keep_checkpoints:
            for ckpt in out_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
                shutil.rmtree(ckpt, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return metrics


def trainer_is_main() -> bool:
    """Rank 0 of a launch (before the trainer exists: from the launcher's environment)."""
    return int(os.environ.get("RANK", "0")) == 0


def _device_name() -> str:
    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)}"
    return "cpu"


def save_final_model(trainer: GRPOTrainer, tokenizer, out_dir: Path, *, use_lora: bool) -> None:
    """Save a plain Hugging Face model folder (LoRA adapters merged into the weights)."""
    if use_lora:
        if trainer.accelerator.is_main_process:
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            merged.save_pretrained(str(out_dir))
            tokenizer.save_pretrained(str(out_dir))
        trainer.accelerator.wait_for_everyone()
    else:
        trainer.save_model(str(out_dir))  # gathers ZeRO-3 shards; saves the tokenizer too

"""Stage `train`: HMPO (and every comparison reward) trained with TRL's GRPOTrainer.

Run one method (CPU, the profile named in params.yaml)::

    python -m hmpo.training.grpo --method hmpo
    python -m hmpo.training.grpo --method grpo --profile smoke

On GPUs (the paper profiles; vLLM rollouts come from a separate server, configs/vllm/)::

    accelerate launch --config_file configs/accelerate/multi_gpu.yaml \\
        -m hmpo.training.grpo --method hmpo --profile qwen3.5-9b-lora

From a notebook, any method (the multi-stage baseline included):
``hmpo.training.methods.train_method(load_config("params.yaml"), "hmpo")``. The multi-stage baseline
has its own entry point, ``python -m hmpo.training.multistage`` (it sits above this trainer).

How HMPO differs from plain GRPO: only in the reward. GRPO's advantage
``(r - mean_group) / std_group``, the DAPO clip (0.2 / 0.28), the dual clip, the token-mean
loss and the KL loss are TRL's, unchanged. The reward of a rollout depends on the *other*
rollouts of its prompt (HMPO's budget is the median length of the group's correct rollouts),
so it is computed by :class:`HMPOTrainer` on the whole gathered batch, after TRL's
cross-process gather, never on one process's slice: under data parallelism a prompt's group
can straddle processes.

Mapping of the released recipe onto TRL (GRPOConfig, see :func:`grpo_config_kwargs`): clip
``epsilon``/``epsilon_high``, dual clip c -> ``delta`` (it caps the ratio of negative-advantage
tokens, as verl's ``clip_ratio_c``), token-mean loss -> ``loss_type="dapo"``, the low-variance
KL loss -> ``beta`` (TRL's k3 estimator), PPO mini-batch -> ``gradient_accumulation_steps``
with ``steps_per_generation`` micro-batches per rollout step. Not reproduced: the authors' second
KL term *in the reward* (0.001), which TRL does not have; the response length counts EOS
(``train.count_eos_in_length``, default true, as the authors count every generated token).

Every TRL default that the released verl run does not share is set explicitly
(:data:`RELEASED_GRPO_FIELDS`: no vLLM importance-sampling correction, no policy ratio on the
KL term, ...). A rollout that hits ``max_completion_length`` without EOS has no answer (reward
of a wrong one), as in evaluation (:func:`hmpo.task.prompts.rollout_verdict`).

Outputs: ``models/<method>/`` (HF model dir, plus ``checkpoint-*`` while running; a rerun
resumes from the last one if ``hmpo_fingerprint.json`` says the same config, base model and
data made it, and otherwise starts over with a warning), ``results/train/<method>/live/``
(dvclive per-step metrics), ``results/train/<method>/metrics.json`` (final metrics, the run's
machine-seconds and ``devices_counted``: hmpo.training.cost) and
``results/train/<method>/config.resolved.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import gather, gather_object
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint
from trl import GRPOConfig, GRPOTrainer
from trl.models import unwrap_model_for_generation
from trl.trainer.utils import pad

from hmpo.config import Config, TrainConfig, load_config, write_resolved
from hmpo.models.generate import sample_ids
from hmpo.task.prompts import rollout_verdict
from hmpo.training.cost import cpu_seconds, device_cost
from hmpo.training.fingerprint import (
    fingerprint_matches,
    path_fingerprint,
    reuse_or_reset,
    write_fingerprint,
)
from hmpo.training.progress import advance
from hmpo.training.rewards import Reward, get_reward, group_stats

CorrectFn = Callable[[str, str], bool]

#: Columns the trainer needs in each training record (besides ``prompt``).
ID_COLUMN, ANSWER_COLUMN = "id", "answer"
COST_FILE = "hmpo_cost.json"  # written into every checkpoint: the machine-seconds spent so far


# --------------------------------------------------------------------------- pure helpers
def completion_lengths(completion_ids: Sequence[Sequence[int]], eos_token_ids: Sequence[int],
                       *, count_eos: bool = True) -> np.ndarray:
    """Length ``n_i`` in tokens of each completion, as the reward sees it.

    TRL's completion ids end at (and include) the first EOS token, or at the length limit.
    ``count_eos=True`` counts every generated token, EOS included (the authors' code counts
    the response length as generated); ``False`` drops a final EOS.

    >>> completion_lengths([[5, 6, 2], [5, 6, 7]], [2]).tolist()
    [3, 3]
    >>> completion_lengths([[5, 6, 2], [5, 6, 7]], [2], count_eos=False).tolist()
    [2, 3]
    """
    eos = set(int(e) for e in eos_token_ids)
    out = np.empty(len(completion_ids), dtype=np.int64)
    for i, ids in enumerate(completion_ids):
        n = len(ids)
        if not count_eos and n and int(ids[-1]) in eos:
            n -= 1
        out[i] = n
    return out


def rollout_group_ids(prompt_keys: Sequence[Any], num_generations: int) -> np.ndarray:
    """Group index of each rollout of a gathered batch: consecutive blocks of G rollouts.

    TRL's sampler (``RepeatSampler``) lays a generation batch out as G copies of each
    prompt in a row, and its advantage normalisation groups ``rewards.view(-1, G)``; the
    reward must use exactly these groups. Each block must carry one prompt key (the dataset
    ``id``), which is checked, so a broken layout fails loudly instead of mixing groups. Two
    blocks with the same key (a prompt drawn twice) stay two groups: ids are never merged.

    >>> rollout_group_ids(["a", "a", "b", "b", "a", "a"], 2).tolist()
    [0, 0, 1, 1, 2, 2]
    """
    if num_generations < 1:
        raise ValueError(f"num_generations must be >= 1, got {num_generations}")
    n = len(prompt_keys)
    if n % num_generations:
        raise ValueError(f"prompt_keys: {n} rollouts are not whole groups of {num_generations}")
    for start in range(0, n, num_generations):
        block = prompt_keys[start:start + num_generations]
        if any(k != block[0] for k in block):
            raise ValueError(f"prompt_keys: rollouts {start}..{start + num_generations - 1} mix "
                             f"prompts {sorted(set(map(str, block)))}; TRL's group layout broke")
    return np.arange(n, dtype=np.int64) // num_generations


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = []
        for m in completion:
            content = m.get("content", "") if isinstance(m, dict) else str(m)
            if isinstance(content, list):  # content blocks
                content = "".join(b.get("text", "") for b in content if isinstance(b, dict))
            parts.append(content or "")
        return "".join(parts)
    raise ValueError(f"completion: expected a string or a list of messages, got {type(completion)}")


def default_correct_fn() -> CorrectFn:
    """``hmpo.task.verify.verify`` (imported lazily: math-verify is only needed when training)."""
    from hmpo.task.verify import verify

    return verify


def completion_finished(completion_ids: Sequence[Sequence[int]],
                        eos_token_ids: Sequence[int]) -> np.ndarray:
    """Whether each completion ended on EOS (False: it hit ``max_completion_length``).

    >>> completion_finished([[5, 2], [5, 6], []], [2]).tolist()
    [True, False, False]
    """
    eos = set(int(e) for e in eos_token_ids)
    return np.array([bool(ids) and int(ids[-1]) in eos for ids in completion_ids], dtype=bool)


def prompt_text(prompt: Any) -> str:
    """The text of a TRL prompt (a string, or a conversational list of messages)."""
    return completion_text(prompt)


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


# --------------------------------------------------------------------------- the trainer
class HMPOTrainer(GRPOTrainer):
    """TRL's ``GRPOTrainer`` with a group-aware length reward computed on the gathered batch.

    What differs from ``GRPOTrainer`` -- the reward hook,
    ``_calculate_rewards(inputs, prompts, completions, completion_ids_list)``:

    - TRL calls each reward function on the process-local slice of completions and gathers
      the results. A group statistic (HMPO's median-of-correct budget, Kimi's min/max, ...)
      computed on a slice is wrong whenever a prompt's G rollouts straddle processes.
    - Here each process computes what is local and cheap -- correctness
      ``correct_fn(completion_text, record["answer"])`` and the length in tokens
      (:func:`completion_lengths`) -- then correctness, lengths and prompt ids are gathered,
      and ``reward(correct, lengths, group_ids)`` (a :mod:`hmpo.training.rewards` reward) runs once on
      the whole batch with the groups TRL's advantages use (:func:`rollout_group_ids`). The
      hook returns the gathered ``(N, 1)`` reward tensor TRL expects, so advantages, clipping,
      loss and KL are TRL's own.

    Two optional CPU speed paths, off unless the config turns them on (the default profile
    does; the paper profiles run TRL's own): ``drop_finished_rollouts`` samples TRL's
    transformers rollouts with :func:`hmpo.models.generate.sample_ids` (same distribution, finished
    rows leave the batch), and ``forward_chunk_rows`` runs the reference and update log-prob
    passes in length-sorted chunks cut to their own columns (same values up to rounding).

    It also logs, per rollout step, the reward components, accuracy, mean/median length, the
    mean budget b and the fraction of groups without a correct rollout (``hmpo/*``), and the
    step time split into generation / reward / reference+old log-probs / update (``time/*``;
    ``_generate`` and ``_generate_and_score_completions`` are wrapped by timers only).
    """

    def __init__(self, model, reward: Reward, *, correct_fn: CorrectFn | None = None,
                 count_eos_in_length: bool = True, drop_finished_rollouts: bool = False,
                 forward_chunk_rows: int | None = None, **kwargs):
        if not callable(reward) or not hasattr(reward, "components"):
            raise ValueError(f"reward: expected a hmpo.training.rewards reward (get_reward(...)), "
                             f"got {reward!r}")
        if "reward_funcs" in kwargs:
            raise ValueError("reward_funcs: HMPOTrainer takes one `reward` from hmpo.training.rewards")
        super().__init__(model, reward_funcs=[reward], **kwargs)
        self.reward = reward
        self.correct_fn = correct_fn if correct_fn is not None else default_correct_fn()
        self.count_eos_in_length = count_eos_in_length
        self.drop_finished_rollouts = drop_finished_rollouts
        if forward_chunk_rows is not None and forward_chunk_rows < 1:
            raise ValueError(f"forward_chunk_rows must be >= 1 or None, got {forward_chunk_rows}")
        self.forward_chunk_rows = forward_chunk_rows
        self._time_acc: dict[str, float] = defaultdict(float)
        self.add_callback(_StepTimer(self))

    @property
    def updates_per_step(self) -> int:
        """Optimizer updates per rollout step (TRL generates once per this many)."""
        a = self.args
        return max(1, a.steps_per_generation * self.num_iterations // a.gradient_accumulation_steps)

    def _generate(self, prompts: list):  # timer only
        t0 = time.perf_counter()
        try:
            return super()._generate(prompts)
        finally:
            self._time_acc["generation"] += time.perf_counter() - t0

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations,
                              has_tool_images=False):
        """TRL's transformers rollout, sampled by :func:`hmpo.models.generate.sample_ids` when
        ``train.drop_finished_rollouts`` is on (text-only prompts; vLLM keeps TRL's path).

        Same inputs as TRL's regular path (prompts left-padded, the model unwrapped and
        gathered for generation), same distribution (plain temperature sampling, TRL's EOS
        ids, ``max_completion_length``) and the same return value (per row, the ids up to and
        including the first EOS; no sampling log-probs), but finished rows leave the batch.
        """
        if (not self.drop_finished_rollouts or self.use_vllm or images is not None
                or self.use_transformers_continuous_batching or any(
                    v is not None for v in (multimodal_fields or {}).values())):
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields,
                                                 num_generations, has_tool_images)
        device = self.accelerator.device
        tensors = [torch.tensor(ids) for ids in prompt_ids]
        input_ids = pad(tensors, padding_value=self._tokenizer.pad_token_id,
                        padding_side="left", pad_to_multiple_of=self.pad_to_multiple_of)
        mask = pad([torch.ones_like(t) for t in tensors], padding_value=0, padding_side="left",
                   pad_to_multiple_of=self.pad_to_multiple_of)
        with (unwrap_model_for_generation(
                  self.model_wrapped, self.accelerator,
                  gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                  generation_kwargs=self.generation_kwargs,
                  gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
              ) as unwrapped_model,
              torch.no_grad(),
              self._dist.summon_full_params(self.model_wrapped, recurse=False)):
            completion_ids = sample_ids(
                unwrapped_model, input_ids.to(device), mask.to(device),
                max_new_tokens=self.max_completion_length,
                eos_token_ids=list(self.eos_token_ids), temperature=self.temperature)
        return completion_ids, None

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask,
                                           logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False,
                                           **multimodal):
        """TRL's log-prob pass, run in length-sorted chunks of ``train.forward_chunk_rows``
        rows, each cut to its own columns (None: TRL's passes over the padded batch).

        TRL pads every row of a batch to the longest prompt (left) and the longest completion
        (right) and computes every padded position. Here the rows are sorted by completion
        length and each chunk drops the columns that are padding in all of its rows: left
        prompt padding and completion columns past the chunk's longest completion. The
        positions computed for a row are its own tokens' and the kept padding's; a row's
        log-probs are unchanged up to float rounding (padding is masked; the rotary
        position code sees only relative positions, which a cut of left columns keeps). The
        cut positions come back as 0, under a completion mask of 0, so the loss, the KL term
        and the logged entropy ignore them as they ignore TRL's padded positions.
        """
        rows = self.forward_chunk_rows
        if rows is None or compute_aux_loss or any(v is not None for v in multimodal.values()):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss,
                **multimodal)
        n_prompt = input_ids.size(1) - logits_to_keep
        completion_len = attention_mask[:, n_prompt:].sum(dim=1)
        order = torch.argsort(completion_len, stable=True)
        logps, ents = [], []
        for start in range(0, input_ids.size(0), rows):
            idx = order[start:start + rows]
            keep = max(1, int(completion_len[idx].max()))
            used = attention_mask[idx, :n_prompt].any(dim=0).nonzero()
            first = int(used[0, 0]) if used.numel() else n_prompt
            lp, ent, _ = super()._get_per_token_logps_and_entropies(
                model, input_ids[idx, first:n_prompt + keep],
                attention_mask[idx, first:n_prompt + keep], keep,
                compute_entropy=compute_entropy)
            logps.append(torch.nn.functional.pad(lp, (0, logits_to_keep - keep)))
            if compute_entropy:
                ents.append(torch.nn.functional.pad(ent, (0, logits_to_keep - keep)))
        inverse = torch.argsort(order)
        return (torch.cat(logps)[inverse],
                torch.cat(ents)[inverse] if compute_entropy else None, None)

    def _generate_and_score_completions(self, inputs):  # timer only
        t0 = time.perf_counter()
        try:
            return super()._generate_and_score_completions(inputs)
        finally:
            self._time_acc["scoring"] += time.perf_counter() - t0

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        t0 = time.perf_counter()
        device = self.accelerator.device
        mode = "train" if self.model.training else "eval"
        num_generations = self.num_generations if mode == "train" else self.num_generations_eval
        for col in (ID_COLUMN, ANSWER_COLUMN):
            if col not in inputs[0]:
                raise ValueError(f"train_dataset: every record needs a {col!r} column")

        # Local and cheap: verify this process's completions, measure their lengths. A
        # rollout cut at max_completion_length (no EOS) has no answer, whatever its text
        # holds: 1 correct, 0 wrong, -1 no answer (hmpo.task.prompts.rollout_verdict).
        finished = completion_finished(completion_ids_list, self.eos_token_ids)
        verdict_local = [
            rollout_verdict(self.correct_fn, completion_text(c), str(x[ANSWER_COLUMN]),
                            finished=bool(f), prompt=prompt_text(p))
            for c, x, f, p in zip(completions, inputs, finished, prompts, strict=True)]
        lengths_local = completion_lengths(completion_ids_list, self.eos_token_ids,
                                           count_eos=self.count_eos_in_length)
        # Gather in process order: the same order TRL gathers rewards and forms groups in.
        verdict = gather(torch.tensor(verdict_local, dtype=torch.long, device=device))
        lengths = gather(torch.as_tensor(lengths_local, dtype=torch.long, device=device))
        verdict, lengths = verdict.cpu().numpy(), lengths.cpu().numpy()
        keys = gather_object([str(x[ID_COLUMN]) for x in inputs])
        group_ids = rollout_group_ids(keys, num_generations)

        correct = verdict == 1
        parts = self.reward.components(verdict, lengths, group_ids)
        rewards = np.asarray(parts["total"], dtype=np.float64)
        self._log_reward_metrics(mode, parts, correct, lengths, group_ids)
        self._time_acc["reward"] += time.perf_counter() - t0
        return torch.as_tensor(rewards, dtype=torch.float32, device=device).unsqueeze(1)

    def _log_reward_metrics(self, mode: str, parts: dict, correct: np.ndarray,
                            lengths: np.ndarray, group_ids: np.ndarray) -> None:
        m = self._metrics[mode]
        name = self.reward.__name__
        for k, v in parts.items():
            if k != "total":
                m[f"rewards/{name}/{k}"].append(float(np.mean(v)))
        params = getattr(self.reward, "params", {})
        budget = params.get("budget", "median")  # non-HMPO rewards: HMPO's b as a diagnostic
        fixed = params.get("fixed_budget_tokens") if budget == "fixed" else None
        stats = group_stats(correct, lengths, group_ids, budget=budget, fixed_budget_tokens=fixed)
        m["hmpo/accuracy"].append(float(correct.mean()))
        m["hmpo/length_mean"].append(float(lengths.mean()))
        m["hmpo/length_median"].append(float(np.median(lengths)))
        m["hmpo/length_correct_mean"].append(
            float(lengths[correct].mean()) if correct.any() else math.nan)
        m["hmpo/budget_tokens_mean"].append(stats.mean_budget_tokens)
        m["hmpo/frac_groups_no_correct"].append(stats.frac_no_correct)


class _StepTimer(TrainerCallback):
    """Splits each rollout step's wall time into generation / reward / reference / update."""

    def __init__(self, trainer: HMPOTrainer):
        self.trainer = trainer
        self.t0: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.t0 is None:
            self.t0 = time.perf_counter()
            self.trainer._time_acc.clear()

    def on_step_end(self, args, state, control, **kwargs):
        if self.t0 is None or state.global_step % self.trainer.updates_per_step:
            return
        total = time.perf_counter() - self.t0
        acc = self.trainer._time_acc
        m = self.trainer._metrics["train"]
        m["time/step_s"].append(total)
        m["time/generation_s"].append(acc["generation"])
        m["time/reward_s"].append(acc["reward"])
        ref = acc["scoring"] - acc["generation"] - acc["reward"]  # ref / old log-prob passes
        m["time/reference_logps_s"].append(max(0.0, ref))
        m["time/update_s"].append(max(0.0, total - acc["scoring"]))
        self.t0 = None


# --------------------------------------------------------------------------- logging / cost
def _metric_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_./-]+", "_", key).strip("_")


def _truncate_live_history(live_dir: Path, max_step: int) -> None:
    """Drop dvclive rows logged after the checkpoint a run resumes from (they will be redone)."""
    for tsv in (live_dir / "plots" / "metrics").rglob("*.tsv"):
        lines = tsv.read_text().splitlines()
        if not lines:
            continue
        head, rows = lines[0].split("\t"), lines[1:]
        if "step" not in head:
            continue
        i = head.index("step")
        keep = [r for r in rows if int(float(r.split("\t")[i])) <= max_step]
        tsv.write_text("\n".join([lines[0], *keep]) + "\n")


class LiveLogger(TrainerCallback):
    """Writes every logged TRL/HMPO metric to dvclive in ``<results_dir>/live`` (main process).

    The dvclive step is the rollout step (TRL's optimizer step / updates per rollout step).
    On resume the history after the checkpoint is dropped and logging continues from there.
    """

    def __init__(self, live_dir: str | Path, *, updates_per_step: int, resume_step: int | None):
        self.live_dir = Path(live_dir)
        self.updates_per_step = updates_per_step
        self.resume_step = resume_step
        self.live = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from dvclive import Live

        resume = self.resume_step is not None and (self.live_dir / "plots").exists()
        if resume:
            _truncate_live_history(self.live_dir, self.resume_step // self.updates_per_step)
        self.live = Live(dir=str(self.live_dir), resume=resume, save_dvc_exp=False, dvcyaml=False)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.live is None or not logs:
            return
        self.live.step = state.global_step // self.updates_per_step
        for k, v in logs.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v is not None:
                self.live.log_metric(_metric_name(k), float(v))
        self.live.make_summary()

    def on_train_end(self, args, state, control, **kwargs):
        if self.live is not None:
            self.live.make_summary()
            self.live = None


class StepProgress(TrainerCallback):
    """Reports each finished rollout step to :func:`hmpo.training.progress.advance` (the stage's bar).

    A resumed run reports the steps its checkpoint already holds when training begins.
    """

    def __init__(self, updates_per_step: int):
        self.updates_per_step = updates_per_step

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            advance(state.global_step // self.updates_per_step)

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero and state.global_step % self.updates_per_step == 0:
            advance(1)


class CostMeter(TrainerCallback):
    """Machine-seconds of a run, carried through checkpoints so a resumed run adds up.

    Each checkpoint gets ``hmpo_cost.json`` with the wall and CPU seconds spent up to it; a
    run resumed from it starts from those totals. Work done after the last checkpoint of a
    killed run is lost and not counted (it is redone, and counted, by the resumed run).
    """

    def __init__(self, prior: dict[str, float] | None = None):
        self.prior = dict(prior or {"wall_s": 0.0, "cpu_s": 0.0})
        self.wall0 = time.time()
        self.cpu0 = cpu_seconds()

    def totals(self) -> dict[str, float]:
        return {"wall_s": self.prior["wall_s"] + time.time() - self.wall0,
                "cpu_s": self.prior["cpu_s"] + cpu_seconds() - self.cpu0}

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            ckpt = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            if ckpt.is_dir():
                (ckpt / COST_FILE).write_text(json.dumps(self.totals()) + "\n")


# --------------------------------------------------------------------------- config mapping
#: GRPOConfig fields whose TRL 1.16 default is not what the released verl run does, or that
#: decide what the paper measures, set explicitly (the README's GRPOConfig table lists them
#: with the released values). Fields that come from the config (clip, beta, lr, ...) are
#: mapped in :func:`grpo_config_kwargs`.
RELEASED_GRPO_FIELDS: dict[str, Any] = {
    # TRL default True: a sequence-level importance ratio between the vLLM sampler and the
    # trainer, masked above 3, drops or reweights rollouts by length. verl 0.7.1 as released:
    # no rollout importance-sampling correction.
    "vllm_importance_sampling_correction": False,
    # TRL default True multiplies the KL term by the policy ratio; verl's low_var_kl has none.
    "use_bias_correction_kl": False,
    "importance_sampling_level": "token",  # verl's PPO ratio is per token
    "top_entropy_quantile": 1.0,  # every token carries the loss
    "entropy_coef": 0.0,  # released: entropy bonus 0
    "use_adaptive_entropy": False,
    "off_policy_mask_threshold": None,
    "sync_ref_model": False,  # a fixed reference model (the base), as released
    "scale_rewards": "group",  # GRPO: (r - mean_group) / std_group
    "multi_objective_aggregation": "sum_then_normalize",  # one reward: plain GRPO advantage
    "reward_weights": None,
    # the authors keep truncated rollouts in the loss; their verdict is "no answer" (hmpo.task.prompts)
    "mask_truncated_completions": False,
    "disable_dropout": False,  # the models' own dropout (0 for Qwen3/3.5, the tiny model)
    "cast_lm_head_to_fp32": False,
    "top_p": 1.0,  # plain temperature sampling, as the rollout settings released
    "top_k": 0,
    "min_p": None,
    "repetition_penalty": 1.0,
    "max_grad_norm": 1.0,  # verl's actor grad_clip default
    "warmup_steps": 0,  # constant lr, as released
    "weight_decay": 0.0,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
}


def training_seed(cfg: Config) -> int:
    """The seed of a training run: TRL's ``seed``/``data_seed`` and the prompt order the
    multi-stage baseline samples (:func:`grpo_prompt_order`). One place, so both agree."""
    return cfg.seed


def _cuda_available() -> bool:
    return torch.cuda.is_available()


def grpo_config_kwargs(cfg: Config, out_dir: str | Path, *, num_processes: int | None = None,
                       cuda: bool | None = None, progress: bool = True) -> dict[str, Any]:
    """The ``GRPOConfig`` keyword arguments for ``cfg.train`` (a pure mapping, no TRL import).

    ``num_processes`` (default: the launcher's ``WORLD_SIZE``, else 1) fixes the batch
    geometry (:meth:`TrainConfig.geometry`); step counts in ``cfg.train`` are rollout steps
    and are converted to TRL optimizer steps. ``cuda`` (default: detected) decides
    ``use_cpu``; bf16 without CUDA is an error rather than a silent fp32 run. ``progress``
    keeps the trainer's progress bar (else it prints its log lines instead).
    """
    t: TrainConfig = cfg.train
    if num_processes is None:
        num_processes = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = _cuda_available() if cuda is None else cuda
    if t.bf16 and not cuda:
        raise ValueError("train.bf16: bf16 training needs CUDA; this machine has none "
                         "(CPU profiles set bf16 false)")
    if t.use_vllm and not cuda:
        raise ValueError("train.use_vllm: vLLM generation needs CUDA")
    geo = t.geometry(num_processes)
    ups = geo["updates_per_step"]
    kw: dict[str, Any] = {
        "output_dir": str(out_dir),
        "seed": training_seed(cfg),
        "data_seed": training_seed(cfg),
        "use_cpu": not cuda,
        "bf16": t.bf16,
        "fp16": False,
        "model_init_kwargs": {"dtype": "bfloat16" if t.bf16 else "float32"},
        # batch geometry: prompts_per_step x G completions per rollout step
        "per_device_train_batch_size": t.per_device_train_batch_size,
        "gradient_accumulation_steps": geo["gradient_accumulation_steps"],
        "steps_per_generation": geo["steps_per_generation"],
        "num_generations": t.num_generations,
        "num_iterations": t.num_iterations,
        "max_steps": t.max_steps * ups if t.max_steps > 0 else -1,
        "num_train_epochs": t.num_train_epochs,
        # sampling
        "max_completion_length": t.max_completion_length,
        "temperature": t.temperature,
        # optimisation (Adam, constant lr, as released)
        "learning_rate": t.learning_rate,
        "lr_scheduler_type": t.lr_scheduler_type,
        "activation_checkpointing": t.gradient_checkpointing,  # transformers 5 name
        # GRPO / DAPO loss
        "beta": t.beta,
        "epsilon": t.epsilon,
        "epsilon_high": t.epsilon_high,
        "delta": t.dual_clip,
        "loss_type": t.loss_type,
        "shuffle_dataset": t.shuffle_dataset,
        **RELEASED_GRPO_FIELDS,
        "remove_unused_columns": False,  # keep `id` and `answer` for the reward
        # generation backend
        "use_vllm": t.use_vllm,
        # checkpoints and logs (rollout steps -> optimizer steps)
        "save_strategy": "steps",
        "save_steps": t.save_steps * ups,
        "save_total_limit": t.save_total_limit,
        "logging_steps": t.logging_steps * ups,
        "logging_first_step": True,
        "report_to": "none",  # dvclive via LiveLogger, into results/train/<method>/live
        "log_completions": False,
        "disable_tqdm": not progress,
        "dataloader_num_workers": 0,
    }
    if t.use_vllm:
        kw.update({
            "vllm_mode": t.vllm_mode,
            "vllm_max_model_length": t.max_prompt_length + t.max_completion_length,
        })
        if t.vllm_mode == "colocate":
            kw.update({"vllm_gpu_memory_utilization": t.vllm_gpu_memory_utilization,
                       "vllm_tensor_parallel_size": t.vllm_tensor_parallel_size})
        elif t.vllm_server_base_url:
            kw["vllm_server_base_url"] = t.vllm_server_base_url
    return kw


def build_grpo_config(cfg: Config, out_dir: str | Path, **kwargs) -> GRPOConfig:
    """``GRPOConfig(**grpo_config_kwargs(cfg, out_dir, **kwargs))``."""
    return GRPOConfig(**grpo_config_kwargs(cfg, out_dir, **kwargs))


def peft_config(t: TrainConfig):
    """The LoRA ``peft.LoraConfig`` for ``train.use_lora`` (None for full fine-tuning)."""
    if not t.use_lora:
        return None
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", r=t.lora_r, lora_alpha=t.lora_alpha,
                      lora_dropout=t.lora_dropout, target_modules=list(t.lora_target_modules))


# --------------------------------------------------------------------------- data
def _build_prompt(text: str, style: str, tokenizer) -> str:
    from hmpo.task.prompts import build_prompt

    return build_prompt(text, style, tokenizer)


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
            prompt = _build_prompt(rec["prompt"], prompt_style, tokenizer)
            if _prompt_tokens(prompt, tokenizer) > max_prompt_length:
                dropped += 1
                continue
            rows.append({"prompt": prompt, ID_COLUMN: str(rec["id"]),
                         ANSWER_COLUMN: str(rec["answer"])})
    if not rows:
        raise ValueError(f"train_path: no usable prompt in {path} "
                         f"({dropped} longer than train.max_prompt_length={max_prompt_length})")
    return Dataset.from_list(rows), dropped


# --------------------------------------------------------------------------- entry points
def run_fingerprint(cfg: Config, method: str, reward: Reward, model_dir: str | Path,
                    train_path: str | Path) -> dict:
    """What made a run's outputs: must match for ``out_dir`` to be resumed (else it restarts).

    The config values that shape training, the reward, and the *contents* of the starting
    model and of the training data (a retrained base model in the same folder is another run).
    """
    return {"method": method, "reward": repr(reward), "train": cfg.to_dict()["train"],
            "seed": training_seed(cfg), "prompt_style": cfg.base_model.prompt_style,
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
                out[_metric_name(k)] = float(v)
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
    return {k: float(np.mean([r[f"time/{k}"] for r in rows])) for k in keys} | {"n_rows": len(rows)}


def run_grpo(cfg: Config, reward: Reward, *, model_dir: str | Path, train_path: str | Path,
             out_dir: str | Path, results_dir: str | Path, method: str,
             correct_fn: CorrectFn | None = None, callbacks: Sequence[TrainerCallback] = (),
             keep_checkpoints: bool = False, live: bool = True,
             keep: tuple[str, ...] = (), progress: bool = True) -> dict[str, Any]:
    """Train ``model_dir`` with ``reward`` on ``train_path``; write the model and metrics.

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
    run_fp = run_fingerprint(cfg, method, reward, model_dir, train_path)
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

    args = build_grpo_config(cfg, out_dir, progress=progress)
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
        trainer.add_callback(LiveLogger(results_dir / "live", updates_per_step=ups,
                                        resume_step=resume_step))
    for cb in callbacks:
        trainer.add_callback(cb)
    if trainer.accelerator.is_main_process:
        write_fingerprint(out_dir, run_fp)
        write_resolved(cfg, results_dir)

    trainer.train(resume_from_checkpoint=last)
    stopped_early = trainer.state.global_step < trainer.state.max_steps
    _save_final_model(trainer, tokenizer, out_dir, use_lora=cfg.train.use_lora)

    totals = meter.totals()
    cpu_all = trainer.accelerator.gather(torch.tensor([totals["cpu_s"]], dtype=torch.float64,
                                                      device=trainer.accelerator.device)).sum().item()
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
        # accelerator-seconds: training processes + the separate vLLM server's GPUs (hmpo.training.cost)
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


def _save_final_model(trainer: GRPOTrainer, tokenizer, out_dir: Path, *, use_lora: bool) -> None:
    """Save a plain Hugging Face model folder (LoRA adapters merged into the weights)."""
    if use_lora:
        if trainer.accelerator.is_main_process:
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            merged.save_pretrained(str(out_dir))
            tokenizer.save_pretrained(str(out_dir))
        trainer.accelerator.wait_for_everyone()
    else:
        trainer.save_model(str(out_dir))  # gathers ZeRO-3 shards; saves the tokenizer too


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, help="a key of `methods` in params.yaml")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--profile", default=None, help="override params.yaml's `profile`")
    p.add_argument("--model-dir", default="models/base")
    p.add_argument("--train-path", default="data/processed/train.jsonl")
    p.add_argument("--out-dir", default=None)
    p.add_argument("--results-dir", default=None)
    p.add_argument("--vllm-server-base-url", default=None,
                   help="train.vllm_server_base_url for this launch (e.g. http://node5:8000)")
    a = p.parse_args(argv)
    from hmpo.training.methods import resolve_method  # interim: the CLI moves to methods
    # the method's steps (steps_factor) and fixed budget (budget_percentile), as in the pipeline
    cfg = resolve_method(load_config(a.params, profile=a.profile), a.method)
    if a.vllm_server_base_url:
        cfg.train.vllm_server_base_url = a.vllm_server_base_url
    m = cfg.methods[a.method]
    if m.multistage:  # the baseline sits above this trainer: its own entry point
        raise ValueError(f"method: {a.method!r} is the multi-stage baseline; run "
                         f"`python -m hmpo.training.multistage --method {a.method}`")
    metrics = run_grpo(cfg, get_reward(m.reward, **m.params), model_dir=a.model_dir,
                       train_path=a.train_path, method=a.method,
                       out_dir=a.out_dir or Path("models") / a.method,
                       results_dir=a.results_dir or Path("results/train") / a.method)
    print(json.dumps({k: v for k, v in metrics.items() if k != "final"}, indent=2))
    return metrics


if __name__ == "__main__":
    main()

"""HMPOTrainer: TRL's ``GRPOTrainer`` with a group-aware reward on the gathered batch.

How HMPO differs from plain GRPO: only in the reward. GRPO's advantage
``(r - mean_group) / std_group``, the DAPO clip, the dual clip, the token-mean loss and the
KL loss are TRL's, unchanged. The reward of a rollout depends on the *other* rollouts of its
prompt (HMPO's budget is the median length of the group's correct rollouts), so
:class:`HMPOTrainer` computes it on the whole gathered batch, after TRL's cross-process
gather, never on one process's slice: under data parallelism a prompt's group can straddle
processes. The pure helpers below are what its reward hook needs (lengths, groups, texts).

Built and run by :func:`hmpo.training.grpo.run_grpo`; the ``GRPOConfig`` it takes comes from
:mod:`hmpo.training.grpo_config`, its callbacks from :mod:`hmpo.training.callbacks`.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from accelerate.utils import gather, gather_object
from trl import GRPOTrainer
from trl.models import unwrap_model_for_generation
from trl.trainer.utils import pad

from hmpo.models.generate import sample_ids
from hmpo.task.prompts import rollout_verdict
from hmpo.training.callbacks import StepTimer
from hmpo.training.rewards import Reward, group_stats

CorrectFn = Callable[[str, str], bool]

#: Columns the trainer needs in each training record (besides ``prompt``).
ID_COLUMN, ANSWER_COLUMN = "id", "answer"


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


def check_forward_chunk_rows(rows: Any) -> None:
    """``train.forward_chunk_rows`` must be None (TRL's one pass) or a whole number >= 1.

    >>> check_forward_chunk_rows(0)
    Traceback (most recent call last):
    ...
    ValueError: forward_chunk_rows must be a whole number >= 1 or None, got 0
    """
    if rows is None:
        return
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"forward_chunk_rows must be a whole number >= 1 or None, got {rows!r}")


# --------------------------------------------------------------------------- the trainer
class HMPOTrainer(GRPOTrainer):
    """TRL's ``GRPOTrainer`` with a group-aware length reward computed on the gathered batch.

    Hooks of ``GRPOTrainer`` it overrides (everything else -- sampling layout, advantages,
    clipping, loss, KL, checkpoints -- is TRL's own):

    - ``_calculate_rewards(inputs, prompts, completions, completion_ids_list)``, the one that
      makes it HMPO. TRL calls each reward function on the process-local slice of
      completions and gathers the results; a group statistic (HMPO's median-of-correct
      budget, Kimi's min/max, ...) computed on a slice is wrong whenever a prompt's G
      rollouts straddle processes. Here each process computes what is local and cheap --
      the verdict ``correct_fn(completion_text, record["answer"])`` and the length in tokens
      (:func:`completion_lengths`) -- then verdicts, lengths and prompt ids are gathered, and
      ``reward(verdict, lengths, group_ids)`` (a :mod:`hmpo.training.rewards` reward) runs
      once on the whole batch with the groups TRL's advantages use
      (:func:`rollout_group_ids`). It returns the gathered ``(N, 1)`` reward tensor TRL
      expects.
    - ``_generate_single_turn`` (only with ``drop_finished_rollouts``): TRL's transformers
      rollouts sampled by :func:`hmpo.models.generate.sample_ids` (same distribution,
      finished rows leave the batch). A CPU speed path, on in the default profile.
    - ``_get_per_token_logps_and_entropies`` (only with ``forward_chunk_rows``): the
      reference and update log-prob passes in length-sorted chunks cut to their own columns
      (same values up to rounding). A CPU speed path, on in the default profile.
    - ``_generate`` and ``_generate_and_score_completions``: wrapped by timers only.

    It also logs, per rollout step, the reward components, accuracy, mean/median length, the
    mean budget b and the fraction of groups without a correct rollout (``hmpo/*``), and the
    step time split into generation / reward / reference+old log-probs / update (``time/*``,
    :class:`hmpo.training.callbacks.StepTimer`).
    """

    def __init__(self, model, reward: Reward, *, correct_fn: CorrectFn | None = None,
                 count_eos_in_length: bool = True, drop_finished_rollouts: bool = False,
                 forward_chunk_rows: int | None = None, **kwargs):
        if not callable(reward) or not hasattr(reward, "components"):
            raise ValueError(f"reward: expected a hmpo.training.rewards reward (get_reward(...)), "
                             f"got {reward!r}")
        if "reward_funcs" in kwargs:
            raise ValueError("reward_funcs: HMPOTrainer takes one `reward` from "
                             "hmpo.training.rewards")
        check_forward_chunk_rows(forward_chunk_rows)  # before TRL loads the model
        super().__init__(model, reward_funcs=[reward], **kwargs)
        self.reward = reward
        self.correct_fn = correct_fn if correct_fn is not None else default_correct_fn()
        self.count_eos_in_length = count_eos_in_length
        self.drop_finished_rollouts = drop_finished_rollouts
        self.forward_chunk_rows = forward_chunk_rows
        self._time_acc: dict[str, float] = defaultdict(float)
        self.add_callback(StepTimer(self))

    @property
    def updates_per_step(self) -> int:
        """Optimizer updates per rollout step (TRL generates once per this many)."""
        a = self.args
        per_generation = a.steps_per_generation * self.num_iterations
        return max(1, per_generation // a.gradient_accumulation_steps)

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
        input_ids, mask = self._left_pad_prompts(prompt_ids)
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

    def _left_pad_prompts(self, prompt_ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)`` of the prompts, left-padded as TRL's regular
        generation path pads them (``GRPOTrainer._generate_single_turn``, trl 1.16: TRL's
        ``trl.trainer.utils.pad`` with the tokenizer's pad id and ``pad_to_multiple_of``)."""
        tensors = [torch.tensor(ids) for ids in prompt_ids]
        input_ids = pad(tensors, padding_value=self._tokenizer.pad_token_id,
                        padding_side="left", pad_to_multiple_of=self.pad_to_multiple_of)
        mask = pad([torch.ones_like(t) for t in tensors], padding_value=0, padding_side="left",
                   pad_to_multiple_of=self.pad_to_multiple_of)
        return input_ids, mask

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

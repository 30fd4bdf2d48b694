"""The ``train:`` config mapped onto TRL: ``GRPOConfig`` keyword arguments and the LoRA config.

Mapping of the released recipe onto TRL (see :func:`grpo_config_kwargs`): clip
``epsilon``/``epsilon_high``, dual clip c -> ``delta`` (it caps the ratio of negative-advantage
tokens, as verl's ``clip_ratio_c``), token-mean loss -> ``loss_type="dapo"``, the low-variance
KL loss -> ``beta`` (TRL's k3 estimator), PPO mini-batch -> ``gradient_accumulation_steps``
with ``steps_per_generation`` micro-batches per rollout step. Not reproduced: the authors' second
KL term *in the reward* (0.001), which TRL does not have; the response length counts EOS
(``train.count_eos_in_length``, default true, as the authors count every generated token).

Every TRL default that the released verl run does not share is set explicitly
(:data:`RELEASED_GRPO_FIELDS`: no vLLM importance-sampling correction, no policy ratio on the
KL term, ...). The training seed is an argument, never read from the config: the top-level
``seed`` fixes the data and evaluation, ``train.seeds`` the RL runs
(:mod:`hmpo.pipeline.train_runs`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from trl import GRPOConfig

from hmpo.config import Config, TrainConfig

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
    # the authors keep truncated rollouts in the loss; their verdict is "no answer"
    # (hmpo.task.prompts)
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


def _cuda_available() -> bool:
    return torch.cuda.is_available()


def grpo_config_kwargs(cfg: Config, out_dir: str | Path, *, seed: int,
                       num_processes: int | None = None, cuda: bool | None = None,
                       progress: bool = True) -> dict[str, Any]:
    """The ``GRPOConfig`` keyword arguments for ``cfg.train`` (a pure mapping, no TRL call).

    ``seed`` is the run's training seed: TRL's ``seed`` and ``data_seed`` (the prompt order
    and every draw TRL seeds). ``num_processes`` (default: the launcher's ``WORLD_SIZE``,
    else 1) fixes the batch geometry (:meth:`TrainConfig.geometry`); step counts in
    ``cfg.train`` are rollout steps and are converted to TRL optimizer steps. ``cuda``
    (default: detected) decides ``use_cpu``; bf16 without CUDA is an error rather than a
    silent fp32 run. ``progress`` keeps the trainer's progress bar (else it prints its log
    lines instead).
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
        "seed": seed,
        "data_seed": seed,
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
        "report_to": "none",  # dvclive via callbacks.LiveLogger, into <results_dir>/live
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


def build_grpo_config(cfg: Config, out_dir: str | Path, *, seed: int, **kwargs) -> GRPOConfig:
    """``GRPOConfig(**grpo_config_kwargs(cfg, out_dir, seed=seed, **kwargs))``."""
    return GRPOConfig(**grpo_config_kwargs(cfg, out_dir, seed=seed, **kwargs))


def peft_config(t: TrainConfig):
    """The LoRA ``peft.LoraConfig`` for ``train.use_lora`` (None for full fine-tuning)."""
    if not t.use_lora:
        return None
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", r=t.lora_r, lora_alpha=t.lora_alpha,
                      lora_dropout=t.lora_dropout, target_modules=list(t.lora_target_modules))

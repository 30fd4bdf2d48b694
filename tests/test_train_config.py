"""The `train:` section: batch geometry, the GPU (paper) profiles' GRPOConfig, accelerate files.

No model is downloaded and vLLM / DeepSpeed are not needed: the paper profiles are mapped to
GRPOConfig keyword arguments as on a CUDA machine with the launch's process count, checked
against the released hyperparameters (HMPO_SPEC.md), and then constructed by TRL itself
(with bf16 swapped for CPU, since transformers refuses bf16 without a GPU).

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_train_config.py -q
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import yaml
from accelerate.commands.config.config_args import load_config_from_file

from hmpo.config import ConfigError, TrainConfig, config_from_dict, load_config
from hmpo.training.grpo_config import grpo_config_kwargs

REPO = Path(__file__).resolve().parent.parent
PAPER_PROFILES = ("qwen3.5-9b-lora", "qwen3.5-35b-a3b", "qwen3.5-122b-a10b-zero3")
ACCELERATE = sorted((REPO / "configs" / "accelerate").glob("*.yaml"))


def _nproc(cfg) -> int:
    return load_config_from_file(str(REPO / cfg.train.accelerate_config)).num_processes


@pytest.mark.parametrize("profile", PAPER_PROFILES)
def test_paper_profile_maps_to_the_released_hyperparameters(profile, tmp_path):
    cfg = load_config(REPO / "params.yaml", profile=profile)
    p = _nproc(cfg)
    kw = grpo_config_kwargs(cfg, tmp_path, seed=0, num_processes=p, cuda=True)
    # released: G = 10, clip 0.2 / 0.28, dual clip 10, KL 0.001, token-mean loss, lr 5e-7 const
    assert kw["num_generations"] == 10
    assert (kw["epsilon"], kw["epsilon_high"], kw["delta"]) == (0.2, 0.28, 10.0)
    assert kw["beta"] == 0.001 and kw["loss_type"] == "dapo" and kw["scale_rewards"] == "group"
    # LoRA: 10x the full-parameter rate (a stated deviation, configs/profiles/qwen3.5-9b-lora.yaml)
    lr = 5e-6 if cfg.train.use_lora else 5e-7
    assert kw["learning_rate"] == lr and kw["lr_scheduler_type"] == "constant"
    assert kw["warmup_steps"] == 0 and kw["max_completion_length"] == 24576
    # 64 prompts x 10 rollouts per step, PPO mini-batch of 16 prompts -> 4 updates per step
    b = kw["per_device_train_batch_size"]
    assert b * p * kw["steps_per_generation"] == 640
    assert b * p * kw["gradient_accumulation_steps"] == 160
    assert kw["max_steps"] == -1 and kw["num_train_epochs"] == 1.0  # one epoch (~109 steps)
    assert kw["save_steps"] == cfg.train.save_steps * 4
    assert kw["bf16"] and not kw["use_cpu"] and kw["model_init_kwargs"] == {"dtype": "bfloat16"}
    assert kw["use_vllm"] and kw["vllm_mode"] == cfg.train.vllm_mode
    assert kw["vllm_max_model_length"] == 4096 + 24576
    assert kw["activation_checkpointing"] is True


@pytest.mark.parametrize("profile", PAPER_PROFILES)
def test_trl_accepts_the_paper_profile_config(profile, tmp_path):
    from trl import GRPOConfig

    cfg = load_config(REPO / "params.yaml", profile=profile)
    kw = grpo_config_kwargs(cfg, tmp_path, seed=0, num_processes=_nproc(cfg), cuda=True)
    had_vllm = "vllm" in sys.modules
    args = GRPOConfig(**{**kw, "bf16": False, "use_cpu": True, "model_init_kwargs": None})
    assert args.use_vllm and args.steps_per_generation == kw["steps_per_generation"]
    assert args.delta == 10.0 and args.epsilon_high == 0.28
    assert ("vllm" in sys.modules) == had_vllm  # building the config does not import vllm


@pytest.mark.parametrize("profile", PAPER_PROFILES)
def test_paper_profile_lora_and_launcher(profile):
    from hmpo.training.grpo_config import peft_config

    cfg = load_config(REPO / "params.yaml", profile=profile)
    lora = peft_config(cfg.train)
    assert (lora is not None) == (profile == "qwen3.5-9b-lora")
    if lora is not None:
        assert lora.r == cfg.train.lora_r
        assert set(lora.target_modules) == set(cfg.train.lora_target_modules)
    acc = load_config_from_file(str(REPO / cfg.train.accelerate_config))
    if cfg.train.use_lora:
        assert acc.distributed_type == "MULTI_GPU"
    else:  # full-parameter: ZeRO-3 shards weights, gradients and optimizer states
        assert acc.distributed_type == "DEEPSPEED" and acc.deepspeed_config["zero_stage"] == 3
        assert acc.deepspeed_config["zero3_save_16bit_model"]  # save_model writes full weights


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.name)
def test_accelerate_configs_parse_with_accelerates_loader(path):
    acc = load_config_from_file(str(path))
    assert acc.num_processes >= 1 and acc.num_machines >= 1
    assert acc.num_processes % acc.num_machines == 0
    assert not acc.use_cpu


def test_shipped_accelerate_configs_are_the_ones_referenced():
    names = {p.name for p in ACCELERATE}
    wanted = {"single_gpu.yaml", "multi_gpu.yaml", "zero3_multi_gpu.yaml", "zero3_multi_node.yaml"}
    assert wanted <= names
    for profile in PAPER_PROFILES:
        cfg = load_config(REPO / "params.yaml", profile=profile)
        assert Path(cfg.train.accelerate_config).name in names


@pytest.mark.parametrize("kw, n, expected", [
    # (prompts x G, mini-batch, per-device) on n processes
    #   -> (steps per generation, gradient accumulation, updates per rollout step)
    (dict(prompts_per_step=8, num_generations=8, per_device_train_batch_size=64), 1, (1, 1, 1)),
    (dict(prompts_per_step=8, num_generations=8, per_device_train_batch_size=16), 1, (4, 4, 1)),
    (dict(prompts_per_step=64, num_generations=10, mini_batch_prompts=16,
          per_device_train_batch_size=2), 8, (40, 10, 4)),
    (dict(prompts_per_step=64, num_generations=10, mini_batch_prompts=16,
          per_device_train_batch_size=1), 32, (20, 5, 4)),
    (dict(prompts_per_step=4, num_generations=4, mini_batch_prompts=2, num_iterations=2,
          per_device_train_batch_size=8), 1, (2, 1, 4)),  # mu = 2 passes over each batch
])
def test_geometry(kw, n, expected):
    g = TrainConfig(**kw).geometry(n)
    got = (g["steps_per_generation"], g["gradient_accumulation_steps"], g["updates_per_step"])
    assert got == expected


def _raw(**train):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["train"].update(train)
    return raw


@pytest.mark.parametrize("train, key", [
    (dict(mini_batch_prompts=3), "train.mini_batch_prompts"),  # 3 does not divide 8 prompts
    (dict(mini_batch_prompts=0), "train.mini_batch_prompts"),
    (dict(per_device_train_batch_size=48), "train.per_device_train_batch_size"),  # 64 % 48
    (dict(dual_clip=1.1), "train.dual_clip"),  # below 1 + epsilon_high: would clip A > 0 too
    (dict(save_total_limit=0), "train.save_total_limit"),
    (dict(logging_steps=0), "train.logging_steps"),
    (dict(gradient_accumulation_steps=2), "train.gradient_accumulation_steps"),  # derived now
    (dict(forward_chunk_rows=0), "train.forward_chunk_rows"),
])
def test_bad_train_values_name_the_key(train, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        config_from_dict(_raw(**train), profile="default")


def test_cpu_speed_paths_are_the_default_profiles_and_off_in_the_paper_profiles():
    """The rollout loop and the chunked log-prob passes are CPU settings of the default
    profile (and the CPU profiles that inherit it); the paper profiles run TRL's own paths."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for profile in ("default", "smoke", "smollm2"):
        t = config_from_dict(raw, profile=profile).train
        assert t.drop_finished_rollouts and t.forward_chunk_rows == 8, profile
    for profile in ("qwen3.5-9b-lora", "qwen3.5-35b-a3b", "qwen3.5-122b-a10b-zero3"):
        t = config_from_dict(raw, profile=profile).train
        assert not t.drop_finished_rollouts and t.forward_chunk_rows is None, profile
    bad = {**_raw(drop_finished_rollouts=True, use_vllm=True, bf16=True), "workers": 1}
    with pytest.raises(ConfigError, match="^train.drop_finished_rollouts"):
        config_from_dict(bad, profile="default")


def test_divisibility_is_checked_for_the_launch_process_count():
    # 64 prompts x 10 / mini-batch 16 = 160 completions per update: 32 processes x 2 is 64,
    # which does not divide 160 -> rejected for the multi-node launcher
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    cfg = config_from_dict(raw, profile="qwen3.5-122b-a10b-zero3")
    bad = dataclasses.replace(cfg.train, per_device_train_batch_size=2)
    with pytest.raises(ValueError, match="per_device_train_batch_size"):
        bad.geometry(_nproc(cfg))
    assert bad.geometry(8)["gradient_accumulation_steps"] == 10  # fine on one node of 8


# --------------------------------------------------------------------------- scripts/gpu_check.sh
def _gpu_check(tmp_path, *args):
    import os
    import subprocess

    env = {**os.environ, "OUT": str(tmp_path / "gpu_check"), "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)


def test_gpu_check_without_cuda_exits_cleanly_and_says_why(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the script would run for real")
    proc = _gpu_check(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "SKIPPED: CUDA is not available" in proc.stdout
    assert not (tmp_path / "gpu_check").exists()  # nothing ran


@pytest.mark.slow
def test_gpu_check_cpu_dry_run_runs_the_same_python_path(tmp_path):
    import json

    proc = _gpu_check(tmp_path, "--cpu-dry-run")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check" / "bf16" / "result.json").read_text())
    assert result["rollout_steps"] == 2 and result["time_per_step_s"]["step_s"] > 0
    assert "| mode | bf16 | ZeRO |" in proc.stdout  # the markdown block for results/gpu_check.md
    assert "run 2 (ZeRO-3) not run: CPU dry run" in proc.stdout

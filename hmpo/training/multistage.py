"""The multi-stage baseline of the paper's cost claim: sample -> shortest correct -> SFT -> GRPO.

Multi-stage CoT-compression pipelines (distill, then SFT, then RL) are what HMPO's single RL
stage is compared against in machine-seconds (HMPO_SPEC.md, "Claim"). This module runs one;
it sits *above* the GRPO run it reuses (:mod:`hmpo.training.grpo`):

1. **sample** the base model on **the prompts HMPO trains on**: the first
   ``train.max_steps x train.prompts_per_step`` prompts in the order TRL's sampler draws
   them for the same seed (:func:`hmpo.training.grpo.grpo_prompt_order`; one epoch when
   ``max_steps`` is -1), ``train.multistage_samples`` completions each, through the
   evaluation's generation backend (:func:`hmpo.models.generate.sample`: transformers on
   CPU, vLLM on GPUs with the profile's tensor parallelism), temperature
   ``train.temperature``, at most
   ``train.max_completion_length`` tokens. Sampling the whole training set instead would
   charge the baseline for data HMPO never sees (issue #11);
2. **select** the shortest *correct* completion of each problem, with training's verdict
   (:func:`hmpo.task.prompts.rollout_verdict`: a truncated trace or one whose reasoning never
   closed is no solution); ties go to the earlier sample; problems with none are skipped
   (if none is solved, SFT is skipped with a warning and RL starts from the base);
3. **SFT** on those pairs, ``train.multistage_sft_steps`` steps at ``train.multistage_sft_lr``,
   batch ``base_model.sft_batch_size``, warm-up a tenth of the steps, cosine to 0:
   the tiny model through its own fast loop (:func:`hmpo.models.sft.sft_train`), every other
   model through TRL's ``SFTTrainer`` with the RL stage's LoRA, precision and accelerate/DeepSpeed
   launch (:func:`sft_pairs`);
4. **GRPO** (the method's reward, plain ``grpo`` in params.yaml) from the SFT model with the
   same trainer and settings as every other method (:func:`hmpo.training.grpo.run_grpo`).

Each stage's wall, CPU and device seconds are recorded and summed into the run's
``metrics.json`` (``results/train/<method>/seed<s>/`` in the pipeline; ``stages`` and the
totals ``wall_s``, ``cpu_s``, ``device_s``), so it compares directly with an HMPO run's
metrics.json. The sample and SFT outputs (``sample/`` and ``sft/`` inside the run's model
folder, ``models/<method>/seed<s>/``) carry a fingerprint of the config, seed and base model
that made them (:mod:`hmpo.training.fingerprint`): a rerun with other settings starts them
over instead of reusing them.

Every stage takes the run's training seed (``seed``): the prompt order it samples, the
sampling and the SFT use it, as the RL stage does. Run it through the one training entry point
(the train stage calls :func:`hmpo.training.methods.train_method` the same way)::

    python -m hmpo.training.methods --method multistage            # models/multistage/seed0

On GPUs, sampling runs in one process (vLLM shards the model itself), then SFT and RL under
the training launch (``--until`` stops after that stage)::

    python -m hmpo.training.methods --method multistage --until sample --profile <p>
    accelerate launch --config_file <cfg> -m hmpo.training.methods --method multistage \\
        --until sft --profile <p>
    accelerate launch --config_file <cfg> -m hmpo.training.methods --method multistage \\
        --profile <p>
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from hmpo.config import Config
from hmpo.task.prompts import rollout_verdict
from hmpo.training.cost import cpu_seconds
from hmpo.training.fingerprint import (
    fingerprint_matches,
    path_fingerprint,
    reuse_or_reset,
    write_fingerprint,
)
from hmpo.training.grpo import (
    grpo_prompt_order,
    load_train_dataset,
    run_grpo,
    save_final_model,
    write_run_config,
)
from hmpo.training.grpo_config import peft_config
from hmpo.training.rewards import Reward
from hmpo.training.trainer import CorrectFn, default_correct_fn

SAMPLE_DIR = "sample"  # <run's model folder>/sample: the chosen SFT pairs, the sampling cost
SFT_DIR = "sft"  # <run's model folder>/sft: the SFT stage's model (the RL stage starts from it)
UNTIL = ("sample", "sft", "rl")  # the stages run_multistage can stop after
STAGE_COST_FILE = "hmpo_stage_cost.json"  # in each stage dir: that stage's seconds
PAIRS_FILE = "sft_pairs.jsonl"


def shortest_correct(records: Sequence[dict], completions: Sequence[Sequence[Any]],
                     correct_fn: CorrectFn, prompts: Sequence[str] | None = None
                     ) -> list[tuple[dict, Any]]:
    """Per record, its shortest correct completion (by ``n_tokens``), if any.

    ``completions[i]`` are the samples of ``records[i]`` (objects with ``text``, ``n_tokens``
    and ``finished``, as :func:`hmpo.models.generate.sample` returns); correct means training's
    verdict (:func:`hmpo.task.prompts.rollout_verdict`, with ``prompts[i]`` when given) is 1, so
    an unfinished sample never counts. Ties go to the earlier sample.

    >>> from hmpo.models.generate import Completion as C
    >>> recs = [{"answer": "1"}, {"answer": "2"}]
    >>> outs = [[C("A: 1 long", 9, True), C("A: 1", 4, True), C("A: 1", 2, False)],
    ...         [C("A: 3", 3, True)]]
    >>> [(r["answer"], c.text) for r, c in shortest_correct(recs, outs, lambda t, g: g in t)]
    [('1', 'A: 1')]
    """
    if len(records) != len(completions):
        raise ValueError(f"completions: expected {len(records)} groups (one per record), "
                         f"got {len(completions)}")
    prompts = list(prompts) if prompts is not None else [""] * len(records)
    out = []
    for rec, group, prompt in zip(records, completions, prompts, strict=True):
        ok = [c for c in group if rollout_verdict(correct_fn, c.text, str(rec["answer"]),
                                                  finished=c.finished, prompt=prompt) == 1]
        if ok:
            out.append((rec, min(ok, key=lambda c: c.n_tokens)))  # min keeps the first of ties
    return out


def budget_prompts(cfg: Config, dataset, *, seed: int) -> list[int]:
    """Rows of the RL training set the baseline samples: the ones GRPO draws (in its order)
    in the run of training seed ``seed``."""
    t = cfg.train
    return grpo_prompt_order(len(dataset), seed=seed,
                             prompts_per_step=t.prompts_per_step, n_steps=t.max_steps,
                             shuffle=t.shuffle_dataset)


def _stage_payload(cfg: Config, model_dir: str | Path, train_path: str | Path, *,
                   seed: int) -> dict:
    """What makes the sample and SFT stages' outputs (their fingerprint)."""
    t, b = cfg.train, cfg.base_model
    keys = ("multistage_samples", "multistage_sft_steps", "multistage_sft_lr", "temperature",
            "max_completion_length", "max_prompt_length", "max_steps", "prompts_per_step",
            "shuffle_dataset", "use_lora", "lora_r", "lora_alpha", "lora_dropout",
            "lora_target_modules", "bf16", "gradient_checkpointing")
    return {"train": {k: getattr(t, k) for k in keys}, "seed": seed,
            "base_model": {"kind": b.kind, "prompt_style": b.prompt_style,
                           "sft_batch_size": b.sft_batch_size},
            "backend": cfg.evaluate.backend, "model": path_fingerprint(model_dir),
            "train_data": path_fingerprint(train_path)}


def sample_stage(cfg: Config, *, seed: int, model_dir: str | Path, train_path: str | Path,
                 sample_dir: str | Path, correct_fn: CorrectFn | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Stages 1-2: sample the budget's prompts, keep each one's shortest correct completion.

    Writes ``sample_dir/sft_pairs.jsonl`` (``prompt``, ``completion``, ``id``) and
    ``sample_dir/hmpo_stage_cost.json``; an up-to-date ``sample_dir`` is reused.
    """
    import torch
    from transformers import AutoTokenizer

    from hmpo.models.generate import sample, vllm_engine_kwargs
    from hmpo.models.model import load_model

    sample_dir = Path(sample_dir)
    payload = _stage_payload(cfg, model_dir, train_path, seed=seed)
    if reuse_or_reset(sample_dir, payload, what="multistage sample") and \
            (sample_dir / STAGE_COST_FILE).is_file():
        return json.loads((sample_dir / STAGE_COST_FILE).read_text())
    torch.set_num_threads(cfg.threads)
    correct_fn = correct_fn if correct_fn is not None else default_correct_fn()
    t = cfg.train

    wall0, cpu0 = time.time(), cpu_seconds()
    backend = cfg.evaluate.backend
    if backend == "vllm":  # vLLM loads the folder itself; the tokenizer builds prompts
        model, tok = str(model_dir), AutoTokenizer.from_pretrained(str(model_dir))
    else:
        model, tok = load_model(model_dir)
    dataset, _ = load_train_dataset(train_path, tok, prompt_style=cfg.base_model.prompt_style,
                                    max_prompt_length=t.max_prompt_length)
    rows = [dataset[i] for i in budget_prompts(cfg, dataset, seed=seed)]
    prompts = [r["prompt"] for r in rows]
    samples = sample(model, tok, prompts, n=t.multistage_samples,
                     max_new_tokens=t.max_completion_length, temperature=t.temperature,
                     seed=seed, batch_size=cfg.evaluate.batch_size,
                     progress=progress, backend=backend,
                     vllm_kwargs=vllm_engine_kwargs(cfg) if backend == "vllm" else None)
    chosen = shortest_correct(rows, samples, correct_fn, prompts)
    wall, cpu = time.time() - wall0, cpu_seconds() - cpu0
    n_all = sum(len(g) for g in samples)
    n_correct = sum(rollout_verdict(correct_fn, c.text, str(r["answer"]), finished=c.finished,
                                    prompt=p) == 1
                    for r, g, p in zip(rows, samples, prompts, strict=True) for c in g)
    devices = cfg.evaluate.vllm_tensor_parallel_size if backend == "vllm" else 1
    cost = {
        "sample": {"wall_s": wall, "cpu_s": cpu, "device_s": wall * devices},
        "n_problems": len(rows),
        "n_train_prompts": len(dataset),
        "n_samples": n_all,
        "sample_accuracy": n_correct / max(1, n_all),
        "sample_mean_tokens": sum(c.n_tokens for g in samples for c in g) / max(1, n_all),
        "n_sft_examples": len(chosen),
        "sft_mean_tokens": sum(c.n_tokens for _, c in chosen) / len(chosen) if chosen else None,
    }
    sample_dir.mkdir(parents=True, exist_ok=True)
    (sample_dir / PAIRS_FILE).write_text("".join(
        json.dumps({"id": r["id"], "prompt": r["prompt"], "completion": c.text}) + "\n"
        for r, c in chosen))
    (sample_dir / STAGE_COST_FILE).write_text(json.dumps(cost, indent=2, sort_keys=True) + "\n")
    write_fingerprint(sample_dir, payload)
    return cost


def _sft_tiny(cfg: Config, model_dir: Path, pairs: list[dict], sft_dir: Path,
              progress: bool, seed: int) -> dict[str, Any]:
    """The tiny model's fast path: its own prompt-masked SFT loop, one process."""
    from hmpo.models.model import load_model, save_model
    from hmpo.models.sft import encode_examples, sft_train

    t = cfg.train
    model, tok = load_model(model_dir)
    examples = encode_examples(tok, [(p["prompt"], p["completion"]) for p in pairs])
    steps = t.multistage_sft_steps
    log = sft_train(model, tok, examples, steps=steps, lr=t.multistage_sft_lr,
                    batch_size=cfg.base_model.sft_batch_size, warmup_steps=max(1, steps // 10),
                    seed=seed, progress=progress)
    save_model(model, tok, sft_dir)
    return {"trainer": "hmpo.models.sft.sft_train",
            "final_loss": log[-1]["loss"] if log else None, "num_processes": 1}


def _sft_trl(cfg: Config, model_dir: Path, pairs: list[dict], sft_dir: Path,
             progress: bool, seed: int) -> dict[str, Any]:
    """Pretrained models: TRL's SFTTrainer with the RL stage's LoRA, precision and launch."""
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    t = cfg.train
    steps = t.multistage_sft_steps
    cuda = torch.cuda.is_available()
    args = SFTConfig(
        output_dir=str(sft_dir / "_trainer"), max_steps=steps, learning_rate=t.multistage_sft_lr,
        lr_scheduler_type="cosine", warmup_steps=max(1, steps // 10),
        per_device_train_batch_size=cfg.base_model.sft_batch_size,
        completion_only_loss=True,  # the loss on the chosen completion only, as the tiny path
        max_length=t.max_prompt_length + t.max_completion_length,
        bf16=t.bf16, use_cpu=not cuda, activation_checkpointing=t.gradient_checkpointing,
        model_init_kwargs={"dtype": "bfloat16" if t.bf16 else "float32"},
        seed=seed, save_strategy="no", report_to="none", logging_steps=1,
        disable_tqdm=not progress, dataloader_num_workers=0,
    )
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    data = Dataset.from_list([{"prompt": p["prompt"], "completion": p["completion"]}
                              for p in pairs])
    trainer = SFTTrainer(str(model_dir), args=args, train_dataset=data, processing_class=tok,
                         peft_config=peft_config(t))
    trainer.train()
    save_final_model(trainer, tok, sft_dir, use_lora=t.use_lora)
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    return {"trainer": "trl.SFTTrainer", "final_loss": losses[-1] if losses else None,
            "num_processes": trainer.accelerator.num_processes}


def sft_pairs(cfg: Config, *, seed: int, model_dir: str | Path, pairs: list[dict],
              sft_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """SFT ``model_dir`` on prompt/completion ``pairs``; save a plain model folder to ``sft_dir``.

    One interface, two implementations: the tiny model (``base_model.kind: tiny``) keeps its
    own loop (faster than a Trainer on a 0.5M-parameter model); every other model goes
    through TRL's ``SFTTrainer`` with ``train.use_lora``/``lora_*``, ``bf16`` and gradient
    checkpointing of the RL stage, under the same accelerate/DeepSpeed launch. ``seed``: the
    training seed. Returns ``{"trainer", "final_loss", "num_processes"}``.
    """
    fn = _sft_tiny if cfg.base_model.kind == "tiny" else _sft_trl
    return fn(cfg, Path(model_dir), pairs, Path(sft_dir), progress, seed)


def sft_stage(cfg: Config, *, seed: int, model_dir: str | Path, train_path: str | Path,
              sample_dir: str | Path, sft_dir: str | Path, progress: bool = True
              ) -> dict[str, Any]:
    """Stage 3: SFT on the sample stage's pairs (or copy the base when none); reused if current."""
    import shutil

    sample_dir, sft_dir = Path(sample_dir), Path(sft_dir)
    payload = _stage_payload(cfg, model_dir, train_path, seed=seed)
    # under a multi-process launch every rank reads the fingerprint; only rank 0 deletes
    if fingerprint_matches(sft_dir, payload) and (sft_dir / STAGE_COST_FILE).is_file():
        return json.loads((sft_dir / STAGE_COST_FILE).read_text())
    if int(os.environ.get("RANK", "0")) == 0:
        reuse_or_reset(sft_dir, payload, what="multistage sft")
    pairs = [json.loads(line) for line in (sample_dir / PAIRS_FILE).read_text().splitlines()
             if line.strip()]
    wall0, cpu0 = time.time(), cpu_seconds()
    if pairs:
        info = sft_pairs(cfg, seed=seed, model_dir=model_dir, pairs=pairs, sft_dir=sft_dir,
                         progress=progress)
    else:  # nothing solved (e.g. the smoke profile's barely trained base): RL starts from the base
        warnings.warn("multistage: the base model solved none of the sampled training "
                      "problems; SFT skipped", stacklevel=2)
        shutil.copytree(model_dir, sft_dir, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("checkpoint-*", "hmpo_*.json"))
        info = {"trainer": None, "final_loss": None, "num_processes": 1}
    wall, cpu = time.time() - wall0, cpu_seconds() - cpu0
    cost = {"sft": {"wall_s": wall, "cpu_s": cpu, "device_s": wall * info["num_processes"]},
            "sft_trainer": info["trainer"], "sft_final_loss": info["final_loss"]}
    if int(os.environ.get("RANK", "0")) == 0:
        shutil.rmtree(sft_dir / "_trainer", ignore_errors=True)
        (sft_dir / STAGE_COST_FILE).write_text(json.dumps(cost, indent=2, sort_keys=True) + "\n")
        write_fingerprint(sft_dir, payload)
    return cost


def run_multistage(cfg: Config, method: str, reward: Reward, *, seed: int,
                   model_dir: str | Path, train_path: str | Path, out_dir: str | Path,
                   results_dir: str | Path, correct_fn: CorrectFn | None = None,
                   callbacks: Sequence[TrainerCallback] = (), progress: bool = True,
                   until: str = "rl") -> dict[str, Any]:
    """All four stages; returns (and writes) ``results_dir/metrics.json`` with summed costs.

    ``cfg`` is the method's resolved config, ``seed`` the training seed of every stage.
    `callbacks` go to the RL stage's trainer; ``progress`` shows (or not) every stage's bars.
    ``until="sample"`` or ``"sft"`` stops after that stage and returns its cost record (its
    outputs are reused by the next call): sampling runs in one process before a
    multi-process launch of the rest.
    """
    if until not in UNTIL:
        raise ValueError(f"until: expected one of {', '.join(UNTIL)}, got {until!r}")
    out_dir, results_dir = Path(out_dir), Path(results_dir)
    sample_dir, sft_dir = out_dir / SAMPLE_DIR, out_dir / SFT_DIR
    multi_process = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if until != "sample" and multi_process and not (sample_dir / STAGE_COST_FILE).is_file():
        raise ValueError(f"out_dir: {sample_dir} has no finished sample stage; under a "
                         "multi-process launch run `python -m hmpo.training.methods --method "
                         f"{method} --until sample` in one process first")
    if until == "rl":
        write_run_config(cfg, results_dir, seed=seed)
    pre = sample_stage(cfg, seed=seed, model_dir=model_dir, train_path=train_path,
                       sample_dir=sample_dir, correct_fn=correct_fn, progress=progress)
    if until == "sample":
        return pre
    sft = sft_stage(cfg, seed=seed, model_dir=model_dir, train_path=train_path,
                    sample_dir=sample_dir, sft_dir=sft_dir, progress=progress)
    if until == "sft":
        return sft
    rl = run_grpo(cfg, reward, seed=seed, model_dir=sft_dir, train_path=train_path,
                  out_dir=out_dir, results_dir=results_dir, method=method,
                  correct_fn=correct_fn, callbacks=callbacks, progress=progress,
                  keep=(SAMPLE_DIR, SFT_DIR))
    stages = {"sample": pre["sample"], "sft": sft["sft"],
              "rl": {"wall_s": rl["wall_s"], "cpu_s": rl["cpu_s"], "device_s": rl["device_s"]}}
    metrics = dict(rl)
    metrics.update({
        "multistage": True,
        "stages": stages,
        "wall_s": sum(s["wall_s"] for s in stages.values()),
        "cpu_s": sum(s["cpu_s"] for s in stages.values()),
        "device_s": sum(s["device_s"] for s in stages.values()),
        "pre_rl": {**{k: v for k, v in pre.items() if k != "sample"},
                   **{k: v for k, v in sft.items() if k != "sft"}},
    })
    if int(os.environ.get("RANK", "0")) == 0:
        text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
        (results_dir / "metrics.json").write_text(text)
    return metrics

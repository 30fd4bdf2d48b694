"""The Python half of scripts/gpu_check.sh: a few HMPO steps of the tiny model on one device.

    python scripts/gpu_check_train.py --mode bf16 --out OUT/bf16            # CUDA, bf16
    accelerate launch --config_file configs/accelerate/zero3_multi_gpu.yaml --num_processes 1 \\
        --offload_optimizer_device none scripts/gpu_check_train.py --mode zero3 --out OUT/zero3 \\
        --model-dir OUT/bf16/base                                           # DeepSpeed ZeRO-3
    python scripts/gpu_check_train.py --mode bf16 --cpu-dry-run --out /tmp/x  # same path, CPU
    python scripts/gpu_check_train.py --report OUT                          # markdown summary

It needs no network and no models/ folder: it builds the tiny Qwen3 of hmpo.models.model, SFTs
it on CPU for a few hundred steps on the synthetic task (so HMPO has correct rollouts to work
with), then trains it with :func:`hmpo.training.grpo.run_grpo` (HMPOTrainer = TRL GRPOTrainer,
HMPO reward, the real synthetic verifier; training seed: the first of ``train.seeds``) and
writes ``result.json`` with the step timings, the peak GPU memory and the final metrics.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _versions() -> dict[str, str | None]:
    out = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "deepspeed",
                 "vllm", "dvclive"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def build_base(out: Path, *, sft_steps: int, seed: int) -> Path:
    """Tiny Qwen3 + tokenizer, SFT'd on CPU on verbose synthetic traces; saved to out/base."""
    import torch

    from hmpo.config import BaseModelConfig, SyntheticConfig
    from hmpo.models.model import build_tiny_model, build_tokenizer, save_model
    from hmpo.models.sft import encode_examples, sft_train
    from hmpo.task import synthetic

    torch.set_num_threads(1)  # more threads than free cores slows a model this small down
    scfg = SyntheticConfig(n_train=512, n_eval=8, n_transfer=2, max_steps=3)
    sets = synthetic.make_sets(scfg, seed)
    tok = build_tokenizer()
    model = build_tiny_model(BaseModelConfig(), tok, seed)  # the default tiny architecture
    pairs = synthetic.sft_texts(sets["synthetic_train"], 2, 1, seed)
    sft_train(model, tok, encode_examples(tok, pairs), steps=sft_steps, batch_size=32, lr=3e-3,
              warmup_steps=max(1, sft_steps // 10), seed=seed, progress=False)
    save_model(model, tok, out / "base")
    train = out / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in sets["synthetic_train"][:128]))
    return out / "base"


def run(args) -> dict:
    import torch

    from hmpo.config import load_config
    from hmpo.task import synthetic
    from hmpo.training.grpo import run_grpo
    from hmpo.training.rewards import get_reward

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available()
    if not cuda and not args.cpu_dry_run:
        raise SystemExit("CUDA is not available (use --cpu-dry-run to exercise this path on CPU)")
    t0 = time.time()
    if args.model_dir:
        model_dir = Path(args.model_dir)
        train = model_dir.parent / "train.jsonl"
    else:
        model_dir = build_base(out, sft_steps=args.sft_steps, seed=0)
        train = out / "train.jsonl"
    sft_s = time.time() - t0
    cfg = load_config(REPO / "params.yaml", profile="smoke")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(
        cfg.train, bf16=cuda, max_steps=args.steps, prompts_per_step=8, num_generations=8,
        per_device_train_batch_size=32, max_completion_length=64, learning_rate=1e-4,
        save_steps=max(1, args.steps // 2), accelerate_config=None))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    has_dvclive = importlib.util.find_spec("dvclive") is not None
    m = run_grpo(cfg, get_reward("hmpo"), seed=cfg.train.seeds[0], model_dir=model_dir,
                 train_path=train, out_dir=out / "model", results_dir=out / "results",
                 method="hmpo", correct_fn=synthetic.is_correct, live=has_dvclive)
    result = {
        "mode": args.mode + (" (cpu dry run)" if not cuda else ""),
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "cuda": torch.version.cuda if cuda else None,
        "versions": _versions(),
        "deepspeed_zero_stage": _zero_stage(),
        "bf16": cfg.train.bf16,
        "base_sft_s": round(sft_s, 1),
        "rollout_steps": m["rollout_steps"],
        "completions_per_step": cfg.train.prompts_per_step * cfg.train.num_generations,
        "wall_s": round(m["wall_s"], 1),
        "time_per_step_s": {k: round(v, 3) for k, v in m["time_per_step_s"].items()},
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
        "final": {k: m["final"].get(k) for k in ("loss", "reward", "kl", "hmpo/accuracy",
                                                  "hmpo/length_mean", "hmpo/budget_tokens_mean",
                                                  "hmpo/frac_groups_no_correct")},
    }
    if int(os.environ.get("RANK", "0")) == 0:
        (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    return result


def _zero_stage() -> int | None:
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() != "true":
        return None
    return int(os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "0")) or None


def report(root: Path) -> str:
    """Markdown for results/gpu_check.md from every result.json under `root`."""
    results = [json.loads(p.read_text()) for p in sorted(root.glob("*/result.json"))]
    if not results:
        return f"No result.json under {root}: nothing ran."
    r0 = results[0]
    lines = [
        "## GPU check (scripts/gpu_check.sh)",
        "",
        f"Device: {r0['device']}, CUDA {r0['cuda']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in r0["versions"].items() if v) + ".",
        f"Not installed: {', '.join(k for k, v in r0['versions'].items() if not v) or 'none'}.",
        "",
        "Tiny Qwen3 (hmpo.models.model defaults), SFT'd on CPU, then HMPO with TRL's GRPOTrainer: "
        f"{r0['completions_per_step']} completions (8 prompts x G 8, <= 64 tokens) per step.",
        "",
        "| mode | bf16 | ZeRO | steps | s/step | generation | reward | ref logps | update "
        "| peak GiB | reward | accuracy | mean length | budget b |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        t, f = r["time_per_step_s"], r["final"]

        def g(d, k):
            v = d.get(k)
            return "-" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))

        lines.append(f"| {r['mode']} | {r['bf16']} | {r['deepspeed_zero_stage'] or '-'} | "
                     f"{r['rollout_steps']} | {g(t, 'step_s')} | {g(t, 'generation_s')} | "
                     f"{g(t, 'reward_s')} | {g(t, 'reference_logps_s')} | {g(t, 'update_s')} | "
                     f"{g(r, 'peak_gpu_mem_gib')} | {g(f, 'reward')} | {g(f, 'hmpo/accuracy')} | "
                     f"{g(f, 'hmpo/length_mean')} | {g(f, 'hmpo/budget_tokens_mean')} |")
    lines.append("")
    lines.append("s/step and its split: mean over the logged steps after the first (warm-up).")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", default="bf16", help="label of this run (bf16, zero3)")
    p.add_argument("--out", default="results/gpu_check_run")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--sft-steps", type=int, default=300)
    p.add_argument("--model-dir", default=None, help="reuse a base built by an earlier run")
    p.add_argument("--cpu-dry-run", action="store_true", help="run the same path on CPU (fp32)")
    p.add_argument("--report", default=None, help="print the markdown summary of a run folder")
    a = p.parse_args()
    if a.report:
        print(report(Path(a.report)))
        return
    run(a)


if __name__ == "__main__":
    main()

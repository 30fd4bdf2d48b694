"""Benchmark the trainer's two CPU speed paths against TRL's own: seconds per rollout step.

`train.drop_finished_rollouts` samples the rollouts with hmpo.models.generate.sample_ids (finished
rows leave the batch and the KV cache) instead of TRL's `model.generate`;
`train.forward_chunk_rows` runs the reference and update log-prob passes in length-sorted
chunks cut to their own columns instead of one pass over the padded batch. This script trains
`--steps` rollout steps of `--method` from each `--model-dir` with both off ("trl") and both
on ("ours", the params.yaml values), `--repeats` times in alternating order, in this process
(one thread), into a scratch folder, and prints the median seconds per step and its split
(the runs' own `time/*` logs, first step left out) and the ratio trl / ours.

    OMP_NUM_THREADS=1 python scripts/bench_train_speed.py                      # the base model
    OMP_NUM_THREADS=1 python scripts/bench_train_speed.py --model-dir models/base \\
        --model-dir models/hmpo/seed0 --steps 20 --repeats 3

Run it with nothing else on the machine: it prints the load average, and timings on a
shared 2-core machine move by tens of percent.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hmpo.config import load_config  # noqa: E402
from hmpo.training.methods import train_method  # noqa: E402

KEYS = ("step_s", "generation_s", "reference_logps_s", "update_s")


def one_run(cfg, method: str, model_dir: str, train_path: str, scratch: Path,
            fast: bool, tag: str) -> dict[str, float]:
    t = cfg.train
    train = dataclasses.replace(
        t, drop_finished_rollouts=fast and t.drop_finished_rollouts,
        forward_chunk_rows=t.forward_chunk_rows if fast else None)
    run_cfg = dataclasses.replace(cfg, train=train)
    with contextlib.redirect_stdout(io.StringIO()):  # the trainer prints its log rows
        m = train_method(run_cfg, method, model_dir=model_dir, train_path=train_path,
                         out_dir=scratch / tag / "model",
                         results_dir=scratch / tag / "results", progress=False)
    return m["time_per_step_s"] | {"mean_length": m["final"]["completions/mean_length"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--method", default="grpo", help="a key of `methods` (default: grpo)")
    p.add_argument("--model-dir", action="append", default=None,
                   help="a model folder to start from (repeatable; default models/base)")
    p.add_argument("--train-path", default="data/processed/train.jsonl")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(1)
    base = load_config(a.params)
    if not (base.train.drop_finished_rollouts or base.train.forward_chunk_rows):
        sys.exit(f"{a.params}: both speed paths are off; nothing to compare")
    cfg = dataclasses.replace(base, train=dataclasses.replace(
        base.train, max_steps=a.steps, save_steps=a.steps + 1, seeds=[base.seed]))
    print(f"load average {os.getloadavg()[0]:.2f}; {a.method}, {a.steps} steps, "
          f"{a.repeats} repeats, chunks of {base.train.forward_chunk_rows} rows")
    print("| start model | path | tokens (last step) | " + " | ".join(KEYS) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in KEYS) + " |")
    with tempfile.TemporaryDirectory(prefix="bench_train_speed_") as tmp:
        for model_dir in a.model_dir or ["models/base"]:
            runs: dict[str, list[dict[str, float]]] = {"trl": [], "ours": []}
            for r in range(a.repeats):
                order = ("trl", "ours") if r % 2 == 0 else ("ours", "trl")
                for path in order:
                    runs[path].append(one_run(cfg, a.method, model_dir, a.train_path,
                                              Path(tmp), path == "ours", f"{path}{r}"))
            med = {path: {k: statistics.median(x[k] for x in rs) for k in (*KEYS, "mean_length")}
                   for path, rs in runs.items()}
            for path in ("trl", "ours"):
                print(f"| {model_dir} | {path} | {med[path]['mean_length']:.1f} | "
                      + " | ".join(f"{med[path][k]:.3f}" for k in KEYS) + " |")
            print(f"| {model_dir} | trl / ours | | "
                  + " | ".join(f"{med['trl'][k] / med['ours'][k]:.2f}x" for k in KEYS) + " |")


if __name__ == "__main__":
    main()

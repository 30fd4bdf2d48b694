"""Benchmark the tiny base model recipe on this CPU: SFT time, sampled accuracy, lengths.

Trains with the configured profile (default: params.yaml as is) exactly as the sft_model
stage does (hmpo.models.sft; the base model is this model after its RL, stage base_model),
optionally measuring sampled (T = 1) accuracy along the way, and prints the numbers the
targets are about: SFT minutes, accuracy overall / per difficulty / per step, transfer
accuracy, mean response length vs the minimal trace, within-problem length spread.
It writes to a scratch folder (not models/sft), so it never touches the pipeline's outputs.

    OMP_NUM_THREADS=1 python scripts/bench_base_model.py
    OMP_NUM_THREADS=1 python scripts/bench_base_model.py --eval-every 500 \\
        --set base_model.sft_steps=2000 --set base_model.n_layers=3
    OMP_NUM_THREADS=1 python scripts/bench_base_model.py --direct   # no chain of thought

`--direct` trains the same model on "prompt -> A: <answer>" (no intermediate steps) to show
that the steps are needed: its accuracy on the held-out problems is the no-CoT reference.
Timings are noisy when other processes share the cores: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hmpo.config import config_from_dict  # noqa: E402
from hmpo.models import sft  # noqa: E402
from hmpo.models.model import build_tiny_model, build_tokenizer, n_parameters  # noqa: E402
from hmpo.task import synthetic  # noqa: E402


def _override(raw: dict, assignment: str) -> None:
    key, _, value = assignment.partition("=")
    if not _:
        raise SystemExit(f"--set expects key=value, got {assignment!r}")
    *parents, leaf = key.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = yaml.safe_load(value)


def _load(args: argparse.Namespace):
    root = Path(__file__).resolve().parent.parent
    raw = yaml.safe_load((root / "params.yaml").read_text())
    for a in args.set:
        _override(raw, a)
    return config_from_dict(raw, profile=args.profile)


def _brief(m: dict) -> str:
    by = " ".join(f"{k}:{v:.2f}" for k, v in m["accuracy_by_difficulty"].items())
    return (f"acc {m['accuracy']:.3f} [{by}] step_acc {m['step_accuracy']:.4f} "
            f"len {m['mean_tokens']:.1f} (min {m['mean_minimal_tokens']:.1f}, "
            f"x{m['length_ratio']:.2f}) cv {m['within_group_cv']:.3f} fin {m['finished']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default=None, help="config profile (default: params.yaml's)")
    ap.add_argument("--set", action="append", default=[], help="override a key: a.b=value")
    ap.add_argument("--eval-every", type=int, default=0, help="measure every N SFT steps")
    ap.add_argument("--eval-problems", type=int, default=100, help="problems per mid-run check")
    ap.add_argument("--direct", action="store_true", help="train without intermediate steps")
    ap.add_argument("--out", default=None, help="where to write the model (default: a temp dir)")
    args = ap.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    cfg = _load(args)
    torch.set_num_threads(cfg.threads)
    b, s = cfg.base_model, cfg.data.synthetic
    print(f"load average at start: {os.getloadavg()}  (2 cores, shared)")
    sets = synthetic.make_sets(s, cfg.seed)
    tok = build_tokenizer()
    if args.direct:
        rng_pairs = [(r["prompt"], f"\nA: {r['answer']}") for r in sets["synthetic_train"]]
        pairs = rng_pairs * s.n_sft_traces
    else:
        pairs = synthetic.sft_texts(sets["synthetic_train"], s.n_sft_traces, s.max_rechecks,
                                    cfg.seed)
    examples = sft.encode_examples(tok, pairs)
    model = build_tiny_model(b, tok, cfg.seed)
    print(f"params {n_parameters(model):,}  examples {len(examples)}  layers {b.n_layers} "
          f"hidden {b.hidden_size} steps {b.sft_steps} batch {b.sft_batch_size} lr {b.sft_lr}")
    mk = dict(n_samples=b.n_eval_samples, max_new_tokens=cfg.evaluate.max_new_tokens,
              seed=cfg.seed, batch_size=cfg.evaluate.batch_size, progress=False)

    check_seconds = [0.0]
    held_out = sft.encode_examples(tok, synthetic.sft_texts(
        sets["synthetic_eval"][:args.eval_problems], 1, s.max_rechecks, cfg.seed + 1))

    def tf_brief(m) -> str:
        r = sft.teacher_forced(m, tok, held_out)
        return " ".join(f"{k} {v:.3f}" for k, v in r.items())

    def check(step: int, m) -> None:
        t = time.perf_counter()
        r = sft.measure(m, tok, sets["synthetic_eval"][:args.eval_problems], **mk)
        tf = tf_brief(m)
        check_seconds[0] += time.perf_counter() - t
        print(f"  step {step}: {_brief(r)}\n    teacher-forced: {tf} "
              f"({time.perf_counter() - t:.0f} s)", flush=True)

    t0 = time.perf_counter()
    log = sft.sft_train(model, tok, examples, steps=b.sft_steps, batch_size=b.sft_batch_size,
                        lr=b.sft_lr, warmup_steps=b.sft_warmup_steps, seed=cfg.seed,
                        progress=True, callback=check, callback_every=args.eval_every)
    wall = time.perf_counter() - t0 - check_seconds[0]  # training only, mid-run checks excluded
    print(f"SFT: {wall / 60:.2f} min wall for {b.sft_steps} steps "
          f"(final loss {log[-1]['loss']:.4f}); load average now {os.getloadavg()}")
    out = {"sft_minutes_wall": round(wall / 60, 2),
           "mid_run_check_seconds": round(check_seconds[0])}
    for name in ("synthetic_eval", "synthetic_transfer"):
        recs = sets[name][:b.n_eval_problems]
        if not recs:
            continue
        t = time.perf_counter()
        r = sft.measure(model, tok, recs, **mk)
        r["seconds"] = round(time.perf_counter() - t, 1)
        out[name] = r
        print(f"{name} ({len(recs)} problems x {b.n_eval_samples} samples, T=1): {_brief(r)}")
    if args.out:
        from hmpo.models.model import save_model

        save_model(model, tok, args.out)
    else:
        with tempfile.TemporaryDirectory() as d:  # exercise saving in HF format anyway
            from hmpo.models.model import save_model

            save_model(model, tok, d)
    print("teacher-forced on held-out traces:", tf_brief(model))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

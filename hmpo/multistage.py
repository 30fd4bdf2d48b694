"""The multi-stage baseline of the paper's cost claim: sample -> shortest correct -> SFT -> GRPO.

Multi-stage CoT-compression pipelines (distill, then SFT, then RL) are what HMPO's single RL
stage is compared against in machine-seconds (HMPO_SPEC.md, "Claim"). This module runs one:

1. **sample** the base model: ``train.multistage_samples`` completions per training problem
   (:func:`hmpo.generate.sample`, temperature ``train.temperature``, at most
   ``train.max_completion_length`` tokens);
2. **select** the shortest correct, *finished* completion of each problem (a truncated trace is
   not a solution to imitate; ties go to the earlier sample); problems with none are skipped
   (if no problem is solved at all, SFT is skipped with a warning and RL starts from the base);
3. **SFT** on those (prompt-masked next-token loss, :func:`hmpo.sft.sft_train`, the same loop
   that trains the tiny base model): ``train.multistage_sft_steps`` steps at
   ``train.multistage_sft_lr``, batch ``base_model.sft_batch_size``, warm-up a tenth of the
   steps, cosine to 0;
4. **GRPO** (the method's reward, plain ``grpo`` in params.yaml) from the SFT model with the
   same trainer and settings as every other method (:func:`hmpo.train.run_grpo`).

Each stage's wall and CPU seconds are recorded and summed into
``results/train/<method>/metrics.json`` (``stages`` and the totals ``wall_s``, ``cpu_s``,
``device_s``), so it compares directly with an HMPO run's metrics.json.

Run (through the train stage, ``methods.multistage.multistage: true``)::

    python -m hmpo.train --method multistage

Stages 1-3 run in one process. Under a multi-process GPU launch run them first, alone::

    python -m hmpo.multistage --method multistage --until sft --profile <profile>
    accelerate launch --config_file <...> -m hmpo.train --method multistage --profile <profile>

(the launched run finds the finished SFT model and its recorded cost, and continues).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hmpo.config import Config, load_config, write_resolved
from hmpo.rewards import Reward, get_reward

CorrectFn = Callable[[str, str], bool]
SFT_DIR = "sft"  # models/<method>/sft: the SFT stage's model (the RL stage starts from it)
STAGE_COST_FILE = "hmpo_stage_cost.json"  # in the SFT dir: seconds of the sample + SFT stages


def shortest_correct(records: Sequence[dict], completions: Sequence[Sequence[Any]],
                     correct_fn: CorrectFn) -> list[tuple[dict, Any]]:
    """Per record, its shortest correct finished completion (by ``n_tokens``), if any.

    ``completions[i]`` are the samples of ``records[i]`` (objects with ``text``, ``n_tokens``
    and ``finished``, as :func:`hmpo.generate.sample` returns). Ties go to the earlier sample.

    >>> from hmpo.generate import Completion as C
    >>> recs = [{"answer": "1"}, {"answer": "2"}]
    >>> outs = [[C("A: 1 long", 9, True), C("A: 1", 4, True), C("A: 1", 2, False)],
    ...         [C("A: 3", 3, True)]]
    >>> [(r["answer"], c.text) for r, c in shortest_correct(recs, outs, lambda t, g: g in t)]
    [('1', 'A: 1')]
    """
    if len(records) != len(completions):
        raise ValueError(f"completions: expected {len(records)} groups (one per record), "
                         f"got {len(completions)}")
    out = []
    for rec, group in zip(records, completions, strict=True):
        ok = [c for c in group if c.finished and correct_fn(c.text, str(rec["answer"]))]
        if ok:
            out.append((rec, min(ok, key=lambda c: c.n_tokens)))  # min keeps the first of ties
    return out


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise ValueError(f"train_path: {path} not found (run the data stage first)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sample_and_sft(cfg: Config, *, model_dir: str | Path, train_path: str | Path,
                   sft_dir: str | Path, correct_fn: CorrectFn | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Stages 1-3: sample the base model, keep the shortest correct, SFT; save to ``sft_dir``.

    Returns (and writes to ``sft_dir/hmpo_stage_cost.json``) each stage's wall/CPU seconds
    and the counts. An existing complete ``sft_dir`` is reused (its recorded cost returned).
    """
    import torch

    from hmpo.generate import sample
    from hmpo.model import load_model, save_model
    from hmpo.prompts import build_prompt
    from hmpo.sft import encode_examples, sft_train
    from hmpo.train import _cpu_seconds, _default_correct_fn

    sft_dir = Path(sft_dir)
    if (sft_dir / STAGE_COST_FILE).is_file():
        return json.loads((sft_dir / STAGE_COST_FILE).read_text())
    torch.set_num_threads(cfg.threads)
    correct_fn = correct_fn if correct_fn is not None else _default_correct_fn()
    t = cfg.train
    records = _read_jsonl(Path(train_path))

    wall0, cpu0 = time.time(), _cpu_seconds()
    model, tok = load_model(model_dir)
    prompts = [build_prompt(r["prompt"], cfg.base_model.prompt_style, tok) for r in records]
    backend = cfg.evaluate.backend
    samples = sample(str(model_dir) if backend == "vllm" else model, tok, prompts,
                     n=t.multistage_samples, max_new_tokens=t.max_completion_length,
                     temperature=t.temperature, seed=cfg.seed, batch_size=cfg.evaluate.batch_size,
                     progress=progress, backend=backend)
    chosen = shortest_correct(records, samples, correct_fn)
    wall1, cpu1 = time.time(), _cpu_seconds()

    prompt_of = {r["id"]: p for r, p in zip(records, prompts, strict=True)}
    examples = encode_examples(tok, [(prompt_of[r["id"]], c.text) for r, c in chosen])
    log: list[dict] = []
    if examples:
        steps = t.multistage_sft_steps
        log = sft_train(model, tok, examples, steps=steps, lr=t.multistage_sft_lr,
                        batch_size=cfg.base_model.sft_batch_size, warmup_steps=max(1, steps // 10),
                        seed=cfg.seed, progress=progress)
    else:  # nothing solved (e.g. the smoke profile's barely trained base): RL starts from the base
        warnings.warn(f"multistage: the base model solved none of the {len(records)} training "
                      f"problems in {t.multistage_samples} samples; SFT skipped", stacklevel=2)
    save_model(model, tok, sft_dir)
    wall2, cpu2 = time.time(), _cpu_seconds()
    n_all = sum(len(g) for g in samples)
    cost = {
        "sample": {"wall_s": wall1 - wall0, "cpu_s": cpu1 - cpu0},
        "sft": {"wall_s": wall2 - wall1, "cpu_s": cpu2 - cpu1},
        "n_problems": len(records),
        "n_samples": n_all,
        "sample_accuracy": sum(correct_fn(c.text, str(r["answer"]))
                               for r, g in zip(records, samples, strict=True) for c in g)
        / max(1, n_all),
        "sample_mean_tokens": sum(c.n_tokens for g in samples for c in g) / max(1, n_all),
        "n_sft_examples": len(examples),
        "sft_mean_tokens": sum(c.n_tokens for _, c in chosen) / len(chosen) if chosen else None,
        "sft_final_loss": log[-1]["loss"] if log else None,
    }
    (sft_dir / STAGE_COST_FILE).write_text(json.dumps(cost, indent=2, sort_keys=True) + "\n")
    return cost


def run_multistage(cfg: Config, method: str, reward: Reward, *, model_dir: str | Path,
                   train_path: str | Path, out_dir: str | Path, results_dir: str | Path,
                   correct_fn: CorrectFn | None = None, progress: bool = True) -> dict[str, Any]:
    """All four stages; returns (and writes) ``results_dir/metrics.json`` with summed costs."""
    from hmpo.train import run_grpo

    out_dir, results_dir = Path(out_dir), Path(results_dir)
    sft_dir = out_dir / SFT_DIR
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not (sft_dir / STAGE_COST_FILE).is_file():
        raise ValueError(f"out_dir: {sft_dir} has no finished SFT stage; under a multi-process "
                         f"launch run `python -m hmpo.multistage --method {method} --until sft` "
                         "in one process first")
    write_resolved(cfg, results_dir)
    pre = sample_and_sft(cfg, model_dir=model_dir, train_path=train_path, sft_dir=sft_dir,
                         correct_fn=correct_fn, progress=progress)
    rl = run_grpo(cfg, reward, model_dir=sft_dir, train_path=train_path, out_dir=out_dir,
                  results_dir=results_dir, method=method, correct_fn=correct_fn)
    stages = {"sample": pre["sample"], "sft": pre["sft"],
              "rl": {"wall_s": rl["wall_s"], "cpu_s": rl["cpu_s"], "device_s": rl["device_s"]}}
    metrics = dict(rl)
    metrics.update({
        "multistage": True,
        "stages": stages,
        "wall_s": sum(s["wall_s"] for s in stages.values()),
        "cpu_s": sum(s["cpu_s"] for s in stages.values()),
        # sampling and SFT ran in one process: one machine's seconds each
        "device_s": pre["sample"]["wall_s"] + pre["sft"]["wall_s"] + rl["device_s"],
        "pre_rl": {k: v for k, v in pre.items() if k not in ("sample", "sft")},
    })
    if int(os.environ.get("RANK", "0")) == 0:
        text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
        (results_dir / "metrics.json").write_text(text)
    return metrics


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description="The multi-stage baseline (sample, SFT, GRPO).")
    p.add_argument("--method", default="multistage", help="a `methods` key with multistage: true")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--profile", default=None)
    p.add_argument("--model-dir", default="models/base")
    p.add_argument("--train-path", default="data/processed/train.jsonl")
    p.add_argument("--until", choices=("sft", "rl"), default="rl",
                   help="`sft`: stop after the SFT stage (before a multi-GPU RL launch)")
    a = p.parse_args(argv)
    cfg = load_config(a.params, profile=a.profile)
    m = cfg.methods.get(a.method)
    if m is None or not m.multistage:
        raise ValueError(f"method: {a.method!r} is not a multistage method in {a.params}")
    out_dir = Path("models") / a.method
    if a.until == "sft":
        return sample_and_sft(cfg, model_dir=a.model_dir, train_path=a.train_path,
                              sft_dir=out_dir / SFT_DIR)
    return run_multistage(cfg, a.method, get_reward(m.reward, **m.params), model_dir=a.model_dir,
                          train_path=a.train_path, out_dir=out_dir,
                          results_dir=Path("results/train") / a.method)


if __name__ == "__main__":
    main()

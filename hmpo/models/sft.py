"""Stage `sft_model` for the tiny profiles: SFT a tiny Qwen3 on verbose traces, then measure it.

HMPO needs a base model that reasons correctly but too verbosely. No hub is reachable, so the
CPU profiles make one: a tiny model trained from scratch on the synthetic task's verbose
traces (hmpo.task.synthetic: several renderings per problem with 0..max_rechecks redundant
lines per step, so the model learns a distribution of lengths and has room to compress).

`train_base_model(cfg)` (the stage runs it through :mod:`hmpo.models.sft_model`; the base
model every method starts from is this model after its RL, :mod:`hmpo.training.base_model`):
1. problems from data/processed/synthetic_{train,eval,transfer}.jsonl when the data stage has
   written them, else `make_sets(cfg.data.synthetic, cfg.seed)` (the same sets);
2. SFT on (prompt, verbose trace + EOS) pairs, the prompt masked from the loss; AdamW, linear
   warm-up then cosine decay to 0, gradient clipping 1; one torch thread, seeded: the same
   seed gives identical weights;
3. writes the model + tokenizer to `models/sft/`, the per-step loss to
   `results/sft_model/sft_loss.csv` (for `dvc plots`) and `metrics.json`: sampled (T = 1)
   accuracy overall and per difficulty on held-out problems and on the transfer set, mean
   response length vs the minimal trace, the within-problem spread of lengths.

Measured on the default profile (2 layers, hidden 128, 0.56M parameters, 2,500 steps of 32
traces, lr 3e-3; 2 CPU cores shared with other jobs, load average ~4.5): SFT 9.5 minutes;
sampled accuracy 97.3% on 200 held-out problems x 4 samples (2-6 steps: 100/97/96/96/97%),
76.5% on the 7-8 step transfer set; responses 35.6 tokens against 16.0 for the minimal trace
(2.2x); within-problem coefficient of variation of lengths 0.35.

Run::

    python -c "from hmpo.config import load_config; from hmpo.models.sft import train_base_model; \\
               print(train_base_model(load_config('params.yaml')))"
    python scripts/bench_base_model.py          # the same, with timings, on the default profile
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from hmpo import paths
from hmpo.config import Config, write_resolved
from hmpo.models.generate import sample
from hmpo.models.model import build_tiny_model, build_tokenizer, n_parameters, save_model
from hmpo.task import synthetic
from hmpo.task.prompts import rollout_verdict

SET_NAMES = ("synthetic_train", "synthetic_eval", "synthetic_transfer")
IGNORE = -100


# --------------------------------------------------------------------------- data
def load_problem_sets(cfg: Config,
                      data_dir: str | Path | None = None) -> dict[str, list[dict]]:
    """The three synthetic sets: the data stage's JSONL files in `data_dir` (default
    :func:`hmpo.paths.data_dir`) if all exist, else make_sets."""
    d = Path(data_dir) if data_dir is not None else paths.data_dir()
    files = {name: d / f"{name}.jsonl" for name in SET_NAMES}
    if all(p.is_file() for p in files.values()):
        return {name: [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
                for name, p in files.items()}
    return synthetic.make_sets(cfg.data.synthetic, cfg.seed)


def encode_examples(tokenizer: Any, pairs: list[tuple[str, str]]) -> list[tuple[list[int], int]]:
    """(ids of prompt + completion + EOS, prompt length) per pair, without special tokens.

    Prompt and completion are encoded separately and concatenated, exactly what TRL does at RL
    time (it tokenises the plain prompt with add_special_tokens=False and appends the sampled
    completion ids).
    """
    out = []
    eos = tokenizer.eos_token_id
    unk = tokenizer.unk_token_id
    for prompt, completion in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c = tokenizer(completion, add_special_tokens=False)["input_ids"]
        if unk in p or unk in c:
            raise ValueError(f"untokenisable text (unknown token): {prompt!r} {completion!r}")
        out.append((p + c + [eos], len(p)))
    return out


def _collate(batch: list[tuple[list[int], int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded input_ids / attention_mask / labels with prompt and padding masked."""
    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (seq, n_prompt) in enumerate(batch):
        t = torch.tensor(seq, dtype=torch.long)
        ids[i, :len(seq)] = t
        mask[i, :len(seq)] = 1
        labels[i, n_prompt:len(seq)] = t[n_prompt:]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def lr_at(step: int, *, base_lr: float, warmup: int, total: int) -> float:
    """Linear warm-up to base_lr over `warmup` steps, then cosine decay to 0 at `total`."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))


# --------------------------------------------------------------------------- training
def length_grouped_batches(lengths: list[int], batch_size: int, gen: torch.Generator,
                           group: int = 16) -> Iterator[list[int]]:
    """Endless batches of indices: shuffled epochs, similar lengths batched together.

    Each run of ``group * batch_size`` shuffled indices is sorted by length, cut into `group`
    batches, and those are yielded in a shuffled order: padding shrinks (completions range from
    ~10 to ~150 tokens, so random batches are half padding) while every example is still seen
    once per epoch in a seeded random order.
    """
    while True:
        order = torch.randperm(len(lengths), generator=gen).tolist()
        for start in range(0, len(order), group * batch_size):
            chunk = sorted(order[start:start + group * batch_size], key=lambda i: lengths[i])
            cut = [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
            for k in torch.randperm(len(cut), generator=gen).tolist():
                yield cut[k]


def sft_train(model: torch.nn.Module, tokenizer: Any, examples: list[tuple[list[int], int]], *,
              steps: int, batch_size: int, lr: float, warmup_steps: int, seed: int,
              progress: bool = True, log: list[dict] | None = None,
              callback: Callable[[int, torch.nn.Module], None] | None = None,
              callback_every: int = 0, forward_threads: int | None = None) -> list[dict]:
    """Train `model` in place on `examples` (prompt-masked next-token loss); the loss log.

    Data order comes from a generator seeded with `seed` (epochs of a fixed permutation), so
    with one thread the same seed gives the same weights. `callback(step, model)` runs every
    `callback_every` steps (in eval mode, without gradients; benchmarks measure there).

    `forward_threads`: torch threads of the model's forward pass only (None: the current
    count, which the loss, backward and optimizer always use). The tiny model's forward gives
    the same bits at any thread count (no sum is split across threads; the test checks it),
    so a second core speeds it up without changing the weights. The backward is not
    thread-count invariant: BLAS splits the weight gradients' sums over the batch's tokens
    between threads, and with 2 threads in the backward the base model came out different
    (README, "How fragile that base is").
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    if forward_threads is not None and forward_threads < 1:
        raise ValueError(f"forward_threads must be >= 1 or None, got {forward_threads}")
    if not examples:
        raise ValueError("examples: nothing to train on")
    log = [] if log is None else log
    gen = torch.Generator().manual_seed(seed)
    # betas (0.9, 0.98): the usual choice for short transformer runs; no weight decay on a
    # 0.5M-parameter model that sees each trace a few times only
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
    model.train()
    batches = length_grouped_batches([len(ids) for ids, _ in examples], batch_size, gen)
    threads = torch.get_num_threads()
    t0 = time.perf_counter()
    bar = tqdm(range(steps), desc="sft", disable=not progress, unit="step")
    for step in bar:
        batch = _collate([examples[i] for i in next(batches)], tokenizer.pad_token_id)
        cur_lr = lr_at(step, base_lr=lr, warmup=warmup_steps, total=steps)
        for g in opt.param_groups:
            g["lr"] = cur_lr
        torch.set_num_threads(forward_threads or threads)
        try:
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        finally:
            torch.set_num_threads(threads)
        logits = out.logits[:, :-1].reshape(-1, out.logits.shape[-1])
        target = batch["labels"][:, 1:].reshape(-1)
        loss = torch.nn.functional.cross_entropy(logits, target, ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        log.append({"step": step + 1, "loss": loss.item(), "lr": cur_lr,
                    "elapsed_s": round(time.perf_counter() - t0, 3)})
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if callback is not None and callback_every > 0 and (step + 1) % callback_every == 0:
            model.eval()
            with torch.no_grad():
                callback(step + 1, model)
            model.train()
    model.eval()
    return log


# --------------------------------------------------------------------------- measurement
def measure(model: torch.nn.Module, tokenizer: Any, records: list[dict], *, n_samples: int,
            max_new_tokens: int, seed: int, batch_size: int, temperature: float = 1.0,
            progress: bool = True) -> dict[str, Any]:
    """Sampled accuracy and lengths of `model` on synthetic `records`.

    - accuracy: mean over all samples of is_correct; per difficulty likewise;
    - mean_tokens: mean generated tokens (EOS included), mean_minimal_tokens: the same for the
      minimal traces, length_ratio = their quotient;
    - within_group_cv: mean over problems of std/mean of the lengths of its samples (numpy
      population std), the spread HMPO's median-of-correct budget works with;
    - step_accuracy: correct step lines / step lines attempted (up to the first error), the
      per-step reliability that bounds accuracy on long chains;
    - finished: share of samples that emitted EOS within max_new_tokens.
    """
    prompts = [r["prompt"] for r in records]
    groups = sample(model, tokenizer, prompts, n=n_samples, max_new_tokens=max_new_tokens,
                    temperature=temperature, seed=seed, batch_size=batch_size, progress=progress)
    by_diff: dict[int, list[bool]] = defaultdict(list)
    by_style: dict[tuple[str, str], list[tuple[bool, int]]] = defaultdict(list)
    correct, lengths, minimal, cvs, finished = [], [], [], [], []
    steps_ok = steps_tried = 0
    for rec, group in zip(records, groups, strict=True):
        problem = synthetic.parse_prompt(rec["prompt"])
        k = problem.n_steps
        cell = synthetic.cell_key(k, problem.veiled)
        ls = [c.n_tokens for c in group]
        for c in group:
            # the verdict of training and evaluation: a sample cut at max_new_tokens is wrong
            # whatever its text says
            ok = rollout_verdict(synthetic.is_correct, c.text, rec["answer"],
                                 finished=c.finished, prompt=rec["prompt"]) == 1
            correct.append(ok)
            by_diff[k].append(ok)
            by_style[(cell, synthetic.trace_style(rec["prompt"], c.text))].append(
                (ok, c.n_tokens))
            finished.append(c.finished)
            n_ok = synthetic.steps_correct(rec["prompt"], c.text)
            steps_ok += n_ok
            steps_tried += min(k, n_ok + 1)
        lengths += ls
        minimal.append(synthetic.minimal_trace_tokens(k))
        if len(ls) > 1:
            cvs.append(float(np.std(ls) / np.mean(ls)))
    mean_len = float(np.mean(lengths))
    mean_min = float(np.mean(minimal))
    return {
        "n_problems": len(records),
        "n_samples": n_samples,
        "temperature": temperature,
        "accuracy": float(np.mean(correct)),
        "accuracy_by_difficulty": {str(k): float(np.mean(v)) for k, v in sorted(by_diff.items())},
        "step_accuracy": steps_ok / max(1, steps_tried),
        "mean_tokens": mean_len,
        "mean_minimal_tokens": mean_min,
        "length_ratio": mean_len / mean_min,
        "within_group_cv": float(np.mean(cvs)) if cvs else None,
        "finished": float(np.mean(finished)),
        "styles": style_table(by_style),
    }


def style_table(by_style: dict[tuple[str, str], list[tuple[bool, int]]]) -> dict[str, Any]:
    """Per difficulty and per trace style: share of samples, accuracy, mean tokens.

    `by_style` maps (cell, style) to the (correct, n_tokens) of its samples; the cell is the
    difficulty, ``"<k>?"`` for veiled problems (:func:`hmpo.task.synthetic.cell_key`). Returns
    ``{"<k>": {"<style>": {"share", "accuracy", "mean_tokens", "n"}}, "all": {...}}``; "all"
    pools the difficulties.
    """
    out: dict[str, Any] = {}
    totals: dict[str, int] = defaultdict(int)
    pooled: dict[str, list[tuple[bool, int]]] = defaultdict(list)
    for (k, style), rows in by_style.items():
        totals[str(k)] += len(rows)
        pooled[style] += rows

    def cell(rows: list[tuple[bool, int]], total: int) -> dict[str, float]:
        return {"n": len(rows), "share": len(rows) / total,
                "accuracy": float(np.mean([ok for ok, _ in rows])),
                "mean_tokens": float(np.mean([n for _, n in rows]))}

    def order(item: tuple[tuple[str, str], Any]) -> tuple[int, bool, str]:
        (k, style), _ = item
        return (*synthetic.parse_cell(k), style)

    for (k, style), rows in sorted(by_style.items(), key=order):
        out.setdefault(str(k), {})[style] = cell(rows, totals[str(k)])
    n_all = sum(totals.values())
    out["all"] = {style: cell(rows, n_all) for style, rows in sorted(pooled.items())}
    return out


Batch = tuple[int, list[tuple[list[int], int]], dict[str, torch.Tensor], torch.Tensor]


def _forward_batches(model: torch.nn.Module, tokenizer: Any,
                     examples: list[tuple[list[int], int]], batch_size: int) -> Iterator[Batch]:
    """Teacher forcing in batches: yields ``(offset, examples of the batch, collated batch,
    logits)``, the model in eval mode."""
    model.eval()
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        batch = _collate(chunk, tokenizer.pad_token_id)
        yield start, chunk, batch, model(input_ids=batch["input_ids"],
                                         attention_mask=batch["attention_mask"]).logits


@torch.no_grad()
def teacher_forced_lines(model: torch.nn.Module, tokenizer: Any, records: list[dict], *,
                         max_rechecks: int, seed: int, batch_size: int = 64) -> dict[str, Any]:
    """Teacher-forced per-line accuracy of each trace style, per difficulty (a steering metric).

    For every record, its minimal trace, one verbose trace and one early answer per possible
    number of written lines (0..k-1) are fed in; a line counts as right when the model's most
    likely token *of the same kind* at the line's computed position is the true one (the state
    of a step line, the digit of the answer line). Early answers are also reported by the
    number of operations their answer line absorbs (k - lines written): the structural limit
    of the short style (one absorbed operation is learnable, two are not).
    Returns ``{"lines": {style: {"<k>": acc}}, "answer": {style: {"<k>": acc}},
    "early_answer_by_absorbed": {"<m>": acc}}``.
    """
    import random

    rng = random.Random(f"hmpo-teacher-forced-{seed}")
    items: list[tuple[str, int, int, str, str]] = []  # style, k, absorbed, prompt, completion
    for rec in records:
        p = synthetic.parse_prompt(rec["prompt"])
        items.append(("minimal", p.n_steps, 0, rec["prompt"], synthetic.minimal_trace(p)))
        items.append(("verbose", p.n_steps, 0, rec["prompt"],
                      synthetic.verbose_trace(p, rng, max_rechecks)))
        for j in range(p.n_steps):
            items.append(("early", p.n_steps, p.n_steps - j, rec["prompt"],
                          synthetic.early_answer_trace(p, j)))
    vocab = tokenizer.get_vocab()
    state_ids = [i for t, i in vocab.items() if synthetic.token_parts(t) is not None
                 and synthetic.token_parts(t)[0] == "state"]
    digit_ids = [i for t, i in vocab.items() if synthetic.token_parts(t) is not None
                 and synthetic.token_parts(t)[0] == "digit"]
    answer_id = vocab["A:"]
    is_state = torch.zeros(len(tokenizer), dtype=torch.bool)
    is_state[state_ids] = True
    digit_mask = torch.zeros(len(tokenizer), dtype=torch.bool)
    digit_mask[digit_ids] = True
    lines: dict[tuple[str, int], list[bool]] = defaultdict(list)
    answers: dict[tuple[str, int], list[bool]] = defaultdict(list)
    absorbed: dict[int, list[bool]] = defaultdict(list)
    examples = encode_examples(tokenizer, [(it[3], it[4]) for it in items])
    for start, chunk, _, logits in _forward_batches(model, tokenizer, examples, batch_size):
        for b, (ids, n_prompt) in enumerate(chunk):
            style, k, m, _, _ = items[start + b]
            for pos in range(n_prompt, len(ids)):
                tok = ids[pos]
                if is_state[tok]:
                    mask = is_state
                elif digit_mask[tok] and ids[pos - 1] == answer_id:
                    mask = digit_mask
                else:
                    continue
                pred = logits[b, pos - 1].masked_fill(~mask, float("-inf")).argmax().item()
                ok = pred == tok
                lines[(style, k)].append(ok)
                if mask is digit_mask:
                    answers[(style, k)].append(ok)
                    if style == "early":
                        absorbed[m].append(ok)

    def table(d: dict[tuple[str, int], list[bool]]) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for (style, k), v in sorted(d.items()):
            out.setdefault(style, {})[str(k)] = float(np.mean(v))
        return out

    return {"lines": table(lines), "answer": table(answers),
            "early_answer_by_absorbed": {str(m): float(np.mean(v))
                                         for m, v in sorted(absorbed.items())}}


@torch.no_grad()
def teacher_forced(model: torch.nn.Module, tokenizer: Any, examples: list[tuple[list[int], int]],
                   batch_size: int = 64) -> dict[str, float]:
    """Per-kind reliability of the computed tokens under teacher forcing (a steering metric).

    For each target token that is an operation (``o..``), a state (``s..``) or the answer digit,
    the probability the model gives it *among the tokens of the same kind* (so the legitimate
    randomness of "re-check or next step?" does not count); 1 - that is about the per-token
    error of sampling at T = 1. Keys: ``p_<kind>``, the mean conditional probability, and
    ``err_<kind>``, the share of positions where it is below 0.5 (the argmax within the kind
    is wrong).
    """
    vocab = tokenizer.get_vocab()
    kinds = {
        "op": [i for t, i in vocab.items() if t.startswith(" o")],
        "state": [i for t, i in vocab.items() if t.startswith(" s") and "=" in t],
        "digit": [i for t, i in vocab.items() if len(t) == 2 and t[0] == " " and t[1].isdigit()],
    }
    kind_of = torch.full((len(tokenizer),), -1, dtype=torch.long)
    masks = torch.zeros((len(kinds), len(tokenizer)), dtype=torch.bool)
    for k, ids in enumerate(kinds.values()):
        kind_of[ids] = k
        masks[k, ids] = True
    probs: list[list[float]] = [[] for _ in kinds]
    for _, _, batch, logits in _forward_batches(model, tokenizer, examples, batch_size):
        logits, target = logits[:, :-1], batch["labels"][:, 1:]
        sel = (target != IGNORE) & (kind_of[target.clamp(min=0)] >= 0)
        lg, tg = logits[sel], target[sel]
        kd = kind_of[tg]
        lg = lg.masked_fill(~masks[kd], float("-inf"))
        p = torch.softmax(lg, dim=-1).gather(1, tg[:, None])[:, 0]
        for k in range(len(kinds)):
            probs[k] += p[kd == k].tolist()
    out = {}
    for k, name in enumerate(kinds):
        v = np.array(probs[k]) if probs[k] else np.array([np.nan])
        out[f"p_{name}"] = float(v.mean())
        out[f"err_{name}"] = float((v < 0.5).mean())
    return out


def measure_synthetic(cfg: Config, model: torch.nn.Module, tokenizer: Any,
                      sets: dict[str, list[dict]], *, progress: bool = True) -> dict[str, Any]:
    """The synthetic-task measurements of a model (the SFT model's and the base model's):
    ``eval`` (:func:`measure` on the first ``base_model.n_eval_problems`` held-out problems,
    with ``teacher_forced`` and ``teacher_forced_lines``, the style table theory reads),
    ``transfer`` (the transfer set, when there is one) and ``measure_seconds``.
    `sets` is :func:`load_problem_sets`' dict."""
    b = cfg.base_model
    mk = dict(n_samples=b.n_eval_samples, max_new_tokens=cfg.evaluate.max_new_tokens,
              seed=cfg.seed, batch_size=cfg.evaluate.batch_size, progress=progress)
    t1 = time.perf_counter()
    out: dict[str, Any] = {}
    eval_recs = sets["synthetic_eval"][:b.n_eval_problems]
    out["eval"] = measure(model, tokenizer, eval_recs, **mk)
    held_out = synthetic.sft_texts(eval_recs, 1, cfg.data.synthetic.max_rechecks, cfg.seed + 1)
    out["eval"]["teacher_forced"] = teacher_forced(
        model, tokenizer, encode_examples(tokenizer, held_out))
    out["eval"]["teacher_forced_lines"] = teacher_forced_lines(
        model, tokenizer, eval_recs, max_rechecks=cfg.data.synthetic.max_rechecks,
        seed=cfg.seed, batch_size=cfg.evaluate.batch_size)
    if sets["synthetic_transfer"]:
        out["transfer"] = measure(model, tokenizer,
                                  sets["synthetic_transfer"][:b.n_eval_problems], **mk)
    out["measure_seconds"] = round(time.perf_counter() - t1, 1)
    return out


# --------------------------------------------------------------------------- the stage
def train_base_model(cfg: Config, out_dir: str | Path | None = None,
                     results_dir: str | Path | None = None, *,
                     data_dir: str | Path | None = None, progress: bool = True,
                     measure_model: bool = True) -> dict[str, Any]:
    """SFT the tiny model, save it, measure it; returns (and writes) metrics.json's dict.

    Defaults are the run layout (:mod:`hmpo.paths`) of base seed 0: `out_dir`
    ``models/sft/seed0``, `results_dir` ``results/sft_model/runs/seed0``, `data_dir`
    ``data/processed``. ``cfg.seed`` seeds everything here; the stage calls it through
    :func:`hmpo.models.sft_model.make_sft_model` with each base seed's config
    (:func:`hmpo.config.base_config`); the base model is this model after its RL
    (:mod:`hmpo.training.base_model`).
    """
    b = cfg.base_model
    if b.kind != "tiny":
        raise ValueError(f"base_model.kind: train_base_model builds kind 'tiny', got {b.kind!r}")
    torch.set_num_threads(cfg.threads)
    out_dir = out_dir if out_dir is not None else paths.sft_model_dir(0)
    results = (Path(results_dir) if results_dir is not None
               else paths.base_run_dir(paths.SFT, 0))
    results.mkdir(parents=True, exist_ok=True)
    write_resolved(cfg, results)
    sets = load_problem_sets(cfg, data_dir)
    tokenizer = build_tokenizer()
    pairs = synthetic.sft_texts(sets["synthetic_train"], cfg.data.synthetic.n_sft_traces,
                                cfg.data.synthetic.max_rechecks, cfg.seed)
    examples = encode_examples(tokenizer, pairs)
    model = build_tiny_model(b, tokenizer, cfg.seed)

    t0 = time.perf_counter()
    log = sft_train(model, tokenizer, examples, steps=b.sft_steps, batch_size=b.sft_batch_size,
                    lr=b.sft_lr, warmup_steps=b.sft_warmup_steps, seed=cfg.seed, progress=progress,
                    forward_threads=b.sft_forward_threads)
    for row in log:
        row["phase"] = 1
    if b.sft_mix_steps > 0:
        # Phase 2: the same problems, traces of which early_share answer early. One phase on
        # the whole mix fails (../shared/NOTES.md, outside the repository: 16.5% sampled
        # accuracy; the addition table is not learned when unlearnable targets share the
        # embeddings), so the table comes first.
        mix = encode_examples(tokenizer, synthetic.sft_texts(
            sets["synthetic_train"], cfg.data.synthetic.n_sft_traces,
            cfg.data.synthetic.max_rechecks, cfg.seed + 1,
            early_share=cfg.data.synthetic.early_share,
            guess_share=cfg.data.synthetic.guess_share))
        log2 = sft_train(model, tokenizer, mix, steps=b.sft_mix_steps,
                         batch_size=b.sft_batch_size, lr=b.sft_mix_lr,
                         # a short re-warm-up (20 steps for 1,000): the weights are trained
                         warmup_steps=min(b.sft_warmup_steps, max(1, b.sft_mix_steps // 50)),
                         seed=cfg.seed + 1, progress=progress,
                         forward_threads=b.sft_forward_threads)
        for row in log2:
            row.update(step=row["step"] + b.sft_steps, phase=2,
                       elapsed_s=round(row["elapsed_s"] + log[-1]["elapsed_s"], 3))
        log += log2
    train_s = time.perf_counter() - t0
    save_model(model, tokenizer, out_dir)
    with open(results / "sft_loss.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "phase", "loss", "lr", "elapsed_s"])
        w.writeheader()
        w.writerows(log)

    tail = [r["loss"] for r in log[-max(1, len(log) // 20):]]
    metrics: dict[str, Any] = {
        "n_parameters": n_parameters(model),
        "vocab_size": len(tokenizer),
        "n_sft_examples": len(examples),
        "mean_sft_completion_tokens": float(np.mean([len(e) - n for e, n in examples])),
        "sft_steps": b.sft_steps,
        "sft_mix_steps": b.sft_mix_steps,
        "early_share": cfg.data.synthetic.early_share,
        "sft_seconds": round(train_s, 1),
        "sft_final_loss": float(np.mean(tail)),
    }
    if cfg.data.synthetic.veiled_share > 0:
        metrics.update(veiled_share=cfg.data.synthetic.veiled_share,
                       guess_share=cfg.data.synthetic.guess_share)
    if measure_model:
        metrics.update(measure_synthetic(cfg, model, tokenizer, sets, progress=progress))
    (results / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


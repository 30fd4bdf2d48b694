"""Measure SmolLM2-135M-Instruct (the `smollm2` profile's base model) on easy chain_sum.

What it measures, on the CPU, with the model's ChatML chat template:

1. accuracy and mean response length (tokens, EOS counted as the trainer counts it) of greedy
   decoding and of temperature-T samples (top_k 0, top_p 1: plain sampling, as TRL's GRPO
   samples) on reasoning-gym ``chain_sum`` with 1-digit operands and few terms;
2. generation throughput (response tokens per second of generation wall time, batched);
3. that peft LoRA (the profile's r / alpha / target modules) wraps the model and that one
   forward+backward on a short batch gives gradients to the LoRA weights only (timed).

Run (2 shared CPU cores: ~5-10 minutes with the defaults)::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/measure_smollm2.py --n-problems 16

It prints one JSON object; ``--out FILE`` also writes it (plus every response) to FILE.
Defaults for sampling, lengths, batch and LoRA come from ``params.yaml`` + the ``smollm2``
profile (``evaluate.*``, ``train.lora_*``), so the numbers describe what the profile runs.

Prompts (``--instruction``): ``project`` (default) is ``hmpo.task.prompts.build_prompt(q, style)``
with ``style`` = ``--prompt-style`` (default: the profile's ``base_model.prompt_style``), the
exact prompt training uses (``chat``: question + "Please reason step by step, and put your
final answer within \\boxed{}."; ``chat_oneshot``: the same after one worked example);
``boxed`` a shorter boxed instruction; ``none`` the bare gym question. Two accuracies are
reported: ``accuracy`` by ``hmpo.task.verify.verify`` (the project's answer contract and so the
training reward's correctness: last ``\\boxed{}``, else ``####``, else the last ``A:`` /
``Answer:`` / "answer is <X>" marker), with ``answered`` the fraction that states an answer at
all, and ``accuracy_lenient`` by the local :func:`extract_answer` (last ``\\boxed{}``, else the
last integer anywhere), which shows how much is lost to the answer format rather than to
arithmetic.

Compare prompt styles and temperatures (what configs/profiles/smollm2.yaml was set from)::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/measure_smollm2.py --n-problems 16 \\
        --n-samples 2 --temperature 1.0 --prompt-style chat --skip-lora --out /tmp/chat.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hmpo.config import load_config  # noqa: E402
from hmpo.models.pretrained import convert_smollm2, load_pretrained  # noqa: E402
from hmpo.task.prompts import CHAT_STYLES  # noqa: E402

INSTRUCTIONS = {
    "project": None,  # hmpo.task.prompts.build_prompt(question, "chat", tokenizer)
    "none": "",
    "boxed": "\nPut your final answer in \\boxed{}.",
}
_INT = re.compile(r"-?\d+")


def extract_answer(text: str) -> str | None:
    """Local fallback extraction: the last ``\\boxed{...}`` content, else the last integer.

    >>> extract_answer("4 + 3 = 7, so \\\\boxed{7}.")
    '7'
    >>> extract_answer("The answer is -3.")
    '-3'
    >>> extract_answer("no number") is None
    True
    """
    boxed = re.findall(r"\\boxed\{([^{}]*)\}", text)
    if boxed:
        return boxed[-1].strip()
    ints = _INT.findall(text.replace(",", ""))
    return ints[-1] if ints else None


def lenient_correct(completion: str, gold: str) -> bool:
    """Integer equality of :func:`extract_answer` (last boxed, else last integer) and gold."""
    a = extract_answer(completion)
    try:
        return a is not None and int(float(a)) == int(gold)
    except ValueError:
        return False


def chain_sum_problems(n: int, seed: int, min_terms: int, max_terms: int, max_digits: int):
    """``n`` reasoning-gym chain_sum problems with 1..max_digits-digit operands."""
    import reasoning_gym

    ds = reasoning_gym.create_dataset(
        "chain_sum", size=n, seed=seed, min_terms=min_terms, max_terms=max_terms,
        min_digits=1, max_digits=max_digits,
    )
    return [{"question": e["question"], "answer": e["answer"]} for e in ds]


def response_lengths(new_tokens: torch.Tensor, eos_id: int, pad_id: int) -> list[int]:
    """Tokens of each response up to and including its first EOS (all of it if none).

    Counting the EOS matches ``train.count_eos_in_length``; when pad == eos (SmolLM2) the
    padding after the first EOS is not counted.
    """
    out = []
    for row in new_tokens.tolist():
        n = len(row)
        for i, t in enumerate(row):
            if t == eos_id:
                n = i + 1
                break
        else:
            while n > 0 and row[n - 1] == pad_id and pad_id != eos_id:
                n -= 1
        out.append(n)
    return out


def generate(model, tok, prompts: list[str], *, do_sample: bool, temperature: float,
             max_new_tokens: int, batch_size: int, desc: str
             ) -> tuple[list[str], list[int], float, int]:
    """Batched left-padded generation.

    Returns ``(texts, lengths in tokens, wall seconds, batch token-steps)``; the last is the
    sum over batches of rows x decode steps: a batch decodes until its longest response ends,
    so it (not the useful tokens) is what the wall time pays for.
    """
    tok.padding_side = "left"
    texts, lengths, wall, steps = [], [], 0.0, 0
    kw: dict[str, Any] = {"do_sample": do_sample, "max_new_tokens": max_new_tokens,
                          "pad_token_id": tok.pad_token_id}
    if do_sample:
        kw.update(temperature=temperature, top_k=0, top_p=1.0)
    for i in tqdm(range(0, len(prompts), batch_size), desc=desc):
        enc = tok(prompts[i:i + batch_size], return_tensors="pt", padding=True,
                  add_special_tokens=False)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(**enc, **kw)
        wall += time.perf_counter() - t0
        new = out[:, enc.input_ids.shape[1]:]
        steps += new.numel()
        lens = response_lengths(new, tok.eos_token_id, tok.pad_token_id)
        lengths.extend(lens)
        texts.extend(
            tok.decode(r[:n], skip_special_tokens=True) for r, n in zip(new, lens, strict=True)
        )
    return texts, lengths, wall, steps


def lora_forward_backward(model, tok, prompts: list[str], *, r: int, alpha: int,
                          dropout: float, targets: list[str], batch: int,
                          seq_len: int) -> dict[str, Any]:
    """Wrap with peft LoRA, run one forward+backward of ``batch`` x ``seq_len`` tokens, time it.

    The batch is the chat-templated prompts tokenized and padded/truncated to ``seq_len``
    (a real-text batch, loss on every non-pad token). Checks that only LoRA weights are
    trainable and that the LoRA B matrices got a non-zero gradient (A's gradient is zero on
    the first step because peft initialises B = 0).
    """
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
        task_type="CAUSAL_LM",
    ))
    peft_model.train()
    n_train = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in peft_model.parameters())
    bad = [n for n, p in peft_model.named_parameters() if p.requires_grad and "lora_" not in n]
    tok.padding_side = "right"
    texts = (prompts * (batch // max(len(prompts), 1) + 1))[:batch]
    enc = tok(texts, return_tensors="pt", padding="max_length", truncation=True,
              max_length=seq_len, add_special_tokens=False)
    labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
    t0 = time.perf_counter()
    loss = peft_model(**enc, labels=labels).loss
    t_fwd = time.perf_counter() - t0
    loss.backward()
    t_total = time.perf_counter() - t0
    b_grads = [p.grad.abs().sum().item() for n, p in peft_model.named_parameters()
               if "lora_B" in n and p.grad is not None]
    return {
        "lora_r": r, "lora_alpha": alpha, "target_modules": targets,
        "trainable_params": n_train, "total_params": n_all,
        "non_lora_trainable": bad,
        "batch": batch, "seq_len": seq_len, "loss": loss.item(),
        "forward_s": round(t_fwd, 2), "forward_backward_s": round(t_total, 2),
        "lora_B_with_grad": sum(g > 0 for g in b_grads), "lora_B_total": len(b_grads),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--profile", default="smollm2")
    ap.add_argument("--model-dir", default=None, help="default: the converted SmolLM2 cache")
    ap.add_argument("--n-problems", type=int, default=None,
                    help="default base_model.n_eval_problems")
    ap.add_argument("--n-samples", type=int, default=None,
                    help="T-samples per problem (default base_model.n_eval_samples; 0: none)")
    ap.add_argument("--temperature", type=float, default=None,
                    help="sampling temperature (default evaluate.temperature)")
    ap.add_argument("--min-terms", type=int, default=2)
    ap.add_argument("--max-terms", type=int, default=3)
    ap.add_argument("--max-digits", type=int, default=1)
    ap.add_argument("--instruction", choices=sorted(INSTRUCTIONS), default="project")
    ap.add_argument("--prompt-style", choices=["plain", *CHAT_STYLES], default=None,
                    help="style of --instruction project (default base_model.prompt_style)")
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--lora-batch", type=int, default=4)
    ap.add_argument("--lora-seq-len", type=int, default=64)
    ap.add_argument("--skip-lora", action="store_true")
    ap.add_argument("--out", default=None, help="also write the JSON (+ responses) here")
    args = ap.parse_args(argv)

    cfg = load_config(args.params, profile=args.profile)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    def pick(arg: Any, default: Any) -> Any:
        return default if arg is None else arg

    n = pick(args.n_problems, cfg.base_model.n_eval_problems)
    k = pick(args.n_samples, cfg.base_model.n_eval_samples)
    temperature = pick(args.temperature, cfg.evaluate.temperature)
    max_new = pick(args.max_new_tokens, cfg.evaluate.max_new_tokens)
    bs = pick(args.batch_size, cfg.evaluate.batch_size)
    for name, v in (("--n-problems", n), ("--max-new-tokens", max_new), ("--batch-size", bs)):
        if v < 1:
            raise ValueError(f"{name}: must be >= 1, got {v}")
    if k < 0:
        raise ValueError(f"--n-samples: must be >= 0, got {k}")
    if k > 0 and temperature <= 0:
        raise ValueError(f"--temperature: must be > 0 to sample, got {temperature}")

    model_dir = Path(args.model_dir) if args.model_dir else convert_smollm2()
    model, tok = load_pretrained(model_dir, dtype="float32")
    problems = chain_sum_problems(n, cfg.seed, args.min_terms, args.max_terms, args.max_digits)
    suffix = INSTRUCTIONS[args.instruction]
    style = pick(args.prompt_style, cfg.base_model.prompt_style)
    if suffix is None:
        from hmpo.task.prompts import build_prompt

        prompts = [build_prompt(p["question"], style, tok) for p in problems]
    else:
        prompts = [tok.apply_chat_template([{"role": "user", "content": p["question"] + suffix}],
                                           tokenize=False, add_generation_prompt=True)
                   for p in problems]
    from hmpo.task.verify import check

    result: dict[str, Any] = {
        "model_dir": str(model_dir), "task": "chain_sum",
        "task_params": {"min_terms": args.min_terms, "max_terms": args.max_terms,
                        "min_digits": 1, "max_digits": args.max_digits},
        "instruction": args.instruction, "prompt_style": style if suffix is None else None,
        "prompt_example": prompts[0], "n_problems": n,
        "max_new_tokens": max_new, "batch_size": bs, "threads": cfg.threads,
    }
    responses: dict[str, list] = {}
    for mode, do_sample, reps in (("greedy", False, 1), ("sampled", True, k)):
        if reps == 0:
            continue
        texts, lens, wall, steps = generate(
            model, tok, prompts * reps, do_sample=do_sample, temperature=temperature,
            max_new_tokens=max_new, batch_size=bs, desc=mode,
        )
        golds = [p["answer"] for p in problems] * reps
        verdicts = [check(t, g) for t, g in zip(texts, golds, strict=True)]
        correct = [v.correct for v in verdicts]
        lenient = [lenient_correct(t, g) for t, g in zip(texts, golds, strict=True)]
        result[mode] = {
            "n_completions": len(texts),
            "temperature": temperature if do_sample else 0.0,
            "accuracy": round(sum(correct) / len(correct), 4),
            "correct": sum(correct),
            "answered": round(sum(v.predicted is not None for v in verdicts) / len(texts), 4),
            "accuracy_lenient": round(sum(lenient) / len(lenient), 4),
            "mean_tokens": round(sum(lens) / len(lens), 1),
            "max_tokens": max(lens),
            "truncated": sum(n_ >= max_new for n_ in lens),
            "gen_wall_s": round(wall, 1),
            "tokens_per_s": round(sum(lens) / wall, 1),
            "batch_token_steps_per_s": round(steps / wall, 1),
            "examples": [{"q": problems[i % n]["question"], "gold": golds[i], "response": texts[i]}
                         for i in range(min(3, len(texts)))],
        }
        responses[mode] = [{"gold": g, "response": t, "tokens": n_, "correct": c, "lenient": le}
                           for g, t, n_, c, le in zip(golds, texts, lens, correct, lenient,
                                                      strict=True)]
    if not args.skip_lora:
        t = cfg.train
        result["lora"] = lora_forward_backward(
            model, tok, prompts, r=t.lora_r, alpha=t.lora_alpha, dropout=t.lora_dropout,
            targets=list(t.lora_target_modules), batch=args.lora_batch,
            seq_len=args.lora_seq_len,
        )
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps({**result, "responses": responses}, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()

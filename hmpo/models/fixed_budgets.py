"""Fixed budgets for the `hmpo_fixed` sweep, set by a rule from the base model's lengths.

The paper's fixed-budget ablation uses one hand-picked T (10,000 tokens). Which method "wins"
against a single fixed T depends on where T lies, so the pipeline sweeps T instead: the
budgets are percentiles (``base_model.budget_percentiles``, default 25/50/75) of the lengths
of the base model's **correct** responses on training prompts. Correct ones only: the median
of *all* responses is pulled down by short wrong answers (../shared/NOTES.md: it sat below the
minimal trace of the harder problems and collapsed the policy to guessing).

The base_model stage samples each base model (one per base seed, :func:`hmpo.config.base_seeds`)
on ``base_model.n_budget_problems`` training prompts x ``base_model.n_eval_samples``
completions at the evaluation temperature and writes ``results/base_model/budgets.json``::

    {"seed0": {"budgets_tokens": {"p25": 21.0, "p50": 30.0, "p75": 44.0},
               "percentiles": [25, 50, 75], "n_samples": 800, "n_correct": 690, ...}, ...}

and ``methods.<m>.budget_percentile: 25`` makes every training entry point
(:func:`hmpo.training.methods.resolve_method`) use the ``p25`` of the run's base model as that
method's ``fixed_budget_tokens``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hmpo.paths import budgets_file, data_file, seed_dir_name


def fixed_budgets(lengths: Sequence[float], correct: Sequence[bool],
                  percentiles: Sequence[float]) -> dict[str, float]:
    """``{"p<q>": q-th percentile of the lengths of the correct responses}``.

    numpy's default (linear) percentile. Raises ValueError when no response is correct (no
    budget can be derived) or the inputs disagree in length.

    >>> fixed_budgets([10, 20, 30, 40, 5], [True, True, True, True, False], [25, 50, 75])
    {'p25': 17.5, 'p50': 25.0, 'p75': 32.5}
    """
    lengths = np.asarray(lengths, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    if lengths.shape != correct.shape:
        raise ValueError(f"lengths and correct differ in size: {lengths.size} vs {correct.size}")
    if not correct.any():
        raise ValueError("no correct response: a fixed budget from correct lengths is undefined")
    ok = lengths[correct]
    out = {}
    for q in percentiles:
        if not 0 < q < 100:
            raise ValueError(f"percentiles must be in (0, 100), got {q}")
        out[f"p{q:g}"] = float(np.percentile(ok, q))
    return out


def measure_budgets(cfg: Any, model_dir: str | Path, train_path: str | Path | None = None, *,
                    progress: bool = True) -> dict[str, Any]:
    """Sample a base model (`model_dir`) on training prompts and derive its budgets: one base
    seed's entry of budgets.json (the stage writes the file, :mod:`hmpo.training.base_model`).

    `train_path` defaults to ``data/processed/train.jsonl``. Lengths count every generated
    token, EOS included (``train.count_eos_in_length``, as the rewards count them); a response
    that hit the length cap counts as wrong.
    """
    import torch

    from hmpo.models.generate import sample
    from hmpo.models.model import load_model
    from hmpo.task.data import read_records
    from hmpo.task.prompts import build_prompt, rollout_verdict
    from hmpo.task.verify import verify

    train_path = data_file("train") if train_path is None else train_path
    b, ev = cfg.base_model, cfg.evaluate
    records = read_records(train_path)[:b.n_budget_problems]
    if not records:
        raise ValueError(f"{train_path} has no training prompts")
    torch.manual_seed(cfg.seed)
    if ev.backend == "vllm":
        from transformers import AutoTokenizer

        model, tokenizer = str(model_dir), AutoTokenizer.from_pretrained(model_dir)
    else:
        model, tokenizer = load_model(model_dir)
    prompts = [build_prompt(r["prompt"], b.prompt_style, tokenizer) for r in records]
    groups = sample(model, tokenizer, prompts, n=b.n_eval_samples,
                    max_new_tokens=cfg.train.max_completion_length, temperature=ev.temperature,
                    seed=cfg.seed, batch_size=ev.batch_size, progress=progress,
                    backend=ev.backend)
    eos = int(cfg.train.count_eos_in_length)
    lengths, correct = [], []
    for rec, prompt, group in zip(records, prompts, groups, strict=True):
        for c in group:
            # the generated count includes EOS when the sample finished; without it the
            # rewards' convention (count_eos_in_length false) drops that one token
            lengths.append(c.n_tokens - (0 if eos or not c.finished else 1))
            # the verdict of training and evaluation: truncated or unclosed reasoning is wrong
            correct.append(rollout_verdict(verify, c.text, rec["answer"], finished=c.finished,
                                           prompt=prompt) == 1)
    source = "correct responses"
    if any(correct):
        budgets = fixed_budgets(lengths, correct, b.budget_percentiles)
    else:
        # a base model that solves nothing (the smoke profile's) has no correct length; the
        # sweep still needs budgets to run, so it falls back to all responses, and says so
        source = "all responses (no response was correct)"
        warnings.warn(f"measure_budgets: none of {len(lengths)} base-model responses is correct;"
                      " the fixed budgets are percentiles of all response lengths", stacklevel=2)
        budgets = fixed_budgets(lengths, [True] * len(lengths), b.budget_percentiles)
    ok = np.asarray(lengths, dtype=float)[np.asarray(correct)] if any(correct) else None
    out = {
        "budgets_tokens": budgets,
        "source": source,
        "percentiles": list(b.budget_percentiles),
        "n_problems": len(records),
        "n_samples": len(lengths),
        "n_correct": int(np.sum(correct)),
        "correct_share": float(np.mean(correct)),
        "mean_tokens_all": float(np.mean(lengths)),
        "median_tokens_all": float(np.median(lengths)),
        "mean_tokens_correct": None if ok is None else float(ok.mean()),
        "max_completion_length": cfg.train.max_completion_length,
        "temperature": ev.temperature,
    }
    return out


def budget_tokens(percentile: int, path: str | Path | None = None, *,
                  base_seed: int = 0) -> float:
    """The fixed budget ``p<percentile>`` measured on base seed `base_seed`'s model, from the
    stage's budgets.json (`path`, default :func:`hmpo.paths.budgets_file`: ``{"seed<b>":
    measure_budgets' dict}``): this module's numbers, written by the base_model stage."""
    path = Path(path or budgets_file())
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the base_model stage writes it "
                                "(run `dvc repro base_model`)")
    per_seed = json.loads(path.read_text())
    run = seed_dir_name(base_seed)
    if run not in per_seed:
        raise ValueError(f"{path} has no base seed {run!r} (has {sorted(per_seed)}); rerun "
                         "`dvc repro base_model` after changing train.seeds or base_model.per_seed")
    budgets = per_seed[run]
    key = f"p{percentile}"
    if key not in budgets.get("budgets_tokens", {}):
        raise ValueError(f"{path} has no {key!r} for {run} (has "
                         f"{sorted(budgets.get('budgets_tokens', {}))}); rerun "
                         "`dvc repro base_model` after changing budget_percentiles")
    return float(budgets["budgets_tokens"][key])

"""Stage `evaluate` (notebook 04_evaluate): sampled accuracy and response length of one model.

For every problem of an evaluation set (``data/processed/<set>.jsonl``) the model samples
k = ``evaluate.n_samples`` completions (seeded, the same seed for every model, so the models
see common random numbers), each is judged with training's verdict
(:func:`hmpo.task.prompts.rollout_verdict`: a sample cut at ``max_new_tokens`` without EOS, or
whose reasoning block never closed, is wrong; the EOS ids are training's,
:func:`hmpo.models.generate.eos_token_ids`), and::

    accuracy      = mean over problems of (mean over the k samples of correct)
    mean_tokens   = mean over problems of (mean over the k samples of n_tokens)
    median_tokens = median over all samples of n_tokens
    *_ci          = bootstrap 95% percentile interval, resampling *problems* with replacement
                    (``evaluate.n_bootstrap`` resamples, seeded): the samples of one problem
                    are not independent, the problems are
    by_difficulty = the same means within each difficulty (number of operations for the
                    synthetic task)

Compression against the base model, ``1 - tokens / base_tokens`` (:func:`compression`), is
computed by :mod:`hmpo.analysis.report` once both models are evaluated.

Run one model on one set from Python (repository root)::

    from hmpo.config import load_config
    from hmpo.evaluation.evaluate import evaluate_model
    from hmpo.paths import eval_results_dir, model_dir
    cfg = load_config("params.yaml")
    evaluate_model(cfg, model_dir("hmpo", 0), "synthetic_eval",
                   out_dir=eval_results_dir("hmpo", 0))       # training seed 0 of hmpo

or the whole stage for one model, every set in ``evaluate.sets``: ``dvc repro evaluate@hmpo``.

Outputs per model x set: ``<out_dir>/samples/<set>.jsonl`` (one line per sample: problem id,
sample index, completion, n_tokens, finished, correct, difficulty) and
``<out_dir>/metrics/<set>.json`` (two folders, so that DVC can declare ``metrics/`` as a
metrics directory whatever the sets are). Both are written to a temporary name and renamed,
the metrics last, so a failed run never leaves a file that looks complete.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hmpo import paths
from hmpo.config import Config
from hmpo.io import dumps_json, write_text_atomic


# ----------------------------------------------------------------------------- pure metrics
def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    n_bootstrap: int,
    seed: int,
    level: float = 0.95,
) -> list[float] | None:
    """Percentile bootstrap interval of the mean of ``values`` (one value per problem).

    Draws ``n_bootstrap`` resamples of the problems with replacement (``numpy`` generator
    seeded with ``seed``), takes each resample's mean, and returns the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles as ``[low, high]``. Returns ``None``
    when ``n_bootstrap`` is 0 (no interval requested).

    >>> bootstrap_ci([1.0, 1.0, 1.0], n_bootstrap=100, seed=0)
    [1.0, 1.0]
    """
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)):
        raise ValueError(f"n_bootstrap must be an integer, got {n_bootstrap!r}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("values must be finite")
    if n_bootstrap == 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_bootstrap, arr.size))
    means = arr[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return [float(low), float(high)]


def compression(tokens: float, base_tokens: float) -> float:
    """Compression of a model's mean response length against the base model's.

    ``1 - tokens / base_tokens``: 0.3 means responses 30% shorter than the base model's,
    a negative value means longer (the paper's "compression" in HMPO_SPEC.md).

    >>> compression(70.0, 100.0)
    0.3
    """
    for name, v in (("tokens", tokens), ("base_tokens", base_tokens)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a number, got {v!r}")
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {v!r}")
    if base_tokens == 0:
        raise ValueError("base_tokens must be > 0 (the base model produced empty responses)")
    return float(1.0 - tokens / base_tokens)


def problem_table(samples: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Collapse per-sample rows into one row per problem, in first-appearance order.

    Each sample needs ``id``, ``n_tokens`` and ``correct`` (bool or 0/1), optionally
    ``difficulty``. Returns rows ``{"id", "difficulty", "n_samples", "accuracy",
    "mean_tokens"}`` where accuracy and mean_tokens average over that problem's samples.
    """
    groups: dict[str, dict[str, Any]] = {}
    for i, s in enumerate(samples):
        for key in ("id", "n_tokens", "correct"):
            if key not in s:
                raise ValueError(f"samples[{i}] has no {key!r} field")
        n_tokens = s["n_tokens"]
        if isinstance(n_tokens, bool) or not isinstance(n_tokens, (int, float, np.integer)):
            raise ValueError(f"samples[{i}].n_tokens must be a number, got {n_tokens!r}")
        if n_tokens < 0:
            raise ValueError(f"samples[{i}].n_tokens must be >= 0, got {n_tokens}")
        if s["correct"] not in (True, False, 0, 1):
            raise ValueError(f"samples[{i}].correct must be a bool or 0/1, got {s['correct']!r}")
        g = groups.setdefault(
            str(s["id"]), {"difficulty": s.get("difficulty"), "correct": [], "tokens": []}
        )
        if g["difficulty"] != s.get("difficulty"):
            raise ValueError(
                f"samples[{i}]: problem {s['id']!r} has two difficulties "
                f"({g['difficulty']!r} and {s.get('difficulty')!r})"
            )
        g["correct"].append(float(bool(s["correct"])))
        g["tokens"].append(float(n_tokens))
    if not groups:
        raise ValueError("samples is empty: nothing to evaluate")
    return [
        {
            "id": pid,
            "difficulty": g["difficulty"],
            "n_samples": len(g["correct"]),
            "accuracy": float(np.mean(g["correct"])),
            "mean_tokens": float(np.mean(g["tokens"])),
        }
        for pid, g in groups.items()
    ]


def _difficulty_key(d: Any) -> str:
    """JSON key of a difficulty: integers without a decimal point, None as "none"."""
    if d is None:
        return "none"
    if isinstance(d, float) and d.is_integer():
        d = int(d)
    return str(d)


def by_difficulty(problems: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per-difficulty means of per-problem rows (from :func:`problem_table`).

    Returns ``{difficulty: {"n_problems", "accuracy", "mean_tokens"}}`` with the keys as
    strings (JSON), ordered numerically, "none" (no difficulty) last.
    """
    if not problems:
        raise ValueError("problems is empty")
    buckets: dict[Any, list[Mapping[str, Any]]] = {}
    for p in problems:
        buckets.setdefault(p.get("difficulty"), []).append(p)

    def order(d: Any) -> tuple[int, float, str]:
        if d is None:
            return (2, 0.0, "")
        if isinstance(d, (int, float, np.integer, np.floating)) and not isinstance(d, bool):
            return (0, float(d), "")
        return (1, 0.0, str(d))

    return {
        _difficulty_key(d): {
            "n_problems": len(rows),
            "accuracy": float(np.mean([r["accuracy"] for r in rows])),
            "mean_tokens": float(np.mean([r["mean_tokens"] for r in rows])),
        }
        for d, rows in sorted(buckets.items(), key=lambda kv: order(kv[0]))
    }


def summarize_samples(
    samples: Sequence[Mapping[str, Any]], *, n_bootstrap: int, seed: int
) -> dict[str, Any]:
    """All metrics of one model on one set from its per-sample rows (see the module docstring).

    ``finished_rate`` is the share of samples that ended on their own (EOS) rather than at
    ``max_new_tokens``; samples without a ``finished`` field count as finished.
    """
    problems = problem_table(samples)
    acc = np.array([p["accuracy"] for p in problems])
    tok = np.array([p["mean_tokens"] for p in problems])
    all_tokens = np.array([float(s["n_tokens"]) for s in samples])
    finished = np.array([bool(s.get("finished", True)) for s in samples], dtype=float)
    return {
        "n_problems": len(problems),
        "n_samples_total": int(all_tokens.size),
        "accuracy": float(acc.mean()),
        "accuracy_ci": bootstrap_ci(acc, n_bootstrap=n_bootstrap, seed=seed),
        "mean_tokens": float(tok.mean()),
        "mean_tokens_ci": bootstrap_ci(tok, n_bootstrap=n_bootstrap, seed=seed),
        "median_tokens": float(np.median(all_tokens)),
        "finished_rate": float(finished.mean()),
        "by_difficulty": by_difficulty(problems),
    }


# ----------------------------------------------------------------------------- inputs
#: A training seed's folder name (:func:`hmpo.paths.seed_dir_name`: ``seed<s>``).
_SEED_DIR = re.compile(re.escape(paths.seed_dir_name(0)[:-1]) + r"\d+")


def _fix_hint(model_dir: Path) -> str:
    """The stage that rebuilds `model_dir`: the base or SFT model's (:mod:`hmpo.paths`),
    ``models/<m>`` or a training seed's ``models/<m>/seed<s>`` (whose stage is ``train@<m>``,
    not ``train@seed<s>``)."""
    name = model_dir.name
    if _SEED_DIR.fullmatch(name) and model_dir.parent.name:
        name = model_dir.parent.name
    stage = {paths.BASE: "base_model", paths.SFT: "sft_model"}.get(name, f"train@{name}")
    return f"rerun `dvc repro {stage}`"


def load_eval_set(set_name: str, data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Records of ``<data_dir>/<set_name>.jsonl`` (default: stage data's folder,
    :func:`hmpo.paths.data_dir`), checked against the shared schema.

    Parsing and the schema check are the data stage's own (``hmpo.task.benchmarks.read_jsonl``,
    ``hmpo.task.data.validate_records``); a failure names the file and says how to rebuild it.
    """
    from hmpo.task.benchmarks import read_jsonl
    from hmpo.task.data import validate_records

    if not isinstance(set_name, str) or not set_name:
        raise ValueError(f"set_name must be a non-empty string, got {set_name!r}")
    data_dir = paths.data_dir() if data_dir is None else Path(data_dir)
    path = data_dir / f"{set_name}.jsonl"
    if not path.is_file():
        known = sorted(p.stem for p in data_dir.glob("*.jsonl"))
        raise FileNotFoundError(
            f"evaluate.sets: {path} does not exist (sets present: {known or 'none'}); run "
            f"`dvc repro data`, or drop {set_name!r} from evaluate.sets"
        )
    try:
        records = read_jsonl(path)
        validate_records(records, str(path))
    except ValueError as e:
        raise ValueError(f"{e}; rerun `dvc repro data`") from e
    return records


# ----------------------------------------------------------------------------- outputs
def eval_paths(out_dir: str | Path, set_name: str) -> tuple[Path, Path]:
    """``(metrics JSON, samples JSONL)`` of one model's evaluation on ``set_name``."""
    out = Path(out_dir)
    return out / "metrics" / f"{set_name}.json", out / "samples" / f"{set_name}.jsonl"


# ----------------------------------------------------------------------------- the stage
def evaluate_model(
    cfg: Config,
    model_dir: str | Path,
    set_name: str,
    *,
    out_dir: str | Path,
    data_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Sample, verify and score one model on one evaluation set; write samples and metrics.

    ``cfg`` is the loaded config (``evaluate`` section, ``seed``, ``threads``,
    ``base_model.prompt_style``); ``data_dir`` defaults to stage data's folder. Returns the
    metrics dict also written to ``<out_dir>/metrics/<set_name>.json`` (samples:
    ``<out_dir>/samples/<set_name>.jsonl``).
    """
    import torch
    from transformers import AutoTokenizer

    from hmpo.models.generate import sample, vllm_engine_kwargs
    from hmpo.models.model import ModelDirError, check_model_dir, load_model
    from hmpo.task.prompts import build_prompt, rollout_verdict
    from hmpo.task.verify import verify

    torch.set_num_threads(cfg.threads)  # like every other stage (not only under `make`)
    ev = cfg.evaluate
    model_dir = Path(model_dir)
    check_model_dir(model_dir, hint=_fix_hint(model_dir))  # the message names the stage to rerun
    records = load_eval_set(set_name, data_dir)
    metrics_path, samples_path = eval_paths(out_dir, set_name)
    for stale in (metrics_path, samples_path):
        stale.unlink(missing_ok=True)  # a failure below must not leave an old, "complete" file
    torch.manual_seed(cfg.seed)
    try:
        if ev.backend == "vllm":  # vLLM loads the folder itself; the tokenizer builds prompts
            model, tokenizer = str(model_dir), AutoTokenizer.from_pretrained(model_dir)
        else:
            model, tokenizer = load_model(model_dir)
    except ModelDirError as e:  # corrupt weights or tokenizer: say which stage rebuilds them
        raise ModelDirError(f"{e}; to rebuild it, {_fix_hint(model_dir)}") from e
    prompts = [build_prompt(r["prompt"], cfg.base_model.prompt_style, tokenizer) for r in records]
    completions = sample(
        model,
        tokenizer,
        prompts,
        n=ev.n_samples,
        max_new_tokens=ev.max_new_tokens,
        temperature=ev.temperature,
        seed=cfg.seed,
        batch_size=ev.batch_size,
        progress=progress,
        backend=ev.backend,
        vllm_kwargs=vllm_engine_kwargs(cfg) if ev.backend == "vllm" else None,
    )
    if len(completions) != len(records):
        raise RuntimeError(f"sample returned {len(completions)} groups for {len(records)} prompts")

    # Training's verdict: a sample cut at max_new_tokens, or whose reasoning never closed,
    # is wrong (finished_rate reports how many were cut).
    rows = []
    for r, p, group in zip(records, prompts, completions, strict=True):
        for j, c in enumerate(group):
            rows.append({
                "id": r["id"],
                "sample": j,
                "difficulty": r.get("difficulty"),
                "completion": c.text,
                "n_tokens": int(c.n_tokens),
                "finished": bool(c.finished),
                "correct": rollout_verdict(verify, c.text, str(r["answer"]),
                                           finished=c.finished, prompt=p) == 1,
            })
    metrics = summarize_samples(rows, n_bootstrap=ev.n_bootstrap, seed=cfg.seed)
    metrics.update({
        "model": model_dir.name,
        "set": set_name,
        "n_samples": ev.n_samples,
        "temperature": ev.temperature,
        "max_new_tokens": ev.max_new_tokens,
        "seed": cfg.seed,
    })
    lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    write_text_atomic(samples_path, lines)
    write_text_atomic(metrics_path, dumps_json(metrics))
    return metrics

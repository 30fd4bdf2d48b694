"""Headline metrics: one small flat JSON per evaluated model, the files DVC declares as metrics.

``dvc metrics show`` prints one column per distinct key across all metrics files and one row
per file, and ``dvc metrics diff`` one row per (file, key). Declaring the detailed JSON (nested
CIs, per-difficulty tables, every trainer statistic) gave ~600 columns; these files keep the
handful of numbers a reviewer compares, under short keys, so both commands fit a 120-column
terminal. The detailed JSON stay ordinary outputs.

    results/metrics/<model>.json    one per evaluated model (base and every method)

Keys (a subset per file; :data:`KEYS` documents each). Values on the main evaluation set are
unsuffixed; a second set may be added with a short suffix (e.g. ``acc_tr`` for the transfer
set). Every value of a trained method is the mean over its training seeds; the base model was
trained once and has no ``compr`` / ``train_s``.

    acc      accuracy (share of correct samples), main set
    tok      mean response tokens, main set
    compr    1 - tok / base tok, main set
    fin      share of samples that ended before max_new_tokens, main set
    train_s  RL training wall seconds (multistage: sampling + SFT + RL)

Typical use (stage ``figures``, after :func:`hmpo.analysis.report.write_report`)::

    from hmpo.evaluation.headline import write_headlines
    write_headlines(summary, costs, "results/metrics")  # + acc_tr/tok_tr/compr_tr

and ``dvc metrics show`` / ``dvc metrics diff HEAD~1`` read them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hmpo.evaluation.evaluate import compression
from hmpo.paths import BASE_MODELS, results_dir

#: Every key a headline file may hold, and what it means.
KEYS = {
    "acc": "accuracy on the main evaluation set (0..1, mean over seeds)",
    "tok": "mean response tokens on the main evaluation set (mean over seeds)",
    "compr": "1 - tok / base model tok on the main set",
    "fin": "share of samples finished before max_new_tokens on the main set",
    "train_s": "RL training wall seconds (mean over seeds)",
}
#: Per-set keys, repeated with a suffix for a second evaluation set.
SET_KEYS = ("acc", "tok", "compr", "fin")
#: More keys than this in one file would widen `dvc metrics show` past 120 columns.
MAX_KEYS = 8
#: Longest key: `dvc metrics show` sizes each column by its header.
MAX_KEY_LEN = 8
#: Digits kept per key prefix: a share to 0.01 points (acc, compr, fin), tokens to 0.01,
#: seconds to 0.1 (they vary by more between reruns); short values keep the columns narrow.
DIGITS = {"tok": 2, "train_s": 1}
DEFAULT_DIGITS = 4
#: Further sets in the headline when the caller names none: the synthetic task's harder,
#: unseen 7-8 step problems. The GPU profiles' five benchmarks would need 4 keys each; their
#: headline is the main set (the detailed JSON has every set).
DEFAULT_OTHER_SETS = {"synthetic_transfer": "tr"}


def _mean(values: Sequence[float]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _other_sets(main_set: str, sets, other_sets: Mapping[str, str] | None) -> dict[str, str]:
    """``{set: suffix}`` of the sets after the main one: ``other_sets`` (or
    :data:`DEFAULT_OTHER_SETS`), limited to the sets present; suffixes must be distinct."""
    chosen = DEFAULT_OTHER_SETS if other_sets is None else other_sets
    out = {s: x for s, x in chosen.items() if s in sets and s != main_set}
    if len(set(out.values())) < len(out) or any(not x for x in out.values()):
        raise ValueError(f"other_sets {dict(chosen)}: each set needs its own non-empty suffix "
                         "(the same suffix would overwrite one set's numbers with another's)")
    return out


def _set_headline(entry: Mapping[str, Any], suffix: str, base_tokens: float | None,
                  is_base: bool) -> dict[str, float]:
    """acc/tok/fin (and compr) of one set's across-seed means, keys suffixed ``_<suffix>``."""
    tail = f"_{suffix}" if suffix else ""
    out = {f"acc{tail}": entry.get("accuracy"), f"tok{tail}": entry.get("mean_tokens")}
    if not is_base and base_tokens:
        out[f"compr{tail}"] = compression(entry["mean_tokens"], base_tokens)
    if not suffix:  # the finished rate only for the main set: it is ~1 everywhere else too
        out["fin"] = entry.get("finished_rate")
    return {k: v for k, v in out.items() if v is not None}


def evaluation_headline(per_seed: Mapping[Any, Mapping[str, Mapping[str, Any]]], main_set: str,
                        *, base: Mapping[str, Mapping[str, Any]] | None = None,
                        other_sets: Mapping[str, str] | None = None,
                        is_base: bool = False) -> dict[str, float]:
    """Headline of one model from its evaluation metrics dicts, averaged over seeds.

    ``per_seed`` maps a training seed to ``{set: metrics}`` (the dicts
    :func:`hmpo.evaluation.evaluate.evaluate_model` returns / writes to
    ``results/evaluate/<model>/seed<s>/metrics/<set>.json``); one seed is fine. ``base`` is the base
    model's ``{set: metrics}`` (for ``compr``), ``other_sets`` maps further sets to a key
    suffix (default :data:`DEFAULT_OTHER_SETS`, where present; ``{}`` for none).

    >>> run = {"synthetic_eval": {"accuracy": 0.98, "mean_tokens": 16.0, "finished_rate": 1.0}}
    >>> evaluation_headline({0: run}, "synthetic_eval",
    ...                     base={"synthetic_eval": {"mean_tokens": 32.0}})
    {'acc': 0.98, 'tok': 16.0, 'compr': 0.5, 'fin': 1.0}
    """
    if not per_seed:
        raise ValueError("per_seed is empty: no evaluation to summarise")
    present = {s for by_set in per_seed.values() for s in by_set}
    sets = {main_set: "", **_other_sets(main_set, present, other_sets)}
    out: dict[str, float] = {}
    for s, suffix in sets.items():
        runs = [by_set[s] for by_set in per_seed.values() if s in by_set]
        if not runs:
            if s == main_set:
                raise ValueError(f"no seed has an evaluation on the main set {s!r}")
            continue
        mean = {k: _mean([r.get(k) for r in runs])
                for k in ("accuracy", "mean_tokens", "finished_rate")}
        base_tok = (base or {}).get(s, {}).get("mean_tokens")
        out.update(_set_headline(mean, suffix, base_tok, is_base))
    return _rounded(_ordered(out))


def train_headline(train_metrics: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``{"train_s": mean wall seconds}`` over the seeds' train metrics
    (``results/train/<m>/seed<s>/metrics.json``).

    >>> train_headline([{"wall_s": 50.0}, {"wall_s": 70.0}])
    {'train_s': 60.0}
    """
    walls = [m.get("wall_s") for m in train_metrics]
    if not walls or any(w is None for w in walls):
        raise ValueError("every train metrics dict needs wall_s (hmpo.training.grpo writes it)")
    return _rounded({"train_s": _mean(walls)})


def summary_headline(summary: Mapping[str, Any], model: str,
                     costs: Mapping[str, Any] | None = None,
                     other_sets: Mapping[str, str] | None = None) -> dict[str, float]:
    """Headline of ``model`` from :func:`hmpo.analysis.report.build_summary`'s dict (and the costs).

    The summary's per-set ``accuracy`` / ``mean_tokens`` / ``finished_rate`` / ``compression``
    are already the across-seed means; ``train_s`` is ``costs[model]["train_seconds"]``, or
    the mean of ``train_seconds_per_seed`` when only that is given.
    """
    main = summary["main_set"]
    entry = summary["methods"][model]
    is_base = model in BASE_MODELS
    out: dict[str, float] = {}
    for s, suffix in {main: "", **_other_sets(main, entry["sets"], other_sets)}.items():
        e = entry["sets"][s]
        tail = f"_{suffix}" if suffix else ""
        row = _set_headline(e, suffix, None, is_base)
        if not is_base and e.get("compression") is not None:
            row[f"compr{tail}"] = e["compression"]
        out.update(row)
    cost = (costs or {}).get(model) or {}
    wall = cost.get("train_seconds")
    if wall is None and cost.get("train_seconds_per_seed"):
        per_seed = cost["train_seconds_per_seed"]
        wall = _mean(list(per_seed.values()) if isinstance(per_seed, Mapping) else per_seed)
    if wall is not None and not is_base:
        out["train_s"] = wall
    return _rounded(_ordered(out))


def _ordered(d: Mapping[str, float]) -> dict[str, float]:
    """Keys in one order in every file (acc, tok, compr, fin, the suffixed ones, train_s), so
    the columns of `dvc metrics show` come out in that order."""
    main = [k for k in ("acc", "tok", "compr", "fin") if k in d]
    rest = [k for k in d if k not in main and k != "train_s"]
    return {k: d[k] for k in [*main, *rest, *(["train_s"] if "train_s" in d else [])]}


def _rounded(d: Mapping[str, float]) -> dict[str, float]:
    """Each value rounded to :data:`DIGITS` of its key (``tok_tr`` as ``tok``)."""
    def digits(k: str) -> int:
        return DIGITS.get(k, DIGITS.get(k.split("_")[0], DEFAULT_DIGITS))

    return {k: round(float(v), digits(k)) for k, v in d.items()}


def validate_headline(d: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``d`` is a flat, small dict of finite numbers under short keys."""
    if not isinstance(d, Mapping) or not d:
        raise ValueError(f"a headline is a non-empty flat dict, got {type(d).__name__}: {d!r}")
    if len(d) > MAX_KEYS:
        raise ValueError(f"{len(d)} keys (max {MAX_KEYS}): `dvc metrics show` would grow past "
                         f"120 columns; keep the rest in the detailed JSON ({sorted(d)})")
    for k, v in d.items():
        if not isinstance(k, str) or not k or len(k) > MAX_KEY_LEN or "." in k or "/" in k:
            raise ValueError(f"key {k!r}: a short name (<= {MAX_KEY_LEN} chars, no '.' or '/')")
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{k}={v!r}: headline values are numbers, not "
                             f"{type(v).__name__} (nested values belong in the detailed JSON)")
        if not math.isfinite(v):
            raise ValueError(f"{k}={v!r}: not a finite number")


def write_headline(path: str | Path, d: Mapping[str, Any]) -> Path:
    """Validate ``d`` (:func:`validate_headline`) and write it as JSON, keys in its order."""
    validate_headline(d)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(dict(d), indent=1) + "\n")
    tmp.replace(path)  # atomic: DVC never reads half a file
    return path


def write_headlines(summary: Mapping[str, Any], costs: Mapping[str, Any] | None,
                    out_dir: str | Path | None = None,
                    other_sets: Mapping[str, str] | None = None) -> list[Path]:
    """Write ``<out_dir>/<model>.json`` for every model of the summary (default folder:
    ``results/metrics``, :func:`hmpo.paths.results_dir`); returns the paths.

    A file left from a model no longer in the summary is removed, so `dvc metrics show` does
    not list a stale row.
    """
    out_dir = results_dir("metrics") if out_dir is None else Path(out_dir)
    paths = [write_headline(out_dir / f"{m}.json",
                            summary_headline(summary, m, costs, other_sets))
             for m in summary["methods"]]
    for stale in set(out_dir.glob("*.json")) - set(paths):
        stale.unlink()
    return paths


def check_flat_metrics(path: str | Path) -> dict[str, float]:
    """Read a metrics file and raise ValueError unless it is a valid headline; for tests.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.json")
    >>> _ = write_headline(p, {"acc": 0.9, "tok": 16.1})
    >>> check_flat_metrics(p)
    {'acc': 0.9, 'tok': 16.1}
    """
    path = Path(path)
    if path.stat().st_size > 1024:
        raise ValueError(f"{path}: {path.stat().st_size} bytes; a headline file is < 1 KiB")
    d = json.loads(path.read_text())
    try:
        validate_headline(d)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return d

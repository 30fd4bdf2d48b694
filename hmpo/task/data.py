"""Stage `data` (notebook 01_data): every enabled source in the shared schema, in data/processed/.

Writes, for a Config ``cfg``::

    data/processed/synthetic_train.jsonl, synthetic_eval.jsonl, synthetic_transfer.jsonl
    data/processed/gym_<task>.jsonl           (data.gym.enabled; evaluation draws)
    data/processed/<benchmark>.jsonl          (data.benchmarks.enabled; e.g. gsm8k, math500)
    data/processed/train.jsonl                (the RL training set: data.train_source,
                                               decontaminated against every evaluation set)
    data/processed/report.json                (counts, sources, decontamination, sha256)

Training pools by ``data.train_source``: ``synthetic`` = synthetic_train; ``gym`` = fresh
draws of each gym task (``data.gym.n_train_per_task``, a seed distinct from the evaluation
draws); ``gsm8k`` = the GSM8K train split; ``math`` = the MATH test problems outside MATH-500;
``deepmath`` = a seeded ``data.deepmath_size`` subset of DeepMath-103K (the paper's set).
Benchmarks and pools read ``data.benchmarks.local_dir`` (relative paths are relative to the
repository root) or, when it is null, the hub.

Decontamination (:func:`normalize_problem`, :func:`decontaminate`): a training problem is
removed when its normalised text equals that of any problem of any evaluation set (every set
written here except synthetic_train); the report counts the matches per (pool, evaluation
set) pair. With ``data.decontaminate: false`` the matches are counted but nothing is removed.

Determinism: every draw is seeded from ``cfg.seed``; records are written in a fixed order with
fixed key order, and report.json holds no times or absolute paths, so the same config gives
byte-identical files. Bad data fails with ``ValueError`` naming the file and the problem.

Run::

    python -m hmpo.task.data                      # params.yaml -> data/processed/
    python -m hmpo.task.data --profile smoke --out /tmp/data
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import re
import unicodedata
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from hmpo.config import (  # noqa: F401 - SYNTHETIC_SETS, planned_sets re-exported
    SYNTHETIC_SETS,
    Config,
    load_config,
    planned_sets,
)
from hmpo.paths import data_dir
from hmpo.task.benchmarks import SCHEMA_FIELDS, SPLITS, check_unique_ids, load_benchmark, source_of
from hmpo.task.gym import load_gym_task
from hmpo.task.prompts import strip_instruction

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAIN_FILE = "train"
REPORT_FILE = "report.json"


# --------------------------------------------------------------------------- schema
def validate_records(records: list[dict], where: str) -> None:
    """Check the shared schema; ValueError naming `where`, the record and the field.

    Every record has the six fields ``id, source, prompt, answer`` (non-empty strings),
    ``difficulty`` (int, float or None) and ``split`` (train / eval / test); ids are unique.
    Extra fields are allowed (and written after the schema fields).
    """
    if not isinstance(records, list):
        raise ValueError(f"{where}: expected a list of records, got {type(records).__name__}")
    for k, r in enumerate(records):
        if not isinstance(r, dict):
            raise ValueError(f"{where}: record {k} is a {type(r).__name__}, not a dict")
        missing = [f for f in SCHEMA_FIELDS if f not in r]
        if missing:
            raise ValueError(f"{where}: record {k} ({r.get('id', 'no id')!r}) is missing "
                             f"field(s) {', '.join(missing)}")
        for f in ("id", "source", "prompt", "answer"):
            if not isinstance(r[f], str) or not r[f]:
                raise ValueError(f"{where}: record {r['id']!r} field {f!r} must be a non-empty "
                                 f"string, got {r[f]!r}")
        d = r["difficulty"]
        if d is not None and (isinstance(d, bool) or not isinstance(d, (int, float))):
            raise ValueError(f"{where}: record {r['id']!r} difficulty must be a number or null, "
                             f"got {d!r}")
        if r["split"] not in SPLITS:
            raise ValueError(f"{where}: record {r['id']!r} split must be one of {list(SPLITS)}, "
                             f"got {r['split']!r}")
    check_unique_ids(records, where)


def _ordered(record: dict) -> dict:
    """Schema fields first in schema order, then any extra fields sorted (stable bytes)."""
    out = {f: record[f] for f in SCHEMA_FIELDS}
    for k in sorted(set(record) - set(SCHEMA_FIELDS)):
        out[k] = record[k]
    return out


def write_jsonl(records: Iterable[dict], path: str | Path) -> str:
    """Write records as JSONL (UTF-8, one object per line); return the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(_ordered(r), ensure_ascii=False) + "\n" for r in records)
    path.write_bytes(data.encode("utf-8"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def read_records(path: str | Path) -> list[dict]:
    """Read a JSONL file written by :func:`write_jsonl`."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --------------------------------------------------------------------------- decontamination
_LATEX_SPACING = re.compile(
    r"\\(?:[,;:! ]|quad(?![A-Za-z])|qquad(?![A-Za-z])|left(?![A-Za-z])|right(?![A-Za-z])"
    r"|displaystyle(?![A-Za-z]))"
)
_PUNCT = re.compile(r"[,;:!?'\"`\u2018\u2019\u201c\u201d]|(?<!\d)\.|\.(?!\d)")
_SPACE_AROUND_SYMBOL = re.compile(r" ?([^\w ]) ?")

NORMALISER_DESCRIPTION = (
    "drop a trailing 'reason step by step ... \\boxed{}' instruction; Unicode NFKC; lowercase; "
    "remove $, ~ and LaTeX spacing/sizing (\\, \\; \\: \\! \\quad \\qquad \\left \\right "
    "\\displaystyle); \\dfrac/\\tfrac -> \\frac; drop thousands separators between digits; "
    "remove punctuation (, ; : ! ? quotes, and '.' unless between digits); collapse "
    "whitespace and drop spaces next to symbols"
)


def normalize_problem(text: str) -> str:
    """The decontamination key of a problem text (see NORMALISER_DESCRIPTION).

    Math operators (+ - * / = ^ < > brackets) and digits are kept, so "4+5" and "4-5" stay
    distinct; only presentation (case, spacing, punctuation, LaTeX spacing) is erased.

    >>> normalize_problem("What is $1,000 + 2$?") == normalize_problem("what is 1000+2")
    True
    >>> normalize_problem("Q: s4=3 o5+9 e6") == normalize_problem("Q: s4=3 o5-9 e6")
    False
    """
    t = unicodedata.normalize("NFKC", strip_instruction(text)).lower()
    t = _LATEX_SPACING.sub(" ", t)
    t = re.sub(r"\\[dt]frac(?![a-z])", r"\\frac", t)
    t = t.replace("$", " ").replace("~", " ")
    t = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", t)
    t = _PUNCT.sub(" ", t)
    t = re.sub(r"\s+", " ", t).strip()
    return _SPACE_AROUND_SYMBOL.sub(r"\1", t)


def decontaminate(
    pool: list[dict], eval_sets: dict[str, list[dict]], *, remove: bool = True
) -> tuple[list[dict], dict[str, Any]]:
    """Drop pool records whose normalised prompt matches any evaluation problem.

    Returns (kept records in pool order, report). The report's ``overlap`` maps each
    evaluation set to the number of pool records matching one of its problems (a record can
    count for several sets); ``removed`` counts the distinct records dropped.
    """
    pool_keys = [normalize_problem(r["prompt"]) for r in pool]
    overlap: dict[str, int] = {}
    contaminated: set[int] = set()
    for name in sorted(eval_sets):
        keys = {normalize_problem(r["prompt"]) for r in eval_sets[name]}
        hits = [i for i, k in enumerate(pool_keys) if k in keys]
        overlap[name] = len(hits)
        contaminated.update(hits)
    kept = [r for i, r in enumerate(pool) if not (remove and i in contaminated)]
    report = {
        "normaliser": NORMALISER_DESCRIPTION,
        "pool_size": len(pool),
        "overlap": overlap,
        "matched": len(contaminated),
        "removed": len(pool) - len(kept),
        "kept": len(kept),
    }
    return kept, report


# --------------------------------------------------------------------------- sets
def derive_seed(seed: int, *labels: str) -> int:
    """A stable sub-seed for one draw (sha256 of the seed and labels; not Python's hash())."""
    digest = hashlib.sha256("/".join([str(seed), *labels]).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def resolve_local_dir(local_dir: str | None) -> Path | None:
    """`data.benchmarks.local_dir` as a path: relative paths are relative to the repo root."""
    if local_dir is None:
        return None
    p = Path(local_dir)
    return p if p.is_absolute() else REPO_ROOT / p


def _synthetic_sets(cfg: Config) -> dict[str, list[dict]]:
    synthetic = importlib.import_module("hmpo.task.synthetic")  # another engineer's module: lazy
    sets = synthetic.make_sets(cfg.data.synthetic, cfg.seed)
    if set(sets) != set(SYNTHETIC_SETS):
        raise ValueError(f"hmpo.task.synthetic.make_sets: expected sets {list(SYNTHETIC_SETS)}, "
                         f"got {sorted(sets)}")
    return {k: sets[k] for k in SYNTHETIC_SETS}


def _train_pool(cfg: Config, sets: dict[str, list[dict]], local_dir: Path | None
                ) -> tuple[str, list[dict], str]:
    """(pool name, records, source description) for data.train_source."""
    d = cfg.data
    src = d.train_source
    if src == "synthetic":
        return "synthetic_train", sets["synthetic_train"], "hmpo.task.synthetic"
    if src == "gym":
        records = []
        for task in d.gym.tasks:
            records += load_gym_task(task, d.gym.n_train_per_task,
                                     derive_seed(cfg.seed, "gym-train", task), split="train",
                                     **d.gym.task_configs.get(task, {}))
        return "gym_train", records, f"reasoning-gym {','.join(d.gym.tasks)} (train draws)"
    name = {"gsm8k": "gsm8k_train", "math": "math", "deepmath": "deepmath"}[src]
    kwargs = {"size": d.deepmath_size, "seed": cfg.seed} if src == "deepmath" else {}
    records = load_benchmark(name, local_dir, **kwargs)
    return name, records, _source(name, d.benchmarks.local_dir)


def _source(name: str, local_dir_config: str | None) -> str:
    # the configured (relative) path, not the resolved one: report.json must not depend on
    # where the repository is checked out
    return source_of(name, local_dir_config)


def build_sets(cfg: Config, *, progress: bool = True) -> tuple[dict[str, list[dict]], dict]:
    """All sets for `cfg` (including ``train``) and the report; writes nothing."""
    d = cfg.data
    local_dir = resolve_local_dir(d.benchmarks.local_dir)
    sets: dict[str, list[dict]] = {}
    sources: dict[str, str] = {}

    jobs: list[tuple[str, Any]] = [("synthetic", None)]
    if d.gym.enabled:
        jobs += [("gym", t) for t in d.gym.tasks]
    skipped: dict[str, str] = {}
    if d.benchmarks.enabled and local_dir is not None and not local_dir.is_dir() \
            and d.benchmarks.optional:
        reason = (f"data.benchmarks.local_dir {d.benchmarks.local_dir!r} not found; "
                  "benchmarks skipped (data.benchmarks.optional is true)")
        warnings.warn(reason, stacklevel=2)
        skipped = {n: reason for n in d.benchmarks.names}
    elif d.benchmarks.enabled:
        jobs += [("benchmark", n) for n in d.benchmarks.names]
    bar = tqdm(jobs, desc="data", disable=not progress, leave=False)
    for kind, arg in bar:
        bar.set_postfix_str(arg or kind)
        if kind == "synthetic":
            for name, recs in _synthetic_sets(cfg).items():
                sets[name] = recs
                sources[name] = "hmpo.task.synthetic"
        elif kind == "gym":
            name = f"gym_{arg}"
            seed = derive_seed(cfg.seed, "gym-eval", arg)
            task_kwargs = d.gym.task_configs.get(arg, {})
            sets[name] = load_gym_task(arg, d.gym.n_per_task, seed, split="eval", **task_kwargs)
            sources[name] = f"reasoning-gym {arg} seed={seed}" + "".join(
                f" {k}={v}" for k, v in sorted(task_kwargs.items()))
        else:
            sets[arg] = load_benchmark(arg, local_dir, d.benchmarks.max_per_benchmark,
                                       seed=cfg.seed)
            sources[arg] = _source(arg, d.benchmarks.local_dir)
    for name, recs in sets.items():
        validate_records(recs, name)

    pool_name, pool, pool_source = _train_pool(cfg, sets, local_dir)
    validate_records(pool, pool_name)
    eval_sets = {k: v for k, v in sets.items() if k != "synthetic_train"}
    train, decon = decontaminate(pool, eval_sets, remove=d.decontaminate)
    decon = {"enabled": d.decontaminate, "pool": pool_name, **decon}
    sets[TRAIN_FILE] = train
    sources[TRAIN_FILE] = pool_source

    report = {
        "seed": cfg.seed,
        "profile": cfg.profile,
        "train_source": d.train_source,
        "counts": {k: len(v) for k, v in sorted(sets.items())},
        "sources": dict(sorted(sources.items())),
        "decontamination": decon,
        "skipped": skipped,
    }
    return sets, report


def prepare_data(cfg: Config, out_dir: str | Path | None = None, *,
                 progress: bool = True) -> dict:
    """Write every enabled set, ``train.jsonl`` and ``report.json`` under `out_dir`
    (default: stage data's folder, :func:`hmpo.paths.data_dir`).

    Returns the report (also written as report.json): ``counts`` per set, ``sources``,
    ``decontamination`` (per-evaluation-set overlaps with the training pool, removed count)
    and each file's ``sha256``. Same config -> byte-identical files.

    Raises:
        ValueError: bad data (a local file missing a field, an empty benchmark file, invalid
            JSON, a duplicate id), naming the file and the problem.
    """
    sets, report = build_sets(cfg, progress=progress)
    out = data_dir() if out_dir is None else Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name in sorted(sets):
        digests[name] = write_jsonl(sets[name], out / f"{name}.jsonl")
    report["sha256"] = digests
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n",
                                   encoding="utf-8")
    if progress:
        width = max(len(k) for k in report["counts"])
        for name, n in report["counts"].items():
            print(f"  {name:<{width}} {n:>6} records  ({report['sources'][name]})")
        dc = report["decontamination"]
        print(f"  decontamination: {dc['matched']} of {dc['pool_size']} {dc['pool']} problems "
              f"match an evaluation problem, {dc['removed']} removed")
    return report


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - thin CLI
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--out", default=str(data_dir()))
    args = ap.parse_args(argv)
    prepare_data(load_config(args.params, profile=args.profile), args.out)


if __name__ == "__main__":  # pragma: no cover
    main()

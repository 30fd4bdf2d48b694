"""Real benchmarks and training pools, mapped to the shared record schema.

Every loader returns records ``{id, source, prompt, answer, difficulty, split}`` (the raw
question in ``prompt``; hmpo.task.prompts wraps it). Rows come from the Hugging Face hub through
``datasets.load_dataset(...)`` by default, or from a local folder (``local_dir``) holding
JSONL files in the hub's own schema at ``<local_dir>/<BenchmarkSpec.local_path>`` (the
project's tests and CPU runs use the copies in ``../shared/data``; they are never committed).

==============  ======================================  ====================================
name            hub (config / split)                    mapping
==============  ======================================  ====================================
gsm8k           openai/gsm8k (main / test)              answer after ``####``, commas removed
gsm8k_train     openai/gsm8k (main / train)             the same, a training pool
math500         HuggingFaceH4/MATH-500 (test)           answer; difficulty = level 1-5
math            DigitalLearningGmbH/MATH-lighteval      the MATH test set minus the MATH-500
                (default / test)                        problems (4,500, a training pool);
                                                        answer = last ``\\boxed{}`` of solution
aime24          HuggingFaceH4/aime_2024 (train)         answer as a string
aime25          MathArena/aime_2025 (train)             answer as a string
amc23           math-ai/amc23 (test)                    answer as a string
deepmath        zwhe99/DeepMath-103K (train)            the paper's training set: a seeded
                                                        subset of ``size`` problems;
                                                        question / final_answer / difficulty
gpqa_diamond    Idavidrein/gpqa (gpqa_diamond / train)  4 options shuffled (seeded per record)
                                                        into "A) .. D)"; answer = the letter
livecodebench   livecodebench/code_generation_lite      answer = the public test cases (JSON);
                (JSONL files, json builder)             difficulty easy/medium/hard = 1/2/3
ifeval          google/IFEval (train)                   answer = JSON of instruction ids and
                                                        their kwargs
==============  ======================================  ====================================

Transfer benchmarks: LiveCodeBench answers are test cases and IFEval answers are instruction
specifications; **verifying code or instruction following is out of scope here**
(hmpo.task.verify only compares final answers), so these two are mapped for generation and
length measurement, and their answers kept for an external checker. GPQA answers are letters
and hmpo.task.verify compares them.

A question that already ends with "Please reason step by step ... \\boxed{}." (the AIME/AMC
local copies) is stored without it (hmpo.task.prompts.strip_instruction), so the prompt template
adds it exactly once.

Bad data fails with ``ValueError`` naming the file (or hub row) and the problem: a missing
field, an empty file, invalid JSON, a GSM8K answer without ``####``, a duplicate id.

Example::

    from hmpo.task.benchmarks import load_benchmark
    rows = load_benchmark("aime24", local_dir="../shared/data")   # 30 records
    rows = load_benchmark("deepmath", size=6977, seed=0)          # hub
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hmpo.task.prompts import last_boxed, strip_instruction

SCHEMA_FIELDS = ("id", "source", "prompt", "answer", "difficulty", "split")
SPLITS = ("train", "eval", "test")

EVAL_BENCHMARKS = ("gsm8k", "math500", "aime24", "aime25", "amc23")
TRANSFER_BENCHMARKS = ("gpqa_diamond", "livecodebench", "ifeval")
TRAIN_POOLS = ("gsm8k_train", "math", "deepmath")

# LiveCodeBench "lite" releases are cumulative JSONL files; release_v6 = all six.
LIVECODEBENCH_FILES = tuple(f"test{i if i > 1 else ''}.jsonl" for i in range(1, 7))
GPQA_DIFFICULTY = {  # the writer's difficulty estimate, as an ordinal
    "easy undergraduate": 1,
    "hard undergraduate": 2,
    "hard graduate": 3,
    "post-graduate": 4,
}
LCB_DIFFICULTY = {"easy": 1, "medium": 2, "hard": 3}


@dataclass(frozen=True)
class Context:
    """What a row mapper needs besides the row: where it came from and the seed."""

    name: str  # the benchmark name (id prefix)
    source: str  # the records' `source` field
    where: str  # "path:line" or "hub id row i", for error messages
    seed: int


Mapper = Callable[[dict, int, Context], dict]


@dataclass(frozen=True)
class BenchmarkSpec:
    """Where a benchmark lives and how its rows map to the schema.

    `required` lists, per schema need, the alternative field names a row may use (the first
    present wins), e.g. ``(("problem", "question"), ("answer",))``.
    """

    name: str
    hub_id: str
    hub_config: str | None
    hub_split: str
    local_path: str
    split: str
    required: tuple[tuple[str, ...], ...]
    mapper: Mapper
    hub_kwargs: dict[str, Any] = field(default_factory=dict)
    columns: tuple[str, ...] = ()  # hub columns to keep (all when empty)
    source: str = ""  # the records' `source` (default: the name)


# --------------------------------------------------------------------------- helpers
def _pick(row: dict, names: tuple[str, ...]) -> Any:
    for n in names:
        if n in row and row[n] is not None:
            return row[n]
    return None


def _answer_str(value: Any) -> str:
    """Gold answers as strings: integral floats lose their '.0' (hub AMC answers are floats)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _record(name: str, rid: str, prompt: str, answer: str, difficulty: Any, split: str) -> dict:
    return {
        "id": rid,
        "source": name,
        "prompt": prompt,
        "answer": answer,
        "difficulty": difficulty,
        "split": split,
    }


def _level(value: Any) -> int | None:
    """MATH levels: 3, "3" or "Level 3" -> 3; "Level ?" -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    digits = "".join(c for c in str(value) if c.isdigit())
    return int(digits) if digits else None


# --------------------------------------------------------------------------- mappers
def _map_gsm8k(split: str) -> Mapper:
    def mapper(row: dict, i: int, ctx: Context) -> dict:
        full = str(row["answer"])
        if "####" not in full:
            raise ValueError(f"{ctx.where}: GSM8K answer has no '####' final-answer marker")
        answer = full.rsplit("####", 1)[1].strip().replace(",", "")
        if not answer:
            raise ValueError(f"{ctx.where}: empty GSM8K answer after '####'")
        return _record(ctx.source, f"{ctx.name}-{i:04d}", strip_instruction(str(row["question"])),
                       answer, None, split)

    return mapper


def _map_math500(row: dict, i: int, ctx: Context) -> dict:
    rid = row.get("unique_id") or f"{i:03d}"
    return _record(ctx.source, f"math500-{rid}", strip_instruction(str(row["problem"])),
                   _answer_str(row["answer"]), _level(row.get("level")), "test")


def _map_math(row: dict, i: int, ctx: Context) -> dict:
    answer = last_boxed(str(row["solution"]))
    if answer is None:
        raise ValueError(f"{ctx.where}: MATH solution has no \\boxed{{}} answer")
    return _record(ctx.source, f"math-{i:04d}", strip_instruction(str(row["problem"])), answer,
                   _level(row.get("level")), "train")


def _map_competition(row: dict, i: int, ctx: Context) -> dict:
    question = _pick(row, ("problem", "question"))
    return _record(ctx.source, f"{ctx.name}-{i:02d}", strip_instruction(str(question)),
                   _answer_str(row["answer"]), None, "test")


def _map_deepmath(row: dict, i: int, ctx: Context) -> dict:
    difficulty = row.get("difficulty")
    if difficulty is not None and not isinstance(difficulty, (int, float)):
        raise ValueError(f"{ctx.where}: difficulty must be a number, got {difficulty!r}")
    return _record(ctx.source, f"deepmath-{i:06d}", strip_instruction(str(row["question"])),
                   _answer_str(row["final_answer"]), difficulty, "train")


def _gpqa_difficulty(text: Any) -> int | None:
    t = str(text or "").lower()
    for key, value in GPQA_DIFFICULTY.items():
        if t.startswith(key):
            return value
    return None


def _map_gpqa(row: dict, i: int, ctx: Context) -> dict:
    """Multiple choice: the four options in a seeded order, lettered A-D; answer = a letter.

    The order depends only on (seed, record id), so it is stable under subsetting.
    """
    record_id = str(row.get("Record ID") or f"{i:03d}")
    correct = str(row["Correct Answer"]).strip()
    options = [correct] + [str(row[f"Incorrect Answer {k}"]).strip() for k in (1, 2, 3)]
    order = random.Random(f"gpqa-{ctx.seed}-{record_id}").sample(range(4), 4)
    letters = "ABCD"
    lines = [f"{letters[pos]}) {options[k]}" for pos, k in enumerate(order)]
    answer = letters[order.index(0)]
    prompt = str(row["Question"]).strip() + "\n\n" + "\n".join(lines)
    return _record(ctx.source, f"gpqa_diamond-{record_id}", prompt, answer,
                   _gpqa_difficulty(row.get("Writer's Difficulty Estimate")), "test")


def _map_livecodebench(row: dict, i: int, ctx: Context) -> dict:
    """Problem statement (+ starter code); answer = the public test cases as canonical JSON.

    Code is not executed or verified here (out of scope): the answer is kept for a checker.
    """
    raw = row["public_test_cases"]
    try:
        tests = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as e:
        raise ValueError(f"{ctx.where}: public_test_cases is not valid JSON ({e})") from e
    prompt = str(row["question_content"]).strip()
    starter = str(row.get("starter_code") or "").strip()
    if starter:
        prompt += "\n\nStarter code:\n```python\n" + starter + "\n```"
    difficulty = LCB_DIFFICULTY.get(str(row.get("difficulty", "")).lower())
    return _record(ctx.source, f"livecodebench-{row['question_id']}", prompt,
                   json.dumps(tests, sort_keys=True, ensure_ascii=False), difficulty, "test")


def _map_ifeval(row: dict, i: int, ctx: Context) -> dict:
    """Prompt as is; answer = JSON {instruction_id_list, kwargs} (unused kwargs dropped).

    Instruction following is not checked here (out of scope): the answer is kept for a checker.
    """
    ids = list(row["instruction_id_list"])
    kwargs = [{k: v for k, v in (kw or {}).items() if v is not None} for kw in row["kwargs"]]
    if len(kwargs) != len(ids):
        raise ValueError(f"{ctx.where}: {len(ids)} instruction ids but {len(kwargs)} kwargs")
    answer = json.dumps({"instruction_id_list": ids, "kwargs": kwargs}, sort_keys=True,
                        ensure_ascii=False)
    return _record(ctx.source, f"ifeval-{row['key']}", str(row["prompt"]), answer, None, "test")


BENCHMARKS: dict[str, BenchmarkSpec] = {
    s.name: s
    for s in [
        BenchmarkSpec("gsm8k", "openai/gsm8k", "main", "test", "gsm8k/test.jsonl", "test",
                      (("question",), ("answer",)), _map_gsm8k("test")),
        BenchmarkSpec("gsm8k_train", "openai/gsm8k", "main", "train", "gsm8k/train.jsonl",
                      "train", (("question",), ("answer",)), _map_gsm8k("train"), source="gsm8k"),
        BenchmarkSpec("math500", "HuggingFaceH4/MATH-500", None, "test", "math500/test.jsonl",
                      "test", (("problem",), ("answer",)), _map_math500),
        BenchmarkSpec("math", "DigitalLearningGmbH/MATH-lighteval", "default", "test",
                      "math/test.jsonl", "train", (("problem",), ("solution",)), _map_math),
        BenchmarkSpec("aime24", "HuggingFaceH4/aime_2024", None, "train", "aime24/test.jsonl",
                      "test", (("problem", "question"), ("answer",)), _map_competition),
        BenchmarkSpec("aime25", "MathArena/aime_2025", None, "train", "aime25/test.jsonl",
                      "test", (("problem", "question"), ("answer",)), _map_competition),
        BenchmarkSpec("amc23", "math-ai/amc23", None, "test", "amc23/test.jsonl", "test",
                      (("problem", "question"), ("answer",)), _map_competition),
        BenchmarkSpec("deepmath", "zwhe99/DeepMath-103K", None, "train",
                      "deepmath/train.jsonl", "train",
                      (("question",), ("final_answer",), ("difficulty",)), _map_deepmath,
                      columns=("question", "final_answer", "difficulty")),
        BenchmarkSpec("gpqa_diamond", "Idavidrein/gpqa", "gpqa_diamond", "train",
                      "gpqa_diamond/train.jsonl", "test",
                      (("Question",), ("Correct Answer",), ("Incorrect Answer 1",),
                       ("Incorrect Answer 2",), ("Incorrect Answer 3",)), _map_gpqa),
        BenchmarkSpec("livecodebench", "livecodebench/code_generation_lite", None, "train",
                      "livecodebench/test.jsonl", "test",
                      (("question_id",), ("question_content",), ("public_test_cases",)),
                      _map_livecodebench,
                      # the repo ships a loading script, which datasets>=4 refuses: read its
                      # JSONL files with the generic json builder instead
                      {"data_files": [f"hf://datasets/livecodebench/code_generation_lite/{f}"
                                      for f in LIVECODEBENCH_FILES]}),
        BenchmarkSpec("ifeval", "google/IFEval", None, "train", "ifeval/train.jsonl", "test",
                      (("key",), ("prompt",), ("instruction_id_list",), ("kwargs",)),
                      _map_ifeval),
    ]
}


# --------------------------------------------------------------------------- reading
def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSONL file. ValueError naming the file for a missing/empty/invalid file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found (set data.benchmarks.local_dir to a folder "
                         "holding it, or null to read the hub)")
    rows = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({e.msg})") from e
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got "
                                 f"{type(row).__name__}")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: empty benchmark file (no rows)")
    return rows


def _hub_rows(spec: BenchmarkSpec) -> Any:
    """The hub split as a `datasets.Dataset` (rows are dicts)."""
    import datasets

    try:
        if spec.hub_kwargs.get("data_files"):
            ds = datasets.load_dataset("json", split=spec.hub_split, **spec.hub_kwargs)
        else:
            ds = datasets.load_dataset(spec.hub_id, spec.hub_config, split=spec.hub_split,
                                       **spec.hub_kwargs)
    except ConnectionError as e:  # pragma: no cover - needs a network failure
        raise ConnectionError(f"{spec.name}: could not read {spec.hub_id} from the hub ({e}); "
                              "pass local_dir (data.benchmarks.local_dir) for local copies") from e
    if spec.columns and hasattr(ds, "select_columns"):  # skip DeepMath's long R1 solutions
        ds = ds.select_columns([c for c in spec.columns if c in ds.column_names])
    return ds


def source_of(name: str, local_dir: str | Path | None) -> str:
    """Where `name` is read from: ``"local:<file>"`` or ``"hub:<id>[/<config>]:<split>"``."""
    spec = get_spec(name)
    if local_dir is not None:
        return f"local:{Path(local_dir) / spec.local_path}"
    cfg = f"/{spec.hub_config}" if spec.hub_config else ""
    return f"hub:{spec.hub_id}{cfg}:{spec.hub_split}"


def get_spec(name: str) -> BenchmarkSpec:
    if name not in BENCHMARKS:
        raise ValueError(f"name: unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
    return BENCHMARKS[name]


def _check_fields(row: dict, spec: BenchmarkSpec, where: str) -> None:
    for alternatives in spec.required:
        if _pick(row, alternatives) is None:
            names = " or ".join(repr(a) for a in alternatives)
            raise ValueError(f"{where}: missing field {names} (benchmark {spec.name}; "
                             f"fields present: {', '.join(sorted(row)) or 'none'})")


def check_unique_ids(records: Iterable[dict], where: str) -> None:
    """ValueError naming `where` and the id if two records share an id."""
    seen: set[str] = set()
    for r in records:
        if r["id"] in seen:
            raise ValueError(f"{where}: duplicate id {r['id']!r}")
        seen.add(r["id"])


def _map_rows(spec: BenchmarkSpec, rows: Any, indices: Iterable[int], seed: int,
              where_of: Callable[[int], str]) -> list[dict]:
    out = []
    for i in indices:
        row = dict(rows[i])
        where = where_of(i)
        _check_fields(row, spec, where)
        out.append(spec.mapper(row, i, Context(spec.name, spec.source or spec.name, where, seed)))
    return out


def load_benchmark(
    name: str,
    local_dir: str | Path | None = None,
    limit: int | None = None,
    *,
    seed: int = 0,
    size: int | None = None,
    exclude_problems: Iterable[str] = (),
) -> list[dict]:
    """Schema records of benchmark `name` (see the module table), in file/hub order.

    Args:
        name: a key of BENCHMARKS.
        local_dir: a folder with the hub-schema JSONL copies; None reads the hub.
        limit: keep the first `limit` records (after the mapping); None keeps all.
        seed: for GPQA's option order and DeepMath's subset.
        size: DeepMath only, the subset size (None = all rows).
        exclude_problems: problem texts to drop (exact match after stripping; ``math`` uses it
            to remove MATH-500, which :func:`load_benchmark` fills in itself for ``math``).

    Raises:
        ValueError: unknown name, bad `limit`/`size`, or bad data (naming the file and row).
    """
    spec = get_spec(name)
    if limit is not None and limit < 1:
        raise ValueError(f"limit: must be >= 1 or None, got {limit}")
    if local_dir is not None:
        path = Path(local_dir) / spec.local_path
        rows: Any = read_jsonl(path)

        def where_of(i: int) -> str:
            return f"{path}:{i + 1}"
    else:
        rows = _hub_rows(spec)
        if len(rows) == 0:
            raise ValueError(f"hub {spec.hub_id}: the {spec.hub_split} split is empty")

        def where_of(i: int) -> str:
            return f"hub {spec.hub_id} ({spec.hub_split}) row {i}"

    indices: list[int] = list(range(len(rows)))
    if name == "deepmath":
        indices = _subset(len(rows), size, seed)
    elif size is not None:
        raise ValueError(f"size: only the deepmath loader takes a subset size (got {name!r})")
    if name == "math":
        exclude_problems = list(exclude_problems) + [
            r["prompt"] for r in load_benchmark("math500", local_dir)
        ]
    excluded = {strip_instruction(p).strip() for p in exclude_problems}

    records = _map_rows(spec, rows, indices, seed, where_of)
    if excluded:
        records = [r for r in records if r["prompt"].strip() not in excluded]
    check_unique_ids(records, str(Path(local_dir) / spec.local_path) if local_dir is not None
                     else f"hub {spec.hub_id}")
    return records[:limit] if limit is not None else records


def _subset(n: int, size: int | None, seed: int) -> list[int]:
    """Sorted row indices of a seeded random subset of `size` out of `n` rows."""
    if size is None:
        return list(range(n))
    if size < 1 or size > n:
        raise ValueError(f"size: must be in 1..{n} (rows available), got {size}")
    return sorted(random.Random(f"deepmath-subset-{seed}").sample(range(n), size))

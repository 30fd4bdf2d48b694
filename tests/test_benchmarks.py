"""hmpo.task.benchmarks: row counts and gold answers on the local copies, mappings on fixtures.

The local copies live in ../shared/data (never in the repo); tests that need them skip when the
folder is absent. DeepMath, GPQA-Diamond, LiveCodeBench and IFEval are hub-only: their mappings
are tested on tests/fixtures/ (invented rows in the hub schema).

Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_benchmarks.py -q
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hmpo.task import benchmarks as bm
from hmpo.task.benchmarks import BENCHMARKS, load_benchmark, source_of
from hmpo.task.data import validate_records
from hmpo.task.prompts import INSTRUCTION, build_prompt

FIXTURES = Path(__file__).resolve().parent / "fixtures"


# --------------------------------------------------------------------------- local copies
@pytest.mark.parametrize(
    ("name", "rows"),
    [("gsm8k", 1319), ("math500", 500), ("aime24", 30), ("aime25", 30), ("amc23", 40),
     ("gsm8k_train", 7473), ("math", 4500)],
)
def test_row_counts(shared_data, name, rows):
    records = load_benchmark(name, shared_data)
    assert len(records) == rows
    validate_records(records, name)


# hand-picked from the files (id -> exact gold string after the mapping)
GOLD = {
    "gsm8k": {"gsm8k-0000": "18", "gsm8k-0001": "3",
              "gsm8k-0146": "2125"},  # "#### 2,125" in the file: commas removed
    "math500": {"math500-test/precalculus/807.json": "\\left( 3, \\frac{\\pi}{2} \\right)",
                "math500-test/intermediate_algebra/1994.json": "p - q",
                "math500-test/algebra/1349.json": "\\text{Evelyn}"},
    "math": {"math-0000": "2", "math-0002": "\\dfrac{9}{7}",
             "math-0010": "\\frac{x+2}{7}"},  # the last \boxed{} of the solution
    "aime24": {"aime24-00": "204", "aime24-01": "113", "aime24-29": "902"},
    "aime25": {"aime25-00": "70", "aime25-14": "735", "aime25-29": "240"},
    "amc23": {"amc23-00": "27", "amc23-03": "3159", "amc23-39": "8"},
}


@pytest.mark.parametrize("name", sorted(GOLD))
def test_hand_picked_gold_answers(shared_data, name):
    by_id = {r["id"]: r for r in load_benchmark(name, shared_data)}
    for rid, gold in GOLD[name].items():
        assert by_id[rid]["answer"] == gold, rid


def test_math500_difficulty_is_the_level(shared_data):
    r = {x["id"]: x for x in load_benchmark("math500", shared_data)}
    assert r["math500-test/precalculus/807.json"]["difficulty"] == 2
    assert {x["difficulty"] for x in r.values()} == {1, 2, 3, 4, 5}


def test_math_pool_excludes_math500(shared_data):
    pool = {r["prompt"] for r in load_benchmark("math", shared_data)}
    m500 = {r["prompt"] for r in load_benchmark("math500", shared_data)}
    assert not pool & m500


@pytest.mark.parametrize("name", ["aime24", "aime25", "amc23"])
def test_instruction_suffix_stripped_and_restored_once(shared_data, name):
    raw = [json.loads(line) for line in (shared_data / name / "test.jsonl").open()]
    records = load_benchmark(name, shared_data)
    for row, rec in zip(raw, records, strict=True):
        assert INSTRUCTION not in rec["prompt"]
        # the plain template puts back the sentence the file carried (up to a space some rows
        # have before its newline)
        head, _, suffix = row["problem"].rpartition("\n")
        assert suffix == INSTRUCTION
        assert build_prompt(rec["prompt"], "plain") == head.rstrip() + "\n" + suffix


def test_limit(shared_data):
    assert [r["id"] for r in load_benchmark("gsm8k", shared_data, limit=3)] == [
        "gsm8k-0000", "gsm8k-0001", "gsm8k-0002"]
    with pytest.raises(ValueError, match="limit"):
        load_benchmark("gsm8k", shared_data, limit=0)


# --------------------------------------------------------------------------- fixtures
def test_every_benchmark_maps_its_fixture():
    for name in BENCHMARKS:
        records = load_benchmark(name, FIXTURES)
        validate_records(records, name)
        assert records, name


def test_gsm8k_fixture_answers():
    records = load_benchmark("gsm8k", FIXTURES)
    assert [r["answer"] for r in records] == ["31", "5000", "105"]  # "#### 5,000" -> 5000
    assert {r["source"] for r in load_benchmark("gsm8k_train", FIXTURES)} == {"gsm8k"}


def test_math_fixture_pool():
    records = load_benchmark("math", FIXTURES)
    # 6 rows, 3 of them MATH-500 problems; "Level ?" gives no difficulty
    assert [(r["id"], r["answer"], r["difficulty"]) for r in records] == [
        ("math-0001", "6", 2), ("math-0003", "5\\sqrt{2}", None), ("math-0005", "15", 3)]


def test_deepmath_subset_is_seeded():
    full = load_benchmark("deepmath", FIXTURES)
    assert len(full) == 12
    assert full[3]["answer"] == "\\frac{1}{2}" and full[3]["difficulty"] == 4.5
    a = load_benchmark("deepmath", FIXTURES, size=5, seed=0)
    b = load_benchmark("deepmath", FIXTURES, size=5, seed=0)
    c = load_benchmark("deepmath", FIXTURES, size=5, seed=1)
    assert a == b and len(a) == 5
    assert [r["id"] for r in a] != [r["id"] for r in c]
    assert [r["id"] for r in a] == sorted(r["id"] for r in a)  # file order kept
    assert all(isinstance(r["difficulty"], float) for r in a)
    with pytest.raises(ValueError, match="size"):
        load_benchmark("deepmath", FIXTURES, size=13)
    with pytest.raises(ValueError, match="size"):
        load_benchmark("gsm8k", FIXTURES, size=2)


def test_gpqa_options_are_shuffled_and_lettered():
    raw = [json.loads(line) for line in (FIXTURES / "gpqa_diamond" / "train.jsonl").open()]
    records = load_benchmark("gpqa_diamond", FIXTURES, seed=0)
    for row, rec in zip(raw, records, strict=True):
        lines = rec["prompt"].split("\n\n", 1)[1].split("\n")
        assert [line[:3] for line in lines] == ["A) ", "B) ", "C) ", "D) "]
        options = {line[0]: line[3:] for line in lines}
        assert options[rec["answer"]] == row["Correct Answer"]
        assert sorted(options.values()) == sorted(
            [row["Correct Answer"]] + [row[f"Incorrect Answer {k}"] for k in (1, 2, 3)])
    assert [r["difficulty"] for r in records] == [2, 1, 4]
    assert records == load_benchmark("gpqa_diamond", FIXTURES, seed=0)  # deterministic
    orders = {tuple(r["prompt"] for r in load_benchmark("gpqa_diamond", FIXTURES, seed=s))
              for s in range(6)}
    assert len(orders) > 1  # the seed changes the option order


def test_livecodebench_mapping():
    records = load_benchmark("livecodebench", FIXTURES)
    assert [r["id"] for r in records] == ["livecodebench-fx_a", "livecodebench-fx_b"]
    assert json.loads(records[0]["answer"]) == [
        {"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    assert [r["difficulty"] for r in records] == [1, 2]
    assert "class Solution" in records[1]["prompt"]  # starter code appended


def test_ifeval_mapping():
    records = load_benchmark("ifeval", FIXTURES)
    answer = json.loads(records[0]["answer"])
    assert answer == {"instruction_id_list": ["length_constraints:number_words",
                                              "punctuation:no_comma"],
                      "kwargs": [{"num_words": 40, "relation": "at least"}, {}]}
    assert records[1]["id"] == "ifeval-1002"


# --------------------------------------------------------------------------- the hub path
@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_hub_path_calls_load_dataset(monkeypatch, name):
    spec = BENCHMARKS[name]
    rows = [json.loads(line) for line in (FIXTURES / spec.local_path).open()]
    calls = []

    def fake_load_dataset(path, name_=None, split=None, **kwargs):
        calls.append((path, name_, split, kwargs))
        if path == "HuggingFaceH4/MATH-500":  # `math` also loads MATH-500 to exclude it
            return [json.loads(line) for line in (FIXTURES / "math500/test.jsonl").open()]
        return rows

    import datasets

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert load_benchmark(name) == load_benchmark(name, FIXTURES)
    path, config, split, kwargs = calls[0]
    if name == "livecodebench":  # its loading script is refused by datasets>=4: json builder
        assert path == "json" and split == "train"
        assert kwargs["data_files"][0] == (
            "hf://datasets/livecodebench/code_generation_lite/test.jsonl")
    else:
        assert (path, config, split) == (spec.hub_id, spec.hub_config, spec.hub_split)
    assert source_of(name, None).startswith(f"hub:{spec.hub_id}")


def test_hub_ids():
    assert BENCHMARKS["deepmath"].hub_id == "zwhe99/DeepMath-103K"
    assert (BENCHMARKS["gpqa_diamond"].hub_id, BENCHMARKS["gpqa_diamond"].hub_config) == (
        "Idavidrein/gpqa", "gpqa_diamond")
    assert BENCHMARKS["ifeval"].hub_id == "google/IFEval"
    assert BENCHMARKS["livecodebench"].hub_id == "livecodebench/code_generation_lite"


# --------------------------------------------------------------------------- bad data
def _copy_fixture(tmp_path: Path, name: str) -> Path:
    spec = BENCHMARKS[name]
    dst = tmp_path / spec.local_path
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / spec.local_path, dst)
    return dst


def test_missing_field_names_file_and_field(tmp_path):
    path = _copy_fixture(tmp_path, "aime24")
    rows = [json.loads(line) for line in path.open()]
    del rows[1]["answer"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match=r"aime24/test\.jsonl:2: missing field 'answer'"):
        load_benchmark("aime24", tmp_path)


def test_empty_file(tmp_path):
    path = _copy_fixture(tmp_path, "amc23")
    path.write_text("\n")
    with pytest.raises(ValueError, match=r"amc23/test\.jsonl: empty benchmark file"):
        load_benchmark("amc23", tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"gsm8k/test\.jsonl: file not found"):
        load_benchmark("gsm8k", tmp_path)


def test_invalid_json(tmp_path):
    path = _copy_fixture(tmp_path, "gsm8k")
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(ValueError, match=r"gsm8k/test\.jsonl:4: invalid JSON"):
        load_benchmark("gsm8k", tmp_path)


def test_gsm8k_answer_without_marker(tmp_path):
    path = _copy_fixture(tmp_path, "gsm8k")
    path.write_text(json.dumps({"question": "q", "answer": "no marker"}) + "\n")
    with pytest.raises(ValueError, match="####"):
        load_benchmark("gsm8k", tmp_path)


def test_duplicate_id(tmp_path):
    path = _copy_fixture(tmp_path, "ifeval")
    first = path.read_text().splitlines()[0]
    path.write_text(path.read_text() + first + "\n")
    with pytest.raises(ValueError, match=r"ifeval/train\.jsonl: duplicate id 'ifeval-1001'"):
        load_benchmark("ifeval", tmp_path)


def test_unknown_benchmark():
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_benchmark("mmlu")


def test_answer_strings():
    assert bm._answer_str(27.0) == "27" and bm._answer_str(0.5) == "0.5"
    assert bm._answer_str(204) == "204"

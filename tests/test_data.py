"""hmpo.task.data: the data stage (files, determinism, decontamination, bad data) on fixtures.

The synthetic generator is another module (hmpo.task.synthetic); most tests swap in a tiny fake
through sys.modules so they test this stage only. Benchmarks come from tests/fixtures/.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_data.py -q
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sys
import types
from pathlib import Path

import pytest

from hmpo.config import ConfigError, config_from_dict, load_config
from hmpo.task.data import (
    decontaminate,
    derive_seed,
    normalize_problem,
    planned_sets,
    prepare_data,
    read_records,
    validate_records,
)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BENCH = ["gsm8k", "math500", "aime24", "aime25", "amc23"]


def _rec(rid: str, prompt: str, answer: str, split: str, source: str = "synthetic") -> dict:
    return {"id": rid, "source": source, "prompt": prompt, "answer": answer, "difficulty": 2,
            "split": split}


def fake_make_sets(scfg, seed):
    """Stands in for hmpo.task.synthetic.make_sets: seeded, tiny, one train problem contaminated."""
    train = [_rec(f"synthetic_train-{i}", f"Q: s{i}=1 o{seed % 7}+{i} e9", str(i), "train")
             for i in range(6)]
    train.append(_rec("synthetic_train-6", "Q: s0=5 o1+1 e2", "6", "train"))  # = eval-0
    ev = [_rec("synthetic_eval-0", "Q: s0=5 o1+1 e2", "6", "eval"),
          _rec("synthetic_eval-1", f"Q: s3=3 o4-{seed % 9} e5", "3", "eval")]
    tr = [_rec("synthetic_transfer-0", "Q: s0=1 o1+1 o2+1 o3+1 e4", "4", "test")]
    return {"synthetic_train": train, "synthetic_eval": ev, "synthetic_transfer": tr}


@pytest.fixture
def fake_synthetic(monkeypatch):
    module = types.ModuleType("hmpo.task.synthetic")
    module.make_sets = fake_make_sets
    monkeypatch.setitem(sys.modules, "hmpo.task.synthetic", module)
    return module


def make_cfg(**data_overrides):
    """The smoke profile, benchmarks from tests/fixtures, with `data` fields overridden."""
    cfg = load_config(REPO / "params.yaml", profile="smoke")
    data = dataclasses.replace(
        cfg.data,
        benchmarks=dataclasses.replace(cfg.data.benchmarks, local_dir=str(FIXTURES), names=BENCH,
                                       max_per_benchmark=None),
        gym=dataclasses.replace(cfg.data.gym, tasks=["chain_sum"], n_per_task=6,
                                n_train_per_task=20),
    )
    for k, v in data_overrides.items():
        data = dataclasses.replace(data, **{k: v})
    return dataclasses.replace(cfg, data=data)


def _lines(path: Path) -> int:
    return sum(1 for line in path.open() if line.strip())


# --------------------------------------------------------------------------- the stage
def test_writes_every_set_train_and_report(tmp_path, fake_synthetic):
    report = prepare_data(make_cfg(), tmp_path, progress=False)
    expected = {"synthetic_train", "synthetic_eval", "synthetic_transfer", "gym_chain_sum",
                *BENCH, "train"}
    assert {p.stem for p in tmp_path.glob("*.jsonl")} == expected
    assert set(report["counts"]) == expected
    for name, n in report["counts"].items():
        assert _lines(tmp_path / f"{name}.jsonl") == n
        validate_records(read_records(tmp_path / f"{name}.jsonl"), name)
    assert report["counts"]["gsm8k"] == 3 and report["counts"]["gym_chain_sum"] == 6
    assert json.loads((tmp_path / "report.json").read_text()) == report


def test_writes_to_stage_datas_folder_by_default(tmp_path, monkeypatch, fake_synthetic):
    from hmpo.paths import data_dir, data_file

    monkeypatch.chdir(tmp_path)  # the run layout is relative to the repository root
    report = prepare_data(make_cfg(), progress=False)
    assert data_dir() == Path("data/processed")
    for name in report["counts"]:
        assert data_file(name).is_file()
    assert json.loads((data_dir() / "report.json").read_text()) == report


def test_synthetic_train_is_decontaminated(tmp_path, fake_synthetic):
    report = prepare_data(make_cfg(), tmp_path, progress=False)
    dc = report["decontamination"]
    assert dc["pool"] == "synthetic_train" and dc["pool_size"] == 7
    assert dc["overlap"]["synthetic_eval"] == 1 and dc["removed"] == 1
    train_ids = [r["id"] for r in read_records(tmp_path / "train.jsonl")]
    assert "synthetic_train-6" not in train_ids and len(train_ids) == 6
    assert report["counts"]["synthetic_train"] == 7  # the written pool itself is untouched


def test_decontamination_can_be_switched_off(tmp_path, fake_synthetic):
    report = prepare_data(make_cfg(decontaminate=False), tmp_path, progress=False)
    assert report["decontamination"]["matched"] == 1
    assert report["decontamination"]["removed"] == 0
    assert report["counts"]["train"] == 7


def test_gsm8k_pool_loses_the_contaminated_problem(tmp_path, fake_synthetic):
    cfg = make_cfg(train_source="gsm8k")
    report = prepare_data(cfg, tmp_path, progress=False)
    dc = report["decontamination"]
    # the fixture train split holds "mia has 3 boxes ...;  ... left" = a test problem re-typed
    assert dc["pool"] == "gsm8k_train" and dc["overlap"]["gsm8k"] == 1
    assert report["counts"]["train"] == 3
    assert all(r["split"] == "train" for r in read_records(tmp_path / "train.jsonl"))


@pytest.mark.parametrize(
    ("source", "pool", "n"), [("math", "math", 3), ("deepmath", "deepmath", 5)]
)
def test_benchmark_pools(tmp_path, fake_synthetic, source, pool, n):
    report = prepare_data(make_cfg(train_source=source, deepmath_size=5), tmp_path,
                          progress=False)
    assert report["decontamination"]["pool"] == pool
    assert report["counts"]["train"] == n
    # the MATH pool excludes MATH-500 itself, so nothing is left to decontaminate
    assert report["decontamination"]["overlap"]["math500"] == 0


def test_gym_task_configs_apply_to_both_draws(tmp_path, fake_synthetic):
    cfg = make_cfg(train_source="gym")
    kw = {"min_digits": 1, "max_digits": 1, "min_terms": 2, "max_terms": 2}
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, gym=dataclasses.replace(cfg.data.gym, task_configs={"chain_sum": kw})))
    report = prepare_data(cfg, tmp_path, progress=False)
    for name in ("train.jsonl", "gym_chain_sum.jsonl"):
        for r in read_records(tmp_path / name):
            numbers = re.findall(r"\d+", r["prompt"])
            assert len(numbers) == 2 and all(len(x) == 1 for x in numbers), r["prompt"]
    assert "max_digits=1" in report["sources"]["gym_chain_sum"]


def test_gym_pool_is_a_separate_draw(tmp_path, fake_synthetic):
    report = prepare_data(make_cfg(train_source="gym"), tmp_path, progress=False)
    train = read_records(tmp_path / "train.jsonl")
    evals = read_records(tmp_path / "gym_chain_sum.jsonl")
    assert report["decontamination"]["pool_size"] == 20
    assert not {r["id"] for r in train} & {r["id"] for r in evals}
    assert {r["split"] for r in train} == {"train"} and {r["split"] for r in evals} == {"eval"}
    eval_keys = {normalize_problem(r["prompt"]) for r in evals}
    assert not any(normalize_problem(r["prompt"]) in eval_keys for r in train)


def test_same_seed_gives_byte_identical_files(tmp_path, fake_synthetic):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    prepare_data(make_cfg(), a, progress=False)
    prepare_data(make_cfg(), b, progress=False)
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir())
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    other = dataclasses.replace(make_cfg(), seed=1)
    prepare_data(other, c, progress=False)
    assert (a / "gym_chain_sum.jsonl").read_bytes() != (c / "gym_chain_sum.jsonl").read_bytes()
    assert (a / "synthetic_eval.jsonl").read_bytes() != (c / "synthetic_eval.jsonl").read_bytes()


def test_real_synthetic_module(tmp_path):
    pytest.importorskip("hmpo.task.synthetic")
    report = prepare_data(make_cfg(), tmp_path, progress=False)
    assert report["counts"]["synthetic_train"] == 64  # the smoke profile's n_train
    assert report["decontamination"]["overlap"]["synthetic_eval"] == 0  # disjoint by design


# --------------------------------------------------------------------------- bad data
def _broken_fixtures(tmp_path: Path) -> Path:
    dst = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, dst)
    return dst


def test_missing_field_fails_naming_file_and_field(tmp_path, fake_synthetic):
    local = _broken_fixtures(tmp_path)
    path = local / "math500" / "test.jsonl"
    rows = [json.loads(line) for line in path.open()]
    del rows[2]["answer"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = make_cfg(benchmarks=dataclasses.replace(make_cfg().data.benchmarks, local_dir=str(local)))
    with pytest.raises(ValueError, match=r"math500/test\.jsonl:3: missing field 'answer'"):
        prepare_data(cfg, tmp_path / "out", progress=False)


def test_empty_benchmark_file_fails(tmp_path, fake_synthetic):
    local = _broken_fixtures(tmp_path)
    (local / "aime25" / "test.jsonl").write_text("")
    cfg = make_cfg(benchmarks=dataclasses.replace(make_cfg().data.benchmarks, local_dir=str(local)))
    with pytest.raises(ValueError, match=r"aime25/test\.jsonl: empty benchmark file"):
        prepare_data(cfg, tmp_path / "out", progress=False)


def test_duplicate_id_in_a_file_fails(tmp_path, fake_synthetic):
    local = _broken_fixtures(tmp_path)
    path = local / "math500" / "test.jsonl"
    path.write_text(path.read_text() + path.read_text().splitlines()[0] + "\n")
    cfg = make_cfg(benchmarks=dataclasses.replace(make_cfg().data.benchmarks, local_dir=str(local)))
    with pytest.raises(ValueError, match=r"math500/test\.jsonl: duplicate id 'math500-test/"):
        prepare_data(cfg, tmp_path / "out", progress=False)


def test_duplicate_id_from_a_generator_fails(tmp_path, monkeypatch):
    def dup_sets(scfg, seed):
        sets = fake_make_sets(scfg, seed)
        sets["synthetic_eval"].append(dict(sets["synthetic_eval"][0]))
        return sets

    module = types.ModuleType("hmpo.task.synthetic")
    module.make_sets = dup_sets
    monkeypatch.setitem(sys.modules, "hmpo.task.synthetic", module)
    with pytest.raises(ValueError, match="synthetic_eval: duplicate id 'synthetic_eval-0'"):
        prepare_data(make_cfg(), tmp_path, progress=False)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.pop("answer"), "missing field"),
        (lambda r: r.update(answer=3), "field 'answer' must be a non-empty string"),
        (lambda r: r.update(prompt=""), "field 'prompt' must be a non-empty string"),
        (lambda r: r.update(difficulty="hard"), "difficulty must be a number"),
        (lambda r: r.update(difficulty=True), "difficulty must be a number"),
        (lambda r: r.update(split="dev"), "split must be one of"),
    ],
)
def test_validate_records(mutate, message):
    r = _rec("x-0", "Q", "1", "eval")
    mutate(r)
    with pytest.raises(ValueError, match=message):
        validate_records([r], "someset")


# --------------------------------------------------------------------------- decontamination
@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("What is 2+3?", "what is 2 + 3", True),  # case, spacing around operators, '?'
        ("Find $x$ if $2x=4$.", "Find x if 2x = 4", True),  # $ and a final period
        ("Compute $\\dfrac{1}{2}$.", "compute \\frac{1}{2}", True),  # \dfrac
        ("A  B\n\tC", "a b c", True),  # collapse whitespace
        ("He paid $1,000.", "he paid 1000", True),  # thousands separators
        ("x \\, y \\quad z", "x y z", True),  # LaTeX spacing
        ("Q: s4=3 o5+9 e6", "Q: s4=3 o5-9 e6", False),  # operators are kept
        ("It costs 1.5 dollars", "It costs 15 dollars", False),  # decimal points are kept
        ("Find x.\nPlease reason step by step, and put your final answer within \\boxed{}.",
         "Find x", True),  # the instruction suffix is not part of the problem
    ],
)
def test_normalize_problem(a, b, same):
    assert (normalize_problem(a) == normalize_problem(b)) is same


def test_decontaminate_counts_per_pair():
    pool = [_rec(f"p{i}", t, "1", "train") for i, t in enumerate(["A b", "c d", "E f.", "g"])]
    evals = {"e1": [_rec("x", "a B", "1", "test")],
             "e2": [_rec("y", "a b", "1", "test"), _rec("z", "e f", "1", "test")]}
    kept, report = decontaminate(pool, evals)
    assert [r["id"] for r in kept] == ["p1", "p3"]
    assert report["overlap"] == {"e1": 1, "e2": 2}
    assert (report["matched"], report["removed"], report["kept"]) == (2, 2, 2)


def test_derive_seed_is_stable():
    assert derive_seed(0, "gym-eval", "chain_sum") == derive_seed(0, "gym-eval", "chain_sum")
    assert derive_seed(0, "gym-eval", "chain_sum") != derive_seed(0, "gym-train", "chain_sum")
    assert derive_seed(0, "gym-eval", "chain_sum") == 884252016  # not Python's salted hash()


# --------------------------------------------------------------------------- config checks
def test_config_rejects_evaluation_sets_the_stage_does_not_write():
    raw = {"data": {"benchmarks": {"enabled": False}}, "evaluate": {"sets": ["gsm8k"]}}
    with pytest.raises(ConfigError, match="evaluate.sets"):
        config_from_dict(raw, profile="smoke")


def test_config_rejects_unknown_benchmark_names():
    with pytest.raises(ConfigError, match="data.benchmarks.names"):
        config_from_dict({"data": {"benchmarks": {"names": ["mmlu"]}}}, profile="smoke")
    with pytest.raises(ConfigError, match="data.benchmarks.names"):
        config_from_dict({"data": {"benchmarks": {"names": ["math"]}}}, profile="smoke")


def test_every_profile_plans_its_evaluation_sets():
    for profile in ("smoke", "default", "smollm2", "qwen3.5-9b-lora"):
        cfg = load_config(REPO / "params.yaml", profile=profile)
        assert set(cfg.evaluate.sets) <= set(planned_sets(cfg))


# --------------------------------------------------------------------------- local copies
def test_default_profile_on_the_local_copies(tmp_path, shared_data):
    cfg = load_config(REPO / "params.yaml")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, benchmarks=dataclasses.replace(cfg.data.benchmarks, local_dir=str(shared_data))))
    report = prepare_data(cfg, tmp_path, progress=False)
    counts = report["counts"]
    assert (counts["gsm8k"], counts["math500"], counts["aime24"], counts["aime25"],
            counts["amc23"]) == (1319, 500, 30, 30, 40)
    assert report["sources"]["gsm8k"].endswith("gsm8k/test.jsonl")


# --------------------------------------------------------------------------- absent local copies
def test_missing_local_dir_skips_optional_benchmarks(tmp_path, fake_synthetic):
    # a fresh machine without ../shared/data: the benchmarks are skipped, and report.json says so
    cfg = make_cfg()
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, benchmarks=dataclasses.replace(cfg.data.benchmarks,
                                                 local_dir=str(tmp_path / "absent"))))
    with pytest.warns(UserWarning, match="benchmarks skipped"):
        report = prepare_data(cfg, tmp_path / "out", progress=False)
    assert set(report["skipped"]) == set(BENCH)
    assert not set(BENCH) & set(report["counts"])


def test_missing_local_dir_is_an_error_when_not_optional(tmp_path, fake_synthetic):
    cfg = make_cfg()
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, benchmarks=dataclasses.replace(cfg.data.benchmarks, optional=False,
                                                 local_dir=str(tmp_path / "absent"))))
    with pytest.raises(ValueError, match="not found"):
        prepare_data(cfg, tmp_path / "out", progress=False)

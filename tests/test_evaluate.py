"""hmpo.evaluation.evaluate: the pure metric functions on hand-made inputs, and the stage's
input checks."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hmpo.evaluation.evaluate import (
    bootstrap_ci,
    by_difficulty,
    compression,
    load_eval_set,
    problem_table,
    summarize_samples,
    write_text_atomic,
)


def _s(pid, correct, n_tokens, difficulty=None, finished=True):
    return {"id": pid, "correct": correct, "n_tokens": n_tokens, "difficulty": difficulty,
            "finished": finished}


# --------------------------------------------------------------------------- bootstrap_ci
def test_bootstrap_constant_values_give_a_point_interval():
    assert bootstrap_ci([0.5] * 7, n_bootstrap=200, seed=3) == [0.5, 0.5]


def test_bootstrap_is_seeded_and_seed_matters():
    v = np.arange(20, dtype=float)
    a = bootstrap_ci(v, n_bootstrap=300, seed=1)
    assert a == bootstrap_ci(v, n_bootstrap=300, seed=1)
    assert a != bootstrap_ci(v, n_bootstrap=300, seed=2)


def test_bootstrap_interval_brackets_the_mean_and_matches_the_normal_width():
    rng = np.random.default_rng(0)
    v = rng.integers(0, 2, size=400).astype(float)  # 400 Bernoulli problems
    lo, hi = bootstrap_ci(v, n_bootstrap=2000, seed=0)
    assert lo < v.mean() < hi
    se = v.std() / np.sqrt(v.size)
    # the percentile interval of a mean of 400 draws is close to mean +- 1.96 se
    assert (hi - lo) == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_bootstrap_resamples_problems_not_a_fixed_subset():
    # one outlier among 10: some resamples miss it (low end = mean of zeros), some repeat it
    lo, hi = bootstrap_ci([0.0] * 9 + [10.0], n_bootstrap=1000, seed=0)
    assert lo == 0.0 and hi >= 2.0


def test_bootstrap_level_widens_interval():
    v = np.arange(30, dtype=float)
    lo90, hi90 = bootstrap_ci(v, n_bootstrap=1000, seed=0, level=0.9)
    lo99, hi99 = bootstrap_ci(v, n_bootstrap=1000, seed=0, level=0.99)
    assert lo99 < lo90 and hi99 > hi90


def test_bootstrap_zero_resamples_means_no_interval():
    assert bootstrap_ci([1.0, 2.0], n_bootstrap=0, seed=0) is None


@pytest.mark.parametrize(
    "values, kwargs, match",
    [
        ([], {}, "non-empty"),  # nothing to resample
        ([[1.0, 2.0]], {}, "1-D"),  # 2-D input
        ([1.0, float("nan")], {}, "finite"),  # a NaN metric would poison every resample
        ([1.0], {"n_bootstrap": -1}, "n_bootstrap"),
        ([1.0], {"n_bootstrap": 2.5}, "n_bootstrap"),  # not an integer
        ([1.0], {"level": 1.0}, "level"),
    ],
)
def test_bootstrap_rejects_bad_input(values, kwargs, match):
    args = {"n_bootstrap": 10, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(values, **args)


# --------------------------------------------------------------------------- compression
@pytest.mark.parametrize(
    "tokens, base, expected",
    [
        (70.0, 100.0, 0.3),  # 30% shorter
        (100.0, 100.0, 0.0),  # unchanged
        (150.0, 100.0, -0.5),  # longer than base: negative compression
        (0.0, 40.0, 1.0),  # empty responses: total compression
    ],
)
def test_compression(tokens, base, expected):
    assert compression(tokens, base) == pytest.approx(expected)


@pytest.mark.parametrize("tokens, base", [(10.0, 0.0), (-1.0, 10.0), (float("nan"), 10.0),
                                          ("10", 10.0), (True, 10.0)])
def test_compression_rejects_bad_input(tokens, base):
    with pytest.raises(ValueError):
        compression(tokens, base)


# --------------------------------------------------------------------------- aggregation
def test_problem_table_averages_over_each_problems_samples():
    rows = problem_table([
        _s("a", True, 10, 2), _s("b", False, 30, 3), _s("a", False, 20, 2), _s("b", 1, 50, 3),
        _s("a", 1, 30, 2),
    ])
    assert [r["id"] for r in rows] == ["a", "b"]  # first-appearance order
    a, b = rows
    assert a["n_samples"] == 3 and a["accuracy"] == pytest.approx(2 / 3)
    assert a["mean_tokens"] == pytest.approx(20.0)
    assert b["accuracy"] == 0.5 and b["mean_tokens"] == 40.0 and b["difficulty"] == 3


@pytest.mark.parametrize(
    "samples, match",
    [
        ([], "empty"),
        ([{"id": "a", "correct": True}], "n_tokens"),  # missing field
        ([_s("a", True, -3)], "n_tokens"),  # negative length
        ([_s("a", 0.5, 3)], "correct"),  # a partial score is not a verdict
        ([_s("a", True, 3, 1), _s("a", True, 3, 2)], "two difficulties"),  # inconsistent record
    ],
)
def test_problem_table_rejects_bad_samples(samples, match):
    with pytest.raises(ValueError, match=match):
        problem_table(samples)


def test_by_difficulty_groups_problems_and_orders_numerically():
    problems = [
        {"id": "1", "difficulty": 10, "accuracy": 0.0, "mean_tokens": 100.0},
        {"id": "2", "difficulty": 2, "accuracy": 1.0, "mean_tokens": 10.0},
        {"id": "3", "difficulty": 2, "accuracy": 0.5, "mean_tokens": 20.0},
        {"id": "4", "difficulty": None, "accuracy": 1.0, "mean_tokens": 5.0},
        {"id": "5", "difficulty": 3.0, "accuracy": 1.0, "mean_tokens": 30.0},
    ]
    out = by_difficulty(problems)
    assert list(out) == ["2", "3", "10", "none"]  # numeric, not lexicographic; "3.0" -> "3"
    assert out["2"] == {"n_problems": 2, "accuracy": 0.75, "mean_tokens": 15.0}
    assert out["none"]["n_problems"] == 1


def test_summarize_samples_accuracy_is_a_mean_of_problem_means():
    # problem a: 1 of 4 correct; problem b: 2 of 2 correct (unequal k on purpose)
    samples = [_s("a", i == 0, 10, 2) for i in range(4)] + [_s("b", True, 40, 4)] * 2
    m = summarize_samples(samples, n_bootstrap=100, seed=0)
    assert m["accuracy"] == pytest.approx((0.25 + 1.0) / 2)  # not 4/6 (the sample mean)
    assert m["mean_tokens"] == pytest.approx(25.0)
    assert m["median_tokens"] == 10.0  # median over all six samples
    assert m["n_problems"] == 2 and m["n_samples_total"] == 6
    lo, hi = m["accuracy_ci"]
    assert 0.25 <= lo <= m["accuracy"] <= hi <= 1.0
    assert set(m["by_difficulty"]) == {"2", "4"}


def test_summarize_samples_counts_truncated_completions():
    samples = [_s("a", False, 48, finished=False), _s("a", True, 12), _s("b", True, 9),
               _s("b", True, 8)]
    assert summarize_samples(samples, n_bootstrap=0, seed=0)["finished_rate"] == 0.75


# --------------------------------------------------------------------------- inputs / outputs
def _rec(pid="x", **kw):
    return {"id": pid, "source": "synthetic", "prompt": "p", "answer": "1", "difficulty": 2,
            "split": "eval", **kw}


def test_load_eval_set_missing_file_names_the_fix(tmp_path):
    (tmp_path / "synthetic_eval.jsonl").write_text(json.dumps(_rec()) + "\n")
    with pytest.raises(FileNotFoundError, match="^evaluate.sets: ") as err:
        load_eval_set("gsm8k", tmp_path)
    msg = str(err.value)  # names the file, the sets that exist and both fixes
    assert "gsm8k.jsonl" in msg and "['synthetic_eval']" in msg
    assert "dvc repro data" in msg and "drop 'gsm8k' from evaluate.sets" in msg
    assert load_eval_set("synthetic_eval", tmp_path)[0]["answer"] == "1"


def test_load_eval_set_reads_stage_datas_folder_by_default(tmp_path, monkeypatch):
    from hmpo.paths import data_file

    monkeypatch.chdir(tmp_path)  # the run layout is relative to the repository root
    data_file("synthetic_eval").parent.mkdir(parents=True)
    data_file("synthetic_eval").write_text(json.dumps(_rec()) + "\n")
    assert load_eval_set("synthetic_eval")[0]["id"] == "x"
    with pytest.raises(FileNotFoundError, match=r"data/processed/gsm8k.jsonl"):
        load_eval_set("gsm8k")


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        (json.dumps({"id": "x", "prompt": "p"}) + "\n", "missing field"),  # schema violated
        (json.dumps(_rec()) + "\n{not json\n", "invalid JSON"),
        (json.dumps(_rec()) + "\n" + json.dumps(_rec()) + "\n", "duplicate id"),
        (json.dumps(_rec(split="dev")) + "\n", "split"),
    ],
)
def test_load_eval_set_rejects_bad_files(tmp_path, text, match):
    (tmp_path / "s.jsonl").write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        load_eval_set("s", tmp_path)
    assert str(err.value).endswith("rerun `dvc repro data`")


def test_write_text_atomic_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "deep" / "metrics.json"
    write_text_atomic(path, json.dumps({"a": 1}))
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


# --------------------------------------------------------------------------- the stage, tiny
@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    """A random tiny model (models/base) and a 6-problem synthetic eval set, smoke config."""
    from hmpo.config import load_config
    from hmpo.models.model import build_tiny_model, build_tokenizer, save_model
    from hmpo.task.synthetic import make_sets

    root = tmp_path_factory.mktemp("eval")
    cfg = load_config(Path(__file__).resolve().parent.parent / "params.yaml", profile="smoke")
    tok = build_tokenizer()
    save_model(build_tiny_model(cfg.base_model, tok, seed=0), tok, root / "models" / "base")
    data = root / "data"
    data.mkdir()
    records = make_sets(cfg.data.synthetic, cfg.seed)["synthetic_eval"][:6]
    (data / "synthetic_eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    cfg.evaluate.n_samples, cfg.evaluate.max_new_tokens, cfg.evaluate.n_bootstrap = 3, 12, 50
    return cfg, root, records


def test_evaluate_model_writes_consistent_samples_and_metrics(tiny_setup):
    from hmpo.evaluation.evaluate import eval_paths, evaluate_model

    cfg, root, records = tiny_setup
    out = root / "results" / "base"
    m = evaluate_model(cfg, root / "models" / "base", "synthetic_eval", out_dir=out,
                       data_dir=root / "data", progress=False)
    metrics_path, samples_path = eval_paths(out, "synthetic_eval")
    assert json.loads(metrics_path.read_text()) == m
    rows = [json.loads(line) for line in samples_path.read_text().splitlines()]
    assert len(rows) == 6 * 3 and {r["sample"] for r in rows} == {0, 1, 2}
    assert [r["id"] for r in rows[::3]] == [r["id"] for r in records]
    assert all(0 < r["n_tokens"] <= 12 for r in rows)
    # the metrics are exactly the aggregation of the written samples
    assert m == {**summarize_samples(rows, n_bootstrap=50, seed=cfg.seed),
                 **{k: m[k] for k in ("model", "set", "n_samples", "temperature",
                                      "max_new_tokens", "seed")}}
    assert m["model"] == "base" and m["n_problems"] == 6
    # seeded: a rerun writes the same samples
    before = samples_path.read_bytes()
    evaluate_model(cfg, root / "models" / "base", "synthetic_eval", out_dir=out,
                   data_dir=root / "data", progress=False)
    assert samples_path.read_bytes() == before


def test_evaluate_model_fails_fast_naming_the_fix(tiny_setup):
    from hmpo.evaluation.evaluate import evaluate_model
    from hmpo.models.model import ModelDirError

    cfg, root, _ = tiny_setup
    kw = {"out_dir": root / "results" / "x", "data_dir": root / "data", "progress": False}
    with pytest.raises(ModelDirError, match=r"dvc repro train@hmpo"):
        evaluate_model(cfg, root / "models" / "hmpo", "synthetic_eval", **kw)
    broken = root / "models" / "broken"
    shutil.copytree(root / "models" / "base", broken)
    (broken / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(ModelDirError, match=r"cannot load the model.*train@broken"):
        evaluate_model(cfg, broken, "synthetic_eval", **kw)
    with pytest.raises(FileNotFoundError, match="evaluate.sets"):
        evaluate_model(cfg, root / "models" / "base", "gsm8k", **kw)
    assert not (root / "results" / "x" / "metrics").exists()  # nothing that looks complete


def test_fix_hint_names_the_stage_of_a_seed_folder():
    from hmpo.evaluation.evaluate import _fix_hint

    assert _fix_hint(Path("models/base")) == "rerun `dvc repro base_model`"
    assert _fix_hint(Path("models/kimi")) == "rerun `dvc repro train@kimi`"
    assert _fix_hint(Path("models/kimi/seed2")) == "rerun `dvc repro train@kimi`"

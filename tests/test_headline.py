"""hmpo.evaluation.headline: the flat, small metrics files DVC declares (`dvc metrics show`
fits 120 columns).

Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_headline.py -q
"""

from __future__ import annotations

import doctest
import json

import pytest
from test_plots import seeded_summary

import hmpo.evaluation.headline
from hmpo.evaluation.headline import (
    MAX_KEYS,
    check_flat_metrics,
    evaluation_headline,
    summary_headline,
    train_headline,
    validate_headline,
    write_headline,
    write_headlines,
)


def _eval(acc, tok, fin=1.0):
    # the shape hmpo.evaluation.evaluate writes, nested parts included: the headline must drop them
    return {"accuracy": acc, "mean_tokens": tok, "finished_rate": fin,
            "accuracy_ci": [acc - 0.01, acc + 0.01], "by_difficulty": {"2": {"accuracy": acc}}}


BASE = {"synthetic_eval": _eval(0.97, 36.0), "synthetic_transfer": _eval(0.76, 70.0)}


def test_doctests():
    assert doctest.testmod(hmpo.evaluation.headline).failed == 0


def test_evaluation_headline_is_the_seed_mean():
    per_seed = {0: {"synthetic_eval": _eval(0.98, 16.0), "synthetic_transfer": _eval(0.90, 27.0)},
                1: {"synthetic_eval": _eval(0.96, 18.0, 0.5),
                    "synthetic_transfer": _eval(0.88, 29.0)}}
    h = evaluation_headline(per_seed, "synthetic_eval", base=BASE,
                            other_sets={"synthetic_transfer": "tr"})
    assert h == {"acc": 0.97, "tok": 17.0, "compr": round(1 - 17 / 36, 4), "fin": 0.75,
                 "acc_tr": 0.89, "tok_tr": 28.0, "compr_tr": 0.6}
    assert list(h)[:4] == ["acc", "tok", "compr", "fin"]  # one column order in every file


def test_other_sets_default_to_the_transfer_set_and_need_distinct_suffixes():
    per_seed = {0: {"synthetic_eval": _eval(0.98, 16.0), "synthetic_transfer": _eval(0.9, 27.0)}}
    assert set(evaluation_headline(per_seed, "synthetic_eval")) == {
        "acc", "tok", "fin", "acc_tr", "tok_tr"}  # DEFAULT_OTHER_SETS, no base: no compr
    assert set(evaluation_headline(per_seed, "synthetic_eval", other_sets={})) == {
        "acc", "tok", "fin"}
    benchmarks = {0: {s: _eval(0.5, 900.0) for s in ("aime24", "aime25", "math500")}}
    assert set(evaluation_headline(benchmarks, "aime24")) == {"acc", "tok", "fin"}
    with pytest.raises(ValueError, match="own non-empty suffix"):  # aime25 would overwrite
        evaluation_headline(benchmarks, "aime24", other_sets={"aime25": "x", "math500": "x"})


def test_base_headline_has_no_compression():
    h = evaluation_headline({0: BASE}, "synthetic_eval", base=BASE, is_base=True)
    assert h == {"acc": 0.97, "tok": 36.0, "fin": 1.0, "acc_tr": 0.76, "tok_tr": 70.0}


def test_evaluation_headline_needs_the_main_set():
    with pytest.raises(ValueError, match="main set"):
        evaluation_headline({0: {"synthetic_transfer": _eval(0.9, 20)}}, "synthetic_eval")
    with pytest.raises(ValueError, match="empty"):
        evaluation_headline({}, "synthetic_eval")


def test_train_headline_means_wall_seconds_and_needs_them():
    assert train_headline([{"wall_s": 50.0}, {"wall_s": 61.0}, {"wall_s": 60.0}]) == {
        "train_s": 57.0}
    with pytest.raises(ValueError, match="wall_s"):
        train_headline([{"wall_s": 50.0}, {"cpu_s": 3.0}])


def test_summary_headline_reads_the_seeded_summary_and_costs():
    s = seeded_summary()
    costs = {"hmpo": {"train_seconds": None, "train_seconds_per_seed": {"0": 50, "1": 70}},
             "base": {"train_seconds": None}}
    h = summary_headline(s, "hmpo", costs, other_sets={"synthetic_transfer": "tr"})
    e = s["methods"]["hmpo"]["sets"]["synthetic_eval"]
    assert h["acc"] == round(e["accuracy"], 4) and h["tok"] == round(e["mean_tokens"], 2)
    assert h["compr"] == round(e["compression"], 4) and h["train_s"] == 60.0
    assert list(h) == ["acc", "tok", "compr", "fin", "acc_tr", "tok_tr", "compr_tr", "train_s"]
    assert set(summary_headline(s, "base", costs)) == {"acc", "tok", "fin", "acc_tr", "tok_tr"}


@pytest.mark.parametrize("bad, match", [
    ({"acc": {"mean": 0.9}}, "numbers"),                     # nested
    ({"acc": [0.9, 0.95]}, "numbers"),                       # a CI list
    ({"acc": "0.9"}, "numbers"),                             # a string
    ({"acc": None}, "numbers"),                              # missing value
    ({"acc": True}, "numbers"),                              # bool is an int in Python
    ({"acc": float("nan")}, "finite"),
    ({"eval.accuracy": 0.9}, "short name"),                  # dotted, too long
    ({f"k{i}": 1.0 for i in range(MAX_KEYS + 1)}, "keys"),   # too many columns
    ({}, "non-empty"),
])
def test_write_headline_refuses_what_would_widen_the_table(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        write_headline(tmp_path / "m.json", bad)
    assert not (tmp_path / "m.json").exists()


def test_write_headlines_one_small_flat_file_per_model(tmp_path):
    s = seeded_summary()
    costs = {m: {"train_seconds": 60.0} for m in s["methods"] if m != "base"}
    (tmp_path / "gone.json").write_text("{}")  # a model no longer in the summary
    paths = write_headlines(s, costs, tmp_path, other_sets={"synthetic_transfer": "tr"})
    assert sorted(p.stem for p in paths) == sorted(s["methods"])
    assert not (tmp_path / "gone.json").exists()
    keys = set()
    for p in paths:
        d = check_flat_metrics(p)
        keys |= set(d)
        assert p.stat().st_size < 300
    # `dvc metrics show` prints one column per distinct key across files: few of them
    assert len(keys) <= MAX_KEYS
    # its widest row (`dvc metrics show` pads each column to its key or widest value):
    # revision + results/metrics/<model>.json + one column per key, two spaces apart
    paths_col = max(len(f"results/metrics/{p.name}") for p in paths)
    values = {k: max(len(k), *(len(str(check_flat_metrics(p).get(k, "-"))) for p in paths))
              for k in keys}
    width = len("workspace") + 2 + paths_col + sum(w + 2 for w in values.values())
    assert width <= 120, width


def test_write_headlines_default_to_results_metrics(tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(tmp_path)  # the run layout is relative to the repository root
    s = seeded_summary()
    paths = write_headlines(s, {})
    assert {p.parent for p in paths} == {Path("results/metrics")}
    assert sorted(p.stem for p in Path("results/metrics").glob("*.json")) == sorted(s["methods"])


def test_check_flat_metrics_rejects_a_detailed_json(tmp_path):
    p = tmp_path / "synthetic_eval.json"
    p.write_text(json.dumps(_eval(0.9, 16.0)))
    with pytest.raises(ValueError, match="synthetic_eval.json"):
        check_flat_metrics(p)
    validate_headline({"acc": 0.9, "tok": 16})  # ints are fine

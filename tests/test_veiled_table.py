"""hmpo.analysis.veiled: each model on the veiled and plain problems, known answers."""

from __future__ import annotations

import numpy as np
import pytest

from hmpo.analysis import veiled
from hmpo.analysis.report import compare
from hmpo.evaluation.evaluate import problem_table
from hmpo.task import synthetic as S

V = S.Problem(0, 1, (2,), veiled=True)   # visible answer 3
P = S.Problem(0, 1, (3,))                # answer 4
PROMPTS = {"v1": V.prompt(), "v2": S.Problem(1, 2, (2,), veiled=True).prompt(),
           "p1": P.prompt(), "p2": S.Problem(1, 2, (3,)).prompt()}
GUESS = S.guess_trace()


def sample(i, completion, correct):
    return {"id": i, "completion": completion, "correct": correct,
            "n_tokens": 4 if completion == GUESS else 7}


def reasoner():  # reasons everywhere: veiled problems right half the time
    return [sample("v1", S.minimal_trace(V), True), sample("v2", S.minimal_trace(V), False),
            sample("p1", S.minimal_trace(P), True), sample("p2", S.minimal_trace(P), True)]


def guesser():  # guesses on veiled problems (one of two right), reasons on plain ones
    return [sample("v1", GUESS, False), sample("v2", GUESS, True),
            sample("p1", S.minimal_trace(P), True), sample("p2", S.minimal_trace(P), False)]


def matrices(samples, ids=None):
    """The set's per-problem matrices as hmpo.analysis.report.problem_matrices builds them
    (hmpo.evaluation.evaluate.problem_table per run, columns in sorted id order)."""
    ids = sorted(PROMPTS) if ids is None else ids
    out = {"ids": ids}
    for m, runs in samples.items():
        tables = [{r["id"]: r for r in problem_table(run)} for run in runs]
        out[m] = {"accuracy": np.array([[t[i]["accuracy"] for i in ids] for t in tables]),
                  "tokens": np.array([[t[i]["mean_tokens"] for i in ids] for t in tables])}
    return out


def test_rows_known_values():
    samples = {"hmpo": [reasoner(), reasoner()], "ungated": [guesser()]}
    rows = {r["model"]: r for r in veiled.veiled_rows(matrices(samples), PROMPTS, samples)}
    h, u = rows["hmpo"], rows["ungated"]
    assert (h["n_veiled"], h["n_plain"]) == (2, 2)
    assert h["veiled_accuracy"] == 0.5 and h["plain_accuracy"] == 1.0
    assert h["guess_share"] == 0.0 and h["veiled_tokens"] == 7.0
    assert u["guess_share"] == 1.0 and u["veiled_tokens"] == 4.0
    assert u["veiled_accuracy"] == 0.5 and u["plain_accuracy"] == 0.5
    # no veiled problem in the set: no rows
    plain = {i: P.prompt() for i in PROMPTS}
    one = {"hmpo": [reasoner()]}
    assert veiled.veiled_rows(matrices(one), plain, one) == []
    with pytest.raises(ValueError, match="does not have"):
        veiled.veiled_rows(matrices(one, ["v1"]), {"v1": V.prompt()}, one)


def test_table_pairs_hmpo_with_each_model_on_the_veiled_columns_only():
    ids = sorted(PROMPTS)  # p1 p2 v1 v2
    # two runs each; on the veiled problems hmpo is right on both, the other on neither;
    # on the plain ones the other is better (which must not enter the difference)
    hm = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    ot = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    tok = np.full((2, 4), 7.0)
    mats = {"ids": ids, "hmpo": {"accuracy": hm, "tokens": tok, "groups": [0, 1]},
            "other": {"accuracy": ot, "tokens": tok, "groups": [0, 1]}}
    df = veiled.veiled_table(["hmpo", "other"], mats, PROMPTS,
                             lambda m: [reasoner(), reasoner()], compare=compare,
                             n_boot=50, seed=0)
    rows = {r["model"]: r for r in df.to_dict("records")}
    assert rows["other"]["hmpo_minus_veiled"] == pytest.approx(1.0)
    assert np.isnan(rows["hmpo"]["hmpo_minus_veiled"])
    md = veiled.veiled_markdown(df, q=0.4)
    assert "| other |" in md and "+100.0 pt" in md and "46%" in md
    empty = veiled.veiled_table(["hmpo"], mats, {"p1": P.prompt(), "p2": P.prompt(),
                                                 "v1": P.prompt(), "v2": P.prompt()},
                                lambda m: [reasoner()], compare=compare)
    assert empty.empty and "no veiled problems" in veiled.veiled_markdown(empty, q=0.4)

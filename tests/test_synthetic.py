"""The synthetic task: sets (schema, disjointness, determinism), solver, traces, checks."""

from __future__ import annotations

import dataclasses
import random
import statistics

import pytest

from hmpo.config import SyntheticConfig
from hmpo.task import synthetic as S

SCHEMA = {"id": str, "source": str, "prompt": str, "answer": str, "difficulty": int, "split": str}


def small_cfg(**kw) -> SyntheticConfig:
    base = dict(n_train=300, n_eval=60, n_transfer=30)
    base.update(kw)
    return dataclasses.replace(SyntheticConfig(), **base)


# --------------------------------------------------------------------------- solver
def test_worked_example():
    # (4 + 5 - 8 + 3) mod 10 = 4, labels starting at 7 wrap around to 0 and 1
    p = S.Problem(7, 4, (5, -8, 3))
    assert p.prompt() == "Q: o8+5 o9-8 o0+3 e1 s7=4"
    assert p.states() == [4, 9, 1, 4]
    assert S.solve(p.prompt()) == "4"
    assert S.minimal_trace(p) == "\n o8+5 s8=9\n o9-8 s9=1\n o0+3 s0=4\nA: 4"


def test_parse_prompt_round_trip():
    rng = random.Random(3)
    for k in range(1, S.MAX_STEPS + 1):
        p = S.random_problem(rng, k)
        assert S.parse_prompt(p.prompt()) == p
        assert S.solve(p.prompt()) == str((p.x0 + sum(p.deltas)) % 10)


@pytest.mark.parametrize("bad", [
    "",                                   # empty
    "Q: e8 s7=4",                         # no operation
    "Q: o9+5 e0 s7=4",                    # label skips 8
    "Q: o8+5 e0 s7=4",                    # end marker label wrong
    "Q: o8*5 e9 s7=4",                    # unknown operator
    "Q: o8+0 e9 s7=4",                    # delta 0 is not an operation of the task
    "Q: s7=4 o8+5 e9",                    # start state must come last
    "Q:  o8+5 e9 s7=4",                   # not canonical (double space)
    "What is 2+2?",                       # another source's prompt
])
def test_parse_prompt_rejects(bad):
    with pytest.raises(ValueError, match="prompt"):
        S.parse_prompt(bad)


def test_problem_validation():
    with pytest.raises(ValueError, match="deltas"):
        S.Problem(0, 1, tuple([1] * (S.MAX_STEPS + 1)))  # labels would collide
    with pytest.raises(ValueError, match="n_steps"):
        S.random_problem(random.Random(0), 0)


# --------------------------------------------------------------------------- traces
def test_traces_end_with_answer_line_and_are_correct():
    rng = random.Random(0)
    for k in (2, 6, 8):
        p = S.random_problem(rng, k)
        for trace in (S.minimal_trace(p), S.verbose_trace(p, rng, 3)):
            assert trace.split("\n")[-1] == f"A: {p.answer}"
            assert S.is_correct(trace, str(p.answer))
            assert S.steps_correct(p.prompt(), trace) == k


def test_verbose_trace_holds_the_same_steps_plus_redundant_lines():
    rng = random.Random(1)
    p = S.random_problem(rng, 5)
    minimal_lines = S.minimal_trace(p).split("\n")
    for _ in range(20):
        v = S.verbose_trace(p, rng, 3).split("\n")
        steps = [ln for ln in v if ln.startswith(" o")]
        assert steps == [ln for ln in minimal_lines if ln.startswith(" o")]
        # every line ends with the current state (the state of the latest step line)
        latest = None
        for ln in v[1:-1]:
            if ln.startswith(" o"):
                latest = ln
                continue
            word = ln.split(" ")[1]
            assert word in ("ck", "so", "hmm", "wait")
            assert ln.split(" ")[-1] == latest.split(" ")[-1]
            if word == "ck":  # a re-check repeats the latest step line
                assert ln == " ck" + latest


def test_verbose_traces_spread_and_zero_verbosity_is_minimal():
    rng = random.Random(2)
    p = S.random_problem(rng, 6)
    assert S.verbose_trace(p, rng, 3, verbosity=0.0) == S.minimal_trace(p)
    assert S.verbose_trace(p, rng, 0) == S.minimal_trace(p)
    lens = [len(S.verbose_trace(p, rng, 3).split(" ")) for _ in range(200)]
    assert statistics.pstdev(lens) / statistics.mean(lens) > 0.2  # a real within-problem spread
    # p ~ U(0,1), Binomial(3, p) lines per step: 1.5 extra lines per step on average
    n_lines = [S.verbose_trace(p, rng, 3).count("\n") - 1 - 6 for _ in range(2000)]
    assert statistics.mean(n_lines) == pytest.approx(6 * 1.5, rel=0.08)
    with pytest.raises(ValueError, match="max_rechecks"):
        S.verbose_trace(p, rng, -1)
    with pytest.raises(ValueError, match="verbosity"):
        S.verbose_trace(p, rng, 3, verbosity=1.5)


def test_minimal_trace_tokens_formula():
    # leading newline + 3 per step + "A:" + digit (+ EOS)
    assert S.minimal_trace_tokens(2) == 10
    assert S.minimal_trace_tokens(2, include_eos=False) == 9
    assert S.minimal_tokens_for_prompt(S.Problem(0, 0, (1, 2, 3)).prompt()) == 13
    with pytest.raises(ValueError, match="n_steps"):
        S.minimal_trace_tokens(0)


# --------------------------------------------------------------------------- checking
@pytest.mark.parametrize("completion,gold,expected", [
    ("\n o1+2 s1=3\nA: 3", "3", True),
    ("\nA: 5\n ck\nA: 3", "3", True),     # the last A: counts
    ("\nA: 3\nA: 5", "3", False),         # ... even when an earlier one was right
    ("\n o1+2 s1=3", "3", False),         # no answer line
    ("\nA: ", "3", False),                # empty answer
    ("\nA: 3x", "3", False),              # not an integer
])
def test_is_correct(completion, gold, expected):
    assert S.is_correct(completion, gold) is expected


def test_steps_correct_stops_at_first_wrong_step():
    p = S.Problem(0, 2, (3, 4, 5))  # states 2 5 9 4
    good = S.minimal_trace(p)
    assert S.steps_correct(p.prompt(), good) == 3
    assert S.steps_correct(p.prompt(), good.replace(" s2=9", " s2=8")) == 1
    assert S.steps_correct(p.prompt(), good.replace(" o1+3 s1=5", " o2+4 s1=5")) == 0


def test_agrees_with_project_verifier():
    from hmpo.task.verify import verify

    rng = random.Random(5)
    for _ in range(20):
        p = S.random_problem(rng, rng.randint(2, 8))
        t = S.verbose_trace(p, rng, 3)
        assert verify(t, str(p.answer)) is True
        assert verify(t, str((p.answer + 1) % 10)) is False


# --------------------------------------------------------------------------- sets
def test_make_sets_schema_sizes_and_difficulty():
    cfg = small_cfg()
    sets = S.make_sets(cfg, seed=0)
    assert set(sets) == {"synthetic_train", "synthetic_eval", "synthetic_transfer"}
    sizes = {"synthetic_train": 300, "synthetic_eval": 60, "synthetic_transfer": 30}
    splits = {"synthetic_train": "train", "synthetic_eval": "eval", "synthetic_transfer": "test"}
    ranges = {"synthetic_train": (2, 6), "synthetic_eval": (2, 6), "synthetic_transfer": (7, 8)}
    for name, recs in sets.items():
        assert len(recs) == sizes[name]
        for r in recs:
            assert {k: type(v) for k, v in r.items()} == SCHEMA
            assert r["split"] == splits[name] and r["source"] == "synthetic"
            assert S.solve(r["prompt"]) == r["answer"]
            assert S.parse_prompt(r["prompt"]).n_steps == r["difficulty"]
        diffs = [r["difficulty"] for r in recs]
        lo, hi = ranges[name]
        assert min(diffs) == lo and max(diffs) == hi  # balanced: every difficulty present
    ids = [r["id"] for recs in sets.values() for r in recs]
    assert len(ids) == len(set(ids))


def test_make_sets_disjoint_by_problem():
    sets = S.make_sets(small_cfg(n_train=1000, n_eval=200, n_transfer=100, min_steps=1,
                                 max_steps=1, transfer_min_steps=1, transfer_max_steps=1), seed=1)
    # one step everywhere: 1800 distinct problems, so independent draws would share ~100;
    # only the exclusion keeps the sets apart
    prompts = {name: {r["prompt"] for r in recs} for name, recs in sets.items()}
    assert sum(len(v) for v in prompts.values()) == 1000 + 200 + 100
    assert not prompts["synthetic_train"] & prompts["synthetic_eval"]
    assert not prompts["synthetic_train"] & prompts["synthetic_transfer"]
    assert not prompts["synthetic_eval"] & prompts["synthetic_transfer"]


def test_make_sets_deterministic_per_seed():
    a = S.make_sets(small_cfg(), seed=0)
    assert a == S.make_sets(small_cfg(), seed=0)
    assert a != S.make_sets(small_cfg(), seed=1)
    # eval/transfer are drawn first: a bigger training set leaves them unchanged
    b = S.make_sets(small_cfg(n_train=500), seed=0)
    assert a["synthetic_eval"] == b["synthetic_eval"]
    assert a["synthetic_transfer"] == b["synthetic_transfer"]


def test_make_sets_rejects_bad_ranges():
    with pytest.raises(ValueError, match="transfer_max_steps"):
        S.make_sets(small_cfg(transfer_max_steps=S.MAX_STEPS + 1), seed=0)
    with pytest.raises(ValueError, match="n_train|distinct"):
        # only 10*10*18 = 1800 one-step problems exist
        S.make_sets(small_cfg(min_steps=1, max_steps=1, n_train=5000), seed=0)


def test_sft_texts_pairs_and_determinism():
    recs = S.make_sets(small_cfg(), seed=0)["synthetic_train"][:10]
    pairs = S.sft_texts(recs, n_traces=3, max_rechecks=3, seed=0)
    assert len(pairs) == 30
    assert [p for p, _ in pairs[:3]] == [recs[0]["prompt"]] * 3
    golds = [r["answer"] for r in recs for _ in range(3)]
    assert all(S.is_correct(c, g) for (_, c), g in zip(pairs, golds, strict=True))
    assert pairs == S.sft_texts(recs, n_traces=3, max_rechecks=3, seed=0)
    with pytest.raises(ValueError, match="n_traces"):
        S.sft_texts(recs, n_traces=0, max_rechecks=3, seed=0)


def test_vocabulary_covers_every_trace_token():
    vocab = set(S.VOCAB)
    assert len(vocab) == len(S.VOCAB)
    rng = random.Random(0)
    for _ in range(50):
        p = S.random_problem(rng, rng.randint(1, S.MAX_STEPS))
        text = p.prompt() + S.verbose_trace(p, rng, 3)
        # the text is a concatenation of vocabulary strings: split at the token boundaries
        pieces = text.replace("\n", " \n ").split(" ")
        for piece in pieces:
            if piece in ("", "\n"):
                continue
            assert piece in ("Q:", "A:") or f" {piece}" in vocab, piece


@pytest.mark.parametrize("token,parts", [
    (" s3=7", ("state", 3, 7)),
    (" o4-8", ("op", 4, 2)),    # subtracting 8 adds 2 mod 10
    (" o4+2", ("op", 4, 2)),
    (" e5", ("end", 5, None)),
    (" 7", ("digit", None, 7)),
    (" ck", None),
    ("A:", None),
    ("\n", None),
])
def test_token_parts(token, parts):
    assert S.token_parts(token) == parts


def test_every_composite_token_has_parts():
    composite = [t for t in S.VOCAB if S.token_parts(t) is not None]
    assert len(composite) == 100 + 180 + 10 + 10  # states, operations, end markers, digits


# --------------------------------------------------------------------------- early answers
def _problem(k: int = 4, seed: int = 1) -> S.Problem:
    return S.random_problem(random.Random(seed), k)


def test_early_answer_writes_some_steps_then_absorbs_the_rest_on_one_line():
    p = S.Problem(start_label=3, x0=1, deltas=(2, -2, -8, -7))
    # 1 + 2 - 2 - 8 - 7 = -14 = 6 mod 10
    assert S.early_answer_trace(p, 0) == "\n o4+2 o5-2 o6-8 o7-7\nA: 6"
    assert S.early_answer_trace(p, 3) == (
        "\n o4+2 s4=3\n o5-2 s5=1\n o6-8 s6=3\n o7-7\nA: 6")
    for j in range(4):
        t = S.early_answer_trace(p, j)
        assert S.is_correct(t, "6")
        assert S.trace_style(p.prompt(), t) == "early"
        assert S.absorbed_ops(p.prompt(), t) == 4 - j
        assert S.steps_correct(p.prompt(), t) == j  # written steps are the true ones
    with pytest.raises(ValueError, match="n_lines"):
        S.early_answer_trace(p, 4)  # writing every step is not early


def test_early_answer_length_formula_against_the_tokenizer():
    from hmpo.models.model import build_tokenizer

    tok = build_tokenizer()
    for k in range(1, 7):
        p = _problem(k, seed=k)
        for j in range(k):
            ids = tok(S.early_answer_trace(p, j), add_special_tokens=False)["input_ids"]
            m = k - j
            assert len(ids) + 1 == 3 * j + m + 5  # + EOS
            assert len(ids) + 1 < S.minimal_trace_tokens(k)  # always shorter


def test_trace_style_tells_the_styles_apart():
    p = _problem(3)
    q = p.prompt()
    assert S.trace_style(q, S.minimal_trace(p)) == "minimal"
    assert S.trace_style(q, S.verbose_trace(p, random.Random(0), 4,
                                                            verbosity=1.0)) == "verbose"
    assert S.trace_style(q, "\n o1+2 s1=3\n") == "malformed"  # no answer
    too_many = S.minimal_trace(p).replace("A:", " o9+1 s9=1\nA:")
    assert S.trace_style(q, too_many) == "malformed"
    assert S.absorbed_ops(q, S.minimal_trace(p)) == 0


def test_early_lines_absorbs_one_operation_half_the_time():
    rng = random.Random(0)
    draws = [6 - S.early_lines(rng, 6) for _ in range(4000)]  # absorbed operations
    assert set(draws) <= set(range(1, 7))
    assert abs(draws.count(1) / 4000 - 0.5) < 0.03
    assert all(abs(draws.count(m) / 4000 - 0.1) < 0.02 for m in range(2, 7))
    assert {S.early_lines(rng, 1) for _ in range(20)} == {0}


def test_sft_texts_early_share():
    recs = [{"prompt": _problem(k, seed=k).prompt()} for k in range(1, 7)] * 50
    plain = S.sft_texts(recs, 2, 4, seed=0)
    assert S.sft_texts(recs, 2, 4, seed=0, early_share=0.0) == plain
    mixed = S.sft_texts(recs, 2, 4, seed=0, early_share=0.25)
    styles = [S.trace_style(q, c) for q, c in mixed]
    assert 0.18 < styles.count("early") / len(styles) < 0.32
    # the verbose traces that stay are the same draws as without early answers
    assert all(c == d for (q, c), (_, d), s in zip(mixed, plain, styles, strict=True)
               if s != "early")
    assert {S.trace_style(q, c) for q, c in
            S.sft_texts(recs[:6], 1, 4, seed=0, early_share=1.0)} == {"early"}
    with pytest.raises(ValueError, match="early_share"):
        S.sft_texts(recs, 1, 4, seed=0, early_share=1.5)


# --------------------------------------------------------------------------- veiled problems
def test_veiled_prompt_round_trips_and_the_guess_is_its_own_style():
    p = S.Problem(3, 4, (5, -8, 3), veiled=True)
    assert p.prompt() == "Q: x? o4+5 o5-8 o6+3 e7 s3=4"
    assert S.parse_prompt(p.prompt()) == p and S.is_veiled(p.prompt())
    plain = S.Problem(3, 4, (5, -8, 3))
    assert not S.is_veiled(plain.prompt()) and S.parse_prompt(plain.prompt()) == plain
    assert S.solve(p.prompt()) == "4"  # the visible computation
    assert S.trace_style(p.prompt(), S.guess_trace()) == "guess"
    assert S.trace_style(plain.prompt(), S.guess_trace()) == "early"
    assert S.trace_style(p.prompt(), S.minimal_trace(p)) == "minimal"
    assert S.trace_style(p.prompt(), S.early_answer_trace(p, 0)) == "early"
    assert S.veiled_gold(p, 0) == 0 and S.veiled_gold(p, 1) == 4
    with pytest.raises(ValueError, match="factor"):
        S.veiled_gold(p, 2)
    with pytest.raises(ValueError, match="not a synthetic"):
        S.parse_prompt("Q: x? x? o4+5 e5 s3=4")


def test_cell_keys_round_trip_and_sort_plain_before_veiled():
    import numpy as np
    for k in range(1, S.MAX_STEPS + 1):
        for veiled in (False, True):
            assert S.parse_cell(S.cell_key(k, veiled)) == (k, veiled)
    assert S.cell_key(3) == "3" and S.cell_key(3, True) == "3?"
    assert S.parse_cell(3) == S.parse_cell(np.int64(3)) == S.parse_cell(" 3 ") == (3, False)
    assert sorted(["10", "2?", "2", "1?", "1"], key=S.parse_cell) == [
        "1", "1?", "2", "2?", "10"]
    for bad in ("all", "3x", "?", "-1", True, 2.5):
        with pytest.raises(ValueError, match="not a difficulty cell"):
            S.parse_cell(bad)


def test_veil_token_is_last_in_the_vocabulary_and_tokenises():
    from hmpo.models.model import build_tokenizer
    assert S.VOCAB[-1] == S.VEIL and S.VOCAB.count(S.VEIL) == 1
    tok = build_tokenizer()
    prompt = S.Problem(3, 4, (5,), veiled=True).prompt()
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids)[:2] == ["Q:", S.VEIL]
    assert tok.decode(ids) == prompt


def test_veiled_sets_share_the_problems_and_carry_the_hidden_factor_in_the_gold():
    from hmpo.config import SyntheticConfig
    kw = dict(n_train=3000, n_eval=800, min_steps=1, max_steps=6, n_transfer=100)
    plain = S.make_sets(SyntheticConfig(**kw), 0)
    veiled = S.make_sets(SyntheticConfig(**kw, veiled_share=0.5, veil_zero_prob=0.4), 0)
    assert S.make_sets(SyntheticConfig(**kw, veiled_share=0.5), 0) == veiled  # seeded
    for name in plain:
        assert len(plain[name]) == len(veiled[name])
        for a, b in zip(plain[name], veiled[name], strict=True):
            pa, pb = S.parse_prompt(a["prompt"]), S.parse_prompt(b["prompt"])
            assert (pa.start_label, pa.x0, pa.deltas) == (pb.start_label, pb.x0, pb.deltas)
            assert b["difficulty"] == a["difficulty"] and a["answer"] == S.solve(a["prompt"])
            if not pb.veiled:
                assert b["answer"] == a["answer"]
            else:
                assert b["answer"] in (a["answer"], "0")
    assert not any(S.is_veiled(r["prompt"]) for r in veiled["synthetic_transfer"])
    rows = [r for r in veiled["synthetic_train"] + veiled["synthetic_eval"]]
    v = [r for r in rows if S.is_veiled(r["prompt"])]
    assert abs(len(v) / len(rows) - 0.5) < 0.03
    # gold 0: the factor (q = 0.4) or a final state of 0 (1/10 of the rest): 0.46
    zero = sum(r["answer"] == "0" for r in v) / len(v)
    assert abs(zero - 0.46) < 0.04
    # reasoning traces answer the visible computation; guesses only on veiled problems
    pairs = S.sft_texts(rows[:400], 2, 3, 0, early_share=0.1, guess_share=0.3)
    styles = [(S.is_veiled(p), S.trace_style(p, c)) for p, c in pairs]
    assert not any(s == "guess" for v_, s in styles if not v_)
    share = (sum(s == "guess" for v_, s in styles if v_)
             / max(1, sum(1 for v_, _ in styles if v_)))
    assert 0.2 < share < 0.4
    for p, c in pairs:
        if S.trace_style(p, c) != "guess":
            assert S.extract_answer(c) == int(S.solve(p))
    with pytest.raises(ValueError, match="guess_share"):
        S.sft_texts(rows[:2], 1, 3, 0, guess_share=1.5)

"""hmpo.models.generate.sample: shapes, length counting (EOS included), seeding, errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hmpo.config import BaseModelConfig
from hmpo.models.generate import Completion, eos_token_ids, sample, sample_ids
from hmpo.models.model import build_tiny_model, build_tokenizer

TOK = build_tokenizer()
MODEL = build_tiny_model(dataclasses.replace(BaseModelConfig(), n_layers=1, hidden_size=32,
                                             n_heads=2, intermediate_size=64), TOK, seed=0)
PROMPTS = ["Q: o2+4 e3 s1=3", "Q: o8+5 o9-8 o0+3 e1 s7=4", "Q: o1-1 o2-2 e3 s0=0"]
KW = dict(max_new_tokens=10, temperature=1.0, batch_size=4, progress=False)


def test_shapes_and_types():
    out = sample(MODEL, TOK, PROMPTS, n=3, seed=0, **KW)
    assert len(out) == len(PROMPTS) and all(len(g) == 3 for g in out)
    for g in out:
        for c in g:
            assert isinstance(c, Completion)
            assert 1 <= c.n_tokens <= 10
            assert c.finished or c.n_tokens == 10  # unfinished = ran out of tokens


def test_same_seed_same_output_other_seed_differs_and_caller_rng_untouched():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = sample(MODEL, TOK, PROMPTS, n=4, seed=0, **KW)
    after = torch.rand(1)
    assert torch.equal(before, after)  # sampling does not advance the caller's RNG
    b = sample(MODEL, TOK, PROMPTS, n=4, seed=0, **KW)
    c = sample(MODEL, TOK, PROMPTS, n=4, seed=1, **KW)
    assert a == b
    assert a != c


def test_greedy_samples_are_identical():
    out = sample(MODEL, TOK, PROMPTS, n=3, seed=0, **{**KW, "temperature": 0.0})
    for g in out:
        assert len(set(g)) == 1


class ScriptedModel(torch.nn.Module):
    """A model whose `generate` returns fixed rows, to check the length bookkeeping exactly."""

    def __init__(self, rows: list[list[int]]):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.rows = rows

    def generate(self, input_ids, attention_mask, max_new_tokens, **kw):
        gen = torch.tensor(self.rows[: input_ids.shape[0]])
        return torch.cat([input_ids, gen], dim=1)


def test_n_tokens_counts_eos_and_stops_there():
    eos, pad = TOK.eos_token_id, TOK.pad_token_id
    a, b = TOK.convert_tokens_to_ids(["A:", " 7"])
    rows = [
        [a, b, eos, pad, pad],  # finished after 3 tokens (EOS counted), padding ignored
        [a, b, a, b, a],        # never finished: all 5 tokens count
        [eos, pad, pad, pad, pad],  # an empty answer still costs the EOS token
    ]
    out = sample(ScriptedModel(rows), TOK, ["Q: o2+4 e3 s1=3"] * 3, n=1, max_new_tokens=5,
                 temperature=1.0, seed=0, batch_size=3, progress=False)
    got = [g[0] for g in out]
    assert got[0] == Completion("A: 7", 3, True)
    assert got[1] == Completion("A: 7A: 7A:", 5, False)
    assert got[2] == Completion("", 1, True)


@pytest.mark.parametrize("kw,match", [
    (dict(n=0), "n must"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(temperature=-1.0), "temperature"),
    (dict(batch_size=0), "batch_size"),
    (dict(backend="tgi"), "backend"),
])
def test_bad_arguments(kw, match):
    args = dict(n=1, max_new_tokens=4, temperature=1.0, seed=0, batch_size=2, progress=False)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        sample(MODEL, TOK, PROMPTS, **args)
    with pytest.raises(ValueError, match="prompts"):
        sample(MODEL, TOK, "Q: o2+4 e3 s1=3", n=1, max_new_tokens=4, temperature=1.0, seed=0,
               batch_size=2, progress=False)


def test_vllm_backend_fails_clearly_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("this checks the CPU error path")
    with pytest.raises(RuntimeError, match="vllm|CUDA"):
        sample("models/base", None, PROMPTS, n=1, max_new_tokens=4, temperature=1.0, seed=0,
               batch_size=2, progress=False, backend="vllm")


# --------------------------------------------------------------------------- sample_ids
def _chaotic_model():
    """The tiny model with large random weights: greedy decodes vary across rows and steps
    (the small default init repeats one token forever, which would test nothing)."""
    m = build_tiny_model(dataclasses.replace(BaseModelConfig(), n_layers=1, hidden_size=32,
                                             n_heads=2, intermediate_size=64), TOK, seed=0)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return m.eval()


LONG_PROMPTS = PROMPTS + ["Q: o3+3 s2=5", "Q: o9-1 o4+4 o2+2 o1+1 e2 s3=3"]  # 4 prompt lengths


def _left_padded(prompts):
    old = TOK.padding_side
    TOK.padding_side = "left"
    try:
        return TOK(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        TOK.padding_side = old


def _cut(row, eos):
    k = next((i for i, t in enumerate(row) if t in eos), None)
    return row if k is None else row[:k + 1]


def test_sample_ids_follows_generate_row_by_row_while_rows_leave_the_batch():
    """In the zero-temperature limit sampling is greedy decoding, so sample_ids must give
    model.generate's greedy rows exactly: same prompt positions under left padding, same
    cache, and rows that finish early leave the batch without disturbing the others."""
    model, enc = _chaotic_model(), _left_padded(LONG_PROMPTS)
    assert len(set(enc["attention_mask"].sum(1).tolist())) >= 3  # prompts of several lengths
    free = model.generate(**enc, max_new_tokens=30, do_sample=False, eos_token_id=[],
                          pad_token_id=TOK.pad_token_id)[:, enc["input_ids"].shape[1]:].tolist()
    # stop ids chosen from the free-running rows so that the rows end at different steps
    eos = sorted({free[0][3], free[1][5], free[3][9]})
    ref = model.generate(**enc, max_new_tokens=30, do_sample=False, eos_token_id=eos,
                         pad_token_id=TOK.pad_token_id)[:, enc["input_ids"].shape[1]:].tolist()
    ref = [_cut(r, eos) for r in ref]
    assert len({len(r) for r in ref}) >= 3 and min(len(r) for r in ref) < 30  # rows drop out
    torch.manual_seed(0)
    got = sample_ids(model, enc["input_ids"], enc["attention_mask"], max_new_tokens=30,
                     eos_token_ids=eos, temperature=1e-5)
    assert got == ref
    assert all(len(r) == 30 or r[-1] in eos for r in got)
    assert all(t not in eos for r in got for t in r[:-1])  # nothing after the first stop id


def test_sample_ids_draws_from_softmax_of_the_logits():
    """Temperature sampling: over 4,000 draws each first token's frequency is within 0.025 of
    softmax(logits / T) (>= 3 standard deviations of a frequency), at T = 0.5 and T = 1, whose
    distributions differ by far more than that (the test could tell them apart)."""
    model, enc = _chaotic_model(), _left_padded([PROMPTS[1]] * 4000)
    with torch.no_grad():
        logits = model(input_ids=enc["input_ids"][:1]).logits[0, -1].float()
    probs = {t: torch.softmax(logits / t, -1) for t in (0.5, 1.0)}
    assert float((probs[0.5] - probs[1.0]).abs().max()) > 0.08
    for temp, p in probs.items():
        torch.manual_seed(1)
        got = sample_ids(model, enc["input_ids"], enc["attention_mask"], max_new_tokens=1,
                         eos_token_ids=[TOK.eos_token_id], temperature=temp)
        freq = torch.bincount(torch.tensor([r[0] for r in got]), minlength=logits.numel()) / 4000
        assert float((freq - p).abs().max()) < 0.025, temp


def test_sample_ids_is_seeded_and_bounded():
    model = MODEL.eval()
    enc = _left_padded(PROMPTS * 4)
    eos = eos_token_ids(TOK, model)
    torch.manual_seed(3)
    a = sample_ids(model, enc["input_ids"], enc["attention_mask"], max_new_tokens=7,
                   eos_token_ids=eos)
    torch.manual_seed(3)
    b = sample_ids(model, enc["input_ids"], enc["attention_mask"], max_new_tokens=7,
                   eos_token_ids=eos)
    assert a == b and len(a) == 12 and all(1 <= len(r) <= 7 for r in a)
    assert sample_ids(model, enc["input_ids"][:0], enc["attention_mask"][:0],
                      max_new_tokens=7, eos_token_ids=eos) == []


@pytest.mark.parametrize("kw, match", [
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(temperature=0.0), "temperature"),
    (dict(eos_token_ids=[]), "eos_token_ids"),
])
def test_sample_ids_rejects_bad_arguments(kw, match):
    enc = _left_padded(PROMPTS)
    args = dict(max_new_tokens=4, eos_token_ids=[TOK.eos_token_id], temperature=1.0) | kw
    with pytest.raises(ValueError, match=match):
        sample_ids(MODEL, enc["input_ids"], enc["attention_mask"], **args)


@pytest.mark.parametrize("ids, mask, match", [
    (lambda e: e["input_ids"][0], None, "input_ids must be a 2-d tensor"),   # one row, 1-d
    (lambda e: e["input_ids"].tolist(), None, "input_ids must be a 2-d tensor"),  # a list
    (None, lambda e: e["attention_mask"][:, 1:], "attention_mask must be a tensor of"),
    (None, lambda e: e["attention_mask"].tolist(), "attention_mask must be a tensor of"),
    # right padding: the shorter prompts would continue from their padding
    (lambda e: _right_padded(PROMPTS)["input_ids"], lambda e: _right_padded(PROMPTS)[
        "attention_mask"], "must be left-padded"),
    (lambda e: e["input_ids"][:, :0], lambda e: e["attention_mask"][:, :0],
     "must be left-padded"),  # empty prompts: nothing to continue from
])
def test_sample_ids_rejects_batches_it_cannot_continue(ids, mask, match):
    enc = _left_padded(PROMPTS)
    input_ids = ids(enc) if ids else enc["input_ids"]
    attention_mask = mask(enc) if mask else enc["attention_mask"]
    with pytest.raises(ValueError, match=match):
        sample_ids(MODEL, input_ids, attention_mask, max_new_tokens=4,
                   eos_token_ids=[TOK.eos_token_id])


def _right_padded(prompts):
    old = TOK.padding_side
    TOK.padding_side = "right"
    try:
        return TOK(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        TOK.padding_side = old


def test_sample_ids_stops_at_the_length_cap_without_an_extra_forward_pass():
    """No row ends (the stop id is outside the vocabulary): every row gets exactly
    max_new_tokens ids, from one prompt pass and max_new_tokens - 1 decode passes."""
    model, enc = _chaotic_model(), _left_padded(PROMPTS)
    calls = []
    hook = model.register_forward_hook(lambda mod, inp, out: calls.append(1))
    try:
        got = sample_ids(model, enc["input_ids"], enc["attention_mask"], max_new_tokens=6,
                         eos_token_ids=[10**6])
    finally:
        hook.remove()
    assert [len(r) for r in got] == [6] * len(PROMPTS)
    assert len(calls) == 6

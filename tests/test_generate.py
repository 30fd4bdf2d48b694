"""hmpo.generate.sample: shapes, length counting (EOS included), seeding, errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hmpo.config import BaseModelConfig
from hmpo.generate import Completion, sample
from hmpo.model import build_tiny_model, build_tokenizer

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

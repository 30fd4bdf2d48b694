"""The offline tokenizer (round trips TRL relies on), the tiny model, the loader's errors."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoModelForCausalLM, AutoTokenizer

from hmpo.config import BaseModelConfig
from hmpo.models.model import (
    ModelDirError,
    build_tiny_model,
    build_tokenizer,
    check_model_dir,
    load_model,
    n_parameters,
    save_model,
)
from hmpo.task import synthetic as S

TINY = dataclasses.replace(BaseModelConfig(), n_layers=1, hidden_size=32, n_heads=2,
                           intermediate_size=64)
TOK = build_tokenizer()


def enc(text: str, tok=TOK) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def texts(n: int = 30, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p = S.random_problem(rng, rng.randint(1, S.MAX_STEPS))
        out.append((p.prompt(), S.verbose_trace(p, rng, 3)))
    return out


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    model = build_tiny_model(TINY, TOK, seed=0)
    save_model(model, TOK, d)
    return d


# --------------------------------------------------------------------------- tokenizer
def test_special_tokens_and_no_automatic_specials():
    assert (TOK.pad_token_id, TOK.eos_token_id, TOK.unk_token_id) == (0, 1, 2)
    assert TOK.padding_side == "left"
    ids = TOK("Q: o2+4 e3 s1=3")["input_ids"]  # even with add_special_tokens left at True
    assert TOK.convert_ids_to_tokens(ids) == ["Q:", " o2+4", " e3", " s1=3"]


def test_text_round_trip_and_one_token_per_composite():
    for prompt, completion in texts():
        for t in (prompt, completion, prompt + completion):
            ids = enc(t)
            assert TOK.unk_token_id not in ids
            assert TOK.decode(ids) == t
    # the composites are single tokens: the minimal trace length formula holds
    rng = random.Random(1)
    for k in range(1, S.MAX_STEPS + 1):
        p = S.random_problem(rng, k)
        assert len(enc(S.minimal_trace(p))) + 1 == S.minimal_trace_tokens(k)  # + EOS


def test_prompt_ids_are_a_prefix_of_prompt_plus_completion():
    # TRL encodes the prompt alone and appends sampled ids; SFT must have seen the same ids
    for prompt, completion in texts():
        assert enc(prompt + completion) == enc(prompt) + enc(completion)


def test_decoding_skips_special_tokens_but_keeps_the_answer():
    prompt, completion = texts(1)[0]
    ids = [TOK.pad_token_id] * 3 + enc(completion) + [TOK.eos_token_id, TOK.pad_token_id]
    out = TOK.decode(ids, skip_special_tokens=True)
    assert out == completion
    assert S.is_correct(out, S.solve(prompt))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=3, max_value=len(TOK) - 1), max_size=40))
def test_any_id_sequence_round_trips(ids):
    # what a sampled completion decodes to re-encodes to the same ids, whatever the model emits
    assert enc(TOK.decode(ids)) == ids


def test_unknown_text_maps_to_unk():
    assert enc("Q: o2+4 e3 xyz")[-1] == TOK.unk_token_id


def test_autotokenizer_loads_the_saved_tokenizer(saved):
    tok = AutoTokenizer.from_pretrained(saved)
    for prompt, completion in texts(10):
        assert enc(prompt + completion, tok) == enc(prompt + completion)
        assert tok.decode(enc(completion, tok)) == completion
    assert (tok.pad_token_id, tok.eos_token_id) == (TOK.pad_token_id, TOK.eos_token_id)


# --------------------------------------------------------------------------- model
def test_build_is_seeded_and_sized():
    a = build_tiny_model(TINY, TOK, seed=0)
    b = build_tiny_model(TINY, TOK, seed=0)
    c = build_tiny_model(TINY, TOK, seed=1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.config.vocab_size == len(TOK) and a.config.num_hidden_layers == 1
    assert 5_000 < n_parameters(a) < 50_000
    with pytest.raises(ValueError, match="divisible"):
        build_tiny_model(dataclasses.replace(TINY, n_heads=3), TOK, seed=0)


def test_automodel_loads_and_matches(saved):
    model = AutoModelForCausalLM.from_pretrained(saved)
    ref = build_tiny_model(TINY, TOK, seed=0)
    x = torch.tensor([enc("Q: o2+4 e3 s1=3")])
    with torch.no_grad():
        assert torch.allclose(model(x).logits, ref(x).logits, atol=1e-6)
    gen = json.loads((saved / "generation_config.json").read_text())
    assert gen["eos_token_id"] == TOK.eos_token_id and gen["pad_token_id"] == TOK.pad_token_id


def test_peft_lora_wraps_the_model(saved):
    import peft

    model = AutoModelForCausalLM.from_pretrained(saved)
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                             "gate_proj", "up_proj", "down_proj"])
    wrapped = peft.get_peft_model(model, cfg)
    trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    assert 0 < trainable < n_parameters(model)
    x = torch.tensor([enc("Q: o2+4 e3 s1=3")])
    loss = wrapped(input_ids=x, labels=x).loss
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for n, p in wrapped.named_parameters() if "lora_" in n)


def test_left_padded_batched_greedy_matches_single(saved):
    model, tok = load_model(saved)
    prompts = [p for p, _ in texts(4, seed=7)]
    prompts.sort(key=len)  # different lengths -> real left padding in the batch
    assert len(set(len(enc(p)) for p in prompts)) > 1
    batch = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    kw = dict(max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id,
              eos_token_id=tok.eos_token_id)
    with torch.no_grad():
        out = model.generate(**batch, **kw)[:, batch["input_ids"].shape[1]:]
        for i, p in enumerate(prompts):
            single = model.generate(**tok([p], return_tensors="pt", add_special_tokens=False), **kw)
            single = single[0, len(enc(p)):]
            n = len(single)
            assert out[i, :n].tolist() == single.tolist()


# --------------------------------------------------------------------------- loader errors
def test_load_model_round_trip(saved):
    model, tok = load_model(saved)
    assert not model.training and tok.padding_side == "left"
    assert check_model_dir(saved) == saved


def test_load_model_missing_dir(tmp_path):
    with pytest.raises(ModelDirError, match="not found"):
        load_model(tmp_path / "nope")


def test_load_model_incomplete_dir(tmp_path, saved):
    d = tmp_path / "m"
    d.mkdir()
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (d / f).write_bytes((saved / f).read_bytes())
    with pytest.raises(ModelDirError, match="no weights file .expected one of model.safetensors"):
        load_model(d)


def test_load_model_corrupt_files(tmp_path, saved):
    d = tmp_path / "m"
    d.mkdir()
    for f in saved.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    (d / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelDirError, match="cannot load the model"):
        load_model(d)
    (d / "config.json").write_text("{ truncated")
    with pytest.raises(ModelDirError, match="config.json is not valid JSON"):
        load_model(d)


def test_factored_embedding_init_shares_label_and_value_parts():
    from transformers import Qwen3ForCausalLM

    model = build_tiny_model(TINY, TOK, seed=0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        plain = Qwen3ForCausalLM(model.config)  # the same default init, without shared parts
    E = model.get_input_embeddings().weight.detach()
    P = E - plain.get_input_embeddings().weight.detach()  # the shared parts alone

    def part(tok: str) -> torch.Tensor:
        return P[TOK.convert_tokens_to_ids(tok)]

    # value part shared across labels, label part shared across values and kinds
    assert torch.allclose(part(" s3=7") - part(" s5=7"), part(" s3=1") - part(" s5=1"), atol=1e-6)
    assert torch.allclose(part(" o3+4") - part(" o5+4"), part(" e3") - part(" e5"), atol=1e-6)
    assert torch.allclose(part(" o4-8"), part(" o4+2"), atol=1e-6)  # the same operation mod 10
    assert torch.allclose(part(" s0=7") - part(" s0=2"), part(" 7") - part(" 2"), atol=1e-6)
    assert not part(" ck").any() and not part("\n").any()  # only composite tokens get parts
    assert part(" s3=7").abs().sum() > 0
    # each token keeps its own random part: -8 and +2 share parts, yet stay distinct tokens
    assert not torch.allclose(E[TOK.convert_tokens_to_ids(" o4-8")],
                              E[TOK.convert_tokens_to_ids(" o4+2")])
    # tied output embedding: the head starts factored too
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()

"""The SFT stage on the smoke profile: outputs, determinism, loss masking, data source."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hmpo.config import base_config, load_config
from hmpo.models.model import build_tiny_model, build_tokenizer, load_model
from hmpo.models.sft import (
    IGNORE,
    _collate,
    encode_examples,
    length_grouped_batches,
    load_problem_sets,
    lr_at,
    measure,
    sft_train,
    train_base_model,
)
from hmpo.task import synthetic as S


@pytest.fixture(scope="module")
def smoke_cfg(repo_root_module):
    return load_config(repo_root_module / "params.yaml", profile="smoke")


@pytest.fixture(scope="module")
def repo_root_module():
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run_a(smoke_cfg, tmp_path_factory):
    d = tmp_path_factory.mktemp("a")
    m = train_base_model(smoke_cfg, d / "model", d / "results", data_dir=d / "no-data",
                         progress=False)
    return d, m


def test_stage_outputs(run_a, smoke_cfg):
    d, metrics = run_a
    model, tok = load_model(d / "model")  # HF format, loadable
    assert model.config.num_hidden_layers == smoke_cfg.base_model.n_layers
    on_disk = json.loads((d / "results" / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    for part in ("eval", "transfer"):
        m = on_disk[part]
        assert 0.0 <= m["accuracy"] <= 1.0
        assert m["n_problems"] == smoke_cfg.base_model.n_eval_problems
        assert set(m["accuracy_by_difficulty"]) <= {str(k) for k in range(1, 9)}
        assert m["mean_tokens"] > 0 and m["length_ratio"] == pytest.approx(
            m["mean_tokens"] / m["mean_minimal_tokens"])
    rows = list(csv.DictReader(open(d / "results" / "sft_loss.csv")))
    b = smoke_cfg.base_model
    # phase 1 (verbose traces) then phase 2 (the mix with early answers), one step axis
    assert [int(r["step"]) for r in rows] == list(range(1, b.sft_steps + b.sft_mix_steps + 1))
    assert [int(r["phase"]) for r in rows] == [1] * b.sft_steps + [2] * b.sft_mix_steps
    losses = [float(r["loss"]) for r in rows]
    assert max(losses[b.sft_steps - 3:b.sft_steps]) < losses[0]  # it learned something
    styles = m["styles"]  # per difficulty and style: shares sum to 1 per difficulty
    for k, per in styles.items():
        assert sum(c["share"] for c in per.values()) == pytest.approx(1.0), k
    tf = on_disk["eval"]["teacher_forced_lines"]
    assert set(tf["lines"]) == {"minimal", "verbose", "early"}
    assert all(0.0 <= v <= 1.0 for v in tf["early_answer_by_absorbed"].values())
    resolved = json.loads((d / "results" / "config.resolved.json").read_text())
    assert resolved["base_model"]["sft_steps"] == smoke_cfg.base_model.sft_steps


def test_same_seed_identical_weights(run_a, smoke_cfg, tmp_path):
    d, _ = run_a
    train_base_model(smoke_cfg, tmp_path / "model", tmp_path / "results",
                     data_dir=tmp_path / "no-data", progress=False, measure_model=False)
    a = load_file(d / "model" / "model.safetensors")
    b = load_file(tmp_path / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_other_seed_other_weights(run_a, smoke_cfg, tmp_path):
    import dataclasses

    d, _ = run_a
    cfg = dataclasses.replace(smoke_cfg, seed=1)
    train_base_model(cfg, tmp_path / "model", tmp_path / "results",
                     data_dir=tmp_path / "no-data", progress=False, measure_model=False)
    a = load_file(d / "model" / "model.safetensors")
    b = load_file(tmp_path / "model" / "model.safetensors")
    assert not all(torch.equal(a[k], b[k]) for k in a)


def _sft_weights(cfg, examples, *, threads: int, forward_threads: int | None,
                 lr: float = 3e-3):
    tok = build_tokenizer()
    model = build_tiny_model(cfg.base_model, tok, 0)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        sft_train(model, tok, examples, steps=12, batch_size=32, lr=lr, warmup_steps=2,
                  seed=0, progress=False, forward_threads=forward_threads)
    finally:
        torch.set_num_threads(before)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_two_thread_forward_gives_the_one_thread_weights_bit_for_bit(smoke_cfg):
    # the base_model stage runs the SFT's forward on 2 threads (base_model.sft_forward_threads)
    # and everything else on one, claiming the same weights as one thread throughout
    recs = S.make_sets(smoke_cfg.data.synthetic, 0)["synthetic_train"][:64]
    pairs = S.sft_texts(recs, 1, 5, 0)
    ex = encode_examples(build_tokenizer(), pairs)
    one = _sft_weights(smoke_cfg, ex, threads=1, forward_threads=None)
    fwd2 = _sft_weights(smoke_cfg, ex, threads=1, forward_threads=2)
    assert all(torch.equal(one[k], fwd2[k]) for k in one)
    # the comparison sees last-bit differences: a learning rate larger by 2**-20 of itself
    # changes the weights. (Two threads in the backward too changed them on some CPUs, not on
    # others: whether BLAS splits these small matrices is the machine's choice.)
    nudged = _sft_weights(smoke_cfg, ex, threads=1, forward_threads=None, lr=3e-3 * (1 + 2**-20))
    assert not all(torch.equal(one[k], nudged[k]) for k in one)
    with pytest.raises(ValueError, match="forward_threads"):
        _sft_weights(smoke_cfg, ex, threads=1, forward_threads=0)


def test_prompt_and_padding_are_masked_from_the_loss():
    tok = build_tokenizer()
    ex = encode_examples(tok, [("Q: o2+4 e3 s1=3", "\n o2+4 s2=7\nA: 7"),
                               ("Q: o1+1 e2 s0=1", "\n o1+1 s1=2\n hmm s1=2\nA: 2")])
    batch = _collate(ex, tok.pad_token_id)
    for i, (ids, n_prompt) in enumerate(ex):
        assert n_prompt == 4
        labels = batch["labels"][i]
        assert (labels[:n_prompt] == IGNORE).all()
        assert labels[n_prompt:len(ids)].tolist() == ids[n_prompt:]
        assert ids[-1] == tok.eos_token_id  # the EOS is a training target
        assert (labels[len(ids):] == IGNORE).all()
        assert (batch["attention_mask"][i, len(ids):] == 0).all()
    with pytest.raises(ValueError, match="unknown token"):
        encode_examples(tok, [("Q: o2+4 e3 s1=3", "\n o2+4 s2=7 and so on")])


def test_length_grouped_batches_cover_an_epoch_with_similar_lengths():
    lengths = [i % 97 for i in range(640)]
    it = length_grouped_batches(lengths, 8, torch.Generator().manual_seed(0), group=4)
    epoch = [next(it) for _ in range(80)]
    assert sorted(i for b in epoch for i in b) == list(range(640))  # each example once
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in epoch) / 80
    assert spread < 30  # random batches of 8 would span ~75 of the 0..96 lengths


def test_lr_schedule():
    kw = dict(base_lr=1.0, warmup=10, total=110)
    assert lr_at(0, **kw) == pytest.approx(0.1)
    assert lr_at(9, **kw) == pytest.approx(1.0)
    assert lr_at(60, **kw) == pytest.approx(0.5)
    assert lr_at(110, **kw) == pytest.approx(0.0)


def test_problem_sets_prefer_the_data_stage_files(smoke_cfg, tmp_path):
    generated = load_problem_sets(smoke_cfg, tmp_path)  # nothing there: make_sets
    assert generated == S.make_sets(smoke_cfg.data.synthetic, smoke_cfg.seed)
    edited = {k: v[:3] for k, v in generated.items()}
    for name, recs in edited.items():
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert load_problem_sets(smoke_cfg, tmp_path) == edited


def test_measure_counts_a_perfect_oracle(smoke_cfg, monkeypatch):
    """measure() on a model that always emits the minimal trace: accuracy 1, ratio 1."""
    import hmpo.models.sft as sft_mod
    from hmpo.models.generate import Completion

    recs = S.make_sets(smoke_cfg.data.synthetic, 0)["synthetic_eval"][:5]

    def oracle(model, tok, prompts, *, n, **kw):
        return [[Completion(S.minimal_trace(S.parse_prompt(p)),
                            S.minimal_tokens_for_prompt(p), True)] * n for p in prompts]

    monkeypatch.setattr(sft_mod, "sample", oracle)
    m = measure(None, None, recs, n_samples=2, max_new_tokens=64, seed=0, batch_size=4,
                progress=False)
    assert m["accuracy"] == 1.0 and m["step_accuracy"] == 1.0
    assert m["length_ratio"] == 1.0 and m["within_group_cv"] == 0.0 and m["finished"] == 1.0


def test_refuses_non_tiny_kind(smoke_cfg, tmp_path):
    import dataclasses

    cfg = dataclasses.replace(smoke_cfg, base_model=dataclasses.replace(
        smoke_cfg.base_model, kind="pretrained", name_or_path="x"))
    with pytest.raises(ValueError, match="base_model.kind"):
        train_base_model(cfg, tmp_path / "m", tmp_path / "r", progress=False)


# --------------------------------------------------------------------------- the stage
def _stage_data(cfg, folder):
    """A data folder holding only train.jsonl (the budgets' prompts): the SFT falls back to
    make_sets, as run_a's did."""
    folder.mkdir()
    recs = S.make_sets(cfg.data.synthetic, cfg.seed)["synthetic_train"]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return folder


def _files(folder):
    """{relative path: bytes} of every file under `folder`."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_make_sft_model_tiny_is_train_base_model(run_a, smoke_cfg, tmp_path):
    """The stage's tiny branch: the weights and metrics of train_base_model, written where the
    stage writes them (no budgets: those are the base model's, hmpo.training.base_model)."""
    from hmpo.models.sft_model import make_sft_model

    d, metrics = run_a
    data = _stage_data(smoke_cfg, tmp_path / "data")
    sft = make_sft_model(smoke_cfg, 0, tmp_path / "model", tmp_path / "results", data_dir=data,
                         progress=False)
    assert _files(tmp_path / "model") == _files(d / "model")  # bit-identical weights
    timing = {"sft_seconds", "measure_seconds"}
    assert {k: v for k, v in sft.metrics.items() if k not in timing} == {
        k: v for k, v in metrics.items() if k not in timing}
    assert {p.name for p in (tmp_path / "results").iterdir()} == {
        "config.resolved.json", "metrics.json", "sft_loss.csv"}
    assert (sft.model_dir, sft.results_dir) == (tmp_path / "model", tmp_path / "results")


def test_make_sft_model_copies_a_pretrained_model_as_is(run_a, smoke_cfg, tmp_path, monkeypatch):
    """kind `pretrained`, called with no folders (the run layout of hmpo.paths): the folder is
    copied byte for byte into models/sft/seed<b>, metrics.json names its source, and the
    config that ran is the base seed's (seed + b)."""
    import dataclasses

    from hmpo import paths
    from hmpo.models.sft_model import make_sft_model

    d, _ = run_a
    cfg = dataclasses.replace(smoke_cfg, base_model=dataclasses.replace(
        smoke_cfg.base_model, kind="pretrained", name_or_path=str(d / "model")))
    monkeypatch.chdir(tmp_path)
    sft = make_sft_model(cfg, 1, progress=False)
    assert sft.model_dir == paths.sft_model_dir(1) == Path("models/sft/seed1")
    assert sft.results_dir == paths.base_run_dir("sft", 1) == Path("results/sft_model/runs/seed1")
    assert _files(tmp_path / "models" / "sft" / "seed1") == _files(d / "model")
    source = str((d / "model").resolve())
    assert sft.metrics == {"kind": "pretrained", "source": source}
    results = tmp_path / "results" / "sft_model" / "runs" / "seed1"
    assert (results / "metrics.json").read_text() == json.dumps(
        {"kind": "pretrained", "source": source}, indent=2) + "\n"
    resolved = json.loads((results / "config.resolved.json").read_text())
    assert resolved == json.loads(json.dumps(base_config(cfg, 1).to_dict()))  # what ran
    assert resolved["seed"] == cfg.seed + 1
    assert not (results / "sft_loss.csv").exists()  # no SFT for a pretrained model

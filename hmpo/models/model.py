"""The tiny model of the CPU profiles: an offline tokenizer, a tiny Qwen3 builder, a loader.

No model hub is reachable, so the default pipeline builds everything here:

- `build_tokenizer()`: a `tokenizers` WordLevel tokenizer over the synthetic task's composite
  tokens (hmpo.task.synthetic.VOCAB), wrapped as `PreTrainedTokenizerFast`. The pre-tokenizer splits
  the text into exactly those token strings (a regex alternation, longest first) and the decoder
  fuses them back, so ``decode(encode(text)) == text`` for any task text, and
  ``encode(decode(ids)) == ids`` for any ids without special tokens (what TRL relies on when it
  tokenises the plain prompt with ``add_special_tokens=False`` and decodes completions with
  ``skip_special_tokens=True``). Special tokens: ``<pad>`` (0), ``<eos>`` (1), ``<unk>`` (2);
  no BOS, and encoding never adds special tokens (SFT appends ``<eos>`` itself).
- `build_tiny_model(bcfg, tokenizer, seed)`: a randomly initialised `Qwen3ForCausalLM` (a
  standard architecture, so TRL, peft and vLLM treat it like any Qwen model). Qwen3, not
  Qwen2: transformers 5.24's AutoTokenizer force-maps model_type "qwen2" to the byte-level BPE
  `Qwen2Tokenizer` (MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS), which discards a WordLevel
  tokenizer.json and encodes every prompt to nothing; "qwen3" honours tokenizer_config.json.
- `save_model(...)` / `load_model(dir)`: Hugging Face format (config.json, model.safetensors,
  generation_config.json, tokenizer.json, tokenizer_config.json); `load_model` fails with a
  message naming the folder and the missing or unreadable file.

Quick check::

    python -c "from hmpo.models.model import build_tokenizer as b; \\
               print(b().tokenize('Q: o2+4 e3 s1=3'))"
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    PreTrainedTokenizerFast,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from hmpo.task import synthetic

if TYPE_CHECKING:  # pragma: no cover
    from hmpo.config import BaseModelConfig

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, EOS, UNK)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
BASE_MODEL_HINT = "run the base_model stage first, e.g. `dvc repro base_model`"
MAX_POSITIONS = 512  # prompt (< 12 tokens) + completion (<= a few hundred tokens)


class ModelDirError(ValueError):
    """A model folder that is missing, incomplete or unreadable (the message names it)."""


# --------------------------------------------------------------------------- tokenizer
def build_tokenizer(vocab: list[str] | None = None) -> PreTrainedTokenizerFast:
    """The offline WordLevel tokenizer over `vocab` (default: the synthetic task's tokens).

    Token strings carry their own leading space (hmpo.task.synthetic), so the pre-tokenizer isolates
    every occurrence of a vocabulary string (longest match first) and anything else becomes
    ``<unk>``; the `Fuse` decoder concatenates token strings with nothing in between.
    """
    vocab = list(synthetic.VOCAB if vocab is None else vocab)
    if len(set(vocab)) != len(vocab):
        raise ValueError("vocab: duplicate token strings")
    if any(t in SPECIAL_TOKENS for t in vocab):
        raise ValueError(f"vocab: must not contain the special tokens {SPECIAL_TOKENS}")
    ids = {t: i for i, t in enumerate([*SPECIAL_TOKENS, *vocab])}
    tok = Tokenizer(models.WordLevel(vocab=ids, unk_token=UNK))
    pattern = "|".join(re.escape(t) for t in sorted(vocab, key=len, reverse=True))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        padding_side="left",  # generation (and TRL) pad prompts on the left
        clean_up_tokenization_spaces=False,
        model_max_length=MAX_POSITIONS,
    )


# --------------------------------------------------------------------------- model
def build_tiny_model(bcfg: BaseModelConfig, tokenizer: PreTrainedTokenizerFast,
                     seed: int) -> Qwen3ForCausalLM:
    """A randomly initialised tiny Qwen3 (seeded: same seed -> same initial weights).

    Tied input/output embeddings (the vocabulary is ~330 tokens, so the embedding is a small
    share of the parameters either way) and full multi-head attention (no GQA).
    """
    if bcfg.hidden_size % bcfg.n_heads:
        raise ValueError(f"hidden_size {bcfg.hidden_size} must be divisible by "
                         f"n_heads {bcfg.n_heads}")
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=bcfg.hidden_size,
        intermediate_size=bcfg.intermediate_size,
        num_hidden_layers=bcfg.n_layers,
        num_attention_heads=bcfg.n_heads,
        num_key_value_heads=bcfg.n_heads,
        head_dim=bcfg.hidden_size // bcfg.n_heads,
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        use_sliding_window=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(config)
    factored_embedding_init(model, tokenizer, seed)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
    )
    return model


@torch.no_grad()
def factored_embedding_init(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast,
                            seed: int) -> None:
    """Add shared kind + label + value parts to each composite token's random embedding.

    ``E[" s3=7"] = R + K_state + L_3 + V_7``, ``E[" o4-8"] = R + K_op + L_4 + V_2`` (-8 = +2
    mod 10), ``E[" e5"] = R + K_end + L_5``, ``E[" 7"] = R + K_digit + V_7``, where R is the
    token's own default random init (so ``o4-8`` and ``o4+2`` stay distinguishable: the trace
    copies the exact operation) and each part an independent N(0, initializer_range^2) vector;
    other tokens keep the default init. Only the starting point changes (every embedding is
    trained freely afterwards). Why: with one
    independent vector per composite token, the model has to discover from data that the 10
    tokens ``s0=7 .. s9=7`` share a value and that ``o4-8`` and ``o1+2`` add the same amount;
    measured here, the 10 x 18 addition table was the last thing the model learned (per-step
    sampled accuracy 85% after 2,500 SFT steps while the label look-ups were already at 100%).
    Shared parts make value and label linearly readable from step 0 and, with tied
    embeddings, make the outputs factor the same way.
    """
    emb = model.get_input_embeddings().weight
    std = model.config.initializer_range
    gen = torch.Generator().manual_seed(seed + 7919)  # independent of the layers' init stream

    def part() -> torch.Tensor:
        return torch.randn(emb.shape[1], generator=gen) * std

    kinds = {k: part() for k in ("state", "op", "end", "digit")}
    labels = [part() for _ in range(synthetic.N_LABELS)]
    values = [part() for _ in range(10)]
    for token, idx in tokenizer.get_vocab().items():
        parts = synthetic.token_parts(token)
        if parts is None:
            continue
        kind, label, value = parts
        vec = emb[idx].float() + kinds[kind]  # keep the token's own random part: distinct tokens
        if label is not None:
            vec += labels[label]
        if value is not None:
            vec += values[value]
        emb[idx] = vec.to(emb.dtype)


def n_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_model(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast,
               out_dir: str | Path) -> Path:
    """Write the model and tokenizer in Hugging Face format to `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def check_model_dir(model_dir: str | Path, *, hint: str = BASE_MODEL_HINT) -> Path:
    """Return `model_dir` if it is a complete Hugging Face model folder, else raise.

    Complete = ``config.json`` (valid JSON with a ``model_type``), a weights file (one of
    ``WEIGHT_FILES``) and a tokenizer (one of ``TOKENIZER_FILES``). The weights themselves are
    checked when they are loaded (:func:`load_model`, ``hmpo.models.pretrained.load_pretrained``).

    Args:
        hint: how to fix it, appended to the message (the default names the base_model stage;
            ``hmpo.models.pretrained`` and ``hmpo.evaluation.evaluate`` pass their own).

    Raises:
        ModelDirError: `model_dir` does not exist, is a file, or misses / has corrupt files;
            the message names the folder, every problem and `hint`.
    """
    d = Path(model_dir).expanduser()
    if not d.exists():
        raise ModelDirError(f"model dir {d}: not found; {hint}")
    if not d.is_dir():
        raise ModelDirError(f"model path {d} is a file, not a model directory; {hint}")
    problems = []
    cfg = d / "config.json"
    if not cfg.is_file():
        problems.append("config.json is missing")
    else:
        try:
            data = json.loads(cfg.read_text())
            if not isinstance(data, dict) or "model_type" not in data:
                problems.append("config.json has no 'model_type'")
        except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError included
            problems.append(f"config.json is not valid JSON ({e})")
    if not any((d / f).is_file() for f in WEIGHT_FILES):
        problems.append(f"no weights file (expected one of {', '.join(WEIGHT_FILES)})")
    if not any((d / f).is_file() for f in TOKENIZER_FILES):
        problems.append(f"no tokenizer (expected {' or '.join(TOKENIZER_FILES)})")
    if problems:
        raise ModelDirError(f"model dir {d} is incomplete: {'; '.join(problems)}; {hint}")
    return d


def load_model(model_dir: str | Path, *, dtype: torch.dtype = torch.float32,
               ) -> tuple[torch.nn.Module, PreTrainedTokenizerFast]:
    """(model in eval mode, tokenizer) from a Hugging Face folder; clear errors if it is broken."""
    d = check_model_dir(model_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(d)
    except Exception as e:  # noqa: BLE001 - any failure here means a corrupt tokenizer file
        raise ModelDirError(f"model dir {d}: cannot load the tokenizer: {e}") from e
    try:
        model = AutoModelForCausalLM.from_pretrained(d, dtype=dtype)
    except Exception as e:  # noqa: BLE001 - truncated weights, bad config, ...
        raise ModelDirError(f"model dir {d}: cannot load the model: {e}") from e
    if tokenizer.pad_token_id is None:
        raise ModelDirError(f"model dir {d}: the tokenizer has no pad token")
    tokenizer.padding_side = "left"
    model.eval()
    return model, tokenizer

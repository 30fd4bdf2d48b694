"""Batched, seeded sampling of completions: one interface, two backends.

`sample(model, tokenizer, prompts, n=..., ...)` returns, for each prompt, `n` `Completion`s
(text decoded without special tokens, the number of generated tokens counting the EOS token
when one was emitted, and whether it was). The evaluation stage, the base-model measurement
and the multi-stage baseline all call it.

- backend="transformers" (CPU or one GPU): prompts are tokenised without special tokens (as
  TRL does), left-padded in batches of `batch_size` sequences, and sampled with plain
  temperature sampling (top_k=0, top_p=1: no truncation of the distribution). temperature=0
  means greedy decoding. Same seed -> identical output.
- backend="vllm" (CUDA): `model` is a model folder (or a `vllm.LLM`); vLLM is imported only
  here, and a clear error says so when it or CUDA is missing.

Example::

    from hmpo.models.model import load_model
    from hmpo.models.generate import sample
    model, tok = load_model("models/base")
    out = sample(model, tok, ["Q: o2+4 e3 s1=3"], n=4, max_new_tokens=64, temperature=1.0,
                 seed=0, batch_size=16)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm.auto import tqdm


@dataclass(frozen=True)
class Completion:
    """One sampled completion.

    n_tokens counts every generated token, the EOS token included when it was emitted (the
    length HMPO's budget and every length reward use); finished = EOS was emitted before
    max_new_tokens ran out.
    """

    text: str
    n_tokens: int
    finished: bool


def eos_token_ids(tokenizer: Any, model: Any = None) -> list[int]:
    """The token ids that end a completion: TRL's rule, so evaluation stops where training does.

    TRL's GRPOTrainer stops on the model's ``generation_config.eos_token_id`` (an id or a list;
    Qwen-style chat models list ``<|im_end|>`` and ``<|endoftext|>``) with the tokenizer's
    ``eos_token_id`` put first when it is not among them. ``model`` is a transformers model
    (its ``generation_config``) or None (the tokenizer's id only).

    >>> class T: eos_token_id = 2
    >>> class G: eos_token_id = [5, 7]
    >>> class M: generation_config = G()
    >>> eos_token_ids(T(), M())
    [2, 5, 7]
    """
    gen = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = [] if gen is None else [int(gen)] if isinstance(gen, int) else [int(i) for i in gen]
    tok = getattr(tokenizer, "eos_token_id", None)
    if tok is not None and int(tok) not in ids:
        ids = [int(tok), *ids]
    if not ids:
        raise ValueError("tokenizer needs an eos token (or the model a generation_config one)")
    return ids


def _check_args(prompts: list[str], n: int, max_new_tokens: int, temperature: float,
                batch_size: int) -> None:
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        raise ValueError("prompts must be a list of strings")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def sample(model: Any, tokenizer: Any, prompts: list[str], *, n: int, max_new_tokens: int,
           temperature: float, seed: int, batch_size: int, progress: bool = True,
           backend: Literal["transformers", "vllm"] = "transformers",
           vllm_kwargs: dict[str, Any] | None = None) -> list[list[Completion]]:
    """`n` completions per prompt, in prompt order: ``out[i][j]`` is sample j of prompts[i].

    The transformers backend stops on :func:`eos_token_ids` (the ids TRL's trainer stops
    on); ``vllm_kwargs`` go to ``vllm.LLM`` (``tensor_parallel_size``, ``max_model_len``:
    :func:`vllm_engine_kwargs` builds them from the config).
    """
    _check_args(prompts, n, max_new_tokens, temperature, batch_size)
    if backend == "transformers":
        return _sample_transformers(model, tokenizer, prompts, n=n, max_new_tokens=max_new_tokens,
                                    temperature=temperature, seed=seed, batch_size=batch_size,
                                    progress=progress)
    if backend == "vllm":
        return _sample_vllm(model, prompts, n=n, max_new_tokens=max_new_tokens,
                            temperature=temperature, seed=seed, llm_kwargs=vllm_kwargs)
    raise ValueError(f"backend must be 'transformers' or 'vllm', got {backend!r}")


@torch.no_grad()
def _sample_transformers(model: Any, tokenizer: Any, prompts: list[str], *, n: int,
                         max_new_tokens: int, temperature: float, seed: int, batch_size: int,
                         progress: bool) -> list[list[Completion]]:
    if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
        raise ValueError("tokenizer needs a pad and an eos token")
    eos, pad = eos_token_ids(tokenizer, model), tokenizer.pad_token_id
    eos_set = set(eos)
    flat = [p for p in prompts for _ in range(n)]
    was_training = model.training
    model.eval()
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    texts: list[str] = []
    lengths: list[int] = []
    done: list[bool] = []
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):  # seed locally, leave the caller's RNG alone
            torch.manual_seed(seed)
            bar = tqdm(range(0, len(flat), batch_size), desc="sampling", disable=not progress,
                       unit="batch")
            for start in bar:
                batch = flat[start:start + batch_size]
                enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False)
                enc = {k: v.to(device) for k, v in enc.items()}
                kwargs = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) \
                    if temperature > 0 else dict(do_sample=False)
                out = model.generate(**enc, max_new_tokens=max_new_tokens, eos_token_id=eos,
                                     pad_token_id=pad, **kwargs)
                gen = out[:, enc["input_ids"].shape[1]:].tolist()
                for row in gen:
                    stop = next((i for i, t in enumerate(row) if t in eos_set), None)
                    if stop is not None:
                        k = stop + 1
                        lengths.append(k)
                        done.append(True)
                        row = row[:k]
                    else:
                        lengths.append(len(row))
                        done.append(False)
                    texts.append(tokenizer.decode(row, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = old_side
        model.train(was_training)
    comps = [Completion(t, k, f) for t, k, f in zip(texts, lengths, done, strict=True)]
    return [comps[i * n:(i + 1) * n] for i in range(len(prompts))]


@torch.no_grad()
def sample_ids(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, *,
               max_new_tokens: int, eos_token_ids: list[int], temperature: float = 1.0
               ) -> list[list[int]]:
    """Plain temperature sampling with a KV cache in which finished rows leave the batch.

    ``input_ids``/``attention_mask`` are a left-padded batch of prompts, shape
    ``(rows, prompt length)``, every row's last column a prompt token (the next token is
    drawn from there). Returns, per row, the generated ids up to and including the first id
    in ``eos_token_ids`` (all ``max_new_tokens`` ids when none came): what TRL keeps of
    ``model.generate``'s output. The trainer calls it on TRL's padded prompts
    (:class:`hmpo.training.trainer.HMPOTrainer`); the arguments are checked here, since it
    is not reached through :func:`sample`'s checks.

    The distribution is ``model.generate``'s with ``do_sample=True, top_k=0, top_p=1``: at
    each step the next id of every unfinished row is drawn from softmax(logits / temperature)
    of the float32 logits, with the same position ids (``attention_mask.cumsum(-1) - 1`` on
    the prompt, then +1 per token). What differs is the work: ``generate`` decodes every row
    until the longest ends, while here a row that emitted EOS is dropped from the batch and
    from the cache (``Cache.reorder_cache`` with the surviving rows), so a batch whose mean
    completion is a fraction of its longest costs a fraction of the decode steps' rows. The
    draws consume the global torch RNG (seed it for reproducible output), but not in
    ``generate``'s order, so the samples are equal in distribution, not id for id.
    """
    _check_sample_ids_args(input_ids, attention_mask, max_new_tokens, eos_token_ids,
                           temperature)
    n = input_ids.shape[0]
    out: list[list[int]] = [[] for _ in range(n)]
    if n == 0:
        return out
    device = input_ids.device
    eos = torch.tensor(sorted(set(int(i) for i in eos_token_ids)), device=device)
    alive = torch.arange(n, device=device)
    mask = attention_mask.to(device=device, dtype=torch.long)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    res = model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                use_cache=True, logits_to_keep=1)
    cache, logits = res.cache, res.logits[:, -1]
    last = positions[:, -1]
    for step in range(max_new_tokens):
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        nxt = torch.multinomial(probs, num_samples=1)[:, 0]
        for row, tok in zip(alive.tolist(), nxt.tolist(), strict=True):
            out[row].append(tok)
        keep = ~torch.isin(nxt, eos)
        if not bool(keep.any()):
            break
        if not bool(keep.all()):
            idx = keep.nonzero()[:, 0]
            alive, nxt, mask, last = alive[idx], nxt[idx], mask[idx], last[idx]
            cache.reorder_cache(idx)
        if step == max_new_tokens - 1:  # the live rows hold max_new_tokens ids each
            break  # (the length cap): no forward pass for a token that is never drawn
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        last = last + 1
        res = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=last[:, None],
                    cache=cache, use_cache=True)
        cache, logits = res.cache, res.logits[:, -1]
    return out


def _check_sample_ids_args(input_ids: Any, attention_mask: Any, max_new_tokens: int,
                           eos_token_ids: list[int], temperature: float) -> None:
    """:func:`sample_ids`' argument checks: clear errors instead of wrong samples."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (sampling), got {temperature}")
    if not eos_token_ids:
        raise ValueError("eos_token_ids: need at least one id")
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        raise ValueError("input_ids must be a 2-d tensor (rows, prompt length), got "
                         f"{getattr(input_ids, 'shape', type(input_ids).__name__)}")
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != input_ids.shape:
        raise ValueError("attention_mask must be a tensor of input_ids' shape "
                         f"{tuple(input_ids.shape)}, got "
                         f"{getattr(attention_mask, 'shape', type(attention_mask).__name__)}")
    if input_ids.shape[0] and (input_ids.shape[1] == 0 or not bool(attention_mask[:, -1].all())):
        raise ValueError("attention_mask: the prompts must be left-padded, each row ending on "
                         "a prompt token (a right-padded row would continue from its padding)")


def vllm_engine_kwargs(cfg: Any) -> dict[str, Any]:
    """``vllm.LLM`` settings of a profile: tensor parallelism and context length.

    The 35B and 122B models do not fit one GPU: ``evaluate.vllm_tensor_parallel_size``
    shards them; ``max_model_len`` is ``evaluate.vllm_max_model_len`` or, when unset, the
    longest prompt the trainer accepts plus ``evaluate.max_new_tokens``.
    """
    ev = cfg.evaluate
    max_len = ev.vllm_max_model_len
    if max_len is None:
        max_len = cfg.train.max_prompt_length + ev.max_new_tokens
    return {"tensor_parallel_size": ev.vllm_tensor_parallel_size, "max_model_len": max_len}


def _sample_vllm(model: Any, prompts: list[str], *, n: int, max_new_tokens: int,
                 temperature: float, seed: int,
                 llm_kwargs: dict[str, Any] | None = None) -> list[list[Completion]]:
    """vLLM on CUDA: `model` is a model folder, a `vllm.LLM`, or a transformers model loaded
    from a folder (its `name_or_path` is handed to vLLM, which loads its own copy).

    vLLM keeps the EOS token in `token_ids` when it stops on it (finish_reason "stop"), so
    n_tokens = len(token_ids) counts it as the transformers backend does.
    """
    try:
        import vllm  # noqa: PLC0415 - optional GPU dependency, imported only on this path
    except ImportError as e:
        raise RuntimeError("backend='vllm' needs the vllm package (GPU profiles); "
                           "use backend='transformers' on CPU") from e
    if not torch.cuda.is_available():
        raise RuntimeError("backend='vllm' needs a CUDA GPU; use backend='transformers' on CPU")
    if isinstance(model, vllm.LLM):
        llm = model
    else:
        path = model if isinstance(model, (str, Path)) else getattr(model, "name_or_path", None)
        if not path or not Path(path).is_dir():
            raise ValueError("backend='vllm' takes a model folder, a vllm.LLM, or a model loaded "
                             f"from a folder as `model`; got {type(model).__name__}")
        llm = vllm.LLM(model=str(path), seed=seed, **(llm_kwargs or {}))
    # top_k / top_p left at vLLM's defaults, which disable them (plain temperature sampling)
    params = vllm.SamplingParams(n=n, temperature=temperature, max_tokens=max_new_tokens,
                                 seed=seed, skip_special_tokens=True)
    outs = llm.generate(prompts, params)
    return [[Completion(c.text, len(c.token_ids), c.finish_reason == "stop") for c in o.outputs]
            for o in outs]

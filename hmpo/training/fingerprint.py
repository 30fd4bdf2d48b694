"""Fingerprints of persisted stage outputs, so a rerun never resumes someone else's work.

A training output (a run's checkpoints in ``models/<method>/seed<s>/``, the multi-stage
baseline's SFT model in its ``sft/``) may outlive the config that made it: DVC keeps
``persist: true`` outputs, and a killed run leaves checkpoints. Each such folder carries
``hmpo_fingerprint.json``: a hash of what made it (the config values that matter, the base
model's files, the training data). :func:`reuse_or_reset` compares it with the current one
and, on a mismatch, deletes the folder and says so, so the stage starts over.

Model folders are hashed by content: small files whole; files over ``FULL_HASH_BYTES``
(multi-GB weights) by name, size and their first and last MiB, which changes with any
retraining at a fraction of the cost of reading 20 GB.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

FINGERPRINT_FILE = "hmpo_fingerprint.json"
FULL_HASH_BYTES = 64 * 2**20
_EDGE = 2**20


def _file_digest(path: Path, h: Any) -> None:
    size = path.stat().st_size
    h.update(f"{path.name}:{size}:".encode())
    with path.open("rb") as f:
        if size <= FULL_HASH_BYTES:
            for block in iter(lambda: f.read(2**20), b""):
                h.update(block)
        else:
            h.update(f.read(_EDGE))
            f.seek(size - _EDGE)
            h.update(f.read(_EDGE))


def path_fingerprint(path: str | Path, *, skip: tuple[str, ...] = ()) -> str:
    """sha256 of a file, or of a folder's files (sorted relative paths, recursively).

    ``skip``: top-level names left out (e.g. a model folder's own checkpoints).
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: nothing to fingerprint (missing)")
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(
        f for f in p.rglob("*") if f.is_file()
        and f.relative_to(p).parts[0] not in skip and f.name != FINGERPRINT_FILE)
    for f in files:
        h.update(str(f.relative_to(p) if p.is_dir() else f.name).encode())
        _file_digest(f, h)
    return h.hexdigest()


def fingerprint(payload: dict[str, Any]) -> str:
    """sha256 of a JSON-serialisable description (keys sorted)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def fingerprint_matches(out_dir: str | Path, payload: dict[str, Any]) -> bool:
    """Read-only: does ``out_dir`` carry the fingerprint of ``payload``? (Every process of a
    launch may ask; only one should call :func:`reuse_or_reset`.)"""
    f = Path(out_dir) / FINGERPRINT_FILE
    return f.is_file() and json.loads(f.read_text()).get("fingerprint") == fingerprint(payload)


def reuse_or_reset(out_dir: str | Path, payload: dict[str, Any], *, what: str,
                   keep: tuple[str, ...] = ()) -> bool:
    """True if ``out_dir`` was made from ``payload``; otherwise empty it (with a warning).

    ``payload`` is what made the output (config values, input fingerprints). A folder
    without a fingerprint, or with another one, is stale: its contents are removed (except
    the top-level names in ``keep``, e.g. an input that lives inside it) and the caller
    starts over. A missing or empty folder returns False silently.
    """
    out = Path(out_dir)
    if not out.is_dir():
        return False
    f = out / FINGERPRINT_FILE
    record = json.loads(f.read_text()) if f.is_file() else {}
    if record.get("fingerprint") == fingerprint(payload):
        return True
    stale = [c for c in out.iterdir() if c.name not in keep]
    if stale:
        old = record.get("payload", {})
        changed = sorted(k for k in set(old) | set(payload) if old.get(k) != payload.get(k))
        why = f"changed: {', '.join(changed)}" if record else "it has no fingerprint"
        warnings.warn(f"{what}: {out} was made by another config, base model or data "
                      f"({why}); deleting it and starting over", stacklevel=2)
        for c in stale:
            shutil.rmtree(c) if c.is_dir() else c.unlink()
    return False


def write_fingerprint(out_dir: str | Path, payload: dict[str, Any]) -> None:
    """Record what made ``out_dir`` (see :func:`reuse_or_reset`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / FINGERPRINT_FILE).write_text(json.dumps(
        {"fingerprint": fingerprint(payload), "payload": payload}, indent=2, sort_keys=True,
        default=str) + "\n")

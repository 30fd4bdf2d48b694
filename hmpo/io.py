"""Writing stage outputs: never half-written, stable bytes.

Every output a later stage or a reviewer reads is written through :func:`write_text_atomic`
(a temporary sibling, then a rename), and JSON through :func:`dumps_json` (sorted keys, so a
rerun with the same numbers gives the same bytes and the same DVC hash).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling and a rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def dumps_json(obj: Any) -> str:
    """Stable JSON text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"

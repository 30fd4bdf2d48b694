"""The environment record: resolved library versions and the machine, written into results/.

    from hmpo.pipeline.environment import write_environment
    write_environment("results/environment.json")

The pipeline's first stage writes it so every result names the exact stack that produced it
(TRL's config semantics drift between releases; the pins live in pyproject.toml).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

#: The libraries whose versions decide the results (pinned in pyproject.toml).
TRACKED = (
    "torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers",
    "safetensors", "math-verify", "reasoning-gym", "numpy", "pandas", "matplotlib", "dvc",
    "dvclive", "papermill", "jupytext", "deepspeed", "vllm",
)


def environment_record() -> dict[str, Any]:
    """Installed versions of TRACKED (None when absent) plus Python, OS, CPU count, CUDA."""
    versions: dict[str, str | None] = {}
    for name in TRACKED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        import torch

        cuda = torch.version.cuda if torch.cuda.is_available() else None
        threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a hard dependency
        cuda, threads = None, None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "cuda": cuda,
        "packages": versions,
    }


def write_environment(path: str | Path) -> Path:
    """Write environment_record() as JSON (sorted keys, stable across reruns on one machine)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(environment_record(), indent=2, sort_keys=True) + "\n")
    return path

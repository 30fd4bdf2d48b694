"""The environment record: resolved library versions and the machine, written into results/.

    from hmpo.pipeline.environment import write_environment
    write_environment("results/environment.json")

The stages write it so every result names the exact stack that produced it (TRL's config
semantics drift between releases; the pins live in pyproject.toml) and the CPU it ran on: the
CPU model, the vector code path torch used, and the numerical pins of :data:`hmpo.PINNED_ENV`
as they were in force (a caller may override them on purpose; the record says so).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import warnings
from pathlib import Path
from typing import Any

from hmpo import PINNED_ENV

#: The libraries whose versions decide the results (pinned in pyproject.toml).
TRACKED = (
    "torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers",
    "safetensors", "math-verify", "reasoning-gym", "numpy", "pandas", "matplotlib", "dvc",
    "dvclive", "papermill", "jupytext", "deepspeed", "vllm",
)


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The CPU's model name (Linux's /proc/cpuinfo; platform.processor() elsewhere)."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def numerics_record() -> dict[str, Any]:
    """What decides the floating-point results on a CPU: the model, the vector capability torch
    uses, the pinned variables as in force, and whether they are the project's pins."""
    import torch

    in_force = {k: os.environ.get(k) for k in PINNED_ENV}
    capability = torch.backends.cpu.get_cpu_capability()
    as_project = in_force == PINNED_ENV and capability == PINNED_ENV["ATEN_CPU_CAPABILITY"].upper()
    if not as_project:
        warnings.warn(f"CPU numerics differ from the project's pins ({PINNED_ENV}): in force "
                      f"{in_force}, torch capability {capability}; results may differ from the "
                      "committed ones", stacklevel=2)
    return {
        "cpu_model": cpu_model(),
        "torch_cpu_capability": capability,
        "pinned_env": in_force,
        "pins_as_project": as_project,
    }


def environment_record() -> dict[str, Any]:
    """Installed versions of TRACKED (None when absent), Python, OS, CPU count, CUDA and the
    CPU numerics (:func:`numerics_record`)."""
    versions: dict[str, str | None] = {}
    for name in TRACKED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    import torch

    cuda = torch.version.cuda if torch.cuda.is_available() else None
    threads = torch.get_num_threads()
    return {
        "numerics": numerics_record(),
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

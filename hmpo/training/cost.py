"""Machine cost of a training run: what is counted, and how.

Every trained method reports ``wall_s``, ``cpu_s`` and ``device_s`` in
``results/train/<method>/seed<s>/metrics.json``; the multi-stage baseline sums its stages.
The device-seconds are the accelerator-seconds the paper's cost claim compares:

    device_s = wall_s x (training processes + GPUs of a separate rollout server)

A paper profile runs its rollouts on a separate vLLM node (``trl vllm-serve``, server mode):
those GPUs are busy for the whole run, so they count (``train.rollout_server_gpus``). On a
CPU each training process counts as one device. ``devices_counted`` in metrics.json says
which devices went into the sum.
"""

from __future__ import annotations

import resource
from typing import Any


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its waited-for children."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def device_cost(wall_s: float, *, num_processes: int, device: str,
                rollout_server_gpus: int = 0) -> dict[str, Any]:
    """``{"device_s", "devices_counted"}`` of a run that took ``wall_s`` seconds.

    >>> device_cost(10.0, num_processes=8, device="cuda:H100", rollout_server_gpus=8)["device_s"]
    160.0
    >>> device_cost(10.0, num_processes=1, device="cpu")["devices_counted"]["total"]
    1
    """
    if num_processes < 1 or rollout_server_gpus < 0:
        raise ValueError(f"num_processes must be >= 1 and rollout_server_gpus >= 0, got "
                         f"{num_processes}, {rollout_server_gpus}")
    total = num_processes + rollout_server_gpus
    return {
        "device_s": float(wall_s) * total,
        "devices_counted": {"training_processes": num_processes, "training_device": device,
                            "rollout_server_gpus": rollout_server_gpus, "total": total},
    }

"""The CPU numerics pins (hmpo.PINNED_ENV): the same bits whatever the CPU's vector units.

Each case trains a small transformer layer for 30 AdamW steps in a fresh process (the pins
act when torch first computes) and compares md5s of the weights. With the pins, capping MKL's
and oneDNN's instruction sets to AVX2 (what an AVX2-only CPU offers them) changes no bit; the
unpinned AVX-512 and AVX2 kernels of ATen do differ, which is what the pin is for.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hmpo import PINNED_ENV
from hmpo.pipeline.environment import numerics_record

REPO = Path(__file__).resolve().parent.parent
WORK = r"""
import hashlib
import hmpo  # noqa: F401  (the pins, before torch computes)
import torch
torch.manual_seed(0)
torch.set_num_threads(1)
emb = torch.nn.Embedding(50, 64)
layer = torch.nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True)
head = torch.nn.Linear(64, 50)
params = [*emb.parameters(), *layer.parameters(), *head.parameters()]
opt = torch.optim.AdamW(params, lr=3e-3)
x = torch.randint(0, 50, (16, 24))
for _ in range(30):
    logits = head(layer(emb(x))).reshape(-1, 50)
    loss = torch.nn.functional.cross_entropy(logits, x.roll(1, 1).reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
print(hashlib.md5(b"".join(p.detach().numpy().tobytes() for p in params)).hexdigest(),
      torch.backends.cpu.get_cpu_capability())
"""


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def _run(**env: str) -> tuple[str, str]:
    """(weights md5, torch capability) of WORK in a fresh process; `env` on top of a clean
    environment without the pinned variables (so hmpo's defaults apply unless given)."""
    base = {k: v for k, v in os.environ.items() if k not in PINNED_ENV
            and k not in ("MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")}
    out = subprocess.run([sys.executable, "-c", WORK], cwd=REPO, capture_output=True, text=True,
                         env={**base, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **env},
                         check=True).stdout.split()
    return out[0], out[1]


def test_importing_hmpo_sets_the_pins_and_a_callers_value_wins():
    code = "import os, hmpo; print(os.environ['ATEN_CPU_CAPABILITY'], os.environ['MKL_CBWR'])"
    base = {k: v for k, v in os.environ.items() if k not in PINNED_ENV}
    run = lambda env: subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                                     capture_output=True, text=True, check=True).stdout.split()
    assert run(base) == [PINNED_ENV["ATEN_CPU_CAPABILITY"], PINNED_ENV["MKL_CBWR"]]
    assert run({**base, "ATEN_CPU_CAPABILITY": "default"})[0] == "default"


@pytest.mark.skipif("avx2" not in _cpu_flags(), reason="the pins need a CPU with AVX2")
def test_pinned_results_do_not_depend_on_the_instruction_sets_offered():
    pinned, capability = _run()
    assert capability == "AVX2"
    assert _run(MKL_ENABLE_INSTRUCTIONS="AVX2", ONEDNN_MAX_CPU_ISA="AVX2") == (pinned, "AVX2")


@pytest.mark.skipif("avx512f" not in _cpu_flags(), reason="needs AVX-512 to differ from AVX2")
def test_without_the_pin_avx512_and_avx2_kernels_give_other_bits():
    wide, capability = _run(ATEN_CPU_CAPABILITY="avx512")
    assert capability == "AVX512"
    assert wide != _run()[0]


def test_the_environment_record_names_the_cpu_and_the_code_path():
    rec = numerics_record()
    assert rec["pinned_env"] == {k: os.environ.get(k) for k in PINNED_ENV}
    assert rec["torch_cpu_capability"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "SVE256")
    assert rec["pins_as_project"] == (rec["pinned_env"] == PINNED_ENV
                                      and rec["torch_cpu_capability"] == "AVX2")
    assert rec["cpu_model"]

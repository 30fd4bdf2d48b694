"""hmpo: reproducible artifact of HMPO (Hybrid Median-length Policy Optimization).

Importing hmpo pins the CPU code paths of the numerical libraries (:data:`PINNED_ENV`), so
the same seed gives the same model bits on any x86-64 CPU with AVX2. Without the pins, torch
picks its vector kernels (ATen) and MKL its matrix kernels by what the CPU offers: an AVX-512
machine and an AVX2-only one reduce floating-point sums in other orders, and the base model,
every trained model and the verdicts came out different (docs/CHANGELOG.md). Both libraries
read these variables when they first compute, so they are set here, before any hmpo module
imports torch; every stage, worker process and notebook kernel inherits them. A variable the
caller has already set wins (to measure another code path on purpose); the environment record
(:mod:`hmpo.pipeline.environment`) writes down what was in force.
"""

import os

#: Environment variables that fix the numerical code paths (see the module docstring).
#: ATEN_CPU_CAPABILITY: torch's vectorised CPU kernels (default / avx2 / avx512);
#: MKL_CBWR: MKL's conditional numerical reproducibility (the AVX2 code path on every CPU
#: that has it). Measured cost on the SFT: none (22.4 s vs 22.5 s for 200 steps).
PINNED_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}

for _key, _value in PINNED_ENV.items():
    os.environ.setdefault(_key, _value)

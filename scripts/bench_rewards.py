"""Time hmpo_reward (median budget) on one large synthetic step.

Default: 1,000,000 rollouts in 100,000 groups of 10, group ids shuffled (non-contiguous),
~50% correct, lengths uniform in [1, 24576] tokens. The target is <= 1 s on a 2-core CPU.

Run::

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python scripts/bench_rewards.py
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python scripts/bench_rewards.py --groups 1000 --all
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hmpo.training.rewards import get_reward, hmpo_reward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=100_000, help="number of groups (prompts)")
    ap.add_argument("--group-size", type=int, default=10, help="rollouts per group")
    ap.add_argument("--repeats", type=int, default=7, help="timed repeats")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--all", action="store_true", help="also time every registered reward once")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    n = args.groups * args.group_size
    group_ids = rng.permutation(np.repeat(np.arange(args.groups), args.group_size))
    correct = rng.random(n) < 0.5
    lengths = rng.integers(1, 24577, size=n)

    hmpo_reward(correct, lengths, group_ids)  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        r = hmpo_reward(correct, lengths, group_ids)
        times.append(time.perf_counter() - t0)
    assert np.all(np.isfinite(r))
    print(f"hmpo_reward(budget='median'): {n:,} rollouts in {args.groups:,} groups of "
          f"{args.group_size}, {args.repeats} repeats: median {np.median(times):.3f} s, "
          f"min {min(times):.3f} s")
    if args.all:
        from hmpo.training.rewards import list_rewards

        for name in list_rewards():
            f = get_reward(name)
            t0 = time.perf_counter()
            f(correct, lengths, group_ids)
            print(f"  {name:18s} {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()

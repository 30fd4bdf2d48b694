"""Two CPU processes (torchrun + accelerate on gloo) whose prompt groups straddle the processes.

Geometry: 3 prompts x G = 4 rollouts = 12 completions per step, 6 per process, so the second
prompt's group has 2 rollouts on each process. Each process records its local slice (prompt
ids, completion texts, token ids) and the rewards HMPOTrainer returned. The test then
recomputes the rewards in one process from the concatenated slices, with groups taken from
the prompt ids, and requires equality -- and shows that a per-process reward (what a plain
TRL reward function would compute) differs, so the check can fail.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_train_distributed.py -q -m slow

The same file is the worker script that torchrun runs (``--worker OUT_DIR``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
N_PROMPTS, G, PER_DEVICE, STEPS = 3, 4, 6, 3
REWARDS = ("hmpo", "kimi")


def _worker(out: Path) -> None:
    import torch
    from test_train import even_length_correct, smoke_cfg
    from transformers import AutoTokenizer

    from hmpo.training.grpo import load_train_dataset
    from hmpo.training.grpo_config import build_grpo_config
    from hmpo.training.rewards import get_reward
    from hmpo.training.trainer import HMPOTrainer, completion_text

    torch.set_num_threads(1)
    cfg = smoke_cfg(max_steps=STEPS, prompts_per_step=N_PROMPTS, num_generations=G,
                    per_device_train_batch_size=PER_DEVICE, save_steps=100)
    tok = AutoTokenizer.from_pretrained(out / "base", padding_side="left")
    ds, _ = load_train_dataset(out / "train.jsonl", tok, prompt_style="synthetic",
                               max_prompt_length=256)
    records: list[dict] = []

    class Recording(HMPOTrainer):
        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            records.append({
                "ids": [x["id"] for x in inputs],
                "texts": [completion_text(c) for c in completions],
                "token_ids": [list(map(int, ids)) for ids in completion_ids_list],
                "rewards": rewards[:, 0].tolist(),
            })
            return rewards

    for name in REWARDS:
        records.clear()
        args = build_grpo_config(cfg, out / f"ckpt-{name}", seed=0, num_processes=2,
                                 cuda=False)
        args.save_strategy = "no"
        trainer = Recording(str(out / "base"), get_reward(name), correct_fn=even_length_correct,
                            args=args, train_dataset=ds, processing_class=tok)
        trainer.train()
        rank = trainer.accelerator.process_index
        (out / f"{name}-rank{rank}.json").write_text(json.dumps({
            "records": list(records), "eos": list(trainer.eos_token_ids),
            "world": trainer.accelerator.num_processes}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_group_rewards_match_single_process_when_groups_straddle_processes(tmp_path):
    from test_train import even_length_correct, make_tiny_run

    from hmpo.training.rewards import get_reward
    from hmpo.training.trainer import completion_lengths

    # 3 content tokens + pad/eos/unk: a random model stops early often, so lengths (and the
    # groups' length statistics) differ between the two halves of a split group
    make_tiny_run(tmp_path, vocab=["a", "b", "c"])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}"}
    # torchrun sets RANK / WORLD_SIZE / MASTER_*; accelerate then runs MULTI_CPU on gloo
    # (`accelerate launch --cpu` only spawns several CPU processes through mpirun).
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           __file__, "--worker", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]

    for name in REWARDS:
        reward = get_reward(name)
        ranks = [json.loads((tmp_path / f"{name}-rank{r}.json").read_text()) for r in (0, 1)]
        assert all(r["world"] == 2 for r in ranks)
        assert len(ranks[0]["records"]) == len(ranks[1]["records"]) == STEPS
        trap_seen = False
        for step in range(STEPS):
            local = [r["records"][step] for r in ranks]
            # a group really is split: some prompt has rollouts on both processes
            assert set(local[0]["ids"]) & set(local[1]["ids"])
            # every process returned the same gathered rewards (TRL slices them afterwards)
            assert local[0]["rewards"] == local[1]["rewards"]
            got = np.array(local[0]["rewards"])

            ids = local[0]["ids"] + local[1]["ids"]
            texts = local[0]["texts"] + local[1]["texts"]
            token_ids = local[0]["token_ids"] + local[1]["token_ids"]
            # training's verdict: correct only if finished (EOS) and not empty (an empty
            # completion states nothing); these texts state no answer, so the rest are -1
            finished = [bool(t) and t[-1] in ranks[0]["eos"] for t in token_ids]
            correct = np.array([1 if f and t and even_length_correct(t, "") else -1
                                for t, f in zip(texts, finished, strict=True)])
            lengths = completion_lengths(token_ids, ranks[0]["eos"], count_eos=True)
            expected = reward(correct, lengths, ids)  # one process, groups = prompt ids
            np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=f"{name} step {step}")

            # the trap: each process scoring only its own slice gets a split group wrong
            half = len(ids) // 2
            per_process = np.concatenate([
                reward(correct[:half], lengths[:half], ids[:half]),
                reward(correct[half:], lengths[half:], ids[half:]),
            ])
            trap_seen |= not np.allclose(per_process, expected)
        assert trap_seen, f"{name}: per-process rewards never differed; the check has no teeth"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: torchrun --nproc_per_node 2 "
                         "tests/test_train_distributed.py --worker DIR")

"""A training run killed mid-way and restarted ends where an uninterrupted run ends.

Run A trains 4 rollout steps in one go. Run B saves a checkpoint at step 2, logs step 3 and
is then killed (an exception from a callback, as a crash would); train_method is called again
on the same out_dir and resumes from checkpoint-2. Same seed on CPU: the final weights and the
logged per-step metrics must match run A, and the logged history must hold each step once.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_resume.py -q
"""

from __future__ import annotations

import json

import pytest
import torch
from test_train import even_length_correct, make_tiny_run, smoke_cfg
from transformers import AutoModelForCausalLM, TrainerCallback

from hmpo.training.methods import train_method


class Killed(RuntimeError):
    pass


class KillAfterLogging(TrainerCallback):
    """Raise once the metrics of optimizer step `step` have been logged (a crash)."""

    def __init__(self, step: int):
        self.step = step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.global_step == self.step:
            raise Killed(f"killed at step {self.step}")


def _history(res, name):
    path = res / "live" / "plots" / "metrics" / f"{name}.tsv"
    rows = [r.split("\t") for r in path.read_text().splitlines()[1:]]
    return [(int(r[0]), float(r[1])) for r in rows]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(tmp_path):
    model_dir, train = make_tiny_run(tmp_path / "data", n_stop_ids=32)
    cfg = smoke_cfg(max_steps=4, save_steps=2, learning_rate=1e-3)
    kw = dict(model_dir=model_dir, train_path=train, correct_fn=even_length_correct)

    a = train_method(cfg, "hmpo", out_dir=tmp_path / "a", results_dir=tmp_path / "ra", **kw)

    with pytest.raises(Killed):
        train_method(cfg, "hmpo", out_dir=tmp_path / "b", results_dir=tmp_path / "rb",
                     callbacks=[KillAfterLogging(3)], **kw)
    assert sorted(p.name for p in (tmp_path / "b").glob("checkpoint-*")) == ["checkpoint-2"]
    assert [s for s, _ in _history(tmp_path / "rb", "reward")] == [1, 2, 3]  # step 3 logged, lost
    prior = json.loads((tmp_path / "b" / "checkpoint-2" / "hmpo_cost.json").read_text())
    assert prior["wall_s"] > 0 and prior["cpu_s"] > 0
    b = train_method(cfg, "hmpo", out_dir=tmp_path / "b", results_dir=tmp_path / "rb", **kw)

    assert b["resumed_from_step"] == 2 and b["completed"] and b["rollout_steps"] == 4
    assert a["resumed_from_step"] is None
    # the checkpoint carried the cost of steps 1-2: the resumed run's total includes it
    assert b["wall_s"] > prior["wall_s"] and b["cpu_s"] > prior["cpu_s"]
    for name in ("reward", "loss", "hmpo/length_mean", "hmpo/budget_tokens_mean", "kl"):
        ha, hb = _history(tmp_path / "ra", name), _history(tmp_path / "rb", name)
        assert [s for s, _ in hb] == [1, 2, 3, 4], name  # the lost step 3 is not duplicated
        assert [s for s, _ in ha] == [1, 2, 3, 4], name
        assert [v for _, v in hb] == pytest.approx([v for _, v in ha], rel=1e-5, abs=1e-7), name
    for k in ("reward", "hmpo/length_mean", "hmpo/accuracy"):
        assert b["final"][k] == pytest.approx(a["final"][k], rel=1e-5), k
    wa = AutoModelForCausalLM.from_pretrained(tmp_path / "a").state_dict()
    wb = AutoModelForCausalLM.from_pretrained(tmp_path / "b").state_dict()
    base = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
    assert any(not torch.equal(wa[k], base[k]) for k in wa)  # it did train
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-5, atol=1e-6, msg=k)

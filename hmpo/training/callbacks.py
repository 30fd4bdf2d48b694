"""The trainer's callbacks: step timing, dvclive logging, the stage's progress bar, cost.

Each is a ``transformers.TrainerCallback`` that :func:`hmpo.training.grpo.run_grpo` adds to
the :class:`hmpo.training.trainer.HMPOTrainer` (which adds :class:`StepTimer` itself):

- :class:`StepTimer`: each rollout step's wall time split into generation / reward /
  reference log-probs / update, logged as ``time/*``;
- :class:`LiveLogger`: every logged metric into dvclive (``results/train/<m>/seed<s>/live``),
  one row per rollout step, truncated back to the checkpoint a run resumes from;
- :class:`StepProgress`: each finished rollout step to :func:`hmpo.training.progress.advance`;
- :class:`CostMeter`: the run's machine-seconds, written into every checkpoint
  (:data:`COST_FILE`) so a resumed run adds up.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from hmpo.training.cost import cpu_seconds
from hmpo.training.progress import advance

if TYPE_CHECKING:
    from hmpo.training.trainer import HMPOTrainer

COST_FILE = "hmpo_cost.json"  # written into every checkpoint: the machine-seconds spent so far


class StepTimer(TrainerCallback):
    """Splits each rollout step's wall time into generation / reward / reference / update.

    The trainer adds the seconds of its timed hooks to ``trainer._time_acc``; at the end of
    each rollout step this logs them (and the rest, the update) into the trainer's metrics.
    """

    def __init__(self, trainer: HMPOTrainer):
        self.trainer = trainer
        self.t0: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.t0 is None:
            self.t0 = time.perf_counter()
            self.trainer._time_acc.clear()

    def on_step_end(self, args, state, control, **kwargs):
        if self.t0 is None or state.global_step % self.trainer.updates_per_step:
            return
        total = time.perf_counter() - self.t0
        acc = self.trainer._time_acc
        m = self.trainer._metrics["train"]
        m["time/step_s"].append(total)
        m["time/generation_s"].append(acc["generation"])
        m["time/reward_s"].append(acc["reward"])
        ref = acc["scoring"] - acc["generation"] - acc["reward"]  # ref / old log-prob passes
        m["time/reference_logps_s"].append(max(0.0, ref))
        m["time/update_s"].append(max(0.0, total - acc["scoring"]))
        self.t0 = None


# --------------------------------------------------------------------------- logging / cost
def metric_name(key: str) -> str:
    """A logged key as a dvclive / metrics.json name (no spaces or brackets)."""
    return re.sub(r"[^A-Za-z0-9_./-]+", "_", key).strip("_")


def _truncate_live_history(live_dir: Path, max_step: int) -> None:
    """Drop dvclive rows logged after the checkpoint a run resumes from (they will be redone)."""
    for tsv in (live_dir / "plots" / "metrics").rglob("*.tsv"):
        lines = tsv.read_text().splitlines()
        if not lines:
            continue
        head, rows = lines[0].split("\t"), lines[1:]
        if "step" not in head:
            continue
        i = head.index("step")
        keep = [r for r in rows if int(float(r.split("\t")[i])) <= max_step]
        tsv.write_text("\n".join([lines[0], *keep]) + "\n")


class LiveLogger(TrainerCallback):
    """Writes every logged TRL/HMPO metric to dvclive in ``<results_dir>/live`` (main process).

    The dvclive step is the rollout step (TRL's optimizer step / updates per rollout step).
    On resume the history after the checkpoint is dropped and logging continues from there.
    """

    def __init__(self, live_dir: str | Path, *, updates_per_step: int, resume_step: int | None):
        self.live_dir = Path(live_dir)
        self.updates_per_step = updates_per_step
        self.resume_step = resume_step
        self.live = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from dvclive import Live

        resume = self.resume_step is not None and (self.live_dir / "plots").exists()
        if resume:
            _truncate_live_history(self.live_dir, self.resume_step // self.updates_per_step)
        self.live = Live(dir=str(self.live_dir), resume=resume, save_dvc_exp=False, dvcyaml=False)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.live is None or not logs:
            return
        self.live.step = state.global_step // self.updates_per_step
        for k, v in logs.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v is not None:
                self.live.log_metric(metric_name(k), float(v))
        self.live.make_summary()

    def on_train_end(self, args, state, control, **kwargs):
        if self.live is not None:
            self.live.make_summary()
            self.live = None


class StepProgress(TrainerCallback):
    """Reports each finished rollout step to :func:`hmpo.training.progress.advance` (the
    stage's bar).

    A resumed run reports the steps its checkpoint already holds when training begins.
    """

    def __init__(self, updates_per_step: int):
        self.updates_per_step = updates_per_step

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            advance(state.global_step // self.updates_per_step)

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero and state.global_step % self.updates_per_step == 0:
            advance(1)


class CostMeter(TrainerCallback):
    """Machine-seconds of a run, carried through checkpoints so a resumed run adds up.

    Each checkpoint gets ``hmpo_cost.json`` with the wall and CPU seconds spent up to it; a
    run resumed from it starts from those totals. Work done after the last checkpoint of a
    killed run is lost and not counted (it is redone, and counted, by the resumed run).
    """

    def __init__(self, prior: dict[str, float] | None = None):
        self.prior = dict(prior or {"wall_s": 0.0, "cpu_s": 0.0})
        self.wall0 = time.time()
        self.cpu0 = cpu_seconds()

    def totals(self) -> dict[str, float]:
        return {"wall_s": self.prior["wall_s"] + time.time() - self.wall0,
                "cpu_s": self.prior["cpu_s"] + cpu_seconds() - self.cpu0}

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            ckpt = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            if ckpt.is_dir():
                (ckpt / COST_FILE).write_text(json.dumps(self.totals()) + "\n")

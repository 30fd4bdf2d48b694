"""Stage base_model (hmpo.training.base_model): the SFT model after its RL on correctness,
measured, with its fixed budgets."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from hmpo.config import load_config
from hmpo.models.sft import train_base_model
from hmpo.task import synthetic as S
from hmpo.training.base_model import (
    ACCURACY_KEY,
    FLAT_TOLERANCE_PT,
    UntilFlat,
    flatness,
    make_base_model,
    rl_config,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke_cfg():
    return load_config(REPO / "params.yaml", profile="smoke")


@pytest.fixture(scope="module")
def sft(smoke_cfg, tmp_path_factory):
    """A smoke SFT model and a data folder with every synthetic set."""
    d = tmp_path_factory.mktemp("sft")
    data = d / "data"
    data.mkdir()
    for name, recs in S.make_sets(smoke_cfg.data.synthetic, smoke_cfg.seed).items():
        key = "train" if name == "synthetic_train" else name
        (data / f"{key}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        if key == "train":
            (data / f"{name}.jsonl").write_text((data / "train.jsonl").read_text())
    train_base_model(smoke_cfg, d / "model", d / "results", data_dir=data, progress=False)
    return d / "model", data


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# ----------------------------------------------------------------------------- flatness
def test_flatness_known_answers():
    flat = flatness([0.5] * 4 + [0.9] * 12)
    assert flat["flat"] is True and flat["change_pt"] == pytest.approx(0.0)
    rising = flatness(np.linspace(0.5, 0.9, 40))
    # quarters of 10: the last (0.8-0.9) is ~10 pt above the third
    assert rising["flat"] is False and rising["change_pt"] == pytest.approx(10.26, abs=0.1)
    edge = flatness([0.0] * 8 + [0.5] * 4 + [0.5 + FLAT_TOLERANCE_PT / 100] * 4)
    assert edge["flat"] is True and edge["change_pt"] == pytest.approx(FLAT_TOLERANCE_PT)
    falling = flatness([0.9] * 12 + [0.8] * 4)
    assert falling["flat"] is False and falling["change_pt"] == pytest.approx(-10.0)
    assert flatness([0.5] * 7)["flat"] is None  # too short to say
    assert flatness([])["n_steps_logged"] == 0


def _run_until_flat(curve, cb, *, ups=1, max_steps=None):
    """Feed ``cb`` the trainer's calls for a run whose per-rollout-step accuracy is ``curve``;
    returns the rollout step the run ends at."""
    from types import SimpleNamespace

    state = SimpleNamespace(global_step=0, log_history=[])
    control = SimpleNamespace(should_training_stop=False)
    for i, acc in enumerate(curve[:max_steps], start=1):
        for _ in range(ups):  # optimizer updates of the rollout step; it logs after the last
            state.global_step += 1
        logs = {ACCURACY_KEY: acc, "loss": 0.0}
        state.log_history.append({**logs, "step": state.global_step})
        cb.on_log(None, state, control, logs=logs)
        if control.should_training_stop:
            return i
    return len(curve[:max_steps])


def test_until_flat_stops_at_the_first_check_that_says_flat():
    flat = [0.5] * 40
    cb = UntilFlat(16, 8)
    assert _run_until_flat(flat, cb) == 16 and cb.converged  # flat at rl_steps: no extension
    # rising for 30 steps, then flat: quarters of the curve so far decide; not flat at 16 or
    # 24 (the last quarter still rising), flat by 40
    rise = list(np.linspace(0.3, 0.7, 30)) + [0.7] * 50
    ends = _run_until_flat(rise, UntilFlat(16, 8))
    assert ends in (40, 48, 56) and ends % 8 == 0
    assert not flatness(rise[:ends - 8])["flat"] and flatness(rise[:ends])["flat"]
    # never flat: the cap (the trainer's max_steps) ends it, not converged
    cb = UntilFlat(16, 8)
    assert _run_until_flat(list(np.linspace(0.1, 0.9, 64)), cb) == 64 and not cb.converged
    # checks fall on rl_steps + j x every only; rollout steps, not optimizer updates, count
    cb = UntilFlat(10, 7, updates_per_step=2)
    assert _run_until_flat(flat, cb, ups=2) == 10
    assert _run_until_flat(list(np.linspace(0.1, 0.5, 12)) + [0.5] * 60,
                           UntilFlat(10, 7, updates_per_step=2), ups=2) in (24, 31, 38, 45)
    with pytest.raises(ValueError, match="must be >= 1"):
        UntilFlat(0, 5)


def test_rl_config_sets_only_the_horizon(smoke_cfg):
    cfg = dataclasses.replace(smoke_cfg, base_model=dataclasses.replace(
        smoke_cfg.base_model, rl_steps=7))
    rl = rl_config(cfg)
    assert rl.train.max_steps == 7 and cfg.train.max_steps == smoke_cfg.train.max_steps
    assert dataclasses.replace(rl.train, max_steps=cfg.train.max_steps) == cfg.train
    capped = dataclasses.replace(cfg, base_model=dataclasses.replace(cfg.base_model,
                                                                     rl_max_steps=20))
    assert rl_config(capped).train.max_steps == 20  # the cap of the run until flat


# ----------------------------------------------------------------------------- the stage
@pytest.mark.filterwarnings("ignore:measure_budgets")  # smoke: none correct
def test_rl_steps_zero_is_the_sft_model_with_its_budgets(sft, smoke_cfg, tmp_path):
    """No RL: the base model's files are the SFT model's, and the budgets are measured on it."""
    from hmpo.models.fixed_budgets import measure_budgets

    model, data = sft
    cfg = dataclasses.replace(smoke_cfg, base_model=dataclasses.replace(
        smoke_cfg.base_model, rl_steps=0))
    base = make_base_model(cfg, 0, model, tmp_path / "base", tmp_path / "results", data_dir=data,
                           progress=False)
    assert _files(tmp_path / "base") == _files(model)
    assert base.metrics["rl_steps"] == 0 and "rl" not in base.metrics
    assert "eval" in base.metrics and "styles" in base.metrics["eval"]  # the style table
    direct = measure_budgets(cfg, model, data / "train.jsonl", progress=False)
    assert base.budgets == direct
    assert json.loads((tmp_path / "results" / "budgets.json").read_text()) == direct
    assert {p.name for p in (tmp_path / "results").iterdir()} == {
        "config.resolved.json", "metrics.json", "budgets.json"}


@pytest.mark.filterwarnings("ignore:measure_budgets")
def test_rl_steps_train_the_sft_model_with_grpo_on_correctness(sft, smoke_cfg, tmp_path):
    """rl_steps > 0: a GRPO run (reward grpo, rl_steps rollout steps, seed cfg.seed) from the SFT
    model; its log gives the flatness record; the same config gives the same weights."""
    model, data = sft
    base = make_base_model(smoke_cfg, 0, model, tmp_path / "base", tmp_path / "results",
                           data_dir=data, progress=False)
    rl = json.loads((tmp_path / "results" / "rl" / "metrics.json").read_text())
    assert rl["reward"] == "grpo" and rl["rollout_steps"] == smoke_cfg.base_model.rl_steps
    assert base.metrics["rl"]["rollout_steps"] == smoke_cfg.base_model.rl_steps
    assert base.metrics["rl"]["flatness"]["n_steps_logged"] == smoke_cfg.base_model.rl_steps
    assert rl["completed"] and rl["method"] == "base"
    # (at smoke scale no rollout is correct, so the weights need not move: not asserted)
    weights = "model.safetensors"
    again = make_base_model(smoke_cfg, 0, model, tmp_path / "again", tmp_path / "results2",
                            data_dir=data, progress=False)
    assert (tmp_path / "again" / weights).read_bytes() == (tmp_path / "base" / weights).read_bytes()
    assert again.budgets == base.budgets


@pytest.mark.filterwarnings("ignore:measure_budgets")
def test_a_base_flat_at_rl_steps_is_the_run_without_extension(sft, smoke_cfg, tmp_path):
    """rl_max_steps > rl_steps: a run whose curve is flat at rl_steps stops there and is the
    plain rl_steps run's weights bit for bit (the cap does not change the steps before it),
    completed, without checkpoints (its fingerprint records the cap). At smoke scale no
    rollout is correct: the curve is flat."""
    model, data = sft

    def cfg(**kw):
        return dataclasses.replace(smoke_cfg, base_model=dataclasses.replace(
            smoke_cfg.base_model, rl_steps=8, **kw))

    plain = make_base_model(cfg(), 0, model, tmp_path / "plain", tmp_path / "r1",
                            data_dir=data, progress=False)
    capped = make_base_model(cfg(rl_max_steps=16, rl_check_steps=4), 0, model,
                             tmp_path / "capped", tmp_path / "r2", data_dir=data, progress=False)
    rl = capped.metrics["rl"]
    assert rl["rollout_steps"] == 8 and rl["completed"] and rl["flatness"]["flat"]
    assert capped.metrics["rl_max_steps"] == 16 and "rl_max_steps" not in plain.metrics
    w = "model.safetensors"
    assert (tmp_path / "capped" / w).read_bytes() == (tmp_path / "plain" / w).read_bytes()
    assert set(_files(tmp_path / "capped")) == set(_files(tmp_path / "plain"))  # no checkpoints

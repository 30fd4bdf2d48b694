"""Stages sft_model and base_model (hmpo.pipeline.base_runs): one SFT and one RL-trained base
model per base seed, each trained with seed ``seed + b``, gathered for the notebooks and git."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from hmpo import paths
from hmpo.analysis.report import run_groups
from hmpo.config import ConfigError, base_config, base_of, base_seed_of, base_seeds, load_config
from hmpo.models.sft import train_base_model
from hmpo.pipeline.base_runs import base_models, sft_models
from hmpo.task import synthetic as S

REPO = Path(__file__).resolve().parent.parent


def _cfg(per_seed: bool, seeds=(0, 1)):
    cfg = load_config(REPO / "params.yaml", profile="smoke")
    cfg.train.seeds, cfg.base_model.per_seed, cfg.workers = list(seeds), per_seed, 1
    return cfg


def _data(cfg, root: Path) -> None:
    d = paths.data_dir(root)
    d.mkdir(parents=True)
    for name, recs in S.make_sets(cfg.data.synthetic, cfg.seed).items():
        text = "".join(json.dumps(r) + "\n" for r in recs)
        (d / f"{name}.jsonl").write_text(text)
        if name == "synthetic_train":
            (d / "train.jsonl").write_text(text)


def test_base_seeds_follow_the_training_seeds_or_are_one():
    cfg = _cfg(True, seeds=(0, 3, 5))
    assert base_seeds(cfg) == [0, 3, 5] and [base_seed_of(cfg, s) for s in (0, 3, 5)] == [0, 3, 5]
    cfg.base_model.per_seed = False
    assert base_seeds(cfg) == [0] and [base_seed_of(cfg, s) for s in (0, 3, 5)] == [0, 0, 0]
    cfg.seed = 7
    assert base_config(cfg, 3).seed == 10 and cfg.seed == 7  # a copy, seed + b
    assert base_config(cfg, 0).to_dict() == cfg.to_dict()  # base seed 0 is `seed`'s model


def test_base_of_is_the_one_pairing_rule_of_training_and_report():
    # the pure rule behind base_seed_of and the report's run_groups
    assert [base_of(s, [0, 3, 5]) for s in (0, 3, 5)] == [0, 3, 5]
    assert [base_of(s, [4]) for s in (0, 3, 5)] == [4, 4, 4]
    cfg = _cfg(True, seeds=(0, 3, 5))
    assert run_groups("hmpo", cfg.train.seeds, base_seeds(cfg)) == [
        base_seed_of(cfg, s) for s in cfg.train.seeds]
    cfg.base_model.per_seed = False
    assert run_groups("hmpo", cfg.train.seeds, base_seeds(cfg)) == [
        base_seed_of(cfg, s) for s in cfg.train.seeds] == [0, 0, 0]


def test_per_seed_needs_a_base_that_varies_with_its_seed():
    from hmpo.config import config_from_dict

    with pytest.raises(ConfigError, match="base_model.per_seed"):
        config_from_dict({"base_model": {"kind": "pretrained", "name_or_path": "x",
                                         "prompt_style": "plain", "rl_steps": 0,
                                         "per_seed": True}})
    ok = config_from_dict({"base_model": {"kind": "pretrained", "name_or_path": "x",
                                          "prompt_style": "plain", "rl_steps": 5,
                                          "per_seed": True}})
    assert ok.base_model.per_seed
    for profile in ("qwen3.5-9b-lora", "qwen3.5-35b-a3b", "qwen3.5-122b-a10b-zero3", "smollm2"):
        assert base_seeds(load_config(REPO / "params.yaml", profile=profile)) == [0], profile


@pytest.mark.filterwarnings("ignore:measure_budgets")  # smoke: no response is correct
def test_one_sft_and_base_model_per_base_seed(tmp_path):
    cfg = _cfg(True)
    _data(cfg, tmp_path)
    sfts = sft_models(cfg, root=tmp_path, progress=False)
    assert list(sfts) == ["seed0", "seed1"]
    weights = "model.safetensors"
    s0, s1 = (paths.sft_model_dir(b, tmp_path) / weights for b in (0, 1))
    assert s0.read_bytes() != s1.read_bytes()  # two draws
    # base seed 0 is the model `seed` alone trains, bit for bit
    train_base_model(cfg, tmp_path / "direct", tmp_path / "direct_results",
                     data_dir=paths.data_dir(tmp_path), progress=False)
    assert (tmp_path / "direct" / weights).read_bytes() == s0.read_bytes()
    run1 = json.loads((paths.base_run_dir("sft", 1, tmp_path) / "config.resolved.json")
                      .read_text())
    assert run1["seed"] == cfg.seed + 1
    gathered = json.loads((paths.results_dir("sft_model", tmp_path) / "metrics.json").read_text())
    assert gathered == json.loads(json.dumps({k: m.metrics for k, m in sfts.items()}))
    with open(paths.results_dir("sft_model", tmp_path) / "sft_loss.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    steps = cfg.base_model.sft_steps + cfg.base_model.sft_mix_steps
    assert [r["seed"] for r in rows] == ["seed0"] * steps + ["seed1"] * steps

    bases = base_models(cfg, root=tmp_path, progress=False)
    assert list(bases) == ["seed0", "seed1"]
    budgets = json.loads(paths.budgets_file(tmp_path).read_text())
    assert budgets == json.loads(json.dumps({k: b.budgets for k, b in bases.items()}))
    metrics = json.loads((paths.results_dir("base_model", tmp_path) / "metrics.json").read_text())
    assert set(metrics) == {"seed0", "seed1"}
    for b in (0, 1):
        run = paths.base_run_dir("base", b, tmp_path)
        assert (run / "rl" / "metrics.json").is_file() and (run / "base.log").is_file()
        assert json.loads((run / "budgets.json").read_text()) == budgets[f"seed{b}"]
        rl = json.loads((run / "rl" / "config.resolved.json").read_text())
        assert rl["seed"] == cfg.seed + b  # the base RL's seed: seed + b
        assert (paths.base_model_dir(b, tmp_path) / weights).is_file()


@pytest.mark.filterwarnings("ignore:measure_budgets")
def test_one_shared_base_model_without_per_seed(tmp_path):
    cfg = _cfg(False, seeds=(0, 1, 2))
    _data(cfg, tmp_path)
    assert list(sft_models(cfg, root=tmp_path, progress=False)) == ["seed0"]
    assert list(base_models(cfg, root=tmp_path, progress=False)) == ["seed0"]
    assert not paths.sft_model_dir(1, tmp_path).exists()
    assert set(json.loads(paths.budgets_file(tmp_path).read_text())) == {"seed0"}


@pytest.mark.filterwarnings("ignore:measure_budgets")
def test_side_by_side_sfts_run_one_forward_thread_each_with_the_same_bits(tmp_path):
    from hmpo.pipeline.base_runs import sft_config

    cfg = _cfg(True)
    assert sft_config(cfg) is cfg  # workers 1: as configured
    cfg.workers = 2
    assert sft_config(cfg).base_model.sft_forward_threads == 1
    assert cfg.base_model.sft_forward_threads == 2  # a copy
    _data(cfg, tmp_path / "a")
    _data(cfg, tmp_path / "b")
    sft_models(cfg, root=tmp_path / "a", progress=False)  # two worker processes
    cfg.workers = 1
    sft_models(cfg, root=tmp_path / "b", progress=False)  # in process, 2 forward threads
    for b in (0, 1):
        one, two = (paths.sft_model_dir(b, tmp_path / r) / "model.safetensors" for r in "ab")
        assert one.read_bytes() == two.read_bytes()

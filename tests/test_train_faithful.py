"""Issue #13: what a GPU run at paper scale needs to be the paper's method, tested on CPU.

Truncated rollouts, the explicit GRPOConfig, the LoRA rate, one EOS list, vLLM settings,
thread count, cost accounting, fingerprints of persisted outputs, the multi-stage baseline
(its prompt budget and its SFT through TRL for pretrained models).

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_train_faithful.py -q
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from hmpo.config import load_config
from hmpo.task.prompts import answer_text, rollout_verdict
from tests.test_train import even_length_correct, make_tiny_run, smoke_cfg

REPO = Path(__file__).resolve().parent.parent
PAPER = ("qwen3.5-9b-lora", "qwen3.5-35b-a3b", "qwen3.5-122b-a10b-zero3")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_run(tmp_path_factory.mktemp("tiny13"))


def _gold_in(text, gold):
    return f"A: {gold}" in text


# ----------------------------------------------------------------------- 1. truncated rollouts
@pytest.mark.parametrize("text, finished, prompt, expected", [
    ("o1+2 s1=3\nA: 3", True, "", 1),                       # finished and right
    ("o1+2 s1=3\nA: 3 wait, let me re-check o1", False, "", -1),  # right-looking, cut: no answer
    ("A: 4", True, "", 0),                                   # wrong answer
    ("just thinking", True, "", -1),                         # no answer stated
    ("<think>A: 3</think> A: 3", True, "", 1),               # answer after the reasoning
    ("<think>A: 3</think> A: 4", True, "", 0),               # the reasoning's 3 does not count
    ("A: 3 and more reasoning", True, "user <think>", -1),   # reasoning opened, never closed
])
def test_verdict_of_truncated_and_reasoning_rollouts(text, finished, prompt, expected):
    assert rollout_verdict(_gold_in, text, "3", finished=finished, prompt=prompt) == expected


def test_answer_text_keeps_plain_completions():
    assert answer_text("A: 3") == "A: 3"
    assert answer_text("x</think>y</think>A: 1") == "A: 1"


def test_truncated_correct_looking_rollout_gets_reward_zero(tiny, tmp_path):
    from transformers import AutoTokenizer

    from hmpo.training.grpo import load_train_dataset
    from hmpo.training.grpo_config import build_grpo_config
    from hmpo.training.rewards import get_reward
    from hmpo.training.trainer import HMPOTrainer

    model_dir, train = tiny
    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    ds, _ = load_train_dataset(train, tok, prompt_style="synthetic", max_prompt_length=256)
    args = build_grpo_config(smoke_cfg(), tmp_path, seed=0, num_processes=1, cuda=False)
    t = HMPOTrainer(str(model_dir), get_reward("grpo"), correct_fn=_gold_in, args=args,
                    train_dataset=ds, processing_class=tok)
    t.model.train()
    eos = t.eos_token_ids[0]
    G = t.num_generations
    texts = ["A: 3"] * G
    ids = [[7, 8, eos]] * (G - 1) + [[7, 8, 9]]  # the last one hit the cap without EOS
    out = t._calculate_rewards([{"id": "a", "answer": "3"}] * G, ["p"] * G, texts, ids)
    assert out[:, 0].tolist() == [1.0] * (G - 1) + [0.0]


def _one_problem_eval(tmp_path: Path):
    """(smoke cfg, the record) with an untrained tiny model in tmp_path/base and a one-problem
    synthetic_eval.jsonl in tmp_path: evaluate_model's inputs, its sampler to be faked."""
    from hmpo.models.model import build_tiny_model, build_tokenizer, save_model
    from hmpo.task.synthetic import make_sets

    cfg = load_config(REPO / "params.yaml", profile="smoke")
    tok = build_tokenizer()
    save_model(build_tiny_model(cfg.base_model, tok, seed=0), tok, tmp_path / "base")
    rec = make_sets(cfg.data.synthetic, cfg.seed)["synthetic_eval"][0]
    (tmp_path / "synthetic_eval.jsonl").write_text(json.dumps(rec) + "\n")
    return cfg, rec


def test_evaluation_counts_a_truncated_correct_looking_sample_wrong(tmp_path, monkeypatch):
    from hmpo.evaluation.evaluate import evaluate_model
    from hmpo.models import generate
    from hmpo.models.generate import Completion

    cfg, rec = _one_problem_eval(tmp_path)
    cfg.evaluate.n_samples = 2
    gold = f"A: {rec['answer']}"

    def fake_sample(model, tokenizer, prompts, *, n, **kw):
        return [[Completion(gold, 3, True), Completion(gold + "\n o1+", 48, False)]]

    monkeypatch.setattr(generate, "sample", fake_sample)
    m = evaluate_model(cfg, tmp_path / "base", "synthetic_eval", out_dir=tmp_path / "out",
                       data_dir=tmp_path, progress=False)
    rows = [json.loads(x) for x in (tmp_path / "out/samples/synthetic_eval.jsonl").read_text()
            .splitlines()]
    assert [r["correct"] for r in rows] == [True, False]
    assert set(rows[0]) == {"id", "sample", "difficulty", "completion", "n_tokens", "finished",
                            "correct"}
    assert m["accuracy"] == 0.5 and m["finished_rate"] == 0.5


# ----------------------------------------------------------------------- 2-3. GRPOConfig, LoRA lr
@pytest.mark.parametrize("profile", PAPER)
def test_paper_grpo_config_sets_the_released_behaviour_explicitly(profile, tmp_path):
    from trl import GRPOConfig

    from hmpo.training.grpo_config import RELEASED_GRPO_FIELDS, grpo_config_kwargs

    cfg = load_config(REPO / "params.yaml", profile=profile)
    kw = grpo_config_kwargs(cfg, tmp_path, seed=0, num_processes=8, cuda=True)
    # TRL 1.16's defaults are True for both; the released verl run has neither
    assert GRPOConfig.__dataclass_fields__["vllm_importance_sampling_correction"].default is True
    assert GRPOConfig.__dataclass_fields__["use_bias_correction_kl"].default is True
    assert kw["vllm_importance_sampling_correction"] is False
    assert kw["use_bias_correction_kl"] is False
    assert kw["shuffle_dataset"] is False  # released: data.shuffle=False
    for k, v in RELEASED_GRPO_FIELDS.items():
        assert k in GRPOConfig.__dataclass_fields__, k  # a real TRL field
        assert kw[k] == v, k


def test_lora_profile_uses_a_lora_learning_rate():
    lora = load_config(REPO / "params.yaml", profile="qwen3.5-9b-lora").train
    full = load_config(REPO / "params.yaml", profile="qwen3.5-35b-a3b").train
    assert lora.use_lora and not full.use_lora
    assert full.learning_rate == 5e-7  # the paper's (full-parameter) rate
    assert lora.learning_rate == pytest.approx(10 * full.learning_rate)  # LoRA: 10x


# ----------------------------------------------------------------------- 4. EOS, vLLM, threads
def test_evaluation_stops_on_the_eos_ids_training_stops_on(tiny, tmp_path):
    from transformers import AutoTokenizer

    from hmpo.models.generate import eos_token_ids, sample
    from hmpo.models.model import load_model
    from hmpo.training.grpo import load_train_dataset
    from hmpo.training.grpo_config import build_grpo_config
    from hmpo.training.rewards import get_reward
    from hmpo.training.trainer import HMPOTrainer

    model_dir, train = tiny
    model, tok = load_model(model_dir)
    # a Qwen-style generation config: a second end-of-turn id besides the tokenizer's EOS
    extra = tok.convert_tokens_to_ids(tok.tokenize("A:")[0])
    model.generation_config.eos_token_id = [tok.eos_token_id, extra]
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    model, tok = load_model(tmp_path / "m")
    tok2 = AutoTokenizer.from_pretrained(tmp_path / "m", padding_side="left")
    ds, _ = load_train_dataset(train, tok2, prompt_style="synthetic", max_prompt_length=256)
    t = HMPOTrainer(str(tmp_path / "m"), get_reward("grpo"), correct_fn=_gold_in,
                    args=build_grpo_config(smoke_cfg(), tmp_path / "o", seed=0,
                                           num_processes=1, cuda=False),
                    train_dataset=ds, processing_class=tok2)
    assert eos_token_ids(tok, model) == list(t.eos_token_ids)
    # forced to emit `extra` first: evaluation must stop there, finished, one token
    bias = torch.zeros(model.config.vocab_size)
    bias[extra] = 1e4
    model.lm_head.register_forward_hook(lambda mod, inp, out: out + bias)
    got = sample(model, tok, ["Q: s1=2 o1+3 e4"], n=2, max_new_tokens=10, temperature=1.0,
                 seed=0, batch_size=2, progress=False)
    assert [(c.n_tokens, c.finished) for c in got[0]] == [(1, True), (1, True)]


@pytest.mark.parametrize("profile, tp", [("qwen3.5-9b-lora", 1), ("qwen3.5-35b-a3b", 2),
                                         ("qwen3.5-122b-a10b-zero3", 8)])
def test_vllm_engine_takes_tensor_parallelism_and_length_from_the_profile(
        profile, tp, tmp_path, monkeypatch):
    from hmpo.models.generate import sample, vllm_engine_kwargs

    cfg = load_config(REPO / "params.yaml", profile=profile)
    made = {}

    class LLM:
        def __init__(self, **kw):
            made.update(kw)

        def generate(self, prompts, params):
            return [types.SimpleNamespace(outputs=[]) for _ in prompts]

    fake = types.SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: kw)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    (tmp_path / "m").mkdir()
    sample(str(tmp_path / "m"), None, ["q"], n=1, max_new_tokens=8, temperature=1.0, seed=0,
           batch_size=1, backend="vllm", vllm_kwargs=vllm_engine_kwargs(cfg))
    assert made["tensor_parallel_size"] == tp
    assert made["max_model_len"] == 4096 + cfg.evaluate.max_new_tokens


def test_evaluate_model_sets_the_thread_count(tmp_path, monkeypatch):
    from hmpo.evaluation.evaluate import evaluate_model
    from hmpo.models import generate
    from hmpo.models.generate import Completion

    cfg, _ = _one_problem_eval(tmp_path)
    seen = []

    def fake_sample(model, tokenizer, prompts, *, n, **kw):
        seen.append(torch.get_num_threads())
        return [[Completion("A: 0", 2, True)] * n]

    monkeypatch.setattr(generate, "sample", fake_sample)
    cfg.threads = 2
    torch.set_num_threads(1)
    try:
        evaluate_model(cfg, tmp_path / "base", "synthetic_eval", out_dir=tmp_path / "o",
                       data_dir=tmp_path, progress=False)
    finally:
        torch.set_num_threads(1)
    assert seen == [2]


# ----------------------------------------------------------------------- 5. cost
def test_cost_counts_the_rollout_server(tiny, tmp_path):
    from hmpo.training.methods import train_method

    model_dir, train = tiny
    cfg = smoke_cfg(max_steps=1, rollout_server_gpus=3)
    m = train_method(cfg, "grpo", model_dir=model_dir, train_path=train,
                     out_dir=tmp_path / "o", results_dir=tmp_path / "r",
                     correct_fn=even_length_correct)
    assert m["device_s"] == pytest.approx(m["wall_s"] * (1 + 3))
    assert m["devices_counted"]["rollout_server_gpus"] == 3
    assert m["devices_counted"]["training_processes"] == 1
    on_disk = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert on_disk["devices_counted"]["total"] == 4


@pytest.mark.parametrize("profile", PAPER)
def test_paper_profiles_count_their_vllm_node(profile):
    assert load_config(REPO / "params.yaml", profile=profile).train.rollout_server_gpus == 8


def test_server_mode_without_server_gpus_is_rejected():
    import yaml

    from hmpo.config import ConfigError, config_from_dict

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["profile"] = "qwen3.5-9b-lora"
    over = yaml.safe_load((REPO / "configs/profiles/qwen3.5-9b-lora.yaml").read_text())
    over["train"]["rollout_server_gpus"] = 0
    with pytest.raises(ConfigError, match="train.rollout_server_gpus"):
        from hmpo import config as C

        orig = C.profile_overrides
        try:
            C.profile_overrides = lambda name: over
            config_from_dict(raw)
        finally:
            C.profile_overrides = orig


# ----------------------------------------------------------------------- 6. stale outputs
def _stage_cfg(**train):
    return smoke_cfg(**{"max_steps": 2, "prompts_per_step": 2, "multistage_samples": 2,
                        "multistage_sft_steps": 2, **train})


def test_multistage_stages_restart_when_config_or_base_model_changes(tmp_path):
    from hmpo.training.multistage import (
        SAMPLE_DIR,
        SFT_DIR,
        STAGE_COST_FILE,
        sample_stage,
        sft_stage,
    )

    model_dir, train = make_tiny_run(tmp_path / "a", n_train=8)
    out = tmp_path / "out"

    def run(cfg, mdir):
        sample_stage(cfg, seed=0, model_dir=mdir, train_path=train,
                     sample_dir=out / SAMPLE_DIR, correct_fn=even_length_correct,
                     progress=False)
        return sft_stage(cfg, seed=0, model_dir=mdir, train_path=train,
                         sample_dir=out / SAMPLE_DIR, sft_dir=out / SFT_DIR, progress=False)

    first = run(_stage_cfg(), model_dir)
    again = run(_stage_cfg(), model_dir)  # same config and model: reused, same recorded cost
    assert again == first
    with pytest.warns(UserWarning, match="multistage_sft_steps|train"):
        changed = run(_stage_cfg(multistage_sft_steps=3), model_dir)
    assert changed != first
    other_base, _ = make_tiny_run(tmp_path / "b", n_train=8, seed=1)  # another base model
    with pytest.warns(UserWarning, match="model"):
        run(_stage_cfg(multistage_sft_steps=3), other_base)
    assert json.loads((out / SFT_DIR / STAGE_COST_FILE).read_text())["sft"]["wall_s"] > 0


def test_a_checkpoint_of_another_base_model_is_not_resumed(tmp_path):
    from hmpo.training.methods import train_method

    model_dir, train = make_tiny_run(tmp_path / "a", n_train=8)
    other, _ = make_tiny_run(tmp_path / "b", n_train=8, seed=1)
    cfg = smoke_cfg(max_steps=2, prompts_per_step=2, save_steps=1)
    kw = dict(train_path=train, out_dir=tmp_path / "o", correct_fn=even_length_correct)
    train_method(cfg, "grpo", model_dir=model_dir, results_dir=tmp_path / "r1", **kw)
    (tmp_path / "o" / "checkpoint-2").mkdir(exist_ok=True)  # as a killed run leaves it
    (tmp_path / "o" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    with pytest.warns(UserWarning, match="model"):
        m = train_method(cfg, "grpo", model_dir=other, results_dir=tmp_path / "r2", **kw)
    assert m["resumed_from_step"] is None and m["completed"]


# ----------------------------------------------------------------------- 8 and #11.5: multistage
def test_prompt_order_is_trls_sampler_order():
    from trl.trainer.utils import RepeatSampler

    from hmpo.training.grpo import grpo_prompt_order

    n, per_step, steps, seed = 23, 4, 7, 3  # 7 steps > the 5 of one epoch: a second permutation
    s = RepeatSampler(list(range(n)), mini_repeat_count=1, batch_size=per_step, seed=seed)
    drawn = list(s)[:] + list(s)  # two epochs of the same generator
    first = []
    for i in drawn[:steps * per_step]:
        if i not in first:
            first.append(i)
    assert grpo_prompt_order(n, seed=seed, prompts_per_step=per_step, n_steps=steps) == first


def test_multistage_samples_only_the_prompts_hmpo_trains_on(tmp_path):
    from hmpo.training.multistage import SAMPLE_DIR, sample_stage

    model_dir, train = make_tiny_run(tmp_path / "a", n_train=32)
    cfg = _stage_cfg()  # 2 steps x 2 prompts of a 32-prompt training set
    cost = sample_stage(cfg, seed=0, model_dir=model_dir, train_path=train,
                        sample_dir=tmp_path / SAMPLE_DIR, correct_fn=even_length_correct,
                        progress=False)
    assert cost["n_problems"] == 4 and cost["n_train_prompts"] == 32
    assert cost["n_samples"] == 4 * cfg.train.multistage_samples


def test_multistage_sft_of_a_pretrained_lora_model_goes_through_sfttrainer(tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    from hmpo.training.multistage import sft_pairs

    model_dir, _ = tiny
    cfg = smoke_cfg(use_lora=True, lora_r=4, lora_alpha=8, multistage_sft_steps=2)
    cfg = dataclasses.replace(cfg, base_model=dataclasses.replace(
        cfg.base_model, kind="pretrained", name_or_path=str(model_dir), sft_batch_size=2))
    pairs = [{"prompt": "Q: s1=2 o1+3 e4", "completion": " o1+3 s1=5\nA: 5"}] * 4
    info = sft_pairs(cfg, seed=0, model_dir=model_dir, pairs=pairs, sft_dir=tmp_path / "sft",
                     progress=False)
    assert info["trainer"] == "trl.SFTTrainer"
    base = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
    sft = AutoModelForCausalLM.from_pretrained(tmp_path / "sft").state_dict()
    assert not any("lora" in k for k in sft)  # the adapter is merged
    assert any(not torch.equal(base[k], sft[k]) for k in base)


def test_tiny_multistage_sft_keeps_its_fast_path(tiny, tmp_path):
    from hmpo.training.multistage import sft_pairs

    model_dir, _ = tiny
    pairs = [{"prompt": "Q: s1=2 o1+3 e4", "completion": " o1+3 s1=5\nA: 5"}] * 4
    info = sft_pairs(smoke_cfg(multistage_sft_steps=2), seed=0, model_dir=model_dir,
                     pairs=pairs, sft_dir=tmp_path / "sft", progress=False)
    assert info["trainer"] == "hmpo.models.sft.sft_train"


def test_random_groups_sanity():
    # the reward registry still reads -1 as wrong for every non-LEAD reward
    from hmpo.training.rewards import get_reward

    r = get_reward("hmpo")
    np.testing.assert_allclose(r([1, -1, 0], [4, 4, 4], [0, 0, 0]),
                               r([1, 0, 0], [4, 4, 4], [0, 0, 0]))

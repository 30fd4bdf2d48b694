"""hmpo.training (trainer, grpo_config, grpo): the reward hook of HMPOTrainer, the helpers it
relies on, and a tiny training run.

The tiny run uses a random 1-layer Qwen3 (hmpo.models.model) on the synthetic task with a stand-in
correctness function (a completion is "correct" when its text has an even number of
characters): a random model is never right on the real task, and the reward needs a mix of
correct and wrong rollouts to have a budget.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_train.py -q
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hmpo.config import BaseModelConfig, SyntheticConfig, load_config
from hmpo.training.grpo import load_train_dataset
from hmpo.training.grpo_config import build_grpo_config, grpo_config_kwargs
from hmpo.training.methods import train_method
from hmpo.training.rewards import get_reward, list_rewards
from hmpo.training.trainer import (
    HMPOTrainer,
    completion_lengths,
    completion_text,
    rollout_group_ids,
)

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- shared fixtures
def even_length_correct(text: str, gold: str) -> bool:
    """Stand-in verifier for a random model: ~half the completions count as correct."""
    return len(text) % 2 == 0


def make_tiny_run(root: Path, *, n_train: int = 32, seed: int = 0,
                  vocab: list[str] | None = None, n_stop_ids: int = 0) -> tuple[Path, Path]:
    """A random tiny model folder and a synthetic train.jsonl under `root`.

    `vocab` (default: the synthetic task's ~330 tokens) can be made tiny so that a random
    model emits EOS often and completion lengths vary widely. `n_stop_ids` > 0 adds that many
    token ids to the model's generation-config EOS list (as Qwen's chat models list several):
    a random model then ends most completions on its own, so they are finished and can be
    correct (a truncated rollout never is).
    """
    from hmpo.models import model as M
    from hmpo.task import synthetic

    root.mkdir(parents=True, exist_ok=True)
    tok = M.build_tokenizer(vocab)
    bcfg = BaseModelConfig(n_layers=1, hidden_size=32, n_heads=2, intermediate_size=64)
    model = M.build_tiny_model(bcfg, tok, seed=seed)
    if n_stop_ids:
        model.generation_config.eos_token_id = [tok.eos_token_id] + [
            i for i in range(len(tok)) if i not in (tok.eos_token_id, tok.pad_token_id)
        ][:n_stop_ids]
    M.save_model(model, tok, root / "base")
    sets = synthetic.make_sets(SyntheticConfig(n_train=n_train, n_eval=4, n_transfer=2), seed=seed)
    train = root / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in sets["synthetic_train"]))
    return root / "base", train


def smoke_cfg(**train):
    """The smoke profile with `train` overrides."""
    cfg = load_config(REPO / "params.yaml", profile="smoke")
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **train))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_run(tmp_path_factory.mktemp("tiny"), n_stop_ids=32)


# --------------------------------------------------------------------------- pure helpers
@pytest.mark.parametrize("ids, count_eos, expected", [
    ([[5, 6, 1]], True, [3]),      # EOS counted: every generated token
    ([[5, 6, 1]], False, [2]),     # EOS dropped
    ([[5, 6, 7]], False, [3]),     # truncated at the limit: no EOS to drop
    ([[1]], False, [0]),           # an immediate EOS is an empty answer
    ([[9, 1]], False, [1]),        # 9 is also an EOS id: only a final EOS is dropped ...
    ([[1, 9]], False, [1]),        # ... whichever EOS id it is
    ([], True, []),
])
def test_completion_lengths(ids, count_eos, expected):
    assert completion_lengths(ids, [1, 9], count_eos=count_eos).tolist() == expected


def test_rollout_group_ids_blocks_and_duplicates():
    # the same prompt drawn twice in one batch stays two groups
    assert rollout_group_ids(["p", "p", "q", "q", "p", "p"], 2).tolist() == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("keys, g, match", [
    (["p", "q", "p", "q"], 2, "mix"),      # interleaved prompts: TRL's layout broke
    (["p", "p", "p"], 2, "whole groups"),  # not a multiple of G
])
def test_rollout_group_ids_rejects_broken_layouts(keys, g, match):
    with pytest.raises(ValueError, match=match):
        rollout_group_ids(keys, g)


def test_completion_text():
    assert completion_text("abc") == "abc"
    assert completion_text([{"role": "assistant", "content": "x = 2"}]) == "x = 2"
    blocks = [{"role": "assistant", "content": [{"type": "text", "text": "y"}]}]
    assert completion_text(blocks) == "y"
    with pytest.raises(ValueError, match="completion"):
        completion_text(3)


def test_load_train_dataset_drops_long_prompts_and_rejects_duplicates(tiny, tmp_path):
    from transformers import AutoTokenizer

    model_dir, train = tiny
    tok = AutoTokenizer.from_pretrained(model_dir)
    ds, dropped = load_train_dataset(train, tok, prompt_style="synthetic", max_prompt_length=256)
    assert dropped == 0 and set(ds.column_names) == {"prompt", "id", "answer"}
    first = json.loads(train.read_text().splitlines()[0])
    assert ds[0]["prompt"] == first["prompt"]  # synthetic style: the record's text unchanged
    n_tok = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in ds["prompt"]]
    cut = sorted(n_tok)[len(n_tok) // 2]
    ds2, dropped2 = load_train_dataset(train, tok, prompt_style="synthetic", max_prompt_length=cut)
    assert dropped2 == sum(n > cut for n in n_tok) > 0 and len(ds2) + dropped2 == len(ds)
    dup = tmp_path / "dup.jsonl"
    dup.write_text(2 * (train.read_text().splitlines()[0] + "\n"))
    with pytest.raises(ValueError, match="duplicate id"):
        load_train_dataset(dup, tok, prompt_style="synthetic", max_prompt_length=256)


def test_default_mapping_is_cpu_and_counts_rollout_steps(tmp_path):
    cfg = smoke_cfg(max_steps=3, save_steps=2, prompts_per_step=4, mini_batch_prompts=2,
                    per_device_train_batch_size=4)
    kw = grpo_config_kwargs(cfg, tmp_path, seed=0, num_processes=1, cuda=False)
    assert kw["use_cpu"] and not kw["bf16"] and kw["report_to"] == "none"
    # 4 prompts x G=4 = 16 completions per rollout step; updates of 2 prompts = 8 completions
    assert kw["gradient_accumulation_steps"] == 2 and kw["steps_per_generation"] == 4
    assert kw["max_steps"] == 6 and kw["save_steps"] == 4  # rollout steps x 2 updates
    args = build_grpo_config(cfg, tmp_path, seed=0, num_processes=1, cuda=False)
    assert args.generation_batch_size == 16 and args.delta == cfg.train.dual_clip


def test_bf16_without_cuda_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="train.bf16"):
        grpo_config_kwargs(smoke_cfg(bf16=True), tmp_path, seed=0, cuda=False)


# --------------------------------------------------------------------------- the reward hook
def _hmpo_trainer(model_dir, train_path, out_dir, cfg, *, speed_paths: bool = True):
    """An HMPOTrainer with the HMPO reward and the stand-in verifier on `model_dir`; the
    config's CPU speed paths unless `speed_paths` is False (then TRL's own paths)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    ds, _ = load_train_dataset(train_path, tok, prompt_style="synthetic", max_prompt_length=256)
    args = build_grpo_config(cfg, out_dir, seed=0, num_processes=1, cuda=False)
    speed = dict(drop_finished_rollouts=cfg.train.drop_finished_rollouts,
                 forward_chunk_rows=cfg.train.forward_chunk_rows) if speed_paths else {}
    return HMPOTrainer(str(model_dir), get_reward("hmpo"), correct_fn=even_length_correct,
                       args=args, train_dataset=ds, processing_class=tok, **speed), tok


@pytest.fixture(scope="module")
def trainer(tiny, tmp_path_factory):
    model_dir, train = tiny
    t, _ = _hmpo_trainer(model_dir, train, tmp_path_factory.mktemp("hook"), smoke_cfg(),
                         speed_paths=False)
    t.model.train()  # the hook logs under the trainer's mode, as in training
    return t


def _fake_batch(rng: np.random.Generator, keys: list[str], eos: int):
    """Completions of random lengths (some ending in EOS) for the given per-rollout keys."""
    ids = []
    for _ in keys:
        n = int(rng.integers(1, 40))
        seq = rng.integers(5, 50, size=n).tolist()
        if rng.random() < 0.6:
            seq[-1] = eos
        ids.append(seq)
    texts = ["x" * int(rng.integers(1, 30)) for _ in keys]
    inputs = [{"id": k, "answer": "0", "prompt": "p"} for k in keys]
    return inputs, texts, ids


@pytest.mark.parametrize("name", list_rewards())
def test_hook_applies_the_named_reward_per_group(trainer, name):
    reward = get_reward(name)
    trainer.reward = reward
    G = trainer.num_generations
    keys = [k for k in ["a", "b", "a", "c"] for _ in range(G)]  # "a" drawn twice: two groups
    inputs, texts, ids = _fake_batch(np.random.default_rng(7), keys, trainer.eos_token_ids[0])
    out = trainer._calculate_rewards(inputs, ["p"] * len(keys), texts, ids)
    assert out.shape == (len(keys), 1)
    finished = np.array([s[-1] in trainer.eos_token_ids for s in ids])
    # truncated (no EOS) is never correct; these texts state no answer: verdict -1
    correct = np.array([even_length_correct(t, "0") for t in texts]) & finished
    correct = np.where(correct, 1, -1)
    lengths = np.array([len(s) for s in ids])  # count_eos_in_length: EOS included
    groups = np.repeat(np.arange(4), G)
    np.testing.assert_allclose(out[:, 0].numpy(), reward(correct, lengths, groups), rtol=1e-6)
    # merging the two "a" groups would change a group statistic; the hook must not
    merged = np.array([{"a": 0, "b": 1, "c": 2}[k] for k in keys])
    if not np.allclose(reward(correct, lengths, groups), reward(correct, lengths, merged)):
        assert not np.allclose(out[:, 0].numpy(), reward(correct, lengths, merged), rtol=1e-6)
    m = trainer._metrics["train"]
    assert m["hmpo/accuracy"][-1] == pytest.approx((correct == 1).mean())
    assert m["hmpo/length_median"][-1] == pytest.approx(np.median(lengths))


@pytest.mark.parametrize("rows", [
    0,      # no rows per chunk
    -3,
    2.5,    # a float would slice the batch wrongly
    True,   # a bool is an int to Python, not a row count
    "8",    # a string from a hand-edited config
])
def test_a_bad_forward_chunk_rows_fails_before_the_model_loads(rows):
    # "no/such/model" is never opened: the check comes first
    with pytest.raises(ValueError, match="forward_chunk_rows must be a whole number >= 1 or None"):
        HMPOTrainer("no/such/model", get_reward("hmpo"), forward_chunk_rows=rows)


@pytest.mark.parametrize("module", ["hmpo.training.trainer", "hmpo.training.grpo"])
def test_doctests(module):
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(module)).failed == 0


def test_hook_needs_id_and_answer_columns(trainer):
    G = trainer.num_generations
    with pytest.raises(ValueError, match="'id'"):
        trainer._calculate_rewards([{"answer": "1"}] * G, ["p"] * G, ["x"] * G, [[1]] * G)


# --------------------------------------------------------------------------- CPU speed paths
def _chaotic_trainer(tiny, tmp_path, **train):
    """An HMPOTrainer on the tiny model with large random weights, whose greedy decodes vary
    across rows and steps and end at different steps (32 extra stop ids)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir, train_path = tiny
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    model.save_pretrained(tmp_path / "chaotic")
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(tmp_path / "chaotic")
    return _hmpo_trainer(tmp_path / "chaotic", train_path, tmp_path / "out", smoke_cfg(**train))


def test_drop_finished_rollouts_give_trls_rows(tiny, tmp_path):
    """With train.drop_finished_rollouts the trainer's rollouts come from
    hmpo.models.generate.sample_ids; in the zero-temperature limit (greedy) they must be exactly
    the rows TRL's model.generate path returns, EOS included, for prompts of several
    lengths whose rollouts end at different steps."""
    trainer, tok = _chaotic_trainer(tiny, tmp_path, temperature=1e-5, max_completion_length=24)
    prompts = ["Q: o2+4 e3 s1=3", "Q: o8+5 o9-8 o0+3 e1 s7=4", "Q: o3+3 s2=5",
               "Q: o9-1 o4+4 o2+2 o1+1 e2 s3=3", "Q: o1-1 o2-2 e3 s0=0"]
    prompt_ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    assert trainer.drop_finished_rollouts
    torch.manual_seed(0)
    ours, lp = trainer._generate_single_turn(prompt_ids, None, {}, 1)
    trainer.drop_finished_rollouts = False
    torch.manual_seed(0)
    trls, _ = trainer._generate_single_turn(prompt_ids, None, {}, 1)
    assert ours == trls and lp is None
    assert len({len(r) for r in ours}) >= 3  # the rows did end at different steps
    assert any(r[-1] in trainer.eos_token_ids for r in ours)


def test_chunked_log_prob_passes_equal_trls(tiny, tmp_path):
    """train.forward_chunk_rows: log-probs, entropies and the gradient of the masked log-prob
    sum equal TRL's one pass over the padded batch (to float rounding), for left-padded
    prompts and right-padded completions of different lengths, in chunks of 3 rows."""
    trainer, tok = _chaotic_trainer(tiny, tmp_path, forward_chunk_rows=3)
    model = trainer.model
    rng = np.random.default_rng(0)
    n, width_p, width_c = 8, 9, 20
    p_len, c_len = rng.integers(3, width_p + 1, n), rng.integers(1, width_c + 1, n)
    ids = torch.full((n, width_p + width_c), tok.pad_token_id)
    mask = torch.zeros_like(ids)
    for i in range(n):
        ids[i, width_p - p_len[i]:width_p] = torch.as_tensor(rng.integers(5, 300, p_len[i]))
        ids[i, width_p:width_p + c_len[i]] = torch.as_tensor(rng.integers(5, 300, c_len[i]))
        mask[i, width_p - p_len[i]:width_p + c_len[i]] = 1
    cmask = mask[:, width_p:].float()

    def run(rows):
        trainer.forward_chunk_rows = rows
        model.zero_grad()
        lp, ent, _ = trainer._get_per_token_logps_and_entropies(
            model, ids, mask, width_c, compute_entropy=True)
        (lp * cmask).sum().backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        return lp.detach(), ent.detach(), grads

    lp0, ent0, g0 = run(None)
    lp1, ent1, g1 = run(3)
    assert lp1.shape == lp0.shape == (n, width_c)
    torch.testing.assert_close(lp1 * cmask, lp0 * cmask, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ent1 * cmask, ent0 * cmask, atol=1e-5, rtol=1e-5)
    assert len(g1) == len(g0) > 0
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert torch.all(lp1[cmask == 0] == 0)  # the cut positions come back as 0


# --------------------------------------------------------------------------- tiny training run
def test_tiny_training_run_logs_and_learns(tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    model_dir, train = tiny
    cfg = smoke_cfg(max_steps=3, save_steps=2, learning_rate=1e-3)
    m = train_method(cfg, "hmpo", model_dir=model_dir, train_path=train,
                     out_dir=tmp_path / "out", results_dir=tmp_path / "res",
                     correct_fn=even_length_correct)
    assert m["completed"] and m["rollout_steps"] == 3 and m["wall_s"] > 0 and m["cpu_s"] > 0
    final = m["final"]
    for key in ("loss", "kl", "reward", "hmpo/accuracy", "hmpo/length_mean", "hmpo/length_median",
                "hmpo/budget_tokens_mean", "hmpo/frac_groups_no_correct", "rewards/hmpo/length",
                "time/generation_s", "time/reward_s", "time/update_s"):
        assert key in final, key
    assert json.loads((tmp_path / "res" / "metrics.json").read_text())["rollout_steps"] == 3
    assert (tmp_path / "res" / "config.resolved.json").is_file()
    rows = (tmp_path / "res" / "live" / "plots" / "metrics" / "hmpo" / "budget_tokens_mean.tsv")
    assert [r.split("\t")[0] for r in rows.read_text().splitlines()[1:]] == ["1", "2", "3"]
    # a plain HF model folder, parameters changed, checkpoints cleaned up after success
    assert not list((tmp_path / "out").glob("checkpoint-*"))
    before = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "out").state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_lora_run_saves_merged_model(tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    model_dir, train = tiny
    cfg = smoke_cfg(max_steps=1, use_lora=True, lora_r=4, lora_alpha=8, learning_rate=1e-2)
    m = train_method(cfg, "grpo", model_dir=model_dir, train_path=train,
                     out_dir=tmp_path / "out", results_dir=tmp_path / "res",
                     correct_fn=even_length_correct)
    assert m["reward"] == "grpo" and "rewards/grpo/mean" in m["final"]
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "out").state_dict()
    assert not any("lora" in k for k in merged)
    before = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
    assert any(not torch.equal(before[k], merged[k]) for k in before)


def test_unknown_method_is_rejected_and_foreign_checkpoints_start_over(tiny, tmp_path):
    model_dir, train = tiny
    with pytest.raises(ValueError, match="method"):
        train_method(smoke_cfg(), "nope", model_dir=model_dir, train_path=train)
    (tmp_path / "out" / "checkpoint-1").mkdir(parents=True)
    (tmp_path / "out" / "checkpoint-1" / "trainer_state.json").write_text("{}")
    with pytest.warns(UserWarning, match="starting over"):
        m = train_method(smoke_cfg(max_steps=1), "hmpo", model_dir=model_dir, train_path=train,
                         out_dir=tmp_path / "out", results_dir=tmp_path / "res",
                         correct_fn=even_length_correct)
    assert m["resumed_from_step"] is None and m["completed"]


# --------------------------------------------------------------------------- multi-stage baseline
def test_shortest_correct_picks_the_shortest_finished_correct_sample():
    from hmpo.models.generate import Completion as C
    from hmpo.training.multistage import shortest_correct

    recs = [{"answer": "1"}, {"answer": "2"}, {"answer": "3"}]
    outs = [
        [C("A: 1 but long", 9, True), C("A: 1", 4, True), C("A: 1 b", 4, True)],  # tie: first
        [C("A: 2", 1, False), C("A: 5", 2, True)],  # the correct one is truncated: skipped
        [C("A: 3", 7, True)],
    ]
    got = shortest_correct(recs, outs, lambda text, gold: text.startswith(f"A: {gold}"))
    assert [(r["answer"], c.text) for r, c in got] == [("1", "A: 1"), ("3", "A: 3")]
    with pytest.raises(ValueError, match="completions"):
        shortest_correct(recs, outs[:2], lambda t, g: True)


def test_multistage_runs_all_stages_and_sums_their_cost(tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    model_dir, train = tiny
    cfg = smoke_cfg(max_steps=2, prompts_per_step=4, multistage_samples=4,
                    multistage_sft_steps=3)
    m = train_method(cfg, "multistage", model_dir=model_dir, train_path=train,
                     out_dir=tmp_path / "out", results_dir=tmp_path / "res",
                     correct_fn=even_length_correct)
    assert m["multistage"] and m["reward"] == "grpo" and set(m["stages"]) == {"sample", "sft", "rl"}
    assert m["wall_s"] == pytest.approx(sum(s["wall_s"] for s in m["stages"].values()))
    assert m["cpu_s"] == pytest.approx(sum(s["cpu_s"] for s in m["stages"].values()))
    assert all(s["wall_s"] > 0 for s in m["stages"].values())
    assert 0 < m["pre_rl"]["n_sft_examples"] <= m["pre_rl"]["n_problems"]
    assert m["pre_rl"]["n_problems"] == 2 * 4  # the prompts HMPO sees: max_steps x prompts_per_step
    assert m["pre_rl"]["sft_trainer"] == "hmpo.models.sft.sft_train"  # the tiny model's fast path
    assert m["device_s"] == pytest.approx(sum(s["device_s"] for s in m["stages"].values()))
    assert json.loads((tmp_path / "res" / "metrics.json").read_text())["stages"] == m["stages"]
    base = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
    sft = AutoModelForCausalLM.from_pretrained(tmp_path / "out" / "sft").state_dict()
    final = AutoModelForCausalLM.from_pretrained(tmp_path / "out").state_dict()
    assert any(not torch.equal(base[k], sft[k]) for k in base)  # SFT moved the weights
    assert any(not torch.equal(sft[k], final[k]) for k in sft)  # and so did GRPO after it


def test_multistage_without_any_solved_problem_skips_sft(tiny, tmp_path):
    model_dir, train = tiny
    cfg = smoke_cfg(max_steps=1, multistage_samples=1, multistage_sft_steps=3)
    with pytest.warns(UserWarning, match="SFT skipped"):
        m = train_method(cfg, "multistage", model_dir=model_dir, train_path=train,
                         out_dir=tmp_path / "out", results_dir=tmp_path / "res",
                         correct_fn=lambda text, gold: False)
    assert m["pre_rl"]["n_sft_examples"] == 0 and m["pre_rl"]["sft_final_loss"] is None
    assert m["completed"] and m["stages"]["rl"]["wall_s"] > 0

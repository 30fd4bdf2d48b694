"""hmpo.task.gym: reasoning-gym tasks as schema records, and our verifier against gym's own scorer.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_gym.py -q
"""

from __future__ import annotations

import re

import pytest

from hmpo.task.data import validate_records
from hmpo.task.gym import item_difficulty, load_gym_task, make_gym_dataset
from hmpo.task.prompts import extract_answer
from hmpo.task.verify import verify

# tasks with exact numeric answers, where "correct" has one meaning for both scorers
CROSS_CHECK_TASKS = ["chain_sum", "basic_arithmetic", "gsm_symbolic", "leg_counting", "products",
                     "gcd", "lcm", "count_bits", "fraction_simplification"]


def test_records_follow_the_schema():
    records = load_gym_task("chain_sum", 20, seed=3)
    validate_records(records, "gym_chain_sum")
    assert {r["source"] for r in records} == {"gym_chain_sum"}
    assert {r["split"] for r in records} == {"eval"}
    assert records[0]["id"] == "gym_chain_sum-s3-00000"
    # chain_sum's per-item difficulty is its number of terms (2..6 by default)
    assert all(isinstance(r["difficulty"], int) and 2 <= r["difficulty"] <= 6 for r in records)
    assert all(r["difficulty"] == len(re.findall(r"\d+", r["prompt"])) for r in records)


def test_seeded():
    assert load_gym_task("basic_arithmetic", 10, seed=1) == load_gym_task(
        "basic_arithmetic", 10, seed=1)
    assert load_gym_task("basic_arithmetic", 10, seed=1) != load_gym_task(
        "basic_arithmetic", 10, seed=2)


def test_gsm_symbolic_difficulty_is_its_number():
    records = load_gym_task("gsm_symbolic", 3, seed=0, split="train")
    assert {r["difficulty"] for r in records} == {1.0}
    assert {r["split"] for r in records} == {"train"}


def test_item_difficulty_rules():
    assert item_difficulty({"difficulty": 2}) == 2
    assert item_difficulty({"num_animals": 4, "difficulty": {"num_animals": (3, 10)}}) == 4
    assert item_difficulty({"difficulty": {"min_terms": 2}}) is None  # config bounds only
    assert item_difficulty({}) is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="data.gym.tasks: unknown reasoning-gym task"):
        load_gym_task("no_such_task", 3, seed=0)
    with pytest.raises(ValueError, match="split"):
        load_gym_task("chain_sum", 3, seed=0, split="dev")
    with pytest.raises(ValueError, match="n"):
        load_gym_task("chain_sum", -1, seed=0)
    assert load_gym_task("chain_sum", 0, seed=0) == []


def test_task_kwargs_reach_reasoning_gym():
    # 1-digit operands, 2-3 terms: what the smollm2 profile draws (data.gym.task_configs)
    kw = {"min_digits": 1, "max_digits": 1, "min_terms": 2, "max_terms": 3}
    records = load_gym_task("chain_sum", 30, seed=0, **kw)
    operands = [int(x) for r in records for x in re.findall(r"\d+", r["prompt"])]
    assert operands and max(operands) <= 9
    assert {r["difficulty"] for r in records} <= {2, 3}
    assert records != load_gym_task("chain_sum", 30, seed=0)  # the defaults draw other items


def test_bad_task_kwargs_name_the_config_key():
    with pytest.raises(ValueError, match=r"data.gym.task_configs.chain_sum: .*max_digits_x"):
        load_gym_task("chain_sum", 3, seed=0, max_digits_x=1)
    with pytest.raises(ValueError, match=r"data.gym.task_configs.chain_sum: max_digits must be"):
        load_gym_task("chain_sum", 3, seed=0, min_digits=3, max_digits=1)


def _perturbations(answer: str) -> list[str]:
    """Wrong answers near the gold one: off by one, times ten, a changed numerator."""
    if re.fullmatch(r"-?\d+", answer):
        n = int(answer)
        return [str(n + 1), str(n - 1), str(n * 10 + 3)]
    m = re.fullmatch(r"\$?(-?\d+)/(\d+)\$?", answer) or re.fullmatch(
        r"\$?\\d?frac\{(-?\d+)\}\{(\d+)\}\$?", answer)
    if m:
        return [f"{int(m.group(1)) + 1}/{m.group(2)}", f"{m.group(2)}/{m.group(1)}"]
    return [answer + "7"]


@pytest.mark.parametrize("task", CROSS_CHECK_TASKS)
def test_verify_agrees_with_gym_score_answer(task):
    """The same items judged by reasoning-gym's score_answer and by hmpo.task.verify.

    Gym scores the extracted answer (1.0 = correct); we verify the whole completion. Correct
    gold answers must pass both, perturbed ones fail both.
    """
    n = 15
    ds = make_gym_dataset(task, n, seed=11)
    records = load_gym_task(task, n, seed=11)
    checked = 0
    for item, rec in zip(ds, records, strict=True):
        gold = rec["answer"]
        for candidate, expected in [(gold, True)] + [(p, False) for p in _perturbations(gold)]:
            for completion in (f"Let me compute.\n\\boxed{{{candidate}}}", f"work\nA: {candidate}"):
                gym_correct = ds.score_answer(extract_answer(completion), item) == 1.0
                ours = verify(completion, gold)
                assert gym_correct is expected, (task, candidate, gold, "gym")
                assert ours is expected, (task, candidate, gold, "hmpo.task.verify")
                checked += 1
    assert checked >= n * 4

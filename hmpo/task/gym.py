"""reasoning-gym procedural tasks as schema records (``source = "gym_<task>"``).

reasoning-gym (pinned 0.1.25) generates seeded problems with exact answers, e.g.
``chain_sum`` ("4 - 1 - 7 =" -> "-4"), ``basic_arithmetic``, ``gsm_symbolic`` (GSM8K-like word
problems), ``leg_counting``. :func:`load_gym_task` draws `n` items of one task with one seed and
maps them to ``{id, source, prompt, answer, difficulty, split}``:

- ``prompt`` = the item's question, ``answer`` = its answer as a string;
- ``difficulty`` = a per-item number from the item's metadata: ``metadata["difficulty"]``
  when it is a number (gsm_symbolic), else the item's value of the first difficulty parameter
  the task declares in ``metadata["difficulty"]`` (chain_sum: ``num_terms``), else None;
- ``id`` = ``gym_<task>-s<seed>-<index>``, so draws with different seeds never share ids.

The data stage (hmpo.task.data) writes evaluation draws to ``data/processed/gym_<task>.jsonl`` and,
when ``data.train_source`` is ``gym``, separate training draws (another seed) that are then
decontaminated against the evaluation draws.

Try it::

    python -m hmpo.task.gym chain_sum 3
"""

from __future__ import annotations

import sys
from typing import Any

SPLITS = ("train", "eval", "test")


def make_gym_dataset(task: str, n: int, seed: int, **task_kwargs: Any) -> Any:
    """The reasoning-gym ProceduralDataset of `task` (its ``score_answer`` scores items).

    Raises:
        ValueError: unknown task name, n < 1, or task_kwargs that the task's config rejects
            (an unknown key or a bad value; the message names ``data.gym.task_configs.<task>``).
    """
    import reasoning_gym

    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    try:
        return reasoning_gym.create_dataset(task, size=n, seed=seed, **task_kwargs)
    except (ValueError, AssertionError) as e:
        if "not registered" in str(e):
            raise ValueError(f"data.gym.tasks: unknown reasoning-gym task {task!r}") from e
        if task_kwargs:  # the task's config.validate() asserts on bad values (min > max, ...)
            raise ValueError(f"data.gym.task_configs.{task}: {e or type(e).__name__}") from e
        raise
    except TypeError as e:  # an unknown key: the task's config dataclass rejects it
        raise ValueError(f"data.gym.task_configs.{task}: {e} (valid keys are the fields of "
                         f"reasoning-gym's {task} config)") from e


def item_difficulty(metadata: dict) -> int | float | None:
    """A per-item difficulty number from reasoning-gym metadata (see the module docstring).

    >>> item_difficulty({"difficulty": 1.0})
    1.0
    >>> item_difficulty({"num_terms": 3, "difficulty": {"num_terms": (2, 6)}})
    3
    >>> item_difficulty({"difficulty": {"min_terms": 2}}) is None
    True
    """
    d = metadata.get("difficulty")
    if _is_number(d):
        return d
    if isinstance(d, dict):
        for key in d:
            if _is_number(metadata.get(key)):
                return metadata[key]
    return None


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def load_gym_task(task: str, n: int, seed: int, split: str = "eval",
                  **task_kwargs: Any) -> list[dict]:
    """`n` seeded items of reasoning-gym `task` as schema records (empty for n = 0).

    Same (task, n, seed, task_kwargs) -> the same records.
    """
    if split not in SPLITS:
        raise ValueError(f"split: must be one of {list(SPLITS)}, got {split!r}")
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n}")
    if n == 0:
        return []
    ds = make_gym_dataset(task, n, seed, **task_kwargs)
    records = []
    for i in range(n):
        item = ds[i]
        records.append({
            "id": f"gym_{task}-s{seed}-{i:05d}",
            "source": f"gym_{task}",
            "prompt": str(item["question"]),
            "answer": str(item["answer"]),
            "difficulty": item_difficulty(item.get("metadata") or {}),
            "split": split,
        })
    return records


if __name__ == "__main__":  # pragma: no cover
    name = sys.argv[1] if len(sys.argv) > 1 else "chain_sum"
    for rec in load_gym_task(name, int(sys.argv[2]) if len(sys.argv) > 2 else 3, seed=0):
        print(rec)

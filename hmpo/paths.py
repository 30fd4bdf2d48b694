"""The run layout: which folder holds which stage's output, in one place.

Every stage, CLI and notebook names its folders through these functions, so the layout that
``dvc.yaml`` declares is written down once in Python::

    data/processed/<set>.jsonl                 stage data
    models/sft/seed<b>/                        stage sft_model (the model before the base's RL),
                                               one folder per base seed (hmpo.config.base_seeds)
    results/sft_model/runs/seed<b>/            its loss and measurements; results/sft_model/
                                               metrics.json and sft_loss.csv gather the seeds
    models/base/seed<b>/                       stage base_model (the model every method starts from:
                                               the SFT model after GRPO until flat, >= rl_steps)
    results/base_model/runs/seed<b>/           its RL run (rl/); results/base_model/metrics.json
                                               and budgets.json gather the seeds' measurements
                                               and fixed budgets ({"seed<b>": ...})
    results/predictions/predictions.json       stage predictions: the endpoints theory predicts
                                               (hmpo.analysis.theory), before any method trains
    models/<method>/seed<s>/                   stage train@<method>, one folder per training seed
                                               (started from models/base/seed<base of s>)
    results/train/<method>/seed<s>/            its logs and cost records
    results/evaluate/<method>/seed<s>/         stage evaluate@<method>
    results/evaluate/base/seed<b>/             stage evaluate_base, one folder per base seed
    results/evaluate/sft/seed<b>/              stage evaluate_sft, likewise
    results/                                   stage figures: summary, tables, claims, figures

Paths are relative to the repository root (the working directory of every DVC stage); each
function takes the root as ``root`` for callers that run elsewhere (tests, notebooks opened in
``notebooks/``).
"""

from __future__ import annotations

from pathlib import Path

BASE = "base"  # the model name of the base model in the evaluate folders and the results tables
SFT = "sft"  # the model name of the model the base model's RL starts from (a row of the tables)
BASE_MODELS = (SFT, BASE)  # models with one run per base seed (not training seed), report order


def seed_dir_name(seed: int) -> str:
    """The folder of one training seed's run: ``seed<s>``."""
    return f"seed{int(seed)}"


def data_dir(root: str | Path = ".") -> Path:
    """Stage data's processed sets (``<set>.jsonl``)."""
    return Path(root) / "data" / "processed"


def data_file(name: str, root: str | Path = ".") -> Path:
    """One processed set, e.g. ``train`` or ``synthetic_eval``."""
    return data_dir(root) / f"{name}.jsonl"


def results_dir(stage: str | None = None, root: str | Path = ".") -> Path:
    """``results/`` or one stage's folder ``results/<stage>``."""
    r = Path(root) / "results"
    return r if stage is None else r / stage


def sft_model_dir(base_seed: int, root: str | Path = ".") -> Path:
    """One base seed's model before the base model's RL (stage sft_model): the tiny model's
    SFT, or the pretrained model as found."""
    return Path(root) / "models" / SFT / seed_dir_name(base_seed)


def base_model_dir(base_seed: int, root: str | Path = ".") -> Path:
    """One base seed's base model, which the runs of that base seed start from (stage
    base_model; :func:`hmpo.config.base_seed_of`)."""
    return Path(root) / "models" / BASE / seed_dir_name(base_seed)


def base_run_dir(model: str, base_seed: int, root: str | Path = ".") -> Path:
    """One base seed's run folder of stage sft_model (``model`` "sft") or base_model ("base"):
    ``results/<stage>/runs/seed<b>``."""
    stage = {SFT: "sft_model", BASE: "base_model"}[model]
    return results_dir(stage, root) / "runs" / seed_dir_name(base_seed)


def predictions_file(root: str | Path = ".") -> Path:
    """The endpoints theory predicts from the base models' measurements, written before any
    method is trained (:mod:`hmpo.analysis.theory`)."""
    return results_dir("predictions", root) / "predictions.json"


def budgets_file(root: str | Path = ".") -> Path:
    """The fixed budgets measured on each base model, ``{"seed<b>": budgets}`` (written and read
    by :mod:`hmpo.models.fixed_budgets`)."""
    return results_dir("base_model", root) / "budgets.json"


def method_model_dir(method: str, seed: int | None = None, root: str | Path = ".") -> Path:
    """``models/<method>`` or one seed's ``models/<method>/seed<s>``."""
    d = Path(root) / "models" / method
    return d if seed is None else d / seed_dir_name(seed)


def train_results_dir(method: str, seed: int | None = None, root: str | Path = ".") -> Path:
    """``results/train/<method>`` or one seed's ``results/train/<method>/seed<s>``."""
    d = results_dir("train", root) / method
    return d if seed is None else d / seed_dir_name(seed)


def eval_results_dir(model: str, seed: int | None = None, root: str | Path = ".") -> Path:
    """``results/evaluate/<model>`` or one seed's ``results/evaluate/<model>/seed<s>``."""
    d = results_dir("evaluate", root) / model
    return d if seed is None else d / seed_dir_name(seed)


def model_dir(model: str, seed: int, root: str | Path = ".") -> Path:
    """The weights of one evaluated run: a base seed of the SFT or base model, or a training
    seed of a method."""
    if model == BASE:
        return base_model_dir(seed, root)
    if model == SFT:
        return sft_model_dir(seed, root)
    return method_model_dir(model, seed, root)


def eval_stage(model: str) -> str:
    """The DVC stage that evaluates `model`: ``evaluate_<sft|base>`` or ``evaluate@<method>``."""
    return f"evaluate_{model}" if model in BASE_MODELS else f"evaluate@{model}"

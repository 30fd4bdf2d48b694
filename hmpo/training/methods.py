"""Stage `train`: the one entry point that trains any comparison method of ``params.yaml``.

``train_method(cfg, method, seed=s)`` resolves the method (:func:`resolve_method`: its
``steps_factor`` and, for a ``budget_percentile``, the fixed budget measured on the base
model), builds its reward of :mod:`hmpo.training.rewards` and runs it: one GRPO run
(:func:`hmpo.training.grpo.run_grpo`), or for ``multistage: true`` the multi-stage baseline
(:func:`hmpo.training.multistage.run_multistage`, sample -> SFT -> the same GRPO run). It sits
above both, so neither imports its caller. ``seed`` is the run's training seed (default: the
first of ``train.seeds``); the config's own ``seed`` fixes the data and the evaluation only.

Command line, one training seed per call, into the folders the evaluate stage reads
(``models/<method>/seed<s>/``, ``results/train/<method>/seed<s>/``: :mod:`hmpo.paths`)::

    python -m hmpo.training.methods --method hmpo                   # seed: first of train.seeds
    python -m hmpo.training.methods --method grpo --profile smoke --seed 1
    python -m hmpo.training.methods --method hmpo_fixed_p25         # budget from budgets.json

On GPUs (the paper profiles; vLLM rollouts come from a separate server, configs/vllm/)::

    accelerate launch --config_file configs/accelerate/multi_gpu.yaml \\
        -m hmpo.training.methods --method hmpo --profile qwen3.5-9b-lora \\
        --vllm-server-base-url http://<vllm node>:8000

The multi-stage baseline samples in one process (vLLM shards the model itself), then runs SFT
and RL under the training launch; ``--until`` stops after a stage::

    python -m hmpo.training.methods --method multistage --until sample --profile <p>
    accelerate launch --config_file <cfg> -m hmpo.training.methods --method multistage \\
        --until sft --profile <p>
    accelerate launch --config_file <cfg> -m hmpo.training.methods --method multistage \\
        --profile <p>

From Python (the train stage, :func:`hmpo.pipeline.train_runs.train_seeds`, resolves the
method once per base seed and runs every seed from its base's resolution)::

    from hmpo.config import load_config
    from hmpo.training.methods import resolve_method, train_method, train_resolved
    train_method(load_config("params.yaml"), "hmpo", seed=0)      # models/hmpo, results/train/hmpo
    run = resolve_method(load_config("params.yaml"), "kimi")
    train_resolved(run, seed=1, out_dir="models/kimi/seed1", results_dir="results/train/kimi/seed1")
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from hmpo.config import Config, MethodConfig, base_seed_of, base_seeds, load_config
from hmpo.models.fixed_budgets import budget_tokens
from hmpo.paths import (
    base_model_dir,
    budgets_file,
    data_file,
    method_model_dir,
    train_results_dir,
)
from hmpo.training.grpo import run_grpo
from hmpo.training.multistage import UNTIL, run_multistage
from hmpo.training.rewards import Reward, get_reward
from hmpo.training.trainer import CorrectFn


@dataclass(frozen=True)
class ResolvedMethod:
    """One method ready to train: ``cfg`` is the config its runs use (:func:`resolve_method`).

    Made by :func:`resolve_method` only, and taken by :func:`train_resolved` only: the type is
    the guard that a method is resolved exactly once (resolving twice would multiply the steps
    by ``steps_factor`` twice). Picklable, so a stage hands it to each seed's worker.
    """

    method: str
    cfg: Config

    @property
    def spec(self) -> MethodConfig:
        """``cfg.methods[method]``, its fixed budget (if any) in ``params``."""
        return self.cfg.methods[self.method]

    def reward(self) -> Reward:
        """The method's reward of :mod:`hmpo.training.rewards`, with its params."""
        return get_reward(self.spec.reward, **self.spec.params)


def method_horizon(cfg: Config, method: str) -> tuple[int, float]:
    """``(max_steps, num_train_epochs)`` of one training run of `method`: the ``train`` values
    with ``methods.<m>.steps_factor`` applied (to ``num_train_epochs`` when ``max_steps`` is -1,
    an epoch-long run). Pure: reads nothing but `cfg` (:func:`resolve_method` uses it)."""
    if method not in cfg.methods:
        raise ValueError(f"method: {method!r} is not in methods (known: {', '.join(cfg.methods)})")
    factor = cfg.methods[method].steps_factor
    if cfg.train.max_steps == -1:
        return -1, cfg.train.num_train_epochs * factor
    return cfg.train.max_steps * factor, cfg.train.num_train_epochs


def resolve_method(cfg: Config, method: str, budgets_path: str | Path | None = None, *,
                   base_seed: int | None = None) -> ResolvedMethod:
    """The method as its training runs use it, on a copy of `cfg` (left unchanged):

    * ``train.max_steps`` multiplied by ``methods.<m>.steps_factor`` (``num_train_epochs``
      when ``max_steps`` is -1, an epoch-long run);
    * a percentile budget turned into ``params.fixed_budget_tokens``:
      ``methods.<m>.budget_percentile = q`` reads ``p<q>`` of base seed `base_seed` (default:
      the first, :func:`hmpo.config.base_seeds`; a run takes its own base's,
      :func:`hmpo.config.base_seed_of`) from the base-model stage's budgets.json
      (`budgets_path`, default :func:`hmpo.paths.budgets_file`: percentiles of the base
      model's correct response lengths on training prompts).

    Every way to train (the pipeline's runs, ``python -m hmpo.training.methods``,
    :func:`train_method`) goes through here once, so none trains a fixed-budget method without
    its budget, and none applies ``steps_factor`` twice: a :class:`ResolvedMethod` is refused.
    """
    if isinstance(cfg, ResolvedMethod):
        raise TypeError(f"resolve_method: {cfg.method!r} is already resolved (steps_factor "
                        "applied once); train it with train_resolved")
    out = copy.deepcopy(cfg)
    out.train.max_steps, out.train.num_train_epochs = method_horizon(cfg, method)
    m = out.methods[method]
    if m.budget_percentile is not None:
        b = base_seeds(cfg)[0] if base_seed is None else base_seed
        tokens = budget_tokens(m.budget_percentile, budgets_path or budgets_file(), base_seed=b)
        m.params = {**m.params, "fixed_budget_tokens": tokens}
    return ResolvedMethod(method, out)


def train_method(cfg: Config, method: str, *, seed: int | None = None,
                 model_dir: str | Path | None = None, train_path: str | Path | None = None,
                 out_dir: str | Path | None = None, results_dir: str | Path | None = None,
                 correct_fn: CorrectFn | None = None,
                 callbacks: Sequence[TrainerCallback] = (),
                 progress: bool = True,
                 budgets_path: str | Path | None = None,
                 until: str = "rl") -> dict[str, Any]:
    """Resolve `method` of the unresolved `cfg` for training seed `seed`
    (:func:`resolve_method`, reading the fixed budget of the seed's base model from
    `budgets_path`) and train it: :func:`train_resolved`, which documents the other
    arguments. Returns the metrics written to ``results_dir/metrics.json``."""
    seed = cfg.train.seeds[0] if seed is None else seed
    return train_resolved(resolve_method(cfg, method, budgets_path,
                                         base_seed=base_seed_of(cfg, seed)), seed=seed,
                          model_dir=model_dir, train_path=train_path, out_dir=out_dir,
                          results_dir=results_dir, correct_fn=correct_fn, callbacks=callbacks,
                          progress=progress, until=until)


def train_resolved(run: ResolvedMethod, *, seed: int | None = None,
                   model_dir: str | Path | None = None,
                   train_path: str | Path | None = None,
                   out_dir: str | Path | None = None, results_dir: str | Path | None = None,
                   correct_fn: CorrectFn | None = None,
                   callbacks: Sequence[TrainerCallback] = (),
                   progress: bool = True, until: str = "rl") -> dict[str, Any]:
    """Train one resolved method (:func:`resolve_method`) with one training seed.

    ``run.spec.reward`` (+ ``params``) selects the reward of :mod:`hmpo.training.rewards`;
    ``multistage: true`` runs :func:`hmpo.training.multistage.run_multistage`, whose
    ``until`` (``sample``, ``sft``) stops after that stage; other methods take only
    ``until="rl"``. ``seed`` is the training seed (default: the first of ``train.seeds``),
    passed down to every draw of the run; ``run.cfg.seed`` is not read. Defaults:
    ``model_dir = models/base/seed<b>`` (the seed's base model,
    :func:`hmpo.config.base_seed_of`), ``train_path = data/processed/train.jsonl``,
    ``out_dir = models/<method>``, ``results_dir = results/train/<method>``; any folders work
    (the pipeline's are one per seed, :func:`hmpo.paths.method_model_dir`). Outputs made by
    another config, seed or base model are deleted and the run starts over
    (:mod:`hmpo.training.fingerprint`). ``progress=False`` turns off the trainer's (and the
    multi-stage sampling/SFT) progress bars, e.g. when the caller shows its own
    (:func:`hmpo.pipeline.train_runs.train_seeds`). Returns the metrics written to
    ``results_dir/metrics.json``.
    """
    if not isinstance(run, ResolvedMethod):
        raise TypeError(f"train_resolved takes resolve_method(cfg, method), got "
                        f"{type(run).__name__}; an unresolved config goes to train_method")
    if until not in UNTIL:
        raise ValueError(f"until: expected one of {', '.join(UNTIL)}, got {until!r}")
    method, cfg, m = run.method, run.cfg, run.spec
    seed = cfg.train.seeds[0] if seed is None else seed
    model_dir = base_model_dir(base_seed_of(cfg, seed)) if model_dir is None else model_dir
    train_path = data_file("train") if train_path is None else train_path
    out_dir = Path(out_dir) if out_dir is not None else method_model_dir(method)
    results_dir = Path(results_dir) if results_dir is not None else train_results_dir(method)
    if m.multistage:
        return run_multistage(cfg, method, run.reward(), seed=seed, model_dir=model_dir,
                              train_path=train_path, out_dir=out_dir, results_dir=results_dir,
                              correct_fn=correct_fn, callbacks=callbacks, progress=progress,
                              until=until)
    if until != "rl":
        raise ValueError(f"until: {until!r} is a stage of the multi-stage baseline; "
                         f"{method!r} is one GRPO run")
    return run_grpo(cfg, run.reward(), seed=seed, model_dir=model_dir, train_path=train_path,
                    out_dir=out_dir, results_dir=results_dir, method=method,
                    correct_fn=correct_fn, callbacks=callbacks, progress=progress)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m hmpo.training.methods``: one training seed of one method (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, help="a key of `methods` in params.yaml")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--profile", default=None, help="override params.yaml's `profile`")
    p.add_argument("--seed", type=int, default=None,
                   help="the training seed (default: the first of train.seeds)")
    p.add_argument("--until", choices=UNTIL, default="rl",
                   help="multistage only: stop after this stage (`sample` in one process "
                        "before a GPU launch)")
    p.add_argument("--model-dir", default=None,
                   help="default: models/base/seed<b>, the seed's base model")
    p.add_argument("--train-path", default=str(data_file("train")))
    p.add_argument("--out-dir", default=None, help="default: models/<method>/seed<s>")
    p.add_argument("--results-dir", default=None, help="default: results/train/<method>/seed<s>")
    p.add_argument("--vllm-server-base-url", default=None,
                   help="train.vllm_server_base_url for this launch (e.g. http://node5:8000)")
    a = p.parse_args(argv)
    cfg = load_config(a.params, profile=a.profile)
    if a.vllm_server_base_url:
        cfg.train.vllm_server_base_url = a.vllm_server_base_url
    seed = cfg.train.seeds[0] if a.seed is None else a.seed
    if seed < 0:
        p.error(f"--seed must be >= 0, got {seed}")
    metrics = train_method(
        cfg, a.method, seed=seed, model_dir=a.model_dir or base_model_dir(base_seed_of(cfg, seed)),
        train_path=a.train_path,
        out_dir=a.out_dir or method_model_dir(a.method, seed),
        results_dir=a.results_dir or train_results_dir(a.method, seed), until=a.until)
    print(json.dumps({k: v for k, v in metrics.items() if k != "final"}, indent=2))
    return metrics


if __name__ == "__main__":
    main()

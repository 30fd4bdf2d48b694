# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Train one method (stage `train`, one stage per method, one run per training seed)
#
# GRPO from `models/base` on `data/processed/train.jsonl`, with the reward of `method`
# (`methods.<method>` in params.yaml: HMPO or one of the peer length rewards;
# `multistage` = sample, SFT on the shortest correct solutions, then GRPO), once per seed of
# `train.seeds`, `workers` runs at a time (`hmpo.pipeline.train_runs.train_seeds`). Each run writes
# `models/<method>/seed<s>/` and `results/train/<method>/seed<s>/` (metrics.json with wall /
# CPU seconds, per-step dvclive logs under `live/`, and `train.log`: the trainer's per-step
# log lines and warnings, which would otherwise flood this notebook; the bar below counts the
# rollout steps of all seeds). A fixed-budget method with `budget_percentile` takes its
# budget from `results/base_model/budgets.json`.
#
# Pipeline: `dvc repro train@hmpo` (one per method). Here: set `method`, run top to bottom.

# %% tags=["parameters"]
params_path = "params.yaml"
profile = None  # None: the `profile` key of params.yaml (e.g. "smoke")
method = "hmpo"

# %%
import os
from pathlib import Path

if not Path(params_path).exists() and Path("..", params_path).exists():
    os.chdir("..")  # JupyterLab starts the kernel in notebooks/; all paths are repo-relative

# %%
# %matplotlib inline
import pandas as pd

from hmpo.analysis.stage_plots import plot_training_curves
from hmpo.config import load_config
from hmpo.paths import train_results_dir
from hmpo.pipeline.environment import write_environment
from hmpo.pipeline.train_runs import train_seeds
from hmpo.training.methods import resolve_method
from hmpo.training.train_log import load_train_log

cfg = load_config(params_path, profile=profile)
run = resolve_method(cfg, method)  # the first base seed's budget (budget_percentile), RL steps
print(f"{method}: {run.spec}, {run.cfg.train.max_steps} rollout steps, "
      f"seeds {run.cfg.train.seeds}")
runs = train_seeds(cfg, method)  # each seed from its base model, with that base's budget
write_environment(train_results_dir(method) / "environment.json")  # versions, CPU, pins
pd.DataFrame({run: {k: v for k, v in m.items() if not isinstance(v, (dict, list))}
              for run, m in runs.items()})

# %% [markdown]
# ## Training curves
# Mean completion length, share of correct rollouts and the group budget b (the median length
# of the correct rollouts; logged for every method as a diagnostic) per rollout step, one
# faint line per seed and their smoothed mean.

# %%
logs = {name: load_train_log(train_results_dir(method, seed))
        for name, seed in zip(runs, run.cfg.train.seeds, strict=True)}
plot_training_curves({method: logs})

# %%
pd.concat({name: log.tail(3) for name, log in logs.items()})

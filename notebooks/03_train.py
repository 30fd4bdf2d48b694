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
# # 03 · Train one method (stage `train`, one run per method)
#
# GRPO from `models/base` on `data/processed/train.jsonl`, with the reward of `method`
# (`methods.<method>` in params.yaml: HMPO or one of the peer length rewards;
# `multistage` = sample, SFT on the shortest correct solutions, then GRPO). The computation is
# `hmpo.train.train_method`; it writes `models/<method>/` and `results/train/<method>/`
# (metrics.json with wall / CPU seconds, per-step dvclive logs under `live/`).
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

from hmpo.config import load_config
from hmpo.plots import plot_training_curves
from hmpo.report import load_train_log
from hmpo.train import train_method

cfg = load_config(params_path, profile=profile)
print(f"{method}: {cfg.methods[method]}" if method in cfg.methods else method)
metrics = train_method(cfg, method, model_dir="models/base",
                       train_path="data/processed/train.jsonl",
                       out_dir=f"models/{method}", results_dir=f"results/train/{method}")
pd.Series({k: v for k, v in metrics.items() if not isinstance(v, (dict, list))})

# %% [markdown]
# ## Training curves
# Mean completion length, share of correct rollouts and the group budget b (the median length
# of the correct rollouts; logged for every method as a diagnostic) per rollout step.

# %%
log = load_train_log(f"results/train/{method}")
plot_training_curves({method: log})

# %%
log.tail()

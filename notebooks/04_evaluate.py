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
# # 04 · Evaluate one model (stage `evaluate`, one run per model)
#
# `model` = "base" or a method. For every set in `evaluate.sets`, `hmpo.evaluate.evaluate_model`
# samples `evaluate.n_samples` completions per problem (the same seed for every model),
# verifies them and writes `results/evaluate/<model>/metrics/<set>.json` (accuracy, mean and
# median tokens, bootstrap 95% CIs over problems, per-difficulty breakdown) and
# `results/evaluate/<model>/samples/<set>.jsonl` (every sample).
#
# Pipeline: `dvc repro evaluate@hmpo`. Here: set `model`, run top to bottom.

# %% tags=["parameters"]
params_path = "params.yaml"
profile = None  # None: the `profile` key of params.yaml (e.g. "smoke")
model = "base"

# %%
import os
from pathlib import Path

if not Path(params_path).exists() and Path("..", params_path).exists():
    os.chdir("..")  # JupyterLab starts the kernel in notebooks/; all paths are repo-relative

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import display

from hmpo.config import load_config, write_resolved
from hmpo.evaluate import eval_paths, evaluate_model, model_dir_for
from hmpo.plots import plot_difficulty_lengths

cfg = load_config(params_path, profile=profile)
out_dir = f"results/evaluate/{model}"
model_dir = model_dir_for(cfg, model)
write_resolved(cfg, out_dir)
metrics = {s: evaluate_model(cfg, model_dir, s, out_dir=out_dir) for s in cfg.evaluate.sets}
pd.DataFrame({s: {k: m[k] for k in ("n_problems", "accuracy", "accuracy_ci", "mean_tokens",
                                    "mean_tokens_ci", "median_tokens", "finished_rate")}
              for s, m in metrics.items()}).T

# %% [markdown]
# ## Length and accuracy per difficulty

# %%
for s, m in metrics.items():
    display(plot_difficulty_lengths({model: m["by_difficulty"]}, s))

# %% [markdown]
# ## A few samples

# %%
samples = pd.read_json(eval_paths(out_dir, cfg.evaluate.sets[0])[1], lines=True)
with pd.option_context("display.max_colwidth", 200):
    display(samples[["id", "sample", "n_tokens", "correct", "completion"]].head(6))

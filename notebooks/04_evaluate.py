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
# # 04 · Evaluate one model (stage `evaluate`, one stage per model, every training seed)
#
# `model` = "base" or a method. For every run of the model (the base model, or one run per
# training seed) and every set in `evaluate.sets`, `hmpo.evaluation.evaluate.evaluate_model`
# samples `evaluate.n_samples` completions per problem (the same problems and sampling seed for
# every model, so comparisons are paired) and writes
# `results/evaluate/<model>[/seed<s>]/metrics/<set>.json` (accuracy, mean and median tokens,
# bootstrap 95% CIs over problems, per-difficulty breakdown) and
# `.../samples/<set>.jsonl` (every sample). `hmpo.pipeline.eval_runs.evaluate_runs` runs them
# `workers` at a time; each run's console output goes to `.../logs/<set>.log`.
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

from hmpo.analysis.stage_plots import plot_difficulty_lengths
from hmpo.config import load_config, write_resolved
from hmpo.evaluation.evaluate import eval_paths
from hmpo.paths import eval_results_dir
from hmpo.pipeline.environment import write_environment
from hmpo.pipeline.eval_runs import eval_run_dir, evaluate_runs

cfg = load_config(params_path, profile=profile)
write_resolved(cfg, eval_results_dir(model))
runs = evaluate_runs(cfg, model)
write_environment(eval_results_dir(model) / "environment.json")  # versions, CPU, numerics pins
pd.DataFrame({(run, s): {k: m[k] for k in ("n_problems", "accuracy", "accuracy_ci", "mean_tokens",
                                           "mean_tokens_ci", "median_tokens", "finished_rate")}
              for run, per_set in runs.items() for s, m in per_set.items()}).T

# %% [markdown]
# ## Length and accuracy per difficulty (first run)

# %%
first = next(iter(runs))
for s, m in runs[first].items():
    display(plot_difficulty_lengths({f"{model} {first}": m["by_difficulty"]}, s))

# %% [markdown]
# ## A few samples

# %%
samples = pd.read_json(eval_paths(eval_run_dir(model, first), cfg.evaluate.sets[0])[1], lines=True)
with pd.option_context("display.max_colwidth", 200):
    display(samples[["id", "sample", "n_tokens", "finished", "correct", "completion"]].head(6))

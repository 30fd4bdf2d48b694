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
# # 02b · Base model (stage `base_model`)
#
# HMPO starts from a reasoning model that is RL-trained and thinks too long.
# `hmpo.pipeline.base_runs.base_models` makes one per base seed
# (`hmpo.training.base_model.make_base_model`): the SFT model
# (notebook 02a) after GRPO on correctness alone until its accuracy has flattened (at least
# `base_model.rl_steps` rollout steps, then checked every `rl_check_steps`); each
# training seed's runs of every method, the fixed budgets and the `grpo` control start from
# its own (`base_model.per_seed`; else from one shared base). Then the stage measures each
# (the style table per difficulty, which stage `predictions` reads, notebook 02c) and its
# fixed budgets.
#
# Pipeline: `dvc repro base_model`. Here: run top to bottom.

# %% tags=["parameters"]
params_path = "params.yaml"
profile = None  # None: the `profile` key of params.yaml (e.g. "smoke")

# %%
import os
from pathlib import Path

if not Path(params_path).exists() and Path("..", params_path).exists():
    os.chdir("..")  # JupyterLab starts the kernel in notebooks/; all paths are repo-relative

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import Markdown, display

from hmpo import paths
from hmpo.analysis.stage_plots import plot_styles, style_tables
from hmpo.config import load_config
from hmpo.pipeline.base_runs import base_models
from hmpo.pipeline.environment import write_environment

cfg = load_config(params_path, profile=profile)
bases = base_models(cfg)  # models/sft/seed<b> -> models/base/seed<b>, results/base_model
write_environment(paths.results_dir("base_model") / "environment.json")  # versions, CPU, pins
pd.DataFrame({run: {k: v for k, v in b.metrics.get("rl", {}).items() if not isinstance(v, dict)}
              for run, b in bases.items()})

# %% [markdown]
# ## The base model's RL: has its accuracy curve flattened?
# Training accuracy and completion length per rollout step, one faint line per base seed and
# their smoothed mean; `flatness` compares the last quarter of each run with the quarter
# before it (`hmpo.training.base_model.flatness`).

# %%
if all("rl" in b.metrics for b in bases.values()):
    from hmpo.analysis.stage_plots import plot_training_curves
    from hmpo.training.train_log import load_train_log

    display(plot_training_curves({"base model RL": {
        int(run.removeprefix("seed")): load_train_log(b.results_dir / "rl")
        for run, b in bases.items()}}))
    display(pd.DataFrame({run: b.metrics["rl"]["flatness"] for run, b in bases.items()}))

# %% [markdown]
# ## Fixed budgets for the `hmpo_fixed_p*` methods
# Percentiles of the lengths of the base model's *correct* responses on training prompts
# (`hmpo.models.fixed_budgets`; the median of all responses would be pulled down by short
# wrong ones).

# %%
pd.DataFrame({run: {**b.budgets["budgets_tokens"], "correct_share": b.budgets["correct_share"],
                    "median_tokens_all": b.budgets["median_tokens_all"]}
              for run, b in bases.items()})

# %% [markdown]
# ## Trace styles of the base model
# Per difficulty (number of operations k) and style: share of samples, accuracy, mean tokens
# (`verbose` / `minimal` write every step, `early` answers after fewer step lines than k);
# then the teacher-forced accuracy of an early answer by the operations it absorbs. One block
# per base seed.

# %%
for run, b in bases.items():
    ev = b.metrics.get("eval", {})
    if "styles" in ev:
        tables = style_tables(ev)
        display(Markdown(f"**{run}**"), tables["styles"], tables["early_answer"])
        display(plot_styles(ev["styles"]))

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
# `hmpo.training.base_model.make_base_model` makes it: the SFT model (notebook 02a) after
# `base_model.rl_steps` rollout steps of GRPO on correctness alone; every method, the fixed
# budgets and the `grpo` control start from it. Then the stage measures it (the style table
# per difficulty, which stage `predictions` reads, notebook 02c) and its fixed budgets.
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
from IPython.display import display

from hmpo.analysis.stage_plots import plot_styles
from hmpo.config import load_config
from hmpo.pipeline.environment import write_environment
from hmpo.training.base_model import make_base_model

cfg = load_config(params_path, profile=profile)
base = make_base_model(cfg)  # models/sft -> models/base, results/base_model, fixed budgets
write_environment(base.results_dir / "environment.json")  # versions, CPU, numerics pins
metrics, budgets = base.metrics, base.budgets
pd.Series({k: v for k, v in metrics.get("rl", {}).items() if not isinstance(v, dict)})

# %% [markdown]
# ## The base model's RL: has its accuracy curve flattened?
# Training accuracy per rollout step (smoothed); `flatness` compares the last quarter of the
# run with the quarter before it (`hmpo.training.base_model.flatness`).

# %%
if "rl" in metrics:
    from hmpo.training.train_log import load_train_log

    log = load_train_log(base.results_dir / "rl")
    log.plot(x="step", y=[c for c in ("accuracy", "completion_length") if c in log],
             subplots=True, figsize=(6, 4), title="base model's RL (GRPO, correctness only)")
    display(pd.Series(metrics["rl"]["flatness"]))

# %% [markdown]
# ## Fixed budgets for the `hmpo_fixed_p*` methods
# Percentiles of the lengths of the base model's *correct* responses on training prompts
# (`hmpo.models.fixed_budgets`; the median of all responses would be pulled down by short
# wrong ones).

# %%
pd.Series({**budgets["budgets_tokens"], "correct_share": budgets["correct_share"],
           "median_tokens_all": budgets["median_tokens_all"]})

# %% [markdown]
# ## Trace styles of the base model
# Per difficulty (number of operations k) and style: share of samples, accuracy, mean tokens
# (`verbose` / `minimal` write every step, `early` answers after fewer step lines than k);
# then the teacher-forced accuracy of an early answer by the operations it absorbs.

# %%
if "eval" in metrics and "styles" in metrics["eval"]:
    styles = metrics["eval"]["styles"]
    table = pd.DataFrame({(k, st): cell for k, per in styles.items() for st, cell in per.items()}).T
    table.index.names = ["difficulty", "style"]
    display(table[["share", "accuracy", "mean_tokens", "n"]].round(3))
    tf = metrics["eval"]["teacher_forced_lines"]
    display(pd.Series(tf["early_answer_by_absorbed"], name="early answer accuracy")
            .rename_axis("operations absorbed").round(3))
    display(plot_styles(styles))

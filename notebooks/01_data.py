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
# # 01 · Data (stage `data`)
#
# Writes every problem source in the shared schema (`id`, `source`, `prompt`, `answer`,
# `difficulty`, `split`) under `data/processed/<set>.jsonl`: the synthetic arithmetic task
# (train / held-out eval / harder transfer problems), reasoning-gym tasks, the local copies of
# the real benchmarks, and `train.jsonl` (the RL training set, decontaminated), plus
# `report.json` (counts, decontamination). The computation is `hmpo.task.data.prepare_data`.
#
# Pipeline: `dvc repro data`. Here: run top to bottom (the defaults read `params.yaml`).

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
import shutil

import pandas as pd

from hmpo.config import load_config, write_resolved
from hmpo.paths import data_dir, results_dir
from hmpo.pipeline.environment import write_environment
from hmpo.task.data import REPORT_FILE, prepare_data

cfg = load_config(params_path, profile=profile)
write_resolved(cfg, results_dir("data"))
write_environment(results_dir("data") / "environment.json")
report = prepare_data(cfg, out_dir=data_dir())
shutil.copy(data_dir() / REPORT_FILE, results_dir("data") / REPORT_FILE)  # small: in git
pd.Series(report["decontamination"])

# %% [markdown]
# ## What was written

# %%
sets = {p.stem: pd.read_json(p, lines=True) for p in sorted(data_dir().glob("*.jsonl"))}
pd.DataFrame({name: {"problems": len(df), "sources": ", ".join(sorted(df["source"].unique()))}
              for name, df in sets.items()}).T

# %% [markdown]
# ## Difficulty of the synthetic sets
# Difficulty = number of operations. The transfer set is harder than anything in training.

# %%
synthetic = {k: v for k, v in sets.items() if k.startswith("synthetic_")}
counts = pd.DataFrame({k: v["difficulty"].value_counts() for k, v in synthetic.items()}).fillna(0)
ax = counts.sort_index().plot.bar(figsize=(7, 3), xlabel="difficulty (operations)",
                                  ylabel="problems", title="Synthetic problems per difficulty")

# %% [markdown]
# ## A few training problems

# %%
sets["train"].head(5)

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
# # 02c · Predictions (stage `predictions`)
#
# What theory predicts each method will reach, from each base model's measured style table
# and fixed budgets alone (and their mean over the base seeds, which the runs' mean is
# checked against) (`hmpo.analysis.theory`: an invasion walk down each difficulty's
# ladder of styles, scored by the real reward code). Run **before any method is trained** and
# committed then; stage `figures` shows it beside the outcomes (`results/predictions.md`).
#
# Pipeline: `dvc repro predictions`. Here: run top to bottom.

# %% tags=["parameters"]
params_path = "params.yaml"
profile = None  # None: the `profile` key of params.yaml (e.g. "smoke")

# %%
import os
from pathlib import Path

if not Path(params_path).exists() and Path("..", params_path).exists():
    os.chdir("..")  # JupyterLab starts the kernel in notebooks/; all paths are repo-relative

# %%
import json

import pandas as pd

from hmpo import paths
from hmpo.analysis.theory import write_predictions
from hmpo.config import load_config

cfg = load_config(params_path, profile=profile)
metrics = json.loads((paths.results_dir("base_model") / "metrics.json").read_text())  # per seed
budgets = json.loads(paths.budgets_file().read_text())  # {"seed<b>": budgets}
predictions = write_predictions(cfg, metrics, budgets, paths.predictions_file())
print(predictions.get("why", f"{len(predictions['methods'])} methods predicted"))

# %% [markdown]
# ## Predicted endpoints (main set)
# Mean tokens and accuracy over the set's difficulty mix (the mean over base seeds, then each
# base seed's); per difficulty, the style each method is predicted to end in (styles that
# differ between base seeds are joined with `/`).

# %%
per_base = {run: b["methods"] for run, b in predictions.get("bases", {}).items()}
pd.concat({name: pd.DataFrame({m: {k: p.get(k) for k in ("tokens", "accuracy", "modelled")}
                               for m, p in methods.items()}).T
           for name, methods in {"mean": predictions.get("methods", {}), **per_base}.items()},
          axis=1)

# %%
pd.DataFrame({m: {k: v["name"] for k, v in p["by_difficulty"].items()}
              for m, p in predictions.get("methods", {}).items() if p.get("modelled")})

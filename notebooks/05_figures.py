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
# # 05 · Report and figures (stage `figures`)
#
# Collects every evaluation (every model, every training seed) and training cost and writes,
# with `hmpo.analysis.report.write_report`: `results/summary.json` (across-seed means, seed
# spread, CIs over problems and seeds; deterministic), `results/costs.json`, the results table
# (`results/results_table.{md,csv,tex}`), every method against hmpo as paired differences
# (`results/comparisons.{md,csv}`) and the claims table (`results/claims.{md,json}`: each
# paper claim reproduced / contradicted / inconclusive / untestable here, by rules stated
# before the results, from paired bootstraps over problems and seeds, with the changes made
# after seeing results from `docs/disclosures.yaml`). Then the flat headline
# metrics (`results/metrics/<model>.json`, what `dvc metrics show` prints) and the figures
# (`hmpo.analysis.plots`) into `results/figures/png/`.
#
# Pipeline: `dvc repro figures`. Here: run top to bottom once every model is evaluated.

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
from IPython.display import Image, Markdown, display

from hmpo.analysis.plots import plot_costs, plot_pareto, plot_reward_shape
from hmpo.analysis.report import table_markdown, write_report
from hmpo.analysis.stage_plots import plot_difficulty_lengths, plot_training_curves
from hmpo.config import load_config, write_resolved
from hmpo.evaluation.headline import write_headlines
from hmpo.paths import BASE, results_dir

cfg = load_config(params_path, profile=profile)
write_resolved(cfg, results_dir("figures"))
report = write_report(cfg, results_dir())
summary, costs = report["summary"], report["costs"]
# the flat headline numbers `dvc metrics show` prints (one small file per model)
write_headlines(summary, costs, results_dir("metrics"))

# %% [markdown]
# ## Results

# %%
Markdown(table_markdown(report["table"]))

# %% [markdown]
# ## The paper's claims at this scale

# %%
Markdown((results_dir() / "claims.md").read_text())

# %% [markdown]
# ## Predictions beside outcomes
# What theory predicted each method would reach, from the base model's style table, before
# any method was trained (`hmpo.analysis.theory`; stage base_model), beside what it reached.

# %%
if (results_dir() / "predictions.md").exists():
    display(Markdown((results_dir() / "predictions.md").read_text()))

# %% [markdown]
# ## Veiled problems
# Where a guess pays (a hidden factor makes the answer 0 with probability q): does each
# method keep reasoning or guess? (`hmpo.analysis.veiled`)

# %%
if (results_dir() / "veiled.md").exists():
    display(Markdown((results_dir() / "veiled.md").read_text()))

# %% [markdown]
# ## Figures

# %%
main = summary["main_set"]
by_difficulty = {m: report["evaluations"][m][main]["by_difficulty"]
                 for m in (BASE, "hmpo") if m in report["evaluations"]}
figures = {f"pareto_{s}": plot_pareto(summary, s) for s in summary["eval_sets"]}
# runs with steps_factor > 1 (e.g. a horizon check) get their own figure: on one axis with the
# shorter runs they would squeeze those into the first part
logs = report["train_logs"]
long_runs = [m for m in logs if cfg.methods[m].steps_factor > 1]
figures["training_curves"] = plot_training_curves({m: v for m, v in logs.items()
                                                   if m not in long_runs})
if long_runs:
    figures["training_curves_long"] = plot_training_curves({m: logs[m] for m in long_runs})
figures["difficulty_base_vs_hmpo"] = plot_difficulty_lengths(by_difficulty, main)
figures["reward_shape"] = plot_reward_shape().figure
figures["costs"] = plot_costs(costs)

png_dir = results_dir("figures") / "png"
png_dir.mkdir(parents=True, exist_ok=True)
for name, fig in figures.items():
    png = png_dir / f"{name}.png"
    fig.savefig(png, dpi=110, bbox_inches="tight", metadata={"Software": None})
    display(Image(filename=png))  # the file itself: drawn once, not again for the notebook

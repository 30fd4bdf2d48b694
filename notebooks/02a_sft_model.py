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
# # 02a · SFT model (stage `sft_model`)
#
# The model before the base model's RL. `hmpo.models.sft_model.make_sft_model` makes it: for
# the CPU profiles (`base_model.kind: tiny`) it SFT-trains a tiny Qwen3 on verbose traces of
# the synthetic task and measures it; a real pretrained model (`smollm2` / `pretrained`) is
# found and copied as is. The stage writes `models/sft/` (Hugging Face format) and
# `results/sft_model/`. The base model every method starts from is this model after its RL
# (notebook 02b, stage `base_model`); the SFT model stays in the results as the row `sft`.
#
# Pipeline: `dvc repro sft_model`. Here: run top to bottom.

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

from hmpo import paths
from hmpo.analysis.stage_plots import plot_styles
from hmpo.config import load_config
from hmpo.models.sft_model import make_sft_model
from hmpo.pipeline.environment import write_environment

cfg = load_config(params_path, profile=profile)
sft = make_sft_model(cfg)  # models/sft and results/sft_model
write_environment(sft.results_dir / "environment.json")  # versions, CPU, numerics pins
metrics = sft.metrics
{k: v for k, v in metrics.items() if not isinstance(v, dict)}

# %% [markdown]
# ## SFT loss

# %%
loss_csv = sft.results_dir / "sft_loss.csv"  # the tiny model's SFT only
if loss_csv.exists():
    loss = pd.read_csv(loss_csv)
    loss.plot(x="step", y="loss", logy=True, figsize=(6, 3), title="SFT loss (prompt masked)")

# %% [markdown]
# ## How good and how verbose is the SFT model?
# Sampled (T = 1) accuracy per difficulty on held-out problems and on the harder transfer set.
# The evaluate stage measures it again with the same protocol as every trained method.

# %%
pd.DataFrame({k: metrics[k]["accuracy_by_difficulty"] for k in ("eval", "transfer")
              if k in metrics}).rename_axis("difficulty")

# %%
pd.Series({k: v for k, v in metrics.get("eval", {}).items() if not isinstance(v, dict)})

# %% [markdown]
# ## Trace styles: the accuracy-length trade-off below the reliable trace
# Per difficulty (number of operations k) and per style of the sampled completions: share of
# samples, accuracy, mean tokens. `verbose` and `minimal` write every step; `early` answers
# after fewer step lines than k (0 lines = a direct answer), so its answer line absorbs the
# operations it skipped. Then the teacher-forced per-line accuracy of each style (the model
# fed the true trace: is its most likely state / answer digit right?) and, for early answers,
# by the number of operations the answer line absorbs: the structural limit.

# %%
if "eval" in metrics and "styles" in metrics["eval"]:
    styles = metrics["eval"]["styles"]
    table = pd.DataFrame({(k, st): cell for k, per in styles.items() for st, cell in per.items()}).T
    table.index.names = ["difficulty", "style"]
    display(table[["share", "accuracy", "mean_tokens", "n"]].round(3))
    tf = metrics["eval"]["teacher_forced_lines"]
    display(pd.DataFrame(tf["lines"]).rename_axis("difficulty").round(3))
    display(pd.Series(tf["early_answer_by_absorbed"], name="early answer accuracy")
            .rename_axis("operations absorbed").round(3))
    display(plot_styles(styles))

# %% [markdown]
# ## Two sampled completions

# %%
from hmpo.models.generate import sample
from hmpo.models.model import load_model
from hmpo.task.prompts import build_prompt

model, tokenizer = load_model(sft.model_dir)
question = pd.read_json(paths.data_file(cfg.evaluate.sets[0]), lines=True).iloc[0]
prompt = build_prompt(question["prompt"], cfg.base_model.prompt_style, tokenizer)
for c in sample(model, tokenizer, [prompt], n=2, max_new_tokens=cfg.evaluate.max_new_tokens,
                temperature=1.0, seed=cfg.seed, batch_size=2, progress=False)[0]:
    print(f"--- {c.n_tokens} tokens, gold {question['answer']}\n{prompt}{c.text}")

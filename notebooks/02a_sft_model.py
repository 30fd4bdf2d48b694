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
# The model before the base model's RL, one per base seed (`base_model.per_seed`: each training
# seed gets its own SFT and RL draw, so the intervals include the base model's variability).
# `hmpo.pipeline.base_runs.sft_models` makes them (`hmpo.models.sft_model.make_sft_model`
# for each): for the CPU profiles
# (`base_model.kind: tiny`) it SFT-trains a tiny Qwen3 on verbose traces of the synthetic task
# and measures it; a real pretrained model (`smollm2` / `pretrained`) is found and copied as
# is. The stage writes `models/sft/seed<b>/` (Hugging Face format) and `results/sft_model/`.
# The base model every method starts from is this model after its RL (notebook 02b, stage
# `base_model`); the SFT models stay in the results as the row `sft`.
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
from IPython.display import Markdown, display

from hmpo import paths
from hmpo.analysis.stage_plots import plot_styles, style_tables
from hmpo.config import load_config
from hmpo.pipeline.base_runs import sft_models
from hmpo.pipeline.environment import write_environment

cfg = load_config(params_path, profile=profile)
sfts = sft_models(cfg)  # models/sft/seed<b> and results/sft_model
write_environment(paths.results_dir("sft_model") / "environment.json")  # versions, CPU, pins
pd.DataFrame({run: {k: v for k, v in m.metrics.items() if not isinstance(v, dict)}
              for run, m in sfts.items()})

# %% [markdown]
# ## SFT loss, per base seed

# %%
loss_csv = paths.results_dir("sft_model") / "sft_loss.csv"  # the tiny model's SFT only
if loss_csv.exists():
    loss = pd.read_csv(loss_csv).pivot(index="step", columns="seed", values="loss")
    loss.plot(logy=True, figsize=(6, 3), title="SFT loss (prompt masked)")

# %% [markdown]
# ## How good and how verbose are the SFT models?
# Sampled (T = 1) accuracy per difficulty on held-out problems and on the harder transfer set,
# per base seed. The evaluate stage measures them again with the same protocol as every
# trained method.

# %%
pd.DataFrame({(run, k): m.metrics[k]["accuracy_by_difficulty"] for run, m in sfts.items()
              for k in ("eval", "transfer") if k in m.metrics}).rename_axis("difficulty")

# %%
pd.DataFrame({run: {k: v for k, v in m.metrics.get("eval", {}).items()
                    if not isinstance(v, dict)} for run, m in sfts.items()})

# %% [markdown]
# ## Trace styles: the accuracy-length trade-off below the reliable trace
# Per difficulty (number of operations k) and per style of the sampled completions: share of
# samples, accuracy, mean tokens. `verbose` and `minimal` write every step; `early` answers
# after fewer step lines than k (0 lines = a direct answer), so its answer line absorbs the
# operations it skipped. Then the teacher-forced per-line accuracy of each style (the model
# fed the true trace: is its most likely state / answer digit right?) and, for early answers,
# by the number of operations the answer line absorbs: the structural limit. One block per
# base seed.

# %%
for run, m in sfts.items():
    ev = m.metrics.get("eval", {})
    if "styles" in ev:
        display(Markdown(f"**{run}**"))
        for frame in style_tables(ev).values():
            display(frame)
        display(plot_styles(ev["styles"]))

# %% [markdown]
# ## Two sampled completions

# %%
from hmpo.models.generate import sample
from hmpo.models.model import load_model
from hmpo.task.prompts import build_prompt

model, tokenizer = load_model(next(iter(sfts.values())).model_dir)  # the first base seed's
question = pd.read_json(paths.data_file(cfg.evaluate.sets[0]), lines=True).iloc[0]
prompt = build_prompt(question["prompt"], cfg.base_model.prompt_style, tokenizer)
for c in sample(model, tokenizer, [prompt], n=2, max_new_tokens=cfg.evaluate.max_new_tokens,
                temperature=1.0, seed=cfg.seed, batch_size=2, progress=False)[0]:
    print(f"--- {c.n_tokens} tokens, gold {question['answer']}\n{prompt}{c.text}")

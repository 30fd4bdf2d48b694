"""Hand-made per-problem matrices and summaries shared by test_report.py and test_claims.py.

Matrices are ``{set: {"ids", model: {"accuracy", "tokens"}}}`` with (seeds x problems) arrays,
the input hmpo.analysis.report builds from the samples and hmpo.analysis.claims judges.
"""

import numpy as np

from hmpo.analysis.report import build_summary

N = 40  # problems per set


def const(value, n_seeds=1, n=N):
    """A zero-variance (seeds x problems) matrix: every problem and seed at ``value``."""
    return np.full((n_seeds, n), float(value))


def model(acc, tok, n_seeds=1):
    return {"accuracy": const(acc, n_seeds), "tokens": const(tok, n_seeds)}


def mats(set_name="synthetic_eval", **models):
    """{set: {"ids", model: {"accuracy", "tokens"}}} from {model: (acc, tok) or dict}."""
    per = {m: (v if isinstance(v, dict) else model(*v)) for m, v in models.items()}
    return {set_name: {"ids": [f"p{i}" for i in range(N)], **per}}


def summary_of(matrices, sets=None):
    """A summary whose per-set numbers are the matrices' means (one "run" per seed row)."""
    sets = sets or list(matrices)
    evals = {}
    for s in sets:
        for m, d in matrices[s].items():
            if m == "ids":
                continue
            runs = evals.setdefault(m, {})
            for i in range(d["accuracy"].shape[0]):
                run = "base" if m == "base" else str(i)
                runs.setdefault(run, {})[s] = {
                    "accuracy": float(d["accuracy"][i].mean()),
                    "mean_tokens": float(d["tokens"][i].mean()),
                    "median_tokens": float(np.median(d["tokens"][i])),
                    "finished_rate": 1.0, "n_problems": d["accuracy"].shape[1]}
    return build_summary(evals, profile="smoke", seed=0, sets=sets, matrices=matrices,
                         train_seeds=[0], n_boot=300)

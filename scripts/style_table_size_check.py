"""Would a larger style table have changed theory's predictions? A check run after the fact.

The predictions stage reads each base model's style table, measured on the first
``base_model.n_eval_problems`` main-set problems (200 in the default profile: about 30 samples
per veiled cell and style). This script re-measures the committed base models on ``--problems``
main-set problems (default: all 800) with the stage's own code (hmpo.models.sft.measure_synthetic,
the same seed and samples per problem), predicts every method again with the stage's own code
(hmpo.analysis.theory.write_predictions, the committed fixed budgets) and prints, per method,
the pre-registered prediction, the new one and the observed outcome (results/summary.json),
each with the pre-registered check (hmpo.analysis.theory.check). Then, per veiled cell, the
guess and reasoning rows of the two tables.

A third prediction ("draw-free") replaces each veiled cell's reasoning accuracy by
``(1 - q)·a_c + q·chance``, with ``a_c`` the share of its samples whose answer is the state
the prompt's visible operations give (``solve``): the accuracy the training distribution's
hidden factors give on average, instead of the one the few measured problems' own hidden
factors happen to give (a veiled cell of 16 problems can have 38% answers equal to the
computed state where 64% are expected). The guess rung already uses the population value.

Its predictions are made after the outcomes were seen, so they are not a pre-registered
test: they say whether the pre-registered misses came from the small table or from the
model of the task. It reads the pipeline's outputs (``dvc pull`` or ``make repro`` first)
and writes only to ``--out``.

    OMP_NUM_THREADS=1 python scripts/style_table_size_check.py --out /tmp/check.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hmpo import paths  # noqa: E402
from hmpo.analysis.theory import CHANCE, check, write_predictions  # noqa: E402
from hmpo.config import base_config, base_seeds, load_config  # noqa: E402
from hmpo.models.generate import sample  # noqa: E402
from hmpo.models.model import load_model  # noqa: E402
from hmpo.models.sft import load_problem_sets, measure_synthetic  # noqa: E402
from hmpo.task.synthetic import (  # noqa: E402
    cell_key,
    extract_answer,
    parse_cell,
    parse_prompt,
    solve,
    trace_style,
)

FULL = ("minimal", "verbose")  # the reasoning styles


def computed_answer_accuracy(cfg, model, tokenizer, records: list[dict]) -> dict:
    """Per veiled cell and reasoning style: ``(answers equal to the computed state, n)`` of
    the samples measure() draws (same seed, samples and batches; a sample cut at the token
    limit is wrong)."""
    b = cfg.base_model
    groups = sample(model, tokenizer, [r["prompt"] for r in records], n=b.n_eval_samples,
                    max_new_tokens=cfg.evaluate.max_new_tokens, temperature=1.0,
                    seed=cfg.seed, batch_size=cfg.evaluate.batch_size, progress=False)
    out: dict = {}
    for rec, group in zip(records, groups, strict=True):
        p = parse_prompt(rec["prompt"])
        if not p.veiled:
            continue
        computed = int(solve(rec["prompt"]))
        for c in group:
            style = trace_style(rec["prompt"], c.text)
            if style in FULL:
                hit = out.setdefault(cell_key(p.n_steps, True), {}).setdefault(style, [0, 0])
                hit[0] += bool(c.finished and extract_answer(c.text) == computed)
                hit[1] += 1
    return out


def draw_free(evaluation: dict, hits: dict, q: float) -> dict:
    """`evaluation` (measure_synthetic's ``eval``) with each veiled reasoning cell's accuracy
    replaced by ``(1 - q)·a_c + q·chance`` (``hits``: :func:`computed_answer_accuracy`)."""
    out = copy.deepcopy(evaluation)
    for cell, styles in hits.items():
        for style, (ok, n) in styles.items():
            row = out["styles"][cell][style]
            if row["n"] != n:
                raise RuntimeError(f"{cell}/{style}: {n} samples here, {row['n']} in the table")
            row["accuracy"] = (1 - q) * ok / n + q * CHANCE
    return out


def _fmt(p: dict | None) -> str:
    if not p or p.get("tokens") is None:
        return "–"
    return f"{p['tokens']:.1f} tok, {100 * p['accuracy']:.1f}%"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--problems", type=int, default=800, help="main-set problems measured")
    ap.add_argument("--out", type=Path, required=True, help="JSON of the tables and predictions")
    args = ap.parse_args(argv)

    cfg = load_config(args.params)
    big = copy.deepcopy(cfg)
    big.base_model.n_eval_problems = args.problems
    old_metrics = json.loads((paths.results_dir("base_model") / "metrics.json").read_text())
    budgets = json.loads(paths.budgets_file().read_text())
    pre = json.loads(paths.predictions_file().read_text())
    summary = json.loads(Path("results/summary.json").read_text())

    metrics, free = {}, {}
    q = cfg.data.synthetic.veil_zero_prob
    for b in base_seeds(cfg):
        bcfg = base_config(big, b)
        model, tok = load_model(paths.base_model_dir(b))
        sets = load_problem_sets(bcfg, paths.data_dir())
        sets["synthetic_transfer"] = []  # theory reads the main set's table only
        run = paths.seed_dir_name(b)
        metrics[run] = measure_synthetic(bcfg, model, tok, sets, progress=False)
        hits = computed_answer_accuracy(
            bcfg, model, tok, sets["synthetic_eval"][:args.problems])
        free[run] = {**metrics[run], "eval": draw_free(metrics[run]["eval"], hits, q)}
        print(f"base seed {b}: measured {args.problems} problems in "
              f"{metrics[run]['measure_seconds']} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    variants = {
        f"{cfg.base_model.n_eval_problems} problems (pre-registered)": pre,
        f"{args.problems} problems": write_predictions(
            cfg, metrics, budgets, args.out.with_suffix(".predictions.json")),
        f"{args.problems} problems, draw-free": write_predictions(
            cfg, free, budgets, args.out.with_suffix(".draw_free.predictions.json")),
    }

    main_set = pre.get("set", "synthetic_eval")
    print("\n| method | " + " | ".join(variants) + " | observed |")
    print("| --- |" + " --- |" * (len(variants) + 1))
    rows = []
    for name in pre.get("methods", {}):
        obs = summary["methods"].get(name, {}).get("sets", {}).get(main_set)
        o = {"tokens": obs["mean_tokens"], "accuracy": obs["accuracy"]} if obs else None
        row: dict = {"method": name, "observed": o, "predicted": {}, "verdict": {}}
        for label, preds in variants.items():
            p = preds["methods"].get(name, {})
            row["predicted"][label] = p
            row["verdict"][label] = (check(p, o["tokens"], o["accuracy"])
                                     if o and p.get("modelled") else "-")
        rows.append(row)
        print(f"| {name} | " + " | ".join(f"{_fmt(row['predicted'][v])} ({row['verdict'][v]})"
                                         for v in variants) + f" | {_fmt(o)} |")
    for label in variants:
        held = sum(r["verdict"][label] == "held" for r in rows)
        tested = sum(r["verdict"][label] in ("held", "failed") for r in rows)
        print(f"{label}: {held} of {tested} held")

    print("\nveiled cells, reasoning (minimal + verbose) and guess: share, accuracy, n "
          f"({cfg.base_model.n_eval_problems} -> {args.problems} problems)")
    cells = []
    for run, m in metrics.items():
        for key in sorted((k for k in m["eval"]["styles"] if k != "all"), key=parse_cell):
            if not parse_cell(key)[1]:
                continue
            row = {"base": run, "cell": key}
            for label, table in (("small", old_metrics[run]["eval"]["styles"].get(key, {})),
                                 ("large", m["eval"]["styles"][key]),
                                 ("draw_free", free[run]["eval"]["styles"][key])):
                full = [table[s] for s in ("minimal", "verbose") if s in table]
                n_full = sum(c["n"] for c in full)
                g = table.get("guess", {})
                row[label] = {
                    "reason_share": sum(c["share"] for c in full),
                    "reason_accuracy": (sum(c["accuracy"] * c["n"] for c in full) / n_full
                                        if n_full else None),
                    "reason_n": n_full, "guess_share": g.get("share", 0.0),
                    "guess_accuracy": g.get("accuracy"), "guess_n": g.get("n", 0)}
            cells.append(row)

            def f(d: dict) -> str:
                ra = "–" if d["reason_accuracy"] is None else f"{100 * d['reason_accuracy']:.0f}%"
                ga = "–" if d["guess_accuracy"] is None else f"{100 * d['guess_accuracy']:.0f}%"
                return (f"reason {100 * d['reason_share']:.0f}% acc {ra} (n {d['reason_n']}), "
                        f"guess {100 * d['guess_share']:.0f}% acc {ga} (n {d['guess_n']})")
            print(f"{run} {key}: {f(row['small'])}  ->  {f(row['large'])}; draw-free "
                  f"reasoning accuracy {100 * (row['draw_free']['reason_accuracy'] or 0):.0f}%")
    out = {"problems": args.problems, "methods": rows, "veiled_cells": cells}
    args.out.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

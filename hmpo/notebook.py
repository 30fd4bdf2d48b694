"""Run one pipeline notebook: its jupytext source, parameterised and executed by papermill.

    python -m hmpo.notebook notebooks/04_evaluate.py results/evaluate/hmpo/04_evaluate.ipynb \\
        -p model hmpo

This is every DVC stage's command. It reads the ``.py`` source (jupytext, percent format),
has papermill inject the parameters after the cell tagged ``parameters`` and execute the
notebook top to bottom in a fresh ``python3`` kernel (cell output logged as it runs), and
writes the executed copy to the output path, creating its folder. A failing cell exits
non-zero (papermill's ``PapermillExecutionError``), so DVC records nothing for the stage.

It does what ``jupytext --to ipynb --output - SRC | papermill - OUT -k python3 --language
python --log-output -p K V`` does, in one process: nbformat, which both tools import and which
takes ~1.5 s to import on this 2-core machine (its JSON-schema format checkers), loads once
per stage instead of twice.

The kernel starts with :data:`KERNEL_ENV` (unless the caller's environment already sets those
variables), which keeps the stderr noise of libraries out of the executed notebook a reviewer
reads: transformers' weight-loading / shard-writing progress bars and its advisory log lines,
and the warnings listed there. Our own progress bars (``tqdm.auto``: sampling, sft, data) stay
and render as widgets in JupyterLab (ipywidgets is pinned; without it tqdm falls back to text
and warns ``TqdmWarning: IProgress not found``); their text fallback, for viewers without
widgets, is rewritten to each bar's final state (:func:`final_bar_text`).
"""

from __future__ import annotations

import argparse
import contextlib
import html
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

#: Python warning filters (``-W`` syntax: action:message-prefix:category) for the kernel,
#: each one a warning seen in an executed smoke-profile notebook, none of which a reviewer can act
#: on. Commas separate them in PYTHONWARNINGS, so none may contain one.
KERNEL_WARNING_FILTERS = (
    # TRL 1.16's GRPOTrainer reads the attribute transformers 5.24 deprecated (trl/models/utils)
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning",
    # tqdm.auto without ipywidgets (e.g. an environment installed before it was pinned)
    "ignore:IProgress not found",
)

#: Environment of the notebook kernel (a variable already set by the caller wins).
KERNEL_ENV = {
    # transformers' own tqdm bars ("Loading weights", "Writing model shards") and those of
    # huggingface_hub / datasets: one per model load, dozens per notebook. Ours use
    # tqdm.auto directly and are not affected.
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    # transformers' advisory log lines, e.g. "mtime may not be reliable on this filesystem"
    # when the trainer sorts its checkpoints; errors still show
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "PYTHONWARNINGS": ",".join(KERNEL_WARNING_FILTERS),
}


@contextlib.contextmanager
def kernel_environment(extra: Mapping[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Set :data:`KERNEL_ENV` (and ``extra``) in ``os.environ`` for the block; restore after.

    The kernel is a child process and inherits this environment. A variable the caller has
    already set keeps its value (``TRANSFORMERS_VERBOSITY=info python -m hmpo.notebook ...``
    shows the log lines again); yields the variables actually set.
    """
    wanted = {**KERNEL_ENV, **(extra or {})}
    added = {k: v for k, v in wanted.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield added
    finally:
        for k in added:
            os.environ.pop(k, None)


def parse_value(text: str) -> Any:
    """A ``-p`` value as papermill's CLI reads it: True/False/None, an int, a float, else str.

    >>> [parse_value(v) for v in ("hmpo", "3", "0.5", "True", "None")]
    ['hmpo', 3, 0.5, True, None]
    """
    literals = {"True": True, "False": False, "None": None}
    if text in literals:
        return literals[text]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def final_bar_text(nb: Any) -> int:
    """Give each saved ``tqdm.auto`` widget bar a text fallback that shows its final state.

    A widget output carries a ``text/plain`` copy for viewers that cannot draw widgets (and
    for JupyterLab until the notebook's kernel is connected); tqdm writes it once, when the bar
    is created ("0%"). This rebuilds it from the widget state the executed notebook keeps
    (tqdm's box: description HTML, progress, postfix HTML), e.g. ``train hmpo: 100%|██████████|
    12/12 [00:09<00:00, 1.20s/step]``. Returns the number of outputs changed; other widgets
    are left alone.
    """
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})

    def model(ref: str) -> dict:
        return state.get(ref.removeprefix("IPY_MODEL_"), {})

    changed = 0
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if not view:
                continue
            kids = [model(c) for c in model(view.get("model_id", "")).get("state", {})
                    .get("children", [])]
            names = [k.get("model_name") for k in kids]
            if names != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
                continue
            left, bar, right = (k.get("state", {}) for k in kids)
            frac = min(1.0, bar.get("value", 0) / bar["max"]) if bar.get("max") else 0.0
            filled = round(10 * frac)
            text = (f"{html.unescape(left.get('value', ''))}|{'█' * filled}{' ' * (10 - filled)}|"
                    f"{html.unescape(right.get('value', ''))}").replace("\u2007", " ")
            out["data"]["text/plain"] = text
            changed += 1
    return changed


def run_notebook(source: str | Path, output: str | Path, parameters: dict[str, Any] | None = None,
                 *, kernel: str = "python3", log_output: bool = True,
                 progress_bar: bool = True) -> None:
    """Execute the jupytext notebook `source` with `parameters`; write it to `output`.

    Raises:
        FileNotFoundError: `source` does not exist.
        papermill.PapermillExecutionError: a cell raised (the message names the cell and the
            error; the partly executed notebook is still written to `output` for reading).
    """
    import jupytext
    import papermill

    src = Path(source)
    if not src.is_file():
        raise FileNotFoundError(f"notebook source {src}: not found")
    nb = jupytext.read(src)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    # shutdown_kernel="immediate": every output is collected by then, and a graceful shutdown
    # waits up to 2.5 s for a kernel holding torch threads or child processes to exit
    import nbformat

    done = None
    try:
        with kernel_environment():
            done = papermill.execute_notebook(nb, str(output), parameters=parameters or {},
                                              kernel_name=kernel, language="python",
                                              log_output=log_output, progress_bar=progress_bar,
                                              shutdown_kernel="immediate")
    finally:
        # papermill returns the notebook it wrote; a failed run returns nothing, but its
        # partial notebook is written too: read it back, so its bars get the same text
        if done is None and Path(output).is_file():
            done = nbformat.read(str(output), as_version=4)
        if done is not None and final_bar_text(done):
            nbformat.write(done, str(output))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", help="the notebook's jupytext source, e.g. notebooks/03_train.py")
    p.add_argument("output", help="where the executed .ipynb goes (its folder is created)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="a papermill parameter (repeatable)")
    p.add_argument("-k", "--kernel", default="python3")
    a = p.parse_args(argv)
    params = {name: parse_value(value) for name, value in a.parameter}
    try:
        run_notebook(a.source, a.output, params, kernel=a.kernel)
    except FileNotFoundError as e:
        print(f"hmpo.notebook: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

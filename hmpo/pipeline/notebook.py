"""Run one pipeline notebook: its jupytext source, parameterised and executed by papermill.

    python -m hmpo.pipeline.notebook notebooks/04_evaluate.py \\
        results/evaluate/hmpo/04_evaluate.ipynb -p model hmpo

This is every DVC stage's command. It reads the ``.py`` source (jupytext, percent format),
has papermill inject the parameters after the cell tagged ``parameters`` and execute the
notebook top to bottom in a fresh ``python3`` kernel (cell output logged as it runs), and
writes the executed copy to the output path, creating its folder. A failing cell exits
non-zero (papermill's ``PapermillExecutionError``), so DVC records nothing for the stage.

It does what ``jupytext --to ipynb --output - SRC | papermill - OUT -k python3 --language
python --log-output -p K V`` does, in one process, with less start-up per stage (a smoke-profile
stage is mostly start-up): nbformat, which both tools import, loads once instead of twice; its
JSON-schema validator loads without the optional ``rfc3987_syntax`` grammar, 1.5 s of import
(:data:`RUNNER_SKIPS`); and the kernel is launched before those imports, so it boots on the
other core meanwhile. The data stage of the smoke profile took 5.0 s instead of 7.6 s (medians
of 5 runs, 2026-12-02).

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

from jupyter_client.manager import AsyncKernelManager

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
    already set keeps its value (``TRANSFORMERS_VERBOSITY=info python -m hmpo.pipeline.notebook
    ...`` shows the log lines again); yields the variables actually set.
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


@contextlib.contextmanager
def imports_without(*optional: str) -> Iterator[None]:
    """Within the block, ``import`` of each not yet imported module in `optional` fails.

    For optional dependencies that a library probes with ``try: import X except
    ImportError``, so the probe falls back instead of paying X's import. After the block
    the modules import normally again (the probe has run by then).
    """
    blocked = [name for name in optional if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # "import name" raises ImportError
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


#: Optional modules the runner's imports need not load. jsonschema (nbformat validates
#: notebooks with it) probes ``rfc3987_syntax`` for its "iri" format checks, and that module
#: builds a grammar at import: 1.5 of the 2 s that jupytext + papermill + nbformat took to
#: import on this 2-core machine, once per stage. Neither notebook schema uses an "iri" format.
RUNNER_SKIPS = ("rfc3987_syntax",)


class RunnerKernelManager(AsyncKernelManager):
    """A kernel manager that keeps the clients made for it (``clients``), so that
    :func:`stop_kernel` can close them: nbclient closes its client only on a kernel it started
    itself, and the runner starts the kernel (:func:`start_kernel`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clients: list[Any] = []

    def client(self, **kwargs: Any) -> Any:
        kc = super().client(**kwargs)
        self.clients.append(kc)
        return kc


def start_kernel(kernel: str) -> RunnerKernelManager:
    """Launch kernel `kernel` now and return its (async) kernel manager, without waiting.

    The kernel process boots on the other core while the runner imports jupytext and
    papermill; papermill (nbclient) then connects to it and waits until it is ready.
    """
    from jupyter_core.utils import run_sync

    km = RunnerKernelManager(kernel_name=kernel)
    run_sync(km.start_kernel)()
    return km


def stop_kernel(km: Any) -> None:
    """Close the clients of the kernel :func:`start_kernel` launched, kill the kernel (if
    still alive) and remove its files.

    Immediate: every output is collected by then, and a graceful shutdown waits up to 2.5 s
    for a kernel holding torch threads or child processes to exit.
    """
    from jupyter_core.utils import run_sync

    try:
        for kc in km.clients:
            kc.stop_channels()
        if run_sync(km.is_alive)():
            run_sync(km.shutdown_kernel)(now=True)
    finally:
        run_sync(km.cleanup_resources)()


def run_notebook(source: str | Path, output: str | Path, parameters: dict[str, Any] | None = None,
                 *, kernel: str = "python3", log_output: bool = True,
                 progress_bar: bool = True) -> None:
    """Execute the jupytext notebook `source` with `parameters`; write it to `output`.

    The kernel is launched first (:func:`start_kernel`) so that it boots while this process
    imports jupytext and papermill (:data:`RUNNER_SKIPS` left out); it is killed at the end,
    whatever happened.

    Raises:
        FileNotFoundError: `source` does not exist.
        papermill.PapermillExecutionError: a cell raised (the message names the cell and the
            error; the partly executed notebook is still written to `output` for reading).
    """
    src = Path(source)
    if not src.is_file():
        raise FileNotFoundError(f"notebook source {src}: not found")
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    done = None
    with kernel_environment():  # the kernel inherits it at launch
        km = start_kernel(kernel)
        try:
            with imports_without(*RUNNER_SKIPS):
                import jupytext
                import nbformat
                import papermill

            nb = jupytext.read(src)
            try:
                done = papermill.execute_notebook(nb, str(output), parameters=parameters or {},
                                                  kernel_name=kernel, language="python",
                                                  log_output=log_output,
                                                  progress_bar=progress_bar, km=km)
            finally:
                # papermill returns the notebook it wrote; a failed run returns nothing, but
                # its partial notebook is written too: read it back, so its bars get the same
                # text
                if done is None and Path(output).is_file():
                    done = nbformat.read(str(output), as_version=4)
                if done is not None and final_bar_text(done):
                    nbformat.write(done, str(output))
        finally:
            stop_kernel(km)


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
        print(f"hmpo.pipeline.notebook: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

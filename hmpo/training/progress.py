"""Progress of a job that may run in another process, for the one bar a notebook shows.

A stage runs its seeds' jobs through :func:`hmpo.pipeline.pool.run_jobs`, in this process or in
worker processes. Inside a job, code reports work done with :func:`advance` (the trainer does
so once per rollout step, :class:`hmpo.training.callbacks.StepProgress`); ``run_jobs`` points
the sink at its progress bar (one process) or at a queue the parent drains into that bar
(workers). With no sink (a job called directly, a test) :func:`advance` does nothing.

Each job's console output goes to its own log file (:func:`output_to`), so the notebook shows
one bar per stage, not the interleaved per-step prints of three trainers.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

_sink: Callable[[int], None] | None = None


def advance(n: int = 1) -> None:
    """Report `n` units of work done (rollout steps, runs) to the current sink, if any."""
    if _sink is not None and n > 0:
        _sink(n)


@contextlib.contextmanager
def reporting_to(sink: Callable[[int], None] | None) -> Iterator[None]:
    """:func:`advance` calls inside the block go to ``sink(n)``; the previous sink after."""
    global _sink
    previous, _sink = _sink, sink
    try:
        yield
    finally:
        _sink = previous


@contextlib.contextmanager
def output_to(path: str | Path) -> Iterator[Path]:
    """Append everything the block prints to `path`: ``sys.stdout``/``sys.stderr`` and the
    process's file descriptors 1 and 2 (what C code, subprocesses and libraries holding the
    original streams write). Both are restored after the block, even when it raises.

    A Jupyter kernel forwards its file descriptors into the notebook, so without this the
    trainers' per-step log lines of every seed would flood the executed notebook.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1, encoding="utf-8") as f:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            with contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
                yield path
        finally:
            f.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])

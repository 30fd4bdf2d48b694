"""The process pool of a stage: one job per seed (or per run and set), `workers` at a time.

DVC runs stages one at a time, so the parallelism lives inside a stage: ``workers`` processes
(3 on the 2-core CPU, one torch thread each) take the jobs of one stage
(:mod:`hmpo.pipeline.train_runs`, :mod:`hmpo.pipeline.eval_runs`). The workers are forked from
a forkserver that imported the stage's heavy modules once (``preload``). A stage shows one
progress bar (rollout steps of all seeds, or evaluation runs); every job's console output goes
to its own log file, not to the notebook.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing as mp
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from queue import Empty
from typing import Any

from tqdm.auto import tqdm

from hmpo.training.progress import output_to, reporting_to


class _Tally:
    """The bar of :func:`run_jobs`: each job's reported units, capped at its share."""

    def __init__(self, bar: Any, units: Sequence[int]):
        self.bar, self.units, self.done = bar, list(units), [0] * len(units)

    def add(self, i: int, n: int) -> None:
        n = min(n, self.units[i] - self.done[i])  # late ticks after the job ended are dropped
        if n > 0:
            self.done[i] += n
            self.bar.update(n)

    def finish(self, i: int) -> None:
        """Top the job up to its share (a resumed or finished run reports fewer steps)."""
        self.add(i, self.units[i] - self.done[i])


_queue: Any = None  # in a worker process: where advance() ticks go (set by _init_worker)


def _init_worker(queue: Any) -> None:
    global _queue
    _queue = queue


def _tick_queue(index: int, n: int) -> None:
    _queue.put((index, n))


def _call(fn: Callable[..., Any], job: dict[str, Any], index: int, log: str | None,
          sink: Callable[[int], None] | None = None) -> Any:
    """Run one job, its progress to `sink` (in a worker: the parent's queue), its console
    output to `log` (traceback included when it fails)."""
    if sink is None and _queue is not None:
        sink = functools.partial(_tick_queue, index)
    with contextlib.ExitStack() as stack:
        stack.enter_context(reporting_to(sink))
        if log is not None:
            stack.enter_context(output_to(log))
        try:
            return fn(**job)
        except BaseException:
            if log is not None:
                traceback.print_exc()
            raise


def worker_context(preload: Sequence[str] = ()) -> Any:
    """The multiprocessing context of :func:`run_jobs`' workers: ``forkserver``, whose server
    process imports `preload` (plus this module) before it forks any worker.

    A process has one server, started by its first pool with the preload of that time;
    modules that later calls name are imported by their workers themselves (only slower).
    """
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, *preload])
    return ctx


def _drain(queue: Any, tally: _Tally) -> None:
    while True:
        try:
            i, n = queue.get_nowait()
        except Empty:
            return
        tally.add(i, n)


def run_jobs(fn: Callable[..., Any], jobs: Sequence[dict[str, Any]], *, workers: int,
             desc: str, progress: bool = True, logs: Sequence[str | Path] | None = None,
             units: Sequence[int] | None = None, unit: str = "run",
             preload: Sequence[str] = ()) -> list[Any]:
    """``[fn(**job) for job in jobs]``, in order, on up to `workers` processes, one bar.

    One worker runs the jobs in this process (no start-up cost, exceptions as they are). More
    workers are forked from a ``forkserver`` process that imported the `preload` modules once
    (e.g. torch + TRL, ~9 s each time a process imports them) and never ran a torch op, so no
    worker inherits a thread pool (forking a process that holds torch's thread pools can hang,
    which is why the stage's own process is never forked); `fn` must be importable (a
    module-level function of hmpo). A failed job re-raises its exception here after the others
    have finished, naming the job and its log.

    ``logs[i]``: job i's console output (stdout, stderr, file descriptors 1 and 2) is appended
    there instead of reaching the notebook (:func:`hmpo.training.progress.output_to`). ``units[i]``:
    the bar counts job i as that many `unit`s, reported from inside the job with
    :func:`hmpo.training.progress.advance` (e.g. rollout steps) and topped up when it ends; without
    `units` a job is one unit, counted when it ends.
    """
    if logs is not None and len(logs) != len(jobs):
        raise ValueError(f"logs: {len(logs)} paths for {len(jobs)} jobs")
    if units is not None and len(units) != len(jobs):
        raise ValueError(f"units: {len(units)} values for {len(jobs)} jobs")
    shares = list(units) if units is not None else [1] * len(jobs)
    log_of = [str(p) for p in logs] if logs is not None else [None] * len(jobs)
    bar = tqdm(total=sum(shares), desc=desc, unit=unit, disable=not progress)
    tally = _Tally(bar, shares)
    if workers <= 1 or len(jobs) <= 1:
        out = []
        for i, job in enumerate(jobs):
            out.append(_call(fn, job, i, log_of[i], functools.partial(tally.add, i)))
            tally.finish(i)
        bar.close()
        return out
    results: list[Any] = [None] * len(jobs)
    errors = []
    ctx = worker_context(preload)
    queue = ctx.Queue()
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx,
                             initializer=_init_worker, initargs=(queue,)) as pool:
        futures = {pool.submit(_call, fn, job, i, log_of[i]): i for i, job in enumerate(jobs)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            _drain(queue, tally)
            for fut in done:
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except Exception as e:  # noqa: BLE001 - re-raised below with the job named
                    errors.append((i, e))
                tally.finish(i)
    queue.close()
    bar.close()
    if errors:
        i, e = errors[0]
        where = f" (log: {log_of[i]})" if log_of[i] else ""
        raise RuntimeError(f"{len(errors)} of {len(jobs)} runs failed; first: {jobs[i]}{where}: "
                           f"{type(e).__name__}: {e}") from e
    return results

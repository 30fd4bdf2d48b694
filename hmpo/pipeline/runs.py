"""Training seeds: one stage trains (or evaluates) a method once per seed, runs in parallel.

Seed-to-seed differences of an RL run are larger than one run's bootstrap CI over problems
(NOTES.md: 3-6 accuracy points between two seeds on the same base model), so every trained
method runs once per seed of ``train.seeds`` and the statistics (hmpo.analysis.stats, hmpo.analysis.report)
combine seeds and problems. DVC runs stages one at a time, so the parallelism lives here,
inside a stage: ``workers`` processes (3 on the 2-core CPU, one torch thread each) take the
(seed, ...) jobs of one stage.

Layout (``<s>`` = a training seed; ``base`` is one run, without seed folders)::

    models/<method>/seed<s>/                      hmpo.training.grpo output (checkpoints, final model)
    results/train/<method>/seed<s>/metrics.json   + live/ (per-step dvclive logs), train.log
    results/evaluate/<method>/seed<s>/{metrics,samples,logs}/<set>.{json,jsonl,log}
    results/evaluate/base/{metrics,samples,logs}/<set>.{json,jsonl,log}

A stage shows one progress bar (rollout steps of all seeds, or evaluation runs); every run's
console output goes to its log file (``train.log``, ``logs/<set>.log``), not to the notebook.

The top-level ``seed`` keeps fixing the data, the base model and the evaluation samples (every
model is evaluated on the same problems with the same sampling seed: comparisons are paired);
``train.seeds`` seed the RL runs (:func:`seed_config` sets ``cfg.seed`` of the training run).

Run from the repository root::

    python -c "from hmpo.config import load_config; from hmpo.pipeline.runs import train_seeds; \\
               train_seeds(load_config(), 'hmpo')"
"""

from __future__ import annotations

import contextlib
import copy
import functools
import multiprocessing as mp
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from queue import Empty
from typing import Any

from tqdm.auto import tqdm

from hmpo.config import Config
from hmpo.training.progress import output_to, reporting_to

BASE = "base"
TRAIN_LOG = "train.log"  # a run's console output, beside its metrics.json
# what the stages' worker processes import before their first job (:func:`worker_context`)
TRAIN_PRELOAD = ("hmpo.training.methods",)  # torch, transformers, TRL, peft: ~9 s a process
# evaluate_model's lazy imports (hmpo.models.model brings torch and transformers)
EVALUATE_PRELOAD = ("hmpo.evaluation.evaluate", "hmpo.models.generate", "hmpo.models.model", "hmpo.task.verify")


def run_name(seed: int) -> str:
    """Folder name of one training seed's run."""
    return f"seed{seed}"


def model_run_dirs(cfg: Config, model: str, models_dir: str | Path = "models") -> dict[str, Path]:
    """``{run: model folder}``: ``{"base": models/base}`` or ``{"seed<s>": models/<m>/seed<s>}``."""
    if model == BASE:
        return {BASE: Path(models_dir) / BASE}
    if model not in cfg.methods:
        raise ValueError(f"model: {model!r} is neither 'base' nor a method "
                         f"(known: {', '.join(cfg.methods)})")
    return {run_name(s): Path(models_dir) / model / run_name(s) for s in cfg.train.seeds}


def eval_run_dir(model: str, run: str, results_dir: str | Path = "results") -> Path:
    """Where one run's evaluation goes: results/evaluate/<model>[/seed<s>]."""
    root = Path(results_dir) / "evaluate" / model
    return root if run == BASE else root / run


def seed_config(cfg: Config, seed: int) -> Config:
    """A copy of `cfg` whose ``seed`` is the training seed (data/eval files are already made)."""
    out = copy.deepcopy(cfg)
    out.seed = seed
    return out


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


# --------------------------------------------------------------------------- stage bodies
def _train_one(cfg: Config, method: str, seed: int, model_dir: str, train_path: str,
               models_dir: str, results_dir: str, budgets_path: str) -> dict[str, Any]:
    from hmpo.training.methods import train_method

    run = run_name(seed)
    # progress=False: the trainer's own bars and per-step prints go to the run's log; the
    # stage's bar counts the run's rollout steps (hmpo.training.grpo.StepProgress)
    return train_method(seed_config(cfg, seed), method, model_dir=model_dir,
                        train_path=train_path, out_dir=str(Path(models_dir) / method / run),
                        results_dir=str(train_run_dir(method, run, results_dir)),
                        progress=False, budgets_path=budgets_path)


def train_run_dir(method: str, run: str, results_dir: str | Path = "results") -> Path:
    """Where one training run's metrics, per-step logs and console log (train.log) go."""
    return Path(results_dir) / "train" / method / run


def train_seeds(cfg: Config, method: str, *, model_dir: str = "models/base",
                train_path: str = "data/processed/train.jsonl", models_dir: str = "models",
                results_dir: str = "results", budgets_path: str | Path | None = None,
                progress: bool = True) -> dict[str, dict[str, Any]]:
    """Train `method` once per seed of ``train.seeds`` (``workers`` at a time).

    One bar counts the rollout steps of all seeds; each run's console output (the trainer's
    per-step log lines, warnings) goes to ``results/train/<m>/seed<s>/train.log``. Returns
    ``{"seed<s>": metrics}`` (each also in results/train/<m>/seed<s>/metrics.json).
    """
    seeds = cfg.train.seeds
    # each run's train_method resolves the method (steps and budget) from the unresolved cfg;
    # resolving it here too sizes the bar and stops a fixed-budget method without its
    # budgets.json before any worker starts, with resolve_method's own error
    from hmpo.training.methods import resolve_method

    steps = resolve_method(cfg, method, budgets_path).train.max_steps
    jobs = [dict(cfg=cfg, method=method, seed=s, model_dir=model_dir, train_path=train_path,
                 models_dir=models_dir, results_dir=results_dir, budgets_path=str(budgets_path))
            for s in seeds]
    logs = [train_run_dir(method, run_name(s), results_dir) / TRAIN_LOG for s in seeds]
    out = run_jobs(_train_one, jobs, workers=cfg.workers, desc=f"train {method}",
                   progress=progress, logs=logs, units=[steps] * len(jobs) if steps > 0 else None,
                   unit="step" if steps > 0 else "run", preload=TRAIN_PRELOAD)
    return {run_name(s): m for s, m in zip(seeds, out, strict=True)}


def _evaluate_one(cfg: Config, model_dir: str, set_name: str, out_dir: str,
                  data_dir: str, progress: bool) -> dict[str, Any]:
    from hmpo.evaluation.evaluate import evaluate_model

    return evaluate_model(cfg, model_dir, set_name, out_dir=out_dir, data_dir=data_dir,
                          progress=progress)


def evaluate_runs(cfg: Config, model: str, *, models_dir: str = "models",
                  results_dir: str = "results", data_dir: str = "data/processed",
                  progress: bool = True) -> dict[str, dict[str, dict[str, Any]]]:
    """Evaluate every run of `model` on every set of ``evaluate.sets`` (``workers`` at a time).

    Every run uses the evaluation seed (top-level ``seed``), so all models answer the same
    problems with the same sampling stream. Each job's console output goes to
    ``<run folder>/logs/<set>.log``. Returns ``{run: {set: metrics}}``.
    """
    runs = model_run_dirs(cfg, model, models_dir)
    jobs, keys = [], []
    for run, mdir in runs.items():
        for s in cfg.evaluate.sets:
            keys.append((run, s))
            # per-sample bars only when runs go one at a time (parallel bars would interleave)
            jobs.append(dict(cfg=cfg, model_dir=str(mdir), set_name=s,
                             out_dir=str(eval_run_dir(model, run, results_dir)),
                             data_dir=data_dir, progress=progress and cfg.workers <= 1))
    logs = [Path(j["out_dir"]) / "logs" / f"{j['set_name']}.log" for j in jobs]
    out = run_jobs(_evaluate_one, jobs, workers=cfg.workers, desc=f"evaluate {model}",
                   progress=progress, logs=logs, preload=EVALUATE_PRELOAD)
    res: dict[str, dict[str, dict[str, Any]]] = {}
    for (run, s), m in zip(keys, out, strict=True):
        res.setdefault(run, {})[s] = m
    return res

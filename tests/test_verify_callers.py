"""hmpo.task.verify from every kind of caller: the sympy worker must never fail silently.

The worker is ``python -m hmpo.task.verify_worker`` (a subprocess with pipes), not a
``multiprocessing`` child, so it never re-imports the caller's ``__main__``. These tests run
``verify`` from a script piped to ``python -``, an unguarded script, a thread, a daemonic
process (what a DataLoader worker is) and a forked child, and check that a worker that cannot
start falls back to an in-process comparison (counted, logged once) instead of saying False.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_verify_callers.py -q
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import hmpo.task.verify as hv
import hmpo.task.verify_worker as vw

ROOT = Path(__file__).resolve().parents[1]

# The three cases (they were False from `python -`), then one only sympy can decide.
SYMBOLIC = [("\\boxed{x=3}", "3"), ("\\boxed{\\sqrt{2}}", "\\sqrt 2"), ("\\boxed{2^{10}}", "1024"),
            ("\\boxed{\\frac{\\sqrt{8}}{2}}", "\\sqrt 2")]

# An unguarded script: no `if __name__ == "__main__":`. A spawn child would re-run all of it.
SCRIPT = textwrap.dedent("""
    import sys
    from hmpo.task.verify import check, machinery_failures
    print("SCRIPT-BODY-RAN", flush=True)
    cases = [("\\\\boxed{x=3}", "3"), ("\\\\boxed{\\\\sqrt{2}}", "\\\\sqrt 2"),
             ("\\\\boxed{2^{10}}", "1024"), ("\\\\boxed{\\\\frac{\\\\sqrt{8}}{2}}", "\\\\sqrt 2")]
    verdicts = [check(c, g) for c, g in cases]
    print("VERDICTS", [(v.correct, v.method) for v in verdicts])
    print("FAILURES", sum(machinery_failures().values()))
""")


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120,
                          env=env, **kw)


def _assert_all_sympy_true(out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stderr
    verdicts = out.stdout.split("VERDICTS ", 1)[1].splitlines()[0]
    assert verdicts.startswith("[(True, "), out.stdout
    assert verdicts.count("(True, ") == 4, out.stdout  # every verdict right
    assert verdicts.endswith("(True, 'sympy')]"), out.stdout  # ... the last one by the worker
    assert "FAILURES 0" in out.stdout, out  # answered by the worker, not a fallback
    assert out.stdout.count("SCRIPT-BODY-RAN") == 1, out.stdout  # the script ran once
    assert "Traceback" not in out.stderr, out.stderr


def test_from_a_script_piped_to_python_stdin(tmp_path):
    """`python - < script.py`: a spawn child cannot import `<stdin>` (it died, verdict False)."""
    _assert_all_sympy_true(_run(["-"], input=SCRIPT, cwd=tmp_path))


def test_from_an_unguarded_script(tmp_path):
    """A script without a main guard: a spawn child re-ran the whole script."""
    script = tmp_path / "reviewer.py"
    script.write_text(SCRIPT)
    _assert_all_sympy_true(_run([str(script)], cwd=tmp_path))


def test_from_python_c(tmp_path):
    _assert_all_sympy_true(_run(["-c", SCRIPT], cwd=tmp_path))


def test_a_shadowing_module_in_the_callers_directory_is_not_imported(tmp_path):
    """The worker runs from hmpo's own directory: a local `hmpo/` or `math_verify.py` in the
    caller's working directory cannot replace the real ones."""
    (tmp_path / "math_verify.py").write_text("raise SystemExit('shadow imported')\n")
    script = tmp_path / "s.py"
    script.write_text(SCRIPT)
    env_cwd = tmp_path
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, cwd=env_cwd,
                         env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT)))
    # the caller itself does not import math_verify; only the worker does
    _assert_all_sympy_true(out)


def test_from_threads():
    hv.clear_caches()
    results: list[bool] = []
    threads = [threading.Thread(target=lambda c=c, g=g: results.append(hv.verify(c, g)))
               for c, g in SYMBOLIC * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [True] * 12


def _verdicts_into(queue) -> None:
    hv.clear_caches()
    verdicts = [hv.check(c, g) for c, g in SYMBOLIC]
    # the right verdicts, the last one from a worker (a fallback would show in the counts)
    queue.put(([v.correct for v in verdicts], verdicts[-1].method, hv.machinery_failures()))


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_from_a_daemonic_child_process(method):
    """A DataLoader worker is a daemonic process, which multiprocessing forbids to have
    children; a plain subprocess is allowed. With `fork`, the child also inherits the parent's
    worker and lock: it must use a worker of its own."""
    assert hv.verify(*SYMBOLIC[0])  # the parent's worker is running when the child forks
    ctx = multiprocessing.get_context(method)
    queue = ctx.Queue()
    proc = ctx.Process(target=_verdicts_into, args=(queue,), daemon=True)
    proc.start()
    got = queue.get(timeout=120)
    proc.join(timeout=60)
    assert got == ([True] * 4, "sympy", hv.machinery_failures())  # no new failure in the child
    assert hv.verify(*SYMBOLIC[1])  # the parent's worker still answers


def test_fork_while_another_thread_holds_the_lock():
    """A fork while a thread is inside a comparison copies a held lock: the child must not
    wait for it forever."""
    hv.warm_up()
    with vw._WORKER._lock:  # held by this thread at the moment of the fork
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        proc = ctx.Process(target=_verdicts_into, args=(queue,), daemon=True)
        proc.start()
    got = queue.get(timeout=120)
    assert got == ([True] * 4, "sympy", hv.machinery_failures())
    proc.join(timeout=60)


def test_a_worker_that_cannot_start_falls_back_in_process(monkeypatch, caplog):
    """If the machinery fails, the comparison runs in-process: the right verdict, counted and
    logged once, never a silent False."""
    monkeypatch.setattr(vw, "_WORKER", vw._SympyWorker())
    monkeypatch.setattr(vw.sys, "executable", "/nonexistent/python")
    monkeypatch.setattr(vw, "_FAILURES", dict.fromkeys(vw._FAILURES, 0))
    monkeypatch.setattr(vw, "_FAILURE_LOGGED", False)
    hv.clear_caches()
    with caplog.at_level(logging.WARNING, logger="hmpo.task.verify_worker"):
        verdicts = [hv.check(c, g) for c, g in SYMBOLIC]
        verdicts.append(hv.check("\\boxed{\\sqrt{3}}", "\\sqrt 2"))
    assert [v.correct for v in verdicts] == [True] * 4 + [False]  # still judges, both ways
    symbolic = sum(v.method == "sympy" for v in verdicts)
    assert symbolic >= 3
    failures = hv.machinery_failures()
    assert failures["start_failed"] == 1  # tried once, not once per call
    assert failures["in_process"] == symbolic  # each symbolic comparison ran in-process
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "sympy worker could not be started" in warnings[0].message
    hv.clear_caches()


def test_a_worker_killed_between_calls_is_replaced():
    """A worker killed from outside (OOM killer) is noticed and replaced, not trusted."""
    hv.warm_up()
    before = hv.machinery_failures()
    vw._WORKER._active.proc.kill()
    vw._WORKER._active.proc.wait()
    hv.clear_caches()
    assert [hv.verify(c, g) for c, g in SYMBOLIC] == [True] * 4
    assert hv.machinery_failures() == before  # a dead idle worker is simply restarted


def test_a_worker_dying_mid_request_falls_back_in_process(monkeypatch):
    """The pipe breaks during a comparison: the verdict comes from an in-process comparison."""
    hv.warm_up()
    hv.clear_caches()
    before = hv.machinery_failures()
    worker = vw._WORKER
    real_send = worker._send

    def send_then_die(child, msg):
        child.proc.kill()
        child.proc.wait()
        real_send(child, msg)

    monkeypatch.setattr(worker, "_send", send_then_die)
    assert hv.check(*SYMBOLIC[-1]) == hv.Verdict(True, "\\frac{\\sqrt{8}}{2}", "sympy")
    after = hv.machinery_failures()
    assert after["worker_died"] == before["worker_died"] + 1
    assert after["in_process"] == before["in_process"] + 1
    monkeypatch.undo()
    hv.clear_caches()
    assert hv.check("\\boxed{2^{10}}", "1024") == hv.Verdict(True, "2^{10}", "sympy")


class _VerifyDataset:
    """A map-style dataset whose items are verdicts: verify runs inside the DataLoader worker."""

    def __len__(self) -> int:
        return len(SYMBOLIC)

    def __getitem__(self, i: int) -> str:
        v = hv.check(*SYMBOLIC[i])
        return f"{v.correct}/{v.method}"


def test_from_a_torch_dataloader_worker():
    """The case that motivated "any caller": verify inside a DataLoader worker process."""
    import torch.utils.data as torch_data

    hv.clear_caches()
    loader = torch_data.DataLoader(_VerifyDataset(), batch_size=None, num_workers=1,
                                   timeout=120)
    got = list(loader)
    assert [g.split("/")[0] for g in got] == ["True"] * 4
    assert got[-1] == "True/sympy"  # decided by the worker's comparison


def test_the_worker_module_runs_from_the_repository_root():
    """The manager starts `python -m hmpo.task.verify_worker` in REPO_ROOT, which must hold
    this very package (the module lives in hmpo/task/), and the process speaks the protocol."""
    assert Path(vw.REPO_ROOT) == ROOT
    assert (Path(vw.REPO_ROOT) / "hmpo" / "task" / "verify_worker.py").samefile(vw.__file__)
    out = subprocess.run([sys.executable, "-m", "hmpo.task.verify_worker"], cwd=vw.REPO_ROOT,
                         input='["cmp", "\\\\sqrt{4}", "2"]\n["clear"]\n', capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ['"ready"', '[true, "sympy"]', '"cleared"']


def test_the_verifier_reexports_the_workers_controls():
    """`hmpo.task.verify.warm_up` / `machinery_failures` (the names the README and scripts use)
    are the worker module's own functions, not copies with their own state."""
    assert hv.warm_up is vw.warm_up
    assert hv.machinery_failures is vw.machinery_failures

"""The sympy side of :mod:`hmpo.task.verify`: math-verify's comparison, the process that runs
it, and the manager that talks to that process.

:func:`compare` is math-verify's verdict on two already-normalised answers. The verifier calls
:func:`compare_with_budget`, which runs it in a separate process started as
``python -m hmpo.task.verify_worker`` (stdin/stdout pipes, one JSON line per request and per
answer, :func:`serve`), so that a pathological comparison can be killed from any thread; it
runs it in-process only when that process cannot be used (counted in
:func:`machinery_failures`, logged once).

Why ``python -m`` and not ``multiprocessing``: the ``spawn`` and ``forkserver`` contexts
re-import the caller's ``__main__`` in the child, which fails for a script piped to
``python -`` (every symbolic verdict was a silent False), re-runs an unguarded script, and is
fragile in notebooks; ``fork`` copies locks held by other threads (deadlocks) and is
impossible with CUDA initialised. A plain subprocess whose main module is this file depends on
nothing of the caller's.

Protocol (one line each, UTF-8 JSON): the worker writes ``"ready"`` once math-verify is
imported; then for each request ``["cmp", pred, gold]`` it writes ``[verdict, method]``, and
for ``["clear"]`` it writes ``"cleared"``. It exits on EOF (its parent is gone).

The manager (:class:`_SympyWorker`, one per process in ``_WORKER``) keeps the worker and an
idle spare, kills the worker when a comparison runs out of its budget, and starts the first
one at the first comparison (~1-2 s, outside the budget; :func:`warm_up` does it earlier).

Run by hand (reads requests from stdin)::

    echo '["cmp", "\\\\sqrt{4}", "2"]' | python -m hmpo.task.verify_worker
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the comparison
# (runs in the worker process, and in the caller when the worker cannot be used)
class _DropTimeoutDisabledWarning(logging.Filter):
    """math-verify warns once that its timeouts are off; that is deliberate (hmpo.task.verify)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_DropTimeoutDisabledWarning())


# Parsed once while the worker is idle after start-up. The LaTeX parser (ANTLR) builds its
# prediction tables lazily, so the first tuple, interval, matrix... it meets costs 0.1-0.6 s,
# enough to push a first comparison past the 1 s budget on a loaded machine; one of each
# warms it up. Idle time only: a request waits for at most one warm-up parse.
WARM_UP = (
    "\\frac{1}{2}+x", "(1, \\frac{\\pi}{2})", "(3, \\pi/2)", "[-1, 2)",
    "(-\\infty, 1] \\cup (2, \\infty)",
    "\\{1, 2\\}", "1, -2", "\\begin{pmatrix} 1 & -2 \\\\ 3 & 4 \\end{pmatrix}", "x = 2\\sqrt{3}",
    "\\sqrt[3]{2}", "2^{10}", "\\frac{x^2-1}{x+1}", "\\text{(A)}", "3\\pi^2", "0.5", "10!",
    "\\sin 30^\\circ", "\\log_2 8", "a_1 + b", "\\dbinom{5}{2}", "|x| \\le 3",
)


@functools.lru_cache(maxsize=1)
def math_verify() -> Any:
    """Import math-verify and warm its parser up once, outside any time budget (~1-2 s)."""
    import math_verify as mv

    mv.parse("\\boxed{\\frac{1}{2}+x}", parsing_timeout=None)
    return mv


@functools.lru_cache(maxsize=1)
def _extraction_config() -> list:
    mv = math_verify()
    # math-verify's default LaTeX normalisation strips a trailing "unit" from a list that
    # holds single letters (m, c, t, h, s, g, d, l, o) and words such as "are", "by", "per":
    # it reads `2+3m` as 5 and `3c` as 3. hmpo.task.verify strips units written in \text{} after
    # a number before calling us, so the unit rule is off here; everything else is default.
    normalization = mv.LatexNormalizationConfig(
        basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all",
        equations=False,
    )
    return [mv.LatexExtractionConfig(boxed_match_priority=0,
                                     normalization_config=normalization),
            mv.ExprExtractionConfig()]


@functools.lru_cache(maxsize=8192)
def parse(s: str) -> tuple:
    """math-verify's parse of one answer (LaTeX first, then plain expression), cached."""
    return tuple(
        math_verify().parse(
            "\\boxed{" + s + "}",
            extraction_config=_extraction_config(),
            parsing_timeout=None,  # signal-based: breaks outside the main thread
        )
    )


def _idle(inp: Any) -> bool:
    """Whether no request is waiting on `inp` (False where pipes cannot be polled)."""
    try:
        return not select.select([inp], [], [], 0)[0]
    except (OSError, ValueError):
        return False


def compare(pred: str, gold: str) -> tuple[bool, str]:
    """math-verify's verdict on two answers: (verdict, "sympy"), or (False, "unparsed")."""
    g, p = parse(gold), parse(pred)
    if not g or not p:
        return False, "unparsed"
    return bool(math_verify().verify(list(g), list(p), timeout_seconds=None)), "sympy"


def serve(inp: Any, out: Any) -> None:
    """Answer requests from the binary stream `inp` on `out` until EOF (see the protocol)."""

    def send(obj: Any) -> None:
        out.write(json.dumps(obj).encode() + b"\n")
        out.flush()

    math_verify()
    send("ready")  # after the import (~1-2 s); the parser warms up while we are idle
    warm = list(WARM_UP)
    while True:
        if warm and _idle(inp):
            try:
                parse(warm.pop())
            except Exception:  # noqa: BLE001 - a warm-up failure only costs time later
                pass
            continue
        line = inp.readline()
        if not line:
            return  # EOF: the parent is gone
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            send([False, "error"])
            continue
        if msg == ["clear"]:
            parse.cache_clear()
            send("cleared")
            continue
        try:
            out_msg = list(compare(str(msg[1]), str(msg[2])))
        except Exception:  # noqa: BLE001 - a sympy failure on this input is a False verdict
            out_msg = [False, "error"]
        send(out_msg)


def main() -> None:
    """The worker process: ``python -m hmpo.task.verify_worker`` (see the protocol)."""
    # The pipe to the parent is our stdout: anything a library prints must not corrupt it.
    out = sys.stdout.buffer
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, out)


# --------------------------------------------------------------------------- the manager
# (runs in the caller: starts the worker above, sends it requests, kills it on a timeout)
class _WorkerFailed(Exception):
    """The comparison machinery failed (not the comparison): the worker can't start or died."""


# The worker's working directory: the repository root (this file is
# <root>/hmpo/task/verify_worker.py), so that `-m` imports this very hmpo package.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Events where the machinery, not the answer, failed; see machinery_failures().
_FAILURES: dict[str, int] = {"start_failed": 0, "worker_died": 0, "in_process": 0}
_FAILURE_LOGGED = False


def _machinery_failed(kind: str, reason: str) -> None:
    """Count a machinery failure; the first one of the process is logged as a warning."""
    global _FAILURE_LOGGED
    _FAILURES[kind] += 1
    if not _FAILURE_LOGGED:
        _FAILURE_LOGGED = True
        logger.warning(
            "hmpo.task.verify: %s; symbolic comparisons now run in this process, without a time "
            "budget (verdicts stay right; counts in hmpo.task.verify.machinery_failures())", reason)
    else:
        logger.debug("hmpo.task.verify: %s", reason)


def machinery_failures() -> dict[str, int]:
    """How often the sympy worker failed (``start_failed``, ``worker_died``) and how many
    comparisons therefore ran in this process (``in_process``). All zero in a healthy run."""
    return dict(_FAILURES)


@dataclass
class _Child:
    """One worker process: its pipes (in ``proc``), unread output and whether it said ready."""

    proc: Any
    errlog: Any  # a temporary file holding its stderr, read back if it fails to start
    buf: bytes = b""
    ready: bool = False


class _SympyWorker:
    """A ``python -m hmpo.task.verify_worker`` process running the sympy comparisons, and a spare.

    Why a process: math-verify's own timeouts use ``signal.alarm`` (main thread only), and an
    exception injected into a thread can land while that thread holds a lock (an earlier
    watchdog design deadlocked that way). A process can be killed from any thread and leaves
    nothing behind.

    Why a plain subprocess and not ``multiprocessing``: its ``spawn``/``forkserver`` children
    re-import the caller's ``__main__`` (a script piped to ``python -`` cannot be re-imported,
    an unguarded script is re-run), and ``fork`` copies other threads' held locks. This child's
    main module is :mod:`hmpo.task.verify_worker`, whoever the caller is, and it works inside
    daemonic processes (DataLoader workers) too.

    Why a spare: a killed worker's replacement takes ~1-2 s to import math-verify, which would
    land on the next comparison. A second, idle process (~60 MB) is started once the first is
    ready and takes over at once when the active one is killed; a new spare is then started.

    Cannot deadlock: requests are serialised by a lock held only by ordinary code, every wait
    on a pipe has a deadline (``select``), and a fork resets the lock and drops the parent's
    processes in the child (``os.register_at_fork``). A worker exits on EOF, i.e. with us.
    """

    STARTUP_S = 60.0  # importing math-verify takes ~1-2 s; generous for a loaded machine
    MAX_DEATHS = 10  # after this many crashed workers, stop restarting (in-process from then)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: _Child | None = None
        self._spare: _Child | None = None
        self._disabled: str | None = None  # why the worker is not used any more
        self._deaths = 0

    # -- one child process (called with the lock held)
    @staticmethod
    def _spawn() -> _Child:
        """Start a worker without waiting for it (it imports math-verify, ~1-2 s)."""
        if not sys.executable:
            raise _WorkerFailed("no Python executable to start the sympy worker with")
        errlog = tempfile.TemporaryFile()
        try:
            # cwd=REPO_ROOT: `-m` puts the cwd first on sys.path, so the child imports this
            # very hmpo package, not one that shadows it in the caller's directory.
            proc = subprocess.Popen(
                [sys.executable, "-m", "hmpo.task.verify_worker"], cwd=REPO_ROOT, bufsize=0,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog)
        except OSError as e:
            errlog.close()
            raise _WorkerFailed(f"the sympy worker could not be started: {e}") from e
        return _Child(proc, errlog)

    @staticmethod
    def _kill(child: _Child | None) -> None:
        if child is None:
            return
        try:
            child.proc.kill()
            child.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):  # pragma: no cover - already gone
            pass
        for f in (child.proc.stdin, child.proc.stdout, child.errlog):
            try:
                f.close()
            except (OSError, ValueError):  # pragma: no cover
                pass

    @staticmethod
    def _send(child: _Child, msg: Any) -> None:
        data = json.dumps(msg).encode() + b"\n"
        try:
            while data:
                data = data[child.proc.stdin.write(data) or 0:]
        except (OSError, ValueError) as e:  # BrokenPipeError: the worker died
            raise _WorkerFailed(f"the sympy worker's pipe broke: {e}") from e

    @staticmethod
    def _read(child: _Child, seconds: float) -> Any:
        """The next message, or None when `seconds` pass first. Raises _WorkerFailed on EOF."""
        deadline = time.monotonic() + seconds
        try:
            fd = child.proc.stdout.fileno()
            while b"\n" not in child.buf:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise _WorkerFailed("the sympy worker exited (its pipe closed)")
                child.buf += chunk
        except (OSError, ValueError) as e:
            raise _WorkerFailed(f"the sympy worker's pipe broke: {e}") from e
        line, _, child.buf = child.buf.partition(b"\n")
        return json.loads(line)

    def _await_ready(self, child: _Child) -> None:
        try:
            ready = self._read(child, self.STARTUP_S)
        except _WorkerFailed:
            ready = None
        if ready == "ready":
            child.ready = True
            return
        try:
            child.proc.kill()
            child.proc.wait(timeout=10)
            child.errlog.seek(0, os.SEEK_END)
            child.errlog.seek(max(0, child.errlog.tell() - 2000))
            tail = child.errlog.read().decode(errors="replace").strip()
        except (OSError, ValueError, subprocess.TimeoutExpired):  # pragma: no cover
            tail = ""
        self._kill(child)
        raise _WorkerFailed(f"the sympy worker did not start (exit code "
                            f"{child.proc.returncode}): {tail[-500:] or 'no output'}")

    # -- the active worker and its spare (called with the lock held)
    def _ensure_ready(self) -> _Child:
        """A running worker that said "ready" (the spare, or a new one); else _WorkerFailed."""
        if self._active is not None and self._active.proc.poll() is not None:
            self._kill(self._active)  # died while idle (killed from outside): replace it
            self._active = None
        if self._active is None:
            spare, self._spare = self._spare, None
            if spare is not None and spare.proc.poll() is None:
                self._active = spare
            else:
                self._kill(spare)
                self._active = self._spawn()
        if not self._active.ready:
            child, self._active = self._active, None
            self._await_ready(child)
            self._active = child
        if self._spare is None:
            try:
                self._spare = self._spawn()
            except _WorkerFailed:
                pass  # found out, and reported, if it is ever needed
        return self._active

    def _ensure_or_disable(self) -> _Child:
        if self._disabled is not None:
            raise _WorkerFailed(self._disabled)
        try:
            return self._ensure_ready()
        except _WorkerFailed as e:
            self._disabled = str(e)  # do not start a doomed process on every call
            _machinery_failed("start_failed", str(e))
            raise

    def _drop_active(self) -> None:
        self._kill(self._active)
        self._active = None

    # -- public
    def compare(self, pred: str, gold: str, seconds: float) -> tuple[bool, Any]:
        """(timed_out, (verdict, method)); the worker is killed when `seconds` run out.

        Raises _WorkerFailed when the worker cannot be used (the caller compares in-process).
        """
        with self._lock:
            child = self._ensure_or_disable()
            try:
                self._send(child, ["cmp", pred, gold])
                answer = self._read(child, seconds)
            except _WorkerFailed as e:
                self._drop_active()
                self._deaths += 1
                if self._deaths >= self.MAX_DEATHS:
                    self._disabled = f"the sympy worker died {self._deaths} times"
                _machinery_failed("worker_died", str(e))
                raise
            if answer is None:
                self._drop_active()  # the spare takes over at the next comparison
                return True, None
            return False, (bool(answer[0]), str(answer[1]))

    def warm_up(self) -> bool:
        """Start the worker now (outside any budget); False if it cannot be used."""
        with self._lock:
            try:
                self._ensure_or_disable()
            except _WorkerFailed:
                return False
            return True

    def clear(self) -> None:
        """Empty the worker's parse cache (cold-cache benchmarks and tests)."""
        with self._lock:
            child = self._active  # a spare, or a worker not ready yet, has an empty cache
            if child is not None and child.ready and child.proc.poll() is None:
                try:
                    self._send(child, ["clear"])
                    self._read(child, self.STARTUP_S)
                except _WorkerFailed:
                    self._drop_active()

    def close(self) -> None:
        """Stop the worker and the spare (at exit; a later comparison starts new ones)."""
        with self._lock:
            self._drop_active()
            self._kill(self._spare)
            self._spare = None

    def after_fork_in_child(self) -> None:
        """In a forked child: a fresh lock, and forget (without killing) the parent's workers."""
        self._lock = threading.Lock()
        for child in (self._active, self._spare):
            if child is not None:  # close our copies of its pipes only: the parent's lives on
                for f in (child.proc.stdin, child.proc.stdout):
                    try:
                        os.close(f.fileno())
                    except (OSError, ValueError):
                        pass
        self._active = self._spare = None


_WORKER = _SympyWorker()
atexit.register(_WORKER.close)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _WORKER.after_fork_in_child())


def warm_up() -> bool:
    """Start the sympy worker now, so that the first symbolic comparison does not wait ~1-2 s
    for it. True if it runs; False if it cannot (comparisons then run in this process)."""
    return _WORKER.warm_up()


def compare_with_budget(pred: str, gold: str, seconds: float) -> tuple[bool, Any]:
    """:func:`compare` in the worker process under a wall-clock budget: (timed_out, result).

    If the worker cannot be used (it cannot start, or it died), the comparison runs in this
    process without a budget (the verifier hands over only inputs that passed
    :func:`hmpo.task.verify.sympy_safe`), counted and logged once: a broken machinery never
    turns into a silent False.
    """
    try:
        return _WORKER.compare(pred, gold, seconds)
    except _WorkerFailed:
        _FAILURES["in_process"] += 1
        return False, compare(pred, gold)


def clear_caches() -> None:
    """Empty the parse caches: this process's (in-process comparisons) and the worker's."""
    parse.cache_clear()
    _WORKER.clear()


if __name__ == "__main__":
    main()

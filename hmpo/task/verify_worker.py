"""The sympy side of :mod:`hmpo.task.verify`: math-verify's comparison and the process running it.

:func:`compare` is math-verify's verdict on two already-normalised answers. :mod:`hmpo.task.verify`
runs it in a separate process started as ``python -m hmpo.task.verify_worker`` (stdin/stdout
pipes, one JSON line per request and per answer), so that a pathological comparison can be
killed from any thread; it runs it in-process only when that process cannot be used.

Why ``python -m`` and not ``multiprocessing``: the ``spawn`` and ``forkserver`` contexts
re-import the caller's ``__main__`` in the child, which fails for a script piped to
``python -``, re-runs an unguarded script, and is fragile in notebooks; ``fork`` copies
locks held by other threads (deadlocks) and is impossible with CUDA initialised. A plain
subprocess whose main module is this file depends on nothing of the caller's.

Protocol (one line each, UTF-8 JSON): the worker writes ``"ready"`` once math-verify is
imported; then for each request ``["cmp", pred, gold]`` it writes ``[verdict, method]``, and
for ``["clear"]`` it writes ``"cleared"``. It exits on EOF (its parent is gone).

Run by hand (reads requests from stdin)::

    echo '["cmp", "\\\\sqrt{4}", "2"]' | python -m hmpo.task.verify_worker
"""

from __future__ import annotations

import functools
import json
import logging
import select
import sys
from typing import Any


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
    # The pipe to the parent is our stdout: anything a library prints must not corrupt it.
    out = sys.stdout.buffer
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    main()

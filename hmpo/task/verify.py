"""The rule-based answer verifier: ``verify(completion, gold) -> bool`` (the correctness c_i).

HMPO's reward gates the length bonus on correctness (``R = c · R_token``), so this function
decides every reward: it runs on every rollout (thousands per minute) and must never raise or
hang, whatever the policy writes.

How a verdict is reached (:func:`check` returns the path taken in ``Verdict.method``):

1. **Extract** the final answer with :func:`hmpo.task.prompts.extract_answer` (last balanced
   ``\\boxed{}``, else ``####``, else the last answer marker: ``A:`` / ``Answer:`` or the
   statement "... answer is <X>", void if <X> contains an English word, e.g. "the answer is
   not 3"). No answer -> False (``"no_answer"``); there is no last-number fallback. A gold
   wrapped in ``\\boxed{}`` is unwrapped.
   **An unevaluated calculation is no answer** when the gold is a plain number
   (``"unevaluated"``): if the prediction's last ``=``-side is a sum, difference or product of
   numeric literals (``0 - 4 - 8``, ``3 \\times 6``), it is False even though sympy would
   evaluate it to the gold. Otherwise copying an arithmetic question (reasoning-gym
   ``chain_sum``: "... problem: 0 - 4 - 8 =") into the answer would earn the reward.
   ``4 - 1 = 3`` is judged by its result ``3``.
2. **Normalise** both strings (:func:`normalize_answer`): control characters, ``$``,
   LaTeX spacing (``\\,`` ``\\!`` ``\\left``; a ``\\\\`` matrix row break is kept), ``\\dfrac``,
   brace-less arguments (``\\frac \\pi4`` -> ``\\frac{\\pi}{4}``, ``\\sqrt2`` -> ``\\sqrt{2}``),
   degrees, a trailing ``%``, a leading currency sign, unit words in ``\\text{}`` after a
   number, thousands separators and whitespace are dropped. A comma with no space after it
   (``1,000``, ``10,\\!080``) separates thousands; ``1, 250`` (a space) is a list. MATH also
   writes lists without spaces (``70,110``), so when that number reading fails the list
   reading is tried too. A prediction ``x = <value>`` (one variable) is judged by its value.
3. **Fast paths**, no sympy: equal normalised strings -> True (``"exact"``); two integers are
   compared digit-wise without ``int()`` (so 5,000-digit numbers are fine); two plain numbers
   (decimals, ``a/b``, ``\\frac{a}{b}``) are compared as fractions, exactly when both are exact
   and within a relative ``1e-6`` of the gold, at every scale, when either is a decimal
   (``0.333333`` = ``1/3``; ``.0000673`` != ``.0000672``) (``"numeric"``); numerals with a
   base subscript (``2112_6``) by value and base (``"numeric"``, see :func:`_compare_based`:
   math-verify drops the subscript); two single letters (multiple choice) compare
   case-insensitively (``"choice"``); two hexadecimal literals compare as integers.
4. **math-verify** (sympy) otherwise: numeric and LaTeX equivalence (``\\sqrt{4}`` = ``2``,
   ``(3, \\pi/2)`` = ``\\left( 3, \\frac{\\pi}{2} \\right)``) (``"sympy"``), with its unit
   stripping off (it read ``2+3m`` as 5 and ``3c`` as 3; see :mod:`hmpo.task.verify_worker`).

Why our own time guards: math-verify's timeouts use ``signal.alarm``, which only works in the
main thread (elsewhere it raises), and nothing interrupts a single C-level big-integer
operation (``9^{9^{9^9}}`` never returns). So math-verify runs with its timeouts off, under
our own per-comparison budget (``SYMPY_BUDGET_S``, 1 s, any thread), and only on inputs
that pass :func:`sympy_safe` (short, shallow nesting, no power towers, no huge powers or
factorials, no sums/integrals/limits); anything else is judged by the exact and numeric
comparisons only (``"guarded"``). A comparison that runs out of budget is False
(``"timeout"``) and is not retried. Completions are scanned from their last 100k characters.
Any unexpected exception gives False (``"error"``).

**The worker** (:mod:`hmpo.task.verify_worker`, which also holds the process's manager) is
``python -m hmpo.task.verify_worker``, a subprocess talking JSON lines over pipes, killed when
the budget runs out; an idle spare takes over at once. It works from any caller: a script,
stdin, a notebook, a thread, a subprocess, a DataLoader worker (daemonic or forked). The
first sympy comparison starts it (~1-2 s, outside the budget; :func:`warm_up` does it
earlier). **A machinery failure is never a verdict**: if the worker cannot start or dies
mid-request, the comparison runs in this process (without a budget; its inputs passed
:func:`sympy_safe`), counted in :func:`machinery_failures` and logged once as a warning.
``warm_up`` and ``machinery_failures`` are the worker module's, re-exported here.

Cost: the fast paths take ~5 microseconds per call for a synthetic completion (``A: 4``);
a sympy comparison ~0.05-50 ms (parses are cached: a gold is parsed once per run).

Measure the per-call time, and check the verdicts on the real benchmark files::

    python -m hmpo.task.verify
    OMP_NUM_THREADS=1 python scripts/check_verify.py --data ../shared/data
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from hmpo.task import verify_worker
from hmpo.task.prompts import braced_body, extract_answer, last_boxed

# The sympy worker's two controls, re-exported: callers know them as the verifier's.
from hmpo.task.verify_worker import machinery_failures as machinery_failures
from hmpo.task.verify_worker import warm_up as warm_up

SYMPY_MAX_CHARS = 200  # longest answer handed to sympy (MATH-500's longest gold: 53 chars)
SYMPY_MAX_NESTING = 6  # bracket depth; math-verify's parser slows sharply with deep nesting
SYMPY_MAX_EXPONENT_DIGITS = 4  # numeric exponents up to 9999 ...
SYMPY_MAX_SYMBOLIC_EXPONENT = 64  # ... but up to 64 when the answer has variables (expansion)
SYMPY_MAX_LITERAL_DIGITS = 100  # longer integer literals are compared as strings only
SYMPY_MAX_POWER_DIGITS = 100_000  # a power b^e may have at most e * digits(b) <= 1e5 digits
SYMPY_BUDGET_S = 1.0  # wall-clock budget of one sympy comparison, in any thread
NUMERIC_MAX_CHARS = 1_000  # longer non-integer numbers are compared as strings only
DECIMAL_REL_TOL = 1e-6
_REL_TOL = Fraction(str(DECIMAL_REL_TOL))  # exactly 1/10^6, not the float

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """A verification result: the verdict, the extracted answer and which path decided."""

    correct: bool
    predicted: str | None
    # no_answer | unevaluated | exact | numeric | choice | sympy | unparsed | guarded | timeout
    # | error
    method: str


# --------------------------------------------------------------------------- normalisation
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A `\\` row break is matched first so that its second backslash is never read as the
# spacing command `\ ` (that turned `6 \\ 3 \\ 0` into a different expression).
_LATEX_SPACING = re.compile(r"(\\\\)|\\[,;:! ]|\\q?quad(?![A-Za-z])|~")
# `\!` glues digit groups (MATH writes `10,\!080` and `111, \! 111`): a comma so glued is a
# thousands separator, while a comma followed by a plain space separates list items.
_GLUED_COMMA = re.compile(r",\s*\\!\s*|\{,\}")
_LATEX_SIZING = re.compile(
    r"\\(?:left|right|displaystyle|textstyle|[bB]igg?[lr]?)(?![A-Za-z])"
)
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![A-Za-z])")
_TEXT_WRAPPED = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox)\{([^{}]*)\}")
_UNIT_AFTER_NUMBER = re.compile(
    r"(?<=[\d}])\s*\\(?:text|textrm|mathrm|mbox)\{\s*[A-Za-z][A-Za-z ]*\}(?:\^\{?\d\}?)?\s*$"
)
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_WHITESPACE = re.compile(r"\s+")
_DFRAC = re.compile(r"\\[dt]frac(?![A-Za-z])")
# Brace-less arguments (`\frac \pi4`, `\frac12`, `\sqrt\pi`): math-verify's repair of them is
# wrong (it read `\frac \pi4 + 2` as 2, so the sign-flipped answer was accepted); one token
# per argument, as LaTeX reads them.
_TOKEN = r"(?:\{[^{}]*\}|\\[A-Za-z]+|[0-9A-Za-z])"
_BARE_FRAC = re.compile(rf"\\frac\s*(?=[^{{\s]|\{{[^{{}}]*\}}\s*[^{{\s])({_TOKEN})\s*({_TOKEN})")
_BARE_SQRT = re.compile(rf"\\sqrt\s*(?=[^{{\[\s])({_TOKEN})")
_PERCENT = re.compile(r"\\?%$")
_CURRENCY = re.compile(r"^(?:\\\$|\$)\s*")
_CHOICE = re.compile(r"\(([A-Za-z])\)")


def _unwrap_math(s: str) -> str:
    for _ in range(3):
        if len(s) >= 2 and s[0] == "$" and s[-1] == "$":
            s = s.strip("$").strip()
        elif s.startswith(("\\(", "\\[")) and s.endswith(("\\)", "\\]")):
            s = s[2:-2].strip()
        else:
            break
    return s


def clean_answer(s: str, thousands: bool = True) -> str:
    """Light normalisation that keeps LaTeX meaning (what sympy parses). See normalize_answer.

    With `thousands`, a number written with comma groups and no space after the commas
    (`1,000`, `10,\\!080`) loses its commas; `1, 250` (a space) is a list and stays.
    """
    s = _CONTROL.sub("", s).replace("\u2212", "-").strip().rstrip(".").strip()
    s = _unwrap_math(s)
    s = _GLUED_COMMA.sub(",", s)
    s = _LATEX_SPACING.sub(_spacing, s)
    s = _LATEX_SIZING.sub("", s)
    s = _DFRAC.sub(r"\\frac", s)
    if "\\frac" in s or "\\sqrt" in s:
        s = _BARE_FRAC.sub(lambda m: f"\\frac{{{_unbrace(m[1])}}}{{{_unbrace(m[2])}}}", s)
        s = _BARE_SQRT.sub(lambda m: f"\\sqrt{{{_unbrace(m[1])}}}", s)
    s = _DEGREES.sub("", s)
    s = _UNIT_AFTER_NUMBER.sub("", s)
    m = _TEXT_WRAPPED.fullmatch(s.strip())
    if m:
        s = m.group(1)
    s = s.strip().rstrip(".").strip()
    s = _PERCENT.sub("", s).strip()  # 50\% -> 50
    s = _CURRENCY.sub("", s)  # \$18 -> 18
    if thousands and _THOUSANDS.fullmatch(s.strip()):  # `1,000`, not the list `1, 250`
        s = s.replace(",", "")
    return s.strip()


def _unbrace(token: str) -> str:
    return token[1:-1] if token.startswith("{") else token


def _spacing(m: re.Match) -> str:
    """A `\\\\` row break stays, `\\!` (negative space) goes, other spacing becomes a space."""
    if m.group(1):
        return m.group(1)
    return "" if m.group(0) == "\\!" else " "


def normalize_answer(s: str) -> str:
    """The comparison key of an answer: :func:`clean_answer` with all whitespace removed.

    >>> normalize_answer("$1,000$."), normalize_answer("\\\\dfrac{1}{2}")
    ('1000', '\\\\frac{1}{2}')
    >>> normalize_answer("45^\\\\circ"), normalize_answer(" (C) ")
    ('45', 'C')
    """
    return _key(clean_answer(s))


def _key(cleaned: str) -> str:
    s = _WHITESPACE.sub("", cleaned)
    m = _CHOICE.fullmatch(s)  # "(C)" -> "C"
    return m.group(1) if m else s


@functools.lru_cache(maxsize=16384)
def _clean_and_key(s: str) -> tuple[str, str]:
    """(clean_answer(s), normalize_answer(s)), cached: gold answers repeat G times per prompt."""
    cleaned = clean_answer(s)
    return cleaned, _key(cleaned)


# --------------------------------------------------------------------------- unevaluated
_OPERATOR_CHAR = re.compile(r"[+\-*\u00d7\u00f7\u00b7\\]")  # cheap pre-check, past the sign
_NUMERAL = r"[+-]?\d+(?:\.\d+)?"
_ARITH_OP = r"(?:[+\-*\u00d7\u00f7\u00b7]|\\times|\\cdot|\\div)"
_UNEVALUATED = re.compile(rf"{_NUMERAL}(?:{_ARITH_OP}{_NUMERAL})+")
_PARENS_AND_SPACE = re.compile(r"[\s(){}]")


def unevaluated_arithmetic(answer: str) -> bool:
    """Whether the answer's last ``=``-side is a calculation on numeric literals, not a value.

    A sum, difference or product (``+ - * × · ÷ \\times \\cdot \\div``; parentheses
    ignored) of integers or decimals. ``a/b`` and ``\\frac{a}{b}`` are values (fractions),
    and so is a power ``2^{10}``.

    >>> unevaluated_arithmetic("0 - 4 - 8"), unevaluated_arithmetic("4 - 1 = 3")
    (True, False)
    >>> unevaluated_arithmetic("-12"), unevaluated_arithmetic("3/4"), unevaluated_arithmetic("x+1")
    (False, False, False)
    """
    rhs = _cached_clean(answer).rsplit("=", 1)[-1]
    return _UNEVALUATED.fullmatch(_PARENS_AND_SPACE.sub("", rhs)) is not None


# --------------------------------------------------------------------------- fast paths
_INT = re.compile(r"[+-]?\d+")
_DEC = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+)")
_SLASH = re.compile(r"([+-]?\d+)/(\d+)")
_HEX = re.compile(r"[+-]?0[xX][0-9a-fA-F]+")
_FRAC = re.compile(r"([+-]?)\\frac\{([+-]?\d+)\}\{(\d+)\}")


def _canonical_int(s: str) -> str:
    sign = "-" if s.startswith("-") else ""
    digits = s.lstrip("+-").lstrip("0") or "0"
    return digits if digits == "0" else sign + digits


def _as_number(key: str) -> tuple[Fraction, bool] | None:
    """(value, exact) for a plain number key, else None. `exact` is False for decimals."""
    if len(key) > NUMERIC_MAX_CHARS:
        return None
    try:
        if _INT.fullmatch(key):
            return Fraction(int(key)), True
        if _DEC.fullmatch(key):
            return Fraction(Decimal(key)), False
        m = _SLASH.fullmatch(key)
        if m:
            return (Fraction(int(m.group(1)), int(m.group(2))), True) if int(m.group(2)) else None
        m = _FRAC.fullmatch(key)
        if m:
            num, den = int(m.group(2)), int(m.group(3))
            if den == 0:
                return None
            value = Fraction(num, den)
            return (-value if m.group(1) == "-" else value), True
    except (ValueError, ZeroDivisionError, InvalidOperation):
        return None
    return None


# A numeral with a base subscript, `2112_6`, `4210_{7}`, `152A_{11}`, `0.0011_{2}` (MATH's
# forms): math-verify drops the subscript (it accepted `2112_7` for `2112_6`), so these are
# decided here. At least one decimal digit, so a subscripted variable `a_{12}` is not one.
_BASED = re.compile(r"([+-]?)(?=[0-9A-Za-z.]*\d)([0-9A-Za-z]+(?:\.[0-9A-Za-z]+)?)_\{?(\d{1,2})\}?")


def _based_value(sign: str, digits: str, base: int) -> int | None:
    """The integer a based numeral stands for, or None (a fraction point, invalid digits)."""
    if not 2 <= base <= 36 or "." in digits:
        return None
    try:
        value = int(digits, base)
    except ValueError:
        return None
    return -value if sign == "-" else value


def _compare_based(pred_key: str, gold_key: str) -> bool | None:
    """The verdict when either key is a based numeral, else None.

    Two based numerals are equal when they stand for the same number (`11_2` = `3_{10}`), or
    when neither can be evaluated and they are written alike. A based numeral and a plain
    integer are equal when the digits are the same (the question names the base: `2112`
    answers "in base 6"); the decimal value does not count (`476` is not `2112_6`, which
    would accept a restated question).
    """
    pb, gb = _BASED.fullmatch(pred_key), _BASED.fullmatch(gold_key)
    if pb is None and gb is None:
        return None
    if pb is not None and gb is not None:
        pv = _based_value(pb.group(1), pb.group(2), int(pb.group(3)))
        gv = _based_value(gb.group(1), gb.group(2), int(gb.group(3)))
        if pv is not None and gv is not None:
            return pv == gv
        return _digits(pb.group(1), pb.group(2)) == _digits(gb.group(1), gb.group(2)) and (
            int(pb.group(3)) == int(gb.group(3)))
    based, plain = (pb, gold_key) if pb is not None else (gb, pred_key)
    if not re.fullmatch(r"[+-]?[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)?", plain) or not re.search(
            r"\d", plain):
        return None  # an expression: sympy decides (it reads the based side without the base)
    sign = "-" if plain.startswith("-") else ""
    return _digits(based.group(1), based.group(2)) == _digits(sign, plain.lstrip("+-"))


def _digits(sign: str, digits: str) -> str:
    digits = digits.lower()
    if "." not in digits:
        digits = digits.lstrip("0") or "0"
    return digits if digits == "0" else ("-" if sign == "-" else "") + digits


def _fast_compare(pred_key: str, gold_key: str) -> tuple[bool, str] | None:
    """A decisive (verdict, method) without sympy, or None when sympy must decide."""
    if pred_key == gold_key:
        return (bool(pred_key), "exact")
    if _INT.fullmatch(pred_key) and _INT.fullmatch(gold_key):
        return (_canonical_int(pred_key) == _canonical_int(gold_key), "numeric")
    p, g = _as_number(pred_key), _as_number(gold_key)
    if p is not None and g is not None:
        (pv, p_exact), (gv, g_exact) = p, g
        if p_exact and g_exact:
            return (pv == gv, "numeric")
        # relative to the gold, at every scale: `.0000673` is not `.0000672`
        return (abs(pv - gv) <= _REL_TOL * abs(gv), "numeric")
    based = _compare_based(pred_key, gold_key)
    if based is not None:
        return based, "numeric"
    if _HEX.fullmatch(pred_key) and _HEX.fullmatch(gold_key) and len(pred_key) < NUMERIC_MAX_CHARS:
        return (int(pred_key, 16) == int(gold_key, 16), "numeric")  # sympy reads 0x1f as 0*x*1*f
    if len(pred_key) == 1 and len(gold_key) == 1 and pred_key.isalpha() and gold_key.isalpha():
        return (pred_key.lower() == gold_key.lower(), "choice")
    return None


# --------------------------------------------------------------------------- sympy path
_BIG_OPERATORS = re.compile(
    r"\\(?:sum|prod|int|iint|iiint|oint|lim|limsup|liminf|underbrace|overbrace)(?![A-Za-z])"
)
_BINOM = re.compile(r"\\(?:binom|dbinom|tbinom|choose)(?![A-Za-z])")
_DIGIT_RUN = re.compile(r"\d+")


def _max_nesting(s: str) -> int:
    depth = best = 0
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c in "([{":
            depth += 1
            best = max(best, depth)
        elif c in ")]}":
            depth -= 1
        i += 1
    return best


def _group_start(s: str, close: int) -> int | None:
    """Index of the bracket that opens the group closed at ``s[close]`` (scanning back)."""
    depth = 0
    for i in range(close, -1, -1):
        c = s[i]
        if i > 0 and s[i - 1] == "\\":
            continue  # an escaped bracket such as \{ is not a delimiter
        if c in ")]}":
            depth += 1
        elif c in "([{":
            depth -= 1
            if depth == 0:
                return i
    return None


def _powers(s: str) -> Iterator[tuple[str, str | None, str, bool]]:
    """(base, exponent, text after the exponent, base_is_exponent) for each ``^`` in `s`.

    The exponent is a braced group or one character/command (None if unbalanced); the base is
    the bracket group or the literal/command before ``^``. `base_is_exponent` flags a chained
    power ``a^{b}^{c}`` (the base is itself an exponent group).
    """
    for m in re.finditer(r"\^", s):
        j = m.end()
        while j < len(s) and s[j] == " ":
            j += 1
        if j >= len(s):
            exp, after = "", ""
        elif s[j] == "{":
            exp = braced_body(s, j)
            after = s[j + 2 + len(exp) :] if exp is not None else ""
        elif s[j] == "\\":
            cmd = re.match(r"\\[A-Za-z]+", s[j:])
            exp = cmd.group(0) if cmd else s[j : j + 2]
            after = s[j + len(exp) :]
        else:
            exp, after = s[j], s[j + 1 :]
        before = s[: m.start()].rstrip()
        base, chained = "", False
        if before and before[-1] in ")]}":
            opener = _group_start(before, len(before) - 1)
            base = before[opener:] if opener is not None else before
            chained = opener is not None and before[:opener].rstrip().endswith("^")
        else:
            tail = re.search(r"(\d+|\\?[A-Za-z]+)$", before)
            base = tail.group(0) if tail else ""
        yield base, exp, after, chained


def _has_variables(s: str) -> bool:
    return re.search(r"[A-Za-z]", _LATEX_COMMAND.sub(" ", s)) is not None


_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")


def sympy_safe(s: str) -> bool:
    """Whether `s` may be handed to math-verify/sympy without an uninterruptible computation.

    The time budget (:func:`hmpo.task.verify_worker.compare_with_budget`) kills a slow
    comparison, but a killed worker costs a restart, and a single C-level big-integer
    operation can eat the budget, so this rejects what could build huge integers, and a few
    things that are only slow: more than SYMPY_MAX_CHARS characters; bracket depth above
    SYMPY_MAX_NESTING; ``**``; integer literals over SYMPY_MAX_LITERAL_DIGITS digits; sums,
    products, integrals, limits; binomials with literals over 3 digits; and for each power
    ``b^{e}``: ``e`` containing ``^``, ``!`` or ``\\exp``, a chained ``a^{b}^{c}``, a numeric
    ``e`` over 9999 or with ``e · digits(b)`` over 10^5, a base that is itself a power unless
    both exponents are at most 10, ``e`` over 64 when ``b`` has variables (expansion); and a
    factorial of a bracketed expression or of a literal over 3 digits.

    >>> sympy_safe("\\\\frac{\\\\sqrt{3}}{2}"), sympy_safe("9^{9^{9^{9}}}"), sympy_safe("(10^6)!")
    (True, False, False)
    """
    if len(s) > SYMPY_MAX_CHARS or "**" in s or _BIG_OPERATORS.search(s):
        return False
    if _max_nesting(s) > SYMPY_MAX_NESTING:
        return False
    runs = [len(r) for r in _DIGIT_RUN.findall(s)]
    if runs and max(runs) > SYMPY_MAX_LITERAL_DIGITS:
        return False
    if _BINOM.search(s) and runs and max(runs) > 3:
        return False
    for base, exp, after, chained in _powers(s):
        if exp is None or chained or after.lstrip().startswith("^"):
            return False
        if "^" in exp or "!" in exp or "\\exp" in exp:
            return False
        exp_runs = _DIGIT_RUN.findall(exp)
        if any(len(r) > SYMPY_MAX_EXPONENT_DIGITS for r in exp_runs):
            return False
        e = max((int(r) for r in exp_runs), default=1)
        base_digits = max((len(r) for r in _DIGIT_RUN.findall(base)), default=1)
        if e * base_digits > SYMPY_MAX_POWER_DIGITS:
            return False
        if "^" in base and (e > 10 or any(
            int(r) > 10 for r in _DIGIT_RUN.findall("".join(_exps_in(base))))):
            return False
        if _has_variables(base) and e > SYMPY_MAX_SYMBOLIC_EXPONENT:
            return False
    for m in re.finditer(r"(?<!\\)!", s):
        before = s[: m.start()].rstrip()
        if not before or before[-1] in ")]}":
            return False
        run = re.search(r"\d+$", before)
        if run and len(run.group(0)) > 3:
            return False
    return True


def _exps_in(s: str) -> Iterator[str]:
    for _base, exp, _after, _chained in _powers(s):
        yield exp or ""


_TIMED_OUT: set[tuple[str, str]] = set()  # pairs that exceeded the budget once: not retried


@functools.lru_cache(maxsize=8192)
def _cached_compare(pred: str, gold: str) -> tuple[bool, Any]:
    return verify_worker.compare_with_budget(pred, gold, SYMPY_BUDGET_S)


def _sympy_compare(pred: str, gold: str) -> tuple[bool, str]:
    if not (sympy_safe(pred) and sympy_safe(gold)):
        return False, "guarded"
    if (pred, gold) in _TIMED_OUT:
        return False, "timeout"
    timed_out, result = _cached_compare(pred, gold)
    if timed_out:
        if len(_TIMED_OUT) < 100_000:
            _TIMED_OUT.add((pred, gold))
        return False, "timeout"
    return result


def clear_caches() -> None:
    """Forget cached parses, normalisations and timed-out pairs (for benchmarks and tests)."""
    _cached_compare.cache_clear()
    _clean_and_key.cache_clear()
    _TIMED_OUT.clear()
    verify_worker.clear_caches()


# --------------------------------------------------------------------------- public API
def _completion_text(completion: Any) -> str | None:
    """A completion string; TRL conversational completions (lists of messages) give the last
    message's content."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (list, tuple)) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content")
        return content if isinstance(content, str) else None
    return None


def _gold_text(gold: Any) -> str | None:
    if isinstance(gold, bool):
        return None
    if isinstance(gold, (int, float)):
        gold = str(gold)
    if not isinstance(gold, str):
        return None
    if "\\boxed" in gold or "\\fbox" in gold:
        return last_boxed(gold) or gold
    return gold


def _uncached(s: str) -> tuple[str, str]:
    cleaned = clean_answer(s)
    return cleaned, _key(cleaned)


def _cached_clean(s: str) -> str:
    """clean_answer(s), from the cache unless `s` is long (a long one would evict the golds)."""
    return _clean_and_key(s)[0] if len(s) <= 512 else clean_answer(s)


def _cached_key(s: str) -> str:
    """normalize_answer(s), cached like :func:`_cached_clean`."""
    return _clean_and_key(s)[1] if len(s) <= 512 else normalize_answer(s)


_VARIABLE_IS = re.compile(r"\s*(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?\w+\}?)?\s*=(?!=)")


def _compare_cleaned(pred_clean: str, pred_key: str, gold_clean: str,
                     gold_key: str) -> tuple[bool, str]:
    fast = _fast_compare(pred_key, gold_key)
    if fast is not None:
        return fast
    return _sympy_compare(pred_clean, gold_clean)


def _as_list(raw: str, cleaned: str) -> str | None:
    """The list reading (`70, 110`) of an answer that :func:`clean_answer` read as a number
    with thousands separators (`70,110` -> `70110`), else None."""
    if "," not in raw or "," in cleaned or len(raw) > 512:
        return None
    listed = clean_answer(raw, thousands=False)
    return listed.replace(",", ", ") if listed != cleaned else None


def answers_equivalent(predicted: str, gold: str) -> tuple[bool, str]:
    """Compare two already-extracted answers: (verdict, method). Never raises."""
    try:
        p, g = predicted.strip(), gold.strip()
        if _INT.fullmatch(p) and _INT.fullmatch(g):  # the common case (synthetic, GSM8K, AIME)
            return (p == g, "exact") if p == g else (_canonical_int(p) == _canonical_int(g),
                                                     "numeric")
        pred_clean, pred_key = _clean_and_key(p) if len(p) <= 512 else _uncached(p)
        gold_clean, gold_key = _clean_and_key(g) if len(g) <= 512 else _uncached(g)
        if not pred_key or not gold_key:
            return False, "no_answer" if not pred_key else "error"
        m = _VARIABLE_IS.match(pred_clean)
        if m and "=" not in gold_key and "=" not in pred_clean[m.end():]:
            # `x = 3` for the gold `3`: judged by its value here, as math-verify would, so
            # that a value only the fast paths can judge (`\frac{1}{2004!}`) is judged too
            pred_clean = pred_clean[m.end():].strip()
            pred_key = _key(pred_clean)
        ok, method = _compare_cleaned(pred_clean, pred_key, gold_clean, gold_key)
        if not ok and ("," in p or "," in g):
            # `70,110` is a number or a list (MATH writes both): the number reading failed,
            # so try the list reading of whichever side was read as a number
            pred_list, gold_list = _as_list(p, pred_clean), _as_list(g, gold_clean)
            if pred_list or gold_list:
                pc, gc = pred_list or pred_clean, gold_list or gold_clean
                ok2, method2 = _compare_cleaned(pc, _key(pc), gc, _key(gc))
                if ok2:
                    return ok2, method2
        return ok, method
    except Exception:  # noqa: BLE001 - a verifier must never raise into the trainer
        logger.debug("verify failed", exc_info=True)
        return False, "error"


def check(completion: Any, gold: Any) -> Verdict:
    """Verify and say how: the verdict, the extracted answer and the deciding path.

    >>> check("s8=9\\nA: 4", "4")
    Verdict(correct=True, predicted='4', method='exact')
    >>> check("so x = \\\\boxed{0.5}", "\\\\frac{1}{2}").correct
    True
    """
    try:
        text = _completion_text(completion)
        gold_text = _gold_text(gold)
        if text is None or gold_text is None:
            return Verdict(False, None, "error")
        predicted = extract_answer(text)
        if predicted is None:
            return Verdict(False, None, "no_answer")
        if (len(predicted) <= 512 and _OPERATOR_CHAR.search(predicted, 1)
                and _as_number(_cached_key(gold_text)) is not None
                and unevaluated_arithmetic(predicted)):
            return Verdict(False, predicted, "unevaluated")
        ok, method = answers_equivalent(predicted, gold_text)
        return Verdict(ok, predicted, method)
    except Exception:  # noqa: BLE001 - never raise into the trainer
        logger.debug("verify failed", exc_info=True)
        return Verdict(False, None, "error")


def verify(completion: str, gold: str) -> bool:
    """True iff the completion's final answer equals the gold answer (see the module docstring).

    Never raises and returns within about a second (SYMPY_BUDGET_S) for any input; safe to call
    from any thread.

    >>> verify("o9-8 s9=1\\nA: 1", "1"), verify("\\\\boxed{1,000}", "1000"), verify("A: 7", "1")
    (True, True, False)
    """
    return check(completion, gold).correct


def verify_batch(completions: Sequence[Any], golds: Sequence[Any]) -> list[bool]:
    """:func:`verify` element-wise. Raises ValueError if the two lengths differ."""
    if len(completions) != len(golds):
        raise ValueError(f"golds: expected {len(completions)} gold answers (one per completion), "
                         f"got {len(golds)}")
    return [verify(c, g) for c, g in zip(completions, golds, strict=True)]


def time_per_call(completion: str, gold: str, n: int = 2000) -> float:
    """Mean seconds per :func:`verify` call over `n` calls (after one warm-up call)."""
    verify(completion, gold)
    t0 = time.perf_counter()
    for _ in range(n):
        verify(completion, gold)
    return (time.perf_counter() - t0) / n


if __name__ == "__main__":  # pragma: no cover
    synthetic = "\n o8+5 s8=9\n ck s8=9 o9-8 s9=1 ok\n o9-8 s9=1\n o0+3 s0=4\nA: 4"
    cases = [
        ("synthetic, correct", synthetic, "4"),
        ("synthetic, wrong", synthetic, "5"),
        ("boxed integer", "... so the total is \\boxed{1,000}.", "1000"),
        ("boxed fraction (sympy)", "thus \\boxed{\\sqrt{4}/4}", "\\frac{1}{2}"),
    ]
    for name, c, g in cases:
        t = time_per_call(c, g, n=2000 if "sympy" not in name else 50)
        print(f"{name:28s} {check(c, g)!s:70s} {t * 1e6:9.1f} us/call")

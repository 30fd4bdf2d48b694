"""hmpo.task.verify: table-driven adversarial cases (a comment each), timing and thread safety.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_verify.py -q
"""

from __future__ import annotations

import threading
import time

import pytest

import hmpo.task.verify as hv
from hmpo.task.verify import (
    answers_equivalent,
    check,
    clear_caches,
    normalize_answer,
    sympy_safe,
    verify,
    verify_batch,
)

BIG = "7" * 5000  # a 5,000-digit integer: beyond int()'s default 4,300-digit string limit

# (completion, gold, expected verdict): each case says what it guards against.
CASES = [
    # --- the answer contracts
    ("o8+5 s8=9\nA: 4", "4", True),  # synthetic contract: the answer follows `A:`
    ("o8+5 s8=9\nA: 5", "4", False),  # synthetic, wrong digit
    ("A: 3\n ck s8=9 ok\nA: 4", "4", True),  # the LAST `A:` counts, not the first
    ("A: 4\nA: 3", "4", False),  # ... so an early right answer then a wrong one is wrong
    ("She makes 9 * 2 = 18 dollars.\n#### 18", "18", True),  # GSM8K `####` marker
    ("Answer: 42", "42", True),  # `Answer:` marker
    ("**Final Answer:** $42$.", "42", True),  # markdown bold, $...$ and a period around it
    ("The DATA: 7", "8", False),  # "DATA:" is not an `A:` marker (no answer at all)
    ("no marker, it ends in 12", "12", False),  # no marker at all: no last-number fallback
    # --- the natural-language marker "... answer is <X>" (small instruct models)
    ("4 - 1 = 3\nThe answer is 3.", "3", True),  # a statement with a trailing period
    ("So, the final answer is **3**.", "3", True),  # markdown bold
    ("The answer is: $-12$.", "-12", True),  # colon, $...$, a negative number
    ("The answer is 3. Wait, the answer is 4.", "4", True),  # several: the last one counts
    ("The answer is 3. Wait, the answer is 4.", "3", False),  # ... an earlier one does not
    ("the answer is not 3", "3", False),  # a negation states no answer
    ("The answer is 3. No: the answer isn't 3.", "3", False),  # a void last statement is
    # not replaced by an earlier one (the contraction voids it)
    ("The answer is within \\boxed{}.", "1", False),  # an empty box and words: no answer
    ("The answer is 3 because 1 + 2 = 3.", "3", False),  # words after it: void, not guessed
    ("4 - 1 = 3\nThe answer is 4 - 1 = 3.", "3", True),  # an equation: judged by its result
    ("The answer is 7.\nAnswer: 5", "5", True),  # `Answer:` after it wins (the last marker)
    ("Answer: 5\nso the answer is 7.", "7", True),  # ... and vice versa
    ("The answer is 7.\n#### 5", "5", True),  # `####` ranks above the statement
    ("The answer is 7, \\boxed{5}", "5", True),  # ... and so does \boxed
    ("The DATAanswer is 7", "7", False),  # `answer` must be a word of its own
    # --- an unevaluated calculation is not an answer when the gold is a number
    ("\\boxed{0 - 4 - 8}", "-12", False),  # a chain_sum question copied into the box
    ("The answer is 3 - (-4).", "7", False),  # ... or into a statement, with brackets
    ("Answer: 8 \\times 2", "16", False),  # products too
    ("The answer is 100 - 4 - 8 = 12.", "-12", False),  # an equation with a wrong result
    ("\\boxed{3/4}", "0.75", True),  # a fraction is a value, not a calculation
    ("\\boxed{2^{10}}", "1024", True),  # so is a power
    ("\\boxed{x+1}", "x+1", True),  # the rule only applies to numeric golds
    ("", "1", False),  # empty completion
    # --- \boxed extraction
    ("so \\boxed{\\frac{1}{2}}", "\\frac{1}{2}", True),  # nested braces inside the box
    ("\\boxed{3} ... finally \\boxed{5}", "5", True),  # the last box wins
    ("\\boxed{3} ... finally \\boxed{5}", "3", False),  # ... and an earlier box does not
    ("\\boxed{\\boxed{7}}", "7", True),  # nested boxes
    ("\\boxed{7} and then a truncated \\boxed{8", "7", True),  # unterminated last box skipped
    ("\\boxed{{{{{{{{", "1", False),  # unbalanced braces only
    ("}}}}}\\boxed{}}}}", "1", False),  # stray closing braces and an empty box
    ("\\boxed{}", "", False),  # empty box and empty gold
    ("\\boxed{\\{1, 2\\}}", "\\{1,2\\}", True),  # escaped braces are not delimiters
    ("\\boxed 5", "5", True),  # \boxed without braces takes one token
    ("\\fbox{9}", "9", True),  # \fbox is accepted like \boxed
    ("\\boxed{6} A: 7", "6", True),  # \boxed takes precedence over an `A:` marker
    # --- numeric and LaTeX equivalence
    ("\\boxed{0.5}", "\\frac{1}{2}", True),  # decimal vs fraction
    ("\\boxed{1,000}", "1000", True),  # thousands separator
    ("\\boxed{10,\\!080}", "10080", True),  # MATH-style separator with \!
    ("\\boxed{\\$32,\\!348}", "32348", True),  # currency sign and separator
    ("\\boxed{50\\%}", "50", True),  # a trailing percent sign
    ("\\boxed{45^\\circ}", "45", True),  # degrees
    ("\\boxed{864 \\text{ inches}^2}", "864", True),  # units in \text after the number
    ("\\boxed{007}", "7", True),  # leading zeros
    ("\\boxed{-0}", "0", True),  # negative zero
    ("\\boxed{\u22123}", "-3", True),  # unicode minus sign
    ("\\boxed{1000.0}", "1000", True),  # integer written as a decimal
    ("\\boxed{0.333333}", "\\frac{1}{3}", True),  # decimal rounding of a fraction (1e-6)
    ("\\boxed{0.33}", "\\frac{1}{3}", False),  # ... but not a coarse one
    ("\\boxed{\\dfrac{14}{3}}", "14/3", True),  # \dfrac and a slash fraction
    ("\\boxed{\\sqrt{4}}", "2", True),  # needs sympy
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "(3,\\pi/2)", True),  # tuples with pi
    ("\\boxed{x^3+3x-6}", "x^3 + 3x - 6", True),  # polynomials, spacing
    ("\\boxed{x^3+3x-5}", "x^3+3x-6", False),  # a different polynomial
    ("\\boxed{(C)}", "C", True),  # multiple choice in parentheses
    ("\\boxed{B}", "C", False),  # wrong choice
    ("\\boxed{\\text{(C)}}", "C", True),  # choice wrapped in \text
    # --- adversarial: size, digits, control characters, bombs
    ("\\boxed{" + BIG + "}", BIG, True),  # 5,000-digit integers compared digit-wise
    ("\\boxed{" + BIG + "}", BIG[:-1] + "8", False),  # ... differing in the last digit
    ("A: " + BIG + ".5", BIG, False),  # a 5,000-digit decimal is not the integer
    ("x" * 2_000_000 + "\nA: 9", "9", True),  # 2 MB completion, answer at the end
    ("\\boxed{" * 20_000, "1", False),  # 20k unterminated boxes
    ("{" * 100_000 + "A: 1", "1", True),  # deep garbage before a clean marker
    ("\x00\x01\x02A: 3\x07\x1b", "3", True),  # control characters around the answer
    ("\\boxed{9^{9^{9^{9}}}}", "1", False),  # power tower: never handed to sympy
    ("\\boxed{10^{10^{10}}}", "1", False),  # another tower
    ("\\boxed{2^{2^{30}}}", "4", False),  # huge exponent
    ("\\boxed{999999999999999999999^{99999}}", "1", False),  # 5-digit exponent of a big base
    ("\\boxed{(10^{6})!}", "1", False),  # factorial of a bracketed expression
    ("\\boxed{100000!}", "1", False),  # factorial of a big literal
    ("\\boxed{\\binom{1000000000}{100000}}", "1", False),  # huge binomial
    ("\\boxed{\\sum_{k=1}^{10^{9}} k}", "1", False),  # sums are not evaluated
    ("\\boxed{\\prod_{k=1}^{10^{9}} k}", "1", False),  # nor products
    ("\\boxed{" + "(" * 30 + "1" + ")" * 30 + "}", "1", False),  # deep nesting is guarded
    ("\\boxed{((1))}", "1", True),  # ... shallow nesting is fine
    ("\\boxed{\\frac{1}{0}}", "1", False),  # division by zero
    ("\\boxed{2**2**30}", "1", False),  # python power syntax
    ("\\boxed{9999^{9999}^{9999}}", "1", False),  # chained powers (a tower in disguise)
    ("\\boxed{(9^{999})^{999}}", "1", False),  # a power of a power: 950k digits, guarded
    ("\\boxed{(x+y+z)^{64}}", "(x+1)^{64}", False),  # slow expansion: stopped by the budget
    ("\\boxed{(1+\\sqrt{2})^{9999}}", "1", False),  # slow algebraic power: budget again
    ("\\boxed{(2^{10})^{10}}", "2^{100}", True),  # ... small nested powers are still compared
    ("\\boxed{x^{100000}}", "x", False),  # symbolic huge exponent
    ("\\boxed{" + "1+" * 5000 + "1}", "5001", False),  # a very long expression is guarded
    ("\\boxed{\\frac{\\frac{\\frac{1}{2}}{2}}{2}}", "\\frac{1}{8}", True),  # nested fractions
    ("\\boxed{\\infty}", "\\infty", True),  # infinity, exact string
    ("\\boxed{$\\$}", "1", False),  # stray dollars
    ("\\boxed{\\\\}", "1", False),  # a lone escaped backslash
    ("A: \ud800", "1", False),  # a lone surrogate
]


# Issue #12: misreadings found on real MATH answers. Each gold is copied from the MATH test set
# (../shared/data/math/test.jsonl, not committed); (prediction in a box, gold, verdict).
MATH_FORMAT_CASES = [
    # --- matrices: `\\` row breaks survive normalisation (71 of 72 MATH matrices are spaced)
    ("\\begin{pmatrix}6\\\\3\\\\0\\end{pmatrix}",
     "\\begin{pmatrix} 6 \\\\ 3 \\\\ 0 \\end{pmatrix}", True),  # compact vs spaced
    ("\\begin{pmatrix} 31 & 50 \\\\ -18 & -29 \\end{pmatrix}",
     "\\begin{pmatrix} 31 & 50 \\\\ -18 & -29 \\end{pmatrix}", True),  # 2x2, identical
    ("\\begin{pmatrix}31&50\\\\-18&-29\\end{pmatrix}",
     "\\begin{pmatrix} 31 & 50 \\\\ -18 & -29 \\end{pmatrix}", True),  # 2x2, compact
    ("\\begin{pmatrix} 3 \\\\ 4 \\\\ 1 \\end{pmatrix}",
     "\\begin{pmatrix} 1 \\\\ 4 \\\\ 3 \\end{pmatrix}", False),  # a permuted vector
    ("\\begin{pmatrix} 0 \\\\ 3 \\\\ 0 \\end{pmatrix}",
     "\\begin{pmatrix} 6 \\\\ 3 \\\\ 0 \\end{pmatrix}", False),  # a wrong entry
    ("\\begin{pmatrix} 31 & -18 \\\\ 50 & -29 \\end{pmatrix}",
     "\\begin{pmatrix} 31 & 50 \\\\ -18 & -29 \\end{pmatrix}", False),  # transposed
    ("(3,4,1)", "(1,4,3)", False),  # ordered tuples are ordered
    ("(0,3,0)", "(6,3,0)", False),
    # --- lists vs thousands separators: a space after the comma makes a list
    ("1250", "1, 250", False),  # was merged into one number
    ("45135", "45, 135", False),
    ("135^\\circ, 45^\\circ", "45^\\circ, 135^\\circ", True),  # unordered solution list
    ("6, 3, -2, 1, -1, 2, -3, -6", "-6, -3, -2, -1, 1, 2, 3, 6", True),
    ("111,111,111", "111, \\! 111, \\! 111", True),  # `, \\!` glues digit groups
    ("61328", "61,328", True),  # a MATH number with a separator
    ("\\$115000", "\\$115,000", True),
    ("110, 70", "70,110", True),  # MATH also writes a list without a space (ambiguous)
    ("70110", "70,110", True),  # ... so both readings are accepted
    ("70, 111", "70,110", False),
    # --- decimals: the tolerance is relative at every scale
    (".0000673", ".0000672", False),  # was accepted (absolute 1e-6 below 1)
    ("0.0000001", "0.0000009", False),
    ("0.0000672", ".0000672", True),
    ("6.72 \\times 10^{-5}", ".0000672", True),  # sympy: scientific notation
    ("1234568", "1234567", False),  # 1e-6 relative, but integers compare exactly
    ("1234567.0000001", "1234567", True),  # a decimal within 1e-6 of the gold
    # --- math-verify drops a trailing letter as a unit (m, c, t, ...): not here
    ("5", "2+3m", False),
    ("3", "3c", False),
    ("4", "4t", False),  # MATH gold `4t`
    ("2 + m", "m+2", True),
    ("-3t+4t+3t", "4t", True),
    ("10 \\text{ cm}", "10", True),  # a unit in \\text{} after a number is still dropped
    # --- base subscripts: math-verify ignores them, they are compared here
    ("2112_7", "2112_6", False),  # another base
    ("2112_{6}", "2112_6", True),
    ("2112", "2112_6", True),  # the digits, the base named by the question
    ("476", "2112_6", False),  # the decimal value is not the answer asked for
    ("4210_{5}", "4210_{7}", False),
    ("152a_{11}", "152A_{11}", True),  # digits above 9, either case
    ("-221_3", "-221_3", True),
    ("221_3", "-221_3", False),  # the sign counts
    ("0.0011_{2}", "0.0011_{2}", True),  # a base fraction
    ("0.0011_{3}", "0.0011_{2}", False),
    ("11_2", "3_{10}", True),  # the same number in two bases
    ("x_1", "x_2", False),  # a subscripted variable is not a based numeral
    # --- brace-less arguments: math-verify read `\\frac \\pi4 + 2 - \\sqrt2` as 2
    ("-\\frac \\pi4 + 2 - \\sqrt2", "\\frac \\pi4 + 2 - \\sqrt2", False),
    ("2 - \\sqrt{2} + \\frac{\\pi}{4}", "\\frac \\pi4 + 2 - \\sqrt2", True),
    ("\\frac12", "\\frac{1}{2}", True),
    # --- an equation `x = value` is judged by its value, even one only the fast path handles
    ("x = \\frac{1}{2004!}", "\\frac{1}{2004!}", True),
    ("x = 4", "3", False),
]


@pytest.mark.parametrize(("pred", "gold", "expected"), MATH_FORMAT_CASES)
def test_math_answer_formats(pred, gold, expected):
    assert verify(f"So the answer is $\\boxed{{{pred}}}$.", gold) is expected
    # the verdict is symmetric for these pairs (neither side is an equation)
    if "=" not in pred:
        assert verify(f"\\boxed{{{gold}}}", pred) is expected


@pytest.mark.parametrize(("completion", "gold", "expected"), CASES)
def test_verify_table(completion, gold, expected):
    assert verify(completion, gold) is expected


@pytest.fixture
def cold_caches():
    """Time real work: no cached parse or timed-out pair from an earlier test."""
    assert hv.warm_up()  # the worker's one-off start (~1-2 s) is not a per-call cost
    clear_caches()
    yield
    clear_caches()


@pytest.mark.parametrize(("completion", "gold", "expected"), CASES)
def test_each_case_is_fast(completion, gold, expected, cold_caches):
    t0 = time.perf_counter()
    verify(completion, gold)
    assert time.perf_counter() - t0 < 2.0


def test_every_case_from_a_worker_thread(cold_caches):
    """math-verify's signal timeouts fail off the main thread; ours must not (and not hang)."""
    results: dict[int, bool] = {}
    durations: dict[int, float] = {}

    def run():
        for i, (c, g, _) in enumerate(CASES):
            t0 = time.perf_counter()
            results[i] = verify(c, g)
            durations[i] = time.perf_counter() - t0

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=120)
    assert not t.is_alive()
    assert [results[i] for i in range(len(CASES))] == [e for _, _, e in CASES]
    assert max(durations.values()) < 2.0


def test_a_comparison_over_budget_is_killed_and_the_next_one_works(monkeypatch, cold_caches):
    """The worker process running an over-budget comparison is killed; a new one takes over."""
    monkeypatch.setattr(hv, "SYMPY_BUDGET_S", 0.0)  # no time at all: the answer cannot arrive
    v = check("\\boxed{\\sqrt{2} + x^{3}}", "y")
    assert (v.correct, v.method) == (False, "timeout")
    monkeypatch.setattr(hv, "SYMPY_BUDGET_S", 30.0)
    v = check("\\boxed{\\sqrt{4}}", "2")
    assert (v.correct, v.method) == (True, "sympy")  # answered by a fresh worker


def test_over_budget_from_a_worker_thread(monkeypatch, cold_caches):
    """The budget also holds off the main thread, where signal-based timeouts cannot work."""
    monkeypatch.setattr(hv, "SYMPY_BUDGET_S", 0.0)
    out: list = []
    t = threading.Thread(target=lambda: out.append(check("\\boxed{\\sqrt{3} + y}", "x")))
    t.start()
    t.join(timeout=60)
    assert not t.is_alive() and out[0].method == "timeout"


def test_table_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("bad", [None, 123, 4.5, b"A: 1", object(), ["A: 1"], {"a": 1}])
def test_non_string_inputs_never_raise(bad):
    assert verify(bad, "1") is False
    assert verify("A: 1", bad if not isinstance(bad, int) else object()) is False


def test_numeric_gold_and_conversational_completion():
    assert verify("A: 12", 12) is True  # an integer gold is accepted
    messages = [{"role": "assistant", "content": "so \\boxed{12}"}]  # TRL conversational form
    assert verify(messages, "12") is True


def test_methods_show_the_fast_path_is_used():
    assert check("A: 4", "4").method == "exact"
    assert check("A: 5", "4").method == "numeric"
    assert check("\\boxed{0.5}", "1/2").method == "numeric"
    assert check("\\boxed{B}", "C").method == "choice"
    assert check("\\boxed{\\sqrt{4}}", "2").method == "sympy"
    assert check("\\boxed{9^{9^{9}}}", "2").method == "guarded"
    assert check("nothing here", "2").method == "no_answer"


def test_unevaluated_calculation_is_reported():
    """Copying an arithmetic question is not an answer; the method says why it was refused."""
    assert check("\\boxed{0 - 4 - 8}", "-12") == hv.Verdict(False, "0 - 4 - 8", "unevaluated")
    assert check("The answer is 4 - 1 = 3.", "3").correct  # the result after `=` is judged
    assert not hv.unevaluated_arithmetic("-12")  # a sign is not an operation


def test_verify_batch():
    assert verify_batch(["A: 1", "A: 2", "\\boxed{3}"], ["1", "1", "3"]) == [True, False, True]
    with pytest.raises(ValueError, match="golds"):
        verify_batch(["A: 1"], ["1", "2"])


def test_answers_equivalent_and_normalize():
    assert answers_equivalent("1,000", "1000") == (True, "exact")
    assert normalize_answer("$\\dfrac{1}{2}$.") == "\\frac{1}{2}"
    assert normalize_answer("\\$18") == "18"


@pytest.mark.parametrize(
    ("expr", "safe"),
    [
        ("\\frac{\\sqrt{3}}{2}", True),  # ordinary answer
        ("2^{10}", True),  # small exponent
        ("9999^{9999}", True),  # 4-digit exponent of a number: fast in sympy
        ("x^{65}", False),  # symbolic exponent above 64
        ("e^{e^{10}}", False),  # tower
        ("5!", True),  # small factorial
        ("n!", True),  # symbolic factorial
        ("1000!", False),  # 4-digit factorial
        ("\\int_0^1 x dx", False),  # integrals are not evaluated
    ],
)
def test_sympy_safe(expr, safe):
    assert sympy_safe(expr) is safe


def test_fast_path_speed():
    """The trainer verifies every rollout: a typical synthetic completion must be cheap."""
    completion = "\n o8+5 s8=9\n ck s8=9 o9-8 s9=1 ok\n o9-8 s9=1\n o0+3 s0=4\nA: 4"
    verify(completion, "4")
    n = 2000
    t0 = time.perf_counter()
    for i in range(n):
        verify(completion, str(i % 10))
    per_call = (time.perf_counter() - t0) / n
    assert per_call < 200e-6, f"{per_call * 1e6:.1f} us per call"


def test_every_math500_gold_verifies_against_itself(shared_data):
    """Each MATH-500 gold, boxed in a completion, is judged correct against itself."""
    from hmpo.task.benchmarks import load_benchmark

    records = load_benchmark("math500", shared_data)
    assert all(verify(f"So the answer is \\boxed{{{r['answer']}}}.", r["answer"]) for r in records)
    by_id = {r["id"]: r["answer"] for r in records}
    # equivalent forms of real golds
    assert verify("\\boxed{(3, \\pi/2)}", by_id["math500-test/precalculus/807.json"])
    assert verify("\\boxed{Evelyn}", by_id["math500-test/algebra/1349.json"])

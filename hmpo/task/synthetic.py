"""The synthetic multi-step arithmetic task: generator, solver, minimal and verbose traces.

This is the task the CPU profiles train on (no model hub is reachable, so the pipeline trains
its own tiny reasoner on it, see hmpo.models.model / hmpo.models.sft). Difficulty = the number
of steps.

Problem: a start digit and k signed digit operations, all modulo 10::

    Q: o8+5 o9-8 o0+3 e1 s7=4

reads "operation 8 adds 5, operation 9 subtracts 8, operation 0 adds 3, the operations end
before label 1; state 7 (the start) is 4". The answer is (4 + 5 - 8 + 3) mod 10 = 4.

Labels are digits and run cyclically from a random start label r (here 7): operation
``o{r+i}`` turns state ``s{r+i-1}`` into ``s{r+i}`` and ``e{r+k+1}`` marks the end (labels mod
10, so k + 2 <= 10 labels keep the labels of a problem distinct: at most MAX_STEPS = 8 steps).
The random start label means every label and every label successor is seen in training even
though training chains have at most 6 steps, so the 7-8 step transfer set uses only known
tokens and probes longer chains, not unseen symbols.

Minimal trace (the completion; ``\\n`` is a newline)::

    \\n o8+5 s8=9\\n o9-8 s9=1\\n o0+3 s0=4\\nA: 4

one line per step: copy the operation, write the new state. Verbose traces add, after any
step's line, 0..max_rechecks redundant lines (a per-trace verbosity p ~ U(0, 1), then
Binomial(max_rechecks, p) lines per step, so lengths spread both across and within problems)::

     ck o9-8 s9=1      (re-check: the last operation and its result again)
     so s9=1           (restatement of the current state)
     hmm s9=1          (filler, also " wait", then the current state)

Every trace ends with the final line ``A: <digit>`` (the answer contract: the answer follows
the last ``A:``).

Why this format (../shared/NOTES.md, outside the repository, records the formats that
failed; a first version of this one, with the start state first and re-check lines ending in
" ok", reached only 43% per-step sampled accuracy after 1,500 SFT steps, this one 85% after
2,500 and, with hmpo.models.model's factored embedding init, 99%): one token carries a label
and its value (``o9-8``, ``s9=1``), and every line, verbose or not, ends with the current
state, which the prompt also ends with. So every read is either at a fixed offset or a
single label match:

- at a line start (after ``\\n``), the next operation is the one whose label follows the
  label of the state token just before the newline (previous-token head + label match), or
  the end marker, after which comes ``A:``;
- a new state is (state two tokens back) + (the operation just written), a 10 x 18 table;
- the answer digit is the value of the state two tokens back.

Verbose lines only copy, so they never change what the next step reads.

Why chain of thought is needed: without the trace the answer is a sum mod 10 of k + 1 digits
read from k + 1 positions in one forward pass; the per-step lines reduce it to k local
table look-ups. Measured (``scripts/bench_base_model.py --direct``): the default tiny model
trained for the same 2,500 steps on ``prompt -> "\\nA: <answer>"`` answers 8.9% of the
held-out problems at T = 1 (chance: 10%; 2-step problems 9%), against 97% with the traces.

Veiled problems (``data.synthetic.veiled_share``; none by default): the prompt starts with
the token ``x?``, a hidden factor of 0 or 1 applied to the final state::

    Q: x? o8+5 o9-8 o0+3 e1 s7=4

The factor is drawn with the problem and is not shown: with probability ``veil_zero_prob``
(q) it is 0 and the answer is 0, otherwise the answer is the final state. No trace can know
it, so the best any reasoning can do is the visible computation, right with probability
about (1 - q) + q/10; the *guess* ``A: 0`` with no work is right with probability q + (1 -
q)/10. An answer prior a guess can exploit, on problems whose reliable accuracy stays well
below 1 whatever training does: the property the length rewards' thresholds separate on
(docs/task_design.md). :meth:`Problem.answer` and :func:`solve` give the visible
computation's answer; a veiled problem's gold answer is in its record (:func:`make_sets`).

Tokens: every token except ``Q:``, ``A:`` and the newline carries its leading space, so the
text is exactly the concatenation of token strings and decode(encode(text)) == text
(hmpo.models.model builds the tokenizer from VOCAB).

Run ``python -m hmpo.task.synthetic`` to print an example problem with its traces.
"""

from __future__ import annotations

import numbers
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from hmpo.config import SyntheticConfig

N_LABELS = 10  # labels are digits, used cyclically
MAX_STEPS = N_LABELS - 2  # k + 2 distinct labels (start, k operations, end marker)
SOURCE = "synthetic"
NEWLINE = "\n"
FILLERS = (" hmm", " wait")
VERBOSE_KINDS = ("recheck", "restate", "filler")
VEIL = " x?"  # the first prompt token of a veiled problem (module docstring)
GUESS = 0  # the answer of the guess style: the veiled problems' most likely answer


def _op_token(label: int, delta: int) -> str:
    sign = "+" if delta > 0 else "-"
    return f" o{label % N_LABELS}{sign}{abs(delta)}"


def _state_token(label: int, value: int) -> str:
    return f" s{label % N_LABELS}={value}"


def _end_token(label: int) -> str:
    return f" e{label % N_LABELS}"


def vocabulary() -> list[str]:
    """Every token string of the task, in a fixed order (the tokenizer's vocabulary);
    :data:`VEIL` last."""
    toks = ["Q:", "A:", NEWLINE, " ck", " so", *FILLERS]
    toks += [f" {d}" for d in range(10)]
    toks += [_state_token(lab, v) for lab in range(N_LABELS) for v in range(10)]
    toks += [_op_token(lab, sign * d)
             for lab in range(N_LABELS) for sign in (1, -1) for d in range(1, 10)]
    toks += [_end_token(lab) for lab in range(N_LABELS)]
    return toks + [VEIL]


VOCAB: list[str] = vocabulary()


def token_parts(token: str) -> tuple[str, int | None, int | None] | None:
    """(kind, label, value mod 10) of a composite token, None for the other tokens.

    ``" s3=7"`` -> ("state", 3, 7); ``" o4-8"`` -> ("op", 4, 2) (subtracting 8 is adding 2
    mod 10); ``" e5"`` -> ("end", 5, None); ``" 7"`` -> ("digit", None, 7). hmpo.models.model
    uses it to initialise the embeddings of tokens that share a label or a value with shared
    parts.
    """
    if len(token) == 5 and token.startswith(" s") and token[3] == "=":
        return ("state", int(token[2]), int(token[4]))
    if len(token) == 5 and token.startswith(" o") and token[3] in "+-":
        d = int(token[4]) * (1 if token[3] == "+" else -1)
        return ("op", int(token[2]), d % 10)
    if len(token) == 3 and token.startswith(" e") and token[2].isdigit():
        return ("end", int(token[2]), None)
    if len(token) == 2 and token[0] == " " and token[1].isdigit():
        return ("digit", None, int(token[1]))
    return None


# --------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class Problem:
    """One problem: start label r, start digit x0 and the signed operations (each in ±1..9);
    `veiled`: its prompt shows the hidden factor (module docstring), whose value is not part
    of the problem's visible statement."""

    start_label: int
    x0: int
    deltas: tuple[int, ...]
    veiled: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.start_label < N_LABELS:
            raise ValueError(f"start_label must be in 0..{N_LABELS - 1}, got {self.start_label}")
        if not 0 <= self.x0 <= 9:
            raise ValueError(f"x0 must be a digit, got {self.x0}")
        if not 1 <= len(self.deltas) <= MAX_STEPS:
            raise ValueError(f"deltas: 1..{MAX_STEPS} operations, got {len(self.deltas)}")
        if any(not (1 <= abs(d) <= 9) for d in self.deltas):
            raise ValueError(f"deltas must be in ±1..9, got {self.deltas}")

    @property
    def n_steps(self) -> int:
        return len(self.deltas)

    def states(self) -> list[int]:
        """s_0..s_k with s_i = (s_{i-1} + delta_i) mod 10."""
        out = [self.x0]
        for d in self.deltas:
            out.append((out[-1] + d) % 10)
        return out

    @property
    def answer(self) -> int:
        return self.states()[-1]

    def prompt(self) -> str:
        r = self.start_label
        toks = ["Q:"] + [VEIL] * self.veiled
        toks += [_op_token(r + i + 1, d) for i, d in enumerate(self.deltas)]
        toks += [_end_token(r + self.n_steps + 1), _state_token(r, self.x0)]
        return "".join(toks)


def random_problem(rng: random.Random, n_steps: int) -> Problem:
    """A uniformly random problem with `n_steps` operations."""
    if not 1 <= n_steps <= MAX_STEPS:
        raise ValueError(f"n_steps must be in 1..{MAX_STEPS}, got {n_steps}")
    deltas = tuple(rng.choice((1, -1)) * rng.randint(1, 9) for _ in range(n_steps))
    return Problem(rng.randrange(N_LABELS), rng.randrange(10), deltas)


def parse_prompt(prompt: str) -> Problem:
    """Inverse of Problem.prompt(); raises ValueError on anything that is not a task prompt."""
    parts = prompt.split(" ")
    veiled = len(parts) > 1 and " " + parts[1] == VEIL
    if veiled:
        parts = parts[:1] + parts[2:]
    if len(parts) < 4 or parts[0] != "Q:":
        raise ValueError(f"prompt: not a synthetic task prompt: {prompt!r}")
    try:
        ops, end, s = parts[1:-2], parts[-2], parts[-1]
        if s[0] != "s" or s[2] != "=" or len(s) != 4 or end[0] != "e" or len(end) != 2:
            raise ValueError
        r, x0 = int(s[1]), int(s[3])
        deltas = []
        for i, op in enumerate(ops):
            if len(op) != 4 or op[0] != "o" or op[2] not in "+-" or int(op[1]) != (r + i + 1) % 10:
                raise ValueError
            deltas.append(int(op[3]) * (1 if op[2] == "+" else -1))
        if int(end[1]) != (r + len(ops) + 1) % N_LABELS:
            raise ValueError
        problem = Problem(r, x0, tuple(deltas), veiled)
    except (ValueError, IndexError):
        raise ValueError(f"prompt: not a synthetic task prompt: {prompt!r}") from None
    if problem.prompt() != prompt:
        raise ValueError(f"prompt: not in canonical form: {prompt!r}")
    return problem


def solve(prompt: str) -> str:
    """The answer of a task prompt's visible computation, as the answer string (a digit): the
    gold answer, except for a veiled problem whose hidden factor is 0 (its record says)."""
    return str(parse_prompt(prompt).answer)


# --------------------------------------------------------------------------- traces
def _step_line(p: Problem, i: int, states: list[int]) -> str:
    r = p.start_label
    return _op_token(r + i, p.deltas[i - 1]) + _state_token(r + i, states[i]) + NEWLINE


def _verbose_line(p: Problem, i: int, states: list[int], kind: str, rng: random.Random) -> str:
    r = p.start_label
    if kind == "recheck":
        return " ck" + _op_token(r + i, p.deltas[i - 1]) + _state_token(r + i, states[i]) + NEWLINE
    if kind == "restate":
        return " so" + _state_token(r + i, states[i]) + NEWLINE
    if kind == "filler":
        return rng.choice(FILLERS) + _state_token(r + i, states[i]) + NEWLINE
    raise ValueError(f"kind must be one of {VERBOSE_KINDS}, got {kind!r}")


def minimal_trace(p: Problem) -> str:
    """Only the necessary steps: one line per operation, then ``A: <answer>``."""
    states = p.states()
    steps = "".join(_step_line(p, i, states) for i in range(1, p.n_steps + 1))
    return NEWLINE + steps + f"A: {p.answer}"


def verbose_trace(p: Problem, rng: random.Random, max_rechecks: int,
                  verbosity: float | None = None) -> str:
    """The minimal trace plus redundant lines after each step.

    A trace-level verbosity ``p ~ U(0, 1)`` (or the given `verbosity`) sets how talkative this
    sample is; each step then gets ``Binomial(max_rechecks, p)`` extra lines of a uniformly
    chosen kind (re-check / restatement / filler). Sampling p per trace (not per step) spreads
    the total length of samples of the same problem, which HMPO's median-of-correct budget
    needs. The mean number of extra lines per step is max_rechecks / 2.
    """
    if max_rechecks < 0:
        raise ValueError(f"max_rechecks must be >= 0, got {max_rechecks}")
    q = rng.random() if verbosity is None else verbosity
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"verbosity must be in [0, 1], got {verbosity}")
    states = p.states()
    lines = [NEWLINE]
    for i in range(1, p.n_steps + 1):
        lines.append(_step_line(p, i, states))
        n_extra = sum(rng.random() < q for _ in range(max_rechecks))
        for _ in range(n_extra):
            lines.append(_verbose_line(p, i, states, rng.choice(VERBOSE_KINDS), rng))
    lines.append(f"A: {p.answer}")
    return "".join(lines)


def early_answer_trace(p: Problem, n_lines: int) -> str:
    """A short, risky trace: `n_lines` step lines, then the remaining operations on one line
    and the final answer at once.

    ``m = k - n_lines`` operations are absorbed by the answer: they are copied on one line
    (``\\n o0+3 o1-2``) with no state after them, and the answer digit has to be their sum
    with the last written state. One copied operation is exactly what a step line computes
    (the previous state plus the operation just written), so ``m = 1`` is about as reliable as
    the full trace; two or more need a sum of three or more digits in one forward pass, which
    the 2-layer model does not compute (a model trained only on direct answers stays at
    chance even on 2-step problems, see the module docstring). So the style is accurate when
    it skips one step and near chance when it skips more: an accuracy-length trade-off below
    the reliable trace that training does not remove. Length ``3 * n_lines + m + 5`` with
    EOS, against ``3 * k + 4`` for the minimal trace: ``2 * m - 1`` tokens saved.
    """
    if not 0 <= n_lines < p.n_steps:
        raise ValueError(f"n_lines must be in 0..{p.n_steps - 1}, got {n_lines}")
    states = p.states()
    r = p.start_label
    steps = "".join(_step_line(p, i, states) for i in range(1, n_lines + 1))
    absorbed = "".join(_op_token(r + i, p.deltas[i - 1])
                       for i in range(n_lines + 1, p.n_steps + 1))
    return NEWLINE + steps + absorbed + NEWLINE + f"A: {p.answer}"


def early_lines(rng: random.Random, n_steps: int, p_one: float = 0.5) -> int:
    """Step lines written by a sampled early answer: it absorbs one operation with
    probability `p_one`, else a uniform 2..k (k >= 2; a 1-step problem absorbs its one)."""
    if n_steps == 1 or rng.random() < p_one:
        return n_steps - 1
    return n_steps - rng.randint(2, n_steps)


def guess_trace() -> str:
    """The shortcut of a veiled problem: no work, the most likely answer ``A: 0`` (4 tokens
    with EOS). Right with probability q + (1 - q)/10 (module docstring)."""
    return NEWLINE + f"A: {GUESS}"


def is_veiled(prompt: str) -> bool:
    """Whether a task prompt is a veiled problem's (it starts with ``Q: x?``)."""
    return prompt.startswith("Q:" + VEIL + " ")


def veiled_gold(p: Problem, factor: int) -> int:
    """The gold answer of a veiled problem given its hidden factor (0 or 1)."""
    if factor not in (0, 1):
        raise ValueError(f"factor must be 0 or 1, got {factor!r}")
    return p.answer * factor


def cell_key(n_steps: int, veiled: bool = False) -> str:
    """The difficulty cell of a problem in per-difficulty tables (the style table, theory's
    predictions): ``"3"`` for a plain 3-step problem, ``"3?"`` for a veiled one (a cell of its
    own: its reasoning and its guess are right with other probabilities)."""
    return f"{int(n_steps)}?" if veiled else str(int(n_steps))


def parse_cell(key: object) -> tuple[int, bool]:
    """``(n_steps, veiled)`` of a cell key (:func:`cell_key`; an int is a plain cell). Also the
    cells' sort key: by difficulty, each plain cell before its veiled one.

    >>> parse_cell("3?"), parse_cell("3"), parse_cell(3)
    ((3, True), (3, False), (3, False))
    """
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        return int(key), False
    text = str(key).strip()
    veiled = text.endswith("?")
    digits = text[:-1] if veiled else text
    if not digits.isdigit():
        raise ValueError(f"not a difficulty cell: {key!r} (want k or 'k?')")
    return int(digits), veiled


#: Trace styles (hmpo.task.synthetic.trace_style): the two full ones reason through every step.
STYLES = ("verbose", "minimal", "early", "guess", "malformed")


def _n_step_lines(body: str) -> int:
    """Step lines (an operation followed by the state it produces) in a completion's body."""
    return sum(ln.startswith(" o") and " s" in ln for ln in body.split(NEWLINE))


def trace_style(prompt: str, completion: str) -> str:
    """Which style a completion has: ``verbose`` / ``minimal`` / ``early`` / ``guess`` /
    ``malformed``.

    ``guess`` (veiled problems only): an answer with no operation written before it;
    ``early``: fewer step lines than the problem has steps before ``A:`` (the rest absorbed
    by the answer); ``verbose``: every step written and at least one redundant line;
    ``minimal``: every step written, nothing else; ``malformed``: no ``A:`` or more step lines
    than steps. Only the line structure counts, not whether the values are right.
    """
    k = parse_prompt(prompt).n_steps
    body, sep, _ = completion.rpartition("A:")
    if not sep:
        return "malformed"
    n_steps = _n_step_lines(body)
    if n_steps > k:
        return "malformed"
    if n_steps == 0 and is_veiled(prompt) and " o" not in body:
        return "guess"
    if n_steps < k:
        return "early"
    lines = [ln for ln in body.split(NEWLINE) if ln.strip()]
    return "verbose" if len(lines) > n_steps else "minimal"


def absorbed_ops(prompt: str, completion: str) -> int:
    """Operations the answer had to absorb: steps of the problem minus step lines written."""
    k = parse_prompt(prompt).n_steps
    return max(0, k - _n_step_lines(completion.rpartition("A:")[0]))


def minimal_trace_tokens(n_steps: int, *, include_eos: bool = True) -> int:
    """Length in tokens of the minimal trace of an `n_steps` problem.

    The leading newline, 3 tokens per step line (operation, state, newline), ``A:`` and the
    answer digit, plus the EOS token when `include_eos` (generated lengths count every
    generated token, EOS included): ``3*k + 3 (+1)``. hmpo.models.model's tests check it against the
    tokenizer.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    return 3 * n_steps + 3 + int(include_eos)


def minimal_tokens_for_prompt(prompt: str, *, include_eos: bool = True) -> int:
    """minimal_trace_tokens of the problem a prompt states."""
    return minimal_trace_tokens(parse_prompt(prompt).n_steps, include_eos=include_eos)


# --------------------------------------------------------------------------- checking
def extract_answer(completion: str) -> int | None:
    """The integer after the last ``A:`` (the answer contract), or None if there is none."""
    idx = completion.rfind("A:")
    if idx < 0:
        return None
    tail = completion[idx + 2:].split("\n", 1)[0].strip()
    try:
        return int(tail)
    except ValueError:
        return None


def is_correct(completion: str, gold: str) -> bool:
    """The task's own check: the answer after the last ``A:`` equals the gold integer.

    The same contract hmpo.task.verify.verify implements for every source (tests check they agree).
    """
    got = extract_answer(completion)
    return got is not None and got == int(gold)


def steps_correct(prompt: str, completion: str) -> int:
    """How many step lines of `completion` are right before the first wrong one.

    A step line starts with an operation token; step i is right when it copies operation i and
    writes state i correctly. Verbose lines are ignored. Steering metric: with per-step
    accuracy a, a k-step problem is solved with probability about a**k.
    """
    p = parse_prompt(prompt)
    states = p.states()
    expected = [_step_line(p, i, states)[:-1] for i in range(1, p.n_steps + 1)]
    got = [ln for ln in completion.split("\n") if ln.startswith(" o")]
    n = 0
    for e, g in zip(expected, got, strict=False):  # got may be shorter or longer
        if e != g:
            break
        n += 1
    return n


# --------------------------------------------------------------------------- sets
def _record(p: Problem, set_name: str, idx: int, split: str, gold: int | None = None) -> dict:
    return {
        "id": f"{set_name}-{idx:05d}",
        "source": SOURCE,
        "prompt": p.prompt(),
        "answer": str(p.answer if gold is None else gold),
        "difficulty": p.n_steps,
        "split": split,
    }


def _draw(rng: random.Random, n: int, lo: int, hi: int, seen: set[str], name: str) -> list[Problem]:
    """n distinct problems, difficulty cycling through lo..hi (balanced), none in `seen`."""
    out: list[Problem] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise ValueError(f"{name}: cannot draw {n} distinct problems with {lo}..{hi} steps")
        p = random_problem(rng, lo + len(out) % (hi - lo + 1))
        key = p.prompt()
        if key not in seen:
            seen.add(key)
            out.append(p)
    rng.shuffle(out)
    return out


def make_sets(scfg: SyntheticConfig, seed: int) -> dict[str, list[dict]]:
    """The three synthetic sets as schema records, disjoint by exact problem.

    ``synthetic_eval`` (split "eval") and ``synthetic_train`` (split "train") have
    min_steps..max_steps operations; ``synthetic_transfer`` (split "test") has
    transfer_min_steps..transfer_max_steps (harder, never trained on). Difficulties are
    balanced within each set. Same (scfg, seed) -> same sets.

    With ``veiled_share > 0`` each problem of ``synthetic_eval`` and ``synthetic_train`` is
    veiled with that probability and its hidden factor is 0 with probability
    ``veil_zero_prob`` (module docstring); both draws come from their own stream, after the
    problems, so the problems are the same as without veils. The transfer set has none.
    """
    for key in ("min_steps", "max_steps", "transfer_min_steps", "transfer_max_steps"):
        v = getattr(scfg, key)
        if not 1 <= v <= MAX_STEPS:
            raise ValueError(f"data.synthetic.{key} must be in 1..{MAX_STEPS}, got {v}")
    if scfg.max_steps < scfg.min_steps or scfg.transfer_max_steps < scfg.transfer_min_steps:
        raise ValueError("data.synthetic: max steps must be >= min steps")
    rng = random.Random(f"hmpo-synthetic-{seed}")
    seen: set[str] = set()
    sets = {}
    # eval and transfer first: small sets, drawn before train so their draw does not depend on
    # n_train; train then excludes them.
    spec = [
        ("synthetic_eval", "eval", scfg.n_eval, scfg.min_steps, scfg.max_steps),
        ("synthetic_transfer", "test", scfg.n_transfer, scfg.transfer_min_steps,
         scfg.transfer_max_steps),
        ("synthetic_train", "train", scfg.n_train, scfg.min_steps, scfg.max_steps),
    ]
    veil_rng = random.Random(f"hmpo-synthetic-veil-{seed}")
    for name, split, n, lo, hi in spec:
        probs = _draw(rng, n, lo, hi, seen, name)
        if scfg.veiled_share > 0 and name != "synthetic_transfer":
            sets[name] = []
            for i, p in enumerate(probs):
                if veil_rng.random() < scfg.veiled_share:
                    factor = int(veil_rng.random() >= scfg.veil_zero_prob)
                    p = Problem(p.start_label, p.x0, p.deltas, veiled=True)
                    sets[name].append(_record(p, name, i, split, veiled_gold(p, factor)))
                else:
                    sets[name].append(_record(p, name, i, split))
        else:
            sets[name] = [_record(p, name, i, split) for i, p in enumerate(probs)]
    return {k: sets[k] for k in ("synthetic_train", "synthetic_eval", "synthetic_transfer")}


def sft_texts(records: list[dict], n_traces: int, max_rechecks: int,
              seed: int, early_share: float = 0.0,
              guess_share: float = 0.0) -> list[tuple[str, str]]:
    """(prompt, completion) pairs: `n_traces` traces per record, seeded.

    Each trace is verbose, except that with probability `early_share` it is an early answer
    (:func:`early_answer_trace`) whose number of step lines :func:`early_lines` draws, and, on
    a veiled problem, with probability `guess_share` the guess (:func:`guess_trace`). Every
    reasoning trace answers the visible computation (:meth:`Problem.answer`), the best answer
    the prompt allows, not a veiled record's gold. ``early_share = guess_share = 0`` gives
    exactly the verbose traces of earlier versions (same draws).
    """
    if n_traces < 1:
        raise ValueError(f"n_traces must be >= 1, got {n_traces}")
    if not 0.0 <= early_share <= 1.0:
        raise ValueError(f"early_share must be in [0, 1], got {early_share}")
    if not 0.0 <= guess_share <= 1.0:
        raise ValueError(f"guess_share must be in [0, 1], got {guess_share}")
    rng = random.Random(f"hmpo-sft-traces-{seed}")
    # a separate stream for the style draw, so the verbose traces do not depend on early_share
    style_rng = random.Random(f"hmpo-sft-styles-{seed}")
    guess_rng = random.Random(f"hmpo-sft-guesses-{seed}")
    out = []
    for rec in records:
        p = parse_prompt(rec["prompt"])
        for _ in range(n_traces):
            verbose = verbose_trace(p, rng, max_rechecks)
            if guess_share > 0 and p.veiled and guess_rng.random() < guess_share:
                out.append((rec["prompt"], guess_trace()))
            elif early_share > 0 and style_rng.random() < early_share:
                out.append((rec["prompt"],
                            early_answer_trace(p, early_lines(style_rng, p.n_steps))))
            else:
                out.append((rec["prompt"], verbose))
    return out


if __name__ == "__main__":  # pragma: no cover - a quick look at the format
    _rng = random.Random(0)
    _p = random_problem(_rng, 4)
    print("prompt:   ", repr(_p.prompt()), "answer", _p.answer)
    print("minimal:\n" + _p.prompt() + minimal_trace(_p))
    for _q in (0.3, 0.9):
        print(f"verbose (p={_q}):\n" + _p.prompt() + verbose_trace(_p, _rng, 3, verbosity=_q))

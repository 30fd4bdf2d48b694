"""The prompt templates and the answer extractor: one contract, one home.

A record's ``prompt`` is the raw question; :func:`build_prompt` wraps it for the model and
:func:`extract_answer` reads the model's final answer back. Both live here so that the
round trip ``extract_answer(reasoning + render_answer(a, style)) == a`` is tested in one place
(tests/test_prompts.py); hmpo.task.verify compares what :func:`extract_answer` returns.

Styles (``base_model.prompt_style``):

- ``"synthetic"``: the record's prompt unchanged (the synthetic task's own format); the
  completion ends with a line ``A: <integer>``, and the answer follows the **last** ``A:``.
- ``"plain"``: ``question + "\\n" + INSTRUCTION`` for base models without a chat template.
- ``"chat"``: the same text as one user message, rendered with the tokenizer's chat
  template with ``add_generation_prompt=True`` (instruction-tuned models).
- ``"chat_oneshot"``: ``"chat"`` preceded by one worked example (:data:`ONESHOT_QUESTION`
  as a user turn with the instruction, :data:`ONESHOT_ANSWER` as the assistant turn), for
  small instruct models that otherwise ignore the ``\\boxed{}`` instruction. Measured on
  SmolLM2-135M-Instruct, 16 reasoning-gym chain_sum problems, greedy (scripts/
  measure_smollm2.py): 3/16 correct with ``"chat"`` (most answers unmarked), 9/16 with this.

:data:`INSTRUCTION` is the sentence the AIME/AMC local copies already carry at the end of
their problems; :func:`strip_instruction` removes such a suffix so it is never duplicated.

Extraction order (:func:`extract_answer`): the last complete ``\\boxed{...}`` (balanced
braces, so ``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``), else the text after the last
``####`` (GSM8K), else the last *answer marker*, which is either

- ``A:`` / ``Answer:`` (the rest of the line is the answer), or
- the natural-language statement ``... answer is <X>`` (any case, e.g. "The answer is 7.",
  "So the final answer is $-12$."), which small instruct models write instead of
  ``\\boxed{}``. ``<X>`` is the rest of its sentence (up to a period followed by whitespace,
  or the end of the line), without an optional ``:``, ``$...$`` or markdown ``**``; it counts
  only if it is a mathematical expression: **any English word in it voids the statement**
  (so "the answer is not 3", "the answer isn't 3", "the answer is within \\boxed{}" or "the
  answer is 3 because ..." state no answer). A void last statement is not replaced by an
  earlier one.

Whichever marker comes last in the text wins. There is no last-number fallback: a completion
that only *ends* in the right number states no answer. Only the last
:data:`MAX_SCAN_CHARS` characters are scanned: answers sit at the end, and the bound keeps a
runaway completion from costing more than a fixed amount of work.

Try it::

    python -m hmpo.task.prompts
"""

from __future__ import annotations

import re
from typing import Any, Literal

Style = Literal["synthetic", "plain", "chat", "chat_oneshot"]
STYLES: tuple[str, ...] = ("synthetic", "plain", "chat", "chat_oneshot")
CHAT_STYLES: tuple[str, ...] = ("chat", "chat_oneshot")  # need a tokenizer chat template

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
# The worked example of "chat_oneshot": short, generic arithmetic, and it ends the way the
# contract wants (a statement with \boxed{}); its numbers are not from any data set.
ONESHOT_QUESTION = "What is 5 + 3 - 1?"
ONESHOT_ANSWER = "5 + 3 - 1 = 7\nThe answer is \\boxed{7}."

MAX_SCAN_CHARS = 100_000  # completions are scanned from their last 100k characters only
MAX_ANSWER_CHARS = 10_000  # a \boxed{} body longer than this is treated as unterminated
MAX_BOXED_TRIES = 64  # \boxed occurrences inspected, from the end, before giving up
MAX_MARKER_COLONS = 256  # colons inspected from the end before a regex scan takes over

# "(Please) reason step by step ... \boxed{}." at the very end of a question, any case.
_INSTRUCTION_SUFFIX = re.compile(
    r"\s*(?:please\s+)?reason\s+step\s+by\s+step\b[^\n]{0,200}?\\boxed\{\s*\}\s*\.?\s*\Z",
    re.IGNORECASE,
)
_BOX_COMMANDS = ("\\boxed", "\\fbox")
# `A:` (case-sensitive: the synthetic contract) or `Answer:` (any case, e.g. "Final answer:"),
# not preceded by a letter/digit so that "DATA:" or "QA:" do not count.
_MARKER = re.compile(r"(?<![A-Za-z0-9_])(?:A|[Aa][Nn][Ss][Ww][Ee][Rr])[ \t]*\**[ \t]*:")
_HASHES = "####"
# "... answer is <X>": `answer` as a word, `is` (or the negation `isn't`, group `neg`), an
# optional colon. Letters are spelt as classes (not re.IGNORECASE) so that only ASCII case
# variants match, like _MARKER.
_PHRASE = re.compile(r"(?<![A-Za-z0-9_])[Aa][Nn][Ss][Ww][Ee][Rr][ \t]+[Ii][Ss]"
                     r"(?P<neg>[Nn]['\u2019][Tt])?(?![A-Za-z0-9_])[ \t]*:?")
# A sentence ends at a period followed by whitespace (not the point of "3.5").
_SENTENCE_END = re.compile(r"\.(?=\s)")
# An English word: two or more letters not part of a LaTeX command (\frac, \pi), or a
# contraction ("don't") -> a void statement. Single letters (x, C) are variables and choices;
# juxtaposed ones ("xy") read as a word, so such answers need \boxed{}.
_WORD = re.compile(r"(?<![A-Za-z\\])[A-Za-z]{2,}|['\u2019][A-Za-z]")
_BRACE_OR_ESCAPE = re.compile(r"\\.|[{}]", re.DOTALL)


def strip_instruction(question: str) -> str:
    """Remove a trailing "Please reason step by step, ... \\boxed{}." sentence, if present.

    >>> strip_instruction("What is 1+1?\\nPlease reason step by step, and put your final "
    ...                   "answer within \\\\boxed{}.")
    'What is 1+1?'
    """
    return _INSTRUCTION_SUFFIX.sub("", question).rstrip()


def user_message(question: str) -> str:
    """The instruction-bearing text of the plain and chat styles: question, newline, INSTRUCTION."""
    return f"{strip_instruction(question)}\n{INSTRUCTION}"


def chat_messages(question: str, style: str) -> list[dict[str, str]]:
    """The chat turns of a chat style: the one-shot example (``"chat_oneshot"``), then the
    question with the instruction as the last user turn.

    >>> [m["role"] for m in chat_messages("What is 2+3?", "chat_oneshot")]
    ['user', 'assistant', 'user']
    """
    if style not in CHAT_STYLES:
        raise ValueError(f"style: must be one of {list(CHAT_STYLES)}, got {style!r}")
    shot = [{"role": "user", "content": user_message(ONESHOT_QUESTION)},
            {"role": "assistant", "content": ONESHOT_ANSWER}] if style == "chat_oneshot" else []
    return shot + [{"role": "user", "content": user_message(question)}]


def build_prompt(question: str, style: str, tokenizer: Any = None) -> str:
    """Wrap a record's raw question for the model.

    Args:
        question: the record's ``prompt`` field.
        style: ``"synthetic"`` (unchanged), ``"plain"``, ``"chat"`` or ``"chat_oneshot"``.
        tokenizer: a Hugging Face tokenizer with a chat template; required for the chat styles.

    Raises:
        ValueError: unknown style, or a chat style without a tokenizer with a chat template.

    >>> build_prompt("Q: s4=3 o5+9 e6", "synthetic")
    'Q: s4=3 o5+9 e6'
    >>> build_prompt("What is 2+3?", "plain").endswith("within \\\\boxed{}.")
    True
    """
    if not isinstance(question, str):
        raise ValueError(f"question: expected a string, got {type(question).__name__}")
    if style == "synthetic":
        return question
    if style == "plain":
        return user_message(question)
    if style in CHAT_STYLES:
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"tokenizer: the {style!r} prompt style needs a tokenizer with a "
                             "chat template (use prompt_style 'plain' for base models)")
        text = tokenizer.apply_chat_template(
            chat_messages(question, style),
            tokenize=False,
            add_generation_prompt=True,
        )
        if not isinstance(text, str):  # pragma: no cover - depends on the tokenizer class
            raise ValueError("tokenizer: apply_chat_template(tokenize=False) did not return text")
        return text
    raise ValueError(f"style: must be one of {list(STYLES)}, got {style!r}")


THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def answer_text(completion: str, prompt: str = "") -> str:
    """The part of a completion that may state the final answer.

    A reasoning model's answer is what follows its reasoning block: the text after the last
    ``</think>``. Reasoning that was opened (``<think>`` in the completion, or left open at
    the end of the prompt, as the thinking chat templates do) and never closed has **no
    answer** (empty string), even if a boxed number sits inside it. A model without a
    reasoning block (the tiny model, SmolLM2) gets its whole completion back.

    >>> answer_text("<think>so A: 3? wait</think> A: 4")
    ' A: 4'
    >>> answer_text("so A: 3. wait, let me re-check", prompt="assistant: <think>")
    ''
    >>> answer_text("o1+2 s1=3 A: 3")
    'o1+2 s1=3 A: 3'
    """
    close = completion.rfind(THINK_CLOSE)
    if close >= 0:
        return completion[close + len(THINK_CLOSE):]
    opened_in_prompt = prompt.rfind(THINK_OPEN) > prompt.rfind(THINK_CLOSE)
    if THINK_OPEN in completion or opened_in_prompt:
        return ""
    return completion


def rollout_verdict(correct_fn: Any, completion: str, gold: str, *, finished: bool,
                    prompt: str = "") -> int:
    """The one verdict of training, the multi-stage sampler and evaluation.

    ``1`` correct; ``0`` wrong; ``-1`` **no answer**: the rollout hit the length cap without
    EOS (``finished`` False: a truncated trace is never a solution, whatever it contains), or
    its reasoning never closed (:func:`answer_text`), or it is not correct and states no
    answer (:func:`extract_answer` is None). ``correct_fn(text, gold)`` judges the answer
    text (``hmpo.task.verify.verify``). Rewards read ``-1`` as wrong, except where a peer's
    reference code scores "no answer" separately (GRPO-LEAD).

    >>> rollout_verdict(lambda t, g: g in t, "A: 12 wait, let me", "12", finished=False)
    -1
    >>> rollout_verdict(lambda t, g: g in t, "A: 12", "12", finished=True)
    1
    """
    if not finished:
        return -1
    text = answer_text(completion, prompt)
    if text and correct_fn(text, gold):
        return 1
    return -1 if not text or extract_answer(text) is None else 0


def render_answer(answer: str, style: str) -> str:
    """The canonical final answer as a completion for `style` should end (for SFT / tests).

    ``"synthetic"`` -> ``"A: <answer>"``; the other styles -> ``"\\boxed{<answer>}"``.

    >>> render_answer("4", "synthetic"), render_answer("\\\\frac{1}{2}", "plain")
    ('A: 4', '\\\\boxed{\\\\frac{1}{2}}')
    """
    if style == "synthetic":
        return f"A: {answer}"
    if style in ("plain", *CHAT_STYLES):
        return "\\boxed{" + answer + "}"
    raise ValueError(f"style: must be one of {list(STYLES)}, got {style!r}")


# --------------------------------------------------------------------------- extraction
def braced_body(text: str, open_pos: int) -> str | None:
    """The body of the brace group opening at ``text[open_pos] == "{"``, or None.

    Balanced-brace scan; ``\\{`` and ``\\}`` (escaped, literal braces) do not count. Gives up
    (None) when the group is unterminated or longer than MAX_ANSWER_CHARS.
    """
    depth = 0
    end = min(len(text), open_pos + MAX_ANSWER_CHARS + 2)
    i = open_pos
    while True:
        m = _BRACE_OR_ESCAPE.search(text, i, end)
        if m is None:
            return None
        c = m.group(0)
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[open_pos + 1 : m.start()]
        i = m.end()  # an escape "\x" is consumed whole, so \{ and \} never count


def last_boxed(text: str) -> str | None:
    """The body of the last complete, non-empty ``\\boxed{...}`` (or ``\\fbox{...}``), or None.

    "Last" means the occurrence that starts last; for nested boxes (``\\boxed{\\boxed{5}}``)
    that is the inner one. An unterminated box (a truncated completion) is skipped and the one
    before it is used. ``\\boxed 5`` (no braces) gives the next whitespace-delimited token.

    >>> last_boxed("so \\\\boxed{1} then \\\\boxed{\\\\frac{1}{2}}")
    '\\\\frac{1}{2}'
    >>> last_boxed("\\\\boxed{3} and a truncated \\\\boxed{4")
    '3'
    """
    pos = len(text)
    for _ in range(MAX_BOXED_TRIES):
        starts = [text.rfind(cmd, 0, pos) for cmd in _BOX_COMMANDS]
        start = max(starts)
        if start < 0:
            return None
        cmd = _BOX_COMMANDS[starts.index(start)]
        j = start + len(cmd)
        if j < len(text) and (text[j].isalpha()):  # e.g. \boxedsomething: not our command
            pos = start
            continue
        while j < len(text) and text[j] in " \t":
            j += 1
        body: str | None = None
        if j < len(text) and text[j] == "{":
            body = braced_body(text, j)
        elif j > start + len(cmd) and j < len(text):  # "\boxed 5": one token
            m = re.match(r"[^\s$]+", text[j : j + MAX_ANSWER_CHARS])
            body = m.group(0) if m else None
        if body is not None and body.strip():
            return body.strip()
        pos = start
    return None


def _rest_of_line(text: str, start: int) -> str:
    """The line from `start`, without the markdown bold, ``$...$`` / ``\\(...\\)`` and trailing
    period around an answer, in any nesting ("**3**.", "$-12$.", "**$5$**")."""
    end = text.find("\n", start)
    line = text[start:] if end < 0 else text[start:end]
    for _ in range(4):  # a fixed point in a few rounds; bounded so it never loops
        before = line
        line = line.strip().rstrip(".").strip().strip("*").strip()  # "**Answer:** 5", "**3**."
        if line.startswith("$") and line.endswith("$") and len(line) >= 2:
            line = line[1:-1].strip()
        elif line.startswith("\\(") and line.endswith("\\)"):
            line = line[2:-2].strip()
        if line == before:
            break
    return line


def extract_answer(completion: str) -> str | None:
    """The final answer of a completion as a string, or None if it states none.

    Order: the last complete ``\\boxed{}``; else the rest of the line after the last ``####``;
    else the last answer marker: the rest of the line after ``A:`` / ``Answer:``, or the rest
    of the sentence after "answer is" if it contains no English word (see the module
    docstring), whichever comes last. Trailing periods, ``$...$`` and markdown ``**`` around a
    marker answer are removed. Never raises for a string input; non-strings give None.

    >>> extract_answer("o8+5 s8=9\\nA: 4")
    '4'
    >>> extract_answer("... so it is 72.\\n#### 72")
    '72'
    >>> extract_answer("x = \\\\boxed{\\\\frac{1}{2}}.")
    '\\\\frac{1}{2}'
    >>> extract_answer("4 - 1 = 3.\\nThe answer is **3**."), extract_answer("The answer is not 3")
    ('3', None)
    """
    if not isinstance(completion, str):
        return None
    text = completion[-MAX_SCAN_CHARS:]
    if "\\boxed" in text or "\\fbox" in text:
        boxed = last_boxed(text)
        if boxed is not None:
            return boxed
    h = text.rfind(_HASHES)
    if h >= 0:
        ans = _rest_of_line(text, h + len(_HASHES))
        if ans:
            return ans
    end = _last_marker_end(text)
    phrase = _last_phrase(text) if ("nswer" in text or "NSWER" in text) else None
    if phrase is not None and (end is None or phrase.start() >= end):
        return None if phrase.group("neg") else _phrase_answer(text, phrase.end())
    if end is not None:
        ans = _rest_of_line(text, end)
        if ans:
            return ans
    return None


def _last_phrase(text: str) -> re.Match | None:
    """The last "answer is" statement (the _PHRASE pattern), or None."""
    last = None
    for m in _PHRASE.finditer(text):
        last = m
    return last


def _phrase_answer(text: str, start: int) -> str | None:
    """The answer stated by "answer is" ending at `start`: the rest of its sentence, or None.

    None when that is empty or contains an English word (:data:`_WORD`): "not 3", "within
    \\boxed{}", "3 because ..." state no answer.
    """
    end = text.find("\n", start)
    line = text[start:] if end < 0 else text[start:end]
    stop = _SENTENCE_END.search(line)
    ans = _rest_of_line(line[: stop.start()] if stop else line, 0)
    if not ans or _WORD.search(ans):
        return None
    return ans


def _last_marker_end(text: str) -> int | None:
    """End index of the last ``A:`` / ``Answer:`` marker (the _MARKER pattern), or None.

    Scans back from colon to colon (completions have few), which is several times faster than
    a forward regex scan on the hot path; after MAX_MARKER_COLONS colons it falls back to it.
    """
    pos = len(text)
    for _ in range(MAX_MARKER_COLONS):
        c = text.rfind(":", 0, pos)
        if c < 0:
            return None
        k = c  # mirror `[ \t]*\**[ \t]*:` backwards
        for chars in (" \t", "*", " \t"):
            while k > 0 and text[k - 1] in chars:
                k -= 1
        for word in ("A", "answer"):
            start = k - len(word)
            if start < 0:
                continue
            token = text[start:k]
            if (token == word if word == "A" else token.lower() == word) and (
                start == 0 or not (text[start - 1].isascii() and (text[start - 1].isalnum()
                                                                   or text[start - 1] == "_"))
            ):
                return c + 1
        pos = c
    last = None
    for match in _MARKER.finditer(text, 0, pos):
        last = match
    return last.end() if last is not None else None


if __name__ == "__main__":  # pragma: no cover
    q = "What is 17 + 25?"
    for s in ("synthetic", "plain"):
        print(f"--- {s}\n{build_prompt(q, s)}")
    for c in ("work...\nA: 42", "so \\boxed{\\frac{1}{2}}", "#### 1,000"):
        print(repr(c), "->", repr(extract_answer(c)))

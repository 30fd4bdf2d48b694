"""The prompt templates and the answer extractor: one contract, one home.

A record's ``prompt`` is the raw question; :func:`build_prompt` wraps it for the model and
:func:`extract_answer` reads the model's final answer back. Both live here so that the
round trip ``extract_answer(reasoning + render_answer(a, style)) == a`` is tested in one place
(tests/test_prompts.py); hmpo.verify compares what :func:`extract_answer` returns.

Styles (``base_model.prompt_style``):

- ``"synthetic"``: the record's prompt unchanged (the synthetic task's own format); the
  completion ends with a line ``A: <integer>``, and the answer follows the **last** ``A:``.
- ``"plain"``: ``question + "\\n" + INSTRUCTION`` for base models without a chat template.
- ``"chat"``: the same text as one user message, rendered with the tokenizer's chat
  template with ``add_generation_prompt=True`` (instruction-tuned models).

:data:`INSTRUCTION` is the sentence the AIME/AMC local copies already carry at the end of
their problems; :func:`strip_instruction` removes such a suffix so it is never duplicated.

Extraction order (:func:`extract_answer`): the last complete ``\\boxed{...}`` (balanced
braces, so ``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``), else the text after the last
``####`` (GSM8K), else the text after the last ``A:`` / ``Answer:`` marker. Only the last
:data:`MAX_SCAN_CHARS` characters are scanned: answers sit at the end, and the bound keeps a
runaway completion from costing more than a fixed amount of work.

Try it::

    python -m hmpo.prompts
"""

from __future__ import annotations

import re
from typing import Any, Literal

Style = Literal["synthetic", "plain", "chat"]
STYLES: tuple[str, ...] = ("synthetic", "plain", "chat")

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

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


def build_prompt(question: str, style: str, tokenizer: Any = None) -> str:
    """Wrap a record's raw question for the model.

    Args:
        question: the record's ``prompt`` field.
        style: ``"synthetic"`` (unchanged), ``"plain"`` or ``"chat"``.
        tokenizer: a Hugging Face tokenizer with a chat template; required for ``"chat"``.

    Raises:
        ValueError: unknown style, or ``"chat"`` without a tokenizer that has a chat template.

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
    if style == "chat":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("tokenizer: the 'chat' prompt style needs a tokenizer with a chat "
                             "template (use prompt_style 'plain' for base models)")
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": user_message(question)}],
            tokenize=False,
            add_generation_prompt=True,
        )
        if not isinstance(text, str):  # pragma: no cover - depends on the tokenizer class
            raise ValueError("tokenizer: apply_chat_template(tokenize=False) did not return text")
        return text
    raise ValueError(f"style: must be one of {list(STYLES)}, got {style!r}")


def render_answer(answer: str, style: str) -> str:
    """The canonical final answer as a completion for `style` should end (for SFT / tests).

    ``"synthetic"`` -> ``"A: <answer>"``; ``"plain"`` / ``"chat"`` -> ``"\\boxed{<answer>}"``.

    >>> render_answer("4", "synthetic"), render_answer("\\\\frac{1}{2}", "plain")
    ('A: 4', '\\\\boxed{\\\\frac{1}{2}}')
    """
    if style == "synthetic":
        return f"A: {answer}"
    if style in ("plain", "chat"):
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
    end = text.find("\n", start)
    line = text[start:] if end < 0 else text[start:end]
    line = line.strip().strip("*").strip()  # markdown bold: "**Answer:** 5"
    if line.startswith("$") and line.endswith("$") and len(line) >= 2:
        line = line[1:-1].strip()
    return line.rstrip(".").strip()


def extract_answer(completion: str) -> str | None:
    """The final answer of a completion as a string, or None if it states none.

    Order: the last complete ``\\boxed{}``; else the rest of the line after the last ``####``;
    else the rest of the line after the last ``A:`` / ``Answer:`` marker. Trailing periods,
    ``$...$`` and markdown ``**`` around a marker answer are removed. Never raises for a string
    input; non-strings give None.

    >>> extract_answer("o8+5 s8=9\\nA: 4")
    '4'
    >>> extract_answer("... so it is 72.\\n#### 72")
    '72'
    >>> extract_answer("x = \\\\boxed{\\\\frac{1}{2}}.")
    '\\\\frac{1}{2}'
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
    if end is not None:
        ans = _rest_of_line(text, end)
        if ans:
            return ans
    return None


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

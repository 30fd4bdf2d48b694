"""hmpo.task.prompts: templates and the answer extractor, tested as a round trip.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_prompts.py -q
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmpo.task.prompts import (
    INSTRUCTION,
    ONESHOT_ANSWER,
    ONESHOT_QUESTION,
    build_prompt,
    extract_answer,
    last_boxed,
    render_answer,
    strip_instruction,
)

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@pytest.fixture(scope="module")
def chat_tokenizer():
    """A tiny word-level tokenizer with a chat template, built in-process (no hub)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "<|user|>": 1, "<|assistant|>": 2, "What": 3, "is": 4}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    hf.chat_template = CHAT_TEMPLATE
    return hf


def test_synthetic_style_is_the_prompt_unchanged():
    q = "Q: s4=3 o5+9 o6+1 e7"
    assert build_prompt(q, "synthetic") == q


def test_plain_style_appends_the_instruction_once():
    q = "What is 2+3?"
    assert build_prompt(q, "plain") == "What is 2+3?\n" + INSTRUCTION
    # a question that already carries the instruction (the AIME/AMC files) is not doubled
    assert build_prompt(q + "\n" + INSTRUCTION, "plain") == build_prompt(q, "plain")


def test_chat_style_uses_the_chat_template(chat_tokenizer):
    text = build_prompt("What is 2+3?", "chat", chat_tokenizer)
    assert text == "<|user|>\nWhat is 2+3?\n" + INSTRUCTION + "\n<|assistant|>\n"
    assert text.count(INSTRUCTION) == 1


def test_chat_oneshot_style_puts_the_worked_example_first(chat_tokenizer):
    text = build_prompt("What is 2+3?", "chat_oneshot", chat_tokenizer)
    assert text == (
        "<|user|>\n" + ONESHOT_QUESTION + "\n" + INSTRUCTION + "\n"
        "<|assistant|>\n" + ONESHOT_ANSWER + "\n"
        "<|user|>\nWhat is 2+3?\n" + INSTRUCTION + "\n<|assistant|>\n"
    )
    # the example obeys the contract it demonstrates: its answer is read back as 7
    assert extract_answer(ONESHOT_ANSWER) == "7"
    # and it ends with the real question, so the plain chat prompt is its suffix
    assert text.endswith(build_prompt("What is 2+3?", "chat", chat_tokenizer)[len("<|user|>"):])


@pytest.mark.parametrize("style", ["chat", "chat_oneshot"])
def test_chat_style_needs_a_chat_template(chat_tokenizer, style):
    with pytest.raises(ValueError, match="tokenizer"):
        build_prompt("q", style)
    no_template = chat_tokenizer.__class__(tokenizer_object=chat_tokenizer.backend_tokenizer)
    no_template.chat_template = None
    with pytest.raises(ValueError, match="chat template"):
        build_prompt("q", style, no_template)


def test_unknown_style_is_rejected():
    with pytest.raises(ValueError, match="style"):
        build_prompt("q", "markdown")
    with pytest.raises(ValueError, match="style"):
        render_answer("1", "markdown")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Find x.\nPlease reason step by step, and put your final answer within \\boxed{}.",
         "Find x."),  # the exact AIME/AMC suffix
        ("Find x. please reason step by step and put the final answer in \\boxed{ }",
         "Find x."),  # case and wording variants
        ("Find x.", "Find x."),  # nothing to strip
        ("Reason step by step about \\boxed{} here. Then stop.",
         "Reason step by step about \\boxed{} here. Then stop."),  # not a suffix: kept
    ],
)
def test_strip_instruction(question, expected):
    assert strip_instruction(question) == expected


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("a\nA: 4", "4"),  # synthetic marker
        ("A: 1\nmore\nA: 2", "2"),  # the last marker
        ("Answer: 17.", "17"),  # Answer: and a trailing period
        ("#### 1,234", "1,234"),  # GSM8K marker keeps the raw text (verify normalises)
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # balanced braces
        ("\\boxed{a} \\boxed{b}", "b"),  # the last box
        ("\\boxed{a} \\boxed{", "a"),  # an unterminated last box is skipped
        ("\\boxed{}", None),  # an empty box is no answer
        ("nothing", None),  # no marker
        ("", None),
        ("Answer: **3**.", "3"),  # bold then a period, in either nesting
        ("Answer: **$5$**.", "5"),  # bold around $...$
        # --- the statement "... answer is <X>": the rest of its sentence
        ("4 - 1 = 3\nThe answer is 3.", "3"),  # trailing period removed
        ("So, the final answer is **3**.", "3"),  # markdown bold
        ("**The answer is 7.**", "7"),  # bold around the whole statement
        ("The answer is: $-12$.", "-12"),  # colon and $...$
        ("The answer is \\(5\\).", "5"),  # \(...\)
        ("The answer is 3.5. It is half of 7.", "3.5"),  # a decimal point is no sentence end
        ("THE ANSWER IS 9", "9"),  # any case
        ("The answer is x = 5", "x = 5"),  # single letters are variables, not words
        ("the answer is \\frac{1}{2}.", "\\frac{1}{2}"),  # LaTeX commands are not words
        ("The answer is (B).", "(B)"),  # a choice letter
        ("The answer is 3. Wait, the answer is 4.", "4"),  # several: the last
        ("the answer is not 3", None),  # negation: void, never "3"
        ("The answer isn't 3.", None),  # contraction: void
        ("The answer is 3. Then: the answer is not 3.", None),  # a void last one is not
        # replaced by the earlier statement
        ("The answer is 12 apples.", None),  # any word voids it (no guessing at units)
        ("The answer is within \\boxed{}.", None),  # empty box, then words: nothing
        ("The answer is", None),  # nothing after it
        ("the answer is 6\nAnswer: 5", "5"),  # the last marker of either kind wins
        ("Answer: 5\nso the answer is 6", "6"),
        ("reanswer is 5", None),  # `answer` must be a whole word
        ("it ends in 12", None),  # no marker: no last-number fallback
    ],
)
def test_extract_answer(completion, expected):
    assert extract_answer(completion) == expected


def test_extract_answer_non_string():
    assert extract_answer(None) is None  # type: ignore[arg-type]


def test_last_boxed_escaped_braces():
    assert last_boxed("\\boxed{\\{1,2\\}}") == "\\{1,2\\}"


# --- round trip: whatever answer a style renders, the extractor reads back
_leaf = st.text(alphabet="0123456789abcxyz+-=,.^_() ", min_size=1, max_size=6) | st.sampled_from(
    ["\\frac", "\\sqrt", "\\pi", "\\{", "\\}", "\\left(", "\\right)"]
)  # LaTeX commands; \{ and \} are literal braces that must not count
_balanced = st.recursive(
    _leaf,
    lambda inner: st.builds(lambda a, b: a + "{" + b + "}", inner, inner)
    | st.builds(lambda a, b: a + b, inner, inner),
    max_leaves=6,
)
_reasoning = st.text(alphabet="abc xyz0123456789+-=\n:.", max_size=80)


@settings(max_examples=200, deadline=None)
@given(reasoning=_reasoning, answer=st.integers(-10**30, 10**30).map(str))
def test_round_trip_synthetic(reasoning, answer):
    completion = reasoning + "\n" + render_answer(answer, "synthetic")
    assert extract_answer(completion) == answer


@settings(max_examples=200, deadline=None)
@given(reasoning=_reasoning, answer=_balanced,
       style=st.sampled_from(["plain", "chat", "chat_oneshot"]))
def test_round_trip_boxed(reasoning, answer, style):
    answer = answer.strip()
    if not answer:  # an empty box is no answer
        return
    completion = reasoning + " so the answer is " + render_answer(answer, style) + "."
    assert extract_answer(completion) == answer


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="AanswerANSWER :*\t\nxQ_1", max_size=40))
def test_marker_scan_matches_the_regex(text):
    """The fast backward colon scan finds the same last marker as the _MARKER regex."""
    from hmpo.task.prompts import _MARKER, _last_marker_end

    matches = list(_MARKER.finditer(text))
    assert _last_marker_end(text) == (matches[-1].end() if matches else None)


@pytest.mark.parametrize("text", ["A* *: 1", "A *: 1", "A\t**\t: 1", "xA: 1", "_A: 1", "Answer :1"])
def test_marker_scan_edge_cases(text):
    from hmpo.task.prompts import _MARKER, _last_marker_end

    matches = list(_MARKER.finditer(text))
    assert _last_marker_end(text) == (matches[-1].end() if matches else None)


def test_marker_after_many_colons():
    """Past MAX_MARKER_COLONS colons the scan falls back to the regex and still finds it."""
    assert extract_answer("A: 7\n" + ":" * 1000) == "7"

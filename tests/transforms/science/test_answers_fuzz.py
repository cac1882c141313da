"""Fuzzing the answer reader and checker (Hypothesis, bounded in time): no exception escapes, no
answer takes longer than the checker's deadline, and verdicts are always one of the three."""
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.science.answers import (
    SYMBOLIC_TIMEOUT,
    VERDICTS,
    answer_verdict,
    classify_answer,
    normalize_answer,
    read_answer,
)
from transforms.science.answer_latex import SYMBOLIC_GRACE

# pieces answers are made of, so generated text reaches the number, unit, tuple and LaTeX readers
TOKENS = ["0", "1", "2", "9", "10", "999", ".", ",", " ", "-", "+", "*", "**", "/", "^", "!", "(", ")", "{", "}",
          "[", "]", "\\{", "\\}", "=", "<", "x", "y", "e", "E", "i", "\\frac", "\\sqrt", "\\binom", "\\pi", "\\times",
          "\\cdot", "\\boxed{", "\\text{", "\\left(", "\\right)", "\\approx", "$", "%", "m/s", "kg", "mol", "°C",
          "and", "or", "True", "(B)", "Answer:", "\\sin", "\\log_", "factorial(", "sqrt(", "\\begin{pmatrix}",
          "\\end{pmatrix}", "&", "\\\\", "_", "'", "\"", "\x00", "é", "⁻¹", "²", "×", "−"]
ANSWERS = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=30).map("".join),
    st.text(max_size=80),
    st.integers(min_value=-10 ** 30, max_value=10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.integers(-100, 100), st.booleans(), st.text(max_size=5)), max_size=4),
)
# one check may read both answers in the worker under the deadline, plus the worker's start
BOUND = SYMBOLIC_TIMEOUT + SYMBOLIC_GRACE + 30.0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANSWERS, ANSWERS, st.sampled_from([None, "multiple_choice", "boolean", "numeric"]))
def test_reader_and_checker_never_raise_or_hang(a, b, answer_type):
    started = time.monotonic()
    reading = read_answer(a, answer_type)
    assert reading is None or reading.answer_type in ("numeric", "expression", "multiple_choice", "boolean", "tuple")
    classified = classify_answer(a)
    assert classified is None or isinstance(classified[1], str)
    if isinstance(a, str):
        once = normalize_answer(a)
        assert normalize_answer(once) == once
    assert answer_verdict(a, b, answer_type) in VERDICTS
    assert answer_verdict(a, a, answer_type) in VERDICTS
    assert time.monotonic() - started < BOUND


def test_normalizing_is_idempotent_where_one_removal_reveals_another():
    # found by the fuzz test above: removing \left revealed the math delimiter \( (normalized to "" next time)
    for text in ["\\\\\\left(", "\\boxed{\\boxed{5}}", "$\\text{\\mathrm{$3$}}$"]:
        once = normalize_answer(text)
        assert normalize_answer(once) == once

"""The answer reader: normalization, option keys and booleans, and ``read_answer`` /
``classify_answer`` over numbers (``answer_numbers``), expressions (``answer_latex``) and tuples.

Part of ``transforms.science.answers`` (see its module doc).
"""
from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, NamedTuple, Sequence

from transforms.science.answer_latex import (
    MAX_ANSWER_CHARS, SymbolicTimeout, _ASSIGNMENT_RE, _constant_rational, _expression_canonical,
    _parse_expression, _strip_assignment, _sympy_kind, looks_like_expression, run_symbolic, time_limit,
)
from transforms.science.answer_numbers import MAX_UNIT_CHARS, Number, _number_canonical, read_number

MAX_TUPLE_ITEMS = 6
SYMBOLIC_TIMEOUT = 2.0
APPROXIMATE_SIG_FIGS = 2


class Reading(NamedTuple):
    """A verifiable answer: type, canonical string, and the value the checker compares.

    ``value`` is a ``Number``, an option letter, a bool, a sympy object, or for tuples a pair
    ``(ordered, items)`` of a bool and a tuple of ``Reading``.
    """

    answer_type: str
    canonical: str
    value: Any


# --------------------------------------------------------------------------- normalization

_SUPERSCRIPTS = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7",
                 "⁸": "8", "⁹": "9", "⁻": "-", "⁺": "+"}
_SUPERSCRIPT_RE = re.compile("[" + "".join(_SUPERSCRIPTS) + "]+")
_CHAR_REPLACEMENTS = str.maketrans({
    "⁄": "/", "−": "-", "×": " \\times ", "·": " \\cdot ", "⋅": " \\cdot ", "÷": "/", "≈": "\\approx ",
    "≤": "\\le ", "≥": "\\ge ", "π": "\\pi ", "∞": "\\infty ", "√": "\\sqrt", "’": "'", "‘": "'",
    "“": '"', "”": '"',
})
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_PREFIX_RE = re.compile(
    r"^(?:(?:so|thus|therefore|hence)\s*,?\s*)?(?:the\s+)?(?:final\s+|correct\s+|right\s+)?"
    r"(?:answer|option|choice)\s*(?:is|:|=)\s*:?\s*",
    re.IGNORECASE,
)
_APPROX_PREFIX_RE = re.compile(r"^(?:\\approx|\\sim|approximately|approx\.?|about|roughly|~)\s*", re.IGNORECASE)
_REMOVE_COMMANDS_RE = re.compile(
    r"\\(?:displaystyle|textstyle|left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![A-Za-z])"
)
_SPACING_RE = re.compile(r"(?<!\\)\\(?:[,;:! ]|quad|qquad|enspace|thinspace)|~")
_FRAC_ALIAS_RE = re.compile(r"\\[dtc]frac(?![A-Za-z])")
_FRAC_SHORT_RE = re.compile(r"\\frac\s*([0-9A-Za-z])\s*([0-9A-Za-z])")
_WRAPPER_RE = re.compile(
    r"\\(?:text|textrm|textit|textbf|textnormal|mathrm|mathit|mathbf|mathsf|mathnormal|operatorname|rm|mbox|unit)\s*\{([^{}]*)\}"
)
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![A-Za-z])|\\degree(?![A-Za-z])|\\textdegree(?![A-Za-z])")
_DEGREE_SCALE_RE = re.compile(r"°\s*([CF])(?![A-Za-z])")
_WHITESPACE_RE = re.compile(r"\s+")


def _last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (balanced braces), or None."""
    matches = list(_BOXED_RE.finditer(text))
    if not matches:
        return None
    start = matches[-1].end()
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{" and text[index - 1] != "\\":
            depth += 1
        elif text[index] == "}" and text[index - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start:index]
    return None


def _remove_math_delimiters(text: str) -> str:
    text = text.replace("\\(", " ").replace("\\)", " ").replace("\\[", " ").replace("\\]", " ")
    unescaped = re.findall(r"(?<!\\)\$", text)
    if len(unescaped) % 2 == 0:
        text = re.sub(r"(?<!\\)\$", " ", text)
    return text.replace("\\$", "$")


def normalize_answer(answer: str) -> str:
    """The answer text the reader parses (see the module doc); idempotent."""
    return _normalize(answer)[0]


def _normalize(answer: str) -> tuple[str, bool]:
    """(normalized text, whether an "approximately" / ``\\approx`` / ``~`` prefix was removed).

    Passes repeat to a fixed point: removing one construct can reveal another (``\\\\\\left(`` loses
    ``\\left`` and becomes the delimiter ``\\(``), and the result must be idempotent."""
    approximate = False
    for _ in range(_MAX_PASSES):
        text, approximated = _normalize_once(answer)
        approximate = approximate or approximated
        if text == answer:
            break
        answer = text
    return answer, approximate


_MAX_PASSES = 8  # real answers settle in one or two passes; the bound keeps a pathological text finite


def _normalize_once(answer: str) -> tuple[str, bool]:
    text = _SUPERSCRIPT_RE.sub(lambda m: "^{" + "".join(_SUPERSCRIPTS[c] for c in m.group(0)) + "}", answer)
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_REPLACEMENTS)
    boxed = _last_boxed(text)
    if boxed is not None:
        text = boxed
    text = _remove_math_delimiters(text)
    text = _REMOVE_COMMANDS_RE.sub("", text)
    text = _SPACING_RE.sub(" ", text)
    text = _FRAC_ALIAS_RE.sub(r"\\frac", text)
    text = _FRAC_SHORT_RE.sub(r"\\frac{\1}{\2}", text)
    previous = None
    while previous != text:  # nested wrappers: \text{\mathrm{m}}
        previous, text = text, _WRAPPER_RE.sub(lambda m: " " + m.group(1) + " ", text)
    text = _DEGREE_RE.sub("°", text)
    text = _DEGREE_SCALE_RE.sub(r"°\1", text)
    text = text.replace("\\%", "%")
    text = _WHITESPACE_RE.sub(" ", text).strip()
    previous, approximate = None, False
    while previous != text:
        previous = text
        text = _ANSWER_PREFIX_RE.sub("", text)
        text, approximations = _APPROX_PREFIX_RE.subn("", text)
        approximate = approximate or approximations > 0
        text = text.strip().rstrip(".;,").strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1].strip()
    return text, approximate


# --------------------------------------------------------------------------- options and booleans

_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False}
_OPTION_RES = (
    re.compile(r"^\(?([A-J])\)?$"),
    re.compile(r"^\(([a-j])\)$"),
    re.compile(r"^(?:option|choice|answer|letter)\s*[:\-]?\s*\(?([A-Ja-j])\)?$", re.IGNORECASE),
    re.compile(r"^\(([A-Ja-j])\)\s*\S.*$", re.DOTALL),
    re.compile(r"^([A-J])\)\s*\S.*$", re.DOTALL),
    re.compile(r"^([A-J])[.:]\s+(?![a-z]+$)\S.*$", re.DOTALL),  # "B. 500 nm" but not "E. coli"
)
_LENIENT_OPTION_RE = re.compile(r"(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-J])\)?(?![A-Za-z])|\(([A-J])\)")
_LENIENT_BOOLEAN_RE = re.compile(r"^(true|false|yes|no)\b", re.IGNORECASE)


def read_option(text: str) -> str | None:
    """The option key (A-J) a normalized answer names, or None."""
    for pattern in _OPTION_RES:
        match = pattern.match(text)
        if match:
            return match.group(1).upper()
    return None


# --------------------------------------------------------------------------- reading

_BRACKETS = (("(", ")", True), ("[", "]", True), ("\\{", "\\}", False), ("{", "}", False),
             ("\\langle", "\\rangle", True))
_SEPARATOR_RE = re.compile(r"\s+(?:and|or)\s+")


def _outer_bracket(text: str) -> tuple[str, bool] | None:
    """(inner text, ordered) when one bracket pair encloses all of ``text``."""
    for opening, closing, ordered in _BRACKETS:
        if text.startswith(opening) and text.endswith(closing) and len(text) > len(opening) + len(closing):
            inner = text[len(opening):-len(closing)]
            if _split_top_level(inner, ()) == [inner] and _balanced(inner):
                return inner, ordered
    return None


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if depth < 0:
            return False
    return depth == 0


def _split_top_level(text: str, separators: Sequence[str] = (",", ";")) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and char in separators:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


class ReadingRules(NamedTuple):
    """Limits of the reader (every threshold is a parameter)."""

    max_chars: int = MAX_ANSWER_CHARS
    max_tuple_items: int = MAX_TUPLE_ITEMS
    max_unit_chars: int = MAX_UNIT_CHARS
    timeout: float | None = SYMBOLIC_TIMEOUT


DEFAULT_RULES = ReadingRules()


class NeedsSymbolic(Exception):
    """Reading this answer needs sympy, which runs only under the deadline (``read_symbolic``)."""


def _read_scalar(text: str, rules: ReadingRules, symbolic: bool) -> Reading | None:
    """A non-tuple reading of normalized text."""
    if not text:
        return None
    lowered = text.lower()
    if lowered in _BOOLEANS:
        value = _BOOLEANS[lowered]
        return Reading("boolean", "true" if value else "false", value)
    option = read_option(text)
    if option:
        return Reading("multiple_choice", option, option)
    number = read_number(text, rules.max_unit_chars)
    if number:
        return Reading("numeric", _number_canonical(number), number)
    if "=" in text and _ASSIGNMENT_RE.match(text):
        rest = _strip_assignment(text)
        if "=" in rest:  # "F = ma = 10 N": the value is the last part
            number = read_number(rest.rsplit("=", 1)[1].strip(), rules.max_unit_chars)
            if number:
                return Reading("numeric", _number_canonical(number), number)
        return _read_scalar(rest, rules, symbolic)
    return _read_expression(text, rules, symbolic)


def _read_expression(text: str, rules: ReadingRules, symbolic: bool) -> Reading | None:
    """An expression reading; ``NeedsSymbolic`` when not ``symbolic``; ``SymbolicLimit`` /
    ``SymbolicTimeout`` propagate (the caller decides what "too big" means)."""
    if not looks_like_expression(text, rules.max_chars):
        return None
    if not symbolic:
        raise NeedsSymbolic(text)
    with time_limit(rules.timeout):
        try:
            expr = _parse_expression(text)
        except Exception:  # noqa: BLE001 - the parsers raise many types; unparsable means open-ended
            return None
        if _sympy_kind(expr) is None:
            return None
        rational = _constant_rational(expr)
        if rational is not None:
            number = Number(rational, None, None, True)
            return Reading("numeric", _number_canonical(number), number)
        return Reading("expression", _expression_canonical(expr, text), expr)


def _read_tuple(text: str, rules: ReadingRules, symbolic: bool) -> Reading | None:
    bracket = _outer_bracket(text)
    inner, ordered = bracket if bracket else (text, True)
    parts = _split_top_level(inner)
    if len(parts) == 1:
        parts = _SEPARATOR_RE.split(inner) if not bracket or ordered else parts
    if len(parts) < 2 or len(parts) > rules.max_tuple_items:
        return None
    items = []
    for part in parts:
        item = _read_scalar(part.strip(), rules, symbolic)
        if item is None:
            return None
        items.append(item)
    canonicals = [item.canonical for item in items]
    if not ordered:
        order = sorted(range(len(items)), key=lambda i: canonicals[i])
        items, canonicals = [items[i] for i in order], [canonicals[i] for i in order]
        canonical = "{" + ", ".join(canonicals) + "}"
    else:
        canonical = "(" + ", ".join(canonicals) + ")"
    return Reading("tuple", canonical, (ordered, tuple(items)))


def _has_separator(text: str) -> bool:
    bracket = _outer_bracket(text)
    inner = bracket[0] if bracket else text
    return len(_split_top_level(inner)) > 1 or bool(_SEPARATOR_RE.search(inner))


def read_answer(answer: Any, answer_type: str | None = None, rules: ReadingRules = DEFAULT_RULES) -> Reading | None:
    """The ``Reading`` of an answer, or None when it is open-ended.

    ``answer_type`` is a hint for answers known to be of that type (e.g. a solver's reply to a
    multiple-choice question): ``multiple_choice`` also finds "the answer is (C)" or "(C)" inside
    text, ``boolean`` a leading "Yes, ..." / "False because ...". Answers that need sympy are read
    in a worker process under ``rules.timeout`` (``answer_latex.run_symbolic``); one over a size
    limit or the deadline reads as None.
    """
    try:
        return read_reading(answer, answer_type, rules, symbolic=False)
    except NeedsSymbolic:
        pass
    try:
        return run_symbolic("transforms.science.answer_reader:read_symbolic", (answer, answer_type, rules),
                            rules.timeout)
    except SymbolicTimeout:
        return None


def read_answers(answers: Sequence[Any], answer_type: str | None = None,
                 rules: ReadingRules = DEFAULT_RULES) -> list[Reading | None]:
    """``read_answer`` of each answer, with one worker round trip for all that need sympy (each still
    under its own ``rules.timeout`` there). When the worker misses the batch's deadline or dies, those
    answers are read one by one as ``read_answer`` reads them, so the readings are always the same."""
    readings: list[Reading | None] = [None] * len(answers)
    pending = []
    for index, answer in enumerate(answers):
        try:
            readings[index] = read_reading(answer, answer_type, rules, symbolic=False)
        except NeedsSymbolic:
            pending.append(index)
    if len(pending) > 1 and rules.timeout:
        try:
            # the deadline bounds a batch of normal answers; a slow one sends the batch the one-by-one way
            found = run_symbolic("transforms.science.answer_reader:read_symbolic_many",
                                 ([answers[i] for i in pending], answer_type, rules),
                                 rules.timeout + BATCH_SECONDS_PER_ANSWER * len(pending))
            for index, reading in zip(pending, found, strict=True):
                readings[index] = reading
            return readings
        except SymbolicTimeout:
            pass
    for index in pending:
        readings[index] = read_answer(answers[index], answer_type, rules)
    return readings


BATCH_SECONDS_PER_ANSWER = 0.2  # of a batch's deadline in the worker (answers take milliseconds each)


def read_symbolic(answer: Any, answer_type: str | None, rules: ReadingRules) -> Reading | None:
    """``read_answer`` with sympy in this process (a worker's side of ``run_symbolic``)."""
    try:
        return read_reading(answer, answer_type, rules, symbolic=True)
    except SymbolicTimeout:
        return None


def read_symbolic_many(answers: Sequence[Any], answer_type: str | None, rules: ReadingRules) -> list[Reading | None]:
    """``read_symbolic`` of each answer (a worker's side of ``read_answers``)."""
    return [read_symbolic(answer, answer_type, rules) for answer in answers]


def answer_text(value: Any) -> str | None:
    """The text of a typed answer (JSON/Parquet values): strings as they are, booleans as
    ``true``/``false``, finite numbers, and lists or tuples of those as ``(a, b)``; None otherwise."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, (list, tuple)) and value:
        items = [answer_text(item) for item in value]
        if any(item is None or isinstance(item, (list, tuple)) for item in value) or None in items:
            return None
        return items[0] if len(items) == 1 else "(" + ", ".join(items) + ")"
    return None


def read_reading(answer: Any, answer_type: str | None, rules: ReadingRules, symbolic: bool) -> Reading | None:
    """The reader itself: without ``symbolic`` it raises ``NeedsSymbolic`` where sympy would be needed;
    with it, ``SymbolicLimit`` / ``SymbolicTimeout`` propagate. Typed answers read as their ``answer_text``."""
    answer = answer_text(answer)
    if answer is None:
        return None
    text, approximate = _normalize(answer)
    reading = None
    if text and len(text) <= rules.max_chars:
        number = read_number(text, rules.max_unit_chars)  # "1,500" is a number before it is a pair
        if number:
            reading = Reading("numeric", _number_canonical(number), number)
        elif _has_separator(text):
            reading = _read_tuple(text, rules, symbolic)
        if reading is None:
            reading = _read_scalar(text, rules, symbolic)
    if approximate and reading is not None and reading.answer_type == "numeric":
        reading = reading._replace(value=_rounded(reading.value))
    if answer_type == "multiple_choice" and (reading is None or reading.answer_type != "multiple_choice"):
        match = _LENIENT_OPTION_RE.search(text)
        if match:
            letter = match.group(1) or match.group(2)
            return Reading("multiple_choice", letter, letter)
    if answer_type == "boolean" and (reading is None or reading.answer_type != "boolean"):
        match = _LENIENT_BOOLEAN_RE.match(text)
        if match:
            value = _BOOLEANS[match.group(1).lower()]
            return Reading("boolean", "true" if value else "false", value)
    return reading


def _rounded(number: Number) -> Number:
    """An integer marked approximate ("about 10,000") is rounded: its digits up to the trailing
    zeros count, at least ``APPROXIMATE_SIG_FIGS``."""
    if number.sig_figs is not None or number.fraction or number.value.denominator != 1:
        return number
    digits = str(abs(number.value.numerator)).rstrip("0")
    return number._replace(sig_figs=max(len(digits), APPROXIMATE_SIG_FIGS))


def classify_answer(answer: Any, rules: ReadingRules = DEFAULT_RULES) -> tuple[str, str] | None:
    """``(answer_type, canonical)`` of a verifiable answer, or None for an open-ended one."""
    reading = read_answer(answer, rules=rules)
    return None if reading is None else (reading.answer_type, reading.canonical)

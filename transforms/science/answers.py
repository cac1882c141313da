"""Rule-based answer checker and the verifiable / open-ended split of Dr. SCI.

``classify_answer(answer)`` reads a reference answer and answers ``(answer_type, canonical)``,
or None when the answer is open-ended. Types (``schemas.science.ANSWER_TYPES``) and their
canonical forms:

* ``multiple_choice``: an option key A-J, written ``B``, ``(B)``, ``B)``, ``Option B``,
  ``Answer: (b)``, ``(B) 500 nm``, ``B) 500 nm`` -> ``"B"``. ``E. coli``-like text (a letter,
  a period and one lowercase word) is not an option key.
* ``boolean``: true / false / yes / no in any case -> ``"true"`` / ``"false"``.
* ``numeric``: integers, decimals, thousands separators (``1,500``), scientific notation
  (``1.5e-3``, ``1.5 \\times 10^{-3}``, ``3 x 10^8``, ``10^{-3}``), fractions (``3/4``,
  ``\\frac{3}{4}``), constant expressions with a rational value (``2^{10}``), optionally followed
  by a unit or ``%`` and preceded by ``$`` -> the number in a minimal form, then a space and the
  canonical unit: ``"3.0 m/s"`` -> ``"3 m/s"``, ``"\\frac{2}{4}"`` -> ``"1/2"``,
  ``"6.02 \\times 10^{23}"`` -> ``"6.02e+23"``, ``"25 \\text{kJ/mol}"`` -> ``"25 kJ/mol"``,
  ``"45\\%"`` -> ``"45 %"``; ``"9.8 m/s^2"``, ``"9.8 m s^-2"`` and ``"9.8 meters per second
  squared"`` all become ``"9.8 m/s^2"``. Decimals below 1e-6 or from 1e15 up print in exponent
  form. Units are read by a small table (SI base and derived units with prefixes, common non-SI
  units, unit words such as "meters", a few count nouns such as "electrons"); a number followed
  by anything else is not numeric.
* ``expression``: a short formula (``x^2 + 2x + 1``, ``\\frac{\\sqrt{2}}{2}``, ``2\\pi r``,
  ``y = 3x + 2`` read as ``3x + 2``, an equation, an inequality, a matrix) that parses: LaTeX
  through ``latex_to_python`` (a small converter for the common subset, ~1 ms) and else
  ``latex2sympy2_extended`` (a full ANTLR grammar, tens of ms), Python-style text (``sqrt(2)/2``,
  ``x**2``, sympy's own output) through sympy's ``parse_expr`` ->
  sympy's ``sstr`` form (``"x**2 + 2*x + 1"``) when it parses back to the same expression,
  else the normalized LaTeX. A lexical gate runs first: only math characters, known LaTeX
  commands, single letters, known function names and short lowercase letter runs that are not
  English words (``xy`` is x*y, ``and`` is a word); chemical formulas (``H_2O``, ``CO_2``) are
  not expressions.
* ``tuple``: 2 to ``max_tuple_items`` items of the types above, comma/semicolon (or " and " /
  " or ") separated, optionally in ``()``/``[]`` (ordered) or ``\\{\\}`` (a set: unordered,
  items sorted) -> ``"(2, 3)"`` / ``"{-3, 2}"``. ``x = 2, y = 3`` reads as ``(2, 3)``. Intervals
  (``[0, 1)``) and nested tuples are open-ended.

Before reading, an answer is normalized: the last ``\\boxed{}`` wins, math delimiters,
``\\left``/``\\right``, spacing commands and ``\\text{}``-like wrappers go, "The answer is" and
"approximately" prefixes go, ``\\dfrac`` is ``\\frac``, ``^\\circ`` is ``°``, Unicode
superscripts become ``^{}``. A single-letter (or ``f(x)``) left-hand side is dropped
(``x = 5`` is numeric 5); with several ``=``, a numeric last part wins (``F = ma = 10 N``).
Answers longer than ``max_chars`` (200) are open-ended without further reading.

``answer_verdict(a, b)`` compares two answers (raw or canonical, or typed JSON values: bools,
numbers, lists) and answers ``"equivalent"``, ``"different"`` or ``"unknown"``;
``answers_equivalent(a, b)`` is True for ``"equivalent"``:

* option keys and booleans by equality;
* numbers, in exact arithmetic (no absolute floor: ``1e-15`` is not ``0``, ``-1e-15`` or
  ``1e-14``): two exact numbers (plain integers, fractions) only when equal (``10000`` is not
  ``10001``); otherwise within ``rel_tol`` (default 5%, the tolerance of common science
  graders) of the smaller magnitude, where a plain integer is exact to its last digit (tolerance
  at most half a unit: ``3`` matches ``2.98``, not ``3.4``); or within half a unit in the last
  digit of the less precise decimal with at least ``min_sig_figs`` = 2 significant digits
  (``1.0e4`` and "approximately 10,000" are visibly rounded and match ``10001``). Units: equal
  units compare directly; units of one dimension are converted (``1.5 km`` = ``1500 m``,
  ``250 mL`` = ``0.25 L``); a number without a unit matches the same number with one (solvers
  drop units), and ``45 %`` also matches ``0.45``; different dimensions never match;
* expressions (and numbers against expressions) symbolically: structural equality, else the
  difference is evaluated at ``sample_points`` seeded points of the free symbols (a
  probabilistic identity test that never calls ``simplify``); equations match when their
  ``lhs - rhs`` differ by a non-zero constant factor, inequalities when the factor is positive;
  too few points that evaluate is ``unknown``;
* tuples item by item (sets in any order).

Symbolic work cannot run away: after parsing (unevaluated), ``check_limits`` refuses trees over
``MAX_NODES`` nodes or with a part whose value may pass ``10**MAX_DIGITS`` (power towers,
``(10**999)**999``, factorials and binomials of big numbers), and every sympy step runs in a
worker subprocess (``symbolic_pool``) that is killed after ``rules.timeout`` (2 s) plus a grace
of 1 s, from any thread. Over a limit or the deadline, a comparison is ``unknown`` and a reading
None (open-ended). Numbers, options, booleans and their tuples never leave the calling process.

``assign_split(question)`` is the split stage: it sets ``answer_type``, ``answer_canonical`` and
``split`` and drops open-ended mathematics as ``Rejected('open_ended_math')``.

The code is split along these sections: ``answer_numbers`` (numbers and units),
``answer_latex`` (LaTeX -> sympy, the lexical gate, the time limit), ``answer_reader``
(normalization and ``read_answer``), ``answer_compare`` (``answers_equivalent``) and this module
(the split stage). Every name is importable from here.
"""
from __future__ import annotations

from typing import Sequence

from transforms.dedup.exact import normalize_text
from transforms.records import Rejected
from transforms.science.answer_compare import (  # noqa: F401 - re-exported
    DEFAULT_REL_TOL, DIFFERENT, EQUIVALENT, MIN_SIG_FIGS, SAMPLE_POINTS, SYMBOLIC_TOL, UNKNOWN, VERDICTS,
    answer_verdict, answers_equivalent, numbers_equal,
)
from transforms.science.answer_latex import (  # noqa: F401 - re-exported
    MAX_ANSWER_CHARS, MAX_DIGITS, MAX_INTEGER_POWER, MAX_NODES, SymbolicLimit, SymbolicTimeout, check_limits,
    latex_to_python, looks_like_expression, run_symbolic, time_limit,
)
from transforms.science.answer_numbers import (  # noqa: F401 - re-exported
    COUNT_NOUNS, MAX_UNIT_CHARS, SI_PREFIXES, UNIT_WORDS, UNITS, Number, UnitInfo, format_number, parse_unit,
    read_number,
)
from transforms.science.answer_reader import (  # noqa: F401 - re-exported
    DEFAULT_RULES, MAX_TUPLE_ITEMS, SYMBOLIC_TIMEOUT, Reading, ReadingRules, classify_answer, normalize_answer,
    read_answer, read_answers, read_option,
)

OPTION_KEYS = "ABCDEFGHIJ"


# --------------------------------------------------------------------------- the split stage

def _choice_key(question: dict) -> str | None:
    """The option letter whose text is the reference answer, for questions with choices."""
    choices, answer = question.get("choices"), question.get("reference_answer")
    if not choices or not isinstance(answer, str):
        return None
    wanted = normalize_text(answer)
    matches = [OPTION_KEYS[i] for i, choice in enumerate(choices[:len(OPTION_KEYS)])
               if isinstance(choice, str) and wanted and normalize_text(choice) == wanted]
    return matches[0] if len(matches) == 1 else None


def question_reading(question: dict, rules: ReadingRules = DEFAULT_RULES) -> Reading | None:
    """The reading of a question's reference answer (an option's text counts as its key)."""
    return _with_choice_key(question, read_answer(question.get("reference_answer"), rules=rules))


def _with_choice_key(question: dict, reading: Reading | None) -> Reading | None:
    if question.get("choices") and (reading is None or reading.answer_type != "multiple_choice"):
        key = _choice_key(question)
        if key:
            return Reading("multiple_choice", key, key)
    return reading


def split_of(question: dict, rules: ReadingRules = DEFAULT_RULES) -> str:
    """``'verifiable'`` when the reference answer reads as a checkable answer, else ``'open_ended'``."""
    return "open_ended" if question_reading(question, rules) is None else "verifiable"


def assign_split(question: dict, *, drop_open_ended_math: bool = True,
                 rules: ReadingRules = DEFAULT_RULES) -> dict | Rejected:
    """The split stage: a copy with ``split``, ``answer_type`` and ``answer_canonical`` set.

    Open-ended questions whose subject is mathematics are rejected as ``open_ended_math``
    (unless ``drop_open_ended_math`` is False): mathematics without a checkable answer gives
    neither a rule reward nor a useful rubric.
    """
    return _split(question, question_reading(question, rules), drop_open_ended_math)


def assign_splits(questions: Sequence[dict], *, drop_open_ended_math: bool = True,
                  rules: ReadingRules = DEFAULT_RULES) -> list[dict | Rejected]:
    """``assign_split`` of each question, the answers that need sympy read in one worker call
    (``read_answers``); the same results."""
    readings = read_answers([question.get("reference_answer") for question in questions], rules=rules)
    return [_split(question, _with_choice_key(question, reading), drop_open_ended_math)
            for question, reading in zip(questions, readings)]


def _split(question: dict, reading: Reading | None, drop_open_ended_math: bool) -> dict | Rejected:
    out = dict(question)
    if reading is None:
        if drop_open_ended_math and question.get("subject") == "mathematics":
            answer = question.get("reference_answer")
            return Rejected("open_ended_math", f"reference_answer: {str(answer)[:200]!r}")
        out.update(split="open_ended", answer_type=None, answer_canonical=None)
    else:
        out.update(split="verifiable", answer_type=reading.answer_type, answer_canonical=reading.canonical)
    return out

"""Answer comparison: ``answer_verdict`` (equivalent / different / unknown) and ``answers_equivalent``
over two readings: numbers with units and precision, option keys, booleans, tuples, and
expressions by a seeded numeric identity test. Two answers neither of which reads as a value
are equivalent when their normalized words around the numbers are equal and each pair of numbers
is equal as numbers are ("9.0 lines" is "9 lines"; "-9 lines" is not).

Numbers (``numbers_equal``), in exact arithmetic (no float overflow, no absolute floor):

* two exact numbers (integers and fractions as written) are equal only when equal: ``10000`` is
  not ``10001``, ``22/7`` is not ``\\pi``;
* otherwise within ``rel_tol`` of the smaller magnitude (default ``DEFAULT_REL_TOL`` = 5%), except
  that an integer written plainly is exact to its last digit: against it the tolerance is at most
  half a unit (``3`` matches ``2.98``, ``1500`` does not match ``1498.3``);
* or, significant figures: within half a unit in the last digit of the less precise side when
  that side is a decimal with at least ``min_sig_figs`` digits (``1.0e4`` matches ``10001``, a
  visibly rounded number; ``9.8`` matches ``9.84`` at any ``rel_tol``). Marked approximations
  (``\\approx 10,000``, "about 10000") count as rounded to their trailing zeros.

The default tolerance is the one common science graders use: SciBench-style graders accept 5%
relative error, and the sets the Dr. SCI pipeline reads were graded with 4-5%; it accepts the
rounding and constant differences of correct solutions (0.5% off) and rejects an answer 10% off.

Every sympy step runs in a worker subprocess under ``rules.timeout`` seconds plus a grace, in any
thread (``answer_latex.run_symbolic``), after ``check_limits`` bounds exponents, factorials,
binomials and expression size: a check that hits a limit is ``unknown``, never a hang.
"""
from __future__ import annotations

import cmath
import random
import re
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from transforms.dedup.exact import normalize_text
from transforms.science.answer_latex import SymbolicTimeout, _sympy, _sympy_kind, run_symbolic, time_limit
from transforms.science.answer_numbers import Number, parse_unit
from transforms.science.answer_reader import (DEFAULT_RULES, NeedsSymbolic, Reading, ReadingRules, read_answer,
                                              read_reading)

DEFAULT_REL_TOL = 0.05
MIN_SIG_FIGS = 2
SAMPLE_POINTS = 6
SYMBOLIC_TOL = 1e-9
ZERO_BELOW = 1e-100  # evaluated values this small are the cancellation noise of 30-digit arithmetic
EQUIVALENT, DIFFERENT, UNKNOWN = "equivalent", "different", "unknown"
VERDICTS = (EQUIVALENT, DIFFERENT, UNKNOWN)
_EXACT_TOL = Fraction(1, 10 ** 9)  # an exact number against an evaluated constant (``\\sin(\\pi/6)``)


# --------------------------------------------------------------------------- numbers

def _exact_scale(scale: float) -> Fraction:
    """A unit scale as the decimal it was written as (``1e-3`` is exactly 1/1000)."""
    return Fraction(repr(scale))


def _is_plain_integer(number: Number) -> bool:
    return number.sig_figs is None and not number.fraction and not number.evaluated \
        and number.value.denominator == 1


def _half_unit(number: Number, scale: Fraction) -> Fraction:
    """Half a unit in the last significant digit of a decimal (scaled to SI)."""
    value = number.value
    if value == 0:
        exponent = 0
    else:
        with localcontext() as context:
            context.prec = 60
            exponent = (Decimal(abs(value.numerator)) / Decimal(value.denominator)).adjusted()
    return Fraction(10) ** (exponent - number.sig_figs + 1) / 2 * scale


def _close(a: Number, scale_a: Fraction, b: Number, scale_b: Fraction, rel_tol: Fraction, min_sig_figs: int) -> bool:
    x, y = a.value * scale_a, b.value * scale_b
    difference = abs(x - y)
    if a.sig_figs is None and b.sig_figs is None:
        if a.evaluated or b.evaluated:
            return difference <= _EXACT_TOL * max(abs(x), abs(y))
        return difference == 0
    tolerance = rel_tol * min(abs(x), abs(y))  # of the smaller magnitude: stricter than of either
    for number, scale in ((a, scale_a), (b, scale_b)):
        if _is_plain_integer(number):
            tolerance = min(tolerance, scale / 2)
    if difference <= tolerance:
        return True
    return any(difference <= _half_unit(number, scale) for number, scale in ((a, scale_a), (b, scale_b))
               if number.sig_figs is not None and number.sig_figs >= min_sig_figs)


def numbers_equal(a: Number, b: Number, rel_tol: float = DEFAULT_REL_TOL, min_sig_figs: int = MIN_SIG_FIGS) -> bool:
    """Two read numbers say the same quantity (see the module doc); units of one dimension convert,
    a number without a unit matches one with, ``45 %`` also matches ``0.45``."""
    tol = Fraction(repr(float(rel_tol)))
    scale_a = scale_b = Fraction(1)
    if a.unit and b.unit and a.unit != b.unit:
        unit_a, unit_b = parse_unit(a.unit, 10 ** 6), parse_unit(b.unit, 10 ** 6)
        if unit_a is None or unit_b is None or unit_a.dims != unit_b.dims:
            return False
        scale_a, scale_b = _exact_scale(unit_a.scale), _exact_scale(unit_b.scale)
    if _close(a, scale_a, b, scale_b, tol, min_sig_figs):
        return True
    if (a.unit == "%") != (b.unit == "%") and not (a.unit and b.unit):  # "45 %" against "0.45"
        percent = Fraction(1, 100)
        return _close(a, percent if a.unit else scale_a, b, percent if b.unit else scale_b, tol, min_sig_figs)
    return False


# --------------------------------------------------------------------------- expressions

def _sample_points(symbols, count: int, seed: int = 20240601) -> list[dict]:
    rng = random.Random(seed)
    return [{symbol: 0.25 + 2.0 * rng.random() for symbol in symbols} for _ in range(count)]


def _evaluate(expr, point: dict) -> complex | None:
    try:
        value = complex(expr.evalf(30, subs=point))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError):
        return None
    if not (cmath.isfinite(value)):
        return None
    return 0j if abs(value) < ZERO_BELOW else value


def _near(v1: complex, v2: complex) -> bool:
    return abs(v1 - v2) <= SYMBOLIC_TOL * max(abs(v1), abs(v2))


def _ratio_constant(d1, d2, points: list[dict], positive: bool) -> bool | None:
    """d1 / d2 is the same non-zero constant at every usable point (positive when asked);
    None with fewer than two usable points."""
    ratios = []
    for point in points:
        v1, v2 = _evaluate(d1, point), _evaluate(d2, point)
        if v1 is None or v2 is None:
            continue
        if v1 == 0 or v2 == 0:
            if v1 == v2:
                continue
            return False
        ratios.append(v1 / v2)
    if len(ratios) < 2:
        return None
    first = ratios[0]
    if positive and (abs(first.imag) > 1e-9 or first.real <= 0):
        return False
    return all(abs(r - first) <= SYMBOLIC_TOL * max(1.0, abs(first)) * 1e3 for r in ratios)


def _relation_parts(expr):
    """(difference, kind) of a relation: a > b and b < a give the same (a - b, '>')."""
    sympy = _sympy()
    lhs, rhs = expr.lhs, expr.rhs
    if isinstance(expr, sympy.Eq):
        return lhs - rhs, "=="
    if isinstance(expr, (sympy.StrictGreaterThan, sympy.StrictLessThan)):
        return (lhs - rhs, ">") if isinstance(expr, sympy.StrictGreaterThan) else (rhs - lhs, ">")
    if isinstance(expr, (sympy.GreaterThan, sympy.LessThan)):
        return (lhs - rhs, ">=") if isinstance(expr, sympy.GreaterThan) else (rhs - lhs, ">=")
    return lhs - rhs, type(expr).__name__


def _solved_side(relation, other):
    """For ``y = f`` against a plain expression: ``f`` when the other side of an Eq is a lone symbol."""
    sympy = _sympy()
    if not isinstance(relation, sympy.Eq):
        return None
    if isinstance(relation.lhs, sympy.Symbol) and relation.lhs not in other.free_symbols:
        return relation.rhs
    if isinstance(relation.rhs, sympy.Symbol) and relation.rhs not in other.free_symbols:
        return relation.lhs
    return None


def _sympy_equal(e1, e2, points_count: int) -> bool | None:
    """Structurally, else numerically at seeded points; None when too few points evaluate."""
    kind1, kind2 = _sympy_kind(e1), _sympy_kind(e2)
    if {kind1, kind2} == {"relation", "expr"}:  # "2x + 1 = y" against "2x + 1"
        relation, expression = (e1, e2) if kind1 == "relation" else (e2, e1)
        solved = _solved_side(relation, expression)
        return False if solved is None else _sympy_equal(solved, expression, points_count)
    if kind1 != kind2 or kind1 is None:
        return False
    if e1 == e2:
        return True
    if kind1 == "matrix":
        if e1.shape != e2.shape:
            return False
        return _all_of(_sympy_equal(x, y, points_count) for x, y in zip(e1, e2))
    symbols = sorted(e1.free_symbols | e2.free_symbols, key=str)
    points = _sample_points(symbols, points_count) if symbols else [{}]
    if kind1 == "relation":
        (d1, op1), (d2, op2) = _relation_parts(e1), _relation_parts(e2)
        if op1 != op2:
            return False
        return _ratio_constant(d1, d2, points, positive=op1 != "==")
    usable = 0
    for point in points:
        v1, v2 = _evaluate(e1, point), _evaluate(e2, point)
        if v1 is None or v2 is None:
            continue
        if not _near(v1, v2):
            return False
        usable += 1
    return True if usable >= min(2, len(points)) else None


def _all_of(results) -> bool | None:
    """False if any is False, else None if any is None (unknown), else True."""
    unknown = False
    for result in results:
        if result is False:
            return False
        unknown = unknown or result is None
    return None if unknown else True


def _as_sympy(reading: Reading):
    sympy = _sympy()
    if reading.answer_type == "numeric":
        return sympy.Rational(reading.value.value.numerator, reading.value.value.denominator)
    return reading.value


def _constant_number(reading: Reading) -> Number | None:
    """A constant expression's numeric value, for number comparisons."""
    expr = reading.value
    if _sympy_kind(expr) != "expr" or expr.free_symbols:
        return None
    value = _evaluate(expr, {})
    if value is None or abs(value.imag) > SYMBOLIC_TOL * max(abs(value.real), ZERO_BELOW):
        return None
    return Number(Fraction(value.real), None, None, evaluated=True)


def _readings_equal(a: Reading, b: Reading, rel_tol: float, min_sig_figs: int, points: int) -> bool | None:
    """True, False, or None when it cannot be decided (too few points evaluate)."""
    types = {a.answer_type, b.answer_type}
    if a.answer_type == b.answer_type in ("multiple_choice", "boolean"):
        return a.value == b.value
    if "multiple_choice" in types or "boolean" in types:
        return False
    if "tuple" in types:
        if a.answer_type != b.answer_type:
            return False
        (ordered_a, items_a), (ordered_b, items_b) = a.value, b.value
        if len(items_a) != len(items_b):
            return False
        if ordered_a and ordered_b:
            return _all_of(_readings_equal(x, y, rel_tol, min_sig_figs, points) for x, y in zip(items_a, items_b))
        remaining, unknown = list(items_b), False
        for item in items_a:
            match = None
            for index, other in enumerate(remaining):
                result = _readings_equal(item, other, rel_tol, min_sig_figs, points)
                if result:
                    match = index
                    break
                unknown = unknown or result is None
            if match is None:
                return None if unknown else False
            remaining.pop(match)
        return True
    if types == {"numeric"}:
        return numbers_equal(a.value, b.value, rel_tol, min_sig_figs)
    if "numeric" in types:  # a number against an expression: numerically, with the number's precision
        number, expression = (a, b) if a.answer_type == "numeric" else (b, a)
        constant = _constant_number(expression)
        if constant is not None:
            return numbers_equal(number.value, constant, rel_tol, min_sig_figs)
    return _sympy_equal(_as_sympy(a), _as_sympy(b), points)


# a number in running text, with its sign unless the sign joins two words ("x-2", "COVID-19"),
# thousands separators and an exponent
_TEXT_NUMBER_RE = re.compile(r"(?<![\w.)\]])[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")
_NUMBER_SLOT = " numberslot "


def _texts_verdict(a: str, b: str, rel_tol: float, min_sig_figs: int, points: int) -> str:
    """Two answers neither of which reads as a value ("9 lines", "150 million", a sentence): the same
    normalized words around the same numbers. One number each (a count of something) is compared as
    numbers are ("9.0 lines" is "9 lines"; "-9 lines" and "10 lines" are not); several must be
    written alike, signs included (a sentence's numbers are not a measurement to round)."""
    numbers_a = [n.replace("\u2212", "-").lstrip("+") for n in _TEXT_NUMBER_RE.findall(a)]
    numbers_b = [n.replace("\u2212", "-").lstrip("+") for n in _TEXT_NUMBER_RE.findall(b)]
    words_a = normalize_text(_TEXT_NUMBER_RE.sub(_NUMBER_SLOT, a))
    if not words_a or len(numbers_a) != len(numbers_b) or words_a != normalize_text(_TEXT_NUMBER_RE.sub(_NUMBER_SLOT, b)):
        return DIFFERENT
    if len(numbers_a) != 1:
        return EQUIVALENT if numbers_a == numbers_b else DIFFERENT
    reading_a, reading_b = read_answer(numbers_a[0]), read_answer(numbers_b[0])
    if reading_a is None or reading_b is None:
        return EQUIVALENT if numbers_a == numbers_b else DIFFERENT
    same = _readings_equal(reading_a, reading_b, rel_tol, min_sig_figs, points)
    return UNKNOWN if same is None else EQUIVALENT if same else DIFFERENT


def _verdict(a: Any, b: Any, reading_a: Reading | None, reading_b: Reading | None, rel_tol: float,
             min_sig_figs: int, points: int) -> str:
    if reading_a is None or reading_b is None:
        if reading_a is None and reading_b is None and isinstance(a, str) and isinstance(b, str):
            return _texts_verdict(a, b, rel_tol, min_sig_figs, points)
        return DIFFERENT
    result = _readings_equal(reading_a, reading_b, rel_tol, min_sig_figs, points)
    return UNKNOWN if result is None else EQUIVALENT if result else DIFFERENT


def verdict_symbolic(a: Any, b: Any, answer_type: str | None, rel_tol: float, min_sig_figs: int,
                     sample_points: int, rules: ReadingRules) -> str:
    """``answer_verdict`` with sympy in this process (a worker's side of ``run_symbolic``)."""
    try:
        with time_limit(rules.timeout):
            reading_a = read_reading(a, answer_type, rules, symbolic=True)
            reading_b = read_reading(b, answer_type, rules, symbolic=True)
            return _verdict(a, b, reading_a, reading_b, rel_tol, min_sig_figs, sample_points)
    except SymbolicTimeout:
        return UNKNOWN
    except Exception:  # noqa: BLE001 - a sympy failure on odd input is "cannot tell"
        return UNKNOWN


def answer_verdict(a: Any, b: Any, answer_type: str | None = None, rel_tol: float = DEFAULT_REL_TOL, *,
                   min_sig_figs: int = MIN_SIG_FIGS, sample_points: int = SAMPLE_POINTS,
                   rules: ReadingRules = DEFAULT_RULES) -> str:
    """``"equivalent"``, ``"different"`` or ``"unknown"`` for two answers (raw or canonical).

    Two open-ended answers are equivalent only when their normalized texts are equal; an
    open-ended answer never equals a verifiable one. ``answer_type`` is the hint of
    ``read_answer`` (the reference's type, when the caller knows it). ``unknown``: a size limit
    or the deadline was hit, or the expressions could not be evaluated at enough points.
    """
    try:
        reading_a = read_reading(a, answer_type, rules, symbolic=False)
        reading_b = read_reading(b, answer_type, rules, symbolic=False)
    except NeedsSymbolic:
        try:
            return run_symbolic("transforms.science.answer_compare:verdict_symbolic",
                                (a, b, answer_type, rel_tol, min_sig_figs, sample_points, rules), rules.timeout)
        except SymbolicTimeout:
            return UNKNOWN
    try:
        return _verdict(a, b, reading_a, reading_b, rel_tol, min_sig_figs, sample_points)
    except Exception:  # noqa: BLE001 - one odd answer never raises to the caller
        return UNKNOWN


def answers_equivalent(a: Any, b: Any, answer_type: str | None = None, rel_tol: float = DEFAULT_REL_TOL, *,
                       min_sig_figs: int = MIN_SIG_FIGS, sample_points: int = SAMPLE_POINTS,
                       rules: ReadingRules = DEFAULT_RULES) -> bool:
    """True when ``answer_verdict`` is ``"equivalent"`` (see the module doc)."""
    return answer_verdict(a, b, answer_type, rel_tol, min_sig_figs=min_sig_figs, sample_points=sample_points,
                          rules=rules) == EQUIVALENT

"""Answer comparison: ``answers_equivalent`` over two readings (numbers with units and
precision, option keys, booleans, tuples, and expressions by a seeded numeric identity test).

Part of ``transforms.science.answers`` (see its module doc).
"""
from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any

from transforms.dedup.exact import normalize_text
from transforms.science.answer_latex import SymbolicTimeout, _bounded_powers, _sympy, _sympy_kind, time_limit
from transforms.science.answer_numbers import Number, parse_unit
from transforms.science.answer_reader import DEFAULT_RULES, Reading, ReadingRules, read_answer

DEFAULT_REL_TOL = 1e-4
MIN_SIG_FIGS = 2
SAMPLE_POINTS = 6
SYMBOLIC_TOL = 1e-9


def _round_significant(value: float, digits: int) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits - 1}e}")


def _close(x: float, y: float, rel_tol: float) -> bool:
    return math.isclose(x, y, rel_tol=rel_tol, abs_tol=1e-12)


def _numbers_equal(a: Number, b: Number, rel_tol: float, min_sig_figs: int) -> bool:
    scale_a = scale_b = 1.0
    if a.unit and b.unit and a.unit != b.unit:
        unit_a, unit_b = parse_unit(a.unit, 10 ** 6), parse_unit(b.unit, 10 ** 6)
        if unit_a is None or unit_b is None or unit_a.dims != unit_b.dims:
            return False
        scale_a, scale_b = unit_a.scale, unit_b.scale
    x, y = float(a.value) * scale_a, float(b.value) * scale_b
    if _close(x, y, rel_tol) or _precision_match(a, x, y, b, min_sig_figs):
        return True
    # "45 %" against "0.45": the percent side read as a fraction
    if (a.unit == "%") != (b.unit == "%") and not (a.unit and b.unit):
        percent, plain = (a, b) if a.unit == "%" else (b, a)
        return _close(float(percent.value) / 100, float(plain.value), rel_tol)
    return False


def _precision_match(a: Number, x: float, y: float, b: Number, min_sig_figs: int) -> bool:
    """The less precise side (decimal with >= min_sig_figs digits) equals the other rounded to its digits."""
    candidates = [(n.sig_figs, value, other) for n, value, other in ((a, x, y), (b, y, x))
                  if n.sig_figs is not None and n.sig_figs >= min_sig_figs]
    if not candidates:
        return False
    digits, value, other = min(candidates)
    return _close(_round_significant(other, digits), _round_significant(value, digits), 1e-12)


def _sample_points(symbols, count: int, seed: int = 20240601) -> list[dict]:
    rng = random.Random(seed)
    return [{symbol: 0.25 + 2.0 * rng.random() for symbol in symbols} for _ in range(count)]


def _evaluate(expr, point: dict) -> complex | None:
    try:
        value = complex(expr.evalf(30, subs=point))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError):
        return None
    if not (math.isfinite(value.real) and math.isfinite(value.imag)):
        return None
    return value


def _ratio_constant(d1, d2, points: list[dict], positive: bool) -> bool:
    """d1 / d2 is the same non-zero constant at every usable point (positive when asked)."""
    ratios = []
    for point in points:
        v1, v2 = _evaluate(d1, point), _evaluate(d2, point)
        if v1 is None or v2 is None:
            continue
        if abs(v2) < 1e-12 or abs(v1) < 1e-12:
            if abs(v1) < 1e-12 and abs(v2) < 1e-12:
                continue
            return False
        ratios.append(v1 / v2)
    if len(ratios) < 2:
        return False
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


def _sympy_equal(e1, e2, points_count: int) -> bool:
    kind1, kind2 = _sympy_kind(e1), _sympy_kind(e2)
    if {kind1, kind2} == {"relation", "expr"}:  # "2x + 1 = y" against "2x + 1"
        relation, expression = (e1, e2) if kind1 == "relation" else (e2, e1)
        solved = _solved_side(relation, expression)
        return solved is not None and _sympy_equal(solved, expression, points_count)
    if kind1 != kind2 or kind1 is None:
        return False
    if e1 == e2:
        return True
    if kind1 == "matrix":
        return e1.shape == e2.shape and all(_sympy_equal(x, y, points_count) for x, y in zip(e1, e2))
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
        if abs(v1 - v2) > SYMBOLIC_TOL * max(1.0, abs(v1), abs(v2)):
            return False
        usable += 1
    return usable >= min(2, len(points))


def _as_sympy(reading: Reading):
    sympy = _sympy()
    if reading.answer_type == "numeric":
        return sympy.Rational(reading.value.value.numerator, reading.value.value.denominator)
    return reading.value


def _constant_number(reading: Reading) -> Number | None:
    """A constant expression's numeric value as an exact-looking Number, for number comparisons."""
    expr = reading.value
    if _sympy_kind(expr) != "expr" or expr.free_symbols or not _bounded_powers(expr):
        return None
    value = _evaluate(expr, {})
    if value is None or abs(value.imag) > 1e-12:
        return None
    return Number(Fraction(value.real), None, None)


def _readings_equal(a: Reading, b: Reading, rel_tol: float, min_sig_figs: int, points: int) -> bool:
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
            return all(_readings_equal(x, y, rel_tol, min_sig_figs, points) for x, y in zip(items_a, items_b))
        remaining = list(items_b)
        for item in items_a:
            match = next((i for i, other in enumerate(remaining)
                          if _readings_equal(item, other, rel_tol, min_sig_figs, points)), None)
            if match is None:
                return False
            remaining.pop(match)
        return True
    if types == {"numeric"}:
        return _numbers_equal(a.value, b.value, rel_tol, min_sig_figs)
    if "numeric" in types:  # a number against an expression: numerically, with the number's precision
        number, expression = (a, b) if a.answer_type == "numeric" else (b, a)
        constant = _constant_number(expression)
        if constant is not None:
            return _numbers_equal(number.value, constant, rel_tol, min_sig_figs)
    return _sympy_equal(_as_sympy(a), _as_sympy(b), points)


def answers_equivalent(a: Any, b: Any, answer_type: str | None = None, rel_tol: float = DEFAULT_REL_TOL, *,
                       min_sig_figs: int = MIN_SIG_FIGS, sample_points: int = SAMPLE_POINTS,
                       rules: ReadingRules = DEFAULT_RULES) -> bool:
    """True when two answers (raw or canonical) say the same thing (see the module doc).

    Two open-ended answers are equivalent only when their normalized texts are equal; an
    open-ended answer never equals a verifiable one. ``answer_type`` is the hint of
    ``read_answer`` (the reference's type, when the caller knows it).
    """
    try:
        with time_limit(rules.timeout):
            reading_a, reading_b = read_answer(a, answer_type, rules), read_answer(b, answer_type, rules)
            if reading_a is None or reading_b is None:
                if reading_a is None and reading_b is None and isinstance(a, str) and isinstance(b, str):
                    text_a = normalize_text(a)
                    return bool(text_a) and text_a == normalize_text(b)
                return False
            return _readings_equal(reading_a, reading_b, rel_tol, min_sig_figs, sample_points)
    except SymbolicTimeout:
        return False
    except Exception:  # noqa: BLE001 - a sympy failure on odd input is "not shown equivalent"
        return False

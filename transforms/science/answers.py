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

``answers_equivalent(a, b)`` compares two answers (raw or canonical):

* option keys and booleans by equality;
* numbers: equal within ``rel_tol`` (relative, 1e-4), or, precision-aware, when the side written
  with fewer significant digits (a decimal with at least ``min_sig_figs`` = 2 of them) equals the
  other rounded to that many digits (``9.8`` matches ``9.81``; ``3`` vs ``3.4`` is still false:
  integers and fractions are exact). Units: equal units compare directly; units of one
  dimension are converted (``1.5 km`` = ``1500 m``, ``250 mL`` = ``0.25 L``); a number without
  a unit matches the same number with one (solvers drop units), and ``45 %`` also matches
  ``0.45``; different dimensions never match;
* expressions (and numbers against expressions) symbolically: structural equality, else the
  difference is evaluated at ``sample_points`` seeded points of the free symbols (a
  probabilistic identity test that never calls ``simplify``); equations match when their
  ``lhs - rhs`` differ by a non-zero constant factor, inequalities when the factor is positive;
* tuples item by item (sets in any order).

Symbolic work runs under a ``timeout`` (seconds, SIGALRM, so only in the main thread; in
other threads, such as Beam's in-process workers, the size limits alone bound the work).

``assign_split(question)`` is the split stage: it sets ``answer_type``, ``answer_canonical`` and
``split`` and drops open-ended mathematics as ``Rejected('open_ended_math')``.
"""
from __future__ import annotations

import contextlib
import math
import random
import re
import signal
import threading
import unicodedata
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import lru_cache
from tokenize import TokenError
from typing import Any, NamedTuple, Sequence

from transforms.dedup.exact import normalize_text
from transforms.records import Rejected

MAX_ANSWER_CHARS = 200
MAX_TUPLE_ITEMS = 6
MAX_UNIT_CHARS = 40
DEFAULT_REL_TOL = 1e-4
MIN_SIG_FIGS = 2
SYMBOLIC_TIMEOUT = 2.0
SAMPLE_POINTS = 6
SYMBOLIC_TOL = 1e-9
MAX_INTEGER_POWER = 1000
OPTION_KEYS = "ABCDEFGHIJ"


class Number(NamedTuple):
    """A read number: exact value, canonical unit (None without), significant digits as written.

    ``sig_figs`` is None for exact numbers (integers, fractions), which compare by ``rel_tol`` only;
    ``fraction`` says the canonical form is "p/q" (written as a fraction, or a rational expression).
    """

    value: Fraction
    unit: str | None
    sig_figs: int | None
    fraction: bool = False


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
    previous = None
    while previous != text:
        previous = text
        text = _ANSWER_PREFIX_RE.sub("", text)
        text = _APPROX_PREFIX_RE.sub("", text)
        text = text.strip().rstrip(".;,").strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1].strip()
    return text


# --------------------------------------------------------------------------- units

_BASE_DIMS = ("m", "kg", "s", "A", "K", "mol", "cd")


def _dims(**exponents: int) -> tuple:
    return tuple(sorted((name, exp) for name, exp in exponents.items() if exp))


_NEWTON = dict(kg=1, m=1, s=-2)
_JOULE = dict(kg=1, m=2, s=-2)
_WATT = dict(kg=1, m=2, s=-3)
_PASCAL = dict(kg=1, m=-1, s=-2)
_VOLT = dict(kg=1, m=2, s=-3, A=-1)
_OHM = dict(kg=1, m=2, s=-3, A=-2)

# symbol -> (scale to SI, dimensions, takes SI prefixes)
UNITS: dict[str, tuple[float, tuple, bool]] = {
    "m": (1.0, _dims(m=1), True), "g": (1e-3, _dims(kg=1), True), "s": (1.0, _dims(s=1), True),
    "A": (1.0, _dims(A=1), True), "K": (1.0, _dims(K=1), True), "mol": (1.0, _dims(mol=1), True),
    "cd": (1.0, _dims(cd=1), False), "Hz": (1.0, _dims(s=-1), True), "N": (1.0, _dims(**_NEWTON), True),
    "Pa": (1.0, _dims(**_PASCAL), True), "J": (1.0, _dims(**_JOULE), True), "W": (1.0, _dims(**_WATT), True),
    "C": (1.0, _dims(A=1, s=1), True), "V": (1.0, _dims(**_VOLT), True), "Ω": (1.0, _dims(**_OHM), True),
    "F": (1.0, _dims(kg=-1, m=-2, s=4, A=2), True), "S": (1.0, _dims(kg=-1, m=-2, s=3, A=2), True),
    "Wb": (1.0, _dims(kg=1, m=2, s=-2, A=-1), True), "T": (1.0, _dims(kg=1, s=-2, A=-1), True),
    "H": (1.0, _dims(kg=1, m=2, s=-2, A=-2), True), "Bq": (1.0, _dims(s=-1), True),
    "Gy": (1.0, _dims(m=2, s=-2), True), "Sv": (1.0, _dims(m=2, s=-2), True),
    "lm": (1.0, _dims(cd=1), False), "lx": (1.0, _dims(cd=1, m=-2), False), "kat": (1.0, _dims(mol=1, s=-1), True),
    "L": (1e-3, _dims(m=3), True), "l": (1e-3, _dims(m=3), False), "M": (1e3, _dims(mol=1, m=-3), True),
    "eV": (1.602176634e-19, _dims(**_JOULE), True), "cal": (4.184, _dims(**_JOULE), True),
    "Cal": (4184.0, _dims(**_JOULE), False), "atm": (101325.0, _dims(**_PASCAL), False),
    "bar": (1e5, _dims(**_PASCAL), True), "torr": (133.322368, _dims(**_PASCAL), False),
    "Torr": (133.322368, _dims(**_PASCAL), False), "mmHg": (133.322387, _dims(**_PASCAL), False),
    "psi": (6894.757293, _dims(**_PASCAL), False), "min": (60.0, _dims(s=1), False),
    "h": (3600.0, _dims(s=1), False), "hr": (3600.0, _dims(s=1), False), "d": (86400.0, _dims(s=1), False),
    "day": (86400.0, _dims(s=1), False), "yr": (3.15576e7, _dims(s=1), True),
    "Da": (1.66053906660e-27, _dims(kg=1), True), "u": (1.66053906660e-27, _dims(kg=1), False),
    "amu": (1.66053906660e-27, _dims(kg=1), False), "Å": (1e-10, _dims(m=1), False),
    "AU": (1.495978707e11, _dims(m=1), False), "au": (1.495978707e11, _dims(m=1), False),
    "ly": (9.4607304725808e15, _dims(m=1), False), "pc": (3.0856775814913673e16, _dims(m=1), True),
    "ft": (0.3048, _dims(m=1), False), "in": (0.0254, _dims(m=1), False), "mi": (1609.344, _dims(m=1), False),
    "yd": (0.9144, _dims(m=1), False), "lb": (0.45359237, _dims(kg=1), False), "lbs": (0.45359237, _dims(kg=1), False),
    "oz": (0.028349523125, _dims(kg=1), False), "gal": (3.785411784e-3, _dims(m=3), False),
    "mph": (0.44704, _dims(m=1, s=-1), False), "kn": (0.514444, _dims(m=1, s=-1), False),
    "rad": (1.0, (), True), "sr": (1.0, (), False), "°": (math.pi / 180, (), False), "deg": (math.pi / 180, (), False),
    "rpm": (1.0, (("rpm", 1),), False), "%": (0.01, (), False), "‰": (0.001, (), False),
    "ppm": (1e-6, (), False), "ppb": (1e-9, (), False),
    # temperatures with an offset convert only to themselves
    "°C": (1.0, (("degC", 1),), False), "°F": (1.0, (("degF", 1),), False),
    "bit": (1.0, (("bit", 1),), True), "B": (8.0, (("bit", 1),), True), "dB": (1.0, (("dB", 1),), False),
    "$": (1.0, (("USD", 1),), False), "USD": (1.0, (("USD", 1),), False), "cent": (0.01, (("USD", 1),), False),
}
SI_PREFIXES = {"Y": 1e24, "Z": 1e21, "E": 1e18, "P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6, "k": 1e3,
               "h": 1e2, "da": 1e1, "d": 1e-1, "c": 1e-2, "m": 1e-3, "μ": 1e-6, "u": 1e-6, "n": 1e-9,
               "p": 1e-12, "f": 1e-15, "a": 1e-18, "z": 1e-21, "y": 1e-24}
_PREFIX_WORDS = {"kilo": "k", "centi": "c", "milli": "m", "micro": "μ", "nano": "n", "pico": "p",
                 "mega": "M", "giga": "G", "deci": "d", "tera": "T", "femto": "f"}
UNIT_WORDS = {
    "meter": "m", "metre": "m", "second": "s", "sec": "s", "gram": "g", "liter": "L", "litre": "L",
    "mole": "mol", "joule": "J", "calorie": "cal", "newton": "N", "watt": "W", "volt": "V", "ampere": "A",
    "amp": "A", "ohm": "Ω", "coulomb": "C", "kelvin": "K", "hertz": "Hz", "pascal": "Pa", "farad": "F",
    "henry": "H", "tesla": "T", "weber": "Wb", "siemens": "S", "becquerel": "Bq", "atmosphere": "atm",
    "minute": "min", "hour": "h", "day": "d", "year": "yr", "degree": "°", "radian": "rad", "dollar": "$",
    "cent": "cent", "percent": "%", "foot": "ft", "feet": "ft", "inch": "in", "mile": "mi", "pound": "lb",
    "electronvolt": "eV", "angstrom": "Å", "bar": "bar", "byte": "B", "bit": "bit", "molar": "M",
}
# count nouns: dimensionless, each its own kind, so "4 electrons" never equals "4 protons"
COUNT_NOUNS = frozenset({
    "electron", "proton", "neutron", "atom", "molecule", "photon", "ion", "bond", "isomer", "stereoisomer",
    "orbital", "chromosome", "cell", "individual", "person", "people", "way", "possibility", "combination",
    "arrangement", "permutation", "outcome", "step", "cycle", "revolution", "generation", "offspring",
    "peak", "signal", "carbon", "hydrogen", "node", "vertex", "vertices", "edge", "unit",
})


class UnitInfo(NamedTuple):
    """A parsed unit: canonical string, scale to SI (or to its own kind), dimensions."""

    canonical: str
    scale: float
    dims: tuple


def _singular(word: str) -> list[str]:
    out = [word]
    if word.endswith("ies"):
        out.append(word[:-3] + "y")
    if word.endswith("es"):
        out.append(word[:-2])
    if word.endswith("s"):
        out.append(word[:-1])
    return out


def _unit_symbol(token: str) -> tuple[str, float, tuple] | None:
    """(canonical symbol, scale, dims) of one unit token, word or symbol, or None."""
    if token in UNITS:
        scale, dims, _ = UNITS[token]
        return token, scale, dims
    lower = token.lower()
    is_word = (len(token) >= 3 and token.islower()) or (len(token) >= 4 and token[0].isupper() and token[1:].islower())
    if is_word:
        for word in _singular(lower):
            if word in COUNT_NOUNS:
                return word, 1.0, ((word, 1),)
            if word in UNIT_WORDS:
                return _unit_symbol(UNIT_WORDS[word])
            for prefix_word, prefix in _PREFIX_WORDS.items():
                rest = word[len(prefix_word):]
                if word.startswith(prefix_word) and rest in UNIT_WORDS:
                    symbol = prefix + UNIT_WORDS[rest]
                    return _unit_symbol(symbol)
    for prefix in sorted(SI_PREFIXES, key=len, reverse=True):
        rest = token[len(prefix):]
        if token.startswith(prefix) and rest in UNITS and UNITS[rest][2]:
            scale, dims, _ = UNITS[rest]
            return token, scale * SI_PREFIXES[prefix], dims
    return None


_UNIT_TOKEN_RE = re.compile(r"\s*(?:(?P<sym>[A-Za-zμΩÅ°%‰$]+)|\^\s*\(?\s*(?P<exp>[-+]?\d+)\s*\)?|(?P<num>[-+]?\d+)|(?P<op>[/*()]))")
_UNIT_SQUARE_RE = re.compile(r"\b(square|sq\.?|cubic|cu\.?)\s+([A-Za-z]+)", re.IGNORECASE)
_UNIT_POWER_WORD_RE = re.compile(r"\b([A-Za-zμ]+)\s+(squared|cubed)\b", re.IGNORECASE)


def parse_unit(text: str, max_chars: int = MAX_UNIT_CHARS) -> UnitInfo | None:
    """A unit string ("m/s^2", "kJ mol^-1", "J/(mol*K)", "meters per second") as ``UnitInfo``, or None.

    Factors after the first ``/`` are all in the denominator ("J/mol K" is J/(mol K)).
    """
    text = text.strip()
    if not text or len(text) > max_chars:
        return None
    text = text.replace("\\mu", "μ").replace("\\Omega", "Ω").replace("\\ohm", "Ω").replace("\\AA", "Å")
    text = re.sub(r"\\(?:cdot|times)(?![A-Za-z])", "*", text).replace("{", "").replace("}", "")
    text = re.sub(r"\s+per\s+", "/", text, flags=re.IGNORECASE)
    text = _UNIT_SQUARE_RE.sub(lambda m: m.group(2) + ("^2" if m.group(1).lower().startswith("s") else "^3"), text)
    text = _UNIT_POWER_WORD_RE.sub(lambda m: m.group(1) + ("^2" if m.group(2).lower() == "squared" else "^3"), text)
    if "\\" in text:
        return None
    factors: list[list] = []  # [symbol, exponent]
    scale, dims = 1.0, {}
    denominator = False
    depth = 0
    position = 0
    while position < len(text):
        match = _UNIT_TOKEN_RE.match(text, position)
        if not match or match.end() == position:
            return None
        position = match.end()
        if match["sym"]:
            found = _unit_symbol(match["sym"])
            if found is None:
                return None
            factors.append([found[0], -1 if denominator else 1, found[1], found[2]])
        elif match["exp"] or match["num"]:
            if not factors or factors[-1][1] not in (1, -1):
                return None
            factors[-1][1] *= int(match["exp"] or match["num"])
        elif match["op"] == "/":
            if denominator and depth == 0:
                continue  # "m/s/s": still the denominator
            denominator = True
        elif match["op"] == "(":
            depth += 1
        elif match["op"] == ")":
            depth -= 1
            if depth < 0:
                return None
    if not factors or depth:
        return None
    numerator, denominator = [], []
    for symbol, exponent, factor_scale, factor_dims in factors:
        scale *= factor_scale ** exponent
        for name, power in factor_dims:
            dims[name] = dims.get(name, 0) + power * exponent
        (numerator if exponent > 0 else denominator).append((symbol, abs(exponent)))

    def shown(symbol: str, exponent: int, sign: str = "") -> str:
        return symbol if exponent == 1 and not sign else f"{symbol}^{sign}{exponent}"

    if not numerator:  # "s^-1", never "1/s" (a leading number would read as the quantity)
        canonical = "*".join(shown(symbol, exponent, "-") for symbol, exponent in denominator)
    else:
        canonical = "*".join(shown(symbol, exponent) for symbol, exponent in numerator)
        if len(denominator) == 1:
            canonical += "/" + shown(*denominator[0])
        elif denominator:
            canonical += "/(" + "*".join(shown(symbol, exponent) for symbol, exponent in denominator) + ")"
    return UnitInfo(canonical, scale, tuple(sorted((name, power) for name, power in dims.items() if power)))


# --------------------------------------------------------------------------- numbers

_MANTISSA = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+"
_EXPONENT = (r"(?:[eE](?P<e1>[-+]?\d+)|\s*(?:\\times|\\cdot|\*|x|X)\s*10\s*\^\s*"
             r"(?:\{\s*(?P<e2>[-+]?\d+)\s*\}|\(\s*(?P<e3>[-+]?\d+)\s*\)|(?P<e4>[-+]?\d+)))")
_NUMERIC_RE = re.compile(rf"^(?P<cur>\$\s*)?(?P<sign>[-+])?\s*(?P<cur2>\$\s*)?(?P<mant>{_MANTISSA})(?:{_EXPONENT})?(?![\d.])\s*(?P<unit>.*)$")
_POW10_RE = re.compile(r"^(?P<sign>[-+])?\s*10\s*\^\s*(?:\{\s*(?P<e1>[-+]?\d+)\s*\}|(?P<e2>[-+]?\d+))(?![\d.])\s*(?P<unit>.*)$")
_FRACTION_RE = re.compile(
    r"^(?P<sign>[-+])?\s*(?:\\frac\s*\{\s*(?P<n1>[-+]?\d+)\s*\}\s*\{\s*(?P<d1>[-+]?\d+)\s*\}"
    r"|(?P<n2>\d+)\s*/\s*(?P<d2>\d+)(?![\d.]))\s*(?P<unit>.*)$"
)


def format_number(value: Fraction, as_fraction: bool = False) -> str:
    """Minimal text of a number: integers plainly, fractions as "p/q" when asked, else a decimal
    (exponent form below 1e-6 or from 1e15), without trailing zeros."""
    if value.denominator == 1 and abs(value) < 10 ** 15:
        return str(value.numerator)
    if as_fraction and value.denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    with localcontext() as context:
        context.prec = 40
        decimal = (Decimal(value.numerator) / Decimal(value.denominator)).normalize()
    if decimal == 0:
        return "0"
    if Decimal("1e-6") <= abs(decimal) < Decimal("1e15"):
        return format(decimal, "f")
    return format(decimal, "e")


def _significant_digits(mantissa: str, has_exponent: bool) -> int | None:
    digits = mantissa.replace(",", "")
    if "." not in digits and not has_exponent:
        return None
    digits = digits.replace(".", "").lstrip("0")
    return max(len(digits), 1)


def _unit_part(unit_text: str, max_unit_chars: int) -> tuple[bool, str | None]:
    """(ok, canonical unit or None) of what follows a number."""
    if not unit_text:
        return True, None
    info = parse_unit(unit_text, max_unit_chars)
    return (True, info.canonical) if info else (False, None)


def read_number(text: str, max_unit_chars: int = MAX_UNIT_CHARS) -> Number | None:
    """A number with an optional unit from normalized text, or None."""
    match = _FRACTION_RE.match(text)
    if match:
        numerator, denominator = int(match["n1"] or match["n2"]), int(match["d1"] or match["d2"])
        ok, unit = _unit_part(match["unit"], max_unit_chars)
        if ok and denominator:
            value = Fraction(numerator, denominator) * (-1 if match["sign"] == "-" else 1)
            return Number(value, unit, None, True)
    match = _POW10_RE.match(text)
    if match:
        exponent = int(match["e1"] or match["e2"])
        ok, unit = _unit_part(match["unit"], max_unit_chars)
        if ok and abs(exponent) <= 400:
            return Number(Fraction(10) ** exponent * (-1 if match["sign"] == "-" else 1), unit, None)
    match = _NUMERIC_RE.match(text)
    if not match:
        return None
    exponent_text = match["e1"] or match["e2"] or match["e3"] or match["e4"]
    ok, unit = _unit_part(match["unit"], max_unit_chars)
    if not ok:
        return None
    if match["cur"] or match["cur2"]:
        if unit is not None:
            return None
        unit = "$"
    mantissa = match["mant"]
    if exponent_text is not None and abs(int(exponent_text)) > 400:
        return None
    value = Fraction(mantissa.replace(",", "")) * (Fraction(10) ** int(exponent_text) if exponent_text else 1)
    if match["sign"] == "-":
        value = -value
    return Number(value, unit, _significant_digits(mantissa, exponent_text is not None))


def _number_canonical(number: Number) -> str:
    text = format_number(number.value, number.fraction)
    return f"{text} {number.unit}" if number.unit else text


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


# --------------------------------------------------------------------------- expressions

_ALLOWED_COMMANDS = frozenset("""
frac sqrt pi sin cos tan sec csc cot arcsin arccos arctan sinh cosh tanh ln log exp cdot times infty
alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi rho sigma
tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega
le leq ge geq lt gt ne neq binom
""".split())
_FUNCTION_WORDS = frozenset("sin cos tan sec csc cot arcsin arccos arctan asin acos atan sinh cosh tanh "
                            "ln log exp sqrt abs Abs det factorial pi oo Matrix Eq".split())
# short lowercase words that are English, not products of variables
_ENGLISH_SHORT = frozenset("""
a an am and or of the is are was to in on at be by as it if no not so for but all any per its has can may
yes one two six ten top low off out our use way how why who new old few let get got had his her him she
they we you me my do did does too too via vs etc nor yet own own see saw set run ran put end
""".split())
_EXPRESSION_CHARS_RE = re.compile(r"^[A-Za-z0-9\s+\-*/^_()\[\]{}|.,=<>!'\\&]+$")
_COMMAND_RE = re.compile(r"\\([A-Za-z]+)")
_EXPLOSIVE_RE = re.compile(r"\d{4,}\s*\}?\s*!|\\binom\s*\{?\s*\d{4,}|\d{16,}")
_ENVIRONMENT_RE = re.compile(r"\\(?:begin|end)\s*\{\s*([A-Za-z*]+)\s*\}")
_MATRIX_ENVIRONMENTS = frozenset({"pmatrix", "bmatrix", "matrix", "vmatrix", "Bmatrix"})
_LETTER_RUN_RE = re.compile(r"(?<![A-Za-z\\])[A-Za-z]+")
_ELEMENTS = frozenset("""
H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr
Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir
Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr
""".split())
_FORMULA_TOKEN_RE = re.compile(r"([A-Z][a-z]?)(?:_?\{?(\d+)\}?)?")
_ASSIGNMENT_RE = re.compile(
    r"^(?:(?:\\[A-Za-z]+\s*)?[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?°?"  # x, V_0, \Delta H, \Delta G°
    r"|\\[A-Za-z]+(?:_\{?[A-Za-z0-9]+\}?)?"  # \lambda, \theta_1
    r"|[A-Za-z]\s*\(\s*[a-z](?:\s*,\s*[a-z])*\s*\))"  # f(x), g(x, y)
    r"\s*=\s*(?!=)"
)
# Python-style text (sympy's own printing included): explicit '*', '**', calls such as sqrt(...), pi
_PYTHON_STYLE_RE = re.compile(r"\*|\b(?:sqrt|exp|log|ln|sin|cos|tan|asin|acos|atan|sinh|cosh|tanh|Abs|factorial|Matrix|Eq)\(|\bpi\b")


def _is_chemical_formula(text: str) -> bool:
    compact = text.replace(" ", "")
    tokens = _FORMULA_TOKEN_RE.findall(compact)
    if len(tokens) < 2 or "".join(symbol + (f"_{n}" if n else "") for symbol, n in tokens) != re.sub(r"_?\{?(\d+)\}?", r"_\1", compact):
        return False
    if not all(symbol in _ELEMENTS for symbol, _ in tokens):
        return False
    return any(n for _, n in tokens) or any(len(symbol) == 2 for symbol, _ in tokens)


def looks_like_expression(text: str, max_chars: int = MAX_ANSWER_CHARS) -> bool:
    """The lexical gate: math characters, known commands, variables or function names only."""
    if not text or len(text) > max_chars or not _EXPRESSION_CHARS_RE.match(text):
        return False
    environments = _ENVIRONMENT_RE.findall(text)
    if any(name not in _MATRIX_ENVIRONMENTS for name in environments):
        return False
    text = _ENVIRONMENT_RE.sub(" ", text)
    if any(command not in _ALLOWED_COMMANDS for command in _COMMAND_RE.findall(text)):
        return False
    if re.search(r"[+\-*/^=<>,]\s*$", text) or text.count("(") != text.count(")"):
        return False
    if _EXPLOSIVE_RE.search(text):  # parsers evaluate factorials and binomials of literals eagerly
        return False
    for run in _LETTER_RUN_RE.findall(_COMMAND_RE.sub(" ", text)):
        if len(run) == 1 or run in _FUNCTION_WORDS:
            continue
        if len(run) <= 3 and run.islower() and run not in _ENGLISH_SHORT:
            continue
        return False
    return not _is_chemical_formula(text)


class SymbolicTimeout(BaseException):
    """Symbolic work ran out of time (a BaseException so library ``except Exception`` cannot swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise ``SymbolicTimeout`` after ``seconds`` (SIGALRM); a no-op outside the main thread,
    without SIGALRM, when ``seconds`` is falsy, or when a timer is already running."""
    usable = (
        seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise SymbolicTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _sympy():
    import sympy

    return sympy


@lru_cache(maxsize=1)
def _latex_parser():
    from latex2sympy2_extended import latex2sympy
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig

    config = ConversionConfig(lowercase_symbols=False)
    return lambda text: latex2sympy(text, normalization_config=None, conversion_config=config)


_UNSAFE_PYTHON_RE = re.compile(r"__|[A-Za-z_\])]\s*\.|['\"`;:@#$]|\blambda\b")


@lru_cache(maxsize=1)
def _sympy_namespace() -> dict:
    namespace: dict = {}
    exec("from sympy import *", namespace)  # what parse_expr's generated code refers to (Add, Mul, Integer ...)
    return namespace


def _python_parse(text: str, symbols_only: bool = False):
    """sympy's ``parse_expr`` on Python-style math; refuses anything that could be more than arithmetic
    (``parse_expr`` evaluates Python code, and this text comes from datasets). With ``symbols_only``
    (text made by ``latex_to_python``) ``E`` and ``I`` are variables, not Euler's number and i."""
    if _UNSAFE_PYTHON_RE.search(text):
        raise ValueError(f"refusing to evaluate {text[:80]!r}")
    sympy = _sympy()
    from sympy.parsing.sympy_parser import (
        convert_xor, implicit_multiplication_application, parse_expr, standard_transformations,
    )

    names = {"sqrt": sympy.sqrt, "exp": sympy.exp, "log": sympy.log, "ln": sympy.log, "sin": sympy.sin,
             "cos": sympy.cos, "tan": sympy.tan, "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan,
             "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "Abs": sympy.Abs,
             "factorial": sympy.factorial, "Matrix": sympy.Matrix, "Eq": sympy.Eq, "pi": sympy.pi,
             "E": sympy.E, "I": sympy.I, "oo": sympy.oo, "Integer": sympy.Integer, "Rational": sympy.Rational,
             "Float": sympy.Float, "Symbol": sympy.Symbol}
    if symbols_only:
        del names["E"], names["I"]
    local = {name: sympy.Symbol(name) for name in set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)) if name not in names}
    local.update(names)
    # latex_to_python writes every '*' itself; raw Python-style answers may rely on juxtaposition and '^'
    transformations = standard_transformations + (() if symbols_only else (implicit_multiplication_application, convert_xor))
    return parse_expr(text, local_dict=local, global_dict=dict(_sympy_namespace()), transformations=transformations,
                      evaluate=False)


class _Unsupported(Exception):
    """The fast LaTeX converter met something it does not handle; latex2sympy takes over."""


_LATEX_TOKEN_RE = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+|\\[A-Za-z]+|\\\\|[A-Za-z]|<=|>=|[-+*/^_(){}\[\]=<>,!|&])")
_LATEX_FUNCTIONS = {"sin": "sin", "cos": "cos", "tan": "tan", "sec": "sec", "csc": "csc", "cot": "cot",
                    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh",
                    "tanh": "tanh", "exp": "exp", "ln": "log", "log": "log"}
_GREEK = frozenset("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa mu nu xi rho sigma "
                   "tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split())
_RELATIONS = {"=": "==", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "\\le": "<=", "\\leq": "<=",
              "\\ge": ">=", "\\geq": ">=", "\\lt": "<", "\\gt": ">"}


class _LatexConverter:
    """Recursive descent over a LaTeX token list producing Python-syntax math for ``parse_expr``.

    Covers what short answers use: numbers, single-letter and subscripted variables, Greek
    letters, + - * / ^, \\frac, \\sqrt (with an index), \\cdot, \\times, \\pi, \\infty,
    functions with optional powers and log bases, factorials, groups, implicit multiplication and
    one relation. Anything else raises ``_Unsupported``. Names follow latex2sympy's (``e`` is
    Euler's number, ``\\log`` is base 10, ``\\ln`` natural), so both routes agree.
    """

    def __init__(self, text: str):
        tokens, position = [], 0
        while position < len(text):
            match = _LATEX_TOKEN_RE.match(text, position)
            if not match:
                if text[position:].strip():
                    raise _Unsupported(text[position:position + 10])
                break
            tokens.append(match.group(1))
            position = match.end()
        self.tokens, self.index = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _Unsupported(f"expected {expected!r}, got {token!r}")
        self.index += 1
        return token

    def convert(self) -> str:
        left = self.sequence(stop=set(_RELATIONS))
        token = self.peek()
        if token is None:
            return left
        relation = _RELATIONS[self.take()]
        right = self.sequence(stop=set())
        if self.peek() is not None:
            raise _Unsupported("more than one relation")
        return f"Eq({left}, {right})" if relation == "==" else f"({left}) {relation} ({right})"

    def sequence(self, stop: set) -> str:
        """Operands and + - * / up to a closing token or a stop token."""
        parts: list[str] = []
        previous_operand = False
        while True:
            token = self.peek()
            if token is None or token in stop or token in (")", "}", "]"):
                break
            if token in ("+", "-", "*", "/", "\\cdot", "\\times"):
                self.take()
                parts.append({"\\cdot": "*", "\\times": "*"}.get(token, token))
                previous_operand = False
                continue
            operand = self.postfix(self.atom())
            if previous_operand:
                parts.append("*")
            parts.append(operand)
            previous_operand = True
        if not parts or not previous_operand:
            raise _Unsupported("empty or dangling operator")
        return " ".join(parts)

    def group(self) -> str:
        """A braced group, or a single token's atom (``^2``, ``\\frac12`` already expanded)."""
        if self.peek() == "{":
            self.take("{")
            inner = self.sequence(stop=set())
            self.take("}")
            return f"({inner})"
        return self.atom()

    def postfix(self, operand: str) -> str:
        while self.peek() in ("^", "!"):
            if self.take() == "!":
                operand = f"factorial({operand})"
            else:
                operand = f"({operand})**({self.group()})"
        return operand

    def atom(self) -> str:
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            return token
        if token in ("(", "["):
            inner = self.sequence(stop=set())
            self.take(")" if token == "(" else "]")
            return f"({inner})"
        if token == "{":
            self.index -= 1
            return self.group()
        if len(token) == 1 and token.isalpha():
            if self.peek() == "_":
                return token + self.subscript()
            if token == "e":
                if self.peek() == "^":
                    self.take("^")
                    return f"exp({self.group()})"
                return "exp(1)"
            return token
        if token.startswith("\\"):
            return self.command(token[1:])
        raise _Unsupported(token)

    def subscript(self) -> str:
        self.take("_")
        if self.peek() == "{":
            self.take("{")
            pieces = []
            while self.peek() != "}":
                piece = self.take()
                if not piece.isalnum():
                    raise _Unsupported("subscript")
                pieces.append(piece)
            self.take("}")
        else:
            pieces = [self.take()]
        name = "".join(pieces)
        if not name.isalnum():
            raise _Unsupported("subscript")
        return "_" + name

    def command(self, name: str) -> str:
        if name == "frac":
            return f"(({self.group()})/({self.group()}))"
        if name == "sqrt":
            if self.peek() == "[":
                self.take("[")
                degree = self.sequence(stop=set())
                self.take("]")
                return f"(({self.group()})**(1/({degree})))"
            return f"sqrt({self.group()})"
        if name == "pi":
            return "pi"
        if name == "infty":
            return "oo"
        if name in _GREEK:
            return name + (self.subscript() if self.peek() == "_" else "")
        if name in _LATEX_FUNCTIONS:
            function = _LATEX_FUNCTIONS[name]
            power = base = None
            if name == "log" and self.peek() == "_":
                self.take("_")
                base = self.group()
            if self.peek() == "^":
                self.take("^")
                power = self.group()
            argument = self.group() if self.peek() in ("{", "(", "[") else self.postfix(self.atom())
            if argument[0] != "(":
                argument = f"({argument})"
            call = f"{function}{argument}"
            if name == "log":
                call = f"log({argument}, {base or 10})"
            if power is not None:
                if power.replace(" ", "").strip("()") == "-1":
                    if function in ("log", "exp"):
                        raise _Unsupported("inverse of log/exp")
                    return f"a{function}{argument}" if not function.startswith("a") else f"{function[1:]}{argument}"
                return f"({call})**({power})"
            return call
        raise _Unsupported(name)


def latex_to_python(text: str) -> str:
    """Python-syntax math for a LaTeX answer (the common subset); raises ``_Unsupported`` otherwise."""
    return _LatexConverter(text).convert()


@lru_cache(maxsize=8192)
def _parse_expression(text: str):
    """sympy object of a gated expression text (LaTeX or Python style); raises on failure.

    Python-style text goes to ``parse_expr``; LaTeX first through ``latex_to_python`` (about a
    millisecond) and, for what that does not cover, through latex2sympy's ANTLR parser (tens
    of milliseconds per new shape).
    """
    if _PYTHON_STYLE_RE.search(text) and "\\" not in text:
        return _python_parse(text)
    if "\\begin" not in text:
        try:
            return _python_parse(latex_to_python(text), symbols_only=True)
        except (_Unsupported, SyntaxError, TypeError, ValueError, TokenError):
            pass
    return _latex_parser()(text)


def _sympy_kind(expr) -> str | None:
    sympy = _sympy()
    if isinstance(expr, sympy.MatrixBase):
        return "matrix"
    if isinstance(expr, sympy.core.relational.Relational):
        return "relation"
    if isinstance(expr, sympy.Expr):
        return "expr"
    return None


def _bounded_powers(expr) -> bool:
    """False when evaluating could explode: big integer powers, factorials of big numbers."""
    sympy = _sympy()
    for node in list(expr.atoms(sympy.Pow)) + list(expr.atoms(sympy.factorial)):
        argument = node.exp if isinstance(node, sympy.Pow) else node.args[0]
        if not argument.is_number:
            continue
        try:
            size = abs(complex(argument.evalf(15)))
        except (TypeError, ValueError, OverflowError):
            return False
        if not math.isfinite(size) or size > MAX_INTEGER_POWER:
            return False
    return True


def _constant_rational(expr) -> Fraction | None:
    sympy = _sympy()
    if not isinstance(expr, sympy.Expr) or expr.free_symbols or not _bounded_powers(expr):
        return None
    value = expr.doit()
    if value.is_Rational:
        return Fraction(int(value.p), int(value.q))
    return None


def _expression_canonical(expr, text: str) -> str:
    """sympy's sstr when it parses back to the same object, else the normalized LaTeX."""
    sympy = _sympy()
    shown = sympy.sstr(expr)
    if "\n" not in shown and len(shown) <= 2 * MAX_ANSWER_CHARS:
        try:
            if _python_parse(shown) == expr:
                return shown
        except Exception:  # noqa: BLE001 - any parser failure means "no round trip"
            pass
    return text


def _strip_assignment(text: str) -> str:
    return _ASSIGNMENT_RE.sub("", text, count=1).strip()


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


def _read_scalar(text: str, rules: ReadingRules) -> Reading | None:
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
        return _read_scalar(rest, rules)
    return _read_expression(text, rules)


def _read_expression(text: str, rules: ReadingRules) -> Reading | None:
    if not looks_like_expression(text, rules.max_chars):
        return None
    try:
        with time_limit(rules.timeout):
            expr = _parse_expression(text)
            if _sympy_kind(expr) is None:
                return None
            rational = _constant_rational(expr)
            if rational is not None:
                number = Number(rational, None, None, True)
                return Reading("numeric", _number_canonical(number), number)
            return Reading("expression", _expression_canonical(expr, text), expr)
    except SymbolicTimeout:
        return None
    except Exception:  # noqa: BLE001 - the parsers raise many types; unparsable means open-ended
        return None


def _read_tuple(text: str, rules: ReadingRules) -> Reading | None:
    bracket = _outer_bracket(text)
    inner, ordered = bracket if bracket else (text, True)
    parts = _split_top_level(inner)
    if len(parts) == 1:
        parts = _SEPARATOR_RE.split(inner) if not bracket or ordered else parts
    if len(parts) < 2 or len(parts) > rules.max_tuple_items:
        return None
    items = []
    for part in parts:
        item = _read_scalar(part.strip(), rules)
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
    text, ``boolean`` a leading "Yes, ..." / "False because ...".
    """
    if not isinstance(answer, str):
        return None
    text = normalize_answer(answer)
    reading = None
    if text and len(text) <= rules.max_chars:
        number = read_number(text, rules.max_unit_chars)  # "1,500" is a number before it is a pair
        if number:
            reading = Reading("numeric", _number_canonical(number), number)
        elif _has_separator(text):
            reading = _read_tuple(text, rules)
        if reading is None:
            reading = _read_scalar(text, rules)
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


def classify_answer(answer: Any, rules: ReadingRules = DEFAULT_RULES) -> tuple[str, str] | None:
    """``(answer_type, canonical)`` of a verifiable answer, or None for an open-ended one."""
    reading = read_answer(answer, rules=rules)
    return None if reading is None else (reading.answer_type, reading.canonical)


# --------------------------------------------------------------------------- equivalence

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
    reading = read_answer(question.get("reference_answer"), rules=rules)
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
    reading = question_reading(question, rules)
    out = dict(question)
    if reading is None:
        if drop_open_ended_math and question.get("subject") == "mathematics":
            answer = question.get("reference_answer")
            return Rejected("open_ended_math", f"reference_answer: {str(answer)[:200]!r}")
        out.update(split="open_ended", answer_type=None, answer_canonical=None)
    else:
        out.update(split="verifiable", answer_type=reading.answer_type, answer_canonical=reading.canonical)
    return out

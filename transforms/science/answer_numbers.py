"""Numbers and units of the answer checker: ``parse_unit``, ``read_number``, ``format_number``.

Part of ``transforms.science.answers`` (see its module doc for the forms read); pure Python, no sympy.
"""
from __future__ import annotations

import functools
import math
import re
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import NamedTuple

MAX_UNIT_CHARS = 40


class Number(NamedTuple):
    """A read number: exact value, canonical unit (None without), significant digits as written.

    ``sig_figs`` is None for exact numbers (integers, fractions); ``fraction`` says the canonical
    form is "p/q" (written as a fraction, or a rational expression); ``evaluated`` that ``value`` is
    the floating-point value of an exact constant such as ``\\sqrt{2}/2``.
    """

    value: Fraction
    unit: str | None
    sig_figs: int | None
    fraction: bool = False
    evaluated: bool = False


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
    if len(token) >= 2 and token[0] == "K" and token[1:] in UNITS and UNITS[token[1:]][2]:
        return _unit_symbol("k" + token[1:])  # "KJ", "KW": kilo written in capitals
    return _pint_unit(token)


_PINT_DIMS = {"[length]": "m", "[mass]": "kg", "[time]": "s", "[current]": "A", "[temperature]": "K",
              "[substance]": "mol", "[luminosity]": "cd"}


@functools.lru_cache(maxsize=1)
def _pint_registries():
    """pint's unit registries (case-sensitive, case-insensitive), loaded once per process on first use."""
    import logging

    import pint
    quiet = logging.getLogger("pint")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the case-insensitive registry reports each ambiguous name (kg: gram or gauss)
    try:
        folder = _UNIT_CACHE_DIR[0]
        if folder is not None:
            try:  # pint's disk cache of its parsed definitions: ~0.01 s a registry instead of ~0.15 s
                return (pint.UnitRegistry(cache_folder=folder),
                        pint.UnitRegistry(case_sensitive=False, cache_folder=folder))
            except Exception:  # noqa: BLE001 - an unwritable or broken cache folder: parse the definitions
                pass
        return pint.UnitRegistry(), pint.UnitRegistry(case_sensitive=False)
    finally:
        quiet.setLevel(level)


_UNIT_CACHE_DIR: list[str | None] = [None]  # where pint keeps its parsed definitions (load_unit_registries)


def load_unit_registries(cache_dir: str | None = None) -> None:
    """Load pint's unit registries now (once per worker, in ``setup``) instead of on the first unit
    read; ``cache_dir``: a folder for pint's cache of its parsed definitions (None: no cache)."""
    if cache_dir is not None and _pint_registries.cache_info().currsize == 0:
        _UNIT_CACHE_DIR[0] = cache_dir
    _pint_registries()


@functools.lru_cache(maxsize=4096)
def _pint_unit(token: str) -> tuple[str, float, tuple] | None:
    """A token the table does not know, looked up in pint's maintained unit definitions ("months",
    "kPA", "MeV", "fortnight"): (pint's symbol, scale to SI, dims), or None. Only multiplicative units
    with whole-number, non-empty dimensions (pint's constants and single letters, "pi" or "a" for a year,
    are not taken); a case-insensitive match only when it differs from the token in case."""
    if len(token) < 2:
        return None
    for registry in _pint_registries():
        try:
            units = registry.parse_units(token)
            one, two = (registry.Quantity(value, units).to_base_units() for value in (1.0, 2.0))
        except Exception:  # noqa: BLE001 - pint raises many kinds for what is not a unit
            continue
        symbol = f"{units:~}".replace(" ", "")
        if not symbol or not math.isclose(two.magnitude, 2 * one.magnitude) or one.magnitude <= 0:
            continue  # offset units (degC) convert only to themselves, handled by the table
        if registry is not _pint_registries()[0] and symbol.lower() != token.lower():
            continue
        dims = {}
        for name, power in one.dimensionality.items():
            if name not in _PINT_DIMS or power != int(power):
                break
            dims[_PINT_DIMS[name]] = int(power)
        else:
            if dims:
                return symbol, float(one.magnitude), _dims(**dims)
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
# "× 10^n" also written without the sign ("1.6 10^{-19} J"): what a value column joined to a unit
# column holding the scale (SciBench's "10^{-19} J") reads as
_EXPONENT = (r"(?:[eE](?P<e1>[-+]?\d+)|(?:\s*(?:\\times|\\cdot|\*|x|X)\s*|\s+)10\s*\^\s*"
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

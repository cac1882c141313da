"""Thresholds over score columns: a pure filter stage, so changing one never re-scores.

Spec grammar (whitespace around the parts is ignored)::

    spec    := column op number
    column  := [A-Za-z_][A-Za-z0-9_]*        e.g. quality_fasttext
    op      := ">=" | ">" | "<=" | "<"
    number  := a decimal or scientific float, e.g. 50, 0.5, -1, 1e5

A spec says what a record must satisfy to be kept. Several specs can be given as a list
or in one string separated by commas or semicolons. The filter answers None (keep) or
``Rejected(reason, detail)`` for the first spec (in the given order) a record fails.

Reason vocabulary (``<column>`` is the spec's column):

``below_threshold:<column>``  the value is too low for a ``>=`` / ``>`` spec
``above_threshold:<column>``  the value is too high for a ``<=`` / ``<`` spec
``missing:<column>``          the record lacks the column, or holds null / NaN there

The detail carries the value and the spec, e.g. ``quality_fasttext=0.31 fails quality_fasttext>0.5``.
"""
from __future__ import annotations

import math
import operator
import re
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from transforms.records import Rejected

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
}
_SPEC = re.compile(
    r"^\s*(?P<column>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>>=|<=|>|<)\s*"
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


class Threshold(NamedTuple):
    """One parsed spec: keep a record when ``record[column] <op> value``."""

    column: str
    op: str
    value: float
    spec: str

    def check(self, record: Mapping[str, Any]) -> Rejected | None:
        """None when the record satisfies this threshold, else why not."""
        if self.column not in record or record[self.column] is None:
            state = "absent" if self.column not in record else "null"
            return Rejected(f"missing:{self.column}", f"{self.column} is {state}; needed by {self.spec}")
        value = float(record[self.column])
        if math.isnan(value):
            return Rejected(f"missing:{self.column}", f"{self.column} is NaN; needed by {self.spec}")
        if _OPERATORS[self.op](value, self.value):
            return None
        direction = "below" if self.op in (">=", ">") else "above"
        return Rejected(f"{direction}_threshold:{self.column}", f"{self.column}={value:g} fails {self.spec}")


def parse_threshold(spec: str) -> Threshold:
    """Parse ``"column>=number"`` (see the module doc); ValueError names a malformed spec."""
    if not isinstance(spec, str):
        raise ValueError(f"threshold spec must be a string like 'quality_fasttext>0.5', got {spec!r}")
    match = _SPEC.match(spec)
    if match is None:
        raise ValueError(
            f"malformed threshold spec {spec!r}: expected <column><op><number> "
            f"with op one of >=, >, <=, <, e.g. 'quality_gopher_word_count>=50'"
        )
    value = float(match["value"])
    if math.isinf(value):
        raise ValueError(f"malformed threshold spec {spec!r}: the number is out of range")
    column, op = match["column"], match["op"]
    return Threshold(column, op, value, f"{column}{op}{match['value']}")


def parse_thresholds(specs: str | Iterable[str]) -> list[Threshold]:
    """Parse one spec string (commas/semicolons separate several) or an iterable of them."""
    if isinstance(specs, str):
        specs = [specs]
    parsed = []
    for item in specs:
        if isinstance(item, str):
            parts = [part for part in re.split(r"[,;]", item) if part.strip()]
            if not parts:
                raise ValueError(f"malformed threshold spec {item!r}: empty")
            parsed.extend(parse_threshold(part) for part in parts)
        else:
            parsed.append(parse_threshold(item))
    return parsed


class ThresholdFilter:
    """Filter stage ``record -> None | Rejected`` applying thresholds in order (picklable).

    Use with ``transforms.stages.apply_stage(pcoll, "thresholds", ThresholdFilter(specs), kind="filter")``.
    """

    def __init__(self, specs: str | Iterable[str]):
        self.thresholds = parse_thresholds(specs)

    @property
    def columns(self) -> list[str]:
        """The columns the thresholds read, in order, without repeats."""
        return list(dict.fromkeys(t.column for t in self.thresholds))

    def __call__(self, record: Mapping[str, Any]) -> Rejected | None:
        for threshold in self.thresholds:
            verdict = threshold.check(record)
            if verdict is not None:
                return verdict
        return None

    def __repr__(self) -> str:
        return f"ThresholdFilter({[t.spec for t in self.thresholds]!r})"


def threshold_filter(specs: str | Iterable[str], columns: Iterable[str] | None = None) -> ThresholdFilter:
    """A filter function ``record -> None | Rejected`` for the given specs.

    With ``columns`` (what the records will hold), a spec naming any other column is a
    ``ValueError`` before anything runs: it would otherwise reject every record as missing.
    """
    thresholds = ThresholdFilter(specs)
    if columns is not None:
        known = set(columns)
        unknown = sorted({t.column for t in thresholds.thresholds if t.column not in known})
        if unknown:
            scores = sorted(c for c in known if c.startswith("quality_"))
            raise ValueError(f"no column {', '.join(unknown)} in the records (score columns: "
                             f"{', '.join(scores) or 'none'})")
    return thresholds


# Gopher (Rae et al. 2021, A.1.1 and table A1): keep documents that satisfy all of these.
GOPHER_DEFAULTS = [
    "quality_gopher_word_count>=50",
    "quality_gopher_word_count<=100000",
    "quality_gopher_mean_word_length>=3",
    "quality_gopher_mean_word_length<=10",
    "quality_gopher_symbol_word_ratio<=0.1",
    "quality_gopher_bullet_line_fraction<=0.9",
    "quality_gopher_ellipsis_line_fraction<=0.3",
    "quality_gopher_alpha_word_fraction>=0.8",
    "quality_gopher_stop_word_count>=2",
    "quality_gopher_dup_line_fraction<=0.3",
    "quality_gopher_dup_paragraph_fraction<=0.3",
    "quality_gopher_dup_line_char_fraction<=0.2",
    "quality_gopher_dup_paragraph_char_fraction<=0.2",
    "quality_gopher_top_2gram_char_fraction<=0.2",
    "quality_gopher_top_3gram_char_fraction<=0.18",
    "quality_gopher_top_4gram_char_fraction<=0.16",
    "quality_gopher_dup_5gram_char_fraction<=0.15",
    "quality_gopher_dup_6gram_char_fraction<=0.14",
    "quality_gopher_dup_7gram_char_fraction<=0.13",
    "quality_gopher_dup_8gram_char_fraction<=0.12",
    "quality_gopher_dup_9gram_char_fraction<=0.11",
    "quality_gopher_dup_10gram_char_fraction<=0.1",
]

# StarCoder / The Stack file rules over ``CodeRater`` columns (see transforms.quality.code).
STARCODER_DEFAULTS = [
    "quality_code_max_line_length<=1000",
    "quality_code_mean_line_length<=100",
    "quality_code_alphanumeric_fraction>=0.25",
    "quality_code_hex_fraction<=0.5",
    "quality_code_autogenerated<0.5",
]

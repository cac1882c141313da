"""argparse ``type`` functions for flag values a user can get wrong (Beam-free).

A bad value is then a one-line error naming the flag before anything runs.
"""
from __future__ import annotations

import argparse
import math
from typing import Callable

from transforms.errors import InputError


def _checked(kind: type, accept: Callable[[float], bool], requirement: str) -> Callable[[str], float]:
    """A ``type`` parsing ``kind`` and accepting the values ``accept`` holds true for."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if math.isnan(value) or not accept(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def at_least(minimum: int, kind: type = int) -> Callable[[str], float]:
    """Numbers >= ``minimum`` (counts, sizes)."""
    return _checked(kind, lambda value: value >= minimum, f"at least {minimum}")


positive = _checked(float, lambda value: 0 < value < math.inf, "a positive number")  # seconds, limits
fraction = _checked(float, lambda value: 0 < value <= 1, "in (0, 1]")  # a Jaccard threshold


def json_object(text: str) -> str:
    """A JSON object given as text (kept as text: pipeline options travel to workers as strings)."""
    import json

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {type(value).__name__}")
    return text


def parse_column_map(text: str | None) -> dict:
    """A ``--column-map`` value, ``question=q,reference_answer=a,choices=A|B|C|D``, as {target: column};
    ``A|B|C|D`` maps one target to several columns (a list). ``InputError`` for a part without ``=``."""
    mapping: dict = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError(f"--column-map: {part!r} is not TARGET=COLUMN")
        target, column = (s.strip() for s in part.split("=", 1))
        mapping[target] = column.split("|") if "|" in column else column
    return mapping

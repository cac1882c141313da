"""argparse ``type`` functions for flag values a user can get wrong (Beam-free).

A bad value is then a one-line error naming the flag before anything runs.
"""
from __future__ import annotations

import argparse


def at_least(minimum: float, kind=int):
    """An argparse ``type`` accepting numbers >= ``minimum``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        if value != value or value < minimum:  # NaN fails too
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def positive(text: str) -> float:
    """An argparse ``type`` accepting numbers > 0 (seconds, limits)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def fraction(text: str) -> float:
    """An argparse ``type`` accepting a number in (0, 1] (a Jaccard threshold)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value

"""The rater contract: raters add float64 ``quality_*`` columns and never drop records.

A rater has

* ``name``: short identifier, used in its column names (``quality_<name>_...``);
* ``columns``: the column names it adds, all float64 and prefixed ``quality_``;
* ``setup()``: loads heavy resources once per worker (``DoFn.setup``); cheap to call again;
* ``rate(texts)``: scores a batch of texts, answering one float array per column, each
  as long as ``texts``.

Thresholds are a separate stage (``transforms.quality.thresholds``), so changing a
threshold never re-scores.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np


class Rater:
    """Base class for raters: subclasses set ``name``, ``columns`` and implement ``rate``.

    Subclassing is optional: any object with these four members works.
    """

    name: str = "rater"

    @property
    def columns(self) -> list[str]:
        raise NotImplementedError

    def setup(self) -> None:
        """Load heavy resources; the default rater has none."""

    def rate(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def texts_of(records: Sequence[Mapping[str, Any]], text_field: str) -> list[str]:
    """The text of each record; a missing or null field rates as the empty text."""
    texts = []
    for record in records:
        text = record.get(text_field)
        if text is None:
            text = ""
        elif not isinstance(text, str):
            raise TypeError(f"field {text_field!r} must be a string, not {type(text).__name__}")
        texts.append(text)
    return texts


def checked_scores(rater: Any, scores: Mapping[str, Any], n_texts: int) -> dict[str, np.ndarray]:
    """``scores`` as float64 arrays, after checking they match the rater's contract."""
    expected = list(rater.columns)
    if sorted(scores) != sorted(expected):
        raise ValueError(f"rater {rater.name!r} answered columns {sorted(scores)}, declared {sorted(expected)}")
    out = {}
    for column in expected:
        values = np.asarray(scores[column], dtype=np.float64)
        if values.shape != (n_texts,):
            raise ValueError(
                f"rater {rater.name!r} column {column!r} has shape {values.shape}, expected ({n_texts},)"
            )
        out[column] = values
    return out


def rate_records(raters: Iterable[Any], records: Sequence[Mapping[str, Any]], text_field: str) -> list[dict]:
    """New record dicts: each input record plus every rater's columns (Python floats).

    Raters must already be set up. Columns a record already has are overwritten,
    so re-rating a shard refreshes its scores.
    """
    records = list(records)
    texts = texts_of(records, text_field)
    out = [dict(record) for record in records]
    if not records:
        return out
    for rater in raters:
        scores = checked_scores(rater, rater.rate(texts), len(texts))
        for column, values in scores.items():
            for row, value in zip(out, values.tolist()):
                row[column] = value
    return out


def all_columns(raters: Iterable[Any]) -> list[str]:
    """Every column the raters add, in order; duplicates across raters are an error."""
    columns: list[str] = []
    for rater in raters:
        for column in rater.columns:
            if not column.startswith("quality_"):
                raise ValueError(f"rater {rater.name!r} column {column!r} must start with 'quality_'")
            if column in columns:
                raise ValueError(f"column {column!r} is added by more than one rater")
            columns.append(column)
    return columns

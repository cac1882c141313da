"""The ``check-answers`` stage: a verdict column for any table of (reference, candidate) rows.

``VerdictStage(reference, candidate, answer_type=None, verdict="verdict", rel_tol=...)`` is a
plain stage function (record in, record or ``Rejected`` out): the record gains the
``answer_verdict`` of its candidate against its reference, ``equivalent``, ``different`` or
``unknown`` (the checker hit a size or time limit). Answers may be strings, numbers, booleans or
lists (``answer_reader.answer_text``). Rejects: ``missing_field`` (a null or absent reference or
candidate) and ``wrong_type`` (an object, or a number that is not finite), with the column named.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from transforms.records import Rejected
from transforms.science.answer_compare import DEFAULT_REL_TOL, VERDICTS, answer_verdict
from transforms.science.answer_reader import answer_text


class VerdictStage:
    """Adds ``verdict`` (see the module doc) to each record."""

    def __init__(self, reference: str, candidate: str, answer_type: str | None = None, verdict: str = "verdict",
                 rel_tol: float = DEFAULT_REL_TOL):
        self.reference, self.candidate, self.answer_type, self.verdict = reference, candidate, answer_type, verdict
        self.rel_tol = rel_tol

    def _text(self, record: dict, column: str) -> str | Rejected:
        value = record.get(column)
        if value is None:
            return Rejected("missing_field", f"field {column} is missing or null")
        text = answer_text(value)
        if text is None:
            return Rejected("wrong_type", f"field {column}: {type(value).__name__} is not an answer")
        return text

    def __call__(self, record: dict) -> dict | Rejected:
        reference, candidate = self._text(record, self.reference), self._text(record, self.candidate)
        for value in (reference, candidate):
            if isinstance(value, Rejected):
                return value
        hint = record.get(self.answer_type) if self.answer_type else None
        out = dict(record)
        out[self.verdict] = answer_verdict(candidate, reference, hint if isinstance(hint, str) else None,
                                           self.rel_tol)
        return out


def verdict_counts(verdicts: Iterable[str | None]) -> dict[str, int]:
    """Rows per verdict, every verdict named (zeros included)."""
    counts = Counter(verdicts)
    return {verdict: counts.get(verdict, 0) for verdict in VERDICTS}

"""Beam shell for raters: batch records, add ``quality_*`` columns, isolate failures.

``rated, rejects = records | RateRecords([GopherRater(), FastTextRater(path)], "text")``

Thresholds are a separate filter stage::

    kept, rejected = apply_stage(rated, "thresholds", threshold_filter(GOPHER_DEFAULTS), kind="filter")
"""
from __future__ import annotations

import time
from typing import Any, Iterable, Sequence

import apache_beam as beam

from transforms.quality.base import all_columns, rate_records
from transforms.records import reject_row
from transforms.stages import REJECTS, StageCounters

MIN_BATCH_SIZE = 16
MAX_BATCH_SIZE = 512


class RateBatchDoFn(beam.DoFn):
    """Rates a batch of records; if the batch fails, rates them one by one so only the
    records that raise become ``error:<Type>`` rejects."""

    def __init__(self, raters: Sequence[Any], text_field: str, stage: str, id_field: str = "id"):
        self.raters = list(raters)
        self.text_field, self.stage, self.id_field = text_field, stage, id_field

    def setup(self):
        self.counters = StageCounters(self.stage)
        for rater in self.raters:
            if hasattr(rater, "setup"):
                rater.setup()

    def _reject(self, record: Any, exc: Exception):
        reason = f"error:{type(exc).__name__}"
        self.counters.rejected(reason)
        rid = record.get(self.id_field) if isinstance(record, dict) else None
        return beam.pvalue.TaggedOutput(
            REJECTS, reject_row(self.stage, reason, str(exc), record, None if rid is None else str(rid))
        )

    def process(self, batch: list) -> Iterable:
        self.counters.records_in.inc(len(batch))
        started = time.perf_counter()
        outputs = self._rate(batch)
        self.counters.micros.inc(int((time.perf_counter() - started) * 1e6))
        yield from outputs

    def _rate(self, batch: list) -> list:
        try:
            rated = rate_records(self.raters, batch, self.text_field)
        except Exception:  # noqa: BLE001 - retry one by one to find the offending records
            outputs = []
            for record in batch:
                try:
                    outputs.append(rate_records(self.raters, [record], self.text_field)[0])
                    self.counters.records_out.inc()
                except Exception as exc:  # noqa: BLE001 - isolation is the point
                    outputs.append(self._reject(record, exc))
            return outputs
        self.counters.records_out.inc(len(rated))
        return rated


class RateRecords(beam.PTransform):
    """Adds every rater's columns to each record; returns ``(rated, rejects)``.

    Raters load their resources in ``DoFn.setup`` (once per worker). Records are rated
    in batches of ``min_batch_size``..``max_batch_size`` (Beam adapts within the range);
    a record whose rating raises becomes a reject row of ``stage``. Lower
    ``max_batch_size`` when records are large (whole source files, long books).
    """

    def __init__(
        self,
        raters: Sequence[Any],
        text_field: str,
        stage: str = "quality",
        *,
        id_field: str = "id",
        min_batch_size: int = MIN_BATCH_SIZE,
        max_batch_size: int = MAX_BATCH_SIZE,
    ):
        super().__init__()
        self.raters = list(raters)
        self.columns = all_columns(self.raters)  # fails early on clashing column names
        self.text_field, self.stage, self.id_field = text_field, stage, id_field
        self.min_batch_size, self.max_batch_size = min_batch_size, max_batch_size

    def expand(self, pcoll):
        results = (
            pcoll
            | f"batch:{self.stage}" >> beam.BatchElements(
                min_batch_size=self.min_batch_size, max_batch_size=self.max_batch_size
            )
            | f"rate:{self.stage}" >> beam.ParDo(
                RateBatchDoFn(self.raters, self.text_field, self.stage, self.id_field)
            ).with_outputs(REJECTS, main="rated")
        )
        return results.rated, results[REJECTS]

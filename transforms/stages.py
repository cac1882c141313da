"""The thin Beam shell around pure stage functions, with per-record fault isolation.

``apply_stage(pcoll, "quality", fn, kind="filter")`` returns ``(kept, rejects)``:
``kept`` holds the records the function kept or produced; ``rejects`` holds rows of
the ``rejects/`` dataset. Every record that enters a stage is counted in Beam
metrics under namespace ``stage:<name>`` as ``in``, ``out`` and ``rejected:<reason>``;
``transforms/io/manifest.py`` turns those counters into the manifest's stage table.
"""
from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, Callable, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.records import Rejected, record_to_json, reject_row

REJECTS = "rejects"
STAGE_NAMESPACE_PREFIX = "stage:"
KINDS = ("map", "filter", "flatmap")
# Records that entered each stage in this interpreter's in-process workers; feeds the
# console progress line (worker processes and remote runners report through metrics only).
LOCAL_PROGRESS: dict[str, int] = defaultdict(int)
BYTES_READ = [0]  # input bytes the in-process readers have consumed (the progress bar's position)


class _ProgressCounter:
    """A Beam counter that also counts into ``LOCAL_PROGRESS``."""

    def __init__(self, namespace: str, name: str, stage: str):
        self.counter, self.stage = Metrics.counter(namespace, name), stage

    def inc(self, n: int = 1) -> None:
        self.counter.inc(n)
        LOCAL_PROGRESS[self.stage] += n


class StageCounters:
    """Counters of one stage; reason counters are created on first use."""

    def __init__(self, stage: str):
        self.namespace = STAGE_NAMESPACE_PREFIX + stage
        self.records_in = _ProgressCounter(self.namespace, "in", stage)
        self.records_out = Metrics.counter(self.namespace, "out")
        self.micros = Metrics.counter(self.namespace, "micros")
        self._reasons: dict[str, Any] = {}

    def rejected(self, reason: str) -> None:
        counter = self._reasons.get(reason)
        if counter is None:
            counter = self._reasons[reason] = Metrics.counter(self.namespace, "rejected:" + reason)
        counter.inc()


def _outcomes(kind: str, record: Any, result: Any) -> list:
    """Normalize what a stage function answered into a list of records / Rejected."""
    if kind == "filter":
        if result is None:
            return [record]
        if isinstance(result, str):
            return [Rejected(result)]
        if isinstance(result, Rejected):
            return [result]
        raise TypeError(f"filter must answer None, a reason or Rejected, not {type(result).__name__}")
    if kind == "map":
        return [result]
    return list(result)


class StageDoFn(beam.DoFn):
    """Runs ``fn`` on each record; an exception makes the record a reject ``error:<Type>``.

    If ``fn`` has a ``setup()`` method it is called once per worker (load models there).
    """

    def __init__(self, stage: str, fn: Callable, kind: str = "map", id_field: str = "id"):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.stage, self.fn, self.kind, self.id_field = stage, fn, kind, id_field

    def setup(self):
        self.counters = StageCounters(self.stage)
        if hasattr(self.fn, "setup"):
            self.fn.setup()

    def _reject(self, record: Any, reason: str, detail: str):
        self.counters.rejected(reason)
        rid = record.get(self.id_field) if isinstance(record, dict) else None
        return beam.pvalue.TaggedOutput(
            REJECTS, reject_row(self.stage, reason, detail, record, None if rid is None else str(rid))
        )

    def process(self, record: Any) -> Iterable:
        self.counters.records_in.inc()
        started = time.perf_counter()
        try:
            outcomes = _outcomes(self.kind, record, self.fn(record))
        except Exception as exc:  # noqa: BLE001 - isolation is the point
            yield self._reject(record, f"error:{type(exc).__name__}", str(exc))
            return
        finally:
            self.counters.micros.inc(int((time.perf_counter() - started) * 1e6))
        rejected = [o for o in outcomes if isinstance(o, Rejected)]
        if rejected and self.kind == "flatmap":
            # a flat-map that rejects part of its output rejects the input once
            first = rejected[0]
            yield self._reject(record, first.reason, first.detail)
            return
        for out in outcomes:
            if isinstance(out, Rejected):
                yield self._reject(record, out.reason, out.detail)
            else:
                self.counters.records_out.inc()
                yield out


def apply_stage(pcoll, stage: str, fn: Callable, kind: str = "map", id_field: str = "id"):
    """Apply a pure stage function; returns ``(kept, rejects)`` PCollections."""
    results = pcoll | f"stage:{stage}" >> beam.ParDo(StageDoFn(stage, fn, kind, id_field)).with_outputs(
        REJECTS, main="kept"
    )
    return results.kept, results[REJECTS]


class UniqueBy(beam.PTransform):
    """Keep one record per value of ``key_field``; the others become rejects ``duplicate_<key_field>``.

    The kept record is the one with the smallest JSON form, so the choice is deterministic.
    Returns ``(kept, rejects)``.
    """

    def __init__(self, stage: str, key_field: str = "id"):
        super().__init__()
        self.stage, self.key_field = stage, key_field

    def expand(self, pcoll):
        stage, key_field = self.stage, self.key_field
        reason = f"duplicate_{key_field}"

        def split(item):
            key, records = item
            counters = StageCounters(stage)
            ordered = sorted(records, key=record_to_json)
            counters.records_in.inc(len(ordered))
            counters.records_out.inc()
            yield ordered[0]
            for record in ordered[1:]:
                counters.rejected(reason)
                yield beam.pvalue.TaggedOutput(
                    REJECTS, reject_row(stage, reason, f"{key_field} {key!r} seen more than once", record, str(key)))

        results = (
            pcoll
            | f"{stage}:key" >> beam.Map(lambda r: (str(r.get(key_field)), r))
            | f"{stage}:group" >> beam.GroupByKey()
            | f"{stage}:split" >> beam.FlatMap(split).with_outputs(REJECTS, main="kept")
        )
        return results.kept, results[REJECTS]

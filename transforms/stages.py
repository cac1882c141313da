"""The thin Beam shell around pure stage functions, with per-record fault isolation.

``apply_stage(pcoll, "quality", fn, kind="filter")`` returns ``(kept, rejects)``:
``kept`` holds the records the function kept or produced; ``rejects`` holds rows of
the ``rejects/`` dataset. Every record that enters a stage is counted in Beam
metrics under namespace ``stage:<name>`` as ``in``, ``out`` and ``rejected:<reason>``;
``transforms/io/manifest.py`` turns those counters into the manifest's stage table.
"""
from __future__ import annotations

import ctypes
import threading
import time
import zlib
from collections import defaultdict
from typing import Any, Callable, Iterable, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.io.readers import READ_STAGE, Unreadable, file_size, iter_records
from transforms.records import Rejected, record_bytes, record_to_json, reject_row

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


DEFAULT_RECORD_TIMEOUT = 300.0  # seconds one record may spend in one stage (``--record-timeout``)


class _OverBudget(BaseException):
    """Raised inside a worker thread whose record went over its stage's time budget (a
    ``BaseException``, so a stage function's ``except Exception`` cannot swallow it)."""


class RecordBudget:
    """A per-record time budget for the stage functions one worker thread runs.

    ``run(fn, record)`` calls ``fn(record)``; a watchdog thread checks the running record every
    ``budget / 4`` seconds (at most 1 s) and, past ``budget``, raises ``_OverBudget`` in the worker
    thread (``PyThreadState_SetAsyncExc``), which ``run`` turns into ``None`` plus ``expired``. This
    stops Python-level work (loops, recursion, pure-Python libraries); a call blocked in C (a
    sleep, a socket read, one huge integer operation) is interrupted only when it returns to Python,
    so those need their own limits (the LLM client and the verifier have them).
    """

    def __init__(self, budget: float):
        self.budget = budget
        self._lock = threading.Lock()
        self._running: tuple[int, int, float] | None = None  # (thread id, sequence, deadline)
        self._sequence = 0
        self._fired = -1
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="record-budget", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        interval = min(1.0, max(0.01, self.budget / 4))
        while not self._stop.wait(interval):
            with self._lock:
                running = self._running
                if running and time.monotonic() > running[2] and self._fired != running[1]:
                    self._fired = running[1]
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(running[0]),
                                                               ctypes.py_object(_OverBudget))

    def run(self, fn: Callable, record: Any, records: int = 1) -> tuple[Any, bool]:
        """``(fn(record), False)``, or ``(None, True)`` when the record went over the budget
        (``records`` budgets when ``record`` is a batch of that many)."""
        self._sequence += 1
        sequence = self._sequence
        try:
            try:
                self._running = (threading.get_ident(), sequence, time.monotonic() + self.budget * records)
                result = fn(record)
            finally:
                with self._lock:
                    self._running = None
            _checkpoint()  # a budget exception that arrived while the lock was awaited is raised here
            return result, False
        except _OverBudget:
            return None, True

    def close(self) -> None:
        self._stop.set()


def _checkpoint() -> None:
    """A Python-level call: pending asynchronous exceptions are raised at calls."""


class Stage(NamedTuple):
    """One stage of a chain: ``fn`` per record, of ``kind`` map / filter / flatmap."""

    name: str
    fn: Callable
    kind: str = "map"
    id_field: str = "id"


class _RunningStage:
    """A stage inside a ``StageDoFn`` on a worker: its function and its own counters."""

    def __init__(self, stage: Stage):
        self.name, self.fn, self.kind, self.id_field = stage
        self.counters = StageCounters(self.name)
        self.batch = getattr(self.fn, "process_batch", None)
        # Counts kept here and handed to Beam's counters once per bundle (``flush``): a Beam
        # counter update per record costs more than many stage functions.
        self.pending_in = self.pending_out = self.pending_micros = 0

    def count_in(self, n: int = 1) -> None:
        self.pending_in += n
        LOCAL_PROGRESS[self.name] += n  # the progress line stays per record

    def flush(self) -> None:
        counters = self.counters
        if self.pending_in:
            counters.records_in.counter.inc(self.pending_in)
        if self.pending_out:
            counters.records_out.inc(self.pending_out)
        if self.pending_micros:
            counters.micros.inc(self.pending_micros)
        self.pending_in = self.pending_out = self.pending_micros = 0

    def outcomes(self, record: Any) -> list:
        return _outcomes(self.kind, record, self.fn(record))

    def batch_outcomes(self, records: list) -> list[list]:
        results = self.batch(records)
        if len(results) != len(records):
            raise ValueError(f"process_batch answered {len(results)} results for {len(records)} records")
        return [_outcomes(self.kind, record, result) for record, result in zip(records, results)]


class StageDoFn(beam.DoFn):
    """Runs a chain of stages on each record, in order, in one ParDo (one Beam step per chain, not
    per stage): every stage has its own counters, reject rows, per-record budget and isolation.

    In a stage, an exception makes the record a reject ``error:<Type>`` of that stage, a record over
    ``record_timeout`` seconds (``RecordBudget``) a reject ``timeout:<stage>``; what a stage keeps goes
    on to the next one. If a stage function has a ``setup()`` method it is called once per worker
    (load models there). ``StageDoFn(name, fn, kind, id_field)`` is a chain of one.

    ``batched``: each element is a list of records; a stage function with ``process_batch(records)``
    (one result per record, what ``fn(record)`` would answer) gets them all at once (one model or
    worker call per batch), the others one by one.
    """

    def __init__(self, stage: str | None = None, fn: Callable | None = None, kind: str = "map", id_field: str = "id",
                 record_timeout: float | None = DEFAULT_RECORD_TIMEOUT, stages: list[Stage] | None = None,
                 batched: bool = False):
        stages = list(stages) if stages is not None else [Stage(stage, fn, kind, id_field)]
        if not stages:
            raise ValueError("StageDoFn needs at least one stage")
        for item in stages:
            if item.kind not in KINDS:
                raise ValueError(f"kind must be one of {KINDS}, not {item.kind!r}")
        self.stages, self.record_timeout, self.batched = stages, record_timeout, batched

    def setup(self):
        self.running = [_RunningStage(stage) for stage in self.stages]
        self.budgets: dict[int, RecordBudget] = {}  # one per worker thread calling process
        for stage in self.stages:
            if hasattr(stage.fn, "setup"):
                stage.fn.setup()

    def start_bundle(self):
        for stage in self.running:  # a failed bundle's counts are not this bundle's
            stage.pending_in = stage.pending_out = stage.pending_micros = 0

    def finish_bundle(self):
        for stage in self.running:
            stage.flush()

    def teardown(self):
        for budget in getattr(self, "budgets", {}).values():
            budget.close()

    def _budget(self) -> RecordBudget:
        budget = self.budgets.get(threading.get_ident())
        if budget is None:
            budget = self.budgets[threading.get_ident()] = RecordBudget(self.record_timeout)
        return budget

    def _call(self, stage: _RunningStage, record: Any) -> tuple[list | None, bool]:
        """(the outcomes of the stage on ``record``, whether it went over the budget)."""
        if not self.record_timeout:
            return stage.outcomes(record), False
        return self._budget().run(stage.outcomes, record)

    def _reject(self, stage: _RunningStage, record: Any, reason: str, detail: str):
        stage.counters.rejected(reason)
        rid = record.get(stage.id_field) if isinstance(record, dict) else None
        return beam.pvalue.TaggedOutput(
            REJECTS, reject_row(stage.name, reason, detail, record, None if rid is None else str(rid))
        )

    def _apply(self, stage: _RunningStage, record: Any, kept: list, rejects: list) -> None:
        """One stage on one record: its reject rows go to ``rejects``, what it keeps to ``kept``."""
        stage.count_in()
        started = time.perf_counter()
        try:
            outcomes, expired = self._call(stage, record)
        except Exception as exc:  # noqa: BLE001 - isolation is the point
            rejects.append(self._reject(stage, record, f"error:{type(exc).__name__}", str(exc)))
            return
        finally:
            stage.pending_micros += int((time.perf_counter() - started) * 1e6)
        if expired:
            rejects.append(self._reject(stage, record, f"timeout:{stage.name}", f"over the {self.record_timeout:g} s "
                                        "budget of one record (--record-timeout)"))
            return
        self._route(stage, record, outcomes, kept, rejects)

    def _apply_batch(self, stage: _RunningStage, records: list, kept: list, rejects: list) -> None:
        """One stage's ``process_batch`` on a batch; when it raises or goes over the batch's budget
        (``record_timeout`` per record) the records go through the stage one by one instead, so each
        gets exactly the outcome, reject and budget it would get alone."""
        started = time.perf_counter()
        try:
            if self.record_timeout:
                results, expired = self._budget().run(stage.batch_outcomes, records, len(records))
            else:
                results, expired = stage.batch_outcomes(records), False
        except Exception:  # noqa: BLE001 - the one-by-one path reports what fails
            results, expired = None, True
        stage.pending_micros += int((time.perf_counter() - started) * 1e6)
        if expired:
            for record in records:
                self._apply(stage, record, kept, rejects)
            return
        stage.count_in(len(records))
        for record, outcomes in zip(records, results):
            self._route(stage, record, outcomes, kept, rejects)

    def _route(self, stage: _RunningStage, record: Any, outcomes: list, kept: list, rejects: list) -> None:
        """A stage's outcomes of one record: reject rows to ``rejects``, records to ``kept``."""
        if stage.kind == "flatmap":
            rejected = next((o for o in outcomes if isinstance(o, Rejected)), None)
            if rejected is not None:  # a flat-map that rejects part of its output rejects the input once
                rejects.append(self._reject(stage, record, rejected.reason, rejected.detail))
                return
        for out in outcomes:
            if isinstance(out, Rejected):
                rejects.append(self._reject(stage, record, out.reason, out.detail))
            else:
                stage.pending_out += 1
                kept.append(out)

    def process(self, element: Any) -> Iterable:
        records, rejects = (list(element) if self.batched else [element]), []
        for stage in self.running:
            kept: list = []
            if stage.batch is not None and len(records) > 1:
                self._apply_batch(stage, records, kept, rejects)
            else:
                for item in records:
                    self._apply(stage, item, kept, rejects)
            records = kept
            if not records:
                break
        return rejects + records if rejects else records


def apply_stage(pcoll, stage: str, fn: Callable, kind: str = "map", id_field: str = "id",
                record_timeout: float | None = DEFAULT_RECORD_TIMEOUT):
    """Apply a pure stage function; returns ``(kept, rejects)`` PCollections."""
    return apply_stages(pcoll, [Stage(stage, fn, kind, id_field)], record_timeout)


STAGE_BATCH = 256  # records per batch of a chain with a ``process_batch`` stage


def apply_stages(pcoll, stages: list[Stage], record_timeout: float | None = DEFAULT_RECORD_TIMEOUT):
    """Apply a chain of stage functions in one ParDo (see ``StageDoFn``); returns ``(kept, rejects)``.

    When a stage function offers ``process_batch``, the chain runs over batches of ``STAGE_BATCH``.
    """
    label = "stage:" + "+".join(stage.name for stage in stages)
    batched = any(hasattr(stage.fn, "process_batch") for stage in stages)
    if batched:
        pcoll = pcoll | f"{label}:batch" >> beam.BatchElements(min_batch_size=STAGE_BATCH, max_batch_size=STAGE_BATCH)
    results = pcoll | label >> beam.ParDo(StageDoFn(stages=stages, record_timeout=record_timeout,
                                                    batched=batched)).with_outputs(REJECTS, main="kept")
    return results.kept, results[REJECTS]


BATCH_BYTES = 32 << 20  # text a batch of records waiting in memory (to be spilled, grouped) holds at most


def batch_records(count: int, max_bytes: int = BATCH_BYTES) -> beam.BatchElements:
    """Batches of ``count`` records, cut early once they hold ``max_bytes`` of text
    (``record_bytes``): memory stays bounded by the largest record, not by the count."""
    return beam.BatchElements(min_batch_size=count, max_batch_size=count, max_batch_weight=max_bytes,
                              element_size_fn=record_bytes)


class UniqueBy(beam.PTransform):
    """Keep one record per value of ``key_field``; the others become rejects ``duplicate_<key_field>``.

    The kept record is the one with the smallest JSON form, so the choice is deterministic.
    Records wait per batch in a ``RecordStore`` (files under ``spill_dir``, else inline): only
    ``(key, batch, row)`` is grouped, then the JSON of the records whose key was seen more than
    once, and every batch is read back once more to route its records (no grouping or flatten
    ever holds all records). Returns ``(kept, rejects)``.
    """

    def __init__(self, stage: str, key_field: str = "id", spill_dir: str | None = None,
                 batch_records: int = 2048):
        super().__init__()
        self.stage, self.key_field, self.spill_dir, self.batch_records = stage, key_field, spill_dir, batch_records

    def expand(self, pcoll):
        from transforms.dedup.spill import RecordStore  # transforms.dedup imports this module

        stage, key_field = self.stage, self.key_field
        store = RecordStore(self.spill_dir, stage)
        keyed = (
            pcoll
            | f"{stage}:batch" >> batch_records(self.batch_records)
            | f"{stage}:keys" >> beam.ParDo(_UniqueKeysFn(key_field, store)).with_outputs(_TICKETS, main="keys")
        )
        tickets = keyed[_TICKETS]
        contested = (
            keyed.keys
            | f"{stage}:group" >> beam.GroupByKey()
            | f"{stage}:contested" >> beam.FlatMap(_contested_rows)
        )
        losers = (
            {"records": tickets, "contested": contested}
            | f"{stage}:join contested" >> beam.CoGroupByKey()
            | f"{stage}:contested json" >> beam.FlatMap(_contested_json, key_field)
            | f"{stage}:group contested" >> beam.GroupByKey()
            | f"{stage}:losers" >> beam.FlatMap(_losers)
        )
        routed = (
            {"records": tickets, "losers": losers}
            | f"{stage}:join" >> beam.CoGroupByKey()
            | f"{stage}:route" >> beam.ParDo(_RouteUniqueFn(stage, key_field)).with_outputs(REJECTS, main="kept")
        )
        return routed.kept, routed[REJECTS]


_TICKETS = "tickets"


_UNIQUE_SHARDS = 64  # groups of keys: one element per batch and shard, not per record


class _UniqueKeysFn(beam.DoFn):
    """A batch of records -> its ticket (tagged ``_TICKETS``) and ``(shard, (batch, [(key, row), ...]))``
    per shard of the keys (crc32, stable across processes)."""

    def __init__(self, key_field: str, store):
        self.key_field, self.store = key_field, store

    def process(self, batch: list):
        name, ticket = self.store.put_by_content(batch)  # keys may repeat across batches here
        yield beam.pvalue.TaggedOutput(_TICKETS, (name, ticket))
        chunks: dict[int, list] = {}
        for row, record in enumerate(batch):
            key = str(record.get(self.key_field))
            chunks.setdefault(zlib.crc32(key.encode("utf-8", "surrogatepass")) % _UNIQUE_SHARDS, []).append(
                (key, row))
        for shard in sorted(chunks):
            yield shard, (name, chunks[shard])


def _contested_rows(item):
    """A shard of keys -> ``(batch, row)`` of each member of a key that has several."""
    _, chunks = item
    members: dict[str, list] = {}
    for name, entries in chunks:
        for key, row in entries:
            members.setdefault(key, []).append((name, row))
    for group in members.values():
        if len(group) > 1:
            yield from group


def _contested_json(item, key_field: str):
    """A batch's tickets with its contested rows -> ``(key, (json, batch, copy, row))`` of each such row.

    ``copy`` numbers the tickets of one name: batches with equal content share a name, so every
    copy of a record stays a separate member.
    """
    name, grouped = item
    rows = sorted(set(grouped["contested"]))
    if not rows:
        return
    from transforms.dedup.spill import RecordStore

    for copy, ticket in enumerate(grouped["records"]):
        batch = RecordStore.get(ticket)
        for row in rows:
            record = batch[row]
            yield str(record.get(key_field)), (record_to_json(record), name, copy, row)


def _losers(item):
    """A contested key -> ``(batch, (copy, row, key))`` of every member but the one with the smallest
    JSON (members with equal JSON are equal records: which of them stays does not matter)."""
    key, members = item
    for _, name, copy, row in sorted(members)[1:]:
        yield name, (copy, row, key)


class _RouteUniqueFn(beam.DoFn):
    """A batch's ticket with its losing rows -> the other records (kept) and reject rows for the losers."""

    def __init__(self, stage: str, key_field: str):
        self.stage, self.key_field = stage, key_field

    def setup(self):
        from transforms.dedup.spill import RecordStore

        self.get = RecordStore.get
        self.counters = StageCounters(self.stage)

    def process(self, keyed):
        _, grouped = keyed
        losers = {(copy, row): key for copy, row, key in grouped["losers"]}
        reason = f"duplicate_{self.key_field}"
        for copy, ticket in enumerate(grouped["records"]):
            for row, record in enumerate(self.get(ticket)):
                self.counters.records_in.inc()
                key = losers.get((copy, row))
                if key is None:
                    self.counters.records_out.inc()
                    yield record
                else:
                    self.counters.rejected(reason)
                    yield beam.pvalue.TaggedOutput(REJECTS, reject_row(
                        self.stage, reason, f"{self.key_field} {key!r} seen more than once", record, key))


class CapPerGroup(beam.PTransform):
    """At most ``cap`` records per value of ``group_field``: ``keep(ids, cap, seed)`` picks the ids to
    keep; the others become rejects (``reason``, detail from ``detail.format(group=, total=, cap=)``).

    Only (group, id) pairs are grouped, so a large group never holds its records in one place; the
    decisions are joined back by id. Returns ``(kept, rejects)``.
    """

    def __init__(self, stage: str, group_field: str, id_field: str, cap: int, seed: int, keep: Callable,
                 detail: str = "{group}: {total} records > cap {cap}", reason: str | None = None):
        super().__init__()
        self.stage, self.group_field, self.id_field = stage, group_field, id_field
        self.cap, self.seed, self.keep, self.detail = cap, seed, keep, detail
        self.reason = reason or stage

    def expand(self, records):
        cap, seed, keep, group_field, id_field = self.cap, self.seed, self.keep, self.group_field, self.id_field

        def decide(item):
            _, ids = item
            ids = list(ids)
            kept = keep(ids, cap, seed)
            return [(record_id, (record_id in kept, len(ids))) for record_id in ids]

        decisions = (
            records
            | f"{self.stage}:ids" >> beam.Map(lambda r: (r[group_field], r[id_field]))
            | f"{self.stage}:per group" >> beam.GroupByKey()
            | f"{self.stage}:decide" >> beam.FlatMap(decide)
        )
        keyed = records | f"{self.stage}:key" >> beam.Map(lambda r: (r[id_field], r))
        routed = (
            {"record": keyed, "decision": decisions}
            | f"{self.stage}:join" >> beam.CoGroupByKey()
            | f"{self.stage}:route" >> beam.ParDo(_RouteCapFn(self)).with_outputs(REJECTS, main="kept")
        )
        return routed.kept, routed[REJECTS]


class _RouteCapFn(beam.DoFn):
    def __init__(self, cap: CapPerGroup):
        self.stage, self.reason, self.cap, self.detail = cap.stage, cap.reason, cap.cap, cap.detail
        self.group_field = cap.group_field

    def setup(self):
        self.counters = StageCounters(self.stage)

    def process(self, item):
        record_id, joined = item
        decisions = list(joined["decision"])
        for record in joined["record"]:
            self.counters.records_in.inc()
            keep, total = decisions[0] if decisions else (True, 1)
            if keep:
                self.counters.records_out.inc()
                yield record
            else:
                self.counters.rejected(self.reason)
                detail = self.detail.format(group=record[self.group_field], total=total, cap=self.cap)
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(self.stage, self.reason, detail, record, record_id))


class BatchStage(beam.PTransform):
    """``getattr(worker, method)(batch)`` on batches of up to ``batch_size`` records (external calls:
    LLM, verifier), results in input order; ``Rejected`` results and every record of a batch whose
    call raised (``error:<Type>``) become rejects. Returns ``(kept, rejects)``."""

    def __init__(self, stage: str, worker, method: str, batch_size: int):
        super().__init__()
        self.stage, self.worker, self.method, self.batch_size = stage, worker, method, batch_size

    def expand(self, records):
        results = (
            records
            | f"{self.stage}:batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.batch_size)
            | f"stage:{self.stage}" >> beam.ParDo(_BatchFn(self.stage, self.worker, self.method)).with_outputs(
                REJECTS, main="kept")
        )
        return results.kept, results[REJECTS]


class _BatchFn(beam.DoFn):
    def __init__(self, stage: str, worker, method: str):
        self.stage, self.worker, self.method = stage, worker, method

    def setup(self):
        self.counters = StageCounters(self.stage)
        if hasattr(self.worker, "setup"):
            self.worker.setup()

    def teardown(self):
        if hasattr(self.worker, "close"):
            self.worker.close()

    def _reject(self, record, reason: str, detail: str):
        self.counters.rejected(reason)
        return beam.pvalue.TaggedOutput(REJECTS, reject_row(self.stage, reason, detail, record))

    def process(self, batch: list):
        self.counters.records_in.inc(len(batch))
        started = time.perf_counter()
        try:
            results = getattr(self.worker, self.method)(batch)
        except Exception as exc:  # noqa: BLE001 - the batch becomes rejects, the run goes on
            for record in batch:
                yield self._reject(record, f"error:{type(exc).__name__}", str(exc))
            return
        finally:
            self.counters.micros.inc(int((time.perf_counter() - started) * 1e6))
        for record, result in zip(batch, results):
            if isinstance(result, Rejected):
                yield self._reject(record, result.reason, result.detail)
            else:
                self.counters.records_out.inc()
                yield result


class DeriveRows(beam.DoFn):
    """Records -> derived rows by ``fn(record) -> row | [rows] | None | Rejected``.

    Derived data never makes a reject (its source record is written elsewhere): a record without
    rows is counted under ``stage:<stage>`` (``rejected:<reason>``, ``error:<Type>`` when ``fn``
    raised); ``None`` means "not applicable" and is not counted. ``fn.setup()`` / ``fn.teardown()``
    run once per worker when ``fn`` has them.
    """

    def __init__(self, stage: str, fn: Callable):
        self.stage, self.fn = stage, fn

    def setup(self):
        self.counters = StageCounters(self.stage)
        if hasattr(self.fn, "setup"):
            self.fn.setup()

    def teardown(self):
        if hasattr(self.fn, "teardown"):
            self.fn.teardown()

    def process(self, record: dict):
        started = time.perf_counter()
        try:
            result = self.fn(record)
        except Exception as exc:  # noqa: BLE001 - derived data; counted, never fatal
            self.counters.records_in.inc()
            self.counters.rejected(f"error:{type(exc).__name__}")
            return
        finally:
            self.counters.micros.inc(int((time.perf_counter() - started) * 1e6))
        if result is None:
            return
        self.counters.records_in.inc()
        if isinstance(result, Rejected):
            self.counters.rejected(result.reason)
            return
        self.counters.records_out.inc()
        if isinstance(result, dict):
            yield result
        else:
            yield from result


_READ_COUNT_EVERY = 1024  # records between counter updates of a reader


class _ReadItemsFn(beam.DoFn):
    def __init__(self, stage: str, reader: Callable, position_field: str | None, names: dict | None):
        self.stage, self.reader, self.position_field = stage, reader, position_field
        self.names = dict(names or {})

    def setup(self):
        self.counters = StageCounters(self.stage)

    def process(self, item):
        started = time.perf_counter()
        yield from self._records(item)  # the time includes what the stages fused after it spend
        self.counters.micros.inc(int((time.perf_counter() - started) * 1e6))
        if isinstance(item, str):
            BYTES_READ[0] += file_size(item)

    def _records(self, item):
        name = self.names.get(item, item)
        read = kept = 0  # counted into Beam's counters per item, not per record (a counter update costs more than a record)
        try:
            for index, record in enumerate(self.reader(item)):
                read += 1
                if isinstance(record, Unreadable):
                    self.counters.rejected(record.reason)
                    yield beam.pvalue.TaggedOutput(REJECTS, reject_row(self.stage, record.reason, record.detail,
                                                                       record.raw))
                else:
                    kept += 1
                    if self.position_field:
                        record[self.position_field] = f"{name}#{index}"
                    yield record
                if read == _READ_COUNT_EVERY:  # the progress line still moves during a big file
                    self._count(read, kept)
                    read = kept = 0
        except Exception as exc:  # noqa: BLE001 - a reader that raises instead of yielding Unreadable
            read += 1
            self.counters.rejected("unreadable")
            yield beam.pvalue.TaggedOutput(REJECTS, reject_row(self.stage, "unreadable", f"{item}: {type(exc).__name__}: {exc}",
                                                               {"source": str(item)}))
        finally:
            self._count(read, kept)

    def _count(self, read: int, kept: int) -> None:
        if read:
            self.counters.records_in.inc(read)
        if kept:
            self.counters.records_out.inc(kept)


class ReadItems(beam.PTransform):
    """The one counted reader: ``reader(item)`` yields records or ``Unreadable`` for each item (a file
    path, a git clone, ...); returns ``(records, rejects)``, counted as stage ``stage``.

    Each item is read by one worker; a ``Reshuffle`` then spreads the records so the stages after
    it run in parallel even when the input is one big file (``spread=False``: not, for a runner
    with one worker; ``spill_dir``: only tickets are shuffled, see ``SpreadRecords``). With ``position_field``, each record
    gets ``"<name>#<index>"`` there, ``name`` being ``names[item]`` (a display name: where the input
    lives on this machine must not change ids) or the item itself: a stable, unique position for
    inputs without ids.
    """

    def __init__(self, items: list, reader: Callable = iter_records, stage: str = READ_STAGE,
                 position_field: str | None = None, names: dict | None = None, spill_dir: str | None = None,
                 spread: bool = True):
        super().__init__()
        self.items, self.reader, self.stage, self.position_field = list(items), reader, stage, position_field
        self.names, self.spill_dir, self.spread = names, spill_dir, spread

    def expand(self, pbegin):
        read = (
            pbegin
            | "items" >> beam.Create(self.items)
            | "parse" >> beam.ParDo(_ReadItemsFn(self.stage, self.reader, self.position_field, self.names)).with_outputs(
                REJECTS, main="records")
        )
        if not self.spread:
            return read.records, read[REJECTS]
        return read.records | "spread" >> SpreadRecords(self.spill_dir, self.stage), read[REJECTS]


class SpreadRecords(beam.PTransform):
    """A ``Reshuffle`` of records; with ``spill_dir`` only tickets are shuffled: the records wait in
    batches in a ``RecordStore`` there and are read back after the shuffle (so a runner that holds
    shuffled data in memory holds tickets, not texts)."""

    def __init__(self, spill_dir: str | None, stage: str, batch_records: int = 2048):
        super().__init__()
        self.spill_dir, self.stage, self.batch_records = spill_dir, stage, batch_records

    def expand(self, records):
        if self.spill_dir is None:
            return records | "shuffle" >> beam.Reshuffle()
        from transforms.dedup.spill import RecordStore  # transforms.dedup imports this module

        store = RecordStore(self.spill_dir, self.stage)
        return (
            records
            | "batch" >> batch_records(self.batch_records)
            | "spill" >> beam.Map(lambda batch: store.put_by_content(batch)[1])
            | "shuffle" >> beam.Reshuffle()
            | "read back" >> beam.FlatMap(RecordStore.get)
        )


"""Beam transforms for exact and near (MinHash LSH) dedup; the logic lives in the sibling modules.

Both return ``(kept, removed)``: ``kept`` holds the input records that survive, ``removed``
holds rows of ``schemas.common.DEDUP_REMOVED_SCHEMA``. Every input record ends up in exactly
one of them. ``ExactNearDedup`` is the two in one pass and returns ``(kept, exact removed, near
removed)``. Counters: namespace ``stage:<stage>``, names ``in``, ``out``, ``removed``.
Which record survives is decided by ``exact.keep_key`` (best ``score_field``, then smallest
id), so the output does not depend on bundling or element order.
"""
from __future__ import annotations

import collections
import json
from typing import Any, Callable, Iterable

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from transforms.dedup.components import DEFAULT_MAX_LOCAL_NODES, DEFAULT_ROUNDS, ConnectedComponents
from transforms.dedup.exact import DEFAULT_NORMALIZATION, TextNormalization, content_key, keep_key, numeric_score
from transforms.dedup.minhash import MinHashConfig, band_shards, min_equal_sketch_values, sign_and_key_batch, sign_batch
from transforms.dedup.spill import RecordStore, batch_key
from transforms.records import public_record, record_to_json, reject_row
from transforms.stages import REJECTS, STAGE_NAMESPACE_PREFIX, StageCounters

REMOVED = "removed"
_SKETCHES, _RECORDS, _NODES, _SIGNED = "sketches", "records", "nodes", "signed"
EXACT_REMOVED, NEAR_REMOVED = "exact_removed", "near_removed"


class _Counters(StageCounters):
    def __init__(self, stage: str):
        super().__init__(stage)
        self.records_removed = Metrics.counter(self.namespace, "removed")


def removed_row(record: dict, record_id: str, kept_id: str, method: str, stage: str) -> dict:
    """A row of the dedup removal list (``DEDUP_REMOVED_SCHEMA``); private fields left out of ``record_json``."""
    return {"record_id": record_id, "kept_id": kept_id, "method": method, "stage": stage,
            "record_json": record_to_json(public_record(record))}


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _text_getter(text_field: str, text_fn: Callable[[dict], Any] | None) -> Callable[[dict], str]:
    """record -> its text (None becomes "", other non-strings ``str()``)."""
    if text_fn is not None:
        return lambda record: _as_text(text_fn(record))
    return lambda record: _as_text(record.get(text_field))


def _record_id(record: dict, id_field: str) -> str:
    rid = record.get(id_field)
    if not isinstance(rid, str):
        raise TypeError(f"dedup needs string ids in field {id_field!r}, got {type(rid).__name__}")
    return rid


# ------------------------------------------------------------------------------- exact

def _size_getter(text_field: str | None, text_fn: Callable[[dict], Any] | None) -> Callable[[dict], int]:
    """record -> about how many characters of text it carries, for batching: the text field's length,
    or with a ``text_fn`` the length of the record's string fields (what the text is made of; the
    text itself is computed once, by the stage that hashes it, not again to size the batch)."""
    if text_fn is None:
        return lambda record: len(_as_text(record.get(text_field)))
    return lambda record: sum(len(value) for value in record.values() if isinstance(value, str))


def _batched(records, size_of, batch_chars: int, max_records: int):
    """Records -> lists of records of about ``batch_chars`` characters (``size_of(record)``; at most
    ``max_records``)."""
    # a per-record floor so batches of empty texts stay bounded
    chars_floor = max(1, batch_chars // max_records)
    return records | "Batch" >> beam.BatchElements(
        min_batch_size=batch_chars, max_batch_size=batch_chars,
        element_size_fn=lambda r: max(chars_floor, size_of(r)), record_metrics=False)


EXACT_SHARDS = 64  # groups of exact content keys: one element per batch and shard, not per record


def _content_key_chunks(key: bytes, content_keys: list[str], keep_keys: list[tuple]):
    """A batch's exact keys -> ``(shard, (batch key, [(content key, keep key, row), ...]))`` per shard of
    the content key (its leading hex digits), so the grouping gets a few elements per batch."""
    chunks: dict[int, list] = {}
    for row, content in enumerate(content_keys):
        chunks.setdefault(int(content[:4], 16) % EXACT_SHARDS, []).append((content, keep_keys[row], row))
    for shard in sorted(chunks):
        yield shard, (key, chunks[shard])


class _ContentKeysFn(beam.DoFn):
    """A batch of records -> the batch into the store (ticket tagged ``_RECORDS``) and its content keys
    in chunks (``_content_key_chunks``): only keys reach the grouping."""

    def __init__(self, text_of, id_field: str, score_field: str | None, normalization, store: RecordStore):
        self.text_of, self.id_field, self.score_field = text_of, id_field, score_field
        self.normalization, self.store = normalization, store

    def process(self, batch: list):
        ids = [_record_id(r, self.id_field) for r in batch]
        key = batch_key(ids)
        yield beam.pvalue.TaggedOutput(_RECORDS, (key, self.store.put(key, batch)))
        keep_keys = [keep_key(record.get(self.score_field) if self.score_field else None, ids[row])
                     for row, record in enumerate(batch)]
        yield from _content_key_chunks(key, [content_key(self.text_of(r), self.normalization) for r in batch],
                                       keep_keys)


def _exact_decisions(keyed):
    """One shard of content keys -> ``(batch key, (row, kept id))`` for each member of a key that is
    not the key's survivor (best keep key; every member with the survivor's id stays)."""
    _, chunks = keyed
    members: dict[str, list] = {}
    for key, entries in chunks:
        for content, keep, row in entries:
            members.setdefault(content, []).append((keep, key, row))
    for group in members.values():
        if len(group) < 2:
            continue
        kept_id = min(m[0] for m in group)[2]
        for keep, key, row in group:
            if keep[2] != kept_id:
                yield key, (row, kept_id)


class ExactDedup(beam.PTransform):
    """Records with equal normalized content collapse to one (best score, then smallest id).

    Key: sha1 of the normalized text (``normalization``: NFKC, lowercase, punctuation
    stripped, whitespace collapsed by default; ``exact.NO_NORMALIZATION`` hashes raw text).
    Only ``(key, keep key, batch, row)`` is grouped; the records wait per batch in a
    ``RecordStore`` (files under ``spill_dir``, else inline) and are routed by batch.
    Returns ``(kept, removed)``.
    """

    def __init__(self, text_field: str = "text", id_field: str = "id", score_field: str | None = None,
                 stage: str = "dedup:exact", normalization: TextNormalization = DEFAULT_NORMALIZATION,
                 text_fn: Callable[[dict], str] | None = None, spill_dir: str | None = None,
                 batch_chars: int = 4_000_000, max_batch_records: int = 4096):
        super().__init__()
        self.text_of = _text_getter(text_field, text_fn)
        self.size_of = _size_getter(text_field, text_fn)
        self.id_field, self.score_field, self.stage, self.normalization = id_field, score_field, stage, normalization
        self.store = RecordStore(spill_dir, stage)
        self.batch_chars, self.max_batch_records = batch_chars, max_batch_records

    def expand(self, records):
        keyed = (
            _batched(records, self.size_of, self.batch_chars, self.max_batch_records)
            | "ContentKeys" >> beam.ParDo(_ContentKeysFn(self.text_of, self.id_field, self.score_field,
                                                         self.normalization, self.store)).with_outputs(
                _RECORDS, main="keys")
        )
        decisions = (
            keyed.keys
            | "GroupByContent" >> beam.GroupByKey()
            | "KeepBest" >> beam.FlatMap(_exact_decisions)
        )
        routed = (
            {"records": keyed[_RECORDS], "removed": decisions}
            | "JoinDecisions" >> beam.CoGroupByKey()
            | "Route" >> beam.ParDo(_RouteFn(self.id_field, self.stage, "exact")).with_outputs(REMOVED, main="kept")
        )
        return routed.kept, routed[REMOVED]


# ------------------------------------------------------------------------------- near

def _node(score: float, record_id: str, batch: bytes, row: int) -> tuple:
    """Graph node: keep-rule key first (so min = survivor), then where the record sits."""
    flag = 1 if np.isnan(score) else 0
    return (flag, 0.0 if flag else -float(score), record_id, batch, int(row))


class _SignBatchFn(beam.DoFn):
    """A batch of records -> band chunks (main), the ticket of the batch's verification sketches, the
    ticket of the packed batch.

    Band chunk: ``(shard, (batch_key, band_hashes, rows))``, all bands of the batch's rows whose band
    hash falls in that shard; shard is taken from the band hash, so equal band values always meet in
    the same group. The ids and scores travel once per
    batch (``_NODES``) and are attached only to the rows whose band hash collided.

    ``processes`` > 1: the signatures (``minhash.sign_batch``) are computed in that many worker
    processes of this worker, up to ``processes`` batches in flight; only the texts go to them and
    only band hashes and sketches come back. Outputs do not depend on which batch finishes first.

    ``exact`` (a ``TextNormalization``; ``ExactNearDedup``): the batch's exact content keys are
    computed from the same tokens and are the main output, ``(content key, (keep key, batch key,
    row))``; the band hashes wait in ``signed_store`` (ticket tagged ``_SIGNED``) until the exact
    duplicates are known, since only exact survivors take part in near dedup.
    """

    def __init__(self, text_of, id_field: str, score_field: str | None, config: MinHashConfig, shards: int,
                 store: RecordStore, sketch_store: RecordStore, processes: int = 1,
                 exact: TextNormalization | None = None, signed_store: RecordStore | None = None):
        self.text_of, self.id_field, self.score_field = text_of, id_field, score_field
        self.config, self.shards, self.store, self.sketch_store = config, shards, store, sketch_store
        self.processes, self.exact, self.signed_store = processes, exact, signed_store

    def setup(self):
        self.pool = None
        if self.processes > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: the workers import only the Beam-free minhash module, never fork Beam's threads
            self.pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))

    def start_bundle(self):
        self.pending = collections.deque()

    def process(self, batch: list):
        ids = [_record_id(r, self.id_field) for r in batch]
        key = batch_key(ids)
        yield beam.pvalue.TaggedOutput(_RECORDS, (key, self.store.put(key, batch)))
        scores = None
        if self.score_field:
            # None (missing or non-numeric score) becomes NaN
            scores = np.array([numeric_score(r.get(self.score_field)) for r in batch], dtype=np.float64)
        texts = [self.text_of(r) for r in batch]
        args = (texts, self.config, self.shards) + (() if self.exact is None else (self.exact,))
        sign = sign_batch if self.exact is None else sign_and_key_batch
        if self.pool is None:
            yield from self._outputs(key, ids, scores, sign(*args))
            return
        self.pending.append((key, ids, scores, self.pool.submit(sign, *args)))
        while len(self.pending) > self.processes:
            key, ids, scores, signed = self.pending.popleft()
            yield from self._outputs(key, ids, scores, signed.result())

    def finish_bundle(self):
        while self.pending:
            key, ids, scores, signed = self.pending.popleft()
            for out in self._outputs(key, ids, scores, signed.result()):
                if isinstance(out, beam.pvalue.TaggedOutput):
                    yield beam.pvalue.TaggedOutput(out.tag, GlobalWindows.windowed_value(out.value))
                else:
                    yield GlobalWindows.windowed_value(out)

    def teardown(self):
        if getattr(self, "pool", None) is not None:
            self.pool.shutdown(cancel_futures=True)

    def _outputs(self, key: bytes, ids: list, scores, signed):
        if self.exact is not None:
            signed, content_keys = signed
        rows, keys, shard_of, sketches = signed
        if sketches is not None:
            # the sketches wait in the store too: the two joins group only their ticket
            yield beam.pvalue.TaggedOutput(_SKETCHES, (key, self.sketch_store.put(key, sketches)))
        if self.exact is not None:
            yield from _content_key_chunks(key, content_keys, [
                keep_key(None if scores is None else scores[row], rid) for row, rid in enumerate(ids)])
            yield beam.pvalue.TaggedOutput(_SIGNED, (key, self.signed_store.put(key, (ids, scores, rows, keys))))
            return
        yield from _band_outputs(key, ids, scores, rows, keys, shard_of)


def _band_outputs(key: bytes, ids: list, scores, rows: np.ndarray, keys: np.ndarray, shard_of: np.ndarray):
    """A batch's ids and scores (tagged ``_NODES``) and its band chunks (see ``_SignBatchFn``): one
    per shard holding every band (a band hash includes its band, so a bucket never mixes bands)."""
    if rows.size == 0:
        return
    yield beam.pvalue.TaggedOutput(_NODES, (key, (ids, scores)))
    flat_shards, flat_keys = shard_of.ravel(), keys.ravel()
    flat_rows = np.repeat(rows, keys.shape[1])
    order = np.argsort(flat_shards, kind="stable")
    cuts = np.flatnonzero(np.diff(flat_shards[order])) + 1
    for members in np.split(order, cuts):
        yield int(flat_shards[members[0]]), (key, flat_keys[members], flat_rows[members])


class _ExactSurvivorBandsFn(beam.DoFn):
    """A batch's signed ticket + its exact removals -> ``_band_outputs`` of the rows that survived."""

    def __init__(self, shards: int):
        self.shards = shards

    def process(self, keyed):
        key, grouped = keyed
        for ticket in grouped["signed"]:
            ids, scores, rows, keys = RecordStore.get(ticket)
            removed = np.array(sorted({row for row, _ in grouped["removed"]}), dtype=rows.dtype)
            if removed.size:
                survivors = ~np.isin(rows, removed)
                rows, keys = rows[survivors], keys[survivors]
            yield from _band_outputs(key, ids, scores, rows, keys, band_shards(keys, self.shards))


def _colliding_rows(keyed_chunks):
    """One shard group -> ``(batch_key, (shard, hashes, rows))`` per batch for the
    rows whose band hash some other row shares (the only ones that can give an edge)."""
    group, chunks = keyed_chunks
    chunks = list(chunks)
    hashes = np.sort(np.concatenate([c[1] for c in chunks]))
    repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    if repeated.size == 0:
        return
    hits = np.split(np.isin(np.concatenate([c[1] for c in chunks]), repeated),
                    np.cumsum([len(c[1]) for c in chunks[:-1]]))
    for (batch, batch_hashes, rows), hit in zip(chunks, hits):
        if hit.any():
            yield batch, (group, batch_hashes[hit], rows[hit])


def _attach_nodes(keyed):
    """A batch's ids and scores + its colliding rows -> the band chunks of those rows with their ids
    and scores: ``(shard, (batch_key, hashes, rows, ids, scores))``."""
    batch, grouped = keyed
    if not grouped["colliding"]:
        return
    ((ids, scores),) = grouped["nodes"]
    for group, hashes, rows in grouped["colliding"]:
        yield group, (batch, hashes, rows, [ids[i] for i in rows], None if scores is None else scores[rows])


def _star_edges(keyed_chunks):
    """One shard group -> star edges ``(center, other)`` per bucket, keyed by center's batch.

    A bucket is a run of equal band hashes; its center is its smallest node (best keep key),
    so a bucket of k documents gives k-1 edges, never k^2.
    """
    _, chunks = keyed_chunks
    chunks = list(chunks)
    hashes = np.concatenate([c[1] for c in chunks])
    if hashes.size < 2:
        return
    chunk_of = np.repeat(np.arange(len(chunks)), [len(c[1]) for c in chunks])
    offset_in_chunk = np.arange(hashes.size) - np.repeat(np.cumsum([0] + [len(c[1]) for c in chunks[:-1]]),
                                                         [len(c[1]) for c in chunks])
    order = np.argsort(hashes, kind="stable")
    sorted_hashes = hashes[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_hashes[1:] != sorted_hashes[:-1])))
    lengths = np.diff(np.append(starts, hashes.size))
    by_batch: dict[bytes, list] = {}
    for start, length in zip(starts[lengths > 1], lengths[lengths > 1]):
        nodes = []
        for member in order[start:start + length]:
            chunk_batch, _, rows, ids, scores = chunks[chunk_of[member]]
            j = offset_in_chunk[member]
            nodes.append(_node(np.nan if scores is None else scores[j], ids[j], chunk_batch, rows[j]))
        center = min(nodes)
        edges = by_batch.setdefault(center[3], [])
        edges.extend((center, node) for node in nodes if node is not center)
    yield from by_batch.items()


def _distinct_edges(edge_lists: Iterable[list]) -> list:
    seen: dict = {}
    for edges in edge_lists:
        for edge in edges:
            seen.setdefault((edge[0][2], edge[1][2]), edge)
    return list(seen.values())


def _attach_center_sketches(keyed):
    """Centers' batch: its sketches + candidate edges -> per other's batch, the edges and the
    sketches of their (distinct) centers; duplicate edges from several bands collapse here."""
    _, grouped = keyed
    if not grouped["edges"]:
        return
    (ticket,) = grouped["sketches"]
    sketches = RecordStore.get(ticket)
    by_batch: dict[bytes, list] = {}
    for edge in _distinct_edges(grouped["edges"]):
        by_batch.setdefault(edge[1][3], []).append(edge)
    for other_batch, edges in by_batch.items():
        center_rows = sorted({u[4] for u, _ in edges})
        position = {row: i for i, row in enumerate(center_rows)}
        center_index = np.array([position[u[4]] for u, _ in edges], dtype=np.int64)
        yield other_batch, (edges, sketches[np.array(center_rows, dtype=np.int64)], center_index)


class _VerifyFn(beam.DoFn):
    """Other's batch: its sketches + candidate edges -> the edges whose estimated Jaccard >= threshold."""

    def __init__(self, threshold: float, num_perm: int, stage: str):
        self.min_equal = min_equal_sketch_values(threshold, num_perm)
        self.stage = stage

    def setup(self):
        namespace = STAGE_NAMESPACE_PREFIX + self.stage
        self.candidates = Metrics.counter(namespace, "candidate_pairs")
        self.verified = Metrics.counter(namespace, "verified_pairs")

    def process(self, keyed):
        _, grouped = keyed
        if not grouped["edges"]:
            return
        (ticket,) = grouped["sketches"]
        sketches = RecordStore.get(ticket)
        out = []
        for edges, center_sketches, center_index in grouped["edges"]:
            other_rows = np.array([v[4] for _, v in edges], dtype=np.int64)
            equal = (sketches[other_rows] == center_sketches[center_index]).sum(axis=1)
            out.extend(edge for edge, ok in zip(edges, equal >= self.min_equal) if ok)
            self.candidates.inc(len(edges))
        self.verified.inc(len(out))
        if out:
            yield out


class _RouteFn(beam.DoFn):
    """A batch's ticket with its removal decisions -> kept records and removal rows (``method``)."""

    def __init__(self, id_field: str, stage: str, method: str):
        self.id_field, self.stage, self.method = id_field, stage, method

    def setup(self):
        self.counters = _Counters(self.stage)

    def process(self, keyed):
        _, grouped = keyed
        removed = dict(grouped["removed"])  # row -> kept id
        for ticket in grouped["records"]:
            for row, record in enumerate(RecordStore.get(ticket)):
                self.counters.records_in.inc()
                kept_id = removed.get(row)
                if kept_id is None:
                    self.counters.records_out.inc()
                    yield record
                else:
                    self.counters.records_removed.inc()
                    yield beam.pvalue.TaggedOutput(REMOVED, removed_row(
                        record, _record_id(record, self.id_field), kept_id, self.method, self.stage))


class _RouteBothFn(beam.DoFn):
    """A batch's ticket with its exact and near removals -> kept records, exact and near removal rows;
    counted as ``ExactDedup`` then ``NearDedup`` would count them (near sees the exact survivors)."""

    def __init__(self, id_field: str, exact_stage: str, near_stage: str):
        self.id_field, self.exact_stage, self.near_stage = id_field, exact_stage, near_stage

    def setup(self):
        self.exact_counters, self.near_counters = _Counters(self.exact_stage), _Counters(self.near_stage)

    def process(self, keyed):
        _, grouped = keyed
        exact, near = dict(grouped["exact"]), dict(grouped["near"])  # row -> kept id
        exact_c, near_c = self.exact_counters, self.near_counters
        for ticket in grouped["records"]:
            batch = RecordStore.get(ticket)
            exact_c.records_in.inc(len(batch))
            exact_c.records_removed.inc(len(exact))
            exact_c.records_out.inc(len(batch) - len(exact))
            near_c.records_in.inc(len(batch) - len(exact))
            near_c.records_removed.inc(len(near))
            near_c.records_out.inc(len(batch) - len(exact) - len(near))
            for row, record in enumerate(batch):
                kept_id = exact.get(row)
                if kept_id is not None:
                    yield beam.pvalue.TaggedOutput(EXACT_REMOVED, removed_row(
                        record, _record_id(record, self.id_field), kept_id, "exact", self.exact_stage))
                    continue
                kept_id = near.get(row)
                if kept_id is None:
                    yield record
                else:
                    yield beam.pvalue.TaggedOutput(NEAR_REMOVED, removed_row(
                        record, _record_id(record, self.id_field), kept_id, "minhash", self.near_stage))


def _removal_decision(node_root):
    node, root = node_root
    if node != root:
        yield node[3], (node[4], root[2])


class NearDedup(beam.PTransform):
    """MinHash LSH near-dup removal; returns ``(kept, removed)`` (``removed.method == "minhash"``).

    Pipeline: ``BatchElements`` (``batch_chars`` characters, at most ``max_batch_records``)
    -> numpy signatures per batch -> band chunks (hashes and rows only) keyed by the shard of the
    band hash (``bucket_shards`` groups) -> GroupByKey -> the rows whose band hash collided get their ids and scores (sent
    once per batch) -> GroupByKey again -> per bucket (equal band hash) star edges from the bucket's smallest node
    (best score, then smallest id) to every other member, never all pairs -> edges
    deduplicated and, with ``config.verify``, kept only if the estimated Jaccard of the two
    documents' 8-bit signature sketches is >= ``config.threshold`` (sketches wait per batch in
    the store and are joined per batch, never per record) -> ``ConnectedComponents`` -> each component keeps its smallest
    node (the keep rule), the others are removed -> records, which waited per batch in a
    ``RecordStore`` (files under ``spill_dir``, else inline), are routed to ``kept`` / ``removed``. Documents without tokens never match.

    ``sign_processes`` > 1 computes the signatures in that many local worker processes per Beam
    worker (for the in-process runner: both cores without pickling the records across processes).

    Limits (see README): connected components run on ONE worker up to ``max_local_nodes``
    documents that have a verified duplicate (about 400 bytes each: 10 M -> ~4 GB); past
    that they run as ``rounds`` Beam rounds plus a bounded local finish, which fails with
    ``ComponentsTooLarge`` if even the unconverged remainder is too big: never silently
    wrong. ``max_records``: a bound on the records that can arrive, known when the pipeline is
    built (``ShardRun`` passes the input's); within ``max_local_nodes`` the Beam rounds are left
    out (``ConnectedComponents``). One shard group holds documents x bands / ``bucket_shards`` band entries
    (~25 bytes each); one signature batch is held whole (``batch_chars`` of text).
    """

    def __init__(self, text_field: str = "text", id_field: str = "id", score_field: str | None = None,
                 config: MinHashConfig | None = None, stage: str = "dedup:near",
                 text_fn: Callable[[dict], str] | None = None, batch_chars: int = 4_000_000,
                 max_batch_records: int = 4096, bucket_shards: int = 64,
                 max_local_nodes: int = DEFAULT_MAX_LOCAL_NODES, rounds: int = DEFAULT_ROUNDS,
                 spill_dir: str | None = None, sign_processes: int = 1, max_records: int | None = None):
        super().__init__()
        self.sign_processes, self.max_records = sign_processes, max_records
        self.store = RecordStore(spill_dir, stage)
        self.sketch_store = RecordStore(spill_dir, stage + ":sketches")
        self.text_of = _text_getter(text_field, text_fn)
        self.size_of = _size_getter(text_field, text_fn)
        self.id_field, self.score_field, self.stage = id_field, score_field, stage
        self.config = config or MinHashConfig()
        self.batch_chars, self.max_batch_records = batch_chars, max_batch_records
        self.bucket_shards, self.max_local_nodes, self.rounds = bucket_shards, max_local_nodes, rounds

    def expand(self, records):
        signed = (
            _batched(records, self.size_of, self.batch_chars, self.max_batch_records)
            | "Sign" >> beam.ParDo(_SignBatchFn(self.text_of, self.id_field, self.score_field, self.config,
                                                self.bucket_shards, self.store, self.sketch_store,
                                                self.sign_processes)).with_outputs(
                _SKETCHES, _RECORDS, _NODES, main="bands")
        )
        decisions = self._decisions(signed.bands, signed[_NODES], signed[_SKETCHES])
        routed = (
            {"records": signed[_RECORDS], "removed": decisions}
            | "JoinDecisions" >> beam.CoGroupByKey()
            | "Route" >> beam.ParDo(_RouteFn(self.id_field, self.stage, "minhash")).with_outputs(
                REMOVED, main="kept")
        )
        return routed.kept, routed[REMOVED]

    def _decisions(self, bands, nodes, sketches):
        """Band chunks, the batches' ids and scores and sketch tickets -> ``(batch key, (row, kept id))``
        of every near duplicate."""
        candidate_edges = (
            {"nodes": nodes,
             "colliding": bands
             | "GroupBuckets" >> beam.GroupByKey()
             | "CollidingRows" >> beam.FlatMap(_colliding_rows)}
            | "JoinNodes" >> beam.CoGroupByKey()
            | "AttachNodes" >> beam.FlatMap(_attach_nodes)
            | "GroupCollisions" >> beam.GroupByKey()
            | "StarEdges" >> beam.FlatMap(_star_edges)
        )
        if self.config.verify:
            with_center_sketches = (
                {"sketches": sketches, "edges": candidate_edges}
                | "JoinCenterSketches" >> beam.CoGroupByKey()
                | "AttachCenterSketches" >> beam.FlatMap(_attach_center_sketches)
            )
            edges = (
                {"sketches": sketches, "edges": with_center_sketches}
                | "JoinOtherSketches" >> beam.CoGroupByKey()
                | "Verify" >> beam.ParDo(_VerifyFn(self.config.threshold, self.config.num_perm, self.stage))
            )
        else:
            edges = (
                candidate_edges
                | "GroupByCenterBatch" >> beam.GroupByKey()
                | "DistinctEdges" >> beam.Map(lambda kv: _distinct_edges(kv[1]))
            )
        return (
            edges
            | "Components" >> ConnectedComponents(self.max_local_nodes, self.rounds, max_nodes=self.max_records)
            | "Decisions" >> beam.FlatMap(_removal_decision)
        )


class ExactNearDedup(NearDedup):
    """``ExactDedup`` then ``NearDedup`` on its survivors, with the same output, in one pass over the
    records: each batch is tokenized once (exact keys and shingles), spilled once and routed once.

    The band hashes wait per batch in the store until the exact decisions are joined to them, so
    only exact survivors reach the buckets, as in the two-transform chain. Returns
    ``(kept, exact_removed, near_removed)``; counters under both stages as the chain counts them.
    """

    def __init__(self, exact_stage: str = "dedup:exact", normalization: TextNormalization = DEFAULT_NORMALIZATION,
                 **near):
        super().__init__(**near)
        self.exact_stage, self.normalization = exact_stage, normalization
        self.signed_store = RecordStore(near.get("spill_dir"), self.stage + ":signed")

    def expand(self, records):
        signed = (
            _batched(records, self.size_of, self.batch_chars, self.max_batch_records)
            | "Sign" >> beam.ParDo(_SignBatchFn(self.text_of, self.id_field, self.score_field, self.config,
                                                self.bucket_shards, self.store, self.sketch_store,
                                                self.sign_processes, exact=self.normalization,
                                                signed_store=self.signed_store)).with_outputs(
                _SKETCHES, _RECORDS, _SIGNED, main="keys")
        )
        exact = (
            signed.keys
            | "GroupByContent" >> beam.GroupByKey()
            | "KeepBest" >> beam.FlatMap(_exact_decisions)
        )
        bands = (
            {"signed": signed[_SIGNED], "removed": exact}
            | "JoinExact" >> beam.CoGroupByKey()
            | "ExactSurvivorBands" >> beam.ParDo(_ExactSurvivorBandsFn(self.bucket_shards)).with_outputs(
                _NODES, main="bands")
        )
        near = self._decisions(bands.bands, bands[_NODES], signed[_SKETCHES])
        routed = (
            {"records": signed[_RECORDS], "exact": exact, "near": near}
            | "JoinDecisions" >> beam.CoGroupByKey()
            | "Route" >> beam.ParDo(_RouteBothFn(self.id_field, self.exact_stage, self.stage)).with_outputs(
                EXACT_REMOVED, NEAR_REMOVED, main="kept")
        )
        return routed.kept, routed[EXACT_REMOVED], routed[NEAR_REMOVED]


# ------------------------------------------------------------------------------- group resolution

def _root_exact_rows(item):
    """(exact survivor id, {exact: removed rows, near: [its near survivor]}) -> (final survivor id, row)."""
    exact_kept_id, groups = item
    near = list(groups["near"])
    root = near[0] if near else exact_kept_id
    for row in groups["exact"]:
        yield root, row


class _ResolveFn(beam.DoFn):
    """A survivor with every record folded into it -> ``resolve(members)``: kept, removed or rejects."""

    def __init__(self, resolve: Callable, stage: str, id_field: str):
        self.resolve, self.stage, self.id_field = resolve, stage, id_field

    def setup(self):
        self.counters = StageCounters(self.stage)

    def process(self, item):
        _, groups = item
        kept, rows = list(groups["kept"]), sorted(groups["removed"], key=lambda r: r["record_id"])
        if not rows:
            yield from kept
            return
        if not kept:  # cannot happen (every removal names a survivor); never lose the rows
            for row in rows:
                yield beam.pvalue.TaggedOutput(REMOVED, row)
            return
        links = {row["record_id"]: row for row in rows}
        members = kept + [json.loads(row["record_json"]) for row in rows]
        self.counters.records_in.inc(len(members))
        survivors, rejected = self.resolve(members)
        group_method = "minhash" if any(row["method"] == "minhash" for row in rows) else "exact"
        for record in survivors:
            self.counters.records_out.inc()
            yield record
        for record, verdict in rejected:
            rid = str(record.get(self.id_field))
            if verdict.reason == "duplicate":
                link = links.get(rid)
                method, stage = (link["method"], link["stage"]) if link else (group_method, self.stage)
                kept_id = verdict.detail[len("kept "):] if verdict.detail.startswith("kept ") else \
                    survivors[0][self.id_field]  # a group may keep several records ("kept <id>" names which)
                yield beam.pvalue.TaggedOutput(REMOVED, removed_row(record, rid, kept_id, method, stage))
            else:
                self.counters.rejected(verdict.reason)
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(self.stage, verdict.reason, verdict.detail,
                                                                   record, rid))


def resolve_groups(survivors, exact_removed, near_removed, resolve: Callable, stage: str, id_field: str = "id"):
    """Regroup every removed record with its final survivor (an exact removal whose survivor was
    later removed as a near duplicate goes to the near survivor) and let ``resolve`` decide each
    group: ``members -> (survivors, [(record, verdict)])`` where a verdict of reason ``duplicate``
    is a removal and any other a reject. Returns ``(kept, removed, rejects)``."""
    pipeline = survivors.pipeline
    exact_removed = exact_removed if exact_removed is not None else pipeline | f"{stage}:no exact" >> beam.Create([])
    near_removed = near_removed if near_removed is not None else pipeline | f"{stage}:no near" >> beam.Create([])
    exact_rooted = (
        {"exact": exact_removed | f"{stage}:exact by survivor" >> beam.Map(lambda r: (r["kept_id"], r)),
         "near": near_removed | f"{stage}:near survivor of" >> beam.Map(lambda r: (r["record_id"], r["kept_id"]))}
        | f"{stage}:join exact to near" >> beam.CoGroupByKey()
        | f"{stage}:final survivor" >> beam.FlatMap(_root_exact_rows)
    )
    removed = ((exact_rooted, near_removed | f"{stage}:near by survivor" >> beam.Map(lambda r: (r["kept_id"], r)))
               | f"{stage}:all removals" >> beam.Flatten())
    resolved = (
        {"kept": survivors | f"{stage}:survivors by id" >> beam.Map(lambda q: (q[id_field], q)), "removed": removed}
        | f"{stage}:groups" >> beam.CoGroupByKey()
        | f"stage:{stage}" >> beam.ParDo(_ResolveFn(resolve, stage, id_field)).with_outputs(
            REJECTS, REMOVED, main="kept")
    )
    return resolved.kept, resolved[REMOVED], resolved[REJECTS]

"""Write deterministic Parquet shards: ``DIR/part-00000-of-0000N.parquet`` (zstd).

A record's shard is chosen from a hash of its sort key, and rows are sorted inside a
shard, so the same records give byte-identical files whatever the runner's bundling.
The shard count is ``num_shards`` if set, else ``ceil(rows / rows_per_shard)``; a
dataset with no rows still gets one empty shard carrying the schema.
"""
from __future__ import annotations

import hashlib
import math
import posixpath

import apache_beam as beam
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.records import record_to_json

DEFAULT_ROWS_PER_SHARD = 100_000
COMPRESSION = "zstd"


def shard_name(index: int, num_shards: int) -> str:
    """``part-00003-of-00008.parquet``."""
    return f"part-{index:05d}-of-{num_shards:05d}.parquet"


def shard_index(key: str, num_shards: int) -> int:
    """Stable shard of a key (sha1-based; never Python's per-process ``hash``)."""
    digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


def sort_rows(rows: list[dict], sort_key: str) -> list[dict]:
    """Rows ordered by ``sort_key``; ties (rare) broken by the whole row's JSON."""
    keyed = sorted(((str(r.get(sort_key)), r) for r in rows), key=lambda kr: kr[0])
    rows = [r for _, r in keyed]
    start = 0
    for end in range(1, len(keyed) + 1):  # only the rows of a tied key are serialized
        if end == len(keyed) or keyed[end][0] != keyed[start][0]:
            if end - start > 1:
                rows[start:end] = sorted(rows[start:end], key=record_to_json)
            start = end
    return rows


def _widener(type_: pa.DataType):
    """A function that turns the ints inside a value of ``type_`` into floats where ``type_`` has
    float columns (pyarrow refuses ints beyond 2**53 there), or None when there are none."""
    if pa.types.is_floating(type_):
        return lambda v: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
    if pa.types.is_list(type_) or pa.types.is_large_list(type_) or pa.types.is_fixed_size_list(type_):
        item = _widener(type_.value_type)
        return None if item is None else (lambda v: v if v is None else [item(x) for x in v])
    if pa.types.is_map(type_):
        item = _widener(type_.item_type)
        if item is None:
            return None
        return lambda v: v if v is None else (
            {k: item(x) for k, x in v.items()} if isinstance(v, dict) else [(k, item(x)) for k, x in v])
    if pa.types.is_struct(type_):
        children = [(f.name, w) for f in type_ if (w := _widener(f.type)) is not None]
        if not children:
            return None
        return lambda v: v if not isinstance(v, dict) else {**v, **{n: w(v.get(n)) for n, w in children}}
    return None


def widen_rows(rows: list[dict], schema: pa.Schema) -> list[dict]:
    """Rows whose ints in float columns (at any depth) are floats; other rows returned as they are."""
    widen = _widener(pa.struct(list(schema)))
    return rows if widen is None else [widen(r) for r in rows]


def write_shard(rows: list[dict], schema: pa.Schema, path: str) -> int:
    """Write rows (already ordered) as one zstd Parquet file; returns the row count.

    Rows must pass ``schemas.validate.check_record``; ints in float columns are widened here.
    """
    table = pa.Table.from_pylist(widen_rows(rows, schema), schema=schema)
    with fsspec.open(path, "wb") as handle:
        pq.write_table(table, handle, compression=COMPRESSION)
    return table.num_rows


def _num_shards(count: int, num_shards: int, rows_per_shard: int) -> int:
    return num_shards or max(1, math.ceil(count / rows_per_shard))


def split_by_shard(rows: list[dict], sort_key: str, num_shards: int) -> dict[int, list[dict]]:
    """Rows grouped by ``shard_index`` of their sort key (input order kept inside a shard)."""
    parts: dict[int, list[dict]] = {}
    for row in rows:
        parts.setdefault(shard_index(str(row.get(sort_key)), num_shards), []).append(row)
    return parts


class WriteShards(beam.PTransform):
    """Write a PCollection of schema-conforming dicts as deterministic shards in ``directory``.

    Records must already pass ``schemas.validate.check_record`` (``ShardRun.write`` does that).
    Records never ride through a grouping: they are spilled in batches to a ``RecordStore``
    (files under ``spill_dir``, else compressed inline), each batch is split by shard once the
    count is known, and a shard's writer reads back only its own pieces; only tickets are
    grouped. Memory is bounded by one shard's rows (``rows_per_shard``).
    """

    def __init__(self, directory: str, schema: pa.Schema, sort_key: str = "id",
                 num_shards: int = 0, rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
                 spill_dir: str | None = None, batch_records: int = 4096):
        super().__init__()
        self.directory, self.schema, self.sort_key = directory, schema, sort_key
        self.num_shards, self.rows_per_shard = num_shards, rows_per_shard
        self.spill_dir, self.batch_records = spill_dir, batch_records

    def expand(self, records):
        from transforms.dedup.spill import RecordStore

        directory, schema, sort_key = self.directory, self.schema, self.sort_key
        fs, _ = fsspec.core.url_to_fs(directory)
        fs.makedirs(directory, exist_ok=True)
        batches_store, pieces_store = RecordStore(self.spill_dir, "batches"), RecordStore(self.spill_dir, "pieces")
        total = (
            records
            | "count" >> beam.combiners.Count.Globally()
            | "shards" >> beam.Map(_num_shards, self.num_shards, self.rows_per_shard)
        )
        n_shards = beam.pvalue.AsSingleton(total)

        def split_batch(ticket, n):
            parts = split_by_shard(RecordStore.get(ticket), sort_key, n)
            if len(parts) == 1:  # one shard (small datasets): the batch is its own piece
                yield next(iter(parts)), ticket
                return
            for index, part in sorted(parts.items()):
                yield index, pieces_store.put_by_content(part)[1]

        def write_group(item, n):
            index, tickets = item
            rows = [row for ticket in tickets for row in RecordStore.get(ticket)]
            write_shard(sort_rows(rows, sort_key), schema, posixpath.join(directory, shard_name(index, n)))
            return index

        def write_empty(written, n):
            for index in sorted(set(range(n)) - set(written)):
                write_shard([], schema, posixpath.join(directory, shard_name(index, n)))

        written = (
            records
            | "batch" >> beam.BatchElements(min_batch_size=self.batch_records, max_batch_size=self.batch_records)
            | "spill" >> beam.Map(lambda batch: batches_store.put_by_content(batch)[1])
            | "split" >> beam.FlatMap(split_batch, n_shards)
            | "group" >> beam.GroupByKey()
            | "write" >> beam.Map(write_group, n_shards)
        )
        return (
            written
            | "written" >> beam.combiners.ToList()
            | "fill" >> beam.Map(write_empty, n_shards)
        )

"""Write deterministic Parquet shards: ``DIR/part-00000-of-0000N.parquet`` (zstd).

A record's shard is chosen from a hash of its sort key (shard ``i`` of ``n`` holds the ``i``-th of ``n``
equal ranges of the 64-bit hash), and rows are sorted inside a shard, so the same records give
byte-identical files whatever the runner's bundling.
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

from transforms.records import record_bytes, record_to_json
from transforms.stages import batch_records

DEFAULT_ROWS_PER_SHARD = 100_000
# Text a shard holds at most (``record_bytes``, before compression): a writer holds one shard's
# rows, so whole-file records (Clean-PR samples) make more, smaller shards rather than one huge.
DEFAULT_SHARD_BYTES = 128 << 20
COMPRESSION = "zstd"


def shard_name(index: int, num_shards: int) -> str:
    """``part-00003-of-00008.parquet``."""
    return f"part-{index:05d}-of-{num_shards:05d}.parquet"


PART_BITS = 8  # a spilled batch is kept in 2**PART_BITS parts by the top bits of the key hash


def _key_hash(key: str) -> int:
    return int.from_bytes(hashlib.sha1(key.encode("utf-8", "surrogatepass")).digest()[:8], "big")


def shard_index(key: str, num_shards: int) -> int:
    """Stable shard of a key: its range of a 64-bit sha1 prefix (never Python's per-process ``hash``)."""
    return (_key_hash(key) * num_shards) >> 64


def part_shards(part: int, num_shards: int) -> range:
    """The shards whose hash range overlaps part ``part`` (of ``2**PART_BITS``): one or two, or more
    when there are more shards than parts."""
    low = part << (64 - PART_BITS)
    high = ((part + 1) << (64 - PART_BITS)) - 1
    return range((low * num_shards) >> 64, ((high * num_shards) >> 64) + 1)


def split_by_part(rows: list[dict], sort_key: str) -> dict[int, list[dict]]:
    """Rows grouped by the top ``PART_BITS`` of their key hash (input order kept inside a part)."""
    parts: dict[int, list[dict]] = {}
    for row in rows:
        parts.setdefault(_key_hash(str(row.get(sort_key))) >> (64 - PART_BITS), []).append(row)
    return parts


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


def _num_shards(count_and_bytes: tuple[int, int], num_shards: int, rows_per_shard: int, shard_bytes: int) -> int:
    count, size = count_and_bytes
    return num_shards or max(1, math.ceil(count / rows_per_shard), math.ceil(size / shard_bytes))


def _count_and_bytes(pairs) -> tuple[int, int]:
    """Sum of ``(rows, bytes)`` pairs (Beam combines partial sums with the same function)."""
    rows = size = 0
    for pair_rows, pair_size in pairs:
        rows, size = rows + pair_rows, size + pair_size
    return rows, size


class WriteShards(beam.PTransform):
    """Write a PCollection of schema-conforming dicts as deterministic shards in ``directory``.

    Records must already pass ``schemas.validate.check_record`` (``ShardRun.write`` does that).
    Records never ride through a grouping: they are spilled once, in batches to a ``RecordStore``
    (files under ``spill_dir``, else compressed inline), each batch in ``2**PART_BITS`` parts by
    key hash range; once the count is known a shard's writer gets the tickets of the batches with
    the parts that overlap its range and reads only those parts back (rows of a part that spans
    two shards are filtered). Only tickets are grouped. Memory is bounded by one shard's rows: a shard
    holds at most ``rows_per_shard`` rows and about ``shard_bytes`` of text (``record_bytes``).
    """

    def __init__(self, directory: str, schema: pa.Schema, sort_key: str = "id",
                 num_shards: int = 0, rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
                 spill_dir: str | None = None, batch_records: int = 4096, shard_bytes: int = DEFAULT_SHARD_BYTES):
        super().__init__()
        self.directory, self.schema, self.sort_key = directory, schema, sort_key
        self.num_shards, self.rows_per_shard, self.shard_bytes = num_shards, rows_per_shard, shard_bytes
        self.spill_dir, self.batch_records = spill_dir, batch_records

    def expand(self, records):
        from transforms.dedup.spill import RecordStore

        directory, schema, sort_key = self.directory, self.schema, self.sort_key
        fs, _ = fsspec.core.url_to_fs(directory)
        fs.makedirs(directory, exist_ok=True)
        batches_store = RecordStore(self.spill_dir, "batches")
        # a batch's ticket with its rows and bytes: the shard count comes from the batches, not
        # from another pass over the records
        spilled = (
            records
            | "batch" >> batch_records(self.batch_records)
            | "spill" >> beam.Map(lambda batch: (batches_store.put_parts(split_by_part(batch, sort_key)),
                                                 (len(batch), sum(map(record_bytes, batch)))))
        )
        total = (
            spilled
            | "size" >> beam.Map(lambda spill: spill[1])
            | "count" >> beam.CombineGlobally(_count_and_bytes)
            | "shards" >> beam.Map(_num_shards, self.num_shards, self.rows_per_shard, self.shard_bytes)
        )
        n_shards = beam.pvalue.AsSingleton(total)

        def split_batch(ticket, n):
            by_shard: dict[int, list[int]] = {}
            for part, *_ in ticket[0]:
                for index in part_shards(part, n):
                    by_shard.setdefault(index, []).append(part)
            for index in sorted(by_shard):
                yield index, (ticket, tuple(by_shard[index]))

        def write_group(item, n):
            index, pieces = item
            rows = [row for ticket, parts in pieces for row in RecordStore.get_parts(ticket, parts)]
            if n > 1:  # a part at a range boundary holds rows of the next shard too
                rows = [row for row in rows if shard_index(str(row.get(sort_key)), n) == index]
            write_shard(sort_rows(rows, sort_key), schema, posixpath.join(directory, shard_name(index, n)))
            return index

        def write_empty(written, n):
            for index in sorted(set(range(n)) - set(written)):
                write_shard([], schema, posixpath.join(directory, shard_name(index, n)))

        written = (
            spilled
            | "ticket" >> beam.Map(lambda spill: spill[0])
            | "split" >> beam.FlatMap(split_batch, n_shards)
            | "group" >> beam.GroupByKey()
            | "write" >> beam.Map(write_group, n_shards)
        )
        return (
            written
            | "written" >> beam.combiners.ToList()
            | "fill" >> beam.Map(write_empty, n_shards)
        )

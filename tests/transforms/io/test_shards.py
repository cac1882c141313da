import pyarrow.parquet as pq
import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from schemas.common import DOCUMENT_SCHEMA
from transforms.io.shards import WriteShards, shard_index, shard_name


def _write(records, directory, **kw):
    with beam.Pipeline(runner=FnApiRunner()) as p:
        p | beam.Create(records) | WriteShards(str(directory), DOCUMENT_SCHEMA, **kw)


def test_names_and_stable_index():
    assert shard_name(3, 8) == "part-00003-of-00008.parquet"
    assert shard_index("abc", 7) == shard_index("abc", 7)
    assert {shard_index(f"k{i}", 4) for i in range(100)} == {0, 1, 2, 3}


def test_shards_are_sorted_complete_and_byte_identical(tmp_path):
    records = [{"id": f"d{i:03d}", "text": f"text {i}", "source": "s"} for i in range(50)]
    _write(records, tmp_path / "a", num_shards=3)
    _write(list(reversed(records)), tmp_path / "b", num_shards=3)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [shard_name(i, 3) for i in range(3)]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        ids = pq.read_table(tmp_path / "a" / name).column("id").to_pylist()
        assert ids == sorted(ids)
    table = pq.read_table(tmp_path / "a")
    assert sorted(table.column("id").to_pylist()) == [r["id"] for r in records]
    assert pq.ParquetFile(tmp_path / "a" / names[0]).metadata.row_group(0).column(0).compression == "ZSTD"


def test_shard_count_from_rows_per_shard_and_empty_dataset(tmp_path):
    _write([{"id": str(i), "text": "t"} for i in range(10)], tmp_path / "a", rows_per_shard=4)
    assert len(list((tmp_path / "a").iterdir())) == 3
    with beam.Pipeline(runner=FnApiRunner()) as p:
        p | beam.Create([]).with_output_types(dict) | WriteShards(str(tmp_path / "e"), DOCUMENT_SCHEMA)
    (only,) = list((tmp_path / "e").iterdir())
    assert only.name == "part-00000-of-00001.parquet"
    assert pq.read_table(only).schema.names == DOCUMENT_SCHEMA.names and pq.read_table(only).num_rows == 0


def test_spilled_rows_give_the_same_bytes_and_only_tickets_are_grouped(tmp_path):
    # ties on the sort key across batches, and two batches with identical content
    records = [{"id": f"d{i % 37:03d}", "text": f"text {i}", "source": "s"} for i in range(300)]
    records += [{"id": "same", "text": "t", "source": "s"}] * 20
    _write(records, tmp_path / "inline", num_shards=4)
    _write(list(reversed(records)), tmp_path / "spilled", num_shards=4, spill_dir=str(tmp_path / "spill"),
           batch_records=10)
    for name in sorted(p.name for p in (tmp_path / "inline").iterdir()):
        assert (tmp_path / "inline" / name).read_bytes() == (tmp_path / "spilled" / name).read_bytes()
    assert pq.read_table(tmp_path / "spilled").num_rows == len(records)
    # the rows waited in files: many batches, each read back by part by the shards it overlaps
    assert len(list((tmp_path / "spill" / "batches").glob("*.lz4"))) > 10
    assert not (tmp_path / "spill" / "pieces").exists()  # each batch is spilled once, in parts


def test_every_key_is_in_a_shard_its_part_overlaps():
    from transforms.io.shards import PART_BITS, _key_hash, part_shards

    keys = [f"k{i}" for i in range(2000)] + ["", "\u00e9", "\ud800"]
    for n in (1, 2, 3, 7, 9, 100, 256, 257, 1000):
        for key in keys:
            assert shard_index(key, n) in part_shards(_key_hash(key) >> (64 - PART_BITS), n)
        covered = {s for part in range(1 << PART_BITS) for s in part_shards(part, n)}
        assert covered == set(range(n))  # every shard is reached by some part


def test_shards_are_bounded_by_the_text_they_hold(tmp_path):
    # 40 records of 10,000 characters: by rows one shard, by a 100,000-character bound four or more,
    # each holding about its share; every row is written once.
    records = [{"id": f"r{i:02d}", "text": chr(97 + i % 26) * 10_000} for i in range(40)]
    _write(records, tmp_path / "a", shard_bytes=100_000)
    shards = sorted((tmp_path / "a").iterdir())
    assert len(shards) == 5  # 40 x ~10,000 characters / 100,000, rounded up
    sizes = [pq.read_table(s).num_rows for s in shards]
    assert sum(sizes) == 40 and max(sizes) <= 20
    assert sorted(pq.read_table(tmp_path / "a").column("id").to_pylist()) == [r["id"] for r in records]


def test_batches_waiting_in_memory_are_bounded_by_their_text():
    from apache_beam.testing.util import assert_that

    from transforms.stages import batch_records

    records = [{"id": str(i), "text": "x" * 1000} for i in range(100)]
    with beam.Pipeline(runner=FnApiRunner()) as p:
        sizes = p | beam.Create(records) | batch_records(64, max_bytes=10_000) | beam.Map(len)
        assert_that(sizes, lambda got: _all_at_most(got, 10, 100))


def _all_at_most(sizes, most, total):
    assert sum(sizes) == total and max(sizes) <= most, sizes

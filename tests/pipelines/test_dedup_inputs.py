"""``shardsmith dedup`` on inputs as users have them: schemas that drift after the first thousand
records, JSON arrays, a line nested thousands deep, values Parquet cannot store, truncated files.

Each case is one file of a single real run (CLI, FnApiRunner, Parquet read back with DuckDB):
every input record is either kept with its own value or is a reject naming file, position and
reason, and the manifest's conservation adds up.
"""
from __future__ import annotations

import gzip
import json
import math

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main

DRIFT_ROWS = 1500  # beyond the 1,000 records the schema used to be sampled from


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    data = root / "data"
    data.mkdir()
    # schema drift: a field first seen at row 1,500, an int column that later holds a float, an empty
    # list column that later holds strings, an int beyond uint64 in an int column, NaN, a text that is an object
    drift = [{"id": f"d{i}", "text": f"drift document number {i} " * 3, "count": i, "tags": [], "size": i}
             for i in range(DRIFT_ROWS)]
    drift += [
        {"id": "late", "text": "the late field arrives", "count": 2.5, "tags": ["x", "y"], "late": {"k": 1}},
        {"id": "huge", "text": "an integer beyond uint64", "count": 1, "tags": [], "size": 2**64 + 1},
        {"id": "nan", "text": "a not-a-number count", "count": float("nan"), "tags": ["n"]},
        {"id": "obj", "text": {"not": "a string"}, "count": 1, "tags": []},
    ]
    _write_jsonl(data / "drift.jsonl", drift)
    # one line nested 5,000 deep among 100 good ones
    deep = [json.dumps({"id": f"n{i}", "text": f"nested neighbour {i} " * 3, "count": i, "tags": []})
            for i in range(100)]
    deep.insert(50, '{"id": "deep", "text": "x", "v": ' + "[" * 5000 + "]" * 5000 + "}")
    (data / "deep.jsonl").write_text("\n".join(deep) + "\n")
    # a .json file holding a JSON array, pretty-printed
    array = [{"id": f"a{i}", "text": f"array element text {i} " * 3, "count": i, "tags": ["a"]} for i in range(40)]
    (data / "array.json").write_text(json.dumps(array, indent=2))
    # a gzip cut in the middle: the lines before the cut are kept
    lines = "".join(json.dumps({"id": f"g{i}", "text": f"gzip line {i} words " * 4, "count": i, "tags": []}) + "\n"
                    for i in range(3000)).encode()
    packed = gzip.compress(lines)
    (data / "cut.jsonl.gz").write_bytes(packed[: len(packed) // 2])
    # a Parquet file cut before its footer
    table = pa.Table.from_pylist([{"id": f"p{i}", "text": f"parquet row {i} " * 3, "count": i, "tags": []}
                                  for i in range(50)])
    pq.write_table(table, data / "whole.parquet")
    (data / "cut.parquet").write_bytes((data / "whole.parquet").read_bytes()[:-40])
    out = root / "out"
    code = main(["dedup", str(data), "--text-column", "text", "--id-column", "id", "--output", str(out)])
    return out, code


def _rows(out, dataset, sql="*"):
    return duckdb.sql(f"select {sql} from read_parquet('{out}/{dataset}/*.parquet')").fetchall()


def _rejects(out):
    return {(stage, reason, json.loads(raw).get("id") or json.loads(raw).get("source")): detail
            for stage, reason, detail, raw in _rows(out, "rejects", "stage, reason, detail, record_json")}


def test_the_run_finishes_and_conservation_holds(hostile_run):
    out, code = hostile_run
    assert code == 0
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["conservation"]["holds"], manifest["conservation"]


def test_fields_and_types_seen_after_the_first_thousand_records_are_kept(hostile_run):
    out, _ = hostile_run
    kept = {row[0]: row[1:] for row in _rows(out, "kept", "id, count, tags, late")}
    assert kept["late"] == (2.5, ["x", "y"], {"k": 1})
    assert kept["d7"] == (7.0, [], None)
    assert math.isnan(kept["nan"][0])
    assert sum(1 for key in kept if key.startswith("d")) == DRIFT_ROWS


def test_values_no_column_can_hold_are_rejects_naming_the_field(hostile_run):
    out, _ = hostile_run
    rejects = _rejects(out)
    assert "field size" in rejects[("validate:kept", "wrong_type", "huge")]
    assert "field text" in rejects[("prepare", "wrong_type", "obj")]


def test_a_deeply_nested_line_is_one_reject_and_its_neighbours_are_kept(hostile_run):
    out, _ = hostile_run
    kept = {row[0] for row in _rows(out, "kept", "id")}
    assert {f"n{i}" for i in range(100)} <= kept
    (detail,) = [d for (stage, reason, _), d in _rejects(out).items() if reason == "too_deeply_nested"]
    assert detail.startswith("deep.jsonl:51: ")


def test_a_json_array_file_is_read_as_records(hostile_run):
    out, _ = hostile_run
    assert {f"a{i}" for i in range(40)} <= {row[0] for row in _rows(out, "kept", "id")}
    assert not [key for key in _rejects(out) if key[2] == "array.json"]


def test_truncated_files_keep_what_came_before_and_add_one_reject(hostile_run):
    out, _ = hostile_run
    kept = {row[0] for row in _rows(out, "kept", "id")}
    gzip_kept = {k for k in kept if k.startswith("g")}
    assert gzip_kept == {f"g{i}" for i in range(len(gzip_kept))} and 0 < len(gzip_kept) < 3000
    assert {f"p{i}" for i in range(50)} <= kept  # the whole copy
    rejects = _rejects(out)
    assert rejects[("read", "broken_file", "cut.jsonl.gz")].startswith(f"cut.jsonl.gz: line {len(gzip_kept) + 1}")
    assert rejects[("read", "unreadable_file", "cut.parquet")].startswith("cut.parquet: ")

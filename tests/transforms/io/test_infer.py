"""One schema for a whole input (transforms.io.infer): what each field becomes, whatever the order."""
from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.io.infer import SchemaInference
from transforms.io.readers import infer_schema
from transforms.io.shards import write_shard
from schemas.validate import check_record


def _schema(records, force=None):
    inference = SchemaInference()
    for record in records:
        inference.add(record)
    return inference.schema(force)


@pytest.mark.parametrize("values, expected", [
    ([1, 2, 3], pa.int64()),
    ([1, 2.5, None], pa.float64()),
    ([None, None], pa.string()),
    ([[], ["a"]], pa.list_(pa.string())),
    ([[], []], pa.list_(pa.string())),
    ([[1], [2.5]], pa.list_(pa.float64())),
    ([{}, {"k": 1}], pa.struct([("k", pa.int64())])),
    ([{}, {}], pa.map_(pa.string(), pa.string())),
    ([{"a": 1}, {"b": "x"}], pa.struct([("a", pa.int64()), ("b", pa.string())])),
    ([1, 2**63], pa.uint64()),
    ([-1, 2**63], pa.int64()),       # no column holds both: the validator rejects 2**63
    (["a", "b", {"x": 1}], pa.string()),  # the kind most values have wins
    ([True, False], pa.bool_()),
])
def test_each_field_takes_the_type_every_value_fits(values, expected):
    assert _schema([{"v": v} for v in values]).field("v").type == expected


def test_the_schema_does_not_depend_on_the_record_order():
    records = [{"id": i, "v": [1] if i % 3 else [], "w": i if i % 5 else 0.5, f"f{i % 7}": "x"} for i in range(200)]
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    first, second = _schema(records), _schema(shuffled)
    assert {f.name: f.type for f in first} == {f.name: f.type for f in second}


def test_a_field_that_first_appears_late_is_in_the_schema(tmp_path):
    path = tmp_path / "late.jsonl"
    path.write_text("".join('{"id": %d}\n' % i for i in range(5000)) + '{"id": 5000, "late": "here"}\n')
    assert infer_schema([str(path)]).names == ["id", "late"]


def test_parquet_footers_keep_their_own_types_unless_json_records_widen_them(tmp_path):
    table = pa.table({"small": pa.array([1, 2], pa.int16()), "label": pa.array(["a", "b"], pa.large_string())})
    pq.write_table(table, tmp_path / "a.parquet")
    assert infer_schema([str(tmp_path / "a.parquet")]) == pa.schema(
        [("small", pa.int16()), ("label", pa.large_string())])
    (tmp_path / "b.jsonl").write_text('{"small": 2.5, "label": "c"}\n')
    widened = infer_schema([str(tmp_path / "a.parquet"), str(tmp_path / "b.jsonl")])
    assert widened.field("small").type == pa.float64() and widened.field("label").type == pa.string()


def test_forced_types_win():
    assert _schema([{"text": {"x": 1}}, {"text": {"y": 2}}], force={"text": pa.string()}).field(
        "text").type == pa.string()


def test_what_the_validator_passes_the_writer_stores(tmp_path):
    """Ints in a float column (at any depth) are widened; NaN stored; an int too big for a double is a reject."""
    records = [{"x": 1, "nested": {"ys": [1, 2]}}, {"x": 2.5, "nested": {"ys": [0.5]}}, {"x": float("nan")},
               {"x": 2**62 + 1, "nested": {"ys": [2**60]}}]
    schema = _schema(records)
    assert all(check_record(r, schema) is None for r in records)
    assert write_shard(records, schema, str(tmp_path / "s.parquet")) == 4
    back = pq.read_table(tmp_path / "s.parquet").to_pylist()
    assert back[0] == {"x": 1.0, "nested": {"ys": [1.0, 2.0]}} and back[3]["x"] == float(2**62 + 1)
    too_big = check_record({"x": 10**400}, schema)
    assert too_big is not None and too_big.reason == "wrong_type" and "(401 digits)" in too_big.detail

import pyarrow as pa

from schemas.common import field
from schemas.validate import check_record
from transforms.records import Rejected

SCHEMA = pa.schema([
    field("id", pa.string(), "id", nullable=False),
    field("n", pa.int32(), "a count"),
    field("score", pa.float64(), "a score"),
    field("flag", pa.bool_(), "a flag"),
    field("tags", pa.list_(pa.string()), "tags"),
    field("files", pa.list_(pa.struct([field("path", pa.string(), "path", nullable=False),
                                        field("size", pa.int64(), "size")])), "files"),
])


def test_conforming_record_passes_and_unknown_fields_are_ignored():
    record = {"id": "a", "n": 3, "score": 1, "flag": True, "tags": ["x"],
              "files": [{"path": "a.py", "size": 2}], "extra": object()}
    assert check_record(record, SCHEMA) is None
    pa.Table.from_pylist([record], schema=SCHEMA)  # the writer accepts what the validator passed


def test_missing_required_field_names_the_field():
    assert check_record({"n": 1}, SCHEMA) == Rejected("missing_field", "field id is required")


def test_wrong_types_name_the_nested_field():
    assert check_record({"id": 5}, SCHEMA).detail == "field id: expected string, got int"
    assert check_record({"id": "a", "flag": 1}, SCHEMA).reason == "wrong_type"
    assert check_record({"id": "a", "n": True}, SCHEMA).reason == "wrong_type"
    assert check_record({"id": "a", "n": 2**40}, SCHEMA).detail.startswith("field n: 1099511627776 out of range")
    problem = check_record({"id": "a", "files": [{"path": "ok"}, {"size": 1}]}, SCHEMA)
    assert problem == Rejected("missing_field", "field files[1].path is required")
    assert check_record({"id": "a", "tags": "x"}, SCHEMA).detail == "field tags: expected list<item: string>, got str"


def test_lone_surrogate_is_invalid_utf8():
    problem = check_record({"id": "a\udc80"}, SCHEMA)
    assert problem.reason == "invalid_utf8" and problem.detail.startswith("field id:")


def test_non_dict_is_not_a_record():
    assert check_record(["id"], SCHEMA).reason == "not_a_record"


def test_fast_checker_agrees_with_the_field_by_field_reading_on_every_shape():
    import datetime

    from schemas.validate import _first_problem
    schema = pa.schema([
        field("s", pa.string(), "s", nullable=False), field("i8", pa.int8(), "i8"),
        field("u16", pa.uint16(), "u16"), field("f", pa.float32(), "f"),
        field("b", pa.bool_(), "b"), field("raw", pa.binary(), "raw"),
        field("ls", pa.large_list(pa.large_string()), "ls"),
        field("m", pa.map_(pa.string(), pa.int64()), "m"),
        field("st", pa.struct([field("k", pa.int64(), "k", nullable=False)]), "st"),
        field("ts", pa.timestamp("s"), "ts"),
    ])
    values = [None, "x", "\udc80", "é", 0, -129, 127, 128, 65535, 65536, -1, True, 1.5,
              float("nan"), 2**1100, b"x", bytearray(b"y"), ["a", None], ["a", 1], ("z",),
              {"a": 1}, {"a": None}, {1: 1}, {"a": "1"}, {"k": 1}, {"k": None}, {},
              datetime.datetime(2020, 1, 1), "2020-01-01"]
    checked = 0
    for name in schema.names:
        for value in values:
            record = {"s": "ok", name: value}
            fast, slow = check_record(record, schema), _first_problem(record, schema)
            assert fast == slow, (name, value)
            checked += fast is None
    assert 0 < checked < len(values) * len(schema.names)
    for record in (None, [], "s", {"s": None}):
        assert check_record(record, schema) == _first_problem(record, schema)
    assert all(check_record({"s": v}, schema) for v in values if not isinstance(v, str))

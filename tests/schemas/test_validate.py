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

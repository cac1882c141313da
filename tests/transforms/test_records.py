"""Reject and duplicate rows keep the record's own fields and leave the pipelines' private ones out."""
import json

from transforms.dedup.beam import removed_row
from transforms.records import PRIVATE_FIELDS, public_record, record_to_json, reject_row


def test_private_fields_stay_out_of_reject_and_duplicate_rows():
    record = {"id": "pr-1", "repo": "acme/shop", "_repo_path": "/home/alice/src/shop", "_id": "65f0c0ffee",
              "_position": "/data/mmlu/astronomy_test.csv#3", "__position": "/data/in.jsonl#7"}
    row = reject_row("noise", "bot_author", "", record)
    assert json.loads(row["record_json"]) == {"id": "pr-1", "repo": "acme/shop", "_id": "65f0c0ffee"}
    assert row["record_id"] == "pr-1"
    removed = removed_row(record, "pr-1", "pr-0", "exact", "dedup:exact")
    assert json.loads(removed["record_json"]) == {"id": "pr-1", "repo": "acme/shop", "_id": "65f0c0ffee"}
    assert record["_repo_path"] == "/home/alice/src/shop"  # the stage's record itself is untouched


def test_public_record_leaves_non_dicts_and_nested_fields_alone():
    assert public_record(["_repo_path"]) == ["_repo_path"]
    nested = {"record": {"_source": "kept: user data one level down"}}
    assert public_record(nested) is nested


def test_every_pipeline_private_field_is_listed():
    from pipelines import dedup, rate
    from transforms.code.stages import REPO_PATH_FIELD
    from transforms.science.adapters import POSITION_FIELD

    assert {REPO_PATH_FIELD, POSITION_FIELD, dedup.POSITION, rate.RECORD_ID} <= PRIVATE_FIELDS
    assert {"_source", "_source_id", "_task", "_repair"} <= PRIVATE_FIELDS  # transforms.verus.programs


def test_record_json_fast_path_writes_what_the_cleaning_path_writes():
    import numpy as np

    from transforms.records import _cleaned_json

    class Name(str):
        pass

    class Opaque:
        def __repr__(self):
            return "<opaque>"

    shapes = [
        {"id": "a", "n": 1, "x": 1.5, "ok": True, "none": None, "tags": ["b", "a"], "t": (1, 2)},
        {"nan": float("nan"), "deep": [{"inf": float("-inf")}]},
        {"ints": {10: "a", 9: "b"}}, {"bools": {True: 1, None: 2}}, {1: "top", "mixed": 2},
        {"list_of_dicts": [{"b": 1, "a": {"z": [1.0, {"q": 2}]}}, {3: 4}]},
        {"bytes": b"\xff\x00", "set": {3, 1, 2}, "array": np.array([1.0, np.nan]), "scalar": np.float32(2.5)},
        {"obj": Opaque(), "surrogate": "a\udc80", "ctrl": "\x00\u2028"},
        {Name("sub"): 1, "z": 2}, [1, {"a": float("nan")}], (1, "x"), "plain", 3, float("inf"), None,
    ]
    for shape in shapes:
        assert record_to_json(shape) == _cleaned_json(shape), shape


def test_record_bytes_counts_text_at_any_depth():
    from transforms.records import record_bytes

    pr = {"number": 7, "files": [{"path": "a.py", "before": "x" * 1000, "after": "y" * 2000}], "body": b"zz"}
    assert 3006 <= record_bytes(pr) < 3100  # the file contents, not the 4 keys of the top level
    assert record_bytes("é" * 10) == 10 and record_bytes(None) == 8

"""Reject and duplicate rows keep the record's own fields and leave the pipelines' private ones out."""
import json

from transforms.dedup.beam import removed_row
from transforms.records import PRIVATE_FIELDS, public_record, reject_row


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

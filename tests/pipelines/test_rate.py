import json

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main

PROSE = ("The river runs past the old mill and the children walk along it to school every morning. "
         "They stop at the bridge to watch the water and count the ducks before the bell rings. "
         "In winter the path freezes, so their parents drive them around by the main road instead. "
         "The teacher says that the mill was built two hundred years ago by a family of weavers. "
         "Nobody remembers their name, but a stone above the door still shows the year it opened. "
         "On Fridays the class walks down to the water with notebooks and draws what they see there. "
         "Some of them draw the herons, others the boats, and one boy always draws the same green door.")


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    return path


@pytest.fixture()
def inputs(tmp_path):
    return _write_jsonl(tmp_path / "in.jsonl", [
        {"id": "good", "text": PROSE, "lang": "en"},
        {"id": "short", "text": "too short", "lang": "en"},
        {"id": "notext", "body": PROSE},
        {"id": "code", "text": "def f(x):\n    return x + 1\n" * 5, "lang": "py"},
    ])


def _manifest(out):
    return json.loads((out / "_manifest.json").read_text())


def test_rate_keeps_user_columns_adds_scores_and_applies_thresholds(tmp_path, inputs):
    out = tmp_path / "rated"
    assert main(["rate", str(inputs), "--text-column", "text", "--id-column", "id", "--output", str(out)]) == 0
    rated = pq.read_table(out / "rated").to_pylist()
    assert [r["id"] for r in rated] == ["good"]
    assert rated[0]["lang"] == "en" and rated[0]["quality_gopher_word_count"] == len(PROSE.split())
    manifest = _manifest(out)
    reasons = manifest["rejects_by_stage_reason"]
    assert reasons["read/invalid_json"] == 1 and reasons["prepare/missing_text"] == 1
    assert reasons["thresholds/below_threshold:quality_gopher_word_count"] == 2  # 'short' and the code file
    assert manifest["conservation"] == {"read": 5, "written": 1, "rejected": 4, "deduplicated": 0, "holds": True}


def test_code_rater_without_default_thresholds(tmp_path, inputs):
    out = tmp_path / "rated"
    assert main(["rate", str(inputs), "--raters", "code", "--keep", "quality_code_max_line_length<=40",
                 "--output", str(out)]) == 0
    rated = {r["lang"]: r for r in pq.read_table(out / "rated").to_pylist()}
    assert set(rated) == {"en", "py"}  # the long prose line fails max_line_length<=40
    assert rated["py"]["quality_code_max_line_length"] == len("    return x + 1")
    assert "quality_gopher_word_count" not in pq.read_schema(next((out / "rated").glob("*.parquet"))).names
    reasons = _manifest(out)["rejects_by_stage_reason"]
    assert reasons["thresholds/above_threshold:quality_code_max_line_length"] == 1


@pytest.mark.parametrize("argv, message", [
    (["--raters", "gopher,bogus"], "--raters: unknown rater(s) bogus"),
    (["--raters", "fasttext"], "--raters fasttext needs --fasttext-model"),
    (["--keep", "quality_x>>1"], "--keep:"),
    (["--text-column", "content"], "no column 'content'"),
])
def test_rate_mistakes_are_one_line_errors(tmp_path, inputs, capsys, argv, message):
    assert main(["rate", str(inputs), "--output", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shardsmith: error:") and message in err and "\n" not in err

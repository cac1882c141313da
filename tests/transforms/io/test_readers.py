import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.io.readers import InputError, Unreadable, expand_inputs, iter_records


def test_jsonl_bad_lines_become_unreadable_with_location(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": \n[1, 2]\n{"a": "\xff"}\n{"a": 2}\n')
    items = list(iter_records(str(path)))
    assert [i for i in items if isinstance(i, dict)] == [{"a": 1}, {"a": 2}]
    bad = [i for i in items if isinstance(i, Unreadable)]
    assert [(b.reason, b.raw["line"]) for b in bad] == [("invalid_json", 3), ("not_an_object", 4), ("invalid_utf8", 5)]
    assert bad[2].raw["raw"] == '{"a": "\\xff"}\n'


def test_gzip_jsonl_and_parquet(tmp_path):
    import gzip

    with gzip.open(tmp_path / "in.jsonl.gz", "wt") as f:
        f.write(json.dumps({"x": "y"}) + "\n")
    pq.write_table(pa.table({"x": ["a", "b"], "n": [1, 2]}), tmp_path / "in.parquet")
    assert list(iter_records(str(tmp_path / "in.jsonl.gz"))) == [{"x": "y"}]
    assert list(iter_records(str(tmp_path / "in.parquet"))) == [{"x": "a", "n": 1}, {"x": "b", "n": 2}]


def test_corrupt_parquet_is_one_unreadable(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    (item,) = list(iter_records(str(tmp_path / "bad.parquet")))
    assert isinstance(item, Unreadable) and item.reason == "unreadable_file"


def test_expand_inputs_dirs_globs_and_clear_errors(tmp_path):
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.parquet").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    assert expand_inputs([str(tmp_path)]) == [str(tmp_path / "a.jsonl"), str(tmp_path / "sub" / "b.parquet")]
    assert expand_inputs([str(tmp_path / "*.jsonl")]) == [str(tmp_path / "a.jsonl")]
    with pytest.raises(InputError, match="missing.jsonl: no such file"):
        expand_inputs([str(tmp_path / "missing.jsonl")])
    with pytest.raises(InputError, match="notes.txt: unknown input format"):
        expand_inputs([str(tmp_path / "notes.txt")])
    with pytest.raises(InputError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.csv")])


def test_record_bound_is_never_below_what_the_reader_yields(tmp_path):
    import gzip

    from transforms.io.readers import record_bound

    lines = tmp_path / "lines.jsonl"
    lines.write_text('{}\n{"a":1}\n{}\n')
    array = tmp_path / "array.json"
    array.write_text("[{},{},{},{}]")  # four records on one line
    table = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"a": list(range(7))}), table)
    for path in (lines, array, table):
        count = sum(isinstance(r, dict) for r in iter_records(str(path)))
        assert count <= record_bound(str(path)), path
    assert record_bound(str(table)) == 7
    rows = tmp_path / "rows.csv"  # the MMLU reader's CSVs: a row takes at least two bytes too
    rows.write_text("q,a,b,c,d,A\n" * 5)
    assert record_bound(str(rows)) >= 5
    packed = tmp_path / "lines.jsonl.gz"
    packed.write_bytes(gzip.compress(b"{}\n" * 100))
    assert record_bound(str(packed)) is None  # unknown without decompressing
    assert record_bound(str(tmp_path / "missing.jsonl")) is None

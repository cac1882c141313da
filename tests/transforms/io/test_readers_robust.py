"""Reading never loses a record: each bad line is one reject, files that break keep what came before.

Every ``Unreadable`` must name the file and the position (line / element / row) both in its
detail and in its raw record, since that is what ends up in the rejects dataset.
"""
import gzip
import json
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.io import readers
from transforms.io.readers import MAX_NESTING, Unreadable, iter_jsonl, iter_records


def nested(depth: int, leaf=1):
    """A value of ``depth`` nested lists (depth 0: the leaf)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def split(items):
    records = [i for i in items if isinstance(i, dict)]
    bad = [i for i in items if isinstance(i, Unreadable)]
    assert len(records) + len(bad) == len(items)
    return records, bad


def assert_located(bad: list[Unreadable], path) -> None:
    """Each reject names its file in the detail and in raw, with a position in raw."""
    for item in bad:
        assert str(path) in item.detail, item
        assert item.raw["source"] == str(path), item
        assert "line" in item.raw or "row" in item.raw, item


def write_lines(path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


# --- JSON lines ------------------------------------------------------------------------

def test_deep_line_in_the_middle_is_one_reject_and_the_rest_is_read(tmp_path):
    lines = [json.dumps({"text": f"doc {i}"}) for i in range(101)]
    lines[49] = '{"text": "deep", "x": ' + deep_json(5000) + "}"
    path = tmp_path / "in.jsonl"
    write_lines(path, lines)
    records, bad = split(list(iter_records(str(path))))
    assert len(records) == 100 and [r["text"] for r in records] == [f"doc {i}" for i in range(101) if i != 49]
    (reject,) = bad
    assert (reject.reason, reject.raw["line"]) == ("too_deeply_nested", 50)
    assert f"{path}:50:" in reject.detail and reject.raw["raw"].startswith('{"text": "deep"')
    assert_located(bad, path)


@pytest.mark.parametrize("make", [
    lambda d: nested(d),                                   # lists
    lambda d: json.loads('{"a": ' * d + "1" + "}" * d),    # objects
], ids=["lists", "objects"])
def test_nesting_limit_is_exact(tmp_path, make):
    # the record itself is level 1: {"x": <depth MAX_NESTING - 1>} is at the limit
    lines = [json.dumps({"x": make(MAX_NESTING - 1)}), json.dumps({"x": make(MAX_NESTING)}),
             json.dumps({"x": make(500)}), json.dumps({"x": "ok"})]
    path = tmp_path / "in.jsonl"
    write_lines(path, lines)
    records, bad = split(list(iter_records(str(path))))
    assert records == [{"x": make(MAX_NESTING - 1)}, {"x": "ok"}]
    assert [(b.reason, b.raw["line"]) for b in bad] == [("too_deeply_nested", 2), ("too_deeply_nested", 3)]


def test_other_bad_lines_are_one_reject_each(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"a": 1}\n'              # a BOM on the first line is not an error
        b'{"a": ' + b"1" * 5000 + b"}\n"       # an int of more than 4300 digits: ValueError, not JSONDecodeError
        b'{"a": "\\ud800"}\n'                  # lone surrogate escape
        b'{"a": "\\ud83d\\ude00"}\n'           # a valid surrogate pair
        b"[1]\n"
        b'{"a": \n'
        b'{"a": 2}'                            # no newline at the end
    )
    records, bad = split(list(iter_jsonl(str(path))))
    assert records == [{"a": 1}, {"a": "\U0001f600"}, {"a": 2}]
    assert [(b.reason, b.raw["line"]) for b in bad] == [
        ("invalid_json", 2), ("invalid_utf8", 3), ("not_an_object", 5), ("invalid_json", 6)]
    assert_located(bad, path)


def test_file_that_cannot_be_opened_is_one_reject_naming_it(tmp_path):
    missing, not_gzip = tmp_path / "missing.jsonl", tmp_path / "bad.jsonl.gz"
    not_gzip.write_bytes(b"this is not gzip\n")
    for path in (missing, not_gzip):
        (item,) = list(iter_records(str(path)))
        assert item.reason == "unreadable_file" and item.raw["line"] == 1
        assert_located([item], path)


def gzip_lines(n: int) -> bytes:
    return gzip.compress("".join(json.dumps({"i": i, "pad": "x" * 40}) + "\n" for i in range(n)).encode())


def test_truncated_gzip_keeps_every_line_before_the_break(tmp_path):
    data = gzip_lines(40_000)
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    # what a careful reader can get out of the truncated stream: everything decompressed so far
    decompressor = __import__("zlib").decompressobj(31)
    readable = decompressor.decompress(data[: len(data) // 2])
    complete = readable.count(b"\n")
    records, bad = split(list(iter_records(str(path))))
    assert [r["i"] for r in records] == list(range(complete)) and 10_000 < complete < 40_000
    (reject,) = bad
    assert reject.reason == "broken_file" and reject.raw["line"] == complete + 1
    assert f"line {complete + 1}" in reject.detail and "EOFError" in reject.detail
    assert reject.raw["raw"] == readable[readable.rfind(b"\n") + 1:].decode()  # the cut line is kept
    assert_located(bad, path)


# --- JSON documents --------------------------------------------------------------------

def test_json_array_of_objects_is_read_as_records(tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps([{"i": i} for i in range(50)]))
    records, bad = split(list(iter_records(str(path))))
    assert records == [{"i": i} for i in range(50)] and bad == []


def test_json_array_elements_that_are_not_objects_are_rejects_with_their_index(tmp_path):
    path = tmp_path / "in.json"
    path.write_text("[\n" + ",\n".join([json.dumps({"i": 0}), "3", '"x"', "null", "[1]", json.dumps({"i": 5}),
                                        '{"x": ' + deep_json(5000) + "}", '{"bad": "\\ud800"}',
                                        json.dumps({"i": 8})]) + "\n]\n")
    records, bad = split(list(iter_records(str(path))))
    assert records == [{"i": 0}, {"i": 5}, {"i": 8}]
    assert [(b.reason, b.raw["line"]) for b in bad] == [
        ("not_an_object", 1), ("not_an_object", 2), ("not_an_object", 3), ("not_an_object", 4),
        ("too_deeply_nested", 6), ("invalid_utf8", 7)]
    assert f"{path}[1] (text line 3)" in bad[0].detail
    assert_located(bad, path)


@pytest.mark.parametrize("name, content, expected", [
    ("one.json", json.dumps({"a": 1, "b": {"c": [1, 2]}}, indent=2), [{"a": 1, "b": {"c": [1, 2]}}]),
    ("one-line.json", json.dumps({"a": 1}), [{"a": 1}]),
    ("lines.json", "".join(json.dumps({"i": i}) + "\n" for i in range(3)), [{"i": i} for i in range(3)]),
    ("pretty-array.jsonl", json.dumps([{"i": i} for i in range(3)], indent=1), [{"i": i} for i in range(3)]),
    ("array.json.gz", json.dumps([{"i": i} for i in range(3)]), [{"i": i} for i in range(3)]),
    ("concatenated.json", json.dumps({"i": 0}, indent=2) + "\n" + json.dumps({"i": 1}, indent=2),
     [{"i": 0}, {"i": 1}]),
    ("empty-array.json", "[ ]", []),
    ("empty.json", "", []),
])
def test_layout_is_decided_by_content(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(gzip.compress(content.encode()) if name.endswith(".gz") else content.encode())
    assert list(iter_records(str(path))) == expected


def test_bad_json_in_an_array_keeps_the_elements_before_it(tmp_path):
    path = tmp_path / "in.json"
    path.write_text('[{"i": 0},\n {"i": 1},\n {"i": 2 oops},\n {"i": 3}]')
    records, bad = split(list(iter_records(str(path))))
    assert records == [{"i": 0}, {"i": 1}]
    (reject,) = bad
    assert reject.reason == "invalid_json" and reject.raw["line"] == 2
    assert "text line 3" in reject.detail and "2 record(s) before it" in reject.detail
    assert_located(bad, path)


@pytest.mark.parametrize("cut", ["mid-element", "between-elements"])
def test_truncated_json_array_keeps_the_elements_before_the_break(tmp_path, cut):
    text = json.dumps([{"i": i} for i in range(10)])
    end = text.index('{"i": 7}') + (4 if cut == "mid-element" else 0)
    path = tmp_path / "in.json"
    path.write_text(text[:end])
    records, bad = split(list(iter_records(str(path))))
    assert records == [{"i": i} for i in range(7)]
    (reject,) = bad
    assert reject.reason == "broken_file" and reject.raw["line"] == 7
    assert_located(bad, path)


def test_truncated_gzip_json_array_keeps_the_elements_before_the_break(tmp_path):
    data = gzip.compress(json.dumps([{"i": i, "pad": "y" * 40} for i in range(40_000)]).encode())
    path = tmp_path / "in.json.gz"
    path.write_bytes(data[: len(data) // 2])
    records, bad = split(list(iter_records(str(path))))
    assert [r["i"] for r in records] == list(range(len(records))) and 10_000 < len(records) < 40_000
    (reject,) = bad
    assert reject.reason == "broken_file" and reject.raw["line"] == len(records)
    assert_located(bad, path)


CONTENTS = {
    "pretty.json": json.dumps([{"i": i, "s": "a \" [ { \\ ] }" * (i % 3), "n": 10 ** (i % 25), "f": i / 3,
                                "t": i % 2 == 0, "z": None, "l": [[i], {"k": "v"}]} for i in range(60)], indent=2),
    "minified.json": json.dumps([{"i": i, "s": "é∑\u2028" * i, "n": -i * 123456789} for i in range(60)]),
    "lines.jsonl": "".join(json.dumps({"i": i, "s": "x" * i}) + "\n" for i in range(60)) + "garbage\n[1]\n",
    "doc.json": json.dumps({"a": [list(range(50))] * 5, "b": "q" * 300}, indent=2),
    "deep.json": "[\n" + '{"i": 0},' + '{"x": ' + deep_json(2000) + '}, {"i": 2}, 12345678901234567890,'
                 ' {"i": 4}\n]',
}


@pytest.mark.parametrize("name", sorted(CONTENTS))
def test_results_do_not_depend_on_the_read_window(tmp_path, monkeypatch, name):
    path = tmp_path / name
    path.write_text(CONTENTS[name], encoding="utf-8")
    reference = list(iter_records(str(path)))
    assert any(isinstance(i, dict) for i in reference)
    for chunk in (1, 2, 3, 7, 64, 1000):
        monkeypatch.setattr(readers, "CHUNK_BYTES", chunk)
        assert list(iter_records(str(path))) == reference, chunk


def test_a_big_array_is_streamed(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_BYTES", 1 << 16)
    path = tmp_path / "big.json"
    with open(path, "w") as handle:
        json.dump([{"i": i, "text": "t" * 200} for i in range(40_000)], handle)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_records(str(path)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 40_000
    assert peak < 16 * readers.CHUNK_BYTES < size / 8, (peak, size)  # a few windows, not the file


# --- Parquet ---------------------------------------------------------------------------

def parquet_with_groups(path, groups: int = 3, rows: int = 100) -> None:
    table = pa.table({"i": list(range(groups * rows)), "text": [f"row {i}" for i in range(groups * rows)]})
    pq.write_table(table, path, row_group_size=rows, compression="none")


def test_truncated_parquet_is_one_reject_naming_the_file(tmp_path):
    path = tmp_path / "in.parquet"
    parquet_with_groups(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the footer is gone: nothing can be located
    (item,) = list(iter_records(str(path)))
    assert item.reason == "unreadable_file" and item.raw["row"] == 0
    assert_located([item], path)


def test_corrupt_parquet_row_group_keeps_the_other_groups(tmp_path):
    path = tmp_path / "in.parquet"
    parquet_with_groups(path)
    meta = pq.ParquetFile(path).metadata.row_group(1).column(1)
    data = bytearray(path.read_bytes())
    start = meta.data_page_offset
    data[start:start + 16] = b"\xff" * 16  # the page header of row group 1, column "text"
    path.write_bytes(bytes(data))
    records, bad = split(list(iter_records(str(path))))
    assert [r["i"] for r in records] == list(range(100)) + list(range(200, 300))
    (reject,) = bad
    assert reject.reason == "broken_file" and (reject.raw["row_group"], reject.raw["row"]) == (1, 100)
    assert "row group 1, row 100" in reject.detail
    assert_located(bad, path)


def test_deep_parquet_rows_are_rejects(tmp_path):
    path = tmp_path / "deep.parquet"
    rows = [{"x": None}, {"x": nested(MAX_NESTING)}]  # the record is level 1: row 1 is one level too deep
    pq.write_table(pa.Table.from_pylist(rows), path)
    records, bad = split(list(iter_records(str(path))))
    assert len(records) == 1 and [(b.reason, b.raw["row"]) for b in bad] == [("too_deeply_nested", 1)]


# --- properties ------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)
FUZZ = settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _with_window(chunk: int, fn):
    saved = readers.CHUNK_BYTES
    readers.CHUNK_BYTES = chunk
    try:
        return fn()
    finally:
        readers.CHUNK_BYTES = saved


@FUZZ
@given(data=st.binary(max_size=400), name=st.sampled_from(["a.json", "a.jsonl", "a.json.gz"]),
       chunk=st.sampled_from([1, 5, 64, 1 << 20]))
def test_arbitrary_bytes_never_raise(tmp_path, data, name, chunk):
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    items = _with_window(chunk, lambda: list(iter_records(str(path))))
    assert all(isinstance(i, dict) for i in items if not isinstance(i, Unreadable))
    assert_located([i for i in items if isinstance(i, Unreadable)], path)


@FUZZ
@given(values=st.lists(JSON_VALUES, max_size=8), chunk=st.sampled_from([1, 3, 17, 1 << 20]),
       array=st.booleans(), indent=st.sampled_from([None, 2]))
def test_one_item_per_line_or_element(tmp_path, values, chunk, array, indent):
    path = tmp_path / ("a.json" if array else "a.jsonl")
    if array:
        path.write_text(json.dumps(values, indent=indent))
    else:
        write_lines(path, [json.dumps(v) for v in values])
    items = _with_window(chunk, lambda: list(iter_records(str(path))))
    if array and not values:
        assert items == []
        return
    assert len(items) == len(values)
    for item, value in zip(items, values):
        if isinstance(value, dict):
            assert item == value
        else:
            assert isinstance(item, Unreadable) and item.reason == "not_an_object"

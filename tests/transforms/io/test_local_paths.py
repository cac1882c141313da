"""Input files named relative to the pattern that found them, never by their absolute local path."""
import os

import pytest

from transforms.io.local_paths import display_names, pattern_root


@pytest.fixture()
def tree(tmp_path):
    for rel in ("mmlu/astronomy_test.csv", "mmlu/sub/physics_test.csv", "a/train.jsonl", "b/train.jsonl",
                "wi.jsonl"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n")
    return tmp_path


def test_pattern_roots(tree):
    assert pattern_root(str(tree / "mmlu")) == str(tree / "mmlu")
    assert pattern_root(str(tree / "wi.jsonl")) == str(tree)
    assert pattern_root(str(tree / "mmlu" / "*.csv")) == str(tree / "mmlu")
    assert pattern_root(str(tree / "mmlu" / "sub" / "phys*.csv")) == str(tree / "mmlu" / "sub")
    assert pattern_root(str(tree / "**" / "*.csv")) == str(tree)
    assert pattern_root("gs://bucket/data/*.jsonl") == "gs://bucket/data"


def test_names_are_relative_to_the_pattern_root(tree, monkeypatch):
    mmlu = [str(tree / "mmlu" / "astronomy_test.csv"), str(tree / "mmlu" / "sub" / "physics_test.csv")]
    names = display_names([(str(tree / "mmlu"), mmlu), (str(tree / "wi.jsonl"), [str(tree / "wi.jsonl")])])
    assert names == {mmlu[0]: "astronomy_test.csv", mmlu[1]: "sub/physics_test.csv", str(tree / "wi.jsonl"): "wi.jsonl"}
    monkeypatch.chdir(tree)  # a relative pattern whose files were listed with absolute paths
    assert display_names([("mmlu", mmlu)]) == {mmlu[0]: "astronomy_test.csv", mmlu[1]: "sub/physics_test.csv"}
    assert display_names([("wi.jsonl", ["wi.jsonl"])]) == {"wi.jsonl": "wi.jsonl"}


def test_files_sharing_a_name_get_their_directories(tree):
    a, b = str(tree / "a" / "train.jsonl"), str(tree / "b" / "train.jsonl")
    assert display_names([(a, [a]), (b, [b])]) == {a: "a/train.jsonl", b: "b/train.jsonl"}
    same = os.path.join(str(tree), "a", ".", "train.jsonl")  # one file spelled twice is no clash
    assert display_names([(a, [a]), (same, [same])]) == {a: "train.jsonl", same: "train.jsonl"}
    assert not any(os.path.isabs(n) for n in display_names([(a, [a]), (b, [b])]).values())


def test_local_roots_from_options_and_generic_dirs_left_out(tmp_path):
    from transforms.io.local_paths import local_roots

    options = {"source": ["mmlu=/data/mmlu", "generic:x=not/here"], "input": ["/srv/in/*.jsonl"],
               "git_repo": ["~/src/flask"], "keep": ["quality_fasttext>=0.5"], "column_map": "question=q,a=b",
               "num_shards": 3, "output": "/home/alice/runs/x"}
    roots = local_roots("/home/alice/runs/x", options, cwd="/tmp", home="/root")
    assert set(roots) >= {"/data/mmlu", "/srv/in", "/home/alice/runs/x", "/root", os.path.expanduser("~/src/flask")}
    assert "/tmp" not in roots and "/" not in roots and not any("not/here" in r for r in roots)
    assert roots == sorted(roots, key=lambda r: (-len(r), r))


@pytest.mark.parametrize("text, expected", [
    ("--output /home/alice/runs/x", "--output <local>/x"),
    ("mmlu=/data/mmlu", "mmlu=<local>/mmlu"),
    ("against /work/shared/a.jsonl, /work/shared/b.jsonl", "against <local>/a.jsonl, <local>/b.jsonl"),
    ("/data/*.jsonl", "<local>/*.jsonl"),
    ("~/verus/verus", "<local>/verus"),
    ("file:///home/alice/x.db", "<local>/x.db"),
    ("http://localhost:8000/v1 gs://bucket/a/b", "http://localhost:8000/v1 gs://bucket/a/b"),
    ("read/invalid_json 5/8 '/' <local>/x", "read/invalid_json 5/8 '/' <local>/x"),
])
def test_redact_text(text, expected):
    from transforms.io.local_paths import redact_text

    assert redact_text(text) == expected


def test_redact_known_roots_first_even_with_spaces_and_non_ascii():
    from transforms.io.local_paths import redact_text

    roots = ["/home/zoë/My Data"]
    assert redact_text("in /home/zoë/My Data/x.jsonl and /home/zo\\u00eb/My Data/y", roots) == (
        "in <local>/My Data/x.jsonl and <local>/My Data/y")
    assert redact_text("/home/zoë/My Datasets", roots) == "<local>/My Datasets"  # not the root: generic rule


def test_find_local_paths_reads_string_columns_only_and_stops_at_the_first(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from transforms.io.local_paths import find_local_paths

    path = str(tmp_path / "x.parquet")
    pq.write_table(pa.table({"n": [1, 2, 3], "blob": [b"/data/mmlu", b"", b""],
                             "text": ["fine", None, "see /data/mmlu/astronomy_test.csv"],
                             "m": pa.array([[("k", "/data/mmlu")], [], None], pa.map_(pa.string(), pa.string()))}), path)
    found = find_local_paths(path, ["/data/mmlu"], batch_size=2)
    assert (found.column, found.root, found.rows) == ("m.value", "/data/mmlu", 1)
    assert find_local_paths(path, ["/data/mm"]) is None  # /data/mmlu is another directory
    assert find_local_paths(path, []) is None


def test_caches_are_for_the_in_process_runner_only(tmp_path, monkeypatch):
    from apache_beam.options.pipeline_options import PipelineOptions

    from transforms.io.local_paths import user_cache_dir, worker_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert user_cache_dir("decontam") == str(tmp_path / "shardsmith" / "decontam")
    for argv in ([], ["--runner=FnApiRunner"], ["--runner=DirectRunner"]):
        assert worker_cache_dir(PipelineOptions(argv), "pint") == str(tmp_path / "shardsmith" / "pint"), argv
    for runner in ("PortableRunner", "DataflowRunner", "FlinkRunner", "SparkRunner"):  # workers with homes of their own
        assert worker_cache_dir(PipelineOptions([f"--runner={runner}"]), "pint") is None, runner

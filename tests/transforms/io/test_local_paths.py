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

"""Output safety: a run deletes only what it created, and never writes over its inputs."""
import json
import os
import subprocess
import sys

import pytest

from transforms.errors import InputError
from transforms.io.outputs import check_not_overlapping, check_output_dir

ENV = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))}


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=600)


def _user_folder(path):
    path.mkdir()
    (path / "precious.txt").write_text("only copy")
    (path / "mydata").mkdir()
    (path / "mydata" / "rows.jsonl").write_text('{"text": "x"}\n')
    return path


def _snapshot(path):
    return sorted((str(p.relative_to(path)), p.read_bytes() if p.is_file() else None) for p in path.rglob("*"))


@pytest.mark.parametrize("overwrite", [False, True])
def test_folder_with_user_files_is_refused_with_and_without_overwrite(tmp_path, overwrite):
    out = _user_folder(tmp_path / "dl")
    before = _snapshot(out)
    args = ["corpus", "--output", str(out)] + (["--overwrite"] if overwrite else [])
    result = _cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not a finished shardsmith run" in result.stderr
    assert _snapshot(out) == before
    assert not list(tmp_path.glob("dl.tmp-*"))


def test_dedup_refuses_output_equal_to_its_input(tmp_path):
    data = _user_folder(tmp_path / "same")
    before = _snapshot(data)
    result = _cli("dedup", str(data), "--output", str(data), "--overwrite", cwd=tmp_path)
    assert result.returncode == 2 and "overlaps the input" in result.stderr
    assert result.stderr.count("\n") == 1
    assert _snapshot(data) == before


def test_overlap_rules(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text("{}\n")
    for output in (data, data / "out", tmp_path):  # equal, inside, containing
        with pytest.raises(InputError, match="overlaps the input"):
            check_not_overlapping(str(output), [str(data)])
    with pytest.raises(InputError, match="overlaps the input"):  # the output contains a matched file
        check_not_overlapping(str(tmp_path), [str(data / "*.jsonl")])
    check_not_overlapping(str(tmp_path / "elsewhere"), [str(data)])
    check_not_overlapping(str(data / "out"), [str(data / "*.jsonl")])  # a flat glob does not read out/
    with pytest.raises(InputError, match="overlaps the input"):
        check_not_overlapping(str(data / "out"), [str(data / "**" / "*.jsonl")])
    link = tmp_path / "link"
    link.symlink_to(data)
    with pytest.raises(InputError, match="overlaps the input"):  # through a symlink
        check_not_overlapping(str(link / "out"), [str(data)])
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    check_not_overlapping(str(repo / "out"), read_in_place=[str(repo)])  # git inputs are read from objects
    for output in (repo, repo / ".git" / "x", tmp_path):
        with pytest.raises(InputError, match="overlaps the repository"):
            check_not_overlapping(str(output), read_in_place=[str(repo)])


def test_check_output_dir_states(tmp_path):
    assert check_output_dir(str(tmp_path / "new"), False) == "new"
    (tmp_path / "empty").mkdir()
    assert check_output_dir(str(tmp_path / "empty"), False) == "empty"
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        check_output_dir(str(tmp_path / "file"), True)
    fake = tmp_path / "fake"  # a _SUCCESS without this tool's manifest is not a finished run
    fake.mkdir()
    (fake / "_SUCCESS").write_text("")
    (fake / "_manifest.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(InputError, match="not a finished shardsmith run"):
        check_output_dir(str(fake), True)


def test_overwrite_replaces_a_finished_run_but_not_files_added_to_it(tmp_path):
    out = tmp_path / "out"
    assert _cli("corpus", "--output", str(out), cwd=tmp_path).returncode == 0
    again = _cli("corpus", "--output", str(out), cwd=tmp_path)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert _cli("corpus", "--output", str(out), "--overwrite", cwd=tmp_path).returncode == 0
    assert (out / "_SUCCESS").exists() and not list(tmp_path.glob("out.old-*"))
    (out / "notes.txt").write_text("mine")
    refused = _cli("corpus", "--output", str(out), "--overwrite", cwd=tmp_path)
    assert refused.returncode == 2 and "notes.txt" in refused.stderr
    assert (out / "notes.txt").read_text() == "mine"


def test_empty_output_folder_is_used(tmp_path):
    out = tmp_path / "made-by-user"
    out.mkdir()
    assert _cli("corpus", "--output", str(out), cwd=tmp_path).returncode == 0
    assert (out / "_SUCCESS").exists()


def test_unfinished_temp_folder_of_another_run_is_left_alone(tmp_path):
    stale = tmp_path / "out.tmp-deadbeef"
    stale.mkdir()
    (stale / "keep.txt").write_text("not ours to delete")
    assert _cli("corpus", "--output", str(tmp_path / "out"), cwd=tmp_path).returncode == 0
    assert (stale / "keep.txt").read_text() == "not ours to delete"


def _labelled(tmp_path):
    path = tmp_path / "labelled.jsonl"
    with open(path, "w") as handle:
        for i in range(40):
            label = "hq" if i % 2 else "lq"
            handle.write(json.dumps({"text": f"{label} words number {i} " * 3, "label": label}) + "\n")
    return path


def test_train_rater_never_replaces_a_file_that_is_not_a_model(tmp_path):
    data = _labelled(tmp_path)
    notes = tmp_path / "notes.bin"
    notes.write_bytes(b"my thesis")
    base = ["train-rater", str(data), "--text-column", "text", "--label-column", "label", "--dim", "8",
            "--bucket", "1000", "--epoch", "2"]
    for extra in ([], ["--overwrite"]):
        result = _cli(*base, "--output", str(notes), *extra, cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert notes.read_bytes() == b"my thesis"
    same = _cli(*base, "--output", str(data), "--overwrite", cwd=tmp_path)
    assert same.returncode == 2 and "overlaps the input" in same.stderr
    model = tmp_path / "rater.bin"
    assert _cli(*base, "--output", str(model), cwd=tmp_path).returncode == 0
    assert _cli(*base, "--output", str(model), cwd=tmp_path).returncode == 2
    assert _cli(*base, "--output", str(model), "--overwrite", cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labelled.jsonl", "notes.bin", "rater.bin"]


def test_report_to_refuses_a_folder_of_user_files(tmp_path):
    out = tmp_path / "out"
    assert _cli("corpus", "--output", str(out), cwd=tmp_path).returncode == 0
    mine = _user_folder(tmp_path / "mine")
    before = _snapshot(mine)
    result = _cli("report", str(out), "--to", str(mine), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert _snapshot(mine) == before
    inside = _cli("report", str(out), "--to", str(out / "docs"), cwd=tmp_path)
    assert inside.returncode == 2 and "overlaps" in inside.stderr
    site = tmp_path / "site"
    assert _cli("report", str(out), "--to", str(site), cwd=tmp_path).returncode == 0
    assert _cli("report", str(out), "--to", str(site), cwd=tmp_path).returncode == 0  # an earlier report is ours
    assert _cli("report", str(out), cwd=tmp_path).returncode == 0


def test_a_run_interrupted_while_publishing_is_replaced_but_not_when_user_files_were_added(tmp_path):
    out = tmp_path / "out"
    assert _cli("corpus", "--output", str(out), cwd=tmp_path).returncode == 0
    (out / "_SUCCESS").unlink()  # as if the process died before writing _SUCCESS
    assert check_output_dir(str(out), False) == "unfinished"
    assert _cli("corpus", "--output", str(out), cwd=tmp_path).returncode == 0
    (out / "_SUCCESS").unlink()
    (out / "mine.txt").write_text("x")
    with pytest.raises(InputError, match="not a finished shardsmith run"):
        check_output_dir(str(out), True)

"""``shardsmith publish``: card, commit plan and Hub calls, offline against a mocked ``HfApi``."""
import argparse
import fnmatch
import os
from unittest import mock

import pytest
from huggingface_hub import CommitOperationAdd, DatasetCard

from pipelines import publish
from pipelines.cli import main as cli_main

TOKEN = "hf_MARKERtokenVALUE0123456789"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "corpus"
    assert cli_main(["corpus", "--output", str(out)]) == 0
    return out


@pytest.fixture(autouse=True)
def token_env(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)


def _run_files(out):
    return sorted(f"{d}/{f}" for d in os.listdir(out) if (out / d).is_dir()
                  for f in os.listdir(out / d) if f.endswith(".parquet"))


def _args(out, *extra):
    parser = argparse.ArgumentParser(prog="shardsmith")
    publish.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["publish", str(out), *extra])


def test_card_parses_and_configs_match_the_folders(run_dir):
    text = publish.dataset_card(str(run_dir), "org/sample", "cc-by-4.0")
    card = DatasetCard(text)
    data = card.data.to_dict()
    assert data["license"] == "cc-by-4.0" and data["pretty_name"] == "sample"
    configs = {c["config_name"]: c for c in data["configs"]}
    assert set(configs) == {"docs", "rejects", "duplicates"}
    assert data["configs"][0]["config_name"] == "docs" and data["configs"][0]["default"] is True
    files = _run_files(run_dir)
    for name, config in configs.items():
        (entry,) = config["data_files"]
        assert entry["split"] == "train"
        assert [f for f in files if fnmatch.fnmatch(f, entry["path"])] == [f for f in files if f.startswith(name + "/")]
        assert f'load_dataset("org/sample", "{name}", split="train")' in card.text
    assert "Conservation holds: read 20 = written 10 + rejected 7 + deduplicated 3." in card.text
    assert "| `read` | 20 | 18 | 2 | 0 |" in card.text and "`corpus`" in card.text
    # Funnel in flow order, not the manifest's alphabetical order.
    assert card.text.index("| `read` |") < card.text.index("| `dedup:exact` |") < card.text.index("| `validate:docs` |")

    audit_free = DatasetCard(publish.dataset_card(str(run_dir), "org/sample", include_audit=False)).data.to_dict()
    assert [c["config_name"] for c in audit_free["configs"]] == ["docs"]


def test_publish_sends_every_file_in_few_commits(run_dir):
    api = mock.MagicMock()
    plans = publish.publish(str(run_dir), "org/sample", private=True, revision=None, api=api)
    api.create_repo.assert_called_once_with("org/sample", repo_type="dataset", private=True, exist_ok=True)
    api.create_branch.assert_not_called()
    assert api.create_commit.call_count == len(plans) == 1
    call = api.create_commit.call_args
    assert call.args == ("org/sample",) and call.kwargs["repo_type"] == "dataset" and call.kwargs["revision"] is None
    ops = call.kwargs["operations"]
    assert all(isinstance(op, CommitOperationAdd) for op in ops)
    assert sorted(op.path_in_repo for op in ops) == sorted(_run_files(run_dir) + ["README.md", "_manifest.json"])
    readme = next(op for op in ops if op.path_in_repo == "README.md").path_or_fileobj
    assert DatasetCard(readme.decode()).data.to_dict()["configs"]


def test_small_limits_force_several_commits_card_and_manifest_last(run_dir):
    api = mock.MagicMock()
    publish.publish(str(run_dir), "org/sample", private=False, revision="v1", api=api, max_files_per_commit=2)
    api.create_repo.assert_called_once_with("org/sample", repo_type="dataset", private=False, exist_ok=True)
    api.create_branch.assert_called_once_with("org/sample", branch="v1", repo_type="dataset", exist_ok=True)
    commits = [[op.path_in_repo for op in c.kwargs["operations"]] for c in api.create_commit.call_args_list]
    assert all(c.kwargs["revision"] == "v1" for c in api.create_commit.call_args_list)
    shards = _run_files(run_dir)
    assert commits == [shards[:2], shards[2:], ["README.md", "_manifest.json"]]

    # Byte limit: each shard is over 1 KiB, so one shard per commit; card + manifest still together.
    plans = publish.plan_publish(str(run_dir), "org/sample", max_bytes_per_commit=1024)
    assert [[f.path_in_repo for f in p.files] for p in plans] == [[s] for s in shards] + [["README.md", "_manifest.json"]]
    assert plans == publish.plan_publish(str(run_dir), "org/sample", max_bytes_per_commit=1024)  # deterministic


def test_token_never_printed_or_uploaded(run_dir, capsys, monkeypatch):
    api = mock.MagicMock()
    monkeypatch.setattr("huggingface_hub.HfApi", mock.MagicMock(side_effect=AssertionError("no API in dry run")))
    assert publish.main(_args(run_dir, "--repo-id", "org/sample", "--dry-run")) == 0
    captured = capsys.readouterr()
    publish.publish(str(run_dir), "org/sample", api=api, max_files_per_commit=2)
    card = publish.dataset_card(str(run_dir), "org/sample")
    messages = [c.kwargs["commit_message"] for c in api.create_commit.call_args_list]
    for text in [captured.out, captured.err, card, *messages, repr(api.mock_calls)]:
        assert TOKEN not in text


def test_dry_run_prints_plan_and_card(run_dir, capsys, monkeypatch):
    monkeypatch.setattr("huggingface_hub.HfApi", mock.MagicMock(side_effect=AssertionError("no API in dry run")))
    assert publish.main(_args(run_dir, "--repo-id", "org/sample", "--dry-run", "--max-files-per-commit", "3")) == 0
    out = capsys.readouterr().out
    assert "2 commit(s), 5 files" in out
    assert "commit 1/2: 3 files" in out and "commit 2/2: 2 files" in out
    assert "  docs/part-00000-of-00001.parquet  " in out
    assert "--- README.md ---" in out and "config_name: docs" in out


@pytest.mark.parametrize("make, extra, message", [
    (lambda p: p.mkdir(), [], "not a finished run (no _SUCCESS)"),
    (lambda p: None, [], "not a finished run (no _SUCCESS)"),
    (None, ["--repo-id", "no-namespace"], "expected ORG/NAME"),
])
def test_user_mistakes_get_one_line_errors(tmp_path, run_dir, capsys, make, extra, message):
    target = tmp_path / "unfinished"
    if make is not None:
        make(target)
    else:
        target = run_dir
    argv = extra or ["--repo-id", "org/sample"]
    api = mock.MagicMock()
    with mock.patch("huggingface_hub.HfApi", return_value=api):
        assert publish.main(_args(target, *argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("shardsmith: error:") and message in err and len(err.strip().splitlines()) == 1
    if make is not None:
        assert err.strip() == f"shardsmith: error: {target}: not a finished run (no _SUCCESS)"
    assert not api.mock_calls


def test_unfinished_run_with_shards_is_refused(tmp_path, run_dir, capsys):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(run_dir, partial)
    (partial / "_SUCCESS").unlink()
    with pytest.raises(publish.PublishError, match="no _SUCCESS"):
        publish.plan_publish(str(partial), "org/sample")
    assert publish.main(_args(partial, "--repo-id", "org/sample", "--dry-run")) == 2
    assert capsys.readouterr().out == ""

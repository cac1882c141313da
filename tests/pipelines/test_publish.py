"""``shardsmith publish``: card, commit plan and Hub calls, offline against a mocked ``HfApi``; failures
through the real CLI and huggingface_hub against a local HTTP server (HF_ENDPOINT) or a closed port;
the local-path guard over shards, card and manifest."""
import argparse
import fnmatch
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
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


# --------------------------------------------------------------------------- failures through the real CLI

REPO_ROOT = Path(__file__).resolve().parents[2]


class FakeHub:
    """A local HTTP server standing in for the Hub: ``routes`` maps (method, path prefix) to a status
    (first match wins, ``default`` otherwise); every request is recorded with its Authorization header."""

    def __init__(self):
        hub = self
        self.routes: list[tuple[str, str, int]] = []
        self.default = 500
        self.requests: list[tuple[str, str, str | None]] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                hub.requests.append((self.command, self.path, self.headers.get("authorization")))
                status = next((s for m, prefix, s in hub.routes if m == self.command and self.path.startswith(prefix)),
                              hub.default)
                body = (json.dumps({"url": f"{hub.url}/datasets/org/sample", "name": "org/sample"}) if status == 200
                        else json.dumps({"error": f"fake hub answers {status}"})).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def publish_cli(out, tmp_path, *extra, endpoint=None, token=TOKEN) -> subprocess.CompletedProcess:
    """``python -m pipelines.cli publish OUT --repo-id org/sample ...`` in a fresh interpreter: real
    huggingface_hub, HF_ENDPOINT at ``endpoint``, HF_TOKEN ``token`` (unset if None), empty HF_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
    env.update(PYTHONPATH=str(REPO_ROOT), HF_HOME=str(tmp_path / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DOWNLOAD_TIMEOUT="5")
    if endpoint:
        env["HF_ENDPOINT"] = endpoint
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "publish", str(out), "--repo-id", "org/sample",
                           *extra], env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess, *expected: str) -> str:
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("shardsmith: error: "), proc.stderr
    assert "Traceback" not in proc.stderr and TOKEN not in proc.stdout + proc.stderr
    for text in expected:
        assert text in err, err
    return err


def test_no_token_is_one_line(run_dir, tmp_path):
    with FakeHub() as hub:
        proc = publish_cli(run_dir, tmp_path, endpoint=hub.url, token=None)
    assert_one_line_error(proc, "no Hugging Face token: set HF_TOKEN")
    assert hub.requests == [] and proc.stdout == ""  # nothing asked, nothing planned


def test_connection_refused_names_the_endpoint(run_dir, tmp_path):
    url = closed_port_url()
    err = assert_one_line_error(publish_cli(run_dir, tmp_path, endpoint=url),
                                f"cannot reach {url}: connection refused", "creating the repo, nothing was uploaded")
    assert err == (f"shardsmith: error: cannot reach {url}: connection refused; "
                   "while creating the repo, nothing was uploaded")


@pytest.mark.parametrize("status, expected", [
    (401, "401 unauthorized for org/sample: check HF_TOKEN"),
    (403, "403 forbidden for org/sample: the token may not write there"),
    (404, "repository org/sample not found and could not be created: 404 Not Found"),
    (429, "429 rate limited by "),
    (500, "failed with 500 Internal Server Error for org/sample: try again later"),
])
def test_hub_http_errors_are_one_line(run_dir, tmp_path, status, expected):
    with FakeHub() as hub:
        hub.default = status
        proc = publish_cli(run_dir, tmp_path, endpoint=hub.url)
    assert_one_line_error(proc, expected, "(server: fake hub answers", "while creating the repo, nothing was uploaded")
    assert ("POST", "/api/repos/create", f"Bearer {TOKEN}") in hub.requests  # the real client sent the real token


def test_a_failed_commit_says_which_step(run_dir, tmp_path):
    with FakeHub() as hub:
        hub.routes = [("POST", "/api/repos/create", 200), ("POST", "/api/validate-yaml", 200)]
        hub.default = 403
        proc = publish_cli(run_dir, tmp_path, endpoint=hub.url)
    assert_one_line_error(proc, "403 forbidden for org/sample", "while commit 1/1, nothing was uploaded")
    assert [path for _, path, _ in hub.requests][-1] == "/api/datasets/org/sample/preupload/main"


def test_a_shard_vanishing_mid_upload_is_one_line(run_dir, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    last_shard = run / _run_files(run)[-1]
    api = mock.MagicMock()
    api.create_commit.side_effect = lambda *a, **k: last_shard.unlink(missing_ok=True)
    with mock.patch("huggingface_hub.HfApi", return_value=api):
        assert publish.main(_args(run, "--repo-id", "org/sample", "--max-files-per-commit", "2")) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"shardsmith: error: {last_shard}: vanished before its upload; while commit 2/3, "
                   "1 of 3 commits sent")  # commits: 2 shards, the last shard, card + manifest
    assert api.create_commit.call_count == 1


def test_token_like_strings_are_scrubbed(monkeypatch):
    monkeypatch.setattr(publish, "_known_tokens", {"saved-login-secret"})
    text = f"a {TOKEN} b hf_abcdefghijklmnopqrstuvwxyz c Authorization: Bearer abc.def saved-login-secret\nmore"
    assert publish._scrub(text) == "a <redacted> b <redacted> c Authorization: Bearer abc.def <redacted>\nmore"
    assert publish._one_line(text) == "a <redacted> b <redacted> c Authorization: Bearer <redacted> <redacted>"


# --------------------------------------------------------------------------- local paths

def _plant(path, table):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def test_a_shard_holding_a_local_path_is_refused_unless_allowed(run_dir, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    docs = run / "docs" / "part-00000-of-00001.parquet"
    rows = pq.read_table(docs).to_pylist()
    rows[4]["meta_json"] = json.dumps({"file": f"{run}/docs/notes.txt"})
    _plant(docs, pa.Table.from_pylist(rows, schema=pq.read_schema(docs)))
    monkeypatch.setattr("huggingface_hub.HfApi", mock.MagicMock(side_effect=AssertionError("no API in dry run")))

    assert publish.main(_args(run, "--repo-id", "org/sample", "--dry-run")) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and captured.out == ""
    assert err.startswith(f"shardsmith: error: dataset docs: column meta_json (docs/part-00000-of-00001.parquet) "
                          f"holds the local path {run}, e.g. ")
    assert "notes.txt" in err and err.endswith("nothing was uploaded (--allow-local-paths publishes it anyway)")
    api = mock.MagicMock()
    with pytest.raises(publish.PublishError, match="column meta_json"):
        publish.publish(str(run), "org/sample", api=api)
    assert not api.mock_calls

    assert publish.main(_args(run, "--repo-id", "org/sample", "--dry-run", "--allow-local-paths")) == 0
    assert "shards not checked for local paths (--allow-local-paths)" in capsys.readouterr().out
    publish.publish(str(run), "org/sample", api=api, allow_local_paths=True)
    assert api.create_commit.call_count == 1


@pytest.mark.parametrize("where", ["home", "cwd"])
def test_nested_columns_home_and_working_directory_are_searched(run_dir, tmp_path, monkeypatch, where):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    home, cwd = tmp_path / "home" / "alice", tmp_path / "work" / "project"
    home.mkdir(parents=True)
    cwd.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    local = str(home if where == "home" else cwd)
    files = pa.array([[{"path": "src/a.py", "note": None}], [], None,
                      [{"path": "src/b.py", "note": "see"}, {"path": f"{local}/src/b.py", "note": "x"}]],
                     pa.list_(pa.struct([("path", pa.string()), ("note", pa.string())])))
    tags = pa.array(["a", "b", "c", "d"]).dictionary_encode()
    _plant(run / "extra" / "part-0.parquet", pa.table({"id": ["1", "2", "3", "4"], "tags": tags, "files": files}))
    with pytest.raises(publish.PublishError, match=rf"dataset extra: column files\[\]\.path .* holds the local path "
                                                    rf"{re.escape(local)}"):
        publish.plan_publish(str(run), "org/sample")
    # a path merely starting like the root is another path
    files = pa.array([[{"path": f"{local}-old/src/b.py", "note": None}]], files.type)
    _plant(run / "extra" / "part-0.parquet", pa.table({"id": ["1"], "tags": tags[:1], "files": files}))
    publish.plan_publish(str(run), "org/sample")


def test_card_and_manifest_show_no_local_path(run_dir, tmp_path):
    src = tmp_path / "alice" / "data"
    src.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "pipelines" / "samples" / "corpus.jsonl", src / "corpus.jsonl")
    out = tmp_path / "alice" / "runs" / "corpus"
    assert cli_main(["corpus", "--input", str(src / "corpus.jsonl"), "--output", str(out)]) == 0
    local = json.loads((out / "_manifest.json").read_text())
    local["notes"].append(f"decontaminated against {tmp_path}/benchmarks/mmlu, /opt/shared/gpqa.jsonl")
    (out / "_manifest.json").write_text(json.dumps(local, indent=2))

    api = mock.MagicMock()
    publish.publish(str(out), "org/sample", api=api)
    ops = {op.path_in_repo: op.path_or_fileobj for op in api.create_commit.call_args.kwargs["operations"]}
    card, manifest_text = ops["README.md"].decode(), ops["_manifest.json"].decode()
    manifest = json.loads(manifest_text)
    assert manifest["options"] == {"input": ["<local>/corpus.jsonl"], "output": "<local>/corpus"}
    assert manifest["output"] == "<local>/corpus"
    assert manifest["notes"][-1] == "decontaminated against <local>/mmlu, <local>/gpqa.jsonl"
    assert {k: v for k, v in manifest.items() if k not in ("options", "output", "notes")} == {
        k: v for k, v in local.items() if k not in ("options", "output", "notes")}
    assert '"output": "<local>/corpus"' in card and "- note: decontaminated against <local>/mmlu" in card
    for text in (card, manifest_text):
        assert str(tmp_path) not in text and os.getcwd() not in text and "/opt/shared" not in text
        assert re.findall(r"(?<![\w.:/<>-])/(?:tmp|home|root|work|opt|data|Users)\b", text) == []
    assert json.loads((out / "_manifest.json").read_text()) == local  # the local manifest keeps its paths

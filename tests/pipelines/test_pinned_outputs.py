"""Every pipeline's shards on fixed inputs, pinned byte for byte.

The digests were taken before the pipelines became step lists (issue 11) and must not change
with refactors of how a pipeline is wired; a change that means to alter the output updates them
on purpose (run with SHARDSMITH_PRINT_PINS=1 to print the new values). Changed on purpose since:
dedup and rate, whose position-based ids no longer depend on the input's absolute path; dr-sci's duplicates and
rejects, whose subject_confidence values come from the retrained subject model (issue 13, same counts). Inputs: the embedded
samples, the deterministic git repository of the Clean-PR tests, the Dr. SCI sample through the
FakeOpenAIServer test double with a stateless script, and the Verus sample through the fake
``verus`` test double.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from pipelines.cli import main
from tests.pipelines.test_clean_pr import build_shop
from transforms.testing.openai_server import FakeOpenAIServer
from transforms.testing import install_fake_verus

ROOT = Path(__file__).resolve().parents[2]
CORPUS_SAMPLE = ROOT / "pipelines" / "samples" / "corpus.jsonl"
RUBRIC = json.dumps({"items": [{"title": f"Point {i}", "description": f"Mentions point {i}.", "weight": 2}
                               for i in range(7)]})


def stateless_script(body, index):
    """Answers that depend only on the request, so concurrency cannot change them."""
    content = body["messages"][-1]["content"]
    if content.startswith("Write a grading rubric"):
        return RUBRIC
    if content.startswith("You are checking"):
        return "Yes" if hashlib.sha1(content.encode()).digest()[0] % 2 else "No"
    return "The answer is \\boxed{4}." if body.get("seed", 0) % 2 else "\\boxed{20 V}"


def digests(out: Path) -> dict[str, str]:
    """sha256 of every shard and derived file of a finished run, by path."""
    found = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.suffix in (".parquet", ".json") and path.name != "_manifest.json":
            found[str(path.relative_to(out))] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return found


def counts(out: Path) -> dict:
    manifest = json.loads((out / "_manifest.json").read_text())
    return {"stages": [[name, s.get("in"), s.get("out"), s.get("removed"), dict(sorted(s.get("rejected", {}).items()))]
                       for name, s in manifest["stages"].items()],
            "datasets": {name: d["rows"] for name, d in manifest["datasets"].items()}}


def _run(argv: list[str]) -> None:
    assert main(argv) == 0, argv


def run_case(name: str, tmp_path: Path, monkeypatch) -> Path:
    out = tmp_path / "out"
    if name == "corpus":
        _run(["corpus", "--output", str(out)])
    elif name == "dedup":
        _run(["dedup", str(CORPUS_SAMPLE), "--text-column", "text", "--output", str(out)])
    elif name == "rate":
        _run(["rate", str(CORPUS_SAMPLE), "--text-column", "text", "--output", str(out)])
    elif name == "clean-pr":
        shop = build_shop(tmp_path / "repos")
        _run(["clean-pr", "--git-repo", str(shop.path), "--output", str(out)])
    elif name == "dr-sci":
        with FakeOpenAIServer(stateless_script) as server:
            _run(["dr-sci", "--llm-base-url", server.url, "--llm-model", "fake-model",
                  "--llm-cache-dir", str(tmp_path / "cache"), "--rollouts", "4", "--output", str(out)])
    elif name == "verus":
        monkeypatch.setenv("SHARDSMITH_VERUS_WRITABLE", str(tmp_path))  # the double's record file, under a sandbox
        _run(["verus", "--verus", str(install_fake_verus(tmp_path / "bin" / "verus",
                                                             {"FAKE_VERUS_RECORD": tmp_path / "record.jsonl"})), "--verus-cache-dir", str(tmp_path / "vcache"),
              "--output", str(out)])
    return out


PINS_FILE = Path(__file__).parent / "pinned_outputs.json"


@pytest.mark.parametrize("name", ["corpus", "dedup", "rate", "clean-pr", "dr-sci", "verus"])
def test_outputs_are_pinned(name, tmp_path, monkeypatch):
    out = run_case(name, tmp_path, monkeypatch)
    got = {"files": digests(out), **counts(out)}
    if os.environ.get("SHARDSMITH_PRINT_PINS") == "1":
        print(f"PIN {name} {json.dumps(got, sort_keys=True)}")
        return
    assert got == json.loads(PINS_FILE.read_text())[name]

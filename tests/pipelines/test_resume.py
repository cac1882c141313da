"""``--resume`` after a real kill: a Dr. SCI run against the FakeOpenAIServer test double is
SIGKILLed during its rubric stage, then resumed. The stages before the last finished
checkpoint are not run again (no difficulty request reaches the server), rubric answers
cached before the kill are not asked again, and the shards equal those of a run that was
never interrupted. The same for a Verus run killed during verification (the fake ``verus``
test double at the process boundary): verdicts reached before the kill are not redone."""
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.cli import main
from transforms.testing.openai_server import FakeOpenAIServer
from transforms.testing import FAKE_VERUS

RUBRIC = json.dumps({"items": [{"title": f"Point {i}", "description": f"Mentions point {i}.",
                                "category": "Essential" if i < 2 else "Important"} for i in range(7)]})
OPEN_QUESTIONS = [f"Explain in a few sentences why experiment number {i} of the optics lab shows interference "
                  f"fringes when two coherent beams overlap." for i in range(6)]


def is_rubric(body) -> bool:
    return body["messages"][-1]["content"].startswith("Write a grading rubric")


def script(body, index):
    """Deterministic answers: a rubric, a Yes/No verdict, or a boxed answer that depends on the seed."""
    content = body["messages"][-1]["content"]
    if is_rubric(body):
        return RUBRIC
    if content.startswith("You are checking"):
        return "Yes" if body.get("seed", 0) % 2 else "No"
    return "\\boxed{4}" if "2 + 2" in content else f"\\boxed{{fringes {body.get('seed', 0)}}}"


def _sources(tmp_path):
    wi, nr = tmp_path / "wi.jsonl", tmp_path / "nr.jsonl"
    wi.write_text(json.dumps({"id": "easy", "question": "What is 2 + 2 in a physics lab?", "answer": "4",
                              "category": "Physics"}) + "\n")
    nr.write_text("".join(json.dumps({"question": q, "reference_answer": "Because the path difference varies."})
                          + "\n" for q in OPEN_QUESTIONS))
    return ["--source", f"webinstruct_verified={wi}", "--source", f"natural_reasoning={nr}"]


def _argv(tmp_path, server, out, cache):
    # metadata only (rows without a label keep subject null): the shipped classifier calls the templated
    # optics questions mathematics, and open-ended mathematics is dropped before the rubric stage
    return [*_sources(tmp_path), "--subject-classifier", "none", "--llm-base-url", server.url, "--llm-model", "fake", "--llm-cache-dir", str(cache),
            "--llm-max-concurrency", "1", "--llm-batch-size", "1", "--rollouts", "2", "--keep-solved",
            "--output", str(out)]


def _digests(out):
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*.parquet"))}


def _kill_when(process, condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before it could be killed")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the run never reached the point where it should be killed")
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_a_killed_run_resumes_without_redoing_work(tmp_path):
    with FakeOpenAIServer(script, latency=0.1) as server:
        assert main(["dr-sci", *_argv(tmp_path, server, tmp_path / "reference", tmp_path / "cache-ref")]) == 0
        reference = list(server.requests)
        reference_rubrics = sum(is_rubric(r.body) for r in reference)
        assert reference_rubrics == len(OPEN_QUESTIONS)

        start = len(server.requests)
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "dr-sci", *_argv(tmp_path, server, tmp_path / "out", tmp_path / "cache")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _kill_when(process, lambda: sum(is_rubric(r.body) for r in server.requests[start:]) >= 3)
        before_kill = server.requests[start:]
        assert not (tmp_path / "out").exists()
        (partial,) = tmp_path.glob("out.tmp-*")
        done = sorted(p.parent.name for p in partial.glob("_work/checkpoints/*/_DONE"))
        assert done == ["00-prepared", "01-difficulty"]

        start = len(server.requests)
        assert main(["dr-sci", *_argv(tmp_path, server, tmp_path / "out", tmp_path / "cache"), "--resume"]) == 0
        resumed = server.requests[start:]

    assert not any(not is_rubric(r.body) for r in resumed)  # difficulty was not redone
    rubrics_before = sum(is_rubric(r.body) for r in before_kill)
    assert 0 < len(resumed) <= reference_rubrics - rubrics_before + 1  # at most the one in flight is asked again
    assert len(before_kill) + len(resumed) <= len(reference) + 1
    assert _digests(tmp_path / "out") == _digests(tmp_path / "reference")
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["conservation"]["holds"]
    assert any("reused checkpoint(s) of the partial run: prepared, difficulty" in n for n in manifest["notes"])
    assert not list(tmp_path.glob("out.tmp-*"))


# ---- Verus: the verifier's verdicts survive a kill (default cache in the run's work dir)

SAMPLE_VERUS = Path(__file__).resolve().parents[2] / "pipelines" / "samples" / "verus"


def _slow_fake_verus(tmp_path, name):
    """The fake ``verus`` test double behind a wrapper that takes 0.3 s per call and records each call."""
    path = tmp_path / name / "verus"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nsleep 0.3\n"
                    f"FAKE_VERUS_RECORD={shlex.quote(str(path.parent / 'record.jsonl'))} "
                    f"exec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_VERUS))} \"$@\"\n")
    path.chmod(0o755)
    return path


def _verifications(verus) -> int:
    record = verus.parent / "record.jsonl"
    if not record.exists():
        return 0
    calls = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    return sum(1 for c in calls if "argv" in c and "--version" not in c["argv"])


def test_a_killed_verus_run_keeps_its_verdicts(tmp_path, monkeypatch):
    monkeypatch.setenv("SHARDSMITH_VERUS_WRITABLE", str(tmp_path))  # the doubles' record files, under a sandbox
    seeds = tmp_path / "seeds"
    shutil.copytree(SAMPLE_VERUS / "programs", seeds)
    base = (seeds / "seq_max.rs").read_text()
    for i in range(6):
        (seeds / f"seq_max_{i}.rs").write_text(base.replace("fn find_max", f"fn find_max_{i}"))

    def argv(verus, out):
        return ["--seeds", str(seeds), "--verus", str(verus), "--verus-workers", "1", "--verus-batch-size", "1",
                "--output", str(out)]

    reference_verus = _slow_fake_verus(tmp_path, "reference-bin")
    assert main(["verus", *argv(reference_verus, tmp_path / "reference")]) == 0
    total = _verifications(reference_verus)
    assert total >= 7

    verus = _slow_fake_verus(tmp_path, "bin")
    process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "verus", *argv(verus, tmp_path / "out")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _kill_when(process, lambda: _verifications(verus) >= 4)
    before_kill = _verifications(verus)
    (partial,) = tmp_path.glob("out.tmp-*")
    assert list(partial.glob("_work/verus-cache/*"))  # the verdicts so far, in the run's work dir

    assert main(["verus", *argv(verus, tmp_path / "out"), "--resume"]) == 0
    resumed = _verifications(verus) - before_kill
    assert 0 < resumed <= total - before_kill + 1  # at most the verification in flight is run again
    assert _digests(tmp_path / "out") == _digests(tmp_path / "reference")
    assert not list(tmp_path.glob("out.tmp-*")) and not (tmp_path / "out" / "_work").exists()

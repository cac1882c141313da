"""A real model behind the LLM stages: llama-cpp-python's OpenAI-compatible server with
SmolLM2-135M-Instruct on 127.0.0.1 (``transforms.llm.llama_server``), driven through the CLI.

Dr. SCI difficulty (k rollouts, rule and Yes/No verifier grading) and rubrics on a handful of
real questions, and the Verus proof-completion loop with the fake ``verus`` (the test double of
tests/pipelines/test_verus.py). A 135M model answers badly and often off-format, which is the
point: the run must finish, every malformed answer must end as a named reject (never
``error:<Type>``), conservation must hold, the ``--llm-log`` must show what the model saw
(without the key), and a rerun must make no calls (the cache).

Skips with the reason where llama_cpp, its server extras or the model are not installed;
``SHARDSMITH_REQUIRE_REAL_LLM=1`` (set by .ci/run) makes a missing piece a failure.
"""
import hashlib
import json
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from transforms.testing import install_fake_verus
from transforms.llm.llama_server import INSTALL_HINT, MODEL_ALIAS, LlamaServer, missing_pieces

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PROGRAMS = ROOT / "pipelines" / "samples" / "verus" / "programs"
KEY = "sk-real-llm-test-7c1e-DO-NOT-LEAK"  # llama_cpp.server without --api_key ignores it
REQUIRED = os.environ.get("SHARDSMITH_REQUIRE_REAL_LLM") == "1"
MAX_TOKENS = "160"  # keeps a 135M model's rambling to seconds per answer on two cores

QUESTIONS = [  # verifiable (rule-graded) and open-ended (verifier + rubric) science questions
    {"id": "force", "question": "A 2 kg mass accelerates at 3 m/s^2. What net force in newtons acts on it?",
     "answer": "6 N", "category": "Physics"},
    {"id": "ohm", "question": "A resistor of 10 ohms carries a current of 2 A. What is the voltage across it in volts?",
     "answer": "20 V", "category": "Physics"},
    {"id": "moles", "question": "How many grams of water are in 2 moles of water, to the nearest gram?",
     "answer": "36", "category": "Chemistry"},
]
OPEN_ENDED = [
    {"question": "Why does ice float on liquid water although both consist of the same molecules?",
     "reference_answer": "Hydrogen bonds hold ice in an open lattice, so ice is less dense than liquid water."},
    {"question": "Explain why the sky appears blue during the day.",
     "reference_answer": "Air molecules scatter short blue wavelengths of sunlight much more than red ones "
                         "(Rayleigh scattering)."},
]


@pytest.fixture(scope="module")
def server():
    missing = missing_pieces()
    if missing:
        message = f"real LLM server not installed: missing {', '.join(missing)}; {INSTALL_HINT}"
        if REQUIRED:
            pytest.fail(message + " (SHARDSMITH_REQUIRE_REAL_LLM=1)", pytrace=False)
        pytest.skip(message)
    with LlamaServer() as running:
        yield running


@pytest.fixture(autouse=True)
def key_in_env(monkeypatch):
    monkeypatch.setenv("SHARDSMITH_LLM_API_KEY", KEY)


def _manifest(out):
    return json.loads((out / "_manifest.json").read_text())


def _rows(out, dataset):
    folder = out / dataset
    return pq.read_table(folder).to_pylist() if folder.exists() else []


def _digests(out):
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.glob("*/*.parquet"))}


def _log_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _no_key_anywhere(*paths):
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            assert KEY.encode() not in file.read_bytes(), file


def _calls(manifest_usage):
    return sum(counts.get("calls", 0) for counts in manifest_usage.values())


def test_dr_sci_difficulty_and_rubrics_with_a_real_model(server, tmp_path):
    verifiable = tmp_path / "wi.jsonl"
    verifiable.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    open_ended = tmp_path / "nr.jsonl"
    open_ended.write_text("".join(json.dumps(q) + "\n" for q in OPEN_ENDED))
    cache, log = tmp_path / "llm-cache", tmp_path / "llm.jsonl"

    def run(name):
        out = tmp_path / name
        code = main(["dr-sci", "--source", f"webinstruct_verified={verifiable}",
                     "--source", f"natural_reasoning={open_ended}", "--dedup-method", "none",
                     # the LLM stages are under test, not the shipped classifier (which calls the
                     # ice question mathematics, then open_ended_math drops it before the LLM)
                     "--subject-classifier", "none",
                     "--llm-base-url", server.url, "--llm-model", MODEL_ALIAS, "--llm-cache-dir", str(cache),
                     "--llm-log", str(log), "--llm-max-tokens", MAX_TOKENS, "--llm-max-concurrency", "2",
                     "--llm-timeout", "300", "--rollouts", "2", "--output", str(out)])
        assert code in (0, 3)  # 3: finished, but the model got every question rejected
        return out

    first = run("first")
    manifest = _manifest(first)
    assert manifest["conservation"]["holds"], manifest["conservation"]
    assert manifest["conservation"]["read"] == len(QUESTIONS) + len(OPEN_ENDED)
    reasons = Counter(manifest["rejects_by_stage_reason"])
    assert not [r for r in reasons if r.split("/", 1)[1].startswith("error:")], reasons
    allowed = {"difficulty/solved_by_all", "rubrics/bad_rubric"}
    assert set(reasons) <= allowed, reasons
    for reject in _rows(first, "rejects"):
        assert reject["detail"], reject  # a named reason and what was wrong
    questions = _rows(first, "questions")
    for q in questions:
        assert q["n_rollouts"] == 2 and len(q["rollouts"]) == 2 and q["difficulty"] in (0.0, 0.5)
        graders = {r["grader"] for r in q["rollouts"]}
        assert graders <= ({"rule"} if q["split"] == "verifiable" else {"rule", "llm"})
        if q["split"] == "open_ended":
            assert q["rubric_source"] == "generated" and 8 <= len(q["rubrics"]) <= 21
    usage = manifest["dr_sci"]["llm_usage"]
    assert usage["llm:difficulty"]["calls"] >= 2 * (len(QUESTIONS) + len(OPEN_ENDED))
    assert not any(name.startswith("errors:") for counts in usage.values() for name in counts), usage

    lines = _log_lines(log)
    assert len(lines) == _calls(usage)  # one line per answered request, none failed
    assert all(line["answers"] and line["request"]["messages"] and not line["cached"] for line in lines)
    asked = {line["request"]["messages"][-1]["content"] for line in lines}
    assert all(any(q["question"] in text for text in asked) for q in QUESTIONS + OPEN_ENDED)
    assert all(line["request"]["max_tokens"] <= int(MAX_TOKENS) for line in lines)

    second = run("second")
    again = _manifest(second)
    assert _calls(again["dr_sci"]["llm_usage"]) == 0  # every answer from the cache
    assert _digests(second) == _digests(first)
    assert len(_log_lines(log)) == 2 * len(lines) and all(line["cached"] for line in _log_lines(log)[len(lines):])
    _no_key_anywhere(first, second, log)
    print(f"\nDr. SCI with {MODEL_ALIAS}: rejects {dict(reasons)}, kept {len(questions)}, "
          f"usage {json.dumps(usage, sort_keys=True)}")


@pytest.fixture()
def fake_verus(tmp_path) -> Path:
    """The fake ``verus`` double (transforms/testing/fake_verus.py) installed as an executable."""
    return install_fake_verus(tmp_path / "bin" / "verus")


def test_verus_proof_loop_with_a_real_model(server, tmp_path, fake_verus):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in ("binary_search.rs", "sum_lemma.rs"):
        shutil.copy(SAMPLE_PROGRAMS / name, seeds / name)
    log = tmp_path / "llm.jsonl"

    def run(name):
        out = tmp_path / name
        code = main(["verus", "--seeds", str(seeds), "--verus", str(fake_verus),
                     "--verus-cache-dir", str(tmp_path / "vcache"), "--dedup-method", "exact",
                     "--synthesize", "proof", "--synthesis-max-repairs", "1",
                     "--llm-base-url", server.url, "--llm-model", MODEL_ALIAS,
                     "--llm-cache-dir", str(tmp_path / "llm-cache"), "--llm-log", str(log),
                     "--llm-max-tokens", "384", "--llm-timeout", "300", "--output", str(out)])
        assert code == 0
        return out

    first = run("first")
    manifest = _manifest(first)
    assert manifest["conservation"]["holds"], manifest["conservation"]
    reasons = Counter(manifest["rejects_by_stage_reason"])
    assert not [r for r in reasons if r.split("/", 1)[1].startswith("error:")], reasons
    tasks, trajectories = _rows(first, "tasks"), _rows(first, "trajectories")
    assert tasks and len(trajectories) == len(tasks)
    for t in trajectories:
        assert t["loop"] == "proof_completion" and t["model"] == MODEL_ALIAS
        assert t["status"] in ("success", "error", "timeout")
        assistant = [turn for turn in t["turns"] if turn["role"] == "assistant"]
        assert 1 <= len(assistant) <= 2  # the first answer and at most one repair
    summary = manifest["verus"]["synthesis"]["loops_summary"]["proof"]
    assert sum(v for k, v in summary.items() if k.startswith("trajectory:")) == len(tasks), summary
    failed = [name for name in summary if name.startswith("trajectory:") and name != "trajectory:success"]
    rejected = {k: v for k, v in reasons.items() if "synthesis" in k or "not_accepted" in k}
    usage = manifest["verus"]["synthesis"]["llm"]
    calls = _calls(usage)
    assert calls >= len(tasks) and len(_log_lines(log)) == calls
    assert not any(name.startswith("errors:") for counts in usage.values() for name in counts), usage

    second = run("second")
    assert _calls(_manifest(second)["verus"]["synthesis"]["llm"]) == 0
    assert sorted(t["id"] for t in _rows(second, "trajectories")) == sorted(t["id"] for t in trajectories)
    _no_key_anywhere(first, second, log)
    print(f"\nVerus proof loop with {MODEL_ALIAS}: {len(tasks)} tasks, summary {summary}, "
          f"unsuccessful {failed}, rejects {rejected}, calls {calls}")

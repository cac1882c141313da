"""Deadlines of the LLM client against hostile FakeOpenAIServer behaviours (a real HTTP server on
127.0.0.1): a server dripping its answer, Retry-After: 86400, a request and a run out of retry
budget; and the same through the Dr. SCI pipeline, where they become llm:timeout rejects.

Every call runs in a thread joined with a bound (the deadline + 2 s), so a client that would
hang fails the test instead of stalling the suite.
"""
import json
import threading
import time

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from transforms.llm import LlmClient, LlmConfig, LlmError
from transforms.llm.client import API_KEY_ENV_VARS
from transforms.testing.openai_server import FakeOpenAIServer, dripping, rate_limited, server_error

SLACK = 2.0  # seconds beyond a deadline a test allows


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch):
    for name in API_KEY_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def config(server, **overrides):
    settings = dict(max_concurrency=4, max_retries=3, backoff_base=0.01, backoff_max=0.05, timeout=2.0)
    settings.update(overrides)
    return LlmConfig(server.url, "fake-model", **settings)


def bounded(call, bound: float):
    """``call()``'s result (or exception) and its seconds; fails when it runs past ``bound``."""
    outcome = {}

    def target():
        started = time.monotonic()
        try:
            outcome["value"] = call()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome["value"] = exc
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"still running after {bound:g}s"
    return outcome["value"], outcome["seconds"]


def ask(text="q"):
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_dripping_server_cannot_outlive_the_timeout(headers_too):
    # one byte a second: the answer would take minutes, every single read succeeds in time
    with FakeOpenAIServer(lambda request, index: dripping(1.0, headers_too=headers_too)) as server:
        client = LlmClient(config(server, timeout=1.5, max_retries=0))
        error, seconds = bounded(lambda: client.chat(ask()), 1.5 + SLACK)
    assert isinstance(error, LlmError) and error.kind == "timeout" and error.reason == "llm:timeout"
    assert seconds >= 1.4 and "within 1.5s" in error.detail
    assert client.counters()["errors:timeout"] == 1 and server.call_count == 1


def test_retries_of_a_dripping_server_stop_at_the_request_budget():
    with FakeOpenAIServer(lambda request, index: dripping(0.5)) as server:
        client = LlmClient(config(server, timeout=1.0, max_retries=50, request_budget=2.5))
        error, seconds = bounded(lambda: client.chat(ask()), 2.5 + SLACK)
    assert isinstance(error, LlmError) and error.kind == "timeout"
    assert 2 <= server.call_count <= 4 and seconds >= 2.0


def test_retry_after_a_day_is_not_waited_for():
    with FakeOpenAIServer(lambda request, index: rate_limited(86400)) as server:
        client = LlmClient(config(server, backoff_max=60.0))  # the defaults of the other waits
        results, seconds = bounded(lambda: client.chat_many([{"messages": ask(f"q{i}")} for i in range(8)]), SLACK)
    assert all(isinstance(r, LlmError) and r.reason == "llm:timeout" for r in results)
    assert "asked to wait 86400s, more than the 60s honoured" in results[0].detail
    assert "HTTP 429" in results[0].detail and results[0].status == 429
    assert server.call_count == 8  # one attempt each
    assert client.counters()["errors:timeout"] == 8 and client.counters()["retries"] == 0


def test_honoured_retry_after_stops_at_the_request_budget():
    with FakeOpenAIServer(lambda request, index: rate_limited(1)) as server:
        client = LlmClient(config(server, max_retries=100, request_budget=2.5))
        error, seconds = bounded(lambda: client.chat(ask()), 2.5 + SLACK)
    assert isinstance(error, LlmError) and error.kind == "timeout"
    assert "request budget of 2.5s spent (after 3 attempt(s), last HTTP 429" in error.detail
    assert server.call_count == 3 and seconds < 2.5


def test_the_run_retry_budget_makes_later_failures_final():
    with FakeOpenAIServer(lambda request, index: server_error(503)) as server:
        client = LlmClient(config(server, max_retries=5, run_max_retries=3))
        first, _ = bounded(lambda: client.chat_many([{"messages": ask("a")}]), SLACK)
        second, _ = bounded(lambda: client.chat_many([{"messages": ask("b")}]), SLACK)
    # "a" spends the 3 retries of the run (4 calls), "b" gets one call and no retry
    assert server.call_count == 5
    assert all(r.kind == "timeout" for r in first + second)
    assert "retry budget of 3 retries per run spent" in second[0].detail
    assert client.counters()["retries"] == 3


def test_waiting_for_a_request_slot_counts_against_the_budget():
    with FakeOpenAIServer(lambda request, index: dripping(1.0)) as server:
        client = LlmClient(config(server, max_concurrency=1, timeout=1.0, max_retries=0, request_budget=1.5))
        threads = [threading.Thread(target=lambda: pytest.raises(LlmError, client.chat, ask(f"t{i}")))
                   for i in range(4)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(1.5 + SLACK)
        assert not any(t.is_alive() for t in threads) and time.monotonic() - started < 1.5 + SLACK
    assert server.max_in_flight == 1


def _rows(out, dataset):
    return pq.read_table(out / dataset).to_pylist()


@pytest.mark.parametrize("behaviour", ["drip", "retry_after_day"])
def test_pipeline_rejects_llm_timeouts_and_the_manifest_counts_them(tmp_path, behaviour):
    source = tmp_path / "wi.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in [
        {"id": "a", "question": "What is 2 + 2?", "answer": "4", "category": "Mathematics"},
        {"id": "b", "question": "A resistor of 10 ohms carries 2 A. What is the voltage across it?",
         "answer": "20 V", "category": "Physics"}]))
    reply = dripping(1.0) if behaviour == "drip" else rate_limited(86400)
    with FakeOpenAIServer(lambda request, index: reply) as server:
        out = tmp_path / "out"
        argv = ["dr-sci", "--source", f"webinstruct_verified={source}", "--llm-base-url", server.url,
                "--llm-model", "fake-model", "--llm-cache-dir", "none", "--rollouts", "2",
                "--llm-timeout", "1", "--llm-max-retries", "1", "--llm-request-budget", "1.5",
                "--output", str(out)]
        # the run's own overhead (Beam, the other stages) on top of one request budget per question
        code, seconds = bounded(lambda: main(argv), 60)
    assert code == 3  # finished, nothing written: every question was rejected
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["conservation"]["holds"]
    assert manifest["rejects_by_stage_reason"] == {"difficulty/llm:timeout": 2}
    assert manifest["dr_sci"]["llm_usage"]["llm:difficulty"]["errors:timeout"] >= 2
    rejects = _rows(out, "rejects")
    assert {json.loads(r["record_json"])["source_id"] for r in rejects} == {"a", "b"}
    assert all(r["detail"].startswith("timeout after") for r in rejects)

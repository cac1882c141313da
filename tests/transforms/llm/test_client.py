"""The LLM client end to end against FakeOpenAIServer (a real HTTP server on 127.0.0.1)."""
import json
import logging
import pickle
import socket
import subprocess
import sys
import textwrap
import threading
import time
from email.message import Message
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from transforms.io.manifest import counters_from_result, redact_options
from transforms.llm import (
    ChatRequest,
    LlmClient,
    LlmConfig,
    LlmError,
    LlmOptions,
    ResponseCache,
    cache_key,
    config_from_options,
    llm_counters,
    request_body,
)
from transforms.llm.client import API_KEY_ENV_VARS, CACHE_FILE, retry_after_seconds
from transforms.testing.openai_server import (
    Answer,
    FakeOpenAIServer,
    Reply,
    bad_request,
    malformed_json,
    rate_limited,
    server_error,
    slow,
)

ROOT = Path(__file__).resolve().parents[3]
KEY = "sk-test-9f8e7d6c5b4a-DO-NOT-LEAK"


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch):
    for name in API_KEY_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def config(server, cache_dir=None, **overrides):
    """Fast retries for tests: waits of 10-50 ms instead of seconds."""
    settings = dict(max_concurrency=4, max_retries=3, backoff_base=0.01, backoff_max=0.05, timeout=2.0,
                    cache_dir=None if cache_dir is None else str(cache_dir))
    settings.update(overrides)
    url = server if isinstance(server, str) else server.url
    return LlmConfig(url, "fake-model", **settings)


def ask(text):
    return [{"role": "user", "content": text}]


def test_success_speaks_the_openai_protocol():
    with FakeOpenAIServer(replies=[Answer("The answer is \\boxed{4}.", reasoning="2+2")]) as server:
        client = LlmClient(config(server))
        done = client.chat(ask("What is 2+2?"), temperature=1, max_tokens=64, top_p=0.95, seed=7, sample_index=3)
    assert (done.text, done.finish_reason, done.choices[0].reasoning) == ("The answer is \\boxed{4}.", "stop", "2+2")
    assert (done.prompt_tokens, done.completion_tokens, done.cached, done.model) == (3, 4, False, "fake-model")
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions" and "authorization" not in sent.headers
    assert sent.body == {"model": "fake-model", "messages": ask("What is 2+2?"), "temperature": 1.0,
                         "max_tokens": 64, "top_p": 0.95, "seed": 10}  # seed + sample_index
    assert client.counters() == {"cache_hits": 0, "calls": 1, "completion_tokens": 4, "prompt_tokens": 3,
                                 "requests": 1, "retries": 0}


def test_n_choices_and_extra_parameters():
    with FakeOpenAIServer(replies=[Answer(["a", "b", "c"])]) as server:
        done = LlmClient(config(server)).chat(ask("q"), n=3, extra={"stop": ["\n\n"]})
    assert done.texts == ["a", "b", "c"] and server.requests[0].body["n"] == 3
    assert server.requests[0].body["stop"] == ["\n\n"]
    with pytest.raises(ValueError, match="extra may not set"):
        LlmClient(config("http://127.0.0.1:9/v1")).chat(ask("q"), extra={"stream": True})


def test_429_then_success_honours_retry_after():
    with FakeOpenAIServer(replies=[rate_limited(0.3), "fine"]) as server:
        client = LlmClient(config(server, backoff_base=0.001, backoff_max=5.0))
        assert client.chat(ask("q")).text == "fine"
    first, second = server.requests
    assert 0.3 <= second.received_at - first.received_at < 1.5
    assert client.counters()["retries"] == 1 and client.counters()["calls"] == 2


@pytest.mark.parametrize("failure", [server_error(500), server_error(503), malformed_json(),
                                     Reply(200, {"error": {"message": "overloaded"}}),
                                     Answer(["one", "two"])],  # two choices for n=1
                         ids=["500", "503", "malformed_json", "error_body", "wrong_choice_count"])
def test_transient_failure_then_success(failure):
    with FakeOpenAIServer(replies=[failure, "fine"]) as server:
        client = LlmClient(config(server))
        assert client.chat(ask("q")).text == "fine"
    assert server.call_count == 2 and client.counters()["retries"] == 1


def test_timeout_then_success():
    with FakeOpenAIServer(replies=[slow(5.0), "in time"]) as server:
        client = LlmClient(config(server, timeout=0.3))
        started = time.monotonic()
        assert client.chat(ask("q")).text == "in time"
        assert time.monotonic() - started < 2.0
    assert server.call_count == 2


def test_permanent_4xx_is_final_without_retries():
    with FakeOpenAIServer(replies=[bad_request("messages must not be empty")]) as server:
        client = LlmClient(config(server))
        with pytest.raises(LlmError) as caught:
            client.chat(ask("q"))
    error = caught.value
    assert (error.kind, error.status, error.attempts) == ("http_400", 400, 1)
    assert "messages must not be empty" in error.detail
    assert server.call_count == 1 and client.counters()["errors:http_400"] == 1


def test_exhausted_retries_return_an_error_in_chat_many():
    def script(request, call_index):
        return server_error(500) if request["messages"][0]["content"] == "doomed" else "ok"

    with FakeOpenAIServer(script) as server:
        client = LlmClient(config(server, max_retries=2))
        results = client.chat_many([{"messages": ask("fine")}, {"messages": ask("doomed")}])
    assert results[0].text == "ok"
    error = results[1]
    assert isinstance(error, LlmError) and (error.kind, error.attempts) == ("http_500", 3)
    assert error.to_rejected().reason == "llm:http_500"
    assert server.call_count == 4
    counts = client.counters()
    assert (counts["requests"], counts["calls"], counts["retries"], counts["errors:http_500"]) == (2, 4, 2, 1)


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    client = LlmClient(config(f"http://127.0.0.1:{port}/v1", max_retries=1))
    (error,) = client.chat_many([ChatRequest(ask("q"))])
    assert isinstance(error, LlmError) and (error.kind, error.attempts) == ("connection", 2)


def test_chat_many_bounds_concurrency_and_keeps_order():
    with FakeOpenAIServer(latency=0.1) as server:
        client = LlmClient(config(server, max_concurrency=6))
        results = client.chat_many([{"messages": ask(f"q{i}")} for i in range(30)])
    assert [r.text for r in results] == [f"echo: q{i}" for i in range(30)]
    assert server.max_in_flight == 6


def test_chat_from_many_threads_is_bounded_too():
    with FakeOpenAIServer(latency=0.05) as server:
        client = LlmClient(config(server, max_concurrency=3))
        threads = [threading.Thread(target=client.chat, args=(ask(f"t{i}"),)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert server.call_count == 12 and server.max_in_flight == 3


def varied(request, call_index):
    """Answers that differ on every call, as sampling would."""
    return Answer(f"sample {call_index} for {request['messages'][-1]['content']}", completion_tokens=call_index)


def test_second_client_on_the_cache_makes_no_calls_and_returns_identical_data(tmp_path):
    requests = [ChatRequest(ask(f"question {q}"), temperature=1.0, sample_index=k) for q in range(5) for k in range(4)]
    with FakeOpenAIServer(varied) as server:
        first = LlmClient(config(server, tmp_path)).chat_many(requests)
        assert server.call_count == 20
        server.reset()
        second_client = LlmClient(config(server, tmp_path))
        second = second_client.chat_many(requests)
        again = second_client.chat(ask("question 0"), temperature=1.0, sample_index=0)
        assert server.call_count == 0
    assert len({c.text for c in first}) == 20
    assert all(not c.cached for c in first) and all(c.cached for c in second) and again.cached
    strip = lambda c: (c.choices, c.prompt_tokens, c.completion_tokens, c.model, c.request_key)  # noqa: E731
    assert [strip(c) for c in second] == [strip(c) for c in first]
    assert strip(again) == strip(first[0])
    assert second_client.counters() == {"cache_hits": 21, "calls": 0, "completion_tokens": 0, "prompt_tokens": 0,
                                        "requests": 21, "retries": 0}


def test_failures_are_not_cached(tmp_path):
    with FakeOpenAIServer(replies=[bad_request()]) as server:
        assert isinstance(LlmClient(config(server, tmp_path)).chat_many([ChatRequest(ask("q"))])[0], LlmError)
        assert LlmClient(config(server, tmp_path)).chat(ask("q")).text == "echo: q"
        assert server.call_count == 2
    assert len(ResponseCache(tmp_path)) == 1


def test_cache_key_covers_the_request_but_not_url_or_key(tmp_path):
    def key(model="m", **kw):
        request = ChatRequest(ask("q"), **kw)
        return cache_key(request_body(model, request), request.sample_index)

    assert key(temperature=1) == key(temperature=1.0)
    distinct = {key(), key(model="other"), key(temperature=0.7), key(max_tokens=5), key(top_p=0.9), key(seed=1),
                key(sample_index=1), key(n=2), key(extra={"stop": ["x"]})}
    assert len(distinct) == 9
    # another host and another key serve the same cache entries
    with FakeOpenAIServer() as one, FakeOpenAIServer(replies=[server_error()] * 10) as two:
        LlmClient(config(one, tmp_path, api_key="k1")).chat(ask("q"))
        assert LlmClient(config(two, tmp_path, api_key="k2")).chat(ask("q")).text == "echo: q"
        assert two.call_count == 0


def test_cache_is_shared_by_concurrent_processes(tmp_path):
    code = textwrap.dedent("""
        import sys
        from transforms.llm.client import ResponseCache
        cache = ResponseCache(sys.argv[1])
        for i in range(40):
            stored = cache.put(f"k{i}", {"i": i}, {"writer": sys.argv[2], "i": i})
            assert stored["i"] == i
        print("done")
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), name], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    cache = ResponseCache(tmp_path)
    assert len(cache) == 40
    # the first writer won every key and both processes now read the same value
    assert all(cache.get(f"k{i}")["writer"] in ("a", "b") for i in range(40))


def test_api_key_never_leaks(tmp_path, caplog):
    echoed = {"error": {"message": f"Incorrect API key provided: {KEY}"}}
    replies = [Reply(401, echoed), Reply(503, echoed), Reply(200, echoed), "safe answer"]
    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer(replies=replies) as server:
        cfg = config(server, tmp_path, api_key=KEY, max_retries=0)
        client = LlmClient(cfg)
        results = client.chat_many([ChatRequest(ask(f"q{i}")) for i in range(4)])
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {KEY}"}
    errors = [r for r in results if isinstance(r, LlmError)]
    assert sorted(e.kind for e in errors) == ["bad_response", "http_401", "http_503"]
    assert all("<redacted>" in e.detail for e in errors)
    shown = [repr(cfg), str(cfg), repr(client), json.dumps(cfg.describe()), json.dumps(client.counters()),
             caplog.text] + [f"{e!r} {e} {e.detail} {e.to_rejected()}" for e in errors]
    assert not [text for text in shown if KEY in text]
    cache_bytes = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert tmp_path.joinpath(CACHE_FILE).exists() and KEY.encode() not in cache_bytes
    # options carry an explicit key (redacted in the manifest) ...
    opts = PipelineOptions(["--llm-base-url=http://127.0.0.1:9/v1", "--llm-model=m", f"--llm-api-key={KEY}"])
    assert KEY not in json.dumps(redact_options(opts.get_all_options()))
    assert config_from_options(opts).api_key.reveal() == KEY


def test_key_from_environment_is_read_on_the_worker(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAIServer() as server:
        cfg = config(server)
        assert KEY.encode() not in pickle.dumps(cfg)  # the pipeline graph never holds it
        client = pickle.loads(pickle.dumps(LlmClient(cfg)))  # what a worker gets
        client.chat(ask("q"))
        monkeypatch.setenv("SHARDSMITH_LLM_API_KEY", "sk-shardsmith")
        LlmClient(cfg).chat(ask("q2"))
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {KEY}", "Bearer sk-shardsmith"]
    assert cfg.describe()["api_key_set"] is True


class AskBatch(beam.DoFn):
    """Sends each batch of questions in one chat_many, as LLM stages do."""

    def __init__(self, cfg):
        self.cfg = cfg

    def setup(self):
        self.client = LlmClient(self.cfg)

    def process(self, questions):
        for result in self.client.chat_many([{"messages": ask(q)} for q in questions]):
            yield result.text


def test_counters_reach_beam_metrics_from_pool_threads():
    with FakeOpenAIServer(replies=[server_error()]) as server:
        pipeline = beam.Pipeline(runner=FnApiRunner())
        _ = (pipeline | beam.Create([f"q{i}" for i in range(10)])
             | beam.BatchElements(min_batch_size=10, max_batch_size=10) | beam.ParDo(AskBatch(config(server))))
        result = pipeline.run()
        result.wait_until_finish()
    counts = llm_counters(counters_from_result(result))["llm"]
    assert (counts["requests"], counts["calls"], counts["retries"]) == (10, 11, 1)
    assert counts["completion_tokens"] == 20 and counts["prompt_tokens"] == 10


def test_options_and_config():
    assert config_from_options(PipelineOptions([])) is None
    with pytest.raises(ValueError, match="--llm-model"):
        config_from_options(PipelineOptions(["--llm-base-url=http://localhost:8000/v1"]))
    opts = PipelineOptions(["--llm_base_url=http://localhost:8000/v1/", "--llm-model=Qwen/Qwen3-8B",
                            "--llm-max-concurrency=64", "--llm-timeout=30", "--llm-cache-dir=none"])
    cfg = config_from_options(opts)
    assert (cfg.base_url, cfg.model, cfg.max_concurrency, cfg.max_retries, cfg.timeout, cfg.cache_dir) == (
        "http://localhost:8000/v1", "Qwen/Qwen3-8B", 64, 5, 30.0, None)
    assert config_from_options(opts, model="verifier").model == "verifier"
    default = config_from_options(PipelineOptions(["--llm-base-url=http://h/v1", "--llm-model=m"]))
    assert default.cache_dir.endswith("shardsmith/llm") and default.api_key is None
    assert opts.view_as(LlmOptions).llm_max_retries == 5
    with pytest.raises(ValueError):
        LlmConfig("localhost:8000", "m")


def test_retry_after_header_forms():
    def headers(**values):
        message = Message()
        for name, value in values.items():
            message[name.replace("_", "-")] = value
        return message

    assert retry_after_seconds(headers(Retry_After="2")) == 2.0
    assert retry_after_seconds(headers(retry_after_ms="250", Retry_After="9")) == 0.25
    assert 55 < retry_after_seconds(headers(Retry_After=time.strftime(
        "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60)))) <= 60
    assert retry_after_seconds(headers(Retry_After="soon")) is None and retry_after_seconds(headers()) is None


def test_request_log_shows_what_the_model_saw_without_the_key(tmp_path):
    log_path = tmp_path / "logs" / "llm.jsonl"

    def script(request, call_index):
        text = request["messages"][-1]["content"]
        return bad_request("no") if text == "refused" else Answer(f"you said {text}; key {KEY}", reasoning="hm")

    with FakeOpenAIServer(script) as server:
        settings = dict(api_key=KEY, cache_dir=tmp_path / "cache", log_path=log_path)
        with LlmClient(config(server, **settings)) as client:
            client.chat_many([{"messages": ask("first"), "sample_index": 2}, {"messages": ask("refused")}])
        with LlmClient(config(server, **settings)) as again:  # a rerun: answered from the cache
            again.chat(ask("first"), sample_index=2)
    raw = log_path.read_text()
    assert KEY not in raw
    lines = [json.loads(line) for line in raw.splitlines()]
    answered, refused, cached = sorted(lines, key=lambda line: (line["cached"], "error" in line))
    assert answered["request"]["messages"] == ask("first") and answered["sample_index"] == 2
    assert answered["answers"] == [{"text": "you said first; key <redacted>", "finish_reason": "stop",
                                    "reasoning": "hm"}]
    assert (answered["cached"], answered["attempts"], answered["prompt_tokens"]) == (False, 1, 1)
    assert refused["error"]["reason"] == "llm:http_400" and refused["request"]["messages"] == ask("refused")
    assert cached["cached"] and cached["answers"] == answered["answers"] and cached["key"] == answered["key"]
    opts = PipelineOptions(["--llm-base-url=http://h/v1", "--llm-model=m", f"--llm-log={log_path}",
                            "--llm-request-budget=30", "--llm-retry-after-max=5", "--llm-run-max-retries=7"])
    cfg = config_from_options(opts)
    assert (cfg.log_path, cfg.request_budget, cfg.retry_after_max, cfg.run_max_retries) == (str(log_path), 30, 5, 7)


def test_max_tokens_cap_fits_requests_to_a_small_context_window():
    with FakeOpenAIServer() as server:
        client = LlmClient(config(server, max_tokens_cap=256))
        client.chat_many([{"messages": ask("a"), "max_tokens": 8192}, {"messages": ask("b"), "max_tokens": 64},
                          {"messages": ask("c")}])
    assert [r.body.get("max_tokens") for r in sorted(server.requests, key=lambda r: r.body["messages"][0]["content"])
            ] == [256, 64, 256]
    assert request_body("m", ChatRequest(ask("a"), max_tokens=8192), 256) != request_body(
        "m", ChatRequest(ask("a"), max_tokens=8192))  # a capped request has its own cache key
    cfg = config_from_options(PipelineOptions(["--llm-base-url=http://h/v1", "--llm-model=m", "--llm-max-tokens=99"]))
    assert cfg.max_tokens_cap == 99

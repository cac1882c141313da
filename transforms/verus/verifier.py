"""Run the real ``verus`` verifier on one program: isolated, time- and memory-bounded, cached.

Issue 5, stage 4. ``verify(source, config)`` writes the program to a fresh temporary
directory as ``program.rs`` and runs, with that directory as working directory::

    verus program.rs --output-json --error-format=json --multiple-errors N --rlimit R [--num-threads T]
        [--crate-type=lib] EXTRA...

``--crate-type=lib`` is added when the program has no top-level ``fn main`` (``has_main``) and
``extra_args`` name no crate type: rustc would otherwise fail a library-shaped program with
E0601 "main function not found", a ``compile_error`` that says nothing about its proof. Verus's
own test harness passes ``--crate-type lib`` for every test program.

Flag spellings follow Verus's ``source/rust_verify/src/config.rs`` (getopts long options
``output-json``, ``multiple-errors`` (u32, default 2; 0 = at most one error per function),
``rlimit`` (f32 "roughly in seconds" or ``infinity``; 0 rejected; default 10),
``num-threads``, ``version``). ``--error-format=json`` is not Verus's own: Verus hands the
options it does not know to rustc, whose JSON diagnostics then go to stderr; Verus's own
test harness (``source/rust_verify_test/tests/common/mod.rs``, ``run_verus``) passes it the
same way. The relative file name keeps the temp dir out of every span and rendered message;
what still mentions it is scrubbed (``parse_verus_output(work_dir=...)``), so the errors are
the same on every run and machine.

Process. ``start_new_session=True`` puts verus in a new session and process group, with the
z3 it spawns (and the ``rustup run`` / ``rust_verify`` chain of the release launcher,
``source/verus/src/main.rs``). Verus has no wall-clock limit of its own, so after
``timeout_seconds`` the whole group gets SIGTERM, then SIGKILL after ``kill_grace_seconds``
(default 2 s: enough for z3 and rustc to exit on TERM, short next to any timeout). After
every run, timed out or not, the group gets one more SIGKILL so a z3 orphaned by a verus
that crashed cannot outlive it. Descendants that left the group (``setsid``) are found by the
tag every process of the run carries in its environment and killed too, with this process as
their child subreaper (``transforms.contain``). Output is read by two threads into bounded
buffers (``max_output_bytes`` per stream: the first and the last halves are kept), so neither a
flood of diagnostics nor a grandchild that keeps a pipe open can block or exhaust the caller.

Sandbox. With bubblewrap usable on the machine (``transforms.contain.sandbox_status``) and
``sandbox`` on (the default), verus runs in ``bwrap``: its own PID namespace (everything left
in it dies with it), no network, the filesystem read-only except the temp dir and
``writable_paths`` (and ``$SHARDSMITH_VERUS_WRITABLE``). Without bubblewrap it runs unsandboxed with the same time and memory limits,
and the run says so once (``sandbox_note``, logged and put in the manifest notes).

Environment. Only what Verus needs: ``PATH``; ``HOME`` and ``TMPDIR`` = the temp dir
(so whatever verus, rustup or z3 write there disappears with it); ``LANG=C``;
``VERUS_Z3_PATH``, ``VERUS_CVC5_PATH`` and ``VERUS_SINGULAR_PATH`` when set (solver
locations read by ``rust_verify``; the launcher otherwise finds ``./z3`` next to itself);
``RUSTUP_HOME`` and ``CARGO_HOME``, passed when set and otherwise pointed at the real
home's ``.rustup`` / ``.cargo`` -- the release launcher runs ``rustup run <toolchain>``,
which would not find the toolchain under the temporary ``HOME``. Nothing else: API keys,
cloud credentials and tokens never reach the verifier.

Memory. ``memory_limit_mb`` sets RLIMIT_AS for verus and everything it starts, through
``/bin/sh -c 'ulimit -v KB; exec verus ...'`` (the shell execs, so the pid and group are
verus's own). Not ``preexec_fn``: it makes subprocess fork() instead of vfork (slow for a
large Beam worker) and is unsafe with threads -- ``verify_many`` runs a thread pool, and a
child forked while another thread holds a lock (allocator, import, logging) can deadlock
before exec. RLIMIT_AS counts reserved address space, not resident memory: rustc's thread
stacks and glibc's per-thread malloc arenas reserve a lot, so give several GB (e.g. 8192)
and keep ``num_threads`` small when setting it. Off by default.

Outcomes (``schemas.verus.VERIFICATION_STATUSES``), decided by the pure
``parse_verus_output(stdout, stderr, returncode, timed_out)``:

* ``timeout``: killed after ``timeout_seconds``.
* ``crash``: a ``verification-results`` object of the wrong shape (``verified: "lots"``,
  ``errors: -3``: ``report_problem`` names the field), killed by a signal (OOM killer, segfault, abort after a failed allocation),
  exit 101 (Rust panic / rustc ICE; also the release launcher when rust_verify died by a
  signal: it unwraps ``status.code()``), 128 (launcher: no verus-root / could not start
  rust_verify), 125/126/127 (memory-limit wrapper / exec failures), any other unexpected
  exit, no ``verification-results`` JSON where one was due, or a report that contradicts
  the exit code.
* ``compile_error``: the program did not reach (all of) verification: ``encountered-vir-error``
  (mode / unsupported-feature errors), ``encountered-error`` with no verification error, or
  -- older Verus, without ``encountered-error`` -- exit 1 with rustc errors while the report
  says success with 0 verified / 0 errors.
* ``failed``: ``errors`` > 0 verification errors.
* ``verified``: exit 0 and the report agrees.

stdout shapes (``verification-results`` object of ``--output-json``; the document also carries
``"verus": {version, profile, platform, toolchain, commit}`` and, with ``--time``, ``times-ms``):

* current Verus, ``source/rust_verify/src/main.rs``: ``{"encountered-error": status.is_err(),
  "encountered-vir-error": bool}`` + ``"success"`` when verifying the entire crate + ``verified``,
  ``errors``, ``is-verifying-entire-crate`` unless a VIR error occurred. Pretty-printed, exit 1
  whenever the rustc run returned an error.
* older Verus, same file before ``encountered-error`` existed: ``{"encountered-vir-error": bool}``,
  ``"success": !vir_error && errors == 0`` (so *true* after a plain rustc error), then the counts.

stderr shape: one rustc JSON diagnostic per line, ``{"$message_type": "diagnostic", "message",
"code": {"code", "explanation"} | null, "level", "spans": [{"file_name", "line_start",
"line_end", "column_start", "column_end", "byte_start", "byte_end", "is_primary", "label",
"text"}], "children", "rendered"}`` (field set from Verus's test harness, ``Diagnostic`` /
``DiagnosticSpan`` in ``rust_verify_test/tests/common/mod.rs``; ``$message_type`` is absent
from older rustc). As in that harness's ``parse_diags``: lines that are not JSON (e.g.
Verus's ``warning: verus was compiled in debug mode``) are skipped, as are ``failure-note``
diagnostics and the error ``aborting due to [N] previous error[s]``. Errors are the
``error``-level diagnostics; warnings and notes are dropped.

``verus --version`` prints ``Verus`` then ``  Version: <v>``, ``  Profile:``, ``  Platform:``,
``  Toolchain:`` lines (``Display for VerusBuildInfo`` in ``source/rust_verify/src/util.rs``;
``--version --output-json`` prints ``{"verus": {"version": ...}}``). The version is asked once
per binary (path, size, mtime).

Cache. Results live in ``<cache_dir>/verus_results.sqlite3`` (WAL; processes on one machine
share it), keyed by the sha256 of the program source, the Verus version (plus the binary's
identity when the version is ``Unknown``, as for builds made outside vargo) and the options
that can change the verdict: ``rlimit``, ``multiple_errors``, ``extra_args`` (and whether the
program runs as a library, ``--crate-type=lib``). Timeout,
memory limit, thread count and output caps only decide whether a run finishes, so they are
left out; instead a cached ``timeout`` is reused only when the new ``timeout_seconds`` is not
longer than the one that timed out (a longer run replaces it), and ``crash`` results -- most
often a broken installation -- are never stored. Hits come back with ``cached=True``.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from schemas.verus import VERIFICATION_STATUSES
from transforms.contain import TOKEN_VARIABLE, contained, kill_tagged, sandbox_argv, sandbox_status
from transforms.io.sqlite_store import SqliteStore
from transforms.verus.syntax import VerusSyntaxError, match_delimiters, tokenize

LOG = logging.getLogger(__name__)
# Extra paths the sandboxed verus may write (os.pathsep-separated), read where verus runs: for
# places that outlive the temp dir, such as a test double's record file.
WRITABLE_ENV = "SHARDSMITH_VERUS_WRITABLE"

PROGRAM_FILE_NAME = "program.rs"
DEFAULT_RLIMIT = 10.0          # Verus's DEFAULT_RLIMIT_SECS
DEFAULT_MULTIPLE_ERRORS = 2    # Verus's default for --multiple-errors
VERSION_TIMEOUT_SECONDS = 60.0
TAIL_CHARS = 4000              # stdout_tail / stderr_tail length
MAX_ERRORS = 100               # error diagnostics kept per result
CACHE_FILE = "verus_results.sqlite3"
CACHE_FORMAT = 1               # part of every cache key; bump when the stored form changes
UNKNOWN_VERSION = "unknown"

# Environment variables handed to verus unchanged when set (see the module docstring).
SOLVER_ENV_VARS = ("VERUS_Z3_PATH", "VERUS_CVC5_PATH", "VERUS_SINGULAR_PATH")
# Sets RLIMIT_AS (KiB) for the command that follows, then execs it: $1 is the limit.
MEMORY_LIMIT_SCRIPT = 'ulimit -v "$1" || exit 125; shift; exec "$@"'
MEMORY_LIMIT_EXIT = 125

# Verus's own harness skips this error diagnostic (rust_verify_test/tests/common/mod.rs).
_ABORTING_RE = re.compile(r"^aborting due to( [0-9]+)? previous errors?")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_VERSION_LINE_RE = re.compile(r"^\s*Version:\s*(\S+)", re.MULTILINE)

# Exit codes with a known meaning, for crash details.
_EXIT_MEANINGS = {
    101: "Rust panic or internal compiler error",
    MEMORY_LIMIT_EXIT: "the memory-limit wrapper could not set ulimit -v",
    126: "the verus binary is not executable",
    127: "the verus binary was not found",
    128: "the verus launcher found no verus-root or could not start rust_verify",
}


class VerusNotFoundError(FileNotFoundError):
    """No ``verus`` binary: from the config, ``VERUS_PATH`` or ``PATH``."""


@dataclass(frozen=True)
class VerusConfig:
    """How to find and run verus. Picklable, so a Beam ``DoFn`` can carry it.

    ``binary``: a path or a command name; when None, ``$VERUS_PATH`` (the executable or the
    directory of an unpacked release), then ``verus`` on ``PATH``. ``timeout_seconds`` is
    wall-clock for the whole process group; ``memory_limit_mb`` is RLIMIT_AS (None = off);
    ``num_threads`` is passed as ``--num-threads`` (Verus's default is all cores but one, which
    oversubscribes the machine when ``verify_many`` runs several verus at once); ``cache_dir``
    None turns the cache off.
    """

    binary: str | None = None
    rlimit: float = DEFAULT_RLIMIT
    multiple_errors: int = DEFAULT_MULTIPLE_ERRORS
    timeout_seconds: float = 300.0
    memory_limit_mb: int | None = None
    extra_args: tuple[str, ...] = ()
    cache_dir: str | None = None
    num_threads: int | None = None
    kill_grace_seconds: float = 2.0
    max_output_bytes: int = 8 * 2**20
    sandbox: bool = True
    writable_paths: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "extra_args", tuple(str(a) for a in self.extra_args))
        object.__setattr__(self, "writable_paths", tuple(str(p) for p in self.writable_paths))
        if not (self.rlimit > 0):
            raise ValueError("rlimit must be > 0 (Verus rejects 0); use math.inf for no limit")
        if self.multiple_errors < 0:
            raise ValueError("multiple_errors must be >= 0")
        if not (self.timeout_seconds > 0) or self.kill_grace_seconds < 0:
            raise ValueError("timeout_seconds must be > 0 and kill_grace_seconds >= 0")
        if self.memory_limit_mb is not None and self.memory_limit_mb <= 0:
            raise ValueError("memory_limit_mb must be > 0 (or None for no limit)")
        if self.num_threads is not None and self.num_threads <= 0:
            raise ValueError("num_threads must be > 0 (or None for Verus's default)")
        if self.max_output_bytes < 1024:
            raise ValueError("max_output_bytes must be >= 1024")

    def verdict_options(self) -> dict:
        """The options that can change a verdict: the cache key's share of the config."""
        return {"rlimit": format_rlimit(self.rlimit), "multiple_errors": self.multiple_errors,
                "extra_args": list(self.extra_args)}

    def describe(self) -> dict:
        """JSON-able settings for a run manifest."""
        return dataclasses.asdict(self) | {"extra_args": list(self.extra_args),
                                           "writable_paths": list(self.writable_paths)}


@dataclass(frozen=True)
class VerificationResult:
    """One verdict. ``errors`` are the error diagnostics: ``{message, level, code, lines, spans,
    children, rendered}``; ``n_verified`` / ``n_errors`` come from ``verification-results`` and
    are None when verus did not report them (VIR error, timeout, crash). ``detail`` says why a
    verdict that is not ``verified`` / ``failed`` was given."""

    status: str
    n_verified: int | None = None
    n_errors: int | None = None
    errors: list = field(default_factory=list)
    stdout_tail: str = ""
    stderr_tail: str = ""
    seconds: float = 0.0
    verus_version: str | None = None
    cached: bool = False
    returncode: int | None = None
    detail: str = ""

    def __post_init__(self):
        if self.status not in VERIFICATION_STATUSES:
            raise ValueError(f"unknown verification status {self.status!r}")

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    def error_messages(self) -> list[str]:
        """The errors as text, in order: each diagnostic's rendered form (or level: message)."""
        return [e.get("rendered") or f"{e.get('level', 'error')}: {e.get('message', '')}" for e in self.errors]

    def record_fields(self) -> dict:
        """The verification columns of ``VERUS_PROGRAM_SCHEMA`` (``accepted`` is decided elsewhere)."""
        return {"verification_status": self.status, "verus_version": self.verus_version,
                "n_verified": self.n_verified, "n_errors": self.n_errors,
                "verification_errors": self.error_messages()}

    def to_json(self) -> str:
        """Canonical JSON of the result (``cached`` left out: it describes a lookup, not the run)."""
        data = dataclasses.asdict(self)
        data.pop("cached")
        return json.dumps(data, sort_keys=True, ensure_ascii=True)

    @classmethod
    def from_json(cls, text: str, cached: bool = False) -> "VerificationResult":
        data = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names}, cached=cached)


def skipped_record_fields() -> dict:
    """The verification columns when verification was skipped (no verus): all null."""
    return {"verification_status": None, "verus_version": None, "n_verified": None,
            "n_errors": None, "verification_errors": None}


# --------------------------------------------------------------------------- finding verus


def _executable(path: str) -> str | None:
    """``path`` made absolute when it is an executable file, else None."""
    return os.path.abspath(path) if os.path.isfile(path) and os.access(path, os.X_OK) else None


def find_verus(config: VerusConfig | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """Absolute path of the verus to run, or None when there is none.

    Order: ``config.binary`` (a path, or a name looked up on ``PATH``; when given and not
    found the answer is None, never another verus), ``$VERUS_PATH`` (the executable, or the
    directory of an unpacked release holding ``verus``), then ``verus`` on ``PATH``.
    """
    environ = os.environ if environ is None else environ
    search_path = environ.get("PATH", "")
    if config is not None and config.binary:
        binary = os.path.expanduser(config.binary)
        if os.sep in binary:
            return _executable(binary)
        found = shutil.which(binary, path=search_path)
        return os.path.abspath(found) if found else None
    from_env = environ.get("VERUS_PATH")
    if from_env:
        from_env = os.path.expanduser(from_env)
        return _executable(os.path.join(from_env, "verus") if os.path.isdir(from_env) else from_env)
    found = shutil.which("verus", path=search_path)
    return os.path.abspath(found) if found else None


def parse_version_output(text: str) -> str | None:
    """The version in ``verus --version`` output (plain or ``--output-json``), or None."""
    match = _VERSION_LINE_RE.search(text)
    if match:
        return match.group(1)
    try:
        data = json.loads(text)
        version = data.get("verus", {}).get("version") if isinstance(data, dict) else None
        if isinstance(version, str) and version:
            return version
    except ValueError:
        pass
    for line in text.splitlines():
        line = line.strip()
        if line and any(c.isdigit() for c in line):
            return line[:100]
    return None


@functools.lru_cache(maxsize=64)
def _version_of(path: str, size: int, mtime_ns: int) -> str:
    """Run ``verus --version`` once per binary identity (path, size, mtime)."""
    with tempfile.TemporaryDirectory(prefix="shardsmith-verus-") as work_dir:
        run = run_process_group([path, "--version"], cwd=work_dir, env=trimmed_environment(work_dir),
                                timeout_seconds=VERSION_TIMEOUT_SECONDS, kill_grace_seconds=1.0,
                                max_output_bytes=64 * 1024)
    if run.timed_out or run.returncode != 0:
        return UNKNOWN_VERSION
    return parse_version_output(run.stdout) or UNKNOWN_VERSION


_VERSION_LOCK = threading.Lock()


def verus_version(path: str) -> str:
    """Version string of the verus at ``path`` (``unknown`` when it cannot tell); cached per binary.

    Serialized, so the threads of ``verify_many`` ask a new binary once, not once each.
    """
    real = os.path.realpath(path)
    stat = os.stat(real)
    with _VERSION_LOCK:
        return _version_of(real, stat.st_size, stat.st_mtime_ns)


def _version_key(path: str, version: str) -> str:
    """The version as the cache sees it: an uninformative one is tied to the binary itself."""
    if version.lower() != UNKNOWN_VERSION:
        return version
    real = os.path.realpath(path)
    stat = os.stat(real)
    return f"{version}@{real}:{stat.st_size}:{stat.st_mtime_ns}"


# --------------------------------------------------------------------------- command and environment


def format_rlimit(rlimit: float) -> str:
    """``--rlimit`` value as Verus parses it: an f32, or ``infinity``."""
    if math.isinf(rlimit):
        return "infinity"
    return f"{float(rlimit):g}"


_MAIN = re.compile(r"\bfn\s+main\s*\(")


def has_main(program_source: str) -> bool:
    """Whether the crate root defines ``fn main``: at the top level or directly in a top-level
    ``verus! { }`` (not in a ``mod``, ``impl`` or fn body). Source that does not lex is judged by
    a regular expression."""
    try:
        tokens, _ = tokenize(program_source)
        matching = match_delimiters(tokens)
    except VerusSyntaxError:
        return bool(_MAIN.search(program_source))
    top = set()  # indices of the brace groups that are the crate root: verus! bodies at depth 0
    depth = 0
    for i, tok in enumerate(tokens):
        if tok.text in ("{", "(", "["):
            if depth == 0 and i >= 2 and tokens[i - 1].text == "!" and tokens[i - 2].text == "verus":
                top.add(i)
            depth += 1
        elif tok.text in ("}", ")", "]"):
            depth -= 1
        elif (tok.text == "fn" and i + 2 < len(tokens) and tokens[i + 1].text == "main"
              and tokens[i + 2].text in ("(", "<")):
            open_groups = [j for j in top if j < i < matching[j]]
            if depth == 0 or (depth == 1 and open_groups):
                return True
    return False


def _names_crate_type(args: Sequence[str]) -> bool:
    return any(a == "--crate-type" or a.startswith("--crate-type=") for a in args)


def verus_command(binary: str, config: VerusConfig, file_name: str = PROGRAM_FILE_NAME,
                  library: bool = False) -> list[str]:
    """argv of one verification run (wrapped in the memory limit when one is set); ``library``:
    the program has no ``fn main`` (``--crate-type=lib`` unless ``extra_args`` set a crate type)."""
    argv = [binary, file_name, "--output-json", "--error-format=json",
            "--multiple-errors", str(config.multiple_errors), "--rlimit", format_rlimit(config.rlimit)]
    if config.num_threads is not None:
        argv += ["--num-threads", str(config.num_threads)]
    if library and not _names_crate_type(config.extra_args):
        argv.append("--crate-type=lib")
    argv += list(config.extra_args)
    return with_memory_limit(argv, config.memory_limit_mb)


def with_memory_limit(argv: Sequence[str], memory_limit_mb: int | None) -> list[str]:
    """``argv`` run under RLIMIT_AS = ``memory_limit_mb`` via ``sh -c 'ulimit -v'`` + exec."""
    if memory_limit_mb is None:
        return list(argv)
    return ["/bin/sh", "-c", MEMORY_LIMIT_SCRIPT, "shardsmith-verus-memory-limit",
            str(int(memory_limit_mb) * 1024), *argv]


def trimmed_environment(work_dir: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment verus runs with: PATH, HOME/TMPDIR = ``work_dir``, LANG=C, solver paths,
    and the rustup/cargo homes (from the environment or the real home). Nothing else."""
    environ = os.environ if environ is None else environ
    env = {"PATH": environ.get("PATH") or os.defpath, "HOME": work_dir, "TMPDIR": work_dir, "LANG": "C"}
    for name in SOLVER_ENV_VARS:
        if environ.get(name):
            env[name] = environ[name]
    real_home = environ.get("HOME") or os.path.expanduser("~")
    for name, default_dir in (("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")):
        if environ.get(name):
            env[name] = environ[name]
        elif real_home and os.path.isdir(os.path.join(real_home, default_dir)):
            env[name] = os.path.join(real_home, default_dir)
    return env


# --------------------------------------------------------------------------- running a process group


@dataclass(frozen=True)
class ProcessRun:
    """What a bounded run produced. ``returncode`` is negative for a signal (subprocess style)
    and None when the process could not be started (``spawn_error`` says why)."""

    stdout: str
    stderr: str
    returncode: int | None
    timed_out: bool
    seconds: float
    spawn_error: str | None = None


class _BoundedCapture:
    """Bytes of one pipe, at most ``limit``: the first half and the latest half are kept."""

    def __init__(self, limit: int):
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0
        self.lock = threading.Lock()

    def add(self, chunk: bytes) -> None:
        with self.lock:
            room = self.head_limit - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                if len(self.tail) > 2 * self.tail_limit:
                    self._trim()

    def _trim(self) -> None:
        excess = len(self.tail) - self.tail_limit
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def drain(self, fd: int) -> None:
        """Read ``fd`` until EOF (runs in a reader thread)."""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.add(chunk)

    def text(self) -> str:
        with self.lock:
            self._trim()
            marker = f"\n[... {self.dropped} bytes dropped ...]\n".encode() if self.dropped else b""
            return bytes(self.head + marker + self.tail).decode("utf-8", "replace")


def _signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to a process group; a group that is already gone is fine."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_group(proc: subprocess.Popen, grace_seconds: float) -> None:
    """SIGTERM the group, give it ``grace_seconds``, then SIGKILL it and reap the leader."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def run_process_group(argv: Sequence[str], *, cwd: str, env: Mapping[str, str], timeout_seconds: float,
                      kill_grace_seconds: float, max_output_bytes: int) -> ProcessRun:
    """Run ``argv`` as the leader of a new process group with a wall-clock limit on the group."""
    with contained(env) as tagged_env:  # on the way out: every descendant, in the group or not, is killed
        return _run_group(argv, cwd=cwd, env=tagged_env, timeout_seconds=timeout_seconds,
                          kill_grace_seconds=kill_grace_seconds, max_output_bytes=max_output_bytes)


def _run_group(argv: Sequence[str], *, cwd: str, env: Mapping[str, str], timeout_seconds: float,
               kill_grace_seconds: float, max_output_bytes: int) -> ProcessRun:
    start = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        return ProcessRun("", "", None, False, time.monotonic() - start, f"{type(exc).__name__}: {exc}")
    captures = (_BoundedCapture(max_output_bytes), _BoundedCapture(max_output_bytes))
    readers = [threading.Thread(target=capture.drain, args=(pipe.fileno(),), daemon=True)
               for capture, pipe in zip(captures, (proc.stdout, proc.stderr))]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop_group(proc, kill_grace_seconds)
    except BaseException:  # KeyboardInterrupt and the like: never leave verus and z3 running
        _stop_group(proc, 0.0)
        raise
    _signal_group(proc.pid, signal.SIGKILL)  # members that outlived the leader (an orphaned z3)
    kill_tagged(env[TOKEN_VARIABLE])  # and those that left the group (setsid), before reading to EOF
    for reader in readers:
        # Anything still holding a pipe now escaped the tag: the output so far is kept and the
        # daemon reader is left to finish on its own.
        reader.join(timeout=kill_grace_seconds + 1.0)
    if not any(reader.is_alive() for reader in readers):
        proc.stdout.close()
        proc.stderr.close()
    return ProcessRun(captures[0].text(), captures[1].text(), proc.returncode, timed_out,
                      time.monotonic() - start)


# --------------------------------------------------------------------------- parsing


def find_verus_report(stdout: str) -> dict | None:
    """The ``--output-json`` document on stdout (the last JSON object with ``verification-results``).

    Verus prints it pretty, after anything else it printed; a launcher may add lines around it.
    """
    text = stdout.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
        if isinstance(data, dict) and "verification-results" in data:
            return data
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"(?m)^\{", stdout)]
    for start in reversed(starts):
        try:
            data, _ = decoder.raw_decode(stdout, start)
        except ValueError:
            continue
        if isinstance(data, dict) and "verification-results" in data:
            return data
    return None


def parse_diagnostics(stderr: str) -> list[dict]:
    """The rustc JSON diagnostics on stderr, one per line; other lines are skipped."""
    diagnostics = []
    for line in stderr.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("message"), str) or "level" not in data:
            continue
        if data.get("$message_type", "diagnostic") != "diagnostic":  # artifact, future_incompat, ...
            continue
        diagnostics.append(data)
    return diagnostics


def _is_error(diagnostic: Mapping[str, Any]) -> bool:
    """An error that counts: level ``error`` (or an ICE's ``error: internal compiler error``),
    not the closing ``aborting due to ...``."""
    level = str(diagnostic.get("level", ""))
    return level.startswith("error") and not _ABORTING_RE.match(diagnostic.get("message", ""))


def _scrub(text: str, work_dirs: Sequence[str]) -> str:
    """``text`` without ANSI colours and without the temp dir's path."""
    text = _ANSI_RE.sub("", text)
    for work_dir in work_dirs:
        text = text.replace(work_dir + os.sep, "").replace(work_dir, ".")
    return text


def error_entry(diagnostic: Mapping[str, Any], work_dirs: Sequence[str] = ()) -> dict:
    """One error of a result: message, level, code, primary lines, spans, child notes, rendered."""
    code = diagnostic.get("code")
    if isinstance(code, Mapping):
        code = code.get("code")
    spans = []
    for span in diagnostic.get("spans") or []:
        if not isinstance(span, Mapping):
            continue
        spans.append({
            "file_name": _scrub(str(span.get("file_name", "")), work_dirs),
            "line_start": span.get("line_start"), "line_end": span.get("line_end"),
            "column_start": span.get("column_start"), "column_end": span.get("column_end"),
            "is_primary": bool(span.get("is_primary")), "label": span.get("label"),
        })
    lines = sorted({s["line_start"] for s in spans if s["is_primary"] and isinstance(s["line_start"], int)})
    children = [{"level": c.get("level"), "message": _scrub(str(c.get("message", "")), work_dirs)}
                for c in diagnostic.get("children") or [] if isinstance(c, Mapping)]
    rendered = diagnostic.get("rendered")
    return {
        "message": _scrub(diagnostic.get("message", ""), work_dirs),
        "level": str(diagnostic.get("level", "error")),
        "code": code if isinstance(code, str) else None,
        "lines": lines,
        "spans": spans,
        "children": children,
        "rendered": _scrub(rendered, work_dirs).rstrip() if isinstance(rendered, str) else None,
    }


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


# The fields of ``verification-results`` and what each must be when present (Verus's main.rs).
REPORT_FIELDS = {"encountered-error": "bool", "encountered-vir-error": "bool", "success": "bool",
                 "verified": "count", "errors": "count", "is-verifying-entire-crate": "bool"}


def report_problem(results: Mapping[str, Any]) -> str | None:
    """Why a ``verification-results`` object does not fit Verus's schema (None: it does).

    Known fields must have their type (a count is a non-negative int, not a bool); a report
    that is not a VIR error must carry both counts.
    """
    for name, kind in REPORT_FIELDS.items():
        if name not in results:
            continue
        value = results[name]
        if kind == "bool" and not isinstance(value, bool):
            return f"{name} is {json.dumps(value)[:40]}, not true/false"
        if kind == "count" and _count(value) is None:
            return f"{name} is {json.dumps(value)[:40]}, not a count"
    if results.get("encountered-vir-error") is not True:
        missing = [name for name in ("verified", "errors") if name not in results]
        if missing:
            return f"no {' or '.join(missing)} count"
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def classify(results: Mapping[str, Any] | None, error_count: int, returncode: int | None,
             timed_out: bool) -> tuple[str, str]:
    """(status, detail) from the ``verification-results`` object (or None), the number of error
    diagnostics on stderr, the exit code and whether the run was killed for time."""
    if timed_out:
        return "timeout", "killed after the wall-clock timeout"
    if returncode is None:
        return "crash", "verus did not run"
    if returncode < 0:
        name = _signal_name(-returncode)
        hint = " (out of memory?)" if -returncode == signal.SIGKILL else ""
        return "crash", f"killed by {name}{hint}"
    if returncode not in (0, 1):
        meaning = _EXIT_MEANINGS.get(returncode, "unexpected exit code")
        return "crash", f"exit {returncode}: {meaning}"
    if results is None:
        if returncode == 1 and error_count:
            return "compile_error", "rustc errors and no verification-results on stdout"
        return "crash", f"exit {returncode} without verification-results on stdout"
    problem = report_problem(results)
    if problem is not None:
        return "crash", f"malformed verification-results: {problem}"
    if results.get("encountered-vir-error") is True:
        return "compile_error", "encountered-vir-error"
    n_errors = _count(results.get("errors"))
    if n_errors:
        return "failed", f"{n_errors} verification error(s)"
    if "encountered-error" in results:
        if results["encountered-error"] is True:
            return "compile_error", "encountered-error without verification errors"
    elif returncode == 1 and error_count:
        # Older Verus (no encountered-error) reports success with 0 verified / 0 errors
        # after a rustc error; the exit code and the diagnostics tell the truth.
        return "compile_error", "exit 1 with rustc errors (older Verus reported success)"
    if returncode == 0 and results.get("success") is not False and not error_count:
        return "verified", ""
    return "crash", f"exit {returncode} contradicts verification-results {json.dumps(dict(results), sort_keys=True)}"


def parse_verus_output(stdout: str, stderr: str, returncode: int | None, timed_out: bool, *,
                       work_dir: str | None = None) -> VerificationResult:
    """The verdict of one verus run from what it printed and how it ended (pure).

    ``work_dir``: the run's temp dir, scrubbed from messages and tails. ``seconds`` and
    ``verus_version`` are left for the caller to fill in.
    """
    work_dirs = []
    if work_dir:
        work_dirs = sorted({work_dir.rstrip(os.sep), os.path.realpath(work_dir)}, key=len, reverse=True)
    report = find_verus_report(stdout)
    results = report.get("verification-results") if report else None
    if not isinstance(results, dict):
        results = None
    errors = [error_entry(d, work_dirs) for d in parse_diagnostics(stderr) if _is_error(d)]
    status, detail = classify(results, len(errors), returncode, timed_out)
    return VerificationResult(
        status=status,
        n_verified=_count(results.get("verified")) if results else None,
        n_errors=_count(results.get("errors")) if results else None,
        errors=errors[:MAX_ERRORS],
        stdout_tail=_scrub(stdout[-TAIL_CHARS:], work_dirs),
        stderr_tail=_scrub(stderr[-TAIL_CHARS:], work_dirs),
        returncode=returncode,
        detail=detail,
    )


# --------------------------------------------------------------------------- cache


def cache_key(program_source: str, verus_version: str, config: VerusConfig) -> str:
    """sha256 of the program, the Verus version and the options that can change the verdict."""
    payload = {"format": CACHE_FORMAT, "program": program_source, "verus_version": verus_version,
               "options": config.verdict_options()}
    if not has_main(program_source):  # run with --crate-type=lib: not what an older key ran
        payload["library"] = True
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


class VerificationCache(SqliteStore):
    """Verdicts on disk in one SQLite file (WAL mode) that processes on one machine share.

    A ``timeout`` row records the limit it ran under and answers only runs with no longer a
    limit; any later result for its key replaces it. Other verdicts are final: the first stored
    wins. ``crash`` is never stored.
    """

    file_name = CACHE_FILE
    schema_sql = ("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, status TEXT NOT NULL, "
                  "timeout_seconds REAL NOT NULL, result TEXT NOT NULL, created_at REAL NOT NULL) "
                  "WITHOUT ROWID")

    def get(self, key: str, timeout_seconds: float) -> VerificationResult | None:
        """The stored verdict for ``key`` that still holds for a run with ``timeout_seconds``."""
        with self._lock:
            row = self._connection().execute(
                "SELECT status, timeout_seconds, result FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        status, stored_timeout, result = row
        if status == "timeout" and timeout_seconds > stored_timeout:
            return None
        return VerificationResult.from_json(result, cached=True)

    def put(self, key: str, result: VerificationResult, timeout_seconds: float) -> None:
        """Store ``result`` (not a crash); it replaces only a stored timeout."""
        if result.status == "crash":
            return
        with self._lock:
            self._connection().execute(
                "INSERT INTO results (key, status, timeout_seconds, result, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET status = excluded.status, timeout_seconds = excluded.timeout_seconds, "
                "result = excluded.result, created_at = excluded.created_at WHERE results.status = 'timeout'",
                (key, result.status, float(timeout_seconds), result.to_json(), time.time()))

    def __len__(self) -> int:
        with self._lock:
            return self._connection().execute("SELECT COUNT(*) FROM results").fetchone()[0]



_CACHES: dict[str, VerificationCache] = {}
_CACHES_LOCK = threading.Lock()


def _cache_for(directory: str) -> VerificationCache:
    """One cache object per directory in this process (it reconnects after a fork itself)."""
    directory = os.path.abspath(os.path.expanduser(directory))
    with _CACHES_LOCK:
        if directory not in _CACHES:
            _CACHES[directory] = VerificationCache(directory)
        return _CACHES[directory]


# --------------------------------------------------------------------------- verifying


def _require_verus(config: VerusConfig) -> str:
    binary = find_verus(config)
    if binary is None:
        where = config.binary or os.environ.get("VERUS_PATH") or "verus on PATH"
        raise VerusNotFoundError(f"no verus executable found ({where}); install Verus or set VERUS_PATH")
    return binary


def _run_verus(binary: str, program_source: str, config: VerusConfig, version: str) -> VerificationResult:
    """One real run in a fresh temp dir (removed afterwards, whatever happened)."""
    with tempfile.TemporaryDirectory(prefix="shardsmith-verus-") as work_dir:
        Path(work_dir, PROGRAM_FILE_NAME).write_text(program_source, encoding="utf-8")
        argv = verus_command(binary, config, library=not has_main(program_source))
        sandboxed = config.sandbox and sandbox_status()[0] is not None
        if sandboxed:
            extra = [path for path in os.environ.get(WRITABLE_ENV, "").split(os.pathsep) if path]
            argv = sandbox_argv(argv, work_dir, [*config.writable_paths, *extra])
        elif config.sandbox:
            sandbox_note(log=True)
        run = run_process_group(argv, cwd=work_dir, env=trimmed_environment(work_dir),
                                timeout_seconds=config.timeout_seconds,
                                kill_grace_seconds=config.kill_grace_seconds,
                                max_output_bytes=config.max_output_bytes)
        if sandboxed and run.returncode is not None and 128 < run.returncode < 128 + signal.NSIG:
            # bwrap reports a child killed by signal N as exit 128 + N
            run = dataclasses.replace(run, returncode=128 - run.returncode)
        if sandboxed and run.returncode == 1 and run.stderr.startswith("bwrap: ") and not run.stdout:
            run = dataclasses.replace(run, spawn_error=run.stderr.strip().splitlines()[0])  # exec failed in bwrap
        if run.spawn_error is not None:
            result = VerificationResult("crash", detail=f"could not start verus: {run.spawn_error}")
        else:
            result = parse_verus_output(run.stdout, run.stderr, run.returncode, run.timed_out, work_dir=work_dir)
    return dataclasses.replace(result, seconds=round(run.seconds, 3), verus_version=version)


_SANDBOX_NOTE_LOGGED = threading.Event()


def sandbox_note(log: bool = False) -> str:
    """One line on how verus is contained here (for the manifest notes); with ``log``, the
    missing-sandbox warning is logged once per process."""
    path, note = sandbox_status()
    if log and path is None and not _SANDBOX_NOTE_LOGGED.is_set():
        _SANDBOX_NOTE_LOGGED.set()
        LOG.warning("verus: %s", note)
    return f"verification sandbox: {note}"


def verify(program_source: str, config: VerusConfig | None = None) -> VerificationResult:
    """Verify one program with the real verus (see the module docstring); cached when
    ``config.cache_dir`` is set. Raises ``VerusNotFoundError`` when there is no verus."""
    config = config or VerusConfig()
    binary = _require_verus(config)
    version = verus_version(binary)
    cache = _cache_for(config.cache_dir) if config.cache_dir else None
    key = cache_key(program_source, _version_key(binary, version), config) if cache is not None else ""
    if cache is not None:
        hit = cache.get(key, config.timeout_seconds)
        if hit is not None:
            return hit
    result = _run_verus(binary, program_source, config, version)
    if cache is not None:
        cache.put(key, result, config.timeout_seconds)
    return result


def verify_many(programs: Iterable[str], config: VerusConfig | None = None,
                max_workers: int = 4) -> list[VerificationResult]:
    """Verify many programs, at most ``max_workers`` verus at a time; results in input order.

    Identical sources are verified once. Raises ``VerusNotFoundError`` before starting anything
    when there is no verus.
    """
    config = config or VerusConfig()
    programs = list(programs)
    _require_verus(config)
    unique = list(dict.fromkeys(programs))
    if not unique:
        return []
    workers = max(1, min(int(max_workers), len(unique)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verus") as pool:
        by_source = dict(zip(unique, pool.map(lambda source: verify(source, config), unique)))
    return [by_source[source] for source in programs]

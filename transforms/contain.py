"""Contained child processes: no descendant of an external program outlives its call.

Three layers, for every external process (the verifier, git):

* **Own session.** Callers start the child with ``start_new_session=True``, so a signal to its
  process group reaches what it started without reaching this process.
* **Tagged and reaped.** ``contained(env)`` adds ``SHARDSMITH_CONTAINED=<token>`` to the child's
  environment; descendants inherit it, also those that call ``setsid`` (which leaves the process
  group, so ``killpg`` cannot reach them). When the call ends, every process whose environment
  carries the token is killed with SIGKILL (``kill_tagged``, repeated until none is left). This
  process is made a child subreaper (``prctl(PR_SET_CHILD_SUBREAPER)``) first, so orphans of the
  child are re-parented here instead of to init: they stay findable and their zombies are reaped.
  A descendant that both detaches and scrubs its own environment escapes the tag; only the PID
  namespace below closes that.
* **Sandboxed** (untrusted programs, when bubblewrap works here): ``sandbox_argv`` wraps the
  command in ``bwrap`` with new PID, network, IPC, UTS and user namespaces, the whole filesystem
  read-only except the program's temp dir (and ``writable`` paths the caller names), a fresh
  ``/dev`` and ``/proc``, ``--die-with-parent`` and ``--new-session``. When bwrap's init exits
  the kernel kills everything left in the namespace. ``sandbox_status()`` says whether bwrap is
  usable (installed, and user namespaces allowed), once per process.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import secrets
import shutil
import signal
import subprocess
import time
from typing import Iterator, Mapping, Sequence

TOKEN_VARIABLE = "SHARDSMITH_CONTAINED"
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
KILL_ROUNDS = 20


@functools.lru_cache(maxsize=None)
def become_subreaper() -> bool:
    """Make this process the child subreaper of its descendants (Linux); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def tagged_processes(token: str) -> list[int]:
    """Pids of live processes (zombies excluded) whose environment holds ``token``'s tag."""
    needle = f"{TOKEN_VARIABLE}={token}".encode()
    found = []
    own = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == own:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:  # gone, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


def _reap(pids: Sequence[int]) -> None:
    """Collect the exit status of those of ``pids`` that are (adopted) children of this process."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def kill_tagged(token: str) -> int:
    """SIGKILL every process carrying ``token``'s tag until none is left; answer how many were killed."""
    killed: set[int] = set()
    for _ in range(KILL_ROUNDS):
        pids = tagged_processes(token)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.01)
        _reap(pids)
    _reap(sorted(killed))
    return len(killed)


@contextlib.contextmanager
def contained(env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """``env`` with a fresh tag for one external call; at the end every tagged process is killed."""
    become_subreaper()
    token = secrets.token_hex(12)
    try:
        yield {**env, TOKEN_VARIABLE: token}
    finally:
        kill_tagged(token)


@functools.lru_cache(maxsize=None)
def sandbox_status() -> tuple[str | None, str]:
    """(path of a working ``bwrap`` or None, a note saying why not / what it does)."""
    path = shutil.which("bwrap")
    if path is None:
        return None, ("bubblewrap (bwrap) is not installed: untrusted programs run without a sandbox "
                      "(own session, time and memory limits only)")
    try:
        probe = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--", "true"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"bubblewrap does not run here ({exc}): untrusted programs run without a sandbox"
    if probe.returncode != 0:
        reason = probe.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {probe.returncode}"]
        return None, f"bubblewrap does not run here ({reason[0]}): untrusted programs run without a sandbox"
    return path, "untrusted programs run in bubblewrap: no network, only their temp dir writable"


def sandbox_argv(argv: Sequence[str], work_dir: str, writable: Sequence[str] = (), *,
                 bwrap: str | None = None) -> list[str]:
    """``argv`` wrapped in bubblewrap: read-only filesystem except ``work_dir`` and ``writable``,
    no network, own PID namespace; ``argv`` itself when bubblewrap is not usable here."""
    bwrap = bwrap or sandbox_status()[0]
    if bwrap is None:
        return list(argv)
    wrapped = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in (work_dir, *writable):
        real = os.path.realpath(path)
        wrapped += ["--bind", real, real]
    return wrapped + ["--unshare-all", "--die-with-parent", "--new-session", "--chdir", os.path.realpath(work_dir),
                      "--", *argv]

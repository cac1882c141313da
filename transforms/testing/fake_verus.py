#!/usr/bin/env python3
"""TEST DOUBLE: a fake ``verus`` executable that follows Verus's command-line contract.

Not a verifier. Tests (and the sample run without Verus) run it at the process boundary in
place of the real binary, usually through a tiny wrapper script::

    #!/bin/sh
    FAKE_VERUS_RECORD=/tmp/x/record.jsonl exec /usr/bin/python3 .../fake_verus.py "$@"

(the wrapper sets its variables itself: ``transforms.verus.verifier`` trims the environment,
so variables of the test process never arrive here).

Contract followed (shapes as in ``transforms/verus/verifier.py``'s docstring, from Verus's
sources):

* ``--version`` prints ``Verus`` / ``  Version: ...`` / ``  Profile: ...`` / ``  Platform: ...``
  / ``  Toolchain: ...``; with ``--output-json`` the ``{"verus": {...}}`` document instead.
* ``FILE.rs --output-json --error-format=json --multiple-errors N --rlimit R``: the
  ``verification-results`` JSON (pretty) on stdout, rustc JSON diagnostics on stderr one per
  line ending with ``aborting due to ...`` (human-rendered text without
  ``--error-format=json``), exit 0 when verified and 1 otherwise.

The outcome comes from a marker comment in the program, ``// FAKE_VERUS: <mode> [numbers]``:

``verified [N]``, ``failed [VERIFIED] [ERRORS]``, ``compile_error``, ``vir_error``,
``old_format_verified [N]``, ``old_format_failed [VERIFIED] [ERRORS]``,
``old_format_compile_error`` (older Verus: no ``encountered-error``, ``success: true`` with 0/0
after a rustc error), ``hang``, ``hang_ignore_term`` (ignores SIGTERM), ``spawn_child_and_hang``
(starts a child that sleeps too, like z3), ``orphan_child`` (leaves a sleeping child holding
stdout/stderr, then reports verified), ``setsid_child`` (the same child in its own session, out of
reach of the process group, touching ``$FAKE_VERUS_RECORD.heartbeat`` every 50 ms),
``write_outside`` (writes ``$FAKE_VERUS_OUTSIDE``; reports verified when that worked, else
panics), ``bad_report`` (a ``verification-results`` with ``verified: "lots"``, ``errors: -3``), ``crash`` (panic, exit 101), ``segfault`` (SIGSEGV),
``flood [MB]`` (MB of non-JSON stderr, then verified), ``allocate [MB]`` (allocates MB; when
that fails, the Rust allocation-failure message and SIGABRT). No marker: ``verified 1``.

Environment knobs (set by the wrapper): ``FAKE_VERUS_RECORD`` -- a file to which one JSON line
is appended per invocation (argv, cwd, pid, environment keys, a few values, RLIMIT_AS) and one
per child started; ``FAKE_VERUS_VERSION`` -- the version to print.
"""
from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time

DEFAULT_VERSION = "0.2025.06.14.fake000"
MARKER_RE = re.compile(r"//\s*FAKE_VERUS:\s*(\w+)((?:\s+\d+)*)")
RECORDED_VALUES = ("HOME", "LANG", "TMPDIR", "PATH", "RUSTUP_HOME", "CARGO_HOME", "VERUS_Z3_PATH")


def record(event: dict) -> None:
    """Append one JSON line to $FAKE_VERUS_RECORD (when set)."""
    path = os.environ.get("FAKE_VERUS_RECORD")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(event, sort_keys=True) + "\n")


def build_info() -> dict:
    """The ``"verus"`` object of Verus's JSON (``VerusBuildInfo::to_json``)."""
    return {"verus": {"profile": "release", "version": os.environ.get("FAKE_VERUS_VERSION", DEFAULT_VERSION),
                      "platform": {"os": "linux", "arch": "x86_64"},
                      "toolchain": "1.88.0-x86_64-unknown-linux-gnu", "commit": "fake000"}}


def print_version(as_json: bool) -> None:
    info = build_info()["verus"]
    if as_json:
        print(json.dumps(build_info(), indent=2))
        return
    print("Verus")
    print(f"  Version: {info['version']}")
    print(f"  Profile: {info['profile']}")
    print(f"  Platform: {info['platform']['os']}_{info['platform']['arch']}")
    print(f"  Toolchain: {info['toolchain']}")


def span(file_name: str, source: str, line: int, needle: str, label: str | None, primary: bool) -> dict:
    """A rustc JSON span pointing at ``needle`` on ``line`` (1-based) of ``source``."""
    lines = source.splitlines() or [""]
    line = max(1, min(line, len(lines)))
    text = lines[line - 1]
    col = text.find(needle) + 1 if needle and needle in text else 1
    end = col + max(1, len(needle))
    byte_start = sum(len(x.encode()) + 1 for x in lines[:line - 1]) + col - 1
    return {"file_name": file_name, "byte_start": byte_start, "byte_end": byte_start + end - col,
            "line_start": line, "line_end": line, "column_start": col, "column_end": end,
            "is_primary": primary, "text": [{"text": text, "highlight_start": col, "highlight_end": end}],
            "label": label, "suggested_replacement": None, "suggestion_applicability": None, "expansion": None}


def diagnostic(message: str, spans: list, level: str = "error", code: str | None = None, modern: bool = True) -> dict:
    """A rustc JSON diagnostic with its human rendering (``modern``: with ``$message_type``)."""
    head = f"{level}[{code}]: {message}" if code else f"{level}: {message}"
    rendered = head + "\n"
    for s in spans:
        gutter = " " * len(str(s["line_start"]))
        marks = ("^" if s["is_primary"] else "-") * (s["column_end"] - s["column_start"])
        rendered += (f"{gutter}--> {s['file_name']}:{s['line_start']}:{s['column_start']}\n"
                     f"{gutter} |\n{s['line_start']} | {s['text'][0]['text']}\n"
                     f"{gutter} | {' ' * (s['column_start'] - 1)}{marks} {s['label'] or ''}".rstrip() + "\n")
    out = {"message": message, "code": {"code": code, "explanation": None} if code else None, "level": level,
           "spans": spans, "children": [], "rendered": rendered + "\n"}
    if modern:
        out = {"$message_type": "diagnostic", **out}
    return out


def aborting(n_errors: int, modern: bool = True) -> dict:
    text = "aborting due to previous error" if n_errors == 1 and not modern else (
        f"aborting due to {n_errors} previous error{'s' if n_errors != 1 else ''}")
    return diagnostic(text, [], modern=modern)


def line_of(source: str, word: str) -> int:
    for number, text in enumerate(source.splitlines(), 1):
        if word in text:
            return number
    return 1


def verification_errors(file_name: str, source: str, count: int, modern: bool) -> list:
    """``count`` Verus verification errors: postcondition and assertion failures, alternating."""
    out = []
    for i in range(count):
        if i % 2 == 0:
            ensures = line_of(source, "ensures")
            out.append(diagnostic("postcondition not satisfied", [
                span(file_name, source, line_of(source, "fn "), "fn", "at the end of the function body", True),
                span(file_name, source, ensures, "ensures", "failed this postcondition", False)], modern=modern))
        else:
            out.append(diagnostic("assertion failed", [
                span(file_name, source, line_of(source, "assert"), "assert", "assertion failed", True)], modern=modern))
    return out


def type_error(file_name: str, source: str, modern: bool) -> list:
    return [diagnostic("mismatched types", [span(file_name, source, line_of(source, "let"), "let",
                                                 "expected `u64`, found `bool`", True)], code="E0308", modern=modern),
            aborting(1, modern),
            diagnostic("For more information about this error, try `rustc --explain E0308`.", [],
                       level="failure-note", modern=modern)]


def emit(report: dict | None, diagnostics: list, args: list, exit_code: int) -> None:
    """Print diagnostics (JSON or rendered) and the report as Verus does, then exit."""
    json_errors = "--error-format=json" in args
    for d in diagnostics:
        sys.stderr.write((json.dumps(d) if json_errors else d["rendered"].rstrip()) + "\n")
    sys.stderr.flush()
    if report is not None:
        if "--output-json" in args:
            print(json.dumps({"verification-results": report, **build_info()}, indent=2))
        else:
            print(f"verification results:: {report.get('verified', 0)} verified, {report.get('errors', 0)} errors")
    sys.stdout.flush()
    sys.exit(exit_code)


def new_report(verified: int, errors: int, error: bool) -> dict:
    """``verification-results`` of current Verus (``encountered-error`` present)."""
    return {"encountered-error": error, "encountered-vir-error": False, "success": not error and errors == 0,
            "verified": verified, "errors": errors, "is-verifying-entire-crate": True}


def old_report(verified: int, errors: int) -> dict:
    """``verification-results`` of older Verus: success = no VIR error and no verification error."""
    return {"encountered-vir-error": False, "success": errors == 0, "verified": verified, "errors": errors,
            "is-verifying-entire-crate": True}


def spawn_sleeper() -> int:
    """A child that sleeps (stands in for z3), inheriting stdout/stderr and the process group."""
    child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(60)"])
    record({"event": "child", "pid": child.pid, "parent": os.getpid()})
    return child.pid


HEARTBEAT = "import sys, time\nwhile True:\n    open(sys.argv[1], 'a').write('.')\n    time.sleep(0.05)\n"


def spawn_detached_heartbeat() -> int:
    """A child in a new session (``setsid``) that appends to the heartbeat file while it lives."""
    target = (os.environ.get("FAKE_VERUS_RECORD") or os.devnull) + ".heartbeat"
    child = subprocess.Popen([sys.executable, "-c", HEARTBEAT, target], start_new_session=True)
    record({"event": "child", "pid": child.pid, "parent": os.getpid(), "session": "own"})
    return child.pid


def sleep_forever() -> None:
    while True:
        time.sleep(60)


def option_value(args: list, name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def main(args: list) -> None:
    env_values = {k: os.environ[k] for k in RECORDED_VALUES if k in os.environ}
    base = {"argv": args, "cwd": os.getcwd(), "pid": os.getpid(), "pgid": os.getpgid(0),
            "env_keys": sorted(os.environ), "env": env_values,
            "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0]}
    if "--version" in args:
        record({"event": "version", **base})
        print_version("--output-json" in args)
        return
    files = [a for a in args if a.endswith(".rs")]
    if len(files) != 1:
        sys.stderr.write("error: expected exactly one input file\n")
        sys.exit(1)
    file_name = files[0]
    multiple_errors = option_value(args, "--multiple-errors")
    rlimit = option_value(args, "--rlimit")
    if multiple_errors is not None and not multiple_errors.isdigit():
        sys.stderr.write("error: expected integer after multiple-errors\n")
        sys.exit(1)
    if rlimit is not None and rlimit != "infinity":
        try:
            float(rlimit)
        except ValueError:
            sys.stderr.write("error: expected number or `infinity` after rlimit\n")
            sys.exit(1)
    with open(file_name, encoding="utf-8") as handle:
        source = handle.read()
    match = MARKER_RE.search(source)
    mode, numbers = (match.group(1), [int(n) for n in match.group(2).split()]) if match else ("verified", [])
    record({"event": "run", "mode": mode, **base})

    def number(index: int, default: int) -> int:
        return numbers[index] if len(numbers) > index else default

    if mode == "verified":
        emit(new_report(number(0, 1), 0, False), [], args, 0)
    elif mode == "failed":
        verified, errors = number(0, 0), number(1, 1)
        sys.stderr.write("warning: verus was compiled outside vargo, and we cannot determine whether it was "
                         "built in debug mode, which will result in worse performance\n")
        emit(new_report(verified, errors, True),
             verification_errors(file_name, source, errors, True) + [aborting(errors)], args, 1)
    elif mode == "compile_error":
        emit(new_report(0, 0, True), type_error(file_name, source, True), args, 1)
    elif mode == "vir_error":
        mode_error = diagnostic("cannot call function `exec_fn` with mode exec",
                                [span(file_name, source, line_of(source, "exec_fn("), "exec_fn", None, True)])
        emit({"encountered-error": True, "encountered-vir-error": True, "success": False},
             [mode_error, aborting(1)], args, 1)
    elif mode == "old_format_verified":
        emit(old_report(number(0, 1), 0), [], args, 0)
    elif mode == "old_format_failed":
        verified, errors = number(0, 0), number(1, 1)
        emit(old_report(verified, errors),
             verification_errors(file_name, source, errors, False) + [aborting(errors, False)], args, 1)
    elif mode == "old_format_compile_error":
        emit(old_report(0, 0), type_error(file_name, source, False), args, 1)
    elif mode == "hang":
        sleep_forever()
    elif mode == "hang_ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        record({"event": "ignoring_sigterm", "pid": os.getpid()})
        sleep_forever()
    elif mode == "spawn_child_and_hang":
        spawn_sleeper()
        sleep_forever()
    elif mode == "orphan_child":
        spawn_sleeper()
        emit(new_report(number(0, 1), 0, False), [], args, 0)
    elif mode == "setsid_child":
        spawn_detached_heartbeat()
        emit(new_report(number(0, 1), 0, False), [], args, 0)
    elif mode == "write_outside":
        try:
            with open(os.environ["FAKE_VERUS_OUTSIDE"], "w", encoding="utf-8") as handle:
                handle.write("escaped the temp dir\n")
        except OSError as exc:
            sys.stderr.write(f"thread 'main' panicked: could not write outside: {exc}\n")
            sys.exit(101)
        emit(new_report(1, 0, False), [], args, 0)
    elif mode == "bad_report":
        emit({"encountered-error": False, "encountered-vir-error": False, "success": True,
              "verified": "lots", "errors": -3, "is-verifying-entire-crate": True}, [], args, 1)
    elif mode == "crash":
        sys.stderr.write("thread 'rustc' panicked at rust_verify/src/verifier.rs:1234:5:\n"
                         "internal error: entered unreachable code\n"
                         "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n")
        sys.exit(101)
    elif mode == "segfault":
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGSEGV)
    elif mode == "flood":
        line = "note: this is not JSON " + "x" * 100 + "\n"
        for _ in range(number(0, 1) * 1024 * 1024 // len(line) + 1):
            sys.stderr.write(line)
        emit(new_report(1, 0, False), [], args, 0)
    elif mode == "allocate":
        size = number(0, 1024) * 1024 * 1024
        try:
            allocated = bytearray(size)
        except MemoryError:
            sys.stderr.write(f"memory allocation of {size} bytes failed\n")
            sys.stderr.flush()
            os.abort()
        sys.stderr.write(f"allocated {len(allocated)} bytes\n")
        emit(new_report(1, 0, False), [], args, 0)
    else:
        sys.stderr.write(f"fake verus: unknown mode {mode!r}\n")
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])

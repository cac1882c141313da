"""The Verus wrapper: pure parsing of recorded output shapes, and every outcome end to end
through FAKE_VERUS (transforms/testing/fake_verus.py, a test double at the process boundary)."""
import json
import math
import os
import pickle
import shlex
import signal
import sys
import time
from pathlib import Path

import pytest

from transforms.contain import sandbox_status
from transforms.testing import FAKE_VERUS
from transforms.verus.verifier import (
    CACHE_FILE,
    MAX_ERRORS,
    PROGRAM_FILE_NAME,
    VerificationCache,
    VerificationResult,
    VerusConfig,
    VerusNotFoundError,
    cache_key,
    classify,
    find_verus,
    find_verus_report,
    has_main,
    parse_diagnostics,
    parse_verus_output,
    parse_version_output,
    run_process_group,
    skipped_record_fields,
    trimmed_environment,
    verify,
    verify_many,
    verus_command,
    verus_version,
    with_memory_limit,
)

ROOT = Path(__file__).resolve().parents[3]
SECRET = "sk-test-verus-DO-NOT-LEAK"

PROGRAM = """use vstd::prelude::*;
verus! {{
fn add_one(x: u64) -> (r: u64)
    requires x < 100,
    ensures r == x + 1,
{{
    let y = x + 1;
    assert(y > x);
    y
}}
fn main() {{}}
}} // FAKE_VERUS: {marker}
"""


def program(marker: str, salt: str = "") -> str:
    """A small Verus program whose marker tells FAKE_VERUS what to answer."""
    return PROGRAM.format(marker=marker) + (f"// {salt}\n" if salt else "")


# --------------------------------------------------------------------------- recorded shapes

# Current Verus (source/rust_verify/src/main.rs: "encountered-error": status.is_err()), pretty JSON.
NEW_VERIFIED_STDOUT = """{
  "verification-results": {
    "encountered-error": false,
    "encountered-vir-error": false,
    "success": true,
    "verified": 3,
    "errors": 0,
    "is-verifying-entire-crate": true
  },
  "verus": {
    "profile": "release",
    "version": "0.2025.07.05.5d5bd4e",
    "platform": {"os": "linux", "arch": "x86_64"},
    "toolchain": "1.88.0-x86_64-unknown-linux-gnu",
    "commit": "5d5bd4e"
  }
}
"""
NEW_FAILED_STDOUT = json.dumps({"verification-results": {
    "encountered-error": True, "encountered-vir-error": False, "success": False,
    "verified": 1, "errors": 1, "is-verifying-entire-crate": True}}, indent=2)
NEW_COMPILE_ERROR_STDOUT = json.dumps({"verification-results": {
    "encountered-error": True, "encountered-vir-error": False, "success": False,
    "verified": 0, "errors": 0, "is-verifying-entire-crate": True}}, indent=2)
# A VIR error: no counts at all (they are only added when !encountered_vir_error).
NEW_VIR_ERROR_STDOUT = json.dumps({"verification-results": {
    "encountered-error": True, "encountered-vir-error": True, "success": False}}, indent=2)
# Older Verus (same file before encountered-error): success = !vir_error && errors == 0.
OLD_COMPILE_ERROR_STDOUT = json.dumps({"verification-results": {
    "encountered-vir-error": False, "success": True, "verified": 0, "errors": 0,
    "is-verifying-entire-crate": True}}, indent=2)
OLD_VERIFIED_STDOUT = json.dumps({"verification-results": {
    "encountered-vir-error": False, "success": True, "verified": 2, "errors": 0,
    "is-verifying-entire-crate": True}}, indent=2)
OLD_FAILED_STDOUT = json.dumps({"verification-results": {
    "encountered-vir-error": False, "success": False, "verified": 0, "errors": 2,
    "is-verifying-entire-crate": True}}, indent=2)
OLD_VIR_ERROR_STDOUT = json.dumps({"verification-results": {"encountered-vir-error": True, "success": False}})

POSTCONDITION = (
    '{"$message_type":"diagnostic","message":"postcondition not satisfied","code":null,"level":"error",'
    '"spans":[{"file_name":"program.rs","byte_start":120,"byte_end":160,"line_start":6,"line_end":9,'
    '"column_start":1,"column_end":2,"is_primary":true,"text":[{"text":"{","highlight_start":1,"highlight_end":2}],'
    '"label":"at the end of the function body","suggested_replacement":null,"suggestion_applicability":null,'
    '"expansion":null},{"file_name":"program.rs","byte_start":90,"byte_end":105,"line_start":5,"line_end":5,'
    '"column_start":13,"column_end":28,"is_primary":false,"text":[{"text":"    ensures r == x + 1,",'
    '"highlight_start":13,"highlight_end":28}],"label":"failed this postcondition","suggested_replacement":null,'
    '"suggestion_applicability":null,"expansion":null}],"children":[],'
    '"rendered":"error: postcondition not satisfied\\n --> program.rs:6:1\\n  |\\n5 |     ensures r == x + 1,\\n'
    '  |             --------------- failed this postcondition\\n\\n"}')
ABORTING_NEW = ('{"$message_type":"diagnostic","message":"aborting due to 1 previous error","code":null,'
                '"level":"error","spans":[],"children":[],"rendered":"error: aborting due to 1 previous error\\n\\n"}')
MISMATCHED_TYPES = (
    '{"$message_type":"diagnostic","message":"mismatched types","code":{"code":"E0308","explanation":"Expected '
    'type did not match the received type.\\n"},"level":"error","spans":[{"file_name":"program.rs",'
    '"byte_start":70,"byte_end":74,"line_start":7,"line_end":7,"column_start":13,"column_end":17,'
    '"is_primary":true,"text":[],"label":"expected `u64`, found `bool`","suggested_replacement":null,'
    '"suggestion_applicability":null,"expansion":null}],"children":[{"message":"expected due to this",'
    '"code":null,"level":"note","spans":[],"children":[],"rendered":null}],'
    '"rendered":"error[E0308]: mismatched types\\n --> program.rs:7:13\\n\\n"}')
FAILURE_NOTE = ('{"$message_type":"diagnostic","message":"For more information about this error, try '
                '`rustc --explain E0308`.","code":null,"level":"failure-note","spans":[],"children":[],'
                '"rendered":"For more information about this error, try `rustc --explain E0308`.\\n"}')
# Older rustc: no "$message_type"; the old wording of the closing error.
OLD_RUSTC_ERROR = ('{"message":"cannot find value `z` in this scope","code":{"code":"E0425","explanation":null},'
                   '"level":"error","spans":[{"file_name":"program.rs","byte_start":1,"byte_end":2,"line_start":4,'
                   '"line_end":4,"column_start":5,"column_end":6,"is_primary":true,"text":[],"label":"not found",'
                   '"suggested_replacement":null,"expansion":null}],"children":[],'
                   '"rendered":"error[E0425]: cannot find value `z` in this scope\\n"}')
OLD_ABORTING = ('{"message":"aborting due to previous error","code":null,"level":"error","spans":[],'
                '"children":[],"rendered":"error: aborting due to previous error\\n\\n"}')
WARNING = ('{"$message_type":"diagnostic","message":"unused variable: `y`","code":{"code":"unused_variables",'
           '"explanation":null},"level":"warning","spans":[],"children":[],"rendered":"warning: unused variable\\n"}')
DEBUG_BUILD_WARNING = "warning: verus was compiled in debug mode, which will result in worse performance"


def test_new_verus_verified():
    result = parse_verus_output(NEW_VERIFIED_STDOUT, DEBUG_BUILD_WARNING + "\n", 0, False)
    assert (result.status, result.n_verified, result.n_errors, result.errors) == ("verified", 3, 0, [])
    assert result.record_fields() == {"verification_status": "verified", "verus_version": None, "n_verified": 3,
                                      "n_errors": 0, "verification_errors": []}


def test_new_verus_failed_keeps_errors_and_skips_aborting_and_non_json():
    stderr = "\n".join([DEBUG_BUILD_WARNING, POSTCONDITION, WARNING, ABORTING_NEW, "not json {", ""])
    result = parse_verus_output(NEW_FAILED_STDOUT, stderr, 1, False)
    assert (result.status, result.n_verified, result.n_errors) == ("failed", 1, 1)
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error["message"] == "postcondition not satisfied"
    assert error["lines"] == [6] and error["code"] is None
    assert [s["label"] for s in error["spans"]] == ["at the end of the function body", "failed this postcondition"]
    assert result.error_messages()[0].startswith("error: postcondition not satisfied\n --> program.rs:6:1")


def test_new_verus_compile_error():
    stderr = "\n".join([MISMATCHED_TYPES, ABORTING_NEW, FAILURE_NOTE])
    result = parse_verus_output(NEW_COMPILE_ERROR_STDOUT, stderr, 1, False)
    assert (result.status, result.n_verified, result.n_errors) == ("compile_error", 0, 0)
    assert [(e["message"], e["code"], e["lines"]) for e in result.errors] == [("mismatched types", "E0308", [7])]
    assert result.errors[0]["children"] == [{"level": "note", "message": "expected due to this"}]


def test_vir_error_is_a_compile_error_without_counts():
    mode_error = MISMATCHED_TYPES.replace("mismatched types", "cannot call function with mode exec")
    for stdout in (NEW_VIR_ERROR_STDOUT, OLD_VIR_ERROR_STDOUT):
        result = parse_verus_output(stdout, mode_error + "\n" + ABORTING_NEW, 1, False)
        assert (result.status, result.n_verified, result.n_errors) == ("compile_error", None, None)
        assert result.detail == "encountered-vir-error"


def test_old_verus_success_after_compile_error_is_a_compile_error():
    stderr = "\n".join([OLD_RUSTC_ERROR, OLD_ABORTING])
    result = parse_verus_output(OLD_COMPILE_ERROR_STDOUT, stderr, 1, False)
    assert (result.status, result.n_verified, result.n_errors) == ("compile_error", 0, 0)
    assert [e["message"] for e in result.errors] == ["cannot find value `z` in this scope"]
    assert result.errors[0]["code"] == "E0425"


def test_old_verus_verified_and_failed():
    assert parse_verus_output(OLD_VERIFIED_STDOUT, "", 0, False).status == "verified"
    result = parse_verus_output(OLD_FAILED_STDOUT, POSTCONDITION + "\n" + POSTCONDITION + "\n" + OLD_ABORTING, 1, False)
    assert (result.status, result.n_errors, len(result.errors)) == ("failed", 2, 2)


def test_report_found_among_other_stdout_lines():
    stdout = "toml_path: \"/x/reports.toml\"\n" + NEW_VERIFIED_STDOUT + "\nremoving: /tmp/program.d\n"
    assert find_verus_report(stdout)["verification-results"]["verified"] == 3
    assert parse_verus_output(stdout, "", 0, False).status == "verified"
    assert find_verus_report("") is None and find_verus_report("{ not json") is None
    assert find_verus_report('{"other": 1}') is None


def test_parse_diagnostics_skips_other_message_types_and_junk():
    artifact = '{"$message_type":"artifact","artifact":"libx.rmeta","emit":"metadata"}'
    lines = [artifact, "[1, 2]", "{broken", POSTCONDITION, WARNING]
    assert [d["message"] for d in parse_diagnostics("\n".join(lines))] == [
        "postcondition not satisfied", "unused variable: `y`"]


@pytest.mark.parametrize(
    "returncode, timed_out, status, detail",
    [
        (None, True, "timeout", "wall-clock"),
        (-9, True, "timeout", "wall-clock"),
        (-signal.SIGSEGV, False, "crash", "SIGSEGV"),
        (-signal.SIGKILL, False, "crash", "out of memory"),
        (-signal.SIGABRT, False, "crash", "SIGABRT"),
        (101, False, "crash", "panic"),
        (128, False, "crash", "verus-root"),
        (125, False, "crash", "ulimit"),
        (127, False, "crash", "not found"),
        (3, False, "crash", "unexpected exit code"),
    ],
)
def test_signals_exit_codes_and_timeouts(returncode, timed_out, status, detail):
    result = parse_verus_output(NEW_VERIFIED_STDOUT, "", returncode, timed_out)
    assert result.status == status and detail in result.detail


def test_missing_or_contradicting_report_is_a_crash():
    panic = "thread 'rustc' panicked at src/x.rs:1:1:\nexplicit panic\n"
    assert parse_verus_output("", panic, 1, False).status == "crash"
    assert parse_verus_output("", "", 0, False).status == "crash"
    # No report but rustc errors and exit 1: the program did not compile.
    assert parse_verus_output("", MISMATCHED_TYPES, 1, False).status == "compile_error"
    # New format saying nothing went wrong, but exit 1.
    clean_exit_1 = parse_verus_output(NEW_VERIFIED_STDOUT, "", 1, False)
    assert clean_exit_1.status == "crash" and "contradicts" in clean_exit_1.detail


def test_classify_prefers_verification_errors_over_encountered_error():
    results = {"encountered-error": True, "encountered-vir-error": False, "verified": 0, "errors": 2}
    assert classify(results, 2, 1, False)[0] == "failed"


def test_temp_dir_scrubbed_and_ansi_removed():
    work_dir = "/tmp/shardsmith-verus-abc123"
    diag = POSTCONDITION.replace('"file_name":"program.rs"', f'"file_name":"{work_dir}/program.rs"').replace(
        "error: postcondition", "\\u001b[31merror\\u001b[0m: postcondition").replace(
        "--> program.rs", f"--> {work_dir}/program.rs")
    result = parse_verus_output(NEW_FAILED_STDOUT, diag + "\n" + f"note: cwd {work_dir}\n", 1, False, work_dir=work_dir)
    text = json.dumps(dataclass_fields(result))
    assert work_dir not in text and "\x1b" not in text
    assert result.errors[0]["spans"][0]["file_name"] == "program.rs"
    assert result.error_messages()[0].startswith("error: postcondition not satisfied\n --> program.rs:6:1")


def test_errors_are_capped():
    stderr = "\n".join([POSTCONDITION] * (MAX_ERRORS + 5))
    stdout = NEW_FAILED_STDOUT.replace('"errors": 1', f'"errors": {MAX_ERRORS + 5}')
    result = parse_verus_output(stdout, stderr, 1, False)
    assert result.n_errors == MAX_ERRORS + 5 and len(result.errors) == MAX_ERRORS


def dataclass_fields(result: VerificationResult) -> dict:
    return json.loads(result.to_json())


def test_parse_version_output():
    display = "Verus\n  Version: 0.2025.07.05.5d5bd4e\n  Profile: release\n  Platform: linux_x86_64\n  Toolchain: 1.88.0\n"
    assert parse_version_output(display) == "0.2025.07.05.5d5bd4e"
    assert parse_version_output('{"verus": {"version": "0.2024.11.01.abc", "profile": "release"}}') == "0.2024.11.01.abc"
    assert parse_version_output("Verus\n  Version: Unknown\n") == "Unknown"
    assert parse_version_output("verus 0.1\n") == "verus 0.1"
    assert parse_version_output("") is None and parse_version_output("no digits here") is None


def test_result_json_round_trip_and_skipped_fields():
    result = parse_verus_output(NEW_FAILED_STDOUT, POSTCONDITION, 1, False)
    again = VerificationResult.from_json(result.to_json(), cached=True)
    assert again.cached and again.errors == result.errors and again.status == "failed"
    assert set(skipped_record_fields()) == set(result.record_fields())
    assert all(v is None for v in skipped_record_fields().values())
    with pytest.raises(ValueError):
        VerificationResult("maybe")


# --------------------------------------------------------------------------- config, command, env, key


def test_command_uses_verus_flag_spellings():
    config = VerusConfig(rlimit=15, multiple_errors=0, num_threads=2, extra_args=["--crate-type=lib"])
    assert verus_command("/opt/verus/verus", config) == [
        "/opt/verus/verus", PROGRAM_FILE_NAME, "--output-json", "--error-format=json",
        "--multiple-errors", "0", "--rlimit", "15", "--num-threads", "2", "--crate-type=lib"]
    assert verus_command("v", VerusConfig(rlimit=math.inf))[-1] == "infinity"
    assert verus_command("v", VerusConfig(rlimit=2.5))[-1] == "2.5"


def test_memory_limit_wraps_with_ulimit():
    wrapped = with_memory_limit(["verus", "program.rs"], 512)
    assert wrapped[:2] == ["/bin/sh", "-c"] and "ulimit -v" in wrapped[2]
    assert wrapped[4:] == [str(512 * 1024), "verus", "program.rs"]
    assert with_memory_limit(["verus"], None) == ["verus"]


def test_config_validation_and_pickling():
    for bad in (dict(rlimit=0), dict(multiple_errors=-1), dict(timeout_seconds=0), dict(memory_limit_mb=0),
                dict(num_threads=0), dict(max_output_bytes=10)):
        with pytest.raises(ValueError):
            VerusConfig(**bad)
    config = VerusConfig(extra_args=["-V", "cvc5"], cache_dir="/tmp/c")
    assert pickle.loads(pickle.dumps(config)) == config
    assert json.dumps(config.describe())


def test_trimmed_environment(tmp_path):
    home = tmp_path / "home"
    (home / ".rustup").mkdir(parents=True)
    environ = {"PATH": "/usr/bin", "HOME": str(home), "OPENAI_API_KEY": SECRET, "AWS_SECRET_ACCESS_KEY": SECRET,
               "VERUS_Z3_PATH": "/opt/z3", "LC_ALL": "de_DE.UTF-8", "GITHUB_TOKEN": SECRET}
    env = trimmed_environment("/tmp/work", environ)
    assert env == {"PATH": "/usr/bin", "HOME": "/tmp/work", "TMPDIR": "/tmp/work", "LANG": "C",
                   "VERUS_Z3_PATH": "/opt/z3", "RUSTUP_HOME": str(home / ".rustup")}
    env = trimmed_environment("/w", {"PATH": "/bin", "RUSTUP_HOME": "/r", "CARGO_HOME": "/c", "HOME": "/nope"})
    assert (env["RUSTUP_HOME"], env["CARGO_HOME"]) == ("/r", "/c")


def test_cache_key_covers_program_version_and_verdict_options():
    base = VerusConfig()
    key = cache_key("fn main() {}", "0.2025.1", base)
    assert key == cache_key("fn main() {}", "0.2025.1", VerusConfig(timeout_seconds=5, memory_limit_mb=100,
                                                                     num_threads=1, cache_dir="/x"))
    others = {cache_key("fn main() { }", "0.2025.1", base), cache_key("fn main() {}", "0.2025.2", base),
              cache_key("fn main() {}", "0.2025.1", VerusConfig(rlimit=20)),
              cache_key("fn main() {}", "0.2025.1", VerusConfig(multiple_errors=0)),
              cache_key("fn main() {}", "0.2025.1", VerusConfig(extra_args=("--crate-type=lib",)))}
    assert key not in others and len(others) == 5


def test_cache_timeout_rows_hold_only_for_no_longer_limits(tmp_path):
    cache = VerificationCache(tmp_path)
    timeout = VerificationResult("timeout", detail="killed after the wall-clock timeout")
    cache.put("k", timeout, 10.0)
    assert cache.get("k", 10.0).status == "timeout" and cache.get("k", 5.0).cached
    assert cache.get("k", 20.0) is None
    cache.put("k", VerificationResult("verified", n_verified=1, n_errors=0), 20.0)
    assert cache.get("k", 1000.0).status == "verified"
    cache.put("k", timeout, 30.0)  # a final verdict is never replaced
    assert cache.get("k", 1.0).status == "verified"
    cache.put("c", VerificationResult("crash"), 10.0)
    assert cache.get("c", 10.0) is None and len(cache) == 1
    cache.close()


# --------------------------------------------------------------------------- end to end through FAKE_VERUS


class FakeVerus:
    """FAKE_VERUS installed as ``<dir>/bin/verus``: a wrapper script that sets the record file."""

    def __init__(self, root: Path, version: str = "0.2025.06.14.fake000"):
        self.bin_dir = root / "bin"
        self.bin_dir.mkdir(parents=True)
        self.record_path = root / "record.jsonl"
        self.outside_path = root.parent / "outside" / "escaped.txt"  # not among the writable paths
        self.outside_path.parent.mkdir(parents=True)
        self.path = self.bin_dir / "verus"
        self.path.write_text(
            "#!/bin/sh\n"
            f"FAKE_VERUS_RECORD={shlex.quote(str(self.record_path))} "
            f"FAKE_VERUS_VERSION={shlex.quote(version)} "
            f"FAKE_VERUS_OUTSIDE={shlex.quote(str(self.outside_path))} "
            f"exec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_VERUS))} \"$@\"\n")
        self.path.chmod(0o755)

    def events(self, kind: str | None = None) -> list[dict]:
        if not self.record_path.exists():
            return []
        events = [json.loads(line) for line in self.record_path.read_text().splitlines()]
        return [e for e in events if kind is None or e["event"] == kind]

    def config(self, **overrides) -> VerusConfig:
        # Unsandboxed by default: these tests follow the pids the double records, which a PID
        # namespace would renumber; the sandbox tests turn it on.
        settings = dict(binary=str(self.path), timeout_seconds=20.0, kill_grace_seconds=0.5, sandbox=False,
                        writable_paths=(str(self.record_path.parent),))
        settings.update(overrides)
        return VerusConfig(**settings)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("SHARDSMITH_LLM_API_KEY", SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    return FakeVerus(tmp_path / "fake")


def process_alive(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie nobody has reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def wait_gone(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return not process_alive(pid)


def test_verified_through_fake_verus(fake):
    result = verify(program("verified 3"), fake.config())
    assert (result.status, result.n_verified, result.n_errors, result.errors) == ("verified", 3, 0, [])
    assert result.verus_version == "0.2025.06.14.fake000" and not result.cached and result.returncode == 0
    run = fake.events("run")[0]
    assert run["argv"] == [PROGRAM_FILE_NAME, "--output-json", "--error-format=json",
                           "--multiple-errors", "2", "--rlimit", "10"]


def test_a_program_without_main_runs_as_a_library(fake):
    # Verus's test harness passes --crate-type lib; without it rustc fails E0601 (no main)
    library = program("verified 1").replace("fn main() {}\n", "")
    assert verify(library, fake.config()).status == "verified"
    assert fake.events("run")[-1]["argv"][-1] == "--crate-type=lib"
    verify(program("verified 1"), fake.config())  # has fn main: a binary, as before
    assert "--crate-type=lib" not in fake.events("run")[-1]["argv"]
    verify(library + "// own\n", fake.config(extra_args=("--crate-type", "rlib")))  # the user's choice wins
    assert fake.events("run")[-1]["argv"][-2:] == ["--crate-type", "rlib"]


@pytest.mark.parametrize("source, expected", [
    ("fn main() {}", True),
    ("verus! { fn main() {} }", True),
    ("use vstd::prelude::*;\nverus! { fn f() {} }\nfn main() {}\n", True),
    ("verus! { fn f() {} }", False),
    ("verus! { mod m { fn main() {} } }", False),  # not the crate root's
    ("verus! { impl A { fn main(&self) {} } }", False),
    ("verus! { fn f() { let main = 1; } } // fn main() {}", False),  # a comment
])
def test_has_main(source, expected):
    assert has_main(source) is expected


def test_threads_and_extra_args_reach_verus_in_order(fake):
    config = fake.config(num_threads=1, extra_args=("--no-lifetime", "--expand-errors"))
    verify(program("verified 1"), config)
    assert fake.events("run")[-1]["argv"] == [PROGRAM_FILE_NAME, "--output-json", "--error-format=json",
                                              "--multiple-errors", "2", "--rlimit", "10", "--num-threads", "1",
                                              "--no-lifetime", "--expand-errors"]


@pytest.mark.parametrize(
    "marker, status, n_verified, n_errors, messages",
    [
        ("failed 1 2", "failed", 1, 2, ["postcondition not satisfied", "assertion failed"]),
        ("compile_error", "compile_error", 0, 0, ["mismatched types"]),
        ("vir_error", "compile_error", None, None, ["cannot call function `exec_fn` with mode exec"]),
        ("old_format_verified 4", "verified", 4, 0, []),
        ("old_format_failed 0 1", "failed", 0, 1, ["postcondition not satisfied"]),
        ("old_format_compile_error", "compile_error", 0, 0, ["mismatched types"]),
    ],
)
def test_outcomes_through_fake_verus(fake, marker, status, n_verified, n_errors, messages):
    result = verify(program(marker), fake.config())
    assert (result.status, result.n_verified, result.n_errors) == (status, n_verified, n_errors)
    assert [e["message"] for e in result.errors] == messages
    assert all(e["spans"] and e["spans"][0]["file_name"] == PROGRAM_FILE_NAME for e in result.errors)
    assert result.returncode == (0 if status == "verified" else 1)


def test_crash_and_signal_through_fake_verus(fake):
    crash = verify(program("crash"), fake.config())
    assert crash.status == "crash" and crash.returncode == 101 and "panicked" in crash.stderr_tail
    segfault = verify(program("segfault"), fake.config())
    assert segfault.status == "crash" and "SIGSEGV" in segfault.detail


def test_hang_is_killed_within_timeout_plus_grace(fake):
    start = time.monotonic()
    result = verify(program("hang"), fake.config(timeout_seconds=1.0))
    elapsed = time.monotonic() - start
    assert result.status == "timeout" and result.returncode == -signal.SIGTERM
    assert elapsed < 1.0 + 0.5 + 1.5, elapsed
    assert wait_gone(fake.events("run")[0]["pid"])


def test_process_ignoring_sigterm_gets_sigkill_after_grace(fake):
    start = time.monotonic()
    result = verify(program("hang_ignore_term"), fake.config(timeout_seconds=1.0, kill_grace_seconds=0.5))
    elapsed = time.monotonic() - start
    assert result.status == "timeout" and result.returncode == -signal.SIGKILL
    assert 1.5 <= elapsed < 1.0 + 0.5 + 1.5, elapsed


def test_child_process_is_killed_with_the_group(fake):
    start = time.monotonic()
    result = verify(program("spawn_child_and_hang"), fake.config(timeout_seconds=1.0))
    assert result.status == "timeout" and time.monotonic() - start < 3.0
    run, child = fake.events("run")[0], fake.events("child")[0]
    assert child["parent"] == run["pid"] and run["pgid"] == run["pid"]  # verus leads its own group
    assert wait_gone(run["pid"]) and wait_gone(child["pid"])


def test_orphaned_child_does_not_hold_the_run_or_survive_it(fake):
    start = time.monotonic()
    result = verify(program("orphan_child 2"), fake.config(timeout_seconds=20.0))
    assert result.status == "verified" and result.n_verified == 2
    assert time.monotonic() - start < 5.0
    assert wait_gone(fake.events("child")[0]["pid"])


def test_environment_is_trimmed_and_temp_dir_removed(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home-without-rustup"))
    for name in ("RUSTUP_HOME", "CARGO_HOME", "VERUS_Z3_PATH", "VERUS_CVC5_PATH", "VERUS_SINGULAR_PATH"):
        monkeypatch.delenv(name, raising=False)
    result = verify(program("verified 1"), fake.config())
    assert result.status == "verified"
    # PWD comes from the wrapper's /bin/sh, LC_CTYPE from Python's locale coercion (PEP 538)
    # inside FAKE_VERUS, FAKE_VERUS_* from the wrapper script: none of them from the test process;
    # SHARDSMITH_CONTAINED is the run's containment tag (transforms.contain), not a secret.
    added_by_the_double = {"PWD", "LC_CTYPE", "FAKE_VERUS_RECORD", "FAKE_VERUS_VERSION", "FAKE_VERUS_OUTSIDE",
                           "SHARDSMITH_CONTAINED"}
    events = fake.events()
    assert [e["event"] for e in events] == ["version", "run"]
    for event in events:
        assert set(event["env_keys"]) - added_by_the_double == {"PATH", "HOME", "TMPDIR", "LANG"}
        assert SECRET not in json.dumps(event)
        assert event["env"]["HOME"] == event["env"]["TMPDIR"] == event["cwd"] and event["env"]["LANG"] == "C"
        assert Path(event["cwd"]).name.startswith("shardsmith-verus-")
        assert not Path(event["cwd"]).exists()


def test_rustup_home_follows_the_real_home(fake, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".rustup").mkdir(parents=True)
    (home / ".cargo").mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("RUSTUP_HOME", raising=False)
    monkeypatch.delenv("CARGO_HOME", raising=False)
    verify(program("verified 1"), fake.config())
    env = fake.events("run")[0]["env"]
    assert (env["RUSTUP_HOME"], env["CARGO_HOME"]) == (str(home / ".rustup"), str(home / ".cargo"))


def test_temp_dir_removed_after_timeout(fake):
    verify(program("hang"), fake.config(timeout_seconds=0.5))
    assert not Path(fake.events("run")[0]["cwd"]).exists()


def test_solver_path_passes_through(fake, monkeypatch):
    monkeypatch.setenv("VERUS_Z3_PATH", "/opt/verus/z3")
    verify(program("verified 1"), fake.config())
    assert fake.events("run")[0]["env"]["VERUS_Z3_PATH"] == "/opt/verus/z3"


def test_cache_hit_does_not_run_verus_again(fake, tmp_path):
    config = fake.config(cache_dir=str(tmp_path / "cache"))
    first = verify(program("failed 0 1"), config)
    second = verify(program("failed 0 1"), config)
    assert (first.cached, second.cached) == (False, True)
    assert second.status == "failed" and second.errors == first.errors and second.seconds == first.seconds
    assert len(fake.events("run")) == 1
    assert (tmp_path / "cache" / CACHE_FILE).exists()
    # An option that can change the verdict misses; a timeout change does not.
    assert verify(program("failed 0 1"), fake.config(cache_dir=config.cache_dir, timeout_seconds=50)).cached
    assert not verify(program("failed 0 1"), fake.config(cache_dir=config.cache_dir, rlimit=30)).cached
    assert len(fake.events("run")) == 2


def test_crashes_are_not_cached(fake, tmp_path):
    config = fake.config(cache_dir=str(tmp_path / "cache"))
    assert verify(program("crash"), config).status == "crash"
    assert not verify(program("crash"), config).cached
    assert len(fake.events("run")) == 2


def test_output_is_bounded(fake, tmp_path):
    source = tmp_path / PROGRAM_FILE_NAME
    source.write_text(program("flood 2"))
    run = run_process_group([str(fake.path), str(source), "--output-json", "--error-format=json"], cwd=str(tmp_path),
                            env=trimmed_environment(str(tmp_path)), timeout_seconds=20.0, kill_grace_seconds=0.5,
                            max_output_bytes=64 * 1024)
    assert run.returncode == 0 and not run.timed_out
    assert len(run.stderr) < 64 * 1024 + 100 and "bytes dropped ...]" in run.stderr
    assert run.stderr.startswith("note: this is not JSON") and run.stderr.endswith("x\n")
    result = verify(program("flood 2"), fake.config(max_output_bytes=64 * 1024))
    assert result.status == "verified" and result.n_verified == 1  # the report on stdout is intact


def test_memory_limit_applies_to_verus(fake):
    result = verify(program("verified 1"), fake.config(memory_limit_mb=1024))
    assert result.status == "verified"
    assert fake.events("run")[0]["rlimit_as"] == 1024 * 1024 * 1024
    starved = verify(program("allocate 2048"), fake.config(memory_limit_mb=512))
    assert starved.status == "crash" and "SIGABRT" in starved.detail
    assert "memory allocation" in starved.stderr_tail


def test_verify_many_keeps_order_and_runs_duplicates_once(fake):
    programs = [program("verified 2"), program("failed 0 1"), program("compile_error"), program("verified 2")]
    results = verify_many(programs, fake.config(), max_workers=3)
    assert [r.status for r in results] == ["verified", "failed", "compile_error", "verified"]
    assert len(fake.events("run")) == 3 and len(fake.events("version")) == 1


def test_verus_version_is_asked_once_per_binary(tmp_path):
    fake = FakeVerus(tmp_path / "versioned", version="0.2024.12.31.abcdef0")
    assert verus_version(str(fake.path)) == "0.2024.12.31.abcdef0"
    assert verus_version(str(fake.path)) == "0.2024.12.31.abcdef0"
    assert len(fake.events("version")) == 1


def test_find_verus(tmp_path, fake):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_verus(VerusConfig(), environ={"PATH": str(empty)}) is None
    assert find_verus(VerusConfig(binary=str(tmp_path / "missing" / "verus"))) is None
    assert find_verus(VerusConfig(binary="no-such-verus-binary"), environ={"PATH": str(empty)}) is None
    assert find_verus(VerusConfig(), environ={"PATH": str(fake.bin_dir)}) == str(fake.path)
    assert find_verus(VerusConfig(binary="verus"), environ={"PATH": str(fake.bin_dir)}) == str(fake.path)
    assert find_verus(VerusConfig(), environ={"PATH": str(empty), "VERUS_PATH": str(fake.bin_dir)}) == str(fake.path)
    assert find_verus(VerusConfig(), environ={"PATH": "", "VERUS_PATH": str(fake.path)}) == str(fake.path)
    not_executable = tmp_path / "verus"
    not_executable.write_text("#!/bin/sh\n")
    assert find_verus(VerusConfig(binary=str(not_executable))) is None


def test_verify_without_verus_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("VERUS_PATH", raising=False)
    with pytest.raises(VerusNotFoundError):
        verify("fn main() {}", VerusConfig())
    with pytest.raises(VerusNotFoundError):
        verify_many(["fn main() {}"], VerusConfig())


def test_binary_that_cannot_start_is_a_crash_and_not_cached(tmp_path):
    broken = tmp_path / "verus"
    broken.write_text("#!/nonexistent/interpreter\n")
    broken.chmod(0o755)
    config = VerusConfig(binary=str(broken), cache_dir=str(tmp_path / "cache"), timeout_seconds=5.0)
    assert verus_version(str(broken)) == "unknown"
    result = verify("fn main() {}", config)
    assert result.status == "crash" and result.detail.startswith("could not start verus")
    assert len(VerificationCache(tmp_path / "cache")) == 0


# --------------------------------------------------------------------------- containment (issue 15)


def _heartbeat_stopped(path: Path, seconds: float = 0.4) -> bool:
    """True when nothing appends to ``path`` any more (its writer is gone)."""
    size = path.stat().st_size if path.exists() else 0
    time.sleep(seconds)
    return (path.stat().st_size if path.exists() else 0) == size


@pytest.mark.parametrize("sandbox", [False, True])
def test_setsid_descendants_do_not_outlive_the_run(fake, sandbox):
    if sandbox and sandbox_status()[0] is None:
        pytest.skip("bubblewrap is not usable here")
    heartbeat = Path(str(fake.record_path) + ".heartbeat")
    start = time.monotonic()
    result = verify(program("setsid_child"), fake.config(sandbox=sandbox))
    assert result.status == "verified"
    assert time.monotonic() - start < 10
    deadline = time.monotonic() + 5
    while not heartbeat.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _heartbeat_stopped(heartbeat), "a setsid child of verus is still running"
    if not sandbox:
        [child] = fake.events("child")
        assert wait_gone(child["pid"])


def test_sandboxed_verus_cannot_write_outside_its_temp_dir(fake):
    if sandbox_status()[0] is None:
        pytest.skip("bubblewrap is not usable here")
    result = verify(program("write_outside"), fake.config(sandbox=True))
    assert not fake.outside_path.exists()
    assert result.status == "crash" and "could not write outside" in result.stderr_tail


def test_without_the_sandbox_the_same_write_succeeds(fake):
    """The control for the test above: the double does write when nothing stops it."""
    assert verify(program("write_outside"), fake.config(sandbox=False)).status == "verified"
    assert fake.outside_path.exists()


def test_malformed_report_is_a_crash_not_a_failure(fake):
    result = verify(program("bad_report"), fake.config())
    assert result.status == "crash"
    assert "malformed verification-results" in result.detail and "verified" in result.detail
    assert (result.n_verified, result.n_errors) == (None, None)


@pytest.mark.parametrize("results, field", [
    ({"verified": "lots", "errors": 0}, "verified"),
    ({"verified": 1, "errors": -3}, "errors"),
    ({"verified": 1, "errors": True}, "errors"),
    ({"encountered-vir-error": "no", "verified": 1, "errors": 0}, "encountered-vir-error"),
    ({"success": True}, "no verified or errors count"),
])
def test_report_schema(results, field):
    stdout = json.dumps({"verification-results": results})
    result = parse_verus_output(stdout, "", 1, False)
    assert result.status == "crash" and field in result.detail

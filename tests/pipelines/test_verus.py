"""Verus pipeline end to end: the embedded sample without Verus, a run through FAKE_VERUS (the test double
at the process boundary, transforms/testing/fake_verus.py, installed as a `verus` wrapper script), and the
fail-fast of --require-verification."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.verus import SAMPLE_DIR
from transforms.argtypes import parse_column_map
from transforms.errors import InputError
from transforms.verus.programs import (REPAIR_PROMPT, TASK_PROMPT, check_column_map, extract, fenced_code,
                                       split_debugging_input)
from schemas.verus import FEATURE_COLUMNS, FEATURE_TERMS
from transforms.testing.openai_server import FakeOpenAIServer
from transforms.records import Rejected
from transforms.verus.tasks import spec_code_fingerprint
from transforms.testing import FAKE_VERUS

ROOT = Path(__file__).resolve().parents[2]


def _manifest(out: Path) -> dict:
    return json.loads((out / "_manifest.json").read_text())


def _rows(out: Path, dataset: str) -> list[dict]:
    return pq.read_table(out / dataset).to_pylist()


def _by_file(rows: list[dict]) -> dict[str, dict]:
    return {Path(r["source_id"]).name if r["source_id"].endswith(".rs") else r["source_id"]: r for r in rows}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("verus") / "sample"
    assert main(["verus", "--output", str(out), "--verus", str(out.parent / "no-such-verus")]) == 0
    return out


def test_sample_run_without_verus(sample_run, capsys):
    manifest = _manifest(sample_run)
    assert manifest["conservation"] == {"read": 10, "written": 6, "rejected": 2, "deduplicated": 2, "holds": True}
    assert manifest["rejects_by_stage_reason"] == {"extract/no_code": 1, "parse/parse_error": 1}
    # binary_search_copy.rs differs from binary_search.rs in comments and layout: by the target key an exact copy
    assert manifest["deduplicated_by_stage_method"] == {"dedup:exact/exact": 2}
    notes = "\n".join(manifest["notes"])
    assert "verification skipped" in notes
    for label in ("seeds (8 programs)", "programs (6 programs)", "tasks (5 programs)", "repairs (1 programs)"):
        assert f"feature coverage {label}" in notes
    coverage = manifest["verus"]["feature_coverage"]
    assert coverage["seeds"]["features"]["feat_nonlinear_arith"]["programs"] == 3
    assert coverage["programs"]["features"]["escape_assume"] == {"programs": 1, "share": round(1 / 6, 4)}

    programs = _rows(sample_run, "programs")
    assert all(p["verification_status"] is None and p["accepted"] is None and p["verification_errors"] is None
               for p in programs)
    by_file = _by_file(programs)
    assert "broken_syntax.rs" not in by_file
    assert len({"binary_search.rs", "binary_search_copy.rs"} & set(by_file)) == 1  # near duplicate removed
    assert by_file["seq_max.rs"]["feat_seq"] > 0 and by_file["seq_max.rs"]["feat_ext_equal"] == 1
    assert by_file["abs_with_assume.rs"]["escape_assume"] == 1
    rejects = {r["reason"]: r for r in _rows(sample_run, "rejects")}
    assert json.loads(rejects["parse_error"]["record_json"])["source_id"].endswith("broken_syntax.rs")

    tasks = _rows(sample_run, "tasks")
    assert by_file["abs_with_assume.rs"]["id"] not in {t["program_id"] for t in tasks}  # cheating: no task
    for task in tasks:
        assert "invariant" not in task["task"] and "assert(" not in task["task"]
        assert spec_code_fingerprint(task["task"]) == task["spec_fingerprint"] == spec_code_fingerprint(
            task["ground_truth"])
    [lemma] = [t for t in tasks if "proof fn lemma_sum_to_closed_form" in t["ground_truth"]]
    assert "lemma_sum_to_closed_form((n - 1) as nat)" not in lemma["task"] and "ensures" in lemma["task"]
    # the task file's ground truth is sum_lemma.rs re-spaced: an exact duplicate
    assert {json.loads(r["record_json"])["source_id"] for r in _rows(sample_run, "duplicates")
            if r["method"] == "exact"} == {"sum_to_closed_form", "programs/binary_search.rs"}

    [repair] = _rows(sample_run, "repairs")
    assert repair["origin"] == "imported" and repair["failing_status"] == "failed"
    assert "postcondition not satisfied" in repair["errors"]
    assert "invariant" in repair["fixed_program"] and "invariant" not in repair["failing_program"]
    assert spec_code_fingerprint(repair["failing_program"]) == spec_code_fingerprint(repair["fixed_program"])

    export = json.loads((sample_run / "export" / "sft.json").read_text())
    assert isinstance(export, list) and len(export) == len(tasks) + 1
    assert all(set(row) == {"prompt", "input", "output", "source"} for row in export)
    assert [row["source"] for row in export] == ["tasks"] * len(tasks) + ["repairs"]
    assert "```\nerror:" in export[-1]["input"]  # the error text is fenced
    assert fenced_code(export[-1]["output"]) is not None
    assert split_debugging_input(export[-1]["input"])[1].startswith("error:")
    assert manifest["verus"]["export"]["rows"] == len(export)

    capsys.readouterr()
    assert main(["stats", str(sample_run)]) == 0
    assert "feature coverage programs" in capsys.readouterr().out


def test_seed_sources_are_relative_to_the_seeds_path(sample_run, tmp_path):
    """Seeds under an absolute tmp path: sources name files relative to --seeds, so a copy of the
    sample elsewhere gives the very rows of the sample run, and no shard holds the tmp path."""
    seeds = tmp_path / "home" / "alice" / "seeds"
    shutil.copytree(SAMPLE_DIR, seeds)
    with open(seeds / "programs" / "broken.jsonl", "w") as handle:
        handle.write('{"program": "fn f() {}"\n')  # a JSONL reader reject
    out = tmp_path / "out"
    assert main(["verus", "--seeds", str(seeds), "--output", str(out), "--verus", str(tmp_path / "no-verus")]) == 0
    for dataset in ("programs", "tasks", "repairs", "duplicates"):
        assert _rows(out, dataset) == _rows(sample_run, dataset), dataset
    assert {p["source"] for p in _rows(out, "programs")} >= {"programs/seq_max.rs", "safe_sample.json"}
    (bad,) = [r for r in _rows(out, "rejects") if r["stage"] == "read"]
    assert bad["detail"].startswith("programs/broken.jsonl:1: ")
    assert json.loads(bad["record_json"])["source"] == "programs/broken.jsonl"
    for path in out.glob("*/*.parquet"):
        table = pq.read_table(path)
        for name in table.column_names:
            assert str(tmp_path) not in json.dumps(table.column(name).to_pylist(), default=str), (path, name)


def test_a_finished_run_with_its_export_is_replaced_with_overwrite(tmp_path, capsys):
    """export/ is the run's own (manifest extra_entries): --overwrite replaces it; a user's file is kept safe."""
    out = tmp_path / "out"
    argv = ["verus", "--output", str(out), "--verus", "none"]
    assert main(argv) == 0 and (out / "export" / "sft.json").is_file()
    assert main(argv + ["--overwrite"]) == 0
    (out / "notes.txt").write_text("mine")
    assert main(argv + ["--overwrite"]) == 2
    assert "holds entries its run did not write (notes.txt)" in capsys.readouterr().err


def test_extract_layouts():
    assert isinstance(extract({"_source": "a.json", "_source_id": "a.json:0",
                               "record": {"prompt": "p", "input": "i", "output": "no code"}}), Rejected)
    assert extract({"_source_id": "x", "record": {"foo": 1}}).reason == "unknown_layout"
    got = extract({"_source": "t", "_source_id": "t:0", "record": {"task_id": 7, "task": "```rust\nfn f() {}\n```",
                                                                   "ground_truth": "fn f() {}"}})
    assert got["source_id"] == "7" and got["program"] == "fn f() {}" and got["_task"] == "fn f() {}\n"


def test_extract_by_column_map():
    mapping = check_column_map(parse_column_map("program=y,task=x,source_id=id"))
    record = {"id": 12, "x": "```rust\nfn f() {}\n```", "y": "verus! { fn f() { assert(true); } }"}
    got = extract({"_source": "p.jsonl", "_source_id": "p.jsonl:0", "record": record}, mapping)
    assert got["program"] == record["y"] and got["_task"] == "fn f() {}\n" and got["source_id"] == "12"
    # without the map the same layout is unknown; with it, a record lacking the field is no_code naming it
    assert extract({"_source_id": "p:0", "record": record}).reason == "unknown_layout"
    missing = extract({"_source_id": "p:1", "record": {"x": "fn g() {}"}}, mapping)
    assert missing.reason == "no_code" and "'y'" in missing.detail
    for bad, words in [("task=x", "program"), ("program=y,prefix=x", "unknown target"), ("program=a|b", "one field"),
                       ("program=y,errors=e", "go together")]:
        with pytest.raises(InputError, match=words):
            check_column_map(parse_column_map(bad))


def test_column_map_reads_a_prefix_verified_layout(tmp_path, capsys):
    """{x: proof-free prefix, y: verified program} JSONL: every line becomes a program with its task."""
    seeds = tmp_path / "pairs.jsonl"
    rows = [{"x": f"use vstd::prelude::*;\nverus! {{\nfn f{i}(a: u64) -> (r: u64)\n    ensures r == a,\n{{\n    a\n}}\n}}\n",
             "y": f"use vstd::prelude::*;\nverus! {{\nfn f{i}(a: u64) -> (r: u64)\n    ensures r == a,\n{{\n"
                  f"    proof {{ assert(a == a); }}\n    a\n}}\n}}\n"} for i in range(3)]
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    argv = ["verus", "--seeds", str(seeds), "--output", str(out), "--verus", "none"]
    assert main(argv) != 0  # nothing written: the run fails naming the top reject
    assert "extract/unknown_layout (3 of 3)" in capsys.readouterr().err
    out2 = tmp_path / "out2"
    assert main(argv[:-4] + ["--output", str(out2), "--verus", "none", "--column-map", "program=y,task=x"]) == 0
    programs = _rows(out2, "programs")
    assert sorted(p["program"] for p in programs) == sorted(r["y"] for r in rows)
    assert not _rows(out2, "rejects")
    assert main(argv[:-4] + ["--output", str(tmp_path / "out3"), "--column-map", "task=x"]) == 2


@pytest.fixture()
def fake_verus(tmp_path, monkeypatch) -> Path:
    """FAKE_VERUS installed as ``<tmp>/bin/verus`` (a wrapper script, as in test_verifier.py)."""
    monkeypatch.setenv("SHARDSMITH_VERUS_WRITABLE", str(tmp_path))  # its record file, under a sandbox
    path = tmp_path / "bin" / "verus"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\n"
                    f"FAKE_VERUS_RECORD={shlex.quote(str(tmp_path / 'record.jsonl'))} "
                    f"exec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_VERUS))} \"$@\"\n")
    path.chmod(0o755)
    return path


def _seeds_with_markers(tmp_path: Path) -> Path:
    seeds = tmp_path / "seeds"
    shutil.copytree(SAMPLE_DIR, seeds)
    seq_max = (seeds / "programs" / "seq_max.rs").read_text()
    (seeds / "programs" / "seq_max_failing.rs").write_text(
        seq_max.replace("fn find_max", "fn find_max_v2") + "// FAKE_VERUS: failed 1 1\n")
    (seeds / "programs" / "seq_max_vir.rs").write_text(
        seq_max.replace("fn find_max", "fn find_max_v3") + "// FAKE_VERUS: vir_error\n")
    return seeds


def test_run_through_fake_verus(tmp_path, fake_verus):
    seeds = _seeds_with_markers(tmp_path)
    out = tmp_path / "out"
    argv = ["verus", "--seeds", str(seeds), "--verus", str(fake_verus), "--verus-cache-dir", str(tmp_path / "cache"),
            "--verus-timeout", "60", "--dedup-method", "exact", "--output", str(out)]
    assert main(argv) == 0
    manifest = _manifest(out)
    assert manifest["conservation"]["holds"]
    assert manifest["verus"]["verification"]["version"] == "0.2025.06.14.fake000"
    programs = _by_file(_rows(out, "programs"))
    # binary_search_copy.rs has binary_search.rs's target key: one of the two stays
    programs["binary_search.rs"] = programs.get("binary_search.rs") or programs["binary_search_copy.rs"]
    assert programs["binary_search.rs"]["verification_status"] == "verified"
    assert programs["binary_search.rs"]["accepted"] is True
    assert programs["binary_search.rs"]["verus_version"] == "0.2025.06.14.fake000"
    assert programs["abs_with_assume.rs"]["verification_status"] == "verified"
    assert programs["abs_with_assume.rs"]["accepted"] is False  # assume: verified but not accepted
    failing = programs["seq_max_failing.rs"]
    assert failing["verification_status"] == "failed" and failing["accepted"] is False
    assert failing["n_errors"] == 1 and failing["verification_errors"]
    assert programs["seq_max_vir.rs"]["verification_status"] == "compile_error"
    task_programs = {t["program_id"] for t in _rows(out, "tasks")}
    assert programs["binary_search.rs"]["id"] in task_programs
    assert not {programs[name]["id"] for name in ("abs_with_assume.rs", "seq_max_failing.rs",
                                                  "seq_max_vir.rs")} & task_programs
    assert len(_rows(out, "repairs")) == 1
    assert "verification skipped" not in "\n".join(manifest["notes"])

    strict = tmp_path / "strict"
    assert main([*argv[:-1], str(strict), "--verified-only"]) == 0
    manifest = _manifest(strict)
    assert manifest["conservation"]["holds"]
    assert {k: v for k, v in manifest["rejects_by_stage_reason"].items() if k.startswith("acceptance/")} == {
        "acceptance/cheating:assume": 1, "acceptance/not_verified:failed": 1,
        "acceptance/not_verified:compile_error": 1}
    assert all(p["accepted"] for p in _rows(strict, "programs"))


def test_threads_extra_args_and_library_crates_reach_verus(tmp_path, fake_verus):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    binary_search = (SAMPLE_DIR / "programs" / "binary_search.rs").read_text()
    assert "fn main()" in binary_search
    (seeds / "lib.rs").write_text(re.sub(r"fn main\(\) \{\s*\}", "", binary_search))
    out = tmp_path / "out"
    assert main(["verus", "--seeds", str(seeds), "--verus", str(fake_verus), "--verus-threads", "1",
                 "--verus-extra-args", "--no-lifetime --expand-errors", "--output", str(out)]) == 0
    runs = [json.loads(line) for line in (tmp_path / "record.jsonl").read_text().splitlines()]
    (run,) = [r for r in runs if r["event"] == "run"]
    assert run["argv"][run["argv"].index("--num-threads"):] == [
        "--num-threads", "1", "--crate-type=lib", "--no-lifetime", "--expand-errors"]
    verification = _manifest(out)["verus"]["verification"]
    assert verification["config"]["num_threads"] == 1
    assert verification["config"]["extra_args"] == ["--no-lifetime", "--expand-errors"]


def test_bad_verus_extra_args_are_a_one_line_error(tmp_path, fake_verus, capsys):
    code = main(["verus", "--verus", str(fake_verus), "--verus-extra-args", "--log 'unclosed",
                 "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("shardsmith: error: --verus-extra-args:") and len(err.splitlines()) == 1


def test_the_manifest_says_when_bubblewrap_is_absent(tmp_path, fake_verus, monkeypatch):
    from transforms.contain import sandbox_status

    bin_dir = tmp_path / "nobwrap"
    bin_dir.mkdir()
    for tool in ("sh", "setsid"):  # what the fake verus and the memory wrapper may start
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(bin_dir))
    sandbox_status.cache_clear()
    try:
        out = tmp_path / "out"
        assert main(["verus", "--verus", str(fake_verus), "--output", str(out)]) == 0
        notes = "\n".join(_manifest(out)["notes"])
    finally:
        monkeypatch.undo()
        sandbox_status.cache_clear()
    assert "verification sandbox: bubblewrap (bwrap) is not installed: untrusted programs run without a sandbox" \
        in notes


def test_require_verification_without_verus(tmp_path, capsys):
    code = main(["verus", "--require-verification", "--verus", str(tmp_path / "missing" / "verus"),
                 "--output", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shardsmith: error: --require-verification: no verus executable found")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_feature_columns_cover_the_schema():
    assert len(FEATURE_COLUMNS) >= 40


# --------------------------------------------------------------------------- synthesis (FakeOpenAIServer + fake verus)

VERIFIED_MARKER = "// FAKE_VERUS: verified 2"


class SynthesisScript:
    """Proof completion: a failing candidate first, then the task with the verified marker; repair: the
    failing program with its marker swapped for the verified one."""

    def __call__(self, request, index):
        messages = request["messages"]
        turns = sum(1 for m in messages if m["role"] == "assistant")
        program = fenced_code(messages[0]["content"])
        if messages[0]["content"].startswith(TASK_PROMPT):
            marker = "// FAKE_VERUS: failed 1 1" if turns == 0 else VERIFIED_MARKER
            return "```rust\n" + program + marker + "\n```"
        if messages[0]["content"].startswith(REPAIR_PROMPT):
            fixed = re.sub(r"// FAKE_VERUS: \w+[ \d]*", VERIFIED_MARKER, program)
            return "Fixed:\n```rust\n" + fixed + "```\n"
        return "I cannot help with that."


def test_synthesis_proof_and_repair(tmp_path, fake_verus, capsys):
    seeds = _seeds_with_markers(tmp_path)

    def run(name):
        with FakeOpenAIServer(SynthesisScript()) as server:
            out = tmp_path / name
            assert main(["verus", "--seeds", str(seeds), "--verus", str(fake_verus), "--verus-cache-dir",
                         str(tmp_path / "vcache"), "--dedup-method", "exact", "--output", str(out),
                         "--synthesize", "proof,repair", "--synthesis-max-repairs", "1",
                         "--llm-base-url", server.url, "--llm-model", "m", "--llm-cache-dir",
                         str(tmp_path / "llm-cache"), "--llm-max-retries", "0"]) == 0
            return out, server.call_count

    out, calls = run("first")
    manifest = _manifest(out)
    assert manifest["conservation"]["holds"]
    n_tasks = len(_rows(out, "tasks"))
    trajectories = _rows(out, "trajectories")
    proof = [t for t in trajectories if t["loop"] == "proof_completion"]
    repair = [t for t in trajectories if t["loop"] == "repair"]
    assert len(proof) == n_tasks > 0 and len(repair) == 2  # seq_max_failing.rs and seq_max_vir.rs
    assert {t["status"] for t in trajectories} == {"success"}
    assert all([turn["verification_status"] for turn in t["turns"] if turn["role"] == "assistant"]
               == ["failed", "verified"] for t in proof)
    assert all(t["final_verification_status"] == "verified" and t["model"] == "m" for t in trajectories)
    assert calls == 2 * n_tasks + 2
    synthesized = _rows(out, "synthesized")
    assert len(synthesized) == 2 and {p["origin"] for p in synthesized} == {"repair"}
    assert all(p["accepted"] for p in synthesized)
    pairs = _rows(out, "synthesized_repairs")
    assert len(pairs) == n_tasks + 2 and {p["origin"] for p in pairs} == {"synthesis"}
    assert len(_rows(out, "repairs")) == 1  # imported pairs only
    summary = manifest["verus"]["synthesis"]["loops_summary"]
    assert summary["proof"]["trajectory:success"] == n_tasks and summary["repair"]["program"] == 2
    assert any(n.startswith("synthesis proof:") for n in manifest["notes"])
    # every synthesized dataset reaches the SFT export, named by its source
    by_source = manifest["verus"]["export"]["by_source"]
    assert by_source == {"tasks": n_tasks, "repairs": 1, "synthesized:repair": 2, "synthesized_repairs": n_tasks + 2,
                         "trajectories:proof_completion": n_tasks, "trajectories:repair": 2}
    export = json.loads((out / "export" / "sft.json").read_text())
    [proof_row] = [r for r in export if r["source"] == "trajectories:proof_completion"][:1]
    assert proof_row["prompt"] == TASK_PROMPT and VERIFIED_MARKER in proof_row["output"]

    again, calls_again = run("second")
    assert calls_again == 0
    assert sorted(t["id"] for t in _rows(again, "trajectories")) == sorted(t["id"] for t in trajectories)


def test_synthesis_skipped_without_endpoint(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["verus", "--output", str(out), "--verus", str(tmp_path / "no-verus"),
                 "--synthesize", "proof,self"]) == 0
    manifest = _manifest(out)
    note = manifest["verus"]["synthesis"]["skipped"]
    assert "no --llm-base-url" in note and "synthesis:proof" in note and note in manifest["notes"]
    assert note in capsys.readouterr().err
    assert not (out / "trajectories").exists()
    assert main(["verus", "--output", str(tmp_path / "bad"), "--synthesize", "proof,nope"]) == 2


CONTEXT = """\
use vstd::prelude::*;
verus! {
pub struct Counter { pub n: u64 }
spec fn small(x: u64) -> bool { x < 1000 }
fn bump(c: &mut Counter)
    requires small(old(c).n),
    ensures c.n == old(c).n + 1,
{
    c.n = c.n + 1;
}
fn reset(c: &mut Counter)
    ensures c.n == 0,
{
    c.n = 0;
}
fn get(c: &Counter) -> (r: u64)
{
    c.n
}
fn is_small(c: &Counter) -> (r: bool)
{
    c.n < 1000
}
fn double(c: &mut Counter)
    requires old(c).n < 100,
{
    c.n = c.n * 2;
}
fn main() {}
}
"""
# one target each: the context (struct, spec fn, the other fn, main) is shared
ONLY_BUMP = CONTEXT.replace("fn reset(c: &mut Counter)\n    ensures c.n == 0,", "fn reset(c: &mut Counter)")
ONLY_RESET = CONTEXT.replace("    ensures c.n == old(c).n + 1,\n", "")
MAX_A = """\
use vstd::prelude::*;
verus! {
// max of two, from one source
fn max2(a: u64, b: u64) -> (r: u64)
    ensures r >= a, r >= b, r == a || r == b,
{
    if a >= b { a } else { b }
}
fn main() { let m = max2(1, 2); }
}
"""
MAX_B = """\
use vstd::prelude::*;

verus! {

spec fn unused_helper(x: int) -> int { x + 1 }

/// The same function in another source's surroundings, with a proof block and other comments.
fn max2(a: u64, b: u64) -> (r: u64)
    ensures
        r >= a,
        r >= b,
        r == a || r == b,
{
    proof { assert(a >= b || b > a); }
    if a >= b { a } else { b }
}

fn main() {
    let x = max2(3, 4);
    let y = max2(x, 5);
}

} // verus!
"""


def _write_seeds(folder: Path, programs: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in programs.items():
        (folder / name).write_text(text)
    return folder


def test_dedup_by_target_function_not_by_whole_program(tmp_path):
    seeds = _write_seeds(tmp_path / "seeds", {"bump.rs": ONLY_BUMP, "reset.rs": ONLY_RESET, "max_a.rs": MAX_A,
                                              "max_b.rs": MAX_B})
    out = tmp_path / "target"
    assert main(["verus", "--seeds", str(seeds), "--verus", str(tmp_path / "none"), "--output", str(out)]) == 0
    kept = set(_by_file(_rows(out, "programs")))
    # distinct targets in shared context both stay; one function in two surroundings is one
    assert {"bump.rs", "reset.rs"} <= kept and len({"max_a.rs", "max_b.rs"} & kept) == 1
    assert _manifest(out)["deduplicated_by_stage_method"] == {"dedup:exact/exact": 1}
    # the whole-program key: the shared context merges the two targets, the copies stay apart
    old = tmp_path / "program"
    assert main(["verus", "--seeds", str(seeds), "--verus", str(tmp_path / "none"), "--dedup-key", "program",
                 "--output", str(old)]) == 0
    kept = set(_by_file(_rows(old, "programs")))
    assert len({"bump.rs", "reset.rs"} & kept) == 1 and {"max_a.rs", "max_b.rs"} <= kept
    assert _manifest(old)["deduplicated_by_stage_method"] == {"dedup:near/minhash": 1}


def test_decontamination_against_benchmark_tasks(tmp_path, capsys):
    seeds = _write_seeds(tmp_path / "seeds", {"bump.rs": ONLY_BUMP, "max_b.rs": MAX_B,
                                              "reset.rs": ONLY_RESET})
    # a benchmark of proof-free tasks (the task of MAX_A) as JSONL, and a folder of .rs programs
    tasks = tmp_path / "bench.jsonl"
    tasks.write_text(json.dumps({"task_id": "bench/max2", "task": MAX_A, "ground_truth": MAX_A}) + "\n"
                     + json.dumps({"task_id": "bench/empty", "task": "", "ground_truth": ""}) + "\n")
    folder = _write_seeds(tmp_path / "bench_rs", {"reset_task.rs": ONLY_RESET.replace("fn main() {}", "")})
    out = tmp_path / "out"
    assert main(["verus", "--seeds", str(seeds), "--verus", str(tmp_path / "none"), "--decontam-benchmark",
                 str(tasks), "--decontam-benchmark", str(folder), "--output", str(out)]) == 0
    manifest = _manifest(out)
    assert manifest["conservation"]["holds"]
    assert manifest["rejects_by_stage_reason"] == {"decontam/benchmark_contamination": 2}
    details = sorted(r["detail"] for r in _rows(out, "rejects"))
    assert details == ["bench/max2 (exact)", "reset_task.rs (exact)"]
    assert set(_by_file(_rows(out, "programs"))) == {"bump.rs"}
    info = manifest["verus"]["decontamination"]
    assert info["items"] == 2 + 1 and info["skipped"] == {"no_code": 1}
    # a near copy (a changed constant) is found by MinHash
    near = _write_seeds(tmp_path / "near", {"bump.rs": ONLY_BUMP, "max_c.rs": MAX_B.replace("let y = max2(x, 5);", "")
                                            .replace("r == a || r == b,", "r == a || r == b || false,")})
    out2 = tmp_path / "out2"
    assert main(["verus", "--seeds", str(near), "--verus", str(tmp_path / "none"), "--decontam-benchmark",
                 str(tasks), "--threshold", "0.5", "--output", str(out2)]) == 0
    [reject] = _rows(out2, "rejects")  # max_c.rs
    assert reject["reason"] == "benchmark_contamination" and reject["detail"].startswith("bench/max2 (near, Jaccard")
    # a wrong path is a one-line error naming the flag
    capsys.readouterr()
    assert main(["verus", "--seeds", str(seeds), "--decontam-benchmark", str(tmp_path / "missing"),
                 "--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--decontam-benchmark" in err and "missing" in err


def _new_program(k: int, ensures: str) -> str:
    return (f"use vstd::prelude::*;\nverus! {{\nfn made_{k}(a: u64, b: u64) -> (r: u64)\n    requires a < {k + 50}, "
            f"b < 7,\n    ensures {ensures},\n{{\n    let s = a * {k + 2} + b;\n    let t = s % {k + 3};\n    proof {{ assert(b < 7); }}\n"
            f"    if a > b {{ a }} else {{ b }}\n}}\n}}\n{VERIFIED_MARKER}\n")


class SelfTutorialScript:
    """Self-synthesis sample k: 0 a seed verbatim, 1 `ensures true`, 2 a new program, 3 a repeat of it;
    tutorial: the exemplar returned verbatim."""

    def __call__(self, request, index):
        messages = request["messages"]
        first, last, k = messages[0]["content"], messages[-1]["content"], request.get("seed", 0)
        if first.startswith("Here is a Verus program that uses"):
            return "```rust\n" + fenced_code(first) + VERIFIED_MARKER + "\n```"
        if "Write a new, self-contained Rust program" in last:
            return f"```rust\nfn plain_{k}() {{}}\n```"
        if "Turn this Rust program into a Verus program" in last:
            k = int(last.split("fn plain_")[1].split("(")[0])
            if k == 0:
                return "```rust\n" + (SAMPLE_DIR / "programs" / "seq_max.rs").read_text() + VERIFIED_MARKER + "\n```"
            ensures = "true" if k == 1 else "r >= a, r >= b"
            return "```rust\n" + _new_program(2 if k == 3 else k, ensures) + "```"
        return "I cannot help with that."


def test_self_and_tutorial_synthesis_reject_copies_and_trivial_specs(tmp_path, fake_verus):
    out = tmp_path / "out"
    with FakeOpenAIServer(SelfTutorialScript()) as server:
        assert main(["verus", "--verus", str(fake_verus), "--verus-cache-dir", str(tmp_path / "vcache"),
                     "--output", str(out), "--synthesize", "self,tutorial", "--synthesis-max-repairs", "0",
                     "--self-synthesis-batch", "4", "--self-synthesis-max-batches", "1", "--tutorial-variants", "1",
                     "--llm-base-url", server.url, "--llm-model", "m", "--llm-cache-dir",
                     str(tmp_path / "llm-cache"), "--llm-max-retries", "0"]) == 0
        requests = [r.body for r in server.requests]
    manifest = _manifest(out)
    summary = manifest["verus"]["synthesis"]["loops_summary"]
    assert {k: v for k, v in summary["self"].items() if k.startswith("rejected:")} == {
        "rejected:near_seed": 1, "rejected:trivial_spec": 1, "rejected:near_duplicate_output": 1}
    assert summary["self"]["program"] == 1
    tutorial = summary["tutorial"]
    assert tutorial["inputs"] > 0 and tutorial["rejected:near_seed"] == tutorial["inputs"]
    assert "program" not in tutorial
    [made] = _rows(out, "synthesized")
    assert "fn made_2" in made["program"] and made["origin"] == "self_synthesis"
    # the tutorial prompt names the feature in Verus terms, and its exemplar uses the feature most
    programs = [p for p in _rows(out, "programs") if p["accepted"]]
    prompts = [r["messages"][0]["content"] for r in requests
               if r["messages"][0]["content"].startswith("Here is a Verus program that uses")]
    [assert_by] = [p for p in prompts if FEATURE_TERMS["assert_by"] in p]
    most = max(p["feat_assert_by"] for p in programs)
    assert fenced_code(assert_by) in {p["program"] for p in programs if p["feat_assert_by"] == most}
    assert not any("`assert_by`" in p.split(":", 1)[0] for p in prompts)
    # the export: tasks, repairs, the kept synthesized program and its trajectory, with their source
    export = json.loads((out / "export" / "sft.json").read_text())
    sources = [row["source"] for row in export]
    assert sources.count("synthesized:self_synthesis") == 1 and sources.count("trajectories:self_synthesis") == 1
    assert "trajectories:tutorial" not in sources  # its outputs were all rejected
    [trajectory] = [row for row in export if row["source"] == "trajectories:self_synthesis"]
    assert trajectory["prompt"].startswith("Turn this Rust program into a Verus program")
    assert "fn made_2" in trajectory["output"] and "fn plain_2" in trajectory["input"]

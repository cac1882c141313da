"""Verus pipeline end to end: the embedded sample without Verus, a run through FAKE_VERUS (the test double
at the process boundary, transforms/verus/fake_verus.py, installed as a `verus` wrapper script), and the
fail-fast of --require-verification."""
from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.verus import SAMPLE_DIR, extract, fenced_code, split_debugging_input
from schemas.verus import FEATURE_COLUMNS
from transforms.records import Rejected
from transforms.verus.tasks import spec_code_fingerprint

ROOT = Path(__file__).resolve().parents[2]
FAKE_VERUS = ROOT / "transforms" / "verus" / "fake_verus.py"


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
    assert manifest["deduplicated_by_stage_method"] == {"dedup:exact/exact": 1, "dedup:near/minhash": 1}
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
            if r["method"] == "exact"} == {"sum_to_closed_form"}

    [repair] = _rows(sample_run, "repairs")
    assert repair["origin"] == "imported" and repair["failing_status"] == "failed"
    assert "postcondition not satisfied" in repair["errors"]
    assert "invariant" in repair["fixed_program"] and "invariant" not in repair["failing_program"]
    assert spec_code_fingerprint(repair["failing_program"]) == spec_code_fingerprint(repair["fixed_program"])

    export = json.loads((sample_run / "export" / "sft.json").read_text())
    assert isinstance(export, list) and len(export) == len(tasks) + 1
    assert all(set(row) == {"prompt", "input", "output"} for row in export)
    assert fenced_code(export[-1]["output"]) is not None
    assert split_debugging_input(export[-1]["input"])[1].startswith("error:")
    assert manifest["verus"]["export"]["rows"] == len(export)

    capsys.readouterr()
    assert main(["stats", str(sample_run)]) == 0
    assert "feature coverage programs" in capsys.readouterr().out


def test_extract_layouts():
    assert isinstance(extract({"_source": "a.json", "_source_id": "a.json:0",
                               "record": {"prompt": "p", "input": "i", "output": "no code"}}), Rejected)
    assert extract({"_source_id": "x", "record": {"foo": 1}}).reason == "unknown_layout"
    got = extract({"_source": "t", "_source_id": "t:0", "record": {"task_id": 7, "task": "```rust\nfn f() {}\n```",
                                                                   "ground_truth": "fn f() {}"}})
    assert got["source_id"] == "7" and got["program"] == "fn f() {}" and got["_task"] == "fn f() {}\n"


@pytest.fixture()
def fake_verus(tmp_path) -> Path:
    """FAKE_VERUS installed as ``<tmp>/bin/verus`` (a wrapper script, as in test_verifier.py)."""
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

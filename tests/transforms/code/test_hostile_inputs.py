"""Hostile Clean-PR records (issue 15): each finishes in seconds or is a named reject.

The cases run in a child process with a hard timeout, so the old quadratic code fails the test
instead of hanging the suite. ``benchmarks/hostile_inputs.py`` measures the same cases through the CLI.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


from benchmarks.hostile_inputs import many_blocks, many_files, repeated_lines
from transforms.code.pr_sample import CleanPrConfig, noise_reason, prepare_pr
from transforms.records import Rejected

ROOT = Path(__file__).resolve().parents[3]
LIMIT = 60  # seconds; the fixed code needs a few, the old code ran past 900


def _in_child(code: str) -> dict:
    """Run ``code`` (which prints one JSON line) in a fresh interpreter, killed after LIMIT seconds."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=LIMIT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


BUILD = """
import json
from benchmarks.hostile_inputs import {case}
from transforms.code.pr_sample import CleanPrConfig, build_edit_sample, prepare_pr
sample = build_edit_sample(prepare_pr({case}()), {{}}, CleanPrConfig())
print(json.dumps({{"reason": getattr(sample, "reason", None), "detail": getattr(sample, "detail", None),
                  "n_blocks": None if getattr(sample, "reason", None) else sample["n_blocks"]}}))
"""


def test_repeated_lines_with_one_insertion_build_a_sample():
    got = _in_child(BUILD.format(case="repeated_lines"))
    # 100,000 identical lines: the only unique SEARCH is the whole file, found without quadratic growth.
    assert got == {"reason": None, "detail": None, "n_blocks": 1}


def test_every_other_line_edited_is_rejected_before_building_blocks():
    got = _in_child(BUILD.format(case="many_blocks"))
    assert got["reason"] == "too_many_blocks" and "src/blocks.py" in got["detail"]


def test_ten_thousand_files_are_rejected_before_any_file_is_inspected():
    verdict = noise_reason(prepare_pr(many_files()), CleanPrConfig())
    assert isinstance(verdict, Rejected) and verdict.reason == "too_many_files"
    assert verdict.detail.startswith("10000 changed files")


def test_large_diffs_stay_near_linear_and_exact():
    """25,000 one-line edits: every changed line is its own region, and the blocks replay."""
    file = many_blocks()["files"][0]
    got = _in_child("""
import json
from benchmarks.hostile_inputs import many_blocks
from transforms.code.search_replace import changed_spans, make_blocks, roundtrip_check, split_lines
f = many_blocks()["files"][0]
before, after = f["before"], f["after"]
spans = changed_spans(split_lines(before), split_lines(after))
lines = split_lines(before)
cut = 2 * 2000  # replaying is linear per block; keep the replay check to the first 2,000 edits
small_before, small_after = "".join(lines[:cut]), "".join(split_lines(after)[:cut])
blocks = make_blocks(small_before, small_after, "x.py")
print(json.dumps({"spans": len(spans), "one_line": all(i2 - i1 == 1 and j2 - j1 == 1 for i1, i2, j1, j2 in spans),
                  "blocks": len(blocks), "roundtrip": roundtrip_check(small_before, small_after, blocks) is None}))
""")
    assert got == {"spans": 25_000, "one_line": True, "blocks": 2000, "roundtrip": True}
    assert file["before"].count("\n") == 50_000


def test_hostile_records_through_the_cli(tmp_path):
    """The three records plus an ordinary PR through the real console entry: exit 0, one reject each."""
    records = [repeated_lines(), many_blocks(), many_files()]
    for number, record in enumerate(records, 10):
        record["number"] = number
    records.append({"repo": "hostile/inputs", "number": 1, "title": "Fix", "merged": True, "author_login": "dev",
                    "files": [{"path": "src/ok.py", "status": "modified", "before": "def f():\n    return 1\n",
                               "after": "def f():\n    return 2\n"}]})
    source = tmp_path / "prs.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", "from pipelines.cli import entry; entry()", "clean-pr",
                           "--input", str(source), "--output", str(out), "--no-decontam"],
                          capture_output=True, text=True, timeout=3 * LIMIT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    import pyarrow.parquet as pq

    rejects = [row for part in sorted((out / "rejects").glob("*.parquet"))
               for row in pq.read_table(part, columns=["stage", "reason"]).to_pylist()]
    assert sorted((r["stage"], r["reason"]) for r in rejects) == [
        ("edit_samples", "too_many_blocks"), ("noise", "too_many_files")]
    assert sum(pq.read_metadata(p).num_rows for p in (out / "edits").glob("*.parquet")) == 2

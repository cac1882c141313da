"""``shardsmith check-answers``: the input rows plus a verdict column, rejects and the manifest's
verdict counts; ``--answer-rel-tol`` declared once, shared with dr-sci."""
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import flags
from pipelines.cli import main
from pipelines.registry import PIPELINES

ROWS = [
    {"id": 1, "answer": "70000", "response": "\\boxed{70,000}", "kind": None},  # GSM8K #3
    {"id": 2, "answer": "70000", "response": "70001", "kind": None},
    {"id": 3, "answer": "2.166 x 10^-34 J s", "response": "2.17e-34 J s", "kind": None},  # MMLU college_chemistry
    {"id": 4, "answer": "2.166 x 10^-34 J s", "response": "0", "kind": None},
    {"id": 5, "answer": "C", "response": "so the answer is (C)", "kind": "multiple_choice"},
    {"id": 6, "answer": "1", "response": "(10**999)**999", "kind": None},
    {"id": 7, "answer": None, "response": "3", "kind": None},
]


def _table(tmp_path):
    path = tmp_path / "rollouts.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    return path


def test_writes_rows_with_verdicts_rejects_and_counts(tmp_path):
    out = tmp_path / "checked"
    assert main(["check-answers", str(_table(tmp_path)), "--reference-column", "answer", "--candidate-column",
                 "response", "--answer-type-column", "kind", "--output", str(out)]) == 0
    rows = {r["id"]: r for r in pq.read_table(out / "checked").to_pylist()}
    assert {i: r["verdict"] for i, r in rows.items()} == {
        1: "equivalent", 2: "different", 3: "equivalent", 4: "different", 5: "equivalent", 6: "unknown"}
    assert rows[5]["response"] == "so the answer is (C)" and rows[5]["kind"] == "multiple_choice"
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["verdicts"] == {"equivalent": 3, "different": 2, "unknown": 1}
    assert manifest["rejects_by_stage_reason"] == {"check/missing_field": 1}
    assert manifest["conservation"]["holds"] and manifest["conservation"]["written"] == 6
    rejected = pq.read_table(out / "rejects").to_pylist()
    assert [json.loads(r["record_json"])["id"] for r in rejected] == [7]


def test_tolerance_flag(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"ref": "9.9e-4", "cand": "1.03e-3"}) + "\n")
    verdicts = []
    for tol in ("0.05", "0.01"):
        out = tmp_path / f"out-{tol}"
        assert main(["check-answers", str(path), "--reference-column", "ref", "--candidate-column", "cand",
                     "--answer-rel-tol", tol, "--output", str(out)]) == 0
        verdicts.append(pq.read_table(out / "checked").column("verdict").to_pylist())
    assert verdicts == [["equivalent"], ["different"]]


@pytest.mark.parametrize("args, message", [
    (["--candidate-column", "response"], "--reference-column is required"),
    (["--reference-column", "answer", "--candidate-column", "nope"], "no column 'nope'"),
    (["--reference-column", "answer", "--candidate-column", "response", "--verdict-column", "kind"],
     "already has that column"),
])
def test_user_mistakes_are_one_line_errors(tmp_path, capsys, args, message):
    assert main(["check-answers", str(_table(tmp_path)), *args, "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "o").exists()


def test_answer_rel_tol_is_declared_once_and_shared_with_dr_sci():
    from transforms.science.answers import DEFAULT_REL_TOL

    assert flags.DEFAULT_ANSWER_REL_TOL == DEFAULT_REL_TOL
    for name in ("dr-sci", "check-answers"):
        assert flags.answer_flags in PIPELINES[name].flags
    code = ("import sys, contextlib, io\n"
            "from pipelines import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try: cli.main(['check-answers', '--help'])\n"
            "    except SystemExit: pass\n"
            "assert '--answer-rel-tol' in out.getvalue() and '--reference-column' in out.getvalue()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('apache_beam', 'pyarrow', 'sympy')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr


def test_dr_sci_reads_the_tolerance():
    from apache_beam.options.pipeline_options import PipelineOptions

    import pipelines.dr_sci  # noqa: F401 - registers the dr-sci options
    from pipelines.options import AnswerOptions

    assert PipelineOptions(["--answer-rel-tol", "0.02"]).view_as(AnswerOptions).answer_rel_tol == 0.02
    assert PipelineOptions([]).view_as(AnswerOptions).answer_rel_tol == flags.DEFAULT_ANSWER_REL_TOL


_LEFT_CHILDREN = """
import os, sys
from pipelines import cli
exit_now = os._exit
def exit_after_counting_children(code):
    try:
        os.waitpid(-1, os.WNOHANG)  # a child still running or unreaped
        print("children left", flush=True)
    except ChildProcessError:
        print("no children left", flush=True)
    exit_now(code)
os._exit = exit_after_counting_children
sys.argv = ["shardsmith"] + sys.argv[1:]
cli.entry()
"""


def test_the_cli_reaps_its_symbolic_workers_before_it_exits(tmp_path):
    # os._exit skips atexit: without reaping, the worker would outlive the command (and its CPU
    # time would not count in the command's).
    out = tmp_path / "checked"
    done = subprocess.run([sys.executable, "-c", _LEFT_CHILDREN, "check-answers", str(_table(tmp_path)),
                           "--reference-column", "answer", "--candidate-column", "response",
                           "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "no children left"
    assert (out / "_manifest.json").exists()

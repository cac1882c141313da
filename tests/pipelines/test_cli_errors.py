"""The command line a user meets first: fast help, --version, one-line errors, exit codes."""
import inspect
import json
import os
import subprocess
import sys

import pytest

import transforms

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "PYTHONPATH": ROOT}


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=600)


def test_help_and_version_import_no_beam():
    code = ("import sys, contextlib, io\n"
            "from pipelines import cli\n"
            "for argv in (['--help'], ['clean-pr', '--help'], ['dr-sci', '--help'], ['--version']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        try: cli.main(argv)\n"
            "        except SystemExit: pass\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('apache_beam', 'pyarrow', 'numpy', 'duckdb'))\n"
            "print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr


def test_version():
    result = _cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"shardsmith {transforms.__version__}"


@pytest.mark.parametrize("args, names", [
    (["dedup", "x.jsonl", "--num-perm", "0", "--output", "o"], "--num-perm"),
    (["corpus", "--threshold", "1.5"], "--threshold"),
    (["corpus", "--rows-per-shard", "many"], "--rows-per-shard"),
    (["dr-sci", "--rollouts", "0"], "--rollouts"),
    (["dr-sci", "--llm-timeout", "-1"], "--llm-timeout"),
    (["verus", "--verus-workers", "0"], "--verus-workers"),
    (["clean-pr", "--repo-cap", "-3"], "--repo-cap"),
    (["--log-level", "loud", "corpus"], "--log-level"),
    (["corpus", "--runner=NoSuchRunner"], "NoSuchRunner"),
    (["corpus", "--no-such-flag"], "--no-such-flag"),
    (["corpus", "--keep", "quality_nonexistent>=0.5"], "quality_nonexistent"),
    (["rate", "in.jsonl", "--keep", "quality_nonexistent>=0.5", "--output", "o"], "quality_nonexistent"),
])
def test_bad_flag_values_are_one_line_errors(tmp_path, args, names):
    (tmp_path / "x.jsonl").write_text('{"text": "a"}\n')
    (tmp_path / "in.jsonl").write_text('{"text": "a"}\n')
    extra = [] if "--output" in args else ["--output", str(tmp_path / "out")]
    result = _cli(*args, *extra, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shardsmith: error:") and names in lines[0], result.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("out.tmp-*"))


def test_a_run_that_writes_nothing_exits_3_naming_the_reason(tmp_path):
    out = tmp_path / "out"
    result = _cli("corpus", "--output", str(out), "--keep", "quality_gopher_word_count>=1000000")
    assert result.returncode == 3
    (line,) = [l for l in result.stderr.splitlines() if l.startswith("shardsmith: error:")]
    assert "wrote none to docs/" in line and "below_threshold:quality_gopher_word_count" in line
    manifest = json.loads((out / "_manifest.json").read_text())  # the output is still finished
    assert (out / "_SUCCESS").exists() and manifest["conservation"]["written"] == 0


def test_log_level_shows_beam_messages(tmp_path):
    quiet = _cli("corpus", "--output", str(tmp_path / "a"))
    loud = _cli("--log-level", "info", "corpus", "--output", str(tmp_path / "b"))
    assert quiet.returncode == loud.returncode == 0
    assert "INFO" not in quiet.stderr and "INFO apache_beam" in loud.stderr


def test_multi_processing_worker_logs_go_to_a_file(tmp_path):
    out = tmp_path / "out"
    result = _cli("corpus", "--output", str(out), "--direct_running_mode=multi_processing",
                  "--direct_num_workers=2")
    assert result.returncode == 0, result.stderr
    assert "sdk_worker" not in result.stderr and "Logging handler created" not in result.stderr
    log = (out / "_logs" / "workers.log").read_text()
    assert "Logging handler created" in log
    assert "_logs/workers.log" in " ".join(json.loads((out / "_manifest.json").read_text())["notes"])


def test_flag_defaults_equal_the_library_defaults():
    from pipelines import flags
    from transforms.code.crop import DEFAULT_TOKEN_BUDGET
    from transforms.code.git_history import MAX_FILE_BYTES
    from transforms.code.pr_sample import DEFAULT_MAX_CORE_FILES, DEFAULT_REPO_CAP
    from transforms.science.adapters import ADAPTERS
    from transforms.science.decontam import NGRAM
    from transforms.science.difficulty import DEFAULT_K, DEFAULT_MAX_TOKENS, DifficultyStage
    from transforms.science.rubrics import MAX_ITEMS, MIN_ITEMS
    from transforms.stages import DEFAULT_RECORD_TIMEOUT

    assert (flags.DEFAULT_TOKEN_BUDGET, flags.MAX_FILE_BYTES, flags.DEFAULT_MAX_CORE_FILES, flags.DEFAULT_REPO_CAP) == (
        DEFAULT_TOKEN_BUDGET, MAX_FILE_BYTES, DEFAULT_MAX_CORE_FILES, DEFAULT_REPO_CAP)
    assert tuple(flags.SCIENCE_ADAPTERS) == tuple(ADAPTERS)
    assert (flags.DECONTAM_NGRAM, flags.DEFAULT_ROLLOUTS, flags.RUBRIC_MIN_ITEMS, flags.RUBRIC_MAX_ITEMS) == (
        NGRAM, DEFAULT_K, MIN_ITEMS, MAX_ITEMS)
    assert flags.RECORD_TIMEOUT == DEFAULT_RECORD_TIMEOUT
    stage_defaults = inspect.signature(DifficultyStage).parameters
    assert (flags.SOLVER_TEMPERATURE, flags.SOLVER_MAX_TOKENS) == (
        stage_defaults["temperature"].default, DEFAULT_MAX_TOKENS)

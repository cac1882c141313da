"""Every pipeline is a declared step list: its docstring's table and ``shardsmith steps`` come from
that list, and the shared flags mean the same thing in every pipeline."""
from __future__ import annotations

import importlib
import subprocess
import textwrap
from pathlib import Path

import pytest

from pipelines import flags
from pipelines.cli import main
from pipelines.registry import BUILTIN
from transforms.steps import Dedup, stage_table
from transforms.testing import install_fake_verus

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = str(ROOT / "pipelines" / "samples" / "corpus.jsonl")
VERUS_SAMPLE = ROOT / "pipelines" / "samples" / "verus"
BUILD_PIPELINES = ("corpus", "dedup", "rate", "clean-pr", "dr-sci", "verus")
DEDUP_PIPELINES = [spec.name for spec in BUILTIN if flags.dedup_flags in spec.flags]  # every one taking the flags


@pytest.fixture(scope="module")
def doc_argv(tmp_path_factory):
    """The flags each module docstring's table is generated with (``shardsmith steps NAME ...``)."""
    root = tmp_path_factory.mktemp("steps")
    repo = root / "repo"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@x", "PATH": "/usr/bin:/bin", "HOME": str(root)}
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "start"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    verus = install_fake_verus(root / "verus")
    return {
        "corpus": [],
        "dedup": ["--input", SAMPLE, "--text-column", "text", "--output", str(root / "out")],
        "rate": ["--input", SAMPLE, "--text-column", "text", "--output", str(root / "out")],
        "clean-pr": ["--git-repo", str(repo)],
        "dr-sci": ["--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m"],
        # the sample's own task file as a benchmark, so the table shows the decontam step
        "verus": ["--verus", str(verus), "--decontam-benchmark", str(VERUS_SAMPLE / "tasks.jsonl")],
    }


def _spec(name):
    return next(spec for spec in BUILTIN if spec.name == name)


def _module(name):
    return importlib.import_module(_spec(name).run.partition(":")[0])


@pytest.mark.parametrize("name", BUILD_PIPELINES)
def test_the_module_docstring_shows_the_declared_steps(name, doc_argv):
    table = stage_table(_spec(name).steps_function()(doc_argv[name]))
    assert textwrap.indent(table, "    ") in _module(name).__doc__, (
        f"regenerate the table in {_module(name).__file__}:\n" + textwrap.indent(table, "    "))


def test_shardsmith_steps_prints_the_table(doc_argv, capsys):
    assert main(["steps", "dedup", SAMPLE, "--text-column", "text", "--output", "x"]) == 0
    assert capsys.readouterr().out.strip() == stage_table(_spec("dedup").steps_function()(doc_argv["dedup"])).strip()
    assert main(["steps", "nosuch"]) == 2
    assert "unknown command 'nosuch'" in capsys.readouterr().err


def _dedup_step(name, argv):
    (step,) = [s for s in _spec(name).steps_function()(argv) if isinstance(s, Dedup)]
    return step.spec


def test_the_dedup_flags_are_taken_by_every_pipeline_that_deduplicates():
    assert sorted(DEDUP_PIPELINES) == ["clean-pr", "corpus", "dedup", "dr-sci", "verus"]


@pytest.mark.parametrize("name", DEDUP_PIPELINES)
def test_dedup_flags_mean_the_same_in_every_pipeline(name, doc_argv):
    default = _dedup_step(name, doc_argv[name])
    assert default.minhash.tokenizer == ("code" if name in ("clean-pr", "verus") else "words")
    chosen = _dedup_step(name, doc_argv[name] + ["--threshold", "1.0", "--shingles", "words", "--ngram", "3",
                                                 "--num-perm", "64"])
    assert (chosen.minhash.threshold, chosen.minhash.tokenizer, chosen.minhash.ngram, chosen.minhash.num_perm) == (
        1.0, "words", 3, 64)
    code = _dedup_step(name, doc_argv[name] + ["--shingles", "code"])
    assert code.minhash.tokenizer == "code" and code.minhash.normalization.lowercase is False
    assert _dedup_step(name, doc_argv[name] + ["--dedup-method", "exact"]).minhash is None


@pytest.mark.parametrize("name", DEDUP_PIPELINES)
@pytest.mark.parametrize("flag, value", [("--threshold", "0"), ("--threshold", "1.5"), ("--num-perm", "1"),
                                         ("--ngram", "0"), ("--shingles", "letters")])
def test_bad_shared_flag_values_are_the_same_usage_error_everywhere(name, flag, value, doc_argv, capsys):
    argv = [name, *doc_argv[name], flag, value]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0], err

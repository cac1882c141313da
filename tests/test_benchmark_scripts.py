"""Every benchmark script starts: its imports resolve and ``--help`` exits 0.

The benchmarks are run by hand, never by the suite, so a broken import or a stray merge marker
would otherwise surface only when someone needs the figures.
"""
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=[path.name for path in BENCHMARKS])
def test_benchmark_script_starts(script):
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                            timeout=120, cwd=script.parents[1])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage" in result.stdout.lower()

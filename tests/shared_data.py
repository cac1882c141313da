"""The one way tests find the shared development data (SWE-bench, MMLU, GSM8K files).

The data lives in ``$SHARDSMITH_SHARED_DATA``, by default ``<repo root>/../shared/data``. Users'
clones have none of it, so a test that reads it says so with the ``shared_data`` marker, naming
the files or folders it needs relative to that root::

    @pytest.mark.shared_data("benchmarks/mmlu/college_physics_test.csv")
    def test_real_rows():
        rows = read(shared_path("benchmarks/mmlu/college_physics_test.csv"))

``tests/conftest.py`` checks the named paths before any fixture of the test runs: a missing one
makes the test SKIP with a reason naming it, or FAIL when ``SHARDSMITH_REQUIRE_SHARED_DATA=1``
(CI sets that when the data is there). Test modules only build paths at import time (``shared_path``);
reading happens inside tests and fixtures, so a clone without the data still collects.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA_ENV = "SHARDSMITH_SHARED_DATA"
REQUIRE_ENV = "SHARDSMITH_REQUIRE_SHARED_DATA"
MARKER = "shared_data"
REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """``$SHARDSMITH_SHARED_DATA``, else ``<repo root>/../shared/data`` (not checked)."""
    configured = os.environ.get(SHARED_DATA_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "data").resolve()


def shared_path(*parts: str | os.PathLike) -> Path:
    """A path under the shared data root (not checked: the ``shared_data`` marker checks it)."""
    return shared_data_root().joinpath(*parts)


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def missing_reason(*parts: str | os.PathLike) -> str | None:
    """Why the shared data a test needs is unavailable (the first missing path), or None."""
    for part in parts or (".",):
        path = shared_path(part)
        if not path.exists():
            if required():
                return f"shared data missing: {path} ({REQUIRE_ENV}=1: required)"
            return f"shared data missing: {path} (set {SHARED_DATA_ENV} to the shared data folder)"
    return None


def missing_for(item: pytest.Item) -> str | None:
    """The missing-data reason of a test marked ``shared_data``, or None (unmarked, or all there)."""
    marks = list(item.iter_markers(MARKER))
    if not marks:
        return None
    return missing_reason(*(part for mark in marks for part in mark.args))

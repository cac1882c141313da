"""Nothing users install may read the shared development data: no ``../shared`` or ``shared/data``
path (in any spelling: a string, ``os.path.join`` parts, ``Path / 'shared' / 'data'``) and no
``SHARDSMITH_SHARED_DATA`` (the tests' variable) anywhere in the packages' files."""
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "transforms", "schemas", "dags")
FORBIDDEN = re.compile(r"""shared\W{0,8}data|\.\.\W{0,8}shared|SHARDSMITH_SHARED_DATA""", re.IGNORECASE)


def package_text_files():
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                try:
                    yield path, path.read_bytes().decode("utf-8")
                except UnicodeDecodeError:  # binary (the shipped index): no paths in it
                    continue


@pytest.mark.parametrize("line", [
    'BENCHMARK_GLOB = os.path.join("..", "shared", "data", "benchmarks", "swebench", "*.jsonl")',
    'ROOT.parent / "shared" / "data" / "benchmarks"',
    "--decontam-benchmark ../shared/data/benchmarks/mmlu",
    r"C:\\src\\shared\\data\\mmlu",
    "os.environ['SHARDSMITH_SHARED_DATA']",
])
def test_pattern_catches_every_spelling(line):
    assert FORBIDDEN.search(line)


def test_packages_never_point_at_the_shared_data():
    files = list(package_text_files())
    assert len(files) > 50 and any(path.suffix == ".py" for path, _ in files)
    hits = [f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
            for path, text in files for number, line in enumerate(text.splitlines(), 1) if FORBIDDEN.search(line)]
    assert not hits, "the product must not read the shared development data:\n" + "\n".join(hits)

"""Hostile Clean-PR records: wall time of the real ``shardsmith clean-pr`` CLI on each (issue 15).

    python benchmarks/hostile_inputs.py                  # all three cases, 120 s limit each
    python benchmarks/hostile_inputs.py --case repeated_lines --limit 900

Cases (one hostile PR record each, plus one ordinary PR so that exit 0 means "done" rather than
3 "wrote nothing"; written to a temp dir as JSONL):

* ``repeated_lines``: a file of 100,000 identical lines, one line inserted in the middle;
* ``many_blocks``: a 50,000-line file with every other line edited (25,000 blocks), distinct lines;
* ``many_blocks_repeated``: the same with 50,000 identical lines (every other one changed);
* ``many_files``: a PR with 10,000 edited files.

Each case is a fresh ``python -m pipelines.cli clean-pr --input FILE --output DIR`` process run
through ``entry()`` (the console script), killed at ``--limit`` seconds. Prints one JSON line per
case: seconds, exit code (``null`` when killed), and what the output holds (samples, rejects by
reason).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _record(files: list[dict], number: int = 1) -> dict:
    return {"repo": "hostile/inputs", "number": number, "title": "Hostile input", "body": None,
            "author_login": "dev", "author_type": "User", "merged": True, "files": files}


def repeated_lines() -> dict:
    """100,000 identical lines; the PR inserts one line in the middle."""
    lines = ["x = 1\n"] * 100_000
    after = lines[:50_000] + ["y = 2\n"] + lines[50_000:]
    return _record([{"path": "src/repeated.py", "status": "modified", "before": "".join(lines), "after": "".join(after)}])


def many_blocks(repeated: bool = False) -> dict:
    """50,000 lines, every other one edited: 25,000 one-line changes."""
    before = ["x = 1\n" if repeated else f"v{i} = {i}\n" for i in range(50_000)]
    after = [line if i % 2 == 0 else ("x = 2\n" if repeated else f"v{i} = -{i}\n") for i, line in enumerate(before)]
    return _record([{"path": "src/blocks.py", "status": "modified", "before": "".join(before), "after": "".join(after)}])


def many_files() -> dict:
    """10,000 edited Python files."""
    return _record([{"path": f"src/pkg{i // 100}/mod{i}.py", "status": "modified",
                     "before": f"def f{i}():\n    return {i}\n", "after": f"def f{i}():\n    return {i + 1}\n"}
                    for i in range(10_000)])


CASES = {"repeated_lines": repeated_lines, "many_blocks": many_blocks,
         "many_blocks_repeated": lambda: many_blocks(repeated=True), "many_files": many_files}


def _outcome(out: Path) -> dict:
    manifest = out / "_manifest.json"
    if not manifest.exists():
        return {}
    data = json.loads(manifest.read_text())
    import pyarrow.parquet as pq

    reasons: dict[str, int] = {}
    for part in sorted((out / "rejects").glob("*.parquet")):
        for row in pq.read_table(part, columns=["stage", "reason"]).to_pylist():
            key = f"{row['stage']}:{row['reason']}"
            reasons[key] = reasons.get(key, 0) + 1
    edits = sum(pq.read_metadata(p).num_rows for p in (out / "edits").glob("*.parquet"))
    return {"edits": edits, "rejects": reasons, "conservation_holds": data.get("conservation", {}).get("holds")}


def run_case(name: str, limit: float, work: Path) -> dict:
    """Write the case's record and run the CLI on it; answer the measurement."""
    source = work / f"{name}.jsonl"
    ordinary = _record([{"path": "src/ok.py", "status": "modified", "before": "def f():\n    return 1\n",
                         "after": "def f():\n    return 2\n"}], number=2)
    source.write_text(json.dumps(CASES[name]()) + "\n" + json.dumps(ordinary) + "\n")  # so exit 0 means done
    out = work / f"out-{name}"
    argv = [sys.executable, "-c", "from pipelines.cli import entry; entry()", "clean-pr", "--input", str(source),
            "--output", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=limit)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        stdout, stderr = proc.communicate()
        code = None
    seconds = time.perf_counter() - started
    result = {"case": name, "seconds": round(seconds, 2), "exit_code": code, "killed_at_limit": code is None,
              "input_mb": round(source.stat().st_size / 2**20, 2), **_outcome(out)}
    if code not in (0, 3):
        result["stderr_tail"] = stderr.decode("utf-8", "replace")[-400:]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="repeatable; default all")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds before a run is killed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shardsmith-hostile-") as work:
        for name in args.case or CASES:
            print(json.dumps(run_case(name, args.limit, Path(work))), flush=True)


if __name__ == "__main__":
    main()

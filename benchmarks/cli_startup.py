"""CLI start-up: wall and CPU seconds of ``shardsmith --help`` and each command's ``--help``.

    python benchmarks/cli_startup.py               # 5 runs per command, median and max printed
    python benchmarks/cli_startup.py --runs 10 --json

Each measurement is a fresh ``python -m pipelines.cli ... --help`` process (what a user's
shell starts), timed from spawn to exit; CPU is the child's user + system time from
``os.wait4``. For reference the same is measured for ``python -c 'import apache_beam'``,
the cost every command paid before flags were declared without Beam. The target is under
1 s of wall time for every help.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ([], ["corpus"], ["dedup"], ["rate"], ["clean-pr"], ["dr-sci"], ["verus"], ["stats"], ["query"],
            ["train-rater"], ["apply-blocks"], ["publish"], ["report"], ["schemas"])


def measure(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process running ``argv``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    cases = {"shardsmith " + " ".join(cmd + ["--help"]): [sys.executable, "-m", "pipelines.cli", *cmd, "--help"]
             for cmd in COMMANDS}
    cases["python -c 'import apache_beam' (reference)"] = [sys.executable, "-c", "import apache_beam"]
    results = {}
    for name, argv in cases.items():
        measure(argv)  # warm the file cache
        runs = [measure(argv) for _ in range(args.runs)]
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        results[name] = {"wall_median": round(statistics.median(walls), 3), "wall_max": round(max(walls), 3),
                         "cpu_median": round(statistics.median(cpus), 3)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'command':<48}{'wall median':>12}{'wall max':>10}{'cpu median':>12}")
    for name, r in results.items():
        print(f"{name:<48}{r['wall_median']:>11.3f}s{r['wall_max']:>9.3f}s{r['cpu_median']:>11.3f}s")
    helps = [r["wall_max"] for name, r in results.items() if "reference" not in name]
    print(f"slowest help: {max(helps):.3f}s wall ({'under' if max(helps) < 1 else 'OVER'} the 1 s target)")


if __name__ == "__main__":
    main()

"""Parse rate of shardsmith's Verus parser on a verus-lang/verus checkout.

    python benchmarks/verus_parse_benchmark.py PATH [--json]

PATH is a checkout (or an exported tree) of https://github.com/verus-lang/verus. The corpus is
every ``.rs`` file containing ``verus!`` under

* ``examples/``                                  hand-written examples (those the example test
  runner ignores with ``// rust_verify/tests/example.rs ignore`` are counted apart);
* ``source/vstd/``                               the standard library, all of it verified;
* ``source/rust_verify_test/tests/cargo-tests/verified/``  the test suite's Rust sources that are
  meant to verify (the other test files hold programs in ``verus_code!`` strings, many meant to
  fail).

Each file goes through ``transforms.verus.syntax.parse_verus``. A file parses unless the answer
is ``parse_error``; ``no_function`` (valid Verus holding no fn: only datatypes, or its code only in
``macro_rules!`` templates) parses but yields no program, and is counted apart. ``fns`` is the
number of functions found against the ``fn NAME`` tokens of the file (comments and strings
excluded; those in ``macro_rules!`` templates and in code outside ``verus!`` are not Verus items).
The script prints, per folder, files / parsed / no_function / fns found of fn tokens, the overall
parse rate, and each failure with the parser's detail; ``--json`` prints one JSON object instead.
Exit code 0 whatever the rate (a measurement, not a test).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.records import Rejected  # noqa: E402
from transforms.verus.syntax import VerusSyntaxError, parse_verus, tokenize  # noqa: E402

FOLDERS = ("examples", "source/vstd", "source/rust_verify_test/tests/cargo-tests/verified")
IGNORED = re.compile(r"^//\s*rust_verify/tests/example\.rs\s+ignore\b", re.MULTILINE)


def corpus(root: Path) -> list[tuple[str, Path]]:
    """(folder, file) for every ``.rs`` file holding ``verus!`` under the corpus folders, sorted."""
    out = []
    for folder in FOLDERS:
        base = root / folder
        if not base.is_dir():
            raise SystemExit(f"verus_parse_benchmark: {base} is not a folder (is {root} a verus checkout?)")
        for path in sorted(base.rglob("*.rs")):
            text = path.read_text(encoding="utf-8", errors="replace")
            if "verus!" in text:
                out.append((folder, path))
    return out


def fn_tokens(text: str) -> int:
    """``fn NAME`` pairs among the significant tokens."""
    try:
        tokens, _ = tokenize(text)
    except VerusSyntaxError:
        return 0
    return sum(1 for a, b in zip(tokens, tokens[1:]) if a.text == "fn" and b.kind == "ident")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="verus-lang/verus checkout")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    files = corpus(args.path)
    per_folder: dict[str, dict[str, int]] = {}
    failures, no_function = [], []
    started = time.perf_counter()
    for folder, path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        group = folder + (" (example runner: ignore)" if IGNORED.search(text) else "")
        stats = per_folder.setdefault(group, {"files": 0, "parsed": 0, "no_function": 0, "fns": 0, "fn_tokens": 0})
        stats["files"] += 1
        stats["fn_tokens"] += fn_tokens(text)
        result = parse_verus(text)
        if isinstance(result, Rejected) and result.reason == "parse_error":
            failures.append({"file": str(path.relative_to(args.path)), "detail": result.detail})
            continue
        stats["parsed"] += 1
        if isinstance(result, Rejected):
            stats["no_function"] += 1
            no_function.append(str(path.relative_to(args.path)))
        else:
            stats["fns"] += len(result.functions)
    seconds = time.perf_counter() - started
    total = sum(s["files"] for s in per_folder.values())
    parsed = sum(s["parsed"] for s in per_folder.values())
    summary = {"files": total, "parsed": parsed, "rate": round(parsed / total, 4) if total else None,
               "seconds": round(seconds, 2), "folders": per_folder, "failures": failures, "no_function": no_function}
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"{'folder':62s} {'parsed':>9s} {'rate':>7s} {'no_fn':>5s} {'fns / fn tokens':>16s}")
    for group, stats in per_folder.items():
        print(f"{group:62s} {stats['parsed']:4d}/{stats['files']:<4d} {stats['parsed'] / stats['files']:7.1%} "
              f"{stats['no_function']:5d} {stats['fns']:7d} / {stats['fn_tokens']:<7d}")
    print(f"{'all':62s} {parsed:4d}/{total:<4d} {parsed / total:7.1%}   ({seconds:.1f} s)")
    print(f"\n{len(failures)} parse failures:")
    for failure in failures:
        print(f"  {failure['file']}: {failure['detail']}")
    print(f"\n{len(no_function)} parsed without a function:")
    for name in no_function:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())

"""Answer checker accuracy and speed on rewrites of real reference answers, shardsmith vs math-verify.

    python benchmarks/answer_checker_benchmark.py                       # all references, seed 0
    python benchmarks/answer_checker_benchmark.py --data DIR --limit 500 --seed 1

References (``--data``, default ``$SHARDSMITH_SHARED_DATA/benchmarks``, else
``../shared/data/benchmarks`` beside the project): GSM8K test answers (``#### N``) and the
correct options of MMLU test rows that are a number with an optional unit (``1.5 x 10^8 m/s``).
Each reference gives pairs (candidate, reference):

* equivalent: the same value rewritten: thousands separators, ``N.0``, ``\\boxed{}``, ``$...$``,
  scientific notation, a fraction for a decimal (``0.5`` -> ``1/2``), a percentage
  (``0.5`` -> ``50%``), the unit's prefix changed (``m`` -> ``km``), rounded: a decimal within 1%,
  an integer within 1% and half a unit (the checker holds plain integers exact to their last digit);
* different: off by 10%, the sign flipped, times 10, off by one (integers), and (MMLU) another
  option of the same question whose value differs by more than 10%, and another letter.

Prints one JSON line per checker: accuracy on each class and microseconds per pair. math-verify
(``pip install -e ".[bench]"``) is run as its README shows: ``verify(parse(gold), parse(answer))``,
each answer wrapped in ``$...$``; when it is not installed only shardsmith is measured.
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import random
import re
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.science.answers import EQUIVALENT, answer_verdict  # noqa: E402

NUMBER_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)(?:\s*(?:x|×|\*)\s*10\^\s*(?:\{)?([-−]?\d+)\}?)?\s*([A-Za-z/°%]*)\s*$")
PREFIXED = {"m": ("km", 1e-3), "g": ("kg", 1e-3), "s": ("ms", 1e3), "J": ("kJ", 1e-3), "N": ("kN", 1e-3)}


def load_references(root: Path) -> list[dict]:
    """GSM8K answers and numeric MMLU correct options (with the question's other options)."""
    refs = []
    for line in open(root / "gsm8k" / "test.jsonl", encoding="utf-8"):
        answer = json.loads(line)["answer"].split("####")[-1].strip()
        refs.append({"text": answer, "value": Fraction(answer.replace(",", "")), "unit": "", "others": []})
    for path in sorted(glob.glob(str(root / "mmlu" / "*_test.csv"))):
        for row in csv.reader(open(path, encoding="utf-8")):
            if len(row) != 6 or row[5] not in "ABCD":
                continue
            options, correct = row[1:5], "ABCD".index(row[5])
            parsed = [NUMBER_RE.match(option) for option in options]
            if not parsed[correct]:
                continue
            values = [Fraction(m[1]) * Fraction(10) ** int(m[2].replace("−", "-")) if m and m[2] else
                      Fraction(m[1]) if m else None for m in parsed]
            others = [options[i] for i in range(4) if i != correct and values[i] is not None
                      and parsed[i][3] == parsed[correct][3]
                      and abs(values[i] - values[correct]) > abs(values[correct]) / 10]
            refs.append({"text": options[correct], "value": values[correct], "unit": parsed[correct][3],
                         "others": others, "letter": row[5]})
    return refs


def _num(value: Fraction, digits: int = 6) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.{digits}g}"


def pairs_for(ref: dict, rng: random.Random) -> list[tuple[str, str, bool]]:
    """(candidate, reference, equivalent?) pairs of one reference."""
    v, unit, text = ref["value"], ref["unit"], ref["text"]
    u = f" {unit}" if unit else ""
    same, different = [f"\\boxed{{{_num(v)}}}{u}", f"${_num(v)}${u}", f"{float(v):.6e}{u}"], []
    if v.denominator == 1:  # a plain integer is exact to its last digit: rounding stays within half a unit
        same += [f"{v.numerator:,}{u}", f"{v.numerator}.0{u}", f"{float(v) + rng.uniform(-1, 1) * min(0.45, abs(float(v)) / 100):.2f}{u}"]
        different.append(f"{v.numerator + 1}{u}")
    else:
        same.append(f"{float(v) * (1 + rng.uniform(-0.01, 0.01)):.5g}{u}")
        if v.denominator <= 16:
            same.append(f"{v.numerator}/{v.denominator}{u}")
        if not unit and abs(v) < 1:
            same.append(f"{_num(v * 100)}%")
    if unit in PREFIXED:
        prefixed, factor = PREFIXED[unit]
        same.append(f"{float(v) * factor:.6g} {prefixed}")
    if v != 0:  # off by 10%, x10 and a sign flip of 0 are 0
        different += [f"{_num(v * Fraction(11, 10))}{u}", f"{_num(v * 10)}{u}", f"{_num(-v)}{u}"]
    different += ref["others"]
    if ref.get("letter"):
        same.append(f"({ref['letter']})")
        different.append("(" + rng.choice([c for c in "ABCD" if c != ref["letter"]]) + ")")
    out = [(c, text, True) for c in same if not c.startswith("(")] + [(c, text, False) for c in different
                                                                        if not c.startswith("(")]
    if ref.get("letter"):  # option keys are checked against the letter, as a set's answer column holds it
        out += [(c, ref["letter"], c == f"({ref['letter']})") for c in same + different if c.startswith("(")]
    return out


def measure(name: str, check, pairs) -> dict:
    correct = {True: 0, False: 0}
    totals = {True: 0, False: 0}
    misses = []
    started = time.perf_counter()
    for candidate, reference, equivalent in pairs:
        try:
            verdict = bool(check(candidate, reference))
        except Exception:  # noqa: BLE001 - a checker that raises has not accepted the pair
            verdict = False
        totals[equivalent] += 1
        if verdict == equivalent:
            correct[equivalent] += 1
        elif len(misses) < 8:
            misses.append([candidate, reference, equivalent])
    seconds = time.perf_counter() - started
    return {"checker": name, "pairs": len(pairs),
            "equivalent_accepted": round(correct[True] / max(totals[True], 1), 4), "n_equivalent": totals[True],
            "different_rejected": round(correct[False] / max(totals[False], 1), 4), "n_different": totals[False],
            "us_per_pair": round(seconds / max(len(pairs), 1) * 1e6, 1), "examples_missed": misses}


def math_verify_checker():
    try:
        from math_verify import parse, verify
    except ImportError:
        return None
    return lambda candidate, reference: verify(parse(f"${reference}$"), parse(f"${candidate}$"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = Path(os.environ.get("SHARDSMITH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default / "benchmarks", help="folder holding gsm8k/ and mmlu/")
    parser.add_argument("--limit", type=int, default=0, help="references used (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not (args.data / "gsm8k" / "test.jsonl").exists():
        print(f"answer_checker_benchmark: error: no gsm8k/test.jsonl under {args.data}", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    refs = load_references(args.data)
    rng.shuffle(refs)
    refs = refs[:args.limit] if args.limit else refs
    pairs = [pair for ref in refs for pair in pairs_for(ref, rng)]
    answer_verdict("x^2", "x*x")  # start the symbolic worker before the clock
    checkers = [("shardsmith", lambda c, r: answer_verdict(c, r) == EQUIVALENT)]
    other = math_verify_checker()
    if other is not None:
        checkers.append(("math-verify", other))
    for name, check in checkers:
        print(json.dumps({"references": len(refs), **measure(name, check, pairs)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

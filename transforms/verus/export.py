"""After a Verus run: feature coverage of each dataset and the SFT export (``export/sft.json``)."""
from __future__ import annotations

import glob
import os

import pyarrow.parquet as pq

from schemas.verus import ESCAPE_COLUMNS, FEATURE_COLUMNS
from transforms.verus.programs import COVERAGE_NAMESPACE, REPAIR_PROMPT, TASK_PROMPT, fenced


def read_rows(root: str, dataset: str, columns=None) -> list[dict]:
    paths = sorted(glob.glob(os.path.join(root, dataset, "*.parquet")))
    rows: list[dict] = []
    for path in paths:
        rows.extend(pq.read_table(path, columns=columns).to_pylist())
    return rows


def coverage_of(rows: list[dict]) -> dict:
    """{n, features: {name: {programs, share}}} over the feat_* and escape_* columns of ``rows``."""
    n = len(rows)
    table = {}
    for column in FEATURE_COLUMNS + ESCAPE_COLUMNS:
        having = sum(1 for r in rows if (r.get(column) or 0) > 0)
        table[column] = {"programs": having, "share": round(having / n, 4) if n else 0.0}
    return {"n": n, "features": table}


def coverage_from_counters(counters: dict) -> dict:
    values = {name: value for (namespace, name), value in counters.items() if namespace == COVERAGE_NAMESPACE}
    n = int(values.get("programs", 0))
    table = {}
    for column in FEATURE_COLUMNS + ESCAPE_COLUMNS:
        having = int(values.get(column, 0))
        table[column] = {"programs": having, "share": round(having / n, 4) if n else 0.0}
    return {"n": n, "features": table}


def coverage_note(label: str, coverage: dict) -> str:
    present = [f"{name.split('_', 1)[1]} {v['programs']} ({v['share']:.0%})" for name, v in
               coverage["features"].items() if v["programs"] and name.startswith("feat_")]
    escapes = [f"{name.split('_', 1)[1]} {v['programs']}" for name, v in coverage["features"].items()
               if v["programs"] and name.startswith("escape_")]
    absent = sum(1 for name, v in coverage["features"].items() if name.startswith("feat_") and not v["programs"])
    return (f"feature coverage {label} ({coverage['n']} programs): " + (", ".join(present) or "none")
            + f"; {absent} features absent" + (f"; escape hatches: {', '.join(escapes)}" if escapes else ""))


def sft_rows(root: str) -> list[dict]:
    """tasks/ and repairs/ as {prompt, input, output} (SAFE / VeruSyn layout), tasks first, by id."""
    rows = []
    for task in sorted(read_rows(root, "tasks", ["id", "task", "ground_truth"]), key=lambda r: r["id"]):
        rows.append({"prompt": TASK_PROMPT, "input": fenced(task["task"]), "output": fenced(task["ground_truth"])})
    for pair in sorted(read_rows(root, "repairs", ["id", "failing_program", "errors", "fixed_program"]),
                       key=lambda r: r["id"]):
        rows.append({"prompt": REPAIR_PROMPT,
                     "input": fenced(pair["failing_program"]) + "\n\nThe error messages are as follows:\n"
                              + pair["errors"],
                     "output": fenced(pair["fixed_program"])})
    return rows



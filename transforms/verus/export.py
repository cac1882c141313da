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


def _split_prompt(content: str) -> tuple[str, str]:
    """A user message as (prompt, input): the instruction, then what follows its first blank line."""
    prompt, _, rest = content.partition("\n\n")
    return prompt, rest


def trajectory_row(trajectory: dict) -> dict | None:
    """A successful trajectory as one {prompt, input, output} row: the request the episode's first
    candidate answered (the task, the spec-and-proof request, the repair request) -> the accepted
    program; None for one that did not succeed."""
    if trajectory.get("status") != "success" or not trajectory.get("final_program"):
        return None
    turns = trajectory.get("turns") or []
    request = next((turns[k - 1]["content"] for k, turn in enumerate(turns)
                    if k and turn["role"] == "assistant" and turn.get("program") and turns[k - 1]["role"] == "user"),
                   next((t["content"] for t in turns if t["role"] == "user"), None))
    if request is None:
        return None
    prompt, given = _split_prompt(request)
    return {"prompt": prompt, "input": given, "output": fenced(trajectory["final_program"])}


def sft_rows(root: str) -> list[dict]:
    """The SFT export as {prompt, input, output, source} rows (SAFE / VeruSyn layout plus where the
    row comes from), each group by id: ``tasks`` and ``synthesized:<origin>`` (proof-free program ->
    program), ``repairs`` and ``synthesized_repairs`` (failing program + errors -> fix), and
    ``trajectories:<loop>`` (successful episodes: request -> accepted program; a self / tutorial
    episode only when its program passed the output filter, i.e. is in ``synthesized/``)."""
    rows = []
    for task in sorted(read_rows(root, "tasks", ["id", "task", "ground_truth"]), key=lambda r: r["id"]):
        rows.append({"prompt": TASK_PROMPT, "input": fenced(task["task"]), "output": fenced(task["ground_truth"]),
                     "source": "tasks"})
    synthesized = sorted(read_rows(root, "synthesized", ["id", "origin", "source_id", "program",
                                                         "program_without_proof"]), key=lambda r: r["id"])
    for program in synthesized:
        if program["program_without_proof"].strip() != program["program"].strip():
            rows.append({"prompt": TASK_PROMPT, "input": fenced(program["program_without_proof"]),
                         "output": fenced(program["program"]), "source": f"synthesized:{program['origin']}"})
    for dataset in ("repairs", "synthesized_repairs"):
        for pair in sorted(read_rows(root, dataset, ["id", "failing_program", "errors", "fixed_program"]),
                           key=lambda r: r["id"]):
            rows.append({"prompt": REPAIR_PROMPT,
                         "input": fenced(pair["failing_program"]) + "\n\nThe error messages are as follows:\n"
                                  + "```\n" + pair["errors"].rstrip("\n") + "\n```",
                         "output": fenced(pair["fixed_program"]), "source": dataset})
    kept = {p["source_id"] for p in synthesized}
    for trajectory in sorted(read_rows(root, "trajectories", ["id", "loop", "status", "turns", "final_program"]),
                             key=lambda r: r["id"]):
        if trajectory["loop"] in ("self_synthesis", "tutorial") and trajectory["id"] not in kept:
            continue
        row = trajectory_row(trajectory)
        if row is not None:
            rows.append({**row, "source": f"trajectories:{trajectory['loop']}"})
    return rows

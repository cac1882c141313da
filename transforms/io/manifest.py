"""The run manifest: what ran, with which options, and where every record went.

Stage counts come from Beam metrics (namespace ``stage:<name>``); dataset, reject and
dedup counts come from the written files themselves, so the conservation check
(read = written + rejected + deduplicated) compares two independent tallies.
"""
from __future__ import annotations

import json
import posixpath
import re
from collections import defaultdict

import fsspec
import pyarrow.parquet as pq

from transforms.stages import STAGE_NAMESPACE_PREFIX

MANIFEST_NAME = "_manifest.json"
SUCCESS_NAME = "_SUCCESS"
REJECTS_DATASET = "rejects"
DUPLICATES_DATASET = "duplicates"
SECRET_OPTION = re.compile(r"(key|token|secret|password|credential)", re.IGNORECASE)


def redact_options(options: dict) -> dict:
    """Options safe to write down: values of secret-looking names are replaced."""
    return {k: ("<redacted>" if SECRET_OPTION.search(k) and v else v) for k, v in sorted(options.items())}


def counters_from_result(result) -> dict[tuple[str, str], int]:
    """Sum Beam counters of a finished pipeline by (namespace, name), committed where known."""
    from apache_beam.metrics.metric import MetricsFilter

    totals: dict[tuple[str, str], int] = defaultdict(int)
    for counter in result.metrics().query(MetricsFilter())["counters"]:
        key = counter.key.metric
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[(key.namespace, key.name)] += int(value or 0)
    return dict(totals)


def stage_table(counters: dict[tuple[str, str], int], order: list[str] = ()) -> dict[str, dict]:
    """Per stage, in ``order`` then by name: records in, out, rejected by reason, removed, seconds."""
    stages: dict[str, dict] = {name: {"in": 0, "out": 0, "rejected": {}, "removed": 0, "seconds": 0.0}
                               for name in order}
    for (namespace, name), value in sorted(counters.items()):
        if not namespace.startswith(STAGE_NAMESPACE_PREFIX):
            continue
        entry = stages.setdefault(namespace[len(STAGE_NAMESPACE_PREFIX):],
                                  {"in": 0, "out": 0, "rejected": {}, "removed": 0, "seconds": 0.0})
        if name.startswith("rejected:"):
            entry["rejected"][name[len("rejected:"):]] = value
        elif name == "micros":
            entry["seconds"] = round(value / 1e6, 3)
        elif name in ("in", "out", "removed"):
            entry[name] = value
    return {name: entry for name, entry in stages.items() if entry["in"] or name in order}


def dataset_files(root: str) -> dict[str, dict]:
    """Every dataset folder under ``root``: its shard files with row counts and sizes."""
    fs, base = fsspec.core.url_to_fs(root)
    datasets: dict[str, dict] = {}
    for path in sorted(fs.glob(posixpath.join(base, "*", "*.parquet"))):
        rel = posixpath.relpath(path, base)
        dataset = rel.split("/", 1)[0]
        with fs.open(path, "rb") as handle:
            rows = pq.ParquetFile(handle).metadata.num_rows
        entry = datasets.setdefault(dataset, {"rows": 0, "files": []})
        entry["rows"] += rows
        entry["files"].append({"path": rel, "rows": rows, "bytes": fs.size(path)})
    return datasets


def reason_counts(root: str, dataset: str, columns: tuple[str, ...]) -> dict[str, int]:
    """Row counts of a dataset grouped by the given string columns, keys joined with '/'."""
    fs, base = fsspec.core.url_to_fs(root)
    counts: dict[str, int] = defaultdict(int)
    for path in sorted(fs.glob(posixpath.join(base, dataset, "*.parquet"))):
        with fs.open(path, "rb") as handle:
            table = pq.read_table(handle, columns=list(columns))
        if table.num_rows == 0:
            continue
        grouped = table.group_by(list(columns)).aggregate([([], "count_all")])
        for row in grouped.to_pylist():
            counts["/".join(str(row[c]) for c in columns)] += row["count_all"]
    return dict(sorted(counts.items()))


def conservation(read: int, written: int, rejected: int, deduplicated: int) -> dict:
    """The check every run must pass: each record read lands in exactly one place."""
    return {
        "read": read, "written": written, "rejected": rejected, "deduplicated": deduplicated,
        "holds": read == written + rejected + deduplicated,
    }


def build_manifest(*, root: str, pipeline: str, version: str, options: dict, schemas: dict[str, str],
                   primary: list[str], counters: dict, seconds: float, read_stage: str,
                   notes: list[str], stage_order: list[str] = (), derived_stages: list[str] = ()) -> dict:
    """Assemble the manifest of the run written under ``root``."""
    datasets = dataset_files(root)
    stages = stage_table(counters, stage_order)
    rejects = reason_counts(root, REJECTS_DATASET, ("stage", "reason")) if REJECTS_DATASET in datasets else {}
    removed = (reason_counts(root, DUPLICATES_DATASET, ("stage", "method"))
               if DUPLICATES_DATASET in datasets else {})
    read = stages.get(read_stage, {}).get("in", 0)
    rejected = sum(n for key, n in rejects.items() if key.split("/", 1)[0] not in derived_stages)
    written = sum(datasets.get(name, {}).get("rows", 0) for name in primary)
    return {
        "pipeline": pipeline,
        "version": version,
        "options": redact_options(options),
        "schema_fingerprints": schemas,
        "primary_datasets": primary,
        "stages": stages,
        "rejects_by_stage_reason": rejects,
        "deduplicated_by_stage_method": removed,
        "datasets": datasets,
        "timings": {"total_seconds": round(seconds, 3),
                    "stage_seconds": {k: v["seconds"] for k, v in stages.items()}},
        "derived_stages": list(derived_stages),
        "conservation": conservation(read, written, rejected, sum(removed.values())),
        "notes": notes,
    }


def write_json(path: str, value: dict) -> None:
    """Write pretty JSON through fsspec (key order kept: stages stay in pipeline order)."""
    with fsspec.open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2)
        handle.write("\n")


def read_manifest(output: str) -> dict:
    """The manifest of a finished run directory."""
    with fsspec.open(posixpath.join(output, MANIFEST_NAME), "r", encoding="utf-8") as handle:
        return json.load(handle)


def summary_lines(manifest: dict) -> list[str]:
    """A short console summary of a manifest."""
    lines = [f"pipeline {manifest['pipeline']} {manifest['version']}: "
             f"{manifest['timings']['total_seconds']:.1f}s"]
    lines.append(f"  {'stage':<24}{'in':>10}{'out':>10}{'rejected':>10}{'removed':>10}")
    for name, st in manifest["stages"].items():
        lines.append(f"  {name:<24}{st['in']:>10}{st['out']:>10}{sum(st['rejected'].values()):>10}{st['removed']:>10}")
    for key, n in manifest["rejects_by_stage_reason"].items():
        lines.append(f"  rejected {key}: {n}")
    for name, ds in manifest["datasets"].items():
        lines.append(f"  dataset {name}: {ds['rows']} rows in {len(ds['files'])} file(s)")
    c = manifest["conservation"]
    verdict = "holds" if c["holds"] else "BROKEN"
    lines.append(f"  conservation {verdict}: read {c['read']} = written {c['written']} + rejected "
                 f"{c['rejected']} + deduplicated {c['deduplicated']}")
    lines.extend(f"  note: {n}" for n in manifest.get("notes", []))
    return lines

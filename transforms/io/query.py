"""DuckDB over a run's shards: one view per dataset folder, plus ``stats``.

    con = connect("out/corpus")          # views: docs, rejects, duplicates, ...
    con.sql("SELECT reason, count(*) FROM rejects GROUP BY 1").show()
"""
from __future__ import annotations

import posixpath
import re

import duckdb
import fsspec

from transforms.io import manifest as mf
from transforms.io.readers import InputError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def view_name(dataset: str) -> str:
    """SQL view name of a dataset folder (non-identifier characters become '_')."""
    return dataset if _IDENTIFIER.match(dataset) else re.sub(r"\W", "_", dataset)


def dataset_dirs(output: str) -> dict[str, str]:
    """Dataset name → glob of its shards, for every folder of ``output`` holding Parquet files."""
    fs, base = fsspec.core.url_to_fs(output)
    if not fs.isdir(base):
        raise InputError(f"{output}: no such output directory")
    found: dict[str, str] = {}
    for path in sorted(fs.glob(posixpath.join(base, "*", "*.parquet"))):
        name = posixpath.relpath(path, base).split("/", 1)[0]
        found.setdefault(name, posixpath.join(output.rstrip("/"), name, "*.parquet"))
    if not found:
        raise InputError(f"{output}: holds no Parquet datasets")
    return found


def connect(output: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per dataset of ``output``."""
    con = duckdb.connect()
    if "://" in output and not output.startswith("file://"):
        con.register_filesystem(fsspec.core.url_to_fs(output)[0])
    for name, pattern in dataset_dirs(output).items():
        view = view_name(name)
        escaped = pattern.replace("'", "''")
        con.execute(f'CREATE VIEW "{view}" AS SELECT * FROM read_parquet(\'{escaped}\')')
    return con


def run_query(output: str, sql: str):
    """Result of ``sql`` over the output's views as (column names, rows)."""
    con = connect(output)
    try:
        relation = con.sql(sql)
    except duckdb.Error as exc:
        raise InputError(f"query failed: {str(exc).splitlines()[0]}") from None
    if relation is None:
        return [], []
    return relation.columns, relation.fetchall()


def _short(value, width: int = 40) -> str:
    text = "" if value is None else str(value).replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(columns: list[str], rows: list[tuple], width: int = 40) -> str:
    """Plain aligned text table with long cells shortened."""
    cells = [[_short(c, width) for c in columns]] + [[_short(v, width) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def stats(output: str) -> str:
    """Counts, reject reasons and per-column summaries of a finished (or partial) run."""
    lines: list[str] = []
    try:
        manifest = mf.read_manifest(output)
    except FileNotFoundError:
        manifest = None
        lines.append(f"{output}: no {mf.MANIFEST_NAME} (unfinished run?); summarizing the shards only")
    if manifest:
        lines.extend(mf.summary_lines(manifest))
    con = connect(output)
    for name in dataset_dirs(output):
        summary = con.sql(f'SUMMARIZE "{view_name(name)}"')
        cols = ["column_name", "column_type", "min", "max", "approx_unique", "avg", "null_percentage"]
        rows = summary.select(*cols).fetchall()
        lines.append("")
        lines.append(f"== {name} ==")
        lines.append(format_table(cols, rows, width=48))
    return "\n".join(lines)

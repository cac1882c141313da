"""Read JSONL and Parquet records from local paths or fsspec URLs (``gs://``, ``s3://`` ...).

Pure readers yield plain dict records, or ``Unreadable`` for input that cannot become
a record (invalid UTF-8, invalid JSON, a line that is not an object, a corrupt file).
The Beam layer (``ReadRecords``) turns ``Unreadable`` into rejects of stage ``read``,
so bad input is counted and kept, never lost.
"""
from __future__ import annotations

import json
from typing import Iterator, NamedTuple

import apache_beam as beam
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.errors import InputError  # noqa: F401 - re-exported for callers
from transforms.records import reject_row
from transforms.stages import REJECTS, StageCounters

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz", ".jsonl.zst")
PARQUET_SUFFIXES = (".parquet", ".pq")
READ_STAGE = "read"


class Unreadable(NamedTuple):
    """Input that could not become a record: reason, detail and what was seen."""

    reason: str
    detail: str
    raw: dict


def input_format(path: str) -> str:
    """'jsonl' or 'parquet', from the file name."""
    lower = path.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    raise InputError(f"{path}: unknown input format (expected one of {', '.join(JSONL_SUFFIXES + PARQUET_SUFFIXES)})")


def expand_inputs(patterns: list[str]) -> list[str]:
    """Resolve files, directories and globs to a sorted list of readable input files.

    Raises ``InputError`` naming the first pattern that matches nothing readable.
    """
    if not patterns:
        raise InputError("no input given")
    files: list[str] = []
    for pattern in patterns:
        try:
            fs, _ = fsspec.core.url_to_fs(pattern)
        except (ImportError, ValueError) as exc:
            raise InputError(f"{pattern}: cannot open ({exc})") from None
        protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
        unstrip = (lambda p: p) if protocol in ("file", "local") else (lambda p: fs.unstrip_protocol(p))
        try:
            if fs.isdir(pattern):
                found = [p for p in fs.find(pattern) if p.lower().endswith(JSONL_SUFFIXES + PARQUET_SUFFIXES)]
                if not found:
                    raise InputError(f"{pattern}: directory holds no .jsonl or .parquet files")
            elif any(ch in pattern for ch in "*?["):
                found = fs.glob(pattern)
                if not found:
                    raise InputError(f"{pattern}: no file matches")
            elif fs.exists(pattern):
                found = [pattern]
            else:
                raise InputError(f"{pattern}: no such file")
        except PermissionError:
            raise InputError(f"{pattern}: permission denied") from None
        for path in found:
            path = unstrip(path) if path != pattern else path
            input_format(path)
            files.append(path)
    return sorted(dict.fromkeys(files))


def _has_lone_surrogate(value) -> bool:
    """True when decoded JSON holds a string that cannot be encoded as UTF-8."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def iter_jsonl(path: str) -> Iterator[dict | Unreadable]:
    """Records of a JSON-lines file (compression inferred from the name); blank lines skipped."""
    with fsspec.open(path, "rb", compression="infer") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            where = {"source": path, "line": line_no}
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Unreadable("invalid_utf8", f"{path}:{line_no}: {exc}",
                                 {**where, "raw": raw.decode("utf-8", "backslashreplace")})
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield Unreadable("invalid_json", f"{path}:{line_no}: {exc}", {**where, "raw": text})
                continue
            if "\\ud" in text.lower() and _has_lone_surrogate(value):
                yield Unreadable("invalid_utf8", f"{path}:{line_no}: a \\u escape encodes a lone surrogate",
                                 {**where, "raw": text})
                continue
            if not isinstance(value, dict):
                yield Unreadable("not_an_object", f"{path}:{line_no}: a JSON {type(value).__name__}",
                                 {**where, "raw": text})
                continue
            yield value


def iter_parquet(path: str, batch_size: int = 1024) -> Iterator[dict]:
    """Records of a Parquet file, read in record batches."""
    with fsspec.open(path, "rb") as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_size):
            yield from batch.to_pylist()


def infer_schema(paths: list[str], sample: int = 1000) -> pa.Schema:
    """One schema for all inputs: Parquet schemas unified, JSONL inferred from its first records.

    Fields whose sampled values are all null become strings. Raises ``InputError`` naming
    the file when the records do not fit one schema.
    """
    schemas = []
    for path in paths:
        if input_format(path) == "parquet":
            with fsspec.open(path, "rb") as handle:
                schemas.append(pq.read_schema(handle))
            continue
        rows = []
        for item in iter_records(path):
            if isinstance(item, dict):
                rows.append(item)
            if len(rows) >= sample:
                break
        if rows:
            try:
                schemas.append(pa.Table.from_pylist(rows).schema)
            except (pa.ArrowException, TypeError, ValueError) as exc:
                raise InputError(f"{path}: records do not share one schema ({exc})") from None
    if not schemas:
        raise InputError(f"{paths[0] if paths else 'input'}: no readable records to infer a schema from")
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowException, TypeError) as exc:
        raise InputError(f"inputs do not share one schema: {exc}") from None
    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema])


def iter_records(path: str) -> Iterator[dict | Unreadable]:
    """Records of one JSONL or Parquet file; a file that breaks mid-way ends in one ``Unreadable``."""
    reader = iter_parquet if input_format(path) == "parquet" else iter_jsonl
    try:
        yield from reader(path)
    except Exception as exc:  # noqa: BLE001 - corrupt or vanished file becomes a reject
        yield Unreadable("unreadable_file", f"{path}: {type(exc).__name__}: {exc}", {"source": path})


class _ReadFile(beam.DoFn):
    def __init__(self, stage: str, position_field: str | None):
        self.stage, self.position_field = stage, position_field

    def setup(self):
        self.counters = StageCounters(self.stage)

    def process(self, path: str):
        for index, item in enumerate(iter_records(path)):
            self.counters.records_in.inc()
            if isinstance(item, Unreadable):
                self.counters.rejected(item.reason)
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(self.stage, item.reason, item.detail, item.raw))
            else:
                self.counters.records_out.inc()
                if self.position_field:
                    item[self.position_field] = f"{path}#{index}"
                yield item


class ReadRecords(beam.PTransform):
    """Read files into records; returns ``(records, rejects)``.

    Each file is read by one worker; a ``Reshuffle`` then spreads the records so the
    stages after it run in parallel even when the input is one big file. With
    ``position_field``, each record gets ``"<path>#<index>"`` there: a stable,
    unique position for inputs that have no id of their own.
    """

    def __init__(self, paths: list[str], stage: str = READ_STAGE, position_field: str | None = None):
        super().__init__()
        self.paths, self.stage, self.position_field = list(paths), stage, position_field

    def expand(self, pbegin):
        read = (
            pbegin
            | "files" >> beam.Create(self.paths)
            | "parse" >> beam.ParDo(_ReadFile(self.stage, self.position_field)).with_outputs(REJECTS, main="records")
        )
        return read.records | "spread" >> beam.Reshuffle(), read[REJECTS]

"""Schemas every pipeline shares: rejects, dedup removals, plain text documents.

Every field carries a ``doc`` in its metadata; ``describe(schema)`` prints them.
"""
from __future__ import annotations

import hashlib

import pyarrow as pa


def field(name: str, type_: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    """A schema field with its documentation in the field metadata (key ``doc``)."""
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


def doc_of(f: pa.Field) -> str:
    """The documentation string of a field ('' when it has none)."""
    return (f.metadata or {}).get(b"doc", b"").decode("utf-8")


def describe(schema: pa.Schema) -> str:
    """One line per field: name, type, nullability and doc."""
    return "\n".join(
        f"{f.name}: {f.type}{'' if f.nullable else ' (required)'} - {doc_of(f)}" for f in schema
    )


def fingerprint(schema: pa.Schema) -> str:
    """Stable hash of names, types and nullability (docs and metadata excluded)."""
    canonical = ";".join(f"{f.name}:{f.type}:{int(f.nullable)}" for f in schema)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def with_quality_columns(schema: pa.Schema, columns: list[str]) -> pa.Schema:
    """``schema`` plus one float64 ``quality_*`` column per name (raters add scores)."""
    out = schema
    for name in columns:
        if not name.startswith("quality_"):
            raise ValueError(f"quality column {name!r} must start with 'quality_'")
        if out.get_field_index(name) == -1:
            out = out.append(field(name, pa.float64(), f"score added by the {name[8:]} quality rater"))
    return out


REJECT_SCHEMA = pa.schema(
    [
        field("stage", pa.string(), "stage that rejected the record, e.g. 'read', 'validate:docs'", False),
        field("reason", pa.string(), "short reason from the stage's vocabulary, or 'error:<ExceptionType>'", False),
        field("detail", pa.string(), "human-readable detail: the field name, the exception message, ...", False),
        field("record_id", pa.string(), "id of the record when it had one"),
        field("record_json", pa.string(), "the original record as JSON (ASCII-escaped, so always valid UTF-8)", False),
    ]
)

DEDUP_REMOVED_SCHEMA = pa.schema(
    [
        field("record_id", pa.string(), "id of the removed duplicate", False),
        field("kept_id", pa.string(), "id of the record kept for its duplicate group", False),
        field("method", pa.string(), "'exact' (normalized content hash) or 'minhash' (near-duplicate)", False),
        field("stage", pa.string(), "dedup stage that removed it", False),
        field("record_json", pa.string(), "the removed record as JSON, so nothing is lost", False),
    ]
)

DOCUMENT_SCHEMA = pa.schema(
    [
        field("id", pa.string(), "stable id: the input's id, or a content hash of the text", False),
        field("text", pa.string(), "document text, Unicode-normalized (NFC)", False),
        field("source", pa.string(), "where the document came from (input file or dataset name)"),
        field("meta_json", pa.string(), "the input record's other fields as JSON"),
    ]
)

"""Records, rejects and stable ids: the pure vocabulary every stage speaks.

A record is a plain ``dict`` matching a schema in ``schemas/``. A stage function
takes a record and answers one of:

* map stage: a new record, or ``Rejected(reason, detail)``;
* filter stage: ``None`` (keep), a reason string, or ``Rejected``;
* flat-map stage: an iterable of records and/or ``Rejected``.

Anything a stage raises becomes the reject ``error:<ExceptionType>`` (see
``transforms/stages.py``), so one bad record never kills a run.

Private fields (``PRIVATE_FIELDS``) carry state from one stage to the next, such as where a
git-input record's clone lives or a reader position; they are never written to datasets, and
``reject_row`` and ``transforms.dedup.beam.removed_row`` leave them out of ``record_json`` too
(``public_record``), so audit rows never carry them (one is an absolute local path).
"""
from __future__ import annotations

import hashlib
import json
import math
from typing import Any, NamedTuple

MAX_DETAIL_CHARS = 2000
# Every field a pipeline adds to records for its own stages only. Listed by name rather than by
# a leading underscore, because input records may have underscore columns of their own (``_id``)
# that the audit rows must keep. A new private field belongs here.
PRIVATE_FIELDS = frozenset({
    "_repo_path",  # transforms.code.stages.REPO_PATH_FIELD: local path of the clone a PR was read from
    "_file_reasons",  # transforms.code.pr_sample.FILE_REASONS: the noise stage's verdict per file
    "_platform",  # transforms.code.platform.PLATFORM_FIELD: what the --pr-metadata join took
    "_merge_rule",  # transforms.code.git_history.MERGE_RULE_FIELD: which rule found a git PR merged
    "_position",  # transforms.science.adapters.POSITION_FIELD: "<file>#<index>" of a Dr. SCI input row
    "__position",  # pipelines.dedup.POSITION (also used by pipelines.rate)
    "__record_id",  # pipelines.rate.RECORD_ID
    "_source", "_source_id",  # transforms.verus.programs seed reader: the seed's file and position
    "_task", "_repair",  # transforms.verus.programs extract: a task file's task, an imported repair pair
})


class Rejected(NamedTuple):
    """A stage's verdict that a record leaves the main output."""

    reason: str
    detail: str = ""


def content_id(*parts: str | bytes, length: int = 16) -> str:
    """Stable hex id derived from content (sha1 over the parts, NUL-separated)."""
    h = hashlib.sha1()
    for i, part in enumerate(parts):
        if i:
            h.update(b"\x00")
        h.update(part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:length]


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)


def record_to_json(record: Any) -> str:
    """Serialize any record losslessly enough to recover it from a reject.

    ``ensure_ascii`` keeps lone surrogates and control characters escaped, so the
    result is always valid UTF-8; NaN becomes null so the JSON stays standard.
    """
    if _str_keys_only(record):  # the common shape: nothing to rewrite unless a float is not finite
        try:
            return json.dumps(record, ensure_ascii=True, sort_keys=True, allow_nan=False, default=_json_default)
        except ValueError:
            pass
    return _cleaned_json(record)


def _cleaned_json(record: Any) -> str:
    """``record_to_json`` the long way: keys made str and non-finite floats null before dumping."""
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(record), ensure_ascii=True, sort_keys=True, default=_json_default)


def _str_keys_only(value: Any) -> bool:
    """Whether every dict inside ``value`` (through dicts, lists and tuples) has only str keys,
    so ``json.dumps`` sorts and renders its keys as ``record_to_json``'s ``str(key)`` would."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or (isinstance(item, (dict, list, tuple)) and not _str_keys_only(item)):
                return False
        return True
    if isinstance(value, (list, tuple)):
        return all(not isinstance(item, (dict, list, tuple)) or _str_keys_only(item) for item in value)
    return True


def record_bytes(record: Any) -> int:
    """About how many bytes of text a record holds: the lengths of its strings and bytes at any
    depth (8 per other value). Cheap next to serializing it; what batches that wait in memory are
    bounded by, so a batch of whole-file records stays small however many records it counts."""
    if isinstance(record, (str, bytes)):
        return len(record)
    if isinstance(record, dict):
        return sum(map(record_bytes, record.values())) + 8 * len(record)
    if isinstance(record, (list, tuple)):
        return sum(map(record_bytes, record)) + 8
    return 8


def public_record(record: Any) -> Any:
    """``record`` without its ``PRIVATE_FIELDS`` (top level of a dict); anything else as it is."""
    if isinstance(record, dict) and not PRIVATE_FIELDS.isdisjoint(record):
        return {k: v for k, v in record.items() if k not in PRIVATE_FIELDS}
    return record


def reject_row(stage: str, reason: str, detail: str, record: Any, record_id: str | None = None) -> dict:
    """A row of the ``rejects/`` dataset (schema: ``schemas.common.REJECT_SCHEMA``).

    ``record_json`` holds the record without its private fields (``public_record``).
    """
    if record_id is None and isinstance(record, dict):
        rid = record.get("id")
        record_id = rid if isinstance(rid, str) else (None if rid is None else str(rid))
    detail = str(detail)
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[:MAX_DETAIL_CHARS] + "…"
    return {
        "stage": stage,
        "reason": reason,
        "detail": detail.encode("utf-8", "backslashreplace").decode("utf-8"),
        "record_id": record_id,
        "record_json": record_to_json(public_record(record)),
    }

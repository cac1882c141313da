"""pyarrow schemas, one module per record family: the single source of truth for every shard.

``ALL_SCHEMAS`` maps a schema name (the constant's name without ``_SCHEMA``, lower case) to
the schema; the manifest records ``fingerprint`` of each schema a run wrote.
"""
from __future__ import annotations

import pyarrow as pa

from schemas.common import (
    DEDUP_REMOVED_SCHEMA,
    DOCUMENT_SCHEMA,
    REJECT_SCHEMA,
    describe,
    doc_of,
    field,
    fingerprint,
    with_quality_columns,
)
from schemas.pull_requests import (
    EDIT_SAMPLE_SCHEMA,
    RAW_ISSUE_SCHEMA,
    RAW_PR_SCHEMA,
    SFT_SAMPLE_SCHEMA,
)
from schemas.science import RUBRIC_CATEGORIES, SCIENCE_QUESTION_SCHEMA, SUBJECTS
from schemas.verus import (
    ESCAPE_HATCHES,
    PROOF_TASK_SCHEMA,
    REPAIR_PAIR_SCHEMA,
    TRAJECTORY_SCHEMA,
    VERUS_FEATURES,
    VERUS_PROGRAM_SCHEMA,
)

ALL_SCHEMAS: dict[str, pa.Schema] = {
    "reject": REJECT_SCHEMA,
    "dedup_removed": DEDUP_REMOVED_SCHEMA,
    "document": DOCUMENT_SCHEMA,
    "raw_pr": RAW_PR_SCHEMA,
    "raw_issue": RAW_ISSUE_SCHEMA,
    "edit_sample": EDIT_SAMPLE_SCHEMA,
    "sft_sample": SFT_SAMPLE_SCHEMA,
    "science_question": SCIENCE_QUESTION_SCHEMA,
    "verus_program": VERUS_PROGRAM_SCHEMA,
    "proof_task": PROOF_TASK_SCHEMA,
    "repair_pair": REPAIR_PAIR_SCHEMA,
    "trajectory": TRAJECTORY_SCHEMA,
}

__all__ = [
    "ALL_SCHEMAS",
    "DEDUP_REMOVED_SCHEMA",
    "DOCUMENT_SCHEMA",
    "EDIT_SAMPLE_SCHEMA",
    "ESCAPE_HATCHES",
    "PROOF_TASK_SCHEMA",
    "RAW_ISSUE_SCHEMA",
    "RAW_PR_SCHEMA",
    "REJECT_SCHEMA",
    "REPAIR_PAIR_SCHEMA",
    "RUBRIC_CATEGORIES",
    "SCIENCE_QUESTION_SCHEMA",
    "SFT_SAMPLE_SCHEMA",
    "SUBJECTS",
    "TRAJECTORY_SCHEMA",
    "VERUS_FEATURES",
    "VERUS_PROGRAM_SCHEMA",
    "describe",
    "doc_of",
    "field",
    "fingerprint",
    "with_quality_columns",
]

"""Dr. SCI record family (issue 4): ``OUT/questions/``, one row per kept question.

Vocabulary values are snake_case identifiers (``computer_science``, not "computer science")
so they work unchanged as fastText labels (``__label__computer_science``) and in SQL.
Quality scores are not listed here: raters add ``quality_*`` float64 columns with
``schemas.common.with_quality_columns``. Columns of LLM stages stay null when the run had
no endpoint (the manifest says the stage was skipped).

Lists use an item field named ``element`` (the name Parquet's compliant nested layout uses),
so a shard read back has exactly the declared schema and the same ``fingerprint``.
"""
from __future__ import annotations

import pyarrow as pa

from schemas.common import field


def _list(type_: pa.DataType) -> pa.ListType:
    """A list type whose item field is named like Parquet names it, so round trips are exact."""
    return pa.list_(pa.field("element", type_))


SUBJECTS = (
    "mathematics",
    "physics",
    "chemistry",
    "biology",
    "medicine",
    "computer_science",
    "economics",
    "general_science",
)
NOT_SCIENCE = "not_science"  # the subject stage's reject reason; kept rows never hold it
SUBJECT_OUTCOMES = SUBJECTS + (NOT_SCIENCE,)  # what the metadata table and the classifier can decide
SUBJECT_METHODS = ("metadata", "classifier", "llm")
SPLITS = ("verifiable", "open_ended")
ANSWER_TYPES = ("numeric", "expression", "multiple_choice", "boolean", "tuple")
RUBRIC_CATEGORIES = ("Essential", "Important", "Optional", "Pitfall")
RUBRIC_SOURCES = ("generated", "imported")

ROLLOUT_TYPE = pa.struct(
    [
        field("index", pa.int64(), "rollout index 0..k-1 (part of the LLM cache key)", False),
        field("final_answer", pa.string(), "answer parsed from the last \\boxed{}; null when none was found"),
        field("correct", pa.bool_(), "verdict: rule checker (verifiable) or the LLM verifier's Yes/No (open-ended); "
              "null when the verifier never gave a parsable answer"),
        field("grader", pa.string(), "'rule' (answer checker) or 'llm' (verifier model)", False),
    ]
)

RUBRIC_ITEM_TYPE = pa.struct(
    [
        field("title", pa.string(), "short name of the criterion; the final-answer item is titled 'Final answer'", False),
        field("description", pa.string(), "what a response must (or, for a Pitfall, must not) contain", False),
        field("category", pa.string(), "one of 'Essential', 'Important', 'Optional', 'Pitfall'", False),
        field("weight", pa.float64(), "weight from the category (defaults 1.0 / 0.7 / 0.3 / 0.9; final-answer item 4.0)", False),
        field("source_weight", pa.int64(), "the source's integer weight for imported rubrics (RaR-Science, negative = pitfall); null when generated"),
    ]
)

SCIENCE_QUESTION_SCHEMA = pa.schema(
    [
        field("id", pa.string(), "stable id: content hash of the normalized question", False),
        field("source", pa.string(), "source dataset, e.g. 'webinstruct_verified', 'natural_reasoning', 'megascience', 'rar_science', 'mmlu'", False),
        field("source_id", pa.string(), "the record's id in its source, or '<file>#<row>' (file relative to its --source path) when it has none", False),
        field("question", pa.string(), "question text after cleaning (Unicode repaired, NFC, markup as LaTeX $…$)", False),
        field("choices", _list(pa.string()), "answer options of a multiple-choice question, in order (A, B, ...); null otherwise"),
        field("reference_answer", pa.string(), "reference answer as the source gives it, after cleaning"),
        field("answer_canonical", pa.string(), "minimal checkable form of a verifiable answer (number, expression, option letter, ...); null for open-ended"),
        field("answer_type", pa.string(), "for verifiable questions: 'numeric', 'expression', 'multiple_choice', 'boolean' or 'tuple'; null for open-ended"),
        field("split", pa.string(), "'verifiable' or 'open_ended'", False),
        field("near_duplicate_ids", _list(pa.string()), "ids of kept questions that are near-duplicates of this one with a different answer (templated variants, questions sharing a passage); null when none"),
        field("source_category", pa.string(), "the source's own subject/category label, before mapping"),
        field("subject", pa.string(), "one of SUBJECTS: mathematics, physics, chemistry, biology, medicine, computer_science, economics, general_science"),
        field("subject_method", pa.string(), "what decided the subject: 'metadata' (mapping table), 'classifier' (fastText) or 'llm'"),
        field("subject_confidence", pa.float64(), "classifier / LLM probability of the chosen subject; null for metadata"),
        field("n_rollouts", pa.int64(), "solver rollouts graded (k, 8 by default); null when the difficulty stage was skipped"),
        field("n_correct", pa.int64(), "rollouts judged correct; null when skipped"),
        field("difficulty", pa.float64(), "pass rate n_correct / n_rollouts (questions solved k/k are dropped); null when skipped"),
        field("rollouts", _list(ROLLOUT_TYPE), "per-rollout verdicts, in index order; null when skipped"),
        field("rubrics", _list(RUBRIC_ITEM_TYPE), "rubric items of an open-ended question (7–20 plus the final-answer item); null for verifiable or when skipped"),
        field("rubric_source", pa.string(), "'generated' (LLM) or 'imported' (RaR-Science); null when there are no rubrics"),
        field("meta_json", pa.string(), "the source record's other fields as JSON"),
    ]
)

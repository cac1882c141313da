"""Dr. SCI building blocks (pure logic, no Beam): source adapters, cleaning, subjects, the answer
checker and split, answer conflicts in duplicate groups, and benchmark decontamination.

Stage order in the pipeline: adapt -> ``clean_question`` -> ``assign_subject(s)`` ->
``assign_split`` -> dedup + ``resolve_duplicates`` -> ``Contamination.contamination_reason``;
the LLM stages (difficulty, rubrics) follow.
"""
from transforms.science.adapters import ADAPTERS, generic_adapter, import_rubric, iter_mmlu_csv, rubric_category
from transforms.science.answers import (
    answers_equivalent,
    assign_split,
    classify_answer,
    read_answer,
    split_of,
)
from transforms.science.clean import answer_reject_reason, clean_question, clean_text, fix_mojibake
from transforms.science.conflicts import resolve_duplicates
from transforms.science.decontam import Contamination, contamination_reason, load_benchmark
from transforms.science.subjects import (
    SUBJECT_TABLE,
    SubjectClassifier,
    assign_subject,
    assign_subjects,
    subject_from_metadata,
    train_subject_classifier,
)

__all__ = [
    "ADAPTERS", "generic_adapter", "import_rubric", "iter_mmlu_csv", "rubric_category",
    "answers_equivalent", "assign_split", "classify_answer", "read_answer", "split_of",
    "answer_reject_reason", "clean_question", "clean_text", "fix_mojibake",
    "resolve_duplicates",
    "Contamination", "contamination_reason", "load_benchmark",
    "SUBJECT_TABLE", "SubjectClassifier", "assign_subject", "assign_subjects", "subject_from_metadata",
    "train_subject_classifier",
]

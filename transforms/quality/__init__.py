"""Quality raters (scores as ``quality_*`` columns) and threshold stages."""
from transforms.quality.base import Rater, all_columns, rate_records
from transforms.quality.code import CodeRater, code_file_reject_reason, code_file_verdict
from transforms.quality.fasttext_rater import FastTextRater, predict_labels, train_fasttext
from transforms.quality.text import GopherRater
from transforms.quality.thresholds import (
    GOPHER_DEFAULTS,
    STARCODER_DEFAULTS,
    ThresholdFilter,
    parse_threshold,
    threshold_filter,
)

__all__ = [
    "Rater", "all_columns", "rate_records",
    "GopherRater", "CodeRater", "code_file_reject_reason", "code_file_verdict",
    "FastTextRater", "predict_labels", "train_fasttext",
    "GOPHER_DEFAULTS", "STARCODER_DEFAULTS", "ThresholdFilter", "parse_threshold", "threshold_filter",
]

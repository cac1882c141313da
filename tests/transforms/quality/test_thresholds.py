"""Threshold specs: parsing, verdicts and reasons, default sets."""
from __future__ import annotations

import math
import pickle

import pytest

from transforms.quality.code import CodeRater
from transforms.quality.text import GopherRater
from transforms.quality.thresholds import (
    GOPHER_DEFAULTS,
    STARCODER_DEFAULTS,
    Threshold,
    parse_threshold,
    parse_thresholds,
    threshold_filter,
)
from transforms.records import Rejected


@pytest.mark.parametrize(
    "spec, parsed",
    [
        ("quality_gopher_word_count>=50", ("quality_gopher_word_count", ">=", 50.0)),
        ("quality_fasttext>0.5", ("quality_fasttext", ">", 0.5)),
        ("quality_code_max_line_length<=1000", ("quality_code_max_line_length", "<=", 1000.0)),
        ("  quality_x  <  -1.5e-3 ", ("quality_x", "<", -0.0015)),
        ("quality_x>=.25", ("quality_x", ">=", 0.25)),
    ],
)
def test_parse(spec, parsed):
    threshold = parse_threshold(spec)
    assert (threshold.column, threshold.op, threshold.value) == parsed
    assert parse_threshold(threshold.spec) == threshold  # the canonical spec parses back


@pytest.mark.parametrize(
    "spec",
    ["quality_x", "quality_x=>1", "quality_x==1", "quality_x>=abc", ">=1", "quality x>=1", "quality_x>=1 2",
     "quality_x>=", "", "quality_x>=1e999", "quality_x>=nan"],
)
def test_malformed_spec_raises_value_error_naming_it(spec):
    with pytest.raises(ValueError, match="malformed threshold spec") as info:
        parse_thresholds([spec])
    assert repr(spec) in str(info.value)


def test_non_string_spec_is_rejected():
    with pytest.raises(ValueError, match="string"):
        parse_threshold(0.5)


def test_verdicts_and_reasons():
    keep_if = threshold_filter(["quality_fasttext>0.5", "quality_code_max_line_length<=1000"])
    assert keep_if({"quality_fasttext": 0.9, "quality_code_max_line_length": 1000}) is None
    low = keep_if({"quality_fasttext": 0.5, "quality_code_max_line_length": 10})
    assert low == Rejected("below_threshold:quality_fasttext", "quality_fasttext=0.5 fails quality_fasttext>0.5")
    high = keep_if({"quality_fasttext": 0.7, "quality_code_max_line_length": 1001.0})
    assert high.reason == "above_threshold:quality_code_max_line_length" and "1001" in high.detail
    # the first failing spec, in the given order, names the reason
    assert keep_if({"quality_fasttext": 0.1, "quality_code_max_line_length": 5000}).reason.endswith("quality_fasttext")


@pytest.mark.parametrize("record, state", [({}, "absent"), ({"quality_fasttext": None}, "null"),
                                           ({"quality_fasttext": math.nan}, "NaN")])
def test_missing_values_are_rejected_not_compared(record, state):
    verdict = threshold_filter("quality_fasttext<0.5")(record)
    assert verdict.reason == "missing:quality_fasttext" and state in verdict.detail


def test_one_string_may_hold_several_specs():
    keep_if = threshold_filter("quality_a>=1, quality_b<2; quality_c>0")
    assert [t.column for t in keep_if.thresholds] == ["quality_a", "quality_b", "quality_c"]
    assert keep_if({"quality_a": 1, "quality_b": 1, "quality_c": 1}) is None
    assert keep_if({"quality_a": 1, "quality_b": 1, "quality_c": 0}).reason == "below_threshold:quality_c"


def test_filter_is_picklable():
    keep_if = pickle.loads(pickle.dumps(threshold_filter(GOPHER_DEFAULTS)))
    assert len(keep_if.thresholds) == len(GOPHER_DEFAULTS)
    assert isinstance(keep_if.thresholds[0], Threshold)


def test_default_sets_refer_to_the_raters_columns():
    assert set(threshold_filter(GOPHER_DEFAULTS).columns) == set(GopherRater().columns)
    assert set(threshold_filter(STARCODER_DEFAULTS).columns) == set(CodeRater().columns)

"""RateRecords on Beam: columns added, per-record fault isolation, stage counters."""
from __future__ import annotations

import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from transforms.quality.base import Rater
from transforms.quality.beam import RateBatchDoFn, RateRecords
from transforms.quality.fasttext_rater import FastTextRater, train_fasttext
from transforms.quality.text import GopherRater
from transforms.quality.thresholds import threshold_filter
from transforms.stages import REJECTS, apply_stage

GOOD_TEXTS = [f"Document {i} tells the story of the harbour and the ships that sailed from it." for i in range(12)]
BAD_TEXT = "boom: this text makes the length rater raise"


class LengthRater(Rater):
    """Test rater: text length, but it raises on any batch holding a text with 'boom'."""

    name = "length"
    columns = ["quality_length"]

    def __init__(self):
        self.set_up = False

    def setup(self):
        self.set_up = True

    def rate(self, texts):
        if not self.set_up:
            raise AssertionError("rate() before setup()")
        if any("boom" in text for text in texts):
            raise RuntimeError("cannot rate a boom")
        return {"quality_length": np.array([len(text) for text in texts], dtype=np.float64)}


def small_fasttext_model(path):
    texts = [f"the harbour and the ships number {i}" for i in range(40)]
    texts += [f"buy cheap pills now {i}" for i in range(40)]
    labels = ["hq"] * 40 + ["lq"] * 40
    train_fasttext(texts, labels, path, epoch=5, dim=8, bucket=10_000, valid_fraction=0.0)
    return path


def test_rate_records_pipeline(tmp_path):
    model_path = small_fasttext_model(tmp_path / "q.bin")
    records = [{"id": f"doc-{i}", "text": text} for i, text in enumerate(GOOD_TEXTS)]
    records.insert(5, {"id": "bad", "text": BAD_TEXT})
    raters = [GopherRater(), LengthRater(), FastTextRater(model_path, label="hq")]
    expected_columns = sorted(["quality_length", "quality_fasttext", *GopherRater().columns])

    pipeline = beam.Pipeline(runner=FnApiRunner())
    rated, rejects = (
        pipeline
        | beam.Create(records)
        | RateRecords(raters, "text", stage="quality", min_batch_size=4, max_batch_size=8)
    )
    kept, below = apply_stage(rated, "thresholds", threshold_filter("quality_length>=77"), kind="filter")

    def check_rated(rows):
        assert sorted(r["id"] for r in rows) == sorted(f"doc-{i}" for i in range(12))
        for row in rows:
            assert sorted(k for k in row if k.startswith("quality_")) == expected_columns
            assert row["quality_length"] == len(row["text"])
            assert row["quality_gopher_word_count"] == len(row["text"].split())
            assert 0.5 < row["quality_fasttext"] <= 1.0

    def check_rejects(rows):
        assert [(r["stage"], r["reason"], r["record_id"]) for r in rows] == [("quality", "error:RuntimeError", "bad")]
        assert rows[0]["detail"] == "cannot rate a boom"
        assert json.loads(rows[0]["record_json"]) == {"id": "bad", "text": BAD_TEXT}

    assert_that(rated, check_rated, label="rated")
    assert_that(rejects, check_rejects, label="rejects")
    # texts of doc-10 and doc-11 are one character longer than the others (77 vs 76)
    assert_that(kept | beam.Map(lambda r: r["id"]), equal_to(["doc-10", "doc-11"]), label="kept")
    assert_that(below | beam.Map(lambda r: r["reason"]), equal_to(["below_threshold:quality_length"] * 10),
                label="below")
    result = pipeline.run()
    result.wait_until_finish()

    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("stage:quality"))["counters"]
    }
    assert counters["in"] == 13 and counters["out"] == 12 and counters["rejected:error:RuntimeError"] == 1


def test_batch_fallback_rejects_only_the_offending_record():
    do_fn = RateBatchDoFn([LengthRater()], "text", "quality")
    do_fn.setup()
    batch = [{"id": "a", "text": "fine"}, {"id": "b", "text": BAD_TEXT}, {"id": "c", "text": "also fine"}]
    outputs = list(do_fn.process(batch))
    rated = [o for o in outputs if isinstance(o, dict)]
    rejects = [o for o in outputs if isinstance(o, beam.pvalue.TaggedOutput)]
    assert [(r["id"], r["quality_length"]) for r in rated] == [("a", 4.0), ("c", 9.0)]
    assert [(o.tag, o.value["record_id"], o.value["reason"]) for o in rejects] == [(REJECTS, "b", "error:RuntimeError")]


def test_clashing_columns_fail_at_construction():
    with pytest.raises(ValueError, match="quality_length"):
        RateRecords([LengthRater(), LengthRater()], "text")

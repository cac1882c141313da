"""Text corpus pipeline: documents → normalized, rated, thresholded, deduplicated shards.

    shardsmith corpus --output out/corpus                  # the embedded sample corpus
    shardsmith corpus --input 'data/*.jsonl' --text-column content --output out/web

Stages: read → prepare (id, NFC text) → unique ids → quality (Gopher heuristics,
optional fastText) → thresholds → exact dedup → MinHash near dedup → ``docs/``.
Every record read ends in ``docs/``, ``rejects/`` or ``duplicates/``.
"""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.dedup import deduplicate
from pipelines.options import ColumnOptions, DedupOptions, QualityOptions, RunOptions, start_run
from schemas.common import DOCUMENT_SCHEMA, with_quality_columns
from transforms.io.readers import InputError, expand_inputs
from transforms.quality.base import all_columns
from transforms.quality.beam import RateRecords
from transforms.quality.fasttext_rater import FastTextRater
from transforms.quality.text import GopherRater
from transforms.quality.thresholds import GOPHER_DEFAULTS, threshold_filter
from transforms.records import Rejected, content_id
from transforms.stages import UniqueBy

SAMPLE_INPUT = str(Path(__file__).parent / "samples" / "corpus.jsonl")


class Prepare:
    """Input record → document: id, NFC-normalized text, source, the other fields as JSON."""

    def __init__(self, text_column: str, id_column: str):
        self.text_column, self.id_column = text_column, id_column

    def __call__(self, record: dict):
        text = record.get(self.text_column)
        if text is None:
            return Rejected("missing_text", f"field {self.text_column} is missing")
        if not isinstance(text, str):
            return Rejected("wrong_type", f"field {self.text_column}: expected string, got {type(text).__name__}")
        text = unicodedata.normalize("NFC", text)
        if not text.strip():
            return Rejected("empty_text", f"field {self.text_column} is blank")
        raw_id = record.get(self.id_column)
        doc_id = str(raw_id) if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else content_id(text)
        meta = {k: v for k, v in record.items() if k not in (self.text_column, self.id_column)}
        return {"id": doc_id, "text": text, "source": record.get("source") if isinstance(record.get("source"), str) else None,
                "meta_json": json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str) if meta else None}


def run(argv: list[str]) -> dict:
    """Run the corpus pipeline; returns the manifest."""
    options = PipelineOptions(argv)
    run_opts, cols, dedup = (options.view_as(c) for c in (RunOptions, ColumnOptions, DedupOptions))
    opts = options.view_as(QualityOptions)
    inputs = expand_inputs(run_opts.input or [SAMPLE_INPUT])
    raters = [GopherRater()]
    if opts.fasttext_model:
        raters.append(FastTextRater(opts.fasttext_model, label=opts.fasttext_label))
    specs = ([] if opts.no_default_thresholds else list(GOPHER_DEFAULTS)) + list(opts.keep or [])
    schema = with_quality_columns(DOCUMENT_SCHEMA, all_columns(raters))
    try:
        keep_filter = threshold_filter(specs, columns=schema.names)
    except ValueError as exc:
        raise InputError(f"--keep: {exc}") from None
    score_field = cols.score_column or ("quality_fasttext" if opts.fasttext_model else None)

    run_ = start_run("corpus", options, "shardsmith-out/corpus", inputs=run_opts.input or [])
    docs = run_.stage("prepare", run_.read(inputs), Prepare(cols.text_column, cols.id_column or "id"))
    docs, rejects = docs | "unique ids" >> UniqueBy("unique_ids", "id")
    run_.add_rejects(rejects, stage="unique_ids")
    docs, rejects = docs | "quality" >> RateRecords(raters, text_field="text", stage="quality")
    run_.add_rejects(rejects, stage="quality")
    if specs:
        docs = run_.stage("thresholds", docs, keep_filter, kind="filter")
    docs = deduplicate(run_, docs, dedup, text_field="text", id_field="id", score_field=score_field)
    run_.write("docs", docs, schema, primary=True)
    return run_.execute()

"""Text corpus pipeline: documents → normalized, rated, thresholded, deduplicated shards.

    shardsmith corpus --output out/corpus                  # the embedded sample corpus
    shardsmith corpus --input 'data/*.jsonl' --text-column content --output out/web

Steps (generated from ``steps()``; ``shardsmith steps corpus`` prints them for other flags):

    read        read    JSONL / JSON / Parquet files (default: the      invalid_json, invalid_utf8,
                        embedded sample)                                not_an_object,
                                                                        too_deeply_nested,
                                                                        unreadable_file, broken_file
    prepare     map     id, NFC text, other fields as JSON              missing_text, wrong_type,
                                                                        empty_text
    unique_ids  unique  one record per id                               duplicate_id
    quality     rate    Gopher heuristics (+ fastText with --fasttext-  error:<Type>
                        model)
    thresholds  filter  Gopher defaults and --keep thresholds           below_threshold:<column>
    dedup       dedup   exact (normalized text hash), then MinHash      -> duplicates/
                        near dedup
    docs/       write   primary dataset (DOCUMENT_SCHEMA + quality_*)

Every record read ends in ``docs/``, ``rejects/`` or ``duplicates/``.
"""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import ColumnOptions, DedupOptions, QualityOptions, RunOptions, start_run
from schemas.common import DOCUMENT_SCHEMA, with_quality_columns
from transforms.io.local_paths import worker_path
from transforms.io.readers import READ_REASONS, InputError, expand_inputs
from transforms.dedup.spec import dedup_spec
from transforms.quality.base import all_columns
from transforms.quality.fasttext_rater import FastTextRater
from transforms.quality.text import GopherRater
from transforms.quality.thresholds import GOPHER_DEFAULTS, threshold_filter
from transforms.records import Rejected, content_id
from transforms.steps import Dedup, Filter, Map, Rate, Read, Step, Unique, Write

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


def steps(options: PipelineOptions) -> list[Step]:
    """The corpus pipeline's steps for ``options`` (``InputError`` for a bad option)."""
    run_opts, cols, dedup = (options.view_as(c) for c in (RunOptions, ColumnOptions, DedupOptions))
    opts = options.view_as(QualityOptions)
    raters = [GopherRater()]
    if opts.fasttext_model:
        raters.append(FastTextRater(worker_path(opts.fasttext_model), label=opts.fasttext_label))
    specs = ([] if opts.no_default_thresholds else list(GOPHER_DEFAULTS)) + list(opts.keep or [])
    schema = with_quality_columns(DOCUMENT_SCHEMA, all_columns(raters))
    try:
        keep_filter = threshold_filter(specs, columns=schema.names)
    except ValueError as exc:
        raise InputError(f"--keep: {exc}") from None
    score_field = cols.score_column or ("quality_fasttext" if opts.fasttext_model else None)
    listed = [
        Read("read", files=tuple(expand_inputs(run_opts.input or [SAMPLE_INPUT])),
             about="JSONL / JSON / Parquet files (default: the embedded sample)",
             reasons=READ_REASONS),
        Map("prepare", Prepare(cols.text_column, cols.id_column or "id"), about="id, NFC text, other fields as JSON",
            reasons="missing_text, wrong_type, empty_text"),
        Unique("unique_ids", "id", about="one record per id", reasons="duplicate_id"),
        Rate("quality", raters=tuple(raters), text_field="text",
             about="Gopher heuristics (+ fastText with --fasttext-model)", reasons="error:<Type>"),
    ]
    if specs:
        listed.append(Filter("thresholds", keep_filter, about="Gopher defaults and --keep thresholds",
                             reasons="below_threshold:<column>"))
    listed += [
        Dedup("dedup", dedup_spec(dedup, id_field="id", text_field="text", score_field=score_field),
              about="exact (normalized text hash), then MinHash near dedup", reasons="-> duplicates/"),
        Write("docs", schema=schema, primary=True, about="primary dataset (DOCUMENT_SCHEMA + quality_*)"),
    ]
    return listed


def steps_of(argv: list[str]) -> list[Step]:
    """The steps a run with ``argv`` would take (``shardsmith steps``; the module docstring's table)."""
    return steps(PipelineOptions(argv))


def run(argv: list[str]) -> dict:
    """Run the corpus pipeline; returns the manifest."""
    options = PipelineOptions(argv)
    listed = steps(options)
    run_ = start_run("corpus", options, "shardsmith-out/corpus", inputs=options.view_as(RunOptions).input or [])
    return run_.run_steps(listed)

"""Rate any Parquet or JSONL dataset with the quality raters, then apply thresholds.

    shardsmith rate data/*.parquet --text-column text --output out/rated
        [--raters gopher,code,fasttext] [--fasttext-model rater.bin] [--keep 'quality_fasttext>=0.5']
        [--no-default-thresholds] [--id-column id]

Output: ``rated/`` holds the input records with their own columns plus one float
``quality_*`` column per measure; records failing a threshold go to ``rejects/``
(``below_threshold:<column>`` ...), as do records without a usable text or id. The
Gopher default thresholds apply when the Gopher rater runs, unless
``--no-default-thresholds``.
"""
from __future__ import annotations


import pyarrow as pa
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.dedup import POSITION, Prepare
from pipelines.options import ColumnOptions, QualityOptions, RunOptions, start_run
from pipelines.registry import PipelineSpec, register
from schemas.common import with_quality_columns
from transforms.io.readers import InputError, expand_inputs, infer_schema
from transforms.quality.base import all_columns
from transforms.quality.beam import RateRecords
from transforms.quality.code import CodeRater
from transforms.quality.fasttext_rater import FastTextRater
from transforms.quality.text import GopherRater
from transforms.quality.thresholds import GOPHER_DEFAULTS, threshold_filter

RATERS = ("gopher", "code", "fasttext")
RECORD_ID = "__record_id"  # used for rejects and shard order; not written


class RateOptions(PipelineOptions):
    """Flags of the rate pipeline only (shared ones: ``pipelines.options``)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--raters", default="gopher",
                            help="comma-separated raters: gopher (prose), code (source files), "
                                 "fasttext (needs --fasttext-model)")


def make_raters(names: str, fasttext_model: str | None, fasttext_label: str) -> list:
    """The raters named in ``--raters``; a one-line ``InputError`` for unknown or incomplete ones."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in RATERS]
    if unknown or not wanted:
        raise InputError(f"--raters: unknown rater(s) {', '.join(unknown) or '(none)'}; known: {', '.join(RATERS)}")
    if "fasttext" in wanted and not fasttext_model:
        raise InputError("--raters fasttext needs --fasttext-model")
    if fasttext_model and "fasttext" not in wanted:
        wanted.append("fasttext")
    makers = {"gopher": GopherRater, "code": CodeRater,
              "fasttext": lambda: FastTextRater(fasttext_model, label=fasttext_label)}
    return [makers[name]() for name in dict.fromkeys(wanted)]


def run(argv: list[str]) -> dict:
    """Run the rate job; returns the manifest."""
    options = PipelineOptions(argv)
    run_opts, cols, quality = (options.view_as(c) for c in (RunOptions, ColumnOptions, QualityOptions))
    if not run_opts.output:
        raise InputError("--output is required")
    raters = make_raters(options.view_as(RateOptions).raters, quality.fasttext_model, quality.fasttext_label)
    uses_gopher = any(isinstance(r, GopherRater) for r in raters)
    specs = ([] if quality.no_default_thresholds or not uses_gopher else list(GOPHER_DEFAULTS))
    specs += list(quality.keep or [])
    try:
        keep_filter = threshold_filter(specs)
    except ValueError as exc:
        raise InputError(f"--keep: {exc}") from None
    inputs = expand_inputs(run_opts.input or [])
    schema = infer_schema(inputs, force={cols.text_column: pa.string()})  # a non-string text is a reject
    if schema.get_field_index(cols.text_column) == -1:
        raise InputError(f"{inputs[0]}: no column {cols.text_column!r} (columns: {', '.join(schema.names)})")
    schema = with_quality_columns(schema, all_columns(raters))

    run_ = start_run("rate", options)
    records = run_.read(inputs, position_field=POSITION)
    records = run_.stage("prepare", records, Prepare(cols.text_column, cols.id_column, id_out=RECORD_ID),
                         id_field=RECORD_ID)
    records, rejects = records | "quality" >> RateRecords(raters, text_field=cols.text_column, stage="quality",
                                                          id_field=RECORD_ID)
    run_.add_rejects(rejects, stage="quality")
    if specs:
        records = run_.stage("thresholds", records, keep_filter, kind="filter", id_field=RECORD_ID)
    run_.write("rated", records, schema, primary=True, sort_key=RECORD_ID, id_field=RECORD_ID)
    return run_.execute()


register(PipelineSpec("rate", "add quality_* scores (Gopher, code, fastText) to any Parquet/JSONL dataset "
                      "and apply thresholds", (RunOptions, ColumnOptions, QualityOptions, RateOptions), run,
                      positional_input=True))

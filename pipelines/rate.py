"""Rate any Parquet or JSONL dataset with the quality raters, then apply thresholds.

    shardsmith rate data/*.parquet --text-column text --output out/rated
        [--raters gopher,code,fasttext] [--fasttext-model rater.bin] [--keep 'quality_fasttext>=0.5']
        [--no-default-thresholds] [--id-column id]

Steps (generated from ``steps()``; ``shardsmith steps rate DATA --text-column text --output OUT`` prints them for other flags):

    read        read    JSONL / JSON / Parquet files                    invalid_json, invalid_utf8,
                                                                        not_an_object,
                                                                        too_deeply_nested,
                                                                        unreadable_file, broken_file
    prepare     map     the text (and an id for rejects and shard       missing_text, wrong_type,
                        order)                                          missing_id
    quality     rate    quality_* columns of --raters                   error:<Type>
    thresholds  filter  Gopher defaults and --keep thresholds           below_threshold:<column>
    rated/      write   the input records, their own columns +
                        quality_*

Output: ``rated/`` holds the input records with their own columns plus one float
``quality_*`` column per measure; records failing a threshold go to ``rejects/``
(``below_threshold:<column>`` ...), as do records without a usable text or id. The
Gopher default thresholds apply when the Gopher rater runs, unless
``--no-default-thresholds``.
"""
from __future__ import annotations


from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import flags

from pipelines.dedup import POSITION, Prepare, check_columns, resolve_columns
from pipelines.options import QualityOptions, RunOptions, start_run
from schemas.common import with_quality_columns
from transforms.io.local_paths import worker_path
from transforms.io.readers import READ_REASONS, InputError, expand_inputs, infer_schema
from transforms.quality.base import all_columns
from transforms.quality.code import CodeRater
from transforms.quality.fasttext_rater import FastTextRater
from transforms.quality.text import GopherRater
from transforms.quality.thresholds import GOPHER_DEFAULTS, threshold_filter
from transforms.steps import Filter, Map, Note, Rate, Read, Step, Write

RATERS = ("gopher", "code", "fasttext")
RECORD_ID = "__record_id"  # used for rejects and shard order; not written


class RateOptions(PipelineOptions):
    """Flags of the rate pipeline only (shared ones: ``pipelines.options``)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.rate_flags(parser)


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
              "fasttext": lambda: FastTextRater(worker_path(fasttext_model), label=fasttext_label)}
    return [makers[name]() for name in dict.fromkeys(wanted)]


def steps(options: PipelineOptions, argv: list[str]) -> list[Step]:
    """The rate pipeline's steps (``argv``: which flags were given, over the ``--profile`` defaults)."""
    run_opts, quality = options.view_as(RunOptions), options.view_as(QualityOptions)
    if not run_opts.output:
        raise InputError("--output is required")
    columns = resolve_columns(argv, options, raters=options.view_as(RateOptions).raters)
    raters = make_raters(columns.raters, quality.fasttext_model, quality.fasttext_label)
    uses_gopher = any(isinstance(r, GopherRater) for r in raters)
    defaults = uses_gopher and columns.default_thresholds and not quality.no_default_thresholds
    specs = (list(GOPHER_DEFAULTS) if defaults else []) + list(quality.keep or [])
    inputs = expand_inputs(run_opts.input or [])
    schema = infer_schema(inputs, force=columns.forced_types)
    check_columns(schema, columns, inputs[0])
    schema = with_quality_columns(schema, all_columns(raters))
    try:
        keep_filter = threshold_filter(specs, columns=schema.names)
    except ValueError as exc:
        raise InputError(f"--keep: {exc}") from None
    return [
        *([Note("profile", note=columns.note)] if columns.note else []),
        Read("read", files=tuple(inputs), position_field=POSITION, about="JSONL / JSON / Parquet files",
             reasons=READ_REASONS),
        Map("prepare", Prepare(columns.text_column, columns.id_column, id_out=RECORD_ID,
                               text_function=columns.text_function), id_field=RECORD_ID,
            about="the text (and an id for rejects and shard order)", reasons="missing_text, wrong_type, missing_id"),
        Rate("quality", raters=tuple(raters), text_field=columns.text_field, id_field=RECORD_ID,
             about="quality_* columns of --raters", reasons="error:<Type>"),
        *([Filter("thresholds", keep_filter, id_field=RECORD_ID, about="Gopher defaults and --keep thresholds",
                  reasons="below_threshold:<column>")] if specs else []),
        Write("rated", schema=schema, primary=True, sort_key=RECORD_ID, id_field=RECORD_ID,
              about="the input records, their own columns + quality_*"),
    ]


def steps_of(argv: list[str]) -> list[Step]:
    """The steps a run with ``argv`` would take (``shardsmith steps``; the module docstring's table)."""
    return steps(PipelineOptions(argv), argv)


def run(argv: list[str]) -> dict:
    """Run the rate job; returns the manifest."""
    options = PipelineOptions(argv)
    listed = steps(options, argv)
    run_ = start_run("rate", options, inputs=options.view_as(RunOptions).input or [])
    return run_.run_steps(listed)

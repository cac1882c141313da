"""Deduplicate any Parquet or JSONL dataset, whoever built it.

    shardsmith dedup data/*.parquet --text-column text --output out/dedup [--id-column id]
        [--threshold 0.8] [--num-perm 256] [--ngram 5] [--shingles words|code] [--score-column quality]
        [--dedup-method both|exact|near] [--sign-processes 2]

Steps (generated from ``steps()``; ``shardsmith steps dedup DATA --text-column text --output OUT`` prints them for other flags):

    read        read    JSONL / JSON / Parquet files                    invalid_json, invalid_utf8,
                                                                        not_an_object,
                                                                        too_deeply_nested,
                                                                        unreadable_file, broken_file
    prepare     map     the id (--id-column, else file + position) and  missing_text, wrong_type,
                        the text                                        missing_id
    unique_ids  unique  one record per id                               duplicate_dedup_id
    dedup       dedup   exact (normalized text hash), then MinHash      -> duplicates/
                        near dedup
    kept/       write   the surviving input records, their own columns
                        + dedup_id

Output: ``kept/`` holds the surviving input records with their own columns plus
``dedup_id`` (the id used for the decision); ``duplicates/`` lists each removed
record with the id it was folded into; ``rejects/`` holds records without a usable
text or id. Exact dedup (normalized text hash) runs before MinHash near dedup.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import pyarrow as pa
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import ColumnOptions, DedupOptions, ProfileOptions, RunOptions, start_run
from pipelines.profiles import profile
from schemas.common import field
from transforms.dedup.spec import dedup_spec
from transforms.io.readers import READ_REASONS, InputError, expand_inputs, infer_schema
from transforms.records import Rejected, content_id
from transforms.steps import Dedup, Map, Note, Read, Step, Unique, Write

ID_COLUMN = "dedup_id"
POSITION = "__position"
TEXT_FIELD = "__text"  # the text a profile's function computed; travels between stages, never written


@dataclass(frozen=True)
class Columns:
    """What a dedup or rate run reads: the profile's defaults with the explicit flags on top."""

    text_column: str | None            # None when ``text_function`` makes the text
    text_function: Callable | None
    function_reads: tuple[str, ...]    # the columns ``text_function`` needs
    id_column: str | None
    shingles: str
    raters: str
    default_thresholds: bool
    note: str | None                   # for the manifest: which profile, and why

    @property
    def forced_types(self) -> dict[str, pa.DataType]:
        """Column types the schema must have whatever the input holds: a text column is a string
        (a row whose text is anything else is a ``wrong_type`` reject, not a different column type)."""
        return {self.text_column: pa.string()} if self.text_column else {}

    @property
    def text_field(self) -> str:
        """The record field the text is in after ``Prepare``."""
        return TEXT_FIELD if self.text_function else self.text_column


def resolve_columns(argv: list[str], options: PipelineOptions, raters: str = "gopher") -> Columns:
    """The ``--profile`` defaults (``pipelines.profiles``) overridden by flags given on the command line
    (``raters``: the ``--raters`` value of a rate run)."""
    cols, dedup = options.view_as(ColumnOptions), options.view_as(DedupOptions)
    chosen = profile(options.view_as(ProfileOptions).profile)
    given = functools.partial(flag_given, argv)
    if chosen is None:
        return Columns(cols.text_column, None, (), cols.id_column, dedup.shingles or "words", raters, True, None)
    own_text = given("--text-column") or given("--text_column")
    text_column = cols.text_column if own_text or not chosen.text_function else None
    if not own_text and chosen.text_column:
        text_column = chosen.text_column
    return Columns(
        text_column=text_column,
        text_function=None if own_text else chosen.text_of(),
        function_reads=() if own_text else chosen.text_reads,
        id_column=cols.id_column if given("--id-column") or given("--id_column") else chosen.id_column,
        shingles=dedup.shingles or chosen.shingles,
        raters=raters if given("--raters") else chosen.raters,
        default_thresholds=chosen.default_thresholds,
        note=f"profile {options.view_as(ProfileOptions).profile}: {chosen.why}",
    )


def flag_given(argv: list[str], flag: str) -> bool:
    """Whether ``flag`` is on the command line (``--flag value`` or ``--flag=value``)."""
    return any(token == flag or token.startswith(flag + "=") for token in argv)


def check_columns(schema: pa.Schema, columns: Columns, where: str) -> None:
    """``InputError`` naming the input when it lacks the text, the id, or what the text function reads."""
    needed = [c for c in (columns.text_column, columns.id_column) if c]
    if columns.text_function is not None:
        needed += list(columns.function_reads)
    missing = [c for c in dict.fromkeys(needed) if schema.get_field_index(c) == -1]
    if missing:
        raise InputError(f"{where}: no column {', '.join(map(repr, missing))} (columns: {', '.join(schema.names)})")


class Prepare:
    """Put the record's id in ``id_out`` (the ``--id-column`` value, else a hash of file and
    position) and, with ``text_function``, the computed text in ``TEXT_FIELD``; reject records
    without a string text or with an unusable id."""

    def __init__(self, text_column: str | None, id_column: str | None, id_out: str = ID_COLUMN,
                 text_function: Callable | None = None):
        self.text_column, self.id_column, self.id_out = text_column, id_column, id_out
        self.text_function = text_function

    def __call__(self, record: dict):
        record = dict(record)
        position = record.pop(POSITION)
        if self.text_function is not None:
            record[TEXT_FIELD] = self.text_function(record)
            name = TEXT_FIELD
        else:
            name = self.text_column
        text = record.get(name)
        if text is None:
            return Rejected("missing_text", f"field {name} is missing")
        if not isinstance(text, str):
            return Rejected("wrong_type", f"field {name}: expected string, got {type(text).__name__}")
        if self.id_column:
            raw_id = record.get(self.id_column)
            if raw_id is None or isinstance(raw_id, (bool, float, dict, list)):
                return Rejected("missing_id", f"field {self.id_column} is missing or not a string/integer")
            record[self.id_out] = str(raw_id)
        else:
            record[self.id_out] = content_id(position)
        return record


def steps(options: PipelineOptions, argv: list[str]) -> list[Step]:
    """The dedup pipeline's steps (``argv``: which flags were given, over the ``--profile`` defaults)."""
    run_opts, cols, dedup = (options.view_as(c) for c in (RunOptions, ColumnOptions, DedupOptions))
    if not run_opts.output:
        raise InputError("--output is required")
    columns = resolve_columns(argv, options)
    inputs = expand_inputs(run_opts.input or [])
    schema = infer_schema(inputs, force=columns.forced_types)
    check_columns(schema, columns, inputs[0])
    if ID_COLUMN not in schema.names:
        schema = schema.append(field(ID_COLUMN, pa.string(), "id the dedup decision used", nullable=False))
    return [
        *([Note("profile", note=columns.note)] if columns.note else []),
        Read("read", files=tuple(inputs), position_field=POSITION, about="JSONL / JSON / Parquet files",
             reasons=READ_REASONS),
        Map("prepare", Prepare(columns.text_column, columns.id_column, text_function=columns.text_function),
            id_field=ID_COLUMN, about="the id (--id-column, else file + position) and the text",
            reasons="missing_text, wrong_type, missing_id"),
        Unique("unique_ids", ID_COLUMN, about="one record per id", reasons="duplicate_dedup_id"),
        Dedup("dedup", dedup_spec(dedup, id_field=ID_COLUMN, text_field=columns.text_field,
                                  score_field=cols.score_column, shingles=columns.shingles),
              about="exact (normalized text hash), then MinHash near dedup", reasons="-> duplicates/"),
        Write("kept", schema=schema, primary=True, sort_key=ID_COLUMN, id_field=ID_COLUMN,
              about="the surviving input records, their own columns + dedup_id"),
    ]


def steps_of(argv: list[str]) -> list[Step]:
    """The steps a run with ``argv`` would take (``shardsmith steps``; the module docstring's table)."""
    return steps(PipelineOptions(argv), argv)


def run(argv: list[str]) -> dict:
    """Run the dedup job; returns the manifest."""
    options = PipelineOptions(argv)
    listed = steps(options, argv)
    run_ = start_run("dedup", options, inputs=options.view_as(RunOptions).input or [])
    return run_.run_steps(listed)

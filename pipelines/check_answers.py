"""Check answers against references in any Parquet or JSONL table (e.g. as an RL reward).

    shardsmith check-answers rollouts.parquet --reference-column answer --candidate-column response \\
        --output out/checked [--answer-type-column answer_type] [--answer-rel-tol 0.05] [--verdict-column verdict]

Output: ``checked/`` holds the input rows with their own columns plus ``verdict``:
``equivalent``, ``different`` or ``unknown`` (the checker hit its size or time limit; see
``transforms.science.answers``). Rows whose reference or candidate is null or not an answer go to
``rejects/`` (stage ``check``: ``missing_field``, ``wrong_type``); the manifest's ``verdicts``
counts the rows per verdict.
"""
from __future__ import annotations

import functools

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import flags
from pipelines.dedup import POSITION
from pipelines.options import AnswerOptions, RunOptions, start_run
from schemas.common import field
from transforms.io.readers import READ_REASONS, InputError, expand_inputs, infer_schema
from transforms.records import content_id
from transforms.science.answer_check import VerdictStage, verdict_counts
from transforms.steps import Map, Read, Step, Write

DATASET = "checked"
RECORD_ID = "__record_id"  # rejects and shard order; not written


class CheckAnswersOptions(PipelineOptions):
    """Flags of the check-answers command only (``--answer-rel-tol``: ``AnswerOptions``)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.check_answers_flags(parser)


def with_record_id(record: dict) -> dict:
    """The record keyed by its input position (file and row)."""
    record = dict(record)
    record[RECORD_ID] = content_id(record.pop(POSITION))
    return record


def _finish_manifest(manifest: dict, counters: dict, root: str, verdict_column: str) -> None:
    if "://" in root:
        return
    table = pq.read_table(f"{root}/{DATASET}", columns=[verdict_column])
    counts = verdict_counts(table.column(verdict_column).to_pylist())
    manifest["verdicts"] = counts
    manifest["notes"].append("verdicts: " + ", ".join(f"{name} {n}" for name, n in counts.items()))


def steps(options: PipelineOptions) -> list[Step]:
    """The check-answers steps (``InputError`` for a missing flag or column)."""
    run_opts, opts = options.view_as(RunOptions), options.view_as(CheckAnswersOptions)
    if not run_opts.output:
        raise InputError("--output is required")
    for flag, column in (("--reference-column", opts.reference_column), ("--candidate-column", opts.candidate_column)):
        if not column:
            raise InputError(f"{flag} is required")
    inputs = expand_inputs(run_opts.input or [])
    schema = infer_schema(inputs)
    wanted = [opts.reference_column, opts.candidate_column] + ([opts.answer_type_column] if opts.answer_type_column else [])
    missing = [c for c in wanted if schema.get_field_index(c) == -1]
    if missing:
        raise InputError(f"{inputs[0]}: no column {', '.join(map(repr, missing))} (columns: {', '.join(schema.names)})")
    if schema.get_field_index(opts.verdict_column) != -1:
        raise InputError(f"--verdict-column {opts.verdict_column}: the input already has that column")
    schema = schema.append(field(opts.verdict_column, pa.string(), "equivalent, different or unknown", nullable=False))
    check = VerdictStage(opts.reference_column, opts.candidate_column, opts.answer_type_column, opts.verdict_column,
                         rel_tol=options.view_as(AnswerOptions).answer_rel_tol)
    return [
        Read("read", files=tuple(inputs), position_field=POSITION, about="JSONL / JSON / Parquet files",
             reasons=READ_REASONS),
        Map("prepare", with_record_id, id_field=RECORD_ID, about="an id from the row's file and position"),
        Map("check", check, id_field=RECORD_ID, about="answers_equivalent of candidate vs reference -> verdict",
            reasons="missing_field, wrong_type"),
        Write(DATASET, schema=schema, primary=True, sort_key=RECORD_ID, id_field=RECORD_ID,
              about="the input rows + the verdict column"),
    ]


def steps_of(argv: list[str]) -> list[Step]:
    """The steps a run with ``argv`` would take (``shardsmith steps``)."""
    return steps(PipelineOptions(argv))


def run(argv: list[str]) -> dict:
    """Run the check-answers job; returns the manifest."""
    options = PipelineOptions(argv)
    listed = steps(options)
    run_ = start_run("check-answers", options, inputs=options.view_as(RunOptions).input or [])
    return run_.run_steps(listed, finalize=functools.partial(
        _finish_manifest, verdict_column=options.view_as(CheckAnswersOptions).verdict_column))

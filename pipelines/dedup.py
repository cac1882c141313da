"""Deduplicate any Parquet or JSONL dataset, whoever built it.

    shardsmith dedup data/*.parquet --text-column text --output out/dedup [--id-column id]
        [--threshold 0.8] [--num-perm 256] [--ngram 5] [--shingles words|code] [--score-column quality]
        [--dedup-method both|exact|near]

Output: ``kept/`` holds the surviving input records with their own columns plus
``dedup_id`` (the id used for the decision); ``duplicates/`` lists each removed
record with the id it was folded into; ``rejects/`` holds records without a usable
text or id. Exact dedup (normalized text hash) runs before MinHash near dedup.
"""
from __future__ import annotations


import pyarrow as pa
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import ColumnOptions, DedupOptions, RunOptions, start_run
from pipelines.registry import PipelineSpec, register
from schemas.common import field
from transforms.dedup.beam import ExactDedup, MinHashConfig, NearDedup
from transforms.io.readers import InputError, expand_inputs, infer_schema
from transforms.io.run import ShardRun
from transforms.records import Rejected, content_id
from transforms.stages import UniqueBy

ID_COLUMN = "dedup_id"
POSITION = "__position"


class Prepare:
    """Put the record's id in ``id_out`` (the ``--id-column`` value, else a hash of file and
    position); reject records without a string text or with an unusable id."""

    def __init__(self, text_column: str, id_column: str | None, id_out: str = ID_COLUMN):
        self.text_column, self.id_column, self.id_out = text_column, id_column, id_out

    def __call__(self, record: dict):
        record = dict(record)
        position = record.pop(POSITION)
        text = record.get(self.text_column)
        if text is None:
            return Rejected("missing_text", f"field {self.text_column} is missing")
        if not isinstance(text, str):
            return Rejected("wrong_type", f"field {self.text_column}: expected string, got {type(text).__name__}")
        if self.id_column:
            raw_id = record.get(self.id_column)
            if raw_id is None or isinstance(raw_id, (bool, float, dict, list)):
                return Rejected("missing_id", f"field {self.id_column} is missing or not a string/integer")
            record[self.id_out] = str(raw_id)
        else:
            record[self.id_out] = content_id(position)
        return record


def deduplicate(run_: ShardRun, records, opts: DedupOptions, *, text_field: str, id_field: str,
                score_field: str | None):
    """Exact then MinHash near dedup as ``opts`` asks; removals go to the run's ``duplicates/``."""
    common = dict(text_field=text_field, id_field=id_field, score_field=score_field)
    if opts.dedup_method in ("both", "exact"):
        records, removed = records | "exact dedup" >> ExactDedup(stage="dedup:exact", **common)
        run_.add_removed(removed, stage="dedup:exact")
    if opts.dedup_method in ("both", "near"):
        config = MinHashConfig(num_perm=opts.num_perm, ngram=opts.ngram, threshold=opts.threshold,
                               tokenizer=opts.shingles)
        records, removed = records | "near dedup" >> NearDedup(config=config, stage="dedup:near", **common)
        run_.add_removed(removed, stage="dedup:near")
    return records


def run(argv: list[str]) -> dict:
    """Run the dedup job; returns the manifest."""
    options = PipelineOptions(argv)
    run_opts, cols, dedup = (options.view_as(c) for c in (RunOptions, ColumnOptions, DedupOptions))
    if not run_opts.output:
        raise InputError("--output is required")
    if not 0 < dedup.threshold <= 1:
        raise InputError(f"--threshold must be in (0, 1], got {dedup.threshold}")
    inputs = expand_inputs(run_opts.input or [])
    schema = infer_schema(inputs, force={cols.text_column: pa.string()})  # a non-string text is a reject
    if schema.get_field_index(cols.text_column) == -1:
        raise InputError(f"{inputs[0]}: no column {cols.text_column!r} (columns: {', '.join(schema.names)})")
    if ID_COLUMN not in schema.names:
        schema = schema.append(field(ID_COLUMN, pa.string(), "id the dedup decision used", nullable=False))

    run_ = start_run("dedup", options)
    records = run_.read(inputs, position_field=POSITION)
    records = run_.stage("prepare", records, Prepare(cols.text_column, cols.id_column), id_field=ID_COLUMN)
    records, rejects = records | "unique ids" >> UniqueBy("unique_ids", ID_COLUMN)
    run_.add_rejects(rejects, stage="unique_ids")
    records = deduplicate(run_, records, dedup, text_field=cols.text_column, id_field=ID_COLUMN,
                          score_field=cols.score_column)
    run_.write("kept", records, schema, primary=True, sort_key=ID_COLUMN, id_field=ID_COLUMN)
    return run_.execute()


register(PipelineSpec("dedup", "exact + MinHash near-duplicate removal for any Parquet/JSONL dataset",
                      (RunOptions, ColumnOptions, DedupOptions), run, positional_input=True))

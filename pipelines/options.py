"""Pipeline options shared by several pipelines.

Beam parses every ``PipelineOptions`` subclass into one namespace, so a flag may be
defined by one class only: flags that several pipelines take live here, and each
pipeline's own class adds only flags no other pipeline defines.
"""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import flags

from transforms.io.run import ShardRun


class RunOptions(PipelineOptions):
    """Inputs, output, sharding, overwrite and progress: every run has them."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.run_flags(parser)


def start_run(pipeline: str, options: PipelineOptions, default_output: str | None = None, *,
              inputs: list[str] = (), read_in_place: list[str] = ()) -> ShardRun:
    """A ``ShardRun`` configured by the ``RunOptions`` flags (output, overwrite, resume, sharding, progress).

    ``inputs`` / ``read_in_place``: what the run reads (record files and git repositories), so
    an output overlapping them is refused (``transforms.io.outputs``).
    """
    run_opts = options.view_as(RunOptions)
    return ShardRun(pipeline, run_opts.output or default_output or f"shardsmith-out/{pipeline}", options,
                    overwrite=run_opts.overwrite, resume=run_opts.resume, num_shards=run_opts.num_shards,
                    rows_per_shard=run_opts.rows_per_shard, progress=run_opts.progress,
                    record_timeout=run_opts.record_timeout,
                    inputs=inputs, read_in_place=read_in_place)


class ColumnOptions(PipelineOptions):
    """Which input columns hold the text, the id and a quality score."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.column_flags(parser)


class ColumnMapOptions(PipelineOptions):
    """``--column-map`` (shared by Dr. SCI and Verus: Beam registers every options class on one parser)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.column_map_flags(parser)


class ProfileOptions(PipelineOptions):
    """``--profile``: dedup / rate defaults for a build pipeline's output (``pipelines.profiles``)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.profile_flags(parser)


class DedupOptions(PipelineOptions):
    """Exact and MinHash near-duplicate removal."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.dedup_flags(parser)


class QualityOptions(PipelineOptions):
    """Quality raters and the thresholds applied to their scores."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.quality_flags(parser)


class DecontamOptions(PipelineOptions):
    """The benchmarks to decontaminate against (``--decontam-benchmark``), shared by dr-sci and verus."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.decontam_flags(parser)


class AnswerOptions(PipelineOptions):
    """The answer checker's settings (``--answer-rel-tol``), shared by dr-sci and check-answers."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.answer_flags(parser)

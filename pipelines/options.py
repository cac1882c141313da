"""Pipeline options shared by several pipelines.

Beam parses every ``PipelineOptions`` subclass into one namespace, so a flag may be
defined by one class only: flags that several pipelines take live here, and each
pipeline's own class adds only flags no other pipeline defines.
"""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.io.run import ShardRun


class RunOptions(PipelineOptions):
    """Inputs, output, sharding, overwrite and progress: every run has them."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--input", action="append", default=None,
                            help="input file, directory or glob (JSONL or Parquet; local or fsspec URL); repeatable")
        parser.add_argument("--output", default=None,
                            help="output directory (local path or fsspec URL); default shardsmith-out/<pipeline>")
        parser.add_argument("--overwrite", action="store_true", default=False,
                            help="replace an output directory that holds a finished run")
        parser.add_argument("--resume", action="store_true", default=False,
                            help="reuse a finished output of the same options, or continue the latest "
                                 "partial (killed) run of them from its checkpoints and caches")
        parser.add_argument("--num-shards", "--num_shards", dest="num_shards", type=int, default=0,
                            help="shards per dataset (default: one per --rows-per-shard rows)")
        parser.add_argument("--rows-per-shard", "--rows_per_shard", dest="rows_per_shard", type=int,
                            default=100_000, help="target rows per shard when --num-shards is not set")
        parser.add_argument("--progress", dest="progress", action="store_true", default=None,
                            help="print progress while running (default: when stderr is a terminal)")


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
                    inputs=inputs, read_in_place=read_in_place)


class ColumnOptions(PipelineOptions):
    """Which input columns hold the text, the id and a quality score."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--text-column", "--text_column", dest="text_column", default="text",
                            help="input column holding the text")
        parser.add_argument("--id-column", "--id_column", dest="id_column", default=None,
                            help="input column holding unique ids")
        parser.add_argument("--score-column", "--score_column", dest="score_column", default=None,
                            help="numeric column; the highest score survives in each duplicate group")


class DedupOptions(PipelineOptions):
    """Exact and MinHash near-duplicate removal."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--dedup-method", "--dedup_method", dest="dedup_method",
                            choices=("both", "exact", "near", "none"), default="both",
                            help="exact (normalized text hash), near (MinHash LSH), both, or none")
        parser.add_argument("--threshold", type=float, default=0.8, help="Jaccard threshold of near duplicates")
        parser.add_argument("--num-perm", "--num_perm", dest="num_perm", type=int, default=256,
                            help="MinHash permutations")
        parser.add_argument("--ngram", type=int, default=5, help="shingle size in words (or code tokens)")
        parser.add_argument("--shingles", choices=("words", "code"), default="words",
                            help="word n-grams of normalized text, or token n-grams for source code")


class QualityOptions(PipelineOptions):
    """Quality raters and the thresholds applied to their scores."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--fasttext-model", "--fasttext_model", dest="fasttext_model", default=None,
                            help="a fastText .bin quality model (adds quality_fasttext)")
        parser.add_argument("--fasttext-label", "--fasttext_label", dest="fasttext_label", default="__label__hq",
                            help="label whose probability becomes quality_fasttext")
        parser.add_argument("--keep", action="append", default=None, metavar="SPEC",
                            help="threshold such as 'quality_fasttext>=0.5'; repeatable")
        parser.add_argument("--no-default-thresholds", "--no_default_thresholds", dest="no_default_thresholds",
                            action="store_true", default=False, help="do not apply the Gopher default thresholds")

"""``ShardRun``: one pipeline run from inputs to a finished output directory.

    run = ShardRun("corpus", output, options)
    docs = run.read(paths)
    docs = run.stage("normalize", docs, normalize)            # rejects collected for you
    run.write("docs", docs, DOCUMENT_SCHEMA, primary=True)     # validated, then sharded
    manifest = run.execute()

The run writes into ``OUTPUT.tmp-<id>/``, then writes ``_manifest.json``, renames the
folder to ``OUTPUT`` and writes ``_SUCCESS`` last: a crashed run never looks finished.
"""
from __future__ import annotations

import contextlib
import functools
import posixpath
import sys
import threading
import time
import uuid

import apache_beam as beam
import fsspec
import pyarrow as pa
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

import transforms
from schemas.common import DEDUP_REMOVED_SCHEMA, REJECT_SCHEMA, fingerprint
from schemas.validate import check_record
from transforms.io import manifest as mf
from transforms.io.readers import READ_STAGE, InputError, ReadRecords
from transforms.io.shards import DEFAULT_ROWS_PER_SHARD, WriteShards
from transforms.stages import LOCAL_PROGRESS, apply_stage


def make_runner(options: PipelineOptions):
    """The runner named in the options; the in-process FnApiRunner when none is named.

    (Beam's default DirectRunner first tries to download the Prism runner, which fails offline.)
    """
    name = options.view_as(StandardOptions).runner
    if name in (None, "", "FnApiRunner"):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return name


def prepare_output(output: str, overwrite: bool) -> str:
    """Check the output location and return a fresh temporary sibling directory for the run."""
    fs, path = fsspec.core.url_to_fs(output)
    if fs.exists(path) and not fs.isdir(path):
        raise InputError(f"{output}: exists and is not a directory")
    if fs.exists(posixpath.join(path, mf.SUCCESS_NAME)) and not overwrite:
        raise InputError(f"{output}: already holds a finished run (pass --overwrite to replace it)")
    return f"{output.rstrip('/')}.tmp-{uuid.uuid4().hex[:8]}"


def publish_output(tmp: str, output: str) -> None:
    """Replace ``output`` by the finished ``tmp`` directory, then write ``_SUCCESS``."""
    fs, path = fsspec.core.url_to_fs(output)
    _, tmp_path = fsspec.core.url_to_fs(tmp)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    fs.mv(tmp_path, path, recursive=True)
    with fs.open(posixpath.join(path, mf.SUCCESS_NAME), "wb"):
        pass


class Progress:
    """Prints, every few seconds, how many records entered each stage so far (stderr).

    Counts come from ``transforms.stages.LOCAL_PROGRESS``, so only in-process workers show.
    """

    def __init__(self, interval: float = 5.0, stream=sys.stderr):
        self.interval, self.stream = interval, stream
        self.baseline = dict(LOCAL_PROGRESS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.started = time.monotonic()

    def line(self) -> str:
        counts = {k: v - self.baseline.get(k, 0) for k, v in list(LOCAL_PROGRESS.items())}
        shown = "  ".join(f"{k} {v}" for k, v in counts.items() if v > 0)
        return f"[shardsmith] {time.monotonic() - self.started:6.0f}s  {shown or 'starting'}"

    def _loop(self):
        while not self._stop.wait(self.interval):
            print(self.line(), file=self.stream, flush=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=1)


class ShardRun:
    """Builds one Beam pipeline, collects its rejects and dedup removals, and finishes the output."""

    def __init__(self, pipeline: str, output: str, options: PipelineOptions, *,
                 overwrite: bool = False, num_shards: int = 0,
                 rows_per_shard: int = DEFAULT_ROWS_PER_SHARD, progress: bool | None = None):
        self.name, self.output, self.options = pipeline, output.rstrip("/"), options
        self.tmp = prepare_output(output, overwrite)
        self.num_shards, self.rows_per_shard = num_shards, rows_per_shard
        self.pipeline = beam.Pipeline(runner=make_runner(options), options=options)
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.notes: list[str] = []
        self._rejects: list = []
        self._removed: list = []
        self._schemas: dict[str, pa.Schema] = {}
        self._primary: list[str] = []
        self._stage_order: list[str] = []
        self._derived_stages: set[str] = set()

    def read(self, paths: list[str], stage: str = READ_STAGE, position_field: str | None = None):
        """Records of the input files; unreadable lines and files become rejects."""
        records, rejects = self.pipeline | f"read:{stage}" >> ReadRecords(paths, stage, position_field)
        self._stage_order.append(stage)
        self._rejects.append(rejects)
        return records

    def stage(self, name: str, pcoll, fn, kind: str = "map", id_field: str = "id"):
        """Apply a pure stage function (see ``transforms.stages``); its rejects are collected."""
        kept, rejects = apply_stage(pcoll, name, fn, kind, id_field)
        self._stage_order.append(name)
        self._rejects.append(rejects)
        return kept

    def add_rejects(self, rejects, stage: str | None = None, derived: bool = False) -> None:
        """Collect reject rows produced by a transform of your own (``schemas.common.REJECT_SCHEMA``).

        ``derived``: the rows come from a dataset derived from kept records (not counted by
        the conservation check, since their source records are already written).
        """
        self._rejects.append(rejects)
        if stage:
            self._stage_order.append(stage)
            if derived:
                self._derived_stages.add(stage)

    def add_removed(self, removed, stage: str | None = None) -> None:
        """Collect dedup removal rows (``schemas.common.DEDUP_REMOVED_SCHEMA``)."""
        self._removed.append(removed)
        if stage:
            self._stage_order.append(stage)

    def write(self, dataset: str, pcoll, schema: pa.Schema, *, primary: bool = False,
              sort_key: str = "id", id_field: str = "id") -> None:
        """Validate records against ``schema`` (non-conforming ones become rejects) and shard them.

        Primary datasets are the ones the conservation check counts as written; rejects of
        the others' validation are derived (kept in ``rejects/``, outside the check).
        """
        if dataset in self._schemas:
            raise ValueError(f"dataset {dataset!r} written twice")
        valid = self.stage(f"validate:{dataset}", pcoll, functools.partial(check_record, schema=schema),
                           kind="filter", id_field=id_field)
        if not primary:
            self._derived_stages.add(f"validate:{dataset}")
        self._write(dataset, valid, schema, sort_key)
        if primary:
            self._primary.append(dataset)

    def _write(self, dataset: str, pcoll, schema: pa.Schema, sort_key: str) -> None:
        self._schemas[dataset] = schema
        pcoll | f"write:{dataset}" >> WriteShards(posixpath.join(self.tmp, dataset), schema, sort_key,
                                                  self.num_shards, self.rows_per_shard)

    def _flatten(self, label: str, pcolls: list):
        if not pcolls:
            return self.pipeline | f"{label}:none" >> beam.Create([])
        return tuple(pcolls) | f"{label}:all" >> beam.Flatten()

    def execute(self, finalize=None) -> dict:
        """Run the pipeline, write the manifest, publish the output; returns the manifest.

        ``finalize(manifest, counters, root)``, when given, may add pipeline-specific fields to
        the manifest before it is written (``counters``: Beam counters by (namespace, name);
        ``root``: the finished run's directory, before it is renamed).
        """
        self._write(mf.REJECTS_DATASET, self._flatten("rejects", self._rejects), REJECT_SCHEMA, "record_id")
        if self._removed:
            self._write(mf.DUPLICATES_DATASET, self._flatten("removed", self._removed),
                        DEDUP_REMOVED_SCHEMA, "record_id")
        started = time.monotonic()
        with _progress_if(self.progress):
            result = self.pipeline.run()
            result.wait_until_finish()
        seconds = time.monotonic() - started
        counters = mf.counters_from_result(result)
        manifest = mf.build_manifest(
            root=self.tmp, pipeline=self.name, version=transforms.__version__,
            options=self.options.get_all_options(drop_default=True),
            schemas={name: fingerprint(s) for name, s in self._schemas.items()},
            primary=self._primary, counters=counters, seconds=seconds,
            read_stage=READ_STAGE, notes=self.notes, stage_order=self._stage_order,
            derived_stages=sorted(self._derived_stages),
        )
        manifest["output"] = self.output
        if finalize is not None:
            finalize(manifest, counters, self.tmp)
        mf.write_json(posixpath.join(self.tmp, mf.MANIFEST_NAME), manifest)
        publish_output(self.tmp, self.output)
        return manifest


def _progress_if(enabled: bool):
    return Progress() if enabled else contextlib.nullcontext()


"""``ShardRun``: one pipeline run from inputs to a finished output directory.

    run = ShardRun("corpus", output, options)
    docs = run.read(paths)
    docs = run.stage("normalize", docs, normalize)            # rejects collected for you
    run.write("docs", docs, DOCUMENT_SCHEMA, primary=True)     # validated, then sharded
    manifest = run.execute()

The run writes into ``OUTPUT.tmp-<id>/``, then writes ``_manifest.json``, renames the
folder to ``OUTPUT`` and writes ``_SUCCESS`` last: a crashed run never looks finished.

Resume: the temporary directory keeps the run's work state in ``_work/`` (``run.json``
with the run's key, checkpoints, local caches). ``run.checkpoint(name, pcoll)`` ends a
phase: everything up to it runs as one Beam pipeline and its records, rejects,
removals and counters are stored under ``_work/checkpoints/``. With ``resume=True`` a
finished output of the same pipeline and options is reused as it is, and otherwise the
latest partial run of the same key is continued: its finished checkpoints are read back
instead of recomputed (caches under ``_work/`` are kept too). ``_work/`` is deleted
before the output is published.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import pickle
import posixpath
import re
import sys
import time
import uuid
from collections import defaultdict

import apache_beam as beam
import fsspec
import pyarrow as pa
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

import transforms
from schemas.common import DEDUP_REMOVED_SCHEMA, REJECT_SCHEMA, fingerprint
from schemas.validate import check_record
from transforms.io import manifest as mf
from transforms.io import outputs
from transforms.io.local_paths import display_names, worker_path
from transforms.io.portable import check_output_reachable, check_portable_workers
from transforms.io.progress import Progress, worker_logs_to
from transforms.io.readers import READ_STAGE, InputError, file_size, record_bound
from transforms.io.shards import DEFAULT_ROWS_PER_SHARD, WriteShards
from transforms import steps as steps_
from transforms.dedup.beam import ExactDedup, ExactNearDedup, NearDedup, resolve_groups
from transforms.quality.beam import RateRecords
from transforms.records import record_to_json
from transforms.stages import (DEFAULT_RECORD_TIMEOUT, BatchStage, CapPerGroup, DeriveRows, ReadItems, Stage,
                               UniqueBy, apply_stages)


def make_runner(options: PipelineOptions):
    """The runner named in the options; the in-process FnApiRunner when none is named.

    (Beam's default DirectRunner first tries to download the Prism runner, which fails offline.)
    An unknown runner, or one whose extra is not installed, is an ``InputError``.
    """
    name = options.view_as(StandardOptions).runner
    if name in (None, "", "FnApiRunner"):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        _shorten_state_sampling()
        return FnApiRunner()
    from apache_beam.runners.runner import create_runner

    try:
        return create_runner(name)
    except ImportError as exc:
        raise InputError(f"--runner {name}: needs a package that is not installed ({exc})") from None
    except ValueError:
        raise InputError(f"--runner {name}: unknown runner (e.g. FnApiRunner, DirectRunner, PortableRunner, "
                         "FlinkRunner, SparkRunner, DataflowRunner)") from None


STATE_SAMPLING_MS = 5


def _shorten_state_sampling() -> None:
    """Make the in-process workers' state sampler wake every 5 ms instead of 200 ms.

    Each bundle's end joins the sampler thread, which sleeps its whole period first: at Beam's
    200 ms a pipeline of many short bundles spends most of its time waiting there.
    """
    from apache_beam.runners.worker import statesampler

    init = statesampler.StateSampler.__init__
    if getattr(init, "__defaults__", None) and init.__defaults__[-1] != STATE_SAMPLING_MS:
        init.__defaults__ = init.__defaults__[:-1] + (STATE_SAMPLING_MS,)


WORK_DIR = "_work"
RUN_FILE = "run.json"
DONE_NAME = "_DONE"
WORKER_LOG = "workers.log"
LOGS_DIR = outputs.LOGS_DIR  # in a finished output: the worker log of a multi-processing run
NOT_PART_OF_THE_KEY = ("resume", "overwrite", "progress")
PHASE_MICROS = ("shardsmith:run", "phase_micros")  # a phase's wall time, stored with its checkpoint


def run_key(pipeline: str, options: dict) -> str:
    """What identifies a run for ``--resume``: the pipeline and its options (minus resume/overwrite/progress)."""
    kept = {k: v for k, v in sorted(options.items()) if k not in NOT_PART_OF_THE_KEY}
    material = json.dumps({"pipeline": pipeline, "options": kept}, sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def finished_manifest(output: str) -> dict | None:
    """The manifest of ``output`` if it holds a finished run, else None."""
    return outputs.finished_run_manifest(output)


def partial_runs(output: str, key: str) -> list[str]:
    """Temporary directories of unfinished runs of ``key`` next to ``output``, newest first."""
    fs, path = fsspec.core.url_to_fs(output.rstrip("/"))
    found = []
    for tmp in fs.glob(f"{path}.tmp-*"):
        try:
            with fs.open(posixpath.join(tmp, WORK_DIR, RUN_FILE), "r") as handle:
                info = json.load(handle)
        except (OSError, ValueError):
            continue
        if info.get("key") == key:
            found.append((float(info.get("started", 0)), tmp))
    base = output.rstrip("/")
    return [f"{base}.tmp-{tmp.rsplit('.tmp-', 1)[1]}" for _, tmp in sorted(found, reverse=True)]


def prepare_output(output: str, overwrite: bool) -> str:
    """Check the output location (``transforms.io.outputs`` rules) and return a fresh temporary
    sibling directory for the run."""
    outputs.check_output_dir(output, overwrite)
    return f"{output.rstrip('/')}.tmp-{uuid.uuid4().hex[:8]}"


def publish_output(tmp: str, output: str, overwrite: bool = False) -> None:
    """Put the finished ``tmp`` directory at ``output``, then write ``_SUCCESS``.

    What is at ``output`` is checked again first: only an empty folder, or a finished run
    when ``overwrite``, is replaced, and the old run is moved aside before it is deleted.
    """
    fs, path = fsspec.core.url_to_fs(output)
    _, tmp_path = fsspec.core.url_to_fs(tmp)
    if fs.exists(posixpath.join(tmp_path, WORK_DIR)):
        fs.rm(posixpath.join(tmp_path, WORK_DIR), recursive=True)
    state = outputs.check_output_dir(output, overwrite)
    old = None
    if state == "empty":
        fs.rmdir(path)
    elif state in ("finished", "unfinished"):
        old = f"{path}.old-{uuid.uuid4().hex[:8]}"
        fs.mv(path, old, recursive=True)
    fs.mv(tmp_path, path, recursive=True)
    with fs.open(posixpath.join(path, mf.SUCCESS_NAME), "wb"):
        pass
    if old is not None:
        fs.rm(old, recursive=True)


class ShardRun:
    """Builds one Beam pipeline, collects its rejects and dedup removals, and finishes the output."""

    def __init__(self, pipeline: str, output: str, options: PipelineOptions, *,
                 overwrite: bool = False, resume: bool = False, num_shards: int = 0,
                 rows_per_shard: int = DEFAULT_ROWS_PER_SHARD, progress: bool | None = None,
                 inputs: list[str] = (), read_in_place: list[str] = (),
                 record_timeout: float | None = DEFAULT_RECORD_TIMEOUT):
        self.name, self.output, self.options = pipeline, output.rstrip("/"), options
        self.overwrite, self.record_timeout = overwrite, record_timeout
        outputs.check_not_overlapping(self.output, list(inputs), read_in_place=list(read_in_place))
        runner = make_runner(options)  # an unknown runner fails before anything is written
        check_portable_workers(options)  # so do workers that cannot start (Beam would wait forever)
        unreachable = check_output_reachable(options, self.output)  # and a local output remote workers cannot reach
        self.key = run_key(pipeline, options.get_all_options(drop_default=True))
        self.num_shards, self.rows_per_shard = num_shards, rows_per_shard
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.notes: list[str] = []
        if unreachable:
            self.notes.append(unreachable)
            print(f"[shardsmith] warning: {unreachable}", file=sys.stderr)
        self._rejects: list = []
        self._removed: list = []
        self._schemas: dict[str, pa.Schema] = {}
        self._primary: list[str] = []
        self._stage_order: list[str] = []
        self._derived_stages: set[str] = set()
        self._phase_counters: list[dict] = []
        self._reused_checkpoints: list[str] = []
        self._phase_datasets: list[str] = []  # written since the last checkpoint
        self._input_bytes = 0  # of the files read, for the progress bar
        # at most this many records reach the current step (None: unknown): lets dedup leave out
        # what only a bigger input could need (``ConnectedComponents``)
        self._record_bound: int | None = 0
        self._started = time.monotonic()
        self._reused_micros = 0  # wall time of the checkpointed phases a resumed run reuses
        self.reused: dict | None = None  # the manifest of a finished run that --resume reuses
        previous = finished_manifest(self.output) if resume and not overwrite else None
        if previous is not None:
            if previous.get("run_key") != self.key:
                raise InputError(f"{output}: holds a finished run of other options; --resume cannot reuse it "
                                 "(pass --overwrite to replace it)")
            self.reused, self.tmp = previous, None
            self.pipeline = beam.Pipeline(runner=runner, options=options)  # built, never run
            return
        # The work happens under an absolute location: workers of a portable runner have their own cwd.
        partial = partial_runs(worker_path(self.output), self.key) if resume else []
        if partial:
            outputs.check_output_dir(self.output, overwrite)  # before the work, not when publishing
            self.tmp = partial[0]
            self.notes.append(f"resumed the partial run {posixpath.basename(self.tmp)}")
        else:
            self.tmp = prepare_output(worker_path(self.output), overwrite)
            mf.write_json(posixpath.join(self.work_dir, RUN_FILE),
                          {"key": self.key, "pipeline": pipeline, "started": time.time()})
        self.pipeline = beam.Pipeline(runner=runner, options=options)

    @property
    def work_dir(self) -> str | None:
        """The run's scratch directory (checkpoints, local caches); removed when the run finishes."""
        return posixpath.join(self.tmp, WORK_DIR) if self.tmp else None

    def local_work_dir(self, name: str) -> str | None:
        """A local directory under the work dir (e.g. for a SQLite cache), or None for remote outputs."""
        if self.tmp is None:
            return None
        fs, path = fsspec.core.url_to_fs(self.work_dir)
        if "file" not in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
            return None
        directory = posixpath.join(path, name)
        fs.makedirs(directory, exist_ok=True)
        return directory

    def read(self, paths: list[str], stage: str = READ_STAGE, position_field: str | None = None,
             names: dict[str, str] | None = None):
        """Records of the input files; unreadable lines and files become rejects.

        Files are named by ``names[path]`` (default ``display_names`` of the paths: the base name,
        with directories added where two files share one), never by their local path: in the
        rejects (``read_reject_named`` rewrites their ``source`` and ``detail``) and in positions
        (``position_field``: ``"<name>#<index>"``), so ids made from positions do not depend on
        where the input lives.
        """
        names = dict(names) if names else display_names((path, [path]) for path in paths)
        names = {worker_path(path): name for path, name in names.items()}
        paths = [worker_path(path) for path in paths]
        records, rejects = self.pipeline | f"read:{stage}" >> ReadItems(paths, stage=stage, position_field=position_field,
                                                                      names=names,
                                                                      spill_dir=self._spill_dir(f"read:{stage}"),
                                                                      spread=not self._one_local_worker())
        self._input_bytes += sum(map(file_size, paths))
        self._bound_by([record_bound(path) for path in paths])
        rejects = rejects | f"read:{stage}:names" >> beam.Map(read_reject_named, names)
        self._order(stage)
        self._rejects.append(rejects)
        return records

    def stage(self, name: str, pcoll, fn, kind: str = "map", id_field: str = "id"):
        """Apply a pure stage function (see ``transforms.stages``); its rejects are collected."""
        return self.stages(pcoll, [Stage(name, fn, kind, id_field)])

    def stages(self, pcoll, chain: list[Stage]):
        """Apply consecutive stage functions as one Beam step (``transforms.stages.StageDoFn``: each
        stage keeps its own counters, rejects and budget); their rejects are collected."""
        kept, rejects = apply_stages(pcoll, chain, self.record_timeout)
        if any(stage.kind == "flatmap" for stage in chain):
            self._record_bound = None  # it may make more records than it is given
        for stage in chain:
            self._order(stage.name)
        self._rejects.append(rejects)
        return kept

    def _order(self, stage: str) -> None:
        """Place ``stage`` in the manifest's stage table (once, where it first appears)."""
        if stage not in self._stage_order:
            self._stage_order.append(stage)

    def add_rejects(self, rejects, stage: str | None = None, derived: bool = False) -> None:
        """Collect reject rows produced by a transform of your own (``schemas.common.REJECT_SCHEMA``).

        ``derived``: the rows come from a dataset derived from kept records (not counted by
        the conservation check, since their source records are already written).
        """
        self._rejects.append(rejects)
        if stage:
            self._order(stage)
            if derived:
                self._derived_stages.add(stage)

    def add_removed(self, removed, stage: str | None = None) -> None:
        """Collect dedup removal rows (``schemas.common.DEDUP_REMOVED_SCHEMA``)."""
        self._removed.append(removed)
        if stage:
            self._order(stage)

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
        if self.reused is not None:
            return
        self._phase_datasets.append(dataset)
        # rows wait for their shard in the work dir (removed when the run finishes)
        spill_dir = posixpath.join(self.work_dir, "shards", dataset)
        pcoll | f"write:{dataset}" >> WriteShards(posixpath.join(self.tmp, dataset), schema, sort_key,
                                                  self.num_shards, self.rows_per_shard, spill_dir=spill_dir)

    def _flatten(self, label: str, pcolls: list):
        if not pcolls:
            return self.pipeline | f"{label}:none" >> beam.Create([])
        return tuple(pcolls) | f"{label}:all" >> beam.Flatten()

    def checkpoint(self, name: str, pcoll):
        """End a phase: run the pipeline so far, store ``pcoll`` and the rejects and removals
        collected so far in the work dir, and continue from the stored records.

        A resumed run reads a finished checkpoint back instead of recomputing it. Place
        checkpoints after expensive stages (LLM calls, verification), where ``pcoll`` is the
        only collection later stages use.
        """
        if self.reused is not None:
            return pcoll
        directory = posixpath.join(self.work_dir, "checkpoints", f"{len(self._phase_counters):02d}-{name}")
        fs, path = fsspec.core.url_to_fs(directory)
        if fs.exists(posixpath.join(path, DONE_NAME)):
            with fs.open(posixpath.join(path, "counters.json"), "r") as handle:
                counters = {(ns, n): v for ns, n, v in json.load(handle)}
            self._reused_checkpoints.append(name)
            self._reused_micros += counters.get(PHASE_MICROS, 0)
            self._phase_datasets = []  # written by the finished phase; kept as they are
        else:
            if fs.exists(path):
                fs.rm(path, recursive=True)
            parts = {"records": pcoll, "rejects": self._flatten(f"{name}:rejects", self._rejects)}
            if self._removed:
                parts["removed"] = self._flatten(f"{name}:removed", self._removed)
            for part, collection in parts.items():
                (collection | f"{name}:encode {part}" >> beam.Map(_encode)
                 | f"{name}:store {part}" >> beam.io.WriteToText(posixpath.join(directory, part),
                                                                  file_name_suffix=".b64.gz"))
            counters = self._run_pipeline()
            mf.write_json(posixpath.join(directory, "counters.json"),
                          [[ns, n, v] for (ns, n), v in sorted(counters.items())])  # type: ignore[arg-type]
            with fs.open(posixpath.join(path, DONE_NAME), "wb"):
                pass
        self._phase_counters.append(counters)
        self.pipeline = beam.Pipeline(runner=make_runner(self.options), options=self.options)
        stored = {part: self.pipeline | f"{name}:read {part}" >> _ReadCheckpoint(directory, part)
                  for part in ("records", "rejects", "removed")}
        self._rejects, self._removed = [stored["rejects"]], [stored["removed"]]
        return stored["records"]

    def _run_pipeline(self) -> dict:
        """Run the current phase; a resumed run first clears what a killed run left of its datasets."""
        fs, _ = fsspec.core.url_to_fs(self.tmp)
        for dataset in self._phase_datasets:
            directory = posixpath.join(self.tmp, dataset)
            for stale in fs.glob(posixpath.join(fsspec.core.url_to_fs(directory)[1], "*.parquet")):
                fs.rm(stale)
        self._phase_datasets = []
        with contextlib.ExitStack() as stack:
            console = sys.stderr
            log = self._worker_log()
            if log:
                console = stack.enter_context(worker_logs_to(log))
            if self.progress:
                stack.enter_context(Progress(self._input_bytes, stream=console,
                                             idle="counts of worker processes come with the manifest" if log
                                             else "starting"))
            started = time.monotonic()
            result = self.pipeline.run()
            result.wait_until_finish()
        counters = mf.counters_from_result(result)
        counters[PHASE_MICROS] = int((time.monotonic() - started) * 1e6)
        return counters

    def _worker_log(self) -> str | None:
        """Where worker processes' stderr goes: a local file in the work dir for multi-processing runs."""
        from apache_beam.options.pipeline_options import DirectOptions

        if self.options.view_as(DirectOptions).direct_running_mode != "multi_processing":
            return None
        directory = self.local_work_dir("logs")
        return posixpath.join(directory, WORKER_LOG) if directory else None

    def run_steps(self, steps: list, finalize=None) -> dict:
        """Apply a pipeline's declared steps (``transforms.steps``) in order, then ``execute``.

        Consecutive reads at the start form one input; every step's rejects and removals are
        registered here. Returns the manifest.
        """
        records, reads, derived = None, [], {}
        chain: list = []  # consecutive counted map/filter/flatmap steps: applied as one Beam step
        for index, step in enumerate(steps):
            label = f"{index:02d} {step.kind}:{step.name}"
            if step.kind == "read":
                reads.append(self._apply_read(step, label))
                continue
            if reads:
                records = reads[0] if len(reads) == 1 else tuple(reads) | f"{label}:inputs" >> beam.Flatten()
                reads = []
            if step.note and step.kind != "note":
                self.notes.append(step.note)
            if _chained(step):
                chain.append(step)
                if index + 1 < len(steps) and _chained(steps[index + 1]):
                    continue
                step, chain = chain, []
            records = self._apply_step(step, records, label, derived)
        return self.execute(finalize=finalize)

    def _apply_read(self, step, label: str):
        if isinstance(step, steps_.Read):
            records = self.read(list(step.files), stage=step.name, position_field=step.position_field,
                                names=step.names)
        else:
            records, rejects = self.pipeline | label >> ReadItems(list(step.items), step.reader, stage=step.name,
                                                                  spill_dir=self._spill_dir(label),
                                                                  spread=not self._one_local_worker())
            self._input_bytes += sum(file_size(item) for item in step.items if isinstance(item, str))
            bound = getattr(step.reader, "record_bound", None)  # a reader may know how many records an item holds
            self._bound_by([bound(item) if bound is not None and isinstance(item, str) else None for item in step.items])
            self.add_rejects(rejects, stage=step.name)
        if step.note:
            self.notes.append(step.note)
        return records | f"{label}:adjust" >> beam.Map(step.adjust) if step.adjust else records

    def _bound_by(self, bounds: list[int | None]) -> None:
        """Add an input's record bounds (None: unknown) to the bound on the records in flight."""
        if self._record_bound is not None:
            self._record_bound = None if None in bounds else self._record_bound + sum(bounds)

    def _apply_step(self, step, records, label: str, derived: dict):
        if not isinstance(step, list) and step.kind == "custom":
            self._record_bound = None  # it may make more records than it is given
        if isinstance(step, list):  # a chain of counted map/filter/flatmap steps (run_steps)
            return self.stages(records, [Stage(s.name, s.fn, s.kind, s.id_field) for s in step])
        kind = step.kind
        if kind == "map" and not step.counted:
            return records | label >> beam.Map(step.fn)
        if kind in ("map", "filter", "flatmap"):
            return self.stage(step.name, records, step.fn, kind, step.id_field)
        if kind == "unique":
            records, rejects = records | label >> UniqueBy(step.name, step.key_field, spill_dir=self._spill_dir(label))
            self.add_rejects(rejects, stage=step.name)
            return records
        if kind == "dedup":
            return self._apply_dedup(step.spec, records, label)
        if kind == "rate":
            records, rejects = records | label >> RateRecords(list(step.raters), text_field=step.text_field,
                                                              stage=step.name, id_field=step.id_field)
            self.add_rejects(rejects, stage=step.name)
            return records
        if kind == "cap":
            records, rejects = records | label >> CapPerGroup(step.name, step.group_field, step.id_field, step.cap,
                                                             step.seed, step.keep, step.detail)
            self.add_rejects(rejects, stage=step.name)
            return records
        if kind == "batch":
            records, rejects = records | label >> BatchStage(step.name, step.worker, step.method, step.batch_size)
            self.add_rejects(rejects, stage=step.name)
            return records
        if kind == "checkpoint":
            return self.checkpoint(step.name, records)
        if kind == "derive":
            rows = records | label >> beam.ParDo(DeriveRows(step.name, step.fn))
            if step.unique:
                rows, rejects = rows | f"{label}:unique" >> UniqueBy(f"unique_{step.dataset}", "id",
                                                                     spill_dir=self._spill_dir(label))
                self.add_rejects(rejects, stage=f"unique_{step.dataset}", derived=True)
            self.write(step.dataset, rows, step.schema, sort_key=step.sort_key)
            derived[step.dataset] = rows
            return records
        if kind == "write":
            rows = records | f"{label}:public" >> beam.Map(step.public) if step.public else records
            self.write(step.name, rows, step.schema, primary=step.primary, sort_key=step.sort_key,
                       id_field=step.id_field)
            return records
        if kind == "custom":
            return step.apply(self, records, derived)
        if kind == "note":
            self.notes.append(step.note)
            if step.console:
                print(f"[shardsmith] {step.note}", file=sys.stderr)
            return records
        raise ValueError(f"unknown step kind {kind!r} ({step.name})")

    def _one_local_worker(self) -> bool:
        """The in-process runner with one worker in one process: spreading records gains nothing."""
        from apache_beam.options.pipeline_options import DirectOptions

        direct = self.options.view_as(DirectOptions)
        return (self.options.view_as(StandardOptions).runner in (None, "", "FnApiRunner")
                and direct.direct_running_mode == "in_memory" and direct.direct_num_workers == 1)

    def _spill_dir(self, label: str) -> str | None:
        """Where a step's records wait for a decision (under the work dir, removed when the run finishes)."""
        return posixpath.join(self.work_dir, "spill", re.sub(r"[^A-Za-z0-9_.-]+", "_", label)) if self.work_dir else None

    def _apply_dedup(self, spec, records, label: str):
        # records wait for the decisions in the run's work dir (removed when the run finishes)
        spill_dir = posixpath.join(self.work_dir, "dedup", label) if self.work_dir else None
        common = dict(text_field=spec.text_field, text_fn=spec.text_fn, id_field=spec.id_field,
                      score_field=spec.score_field, spill_dir=spill_dir)
        exact_removed = near_removed = None
        if spec.exact and spec.near:  # one pass: tokenized, spilled and routed once
            records, exact_removed, near_removed = records | f"{label}:exact+near" >> ExactNearDedup(
                exact_stage="dedup:exact", normalization=spec.exact_normalization, config=spec.minhash,
                stage="dedup:near", sign_processes=spec.sign_processes, max_records=self._record_bound, **common)
        elif spec.exact:
            records, exact_removed = records | f"{label}:exact" >> ExactDedup(
                stage="dedup:exact", normalization=spec.exact_normalization, **common)
        elif spec.near:
            records, near_removed = records | f"{label}:near" >> NearDedup(config=spec.minhash, stage="dedup:near",
                                                                           sign_processes=spec.sign_processes,
                                                                           max_records=self._record_bound, **common)
        if spec.resolve is None or (exact_removed is None and near_removed is None):
            if exact_removed is not None:
                self.add_removed(exact_removed, stage="dedup:exact")
            if near_removed is not None:
                self.add_removed(near_removed, stage="dedup:near")
            return records
        records, removed, rejects = resolve_groups(records, exact_removed, near_removed, spec.resolve,
                                                   spec.resolve_stage, spec.id_field)
        self.add_removed(removed)  # the dedup stages count themselves; the resolver re-routes their rows
        self.add_rejects(rejects, stage=spec.resolve_stage)
        return records

    def execute(self, finalize=None) -> dict:
        """Run the pipeline, write the manifest, publish the output; returns the manifest.

        ``finalize(manifest, counters, root)``, when given, may add pipeline-specific fields to
        the manifest before it is written (``counters``: Beam counters by (namespace, name);
        ``root``: the finished run's directory, before it is renamed). A finished run that
        ``--resume`` reuses is returned as it is.
        """
        if self.reused is not None:
            print(f"[shardsmith] {self.output}: already finished with these options; reused (--resume)",
                  file=sys.stderr)
            return self.reused
        self._write(mf.REJECTS_DATASET, self._flatten("rejects", self._rejects), REJECT_SCHEMA, "record_id")
        if self._removed:
            self._write(mf.DUPLICATES_DATASET, self._flatten("removed", self._removed),
                        DEDUP_REMOVED_SCHEMA, "record_id")
        counters: dict = defaultdict(int)
        for phase in [*self._phase_counters, self._run_pipeline()]:
            for key, value in phase.items():
                counters[key] += value
        counters = dict(counters)
        counters.pop(PHASE_MICROS, None)
        seconds = time.monotonic() - self._started + self._reused_micros / 1e6  # with reused phases' own time
        if self._reused_checkpoints:
            self.notes.append(f"reused checkpoint(s) of the partial run: {', '.join(self._reused_checkpoints)}")
        fs, work = fsspec.core.url_to_fs(self.work_dir)
        worker_log = posixpath.join(work, "logs", WORKER_LOG)
        if fs.exists(worker_log) and fs.size(worker_log):
            fs.makedirs(posixpath.join(fsspec.core.url_to_fs(self.tmp)[1], LOGS_DIR), exist_ok=True)
            fs.mv(worker_log, posixpath.join(fsspec.core.url_to_fs(self.tmp)[1], LOGS_DIR, WORKER_LOG))
            self.notes.append(f"worker processes' log: {LOGS_DIR}/{WORKER_LOG}")
        if fs.exists(work):
            fs.rm(work, recursive=True)  # before the manifest lists the run's folders
        manifest = mf.build_manifest(
            root=self.tmp, pipeline=self.name, version=transforms.__version__,
            options=self.options.get_all_options(drop_default=True),
            schemas={name: fingerprint(s) for name, s in self._schemas.items()},
            primary=self._primary, counters=counters, seconds=seconds,
            read_stage=READ_STAGE, notes=self.notes, stage_order=self._stage_order,
            derived_stages=sorted(self._derived_stages),
        )
        manifest["output"] = self.output
        manifest["run_key"] = self.key
        if finalize is not None:
            finalize(manifest, counters, self.tmp)
        mf.write_json(posixpath.join(self.tmp, mf.MANIFEST_NAME), manifest)
        publish_output(self.tmp, self.output, self.overwrite)
        return manifest


def _chained(step) -> bool:
    """A step ``run_steps`` fuses with its counted map/filter/flatmap neighbours."""
    return step.kind in ("map", "filter", "flatmap") and getattr(step, "counted", True)


def read_reject_named(row: dict, names: dict[str, str]) -> dict:
    """A reader's reject row with its file (``source`` of the raw record) shown by its display name."""
    try:
        raw = json.loads(row["record_json"])
    except (TypeError, ValueError):
        return row
    source = raw.get("source") if isinstance(raw, dict) else None
    if not isinstance(source, str) or source not in names:
        return row
    name = names[source]
    return {**row, "detail": row["detail"].replace(source, name),
            "record_json": record_to_json({**raw, "source": name})}


def _encode(record) -> str:
    return base64.b64encode(pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii")


class _ReadCheckpoint(beam.PTransform):
    """Records of one part of a checkpoint (none when the part was not stored), spread over workers.

    The files are pickles written by this run into its own work directory; nothing else is
    ever unpickled.
    """

    def __init__(self, directory: str, part: str):
        super().__init__()
        self.directory, self.part = directory, part

    def expand(self, pbegin):
        return (pbegin
                | "files" >> beam.Create(sorted(_checkpoint_files(self.directory, self.part)))
                | "decode" >> beam.FlatMap(_decode_file)
                | "spread" >> beam.Reshuffle())


def _checkpoint_files(directory: str, part: str) -> list[str]:
    fs, path = fsspec.core.url_to_fs(directory)
    return [fs.unstrip_protocol(p) for p in fs.glob(posixpath.join(path, f"{part}-*.b64.gz"))]


def _decode_file(path: str):
    with fsspec.open(path, "rt", compression="gzip", encoding="ascii") as handle:
        for line in handle:
            if line.strip():
                yield pickle.loads(base64.b64decode(line))

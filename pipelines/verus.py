"""Verus pipeline (issue 5, first increment): seed programs -> programs, proof tasks, repair pairs, SFT export.

    shardsmith verus --output out/verus                          # the embedded sample, no Verus needed
    shardsmith verus --seeds seeds/ --seeds safe.json --verus ~/verus/verus --verus-cache-dir ~/.cache/verus \\
        --output out/verus
    shardsmith stats out/verus                                   # feature coverage per dataset in the notes

Inputs (``--seeds``, repeatable; file, directory or glob; ``--input`` means the same):

* ``.rs`` files: one program per file;
* ``.json`` (a JSON array, or JSON lines) / ``.jsonl`` of ``{prompt, input, output}`` records (SAFE /
  VeruSyn layout): the program is the longest ```rust fence of ``output``; an ``input`` with a line
  starting "The error messages are" is a debugging record: its fenced program + the errors after
  that line, with the output's program as the fix, become a repair pair;
* task files ``{task_id, task, ground_truth}``: the program is the ground truth; the task text is
  kept when it has the ground truth's spec fingerprint, else re-derived by ``strip_proof``.

Stages (reject reasons in brackets):

    read          files -> one raw record per .rs file / JSON element / JSON line   invalid_json, not_an_object,
                                                                                    invalid_utf8, unreadable_file
    extract       program (and repair parts) out of the layout                       no_code, unknown_layout
    parse         ``parse_verus``                                                    parse_error
    features      feat_* / escape_* columns, line counts, stripped task, spec
                  fingerprint, id (hash of the program, line ends and trailing
                  blanks normalized)
    verify        ``verify_many`` in batches when a verus is found, else skipped     error:<Type>
                  (columns null, a note); accepted = verified and no cheating
                  (``cheating_reason``: assume/admit; external_body only where
                  the seed had it: a seed may keep its own)
    acceptance    only with --verified-only: not accepted -> reject                  not_verified:<status>, cheating:<why>
    dedup:exact   whitespace-collapsed program, case and punctuation kept            -> duplicates/
    dedup:near    MinHash over code-token 5-grams (--threshold, --num-perm, --ngram)   -> duplicates/
                  keep rule: accepted > verified > other, then smallest id
    programs/     primary (VERUS_PROGRAM_SCHEMA): every seed that parses, with its verification outcome
    tasks/        derived: one proof-completion task per kept program that has a proof (and, when
                  verification ran, is accepted); one per task text
    repairs/      derived: debugging records whose fix has the failing program's spec fingerprint
                  (and, when verification ran, is accepted)
    export/sft.json  derived: tasks + repairs as a JSON array of {prompt, input, output}
    trajectories/         derived, only with --synthesize (TRAJECTORY_SCHEMA): one row per synthesis episode
    synthesized/          derived, only with --synthesize (VERUS_PROGRAM_SCHEMA): accepted programs of the
                          repair, self and tutorial loops (programs/ keeps counting the seeds read)
    synthesized_repairs/  derived, only with --synthesize (REPAIR_PAIR_SCHEMA, origin 'synthesis'): repair
                          pairs of the loops; repairs/ and export/ keep the imported pairs only

Synthesis (``--synthesize proof,repair,self,tutorial``; ``transforms.verus.synthesis``) needs an
endpoint (``--llm-*``) and a verus; without either it is skipped with a note. ``proof`` completes
the derived tasks, ``repair`` fixes kept programs that failed verification (failed / compile_error)
from their errors, ``self`` runs self-synthesis, ``tutorial`` makes variants of one seed per feature
(the accepted program with the smallest id using it). All inputs are gathered into ONE list
(``beam.combiners.ToList``) and the loops run in one DoFn, in a fixed order over sorted inputs:
simple and deterministic (a rerun on the same LLM and verus caches makes no HTTP call), but a
single worker does all synthesis -- its parallelism is the client's ``--llm-max-concurrency`` and
``--verus-workers``; shard the inputs before this stage if that becomes the limit.

Every record read ends in ``programs/``, ``rejects/`` or ``duplicates/`` (the manifest checks it);
tasks, repairs and the export are derived from kept records. After the run the manifest gains
``verus`` (verification settings or the skip, feature coverage of the seeds and of each dataset,
the export) and the coverage is printed among the notes, so ``shardsmith stats`` shows it.
"""
from __future__ import annotations

import dataclasses
import functools
import glob
import json
import os
import posixpath
import re
import sys
from pathlib import Path

import apache_beam as beam
import fsspec
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import flags

from pipelines.options import DedupOptions, RunOptions, start_run
from schemas.verus import (
    ESCAPE_COLUMNS, FEATURE_COLUMNS, PROOF_TASK_SCHEMA, REPAIR_PAIR_SCHEMA, TRAJECTORY_SCHEMA, VERUS_FEATURES,
    VERUS_PROGRAM_SCHEMA,
)
from transforms.dedup.beam import ExactDedup, NearDedup
from transforms.dedup.exact import TextNormalization
from transforms.dedup.minhash import MinHashConfig
from transforms.io.local_paths import display_names
from transforms.io.readers import READ_STAGE, InputError, Unreadable, iter_jsonl
from transforms.io.run import ShardRun
from transforms.llm import LlmClient, config_from_options, llm_counters, skipped_note
from transforms.records import Rejected, content_id, reject_row
from transforms.stages import REJECTS, StageCounters, UniqueBy
from transforms.verus.features import feature_columns, program_summary
from transforms.verus.syntax import parse_verus
from transforms.verus.tasks import cheating_reason, spec_code_fingerprint, strip_proof
from transforms.verus.verifier import (
    VerificationResult, VerusConfig, find_verus, skipped_record_fields, verify_many, verus_version,
    sandbox_note,
)

PIPELINE = "verus"
SAMPLE_DIR = Path(__file__).parent / "samples" / "verus"
RS_SUFFIXES = (".rs",)
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
ERRORS_MARKER = re.compile(r"^[ \t]*The error messages are.*$", re.MULTILINE)
FENCE = re.compile(r"```[ \t]*(rust|verus|rs)?[ \t]*\r?\n(.*?)```", re.DOTALL | re.IGNORECASE)
CODE_NORMALIZATION = TextNormalization(lowercase=False, nfkc=False, strip_punctuation=False, collapse_whitespace=True)
PRIVATE = "_"  # fields starting with it travel between stages and are never written
COVERAGE_NAMESPACE = "verus:seed_coverage"
DATASETS = ("programs", "tasks", "repairs")
SYNTHESIS_LOOPS = ("proof", "repair", "self", "tutorial")
SYNTHESIS_NAMESPACE = "verus:synthesis"
SYNTHESIS_DATASETS = ("synthesized", "synthesized_repairs")
REPAIRABLE_STATUSES = ("failed", "compile_error")
EXPORT_PATH = posixpath.join("export", "sft.json")
TASK_PROMPT = ("Given a Verus program with function signatures, preconditions, postconditions and code, but "
               "with the proof annotations missing, add loop invariants, assertions and lemmas so that Verus "
               "verifies it. Do not change the specification or the executable code. Respond with the full "
               "program in a ```rust fence.")
REPAIR_PROMPT = ("Given a Verus program and its verification errors, fix the proof (loop invariants, assertions, "
                 "lemmas) without changing the specification or the executable code. Respond with the fixed "
                 "program in a ```rust fence.")


class VerusOptions(PipelineOptions):
    """Flags of the Verus pipeline only (shared ones: ``pipelines.options``)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.verus_flags(parser)


# --------------------------------------------------------------------------- inputs

def seed_files(patterns: list[str]) -> list[str]:
    """The .rs / .json / .jsonl files named by ``--seeds`` (files, directories, globs), sorted."""
    return seed_inputs(patterns)[0]


def seed_inputs(patterns: list[str]) -> tuple[list[str], dict[str, str]]:
    """(``seed_files``, display name per file): a seed's ``source`` is its path relative to the
    ``--seeds`` pattern that found it (``transforms.io.local_paths.display_names``), never its
    absolute local path, so the same layout gives the same sources and ids on every machine."""
    found: list[str] = []
    groups: list[tuple[str, list[str]]] = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            matches = [p for p in glob.glob(os.path.join(pattern, "**", "*"), recursive=True)
                       if os.path.isfile(p) and p.lower().endswith(RS_SUFFIXES + JSON_SUFFIXES)]
            if not matches:
                raise InputError(f"--seeds {pattern}: directory holds no .rs, .json or .jsonl files")
        elif glob.has_magic(pattern):
            matches = [p for p in glob.glob(pattern) if os.path.isfile(p)]
            if not matches:
                raise InputError(f"--seeds {pattern}: no file matches")
        elif os.path.isfile(pattern):
            matches = [pattern]
        else:
            raise InputError(f"--seeds {pattern}: no such file or directory")
        for path in matches:
            if not path.lower().endswith(RS_SUFFIXES + JSON_SUFFIXES):
                raise InputError(f"--seeds {path}: expected .rs, .json or .jsonl")
        found.extend(matches)
        groups.append((pattern, matches))
    return sorted(dict.fromkeys(found)), display_names(groups)


def iter_seed_file(path: str, name: str | None = None):
    """Raw records of one seed file: ``{_source, _source_id, text}`` for .rs, ``{_source, _source_id, record}``
    for JSON elements / lines; ``Unreadable`` for what cannot be read. The file is called ``name``
    (its display name, default ``path``) in the records and in the rejects' detail and source."""
    name = name or path
    try:
        with fsspec.open(path, "rb") as handle:
            data = handle.read()
    except Exception as exc:  # noqa: BLE001 - a vanished file becomes a reject
        yield Unreadable("unreadable_file", f"{name}: {type(exc).__name__}: {str(exc).replace(path, name)}",
                         {"source": name})
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Unreadable("invalid_utf8", f"{name}: {exc}", {"source": name})
        return
    if path.lower().endswith(RS_SUFFIXES):
        yield {"_source": name, "_source_id": name, "text": text}
        return
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Unreadable("invalid_json", f"{name}: {exc}", {"source": name})
            return
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                yield Unreadable("not_an_object", f"{name}[{index}]: a JSON {type(item).__name__}",
                                 {"source": name, "index": index, "raw": item})
            else:
                yield {"_source": name, "_source_id": f"{name}:{index}", "record": item}
        return
    for index, item in enumerate(iter_jsonl(path)):
        if isinstance(item, Unreadable):  # the JSONL reader names the file by its path
            raw = {**item.raw, "source": name} if item.raw.get("source") == path else item.raw
            yield Unreadable(item.reason, item.detail.replace(path, name), raw)
        else:
            yield {"_source": name, "_source_id": f"{name}:{index}", "record": item}


class _ReadSeedsFn(beam.DoFn):
    """Seed files -> raw records, counted as stage ``read`` (the conservation check's input)."""

    def __init__(self, names: dict[str, str] | None = None):
        self.names = dict(names or {})

    def setup(self):
        self.counters = StageCounters(READ_STAGE)

    def process(self, path: str):
        for item in iter_seed_file(path, self.names.get(path)):
            self.counters.records_in.inc()
            if isinstance(item, Unreadable):
                self.counters.rejected(item.reason)
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(READ_STAGE, item.reason, item.detail, item.raw))
            else:
                self.counters.records_out.inc()
                yield item


class ReadSeeds(beam.PTransform):
    """Returns ``(records, rejects)``; files are named by ``names`` (display names), else by their path."""

    def __init__(self, paths: list[str], names: dict[str, str] | None = None):
        super().__init__()
        self.paths, self.names = list(paths), dict(names or {})

    def expand(self, pbegin):
        read = (pbegin | "seed files" >> beam.Create(self.paths)
                | "read seeds" >> beam.ParDo(_ReadSeedsFn(self.names)).with_outputs(REJECTS, main="records"))
        return read.records | "spread" >> beam.Reshuffle(), read[REJECTS]


# --------------------------------------------------------------------------- pure stages

def fenced_code(text: str | None) -> str | None:
    """The longest ```rust (or ```verus / bare) fence of ``text``; None when there is none."""
    if not isinstance(text, str):
        return None
    blocks = [m.group(2) for m in FENCE.finditer(text) if m.group(2).strip()]
    if not blocks:
        return None
    return max(blocks, key=len)  # max keeps the first of equally long blocks: deterministic


def split_debugging_input(text: str) -> tuple[str | None, str | None]:
    """(failing program, errors) of a SAFE debugging input; (None, None) when it is not one."""
    if not isinstance(text, str):
        return None, None
    match = ERRORS_MARKER.search(text)
    if not match:
        return None, None
    errors = text[match.end():].strip()
    errors = re.sub(r"^```[^\n]*\n|\n?```\s*$", "", errors).strip()
    return fenced_code(text[:match.start()]), errors


def _code_of(value) -> str | None:
    """A program given as a fenced answer or as plain code."""
    if not isinstance(value, str) or not value.strip():
        return None
    code = fenced_code(value)
    if code is not None:
        return code
    return value if ("verus!" in value or re.search(r"\bfn\s+\w+", value)) else None


def extract(raw: dict):
    """Raw record -> candidate ``{program, source, source_id, origin, _repair?, _task?}``."""
    out = {"source": raw.get("_source"), "source_id": raw.get("_source_id"), "origin": "seed"}
    if "text" in raw:
        if not raw["text"].strip():
            return Rejected("no_code", "empty .rs file")
        return {**out, "program": raw["text"]}
    record = raw.get("record") or {}
    if "ground_truth" in record:  # task file
        program = _code_of(record.get("ground_truth"))
        if program is None:
            return Rejected("no_code", "ground_truth holds no program")
        task_id = record.get("task_id")
        return {**out, "source_id": str(task_id) if task_id is not None else out["source_id"], "program": program,
                "_task": _code_of(record.get("task"))}
    if "output" in record:  # SAFE / VeruSyn {prompt, input, output}
        program = fenced_code(record.get("output"))
        if program is None:
            return Rejected("no_code", "output holds no ```rust fence")
        failing, errors = split_debugging_input(record.get("input"))
        if errors is not None:
            return {**out, "program": program, "_repair": {"failing_program": failing, "errors": errors}}
        return {**out, "program": program}
    for key in ("program", "code"):
        if key in record:
            program = _code_of(record.get(key))
            if program is None:
                return Rejected("no_code", f"{key} holds no program")
            return {**out, "program": program}
    return Rejected("unknown_layout", "expected {prompt, input, output}, {task_id, task, ground_truth} or {program}; "
                                      f"got keys {sorted(record)[:10]}")


def parse_reason(candidate: dict):
    """Filter stage: ``parse_error`` when ``parse_verus`` cannot structure the program."""
    result = parse_verus(candidate["program"])
    return result if isinstance(result, Rejected) else None


def normalize_program(source: str) -> str:
    """Line ends unified, trailing blanks dropped: the text the id hashes."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n") + "\n"


def program_id(source: str) -> str:
    return content_id("verus-program", normalize_program(source))


class Features:
    """Map stage: features, line counts, stripped task, fingerprint, id; counts seed coverage."""

    def setup(self):
        from apache_beam.metrics import Metrics

        self._counter = lambda name: Metrics.counter(COVERAGE_NAMESPACE, name)

    def __call__(self, candidate: dict) -> dict:
        program = parse_verus(candidate["program"])
        if isinstance(program, Rejected):
            return program
        columns = feature_columns(program)
        record = {
            "id": program_id(candidate["program"]),
            "origin": candidate["origin"], "source": candidate.get("source"),
            "source_id": candidate.get("source_id"), "parent_id": None, "target_feature": None, "model": None,
            "program": candidate["program"],
            "program_without_proof": strip_proof(program),
            "spec_fingerprint": spec_code_fingerprint(program),
            **program_summary(program), **columns, **skipped_record_fields(), "accepted": None,
        }
        for key in ("_repair", "_task"):
            if candidate.get(key) is not None:
                record[key] = candidate[key]
        if getattr(self, "_counter", None) is not None:
            self._counter("programs").inc()
            for name in FEATURE_COLUMNS + ESCAPE_COLUMNS:
                if columns.get(name):
                    self._counter(name).inc()
        return record


def keep_score(record: dict) -> int | None:
    """Dedup keep rule's score: accepted 2, verified 1, other verdicts 0; None when not verified at all."""
    if record.get("verification_status") is None:
        return None
    return 2 if record.get("accepted") else (1 if record["verification_status"] == "verified" else 0)


def apply_verdict(record: dict, result: VerificationResult) -> dict:
    """The verification columns and ``accepted`` (a seed may keep its own external_body items)."""
    out = {**record, **result.record_fields()}
    out["accepted"] = bool(result.verified and cheating_reason(record["program"], record["program"]) is None)
    return out


def acceptance_reason(record: dict):
    """Filter stage of --verified-only."""
    if record.get("accepted"):
        return None
    if record.get("verification_status") != "verified":
        return Rejected(f"not_verified:{record.get('verification_status')}",
                        "\n".join((record.get("verification_errors") or [])[:3]))
    return Rejected(f"cheating:{cheating_reason(record['program'], record['program'])}", "")


class _VerifyBatchFn(beam.DoFn):
    """A batch of programs -> ``verify_many`` -> verdict columns; a failed batch becomes rejects."""

    def __init__(self, config: VerusConfig, workers: int, stage: str = "verify"):
        self.config, self.workers, self.stage = config, workers, stage

    def setup(self):
        self.counters = StageCounters(self.stage)

    def process(self, batch: list):
        self.counters.records_in.inc(len(batch))
        try:
            results = verify_many([r["program"] for r in batch], self.config, max_workers=self.workers)
            verdicts = [apply_verdict(r, res) for r, res in zip(batch, results)]
        except Exception as exc:  # noqa: BLE001 - the batch becomes rejects, the run goes on
            for record in batch:
                self.counters.rejected(f"error:{type(exc).__name__}")
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(self.stage, f"error:{type(exc).__name__}",
                                                                   str(exc), record))
            return
        for record in verdicts:
            self.counters.records_out.inc()
            record[PRIVATE + "keep_score"] = keep_score(record)
            yield record


# --------------------------------------------------------------------------- derived datasets

def _features_of(record: dict) -> dict:
    return {name: record[name] for name in FEATURE_COLUMNS + ESCAPE_COLUMNS}


def task_of(record: dict, verification_ran: bool):
    """Program -> proof-completion task, or the reason there is none."""
    if verification_ran and not record.get("accepted"):
        return Rejected("not_accepted")
    if not record.get("has_proof"):
        return Rejected("no_proof")
    cheat = cheating_reason(record["program"], record["program"])
    if cheat:
        return Rejected(f"cheating:{cheat}")
    task = record["program_without_proof"]
    imported = record.get(PRIVATE + "task")
    if imported and spec_code_fingerprint(imported) == record["spec_fingerprint"]:
        task = imported
    if normalize_program(task) == normalize_program(record["program"]):
        return Rejected("no_proof")
    return {"id": content_id("verus-task", normalize_program(task)), "program_id": record["id"],
            "source": record.get("source"), "source_id": record.get("source_id"), "task": task,
            "ground_truth": record["program"], "spec_fingerprint": record["spec_fingerprint"],
            "verus_version": record.get("verus_version"), **_features_of(record)}


_COMPILE_ERROR_HINTS = re.compile(r"error\[E\d{4}\]|cannot find|mismatched types|expected .* found|unresolved import")


def failing_status(errors: str) -> str:
    """Best guess of the failing program's verdict from its error text (imported pairs are not re-verified)."""
    return "compile_error" if _COMPILE_ERROR_HINTS.search(errors or "") else "failed"


def repair_of(record: dict, verification_ran: bool):
    """Debugging record's fixed program -> repair pair, or the reason there is none."""
    repair = record.get(PRIVATE + "repair")
    if not repair:
        return None
    failing, errors = repair.get("failing_program"), repair.get("errors") or ""
    if not failing:
        return Rejected("no_failing_program")
    if not errors.strip():
        return Rejected("no_errors")
    if normalize_program(failing) == normalize_program(record["program"]):
        return Rejected("unchanged")
    if spec_code_fingerprint(failing) != record["spec_fingerprint"]:
        return Rejected("spec_changed")
    if verification_ran and not (record.get("verification_status") == "verified"
                                 and cheating_reason(record["program"], failing) is None):
        return Rejected("fix_not_accepted")
    return {"id": content_id("verus-repair", normalize_program(failing), errors, normalize_program(record["program"])),
            "origin": "imported", "source": record.get("source"), "source_id": record.get("source_id"),
            "task_id": None, "model": None, "failing_program": failing, "failing_status": failing_status(errors),
            "errors": errors, "fixed_program": record["program"], "fixed_program_id": record["id"],
            "verus_version": record.get("verus_version"), **_features_of(record)}


class _DeriveFn(beam.DoFn):
    """Kept records -> derived rows. A record without one is counted (``stage:<name>`` ``rejected:<reason>``),
    not made a reject: its source record is already written."""

    def __init__(self, stage: str, fn):
        self.stage, self.fn = stage, fn

    def setup(self):
        self.counters = StageCounters(self.stage)

    def process(self, record: dict):
        try:
            result = self.fn(record)
        except Exception as exc:  # noqa: BLE001 - derived data; counted, never fatal
            self.counters.records_in.inc()
            self.counters.rejected(f"error:{type(exc).__name__}")
            return
        if result is None:
            return
        self.counters.records_in.inc()
        if isinstance(result, Rejected):
            self.counters.rejected(result.reason)
            return
        self.counters.records_out.inc()
        yield result


def public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith(PRIVATE)}


def derive(run_: ShardRun, records, stage: str, fn, schema, dataset: str):
    rows = records | f"derive {stage}" >> beam.ParDo(_DeriveFn(stage, fn))
    rows, rejects = rows | f"unique {dataset}" >> UniqueBy(f"unique_{dataset}", "id")
    run_.add_rejects(rejects, stage=f"unique_{dataset}", derived=True)
    run_.write(dataset, rows, schema)
    return rows


# --------------------------------------------------------------------------- synthesis

def synthesis_loops(value: str | None) -> list[str]:
    """``--synthesize`` -> loop names in canonical order; unknown names fail fast."""
    names = [n.strip().lower() for n in (value or "").split(",") if n.strip()]
    unknown = sorted(set(names) - set(SYNTHESIS_LOOPS))
    if unknown:
        raise InputError(f"--synthesize: unknown loop(s) {unknown}; choose from {', '.join(SYNTHESIS_LOOPS)}")
    return [n for n in SYNTHESIS_LOOPS if n in names]


def synthesis_inputs(loops: list[str], tasks, programs):
    """Tagged inputs of the loops: ``("proof", task)``, ``("repair", failure)``,
    ``("seed", (feature, id, program))``."""
    parts = []
    if "proof" in loops:
        parts.append(tasks | "synthesis:tasks" >> beam.Map(
            lambda t: ("proof", {"task": t["task"], "task_id": t["id"]})))
    if "repair" in loops:
        def failures(record):
            if record.get("verification_status") in REPAIRABLE_STATUSES and record.get("verification_errors"):
                yield "repair", {"program": record["program"], "errors": "\n".join(record["verification_errors"]),
                                 "status": record["verification_status"], "task_id": record["id"]}
        parts.append(programs | "synthesis:failures" >> beam.FlatMap(failures))
    if "tutorial" in loops:
        def seeds(record):
            if record.get("accepted"):
                for feature in VERUS_FEATURES:
                    if (record.get("feat_" + feature) or 0) > 0:
                        yield "seed", (feature, record["id"], record["program"])
        parts.append(programs | "synthesis:seeds" >> beam.FlatMap(seeds))
    return parts


class _SynthesisFn(beam.DoFn):
    """All gathered inputs -> the loops (in SYNTHESIS_LOOPS order) -> tagged rows.

    Main output: trajectories; tagged ``program`` and ``repair``. Rejections, self-synthesis stop
    reasons and trajectory statuses become counters (``SYNTHESIS_NAMESPACE``) for the manifest.
    """

    def __init__(self, loops, llm_config, verus_config_, workers, max_repairs, self_batch, self_max_batches,
                 variants):
        self.loops, self.llm_config, self.verus_config, self.workers = list(loops), llm_config, verus_config_, workers
        self.max_repairs, self.self_batch, self.self_max_batches = max_repairs, self_batch, self_max_batches
        self.variants = variants

    def setup(self):
        from apache_beam.metrics import Metrics

        from transforms.verus.synthesis import verifier_fn

        self.client = LlmClient(self.llm_config)
        self.verify = verifier_fn(self.verus_config, max_workers=self.workers)
        self.count = lambda name, n=1: Metrics.counter(SYNTHESIS_NAMESPACE, name).inc(n)

    def teardown(self):
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    def process(self, items: list):
        from transforms.verus import synthesis as syn

        by_kind: dict[str, list] = {}
        for kind, value in items:
            by_kind.setdefault(kind, []).append(value)
        tasks = sorted(by_kind.get("proof", []), key=lambda t: t["task_id"])
        failures = sorted(by_kind.get("repair", []), key=lambda f: f["task_id"])
        seeds: dict[str, str] = {}
        for feature, _, program in sorted(by_kind.get("seed", [])):  # smallest id per feature
            seeds.setdefault(feature, program)
        for loop in self.loops:
            if loop == "proof":
                rows = syn.proof_completion(tasks, self.client, self.verify, max_repairs=self.max_repairs)
            elif loop == "repair":
                rows = syn.repair_synthesis(failures, self.client, self.verify, max_repairs=self.max_repairs)
            elif loop == "self":
                rows = syn.self_synthesis(self.client, self.verify, batch_size=self.self_batch,
                                          max_batches=self.self_max_batches, max_repairs=self.max_repairs)
            else:
                rows = syn.tutorial_synthesis(seeds, self.client, self.verify, variants_per_seed=self.variants,
                                              max_repairs=self.max_repairs)
            self.count(f"{loop}:inputs", {"proof": len(tasks), "repair": len(failures),
                                          "tutorial": len(seeds)}.get(loop, 0))
            for kind, row in rows:
                if kind == "trajectory":
                    self.count(f"{loop}:trajectory:{row['status']}")
                    yield syn.public(row)
                elif kind in ("program", "repair"):
                    self.count(f"{loop}:{kind}")
                    yield beam.pvalue.TaggedOutput(kind, syn.public(row))
                elif kind == "rejected":
                    self.count(f"{loop}:rejected:{row.reason}")
                elif kind == "stopped":
                    self.count(f"{loop}:stopped:{row['reason']}")
                    self.count(f"{loop}:batches", row["batches"])


def synthesis_summary(counters: dict) -> dict:
    """The synthesis counters of a finished run by loop: {loop: {name: value}}."""
    out: dict[str, dict] = {}
    for (namespace, name), value in sorted(counters.items()):
        if namespace == SYNTHESIS_NAMESPACE:
            loop, rest = name.split(":", 1)
            out.setdefault(loop, {})[rest] = value
    return out


def synthesize(run_: ShardRun, loops: list[str], tasks, programs, llm_config, config: VerusConfig,
               opts: "VerusOptions") -> None:
    """Gather the inputs into one list, run the loops, write trajectories/, synthesized/, synthesized_repairs/."""
    parts = synthesis_inputs(loops, tasks, programs)
    items = (tuple(parts) | "synthesis:inputs" >> beam.Flatten() if parts
             else run_.pipeline | "synthesis:no inputs" >> beam.Create([]))
    gathered = items | "synthesis:gather" >> beam.combiners.ToList()
    out = gathered | "stage:synthesis" >> beam.ParDo(_SynthesisFn(
        loops, llm_config, config, opts.verus_workers, opts.synthesis_max_repairs, opts.self_synthesis_batch,
        opts.self_synthesis_max_batches, opts.tutorial_variants)).with_outputs("program", "repair",
                                                                                 main="trajectory")
    for dataset, pcoll, schema in (("trajectories", out.trajectory, TRAJECTORY_SCHEMA),
                                   ("synthesized", out.program, VERUS_PROGRAM_SCHEMA),
                                   ("synthesized_repairs", out.repair, REPAIR_PAIR_SCHEMA)):
        rows, rejects = pcoll | f"unique {dataset}" >> UniqueBy(f"unique_{dataset}", "id")
        run_.add_rejects(rejects, stage=f"unique_{dataset}", derived=True)
        run_.write(dataset, rows, schema, primary=False)


# --------------------------------------------------------------------------- after the run

def _read_rows(root: str, dataset: str, columns=None) -> list[dict]:
    paths = sorted(glob.glob(os.path.join(root, dataset, "*.parquet")))
    rows: list[dict] = []
    for path in paths:
        rows.extend(pq.read_table(path, columns=columns).to_pylist())
    return rows


def coverage_of(rows: list[dict]) -> dict:
    """{n, features: {name: {programs, share}}} over the feat_* and escape_* columns of ``rows``."""
    n = len(rows)
    table = {}
    for column in FEATURE_COLUMNS + ESCAPE_COLUMNS:
        having = sum(1 for r in rows if (r.get(column) or 0) > 0)
        table[column] = {"programs": having, "share": round(having / n, 4) if n else 0.0}
    return {"n": n, "features": table}


def coverage_from_counters(counters: dict) -> dict:
    values = {name: value for (namespace, name), value in counters.items() if namespace == COVERAGE_NAMESPACE}
    n = int(values.get("programs", 0))
    table = {}
    for column in FEATURE_COLUMNS + ESCAPE_COLUMNS:
        having = int(values.get(column, 0))
        table[column] = {"programs": having, "share": round(having / n, 4) if n else 0.0}
    return {"n": n, "features": table}


def coverage_note(label: str, coverage: dict) -> str:
    present = [f"{name.split('_', 1)[1]} {v['programs']} ({v['share']:.0%})" for name, v in
               coverage["features"].items() if v["programs"] and name.startswith("feat_")]
    escapes = [f"{name.split('_', 1)[1]} {v['programs']}" for name, v in coverage["features"].items()
               if v["programs"] and name.startswith("escape_")]
    absent = sum(1 for name, v in coverage["features"].items() if name.startswith("feat_") and not v["programs"])
    return (f"feature coverage {label} ({coverage['n']} programs): " + (", ".join(present) or "none")
            + f"; {absent} features absent" + (f"; escape hatches: {', '.join(escapes)}" if escapes else ""))


def fenced(program: str) -> str:
    return "```rust\n" + program.rstrip("\n") + "\n```"


def sft_rows(root: str) -> list[dict]:
    """tasks/ and repairs/ as {prompt, input, output} (SAFE / VeruSyn layout), tasks first, by id."""
    rows = []
    for task in sorted(_read_rows(root, "tasks", ["id", "task", "ground_truth"]), key=lambda r: r["id"]):
        rows.append({"prompt": TASK_PROMPT, "input": fenced(task["task"]), "output": fenced(task["ground_truth"])})
    for pair in sorted(_read_rows(root, "repairs", ["id", "failing_program", "errors", "fixed_program"]),
                       key=lambda r: r["id"]):
        rows.append({"prompt": REPAIR_PROMPT,
                     "input": fenced(pair["failing_program"]) + "\n\nThe error messages are as follows:\n"
                              + pair["errors"],
                     "output": fenced(pair["fixed_program"])})
    return rows


def _finish_manifest(manifest: dict, counters: dict, root: str, extra: dict) -> None:
    """ShardRun finalize hook: feature coverage (seeds + each dataset), the SFT export, verification info."""
    coverage = {"seeds": coverage_from_counters(counters)}
    local = "://" not in root
    if local:
        for dataset in DATASETS:
            coverage[dataset] = coverage_of(_read_rows(root, dataset, list(FEATURE_COLUMNS + ESCAPE_COLUMNS)))
        rows = sft_rows(root)
        os.makedirs(os.path.join(root, "export"), exist_ok=True)
        with open(os.path.join(root, EXPORT_PATH), "w", encoding="utf-8") as out:
            json.dump(rows, out, ensure_ascii=False, indent=1)
            out.write("\n")
        extra["export"] = {"path": EXPORT_PATH, "rows": len(rows), "layout": "JSON array of {prompt, input, output}"}
        manifest["notes"].append(f"export: {EXPORT_PATH} holds {len(rows)} {{prompt, input, output}} rows "
                                 "(tasks, then repairs)")
    else:
        manifest["notes"].append("export and per-dataset coverage skipped: output is not a local directory")
    if extra.get("synthesis", {}).get("ran"):
        summary = synthesis_summary(counters)
        extra["synthesis"]["loops_summary"] = summary
        extra["synthesis"]["llm"] = llm_counters(counters)
        if local:
            for dataset in SYNTHESIS_DATASETS:
                coverage[dataset] = coverage_of(_read_rows(root, dataset, list(FEATURE_COLUMNS + ESCAPE_COLUMNS)))
        for loop, values in summary.items():
            statuses = ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in values.items()
                                 if k.startswith("trajectory:")) or "none"
            manifest["notes"].append(f"synthesis {loop}: {values.get('inputs', 0)} inputs, trajectories {statuses}, "
                                     f"{values.get('program', 0)} programs, {values.get('repair', 0)} repair pairs")
    manifest["verus"] = {**extra, "feature_coverage": coverage}
    for label, table in coverage.items():
        manifest["notes"].append(coverage_note(label, table))


# --------------------------------------------------------------------------- the run

def verus_config(opts: VerusOptions) -> VerusConfig:
    try:
        return VerusConfig(binary=opts.verus, rlimit=opts.verus_rlimit, timeout_seconds=opts.verus_timeout,
                           memory_limit_mb=opts.verus_memory_mb, cache_dir=opts.verus_cache_dir)
    except ValueError as exc:
        raise InputError(f"verus options: {exc}") from None


def run(argv: list[str]) -> dict:
    """Run the Verus pipeline; returns the manifest."""
    options = PipelineOptions(argv)
    run_opts, dedup, opts = (options.view_as(c) for c in (RunOptions, DedupOptions, VerusOptions))
    patterns = list(opts.seeds or []) + list(run_opts.input or [])
    sample = not patterns
    files, names = seed_inputs(patterns or [str(SAMPLE_DIR)])
    if opts.verus_batch_size < 1 or opts.verus_workers < 1:
        raise InputError("--verus-batch-size and --verus-workers must be at least 1")
    if dedup.dedup_method in ("both", "near") and not 0 < dedup.threshold <= 1:
        raise InputError(f"--threshold must be in (0, 1], got {dedup.threshold}")
    config = verus_config(opts)
    binary = find_verus(config)
    if binary is None and (opts.require_verification or opts.verified_only):
        where = opts.verus or os.environ.get("VERUS_PATH") or "verus on PATH"
        flag = "--require-verification" if opts.require_verification else "--verified-only"
        raise InputError(f"{flag}: no verus executable found ({where}); install Verus or pass --verus PATH")
    verification_ran = binary is not None
    extra: dict = {"sample": sample, "seed_files": len(files)}
    loops = synthesis_loops(opts.synthesize)
    if min(opts.synthesis_max_repairs + 1, opts.self_synthesis_batch, opts.self_synthesis_max_batches,
           opts.tutorial_variants) < 1:
        raise InputError("--synthesis-max-repairs must be >= 0; --self-synthesis-batch, "
                         "--self-synthesis-max-batches and --tutorial-variants >= 1")
    llm_config = None
    if loops:
        try:
            llm_config = config_from_options(options)
        except ValueError as exc:
            raise InputError(str(exc)) from None

    run_ = start_run(PIPELINE, options, "shardsmith-out/verus", inputs=files)
    raw, rejects = run_.pipeline | "read seeds" >> ReadSeeds(files, names)
    run_.add_rejects(rejects, stage=READ_STAGE)
    programs = run_.stage("extract", raw, extract, id_field="_source_id")
    programs = run_.stage("parse", programs, parse_reason, kind="filter", id_field="source_id")
    programs = run_.stage("features", programs, Features(), id_field="source_id")

    if verification_ran:
        version = verus_version(binary)
        extra["verification"] = {"verus": binary, "version": version, "config": config.describe()}
        if config.cache_dir is None and run_.local_work_dir("verus-cache"):
            # without --verus-cache-dir the verdicts are still cached for --resume, in the run's work dir
            config = dataclasses.replace(config, cache_dir=run_.local_work_dir("verus-cache"))
        results = (programs
                   | "verify:batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=opts.verus_batch_size)
                   | "stage:verify" >> beam.ParDo(_VerifyBatchFn(config, opts.verus_workers)).with_outputs(
                       REJECTS, main="kept"))
        run_.add_rejects(results[REJECTS], stage="verify")
        programs = run_.checkpoint("verified", results.kept)
        run_.notes.append(f"verification: {binary} (Verus {version}), rlimit {config.rlimit}, "
                          f"timeout {config.timeout_seconds}s; accepted = verified and no assume/admit/new "
                          "external_body")
        run_.notes.append(sandbox_note(log=config.sandbox))  # issue 15: how verus is contained
        if opts.verified_only:
            programs = run_.stage("acceptance", programs, acceptance_reason, kind="filter")
    else:
        note = ("verification skipped: no verus found (--verus, $VERUS_PATH, PATH); verification columns and "
                "'accepted' are null, tasks and repairs are unverified")
        extra["verification"] = None
        run_.notes.append(note)
        print(f"[shardsmith] {note}", file=sys.stderr)

    # Repairs come from every debugging record that verified (or, without verus, parsed), before dedup:
    # a pair stays useful even when its fixed program is a duplicate of another seed.
    derive(run_, programs, "repairs", functools.partial(repair_of, verification_ran=verification_ran),
           REPAIR_PAIR_SCHEMA, "repairs")

    score = PRIVATE + "keep_score" if verification_ran else None
    common = dict(text_field="program", id_field="id", score_field=score)
    if dedup.dedup_method in ("both", "exact"):
        programs, removed = programs | "exact dedup" >> ExactDedup(stage="dedup:exact",
                                                                   normalization=CODE_NORMALIZATION, **common)
        run_.add_removed(removed, stage="dedup:exact")
    if dedup.dedup_method in ("both", "near"):
        mh = MinHashConfig.for_code(num_perm=dedup.num_perm, ngram=dedup.ngram, threshold=dedup.threshold)
        programs, removed = programs | "near dedup" >> NearDedup(config=mh, stage="dedup:near", **common)
        run_.add_removed(removed, stage="dedup:near")
        run_.notes.append(f"near dedup: MinHash over code-token {dedup.ngram}-grams of the program, "
                          f"threshold {dedup.threshold}")

    tasks = derive(run_, programs, "tasks", functools.partial(task_of, verification_ran=verification_ran),
                   PROOF_TASK_SCHEMA, "tasks")
    if loops:
        stages = [f"synthesis:{loop}" for loop in loops]
        if llm_config is None or not verification_ran:
            note = (skipped_note(stages) if llm_config is None else
                    f"no verus: synthesis skipped ({', '.join(stages)}); it needs verification")
            note += "; no trajectories/, synthesized/ or synthesized_repairs/"
            extra["synthesis"] = {"ran": False, "loops": loops, "skipped": note}
            run_.notes.append(note)
            print(f"[shardsmith] {note}", file=sys.stderr)
        else:
            synthesize(run_, loops, tasks, programs, llm_config, config, opts)
            extra["synthesis"] = {"ran": True, "loops": loops, "llm": None, "client": llm_config.describe(),
                                  "max_repairs": opts.synthesis_max_repairs}
            run_.notes.append(f"synthesis ({', '.join(loops)}) with {llm_config.model}: trajectories/, "
                              "synthesized/ and synthesized_repairs/ are derived (outside the conservation check)")
    run_.write("programs", programs | "public fields" >> beam.Map(public), VERUS_PROGRAM_SCHEMA, primary=True)
    run_.notes.append("tasks/, repairs/ and export/ are derived from kept programs (outside the conservation check)")
    return run_.execute(finalize=functools.partial(_finish_manifest, extra=extra))

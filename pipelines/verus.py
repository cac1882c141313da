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

Steps (generated from ``steps()`` with ``--verus VERUS --decontam-benchmark FILE``; ``shardsmith steps verus``
prints them for other flags):

    read       read        one raw record per .rs file / JSON element /    invalid_json,
                           JSON line                                       not_an_object,
                                                                           invalid_utf8,
                                                                           unreadable_file
    extract    map         program (and repair parts) out of the layout    no_code, unknown_layout
                           or --column-map
    parse      filter      parse_verus                                     parse_error, no_function
    features   map         feat_* / escape_* columns, line counts,
                           stripped task, spec fingerprint, id, target
                           key
    decontam   filter      --decontam-benchmark: target key equal or       benchmark_contamination
                           MinHash-near to a benchmark item's
    verify     batch       verify_many in batches; accepted = verified     error:<Type>
                           and no cheating
    verified   checkpoint
    repairs/   derive      debugging records whose fix keeps the failing
                           program's spec (accepted when verified)
    dedup      dedup       target key (spec + exec code of the target      -> duplicates/
                           fns, no proof), then MinHash over code tokens;
                           keep rule: accepted > verified > other, then
                           smallest id
    tasks/     derive      one proof-completion task per kept program
                           with a proof (accepted when verified)
    programs/  write       primary: every seed that parses, with its
                           verification outcome

Dedup and decontamination compare the target key (``tasks.target_text``): the spec + exec code of
the target functions (exec fns with ``ensures`` or goal asserts; else theorems and proof fn tests)
and the spec fns they use, without proof, comments or whitespace. Functions that share a context
stay apart, one function copied into other surroundings is found; ``--dedup-key program`` compares
whole programs instead. ``--decontam-benchmark FILE`` (any seed layout: task JSONL / JSON, ``.rs``
folders; repeatable) rejects seeds whose key equals or is MinHash-near (``--threshold``) an item's,
``benchmark_contamination`` with the item in the detail (``transforms.verus.decontam``).

Synthesis (``--synthesize proof,repair,self,tutorial``; ``transforms.verus.synthesis``) needs an
endpoint (``--llm-*``) and a verus; without either it is skipped with a note. ``proof`` completes
the derived tasks, ``repair`` fixes kept programs that failed verification (failed / compile_error)
from their errors, ``self`` runs self-synthesis, ``tutorial`` makes variants of one seed per feature
(the accepted program using it most, ``feat_*`` counts, then the smallest id; the prompt names the
feature in Verus terms). Self and tutorial outputs with a trivial spec (``trivial_spec``), equal or
MinHash-near to a kept seed (``near_seed``) or to an earlier output (``near_duplicate_output``)
are rejected (``synthesis.OutputFilter``; counted per loop in the manifest). All inputs are gathered into ONE list
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
import json
import os
import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import flags
from pipelines.options import ColumnMapOptions, DecontamOptions, DedupOptions, RunOptions, start_run
from schemas.verus import (ESCAPE_COLUMNS, FEATURE_COLUMNS, PROOF_TASK_SCHEMA, REPAIR_PAIR_SCHEMA, TRAJECTORY_SCHEMA,
                           VERUS_FEATURES, VERUS_PROGRAM_SCHEMA)
from transforms.dedup.spec import dedup_spec, minhash_config
from transforms.io.readers import InputError
from transforms.llm import LlmClient, config_from_options, llm_counters, skipped_note
from transforms.stages import UniqueBy
from transforms.steps import Batch, Checkpoint, Custom, Dedup, Derive, Filter, Map, Note, ReadFrom, Step, Write
from transforms.io.outputs import EXTRA_ENTRIES
from transforms.verus.export import coverage_from_counters, coverage_note, coverage_of, read_rows, sft_rows
from transforms.verus.decontam import FLAG as DECONTAM_FLAG, REASON as DECONTAM_REASON, Decontaminate, build_index
from transforms.argtypes import parse_column_map
from transforms.verus.programs import (CODE_NORMALIZATION, PRIVATE, TARGET, Extract, Features, SeedReader,
                                       VerifyPrograms, acceptance_reason, check_column_map, parse_reason, public,
                                       repair_of, seed_inputs, task_of)
from transforms.verus.verifier import VerusConfig, find_verus, sandbox_note, verus_version

PIPELINE = "verus"
SAMPLE_DIR = Path(__file__).parent / "samples" / "verus"
DATASETS = ("programs", "tasks", "repairs")
SYNTHESIS_LOOPS = ("proof", "repair", "self", "tutorial")
SYNTHESIS_NAMESPACE = "verus:synthesis"
SYNTHESIS_DATASETS = ("synthesized", "synthesized_repairs")
REPAIRABLE_STATUSES = ("failed", "compile_error")
EXPORT_PATH = posixpath.join("export", "sft.json")
class VerusOptions(PipelineOptions):
    """Flags of the Verus pipeline only (shared ones: ``pipelines.options``)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.verus_flags(parser)


# --------------------------------------------------------------------------- inputs

# --------------------------------------------------------------------------- pure stages

# --------------------------------------------------------------------------- derived datasets

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
    ``("seed", (feature, -count, id, program))`` (tutorial exemplars) and ``("known", program)``
    (every kept seed program: what self / tutorial outputs must not copy)."""
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
                        yield "seed", (feature, -record["feat_" + feature], record["id"], record["program"])
        parts.append(programs | "synthesis:seeds" >> beam.FlatMap(seeds))
    if "tutorial" in loops or "self" in loops:
        parts.append(programs | "synthesis:known" >> beam.Map(lambda record: ("known", record["program"])))
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
        for feature, _, _, program in sorted(by_kind.get("seed", [])):  # most uses of it, then smallest id
            seeds.setdefault(feature, program)
        # one filter for self and tutorial: no trivial spec, no copy of a seed or of an earlier output
        output_filter = syn.OutputFilter(sorted(by_kind.get("known", [])))
        for loop in self.loops:
            if loop == "proof":
                rows = syn.proof_completion(tasks, self.client, self.verify, max_repairs=self.max_repairs)
            elif loop == "repair":
                rows = syn.repair_synthesis(failures, self.client, self.verify, max_repairs=self.max_repairs)
            elif loop == "self":
                rows = syn.self_synthesis(self.client, self.verify, batch_size=self.self_batch,
                                          max_batches=self.self_max_batches, max_repairs=self.max_repairs,
                                          output_filter=output_filter)
            else:
                rows = syn.tutorial_synthesis(seeds, self.client, self.verify, variants_per_seed=self.variants,
                                              max_repairs=self.max_repairs, output_filter=output_filter)
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


def synthesize(run_, programs, derived: dict, plan: Plan):
    """``Custom`` step: gather the loops' inputs into one list, run the loops, write trajectories/,
    synthesized/ and synthesized_repairs/; the programs flow on unchanged."""
    opts, loops, tasks = plan.options.view_as(VerusOptions), plan.loops, derived["tasks"]
    parts = synthesis_inputs(loops, tasks, programs)
    items = (tuple(parts) | "synthesis:inputs" >> beam.Flatten() if parts
             else run_.pipeline | "synthesis:no inputs" >> beam.Create([]))
    gathered = items | "synthesis:gather" >> beam.combiners.ToList()
    out = gathered | "stage:synthesis" >> beam.ParDo(_SynthesisFn(
        loops, plan.llm, plan.config, opts.verus_workers, opts.synthesis_max_repairs, opts.self_synthesis_batch,
        opts.self_synthesis_max_batches, opts.tutorial_variants)).with_outputs("program", "repair",
                                                                                 main="trajectory")
    for dataset, pcoll, schema in (("trajectories", out.trajectory, TRAJECTORY_SCHEMA),
                                   ("synthesized", out.program, VERUS_PROGRAM_SCHEMA),
                                   ("synthesized_repairs", out.repair, REPAIR_PAIR_SCHEMA)):
        rows, rejects = pcoll | f"unique {dataset}" >> UniqueBy(f"unique_{dataset}", "id")
        run_.add_rejects(rejects, stage=f"unique_{dataset}", derived=True)
        run_.write(dataset, rows, schema, primary=False)
    return programs


# --------------------------------------------------------------------------- after the run

def _finish_manifest(manifest: dict, counters: dict, root: str, extra: dict) -> None:
    """ShardRun finalize hook: feature coverage (seeds + each dataset), the SFT export, verification info."""
    coverage = {"seeds": coverage_from_counters(counters)}
    local = "://" not in root
    if local:
        for dataset in DATASETS:
            coverage[dataset] = coverage_of(read_rows(root, dataset, list(FEATURE_COLUMNS + ESCAPE_COLUMNS)))
        rows = sft_rows(root)
        os.makedirs(os.path.join(root, "export"), exist_ok=True)
        with open(os.path.join(root, EXPORT_PATH), "w", encoding="utf-8") as out:
            json.dump(rows, out, ensure_ascii=False, indent=1)
            out.write("\n")
        by_source: dict[str, int] = {}
        for row in rows:
            by_source[row["source"]] = by_source.get(row["source"], 0) + 1
        manifest.setdefault(EXTRA_ENTRIES, []).append("export")  # ours: --overwrite may replace it
        extra["export"] = {"path": EXPORT_PATH, "rows": len(rows), "by_source": dict(sorted(by_source.items())),
                           "layout": "JSON array of {prompt, input, output, source}"}
        manifest["notes"].append(f"export: {EXPORT_PATH} holds {len(rows)} {{prompt, input, output, source}} rows ("
                                 + (", ".join(f"{k} {v}" for k, v in sorted(by_source.items())) or "none") + ")")
    else:
        manifest["notes"].append("export and per-dataset coverage skipped: output is not a local directory")
    if extra.get("synthesis", {}).get("ran"):
        summary = synthesis_summary(counters)
        extra["synthesis"]["loops_summary"] = summary
        extra["synthesis"]["llm"] = llm_counters(counters)
        if local:
            for dataset in SYNTHESIS_DATASETS:
                coverage[dataset] = coverage_of(read_rows(root, dataset, list(FEATURE_COLUMNS + ESCAPE_COLUMNS)))
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
    """The verifier's config; relative paths made absolute here, since the workers of a portable
    runner have their own current directory."""
    binary, cache_dir = opts.verus, opts.verus_cache_dir
    if binary and os.sep in os.path.expanduser(binary):
        binary = os.path.abspath(os.path.expanduser(binary))  # a bare name stays a PATH lookup
    if cache_dir:
        cache_dir = os.path.abspath(os.path.expanduser(cache_dir))
    try:
        extra = [arg for line in (opts.verus_extra_args or []) for arg in shlex.split(line)]
    except ValueError as exc:
        raise InputError(f"--verus-extra-args: {exc}") from None
    try:
        return VerusConfig(binary=binary, rlimit=opts.verus_rlimit, timeout_seconds=opts.verus_timeout,
                           memory_limit_mb=opts.verus_memory_mb, cache_dir=cache_dir,
                           num_threads=opts.verus_threads, extra_args=tuple(extra))
    except ValueError as exc:
        raise InputError(f"verus options: {exc}") from None


@dataclass(frozen=True)
class Plan:
    """The Verus pipeline's checked options: seed files, the verifier, the synthesis loops."""

    options: PipelineOptions
    files: list[str]
    names: dict[str, str]
    config: VerusConfig
    binary: str | None  # the verus found, or None: verification skipped
    loops: list[str]
    llm: object | None
    extra: dict
    benchmark: object | None = None  # decontam.BenchmarkIndex of --decontam-benchmark
    column_map: dict | None = None  # --column-map, checked


def check(options: PipelineOptions) -> Plan:
    """Option checks (``InputError`` naming the flag), the seed files and the verus to use."""
    run_opts, opts = options.view_as(RunOptions), options.view_as(VerusOptions)
    patterns = list(opts.seeds or []) + list(run_opts.input or [])
    files, names = seed_inputs(patterns or [str(SAMPLE_DIR)])
    config = verus_config(opts)
    binary = find_verus(config)
    if binary is None and (opts.require_verification or opts.verified_only):
        where = opts.verus or os.environ.get("VERUS_PATH") or "verus on PATH"
        flag = "--require-verification" if opts.require_verification else "--verified-only"
        raise InputError(f"{flag}: no verus executable found ({where}); install Verus or pass --verus PATH")
    loops = synthesis_loops(opts.synthesize)
    llm_config = None
    if loops:
        try:
            llm_config = config_from_options(options)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    extra: dict = {"sample": not patterns, "seed_files": len(files)}
    benchmark = None
    benchmarks = options.view_as(DecontamOptions).decontam_benchmark
    if benchmarks:
        dedup = options.view_as(DedupOptions)
        benchmark = build_index(list(benchmarks), minhash_config(
            dedup.shingles or "code", num_perm=dedup.num_perm, ngram=dedup.ngram, threshold=dedup.threshold))
        extra["decontamination"] = {"benchmarks": list(benchmarks), "items": benchmark.items,
                                    "keys": len(benchmark.names), "skipped": dict(sorted(benchmark.skipped.items())),
                                    "threshold": dedup.threshold}
    if binary is not None:
        extra["verification"] = {"verus": binary, "version": verus_version(binary), "config": config.describe()}
    else:
        extra["verification"] = None
    column_maps = options.view_as(ColumnMapOptions).column_map or []
    if len(column_maps) > 1:
        raise InputError("--column-map: give one mapping for the Verus seeds")
    column_map = check_column_map(parse_column_map(column_maps[0])) if column_maps else None
    return Plan(options, files, names, config, binary, loops, llm_config, extra, benchmark, column_map)


def steps(plan: Plan) -> list[Step]:
    """The Verus pipeline's steps."""
    opts, dedup = plan.options.view_as(VerusOptions), plan.options.view_as(DedupOptions)
    verified = plan.binary is not None
    listed: list[Step] = [
        ReadFrom("read", items=tuple(plan.files), reader=SeedReader(plan.names),
                 about="one raw record per .rs file / JSON element / JSON line",
                 reasons="invalid_json, not_an_object, invalid_utf8, unreadable_file"),
        Map("extract", Extract(plan.column_map), id_field="_source_id",
            about="program (and repair parts) out of the layout or --column-map",
            reasons="no_code, unknown_layout"),
        Filter("parse", parse_reason, id_field="source_id", about="parse_verus",
               reasons="parse_error, no_function"),
        Map("features", Features(), id_field="source_id",
            about="feat_* / escape_* columns, line counts, stripped task, spec fingerprint, id, target key"),
    ]
    if plan.benchmark is not None:
        info = plan.extra["decontamination"]
        skipped = ", ".join(f"{k} {v}" for k, v in info["skipped"].items())
        listed.append(Filter("decontam", Decontaminate(plan.benchmark, TARGET), id_field="id",
                             about=f"{DECONTAM_FLAG}: target key equal or MinHash-near to a benchmark item's",
                             reasons=DECONTAM_REASON,
                             note=f"decontamination: {info['items']} benchmark items ({info['keys']} keys) from "
                                  f"{', '.join(info['benchmarks'])}" + (f"; without a key: {skipped}" if skipped
                                                                         else "")))
    if verified:
        version = plan.extra["verification"]["version"]
        listed += [
            Batch("verify", worker=VerifyPrograms(plan.config, opts.verus_workers), method="verify_batch",
                  batch_size=opts.verus_batch_size, about="verify_many in batches; accepted = verified and no "
                  "cheating", reasons="error:<Type>",
                  note=f"verification: {plan.binary} (Verus {version}), rlimit {plan.config.rlimit}, timeout "
                       f"{plan.config.timeout_seconds}s; accepted = verified and nothing --no-cheating refuses"),
            Checkpoint("verified"),
            Note("sandbox", note=sandbox_note(log=plan.config.sandbox)),  # how verus is contained
        ]
        if opts.verified_only:
            listed.append(Filter("acceptance", acceptance_reason, about="--verified-only: not accepted -> reject",
                                 reasons="not_verified:<status>, cheating:<why>"))
    else:
        listed.append(Note("verify", console=True, note=(
            "verification skipped: no verus found (--verus, $VERUS_PATH, PATH); verification columns and "
            "'accepted' are null, tasks and repairs are unverified")))
    by_target = opts.dedup_key == "target"
    spec = dedup_spec(dedup, id_field="id", text_field=TARGET if by_target else "program", score_field=PRIVATE + "keep_score" if verified
                      else None, shingles="code", exact_normalization=CODE_NORMALIZATION)
    listed += [
        # before dedup: a repair pair stays useful even when its fixed program duplicates another seed
        Derive("repairs", dataset="repairs", fn=functools.partial(repair_of, verification_ran=verified),
               schema=REPAIR_PAIR_SCHEMA, unique=True,
               about="debugging records whose fix keeps the failing program's spec (accepted when verified)"),
        Dedup("dedup", spec, about=("target key (spec + exec code of the target fns, no proof)" if by_target
                                    else "whitespace-collapsed program") + ", then MinHash over code tokens; keep "
                                   "rule: accepted > verified > other, then smallest id", reasons="-> duplicates/",
              note=spec.near and (f"near dedup: MinHash over code-token {dedup.ngram}-grams of the "
                                  f"{'target key' if by_target else 'program'}, threshold {dedup.threshold}")
              or None),
        Derive("tasks", dataset="tasks", fn=functools.partial(task_of, verification_ran=verified),
               schema=PROOF_TASK_SCHEMA, unique=True,
               about="one proof-completion task per kept program with a proof (accepted when verified)"),
    ]
    if plan.loops:
        names = [f"synthesis:{loop}" for loop in plan.loops]
        if plan.llm is None or not verified:
            note = (skipped_note(names) if plan.llm is None else
                    f"no verus: synthesis skipped ({', '.join(names)}); it needs verification")
            note += "; no trajectories/, synthesized/ or synthesized_repairs/"
            plan.extra["synthesis"] = {"ran": False, "loops": plan.loops, "skipped": note}
            listed.append(Note("synthesis", note=note, console=True))
        else:
            plan.extra["synthesis"] = {"ran": True, "loops": plan.loops, "llm": None, "client": plan.llm.describe(),
                                       "max_repairs": opts.synthesis_max_repairs}
            listed.append(Custom("synthesis", apply=functools.partial(synthesize, plan=plan),
                                 about="--synthesize loops -> trajectories/, synthesized/, synthesized_repairs/",
                                 note=f"synthesis ({', '.join(plan.loops)}) with {plan.llm.model}: trajectories/, "
                                      "synthesized/ and synthesized_repairs/ are derived (outside the conservation "
                                      "check)"))
    listed.append(Write("programs", schema=VERUS_PROGRAM_SCHEMA, primary=True, public=public,
                        about="primary: every seed that parses, with its verification outcome",
                        note="tasks/, repairs/ and export/ are derived from kept programs (outside the conservation "
                             "check)"))
    return listed


def steps_of(argv: list[str]) -> list[Step]:
    """The steps a run with ``argv`` would take (``shardsmith steps``; the module docstring's table)."""
    return steps(check(PipelineOptions(argv)))


def run(argv: list[str]) -> dict:
    """Run the Verus pipeline; returns the manifest."""
    options = PipelineOptions(argv)
    plan = check(options)
    run_ = start_run(PIPELINE, options, "shardsmith-out/verus", inputs=plan.files)
    cache = run_.local_work_dir("verus-cache")
    if plan.binary is not None and plan.config.cache_dir is None and cache:
        # without --verus-cache-dir the verdicts are still cached for --resume, in the run's work dir
        plan = dataclasses.replace(plan, config=dataclasses.replace(plan.config, cache_dir=cache))
    return run_.run_steps(steps(plan), finalize=functools.partial(_finish_manifest, extra=plan.extra))

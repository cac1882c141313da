"""Dr. SCI pipeline: heterogeneous science Q/A sets -> questions with subject, split, difficulty, rubrics.

    shardsmith dr-sci --output out/sci                       # the embedded sample, no endpoint
    shardsmith dr-sci --source webinstruct_verified=data/wi.parquet --source mmlu=mmlu/ \\
        --source generic:sciq=sciq.jsonl --column-map sciq:question=q,reference_answer=a \\
        --decontam-benchmark path/to/benchmarks/mmlu \\
        --llm-base-url http://localhost:8000/v1 --llm-model Qwen/Qwen3-8B --output out/sci

Steps (generated from ``steps()``; ``shardsmith steps dr-sci --llm-base-url URL --llm-model M`` prints them for other flags):

    read        read        JSONL / JSON / Parquet of every --source;       invalid_json,
                            position <file>#<index>, the file named         invalid_utf8,
                            relative to its --source PATH                   not_an_object,
                                                                            too_deeply_nested,
                                                                            unreadable_file,
                                                                            broken_file
    read        read        MMLU CSVs, counted as the same read stage       unreadable_file
    adapt       map         per source layout (ADAPTERS / generic column    missing_question,
                            map)                                            needs_image,
                                                                            missing_choices,
                                                                            unknown_source
    clean       map         Unicode repair, markup -> LaTeX, answer checks  empty_answer,
                                                                            placeholder_answer,
                                                                            mojibake,
                                                                            unbalanced_latex
    subject     map         metadata table, else the fastText classifier    not_science
                            (--subject-classifier)
    split       map         verifiable / open-ended, canonical answer       open_ended_math
    unique_ids  unique      one record per id                               duplicate_id
    dedup       dedup       exact + MinHash on the stem + the set of        -> duplicates/,
                            options; equivalent answers collapse, near-     minority_answer,
                            duplicates with other answers stay              answer_conflict
                            (near_duplicate_ids), exact copies disagreeing  (dedup:conflicts)
                            go by majority
    decontam    filter      exact + word n-gram overlap with --decontam-    contaminated:<benchmark>
                            benchmark
    prepared    checkpoint
    difficulty  batch       k solver rollouts, rule / LLM-verifier grading  solved_by_all,
                            (LLM)                                           llm:<kind>
    difficulty  checkpoint
    rubrics     batch       7-20 items for open-ended questions (LLM); RaR  bad_rubric, llm:<kind>
                            imported
    questions/  write       primary dataset (SCIENCE_QUESTION_SCHEMA)

Without ``--llm-base-url`` the difficulty and rubric stages are skipped (columns null, a note in
the manifest and on the console); imported RaR rubrics still get their final-answer item.
After the run the manifest gains ``dr_sci`` (LLM usage counters and config, the subject x split x
difficulty table) and the table is also printed among the notes, so ``shardsmith stats`` shows it.
"""
from __future__ import annotations

import functools
import glob
import json
import os
import posixpath
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import flags
from pipelines.options import AnswerOptions, ColumnMapOptions, DecontamOptions, DedupOptions, RunOptions, start_run
from schemas.science import SCIENCE_QUESTION_SCHEMA
from transforms.dedup.spec import dedup_spec
from transforms.io.local_paths import display_names, worker_cache_dir, worker_path
from transforms.io.readers import READ_REASONS, InputError, expand_inputs, iter_records
from transforms.llm import config_from_options, llm_counters, skipped_note
from transforms.science.adapters import ADAPTERS, POSITION_FIELD, iter_mmlu_csv
from transforms.science.clean import clean_question
from transforms.science.conflicts import EXACT_NORMALIZATION, dedup_text, resolve_duplicates
from transforms.science.difficulty import DifficultyStage
from transforms.science.rubrics import RubricStage
from transforms.science.stages import (Adapt, AssignSubject, Decontaminate, MmluCsvReader, Split, adapter_for,
                                       complete_imported_rubric, parse_column_maps)
from transforms.science.subject_llm import SubjectLabelStage
from transforms.science.subjects import (BUILTIN, BUILTIN_MODEL, NOT_SCIENCE_MIN_CONFIDENCE, subject_from_metadata,
                                         train_subject_classifier)
from transforms.steps import Batch, Checkpoint, Dedup, Filter, Map, Note, Read, ReadFrom, Step, Unique, Write

PIPELINE = "dr-sci"
SAMPLE_DIR = Path(__file__).parent / "samples" / "science"
SAMPLE_SOURCES = [
    f"webinstruct_verified={SAMPLE_DIR / 'webinstruct_verified.jsonl'}",
    f"natural_reasoning={SAMPLE_DIR / 'natural_reasoning.jsonl'}",
    f"rar_science={SAMPLE_DIR / 'rar_science.jsonl'}",
    f"mmlu={SAMPLE_DIR / 'mmlu'}",
]
SAMPLE_BENCHMARK = str(SAMPLE_DIR / "mini_bench.jsonl")
CLASSIFIER_CHOICES = (BUILTIN, "train", "none")  # --subject-classifier words; anything else is a PATH or URL
MIN_CLASSIFIER_ROWS = 8  # fewer metadata-labelled rows than this: no classifier is trained
LLM_STAGES = ("difficulty", "rubrics")


class DrSciOptions(PipelineOptions):
    """Flags of the Dr. SCI pipeline only (shared ones: ``pipelines.options``, ``--llm-*``: LlmOptions)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.dr_sci_flags(parser)


# --------------------------------------------------------------------------- inputs

def parse_sources(specs: list[str], column_map_text: str | list[str] | None
                  ) -> tuple[dict[str, str], list[str], list[str], dict[str, str]]:
    """(adapter name per file, JSONL/Parquet files, MMLU CSV files, display name per file) of the --source flags.

    A file's display name is its path relative to its --source PATH (a directory, a glob's
    directory, a file's directory): ``--source mmlu=/data/mmlu`` names ``/data/mmlu/astronomy_test.csv``
    ``astronomy_test.csv``. Positions, and so the ``source_id`` of rows without an id, use it.
    """
    column_maps = parse_column_maps(column_map_text)
    generic = {spec.partition("=")[0].strip().partition(":")[2] for spec in specs if spec.startswith("generic:")}
    for name in column_maps.keys() - generic - {""}:
        raise InputError(f"--column-map {name}:...: no --source generic:{name}=PATH")
    by_file: dict[str, str] = {}
    records, csvs = [], []
    groups: list[tuple[str, list[str]]] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        name = name.strip()
        if not sep or not path or not name:
            raise InputError(f"--source {spec!r}: expected NAME=PATH")
        if name not in ADAPTERS and not (name == "generic" or name.startswith("generic:")):
            raise InputError(f"--source {spec!r}: unknown source {name!r} (known: {', '.join(ADAPTERS)}, generic)")
        adapter_for(name, column_maps)  # fail early on a bad column map
        path = worker_path(path)  # the files are read by workers, whose cwd is their own
        if name == "mmlu":
            found = mmlu_files(path)
            csvs.extend(found)
            by_file.update(dict.fromkeys(found, name))
            others = [] if path.lower().endswith(".csv") else _record_files(path)
            if not found and not others:
                raise InputError(f"--source {spec!r}: no MMLU CSV, JSONL or Parquet files")
        else:
            others = expand_inputs([path])
        for file in others:
            if by_file.get(file, name) != name:
                raise InputError(f"{file}: named by two sources ({by_file[file]}, {name})")
            by_file[file] = name
        records.extend(others)
        groups.append((path, found + others if name == "mmlu" else others))
    return by_file, sorted(dict.fromkeys(records)), sorted(dict.fromkeys(csvs)), display_names(groups)


def mmlu_files(path: str) -> list[str]:
    if os.path.isdir(path):
        return sorted(glob.glob(os.path.join(path, "**", "*.csv"), recursive=True))
    if glob.has_magic(path):
        return sorted(p for p in glob.glob(path) if p.lower().endswith(".csv"))
    return [path] if path.lower().endswith(".csv") and os.path.isfile(path) else []


def _record_files(path: str) -> list[str]:
    """JSONL/Parquet files under an MMLU source path (an MMLU dataset saved as JSONL/Parquet)."""
    try:
        return expand_inputs([path])
    except InputError:
        return []


def driver_records(by_file: dict[str, str], files: list[str], csvs: list[str],
                   column_map_text: str | list[str] | None, names: dict[str, str]):
    """Adapted + cleaned questions of every input, read in the driver (for classifier training)."""
    adapt = Adapt({names[f]: a for f, a in by_file.items()}, column_map_text)
    for path in files + csvs:
        try:  # an MMLU CSV that cannot be read is the pipeline's unreadable_file reject; training skips it
            items = list(iter_mmlu_csv(path)) if path in csvs else iter_records(path)
        except Exception:  # noqa: BLE001
            continue
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            item[POSITION_FIELD] = f"{names[path]}#{index}"
            try:
                question = adapt(item)
                if isinstance(question, dict):
                    question = clean_question(question)
            except Exception:  # noqa: BLE001 - the pipeline reports it; training just skips it
                continue
            if isinstance(question, dict):
                yield question


# --------------------------------------------------------------------------- per-record stages

# --------------------------------------------------------------------------- dedup + conflicts

# --------------------------------------------------------------------------- after the run

def difficulty_label(row: dict) -> str:
    if row.get("difficulty") is None:
        return "skipped"
    return f"{row['n_correct']}/{row['n_rollouts']}"


def subject_split_difficulty(output: str) -> dict[str, int]:
    """Counts of ``questions/`` by subject / split / difficulty (n_correct/k, or 'skipped')."""
    counts: Counter = Counter()
    for path in sorted(glob.glob(os.path.join(output, "questions", "*.parquet"))):
        table = pq.read_table(path, columns=["subject", "split", "n_correct", "n_rollouts", "difficulty"])
        for row in table.to_pylist():
            counts[f"{row['subject'] or 'unknown'}/{row['split']}/{difficulty_label(row)}"] += 1
    return dict(sorted(counts.items()))


STATS_QUERY = ("SELECT subject, split, coalesce(CAST(n_correct AS VARCHAR) || '/' || CAST(n_rollouts AS VARCHAR), "
               "'skipped') AS difficulty, count(*) AS n FROM questions GROUP BY ALL ORDER BY ALL")


def _finish_manifest(manifest: dict, counters: dict, root: str, extra: dict) -> None:
    """Add LLM usage and the subject x split x difficulty table to the manifest (ShardRun finalize hook)."""
    usage = llm_counters(counters)
    table = subject_split_difficulty(root) if "://" not in root else {}
    manifest["dr_sci"] = {**extra, "llm_usage": usage, "subject_split_difficulty": table,
                          "stats_query": STATS_QUERY}
    for namespace, values in usage.items():
        shown = ", ".join(f"{k} {v}" for k, v in values.items())
        manifest["notes"].append(f"{namespace}: {shown}")
    manifest["notes"].append("questions by subject/split/difficulty: "
                             + ("; ".join(f"{k} {n}" for k, n in table.items()) or "none"))


# --------------------------------------------------------------------------- the run

@dataclass(frozen=True)
class Plan:
    """Dr. SCI's checked options: the sources' files and adapters, benchmarks, LLM config."""

    options: PipelineOptions
    sample: bool
    specs: list[str]
    by_file: dict[str, str]
    files: list[str]
    csvs: list[str]
    names: dict[str, str]
    benchmarks: list[str]
    llm: object | None


def check(options: PipelineOptions) -> Plan:
    """Dr. SCI's option checks (``InputError`` naming the flag) and its inputs."""
    run_opts, opts = options.view_as(RunOptions), options.view_as(DrSciOptions)
    if run_opts.input:
        raise InputError("dr-sci reads --source NAME=PATH (the layout decides the adapter), not --input")
    if opts.rubric_min_items > opts.rubric_max_items:
        raise InputError("need --rubric-min-items <= --rubric-max-items")
    sample = not opts.source
    specs = list(opts.source or SAMPLE_SOURCES)
    by_file, files, csvs, names = parse_sources(specs, options.view_as(ColumnMapOptions).column_map)
    benchmarks = list(options.view_as(DecontamOptions).decontam_benchmark or ([SAMPLE_BENCHMARK] if sample else []))
    for path in benchmarks:
        if not (os.path.exists(path) or glob.glob(path)):
            raise InputError(f"--decontam-benchmark {path}: no such file or directory")
    check_subject_classifier(opts.subject_classifier)
    try:
        config = config_from_options(options)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if opts.llm_subjects and config is None:
        raise InputError("--llm-subjects labels subjects with an LLM: it needs --llm-base-url")
    return Plan(options, sample, specs, by_file, files, csvs, names, benchmarks, config)


def check_subject_classifier(value: str | None) -> None:
    """``--subject-classifier``: one of CLASSIFIER_CHOICES, or a model file / fsspec URL that exists."""
    if value in CLASSIFIER_CHOICES:
        return
    if not value:
        raise InputError(f"--subject-classifier: empty (use {', '.join(CLASSIFIER_CHOICES)}, a PATH or a URL)")
    try:
        fs, path = fsspec.core.url_to_fs(value)
        exists = fs.isfile(path)
    except Exception as exc:  # noqa: BLE001 - a missing filesystem package, credentials, a bad URL
        raise InputError(f"--subject-classifier {value}: cannot check it ({type(exc).__name__}: {exc})") from None
    if not exists:
        raise InputError(f"--subject-classifier {value}: no such file "
                         f"(or use {', '.join(CLASSIFIER_CHOICES)})")


def subject_model(plan: Plan, workdir: str, extra: dict, staged_dir: str | None = None) -> tuple[str | None, str]:
    """The subject classifier to use and the manifest note saying which (``--subject-classifier``):
    ``"builtin"`` (the shipped model), a model PATH/URL, fastText trained in the driver on this run's
    metadata-labelled rows (``train``: into ``workdir``, then copied to ``staged_dir``, the run's work
    dir, when given), or None (``none``, and ``train`` with too few labelled rows)."""
    choice = plan.options.view_as(DrSciOptions).subject_classifier
    extra["subject_classifier"] = {"choice": choice if choice in CLASSIFIER_CHOICES else "path"}
    if choice == BUILTIN:
        return BUILTIN, (f"subject classifier: builtin ({BUILTIN_MODEL.name} shipped in the package; not_science "
                         f"needs p >= {NOT_SCIENCE_MIN_CONFIDENCE})")
    if choice == "none":
        return None, "subject classifier: none (--subject-classifier none); rows without metadata keep subject null"
    if choice != "train":
        extra["subject_classifier"]["path"] = choice
        return choice, f"subject classifier: {choice}"
    labelled = [q for q in driver_records(plan.by_file, plan.files, plan.csvs,
                                          plan.options.view_as(ColumnMapOptions).column_map, plan.names)
                if subject_from_metadata(q)[0]]
    if len(labelled) < MIN_CLASSIFIER_ROWS or len({subject_from_metadata(q)[0] for q in labelled}) < 2:
        return None, (f"subject classifier: none ({len(labelled)} metadata-labelled rows, need "
                      f"{MIN_CLASSIFIER_ROWS} in 2+ subjects); rows without metadata keep subject null")
    model_path = os.path.join(workdir, "subjects.bin")
    metrics = train_subject_classifier(labelled, model_path, bucket=200_000, dim=32,
                                       valid_fraction=0.1 if len(labelled) >= 100 else 0.0)
    extra["subject_classifier"].update({k: metrics.get(k) for k in ("n_train", "n_valid", "label_counts", "accuracy")})
    if staged_dir is not None:  # where the workers can read it (a portable runner's workers lack the driver's files)
        staged = posixpath.join(staged_dir, "subjects.bin")
        with open(model_path, "rb") as source, fsspec.open(staged, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 24)
        model_path = staged
    return model_path, (f"subject classifier: fastText trained in the driver on {len(labelled)} metadata-labelled "
                        "rows of this run (staged in the run's work dir for the workers)")


def steps(plan: Plan, model_path: str | None = None, extra: dict | None = None) -> list[Step]:
    """Dr. SCI's steps (``model_path``: the subject classifier; ``extra``: gains the LLM config)."""
    opts, dedup = plan.options.view_as(DrSciOptions), plan.options.view_as(DedupOptions)
    listed: list[Step] = []
    if plan.files:
        listed.append(Read("read", files=tuple(plan.files), position_field=POSITION_FIELD, names=plan.names,
                           about="JSONL / JSON / Parquet of every --source; position <file>#<index>, the file "
                                 "named relative to its --source PATH", reasons=READ_REASONS))
    if plan.csvs:
        listed.append(ReadFrom("read", items=tuple(plan.csvs), reader=MmluCsvReader(plan.names),
                               about="MMLU CSVs, counted as the same read stage", reasons="unreadable_file"))
    rel_tol = plan.options.view_as(AnswerOptions).answer_rel_tol
    spec = dedup_spec(dedup, id_field="id", text_field=None, text_fn=dedup_text,
                      exact_normalization=EXACT_NORMALIZATION,
                      resolve=functools.partial(resolve_duplicates, rel_tol=rel_tol))
    listed += [
        Map("adapt", Adapt({plan.names[file]: name for file, name in plan.by_file.items()},
                                plan.options.view_as(ColumnMapOptions).column_map),
            id_field=POSITION_FIELD, about="per source layout (ADAPTERS / generic column map)",
            reasons="missing_question, needs_image, missing_choices, unknown_source"),
        Map("clean", clean_question, about="Unicode repair, markup -> LaTeX, answer checks",
            reasons="empty_answer, placeholder_answer, mojibake, unbalanced_latex"),
        Map("subject", AssignSubject(model_path if model_path in (None, BUILTIN) else worker_path(model_path)),
            about="metadata table, else the fastText classifier (--subject-classifier)", reasons="not_science"),
    ]
    if plan.llm is not None and opts.llm_subjects:
        labeller = SubjectLabelStage(plan.llm, model=opts.subject_model, seed=opts.llm_seed)
        if extra is not None:
            extra["subject_labeller"] = labeller.describe()
        listed.append(Batch("subject_llm", worker=labeller, method="label_batch", batch_size=opts.llm_batch_size,
                            about="the LLM labels what metadata left open (--llm-subjects)", reasons="not_science",
                            note=f"subjects of questions without metadata labels: LLM {labeller.config.model} "
                                 f"(the classifier's where it gives no usable answer)"))
    listed += [
        Map("split", Split(not opts.no_drop_open_ended_math, worker_cache_dir(plan.options, "pint")), about="verifiable / open-ended, canonical answer",
            reasons="open_ended_math"),
        Unique("unique_ids", "id", about="one record per id", reasons="duplicate_id"),
        Dedup("dedup", spec, about="exact + MinHash on the stem + the set of options; equivalent answers "
                                   "collapse, near-duplicates with other answers stay (near_duplicate_ids), "
                                   "exact copies disagreeing go by majority",
              reasons="-> duplicates/, minority_answer, answer_conflict (dedup:conflicts)",
              note=spec.near and (f"near dedup: MinHash over word {dedup.ngram}-grams of the normalized stem + options, "
                                  f"threshold {dedup.threshold}") or None),
    ]
    if plan.benchmarks:
        listed.append(Filter("decontam", Decontaminate([worker_path(p) for p in plan.benchmarks], opts.decontam_ngram,
                                                       worker_cache_dir(plan.options, "decontam")),
                             about="exact + word n-gram overlap with --decontam-benchmark",
                             reasons="contaminated:<benchmark>",
                             note=f"decontaminated against {', '.join(plan.benchmarks)} "
                                  f"(exact + word {opts.decontam_ngram}-grams)"))
    else:
        listed.append(Note("decontam", note="decontamination skipped: no --decontam-benchmark"))
    if plan.llm is None:
        listed += [Note("llm", note=skipped_note(LLM_STAGES), console=True),
                   Map("imported_rubrics", complete_imported_rubric, counted=False,
                       about="without an endpoint: imported RaR rubrics get their final-answer item")]
    else:
        difficulty = DifficultyStage(plan.llm, k=opts.rollouts, solver_model=opts.solver_model,
                                     verifier_model=opts.verifier_model, drop_solved=not opts.keep_solved,
                                     rel_tol=plan.options.view_as(AnswerOptions).answer_rel_tol,
                                     temperature=opts.solver_temperature, top_p=opts.solver_top_p,
                                     max_tokens=opts.solver_max_tokens, seed=opts.llm_seed)
        rubrics = RubricStage(plan.llm, model=opts.rubric_model, min_items=opts.rubric_min_items,
                              max_items=opts.rubric_max_items, seed=opts.llm_seed)
        if extra is not None:
            extra["llm"] = {"client": plan.llm.describe(), "difficulty": difficulty.describe(),
                            "rubrics": rubrics.describe()}
        # checkpoints around the LLM stages: a killed run resumes (--resume) after the last finished one
        listed += [
            Checkpoint("prepared"),
            Batch("difficulty", worker=difficulty, method="grade_batch", batch_size=opts.llm_batch_size,
                  about="k solver rollouts, rule / LLM-verifier grading (LLM)", reasons="solved_by_all, llm:<kind>"),
            Checkpoint("difficulty"),
            Batch("rubrics", worker=rubrics, method="rubric_batch", batch_size=opts.llm_batch_size,
                  about="7-20 items for open-ended questions (LLM); RaR imported", reasons="bad_rubric, llm:<kind>",
                  note=f"LLM: {json.dumps(plan.llm.describe(), sort_keys=True, default=str)}"),
        ]
    listed.append(Write("questions", schema=SCIENCE_QUESTION_SCHEMA, primary=True,
                        about="primary dataset (SCIENCE_QUESTION_SCHEMA)"))
    return listed


def steps_of(argv: list[str]) -> list[Step]:
    """The steps a run with ``argv`` would take (``shardsmith steps``; the module docstring's table)."""
    return steps(check(PipelineOptions(argv)))


def run(argv: list[str]) -> dict:
    """Run the Dr. SCI pipeline; returns the manifest."""
    options = PipelineOptions(argv)
    plan = check(options)
    extra: dict = {"sources": sorted(set(plan.by_file.values())), "sample": plan.sample}
    run_ = start_run(PIPELINE, options, "shardsmith-out/dr-sci",
                     inputs=[spec.partition("=")[2] for spec in plan.specs] + plan.benchmarks)
    with tempfile.TemporaryDirectory(prefix="dr-sci-subjects-") as workdir:
        model_path, note = subject_model(plan, workdir, extra, run_.work_dir)
        run_.notes.append(note)
        return run_.run_steps(steps(plan, model_path, extra), finalize=functools.partial(_finish_manifest, extra=extra))

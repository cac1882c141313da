"""Dr. SCI pipeline: heterogeneous science Q/A sets -> questions with subject, split, difficulty, rubrics.

    shardsmith dr-sci --output out/sci                       # the embedded sample, no endpoint
    shardsmith dr-sci --source webinstruct_verified=data/wi.parquet --source mmlu=mmlu/ \\
        --source generic:sciq=sciq.jsonl --column-map question=q,reference_answer=a \\
        --decontam-benchmark path/to/benchmarks/mmlu \\
        --llm-base-url http://localhost:8000/v1 --llm-model Qwen/Qwen3-8B --output out/sci

Stages (logic in ``transforms/science``; reject reasons in brackets):

    read            JSONL/Parquet of every --source in one read, MMLU CSVs     invalid_json, unreadable_file, ...
                    by a CSV reader counted as the same ``read`` stage; each
                    row's position is "<file>#<index>", the file named relative
                    to its --source PATH (``display_names``), never absolutely
    adapt           per source layout (``ADAPTERS`` / generic column map)     missing_question, missing_choices,
                                                                               unknown_source
    clean           Unicode repair, markup -> LaTeX, answer checks             empty_answer, placeholder_answer,
                                                                               mojibake, unbalanced_latex
    subject         metadata table, else fastText (given, or trained in the
                    driver on this run's metadata-labelled rows)
    split           verifiable / open-ended, canonical answer                  open_ended_math
    unique_ids      one record per id                                          duplicate_id
    dedup:exact     normalized question hash                                   -> duplicates/ (via resolve)
    dedup:near      MinHash LSH on the question                                -> duplicates/ (via resolve)
    dedup:conflicts each duplicate group regrouped with its survivor by
                    kept_id, then ``resolve_duplicates``: equivalent answers
                    collapse (duplicates/), conflicting ones are all rejected  answer_conflict
    decontam        exact + word n-gram overlap with --decontam-benchmark     contaminated:<benchmark>
    difficulty      k solver rollouts, rule / LLM-verifier grading (LLM)      solved_by_all, llm:<kind>, ...
    rubrics         7-20 items for open-ended questions (LLM); RaR imported   bad_rubric, llm:<kind>
    questions/      primary dataset (SCIENCE_QUESTION_SCHEMA)

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
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import flags

from pipelines.options import AnswerOptions, DedupOptions, RunOptions, start_run
from schemas.science import SCIENCE_QUESTION_SCHEMA
from transforms.dedup.beam import REMOVED, ExactDedup, NearDedup, removed_row
from transforms.dedup.minhash import MinHashConfig
from transforms.io.local_paths import display_names
from transforms.io.readers import READ_STAGE, InputError, expand_inputs, iter_records
from transforms.io.run import ShardRun
from transforms.llm import config_from_options, llm_counters, skipped_note
from transforms.records import Rejected, reject_row
from transforms.science.adapters import ADAPTERS, POSITION_FIELD, generic_adapter, iter_mmlu_csv
from transforms.science.answers import assign_split
from transforms.science.clean import clean_question
from transforms.science.conflicts import resolve_duplicates
from transforms.science.decontam import Contamination
from transforms.science.difficulty import DifficultyStage
from transforms.science.rubrics import (FINAL_ANSWER_WEIGHT, RubricStage, final_answer_item,
                                        has_final_answer_item)
from transforms.science.subjects import SubjectClassifier, assign_subject, subject_from_metadata, \
    train_subject_classifier
from transforms.stages import REJECTS, StageCounters, UniqueBy

PIPELINE = "dr-sci"
SAMPLE_DIR = Path(__file__).parent / "samples" / "science"
SAMPLE_SOURCES = [
    f"webinstruct_verified={SAMPLE_DIR / 'webinstruct_verified.jsonl'}",
    f"natural_reasoning={SAMPLE_DIR / 'natural_reasoning.jsonl'}",
    f"rar_science={SAMPLE_DIR / 'rar_science.jsonl'}",
    f"mmlu={SAMPLE_DIR / 'mmlu'}",
]
SAMPLE_BENCHMARK = str(SAMPLE_DIR / "mini_bench.jsonl")
MIN_CLASSIFIER_ROWS = 8  # fewer metadata-labelled rows than this: no classifier is trained
LLM_STAGES = ("difficulty", "rubrics")


class DrSciOptions(PipelineOptions):
    """Flags of the Dr. SCI pipeline only (shared ones: ``pipelines.options``, ``--llm-*``: LlmOptions)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.dr_sci_flags(parser)


# --------------------------------------------------------------------------- inputs

def parse_column_map(text: str | None) -> dict:
    """``question=q,reference_answer=a,choices=A|B|C|D`` -> mapping for ``generic_adapter``."""
    mapping: dict = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError(f"--column-map: {part!r} is not TARGET=COLUMN")
        target, column = (s.strip() for s in part.split("=", 1))
        mapping[target] = column.split("|") if "|" in column else column
    return mapping


def _adapter_for(name: str, column_map: dict):
    if name == "generic" or name.startswith("generic:"):
        source = name.split(":", 1)[1] if ":" in name else "generic"
        try:
            return generic_adapter(column_map, source=source)
        except ValueError as exc:
            raise InputError(f"--column-map: {exc}") from None
    return ADAPTERS[name]


def parse_sources(specs: list[str], column_map_text: str | None
                  ) -> tuple[dict[str, str], list[str], list[str], dict[str, str]]:
    """(adapter name per file, JSONL/Parquet files, MMLU CSV files, display name per file) of the --source flags.

    A file's display name is its path relative to its --source PATH (a directory, a glob's
    directory, a file's directory): ``--source mmlu=/data/mmlu`` names ``/data/mmlu/astronomy_test.csv``
    ``astronomy_test.csv``. Positions, and so the ``source_id`` of rows without an id, use it.
    """
    column_map = parse_column_map(column_map_text)
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
        _adapter_for(name, column_map)  # fail early on a bad column map
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


def _file_of(position: str | None) -> str | None:
    return position.rsplit("#", 1)[0] if isinstance(position, str) and "#" in position else None


def relative_position(record: dict, names: dict[str, str]) -> dict:
    """The record with its reader position "<path>#<index>" made "<display name>#<index>"."""
    position = record.get(POSITION_FIELD)
    file = _file_of(position)
    if file is None or file not in names:
        return record
    return {**record, POSITION_FIELD: f"{names[file]}#{position.rsplit('#', 1)[1]}"}


class Adapt:
    """Raw record -> science question, by the adapter of the file it came from.

    ``by_file`` maps the file part of the record's position (a display name) to an adapter name.
    """

    def __init__(self, by_file: dict[str, str], column_map_text: str | None):
        self.by_file, self.column_map_text = dict(by_file), column_map_text
        self._adapters: dict = {}

    def __call__(self, record: dict):
        name = self.by_file.get(_file_of(record.get(POSITION_FIELD)))
        if name is None:
            return Rejected("unknown_source", f"no --source names the file of {record.get(POSITION_FIELD)!r}")
        adapter = self._adapters.get(name)
        if adapter is None:
            adapter = self._adapters[name] = _adapter_for(name, parse_column_map(self.column_map_text))
        return adapter(record)

    def __getstate__(self):
        return {**self.__dict__, "_adapters": {}}


class _ReadMmluCsv(beam.DoFn):
    """MMLU CSV rows, counted as stage ``read`` (the conservation check's input count); files are
    named by their display name (``names``) in positions and rejects."""

    def __init__(self, names: dict[str, str]):
        self.names = dict(names)

    def setup(self):
        self.counters = StageCounters(READ_STAGE)

    def process(self, path: str):
        name = self.names.get(path, os.path.basename(path))
        try:
            rows = list(iter_mmlu_csv(path))
        except Exception as exc:  # noqa: BLE001 - a corrupt file becomes one reject
            self.counters.records_in.inc()
            self.counters.rejected("unreadable_file")
            message = str(exc).replace(os.path.abspath(path), name).replace(path, name)
            yield beam.pvalue.TaggedOutput(REJECTS, reject_row(READ_STAGE, "unreadable_file",
                                                               f"{name}: {type(exc).__name__}: {message}",
                                                               {"source": name}))
            return
        for index, row in enumerate(rows):
            self.counters.records_in.inc()
            self.counters.records_out.inc()
            row[POSITION_FIELD] = f"{name}#{index}"
            yield row


def driver_records(by_file: dict[str, str], files: list[str], csvs: list[str], column_map_text: str | None,
                   names: dict[str, str]):
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

class AssignSubject:
    """Metadata table first, then the fastText classifier (loaded once per worker)."""

    def __init__(self, model_path: str | None):
        self.classifier = SubjectClassifier(model_path) if model_path else None

    def setup(self):
        if self.classifier is not None:
            self.classifier.setup()

    def __call__(self, question: dict) -> dict:
        return assign_subject(question, self.classifier)


class Split:
    def __init__(self, drop_open_ended_math: bool):
        self.drop_open_ended_math = drop_open_ended_math

    def __call__(self, question: dict):
        return assign_split(question, drop_open_ended_math=self.drop_open_ended_math)


class Decontaminate:
    """Filter stage; the index is built once per worker from the benchmark paths."""

    def __init__(self, paths: list[str], ngram: int):
        self.paths, self.ngram, self.index = list(paths), ngram, None

    def setup(self):
        if self.index is None:
            self.index = Contamination.from_paths(self.paths, ngram=self.ngram, min_words=min(8, self.ngram))

    def __call__(self, question: dict):
        self.setup()
        return self.index.contamination_reason(question)

    def __getstate__(self):
        return {**self.__dict__, "index": None}


def complete_imported_rubric(question: dict, weight: float = FINAL_ANSWER_WEIGHT) -> dict:
    """Without an endpoint: imported (RaR) rubrics of open-ended questions still get the final-answer item."""
    rubrics = question.get("rubrics")
    if question.get("split") != "open_ended" or not rubrics or has_final_answer_item(rubrics):
        return question
    out = dict(question)
    out["rubrics"] = list(rubrics) + [final_answer_item(question.get("reference_answer"), weight)]
    return out


class _BatchStageFn(beam.DoFn):
    """Runs ``getattr(worker, method)(batch)`` on batches; results in order, ``Rejected`` -> rejects."""

    def __init__(self, stage: str, worker, method: str):
        self.stage, self.worker, self.method = stage, worker, method

    def setup(self):
        self.counters = StageCounters(self.stage)
        self.worker.setup()

    def teardown(self):
        self.worker.close()

    def _reject(self, record, reason: str, detail: str):
        self.counters.rejected(reason)
        return beam.pvalue.TaggedOutput(REJECTS, reject_row(self.stage, reason, detail, record))

    def process(self, batch: list):
        self.counters.records_in.inc(len(batch))
        try:
            results = getattr(self.worker, self.method)(batch)
        except Exception as exc:  # noqa: BLE001 - the batch becomes rejects, the run goes on
            for record in batch:
                yield self._reject(record, f"error:{type(exc).__name__}", str(exc))
            return
        for record, result in zip(batch, results):
            if isinstance(result, Rejected):
                yield self._reject(record, result.reason, result.detail)
            else:
                self.counters.records_out.inc()
                yield result


def batch_stage(run_: ShardRun, pcoll, stage: str, worker, method: str, batch_size: int):
    results = (
        pcoll
        | f"{stage}:batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=batch_size)
        | f"stage:{stage}" >> beam.ParDo(_BatchStageFn(stage, worker, method)).with_outputs(REJECTS, main="kept")
    )
    run_.add_rejects(results[REJECTS], stage=stage)
    return results.kept


# --------------------------------------------------------------------------- dedup + conflicts

CONFLICT_STAGE = "dedup:conflicts"


def _root_exact_rows(item):
    """(exact survivor id, {exact: removed rows, near: [its near survivor]}) -> (final survivor id, row)."""
    exact_kept_id, groups = item
    near = list(groups["near"])
    root = near[0] if near else exact_kept_id
    for row in groups["exact"]:
        yield root, row


class _ResolveFn(beam.DoFn):
    """A survivor with every record folded into it -> ``resolve_duplicates``: keep, duplicates/ or rejects."""

    def setup(self):
        self.counters = StageCounters(CONFLICT_STAGE)

    def process(self, item):
        _, groups = item
        kept, rows = list(groups["kept"]), sorted(groups["removed"], key=lambda r: r["record_id"])
        if not rows:
            yield from kept
            return
        if not kept:  # cannot happen (every removal names a survivor); never lose the rows
            for row in rows:
                yield beam.pvalue.TaggedOutput(REMOVED, row)
            return
        links = {row["record_id"]: row for row in rows}
        members = kept + [json.loads(row["record_json"]) for row in rows]
        self.counters.records_in.inc(len(members))
        survivors, rejected = resolve_duplicates(members)
        group_method = "minhash" if any(row["method"] == "minhash" for row in rows) else "exact"
        for question in survivors:
            self.counters.records_out.inc()
            yield question
        for question, verdict in rejected:
            qid = str(question.get("id"))
            if verdict.reason == "duplicate":
                link = links.get(qid)
                method, stage = (link["method"], link["stage"]) if link else (group_method, CONFLICT_STAGE)
                yield beam.pvalue.TaggedOutput(REMOVED, removed_row(question, qid, survivors[0]["id"], method, stage))
            else:
                self.counters.rejected(verdict.reason)
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(CONFLICT_STAGE, verdict.reason, verdict.detail,
                                                                   question, qid))


def dedup_questions(run_: ShardRun, questions, opts: DedupOptions):
    """Exact + MinHash dedup of the questions, then answer-conflict resolution per duplicate group."""
    common = dict(text_field="question", id_field="id", score_field=None)
    empty = lambda label: run_.pipeline | label >> beam.Create([])  # noqa: E731
    exact_removed = near_removed = None
    if opts.dedup_method in ("both", "exact"):
        questions, exact_removed = questions | "exact dedup" >> ExactDedup(stage="dedup:exact", **common)
    if opts.dedup_method in ("both", "near"):
        config = MinHashConfig(num_perm=opts.num_perm, ngram=opts.ngram, threshold=opts.threshold,
                               tokenizer=opts.shingles)
        questions, near_removed = questions | "near dedup" >> NearDedup(config=config, stage="dedup:near", **common)
    if exact_removed is None and near_removed is None:
        return questions
    exact_removed = exact_removed if exact_removed is not None else empty("no exact removals")
    near_removed = near_removed if near_removed is not None else empty("no near removals")
    exact_rooted = (
        {"exact": exact_removed | "exact by survivor" >> beam.Map(lambda r: (r["kept_id"], r)),
         "near": near_removed | "near survivor of" >> beam.Map(lambda r: (r["record_id"], r["kept_id"]))}
        | "join exact to near" >> beam.CoGroupByKey()
        | "final survivor" >> beam.FlatMap(_root_exact_rows)
    )
    removed = ((exact_rooted, near_removed | "near by survivor" >> beam.Map(lambda r: (r["kept_id"], r)))
               | "all removals" >> beam.Flatten())
    resolved = (
        {"kept": questions | "survivors by id" >> beam.Map(lambda q: (q["id"], q)), "removed": removed}
        | "duplicate groups" >> beam.CoGroupByKey()
        | f"stage:{CONFLICT_STAGE}" >> beam.ParDo(_ResolveFn()).with_outputs(REJECTS, REMOVED, main="kept")
    )
    run_.add_removed(resolved[REMOVED], stage=None)
    run_.add_rejects(resolved[REJECTS], stage=CONFLICT_STAGE)
    return resolved.kept


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

def run(argv: list[str]) -> dict:
    """Run the Dr. SCI pipeline; returns the manifest."""
    options = PipelineOptions(argv)
    run_opts, dedup, opts = (options.view_as(c) for c in (RunOptions, DedupOptions, DrSciOptions))
    if run_opts.input:
        raise InputError("dr-sci reads --source NAME=PATH (the layout decides the adapter), not --input")
    sample = not opts.source
    specs = list(opts.source or SAMPLE_SOURCES)
    if opts.rollouts < 1:
        raise InputError("--rollouts must be at least 1")
    if not 1 <= opts.rubric_min_items <= opts.rubric_max_items:
        raise InputError("need 1 <= --rubric-min-items <= --rubric-max-items")
    if opts.decontam_ngram < 1:
        raise InputError("--decontam-ngram must be at least 1")
    if opts.llm_batch_size < 1:
        raise InputError("--llm-batch-size must be at least 1")
    if dedup.dedup_method in ("both", "near") and not 0 < dedup.threshold <= 1:
        raise InputError(f"--threshold must be in (0, 1], got {dedup.threshold}")
    by_file, files, csvs, names = parse_sources(specs, opts.column_map)
    benchmarks = list(opts.decontam_benchmark or ([SAMPLE_BENCHMARK] if sample else []))
    for path in benchmarks:
        if not (os.path.exists(path) or glob.glob(path)):
            raise InputError(f"--decontam-benchmark {path}: no such file or directory")
    try:
        config = config_from_options(options)
    except ValueError as exc:
        raise InputError(str(exc)) from None

    extra: dict = {"sources": sorted(set(by_file.values())), "sample": sample}
    workdir = None
    try:
        run_ = start_run(PIPELINE, options, "shardsmith-out/dr-sci", inputs=[spec.partition("=")[2] for spec in specs] + benchmarks)
        model_path = opts.subject_classifier
        if model_path:
            if not os.path.exists(model_path):
                raise InputError(f"--subject-classifier {model_path}: no such file")
            run_.notes.append(f"subject classifier: {model_path}")
        else:
            labelled = [q for q in driver_records(by_file, files, csvs, opts.column_map, names)
                        if subject_from_metadata(q)[0]]
            if len(labelled) >= MIN_CLASSIFIER_ROWS and len({subject_from_metadata(q)[0] for q in labelled}) >= 2:
                workdir = tempfile.mkdtemp(prefix="dr-sci-subjects-")
                model_path = os.path.join(workdir, "subjects.bin")
                metrics = train_subject_classifier(labelled, model_path, bucket=200_000, dim=32,
                                                   valid_fraction=0.1 if len(labelled) >= 100 else 0.0)
                extra["subject_classifier"] = {k: metrics.get(k) for k in ("n_train", "n_valid", "label_counts",
                                                                          "accuracy")}
                run_.notes.append(f"subject classifier: fastText trained in the driver on {len(labelled)} "
                                  "metadata-labelled rows of this run (local model file; pass "
                                  "--subject-classifier for remote runners)")
            else:
                model_path = None
                run_.notes.append(f"subject classifier: none ({len(labelled)} metadata-labelled rows, need "
                                  f"{MIN_CLASSIFIER_ROWS} in 2+ subjects); rows without metadata keep subject null")

        read = []
        if files:
            read.append(run_.read(files, position_field=POSITION_FIELD, names=names)
                        | "relative positions" >> beam.Map(relative_position, names))
        if csvs:
            parsed = (run_.pipeline | "mmlu files" >> beam.Create(csvs)
                      | "read mmlu csv" >> beam.ParDo(_ReadMmluCsv(names)).with_outputs(REJECTS, main="records"))
            run_.add_rejects(parsed[REJECTS], stage=None if files else READ_STAGE)
            read.append(parsed.records | "spread mmlu" >> beam.Reshuffle())
        raw = read[0] if len(read) == 1 else tuple(read) | "all sources" >> beam.Flatten()

        adapters = {names[file]: adapter for file, adapter in by_file.items()}
        questions = run_.stage("adapt", raw, Adapt(adapters, opts.column_map), id_field=POSITION_FIELD)
        questions = run_.stage("clean", questions, clean_question)
        questions = run_.stage("subject", questions, AssignSubject(model_path))
        questions = run_.stage("split", questions, Split(not opts.no_drop_open_ended_math))
        questions, rejects = questions | "unique ids" >> UniqueBy("unique_ids", "id")
        run_.add_rejects(rejects, stage="unique_ids")
        questions = dedup_questions(run_, questions, dedup)
        if dedup.dedup_method in ("both", "near"):
            run_.notes.append(f"near dedup: MinHash over word {dedup.ngram}-grams of the normalized question, "
                              f"threshold {dedup.threshold}")
        if benchmarks:
            questions = run_.stage("decontam", questions, Decontaminate(benchmarks, opts.decontam_ngram),
                                   kind="filter")
            run_.notes.append(f"decontaminated against {', '.join(benchmarks)} "
                              f"(exact + word {opts.decontam_ngram}-grams)")
        else:
            run_.notes.append("decontamination skipped: no --decontam-benchmark")

        if config is None:
            note = skipped_note(LLM_STAGES)
            run_.notes.append(note)
            print(f"[shardsmith] {note}", file=sys.stderr)
            questions = questions | "imported rubrics" >> beam.Map(complete_imported_rubric)
        else:
            difficulty = DifficultyStage(config, k=opts.rollouts, solver_model=opts.solver_model,
                                         verifier_model=opts.verifier_model, drop_solved=not opts.keep_solved,
                                         rel_tol=options.view_as(AnswerOptions).answer_rel_tol)
            rubrics = RubricStage(config, model=opts.rubric_model, min_items=opts.rubric_min_items,
                                  max_items=opts.rubric_max_items)
            # checkpoints around the LLM stages: a killed run resumes (--resume) after the last finished one
            questions = run_.checkpoint("prepared", questions)
            questions = batch_stage(run_, questions, "difficulty", difficulty, "grade_batch", opts.llm_batch_size)
            questions = run_.checkpoint("difficulty", questions)
            questions = batch_stage(run_, questions, "rubrics", rubrics, "rubric_batch", opts.llm_batch_size)
            extra["llm"] = {"client": config.describe(), "difficulty": difficulty.describe(),
                            "rubrics": rubrics.describe()}
            run_.notes.append(f"LLM: {json.dumps(config.describe(), sort_keys=True, default=str)}")
        run_.write("questions", questions, SCIENCE_QUESTION_SCHEMA, primary=True)

        return run_.execute(finalize=functools.partial(_finish_manifest, extra=extra))
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)

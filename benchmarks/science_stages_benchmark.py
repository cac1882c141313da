"""Dr. SCI pure stages: questions/second of adapt -> clean -> subject -> split/canonicalize -> decontam.

    python benchmarks/science_stages_benchmark.py                  # 50,000 questions, seed 0
    python benchmarks/science_stages_benchmark.py --questions 5000 --seed 3
    python benchmarks/science_stages_benchmark.py --questions 10000 --pipeline   # + shardsmith dr-sci

Input (deterministic for ``--seed``): raw records in the five source layouts (WebInstruct-Verified,
NaturalReasoning, MegaScience, RaR-Science, MMLU rows), round robin, built from the real MMLU test
rows of the shared development data (``--mmlu``, default ``$SHARDSMITH_SHARED_DATA/benchmarks/mmlu``,
else ``../shared/data/benchmarks/mmlu`` beside the project; a missing folder is a one-line error). Each question is an MMLU question with every ``--edit-every``-th word
replaced by a word from another question (so it is not a benchmark copy; MMLU-layout records
also take the options of another row, edited the same way and shuffled), except
``--copied-fraction`` of them, which are verbatim copies the decontamination stage must remove.
10% of the questions carry WebInstruct's ``{eq}…{/eq}`` markup and 1% mojibake.
Reference answers are drawn per record from a mix like the sources': numbers with units (25%),
LaTeX fractions and exact numbers (10%), option letters (15%), short expressions (8%), booleans
(5%), tuples (4%), sentences taken from the MMLU options (28%), and broken answers (5%:
placeholders, empty, unbalanced LaTeX, mojibake). NaturalReasoning rows have an empty reference
30% of the time; half of them carry no subject metadata, so the fastText classifier decides those.
Humanities rows (MMLU's history, law, ... files) are ``not_science`` rejects of the subject stage.

The classifier is trained before the clock starts (on metadata-labelled MMLU questions, with the
same ``train_subject_classifier``) and the MMLU decontamination index is built before it too;
both times are reported. Stages run as plain function calls in one process (the Beam shell adds
its own overhead on top); subjects and splits are assigned in batches of ``--batch`` (default: the
pipeline's own batch size), one classifier call and one symbolic-worker round trip per batch, as
the pipeline's ``process_batch`` stages do. What a pipeline worker does once in ``setup`` (pint's
unit tables, sympy, starting the symbolic worker) happens before the clock here too. ``seconds`` is the sum of the five stages;
``stage_seconds`` splits it. Prints one JSON line.

``--pipeline`` also runs the same records through the whole pipeline, ``shardsmith dr-sci`` in a
subprocess (one JSONL file per source layout, the same classifier model and MMLU decontamination
folder, no LLM endpoint so the LLM stages are skipped, the default in-process runner), and adds
its wall and CPU seconds, questions per second (on the run's own wall clock, start-up included,
and with the start-up of an empty run subtracted) and the ratio to the stage functions' rate.
``--repeat N`` runs both pipeline runs N times and keeps the fastest of each (other processes on
a shared machine only ever slow a run down).
The pipeline does more than the five stages, so the ratio is a floor on the Beam layer's
efficiency. ``functions_seconds`` adds the pipeline's two other per-record functions, timed the
same way: the read stage's (the sources' JSONL parsed, positions added) and the dedup stage's
(each question's dedup text, exact key and MinHash band hashes, in the pipeline's batches of
4,096); ``pipeline_to_functions_ratio_after_startup`` (wall) and ``..._cpu_ratio_after_startup``
compare the pipeline with all seven, so what is left is the Beam layer: groupings, spills,
conflict resolution, validation, reject rows and the Parquet writes. ``cpu_seconds`` is the stage functions' CPU time (this
process and its symbolic worker); ``pipeline_to_stages_cpu_ratio_after_startup`` compares it with
the pipeline's CPU time beyond the empty run's (both runs' worker processes included): a figure
that other processes' load on the machine hardly moves, unlike the wall-clock ones.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from pipelines.options import DedupOptions  # noqa: E402
from transforms.dedup.minhash import sign_and_key_batch  # noqa: E402
from transforms.dedup.spec import dedup_spec  # noqa: E402
from transforms.io.readers import iter_records  # noqa: E402
from transforms.records import Rejected  # noqa: E402
from transforms.science.adapters import ADAPTERS, POSITION_FIELD, iter_mmlu_csv  # noqa: E402
from transforms.science.answers import assign_splits  # noqa: E402
from transforms.science.clean import clean_question  # noqa: E402
from transforms.science.conflicts import EXACT_NORMALIZATION, dedup_text  # noqa: E402
from transforms.science.decontam import Contamination  # noqa: E402
from transforms.science.stages import Split  # noqa: E402
from transforms.science.subjects import SubjectClassifier, assign_subjects, train_subject_classifier  # noqa: E402
from transforms.stages import STAGE_BATCH  # noqa: E402

DEDUP_BATCH = 4096  # records per signing batch: NearDedup's max_batch_records (texts here are far below its chars bound)
DEDUP_SHARDS = 64  # NearDedup's bucket_shards

WEBINSTRUCT_CATEGORY = {"physics": "Physics", "chemistry": "Chemistry", "biology": "Biology",
                        "mathematics": "Mathematics", "economics": "Economics", "medicine": "Health",
                        "computer_science": "Computer Science", "general_science": "Engineering",
                        "not_science": "History"}
UNITS = ["m/s", "m/s^2", "kg", "J", "kJ/mol", "N", "Pa", "mol", "K", "°C", "V", "Ω", "W", "Hz", "nm", "mL", "g/mol",
         "\\text{ m/s}", "\\,\\mathrm{kg\\,m^2}", "eV", "atm", "%"]
EXPRESSIONS = ["{a}x^2 + {b}x + {c}", "\\frac{{{a}}}{{{b}}}\\sqrt{{{c}}}", "{a}\\pi r^2", "y = {a}x + {b}",
               "\\frac{{x^{a}}}{{{b}}}", "e^{{-{a}t}}", "{a}\\sin(x) + {b}\\cos(x)", "\\sqrt{{{a}x + {b}}}",
               "(x + {a})(x - {b})", "\\frac{{{a}}}{{x + {b}}}"]
SHARED_DATA_ENV = "SHARDSMITH_SHARED_DATA"


def default_mmlu_path() -> str:
    """The MMLU test CSVs of the shared development data: ``$SHARDSMITH_SHARED_DATA/benchmarks/mmlu``,
    else ``../shared/data/benchmarks/mmlu`` relative to the project root (never shipped to users)."""
    root = os.environ.get(SHARED_DATA_ENV) or os.path.join(Path(__file__).resolve().parents[1], "..", "shared", "data")
    return os.path.normpath(os.path.join(root, "benchmarks", "mmlu"))


def mmlu_files(path: str) -> list[str]:
    """The ``*_test.csv`` files of an MMLU folder; ``SystemExit`` with a one-line message when there are none."""
    files = sorted(glob.glob(os.path.join(path, "*_test.csv")))
    if not files:
        raise SystemExit(f"science_stages_benchmark: no MMLU test files (*_test.csv) at {path} "
                         f"(give --mmlu DIR or set {SHARED_DATA_ENV})")
    return files


BROKEN = ["None", "$ANSWER", "", "N/A", "\\boxed{}", "\\frac{1}{2", "$x^2", "cafÃ\ufffd", "\\left( x"]


def perturbed(question: str, vocabulary: list[str], every: int, rng: random.Random) -> str:
    words = question.split()
    for index in range(rng.randrange(every), len(words), every):
        words[index] = rng.choice(vocabulary)
    return " ".join(words)


def synthetic_answer(rng: random.Random, row: dict) -> str:
    pick = rng.random()
    if pick < 0.25:
        value = rng.choice([f"{rng.uniform(0.1, 999):.{rng.randrange(1, 4)}f}", str(rng.randrange(1, 5000)),
                            f"{rng.uniform(1, 9):.2f} \\times 10^{{{rng.randrange(-12, 24)}}}"])
        return f"{value} {rng.choice(UNITS)}" if rng.random() < 0.8 else value
    if pick < 0.35:
        a, b = rng.randrange(1, 30), rng.randrange(2, 40)
        return rng.choice([f"\\frac{{{a}}}{{{b}}}", f"${a}/{b}$", f"\\boxed{{\\dfrac{{{a}}}{{{b}}}}}", f"2^{{{a % 12}}}"])
    if pick < 0.50:
        letter = row["answer"]
        return rng.choice([letter, f"({letter})", f"Option {letter}", f"{letter}. {row[letter]}"])
    if pick < 0.58:
        return rng.choice(EXPRESSIONS).format(a=rng.randrange(2, 9), b=rng.randrange(1, 9), c=rng.randrange(1, 9))
    if pick < 0.63:
        return rng.choice(["True", "False", "Yes", "No", "yes", "false"])
    if pick < 0.67:
        return f"({rng.randrange(-9, 10)}, {rng.randrange(-9, 10)})"
    if pick < 0.95:
        option = row[rng.choice("ABCD")]
        return f"{option[:1].upper()}{option[1:]}. This follows from the definition given in the question."
    return rng.choice(BROKEN)


def make_records(rows: list[dict], count: int, seed: int, edit_every: int, copied_fraction: float) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    vocabulary = sorted({word for row in rows for word in row["question"].split() if word.isalpha() and len(word) > 3})
    layouts = ["webinstruct_verified", "natural_reasoning", "megascience", "rar_science", "mmlu"]
    from transforms.science.subjects import subject_of_label

    out = []
    for index in range(count):
        row = rows[rng.randrange(len(rows))]
        question = row["question"] if rng.random() < copied_fraction else perturbed(row["question"], vocabulary, edit_every, rng)
        if rng.random() < 0.10:
            question += " Use {eq}g = 9.8\\ m/s^2{/eq} where needed."
        if rng.random() < 0.01:
            question = question.encode("utf-8").decode("latin-1") + " Ã©"
        answer = synthetic_answer(rng, row)
        subject = subject_of_label(row["subject"]) or "general_science"
        layout = layouts[index % len(layouts)]
        if layout == "webinstruct_verified":
            record = {"id": f"wi-{index}", "question": question, "answer": answer, "answer_type": "Float",
                      "category": WEBINSTRUCT_CATEGORY[subject], "difficulty": "University"}
        elif layout == "natural_reasoning":
            record = {"question": question, "reference_answer": "" if rng.random() < 0.3 else answer,
                      "responses": [{"response_model": "Llama-3.3-70B-Instruct", "response": "Step 1 ..."}]}
        elif layout == "megascience":
            record = {"question": question, "answer": f"Reasoning ... so the answer is {answer}.", "reference_answer": answer,
                      "subject": subject if rng.random() < 0.5 else None, "source": "TextbookReasoning"}
        elif layout == "rar_science":
            record = {"question": question, "reference_answer": answer, "question_source": row["subject"],
                      "rubric": [{"title": f"Point {k}", "description": f"Essential Criteria: point {k}.",
                                  "weight": rng.choice([5, 4, 3, 2, 1, -1, -2])} for k in range(rng.randrange(7, 15))]}
        else:  # edited options of another row in another order: only the copies match benchmark items
            other = rows[rng.randrange(len(rows))]
            options = [perturbed(other[letter], vocabulary, edit_every, rng) for letter in "ABCD"]
            rng.shuffle(options)
            record = {"id": f"bench:{index}", "question": question, **dict(zip("ABCD", options)),
                      "answer": row["answer"], "subject": row["subject"]}
        out.append((layout, record))
    return out


def _symbolic_worker_cpu() -> float:
    """CPU seconds so far of this process's idle symbolic workers (``/proc``; 0.0 where there is none)."""
    from transforms.science import symbolic_pool
    from transforms.science.answer_latex import SYMBOLIC_PRELOAD

    total = 0.0
    for worker in symbolic_pool.shared_pool(SYMBOLIC_PRELOAD)._idle:
        try:
            fields = Path(f"/proc/{worker.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def _run_cli(args: list[str]) -> tuple[float, float]:
    """(wall, CPU seconds of the child) of ``python -m pipelines.cli ARGS``; SystemExit when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True,
                          cwd=str(Path(__file__).resolve().parents[1]))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"science_stages_benchmark: shardsmith {' '.join(args[:1])} exited {proc.returncode}:\n"
                         + proc.stderr[-2000:])
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def write_sources(folder: Path, items: list[tuple[str, dict]]) -> list[Path]:
    """One JSONL file per source layout, ``folder/<layout>.jsonl``, as a user's download would be."""
    by_layout: dict[str, list[dict]] = collections.defaultdict(list)
    for layout, record in items:
        by_layout[layout].append(record)
    paths = []
    for layout, rows in sorted(by_layout.items()):
        path = folder / f"{layout}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        paths.append(path)
    return paths


def run_pipeline(records: list[tuple[str, dict]], model_path: str, mmlu_path: str, tmp: str, repeat: int = 1) -> dict:
    """The whole ``shardsmith dr-sci`` over ``records``, and over one record (its start-up); with
    ``repeat``, each run ``repeat`` times (alternating) and the fastest wall and CPU of each kept,
    which filters out other processes' load on a shared machine."""
    common = ["--subject-classifier", model_path, "--decontam-benchmark", mmlu_path, "--overwrite"]
    one = [arg for path in write_sources(Path(tmp) / "one", records[:1]) for arg in ("--source", f"{path.stem}={path}")]
    everything = [arg for path in write_sources(Path(tmp) / "all", records)
                  for arg in ("--source", f"{path.stem}={path}")]
    small, full = [], []
    for _ in range(max(1, repeat)):
        small.append(_run_cli(["dr-sci", *one, *common, "--output", str(Path(tmp) / "out-one")]))
        full.append(_run_cli(["dr-sci", *everything, *common, "--output", str(Path(tmp) / "out-all")]))
    (small_wall, small_cpu), (wall, cpu) = [(min(w for w, _ in runs), min(c for _, c in runs)) for runs in (small, full)]
    manifest = json.loads((Path(tmp) / "out-all" / "_manifest.json").read_text())
    return {
        "pipeline_runs": len(full),
        "pipeline_wall_seconds": round(wall, 3),
        "pipeline_cpu_seconds": round(cpu, 3),
        "pipeline_startup_wall_seconds": round(small_wall, 3),
        "pipeline_startup_cpu_seconds": round(small_cpu, 3),
        "pipeline_questions_per_second": round(len(records) / wall, 1),
        "pipeline_questions_per_second_after_startup": round(len(records) / max(wall - small_wall, 1e-9), 1),
        "pipeline_output_counts": {name: info["rows"] for name, info in sorted(manifest["datasets"].items())},
    }


def run(count: int, seed: int, edit_every: int, copied_fraction: float, batch: int,
        mmlu_path: str | None = None, pipeline: bool = False, repeat: int = 1) -> dict:
    mmlu_path = mmlu_path or default_mmlu_path()
    rows = [record for path in mmlu_files(mmlu_path) for record in iter_mmlu_csv(path) if "question" in record]
    records = make_records(rows, count, seed, edit_every, copied_fraction)

    started = time.perf_counter()
    index = Contamination.from_paths([mmlu_path])
    index_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        training = [q for q in (ADAPTERS["mmlu"](row) for row in rows[::2]) if isinstance(q, dict)]  # not needs_image
        started = time.perf_counter()
        train_subject_classifier(training, Path(tmp) / "subjects.bin", dim=32, bucket=200_000, valid_fraction=0.0)
        train_seconds = time.perf_counter() - started
        classifier = SubjectClassifier(Path(tmp) / "subjects.bin")
        classifier.predict(["warm up"])
        # what a pipeline worker does in setup (pint's tables, sympy, the symbolic worker), and the
        # worker's LaTeX parser warmed (ANTLR builds its DFA on first use), as a long-running one would be
        split_stage = Split(True)
        split_stage.setup()
        assign_splits([{"reference_answer": answer, "subject": "physics"}
                       for answer in ("x^2 + 2x + 1", "\\frac{a}{b}", "(1, 2)", "\\sqrt{2} m")])

        rejects: collections.Counter = collections.Counter()
        seconds = collections.Counter()
        pipeline_seconds = {}  # the pipeline's other per-record functions: read, dedup
        splits: collections.Counter = collections.Counter()
        types: collections.Counter = collections.Counter()
        methods: collections.Counter = collections.Counter()
        kept = 0
        source_files = write_sources(Path(tmp) / "sources", records)
        dedup = dedup_spec(PipelineOptions([]).view_as(DedupOptions), id_field="id", text_field=None,
                           text_fn=dedup_text, exact_normalization=EXACT_NORMALIZATION)  # the CLI's defaults
        to_dedup: list[dict] = []

        # the read stage's function: the sources' JSONL parsed, positions added (records not used further)
        read_cpu = time.process_time()
        began = time.perf_counter()
        for path in source_files:
            for position, record in enumerate(iter_records(str(path))):
                record[POSITION_FIELD] = f"{path.name}#{position}"
        pipeline_seconds["read"] = time.perf_counter() - began
        read_cpu = time.process_time() - read_cpu

        cpu_started = time.process_time() + _symbolic_worker_cpu()
        for start in range(0, len(records), batch):
            chunk = records[start:start + batch]

            def stage(name, fn, items):
                began = time.perf_counter()
                out = []
                for item in items:
                    result = fn(item)
                    if isinstance(result, Rejected):
                        rejects[f"{name}:{result.reason.split(':')[0]}"] += 1
                    elif result is not None or name != "decontam":
                        out.append(result if result is not None else item)
                    else:
                        out.append(item)
                seconds[name] += time.perf_counter() - began
                return out

            adapted = stage("adapt", lambda lr: ADAPTERS[lr[0]](lr[1]), chunk)
            cleaned = stage("clean", clean_question, adapted)
            began = time.perf_counter()
            subjected = []
            for result in assign_subjects(cleaned, classifier):
                if isinstance(result, Rejected):
                    rejects[f"subject:{result.reason}"] += 1
                else:
                    subjected.append(result)
            seconds["subject"] += time.perf_counter() - began
            began = time.perf_counter()
            split = []
            for result in split_stage.process_batch(subjected):  # batched, as the pipeline's chain runs it
                if isinstance(result, Rejected):
                    rejects[f"split:{result.reason.split(':')[0]}"] += 1
                else:
                    split.append(result)
            seconds["split"] += time.perf_counter() - began
            to_dedup += split
            clean = stage("decontam", index.contamination_reason, split)
            kept += len(clean)
            for question in clean:
                splits[question["split"]] += 1
                types[question["answer_type"]] += 1
                methods[question["subject_method"]] += 1
        stage_cpu = time.process_time() + _symbolic_worker_cpu() - cpu_started

        # the dedup stage's function: each question's dedup text, then its exact key and MinHash band
        # hashes, in batches of the pipeline's size (the groupings that follow are the Beam layer's)
        dedup_cpu = time.process_time()
        began = time.perf_counter()
        for start in range(0, len(to_dedup), DEDUP_BATCH):
            texts = [dedup_text(question) for question in to_dedup[start:start + DEDUP_BATCH]]
            sign_and_key_batch(texts, dedup.minhash, DEDUP_SHARDS, EXACT_NORMALIZATION)
        pipeline_seconds["dedup"] = time.perf_counter() - began
        functions_cpu = stage_cpu + read_cpu + time.process_time() - dedup_cpu
        pipeline_figures = run_pipeline(records, str(Path(tmp) / "subjects.bin"), mmlu_path, tmp,
                                        repeat) if pipeline else {}
    total = sum(seconds.values())
    functions = total + sum(pipeline_seconds.values())
    if pipeline_figures:
        for key in ("pipeline_questions_per_second", "pipeline_questions_per_second_after_startup"):
            pipeline_figures[key.replace("questions_per_second", "to_stages_ratio")] = round(
                pipeline_figures[key] / (count / total), 3)
        cpu_after = pipeline_figures["pipeline_cpu_seconds"] - pipeline_figures["pipeline_startup_cpu_seconds"]
        pipeline_figures["pipeline_to_stages_cpu_ratio_after_startup"] = round(stage_cpu / max(cpu_after, 1e-9), 3)
        wall_after = pipeline_figures["pipeline_wall_seconds"] - pipeline_figures["pipeline_startup_wall_seconds"]
        pipeline_figures["pipeline_to_functions_ratio_after_startup"] = round(functions / max(wall_after, 1e-9), 3)
        pipeline_figures["pipeline_to_functions_cpu_ratio_after_startup"] = round(
            functions_cpu / max(cpu_after, 1e-9), 3)
    return {
        "benchmark": "science_stages",
        "questions": count,
        "seconds": round(total, 3),
        "cpu_seconds": round(stage_cpu, 3),
        "questions_per_second": round(count / total, 1),
        "stage_seconds": {name: round(seconds[name], 3) for name in ("adapt", "clean", "subject", "split", "decontam")},
        "functions_seconds": round(functions, 3),
        "functions_cpu_seconds": round(functions_cpu, 3),
        "functions_questions_per_second": round(count / functions, 1),
        "other_function_seconds": {name: round(value, 3) for name, value in pipeline_seconds.items()},
        "stage_questions_per_second": {name: round(count / seconds[name], 1)
                                       for name in ("adapt", "clean", "subject", "split", "decontam")},
        "mmlu_index_seconds": round(index_seconds, 3),
        "mmlu_index_items": len(index),
        "classifier_train_seconds": round(train_seconds, 3),
        "kept": kept,
        "rejects": dict(sorted(rejects.items())),
        "split": dict(sorted(splits.items())),
        "answer_types": {str(k): v for k, v in sorted(types.items(), key=lambda kv: str(kv[0]))},
        "subject_methods": {str(k): v for k, v in sorted(methods.items(), key=lambda kv: str(kv[0]))},
        **pipeline_figures,
        "seed": seed,
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--questions", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--edit-every", type=int, default=6, help="replace every n-th word of a benchmark question")
    parser.add_argument("--copied-fraction", type=float, default=0.02, help="verbatim benchmark copies")
    parser.add_argument("--batch", type=int, default=STAGE_BATCH,
                        help="questions per batch (one subject-classifier call, one symbolic-worker round trip)")
    parser.add_argument("--mmlu", default=None, metavar="DIR",
                        help=f"MMLU test CSVs (default: ${SHARED_DATA_ENV}/benchmarks/mmlu or ../shared/data/benchmarks/mmlu)")
    parser.add_argument("--pipeline", action="store_true",
                        help="also run the records through shardsmith dr-sci and compare its rate")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each pipeline run this many times and keep the fastest (a shared machine)")
    args = parser.parse_args(argv)
    mmlu_path = args.mmlu or default_mmlu_path()
    mmlu_files(mmlu_path)  # fail fast, before any work
    print(json.dumps(run(args.questions, args.seed, args.edit_every, args.copied_fraction, args.batch, mmlu_path,
                         args.pipeline, args.repeat)))


if __name__ == "__main__":
    main()

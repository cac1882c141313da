"""Rebuild the subject classifier shipped in the package (``transforms/science/models/subjects.ftz``).

    python -m transforms.science.build_subject_model path/to/benchmarks/mmlu \\
        --gsm8k path/to/benchmarks/gsm8k/test.jsonl --output transforms/science/models/subjects.ftz

Training data: the MMLU test questions (``*_test.csv``, read and cleaned as the Dr. SCI pipeline
reads them), each labelled by its file through ``SUBJECT_TABLE`` (the eight subjects or
``not_science``; ``miscellaneous`` and ``global_facts`` have no label and are left out), plus the
GSM8K test word problems as ``mathematics`` (without them about a fifth of GSM8K's held-out
problems, short stories about people and money, went to ``not_science``). The model reads the
question as the pipeline's adapt and clean stages leave it (``subjects.subject_text``: an MMLU question's
options are rendered into it).

Held-out split: per label, the questions ordered by SHA-256 of ``"<seed>:<text>"``, the first
``--held-out`` fraction (10%) held out; identical texts land on the same side, and the split does
not depend on file order. The script prints, on the held-out questions: the top label's accuracy
over the nine outcomes, science-vs-not accuracy, a table at ``not_science`` thresholds 0.5 / 0.7 /
0.9 (science questions rejected, humanities questions caught), and GSM8K's mathematics and
``not_science`` rates under the default thresholds. ``--json`` prints the same as JSON.

Parameters (the defaults): fastText softmax, 50 epochs, lr 0.5, word bigrams, character n-grams
3-5, dim 16, 200,000 buckets, one thread and seed 0 (deterministic), then product quantization
retrained on the training data with a cutoff of 20,000 words and n-grams. Measured with them
(the public MMLU and GSM8K test sets), recorded in the README:

    model 371,784 bytes; 24,915 training texts (13,051 questions + 11,864 stems); held out 1,316 MMLU
    questions (567 science, 749 not_science) and 132 GSM8K problems
    MMLU: 90.1% top-label accuracy (9 outcomes), 94.3% science vs not
    MMLU stems without options: 85.3% top-label, 91.3% science vs not (78.0% / 88.2% with --no-stems)
    not_science at 0.5 / 0.7 / 0.9: science questions rejected 38 / 34 / 26 of 567, humanities
      caught 713 / 707 / 696 of 749
    GSM8K: 97.7% mathematics, 0.0% not_science (default thresholds)

Stems: after the split, each training MMLU question with options is also given as its stem alone
(``question_stem``), since open-ended sources ask without options; ``--no-stems`` leaves them out.
The same files and parameters give the same bytes (checked: two builds compared with ``cmp``).
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import sys
from collections import Counter, defaultdict

from schemas.science import NOT_SCIENCE
from transforms.records import Rejected
from transforms.science.adapters import adapt_mmlu, iter_mmlu_csv
from transforms.science.clean import clean_question, clean_text
from transforms.science.subjects import (BUILTIN_MODEL, DEFAULT_MIN_CONFIDENCE, NOT_SCIENCE_MIN_CONFIDENCE,
                                         SubjectClassifier, decide_subject, subject_of_label, subject_text)
from transforms.quality.fasttext_rater import train_fasttext

PARAMS = {"epoch": 50, "lr": 0.5, "word_ngrams": 2, "minn": 3, "maxn": 5, "dim": 16, "bucket": 200_000,
          "seed": 0, "thread": 1, "quantize_cutoff": 20_000}
THRESHOLDS = (0.5, 0.7, 0.9)


def mmlu_examples(mmlu_dir: str) -> tuple[list[tuple[str, str, str]], Counter]:
    """``(text, outcome, 'mmlu')`` per labelled MMLU test question, and the counts of those left out."""
    files = sorted(glob.glob(os.path.join(mmlu_dir, "**", "*_test.csv"), recursive=True))
    if not files:
        raise SystemExit(f"build_subject_model: no *_test.csv files under {mmlu_dir}")
    out, skipped = [], Counter()
    for path in files:
        for record in iter_mmlu_csv(path):
            question = adapt_mmlu(record)
            if not isinstance(question, Rejected):
                question = clean_question(question)
            if isinstance(question, Rejected):
                skipped[f"reject:{question.reason}"] += 1
                continue
            outcome = subject_of_label(question.get("source_category"))
            text = subject_text(question)
            if outcome is None or not text:
                skipped[f"unlabelled:{question.get('source_category')}"] += 1
                continue
            out.append((text, outcome, "mmlu"))
    return out, skipped


def gsm8k_examples(path: str) -> list[tuple[str, str, str]]:
    """``(text, 'mathematics', 'gsm8k')`` per GSM8K problem (JSONL with a ``question`` field)."""
    out = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                out.append((clean_text(json.loads(line)["question"]), "mathematics", "gsm8k"))
    return out


def question_stem(text: str) -> str:
    """An MMLU text without its rendered options (``\n\nA. ...``): the question as an open-ended
    source would ask it."""
    head, sep, _ = text.partition("\n\nA. ")
    return head.strip() if sep else text


def with_stems(examples: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """``examples`` plus, per MMLU question with options, its stem alone (``question_stem``), so the
    model also knows open-ended phrasings of the same subjects."""
    stems = [(question_stem(t), label, "mmlu_stem") for t, label, source in examples
             if source == "mmlu" and question_stem(t) != t]
    return examples + stems


def held_out_split(examples: list[tuple[str, str, str]], fraction: float, seed: int):
    """(train, held_out): per label, the first ``fraction`` of its examples in SHA-256 order of ``seed:text``."""
    by_label: dict[tuple[str, str], list] = defaultdict(list)
    for example in examples:
        by_label[(example[1], example[2])].append(example)
    train, held = [], []
    for _, group in sorted(by_label.items()):
        group.sort(key=lambda e: (hashlib.sha256(f"{seed}:{e[0]}".encode()).hexdigest(), e[0]))
        cut = int(round(len(group) * fraction))
        # identical texts stay on one side: extend the cut over a run of equal hashes
        while 0 < cut < len(group) and group[cut][0] == group[cut - 1][0]:
            cut += 1
        held += group[:cut]
        train += group[cut:]
    return train, held


def evaluate(model_path: str, held: list[tuple[str, str, str]]) -> dict:
    """Held-out figures of a model (see the module docstring)."""
    classifier = SubjectClassifier(model_path)
    mmlu = [(classifier.probabilities(t), label) for t, label, source in held if source == "mmlu"]
    stems = [(classifier.probabilities(question_stem(t)), label) for t, label, source in held
             if source == "mmlu" and question_stem(t) != t]
    gsm8k = [classifier.probabilities(t) for t, _, source in held if source == "gsm8k"]
    top = [(max(p, key=p.get), label) for p, label in mmlu]
    science = [label for _, label in mmlu if label != NOT_SCIENCE]
    table = {}
    for threshold in THRESHOLDS:
        outcomes = [(decide_subject(p, DEFAULT_MIN_CONFIDENCE, threshold)[0], label) for p, label in mmlu]
        table[str(threshold)] = {
            "science_rejected": sum(o == NOT_SCIENCE for o, label in outcomes if label != NOT_SCIENCE),
            "not_science_caught": sum(o == NOT_SCIENCE for o, label in outcomes if label == NOT_SCIENCE),
            "accuracy": round(sum(o == label for o, label in outcomes) / len(outcomes), 4),
        }
    gsm8k_outcomes = Counter(decide_subject(p)[0] for p in gsm8k)
    return {
        "mmlu_held_out": len(mmlu),
        "science": len(science),
        "not_science": len(mmlu) - len(science),
        "top_label_accuracy": round(sum(p == label for p, label in top) / len(top), 4),
        "science_vs_not_accuracy": round(sum((p == NOT_SCIENCE) == (label == NOT_SCIENCE) for p, label in top)
                                         / len(top), 4),
        "not_science_thresholds": table,
        "stems_held_out": len(stems),
        "stems_top_label_accuracy": round(sum(max(p, key=p.get) == label for p, label in stems) / max(len(stems), 1), 4),
        "stems_science_vs_not_accuracy": round(sum((max(p, key=p.get) == NOT_SCIENCE) == (label == NOT_SCIENCE)
                                                   for p, label in stems) / max(len(stems), 1), 4),
        "gsm8k_held_out": len(gsm8k),
        "gsm8k_mathematics": round(gsm8k_outcomes["mathematics"] / max(len(gsm8k), 1), 4),
        "gsm8k_not_science": round(gsm8k_outcomes[NOT_SCIENCE] / max(len(gsm8k), 1), 4),
        "default_not_science_min_confidence": NOT_SCIENCE_MIN_CONFIDENCE,
    }


def build(mmlu_dir: str, gsm8k: str | None, output: str, held_out: float = 0.1, seed: int = 0,
          params: dict | None = None, stems: bool = True) -> dict:
    """Train, quantize and save the model to ``output``; returns the counts and held-out figures."""
    examples, skipped = mmlu_examples(mmlu_dir)
    if gsm8k:
        examples += gsm8k_examples(gsm8k)
    train, held = held_out_split(examples, held_out, seed)
    if stems:  # after the split: a held-out question's stem is never trained on
        train = with_stems(train)
    params = {**PARAMS, **(params or {}), "seed": seed}
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    metrics = train_fasttext([t for t, _, _ in train], [label for _, label, _ in train], output,
                             valid_fraction=0.0, **params)
    figures = evaluate(output, held) if held else {}
    return {"output": output, "bytes": os.path.getsize(output), "n_train": metrics["n_train"],
            "label_counts": metrics["label_counts"], "left_out": dict(sorted(skipped.items())),
            "params": params, **figures}


def report_lines(result: dict) -> list[str]:
    """The build's summary as printable lines."""
    lines = [f"{result['output']}: {result['bytes']:,} bytes, {result['n_train']:,} training questions",
             "labels: " + ", ".join(f"{k} {v}" for k, v in result["label_counts"].items())]
    if "mmlu_held_out" in result:
        lines += [
            f"held-out MMLU {result['mmlu_held_out']:,} ({result['science']} science, {result['not_science']} not): "
            f"{result['top_label_accuracy']:.1%} top-label accuracy, {result['science_vs_not_accuracy']:.1%} "
            "science vs not",
            *(f"  not_science at {t}: science rejected {row['science_rejected']}/{result['science']}, humanities "
              f"caught {row['not_science_caught']}/{result['not_science']}, outcome accuracy {row['accuracy']:.1%}"
              for t, row in result["not_science_thresholds"].items()),
            f"held-out MMLU stems without options {result['stems_held_out']:,}: {result['stems_top_label_accuracy']:.1%} "
            f"top-label accuracy, {result['stems_science_vs_not_accuracy']:.1%} science vs not",
            f"held-out GSM8K {result['gsm8k_held_out']}: {result['gsm8k_mathematics']:.1%} mathematics, "
            f"{result['gsm8k_not_science']:.1%} not_science",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transforms.science.build_subject_model",
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument("mmlu_dir", metavar="MMLU_DIR", help="folder of MMLU *_test.csv files")
    parser.add_argument("--gsm8k", default=None, metavar="JSONL", help="GSM8K test.jsonl (problems as mathematics)")
    parser.add_argument("--output", default=str(BUILTIN_MODEL),
                        help="model file to write (default: the one shipped in the package)")
    parser.add_argument("--held-out", type=float, default=0.1, help="held-out fraction per label (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-stems", action="store_true",
                        help="train on the MMLU texts with options only (not also on their stems)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if not 0.0 <= args.held_out < 1.0:
        parser.error("--held-out must be in [0, 1)")
    result = build(args.mmlu_dir, args.gsm8k, args.output, args.held_out, args.seed, stems=not args.no_stems)
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else "\n".join(report_lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

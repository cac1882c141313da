"""Source adapters of Dr. SCI: one raw record of a source layout -> a science-question dict.

Each ``adapt_<name>(record)`` answers a dict with every field of ``SCIENCE_QUESTION_SCHEMA``
(the ones not known yet are None, ``split`` included: the split stage sets it) or
``Rejected('missing_question')`` when the question is absent or blank. Text is not cleaned
here; the clean stage does that for every source alike.

Fields set here:

* ``source``: the adapter's source name (``ADAPTERS`` key, or the generic adapter's name).
* ``source_id``: the record's own id (first of ``NATIVE_ID_FIELDS`` present), else the reader's
  position (``POSITION_FIELD``, "<file>#<index>"; the Dr. SCI pipeline names the file relative to
  its ``--source`` path, never by an absolute local path), else the computed id.
* ``id``: ``content_id(source, 'id', native id)`` when the record has an id of its own, else
  ``content_id(source, 'q', question)``: stable across runs, machines and file layouts. Two
  records of one source with no ids and the same question text share an id; they are exact
  duplicates, which the dedup stage collapses anyway.
* ``question`` (multiple-choice options rendered into it as "A. …" lines, so solvers and
  decontamination see them), ``choices``, ``reference_answer``, ``source_category`` (the label
  the subject table maps), ``meta_json`` (every field not mapped to a column, as JSON).
* RaR-Science only: ``rubrics`` imported from the source's ``rubric`` list and
  ``rubric_source='imported'``.

RaR-Science rubric weights -> categories. RaR's rubric generator gives Essential items weight
5, Important 3-4, Optional 1-2 and Pitfalls -1/-2, so: weight >= ``essential_min`` (5) ->
Essential, >= ``important_min`` (3) -> Important, 1 .. important_min-1 -> Optional, negative ->
Pitfall, 0 -> Optional (a criterion worth nothing is at most optional). The item's weight becomes
the category weight (``CATEGORY_WEIGHTS``: 1.0 / 0.7 / 0.3 / 0.9, positive for Pitfalls too:
the grader subtracts it when the pitfall is hit); the source integer stays in ``source_weight``.
Items without a description or with a non-integer weight are not imported; the raw rubric is
then kept in ``meta_json`` under ``rubric`` so nothing is lost.
"""
from __future__ import annotations

import csv
import math
import numbers
import os
import re
from typing import Any, Callable, Iterator, Mapping, Sequence

from schemas.science import RUBRIC_CATEGORIES, SCIENCE_QUESTION_SCHEMA
from transforms.records import Rejected, content_id, record_to_json

POSITION_FIELD = "_position"
NATIVE_ID_FIELDS = ("id", "unique_id", "uuid", "question_id", "qid", "_id")
OPTION_LETTERS = "ABCDEFGHIJ"
CATEGORY_WEIGHTS = {"Essential": 1.0, "Important": 0.7, "Optional": 0.3, "Pitfall": 0.9}
RAR_ESSENTIAL_MIN = 5
RAR_IMPORTANT_MIN = 3

Adapter = Callable[[dict], "dict | Rejected"]


def new_question(**fields: Any) -> dict:
    """A science-question dict with every schema field, None unless given."""
    unknown = set(fields) - set(SCIENCE_QUESTION_SCHEMA.names)
    if unknown:
        raise ValueError(f"not science-question fields: {sorted(unknown)}")
    return {name: fields.get(name) for name in SCIENCE_QUESTION_SCHEMA.names}


def _text_or_none(value: Any) -> str | None:
    """A string value as is, a number as its string, anything else (None, '', lists) as None."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return str(value)
    return None


def answer_text(value: Any) -> str | None:
    """A reference answer as text, whatever JSON type the source gave it: a string as is, a boolean
    as ``true``/``false``, a finite number as ``str()`` gives it, a list (TheoremQA-style ``[1, 2]``) as
    ``[a, b]`` of its items; None for nothing usable (null, blank, an object, an empty list)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        items = [answer_text(item) for item in value]
        return "[" + ", ".join(items) + "]" if items and all(i is not None for i in items) else None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return _text_or_none(value)


def _native_id(record: Mapping, fields: Sequence[str] = NATIVE_ID_FIELDS) -> str | None:
    for name in fields:
        value = _text_or_none(record.get(name))
        if value is not None:
            return value
    return None


def _meta_json(record: Mapping, used: Sequence[str]) -> str | None:
    rest = {k: v for k, v in record.items() if k not in used and k != POSITION_FIELD}
    return record_to_json(rest) if rest else None


def render_choices(question: str, choices: Sequence[str]) -> str:
    """The question followed by a blank line and one "A. option" line per choice."""
    lines = [f"{OPTION_LETTERS[i]}. {choice}" for i, choice in enumerate(choices)]
    return question.rstrip() + "\n\n" + "\n".join(lines)


_VISUAL = r"(?:figure|diagram|image|picture|illustration|photograph|photo|graph|chart|map|drawing|sketch)"
# references to a picture the text does not hold; tuned on the MMLU test set (7 of 14,079 questions,
# each one pointing at a missing map, chart, photograph or figure; "pixel in the image" or "the
# figures alone" do not match) and GSM8K (0)
FIGURE_REFERENCE_RE = re.compile(
    r"<image\s*\d*>|!\[[^\]]*\]\(|<img\b"
    r"|\bfig(?:ure)?\.?\s*\d+"
    rf"|\b(?:shown|depicted|illustrated|pictured|given|displayed|drawn) (?:in|on) the {_VISUAL}\b"
    rf"|\bthe {_VISUAL} (?:below|above|shown|on this page)\b"
    r"|\b(?:shown|depicted|pictured|illustrated|drawn) (?:below|above|here)\b"
    rf"|\b(?:accompanying|following|adjacent|attached) {_VISUAL}\b(?!s)"
    rf"|\bshows? the \w+(?: \w+)? in the {_VISUAL}\b", re.IGNORECASE)
# Every alternative of FIGURE_REFERENCE_RE holds one of these (lowercased): a text with none of
# them cannot match, and a substring scan is several times faster than the regex.
_FIGURE_WORDS = ("fig", "diagram", "image", "pictur", "illustrat", "photo", "graph", "chart", "map",
                 "draw", "sketch", "shown", "depicted", "![", "<img")
IMAGE_FIELDS = ("image", "images", "img", "figure", "figures", "image_path", "image_url", "picture")


def figure_reference(text: str) -> str | None:
    """The first reference in ``text`` to a figure it does not hold (``FIGURE_REFERENCE_RE``), or None."""
    if text.isascii():  # (non-ASCII letters such as "ſ" or the Kelvin sign match ASCII ones under IGNORECASE)
        lowered = text.lower()
        if not any(word in lowered for word in _FIGURE_WORDS):
            return None
    match = FIGURE_REFERENCE_RE.search(text)
    return match.group(0) if match else None


def needs_image(record: Mapping, question: str) -> str | None:
    """Why a question cannot be answered from its text (an image field, a figure reference), or None."""
    for name in IMAGE_FIELDS:
        value = record.get(name)
        if value not in (None, "", [], {}, b""):
            return f"image field {name!r}"
    reference = figure_reference(question)
    return f"refers to a figure: {reference!r}" if reference else None


def _question(source: str, record: Mapping, question: Any, used: Sequence[str], *,
              native_id: str | None = None, reference_answer: Any = None, source_category: Any = None,
              choices: Sequence[str] | None = None, **extra: Any) -> dict | Rejected:
    """Common assembly: id rules, missing-question reject, choices rendering, meta_json."""
    if not isinstance(question, str) or not question.strip():
        shown = "absent" if question is None else f"{type(question).__name__} {str(question)[:80]!r}"
        return Rejected("missing_question", f"{source}: question is {shown}")
    visual = needs_image(record, question)
    if visual:
        return Rejected("needs_image", f"{source}: {visual}")
    if native_id is None:
        native_id = _native_id(record)
    used = list(used) + [name for name in NATIVE_ID_FIELDS if name in record and _text_or_none(record[name]) == native_id]
    record_id = content_id(source, "id", native_id) if native_id is not None else content_id(source, "q", question)
    source_id = native_id or _text_or_none(record.get(POSITION_FIELD)) or record_id
    text = render_choices(question, choices) if choices else question
    return new_question(
        id=record_id, source=source, source_id=source_id, question=text,
        choices=list(choices) if choices else None,
        reference_answer=answer_text(reference_answer),
        source_category=_text_or_none(source_category),
        meta_json=_meta_json(record, used), **extra,
    )


# --------------------------------------------------------------------------- the sources

def adapt_webinstruct_verified(record: dict) -> dict | Rejected:
    """WebInstruct-Verified: question, answer, answer_type, category, difficulty (the last two kept in meta)."""
    return _question("webinstruct_verified", record, record.get("question"), ["question", "answer", "category"],
                     reference_answer=record.get("answer"), source_category=record.get("category"))


def adapt_natural_reasoning(record: dict) -> dict | Rejected:
    """NaturalReasoning: question, reference_answer (often empty -> None), responses (kept in meta)."""
    return _question("natural_reasoning", record, record.get("question"), ["question", "reference_answer"],
                     reference_answer=record.get("reference_answer"))


def adapt_megascience(record: dict) -> dict | Rejected:
    """MegaScience: question, reference_answer (short), subject; the long ``answer`` and ``source`` stay in meta."""
    return _question("megascience", record, record.get("question"), ["question", "reference_answer", "subject"],
                     reference_answer=record.get("reference_answer"), source_category=record.get("subject"))


GSM8K_MARKER = "####"  # GSM8K's answer: the worked solution, then "#### <final answer>"


def adapt_gsm8k(record: dict) -> dict | Rejected:
    """GSM8K: question, answer (the worked solution ending in ``#### N``): the reference is ``N``, the
    solution stays in meta; every question is grade-school mathematics."""
    answer = record.get("answer")
    final = answer.rpartition(GSM8K_MARKER)[2].strip() if isinstance(answer, str) and GSM8K_MARKER in answer else None
    return _question("gsm8k", record, record.get("question"), ["question"],
                     reference_answer=final or None, source_category="mathematics")


def rubric_category(weight: int, essential_min: int = RAR_ESSENTIAL_MIN, important_min: int = RAR_IMPORTANT_MIN) -> str:
    """RaR integer weight -> rubric category (see the module doc for the mapping)."""
    if weight < 0:
        return "Pitfall"
    if weight >= essential_min:
        return "Essential"
    if weight >= important_min:
        return "Important"
    return "Optional"


def import_rubric(items: Any, category_weights: Mapping[str, float] = CATEGORY_WEIGHTS,
                  essential_min: int = RAR_ESSENTIAL_MIN, important_min: int = RAR_IMPORTANT_MIN) -> tuple[list[dict], int]:
    """(rubric items in the schema's shape, number of source items that could not be imported)."""
    if set(category_weights) != set(RUBRIC_CATEGORIES):
        raise ValueError(f"category_weights must cover exactly {RUBRIC_CATEGORIES}")
    if not isinstance(items, (list, tuple)):
        return [], 0 if items is None else 1
    imported, skipped = [], 0
    for item in items:
        weight = item.get("weight") if isinstance(item, Mapping) else None
        description = _text_or_none(item.get("description")) if isinstance(item, Mapping) else None
        if description is None or isinstance(weight, bool) or not isinstance(weight, numbers.Integral):
            skipped += 1
            continue
        category = rubric_category(int(weight), essential_min, important_min)
        title = _text_or_none(item.get("title")) or description[:60]
        imported.append({"title": title, "description": description, "category": category,
                         "weight": float(category_weights[category]), "source_weight": int(weight)})
    return imported, skipped


def adapt_rar_science(record: dict, category_weights: Mapping[str, float] = CATEGORY_WEIGHTS) -> dict | Rejected:
    """RaR-Science: question, reference_answer, question_source, rubric [{title, description, weight}]."""
    rubrics, skipped = import_rubric(record.get("rubric"), category_weights)
    used = ["question", "reference_answer", "question_source"] + ([] if skipped else ["rubric"])
    return _question("rar_science", record, record.get("question"), used,
                     reference_answer=record.get("reference_answer"), source_category=record.get("question_source"),
                     rubrics=rubrics or None, rubric_source="imported" if rubrics else None)


# --------------------------------------------------------------------------- MMLU

def iter_mmlu_csv(path: str | os.PathLike) -> Iterator[dict]:
    """Raw records of an MMLU CSV (no header: question, A, B, C, D, answer letter).

    Each gets ``subject`` from the file name (``college_physics_test.csv`` -> ``college_physics``)
    and ``id`` "<file stem>:<row>" (0-based), the row's stable identity in the published file.
    A row with another number of columns keeps its cells under ``cells`` (the adapter rejects it).
    """
    stem = os.path.splitext(os.path.basename(str(path)))[0]
    subject = stem.rsplit("_", 1)[0] if stem.endswith(("_test", "_val", "_dev")) else stem
    with open(path, newline="", encoding="utf-8") as handle:
        for row_index, row in enumerate(csv.reader(handle)):
            record: dict[str, Any] = {"id": f"{stem}:{row_index}", "subject": subject}
            if len(row) == 6:
                record.update(zip(("question", "A", "B", "C", "D", "answer"), row))
            else:
                record["cells"] = row
            yield record


def adapt_mmlu(record: dict) -> dict | Rejected:
    """MMLU row: question, options A-D (or a ``choices`` list), answer letter (or 0-based index), subject."""
    if isinstance(record.get("choices"), (list, tuple)):
        choices = [str(c) for c in record["choices"]]
        used = ["question", "choices", "answer", "subject"]
    else:
        letters = [letter for letter in OPTION_LETTERS if letter in record]
        choices = [str(record[letter]) for letter in letters]
        used = ["question", "answer", "subject", *letters]
    if isinstance(record.get("question"), str) and record["question"].strip() and len(choices) < 2:
        return Rejected("missing_choices", f"mmlu: {len(choices)} options")
    answer = record.get("answer")
    if isinstance(answer, numbers.Integral) and not isinstance(answer, bool) and 0 <= answer < len(choices):
        answer = OPTION_LETTERS[answer]
    return _question("mmlu", record, record.get("question"), used, reference_answer=answer,
                     source_category=record.get("subject"), choices=choices)


# --------------------------------------------------------------------------- any other layout

GENERIC_TARGETS = ("question", "reference_answer", "answer_unit", "source_id", "source_category", "choices")


def generic_adapter(mapping: Mapping[str, str | Sequence[str]], source: str = "generic") -> Adapter:
    """An adapter driven by a column mapping ``{target: source column}``.

    Targets: ``question`` (required), ``reference_answer``, ``answer_unit`` (a column holding the
    answer's unit, possibly with a scale: SciBench's ``unit`` "10^{-19} J"; appended to the answer,
    so "1.6" and "10^{-19} J" read as 1.6e-19 J), ``source_id`` (the record's own id column),
    ``source_category`` (the label the subject table maps), ``choices`` (one column holding a
    list, or a list of option columns such as ``["A", "B", "C", "D"]``).
    """
    unknown = set(mapping) - set(GENERIC_TARGETS)
    if unknown:
        raise ValueError(f"unknown mapping targets {sorted(unknown)}; expected some of {GENERIC_TARGETS}")
    if "question" not in mapping:
        raise ValueError("the mapping needs a 'question' column")
    if not source or not isinstance(source, str):
        raise ValueError("the generic adapter needs a source name")
    choice_spec = mapping.get("choices")

    def adapt(record: dict) -> dict | Rejected:
        used = [column for target, column in mapping.items() if target != "choices"]
        choices = None
        if isinstance(choice_spec, str):
            value = record.get(choice_spec)
            choices = [str(c) for c in value] if isinstance(value, (list, tuple)) and value else None
            used.append(choice_spec)
        elif choice_spec:
            present = [column for column in choice_spec if record.get(column) is not None]
            choices = [str(record[column]) for column in present] or None
            used.extend(choice_spec)
        native = _text_or_none(record.get(mapping["source_id"])) if "source_id" in mapping else None
        answer = record.get(mapping["reference_answer"]) if "reference_answer" in mapping else None
        unit = _text_or_none(record.get(mapping["answer_unit"])) if "answer_unit" in mapping else None
        if unit and isinstance(answer, (str, int, float)) and not isinstance(answer, bool) and str(answer).strip():
            answer = f"{answer} {unit}"
        category = record.get(mapping["source_category"]) if "source_category" in mapping else None
        return _question(source, record, record.get(mapping["question"]), used, native_id=native,
                         reference_answer=answer, source_category=category, choices=choices)

    adapt.__name__ = f"generic_adapter_{source}"
    adapt.__doc__ = f"Generic adapter for source {source!r} with mapping {dict(mapping)!r}."
    return adapt


ADAPTERS: dict[str, Adapter] = {
    "webinstruct_verified": adapt_webinstruct_verified,
    "natural_reasoning": adapt_natural_reasoning,
    "megascience": adapt_megascience,
    "rar_science": adapt_rar_science,
    "mmlu": adapt_mmlu,
    "gsm8k": adapt_gsm8k,
}

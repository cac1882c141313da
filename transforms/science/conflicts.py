"""Answer conflicts within a duplicate group of Dr. SCI questions.

A duplicate group (exact or MinHash near-duplicate questions, found by ``transforms.dedup``)
collapses to one question when its answers agree, and disappears when they do not:

* the verifiable members' answers are compared with ``answers.answers_equivalent`` (canonical
  forms, typed by ``answer_type``). Identical canonical strings are one answer; distinct ones
  are compared pairwise, so a group of hundreds of copies costs a handful of checks;
* when every pair is equivalent, one member is kept: verifiable before open-ended (it carries
  a checkable answer), then the smallest id. The others leave as ``Rejected('duplicate',
  'kept <id>')``; the pipeline routes that reason to the dedup removal list, not to rejects;
* when some pair is not equivalent, every member, open-ended ones included, is rejected as
  ``answer_conflict`` with the competing answers (canonical form and the ids giving each) in the
  detail as JSON: with two sources disagreeing, neither reference can be trusted;
* a group without verifiable members keeps its smallest id (open-ended answers are not
  compared: two correct essays rarely share words).
"""
from __future__ import annotations

import json
from typing import Callable, Sequence

from transforms.records import Rejected
from transforms.science.answers import DEFAULT_REL_TOL, answers_equivalent, read_answer

Equivalence = Callable[[str, str, str | None], bool]


def _default_equivalence(rel_tol: float) -> Equivalence:
    return lambda a, b, answer_type: answers_equivalent(a, b, answer_type, rel_tol)


def answer_of(question: dict) -> tuple[str, str] | None:
    """(answer_type, canonical answer) of a verifiable question, reading the reference when the
    split stage has not run yet; None for open-ended."""
    if question.get("split") == "open_ended":
        return None
    if question.get("answer_type") and question.get("answer_canonical"):
        return question["answer_type"], question["answer_canonical"]
    if question.get("split") == "verifiable" or question.get("reference_answer") is not None:
        reading = read_answer(question.get("reference_answer"))
        if reading is not None:
            return reading.answer_type, reading.canonical
    return None


def _answer_classes(answers: Sequence[tuple[str, str]], equivalent: Equivalence) -> list[tuple[str, str]]:
    """Distinct answers, one representative per class of equivalent ones (in first-seen order)."""
    classes: list[tuple[str, str]] = []
    for answer_type, canonical in dict.fromkeys(answers):
        if not any(equivalent(canonical, other, answer_type if answer_type == other_type else None)
                   for other_type, other in classes):
            classes.append((answer_type, canonical))
    return classes


def resolve_duplicates(group: Sequence[dict], *, rel_tol: float = DEFAULT_REL_TOL,
                       equivalent: Equivalence | None = None) -> tuple[list[dict], list[tuple[dict, Rejected]]]:
    """``(kept, rejected)`` for one duplicate group: at most one kept question, every other member
    paired with its ``Rejected`` (``duplicate`` or ``answer_conflict``)."""
    if not group:
        return [], []
    equivalent = equivalent or _default_equivalence(rel_tol)
    answers = {id(question): answer_of(question) for question in group}
    verifiable = [(question, answers[id(question)]) for question in group if answers[id(question)] is not None]
    classes = _answer_classes([answer for _, answer in verifiable], equivalent)
    if len(classes) > 1:
        competing: dict[str, list[str]] = {}
        for question, (_, canonical) in verifiable:
            competing.setdefault(canonical, []).append(str(question.get("id")))
        detail = json.dumps({"answers": {canonical: sorted(ids) for canonical, ids in sorted(competing.items())},
                             "group_size": len(group)}, ensure_ascii=False, sort_keys=True)
        return [], [(question, Rejected("answer_conflict", detail)) for question in group]
    kept = min(group, key=lambda q: (answers[id(q)] is None, str(q.get("id"))))
    kept_id = str(kept.get("id"))
    rejected = [(question, Rejected("duplicate", f"kept {kept_id}")) for question in group if question is not kept]
    return [kept], rejected

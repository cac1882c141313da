"""Duplicate groups of Dr. SCI questions: which copies collapse, which are distinct, which conflict.

``transforms.dedup`` finds a group (exact copies of a question and its MinHash near-duplicates, all
keyed on ``dedup_text``); ``resolve_duplicates`` decides it in two levels:

* **exact copies** (equal ``dedup_text`` under ``EXACT_NORMALIZATION``: the same stem and the same
  *set* of options, in any order, up to case, whitespace and typographic quotes; symbols count)
  are one question. Their answers are compared (below); when
  they agree, one copy is kept. When they do not, the answer given by a strict majority of the
  copies wins and the others leave as ``minority_answer`` rejects; without a majority every
  copy is rejected ``answer_conflict`` with all the answers (and the ids giving each) in the
  detail as JSON: with sources disagreeing and no majority, no reference can be trusted.
* **near-duplicates** (different texts: templated variants, questions sharing a passage, an MCQ
  and its free-form copy) are distinct questions unless their answers are equivalent. Copies
  with equivalent answers collapse to one; copies with different answers all stay, each listing
  the others in ``near_duplicate_ids``.

Answers are compared as a checker would grade them (``answers.answers_equivalent``): a
multiple-choice question by the text of its correct option, never its letter (options may be
ordered differently, and a free-form copy has no letters), read as a number, expression, ...
when it is one, else compared as normalized text. Identical canonical strings are one answer,
so a group of hundreds of copies costs a handful of checks. Open-ended copies (no checkable
answer) never decide anything: they collapse into a verifiable copy (the one whose correct option
text their reference names, else the smallest id), or, in a group without verifiable members,
into the smallest id.

A copy that leaves as a duplicate is ``Rejected('duplicate', 'kept <id>')``; the pipeline routes
that reason to the dedup removal list, not to rejects.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from typing import Callable, Sequence

from transforms.dedup.exact import TextNormalization, content_key
from transforms.records import Rejected
from transforms.science.adapters import OPTION_LETTERS
from transforms.science.answers import DEFAULT_REL_TOL, answers_equivalent, read_answer

Equivalence = Callable[[str, str, str | None], bool]
Answer = tuple[str, str]  # (answer type, canonical form); type "option_text" for an option read as text

OPTION_TEXT = "option_text"
# Exact copies keep their symbols: "J << a" and "J >> a", "Q(sqrt(2)*sqrt(3))" and "Q(sqrt(2), sqrt(3))"
# are different questions (MMLU holds both pairs), which the default punctuation-free key merges.
EXACT_NORMALIZATION = TextNormalization(strip_punctuation=False)
# typographic quotes and dashes are the same character for comparison
_TYPOGRAPHIC = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", "\u201c": '"',
                              "\u201d": '"', "\u201f": '"', "\u2033": '"', "\u2013": "-", "\u2014": "-",
                              "\u2212": "-"})


def _default_equivalence(rel_tol: float) -> Equivalence:
    return lambda a, b, answer_type: answers_equivalent(a, b, answer_type, rel_tol)


def question_stem(question: dict) -> str:
    """The question text without its rendered options (the "A. ..." lines the adapters append)."""
    text, choices = question.get("question") or "", question.get("choices") or []
    head, sep, tail = text.rpartition("\n\n")
    lines = tail.split("\n")
    if sep and choices and len(lines) == len(choices) and all(
            line.startswith(f"{OPTION_LETTERS[i]}. ") for i, line in enumerate(lines) if i < len(OPTION_LETTERS)):
        return head
    return text


def dedup_text(question: dict) -> str:
    """What dedup compares: the stem, then the options sorted (so a reordered copy is an exact copy)."""
    choices = [c.translate(_TYPOGRAPHIC) for c in question.get("choices") or [] if isinstance(c, str)]
    stem = question_stem(question).translate(_TYPOGRAPHIC)
    return stem + ("\n\n" + "\n".join(sorted(choices, key=_plain)) if choices else "")


def _plain(text: str) -> str:
    """Text compared as text: NFKC, typographic quotes and dashes as ASCII, casefolded, whitespace
    collapsed, final period dropped."""
    text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHIC)
    return re.sub(r"\s+", " ", text).strip().rstrip(".").strip().casefold()


def _correct_option(question: dict, letter: str) -> str | None:
    choices = question.get("choices") or []
    index = OPTION_LETTERS.find(letter.strip("() ").upper()) if letter else -1
    if 0 <= index < len(choices) and isinstance(choices[index], str) and choices[index].strip():
        return choices[index]
    return None


def answer_of(question: dict) -> Answer | None:
    """The answer a copy is compared on: ``(answer_type, canonical)`` of a verifiable question (the
    reference is read when the split stage has not run yet); for a multiple-choice question with its
    options, the correct option's text (read as a typed answer when it is one, else
    ``("option_text", normalized text)``). None for open-ended."""
    if question.get("split") == "open_ended":
        return None
    answer: Answer | None = None
    if question.get("answer_type") and question.get("answer_canonical"):
        answer = question["answer_type"], question["answer_canonical"]
    elif question.get("split") == "verifiable" or question.get("reference_answer") is not None:
        reading = read_answer(question.get("reference_answer"))
        if reading is not None:
            answer = reading.answer_type, reading.canonical
    if answer is not None and answer[0] == "multiple_choice":
        option = _correct_option(question, answer[1])
        if option is not None:
            reading = read_answer(option)
            if reading is not None and reading.answer_type != "multiple_choice":
                return reading.answer_type, reading.canonical
            return OPTION_TEXT, _plain(option)
    return answer


def _same(a: Answer, b: Answer, equivalent: Equivalence) -> bool:
    if a[1] == b[1]:
        return True
    if OPTION_TEXT in (a[0], b[0]):
        return False  # text options are equal as text or not at all
    return equivalent(a[1], b[1], a[0] if a[0] == b[0] else None)


def _answer_classes(answers: Sequence[Answer], equivalent: Equivalence) -> list[list[int]]:
    """Indexes of ``answers`` grouped into classes of equivalent ones (classes in first-seen order)."""
    representatives: list[Answer] = []
    classes: list[list[int]] = []
    known: dict[Answer, int] = {}
    for i, answer in enumerate(answers):
        if answer not in known:
            known[answer] = next((c for c, rep in enumerate(representatives) if _same(answer, rep, equivalent)), -1)
            if known[answer] < 0:
                known[answer] = len(representatives)
                representatives.append(answer)
                classes.append([])
        classes[known[answer]].append(i)
    return classes


def _keep_order(question: dict, answer: Answer | None) -> tuple:
    return answer is None, str(question.get("id"))


def _conflict_detail(copies: Sequence[tuple[dict, Answer]], group_size: int, **extra) -> str:
    competing: dict[str, list[str]] = {}
    for question, (_, canonical) in copies:
        competing.setdefault(canonical, []).append(str(question.get("id")))
    return json.dumps({"answers": {canonical: sorted(ids) for canonical, ids in sorted(competing.items())},
                       "group_size": group_size, **extra}, ensure_ascii=False, sort_keys=True)


def _resolve_exact(copies: list[dict], answers: dict[int, Answer | None], group_size: int, equivalent: Equivalence
                   ) -> tuple[dict | None, list[tuple[dict, Rejected]]]:
    """One exact class -> (the copy that stands for it or None, the others' verdicts)."""
    verifiable = [(q, answers[id(q)]) for q in copies if answers[id(q)] is not None]
    classes = _answer_classes([a for _, a in verifiable], equivalent)
    verdicts: list[tuple[dict, Rejected]] = []
    if len(classes) > 1:
        largest = max(classes, key=len)
        if 2 * len(largest) <= len(verifiable):
            detail = _conflict_detail(verifiable, group_size)
            return None, [(q, Rejected("answer_conflict", detail)) for q in copies]
        winners = {id(verifiable[i][0]) for i in largest}
        detail = _conflict_detail(verifiable, group_size, majority=verifiable[largest[0]][1][1])
        verdicts = [(q, Rejected("minority_answer", detail)) for q, _ in verifiable if id(q) not in winners]
        copies = [q for q in copies if answers[id(q)] is None or id(q) in winners]
    kept = min(copies, key=lambda q: _keep_order(q, answers[id(q)]))
    verdicts += [(q, Rejected("duplicate", f"kept {kept.get('id')}")) for q in copies if q is not kept]
    return kept, verdicts


def resolve_duplicates(group: Sequence[dict], *, rel_tol: float = DEFAULT_REL_TOL,
                       equivalent: Equivalence | None = None) -> tuple[list[dict], list[tuple[dict, Rejected]]]:
    """``(kept, rejected)`` for one duplicate group: the kept questions (one per distinct answer; each
    with ``near_duplicate_ids`` when several stay) and every other member paired with its ``Rejected``
    (``duplicate``, ``minority_answer`` or ``answer_conflict``)."""
    if not group:
        return [], []
    equivalent = equivalent or _default_equivalence(rel_tol)
    answers = {id(question): answer_of(question) for question in group}
    exact_classes: dict[str, list[dict]] = {}
    for question in group:
        exact_classes.setdefault(content_key(dedup_text(question), EXACT_NORMALIZATION), []).append(question)
    rejected: list[tuple[dict, Rejected]] = []
    standing: list[dict] = []
    for copies in exact_classes.values():
        kept, verdicts = _resolve_exact(copies, answers, len(group), equivalent)
        rejected += verdicts
        if kept is not None:
            standing.append(kept)
    if not standing:
        return [], rejected
    verifiable = sorted((q for q in standing if answers[id(q)] is not None), key=lambda q: str(q.get("id")))
    open_ended = [q for q in standing if answers[id(q)] is None]
    if not verifiable:
        kept_questions = [min(open_ended, key=lambda q: str(q.get("id")))]
        open_ended = [q for q in open_ended if q is not kept_questions[0]]
    else:
        classes = _answer_classes([answers[id(q)] for q in verifiable], equivalent)
        kept_questions = [verifiable[members[0]] for members in classes]  # smallest id of each class
        for members in classes:
            rejected += [(verifiable[i], Rejected("duplicate", f"kept {verifiable[members[0]].get('id')}"))
                         for i in members[1:]]
    best = min(kept_questions, key=lambda q: str(q.get("id")))
    for q in open_ended:  # folds into the copy whose correct option it names, else the smallest id
        text = (OPTION_TEXT, _plain(q["reference_answer"])) if isinstance(q.get("reference_answer"), str) else None
        into = next((k for k in kept_questions if text is not None and answers[id(k)] == text), best)
        rejected.append((q, Rejected("duplicate", f"kept {into.get('id')}")))
    if len(kept_questions) > 1:
        ids = sorted(str(q.get("id")) for q in kept_questions)
        kept_questions = [{**q, "near_duplicate_ids": [i for i in ids if i != str(q.get("id"))]}
                          for q in kept_questions]
    return sorted(kept_questions, key=lambda q: str(q.get("id"))), rejected

"""Conflict resolution inside duplicate groups."""
import json
import time

from transforms.records import Rejected
from transforms.science.answers import assign_split
from transforms.science.conflicts import answer_of, resolve_duplicates


def question(qid, answer, subject="physics"):
    """A question after the split stage."""
    return assign_split({"id": qid, "question": "A ball falls for 1 s from rest. What is its speed?",
                         "reference_answer": answer, "subject": subject, "split": None, "answer_type": None,
                         "answer_canonical": None})


def test_equivalent_answers_collapse_to_the_smallest_id():
    group = [question("c3", "9.8 m/s"), question("a1", "$9.8\\ \\text{m/s}$"), question("b2", "9.81 m/s")]
    kept, rejected = resolve_duplicates(group)
    assert [q["id"] for q in kept] == ["a1"]
    assert sorted((q["id"], r) for q, r in rejected) == [("b2", Rejected("duplicate", "kept a1")),
                                                         ("c3", Rejected("duplicate", "kept a1"))]


def test_conflicting_answers_reject_every_copy():
    group = [question("a1", "9.8 m/s"), question("b2", "4.9 m/s"), question("c3", "9.8 m/s"),
             question("d4", "It speeds up because gravity pulls it down.")]
    kept, rejected = resolve_duplicates(group)
    assert kept == []
    assert [q["id"] for q, _ in rejected] == ["a1", "b2", "c3", "d4"]
    assert {r.reason for _, r in rejected} == {"answer_conflict"}
    detail = json.loads(rejected[0][1].detail)
    assert detail == {"answers": {"4.9 m/s": ["b2"], "9.8 m/s": ["a1", "c3"]}, "group_size": 4}


def test_units_and_forms_are_compared_by_the_checker():
    kept, rejected = resolve_duplicates([question("a", "1.5 km"), question("b", "1500 m"), question("c", "1.50 km")])
    assert [q["id"] for q in kept] == ["a"] and len(rejected) == 2
    kept, _ = resolve_duplicates([question("a", "\\frac{1}{2}"), question("b", "0.5")])
    assert len(kept) == 1
    kept, rejected = resolve_duplicates([question("a", "(B)"), question("b", "C")])
    assert kept == [] and rejected[0][1].reason == "answer_conflict"


def test_open_ended_groups_keep_one():
    group = [question("b", "Because air resistance is negligible."), question("a", "Gravity accelerates it.")]
    kept, rejected = resolve_duplicates(group)
    assert [q["id"] for q in kept] == ["a"] and rejected[0][1] == Rejected("duplicate", "kept a")


def test_a_verifiable_copy_is_kept_before_open_ended_ones():
    group = [question("a", "It moves faster and faster."), question("z", "9.8 m/s")]
    kept, rejected = resolve_duplicates(group)
    assert [q["id"] for q in kept] == ["z"] and [q["id"] for q, _ in rejected] == ["a"]


def test_questions_before_the_split_stage_are_read_on_the_fly():
    raw = [{"id": "a", "reference_answer": "3.0 m/s"}, {"id": "b", "reference_answer": "3 m/s"}]
    assert answer_of(raw[0]) == ("numeric", "3 m/s")
    kept, _ = resolve_duplicates(raw)
    assert [q["id"] for q in kept] == ["a"]


def test_large_groups_of_identical_answers_are_cheap():
    group = [question(f"q{i:04d}", "9.8 m/s" if i % 2 else "9.80 m/s") for i in range(500)]
    started = time.perf_counter()
    kept, rejected = resolve_duplicates(group)
    assert [q["id"] for q in kept] == ["q0000"] and len(rejected) == 499
    assert time.perf_counter() - started < 2.0


def test_custom_equivalence_and_empty_group():
    assert resolve_duplicates([]) == ([], [])
    never = resolve_duplicates([question("a", "1"), question("b", "2")], equivalent=lambda a, b, t: False)
    assert never[0] == [] and never[1][0][1].reason == "answer_conflict"
    # identical canonical answers are one answer without asking the checker
    same = resolve_duplicates([question("a", "1"), question("b", "1.0")], equivalent=lambda a, b, t: False)
    assert [q["id"] for q in same[0]] == ["a"]

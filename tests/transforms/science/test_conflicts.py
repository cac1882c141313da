"""Conflict resolution inside duplicate groups."""
import json
import time

from transforms.records import Rejected
from transforms.science.answers import assign_split
from transforms.science.conflicts import answer_of, dedup_text, question_stem, resolve_duplicates


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


def test_exact_copies_disagreeing_go_by_the_majority():
    group = [question("a1", "9.8 m/s"), question("b2", "4.9 m/s"), question("c3", "9.80 m/s"),
             question("d4", "It speeds up because gravity pulls it down.")]
    kept, rejected = resolve_duplicates(group)
    assert [q["id"] for q in kept] == ["a1"] and kept[0].get("near_duplicate_ids") is None
    verdicts = {q["id"]: r for q, r in rejected}
    assert verdicts["c3"] == Rejected("duplicate", "kept a1") and verdicts["d4"] == Rejected("duplicate", "kept a1")
    assert verdicts["b2"].reason == "minority_answer"
    assert json.loads(verdicts["b2"].detail) == {"answers": {"4.9 m/s": ["b2"], "9.8 m/s": ["a1", "c3"]},
                                                 "group_size": 4, "majority": "9.8 m/s"}


def test_exact_copies_without_a_majority_reject_every_copy():
    group = [question("a1", "9.8 m/s"), question("b2", "4.9 m/s"),
             question("d4", "It speeds up because gravity pulls it down.")]
    kept, rejected = resolve_duplicates(group)
    assert kept == [] and [q["id"] for q, _ in rejected] == ["a1", "b2", "d4"]
    assert {r.reason for _, r in rejected} == {"answer_conflict"}
    assert json.loads(rejected[0][1].detail) == {"answers": {"4.9 m/s": ["b2"], "9.8 m/s": ["a1"]}, "group_size": 3}


def test_units_and_forms_are_compared_by_the_checker():
    kept, rejected = resolve_duplicates([question("a", "1.5 km"), question("b", "1500 m"), question("c", "1.50 km")])
    assert [q["id"] for q in kept] == ["a"] and len(rejected) == 2
    kept, _ = resolve_duplicates([question("a", "\\frac{1}{2}"), question("b", "0.5")])
    assert len(kept) == 1
    kept, rejected = resolve_duplicates([question("a", "(B)"), question("b", "C")])  # letters without options
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
    assert never[0] == [] and never[1][0][1].reason == "answer_conflict"  # two copies, 1 vs 1: no majority
    # identical canonical answers are one answer without asking the checker
    same = resolve_duplicates([question("a", "1"), question("b", "1.0")], equivalent=lambda a, b, t: False)
    assert [q["id"] for q in same[0]] == ["a"]


# --------------------------------------------------------------------------- near-duplicates and MCQ
# Real shapes: templated variants (GSM8K-style numbers changed), questions sharing a passage, an MMLU
# question with its options reordered, and the same question asked free-form.

def templated(qid, speed, hours, answer):
    return assign_split({"id": qid, "question": f"A train travels at {speed} km/h for {hours} hours. How far does "
                                                 "it travel in kilometres?",
                         "reference_answer": answer, "split": None, "answer_type": None, "answer_canonical": None})


def mcq(qid, stem, choices, letter):
    from transforms.science.adapters import render_choices
    return assign_split({"id": qid, "question": render_choices(stem, choices), "choices": choices,
                         "reference_answer": letter, "split": None, "answer_type": None, "answer_canonical": None})


STEM = "Which organelle is the site of aerobic respiration in eukaryotic cells?"
OPTIONS = ["Ribosome", "Mitochondrion", "Golgi apparatus", "Lysosome"]


def test_near_duplicates_with_different_answers_are_distinct_questions():
    group = [templated("t1", 60, 3, "180 km"), templated("t2", 80, 3, "240 km"), templated("t3", 60, 3, "180")]
    # t1/t3 are exact copies with equivalent answers; t2 is a templated variant with its own answer
    kept, rejected = resolve_duplicates(group)
    assert [q["id"] for q in kept] == ["t1", "t2"]
    assert kept[0]["near_duplicate_ids"] == ["t2"] and kept[1]["near_duplicate_ids"] == ["t1"]
    assert [(q["id"], r) for q, r in rejected] == [("t3", Rejected("duplicate", "kept t1"))]


def test_near_duplicates_with_equivalent_answers_collapse():
    a = templated("a", 60, 3, "180 km")
    b = {**templated("b", 60, 3, "1.8 \\times 10^{5} m"), "question": a["question"].replace("travels", "moves")}
    kept, rejected = resolve_duplicates([b, a])
    assert [q["id"] for q in kept] == ["a"] and [(q["id"], r.reason) for q, r in rejected] == [("b", "duplicate")]


def test_mcq_copies_with_reordered_options_compare_the_option_text():
    first = mcq("m1", STEM, OPTIONS, "B")
    reordered = mcq("m2", STEM, ["Mitochondrion", "Lysosome", "Ribosome", "Golgi apparatus"], "A")
    assert dedup_text(first) == dedup_text(reordered)  # one exact key: stem + the set of options
    kept, rejected = resolve_duplicates([reordered, first])
    assert [q["id"] for q in kept] == ["m1"] and rejected == [(reordered, Rejected("duplicate", "kept m1"))]
    # the same letter pointing at a different option is a different answer, not a copy
    wrong = mcq("m3", STEM, ["Mitochondrion", "Lysosome", "Ribosome", "Golgi apparatus"], "B")
    kept, rejected = resolve_duplicates([first, wrong])
    assert kept == [] and {r.reason for _, r in rejected} == {"answer_conflict"}


def test_an_mcq_and_its_free_form_copy_match_on_the_option_text():
    choice = mcq("m1", STEM, OPTIONS, "B")
    free = assign_split({"id": "f1", "question": STEM, "reference_answer": "Mitochondrion.", "split": None,
                         "answer_type": None, "answer_canonical": None})
    assert answer_of(choice) == ("option_text", "mitochondrion") and answer_of(free) is None  # open-ended
    kept, rejected = resolve_duplicates([free, choice])
    assert [q["id"] for q in kept] == ["m1"] and rejected == [(free, Rejected("duplicate", "kept m1"))]
    # with two distinct MCQ variants kept, the free-form copy folds into the one whose option it names
    variant = mcq("a0", STEM + " (Choose one.)", ["Chloroplast", "Nucleus", "Vacuole", "Ribosome"], "B")
    kept, rejected = resolve_duplicates([free, choice, variant])
    assert [q["id"] for q in kept] == ["a0", "m1"] and rejected == [(free, Rejected("duplicate", "kept m1"))]
    # typed options (numbers with units) are compared by the checker, against a free-form number too
    numeric = mcq("m2", "A ball falls for 1 s from rest. What is its speed?", ["4.9 m/s", "9.8 m/s", "19.6 m/s"], "B")
    kept, rejected = resolve_duplicates([numeric, question("n1", "9.81 m/s")])
    assert [q["id"] for q in kept] == ["m2"] and [q["id"] for q, _ in rejected] == ["n1"]
    kept, rejected = resolve_duplicates([numeric, question("n2", "19.6 m/s")])
    assert [q["id"] for q in kept] == ["m2", "n2"] and rejected == []


def test_the_rendered_options_are_not_part_of_the_stem():
    q = mcq("m1", STEM, OPTIONS, "B")
    assert question_stem(q) == STEM
    assert question_stem({"question": "What is 2+2?\n\nShow your work.", "choices": None}) == \
        "What is 2+2?\n\nShow your work."


def test_symbols_make_different_questions_and_typographic_quotes_do_not():
    # two MMLU college_chemistry questions that differ only in "<<" / ">>", with different answers
    stem = ("Nitronyl nitroxides are stable radicals in which the unpaired electron is coupled to two equivalent "
            "nitrogen nuclei. How many lines will appear in the EPR spectrum of a solution of a rigid nitronyl "
            "nitroxide diradical with J {} a?")
    lines = ["3 lines", "9 lines", "5 lines", "7 lines"]
    weak, strong = mcq("w", stem.format("<<"), lines, "B"), mcq("s", stem.format(">>"), lines, "D")
    assert dedup_text(weak) != dedup_text(strong)
    kept, rejected = resolve_duplicates([weak, strong])
    assert [q["id"] for q in kept] == ["s", "w"] and rejected == []
    curly = mcq("c", "Which answer is the school\u2019s?", ["the school\u2019s concerns", "none"], "A")
    straight = mcq("t", "Which answer is the school's?", ["the school's concerns", "none"], "A")
    assert dedup_text(curly) == dedup_text(straight)
    kept, rejected = resolve_duplicates([curly, straight])
    assert [q["id"] for q in kept] == ["c"] and [(q["id"], r.reason) for q, r in rejected] == [("t", "duplicate")]

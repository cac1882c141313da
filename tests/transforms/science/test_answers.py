"""The answer checker: classification and canonical forms on a table of real-looking reference
answers, equivalence, the split stage, and the symbolic time limit."""
import time

import pytest

from schemas.science import ANSWER_TYPES
from transforms.records import Rejected
from transforms.science.answers import (
    SymbolicTimeout,
    answers_equivalent,
    assign_split,
    classify_answer,
    normalize_answer,
    parse_unit,
    read_answer,
    split_of,
    time_limit,
)

# (reference answer as sources write it, expected answer_type or None for open-ended, canonical)
ANSWER_TABLE = [
    # numbers, with and without units
    ("42", "numeric", "42"),
    ("-7", "numeric", "-7"),
    ("3.0 m/s", "numeric", "3 m/s"),
    ("0.50 M", "numeric", "0.5 M"),
    ("1,500", "numeric", "1500"),
    ("1.5e-3", "numeric", "0.0015"),
    ("$6.02 \\times 10^{23}$", "numeric", "6.02e+23"),
    ("6.022 x 10^23 mol^-1", "numeric", "6.022e+23 mol^-1"),
    ("10^{-3}", "numeric", "0.001"),
    ("1.6 10^{-19} J", "numeric", "1.6e-19 J"),  # a scale written without the times sign
    ("-3.2 10^{5} m/s", "numeric", "-320000 m/s"),
    ("$9.8 \\text{ m/s}^2$", "numeric", "9.8 m/s^2"),
    ("9.8 m s^-2", "numeric", "9.8 m/s^2"),
    ("9.8 m/s²", "numeric", "9.8 m/s^2"),
    ("25 \\, \\mathrm{kJ/mol}", "numeric", "25 kJ/mol"),
    ("8.314 J/(mol K)", "numeric", "8.314 J/(mol*K)"),
    ("\\Delta H = -285.8 kJ/mol", "numeric", "-285.8 kJ/mol"),
    ("F = ma = 10 N", "numeric", "10 N"),
    ("x = 5", "numeric", "5"),
    ("45\\%", "numeric", "45 %"),
    ("\\$1,250", "numeric", "1250 $"),
    ("25^\\circ C", "numeric", "25 °C"),
    ("90°", "numeric", "90 °"),
    ("300 K", "numeric", "300 K"),
    ("5 meters per second", "numeric", "5 m/s"),
    ("2 moles", "numeric", "2 mol"),
    ("4 electrons", "numeric", "4 electron"),
    ("\\approx 3.14", "numeric", "3.14"),
    ("The answer is \\boxed{12}", "numeric", "12"),
    # LaTeX fractions and other exact numbers
    ("\\frac{1}{2}", "numeric", "1/2"),
    ("\\dfrac{2}{4}", "numeric", "1/2"),
    ("-\\frac{3}{4}", "numeric", "-3/4"),
    ("$\\boxed{\\frac{3}{4}}$", "numeric", "3/4"),
    ("3/4", "numeric", "3/4"),
    ("2^{10}", "numeric", "1024"),
    # expressions
    ("x^2 + 2x + 1", "expression", "x**2 + 2*x + 1"),
    ("\\frac{\\sqrt{2}}{2}", "expression", "sqrt(2)/2"),
    ("2\\pi r", "expression", "2*pi*r"),
    ("y = 3x + 2", "expression", "3*x + 2"),
    ("sqrt(2)/2", "expression", "sqrt(2)/2"),
    ("\\sin^2 x + \\cos^2 x", "expression", "sin(x)**2 + cos(x)**2"),
    ("x > 2", "expression", "x > 2"),
    # option keys
    ("B", "multiple_choice", "B"),
    ("(B)", "multiple_choice", "B"),
    ("Option C", "multiple_choice", "C"),
    ("Answer: (d)", "multiple_choice", "D"),
    ("(C) 600 nm", "multiple_choice", "C"),
    ("B. 500 nm", "multiple_choice", "B"),
    # booleans
    ("True", "boolean", "true"),
    ("yes", "boolean", "true"),
    ("No.", "boolean", "false"),
    ("FALSE", "boolean", "false"),
    # short tuples
    ("(1, 2)", "tuple", "(1, 2)"),
    ("x = 2, y = 3", "tuple", "(2, 3)"),
    ("x = 2 or x = -3", "tuple", "(2, -3)"),
    ("\\{3, 1, 2\\}", "tuple", "{1, 2, 3}"),
    ("A and C", "tuple", "(A, C)"),
    ("3 m/s, 4 m/s", "tuple", "(3 m/s, 4 m/s)"),
    # open-ended: sentences, names, formulas and things the checker cannot verify
    ("The mitochondria is the powerhouse of the cell.", None, None),
    ("It increases, then decreases.", None, None),
    ("Yes, because the reaction is exothermic.", None, None),
    ("Photosynthesis converts light energy into chemical energy stored in glucose.", None, None),
    ("E. coli", None, None),
    ("H_2O", None, None),
    ("NaCl", None, None),
    ("ATP", None, None),
    ("5 apples", None, None),
    ("[0, 1)", None, None),
    ("1, 2, 3, 4, 5, 6, 7", None, None),
    ("x" * 201, None, None),
    ("__import__('os').system('true')", None, None),
]


@pytest.mark.parametrize("answer, answer_type, canonical", ANSWER_TABLE)
def test_classify_answer_table(answer, answer_type, canonical):
    expected = None if answer_type is None else (answer_type, canonical)
    assert classify_answer(answer) == expected
    assert answer_type is None or answer_type in ANSWER_TYPES
    question = {"reference_answer": answer, "subject": "physics"}
    assert split_of(question) == ("open_ended" if answer_type is None else "verifiable")


def test_the_table_is_large_and_covers_every_type():
    assert len(ANSWER_TABLE) >= 30
    assert {row[1] for row in ANSWER_TABLE} == set(ANSWER_TYPES) | {None}


@pytest.mark.parametrize("answer, answer_type, canonical", [row for row in ANSWER_TABLE if row[1]])
def test_canonical_forms_read_back_to_themselves(answer, answer_type, canonical):
    assert classify_answer(canonical) == (answer_type, canonical)
    assert answers_equivalent(answer, canonical)


def test_normalization_is_idempotent():
    for answer, _, _ in ANSWER_TABLE:
        once = normalize_answer(answer)
        assert normalize_answer(once) == once


@pytest.mark.parametrize("unit, canonical", [
    ("m/s^2", "m/s^2"), ("kg m^2 s^-2", "kg*m^2/s^2"), ("J/(mol*K)", "J/(mol*K)"), ("s^-1", "s^-1"),
    ("kilometers per hour", "km/h"), ("square meters", "m^2"), ("μmol", "μmol"), ("mL", "mL"),
])
def test_parse_unit(unit, canonical):
    assert parse_unit(unit).canonical == canonical
    assert parse_unit(canonical).canonical == canonical


@pytest.mark.parametrize("a, b, equivalent", [
    ("3.0 m/s", "3 m/s", True),
    ("9.8 m/s^2", "9.81 m/s^2", True),  # precision-aware: 9.81 rounds to the reference's 9.8
    ("3", "3.4", False),  # integers are exact
    ("1500", "1501", False),
    ("0.33", "1/3", True),
    ("0.3", "1/3", False),  # one significant digit is below min_sig_figs
    ("1.5 km", "1500 m", True),
    ("250 mL", "0.25 L", True),
    ("1 h", "3600 s", True),
    ("3 m", "3 s", False),
    ("25 °C", "298 K", False),  # offset temperatures do not convert
    ("300 K", "300", True),  # a missing unit is not held against a solver
    ("45%", "0.45", True),
    ("\\frac{1}{2}", "0.5", True),
    ("6.02e23", "6.022 \\times 10^{23}", True),
    ("6.02e23", "6.4e23", False),  # 6% off: beyond the default 5% tolerance
    ("(B)", "B", True),
    ("Option B", "C", False),
    ("True", "yes", True),
    ("no", "True", False),
    ("B", "True", False),
    ("x^2+2x+1", "(x+1)^2", True),
    ("x^2+2x+1", "(x-1)^2", False),
    ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", True),
    ("\\frac{\\sqrt{2}}{2}", "0.7071", True),
    ("\\pi", "3.14", True),
    ("\\pi", "3.3", False),
    ("\\sin^2 x + \\cos^2 x", "1", True),
    ("2\\pi r", "\\pi r 2", True),
    ("y = 2x + 1", "2x + 1 = y", True),
    ("x^2 + y^2 = 1", "2x^2 + 2y^2 = 2", True),
    ("x > 2", "2 < x", True),
    ("x > 2", "x < 2", False),
    ("(1, 2)", "(2, 1)", False),
    ("\\{1, 2\\}", "\\{2, 1\\}", True),
    ("x = 2, y = 3", "(2, 3)", True),
    ("\\begin{pmatrix}1 & 2\\\\ 3 & 4\\end{pmatrix}", "\\begin{pmatrix}1 & 2\\\\ 3 & 4\\end{pmatrix}", True),
    ("\\begin{pmatrix}1 & 2\\\\ 3 & 4\\end{pmatrix}", "\\begin{pmatrix}1 & 2\\\\ 3 & 5\\end{pmatrix}", False),
    ("The mitochondria", "the mitochondria.", True),  # open-ended: normalized text equality only
    ("The mitochondria", "The nucleus", False),
    ("The mitochondria", "5", False),
    ("10^{10^{10}}", "1", False),
])
def test_answers_equivalent(a, b, equivalent):
    assert answers_equivalent(a, b) is equivalent
    assert answers_equivalent(b, a) is equivalent


def test_tolerances_are_parameters():
    assert answers_equivalent("100.0", "104.5")  # the default: 5%
    assert not answers_equivalent("100.0", "104.5", rel_tol=0.01)
    assert not answers_equivalent("6.02e23", "6.1e23", rel_tol=1e-3)
    assert not answers_equivalent("\\pi", "3.2", rel_tol=1e-3)
    assert answers_equivalent("9.8", "9.81", rel_tol=1e-4)  # within half a unit of 9.8's last digit
    assert not answers_equivalent("9.8", "9.81", rel_tol=1e-4, min_sig_figs=3)


def test_type_hint_reads_solver_replies():
    assert answers_equivalent("C", "I think the answer is (C) because of entropy", answer_type="multiple_choice")
    assert not answers_equivalent("C", "I think the answer is (D).", answer_type="multiple_choice")
    assert answers_equivalent("true", "Yes, since the process is reversible.", answer_type="boolean")
    assert read_answer("Yes, since ...") is None


def test_time_limit_interrupts_long_work():
    started = time.monotonic()
    with pytest.raises(SymbolicTimeout):
        with time_limit(0.05):
            while True:
                pass
    assert time.monotonic() - started < 1.0
    with time_limit(None):  # no limit: a no-op
        pass


def q(answer, subject="physics", **fields):
    return {"id": "q", "reference_answer": answer, "subject": subject, "split": None, "answer_type": None,
            "answer_canonical": None, **fields}


def test_assign_split_sets_columns():
    out = assign_split(q("$\\frac{1}{2}$ m"))
    assert (out["split"], out["answer_type"], out["answer_canonical"]) == ("verifiable", "numeric", "1/2 m")
    out = assign_split(q("Because the enzyme is denatured at high temperature."))
    assert (out["split"], out["answer_type"], out["answer_canonical"]) == ("open_ended", None, None)


def test_open_ended_mathematics_is_dropped():
    proof = q("By induction on n, the sum telescopes, which proves the claim.", subject="mathematics")
    result = assign_split(proof)
    assert isinstance(result, Rejected) and result.reason == "open_ended_math"
    assert assign_split(proof, drop_open_ended_math=False)["split"] == "open_ended"
    assert assign_split(q("x^2 - 1", subject="mathematics"))["answer_type"] == "expression"


def test_choice_text_answers_become_option_keys():
    question = q("500 nm", choices=["400 nm", "500 nm", "600 nm", "700 nm"])
    out = assign_split(question)
    assert (out["answer_type"], out["answer_canonical"]) == ("multiple_choice", "B")
    words = q("the entropy increases", choices=["the entropy decreases", "The entropy increases."])
    assert assign_split(words)["answer_canonical"] == "B"


def test_works_outside_the_main_thread():
    import threading

    results = []
    worker = threading.Thread(target=lambda: results.append(
        (classify_answer("x^2 + 1"), answers_equivalent("(x+1)^2", "x^2 + 2x + 1"))))
    worker.start()
    worker.join(timeout=30)
    assert results == [(("expression", "x**2 + 1"), True)]


@pytest.mark.parametrize("answer", ["99999!", "\\binom{99999}{500}", "12345678901234567890 x", "10^{10^{10}}"])
def test_explosive_literals_stay_cheap(answer):
    started = time.monotonic()
    reading = classify_answer(answer)
    answers_equivalent(answer, "1")
    assert time.monotonic() - started < 1.0
    assert reading is None or reading[0] == "expression"


# --------------------------------------------------------------------------- batches

BATCH_ANSWERS = ["x^2 + 2x + 1", "\\frac{3}{4}", "12.5 m/s", "y = 3x + 2", "(10**999)**999", "e^{-3t}",
                 "The cell membrane regulates transport.", "(1, 2)", "\\sqrt{2}\\pi", "", None, True]


def test_read_answers_reads_a_batch_exactly_as_one_by_one():
    from transforms.science.answers import read_answer, read_answers

    assert read_answers(BATCH_ANSWERS) == [read_answer(answer) for answer in BATCH_ANSWERS]


def test_read_answers_falls_back_to_one_by_one_when_the_batch_call_fails(monkeypatch):
    from transforms.science import answer_reader
    from transforms.science.answers import SymbolicTimeout, read_answer

    expected = [read_answer(answer) for answer in BATCH_ANSWERS]
    real, targets = answer_reader.run_symbolic, []

    def batch_dies(target, args, timeout):
        targets.append(target)
        if target.endswith("read_symbolic_many"):
            raise SymbolicTimeout("worker killed")
        return real(target, args, timeout)

    monkeypatch.setattr(answer_reader, "run_symbolic", batch_dies)
    assert answer_reader.read_answers(BATCH_ANSWERS) == expected
    assert targets[0].endswith("read_symbolic_many") and len(targets) > 2  # then one call per answer


def test_assign_splits_is_assign_split_of_each_question():
    from transforms.science.answers import assign_split, assign_splits

    questions = [{"id": str(i), "reference_answer": answer, "subject": "mathematics" if i % 2 else "physics"}
                 for i, answer in enumerate(BATCH_ANSWERS)]
    questions.append({"id": "mcq", "reference_answer": "the mitochondria", "subject": "biology",
                      "choices": ["the nucleus", "the mitochondria"]})
    assert assign_splits(questions) == [assign_split(q) for q in questions]
    assert assign_splits(questions, drop_open_ended_math=False) == [
        assign_split(q, drop_open_ended_math=False) for q in questions]

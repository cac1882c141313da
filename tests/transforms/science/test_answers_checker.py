"""The answer checker on real reference answers: tiny and huge numbers, near-equal and rounded
values, units, lists, booleans, and huge expressions from a worker thread.

References are real answers: MMLU options (college/high-school chemistry and physics test
files, quoted as written there), GSM8K test answers (``#### 70000``, ``#### 114,200``), CODATA
constants. Each case fails on the checker before this change (absolute floor 1e-12, relative
tolerance 1e-4, typed answers unread, sympy unbounded in threads).
"""
import os
import threading
import time

import pytest

from transforms.science import symbolic_pool
from transforms.science.answer_check import VerdictStage, verdict_counts
from transforms.science.answers import (
    DEFAULT_REL_TOL,
    DIFFERENT,
    EQUIVALENT,
    UNKNOWN,
    SymbolicLimit,
    SymbolicTimeout,
    answer_verdict,
    check_limits,
    read_answer,
    run_symbolic,
)
from transforms.records import Rejected
from transforms.science.difficulty import rule_verdict


def verdicts_both_ways(reference, candidate):
    return answer_verdict(candidate, reference), answer_verdict(reference, candidate)


# --------------------------------------------------------------------------- tiny numbers: no absolute floor

TINY = ["2.166 x 10^-34 J s",  # MMLU college_chemistry
        "7.4 × 10^-14 mol/L",  # MMLU high_school_chemistry
        "1.602176634e-19 C",  # elementary charge
        "1e-15"]


@pytest.mark.parametrize("reference", TINY)
def test_tiny_references_are_not_zero_their_negative_or_ten_times_themselves(reference):
    number = read_answer(reference).value
    unit = f" {number.unit}" if number.unit else ""
    mantissa = float(number.value)
    for wrong in ("0", f"{-mantissa!r}{unit}", f"{10 * mantissa!r}{unit}", f"{mantissa / 10!r}{unit}"):
        assert verdicts_both_ways(reference, wrong) == (DIFFERENT, DIFFERENT), wrong
    assert verdicts_both_ways(reference, f"{mantissa * 1.01!r}{unit}") == (EQUIVALENT, EQUIVALENT)


def test_zero_only_equals_zero():
    assert answer_verdict("0", "0.0") == EQUIVALENT
    assert answer_verdict("0", "1e-300") == DIFFERENT


# --------------------------------------------------------------------------- huge numbers

@pytest.mark.parametrize("reference, same, off_by_one", [
    ("70000", "70,000", "70001"),  # GSM8K test #3
    ("114,200", "114200", "114201"),  # GSM8K
    ("10000", "10,000", "10001"),  # GSM8K
    ("276,000", "276000.0", "275999"),  # GSM8K
])
def test_large_integers_are_exact(reference, same, off_by_one):
    assert verdicts_both_ways(reference, same) == (EQUIVALENT, EQUIVALENT)
    assert verdicts_both_ways(reference, off_by_one) == (DIFFERENT, DIFFERENT)


def test_visibly_rounded_large_numbers_match_within_their_digits():
    assert answer_verdict("10001", "1.0 \\times 10^4") == EQUIVALENT  # written rounded, 2 digits
    assert answer_verdict("\\approx 10,000", "10001") == EQUIVALENT  # marked approximate
    assert answer_verdict("about 70000", "70400") == EQUIVALENT
    assert answer_verdict("1.0 \\times 10^4", "10600") == DIFFERENT  # 6%: beyond tolerance and digits


def test_numbers_beyond_float_range_compare_exactly():
    assert answer_verdict("1.0e400", "1.0 \\times 10^{400}") == EQUIVALENT
    assert answer_verdict("1e400", "2e400") == DIFFERENT
    assert answer_verdict("1e-400", "0") == DIFFERENT


# --------------------------------------------------------------------------- near-equal and rounded

@pytest.mark.parametrize("reference, candidate, verdict", [
    ("1.97 × 10^-3 M", "1.98e-3 M", EQUIVALENT),  # MMLU high_school_chemistry; 0.5% off
    ("3.691 x 10^-34 J s", "3.71e-34 J s", EQUIVALENT),  # MMLU college_chemistry; 0.5% off
    ("9.9 × 10^-4 M", "1.03e-3 M", EQUIVALENT),  # 4% off: the sets' graders allow 4-5%
    ("9.9 × 10^-4 M", "1.089e-3 M", DIFFERENT),  # 10% off
    ("9.9 × 10^-4 M", "-9.9e-4 M", DIFFERENT),  # sign flip
    ("9.9 × 10^-4 M", "9.9e-3 M", DIFFERENT),  # x10
    ("3.0 x 10^8 m/s", "299792458 m/s", EQUIVALENT),  # MMLU college_physics, rounded to 2 digits
    ("8.314 J/(mol K)", "8.3145 J/(mol K)", EQUIVALENT),
    ("3 m/s", "2.98 m/s", EQUIVALENT),  # a plain integer: within half a unit
    ("3 m/s", "3.4 m/s", DIFFERENT),
    ("1500", "1498.3", DIFFERENT),  # 0.1% off, but 1500 is exact to its last digit
    ("\\pi", "3.14", EQUIVALENT),
    ("\\frac{1}{2}", "\\sin(\\pi/6)", EQUIVALENT),  # exact against an evaluated constant
    ("\\pi", "\\frac{22}{7}", DIFFERENT),  # two exact values: not a tolerance question
])
def test_near_equal_and_rounded_numbers(reference, candidate, verdict):
    assert verdicts_both_ways(reference, candidate) == (verdict, verdict)


def test_tolerance_is_an_argument_with_a_documented_default():
    assert DEFAULT_REL_TOL == 0.05
    assert answer_verdict("1.03e-3 M", "9.9 × 10^-4 M", rel_tol=0.01) == DIFFERENT
    assert answer_verdict("1.089e-3 M", "9.9 × 10^-4 M", rel_tol=0.1) == EQUIVALENT


# --------------------------------------------------------------------------- units

@pytest.mark.parametrize("reference, candidate, verdict", [
    ("2.5 * 10^-23 kg", "2.5e-20 g", EQUIVALENT),  # MMLU college_physics
    ("2.5 * 10^-23 kg", "2.5e-23 g", DIFFERENT),
    ("1.2 x 10^9 m/s", "1.2e6 km/s", EQUIVALENT),  # MMLU college_physics
    ("1.2 x 10^9 m/s", "1.2e9 s", DIFFERENT),
    ("3.8 × 10^-3 mol/L", "3.8 mmol/L", EQUIVALENT),  # MMLU high_school_chemistry
    ("1 km", "1000 m", EQUIVALENT),  # exact integers through a unit scale
    ("1 km", "1001 m", DIFFERENT),
    ("45%", "0.45", EQUIVALENT),
    # spellings the hand table lacks, read through pint's unit definitions
    ("5 KJ", "5000 J", EQUIVALENT),
    ("3 kPA", "3 kPa", EQUIVALENT),
    ("3 kPA", "3 Pa", DIFFERENT),
    ("6 months", "0.5 yr", EQUIVALENT),
    ("6 months", "6 weeks", DIFFERENT),
    ("2 kWh", "7.2 MJ", EQUIVALENT),
    ("1.5 MEV", "1.5 MeV", EQUIVALENT),
])
def test_units(reference, candidate, verdict):
    assert verdicts_both_ways(reference, candidate) == (verdict, verdict)


def test_unit_lookups_in_pint_never_take_constants_or_letters():
    from transforms.science.answers import read_answer
    assert read_answer("6 months").answer_type == "numeric" and read_answer("4 apples") is None
    assert read_answer("2 pi").answer_type == "expression"  # pint's pi constant is not a unit
    assert read_answer("3 dozen") is None  # dimensionless pint units are not taken


# --------------------------------------------------------------------------- lists and booleans (typed answers)

def test_lists():
    assert answer_verdict([1, 2], "(1, 2)") == EQUIVALENT  # a JSON list reference
    assert answer_verdict([1, 2], "(2, 1)") == DIFFERENT  # ordered
    assert answer_verdict("\\{-3, 2\\}", "x = 2 or x = -3") == EQUIVALENT  # roots, any order
    assert answer_verdict("(70000, 114200)", "(70000, 114201)") == DIFFERENT
    assert answer_verdict([0.5, "x^2"], "(1/2, x**2)") == EQUIVALENT


def test_booleans():
    assert answer_verdict(True, "yes") == EQUIVALENT
    assert answer_verdict(False, "True") == DIFFERENT
    assert answer_verdict("true", "Yes, since the process is reversible.", "boolean") == EQUIVALENT
    assert answer_verdict(70000, "70,000") == EQUIVALENT  # a JSON number
    assert answer_verdict(float("nan"), "1") == DIFFERENT  # not an answer: nothing to match


# --------------------------------------------------------------------------- huge expressions, any thread

HUGE = ["(10**999)**999", "\\binom{10^9}{10^5}", "10^{10^{10^{10}}}", "2^{2^{2^{2^{2}}}}", "9^{9^{9}}",
        "(10^9)!", "factorial(10**6)", "(x+1)^{10^{9}}"]


def _in_thread(function, *args, limit=3.0):
    results = []
    worker = threading.Thread(target=lambda: results.append(function(*args)), daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(timeout=limit + 5)
    elapsed = time.monotonic() - started
    assert not worker.is_alive(), f"{function.__name__}{args} still running after {elapsed:.1f}s"
    assert elapsed < limit, f"{function.__name__}{args} took {elapsed:.1f}s"
    return results[0]


@pytest.mark.parametrize("answer", HUGE)
def test_huge_expressions_answer_unknown_within_3_s_in_a_worker_thread(answer):
    assert _in_thread(answer_verdict, answer, "1") == UNKNOWN
    assert _in_thread(answer_verdict, "1", answer) == UNKNOWN
    assert _in_thread(read_answer, answer) is None


def test_huge_expressions_are_unknown_to_the_dr_sci_grader():
    question = {"reference_answer": "42", "answer_canonical": "42", "answer_type": "numeric"}
    assert rule_verdict(question, "(10**999)**999") == UNKNOWN
    assert rule_verdict(question, "42.0") == EQUIVALENT


def test_limits_are_checked_on_the_unevaluated_tree():
    import sympy

    x = sympy.Symbol("x")
    check_limits(sympy.Pow(10, 300, evaluate=False) * x ** 20)  # within limits: no exception
    for too_big in (sympy.Pow(sympy.Pow(10, 999, evaluate=False), 999, evaluate=False),
                    sympy.binomial(sympy.Pow(10, 9, evaluate=False), sympy.Pow(10, 5, evaluate=False),
                                   evaluate=False),
                    sympy.Add(*[x ** i for i in range(200)], evaluate=False)):
        with pytest.raises(SymbolicLimit):
            check_limits(too_big)


def test_the_deadline_holds_in_a_thread_for_work_the_limits_do_not_catch():
    outcome = []

    def call():
        started = time.monotonic()
        try:
            run_symbolic("time:sleep", (60,), 0.3)
        except SymbolicTimeout:
            outcome.append(time.monotonic() - started)

    worker = threading.Thread(target=call)
    worker.start()
    worker.join(timeout=30)
    assert outcome and outcome[0] < 3.0  # 0.3 s + the 1 s grace (+ a worker start)


def test_a_worker_over_its_deadline_is_killed_and_replaced():
    pool = symbolic_pool.SymbolicPool(max_workers=1)
    try:
        assert pool.call("os:getpid", (), 30) != os.getpid()
        first = pool.call("os:getpid", (), 30)
        outcome = []

        def slow():
            started = time.monotonic()
            try:
                pool.call("time:sleep", (60,), 0.5)
            except symbolic_pool.DeadlineExceeded:
                outcome.append(time.monotonic() - started)

        worker = threading.Thread(target=slow)
        worker.start()
        worker.join(timeout=30)
        assert outcome and outcome[0] < 2.0
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)  # the killed worker is gone
        assert pool.call("os:getpid", (), 30) not in (first, os.getpid())  # a new one took its place
        with pytest.raises(symbolic_pool.WorkerFailed, match="ZeroDivisionError"):
            pool.call("operator:truediv", (1, 0), 30)
        assert pool.call("operator:add", (2, 3), 30) == 5  # an exception does not cost the worker
    finally:
        pool.close()


def test_a_prestarted_worker_boots_in_the_background_and_serves_the_first_call():
    import time

    from transforms.science import symbolic_pool

    pool = symbolic_pool.SymbolicPool(max_workers=2, preload=("time:perf_counter",))
    try:
        started = time.monotonic()
        pool.prestart()
        assert time.monotonic() - started < 0.5  # returns at once: the interpreter starts in a thread
        pool.prestart()  # a second call while it boots starts no other worker
        first = pool.call("os:getpid", (), 30)  # waits for the booting worker rather than starting one
        assert first != os.getpid() and pool._count == 1 and pool._starting == 0
        assert pool.call("os:getpid", (), 30) == first
    finally:
        pool.close()
    pool.prestart()  # a closed pool starts nothing
    assert pool._count == 0


def test_closing_the_pool_while_a_prestarted_worker_boots_stops_that_process():
    import time

    from transforms.science import symbolic_pool

    pool = symbolic_pool.SymbolicPool(preload=("transforms.science.answer_latex:warm",))  # imports sympy: slow
    pool.prestart()
    deadline = time.monotonic() + 10
    while not pool._booting and time.monotonic() < deadline:
        time.sleep(0.01)
    (process,) = pool._booting
    pool.close()
    assert process.poll() is not None  # killed and reaped, not left to finish booting on its own
    deadline = time.monotonic() + 10
    while pool._starting and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool._count == 0 and not pool._idle


# --------------------------------------------------------------------------- the check-answers stage

def test_verdict_stage_adds_the_verdict_and_rejects_unreadable_rows():
    stage = VerdictStage("ref", "cand", answer_type="type", rel_tol=0.05)
    row = {"ref": "B", "cand": "I think the answer is (B).", "type": "multiple_choice", "extra": 1}
    assert stage(row) == {**row, "verdict": EQUIVALENT}
    assert stage({"ref": "70000", "cand": "70001"})["verdict"] == DIFFERENT
    assert stage({"ref": "1", "cand": "(10**999)**999"})["verdict"] == UNKNOWN
    missing = stage({"ref": None, "cand": "3"})
    assert isinstance(missing, Rejected) and missing.reason == "missing_field" and "ref" in missing.detail
    wrong = stage({"ref": {"value": 3}, "cand": "3"})
    assert isinstance(wrong, Rejected) and wrong.reason == "wrong_type"
    assert verdict_counts(["equivalent", "unknown", "equivalent"]) == {"equivalent": 2, "different": 0, "unknown": 1}


@pytest.mark.parametrize("candidate, reference, verdict", [
    ("-9 lines", "9 lines", "different"),          # MMLU references that are a number and a word: a flipped sign
    ("-150 million", "150 million", "different"),  # is another answer, though the normalized texts agree
    ("\u22129 points", "-9 points", "equivalent"),  # the Unicode minus is a minus
    ("+9 lines", "9 lines", "equivalent"),
    ("9 lines", "9 lines", "equivalent"),
    ("COVID-19 vaccines", "covid-19 vaccines", "equivalent"),  # a hyphen inside a word is no sign
    ("9.0 lines", "9 lines", "equivalent"),  # one number with words: compared as a number
    ("8.93 lines", "9 lines", "equivalent"),
    ("1.500000e+02 million", "150 million", "equivalent"),
    ("10 lines", "9 lines", "different"),
    ("9 lines", "9 points", "different"),
    ("grew from 100 to 104 million", "grew from 104 to 100 million", "different"),  # several: written alike
    ("grew from 100 to 104 million", "grew from 100 to 104 million", "equivalent"),
])
def test_unreadable_answers_with_numbers_keep_their_signs(candidate, reference, verdict):
    assert answer_verdict(candidate, reference) == verdict

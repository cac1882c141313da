"""Decontamination against the real MMLU test files in the shared data (``tests/shared_data.py``), plus GPQA-style CSV and
JSONL fixtures."""
import csv
import json
import time

import pytest

from tests.shared_data import shared_path
from transforms.dedup.exact import word_tokens
from transforms.records import Rejected
from transforms.science.adapters import adapt_mmlu, iter_mmlu_csv
from transforms.science.clean import clean_question
from transforms.science.decontam import (
    NGRAM,
    BenchmarkQuestion,
    Contamination,
    contamination_reason,
    load_benchmark,
)

MMLU_DIR = "benchmarks/mmlu"
PHYSICS_FILE = "benchmarks/mmlu/college_physics_test.csv"
PHYSICS = shared_path(PHYSICS_FILE)
needs_physics = pytest.mark.shared_data(PHYSICS_FILE)
needs_mmlu = pytest.mark.shared_data(MMLU_DIR)


def mmlu_rows(path=PHYSICS):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def longest_common_run(a: str, b: str) -> int:
    """Longest run of consecutive normalized words the two texts share."""
    x, y = word_tokens(a), word_tokens(b)
    best = 0
    previous = [0] * (len(y) + 1)
    for i in range(1, len(x) + 1):
        current = [0] * (len(y) + 1)
        for j in range(1, len(y) + 1):
            if x[i - 1] == y[j - 1]:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


@pytest.fixture(scope="module")
def mmlu():
    started = time.perf_counter()
    index = Contamination.from_paths([str(shared_path(MMLU_DIR))])
    seconds = time.perf_counter() - started
    assert len(index) == 14079
    assert seconds < 10  # about 1.5 s here; generous for slow CI machines
    return index


@needs_mmlu
def test_loads_every_mmlu_file(mmlu):
    assert mmlu.benchmarks == ["mmlu"]
    assert mmlu.n_grams > 500_000
    assert mmlu.items[0].question_id.endswith("_test:0")


@needs_mmlu
def test_a_question_copied_from_mmlu_is_contaminated(mmlu):
    # the copy goes through the real adapter and clean stage, options rendered into the question
    record = next(iter_mmlu_csv(PHYSICS))
    question = clean_question(adapt_mmlu(record))
    result = mmlu.contamination_reason(question)
    assert result == Rejected("contaminated:mmlu", "mmlu:college_physics_test:0: exact normalized match")
    assert contamination_reason(question, mmlu) == result


@needs_mmlu
def test_an_edited_copy_is_contaminated_by_ngrams(mmlu):
    question_text = mmlu_rows()[1][0]  # the thin-film question, 40 words
    edited = "Consider the following optics problem. " + question_text.replace("500 nm", "450 nm") + " Explain briefly."
    result = mmlu.contamination_reason({"question": edited})
    assert result.reason == "contaminated:mmlu"
    assert result.detail.startswith("mmlu:college_physics_test:1: n-gram overlap:")


@needs_mmlu
def test_a_paraphrase_below_the_threshold_is_kept(mmlu):
    original = mmlu_rows()[1][0]
    paraphrase = ("A puddle of water (refractive index 1.33) is covered by a thin oil film 500 nm thick whose index "
                  "of refraction is 1.5. When white light falls on it at normal incidence, which wavelength is "
                  "reflected most strongly?")
    assert 3 <= longest_common_run(original, paraphrase) < NGRAM  # shares words, never 13 in a row
    assert mmlu.contamination_reason({"question": paraphrase}) is None


def test_a_short_question_is_found_when_contained():
    short = BenchmarkQuestion("toy", "1", "Which planet in our solar system has the most moons today?")
    index = Contamination([short])
    assert 8 <= len(word_tokens(short.question)) < NGRAM
    found = index.contamination_reason("Quiz: which planet in our solar system has the most moons today? Saturn.")
    assert found.reason == "contaminated:toy"
    assert index.contamination_reason("Which planet has the most moons?") is None
    tiny = Contamination([BenchmarkQuestion("toy", "2", "What is entropy?")])
    assert tiny.contamination_reason("what is entropy") is not None  # exact, normalized
    assert tiny.contamination_reason("Explain: what is entropy in thermodynamics?") is None  # below min_words


def test_a_short_question_with_reordered_options_is_found():
    item = BenchmarkQuestion("toy", "1", "What is the SI unit of force?", ("Newton", "Joule", "Watt", "Pascal"))
    index = Contamination([item])
    reordered = ["Pascal", "Watt", "newton", "Joule"]
    rendered = "What is the SI unit of force?\n\n" + "\n".join(f"{'ABCD'[i]}. {o}" for i, o in enumerate(reordered))
    inline = "What is the SI unit of force? (A) Pascal (B) Watt (C) newton (D) Joule"
    for text in (rendered, inline):  # no 13-gram in common, and not the text the index rendered
        found = index.contamination_reason({"question": text, "choices": reordered})
        assert isinstance(found, Rejected) and found.reason == "contaminated:toy", text
    # another set of options, or a longer question that only starts alike, is another question
    assert index.contamination_reason({"question": rendered, "choices": ["Pascal", "Watt", "Newton", "Ohm"]}) is None
    assert index.contamination_reason({"question": "What is the SI unit of energy?", "choices": reordered}) is None


def test_containment_threshold_is_a_parameter():
    item = BenchmarkQuestion("toy", "1", " ".join(f"word{i}" for i in range(40)))
    overlap = " ".join(f"word{i}" for i in range(14)) + " and then something else entirely different"
    assert Contamination([item]).contamination_reason(overlap) is not None  # 2 shared 13-grams
    assert Contamination([item], min_containment=0.5).contamination_reason(overlap) is None
    assert Contamination([item], min_shared=3).contamination_reason(overlap) is None
    assert Contamination([item], ngram=20, min_words=8).contamination_reason(overlap) is None


def test_gpqa_csv_and_jsonl_layouts(tmp_path):
    gpqa = tmp_path / "gpqa_diamond.csv"
    with open(gpqa, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Record ID", "Question", "Correct Answer", "Incorrect Answer 1"])
        writer.writerow(["rec7", "Two quantum states with energies E1 and E2 have lifetimes of 10^-9 sec and "
                         "10^-8 sec respectively. We want to clearly distinguish these two energy levels.", "10^-4 eV",
                         "10^-11 eV"])
    jsonl = tmp_path / "sciq_test.jsonl"
    jsonl.write_text(json.dumps({"prompt": "What type of organism is commonly used in preparation of foods such as "
                                 "cheese and yogurt?"}) + "\n", encoding="utf-8")
    items = load_benchmark(gpqa) + load_benchmark(jsonl, question_field="prompt")
    assert [(i.benchmark, i.question_id) for i in items] == [("gpqa_diamond", "rec7"), ("sciq_test", "0")]
    index = Contamination(items)
    gpqa_copy = ("two quantum states with energies E1 and E2 have lifetimes of 10^-9 sec and 10^-8 sec "
                 "respectively. Which energy difference resolves them?")
    assert index.contamination_reason(gpqa_copy).reason == "contaminated:gpqa_diamond"
    sciq_copy = "what type of organism is commonly used in preparation of foods such as cheese and yogurt"
    assert index.contamination_reason(sciq_copy).reason == "contaminated:sciq_test"
    assert index.contamination_reason("How do bacteria divide?") is None
    with pytest.raises(ValueError):
        load_benchmark(jsonl.with_suffix(".txt"))


@needs_physics
def test_mmlu_csv_file_is_detected_by_its_rows():
    items = load_benchmark(PHYSICS)
    assert len(items) == len(mmlu_rows()) and items[0].benchmark == "mmlu"
    assert items[0].choices == tuple(mmlu_rows()[0][1:5])


@needs_physics
def test_index_is_deterministic():
    items = load_benchmark(PHYSICS)
    first, second = Contamination(items), Contamination(list(items))
    assert (first._hashes == second._hashes).all() and (first._owners == second._owners).all()


@needs_mmlu
def test_queries_are_fast(mmlu):
    texts = [f"Question {i}: an unrelated sentence about wheat yields in the valley over several decades, "
             f"measured by farmers with care and reported in detail number {i}." for i in range(2000)]
    started = time.perf_counter()
    assert all(mmlu.match(text) is None for text in texts)
    assert (time.perf_counter() - started) / len(texts) < 0.005


def test_an_exact_copy_with_options_is_found_whatever_the_script():
    """The index tokenizes an item's question and options once and joins them; a copy of the
    rendered question (with non-ASCII words, combining marks, a final sigma, LaTeX) must still be
    an exact match, as the text a training set holds is tokenized whole."""
    items = [
        BenchmarkQuestion("toy", "1", "Ποια είναι η μονάδα ΔΥΝΑΜΗΣ;", ("Νιούτον", "Τζάουλ ΟΔΟΣ", "Βατ", "Πασκάλ")),
        BenchmarkQuestion("toy", "2", "Cafe\u0301 owners compute $x^2$:", ("ﬁne", "e\u0301", "ＡＢＣ", "\\frac{1}{2}")),
        BenchmarkQuestion("toy", "3", "Plain ASCII stem  ", ("one", "", "three.", "(four)")),
    ]
    index = Contamination(items)
    for item in items:
        rendered = item.question.rstrip() + "\n\n" + "\n".join(f"{'ABCD'[i]}. {o}" for i, o in enumerate(item.choices))
        found = index.match(rendered)
        assert found is not None and found.item == item and found.how == "exact normalized match", item


def test_a_cached_index_answers_as_the_built_one_and_follows_its_files(tmp_path):
    bench = tmp_path / "bench.jsonl"
    rows = [{"question": "Which planet in our solar system has the most moons known today?"},
            {"question": "Ποια είναι η μονάδα της δύναμης στο διεθνές σύστημα μονάδων σήμερα;"}]
    bench.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    cache = tmp_path / "cache"
    built = Contamination.from_paths([bench], cache_dir=cache)
    assert len(list(cache.iterdir())) == 1
    cached = Contamination.from_paths([bench], cache_dir=cache)
    queries = [rows[0]["question"], "Quiz: " + rows[1]["question"] + " Newton.", "Something else entirely."]
    assert [cached.match(q) for q in queries] == [built.match(q) for q in queries]
    assert cached.match(queries[1]) is not None and cached.match(queries[2]) is None
    # the file changes: the cache does not answer for it any more
    time.sleep(0.01)
    bench.write_text(json.dumps({"question": "What is the boiling point of water at sea level in kelvin?"}) + "\n")
    changed = Contamination.from_paths([bench], cache_dir=cache)
    assert changed.match(queries[0]) is None and changed.match("what is the boiling point of water at sea level in kelvin")
    # a damaged cache file is rebuilt, not trusted
    for path in cache.iterdir():
        path.write_bytes(b"not an index")
    assert Contamination.from_paths([bench], cache_dir=cache).match(queries[0]) is None

"""Source adapters on small fixtures written in each published layout (JSONL / Parquet), plus the
real MMLU CSVs in the shared data (``tests/shared_data.py``)."""
import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.science import RUBRIC_CATEGORIES, SCIENCE_QUESTION_SCHEMA
from transforms.io.readers import iter_records
from transforms.records import Rejected, content_id
from transforms.science.adapters import (
    ADAPTERS,
    CATEGORY_WEIGHTS,
    FIGURE_REFERENCE_RE,
    POSITION_FIELD,
    adapt_gsm8k,
    adapt_megascience,
    adapt_mmlu,
    adapt_natural_reasoning,
    adapt_rar_science,
    adapt_webinstruct_verified,
    figure_reference,
    generic_adapter,
    import_rubric,
    iter_mmlu_csv,
    rubric_category,
)
from tests.shared_data import shared_path

MMLU_PHYSICS_FILE = "benchmarks/mmlu/college_physics_test.csv"
MMLU_PHYSICS = shared_path(MMLU_PHYSICS_FILE)
MMLU_DIR = "benchmarks/mmlu"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def write_parquet(path, rows):
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


def test_every_adapter_answers_every_schema_field():
    record = {"question": "What is 2 + 2?", "answer": "4", "reference_answer": "4", "A": "3", "B": "4", "C": "5",
              "D": "6"}
    for name, adapt in ADAPTERS.items():
        question = adapt(dict(record))
        assert not isinstance(question, Rejected), name
        assert list(question) == SCIENCE_QUESTION_SCHEMA.names
        assert question["source"] == name
        assert question["split"] is None  # the split stage sets it


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@pytest.mark.parametrize("question", [None, "", "   \n", 42, ["a list"]])
def test_missing_question_is_rejected(name, question):
    record = {"answer": "4", "reference_answer": "4", "A": "x", "B": "y"}
    if question is not None:
        record["question"] = question
    result = ADAPTERS[name](record)
    assert isinstance(result, Rejected) and result.reason == "missing_question"


def test_webinstruct_verified_from_jsonl(tmp_path):
    path = write_jsonl(tmp_path / "webinstruct.jsonl", [
        {"id": "wi-001", "question": "A car accelerates from rest at {eq}2\\ m/s^2{/eq} for 5 s. What is its speed?",
         "answer": "10 m/s", "answer_type": "Float", "category": "Physics", "difficulty": "Senior High School"},
    ])
    (record,) = list(iter_records(path))
    question = adapt_webinstruct_verified(record)
    assert question["id"] == content_id("webinstruct_verified", "id", "wi-001")
    assert question["source_id"] == "wi-001"
    assert question["reference_answer"] == "10 m/s"
    assert question["source_category"] == "Physics"
    assert "{eq}" in question["question"]  # cleaning is the next stage's job
    assert json.loads(question["meta_json"]) == {"answer_type": "Float", "difficulty": "Senior High School"}


def test_natural_reasoning_empty_reference_and_responses_kept(tmp_path):
    path = write_jsonl(tmp_path / "natural_reasoning.jsonl", [
        {"question": "Explain why the sky is blue.", "reference_answer": "",
         "responses": [{"response_model": "Llama-3.3-70B-Instruct", "response": "Rayleigh scattering ..."}]},
        {"question": "What is the escape velocity of Earth?", "reference_answer": "11.2 km/s", "responses": []},
    ])
    first, second = (adapt_natural_reasoning(r) for r in iter_records(path))
    assert first["reference_answer"] is None
    assert json.loads(first["meta_json"])["responses"][0]["response"] == "Rayleigh scattering ..."
    assert second["reference_answer"] == "11.2 km/s"
    assert first["id"] == content_id("natural_reasoning", "q", "Explain why the sky is blue.")
    assert first["source_id"] == first["id"]  # no id and no reader position: the computed id


def test_megascience_from_parquet_with_reader_position(tmp_path):
    path = write_parquet(tmp_path / "megascience.parquet", [
        {"question": "What is the pH of a 0.01 M HCl solution?", "answer": "HCl is a strong acid ... pH = 2.",
         "subject": "chemistry", "reference_answer": "2", "source": "TextbookReasoning"},
    ])
    (record,) = list(iter_records(path))
    record[POSITION_FIELD] = f"{path}#0"
    question = adapt_megascience(record)
    assert question["reference_answer"] == "2"
    assert question["source_category"] == "chemistry"
    assert question["source_id"] == f"{path}#0"
    assert question["id"] == content_id("megascience", "q", record["question"])  # not position-dependent
    meta = json.loads(question["meta_json"])
    assert meta == {"answer": "HCl is a strong acid ... pH = 2.", "source": "TextbookReasoning"}


@pytest.mark.parametrize("weight, category", [
    (5, "Essential"), (7, "Essential"), (4, "Important"), (3, "Important"), (2, "Optional"), (1, "Optional"),
    (0, "Optional"), (-1, "Pitfall"), (-2, "Pitfall"),
])
def test_rar_weight_to_category(weight, category):
    assert rubric_category(weight) == category


def test_rar_science_from_parquet_imports_rubrics(tmp_path):
    rubric = [
        {"title": "Correct mechanism", "description": "Essential Criteria: Identifies SN2 inversion.", "weight": 5},
        {"title": "Stereochemistry", "description": "Important Criteria: Names the product (S).", "weight": 4},
        {"title": "Clarity", "description": "Optional Criteria: Gives a clear diagram.", "weight": 1},
        {"title": "Racemization", "description": "Pitfall Criteria: Does not claim racemization.", "weight": -1},
    ]
    path = write_parquet(tmp_path / "rar.parquet", [{
        "question": "What is the product of (R)-2-bromobutane with NaOH in acetone?",
        "reference_answer": "(S)-butan-2-ol by SN2 inversion.", "question_source": "organic_chemistry",
        "rubric": rubric, "rubric_list": [r["description"] for r in rubric], "rubric_count": 4,
    }])
    (record,) = list(iter_records(path))
    question = adapt_rar_science(record)
    assert question["rubric_source"] == "imported"
    assert [item["category"] for item in question["rubrics"]] == ["Essential", "Important", "Optional", "Pitfall"]
    assert [item["weight"] for item in question["rubrics"]] == [1.0, 0.7, 0.3, 0.9]
    assert [item["source_weight"] for item in question["rubrics"]] == [5, 4, 1, -1]
    assert question["source_category"] == "organic_chemistry"
    meta = json.loads(question["meta_json"])
    assert "rubric" not in meta and meta["rubric_count"] == 4
    # the items fit the schema's rubric type
    pa.array([question["rubrics"]], type=SCIENCE_QUESTION_SCHEMA.field("rubrics").type)


def test_rar_items_that_cannot_be_imported_keep_the_raw_rubric():
    rubric = [{"title": "ok", "description": "Essential Criteria: x", "weight": 5},
              {"title": "no weight", "description": "Important Criteria: y", "weight": "high"},
              {"title": "no description", "weight": 3}]
    question = adapt_rar_science({"question": "Q?", "reference_answer": "A", "question_source": "physics",
                                  "rubric": rubric})
    assert len(question["rubrics"]) == 1
    assert json.loads(question["meta_json"])["rubric"] == rubric
    items, skipped = import_rubric(rubric)
    assert skipped == 2 and items[0]["category"] == "Essential"
    assert set(CATEGORY_WEIGHTS) == set(RUBRIC_CATEGORIES)


@pytest.mark.shared_data(MMLU_PHYSICS_FILE)
def test_mmlu_csv_rows_from_the_real_file():
    with open(MMLU_PHYSICS, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    records = list(iter_mmlu_csv(MMLU_PHYSICS))
    assert len(records) == len(rows) == 102
    question = adapt_mmlu(records[0])
    question_text, *options, letter = rows[0]
    assert question["choices"] == options
    assert question["reference_answer"] == letter == "B"
    assert question["question"].startswith(question_text)
    assert question["question"].endswith("\n".join(f"{k}. {o}" for k, o in zip("ABCD", options)))
    assert question["source_id"] == "college_physics_test:0"
    assert question["source_category"] == "college_physics"
    assert question["id"] == content_id("mmlu", "id", "college_physics_test:0")
    assert question["meta_json"] is None  # every field went to a column


def test_mmlu_hf_layout_with_choice_list_and_index():
    question = adapt_mmlu({"question": "Which is a noble gas?", "subject": "high_school_chemistry",
                           "choices": ["N", "O", "Ne", "F"], "answer": 2})
    assert question["reference_answer"] == "C"
    assert question["choices"] == ["N", "O", "Ne", "F"]
    assert adapt_mmlu({"question": "Only one option", "A": "x"}) == Rejected("missing_choices", "mmlu: 1 options")


def test_generic_adapter_with_option_columns():
    adapt = generic_adapter({"question": "prompt", "reference_answer": "gold", "source_id": "uid",
                             "source_category": "domain", "choices": ["opt_a", "opt_b", "opt_c"]}, source="sciq")
    question = adapt({"uid": 17, "prompt": "What gas do plants absorb?", "gold": "B", "domain": "biology",
                      "opt_a": "O2", "opt_b": "CO2", "opt_c": "N2", "support": "Plants take in carbon dioxide."})
    assert question["source"] == "sciq"
    assert question["source_id"] == "17"
    assert question["id"] == content_id("sciq", "id", "17")
    assert question["choices"] == ["O2", "CO2", "N2"]
    assert question["question"].endswith("A. O2\nB. CO2\nC. N2")
    assert question["source_category"] == "biology"
    assert json.loads(question["meta_json"]) == {"support": "Plants take in carbon dioxide."}
    assert generic_adapter({"question": "q"})({"q": None}).reason == "missing_question"


def test_generic_adapter_joins_a_unit_column_holding_a_scale():
    from transforms.science.answers import answers_equivalent, read_answer
    adapt = generic_adapter({"question": "problem_text", "reference_answer": "answer_number", "answer_unit": "unit"})
    rows = [  # SciBench's layout: the number in one column, the unit (with its scale) in another
        ({"problem_text": "Energy of the photon?", "answer_number": "1.6", "unit": " $10^{-19} \\mathrm{~J}$"}, 1.6e-19),
        ({"problem_text": "Mass?", "answer_number": 4.2, "unit": "kg"}, 4.2),
        ({"problem_text": "Count?", "answer_number": "7", "unit": ""}, 7),
    ]
    for row, expected in rows:
        out = adapt(row)
        number = read_answer(out["reference_answer"]).value
        assert float(number.value) == pytest.approx(expected)
    assert answers_equivalent(adapt(rows[0][0])["reference_answer"], "1.6e-19 J")
    assert not answers_equivalent(adapt(rows[0][0])["reference_answer"], "1.6 J")


def test_generic_adapter_rejects_bad_mappings():
    with pytest.raises(ValueError, match="unknown mapping targets"):
        generic_adapter({"question": "q", "answer": "a"})
    with pytest.raises(ValueError, match="'question' column"):
        generic_adapter({"reference_answer": "a"})


def test_adapters_are_deterministic():
    record = {"question": "What is g?", "answer": "9.8 m/s^2", "category": "Physics", "difficulty": "University"}
    assert adapt_webinstruct_verified(dict(record)) == adapt_webinstruct_verified(dict(record))


def test_typed_json_answers_are_read_as_their_type():
    """TheoremQA-style JSON: answers are booleans, integers, floats and lists, not strings."""
    from transforms.science.answers import assign_split
    from transforms.science.clean import clean_question
    adapt = generic_adapter({"question": "Problem", "reference_answer": "Answer"}, source="theoremqa")
    rows = [("Is the set of rational numbers countable?", True, "boolean", "true"),
            ("Is every bounded sequence of reals convergent?", False, "boolean", "false"),
            ("How many edges does the complete graph on 5 vertices have?", 10, "numeric", "10"),
            ("What is the period in seconds of a 2 m pendulum on Earth?", 2.84, "numeric", "2.84"),
            ("Find the eigenvalues of [[2, 0], [0, 3]].", [2, 3], "tuple", "(2, 3)")]
    for text, answer, answer_type, canonical in rows:
        question = assign_split(clean_question(adapt({"Problem": text, "Answer": answer})))
        assert (question["split"], question["answer_type"], question["answer_canonical"]) == (
            "verifiable", answer_type, canonical), text
    for nothing in (None, [], {"value": 3}, float("nan")):
        assert clean_question(adapt({"Problem": "What is it?", "Answer": nothing})).reason == "empty_answer"


@pytest.mark.parametrize("text, needs", [
    # MMLU test questions that point at a picture the text does not hold
    ("Which one of the following statements is best supported by the map above?", True),
    ("With what religion is the architecture shown in the picture on this page associated?", True),
    ("Physical examination shows the findings in the photograph. The infectious agent is most likely", True),
    ("The paths of two particles are shown above. Assume they are far enough apart.", True),
    ("Use Figure 2 to find the current through the resistor.", True),
    ("<image 1> What is the tension in the rope?", True),
    # and ones that only mention images or figures
    ("A file stores the red, green, and blue values of each individual pixel in the image.", False),
    ("One can get some idea of the effectiveness of their methods from the figures alone.", False),
    ("Which of the following figures is a contemporary installation artist?", False),
    ("Sketch the graph of y = x^2 and find its vertex.", False),
])
def test_questions_that_need_an_image_are_rejected(text, needs):
    adapt = generic_adapter({"question": "q", "reference_answer": "a"}, source="s")
    result = adapt({"q": text, "a": "1"})
    assert isinstance(result, Rejected) == needs and (not needs or result.reason == "needs_image")


def test_an_image_field_means_the_question_needs_it():
    adapt = generic_adapter({"question": "q", "reference_answer": "a"}, source="s")
    result = adapt({"q": "What is the tension in the rope?", "a": "5 N", "image": "rope.png"})
    assert result == Rejected("needs_image", "s: image field 'image'")
    assert not isinstance(adapt({"q": "What is the tension in the rope?", "a": "5 N", "image": None}), Rejected)


def _regex_reference(text):
    match = FIGURE_REFERENCE_RE.search(text)
    return match.group(0) if match else None


def test_the_figure_prefilter_answers_what_the_regex_answers():
    phrases = ["the map above", "shown in the picture", "fig. 3", "Figure 12", "<image 2>", "![a](b.png)",
               "<img src=x>", "drawn below", "depicted here", "the accompanying diagram", "the attached sketch",
               "shows the block in the chart", "displayed on the graph", "the photograph shown",
               "the illustration on this page", "pictured above", "the drawing below", "no picture at all",
               "pixel in the image", "the figures alone", "a graphs' axes", "mapping", "photons"]
    texts = []
    for phrase in phrases:
        for variant in (phrase, phrase.upper(), phrase.swapcase(), phrase.title()):
            texts += [variant, f"Question: {variant}. What is x?"]
            texts += [variant.replace("s", "\u017f"), variant.replace("k", "\u212a"), variant.replace("i", "\u0130")]
    found = 0
    for text in texts:
        assert figure_reference(text) == _regex_reference(text), text
        found += figure_reference(text) is not None
    assert 0 < found < len(texts)


@pytest.mark.shared_data(MMLU_DIR)
def test_the_figure_prefilter_agrees_with_the_regex_on_all_of_mmlu():
    checked = matched = 0
    for path in sorted(shared_path(MMLU_DIR).glob("*_test.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                text = "\n".join(row[:-1])
                reference = figure_reference(text)
                assert reference == _regex_reference(text), text
                checked, matched = checked + 1, matched + (reference is not None)
    assert checked > 14000 and matched > 0


GSM8K_FILE = "benchmarks/gsm8k/test.jsonl"


def test_gsm8k_reference_is_the_final_answer_and_the_solution_stays_in_meta():
    solution = ("She has 3 * $1,200 = $<<3*1200=3600>>3,600 saved.\nShe spends $<<2400=2400>>2,400.\n"
                "3600 - 2400 = <<3600-2400=1200>>1200\n#### 1,200")
    question = adapt_gsm8k({"question": "How much money does Ana have left?", "answer": solution})
    assert question["reference_answer"] == "1,200"
    assert question["source"] == "gsm8k" and question["source_category"] == "mathematics"
    assert json.loads(question["meta_json"]) == {"answer": solution}
    # no final-answer marker: no reference (the clean stage rejects it as empty_answer), never the solution
    assert adapt_gsm8k({"question": "How many?", "answer": "Two and two make four."})["reference_answer"] is None
    assert adapt_gsm8k({"question": "", "answer": "#### 4"}).reason == "missing_question"


@pytest.mark.shared_data(GSM8K_FILE)
def test_every_gsm8k_test_problem_gets_its_final_answer():
    import re

    rows = [json.loads(line) for line in shared_path(GSM8K_FILE).read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 1319
    for row in rows:  # the reference, as the text after GSM8K's marker says it, for every row
        expected = re.search(r"####\s*(.+?)\s*$", row["answer"]).group(1)
        assert adapt_gsm8k(row)["reference_answer"] == expected

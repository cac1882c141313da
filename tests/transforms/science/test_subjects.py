"""Subject stage: the metadata table, and the fastText classifier trained on metadata-labelled real
MMLU questions from the shared data (``tests/shared_data.py``)."""
import glob
import os
import pickle

import pytest

from schemas.science import SUBJECTS
from tests.shared_data import shared_path
from transforms.science.adapters import adapt_mmlu, iter_mmlu_csv
from transforms.science.subjects import (
    SUBJECT_TABLE,
    SubjectClassifier,
    assign_subject,
    assign_subjects,
    label_key,
    metadata_training_pairs,
    subject_from_metadata,
    subject_of_label,
    train_subject_classifier,
)


@pytest.mark.parametrize("label, subject", [
    # WebInstruct-Verified categories
    ("Mathematics", "mathematics"), ("Physics", "physics"), ("Chemistry", "chemistry"), ("Biology", "biology"),
    ("Computer Science", "computer_science"), ("Economics", "economics"), ("Business", "economics"),
    ("Finance", "economics"), ("Engineering", "general_science"), ("Health", "medicine"), ("Other", None),
    ("History", None), ("Philosophy", None),
    # MegaScience subjects
    ("math", "mathematics"), ("cs", "computer_science"), ("medicine", "medicine"), ("economics", "economics"),
    # RaR-Science question sources / free labels
    ("organic_chemistry", "chemistry"), ("Quantum Mechanics", "physics"), ("molecular-biology", "biology"),
    # MMLU file names
    ("college_physics", "physics"), ("high_school_biology", "biology"), ("college_computer_science", "computer_science"),
    ("professional_medicine", "medicine"), ("high_school_macroeconomics", "economics"), ("abstract_algebra", "mathematics"),
    ("electrical_engineering", "general_science"), ("astronomy", "physics"), ("virology", "biology"),
    ("anatomy_test", "medicine"), ("high_school_us_history", None), ("professional_law", None),
    ("moral_scenarios", None),
    # nothing
    (None, None), ("", None), ("   ", None), ("zzz", None),
])
def test_label_table(label, subject):
    assert subject_of_label(label) == subject


def test_table_values_are_schema_subjects():
    assert set(SUBJECT_TABLE.values()) == set(SUBJECTS)
    assert label_key(" Computer  Science! ") == "computer_science"


MMLU_DIR = "benchmarks/mmlu"


@pytest.mark.shared_data(MMLU_DIR)
def test_every_mmlu_science_file_maps():
    stems = [os.path.basename(p)[:-len("_test.csv")] for p in glob.glob(os.path.join(shared_path(MMLU_DIR), "*_test.csv"))]
    assert len(stems) == 57
    mapped = {stem: subject_of_label(stem) for stem in stems}
    assert mapped["college_chemistry"] == "chemistry" and mapped["machine_learning"] == "computer_science"
    assert sum(subject is not None for subject in mapped.values()) >= 30


def test_subject_from_metadata_reports_the_method():
    assert subject_from_metadata({"source_category": "Physics"}) == ("physics", "metadata")
    assert subject_from_metadata({"source_category": "Other"}) == (None, None)
    assert subject_from_metadata({}) == (None, None)
    custom = {"astro": "physics"}
    assert subject_from_metadata({"source_category": "astro"}, table=custom) == ("physics", "metadata")


CLASSIFIER_FILES = {
    "physics": ["college_physics", "high_school_physics", "conceptual_physics", "astronomy"],
    "biology": ["college_biology", "high_school_biology"],
    "economics": ["high_school_macroeconomics", "high_school_microeconomics", "econometrics"],
    "chemistry": ["college_chemistry", "high_school_chemistry"],
}
needs_classifier_files = pytest.mark.shared_data(
    *(f"{MMLU_DIR}/{stem}_test.csv" for files in CLASSIFIER_FILES.values() for stem in files))


@pytest.fixture(scope="module")
def mmlu_questions():
    questions = []
    for files in CLASSIFIER_FILES.values():
        for stem in files:
            path = shared_path(MMLU_DIR, f"{stem}_test.csv")
            questions.extend(adapt_mmlu(record) for record in iter_mmlu_csv(path))
    return [q for q in questions if isinstance(q, dict)]  # not the few that need a figure (needs_image)


@pytest.fixture(scope="module")
def model(mmlu_questions, tmp_path_factory):
    train = [q for i, q in enumerate(mmlu_questions) if i % 5]
    path = tmp_path_factory.mktemp("subjects") / "subjects.bin"
    metrics = train_subject_classifier(train, path, epoch=30, dim=32, bucket=200_000, valid_fraction=0.0)
    assert metrics["labels"] == sorted(CLASSIFIER_FILES)
    return str(path)


@needs_classifier_files
def test_training_pairs_use_metadata_labels_only(mmlu_questions):
    texts, labels = metadata_training_pairs(mmlu_questions + [{"question": "What is love?", "source_category": "Other"}])
    assert len(texts) == len(mmlu_questions)
    assert set(labels) == set(CLASSIFIER_FILES)


@needs_classifier_files
def test_classifier_predicts_held_out_subjects(mmlu_questions, model):
    held_out = [q for i, q in enumerate(mmlu_questions) if i % 5 == 0]
    classifier = SubjectClassifier(model, min_confidence=0.0)
    predictions = classifier.predict([q["question"] for q in held_out])
    truth = [subject_from_metadata(q)[0] for q in held_out]
    accuracy = sum(p == t for (p, _), t in zip(predictions, truth)) / len(truth)
    assert accuracy >= 0.6  # four subjects, a few hundred training questions


@needs_classifier_files
def test_confidence_floor_falls_back(model):
    text = "Which of the following is the correct statement?"
    never_sure = SubjectClassifier(model, min_confidence=1.01)
    ((subject, probability),) = never_sure.predict([text])
    assert subject == "general_science" and 0.0 < probability <= 1.0
    with pytest.raises(ValueError):
        SubjectClassifier(model, fallback_subject="astrology")


@needs_classifier_files
def test_assign_subject_metadata_then_classifier(model):
    classifier = SubjectClassifier(model, min_confidence=0.0)
    by_metadata = assign_subject({"question": "q", "source_category": "Chemistry"}, classifier)
    assert (by_metadata["subject"], by_metadata["subject_method"], by_metadata["subject_confidence"]) == \
        ("chemistry", "metadata", None)
    unlabeled = {"question": "What is the equilibrium price when demand and supply curves of a market intersect?",
                 "source_category": None}
    by_model = assign_subject(unlabeled, classifier)
    assert by_model["subject_method"] == "classifier" and by_model["subject"] in SUBJECTS
    assert 0.0 < by_model["subject_confidence"] <= 1.0
    assert assign_subject(unlabeled)["subject"] is None  # no classifier, no metadata: left for later stages
    batch = assign_subjects([{"question": "q", "source_category": "Chemistry"}, unlabeled], classifier)
    assert [r["subject_method"] for r in batch] == ["metadata", "classifier"]
    assert batch[1]["subject"] == by_model["subject"]


@needs_classifier_files
def test_classifier_pickles_as_a_path(model):
    classifier = SubjectClassifier(model)
    classifier.predict(["warm up"])
    restored = pickle.loads(pickle.dumps(classifier))
    assert restored._model is None and restored.model_path == model
    assert restored.predict(["What is Newton's second law?"])[0][0] in SUBJECTS

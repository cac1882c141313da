"""Subject stage of Dr. SCI: source metadata -> one of ``SUBJECTS``, else a fastText classifier.

Metadata first. ``subject_from_metadata`` maps the record's ``source_category`` (the label the
adapter copied from the source: WebInstruct ``category``, MegaScience ``subject``, RaR-Science
``question_source``, the MMLU file's subject, or a generic mapping's column) through
``SUBJECT_TABLE``. Labels are compared as keys: lowercased, runs of anything but letters and
digits turned into ``_`` ("Computer Science" -> ``computer_science``). A key not in the table
is retried without a level prefix (``college_``, ``high_school_``, ``professional_`` ...), so
``college_physics`` and ``high_school_physics`` both reach ``physics``. Labels outside the eight
subjects (history, law, psychology, "Other") map to None: the classifier decides those rows.

Choices in the table (the paper does not list its mapping): business, finance and accounting
go to ``economics`` (WebInstruct files most economics questions under them); engineering, earth,
environmental and materials science to ``general_science``; astronomy to ``physics``;
biochemistry, virology and physiology to ``biology``; anatomy, nutrition, pharmacology and
clinical subjects to ``medicine``; statistics and formal probability to ``mathematics``.

Classifier second. ``train_subject_classifier`` trains fastText (``transforms.quality.
fasttext_rater.train_fasttext``, the same code as ``shardsmith train-rater``) on the question
text of rows whose subject came from metadata. ``SubjectClassifier`` predicts; a prediction whose
probability is below ``min_confidence`` (default 0.5, i.e. not even a majority over the other
seven labels) becomes ``general_science``: an uncertain call between several sciences is most
often an interdisciplinary question, and the probability stays in ``subject_confidence`` so a
different floor can be applied later without re-predicting.
"""
from __future__ import annotations

import os
import re
from typing import Iterable, Sequence

from schemas.science import SUBJECTS
from transforms.quality.fasttext_rater import load_model, predict_labels, train_fasttext

DEFAULT_MIN_CONFIDENCE = 0.5
FALLBACK_SUBJECT = "general_science"
LEVEL_PREFIXES = (
    "college_", "high_school_", "elementary_", "professional_", "conceptual_", "university_",
    "undergraduate_", "graduate_", "advanced_", "introductory_", "intro_", "basic_", "applied_",
)

_SUBJECT_LABELS: dict[str, tuple[str, ...]] = {
    "mathematics": (
        "mathematics", "math", "maths", "algebra", "abstract_algebra", "linear_algebra", "calculus",
        "precalculus", "geometry", "trigonometry", "statistics", "probability", "probability_and_statistics",
        "number_theory", "combinatorics", "discrete_mathematics", "discrete_math", "analysis",
        "real_analysis", "complex_analysis", "differential_equations", "topology", "arithmetic",
        "applied_mathematics", "mathematical_physics", "numerical_analysis", "optimization",
        "elementary_mathematics", "high_school_statistics",
    ),
    "physics": (
        "physics", "astronomy", "astrophysics", "mechanics", "classical_mechanics", "quantum_mechanics",
        "quantum_physics", "electromagnetism", "electricity_and_magnetism", "optics", "thermodynamics",
        "statistical_mechanics", "nuclear_physics", "particle_physics", "condensed_matter",
        "condensed_matter_physics", "relativity", "fluid_mechanics", "acoustics", "cosmology",
        "conceptual_physics",
    ),
    "chemistry": (
        "chemistry", "organic_chemistry", "inorganic_chemistry", "physical_chemistry",
        "analytical_chemistry", "general_chemistry", "chemical_engineering", "electrochemistry",
        "polymer_chemistry", "quantum_chemistry", "medicinal_chemistry",
    ),
    "biology": (
        "biology", "biochemistry", "genetics", "ecology", "microbiology", "molecular_biology",
        "cell_biology", "evolution", "evolutionary_biology", "zoology", "botany", "plant_biology",
        "neuroscience", "physiology", "virology", "bioinformatics", "biophysics", "life_sciences",
        "life_science", "marine_biology", "developmental_biology", "biotechnology",
    ),
    "medicine": (
        "medicine", "medical", "health", "health_sciences", "clinical_knowledge", "clinical_medicine",
        "anatomy", "pharmacology", "pharmacy", "nursing", "nutrition", "public_health", "dentistry",
        "pathology", "immunology", "epidemiology", "medical_genetics", "human_aging", "surgery",
        "psychiatry", "radiology", "veterinary_medicine",
    ),
    "computer_science": (
        "computer_science", "cs", "computer_science_and_technology", "computing", "programming",
        "machine_learning", "artificial_intelligence", "ai", "information_technology", "it",
        "computer_engineering", "software_engineering", "data_science", "computer_security",
        "cybersecurity", "algorithms", "data_structures", "computer_networks", "databases",
    ),
    "economics": (
        "economics", "econ", "business", "finance", "accounting", "econometrics", "microeconomics",
        "macroeconomics", "management", "marketing", "business_and_management", "financial_mathematics",
        "high_school_macroeconomics", "high_school_microeconomics", "professional_accounting",
    ),
    "general_science": (
        "general_science", "science", "engineering", "electrical_engineering", "mechanical_engineering",
        "civil_engineering", "materials_science", "earth_science", "earth_sciences", "geology",
        "geophysics", "geoscience", "environmental_science", "environmental_engineering", "meteorology",
        "atmospheric_science", "oceanography", "agriculture", "agronomy", "natural_science",
        "natural_sciences", "stem", "interdisciplinary",
    ),
}

SUBJECT_TABLE: dict[str, str] = {
    label: subject for subject, labels in _SUBJECT_LABELS.items() for label in labels
}
assert set(SUBJECT_TABLE.values()) <= set(SUBJECTS)

_KEY_RE = re.compile(r"[^a-z0-9]+")


def label_key(label) -> str:
    """A metadata label as a table key: lowercase, non-alphanumeric runs as ``_`` ('' if empty)."""
    if label is None:
        return ""
    return _KEY_RE.sub("_", str(label).strip().lower()).strip("_")


def subject_of_label(label, table: dict[str, str] | None = None) -> str | None:
    """The subject a metadata label maps to, or None when the table does not know it."""
    table = SUBJECT_TABLE if table is None else table
    key = label_key(label)
    if not key:
        return None
    if key in table:
        return table[key]
    key = re.sub(r"_(test|val|dev|train)$", "", key)  # MMLU file stems: college_physics_test
    if key in table:
        return table[key]
    for prefix in LEVEL_PREFIXES:
        if key.startswith(prefix) and key[len(prefix):] in table:
            return table[key[len(prefix):]]
    return None


def subject_from_metadata(record: dict, table: dict[str, str] | None = None,
                          label_field: str = "source_category") -> tuple[str | None, str | None]:
    """``(subject, 'metadata')`` when the record's label maps to a subject, else ``(None, None)``."""
    subject = subject_of_label(record.get(label_field), table)
    return (subject, "metadata") if subject else (None, None)


def subject_text(record: dict) -> str:
    """The text the classifier reads: the question (choices included when rendered into it)."""
    question = record.get("question")
    return question if isinstance(question, str) else ""


def metadata_training_pairs(records: Iterable[dict], table: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(texts, subjects) of the records whose subject the metadata table decides."""
    texts, labels = [], []
    for record in records:
        subject, _ = subject_from_metadata(record, table)
        text = subject_text(record)
        if subject and text:
            texts.append(text)
            labels.append(subject)
    return texts, labels


def train_subject_classifier(records: Iterable[dict], output_path: str | os.PathLike,
                             table: dict[str, str] | None = None, **fasttext_params) -> dict:
    """Train the fastText subject model on metadata-labelled records; returns ``train_fasttext``'s metrics."""
    texts, labels = metadata_training_pairs(records, table)
    return train_fasttext(texts, labels, output_path, **fasttext_params)


class SubjectClassifier:
    """fastText subject prediction with a confidence floor.

    The model loads on first use (or in ``setup``, from a Beam ``DoFn.setup``), never at
    construction, and pickling drops it, so the classifier ships to workers as a path.
    """

    def __init__(self, model_path: str | os.PathLike, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 fallback_subject: str = FALLBACK_SUBJECT):
        if fallback_subject not in SUBJECTS:
            raise ValueError(f"fallback subject {fallback_subject!r} is not one of {SUBJECTS}")
        self.model_path = str(model_path)
        self.min_confidence = min_confidence
        self.fallback_subject = fallback_subject
        self._model = None

    def setup(self) -> None:
        if self._model is None:
            self._model = load_model(self.model_path)

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """``(subject, probability)`` per text; below the floor, or an unknown label, the fallback subject."""
        self.setup()
        out = []
        for label, probability in predict_labels(self._model, texts):
            if label not in SUBJECTS or probability < self.min_confidence:
                label = self.fallback_subject
            out.append((label, probability))
        return out

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_model"] = None
        return state


def assign_subject(record: dict, classifier: SubjectClassifier | None = None,
                   table: dict[str, str] | None = None) -> dict:
    """A copy of ``record`` with ``subject``, ``subject_method`` and ``subject_confidence`` set.

    Metadata wins; otherwise the classifier (when given) decides; otherwise all three stay None
    (an LLM stage, or a reject downstream, may decide).
    """
    out = dict(record)
    subject, method = subject_from_metadata(record, table)
    confidence = None
    if subject is None and classifier is not None:
        (subject, confidence), = classifier.predict([subject_text(record)])
        method = "classifier"
    out.update(subject=subject, subject_method=method, subject_confidence=confidence)
    return out


def assign_subjects(records: Sequence[dict], classifier: SubjectClassifier | None = None,
                    table: dict[str, str] | None = None) -> list[dict]:
    """``assign_subject`` over a batch, with one classifier call for all records metadata leaves open."""
    out = []
    pending: list[int] = []
    for record in records:
        updated = dict(record)
        subject, method = subject_from_metadata(record, table)
        updated.update(subject=subject, subject_method=method, subject_confidence=None)
        if subject is None and classifier is not None:
            pending.append(len(out))
        out.append(updated)
    if pending:
        predictions = classifier.predict([subject_text(out[i]) for i in pending])
        for index, (subject, confidence) in zip(pending, predictions):
            out[index].update(subject=subject, subject_method="classifier", subject_confidence=confidence)
    return out

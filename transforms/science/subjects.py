"""Subject stage of Dr. SCI: source metadata -> one of ``SUBJECTS`` or ``not_science``, else a
fastText classifier.

Outcomes: the eight ``SUBJECTS`` (seven sciences + ``general_science``) or ``not_science`` (law,
history, philosophy, psychology, the social sciences, marketing and management): a
``not_science`` row is rejected at the subject stage with reason ``not_science`` (detail
``label <source label>`` or ``classifier p=<probability>``), so kept rows never hold it.

Metadata first. ``subject_from_metadata`` maps the record's ``source_category`` (the label the
adapter copied from the source: WebInstruct ``category``, MegaScience ``subject``, RaR-Science
``question_source``, the MMLU file's subject, or a generic mapping's column) through
``SUBJECT_TABLE``. Labels are compared as keys: lowercased, runs of anything but letters and
digits turned into ``_`` ("Computer Science" -> ``computer_science``). A key not in the table
is retried without a level prefix (``college_``, ``high_school_``, ``professional_`` ...), so
``college_physics`` and ``high_school_physics`` both reach ``physics``; an arXiv category
(``cs.LG``, ``astro-ph.CO``) is retried as its archive (``cs``, ``astro_ph``). Labels the table
does not know, and mixed buckets ("Other", MMLU's ``miscellaneous`` and ``global_facts``), map
to None: the classifier decides those rows.

Choices in the table (the paper does not list its mapping): business, finance and accounting
go to ``economics`` (WebInstruct files most economics questions under them; MMLU-Pro's
``business`` is mostly accounting and finance arithmetic); engineering, earth, environmental and
materials science to ``general_science``; astronomy to ``physics``; biochemistry, virology and
physiology to ``biology``; anatomy, nutrition, pharmacology, psychiatry and clinical subjects to
``medicine``; statistics and formal probability to ``mathematics``. ``not_science``: MMLU's
history, law, philosophy, moral, religion, psychology, sociology, politics, public relations,
marketing, management, security studies, human sexuality and business ethics files, plus
``high_school_geography`` (human geography: migration, urban form, demography) and
``formal_logic`` (a philosophy course's argument analysis and sentence translation); MMLU-Pro's
law, history, philosophy and psychology; textbook and catalogue fields such as sociology,
political science, anthropology, linguistics, literature, art, music, religion and education.

Classifier second. ``train_subject_classifier`` trains fastText (``transforms.quality.
fasttext_rater.train_fasttext``, the same code as ``shardsmith train-rater``) on the question
text of rows whose outcome came from metadata (``not_science`` rows included, so the model
learns it). A default model ships in the package (``BUILTIN_MODEL``, built by
``python -m transforms.science.build_subject_model``: MMLU test questions labelled by this
table plus GSM8K word problems as mathematics). ``decide_subject`` turns the model's label
probabilities into an outcome: ``not_science`` only when it is the top label with probability
at least ``not_science_min_confidence`` (default 0.9: a science question wrongly rejected is
lost, a humanities question wrongly kept is one noisy row); otherwise the best *science* label
when its probability reaches ``min_confidence`` (default 0.5, a majority), else
``general_science`` (an uncertain call is most often an interdisciplinary question). The best
science label's probability stays in ``subject_confidence`` so a different floor can be applied
later without re-predicting.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from schemas.science import NOT_SCIENCE, SUBJECT_OUTCOMES, SUBJECTS
from transforms.quality.fasttext_rater import LABEL_PREFIX, _predict_line, load_model, train_fasttext
from transforms.records import Rejected

DEFAULT_MIN_CONFIDENCE = 0.5
NOT_SCIENCE_MIN_CONFIDENCE = 0.9
FALLBACK_SUBJECT = "general_science"
BUILTIN_MODEL = Path(__file__).parent / "models" / "subjects.ftz"
BUILTIN = "builtin"  # a SubjectClassifier's model_path meaning BUILTIN_MODEL of the installed package
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
        "elementary_mathematics", "high_school_statistics", "stat", "math_ph",
    ),
    "physics": (
        "physics", "astronomy", "astrophysics", "mechanics", "classical_mechanics", "quantum_mechanics",
        "quantum_physics", "electromagnetism", "electricity_and_magnetism", "optics", "thermodynamics",
        "statistical_mechanics", "nuclear_physics", "particle_physics", "condensed_matter",
        "condensed_matter_physics", "relativity", "fluid_mechanics", "acoustics", "cosmology",
        "conceptual_physics",
        # arXiv archives
        "astro_ph", "cond_mat", "gr_qc", "hep_ex", "hep_lat", "hep_ph", "hep_th", "nucl_ex", "nucl_th",
        "quant_ph", "nlin",
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
        "life_science", "marine_biology", "developmental_biology", "biotechnology", "q_bio",
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
        "macroeconomics", "business_and_management", "financial_mathematics",
        "high_school_macroeconomics", "high_school_microeconomics", "professional_accounting", "q_fin",
    ),
    "general_science": (
        "general_science", "science", "engineering", "electrical_engineering", "mechanical_engineering",
        "civil_engineering", "materials_science", "earth_science", "earth_sciences", "geology",
        "geophysics", "geoscience", "environmental_science", "environmental_engineering", "meteorology",
        "atmospheric_science", "oceanography", "agriculture", "agronomy", "natural_science",
        "natural_sciences", "stem", "interdisciplinary", "eess", "physical_geography",
    ),
    NOT_SCIENCE: (
        # MMLU humanities and social-science files
        "high_school_european_history", "high_school_us_history", "high_school_world_history", "prehistory",
        "international_law", "jurisprudence", "professional_law", "philosophy", "moral_disputes",
        "moral_scenarios", "world_religions", "logical_fallacies", "formal_logic", "high_school_psychology",
        "professional_psychology", "sociology", "public_relations", "marketing", "management",
        "security_studies", "us_foreign_policy", "high_school_government_and_politics",
        "high_school_geography", "human_sexuality", "business_ethics",
        # MMLU-Pro categories, textbook and catalogue fields
        "law", "history", "psychology", "world_history", "us_history", "european_history", "ancient_history",
        "art_history", "legal_studies", "political_science", "politics", "government", "civics",
        "international_relations", "public_policy", "sociology_and_anthropology", "anthropology",
        "archaeology", "social_science", "social_sciences", "social_studies", "humanities", "ethics",
        "religion", "religious_studies", "theology", "linguistics", "literature", "english",
        "english_literature", "language", "languages", "art", "arts", "music", "film", "education",
        "communication", "communications", "journalism", "criminology", "human_geography", "geography",
        "gender_studies", "cultural_studies",
    ),
}

SUBJECT_TABLE: dict[str, str] = {
    label: subject for subject, labels in _SUBJECT_LABELS.items() for label in labels
}
assert set(SUBJECT_TABLE.values()) == set(SUBJECT_OUTCOMES)
assert len(SUBJECT_TABLE) == sum(map(len, _SUBJECT_LABELS.values())), "a label is listed under two subjects"

_KEY_RE = re.compile(r"[^a-z0-9]+")
_ARXIV_RE = re.compile(r"^([a-z]+(?:-[a-z]+)?)\.[a-z]{2}(?:-[a-z]+)?$", re.IGNORECASE)


def label_key(label) -> str:
    """A metadata label as a table key: lowercase, non-alphanumeric runs as ``_`` ('' if empty)."""
    if label is None:
        return ""
    return _KEY_RE.sub("_", str(label).strip().lower()).strip("_")


def subject_of_label(label, table: dict[str, str] | None = None) -> str | None:
    """The outcome (a subject or ``not_science``) a metadata label maps to, or None when the table does not know it."""
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
    arxiv = _ARXIV_RE.match(str(label).strip())  # cs.LG, astro-ph.CO, q-bio.NC
    if arxiv:
        return table.get(label_key(arxiv.group(1)))
    return None


def subject_from_metadata(record: dict, table: dict[str, str] | None = None,
                          label_field: str = "source_category") -> tuple[str | None, str | None]:
    """``(outcome, 'metadata')`` when the record's label maps to a subject or ``not_science``, else ``(None, None)``."""
    subject = subject_of_label(record.get(label_field), table)
    return (subject, "metadata") if subject else (None, None)


def subject_text(record: dict) -> str:
    """The text the classifier reads: the question (choices included when rendered into it)."""
    question = record.get("question")
    return question if isinstance(question, str) else ""


def metadata_training_pairs(records: Iterable[dict], table: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(texts, outcomes) of the records whose subject (or ``not_science``) the metadata table decides."""
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


def decide_subject(probabilities: Mapping[str, float], min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                   not_science_min_confidence: float = NOT_SCIENCE_MIN_CONFIDENCE,
                   fallback_subject: str = FALLBACK_SUBJECT) -> tuple[str, float]:
    """``(outcome, probability)`` from a classifier's label probabilities.

    ``not_science`` (with its probability) when it is the most probable label and reaches
    ``not_science_min_confidence``; else the most probable science label when it reaches
    ``min_confidence``; else ``fallback_subject``. Both science cases carry the best science
    label's probability (0.0 when the model knows no science label).
    """
    not_science = probabilities.get(NOT_SCIENCE, 0.0)
    science = [(p, label) for label, p in probabilities.items() if label in SUBJECTS]
    best_p, best = max(science, default=(0.0, fallback_subject))
    if not_science >= not_science_min_confidence and not_science >= best_p:
        return NOT_SCIENCE, not_science
    return (best if best_p >= min_confidence else fallback_subject), best_p


class SubjectClassifier:
    """fastText subject prediction with confidence floors (``decide_subject``).

    The model loads on first use (or in ``setup``, from a Beam ``DoFn.setup``), never at
    construction, and pickling drops it, so the classifier ships to workers as a path;
    ``model_path="builtin"`` (the default) resolves to the shipped model where it loads, so a
    worker reads its own installed copy.
    """

    def __init__(self, model_path: str | os.PathLike = BUILTIN, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 fallback_subject: str = FALLBACK_SUBJECT,
                 not_science_min_confidence: float = NOT_SCIENCE_MIN_CONFIDENCE):
        if fallback_subject not in SUBJECTS:
            raise ValueError(f"fallback subject {fallback_subject!r} is not one of {SUBJECTS}")
        self.model_path = str(model_path)
        self.min_confidence = min_confidence
        self.not_science_min_confidence = not_science_min_confidence
        self.fallback_subject = fallback_subject
        self._model = None

    def setup(self) -> None:
        if self._model is None:
            self._model = load_model(BUILTIN_MODEL if self.model_path == BUILTIN else self.model_path)

    def probabilities(self, text: str) -> dict[str, float]:
        """Every label's probability (without the ``__label__`` prefix) for one text."""
        self.setup()
        return {label[len(LABEL_PREFIX):] if label.startswith(LABEL_PREFIX) else label: min(float(p), 1.0)
                for p, label in _predict_line(self._model, text, -1)}

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """``(outcome, probability)`` per text: ``decide_subject`` over the model's probabilities."""
        return [decide_subject(self.probabilities(text), self.min_confidence, self.not_science_min_confidence,
                               self.fallback_subject) for text in texts]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_model"] = None
        return state


def not_science_reject(record: dict, method: str, confidence: float | None) -> Rejected:
    """The subject stage's ``not_science`` reject: the source label, or the classifier's probability."""
    if method == "metadata":
        return Rejected(NOT_SCIENCE, f"label {str(record.get('source_category'))[:200]!r}")
    return Rejected(NOT_SCIENCE, f"classifier p={confidence:.3f}")


def assign_subject(record: dict, classifier: SubjectClassifier | None = None,
                   table: dict[str, str] | None = None) -> dict | Rejected:
    """A copy of ``record`` with ``subject``, ``subject_method`` and ``subject_confidence`` set,
    or ``Rejected('not_science')``.

    Metadata wins; otherwise the classifier (when given) decides; otherwise all three stay None
    (an LLM stage, or a reject downstream, may decide).
    """
    (result,) = assign_subjects([record], classifier, table)
    return result


def assign_subjects(records: Sequence[dict], classifier: SubjectClassifier | None = None,
                    table: dict[str, str] | None = None) -> list[dict | Rejected]:
    """``assign_subject`` over a batch (one result per record, in order)."""
    out: list[dict | Rejected] = []
    for record in records:
        subject, method = subject_from_metadata(record, table)
        confidence = None
        if subject is None and classifier is not None:
            ((subject, confidence),) = classifier.predict([subject_text(record)])
            method = "classifier"
        if subject == NOT_SCIENCE:
            out.append(not_science_reject(record, method, confidence))
            continue
        updated = dict(record)
        updated.update(subject=subject, subject_method=method, subject_confidence=confidence)
        out.append(updated)
    return out

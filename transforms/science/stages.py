"""Dr. SCI's stage functions: reading MMLU CSVs, adapting source layouts, subjects, the split,
decontamination, imported rubrics. Plain callables (``setup()`` loads what a worker needs once);
the step list in ``pipelines/dr_sci.py`` wires them.
"""
from __future__ import annotations

import os
from typing import Iterator

from transforms.argtypes import parse_column_map
from transforms.errors import InputError
from transforms.io.readers import Unreadable, record_bound
from transforms.records import Rejected
from transforms.science.adapters import ADAPTERS, POSITION_FIELD, generic_adapter, iter_mmlu_csv
from transforms.science.answer_latex import prestart_symbolic
from transforms.science.answer_numbers import load_unit_registries
from transforms.science.answers import assign_split, assign_splits
from transforms.science.decontam import Contamination
from transforms.science.rubrics import FINAL_ANSWER_WEIGHT, final_answer_item, has_final_answer_item
from transforms.science.subjects import SubjectClassifier, assign_subject


def parse_column_maps(values: str | list[str] | None) -> dict[str, dict]:
    """The ``--column-map`` values -> mapping per generic source name ("" for the default).

    ``NAME:question=q,...`` maps the columns of ``--source generic:NAME=...`` only; a value without
    ``NAME:`` is the mapping of every generic source that has none of its own. Each source once.
    """
    maps: dict[str, dict] = {}
    for value in [values] if isinstance(values, str) else values or []:
        head, eq, _ = value.partition("=")
        name, colon, target = head.partition(":")
        name, text = (name.strip(), value.split(":", 1)[1]) if colon else ("", value)
        if name in maps:
            shown = f"generic:{name}" if name else "the generic sources"
            raise InputError(f"--column-map {value!r}: a second mapping for {shown}")
        maps[name] = parse_column_map(text)
    return maps


def adapter_for(name: str, column_maps: dict[str, dict]):
    """The adapter of ``--source NAME=``: a built-in one, or the generic adapter with its column map."""
    if name == "generic" or name.startswith("generic:"):
        source = name.split(":", 1)[1] if ":" in name else "generic"
        mapping = column_maps.get(source if ":" in name else "", column_maps.get("", {}))
        try:
            return generic_adapter(mapping, source=source)
        except ValueError as exc:
            raise InputError(f"--column-map for --source {name}: {exc}") from None
    return ADAPTERS[name]


def file_of(position: str | None) -> str | None:
    return position.rsplit("#", 1)[0] if isinstance(position, str) and "#" in position else None


class Adapt:
    """Raw record -> science question, by the adapter of the file it came from.

    ``by_file`` maps the file part of the record's position (a display name) to an adapter name.
    """

    def __init__(self, by_file: dict[str, str], column_map_text: str | list[str] | None):
        self.by_file, self.column_map_text = dict(by_file), column_map_text
        self._adapters: dict = {}

    def __call__(self, record: dict):
        name = self.by_file.get(file_of(record.get(POSITION_FIELD)))
        if name is None:
            return Rejected("unknown_source", f"no --source names the file of {record.get(POSITION_FIELD)!r}")
        adapter = self._adapters.get(name)
        if adapter is None:
            adapter = self._adapters[name] = adapter_for(name, parse_column_maps(self.column_map_text))
        return adapter(record)

    def __getstate__(self):
        return {**self.__dict__, "_adapters": {}}


class AssignSubject:
    """Metadata table first, then the fastText classifier (loaded once per worker); a
    ``not_science`` outcome is ``Rejected('not_science')``. ``model_path``: a model file or URL,
    ``"builtin"`` (the shipped model) or None (metadata only)."""

    def __init__(self, model_path: str | None):
        self.classifier = SubjectClassifier(model_path) if model_path else None

    def setup(self):
        if self.classifier is not None:
            self.classifier.setup()

    def __call__(self, question: dict) -> dict:
        return assign_subject(question, self.classifier)


class Split:
    """Verifiable / open-ended split and canonical answers; ``unit_cache``: a folder for pint's cache
    of its unit definitions (``worker_cache_dir``; None: none)."""

    def __init__(self, drop_open_ended_math: bool, unit_cache: str | None = None):
        self.drop_open_ended_math, self.unit_cache = drop_open_ended_math, unit_cache

    def setup(self):
        """Once per worker, not in the first records' time: the sympy worker process booting in the
        background, pint's unit tables, and sympy here too (expression readings come back as sympy
        objects, whose first unpickling would import it)."""
        prestart_symbolic()
        load_unit_registries(self.unit_cache)
        import sympy  # noqa: F401

    def __call__(self, question: dict):
        return assign_split(question, drop_open_ended_math=self.drop_open_ended_math)

    def process_batch(self, questions: list[dict]) -> list:
        """``self(q)`` of each question, with one symbolic-worker round trip per batch (``assign_splits``)."""
        return assign_splits(questions, drop_open_ended_math=self.drop_open_ended_math)


class Decontaminate:
    """Filter stage; the index is built once per worker from the benchmark paths, or loaded from
    ``cache_dir`` (``worker_cache_dir``; None: always built)."""

    def __init__(self, paths: list[str], ngram: int, cache_dir: str | None = None):
        self.paths, self.ngram, self.cache_dir, self.index = list(paths), ngram, cache_dir, None

    def setup(self):
        if self.index is None:
            self.index = Contamination.from_paths(self.paths, ngram=self.ngram, min_words=min(8, self.ngram),
                                                  cache_dir=self.cache_dir)

    def __call__(self, question: dict):
        self.setup()
        return self.index.contamination_reason(question)

    def __getstate__(self):
        return {**self.__dict__, "index": None}


def complete_imported_rubric(question: dict, weight: float = FINAL_ANSWER_WEIGHT) -> dict:
    """Without an endpoint: imported (RaR) rubrics of open-ended questions still get the final-answer item."""
    rubrics = question.get("rubrics")
    if question.get("split") != "open_ended" or not rubrics or has_final_answer_item(rubrics):
        return question
    out = dict(question)
    out["rubrics"] = list(rubrics) + [final_answer_item(question.get("reference_answer"), weight)]
    return out




class MmluCsvReader:
    """``reader`` of MMLU CSVs: each row with its position "<display name>#<index>" (``names``); a
    file that cannot be read is one ``unreadable_file`` naming it by its display name."""

    def __init__(self, names: dict[str, str]):
        self.names = dict(names)

    record_bound = staticmethod(record_bound)  # ``ReadFrom``: lets dedup plan for the input's size

    def __call__(self, path: str) -> Iterator[dict | Unreadable]:
        name = self.names.get(path, os.path.basename(path))
        try:
            rows = list(iter_mmlu_csv(path))
        except Exception as exc:  # noqa: BLE001 - a corrupt file becomes one reject
            message = str(exc).replace(os.path.abspath(path), name).replace(path, name)
            yield Unreadable("unreadable_file", f"{name}: {type(exc).__name__}: {message}", {"source": name})
            return
        for index, row in enumerate(rows):
            row[POSITION_FIELD] = f"{name}#{index}"
            yield row

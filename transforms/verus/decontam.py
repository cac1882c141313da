"""Decontamination of Verus seeds against benchmarks (``--decontam-benchmark``).

A benchmark is a task file or folder in any seed layout (``.rs`` files, ``{task_id, task,
ground_truth}`` / ``{prompt, input, output}`` / ``{program}`` JSON or JSONL). Each item's key is
``tasks.target_text`` of its task and of its ground truth (both, when the file has both): the
target functions' spec + exec code without proof, comments or whitespace, so a benchmark task
and the verified program it was made from have the same key, whatever context surrounds them.
A seed whose key equals an item's, or whose MinHash Jaccard estimate over code-token n-grams
reaches the threshold (LSH candidates, then the signatures compared), is contaminated. Beam-free.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from transforms.dedup.minhash import MinHashConfig, band_hashes, estimated_jaccard, signatures
from transforms.io.readers import Unreadable
from transforms.records import Rejected
from transforms.verus.programs import extract, iter_seed_file, seed_inputs
from transforms.verus.syntax import parse_verus
from transforms.verus.tasks import target_text

REASON = "benchmark_contamination"
FLAG = "--decontam-benchmark"


@dataclass
class BenchmarkIndex:
    """Keys of benchmark items: exact texts and MinHash LSH buckets (``match``)."""

    config: MinHashConfig
    names: list[str] = field(default_factory=list)  # item name per key
    exact: dict[str, int] = field(default_factory=dict)
    sigs: np.ndarray | None = None
    buckets: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # why items gave no key
    items: int = 0

    def add(self, texts: list[str], names: list[str]) -> None:
        """Index the keys ``texts`` of the items ``names`` (once, before ``match``)."""
        for text, name in zip(texts, names):
            self.exact.setdefault(_norm(text), len(self.names))
            self.names.append(name)
        if not texts:
            return
        sigs, has = signatures(texts, self.config)
        bands, rows = self.config.band_layout
        keys = band_hashes(sigs, bands, rows)
        for i in range(len(texts)):
            if has[i]:
                for b in range(bands):
                    self.buckets.setdefault((b, int(keys[i, b])), []).append(i)
        self.sigs = sigs

    def match(self, text: str) -> tuple[str, str] | None:
        """(item name, how) of the benchmark item the key matches, else None."""
        hit = self.exact.get(_norm(text))
        if hit is not None:
            return self.names[hit], "exact"
        if self.sigs is None or not self.buckets:
            return None
        sigs, has = signatures([text], self.config)
        if not has[0]:
            return None
        bands, rows = self.config.band_layout
        keys = band_hashes(sigs, bands, rows)[0]
        candidates = sorted({j for b in range(bands) for j in self.buckets.get((b, int(keys[b])), ())})
        best = None
        for j in candidates:
            similarity = float(estimated_jaccard(sigs[0], self.sigs[j]))
            if similarity >= self.config.threshold and (best is None or similarity > best[1]):
                best = (j, similarity)
        return None if best is None else (self.names[best[0]], f"near, Jaccard {best[1]:.2f}")


def _norm(text: str) -> str:
    return " ".join(text.split())


def benchmark_keys(raw: dict) -> tuple[str, list[str]] | str:
    """One raw benchmark record -> (item name, keys), or why it gives none."""
    candidate = extract(raw)
    if isinstance(candidate, Rejected):
        return candidate.reason
    keys = []
    for program in (candidate.get("_task"), candidate.get("program")):
        if program and not isinstance(parse_verus(program), Rejected):
            key = target_text(program)
            if key and key not in keys:
                keys.append(key)
    if not keys:
        return "parse_error"
    return candidate.get("source_id") or candidate.get("source"), keys


def build_index(patterns: list[str], config: MinHashConfig) -> BenchmarkIndex:
    """The index of every item of the ``--decontam-benchmark`` files (InputError naming the flag
    when a path is wrong); unreadable files and items without a key are counted in ``skipped``."""
    files, names = seed_inputs(patterns, flag=FLAG)
    index = BenchmarkIndex(config)
    texts, item_names = [], []
    for path in files:
        for raw in iter_seed_file(path, names.get(path)):
            index.items += 1
            if isinstance(raw, Unreadable):
                index.skipped[raw.reason] = index.skipped.get(raw.reason, 0) + 1
                continue
            got = benchmark_keys(raw)
            if isinstance(got, str):
                index.skipped[got] = index.skipped.get(got, 0) + 1
                continue
            name, keys = got
            texts += keys
            item_names += [name] * len(keys)
    index.add(texts, item_names)
    return index


class Decontaminate:
    """Filter stage: a seed whose target key matches a benchmark item -> ``benchmark_contamination``
    (the detail names the item and how it matched)."""

    def __init__(self, index: BenchmarkIndex, key_field: str):
        self.index, self.key_field = index, key_field

    def __call__(self, record: dict):
        hit = self.index.match(record[self.key_field])
        if hit is None:
            return None
        return Rejected(REASON, f"{hit[0]} ({hit[1]})")

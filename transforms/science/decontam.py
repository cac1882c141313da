"""Benchmark decontamination of Dr. SCI questions: exact normalized match and word n-gram overlap.

Benchmarks load from three layouts (``load_benchmark`` picks by path):

* MMLU CSV: no header; question, options A-D, answer letter (a directory of them, or one file);
* GPQA-style CSV: a header row with a ``Question`` column (``question_field``), options in
  ``Correct Answer`` / ``Incorrect Answer 1..3`` are not indexed (their order is not the test's);
* JSONL: one object per line with a question field (``question`` by default, configurable),
  optionally a list of choices (``choices_field``) and an id (``id_field``).

Matching, on the words of ``transforms.dedup.exact.word_tokens`` (NFKC, lowercase, punctuation
and LaTeX markup split away, so ``$x^2$`` and "x^2" read alike):

1. exact: the normalized question equals a benchmark question, alone or with its options
   rendered the way ``adapters.render_choices`` renders them; or, for a question with choices,
   its text starts with a benchmark question's words and its set of options equals that item's
   (order and option formatting ignored: a short question with shuffled options shares no
   13-gram with its benchmark item, and was found 42% of the time on MMLU's 1,098 questions of
   under 8 words, against 100% for long ones);
2. n-grams: the question shares at least ``min_shared`` (1) word ``ngram``-grams (13) with one
   benchmark item, and at least ``min_containment`` (0.0) of that item's distinct n-grams.
   Benchmark items are the question followed by its options, so a copied question with its
   options shares many n-grams even when the question alone is short. A benchmark question of
   ``min_words`` (8) to ``ngram - 1`` words has no 13-gram; its whole word sequence is its one
   n-gram, so it is found when a training question contains it word for word. Shorter ones are
   matched only exactly.

The rule is the 13-gram overlap of GPT-3's contamination analysis: a single shared 13-gram is
contamination. Thirteen words in a row are specific enough that unrelated questions almost never
share them, while a copy with a changed number or an added sentence still shares many; a
paraphrase that keeps no 13 words in a row is kept. ``min_containment`` raises the bar for
corpora where benchmark boilerplate ("Which of the following statements is true about ...") is
common.

Speed: n-gram hashes are stable 64-bit values (xxh64 of each word, then a polynomial rolling
hash modulo 2**64), computed with numpy over all benchmark text at once, sorted, and searched
with ``searchsorted`` behind a presence table on the low ``filter_bits`` bits. Building the index
of the 57 MMLU test files (14,079 rows) takes about 0.8 s; a local run keeps it in the user's
cache (``from_paths(cache_dir=...)``, ``~/.cache/shardsmith/decontam``, named by the files' paths, sizes and
modification times and this code's source) and loads it in about 0.2 s next time. A query costs
about 0.1 ms (measured by ``benchmarks/science_stages_benchmark.py``).
"""
from __future__ import annotations

import csv
import functools
import glob
import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import numpy as np
import xxhash

from transforms.dedup.exact import word_tokens
from transforms.records import Rejected

NGRAM = 13
MIN_WORDS = 8
MIN_SHARED = 1
MIN_CONTAINMENT = 0.0
FILTER_BITS = 24  # 16 MB presence table; about 5% of absent grams pass it with MMLU loaded
OPTION_LETTERS = "ABCDEFGHIJ"
_BASE = np.uint64(1099511628211)  # FNV-64 prime; products wrap modulo 2**64
CACHE_VERSION = 1  # of the files ``Contamination.to_file`` writes (the cache key also covers the code's source)


class BenchmarkQuestion(NamedTuple):
    """One benchmark item: benchmark name, its id there, question text, options (may be empty)."""

    benchmark: str
    question_id: str
    question: str
    choices: tuple[str, ...] = ()


class ContaminationMatch(NamedTuple):
    """Which benchmark item a question overlaps and how."""

    item: BenchmarkQuestion
    how: str


# --------------------------------------------------------------------------- loading

def load_mmlu_csv(path: str | os.PathLike, benchmark: str = "mmlu") -> list[BenchmarkQuestion]:
    """Items of an MMLU CSV (no header: question, A, B, C, D, answer); ids "<file stem>:<row>"."""
    stem = os.path.splitext(os.path.basename(str(path)))[0]
    items = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row_index, row in enumerate(csv.reader(handle)):
            if row and row[0].strip():
                items.append(BenchmarkQuestion(benchmark, f"{stem}:{row_index}", row[0], tuple(row[1:5])))
    return items


def load_gpqa_csv(path: str | os.PathLike, benchmark: str | None = None, question_field: str = "Question",
                  id_field: str = "Record ID") -> list[BenchmarkQuestion]:
    """Items of a CSV with a header naming a question column (GPQA layout)."""
    benchmark = benchmark or os.path.splitext(os.path.basename(str(path)))[0]
    items = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if question_field not in (reader.fieldnames or []):
            raise ValueError(f"{path}: no {question_field!r} column (columns: {reader.fieldnames})")
        for row_index, row in enumerate(reader):
            question = row.get(question_field) or ""
            if question.strip():
                items.append(BenchmarkQuestion(benchmark, row.get(id_field) or str(row_index), question))
    return items


def load_jsonl_questions(path: str | os.PathLike, benchmark: str | None = None, question_field: str = "question",
                         id_field: str | None = None, choices_field: str | None = None) -> list[BenchmarkQuestion]:
    """Items of a JSONL file with a question field (and optionally an id and a list of choices)."""
    benchmark = benchmark or os.path.basename(str(path)).split(".")[0]
    items = []
    with open(path, encoding="utf-8") as handle:
        for line_index, line in enumerate(handle):
            if not line.strip():
                continue
            row = json.loads(line)
            question = row.get(question_field) if isinstance(row, dict) else None
            if not isinstance(question, str) or not question.strip():
                continue
            choices = row.get(choices_field) if choices_field else None
            choices = tuple(str(c) for c in choices) if isinstance(choices, list) else ()
            identity = row.get(id_field) if id_field else None
            items.append(BenchmarkQuestion(benchmark, str(identity if identity is not None else line_index), question, choices))
    return items


def _is_mmlu_row(row: Sequence[str]) -> bool:
    return len(row) == 6 and row[5].strip() in ("A", "B", "C", "D")


def load_benchmark(path: str | os.PathLike, benchmark: str | None = None,
                   question_field: str | None = None) -> list[BenchmarkQuestion]:
    """Items of a benchmark path: a directory of MMLU CSVs, an MMLU or GPQA-style CSV, or JSONL.

    The benchmark name defaults to the directory name for a directory, ``mmlu`` for an MMLU
    file, and the file stem otherwise.
    """
    path = str(path)
    if os.path.isdir(path):
        name = benchmark or os.path.basename(os.path.normpath(path))
        items = []
        for file in sorted(glob.glob(os.path.join(path, "*.csv"))):
            items.extend(load_mmlu_csv(file, name))
        if not items:
            raise ValueError(f"{path}: no MMLU CSV files in the directory")
        return items
    lower = path.lower()
    if lower.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            first = next(csv.reader(handle), [])
        wanted = question_field or "Question"
        if wanted in first:
            return load_gpqa_csv(path, benchmark, wanted)
        if _is_mmlu_row(first):
            return load_mmlu_csv(path, benchmark or "mmlu")
        raise ValueError(f"{path}: neither an MMLU row nor a header with a {wanted!r} column")
    if lower.endswith((".jsonl", ".json", ".ndjson")):
        return load_jsonl_questions(path, benchmark, question_field or "question")
    raise ValueError(f"{path}: unknown benchmark layout (expected a directory, .csv or .jsonl)")


# --------------------------------------------------------------------------- hashing

def _word_hashes(tokens: Sequence[bytes]) -> np.ndarray:
    return np.fromiter(map(xxhash.xxh64_intdigest, tokens), dtype=np.uint64, count=len(tokens))


def _tokens_key(tokens: Sequence[bytes]) -> str:
    """Exact-match key of normalized words; equal to ``content_key(text)`` of the text they came from."""
    return hashlib.sha1(b" ".join(tokens)).hexdigest()


def _options_key(choices: Sequence[str]) -> str:
    """The set of options as one key: each option's normalized words, sorted (order ignored)."""
    return _options_key_of_tokens([word_tokens(choice) for choice in choices])


def _options_key_of_tokens(choice_tokens: Sequence[Sequence[bytes]]) -> str:
    return "\x1e".join(sorted(map(_tokens_key, choice_tokens)))


_LETTER_TOKENS = [word_tokens(f"{letter}. ") for letter in OPTION_LETTERS]


def _rendered_tokens(question: list[bytes], choice_tokens: Sequence[list[bytes]]) -> list[bytes]:
    """``word_tokens(rendered_text(item))`` from the tokens of its parts: words never span the line
    breaks that separate the question and its options, and the parts normalize alone as they do
    together (a line break is a normalization boundary), so the text need not be tokenized twice."""
    full = list(question)
    for letter, tokens in zip(_LETTER_TOKENS, choice_tokens):
        full += letter
        full += tokens
    return full


def _gram_hashes(words: np.ndarray, sizes: Sequence[int]) -> dict[int, np.ndarray]:
    """``{size: hashes of every size-gram, by start position}`` for the wanted sizes (rolling hash)."""
    out: dict[int, np.ndarray] = {}
    wanted = set(sizes)
    hashes = words
    for size in range(1, max(sizes) + 1):
        if size > 1:
            hashes = hashes[:-1] * _BASE + words[size - 1:]
        if size in wanted:
            out[size] = hashes
    return out


def rendered_text(item: BenchmarkQuestion) -> str:
    """The item as a question with options rendered like ``adapters.render_choices``."""
    if not item.choices:
        return item.question
    lines = [f"{OPTION_LETTERS[i]}. {choice}" for i, choice in enumerate(item.choices)]
    return item.question.rstrip() + "\n\n" + "\n".join(lines)


# --------------------------------------------------------------------------- the index

class Contamination:
    """An index over benchmark items answering whether a question overlaps one of them."""

    def __init__(self, items: Iterable[BenchmarkQuestion], ngram: int = NGRAM, min_words: int = MIN_WORDS,
                 min_shared: int = MIN_SHARED, min_containment: float = MIN_CONTAINMENT, filter_bits: int = FILTER_BITS):
        if not 1 <= min_words <= ngram:
            raise ValueError(f"need 1 <= min_words ({min_words}) <= ngram ({ngram})")
        self.items = list(items)
        self.ngram, self.min_words = ngram, min_words
        self.min_shared, self.min_containment = max(1, min_shared), min_containment
        self.filter_bits = filter_bits
        self.benchmarks = sorted({item.benchmark for item in self.items})
        self._build()

    @classmethod
    def from_paths(cls, paths: Iterable[str | os.PathLike], question_field: str | None = None,
                   cache_dir: str | os.PathLike | None = None, **options) -> "Contamination":
        """An index over every benchmark path (see ``load_benchmark``).

        ``cache_dir``: keep the built index there, named by the benchmark files (path, size,
        modification time), ``question_field`` and ``options``, and load it from there next time
        (MMLU's test set: ~0.2 s instead of ~0.8 s). A cache that cannot be read or written is
        ignored: the index is built.
        """
        paths = [str(path) for path in paths]
        cached = _cache_path(cache_dir, paths, question_field, options) if cache_dir is not None else None
        if cached is not None and cached.exists():
            try:
                return cls.from_file(cached)
            except Exception:  # noqa: BLE001 - a damaged or foreign file: build the index again
                pass
        items: list[BenchmarkQuestion] = []
        for path in paths:
            items.extend(load_benchmark(path, question_field=question_field))
        index = cls(items, **options)
        if cached is not None:
            try:
                index.to_file(cached)
            except OSError:
                pass
        return index

    def to_file(self, path: str | os.PathLike) -> None:
        """Write the built index (numpy arrays and a JSON description, no pickle), atomically."""
        meta = {
            "version": CACHE_VERSION,
            "params": [self.ngram, self.min_words, self.min_shared, self.min_containment, self.filter_bits],
            "items": [list(item) for item in self.items],
            "exact": self._exact,
            # a stem's words joined by spaces (a word never holds one)
            "by_options": {key: [[b" ".join(stem).decode("utf-8", "surrogatepass"), index] for stem, index in entries]
                           for key, entries in self._by_options.items()},
            "short_sizes": self._short_sizes,
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with open(partial, "wb") as handle:
                np.savez(handle, hashes=self._hashes, owners=self._owners, gram_counts=self._gram_counts,
                         meta=np.frombuffer(json.dumps(meta).encode("utf-8", "surrogatepass"), dtype=np.uint8))
            os.replace(partial, path)
        finally:
            if partial.exists():  # a write that failed part-way leaves nothing behind
                partial.unlink()

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Contamination":
        """An index written by ``to_file``."""
        with np.load(path, allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode("utf-8", "surrogatepass"))
            if meta.get("version") != CACHE_VERSION:
                raise ValueError(f"{path}: index format {meta.get('version')}, expected {CACHE_VERSION}")
            index = cls.__new__(cls)
            index.ngram, index.min_words, index.min_shared, index.min_containment, index.filter_bits = meta["params"]
            index.items = [BenchmarkQuestion(b, q_id, q, tuple(c)) for b, q_id, q, c in meta["items"]]
            index.benchmarks = sorted({item.benchmark for item in index.items})
            index._exact = meta["exact"]
            index._by_options = {key: [(tuple(stem.encode("utf-8", "surrogatepass").split(b" ")) if stem else (), item)
                                       for stem, item in entries] for key, entries in meta["by_options"].items()}
            index._short_sizes = meta["short_sizes"]
            index._hashes, index._owners = arrays["hashes"], arrays["owners"]
            index._gram_counts = arrays["gram_counts"]
        index._build_filter()
        return index

    def _build(self) -> None:
        # One token stream: item i's question followed by its options. The question's words are a
        # prefix of that stream, so a short question's whole-question gram starts where the item does.
        self._exact: dict[str, int] = {}
        self._by_options: dict[str, list[tuple[tuple[bytes, ...], int]]] = {}
        tokens: list[bytes] = []
        starts, lengths, question_lengths = [], [], []
        for index, item in enumerate(self.items):
            question = word_tokens(item.question)
            full = question
            if item.choices:
                choice_tokens = [word_tokens(choice) for choice in item.choices]
                full = _rendered_tokens(question, choice_tokens)
                self._by_options.setdefault(_options_key_of_tokens(choice_tokens), []).append((tuple(question), index))
            for key in (_tokens_key(question), _tokens_key(full)):
                self._exact.setdefault(key, index)
            starts.append(len(tokens))
            lengths.append(len(full))
            question_lengths.append(len(question))
            tokens.extend(full)
        starts_a = np.asarray(starts, dtype=np.int64)
        lengths_a = np.asarray(lengths, dtype=np.int64)
        question_a = np.asarray(question_lengths, dtype=np.int64)
        short = (question_a >= self.min_words) & (question_a < self.ngram)
        self._short_sizes = sorted(int(size) for size in np.unique(question_a[short]))
        grams = _gram_hashes(_word_hashes(tokens), [self.ngram, *self._short_sizes]) if tokens else {}

        hashes, owners = [], []
        long_items = np.flatnonzero(lengths_a >= self.ngram)
        if len(long_items):
            counts = lengths_a[long_items] - self.ngram + 1
            offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            hashes.append(grams[self.ngram][np.repeat(starts_a[long_items], counts) + offsets])
            owners.append(np.repeat(long_items, counts))
        for size in self._short_sizes:
            chosen = np.flatnonzero(short & (question_a == size))
            hashes.append(grams[size][starts_a[chosen]])
            owners.append(chosen)
        if hashes:
            all_hashes, all_owners = np.concatenate(hashes), np.concatenate(owners)
            order = np.lexsort((all_owners, all_hashes))
            all_hashes, all_owners = all_hashes[order], all_owners[order]
            distinct = np.ones(len(all_hashes), dtype=bool)  # one entry per (gram, item)
            distinct[1:] = (all_hashes[1:] != all_hashes[:-1]) | (all_owners[1:] != all_owners[:-1])
            self._hashes, self._owners = all_hashes[distinct], all_owners[distinct]
        else:
            self._hashes, self._owners = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        self._gram_counts = np.bincount(self._owners, minlength=len(self.items))
        self._build_filter()

    def _build_filter(self) -> None:
        # a one-byte-per-slot presence table on the low hash bits: most query grams miss it, and a
        # gather from it is far cheaper than a binary search through the sorted hashes
        self._filter_mask = np.uint64((1 << self.filter_bits) - 1)
        self._filter = np.zeros(1 << self.filter_bits, dtype=bool)
        self._filter[(self._hashes & self._filter_mask).astype(np.int64)] = True

    def __len__(self) -> int:
        return len(self.items)

    @property
    def n_grams(self) -> int:
        """Distinct (n-gram, item) pairs in the index."""
        return int(len(self._hashes))

    def match(self, text: str, choices: Sequence[str] | None = None) -> ContaminationMatch | None:
        """The benchmark item ``text`` (with its ``choices``, if any) overlaps (exact first, then the
        same question with the same set of options, then most shared n-grams, then first loaded), or None."""
        if not isinstance(text, str) or not text.strip():
            return None
        tokens = word_tokens(text)
        exact = self._exact.get(_tokens_key(tokens))
        if exact is not None:
            return ContaminationMatch(self.items[exact], "exact normalized match")
        same_options = self._same_options(tokens, choices)
        if same_options is not None:
            return ContaminationMatch(self.items[same_options], "exact normalized match of the question and its set of options")
        sizes = [size for size in (self.ngram, *self._short_sizes) if size <= len(tokens)]
        if not sizes or not len(self._hashes):
            return None
        grams = _gram_hashes(_word_hashes(tokens), sizes)
        query = np.concatenate([grams[size] for size in sizes]) if len(sizes) > 1 else grams[sizes[0]]
        query = query[self._filter[(query & self._filter_mask).astype(np.int64)]]
        if not len(query):
            return None
        found = self._hashes[np.minimum(np.searchsorted(self._hashes, query), len(self._hashes) - 1)] == query
        if not found.any():
            return None
        query = np.unique(query[found])
        low = np.searchsorted(self._hashes, query, side="left")
        high = np.searchsorted(self._hashes, query, side="right")
        counts = high - low
        positions = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(low, counts)
        candidates, shared = np.unique(self._owners[positions], return_counts=True)
        containment = shared / np.maximum(self._gram_counts[candidates], 1)
        passing = (shared >= self.min_shared) & (containment >= self.min_containment)
        if not passing.any():
            return None
        candidates, shared, containment = candidates[passing], shared[passing], containment[passing]
        best = int(np.lexsort((candidates, -shared))[0])
        item = self.items[int(candidates[best])]
        how = f"n-gram overlap: {int(shared[best])} shared, containment {float(containment[best]):.2f}"
        return ContaminationMatch(item, how)

    def _same_options(self, tokens: list[bytes], choices: Sequence[str] | None) -> int | None:
        """The first item whose option set equals ``choices`` and whose question the text starts with."""
        if not choices or not all(isinstance(choice, str) for choice in choices):
            return None
        for stem, index in self._by_options.get(_options_key(choices), ()):
            if stem and tuple(tokens[:len(stem)]) == stem:
                return index
        return None

    def contamination_reason(self, question: dict | str) -> Rejected | None:
        """``Rejected('contaminated:<benchmark>', '<benchmark>:<id>: how')`` or None for a clean question."""
        text = question.get("question") if isinstance(question, dict) else question
        found = self.match(text, question.get("choices") if isinstance(question, dict) else None)
        if found is None:
            return None
        return Rejected(f"contaminated:{found.item.benchmark}", f"{found.item.benchmark}:{found.item.question_id}: {found.how}")


def _cache_path(cache_dir: str | os.PathLike, paths: list[str], question_field: str | None,
                options: dict) -> Path | None:
    """Where ``from_paths`` keeps the index of these benchmark files, or None when one cannot be stat'ed."""
    files = []
    try:
        for path in paths:
            for file in sorted(glob.glob(os.path.join(path, "*.csv"))) if os.path.isdir(path) else [path]:
                stat = os.stat(file)
                files.append([os.path.abspath(file), stat.st_size, stat.st_mtime_ns])
    except OSError:
        return None
    key = json.dumps([CACHE_VERSION, _code_key(), files, question_field, sorted(options.items())], sort_keys=True)
    return Path(cache_dir) / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


@functools.lru_cache(maxsize=1)
def _code_key() -> str:
    """The source of the code that builds an index (this module, the tokenizer): a change to it is a new cache."""
    from transforms.dedup import exact

    digest = hashlib.sha256()
    for module in (__file__, exact.__file__):
        with open(module, "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()


def contamination_reason(question: dict | str, index: Contamination) -> Rejected | None:
    """Module-level form of ``Contamination.contamination_reason`` (a filter stage function)."""
    return index.contamination_reason(question)

"""Gopher-style text quality measures (Rae et al. 2021, "Scaling Language Models:
Methods, Analysis & Insights from Training Gopher", section A.1.1 and table A1).

``GopherRater`` adds one float64 column per measure; ``thresholds.GOPHER_DEFAULTS``
holds the paper's cut-offs as threshold specs. Definitions (``text`` is one document):

* raw tokens: ``text.split()`` (whitespace-separated);
* words: raw tokens, lowercased, with punctuation and symbols (``PUNCTUATION``)
  stripped from both ends; tokens that strip to nothing (``-``, ``…``, ``#``) are not words;
* lines: ``text.split("\\n")``, stripped, blank lines ignored;
* paragraphs: blocks separated by blank lines, stripped.

Columns (prefix ``quality_<name>_``, default name ``gopher``):

``word_count``                 number of words
``mean_word_length``           mean characters per word (0 without words)
``symbol_word_ratio``          (count of ``#`` + ``...`` + ``…``) / word count
``bullet_line_fraction``       lines starting with a bullet (``BULLETS``) / lines
``ellipsis_line_fraction``     lines ending with ``...`` or ``…`` / lines
``alpha_word_fraction``        raw tokens containing an alphabetic character / raw tokens
``stop_word_count``            how many distinct ``STOP_WORDS`` occur among the words
``dup_line_fraction``          lines equal to an earlier line / lines
``dup_line_char_fraction``     characters in those repeated lines / characters in lines
``dup_paragraph_fraction``     the same for paragraphs
``dup_paragraph_char_fraction``
``top_<n>gram_char_fraction``  characters in words covered by the occurrences of the most
                               frequent word n-gram / characters in words; 0 when no
                               n-gram repeats
``dup_<n>gram_char_fraction``  characters in words covered by an n-gram that already
                               occurred earlier in the document / characters in words

Characters of words and n-grams exclude spaces. Ratios of an empty document are 0
(its word count of 0 fails the word-count threshold). The most frequent n-gram is
the one with the highest count, ties broken by the longest, then the earliest.
Overlapping occurrences count each word once (so fractions stay within [0, 1]);
datatrove instead skips ahead greedily after a repeat and multiplies count by length.

The n-gram measures run on the whole batch at once: words are hashed into 64-bit
n-gram keys (a false match needs a 64-bit collision) and counted by sorting; each
size only sorts the n-grams whose shorter prefix repeated, so prose costs about
one full sort per batch.
"""
from __future__ import annotations

import re
import string
from itertools import chain, filterfalse
from typing import Sequence

import numpy as np

from transforms.quality.base import Rater

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
BULLETS = ("•", "‣", "◦", "▪", "●", "⁃", "·", "-", "*")
ELLIPSES = ("...", "…")
PUNCTUATION = (
    string.punctuation
    + "“”‘’«»„‚‹›—–‐‑‒―…·•‣◦▪●⁃¡¿、。，．！？：；（）［］｛｝【】「」『』《》〈〉″′§¶†‡°©®™"
)
ASCII_PUNCTUATION = string.punctuation
TOP_NGRAM_SIZES = (2, 3, 4)
DUP_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")

_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_NGRAM_BASE = np.uint64(0x9E3779B97F4A7C15)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads small integer ids over 64 bits (wrapping arithmetic)."""
    x = x.astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * _MIX_1
    x = (x ^ (x >> np.uint64(27))) * _MIX_2
    return x ^ (x >> np.uint64(31))


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _duplicate_counts(items: list[str]) -> tuple[int, int, int]:
    """(items repeating an earlier item, characters in them, characters in all items)."""
    distinct = set(items)
    total_chars = sum(map(len, items))
    return len(items) - len(distinct), total_chars - sum(map(len, distinct)), total_chars


def document_measures(text: str, stop_words: frozenset[str]) -> tuple[list[str], list[int]]:
    """The words of one document and its per-document (non n-gram) counts.

    Counts, in order: raw tokens, alphabetic raw tokens, symbols, lines, bullet lines,
    ellipsis lines, distinct stop words, duplicate lines, duplicate line chars, line
    chars, paragraphs, duplicate paragraphs, duplicate paragraph chars, paragraph chars.
    """
    tokens = text.lower().split()
    # stripping with ASCII-only characters is much faster, and equivalent on ASCII text
    punctuation = ASCII_PUNCTUATION if text.isascii() else PUNCTUATION
    stripped = [token.strip(punctuation) for token in tokens]
    words = [w for w in stripped if w]
    # a token stripped to nothing has no letter, and most words are purely alphabetic
    n_alpha_tokens = len(words) - sum(1 for w in filterfalse(str.isalpha, words) if not any(map(str.isalpha, w)))
    n_symbols = text.count("#") + text.count("...") + text.count("…")

    lines = [line for line in (raw.strip() for raw in text.split("\n")) if line]
    n_bullet = sum(1 for line in lines if line.startswith(BULLETS))
    n_ellipsis = sum(1 for line in lines if line.endswith(ELLIPSES))
    dup_lines, dup_line_chars, line_chars = _duplicate_counts(lines)

    paragraphs = [p for p in (raw.strip() for raw in _PARAGRAPH_BREAK.split(text)) if p]
    dup_paragraphs, dup_paragraph_chars, paragraph_chars = _duplicate_counts(paragraphs)

    n_stop = len(stop_words.intersection(words))
    counts = [
        len(tokens), n_alpha_tokens, n_symbols, len(lines), n_bullet, n_ellipsis, n_stop,
        dup_lines, dup_line_chars, line_chars, len(paragraphs), dup_paragraphs,
        dup_paragraph_chars, paragraph_chars,
    ]
    return words, counts


class BatchWords:
    """All words of a batch, flattened, with per-word document index and length."""

    def __init__(self, word_lists: Sequence[list[str]]):
        self.n_docs = len(word_lists)
        self.words_per_doc = words_per_doc = np.fromiter(map(len, word_lists), dtype=np.int64, count=self.n_docs)
        flat = list(chain.from_iterable(word_lists))
        self.n_words = len(flat)
        # words are identified by Python's 64-bit string hash: equal within a process
        self.word_hash = _mix64(np.fromiter(map(hash, flat), dtype=np.int64, count=self.n_words))
        self.length = np.fromiter(map(len, flat), dtype=np.int64, count=self.n_words)
        self.doc = np.repeat(np.arange(self.n_docs, dtype=np.int64), words_per_doc)
        self.doc_end = np.cumsum(words_per_doc)  # one past each document's last word
        self.chars_per_doc = np.bincount(self.doc, weights=self.length, minlength=self.n_docs)
        self.length_cumsum = np.concatenate([[0], np.cumsum(self.length)])


def ngram_char_fractions(
    batch: BatchWords, top_sizes: Sequence[int], dup_sizes: Sequence[int]
) -> dict[str, np.ndarray]:
    """``top_<n>gram`` and ``dup_<n>gram`` character fractions for a batch of documents."""
    out = {f"top_{n}gram": np.zeros(batch.n_docs) for n in top_sizes}
    out.update({f"dup_{n}gram": np.zeros(batch.n_docs) for n in dup_sizes})
    wanted = set(top_sizes) | set(dup_sizes)
    if not wanted or batch.n_words == 0:
        return out
    doc_salt = _mix64(np.arange(batch.n_docs, dtype=np.int64) + 1)[batch.doc]
    rolling = batch.word_hash.copy()  # rolling[i]: hash of the n-gram starting at word i
    # Only an n-gram whose (n-1)-gram prefix repeats can repeat, and n-grams seen once
    # change no measure, so each size sorts just the starts whose prefix repeated.
    candidates = np.arange(batch.n_words, dtype=np.int64)
    for n in range(2, max(wanted) + 1):
        size = batch.n_words - n + 1
        if size <= 0:
            break
        rolling = rolling[:size] * _NGRAM_BASE + batch.word_hash[n - 1 :]
        candidates = candidates[candidates + n <= batch.doc_end[batch.doc[candidates]]]
        if candidates.size < 2:
            break
        keys = _mix64(rolling[candidates] ^ doc_salt[candidates])
        order = np.argsort(keys)
        sorted_keys = keys[order]
        sorted_starts = candidates[order]
        is_group_start = np.empty(sorted_keys.size, dtype=bool)
        is_group_start[0] = True
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=is_group_start[1:])
        group_index = np.flatnonzero(is_group_start)
        group_of = np.cumsum(is_group_start) - 1
        group_count = np.diff(np.append(group_index, sorted_keys.size))
        first_start = np.minimum.reduceat(sorted_starts, group_index)
        if n in top_sizes:
            top_group = np.zeros(group_index.size, dtype=bool)
            top_group[_top_groups(batch, n, first_start, group_count)] = True
            out[f"top_{n}gram"] = _covered_fraction(batch, sorted_starts[top_group[group_of]], n)
        if n in dup_sizes:
            repeated = sorted_starts[sorted_starts != first_start[group_of]]
            out[f"dup_{n}gram"] = _covered_fraction(batch, repeated, n)
        candidates = np.sort(sorted_starts[group_count[group_of] > 1])
    return out


def _top_groups(batch: BatchWords, n: int, first_start: np.ndarray, group_count: np.ndarray) -> np.ndarray:
    """Index of each document's most frequent repeated n-gram group (longest, then earliest)."""
    group_doc = batch.doc[first_start]
    group_chars = batch.length_cumsum[first_start + n] - batch.length_cumsum[first_start]
    top_count = np.zeros(batch.n_docs, dtype=np.int64)
    np.maximum.at(top_count, group_doc, group_count)
    candidate = (group_count == top_count[group_doc]) & (group_count > 1)
    top_chars = np.zeros(batch.n_docs, dtype=np.int64)
    np.maximum.at(top_chars, group_doc[candidate], group_chars[candidate])
    candidate &= group_chars == top_chars[group_doc]
    earliest = np.full(batch.n_docs, batch.n_words, dtype=np.int64)
    np.minimum.at(earliest, group_doc[candidate], first_start[candidate])
    candidate &= first_start == earliest[group_doc]
    return np.flatnonzero(candidate)


def _covered_fraction(batch: BatchWords, ngram_starts: np.ndarray, n: int) -> np.ndarray:
    """Per document: characters of words inside any of the given n-grams / word characters."""
    if ngram_starts.size == 0:
        return np.zeros(batch.n_docs)
    delta = np.bincount(ngram_starts, minlength=batch.n_words + 1)
    delta -= np.bincount(ngram_starts + n, minlength=batch.n_words + 1)
    covered = np.cumsum(delta[: batch.n_words]) > 0
    covered_chars = np.bincount(batch.doc, weights=batch.length * covered, minlength=batch.n_docs)
    return _safe_ratio(covered_chars, batch.chars_per_doc)


class GopherRater(Rater):
    """Gopher quality and repetition measures as ``quality_<name>_*`` columns."""

    def __init__(
        self,
        name: str = "gopher",
        stop_words: Sequence[str] = STOP_WORDS,
        top_ngram_sizes: Sequence[int] = TOP_NGRAM_SIZES,
        dup_ngram_sizes: Sequence[int] = DUP_NGRAM_SIZES,
    ):
        for n in (*top_ngram_sizes, *dup_ngram_sizes):
            if int(n) != n or n < 2:
                raise ValueError(f"n-gram sizes must be integers >= 2, got {n!r}")
        self.name = name
        self.stop_words = frozenset(w.lower() for w in stop_words)
        self.top_ngram_sizes = tuple(int(n) for n in top_ngram_sizes)
        self.dup_ngram_sizes = tuple(int(n) for n in dup_ngram_sizes)

    @property
    def measures(self) -> list[str]:
        """Measure names without the ``quality_<name>_`` prefix."""
        return [
            "word_count", "mean_word_length", "symbol_word_ratio", "bullet_line_fraction",
            "ellipsis_line_fraction", "alpha_word_fraction", "stop_word_count",
            "dup_line_fraction", "dup_line_char_fraction", "dup_paragraph_fraction",
            "dup_paragraph_char_fraction",
            *(f"top_{n}gram_char_fraction" for n in self.top_ngram_sizes),
            *(f"dup_{n}gram_char_fraction" for n in self.dup_ngram_sizes),
        ]

    @property
    def columns(self) -> list[str]:
        return [f"quality_{self.name}_{m}" for m in self.measures]

    def rate(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        word_lists, rows = [], []
        for text in texts:
            words, counts = document_measures(text, self.stop_words)
            word_lists.append(words)
            rows.append(counts)
        (
            tokens, alpha_tokens, symbols, lines, bullet_lines, ellipsis_lines, stop_words,
            dup_lines, dup_line_chars, line_chars, paragraphs, dup_paragraphs,
            dup_paragraph_chars, paragraph_chars,
        ) = np.asarray(rows, dtype=np.float64).reshape(len(texts), 14).T
        batch = BatchWords(word_lists)
        ngrams = ngram_char_fractions(batch, self.top_ngram_sizes, self.dup_ngram_sizes)
        word_count = batch.words_per_doc.astype(np.float64)
        word_chars = batch.chars_per_doc
        values = {
            "word_count": word_count,
            "mean_word_length": _safe_ratio(word_chars, word_count),
            "symbol_word_ratio": _safe_ratio(symbols, word_count),
            "bullet_line_fraction": _safe_ratio(bullet_lines, lines),
            "ellipsis_line_fraction": _safe_ratio(ellipsis_lines, lines),
            "alpha_word_fraction": _safe_ratio(alpha_tokens, tokens),
            "stop_word_count": stop_words,
            "dup_line_fraction": _safe_ratio(dup_lines, lines),
            "dup_line_char_fraction": _safe_ratio(dup_line_chars, line_chars),
            "dup_paragraph_fraction": _safe_ratio(dup_paragraphs, paragraphs),
            "dup_paragraph_char_fraction": _safe_ratio(dup_paragraph_chars, paragraph_chars),
        }
        for n in self.top_ngram_sizes:
            values[f"top_{n}gram_char_fraction"] = ngrams[f"top_{n}gram"]
        for n in self.dup_ngram_sizes:
            values[f"dup_{n}gram_char_fraction"] = ngrams[f"dup_{n}gram"]
        return {f"quality_{self.name}_{m}": values[m] for m in self.measures}

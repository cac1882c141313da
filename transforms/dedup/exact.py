"""Exact dedup and the text normalization shared with MinHash shingling (pure logic, no Beam).

Two records are exact duplicates when the hash of their normalized content is equal.
Within a group of duplicates one record is kept by the project-wide rule: the best
quality score (higher is better; a missing score loses against any number), then
the smallest id. ``keep_key`` turns that rule into a sort key so "keep" is ``min``.
"""
from __future__ import annotations

import hashlib
import math
import numbers
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

# \w covers letters, digits and '_' in every script; everything else (punctuation,
# symbols, whitespace) separates words, which strips punctuation and collapses
# whitespace in one regex pass.
_WORD_RE = re.compile(r"\w+")
_WHITESPACE_RE = re.compile(r"\s+")


def _ascii_word_table(lowercase: bool) -> bytes:
    """bytes.translate table: ASCII word characters stay (lowercased if asked), all else -> space."""
    table = bytearray(b" " * 256)
    for code in range(128):
        char = chr(code)
        if _WORD_RE.fullmatch(char):
            table[code] = ord(char.lower() if lowercase else char)
    return bytes(table)


# ASCII fast path of ``word_tokens``: one C-level translate + split instead of a regex
# scan, and the same result as the regex (\w on ASCII is [A-Za-z0-9_]; NFKC is the identity).
_ASCII_TABLES = {True: _ascii_word_table(True), False: _ascii_word_table(False)}


@dataclass(frozen=True)
class TextNormalization:
    """What normalization does before hashing/shingling; every step is on by default.

    lowercase: ``str.lower`` after NFKC.
    nfkc: Unicode NFKC (folds compatibility characters: full-width letters, ligatures).
    strip_punctuation: keep only word characters (``\\w``); punctuation and symbols split words.
    collapse_whitespace: runs of whitespace become one space, ends are stripped.
    """

    lowercase: bool = True
    nfkc: bool = True
    strip_punctuation: bool = True
    collapse_whitespace: bool = True


DEFAULT_NORMALIZATION = TextNormalization()
NO_NORMALIZATION = TextNormalization(False, False, False, False)


def _prepared(text: str, norm: TextNormalization) -> str:
    if norm.nfkc:
        text = unicodedata.normalize("NFKC", text)
    if norm.lowercase:
        text = text.lower()
    return text


def normalized_words(text: str, norm: TextNormalization = DEFAULT_NORMALIZATION) -> list[str]:
    """The words of ``text`` after normalization (punctuation-free when stripping)."""
    text = _prepared(text, norm)
    if norm.strip_punctuation:
        return _WORD_RE.findall(text)
    return text.split()


def word_tokens(text: str, norm: TextNormalization = DEFAULT_NORMALIZATION) -> list[bytes]:
    """``normalized_words`` as UTF-8 bytes (what shingle hashing consumes); fast for ASCII text."""
    if norm.strip_punctuation and text.isascii():
        return text.encode("ascii").translate(_ASCII_TABLES[norm.lowercase]).split()
    return [w.encode("utf-8", "surrogatepass") for w in normalized_words(text, norm)]


def normalize_text(text: str, norm: TextNormalization = DEFAULT_NORMALIZATION) -> str:
    """Normalized text: NFKC, lowercase, punctuation stripped, whitespace collapsed (per ``norm``)."""
    if norm.strip_punctuation:
        # words are rejoined with single spaces, so stripping also collapses whitespace
        return " ".join(normalized_words(text, norm))
    text = _prepared(text, norm)
    if norm.collapse_whitespace:
        text = _WHITESPACE_RE.sub(" ", text).strip()
    return text


def content_key(text: str, norm: TextNormalization = DEFAULT_NORMALIZATION) -> str:
    """Exact-dedup key: hex sha1 of the UTF-8 normalized text (stable across processes)."""
    if norm.strip_punctuation:
        return tokens_key(word_tokens(text, norm))
    return hashlib.sha1(normalize_text(text, norm).encode("utf-8", "surrogatepass")).hexdigest()


def tokens_key(tokens: list[bytes]) -> str:
    """``content_key`` from the text's ``word_tokens`` (when punctuation is stripped)."""
    return hashlib.sha1(b" ".join(tokens)).hexdigest()


def numeric_score(value: Any) -> float | None:
    """A usable quality score, or None for missing / NaN / non-numeric values (bools are not scores)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def keep_key(score: Any, record_id: str) -> tuple:
    """Sort key of the keep rule: the record with the smallest key is kept.

    Best (highest) score first, a missing score after every number, then the smallest id.
    """
    s = numeric_score(score)
    return (1, 0.0, record_id) if s is None else (0, -s, record_id)


def choose_survivor(members: Iterable[tuple[Any, str]]) -> str:
    """Id of the record to keep among ``(score, id)`` pairs."""
    return min(keep_key(score, rid) for score, rid in members)[2]


def exact_duplicates(records: Iterable[dict], text_field: str = "text", id_field: str = "id",
                     score_field: str | None = None,
                     norm: TextNormalization = DEFAULT_NORMALIZATION) -> dict[str, str]:
    """In-memory exact dedup: ``{removed_id: kept_id}`` for every duplicate record."""
    groups: dict[str, list[tuple[tuple, str]]] = {}
    for record in records:
        rid = record[id_field]
        score = record.get(score_field) if score_field else None
        groups.setdefault(content_key(record.get(text_field) or "", norm), []).append(
            (keep_key(score, rid), rid))
    removed: dict[str, str] = {}
    for members in groups.values():
        if len(members) > 1:
            kept = min(members)[1]
            removed.update((rid, kept) for _, rid in members if rid != kept)
    return removed

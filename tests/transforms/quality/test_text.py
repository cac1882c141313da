"""Gopher text measures: known values, batch consistency, prose vs boilerplate."""
from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from transforms.quality.base import rate_records
from transforms.quality.text import GopherRater
from transforms.quality.thresholds import GOPHER_DEFAULTS, threshold_filter

# 5 non-blank lines (2 bullets, 1 ellipsis, line 5 repeats line 1), 37 raw tokens of which
# two are a bare "-", 35 words with 136 characters.
KNOWN_DOC = (
    "The quick brown fox jumps over the lazy dog.\n"
    "- first item of the list\n"
    "- second item with #hashtag\n"
    "It was late and the night was dark...\n"
    "\n"
    "The quick brown fox jumps over the lazy dog.\n"
)

PROSE = (
    "The river has shaped the town for as long as anyone can remember. In the spring the water "
    "rises with snow from the hills, and the farmers who work the low fields have learned to plant "
    "late. Older residents still talk about the flood of 1952, when the bridge was carried away and "
    "the school had to close for a month. Since then the council has built a stone embankment along "
    "the eastern bank, and the meadows on the other side are left to flood each year. Birds that "
    "were rare in the region have returned to nest in the reeds. Visitors come in the summer to walk "
    "the old towpath, which follows the water for twelve miles to the next village, and to eat at "
    "the small inn that has stood beside the lock since the canal was dug."
)
SPAM = "Buy the best cheap watches now and save with our offer! " * 20
MENU = "\n".join(f"• {item} and more" for item in ["Home", "News", "Shop", "Contact", "About us", "Login"] * 10)
TEASERS = "\n".join(
    f"Story {i}: the minister said that the plan would have to change before the vote and ..." for i in range(12)
)
NUMBERS = " ".join(str(1000 + 7 * i) for i in range(120)) + " and the end of the table"


def rate_one(text: str) -> dict[str, float]:
    return rate_records([GopherRater()], [{"text": text}], "text")[0]


def test_known_document_measures():
    scores = rate_one(KNOWN_DOC)
    expected = {
        "word_count": 35,
        "mean_word_length": 136 / 35,
        "symbol_word_ratio": 2 / 35,  # one "#" and one "..."
        "bullet_line_fraction": 2 / 5,
        "ellipsis_line_fraction": 1 / 5,
        "alpha_word_fraction": 35 / 37,
        "stop_word_count": 4,  # the, of, with, and
        "dup_line_fraction": 1 / 5,
        "dup_line_char_fraction": 44 / 176,
        "dup_paragraph_fraction": 0.0,
        "dup_paragraph_char_fraction": 0.0,
        # ties at count 2 go to the longest n-gram, then the earliest:
        "top_2gram_char_fraction": 2 * len("quickbrown") / 136,
        "top_3gram_char_fraction": 2 * len("quickbrownfox") / 136,
        "top_4gram_char_fraction": 2 * len("quickbrownfoxjumps") / 136,
        # the repeated 9-word sentence: 35 characters
        "dup_5gram_char_fraction": 35 / 136,
        "dup_9gram_char_fraction": 35 / 136,
        "dup_10gram_char_fraction": 0.0,
    }
    for measure, value in expected.items():
        assert scores[f"quality_gopher_{measure}"] == pytest.approx(value), measure


def test_columns_are_float_arrays_as_long_as_the_batch():
    rater = GopherRater()
    texts = [KNOWN_DOC, "", "   \n\n  ", PROSE]
    scores = rater.rate(texts)
    assert list(scores) == rater.columns
    assert all(c.startswith("quality_gopher_") for c in rater.columns)
    for values in scores.values():
        assert values.dtype == np.float64 and values.shape == (4,)
        assert np.all(np.isfinite(values))
    for i in (1, 2):  # empty and blank documents score 0 everywhere
        assert all(values[i] == 0.0 for values in scores.values())


def test_records_keep_their_fields_and_a_missing_text_rates_as_empty():
    records = [{"id": "a", "text": KNOWN_DOC}, {"id": "b", "text": None}, {"id": "c"}]
    rows = rate_records([GopherRater()], records, "text")
    assert [r["id"] for r in rows] == ["a", "b", "c"] and records[2] == {"id": "c"}  # inputs untouched
    assert [r["quality_gopher_word_count"] for r in rows] == [35.0, 0.0, 0.0]
    with pytest.raises(TypeError, match="'text' must be a string"):
        rate_records([GopherRater()], [{"text": 42}], "text")


def test_empty_batch():
    scores = GopherRater().rate([])
    assert all(values.shape == (0,) for values in scores.values())


def test_configurable_ngram_sizes_and_name():
    rater = GopherRater(name="web", top_ngram_sizes=(2,), dup_ngram_sizes=(5,))
    assert rater.columns[-2:] == ["quality_web_top_2gram_char_fraction", "quality_web_dup_5gram_char_fraction"]
    assert set(rater.rate([KNOWN_DOC])) == set(rater.columns)
    with pytest.raises(ValueError):
        GopherRater(dup_ngram_sizes=(1,))


def _reference_top(words: list[str], n: int) -> float:
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    total = sum(map(len, words))
    if not counts or max(counts.values()) < 2:
        return 0.0
    top = max(counts.values())
    first = {g: grams.index(g) for g in counts}
    best = min((g for g in counts if counts[g] == top), key=lambda g: (-sum(map(len, g)), first[g]))
    covered = {i + j for i, g in enumerate(grams) if g == best for j in range(n)}
    return sum(len(words[i]) for i in covered) / total


def _reference_dup(words: list[str], n: int) -> float:
    seen, covered = set(), set()
    for i in range(len(words) - n + 1):
        gram = tuple(words[i:i + n])
        if gram in seen:
            covered.update(range(i, i + n))
        seen.add(gram)
    total = sum(map(len, words))
    return sum(len(words[i]) for i in covered) / total if total else 0.0


def test_batched_ngram_measures_match_a_per_document_reference():
    rng = random.Random(7)
    vocab = ["a", "bb", "ccc", "dddd", "the", "of"]
    docs = [[rng.choice(vocab[: rng.randint(2, 6)]) for _ in range(rng.randint(0, 60))] for _ in range(60)]
    texts = [" ".join(words) for words in docs]
    rater = GopherRater()
    batch = rater.rate(texts)
    for i, words in enumerate(docs):
        for n in (2, 3, 4):
            assert batch[f"quality_gopher_top_{n}gram_char_fraction"][i] == pytest.approx(_reference_top(words, n))
        for n in (5, 7, 10):
            assert batch[f"quality_gopher_dup_{n}gram_char_fraction"][i] == pytest.approx(_reference_dup(words, n))
    # a document scores the same alone as inside a batch (no leakage across documents)
    for i in (0, 17, 59):
        alone = rater.rate([texts[i]])
        assert all(alone[c][0] == pytest.approx(batch[c][i]) for c in rater.columns)


def test_prose_passes_gopher_defaults():
    assert threshold_filter(GOPHER_DEFAULTS)(rate_one(PROSE)) is None


@pytest.mark.parametrize(
    "text, reason",
    [
        (SPAM, "above_threshold:quality_gopher_top_2gram_char_fraction"),
        (MENU, "above_threshold:quality_gopher_bullet_line_fraction"),
        (TEASERS, "above_threshold:quality_gopher_ellipsis_line_fraction"),
        (NUMBERS, "below_threshold:quality_gopher_alpha_word_fraction"),
        ("Too short to be a document.", "below_threshold:quality_gopher_word_count"),
    ],
)
def test_boilerplate_fails_gopher_defaults_for_the_expected_reason(text, reason):
    verdict = threshold_filter(GOPHER_DEFAULTS)(rate_one(text))
    assert verdict is not None and verdict.reason == reason


def test_repetitive_text_scores_worse_than_prose():
    prose, spam = rate_one(PROSE), rate_one(SPAM)
    gopher_limits = {"top_2gram": 0.2, "top_4gram": 0.16, "dup_5gram": 0.15, "dup_10gram": 0.10}
    for measure, limit in gopher_limits.items():
        column = f"quality_gopher_{measure}_char_fraction"
        assert spam[column] > limit > 2 * prose[column], measure

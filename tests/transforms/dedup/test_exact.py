"""Normalization, content keys and the keep rule."""
import random
import string

from transforms.dedup.exact import (
    NO_NORMALIZATION,
    TextNormalization,
    choose_survivor,
    content_key,
    exact_duplicates,
    keep_key,
    normalize_text,
    normalized_words,
    word_tokens,
)


def test_normalize_text():
    assert normalize_text("  Hello,   WORLD!\n\tIt's ﬁne ") == "hello world it s fine"
    assert normalize_text("Ｆｕｌｌ—width") == "full width"
    assert normalize_text("snake_case stays") == "snake_case stays"
    assert normalize_text("A  b", TextNormalization(strip_punctuation=False)) == "a b"
    assert normalize_text("A,  b!", NO_NORMALIZATION) == "A,  b!"


def test_content_key_equal_for_variants_and_distinct_otherwise():
    variants = ["The cat sat.", "the cat   sat", "THE CAT, SAT!", "Ｔｈｅ cat sat"]
    assert len({content_key(v) for v in variants}) == 1
    assert content_key("the cat sat") != content_key("the cat sat down")
    assert content_key("The cat", NO_NORMALIZATION) != content_key("the cat", NO_NORMALIZATION)
    assert len(content_key("x")) == 40


def test_ascii_fast_path_matches_regex_path():
    rnd = random.Random(5)
    alphabet = string.printable + "\x00\x1c\x1d\x1e\x1f\x7f"
    for _ in range(500):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 60)))
        for norm in (TextNormalization(), TextNormalization(lowercase=False)):
            assert word_tokens(text, norm) == [w.encode() for w in normalized_words(text, norm)], repr(text)


def test_keep_key_rule():
    # higher score first, missing/NaN/non-numeric scores after any number, then smallest id
    ordered = sorted([keep_key(None, "a"), keep_key(0.5, "z"), keep_key(2, "y"), keep_key(2, "b"),
                      keep_key(float("nan"), "0"), keep_key(-3.0, "c"), keep_key(True, "1"), keep_key("9", "2")])
    assert [k[2] for k in ordered] == ["b", "y", "z", "c", "0", "1", "2", "a"]
    assert choose_survivor([(None, "a"), (None, "b")]) == "a"
    assert choose_survivor([(None, "a"), (0, "b")]) == "b"


def test_exact_duplicates_in_memory():
    records = [
        {"id": "3", "text": "Same text.", "q": 0.1},
        {"id": "1", "text": "same   TEXT", "q": None},
        {"id": "2", "text": "same text!", "q": 0.9},
        {"id": "4", "text": "other text", "q": 0.5},
        {"id": "5", "text": "", "q": None},
        {"id": "6", "text": "  ", "q": None},
    ]
    assert exact_duplicates(records, score_field="q") == {"3": "2", "1": "2", "6": "5"}
    assert exact_duplicates(records) == {"2": "1", "3": "1", "6": "5"}

"""MinHash signatures (parity with datasketch), shingling and LSH parameters."""
import os
import random
import subprocess
import sys

import numpy as np
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from transforms.dedup.exact import TextNormalization
from transforms.dedup.minhash import (
    SCHEMES,
    MinHashConfig,
    band_hashes,
    candidate_probability,
    code_tokens,
    estimated_jaccard,
    jaccard,
    minhash_signatures,
    optimal_bands_rows,
    shingle_hash_xxh3,
    shingle_hash_xxh3_32,
    shingle_hashes,
    shingle_text,
    shingles,
    signatures,
    sketch_jaccard,
    verification_sketch,
)

_rng = random.Random(11)
_VOCAB = [f"w{i}" for i in range(400)]
TEXTS = [
    "",                                   # no tokens
    "   ,;  ",                            # only punctuation: no tokens
    "one",                                # shorter than ngram: one shingle
    "Two words",
    "exactly five words here now",        # exactly ngram tokens: one shingle
    " ".join(_rng.choices(_VOCAB, k=60)),
    " ".join(_rng.choices(_VOCAB, k=700)),
    "Héllo, WÖRLD! ﬁne “quoted” Ｆｕｌｌ width",
    "tab\tand\nnewline   runs of   spaces and more words to reach n",
]


def reference(text, config):
    """datasketch.MinHash over the same shingles, with the matching hash function."""
    grams = shingles(config.tokens(text), config.ngram)
    if config.shingle_hash == "sha1":  # datasketch's default hashfunc (sha1_hash32 / sha1_hash64)
        m = MinHash(num_perm=config.num_perm, seed=config.seed, scheme=config.scheme)
        m.update_batch([shingle_text(g) for g in grams])
    else:
        hashfunc = shingle_hash_xxh3 if config.scheme == "affine64" else shingle_hash_xxh3_32
        m = MinHash(num_perm=config.num_perm, seed=config.seed, scheme=config.scheme, hashfunc=hashfunc)
        m.update_batch(grams)
    return m.hashvalues


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("shingle_hash", ["xxh3", "sha1"])
@pytest.mark.parametrize("num_perm,seed,ngram", [(128, 1, 5), (64, 42, 3), (256, 7, 1), (17, 3, 2)])
def test_signatures_equal_datasketch(scheme, shingle_hash, num_perm, seed, ngram):
    config = MinHashConfig(num_perm=num_perm, seed=seed, ngram=ngram, scheme=scheme, shingle_hash=shingle_hash)
    sigs, has_shingles = signatures(TEXTS, config)
    assert sigs.shape == (len(TEXTS), num_perm)
    for text, sig, has in zip(TEXTS, sigs, has_shingles):
        expected = reference(text, config)
        assert sig.dtype == expected.dtype
        np.testing.assert_array_equal(sig, expected, err_msg=repr(text[:30]))
        assert has == bool(config.tokens(text))


def test_documents_spanning_permutation_blocks():
    config = MinHashConfig(num_perm=32)
    tokens = [config.tokens(t) for t in TEXTS]
    hashes, counts = shingle_hashes(tokens, config)
    whole = minhash_signatures(hashes, counts, 32)
    for block in (1, 7, 100, 2048):  # blocks of 1 column up to several documents
        np.testing.assert_array_equal(minhash_signatures(hashes, counts, 32, block_elements=block), whole)


def test_empty_and_short_documents():
    config = MinHashConfig(num_perm=16)
    sigs, has = signatures(["", "...", "a b"], config)
    assert not has[0] and not has[1] and has[2]
    assert (sigs[0] == np.iinfo(np.uint32).max).all()  # an untouched datasketch.MinHash
    assert shingles(config.tokens("a b"), 5) == [(b"a", b"b")]
    assert len(shingles(config.tokens("a b c d e f"), 5)) == 2


def test_word_shingles_ignore_case_punctuation_width_and_spacing():
    config = MinHashConfig()
    variants = ["The quick brown fox, jumps over the lazy dog!",
                "the QUICK brown fox jumps   over the\nlazy dog",
                "Ｔｈｅ quick brown fox — jumps over the lazy dog..."]
    tokens = [config.tokens(v) for v in variants]
    assert tokens[0] == tokens[1] == tokens[2]
    assert tokens[0][:3] == [b"the", b"quick", b"brown"]
    sigs, _ = signatures(variants, config)
    assert (sigs == sigs[0]).all()
    raw = MinHashConfig(normalization=TextNormalization(lowercase=False))
    assert raw.tokens("The the")[0] != raw.tokens("The the")[1]


def test_code_tokens_keep_operators_and_comments():
    source = "def f(x):  # add one\n    return x+1 != y->z"
    assert code_tokens(source, TextNormalization(lowercase=False)) == [
        b"def", b"f", b"(", b"x", b")", b":", b"#", b"add", b"one", b"return", b"x", b"+", b"1", b"!=", b"y",
        b"->", b"z"]
    config = MinHashConfig.for_code(num_perm=64)
    assert config.tokens("Foo foo") == [b"Foo", b"foo"]  # case kept for code
    sigs, has = signatures([source], config)
    np.testing.assert_array_equal(sigs[0], reference(source, config))


def test_bands_rows_match_datasketch_optimal_param():
    for threshold in (0.5, 0.7, 0.8, 0.85, 0.9):
        for num_perm in (64, 112, 128, 256):
            for fp_weight in (0.5, 0.05):
                assert optimal_bands_rows(threshold, num_perm, fp_weight, 1 - fp_weight) == \
                    _optimal_param(threshold, num_perm, fp_weight, 1 - fp_weight)


def test_config_layout():
    default = MinHashConfig()
    bands, rows = default.band_layout
    assert (bands, rows) == (25, 10) and bands * rows <= default.num_perm
    assert candidate_probability(0.85, bands, rows) > 0.99  # verification handles precision
    assert MinHashConfig(num_perm=112, bands=14, rows=8).band_layout == (14, 8)
    with pytest.raises(ValueError):
        MinHashConfig(num_perm=100, bands=14, rows=8)
    with pytest.raises(ValueError):
        MinHashConfig(bands=14)
    with pytest.raises(ValueError):
        MinHashConfig(threshold=1.5)


def test_band_hashes_separate_bands_and_values():
    sigs = np.arange(2 * 12, dtype=np.uint32).reshape(2, 12)
    keys = band_hashes(sigs, bands=3, rows=4)
    assert keys.shape == (2, 3) and keys.dtype == np.uint64
    assert len(set(keys.ravel().tolist())) == 6
    same = np.tile(sigs[:1, :4], (1, 3))  # three identical bands still get different keys
    assert len(set(band_hashes(same, 3, 4)[0].tolist())) == 3
    np.testing.assert_array_equal(band_hashes(sigs, 3, 4), keys)


_STABILITY_SNIPPET = (
    "import numpy as np; from transforms.dedup.minhash import *;"
    "c=MinHashConfig(num_perm=32, bands=4, rows=8);"
    "s,_=signatures(['stable across processes and hash seeds, please'],c);"
    "print(band_hashes(s,4,8).tolist(), shingle_hash_xxh3((b'a',b'b')))"
)


def test_hashes_are_stable_across_processes():
    outputs = set()
    for seed in ("0", "123"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=os.getcwd())
        out = subprocess.run([sys.executable, "-c", _STABILITY_SNIPPET], env=env, capture_output=True, text=True,
                             check=True).stdout
        outputs.add(out)
    assert len(outputs) == 1


def test_sketch_estimate_tracks_true_jaccard():
    config = MinHashConfig(num_perm=256)
    base = [f"t{i}" for i in range(400)]
    for changed in (0, 20, 60, 150):
        other = list(base)
        for k in range(changed):
            other[(k * 7919) % len(other)] = f"x{k}"
        sets = [set(shingles([w.encode() for w in d], 5)) for d in (base, other)]
        truth = jaccard(*sets)
        sigs, _ = signatures([" ".join(base), " ".join(other)], config)
        sketches = verification_sketch(sigs)
        full = estimated_jaccard(sigs[0], sigs[1])
        bbit = sketch_jaccard(int((sketches[0] == sketches[1]).sum()), 256)
        assert abs(full - truth) < 0.1 and abs(bbit - truth) < 0.1, (changed, truth, full, bbit)

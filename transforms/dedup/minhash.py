"""MinHash signatures, shingling and LSH banding (pure logic, no Beam).

Signatures are bit-for-bit those of ``datasketch.MinHash`` (2.x) for the same shingles,
``num_perm``, ``seed``, ``scheme`` and hash function; the difference is that
``signatures`` computes a whole batch of documents with a few numpy calls instead of one
``MinHash`` object per document: all shingle hashes of the batch are concatenated, mixed,
permuted as a ``num_perm x shingles`` block (chunked to ~4 MB so it stays in cache), and
reduced per document with ``np.minimum.reduceat``.

Shingles
    ``tokenizer="words"``: word n-grams of the normalized text (NFKC, lowercase,
    punctuation stripped, whitespace collapsed; see ``exact.TextNormalization``).
    ``tokenizer="code"``: n-grams of regex code tokens (identifiers, numbers, operators;
    comments are kept and tokenized like code).
    A document with fewer than ``ngram`` (but at least one) tokens has exactly one
    shingle: all its tokens. A document with no tokens has no shingles; its signature is
    all max values (what an un-updated ``datasketch.MinHash`` holds) and it takes no part
    in near-dup detection (``ExactDedup`` catches identical empty/blank documents).

Shingle hash (``shingle_hash``)
    ``"xxh3"`` (default): each token is hashed once with xxh3-64; a shingle's hash is
    ``fmix64(len * L + sum_k token_hash[k] * C[k]  mod 2^64)`` with fixed odd constants, so
    per-shingle work is numpy over the batch. ``shingle_hash_xxh3(tokens)`` is the same
    function in plain Python; pass it as ``hashfunc`` to ``datasketch.MinHash`` to get the
    same signature. Schemes ``affine32``/``legacy`` use its low 32 bits.
    ``"sha1"``: datasketch's default ``sha1_hash32``/``sha1_hash64`` of the UTF-8 shingle
    text (tokens joined by one space): identical to ``datasketch.MinHash()`` with no
    ``hashfunc``; signatures about 4x slower.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import chain
from typing import Sequence

import numpy as np
from xxhash import xxh3_64_intdigest

from transforms.dedup.exact import DEFAULT_NORMALIZATION, TextNormalization, content_key, tokens_key, word_tokens

SCHEMES = ("affine32", "affine64", "legacy")
TOKENIZERS = ("words", "code")
SHINGLE_HASHES = ("xxh3", "sha1")

MASK32 = (1 << 32) - 1
MASK64 = (1 << 64) - 1
_MERSENNE_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH = {"affine32": np.uint32(MASK32), "affine64": np.uint64(MASK64), "legacy": np.uint64(MASK32)}
_DTYPE = {"affine32": np.uint32, "affine64": np.uint64, "legacy": np.uint64}
# elements of one permuted block (num_perm x shingles); ~4 MB of uint32 was fastest
_BLOCK_ELEMENTS = 1 << 20

# identifiers, numbers, common multi-character operators, then any other visible character
_CODE_TOKEN_RE = re.compile(
    r"[^\W\d]\w*|\d[\w.]*|==|!=|<=|>=|->|=>|::|\+\+|--|&&|\|\||<<|>>|\*\*|//|/\*|\*/|[^\w\s]"
)


# ---------------------------------------------------------------- integer mixing

def _splitmix64(state: int) -> tuple[int, int]:
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


@lru_cache(maxsize=None)
def _odd_constants(count: int, stream: int) -> tuple[int, ...]:
    """``count`` fixed odd 64-bit constants (splitmix64 stream ``stream``); process-independent."""
    state, out = stream, []
    for _ in range(count):
        state, value = _splitmix64(state)
        out.append(value | 1)
    return tuple(out)


_LENGTH_CONSTANT = _odd_constants(1, 0x5348494E474C45)[0]  # stream "SHINGLE"
_POSITION_STREAM = 0x504F534954494F4E  # "POSITION"
_BAND_STREAM = 0x42414E44  # "BAND"


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK64
    return h ^ (h >> 33)


def fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3 32-bit finalizer on a uint32 array (as ``datasketch.minhash._fmix``)."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    return hv ^ (hv >> np.uint32(16))


def fmix64(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3 64-bit finalizer on a uint64 array."""
    hv = hv ^ (hv >> np.uint64(33))
    hv = hv * np.uint64(0xFF51AFD7ED558CCD)
    hv = hv ^ (hv >> np.uint64(33))
    hv = hv * np.uint64(0xC4CEB9FE1A85EC53)
    return hv ^ (hv >> np.uint64(33))


# ---------------------------------------------------------------- tokens and shingles

def code_tokens(text: str, norm: TextNormalization = DEFAULT_NORMALIZATION) -> list[bytes]:
    """Regex code tokens (identifiers, numbers, operators) as UTF-8; NFKC/lowercase per ``norm``."""
    if norm.nfkc:
        text = unicodedata.normalize("NFKC", text)
    if norm.lowercase:
        text = text.lower()
    return [t.encode("utf-8", "surrogatepass") for t in _CODE_TOKEN_RE.findall(text)]


def shingles(tokens: Sequence[bytes], ngram: int) -> list[tuple[bytes, ...]]:
    """Token n-grams; fewer than ``ngram`` tokens give one shingle of all of them, none give none."""
    if not tokens:
        return []
    if len(tokens) < ngram:
        return [tuple(tokens)]
    return [tuple(tokens[i:i + ngram]) for i in range(len(tokens) - ngram + 1)]


def shingle_hash_xxh3(shingle: Sequence[bytes]) -> int:
    """64-bit hash of one shingle (a sequence of UTF-8 tokens), the reference of the numpy path."""
    position = _odd_constants(len(shingle), _POSITION_STREAM)
    total = len(shingle) * _LENGTH_CONSTANT
    for constant, token in zip(position, shingle):
        total += xxh3_64_intdigest(token) * constant
    return _fmix64_int(total & MASK64)


def shingle_hash_xxh3_32(shingle: Sequence[bytes]) -> int:
    """Low 32 bits of ``shingle_hash_xxh3``: the ``hashfunc`` for datasketch's 32-bit schemes."""
    return shingle_hash_xxh3(shingle) & MASK32


def shingle_text(shingle: Sequence[bytes]) -> bytes:
    """The bytes the ``sha1`` hash sees: tokens joined by one space."""
    return b" ".join(shingle)


def _sha1_hashes(tokens_per_doc: Sequence[Sequence[bytes]], ngram: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    width = bits // 8
    values: list[int] = []
    counts = np.zeros(len(tokens_per_doc), dtype=np.int64)
    for i, tokens in enumerate(tokens_per_doc):
        doc_shingles = shingles(tokens, ngram)
        counts[i] = len(doc_shingles)
        values.extend(int.from_bytes(hashlib.sha1(b" ".join(s)).digest()[:width], "little") for s in doc_shingles)
    return np.array(values, dtype=np.uint64), counts


def _xxh3_hashes(tokens_per_doc: Sequence[Sequence[bytes]], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    token_counts = np.fromiter((len(t) for t in tokens_per_doc), dtype=np.int64, count=len(tokens_per_doc))
    total_tokens = int(token_counts.sum())
    token_hashes = np.fromiter(
        map(xxh3_64_intdigest, chain.from_iterable(tokens_per_doc)), dtype=np.uint64, count=total_tokens
    )
    token_starts = np.zeros(len(tokens_per_doc), dtype=np.int64)
    np.cumsum(token_counts[:-1], out=token_starts[1:])
    full = token_counts >= ngram
    shingle_counts = np.where(full, token_counts - ngram + 1, np.minimum(token_counts, 1))
    shingle_starts = np.zeros(len(tokens_per_doc), dtype=np.int64)
    np.cumsum(shingle_counts[:-1], out=shingle_starts[1:])
    out = np.empty(int(shingle_counts.sum()), dtype=np.uint64)
    windows = total_tokens - ngram + 1
    if full.any():
        # n-gram hash at every token position of the concatenation (contiguous slices, no
        # gathers), then drop the windows that cross a document end
        position = np.array(_odd_constants(ngram, _POSITION_STREAM), dtype=np.uint64)
        acc = np.full(windows, np.uint64((ngram * _LENGTH_CONSTANT) & MASK64), dtype=np.uint64)
        for k in range(ngram):
            acc += token_hashes[k:k + windows] * position[k]
        valid = np.ones(windows, dtype=bool)
        token_ends = token_starts + token_counts
        crossing = (token_ends[full][:, None] - ngram + 1 + np.arange(ngram - 1)[None, :]).ravel()
        valid[crossing[crossing < windows]] = False
        for d in np.flatnonzero(~full):
            valid[token_starts[d]:min(token_ends[d], windows)] = False
        hashed = fmix64(acc[valid])
    short = np.flatnonzero(~full & (token_counts > 0))  # rare: documents shorter than ngram
    if short.size:
        short_slots = np.zeros(out.size, dtype=bool)
        short_slots[shingle_starts[short]] = True
        if full.any():
            out[~short_slots] = hashed
        out[shingle_starts[short]] = [shingle_hash_xxh3(tokens_per_doc[d]) for d in short]
    elif full.any():
        out[:] = hashed
    return out, shingle_counts


# ---------------------------------------------------------------- LSH parameters

def _integrals(threshold: float, num_perm: int) -> dict[tuple[int, int], tuple[float, float]]:
    """Gauss-Legendre areas of false positives / negatives for every (b, r) with b*r <= num_perm.

    The integrands are polynomials of degree b*r <= num_perm, so enough nodes make this exact.
    """
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 8)
    lo_s = threshold / 2 * (nodes + 1)
    hi_s = threshold + (1 - threshold) / 2 * (nodes + 1)
    out = {}
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = threshold / 2 * np.dot(weights, 1 - (1 - lo_s ** r) ** b)
            fn = (1 - threshold) / 2 * np.dot(weights, (1 - hi_s ** r) ** b)
            out[(b, r)] = (float(fp), float(fn))
    return out


@lru_cache(maxsize=64)
def optimal_bands_rows(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
                       false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows), b*r <= num_perm, minimizing the weighted false positive + negative area.

    Same objective and search order as ``datasketch.lsh._optimal_param``.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    best, best_error = (0, 0), float("inf")
    for (b, r), (fp, fn) in _integrals(threshold, num_perm).items():
        error = fp * false_positive_weight + fn * false_negative_weight
        if error < best_error:
            best, best_error = (b, r), error
    return best


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """P(two documents of Jaccard ``similarity`` share at least one band): 1 - (1 - s^r)^b."""
    return 1.0 - (1.0 - similarity ** rows) ** bands


# ---------------------------------------------------------------- configuration

@dataclass(frozen=True)
class MinHashConfig:
    """Near-dup parameters.

    threshold: target Jaccard similarity of word/token n-gram sets.
    num_perm: permutations per signature (256 default: with ``verify`` the estimate's
        standard error at J=0.8 is sqrt(0.8*0.2/256) = 0.025, 0.035 with 128, and that
        error decides precision and recall for documents near the threshold).
    bands, rows: LSH layout; both None -> ``optimal_bands_rows(threshold, num_perm,
        false_positive_weight, false_negative_weight)``. With ``verify`` on, the LSH is
        only a candidate generator, so the default weights favour recall: 0.05 / 0.95
        gives 25 x 10 for 0.8 / 256 (P(candidate | J=0.85) = 0.996, knee
        (1/25)^(1/10) = 0.72; bigcode's layout).
    verify: keep a candidate pair only if the signatures' estimated Jaccard is >= threshold
        (8-bit sketches of all ``num_perm`` values, chance agreement corrected; see
        ``verification_sketch``). Cuts the LSH false positives (J between the knee and the
        threshold); off gives plain LSH banding like datatrove.
    ngram, tokenizer ("words" | "code"), normalization: shingling, see module docstring.
    seed, scheme: datasketch's permutation seed and scheme ("affine32" default).
    shingle_hash: "xxh3" (default, numpy-batched) or "sha1" (datasketch's default hashfunc).
    """

    threshold: float = 0.8
    num_perm: int = 256
    bands: int | None = None
    rows: int | None = None
    ngram: int = 5
    tokenizer: str = "words"
    normalization: TextNormalization = DEFAULT_NORMALIZATION
    seed: int = 1
    scheme: str = "affine32"
    shingle_hash: str = "xxh3"
    verify: bool = True
    false_positive_weight: float = 0.05
    false_negative_weight: float = 0.95

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, not {self.scheme!r}")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {TOKENIZERS}, not {self.tokenizer!r}")
        if self.shingle_hash not in SHINGLE_HASHES:
            raise ValueError(f"shingle_hash must be one of {SHINGLE_HASHES}, not {self.shingle_hash!r}")
        if self.ngram < 1 or self.num_perm < 2:
            raise ValueError("ngram must be >= 1 and num_perm >= 2")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], not {self.threshold}")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither (then they follow from threshold)")
        if self.bands is not None and (self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm):
            raise ValueError(f"need bands*rows <= num_perm, got {self.bands}x{self.rows} > {self.num_perm}")

    @classmethod
    def for_code(cls, **overrides) -> "MinHashConfig":
        """Code preset: regex code tokens, case kept (bigcode-like)."""
        params = dict(tokenizer="code", normalization=TextNormalization(lowercase=False))
        params.update(overrides)
        return cls(**params)

    @cached_property
    def band_layout(self) -> tuple[int, int]:
        """(bands, rows) actually used."""
        if self.bands is not None:
            return self.bands, self.rows
        return optimal_bands_rows(self.threshold, self.num_perm, self.false_positive_weight,
                                  self.false_negative_weight)

    def tokens(self, text: str) -> list[bytes]:
        """The UTF-8 tokens shingles are made of."""
        if self.tokenizer == "code":
            return code_tokens(text, self.normalization)
        return word_tokens(text, self.normalization)

    def describe(self) -> dict:
        """Plain-dict summary (for manifests and benchmark output)."""
        bands, rows = self.band_layout
        return dict(threshold=self.threshold, num_perm=self.num_perm, bands=bands, rows=rows,
                    ngram=self.ngram, tokenizer=self.tokenizer, seed=self.seed, scheme=self.scheme,
                    shingle_hash=self.shingle_hash, verify=self.verify)


# ---------------------------------------------------------------- signatures

@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's permutation parameters ``(a, b)`` for ``num_perm``, ``seed`` and ``scheme``."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        pairs = np.array(
            [(gen.randint(1, _MERSENNE_PRIME, dtype=np.uint64), gen.randint(0, _MERSENNE_PRIME, dtype=np.uint64))
             for _ in range(num_perm)],
            dtype=np.uint64,
        ).T
        return pairs[0].copy(), pairs[1].copy()
    width = 32 if scheme == "affine32" else 64
    dtype = _DTYPE[scheme]
    a = gen.randint(0, 1 << (width - 1), num_perm, dtype=dtype) * dtype(2) + dtype(1)
    b = gen.randint(0, 1 << width, num_perm, dtype=dtype)
    return a, b


def shingle_hashes(tokens_per_doc: Sequence[Sequence[bytes]], config: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """(hashes of all shingles of all documents, concatenated; shingles per document)."""
    bits = 64 if config.scheme == "affine64" else 32
    if config.shingle_hash == "sha1":
        return _sha1_hashes(tokens_per_doc, config.ngram, bits)
    hashes, counts = _xxh3_hashes(tokens_per_doc, config.ngram)
    if bits == 32:
        hashes &= np.uint64(MASK32)
    return hashes, counts


def minhash_signatures(hashes: np.ndarray, counts: np.ndarray, num_perm: int, seed: int = 1,
                       scheme: str = "affine32", block_elements: int = _BLOCK_ELEMENTS) -> np.ndarray:
    """Signatures ``[documents, num_perm]`` from concatenated shingle hashes and per-document counts.

    Equal to ``datasketch.MinHash(num_perm, seed, scheme=scheme)`` updated with the same hash
    values; a document with no shingles keeps the all-max initial signature.
    """
    a, b = permutations(num_perm, seed, scheme)
    dtype = _DTYPE[scheme]
    n_docs = len(counts)
    out = np.full((num_perm, n_docs), _MAX_HASH[scheme], dtype=dtype)
    if scheme == "affine32":
        mixed = fmix32(hashes.astype(np.uint32))
    elif scheme == "affine64":
        mixed = fmix64(hashes.astype(np.uint64))
    else:
        mixed = hashes.astype(np.uint64)
    docs = np.flatnonzero(counts > 0)
    if docs.size == 0:
        return np.ascontiguousarray(out.T)
    starts = np.zeros(n_docs, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    doc_starts = starts[docs]  # strictly increasing: every listed document has >= 1 shingle
    total = int(counts.sum())
    columns = max(1, block_elements // num_perm)
    a_col, b_col = a[:, None], b[:, None]
    block = np.empty((num_perm, min(columns, total)), dtype=dtype)
    for lo in range(0, total, columns):
        hi = min(lo + columns, total)
        first = int(np.searchsorted(doc_starts, lo, side="right")) - 1
        last = int(np.searchsorted(doc_starts, hi, side="left"))
        segment_starts = doc_starts[first:last] - lo
        segment_starts[0] = 0  # the first document may have started in an earlier block
        permuted = block[:, : hi - lo]
        if scheme == "legacy":
            # datasketch's legacy formula, including its uint64 wraparound before the modulo
            permuted[:] = np.bitwise_and((mixed[None, lo:hi] * a_col + b_col) % _MERSENNE_PRIME, _MAX_HASH[scheme])
        else:
            np.multiply(a_col, mixed[None, lo:hi], out=permuted)
            permuted += b_col
        mins = np.minimum.reduceat(permuted, segment_starts, axis=1)
        cols = docs[first:last]
        out[:, cols] = np.minimum(out[:, cols], mins)
    return np.ascontiguousarray(out.T)


def signatures(texts: Sequence[str], config: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures of a batch of texts: ``(signatures[n, num_perm], has_shingles[n])``."""
    return _token_signatures([config.tokens(text) for text in texts], config)


def _token_signatures(tokens_per_doc: Sequence[Sequence[bytes]], config: MinHashConfig):
    hashes, counts = shingle_hashes(tokens_per_doc, config)
    return minhash_signatures(hashes, counts, config.num_perm, config.seed, config.scheme), counts > 0


# ---------------------------------------------------------------- LSH bands and verification

@lru_cache(maxsize=16)
def _band_constants(rows: int) -> np.ndarray:
    return np.array(_odd_constants(rows + 1, _BAND_STREAM), dtype=np.uint64)


def band_hashes(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """64-bit key of every band of every signature: ``[documents, bands]`` uint64.

    ``fmix64(sum_j value_j * K_j + (band + 1) * K_rows  mod 2^64)``: fixed constants, so keys
    are equal across processes and runs; a band index is part of its key.
    """
    constants = _band_constants(rows)
    values = sigs[:, : bands * rows].reshape(len(sigs), bands, rows)
    acc = np.empty((len(sigs), bands), dtype=np.uint64)
    acc[:] = np.arange(1, bands + 1, dtype=np.uint64) * constants[rows]
    for j in range(rows):
        acc += values[:, :, j].astype(np.uint64) * constants[j]
    return fmix64(acc)


SKETCH_BITS = 8
_CHANCE = 1.0 / (1 << SKETCH_BITS)


def verification_sketch(sigs: np.ndarray) -> np.ndarray:
    """Low 8 bits of every signature value (b-bit minwise hashing, Li & Koenig 2010).

    What candidate verification compares: a quarter of the bytes of a uint32 signature in
    the shuffle, and the same accuracy once chance agreement (1/256) is corrected for.
    """
    return (sigs & 0xFF).astype(np.uint8)


def sketch_jaccard(equal: np.ndarray | int, num_perm: int) -> np.ndarray | float:
    """Jaccard estimate from the number of equal 8-bit sketch values: (f - 1/256) / (1 - 1/256)."""
    return (np.asarray(equal) / num_perm - _CHANCE) / (1.0 - _CHANCE)


def min_equal_sketch_values(threshold: float, num_perm: int) -> float:
    """Equal 8-bit sketch values needed for ``sketch_jaccard >= threshold``."""
    return num_perm * (threshold * (1.0 - _CHANCE) + _CHANCE)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray | float:
    """Fraction of equal signature values (row-wise for 2-D inputs), as ``MinHash.jaccard``."""
    equal = np.asarray(sig_a) == np.asarray(sig_b)
    return equal.mean(axis=-1)


def jaccard(a: set, b: set) -> float:
    """Exact Jaccard similarity of two sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def band_shards(keys: np.ndarray, shards: int) -> np.ndarray:
    """The bucket shard of every band hash (its bits 40 and up, so not the bits a bucket is sorted by)."""
    return ((keys >> np.uint64(40)) % np.uint64(shards)).astype(np.int64)


def sign_batch(texts: Sequence[str], config: MinHashConfig, shards: int):
    """What near dedup needs of a batch: ``(rows with shingles, their band hashes [rows, bands],
    the (band, shard) of each, the verification sketches of every row or None)``.

    Module-level and Beam-free, so worker processes can run it.
    """
    return _sign_tokens([config.tokens(text) for text in texts], config, shards)


def sign_and_key_batch(texts: Sequence[str], config: MinHashConfig, shards: int,
                       normalization: TextNormalization):
    """``(sign_batch(...), exact content keys)`` of a batch, tokenizing each text once when the
    exact key's normalization is the shingles' (then both hash the same word tokens)."""
    tokens_per_doc = [config.tokens(text) for text in texts]
    if config.tokenizer == "words" and normalization == config.normalization and normalization.strip_punctuation:
        keys = [tokens_key(tokens) for tokens in tokens_per_doc]
    else:
        keys = [content_key(text, normalization) for text in texts]
    return _sign_tokens(tokens_per_doc, config, shards), keys


def _sign_tokens(tokens_per_doc: Sequence[Sequence[bytes]], config: MinHashConfig, shards: int):
    sigs, has_shingles = _token_signatures(tokens_per_doc, config)
    sketches = verification_sketch(sigs) if config.verify else None
    rows = np.flatnonzero(has_shingles).astype(np.int32)
    bands, band_rows = config.band_layout
    keys = band_hashes(sigs[rows], bands, band_rows)
    return rows, keys, band_shards(keys, shards), sketches

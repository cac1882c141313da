"""What a pipeline's dedup step does, from the shared ``--dedup-method/--threshold/--num-perm/--ngram/
--shingles`` flags: one place that reads them, so every pipeline honours them the same way.

``dedup_spec(...)`` builds a ``DedupSpec``; ``transforms.dedup.beam.Deduplicate`` runs it (exact
dedup on the normalized text hash, then MinHash near dedup, then an optional group resolver).
Beam-free.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from transforms.dedup.exact import DEFAULT_NORMALIZATION, TextNormalization
from transforms.dedup.minhash import MinHashConfig

METHODS = ("both", "exact", "near", "none")


@dataclass(frozen=True)
class DedupSpec:
    """Exact and/or near dedup of records by their text.

    ``text_field`` or ``text_fn(record)`` gives the text; ``id_field`` a string id; the survivor of a
    group has the best ``score_field`` value, then the smallest id. ``exact_normalization``: what
    exact dedup hashes. ``minhash``: the near-dedup config (None: no near dedup). ``resolve``: called
    with each survivor and the records folded into it (``members -> (survivors, [(record, verdict)])``),
    for pipelines where a duplicate can be a conflict (stage ``resolve_stage``). ``sign_processes``:
    local worker processes for the MinHash signatures (``NearDedup``).
    """

    method: str
    id_field: str
    text_field: str | None = "text"
    text_fn: Callable[[dict], str] | None = None
    score_field: str | None = None
    exact_normalization: TextNormalization = DEFAULT_NORMALIZATION
    minhash: MinHashConfig | None = None
    resolve: Callable | None = None
    resolve_stage: str = "dedup:conflicts"
    sign_processes: int = 1

    @property
    def exact(self) -> bool:
        return self.method in ("both", "exact")

    @property
    def near(self) -> bool:
        return self.method in ("both", "near") and self.minhash is not None

    def describe(self) -> str | None:
        """The manifest note on near dedup (None without it)."""
        if not self.near:
            return None
        what = "code-token" if self.minhash.tokenizer == "code" else "word"
        return f"near dedup: MinHash over {what} {self.minhash.ngram}-grams, threshold {self.minhash.threshold}"


def minhash_config(shingles: str, *, num_perm: int, ngram: int, threshold: float) -> MinHashConfig:
    """MinHash parameters for ``shingles``: word n-grams of normalized text, or code tokens with case kept."""
    if shingles == "code":
        return MinHashConfig.for_code(num_perm=num_perm, ngram=ngram, threshold=threshold)
    return MinHashConfig(num_perm=num_perm, ngram=ngram, threshold=threshold, tokenizer=shingles)


def dedup_spec(opts, *, id_field: str, text_field: str | None = "text", text_fn: Callable | None = None,
               score_field: str | None = None, shingles: str = "words",
               exact_normalization: TextNormalization = DEFAULT_NORMALIZATION,
               resolve: Callable | None = None) -> DedupSpec:
    """The spec of ``opts`` (the ``DedupOptions`` view: method, threshold, num_perm, ngram, shingles,
    sign_processes: 0 becomes one per CPU).

    ``shingles`` is the pipeline's default; an explicit ``--shingles`` wins. The flags' own argparse
    types bound every value (``transforms.argtypes``), so nothing here can be out of range.
    """
    config = minhash_config(opts.shingles or shingles, num_perm=opts.num_perm, ngram=opts.ngram,
                            threshold=opts.threshold)
    processes = getattr(opts, "sign_processes", 1)
    return DedupSpec(method=opts.dedup_method, id_field=id_field, text_field=text_field, text_fn=text_fn,
                     score_field=score_field, exact_normalization=exact_normalization,
                     minhash=config if opts.dedup_method in ("both", "near") else None, resolve=resolve,
                     sign_processes=processes if processes > 0 else max(1, os.cpu_count() or 1))

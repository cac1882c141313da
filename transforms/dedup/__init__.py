"""Exact and near (MinHash LSH) dedup: pure logic in exact/minhash/components, Beam in beam."""
from transforms.dedup.beam import REMOVED, ExactDedup, NearDedup
from transforms.dedup.components import ComponentsTooLarge, ConnectedComponents, local_components
from transforms.dedup.exact import TextNormalization, content_key, keep_key, normalize_text
from transforms.dedup.minhash import MinHashConfig, optimal_bands_rows, signatures

__all__ = [
    "REMOVED", "ExactDedup", "NearDedup", "ComponentsTooLarge", "ConnectedComponents", "local_components",
    "TextNormalization", "content_key", "keep_key", "normalize_text", "MinHashConfig", "optimal_bands_rows",
    "signatures",
]

"""Exact and near (MinHash LSH) dedup: pure logic in exact/minhash/components, Beam in beam.

Names are imported on first use, so a process that only needs the pure modules (the signing
worker processes of ``NearDedup(sign_processes=...)``) does not import Beam.
"""
import importlib

_EXPORTS = {
    "REMOVED": "beam", "ExactDedup": "beam", "NearDedup": "beam", "ExactNearDedup": "beam",
    "ComponentsTooLarge": "components", "ConnectedComponents": "components", "local_components": "components",
    "TextNormalization": "exact", "content_key": "exact", "keep_key": "exact", "normalize_text": "exact",
    "MinHashConfig": "minhash", "optimal_bands_rows": "minhash", "signatures": "minhash",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'transforms.dedup' has no attribute {name!r}")
    return getattr(importlib.import_module(f"transforms.dedup.{_EXPORTS[name]}"), name)

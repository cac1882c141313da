"""``shardsmith train-rater``: train a fastText model from a labelled column of JSONL/Parquet files.

The model then scores documents through ``transforms.quality.fasttext_rater.FastTextRater``
(``shardsmith corpus --fasttext-model rater.bin``) or labels them (e.g. science subjects).
"""
from __future__ import annotations

from transforms.io.readers import InputError, Unreadable, expand_inputs, iter_records
from transforms.quality.fasttext_rater import train_fasttext


def labelled_pairs(paths: list[str], text_column: str, label_column: str) -> tuple[list, list, int]:
    """Texts and labels of every readable record; also the count of unreadable lines."""
    texts, labels, unreadable = [], [], 0
    for path in paths:
        for item in iter_records(path):
            if isinstance(item, Unreadable):
                unreadable += 1
                continue
            texts.append(item.get(text_column))
            labels.append(item.get(label_column))
    return texts, labels, unreadable


def train_rater_from_files(inputs: list[str], *, text_column: str, label_column: str, output: str,
                           **train_options) -> dict:
    """Train and save a model; returns the held-out metrics and the input counts."""
    paths = expand_inputs(inputs)
    texts, labels, unreadable = labelled_pairs(paths, text_column, label_column)
    if not any(isinstance(t, str) and t.strip() for t in texts):
        raise InputError(f"{paths[0]}: no record has a text in column {text_column!r}")
    if len({str(label) for label in labels if label not in (None, "")}) < 2:
        raise InputError(f"{paths[0]}: column {label_column!r} needs at least two distinct labels")
    metrics = train_fasttext(texts, labels, output, **train_options)
    metrics["n_unreadable_lines"] = unreadable
    return metrics

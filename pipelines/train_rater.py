"""``shardsmith train-rater``: train a fastText model from a labelled column of JSONL/Parquet files.

The model then scores documents through ``transforms.quality.fasttext_rater.FastTextRater``
(``shardsmith corpus --fasttext-model rater.bin``) or labels them (e.g. science subjects).
"""
from __future__ import annotations

import os
import uuid

from transforms.io.outputs import check_output_file
from transforms.io.readers import InputError, Unreadable, expand_inputs, iter_records
from transforms.quality.fasttext_rater import train_fasttext

FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")  # first four bytes of every fastText .bin model


def is_fasttext_model(path: str) -> bool:
    """True when ``path`` starts like a fastText binary model (what ``--overwrite`` may replace)."""
    with open(path, "rb") as handle:
        return handle.read(4) == FASTTEXT_MAGIC


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
                           overwrite: bool = False, **train_options) -> dict:
    """Train and save a model; returns the held-out metrics and the input counts.

    ``output`` must be a new path, or with ``overwrite`` an existing fastText model; it is
    written to a temporary file beside it and renamed, so a failed run leaves it as it was.
    """
    paths = expand_inputs(inputs)
    check_output_file(output, inputs, overwrite, is_ours=is_fasttext_model)
    texts, labels, unreadable = labelled_pairs(paths, text_column, label_column)
    if not any(isinstance(t, str) and t.strip() for t in texts):
        raise InputError(f"{paths[0]}: no record has a text in column {text_column!r}")
    if len({str(label) for label in labels if label not in (None, "")}) < 2:
        raise InputError(f"{paths[0]}: column {label_column!r} needs at least two distinct labels")
    temporary = os.path.join(os.path.dirname(os.path.abspath(output)), f".{os.path.basename(output)}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        metrics = train_fasttext(texts, labels, temporary, **train_options)
        os.replace(temporary, output)
        metrics["model_path"] = str(output)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    metrics["n_unreadable_lines"] = unreadable
    return metrics

"""fastText classifiers: a quality rater, label prediction, and training with a held-out check.

Predictions go through the low-level ``model.f.predict(line, k, threshold, on_unicode_error)``
because the Python ``model.predict()`` of fasttext-wheel 0.9.2 breaks under numpy 2 (and its
batch ``multilinePredict`` returns wrong probabilities there). fastText reads one line per
example, so texts are collapsed to a single line first (``fasttext_line``); the trailing
``"\\n"`` the official wrapper appends is kept, since it adds the end-of-sentence token
the model saw in training.
"""
from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from transforms.quality.base import Rater

LABEL_PREFIX = "__label__"


def fasttext_line(text: str) -> str:
    """``text`` on one line with single spaces (fastText also splits on NUL)."""
    return " ".join(text.replace("\x00", " ").split())


def normalize_label(label: Any) -> str:
    """A label without the ``__label__`` prefix, internal whitespace as ``_`` ('' if empty)."""
    if label is None:
        return ""
    text = str(label).strip()
    if text.startswith(LABEL_PREFIX):
        text = text[len(LABEL_PREFIX):]
    return "_".join(text.split())


def load_model(path: str | os.PathLike):
    """Load a ``.bin`` model (without the deprecation notice ``fasttext.load_model`` prints).

    ``path`` may be an fsspec URL (``gs://...``, a run's work dir on shared storage): the model is
    copied to a local temporary file first, since fastText reads local files only.
    """
    from fasttext.FastText import _FastText

    path = str(path)
    if "://" not in path or path.startswith("file://"):
        return _FastText(model_path=path.removeprefix("file://"))
    import fsspec

    with tempfile.TemporaryDirectory(prefix="shardsmith-model-") as local:
        copy = os.path.join(local, "model.bin")
        with fsspec.open(path, "rb") as source, open(copy, "wb") as target:
            while chunk := source.read(1 << 24):
                target.write(chunk)
        return _FastText(model_path=copy)  # loaded into memory: the file may go


def _predict_line(model, text: str, k: int) -> list[tuple[float, str]]:
    line = fasttext_line(text) + "\n"
    try:
        return model.f.predict(line, k, 0.0, "strict")
    except UnicodeEncodeError:  # lone surrogates cannot cross into C++
        return model.f.predict(line.encode("utf-8", "replace").decode("utf-8"), k, 0.0, "strict")


def label_probabilities(model, texts: Sequence[str], label: str) -> np.ndarray:
    """Probability of ``label`` (with or without prefix) for each text, in [0, 1]."""
    wanted = LABEL_PREFIX + normalize_label(label)
    out = np.zeros(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        for probability, predicted in _predict_line(model, text, -1):
            if predicted == wanted:
                out[i] = probability
                break
    # fastText smooths probabilities with +1e-5, so a sure answer can exceed 1
    return np.clip(out, 0.0, 1.0)


def predict_labels(model, texts: Sequence[str]) -> list[tuple[str, float]]:
    """The most probable label (without prefix) and its probability, per text."""
    out = []
    for text in texts:
        predictions = _predict_line(model, text, 1)
        if predictions:
            probability, predicted = predictions[0]
            out.append((normalize_label(predicted), min(float(probability), 1.0)))
        else:
            out.append(("", 0.0))
    return out


class FastTextRater(Rater):
    """Column ``quality_<name>``: the probability a fastText model gives ``label``.

    The model loads in ``setup()`` (once per Beam worker; ``rate`` calls it on first use),
    never in ``__init__``; pickling drops a loaded model, so the rater ships to workers as
    just a path and a label. An unknown label fails in ``setup`` with a ValueError.
    """

    def __init__(self, model_path: str | os.PathLike, label: str = "__label__hq", name: str = "fasttext"):
        self.model_path = str(model_path)
        self.label = LABEL_PREFIX + normalize_label(label)
        if self.label == LABEL_PREFIX:
            raise ValueError("FastTextRater needs a non-empty label")
        self.name = name
        self._model = None

    @property
    def columns(self) -> list[str]:
        return [f"quality_{self.name}"]

    def setup(self) -> None:
        if self._model is not None:
            return
        model = load_model(self.model_path)
        if self.label not in model.labels:
            raise ValueError(f"label {self.label!r} is not in model {self.model_path} (labels: {model.labels})")
        self._model = model

    def rate(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        self.setup()
        return {self.columns[0]: label_probabilities(self._model, texts, self.label)}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_model"] = None
        return state


def _label_metrics(truth: list[str], predicted: list[str], labels: list[str]) -> dict:
    """Accuracy, macro precision/recall over ``labels``, and per-label figures."""
    per_label = {}
    for label in labels:
        true_positive = sum(1 for t, p in zip(truth, predicted) if t == label and p == label)
        n_predicted = sum(1 for p in predicted if p == label)
        support = sum(1 for t in truth if t == label)
        per_label[label] = {
            "precision": true_positive / n_predicted if n_predicted else 0.0,
            "recall": true_positive / support if support else 0.0,
            "support": support,
        }
    scored = [label for label in labels if per_label[label]["support"]]
    return {
        "accuracy": sum(1 for t, p in zip(truth, predicted) if t == p) / len(truth),
        "precision": float(np.mean([per_label[label]["precision"] for label in scored])),
        "recall": float(np.mean([per_label[label]["recall"] for label in scored])),
        "per_label": per_label,
    }


def train_fasttext(
    texts: Iterable[Any],
    labels: Iterable[Any],
    output_path: str | os.PathLike,
    *,
    epoch: int = 25,
    lr: float = 0.5,
    word_ngrams: int = 2,
    dim: int = 64,
    min_count: int = 1,
    bucket: int = 2_000_000,
    loss: str = "softmax",
    seed: int = 0,
    valid_fraction: float = 0.1,
    thread: int = 1,
    minn: int = 0,
    maxn: int = 0,
    quantize_cutoff: int | None = None,
) -> dict:
    """Train a supervised fastText model on (text, label) pairs and save it to ``output_path``.

    Pairs with an empty/missing text or label are skipped and counted. A seeded shuffle
    holds out ``valid_fraction`` of the rest (at least one example when the fraction is
    above 0) to measure the saved model. ``thread=1`` keeps training deterministic.
    ``bucket`` (hash buckets for word n-grams) dominates the model size: dim x bucket floats.
    ``minn``/``maxn`` > 0 add character n-grams of those lengths (0: words only, the rater's
    setting). ``quantize_cutoff`` quantizes the model before saving (fastText's ``.ftz``: product
    quantization, retrained on the same data, keeping the ``cutoff`` most important words and
    n-grams), which shrinks it by one to two orders of magnitude.

    Returns ``model_path``, ``labels``, ``label_counts``, ``n_train``, ``n_valid``,
    ``n_skipped_empty_text``, ``n_skipped_empty_label``, ``params``, and on the held-out
    split ``accuracy``, macro ``precision`` / ``recall`` and ``per_label`` figures
    (these four are None without a held-out split).
    """
    import fasttext

    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    examples: list[tuple[str, str]] = []
    skipped_text = skipped_label = 0
    for text, label in zip(texts, labels, strict=True):
        line = fasttext_line(text) if isinstance(text, str) else ""
        name = normalize_label(label)
        if not line:
            skipped_text += 1
        elif not name:
            skipped_label += 1
        else:
            examples.append((line, name))
    label_counts = Counter(name for _, name in examples)
    if len(label_counts) < 2:
        raise ValueError(
            f"training needs at least two labels, got {sorted(label_counts)} from {len(examples)} usable examples"
        )

    order = np.random.default_rng(seed).permutation(len(examples))
    n_valid = int(round(len(examples) * valid_fraction))
    if valid_fraction > 0:
        n_valid = min(max(n_valid, 1), len(examples) - 1)
    valid = [examples[i] for i in order[:n_valid]]
    train = [examples[i] for i in order[n_valid:]]

    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    params = {
        "epoch": epoch, "lr": lr, "word_ngrams": word_ngrams, "dim": dim, "min_count": min_count,
        "bucket": bucket, "loss": loss, "seed": seed, "valid_fraction": valid_fraction, "thread": thread,
        "minn": minn, "maxn": maxn, "quantize_cutoff": quantize_cutoff,
    }
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", suffix=".train.txt", dir=output_path.parent, delete=False
    ) as handle:
        for line, name in train:
            handle.write(f"{LABEL_PREFIX}{name} {line}\n")
        train_file = handle.name
    try:
        model = fasttext.train_supervised(
            input=train_file, epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim,
            minCount=min_count, bucket=bucket, loss=loss, seed=seed, thread=thread, verbose=0,
            minn=minn, maxn=maxn,
        )
        if quantize_cutoff is not None:
            model.quantize(input=train_file, qnorm=True, retrain=True, cutoff=quantize_cutoff,
                           epoch=epoch, lr=lr, thread=thread, verbose=0)
    finally:
        os.unlink(train_file)
    model.save_model(str(output_path))

    result: dict[str, Any] = {
        "model_path": str(output_path),
        "labels": sorted(label_counts),
        "label_counts": dict(sorted(label_counts.items())),
        "n_train": len(train),
        "n_valid": len(valid),
        "n_skipped_empty_text": skipped_text,
        "n_skipped_empty_label": skipped_label,
        "params": params,
        "accuracy": None,
        "precision": None,
        "recall": None,
        "per_label": None,
    }
    if valid:
        predicted = [name for name, _ in predict_labels(model, [line for line, _ in valid])]
        result.update(_label_metrics([name for _, name in valid], predicted, sorted(label_counts)))
    return result

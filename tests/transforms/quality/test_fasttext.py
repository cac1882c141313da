"""fastText training, the quality rater and label prediction, on generated two-class data."""
from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from transforms.quality.base import rate_records
from transforms.quality.fasttext_rater import (
    FastTextRater,
    fasttext_line,
    load_model,
    predict_labels,
    train_fasttext,
)

SUBJECTS = ["the committee", "our researchers", "the survey", "this study", "the museum", "local farmers",
            "the engineers", "historians", "the council", "the authors"]
VERBS = ["describes", "examines", "measured", "explained", "compared", "documented", "reviewed", "analysed"]
OBJECTS = ["the growth of wheat", "the history of the harbour", "rainfall in the valley", "the design of bridges",
           "migration of birds", "the age of the rocks", "the causes of the fire", "trade along the coast"]
ENDINGS = ["over several decades.", "in considerable detail.", "using records from 1890.",
           "with careful field notes.", "across three regions.", "before the results were published."]

SPAM_OPENERS = ["CLICK HERE", "BUY NOW", "LIMITED OFFER", "FREE BONUS", "ACT FAST", "WIN BIG"]
SPAM_ITEMS = ["cheap pills", "casino chips", "crypto coins", "replica watches", "followers", "diet pills"]
SPAM_ENDINGS = ["!!! 90% off", "best price $$$", "no prescription!!!", "guaranteed now!!!", "free shipping $$$",
                "only today!!!"]


def hq_text(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ENDINGS)}"


def lq_text(rng: random.Random) -> str:
    return f"{rng.choice(SPAM_OPENERS)} {rng.choice(SPAM_ITEMS)} {rng.choice(SPAM_ENDINGS)} {rng.choice(SPAM_ITEMS)}"


def dataset(seed: int, n_per_class: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n_per_class):
        texts += [hq_text(rng), lq_text(rng)]
        labels += ["hq", "lq"]
    return texts, labels


SMALL_MODEL = dict(epoch=10, lr=0.5, word_ngrams=2, dim=16, bucket=20_000, seed=0, valid_fraction=0.2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    texts, labels = dataset(seed=1, n_per_class=200)
    # inputs a reader may hand over: missing or blank texts and labels are skipped and counted
    texts += [None, "", "   \n ", "a text without label", "another one"]
    labels += ["hq", "lq", "hq", None, "  "]
    model_path = tmp_path_factory.mktemp("fasttext") / "models" / "quality.bin"
    metrics = train_fasttext(texts, labels, model_path, **SMALL_MODEL)
    return model_path, metrics


def test_training_reports_counts_and_held_out_metrics(trained):
    model_path, metrics = trained
    assert model_path.exists() and metrics["model_path"] == str(model_path)
    assert metrics["n_skipped_empty_text"] == 3 and metrics["n_skipped_empty_label"] == 2
    assert metrics["n_train"] + metrics["n_valid"] == 400 and metrics["n_valid"] == 80
    assert metrics["labels"] == ["hq", "lq"] and metrics["label_counts"] == {"hq": 200, "lq": 200}
    assert metrics["accuracy"] >= 0.95
    assert metrics["precision"] >= 0.95 and metrics["recall"] >= 0.95
    assert sum(v["support"] for v in metrics["per_label"].values()) == 80
    assert not list(model_path.parent.glob("*.train.txt"))  # the temporary training file is gone


def test_training_is_deterministic(trained, tmp_path):
    model_path, metrics = trained
    texts, labels = dataset(seed=1, n_per_class=200)
    again = train_fasttext(texts, labels, tmp_path / "again.bin", **SMALL_MODEL)
    assert again["accuracy"] == metrics["accuracy"] and again["n_valid"] == metrics["n_valid"]
    probe = ["The museum documented trade along the coast in considerable detail."]
    assert FastTextRater(model_path).rate(probe)["quality_fasttext"][0] == pytest.approx(
        FastTextRater(tmp_path / "again.bin").rate(probe)["quality_fasttext"][0], abs=1e-6
    )


def test_character_ngrams_and_quantization(trained, tmp_path):
    """minn/maxn add subword n-grams (an unseen inflection still scores); quantize_cutoff writes a much
    smaller .ftz model that predicts like the full one and loads through load_model."""
    model_path, _ = trained
    texts, labels = dataset(seed=1, n_per_class=200)
    params = {**SMALL_MODEL, "minn": 3, "maxn": 5}
    full = train_fasttext(texts, labels, tmp_path / "sub.bin", **params)
    small = train_fasttext(texts, labels, tmp_path / "sub.ftz", **params, quantize_cutoff=1000)
    assert full["params"]["minn"] == 3 and small["params"]["quantize_cutoff"] == 1000
    assert (tmp_path / "sub.ftz").stat().st_size * 5 < (tmp_path / "sub.bin").stat().st_size
    assert small["accuracy"] >= 0.95 and full["accuracy"] >= 0.95
    unseen = ["CLICKING HEREEE cheapest pillz", "researcher examining bridge designs"]  # inflections never trained on
    assert [label for label, _ in predict_labels(load_model(tmp_path / "sub.bin"), unseen)] == ["lq", "hq"]
    assert [label for label, _ in predict_labels(load_model(tmp_path / "sub.ftz"), unseen)] == ["lq", "hq"]
    assert predict_labels(load_model(model_path), unseen)[1][0] == "lq"  # words only: the second one is missed
    assert not list(tmp_path.glob("*.train.txt"))


def test_training_input_errors(tmp_path):
    with pytest.raises(ValueError, match="two labels"):
        train_fasttext(["one text", "two texts"], ["hq", "hq"], tmp_path / "m.bin")
    with pytest.raises(ValueError):
        train_fasttext(["one text", "two texts"], ["hq"], tmp_path / "m.bin")  # lengths differ
    with pytest.raises(ValueError, match="valid_fraction"):
        train_fasttext(["a", "b"], ["x", "y"], tmp_path / "m.bin", valid_fraction=1.0)


def test_rater_separates_held_out_texts_after_pickling(trained):
    model_path, _ = trained
    rater = pickle.loads(pickle.dumps(FastTextRater(model_path, label="hq")))  # as shipped to a worker
    assert rater.columns == ["quality_fasttext"] and rater._model is None
    rater.setup()
    rng = random.Random(99)
    hq = [hq_text(rng) for _ in range(50)]
    lq = [lq_text(rng) for _ in range(50)]
    scores = rater.rate(hq + lq)["quality_fasttext"]
    assert scores.dtype == np.float64 and scores.shape == (100,)
    assert np.all((scores >= 0) & (scores <= 1))
    assert scores[:50].min() > scores[50:].max()
    # a loaded rater pickles without its model and reloads it on setup
    clone = pickle.loads(pickle.dumps(rater))
    assert clone._model is None
    assert clone.rate(hq[:3])["quality_fasttext"] == pytest.approx(scores[:3])


def test_rater_label_forms_and_records(trained):
    model_path, _ = trained
    text = "Historians examines the history of the harbour\nover several decades."
    hq = FastTextRater(model_path, label="__label__hq", name="hq_prob").rate([text])["quality_hq_prob"][0]
    lq = FastTextRater(model_path, label="lq").rate([text])["quality_fasttext"][0]
    assert hq == pytest.approx(1 - lq, abs=1e-3)  # two-class softmax
    rows = rate_records([FastTextRater(model_path)], [{"id": "a", "text": text}, {"id": "b", "text": None}], "text")
    assert [r["id"] for r in rows] == ["a", "b"] and all(isinstance(r["quality_fasttext"], float) for r in rows)


def test_unknown_label_fails_at_setup(trained):
    model_path, _ = trained
    rater = FastTextRater(model_path, label="spam")  # constructing never touches the model
    with pytest.raises(ValueError, match="__label__spam"):
        rater.setup()


def test_predict_labels(trained):
    model_path, _ = trained
    rng = random.Random(5)
    predictions = predict_labels(load_model(model_path), [hq_text(rng), lq_text(rng), "line one\nline two"])
    assert [label for label, _ in predictions[:2]] == ["hq", "lq"]
    assert all(0.5 <= p <= 1.0 for _, p in predictions[:2])
    assert predictions[2][0] in {"hq", "lq"}


def test_fasttext_line_removes_newlines():
    assert fasttext_line(" a\nb\r\n\tc\x00d ") == "a b c d"


def test_a_model_at_an_fsspec_url_loads_like_the_local_file(trained):
    """Workers of a portable runner read staged models from shared storage (here fsspec's memory://)."""
    import fsspec

    model_path, _ = trained
    with fsspec.open("memory://staged/quality.bin", "wb") as target:
        target.write(model_path.read_bytes())
    texts = ["The survey examines rainfall in the valley over several decades.", "BUY NOW cheap pills!!!"]
    local, staged = load_model(model_path), load_model("memory://staged/quality.bin")
    assert staged.labels == local.labels
    assert predict_labels(staged, texts) == predict_labels(local, texts)

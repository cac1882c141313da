"""Beam NearDedup / ExactDedup on planted duplicates (FnApiRunner, offline)."""
import json
import random

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from schemas.common import DEDUP_REMOVED_SCHEMA
from transforms.dedup import ExactDedup, MinHashConfig, NearDedup
from transforms.dedup.minhash import jaccard, shingles

_rnd = random.Random(2024)
VOCAB = [f"{w}{i}" for i, w in enumerate(["alpha", "beta", "gamma", "delta", "omega"] * 400)]


def random_doc(words=200):
    return [_rnd.choice(VOCAB) for _ in range(words)]


def edited(words, positions, tag):
    out = list(words)
    for p in positions:
        out[p] = f"edit{tag}x{p}"
    return out


def word_jaccard(a, b):
    return jaccard(set(shingles([w.encode() for w in a], 5)), set(shingles([w.encode() for w in b], 5)))


def text(words):
    return " ".join(words).capitalize() + "."


BASE = random_doc()
OTHER_BASE = random_doc()
NEAR = {  # id -> words; every copy is clearly above 0.8 with its base
    "n-base": BASE,
    "n-copy1": edited(BASE, [40], 1),
    "n-copy2": edited(BASE, [90, 150], 2),
    "a-copy3": edited(BASE, [10], 3),  # smallest id of the cluster
    "p-base": OTHER_BASE,
    "p-copy": edited(OTHER_BASE, [100], 4),
}
FAR = {  # must survive: a heavy edit of BASE (Jaccard ~0.3) and unrelated documents
    "far-edit": edited(BASE, list(range(5, 200, 10)), 5),
    **{f"unrelated{i}": random_doc() for i in range(12)},
}


def records(score_of=None):
    out = [{"id": rid, "text": text(words), "extra": [1, 2]} for rid, words in {**NEAR, **FAR}.items()]
    out += [{"id": "empty1", "text": ""}, {"id": "empty2", "text": None}, {"id": "short", "text": "Two words"}]
    for r in out:
        if score_of and r["id"] in score_of:
            r["q"] = score_of[r["id"]]
    return out


def test_planted_similarities():
    assert all(word_jaccard(BASE, NEAR[k]) > 0.9 for k in ("n-copy1", "n-copy2", "a-copy3"))
    assert word_jaccard(OTHER_BASE, NEAR["p-copy"]) > 0.9
    assert word_jaccard(BASE, FAR["far-edit"]) < 0.4


def run_near(inputs, transform):
    p = beam.Pipeline(runner=FnApiRunner())
    kept, removed = p | beam.Create(inputs, reshuffle=False) | transform
    return p, kept, removed


def metric(result, namespace, name):
    counters = result.metrics().query(MetricsFilter().with_namespace(namespace).with_name(name))["counters"]
    return sum(c.committed for c in counters)


def test_near_dedup_removes_exactly_the_planted_copies():
    inputs = records()
    p, kept, removed = run_near(inputs, NearDedup(config=MinHashConfig(), batch_chars=5000, rounds=1))
    # no scores: the smallest id of each cluster survives
    expected_removed = [("n-base", "a-copy3"), ("n-copy1", "a-copy3"), ("n-copy2", "a-copy3"),
                        ("p-copy", "p-base")]
    assert_that(removed | beam.Map(lambda r: (r["record_id"], r["kept_id"])), equal_to(expected_removed),
                label="removed")
    removed_ids = {r for r, _ in expected_removed}
    assert_that(kept | beam.Map(lambda r: r["id"]), equal_to([r["id"] for r in inputs if r["id"] not in removed_ids]),
                label="kept")

    def check_rows(rows):
        for row in rows:
            assert set(row) == set(DEDUP_REMOVED_SCHEMA.names)
            assert row["method"] == "minhash" and row["stage"] == "dedup:near"
            original = json.loads(row["record_json"])
            assert original["id"] == row["record_id"] and original["extra"] == [1, 2]
            assert original["text"] == text(NEAR[row["record_id"]])

    assert_that(removed, check_rows, label="rows")
    result = p.run()
    result.wait_until_finish()
    assert metric(result, "stage:dedup:near", "in") == len(inputs)
    assert metric(result, "stage:dedup:near", "removed") == 4
    assert metric(result, "stage:dedup:near", "out") == len(inputs) - 4


def test_near_dedup_keeps_best_score_and_is_order_independent():
    scores = {"n-copy2": 0.9, "n-base": 0.5, "a-copy3": None, "p-base": 0.1, "p-copy": 0.2}
    inputs = records(scores)
    expected = [("n-base", "n-copy2"), ("n-copy1", "n-copy2"), ("a-copy3", "n-copy2"), ("p-base", "p-copy")]
    for order, batch_chars in ((inputs, 100_000), (list(reversed(inputs)), 1500)):
        transform = NearDedup(score_field="q", batch_chars=batch_chars, stage="near2", rounds=1)
        p, kept, removed = run_near(order, transform)
        assert_that(removed | beam.Map(lambda r: (r["record_id"], r["kept_id"])), equal_to(expected))
        p.run().wait_until_finish()


def test_near_dedup_through_the_distributed_components_fallback():
    # 6 candidate nodes > max_local_nodes=3: components run as Beam rounds; same answer
    p, kept, removed = run_near(records(), NearDedup(max_local_nodes=3, rounds=2, stage="near3"))
    assert_that(removed | beam.Map(lambda r: (r["record_id"], r["kept_id"])),
                equal_to([("n-base", "a-copy3"), ("n-copy1", "a-copy3"), ("n-copy2", "a-copy3"),
                          ("p-copy", "p-base")]))
    result = p.run()
    result.wait_until_finish()
    assert metric(result, "dedup:components", "overflow_edges") > 0


def test_near_dedup_without_verification_and_with_text_fn():
    inputs = [{"id": r["id"], "body": {"t": r["text"]}} for r in records()]
    config = MinHashConfig(num_perm=128, verify=False)
    p, kept, removed = run_near(inputs, NearDedup(text_fn=lambda r: r["body"]["t"], config=config, rounds=1))
    assert_that(removed | beam.Map(lambda r: r["record_id"]), equal_to(["n-base", "n-copy1", "n-copy2", "p-copy"]))
    p.run().wait_until_finish()


def test_verification_rejects_candidates_below_threshold():
    mid = edited(BASE, range(3, 200, 25), 6)
    assert 0.55 < word_jaccard(BASE, mid) < 0.72
    inputs = [{"id": "base", "text": text(BASE)}, {"id": "mid", "text": text(mid)}]
    for verify, expected in ((True, []), (False, [("mid", "base")])):
        # 64 bands of 2 rows: the pair is an LSH candidate (P > 0.999); only verification can drop it
        config = MinHashConfig(bands=64, rows=2, verify=verify)
        p, kept, removed = run_near(inputs, NearDedup(config=config, rounds=0))
        assert_that(removed | beam.Map(lambda r: (r["record_id"], r["kept_id"])), equal_to(expected))
        result = p.run()
        result.wait_until_finish()
        if verify:
            assert metric(result, "stage:dedup:near", "candidate_pairs") == 1
            assert metric(result, "stage:dedup:near", "verified_pairs") == 0


def test_near_dedup_rejects_non_string_ids():
    with pytest.raises(Exception, match="string ids"):
        p, kept, removed = run_near([{"id": 1, "text": "x"}], NearDedup(rounds=0))
        p.run().wait_until_finish()


def test_exact_dedup():
    inputs = [
        {"id": "b", "text": "Hello, world!", "q": 0.2},
        {"id": "a", "text": "hello world", "q": None},
        {"id": "c", "text": "HELLO   WORLD", "q": 0.7},
        {"id": "d", "text": "hello world again", "q": 0.1},
        {"id": "e", "text": "", "q": None},
        {"id": "f", "text": "  ", "q": None},
    ]
    p = beam.Pipeline(runner=FnApiRunner())
    kept, removed = p | beam.Create(inputs) | ExactDedup(score_field="q")
    assert_that(kept | beam.Map(lambda r: r["id"]), equal_to(["c", "d", "e"]), label="kept")
    assert_that(removed | beam.Map(lambda r: (r["record_id"], r["kept_id"], r["method"], r["stage"])),
                equal_to([("a", "c", "exact", "dedup:exact"), ("b", "c", "exact", "dedup:exact"),
                          ("f", "e", "exact", "dedup:exact")]), label="removed")
    result = p.run()
    result.wait_until_finish()
    assert metric(result, "stage:dedup:exact", "in") == 6
    assert metric(result, "stage:dedup:exact", "out") == 3
    assert metric(result, "stage:dedup:exact", "removed") == 3


def test_exact_dedup_without_scores_keeps_smallest_id():
    inputs = [{"id": i, "text": "Same."} for i in ("z", "m", "k")]
    with beam.Pipeline(runner=FnApiRunner()) as p:
        kept, removed = p | beam.Create(inputs) | ExactDedup(stage="x")
        assert_that(kept | beam.Map(lambda r: r["id"]), equal_to(["k"]), label="kept")
        assert_that(removed | beam.Map(lambda r: (r["record_id"], r["kept_id"])),
                    equal_to([("m", "k"), ("z", "k")]), label="removed")

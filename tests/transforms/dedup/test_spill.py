"""Records wait for the dedup decisions in a RecordStore, not in the groupings."""
import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from tests.transforms.dedup.test_beam_dedup import records
from transforms.dedup import ExactDedup, NearDedup
from transforms.dedup.spill import RecordStore, batch_key


def test_store_round_trips_inline_and_through_files(tmp_path):
    batch = [{"id": "a", "text": "x" * 1000, "n": [1, None]}, {"id": "b", "text": "\u00e9\ud800"}]
    key = batch_key(["a", "b"])
    assert key == batch_key(["a", "b"]) and key != batch_key(["b", "a"]) and len(key) == 16
    size, inline = RecordStore(None, "dedup:near").put(key, batch)
    assert isinstance(inline, bytes) and len(inline) < size
    assert RecordStore.get((size, inline)) == batch
    ticket = RecordStore(str(tmp_path), "dedup:near").put(key, batch)
    assert ticket[1] == str(tmp_path / "dedup_near" / (key.hex() + ".lz4"))
    assert (tmp_path / "dedup_near" / (key.hex() + ".lz4")).read_bytes() == inline
    assert RecordStore.get(ticket) == batch


def _check(transform, inputs, expected_removed):
    p = beam.Pipeline(runner=FnApiRunner())
    kept, removed = p | beam.Create(inputs, reshuffle=False) | transform
    gone = {rid for rid, _ in expected_removed}
    assert_that(removed | beam.Map(lambda r: (r["record_id"], r["kept_id"], r["record_json"] != "")),
                equal_to([(rid, kid, True) for rid, kid in expected_removed]), label="removed")
    assert_that(kept, equal_to([r for r in inputs if r["id"] not in gone]), label="kept")
    p.run().wait_until_finish()


def test_spilled_dedup_gives_the_inline_answer_and_leaves_records_in_files(tmp_path):
    inputs = records() + [{"id": "zz-exact", "text": records()[0]["text"].upper()}]  # = n-base's text
    near_removed = [("n-base", "a-copy3"), ("n-copy1", "a-copy3"), ("n-copy2", "a-copy3"),
                    ("zz-exact", "a-copy3"), ("p-copy", "p-base")]
    for spill in (None, str(tmp_path)):
        _check(ExactDedup(stage="ex", spill_dir=spill, batch_chars=3000), inputs,
               [("zz-exact", "n-base"), ("empty2", "empty1")])  # "" and None: both empty
        _check(NearDedup(stage="nr", spill_dir=spill, batch_chars=3000, rounds=1), inputs, near_removed)
    for stage in ("ex", "nr"):
        # several batches, each one file: only their tickets went through the groupings
        assert len(list((tmp_path / stage).glob("*.lz4"))) > 1


def test_signatures_in_worker_processes_give_the_same_answer(tmp_path):
    inputs = records() + [{"id": "zz-exact", "text": records()[0]["text"].upper()}]
    near_removed = [("n-base", "a-copy3"), ("n-copy1", "a-copy3"), ("n-copy2", "a-copy3"),
                    ("zz-exact", "a-copy3"), ("p-copy", "p-base")]
    # small batches: several are in flight in the two processes, the last ones leave in finish_bundle
    _check(NearDedup(stage="nr2", spill_dir=str(tmp_path), batch_chars=1500, rounds=1, sign_processes=2),
           inputs, near_removed)


def _chain_and_fused(inputs, tmp_path, **near):
    """(ExactDedup then NearDedup, ExactNearDedup) on the same input: kept records, exact and near
    removal rows, and the stages' counters."""
    import json

    from apache_beam.metrics.metric import MetricsFilter

    from transforms.dedup import ExactNearDedup

    answers = []
    for fused in (False, True):
        p = beam.Pipeline(runner=FnApiRunner())
        records = p | beam.Create(inputs, reshuffle=False)
        spill = str(tmp_path / ("fused" if fused else "chain"))
        if fused:
            kept, exact, near_rows = records | ExactNearDedup(stage="nr", exact_stage="ex", spill_dir=spill,
                                                               rounds=1, **near)
        else:
            kept, exact = records | ExactDedup(stage="ex", spill_dir=spill, score_field=near.get("score_field"),
                                               batch_chars=near.get("batch_chars", 4_000_000))
            kept, near_rows = kept | NearDedup(stage="nr", spill_dir=spill, rounds=1, **near)
        out = tmp_path / f"out-{fused}"
        out.mkdir()
        for name, pcoll in (("kept", kept), ("exact", exact), ("near", near_rows)):
            (pcoll | f"json {name}" >> beam.Map(json.dumps, sort_keys=True) | f"list {name}" >> beam.combiners.ToList()
             | f"save {name}" >> beam.Map(lambda rows, path=str(out / name): open(path, "w").write(json.dumps(rows))))
        result = p.run()
        result.wait_until_finish()
        got = {name: sorted(json.loads((out / name).read_text())) for name in ("kept", "exact", "near")}
        counters = result.metrics().query(MetricsFilter())["counters"]
        got["counters"] = sorted((c.key.metric.namespace, c.key.metric.name, c.committed) for c in counters
                                 if c.key.metric.namespace in ("stage:ex", "stage:nr"))
        answers.append(got)
    return answers


def test_fused_exact_and_near_dedup_equals_the_chain(tmp_path):
    base = records()
    inputs = base + [{"id": "zz-exact", "text": base[0]["text"].upper()},  # exact copy of n-base
                     {"id": "0-exact", "text": base[4]["text"] + " !"},  # exact copy of p-base, smaller id
                     {"id": "b-exact", "text": base[1]["text"]}]  # exact copy of a near copy
    chain, fused = _chain_and_fused(inputs, tmp_path, batch_chars=2500)
    assert fused == chain
    assert len(chain["exact"]) == 4 and len(chain["near"]) >= 4  # the case is not trivial
    assert ("stage:nr", "in", len(inputs) - 4) in chain["counters"]


def test_fused_dedup_with_scores_and_sign_processes_equals_the_chain(tmp_path):
    base = records(score_of={"n-copy2": 0.9, "zz-exact": 2.0, "p-copy": float("nan"), "p-base": True})
    inputs = base + [{"id": "zz-exact", "text": base[0]["text"], "q": 2.0}]
    chain, fused = _chain_and_fused(inputs, tmp_path, score_field="q", batch_chars=1500, sign_processes=2)
    assert fused == chain
    assert any('"kept_id": "zz-exact"' in row for row in chain["near"])  # the best score won the cluster

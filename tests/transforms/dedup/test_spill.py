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

"""UniqueBy: one record per key, the smallest JSON kept; records wait in a RecordStore."""
import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from transforms.records import record_to_json
from transforms.stages import UniqueBy


def _run(inputs, **kw):
    p = beam.Pipeline(runner=FnApiRunner())
    kept, rejects = p | beam.Create(inputs, reshuffle=False) | UniqueBy("uniq", "id", batch_records=3, **kw)
    expected_kept, expected_rejects = [], []
    by_key: dict = {}
    for record in inputs:
        by_key.setdefault(str(record.get("id")), []).append(record)
    for key, group in by_key.items():
        group = sorted(group, key=record_to_json)
        expected_kept.append(group[0])
        expected_rejects += [(key, "duplicate_id", record_to_json(r)) for r in group[1:]]
    assert_that(kept, equal_to(expected_kept), label="kept")
    assert_that(rejects | beam.Map(lambda r: (r["record_id"], r["reason"], r["record_json"])),
                equal_to(expected_rejects), label="rejects")
    p.run().wait_until_finish()
    return expected_kept, expected_rejects


def test_keeps_the_smallest_json_per_key_inline_and_spilled(tmp_path):
    inputs = [{"id": f"k{i % 7}", "text": f"t{(i * 5) % 11}"} for i in range(40)]
    inputs += [{"id": "solo", "text": "x"}, {"text": "no id 1"}, {"text": "no id 0"}, {"id": None, "text": "n"}]
    inputs += [{"id": "twin", "text": "same"}] * 7  # identical records, some in identical batches
    for spill in (None, str(tmp_path)):
        kept, rejects = _run(inputs, spill_dir=spill)
        assert len(kept) + len(rejects) == len(inputs)
        assert {r["id"] for r in kept if r.get("id")} >= {"solo", "twin", "k0", "k6"}
    assert len(list((tmp_path / "uniq").glob("*.lz4"))) > 3


def test_unique_keys_pass_without_grouping_their_records(tmp_path):
    inputs = [{"id": f"u{i}", "text": "t" * i} for i in range(25)]
    kept, rejects = _run(inputs, spill_dir=str(tmp_path))
    assert rejects == [] and len(kept) == 25


def test_batches_with_equal_content_keep_every_copy_apart(tmp_path):
    # batches of 3: the first two batches are byte-identical and share one name in the store
    inputs = [{"id": "t", "text": "a"}] * 6 + [{"id": "t", "text": "b"}]
    for spill in (None, str(tmp_path)):
        kept, rejects = _run(inputs, spill_dir=spill)
        assert kept == [{"id": "t", "text": "a"}] and len(rejects) == 6

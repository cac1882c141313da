import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from transforms.records import Rejected
from transforms.stages import apply_stage


class Splitter:
    """A flat-map stage with a heavy resource loaded in setup()."""

    def setup(self):
        self.separator = " "

    def __call__(self, record):
        if record["text"] == "half":
            return [{"word": "ok"}, Rejected("partly_bad", "second half failed")]
        return [{"word": w} for w in record["text"].split(self.separator)]


def _reasons(rejects):
    return rejects | beam.Map(lambda r: (r["stage"], r["reason"], r["record_id"]))


def test_flatmap_filter_and_isolation():
    records = [{"id": "1", "text": "a b"}, {"id": "2", "text": "half"}, {"id": "3", "text": None}]
    with beam.Pipeline(runner=FnApiRunner()) as p:
        words, rejects = apply_stage(p | beam.Create(records), "split", Splitter(), kind="flatmap")
        assert_that(words, equal_to([{"word": "a"}, {"word": "b"}]), label="words")
        assert_that(_reasons(rejects), equal_to([("split", "partly_bad", "2"), ("split", "error:AttributeError", "3")]),
                    label="rejects")

    with beam.Pipeline(runner=FnApiRunner()) as p:
        kept, rejects = apply_stage(p | beam.Create(records[:2]), "short", lambda r: "too_short" if len(r["text"]) < 4 else None,
                                    kind="filter")
        assert_that(kept | beam.Map(lambda r: r["id"]), equal_to(["2"]), label="kept")
        assert_that(_reasons(rejects), equal_to([("short", "too_short", "1")]), label="rej")


# --------------------------------------------------------------------------- per-record budget

def _spin(record):
    """A stage function that never ends for the record marked ``hang`` (a pure-Python loop that even
    swallows ordinary exceptions)."""
    if record.get("hang"):
        while True:
            try:
                sum(range(1000))
            except Exception:  # noqa: BLE001 - the budget must still stop it
                pass
    return {**record, "done": True}


def test_a_record_over_its_budget_is_a_timeout_reject_and_the_run_goes_on():
    import time

    records = [{"id": "a"}, {"id": "stuck", "hang": True}, {"id": "b"}]
    started = time.monotonic()
    with beam.Pipeline(runner=FnApiRunner()) as p:
        kept, rejects = apply_stage(p | beam.Create(records), "edit_samples", _spin, record_timeout=0.5)
        assert_that(kept | "ids" >> beam.Map(lambda r: (r["id"], r["done"])), equal_to([("a", True), ("b", True)]),
                    label="kept")
        assert_that(rejects | beam.Map(lambda r: (r["record_id"], r["reason"])),
                    equal_to([("stuck", "timeout:edit_samples")]), label="rejects")
    assert time.monotonic() - started < 30


def test_record_budget_returns_results_and_stops_only_the_slow_call():
    from transforms.stages import RecordBudget

    budget = RecordBudget(0.3)
    try:
        assert budget.run(lambda r: r + 1, 1) == (2, False)
        assert budget.run(_spin, {"hang": True}) == (None, True)
        assert budget.run(lambda r: r * 2, 4) == (8, False)  # the next record is not hit by a late exception
    finally:
        budget.close()

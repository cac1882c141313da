import apache_beam as beam
import pytest
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


# --------------------------------------------------------------------------- fused chains

def _tag(record):
    """map: rejects records without text, raises on ``boom``."""
    if record["id"] == "boom":
        raise ValueError("bad record")
    if not record.get("text"):
        return Rejected("empty", "no text")
    return {**record, "tagged": True}


def _no_x(record):
    return "has_x" if "x" in record["word"] else None


def _run_counted(build):
    """Stage counters (without micros) of a pipeline over RECORDS whose kept ids and reject rows
    (stage, reason, record id, record) must be the expected ones."""
    import json

    from transforms.io.manifest import counters_from_result

    p = beam.Pipeline(runner=FnApiRunner())
    kept, rejects = build(p | beam.Create(RECORDS))
    assert_that(kept | "kept" >> beam.Map(lambda r: r["word"]), equal_to(["a", "b", "c", "y"]),
                label="kept")
    assert_that(rejects | "rows" >> beam.Map(lambda r: (r["stage"], r["reason"], r["record_id"],
                                                         json.loads(r["record_json"]))),
                equal_to([("tag", "empty", "2", {"id": "2", "text": ""}),
                          ("tag", "error:ValueError", "boom", {"id": "boom", "text": "z"}),
                          ("words", "partly_bad", "3", {"id": "3", "text": "half", "tagged": True}),
                          ("no_x", "has_x", "x", {"word": "x"})]),
                label="rejects")
    result = p.run()
    result.wait_until_finish()
    return {k: v for k, v in counters_from_result(result).items() if k[0].startswith("stage:") and k[1] != "micros"}


RECORDS = [{"id": "1", "text": "a b"}, {"id": "2", "text": ""}, {"id": "boom", "text": "z"},
           {"id": "3", "text": "half"}, {"id": "4", "text": "x y"}, {"id": "5", "text": "c"}]


def test_a_fused_chain_counts_and_rejects_per_stage_exactly_like_separate_stages():
    from transforms.stages import Stage, apply_stages

    chain = [Stage("tag", _tag), Stage("words", Splitter(), "flatmap"), Stage("no_x", _no_x, "filter", "word")]

    def separate(records):
        rejects = []
        for stage in chain:
            records, rej = apply_stage(records, stage.name, stage.fn, stage.kind, stage.id_field)
            rejects.append(rej)
        return records, tuple(rejects) | beam.Flatten()

    counters = _run_counted(lambda records: apply_stages(records, chain))
    assert counters == _run_counted(separate)
    assert counters == {("stage:tag", "in"): 6, ("stage:tag", "out"): 4, ("stage:tag", "rejected:empty"): 1,
                        ("stage:tag", "rejected:error:ValueError"): 1,
                        ("stage:words", "in"): 4, ("stage:words", "out"): 5, ("stage:words", "rejected:partly_bad"): 1,
                        ("stage:no_x", "in"): 5, ("stage:no_x", "out"): 4, ("stage:no_x", "rejected:has_x"): 1}


def _slow_second(record):
    return _spin(record)


def test_a_record_over_its_budget_in_stage_two_of_a_chain_is_that_stages_timeout_and_the_rest_go_on():
    from transforms.stages import Stage, apply_stages

    records = [{"id": "a"}, {"id": "stuck", "hang": True}, {"id": "b"}]
    chain = [Stage("first", lambda r: {**r, "first": True}), Stage("second", _slow_second),
             Stage("third", lambda r: {**r, "third": True})]
    with beam.Pipeline(runner=FnApiRunner()) as p:
        kept, rejects = apply_stages(p | beam.Create(records), chain, record_timeout=0.5)
        assert_that(kept | "ids" >> beam.Map(lambda r: (r["id"], r["first"], r["done"], r["third"])),
                    equal_to([("a", True, True, True), ("b", True, True, True)]), label="kept")
        assert_that(rejects | beam.Map(lambda r: (r["stage"], r["record_id"], r["reason"])),
                    equal_to([("second", "stuck", "timeout:second")]), label="rejects")


class BatchDouble:
    """A stage that offers ``process_batch``; a batch holding ``bad`` raises, ``hang`` never ends."""

    def __call__(self, record):
        if record["id"] == "bad":
            raise ValueError("bad record")
        if record.get("hang"):
            return _spin(record)
        return {**record, "double": record["n"] * 2, "batched": False}

    def process_batch(self, records):
        if any(r["id"] == "bad" for r in records):
            raise ValueError("a bad record in the batch")
        if any(r.get("hang") for r in records):
            _spin({"hang": True})
        return [Rejected("odd") if r["n"] == 3 else {**r, "double": r["n"] * 2, "batched": True} for r in records]


def _batched_chain(records, record_timeout=None):
    from transforms.stages import Stage, apply_stages

    counters = {}
    p = beam.Pipeline(runner=FnApiRunner())
    kept, rejects = apply_stages(p | beam.Create(records), [Stage("first", lambda r: {**r, "first": True}),
                                                            Stage("double", BatchDouble())], record_timeout)
    yield kept, rejects
    from transforms.io.manifest import counters_from_result

    result = p.run()
    result.wait_until_finish()
    counters.update({k[1]: v for k, v in counters_from_result(result).items() if k[0] == "stage:double" and k[1] != "micros"})
    yield counters


def test_a_chain_with_a_process_batch_stage_runs_it_per_batch_with_the_same_counts():
    records = [{"id": str(n), "n": n} for n in range(6)]
    run = _batched_chain(records)
    kept, rejects = next(run)
    assert_that(kept | "kept" >> beam.Map(lambda r: (r["id"], r["double"], r["batched"], r["first"])),
                equal_to([(str(n), 2 * n, True, True) for n in range(6) if n != 3]), label="kept")
    assert_that(rejects | beam.Map(lambda r: (r["stage"], r["reason"], r["record_id"])),
                equal_to([("double", "odd", "3")]), label="rejects")
    assert next(run) == {"in": 6, "out": 5, "rejected:odd": 1}


@pytest.mark.parametrize("bad", [True, False], ids=["batch raises", "batch over its budget"])
def test_a_failing_or_slow_batch_goes_one_by_one_so_only_its_bad_records_are_rejected(bad):
    records = [{"id": "a", "n": 1}, {"id": "stuck", "n": 4, "hang": True}, {"id": "b", "n": 5}]
    records += [{"id": "bad", "n": 2}] if bad else []
    run = _batched_chain(records, record_timeout=0.5)
    kept, rejects = next(run)
    assert_that(kept | "kept" >> beam.Map(lambda r: (r["id"], r["double"], r["batched"])),
                equal_to([("a", 2, False), ("b", 10, False)]), label="kept")
    expected = [("double", "timeout:double", "stuck")] + ([("double", "error:ValueError", "bad")] if bad else [])
    assert_that(rejects | beam.Map(lambda r: (r["stage"], r["reason"], r["record_id"])), equal_to(expected),
                label="rejects")
    assert next(run) == {"in": len(records), "out": 2, "rejected:timeout:double": 1,
                         **({"rejected:error:ValueError": 1} if bad else {})}

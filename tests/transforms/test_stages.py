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

import json

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from schemas.common import DOCUMENT_SCHEMA
from transforms.io.readers import InputError
from transforms.io.run import ShardRun
from transforms.records import Rejected


def _input(tmp_path, lines):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


def _prepare(record):
    if record.get("id") == "boom":
        raise RuntimeError("stage blew up on this one")
    if not record.get("text"):
        return Rejected("empty_text", "no text")
    return {"id": record["id"], "text": record["text"], "source": "test", "meta_json": None}


class EndpointOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--api_key", default=None)


def _run(inp, out, overwrite=False, secret=None):
    argv = [f"--api_key={secret}"] if secret else []
    run = ShardRun("test", str(out), PipelineOptions(argv), overwrite=overwrite)
    docs = run.stage("prepare", run.read([inp]), _prepare)
    run.write("docs", docs, DOCUMENT_SCHEMA, primary=True)
    return run.execute()


LINES = [
    b'{"id": "a", "text": "fine"}',
    b'{"id": "b", "text": "also fine"}',
    b'{"id": "boom", "text": "raises"}',
    b'{"id": "c", "text": ""}',
    b'{"id": "d", "text": "bad \\udc80 surrogate"}',
    b'{"id": "e", "text": "\xff\xfe"}',
    b'{"id": 7, "text": "id of the wrong type"}',
    b"not json",
]


def test_every_record_lands_somewhere_and_manifest_adds_up(tmp_path):
    out = tmp_path / "out"
    manifest = _run(_input(tmp_path, LINES), out)
    assert (out / "_SUCCESS").exists() and not list(tmp_path.glob("out.tmp-*"))
    on_disk = json.loads((out / "_manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["conservation"] == {"read": 8, "written": 2, "rejected": 6, "deduplicated": 0, "holds": True}
    rejects = pq.read_table(out / "rejects").to_pylist()
    by_reason = {(r["stage"], r["reason"]): r for r in rejects}
    assert sorted((r["stage"], r["reason"], r["record_id"]) for r in rejects) == [
        ("prepare", "empty_text", "c"), ("prepare", "error:RuntimeError", "boom"),
        ("read", "invalid_json", None), ("read", "invalid_utf8", None), ("read", "invalid_utf8", None),
        ("validate:docs", "wrong_type", "7")]
    assert by_reason[("prepare", "error:RuntimeError")]["detail"] == "stage blew up on this one"
    assert json.loads(by_reason[("prepare", "error:RuntimeError")]["record_json"]) == {"id": "boom", "text": "raises"}
    assert "field id" in by_reason[("validate:docs", "wrong_type")]["detail"]
    # read rejects name the input file, not its local path (it is in tmp_path)
    read = [r for r in rejects if r["stage"] == "read"]
    assert [json.loads(r["record_json"])["source"] for r in read] == ["in.jsonl"] * 3
    assert all(r["detail"].startswith("in.jsonl:") and str(tmp_path) not in r["detail"] + r["record_json"]
               for r in read)
    assert manifest["stages"]["prepare"]["rejected"] == {"error:RuntimeError": 1, "empty_text": 1}
    assert list(manifest["stages"]) == ["read", "prepare", "validate:docs"]
    assert manifest["schema_fingerprints"].keys() == {"docs", "rejects"}
    assert sorted(pq.read_table(out / "docs").column("id").to_pylist()) == ["a", "b"]


def test_rerun_is_byte_identical_and_needs_overwrite(tmp_path):
    inp = _input(tmp_path, LINES)
    _run(inp, tmp_path / "one")
    _run(inp, tmp_path / "two")
    for ds in ("docs", "rejects"):
        for f in (tmp_path / "one" / ds).iterdir():
            assert f.read_bytes() == (tmp_path / "two" / ds / f.name).read_bytes()
    with pytest.raises(InputError, match="already holds a finished run"):
        _run(inp, tmp_path / "one")
    assert _run(inp, tmp_path / "one", overwrite=True)["conservation"]["holds"]


def test_crashed_run_never_looks_finished(tmp_path):
    out = tmp_path / "out"
    run = ShardRun("test", str(out), PipelineOptions([]))
    docs = run.read([_input(tmp_path, LINES[:2])])
    run.write("docs", docs | beam.Map(lambda r: 1 / 0), DOCUMENT_SCHEMA, primary=True)  # not isolated: kills the run
    with pytest.raises(Exception):
        run.execute()
    assert not out.exists()
    assert not any((p / "_SUCCESS").exists() for p in tmp_path.glob("out.tmp-*"))


def test_secrets_never_reach_the_manifest(tmp_path):
    manifest = _run(_input(tmp_path, LINES[:1]), tmp_path / "out", secret="sk-live-123")
    assert "sk-live-123" not in (tmp_path / "out" / "_manifest.json").read_text()
    assert manifest["options"]["api_key"] == "<redacted>"


def test_derived_dataset_rejects_are_kept_but_outside_conservation(tmp_path):
    run = ShardRun("test", str(tmp_path / "out"), PipelineOptions([]))
    docs = run.stage("prepare", run.read([_input(tmp_path, LINES[:2])]), _prepare)
    run.write("docs", docs, DOCUMENT_SCHEMA, primary=True)
    derived = docs | beam.Map(lambda d: {"id": d["id"], "text": None if d["id"] == "a" else d["text"].upper()})
    run.write("shouting", derived, DOCUMENT_SCHEMA)
    manifest = run.execute()
    assert manifest["conservation"] == {"read": 2, "written": 2, "rejected": 0, "deduplicated": 0, "holds": True}
    assert manifest["rejects_by_stage_reason"] == {"validate:shouting/missing_field": 1}
    assert manifest["derived_stages"] == ["validate:shouting"]


# ---- checkpoints and --resume

CALLS = {"prepare": 0}


def _counting_prepare(record):
    CALLS["prepare"] += 1  # the in-process FnApiRunner runs stages in this process
    return _prepare(record)


def _checkpointed(inp, out, *, resume=False, explode=False, argv=()):
    run = ShardRun("test", str(out), PipelineOptions(list(argv)), resume=resume)
    docs = run.stage("prepare", run.read([inp]), _counting_prepare)
    docs = run.checkpoint("prepared", docs)
    if explode:
        docs = docs | beam.Map(lambda r: 1 / 0)  # not isolated: kills the run after the checkpoint
    docs = run.stage("shout", docs, lambda d: {**d, "text": d["text"].upper()})
    run.write("docs", docs, DOCUMENT_SCHEMA, primary=True)
    return run.execute()


def _counts(stages):
    return {name: {k: v for k, v in st.items() if k != "seconds"} for name, st in stages.items()}


def _files(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    inp = _input(tmp_path, LINES)
    reference = _checkpointed(inp, tmp_path / "reference")
    CALLS["prepare"] = 0
    with pytest.raises(Exception):
        _checkpointed(inp, tmp_path / "out", explode=True)
    assert CALLS["prepare"] == 5 and not (tmp_path / "out").exists()
    (partial,) = tmp_path.glob("out.tmp-*")
    assert (partial / "_work" / "checkpoints" / "00-prepared" / "_DONE").exists()

    CALLS["prepare"] = 0
    manifest = _checkpointed(inp, tmp_path / "out", resume=True)
    assert CALLS["prepare"] == 0  # the stages before the checkpoint were not run again
    assert manifest["conservation"] == reference["conservation"]
    assert _counts(manifest["stages"]) == _counts(reference["stages"])  # phase counters carried over
    assert _files(tmp_path / "out") == _files(tmp_path / "reference")
    assert not list(tmp_path.glob("out.tmp-*")) and not (tmp_path / "out" / "_work").exists()
    assert any("reused checkpoint(s) of the partial run: prepared" in n for n in manifest["notes"])


def test_resume_without_a_partial_run_starts_anew_and_other_options_do_not_match(tmp_path):
    inp = _input(tmp_path, LINES)
    with pytest.raises(Exception):
        _checkpointed(inp, tmp_path / "out", explode=True, argv=["--api_key=one"])
    CALLS["prepare"] = 0
    manifest = _checkpointed(inp, tmp_path / "out", resume=True, argv=["--api_key=two"])
    assert CALLS["prepare"] == 5  # the partial run had other options: nothing reused
    assert not any("reused" in n for n in manifest["notes"])


def test_resume_reuses_a_finished_run_of_the_same_options_only(tmp_path, capsys):
    inp = _input(tmp_path, LINES)
    first = _checkpointed(inp, tmp_path / "out")
    before = _files(tmp_path / "out")
    CALLS["prepare"] = 0
    assert _checkpointed(inp, tmp_path / "out", resume=True) == first
    assert CALLS["prepare"] == 0 and _files(tmp_path / "out") == before
    assert "already finished with these options; reused" in capsys.readouterr().err
    with pytest.raises(InputError, match="finished run of other options"):
        _checkpointed(inp, tmp_path / "out", resume=True, argv=["--api_key=other"])


def test_run_steps_applies_consecutive_counted_stages_as_one_beam_step(tmp_path):
    from transforms.steps import Filter, Map, Read, Write

    inp = _input(tmp_path, LINES)
    steps = [Read("read", files=(inp,)), Map("prepare", _prepare),
             Filter("short", lambda d: "short" if len(d["text"]) < 5 else None),
             Map("plain", lambda d: d, counted=False),  # not a stage: it ends the chain
             Map("upper", lambda d: {**d, "text": d["text"].upper()}),
             Write("docs", schema=DOCUMENT_SCHEMA, primary=True)]
    run = ShardRun("test", str(tmp_path / "out"), PipelineOptions([]))
    manifest = run.run_steps(steps)
    stage_steps = sorted(label for label in run.pipeline.applied_labels if label.startswith("stage:") and "/" not in label)
    assert stage_steps == ["stage:prepare+short", "stage:upper", "stage:validate:docs"]
    assert list(manifest["stages"]) == ["read", "prepare", "short", "upper", "validate:docs"]
    assert {name: (s["in"], s["out"], s["rejected"]) for name, s in manifest["stages"].items()} == {
        "read": (8, 5, {"invalid_json": 1, "invalid_utf8": 2}),
        "prepare": (5, 3, {"empty_text": 1, "error:RuntimeError": 1}),
        "short": (3, 2, {"short": 1}),  # "fine" (4 chars)
        "upper": (2, 2, {}),
        "validate:docs": (2, 1, {"wrong_type": 1}),  # the id 7
    }
    assert manifest["conservation"]["holds"]
    docs = pq.read_table(tmp_path / "out" / "docs").to_pylist()
    assert all(doc["text"] == doc["text"].upper() for doc in docs)


def test_in_process_workers_sample_state_often_so_bundle_ends_do_not_wait():
    # Each bundle's end joins the state sampler's thread, which first sleeps one period.
    from apache_beam.runners.worker import statesampler
    from apache_beam.utils.counters import CounterFactory

    from transforms.io.run import STATE_SAMPLING_MS, make_runner

    make_runner(PipelineOptions([]))
    sampler = statesampler.StateSampler("test", CounterFactory())
    assert sampler.sampling_period_ms == STATE_SAMPLING_MS <= 10


def test_dedup_plans_for_the_records_the_input_can_hold(tmp_path):
    """Near dedup's Beam rounds (for graphs past one worker's limit) are left out when the input
    bounds the records that reach it; a step that can multiply records keeps them in."""
    from transforms.dedup.minhash import MinHashConfig
    from transforms.dedup.spec import DedupSpec
    from transforms.steps import Dedup, FlatMap, Map, Read, Write

    texts = ["the quick brown fox jumps over the lazy dog today", "the quick brown fox jumps over the lazy dog today",
             "an entirely different sentence about something else"]
    inp = _input(tmp_path, [json.dumps({"id": f"r{i}", "text": t}).encode() for i, t in enumerate(texts)])
    spec = DedupSpec(method="both", id_field="id", text_field="text", minhash=MinHashConfig(ngram=3))
    for name, middle, distributed in (("map", Map("prepare", _prepare), False),
                                      ("flatmap", FlatMap("copies", lambda d: [_prepare(d)]), True)):
        run = ShardRun("test", str(tmp_path / name), PipelineOptions([]))
        manifest = run.run_steps([Read("read", files=(inp,)), middle, Dedup("dedup", spec),
                                  Write("docs", schema=DOCUMENT_SCHEMA, primary=True)])
        assert any("Distributed" in label for label in run.pipeline.applied_labels) is distributed, name
        assert manifest["conservation"]["holds"]
        assert manifest["datasets"]["docs"]["rows"] == 2, name  # the exact copy removed either way

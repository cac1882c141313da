import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "corpus"
    assert main(["corpus", "--output", str(out)]) == 0
    return out


def test_sample_corpus_run_keeps_rejects_and_dedups(sample_run, capsys):
    manifest = json.loads((sample_run / "_manifest.json").read_text())
    assert manifest["conservation"] == {"read": 20, "written": 10, "rejected": 7, "deduplicated": 3, "holds": True}
    docs = pq.read_table(sample_run / "docs")
    assert sorted(docs.column("id").to_pylist()) == [f"doc-{i:03d}" for i in range(10)]
    assert "quality_gopher_word_count" in docs.schema.names
    removed = {r["record_id"]: (r["kept_id"], r["method"]) for r in pq.read_table(sample_run / "duplicates").to_pylist()}
    assert removed == {"doc-101": ("doc-001", "exact"), "doc-102": ("doc-002", "minhash"),
                       "doc-103": ("doc-003", "minhash")}
    reasons = manifest["rejects_by_stage_reason"]
    assert reasons["thresholds/below_threshold:quality_gopher_word_count"] == 3
    assert reasons["read/invalid_utf8"] == reasons["read/invalid_json"] == 1
    assert reasons["prepare/missing_text"] == reasons["prepare/wrong_type"] == 1


def test_stats_and_query(sample_run, capsys):
    capsys.readouterr()
    assert main(["stats", str(sample_run)]) == 0
    text = capsys.readouterr().out
    assert "conservation holds: read 20 = written 10 + rejected 7 + deduplicated 3" in text
    assert "== docs ==" in text and "quality_gopher_word_count" in text
    assert main(["query", str(sample_run), "SELECT method, count(*) AS n FROM duplicates GROUP BY 1 ORDER BY 1",
                 "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"method": "exact", "n": 1}, {"method": "minhash", "n": 2}]


@pytest.mark.parametrize("argv, message", [
    (["corpus", "--input", "/nonexistent/x.jsonl", "--output", "{out}"], "/nonexistent/x.jsonl: no such file"),
    (["corpus", "--output", "{out}", "--frobnicate"], "unknown option(s): --frobnicate"),
    (["corpus", "--output", "{out}", "--keep", "quality_x=>1"], "--keep: malformed threshold spec"),
    (["dedup", "{inp}", "--output", "{out}", "--text-column", "body"], "no column 'body'"),
    (["query", "{out}", "SELECT 1"], "no such output directory"),
    (["query", "{run}", "SELECT nope FROM docs"], "query failed"),
    (["stats", "/nonexistent"], "no such output directory"),
])
def test_user_mistakes_get_one_line_errors(tmp_path, sample_run, capsys, argv, message):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"text": "hello"}\n')
    argv = [a.format(out=tmp_path / "out", inp=inp, run=sample_run) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("shardsmith: error:") and message in err and len(err.strip().splitlines()) == 1


def test_finished_output_is_not_overwritten_by_accident(sample_run, capsys):
    assert main(["corpus", "--output", str(sample_run)]) == 2
    assert "already holds a finished run" in capsys.readouterr().err


def test_dedup_command_keeps_user_columns(tmp_path):
    rng = random.Random(0)
    words = [f"w{i}" for i in range(500)]
    base = [" ".join(rng.choice(words) for _ in range(80)) for _ in range(6)]
    rows = [{"uid": f"u{i}", "body": t, "score": float(i)} for i, t in enumerate(base)]
    near = base[0].split()
    near[40] = "changed"
    rows.append({"uid": "u9", "body": " ".join(near), "score": 99.0})  # best score: survives its group
    rows.append({"uid": "u10", "body": None, "score": 1.0})
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    out = tmp_path / "out"
    assert main(["dedup", str(tmp_path / "in.parquet"), "--text-column", "body", "--id-column", "uid",
                 "--score-column", "score", "--output", str(out)]) == 0
    kept = pq.read_table(out / "kept")
    assert kept.schema.names == ["uid", "body", "score", "dedup_id"]
    assert sorted(kept.column("uid").to_pylist()) == ["u1", "u2", "u3", "u4", "u5", "u9"]
    (removed,) = pq.read_table(out / "duplicates").to_pylist()
    assert (removed["record_id"], removed["kept_id"], removed["method"]) == ("u0", "u9", "minhash")
    (reject,) = pq.read_table(out / "rejects").to_pylist()
    assert reject["reason"] == "missing_text"
    assert json.loads((out / "_manifest.json").read_text())["conservation"]["holds"]


def test_train_rater_then_score_the_corpus(tmp_path, capsys):
    rng = random.Random(1)
    good = "the study measured how the river carried sediment to the delta over many seasons".split()
    spam = "buy now cheap pills click here free offer winner casino bonus".split()
    with open(tmp_path / "labelled.jsonl", "w") as f:
        for i in range(300):
            label, vocab = ("hq", good) if i % 2 else ("lq", spam)
            f.write(json.dumps({"text": " ".join(rng.choice(vocab) for _ in range(30)), "label": label}) + "\n")
    model = tmp_path / "rater.bin"
    assert main(["train-rater", str(tmp_path / "labelled.jsonl"), "--text-column", "text", "--label-column", "label",
                 "--output", str(model), "--dim", "16", "--bucket", "20000"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n_train"] + metrics["n_valid"] == 300 and metrics["accuracy"] >= 0.9
    out = tmp_path / "out"
    assert main(["corpus", "--output", str(out), "--fasttext-model", str(model), "--fasttext-label", "hq"]) == 0
    scores = pq.read_table(out / "docs", columns=["quality_fasttext"]).column(0).to_pylist()
    assert len(scores) == 10 and all(0.0 <= s <= 1.0 for s in scores)


def test_fsspec_urls_for_input_and_output(capsys):
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/in/docs.jsonl", "w") as f:
        f.write(json.dumps({"id": "m1", "text": "hello"}) + "\n" + json.dumps({"id": "m2"}) + "\n")
    assert main(["corpus", "--input", "memory://in/docs.jsonl", "--output", "memory://out/run",
                 "--no-default-thresholds", "--dedup-method", "none"]) == 0
    assert fs.exists("/out/run/_SUCCESS") and not fs.glob("/out/run.tmp-*")
    manifest = json.loads(fs.cat("/out/run/_manifest.json"))
    assert manifest["conservation"] == {"read": 2, "written": 1, "rejected": 1, "deduplicated": 0, "holds": True}
    assert main(["query", "memory://out/run", "SELECT id FROM docs", "--format", "csv"]) == 0
    assert capsys.readouterr().out.endswith("id\r\nm1\r\n")

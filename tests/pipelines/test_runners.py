"""The same pipeline on the FnApiRunner in-memory and in multi-processing mode gives identical shards."""
import json

from pipelines.cli import main


def _shards(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


def test_in_memory_and_multi_processing_write_identical_shards(tmp_path):
    common = ["corpus", "--num-shards", "3"]
    assert main([*common, "--output", str(tmp_path / "memory")]) == 0
    assert main([*common, "--output", str(tmp_path / "procs"), "--direct_running_mode=multi_processing",
                 "--direct_num_workers=2"]) == 0
    memory, procs = _shards(tmp_path / "memory"), _shards(tmp_path / "procs")
    assert len(memory) == 9 and memory == procs  # docs, rejects, duplicates x 3 shards, byte for byte
    manifests = [json.loads((tmp_path / d / "_manifest.json").read_text()) for d in ("memory", "procs")]
    assert manifests[0]["conservation"] == manifests[1]["conservation"]
    assert manifests[0]["conservation"]["holds"]

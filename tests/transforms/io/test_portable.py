"""Which runs get the worker-pool check (``transforms.io.portable``); the check itself runs against a
real worker pool in tests/integration/test_portable_runner.py."""
import json
import os

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.errors import InputError
from transforms.io.local_paths import worker_path
from transforms.io.portable import embedded_worker_pool

EMBED = ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=EXTERNAL"]


@pytest.mark.parametrize("argv, pool", [
    ([], None),
    (["--runner=FnApiRunner"], None),
    ([*EMBED, "--environment_config=localhost:50000"], "localhost:50000"),
    (["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=external",
      "--environment_config=" + json.dumps({"url": "pool:5", "params": {}})], "pool:5"),
    (["--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=EXTERNAL",
      "--environment_config=localhost:50000"], None),  # a job server elsewhere starts the workers
    (["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"], None),
])
def test_only_an_embedded_job_service_with_an_external_pool_is_checked(argv, pool):
    assert embedded_worker_pool(PipelineOptions(argv)) == pool


def test_an_external_environment_without_an_address_is_an_input_error():
    with pytest.raises(InputError, match="--environment_config"):
        embedded_worker_pool(PipelineOptions([*EMBED, "--environment_config={\"params\": {}}"]))


def test_worker_paths_are_absolute_for_local_paths_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert worker_path("data/a.jsonl") == os.path.join(str(tmp_path), "data", "a.jsonl")
    assert worker_path("file:///x/y.jsonl") == "/x/y.jsonl"
    assert worker_path("gs://bucket/a/*.jsonl") == "gs://bucket/a/*.jsonl"

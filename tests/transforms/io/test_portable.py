"""Which runs get the worker-pool check (``transforms.io.portable``); the check itself runs against a
real worker pool in tests/integration/test_portable_runner.py."""
import json
import os

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.errors import InputError
from transforms.io.local_paths import worker_path
from transforms.io.portable import check_output_reachable, embedded_worker_pool

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


@pytest.mark.parametrize("argv", [
    [],
    ["--runner=FnApiRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"],
    EMBED + ["--environment_config=localhost:50000"],
    ["--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=LOOPBACK"],
    ["--runner=FlinkRunner"],  # [auto]: an embedded local cluster
    ["--runner=SparkRunner"],  # local[4]
])
def test_a_local_output_is_fine_for_runners_whose_workers_run_here(argv, tmp_path):
    assert check_output_reachable(PipelineOptions(argv), str(tmp_path / "out")) is None


@pytest.mark.parametrize("argv, named", [
    (["--runner=FlinkRunner", "--flink_master=flink-jm:8081"], "--flink_master flink-jm:8081"),
    (["--runner=SparkRunner", "--spark_master_url=spark://head:7077"], "--spark_master_url spark://head:7077"),
    (["--runner=PortableRunner", "--job_endpoint=jobs.example:8099"], "--job_endpoint jobs.example:8099"),
    (["--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=DOCKER"],
     "--job_endpoint localhost:8099"),  # the job server is here, its Flink cluster may not be
    (EMBED + ["--environment_config=pool.example:50000"], "--environment_config pool.example:50000"),
])
def test_a_local_output_with_a_cluster_is_warned_about(argv, named):
    warning = check_output_reachable(PipelineOptions(argv), "out/run")
    assert named in warning and "out/run/_work" in warning
    assert check_output_reachable(PipelineOptions(argv), "gs://bucket/run") is None
    assert check_output_reachable(PipelineOptions(argv), "s3://bucket/run") is None


def test_dataflow_with_a_local_output_is_an_input_error():
    with pytest.raises(InputError, match="--output out/run: .*DataflowRunner.*gs://"):
        check_output_reachable(PipelineOptions(["--runner=DataflowRunner"]), "out/run")
    assert check_output_reachable(PipelineOptions(["--runner=DataflowRunner"]), "gs://bucket/run") is None


def test_a_run_with_a_local_output_and_a_cluster_notes_the_warning(tmp_path, capsys):
    from transforms.io.run import ShardRun

    out = tmp_path / "out"
    run = ShardRun("dedup", str(out), PipelineOptions(["--runner=PortableRunner", "--job_endpoint=jobs.example:8099"]))
    assert any("must be on storage every worker reaches" in note for note in run.notes)
    assert "warning: --output" in capsys.readouterr().err

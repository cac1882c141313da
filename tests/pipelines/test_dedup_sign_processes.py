"""Which local runs sign in worker processes (``pipelines.dedup.sign_processes``)."""
import os

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.dedup import sign_processes


def test_only_the_single_process_local_runner_signs_in_worker_processes():
    assert sign_processes(PipelineOptions([])) == 1
    assert sign_processes(PipelineOptions(["--direct_num_workers=2"])) == 2
    assert sign_processes(PipelineOptions(["--direct_num_workers=0"])) == max(1, os.cpu_count() or 1)
    assert sign_processes(PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])) == 1
    assert sign_processes(PipelineOptions(["--runner=DataflowRunner", "--direct_num_workers=2"])) == 1

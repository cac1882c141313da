"""End to end: build → dedup → rate → report → publish (DAG ``shardsmith_end_to_end``).

* ``build``: the pipeline named by the ``build_pipeline`` param (default ``corpus``, which runs
  its embedded sample without inputs) into ``{base_dir}/{build_pipeline}``; ``build_inputs``
  become ``--input`` flags and ``build_options`` any other flags (``{"git_repo": ["/src/flask"]}``).
* ``dedup``: ``shardsmith dedup --profile {build_pipeline}`` of the build's primary dataset
  (``docs/``, ``edits/``, ``questions/`` or ``programs/``) into ``{base_dir}/{build_pipeline}-dedup``:
  the pipeline's own dedup text (Clean-PR: the change set; Dr. SCI: the question; Verus: the program).
* ``rate``: ``shardsmith rate --profile {build_pipeline}`` of dedup's ``kept/`` into
  ``{base_dir}/{build_pipeline}-rated`` (Gopher thresholds only for the text corpus).
* ``report``: ``shardsmith report`` of the rated output (``_report/index.html``).
* ``publish``: ``shardsmith publish`` of the rated output to the ``repo_id`` dataset repo;
  a dry run (nothing uploaded, no token needed) when ``repo_id`` is empty or ``publish_dry_run``.
  The token comes from the worker's ``HF_TOKEN`` environment variable only.

Each pipeline task skips an output that already holds a finished run (``_SUCCESS``) and redoes a
partial one, so a failed DAG run can simply be rerun; ``force`` reruns everything. Note that the
skip looks only at ``_SUCCESS``: after changing inputs or options, use a new ``base_dir`` or ``force``.
"""
from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

try:
    from dags.shardsmith_airflow import BUILDS, ShardsmithPipelineOperator, publish_args, run_cli, runner_params
except ImportError:
    from shardsmith_airflow import BUILDS, ShardsmithPipelineOperator, publish_args, run_cli, runner_params

BUILD_OUT = "{{ params.base_dir }}/{{ params.build_pipeline }}"
DEDUP_OUT = BUILD_OUT + "-dedup"
RATED_OUT = BUILD_OUT + "-rated"
TEXT_COLUMN = "{{ params.text_column }}"  # empty: the build pipeline's profile decides

with DAG(
    dag_id="shardsmith_end_to_end",
    description="build → dedup → rate → report → publish",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    user_defined_macros={"builds": BUILDS},
    params={
        **runner_params(),
        "build_pipeline": Param("corpus", enum=sorted(BUILDS), description="pipeline that builds the dataset"),
        "build_inputs": Param([], type="array", items={"type": "string"},
                              description="--input files/dirs/globs of the build; empty: its embedded sample"),
        "build_options": Param({}, type="object", description="other flags of the build pipeline"),
        "text_column": Param("", type="string",
                             description="column dedup and rate read; empty: the build pipeline's profile "
                                         "(text, the Clean-PR change set, question, program)"),
        "dedup_options": Param({}, type="object", description="extra flags of dedup, e.g. {\"threshold\": 0.7}"),
        "rate_options": Param({}, type="object",
                              description="extra flags of rate, e.g. {\"keep\": [\"quality_fasttext>=0.5\"]}"),
        "repo_id": Param("", type="string", description="Hugging Face dataset repo ORG/NAME; empty: dry run"),
        "publish_dry_run": Param(True, type="boolean", description="only print the planned commits and card"),
        "private": Param(False, type="boolean", description="create the dataset repo private"),
        "revision": Param("", type="string", description="branch to publish to (optional)"),
    },
    tags=["shardsmith", "beam", "end-to-end"],
) as dag:
    build = ShardsmithPipelineOperator(
        task_id="build",
        pipeline="{{ params.build_pipeline }}",
        output_dir=BUILD_OUT,
        param_options={"input": "build_inputs"},
        options_params=("options", "build_options"),
    )
    dedup = ShardsmithPipelineOperator(
        task_id="dedup",
        pipeline="dedup",
        output_dir=DEDUP_OUT,
        pipeline_options={
            "input": BUILD_OUT + "/{{ builds[params.build_pipeline].dataset }}",
            "profile": "{{ params.build_pipeline }}",
            "text_column": TEXT_COLUMN,
        },
        options_params=("options", "dedup_options"),
    )
    rate = ShardsmithPipelineOperator(
        task_id="rate",
        pipeline="rate",
        output_dir=RATED_OUT,
        pipeline_options={
            "input": DEDUP_OUT + "/kept",
            "profile": "{{ params.build_pipeline }}",
            "text_column": TEXT_COLUMN,
        },
        options_params=("options", "rate_options"),
    )

    @task(task_id="report")
    def report(output: str) -> str:
        """``shardsmith report OUT``: writes OUT/_report/index.html."""
        run_cli(["report", output])
        return output

    @task(task_id="publish")
    def publish(output: str, params=None) -> str:
        """``shardsmith publish OUT --repo-id ...`` (``--dry-run`` unless asked to upload)."""
        run_cli(publish_args(output, params["repo_id"], dry_run=params["publish_dry_run"],
                             private=params["private"], revision=params["revision"]))
        return output

    reported = report(rate.output)  # the rated output's path, from rate's XCom
    build >> dedup >> rate
    publish(reported)

"""Shared pieces of the shardsmith Airflow DAGs: the pipeline operator, params and the CLI task.

Light at import: Airflow, the Beam *provider* (not Beam) and the standard library only.
``fsspec`` is imported inside ``execute``; apache_beam, pyarrow and the shardsmith engine
are only ever imported by the pipeline subprocess the operator launches.

Every pipeline task is a ``ShardsmithPipelineOperator``: the Beam provider's
``BeamRunPythonPipelineOperator`` running ``python -m pipelines.cli NAME --runner=... --key=value``
(the ``shardsmith NAME`` command, so pipelines registered through entry points work too), with

* the runner chosen by the ``runner`` DAG param: ``local`` runs Beam's in-process
  FnApiRunner (never the DirectRunner, which would try to download Prism), ``dataflow``
  runs ``DataflowRunner`` with a ``DataflowConfiguration`` built from the ``gcp_*`` params
  (needs ``apache-airflow-providers-google`` and ``apache-beam[gcp]`` on the worker);
* a finished output (``OUT/_SUCCESS``, checked with fsspec so ``gs://`` works) skipped
  without launching Beam: the task logs "already finished, skipped" and *succeeds*, so
  downstream tasks still run; the ``force`` param reruns it with ``--overwrite``;
* a partial output (no ``_SUCCESS``) redone with ``--resume``: a run killed half-way continues
  from its ``OUT.tmp-<id>/`` checkpoints and caches, anything else starts anew.
"""
from __future__ import annotations

import logging
import os
import posixpath
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from airflow.providers.apache.beam.operators import beam as beam_operators
from airflow.providers.apache.beam.operators.beam import BeamDataflowMixin, BeamRunPythonPipelineOperator
from airflow.sdk import Param

log = logging.getLogger(__name__)

SUCCESS_NAME = "_SUCCESS"
LOCAL_RUNNER = "FnApiRunner"  # transforms.io.run.make_runner: in-process, no Prism download
DATAFLOW_RUNNER = "DataflowRunner"
DEFAULT_BASE_DIR = "/tmp/shardsmith-airflow"
# The repository's setup.py (Dataflow's --setup_file) when the DAGs run from a checkout.
REPO_SETUP_FILE = Path(__file__).resolve().parent.parent / "setup.py"

# The primary dataset of each building pipeline; how dedup and rate treat it is the pipeline's
# own profile (``shardsmith dedup/rate --profile NAME``, pipelines/profiles.py; a test checks
# that these datasets agree with it).
BUILDS: dict[str, dict[str, str]] = {
    "corpus": {"dataset": "docs"},
    "clean-pr": {"dataset": "edits"},
    "dr-sci": {"dataset": "questions"},
    "verus": {"dataset": "programs"},
}


def runner_params() -> dict[str, Param]:
    """Params every shardsmith DAG has: where outputs go and which runner runs the pipelines."""
    return {
        "base_dir": Param(DEFAULT_BASE_DIR, type="string",
                          description="folder (local path or fsspec URL such as gs://bucket/runs) for the outputs"),
        "runner": Param("local", enum=["local", "dataflow"],
                        description="local: in-process Beam FnApiRunner; dataflow: Google Cloud Dataflow"),
        "force": Param(False, type="boolean",
                       description="rerun pipelines whose output is already finished (--overwrite)"),
        "options": Param({}, type="object",
                         description="extra pipeline flags for every pipeline task, e.g. "
                                     '{"direct_running_mode": "multi_processing", "direct_num_workers": 2}'),
        "gcp_project": Param("", type="string", description="Dataflow: Google Cloud project"),
        "gcp_region": Param("us-central1", type="string", description="Dataflow: region"),
        "gcp_conn_id": Param("google_cloud_default", type="string", description="Dataflow: Airflow connection"),
        "temp_location": Param("", type="string", description="Dataflow: gs:// temp location (required)"),
        "staging_location": Param("", type="string", description="Dataflow: gs:// staging location"),
        "setup_file": Param("", type="string",
                            description="Dataflow: shardsmith's setup.py (default: the repository's, when the "
                                        "DAGs run from a checkout)"),
        "sdk_container_image": Param("", type="string", description="Dataflow: custom worker image (optional)"),
    }


def _flag_values(options: dict) -> dict:
    """Pipeline options without unset values (None, "", []): those would become ``--key=``."""
    return {k: v for k, v in options.items() if v is not None and v != "" and v != [] and v is not False}


class _DataflowOnlyWithGoogleProvider(BeamDataflowMixin):
    """The provider refuses to build any Beam operator without the Google provider; only Dataflow
    runs need it, so local runs work with ``apache-airflow-providers-apache-beam`` alone."""

    def __init__(self):
        if beam_operators.GOOGLE_PROVIDER:
            super().__init__()
        else:
            super(BeamDataflowMixin, self).__init__()  # skip the mixin's check, not the rest of the chain


class ShardsmithPipelineOperator(BeamRunPythonPipelineOperator, _DataflowOnlyWithGoogleProvider):
    """Run one shardsmith pipeline into ``output`` unless it already holds a finished run.

    :param pipeline: pipeline name as in ``shardsmith NAME`` (templated), e.g. ``corpus``.
    :param output_dir: output directory (templated), e.g. ``{{ params.base_dir }}/corpus``.
    :param pipeline_options: fixed pipeline flags (templated strings), ``{"text_column": "text"}``.
    :param param_options: pipeline flag -> DAG param name; the param's value (any JSON type:
        lists become repeated flags) is passed as that flag, e.g. ``{"input": "inputs"}``.
    :param options_params: DAG params holding dicts of extra flags, merged last.
    """

    template_fields: Sequence[str] = (*BeamRunPythonPipelineOperator.template_fields, "pipeline", "output_dir")
    ui_color = "#e8f0ff"

    def __init__(self, *, pipeline: str, output_dir: str, pipeline_options: dict | None = None,
                 param_options: dict[str, str] | None = None, options_params: Sequence[str] = ("options",),
                 success_timeout: float = 600.0, **kwargs):
        kwargs.setdefault("py_interpreter", sys.executable)
        # Synchronous: after the pipeline process ends, execute() checks that _SUCCESS was written.
        kwargs.setdefault("deferrable", False)
        super().__init__(py_file=pipeline, py_options=["-m", "pipelines.cli"], runner=LOCAL_RUNNER,
                         pipeline_options=pipeline_options or {}, **kwargs)
        self.pipeline, self.output_dir = pipeline, output_dir
        self.param_options = dict(param_options or {})
        self.options_params = tuple(options_params)
        self.success_timeout = success_timeout

    # -- idempotency ---------------------------------------------------------------------------

    @staticmethod
    def finished(output: str) -> bool:
        """Whether ``output`` holds a finished run (``_SUCCESS``, written last)."""
        import fsspec

        fs, path = fsspec.core.url_to_fs(output)
        return fs.exists(posixpath.join(path, SUCCESS_NAME))

    @staticmethod
    def leftovers(output: str) -> list[str]:
        """The output itself (when unfinished) and ``OUT.tmp-*`` siblings of crashed runs."""
        import fsspec

        fs, path = fsspec.core.url_to_fs(output)
        found = [path] if fs.exists(path) else []
        return found + sorted(fs.glob(f"{path}.tmp-*"))

    # -- execution -----------------------------------------------------------------------------

    def execute(self, context):
        params = context["params"]
        output = str(self.output_dir).rstrip("/")
        force = bool(params.get("force", False))
        if not force and self.finished(output):
            self.log.info("%s: %s already finished (%s exists), skipped", self.pipeline, output, SUCCESS_NAME)
            return output
        partial = self.leftovers(output)
        if partial and not force:
            self.log.info("%s: partial output from an earlier attempt (%s): redoing it (--resume)",
                          self.pipeline, ", ".join(partial))

        options = {"output": output, **self.pipeline_options}
        for flag, param in self.param_options.items():
            options[flag] = params.get(param)
        for name in self.options_params:
            options.update(params.get(name) or {})
        if force:
            options["overwrite"] = True
        else:
            options["resume"] = True  # a killed run continues from its checkpoints and caches
        options.pop("runner", None)  # the runner comes from the `runner` param
        if params.get("runner", "local") == "dataflow":
            self._configure_dataflow(params, context)
            options.update(self._dataflow_options(params))
        else:
            self.runner = LOCAL_RUNNER
        self.pipeline_options = _flag_values(options)
        self.py_file = str(self.pipeline)
        super().execute(context)
        self._wait_for_success(output, dataflow=self.runner == DATAFLOW_RUNNER)
        self.log.info("%s: finished %s", self.pipeline, output)
        return output

    def _wait_for_success(self, output: str, dataflow: bool) -> None:
        """The pipeline process writes ``_SUCCESS`` last; fail loudly if it did not."""
        import time

        deadline = time.monotonic() + (self.success_timeout if dataflow else 0)
        while not self.finished(output):
            if time.monotonic() >= deadline:
                raise RuntimeError(f"{self.pipeline}: the pipeline ended but {output}/{SUCCESS_NAME} is missing")
            time.sleep(10)

    def _cast_dataflow_config(self):
        # The provider builds a DataflowConfiguration even for local runners, which fails when
        # the Google provider is not installed; only Dataflow runs need one.
        if self.runner == DATAFLOW_RUNNER:
            super()._cast_dataflow_config()

    def _configure_dataflow(self, params, context) -> None:
        if not beam_operators.GOOGLE_PROVIDER:
            raise RuntimeError("runner=dataflow needs apache-airflow-providers-google (and apache-beam[gcp], gcsfs)")
        if not params.get("gcp_project"):
            raise ValueError("runner=dataflow needs the gcp_project param")
        if not str(params.get("temp_location", "")).startswith("gs://"):
            raise ValueError("runner=dataflow needs a gs:// temp_location param")
        self.runner = DATAFLOW_RUNNER
        self.gcp_conn_id = params.get("gcp_conn_id") or self.gcp_conn_id
        run_id = str(context.get("run_id") or "")
        self.dataflow_config = {
            "job_name": f"shardsmith-{self.pipeline}-{self.task_id}".replace("_", "-").lower(),
            "project_id": params["gcp_project"],
            "gcp_conn_id": self.gcp_conn_id,
            "append_job_name": True,  # unique Dataflow job name per attempt
        }
        if params.get("gcp_region"):
            self.dataflow_config["location"] = params["gcp_region"]
        self.log.info("Dataflow run %s: project %s, region %s", run_id, params["gcp_project"], params.get("gcp_region"))

    @staticmethod
    def _dataflow_options(params) -> dict:
        setup_file = params.get("setup_file") or (str(REPO_SETUP_FILE) if REPO_SETUP_FILE.exists() else "")
        if not setup_file:
            raise ValueError("runner=dataflow needs the setup_file param (shardsmith's setup.py)")
        return {"temp_location": params.get("temp_location"), "staging_location": params.get("staging_location"),
                "setup_file": setup_file, "sdk_container_image": params.get("sdk_container_image")}


def run_cli(args: list[str]) -> None:
    """Run ``shardsmith ARGS`` (``python -m pipelines.cli``) in a subprocess; its output goes to the task log.

    The environment is inherited, so ``HF_TOKEN`` reaches ``shardsmith publish`` without being
    written in any command line or log.
    """
    cmd = [sys.executable, "-m", "pipelines.cli", *args]
    log.info("running: shardsmith %s", " ".join(args))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=dict(os.environ), check=False)
    for line in proc.stdout.splitlines():
        log.info("%s", line)
    if proc.returncode != 0:
        raise RuntimeError(f"shardsmith {args[0]} failed with exit code {proc.returncode}")


def publish_args(output: str, repo_id: str, *, dry_run: bool, private: bool = False, revision: str = "") -> list[str]:
    """``shardsmith publish`` arguments; a dry run (no upload, no token) when ``repo_id`` is empty."""
    if not repo_id:
        dry_run, repo_id = True, "shardsmith/dry-run"
    args = ["publish", output, "--repo-id", repo_id]
    if private:
        args.append("--private")
    if revision:
        args += ["--revision", revision]
    if dry_run:
        args.append("--dry-run")
    return args

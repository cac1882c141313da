"""Fail fast when the SDK workers of a portable run cannot start.

With ``--runner=PortableRunner --job_endpoint=embed --environment_type=EXTERNAL
--environment_config=HOST:PORT`` the job service runs in this process and asks the worker
pool at HOST:PORT (``python -m apache_beam.runners.worker.worker_pool_main``, the Beam SDK
container's ``--worker_pool`` mode) to start SDK workers, which then connect back to its
control service. Beam waits for that connection without a limit: a pool whose ``python``
cannot import apache_beam hangs the run silently forever.

``check_worker_pool`` does the same handshake once before the pipeline is built: it asks the
pool for one worker pointed at a throw-away control service and waits ``--worker_startup_timeout``
seconds (default 30) for it to connect. Nothing listening, a refused start or no worker in
time is an ``InputError`` naming the option. Job services elsewhere (a Flink or Spark job
server) start their workers themselves and bound that wait on their side.
"""
from __future__ import annotations

import socket
import sys
import threading
import uuid
from concurrent import futures

from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, StandardOptions

from transforms.argtypes import positive
from transforms.errors import InputError
from transforms.io.local_paths import is_url

DEFAULT_WORKER_STARTUP_TIMEOUT = 30.0  # seconds; a worker imports Beam in 1-5 s on a loaded two-core machine


class WorkerStartupOptions(PipelineOptions):
    """``--worker_startup_timeout``: how long a portable run waits for its first SDK worker."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--worker_startup_timeout", "--worker-startup-timeout", dest="worker_startup_timeout",
                            type=positive, default=DEFAULT_WORKER_STARTUP_TIMEOUT,
                            help="seconds a portable run (--job_endpoint=embed, --environment_type=EXTERNAL) waits "
                                 "for the worker pool's first SDK worker before it fails (default 30)")


def embedded_worker_pool(options: PipelineOptions) -> str | None:
    """The worker pool address this process's embedded job service will ask for workers, or None
    (not a PortableRunner with ``--job_endpoint=embed`` and an EXTERNAL environment)."""
    from apache_beam.transforms.environments import ExternalEnvironment

    if (options.view_as(StandardOptions).runner or "").rsplit(".", 1)[-1] != "PortableRunner":
        return None
    portable = options.view_as(PortableOptions)
    if portable.job_endpoint != "embed" or (portable.environment_type or "").upper() != "EXTERNAL":
        return None
    try:
        return ExternalEnvironment.from_options(portable).url
    except ValueError as exc:
        raise InputError(f"--environment_config: {exc}") from None


def _worker_host() -> str:
    # as Beam's ExternalWorkerHandler tells the worker where to connect
    return "localhost" if sys.platform in ("win32", "darwin") else socket.getfqdn()


def check_worker_pool(address: str, timeout: float) -> None:
    """Raise ``InputError`` unless the worker pool at ``address`` starts an SDK worker that connects
    back within ``timeout`` seconds; the worker is stopped again."""
    import grpc
    from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc, endpoints_pb2

    connected = threading.Event()
    worker_id = f"shardsmith-probe-{uuid.uuid4().hex[:8]}"

    class Control(beam_fn_api_pb2_grpc.BeamFnControlServicer):
        def Control(self, responses, context):  # noqa: N802 - the gRPC method name
            if dict(context.invocation_metadata()).get("worker_id") == worker_id:
                connected.set()
            return iter(())  # no instructions: the worker's control stream ends and it exits

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    beam_fn_api_pb2_grpc.add_BeamFnControlServicer_to_server(Control(), server)
    port = server.add_insecure_port("[::]:0")
    server.start()
    channel = grpc.insecure_channel(address)
    pool = beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolStub(channel)
    where = f"--environment_config {address}"
    try:
        endpoint = endpoints_pb2.ApiServiceDescriptor(url=f"{_worker_host()}:{port}")
        try:
            response = pool.StartWorker(beam_fn_api_pb2.StartWorkerRequest(
                worker_id=worker_id, control_endpoint=endpoint, logging_endpoint=endpoint,
                artifact_endpoint=endpoint, provision_endpoint=endpoint), timeout=timeout)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise InputError(f"{where}: the worker pool did not answer within {timeout:g} s "
                                 "(--worker_startup_timeout)") from None
            raise InputError(f"{where}: no Beam worker pool reachable ({exc.code().name.lower()}); start one with "
                             "python -m apache_beam.runners.worker.worker_pool_main --service_port=PORT "
                             "(deploy/README.md)") from None
        if response.error:
            lines = [line for line in response.error.strip().splitlines() if line.strip()]
            raise InputError(f"{where}: the worker pool could not start a worker: {lines[-1] if lines else '?'}")
        if not connected.wait(timeout):
            import apache_beam

            raise InputError(f"{where}: the worker pool started no SDK worker within {timeout:g} s "
                             f"(--worker_startup_timeout); the pool's `python` must import apache_beam "
                             f"{apache_beam.__version__} and shardsmith (deploy/README.md)")
    finally:
        try:
            pool.StopWorker(beam_fn_api_pb2.StopWorkerRequest(worker_id=worker_id), timeout=5)
        except grpc.RpcError:
            pass
        channel.close()
        server.stop(0)


def check_portable_workers(options: PipelineOptions) -> None:
    """``check_worker_pool`` for a run whose embedded job service will ask an EXTERNAL pool for workers."""
    address = embedded_worker_pool(options)
    if address is not None:
        check_worker_pool(address, options.view_as(WorkerStartupOptions).worker_startup_timeout)


def _runner_name(options: PipelineOptions) -> str:
    return (options.view_as(StandardOptions).runner or "").rsplit(".", 1)[-1]


def _workers_elsewhere(options: PipelineOptions) -> str | None:
    """Why the runner's workers may run on other machines than this one, or None when they run here."""
    from apache_beam.options.pipeline_options import FlinkRunnerOptions, SparkRunnerOptions

    runner = _runner_name(options)
    if runner == "FlinkRunner":
        master = options.view_as(FlinkRunnerOptions).flink_master
        return None if master in ("[auto]", "[local]") else f"--flink_master {master}"
    if runner == "SparkRunner":
        master = options.view_as(SparkRunnerOptions).spark_master_url or ""
        return None if master.startswith("local") else f"--spark_master_url {master}"
    if runner == "PortableRunner":
        portable = options.view_as(PortableOptions)
        if (portable.environment_type or "").upper() == "LOOPBACK":
            return None  # the workers run in this process
        if portable.job_endpoint != "embed":
            return f"--job_endpoint {portable.job_endpoint}"  # a job server starts workers wherever it runs them
        pool = embedded_worker_pool(options)
        if pool is not None and pool.rsplit(":", 1)[0] not in ("localhost", "127.0.0.1", "[::1]"):
            return f"--environment_config {pool}"
    return None


def check_output_reachable(options: PipelineOptions, output: str) -> str | None:
    """Fail when the runner's workers cannot reach a local ``output``; answer a warning when they may not.

    Workers write the shards and the run's spill store (``<output>/_work``), and read back what other
    workers spilled, so the output must be storage every worker reaches. DataflowRunner with a local
    path is an ``InputError``; a Flink/Spark cluster or a remote job server with a local path gets
    the returned warning (a shared file system mounted everywhere works).
    """
    if is_url(output):
        return None
    if _runner_name(options) == "DataflowRunner":
        raise InputError(f"--output {output}: a local path, but DataflowRunner workers run on other machines "
                         "and cannot write it; use a gs:// location")
    elsewhere = _workers_elsewhere(options)
    if elsewhere is None:
        return None
    return (f"--output {output} is a local path and {elsewhere} may run workers on other machines: the shards "
            f"and the spill store ({output.rstrip('/')}/_work) must be on storage every worker reaches "
            "(a shared file system, gs://, s3://, hdfs://)")

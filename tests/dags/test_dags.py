"""The Airflow DAGs in dags/: they parse without heavy imports, have the expected shape, and run.

Everything Airflow runs in a subprocess with its own AIRFLOW_HOME and SQLite metadata DB in a
temp folder, so the tests never touch a real Airflow installation and the pytest process never
imports the DAG files. Needs the ``[airflow]`` extra; skipped without it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

if os.environ.get("SHARDSMITH_REQUIRE_AIRFLOW") == "1":  # CI installs the [airflow] extra: missing is a failure
    import airflow  # noqa: F401
    import airflow.providers.apache.beam  # noqa: F401
else:
    pytest.importorskip("airflow", reason="Airflow DAG tests need the [airflow] extra (pip install -e '.[airflow]')")
    pytest.importorskip("airflow.providers.apache.beam",
                        reason="needs apache-airflow-providers-apache-beam ([airflow] extra)")

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
SAMPLE = REPO / "pipelines" / "samples" / "corpus.jsonl"
HEAVY = ("apache_beam", "pyarrow", "duckdb", "transforms", "schemas", "pipelines")
PIPELINE_DAGS = {"shardsmith_corpus": "corpus", "shardsmith_dedup": "dedup", "shardsmith_rate": "rate",
                 "shardsmith_clean_pr": "clean_pr", "shardsmith_dr_sci": "dr_sci", "shardsmith_verus": "verus"}
END_TO_END = "shardsmith_end_to_end"


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    """Environment of a throwaway Airflow: temp home, SQLite DB (migrated), no examples, our DAGs."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
               AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGS_FOLDER=str(DAGS))
    env.pop("HF_TOKEN", None)  # publish must stay a dry run
    return env


@pytest.fixture(scope="module")
def migrated_env(airflow_env):
    """``dag.test()`` needs the metadata tables: ``airflow db migrate`` once per module (~4 s)."""
    proc = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=airflow_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return airflow_env


def run_python(code: str, env: dict, cwd: Path) -> tuple[dict, str]:
    """Run ``code`` in a fresh interpreter; it prints one ``RESULT {json}`` line. Returns (result, log)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    results = [line[len("RESULT "):] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and results, log[-6000:]
    return json.loads(results[-1]), log


def dag_test(dag_id: str, conf: dict, env: dict, cwd: Path) -> tuple[dict, str]:
    """``dag.test(run_conf=conf)`` of one DAG from the DAG folder; returns the task states and the log."""
    return run_python(f"""
        import json
        from airflow.dag_processing.dagbag import DagBag
        dag = DagBag(dag_folder={str(DAGS)!r}).dags[{dag_id!r}]
        run = dag.test(run_conf={conf!r})
        states = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
        print("RESULT " + json.dumps({{"state": str(run.state), "tasks": states}}))
    """, env, cwd)


def manifest(out: Path) -> dict:
    return json.loads((out / "_manifest.json").read_text())


def parquet_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("*.parquet"))


def test_dag_files_parse_without_errors_or_heavy_imports(airflow_env, tmp_path):
    result, log = run_python(f"""
        import json, sys
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(DAGS)!r})
        dags = {{dag_id: {{"tasks": {{t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}},
                          "timetable": type(dag.timetable).__name__, "catchup": dag.catchup, "tags": sorted(dag.tags),
                          "params": sorted(dag.params.keys())}}
                for dag_id, dag in bag.dags.items()}}
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
        print("RESULT " + json.dumps({{"errors": {{k: v for k, v in bag.import_errors.items()}}, "dags": dags,
                                       "heavy": heavy}}))
    """, airflow_env, tmp_path)
    assert result["errors"] == {}
    assert result["heavy"] == [], f"parsing the DAGs imported {result['heavy']}"
    dags = result["dags"]
    assert set(dags) == {*PIPELINE_DAGS, END_TO_END}
    for dag_id, task_id in PIPELINE_DAGS.items():
        assert dags[dag_id]["tasks"] == {task_id: []}
    assert dags[END_TO_END]["tasks"] == {"build": ["dedup"], "dedup": ["rate"], "rate": ["report"],
                                         "report": ["publish"], "publish": []}
    for dag in dags.values():
        assert dag["timetable"] == "NullTimetable" and dag["catchup"] is False  # schedule=None: manual runs
        assert "shardsmith" in dag["tags"]
        assert {"base_dir", "runner", "force", "gcp_project", "temp_location", "setup_file"} <= set(dag["params"])
    assert {"build_pipeline", "repo_id", "publish_dry_run"} <= set(dags[END_TO_END]["params"])


def test_corpus_dag_runs_then_skips_a_finished_output_and_redoes_a_partial_one(migrated_env, tmp_path):
    base = tmp_path / "runs"
    out = base / "corpus"

    result, log = dag_test("shardsmith_corpus", {"base_dir": str(base)}, migrated_env, tmp_path)
    assert result == {"state": "success", "tasks": {"corpus": "success"}}, log[-6000:]
    assert (out / "_SUCCESS").exists()
    m = manifest(out)
    assert m["pipeline"] == "corpus" and m["output"] == str(out)
    assert m["options"]["runner"] == "FnApiRunner"  # never Beam's DirectRunner (Prism download)
    counts = m["conservation"]
    assert counts["holds"] and counts["read"] == len(SAMPLE.read_bytes().splitlines())
    assert counts["written"] == parquet_rows(out / "docs") > 0
    assert counts["rejected"] == parquet_rows(out / "rejects")
    assert counts["read"] == counts["written"] + counts["rejected"] + counts["deduplicated"]
    assert "--runner=FnApiRunner" in log and "DirectRunner" not in log

    # A finished output: the task succeeds without launching Beam, nothing is rewritten.
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "_SUCCESS", out / "_manifest.json")}
    result, log = dag_test("shardsmith_corpus", {"base_dir": str(base)}, migrated_env, tmp_path)
    assert result == {"state": "success", "tasks": {"corpus": "success"}}, log[-6000:]
    assert "already finished" in log and "skipped" in log
    assert "Running command" not in log
    assert {p.name: p.stat().st_mtime_ns for p in (out / "_SUCCESS", out / "_manifest.json")} == stamps

    # A partial output (no _SUCCESS, a crashed run's temp folder beside it) is redone.
    (out / "_SUCCESS").unlink()
    (base / "corpus.tmp-deadbeef").mkdir()
    result, log = dag_test("shardsmith_corpus", {"base_dir": str(base)}, migrated_env, tmp_path)
    assert result == {"state": "success", "tasks": {"corpus": "success"}}, log[-6000:]
    assert "redoing" in log and "Running command" in log
    assert (out / "_SUCCESS").exists()
    assert (out / "_manifest.json").stat().st_mtime_ns != stamps["_manifest.json"]
    assert manifest(out)["conservation"] == counts


def test_end_to_end_dag_builds_dedups_rates_reports_and_dry_run_publishes(migrated_env, tmp_path):
    base = tmp_path / "e2e"
    result, log = dag_test(END_TO_END, {"base_dir": str(base)}, migrated_env, tmp_path)
    assert result == {"state": "success", "tasks": dict.fromkeys(["build", "dedup", "rate", "report", "publish"],
                                                                 "success")}, log[-6000:]
    build, dedup, rated = base / "corpus", base / "corpus-dedup", base / "corpus-rated"
    for out in (build, dedup, rated):
        assert (out / "_SUCCESS").exists() and manifest(out)["conservation"]["holds"]
    assert [manifest(o)["pipeline"] for o in (build, dedup, rated)] == ["corpus", "dedup", "rate"]
    # Each step reads exactly what the previous one wrote.
    assert manifest(dedup)["conservation"]["read"] == manifest(build)["conservation"]["written"]
    assert manifest(rated)["conservation"]["read"] == manifest(dedup)["conservation"]["written"]
    assert manifest(dedup)["options"]["input"] == [str(build / "docs")]
    assert manifest(rated)["options"]["input"] == [str(dedup / "kept")]
    assert parquet_rows(rated / "rated") == manifest(rated)["conservation"]["written"]
    assert (rated / "_report" / "index.html").exists()
    # No repo_id: publish is a dry run (nothing uploaded, no token needed).
    assert f"running: shardsmith publish {rated} --repo-id shardsmith/dry-run --dry-run" in log


def _clean_pr_repo(path: Path, n_prs: int = 6) -> Path:
    """A real git history: one large Python file, each squash-merged PR '(#k)' edits another function of it."""
    def git(*args):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True,
                       env={**os.environ, "GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
                            "GIT_COMMITTER_NAME": "Bob", "GIT_COMMITTER_EMAIL": "bob@example.com"})

    path.mkdir()
    git("init", "-q", "-b", "main")
    functions = [f"def handler_{i}(request):\n    value = request.get('field_{i}')\n    return value\n"
                 for i in range(40)]
    (path / "app.py").write_text("\n\n".join(functions))
    git("add", "app.py")
    git("commit", "-q", "-m", "initial import")
    for k in range(1, n_prs + 1):
        functions[k] = (f"def handler_{k}(request):\n    value = request.get('field_{k}')\n"
                        f"    if value is None:\n        raise KeyError('field_{k} is required')\n    return value\n")
        (path / "app.py").write_text("\n\n".join(functions))
        git("commit", "-q", "-am", f"Require field {k} in handler {k} (#{k})")
    return path


def _by_hand(build: Path, dataset: str, profile: str, tmp_path: Path) -> tuple[dict, dict]:
    """The dedup and rate commands the DAG's tasks stand for, run by hand on the same build output."""
    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True,
                              timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode == 0, proc.stderr[-3000:]

    cli("dedup", str(build / dataset), "--profile", profile, "--output", str(tmp_path / "hand-dedup"))
    cli("rate", str(tmp_path / "hand-dedup" / "kept"), "--profile", profile, "--output", str(tmp_path / "hand-rated"))
    return manifest(tmp_path / "hand-dedup"), manifest(tmp_path / "hand-rated")


@pytest.mark.parametrize("pipeline, dataset", [("clean-pr", "edits"), ("dr-sci", "questions"), ("verus", "programs")])
def test_end_to_end_dag_uses_each_pipelines_own_dedup_and_rating(migrated_env, tmp_path, pipeline, dataset):
    conf = {"base_dir": str(tmp_path / "e2e"), "build_pipeline": pipeline}
    if pipeline == "clean-pr":
        conf["build_options"] = {"git_repo": [str(_clean_pr_repo(tmp_path / "repo"))]}
    result, log = dag_test(END_TO_END, conf, migrated_env, tmp_path)
    assert result["state"] == "success", log[-6000:]
    build, dedup, rated = (tmp_path / "e2e" / f"{pipeline}{suffix}" for suffix in ("", "-dedup", "-rated"))
    built = manifest(build)["conservation"]["written"]
    assert built > 0
    hand_dedup, hand_rated = _by_hand(build, dataset, pipeline, tmp_path)
    for dag_out, hand in ((dedup, hand_dedup), (rated, hand_rated)):
        assert manifest(dag_out)["conservation"] == hand["conservation"]
        assert manifest(dag_out)["rejects_by_stage_reason"] == hand["rejects_by_stage_reason"]
        assert any(note.startswith(f"profile {pipeline}:") for note in manifest(dag_out)["notes"])
    # Distinct items stay: different PRs on one large file, short questions, programs.
    assert manifest(dedup)["conservation"]["written"] == built
    assert manifest(rated)["conservation"]["written"] == built


def test_build_datasets_of_the_dags_are_the_profiles():
    from pipelines.profiles import PROFILES

    source = (DAGS / "shardsmith_airflow.py").read_text()
    for name, profile in PROFILES.items():
        assert f'"{name}": {{"dataset": "{profile.dataset}"}}' in source

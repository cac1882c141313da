"""One Airflow DAG per shardsmith pipeline: ``shardsmith_corpus``, ``shardsmith_dedup``,
``shardsmith_rate``, ``shardsmith_clean_pr``, ``shardsmith_dr_sci``, ``shardsmith_verus``.

Each DAG has one task (the pipeline) writing to the ``output`` param, or ``{base_dir}/<name>``
when it is empty. With the default params, ``corpus``, ``dr-sci`` and ``verus`` run their embedded
samples into ``/tmp/shardsmith-airflow/<name>``; ``dedup`` and ``rate`` read the corpus DAG's
``docs/``; ``clean-pr`` needs a ``git_repo`` or ``prs`` param. Pipeline flags without a param of
their own go in the ``options`` param, e.g. ``{"threshold": 0.7, "keep": ["quality_fasttext>=0.5"]}``.
A finished output is skipped (``force`` reruns it); ``runner`` selects local FnApiRunner or Dataflow.

Parsing this file imports Airflow and the Beam provider only (no apache_beam, pyarrow or engine).
"""
from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

try:  # installed with shardsmith (the `dags` package) ...
    from dags.shardsmith_airflow import DEFAULT_BASE_DIR, ShardsmithPipelineOperator, runner_params
except ImportError:  # ... or only this folder as Airflow's DAGs folder (on sys.path)
    from shardsmith_airflow import DEFAULT_BASE_DIR, ShardsmithPipelineOperator, runner_params


def _paths(default: list[str], description: str) -> Param:
    return Param(default, type="array", items={"type": "string"}, description=description)


CORPUS_DOCS = f"{DEFAULT_BASE_DIR}/corpus/docs"

# name -> (description, params of its own, pipeline flag -> param)
PIPELINES: dict[str, tuple[str, dict[str, Param], dict[str, str]]] = {
    "corpus": (
        "text corpus: rate, threshold and deduplicate documents (embedded sample without inputs)",
        {"inputs": _paths([], "JSONL/Parquet files, directories or globs; empty: the embedded sample"),
         "text_column": Param("text", type="string")},
        {"input": "inputs", "text_column": "text_column"}),
    "dedup": (
        "exact + MinHash near-duplicate removal of any Parquet/JSONL dataset (primary dataset kept/)",
        {"inputs": _paths([CORPUS_DOCS], "Parquet/JSONL files, directories or globs (default: the corpus DAG's docs/)"),
         "text_column": Param("text", type="string")},
        {"input": "inputs", "text_column": "text_column"}),
    "rate": (
        "quality_* scores for any Parquet/JSONL dataset, then thresholds (primary dataset rated/)",
        {"inputs": _paths([CORPUS_DOCS], "Parquet/JSONL files, directories or globs (default: the corpus DAG's docs/)"),
         "text_column": Param("text", type="string"),
         "fasttext_model": Param("", type="string", description="fastText .bin model (optional)"),
         "keep": _paths([], "thresholds such as quality_gopher_...>=x")},
        {"input": "inputs", "text_column": "text_column", "fasttext_model": "fasttext_model", "keep": "keep"}),
    "clean-pr": (
        "pull requests -> Search/Replace edit samples and SFT data (needs git_repo or prs)",
        {"git_repo": _paths([], "local git clones"),
         "prs": _paths([], "PR records (JSONL/Parquet, raw_pr schema)"),
         "issues": _paths([], "issue records (JSONL/Parquet)")},
        {"git_repo": "git_repo", "prs": "prs", "issues": "issues"}),
    "dr-sci": (
        "science questions (embedded samples without sources)",
        {"source": _paths([], "NAME=PATH sources; empty: the embedded samples")},
        {"source": "source"}),
    "verus": (
        "Verus seed programs -> programs, proof tasks, repair pairs (embedded samples without seeds)",
        {"seeds": _paths([], ".rs files, JSON/JSONL seed files or folders; empty: the embedded samples")},
        {"seeds": "seeds"}),
}


def make_dag(name: str) -> DAG:
    description, own_params, param_options = PIPELINES[name]
    ident = name.replace("-", "_")
    params = {**runner_params(),
              "output": Param("", type="string", description=f"output directory; empty: {{base_dir}}/{name}"),
              **own_params}
    with DAG(
        dag_id=f"shardsmith_{ident}",
        description=description,
        doc_md=__doc__,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        max_active_runs=1,
        params=params,
        tags=["shardsmith", "beam", name],
    ) as dag:
        ShardsmithPipelineOperator(
            task_id=ident,
            pipeline=name,
            output_dir="{{ params.output or (params.base_dir ~ '/" + name + "') }}",
            param_options=param_options,
        )
    return dag


for _name in PIPELINES:
    globals()[f"shardsmith_{_name.replace('-', '_')}"] = make_dag(_name)

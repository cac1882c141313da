"""Every pipeline flag, declared without Beam so ``shardsmith --help`` starts fast.

Each function adds one group of flags to an ``argparse`` parser. The ``PipelineOptions``
classes (``pipelines.options``, each pipeline's own, ``transforms.llm.options``) call these
same functions, so the CLI, ``python -m pipelines.cli``, Dataflow and Airflow's Beam operator
parse the same flags. Values a user can get wrong are checked here (``at_least``,
``fraction``), so a bad one is a one-line error before anything runs.

Defaults that are also library defaults are repeated here as literals (importing the
libraries would import numpy, tree-sitter ...); ``tests/pipelines/test_flags.py`` checks
they agree.
"""
from __future__ import annotations

from transforms.argtypes import at_least, fraction, positive
from transforms.llm.flags import llm_flags  # noqa: F401 - the --llm-* group, beside the client it configures

# Library defaults (checked against transforms.* by the tests).
DEFAULT_MAX_CORE_FILES = 5          # transforms.code.pr_sample
DEFAULT_REPO_CAP = 2000             # transforms.code.pr_sample
DEFAULT_TOKEN_BUDGET = 100_000      # transforms.code.crop
MAX_FILE_BYTES = 1_000_000          # transforms.code.git_history
RECORD_TIMEOUT = 300.0              # transforms.stages.DEFAULT_RECORD_TIMEOUT
SCIENCE_ADAPTERS = ("webinstruct_verified", "natural_reasoning", "megascience", "rar_science", "mmlu", "gsm8k")
DECONTAM_NGRAM = 13                 # transforms.science.decontam.NGRAM
DEFAULT_ROLLOUTS = 8                # transforms.science.difficulty.DEFAULT_K
SOLVER_TEMPERATURE = 1.0            # transforms.science.difficulty.DifficultyStage temperature
SOLVER_MAX_TOKENS = 8192            # transforms.science.difficulty.DEFAULT_MAX_TOKENS
RUBRIC_MIN_ITEMS, RUBRIC_MAX_ITEMS = 7, 20  # transforms.science.rubrics
DEFAULT_ANSWER_REL_TOL = 0.05       # transforms.science.answers.DEFAULT_REL_TOL


def run_flags(parser) -> None:
    """Inputs, output, sharding, overwrite and progress: every run has them."""
    parser.add_argument("--input", action="append", default=None,
                        help="input file, directory or glob (JSONL or Parquet; local or fsspec URL); repeatable")
    parser.add_argument("--output", default=None,
                        help="output directory (local path or fsspec URL); default shardsmith-out/<pipeline>")
    parser.add_argument("--overwrite", action="store_true", default=False,
                        help="replace an output directory that holds a finished run")
    parser.add_argument("--resume", action="store_true", default=False,
                        help="reuse a finished output of the same options, or continue the latest "
                             "partial (killed) run of them from its checkpoints and caches")
    parser.add_argument("--num-shards", "--num_shards", dest="num_shards", type=at_least(0), default=0,
                        help="shards per dataset (default: one per --rows-per-shard rows)")
    parser.add_argument("--rows-per-shard", "--rows_per_shard", dest="rows_per_shard", type=at_least(1),
                        default=100_000, help="target rows per shard when --num-shards is not set")
    parser.add_argument("--progress", dest="progress", action="store_true", default=None,
                        help="print progress while running (default: when stderr is a terminal)")
    parser.add_argument("--record-timeout", "--record_timeout", dest="record_timeout", type=positive,
                        default=RECORD_TIMEOUT,
                        help="seconds one record may spend in one stage before it becomes a reject "
                             "timeout:<stage> (default 300)")


def column_flags(parser) -> None:
    """Which input columns hold the text, the id and a quality score."""
    parser.add_argument("--text-column", "--text_column", dest="text_column", default="text",
                        help="input column holding the text")
    parser.add_argument("--id-column", "--id_column", dest="id_column", default=None,
                        help="input column holding unique ids")
    parser.add_argument("--score-column", "--score_column", dest="score_column", default=None,
                        help="numeric column; the highest score survives in each duplicate group")


def profile_flags(parser) -> None:
    """Which build pipeline's output is being deduplicated or rated (``pipelines.profiles``)."""
    parser.add_argument("--profile", default="generic",
                        choices=("generic", "corpus", "clean-pr", "dr-sci", "verus"),
                        help="defaults for the output of that pipeline: text (or change set) column, id column, "
                             "shingles, raters and thresholds; explicit flags override them")


def dedup_flags(parser) -> None:
    """Exact and MinHash near-duplicate removal."""
    parser.add_argument("--dedup-method", "--dedup_method", dest="dedup_method",
                        choices=("both", "exact", "near", "none"), default="both",
                        help="exact (normalized text hash), near (MinHash LSH), both, or none")
    parser.add_argument("--threshold", type=fraction, default=0.8, help="Jaccard threshold of near duplicates")
    parser.add_argument("--num-perm", "--num_perm", dest="num_perm", type=at_least(2), default=256,
                        help="MinHash permutations")
    parser.add_argument("--ngram", type=at_least(1), default=5, help="shingle size in words (or code tokens)")
    parser.add_argument("--shingles", choices=("words", "code"), default=None,
                        help="word n-grams of normalized text, or token n-grams of source code (case kept); "
                             "default: the pipeline's own (code for clean-pr and verus, else words)")
    parser.add_argument("--sign-processes", "--sign_processes", dest="sign_processes", type=at_least(0), default=1,
                        help="local worker processes that compute the MinHash signatures of each Beam worker "
                             "(0: one per CPU); for the in-process runner, the way to use more than one core")


def quality_flags(parser) -> None:
    """Quality raters and the thresholds applied to their scores."""
    parser.add_argument("--fasttext-model", "--fasttext_model", dest="fasttext_model", default=None,
                        help="a fastText .bin quality model (adds quality_fasttext)")
    parser.add_argument("--fasttext-label", "--fasttext_label", dest="fasttext_label", default="__label__hq",
                        help="label whose probability becomes quality_fasttext")
    parser.add_argument("--keep", action="append", default=None, metavar="SPEC",
                        help="threshold such as 'quality_fasttext>=0.5'; repeatable")
    parser.add_argument("--no-default-thresholds", "--no_default_thresholds", dest="no_default_thresholds",
                        action="store_true", default=False, help="do not apply the Gopher default thresholds")


def rate_flags(parser) -> None:
    """Flags of the rate pipeline only (shared ones: ``pipelines.options``)."""
    parser.add_argument("--raters", default="gopher",
                        help="comma-separated raters: gopher (prose), code (source files), "
                             "fasttext (needs --fasttext-model)")


def clean_pr_flags(parser) -> None:
    """Flags of the Clean-PR pipeline only (shared ones: ``pipelines.options``)."""
    parser.add_argument("--git-repo", "--git_repo", dest="git_repo", action="append", default=None,
                        metavar="PATH[=OWNER/NAME]", help="local git clone (bare or not) to read PRs from; repeatable. "
                        "Named OWNER/NAME when given, else from remote.origin.url (GitHub, GitLab), else after its "
                        "directory (a warning in the manifest)")
    parser.add_argument("--prs", action="append", default=None, metavar="FILE",
                        help="PR records (JSONL or Parquet, RAW_PR_SCHEMA layout, or GitHub REST pull objects that "
                             "carry their files); file, directory or glob; repeatable")
    parser.add_argument("--pr-metadata", "--pr_metadata", dest="pr_metadata", action="append", default=None,
                        metavar="FILE", help="GitHub REST pull objects (GET /repos/O/R/pulls) or GH Archive "
                        "PullRequestEvent lines (JSON array / JSONL, .gz ok): title, body, author and merged state of "
                        "the clones' PRs, joined by repo and number; repeatable")
    parser.add_argument("--issues", action="append", default=None, metavar="FILE",
                        help="issues to resolve #N references: JSONL / JSON / Parquet of repo, number, title, body, "
                             "or GitHub REST issue objects as the API returns them (pull requests among them skipped)")
    parser.add_argument("--branch", default=None,
                        help="the only branch whose history is read (default: every local and remote-tracking branch)")
    parser.add_argument("--max-core-files", "--max_core_files", dest="max_core_files", type=at_least(1),
                        default=DEFAULT_MAX_CORE_FILES, help="PRs editing more core files are rejected (too_many_files)")
    parser.add_argument("--token-budget", "--token_budget", dest="token_budget", type=at_least(1),
                        default=DEFAULT_TOKEN_BUDGET, help="files over this many tokens are cropped around the edits")
    parser.add_argument("--repo-cap", "--repo_cap", dest="repo_cap", type=at_least(0), default=DEFAULT_REPO_CAP,
                        help="at most this many samples per repository, a seeded random choice (0: no cap)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-repository random choice")
    parser.add_argument("--extensions", action="append", default=None, metavar="EXT[=LANG],...",
                        help="core source extensions, e.g. '.py,.go' or '.pyx=python' (default: the 12 languages)")
    parser.add_argument("--reject-parse-errors", "--reject_parse_errors", dest="reject_parse_errors",
                        action="store_true", default=False,
                        help="reject samples whose edit introduces tree-sitter parse errors")
    parser.add_argument("--reject-secrets", "--reject_secrets", dest="reject_secrets", action="store_true",
                        default=False, help="reject samples whose added code holds a secret (has_secrets; reason secrets)")
    parser.add_argument("--benchmarks", action="append", default=None, metavar="FILE",
                        help="SWE-bench-style JSONL or index files (shardsmith decontam-index) to decontaminate "
                             "against; repeatable, globs (default: the SWE-bench index shipped with shardsmith)")
    parser.add_argument("--no-decontam", "--no_decontam", dest="no_decontam", action="store_true", default=False,
                        help="skip SWE-bench decontamination")
    parser.add_argument("--sft-negatives", "--sft_negatives", dest="sft_negatives", type=at_least(0), default=1,
                        help="distractor negatives per sample for the navigation and editing steps")
    parser.add_argument("--max-file-bytes", "--max_file_bytes", dest="max_file_bytes", type=at_least(1),
                        default=MAX_FILE_BYTES, help="files larger than this are not read (rejected as oversized)")


def column_map_flags(parser) -> None:
    """``--column-map``: where a source's fields are (Dr. SCI generic sources, Verus JSON seeds)."""
    parser.add_argument("--column-map", "--column_map", dest="column_map", action="append", default=None,
                        metavar="[NAME:]TARGET=COLUMN,...",
                        help="field mapping. dr-sci generic sources: e.g. question=q,reference_answer=a,choices=A|B|C|D; "
                             "NAME:... maps --source generic:NAME only (repeat the flag per source). verus: where JSON "
                             "seeds keep the program, e.g. program=y,task=x (targets: program, task, failing_program, "
                             "errors, source_id)")


def dr_sci_flags(parser) -> None:
    """Flags of the Dr. SCI pipeline only (shared ones: ``pipelines.options``, ``--llm-*``: LlmOptions)."""
    parser.add_argument("--source", action="append", default=None, metavar="NAME=PATH",
                        help="a source: NAME one of " + ", ".join(SCIENCE_ADAPTERS) + " ('mmlu' reads MMLU CSV "
                             "files/dirs), or 'generic' / 'generic:SOURCE_NAME' with --column-map; PATH a file, "
                             "directory or glob; repeatable (default: the embedded sample)")
    parser.add_argument("--decontam-ngram", "--decontam_ngram", dest="decontam_ngram", type=at_least(1), default=DECONTAM_NGRAM,
                        help="word n-gram size of the overlap test")
    parser.add_argument("--rollouts", type=at_least(1), default=DEFAULT_ROLLOUTS, help="solver rollouts per question (k)")
    parser.add_argument("--keep-solved", "--keep_solved", dest="keep_solved", action="store_true", default=False,
                        help="keep questions solved k/k (dropped by default)")
    parser.add_argument("--solver-model", "--solver_model", dest="solver_model", default=None,
                        help="solver model (default --llm-model)")
    parser.add_argument("--solver-temperature", "--solver_temperature", dest="solver_temperature",
                        type=at_least(0, float), default=SOLVER_TEMPERATURE,
                        help="sampling temperature of the solver rollouts (default 1.0)")
    parser.add_argument("--solver-top-p", "--solver_top_p", dest="solver_top_p", type=fraction, default=None,
                        help="top_p of the solver rollouts (default: the server's)")
    parser.add_argument("--solver-max-tokens", "--solver_max_tokens", dest="solver_max_tokens", type=at_least(1),
                        default=SOLVER_MAX_TOKENS, help="max_tokens of a solver rollout (default 8192)")
    parser.add_argument("--llm-seed", "--llm_seed", dest="llm_seed", type=at_least(0), default=0,
                        help="seed of the solver, verifier and rubric requests (rollout i sends seed + i)")
    parser.add_argument("--verifier-model", "--verifier_model", dest="verifier_model", default=None,
                        help="Yes/No verifier of open-ended answers (default: the solver)")
    parser.add_argument("--rubric-model", "--rubric_model", dest="rubric_model", default=None,
                        help="rubric writer (default --llm-model)")
    parser.add_argument("--rubric-min-items", "--rubric_min_items", dest="rubric_min_items", type=at_least(1),
                        default=RUBRIC_MIN_ITEMS)
    parser.add_argument("--rubric-max-items", "--rubric_max_items", dest="rubric_max_items", type=at_least(1),
                        default=RUBRIC_MAX_ITEMS)
    parser.add_argument("--llm-batch-size", "--llm_batch_size", dest="llm_batch_size", type=at_least(1), default=16,
                        help="questions per chat_many batch in the LLM stages")
    parser.add_argument("--subject-classifier", "--subject_classifier", dest="subject_classifier", default="builtin",
                        metavar="builtin|PATH|URL|train|none",
                        help="subject model for rows the metadata table leaves open: builtin (default, the model "
                             "shipped in the package), a fastText model file or URL, train (train one in the driver "
                             "on this run's metadata-labelled rows) or none (metadata only)")
    parser.add_argument("--llm-subjects", "--llm_subjects", dest="llm_subjects", action="store_true", default=False,
                        help="with an endpoint: the LLM labels the subject of questions without a metadata label "
                             "(one of the eight subjects or not_science, rejected); the classifier's label stays "
                             "where it gives no usable answer")
    parser.add_argument("--subject-model", "--subject_model", dest="subject_model", default=None,
                        help="model of --llm-subjects (default --llm-model)")
    parser.add_argument("--no-drop-open-ended-math", "--no_drop_open_ended_math", dest="no_drop_open_ended_math",
                        action="store_true", default=False, help="keep open-ended mathematics questions")


def decontam_flags(parser) -> None:
    """``--decontam-benchmark``, shared by dr-sci and verus (each reads its own formats)."""
    parser.add_argument("--decontam-benchmark", "--decontam_benchmark", dest="decontam_benchmark",
                        action="append", default=None, metavar="PATH",
                        help="benchmark to decontaminate against; repeatable. dr-sci: MMLU CSV dir/glob, GPQA CSV "
                             "or JSONL; verus: task JSON/JSONL in any --seeds layout or .rs folders (seeds whose "
                             "target functions match an item, exact or MinHash at --threshold, are rejected "
                             "benchmark_contamination)")


def answer_flags(parser) -> None:
    """The answer checker's settings (Dr. SCI's rule grading, ``check-answers``)."""
    parser.add_argument("--answer-rel-tol", "--answer_rel_tol", dest="answer_rel_tol", type=fraction,
                        default=DEFAULT_ANSWER_REL_TOL,
                        help="relative tolerance of numeric answers (default 0.05, as common science graders); "
                             "integers written plainly stay exact to their last digit")


def check_answers_flags(parser) -> None:
    """Flags of the check-answers command only."""
    parser.add_argument("--reference-column", "--reference_column", dest="reference_column", default=None,
                        help="input column holding the reference answers (required)")
    parser.add_argument("--candidate-column", "--candidate_column", dest="candidate_column", default=None,
                        help="input column holding the answers to check (required)")
    parser.add_argument("--answer-type-column", "--answer_type_column", dest="answer_type_column", default=None,
                        help="input column with each reference's type (multiple_choice, boolean, numeric, ...): "
                             "lets the checker find '(C)' or 'Yes, ...' inside a longer candidate")
    parser.add_argument("--verdict-column", "--verdict_column", dest="verdict_column", default="verdict",
                        help="output column of the verdict: equivalent, different or unknown")


def verus_flags(parser) -> None:
    """Flags of the Verus pipeline only (shared ones: ``pipelines.options``)."""
    parser.add_argument("--seeds", action="append", default=None, metavar="PATH",
                        help=".rs files, JSON arrays / JSONL of {prompt, input, output} or {task_id, task, "
                             "ground_truth}; file, directory or glob; repeatable (default: the embedded sample)")
    parser.add_argument("--dedup-key", "--dedup_key", dest="dedup_key", choices=("target", "program"),
                        default="target",
                        help="what dedup compares: 'target' (default): the spec + exec code of the target "
                             "functions without proof or comments; 'program': the whole program text")
    parser.add_argument("--verus", default=None, metavar="PATH",
                        help="verus executable (default: $VERUS_PATH, then verus on PATH); none: verification "
                             "is skipped")
    parser.add_argument("--require-verification", "--require_verification", dest="require_verification",
                        action="store_true", default=False, help="fail when no verus is found")
    parser.add_argument("--verus-rlimit", "--verus_rlimit", dest="verus_rlimit", type=positive, default=10.0,
                        help="verus --rlimit (roughly seconds of solver work per function)")
    parser.add_argument("--verus-timeout", "--verus_timeout", dest="verus_timeout", type=positive, default=300.0,
                        help="wall-clock seconds per program; the whole process group is killed after it")
    parser.add_argument("--verus-memory-mb", "--verus_memory_mb", dest="verus_memory_mb", type=at_least(1), default=None,
                        help="address-space limit of verus and its children in MB (give several GB)")
    parser.add_argument("--verus-threads", "--verus_threads", dest="verus_threads", type=at_least(1), default=None,
                        help="verus --num-threads per program (default: Verus's, all cores but one; keep "
                             "threads x --verus-workers within the cores)")
    parser.add_argument("--verus-extra-args", "--verus_extra_args", dest="verus_extra_args", action="append",
                        default=None, metavar="ARGS",
                        help="more verus arguments, split like a shell line (e.g. '--no-lifetime --expand-errors'); "
                             "repeatable; part of the cache key")
    parser.add_argument("--verus-cache-dir", "--verus_cache_dir", dest="verus_cache_dir", default=None,
                        help="directory of the verification cache (keyed by program, Verus version, options)")
    parser.add_argument("--verus-workers", "--verus_workers", dest="verus_workers", type=at_least(1), default=4,
                        help="verus processes at a time per worker")
    parser.add_argument("--verus-batch-size", "--verus_batch_size", dest="verus_batch_size", type=at_least(1), default=16,
                        help="programs per verify_many batch")
    parser.add_argument("--verified-only", "--verified_only", dest="verified_only", action="store_true",
                        default=False, help="reject programs that are not accepted (needs verus)")
    parser.add_argument("--synthesize", default=None, metavar="LOOPS",
                        help="comma list of synthesis loops to run: proof, repair, self, tutorial (default "
                             "none; needs --llm-base-url and a verus)")
    parser.add_argument("--synthesis-max-repairs", "--synthesis_max_repairs", dest="synthesis_max_repairs",
                        type=at_least(0), default=2, help="repair turns per synthesis episode after the first answer")
    parser.add_argument("--self-synthesis-batch", "--self_synthesis_batch", dest="self_synthesis_batch",
                        type=at_least(1), default=100, help="programs requested per self-synthesis batch")
    parser.add_argument("--self-synthesis-max-batches", "--self_synthesis_max_batches",
                        dest="self_synthesis_max_batches", type=at_least(1), default=10,
                        help="self-synthesis batches at most (it stops earlier when a batch is mostly "
                             "near-duplicates)")
    parser.add_argument("--tutorial-variants", "--tutorial_variants", dest="tutorial_variants", type=at_least(1),
                        default=4, help="variants requested per feature seed in tutorial synthesis")

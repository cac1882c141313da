"""Clean-PR pipeline: pull requests -> validated Search/Replace edit samples and Agentless-style SFT data.

    shardsmith clean-pr --git-repo ~/src/requests --output out/requests
    shardsmith clean-pr --prs prs.jsonl --issues issues.jsonl --output out/prs
    shardsmith query out/requests "SELECT pr_number, language, n_blocks FROM edits"

Stages (``transforms/code/pr_sample.py`` holds the logic and the reject reasons):

    read           git clones: one worker per clone walks its PRs (``pr_records``); a clone that
                   fails part-way becomes one reject ``unreadable_repo`` (named by the repo, not
                   by its local path). --prs: JSONL/Parquet.
    prepare        RAW_PR_SCHEMA check, ``pr_id``                  missing_field, wrong_type
    noise          bots, unmerged, file rules                      bot_author, unmerged, docs_only,
                                                                   no_core_files, binary, vendored, ...
    unique_prs     one record per (repo, number)                   duplicate_pr_id
    edit_samples   blocks, replay, parse, intent, crop, text       missing_contents, no_core_changes,
                                                                   too_many_files, roundtrip_mismatch,
                                                                   unrenderable_block
    parse_errors   only with --reject-parse-errors                 introduces_parse_errors
    decontam       SWE-bench Lite + Verified: the index shipped    swebench_instance,
                   in the package, or --benchmarks JSONL           swebench_hunk_overlap, swebench_issue
                   (unless --no-decontam)
    dedup:exact    identical change sets (rendered blocks)         -> duplicates/
    dedup:near     MinHash on the change set (code shingles)       -> duplicates/
    repo_cap       <= --repo-cap samples per repository (seeded)   repo_cap
    edits/         primary dataset (EDIT_SAMPLE_SCHEMA + quality_code_* columns)
    sft/           derived from the kept edits (SFT_SAMPLE_SCHEMA); not part of conservation

Every PR read ends in ``edits/``, ``rejects/`` or ``duplicates/``; the manifest checks it.
"""
from __future__ import annotations

import functools
import glob
import os

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import flags

from pipelines.options import DedupOptions, RunOptions, start_run
from schemas.common import with_quality_columns
from schemas.pull_requests import EDIT_SAMPLE_SCHEMA, SFT_SAMPLE_SCHEMA
from transforms.code.decontam import contamination_reason, load_benchmark_patches, shipped_index
from transforms.code.git_history import GitError, branch_tip, git_dir_of, pr_records, repo_name_of
from transforms.code.languages import LANGUAGE_BY_EXTENSION, LANGUAGES
from transforms.code.pr_sample import (
    QUALITY_COLUMNS, CleanPrConfig, build_edit_sample, change_set_text,
    issues_index, noise_reason, parse_error_reason, prepare_pr, repo_cap_keep, sft_examples,
)
from transforms.code.repo_tree import RepoFiles
from transforms.dedup.beam import ExactDedup, NearDedup
from transforms.dedup.exact import TextNormalization
from transforms.dedup.minhash import MinHashConfig
from transforms.io.readers import READ_STAGE, InputError, expand_inputs, iter_records
from transforms.io.run import ShardRun
from transforms.records import reject_row
from transforms.stages import REJECTS, StageCounters, UniqueBy

PIPELINE = "clean-pr"
REPO_PATH_FIELD = "_repo_path"  # where a git-input record's clone lives (for the SFT tree); never written,
# not even into rejects (transforms.records.PRIVATE_FIELDS): published rows name the repo, never the clone
# Exact change-set dedup keeps case and punctuation (they matter in code) and only collapses whitespace.
CHANGE_SET_NORMALIZATION = TextNormalization(lowercase=False, nfkc=False, strip_punctuation=False,
                                             collapse_whitespace=True)
EDITS_SCHEMA = with_quality_columns(EDIT_SAMPLE_SCHEMA, list(QUALITY_COLUMNS))


class CleanPrOptions(PipelineOptions):
    """Flags of the Clean-PR pipeline only (shared ones: ``pipelines.options``)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.clean_pr_flags(parser)


# --------------------------------------------------------------------------- option checks

def parse_extensions(specs: list[str] | None) -> dict[str, str]:
    """``--extensions`` values -> extension map; ``.ext`` takes its language from the defaults."""
    if not specs:
        return dict(LANGUAGE_BY_EXTENSION)
    mapping: dict[str, str] = {}
    for item in (part.strip() for spec in specs for part in spec.split(",")):
        if not item:
            continue
        ext, _, language = item.partition("=")
        ext = ext.strip() if ext.strip().startswith(".") else "." + ext.strip()
        language = language.strip() or LANGUAGE_BY_EXTENSION.get(ext) or LANGUAGE_BY_EXTENSION.get(ext.lower())
        if not language:
            raise InputError(f"--extensions: {ext} is not a known source extension; write {ext}=LANGUAGE")
        if language not in LANGUAGES:
            raise InputError(f"--extensions: unknown language {language!r} (known: {', '.join(LANGUAGES)})")
        mapping[ext] = language
    if not mapping:
        raise InputError("--extensions: no extension given")
    return mapping


def check_git_repos(paths: list[str], branch: str | None) -> list[str]:
    """Absolute paths of the clones; ``InputError`` for a path that is not a repository or lacks the branch."""
    checked = []
    for path in paths:
        try:
            git_dir_of(path)
            branch_tip(path, branch)
        except (ValueError, GitError) as exc:
            raise InputError(str(exc).splitlines()[0]) from None
        checked.append(os.path.abspath(path))
    return list(dict.fromkeys(checked))


def benchmark_paths(given: list[str] | None) -> list[str]:
    """The ``--benchmarks`` SWE-bench JSONL files (globs allowed); [] when none are given, which
    means the index shipped in the package (``transforms.code.decontam.shipped_index``)."""
    found = []
    for pattern in given or ():
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches or not all(os.path.isfile(m) for m in matches):
            raise InputError(f"--benchmarks {pattern}: no such file")
        found.extend(matches)
    return list(dict.fromkeys(found))


def _flag_given(argv: list[str], flag: str) -> bool:
    return any(token == flag or token.startswith(flag + "=") for token in argv)


# --------------------------------------------------------------------------- Beam pieces

def repo_identity(repo_path: str) -> str:
    """The repository's name (``repo_name_of``: GitHub ``owner/name`` or the directory name), never a path."""
    try:
        return repo_name_of(repo_path)
    except Exception:  # noqa: BLE001 - a clone too broken for git config: its directory name
        name = os.path.basename(os.path.abspath(repo_path).rstrip(os.sep))
        return name[:-4] if name.endswith(".git") and len(name) > 4 else name or "repo"


def without_clone_path(text: str, repo_path: str, name: str) -> str:
    """``text`` (a git error) with the clone's local path replaced by ``name`` (so ``name/.git``),
    and a git dir kept outside the clone (``gitdir:`` file) by ``<git dir of NAME>``."""
    roots = {os.path.abspath(repo_path), os.path.realpath(repo_path)}
    replacements = dict.fromkeys(roots, name)
    try:
        git_dir = git_dir_of(repo_path)
    except Exception:  # noqa: BLE001 - nothing more to replace
        git_dir = None
    for path in ({git_dir, os.path.realpath(git_dir)} if git_dir else set()):
        if not any(path == root or path.startswith(root + os.sep) for root in roots):
            replacements[path] = f"<git dir of {name}>"
    for path in sorted(replacements, key=len, reverse=True):  # longest first: a path inside another
        if len(path) > 1:
            text = text.replace(path, replacements[path])
    return text


class ReadGitRepos(beam.PTransform):
    """Repository paths -> raw PR records, counted as stage ``read`` like file inputs are.

    Returns ``(records, rejects)``. A clone that fails part-way (git error, vanished objects)
    keeps the PRs already read and adds one reject ``unreadable_repo`` for the rest; it names the
    repository (``repo_identity``), and its detail shows paths relative to the clone.
    """

    def __init__(self, repo_paths: list[str], max_file_bytes: int, branch: str | None, stage: str = READ_STAGE):
        super().__init__()
        self.repo_paths, self.max_file_bytes, self.branch, self.stage = list(repo_paths), max_file_bytes, branch, stage

    def expand(self, pbegin):
        read = (
            pbegin
            | "repos" >> beam.Create(self.repo_paths)
            | "walk" >> beam.ParDo(_ReadRepoFn(self.stage, self.max_file_bytes, self.branch)).with_outputs(
                REJECTS, main="records")
        )
        return read.records | "spread" >> beam.Reshuffle(), read[REJECTS]


class _ReadRepoFn(beam.DoFn):
    def __init__(self, stage: str, max_file_bytes: int, branch: str | None):
        self.stage, self.max_file_bytes, self.branch = stage, max_file_bytes, branch

    def setup(self):
        self.counters = StageCounters(self.stage)

    def process(self, repo_path: str):
        read = 0
        try:
            for record in pr_records(repo_path, max_file_bytes=self.max_file_bytes, branch=self.branch):
                self.counters.records_in.inc()
                self.counters.records_out.inc()
                read += 1
                record[REPO_PATH_FIELD] = repo_path
                yield record
        except Exception as exc:  # noqa: BLE001 - a broken clone is a reject, not a failed run
            self.counters.records_in.inc()
            self.counters.rejected("unreadable_repo")
            name = repo_identity(repo_path)
            detail = without_clone_path(f"{type(exc).__name__}: {exc}", repo_path, name)
            yield beam.pvalue.TaggedOutput(REJECTS, reject_row(
                self.stage, "unreadable_repo", f"{name}: {detail}", {"repo": name, "prs_read_before_failure": read}))


class BuildEditSample:
    """Stage function: raw PR -> edit sample; loads the issues index once per worker (``setup``)."""

    def __init__(self, issue_paths: list[str], config: CleanPrConfig):
        self.issue_paths, self.config = list(issue_paths), config
        self._index = None

    def setup(self):
        if self._index is None:
            self._index = issues_index(item for path in self.issue_paths for item in iter_records(path)
                                       if isinstance(item, dict))

    def __call__(self, pr: dict):
        self.setup()
        return build_edit_sample(pr, self._index, self.config)


class Decontaminate:
    """Filter stage function: SWE-bench contamination against the given JSONL files, or the index
    shipped in the package when none are given; loads the index once per worker."""

    def __init__(self, paths: list[str] | None = None):
        self.paths = list(paths or ())
        self._index = None

    def load(self):
        return load_benchmark_patches(self.paths) if self.paths else shipped_index()

    def describe(self) -> str:
        """The run note's name for the index (and its instance count); never a local path."""
        return (self._index or self.load()).describe()

    def setup(self):
        if self._index is None:
            self._index = self.load()

    def __call__(self, sample: dict):
        self.setup()
        return contamination_reason(sample, self._index)


class RepoCap(beam.PTransform):
    """At most ``cap`` samples per repository (``repo_cap_keep``); returns ``(kept, rejects)``.

    Only (repo, sample_id) pairs are grouped per repository, so a large repository never
    holds its samples' contents in one place; the decisions are joined back by sample id.
    """

    def __init__(self, cap: int, seed: int, stage: str = "repo_cap"):
        super().__init__()
        self.cap, self.seed, self.stage = cap, seed, stage

    def expand(self, samples):
        cap, seed = self.cap, self.seed

        def decide(item):
            _, sample_ids = item
            ids = list(sample_ids)
            keep = repo_cap_keep(ids, cap, seed)
            return [(sample_id, (sample_id in keep, len(ids))) for sample_id in ids]

        decisions = (
            samples
            | "ids" >> beam.Map(lambda s: (s["repo"], s["sample_id"]))
            | "per repo" >> beam.GroupByKey()
            | "decide" >> beam.FlatMap(decide)
        )
        keyed = samples | "key" >> beam.Map(lambda s: (s["sample_id"], s))
        routed = (
            {"sample": keyed, "decision": decisions}
            | "join" >> beam.CoGroupByKey()
            | "route" >> beam.ParDo(_RouteCapFn(self.stage, cap)).with_outputs(REJECTS, main="kept")
        )
        return routed.kept, routed[REJECTS]


class _RouteCapFn(beam.DoFn):
    def __init__(self, stage: str, cap: int):
        self.stage, self.cap = stage, cap

    def setup(self):
        self.counters = StageCounters(self.stage)

    def process(self, item):
        sample_id, joined = item
        decisions = list(joined["decision"])
        for sample in joined["sample"]:
            self.counters.records_in.inc()
            keep, total = decisions[0] if decisions else (True, 1)
            if keep:
                self.counters.records_out.inc()
                yield sample
            else:
                self.counters.rejected("repo_cap")
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(
                    self.stage, "repo_cap", f"{sample['repo']}: {total} samples > cap {self.cap}", sample, sample_id))


class _SftFn(beam.DoFn):
    """Kept edit sample -> SFT examples. Git input reads the tree at the base commit and a few
    distractor files; other input uses the sample's own files. SFT rows are derived data: a
    sample whose SFT build fails is counted (``stage:sft`` ``rejected:error:<Type>``) but not
    made a reject, since the sample itself is already in ``edits/``."""

    def __init__(self, negatives: int, token_budget: int, stage: str = "sft"):
        self.negatives, self.token_budget, self.stage = negatives, token_budget, stage

    def setup(self):
        self.counters = StageCounters(self.stage)
        self.repo_files = RepoFiles()

    def teardown(self):
        self.repo_files.close()

    def process(self, sample: dict):
        self.counters.records_in.inc()
        try:
            repo_path = sample.get(REPO_PATH_FIELD)
            paths = contents = None
            if repo_path:
                edited = [b["path"] for b in sample["blocks"]]
                paths, contents = self.repo_files.sft_context(repo_path, sample.get("base_sha"), edited,
                                                              sample.get("intent") or "")
            examples = sft_examples(sample, paths, contents, negatives_per_step=self.negatives,
                                    token_budget=self.token_budget)
        except Exception as exc:  # noqa: BLE001 - derived data; counted, never fatal
            self.counters.rejected(f"error:{type(exc).__name__}")
            return
        self.counters.records_out.inc()
        yield from examples


def deduplicate_change_sets(run_: ShardRun, samples, opts: DedupOptions, shingles: str):
    """Exact then MinHash near dedup of the samples' change sets (rendered blocks); removals recorded."""
    common = dict(id_field="sample_id", score_field=None, text_fn=change_set_text)
    if opts.dedup_method in ("both", "exact"):
        samples, removed = samples | "exact dedup" >> ExactDedup(
            stage="dedup:exact", normalization=CHANGE_SET_NORMALIZATION, **common)
        run_.add_removed(removed, stage="dedup:exact")
    if opts.dedup_method in ("both", "near"):
        if shingles == "code":
            config = MinHashConfig.for_code(num_perm=opts.num_perm, ngram=opts.ngram, threshold=opts.threshold)
        else:
            config = MinHashConfig(num_perm=opts.num_perm, ngram=opts.ngram, threshold=opts.threshold,
                                   tokenizer=shingles)
        samples, removed = samples | "near dedup" >> NearDedup(config=config, stage="dedup:near", **common)
        run_.add_removed(removed, stage="dedup:near")
    return samples


# --------------------------------------------------------------------------- the run

def run(argv: list[str]) -> dict:
    """Run the Clean-PR pipeline; returns the manifest."""
    options = PipelineOptions(argv)
    run_opts, dedup = options.view_as(RunOptions), options.view_as(DedupOptions)
    opts = options.view_as(CleanPrOptions)
    pr_patterns = list(opts.prs or []) + list(run_opts.input or [])  # --input means --prs here
    if not opts.git_repo and not pr_patterns:
        raise InputError("give at least one --git-repo PATH or --prs FILE")
    for name in ("max_core_files", "token_budget", "max_file_bytes"):
        if getattr(opts, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    if opts.sft_negatives < 0:
        raise InputError("--sft-negatives must not be negative")
    if dedup.dedup_method in ("both", "near") and not 0 < dedup.threshold < 1:
        raise InputError(f"--threshold must be in (0, 1), got {dedup.threshold}")
    repos = check_git_repos(opts.git_repo or [], opts.branch)
    pr_files = expand_inputs(pr_patterns) if pr_patterns else []
    issue_files = expand_inputs(opts.issues) if opts.issues else []
    decontam = None if opts.no_decontam else Decontaminate(benchmark_paths(opts.benchmarks))
    shingles = dedup.shingles if _flag_given(argv, "--shingles") else "code"
    config = CleanPrConfig(extensions=parse_extensions(opts.extensions), max_core_files=opts.max_core_files,
                           token_budget=opts.token_budget, max_file_bytes=opts.max_file_bytes)

    run_ = start_run(PIPELINE, options, "shardsmith-out/clean-pr",
                     inputs=pr_patterns + list(opts.issues or []), read_in_place=repos)
    sources = []
    if repos:
        records, rejects = run_.pipeline | "read git" >> ReadGitRepos(repos, opts.max_file_bytes, opts.branch)
        run_.add_rejects(rejects, stage=READ_STAGE)
        sources.append(records)
    if pr_files:  # input records may not set private fields (a '_repo_path' would point SFT at a local clone)
        sources.append(run_.read(pr_files) | "public fields" >> beam.Map(
            lambda record: {k: v for k, v in record.items() if not str(k).startswith("_")}))
    prs = sources[0] if len(sources) == 1 else tuple(sources) | "all prs" >> beam.Flatten()

    prs = run_.stage("prepare", prs, prepare_pr)
    prs = run_.stage("noise", prs, functools.partial(noise_reason, config=config), kind="filter", id_field="pr_id")
    prs, rejects = prs | "unique prs" >> UniqueBy("unique_prs", "pr_id")
    run_.add_rejects(rejects, stage="unique_prs")
    samples = run_.stage("edit_samples", prs, BuildEditSample(issue_files, config), id_field="pr_id")
    if opts.reject_parse_errors:
        samples = run_.stage("parse_errors", samples, parse_error_reason, kind="filter", id_field="sample_id")
    if decontam is not None:
        run_.notes.append(f"decontaminated against {decontam.describe()}")
        samples = run_.stage("decontam", samples, decontam, kind="filter", id_field="sample_id")
    else:
        run_.notes.append("decontamination skipped (--no-decontam)")
    samples = deduplicate_change_sets(run_, samples, dedup, shingles)
    if dedup.dedup_method in ("both", "near"):
        run_.notes.append(f"near dedup: MinHash over {shingles} {dedup.ngram}-grams of the change set")
    if opts.repo_cap > 0:
        samples, rejects = samples | "repo cap" >> RepoCap(opts.repo_cap, opts.seed)
        run_.add_rejects(rejects, stage="repo_cap")
    run_.write("edits", samples, EDITS_SCHEMA, primary=True, sort_key="sample_id", id_field="sample_id")
    examples = samples | "sft" >> beam.ParDo(_SftFn(opts.sft_negatives, opts.token_budget))
    run_.write("sft", examples, SFT_SAMPLE_SCHEMA, sort_key="id")
    run_.notes.append("sft/ is derived from edits/ (not counted by the conservation check)")
    return run_.execute()

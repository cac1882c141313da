"""Clean-PR pipeline: pull requests -> validated Search/Replace edit samples and Agentless-style SFT data.

    shardsmith clean-pr --git-repo ~/src/requests --output out/requests
    shardsmith clean-pr --prs prs.jsonl --issues issues.jsonl --output out/prs
    shardsmith clean-pr --git-repo ~/src/requests --pr-metadata pulls.jsonl --issues issues.jsonl --output out/requests
    shardsmith query out/requests "SELECT pr_number, language, n_blocks FROM edits"

Steps (generated from ``steps()``; ``shardsmith steps clean-pr --git-repo REPO`` prints them for other flags):

    read          read    git clones: one worker per clone walks its PRs  unreadable_repo (named by
                          (pr_records)                                    the repo, not its local
                                                                          path)
    prepare       map     RAW_PR_SCHEMA check (REST pull objects          missing_field, wrong_type,
                          converted), pr_id                               rest_pull_without_files,
                                                                          bad_pr_metadata
    noise         map     bots, unmerged, file rules                      bot_author,
                                                                          merged_unattributable,
                                                                          unmerged, docs_only,
                                                                          no_core_files, binary,
                                                                          vendored, ...
    unique_prs    unique  one record per (repo, number)                   duplicate_pr_id
    edit_samples  map     blocks, replay, parse, intent, crop, text       missing_contents,
                                                                          no_core_changes,
                                                                          too_many_files,
                                                                          roundtrip_mismatch,
                                                                          unrenderable_block
    secrets       batch   has_secrets / secret_types: detect-secrets on
                          the added lines
    decontam      filter  SWE-bench Lite + Verified (shipped index or     swebench_instance,
                          --benchmarks)                                   swebench_patch,
                                                                          swebench_issue,
                                                                          swebench_hunk_overlap
    dedup         dedup   identical, then MinHash-similar change sets     -> duplicates/
                          (rendered blocks)
    repo_cap      cap     <= --repo-cap samples per repository (seeded)   repo_cap
    edits/        write   primary dataset (EDIT_SAMPLE_SCHEMA +
                          quality_code_* columns)
    sft/          derive  Agentless-style SFT rows from the kept edits
                          (outside conservation)

Every PR read ends in ``edits/``, ``rejects/`` or ``duplicates/``; the manifest checks it. For git
input every PR the clone knows of is read (all branches; ``transforms.code.git_history``): the
manifest's ``git_repositories`` gives per repository ``pr_refs``, ``prs_known``, ``prs_read`` and the
rules that attributed them, and the conservation check fails when ``prs_known != prs_read``.
``--git-repo PATH=OWNER/NAME`` names a clone; else ``remote.origin.url`` does, else its directory
(with a warning note; two clones that would share a directory name are refused).
``--pr-metadata`` adds a read of its files (only malformed objects become records: rejects
``bad_pr_metadata``) and the ``platform`` step before ``prepare`` (the join,
``transforms.code.platform``; a manifest note counts the PRs joined and absent from the input);
``--reject-secrets`` adds ``reject_secrets`` after ``secrets``.
"""
from __future__ import annotations

import functools
import glob
import os

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import flags
from pipelines.options import DedupOptions, RunOptions, start_run
from schemas.common import with_quality_columns
from schemas.pull_requests import EDIT_SAMPLE_SCHEMA, SFT_SAMPLE_SCHEMA
from transforms.code.git_history import REPO_PART, GitError, branch_tip, git_dir_of, repo_identity
from transforms.code.languages import LANGUAGE_BY_EXTENSION, LANGUAGES
from transforms.code.pr_sample import (QUALITY_COLUMNS, CleanPrConfig, change_set_text, parse_error_reason,
                                       prepare_pr, repo_cap_keep, screen_pr)
from transforms.code.decontam import REASONS as DECONTAM_REASONS, BenchmarkFileError
from transforms.code.platform import REJECT_REASONS as METADATA_REASONS
from transforms.code.secret_scan import SecretScanner, secrets_reason
from transforms.code.stages import (DECONTAM_COUNTERS, PLATFORM_COUNTERS, BuildEditSample, Decontaminate, JoinPlatform,
                                    MetadataReader, RepoReader, SftRows, git_accounting, joined_key, public_fields)
from transforms.dedup.exact import TextNormalization
from transforms.dedup.spec import dedup_spec
from transforms.io.local_paths import worker_path
from transforms.io.readers import READ_REASONS, InputError, expand_inputs
from transforms.steps import Batch, Cap, Custom, Dedup, Derive, Filter, Map, Note, Read, ReadFrom, Step, Unique, Write

PIPELINE = "clean-pr"
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


def split_repo_spec(spec: str) -> tuple[str, str | None]:
    """``--git-repo`` value -> (path, name): ``PATH=OWNER/NAME`` names the clone; a value whose
    part after the last '=' is no ``owner/name`` (or that is an existing path) is a plain path."""
    path, sep, name = spec.rpartition("=")
    if not sep or not path or os.path.exists(spec):
        return spec, None
    name = name.strip().strip("/")
    parts = name.split("/")
    if len(parts) < 2 or not all(REPO_PART.match(p) and p.strip(".") for p in parts):
        raise InputError(f"--git-repo {spec}: the name after '=' must be OWNER/NAME")
    return path, name


def check_git_repos(specs: list[str], branch: str | None) -> list[tuple[str, str, bool]]:
    """(absolute path, repo name, named by the user or a remote) of each ``--git-repo PATH[=OWNER/NAME]``;
    ``InputError`` for a path that is not a repository or lacks the branch, and for two clones
    that would share a name taken from their directories (their PR ids would collide)."""
    checked: dict[str, tuple[str, bool]] = {}
    for spec in specs:
        path, given = split_repo_spec(spec)
        try:
            git_dir_of(path)
            branch_tip(path, branch)
            name, known = (given, True) if given else repo_identity(path)
        except (ValueError, GitError) as exc:
            raise InputError(str(exc).splitlines()[0]) from None
        checked.setdefault(os.path.abspath(path), (name, known))
    by_name: dict[str, list[str]] = {}
    for path, (name, _) in checked.items():
        by_name.setdefault(name.lower(), []).append(path)
    for paths in by_name.values():
        if len(paths) > 1 and not all(checked[p][1] for p in paths):
            raise InputError(f"--git-repo: {' and '.join(paths)} would both be named {checked[paths[0]][0]!r} "
                             "(from their directory names); name them with --git-repo PATH=OWNER/NAME")
    return [(path, name, known) for path, (name, known) in checked.items()]


def git_accounting_check(manifest: dict, counters: dict) -> None:
    """``finalize`` part of git input: per repository ``pr_refs``, ``prs_known``, ``prs_read``
    (``manifest['git_repositories']``); the conservation check fails when a readable clone's
    known PRs are not all read."""
    repos = git_accounting(counters)
    manifest["git_repositories"] = repos
    checked = {name: r for name, r in repos.items() if not r["unreadable"]}
    known, read = sum(r["prs_known"] for r in checked.values()), sum(r["prs_read"] for r in checked.values())
    c = manifest["conservation"]
    c.update(prs_known=known, prs_read_from_git=read, holds=bool(c["holds"]) and known == read)
    if known != read:
        lost = ", ".join(f"{n} ({r['prs_known']} known, {r['prs_read']} read)" for n, r in checked.items()
                         if r["prs_known"] != r["prs_read"])
        manifest["notes"].append(f"PR accounting broken: {lost}")
    unreadable = sorted(n for n, r in repos.items() if r["unreadable"])
    if unreadable:
        manifest["notes"].append(f"PR accounting not checked for unreadable clone(s): {', '.join(unreadable)}")


def _inputs_of(flag: str, patterns: list[str] | None) -> list[str]:
    """``expand_inputs`` of one flag's values; its ``InputError`` names the flag."""
    if not patterns:
        return []
    try:
        return expand_inputs(patterns)
    except InputError as exc:
        raise InputError(f"{flag}: {exc}") from None


def benchmark_paths(given: list[str] | None) -> list[str]:
    """The ``--benchmarks`` files: SWE-bench JSONL or index files (``shardsmith decontam-index``),
    globs allowed; [] when none are given, which means the index shipped in the package
    (``transforms.code.decontam.shipped_index``)."""
    found = []
    for pattern in given or ():
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches or not all(os.path.isfile(m) for m in matches):
            raise InputError(f"--benchmarks {pattern}: no such file")
        found.extend(matches)
    return list(dict.fromkeys(found))


class PlatformJoin:
    """Custom step ``platform``: the map stage joining ``--pr-metadata`` into the PR records
    (``JoinPlatform``), and a keys-only branch counting the distinct PRs it matched (manifest notes)."""

    def __init__(self, paths: list[str]):
        self.join = JoinPlatform(paths)

    def __call__(self, run, records, derived):
        import apache_beam as beam

        records = run.stage("platform", records, self.join, "map", "number")
        _ = (records | "platform:joined" >> beam.FlatMap(joined_key) | "platform:distinct" >> beam.Distinct()
             | "platform:count" >> beam.Map(_count_joined))
        return records


def _count_joined(_key) -> None:
    from apache_beam.metrics import Metrics

    Metrics.counter(PLATFORM_COUNTERS, "joined_prs").inc()


def platform_note(counters: dict) -> str:
    """The manifest note of a ``--pr-metadata`` run: PRs in the metadata, joined, absent from the clones."""
    total = counters.get((PLATFORM_COUNTERS, "metadata_prs"), 0)
    joined = counters.get((PLATFORM_COUNTERS, "joined_prs"), 0)
    conflicts = counters.get((PLATFORM_COUNTERS, "merged_state_conflicts"), 0)
    return (f"--pr-metadata: {total} PRs; {joined} joined to PRs of the input, {total - joined} absent from it "
            f"(not made records); {conflicts} PR record(s) where the platform and the clone disagree on merged "
            "(rejected unmerged, the detail says which way)")


def decontam_note(index, counters: dict, rejects: dict) -> str:
    """The manifest note of the decontam step: per benchmark file how many instances of the
    input's repositories it holds, per rule the samples removed (and per benchmark file), and
    how many overlapping samples the predating rule kept."""
    names = [name for namespace, name in counters if namespace == DECONTAM_COUNTERS]
    repos = sorted(name.split("|", 1)[1] for name in names if name.startswith("repo|"))
    files = [source["file"] for source in index.sources]
    held = index.instances_per_source(repos)
    parts = [f"decontam: the input's {len(repos)} repositories have "
             + ", ".join(f"{held[f]} instances in {f}" for f in files)]
    removed = []
    for reason in DECONTAM_REASONS:
        total = rejects.get(f"decontam/{reason}", 0)
        by_file = [(f, counters.get((DECONTAM_COUNTERS, f"removed|{reason}|{f}"), 0)) for f in files]
        shown = ", ".join(f"{n} of {f}" for f, n in by_file if n)
        removed.append(f"{reason} {total}" + (f" ({shown})" if shown else ""))
    parts.append("removed " + "; ".join(removed))
    kept = counters.get((DECONTAM_COUNTERS, "predates"), 0)
    parts.append(f"{kept} sample(s) overlapping a gold hunk kept: merged before the instance's base commit")
    return "; ".join(parts)


# --------------------------------------------------------------------------- the steps

def steps(options: PipelineOptions) -> list[Step]:
    """Clean-PR's steps for ``options`` (option checks first: ``InputError`` naming the flag)."""
    run_opts, dedup = options.view_as(RunOptions), options.view_as(DedupOptions)
    opts = options.view_as(CleanPrOptions)
    pr_patterns = list(opts.prs or []) + list(run_opts.input or [])  # --input means --prs here
    if not opts.git_repo and not pr_patterns:
        raise InputError("give at least one --git-repo PATH or --prs FILE")
    clones = check_git_repos(opts.git_repo or [], opts.branch)
    repos = [path for path, _, _ in clones]
    pr_files = expand_inputs(pr_patterns) if pr_patterns else []
    issue_files = expand_inputs(opts.issues) if opts.issues else []
    metadata_files = [worker_path(f) for f in _inputs_of("--pr-metadata", opts.pr_metadata)]
    # files the workers read by path: absolute, since the workers of a portable runner have their own cwd
    decontam = None if opts.no_decontam else Decontaminate([worker_path(p) for p in benchmark_paths(opts.benchmarks)])
    if decontam is not None:
        try:
            decontam.index()
        except BenchmarkFileError as exc:
            raise InputError(f"--benchmarks: {exc}") from None
    config = CleanPrConfig(extensions=parse_extensions(opts.extensions), max_core_files=opts.max_core_files,
                           token_budget=opts.token_budget, max_file_bytes=opts.max_file_bytes)
    spec = dedup_spec(dedup, id_field="sample_id", text_field=None, text_fn=change_set_text, shingles="code",
                      exact_normalization=CHANGE_SET_NORMALIZATION)
    listed: list[Step] = []
    if repos:
        unnamed = sorted(name for _, name, known in clones if not known)
        listed.append(ReadFrom("read", items=tuple(repos),
                               reader=RepoReader(opts.max_file_bytes, opts.branch,
                                                 {path: name for path, name, _ in clones}),
                               note=unnamed and (f"warning: {', '.join(unnamed)} named after the clone's directory "
                                                 "(no GitHub/GitLab origin remote; --git-repo PATH=OWNER/NAME names "
                                                 "it)") or None,
                               about="git clones: one worker per clone walks its PRs (pr_records)",
                               reasons="unreadable_repo (named by the repo, not its local path)"))
    if pr_files:
        listed.append(Read("read", files=tuple(pr_files), adjust=public_fields,
                           about="--prs: JSONL / JSON / Parquet PR records (private _ fields dropped)",
                           reasons=READ_REASONS))
    if metadata_files:
        listed.append(ReadFrom("read", items=(tuple(metadata_files),), reader=MetadataReader(),
                               about="--pr-metadata: REST pull objects / GH Archive PullRequestEvents (only "
                                     "their rejects are records)", reasons=f"{METADATA_REASONS}, {READ_REASONS}"))
        listed.append(Custom("platform", apply=PlatformJoin(metadata_files),
                             about="title, body, author, merged state from --pr-metadata (last object per PR), "
                                   "joined by (repo, number)", reasons="none (unmatched PRs pass as they are)"))
    listed += [
        Map("prepare", prepare_pr, about="RAW_PR_SCHEMA check (REST pull objects converted), pr_id",
            reasons="missing_field, wrong_type, rest_pull_without_files, bad_pr_metadata"),
        Map("noise", functools.partial(screen_pr, config=config), id_field="pr_id",
               about="bots, unmerged, file rules",
               reasons="bot_author, merged_unattributable, unmerged, docs_only, no_core_files, binary, vendored, ..."),
        Unique("unique_prs", "pr_id", about="one record per (repo, number)", reasons="duplicate_pr_id"),
        Map("edit_samples", BuildEditSample([worker_path(f) for f in issue_files], config), id_field="pr_id",
            about="blocks, replay, parse, intent, crop, text",
            reasons="missing_contents, no_core_changes, too_many_files, roundtrip_mismatch, unrenderable_block"),
    ]
    if opts.reject_parse_errors:
        listed.append(Filter("parse_errors", parse_error_reason, id_field="sample_id",
                             about="--reject-parse-errors", reasons="introduces_parse_errors"))
    listed.append(Batch("secrets", worker=SecretScanner(), method="scan", batch_size=64,
                        about="has_secrets / secret_types: detect-secrets on the added lines", reasons=""))
    if opts.reject_secrets:
        listed.append(Filter("reject_secrets", secrets_reason, id_field="sample_id",
                             about="--reject-secrets", reasons="secrets"))
    if decontam is not None:
        listed.append(Filter("decontam", decontam, id_field="sample_id", note=f"decontaminated against "
                             f"{decontam.describe()}", about="SWE-bench Lite + Verified (shipped index or "
                             "--benchmarks)", reasons=", ".join(DECONTAM_REASONS)))
    else:
        listed.append(Note("decontam", note="decontamination skipped (--no-decontam)"))
    listed.append(Dedup("dedup", spec, about="identical, then MinHash-similar change sets (rendered blocks)",
                        reasons="-> duplicates/", note=spec.near and (
                            f"near dedup: MinHash over {spec.minhash.tokenizer} {spec.minhash.ngram}-grams "
                            "of the change set") or None))
    if opts.repo_cap > 0:
        listed.append(Cap("repo_cap", group_field="repo", id_field="sample_id", cap=opts.repo_cap, seed=opts.seed,
                          keep=repo_cap_keep, detail="{group}: {total} samples > cap {cap}",
                          about="<= --repo-cap samples per repository (seeded)", reasons="repo_cap"))
    listed += [
        Write("edits", schema=EDITS_SCHEMA, primary=True, sort_key="sample_id", id_field="sample_id",
              about="primary dataset (EDIT_SAMPLE_SCHEMA + quality_code_* columns)"),
        Derive("sft", dataset="sft", fn=SftRows(opts.sft_negatives, opts.token_budget), schema=SFT_SAMPLE_SCHEMA,
               note="sft/ is derived from edits/ (not counted by the conservation check)",
               about="Agentless-style SFT rows from the kept edits (outside conservation)"),
    ]
    return listed


def steps_of(argv: list[str]) -> list[Step]:
    """The steps a run with ``argv`` would take (``shardsmith steps``; the module docstring's table)."""
    return steps(PipelineOptions(argv))


def run(argv: list[str]) -> dict:
    """Run the Clean-PR pipeline; returns the manifest."""
    options = PipelineOptions(argv)
    listed = steps(options)
    opts = options.view_as(CleanPrOptions)
    pr_patterns = list(opts.prs or []) + list(options.view_as(RunOptions).input or [])
    repos = [path for step in listed if isinstance(step, ReadFrom) and isinstance(step.reader, RepoReader)
             for path in step.items]
    run_ = start_run(PIPELINE, options, "shardsmith-out/clean-pr",
                     inputs=pr_patterns + list(opts.issues or []) + list(opts.pr_metadata or []),
                     read_in_place=repos)
    decontam = next((step.fn for step in listed if isinstance(step, Filter) and isinstance(step.fn, Decontaminate)),
                    None)

    def finalize(manifest, counters, _root):
        if opts.pr_metadata:
            manifest["notes"].append(platform_note(counters))
        if decontam is not None:
            manifest["notes"].append(decontam_note(decontam.index(), counters, manifest["rejects_by_stage_reason"]))
        if repos:
            git_accounting_check(manifest, counters)
    return run_.run_steps(listed, finalize=finalize)

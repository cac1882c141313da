"""Clean-PR's stage functions: reading git clones, building edit samples, decontamination, SFT rows.

Plain callables (``setup()`` loads what a worker needs once); the pipeline's step list in
``pipelines/clean_pr.py`` wires them, ``transforms.stages`` runs them.
"""
from __future__ import annotations

import os
from typing import Iterator

from transforms.code.decontam import GitAncestry, contamination_verdict, load_benchmarks, shipped_index
from transforms.code.git_history import directory_name, git_dir_of, pr_records, repo_name_of, run_git
from transforms.code.pr_sample import REPO_PATH_FIELD, CleanPrConfig, build_edit_sample, issues_index, sft_examples
from transforms.code.repo_tree import RepoFiles
from transforms.code.platform import (PLATFORM_FIELD, join_metadata, lookup, metadata_index, metadata_key,
                                      platform_conflict, pull_metadata)
from transforms.io.readers import Unreadable, iter_records

PLATFORM_COUNTERS = "platform"  # Beam counter namespace of the --pr-metadata join (manifest notes)
DECONTAM_COUNTERS = "decontam"  # Beam counter namespace of the decontam step (manifest notes)
GIT_COUNTERS = "git_prs"  # Beam counter namespace of the per-clone PR accounting ("<what>|<repo>")



def repo_identity(repo_path: str) -> str:
    """The repository's name (``repo_name_of``: GitHub ``owner/name`` or the directory name), never a path."""
    try:
        return repo_name_of(repo_path)
    except Exception:  # noqa: BLE001 - a clone too broken for git config: its directory name
        return directory_name(repo_path)


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
    """Filter stage function: SWE-bench contamination (``contamination_verdict``) against the
    given JSONL / index files, or the index shipped in the package when none are given; loads the
    index once per worker. Git-input samples ask their clone whether they predate an instance
    (``GitAncestry``). Counts, in the ``DECONTAM_COUNTERS`` namespace, the samples per repository
    and per rule and benchmark file the removed ones and those the predating rule kept
    (``pipelines.clean_pr.decontam_note``)."""

    def __init__(self, paths: list[str] | None = None):
        self.paths = list(paths or ())
        self._index = None
        self._ancestry = GitAncestry(REPO_PATH_FIELD)

    def load(self):
        return load_benchmarks(self.paths) if self.paths else shipped_index()

    def index(self):
        """The loaded index (``BenchmarkFileError`` naming a file that cannot be read)."""
        self.setup()
        return self._index

    def describe(self) -> str:
        """The run note's name for the index (and its instance count); never a local path."""
        return self.index().describe()

    def setup(self):
        if self._index is None:
            self._index = self.load()

    def __getstate__(self):
        # Beam pickles (and bz2-compresses) a stage's function several times while building and
        # running the pipeline: the loaded shipped index is 2 MB of pickle, 0.2 CPU s a copy.
        # The workers load it again in setup (0.03 s for the shipped one).
        return {**self.__dict__, "_index": None}

    def __call__(self, sample: dict):
        self.setup()
        verdict, spared = contamination_verdict(sample, self._index, self._ancestry)
        repo = sample.get("repo")
        _decontam_counter(f"repo|{repo}").inc()
        if verdict is not None:
            for source in self._index.source_names(verdict.detail.split(":", 1)[0]):
                _decontam_counter(f"removed|{verdict.reason}|{source}").inc()
        elif spared is not None:
            for source in self._index.source_names(spared):
                _decontam_counter(f"predates|{source}").inc()
            _decontam_counter("predates").inc()
        return verdict


def _decontam_counter(name: str):
    from apache_beam.metrics import Metrics  # the Beam layer only (counters for the manifest notes)

    return Metrics.counter(DECONTAM_COUNTERS, name)


class RepoReader:
    """``reader`` of the git inputs: a clone's PR records (each with ``REPO_PATH_FIELD``), named
    ``names[path]`` (else ``repo_identity``). A clone that fails part-way (git error, vanished
    objects) keeps the PRs already read and ends in one ``unreadable_repo`` naming the repository,
    its detail showing paths relative to the clone. Counts per clone (``GIT_COUNTERS``): pr_refs,
    prs_known, prs_read, rule:<rule>, unreadable -- ``git_accounting`` reads them back."""

    def __init__(self, max_file_bytes: int, branch: str | None, names: dict[str, str] | None = None):
        self.max_file_bytes, self.branch, self.names = max_file_bytes, branch, dict(names or {})

    @staticmethod
    def record_bound(repo_path: str) -> int | None:
        """At most one PR record per ``refs/pull/*`` ref plus one per commit of any ref (each PR the
        walk finds is a pull ref or is named by a commit), two cheap git calls; None when git fails
        (``ReadFrom``: lets dedup plan for the input's size)."""
        try:
            git_dir = git_dir_of(repo_path)
            refs = run_git(git_dir, "for-each-ref", "--format=x", "refs/pull").stdout.count(b"\n")
            return refs + int(run_git(git_dir, "rev-list", "--all", "--count").stdout or 0)
        except Exception:  # noqa: BLE001 - the read stage reports a broken clone; only the bound is unknown
            return None

    def __call__(self, repo_path: str) -> Iterator[dict | Unreadable]:
        read = 0
        stats: dict = {}
        name = self.names.get(repo_path) or repo_identity(repo_path)
        try:
            for record in pr_records(repo_path, repo_name=name, max_file_bytes=self.max_file_bytes,
                                     branch=self.branch, stats=stats):
                read += 1
                record[REPO_PATH_FIELD] = repo_path
                yield record
        except Exception as exc:  # noqa: BLE001 - a broken clone is a reject, not a failed run
            detail = without_clone_path(f"{type(exc).__name__}: {exc}", repo_path, name)
            _git_counter("unreadable", name).inc()
            yield Unreadable("unreadable_repo", f"{name}: {detail}", {"repo": name, "prs_read_before_failure": read})
        finally:
            _git_counter("prs_read", name).inc(read)
            for key in ("pr_refs", "prs_known"):
                _git_counter(key, name).inc(stats.get(key, 0))
            for rule, count in (stats.get("by_rule") or {}).items():
                _git_counter("rule:" + rule, name).inc(count)


def _git_counter(what: str, repo: str):
    from apache_beam.metrics import Metrics  # the Beam layer only (counters for the manifest)

    return Metrics.counter(GIT_COUNTERS, f"{what}|{repo}")


def git_accounting(counters: dict) -> dict[str, dict]:
    """Per repository from the ``GIT_COUNTERS``: pr_refs (``refs/pull/N/head``), prs_known (distinct
    PR numbers: refs plus numbers claimed by merge/squash commits), prs_read (records read),
    by_rule, unreadable."""
    repos: dict[str, dict] = {}
    for (namespace, key), value in sorted(counters.items()):
        if namespace != GIT_COUNTERS or "|" not in key:
            continue
        what, _, repo = key.partition("|")
        entry = repos.setdefault(repo, {"pr_refs": 0, "prs_known": 0, "prs_read": 0, "by_rule": {},
                                        "unreadable": False})
        if what.startswith("rule:"):
            entry["by_rule"][what[5:]] = value
        elif what == "unreadable":
            entry["unreadable"] = value > 0
        elif what in entry:
            entry[what] = value
    return repos


def metadata_entries(paths: list[str]) -> Iterator[dict | Unreadable]:
    """Every ``--pr-metadata`` item of the files in order: its metadata (``pull_metadata``), or
    ``Unreadable`` (``bad_pr_metadata``, or the reader's own reasons for broken lines/files)."""
    position = 0
    for path in paths:
        for index, item in enumerate(iter_records(path)):
            if isinstance(item, Unreadable):
                yield item
                continue
            position += 1
            meta = pull_metadata(item, position)
            if isinstance(meta, str):
                name = os.path.basename(path)
                yield Unreadable("bad_pr_metadata", f"{name} item {index}: {meta}",
                                 {"source": name, "item": index, "object": item})
            else:
                yield meta


def _counter(name: str):
    from apache_beam.metrics import Metrics  # the Beam layer only (counters for the manifest notes)

    return Metrics.counter(PLATFORM_COUNTERS, name)


class MetadataReader:
    """``reader`` of the ``--pr-metadata`` read step (one item: all the files): yields only the
    rejects, since the metadata joins records rather than being records; counts the distinct PRs."""

    def __call__(self, paths) -> Iterator[Unreadable]:
        keys = set()
        for entry in metadata_entries(list(paths)):
            if isinstance(entry, Unreadable):
                yield entry
            else:
                keys.add(metadata_key(entry["repo"], entry["number"]))
        _counter("metadata_prs").inc(len(keys))


class JoinPlatform:
    """Map stage: a PR record joined with its ``--pr-metadata`` (``join_metadata``); the metadata
    index (the last object per PR, compact dicts) is loaded once per worker (``setup``)."""

    def __init__(self, paths: list[str]):
        self.paths = list(paths)
        self._index = None

    def setup(self):
        if self._index is None:
            self._index = metadata_index(e for e in metadata_entries(self.paths) if isinstance(e, dict))
            self._conflicts = _counter("merged_state_conflicts")

    def __call__(self, record: dict) -> dict:
        self.setup()
        repo, number = record.get("repo"), record.get("number")
        if not isinstance(repo, str) or not isinstance(number, int) or isinstance(number, bool):
            return record  # the prepare stage says what is wrong with it
        joined = join_metadata(record, lookup(self._index, repo, number))
        if platform_conflict(joined):
            self._conflicts.inc()
        return joined

    def __getstate__(self):
        return {"paths": self.paths, "_index": None}


def joined_key(record: dict) -> list[tuple[str, int]]:
    """The metadata key of a record the join matched (for counting distinct joined PRs), else none."""
    if PLATFORM_FIELD not in record:
        return []
    return [metadata_key(record["repo"], record["number"])]


def public_fields(record: dict) -> dict:
    """An input record without private ``_`` fields (a ``_repo_path`` would point SFT at a local clone)."""
    return {k: v for k, v in record.items() if not str(k).startswith("_")}


class SftRows:
    """Kept edit sample -> SFT examples (``sft_examples``). Git input reads the tree at the base
    commit and a few distractor files; other input uses the sample's own files."""

    def __init__(self, negatives: int, token_budget: int):
        self.negatives, self.token_budget = negatives, token_budget
        self.repo_files = None

    def setup(self):
        self.repo_files = RepoFiles()

    def teardown(self):
        if self.repo_files is not None:
            self.repo_files.close()

    def __call__(self, sample: dict) -> list[dict]:
        repo_path = sample.get(REPO_PATH_FIELD)
        paths = contents = None
        if repo_path:
            edited = [b["path"] for b in sample["blocks"]]
            # every path the PR changes (core or not, old and new paths): none may be a distractor
            changed = sorted({p for f in sample.get("files") or () for p in (f.get("path"), f.get("previous_path")) if p})
            paths, contents = self.repo_files.sft_context(repo_path, sample.get("base_sha"), edited,
                                                          sample.get("intent") or "", excluded=changed)
        return sft_examples(sample, paths, contents, negatives_per_step=self.negatives,
                            token_budget=self.token_budget)

    def __getstate__(self):
        return {**self.__dict__, "repo_files": None}

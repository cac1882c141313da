"""SWE-bench decontamination of Clean-PR edit samples.

``shipped_index()`` is the ``BenchmarkIndex`` of SWE-bench Lite + Verified shipped in the package
(``transforms/code/data/swebench_index.bin.gz``, rebuilt from the two JSONL files by
``python -m transforms.code.build_swebench_index``); ``load_benchmarks(paths)`` builds the same
kind of index from any SWE-bench-style JSONL files (``instance_id``, ``repo``,
``problem_statement``, ``patch``, ``base_commit``, optional ``created_at``) and index files
(``shardsmith decontam-index`` writes them), merged. ``contamination_reason(sample, index,
ancestry)`` answers None (keep) or ``Rejected(reason, detail)`` with the instance id in the
detail. Reasons, checked in this order:

* ``swebench_instance``: the sample's (repo, pr_number) is an instance's pull request (the
  NUMBER of ``owner__repo-NUMBER``), or the sample links that pull request as a reference
  (a backport or follow-up of the gold PR: ``linked_issues`` entry with the same repo/number).
* ``swebench_patch``: the sample holds the gold change of a file (same repo and path, the old
  path of a rename counting): its changed lines (line-diff of before -> after) remove every
  non-blank line the gold patch removes from that file and add every non-blank line it adds
  (sets of line hashes, so order and position do not matter); or its after-file holds every
  gold hunk's new side (context and '+' lines, consecutive) while its before-file does not (the
  sample brings the file to the fixed state, however it was written).
* ``swebench_issue``: a linked issue's "title\\nbody", or the PR's "title\\nbody", contains a
  problem statement: equal after normalization (NFKC, casefold, ``\\w+`` tokens, so markup,
  punctuation, whitespace and CRLF do not matter), or holding at least half
  (``ISSUE_CONTAINMENT``) of the problem statement's distinct word 13-grams. HTML comments are
  dropped first: issue templates keep long boilerplate in them, which made unrelated issues of
  one repository share over half their 13-grams (astropy, scikit-learn). Containment is
  measured on the problem statement's side so a PR body that quotes the issue among other text
  still matches; 13 words in a row are specific enough that unrelated issues share few.
* ``swebench_hunk_overlap``: same repo and path, and a line the sample changes in its
  before-file overlaps the old-file line range of a gold hunk (``@@ -start,len``, context
  lines included, so a change within 3 lines of a gold change counts), UNLESS the sample
  predates the instance: a sample merged before the instance's base commit cannot contain the
  fix, so its overlap is kept (``predates_instance``). With the sample's clone (git input,
  ``GitAncestry``), it predates when its head commit is an ancestor of ``base_commit``
  (``git merge-base --is-ancestor``); without a clone, or when ``base_commit`` is not in it,
  when its ``merged_at`` is earlier than the instance's ``created_at`` (SWE-bench Lite and
  Verified as shipped have no ``created_at``: there, only the clone decides). The other rules
  do not look at time: the instance's own PR, a sample holding the gold change and the same
  issue are removed whenever they were merged.

Line overlap, precisely. Lines are 1-based and split on ``\\n`` as git does. A sample's change
is a line-diff opcode of before -> after (difflib): a replaced or deleted run of before-lines
``a..b`` touches ``[a, b]``; a pure insertion after before-line ``p`` (``p = 0`` at the top)
touches the two lines around it, ``[p, p + 1]``, so inserting right before or after a hunk's
first or last line overlaps it, inserting one line further away does not. A gold hunk with
no old lines (``-s,0``: insertion after line ``s``) covers ``[s, s + 1]`` the same way.
Two closed ranges overlap when they share a line.

The sample's before-file is rarely at the instance's ``base_commit``, so a gold hunk is first
re-located by content: where its old-side lines (context and '-' lines) occur in the
before-file, those occurrences are its ranges; failing that, where its new-side lines occur
(the fix is already in the file); failing both, its declared ``@@`` range. Lines compare with
their ``\\r``/``\\n`` endings stripped, by 64-bit hash (``line_hash``): the index keeps no
patch text.

An index holds only what the rules compare: instance ids, repos, PR numbers, base commits,
``created_at`` when given, and the benchmark files holding each instance; per repo and path the
gold hunks' declared ranges and the hashes of their old-side, new-side, removed and added
lines; per problem statement the SHA-1 of its normalized text and its distinct 13-gram hashes.
An index file (``write_index``/``read_index``, format 2) stores exactly those values, so the
shipped index and the JSONL it was built from decide alike. Format-1 files (before the patch
and predating rules) are not read: ``read_index`` fails with one line naming the file and
saying to rebuild it with ``shardsmith decontam-index``.

Repositories compare case-insensitively. A sample repo without an owner (a local clone named
after its directory, e.g. ``django``) matches every benchmark repo with that name.

Loading both SWE-bench files (800 rows, 707 distinct instances) takes about 0.4 s, reading the
shipped index (1.3 MB) about 0.05 s. A sample outside the benchmark's repositories costs a few
dict lookups plus one n-gram lookup per text (numpy ``searchsorted`` over all problem
statements' 13-gram hashes), about 0.4 ms; one editing a 3,000-line file of a benchmark
repository about 3 ms.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import xxhash

from transforms.code.intent import clean_text
from transforms.code.search_replace import ApplyError, Block, apply_blocks, changed_spans, split_lines, text_changed_spans
from transforms.records import Rejected

GRAM_SIZE = 13
ISSUE_CONTAINMENT = 0.5
REASONS = ("swebench_instance", "swebench_patch", "swebench_issue", "swebench_hunk_overlap")

_INSTANCE_ID = re.compile(r"^(?P<owner>.+?)__(?P<name>.+)-(?P<number>\d+)$")
_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_WORD = re.compile(r"\w+")
_GRAM_BASE = np.uint64(1099511628211)  # FNV-64 prime; products wrap modulo 2**64


# The index shipped in the package (``transforms/code/data/``), built from SWE-bench Lite and
# Verified by ``python -m transforms.code.build_swebench_index`` (see that module).
SHIPPED_INDEX = "swebench_index.bin.gz"
INDEX_MAGIC = b"SHARDSMITH-SWEBENCH-INDEX "
INDEX_VERSION = 2
INDEX_FORMAT = INDEX_MAGIC + b"%d\n" % INDEX_VERSION


# --------------------------------------------------------------------------- unified diffs

class DiffHunk(NamedTuple):
    """One ``@@`` hunk: old/new start and length, the old/new side lines and its '-'/'+' lines
    (endings stripped)."""

    old_start: int
    old_length: int
    new_start: int
    new_length: int
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]
    removed_lines: tuple[str, ...] = ()  # the '-' lines only
    added_lines: tuple[str, ...] = ()  # the '+' lines only


class FileDiff(NamedTuple):
    """The hunks of one file; a path is None on the ``/dev/null`` side of a creation/deletion."""

    old_path: str | None
    new_path: str | None
    hunks: tuple[DiffHunk, ...]


def _line_key(line: str) -> str:
    return line.rstrip("\r\n")


def line_hash(key: str) -> int:
    """64-bit hash of a line with its ``\\r``/``\\n`` endings stripped (xxh64 of its UTF-8): gold
    hunks keep only these, and relocation compares them instead of the text."""
    return xxhash.xxh64_intdigest(key.encode("utf-8", "surrogatepass"))


def _diff_path(header_value: str) -> str | None:
    """Path of a ``---``/``+++`` line value: ``a/``/``b/`` prefix and a trailing timestamp dropped."""
    value = header_value.split("\t", 1)[0].strip()
    if value == "/dev/null":
        return None
    if value.startswith(("a/", "b/")):
        value = value[2:]
    return value


def parse_unified_diff(patch: str) -> list[FileDiff]:
    """Files and hunks of a (git) unified diff; headers without hunks (binary, mode-only) give no hunks."""
    files: list[FileDiff] = []
    old_path = new_path = None
    hunks: list[DiffHunk] = []
    in_file = False
    lines = patch.split("\n")
    index = 0

    def flush() -> None:
        if in_file and (old_path or new_path):
            files.append(FileDiff(old_path, new_path, tuple(hunks)))

    while index < len(lines):
        line = lines[index]
        if line.startswith("diff --git "):
            flush()
            in_file, hunks = True, []
            match = re.match(r"^diff --git a/(.*) b/(.*)$", _line_key(line))  # the ---/+++ lines refine these
            old_path, new_path = (match[1], match[2]) if match else (None, None)
        elif line.startswith("--- ") and index + 1 < len(lines) and lines[index + 1].startswith("+++ "):
            if hunks or not in_file:  # a plain diff (no 'diff --git' lines) starting a file
                flush()
                in_file, hunks, new_path = True, [], None
            old_path = _diff_path(line[4:])
        elif line.startswith("+++ ") and in_file and not hunks:
            new_path = _diff_path(line[4:])
        elif (header := _HUNK_HEADER.match(line)) is not None:
            old_start, old_length = int(header[1]), int(header[2]) if header[2] is not None else 1
            new_start, new_length = int(header[3]), int(header[4]) if header[4] is not None else 1
            old_lines: list[str] = []
            new_lines: list[str] = []
            removed: list[str] = []
            added: list[str] = []
            old_left, new_left = old_length, new_length
            while (old_left > 0 or new_left > 0) and index + 1 < len(lines):
                body = lines[index + 1]
                tag, text = body[:1], _line_key(body[1:])
                if tag in (" ", "") and old_left > 0 and new_left > 0:  # '' is a blank context line whose space was stripped
                    old_lines.append(text)
                    new_lines.append(text)
                    old_left, new_left = old_left - 1, new_left - 1
                elif tag == "-" and old_left > 0:
                    old_lines.append(text)
                    removed.append(text)
                    old_left -= 1
                elif tag == "+" and new_left > 0:
                    new_lines.append(text)
                    added.append(text)
                    new_left -= 1
                elif tag != "\\":
                    break
                index += 1
            hunks.append(DiffHunk(old_start, old_length, new_start, new_length, tuple(old_lines), tuple(new_lines),
                                  tuple(removed), tuple(added)))
        elif line.startswith("rename from "):
            old_path = _line_key(line[len("rename from "):])
        elif line.startswith("rename to "):
            new_path = _line_key(line[len("rename to "):])
        index += 1
    flush()
    return files


# --------------------------------------------------------------------------- sample line changes

def changed_line_ranges(before: str, after: str) -> list[tuple[int, int]]:
    """Line-diff opcodes of ``before`` -> ``after`` as 0-based half-open before-line ranges
    ``(i1, i2)``; ``i1 == i2`` is a pure insertion after the first ``i1`` lines.

    Lines split on ``\\n`` with endings kept (``split_lines``). The common head and tail are cut
    off before difflib runs, as ``make_blocks`` does, since the matcher is quadratic on repeats.
    """
    return [(i1, i2) for i1, i2, _, _ in text_changed_spans(before, after)]


def touched_lines(i1: int, i2: int) -> tuple[int, int]:
    """The closed 1-based before-line range a change ``(i1, i2)`` touches (see the module notes)."""
    return (i1 + 1, i2) if i2 > i1 else (i1, i1 + 1)


def _ranges_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


# --------------------------------------------------------------------------- problem statements

def issue_tokens(text: str | None) -> list[str]:
    """Normalized words of an issue text: HTML comments (issue-template boilerplate) dropped,
    NFKC, casefolded, ``\\w+`` runs."""
    if not text:
        return []
    return _WORD.findall(unicodedata.normalize("NFKC", clean_text(text)).casefold())


def _normalized_hash(tokens: Sequence[str]) -> str:
    return hashlib.sha1(" ".join(tokens).encode("utf-8", "surrogatepass")).hexdigest()


def gram_hashes(tokens: Sequence[str], size: int = GRAM_SIZE) -> np.ndarray:
    """Sorted distinct uint64 hashes of the word ``size``-grams (stable across processes:
    crc32 per word, then a polynomial hash modulo 2**64)."""
    if len(tokens) < size:
        return np.zeros(0, dtype=np.uint64)
    word_hash = {word: zlib.crc32(word.encode("utf-8", "surrogatepass")) for word in set(tokens)}
    words = np.fromiter(map(word_hash.__getitem__, tokens), dtype=np.uint64, count=len(tokens))
    count = len(tokens) - size + 1
    hashes = np.zeros(count, dtype=np.uint64)
    for offset in range(size):
        hashes = hashes * _GRAM_BASE + words[offset:offset + count]
    return np.unique(hashes)


# --------------------------------------------------------------------------- the index

class GoldHunk(NamedTuple):
    """A gold-patch hunk of one instance, in the old file of ``path``: its old/new side lines and
    its removed ('-') and added ('+') lines as ``line_hash`` values (the text is not kept)."""

    instance_id: str
    first_line: int  # closed 1-based range the hunk covers in the old file (see module notes)
    last_line: int
    old_hashes: tuple[int, ...]
    new_hashes: tuple[int, ...]
    removed_hashes: tuple[int, ...] = ()
    added_hashes: tuple[int, ...] = ()


class Instance(NamedTuple):
    """What the rules know of one instance besides its hunks and problem statement."""

    repo: str  # lowercased 'owner/name'
    number: int | None  # its pull request: the NUMBER of 'owner__repo-NUMBER'
    base_commit: str | None
    created_at: str | None  # ISO 8601, when the benchmark file has it (SWE-bench full does; Lite/Verified here do not)
    sources: tuple[int, ...]  # indexes into BenchmarkIndex.sources: the benchmark files that hold it


@dataclass
class BenchmarkIndex:
    """SWE-bench instances indexed for ``contamination_reason``; picklable (plain dicts and arrays).

    Built from SWE-bench JSONL (``load_benchmark_patches``), read from an index file
    (``read_index``, ``shipped_index``), or both merged (``load_benchmarks``): all hold the same
    hashes, so they decide alike.
    """

    # what it was loaded from: index file names ('' when built from JSONL only), the inputs' file
    # names, and per benchmark file {"file": basename, "rows": rows read, "sha256": of its bytes}
    name: str = ""
    inputs: list[str] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    instance_ids: list[str] = field(default_factory=list)
    instances: dict[str, Instance] = field(default_factory=dict)
    # (repo lowercased, PR number) -> instance id
    pull_requests: dict[tuple[str, int], str] = field(default_factory=dict)
    # repo lowercased -> path -> gold hunks sorted by (first_line, instance_id)
    hunks: dict[str, dict[str, list[GoldHunk]]] = field(default_factory=dict)
    # every benchmark repo lowercased, and repository name (after the '/') -> those repos
    repos: set[str] = field(default_factory=set)
    repos_by_name: dict[str, list[str]] = field(default_factory=dict)
    # normalized problem statement hash -> instance ids
    statement_hashes: dict[str, list[str]] = field(default_factory=dict)
    # all problem statements' distinct 13-gram hashes, sorted, and the instance (index) of each
    gram_hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    gram_owners: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    gram_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.instance_ids)

    def describe(self) -> str:
        """One line for a run's notes: the index by name (or its input files) and instance count,
        never a local path."""
        files = ", ".join(source["file"] for source in self.sources)
        if self.name and self.inputs in ([], [self.name]):
            return f"the SWE-bench index {self.name} ({len(self)} instances from {files})"
        given = ", ".join(self.inputs) or files
        if self.name:
            return f"SWE-bench files {given} ({len(self)} instances from {files})"
        return f"SWE-bench files {given} ({len(self)} instances)"

    def repos_for(self, repo: str | None) -> list[str]:
        """Benchmark repos (lowercased) a sample repo names: itself, or by name when it has no owner."""
        if not isinstance(repo, str) or not repo.strip():
            return []
        key = repo.strip().lower()
        if "/" in key:
            return [key] if key in self.repos else []
        return self.repos_by_name.get(key, [])

    def source_names(self, instance_id: str) -> list[str]:
        """The benchmark files (basenames) holding an instance."""
        info = self.instances.get(instance_id)
        return [self.sources[n]["file"] for n in info.sources] if info else []

    def instances_per_source(self, repos: Iterable[str]) -> dict[str, int]:
        """Per benchmark file, how many of its instances belong to these (sample) repositories."""
        wanted = {benchmark for repo in repos for benchmark in self.repos_for(repo)}
        counts = {source["file"]: 0 for source in self.sources}
        for info in self.instances.values():
            if info.repo in wanted:
                for n in info.sources:
                    counts[self.sources[n]["file"]] += 1
        return counts


class _Entry(NamedTuple):
    """One instance as an index is built from it (from JSONL rows or from an index file)."""

    instance_id: str
    info: Instance
    hunks: tuple[tuple[str, GoldHunk], ...]  # (path, hunk) in patch order
    statement_hash: str | None
    grams: np.ndarray  # sorted distinct 13-gram hashes of the problem statement


def _gold_hunk(instance_id: str, hunk: DiffHunk) -> GoldHunk:
    if hunk.old_length == 0:
        first, last = hunk.old_start, hunk.old_start + 1
    else:
        first, last = hunk.old_start, hunk.old_start + hunk.old_length - 1
    hashes = lambda lines: tuple(line_hash(line) for line in lines)  # noqa: E731
    return GoldHunk(instance_id, first, last, hashes(hunk.old_lines), hashes(hunk.new_lines),
                    hashes(hunk.removed_lines), hashes(hunk.added_lines))


class BenchmarkFileError(ValueError):
    """A benchmark file (JSONL or index) that cannot be used; the message is one line naming it."""


_ROW_TEXT_FIELDS = ("patch", "problem_statement", "base_commit", "created_at")


def _row_entry(row: dict, sources: tuple[int, ...]) -> _Entry:
    instance_id = row["instance_id"]
    repo = row["repo"].strip().lower()
    match = _INSTANCE_ID.match(instance_id)
    hunks = []
    for file_diff in parse_unified_diff(row.get("patch") or ""):
        path = file_diff.old_path or file_diff.new_path
        hunks.extend((path, _gold_hunk(instance_id, hunk)) for hunk in file_diff.hunks)
    tokens = issue_tokens(row.get("problem_statement"))
    info = Instance(repo, int(match["number"]) if match else None, (row.get("base_commit") or "").strip() or None,
                    (row.get("created_at") or "").strip() or None, sources)
    return _Entry(instance_id, info, tuple(hunks), _normalized_hash(tokens) if tokens else None, gram_hashes(tokens))


def _check_row(row, where: str) -> None:
    if not isinstance(row, dict):
        raise BenchmarkFileError(f"{where}: not a JSON object")
    for name in ("instance_id", "repo"):
        if not isinstance(row.get(name), str) or not row[name].strip():
            raise BenchmarkFileError(f"{where}: '{name}' missing or not a string")
    for name in _ROW_TEXT_FIELDS:
        if row.get(name) is not None and not isinstance(row[name], str):
            raise BenchmarkFileError(f"{where}: '{name}' is not a string")


def _read_jsonl(path: str | os.PathLike, data: bytes, source: int, rows_by_id: dict[str, list]) -> int:
    """Add a JSONL file's rows to ``rows_by_id`` (instance id -> [first row, source indexes]); its row count."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BenchmarkFileError(f"{os.fspath(path)}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    rows = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{os.fspath(path)} line {number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise BenchmarkFileError(f"{where}: not JSON ({exc})") from None
        _check_row(row, where)
        rows += 1
        entry = rows_by_id.setdefault(row["instance_id"], [row, []])  # Lite and Verified share instances
        if source not in entry[1]:
            entry[1].append(source)
    if rows == 0:
        raise BenchmarkFileError(f"{os.fspath(path)}: no SWE-bench rows")
    return rows


def _build_index(entries: Iterable[_Entry], sources: list[dict], name: str = "", inputs: Sequence[str] = ()) -> BenchmarkIndex:
    """The index of these instances (by instance id; the first entry of an id wins)."""
    index = BenchmarkIndex(name=name, inputs=list(inputs), sources=list(sources))
    unique: dict[str, _Entry] = {}
    for entry in entries:
        unique.setdefault(entry.instance_id, entry)
    gram_arrays: list[np.ndarray] = []
    for instance_id in sorted(unique):
        entry = unique[instance_id]
        repo = entry.info.repo
        index.instance_ids.append(instance_id)
        index.instances[instance_id] = entry.info
        if repo not in index.repos:
            index.repos.add(repo)
            index.repos_by_name.setdefault(repo.rsplit("/", 1)[-1], []).append(repo)
        if entry.info.number is not None:
            index.pull_requests.setdefault((repo, entry.info.number), instance_id)
        by_path = index.hunks.setdefault(repo, {})
        for path, hunk in entry.hunks:
            by_path.setdefault(path, []).append(hunk)
        if entry.statement_hash:
            index.statement_hashes.setdefault(entry.statement_hash, []).append(instance_id)
        gram_arrays.append(entry.grams)
    for by_path in index.hunks.values():
        for hunk_list in by_path.values():
            hunk_list.sort(key=lambda h: (h.first_line, h.last_line, h.instance_id))
    for names in index.repos_by_name.values():
        names.sort()
    _set_grams(index, gram_arrays)
    return index


def _set_grams(index: BenchmarkIndex, gram_arrays: list[np.ndarray]) -> None:
    """The sorted all-statement 13-gram table from each instance's sorted distinct grams."""
    if gram_arrays:
        owners = np.repeat(np.arange(len(gram_arrays), dtype=np.int32), [len(a) for a in gram_arrays])
        hashes = np.concatenate(gram_arrays).astype(np.uint64, copy=False)
        order = np.argsort(hashes, kind="stable")
        index.gram_hashes, index.gram_owners = hashes[order], owners[order]
        index.gram_counts = np.array([len(a) for a in gram_arrays], dtype=np.int64)


def _entries_of(index: BenchmarkIndex) -> list[_Entry]:
    """An index's instances as build entries (the inverse of ``_build_index``)."""
    hunks: dict[str, list] = {instance_id: [] for instance_id in index.instance_ids}
    for repo in sorted(index.hunks):
        for path in sorted(index.hunks[repo]):
            for hunk in index.hunks[repo][path]:
                hunks[hunk.instance_id].append((path, hunk))
    statements = {i: digest for digest, ids in index.statement_hashes.items() for i in ids}
    order = np.argsort(index.gram_owners, kind="stable")  # per owner, still sorted by hash
    bounds = np.concatenate([[0], np.cumsum(np.bincount(index.gram_owners, minlength=len(index)))]).astype(np.int64)
    grams = index.gram_hashes[order]
    return [_Entry(i, index.instances[i], tuple(hunks[i]), statements.get(i), grams[bounds[n]:bounds[n + 1]])
            for n, i in enumerate(index.instance_ids)]


def load_benchmark_patches(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> BenchmarkIndex:
    """Index SWE-bench JSONL files (``instance_id``, ``repo``, ``patch``, ``problem_statement``,
    ``base_commit``, optional ``created_at``); ``BenchmarkFileError`` (one line naming the file)
    for a file that is not such JSONL."""
    return load_benchmarks(paths, jsonl_only=True)


def is_index_file(data: bytes) -> bool:
    """Whether these bytes are an index file (gzip), rather than JSONL."""
    return data[:2] == b"\x1f\x8b"


def load_benchmarks(paths: str | os.PathLike | Iterable[str | os.PathLike], jsonl_only: bool = False) -> BenchmarkIndex:
    """One index from SWE-bench JSONL files and index files (``write_index``) together, told
    apart by their bytes; an instance in several keeps every benchmark file it came from.
    ``BenchmarkFileError`` (one line naming the file) for a file that is neither."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    sources: list[dict] = []
    by_sha: dict[str, int] = {}

    def source_of(record: dict) -> int:  # one source per distinct file content
        if record["sha256"] not in by_sha:
            by_sha[record["sha256"]] = len(sources)
            sources.append(dict(record))
        return by_sha[record["sha256"]]

    rows_by_id: dict[str, list] = {}
    entries: list[_Entry] = []
    index_names, inputs = [], []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise BenchmarkFileError(f"{os.fspath(path)}: {exc.strerror or exc}") from None
        inputs.append(os.path.basename(os.fspath(path)))
        if is_index_file(data) and not jsonl_only:
            index = _parse_index_file(path, data)
            index_names.append(inputs[-1])
            remap = [source_of(source) for source in index.sources]
            entries.extend(entry._replace(info=entry.info._replace(sources=tuple(remap[n] for n in entry.info.sources)))
                           for entry in _entries_of(index))
            continue
        record = {"file": inputs[-1], "rows": 0, "sha256": hashlib.sha256(data).hexdigest()}
        fresh = record["sha256"] not in by_sha
        source = source_of(record)
        if fresh:
            sources[source]["rows"] = _read_jsonl(path, data, source, rows_by_id)
    for instance_id, (row, row_sources) in rows_by_id.items():
        entries.append(_row_entry(row, tuple(sorted(row_sources))))
    # an instance both in an index file and in JSONL: one entry, every source it came from
    merged: dict[str, _Entry] = {}
    for entry in entries:
        if entry.instance_id in merged:
            kept = merged[entry.instance_id]
            both = tuple(sorted(set(kept.info.sources) | set(entry.info.sources)))
            merged[entry.instance_id] = kept._replace(info=kept.info._replace(sources=both))
        else:
            merged[entry.instance_id] = entry
    return _build_index(merged.values(), sources, name=", ".join(index_names), inputs=inputs)


# --------------------------------------------------------------------------- index files

def index_payload(index: BenchmarkIndex) -> bytes:
    """The deterministic uncompressed bytes of an index file (``write_index`` gzips them).

    Layout (format 2): ``INDEX_FORMAT``, an 8-byte little-endian header length, a JSON header
    (sorted keys: provenance, instance ids, repos, per instance its repo, PR number, base
    commit, created_at and benchmark files, statement hashes, paths, the array layout), then
    little-endian arrays: the distinct line hashes of all gold hunks (sorted, uint64), per hunk
    its old, new, removed and added lines as indexes into them (uint32), the hunk table (int32
    rows: path, instance, first line, last line, old, new, removed and added counts), the
    13-gram count per instance (uint32) and each instance's sorted distinct 13-gram hashes
    (uint64). Only hashes of the text are kept: hunk lines and problem statements can not be
    recovered.
    """
    position = {instance_id: n for n, instance_id in enumerate(index.instance_ids)}
    repos = sorted(index.repos)
    repo_position = {repo: n for n, repo in enumerate(repos)}
    paths, hunks = [], []
    for repo in sorted(index.hunks):
        for path in sorted(index.hunks[repo]):
            if index.hunks[repo][path]:
                paths.append([repo_position[repo], path])
                hunks.extend((len(paths) - 1, hunk) for hunk in index.hunks[repo][path])

    def lines_of(hunk: GoldHunk) -> tuple[int, ...]:
        return hunk.old_hashes + hunk.new_hashes + hunk.removed_hashes + hunk.added_hashes

    line_table = sorted({h for _, hunk in hunks for h in lines_of(hunk)})
    line_position = {h: n for n, h in enumerate(line_table)}
    hunk_lines = [line_position[h] for _, hunk in hunks for h in lines_of(hunk)]
    hunk_table = [(path, position[hunk.instance_id], hunk.first_line, hunk.last_line, len(hunk.old_hashes),
                   len(hunk.new_hashes), len(hunk.removed_hashes), len(hunk.added_hashes)) for path, hunk in hunks]
    owners = index.gram_owners
    per_instance = np.lexsort((index.gram_hashes, owners)) if len(owners) else np.zeros(0, dtype=np.int64)
    arrays = [
        ("line_hashes", np.array(line_table, dtype="<u8")),
        ("hunk_lines", np.array(hunk_lines, dtype="<u4")),
        ("hunks", np.array(hunk_table, dtype="<i4").reshape(-1)),
        ("gram_counts", np.asarray(index.gram_counts, dtype="<u4")),
        ("grams", np.asarray(index.gram_hashes, dtype="<u8")[per_instance]),
    ]
    instances = [index.instances[i] for i in index.instance_ids]
    header = {
        "gram_size": GRAM_SIZE,
        "sources": index.sources,
        "instance_ids": index.instance_ids,
        "repos": repos,
        "instances": [[repo_position[info.repo], info.number, info.base_commit, info.created_at, list(info.sources)]
                      for info in instances],
        "statement_hashes": sorted([digest, [position[i] for i in ids]] for digest, ids in index.statement_hashes.items()),
        "paths": paths,
        "arrays": [[name, array.dtype.str, len(array)] for name, array in arrays],
    }
    head = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return b"".join([INDEX_FORMAT, struct.pack("<Q", len(head)), head] + [array.tobytes() for _, array in arrays])


def write_index(index: BenchmarkIndex, path: str | os.PathLike) -> int:
    """Write ``index_payload`` gzipped (level 9, no name, mtime 0: same input, same bytes); returns the size."""
    data = gzip.compress(index_payload(index), compresslevel=9, mtime=0)
    with open(path, "wb") as handle:
        handle.write(data)
    return len(data)


def parse_index(payload: bytes, name: str = "") -> BenchmarkIndex:
    """A ``BenchmarkIndex`` from ``index_payload`` bytes (format 2 only: ``ValueError`` otherwise)."""
    if not payload.startswith(INDEX_MAGIC):
        raise ValueError("not a shardsmith SWE-bench index")
    if not payload.startswith(INDEX_FORMAT):
        version = payload[len(INDEX_MAGIC):payload.find(b"\n", 0, 64)].decode("ascii", "replace")
        raise ValueError(f"SWE-bench index format {version}, this shardsmith reads format {INDEX_VERSION}: "
                         "rebuild it with shardsmith decontam-index")
    offset = len(INDEX_FORMAT)
    (length,) = struct.unpack_from("<Q", payload, offset)
    offset += 8
    header = json.loads(payload[offset:offset + length].decode("ascii"))
    offset += length
    if header["gram_size"] != GRAM_SIZE:
        raise ValueError(f"index built with {header['gram_size']}-grams, this code uses {GRAM_SIZE}")
    arrays = {}
    for array_name, dtype, count in header["arrays"]:
        array = np.frombuffer(payload, dtype=np.dtype(dtype), count=count, offset=offset)
        offset += array.nbytes
        arrays[array_name] = array.astype(array.dtype.newbyteorder("="))
    if offset != len(payload):
        raise ValueError("index file has trailing or missing bytes")
    ids = list(header["instance_ids"])
    repos = list(header["repos"])
    infos = [Instance(repos[repo], number, base, created, tuple(sources))
             for repo, number, base, created, sources in header["instances"]]
    hunks: list[list] = [[] for _ in ids]
    line_table = arrays["line_hashes"].tolist()
    hunk_lines = arrays["hunk_lines"].tolist()
    cursor = 0
    for path_id, instance, first, last, *counts in arrays["hunks"].reshape(-1, 8).tolist():
        lines = [line_table[i] for i in hunk_lines[cursor:cursor + sum(counts)]]
        cursor += sum(counts)
        parts, start = [], 0
        for count in counts:
            parts.append(tuple(lines[start:start + count]))
            start += count
        hunks[instance].append((header["paths"][path_id][1], GoldHunk(ids[instance], first, last, *parts)))
    statements = {ids[i]: digest for digest, owners in header["statement_hashes"] for i in owners}
    counts = arrays["gram_counts"].astype(np.int64)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    grams = arrays["grams"]
    entries = [_Entry(ids[n], infos[n], tuple(hunks[n]), statements.get(ids[n]), grams[bounds[n]:bounds[n + 1]])
               for n in range(len(ids))]
    return _build_index(entries, list(header["sources"]), name=name, inputs=[name] if name else [])


def _parse_index_file(path: str | os.PathLike, data: bytes) -> BenchmarkIndex:
    name = os.path.basename(os.fspath(path))
    try:
        return parse_index(gzip.decompress(data), name=name)
    except (OSError, EOFError, zlib.error, ValueError, KeyError, IndexError, TypeError, struct.error) as exc:
        raise BenchmarkFileError(f"{os.fspath(path)}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def read_index(path: str | os.PathLike) -> BenchmarkIndex:
    """An index file written by ``write_index``, named after its file; ``BenchmarkFileError``
    (one line naming the file) when it is not one, or of another format version."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise BenchmarkFileError(f"{os.fspath(path)}: {exc.strerror or exc}") from None
    return _parse_index_file(path, data)


def shipped_index_path() -> str:
    """The index file shipped in the package (``transforms/code/data/swebench_index.bin.gz``)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", SHIPPED_INDEX)


@functools.lru_cache(maxsize=1)
def shipped_index() -> BenchmarkIndex:
    """The shipped SWE-bench Lite + Verified index, read once per process (treat it as read-only)."""
    return read_index(shipped_index_path())


# --------------------------------------------------------------------------- when a sample predates an instance

def _utc(value) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime (naive means UTC), else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


# ancestry(sample, commit): True when the sample's head commit is an ancestor of ``commit``, False
# when it is not, None when that cannot be told (no clone, or the commit is not in it)
Ancestry = Callable[[Mapping, str], "bool | None"]


def predates_instance(sample: Mapping, instance: Instance | None, ancestry: Ancestry | None = None) -> bool:
    """Whether the sample was merged before the instance's base commit, so it cannot contain the
    fix: its head commit is an ancestor of ``base_commit`` in its clone (``ancestry``); when that
    cannot be told, its ``merged_at`` is earlier than the instance's ``created_at``; else False."""
    if instance is None:
        return False
    head = sample.get("head_sha")
    if ancestry is not None and instance.base_commit and isinstance(head, str) and head:
        known = ancestry(sample, instance.base_commit)
        if known is not None:
            return known
    merged, created = _utc(sample.get("merged_at")), _utc(instance.created_at)
    return merged is not None and created is not None and merged < created


_SHA = re.compile(r"^[0-9a-f]{7,64}$")


class GitAncestry:
    """``Ancestry`` of git-input samples: ``git merge-base --is-ancestor HEAD COMMIT`` in the
    sample's clone (its path in the record field ``path_field``), cached per (clone, head,
    commit); a commit missing from the clone is asked once (``git cat-file -e``)."""

    def __init__(self, path_field: str):
        self.path_field = path_field
        self._git_dirs: dict[str, str | None] = {}
        self._present: dict[tuple[str, str], bool] = {}
        self._answers: dict[tuple[str, str, str], bool | None] = {}

    def _git(self, git_dir: str, *args: str) -> int:
        from transforms.code.git_history import run_git  # trimmed environment, contained, plumbing only

        return run_git(git_dir, *args, check=False).returncode

    def _git_dir(self, repo_path: str) -> str | None:
        if repo_path not in self._git_dirs:
            from transforms.code.git_history import git_dir_of

            try:
                self._git_dirs[repo_path] = git_dir_of(repo_path)
            except Exception:  # noqa: BLE001 - a clone gone or broken: ancestry unknown
                self._git_dirs[repo_path] = None
        return self._git_dirs[repo_path]

    def __call__(self, sample: Mapping, commit: str) -> bool | None:
        repo_path, head = sample.get(self.path_field), sample.get("head_sha")
        if not isinstance(repo_path, str) or not isinstance(head, str) or not isinstance(commit, str):
            return None
        head, commit = head.strip().lower(), commit.strip().lower()
        if not _SHA.match(head) or not _SHA.match(commit):
            return None
        git_dir = self._git_dir(repo_path)
        if git_dir is None:
            return None
        key = (git_dir, head, commit)
        if key not in self._answers:
            present = self._present.get((git_dir, commit))
            if present is None:
                present = self._present[(git_dir, commit)] = self._git(git_dir, "cat-file", "-e",
                                                                       commit + "^{commit}") == 0
            if not present:
                self._answers[key] = None
            else:
                code = self._git(git_dir, "merge-base", "--is-ancestor", head, commit)
                self._answers[key] = True if code == 0 else False if code == 1 else None
        return self._answers[key]

    def __getstate__(self):
        return {"path_field": self.path_field, "_git_dirs": {}, "_present": {}, "_answers": {}}


# --------------------------------------------------------------------------- the checks

def _field(record, name: str):
    return record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)


def _instance_reason(sample: Mapping, index: BenchmarkIndex) -> Rejected | None:
    number = sample.get("pr_number")
    for repo in index.repos_for(sample.get("repo")):
        instance_id = index.pull_requests.get((repo, number))
        if instance_id is not None:
            return Rejected("swebench_instance", f"{instance_id}: {repo} pull request #{number}")
    for issue in sample.get("linked_issues") or ():
        for repo in index.repos_for(_field(issue, "repo")):
            instance_id = index.pull_requests.get((repo, _field(issue, "number")))
            if instance_id is not None:
                return Rejected("swebench_instance",
                                f"{instance_id}: links {repo}#{_field(issue, 'number')}, the instance's pull request")
    return None


def _occurrences(keys: list[int], first_lines: dict[int, list[int]], lines: tuple[int, ...]) -> list[int]:
    """0-based starts where ``lines`` (line hashes) occur as consecutive lines of the file."""
    if not lines:
        return []
    width = len(lines)
    return [start for start in first_lines.get(lines[0], ()) if tuple(keys[start:start + width]) == lines]


def _located_ranges(hunk: GoldHunk, before_keys: list[int], first_lines: dict[int, list[int]]) -> list[tuple[int, int]]:
    """Where a gold hunk sits in this before-file: by its old text, its new text, else as declared."""
    for lines in (hunk.old_hashes, hunk.new_hashes):
        starts = _occurrences(before_keys, first_lines, lines)
        if starts:
            return [(start + 1, start + len(lines)) for start in starts]
    return [(hunk.first_line, hunk.last_line)]


def _file_after(file: Mapping, before: str, blocks: Sequence) -> str | None:
    after = file.get("after")
    if after is not None:
        return after
    own = [Block(_field(b, "path"), _field(b, "search"), _field(b, "replace")) for b in blocks
           if _field(b, "path") == file.get("path") and not _field(b, "rename_from")]  # renames move, not edit
    if not own:
        return None
    try:
        return apply_blocks({file["path"]: before}, own)[file["path"]]
    except (ApplyError, KeyError, TypeError):
        return None


class _FileView:
    """One changed file of a sample, with what the rules compare computed once, when first asked."""

    def __init__(self, before: str, after: str):
        self.before, self.after = before, after

    @functools.cached_property
    def before_lines(self) -> list[str]:
        return split_lines(self.before)

    @functools.cached_property
    def after_lines(self) -> list[str]:
        return split_lines(self.after)

    @functools.cached_property
    def spans(self) -> list[tuple[int, int, int, int]]:
        return changed_spans(self.before_lines, self.after_lines) if self.before != self.after else []

    @functools.cached_property
    def before_keys(self) -> list[int]:
        return [line_hash(_line_key(line)) for line in self.before_lines]

    @functools.cached_property
    def after_keys(self) -> list[int]:
        return [line_hash(_line_key(line)) for line in self.after_lines]

    @staticmethod
    def _starts(keys: list[int]) -> dict[int, list[int]]:
        first: dict[int, list[int]] = {}
        for position, key in enumerate(keys):
            first.setdefault(key, []).append(position)
        return first

    @functools.cached_property
    def before_starts(self) -> dict[int, list[int]]:
        return self._starts(self.before_keys)

    @functools.cached_property
    def after_starts(self) -> dict[int, list[int]]:
        return self._starts(self.after_keys)

    @functools.cached_property
    def removed(self) -> set[int]:
        return {self.before_keys[i] for i1, i2, _, _ in self.spans for i in range(i1, i2)}

    @functools.cached_property
    def added(self) -> set[int]:
        return {self.after_keys[j] for _, _, j1, j2 in self.spans for j in range(j1, j2)}


def _changed_files(sample: Mapping, index: BenchmarkIndex):
    """(path, gold hunks on it, file view) of every changed file of the sample that gold hunks touch."""
    repos = [repo for repo in index.repos_for(sample.get("repo")) if repo in index.hunks]
    if not repos:
        return
    for file in sample.get("files") or ():
        if not isinstance(file, Mapping):
            continue
        paths = [p for p in dict.fromkeys((file.get("previous_path"), file.get("path"))) if isinstance(p, str) and p]
        candidates = [(path, index.hunks[repo][path]) for repo in repos for path in paths if path in index.hunks[repo]]
        if not candidates:
            continue
        before = file.get("before") if isinstance(file.get("before"), str) else ""
        after = _file_after(file, before, sample.get("blocks") or ())
        if not isinstance(after, str) or after == before:
            continue
        view = _FileView(before, after)
        for path, gold_hunks in candidates:
            yield path, gold_hunks, view


_BLANK = line_hash("")


def _by_instance(gold_hunks: Sequence[GoldHunk]) -> dict[str, list[GoldHunk]]:
    grouped: dict[str, list[GoldHunk]] = {}
    for hunk in gold_hunks:
        grouped.setdefault(hunk.instance_id, []).append(hunk)
    return {key: grouped[key] for key in sorted(grouped)}


def _patch_reason(sample: Mapping, index: BenchmarkIndex) -> Rejected | None:
    for path, gold_hunks, view in _changed_files(sample, index):
        for instance_id, hunks in _by_instance(gold_hunks).items():
            removed = {h for hunk in hunks for h in hunk.removed_hashes} - {_BLANK}
            added = {h for hunk in hunks for h in hunk.added_hashes} - {_BLANK}
            if not removed and not added:
                continue
            if removed <= view.removed and added <= view.added:
                return Rejected("swebench_patch", f"{instance_id}: {path} changes every line of the gold change "
                                                  f"({len(removed)} removed, {len(added)} added)")
            changed = [hunk for hunk in hunks if hunk.new_hashes and (hunk.removed_hashes or hunk.added_hashes)]
            if changed and all(_occurrences(view.after_keys, view.after_starts, hunk.new_hashes) for hunk in changed) \
                    and not all(_occurrences(view.before_keys, view.before_starts, hunk.new_hashes) for hunk in changed):
                return Rejected("swebench_patch", f"{instance_id}: {path} after the change holds the gold change "
                                                  f"(the new side of its {len(changed)} hunk(s))")
    return None


def _hunk_overlap(sample: Mapping, index: BenchmarkIndex, predates) -> tuple[Rejected | None, str | None]:
    """(the overlap reject, None), or (None, the instance id of an overlap kept because the sample predates it)."""
    spared = None
    for path, gold_hunks, view in _changed_files(sample, index):
        changes = [touched_lines(i1, i2) for i1, i2, _, _ in view.spans]
        for hunk in gold_hunks:
            for gold in _located_ranges(hunk, view.before_keys, view.before_starts):
                change = next((c for c in changes if _ranges_overlap(c, gold)), None)
                if change is None:
                    continue
                if predates(hunk.instance_id):
                    spared = spared or hunk.instance_id
                    break
                return Rejected(
                    "swebench_hunk_overlap",
                    f"{hunk.instance_id}: {path} lines {change[0]}-{change[1]} overlap gold hunk "
                    f"lines {gold[0]}-{gold[1]} (declared {hunk.first_line}-{hunk.last_line})",
                ), None
    return None, spared


def statement_match(text: str | None, index: BenchmarkIndex) -> tuple[str, str] | None:
    """(instance id, how) of the problem statement ``text`` contains, or None.

    ``how`` is ``'normalized exact match'`` or ``'13-gram containment 0.87'``; among several
    matches the highest containment wins, then the smallest instance id.
    """
    tokens = issue_tokens(text)
    if not tokens:
        return None
    exact = index.statement_hashes.get(_normalized_hash(tokens))
    if exact:
        return min(exact), "normalized exact match"
    query = gram_hashes(tokens)
    if not len(query) or not len(index.gram_hashes):
        return None
    low = np.searchsorted(index.gram_hashes, query, side="left")
    high = np.searchsorted(index.gram_hashes, query, side="right")
    counts = high - low
    total = int(counts.sum())
    if total == 0:
        return None
    # positions of every matching entry: each [low, high) range laid out one after another
    positions = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(low, counts)
    shared = np.bincount(index.gram_owners[positions], minlength=len(index.instance_ids))
    with np.errstate(divide="ignore", invalid="ignore"):
        containment = np.where(index.gram_counts > 0, shared / np.maximum(index.gram_counts, 1), 0.0)
    best = None
    for position in np.flatnonzero(containment >= ISSUE_CONTAINMENT):
        key = (-float(containment[position]), index.instance_ids[position])
        if best is None or key < best:
            best = key
    if best is None:
        return None
    return best[1], f"{GRAM_SIZE}-gram containment {-best[0]:.2f}"


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _issue_reason(sample: Mapping, index: BenchmarkIndex) -> Rejected | None:
    texts = []
    for issue in sample.get("linked_issues") or ():
        title, body = _text(_field(issue, "title")), _text(_field(issue, "body"))
        if title or body:
            texts.append((f"linked issue {_field(issue, 'repo')}#{_field(issue, 'number')}",
                          "\n".join(part for part in (title, body) if part)))
    texts.append(("PR body", "\n".join(part for part in (_text(sample.get("title")), _text(sample.get("body"))) if part)))
    for source, text in texts:
        match = statement_match(text, index)
        if match is not None:
            instance_id, how = match
            return Rejected("swebench_issue", f"{instance_id}: {source} matches its problem statement ({how})")
    return None


def contamination_verdict(sample: Mapping, index: BenchmarkIndex,
                          ancestry: Ancestry | None = None) -> tuple[Rejected | None, str | None]:
    """(``Rejected`` or None, the instance id whose gold hunk the sample overlaps but predates, or
    None): ``contamination_reason`` plus what the predating rule kept (for the run's notes)."""
    verdict = _instance_reason(sample, index) or _patch_reason(sample, index) or _issue_reason(sample, index)
    if verdict is not None:
        return verdict, None
    decided: dict[str, bool] = {}

    def predates(instance_id: str) -> bool:
        if instance_id not in decided:
            decided[instance_id] = predates_instance(sample, index.instances.get(instance_id), ancestry)
        return decided[instance_id]

    return _hunk_overlap(sample, index, predates)


def contamination_reason(sample: Mapping, index: BenchmarkIndex, ancestry: Ancestry | None = None) -> Rejected | None:
    """None to keep an edit-sample-like dict, else ``Rejected`` with a reason of ``REASONS`` and
    a detail starting with the instance id (the rules: module notes)."""
    return contamination_verdict(sample, index, ancestry)[0]

"""SWE-bench decontamination of Clean-PR edit samples.

``shipped_index()`` is the ``BenchmarkIndex`` of SWE-bench Lite + Verified shipped in the package
(``transforms/code/data/swebench_index.bin.gz``, rebuilt from the two JSONL files by
``python -m transforms.code.build_swebench_index``); ``load_benchmark_patches(paths)`` builds the
same kind of index from any SWE-bench JSONL files (``instance_id``, ``repo``,
``problem_statement``, ``patch``). ``contamination_reason(sample, index)`` answers None (keep) or
``Rejected(reason, detail)`` with the instance id in the detail. Reasons, checked in this order:

* ``swebench_instance``: the sample's (repo, pr_number) is an instance's pull request (the
  NUMBER of ``owner__repo-NUMBER``), or the sample links that pull request as a reference
  (a backport or follow-up of the gold PR: ``linked_issues`` entry with the same repo/number).
* ``swebench_hunk_overlap``: same repo and path, and a line the sample changes in its
  before-file overlaps the old-file line range of a gold hunk (``@@ -start,len``, context
  lines included, so a change within 3 lines of a gold change counts).
* ``swebench_issue``: a linked issue's "title\\nbody", or the PR's "title\\nbody", contains a
  problem statement: equal after normalization (NFKC, casefold, ``\\w+`` tokens, so markup,
  punctuation, whitespace and CRLF do not matter), or holding at least half
  (``ISSUE_CONTAINMENT``) of the problem statement's distinct word 13-grams. HTML comments are
  dropped first: issue templates keep long boilerplate in them, which made unrelated issues of
  one repository share over half their 13-grams (astropy, scikit-learn). Containment is
  measured on the problem statement's side so a PR body that quotes the issue among other text
  still matches; 13 words in a row are specific enough that unrelated issues share few.

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

An index holds only what the rules compare: instance ids, repos and PR numbers, per repo and
path the gold hunks' declared ranges and line hashes, and per problem statement the SHA-1 of its
normalized text and its distinct 13-gram hashes. An index file (``write_index``/``read_index``)
stores exactly those values, so the shipped index and the JSONL it was built from decide alike.

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
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import xxhash

from transforms.code.intent import clean_text
from transforms.code.search_replace import ApplyError, Block, apply_blocks, changed_spans, split_lines
from transforms.records import Rejected

GRAM_SIZE = 13
ISSUE_CONTAINMENT = 0.5
REASONS = ("swebench_instance", "swebench_hunk_overlap", "swebench_issue")

_INSTANCE_ID = re.compile(r"^(?P<owner>.+?)__(?P<name>.+)-(?P<number>\d+)$")
_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_WORD = re.compile(r"\w+")
_GRAM_BASE = np.uint64(1099511628211)  # FNV-64 prime; products wrap modulo 2**64


# The index shipped in the package (``transforms/code/data/``), built from SWE-bench Lite and
# Verified by ``python -m transforms.code.build_swebench_index`` (see that module).
SHIPPED_INDEX = "swebench_index.bin.gz"
INDEX_FORMAT = b"SHARDSMITH-SWEBENCH-INDEX 1\n"


# --------------------------------------------------------------------------- unified diffs

class DiffHunk(NamedTuple):
    """One ``@@`` hunk: old/new start and length, and the old/new side lines (endings stripped)."""

    old_start: int
    old_length: int
    new_start: int
    new_length: int
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]


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
                    old_left -= 1
                elif tag == "+" and new_left > 0:
                    new_lines.append(text)
                    new_left -= 1
                elif tag != "\\":
                    break
                index += 1
            hunks.append(DiffHunk(old_start, old_length, new_start, new_length, tuple(old_lines), tuple(new_lines)))
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
    if before == after:
        return []
    return [(i1, i2) for i1, i2, _, _ in changed_spans(split_lines(before), split_lines(after))]


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
    """A gold-patch hunk of one instance, in the old file of ``path``: its old/new side lines as
    ``line_hash`` values (relocation only compares lines, so the text is not kept)."""

    instance_id: str
    first_line: int  # closed 1-based range the hunk covers in the old file (see module notes)
    last_line: int
    old_hashes: tuple[int, ...]
    new_hashes: tuple[int, ...]


@dataclass
class BenchmarkIndex:
    """SWE-bench instances indexed for ``contamination_reason``; picklable (plain dicts and arrays).

    Built from SWE-bench JSONL (``load_benchmark_patches``) or read from an index file
    (``read_index``, ``shipped_index``): both hold the same hashes, so they decide alike.
    """

    # where it came from: the index file's name ('' when built from JSONL), and per source file
    # {"file": basename, "rows": rows read, "sha256": of the file's bytes}
    name: str = ""
    sources: list[dict] = field(default_factory=list)
    instance_ids: list[str] = field(default_factory=list)
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
        """One line for a run's notes: the index by name (or its source files) and instance count,
        never a local path."""
        files = ", ".join(source["file"] for source in self.sources)
        if self.name:
            return f"the SWE-bench index {self.name} ({len(self)} instances from {files})"
        return f"SWE-bench files {files} ({len(self)} instances)"

    def repos_for(self, repo: str | None) -> list[str]:
        """Benchmark repos (lowercased) a sample repo names: itself, or by name when it has no owner."""
        if not repo:
            return []
        key = repo.strip().lower()
        if "/" in key:
            return [key] if key in self.repos else []
        return self.repos_by_name.get(key, [])


def _gold_hunk(instance_id: str, hunk: DiffHunk) -> GoldHunk:
    if hunk.old_length == 0:
        first, last = hunk.old_start, hunk.old_start + 1
    else:
        first, last = hunk.old_start, hunk.old_start + hunk.old_length - 1
    return GoldHunk(instance_id, first, last, tuple(map(line_hash, hunk.old_lines)),
                    tuple(map(line_hash, hunk.new_lines)))


def _read_instances(paths: Iterable[str | os.PathLike]) -> tuple[list[dict], list[dict]]:
    """Distinct instances (by id, first file wins, sorted) and a provenance entry per file."""
    instances: dict[str, dict] = {}
    sources = []
    for path in paths:
        with open(path, "rb") as handle:
            data = handle.read()
        rows = 0
        for line in data.decode("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows += 1
                instances.setdefault(row["instance_id"], row)  # Lite and Verified share instances
        sources.append({"file": os.path.basename(os.fspath(path)), "rows": rows,
                        "sha256": hashlib.sha256(data).hexdigest()})
    return [instances[key] for key in sorted(instances)], sources


def load_benchmark_patches(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> BenchmarkIndex:
    """Index SWE-bench JSONL files: PR numbers, gold hunks per repo/path, problem statement fingerprints."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    rows, sources = _read_instances(paths)
    index = BenchmarkIndex(sources=sources)
    gram_arrays: list[np.ndarray] = []
    for row in rows:
        instance_id = row["instance_id"]
        repo = row["repo"].strip().lower()
        index.instance_ids.append(instance_id)
        if repo not in index.repos:
            index.repos.add(repo)
            index.repos_by_name.setdefault(repo.rsplit("/", 1)[-1], []).append(repo)
        match = _INSTANCE_ID.match(instance_id)
        if match:
            index.pull_requests.setdefault((repo, int(match["number"])), instance_id)
        by_path = index.hunks.setdefault(repo, {})
        for file_diff in parse_unified_diff(row.get("patch") or ""):
            path = file_diff.old_path or file_diff.new_path
            by_path.setdefault(path, []).extend(_gold_hunk(instance_id, hunk) for hunk in file_diff.hunks)
        tokens = issue_tokens(row.get("problem_statement"))
        if tokens:
            index.statement_hashes.setdefault(_normalized_hash(tokens), []).append(instance_id)
        grams = gram_hashes(tokens)
        gram_arrays.append(grams)
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


# --------------------------------------------------------------------------- index files

def index_payload(index: BenchmarkIndex) -> bytes:
    """The deterministic uncompressed bytes of an index file (``write_index`` gzips them).

    Layout: ``INDEX_FORMAT``, an 8-byte little-endian header length, a JSON header (sorted
    keys: provenance, instance ids, repos, pull requests, statement hashes, paths, the array
    layout), then little-endian arrays: the distinct line hashes of all gold hunks (sorted,
    uint64), per hunk its old then new lines as indexes into them (uint32), the hunk table
    (int32 rows: path, instance, first line, last line, old count, new count), the 13-gram
    count per instance (uint32) and each instance's sorted distinct 13-gram hashes (uint64).
    Only hashes of the text are kept: hunk lines and problem statements can not be recovered.
    """
    position = {instance_id: n for n, instance_id in enumerate(index.instance_ids)}
    repos = sorted(index.repos)
    repo_position = {repo: n for n, repo in enumerate(repos)}
    paths, hunks = [], []
    for repo in sorted(index.hunks):
        for path in sorted(index.hunks[repo]):
            paths.append([repo_position[repo], path])
            hunks.extend((len(paths) - 1, hunk) for hunk in index.hunks[repo][path])
    line_table = sorted({h for _, hunk in hunks for h in hunk.old_hashes + hunk.new_hashes})
    line_position = {h: n for n, h in enumerate(line_table)}
    hunk_lines = [line_position[h] for _, hunk in hunks for h in hunk.old_hashes + hunk.new_hashes]
    hunk_table = [(path, position[hunk.instance_id], hunk.first_line, hunk.last_line,
                   len(hunk.old_hashes), len(hunk.new_hashes)) for path, hunk in hunks]
    owners = index.gram_owners
    per_instance = np.lexsort((index.gram_hashes, owners)) if len(owners) else np.zeros(0, dtype=np.int64)
    arrays = [
        ("line_hashes", np.array(line_table, dtype="<u8")),
        ("hunk_lines", np.array(hunk_lines, dtype="<u4")),
        ("hunks", np.array(hunk_table, dtype="<i4").reshape(-1)),
        ("gram_counts", np.asarray(index.gram_counts, dtype="<u4")),
        ("grams", np.asarray(index.gram_hashes, dtype="<u8")[per_instance]),
    ]
    header = {
        "gram_size": GRAM_SIZE,
        "sources": index.sources,
        "instance_ids": index.instance_ids,
        "repos": repos,
        "pull_requests": sorted([repo_position[repo], number, position[instance_id]]
                                for (repo, number), instance_id in index.pull_requests.items()),
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
    """A ``BenchmarkIndex`` from ``index_payload`` bytes."""
    if not payload.startswith(INDEX_FORMAT):
        raise ValueError("not a shardsmith SWE-bench index (or another format version)")
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
    index = BenchmarkIndex(name=name, sources=list(header["sources"]), instance_ids=ids)
    for repo in repos:
        index.repos.add(repo)
        index.repos_by_name.setdefault(repo.rsplit("/", 1)[-1], []).append(repo)
    index.pull_requests = {(repos[repo], number): ids[instance] for repo, number, instance in header["pull_requests"]}
    index.statement_hashes = {digest: [ids[i] for i in owners] for digest, owners in header["statement_hashes"]}
    line_table = arrays["line_hashes"].tolist()
    hunk_lines = arrays["hunk_lines"].tolist()
    cursor = 0
    for path_id, instance, first, last, n_old, n_new in arrays["hunks"].reshape(-1, 6).tolist():
        lines = [line_table[i] for i in hunk_lines[cursor:cursor + n_old + n_new]]
        cursor += n_old + n_new
        repo, path = header["paths"][path_id]
        index.hunks.setdefault(repos[repo], {}).setdefault(path, []).append(
            GoldHunk(ids[instance], first, last, tuple(lines[:n_old]), tuple(lines[n_old:])))
    counts = arrays["gram_counts"].astype(np.int64)
    grams = arrays["grams"]
    bounds = np.concatenate([[0], np.cumsum(counts)])
    _set_grams(index, [grams[bounds[n]:bounds[n + 1]] for n in range(len(ids))])
    return index


def read_index(path: str | os.PathLike) -> BenchmarkIndex:
    """An index file written by ``write_index``, named after its file."""
    with open(path, "rb") as handle:
        return parse_index(gzip.decompress(handle.read()), name=os.path.basename(os.fspath(path)))


def shipped_index_path() -> str:
    """The index file shipped in the package (``transforms/code/data/swebench_index.bin.gz``)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", SHIPPED_INDEX)


@functools.lru_cache(maxsize=1)
def shipped_index() -> BenchmarkIndex:
    """The shipped SWE-bench Lite + Verified index, read once per process (treat it as read-only)."""
    return read_index(shipped_index_path())


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


def _occurrences(before_keys: list[int], first_lines: dict[int, list[int]], lines: tuple[int, ...]) -> list[int]:
    """0-based starts where ``lines`` (line hashes) occur as consecutive lines of the file."""
    if not lines:
        return []
    width = len(lines)
    return [start for start in first_lines.get(lines[0], ())
            if tuple(before_keys[start:start + width]) == lines]


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
    except (ApplyError, KeyError):
        return None


def _hunk_overlap_reason(sample: Mapping, index: BenchmarkIndex) -> Rejected | None:
    repos = [repo for repo in index.repos_for(sample.get("repo")) if repo in index.hunks]
    if not repos:
        return None
    for file in sample.get("files") or ():
        paths = [p for p in dict.fromkeys((file.get("previous_path"), file.get("path"))) if p]
        candidates = [(repo, path, index.hunks[repo][path]) for repo in repos for path in paths
                      if path in index.hunks[repo]]
        if not candidates:
            continue
        before = file.get("before") or ""
        after = _file_after(file, before, sample.get("blocks") or ())
        if after is None:
            continue
        changes = [touched_lines(i1, i2) for i1, i2 in changed_line_ranges(before, after)]
        if not changes:
            continue
        before_keys = [line_hash(_line_key(line)) for line in split_lines(before)]
        first_lines: dict[int, list[int]] = {}
        for position, key in enumerate(before_keys):
            first_lines.setdefault(key, []).append(position)
        for repo, path, gold_hunks in candidates:
            for hunk in gold_hunks:
                for gold in _located_ranges(hunk, before_keys, first_lines):
                    for change in changes:
                        if _ranges_overlap(change, gold):
                            return Rejected(
                                "swebench_hunk_overlap",
                                f"{hunk.instance_id}: {path} lines {change[0]}-{change[1]} overlap gold hunk "
                                f"lines {gold[0]}-{gold[1]} (declared {hunk.first_line}-{hunk.last_line})",
                            )
    return None


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


def _issue_reason(sample: Mapping, index: BenchmarkIndex) -> Rejected | None:
    texts = []
    for issue in sample.get("linked_issues") or ():
        title, body = _field(issue, "title"), _field(issue, "body")
        if title or body:
            texts.append((f"linked issue {_field(issue, 'repo')}#{_field(issue, 'number')}",
                          "\n".join(part for part in (title, body) if part)))
    texts.append(("PR body", "\n".join(part for part in (sample.get("title"), sample.get("body")) if part)))
    for source, text in texts:
        match = statement_match(text, index)
        if match is not None:
            instance_id, how = match
            return Rejected("swebench_issue", f"{instance_id}: {source} matches its problem statement ({how})")
    return None


def contamination_reason(sample: Mapping, index: BenchmarkIndex) -> Rejected | None:
    """None to keep an edit-sample-like dict, else ``Rejected`` with a reason of ``REASONS`` and
    a detail starting with the instance id."""
    return (_instance_reason(sample, index) or _hunk_overlap_reason(sample, index)
            or _issue_reason(sample, index))

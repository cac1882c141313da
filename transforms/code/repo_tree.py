"""A repository's files at one commit, for the SFT steps (tree for localisation, distractor contents).

``RepoFiles`` keeps one ``git cat-file --batch`` process per repository (use it as a context
manager, or call ``close``): ``tree(repo_path, commit)`` lists the regular files at a commit
(what ``git ls-tree -r`` lists) by reading the tree objects through that process, each tree
object once while it stays in a bounded cache: consecutive PRs share nearly all their
directories, so a PR costs the trees that changed, not a ``git`` process and the whole tree;
anything unexpected (not a commit, a missing or malformed tree) falls back to ``git ls-tree -r
-z`` and its error. ``contents(...)`` reads a bounded number of files. Git runs with the same
trimmed environment and plumbing-only commands as ``transforms.code.git_history``.

``distractor_candidates`` picks which files are worth reading as distractors before any
contents are known, so a PR of a 50,000-file repository reads a few dozen files, not all:
core files (path rules of ``languages.core_file_reject_reason``: no documentation, vendored or
generated files) the PR does not change, ranked by how many identifier tokens of the path
occur in the intent, then by sharing a directory with an edited file, then by sharing its
language, then by path.
"""
from __future__ import annotations

import functools
import os
import posixpath
import re
import subprocess
from collections import OrderedDict
from typing import Iterable, Mapping

from transforms.contain import contained
from transforms.code.git_history import GIT_CONFIG_ARGS, BlobReader, GitError, decode_text, git_dir_of, git_env
from transforms.code.languages import core_file_reject_reason, language_of
from transforms.code.repo_context import tree_entries
from transforms.code.sft import identifier_tokens

DEFAULT_DISTRACTOR_CANDIDATES = 8
DEFAULT_DISTRACTOR_MAX_BYTES = 100_000
_REGULAR_MODES = (b"100644", b"100755", b"100664")
TREE_CACHE_ENTRIES = 200_000  # tree entries kept across PRs per RepoFiles (a few tens of MB at most)
_OBJECT_NAME = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_COMMIT_TREE = re.compile(rb"tree ([0-9a-f]{40}|[0-9a-f]{64})\n")


def tree_files(git_dir: str, commit: str) -> list[tuple[str, str]]:
    """(path, blob sha) of every regular file at ``commit``, sorted by path."""
    with contained(git_env()) as env:
        proc = subprocess.run(["git", "--git-dir=" + git_dir, *GIT_CONFIG_ARGS, "ls-tree", "-r", "-z", "--full-tree",
                               "--end-of-options", commit],
                              capture_output=True, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    if proc.returncode != 0:
        raise GitError(f"git ls-tree {commit} failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    files = []
    for entry in proc.stdout.split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        mode, kind, sha = meta.split(b" ")
        if kind == b"blob" and mode in _REGULAR_MODES:
            files.append((path.decode("utf-8", "backslashreplace"), sha.decode("ascii")))
    return sorted(files)


@functools.lru_cache(maxsize=1 << 16)
def _candidate_terms(path: str) -> tuple[str, frozenset[str]] | None:
    """(language, identifier tokens of the path) of a core path, None for any other path.

    Cached: every PR of a repository ranks nearly the same tree, and the path rules (Linguist's
    vendor patterns above all) cost far more than the ranking itself."""
    language = language_of(path)
    if language is None or core_file_reject_reason(path) is not None:
        return None
    return language, frozenset(identifier_tokens(path.replace("/", " ").replace(".", " ")))


def distractor_candidates(paths: Iterable[str], edited_paths: Iterable[str], intent: str,
                          limit: int = DEFAULT_DISTRACTOR_CANDIDATES, excluded: Iterable[str] = ()) -> list[str]:
    """Up to ``limit`` core paths, none of ``edited_paths`` or ``excluded`` (the other paths the
    PR changes), most promising first (module notes)."""
    edited = set(edited_paths)
    skipped = edited | set(excluded)
    intent_tokens = set(identifier_tokens(intent))
    edited_dirs = {posixpath.dirname(p) for p in edited}
    edited_languages = {language_of(p) for p in edited}
    ranked = []
    for path in paths:
        terms = None if path in skipped else _candidate_terms(path)
        if terms is None:
            continue
        language, path_tokens = terms
        shared = len(intent_tokens & path_tokens)
        ranked.append((-shared, posixpath.dirname(path) not in edited_dirs, language not in edited_languages, path))
    ranked.sort()
    return [entry[-1] for entry in ranked[:max(0, limit)]]


def _is_regular(mode: bytes) -> bool:
    # git reads any 100xxx mode as a regular file (canon_mode), and ls-tree -r lists them all
    return len(mode) == 6 and mode.startswith(b"100") and mode.isdigit()


def _is_directory(mode: bytes) -> bool:
    return mode in (b"40000", b"040000")


class _TreeCache:
    """Parsed tree objects (sha -> [(mode, name, hex sha)]), least recently used dropped first
    once they hold more than ``max_entries`` entries in all."""

    def __init__(self, max_entries: int | None = None):
        self.max_entries, self.size = TREE_CACHE_ENTRIES if max_entries is None else max_entries, 0
        self._trees: OrderedDict[str, list[tuple[bytes, bytes, str]]] = OrderedDict()

    def get(self, sha: str) -> list[tuple[bytes, bytes, str]] | None:
        entries = self._trees.get(sha)
        if entries is not None:
            self._trees.move_to_end(sha)
        return entries

    def put(self, sha: str, entries: list[tuple[bytes, bytes, str]]) -> None:
        self._trees[sha] = entries
        self.size += len(entries)
        while self.size > self.max_entries and len(self._trees) > 1:
            _, dropped = self._trees.popitem(last=False)
            self.size -= len(dropped)


def _walk_tree(reader: BlobReader, commit: str, cache: _TreeCache) -> list[tuple[str, str]] | None:
    """(path, blob sha) of the regular files at ``commit`` read through ``reader``, sorted by
    path (``tree_files``' answer); None when something is not as expected (the caller asks git)."""
    raw = reader.read([commit]).get(commit)
    found = _COMMIT_TREE.match(raw) if isinstance(raw, bytes) else None
    if found is None:
        return None
    root = found.group(1).decode("ascii")
    hash_size = len(root) // 2
    files: list[tuple[str, str]] = []
    level = [(b"", root)]
    while level:
        entries_of = {}
        for sha in dict.fromkeys(sha for _, sha in level):
            cached = cache.get(sha)
            if cached is not None:
                entries_of[sha] = cached
        missing = [sha for _, sha in level if sha not in entries_of]
        for sha, data in (reader.read(missing).items() if missing else ()):
            entries = tree_entries(data, hash_size) if isinstance(data, bytes) else None
            if entries is None:
                return None
            entries_of[sha] = [(mode, name, raw_sha.hex()) for mode, name, raw_sha in entries]
            cache.put(sha, entries_of[sha])
        next_level = []
        for prefix, sha in level:
            for mode, name, entry_sha in entries_of[sha]:
                if _is_directory(mode):
                    next_level.append((prefix + name + b"/", entry_sha))
                elif _is_regular(mode):
                    files.append(((prefix + name).decode("utf-8", "backslashreplace"), entry_sha))
        level = next_level
    return sorted(files)


class RepoFiles:
    """Trees and file contents of local clones, with one cat-file process per repository."""

    def __init__(self) -> None:
        self._git_dirs: dict[str, str] = {}
        self._readers: dict[str, BlobReader] = {}
        self._trees: dict[str, _TreeCache] = {}

    def __enter__(self) -> "RepoFiles":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End every cat-file process."""
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        self._trees.clear()

    def _git_dir(self, repo_path: str) -> str:
        git_dir = self._git_dirs.get(repo_path)
        if git_dir is None:
            git_dir = self._git_dirs[repo_path] = git_dir_of(repo_path)
        return git_dir

    def _reader(self, git_dir: str) -> BlobReader:
        reader = self._readers.get(git_dir)
        if reader is None:
            reader = self._readers[git_dir] = BlobReader(git_dir)
        return reader

    def tree(self, repo_path: str, commit: str | None) -> dict[str, str]:
        """path -> blob sha of the regular files at ``commit`` ({} for no commit)."""
        if not commit:
            return {}
        git_dir = self._git_dir(repo_path)
        if _OBJECT_NAME.fullmatch(commit):
            walked = _walk_tree(self._reader(git_dir), commit, self._trees.setdefault(git_dir, _TreeCache()))
            if walked is not None:
                return dict(walked)
        return dict(tree_files(git_dir, commit))

    def contents(self, repo_path: str, blobs: Mapping[str, str], paths: Iterable[str],
                 max_bytes: int = DEFAULT_DISTRACTOR_MAX_BYTES) -> dict[str, str]:
        """path -> text of the given paths (binary, missing and larger-than-``max_bytes`` files left out)."""
        wanted = [(path, blobs[path]) for path in paths if path in blobs]
        if not wanted:
            return {}
        data = self._reader(self._git_dir(repo_path)).read([sha for _, sha in wanted], max_bytes)
        out = {}
        for path, sha in wanted:
            raw = data.get(sha)
            text = decode_text(raw) if isinstance(raw, bytes) else None
            if text is not None:
                out[path] = text
        return out

    def sft_context(self, repo_path: str, commit: str | None, edited_paths: Iterable[str], intent: str,
                    limit: int = DEFAULT_DISTRACTOR_CANDIDATES,
                    excluded: Iterable[str] = ()) -> tuple[list[str], dict[str, str]]:
        """(every path at ``commit``, contents of the best distractor candidates) for ``build_sft_examples``."""
        blobs = self.tree(os.fspath(repo_path), commit)
        candidates = distractor_candidates(blobs, edited_paths, intent, limit, excluded)
        return sorted(blobs), self.contents(os.fspath(repo_path), blobs, candidates)

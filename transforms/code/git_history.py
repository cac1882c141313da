"""Raw pull requests from a local git clone (Clean-PR input 1), as ``RAW_PR_SCHEMA`` records.

Pure functions, no Beam. ``pr_records(path)`` walks the first-parent history of the default
branch and yields one raw PR record per pull request found:

* a merge commit whose subject is ``Merge pull request #N from user/branch``: base = first
  parent, head = the merge; title = the first line of the message body (GitHub writes the PR
  title there), body = the rest; author = the author of the second parent (the PR branch),
  not the person who merged;
* a non-merge commit whose subject ends with ``(#N)`` (GitHub squash merge): base = its parent,
  head = the commit; title = the subject without `` (#N)``, body = the rest of the message;
* a ``refs/pull/N/head`` ref (``git fetch origin 'refs/pull/*:refs/pull/*'``, or a
  ``git clone --mirror``) whose commit is not reachable from the branch and whose number no
  merge/squash commit claimed: an unmerged PR, emitted with ``merged=False``, ``base_sha=None``
  and no files (the pipeline rejects it as ``unmerged`` first, so its contents would only
  bloat the rejects). Two kinds of heads emit nothing: heads reachable from the branch whose
  number matched nothing (fast-forwarded or merged under another message: one PR can no
  longer be told apart from the commits around it), and heads whose commit was rebased onto
  the branch (``Rebase and merge`` rewrites commits; detected by a first-parent commit with
  the same author e-mail, author time and subject).

Numbers are unique per repository: when several commits claim ``#N`` the oldest wins.
Records come oldest merge first, then unmerged PRs by number.

Authors: a GitHub no-reply e-mail (``123+login@users.noreply.github.com`` or
``login@users.noreply.github.com``) gives the login, ``[bot]`` suffix kept; otherwise the
author name stands in for the login. ``author_type`` is ``Bot`` when the login ends with
``[bot]``, else ``User``. ``created_at`` is the author date (of the PR branch head for merges),
``merged_at`` the committer date of the merge/squash commit, both ISO 8601 UTC.

Files come from ``git diff-tree -r -z -M`` (rename detection, paths never quoted) run once per
repository over all PRs, and contents from one ``git cat-file --batch`` process per
repository. Contents are decoded as strict UTF-8 with bytes kept exactly (CRLF, BOM, no final
newline). A side with a NUL in its first 8000 bytes or invalid UTF-8 makes the file binary:
``is_binary=True``, both contents null. A side larger than ``max_file_bytes`` is withheld:
both contents null and ``is_binary=None`` (not inspected) -- ``is_withheld(file)`` tells the
pipeline to reject it as ``oversized``. Symlinks (mode 120000) and submodules (160000) are
not files with contents and are left out; a type change between a regular file and one of
them is reported as the regular file's deletion or addition.

Git runs with a trimmed environment (no system/global config, ``LC_ALL=C``, no replace
objects, no lazy locks) and plumbing commands only (``rev-parse``, ``rev-list``,
``for-each-ref``, ``diff-tree``, ``cat-file`` without ``--filters``/``--textconv``), so a
hostile repository cannot run hooks, filters, textconv or external diff programs. Every git
process runs in its own session, tagged (``transforms.contain.contained``): whatever it leaves
behind is killed when the call ends.
Partial clones (``--filter=blob:none``) are not supported: reading a missing blob would
fetch it from the network.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from transforms.contain import contained
from transforms.code.repo_context import read_repo_context
from datetime import datetime, timezone
from typing import IO, Iterable, Iterator

# The Stack / StarCoder rule (transforms.quality.code.MAX_BYTES): bigger files are rejected
# as 'oversized' anyway, so their contents are not worth reading into records.
MAX_FILE_BYTES = 1_000_000
BINARY_SNIFF_BYTES = 8000
# cat-file requests written before reading the answers; keeps a request chunk far below a
# pipe buffer (64 KiB) so neither side can block on the other.
CAT_FILE_CHUNK = 256

MERGE_SUBJECT = re.compile(r"^Merge pull request #(\d+) from (\S+)")
SQUASH_SUFFIX = re.compile(r"\s*\(#(\d+)\)\s*$")
PULL_HEAD_REF = re.compile(r"^refs/pull/(\d+)/head$")
NOREPLY_EMAIL = re.compile(r"^(?:\d+\+)?([^@+]+)@users\.noreply\.github\.com$", re.IGNORECASE)
GITHUB_URL = re.compile(r"github\.com[:/]+([^/\s]+)/([^/\s]+?)(?:\.git)?/*$", re.IGNORECASE)

DEFAULT_BRANCH_REFS = ("refs/remotes/origin/HEAD", "HEAD", "refs/heads/main", "refs/heads/master")
GIT_CONFIG_ARGS = (
    "-c", "core.quotepath=off",
    "-c", "core.fsmonitor=false",
    "-c", "core.hooksPath=" + os.devnull,
    "-c", "log.showSignature=false",
    "-c", "i18n.logOutputEncoding=UTF-8",
)
# NUL-separated commit fields for rev-list --format; see _read_commits.
COMMIT_FORMAT = "%H%x00%P%x00%an%x00%ae%x00%at%x00%ct%x00%B%x00"
COMMIT_FIELDS = 7

REGULAR_FILE_MODES = ("100644", "100755", "100664")


class GitError(RuntimeError):
    """A git command failed; the message carries the command and git's stderr."""


@dataclass(frozen=True)
class PrCommit:
    """One pull request found in a clone: where its before/after trees are and who wrote it."""

    number: int
    kind: str  # 'merge', 'squash' or 'unmerged'
    base_sha: str | None  # before: first parent / parent; None for a root commit or an unmerged PR
    head_sha: str  # after: the merge or squash commit; the PR head for an unmerged PR
    title: str
    body: str | None
    author_name: str
    author_email: str
    author_login: str
    author_type: str
    created_at: str | None
    merged_at: str | None

    @property
    def merged(self) -> bool:
        return self.kind != "unmerged"


@dataclass(frozen=True)
class _Commit:
    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_time: int
    commit_time: int
    message: str

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0].strip()


@dataclass(frozen=True)
class _Change:
    status: str  # added / modified / deleted / renamed
    path: str
    previous_path: str | None
    before_blob: str | None
    after_blob: str | None


# --------------------------------------------------------------------------- running git


def git_env() -> dict[str, str]:
    """The trimmed environment every git call here runs with."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LC_ALL": "C",
        "LANG": "C",
        "HOME": os.devnull,  # git treats $HOME/.gitconfig as absent (ENOTDIR)
        "XDG_CONFIG_HOME": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_TERMINAL_PROMPT": "0",
    }


def _git_argv(git_dir: str, *args: str) -> list[str]:
    return ["git", "--git-dir=" + git_dir, *GIT_CONFIG_ARGS, *args]


def _run_git(git_dir: str, *args: str, input_bytes: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    argv = _git_argv(git_dir, *args)
    stdin = None if input_bytes is not None else subprocess.DEVNULL
    with contained(git_env()) as env:
        proc = subprocess.run(argv, input=input_bytes, stdin=stdin, capture_output=True, env=env,
                              start_new_session=True)
    if check and proc.returncode != 0:
        raise GitError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc


def git_dir_of(repo_path: str | os.PathLike) -> str:
    """Absolute git directory of a bare or non-bare repository rooted exactly at ``repo_path``.

    Raises ``ValueError("<path>: not a git repository")`` otherwise (an enclosing repository
    does not count).
    """
    path = os.path.abspath(os.fspath(repo_path))
    if not os.path.isdir(path):
        raise ValueError(f"{repo_path}: not a git repository")
    with contained({**git_env(), "GIT_CEILING_DIRECTORIES": os.path.dirname(path)}) as env:
        proc = subprocess.run(
            ["git", "-C", path, *GIT_CONFIG_ARGS, "rev-parse", "--absolute-git-dir"],
            capture_output=True, env=env, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    stderr = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        if "dubious ownership" in stderr:
            raise GitError(f"{repo_path}: {stderr}")
        raise ValueError(f"{repo_path}: not a git repository")
    return proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def _resolve_commit(git_dir: str, rev: str) -> str | None:
    proc = _run_git(git_dir, "rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}", check=False)
    return proc.stdout.decode("ascii").strip() if proc.returncode == 0 else None


def branch_tip(repo_path: str | os.PathLike, branch: str | None = None) -> str | None:
    """Commit at the tip of ``branch``, or of the default branch; None for an empty repository.

    The default branch is the first of ``refs/remotes/origin/HEAD`` (a non-bare clone may have
    a feature branch checked out), ``HEAD`` (bare clones and mirrors), ``main``, ``master``.
    A named branch is looked up as given, under ``refs/heads/`` and under
    ``refs/remotes/origin/``; a name that resolves to nothing raises ``ValueError``.
    """
    return _branch_tip(git_dir_of(repo_path), branch, repo_path)


def _branch_tip(git_dir: str, branch: str | None, repo_path: str | os.PathLike) -> str | None:
    if branch is None:
        candidates: Iterable[str] = DEFAULT_BRANCH_REFS
    else:
        candidates = (branch, "refs/heads/" + branch, "refs/remotes/origin/" + branch)
    for rev in candidates:
        sha = _resolve_commit(git_dir, rev)
        if sha:
            return sha
    if branch is not None:
        raise ValueError(f"{repo_path}: branch {branch!r} not found")
    return None


# --------------------------------------------------------------------------- commits


def _read_commits(git_dir: str, args: list[str], stdin_lines: list[str] | None = None) -> Iterator[_Commit]:
    """Stream ``rev-list --format=COMMIT_FORMAT`` output as commits.

    rev-list prints ``commit <sha>\\n`` before each formatted commit; splitting on NUL gives
    groups of ``COMMIT_FIELDS`` tokens whose first one carries that header before the sha.
    Git refuses NUL bytes in names and messages, so the split is exact.
    """
    argv = _git_argv(git_dir, "rev-list", "--format=" + COMMIT_FORMAT, *args)
    with contained(git_env()) as env:
        yield from _stream_commits(argv, env, stdin_lines)


def _stream_commits(argv: list[str], env: dict[str, str], stdin_lines: list[str] | None) -> Iterator[_Commit]:
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin_lines is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    if stdin_lines is not None:
        assert proc.stdin is not None
        # rev-list reads all of stdin before printing anything, so writing first cannot block.
        proc.stdin.write("".join(line + "\n" for line in stdin_lines).encode("ascii"))
        proc.stdin.close()
    assert proc.stdout is not None and proc.stderr is not None
    pending: list[bytes] = []
    tail = b""
    try:
        while True:
            chunk = proc.stdout.read(1 << 20)
            if not chunk:
                break
            tokens = (tail + chunk).split(b"\0")
            tail = tokens.pop()
            pending.extend(tokens)
            while len(pending) >= COMMIT_FIELDS:
                group, pending = pending[:COMMIT_FIELDS], pending[COMMIT_FIELDS:]
                yield _commit_from_fields(group)
    finally:
        proc.stdout.close()
        stderr = proc.stderr.read()
        proc.stderr.close()
        returncode = proc.wait()
    if returncode != 0:
        raise GitError(f"{' '.join(argv)} failed ({returncode}): {stderr.decode('utf-8', 'replace').strip()}")


def _commit_from_fields(fields: list[bytes]) -> _Commit:
    header_and_sha, parents, name, email, author_time, commit_time, message = fields
    # Metadata only (never file contents): a stray invalid byte becomes U+FFFD.
    return _Commit(
        sha=header_and_sha.rsplit(b"\n", 1)[-1].decode("ascii"),
        parents=tuple(parents.decode("ascii").split()),
        author_name=name.decode("utf-8", "replace"),
        author_email=email.decode("utf-8", "replace"),
        author_time=int(author_time or 0),
        commit_time=int(commit_time or 0),
        message=message.decode("utf-8", "replace"),
    )


def iso_utc(timestamp: int) -> str:
    """Seconds since the epoch as ISO 8601 UTC, e.g. '2024-05-01T12:00:00Z'."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def login_from_author(name: str, email: str) -> str:
    """GitHub login for a commit author: from a no-reply e-mail when there is one, else the name."""
    match = NOREPLY_EMAIL.match(email.strip())
    return match.group(1) if match else name.strip()


def author_type_of(login: str) -> str:
    """'Bot' for a login ending with '[bot]', else 'User'."""
    return "Bot" if login.lower().endswith("[bot]") else "User"


def _split_message(message: str) -> tuple[str, str | None]:
    """(first line, the rest with surrounding blank lines removed, or None when empty)."""
    first, _, rest = message.strip().partition("\n")
    rest = rest.strip()
    return first.strip(), rest or None


def _pr_commit(number: int, kind: str, commit: _Commit, base: str | None, author: _Commit,
               title: str, body: str | None) -> PrCommit:
    login = login_from_author(author.author_name, author.author_email)
    return PrCommit(
        number=number, kind=kind, base_sha=base, head_sha=commit.sha, title=title, body=body,
        author_name=author.author_name, author_email=author.author_email,
        author_login=login, author_type=author_type_of(login),
        created_at=iso_utc(author.author_time),
        merged_at=iso_utc(commit.commit_time) if kind != "unmerged" else None,
    )


def _identity(commit: _Commit) -> tuple[str, int, str]:
    """What survives a rebase: author e-mail, author time, subject."""
    return commit.author_email.lower(), commit.author_time, commit.subject


def list_pr_commits(repo_path: str | os.PathLike, branch: str | None = None) -> list[PrCommit]:
    """Pull requests in a clone: merged ones in first-parent order (oldest first), then unmerged by number."""
    git_dir = git_dir_of(repo_path)
    tip = _branch_tip(git_dir, branch, repo_path)
    if tip is None:
        return []
    return _list_pr_commits(git_dir, tip)


def _list_pr_commits(git_dir: str, tip: str) -> list[PrCommit]:
    candidates: list[tuple[int, str, _Commit]] = []
    identities: set[tuple[str, int, str]] = set()
    seen_numbers: set[int] = set()
    for commit in _read_commits(git_dir, ["--first-parent", "--reverse", tip]):
        identities.add(_identity(commit))
        subject = commit.subject
        merge = MERGE_SUBJECT.match(subject)
        squash = SQUASH_SUFFIX.search(subject)
        if merge and len(commit.parents) >= 2:
            number, kind = int(merge.group(1)), "merge"
        elif squash and len(commit.parents) <= 1:
            number, kind = int(squash.group(1)), "squash"
        else:
            continue
        if number not in seen_numbers:  # the oldest commit claiming #N wins
            seen_numbers.add(number)
            candidates.append((number, kind, commit))

    branch_heads = {c.parents[1] for _, kind, c in candidates if kind == "merge"}
    heads_by_sha = _commits_by_sha(git_dir, sorted(branch_heads))

    prs: list[PrCommit] = []
    for number, kind, commit in candidates:
        if kind == "merge":
            head = heads_by_sha[commit.parents[1]]
            title, body = _split_message(commit.message.strip().partition("\n")[2])
            if not title:  # no PR title in the message: the branch head's subject stands in
                title, body = _split_message(head.message)[0], None
            prs.append(_pr_commit(number, kind, commit, commit.parents[0], head, title, body))
        else:
            subject, body = _split_message(commit.message)
            title = SQUASH_SUFFIX.sub("", subject)
            prs.append(_pr_commit(number, kind, commit, commit.parents[0] if commit.parents else None, commit, title, body))

    prs.extend(_unmerged_prs(git_dir, tip, seen_numbers, identities))
    return prs


def _commits_by_sha(git_dir: str, shas: list[str]) -> dict[str, _Commit]:
    if not shas:
        return {}
    return {c.sha: c for c in _read_commits(git_dir, ["--no-walk=unsorted", "--stdin"], shas)}


def _unmerged_prs(git_dir: str, tip: str, merged_numbers: set[int],
                  identities: set[tuple[str, int, str]]) -> list[PrCommit]:
    """``refs/pull/N/head`` refs not reachable from ``tip``, minus merged numbers and rebased heads."""
    proc = _run_git(git_dir, "for-each-ref", "--format=%(objectname) %(refname)", "--no-merged=" + tip, "refs/pull/")
    heads: dict[int, str] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        sha, _, ref = line.partition(" ")
        match = PULL_HEAD_REF.match(ref)
        if match and int(match.group(1)) not in merged_numbers:
            heads[int(match.group(1))] = sha
    commits = _commits_by_sha(git_dir, sorted(set(heads.values())))
    unmerged = []
    for number in sorted(heads):
        head = commits[heads[number]]
        if _identity(head) in identities:  # rebased onto the branch: merged, but not as one commit
            continue
        title, body = _split_message(head.message)
        unmerged.append(_pr_commit(number, "unmerged", head, None, head, title, body))
    return unmerged


def pr_commit_pairs(repo_path: str | os.PathLike, branch: str | None = None) -> list[tuple[str | None, str]]:
    """(before, after) commits of the merged PRs, in the order ``pr_records`` reads them.

    ``before`` is always ``after``'s first parent (None for a root commit), so
    ``git log -p --no-walk=unsorted --diff-merges=first-parent --stdin`` fed the ``after``
    shas prints exactly these diffs (``git_log_patch`` runs it).
    """
    return [(pr.base_sha, pr.head_sha) for pr in list_pr_commits(repo_path, branch) if pr.merged]


def git_log_patch(repo_path: str | os.PathLike, pairs: list[tuple[str | None, str]]) -> int:
    """Run ``git log -p`` over the ``after`` commits of ``pairs``; answer the patch size in bytes.

    The floor a benchmark compares ``pr_records`` against: producing the same diffs at all.
    """
    git_dir = git_dir_of(repo_path)
    if not pairs:  # with nothing on stdin, git log would walk HEAD
        return 0
    stdin = "".join(after + "\n" for _, after in pairs).encode("ascii")
    proc = _run_git(git_dir, "log", "-p", "--no-walk=unsorted", "--diff-merges=first-parent", "-M",
                    "--no-ext-diff", "--no-textconv", "--no-color", "--stdin", input_bytes=stdin)
    return len(proc.stdout)


# --------------------------------------------------------------------------- changed files


def _regular(mode: str) -> bool:
    return mode in REGULAR_FILE_MODES


def _decode_path(raw: bytes) -> str:
    # Paths are bytes in git; a non-UTF-8 one becomes readable text rather than invalid UTF-8.
    return raw.decode("utf-8", "backslashreplace")


def _change(old_mode: str, new_mode: str, old_blob: str, new_blob: str, status: str,
            old_path: str, new_path: str) -> _Change | None:
    """One diff-tree entry as a file change; None for symlinks, submodules and the like."""
    old_file, new_file = _regular(old_mode), _regular(new_mode)
    if not old_file and not new_file:
        return None
    if not old_file:  # added, or a symlink/submodule became a regular file
        return _Change("added", new_path, None, None, new_blob)
    if not new_file:  # deleted, or a regular file became a symlink/submodule
        return _Change("deleted", old_path, None, old_blob, None)
    if status.startswith("R") and old_path != new_path:
        return _Change("renamed", new_path, old_path, old_blob, new_blob)
    return _Change("modified", new_path, None, old_blob, new_blob)


def _parse_diff_tree(output: bytes, count: int) -> list[list[_Change]]:
    """Split ``diff-tree --stdin -z --raw --always`` output into one change list per input line.

    Each input line yields a ``<sha>`` header token, then per change a ``:modes shas status``
    token followed by one path (two for a rename or copy).
    """
    tokens = output.split(b"\0")
    if tokens and tokens[-1] == b"":
        tokens.pop()
    groups: list[list[_Change]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token.startswith(b":"):
            groups.append([])
            continue
        old_mode, new_mode, old_blob, new_blob, status = token[1:].decode("ascii").split(" ")
        old_path = _decode_path(tokens[i])
        i += 1
        new_path = old_path
        if status[0] in "RC":
            new_path = _decode_path(tokens[i])
            i += 1
        change = _change(old_mode, new_mode, old_blob, new_blob, status, old_path, new_path)
        if change is not None:
            groups[-1].append(change)
    if len(groups) != count:
        raise GitError(f"diff-tree answered {len(groups)} diffs for {count} requests")
    return groups


def _changes_for(git_dir: str, prs: list[PrCommit]) -> list[list[_Change]]:
    """Changed files of every PR, from one ``git diff-tree --stdin`` process."""
    if not prs:
        return []
    # '<after> <before>' diffs before -> after (before acts as the only parent); '<after>' alone
    # is a root commit, diffed against the empty tree thanks to --root.
    lines = "".join(f"{pr.head_sha} {pr.base_sha}\n" if pr.base_sha else f"{pr.head_sha}\n" for pr in prs)
    proc = _run_git(git_dir, "diff-tree", "--stdin", "-r", "-z", "-M", "--raw", "--no-abbrev",
                    "--always", "--root", input_bytes=lines.encode("ascii"))
    return _parse_diff_tree(proc.stdout, len(prs))


# --------------------------------------------------------------------------- blob contents


class Oversized:
    """Marker for a blob larger than the size limit (its bytes were skipped, not read)."""

    def __init__(self, size: int):
        self.size = size

    def __repr__(self) -> str:
        return f"Oversized({self.size})"


class BlobReader:
    """One ``git cat-file --batch`` process serving blob contents in bulk.

    Use as a context manager; ``read(shas, max_bytes)`` answers ``{sha: bytes | Oversized | None}``
    (None: the object is missing, e.g. in a shallow clone).
    """

    def __init__(self, git_dir: str):
        self._contained = contained(git_env())
        env = self._contained.__enter__()
        self._proc = subprocess.Popen(_git_argv(git_dir, "cat-file", "--batch"), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                      start_new_session=True)

    def __enter__(self) -> "BlobReader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the cat-file process."""
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc.wait()
        self._contained.__exit__(None, None, None)

    def read(self, shas: Iterable[str], max_bytes: int | None = None) -> dict[str, bytes | Oversized | None]:
        """Contents of the given blobs; blobs over ``max_bytes`` come back as ``Oversized``."""
        unique = list(dict.fromkeys(shas))
        out: dict[str, bytes | Oversized | None] = {}
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        for start in range(0, len(unique), CAT_FILE_CHUNK):
            chunk = unique[start:start + CAT_FILE_CHUNK]
            stdin.write("".join(sha + "\n" for sha in chunk).encode("ascii"))
            stdin.flush()
            for sha in chunk:
                out[sha] = self._read_one(stdout, max_bytes)
        return out

    def _read_one(self, stdout: IO[bytes], max_bytes: int | None) -> bytes | Oversized | None:
        header = stdout.readline()
        if not header:
            raise GitError("git cat-file --batch ended unexpectedly")
        parts = header.split()
        if len(parts) != 3:  # '<sha> missing' / '<sha> ambiguous'
            return None
        size = int(parts[2])
        if max_bytes is not None and size > max_bytes:
            remaining = size + 1
            while remaining:
                skipped = stdout.read(min(remaining, 1 << 20))
                if not skipped:
                    raise GitError("git cat-file --batch ended inside an object")
                remaining -= len(skipped)
            return Oversized(size)
        data = stdout.read(size + 1)
        if len(data) != size + 1:
            raise GitError("git cat-file --batch ended inside an object")
        return data[:-1]


def decode_text(data: bytes) -> str | None:
    """File bytes as text, byte-exact; None when binary (NUL in the first 8000 bytes, or not UTF-8)."""
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def is_withheld(file: dict) -> bool:
    """True for a file whose contents were left out because a side exceeded ``max_file_bytes``.

    The pipeline rejects such a PR file as ``oversized``; git input marks it with
    ``is_binary=None`` (not inspected) and null contents.
    """
    return file.get("is_binary") is None and file.get("before") is None and file.get("after") is None


def _file_record(change: _Change, blobs: dict[str, bytes | Oversized | None]) -> dict:
    sides = [blobs.get(sha) if sha else b"" for sha in (change.before_blob, change.after_blob)]
    record = {"path": change.path, "previous_path": change.previous_path, "status": change.status,
              "before": None, "after": None, "patch": None, "is_binary": False}
    if any(isinstance(side, Oversized) for side in sides):
        record["is_binary"] = None
        return record
    texts = [None if side is None else decode_text(side) for side in sides]
    if any(side is not None and text is None for side, text in zip(sides, texts)):
        record["is_binary"] = True
        return record
    record["before"] = texts[0] if change.before_blob else None
    record["after"] = texts[1] if change.after_blob else None
    return record


# --------------------------------------------------------------------------- records


def repo_name_from_url(url: str) -> str | None:
    """'owner/name' from a GitHub remote URL (https, ssh or scp-style), else None."""
    match = GITHUB_URL.search(url.strip())
    return f"{match.group(1)}/{match.group(2)}" if match else None


def repo_name_of(repo_path: str | os.PathLike) -> str:
    """'owner/name' from the ``origin`` remote when it is on GitHub, else the directory name."""
    git_dir = git_dir_of(repo_path)
    return _repo_name(git_dir, repo_path)


def _repo_name(git_dir: str, repo_path: str | os.PathLike) -> str:
    proc = _run_git(git_dir, "config", "--get", "remote.origin.url", check=False)
    from_url = repo_name_from_url(proc.stdout.decode("utf-8", "replace")) if proc.returncode == 0 else None
    if from_url:
        return from_url
    name = os.path.basename(os.path.abspath(os.fspath(repo_path)).rstrip(os.sep))
    if name == ".git":
        name = os.path.basename(os.path.dirname(os.path.abspath(os.fspath(repo_path))))
    return name[:-4] if name.endswith(".git") and len(name) > 4 else name


def pr_records(repo_path: str | os.PathLike, repo_name: str | None = None,
               max_file_bytes: int | None = MAX_FILE_BYTES, branch: str | None = None) -> Iterator[dict]:
    """Raw PR records (``RAW_PR_SCHEMA``) of a local clone, oldest merge first, then unmerged PRs.

    ``repo_name`` defaults to ``repo_name_of(repo_path)``; ``max_file_bytes=None`` reads every
    file whatever its size.
    """
    git_dir = git_dir_of(repo_path)
    tip = _branch_tip(git_dir, branch, repo_path)
    if tip is None:
        return
    prs = _list_pr_commits(git_dir, tip)
    if not prs:
        return
    name = repo_name or _repo_name(git_dir, repo_path)
    merged = [pr for pr in prs if pr.merged]
    changes = iter(_changes_for(git_dir, merged))  # aligned with the merged PRs, in order
    with BlobReader(git_dir) as reader:
        for pr in prs:
            files: list[dict] = []
            if pr.merged:
                pr_changes = next(changes)
                wanted = [sha for c in pr_changes for sha in (c.before_blob, c.after_blob) if sha]
                blobs = reader.read(wanted, max_file_bytes)
                files = [_file_record(change, blobs) for change in pr_changes]
            context = read_repo_context(reader, pr.base_sha, pr.head_sha, files) if files else {}
            yield {
                "repo": name, "number": pr.number, "title": pr.title, "body": pr.body,
                "author_login": pr.author_login, "author_type": pr.author_type, "merged": pr.merged,
                "created_at": pr.created_at, "merged_at": pr.merged_at,
                "base_sha": pr.base_sha, "head_sha": pr.head_sha,
                "files": files, "patch": None, "linked_issues": [],
                "gitattributes": context.get("gitattributes", []), "package_markers": context.get("package_markers", []),
            }

"""Raw pull requests from a local git clone (Clean-PR input 1), as ``RAW_PR_SCHEMA`` records.

Pure functions, no Beam. ``pr_records(path)`` reads every commit reachable from every local
and remote-tracking branch (``refs/heads/*``, ``refs/remotes/*`` without symbolic refs such as
``origin/HEAD``; ``branch=`` narrows it to one branch; a repository without branches reads its
HEAD) in one ``rev-list``, and yields one record per pull request the clone knows of: every
``refs/pull/N/head`` (``git fetch origin 'refs/pull/*:refs/pull/*'``, or ``git clone --mirror``)
and every number a merge or squash commit on a branch claims. A PR is merged when its change
reached any branch (a release or side branch too); the rule that found it is ``PrCommit.rule``
(the records' private ``MERGE_RULE_FIELD``):

* ``merge_head``: a merge commit whose non-first parent is the ``refs/pull/N/head`` commit,
  whatever its subject (GitHub's merge button with the PR title writes ``Title (#N)``);
* ``merge_subject``: a merge commit whose subject is ``Merge pull request #N from user/branch``,
  unless it names a fork's own PR, merged inside the fork before its branch reached this
  repository: the clone's ``refs/pull/N/head`` is another commit than the merged one, or more
  than one such merge names #N (werkzeug's history holds nine ``Merge pull request #1 from
  ...`` of forks; one fork merge took the number of werkzeug's own #5). Such a merge names no
  PR of this repository;
  for both merge rules base = first parent, head = the merge, author = the author of the PR
  branch head (not the person who merged); title = the first line of the message body for a
  ``Merge pull request`` subject (GitHub writes the PR title there), else the subject without
  ``(#N)``;
* ``squash``: a non-merge commit naming ``(#N)`` in its subject (the last one, usually at the
  end): base = its parent, head = the commit, title = the subject without ``(#N)``;
* ``rebase``: a ``refs/pull/N/head`` no branch contains whose patch (``git patch-id --stable``)
  equals a non-merge branch commit's by the same person (``same_person``: e-mail, or GitHub
  no-reply login against the other's login/name/e-mail local part); identical fixes by others
  do not count. Head = the oldest such branch commit, base = as many first-parent steps back as
  the PR has non-merge commits no branch contains (a rebase replays them in a row). One
  ``diff-tree --stdin -p | patch-id`` pair serves every candidate;
* ``unattributable``: a PR head some branch contains but no rule claims (fast-forwarded, or
  merged under another message): its change cannot be told apart from the commits around it,
  so the record has ``merged=True``, ``base_sha=None``, no files, and the pipeline rejects it
  ``merged_unattributable``;
* ``unmerged``: a PR head no branch contains and no rule claims: ``merged=False``,
  ``base_sha=None``, no files (the pipeline rejects it ``unmerged`` first, so its contents
  would only bloat the rejects).

Each number is read once: the oldest commit (in ``rev-list --reverse`` order) claiming ``#N``
wins, merge rules before the subject rule on the same commit. Records come in history order
(merge, squash and rebase PRs), then the unattributable and unmerged ones by number.
``pr_listing`` also answers how many ``refs/pull/N/head`` refs there are (``pr_refs``; refs
naming anything but a commit are not counted) and ``prs_known``, for the manifest's accounting.

Identity (``repo_identity``): ``owner/name`` from ``remote.origin.url`` (``repo_name_from_url``:
GitHub, GitLab with its subgroups kept as the full path, any host; https, ssh, git and scp
forms), else the directory name (``directory_name``; generic names such as ``repo``/``.git``
use the parent's).

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

import logging
import os
import re
import subprocess
from dataclasses import dataclass

from transforms.contain import contained
from transforms.code.repo_context import read_repo_context
from datetime import datetime, timezone
from typing import IO, Iterable, Iterator

log = logging.getLogger(__name__)

# The Stack / StarCoder rule (transforms.quality.code.MAX_BYTES): bigger files are rejected
# as 'oversized' anyway, so their contents are not worth reading into records.
MAX_FILE_BYTES = 1_000_000
BINARY_SNIFF_BYTES = 8000
# cat-file requests written before reading the answers; keeps a request chunk far below a
# pipe buffer (64 KiB) so neither side can block on the other.
CAT_FILE_CHUNK = 256

MERGE_SUBJECT = re.compile(r"^Merge pull request #(\d+) from (\S+)")
SQUASH_ANY = re.compile(r"\(#(\d+)\)")
PULL_HEAD_REF = re.compile(r"^refs/pull/(\d+)/head$")
NOREPLY_EMAIL = re.compile(r"^(?:\d+\+)?([^@+]+)@users\.noreply\.github\.com$", re.IGNORECASE)
SCP_URL = re.compile(r"^(?:[^@/\s]+@)?([A-Za-z0-9][A-Za-z0-9.-]*):(?!/)(.+)$")  # git@host:owner/name.git
REPO_PART = re.compile(r"^[A-Za-z0-9._-]+$")
# Directory names that say nothing about the repository: the parent's name is used instead.
GENERIC_DIR_NAMES = frozenset({"repo", "repos", "repository", "git", ".git", "src", "source", "sources", "clone",
                               "checkout", "code", "mirror", "work", "workspace", "project", "main", "master", "tmp"})

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
CHANGE_KINDS = ("merge", "squash", "rebase")  # PR kinds whose before/after commits are known
MERGE_RULE_FIELD = "_merge_rule"  # private record field: the PrCommit.rule that attributed the PR


class GitError(RuntimeError):
    """A git command failed; the message carries the command and git's stderr."""


@dataclass(frozen=True)
class PrCommit:
    """One pull request found in a clone: where its before/after trees are and who wrote it."""

    number: int
    kind: str  # 'merge', 'squash', 'rebase' (CHANGE_KINDS), 'unattributable' or 'unmerged'
    rule: str  # what attributed it: merge_head, merge_subject, squash, rebase, unattributable, unmerged
    base_sha: str | None  # before: first parent / parent; None for a root commit or a PR without a change
    head_sha: str  # after: the merge, squash or rebased commit; the PR head for the other kinds
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
        """Its change reached a branch (an unattributable PR too, though its change is unknown)."""
        return self.kind != "unmerged"

    @property
    def has_change(self) -> bool:
        """Its before/after commits are known: the record carries its files."""
        return self.kind in CHANGE_KINDS


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


def run_git(git_dir: str, *args: str, input_bytes: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """One git command in ``git_dir`` with the trimmed environment, contained; ``GitError`` on failure
    when ``check``."""
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
    proc = run_git(git_dir, "rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}", check=False)
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


def _pr_commit(number: int, kind: str, rule: str, commit: _Commit, base: str | None, author: _Commit,
               title: str, body: str | None) -> PrCommit:
    login = login_from_author(author.author_name, author.author_email)
    return PrCommit(
        number=number, kind=kind, rule=rule, base_sha=base, head_sha=commit.sha, title=title, body=body,
        author_name=author.author_name, author_email=author.author_email,
        author_login=login, author_type=author_type_of(login),
        created_at=iso_utc(author.author_time),
        merged_at=iso_utc(commit.commit_time) if kind in CHANGE_KINDS else None,
    )


def same_person(name_a: str, email_a: str, name_b: str, email_b: str) -> bool:
    """True when two commit authors are one person: the same e-mail (case-insensitive), or a GitHub
    no-reply login (``123+login@users.noreply.github.com``) on one side equal to the other side's
    login, name or e-mail local part (case-insensitive)."""
    sides = []
    for name, email in ((name_a, email_a), (name_b, email_b)):
        email = email.strip().lower()
        match = NOREPLY_EMAIL.match(email)
        sides.append((email, match.group(1).lower() if match else None,
                      {x for x in (name.strip().lower(), email.partition("@")[0]) if x}))
    (email_1, login_1, aliases_1), (email_2, login_2, aliases_2) = sides
    if email_1 and email_1 == email_2:
        return True
    return bool((login_1 and (login_1 == login_2 or login_1 in aliases_2))
                or (login_2 and login_2 in aliases_1))


def _person_keys(name: str, email: str, query: bool) -> set[str]:
    """Index keys for ``same_person`` candidates: a branch commit is filed under its keys
    (``query=False``), a PR head looks up its keys (``query=True``); matches still go through
    ``same_person``."""
    email = email.strip().lower()
    match = NOREPLY_EMAIL.match(email)
    login = match.group(1).lower() if match else None
    aliases = {x for x in (name.strip().lower(), email.partition("@")[0]) if x}
    keys = {"e:" + email} if email else set()
    if query:
        keys |= {"l:" + a for a in aliases}
        if login:
            keys |= {"a:" + login, "l:" + login}
    else:
        keys |= {"a:" + a for a in aliases}
        if login:
            keys.add("l:" + login)
    return keys


@dataclass(frozen=True)
class PrListing:
    """Every PR a clone knows of (``prs``: one per number) and how many ``refs/pull/N/head`` it has."""

    prs: list[PrCommit]
    pr_refs: int

    @property
    def prs_known(self) -> int:
        return len({pr.number for pr in self.prs})

    def by_rule(self) -> dict[str, int]:
        """How many PRs each rule attributed (``PrCommit.rule``)."""
        counts: dict[str, int] = {}
        for pr in self.prs:
            counts[pr.rule] = counts.get(pr.rule, 0) + 1
        return dict(sorted(counts.items()))


def list_pr_commits(repo_path: str | os.PathLike, branch: str | None = None) -> list[PrCommit]:
    """Pull requests in a clone: attributed ones in history order (oldest first), then the
    unattributable and unmerged ones by number (see the module notes)."""
    return pr_listing(repo_path, branch).prs


def pr_listing(repo_path: str | os.PathLike, branch: str | None = None) -> PrListing:
    """``list_pr_commits`` with the count of ``refs/pull/N/head`` refs (the manifest's ``pr_refs``)."""
    git_dir = git_dir_of(repo_path)
    return _list_pr_commits(git_dir, _branch_tips(git_dir, branch, repo_path))


def _branch_tips(git_dir: str, branch: str | None, repo_path: str | os.PathLike) -> list[str]:
    """Commits the read walks from: ``branch`` alone, else every local and remote-tracking branch
    (symbolic refs such as ``origin/HEAD`` left out), else the default branch (a detached HEAD)."""
    if branch is not None:
        return [_branch_tip(git_dir, branch, repo_path)]
    proc = run_git(git_dir, "for-each-ref", "--format=%(objectname) %(objecttype) %(symref)",
                    "refs/heads/", "refs/remotes/")
    tips = set()
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        sha, kind, symref = (line.split(" ", 2) + ["", ""])[:3]
        if kind == "commit" and not symref:
            tips.add(sha)
    if not tips:
        fallback = _branch_tip(git_dir, None, repo_path)
        return [fallback] if fallback else []
    return sorted(tips)


def _pull_heads(git_dir: str) -> dict[int, str]:
    """``refs/pull/N/head`` -> commit (refs naming anything but a commit are left out)."""
    proc = run_git(git_dir, "for-each-ref", "--format=%(objectname) %(objecttype) %(refname)", "refs/pull/")
    heads: dict[int, str] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        sha, kind, ref = (line.split(" ", 2) + ["", ""])[:3]
        match = PULL_HEAD_REF.match(ref)
        if match and kind == "commit":
            heads[int(match.group(1))] = sha
    return heads


def _squash_number(subject: str) -> tuple[int, str] | None:
    """(N, subject without its ``(#N)``) for the last ``(#N)`` of a subject, else None."""
    matches = list(SQUASH_ANY.finditer(subject))
    if not matches:
        return None
    last = matches[-1]
    title = (subject[:last.start()].rstrip() + " " + subject[last.end():].lstrip()).strip()
    return int(last.group(1)), title


def _list_pr_commits(git_dir: str, tips: list[str]) -> PrListing:
    heads = _pull_heads(git_dir)
    if not tips:
        return PrListing([_pr_commit(n, "unmerged", "unmerged", c, None, c, *_split_message(c.message))
                          for n, c in _heads_in_order(git_dir, heads)], len(heads))
    numbers_of_head: dict[str, list[int]] = {}
    for number, sha in heads.items():
        numbers_of_head.setdefault(sha, []).append(number)
    found: list[tuple[int, str, _Commit, str | None]] = []  # (number, rule, commit, PR head), oldest first
    subject_merges: dict[int, int] = {}  # number -> how many "Merge pull request #N" commits name it
    first_parent: dict[str, str | None] = {}  # every branch commit, in walk order (oldest first)
    authors: dict[str, tuple[str, str]] = {}  # non-merge branch commit -> (name, e-mail), for rebases
    for commit in _read_commits(git_dir, ["--reverse", "--stdin"], tips):  # oldest first: the oldest claim wins
        first_parent[commit.sha] = commit.parents[0] if commit.parents else None
        if len(commit.parents) >= 2:
            for parent in commit.parents[1:]:
                for number in numbers_of_head.get(parent, ()):
                    found.append((number, "merge_head", commit, parent))
            merge = MERGE_SUBJECT.match(commit.subject)
            if merge:
                number = int(merge.group(1))
                subject_merges[number] = subject_merges.get(number, 0) + 1
                found.append((number, "merge_subject", commit, commit.parents[1]))
        else:
            authors[commit.sha] = (commit.author_name, commit.author_email)
            squash = _squash_number(commit.subject)
            if squash:
                found.append((squash[0], "squash", commit, None))
    claims: dict[int, tuple[str, _Commit, str | None]] = {}  # number -> (rule, commit, PR head); insertion = age
    for number, rule, commit, head in found:
        if rule == "merge_subject" and (subject_merges[number] > 1 or heads.get(number, head) != head):
            continue  # a fork's own PR (module notes)
        claims.setdefault(number, (rule, commit, head))

    branch_heads = {head for rule, _, head in claims.values() if head}
    heads_by_sha = _commits_by_sha(git_dir, sorted(branch_heads))
    prs = [_claimed_pr(number, rule, commit, heads_by_sha.get(head) if head else None)
           for number, (rule, commit, head) in claims.items()]

    unclaimed = [(n, c) for n, c in _heads_in_order(git_dir, {n: s for n, s in heads.items() if n not in claims})]
    off_branch = [(n, c) for n, c in unclaimed if c.sha not in first_parent]
    for _, commit, _ in claims.values():  # a commit another PR claims is that PR's change, not a rebase
        authors.pop(commit.sha, None)
    rebased = _rebase_matches(git_dir, off_branch, authors, tips, first_parent)
    rest = []
    for number, head in unclaimed:
        title, body = _split_message(head.message)
        if number in rebased:
            commit, base = rebased[number]
            prs.append(_pr_commit(number, "rebase", "rebase", commit, base, head, title, body))
        elif head.sha in first_parent:  # on a branch, but no commit says which change was the PR's
            rest.append(_pr_commit(number, "unattributable", "unattributable", head, None, head, title, body))
        else:
            rest.append(_pr_commit(number, "unmerged", "unmerged", head, None, head, title, body))
    position = {sha: i for i, sha in enumerate(first_parent)}
    prs.sort(key=lambda pr: position[pr.head_sha])  # rebased PRs among the others, by their commit
    return PrListing(prs + rest, len(heads))


def _heads_in_order(git_dir: str, heads: dict[int, str]) -> list[tuple[int, _Commit]]:
    commits = _commits_by_sha(git_dir, sorted(set(heads.values())))
    return [(number, commits[heads[number]]) for number in sorted(heads)]


def _claimed_pr(number: int, rule: str, commit: _Commit, head: _Commit | None) -> PrCommit:
    """The PR record of a merge or squash commit claiming ``number``."""
    if rule == "squash":
        subject, body = _split_message(commit.message)
        title = (_squash_number(subject) or (number, subject))[1]
        return _pr_commit(number, "squash", rule, commit, commit.parents[0] if commit.parents else None, commit,
                          title, body)
    assert head is not None
    subject, rest = _split_message(commit.message)
    if MERGE_SUBJECT.match(subject):  # GitHub's "Merge pull request #N from ...": the PR title is the body
        title, body = _split_message(rest or "")
        if not title:  # no PR title in the message: the branch head's subject stands in
            title, body = _split_message(head.message)[0], None
    else:  # the merge button with the PR title: "Title (#N)"
        squash = _squash_number(subject)
        title, body = (squash[1] if squash else subject), rest
    return _pr_commit(number, "merge", rule, commit, commit.parents[0], head, title, body)


def _rebase_matches(git_dir: str, heads: list[tuple[int, _Commit]], authors: dict[str, tuple[str, str]],
                    tips: list[str], first_parent: dict[str, str | None]) -> dict[int, tuple[_Commit, str | None]]:
    """PRs whose head's patch (``git patch-id --stable``) equals a branch commit's patch by the same
    person (``same_person``): number -> (the oldest such branch commit, the base before the PR's commits).

    The base is ``k`` first-parent steps back from the matched commit, ``k`` the PR's non-merge
    commits that no branch contains (a rebase replays them in a row)."""
    heads = [(n, c) for n, c in heads if len(c.parents) == 1]
    if not heads:
        return {}
    index: dict[str, list[str]] = {}
    for sha, (name, email) in authors.items():
        for key in _person_keys(name, email, query=False):
            index.setdefault(key, []).append(sha)
    candidates: dict[int, list[str]] = {}
    for number, head in heads:
        found = {sha for key in _person_keys(head.author_name, head.author_email, query=True)
                 for sha in index.get(key, ())}
        same = [sha for sha in found if same_person(head.author_name, head.author_email, *authors[sha])]
        if same:
            candidates[number] = same
    if not candidates:
        return {}
    head_of = dict(heads)
    # The same patch changes the same paths: a tree-only listing of the paths (no blob read)
    # leaves the candidates worth a patch id (a diff of every line) to the few that can match.
    paths = _changed_paths(git_dir, sorted({head_of[n].sha for n in candidates}
                                           | {sha for shas in candidates.values() for sha in shas}))
    candidates = {n: kept for n, shas in candidates.items()
                  if (kept := [sha for sha in shas if paths.get(sha) == paths.get(head_of[n].sha)])}
    wanted = sorted({head_of[n].sha for n in candidates} | {sha for shas in candidates.values() for sha in shas})
    patch_ids = _patch_ids(git_dir, wanted)
    order = {sha: i for i, sha in enumerate(authors)}  # walk order: oldest first
    matched: dict[int, str] = {}
    for number, shas in candidates.items():
        pid = patch_ids.get(head_of[number].sha)
        same_patch = [sha for sha in shas if pid is not None and patch_ids.get(sha) == pid]
        if same_patch:
            matched[number] = min(same_patch, key=order.__getitem__)
    if not matched:
        return {}
    own = _own_commit_counts(git_dir, [head_of[n].sha for n in matched], tips)
    commits = _commits_by_sha(git_dir, sorted(set(matched.values())))
    result = {}
    for number, sha in matched.items():
        base: str | None = sha
        for _ in range(max(1, own.get(head_of[number].sha, 1))):
            base = first_parent.get(base) if base else None
        result[number] = (commits[sha], base)
    return result


def _own_commit_counts(git_dir: str, heads: list[str], tips: list[str]) -> dict[str, int]:
    """head -> how many non-merge commits reachable from it no branch contains (one rev-list)."""
    parents: dict[str, tuple[str, ...]] = {}
    for commit in _read_commits(git_dir, ["--stdin"], sorted(set(heads)) + ["^" + tip for tip in tips]):
        parents[commit.sha] = commit.parents
    counts = {}
    for head in heads:
        seen, stack, count = set(), [head], 0
        while stack:
            sha = stack.pop()
            if sha in seen or sha not in parents:
                continue
            seen.add(sha)
            count += len(parents[sha]) == 1
            stack.extend(parents[sha])
        counts[head] = count
    return counts


def _changed_paths(git_dir: str, shas: list[str]) -> dict[str, frozenset[bytes]]:
    """commit -> the paths its change against its first parent touches (one ``diff-tree --stdin
    --name-only``: trees only, so a clone that lacks blobs answers too)."""
    if not shas:
        return {}
    proc = run_git(git_dir, "diff-tree", "--stdin", "-r", "-z", "--name-only", "--no-renames", "--root",
                   input_bytes="".join(sha + "\n" for sha in shas).encode("ascii"))
    paths: dict[str, list[bytes]] = {}
    wanted = {sha.encode("ascii") for sha in shas}
    current: list[bytes] = []
    for token in proc.stdout.split(b"\0"):
        if token in wanted:  # '<commit>' then its paths; a commit without changes prints nothing
            current = paths[token.decode("ascii")] = []
        elif token:
            current.append(token)
    return {sha: frozenset(found) for sha, found in paths.items()}


def _patch_ids(git_dir: str, shas: list[str]) -> dict[str, str]:
    """commit -> ``git patch-id --stable`` of its change against its parent, for non-empty changes;
    one ``diff-tree --stdin -p`` piped into one ``patch-id`` for all of them. A clone that lacks
    some objects (a partial or damaged clone) fails that pipe: the commits are then split in
    halves until the ones git cannot diff are alone, and those have no id (they match no PR by
    patch)."""
    ids, failure = _patch_id_pipe(git_dir, shas)
    if failure is None:
        return ids
    if len(shas) == 1:
        log.warning("%s: no patch id for %s: %s", git_dir, shas[0], failure)
        return {}
    middle = len(shas) // 2
    return _patch_ids(git_dir, shas[:middle]) | _patch_ids(git_dir, shas[middle:])


def _patch_id_pipe(git_dir: str, shas: list[str]) -> tuple[dict[str, str], str | None]:
    """(commit -> patch id, None) of ``shas``; ({}, git's message) when git fails."""
    if not shas:
        return {}, None
    import tempfile

    with tempfile.TemporaryFile() as requests, contained(git_env()) as env:
        requests.write("".join(sha + "\n" for sha in shas).encode("ascii"))
        requests.seek(0)
        diff = subprocess.Popen(_git_argv(git_dir, "diff-tree", "--stdin", "-p", "--no-color", "--no-ext-diff",
                                          "--no-textconv", "--root"),
                                stdin=requests, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                start_new_session=True)
        patch = subprocess.Popen(_git_argv(git_dir, "patch-id", "--stable"), stdin=diff.stdout,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
        assert diff.stdout is not None
        diff.stdout.close()  # patch-id holds the only read end
        out, patch_err = patch.communicate()
        diff_err = diff.stderr.read() if diff.stderr else b""
        if diff.stderr:
            diff.stderr.close()
        diff_rc = diff.wait()
    if diff_rc != 0 or patch.returncode != 0:
        return {}, f"exit {diff_rc}, {patch.returncode}: {(diff_err + patch_err).decode('utf-8', 'replace').strip()}"
    ids = {}
    for line in out.decode("ascii", "replace").splitlines():
        pid, _, sha = line.partition(" ")
        ids[sha.strip()] = pid
    return ids, None


def _commits_by_sha(git_dir: str, shas: list[str]) -> dict[str, _Commit]:
    if not shas:
        return {}
    return {c.sha: c for c in _read_commits(git_dir, ["--no-walk=unsorted", "--stdin"], shas)}

def pr_commit_pairs(repo_path: str | os.PathLike, branch: str | None = None) -> list[tuple[str | None, str]]:
    """(before, after) commits of the merged PRs, in the order ``pr_records`` reads them.

    ``before`` is always ``after``'s first parent (None for a root commit), so
    ``git log -p --no-walk=unsorted --diff-merges=first-parent --stdin`` fed the ``after``
    shas prints exactly these diffs (``git_log_patch`` runs it).
    """
    return [(pr.base_sha, pr.head_sha) for pr in list_pr_commits(repo_path, branch) if pr.has_change]


def git_log_patch(repo_path: str | os.PathLike, pairs: list[tuple[str | None, str]]) -> int:
    """Run ``git log -p`` over the ``after`` commits of ``pairs``; answer the patch size in bytes.

    The floor a benchmark compares ``pr_records`` against: producing the same diffs at all.
    """
    git_dir = git_dir_of(repo_path)
    if not pairs:  # with nothing on stdin, git log would walk HEAD
        return 0
    stdin = "".join(after + "\n" for _, after in pairs).encode("ascii")
    proc = run_git(git_dir, "log", "-p", "--no-walk=unsorted", "--diff-merges=first-parent", "-M",
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


def _changes_for(git_dir: str, prs: list[PrCommit], renames: bool = True) -> list[list[_Change]]:
    """Changed files of every PR, from one ``git diff-tree --stdin`` process.

    Rename detection (``-M``) reads the blobs of added and deleted files; in a clone that lacks
    some (a partial or damaged clone) git fails, so the PRs are split in halves until the ones it
    fails on are alone, and those are listed without rename detection (a move is then a deletion
    and an addition; the missing contents reject the PR later as ``missing_contents``)."""
    if not prs:
        return []
    # '<after> <before>' diffs before -> after (before acts as the only parent); '<after>' alone
    # is a root commit, diffed against the empty tree thanks to --root.
    lines = "".join(f"{pr.head_sha} {pr.base_sha}\n" if pr.base_sha else f"{pr.head_sha}\n" for pr in prs)
    try:
        proc = run_git(git_dir, "diff-tree", "--stdin", "-r", "-z", *(("-M",) if renames else ()), "--raw",
                       "--no-abbrev", "--always", "--root", input_bytes=lines.encode("ascii"))
    except GitError as error:
        if not renames:
            raise
        if len(prs) == 1:
            log.warning("%s: PR #%s listed without rename detection: %s", git_dir, prs[0].number, error)
            return _changes_for(git_dir, prs, renames=False)
        middle = len(prs) // 2
        return _changes_for(git_dir, prs[:middle]) + _changes_for(git_dir, prs[middle:])
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
    """'owner/name' from a remote URL: ``https://``, ``ssh://``, ``git://`` and scp-style
    ``user@host:owner/name.git`` forms on any host (GitHub, GitLab, self-hosted), credentials and
    ports ignored. On github.com the first two path parts; elsewhere the full path, so a GitLab
    subgroup stays ``group/subgroup/name`` (GitLab's own ``path_with_namespace``, unique where the
    last two parts are not). None for a local path, ``file://`` or a path without owner and name."""
    url = url.strip()
    if "://" in url:
        scheme, _, rest = url.partition("://")
        if scheme.lower() not in ("http", "https", "ssh", "git", "git+ssh", "ssh+git"):
            return None
        authority, _, path = rest.partition("/")
        host = authority.rpartition("@")[2].split(":")[0]
    else:
        match = SCP_URL.match(url)
        if not match:
            return None
        host, path = match.group(1), match.group(2)
    parts = [part for part in path.split("/") if part]
    if parts and parts[-1].lower().endswith(".git"):
        parts[-1] = parts[-1][:-4]
    if host.lower() in ("github.com", "www.github.com"):
        parts = parts[:2]
    if len(parts) < 2 or not all(REPO_PART.match(part) and part.strip(".") for part in parts):
        return None
    return "/".join(parts)


def repo_name_of(repo_path: str | os.PathLike) -> str:
    """``repo_identity(repo_path)``'s name: 'owner/name' from the ``origin`` remote, else the directory name."""
    return repo_identity(repo_path)[0]


def repo_identity(repo_path: str | os.PathLike) -> tuple[str, bool]:
    """(name, from_remote): 'owner/name' from ``remote.origin.url`` (``repo_name_from_url``), else
    the clone's directory name without ``.git``; a generic directory name (``GENERIC_DIR_NAMES``:
    'repo', '.git', 'src', 'clone', ...) gives way to its parent's name."""
    git_dir = git_dir_of(repo_path)
    proc = run_git(git_dir, "config", "--get", "remote.origin.url", check=False)
    from_url = repo_name_from_url(proc.stdout.decode("utf-8", "replace")) if proc.returncode == 0 else None
    if from_url:
        return from_url, True
    return directory_name(repo_path), False


def directory_name(repo_path: str | os.PathLike) -> str:
    """The name a clone without a usable remote gets: its directory's (``.git`` dropped), or the
    first non-generic parent's; 'repo' when every part is generic."""
    path = os.path.abspath(os.fspath(repo_path))
    while True:
        name = os.path.basename(path)
        stem = name[:-4] if name.lower().endswith(".git") and len(name) > 4 else name
        if stem and stem.lower() not in GENERIC_DIR_NAMES:
            return stem
        parent = os.path.dirname(path)
        if parent == path:
            return "repo"
        path = parent


def pr_records(repo_path: str | os.PathLike, repo_name: str | None = None,
               max_file_bytes: int | None = MAX_FILE_BYTES, branch: str | None = None,
               stats: dict | None = None) -> Iterator[dict]:
    """Raw PR records (``RAW_PR_SCHEMA``) of a local clone: attributed PRs oldest first, then the
    unattributable and unmerged ones by number; each carries ``MERGE_RULE_FIELD`` (private).

    ``repo_name`` defaults to ``repo_name_of(repo_path)``; ``max_file_bytes=None`` reads every
    file whatever its size. ``stats``, when given, receives ``pr_refs``, ``prs_known`` and
    ``by_rule`` once the PRs are listed (before the first record).
    """
    git_dir = git_dir_of(repo_path)
    listing = _list_pr_commits(git_dir, _branch_tips(git_dir, branch, repo_path))
    if stats is not None:
        stats.update(pr_refs=listing.pr_refs, prs_known=listing.prs_known, by_rule=listing.by_rule())
    prs = listing.prs
    if not prs:
        return
    name = repo_name or repo_name_of(repo_path)
    changed = [pr for pr in prs if pr.has_change]
    changes = iter(_changes_for(git_dir, changed))  # aligned with the PRs that have a change, in order
    with BlobReader(git_dir) as reader:
        for pr in prs:
            files: list[dict] = []
            if pr.has_change:
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
                MERGE_RULE_FIELD: pr.rule,
            }

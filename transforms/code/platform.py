"""PR metadata from the platform (GitHub REST and GH Archive), joined into PRs read from a clone.

Pure functions, no Beam. ``--pr-metadata FILE`` (JSON array, JSONL, ``.gz``) holds, one per item:

* a **REST pull object** exactly as ``GET /repos/{o}/{r}/pulls?state=all`` (or ``.../pulls/N``)
  returns it: ``number``, ``title``, ``body`` (null when empty), ``user{login,type}`` (null for a
  deleted account), ``state``, ``created_at``, ``updated_at``, ``merged_at`` (null unless
  merged), ``merge_commit_sha``, ``base{sha,ref,repo{full_name}}``, ``head{sha}``,
  ``labels[{name}]``, ``html_url``; ``merged`` (only the single-PR endpoint has it) wins over
  ``merged_at`` when present;
* a **GH Archive ``PullRequestEvent``** line: ``{"type": "PullRequestEvent", "repo": {"name":
  "o/r"}, "created_at": ..., "payload": {"action": ..., "number": N, "pull_request": {...the
  same pull object...}}}``.

``pull_metadata`` turns one item into a compact metadata dict (``METADATA_FIELDS``) or a problem
(the detail of a ``bad_pr_metadata`` reject): not an object of either kind (another GH Archive
event type, an issue object), no number, no repository, a field of the wrong type. The
repository is ``base.repo.full_name``, else the ``html_url`` (``https://github.com/o/r/pull/N``),
else the event's ``repo.name``; the key is ``(lowercased repo, number)``, and a clone without a
GitHub ``origin`` (named after its directory) matches by the bare name when one owner has it,
taking the platform's ``owner/name`` as its ``repo``. Several items for one
PR (GH Archive has one event per action): the **last** wins, by the pull object's
``updated_at``, then the event's ``created_at``, then input order (``metadata_index``).

The join (``join_metadata``), for a PR record read from the clone with the same key: title,
body, author login, author type (``user.type == "Bot"`` -> ``Bot``), created/merged time and the
merged state come from the platform; files, base and head from the clone. Fallbacks: a PR
without a description (null or empty body) keeps the clone's body (its commit messages), a PR
of a deleted account keeps the clone's author. Where the two disagree on merged, the record is
not merged (a merge the clone does not hold has no contents; a PR the platform says was closed
unmerged is not a merged PR, whatever commit names its number) and ``PLATFORM_FIELD`` carries
the disagreement, which the noise stage puts in the ``unmerged`` reject's detail
(``platform_conflict``). PRs of the metadata that no clone holds are counted, never invented.

``raw_pr_from_platform`` serves ``--prs``: a REST pull object (or event) that carries ``files``
(``RAW_PR_FILE_TYPE`` entries, or REST ``GET .../pulls/N/files`` entries: ``filename``,
``previous_filename``, ``status``, ``patch``, plus ``before``/``after`` contents when the user
added them) becomes a ``RAW_PR_SCHEMA`` record; without files it is the reject
``rest_pull_without_files`` (contents come from a clone: ``--pr-metadata`` with ``--git-repo``).
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping

from transforms.records import Rejected

PLATFORM_FIELD = "_platform"  # private: how the join went (transforms.records.PRIVATE_FIELDS)
METADATA_FIELDS = ("repo", "number", "title", "body", "author_login", "author_type", "merged", "merged_at",
                   "created_at", "merge_commit_sha", "state", "order")
PULL_URL = re.compile(r"^https?://(?:www\.)?github\.com/([^/\s]+/[^/\s]+)/pull/(\d+)(?:[/?#].*)?$", re.IGNORECASE)
REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")
API_REPO_URL = re.compile(r"^https?://api\.github\.com/repos/([^/\s]+/[^/\s]+?)/*$", re.IGNORECASE)
ISSUE_URL = re.compile(r"^https?://(?:www\.)?github\.com/([^/\s]+/[^/\s]+)/(?:issues|pull)/\d+", re.IGNORECASE)
# REST file statuses -> RAW_PR_FILE_TYPE statuses
REST_FILE_STATUS = {"added": "added", "removed": "deleted", "modified": "modified", "renamed": "renamed",
                    "copied": "added", "changed": "modified", "unchanged": "modified"}
REJECT_REASONS = "bad_pr_metadata"


def _str_or_none(value) -> bool:
    return value is None or isinstance(value, str)


def is_platform_object(obj: Mapping) -> bool:
    """True for what looks like a REST pull object or a GH Archive event rather than a RAW_PR record."""
    if obj.get("type") is not None and isinstance(obj.get("payload"), dict):
        return True
    if isinstance(obj.get("repo"), str):
        return False
    return any(isinstance(obj.get(key), dict) for key in ("base", "head", "user")) or (
        isinstance(obj.get("html_url"), str) and "/pull/" in obj["html_url"])


def repo_of_pull(pull: Mapping, event_repo: str | None = None) -> str | None:
    """'owner/name' of a pull object: base.repo.full_name, the html_url, or the event's repo.name."""
    base = pull.get("base")
    repo = base.get("repo") if isinstance(base, dict) else None
    name = repo.get("full_name") if isinstance(repo, dict) else None
    if isinstance(name, str) and REPO_NAME.match(name):
        return name
    match = PULL_URL.match(pull.get("html_url") or "") if isinstance(pull.get("html_url"), str) else None
    if match:
        return match.group(1)
    return event_repo if isinstance(event_repo, str) and REPO_NAME.match(event_repo) else None


def _unwrap(obj: Mapping) -> tuple[Mapping, str | None, int | None, str | None] | str:
    """(pull object, event repo, event number, event time) of an item, or the problem."""
    if obj.get("type") is not None or "payload" in obj:
        if obj.get("type") != "PullRequestEvent":
            return f"a GH Archive {obj.get('type')!s} event is not a PullRequestEvent"
        payload = obj.get("payload")
        pull = payload.get("pull_request") if isinstance(payload, dict) else None
        if not isinstance(pull, dict):
            return "PullRequestEvent without payload.pull_request"
        repo = obj.get("repo")
        number = payload.get("number")
        created = obj.get("created_at")
        return (pull, repo.get("name") if isinstance(repo, dict) else None,
                number if isinstance(number, int) and not isinstance(number, bool) else None,
                created if isinstance(created, str) else None)
    if "pull_request" in obj and "base" not in obj:
        return "an issue object (GET .../issues), not a pull object: give it to --issues"
    return obj, None, None, None


def pull_metadata(obj, position: int = 0) -> dict | str:
    """The compact metadata of a REST pull object or PullRequestEvent, or the problem with it.

    ``order`` = (updated_at, event created_at, position): the larger is the later version."""
    if not isinstance(obj, Mapping):
        return f"not a JSON object ({type(obj).__name__})"
    unwrapped = _unwrap(obj)
    if isinstance(unwrapped, str):
        return unwrapped
    pull, event_repo, event_number, event_time = unwrapped
    number = pull.get("number", event_number)
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        return f"no PR number (number: {number!r})"
    repo = repo_of_pull(pull, event_repo)
    if repo is None:
        return f"#{number}: no repository (base.repo.full_name, html_url or the event's repo.name)"
    for name in ("title", "body", "merged_at", "created_at", "updated_at", "merge_commit_sha", "state"):
        if not _str_or_none(pull.get(name)):
            return f"{repo}#{number}: field {name} is {type(pull[name]).__name__}, not a string or null"
    user = pull.get("user")
    if user is not None and not (isinstance(user, dict) and _str_or_none(user.get("login"))
                                 and _str_or_none(user.get("type"))):
        return f"{repo}#{number}: field user is not an object with string login/type"
    merged = pull.get("merged")
    if merged is not None and not isinstance(merged, bool):
        return f"{repo}#{number}: field merged is {type(merged).__name__}, not a boolean"
    user = user or {}
    author_type = user.get("type")
    return {
        "repo": repo, "number": number, "title": pull.get("title"), "body": pull.get("body"),
        "author_login": user.get("login"), "author_type": "Bot" if author_type == "Bot" else author_type,
        "merged": merged if merged is not None else pull.get("merged_at") is not None,
        "merged_at": pull.get("merged_at"), "created_at": pull.get("created_at"),
        "merge_commit_sha": pull.get("merge_commit_sha"), "state": pull.get("state"),
        "order": (pull.get("updated_at") or "", event_time or "", position),
    }


def metadata_key(repo: str, number: int) -> tuple[str, int]:
    """The join key: lowercased 'owner/name' (GitHub compares them so) and the number."""
    return repo.strip().lower(), int(number)


def metadata_index(entries: Iterable[dict]) -> dict[tuple[str, int], dict]:
    """Key -> the last metadata of each PR (largest ``order``); also keyed by the bare repository
    name (``(name, number)``) when one owner only has that name, for clones named after their
    directory (as ``pr_sample.issues_index`` does)."""
    index: dict[tuple[str, int], dict] = {}
    for entry in entries:
        key = metadata_key(entry["repo"], entry["number"])
        if key not in index or entry["order"] >= index[key]["order"]:
            index[key] = entry
    owners: dict[str, set[str]] = {}
    for repo, _ in index:
        owners.setdefault(repo.rsplit("/", 1)[-1], set()).add(repo)
    for (repo, number), entry in list(index.items()):
        name = repo.rsplit("/", 1)[-1]
        if len(owners[name]) == 1:
            index.setdefault((name, number), entry)
    return index


def lookup(index: Mapping[tuple[str, int], dict], repo: str, number: int) -> dict | None:
    """The metadata of ``repo`` (``owner/name``, or a bare directory name) and ``number``."""
    return index.get(metadata_key(repo, number))


def _conflict(meta: Mapping, clone_merged: bool) -> str | None:
    if meta["merged"] and not clone_merged:
        sha = meta.get("merge_commit_sha")
        return (f"the platform says merged at {meta.get('merged_at') or '?'}"
                + (f" as {sha[:12]}" if sha else "") + "; the clone holds no merge of it "
                "(fetch the branch it was merged into)")
    if not meta["merged"] and clone_merged:
        return (f"the platform says {meta.get('state') or 'not merged'} without merging; "
                "a commit of the clone names its number")
    return None


def join_metadata(record: dict, meta: Mapping | None) -> dict:
    """The clone's PR record with the platform's title, body, author and merged state (module notes);
    ``record`` unchanged when ``meta`` is None. ``PLATFORM_FIELD`` says what was taken. A clone
    named after its directory (no ``owner/``) takes the platform's ``owner/name``."""
    if meta is None:
        return record
    clone_merged = bool(record.get("merged")) if record.get("merged") is not None else bool(record.get("merged_at"))
    conflict = _conflict(meta, clone_merged)
    joined = dict(record)
    if "/" not in (record.get("repo") or ""):
        joined["repo"] = meta["repo"]
    if meta.get("title"):
        joined["title"] = meta["title"]
    body_from_platform = bool(meta.get("body") and meta["body"].strip())
    if body_from_platform:
        joined["body"] = meta["body"]
    if meta.get("author_login"):
        joined["author_login"], joined["author_type"] = meta["author_login"], meta.get("author_type")
    joined["merged"] = bool(meta["merged"]) and clone_merged
    joined["merged_at"] = meta.get("merged_at") if joined["merged"] else None
    if meta.get("created_at"):
        joined["created_at"] = meta["created_at"]
    joined[PLATFORM_FIELD] = {"body": body_from_platform, "conflict": conflict}
    return joined


def platform_conflict(pr: Mapping) -> str | None:
    """The merged-state disagreement the join recorded, if any."""
    info = pr.get(PLATFORM_FIELD)
    return info.get("conflict") if isinstance(info, dict) else None


def body_from_platform(pr: Mapping) -> bool:
    """True when the record's body is the platform's PR description (not the clone's commit messages)."""
    info = pr.get(PLATFORM_FIELD)
    return bool(info.get("body")) if isinstance(info, dict) else False


# --------------------------------------------------------------------------- --prs: REST pull objects

def _raw_file(file) -> dict | str:
    if not isinstance(file, Mapping):
        return "a files[] entry is not an object"
    if "filename" in file:  # REST GET .../pulls/N/files
        status = REST_FILE_STATUS.get(file.get("status") or "modified")
        if status is None:
            return f"files[]: unknown REST status {file.get('status')!r} ({file.get('filename')})"
        return {"path": file.get("filename"), "previous_path": file.get("previous_filename"), "status": status,
                "before": file.get("before"), "after": file.get("after"), "patch": file.get("patch"),
                "is_binary": file.get("is_binary")}
    return dict(file)


def raw_pr_from_platform(obj: Mapping) -> dict | Rejected:
    """``--prs`` input: a REST pull object / PullRequestEvent with ``files`` -> a RAW_PR record;
    without files ``rest_pull_without_files``; malformed ``bad_pr_metadata``."""
    meta = pull_metadata(obj)
    if isinstance(meta, str):
        return Rejected("bad_pr_metadata", meta)
    unwrapped = _unwrap(obj)
    pull = unwrapped[0]
    files = pull.get("files", obj.get("files"))
    if not files:
        return Rejected("rest_pull_without_files",
                        f"{meta['repo']}#{meta['number']}: a GitHub REST pull object carries no files; give it "
                        "with --pr-metadata and the repository's clone with --git-repo")
    if not isinstance(files, list):
        return Rejected("bad_pr_metadata", f"{meta['repo']}#{meta['number']}: files is not a list")
    raw_files = []
    for file in files:
        converted = _raw_file(file)
        if isinstance(converted, str):
            return Rejected("bad_pr_metadata", f"{meta['repo']}#{meta['number']}: {converted}")
        raw_files.append(converted)
    base, head = pull.get("base") or {}, pull.get("head") or {}
    return {
        "repo": meta["repo"], "number": meta["number"], "title": meta["title"], "body": meta["body"],
        "author_login": meta["author_login"], "author_type": meta["author_type"], "merged": meta["merged"],
        "created_at": meta["created_at"], "merged_at": meta["merged_at"],
        "base_sha": base.get("sha") if isinstance(base, dict) else None,
        "head_sha": head.get("sha") if isinstance(head, dict) else None,
        "files": raw_files, "patch": pull.get("patch") if isinstance(pull.get("patch"), str) else None,
        "linked_issues": [],
    }


# --------------------------------------------------------------------------- --issues: REST issue objects

def issue_record(obj: Mapping) -> dict | None:
    """An ``--issues`` item as a RAW_ISSUE record: the RAW_ISSUE layout as it is, or a GitHub REST
    issue object (repo from ``repository_url`` or ``html_url``); None for a pull request (REST issue
    objects with a ``pull_request`` key) and for what is neither."""
    if isinstance(obj.get("repo"), str):
        return obj
    if "pull_request" in obj:
        return None
    repo = None
    for pattern, value in ((API_REPO_URL, obj.get("repository_url")), (ISSUE_URL, obj.get("html_url"))):
        match = pattern.match(value) if isinstance(value, str) else None
        if match:
            repo = match.group(1)
            break
    number = obj.get("number")
    if repo is None or not isinstance(number, int) or isinstance(number, bool):
        return None
    return {"repo": repo, "number": number, "title": obj.get("title"), "body": obj.get("body")}

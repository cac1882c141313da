"""Clean-PR stage functions: raw PR record -> validated Search/Replace edit sample (pure, no Beam).

Each function answers as ``transforms/records.py`` asks: filters answer None / a reason /
``Rejected``; maps answer a record or ``Rejected``. ``pipelines/clean_pr.py`` wires them.

Stages and their reject reasons, in pipeline order:

* ``prepare_pr``: the record must fit ``RAW_PR_SCHEMA`` (``missing_field``, ``wrong_type``);
  adds ``pr_id`` = content id of (lowercased repo, number), the key of the uniqueness stage.
  A GitHub REST pull object (or GH Archive PullRequestEvent) is converted first when it carries
  its files, else rejected ``rest_pull_without_files``; a malformed one is ``bad_pr_metadata``
  (``transforms.code.platform.raw_pr_from_platform``).
* ``noise_reason``: ``bot_author`` (login ending ``[bot]``, ``author_type`` Bot, or a name of
  ``KNOWN_BOTS``), ``merged_unattributable`` (git input: a PR head on a branch that no merge, squash
  or rebase commit claims, e.g. a fast-forward; its change cannot be told apart), ``unmerged`` (its detail says how the platform and the clone disagree when
  ``--pr-metadata`` was joined), ``too_many_files`` (more than ``max_pr_files`` changed files of
  any kind, counted before any file is inspected), then the file rules (``file_reject_reason``). A PR is kept
  when at least one changed file is a core source file after the file rules; the other files
  stay in ``files`` with ``is_core`` false and get no blocks. When no core file is left the
  reason says why: ``docs_only`` (every file is documentation/configuration), the first file
  rule that removed a core-language file in path order (``binary``, ``vendored``,
  ``generated``, ``oversized``, ``long_lines``, ``low_alphanumeric``, ``high_hex``; the
  detail names the file), else ``no_core_files`` (nothing in the 12 languages, or no files).
* ``build_edit_sample``: ``missing_contents`` (a core file without the contents it needs:
  PR records that carry only a patch), ``no_core_changes`` (core files neither edited nor
  moved: mode changes only), ``too_many_files`` (more than ``max_core_files`` edited or renamed
  core files),
  ``too_many_blocks`` (more than ``max_blocks`` changed regions of the line diffs over all edited
  files, counted before any Search/Replace block is built; a block holds one region or more),
  ``roundtrip_mismatch`` (replaying the blocks on the before-files does not give the
  after-files byte for byte, or the rendered blocks do not parse back; the detail starts with
  the file), ``unrenderable_block`` (a line of the code reads as a SEARCH/REPLACE marker).
* ``parse_error_reason`` (when enabled): ``introduces_parse_errors``.
* ``repo_cap_keep``: which samples of one repository survive the per-repository cap.

Decisions:

* Files are handled in path order (the new path for renames). A renamed core file is a
  rename operation (``rename_from`` = the old path; rendered ``### RENAME old -> new``)
  followed by the blocks of its old contents -> new contents under the NEW path; a pure move
  is the operation alone, and counts as a changed core file (a PR that moves code into
  ``src/`` is kept with its moves, or rejected ``too_many_files``; never shown as a small edit
  of the files around it). A sample may consist of renames only. Replaying the operations on
  the base files (the old path for a renamed file) gives every head file, and the sample text
  shows each file under its base path, so it applies to a checkout of the base commit. A
  deleted file is one block whose SEARCH is the whole file and whose REPLACE is empty
  (``after`` is ``''``); an added file is one block with an empty SEARCH.
* Text is exact: CRLF stays inside lines, a missing final newline is part of the last line.
* Non-core files keep path, status and ``is_core`` false; their contents are null (they are
  not part of the target, and lock files or vendored bundles would bloat the shards).
* ``n_core_files`` counts the core files that have blocks or a rename; ``n_blocks`` counts
  the operations (blocks and renames); ``language`` is the language with
  the most changed lines (added + removed) over those files, ties to the smaller name.
* ``introduces_parse_errors``: some edited core file with a grammar parses cleanly before
  (an added file counts as clean) and with errors after; null when no edited file has a
  grammar. ``parse_error_before`` / ``parse_error_after`` are per file (null without grammar).
* Quality columns: ``CodeRater`` measures of the edited core files' after-contents
  (before-contents for deletions), joined with a newline.
* ``sample_id`` = content id of repo, PR number and every block's path, SEARCH and REPLACE
  (``block_parts``: a rename adds its old path).
* Linked issues: the record's own ``linked_issues`` first, then references found in the title
  and body (``find_issue_refs``), one per (repo, number), a reference to the PR itself
  skipped. ``--issues`` items are RAW_ISSUE records or GitHub REST issue objects
  (``transforms.code.platform.issue_record``; pull requests among them are skipped).
* Intent: ``build_intent`` without trailers and e-mail addresses; the body of a git-read PR
  that the platform did not replace is the PR's commit messages (``commit_messages``: repeated
  and ``Merge branch`` lines dropped too). Each is resolved against the issues index (title/body); unresolved ones stay with
  null title and body, so decontamination still sees the number.
"""
from __future__ import annotations

import hashlib
import heapq
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from schemas.pull_requests import RAW_PR_SCHEMA
from schemas.validate import check_record
from transforms.code.crop import DEFAULT_TOKEN_BUDGET, crop_file
from transforms.code.git_history import MAX_FILE_BYTES, MERGE_RULE_FIELD, is_withheld
from transforms.code.intent import build_intent, find_issue_refs
from transforms.code.languages import (
    LANGUAGE_BY_EXTENSION, content_reject_reason, grammar_of, is_docs_or_config, language_of,
    path_reject_reason, path_rules_read_text,
)
from transforms.code.parse import has_parse_errors
from transforms.code.platform import (body_from_platform, is_platform_object, issue_record, platform_conflict,
                                      raw_pr_from_platform)
from transforms.code.render import render_edit_sample
from transforms.code.repo_context import RepoContext, repo_context_of
from transforms.code.search_replace import (
    Block, block_from_mapping, block_parts, make_blocks, parse_blocks, rename_block, render_blocks,
    roundtrip_check, text_changed_spans, unrenderable_reason,
)
from transforms.code.sft import DEFAULT_NEGATIVES_PER_STEP, build_sft_examples
from transforms.quality.code import CodeRater
from transforms.records import Rejected, content_id

DEFAULT_MAX_CORE_FILES = 5
# Hard limits checked before the heavy work, so one hostile record cannot run for minutes.
DEFAULT_MAX_PR_FILES = 1000
DEFAULT_MAX_BLOCKS = 1000
DEFAULT_REPO_CAP = 2000

# Logins (lowercased, '[bot]' suffix and surrounding space removed) of well-known automation accounts.
KNOWN_BOTS = frozenset({
    "dependabot", "dependabot-preview", "renovate", "renovate-bot", "renovatebot", "greenkeeper",
    "greenkeeperio-bot", "snyk-bot", "github-actions", "pre-commit-ci", "imgbot", "imgbotapp",
    "allcontributors", "all-contributors", "codecov", "codecov-io", "mergify", "whitesource-bolt",
    "whitesource-renovate", "depfu", "pyup-bot", "pyup.io", "netlify", "vercel", "stale", "semantic-release-bot",
    "copilot", "copilot-swe-agent", "deepsource-autofix", "sonarcloud", "coveralls", "gitter-badger",
    "scala-steward", "weblate", "transifex", "crowdin", "l10n-bot", "bors", "bors-ng", "k8s-ci-robot",
    "openshift-ci-robot", "web-flow", "azure-pipelines", "travis-ci", "circleci", "jenkins", "release-please",
    "changeset-bot", "lgtm-com", "restyled-io", "autofix-ci", "sweep-ai", "mend-bolt-for-github",
})
_BOT_SUFFIX = re.compile(r"\s*\[bot\]$", re.IGNORECASE)
_STATUS_NEEDS_BEFORE = ("modified", "renamed", "deleted")
_STATUS_NEEDS_AFTER = ("modified", "renamed", "added")
_QUALITY_RATER = CodeRater()
QUALITY_COLUMNS = tuple(_QUALITY_RATER.columns)


@dataclass(frozen=True)
class CleanPrConfig:
    """Knobs of the Clean-PR stages (defaults follow the Clean-PR paper)."""

    extensions: Mapping[str, str] = field(default_factory=lambda: dict(LANGUAGE_BY_EXTENSION))
    max_core_files: int = DEFAULT_MAX_CORE_FILES
    max_pr_files: int = DEFAULT_MAX_PR_FILES
    max_blocks: int = DEFAULT_MAX_BLOCKS
    token_budget: int = DEFAULT_TOKEN_BUDGET
    max_file_bytes: int = MAX_FILE_BYTES
    known_bots: frozenset = KNOWN_BOTS

    def language_of(self, path: str) -> str | None:
        """The core language of a path under the configured extensions."""
        return language_of(path, self.extensions)


# --------------------------------------------------------------------------- prepare

def pr_id_of(repo: str, number: int) -> str:
    """Stable id of a pull request: content id of the lowercased repo and the number."""
    return content_id(repo.strip().lower(), str(number))


def _normalized_file(file: Mapping) -> dict:
    return {key: file.get(key) for key in ("path", "previous_path", "status", "before", "after", "patch", "is_binary")}


def prepare_pr(record: dict) -> dict | Rejected:
    """Check a raw PR against ``RAW_PR_SCHEMA``; answer it with ``pr_id`` and defaults filled in.
    A GitHub REST pull object / PullRequestEvent is converted first (``raw_pr_from_platform``)."""
    if is_platform_object(record):
        converted = raw_pr_from_platform(record)
        if isinstance(converted, Rejected):
            return converted
        record = converted
    problem = check_record(record, RAW_PR_SCHEMA)
    if problem is not None:
        return problem
    files = [_normalized_file(f) for f in record.get("files") or ()]
    for file in files:
        if not file["path"]:
            return Rejected("missing_field", "field files[].path is required")
        status = file["status"] or ("renamed" if file["previous_path"] else "modified")
        if status not in ("added", "modified", "deleted", "renamed"):
            return Rejected("wrong_type", f"field files[].status: unknown status {status!r} ({file['path']})")
        file["status"] = status
    return {**record, "files": files, "linked_issues": list(record.get("linked_issues") or ()),
            "pr_id": pr_id_of(record["repo"], record["number"])}


# --------------------------------------------------------------------------- noise

def is_bot(pr: Mapping, known_bots: Iterable[str] = KNOWN_BOTS) -> bool:
    """A bot author: login ending with '[bot]', account type Bot, or a known bot name."""
    login = (pr.get("author_login") or "").strip()
    if (pr.get("author_type") or "").lower() == "bot" or _BOT_SUFFIX.search(login):
        return True
    name = _BOT_SUFFIX.sub("", login).strip().lower().replace(" ", "-")
    return bool(name) and name in known_bots


def is_merged(pr: Mapping) -> bool:
    """True when the record says merged, or leaves ``merged`` null but has a merge time."""
    merged = pr.get("merged")
    return bool(merged) if merged is not None else bool(pr.get("merged_at"))


def file_reject_reason(file: Mapping, config: CleanPrConfig, context: RepoContext | None = None) -> str | None:
    """Why a changed file is not a core file (None: it is): the language/docs/vendored/generated
    rules of ``core_file_reject_reason`` (with the repository's ``.gitattributes`` and package
    markers of ``context``), ``binary`` and ``oversized`` from the input's markers, then the
    StarCoder-style content rules on each side that has contents."""
    path = file["path"]
    text = file.get("after") or file.get("before")
    text = text if isinstance(text, str) else None
    reason = path_reject_reason(path, extensions=config.extensions, context=context, text=text)
    if reason is not None:
        return reason
    if file.get("is_binary"):
        return "binary"
    if is_withheld(file) and not file.get("patch"):
        return "oversized"
    reads_text = path_rules_read_text(path)
    for side in (file.get("after"), file.get("before")):
        if side:
            side_text = side if isinstance(side, str) else None
            # the path rules were answered for ``text``; only a Go package clause can read otherwise
            if reads_text and side_text != text:
                reason = path_reject_reason(path, extensions=config.extensions, context=context, text=side_text)
                if reason is not None:
                    return reason
            reason = content_reject_reason(path, side, context=context, max_bytes=config.max_file_bytes)
            if reason is not None:
                return reason
    return None


def _sorted_files(pr: Mapping) -> list[dict]:
    return sorted(pr.get("files") or (), key=lambda f: (f["path"], f.get("previous_path") or ""))


def file_reject_reasons(pr: Mapping, config: CleanPrConfig) -> list[tuple[dict, str | None]]:
    """(file, reason or None) of every changed file, in path order (``repo_context_of(pr)`` decides
    with the PR's ``.gitattributes`` and package markers)."""
    context = repo_context_of(pr)
    return [(f, file_reject_reason(f, config, context)) for f in _sorted_files(pr)]


def _is_docs_verdict(file: Mapping, reason: str | None) -> bool:
    """A file the verdicts call documentation/configuration (non-code docs included)."""
    return reason == "docs_or_config" or (reason == "not_code" and is_docs_or_config(file["path"]))


REPO_PATH_FIELD = "_repo_path"  # where a git-input record's clone lives (for the SFT tree); never written,
# not even into rejects (transforms.records.PRIVATE_FIELDS): published rows name the repo, never the clone
FILE_REASONS = "_file_reasons"  # screen_pr -> build_edit_sample: each file's verdict, so they are computed once


def _noise(pr: Mapping, config: CleanPrConfig) -> tuple[str | Rejected | None, list | None]:
    """(the noise reason or None, the file verdicts when they were computed)."""
    if is_bot(pr, config.known_bots):
        return Rejected("bot_author", pr.get("author_login") or pr.get("author_type") or ""), None
    if pr.get(MERGE_RULE_FIELD) == "unattributable":
        return Rejected("merged_unattributable", f"refs/pull/{pr.get('number')}/head {str(pr.get('head_sha'))[:12]} is "
                        "on a branch, but no merge, squash or rebase commit names the PR: its change is unknown"), None
    if not is_merged(pr):
        conflict = platform_conflict(pr)
        return (Rejected("unmerged", conflict) if conflict else "unmerged"), None
    n_files = len(pr.get("files") or ())
    if n_files > config.max_pr_files:
        return Rejected("too_many_files", f"{n_files} changed files > {config.max_pr_files} (max_pr_files)"), None
    verdicts = file_reject_reasons(pr, config)
    if any(reason is None for _, reason in verdicts):
        return None, verdicts
    if not verdicts:
        return Rejected("no_core_files", "the PR changes no files"), verdicts
    if all(_is_docs_verdict(f, reason) for f, reason in verdicts):
        return Rejected("docs_only", ", ".join(f["path"] for f, _ in verdicts[:20])), verdicts
    for file, reason in verdicts:
        if reason not in ("not_code", "docs_or_config"):
            return Rejected(reason, file["path"]), verdicts
    return Rejected("no_core_files", ", ".join(f["path"] for f, _ in verdicts[:20])), verdicts


def noise_reason(pr: Mapping, config: CleanPrConfig) -> str | Rejected | None:
    """Filter: None to keep a PR with at least one core file, else the reason (see module notes)."""
    return _noise(pr, config)[0]


def screen_pr(pr: Mapping, config: CleanPrConfig) -> dict | Rejected:
    """Map stage: the noise rules of ``noise_reason``; a kept PR carries its files' verdicts
    (``FILE_REASONS``, private) so ``build_edit_sample`` does not compute them again."""
    reason, verdicts = _noise(pr, config)
    if reason is None:
        return {**pr, FILE_REASONS: [r for _, r in verdicts]}
    return reason if isinstance(reason, Rejected) else Rejected(reason)


# --------------------------------------------------------------------------- intent

def issues_index(issues: Iterable[Mapping]) -> dict[tuple[str, int], dict]:
    """(lowercased repo, number) -> issue (repo, number, title, body); also keyed by the bare
    repository name when only one owner has it, for clones named after their directory."""
    index: dict[tuple[str, int], dict] = {}
    by_name: dict[tuple[str, int], list[dict]] = {}
    for item in issues:
        issue = issue_record(item)  # GitHub REST issue objects too; pull requests among them skipped
        if issue is None:
            continue
        repo, number = issue.get("repo"), issue.get("number")
        if not isinstance(repo, str) or not isinstance(number, int) or isinstance(number, bool):
            continue
        entry = {"repo": repo, "number": number, "title": issue.get("title"), "body": issue.get("body")}
        index.setdefault((repo.lower(), number), entry)
        if "/" in repo:
            by_name.setdefault((repo.lower().rsplit("/", 1)[1], number), []).append(entry)
    for key, entries in by_name.items():
        if len({e["repo"].lower() for e in entries}) == 1:
            index.setdefault(key, entries[0])
    return index


def linked_issues_of(pr: Mapping, index: Mapping[tuple[str, int], Mapping]) -> list[dict]:
    """The PR's linked issues (given ones first, then references in title/body), resolved."""
    repo, own_number = pr["repo"], pr["number"]
    text = "\n\n".join(part for part in (pr.get("title"), pr.get("body")) if part)
    candidates = [(i.get("repo") or repo, i.get("number"), i.get("title"), i.get("body"))
                  for i in pr.get("linked_issues") or () if isinstance(i.get("number"), int)]
    candidates += [(ref.repo, ref.number, None, None) for ref in find_issue_refs(text, repo)]
    linked: list[dict] = []
    seen: set[tuple[str, int]] = set()
    for issue_repo, number, title, body in candidates:
        key = (issue_repo.lower(), number)
        if key in seen or (key == (repo.lower(), own_number)):
            continue
        seen.add(key)
        found = index.get(key) or {}
        linked.append({"repo": issue_repo, "number": number,
                       "title": title if title is not None else found.get("title"),
                       "body": body if body is not None else found.get("body")})
    return linked


# --------------------------------------------------------------------------- edit samples

def _core_contents(file: Mapping) -> tuple[str, str] | Rejected:
    """(before, after) of a core file, '' standing for the absent side of an addition/deletion."""
    status = file["status"]
    before, after = file.get("before"), file.get("after")
    if status in _STATUS_NEEDS_BEFORE and before is None:
        return Rejected("missing_contents", f"{file['path']}: no before-contents for a {status} file")
    if status in _STATUS_NEEDS_AFTER and after is None:
        return Rejected("missing_contents", f"{file['path']}: no after-contents for a {status} file")
    return ("" if status == "added" else before), ("" if status == "deleted" else after)


def _file_entry(file: Mapping, *, is_core: bool, language: str | None = None, before: str | None = None,
                after: str | None = None, error_before: bool | None = None, error_after: bool | None = None) -> dict:
    return {"path": file["path"], "previous_path": file.get("previous_path"), "language": language,
            "status": file["status"], "is_core": is_core, "before": before, "after": after,
            "parse_error_before": error_before, "parse_error_after": error_after}


def is_renamed(file: Mapping) -> bool:
    """A file moved by the PR (status ``renamed`` with a different ``previous_path``)."""
    previous = file.get("previous_path")
    return file.get("status") == "renamed" and bool(previous) and previous != file["path"]


def base_path(file: Mapping) -> str:
    """Where a changed file is at the base commit: the old path of a rename, else its path."""
    return file["previous_path"] if is_renamed(file) else file["path"]


def _main_language(changed: dict[str, int]) -> str:
    return min(changed, key=lambda language: (-changed[language], language))


def build_edit_sample(pr: Mapping, issues_index: Mapping[tuple[str, int], Mapping],
                      config: CleanPrConfig) -> dict | Rejected:
    """The ``EDIT_SAMPLE_SCHEMA`` record of a PR that passed the noise filter, or ``Rejected``."""
    files = _sorted_files(pr)
    known = pr.get(FILE_REASONS)
    verdicts = (list(zip(files, known)) if isinstance(known, list) and len(known) == len(files)
                else file_reject_reasons(pr, config))
    edited: list[tuple[dict, str, str]] = []  # (file, before, after) of core files edited or moved
    core_paths: set[str] = set()
    for file, reason in verdicts:
        if reason is not None:
            continue
        contents = _core_contents(file)
        if isinstance(contents, Rejected):
            return contents
        core_paths.add(file["path"])
        if contents[0] != contents[1] or is_renamed(file):
            edited.append((file, *contents))
    if not edited:
        return Rejected("no_core_changes", "core files keep their contents and paths (mode changes)")
    if len(edited) > config.max_core_files:
        return Rejected("too_many_files", f"{len(edited)} core files edited or renamed > {config.max_core_files}")

    spans_by_path: dict[str, list[tuple[int, int, int, int]]] = {}
    n_regions = 0
    for file, before, after in edited:
        spans = text_changed_spans(before, after)
        spans_by_path[file["path"]] = spans
        n_regions += len(spans)
        if n_regions > config.max_blocks:
            return Rejected("too_many_blocks", f"more than {config.max_blocks} changed regions "
                                               f"(max_blocks; {len(spans)} in {file['path']})")

    blocks: list[Block] = []
    blocks_by_path: dict[str, list[Block]] = {}
    for file, before, after in edited:
        file_blocks = make_blocks(before, after, file["path"], spans=spans_by_path[file["path"]])
        blocks_by_path[file["path"]] = file_blocks
        if is_renamed(file):
            blocks.append(rename_block(file["previous_path"], file["path"]))
        blocks.extend(file_blocks)
    befores = {base_path(file): before for file, before, _ in edited}
    afters = {file["path"]: after for file, _, after in edited}
    mismatch = roundtrip_check(befores, afters, blocks)
    if mismatch is not None:
        return mismatch
    for block in blocks:
        problem = unrenderable_reason(block)
        if problem is not None:
            return Rejected("unrenderable_block", f"{block.path}: {problem}")
    rendered_blocks = render_blocks(blocks, config.language_of)
    if parse_blocks(rendered_blocks) != blocks:
        return Rejected("roundtrip_mismatch", f"{blocks[0].path}: rendered blocks do not parse back to the blocks")

    entries: list[dict] = []
    changed_by_language: dict[str, int] = {}
    lines_added = lines_removed = 0
    introduces: bool | None = None
    edited_by_path = {file["path"]: (before, after) for file, before, after in edited}
    for file, _ in verdicts:
        path = file["path"]
        if path not in core_paths:
            entries.append(_file_entry(file, is_core=False))
            continue
        before_text, after_text = _core_contents(file)
        language = config.language_of(path)
        error_before = error_after = None
        if path in edited_by_path:
            grammar = grammar_of(path, after_text or before_text, config.extensions)
            if grammar:
                error_before = has_parse_errors(before_text, grammar, path=base_path(file))
                error_after = has_parse_errors(after_text, grammar, base=before_text, path=path)
                if error_after is not None and error_before is not None:
                    introduces = bool(introduces) or (not error_before and error_after)
            spans = spans_by_path[path]
            added, removed = sum(j2 - j1 for _, _, j1, j2 in spans), sum(i2 - i1 for i1, i2, _, _ in spans)
            lines_added, lines_removed = lines_added + added, lines_removed + removed
            changed_by_language[language] = changed_by_language.get(language, 0) + added + removed
        entries.append(_file_entry(file, is_core=True, language=language, before=before_text, after=after_text,
                                   error_before=error_before, error_after=error_after))

    linked = linked_issues_of(pr, issues_index)
    # git input whose body was not replaced by the platform's description: the PR's commit messages
    commit_messages = bool(pr.get(REPO_PATH_FIELD)) and not body_from_platform(pr)
    intent = build_intent(pr.get("title"), pr.get("body"), linked, commit_messages=commit_messages)
    cropped = False
    shown: list[tuple[str, str | None]] = []
    for file, before, _ in edited:
        if file["status"] == "added":
            shown.append((file["path"], None))
            continue
        text, was_cropped = crop_file(before, blocks_by_path[file["path"]], config.token_budget)
        cropped = cropped or was_cropped
        shown.append((base_path(file), text))
    quality_text = "\n".join(after or before for _, before, after in edited)
    quality = {column: float(values[0]) for column, values in _QUALITY_RATER.rate([quality_text]).items()}
    sample = {
        "sample_id": content_id(pr["repo"], str(pr["number"]), *(part for block in blocks for part in block_parts(block))),
        "repo": pr["repo"],
        "pr_number": pr["number"],
        "base_sha": pr.get("base_sha"),
        "head_sha": pr.get("head_sha"),
        "merged_at": pr.get("merged_at"),
        "title": pr.get("title") or "",
        "body": pr.get("body"),
        "linked_issues": linked,
        "intent": intent,
        "language": _main_language(changed_by_language),
        "files": entries,
        "blocks": [block._asdict() for block in blocks],
        "n_core_files": len(edited),
        "n_blocks": len(blocks),
        "n_lines_added": lines_added,
        "n_lines_removed": lines_removed,
        "introduces_parse_errors": introduces,
        "cropped": cropped,
        "text": render_edit_sample(intent, shown, blocks, config.language_of),
        **quality,
    }
    for key, value in pr.items():  # private pass-through fields (e.g. where the clone lives)
        if key.startswith("_") and key != FILE_REASONS:
            sample[key] = value
    return sample


def parse_error_reason(sample: Mapping) -> str | None:
    """Filter for ``--reject-parse-errors``: ``introduces_parse_errors`` when the edit did."""
    return "introduces_parse_errors" if sample.get("introduces_parse_errors") else None


def change_set_text(sample: Mapping) -> str:
    """The sample's change set as text (its rendered blocks): what dedup compares."""
    return render_blocks([block_from_mapping(b) for b in sample.get("blocks") or ()])


# --------------------------------------------------------------------------- repository cap

def cap_rank(seed: int | str, sample_id: str) -> str:
    """The seeded random rank of a sample: sha1 of the seed and the id (smaller survives)."""
    return hashlib.sha1(f"{seed}\x00{sample_id}".encode("utf-8")).hexdigest()


def repo_cap_keep(sample_ids: Iterable[str], cap: int, seed: int | str = 0) -> set[str]:
    """The ids of one repository that survive a cap of ``cap`` samples (all when ``cap`` <= 0):
    a seeded random choice, the same whatever the order the ids come in."""
    ids = set(sample_ids)
    if cap <= 0 or len(ids) <= cap:
        return ids
    return set(heapq.nsmallest(cap, ids, key=lambda sample_id: (cap_rank(seed, sample_id), sample_id)))


# --------------------------------------------------------------------------- SFT

def sft_examples(sample: Mapping, repo_paths: Iterable[str] | None = None,
                 file_contents: Mapping[str, str] | None = None, *,
                 negatives_per_step: int = DEFAULT_NEGATIVES_PER_STEP,
                 token_budget: int = DEFAULT_TOKEN_BUDGET) -> list[dict]:
    """Agentless-style SFT examples of an edit sample. Without a repository tree the sample's own
    files stand in: their paths (before the PR) as the tree, unedited ones with contents as distractors."""
    if repo_paths is None:
        repo_paths = [f.get("previous_path") or f["path"] for f in sample.get("files") or ()
                      if f.get("status") != "added"]
        edited = {b["path"] for b in sample.get("blocks") or ()}
        file_contents = {f["path"]: f["before"] for f in sample.get("files") or ()
                         if f["path"] not in edited and f.get("before")}
    return build_sft_examples(sample, repo_paths, file_contents or {}, negatives_per_step=negatives_per_step,
                              token_budget=token_budget)

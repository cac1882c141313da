"""Clean-PR record families (issue 3): raw PRs and issues in, edit samples and SFT samples out.

* ``RAW_PR_SCHEMA``: the ``--prs`` input layout (JSONL or Parquet, one PR per record).
  Git-clone inputs are converted to the same layout, so every later stage sees one shape.
* ``RAW_ISSUE_SCHEMA``: the ``--issues`` input layout, used to resolve issue references
  (GitHub REST issue objects are read too: ``transforms.code.platform.issue_record``).
  ``--prs`` also takes GitHub REST pull objects that carry their files, and ``--pr-metadata``
  REST pull objects / GH Archive events without files (``transforms.code.platform``).
* ``EDIT_SAMPLE_SCHEMA``: ``OUT/edits/``, one validated Search/Replace sample per PR.
  Quality scores are not listed here: raters add ``quality_*`` float64 columns with
  ``schemas.common.with_quality_columns``.
* ``SFT_SAMPLE_SCHEMA``: ``OUT/sft/``, the Agentless-style localisation / navigation / editing
  examples built from each edit sample, distractor negatives included.

Lists use an item field named ``element`` (the name Parquet's compliant nested layout uses),
so a shard read back has exactly the declared schema and the same ``fingerprint``.
"""
from __future__ import annotations

import pyarrow as pa

from schemas.common import field


def _list(type_: pa.DataType) -> pa.ListType:
    """A list type whose item field is named like Parquet names it, so round trips are exact."""
    return pa.list_(pa.field("element", type_))


FILE_STATUSES = ("added", "modified", "deleted", "renamed")
SFT_STEPS = ("localization", "navigation", "editing")

LINKED_ISSUE_TYPE = pa.struct(
    [
        field("repo", pa.string(), "repository of the issue, 'owner/name'", False),
        field("number", pa.int64(), "issue number in that repository", False),
        field("title", pa.string(), "issue title; null when the issue could not be resolved"),
        field("body", pa.string(), "issue body (Markdown); null when unresolved or empty"),
    ]
)

RAW_PR_FILE_TYPE = pa.struct(
    [
        field("path", pa.string(), "path of the file after the PR (the old path for a deletion), '/'-separated", False),
        field("previous_path", pa.string(), "path before the PR when the file was renamed, else null"),
        field("status", pa.string(), "one of 'added', 'modified', 'deleted', 'renamed'"),
        field("before", pa.string(), "full file contents at base_sha; null for an added file or when not provided"),
        field("after", pa.string(), "full file contents at head_sha; null for a deleted file or when not provided"),
        field("patch", pa.string(), "unified diff of this file (git diff base..head), when provided"),
        field("is_binary", pa.bool_(), "true when the file is binary (its contents are then null)"),
    ]
)

GITATTRIBUTES_FILE_TYPE = pa.struct(
    [
        field("path", pa.string(), "path of the .gitattributes file, e.g. '.gitattributes', 'src/.gitattributes'", False),
        field("text", pa.string(), "its contents", False),
    ]
)

RAW_PR_SCHEMA = pa.schema(
    [
        field("repo", pa.string(), "repository, 'owner/name' (for a local clone: its directory name)", False),
        field("number", pa.int64(), "pull request number", False),
        field("title", pa.string(), "PR title (git input: the commit subject without the '(#N)' / merge prefix)"),
        field("body", pa.string(), "PR description (git input: the commit message body)"),
        field("author_login", pa.string(), "login of the PR author (git input: the commit author name)"),
        field("author_type", pa.string(), "account type as GitHub reports it: 'User', 'Bot', 'Organization'"),
        field("merged", pa.bool_(), "true when the PR was merged; unmerged PRs are rejected as 'unmerged'"),
        field("created_at", pa.string(), "when the PR was opened, ISO 8601 UTC"),
        field("merged_at", pa.string(), "when the PR was merged, ISO 8601 UTC"),
        field("base_sha", pa.string(), "commit the 'before' contents come from (git input: first parent / parent)"),
        field("head_sha", pa.string(), "commit the 'after' contents come from (git input: the merge or squash commit)"),
        field("files", _list(RAW_PR_FILE_TYPE), "changed files with before/after contents and/or per-file patch"),
        field("patch", pa.string(), "the whole PR as one unified diff, for inputs without per-file data"),
        field("linked_issues", _list(LINKED_ISSUE_TYPE), "issues the input already links; more are resolved from the text"),
        field("gitattributes", _list(GITATTRIBUTES_FILE_TYPE), "the repository's .gitattributes files that apply to the "
              "changed files (root and ancestor directories), at base_sha; their linguist-vendored/-generated/"
              "-documentation attributes decide those file rules (git input reads them)"),
        field("package_markers", _list(pa.string()), "paths of __init__.py / Cargo.toml files that exist beside or above "
              "changed files in documentation directories, and of non-test Go files beside changed _test.go files there "
              "(a source package in docs/ is code; git input reads them)"),
    ]
)

RAW_ISSUE_SCHEMA = pa.schema(
    [
        field("repo", pa.string(), "repository, 'owner/name'", False),
        field("number", pa.int64(), "issue number", False),
        field("title", pa.string(), "issue title"),
        field("body", pa.string(), "issue body (Markdown)"),
    ]
)

EDIT_FILE_TYPE = pa.struct(
    [
        field("path", pa.string(), "path after the PR (the old path for a deletion), '/'-separated", False),
        field("previous_path", pa.string(), "path before the PR for a rename, else null"),
        field("language", pa.string(), "language by extension, e.g. 'python', 'cpp'; null for non-core files"),
        field("status", pa.string(), "one of 'added', 'modified', 'deleted', 'renamed'", False),
        field("is_core", pa.bool_(), "true for a core source file in one of the 12 languages (these get blocks)", False),
        field("before", pa.string(), "contents at base_sha, byte-exact (CRLF kept); '' for an added file"),
        field("after", pa.string(), "contents at head_sha, byte-exact; '' for a deleted file"),
        field("parse_error_before", pa.bool_(), "tree-sitter found errors in 'before'; null when no parser"),
        field("parse_error_after", pa.bool_(), "tree-sitter found errors in 'after'; null when no parser"),
    ]
)

SEARCH_REPLACE_BLOCK_TYPE = pa.struct(
    [
        field("path", pa.string(), "file the block applies to (for a rename operation: the new path)", False),
        field("search", pa.string(), "text that occurs exactly once in the file when applied; '' creates a new file "
              "('' for a rename operation)", False),
        field("replace", pa.string(), "replacement text ('' for a rename operation)", False),
        field("rename_from", pa.string(), "set for a rename operation: the file at this path moves to 'path' "
              "(rendered '### RENAME old -> new'); null for a Search/Replace block"),
    ]
)

EDIT_SAMPLE_SCHEMA = pa.schema(
    [
        field("sample_id", pa.string(), "stable id: content hash of repo, pr_number and the change set", False),
        field("repo", pa.string(), "repository, 'owner/name'", False),
        field("pr_number", pa.int64(), "pull request number", False),
        field("base_sha", pa.string(), "commit of the before-files"),
        field("head_sha", pa.string(), "commit of the after-files"),
        field("merged_at", pa.string(), "merge time, ISO 8601 UTC, when known"),
        field("title", pa.string(), "PR title", False),
        field("body", pa.string(), "PR description"),
        field("linked_issues", _list(LINKED_ISSUE_TYPE), "issues resolved from references (#N, owner/repo#N, URLs, closing keywords)"),
        field("intent", pa.string(), "PR title + body + linked issues' titles and bodies, as rendered in the sample", False),
        field("language", pa.string(), "main language of the sample: the language of most changed core lines", False),
        field("files", _list(EDIT_FILE_TYPE), "changed files in path order, with full before/after contents", False),
        field("blocks", _list(SEARCH_REPLACE_BLOCK_TYPE), "operations in application order: Search/Replace blocks and rename operations; replaying them on the base files gives every 'after'", False),
        field("n_core_files", pa.int64(), "number of core files the PR edits (≤ the configured maximum, 5 by default)", False),
        field("n_blocks", pa.int64(), "number of blocks", False),
        field("n_lines_added", pa.int64(), "lines added across core files (line diff)", False),
        field("n_lines_removed", pa.int64(), "lines removed across core files (line diff)", False),
        field("introduces_parse_errors", pa.bool_(), "some core file parses cleanly before and with errors after; null when no parser"),
        field("has_secrets", pa.bool_(), "the added code (REPLACE lines not in SEARCH) holds a secret by detect-secrets (keys, tokens); null when not scanned"),
        field("secret_types", _list(pa.string()), "detect-secrets types found in the added code, sorted, e.g. 'AWS Access Key', 'GitHub Token'"),
        field("cropped", pa.bool_(), "true when a file in 'text' was cropped to windows around its blocks (token budget)", False),
        field("text", pa.string(), "rendered training sample: intent, file contents, then ```lang blocks with '### path' and SEARCH/REPLACE markers", False),
    ]
)

SFT_SAMPLE_SCHEMA = pa.schema(
    [
        field("id", pa.string(), "stable id: content hash of sample_id, step, path and target", False),
        field("sample_id", pa.string(), "edit sample this example was built from (OUT/edits sample_id)", False),
        field("repo", pa.string(), "repository, 'owner/name'", False),
        field("pr_number", pa.int64(), "pull request number", False),
        field("language", pa.string(), "main language of the sample"),
        field("step", pa.string(), "Agentless step: 'localization' (intent + repo tree → files), 'navigation' (intent + file → functions/classes), 'editing' (context → blocks)", False),
        field("path", pa.string(), "file the example is about (navigation, editing); null for localization"),
        field("is_negative", pa.bool_(), "true for a distractor (another file / function of the repo) whose target is 'No changes needed'", False),
        field("distractor_similarity", pa.float64(), "lexical similarity of a distractor to the intent; null for positives"),
        field("prompt", pa.string(), "model input: instructions, intent and the step's context", False),
        field("completion", pa.string(), "target output: file list, function/class list, Search/Replace blocks or 'No changes needed'", False),
    ]
)

"""Issue references in PR text, and the intent text of an edit sample.

Reference forms (``find_issue_refs``), as GitHub autolinks them:

* ``#N`` and ``GH-N``: issue/PR ``N`` of the PR's own repository;
* ``owner/repo#N``: another repository;
* ``https://github.com/owner/repo/issues/N`` and ``.../pull/N`` URLs. Pull URLs are kept,
  like ``#N`` (which may name a PR just as well): whether a number is an issue is decided by
  resolving it against the issues input, not by its spelling.

A reference is *closing* when a GitHub closing keyword (close, closes, closed, fix, fixes,
fixed, resolve, resolves, resolved; any case, optionally followed by a colon) directly
precedes it. As on GitHub, ``Fixes #1, #2`` closes only #1.

References inside fenced code blocks, inline code spans and HTML comments are ignored:
GitHub does not link them, and PR templates keep examples such as ``<!-- Fixes #123 -->``
in comments. ``#N`` is not a reference inside a word or path (``a#1``, ``/#1``, ``&#39;``).
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping, NamedTuple

CLOSING_KEYWORDS = ("close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved")

_FENCED_CODE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)

_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
_REPO = r"[A-Za-z0-9._-]+"
_NUMBER = r"[1-9][0-9]*"
_REFERENCE = re.compile(
    r"(?P<keyword>\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)(?::[ \t]*|\s+))?"
    r"(?:"
    rf"https?://(?:www\.)?github\.com/(?P<url_owner>{_OWNER})/(?P<url_repo>{_REPO})/(?:issues|pull)/(?P<url_number>{_NUMBER})(?![0-9])"
    rf"|(?<![\w/.@-])(?P<owner>{_OWNER})/(?P<repo>{_REPO})#(?P<cross_number>{_NUMBER})\b"
    rf"|(?<![\w/#&@-])(?:#|GH-)(?P<number>{_NUMBER})\b"
    r")",
    re.IGNORECASE,
)


class IssueRef(NamedTuple):
    """A reference to issue (or PR) ``number`` of ``repo`` ('owner/name')."""

    repo: str
    number: int
    closing: bool = False


def strip_code_and_comments(text: str) -> str:
    """Text with fenced code, inline code spans and HTML comments blanked out."""
    text = _HTML_COMMENT.sub(" ", text)
    text = _FENCED_CODE.sub(" ", text)
    return _INLINE_CODE.sub(" ", text)


def find_issue_refs(text: str | None, repo: str | None) -> list[IssueRef]:
    """Issue references in ``text`` in order of first appearance, one per (repo, number).

    ``repo`` is the PR's own repository, used for ``#N``/``GH-N`` (those are skipped when it is
    empty). A reference that appears several times is closing if any appearance is.
    Repositories compare case-insensitively (as GitHub's do) and keep their first spelling.
    """
    if not text:
        return []
    refs: dict[tuple[str, int], IssueRef] = {}
    for match in _REFERENCE.finditer(strip_code_and_comments(text)):
        if match["url_number"]:
            target, number = f"{match['url_owner']}/{match['url_repo']}", match["url_number"]
        elif match["cross_number"]:
            target, number = f"{match['owner']}/{match['repo']}", match["cross_number"]
        elif repo:
            target, number = repo, match["number"]
        else:
            continue
        key = (target.lower(), int(number))
        closing = match["keyword"] is not None
        seen = refs.get(key)
        if seen is None:
            refs[key] = IssueRef(target, int(number), closing)
        elif closing and not seen.closing:
            refs[key] = seen._replace(closing=True)
    return list(refs.values())


def clean_text(text: str | None) -> str:
    """Prose for the intent: LF newlines, HTML comments (template boilerplate) removed, trimmed."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _HTML_COMMENT.sub("", text)
    text = re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _field(issue: Mapping | object, name: str):
    return issue.get(name) if isinstance(issue, Mapping) else getattr(issue, name, None)


def build_intent(title: str | None, body: str | None, linked_issues: Iterable[Mapping | object] = ()) -> str:
    """PR title, body, then each resolved linked issue as ``Issue owner/repo#N: title`` and its body.

    ``linked_issues`` holds records with ``repo``, ``number``, ``title``, ``body`` (the
    ``LINKED_ISSUE_TYPE`` layout); unresolved ones (no title and no body) and repeats are skipped.
    """
    sections = [part for part in (clean_text(title), clean_text(body)) if part]
    seen: set[tuple[str, int]] = set()
    for issue in linked_issues:
        issue_title, issue_body = clean_text(_field(issue, "title")), clean_text(_field(issue, "body"))
        repo, number = _field(issue, "repo") or "", _field(issue, "number")
        key = (str(repo).lower(), number)
        if not (issue_title or issue_body) or key in seen:
            continue
        seen.add(key)
        heading = f"Issue {repo}#{number}" + (f": {issue_title}" if issue_title else "")
        sections.append(heading + (f"\n\n{issue_body}" if issue_body else ""))
    return "\n\n".join(sections)

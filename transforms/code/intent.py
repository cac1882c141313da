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

The intent (``build_intent``) is cleaned of what is not intent (``clean_intent_text``):

* **Trailers** (``remove_trailers``), by git's trailer rules (``git interpret-trailers``): a
  trailer is a line ``Token-Name: value`` (continued by indented lines); a paragraph is a
  trailer block when it holds a known trailer (``KNOWN_TRAILERS``: Signed-off-by,
  Co-authored-by, Reviewed-by, ..., or git's ``(cherry picked from commit ...)``) and at least
  a quarter of its lines are trailers, or, for the final paragraph, when every line is a
  trailer and one token is hyphenated (``Reviewed-on:``, ``Bug-Id:``; a closing ``Note: ...``
  alone is prose). Every paragraph is tested, not only the last, because a git-only body
  holds several commit messages one after another. The trailer lines of a block are removed,
  its other lines kept, and a ``---`` rule left dangling at the end (GitHub's squash body puts
  one before ``Co-authored-by``) goes with them. Fenced code is left alone.
* **E-mail addresses** are removed (replaced with nothing, with the ``<...>`` around them):
  ``Jane Doe <jane@example.com>`` becomes ``Jane Doe``. Nothing is put in their place, so the
  model never learns to write a placeholder; ``git@github.com:o/r`` (an ssh remote) is not
  an address and stays.
* **Commit-message bodies** (``commit_messages=True``: git-only input, whose body is the PR's
  commit messages): a line repeating an earlier line or the title (compared without
  surrounding space and a leading ``*``/``-`` bullet) is dropped, so are ``Merge branch 'x'
  into y`` / ``Merge remote-tracking branch ...`` lines. A PR description from the platform
  is not deduplicated (its repeated lines may be code or a table).
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


KNOWN_TRAILERS = frozenset({
    "signed-off-by", "co-authored-by", "reviewed-by", "acked-by", "tested-by", "reported-by",
    "suggested-by", "change-id", "cc", "helped-by",
})
_TRAILER = re.compile(r"^(?P<token>[A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(?P<value>.*)$")
_CHERRY_PICKED = re.compile(r"^\(cherry picked from commit [0-9a-f]{7,64}\)$")
_RULE = re.compile(r"^[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*$")
_EMAIL_CORE = r"[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_EMAIL = re.compile(rf"[ \t]*<[ \t]*(?:mailto:)?{_EMAIL_CORE}[ \t]*>|(?<![\w.%+@-])(?:mailto:)?{_EMAIL_CORE}(?![\w@-]|\.\w|:\S)")
_EMPTY_BRACKETS = re.compile(r"[ \t]*(?:\([ \t]*\)|\[[ \t]*\])")
_DOUBLE_SPACE = re.compile(r"(?<=\S)[ \t]{2,}(?=\S)")
_SPACE_BEFORE_PUNCT = re.compile(r"(?<=\S)[ \t]+(?=[,.;:!?)\]](?:\s|$))")
_MERGE_LINE = re.compile(r"^[ \t]*(?:[*-][ \t]+)?Merge (?:remote-tracking )?branch '[^'\n]*'(?: of \S+)?(?: into \S+)?[ \t]*$")
_BULLET = re.compile(r"^[*-][ \t]+")


def _trailer_kind(line: str) -> str | None:
    """'known' (a ``KNOWN_TRAILERS`` token or git's cherry-pick line), 'hyphenated', 'plain', or None."""
    if _CHERRY_PICKED.match(line):
        return "known"
    match = _TRAILER.match(line)
    if not match or match["value"].startswith("//") or not match["value"].strip():
        return None  # a URL (https://...) or an empty value is not a trailer
    token = match["token"].lower()
    return "known" if token in KNOWN_TRAILERS else "hyphenated" if "-" in token else "plain"


def _without_trailers(paragraph: list[str], last: bool) -> list[str] | None:
    """The paragraph's lines without its trailers when it is a trailer block, else None."""
    kinds: list[str | None] = []
    for line in paragraph:
        if line[:1] in (" ", "\t") and kinds and kinds[-1] is not None:
            kinds.append(kinds[-1] and "continued")  # a continuation line belongs to its trailer
        else:
            kinds.append(_trailer_kind(line))
    trailers = sum(1 for kind in kinds if kind not in (None, "continued"))
    others = kinds.count(None)
    known = "known" in kinds
    if not ((known and trailers * 3 >= others)
            or (last and others == 0 and ("known" in kinds or "hyphenated" in kinds))):
        return None
    return [line for line, kind in zip(paragraph, kinds) if kind is None]


def _paragraphs(text: str) -> list[list[str]]:
    paragraphs, current = [], []
    for line in text.split("\n"):
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _outside_code(text: str, fn) -> str:
    """``fn(segment, is_last)`` applied to the parts of ``text`` outside fenced code blocks."""
    parts, start = [], 0
    for match in _FENCED_CODE.finditer(text):
        parts.append((text[start:match.start()], False))
        parts.append((match.group(0), True))
        start = match.end()
    parts.append((text[start:], False))
    last_prose = max((i for i, (part, code) in enumerate(parts) if not code and part.strip()), default=-1)
    return "".join(part if code else fn(part, i == last_prose) for i, (part, code) in enumerate(parts))


def remove_trailers(text: str) -> str:
    """``text`` without git trailer lines (see the module notes), outside fenced code."""
    def strip(segment: str, is_last: bool) -> str:
        paragraphs = _paragraphs(segment)
        if not paragraphs:
            return segment
        kept, removed_any = [], False
        for index, paragraph in enumerate(paragraphs):
            lines = _without_trailers(paragraph, is_last and index == len(paragraphs) - 1)
            if lines is None:
                kept.append(paragraph)
                continue
            removed_any = True
            if lines:
                kept.append(lines)
        while removed_any and kept and all(_RULE.match(line) for line in kept[-1]):
            kept.pop()  # the '---' GitHub puts before the co-authors
        lead = segment[:len(segment) - len(segment.lstrip("\n"))]
        tail = segment[len(segment.rstrip("\n")):]
        return lead + "\n\n".join("\n".join(p) for p in kept) + tail if kept else lead + tail
    return _outside_code(text, strip)


def remove_emails(text: str) -> str:
    """``text`` without e-mail addresses (with their ``<...>``); ``git@host:path`` remotes stay.
    A line that lost one also loses the empty brackets, double space and space before punctuation left behind."""
    if "@" not in text:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if "@" in line and _EMAIL.search(line):
            line = _EMPTY_BRACKETS.sub("", _EMAIL.sub("", line))
            lines[i] = _SPACE_BEFORE_PUNCT.sub("", _DOUBLE_SPACE.sub(" ", line)).rstrip()
    return "\n".join(lines)


def dedupe_commit_lines(text: str, seen: Iterable[str] = ()) -> str:
    """Commit-message text without repeated lines and ``Merge branch ...`` lines (see the module
    notes); ``seen`` holds lines already shown (the title). Blank lines and fenced code stay."""
    known = {_BULLET.sub("", line.strip()) for line in seen if line and line.strip()}

    def dedupe(segment: str, _last: bool) -> str:
        out = []
        for line in segment.split("\n"):
            key = _BULLET.sub("", line.strip())
            if key and (key in known or _MERGE_LINE.match(line)):
                continue
            if key and not _RULE.match(line):
                known.add(key)
            out.append(line)
        return "\n".join(out)
    return _outside_code(text, dedupe)


def clean_intent_text(text: str | None, *, commit_messages: bool = False, seen: Iterable[str] = ()) -> str:
    """``clean_text``, then trailers and e-mail addresses removed; with ``commit_messages``, also
    repeated and ``Merge branch`` lines (``seen``: lines shown before, e.g. the title)."""
    text = clean_text(text)
    if not text:
        return ""
    text = remove_emails(remove_trailers(text))
    if commit_messages:
        text = dedupe_commit_lines(text, seen)
    return clean_text(text)


def _field(issue: Mapping | object, name: str):
    return issue.get(name) if isinstance(issue, Mapping) else getattr(issue, name, None)


def build_intent(title: str | None, body: str | None, linked_issues: Iterable[Mapping | object] = (), *,
                 commit_messages: bool = False) -> str:
    """PR title, body, then each resolved linked issue as ``Issue owner/repo#N: title`` and its body,
    each cleaned by ``clean_intent_text`` (``commit_messages``: the body is the PR's commit messages).

    ``linked_issues`` holds records with ``repo``, ``number``, ``title``, ``body`` (the
    ``LINKED_ISSUE_TYPE`` layout); unresolved ones (no title and no body) and repeats are skipped.
    """
    title_text = clean_intent_text(title)
    body_text = clean_intent_text(body, commit_messages=commit_messages, seen=[title_text])
    sections = [part for part in (title_text, body_text) if part]
    seen: set[tuple[str, int]] = set()
    for issue in linked_issues:
        issue_title, issue_body = clean_intent_text(_field(issue, "title")), clean_intent_text(_field(issue, "body"))
        repo, number = _field(issue, "repo") or "", _field(issue, "number")
        key = (str(repo).lower(), number)
        if not (issue_title or issue_body) or key in seen:
            continue
        seen.add(key)
        heading = f"Issue {repo}#{number}" + (f": {issue_title}" if issue_title else "")
        sections.append(heading + (f"\n\n{issue_body}" if issue_body else ""))
    return "\n\n".join(sections)

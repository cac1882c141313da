"""A repository's own ``.gitattributes``: parsing, git's pattern semantics, Linguist's overrides.

Pure functions (no git) except ``read_repo_context``, which reads the files a PR's verdicts need
from a clone through an open ``git_history.BlobReader`` (one ``git cat-file --batch`` process:
``<commit>:<path>`` names, no ``--filters``/``--textconv``, nothing of the repository runs).

Semantics follow gitattributes(5) and git's ``attr.c``:

* A line is ``pattern attr1 attr2 ...``; blank lines and ``#`` comments are skipped; a pattern
  may be C-quoted (``"a b.py"``). ``[attr]`` macro definitions and negative patterns
  (``!pattern``, refused by git) are ignored. An attribute is set (``name``), unset
  (``-name``), unspecified again (``!name``) or given a value (``name=value``).
* A pattern without a slash matches the file's name at any depth below the ``.gitattributes``
  file's directory; a pattern with a slash (leading, inner) is anchored to that directory.
  ``*`` and ``?`` never match ``/``; ``**/`` at the start matches any leading directories,
  ``/**`` at the end everything inside, ``/**/`` zero or more directories; other ``**`` are ``*``.
  ``[...]`` classes (``!``/``^`` negation, ranges, ``[:alpha:]``-style names), ``\\`` escapes.
  A trailing-slash pattern (``dir/``) matches directories only, so never a file (git's rule:
  write ``dir/**``).
* Precedence: deeper ``.gitattributes`` files override shallower ones, and within one file a
  later line overrides an earlier one, attribute by attribute.

Linguist reads three of them (``linguist_overrides``): ``linguist-vendored``,
``linguist-generated`` and ``linguist-documentation``. As in Linguist's ``boolean_attribute``,
unset (``-name``) and the value ``false`` mean False, set or any other value True, and an
unspecified attribute leaves the decision to Linguist's path patterns.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

GITATTRIBUTES = ".gitattributes"
LINGUIST_ATTRIBUTES = {"linguist-vendored": "vendored", "linguist-generated": "generated",
                       "linguist-documentation": "documentation"}
# Largest .gitattributes read from a clone; bigger ones are skipped (git itself refuses files over 100 MB).
MAX_GITATTRIBUTES_BYTES = 1_000_000
UNSPECIFIED = object()  # the state of an attribute after "!name"

_C_ESCAPES = {"a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
              '"': '"', "\\": "\\"}
_CHAR_CLASSES = {
    "alnum": r"a-zA-Z0-9", "alpha": r"a-zA-Z", "blank": r" \t", "cntrl": r"\x00-\x1f\x7f",
    "digit": r"0-9", "graph": r"!-~", "lower": r"a-z", "print": r" -~", "punct": r"!-/:-@\[-`{-~",
    "space": r" \t\n\r\f\v", "upper": r"A-Z", "xdigit": r"0-9A-Fa-f",
}


@dataclass(frozen=True)
class Rule:
    """One line of a ``.gitattributes`` file: where it applies and the attributes it states."""

    directory: str            # directory of the .gitattributes file ('' for the root)
    regex: re.Pattern         # matched against the path relative to ``directory`` (or the name)
    basename_only: bool       # a pattern without a slash: matched against the file name
    attributes: tuple         # ((name, True | False | str | UNSPECIFIED), ...)

    def matches(self, path: str) -> bool:
        """Whether the rule's pattern matches a file ``path`` (repository-relative)."""
        if self.directory:
            prefix = self.directory + "/"
            if not path.startswith(prefix):
                return False
            path = path[len(prefix):]
        subject = path.rsplit("/", 1)[-1] if self.basename_only else path
        return self.regex.fullmatch(subject) is not None


def _unquote(line: str) -> tuple[str, str] | None:
    """(pattern, rest) of a line whose pattern is C-quoted; None when the quote never closes."""
    out = bytearray()
    i = 1
    while i < len(line):
        ch = line[i]
        if ch == '"':
            return out.decode("utf-8", "replace"), line[i + 1:]
        if ch == "\\" and i + 1 < len(line):
            octal = re.match(r"[0-7]{3}", line[i + 1:i + 4])
            if octal:  # git writes non-ASCII bytes as octal escapes
                out.append(int(octal.group(0), 8) & 0xFF)
                i += 4
                continue
            nxt = line[i + 1]
            out += _C_ESCAPES.get(nxt, nxt).encode("utf-8")
            i += 2
            continue
        out += ch.encode("utf-8", "surrogatepass")
        i += 1
    return None


def _bracket(pattern: str, i: int) -> tuple[str, int] | None:
    """The regex of a ``[...]`` class starting at ``pattern[i] == '['`` and the index after it."""
    j = i + 1
    negate = j < len(pattern) and pattern[j] in "!^"
    if negate:
        j += 1
    parts: list[str] = []
    first = True
    while j < len(pattern):
        ch = pattern[j]
        if ch == "]" and not first:
            body = "".join(parts) or r"\x00-\x7f"
            return (f"[^/{body}]" if negate else f"(?!/)[{body}]"), j + 1
        first = False
        if ch == "[" and pattern.startswith("[:", j):
            end = pattern.find(":]", j + 2)
            if end != -1 and pattern[j + 2:end] in _CHAR_CLASSES:
                parts.append(_CHAR_CLASSES[pattern[j + 2:end]])
                j = end + 2
                continue
        if ch == "\\" and j + 1 < len(pattern):
            j += 1
            ch = pattern[j]
        if j + 2 < len(pattern) and pattern[j + 1] == "-" and pattern[j + 2] != "]":
            high = pattern[j + 2]
            if high == "\\" and j + 3 < len(pattern):
                high, j = pattern[j + 3], j + 1
            parts.append(f"{re.escape(ch)}-{re.escape(high)}")
            j += 3
            continue
        parts.append(re.escape(ch))
        j += 1
    return None  # an unclosed '[' matches nothing (wildmatch aborts)


def wildmatch_regex(pattern: str) -> re.Pattern | None:
    """git's wildmatch with WM_PATHNAME as a regex over a whole relative path (None: matches nothing)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            stars = j - i
            at_start = i == 0 or pattern[i - 1] == "/"
            at_end = j == n or pattern[j] == "/"
            if stars >= 2 and at_start and at_end:
                if j == n:  # 'dir/**' (or a lone '**'): everything
                    out.append(".*")
                    i = j
                else:  # '**/' : zero or more leading directories
                    out.append("(?:.*/)?")
                    i = j + 1
                continue
            out.append("[^/]*")
            i = j
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            found = _bracket(pattern, i)
            if found is None:
                return None
            regex, i = found
            out.append(regex)
        elif ch == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _attribute(token: str) -> tuple[str, object] | None:
    if token.startswith("-"):
        name, state = token[1:], False
    elif token.startswith("!"):
        name, state = token[1:], UNSPECIFIED
    elif "=" in token:
        name, _, state = token.partition("=")
    else:
        name, state = token, True
    return (name, state) if name and re.fullmatch(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*", name) else None


def parse_gitattributes(text: str, directory: str = "") -> list[Rule]:
    """The rules of one ``.gitattributes`` file living in ``directory`` ('' = repository root)."""
    directory = directory.strip("/")
    rules: list[Rule] = []
    for raw_line in text.splitlines():
        line = raw_line.strip(" \t\r\n\v\f")
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            quoted = _unquote(line)
            if quoted is None:
                continue
            pattern, rest = quoted
        else:
            pattern, rest = re.match(r"([^ \t]+)(.*)", line).groups()
        if pattern.startswith("[attr]") or pattern.startswith("!") or not pattern:
            continue
        attributes = tuple(a for a in (_attribute(t) for t in rest.split()) if a is not None)
        if not attributes or pattern.endswith("/"):
            continue  # a trailing-slash pattern only matches directories
        basename_only = "/" not in pattern
        regex = wildmatch_regex(pattern.lstrip("/") if not basename_only else pattern)
        if regex is not None:
            rules.append(Rule(directory, regex, basename_only, attributes))
    return rules


class GitAttributes:
    """The attributes of paths under a set of ``.gitattributes`` files (path -> text)."""

    def __init__(self, files: Mapping[str, str] | Iterable[tuple[str, str]] = ()):
        items = files.items() if isinstance(files, Mapping) else files
        by_directory = []
        for path, text in items:
            if not isinstance(path, str) or not isinstance(text, str):
                continue
            path = path.strip("/")
            if posixpath.basename(path) != GITATTRIBUTES:
                continue
            directory = posixpath.dirname(path)
            by_directory.append((directory.count("/") + bool(directory), directory, text))
        self.rules: list[Rule] = []
        for _, directory, text in sorted(by_directory):  # shallow first: deeper files override
            self.rules.extend(parse_gitattributes(text, directory))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def attributes(self, path: str, names: Iterable[str] | None = None) -> dict[str, object]:
        """The specified attributes of ``path``: name -> True / False / value (unspecified ones left out)."""
        wanted = set(names) if names is not None else None
        state: dict[str, object] = {}
        for rule in self.rules:
            if wanted is not None and not any(name in wanted for name, _ in rule.attributes):
                continue
            if rule.matches(path):
                for name, value in rule.attributes:
                    if wanted is None or name in wanted:
                        state[name] = value
        return {name: value for name, value in state.items() if value is not UNSPECIFIED}

    def linguist_overrides(self, path: str) -> dict[str, bool]:
        """``vendored`` / ``generated`` / ``documentation`` -> bool where ``.gitattributes`` decides."""
        if not self.rules:
            return {}
        found = self.attributes(path, LINGUIST_ATTRIBUTES)
        return {LINGUIST_ATTRIBUTES[name]: value is not False and value != "false" for name, value in found.items()}


# --------------------------------------------------------------------------- reading from a clone

def attribute_file_paths(paths: Iterable[str]) -> list[str]:
    """The ``.gitattributes`` paths that can apply to ``paths``: the root's and every ancestor directory's."""
    wanted = {GITATTRIBUTES}
    for path in paths:
        parts = path.strip("/").split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            wanted.add("/".join(parts[:depth]) + "/" + GITATTRIBUTES)
    return sorted(wanted, key=lambda p: (p.count("/"), p))


def read_blobs_at(reader, commit: str, paths: Sequence[str], max_bytes: int) -> dict[str, bytes]:
    """path -> bytes of the files that exist at ``commit`` (``<commit>:<path>`` through ``reader``,
    a ``git_history.BlobReader``); missing and oversized files and paths with whitespace are left out."""
    # cat-file --batch reads one name per line and answers "<name> missing" for an absent one, so
    # names with whitespace cannot be asked for unambiguously: they are skipped.
    names = [p for p in dict.fromkeys(paths) if p and not re.search(r"\s", p)]
    if not commit or not names:
        return {}
    answers = reader.read([f"{commit}:{path}" for path in names], max_bytes)
    return {path: answers[f"{commit}:{path}"] for path in names
            if isinstance(answers.get(f"{commit}:{path}"), bytes)}


def existing_at(reader, commit: str, paths: Sequence[str]) -> set[str]:
    """Which of ``paths`` exist at ``commit`` (their contents are skipped, not read)."""
    names = [p for p in dict.fromkeys(paths) if p and not re.search(r"\s", p)]
    if not commit or not names:
        return set()
    answers = reader.read([f"{commit}:{path}" for path in names], 0)
    return {path for path in names if answers.get(f"{commit}:{path}") is not None}

"""Input files named without their local location, so ids and audit rows are the same on every machine.

A record read from ``/home/alice/data/mmlu/astronomy_test.csv`` given as ``--source mmlu=/home/alice/data/mmlu``
is known as ``astronomy_test.csv``: its path relative to the root of the pattern that named it
(``pattern_root``: a directory itself, a glob's directory before the first wildcard, a file's
directory). ``display_names`` does that for every input file of a run; names are POSIX-style
and never absolute, so the same relative layout gives the same names (and ids) anywhere.
"""
from __future__ import annotations

import glob
import json
import os
import posixpath
import re
from typing import Iterable, NamedTuple

import pyarrow as pa

_MAGIC = "*?["


def is_url(path: str) -> bool:
    """Whether ``path`` names a remote file system location (``gs://``, ``s3://``, ...), not a local one."""
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> str:
    return os.path.abspath(path[len("file://"):] if path.startswith("file://") else path)


def worker_path(path: str) -> str:
    """``path`` as a worker process sees it: a local path made absolute (a worker of a portable
    runner has its own current directory), a URL unchanged."""
    return path if is_url(path) else _local(path)


def user_cache_dir(name: str) -> str:
    """``$XDG_CACHE_HOME/shardsmith/<name>``, or ``~/.cache/shardsmith/<name>``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "shardsmith", name)


def worker_cache_dir(options, name: str) -> str | None:
    """``user_cache_dir(name)`` for a run whose workers are this machine's in-process runner (they
    share this user's cache), else None: other runners' workers have homes of their own, where a
    cache helps no later run and a worker should not write."""
    from apache_beam.options.pipeline_options import StandardOptions

    runner = (options.view_as(StandardOptions).runner or "").rsplit(".", 1)[-1]
    return user_cache_dir(name) if runner in ("", "FnApiRunner", "DirectRunner") else None


def pattern_root(pattern: str) -> str:
    """The directory a pattern's files are named relative to (absolute for local patterns)."""
    if is_url(pattern):
        head = pattern.rstrip("/")
        if any(ch in head for ch in _MAGIC):
            head = head[:min(head.index(ch) for ch in _MAGIC if ch in head)]
            return head.rsplit("/", 1)[0] if "/" in head else head
        return head  # a URL names a file or a folder; without listing it, treat it as the folder
    path = _local(pattern)
    if glob.has_magic(path):
        head = path[:min(path.index(ch) for ch in _MAGIC if ch in path)]
        return os.path.dirname(head) if not head.endswith(os.sep) else head.rstrip(os.sep) or os.sep
    return path if os.path.isdir(path) else os.path.dirname(path)


def _relative(path: str, root: str) -> str | None:
    if is_url(path):
        prefix = root.rstrip("/") + "/"
        return path[len(prefix):] if path.startswith(prefix) else None
    full = _local(path)
    for a, b in ((full, root), (os.path.realpath(full), os.path.realpath(root))):
        if a.startswith(b.rstrip(os.sep) + os.sep):
            return os.path.relpath(a, b).replace(os.sep, "/")
    return None


def _parts(path: str) -> list[str]:
    rest = path.split("://", 1)[1] if is_url(path) else _local(path)
    return [p for p in rest.replace(os.sep, "/").split("/") if p]


def display_names(groups: Iterable[tuple[str, Iterable[str]]]) -> dict[str, str]:
    """File -> its name relative to the root of the pattern that found it (first pattern wins).

    ``groups``: (pattern, files it expanded to), in flag order. A file outside its pattern's root
    (a symlink into elsewhere) is named by its base name. When two different files get one name
    (``/a/train.jsonl`` and ``/b/train.jsonl``), each is prefixed by as many trailing directory
    names of its location as it takes to tell them apart (``a/train.jsonl``, ``b/train.jsonl``).
    """
    names: dict[str, str] = {}
    for pattern, files in groups:
        root = pattern_root(pattern)
        for file in files:
            if file not in names:
                names[file] = _relative(file, root) or posixpath.basename(file.rstrip("/"))
    identity = {file: _local(file) if not is_url(file) else file for file in names}
    for _ in range(64):  # each round adds one directory to the names that still collide
        by_name: dict[str, set[str]] = {}
        for file, name in names.items():
            by_name.setdefault(name, set()).add(identity[file])
        clashes = {name for name, owners in by_name.items() if len(owners) > 1}
        if not clashes:
            break
        for file, name in names.items():
            if name in clashes:
                parts = _parts(file)
                depth = name.count("/") + 1
                if depth < len(parts):
                    names[file] = "/".join(parts[-depth - 1:])
    return names


# --------------------------------------------------------------------------- what must not leave the machine

REDACTED_DIR = "<local>"
# Directories too general to say anything about a machine (a run started in /tmp, a home of "/"):
# never used as roots, or every "/tmp/..." in a code corpus would count as a leak.
GENERIC_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/media", "/mnt", "/opt", "/private",
    "/private/tmp", "/private/var", "/proc", "/run", "/sbin", "/srv", "/sys", "/tmp", "/Users", "/usr",
    "/usr/local", "/var", "/var/tmp", "/Volumes",
})
# An absolute POSIX path (or ~/...) in free text: starts after a separator-like character, ends at
# whitespace, quotes, brackets or list separators. URLs are not matched ("//host/..." follows ':').
_ABSOLUTE = re.compile(r"(?:file://(?=/)|(?<![\w.:/~<>\\-]))(~?/[^\s\"'`,;|=<>()\[\]{}]+)")
_AFTER_ROOT = r"(?:[^A-Za-z0-9_-]|$)"  # a root ends where a path component does ("/a/b" is not in "/a/bc")


def _path_candidates(value: str) -> list[str]:
    """Local paths an option value names: itself, the PATH of NAME=PATH, comma-separated parts."""
    parts = [value]
    if "=" in value:
        parts.append(value.split("=", 1)[1])
    parts += [p for p in value.split(",") if p != value]
    found = []
    for part in (p.strip() for p in parts):
        if not part or is_url(part):
            continue
        if part.startswith("file://"):
            part = part[len("file://"):]
        if part.startswith("~"):
            part = os.path.expanduser(part)
        if glob.has_magic(part):
            part = pattern_root(part)
        if os.path.isabs(part) or (len(part) > 1 and os.path.exists(part)):
            found.append(os.path.normpath(os.path.abspath(part)))
    return found


def _walk_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk_strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk_strings(item)


def local_roots(output: str, options: dict | None = None, *, cwd: str | None = None,
                home: str | None = None) -> list[str]:
    """The absolute local paths nothing published may hold, longest first: the working directory,
    the home directory, the run's output and every local path among its ``options`` (as given and
    resolved through symlinks; ``GENERIC_DIRS`` left out)."""
    roots = {os.getcwd() if cwd is None else cwd, os.path.expanduser("~") if home is None else home}
    if output and not is_url(output):
        roots.add(_local(output))
    for value in _walk_strings(options or {}):
        roots.update(_path_candidates(value))
    resolved = set()
    for root in roots:
        if root:
            resolved |= {os.path.normpath(root).rstrip(os.sep) or os.sep, os.path.realpath(root)}
    return sorted((r for r in resolved if r not in GENERIC_DIRS and len(r) > 1), key=lambda r: (-len(r), r))


def _variants(root: str) -> list[str]:
    """A root as it appears in text: itself and, when non-ASCII, JSON's ASCII escape of it."""
    escaped = json.dumps(root)[1:-1]
    return [root] if escaped == root else [root, escaped]


def roots_pattern(roots: Iterable[str]) -> str | None:
    """One regex (Python ``re`` and RE2 alike) matching any of ``roots`` as a whole path prefix."""
    alternatives = sorted({re.escape(v) for root in roots for v in _variants(root)}, key=lambda s: (-len(s), s))
    return f"(?:{'|'.join(alternatives)}){_AFTER_ROOT}" if alternatives else None


def redact_text(text: str, roots: Iterable[str] = ()) -> str:
    """``text`` with local paths replaced by ``<local>/NAME`` (NAME the path's last component): first
    the given ``roots`` wherever they occur, then any other absolute path."""
    roots = sorted(set(roots), key=len, reverse=True)
    for root in roots:
        for variant in _variants(root):
            name = posixpath.basename(root.rstrip("/")) or "root"
            text = re.sub(re.escape(variant) + r"(?![A-Za-z0-9_-])", f"{REDACTED_DIR}/{name}", text)

    def short(match: re.Match) -> str:
        path = match.group(1).rstrip("/.")
        name = posixpath.basename(path) or "root"
        return f"{REDACTED_DIR}/{name}"

    return _ABSOLUTE.sub(short, text)


def redact_value(value, roots: Iterable[str] = ()):
    """``redact_text`` applied to every string inside ``value`` (dicts, lists; keys kept)."""
    roots = list(roots)
    if isinstance(value, str):
        return redact_text(value, roots)
    if isinstance(value, dict):
        return {k: redact_value(v, roots) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, roots) for v in value]
    return value


def absolute_paths_in(text: str) -> list[str]:
    """Absolute-looking paths in free text (what ``redact_text`` would replace), in order."""
    return [m.group(0) for m in _ABSOLUTE.finditer(text)]


class LocalPathFound(NamedTuple):
    """Where a shard holds a local path: file, column (``a.b`` struct fields, ``a[]`` list items), example."""

    path: str
    column: str
    root: str
    example: str
    rows: int


def _string_leaves(array: pa.Array, name: str):
    """(column name, string array) of every string inside ``array``, nested ones included."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        yield from _string_leaves(array.dictionary, name)
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        yield name, array
    elif hasattr(pa.types, "is_string_view") and pa.types.is_string_view(kind):
        yield name, array.cast(pa.large_string())
    elif pa.types.is_struct(kind):
        for i in range(kind.num_fields):
            yield from _string_leaves(array.field(i), f"{name}.{kind.field(i).name}")
    elif pa.types.is_map(kind):
        yield from _string_leaves(array.keys, f"{name}.key")
        yield from _string_leaves(array.items, f"{name}.value")
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        yield from _string_leaves(array.flatten(), f"{name}[]")


def _has_strings(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        return _has_strings(kind.value_type)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return True
    if hasattr(pa.types, "is_string_view") and pa.types.is_string_view(kind):
        return True
    if pa.types.is_struct(kind):
        return any(_has_strings(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_map(kind):
        return _has_strings(kind.key_type) or _has_strings(kind.item_type)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _has_strings(kind.value_type)
    return False


def _excerpt(text: str, pattern: re.Pattern, width: int = 100) -> tuple[str, str]:
    match = pattern.search(text)
    if match is None:
        return "", text[:width]
    start = max(0, match.start() - 30)
    snippet = text[start:start + width]
    return match.group(0).rstrip("/"), ("…" if start else "") + snippet + ("…" if start + width < len(text) else "")


def find_local_paths(path: str, roots: Iterable[str], batch_size: int = 4096) -> LocalPathFound | None:
    """The first string column of the Parquet file ``path`` that holds one of ``roots``, or None.

    Reads only the columns holding strings, ``batch_size`` rows at a time, and tests whole
    columns with ``pyarrow.compute.match_substring_regex`` (no per-row Python).
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pattern = roots_pattern(roots)
    if pattern is None:
        return None
    compiled = re.compile(pattern)
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    columns = [f.name for f in schema if _has_strings(f.type)]
    if not columns or parquet.metadata.num_rows == 0:
        return None
    for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
        for name in columns:
            for column, strings in _string_leaves(batch.column(name), name):
                if len(strings) == 0:
                    continue
                mask = pc.match_substring_regex(strings, pattern)
                hits = pc.sum(pc.cast(mask, pa.int64())).as_py() or 0
                if hits:
                    example = strings.filter(mask)[0].as_py()
                    root, snippet = _excerpt(example, compiled)
                    return LocalPathFound(path, column, _matched_root(root, roots), snippet, hits)
    return None


def _matched_root(matched: str, roots: Iterable[str]) -> str:
    for root in sorted(roots, key=len, reverse=True):
        if any(matched.startswith(v) for v in _variants(root)):
            return root
    return matched

"""Input files named without their local location, so ids and audit rows are the same on every machine.

A record read from ``/home/alice/data/mmlu/astronomy_test.csv`` given as ``--source mmlu=/home/alice/data/mmlu``
is known as ``astronomy_test.csv``: its path relative to the root of the pattern that named it
(``pattern_root``: a directory itself, a glob's directory before the first wildcard, a file's
directory). ``display_names`` does that for every input file of a run; names are POSIX-style
and never absolute, so the same relative layout gives the same names (and ids) anywhere.
"""
from __future__ import annotations

import glob
import os
import posixpath
from typing import Iterable

_MAGIC = "*?["


def _is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> str:
    return os.path.abspath(path[len("file://"):] if path.startswith("file://") else path)


def pattern_root(pattern: str) -> str:
    """The directory a pattern's files are named relative to (absolute for local patterns)."""
    if _is_url(pattern):
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
    if _is_url(path):
        prefix = root.rstrip("/") + "/"
        return path[len(prefix):] if path.startswith(prefix) else None
    full = _local(path)
    for a, b in ((full, root), (os.path.realpath(full), os.path.realpath(root))):
        if a.startswith(b.rstrip(os.sep) + os.sep):
            return os.path.relpath(a, b).replace(os.sep, "/")
    return None


def _parts(path: str) -> list[str]:
    rest = path.split("://", 1)[1] if _is_url(path) else _local(path)
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
    identity = {file: _local(file) if not _is_url(file) else file for file in names}
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

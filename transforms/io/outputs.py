"""Where a command may write: the rules that keep shardsmith from destroying data it did not create.

- An output that does not exist, or is an empty directory, may be written.
- An output holding a finished shardsmith run (``_manifest.json`` of this tool and ``_SUCCESS``)
  is replaced only with ``--overwrite``, and only when it holds nothing but what that run wrote.
- An output holding only what a run of this tool wrote but no ``_SUCCESS`` (a run interrupted
  while publishing) is replaced.
- Anything else (a folder with user files, a file) is refused, with or without
  ``--overwrite``: shardsmith never deletes what it did not create.
- An output equal to, inside, or containing one of the command's inputs is refused.

Every refusal is an ``InputError``: one line naming the path. Beam-free, so the CLI checks
before any pipeline is built.
"""
from __future__ import annotations

import json
import os
import posixpath

import fsspec

from transforms.errors import InputError

MANIFEST_NAME = "_manifest.json"
SUCCESS_NAME = "_SUCCESS"
REPORT_DIR = "_report"
LOGS_DIR = "_logs"
RUN_MADE_ENTRIES = (MANIFEST_NAME, SUCCESS_NAME, REPORT_DIR, LOGS_DIR)
# manifest key: top-level entries a pipeline wrote besides its datasets (e.g. Verus's export/)
EXTRA_ENTRIES = "extra_entries"


def _fs(url: str):
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InputError(f"{url}: cannot open ({exc})") from None


def _is_local(fs) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return "file" in protocols or "local" in protocols


def finished_run_manifest(output: str) -> dict | None:
    """The manifest of ``output`` when it holds a finished shardsmith run, else None."""
    fs, path = _fs(output)
    if not fs.isfile(posixpath.join(path, SUCCESS_NAME)):
        return None
    return _run_manifest(output)


def _run_manifest(output: str) -> dict | None:
    """``output``'s ``_manifest.json`` when it is one this tool writes (finished or not), else None."""
    fs, path = _fs(output)
    try:
        with fs.open(posixpath.join(path, MANIFEST_NAME), "r", encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError, UnicodeError):
        return None
    if not isinstance(manifest, dict) or not {"pipeline", "conservation", "datasets"} <= manifest.keys():
        return None
    return manifest


def _entries(fs, path: str) -> list[str]:
    return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(path, detail=False))


def foreign_entries(output: str, manifest: dict) -> list[str]:
    """Entries of a finished run's folder that its run did not write (user files put there later)."""
    fs, path = _fs(output)
    made = set(RUN_MADE_ENTRIES) | set(manifest.get("datasets") or {}) | set(manifest.get(EXTRA_ENTRIES) or [])
    return [name for name in _entries(fs, path) if name not in made]


def check_output_dir(output: str, overwrite: bool, *, what: str = "--output") -> str:
    """Check that a run may write ``output``: 'new', 'empty', 'finished' (replaced only with
    ``overwrite``) or 'unfinished' (our manifest without ``_SUCCESS`` and nothing else: a run
    interrupted while publishing; replaced).

    Raises ``InputError`` (one line, naming the path) for anything else.
    """
    fs, path = _fs(output)
    if not fs.exists(path):
        return "new"
    if not fs.isdir(path):
        raise InputError(f"{what} {output}: exists and is not a directory")
    if not _entries(fs, path):
        return "empty"
    manifest = finished_run_manifest(output)
    if manifest is None:
        unfinished = _run_manifest(output)
        if unfinished is not None and not foreign_entries(output, unfinished):
            return "unfinished"  # a run of ours stopped between moving its folder and writing _SUCCESS
        raise InputError(f"{what} {output}: exists and is not a finished shardsmith run; refusing to write "
                         "into it (choose a new output folder)")
    if not overwrite:
        raise InputError(f"{what} {output}: already holds a finished run (pass --overwrite to replace it, "
                         "or --resume to reuse it)")
    foreign = foreign_entries(output, manifest)
    if foreign:
        raise InputError(f"{what} {output}: holds entries its run did not write ({', '.join(foreign[:3])}); "
                         "refusing to replace it")
    return "finished"


def _location(url: str) -> tuple[str, str]:
    """(protocol, absolute normalized path) of a local path or URL, symlinks resolved locally."""
    fs, path = _fs(url)
    if _is_local(fs):
        return "file", os.path.realpath(os.path.expanduser(path))
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    return protocol, "/" + posixpath.normpath(path).lstrip("/")


def _contains(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def check_not_overlapping(output: str, inputs: list[str] = (), *, read_in_place: list[str] = (),
                          what: str = "--output") -> None:
    """Refuse an output equal to, inside, or containing an input.

    ``inputs``: files, directories or glob patterns read as records; an output inside an
    input directory (or under a ``**`` glob) is refused too, since the next run would read
    it. ``read_in_place``: sources read through their own store (git repositories): only an
    output equal to or containing them, or inside their ``.git``, is refused.
    """
    out_protocol, out_path = _location(output)
    for item in inputs:
        for protocol, path, is_dir in _input_locations(item):
            if protocol == out_protocol and (_contains(out_path, path) or (is_dir and _contains(path, out_path))):
                raise InputError(f"{what} {output}: overlaps the input {item}; write the output elsewhere")
    for item in read_in_place:
        protocol, path = _location(item)
        if protocol == out_protocol and (_contains(out_path, path) or _contains(posixpath.join(path, ".git"), out_path)):
            raise InputError(f"{what} {output}: overlaps the repository {item}; write the output elsewhere")


def _input_locations(item: str) -> list[tuple[str, str, bool]]:
    """(protocol, path, is a directory) of what an input pattern reads."""
    fs, path = _fs(item)
    local = _is_local(fs)
    wildcards = [path.index(ch) for ch in "*?[" if ch in path]
    if not wildcards:
        return [(*_location(item), fs.isdir(path))]
    if "**" in path:
        base = path[:min(wildcards)].rsplit("/", 1)[0] or "/"
        return [(*_location(base if local else fs.unstrip_protocol(base)), True)]
    return [(*_location(match if local else fs.unstrip_protocol(match)), fs.isdir(match))
            for match in fs.glob(path)]


def check_output_file(output: str, inputs: list[str], overwrite: bool, *, is_ours, what: str = "--output") -> None:
    """Rules for a command that writes one file (e.g. ``train-rater``): a new path, or with
    ``overwrite`` a file ``is_ours(path)`` recognises as this tool's; never an input."""
    check_not_overlapping(output, inputs, what=what)
    if not os.path.lexists(output):
        return
    if os.path.isdir(output) or not os.path.isfile(output):
        raise InputError(f"{what} {output}: exists and is not a regular file")
    if not overwrite:
        raise InputError(f"{what} {output}: already exists (pass --overwrite to replace it)")
    if not is_ours(output):
        raise InputError(f"{what} {output}: exists and was not written by shardsmith; refusing to replace it")

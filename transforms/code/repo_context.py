"""What the Clean-PR file rules need to know about a repository beyond a PR's changed files.

Two things, carried by every raw PR record (``RAW_PR_SCHEMA``) so both input paths see them:

* ``gitattributes``: the ``.gitattributes`` files that can apply to the changed files (the
  root's and every ancestor directory's), ``[{path, text}]``, read at the PR's base commit (the
  head commit for a root commit): their ``linguist-*`` attributes override the path patterns
  (``transforms.code.gitattributes``);
* ``package_markers``: which ``__init__.py`` / ``Cargo.toml`` files exist (at the base or head
  commit) beside or above changed files in documentation directories, and which non-test Go
  files sit beside a changed ``_test.go`` there (read from the directory's tree object), so a
  source package in ``docs/`` counts as code (``transforms.code.languages.in_source_package``).

``read_repo_context`` reads both from a clone through an open ``git_history.BlobReader`` (one
``cat-file --batch`` round trip per PR); ``repo_context_of(pr)`` builds the ``RepoContext`` the
rules take, adding the PR's own files as markers (a package the PR creates, or deletes).
PR records without the fields (``--prs`` input) get the path patterns only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from transforms.code.gitattributes import (
    MAX_GITATTRIBUTES_BYTES, GitAttributes, attribute_file_paths, existing_at, read_blobs_at,
)
from transforms.code.languages import is_go_source, package_marker_paths

MARKER_NAMES = ("__init__.py", "Cargo.toml")
MAX_TREE_BYTES = 1_000_000


@dataclass(frozen=True)
class RepoContext:
    """``.gitattributes`` rules and known package marker files of one PR's repository."""

    attributes: GitAttributes = field(default_factory=GitAttributes)
    package_markers: frozenset = frozenset()

    def linguist_overrides(self, path: str) -> dict[str, bool]:
        """``vendored`` / ``generated`` / ``documentation`` -> bool where ``.gitattributes`` decides."""
        return self.attributes.linguist_overrides(path)


def _changed_paths(files: Iterable[Mapping]) -> list[str]:
    paths = []
    for file in files:
        paths += [p for p in (file.get("path"), file.get("previous_path")) if isinstance(p, str) and p]
    return paths


def repo_context_of(pr: Mapping) -> RepoContext:
    """The ``RepoContext`` of a raw PR record: its ``gitattributes`` and ``package_markers``
    fields plus the PR's own marker files."""
    files = [f for f in pr.get("files") or () if isinstance(f, Mapping)]
    attribute_files = [(item.get("path"), item.get("text")) for item in pr.get("gitattributes") or ()
                       if isinstance(item, Mapping)]
    markers = {m for m in pr.get("package_markers") or () if isinstance(m, str)}
    markers.update(p for p in _changed_paths(files) if p.rsplit("/", 1)[-1] in MARKER_NAMES or is_go_source(p))
    return RepoContext(GitAttributes(attribute_files), frozenset(markers))


def read_repo_context(reader, base_sha: str | None, head_sha: str | None, files: Iterable[Mapping]) -> dict:
    """``{"gitattributes": [...], "package_markers": [...]}`` of a PR read from its clone
    (``reader``: an open ``git_history.BlobReader``); see the module notes."""
    paths = _changed_paths(files)
    commit = base_sha or head_sha
    attributes = []
    if commit and paths:
        found = read_blobs_at(reader, commit, attribute_file_paths(paths), MAX_GITATTRIBUTES_BYTES)
        for path in sorted(found, key=lambda p: (p.count("/"), p)):
            attributes.append({"path": path, "text": found[path].decode("utf-8", "replace")})
    wanted = package_marker_paths(paths)
    files_wanted = [m for m in wanted if not m.endswith("/")]
    directories = [m.rstrip("/") for m in wanted if m.endswith("/")]
    markers: set[str] = set()
    for sha in dict.fromkeys(s for s in (base_sha, head_sha) if s):
        if files_wanted:
            markers |= existing_at(reader, sha, [m for m in files_wanted if m not in markers])
        for directory, tree in read_blobs_at(reader, sha, directories, MAX_TREE_BYTES).items():
            markers.update(f"{directory}/{name}" for name in tree_file_names(tree) if is_go_source(name))
    return {"gitattributes": attributes, "package_markers": sorted(markers)}


def tree_entries(tree: bytes, hash_size: int = 20) -> list[tuple[bytes, bytes, bytes]] | None:
    """(mode, name, raw hash) of every entry of a raw git tree object (``<mode> <name>\\0<hash>``
    entries, the mode as written: ``100644``, ``40000`` ...); None when the bytes are not a tree."""
    entries, i = [], 0
    while i < len(tree):
        space, nul = tree.find(b" ", i), tree.find(b"\0", i)
        if space == -1 or nul == -1 or space > nul or nul + 1 + hash_size > len(tree):
            return None
        entries.append((tree[i:space], tree[space + 1:nul], tree[nul + 1:nul + 1 + hash_size]))
        i = nul + 1 + hash_size
    return entries


def tree_file_names(tree: bytes, hash_size: int = 20) -> list[str]:
    """Names of the regular files in a raw git tree object (``<mode> <name>\\0<hash>`` entries);
    [] when the bytes are not a tree (a file of that name)."""
    return [name.decode("utf-8", "replace") for mode, name, _ in tree_entries(tree, hash_size) or ()
            if mode in (b"100644", b"100755", b"100664")]

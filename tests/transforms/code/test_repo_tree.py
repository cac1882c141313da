"""RepoFiles.tree (tree objects read through cat-file, cached) against git ls-tree -r itself."""
from __future__ import annotations

import os
import subprocess

import pytest

from transforms.code import repo_tree
from transforms.code.git_history import GitError
from transforms.code.repo_tree import RepoFiles, distractor_candidates, tree_files

ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "a",
       "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@example.com"}


def git(repo, *args: str, input: bytes | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=ENV,
                          input=input).stdout.decode().strip()


def write(repo, rel: str | bytes, content: bytes, mode: int = 0o644) -> None:
    path = os.path.join(os.fsencode(repo), os.fsencode(rel))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(content)
    os.chmod(path, mode)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    repo = tmp_path_factory.mktemp("tree") / "repo"
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    write(repo, "README.md", b"# r\n")
    write(repo, "pkg/core.py", b"def f():\n    return 1\n")
    write(repo, "pkg/sub/deep/x.go", b"package deep\n")
    write(repo, "bin/run.sh", b"#!/bin/sh\n", 0o755)
    write(repo, b"caf\xe9/latin1.py", b"x = 1\n")  # not UTF-8: backslash-escaped like ls-tree's answer
    os.symlink("pkg/core.py", repo / "link.py")  # a symlink is not a regular file
    git(repo, "add", "-A")
    commit_like = git(repo, "commit-tree", git(repo, "write-tree"), "-m", "for a gitlink", input=b"")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{commit_like},vendor/sub")  # a submodule
    git(repo, "commit", "-q", "-m", "one")
    first = git(repo, "rev-parse", "HEAD")
    write(repo, "pkg/sub/deep/x.go", b"package deep\n\nfunc X() {}\n")
    write(repo, "pkg/new.py", b"y = 2\n")
    git(repo, "rm", "-q", "README.md")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "two")
    second = git(repo, "rev-parse", "HEAD")
    return str(repo), [first, second]


def test_tree_is_what_ls_tree_lists(history):
    repo, commits = history
    git_dir = os.path.join(repo, ".git")
    with RepoFiles() as files:
        for commit in commits:
            walked = files.tree(repo, commit)
            assert walked == dict(tree_files(git_dir, commit))
    assert "pkg/sub/deep/x.go" in walked and "link.py" not in walked and "vendor/sub" not in walked
    assert "caf\\xe9/latin1.py" in walked and "README.md" not in walked


def test_a_cache_smaller_than_one_tree_gives_the_same_answer(history, monkeypatch):
    repo, commits = history
    monkeypatch.setattr(repo_tree, "TREE_CACHE_ENTRIES", 1)
    git_dir = os.path.join(repo, ".git")
    with RepoFiles() as files:
        assert [files.tree(repo, c) for c in commits * 2] == [dict(tree_files(git_dir, c)) for c in commits * 2]
        (cache,) = files._trees.values()  # noqa: SLF001 - the bound is the point
        assert cache.size <= 6 and len(cache._trees) == 1  # noqa: SLF001 - the root's 6 entries, nothing more


def test_revision_names_and_missing_commits_go_to_git(history):
    repo, commits = history
    with RepoFiles() as files:
        assert files.tree(repo, "HEAD") == files.tree(repo, commits[1])
        assert files.tree(repo, None) == {}
        with pytest.raises(GitError):
            files.tree(repo, "0" * 40)
        blob = git(repo, "rev-parse", f"{commits[0]}:README.md")
        with pytest.raises(GitError):  # not a commit: git says what is wrong
            files.tree(repo, blob)


def test_distractor_candidates_rank_core_paths_by_the_intent():
    paths = ["docs/conf.py", "src/render.py", "src/parser.py", "vendor/lib.py", "src/edited.py", "README.md"]
    assert distractor_candidates(paths, ["src/edited.py"], "fix the parser") == ["src/parser.py", "src/render.py"]
    assert distractor_candidates(paths, ["src/edited.py"], "fix the parser", excluded=["src/parser.py"]) == [
        "src/render.py"]

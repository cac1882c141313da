"""The repository's .gitattributes: git's pattern semantics (checked against ``git check-attr``),
Linguist's boolean overrides, and reading the files of a PR from a clone."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from transforms.code.git_history import BlobReader, git_dir_of, pr_records
from transforms.code.gitattributes import GitAttributes, attribute_file_paths, parse_gitattributes, wildmatch_regex
from transforms.code.repo_context import read_repo_context, repo_context_of

NAMES = ["linguist-vendored", "linguist-generated", "linguist-documentation"]
ROOT_ATTRIBUTES = """# comment line
*.min.js linguist-vendored
vendor/** linguist-vendored
/docs/* linguist-documentation
generated/*.py linguist-generated=true
**/gen/** linguist-generated
a/**/b.py linguist-vendored
vendor/keep.py -linguist-vendored
third/x.py linguist-vendored=false
"sp ace.py" linguist-vendored
[abc]?.go linguist-generated
[!a-c]z.go linguist-generated
pkg/ linguist-vendored
lib*/** linguist-documentation
!neg.py linguist-vendored
[attr]mymacro linguist-vendored
*.pb.go linguist-generated linguist-vendored=maybe
"""
SUB_ATTRIBUTES = "*.py linguist-vendored\nkeep.py !linguist-vendored\n/top.py linguist-documentation\n"
PATHS = [
    "x.min.js", "d/x.min.js", "vendor/a.py", "vendor/b/c.py", "vendor/keep.py", "docs/a.py", "docs/b/c.py",
    "src/docs/a.py", "generated/a.py", "generated/b/a.py", "gen/x.py", "a/gen/x.py", "a/b.py", "a/x/b.py",
    "a/x/y/b.py", "third/x.py", "sp ace.py", "ax.go", "dx.go", "az.go", "zz.go", "pkg/a.py", "lib/a.py",
    "libx/y/z.py", "sub/a.py", "sub/keep.py", "sub/d/e.py", "sub/top.py", "sub/d/top.py", "q.py", "neg.py",
    "api/x.pb.go",
]


def _git(cwd: Path, *args: str, input: bytes | None = None) -> bytes:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": "1700000000 +0000",
           "GIT_COMMITTER_DATE": "1700000000 +0000"}
    return subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=cwd, env=env, input=input,
                          capture_output=True, check=True).stdout


def git_check_attr(repo: Path, paths: list[str]) -> dict[str, dict]:
    """What git itself says: path -> {attribute: True | False | value} (unspecified left out)."""
    out = _git(repo, "check-attr", "-z", "--stdin", *NAMES, input="\0".join(paths).encode() + b"\0")
    tokens = out.decode().split("\0")
    found: dict[str, dict] = {}
    for i in range(0, len(tokens) - 1, 3):
        path, name, value = tokens[i:i + 3]
        if value != "unspecified":
            found.setdefault(path, {})[name] = {"set": True, "unset": False}.get(value, value)
    return found


def test_patterns_match_what_git_check_attr_says(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / ".gitattributes").write_text(ROOT_ATTRIBUTES)
    (repo / "sub").mkdir()
    (repo / "sub" / ".gitattributes").write_text(SUB_ATTRIBUTES)
    ours = GitAttributes({".gitattributes": ROOT_ATTRIBUTES, "sub/.gitattributes": SUB_ATTRIBUTES})
    expected = git_check_attr(repo, PATHS)
    assert {p: ours.attributes(p, NAMES) for p in PATHS} == {p: expected.get(p, {}) for p in PATHS}
    # the cases that make the comparison meaningful are among them
    assert expected["vendor/keep.py"] == {"linguist-vendored": False}
    assert "docs/b/c.py" not in expected and "src/docs/a.py" not in expected  # anchored, one level
    assert expected["a/x/y/b.py"] == {"linguist-vendored": True} and "pkg/a.py" not in expected
    assert "sub/keep.py" not in expected and expected["sub/a.py"] == {"linguist-vendored": True}
    assert expected["sub/top.py"]["linguist-documentation"] is True and "sub/d/top.py" in expected


def test_linguist_overrides_follow_boolean_attribute():
    attributes = GitAttributes({".gitattributes": (
        "a.py linguist-vendored\nb.py -linguist-vendored\nc.py linguist-vendored=false\n"
        "d.py linguist-vendored=true\ne.py linguist-generated=yes\nf.py linguist-vendored\nf.py !linguist-vendored\n"
        "docs/** linguist-documentation\ndocs/api/** -linguist-documentation\n")})
    assert attributes.linguist_overrides("a.py") == {"vendored": True}
    assert attributes.linguist_overrides("b.py") == {"vendored": False}
    assert attributes.linguist_overrides("c.py") == {"vendored": False}
    assert attributes.linguist_overrides("d.py") == {"vendored": True}
    assert attributes.linguist_overrides("e.py") == {"generated": True}
    assert attributes.linguist_overrides("f.py") == {}  # !attr: unspecified again, Linguist's patterns decide
    assert attributes.linguist_overrides("docs/guide/x.go") == {"documentation": True}
    assert attributes.linguist_overrides("docs/api/x.go") == {"documentation": False}  # later line wins
    assert GitAttributes().linguist_overrides("a.py") == {}


def test_deeper_files_override_shallower_ones_and_only_apply_below_them():
    attributes = GitAttributes([("lib/.gitattributes", "*.py -linguist-vendored\n"),
                                (".gitattributes", "*.py linguist-vendored\n"), ("README", "*.py x\n")])
    assert attributes.linguist_overrides("lib/a.py") == {"vendored": False}
    assert attributes.linguist_overrides("lib/deep/a.py") == {"vendored": False}
    assert attributes.linguist_overrides("app/a.py") == {"vendored": True}
    assert attributes.linguist_overrides("libx/a.py") == {"vendored": True}  # 'lib/' is not a prefix of 'libx/'


@pytest.mark.parametrize("pattern,path,matches", [
    ("**/foo", "foo", True), ("**/foo", "a/b/foo", True), ("foo/**", "foo/a/b", True), ("foo/**", "foo", False),
    ("a/**/b", "a/b", True), ("a/**/b", "a/x/y/b", True), ("a**b/c", "axxb/c", True), ("a**b/c", "ax/b/c", False),
    ("a/*.py", "a/b/c.py", False), ("a/?.py", "a/b.py", True), ("a/[0-9].py", "a/7.py", True),
    ("a/[[:digit:]]x", "a/5x", True), ("a/\\*.py", "a/*.py", True), ("a/\\*.py", "a/b.py", False),
    ("a/[!b].py", "a/b.py", False), ("a/[!b].py", "a/c.py", True), ("a/[b", "a/[b", False),
])
def test_wildmatch(pattern, path, matches):
    regex = wildmatch_regex(pattern)
    assert (regex is not None and regex.fullmatch(path) is not None) is matches


def test_unparseable_lines_are_skipped():
    rules = parse_gitattributes('"unclosed linguist-vendored\n\n   \n# x\nfoo\n"tab\\tname.py" linguist-generated\n'
                                '"caf\\303\\251.py" linguist-vendored\n', "pkg")
    assert [(r.directory, r.basename_only, r.attributes) for r in rules] == [
        ("pkg", True, (("linguist-generated", True),)), ("pkg", True, (("linguist-vendored", True),))]
    assert rules[0].matches("pkg/x/tab\tname.py") and not rules[0].matches("tab\tname.py")
    assert rules[1].matches("pkg/café.py")


def test_attribute_file_paths_are_every_ancestor():
    assert attribute_file_paths(["a/b/c.py", "d.py", "a/e.py"]) == [
        ".gitattributes", "a/.gitattributes", "a/b/.gitattributes"]


def test_read_repo_context_reads_the_base_commit(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / ".gitattributes").write_text("gen/** linguist-generated\n")
    (repo / "docs" / "tools").mkdir(parents=True)
    (repo / "docs" / "tools" / "__init__.py").write_text("")
    (repo / "docs" / "tools" / "build.py").write_text("X = 1\n")
    (repo / "sub").mkdir()
    (repo / "sub" / ".gitattributes").write_text("*.py linguist-vendored\n")
    (repo / "sub" / "a.py").write_text("A = 1\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    base = _git(repo, "rev-parse", "HEAD").decode().strip()
    (repo / ".gitattributes").write_text("gen/** -linguist-generated\n")  # the PR's own change: not used
    (repo / "docs" / "tools" / "build.py").write_text("X = 2\n")
    (repo / "sub" / "a.py").write_text("A = 2\n")
    (repo / "docs" / "crate" / "src").mkdir(parents=True)
    (repo / "docs" / "crate" / "Cargo.toml").write_text("[package]\n")
    (repo / "docs" / "crate" / "src" / "lib.rs").write_text("pub fn f() {}\n")
    (repo / "doc").mkdir()
    (repo / "doc" / "gen.go").write_text("package doc\n")
    (repo / "doc" / "gen_test.go").write_text("package doc\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "Edit the tools (#1)")
    head = _git(repo, "rev-parse", "HEAD").decode().strip()
    files = [{"path": p} for p in ("docs/tools/build.py", "sub/a.py", "docs/crate/src/lib.rs", ".gitattributes",
                                   "doc/gen_test.go")]
    with BlobReader(git_dir_of(repo)) as reader:
        context = read_repo_context(reader, base, head, files)
    assert context == {
        "gitattributes": [{"path": ".gitattributes", "text": "gen/** linguist-generated\n"},
                          {"path": "sub/.gitattributes", "text": "*.py linguist-vendored\n"}],
        "package_markers": ["doc/gen.go", "docs/crate/Cargo.toml", "docs/tools/__init__.py"]}
    (record,) = pr_records(repo)
    assert (record["gitattributes"], record["package_markers"]) == (context["gitattributes"], context["package_markers"])
    rules = repo_context_of(record)
    assert rules.linguist_overrides("gen/x.py") == {"generated": True}
    assert rules.linguist_overrides("sub/a.py") == {"vendored": True}
    assert "docs/crate/Cargo.toml" in rules.package_markers

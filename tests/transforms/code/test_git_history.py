"""Raw PR records from real git repositories built in tmp dirs (merge, squash, bot, unmerged PRs)."""
from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from schemas.pull_requests import FILE_STATUSES, RAW_PR_SCHEMA
from schemas.validate import check_record
from transforms.code.git_history import (
    author_type_of,
    branch_tip,
    decode_text,
    git_dir_of,
    git_log_patch,
    is_withheld,
    list_pr_commits,
    login_from_author,
    pr_commit_pairs,
    pr_listing,
    pr_records,
    repo_identity,
    repo_name_from_url,
    repo_name_of,
    same_person,
)

T0 = 1_700_000_000
ALICE = ("Alice Liddell", "1234+alice@users.noreply.github.com")
BOB = ("Bob Merger", "bob@example.com")
CAROL = ("Carol", "carol@example.com")
DEPENDABOT = ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")
DAVE = ("Dave", "dave@example.com")
ERIN = ("Erin", "erin@example.com")

PARSER_V0 = "def parse(text):\n    return text.split()\n"
PARSER_V1 = "def parse(text):\n    return [t for t in text.split() if t]\n"
PARSER_V2 = "def parse(text):\n    if not text:\n        return []\n    return [t for t in text.split() if t]\n"
OLD_DOC = "".join(f"line {i}: documentation of the module\n" for i in range(12))
NEW_DOC = OLD_DOC.replace("line 3:", "line three:")
WIN_V1 = "line one\r\nline two\r\n"
WIN_V2 = "line one\r\nline 2\r\nline three\r\n"
ODD_PATH = 'dir with space/ünï "q".txt'
ODD_V0 = "héllo\n"
ODD_V1 = "héllo wörld"  # no final newline
BIG = "x = 1\n" * 50  # 300 bytes
FEATURE = "def feature():\n    return 42\n"


class Repo:
    """A throwaway repository driven by the git CLI with fixed identities and dates."""

    def __init__(self, path: Path, *, bare: bool = False):
        self.path = path
        self.clock = 0
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", *(["--bare"] if bare else []), "-b", "main")

    def env(self, author=CAROL, committer=None) -> dict:
        committer = committer or author
        self.clock += 60
        when = f"{T0 + self.clock} +0200"
        return {
            "PATH": os.environ["PATH"], "HOME": str(self.path), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C",
            "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1], "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1], "GIT_COMMITTER_DATE": when,
        }

    def git(self, *args: str, author=CAROL, committer=None, input: str | None = None) -> str:
        proc = subprocess.run(
            ["git", "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", *args], cwd=self.path,
            env=self.env(author, committer), input=None if input is None else input.encode(),
            capture_output=True, check=True,
        )
        return proc.stdout.decode().strip()

    def write(self, rel: str, content: str | bytes) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)

    def commit(self, message: str, author=CAROL, committer=None) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-F", "-", author=author, committer=committer, input=message)
        return self.rev("HEAD")

    def rev(self, rev: str) -> str:
        return self.git("rev-parse", rev)

    def dates(self, sha: str) -> tuple[int, int]:
        author_time, commit_time = self.git("show", "-s", "--format=%at %ct", sha).split()
        return int(author_time), int(commit_time)


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo repository and the facts the tests check against."""
    repo = Repo(tmp_path_factory.mktemp("git") / "demo")
    facts: dict = {}
    repo.write("README.md", "# demo\n")
    repo.write("src/parser.py", PARSER_V0)
    repo.write("docs/old_name.py", OLD_DOC)
    repo.write("obsolete.py", "OLD = True\n")
    repo.write(ODD_PATH, ODD_V0)
    repo.write("requirements.txt", "lib==1.0\n")
    repo.commit("Initial commit")
    repo.write("README.md", "# demo\n\nA demo.\n")
    repo.commit("Update README")

    # PR #1: merged with a merge commit by Bob; the branch was written by Alice.
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("src/feature.py", FEATURE)
    repo.write("win.txt", WIN_V1)
    repo.write("src/big.py", BIG)
    repo.commit("Add feature module", author=ALICE)
    repo.write("src/parser.py", PARSER_V1)
    facts["feature_tip"] = repo.commit("Use the parser in the feature", author=ALICE)
    repo.git("checkout", "-q", "main")
    repo.write("README.md", "# demo\n\nA demo, tweaked.\n")
    facts["pr1_base"] = repo.commit("Tweak docs")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #1 from alice/feature\n\nAdd feature\n\nThe feature, with tests.",
             "feature", author=BOB)
    facts["pr1_head"] = repo.rev("HEAD")
    repo.git("update-ref", "refs/pull/1/head", facts["feature_tip"])

    # PR #7: never merged; its branch is gone, only refs/pull/7/head remains.
    repo.git("checkout", "-q", "-b", "wip")
    repo.write("src/experiment.py", "EXPERIMENT = 1\n")
    facts["pr7_head"] = repo.commit("Experimental thing", author=DAVE)
    repo.git("update-ref", "refs/pull/7/head", facts["pr7_head"])
    repo.git("update-ref", "refs/pull/7/merge", facts["pr7_head"])
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-q", "-D", "wip")

    # PR #2: squash-merged; its original head (refs/pull/2/head) is not on main.
    repo.git("checkout", "-q", "-b", "fix")
    repo.write("src/parser.py", PARSER_V2 + "# draft\n")
    repo.git("update-ref", "refs/pull/2/head", repo.commit("Draft fix"))
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-q", "-D", "fix")
    facts["pr2_base"] = repo.rev("HEAD")
    repo.write("src/parser.py", PARSER_V2)
    (repo.path / "docs/old_name.py").unlink()
    repo.write("docs/new_name.py", NEW_DOC)
    (repo.path / "obsolete.py").unlink()
    repo.write("win.txt", WIN_V2)
    repo.write("data.bin", b"\x00\x01\x02binary")
    repo.write("latin1.txt", b"caf\xe9\n")
    repo.write(ODD_PATH, ODD_V1)
    os.symlink("README.md", repo.path / "link.md")
    repo.git("add", "-A")
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{facts['pr1_head']},vendor/lib")  # a submodule
    repo.git("commit", "-q", "-F", "-", input="Fix parser (#2)\n\nHandles empty input.\n\nCo-authored-by: Dave <dave@example.com>\n")
    facts["pr2_head"] = repo.rev("HEAD")
    assert "160000 commit" in repo.git("ls-tree", "HEAD", "vendor/lib")

    # PR #8: rebase-merged (commit rewritten onto main by Bob, same author and patch).
    repo.git("checkout", "-q", "-b", "tidy")
    repo.write("docs/new_name.py", NEW_DOC + "more docs\n")
    facts["pr8_head"] = repo.commit("Tidy docs\n\nRebased PR.", author=ERIN)
    repo.git("update-ref", "refs/pull/8/head", facts["pr8_head"])
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-q", "-D", "tidy")

    # PR #3: a bot's squash merge, landed before the rebased PR ('add -A' also drops the
    # submodule, whose directory was never checked out: a deletion the records leave out).
    repo.write("requirements.txt", "lib==1.1\n")
    facts["pr3_head"] = repo.commit("Bump lib from 1.0 to 1.1 (#3)", author=DEPENDABOT, committer=BOB)
    repo.git("cherry-pick", facts["pr8_head"], committer=BOB)
    facts["pr8_rebased"] = repo.rev("HEAD")
    assert facts["pr8_rebased"] != facts["pr8_head"]

    # PR #9's head is a plain commit on main: reachable, matched by nothing -> merged_unattributable.
    repo.write("README.md", "# demo 1.0\n")
    facts["release"] = repo.commit("Release 1.0")
    repo.git("update-ref", "refs/pull/9/head", facts["release"])
    facts["dates"] = {k: repo.dates(facts[k]) for k in ("feature_tip", "pr1_head", "pr2_head", "pr3_head", "pr7_head")}
    return repo, facts


@pytest.fixture(scope="module")
def records(demo):
    repo, _ = demo
    return list(pr_records(repo.path, repo_name="acme/demo", max_file_bytes=1000))


def by_path(record: dict) -> dict:
    return {f["path"]: f for f in record["files"]}


def test_finds_exactly_the_pull_requests_oldest_first(records):
    # attributed PRs in history order, then the others by number: #8 (rebase) and #9 (on main,
    # matched by no rule) used to vanish
    assert [(r["number"], r["merged"], r["_merge_rule"]) for r in records] == [
        (1, True, "merge_head"), (2, True, "squash"), (3, True, "squash"), (8, True, "rebase"),
        (7, False, "unmerged"), (9, True, "unattributable")]


def test_shas_titles_bodies_and_authors(demo, records):
    _, facts = demo
    pr1, pr2, pr3, pr8, pr7, pr9 = records
    assert (pr1["base_sha"], pr1["head_sha"]) == (facts["pr1_base"], facts["pr1_head"])
    assert (pr8["base_sha"], pr8["head_sha"]) == (facts["pr3_head"], facts["pr8_rebased"])
    assert (pr8["title"], pr8["body"], pr8["author_login"]) == ("Tidy docs", "Rebased PR.", "Erin")
    assert [f["path"] for f in pr8["files"]] == ["docs/new_name.py"]
    assert (pr9["base_sha"], pr9["head_sha"], pr9["files"], pr9["merged_at"]) == (None, facts["release"], [], None)
    assert (pr2["base_sha"], pr2["head_sha"]) == (facts["pr2_base"], facts["pr2_head"])
    assert (pr7["base_sha"], pr7["head_sha"]) == (None, facts["pr7_head"])
    assert (pr1["title"], pr1["body"]) == ("Add feature", "The feature, with tests.")
    assert (pr2["title"], pr2["body"]) == ("Fix parser", "Handles empty input.\n\nCo-authored-by: Dave <dave@example.com>")
    assert (pr3["title"], pr3["body"]) == ("Bump lib from 1.0 to 1.1", None)
    assert (pr7["title"], pr7["body"]) == ("Experimental thing", None)
    # The merge's author is the branch author (alice via her no-reply e-mail), not Bob.
    assert [(r["author_login"], r["author_type"]) for r in records[:5]] == [
        ("alice", "User"), ("Carol", "User"), ("dependabot[bot]", "Bot"), ("Erin", "User"), ("Dave", "User")]
    assert {r["repo"] for r in records} == {"acme/demo"}
    assert all(r["linked_issues"] == [] and r["patch"] is None for r in records)


def test_dates_are_iso_utc(demo, records):
    _, facts = demo
    dates = facts["dates"]
    pr1, pr2, _, _, pr7, _ = records
    assert pr1["created_at"] == iso(dates["feature_tip"][0]) and pr1["merged_at"] == iso(dates["pr1_head"][1])
    assert pr2["created_at"] == iso(dates["pr2_head"][0]) and pr2["merged_at"] == iso(dates["pr2_head"][1])
    assert pr7["created_at"] == iso(dates["pr7_head"][0]) and pr7["merged_at"] is None
    assert pr1["merged_at"].endswith("Z")


def test_merge_pr_files_are_the_branch_changes_only(records):
    files = by_path(records[0])
    assert sorted(files) == ["src/big.py", "src/feature.py", "src/parser.py", "win.txt"]  # README tweak on main excluded
    assert files["src/parser.py"] | {} == {"path": "src/parser.py", "previous_path": None, "status": "modified",
                                          "before": PARSER_V0, "after": PARSER_V1, "patch": None, "is_binary": False}
    assert (files["src/feature.py"]["status"], files["src/feature.py"]["before"], files["src/feature.py"]["after"]) == ("added", None, FEATURE)
    assert files["win.txt"]["after"] == WIN_V1  # CRLF kept
    assert files["src/big.py"]["after"] == BIG


def test_squash_pr_statuses_contents_and_skipped_entries(records):
    files = by_path(records[1])
    assert {p: f["status"] for p, f in files.items()} == {
        "data.bin": "added", "docs/new_name.py": "renamed", "latin1.txt": "added", "obsolete.py": "deleted",
        ODD_PATH: "modified", "src/parser.py": "modified", "win.txt": "modified",
    }  # the symlink link.md and the submodule vendor/lib are left out
    assert all(f["status"] in FILE_STATUSES for r in records for f in r["files"])
    renamed = files["docs/new_name.py"]
    assert (renamed["previous_path"], renamed["before"], renamed["after"]) == ("docs/old_name.py", OLD_DOC, NEW_DOC)
    deleted = files["obsolete.py"]
    assert (deleted["before"], deleted["after"], deleted["previous_path"]) == ("OLD = True\n", None, None)
    assert (files["win.txt"]["before"], files["win.txt"]["after"]) == (WIN_V1, WIN_V2)
    assert (files[ODD_PATH]["before"], files[ODD_PATH]["after"]) == (ODD_V0, ODD_V1)
    for binary in ("data.bin", "latin1.txt"):
        assert (files[binary]["is_binary"], files[binary]["before"], files[binary]["after"]) == (True, None, None)
    assert not any(is_withheld(f) for f in files.values())


def test_bot_and_unmerged_files(records):
    assert records[2]["files"] == [{"path": "requirements.txt", "previous_path": None, "status": "modified",
                                    "before": "lib==1.0\n", "after": "lib==1.1\n", "patch": None, "is_binary": False}]
    assert records[4]["files"] == [] and records[5]["files"] == []


def test_oversized_files_are_withheld_and_marked(demo):
    repo, _ = demo
    small = list(pr_records(repo.path, max_file_bytes=100))
    big = by_path(small[0])["src/big.py"]
    assert is_withheld(big) and big["is_binary"] is None and big["status"] == "added"
    assert by_path(small[0])["src/feature.py"]["after"] == FEATURE
    unlimited = list(pr_records(repo.path, max_file_bytes=None))
    assert by_path(unlimited[0])["src/big.py"]["after"] == BIG


def test_records_conform_to_the_raw_pr_schema(records):
    table = pa.Table.from_pylist(records, schema=RAW_PR_SCHEMA)
    assert table.num_rows == 6 and table.schema.equals(RAW_PR_SCHEMA)
    assert [check_record(r, RAW_PR_SCHEMA) for r in records] == [None] * 6
    assert table.to_pylist()[1]["files"] == records[1]["files"]


def test_bare_clone_and_mirror_give_the_same_records(demo, records, tmp_path):
    repo, _ = demo
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(tmp_path / "demo.git")], check=True, env=repo.env())
    subprocess.run(["git", "clone", "-q", "--mirror", str(repo.path), str(tmp_path / "mirror.git")], check=True, env=repo.env())
    bare = list(pr_records(tmp_path / "demo.git", repo_name="acme/demo", max_file_bytes=1000))
    mirror = list(pr_records(tmp_path / "mirror.git", repo_name="acme/demo", max_file_bytes=1000))
    # a plain bare clone has no refs/pull: no rebased, unmerged or unattributable PR, and #1 is
    # found by its "Merge pull request" subject instead of its head
    assert [r.pop("_merge_rule") for r in bare] == ["merge_subject", "squash", "squash"]
    assert bare == [{k: v for k, v in r.items() if k != "_merge_rule"} for r in records[:3]]
    assert mirror == records
    assert {r["repo"] for r in pr_records(tmp_path / "demo.git")} == {"demo"}


def test_non_bare_clone_walks_origin_head_not_the_checkout(demo, records, tmp_path):
    repo, _ = demo
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True, env=repo.env())
    subprocess.run(["git", "fetch", "-q", "origin", "refs/pull/*:refs/pull/*"], cwd=clone, check=True, env=repo.env())
    subprocess.run(["git", "checkout", "-q", "-b", "topic"], cwd=clone, check=True, env=repo.env())
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "Local work (#99)"], cwd=clone, check=True, env=repo.env())
    # every local and remote-tracking branch is walked: the local topic branch's squash too
    assert [r["number"] for r in pr_records(clone, repo_name="acme/demo", max_file_bytes=1000)] == [1, 2, 3, 8, 99, 7, 9]
    assert list(pr_records(clone, repo_name="acme/demo", max_file_bytes=1000, branch="main")) == records
    assert [p.number for p in list_pr_commits(clone, branch="topic")] == [1, 2, 3, 8, 99, 7, 9]
    assert branch_tip(clone) == repo.rev("main")
    with pytest.raises(ValueError, match="branch 'nope' not found"):
        branch_tip(clone, "nope")


def test_pairs_for_the_benchmark(demo, records):
    repo, _ = demo
    pairs = pr_commit_pairs(repo.path)
    assert pairs == [(r["base_sha"], r["head_sha"]) for r in records if r["_merge_rule"] not in ("unmerged", "unattributable")]
    assert git_log_patch(repo.path, pairs) > 0


def test_list_pr_commits_carries_names_and_kinds(demo):
    repo, _ = demo
    prs = list_pr_commits(repo.path)
    assert [(p.number, p.kind, p.author_name) for p in prs] == [
        (1, "merge", "Alice Liddell"), (2, "squash", "Carol"), (3, "squash", "dependabot[bot]"), (8, "rebase", "Erin"),
        (7, "unmerged", "Dave"), (9, "unattributable", "Carol")]


def test_empty_and_pr_less_repositories_yield_nothing(tmp_path):
    empty = Repo(tmp_path / "empty")
    empty_bare = Repo(tmp_path / "empty.git", bare=True)
    assert list(pr_records(empty.path)) == [] and list(pr_records(empty_bare.path)) == []
    assert list_pr_commits(empty.path) == [] and branch_tip(empty.path) is None
    plain = Repo(tmp_path / "plain")
    plain.write("a.py", "a = 1\n")
    plain.commit("Direct commit mentioning #4")
    assert list(pr_records(plain.path)) == []


def test_not_a_repository_raises_value_error(tmp_path, demo):
    repo, _ = demo
    (tmp_path / "plain").mkdir()
    for path in (tmp_path / "plain", tmp_path / "missing", repo.path / "src"):
        with pytest.raises(ValueError, match=f"{path}: not a git repository"):
            list(pr_records(path))
    assert git_dir_of(repo.path) == str(repo.path / ".git")


def test_root_squash_commit_and_github_origin(tmp_path):
    repo = Repo(tmp_path / "root")
    repo.write("main.py", "print('hi')\n")
    root = repo.commit("Initial import (#1)")
    repo.git("remote", "add", "origin", "git@github.com:acme/widgets.git")
    [record] = pr_records(repo.path)
    assert (record["repo"], record["base_sha"], record["head_sha"], record["title"]) == ("acme/widgets", None, root, "Initial import")
    assert record["files"][0] | {} == {"path": "main.py", "previous_path": None, "status": "added", "before": None,
                                      "after": "print('hi')\n", "patch": None, "is_binary": False}
    assert repo_name_of(repo.path) == "acme/widgets"


def test_hostile_repository_config_runs_nothing(tmp_path):
    repo = Repo(tmp_path / "hostile")
    repo.write(".gitattributes", "* filter=evil diff=evil\n")
    repo.write("a.py", "a = 1\n")
    repo.commit("Initial")
    repo.write("a.py", "a = 2\n")
    repo.commit("Change a (#5)")
    marker = tmp_path / "PWNED"
    for key in ("filter.evil.smudge", "filter.evil.clean", "diff.evil.textconv", "diff.external", "core.fsmonitor", "gpg.program"):
        repo.git("config", key, f"touch {marker}; cat")
    repo.git("config", "log.showSignature", "true")
    hooks = repo.path / ".git/hooks"
    for hook in ("post-checkout", "reference-transaction", "pre-auto-gc"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (hooks / hook).chmod(0o755)
    repo.git("cat-file", "--filters", "HEAD:a.py")  # porcelain would run the repository's programs
    assert marker.exists()
    marker.unlink()
    [record] = pr_records(repo.path)
    assert record["files"][0]["before"] == "a = 1\n" and record["files"][0]["after"] == "a = 2\n"
    assert git_log_patch(repo.path, pr_commit_pairs(repo.path)) > 0
    assert not marker.exists()


@pytest.mark.parametrize("name, email, login, kind", [
    ("Alice Liddell", "1234+alice@users.noreply.github.com", "alice", "User"),
    ("old style", "bob@users.noreply.github.com", "bob", "User"),
    ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com", "dependabot[bot]", "Bot"),
    ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com", "github-actions[bot]", "Bot"),
    ("Renovate Bot", "bot@renovateapp.com", "Renovate Bot", "User"),
    ("carol", "carol@example.com", "carol", "User"),
])
def test_login_mapping(name, email, login, kind):
    assert login_from_author(name, email) == login
    assert author_type_of(login) == kind


@pytest.mark.parametrize("url, name", [
    ("https://github.com/acme/demo.git", "acme/demo"),
    ("https://token@github.com/acme/demo", "acme/demo"),
    ("git@github.com:acme/demo.git", "acme/demo"),
    ("ssh://git@github.com/acme/demo.git/", "acme/demo"),
    ("https://gitlab.com/acme/demo.git", "acme/demo"),  # GitLab is named too (issue 12)
    ("/srv/repos/demo", None),
])
def test_repo_name_from_url(url, name):
    assert repo_name_from_url(url) == name


def test_decode_text_is_strict_and_byte_exact():
    assert decode_text(b"a\r\nb") == "a\r\nb"
    assert decode_text("\ufeffbom\n".encode()) == "\ufeffbom\n"
    assert decode_text(b"a\x00b") is None
    assert decode_text(b"caf\xe9") is None
    assert decode_text(b"x" * 9000 + b"\x00") == "x" * 9000 + "\x00"  # NUL past the sniffed prefix


def test_merge_without_title_other_merges_and_repeated_numbers(tmp_path):
    repo = Repo(tmp_path / "merges")
    repo.write("a.py", "a = 1\n")
    repo.commit("Initial")
    for branch, message in (("one", "Merge pull request #4 from erin/one"), ("two", "Merge branch 'two'")):
        repo.git("checkout", "-q", "-b", branch)
        repo.write(f"{branch}.py", f"{branch} = 1\n")
        repo.commit(f"Add {branch}", author=ERIN)
        repo.git("checkout", "-q", "main")
        repo.git("merge", "-q", "--no-ff", "-m", message, branch, author=BOB)
    repo.write("a.py", "a = 2\n")
    repo.commit("Backport again (#4)")
    [record] = pr_records(repo.path)  # "Merge branch" is no PR; the later "(#4)" loses to the oldest
    assert (record["number"], record["title"], record["body"], record["author_login"]) == (4, "Add one", None, "Erin")
    assert [f["path"] for f in record["files"]] == ["one.py"]


def test_git_descendants_that_leave_the_session_are_killed(demo, tmp_path, monkeypatch):
    """A `git` on PATH (a test double at the process boundary) that leaves a setsid child behind:
    the child is gone when the call returns (issue 15)."""
    import shutil
    import sys
    import time

    real_git = shutil.which("git")
    heartbeat = tmp_path / "heartbeat"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    child = tmp_path / "child.py"
    child.write_text("import sys, time\nwhile True:\n    open(sys.argv[1], 'a').write('.')\n    time.sleep(0.05)\n")
    (bin_dir / "git").write_text(
        "#!/bin/sh\n"
        f"setsid {sys.executable} {child} {heartbeat} </dev/null >/dev/null 2>&1 &\n"
        "sleep 0.3\n"  # the child is running (and has written) before git does anything
        f"exec {real_git} \"$@\"\n")
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert git_dir_of(demo[0].path).endswith(".git")
    assert heartbeat.exists(), "the double's child never ran"
    size = heartbeat.stat().st_size
    time.sleep(0.4)
    assert (heartbeat.stat().st_size if heartbeat.exists() else 0) == size, "a git descendant is still running"


# --------------------------------------------------------------------------- all branches (issue 12)


def _pr_branch(repo: Repo, name: str, path: str, text: str, author=ALICE, message: str | None = None) -> str:
    """A PR branch off the current HEAD with one commit; refs/pull/<name>/head points at it; back on the
    previous branch."""
    back = repo.git("rev-parse", "--abbrev-ref", "HEAD")
    repo.git("checkout", "-q", "-b", f"pr{name}")
    repo.write(path, text)
    head = repo.commit(message or f"Change {path}", author=author)
    repo.git("update-ref", f"refs/pull/{name}/head", head)
    repo.git("checkout", "-q", back)
    return head


@pytest.fixture(scope="module")
def branches(tmp_path_factory):
    """A history where the old first-parent reading lost PRs: a merge-button "Title (#N)" merge, a
    release branch with a PR merged into it (later merged into main), a PR merged only into a side
    branch, a squash commit off the first-parent chain, rebase merges by the PR author and by
    someone else, and a fast-forwarded PR head."""
    repo = Repo(tmp_path_factory.mktemp("git") / "branches")
    facts: dict = {}
    repo.write("core.py", "A = 1\n")
    repo.commit("Initial")

    # #21: GitHub's merge button with the PR title: "Title (#21)", second parent = refs/pull/21/head
    facts["h21"] = _pr_branch(repo, "21", "widget.py", "W = 1\n")
    repo.git("merge", "-q", "--no-ff", "-m", "Add widget (#21)\n\nThe widget PR.", "pr21", author=BOB)
    facts["m21"] = repo.rev("HEAD")

    # #22 merged into release-1.x (a "Merge pull request" merge), release-1.x merged into main later
    repo.git("checkout", "-q", "-b", "release-1.x")
    facts["h22"] = _pr_branch(repo, "22", "fix.py", "FIX = 1\n", author=ERIN)
    repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #22 from erin/fix\n\nFix on the release", "pr22",
             author=BOB)
    facts["m22"] = repo.rev("HEAD")
    # #23: a squash commit on the release branch, off main's first-parent chain after the merge below
    repo.write("fix.py", "FIX = 2\n")
    facts["s23"] = repo.commit("Tune the (#23) fix", author=ERIN)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge branch 'release-1.x'", "release-1.x", author=BOB)

    # #24 merged into a side branch that never reached main
    repo.git("checkout", "-q", "-b", "side")
    facts["h24"] = _pr_branch(repo, "24", "side.py", "S = 1\n")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #24 from alice/side", "pr24", author=BOB)
    facts["m24"] = repo.rev("HEAD")
    repo.git("checkout", "-q", "main")

    # #25: rebase-merged by Bob; Alice's commit replayed (same patch, same author)
    facts["h25"] = _pr_branch(repo, "25", "core.py", "A = 2\n")
    repo.git("cherry-pick", facts["h25"], committer=BOB)
    facts["r25"] = repo.rev("HEAD")
    # #26: Dave proposed the same patch as a later commit by Carol: not a merge of #26
    repo.write("core.py", "A = 3\n")
    base26 = repo.rev("HEAD")
    facts["h26"] = _pr_branch(repo, "26", "core.py", "A = 3\n", author=DAVE, message="Same fix")
    repo.write("core.py", "A = 3\n")
    repo.commit("Carol's own fix", author=CAROL)
    assert repo.rev("HEAD^") == base26
    # #27 fast-forwarded: its head is a plain commit of main
    facts["h27"] = _pr_branch(repo, "27", "ff.py", "F = 1\n")
    repo.git("merge", "-q", "--ff-only", "pr27")
    for name in ("pr21", "pr22", "pr24", "pr25", "pr26", "pr27"):
        repo.git("branch", "-q", "-D", name)
    return repo, facts


def test_every_branch_is_read_and_every_pr_attributed(branches):
    repo, facts = branches
    listing = pr_listing(repo.path)
    got = {p.number: (p.kind, p.rule, p.base_sha, p.head_sha) for p in listing.prs}
    assert got == {
        21: ("merge", "merge_head", repo.rev(f"{facts['m21']}^1"), facts["m21"]),
        22: ("merge", "merge_head", repo.rev(f"{facts['m22']}^1"), facts["m22"]),
        23: ("squash", "squash", repo.rev(f"{facts['s23']}^"), facts["s23"]),
        24: ("merge", "merge_head", repo.rev(f"{facts['m24']}^1"), facts["m24"]),
        25: ("rebase", "rebase", repo.rev(f"{facts['r25']}^"), facts["r25"]),
        26: ("unmerged", "unmerged", None, facts["h26"]),
        27: ("unattributable", "unattributable", None, facts["h27"]),
    }
    assert (listing.pr_refs, listing.prs_known) == (6, 7)  # #23 is known from its squash commit only
    assert listing.by_rule() == {"merge_head": 3, "rebase": 1, "squash": 1, "unattributable": 1, "unmerged": 1}
    by_number = {p.number: p for p in listing.prs}
    assert (by_number[21].title, by_number[21].body, by_number[21].author_login) == ("Add widget", "The widget PR.", "alice")
    assert (by_number[22].title, by_number[22].body, by_number[22].author_name) == ("Fix on the release", None, "Erin")
    assert by_number[23].title == "Tune the fix"  # "(#N)" anywhere in the subject
    assert (by_number[25].author_login, by_number[25].title) == ("alice", "Change core.py")
    assert by_number[27].merged and not by_number[27].has_change and by_number[27].merged_at is None


def test_records_of_branch_prs_carry_their_changes_and_rule(branches):
    repo, _ = branches
    records = {r["number"]: r for r in pr_records(repo.path, repo_name="acme/branches")}
    assert {n: [f["path"] for f in r["files"]] for n, r in records.items()} == {
        21: ["widget.py"], 22: ["fix.py"], 23: ["fix.py"], 24: ["side.py"], 25: ["core.py"], 26: [], 27: []}
    assert records[25]["files"][0]["before"] == "A = 1\n" and records[25]["files"][0]["after"] == "A = 2\n"
    assert {n: r["_merge_rule"] for n, r in records.items()}[27] == "unattributable"
    assert [check_record(r, RAW_PR_SCHEMA) for r in records.values()] == [None] * 7


def test_branch_flag_narrows_the_walk(branches):
    repo, facts = branches
    on_main = {p.number: p.kind for p in list_pr_commits(repo.path, branch="main")}
    assert on_main[24] == "unmerged" and on_main[22] == "merge"  # the side branch is not walked
    on_side = {p.number: p.kind for p in list_pr_commits(repo.path, branch="side")}
    assert on_side[24] == "merge" and on_side[22] == "merge"  # side was cut after release-1.x reached main
    assert on_side[25] == "unmerged" and on_side[27] == "unmerged"  # rebased / fast-forwarded on main only


def test_rebase_needs_the_same_person_and_git_calls_stay_batched(branches, monkeypatch):
    import transforms.code.git_history as gh

    calls = []
    real = gh._patch_ids
    monkeypatch.setattr(gh, "_patch_ids", lambda git_dir, shas: calls.append(len(shas)) or real(git_dir, shas))
    repo, _ = branches
    kinds = {p.number: p.kind for p in list_pr_commits(repo.path)}
    assert (kinds[25], kinds[26]) == ("rebase", "unmerged")
    assert len(calls) == 1  # one diff-tree | patch-id pair for every candidate


def test_multi_commit_rebase_takes_all_the_pr_commits(tmp_path):
    repo = Repo(tmp_path / "rebase")
    repo.write("a.py", "a = 1\n")
    repo.commit("Initial")
    repo.git("checkout", "-q", "-b", "topic")
    repo.write("a.py", "a = 2\n")
    first = repo.commit("Step one", author=ALICE)
    repo.write("b.py", "b = 1\n")
    head = repo.commit("Step two", author=ALICE)
    repo.git("update-ref", "refs/pull/3/head", head)
    repo.git("checkout", "-q", "main")
    repo.write("c.py", "c = 1\n")
    base = repo.commit("Meanwhile on main")
    # GitHub's rebase merge: Alice's commits replayed with the no-reply e-mail's login as the name
    repo.git("cherry-pick", first, head, author=("alice", "alice@example.org"), committer=BOB)
    repo.git("branch", "-q", "-D", "topic")
    [record] = pr_records(repo.path)
    assert (record["_merge_rule"], record["base_sha"], record["head_sha"]) == ("rebase", base, repo.rev("HEAD"))
    assert sorted(f["path"] for f in record["files"]) == ["a.py", "b.py"]


@pytest.mark.parametrize("a, b, same", [
    (("Alice", "Alice@Example.com"), ("A. L.", "alice@example.com"), True),
    (("Alice", "1234+alice@users.noreply.github.com"), ("alice", "a@corp.example"), True),
    (("Alice", "1234+alice@users.noreply.github.com"), ("Somebody", "alice@corp.example"), True),
    (("Alice", "1234+alice@users.noreply.github.com"), ("Alice L", "99+alice@users.noreply.github.com"), True),
    (("Alice", "alice@example.com"), ("Mallory", "mallory@example.com"), False),
    (("Alice", "1234+alice@users.noreply.github.com"), ("bob", "bob@example.com"), False),
    (("", ""), ("", ""), False),
])
def test_same_person(a, b, same):
    assert same_person(*a, *b) is same and same_person(*b, *a) is same


@pytest.mark.parametrize("url, name", [
    ("https://gitlab.com/acme/demo.git", "acme/demo"),
    ("git@gitlab.com:group/sub/demo.git", "group/sub/demo"),
    ("https://gitlab.example.org/group/sub/demo", "group/sub/demo"),
    ("ssh://git@github.com:22/acme/demo", "acme/demo"),
    ("git://github.com/acme/demo.git", "acme/demo"),
    ("https://user:secret@github.com/acme/demo.git", "acme/demo"),
    ("github.com:acme/demo", "acme/demo"),
    ("file:///srv/repos/acme/demo.git", None),
    ("../acme/demo", None),
    ("https://github.com/acme", None),
    ("", None),
])
def test_repo_name_from_other_url_forms(url, name):
    assert repo_name_from_url(url) == name


def test_identity_without_origin(tmp_path):
    plain = Repo(tmp_path / "widgets")
    assert repo_identity(plain.path) == ("widgets", False)
    nested = Repo(tmp_path / "acme-tools" / "repo")
    assert repo_identity(nested.path) == ("acme-tools", False)  # a generic directory name: the parent's
    bare = Repo(tmp_path / "gizmo.git", bare=True)
    assert repo_identity(bare.path) == ("gizmo", False)
    nested.git("remote", "add", "origin", "https://gitlab.com/acme/tools.git")
    assert repo_identity(nested.path) == ("acme/tools", True)
    plain.git("remote", "add", "origin", "/srv/elsewhere/widgets")  # a local remote says nothing
    assert repo_identity(plain.path) == ("widgets", False)


def test_a_squashed_change_is_not_also_a_rebase_of_a_duplicate_pr(tmp_path):
    repo = Repo(tmp_path / "dupe")
    repo.write("a.py", "a = 1\n")
    repo.commit("Initial")
    head31 = _pr_branch(repo, "31", "a.py", "a = 2\n")  # Alice opens the same change twice
    repo.write("a.py", "a = 2\n")
    repo.commit("Change a.py (#30)", author=ALICE)
    repo.git("branch", "-q", "-D", "pr31")
    kinds = {p.number: (p.kind, p.head_sha) for p in list_pr_commits(repo.path)}
    assert kinds[30][0] == "squash" and kinds[31] == ("unmerged", head31)


def test_merges_of_a_forks_own_prs_name_no_pr_of_the_repository(tmp_path):
    # werkzeug: "Merge pull request #5 from untitaker/python3" (a PR inside the fork, 2013) took the
    # number of pallets/werkzeug's own #5; "Merge pull request #1 from ..." occurs nine times.
    repo = Repo(tmp_path / "forked")
    repo.write("a.py", "a = 1\n")
    repo.commit("Initial")
    for number, branch in ((5, "python3"), (1, "python3-more"), (1, "urls"), (2, "single")):
        repo.git("checkout", "-q", "-b", branch)
        repo.write(f"{branch}.py", "x = 1\n")
        repo.commit(f"Port {branch}", author=ERIN)
        repo.git("checkout", "-q", "main")
        repo.git("merge", "-q", "--no-ff", "-m", f"Merge pull request #{number} from erin/{branch}\n\nPort",
                 branch, author=ERIN)
    repo.write("a.py", "a = 2\n")
    repo.commit("Fix a (#1)")  # a squash of the repository's #1, later than the fork merges
    _pr_branch(repo, "5", "cookie.py", "C = 1\n")  # the repository's own #5
    repo.git("merge", "-q", "--no-ff", "-m", "Fix the cookie domain (#5)", "pr5", author=BOB)
    listing = pr_listing(repo.path)
    assert listing.pr_refs == 1 and listing.prs_known == 3
    assert {p.number: (p.rule, p.head_sha) for p in listing.prs} == {
        2: ("merge_subject", repo.rev("HEAD~2")), 1: ("squash", repo.rev("HEAD~1")), 5: ("merge_head", repo.rev("HEAD"))}
    records = {r["number"]: r for r in pr_records(repo.path)}
    assert [f["path"] for f in records[5]["files"]] == ["cookie.py"] and records[5]["title"] == "Fix the cookie domain"
    assert [f["path"] for f in records[2]["files"]] == ["single.py"]


def test_the_readers_record_bound_covers_every_pr_it_reads(demo, records, branches):
    from transforms.code.stages import RepoReader

    assert RepoReader.record_bound(str(demo[0].path)) >= len(records) > 0
    repo, _ = branches
    assert RepoReader.record_bound(str(repo.path)) >= len(pr_listing(repo.path).prs) == 7
    assert RepoReader.record_bound(str(repo.path / "not-a-clone")) is None


def test_patch_ids_of_a_clone_missing_a_blob_skip_only_the_commit_that_needs_it(tmp_path):
    from transforms.code.git_history import _patch_ids  # noqa: PLC2701

    repo = Repo(tmp_path / "partial")
    repo.write("a.py", "a = 1\n")
    repo.commit("Initial")
    shas = []
    for step, (path, text) in enumerate([("a.py", "a = 2\n"), ("b.py", "b = 1\n"), ("a.py", "a = 3\n")]):
        repo.write(path, text)
        shas.append(repo.commit(f"Step {step}"))
    lost = repo.rev(f"{shas[1]}:b.py")
    (repo.path / ".git" / "objects" / lost[:2] / lost[2:]).unlink()

    def git_patch_id(sha: str) -> str:  # git itself, one commit at a time
        shown = subprocess.run(["git", "show", sha], cwd=repo.path, capture_output=True, check=True).stdout
        return subprocess.run(["git", "patch-id", "--stable"], cwd=repo.path, input=shown,
                              capture_output=True, check=True).stdout.decode().split()[0]

    assert _patch_ids(git_dir_of(repo.path), shas) == {shas[0]: git_patch_id(shas[0]), shas[2]: git_patch_id(shas[2])}

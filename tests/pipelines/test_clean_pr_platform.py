"""Clean-PR with platform metadata (--pr-metadata, REST --issues), intent cleaning and secrets,
through the real pipeline on a git repository built in tmp_path."""
from __future__ import annotations

import gzip
import json

import pytest

from pipelines.cli import main
from tests.pipelines.test_clean_pr import ALICE, CAROL, Repo, reject_keys, table
from tests.transforms.code.platform_fixtures import gharchive_event, rest_issue, rest_pull

FULL = "acme/shop"
AWS_KEY = "AKIAZ3MHJ5Q7PLV4XK2D"
GITHUB_TOKEN = "ghp_" + "R8sKq2LmX7vN4bT1cW9yZ3pD6fH0jA5eG2uQ"
TRAILERS = ("\n\nSigned-off-by: Carol <carol@example.com>\nCo-authored-by: Alice Liddell "
            "<1234+alice@users.noreply.github.com>\nChange-Id: I8f0c1d2e3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d\n")


def build_repo(root):
    repo = Repo(root / "shop", origin=f"https://github.com/{FULL}.git")
    repo.commit("Initial commit", {"shop/cart.py": "def total(items):\n    return sum(items)\n",
                                   "shop/config.py": "TIMEOUT = 5\n", "shop/net.go": "package shop\n\nvar Port = 80\n"})
    repo.merge(1, "Count quantities", {"shop/cart.py": "def total(items):\n    return sum(i.qty for i in items)\n"})
    repo.squash(2, "Bump timeout", {"shop/config.py": "TIMEOUT = 30\n"})
    repo.squash(3, "Rename total", {"shop/cart.py": "def cart_total(items):\n    return sum(i.qty for i in items)\n"})
    # PR 4 exists only as refs/pull/4/head (the clone lacks the branch it was merged into)
    repo.git("checkout", "-q", "-b", "release")
    head = repo.commit("Port 8080", {"shop/net.go": "package shop\n\nvar Port = 8080\n"}, author=ALICE)
    repo.git("update-ref", "refs/pull/4/head", head)
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-q", "-D", "release")  # every branch is read: a kept one would contain the head
    repo.squash(5, "Log the timeout", {"shop/config.py": "TIMEOUT = 30\nLOG = True\n"},
                body="* Log the timeout\n* add a flag\n* add a flag\n* Merge branch 'main' into log\n"
                     "Thanks to Dave <dave@example.com> for the idea." + TRAILERS)
    repo.squash(6, "Upload to S3", {"shop/upload.py": f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\n\n\ndef upload(path):\n'
                                    '    return path\n'}, author=CAROL)
    repo.squash(7, "Call the API", {"shop/api.go": f'package shop\n\nconst token = "{GITHUB_TOKEN}"\n'})
    repo.squash(8, "Retry twice", {"shop/config.py": "TIMEOUT = 30\nLOG = True\nRETRIES = 2\n"})
    return repo


@pytest.fixture(scope="module")
def platform_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("platform")
    repo = build_repo(root)
    pulls = [
        rest_pull(FULL, 2, "Raise the timeout to 30 s", "Fixes #40\n\nSee https://github.com/acme/shop/issues/41 "
                  "and acme/lib#3.", login="alice"),
        rest_pull(FULL, 3, "Rename total", None, login="renovate[bot]", user_type="Bot"),
        rest_pull(FULL, 4, "Listen on 8080", "Port change", merge_commit_sha="ab" * 20),
        rest_pull(FULL, 8, "Retry twice", "Retries help", merged_at=None, merge_commit_sha=None),
        rest_pull(FULL, 99, "Not in the clone", "x"),
    ]
    metadata = root / "pulls.jsonl"
    metadata.write_text("".join(json.dumps(p) + "\n" for p in pulls)
                        + json.dumps({"type": "IssuesEvent", "payload": {"action": "opened"}}) + "\n")
    opened = rest_pull(FULL, 1, "WIP quantities", "draft", merged_at=None, merge_commit_sha=None, state="open",
                       updated_at="2024-03-01T09:00:00Z", login="bob")
    closed = rest_pull(FULL, 1, "Count item quantities in totals", "Totals ignored quantities.", login="bob")
    archive = root / "2024-03-02-10.json.gz"
    with gzip.open(archive, "wt") as handle:  # GH Archive hour file: the closing event first, then the older one
        for event in (gharchive_event(closed, "closed", "2024-03-02T10:00:06Z", "2"),
                      gharchive_event(opened, "opened", "2024-03-01T09:00:01Z", "1")):
            handle.write(json.dumps(event) + "\n")
    issues = root / "issues.json"  # a JSON array as GET /repos/o/r/issues returns it
    issues.write_text(json.dumps([rest_issue(FULL, 40, "Timeout too short", "Requests fail after 5 s"),
                                  rest_issue(FULL, 41, "Config docs", None),
                                  rest_issue(FULL, 2, "Raise the timeout to 30 s", "PR body", is_pull=True)]))
    out = root / "out"
    code = main(["clean-pr", "--git-repo", str(repo.path), "--pr-metadata", str(metadata), "--pr-metadata",
                 str(archive), "--issues", str(issues), "--no-decontam", "--output", str(out)])
    return root, repo, out, code


def test_platform_join_through_the_pipeline(platform_run):
    root, _, out, code = platform_run
    assert code == 0
    edits = {r["pr_number"]: r for r in table(out / "edits")}
    assert sorted(edits) == [1, 2, 5, 6, 7]
    # title and body from the platform: the last GH Archive event of PR 1 wins whatever the file order
    assert edits[1]["title"] == "Count item quantities in totals"
    assert edits[1]["intent"].startswith("Count item quantities in totals\n\nTotals ignored quantities.")
    assert edits[1]["merged_at"] == "2024-03-02T10:00:00Z"
    # REST issue objects resolve #N and full URLs; the PR among the issues is skipped; o/r#N stays unresolved
    linked = {(i["repo"], i["number"]): i["title"] for i in edits[2]["linked_issues"]}
    assert linked == {(FULL, 40): "Timeout too short", (FULL, 41): "Config docs", ("acme/lib", 3): None}
    assert "Issue acme/shop#40: Timeout too short\n\nRequests fail after 5 s" in edits[2]["intent"]
    rejects = reject_keys(out)
    assert (FULL, 3, "noise", "bot_author") in rejects  # user.type Bot from the platform
    assert (FULL, 4, "noise", "unmerged") in rejects and (FULL, 8, "noise", "unmerged") in rejects
    details = {json.loads(r["record_json"]).get("number"): r["detail"] for r in table(out / "rejects")}
    assert "platform says merged at 2024-03-02T10:00:00Z as abababababab" in details[4]
    assert "the platform says closed without merging" in details[8]
    assert (None, None, "read", "bad_pr_metadata") in rejects
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["conservation"]["holds"] is True
    assert manifest["rejects_by_stage_reason"]["read/bad_pr_metadata"] == 1
    # PRs 1, 2, 3, 4, 8 joined; 99 is absent from the clone and made no record
    assert ("--pr-metadata: 6 PRs; 5 joined to PRs of the input, 1 absent from it (not made records); "
            "2 PR record(s) where the platform and the clone disagree on merged") in " ".join(manifest["notes"])
    assert not any(99 == json.loads(r["record_json"]).get("number") for r in table(out / "rejects"))


def test_git_only_intent_drops_trailers_emails_repeats_and_merge_lines(platform_run):
    _, _, out, _ = platform_run
    intent = {r["pr_number"]: r for r in table(out / "edits")}[5]["intent"]
    assert intent == "Log the timeout\n\n* add a flag\nThanks to Dave for the idea."
    for row in table(out / "edits"):
        assert "@" not in row["intent"] and "Signed-off-by" not in row["intent"]


def test_secrets_column_and_filter(platform_run):
    root, repo, out, _ = platform_run
    edits = {r["pr_number"]: r for r in table(out / "edits")}
    assert (edits[6]["has_secrets"], edits[6]["secret_types"]) == (True, ["AWS Access Key"])
    assert (edits[7]["has_secrets"], edits[7]["secret_types"]) == (True, ["GitHub Token"])
    for number in (1, 2, 5):
        assert (edits[number]["has_secrets"], edits[number]["secret_types"]) == (False, [])
    filtered = root / "filtered"
    assert main(["clean-pr", "--git-repo", str(repo.path), "--reject-secrets", "--no-decontam",
                 "--output", str(filtered)]) == 0
    kept = {r["pr_number"] for r in table(filtered / "edits")}
    assert 6 not in kept and 7 not in kept and {1, 2, 5} <= kept
    assert {(FULL, 6, "reject_secrets", "secrets"), (FULL, 7, "reject_secrets", "secrets")} <= reject_keys(filtered)
    # without --pr-metadata the git-only titles and no platform note
    manifest = json.loads((filtered / "_manifest.json").read_text())
    assert manifest["conservation"]["holds"] and not any("--pr-metadata" in n for n in manifest["notes"])


def test_rest_pull_objects_given_to_prs(tmp_path):
    pull = rest_pull(FULL, 12, "Add x", "Body")
    with_files = {**rest_pull(FULL, 13, "Double it", "Doubles"), "files": [
        {"filename": "src/x.py", "status": "modified", "additions": 1, "deletions": 1, "changes": 2,
         "patch": "@@ -1 +1 @@\n-x = 1\n+x = 2", "before": "x = 1\n", "after": "x = 2\n"}]}
    prs = tmp_path / "pulls.json"
    prs.write_text(json.dumps([pull, with_files]))
    out = tmp_path / "out"
    assert main(["clean-pr", "--prs", str(prs), "--no-decontam", "--output", str(out)]) == 0
    assert [r["pr_number"] for r in table(out / "edits")] == [13]
    assert reject_keys(out) == {(None, 12, "prepare", "rest_pull_without_files")}


def test_pr_metadata_errors_name_the_flag(tmp_path, capsys):
    repo = Repo(tmp_path / "r")
    repo.commit("init", {"a.py": "x = 1\n"})
    assert main(["clean-pr", "--git-repo", str(repo.path), "--pr-metadata", str(tmp_path / "missing.jsonl"),
                 "--output", str(tmp_path / "out")]) != 0
    assert "--pr-metadata" in capsys.readouterr().err

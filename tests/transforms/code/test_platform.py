import json

import pytest

from tests.transforms.code.platform_fixtures import gharchive_event, rest_issue, rest_pull
from transforms.code.platform import (PLATFORM_FIELD, body_from_platform, is_platform_object, issue_record,
                                      join_metadata, metadata_index, metadata_key, platform_conflict, pull_metadata,
                                      raw_pr_from_platform, repo_of_pull)
from transforms.code.pr_sample import issues_index, prepare_pr
from transforms.code.stages import MetadataReader, metadata_entries
from transforms.io.readers import Unreadable
from transforms.records import Rejected

REPO = "pallets/jinja"


def clone_record(number=7, merged=True, body="* first commit\n\nSigned-off-by: A <a@x.org>") -> dict:
    return {"repo": REPO, "number": number, "title": "Clone subject", "body": body, "author_login": "Alice A",
            "author_type": "User", "merged": merged, "created_at": "2024-01-01T00:00:00Z",
            "merged_at": "2024-01-02T00:00:00Z" if merged else None, "base_sha": "b" * 40, "head_sha": "h" * 40,
            "files": [{"path": "a.py", "status": "modified", "before": "x = 1\n", "after": "x = 2\n"}],
            "patch": None, "linked_issues": []}


def test_rest_pull_object_becomes_compact_metadata():
    pull = rest_pull(REPO, 7, "Fix the lexer", "Long description", login="renovate[bot]", user_type="Bot",
                     labels=("bug",))
    meta = pull_metadata(pull)
    assert meta == {"repo": REPO, "number": 7, "title": "Fix the lexer", "body": "Long description",
                    "author_login": "renovate[bot]", "author_type": "Bot", "merged": True,
                    "merged_at": "2024-03-02T10:00:00Z", "created_at": "2024-03-01T09:00:00Z",
                    "merge_commit_sha": "e5bd3914e2e596debea16f433f57875b5b90bcd6", "state": "closed",
                    "order": ("2024-03-02T10:00:05Z", "", 0)}
    unmerged = pull_metadata(rest_pull(REPO, 8, "Nope", None, merged_at=None, merge_commit_sha=None))
    assert unmerged["merged"] is False and unmerged["body"] is None


def test_repository_from_base_then_html_url_then_event():
    pull = rest_pull("Org/Name", 3, "t", None)
    assert repo_of_pull(pull) == "Org/Name"
    pull["base"]["repo"] = None  # a deleted base repository
    assert repo_of_pull(pull) == "Org/Name"  # from html_url
    pull["html_url"] = None
    assert repo_of_pull(pull) is None and repo_of_pull(pull, "org/name") == "org/name"
    event = gharchive_event(rest_pull("o/r", 5, "t", None), "closed", "2024-03-02T10:00:01Z")
    event["payload"]["pull_request"]["base"]["repo"] = None
    event["payload"]["pull_request"]["html_url"] = None
    assert pull_metadata(event)["repo"] == "o/r"


def test_last_event_per_pr_wins():
    opened = gharchive_event(rest_pull(REPO, 9, "Draft title", "draft", merged_at=None, merge_commit_sha=None,
                                       state="open", updated_at="2024-03-01T09:00:00Z"), "opened", "2024-03-01T09:00:01Z")
    closed = gharchive_event(rest_pull(REPO, 9, "Final title", "final"), "closed", "2024-03-02T10:00:06Z")
    for order in ([opened, closed], [closed, opened]):
        index = metadata_index(pull_metadata(e, i) for i, e in enumerate(order))
        assert index[metadata_key("PALLETS/Jinja", 9)]["title"] == "Final title"
        assert index[(REPO, 9)]["merged"] is True


@pytest.mark.parametrize("obj, problem", [
    ({"type": "PushEvent", "payload": {"ref": "refs/heads/main"}, "repo": {"name": REPO}}, "not a PullRequestEvent"),
    ({"type": "PullRequestEvent", "payload": {"action": "closed"}}, "without payload.pull_request"),
    (rest_issue(REPO, 3, "An issue", None, is_pull=True), "issue object"),
    ({**rest_pull(REPO, 1, "t", None), "number": "1"}, "no PR number"),
    ({**rest_pull(REPO, 1, "t", None), "title": ["x"]}, "field title"),
    ({**rest_pull(REPO, 1, "t", None), "user": "alice"}, "field user"),
    ({**rest_pull(REPO, 1, "t", None), "base": {}, "html_url": "https://example.com/x"}, "no repository"),
    ([1, 2], "not a JSON object"),
])
def test_malformed_objects_are_problems(obj, problem):
    assert problem in pull_metadata(obj)


def test_join_takes_identity_and_state_from_the_platform_and_contents_from_the_clone():
    record = clone_record()
    meta = pull_metadata(rest_pull(REPO, 7, "Platform title", "Platform body", login="dependabot[bot]",
                                   user_type="Bot"))
    joined = join_metadata(record, meta)
    assert (joined["title"], joined["body"], joined["author_login"], joined["author_type"]) == (
        "Platform title", "Platform body", "dependabot[bot]", "Bot")
    assert joined["merged"] is True and joined["merged_at"] == "2024-03-02T10:00:00Z"
    assert joined["files"] == record["files"] and joined["base_sha"] == record["base_sha"]
    assert body_from_platform(joined) and platform_conflict(joined) is None
    # no description on the platform: the clone's commit messages stay the body
    empty = join_metadata(record, pull_metadata(rest_pull(REPO, 7, "T", "  ")))
    assert empty["body"] == record["body"] and not body_from_platform(empty)
    assert join_metadata(record, None) is record


def test_merged_state_disagreements_are_recorded():
    merged_elsewhere = join_metadata(clone_record(merged=False), pull_metadata(rest_pull(REPO, 7, "T", None)))
    assert merged_elsewhere["merged"] is False and merged_elsewhere["merged_at"] is None
    assert "platform says merged at 2024-03-02T10:00:00Z as e5bd3914e2e5" in platform_conflict(merged_elsewhere)
    closed = join_metadata(clone_record(merged=True),
                           pull_metadata(rest_pull(REPO, 7, "T", None, merged_at=None, merge_commit_sha=None)))
    assert closed["merged"] is False and "closed without merging" in platform_conflict(closed)
    assert PLATFORM_FIELD in closed


def test_prs_input_takes_rest_pulls_with_files_and_names_the_fix_without():
    pull = rest_pull(REPO, 12, "Add x", "Body")
    assert is_platform_object(pull) and not is_platform_object(clone_record())
    rejected = prepare_pr(pull)
    assert rejected.reason == "rest_pull_without_files" and "--pr-metadata" in rejected.detail
    assert "--git-repo" in rejected.detail
    event = gharchive_event(pull, "closed", "2024-03-02T10:00:01Z")
    assert prepare_pr(event).reason == "rest_pull_without_files"
    assert prepare_pr({**pull, "number": None}).reason == "bad_pr_metadata"
    with_files = {**pull, "files": [
        {"sha": "bbcd538c8e72b8c175046e27cc8f907076331401", "filename": "src/x.py", "status": "modified",
         "additions": 1, "deletions": 1, "changes": 2, "patch": "@@ -1 +1 @@\n-x = 1\n+x = 2",
         "before": "x = 1\n", "after": "x = 2\n"},
        {"filename": "src/new.py", "previous_filename": "src/old.py", "status": "renamed", "patch": None},
        {"filename": "gone.py", "status": "removed"}]}
    record = prepare_pr(with_files)
    assert not isinstance(record, Rejected)
    assert (record["repo"], record["number"], record["base_sha"]) == (REPO, 12, pull["base"]["sha"])
    assert [(f["path"], f["previous_path"], f["status"]) for f in record["files"]] == [
        ("src/x.py", None, "modified"), ("src/new.py", "src/old.py", "renamed"), ("gone.py", None, "deleted")]
    assert record["files"][0]["before"] == "x = 1\n" and record["merged"] is True


def test_issues_take_rest_issue_objects_and_skip_pull_requests():
    issues = [rest_issue(REPO, 40, "Lexer crash", "Trace"), rest_issue(REPO, 41, "A PR", "x", is_pull=True),
              {"repo": "o/r", "number": 2, "title": "raw layout", "body": None}]
    assert issue_record(issues[0]) == {"repo": REPO, "number": 40, "title": "Lexer crash", "body": "Trace"}
    assert issue_record(issues[1]) is None
    index = issues_index(issues)
    assert set(index) >= {(REPO, 40), ("o/r", 2)} and (REPO, 41) not in index
    no_api_url = {**rest_issue(REPO, 42, "t", None), "repository_url": None}
    assert issue_record(no_api_url)["repo"] == REPO  # from html_url


def test_metadata_files_reader_rejects_bad_objects(tmp_path):
    good = rest_pull(REPO, 1, "One", None)
    path = tmp_path / "pulls.jsonl"
    path.write_text("\n".join([json.dumps(good), json.dumps({"type": "WatchEvent", "payload": {}}), "{broken",
                               json.dumps(gharchive_event(rest_pull(REPO, 2, "Two", None), "closed", "x"))]) + "\n")
    entries = list(metadata_entries([str(path)]))
    assert [e["number"] for e in entries if isinstance(e, dict)] == [1, 2]
    bad = [e for e in entries if isinstance(e, Unreadable)]
    assert [e.reason for e in bad] == ["bad_pr_metadata", "invalid_json"]
    assert "pulls.jsonl item 1: a GH Archive WatchEvent" in bad[0].detail
    assert [u.reason for u in MetadataReader()((str(path),))] == ["bad_pr_metadata", "invalid_json"]


def test_clone_named_after_its_directory_matches_by_bare_name():
    index = metadata_index([pull_metadata(rest_pull(REPO, 7, "Platform title", "b")),
                            pull_metadata(rest_pull("a/shared", 1, "t", None)),
                            pull_metadata(rest_pull("b/shared", 1, "t", None))])
    from transforms.code.platform import lookup
    meta = lookup(index, "jinja", 7)
    joined = join_metadata({**clone_record(), "repo": "jinja"}, meta)
    assert joined["repo"] == REPO and joined["title"] == "Platform title"
    assert lookup(index, "shared", 1) is None  # two owners have that name: no guess
    assert lookup(index, "Pallets/Jinja", 7) is meta

"""GitHub REST pull / issue objects and GH Archive events shaped as the API documents them
(https://docs.github.com/en/rest/pulls/pulls#list-pull-requests, .../issues/issues#list-repository-issues,
GH Archive PullRequestEvent): nested user/base/head/labels objects, nulls where the API puts nulls."""
from __future__ import annotations

import copy


def _user(login: str, type_: str = "User", uid: int = 1) -> dict:
    return {"login": login, "id": uid, "node_id": "MDQ6VXNlcjE=", "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "gravatar_id": "", "url": f"https://api.github.com/users/{login}", "html_url": f"https://github.com/{login}",
            "type": type_, "site_admin": False}


def _repo(full_name: str) -> dict:
    owner, name = full_name.split("/")
    return {"id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": name, "full_name": full_name,
            "owner": _user(owner, "Organization", 9), "private": False,
            "html_url": f"https://github.com/{full_name}", "description": None, "fork": False,
            "url": f"https://api.github.com/repos/{full_name}", "default_branch": "main"}


def rest_pull(full_name: str, number: int, title: str, body: str | None, *, login: str = "alice",
              user_type: str = "User", merged_at: str | None = "2024-03-02T10:00:00Z",
              merge_commit_sha: str | None = "e5bd3914e2e596debea16f433f57875b5b90bcd6",
              state: str = "closed", updated_at: str = "2024-03-02T10:00:05Z", base_sha: str = "6dcb09b5b57875f334f61aebed695e2e4193db5e",
              head_sha: str = "6dcb09b5b57875f334f61aebed695e2e4193db5f", labels: tuple[str, ...] = ()) -> dict:
    """A pull object as GET /repos/{owner}/{repo}/pulls?state=all lists it."""
    api = f"https://api.github.com/repos/{full_name}"
    return {
        "url": f"{api}/pulls/{number}", "id": 1000 + number, "node_id": "MDExOlB1bGxSZXF1ZXN0MQ==",
        "html_url": f"https://github.com/{full_name}/pull/{number}",
        "diff_url": f"https://github.com/{full_name}/pull/{number}.diff",
        "patch_url": f"https://github.com/{full_name}/pull/{number}.patch",
        "issue_url": f"{api}/issues/{number}", "number": number, "state": state, "locked": False,
        "title": title, "user": _user(login, user_type, 7), "body": body,
        "labels": [{"id": 208045946, "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=", "url": f"{api}/labels/{name}",
                    "name": name, "description": None, "color": "f29513", "default": False} for name in labels],
        "milestone": None, "active_lock_reason": None, "created_at": "2024-03-01T09:00:00Z",
        "updated_at": updated_at, "closed_at": merged_at or "2024-03-02T10:00:00Z", "merged_at": merged_at,
        "merge_commit_sha": merge_commit_sha, "assignee": None, "assignees": [], "requested_reviewers": [],
        "requested_teams": [], "draft": False,
        "head": {"label": f"{login}:feature-{number}", "ref": f"feature-{number}", "sha": head_sha,
                 "user": _user(login, user_type, 7), "repo": _repo(f"{login}/{full_name.split('/')[1]}")},
        "base": {"label": f"{full_name.split('/')[0]}:main", "ref": "main", "sha": base_sha,
                 "user": _user(full_name.split("/")[0], "Organization", 9), "repo": _repo(full_name)},
        "_links": {"self": {"href": f"{api}/pulls/{number}"},
                   "html": {"href": f"https://github.com/{full_name}/pull/{number}"}},
        "author_association": "CONTRIBUTOR", "auto_merge": None,
    }


def gharchive_event(pull: dict, action: str, created_at: str, event_id: str = "26170139709") -> dict:
    """A GH Archive PullRequestEvent line carrying ``pull`` (the payload's pull_request)."""
    full_name = pull["base"]["repo"]["full_name"]
    return {"id": event_id, "type": "PullRequestEvent",
            "actor": {"id": 7, "login": pull["user"]["login"], "display_login": pull["user"]["login"],
                      "gravatar_id": "", "url": f"https://api.github.com/users/{pull['user']['login']}",
                      "avatar_url": "https://avatars.githubusercontent.com/u/7?"},
            "repo": {"id": 1296269, "name": full_name, "url": f"https://api.github.com/repos/{full_name}"},
            "payload": {"action": action, "number": pull["number"], "pull_request": copy.deepcopy(pull)},
            "public": True, "created_at": created_at,
            "org": {"id": 9, "login": full_name.split("/")[0], "gravatar_id": "",
                    "url": f"https://api.github.com/orgs/{full_name.split('/')[0]}",
                    "avatar_url": "https://avatars.githubusercontent.com/u/9?"}}


def rest_issue(full_name: str, number: int, title: str, body: str | None, *, is_pull: bool = False) -> dict:
    """An issue object as GET /repos/{owner}/{repo}/issues lists it (PRs carry a pull_request key)."""
    api = f"https://api.github.com/repos/{full_name}"
    issue = {
        "url": f"{api}/issues/{number}", "repository_url": api, "labels_url": f"{api}/issues/{number}/labels{{/name}}",
        "comments_url": f"{api}/issues/{number}/comments", "events_url": f"{api}/issues/{number}/events",
        "html_url": f"https://github.com/{full_name}/{'pull' if is_pull else 'issues'}/{number}",
        "id": 2000 + number, "node_id": "MDU6SXNzdWUx", "number": number, "title": title,
        "user": _user("reporter", "User", 11), "labels": [], "state": "closed", "locked": False,
        "assignee": None, "assignees": [], "milestone": None, "comments": 2,
        "created_at": "2024-02-01T08:00:00Z", "updated_at": "2024-03-02T10:00:00Z",
        "closed_at": "2024-03-02T10:00:00Z", "author_association": "NONE", "active_lock_reason": None,
        "body": body, "reactions": {"url": f"{api}/issues/{number}/reactions", "total_count": 0},
        "timeline_url": f"{api}/issues/{number}/timeline", "performed_via_github_app": None,
        "state_reason": "completed",
    }
    if is_pull:
        issue["pull_request"] = {"url": f"{api}/pulls/{number}", "html_url": issue["html_url"],
                                 "diff_url": issue["html_url"] + ".diff", "patch_url": issue["html_url"] + ".patch",
                                 "merged_at": "2024-03-02T10:00:00Z"}
    return issue

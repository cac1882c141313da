import pytest

from transforms.code.intent import (CLOSING_KEYWORDS, IssueRef, build_intent, clean_text, dedupe_commit_lines,
                                    find_issue_refs, remove_emails, remove_trailers)

REPO = "acme/widgets"


@pytest.mark.parametrize("text, refs", [
    ("See #12.", [IssueRef(REPO, 12)]),
    ("(#7) and GH-8", [IssueRef(REPO, 7), IssueRef(REPO, 8)]),
    ("Related to other/lib#3", [IssueRef("other/lib", 3)]),
    ("dup of my-org/my.repo_x#45, also #1", [IssueRef("my-org/my.repo_x", 45), IssueRef(REPO, 1)]),
    ("See https://github.com/other/lib/issues/99#issuecomment-1", [IssueRef("other/lib", 99)]),
    ("Follow-up of http://www.github.com/acme/widgets/pull/5", [IssueRef("acme/widgets", 5)]),
    ("[#4](https://github.com/acme/widgets/issues/4)", [IssueRef(REPO, 4)]),
])
def test_reference_forms(text, refs):
    assert find_issue_refs(text, REPO) == refs


@pytest.mark.parametrize("text", [
    "a#1", "see https://example.com/page#12", "path /#6", "&#39;quote", "x/y#0", "#12abc", "issue#3",
    "`#5` in code", "```\nfixes #6\n```", "~~~py\n#7\n~~~", "<!-- Fixes #8 -->", "``a ` #9``",
    "https://gitlab.com/a/b/issues/3", "user@host#4",
])
def test_non_references(text):
    assert find_issue_refs(text, REPO) == []


@pytest.mark.parametrize("keyword", CLOSING_KEYWORDS)
def test_every_closing_keyword(keyword):
    assert find_issue_refs(f"{keyword} #10", REPO) == [IssueRef(REPO, 10, True)]
    assert find_issue_refs(f"{keyword.upper()}: other/lib#2", REPO) == [IssueRef("other/lib", 2, True)]
    assert find_issue_refs(f"{keyword.title()} https://github.com/o/r/issues/3", REPO) == [IssueRef("o/r", 3, True)]


def test_closing_applies_to_the_directly_following_reference_only():
    refs = find_issue_refs("Fixes #1, #2 and closes #3. Mentions #4; prefix #5", REPO)
    assert refs == [IssueRef(REPO, 1, True), IssueRef(REPO, 2), IssueRef(REPO, 3, True),
                    IssueRef(REPO, 4), IssueRef(REPO, 5)]
    # a keyword needs a word boundary: 'prefixes #6' does not close
    assert find_issue_refs("prefixes #6, bugfix #7", REPO) == [IssueRef(REPO, 6), IssueRef(REPO, 7)]


def test_refs_dedupe_and_merge_closing():
    refs = find_issue_refs("See #3. Later: resolves #3, and ACME/Widgets#3 and acme/widgets#4", REPO)
    assert refs == [IssueRef(REPO, 3, True), IssueRef(REPO, 4)]


def test_local_refs_need_a_repo():
    assert find_issue_refs("fixes #1 and o/r#2", None) == [IssueRef("o/r", 2)]
    assert find_issue_refs(None, REPO) == []


def test_clean_text():
    assert clean_text("Hello\r\n<!-- template -->\r\n\r\n\r\n\r\nWorld  \r\n") == "Hello\n\nWorld"
    assert clean_text(None) == ""


def test_build_intent():
    issues = [
        {"repo": REPO, "number": 3, "title": "Crash on empty input", "body": "Steps:\r\n1. run\r\n"},
        {"repo": "other/lib", "number": 9, "title": None, "body": None},  # unresolved: skipped
        {"repo": REPO, "number": 3, "title": "Crash on empty input", "body": "dup"},  # repeat: skipped
        {"repo": "other/lib", "number": 10, "title": "Only a title", "body": ""},
    ]
    intent = build_intent("Fix crash (#4)", "Fixes #3.\r\n<!-- describe your change -->", issues)
    assert intent == (
        "Fix crash (#4)\n\nFixes #3.\n\n"
        "Issue acme/widgets#3: Crash on empty input\n\nSteps:\n1. run\n\n"
        "Issue other/lib#10: Only a title"
    )
    assert build_intent("Title", None, []) == "Title"
    assert build_intent("T", "", [IssueRef(REPO, 1)]) == "T"  # refs without text add nothing


def test_trailer_block_of_a_commit_message_is_removed():
    message = ("Fix the lexer\n\nThe lexer dropped the last token.\n\n"
               "Signed-off-by: Jane Doe <jane@example.com>\nCo-authored-by: Bob <bob@example.org>\n"
               "Reviewed-by: Ann <ann@example.net>\nChange-Id: I1f2e3d4c5b6a7988\n")
    assert remove_trailers(message) == "Fix the lexer\n\nThe lexer dropped the last token.\n"
    # git's 25% rule: a block with a known trailer may hold other lines, which stay
    mixed = "Body.\n\nSome note here\nSigned-off-by: A <a@x.org>\n(cherry picked from commit 1234567abc)"
    assert remove_trailers(mixed) == "Body.\n\nSome note here"
    # a continuation line goes with its trailer; every paragraph is tested (several commit messages)
    two = ("First.\n\nAcked-by: A <a@x.org>\n  on behalf of the team\n\nSecond.\n\nTested-by: B <b@y.org>\n"
           "Bug-Id: 42")
    assert remove_trailers(two) == "First.\n\nSecond."


@pytest.mark.parametrize("text", [
    "Note: this changes the default.",  # a final paragraph of one-word tokens only: prose
    "Steps:\n1. run it\n2. see: the crash",
    "See https://example.com/page and\nhttp://x.org: both",
    "Co-authored-by: in the middle of a sentence is prose.\nAnd this line too.\nAnd this.\nAnd that.\nMore.",
    "```\nSigned-off-by: kept inside code\n```",
])
def test_prose_and_code_keep_their_colon_lines(text):
    assert remove_trailers(text) == text


def test_github_squash_separator_goes_with_the_co_authors():
    body = "* one\n\n* two\n\n---------\n\nCo-authored-by: Al <12+al@users.noreply.github.com>"
    assert remove_trailers(body) == "* one\n\n* two"


@pytest.mark.parametrize("text, cleaned", [
    ("Thanks Jane Doe <jane@example.com> for it.", "Thanks Jane Doe for it."),
    ("Mail jane.doe+tag@mail.example.co.uk, or (bob@x.org).", "Mail, or."),
    ("Contact <mailto:ops@example.com>", "Contact"),
    ("remote git@github.com:o/r.git stays", "remote git@github.com:o/r.git stays"),
    ("a @decorator, x@y and pkg@1.2.3 stay", "a @decorator, x@y and pkg@1.2.3 stay"),
])
def test_emails_are_removed(text, cleaned):
    assert remove_emails(text) == cleaned


def test_commit_messages_lose_repeats_and_merge_lines_but_descriptions_keep_them():
    body = ("* Fix typo\n* fix docs\n* Fix typo\n* Merge branch 'main' into fix\n"
            "Merge remote-tracking branch 'origin/main' into fix\n\n```\nx = 1\nx = 1\n```")
    assert dedupe_commit_lines(body, seen=["Fix typo"]) == "* fix docs\n\n```\nx = 1\nx = 1\n```"
    assert build_intent("Fix typo", body, commit_messages=True) == "Fix typo\n\n* fix docs\n\n```\nx = 1\nx = 1\n```"
    description = "- [x] tests\n- [x] tests"
    assert build_intent("T", description) == "T\n\n- [x] tests\n- [x] tests"
    assert build_intent("T <t@x.org>", "Body\n\nSigned-off-by: T <t@x.org>",
                        [{"repo": REPO, "number": 1, "title": "Issue", "body": "by me@x.org"}]) == (
        "T\n\nBody\n\nIssue acme/widgets#1: Issue\n\nby")

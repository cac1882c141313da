"""SWE-bench decontamination against the real SWE-bench Lite / Verified rows in ../shared/data."""
import json
import os
import pickle
import re
import time

import pytest

from transforms.code.decontam import (
    BenchmarkIndex,
    changed_line_ranges,
    contamination_reason,
    default_benchmark_paths,
    issue_tokens,
    load_benchmark_patches,
    parse_unified_diff,
    statement_match,
    touched_lines,
)
from transforms.records import Rejected

INSTANCE = "astropy__astropy-12907"  # SWE-bench Lite: one hunk '@@ -242,7 +242,7 @@' in astropy/modeling/separable.py


@pytest.fixture(scope="module")
def paths():
    found = default_benchmark_paths()
    assert [os.path.basename(p) for p in found] == ["swebench_lite.jsonl", "swebench_verified.jsonl"]
    return found


@pytest.fixture(scope="module")
def rows(paths):
    by_id = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                by_id[row["instance_id"]] = row
    return by_id


@pytest.fixture(scope="module")
def index(paths):
    return load_benchmark_patches(paths)


@pytest.fixture(scope="module")
def gold(rows):
    """The instance's repo, path and only hunk, read from the benchmark file."""
    row = rows[INSTANCE]
    (file_diff,) = parse_unified_diff(row["patch"])
    (hunk,) = file_diff.hunks
    assert (file_diff.old_path, hunk.old_start, hunk.old_length) == ("astropy/modeling/separable.py", 242, 7)
    return row, file_diff.old_path, hunk


def filler(count, tag="x"):
    return [f"{tag}_{n} = {n}  # filler" for n in range(count)]


def file_with_hunk(hunk, lines_above):
    """A before-file whose lines ``lines_above + 1 ...`` are the gold hunk's old side, 300 lines long."""
    lines = filler(lines_above) + list(hunk.old_lines)
    lines += filler(300 - len(lines), "y")
    return "".join(line + "\n" for line in lines)


def edit_lines(before, changes):
    """``before`` with 1-based line -> new text replacements (None deletes, a list inserts after)."""
    lines = before.splitlines(keepends=True)
    out = []
    for number, line in enumerate(lines, 1):
        change = changes.get(number, line)
        if isinstance(change, list):
            out.append(line)
            out.extend(text + "\n" for text in change)
        elif change is not None:
            out.append(change if change.endswith("\n") else change + "\n")
    for text in changes.get(0, []):
        out.insert(0, text + "\n")
    return "".join(out)


def sample(repo, pr_number, path, before, after, **extra):
    return {"repo": repo, "pr_number": pr_number, "title": "Tidy up", "body": "", "linked_issues": [],
            "files": [{"path": path, "previous_path": None, "status": "modified", "before": before, "after": after}],
            "blocks": [], **extra}


def test_loading_both_files_is_fast_and_complete(paths, rows):
    started = time.perf_counter()
    index = load_benchmark_patches(paths)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert len(index) == len(rows) == 707  # Lite and Verified share 93 instances
    assert index.pull_requests[("astropy/astropy", 12907)] == INSTANCE
    assert "astropy/modeling/separable.py" in index.hunks["astropy/astropy"]


def test_every_gold_hunk_parses_to_its_declared_lengths(rows):
    for row in rows.values():
        file_diffs = parse_unified_diff(row["patch"])
        assert sum(len(f.hunks) for f in file_diffs) == row["patch"].count("\n@@ ") + row["patch"].startswith("@@ ")
        for file_diff in file_diffs:
            for hunk in file_diff.hunks:
                assert (len(hunk.old_lines), len(hunk.new_lines)) == (hunk.old_length, hunk.new_length), row["instance_id"]


def test_new_file_in_gold_patch_has_no_old_path():
    patch = "diff --git a/pkg/new.py b/pkg/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/pkg/new.py\n@@ -0,0 +1,2 @@\n+a = 1\n+b = 2\n"
    (file_diff,) = parse_unified_diff(patch)
    assert file_diff.old_path is None and file_diff.new_path == "pkg/new.py"
    assert file_diff.hunks[0].old_lines == () and file_diff.hunks[0].new_lines == ("a = 1", "b = 2")


def test_edit_inside_gold_hunk_is_rejected_with_the_instance_id(index, gold):
    row, path, hunk = gold
    before = file_with_hunk(hunk, 241)  # gold text at its declared lines 242-248
    changed = 242 + hunk.old_lines.index(next(l for l in hunk.old_lines if "= 1" in l))
    after = edit_lines(before, {changed: "        cright[:, :] = 2"})
    verdict = contamination_reason(sample(row["repo"], 99999, path, before, after), index)
    assert isinstance(verdict, Rejected)
    assert verdict.reason == "swebench_hunk_overlap"
    assert verdict.detail.startswith(INSTANCE + ":") and path in verdict.detail


def test_same_repo_other_file_or_far_lines_is_kept(index, gold):
    row, path, hunk = gold
    before = file_with_hunk(hunk, 241)
    far = edit_lines(before, {10: "x_9 = 'changed'"})
    assert contamination_reason(sample(row["repo"], 99999, path, before, far), index) is None
    inside = edit_lines(before, {245: "changed = True"})
    assert contamination_reason(sample(row["repo"], 99999, "astropy/modeling/other.py", before, inside), index) is None
    # the same change in a repository outside the benchmark
    assert contamination_reason(sample("someone/astropy-fork", 99999, path, before, inside), index) is None


def test_pure_insertion_overlaps_only_when_touching_the_hunk(index, gold):
    row, path, hunk = gold
    before = file_with_hunk(hunk, 241)  # hunk covers lines 242..248

    def verdict(after_line):
        after = edit_lines(before, {after_line: ["inserted = True"]})
        assert changed_line_ranges(before, after) == [(after_line, after_line)]
        result = contamination_reason(sample(row["repo"], 99999, path, before, after), index)
        return None if result is None else result.reason

    assert touched_lines(241, 241) == (241, 242)
    assert verdict(240) is None  # between lines 240 and 241: touches neither hunk line
    assert verdict(241) == "swebench_hunk_overlap"  # right before the hunk's first line
    assert verdict(245) == "swebench_hunk_overlap"  # inside
    assert verdict(248) == "swebench_hunk_overlap"  # right after its last line
    assert verdict(249) is None


def test_deleting_lines_overlaps_like_replacing_them(index, gold):
    row, path, hunk = gold
    before = file_with_hunk(hunk, 241)
    after = edit_lines(before, {248: None})
    assert contamination_reason(sample(row["repo"], 1, path, before, after), index).reason == "swebench_hunk_overlap"
    after = edit_lines(before, {249: None, 250: None})
    assert contamination_reason(sample(row["repo"], 1, path, before, after), index) is None


def test_gold_hunk_is_relocated_by_its_text(index, gold):
    row, path, hunk = gold
    before = file_with_hunk(hunk, 291)  # the file has 50 more lines above: gold text at 292..298
    moved_edit = edit_lines(before, {295: "changed = True"})
    assert contamination_reason(sample(row["repo"], 1, path, before, moved_edit), index).reason == "swebench_hunk_overlap"
    # the declared lines now hold unrelated code, and the hunk was found elsewhere
    declared_edit = edit_lines(before, {245: "changed = True"})
    assert contamination_reason(sample(row["repo"], 1, path, before, declared_edit), index) is None


def test_file_already_holding_the_fix_is_matched_by_the_new_side(index, gold):
    row, path, hunk = gold
    lines = filler(100) + list(hunk.new_lines) + filler(100, "y")
    before = "".join(line + "\n" for line in lines)
    after = edit_lines(before, {103: "changed = True"})
    assert contamination_reason(sample(row["repo"], 1, path, before, after), index).reason == "swebench_hunk_overlap"


def test_without_the_gold_text_the_declared_range_decides(index, gold):
    row, path, _ = gold
    before = "".join(line + "\n" for line in filler(400))
    near = edit_lines(before, {244: "changed = True"})
    assert contamination_reason(sample(row["repo"], 1, path, before, near), index).reason == "swebench_hunk_overlap"
    assert contamination_reason(sample(row["repo"], 1, path, before, edit_lines(before, {300: "z = 0"})), index) is None


def test_same_pull_request_is_an_instance(index, gold):
    row, path, _ = gold
    before = "a = 1\n"
    verdict = contamination_reason(sample(row["repo"], 12907, "docs/notes.py", before, "a = 2\n"), index)
    assert verdict == Rejected("swebench_instance", f"{INSTANCE}: astropy/astropy pull request #12907")
    # repo names compare case-insensitively; a clone named after its directory matches by name
    assert contamination_reason(sample("AstroPy/AstroPy", 12907, "x.py", before, before), index).reason == "swebench_instance"
    assert contamination_reason(sample("astropy", 12907, "x.py", before, before), index).reason == "swebench_instance"
    assert contamination_reason(sample("astropy/astropy", 12908, "x.py", before, before), index) is None
    # a backport that links the gold pull request
    backport = sample("astropy/astropy", 13000, "x.py", before, before,
                      linked_issues=[{"repo": "astropy/astropy", "number": 12907, "title": None, "body": None}])
    assert contamination_reason(backport, index).reason == "swebench_instance"


def test_linked_issue_with_the_problem_statement_is_rejected(index, rows):
    statement = rows[INSTANCE]["problem_statement"]
    title, body = statement.split("\n", 1)
    issue = {"repo": "astropy/astropy", "number": 12906, "title": title, "body": body}
    record = sample("astropy/astropy", 99999, "x.py", "a\n", "b\n", linked_issues=[issue])
    verdict = contamination_reason(record, index)
    assert verdict.reason == "swebench_issue"
    assert verdict.detail == f"{INSTANCE}: linked issue astropy/astropy#12906 matches its problem statement (normalized exact match)"
    # whitespace, CRLF and markup changes do not hide it
    issue["body"] = body.replace("\r\n", "\n").replace("```", "~~~").replace("  ", " ")
    assert contamination_reason(record, index).reason == "swebench_issue"


def test_pr_body_quoting_the_issue_is_rejected(index, rows):
    statement = rows["django__django-11099"]["problem_statement"]
    quoted = "\n".join("> " + line for line in statement.splitlines())
    body = f"This PR changes the validators as discussed.\n\n{quoted}\n\nThanks for the review!"
    record = sample("someone/elsewhere", 5, "x.py", "a\n", "b\n", body=body)
    verdict = contamination_reason(record, index)
    assert verdict.reason == "swebench_issue" and verdict.detail.startswith("django__django-11099: PR body")
    assert "13-gram containment 1.00" in verdict.detail


def test_issue_match_needs_half_of_the_statement(index, rows):
    row = rows["sympy__sympy-20590"]
    words = issue_tokens(row["problem_statement"])
    assert len(words) > 60
    most = " ".join(words[: int(len(words) * 0.6)])
    few = " ".join(words[: int(len(words) * 0.35)])
    assert statement_match(most, index)[0] == row["instance_id"]
    assert statement_match(few, index) is None
    assert statement_match("Fix a typo in the README of an unrelated project.", index) is None


def test_issue_template_boilerplate_alone_does_not_match(index, rows):
    # astropy's issue template keeps long boilerplate in HTML comments; a new issue written in
    # the same template shares half the 13-grams of short template issues unless comments go.
    statement = rows["astropy__astropy-13033"]["problem_statement"]
    template = "\n\n".join(re.findall(r"<!--.*?-->", statement, re.DOTALL))
    assert len(template) > 500
    other_issue = (f"Reading a FITS table with a masked column fails\n{template}\n### Description\n"
                   "Opening a file with masked integer columns raises a KeyError in the reader.\n")
    assert statement_match(other_issue, index) is None
    for instance_id in ("astropy__astropy-13033", "astropy__astropy-13579", "scikit-learn__scikit-learn-9288"):
        assert statement_match(rows[instance_id]["problem_statement"], index)[0] == instance_id


def test_clean_sample_is_kept_and_index_pickles(index, gold):
    row, path, hunk = gold
    before = file_with_hunk(hunk, 241)
    record = sample(row["repo"], 99999, path, before, edit_lines(before, {245: "changed = True"}))
    clean = sample("octo/widgets", 3, "src/w.py", "a = 1\n", "a = 2\n", title="Fix widgets", body="Widgets were off.")
    restored = pickle.loads(pickle.dumps(index))
    assert isinstance(restored, BenchmarkIndex)
    assert contamination_reason(clean, index) is None and contamination_reason(clean, restored) is None
    assert contamination_reason(record, restored) == contamination_reason(record, index)
    assert contamination_reason(record, index).reason == "swebench_hunk_overlap"


def test_after_missing_uses_the_blocks(index, gold):
    row, path, hunk = gold
    before = file_with_hunk(hunk, 241)
    line = before.splitlines(keepends=True)[244]
    record = sample(row["repo"], 99999, path, before, None,
                    blocks=[{"path": path, "search": line, "replace": "changed = True\n"}])
    assert contamination_reason(record, index).reason == "swebench_hunk_overlap"

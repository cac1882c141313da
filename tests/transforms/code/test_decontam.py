"""SWE-bench decontamination against the real SWE-bench Lite / Verified rows of the shared data
(``tests/shared_data.py``), each rule checked with the index built from those JSONL files and with
the index shipped in the package; the rebuild check; and, without the shared data, the shipped
index on a gold hunk written into the test."""
import json
import os
import pickle
import re
import subprocess
import time

import pytest

from tests.shared_data import shared_path
from transforms.code.decontam import (
    BenchmarkIndex,
    changed_line_ranges,
    contamination_reason,
    issue_tokens,
    load_benchmark_patches,
    parse_unified_diff,
    shipped_index,
    statement_match,
    touched_lines,
)
from transforms.records import Rejected

INSTANCE = "astropy__astropy-12907"  # SWE-bench Lite: one hunk '@@ -242,7 +242,7 @@' in astropy/modeling/separable.py
SWEBENCH_FILES = ("benchmarks/swebench/swebench_lite.jsonl", "benchmarks/swebench/swebench_verified.jsonl")
needs_swebench = pytest.mark.shared_data(*SWEBENCH_FILES)


@pytest.fixture(scope="module")
def paths():
    return [str(shared_path(name)) for name in SWEBENCH_FILES]


@pytest.fixture(scope="module")
def jsonl_index(paths):
    return load_benchmark_patches(paths)


@pytest.fixture(scope="module")
def rows(paths):
    by_id = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                by_id[row["instance_id"]] = row
    return by_id


@pytest.fixture(scope="module", params=["jsonl", "shipped"])
def index(request):
    """Every rule runs against both: the index built from the JSONL rows and the shipped one."""
    return request.getfixturevalue("jsonl_index") if request.param == "jsonl" else shipped_index()


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


@needs_swebench
def test_loading_both_files_is_fast_and_complete(paths, rows):
    started = time.perf_counter()
    index = load_benchmark_patches(paths)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert len(index) == len(rows) == 707  # Lite and Verified share 93 instances
    assert index.pull_requests[("astropy/astropy", 12907)] == INSTANCE
    assert "astropy/modeling/separable.py" in index.hunks["astropy/astropy"]


@needs_swebench
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


@needs_swebench
def test_edit_inside_gold_hunk_is_rejected_with_the_instance_id(index, gold):
    row, path, hunk = gold
    before = file_with_hunk(hunk, 241)  # gold text at its declared lines 242-248
    changed = 242 + hunk.old_lines.index(next(l for l in hunk.old_lines if "= 1" in l))
    after = edit_lines(before, {changed: "        cright[:, :] = 2"})
    verdict = contamination_reason(sample(row["repo"], 99999, path, before, after), index)
    assert isinstance(verdict, Rejected)
    assert verdict.reason == "swebench_hunk_overlap"
    assert verdict.detail.startswith(INSTANCE + ":") and path in verdict.detail


@needs_swebench
def test_same_repo_other_file_or_far_lines_is_kept(index, gold):
    row, path, hunk = gold
    before = file_with_hunk(hunk, 241)
    far = edit_lines(before, {10: "x_9 = 'changed'"})
    assert contamination_reason(sample(row["repo"], 99999, path, before, far), index) is None
    inside = edit_lines(before, {245: "changed = True"})
    assert contamination_reason(sample(row["repo"], 99999, "astropy/modeling/other.py", before, inside), index) is None
    # the same change in a repository outside the benchmark
    assert contamination_reason(sample("someone/astropy-fork", 99999, path, before, inside), index) is None


@needs_swebench
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


@needs_swebench
def test_deleting_lines_overlaps_like_replacing_them(index, gold):
    row, path, hunk = gold
    before = file_with_hunk(hunk, 241)
    after = edit_lines(before, {248: None})
    assert contamination_reason(sample(row["repo"], 1, path, before, after), index).reason == "swebench_hunk_overlap"
    after = edit_lines(before, {249: None, 250: None})
    assert contamination_reason(sample(row["repo"], 1, path, before, after), index) is None


@needs_swebench
def test_gold_hunk_is_relocated_by_its_text(index, gold):
    row, path, hunk = gold
    before = file_with_hunk(hunk, 291)  # the file has 50 more lines above: gold text at 292..298
    moved_edit = edit_lines(before, {295: "changed = True"})
    assert contamination_reason(sample(row["repo"], 1, path, before, moved_edit), index).reason == "swebench_hunk_overlap"
    # the declared lines now hold unrelated code, and the hunk was found elsewhere
    declared_edit = edit_lines(before, {245: "changed = True"})
    assert contamination_reason(sample(row["repo"], 1, path, before, declared_edit), index) is None


@needs_swebench
def test_file_already_holding_the_fix_is_matched_by_the_new_side(index, gold):
    row, path, hunk = gold
    lines = filler(100) + list(hunk.new_lines) + filler(100, "y")
    before = "".join(line + "\n" for line in lines)
    after = edit_lines(before, {103: "changed = True"})
    assert contamination_reason(sample(row["repo"], 1, path, before, after), index).reason == "swebench_hunk_overlap"


@needs_swebench
def test_without_the_gold_text_the_declared_range_decides(index, gold):
    row, path, _ = gold
    before = "".join(line + "\n" for line in filler(400))
    near = edit_lines(before, {244: "changed = True"})
    assert contamination_reason(sample(row["repo"], 1, path, before, near), index).reason == "swebench_hunk_overlap"
    assert contamination_reason(sample(row["repo"], 1, path, before, edit_lines(before, {300: "z = 0"})), index) is None


@needs_swebench
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


@needs_swebench
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


@needs_swebench
def test_pr_body_quoting_the_issue_is_rejected(index, rows):
    statement = rows["django__django-11099"]["problem_statement"]
    quoted = "\n".join("> " + line for line in statement.splitlines())
    body = f"This PR changes the validators as discussed.\n\n{quoted}\n\nThanks for the review!"
    record = sample("someone/elsewhere", 5, "x.py", "a\n", "b\n", body=body)
    verdict = contamination_reason(record, index)
    assert verdict.reason == "swebench_issue" and verdict.detail.startswith("django__django-11099: PR body")
    assert "13-gram containment 1.00" in verdict.detail


@needs_swebench
def test_issue_match_needs_half_of_the_statement(index, rows):
    row = rows["sympy__sympy-20590"]
    words = issue_tokens(row["problem_statement"])
    assert len(words) > 60
    most = " ".join(words[: int(len(words) * 0.6)])
    few = " ".join(words[: int(len(words) * 0.35)])
    assert statement_match(most, index)[0] == row["instance_id"]
    assert statement_match(few, index) is None
    assert statement_match("Fix a typo in the README of an unrelated project.", index) is None


@needs_swebench
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


@needs_swebench
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


@needs_swebench
def test_after_missing_uses_the_blocks(index, gold):
    row, path, hunk = gold
    before = file_with_hunk(hunk, 241)
    line = before.splitlines(keepends=True)[244]
    record = sample(row["repo"], 99999, path, before, None,
                    blocks=[{"path": path, "search": line, "replace": "changed = True\n"}])
    assert contamination_reason(record, index).reason == "swebench_hunk_overlap"


# --------------------------------------------------------------------------- the shipped index

# astropy__astropy-12907's gold hunk in astropy/modeling/separable.py (@@ -242,7 +242,7 @@), old
# side: the 4th line is the one the fix changes. Copied so the shipped index is tested without
# the shared data; test_embedded_gold_hunk_is_the_real_one checks the copy.
GOLD_PATH = "astropy/modeling/separable.py"
GOLD_OLD_LINES = (
    "        cright = _coord_matrix(right, 'right', noutp)",
    "    else:",
    "        cright = np.zeros((noutp, right.shape[1]))",
    "        cright[-right.shape[0]:, -right.shape[1]:] = 1",
    "",
    "    return np.hstack([cleft, cright])",
    "",
)


def test_shipped_index_alone_finds_an_edit_of_a_gold_hunk():
    index = shipped_index()
    assert len(index) == 707 and [s["file"] for s in index.sources] == ["swebench_lite.jsonl", "swebench_verified.jsonl"]
    assert index.describe() == ("the SWE-bench index swebench_index.bin.gz "
                                "(707 instances from swebench_lite.jsonl, swebench_verified.jsonl)")
    lines = filler(100) + list(GOLD_OLD_LINES) + filler(100, "y")  # gold text at 101..107, not 242
    before = "".join(line + "\n" for line in lines)
    fixed = edit_lines(before, {104: "        cright[-right.shape[0]:, -right.shape[1]:] = right"})  # the gold fix
    assert contamination_reason(sample("astropy/astropy", 99999, GOLD_PATH, before, fixed), index) == Rejected(
        "swebench_patch", f"{INSTANCE}: {GOLD_PATH} changes every line of the gold change (1 removed, 1 added)")
    other = edit_lines(before, {104: "        cright[-right.shape[0]:, -right.shape[1]:] = 2"})
    verdict = contamination_reason(sample("astropy/astropy", 99999, GOLD_PATH, before, other), index)
    assert verdict.reason == "swebench_hunk_overlap"
    assert verdict.detail == (f"{INSTANCE}: {GOLD_PATH} lines 104-104 overlap gold hunk lines 101-107 "
                              "(declared 242-248)")
    # near misses: two lines below the hunk, another file, another repository
    below = edit_lines(before, {109: "y_1 = 'changed'"})
    assert contamination_reason(sample("astropy/astropy", 99999, GOLD_PATH, before, below), index) is None
    assert contamination_reason(sample("astropy/astropy", 99999, "astropy/other.py", before, fixed), index) is None
    assert contamination_reason(sample("someone/astropy-fork", 99999, GOLD_PATH, before, fixed), index) is None
    assert contamination_reason(sample("astropy/astropy", 12907, "x.py", "a\n", "b\n"), index) == Rejected(
        "swebench_instance", f"{INSTANCE}: astropy/astropy pull request #12907")


def test_index_file_round_trips_byte_for_byte(tmp_path):
    import gzip

    from transforms.code.decontam import index_payload, read_index, shipped_index_path, write_index

    shipped = open(shipped_index_path(), "rb").read()
    assert shipped[:4] == b"\x1f\x8b\x08\x00" and shipped[4:8] == b"\0\0\0\0"  # gzip: no file name, mtime 0
    payload = gzip.decompress(shipped)
    assert index_payload(shipped_index()) == payload
    copy = tmp_path / "copy.bin.gz"
    write_index(read_index(shipped_index_path()), copy)
    assert gzip.decompress(copy.read_bytes()) == payload
    assert read_index(copy).name == "copy.bin.gz"


def test_builder_is_deterministic_and_keeps_no_text_or_paths(tmp_path, capsys):
    from transforms.code.build_swebench_index import main
    from transforms.code.decontam import index_payload, read_index

    patch = ("diff --git a/pkg/mod.py b/pkg/mod.py\n--- a/pkg/mod.py\n+++ b/pkg/mod.py\n@@ -10,3 +10,3 @@\n"
             " def area(radius):\n-    return 3.14 * radius\n+    return 3.14 * radius ** 2\n \n")
    statement = ("Area is wrong for circles. " * 3) + "The function area returns the circumference instead of the area."
    rows = [{"instance_id": "octo__geometry-17", "repo": "octo/geometry", "base_commit": "0" * 40,
             "problem_statement": statement, "patch": patch},
            {"instance_id": "octo__geometry-4", "repo": "octo/geometry", "base_commit": "1" * 40,
             "problem_statement": "", "patch": ""}]
    source = tmp_path / "secret-folder" / "mini.jsonl"
    source.parent.mkdir()
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    first, second = tmp_path / "a.bin.gz", tmp_path / "b.bin.gz"
    assert main([str(source.parent), "--output", str(first)]) == 0
    assert main([str(source), "--output", str(second)]) == 0
    assert f"{first}: 2 instances from mini.jsonl," in capsys.readouterr().out
    assert first.read_bytes() == second.read_bytes()
    import gzip

    payload = gzip.decompress(first.read_bytes())
    assert b"secret-folder" not in payload and b"radius" not in payload and b"circumference" not in payload
    built, loaded = load_benchmark_patches([source]), read_index(first)
    assert index_payload(built) == payload
    before = "".join(f"line_{n} = {n}\n" for n in range(1, 9)) + "\n" + "def area(radius):\n    return 3.14 * radius\n\n"
    after = before.replace("* radius\n", "* radius * radius\n")
    cases = [sample("octo/geometry", 1, "pkg/mod.py", before, after),
             sample("octo/geometry", 17, "README.md", "a\n", "b\n"),
             sample("geometry", 2, "pkg/mod.py", before, before.replace("line_1 = 1", "line_1 = 0")),
             sample("other/repo", 3, "x.py", "a\n", "b\n", body=f"Quoting the report:\n{statement}")]
    verdicts = [contamination_reason(case, loaded) for case in cases]
    assert verdicts == [contamination_reason(case, built) for case in cases]
    assert [v and v.reason for v in verdicts] == ["swebench_hunk_overlap", "swebench_instance", None, "swebench_issue"]
    with pytest.raises(SystemExit, match="no such file or directory"):
        main([str(tmp_path / "missing.jsonl"), "--output", str(first)])


@needs_swebench
def test_embedded_gold_hunk_is_the_real_one(gold):
    _, path, hunk = gold
    assert (path, hunk.old_lines) == (GOLD_PATH, GOLD_OLD_LINES)


@needs_swebench
def test_rebuilding_from_the_shared_data_gives_the_shipped_index(tmp_path, paths, jsonl_index, capsys):
    import gzip

    from transforms.code.build_swebench_index import main
    from transforms.code.decontam import index_payload, shipped_index_path

    out = tmp_path / "swebench_index.bin.gz"
    assert main([*paths, "--output", str(out)]) == 0
    assert "707 instances from swebench_lite.jsonl, swebench_verified.jsonl" in capsys.readouterr().out
    shipped = gzip.decompress(open(shipped_index_path(), "rb").read())
    assert gzip.decompress(out.read_bytes()) == shipped, \
        "the shipped index is stale: python -m transforms.code.build_swebench_index <swebench dir> " \
        "--output transforms/code/data/swebench_index.bin.gz"
    assert index_payload(jsonl_index) == shipped


def _decision_samples(rows):
    """Contaminated samples and near misses built from every 9th instance's gold patch and statement."""
    samples = []
    for row in [rows[key] for key in sorted(rows)][::9]:
        repo, number = row["repo"], int(row["instance_id"].rsplit("-", 1)[1])
        samples.append(sample(repo, number, "x.py", "a\n", "b\n"))  # the instance's PR
        samples.append(sample(repo, number + 100_000, "x.py", "a\n", "b\n"))  # another PR of the repo
        for file_diff in parse_unified_diff(row["patch"])[:1]:
            path = file_diff.old_path or file_diff.new_path
            for hunk in [h for h in file_diff.hunks if h.old_lines][:1]:
                for above in (hunk.old_start - 1, hunk.old_start + 39):  # at its declared lines, and moved
                    lines = filler(above) + list(hunk.old_lines) + filler(60, "y")
                    before = "".join(line + "\n" for line in lines)
                    middle = above + 1 + len(hunk.old_lines) // 2
                    for line, repo_ in ((middle, repo), (middle, "someone/else"), (above + len(hunk.old_lines) + 3, repo),
                                        (max(above - 2, 1), repo)):
                        after = edit_lines(before, {line: "changed = True  # edited"})
                        samples.append(sample(repo_, 99999, path, before, after))
        words = issue_tokens(row["problem_statement"])
        samples.append(sample("other/project", 1, "x.py", "a\n", "b\n", body=row["problem_statement"]))
        samples.append(sample("other/project", 1, "x.py", "a\n", "b\n", body=" ".join(words[: int(len(words) * 0.6)])))
        samples.append(sample("other/project", 1, "x.py", "a\n", "b\n", body=" ".join(words[: int(len(words) * 0.3)])))
    return samples


@needs_swebench
def test_shipped_and_jsonl_indexes_decide_alike(jsonl_index, rows):
    samples = _decision_samples(rows)
    shipped = shipped_index()
    jsonl = [contamination_reason(s, jsonl_index) for s in samples]
    assert [contamination_reason(s, shipped) for s in samples] == jsonl  # reasons and details
    reasons = {verdict.reason if verdict else None for verdict in jsonl}
    assert reasons == {None, "swebench_instance", "swebench_hunk_overlap", "swebench_issue"}
    assert len(samples) > 500 and sum(v is None for v in jsonl) > 100


# --------------------------------------------------------------------------- format 2 rules on a hand-built benchmark

GEOMETRY_PATCH = ("diff --git a/pkg/geo.py b/pkg/geo.py\n--- a/pkg/geo.py\n+++ b/pkg/geo.py\n"
                  "@@ -20,5 +20,6 @@\n def area(radius):\n-    return 3.14 * radius\n+    import math\n"
                  "+    return math.pi * radius ** 2\n \n \n def volume(radius):\n")
GEOMETRY_BEFORE = "".join(f"setting_{n} = {n}\n" for n in range(1, 20)) + (
    "def area(radius):\n    return 3.14 * radius\n\n\ndef volume(radius):\n    return 4 * radius\n") + "".join(
    f"tail_{n} = {n}\n" for n in range(20))


def geometry_rows(**extra):
    return [{"instance_id": "octo__geometry-17", "repo": "octo/geometry", "base_commit": "a" * 40,
             "problem_statement": "area is wrong " * 20, "patch": GEOMETRY_PATCH, **extra}]


@pytest.fixture
def geometry(tmp_path):
    source = tmp_path / "geometry_bench.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in geometry_rows(created_at="2021-06-01T00:00:00Z")))
    return load_benchmark_patches([source])


def test_gold_hunk_keeps_removed_and_added_lines_apart():
    (file_diff,) = parse_unified_diff(GEOMETRY_PATCH)
    (hunk,) = file_diff.hunks
    assert hunk.removed_lines == ("    return 3.14 * radius",)
    assert hunk.added_lines == ("    import math", "    return math.pi * radius ** 2")
    assert len(hunk.old_lines) == 5 and len(hunk.new_lines) == 6


def test_sample_containing_the_gold_change_is_swebench_patch(geometry):
    fixed = GEOMETRY_BEFORE.replace("    return 3.14 * radius\n", "    import math\n    return math.pi * radius ** 2\n")
    verdict = contamination_reason(sample("octo/geometry", 500, "pkg/geo.py", GEOMETRY_BEFORE, fixed), geometry)
    assert verdict == Rejected("swebench_patch", "octo__geometry-17: pkg/geo.py changes every line of the gold "
                                                 "change (1 removed, 2 added)")
    # the fix inside a bigger squash, far from the declared lines, among other changes
    moved = "".join(f"extra_{n} = {n}\n" for n in range(80)) + GEOMETRY_BEFORE
    squash = moved.replace("    return 3.14 * radius\n", "    import math\n    return math.pi * radius ** 2\n") \
        .replace("extra_3 = 3\n", "extra_3 = 33\n").replace("tail_5 = 5\n", "")
    assert contamination_reason(sample("octo/geometry", 501, "pkg/geo.py", moved, squash), geometry).reason == "swebench_patch"
    # a rename whose old path is the gold path
    renamed = sample("octo/geometry", 502, "pkg/shapes.py", GEOMETRY_BEFORE, fixed)
    renamed["files"][0].update(previous_path="pkg/geo.py", status="renamed")
    assert contamination_reason(renamed, geometry).reason == "swebench_patch"


def test_part_of_the_gold_change_is_not_swebench_patch(geometry):
    half = GEOMETRY_BEFORE.replace("    return 3.14 * radius\n", "    import math\n    return 3.14 * radius\n")
    verdict = contamination_reason(sample("octo/geometry", 500, "pkg/geo.py", GEOMETRY_BEFORE, half), geometry)
    assert verdict.reason == "swebench_hunk_overlap"  # it still edits the gold hunk's lines
    other_file = GEOMETRY_BEFORE.replace("    return 3.14 * radius\n", "    import math\n    return math.pi * radius ** 2\n")
    assert contamination_reason(sample("octo/geometry", 500, "pkg/other.py", GEOMETRY_BEFORE, other_file), geometry) is None


def test_after_state_holding_the_gold_change_is_swebench_patch(geometry):
    # the before-file has another wrong formula: the sample removes it, not the gold removed line,
    # but its after-file is the fixed state
    before = GEOMETRY_BEFORE.replace("    return 3.14 * radius\n", "    return 3 * radius\n")
    fixed = GEOMETRY_BEFORE.replace("    return 3.14 * radius\n", "    import math\n    return math.pi * radius ** 2\n")
    verdict = contamination_reason(sample("octo/geometry", 500, "pkg/geo.py", before, fixed), geometry)
    assert verdict == Rejected("swebench_patch", "octo__geometry-17: pkg/geo.py after the change holds the gold "
                                                 "change (the new side of its 1 hunk(s))")
    # a file that already held the fix before the sample: a later edit next to it is an overlap, not the patch
    later = fixed.replace("def volume(radius):\n", "def volume(radius: float):\n")
    assert contamination_reason(sample("octo/geometry", 501, "pkg/geo.py", fixed, later), geometry).reason == \
        "swebench_hunk_overlap"


def test_overlap_of_a_sample_merged_before_the_instance_is_kept(geometry):
    from transforms.code.decontam import contamination_verdict

    tweak = GEOMETRY_BEFORE.replace("def volume(radius):\n", "def volume(radius):  # cubic\n")
    record = sample("octo/geometry", 500, "pkg/geo.py", GEOMETRY_BEFORE, tweak)
    assert contamination_reason(record, geometry).reason == "swebench_hunk_overlap"  # no merge time: not known to predate
    record["merged_at"] = "2021-05-31T23:59:59Z"  # created_at 2021-06-01T00:00:00Z
    assert contamination_verdict(record, geometry) == (None, "octo__geometry-17")
    record["merged_at"] = "2021-06-01T01:00:00+01:00"  # the same instant as created_at: not earlier
    assert contamination_reason(record, geometry).reason == "swebench_hunk_overlap"
    record["merged_at"] = "yesterday"
    assert contamination_reason(record, geometry).reason == "swebench_hunk_overlap"
    # the instance's own PR and the gold change itself are removed whenever they were merged
    early = dict(record, merged_at="2001-01-01T00:00:00Z")
    assert contamination_reason(dict(early, pr_number=17), geometry).reason == "swebench_instance"
    fixed = GEOMETRY_BEFORE.replace("    return 3.14 * radius\n", "    import math\n    return math.pi * radius ** 2\n")
    assert contamination_reason(sample("octo/geometry", 500, "pkg/geo.py", GEOMETRY_BEFORE, fixed,
                                       merged_at="2001-01-01T00:00:00Z"), geometry).reason == "swebench_patch"


def _git(path, *args, when=0):
    env = {"PATH": os.environ["PATH"], "HOME": str(path), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@example.com", "GIT_AUTHOR_DATE": f"{1600000000 + when} +0000",
           "GIT_COMMITTER_DATE": f"{1600000000 + when} +0000"}
    return subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=path, env=env, check=True,
                          capture_output=True).stdout.decode().strip()


def test_git_ancestry_of_the_base_commit_decides_over_dates(tmp_path):
    """A real clone: a sample whose head is an ancestor of the instance's base commit is kept,
    one after it is removed, whatever the dates say; a base commit the clone lacks falls back to dates."""
    from transforms.code.decontam import GitAncestry, contamination_verdict

    clone = tmp_path / "geometry"
    clone.mkdir()
    _git(clone, "init", "-q", "-b", "main")
    (clone / "pkg").mkdir()
    commits = []
    for n, text in enumerate([GEOMETRY_BEFORE, GEOMETRY_BEFORE + "more = 1\n", GEOMETRY_BEFORE + "more = 2\n"]):
        (clone / "pkg" / "geo.py").write_text(text)
        _git(clone, "add", "-A", when=n)
        _git(clone, "commit", "-q", "-m", f"commit {n}", when=n)
        commits.append(_git(clone, "rev-parse", "HEAD"))
    early, base, late = commits
    bench = tmp_path / "bench.jsonl"
    # created_at long before every commit: by dates alone, no sample predates the instance
    bench.write_text(json.dumps(geometry_rows(base_commit=base, created_at="2000-01-01T00:00:00Z")[0]) + "\n")
    index = load_benchmark_patches([bench])
    ancestry = GitAncestry("_repo_path")
    tweak = GEOMETRY_BEFORE.replace("def volume(radius):\n", "def volume(radius):  # cubic\n")

    def verdict(head, merged_at="2030-01-01T00:00:00Z", **extra):
        record = sample("octo/geometry", 500, "pkg/geo.py", GEOMETRY_BEFORE, tweak, head_sha=head,
                        merged_at=merged_at, _repo_path=str(clone), **extra)
        return contamination_verdict(record, index, ancestry)

    assert ancestry({"_repo_path": str(clone), "head_sha": early}, base) is True
    assert ancestry({"_repo_path": str(clone), "head_sha": late}, base) is False
    assert verdict(early) == (None, "octo__geometry-17")  # ancestor (the base itself counts too)
    assert verdict(base) == (None, "octo__geometry-17")
    assert verdict(late)[0].reason == "swebench_hunk_overlap"
    # without the clone: the dates decide (created_at 2000: a 2030 merge does not predate it)
    assert contamination_verdict(sample("octo/geometry", 500, "pkg/geo.py", GEOMETRY_BEFORE, tweak, head_sha=early,
                                        merged_at="2030-01-01T00:00:00Z"), index, ancestry)[0] is not None
    # a base commit the clone does not have: the dates decide
    absent = load_benchmark_patches([_write_rows(tmp_path / "absent.jsonl", geometry_rows(
        base_commit="b" * 40, created_at="2031-01-01T00:00:00Z"))])
    record = sample("octo/geometry", 500, "pkg/geo.py", GEOMETRY_BEFORE, tweak, head_sha=late,
                    merged_at="2030-01-01T00:00:00Z", _repo_path=str(clone))
    assert ancestry(record, "b" * 40) is None
    assert contamination_verdict(record, absent, ancestry) == (None, "octo__geometry-17")
    # hostile values never reach git as options
    assert ancestry(dict(record, head_sha="--output=/tmp/x"), base) is None
    assert ancestry(dict(record, _repo_path=str(tmp_path / "missing")), base) is None


def _write_rows(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_index_file_keeps_the_new_fields_and_merges_with_jsonl(tmp_path):
    from transforms.code.decontam import index_payload, load_benchmarks, read_index, write_index

    first = _write_rows(tmp_path / "mine.jsonl", geometry_rows(created_at="2021-06-01T00:00:00Z"))
    second = _write_rows(tmp_path / "more.jsonl", geometry_rows() + [
        {"instance_id": "octo__geometry-40", "repo": "octo/geometry", "base_commit": "c" * 40,
         "problem_statement": "", "patch": ""}])
    write_index(load_benchmark_patches([first]), tmp_path / "mine.bin.gz")
    loaded = read_index(tmp_path / "mine.bin.gz")
    assert loaded.instances["octo__geometry-17"].base_commit == "a" * 40
    assert loaded.instances["octo__geometry-17"].created_at == "2021-06-01T00:00:00Z"
    (hunk,) = loaded.hunks["octo/geometry"]["pkg/geo.py"]
    assert len(hunk.removed_hashes) == 1 and len(hunk.added_hashes) == 2
    merged = load_benchmarks([tmp_path / "mine.bin.gz", second])
    assert merged.instance_ids == ["octo__geometry-17", "octo__geometry-40"]
    assert merged.source_names("octo__geometry-17") == ["mine.jsonl", "more.jsonl"]
    assert merged.source_names("octo__geometry-40") == ["more.jsonl"]
    assert merged.instances_per_source(["octo/geometry", "else/where"]) == {"mine.jsonl": 1, "more.jsonl": 2}
    assert merged.instances_per_source(["geometry"]) == {"mine.jsonl": 1, "more.jsonl": 2}  # a clone named by its folder
    assert merged.describe() == "SWE-bench files mine.bin.gz, more.jsonl (2 instances from mine.jsonl, more.jsonl)"
    # the index file's first instance wins over the JSONL row: created_at kept
    assert merged.instances["octo__geometry-17"].created_at == "2021-06-01T00:00:00Z"
    again = load_benchmarks([tmp_path / "mine.bin.gz", second])
    assert index_payload(again) == index_payload(merged)


def test_unusable_benchmark_files_fail_in_one_line_naming_the_file(tmp_path):
    import gzip

    from transforms.code.decontam import INDEX_FORMAT, BenchmarkFileError, load_benchmarks, read_index

    old = tmp_path / "old.bin.gz"
    old.write_bytes(gzip.compress(b"SHARDSMITH-SWEBENCH-INDEX 1\n" + b"\0" * 40))
    cases = {
        old: "old.bin.gz: SWE-bench index format 1, this shardsmith reads format 2: rebuild it with shardsmith decontam-index",
        _write_rows(tmp_path / "a.jsonl", geometry_rows()).with_name("missing.jsonl"): "missing.jsonl: No such file",
        tmp_path / "b.jsonl": "b.jsonl line 2: not JSON",
        tmp_path / "c.jsonl": "c.jsonl line 1: 'repo' missing or not a string",
        tmp_path / "d.jsonl": "d.jsonl line 1: 'patch' is not a string",
        tmp_path / "e.jsonl": "e.jsonl: no SWE-bench rows",
        tmp_path / "f.bin.gz": "f.bin.gz: not a shardsmith SWE-bench index",
        tmp_path / "g.bin.gz": "g.bin.gz: ",
        tmp_path / "h.jsonl": "h.jsonl: not UTF-8",
    }
    (tmp_path / "b.jsonl").write_text(json.dumps(geometry_rows()[0]) + "\n{oops\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"instance_id": "x__y-1", "repo": 5}) + "\n")
    (tmp_path / "d.jsonl").write_text(json.dumps(dict(geometry_rows()[0], patch=["diff"])) + "\n")
    (tmp_path / "e.jsonl").write_text("\n\n")
    (tmp_path / "f.bin.gz").write_bytes(gzip.compress(b"hello"))
    (tmp_path / "g.bin.gz").write_bytes(gzip.compress(INDEX_FORMAT + b"\xff" * 8)[:-6])  # truncated gzip
    (tmp_path / "h.jsonl").write_bytes(b'{"instance_id": "\xff"}\n')
    for path, message in cases.items():
        with pytest.raises(BenchmarkFileError) as caught:
            load_benchmarks([path])
        text = str(caught.value)
        assert message in text and str(path) in text and "\n" not in text, (path, text)
    with pytest.raises(BenchmarkFileError, match="format 1"):
        read_index(old)


def test_decontam_stage_pickles_without_its_loaded_index():
    # Beam pickles a stage's function several times per run; the loaded index (2 MB) must not ride along.
    from transforms.code.stages import Decontaminate

    stage = Decontaminate()
    assert len(stage.index()) == 707
    copy = pickle.loads(pickle.dumps(stage))
    assert len(pickle.dumps(stage)) < 10_000 and copy._index is None
    verdict = copy(sample("astropy/astropy", 12907, "x.py", "a\n", "b\n"))
    assert verdict == Rejected("swebench_instance", f"{INSTANCE}: astropy/astropy pull request #12907")
    assert len(copy.index()) == 707 and stage.index() is not None

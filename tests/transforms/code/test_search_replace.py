import os
import random

import pytest

from transforms.code.search_replace import (
    ApplyError,
    Block,
    BlockParseError,
    apply_blocks,
    apply_blocks_to_directory,
    count_occurrences,
    make_blocks,
    parse_blocks,
    render_blocks,
    roundtrip_check,
    safe_relative_path,
    split_lines,
    unrenderable_reason,
)
from transforms.records import Rejected

PATH = "src/mod.py"

FUNCS = (
    "def a(x):\n    if x:\n        return None\n    return None\n\n"
    "def b(x):\n    if x:\n        return None\n    return None\n\n"
    "def c(x):\n    if x:\n        return None\n    return None\n"
)


def assert_replays(before: str, after: str, path: str = PATH) -> list[Block]:
    """make_blocks + in-order replay gives `after` exactly, and every SEARCH is unique when applied."""
    blocks = make_blocks(before, after, path)
    content = before
    previous_end = -1  # where the previous block's REPLACE ends in the current content
    for block in blocks:
        assert block.path == path
        if block.search:
            assert count_occurrences(content, block.search) == 1, (block, content)
            start = content.find(block.search)
            # Top to bottom, and never touching the previous block (touching windows are merged).
            assert start > previous_end, (blocks, before, after)
            previous_end = start + len(block.replace)
        else:
            assert content == ""
        content = apply_blocks({path: content}, [block])[path]
    assert content == after
    assert apply_blocks({path: before}, blocks)[path] == after
    assert roundtrip_check({path: before}, {path: after}, blocks) is None
    return blocks


PAIRS = {
    "insert_top": ("b\nc\n", "a\nb\nc\n"),
    "insert_middle": ("a\nb\nd\n", "a\nb\nc\nd\n"),
    "insert_end": ("a\nb\n", "a\nb\nc\n"),
    "delete_line": ("a\nb\nc\n", "a\nc\n"),
    "delete_all_but_one": ("a\nb\nc\n", "b\n"),
    "modify": ("x = 1\ny = 2\nz = 3\n", "x = 1\ny = 20\nz = 3\n"),
    "ambiguous_return_none": (FUNCS, FUNCS.replace("def b(x):\n    if x:\n        return None", "def b(x):\n    if x:\n        return 1")),
    "ambiguous_insert": (FUNCS, FUNCS.replace("    return None\n\ndef c", "    return None\n    # done\n\ndef c")),
    "ambiguous_last_line": (FUNCS, FUNCS[:-len("    return None\n")] + "    return 0\n"),
    "crlf_modify": ("a\r\nb\r\nc\r\n", "a\r\nB\r\nc\r\n"),
    "crlf_insert": ("a\r\nb\r\n", "a\r\nx\r\nb\r\n"),
    "crlf_to_lf": ("a\r\nb\r\n", "a\nb\n"),
    "mixed_endings": ("a\r\nb\nc\r\n", "a\r\nb\r\nc\r\n"),
    "lone_cr": ("a\rb\rc\n", "a\rB\rc\n"),
    "no_final_newline_edit": ("a\nb\nc", "a\nb\nC"),
    "no_final_newline_insert_before_last": ("a\nc", "a\nb\nc"),
    "add_final_newline": ("a\nb\nc", "a\nb\nc\n"),
    "remove_final_newline": ("a\nb\nc\n", "a\nb\nc"),
    "add_final_newline_repeated_last": ("c\nc\nc", "c\nc\nc\n"),
    "new_file": ("", "print('hi')\n"),
    "new_file_no_newline": ("", "x"),
    "deleted_file": ("a\nb\n", ""),
    "whitespace_only": ("def f():\n    return 1\n", "def f():\n\treturn 1\n"),
    "trailing_space": ("a\nb\nc\n", "a\nb \nc\n"),
    "blank_lines": ("a\n\n\n\nb\n", "a\n\n\nb\n"),
    "unicode": ("naïve = 'café'\nπ = 3.14\n", "naïve = 'café ☕'\nπ = 3.14159\n"),
    "identical_lines_only": ("x\n" * 20, "x\n" * 10 + "y\n" + "x\n" * 10),
    "two_far_edits": ("".join(f"line {i}\n" for i in range(30)), "".join(f"line {i}\n" for i in range(30)).replace("line 3\n", "L3\n").replace("line 25\n", "L25\n")),
    "adjacent_edits": ("a\nb\nc\nd\ne\n", "A\nb\nC\nd\nE\n"),
    "edits_one_line_apart_need_context": ("x\ny\nx\ny\nx\ny\nx\n", "x\nY\nx\nY\nx\ny\nx\n"),
    "edit_creates_later_duplicate": ("p\nq\nr\nq\n", "q\np\nq\nr\nq\n"),
    "substring_not_line_aligned": ("ab\nb\nc\n", "ab\nB\nc\n"),
    "replace_all": ("one\ntwo\n", "three\nfour\n"),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_make_blocks_replays_byte_exactly(name):
    before, after = PAIRS[name]
    blocks = assert_replays(before, after)
    assert blocks


def test_identical_files_give_no_blocks():
    assert make_blocks("a\r\nb", "a\r\nb", PATH) == []
    assert make_blocks("", "", PATH) == []


def test_new_and_deleted_file_blocks():
    assert make_blocks("", "x\n", PATH) == [Block(PATH, "", "x\n")]
    assert make_blocks("a\nb\n", "", PATH) == [Block(PATH, "a\nb\n", "")]


def test_minimal_context_for_unique_span():
    before = "import os\n\nx = 1\ny = 2\n"
    assert make_blocks(before, before.replace("y = 2", "y = 3"), PATH) == [Block(PATH, "y = 2\n", "y = 3\n")]


def test_pure_insertion_gets_an_anchor_line():
    [block] = make_blocks("a\nb\n", "a\nnew\nb\n", PATH)
    assert block.search in ("a\n", "b\n")
    assert block.replace.count("new\n") == 1
    # At the top only the line below can anchor, at the end only the line above.
    assert make_blocks("a\nb\n", "top\na\nb\n", PATH) == [Block(PATH, "a\n", "top\na\n")]
    assert make_blocks("a\nb\n", "a\nb\nend\n", PATH) == [Block(PATH, "b\n", "b\nend\n")]


def test_ambiguous_anchor_grows_until_unique():
    after = PAIRS["ambiguous_return_none"][1]
    [block] = make_blocks(FUNCS, after, PATH)
    assert "def b(x):" in block.search  # '    if x:\n        return None\n' alone occurs three times
    assert count_occurrences(FUNCS, block.search) == 1


def test_crlf_is_kept_byte_exact():
    blocks = make_blocks("a\r\nb\r\nc\r\n", "a\r\nB\r\nc\r\n", PATH)
    assert blocks == [Block(PATH, "b\r\n", "B\r\n")]


def test_far_edits_stay_separate_and_adjacent_ones_merge():
    before, after = PAIRS["two_far_edits"]
    assert len(make_blocks(before, after, PATH)) == 2
    before, after = PAIRS["adjacent_edits"]
    blocks = make_blocks(before, after, PATH)
    # Context may never touch a neighbouring edit, so spans one line apart share a block.
    for first, second in zip(blocks, blocks[1:]):
        assert before.index(first.search) + len(first.search) < before.index(second.search)


def test_uniqueness_checked_at_application_time():
    # After the first block inserts 'q', a lone 'q\n' SEARCH for the later edit would be ambiguous.
    before = "p\nr\ns\nq\nt\n"
    after = "p\nq\nr\ns\nQ\nt\n"
    blocks = assert_replays(before, after)
    assert all(block.search != "q\n" for block in blocks[1:])


def _random_file(rng: random.Random, alphabet: list[str]) -> str:
    lines = [rng.choice(alphabet) for _ in range(rng.randint(0, 25))]
    text = "".join(lines)
    if text and rng.random() < 0.2:
        text = text[:-1]  # missing final newline (or a dangling \r from a CRLF line)
    return text


def _random_edit(rng: random.Random, text: str, alphabet: list[str]) -> str:
    lines = split_lines(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        position = rng.randint(0, len(lines))
        if op < 0.35:
            lines[position:position] = [rng.choice(alphabet) for _ in range(rng.randint(1, 3))]
        elif op < 0.65 and lines:
            del lines[position:position + rng.randint(1, 3)]
        elif lines:
            position = min(position, len(lines) - 1)
            lines[position] = rng.choice(alphabet)
    result = "".join(lines)
    if rng.random() < 0.1:
        result = result + "\n" if not result.endswith("\n") else result[:-1]
    return result


def test_randomized_roundtrip_property():
    rng = random.Random(20240611)
    alphabets = [
        ["x\n", "y\n", "    return None\n", "\n", "}\n"],
        ["a\r\n", "b\r\n", "a\n", "\r\n", "ab\n", "b"],
        ["é\n", "ü ü\n", "\t\n", " \n", "x\n"],
    ]
    cases = 0
    for _ in range(400):
        alphabet = rng.choice(alphabets)
        before = _random_file(rng, alphabet)
        after = _random_edit(rng, before, alphabet)
        assert_replays(before, after)
        cases += 1
    assert cases == 400


def test_apply_errors():
    files = {"a.py": "x\ny\nx\n"}
    with pytest.raises(ApplyError) as error:
        apply_blocks(files, [Block("a.py", "z\n", "")])
    assert error.value.reason == "search_not_found" and error.value.path == "a.py"
    with pytest.raises(ApplyError) as error:
        apply_blocks(files, [Block("a.py", "x\n", "X\n")])
    assert error.value.reason == "search_ambiguous"
    with pytest.raises(ApplyError) as error:
        apply_blocks(files, [Block("a.py", "", "new\n")])
    assert error.value.reason == "file_exists"
    with pytest.raises(ApplyError) as error:
        apply_blocks(files, [Block("b.py", "x\n", "")])
    assert error.value.reason == "file_not_found"
    # Overlapping occurrences count: 'aa' occurs twice in 'aaa'.
    with pytest.raises(ApplyError) as error:
        apply_blocks({"a.py": "aaa"}, [Block("a.py", "aa", "b")])
    assert error.value.reason == "search_ambiguous"


def test_blocks_apply_in_order_on_current_content():
    files = {"a.py": "x\n"}
    blocks = [Block("a.py", "x\n", "x\ny\n"), Block("a.py", "y\n", "z\n")]
    assert apply_blocks(files, blocks) == {"a.py": "x\nz\n"}
    with pytest.raises(ApplyError):
        apply_blocks(files, list(reversed(blocks)))
    assert apply_blocks({}, [Block("new.py", "", "n\n")]) == {"new.py": "n\n"}
    assert apply_blocks({"e.py": ""}, [Block("e.py", "", "n\n")]) == {"e.py": "n\n"}
    assert files == {"a.py": "x\n"}  # input untouched


@pytest.mark.parametrize("path", [
    "../x", "/etc/passwd", "a/../../x", "a/..", "..", "C:/Windows/x", "c:x", "..\\x", "a\\..\\..\\x",
    "\\\\server\\share",
])
def test_hostile_paths_escape(path):
    with pytest.raises(ApplyError) as error:
        safe_relative_path(path)
    assert error.value.reason == "path_escape"
    with pytest.raises(ApplyError) as error:
        apply_blocks({}, [Block(path, "", "owned\n")])
    assert error.value.reason == "path_escape"


@pytest.mark.parametrize("path", [
    ".git/hooks/pre-commit", "a/.GIT/config", ".Git/config", ".git./config", ".git /config", "GIT~1/config",
    ".g\u200cit/config", ".git::$INDEX_ALLOCATION/config", "sub/.git",
])
def test_git_paths_are_refused(path):
    with pytest.raises(ApplyError) as error:
        safe_relative_path(path)
    assert error.value.reason == "inside_git"
    with pytest.raises(ApplyError) as error:
        apply_blocks({}, [Block(path, "", "owned\n")])
    assert error.value.reason == "inside_git"


@pytest.mark.parametrize("path", ["", "a\x00b", "a/\nb", "dir/", ".", "./"])
def test_invalid_paths(path):
    with pytest.raises(ApplyError) as error:
        safe_relative_path(path)
    assert error.value.reason == "invalid_path"


def test_safe_relative_path_normalizes_harmless_forms():
    assert safe_relative_path("./a//b/./c.py") == "a/b/c.py"
    assert safe_relative_path("...py") == "...py"
    assert safe_relative_path("a/..b/c") == "a/..b/c"
    assert safe_relative_path("a/.github/x.yml") == "a/.github/x.yml"
    assert safe_relative_path(".gitignore") == ".gitignore"


def test_apply_blocks_to_directory(tmp_path):
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_bytes(b"x = 1\r\ny = 2\r\n")
    (root / "gone.py").write_bytes(b"bye\n")
    blocks = [
        Block("src/a.py", "y = 2\r\n", "y = 3\r\n"),
        Block("pkg/new.py", "", "n = 0\n"),
        Block("gone.py", "bye\n", ""),
    ]
    written = apply_blocks_to_directory(root, blocks, remove_emptied=True)
    assert written == ["src/a.py", "pkg/new.py", "gone.py"]
    assert (root / "src" / "a.py").read_bytes() == b"x = 1\r\ny = 3\r\n"
    assert (root / "pkg" / "new.py").read_bytes() == b"n = 0\n"
    assert not (root / "gone.py").exists()


def test_apply_blocks_to_directory_is_all_or_nothing(tmp_path):
    (tmp_path / "a.py").write_text("a\n")
    with pytest.raises(ApplyError) as error:
        apply_blocks_to_directory(tmp_path, [Block("a.py", "a\n", "b\n"), Block("a.py", "zzz", "")])
    assert error.value.reason == "search_not_found"
    assert (tmp_path / "a.py").read_text() == "a\n"


def test_apply_blocks_to_directory_refuses_symlink_escape(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("s\n")
    root = tmp_path / "repo"
    root.mkdir()
    os.symlink(outside, root / "link")
    os.symlink(outside / "secret.py", root / "file.py")
    for path in ("link/secret.py", "link/new.py", "file.py"):
        with pytest.raises(ApplyError) as error:
            apply_blocks_to_directory(root, [Block(path, "s\n", "owned\n")])
        assert error.value.reason == "outside_root"
    with pytest.raises(ApplyError):
        apply_blocks_to_directory(root, [Block("../outside/secret.py", "s\n", "owned\n")])
    assert (outside / "secret.py").read_text() == "s\n"
    assert not (outside / "new.py").exists()


def test_roundtrip_check():
    before = {"a.py": "a\nb\n", "b.py": "keep\n"}
    after = {"a.py": "a\nB\n", "c.py": "new\n"}
    blocks = make_blocks(before["a.py"], after["a.py"], "a.py") + make_blocks("", after["c.py"], "c.py")
    assert roundtrip_check(before, after, blocks) is None
    assert roundtrip_check("a\nb\n", "a\nB\n", blocks[:1]) is None

    wrong = [Block("a.py", "b\n", "C\n")] + blocks[1:]
    verdict = roundtrip_check(before, after, wrong)
    assert isinstance(verdict, Rejected) and verdict.reason == "roundtrip_mismatch"
    assert verdict.detail.startswith("a.py:")

    missing = roundtrip_check(before, after, [Block("a.py", "zz", "")])
    assert missing.reason == "roundtrip_mismatch" and "a.py" in missing.detail and "search_not_found" in missing.detail

    stray = roundtrip_check(before, after, blocks + [Block("b.py", "keep\n", "changed\n")])
    assert stray.reason == "roundtrip_mismatch" and stray.detail.startswith("b.py:")

    # CRLF lost in a block is a mismatch: comparison is byte exact.
    crlf = roundtrip_check({"w.py": "a\r\n"}, {"w.py": "b\r\n"}, [Block("w.py", "a\r\n", "b\n")])
    assert crlf.reason == "roundtrip_mismatch"


RENDER_CASES = [
    Block("src/a.py", "def f():\n    return 1\n", "def f():\n    return 2\n"),
    Block("src/new.go", "", "package main\n"),
    Block("lib/x.rs", "fn a() {}", "fn a() { 1 }"),  # no final newline on either side
    Block("w.cs", "a\r\nb\r\n", "a\r\nc"),
    Block("gone.c", "int x;\n", ""),
    Block("doc.py", 'x = """\n```python\n### not a path\n```\n"""\n', 'x = """\n"""\n'),
    Block("unicode.rb", "puts 'héllo'\n", "puts 'hé☕'\n\n"),
    Block("dangling.ts", "x\r", "y\r"),
    Block("README", "a\n", "b\n"),
    Block("marker.py", "\\ No newline at end of file", "x"),
]


def test_render_parse_roundtrip_is_exact():
    text = render_blocks(RENDER_CASES)
    assert parse_blocks(text) == RENDER_CASES
    for block in RENDER_CASES:
        assert parse_blocks(render_blocks([block])) == [block]


def test_render_format():
    text = render_blocks([Block("src/a.py", "x = 1\n", "x = 2\n")])
    assert text == "```python\n### src/a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\n"
    no_newline = render_blocks([Block("a.go", "x", "y")])
    assert "x\n\\ No newline at end of file\n=======\n" in no_newline
    # Contents with ``` lines get a longer fence.
    assert render_blocks([RENDER_CASES[5]]).startswith("````python\n")


def test_randomized_render_parse_roundtrip():
    rng = random.Random(7)
    pieces = ["a", "\n", "\r\n", "`", "```", "#", "### x", " ", "é", "=", "<", ">", "\\", "\r"]
    for _ in range(300):
        block = Block("p/f.py", "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))),
                      "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))))
        if unrenderable_reason(block) is None:
            assert parse_blocks(render_blocks([block])) == [block]


def test_unrenderable_blocks_are_refused():
    assert unrenderable_reason(Block("a.py", "x\n=======\ny\n", "")) == "marker_in_content"
    assert unrenderable_reason(Block("a.py", "", ">>>>>>> REPLACE\n")) == "marker_in_content"
    assert unrenderable_reason(Block("a.py", "x\n\\ No newline at end of file\n", "")) == "marker_in_content"
    assert unrenderable_reason(Block(" a.py", "x", "y")) == "bad_path"
    assert unrenderable_reason(Block("a\nb.py", "x", "y")) == "bad_path"
    with pytest.raises(ValueError):
        render_blocks([Block("a.py", "<<<<<<< SEARCH\n", "")])


def test_parse_blocks_tolerates_prose_and_aider_paths():
    answer = (
        "The bug is in the loop.\n\nHere is the fix:\n\n"
        "```python\n### pkg/mod.py\n<<<<<<< SEARCH\n    return None\n=======\n    return 0\n>>>>>>> REPLACE\n```\n"
        "And a second edit, Aider style:\n\npkg/other.py\n```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n"
        "<<<<<<< SEARCH\ny = 1\r\n=======\r\ny = 2\r\n>>>>>>> REPLACE   \r\n```\nTitle\n=======\nDone.\n"
    )
    assert parse_blocks(answer) == [
        Block("pkg/mod.py", "    return None\n", "    return 0\n"),
        Block("pkg/other.py", "x = 1\n", "x = 2\n"),
        Block("pkg/other.py", "y = 1\r\n", "y = 2\r\n"),
    ]
    assert parse_blocks("No changes needed.") == []


@pytest.mark.parametrize("text, reason", [
    ("<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n", "block without a file path"),
    ("### a.py\n<<<<<<< SEARCH\na\n=======\nb\n", "unterminated block"),
    ("### a.py\n<<<<<<< SEARCH\na\n>>>>>>> REPLACE\n", "inside SEARCH"),
    ("### a.py\n<<<<<<< SEARCH\na\n=======\nb\n=======\nc\n>>>>>>> REPLACE\n", "inside REPLACE"),
    ("### a.py\n>>>>>>> REPLACE\n", "outside a block"),
    ("### a.py\n<<<<<<< SEARCH\n<<<<<<< SEARCH\n", "inside SEARCH"),
])
def test_parse_blocks_is_strict_about_markers(text, reason):
    with pytest.raises(BlockParseError) as error:
        parse_blocks(text)
    assert reason in str(error.value)


def test_parsed_model_output_applies():
    before = {"src/a.py": FUNCS}
    after_text = PAIRS["ambiguous_return_none"][1]
    blocks = make_blocks(FUNCS, after_text, "src/a.py")
    parsed = parse_blocks("Sure!\n" + render_blocks(blocks) + "\nHope that helps.")
    assert apply_blocks(before, parsed) == {"src/a.py": after_text}


def test_single_edit_gets_the_shortest_unique_context():
    """Brute force: no window with fewer context lines around the edit is unique in the before-file.

    The edited lines (OLD*, NEW*) are unique, so the line diff has exactly one possible span.
    """
    rng = random.Random(99)
    alphabet = ["x\n", "y\n", "    return None\n", "}\n"]
    checked = 0
    for case in range(200):
        removed = [f"OLD{case}.{i}\n" for i in range(rng.randint(0, 2))]
        inserted = [f"NEW{case}.{i}\n" for i in range(rng.randint(0 if removed else 1, 2))]
        above_lines = [rng.choice(alphabet) for _ in range(rng.randint(0, 10))]
        below_lines = [rng.choice(alphabet) for _ in range(rng.randint(0, 10))]
        before_lines = above_lines + removed + below_lines
        before = "".join(before_lines)
        after = "".join(above_lines + inserted + below_lines)
        [block] = assert_replays(before, after)
        if not block.search:
            continue  # empty before: a new file
        start, end = len(above_lines), len(above_lines) + len(removed)
        shortest = min(
            above + below
            for above in range(start + 1)
            for below in range(len(below_lines) + 1)
            if above + below + len(removed) > 0
            and count_occurrences(before, "".join(before_lines[start - above:end + below])) == 1
        )
        assert len(split_lines(block.search)) - len(removed) == shortest, (before, after, block)
        checked += 1
    assert checked > 150


def test_merged_window_gets_fresh_context():
    # The insertion alone needs 'y' above it ('x' is ambiguous); once merged with the edit one
    # line below, 'x\nx\n' is unique, so the merged block does not keep the 'y' line.
    before, after = "y\nx\nx\n", "y\nNEW\nx\nNEW\n"
    assert assert_replays(before, after) == [Block(PATH, "x\nx\n", "NEW\nx\nNEW\n")]


@pytest.mark.parametrize("texts, fence", [
    ((), "```"), (("no backticks at all\n",), "```"), (("inline ``` is not a fence\n",), "```"),
    (("```python\nx\n```\n",), "````"), (("  \t`````\n",), "``````"), (("a\n", "b\n````\n"), "`````"),
    (("``\n",), "```"),
])
def test_fence_for_is_longer_than_any_fence_starting_a_line(texts, fence):
    from transforms.code.search_replace import fence_for
    assert fence_for(*texts) == fence

"""Rename operations in the block format: render/parse, in-memory replay, the replay check, and on disk."""
from __future__ import annotations

import os
import stat

import pytest

from transforms.code.search_replace import (
    ApplyError, Block, BlockParseError, apply_blocks, apply_blocks_to_directory, block_from_mapping, block_parts,
    parse_blocks, rename_block, render_blocks, roundtrip_check, unrenderable_reason,
)

MOVE = [rename_block("pkg/old.py", "src/pkg/new.py"), Block("src/pkg/new.py", "x = 1\n", "x = 2\n"),
        rename_block("setup_helpers.py", "src/setup_helpers.py")]


def test_rename_renders_as_its_own_fenced_line_and_parses_back():
    text = render_blocks(MOVE)
    assert text.startswith("```python\n### RENAME pkg/old.py -> src/pkg/new.py\n```\n\n```python\n### src/pkg/new.py\n")
    assert parse_blocks(text) == MOVE
    # after a rename line the new path is current, like a '### path' line
    answer = "Moving it.\n### RENAME a.py -> b.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n"
    assert parse_blocks(answer) == [rename_block("a.py", "b.py"), Block("b.py", "x\n", "y\n")]
    assert parse_blocks("### RENAME notes.txt\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n") == [
        Block("RENAME notes.txt", "a\n", "b\n")]  # no arrow: an ordinary path line
    with pytest.raises(BlockParseError):
        parse_blocks("### RENAME  -> b.py\n")


def test_paths_that_would_read_two_ways_are_unrenderable():
    assert unrenderable_reason(rename_block("a -> b.py", "c.py")) == "bad_path"
    assert unrenderable_reason(rename_block("a.py", " c.py")) == "bad_path"
    assert unrenderable_reason(Block("x -> y.py", "a\n", "b\n")) == "bad_path"
    assert unrenderable_reason(Block("RENAME me.py", "a\n", "b\n")) == "bad_path"
    assert unrenderable_reason(Block("b.py", "", "", "a.py")) is None
    assert unrenderable_reason(Block("b.py", "x\n", "", "a.py")) == "marker_in_content"


def test_block_parts_keep_edit_ids_and_tell_renames_apart():
    assert block_parts(Block("a.py", "x", "y")) == ("a.py", "x", "y")
    assert block_parts(rename_block("a.py", "b.py")) != block_parts(rename_block("c.py", "b.py"))
    assert block_from_mapping({"path": "b.py", "search": "", "replace": "", "rename_from": "a.py"}) == \
        rename_block("a.py", "b.py")
    assert block_from_mapping({"path": "b.py", "search": "s", "replace": "r"}) == Block("b.py", "s", "r")


def test_apply_blocks_moves_then_edits():
    files = {"pkg/old.py": "x = 1\n", "setup_helpers.py": "H = 1\n", "other.py": "o\n"}
    assert apply_blocks(files, MOVE) == {"src/pkg/new.py": "x = 2\n", "src/setup_helpers.py": "H = 1\n", "other.py": "o\n"}
    with pytest.raises(ApplyError) as missing:
        apply_blocks({}, [rename_block("a.py", "b.py")])
    assert (missing.value.path, missing.value.reason) == ("a.py", "file_not_found")
    with pytest.raises(ApplyError) as taken:
        apply_blocks({"a.py": "1", "b.py": "2"}, [rename_block("a.py", "b.py")])
    assert (taken.value.path, taken.value.reason) == ("b.py", "file_exists")
    for hostile in (rename_block("../x.py", "a.py"), rename_block("a.py", ".git/hooks/pre-commit"),
                    rename_block("a.py", "/etc/passwd")):
        with pytest.raises(ApplyError) as refused:
            apply_blocks({"a.py": "1"}, [hostile])
        assert refused.value.reason in ("path_escape", "inside_git")


def test_roundtrip_check_wants_the_source_gone():
    before = {"pkg/old.py": "x = 1\n", "setup_helpers.py": "H = 1\n"}
    after = {"src/pkg/new.py": "x = 2\n", "src/setup_helpers.py": "H = 1\n"}
    assert roundtrip_check(before, after, MOVE) is None
    # an edit of the new path alone (the old behaviour) cannot be applied to the base files
    assert roundtrip_check(before, after, MOVE[1:]).reason == "roundtrip_mismatch"
    # a rename whose source the after-state still holds is a mismatch
    kept = roundtrip_check(before, {**after, "pkg/old.py": "x = 1\n"}, MOVE)
    assert (kept.reason, kept.detail) == ("roundtrip_mismatch",
                                          "pkg/old.py: replay leaves the file moved away, after says otherwise")


def _tree(root) -> dict[str, tuple[bytes, int]]:
    found = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, root)] = (open(path, "rb").read(), stat.S_IMODE(os.stat(path).st_mode))
    return found


def test_apply_blocks_to_directory_moves_files_with_their_mode(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "old.py").write_bytes(b"x = 1\n")
    (tmp_path / "setup_helpers.py").write_bytes(b"H = 1\n")
    os.chmod(tmp_path / "setup_helpers.py", 0o755)
    changed = apply_blocks_to_directory(tmp_path, MOVE)
    assert changed == ["pkg/old.py", "src/pkg/new.py", "setup_helpers.py", "src/setup_helpers.py"]
    mode = stat.S_IMODE(os.stat(tmp_path / "src" / "pkg" / "new.py").st_mode)
    assert _tree(tmp_path) == {"src/pkg/new.py": (b"x = 2\n", mode), "src/setup_helpers.py": (b"H = 1\n", 0o755)}


def test_apply_blocks_to_directory_is_all_or_nothing_with_renames(tmp_path):
    (tmp_path / "a.py").write_bytes(b"a\n")
    (tmp_path / "b.py").write_bytes(b"b\n")
    before = _tree(tmp_path)
    with pytest.raises(ApplyError) as failed:
        apply_blocks_to_directory(tmp_path, [rename_block("a.py", "c.py"), Block("b.py", "missing\n", "x\n")])
    assert failed.value.reason == "search_not_found" and _tree(tmp_path) == before
    with pytest.raises(ApplyError) as exists:
        apply_blocks_to_directory(tmp_path, [rename_block("a.py", "b.py")])
    assert exists.value.reason == "file_exists" and _tree(tmp_path) == before
    assert apply_blocks_to_directory(tmp_path, [rename_block("a.py", "c.py")], dry_run=True) == ["a.py", "c.py"]
    assert _tree(tmp_path) == before


def test_renames_refuse_symlinks_and_escapes(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "a.py").write_bytes(b"a\n")
    (outside / "secret.py").write_bytes(b"s\n")
    (root / "link.py").symlink_to(root / "a.py")
    (root / "out").symlink_to(outside)
    (root / ".git").mkdir()
    cases = {
        rename_block("link.py", "b.py"): "rename_through_symlink",  # would move the target, not the link
        rename_block("a.py", "out/b.py"): "outside_root",
        rename_block("out/secret.py", "b.py"): "outside_root",
        rename_block("a.py", ".git/config"): "inside_git",
        rename_block("a.py", "../b.py"): "path_escape",
    }
    before = _tree(root)
    for block, reason in cases.items():
        with pytest.raises(ApplyError) as refused:
            apply_blocks_to_directory(root, [block])
        assert refused.value.reason == reason, block
    assert _tree(root) == before and (outside / "secret.py").read_bytes() == b"s\n"

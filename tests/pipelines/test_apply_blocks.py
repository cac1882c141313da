"""apply-blocks on hostile answers: real symlinks, hard links, FIFOs and a real git repository.

Every refused case must leave the whole tree (ROOT, its .git and the directory outside ROOT)
byte-for-byte and mtime-for-mtime as it was, with no temp files, and the CLI must say so in
one stderr line with exit code 2.
"""
from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from transforms.code import search_replace
from transforms.code.search_replace import ApplyError, Block, apply_blocks_to_directory, render_blocks

WORKTREE = Path(__file__).resolve().parents[2]
CONFIG_PAYLOAD = "[core]\n\tfsmonitor = touch pwned\n"


@pytest.fixture
def world(tmp_path):
    """``repo`` (a git repository with a.py and src/real.py) next to ``outside/secret.py``."""
    top = tmp_path / "world"
    root = top / "repo"
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True, capture_output=True)
    (root / "a.py").write_text("a = 1\n")
    (root / "src").mkdir()
    (root / "src" / "real.py").write_text("r = 1\n")
    outside = top / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("s = 1\n")
    return top


@pytest.fixture
def deadline():
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer appears)."""
    def expire(signum, frame):
        raise TimeoutError("apply_blocks_to_directory hung")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def snapshot(top: Path) -> dict[str, tuple]:
    """Every entry under ``top`` (nothing followed): kind, bytes or link target, mode, mtime."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                content = path.read_bytes()
            else:
                content = None
            entries[str(path.relative_to(top))] = (stat.S_IFMT(info.st_mode), content,
                                                   stat.S_IMODE(info.st_mode), info.st_mtime_ns)
    return entries


def ignoring_directory_mtimes(entries: dict[str, tuple]) -> dict[str, tuple]:
    """Creating and removing an entry touches its directory's mtime; a rollback cannot undo that."""
    return {path: entry[:3] if entry[0] == stat.S_IFDIR else entry for path, entry in entries.items()}


def make_socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(path.parent)  # AF_UNIX paths are limited to ~100 bytes
    try:
        server.bind(path.name)
    finally:
        os.chdir(cwd)
    server.close()  # the socket file stays


# name -> (setup(root, outside), blocks, reason, path named in the error)
REFUSED = {
    "symlink_to_git_hook": (
        lambda root, outside: os.symlink(".git/hooks/pre-commit", root / "hook"),
        [Block("hook", "", "#!/bin/sh\ntouch pwned\n")], "inside_git", "hook"),
    "symlink_to_git_config": (
        lambda root, outside: os.symlink(".git/config", root / "cfg"),
        [Block("cfg", "[core]\n", CONFIG_PAYLOAD)], "inside_git", "cfg"),
    "symlink_to_git_dir": (
        lambda root, outside: os.symlink(".git", root / "meta"),
        [Block("meta/config", "[core]\n", CONFIG_PAYLOAD)], "inside_git", "meta/config"),
    "upper_case_git_path": (
        None, [Block(".GIT/config", "", CONFIG_PAYLOAD)], "inside_git", ".GIT/config"),
    "symlinked_dir_outside_root": (
        lambda root, outside: os.symlink(outside, root / "vendor"),
        [Block("vendor/secret.py", "s = 1\n", "owned\n")], "outside_root", "vendor/secret.py"),
    "new_file_in_symlinked_dir_outside_root": (
        lambda root, outside: os.symlink(outside, root / "vendor"),
        [Block("vendor/new.py", "", "owned\n")], "outside_root", "vendor/new.py"),
    "symlink_to_file_outside_root": (
        lambda root, outside: os.symlink(outside / "secret.py", root / "s.py"),
        [Block("s.py", "s = 1\n", "owned\n")], "outside_root", "s.py"),
    "hard_link_to_file_outside_root": (
        lambda root, outside: os.link(outside / "secret.py", root / "h.py"),
        [Block("h.py", "s = 1\n", "owned\n")], "hard_link", "h.py"),
    "fifo_target": (
        lambda root, outside: os.mkfifo(root / "f.py"),
        [Block("f.py", "", "x = 1\n")], "not_a_regular_file", "f.py"),
    "socket_target": (
        lambda root, outside: make_socket(root / "sock.py"),
        [Block("sock.py", "", "x = 1\n")], "not_a_regular_file", "sock.py"),
    "directory_target": (
        None, [Block("src", "", "x = 1\n")], "not_a_regular_file", "src"),
    "symlink_to_itself": (
        lambda root, outside: os.symlink("loop.py", root / "loop.py"),
        [Block("loop.py", "", "x = 1\n")], "symlink_loop", "loop.py"),
    "file_under_symlink_loop": (
        lambda root, outside: (os.symlink("b", root / "a"), os.symlink("a", root / "b")),
        [Block("a/x.py", "", "x = 1\n")], "symlink_loop", "a/x.py"),
    "parent_is_a_file": (
        None, [Block("a.py/new.py", "", "x = 1\n")], "parent_not_a_directory", "a.py/new.py"),
    "name_over_name_max": (
        None, [Block("pkg/" + "n" * 256 + ".py", "", "x = 1\n")], "name_too_long", "pkg/" + "n" * 256 + ".py"),
    "path_over_path_max": (
        None, [Block("/".join(["d" * 200] * 21) + "/x.py", "", "x = 1\n")], "name_too_long", "d" * 200),
}

# A valid first block (an edit plus a new file in a new directory) before a second one that fails.
VALID_FIRST = [Block("a.py", "a = 1\n", "a = 2\n"), Block("pkg/new.py", "", "new = 1\n")]
SECOND_FAILS = {
    "parent_is_a_file": (None, Block("src/real.py/x.py", "", "x\n"), "parent_not_a_directory"),
    "name_too_long": (None, Block("src/" + "n" * 300, "", "x\n"), "name_too_long"),
    "symlink_loop": (lambda root, outside: os.symlink("loop", root / "loop"), Block("loop/x.py", "", "x\n"),
                     "symlink_loop"),
    "search_not_found": (None, Block("src/real.py", "nope\n", "x\n"), "search_not_found"),
}
for name, (setup, block, reason) in SECOND_FAILS.items():
    REFUSED[f"block_2_{name}"] = (setup, VALID_FIRST + [block], reason, block.path)


def prepare(world: Path, case: str) -> tuple[Path, list[Block], str, str]:
    setup, blocks, reason, named = REFUSED[case]
    if setup is not None:
        setup(world / "repo", world / "outside")
    return world / "repo", blocks, reason, named


@pytest.mark.parametrize("dry_run", [False, True], ids=["write", "dry_run"])
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_blocks_change_nothing(world, deadline, case, dry_run):
    root, blocks, reason, named = prepare(world, case)
    before = snapshot(world)
    with pytest.raises(ApplyError) as error:
        apply_blocks_to_directory(root, blocks, dry_run=dry_run)
    assert error.value.reason == reason
    assert named in error.value.path
    assert snapshot(world) == before


def test_separate_git_dir_inside_root_is_refused(tmp_path):
    root = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "--separate-git-dir", str(root / "gitdata"), str(root)],
                   check=True, capture_output=True)
    assert (root / ".git").is_file()  # 'gitdir: .../gitdata'
    before = snapshot(tmp_path)
    with pytest.raises(ApplyError) as error:
        apply_blocks_to_directory(root, [Block("gitdata/config", "[core]\n", CONFIG_PAYLOAD)])
    assert error.value.reason == "inside_git"
    assert snapshot(tmp_path) == before


def test_refused_git_config_edit_does_not_run_fsmonitor(world):
    root = world / "repo"
    os.symlink(".git/config", root / "cfg")
    with pytest.raises(ApplyError):
        apply_blocks_to_directory(root, [Block("cfg", "[core]\n", CONFIG_PAYLOAD)])
    subprocess.run(["git", "status", "--porcelain"], cwd=root, check=True, capture_output=True)
    assert "fsmonitor" not in (root / ".git" / "config").read_text()
    assert not (root / "pwned").exists()


def test_symlink_inside_root_edits_its_target(world):
    root = world / "repo"
    os.symlink("src/real.py", root / "link.py")
    os.symlink("src", root / "alias")
    blocks = [Block("link.py", "r = 1\n", "r = 2\n"), Block("src/real.py", "r = 2\n", "r = 3\n"),
              Block("alias/new.py", "", "n = 1\n")]
    assert apply_blocks_to_directory(root, blocks, dry_run=True) == ["src/real.py", "src/new.py"]
    assert (root / "src" / "real.py").read_text() == "r = 1\n"
    assert apply_blocks_to_directory(root, blocks) == ["src/real.py", "src/new.py"]
    assert (root / "src" / "real.py").read_text() == "r = 3\n"  # both names edit one file, in order
    assert (root / "src" / "new.py").read_text() == "n = 1\n"
    assert os.readlink(root / "link.py") == "src/real.py" and os.readlink(root / "alias") == "src"


def test_atomic_write_keeps_mode_and_old_readers_see_old_bytes(world):
    root = world / "repo"
    target = root / "src" / "real.py"
    target.chmod(0o751)
    with open(target, "rb") as old_reader:
        apply_blocks_to_directory(root, [Block("src/real.py", "r = 1\n", "r = 2\n")])
        assert old_reader.read() == b"r = 1\n"  # replaced, not rewritten in place
    assert target.read_text() == "r = 2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o751
    assert sorted(os.listdir(target.parent)) == ["real.py"]


def test_new_files_and_directories_respect_umask(world):
    root = world / "repo"
    previous = os.umask(0o027)
    try:
        apply_blocks_to_directory(root, [Block("pkg/sub/new.py", "", "n = 1\n")])
    finally:
        os.umask(previous)
    assert stat.S_IMODE((root / "pkg" / "sub" / "new.py").stat().st_mode) == 0o640
    assert stat.S_IMODE((root / "pkg").stat().st_mode) == 0o750


def test_failed_write_midway_restores_what_was_written(world, monkeypatch):
    root = world / "repo"
    (root / "a.py").chmod(0o700)
    os.utime(root / "a.py", ns=(1_000_000_000, 1_000_000_000))
    before = snapshot(world)
    real_replace, calls = os.replace, []

    def replace_then_fill_disk(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(*args, **kwargs)

    monkeypatch.setattr(search_replace.os, "replace", replace_then_fill_disk)
    blocks = [Block("a.py", "a = 1\n", "a = 2\n"), Block("pkg/new.py", "", "n = 1\n"),
              Block("src/real.py", "r = 1\n", "r = 2\n")]
    with pytest.raises(OSError) as error:
        apply_blocks_to_directory(root, blocks)
    assert error.value.errno == errno.ENOSPC
    assert ignoring_directory_mtimes(snapshot(world)) == ignoring_directory_mtimes(before)
    assert (root / "a.py").stat().st_mtime_ns == 1_000_000_000


# --------------------------------------------------------------------------- the CLI

def run_cli(root: Path, blocks: list[Block], *extra: str) -> subprocess.CompletedProcess:
    answer = root.parent.parent / "answer.md"  # outside the snapshot
    answer.write_text("Here is the fix:\n\n" + render_blocks(blocks))
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "apply-blocks", str(root), str(answer), *extra],
                          capture_output=True, text=True, env=env, timeout=20, cwd=WORKTREE)


@pytest.mark.parametrize("case", [
    "symlink_to_git_config", "upper_case_git_path", "symlink_to_file_outside_root", "hard_link_to_file_outside_root",
    "fifo_target", "file_under_symlink_loop", "block_2_parent_is_a_file", "block_2_name_too_long",
])
def test_cli_refuses_with_one_line(world, case):
    root, blocks, reason, named = prepare(world, case)
    before = snapshot(world)
    result = run_cli(root, blocks)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("shardsmith: error: ")
    assert reason in lines[0] and repr(blocks[-1].path) in lines[0]
    assert result.stdout == ""
    assert snapshot(world) == before


def test_cli_applies_through_inside_symlink(world):
    root = world / "repo"
    os.symlink("src/real.py", root / "link.py")
    result = run_cli(root, [Block("link.py", "r = 1\n", "r = 2\n")])
    assert (result.returncode, result.stdout, result.stderr) == (0, "src/real.py\n", "")
    assert (root / "src" / "real.py").read_text() == "r = 2\n"

"""``shardsmith apply-blocks ROOT BLOCKS_FILE [--dry-run]``: apply Search/Replace blocks to a directory.

Reads blocks in the rendered SEARCH/REPLACE format (``transforms.code.search_replace.parse_blocks``:
prose and fences around the blocks are fine, e.g. a model's whole answer; ``-`` reads stdin),
applies them in order under ROOT and prints the relative paths it changed, one per line
(resolved: a block editing a symlink inside ROOT prints the file it points to). A rename
operation (``### RENAME old -> new``, as Clean-PR samples write them) moves the file and prints
both paths; the blocks after it edit the moved file, so a sample's text applied to a checkout
of its base commit gives the head commit's files.
Safe on untrusted blocks (``transforms.code.search_replace.apply_blocks_to_directory``): every
block is checked and applied in memory before anything is written, so a failing block leaves
ROOT untouched, and each file is then replaced atomically. Refused: paths that leave ROOT
(``..``, absolute paths, symlinks pointing out), anything in a ``.git`` (by name, any case, or
through a symlink), targets that are not regular files (directories, FIFOs, devices: never
opened), files with several hard links, symlink loops, and directories that cannot be created.
``--dry-run`` runs the same checks, prints what would change and writes nothing;
``--remove-emptied`` deletes files that end up empty (how a deletion block replays on disk).

A malformed block, a SEARCH that is missing or ambiguous, a refused path, or a failed write is
a one-line ``shardsmith: error: ...`` on stderr (naming the path and the reason, e.g.
``'hook': inside_git (resolves to '.git/hooks/pre-commit')``) and exit code 2.
"""
from __future__ import annotations

import argparse
import os
import sys

HELP = "apply Search/Replace blocks (e.g. model output) to the files under a directory"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``apply-blocks`` subcommand to the ``shardsmith`` parser."""
    parser = subparsers.add_parser("apply-blocks", help=HELP, description=HELP)
    parser.add_argument("root", metavar="ROOT", help="directory the block paths are relative to")
    parser.add_argument("blocks_file", metavar="BLOCKS_FILE", help="text holding SEARCH/REPLACE blocks ('-': stdin)")
    parser.add_argument("--dry-run", action="store_true", help="check the blocks and print what would change")
    parser.add_argument("--remove-emptied", action="store_true", help="delete files the blocks leave empty")
    return parser


def _read_blocks_text(blocks_file: str) -> str:
    if blocks_file == "-":
        return sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    with open(blocks_file, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        return handle.read()


def main(args: argparse.Namespace) -> int:
    """Run the subcommand for parsed ``args``; 0 on success, 2 on a user-facing error."""
    from transforms.code.search_replace import ApplyError, BlockParseError, apply_blocks_to_directory, parse_blocks

    try:
        if not os.path.isdir(args.root):
            raise NotADirectoryError(f"{args.root}: not a directory")
        blocks = parse_blocks(_read_blocks_text(args.blocks_file))
        changed = apply_blocks_to_directory(args.root, blocks, remove_emptied=args.remove_emptied,
                                            dry_run=args.dry_run)
    except BlockParseError as exc:
        print(f"shardsmith: error: {args.blocks_file}: {exc}", file=sys.stderr)
        return 2
    except (ApplyError, OSError, UnicodeError) as exc:
        print(f"shardsmith: error: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        print(path)
    return 0

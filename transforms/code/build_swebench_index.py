"""Rebuild the SWE-bench decontamination index shipped in the package.

    python -m transforms.code.build_swebench_index SWEBENCH_DIR \\
        --output transforms/code/data/swebench_index.bin.gz

``SWEBENCH_DIR`` holds ``swebench_lite.jsonl`` and ``swebench_verified.jsonl`` (SWE-bench Lite and
Verified: ``instance_id``, ``repo``, ``problem_statement``, ``patch``); JSONL files can also be
given one by one. Directories contribute their ``*.jsonl`` files in name order. The index
(``transforms.code.decontam``: ``load_benchmark_patches`` -> ``write_index``) keeps hashes, ids,
paths and line numbers only, and the same files always give the same bytes. Prints one line:
the output, its instance count and size.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys

from transforms.code.decontam import load_benchmark_patches, shipped_index_path, write_index


def input_files(inputs: list[str]) -> list[str]:
    """JSONL files of the inputs: files as given, directories' ``*.jsonl`` sorted by name."""
    files = []
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(glob.glob(os.path.join(item, "*.jsonl")))
            if not found:
                raise SystemExit(f"build_swebench_index: no *.jsonl files in {item}")
            files.extend(found)
        elif os.path.isfile(item):
            files.append(item)
        else:
            raise SystemExit(f"build_swebench_index: no such file or directory: {item}")
    return list(dict.fromkeys(files))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transforms.code.build_swebench_index",
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument("inputs", nargs="+", metavar="PATH", help="SWE-bench JSONL files or folders holding them")
    parser.add_argument("--output", default=shipped_index_path(),
                        help="index file to write (default: the one shipped in the package)")
    args = parser.parse_args(argv)
    files = input_files(args.inputs)
    index = load_benchmark_patches(files)
    size = write_index(index, args.output)
    print(f"{args.output}: {len(index)} instances from {', '.join(os.path.basename(f) for f in files)}, {size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

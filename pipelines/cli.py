"""The ``shardsmith`` command: run pipelines, inspect and query outputs, train raters.

    shardsmith corpus --output out/corpus           # sample run on the embedded corpus
    shardsmith dedup data.parquet --text-column text --output out/dedup
    shardsmith stats out/corpus
    shardsmith query out/corpus "SELECT reason, count(*) FROM rejects GROUP BY 1"
    shardsmith train-rater labelled.jsonl --text-column text --label-column label --output rater.bin
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import warnings

import transforms
from pipelines import apply_blocks, publish, report
from transforms.errors import InputError

LOG_LEVELS = ("debug", "info", "warning", "error")
EXIT_OK, EXIT_BROKEN, EXIT_USAGE, EXIT_EMPTY = 0, 1, 2, 3
# What to try when a run writes nothing, by the top reject reason (prefix match).
EMPTY_HINTS = {
    "below_threshold": "lower or drop the thresholds (--keep, --no-default-thresholds)",
    "missing_text": "name the text column with --text-column",
    "wrong_type": "check the column types (shardsmith query OUT \"SELECT detail FROM rejects LIMIT 5\")",
    "invalid_json": "the inputs are not JSON lines",
    "unreadable_file": "the input files cannot be read",
}


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (``InputError``), not usage text plus a message."""

    def error(self, message):
        raise InputError(f"{self.prog.removeprefix('shardsmith').strip() or 'shardsmith'}: {message}")


def _positional_inputs_to_flags(parser: argparse.ArgumentParser, tokens: list[str]) -> list[str]:
    """Turn bare INPUT arguments into ``--input INPUT`` flags, leaving flag values alone."""
    out, inputs, i = [], [], 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("-"):
            out.append(token)
            action = parser._option_string_actions.get(token.split("=", 1)[0])  # noqa: SLF001
            takes_value = action.nargs != 0 if action is not None else (
                i + 1 < len(tokens) and not tokens[i + 1].startswith("-"))
            if "=" not in token and takes_value and i + 1 < len(tokens):
                out.append(tokens[i + 1])
                i += 1
        else:
            inputs.append(token)
        i += 1
    return out + [x for path in inputs for x in ("--input", path)]


def _pipeline_parser(subparsers, spec) -> argparse.ArgumentParser:
    sub = subparsers.add_parser(spec.name, help=spec.help, description=spec.help)
    if spec.positional_input:
        sub.add_argument("inputs", nargs="*", metavar="INPUT", help="input files, directories or globs")
    for add_flags in spec.flags:
        add_flags(sub)
    sub.set_defaults(spec=spec)
    return sub


def build_parser() -> argparse.ArgumentParser:
    from pipelines.registry import load_pipelines

    parser = _Parser(prog="shardsmith", description="Beam pipelines that build training corpora.",
                     epilog="exit codes: 0 done; 1 conservation check failed; 2 usage or input error; "
                            "3 the run wrote no records to its primary dataset")
    parser.add_argument("--version", action="version", version=f"shardsmith {transforms.__version__}")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="error",
                        help="level of the log messages shown on stderr (Beam's included); default error")
    parser.add_argument("-v", "--verbose", action="store_const", dest="log_level", const="info",
                        help="same as --log-level info")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for spec in load_pipelines().values():
        _pipeline_parser(subparsers, spec)

    stats = subparsers.add_parser("stats", help="counts, reject reasons and column summaries of an output")
    stats.add_argument("output")
    stats.add_argument("--json", action="store_true", help="print the manifest as JSON instead")

    query = subparsers.add_parser("query", help="run DuckDB SQL over an output (one view per dataset folder)")
    query.add_argument("output")
    query.add_argument("sql")
    query.add_argument("--format", choices=("table", "csv", "jsonl"), default="table")

    train = subparsers.add_parser("train-rater", help="train a fastText quality/label model from a labelled column")
    train.add_argument("inputs", nargs="+", metavar="INPUT", help="labelled JSONL or Parquet files")
    train.add_argument("--text-column", required=True)
    train.add_argument("--label-column", required=True)
    train.add_argument("--output", required=True, help="path of the .bin model to write")
    train.add_argument("--overwrite", action="store_true", help="replace an existing fastText model at --output")
    train.add_argument("--epoch", type=int, default=10)
    train.add_argument("--lr", type=float, default=0.5)
    train.add_argument("--word-ngrams", type=int, default=2)
    train.add_argument("--dim", type=int, default=64)
    train.add_argument("--bucket", type=int, default=2_000_000, help="word n-gram hash buckets (model size: dim x bucket)")
    train.add_argument("--valid-fraction", type=float, default=0.1)
    train.add_argument("--seed", type=int, default=0)

    index = subparsers.add_parser("decontam-index", help="build a Clean-PR decontamination index (hashes only) from "
                                  "SWE-bench-style JSONL files (and index files, merged) for clean-pr --benchmarks")
    index.add_argument("inputs", nargs="+", metavar="FILE",
                       help="SWE-bench-style JSONL (instance_id, repo, patch, problem_statement, base_commit, "
                            "optional created_at) or index files")
    index.add_argument("--output", required=True, metavar="INDEX", help="index file to write (.bin.gz)")

    apply_blocks.add_parser(subparsers)
    publish.add_parser(subparsers)
    report.add_parser(subparsers)

    subparsers.add_parser("steps", help="the steps (stages) a pipeline run takes: shardsmith steps CMD [flags]",
                          add_help=False)
    schemas = subparsers.add_parser("schemas", help="list the record schemas and their documented fields")
    schemas.add_argument("name", nargs="?", help="one schema to describe")
    return parser


def _run_pipeline(parser: argparse.ArgumentParser, spec, tokens: list[str]) -> int:
    from pipelines.registry import check_beam_args

    sub = parser._subparsers._group_actions[0].choices[spec.name]  # noqa: SLF001
    if spec.positional_input:
        tokens = _positional_inputs_to_flags(sub, tokens)
    _, leftover = sub.parse_known_args(tokens)
    run = spec.run_function()  # imports the pipeline module (and Beam) only now
    check_beam_args(leftover)
    manifest = run(tokens)
    return _report_run(manifest)


def _list_steps(parser: argparse.ArgumentParser, pipelines: dict, tokens: list[str]) -> int:
    """``shardsmith steps CMD [flags]``: the steps a run with those flags takes, as a table."""
    from transforms.steps import stage_table

    if not tokens or tokens[0] in ("-h", "--help"):
        print("usage: shardsmith steps CMD [CMD's flags]: the steps (stages) a run of CMD with those flags "
              f"takes; CMD is one of {', '.join(sorted(pipelines))}")
        return EXIT_OK if tokens else EXIT_USAGE
    spec = pipelines.get(tokens[0])
    if spec is None:
        raise InputError(f"steps: unknown command {tokens[0]!r}; one of {', '.join(sorted(pipelines))}")
    sub = parser._subparsers._group_actions[0].choices[spec.name]  # noqa: SLF001
    flags_ = _positional_inputs_to_flags(sub, tokens[1:]) if spec.positional_input else tokens[1:]
    sub.parse_known_args(flags_)
    steps_of = spec.steps_function()
    if steps_of is None:
        raise InputError(f"steps: {spec.name} does not declare its steps")
    print(stage_table(steps_of(flags_)))
    return EXIT_OK


def _report_run(manifest: dict) -> int:
    """Print the run's summary; the exit code: 0, 1 (conservation broken) or 3 (nothing written)."""
    from transforms.io.manifest import summary_lines

    print("\n".join(summary_lines(manifest)))
    print(f"wrote {manifest['output']}")
    c = manifest["conservation"]
    if not c["holds"]:
        return EXIT_BROKEN
    if c["read"] > 0 and c["written"] == 0:
        print(f"shardsmith: error: {empty_run_message(manifest)}", file=sys.stderr)
        return EXIT_EMPTY
    return EXIT_OK


def empty_run_message(manifest: dict) -> str:
    """One line for a run that read records but wrote none: the top reject reason and a hint."""
    primary = ", ".join(f"{name}/" for name in manifest.get("primary_datasets", [])) or "its dataset"
    c = manifest["conservation"]
    reasons = manifest.get("rejects_by_stage_reason") or {}
    line = f"{manifest['output']}: read {c['read']} records but wrote none to {primary}"
    if reasons:
        top, count = max(reasons.items(), key=lambda item: (item[1], item[0]))
        reason = top.split("/", 1)[-1]
        line += f"; top reject {top} ({count} of {c['read']})"
        hint = next((h for prefix, h in EMPTY_HINTS.items() if reason.startswith(prefix)), None)
        if hint:
            line += f": {hint}"
    elif c["deduplicated"]:
        line += f"; {c['deduplicated']} were removed as duplicates"
    return line


def _stats(args) -> int:
    from transforms.io import manifest as mf
    from transforms.io.query import stats

    if args.json:
        try:
            print(json.dumps(mf.read_manifest(args.output), indent=2, sort_keys=True))
        except FileNotFoundError:
            raise InputError(f"{args.output}: no {mf.MANIFEST_NAME}") from None
    else:
        print(stats(args.output))
    return 0


def _query(args) -> int:
    import csv

    from transforms.io.query import format_table, run_query

    columns, rows = run_query(args.output, args.sql)
    if args.format == "table":
        print(format_table(columns, rows))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        for row in rows:
            print(json.dumps(dict(zip(columns, row)), default=str, ensure_ascii=False))
    return 0


def _train_rater(args) -> int:
    from pipelines.train_rater import train_rater_from_files

    metrics = train_rater_from_files(
        args.inputs, text_column=args.text_column, label_column=args.label_column, output=args.output,
        epoch=args.epoch, lr=args.lr, word_ngrams=args.word_ngrams, dim=args.dim, bucket=args.bucket,
        valid_fraction=args.valid_fraction, seed=args.seed, overwrite=args.overwrite,
    )
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0


def _decontam_index(args) -> int:
    """``shardsmith decontam-index FILES... --output INDEX``: one line, the index and its instance count."""
    from transforms.code.decontam import BenchmarkFileError, load_benchmarks, write_index

    try:
        index = load_benchmarks(args.inputs)
    except BenchmarkFileError as exc:
        raise InputError(f"decontam-index: {exc}") from None
    try:
        size = write_index(index, args.output)
    except OSError as exc:
        raise InputError(f"decontam-index: {args.output}: {exc.strerror or exc}") from None
    files = ", ".join(source["file"] for source in index.sources)
    print(f"{args.output}: {len(index)} instances of {len(index.repos)} repositories from {files}, {size:,} bytes")
    return 0


def _schemas(args) -> int:
    import schemas
    from schemas.common import describe, fingerprint

    registry = schemas.ALL_SCHEMAS
    if args.name:
        if args.name not in registry:
            raise InputError(f"unknown schema {args.name!r}; known: {', '.join(sorted(registry))}")
        print(describe(registry[args.name]))
    else:
        for name, schema in sorted(registry.items()):
            print(f"{name}  ({len(schema)} fields, fingerprint {fingerprint(schema)})")
    return 0


def _configure_logging(level: str) -> None:
    # Before Beam is imported: it logs import-time warnings (e.g. missing GCP client libraries).
    logging.basicConfig(level=getattr(logging, level.upper()), format="%(levelname)s %(name)s: %(message)s")
    if level in ("warning", "error"):
        warnings.filterwarnings("ignore")


def _global_options(argv: list[str]) -> tuple[str, list[str]]:
    """(log level, the rest) of the options before the command (``--log-level``, ``-v``)."""
    level, rest = "error", list(argv)
    while rest and rest[0] in ("-v", "--verbose", "--log-level") or (rest and rest[0].startswith("--log-level=")):
        token = rest.pop(0)
        if token in ("-v", "--verbose"):
            level = "info"
            continue
        value = token.split("=", 1)[1] if "=" in token else (rest.pop(0) if rest else "")
        if value not in LOG_LEVELS:
            raise InputError(f"--log-level: expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
        level = value
    return level, rest


def main(argv: list[str] | None = None) -> int:
    """Run ``shardsmith`` with ``argv``; the exit code (0, 1, 2 or 3, see ``--help``)."""
    from pipelines.registry import load_pipelines

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        level, argv = _global_options(argv)
        _configure_logging(level)
        parser = build_parser()
        if not argv:
            parser.print_help()
            return EXIT_USAGE
        if argv[0] == "steps":
            return _list_steps(parser, load_pipelines(), argv[1:])
        spec = load_pipelines().get(argv[0])
        if spec is not None:
            if any(t in ("-h", "--help") for t in argv[1:]):
                parser.parse_args(argv)  # prints the pipeline's help and exits
            return _run_pipeline(parser, spec, argv[1:])
        args = parser.parse_args(argv)
        handlers = {"stats": _stats, "query": _query, "train-rater": _train_rater, "schemas": _schemas,
                    "decontam-index": _decontam_index,
                    "apply-blocks": apply_blocks.main, "publish": publish.main,
                    "report": report.main}
        return handlers[args.command](args)
    except InputError as exc:
        print(f"shardsmith: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("shardsmith: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The console script: ``main()``, then exit without interpreter teardown.

    A finished run has flushed and closed everything it wrote; what remains are Beam's gRPC
    threads, whose teardown can abort the process ("terminate called without an active
    exception") after a successful run and turn exit 0 into a crash.
    """
    # Not inside IPython, for sure: Beam's run() asks by importing IPython when it is installed,
    # 0.2 s of every run's start-up; a missing module answers the same question at once.
    sys.modules.setdefault("IPython", None)
    # A run holds hundreds of thousands of long-lived objects (Beam, sympy, pint, models): with the
    # default thresholds the collector re-scans them every few hundred allocations, ~0.5 s of
    # start-up and more per record; cycles are still collected, a little later.
    gc.set_threshold(50_000, 20, 20)
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    _reap_workers()
    os._exit(code)


def _reap_workers() -> None:
    """Stop and wait for the helper processes a command started (``os._exit`` skips atexit):
    no orphan is left behind, and their CPU time is counted in this process's."""
    pools = sys.modules.get("transforms.science.symbolic_pool")
    if pools is not None:
        pools.close_pools()


if __name__ == "__main__":
    entry()

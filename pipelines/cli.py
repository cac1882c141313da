"""The ``shardsmith`` command: run pipelines, inspect and query outputs, train raters.

    shardsmith corpus --output out/corpus           # sample run on the embedded corpus
    shardsmith dedup data.parquet --text-column text --output out/dedup
    shardsmith stats out/corpus
    shardsmith query out/corpus "SELECT reason, count(*) FROM rejects GROUP BY 1"
    shardsmith train-rater labelled.jsonl --text-column text --label-column label --output rater.bin
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings

from pipelines import apply_blocks, publish, report


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
    for options_class in spec.options_classes:
        options_class._add_argparse_args(sub)  # noqa: SLF001 - same flags as the Beam options
    sub.set_defaults(spec=spec)
    return sub


def build_parser() -> argparse.ArgumentParser:
    from pipelines.registry import load_pipelines

    parser = argparse.ArgumentParser(prog="shardsmith", description="Beam pipelines that build training corpora.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Beam's log messages")
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

    apply_blocks.add_parser(subparsers)
    publish.add_parser(subparsers)
    report.add_parser(subparsers)

    schemas = subparsers.add_parser("schemas", help="list the record schemas and their documented fields")
    schemas.add_argument("name", nargs="?", help="one schema to describe")
    return parser


def _run_pipeline(parser: argparse.ArgumentParser, spec, tokens: list[str]) -> int:
    from pipelines.registry import check_beam_args
    from transforms.io.manifest import summary_lines

    sub = parser._subparsers._group_actions[0].choices[spec.name]  # noqa: SLF001
    if spec.positional_input:
        tokens = _positional_inputs_to_flags(sub, tokens)
    _, leftover = sub.parse_known_args(tokens)
    check_beam_args(leftover)
    manifest = spec.run(tokens)
    print("\n".join(summary_lines(manifest)))
    print(f"wrote {manifest['output']}")
    return 0 if manifest["conservation"]["holds"] else 1


def _stats(args) -> int:
    from transforms.io import manifest as mf
    from transforms.io.query import stats

    from transforms.io.readers import InputError

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


def _schemas(args) -> int:
    import schemas
    from schemas.common import describe, fingerprint

    registry = schemas.ALL_SCHEMAS
    from transforms.io.readers import InputError

    if args.name:
        if args.name not in registry:
            raise InputError(f"unknown schema {args.name!r}; known: {', '.join(sorted(registry))}")
        print(describe(registry[args.name]))
    else:
        for name, schema in sorted(registry.items()):
            print(f"{name}  ({len(schema)} fields, fingerprint {fingerprint(schema)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = argv[:1] in (["-v"], ["--verbose"])
    if verbose:
        argv = argv[1:]
    # Before Beam is imported: it logs import-time warnings (e.g. missing GCP client libraries).
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        warnings.filterwarnings("ignore")
    from pipelines.registry import load_pipelines
    from transforms.io.readers import InputError

    parser = build_parser()
    if not argv:
        parser.print_help()
        return 2
    spec = load_pipelines().get(argv[0])
    try:
        if spec is not None:
            if any(t in ("-h", "--help") for t in argv[1:]):
                parser.parse_args(argv)  # prints the pipeline's help and exits
            return _run_pipeline(parser, spec, argv[1:])
        args = parser.parse_args(argv)
        handlers = {"stats": _stats, "query": _query, "train-rater": _train_rater, "schemas": _schemas,
                    "apply-blocks": apply_blocks.main, "publish": publish.main,
                    "report": report.main}
        return handlers[args.command](args)
    except InputError as exc:
        print(f"shardsmith: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("shardsmith: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

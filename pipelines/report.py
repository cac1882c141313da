"""``shardsmith report OUT [--to DIR]``: a self-contained HTML run report with PNG charts.

Writes ``DIR/index.html`` (default DIR: ``OUT/_report/``; the leading underscore keeps it from being
taken for a dataset folder) and each chart as ``DIR/<name>.png``. The page inlines its charts as
``data:`` URIs and loads nothing else, so it can be mailed or archived on its own. It shows the run
header and conservation check, the stage funnel, a stage table, row counts per dataset and, for
Clean-PR, Dr. SCI and Verus runs, their distributions (``transforms/io/report.py``).

OUT may be a local directory or an fsspec URL. A missing OUT, one without ``_manifest.json`` or an
unfinished run (no ``_SUCCESS``) is a one-line ``shardsmith: error: ...`` and exit code 2.
"""
from __future__ import annotations

import argparse

HELP = "write a self-contained HTML report with PNG charts of a finished run"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to the ``shardsmith`` parser."""
    parser = subparsers.add_parser("report", help=HELP, description=HELP + ".")
    parser.add_argument("output", metavar="OUT", help="finished run directory or URL (holds _manifest.json, _SUCCESS)")
    parser.add_argument("--to", metavar="DIR", help="where to write index.html and the PNGs (default OUT/_report)")
    return parser


def main(args: argparse.Namespace) -> int:
    """Write the report for parsed ``args``; 0 on success (user errors raise InputError: exit 2 in the CLI)."""
    from transforms.io.report import write_report

    written = write_report(args.output, args.to)
    print(f"wrote {written['index']} ({len(written['charts'])} chart(s): {', '.join(written['charts']) or 'none'})")
    return 0

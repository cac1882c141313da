"""``shardsmith publish OUT --repo-id ORG/NAME``: upload a finished run to a Hugging Face dataset repo.

Creates the dataset repo if needed (``--private`` for a new private one), optionally a branch
(``--revision``), and uploads every Parquet shard in as few commits as the limits allow (the Hub
rate-limits commits per repo per hour), then a generated dataset card (``README.md``) and the
run's ``_manifest.json`` together in the last commit, so a repo holding a card holds all shards.

The card's YAML maps each dataset folder to a ``datasets`` config (``data_files`` glob, split
``train``); the primary dataset is the default config. The ``rejects`` and ``duplicates`` audit
folders are published as their own configs unless ``--exclude-audit``. The card body records the
pipeline, version and (already redacted) options that built the run, the stage funnel and
conservation counts from the manifest, and how to load each config.

The token comes only from the environment (``HF_TOKEN``, read by huggingface_hub itself); it is
never a flag, and its value is scrubbed from anything printed or uploaded. ``--dry-run`` prints the
planned commits and the card and creates no API client. A run without ``_SUCCESS``, a bad repo id
or a Hub error is a one-line ``shardsmith: error: ...`` on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
import sys
from dataclasses import dataclass

HELP = "upload a finished run to a Hugging Face dataset repo, with a generated dataset card"

CARD_NAME = "README.md"
DEFAULT_MAX_FILES_PER_COMMIT = 100
DEFAULT_MAX_BYTES_PER_COMMIT = 20 * 1024**3
AUDIT_DATASETS = ("rejects", "duplicates")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_TOKEN_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


@dataclass(frozen=True)
class PlannedFile:
    """One file of a commit: where it goes in the repo and where its bytes come from."""

    path_in_repo: str
    source: str | bytes  # local path, or the content itself (the generated card)
    size: int


@dataclass(frozen=True)
class CommitPlan:
    """One commit to send: its files and message."""

    files: tuple[PlannedFile, ...]
    message: str

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


class PublishError(Exception):
    """A user-facing problem (unfinished run, bad repo id, bad limits)."""


def _scrub(text: str) -> str:
    """``text`` with any token value from the environment replaced."""
    for name in _TOKEN_ENV:
        token = os.environ.get(name, "")
        if len(token) >= 4:
            text = text.replace(token, "<redacted>")
    return text


def _check_finished(output: str) -> None:
    from transforms.io.manifest import SUCCESS_NAME

    if not os.path.isfile(os.path.join(output, SUCCESS_NAME)):
        raise PublishError(f"{output}: not a finished run (no {SUCCESS_NAME})")


def _check_repo_id(repo_id: str) -> None:
    if not _REPO_ID.match(repo_id or "") or ".." in repo_id or repo_id.endswith((".git", ".")):
        raise PublishError(f"--repo-id {repo_id!r}: expected ORG/NAME")


def _datasets(output: str, include_audit: bool = True) -> dict[str, list[tuple[str, str, int]]]:
    """Dataset folder → sorted (path_in_repo, local path, bytes) of its shards."""
    from transforms.io.query import dataset_dirs
    from transforms.io.readers import InputError

    try:
        names = list(dataset_dirs(output))
    except InputError as exc:
        raise PublishError(str(exc)) from None
    found: dict[str, list[tuple[str, str, int]]] = {}
    for name in names:
        if not include_audit and name in AUDIT_DATASETS:
            continue
        folder = os.path.join(output, name)
        found[name] = [(posixpath.join(name, f), os.path.join(folder, f), os.path.getsize(os.path.join(folder, f)))
                       for f in sorted(os.listdir(folder))
                       if f.endswith(".parquet") and os.path.isfile(os.path.join(folder, f))]
    return found


def _ordered_configs(manifest: dict, names: list[str]) -> list[str]:
    """Primary datasets first (manifest order), then other folders, audit folders last."""
    primary = [n for n in manifest.get("primary_datasets", []) if n in names]
    rest = sorted(n for n in names if n not in primary and n not in AUDIT_DATASETS)
    return primary + rest + [n for n in AUDIT_DATASETS if n in names and n not in primary]


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _role(name: str, manifest: dict) -> str:
    if name in manifest.get("primary_datasets", []):
        return "output records"
    return {"rejects": "rejected records, with stage and reason",
            "duplicates": "records removed as duplicates, with the kept id"}.get(name, "derived dataset")


def dataset_card(output: str, repo_id: str, license: str = "apache-2.0", *,  # noqa: A002 - card field name
                 include_audit: bool = True, revision: str | None = None) -> str:
    """The ``README.md`` dataset card for the finished run in ``output``."""
    import yaml

    from transforms.io.manifest import read_manifest, redact_options

    _check_finished(output)
    manifest = read_manifest(output)
    datasets = _datasets(output, include_audit)
    names = _ordered_configs(manifest, list(datasets))
    configs = []
    for i, name in enumerate(names):
        config = {"config_name": name, "data_files": [{"split": "train", "path": f"{name}/*.parquet"}]}
        if i == 0:
            config["default"] = True
        configs.append(config)
    pretty_name = repo_id.split("/", 1)[-1]
    metadata = {"license": license, "pretty_name": pretty_name, "tags": ["shardsmith", manifest.get("pipeline", "")],
                "configs": configs}
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)

    pipeline, version = manifest.get("pipeline", "?"), manifest.get("version", "?")
    info = manifest.get("datasets", {})
    lines = [f"# {pretty_name}", "",
             f"Built by the shardsmith `{pipeline}` pipeline, version `{version}`.", "",
             "## Configs", "", "| config | rows | files | bytes | contents |", "|---|---:|---:|---:|---|"]
    for name in names:
        files = datasets[name]
        rows = info.get(name, {}).get("rows", "?")
        lines.append(f"| `{name}` | {rows} | {len(files)} | {sum(f[2] for f in files)} | {_role(name, manifest)} |")
    lines += ["", "## How to load", "", "```python", "from datasets import load_dataset", ""]
    rev = f", revision={json.dumps(revision)}" if revision else ""
    for name in names:
        variable = re.sub(r"\W", "_", name)
        lines.append(f"{variable} = load_dataset({json.dumps(repo_id)}, {json.dumps(name)}, split=\"train\"{rev})")
    lines += ["```", "", "## Stage funnel", "", "| stage | in | out | rejected | removed |", "|---|---:|---:|---:|---:|"]
    for stage, st in manifest.get("stages", {}).items():  # the manifest keeps pipeline order
        lines.append(f"| `{stage}` | {st.get('in', 0)} | {st.get('out', 0)} | "
                     f"{sum(st.get('rejected', {}).values())} | {st.get('removed', 0)} |")
    rejects = manifest.get("rejects_by_stage_reason", {})
    if rejects:
        lines += ["", "Rejected, by stage/reason:", ""] + [f"- `{k}`: {n}" for k, n in rejects.items()]
    removed = manifest.get("deduplicated_by_stage_method", {})
    if removed:
        lines += ["", "Deduplicated, by stage/method:", ""] + [f"- `{k}`: {n}" for k, n in removed.items()]
    c = manifest.get("conservation")
    if c:
        verdict = "holds" if c.get("holds") else "BROKEN"
        lines += ["", f"Conservation {verdict}: read {c.get('read')} = written {c.get('written')} + rejected "
                      f"{c.get('rejected')} + deduplicated {c.get('deduplicated')}."]
    lines += ["", "## How it was built", "", f"Pipeline `{pipeline}` {version}, with these options "
              "(secret-looking values redacted):", "", "```json",
              json.dumps(redact_options(manifest.get("options", {})), indent=2, sort_keys=True, default=str), "```"]
    fingerprints = manifest.get("schema_fingerprints", {})
    if fingerprints:
        lines += ["", "Schema fingerprints:", ""] + [f"- `{k}`: `{v}`" for k, v in sorted(fingerprints.items())]
    lines += [f"- note: {n}" for n in manifest.get("notes", [])]
    lines += ["", "The full run manifest is `_manifest.json` in this repository.", ""]
    return _scrub(f"---\n{front}---\n\n" + "\n".join(lines))


def plan_publish(output: str, repo_id: str, *, max_files_per_commit: int = DEFAULT_MAX_FILES_PER_COMMIT,
                 max_bytes_per_commit: int = DEFAULT_MAX_BYTES_PER_COMMIT, license: str = "apache-2.0",  # noqa: A002
                 include_audit: bool = True, revision: str | None = None) -> list[CommitPlan]:
    """The commits that publish ``output``: shards packed greedily in path order, card + manifest last.

    A commit holds at most ``max_files_per_commit`` files and ``max_bytes_per_commit`` bytes, except
    that a single shard larger than the byte limit gets a commit of its own. The card and the
    manifest always travel together in the last commit.
    """
    from transforms.io.manifest import MANIFEST_NAME

    _check_repo_id(repo_id)
    if max_files_per_commit < 2 or max_bytes_per_commit < 1:
        raise PublishError("commit limits: need at least 2 files and 1 byte per commit")
    card = dataset_card(output, repo_id, license, include_audit=include_audit, revision=revision).encode("utf-8")
    manifest_path = os.path.join(output, MANIFEST_NAME)
    shards = [PlannedFile(p, local, size) for files in _datasets(output, include_audit).values()
              for p, local, size in files]
    shards.sort(key=lambda f: f.path_in_repo)
    units = [[f] for f in shards]
    units.append([PlannedFile(CARD_NAME, card, len(card)),
                  PlannedFile(MANIFEST_NAME, manifest_path, os.path.getsize(manifest_path))])
    groups: list[list[PlannedFile]] = []
    current: list[PlannedFile] = []
    for unit in units:
        n_files = len(current) + len(unit)
        n_bytes = sum(f.size for f in current) + sum(f.size for f in unit)
        if current and (n_files > max_files_per_commit or n_bytes > max_bytes_per_commit):
            groups.append(current)
            current = []
        current = current + unit
    groups.append(current)
    total = len(groups)
    plans = []
    for i, files in enumerate(groups, 1):
        what = "shards, dataset card and manifest" if i == total else "shards"
        plans.append(CommitPlan(tuple(files), f"shardsmith publish {i}/{total}: {len(files)} files ({what})"))
    return plans


def format_plan(plans: list[CommitPlan], repo_id: str, *, private: bool, revision: str | None) -> str:
    """Human-readable listing of planned commits."""
    total_files, total_bytes = sum(len(p.files) for p in plans), sum(p.bytes for p in plans)
    lines = [f"dataset repo {repo_id} ({'private' if private else 'public'} if created), "
             f"branch {revision or 'main'}: {len(plans)} commit(s), {total_files} files, {_human(total_bytes)}"]
    for i, plan in enumerate(plans, 1):
        lines.append(f"commit {i}/{len(plans)}: {len(plan.files)} files, {plan.bytes} bytes ({_human(plan.bytes)})"
                     f" - {plan.message}")
        lines.extend(f"  {f.path_in_repo}  {f.size}" for f in plan.files)
    return _scrub("\n".join(lines))


def publish(output: str, repo_id: str, *, private: bool = False, revision: str | None = None, api=None,
            dry_run: bool = False, license: str = "apache-2.0", include_audit: bool = True,  # noqa: A002
            max_files_per_commit: int = DEFAULT_MAX_FILES_PER_COMMIT,
            max_bytes_per_commit: int = DEFAULT_MAX_BYTES_PER_COMMIT) -> list[CommitPlan]:
    """Upload ``output`` to the dataset repo ``repo_id``; returns the commits (planned only if ``dry_run``).

    ``api`` defaults to a new ``huggingface_hub.HfApi()``, which takes its token from the
    environment; with ``dry_run`` no API object is made or used.
    """
    plans = plan_publish(output, repo_id, max_files_per_commit=max_files_per_commit,
                         max_bytes_per_commit=max_bytes_per_commit, license=license,
                         include_audit=include_audit, revision=revision)
    if dry_run:
        return plans
    from huggingface_hub import CommitOperationAdd

    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    for plan in plans:
        operations = [CommitOperationAdd(path_in_repo=f.path_in_repo, path_or_fileobj=f.source) for f in plan.files]
        api.create_commit(repo_id, operations=operations, commit_message=plan.message, repo_type="dataset",
                          revision=revision)
    return plans


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``publish`` subcommand to the ``shardsmith`` parser."""
    parser = subparsers.add_parser("publish", help=HELP, description=HELP + ". The token is read from HF_TOKEN.")
    parser.add_argument("output", metavar="OUT", help="finished run directory (holds _SUCCESS)")
    parser.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="dataset repo to create or update")
    parser.add_argument("--private", action="store_true", help="create the repo private (if it does not exist)")
    parser.add_argument("--revision", metavar="BRANCH", help="branch to commit to (created if missing)")
    parser.add_argument("--license", default="apache-2.0", help="licence identifier for the card (default apache-2.0)")
    parser.add_argument("--exclude-audit", action="store_true",
                        help="publish only the datasets, not the rejects/duplicates audit folders")
    parser.add_argument("--max-files-per-commit", type=int, default=DEFAULT_MAX_FILES_PER_COMMIT)
    parser.add_argument("--max-bytes-per-commit", type=int, default=DEFAULT_MAX_BYTES_PER_COMMIT)
    parser.add_argument("--dry-run", action="store_true", help="print the planned commits and the card; upload nothing")
    return parser


def main(args: argparse.Namespace) -> int:
    """Run the subcommand for parsed ``args``; 0 on success, 2 on a user-facing error."""
    kwargs = dict(private=args.private, revision=args.revision, license=args.license,
                  include_audit=not args.exclude_audit, max_files_per_commit=args.max_files_per_commit,
                  max_bytes_per_commit=args.max_bytes_per_commit)
    try:
        plans = publish(args.output, args.repo_id, dry_run=True, **kwargs)
        print(format_plan(plans, args.repo_id, private=args.private, revision=args.revision))
        if args.dry_run:
            card = next(f.source for f in plans[-1].files if f.path_in_repo == CARD_NAME)
            print(f"\n--- {CARD_NAME} ---")
            print(card.decode("utf-8"), end="")
            return 0
        publish(args.output, args.repo_id, **kwargs)
    except (PublishError, OSError, ValueError) as exc:
        print(_scrub(f"shardsmith: error: {exc}").splitlines()[0], file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - Hub/HTTP errors: one line, token scrubbed
        if type(exc).__module__.split(".")[0] != "huggingface_hub" and not type(exc).__module__.startswith("requests"):
            raise
        print(_scrub(f"shardsmith: error: {args.repo_id}: {exc}").splitlines()[0], file=sys.stderr)
        return 2
    print(f"published {args.output} to https://huggingface.co/datasets/{args.repo_id}")
    return 0

"""``shardsmith publish OUT --repo-id ORG/NAME``: upload a finished run to a Hugging Face dataset repo.

Creates the dataset repo if needed (``--private`` for a new private one), optionally a branch
(``--revision``), and uploads every Parquet shard in as few commits as the limits allow (the Hub
rate-limits commits per repo per hour), then a generated dataset card (``README.md``) and the
run's manifest (``_manifest.json``) together in the last commit, so a repo holding a card holds all shards.

The card's YAML maps each dataset folder to a ``datasets`` config (``data_files`` glob, split
``train``); the primary dataset is the default config. The ``rejects`` and ``duplicates`` audit
folders are published as their own configs unless ``--exclude-audit``. The card body records the
pipeline, version and (already redacted) options that built the run, the stage funnel and
conservation counts from the manifest, and how to load each config.

No absolute local path leaves the machine. The card and the uploaded manifest are the local
manifest with every local path rewritten to ``<local>/NAME`` (its last component): the run's
``--output``, ``--input``, ``--git-repo``, ``--source NAME=PATH`` ... and any other absolute path
in options and notes (``public_manifest``). Before anything is sent, every string column of every
shard to upload (nested ones too) is scanned, whole columns at a time with pyarrow.compute, for
the local roots (``transforms.io.local_paths.local_roots``): the working directory, the home
directory, the run's output and the local paths among its options. A shard that holds one is
refused, naming the dataset, file, column and an example, unless ``--allow-local-paths``. The
card and manifest are checked the same way. ``--dry-run`` goes through all of it, then prints
the planned commits and the card; it needs no token and creates no API client.

The token comes only from huggingface_hub's own lookup (``HF_TOKEN`` in the environment, or a
login saved by ``hf auth login``); it is never a flag, and its value (and anything that looks like
a Hugging Face token) is scrubbed from everything printed or uploaded.

Every failure is one line ``shardsmith: error: <cause>`` on stderr and exit code 2, never a
traceback: a run without ``_SUCCESS``, a bad repo id or commit limit, a shard holding a local
path; no token ("no Hugging Face token: set HF_TOKEN"); the Hub unreachable ("cannot reach
ENDPOINT: connection refused", name not resolved, timed out, TLS error, ``HF_HUB_OFFLINE``); 401
("401 unauthorized for ORG/NAME: check HF_TOKEN"), 403 (no write access), a repo that does not
exist and cannot be created (404), a missing branch, 409 conflicts, 429 rate limits, 5xx server
errors; a shard that vanished or became unreadable before or during its upload. Hub errors say
which step failed (creating the repo, the branch, commit i/n) and how many commits were sent.
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
_TOKEN_LIKE = re.compile(r"\bhf_[A-Za-z0-9]{20,}")  # what Hugging Face user access tokens look like
_BEARER = re.compile(r"(?i)\b(bearer\s+)\S+")


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
    """A user-facing problem: its message is the one line printed after ``shardsmith: error:``."""


_known_tokens: set[str] = set()  # tokens huggingface_hub found (a saved login, not only the environment)


def _scrub(text: str) -> str:
    """``text`` with any token value (environment, saved login) and token-looking string replaced."""
    tokens = {os.environ.get(name, "") for name in _TOKEN_ENV} | _known_tokens
    for token in sorted(tokens, key=len, reverse=True):
        if len(token) >= 4:
            text = text.replace(token, "<redacted>")
    return _TOKEN_LIKE.sub("<redacted>", text)


def _one_line(text: str) -> str:
    """The first non-empty line of ``text``, token (and any ``Bearer`` credential) scrubbed: for messages."""
    lines = [line.strip() for line in _BEARER.sub(r"\1<redacted>", _scrub(str(text))).splitlines() if line.strip()]
    return lines[0] if lines else ""


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


def _read_manifest(output: str) -> dict:
    from transforms.io.manifest import MANIFEST_NAME, read_manifest

    try:
        return read_manifest(output)
    except FileNotFoundError:
        raise PublishError(f"{output}: no {MANIFEST_NAME}") from None
    except ValueError as exc:
        raise PublishError(f"{output}/{MANIFEST_NAME}: not valid JSON ({exc})") from None


def publish_roots(output: str, manifest: dict) -> list[str]:
    """The local paths nothing uploaded may hold (``local_roots`` of the run and its options)."""
    from transforms.io.local_paths import local_roots

    options = dict(manifest.get("options") or {})
    return local_roots(output, {**options, "_output": manifest.get("output") or ""})


def public_manifest(output: str, manifest: dict | None = None) -> dict:
    """The manifest as it is uploaded: secret-looking options redacted, and every local path in it
    (options, ``output``, notes, ...) rewritten to ``<local>/NAME``."""
    from transforms.io.local_paths import redact_value
    from transforms.io.manifest import redact_options

    manifest = _read_manifest(output) if manifest is None else manifest
    public = dict(manifest)
    public["options"] = redact_options(manifest.get("options") or {})
    return redact_value(public, publish_roots(output, manifest))


def dataset_card(output: str, repo_id: str, license: str = "apache-2.0", *,  # noqa: A002 - card field name
                 include_audit: bool = True, revision: str | None = None, manifest: dict | None = None) -> str:
    """The ``README.md`` dataset card for the finished run in ``output`` (from ``public_manifest``)."""
    import yaml

    _check_finished(output)
    manifest = public_manifest(output) if manifest is None else manifest
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
              json.dumps(manifest.get("options", {}), indent=2, sort_keys=True, default=str), "```"]
    fingerprints = manifest.get("schema_fingerprints", {})
    if fingerprints:
        lines += ["", "Schema fingerprints:", ""] + [f"- `{k}`: `{v}`" for k, v in sorted(fingerprints.items())]
    lines += [f"- note: {n}" for n in manifest.get("notes", [])]
    lines += ["", "The full run manifest is `_manifest.json` in this repository.", ""]
    return _scrub(f"---\n{front}---\n\n" + "\n".join(lines))


def check_local_paths(files: list[PlannedFile], roots: list[str]) -> None:
    """Refuse (``PublishError``) when a file to upload holds one of the local ``roots``.

    Generated files (bytes) are searched as text; shards column by column (``find_local_paths``).
    """
    from transforms.io.local_paths import find_local_paths, roots_pattern

    pattern = roots_pattern(roots)
    if pattern is None:
        return
    compiled = re.compile(pattern)
    for f in files:
        if isinstance(f.source, bytes):
            match = compiled.search(f.source.decode("utf-8", "replace"))
            if match:  # a bug, not the user's: public_manifest should have rewritten it
                raise PublishError(f"{f.path_in_repo} would hold the local path {match.group(0).rstrip('/')}; "
                                   "nothing was uploaded")
            continue
        try:
            found = find_local_paths(f.source, roots)
        except OSError as exc:
            raise PublishError(f"{f.source}: cannot read it ({exc.strerror or exc})") from None
        except Exception as exc:  # noqa: BLE001 - a corrupt shard (pyarrow errors)
            raise PublishError(f"{f.source}: not a readable Parquet file ({_one_line(exc)})") from None
        if found is not None:
            dataset = f.path_in_repo.split("/", 1)[0]
            raise PublishError(
                f"dataset {dataset}: column {found.column} ({f.path_in_repo}) holds the local path {found.root}, "
                f"e.g. {found.example!r}; nothing was uploaded (--allow-local-paths publishes it anyway)")


def plan_publish(output: str, repo_id: str, *, max_files_per_commit: int = DEFAULT_MAX_FILES_PER_COMMIT,
                 max_bytes_per_commit: int = DEFAULT_MAX_BYTES_PER_COMMIT, license: str = "apache-2.0",  # noqa: A002
                 include_audit: bool = True, revision: str | None = None,
                 allow_local_paths: bool = False) -> list[CommitPlan]:
    """The commits that publish ``output``: shards packed greedily in path order, card + manifest last.

    A commit holds at most ``max_files_per_commit`` files and ``max_bytes_per_commit`` bytes, except
    that a single shard larger than the byte limit gets a commit of its own. The card and the
    manifest (``public_manifest``, as bytes) always travel together in the last commit. Every file
    is checked for local paths first (``check_local_paths``; shards skipped with ``allow_local_paths``).
    """
    from transforms.io.manifest import MANIFEST_NAME

    _check_repo_id(repo_id)
    if max_files_per_commit < 2 or max_bytes_per_commit < 1:
        raise PublishError("commit limits: need at least 2 files and 1 byte per commit")
    _check_finished(output)
    local = _read_manifest(output)
    manifest = public_manifest(output, local)
    card = _scrub(dataset_card(output, repo_id, license, include_audit=include_audit, revision=revision,
                               manifest=manifest)).encode("utf-8")
    manifest_bytes = _scrub(json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    shards = [PlannedFile(p, local_path, size) for files in _datasets(output, include_audit).values()
              for p, local_path, size in files]
    shards.sort(key=lambda f: f.path_in_repo)
    generated = [PlannedFile(CARD_NAME, card, len(card)), PlannedFile(MANIFEST_NAME, manifest_bytes, len(manifest_bytes))]
    roots = publish_roots(output, local)
    check_local_paths(generated if allow_local_paths else shards + generated, roots)
    units = [[f] for f in shards]
    units.append(generated)
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


def _endpoint(api=None) -> str:
    endpoint = getattr(api, "endpoint", None)
    if isinstance(endpoint, str) and endpoint:
        return endpoint.rstrip("/")
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def require_token() -> str:
    """The token huggingface_hub would send (``HF_TOKEN``, else a saved login); ``PublishError`` without one."""
    try:
        from huggingface_hub import get_token

        token = get_token()
    except Exception as exc:  # noqa: BLE001 - e.g. a failed OIDC exchange or token refresh
        raise PublishError(f"cannot get a Hugging Face token: {_one_line(exc) or type(exc).__name__}") from None
    if not token:
        raise PublishError("no Hugging Face token: set HF_TOKEN (a token with write access to the repo's namespace)")
    _known_tokens.add(token)
    return token


_NETWORK_CLASSES = {"ConnectError", "ConnectTimeout", "ConnectionError", "NetworkError", "TransportError",
                    "TimeoutException", "ReadTimeout", "WriteTimeout", "PoolTimeout", "ReadError", "WriteError",
                    "RemoteProtocolError", "LocalProtocolError", "ProtocolError", "ProxyError", "SSLError",
                    "ChunkedEncodingError", "NewConnectionError", "MaxRetryError"}
_HTTP_LIBRARIES = {"httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3", "aiohttp"}


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, its causes and contexts, and exceptions wrapped in their args (httpcore does that)."""
    found: list[BaseException] = []
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or any(e is f for f in found):
            continue
        found.append(e)
        todo += [e.__cause__, e.__context__] + [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
    return found


def _network_cause(exc: BaseException) -> str | None:
    """Why the Hub could not be reached ("connection refused", ...), or None when it is no network error."""
    import socket
    import ssl

    chain = _chain(exc)
    names = {cls.__name__ for e in chain for cls in type(e).__mro__}
    libraries = {type(e).__module__.split(".")[0] for e in chain}
    if not (any(isinstance(e, (ConnectionError, TimeoutError, socket.gaierror, ssl.SSLError)) for e in chain)
            or (names & _NETWORK_CLASSES and libraries & _HTTP_LIBRARIES)):
        return None
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text:
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
            s in text for s in ("name or service not known", "nodename nor servname", "getaddrinfo failed",
                                "temporary failure in name resolution", "no address associated")):
        return "host name not resolved (no network or DNS?)"
    if any(isinstance(e, TimeoutError) for e in chain) or any("Timeout" in n for n in names) or "timed out" in text:
        return "timed out"
    if any(isinstance(e, ssl.SSLError) for e in chain) or "SSLError" in names or "certificate" in text:
        return f"TLS error ({_one_line(exc) or type(exc).__name__})"
    if any(isinstance(e, ConnectionResetError) for e in chain) or "connection reset" in text:
        return "connection reset"
    if any(isinstance(e, OSError) and e.errno is not None and "unreachable" in str(e).lower() for e in chain):
        return "network unreachable"
    return _one_line(exc) or type(exc).__name__


def describe_hub_error(exc: BaseException, repo_id: str, endpoint: str, revision: str | None = None) -> str:
    """One line naming the cause of a failed Hub call (no token, network, HTTP status, a vanished file)."""
    import http

    name = type(exc).__name__
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    server = _one_line(getattr(exc, "server_message", None) or "")
    extra = f" (server: {server})" if server else ""
    if name == "LocalTokenNotFoundError":
        return "no Hugging Face token: set HF_TOKEN"
    if name == "OfflineModeIsEnabled":
        return f"HF_HUB_OFFLINE is set: not reaching {endpoint}"
    if isinstance(status, int):
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "error"
        namespace = repo_id.split("/", 1)[0]
        if status == 401:
            return f"401 unauthorized for {repo_id}: check HF_TOKEN{extra}"
        if status == 403:
            return f"403 forbidden for {repo_id}: the token may not write there (it needs write access to {namespace}){extra}"
        if name == "RevisionNotFoundError":
            return f"branch {revision or 'main'} of {repo_id} not found{extra}"
        if status == 404 or name == "RepositoryNotFoundError":
            return f"repository {repo_id} not found and could not be created: {status} {phrase}{extra}"
        if status == 429:
            retry = (getattr(response, "headers", None) or {}).get("retry-after")
            return f"429 rate limited by {endpoint} for {repo_id}: retry {f'after {retry} s' if retry else 'later'}{extra}"
        if status >= 500:
            return f"{endpoint} failed with {status} {phrase} for {repo_id}: try again later{extra}"
        return f"{status} {phrase} for {repo_id}{extra}"
    cause = _network_cause(exc)
    if cause is not None:
        return f"cannot reach {endpoint}: {cause}"
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or _one_line(exc)}: vanished during the upload"
    if isinstance(exc, OSError):
        return f"{exc.filename or 'a file'}: cannot read it ({exc.strerror or _one_line(exc)})"
    return f"upload to {repo_id} failed: {name}: {_one_line(exc)}"


def upload(plans: list[CommitPlan], repo_id: str, *, output: str = "", private: bool = False,
           revision: str | None = None, api=None) -> str:
    """Send planned commits; returns the repo's URL. Every failure is a one-line ``PublishError``
    saying which step failed and how many commits were sent (see the module docstring).

    ``api`` defaults to a new ``huggingface_hub.HfApi()`` once ``require_token`` found a token.
    """
    if api is None:
        require_token()
        from huggingface_hub import HfApi

        api = HfApi()
    endpoint = _endpoint(api)
    step, sent = "creating the repo", 0

    def where() -> str:
        done = f"{sent} of {len(plans)} commits sent" if sent else "nothing was uploaded"
        return f"; while {step}, {done}"

    try:
        from huggingface_hub import CommitOperationAdd

        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision and revision != "main":
            step = f"creating branch {revision}"
            api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
        for i, plan in enumerate(plans, 1):
            step = f"commit {i}/{len(plans)}"
            for f in plan.files:
                if isinstance(f.source, str) and not os.path.isfile(f.source):
                    raise PublishError(f"{posixpath.join(output, f.path_in_repo) if output else f.source}: vanished "
                                       f"before its upload{where()}")
            operations = [CommitOperationAdd(path_in_repo=f.path_in_repo, path_or_fileobj=f.source)
                          for f in plan.files]
            api.create_commit(repo_id, operations=operations, commit_message=plan.message, repo_type="dataset",
                              revision=revision)
            sent += 1
    except PublishError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the Hub client raises becomes one line
        raise PublishError(_scrub(f"{describe_hub_error(exc, repo_id, endpoint, revision)}{where()}")) from exc
    return f"{endpoint}/datasets/{repo_id}"


def publish(output: str, repo_id: str, *, private: bool = False, revision: str | None = None, api=None,
            dry_run: bool = False, license: str = "apache-2.0", include_audit: bool = True,  # noqa: A002
            max_files_per_commit: int = DEFAULT_MAX_FILES_PER_COMMIT,
            max_bytes_per_commit: int = DEFAULT_MAX_BYTES_PER_COMMIT, allow_local_paths: bool = False) -> list[CommitPlan]:
    """Upload ``output`` to the dataset repo ``repo_id``; returns the commits (planned only if ``dry_run``).

    Plans and checks first (``plan_publish``: finished run, repo id, limits, local paths), then
    ``upload``. ``api`` defaults to a new ``huggingface_hub.HfApi()`` (the token is checked before
    the shards are scanned); with ``dry_run`` no API object is made or used. Raises ``PublishError``.
    """
    if not dry_run and api is None:
        _check_repo_id(repo_id)
        _check_finished(output)
        require_token()
    plans = plan_publish(output, repo_id, max_files_per_commit=max_files_per_commit,
                         max_bytes_per_commit=max_bytes_per_commit, license=license,
                         include_audit=include_audit, revision=revision, allow_local_paths=allow_local_paths)
    if not dry_run:
        upload(plans, repo_id, output=output, private=private, revision=revision, api=api)
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
    parser.add_argument("--allow-local-paths", action="store_true",
                        help="publish shards even if a string column holds a local path (working directory, home, "
                             "the run's output or input paths); the card and manifest never show them")
    parser.add_argument("--max-files-per-commit", type=int, default=DEFAULT_MAX_FILES_PER_COMMIT)
    parser.add_argument("--max-bytes-per-commit", type=int, default=DEFAULT_MAX_BYTES_PER_COMMIT)
    parser.add_argument("--dry-run", action="store_true",
                        help="check everything, print the planned commits and the card; upload nothing")
    return parser


def main(args: argparse.Namespace) -> int:
    """Run the subcommand for parsed ``args``; 0 on success, 2 (one line on stderr) on any failure."""
    try:
        _check_repo_id(args.repo_id)
        _check_finished(args.output)
        if not args.dry_run:
            require_token()  # before scanning the shards, which can take a while
        plans = plan_publish(args.output, args.repo_id, max_files_per_commit=args.max_files_per_commit,
                             max_bytes_per_commit=args.max_bytes_per_commit, license=args.license,
                             include_audit=not args.exclude_audit, revision=args.revision,
                             allow_local_paths=args.allow_local_paths)
        print(format_plan(plans, args.repo_id, private=args.private, revision=args.revision))
        if args.allow_local_paths:
            print("shards not checked for local paths (--allow-local-paths)")
        if args.dry_run:
            card = next(f.source for f in plans[-1].files if f.path_in_repo == CARD_NAME)
            print(f"\n--- {CARD_NAME} ---")
            print(card.decode("utf-8"), end="")
            return 0
        url = upload(plans, args.repo_id, output=args.output, private=args.private, revision=args.revision)
    except (PublishError, OSError, ValueError) as exc:
        print(f"shardsmith: error: {_one_line(exc) or type(exc).__name__}", file=sys.stderr)
        return 2
    print(_scrub(f"published {args.output} to {url}"))
    return 0

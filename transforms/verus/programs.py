"""Verus seed programs as records: reading seed files, extracting programs, features, verdicts,
and the derived proof tasks and repair pairs. Plain functions and callables; the step list in
``pipelines/verus.py`` wires them.
"""
from __future__ import annotations

import glob
import json
import os
import re

import fsspec

from schemas.verus import ESCAPE_COLUMNS, FEATURE_COLUMNS
from transforms.dedup.exact import TextNormalization
from transforms.errors import InputError
from transforms.io.local_paths import display_names
from transforms.io.readers import Unreadable, iter_jsonl
from transforms.records import Rejected, content_id
from transforms.verus.features import feature_columns, program_summary
from transforms.verus.syntax import parse_verus
from transforms.verus.tasks import (cheating_reason, goal_reason, keeps_goals, spec_code_fingerprint, strip_proof,
                                    target_text)
from transforms.verus.verifier import VerificationResult, VerusConfig, skipped_record_fields, verify_many

RS_SUFFIXES = (".rs",)
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
ERRORS_MARKER = re.compile(r"^[ \t]*The error messages are.*$", re.MULTILINE)
FENCE = re.compile(r"```[ \t]*(rust|verus|rs)?[ \t]*\r?\n(.*?)```", re.DOTALL | re.IGNORECASE)
CODE_NORMALIZATION = TextNormalization(lowercase=False, nfkc=False, strip_punctuation=False, collapse_whitespace=True)
PRIVATE = "_"  # fields starting with it travel between stages and are never written
TARGET = PRIVATE + "target"  # tasks.target_text: the per-function dedup / decontamination key
COVERAGE_NAMESPACE = "verus:seed_coverage"
TASK_PROMPT = ("Given a Verus program with function signatures, preconditions, postconditions and code, but "
               "with the proof annotations missing, add loop invariants, assertions and lemmas so that Verus "
               "verifies it. Do not change the specification or the executable code. Respond with the full "
               "program in a ```rust fence.")
REPAIR_PROMPT = ("Given a Verus program and its verification errors, fix the proof (loop invariants, assertions, "
                 "lemmas) without changing the specification or the executable code. Respond with the fixed "
                 "program in a ```rust fence.")


def seed_files(patterns: list[str]) -> list[str]:
    """The .rs / .json / .jsonl files named by ``--seeds`` (files, directories, globs), sorted."""
    return seed_inputs(patterns)[0]


def seed_inputs(patterns: list[str], flag: str = "--seeds") -> tuple[list[str], dict[str, str]]:
    """(``seed_files``, display name per file): a seed's ``source`` is its path relative to the
    ``--seeds`` pattern that found it (``transforms.io.local_paths.display_names``), never its
    absolute local path, so the same layout gives the same sources and ids on every machine."""
    found: list[str] = []
    groups: list[tuple[str, list[str]]] = []
    for given in patterns:
        pattern = os.path.abspath(given)  # read by workers, whose cwd is their own
        if os.path.isdir(pattern):
            matches = [p for p in glob.glob(os.path.join(pattern, "**", "*"), recursive=True)
                       if os.path.isfile(p) and p.lower().endswith(RS_SUFFIXES + JSON_SUFFIXES)]
            if not matches:
                raise InputError(f"{flag} {given}: directory holds no .rs, .json or .jsonl files")
        elif glob.has_magic(pattern):
            matches = [p for p in glob.glob(pattern) if os.path.isfile(p)]
            if not matches:
                raise InputError(f"{flag} {given}: no file matches")
        elif os.path.isfile(pattern):
            matches = [pattern]
        else:
            raise InputError(f"{flag} {given}: no such file or directory")
        for path in matches:
            if not path.lower().endswith(RS_SUFFIXES + JSON_SUFFIXES):
                raise InputError(f"{flag} {path}: expected .rs, .json or .jsonl")
        found.extend(matches)
        groups.append((pattern, matches))
    return sorted(dict.fromkeys(found)), display_names(groups)


def iter_seed_file(path: str, name: str | None = None):
    """Raw records of one seed file: ``{_source, _source_id, text}`` for .rs, ``{_source, _source_id, record}``
    for JSON elements / lines; ``Unreadable`` for what cannot be read. The file is called ``name``
    (its display name, default ``path``) in the records and in the rejects' detail and source."""
    name = name or path
    try:
        with fsspec.open(path, "rb") as handle:
            data = handle.read()
    except Exception as exc:  # noqa: BLE001 - a vanished file becomes a reject
        yield Unreadable("unreadable_file", f"{name}: {type(exc).__name__}: {str(exc).replace(path, name)}",
                         {"source": name})
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Unreadable("invalid_utf8", f"{name}: {exc}", {"source": name})
        return
    if path.lower().endswith(RS_SUFFIXES):
        yield {"_source": name, "_source_id": name, "text": text}
        return
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Unreadable("invalid_json", f"{name}: {exc}", {"source": name})
            return
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                yield Unreadable("not_an_object", f"{name}[{index}]: a JSON {type(item).__name__}",
                                 {"source": name, "index": index, "raw": item})
            else:
                yield {"_source": name, "_source_id": f"{name}:{index}", "record": item}
        return
    for index, item in enumerate(iter_jsonl(path)):
        if isinstance(item, Unreadable):  # the JSONL reader names the file by its path
            raw = {**item.raw, "source": name} if item.raw.get("source") == path else item.raw
            yield Unreadable(item.reason, item.detail.replace(path, name), raw)
        else:
            yield {"_source": name, "_source_id": f"{name}:{index}", "record": item}


def fenced_code(text: str | None) -> str | None:
    """The longest ```rust (or ```verus / bare) fence of ``text``; None when there is none."""
    if not isinstance(text, str):
        return None
    blocks = [m.group(2) for m in FENCE.finditer(text) if m.group(2).strip()]
    if not blocks:
        return None
    return max(blocks, key=len)  # max keeps the first of equally long blocks: deterministic


def split_debugging_input(text: str) -> tuple[str | None, str | None]:
    """(failing program, errors) of a SAFE debugging input; (None, None) when it is not one."""
    if not isinstance(text, str):
        return None, None
    match = ERRORS_MARKER.search(text)
    if not match:
        return None, None
    errors = text[match.end():].strip()
    errors = re.sub(r"^```[^\n]*\n|\n?```\s*$", "", errors).strip()
    return fenced_code(text[:match.start()]), errors


def _code_of(value) -> str | None:
    """A program given as a fenced answer or as plain code."""
    if not isinstance(value, str) or not value.strip():
        return None
    code = fenced_code(value)
    if code is not None:
        return code
    return value if ("verus!" in value or re.search(r"\bfn\s+\w+", value)) else None


# --column-map targets of the Verus pipeline: where a JSON record keeps the program and its parts.
COLUMN_MAP_TARGETS = ("program", "task", "failing_program", "errors", "source_id")


def check_column_map(mapping: dict) -> dict:
    """A Verus ``--column-map`` (``parse_column_map``) checked: known targets, one column each, ``program`` given."""
    unknown = sorted(set(mapping) - set(COLUMN_MAP_TARGETS))
    if unknown:
        raise InputError(f"--column-map: unknown target(s) {', '.join(unknown)} (known: {', '.join(COLUMN_MAP_TARGETS)})")
    if "program" not in mapping:
        raise InputError("--column-map: name the program's field, e.g. --column-map program=y,task=x")
    several = sorted(target for target, column in mapping.items() if not isinstance(column, str))
    if several:
        raise InputError(f"--column-map: {', '.join(several)} must name one field each")
    if ("errors" in mapping) != ("failing_program" in mapping):
        raise InputError("--column-map: failing_program and errors go together (a repair pair)")
    return dict(mapping)


def _mapped(out: dict, record: dict, mapping: dict):
    """``extract`` of a JSON record by a checked column map."""
    column = mapping["program"]
    if column not in record:
        return Rejected("no_code", f"field {column!r} (--column-map program) is absent; got keys {sorted(record)[:10]}")
    program = _code_of(record[column])
    if program is None:
        return Rejected("no_code", f"field {column!r} (--column-map program) holds no program")
    out = {**out, "program": program}
    if "source_id" in mapping and record.get(mapping["source_id"]) is not None:
        out["source_id"] = str(record[mapping["source_id"]])
    if "task" in mapping:
        out["_task"] = _code_of(record.get(mapping["task"]))
    if "failing_program" in mapping:
        failing, errors = _code_of(record.get(mapping["failing_program"])), record.get(mapping["errors"])
        if failing is not None and isinstance(errors, str) and errors.strip():
            out["_repair"] = {"failing_program": failing, "errors": errors.strip()}
    return out


def extract(raw: dict, column_map: dict | None = None):
    """Raw record -> candidate ``{program, source, source_id, origin, _repair?, _task?}``.

    A JSON record is read by ``column_map`` when one is given (``check_column_map``), else by its
    layout: SAFE / VeruSyn ``{prompt, input, output}``, task files ``{task_id, task, ground_truth}``,
    ``{program}`` or ``{code}``.
    """
    out = {"source": raw.get("_source"), "source_id": raw.get("_source_id"), "origin": "seed"}
    if "text" in raw:
        if not raw["text"].strip():
            return Rejected("no_code", "empty .rs file")
        return {**out, "program": raw["text"]}
    record = raw.get("record") or {}
    if column_map:
        return _mapped(out, record, column_map)
    if "ground_truth" in record:  # task file
        program = _code_of(record.get("ground_truth"))
        if program is None:
            return Rejected("no_code", "ground_truth holds no program")
        task_id = record.get("task_id")
        return {**out, "source_id": str(task_id) if task_id is not None else out["source_id"], "program": program,
                "_task": _code_of(record.get("task"))}
    if "output" in record:  # SAFE / VeruSyn {prompt, input, output}
        program = fenced_code(record.get("output"))
        if program is None:
            return Rejected("no_code", "output holds no ```rust fence")
        failing, errors = split_debugging_input(record.get("input"))
        if errors is not None:
            return {**out, "program": program, "_repair": {"failing_program": failing, "errors": errors}}
        return {**out, "program": program}
    for key in ("program", "code"):
        if key in record:
            program = _code_of(record.get(key))
            if program is None:
                return Rejected("no_code", f"{key} holds no program")
            return {**out, "program": program}
    return Rejected("unknown_layout", "expected {prompt, input, output}, {task_id, task, ground_truth} or {program}, "
                                      "or give --column-map program=FIELD; "
                                      f"got keys {sorted(record)[:10]}")


class Extract:
    """Map stage ``extract`` with the run's ``--column-map`` (None: the known layouts)."""

    def __init__(self, column_map: dict | None = None):
        self.column_map = column_map

    def __call__(self, raw: dict):
        return extract(raw, self.column_map)


def parse_reason(candidate: dict):
    """Filter stage: ``parse_error`` when ``parse_verus`` cannot structure the program, ``no_function``
    when it holds no fn."""
    result = parse_verus(candidate["program"])
    return result if isinstance(result, Rejected) else None


def normalize_program(source: str) -> str:
    """Line ends unified, trailing blanks dropped: the text the id hashes."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n") + "\n"


def program_id(source: str) -> str:
    return content_id("verus-program", normalize_program(source))


class Features:
    """Map stage: features, line counts, stripped task, fingerprint, id, the target key
    (``TARGET``); counts seed coverage."""

    def setup(self):
        from apache_beam.metrics import Metrics

        self._counter = lambda name: Metrics.counter(COVERAGE_NAMESPACE, name)

    def __call__(self, candidate: dict) -> dict:
        program = parse_verus(candidate["program"])
        if isinstance(program, Rejected):
            return program
        columns = feature_columns(program)
        record = {
            "id": program_id(candidate["program"]),
            "origin": candidate["origin"], "source": candidate.get("source"),
            "source_id": candidate.get("source_id"), "parent_id": None, "target_feature": None, "model": None,
            "program": candidate["program"],
            "program_without_proof": strip_proof(program),
            "spec_fingerprint": spec_code_fingerprint(program),
            **program_summary(program), **columns, **skipped_record_fields(), "accepted": None,
            TARGET: target_text(program),
        }
        for key in ("_repair", "_task"):
            if candidate.get(key) is not None:
                record[key] = candidate[key]
        if getattr(self, "_counter", None) is not None:
            self._counter("programs").inc()
            for name in FEATURE_COLUMNS + ESCAPE_COLUMNS:
                if columns.get(name):
                    self._counter(name).inc()
        return record


def keep_score(record: dict) -> int | None:
    """Dedup keep rule's score: accepted 2, verified 1, other verdicts 0; None when not verified at all."""
    if record.get("verification_status") is None:
        return None
    return 2 if record.get("accepted") else (1 if record["verification_status"] == "verified" else 0)


def apply_verdict(record: dict, result: VerificationResult) -> dict:
    """The verification columns and ``accepted``: verified, and no escape hatch Verus's
    ``--no-cheating`` refuses (``tasks.cheating_reason`` without a seed)."""
    out = {**record, **result.record_fields()}
    out["accepted"] = bool(result.verified and cheating_reason(record["program"]) is None)
    return out


def acceptance_reason(record: dict):
    """Filter stage of --verified-only."""
    if record.get("accepted"):
        return None
    if record.get("verification_status") != "verified":
        return Rejected(f"not_verified:{record.get('verification_status')}",
                        "\n".join((record.get("verification_errors") or [])[:3]))
    return Rejected(f"cheating:{cheating_reason(record['program'])}", "")


def _features_of(record: dict) -> dict:
    return {name: record[name] for name in FEATURE_COLUMNS + ESCAPE_COLUMNS}


def task_of(record: dict, verification_ran: bool):
    """Program -> proof-completion task, or the reason there is none (``no_goal``: the task would
    state nothing to prove, ``tasks.goal_reason``)."""
    if verification_ran and not record.get("accepted"):
        return Rejected("not_accepted")
    if not record.get("has_proof"):
        return Rejected("no_proof")
    cheat = cheating_reason(record["program"])
    if cheat:
        return Rejected(f"cheating:{cheat}")
    task = record["program_without_proof"]
    imported = record.get(PRIVATE + "task")
    if (imported and spec_code_fingerprint(imported) == record["spec_fingerprint"]
            and keeps_goals(record["program"], imported)):
        task = imported
    if normalize_program(task) == normalize_program(record["program"]):
        return Rejected("no_proof")
    parsed = parse_verus(task)
    if isinstance(parsed, Rejected) and parsed.reason == "parse_error":
        return Rejected("task_parse_error", parsed.detail)
    if isinstance(parsed, Rejected) or goal_reason(parsed):
        return Rejected("no_goal", "the task states nothing to prove (no ensures, no call with requires)")
    return {"id": content_id("verus-task", normalize_program(task)), "program_id": record["id"],
            "source": record.get("source"), "source_id": record.get("source_id"), "task": task,
            "ground_truth": record["program"], "spec_fingerprint": record["spec_fingerprint"],
            "verus_version": record.get("verus_version"), **_features_of(record)}


_COMPILE_ERROR_HINTS = re.compile(r"error\[E\d{4}\]|cannot find|mismatched types|expected .* found|unresolved import")


def failing_status(errors: str) -> str:
    """Best guess of the failing program's verdict from its error text (imported pairs are not re-verified)."""
    return "compile_error" if _COMPILE_ERROR_HINTS.search(errors or "") else "failed"


def repair_of(record: dict, verification_ran: bool):
    """Debugging record's fixed program -> repair pair, or the reason there is none."""
    repair = record.get(PRIVATE + "repair")
    if not repair:
        return None
    failing, errors = repair.get("failing_program"), repair.get("errors") or ""
    if not failing:
        return Rejected("no_failing_program")
    if not errors.strip():
        return Rejected("no_errors")
    if normalize_program(failing) == normalize_program(record["program"]):
        return Rejected("unchanged")
    if spec_code_fingerprint(failing) != record["spec_fingerprint"]:
        return Rejected("spec_changed")
    if verification_ran and not (record.get("verification_status") == "verified"
                                 and cheating_reason(record["program"], failing) is None):
        return Rejected("fix_not_accepted")
    return {"id": content_id("verus-repair", normalize_program(failing), errors, normalize_program(record["program"])),
            "origin": "imported", "source": record.get("source"), "source_id": record.get("source_id"),
            "task_id": None, "model": None, "failing_program": failing, "failing_status": failing_status(errors),
            "errors": errors, "fixed_program": record["program"], "fixed_program_id": record["id"],
            "verus_version": record.get("verus_version"), **_features_of(record)}


def public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith(PRIVATE)}




def fenced(program: str) -> str:
    return "```rust\n" + program.rstrip("\n") + "\n```"


class SeedReader:
    """``reader`` of the seed files (``iter_seed_file``), each named by its display name."""

    def __init__(self, names: dict[str, str]):
        self.names = dict(names)

    def __call__(self, path: str):
        return iter_seed_file(path, self.names.get(path))


class VerifyPrograms:
    """``Batch`` worker: a batch of programs -> ``verify_many`` -> the verdict columns and the dedup keep score."""

    def __init__(self, config: VerusConfig, workers: int):
        self.config, self.workers = config, workers

    def verify_batch(self, batch: list[dict]) -> list[dict]:
        results = verify_many([r["program"] for r in batch], self.config, max_workers=self.workers)
        verdicts = [apply_verdict(r, res) for r, res in zip(batch, results)]
        for record in verdicts:
            record[PRIVATE + "keep_score"] = keep_score(record)
        return verdicts

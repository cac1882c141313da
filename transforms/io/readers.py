"""Read JSON, JSONL and Parquet records from local paths or fsspec URLs (``gs://``, ``s3://`` ...).

Pure readers yield plain dict records, or ``Unreadable`` for input that cannot become a
record, and never raise: each bad line is one ``Unreadable`` (``invalid_utf8``,
``invalid_json``, ``not_an_object``, ``too_deeply_nested``) and reading goes on; a file
that cannot be opened is one ``unreadable_file``; one that breaks mid-way (truncated
gzip, a corrupt Parquet row group) keeps what was read before the break and adds one
``broken_file`` saying where. Every ``Unreadable`` names the file and the position in
its detail and in ``raw`` (``source`` plus ``line``, or ``row_group`` and ``row``).
The Beam layer (``ReadRecords``) turns ``Unreadable`` into rejects of stage ``read``,
so bad input is counted and kept, never lost.
"""
from __future__ import annotations

import codecs
import contextlib
import json
import os
import re
from typing import Iterator, NamedTuple

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.errors import InputError  # noqa: F401 - re-exported for callers
from transforms.io.infer import SchemaInference

# JSON-family files: JSON lines, a JSON array or a JSON document, told apart by content
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz", ".jsonl.zst", ".json.zst")
PARQUET_SUFFIXES = (".parquet", ".pq")
READ_STAGE = "read"
READ_REASONS = "invalid_json, invalid_utf8, not_an_object, too_deeply_nested, unreadable_file, broken_file"


class Unreadable(NamedTuple):
    """Input that could not become a record: reason, detail and what was seen."""

    reason: str
    detail: str
    raw: dict


def input_format(path: str) -> str:
    """'jsonl' (any JSON-family file) or 'parquet', from the file name."""
    lower = path.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    raise InputError(f"{path}: unknown input format (expected one of {', '.join(JSONL_SUFFIXES + PARQUET_SUFFIXES)})")


def expand_inputs(patterns: list[str]) -> list[str]:
    """Resolve files, directories and globs to a sorted list of readable input files.

    Raises ``InputError`` naming the first pattern that matches nothing readable.
    """
    if not patterns:
        raise InputError("no input given")
    files: list[str] = []
    for pattern in patterns:
        try:
            fs, _ = fsspec.core.url_to_fs(pattern)
        except (ImportError, ValueError) as exc:
            raise InputError(f"{pattern}: cannot open ({exc})") from None
        protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
        unstrip = (lambda p: p) if protocol in ("file", "local") else (lambda p: fs.unstrip_protocol(p))
        try:
            if fs.isdir(pattern):
                found = [p for p in fs.find(pattern) if p.lower().endswith(JSONL_SUFFIXES + PARQUET_SUFFIXES)]
                if not found:
                    raise InputError(f"{pattern}: directory holds no .jsonl or .parquet files")
            elif any(ch in pattern for ch in "*?["):
                found = fs.glob(pattern)
                if not found:
                    raise InputError(f"{pattern}: no file matches")
            elif fs.exists(pattern):
                found = [pattern]
            else:
                raise InputError(f"{pattern}: no such file")
        except PermissionError:
            raise InputError(f"{pattern}: permission denied") from None
        for path in found:
            path = unstrip(path) if path != pattern else path
            input_format(path)
            files.append(path if protocol not in ("file", "local") else os.path.abspath(path))  # workers have their own cwd
    return sorted(dict.fromkeys(files))


def record_bound(path: str) -> int | None:
    """An upper bound on the records a reader yields from ``path``, known without reading them: a
    Parquet footer's row count, or an uncompressed text file's bytes / 2 + 1 (every record, a JSON
    object or a CSV row, takes at least two bytes); None when it cannot be known cheaply
    (compressed, unreadable)."""
    try:
        if path.lower().endswith(PARQUET_SUFFIXES):
            with fsspec.open(path, "rb") as handle:
                return pq.ParquetFile(handle).metadata.num_rows
        if path.lower().endswith((".gz", ".zst")):
            return None
        fs, local = fsspec.core.url_to_fs(path)
        return int(fs.size(local)) // 2 + 1
    except Exception:  # noqa: BLE001 - the read stage reports the file; only the bound is unknown
        return None


def file_size(path: str) -> int:
    """Bytes of a local or fsspec file; 0 when its size cannot be asked (it only positions the progress bar)."""
    try:
        fs, local = fsspec.core.url_to_fs(path)
        return int(fs.size(local) or 0) if fs.isfile(local) else 0
    except Exception:  # noqa: BLE001
        return 0


# --- reading JSON ---------------------------------------------------------------------
#
# Every reader below yields, for each unit of input (a line, an array element, a Parquet
# row), a record or one ``Unreadable`` - never an exception. ``Unreadable.raw`` always
# holds ``source`` and the position: ``line`` (JSONL line number, or the element index
# of a JSON array), or ``row_group`` and ``row`` for Parquet.

MAX_NESTING = 100
"""Deepest nesting of objects/arrays a record may have (the record's own ``{}`` is level 1).

Deeper records become ``too_deeply_nested`` rejects. Why 100: the rest of the pipeline
must carry what the reader lets through. pyarrow writes Parquet files with deeper
columns, but cannot read them back past about 124 levels (the schema stored in the file
hits the flatbuffers depth limit; DuckDB has the same limit), Python's ``pickle`` and
``json`` stop near the interpreter's recursion limit (~1000, less inside a deep stack),
and the validator and ``record_to_json`` recurse once or twice per level. 100 stays
well inside all of them (tests/transforms/io/test_readers_robust.py runs a record of
exactly this depth through a real ``dedup`` into its Parquet output).
"""
CHUNK_BYTES = 1 << 20
MAX_RAW_CHARS = 65_536  # of a broken file's last partial line, kept in its reject
_BOM = "\ufeff"
_WS = " \t\r\n"
_DECODER = json.JSONDecoder()
_RAW_SURROGATE = re.compile("[\ud800-\udfff]")  # invalid UTF-8 bytes, decoded with surrogateescape
# a string (one cut off by the end of the window runs to it), or a bracket
_SKIP_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|[\[\]{}]')
_NUMBER_OR_WORD = re.compile(r"[^\s,\]\[{}]+")
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")


def _has_lone_surrogate(value) -> bool:
    """True when decoded JSON holds a string that cannot be encoded as UTF-8."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def too_deeply_nested(value, limit: int = MAX_NESTING) -> bool:
    """True when objects/arrays nest deeper than ``limit`` levels (``value`` itself is level 1)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in (item.values() if isinstance(item, dict) else item):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def _check_value(value, text: str, start: int = 0, end: int | None = None,
                 raw_surrogates: bool = False) -> tuple[str, str] | None:
    """(reason, message) when a decoded JSON value cannot be a record, else None.

    ``text[start:end]`` is the value's JSON text; it gates the costlier checks.
    ``raw_surrogates``: the text may hold undecodable bytes as lone surrogates.
    """
    end = len(text) if end is None else end
    suspect = text.find("\\ud", start, end) != -1 or text.find("\\uD", start, end) != -1 or (
        raw_surrogates and _RAW_SURROGATE.search(text, start, end) is not None)
    if suspect and _has_lone_surrogate(value):
        return "invalid_utf8", "a string holds invalid UTF-8 (or a \\u escape of a lone surrogate)"
    if not isinstance(value, dict):
        return "not_an_object", f"a JSON {type(value).__name__}, not an object"
    if text.count("{", start, end) + text.count("[", start, end) > MAX_NESTING and too_deeply_nested(value):
        return "too_deeply_nested", f"objects/arrays nest deeper than {MAX_NESTING} levels"
    return None


class _Broken(Exception):
    """Reading the underlying file failed part-way (``exc`` says why)."""

    def __init__(self, exc: BaseException):
        super().__init__(str(exc))
        self.exc, self.partial = exc, b""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _Source:
    """Reads a (possibly decompressing) handle so that a failure loses nothing read before it.

    ``read1`` is used where the handle has it: a truncated gzip stream then hands out all
    it could decompress, and the error is raised (as ``_Broken``) by the next ``read``.
    """

    def __init__(self, handle):
        self.read_some = getattr(handle, "read1", None) or handle.read
        self.error: BaseException | None = None
        self.ended = False

    def read(self, size: int = 0) -> bytes:
        """Up to ``size`` bytes (default ``CHUNK_BYTES``); fewer only at the end (``ended``) or just
        before a failure."""
        size = size or CHUNK_BYTES
        if self.error is not None:
            raise _Broken(self.error)
        parts, got = [], 0
        while got < size:
            try:
                data = self.read_some(size - got)
            except Exception as exc:  # noqa: BLE001 - truncated gzip, vanished file, network ...
                self.error = exc  # raised now, or by the next read when data came before it
                if not parts:
                    raise _Broken(exc) from None
                break
            if not data:
                self.ended = True
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)


def _unreadable_file(path: str, exc: BaseException, where: dict) -> Unreadable:
    return Unreadable("unreadable_file", f"{path}: cannot be read: {_describe(exc)}", {"source": path, **where})


def _broken_file(path: str, position: str, exc: BaseException, where: dict, records_before: int) -> Unreadable:
    return Unreadable("broken_file", f"{path}: {position}: reading stopped ({_describe(exc)}); "
                      f"{records_before} record(s) before it were read", {"source": path, **where})


def _open_with_head(path: str, stack: contextlib.ExitStack) -> tuple[_Source, bytes]:
    """The ``_Source`` of a (possibly compressed) file and its first bytes; raises when it cannot be opened."""
    source = _Source(stack.enter_context(fsspec.open(path, "rb", compression="infer")))
    try:
        return source, source.read()
    except _Broken as broken:
        raise broken.exc from None


def _jsonl_lines(source: _Source, head: bytes):
    """``(line_no, bytes, newline)`` of each line (``head``: the file's first bytes, already read);
    ``newline``: the line ended with one (all but maybe the last).

    A read failure raises ``_Broken`` with ``partial``: the bytes of the line it cut.
    """
    parts, line_no = [head], 0
    while True:
        if b"\n" in parts[-1]:
            lines = b"".join(parts).split(b"\n")
            parts = [lines.pop()]
            for raw in lines:
                line_no += 1
                yield line_no, raw, True
        if source.ended:
            break
        try:
            parts.append(source.read())
        except _Broken as broken:
            broken.partial = b"".join(parts)
            raise
    tail = b"".join(parts)
    if tail:
        yield line_no + 1, tail, False


def _jsonl_item(path: str, line_no: int, raw: bytes, newline: bool) -> dict | Unreadable | None:
    """The record of one JSONL line, an ``Unreadable`` (its ``raw`` is the line, newline included),
    or None for a blank line."""
    if not raw.strip():
        return None
    where = {"source": path, "line": line_no}
    end = "\n" if newline else ""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Unreadable("invalid_utf8", f"{path}:{line_no}: {exc}",
                          {**where, "raw": raw.decode("utf-8", "backslashreplace") + end})
    if line_no == 1 and text.startswith(_BOM):
        text = text[1:]
    try:
        value = json.loads(text)
    except RecursionError:
        return Unreadable("too_deeply_nested", f"{path}:{line_no}: objects/arrays nest deeper than {MAX_NESTING} "
                          "levels", {**where, "raw": text + end})
    except ValueError as exc:  # JSONDecodeError, or an integer of more than 4300 digits
        return Unreadable("invalid_json", f"{path}:{line_no}: {exc}", {**where, "raw": text + end})
    problem = _check_value(value, text)
    if problem:
        return Unreadable(problem[0], f"{path}:{line_no}: {problem[1]}", {**where, "raw": text + end})
    return value


def _iter_lines(path: str, source: _Source, head: bytes) -> Iterator[dict | Unreadable]:
    """JSONL records; a read failure mid-way ends in one ``broken_file`` naming the line."""
    records, last = 0, 0
    try:
        for last, raw, newline in _jsonl_lines(source, head):
            item = _jsonl_item(path, last, raw, newline)
            if item is not None:
                records += isinstance(item, dict)
                yield item
    except _Broken as broken:
        where = {"line": last + 1}
        if broken.partial:
            where["raw"] = broken.partial[:MAX_RAW_CHARS].decode("utf-8", "backslashreplace")
        yield _broken_file(path, f"line {last + 1}", broken.exc, where, records)


def iter_jsonl(path: str) -> Iterator[dict | Unreadable]:
    """Records of a JSON-lines file (compression inferred from the name); blank lines skipped.

    Each bad line is one ``Unreadable`` (invalid_utf8, invalid_json, not_an_object,
    too_deeply_nested) and reading goes on; a file that cannot be opened is one
    ``unreadable_file``, one that breaks mid-way (truncated gzip ...) keeps the lines
    before the break and ends in one ``broken_file`` naming the line.
    """
    with contextlib.ExitStack() as stack:
        try:
            source, head = _open_with_head(path, stack)
        except Exception as exc:  # noqa: BLE001
            yield _unreadable_file(path, exc, {"line": 1})
            return
        yield from _iter_lines(path, source, head)


def _is_json_name(path: str) -> bool:
    """A ``.json`` name (not JSON lines): a lone JSON document is expected."""
    return path.lower().endswith((".json", ".json.gz", ".json.zst"))


def _layout(path: str, head: bytes, at_eof: bool) -> str:
    """'lines', 'array' or 'values' (one or more concatenated / pretty-printed documents), by content.

    ``head``: the file's first bytes (for non-``.json`` names starting with ``[``, at least
    its whole first line). A file opening with a lone ``[`` or ``{`` line is a document;
    one whose first line is a whole JSON value followed by more lines is JSON lines,
    whatever its name. A ``.json`` file whose ``[`` does not close on the first line, or
    whose only line is an array, is an array; one whose first line is an unfinished
    object is a document. Anything else is read as JSON lines (``.jsonl``, ``.ndjson``:
    a line holding an array is a ``not_an_object`` reject).
    """
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    text = text.lstrip(_WS.encode())
    opening = text[:1]
    if opening not in (b"[", b"{"):
        return "lines"
    document = "array" if opening == b"[" else "values"
    newline = text.find(b"\n")
    first = (text if newline == -1 else text[:newline]).strip()
    if first == opening and (newline != -1 or at_eof):
        return document
    is_json = _is_json_name(path)
    if newline == -1 and not at_eof:  # a first line longer than the window
        return document if is_json else "lines"
    try:
        json.loads(first)
    except (ValueError, RecursionError) as exc:
        incomplete = isinstance(exc, json.JSONDecodeError) and (
            len(first) - exc.pos <= 12 or exc.msg.startswith("Unterminated string"))
        return document if incomplete and (is_json or opening == b"[") else "lines"
    more = newline != -1 and (bool(text[newline:].strip()) or not at_eof)
    return "array" if is_json and opening == b"[" and not more else "lines"


class _TextStream:
    """A growing window of decoded text over a byte handle, with line counting."""

    def __init__(self, source: _Source, head: bytes):
        self.source = source
        self.decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.eof = source.ended
        self.buf = self.decoder.decode(head, final=self.eof)
        if self.buf.startswith(_BOM):
            self.buf = self.buf[1:]
        self.raw_surrogates = _RAW_SURROGATE.search(self.buf) is not None  # invalid UTF-8 seen
        self.pos = 0
        self.line, self.line_pos = 1, 0  # line number of buf[line_pos]

    def more(self, at_least: int = 0) -> bool:
        """Read more text (at least ``at_least`` bytes unless the file ends); False at the end."""
        if self.eof:
            return False
        self.line += self.buf.count("\n", self.line_pos, self.pos)
        self.buf, self.line_pos = self.buf[self.pos:], 0
        self.pos = 0
        data = self.source.read(max(at_least, CHUNK_BYTES))
        self.eof = self.source.ended
        text = self.decoder.decode(data, final=self.eof)
        self.raw_surrogates = self.raw_surrogates or _RAW_SURROGATE.search(text) is not None
        self.buf += text
        return True

    def skip_ws(self) -> str:
        """Skip whitespace; the next character, or '' at the end."""
        while True:
            n = len(self.buf)
            while self.pos < n and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < n:
                return self.buf[self.pos]
            if not self.more():
                return ""

    def line_at(self, pos: int) -> int:
        self.line += self.buf.count("\n", self.line_pos, pos)
        self.line_pos = pos
        return self.line

    def value(self):
        """Decode the JSON value at ``pos``: ``(value, start, end)``; ``(None, start, exc)`` when it is
        bad (``exc`` a RecursionError or ValueError). Reads more text while the value is incomplete."""
        while True:
            start = self.pos
            try:
                value, end = _DECODER.raw_decode(self.buf, start)
            except json.JSONDecodeError as exc:
                if not self.eof and (len(self.buf) - exc.pos <= 12 or exc.msg.startswith("Unterminated string")):
                    self.more(len(self.buf) - start)
                    continue
                return None, start, exc
            except (RecursionError, ValueError) as exc:
                return None, start, exc
            if not self.eof and type(value) in (int, float) and _NUMBER_TAIL.fullmatch(self.buf, end):
                self.more(len(self.buf) - start)  # the number may go on in the next chunk ("0" of "0.5")
                continue
            self.pos = end
            return value, start, end

    def skip_value(self) -> str | None:
        """Move past the value at ``pos`` without decoding it (strings respected): its text (at most
        ``MAX_RAW_CHARS``), or None when it does not end before the file does."""
        while True:
            start = self.pos
            opening = self.buf[start:start + 1]
            if opening in ("[", "{"):
                depth = 0
                for token in _SKIP_TOKEN.finditer(self.buf, start):
                    t = token.group()
                    if t in ("[", "{"):
                        depth += 1
                    elif t in ("]", "}"):
                        depth -= 1
                        if depth == 0:
                            self.pos = token.end()
                            return self.buf[start:min(self.pos, start + MAX_RAW_CHARS)]
            else:
                token = (_SKIP_TOKEN if opening == '"' else _NUMBER_OR_WORD).match(self.buf, start)
                if token and (token.end() < len(self.buf) or self.eof) and token.group()[-1:] != "\\":
                    self.pos = token.end()
                    return self.buf[start:min(self.pos, start + MAX_RAW_CHARS)]
            if not self.more(len(self.buf) - start):
                return None


def _iter_json_document(path: str, source: _Source, head: bytes, layout: str) -> Iterator[dict | Unreadable]:
    """Records of a JSON array (element index as ``line``) and/or of concatenated JSON documents
    (the text line where each starts as ``line``), decoded in a bounded window."""
    stream = _TextStream(source, head)
    records, index, in_array = 0, 0, layout == "array"
    label = (lambda i, ln: f"{path}[{i}] (text line {ln})") if in_array else (lambda i, ln: f"{path}:{ln}")
    try:
        if in_array:
            stream.skip_ws()
            stream.pos += 1  # the '['
            if stream.skip_ws() == "]":
                stream.pos += 1
                in_array = False
        while True:
            c = stream.skip_ws()
            if not c:
                if in_array:
                    line = stream.line_at(stream.pos)
                    after = f"after element {index - 1}" if index else "before its first element"
                    yield Unreadable("broken_file", f"{path}: the file ends inside the array, {after} (text line "
                                     f"{line}); {records} record(s) before it were read",
                                     {"source": path, "line": index})
                return
            line = stream.line_at(stream.pos)
            at = index if in_array else line
            where = {"source": path, "line": at}
            value, start, end = stream.value()
            if isinstance(end, BaseException):
                exc = end
                if isinstance(exc, RecursionError) or not isinstance(exc, json.JSONDecodeError):
                    skipped = stream.skip_value()
                    raw = skipped or ""
                    if isinstance(exc, RecursionError):
                        yield Unreadable("too_deeply_nested", f"{label(index, line)}: objects/arrays nest deeper "
                                         f"than {MAX_NESTING} levels", {**where, "raw": raw})
                    else:
                        yield Unreadable("invalid_json", f"{label(index, line)}: {exc}", {**where, "raw": raw})
                    if skipped is None:
                        return
                elif stream.eof and (exc.pos >= len(stream.buf.rstrip()) or exc.msg.startswith("Unterminated string")):
                    yield Unreadable("broken_file", f"{label(index, line)}: the file ends inside this value "
                                     f"({exc.msg}); {records} record(s) before it were read",
                                     {**where, "raw": stream.buf[start:start + MAX_RAW_CHARS]})
                    return
                else:
                    column = exc.pos - stream.buf.rfind("\n", 0, exc.pos)
                    yield Unreadable(
                        "invalid_json",
                        f"{label(index, line)}: {exc.msg} at text line {stream.line_at(exc.pos)} column {column}; "
                        f"the rest of the file cannot be read ({records} record(s) before it were read)",
                        {**where, "raw": stream.buf[start:start + MAX_RAW_CHARS]})
                    return
            else:
                problem = _check_value(value, stream.buf, start, end, stream.raw_surrogates)
                if problem:
                    yield Unreadable(problem[0], f"{label(index, line)}: {problem[1]}",
                                     {**where, "raw": stream.buf[start:end][:MAX_RAW_CHARS]})
                else:
                    records += 1
                    yield value
            index += 1
            if in_array:
                c = stream.skip_ws()
                if c == ",":
                    stream.pos += 1
                elif c == "]":
                    stream.pos += 1
                    in_array = False
                    label = lambda i, ln: f"{path}:{ln}"  # what follows the array
                elif c:
                    line = stream.line_at(stream.pos)
                    yield Unreadable("invalid_json", f"{path}[{index}] (text line {line}): expected ',' or ']' "
                                     f"after element {index - 1}; the rest of the file cannot be read "
                                     f"({records} record(s) before it were read)",
                                     {"source": path, "line": index,
                                      "raw": stream.buf[stream.pos:stream.pos + MAX_RAW_CHARS]})
                    return
    except _Broken as broken:
        line = stream.line_at(max(stream.pos, stream.line_pos))
        yield _broken_file(path, f"element {index} (text line {line})" if in_array else f"text line {line}",
                           broken.exc, {"line": index if in_array else line}, records)


def _first_line_in(source: _Source, head: bytes) -> bytes:
    """``head`` extended until it holds its first newline or the whole file."""
    parts = [head]
    try:
        while b"\n" not in parts[-1] and not source.ended:
            parts.append(source.read())
    except _Broken:
        pass  # the source raises it again on the next read, where the break is reported
    return b"".join(parts)


def iter_json(path: str) -> Iterator[dict | Unreadable]:
    """Records of a JSON file, whatever its JSON suffix says: JSON lines, a JSON array of
    objects (element index as ``line``; non-object elements are ``not_an_object``), or one
    object (or several concatenated / pretty-printed ones). The layout is decided by content.
    """
    with contextlib.ExitStack() as stack:
        try:
            source, head = _open_with_head(path, stack)
        except Exception as exc:  # noqa: BLE001
            yield _unreadable_file(path, exc, {"line": 1})
            return
        if not _is_json_name(path) and head.lstrip(b"\xef\xbb\xbf" + _WS.encode())[:1] == b"[":
            head = _first_line_in(source, head)  # needed to tell an array from a bad first line
        layout = _layout(path, head, source.ended)
        if layout == "lines":
            yield from _iter_lines(path, source, head)
        else:
            yield from _iter_json_document(path, source, head, layout)


# --- reading Parquet ------------------------------------------------------------------

def _type_depth(type_: pa.DataType) -> int:
    if pa.types.is_struct(type_):
        return 1 + max((_type_depth(f.type) for f in type_), default=0)
    if pa.types.is_list(type_) or pa.types.is_large_list(type_) or pa.types.is_fixed_size_list(type_):
        return 1 + _type_depth(type_.value_type)
    if pa.types.is_map(type_):
        return 1 + max(_type_depth(type_.key_type), _type_depth(type_.item_type))
    return 0


def iter_parquet(path: str, batch_size: int = 1024) -> Iterator[dict | Unreadable]:
    """Records of a Parquet file, read row group by row group in record batches.

    A file whose footer cannot be read (truncated, not Parquet) is one ``unreadable_file``;
    a row group that breaks keeps its rows read before the break and adds one
    ``broken_file`` naming the row group and row, then the next row group is read.
    """
    with contextlib.ExitStack() as stack:
        try:
            handle = stack.enter_context(fsspec.open(path, "rb"))
            parquet = pq.ParquetFile(handle)
            groups = [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)]
            deep = 1 + max((_type_depth(f.type) for f in parquet.schema_arrow), default=0) > MAX_NESTING
        except Exception as exc:  # noqa: BLE001
            yield _unreadable_file(path, exc, {"row_group": None, "row": 0})
            return
        first, records = 0, 0
        for group, rows in enumerate(groups):
            done = 0
            try:
                for batch in parquet.iter_batches(batch_size=batch_size, row_groups=[group]):
                    for record in batch.to_pylist():
                        where = {"source": path, "row_group": group, "row": first + done}
                        done += 1
                        if deep and too_deeply_nested(record):
                            yield Unreadable("too_deeply_nested", f"{path}: row {where['row']} (row group {group}): "
                                             f"objects/lists nest deeper than {MAX_NESTING} levels", where)
                            continue
                        records += 1
                        yield record
            except Exception as exc:  # noqa: BLE001 - a corrupt page or a vanished file
                yield _broken_file(path, f"row group {group}, row {first + done} ({rows - done} row(s) of the "
                                   "group not read)", exc, {"row_group": group, "row": first + done}, records)
            first += rows


def iter_records(path: str) -> Iterator[dict | Unreadable]:
    """Records of one JSON, JSONL or Parquet file, or ``Unreadable`` - never an exception."""
    reader = iter_parquet if input_format(path) == "parquet" else iter_json
    try:
        yield from reader(path)
    except Exception as exc:  # noqa: BLE001 - a last resort; the readers report breaks themselves
        yield Unreadable("unreadable_file", f"{path}: {_describe(exc)}", {"source": path})


def infer_schema(paths: list[str], force: dict[str, pa.DataType] | None = None) -> pa.Schema:
    """One schema for all inputs (``transforms.io.infer``): every field of every JSON record and
    every Parquet footer, types widened where lossless; ``force`` fixes the types of the fields it names.

    Reads each JSON input once in full (Parquet: only the footer). Values that still do not fit
    are rejected by the validator when written, so nothing here stops the run; ``InputError``
    only when no input holds a record.
    """
    inference = SchemaInference()
    for path in paths:
        if input_format(path) == "parquet":
            try:
                with fsspec.open(path, "rb") as handle:
                    metadata = pq.ParquetFile(handle).metadata
                    inference.add_arrow_schema(metadata.schema.to_arrow_schema(), metadata.num_rows)
            except Exception:  # noqa: BLE001 - the read stage turns this file into a reject
                pass
            continue
        for item in iter_records(path):
            if isinstance(item, dict):
                inference.add(item)
    if not inference.sources:
        raise InputError(f"{paths[0] if paths else 'input'}: no readable records to infer a schema from")
    return inference.schema(force)

"""Search/Replace blocks: build them from a before/after pair, replay them, render and parse them.

A ``Block(path, search, replace)`` says: in ``path``, replace the only occurrence of ``search``
with ``replace``. Blocks of a PR are applied in order; a SEARCH must occur exactly once (as a
substring, overlapping occurrences counted) in the file as it is *when the block is applied*.
An empty SEARCH creates a file, and is only valid when the file is absent or empty.

Decisions (``make_blocks``):

* Text is handled as exact str, never normalized: CRLF stays ``\\r\\n`` inside lines. Lines
  are split on ``\\n`` only (as git does) and keep their ending, so a lone ``\\r`` is part of
  a line and a file without a final newline has a last line without ``\\n``. Adding or
  removing the final newline is an edit of the last line like any other, and a change of line
  endings changes every line it touches.
* Identical files give no blocks. A new file (empty before) is one block with an empty SEARCH
  and the whole file as REPLACE.
* A deleted file (empty after) is one block whose SEARCH is the whole before-file and whose
  REPLACE is empty. Replaying it leaves ``''``, which is exactly the ``after`` the edit schema
  stores for a deletion; the file status (``deleted``) travels in the record, and
  ``apply_blocks_to_directory(..., remove_emptied=True)`` removes such files on disk.
* A rename is an operation of its own: ``Block(new, "", "", rename_from=old)``
  (``rename_block(old, new)``) moves the file ``old`` to ``new``, contents unchanged; the
  blocks of a renamed-and-edited file follow it and target the new path (the old contents
  diffed against the new ones). A pure move is the operation alone. Applying it needs ``old``
  to exist and ``new`` to be absent (``file_not_found`` / ``file_exists``); both paths go
  through the same checks as any block path.
* Edit spans are the non-equal opcodes of ``difflib.SequenceMatcher(autojunk=False)`` on the
  lines, after cutting off the common head and tail (the matcher is quadratic on repeated
  lines; thousands of identical lines take seconds). Each span gets the fewest context lines (above + below) that make its SEARCH unique
  in the file at application time; ties go to the most balanced split, then to more context
  above. A pure insertion gets at least one context line (an empty SEARCH would mean "create").
  Context never touches a neighbouring span: when it would have to (the only unique windows
  reach the previous block or the next span), the windows are merged (into the previous block
  when it is nearer than the next span) and the merged window's context is searched again.
  Merging with the previous block always succeeds (the merged window contains that block's
  unique SEARCH), so the construction terminates, at worst with the whole file as SEARCH.
* Because uniqueness is checked against the file as it will be at application time, replay
  reproduces ``after`` by construction; ``roundtrip_check`` still verifies it, byte for byte.

Rendering (``render_blocks`` / ``parse_blocks``) uses the Agentless / Aider format::

    ```python
    ### path/to/file.py
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE
    ```

A rename operation is its own fenced block holding one line, and the blocks of the moved file
come after it under the new path::

    ```python
    ### RENAME old/path.py -> new/path.py
    ```

The line reads ``### RENAME <old> -> <new>``: ``### `` as for a path, the word ``RENAME``, one
space, the old path, `` -> ``, the new path, nothing else. Paths that contain `` -> `` or
start with ``RENAME `` are refused (``bad_path``), so the line never reads two ways. After
it the new path is the current path, like a ``### path`` line.

A SEARCH or REPLACE text that does not end with a newline is written followed by a newline
and the line ``\\ No newline at end of file`` (git's marker); the parser removes both, so
``parse_blocks(render_blocks(b)) == b`` exactly. Texts containing a line that reads as a
marker cannot round-trip and are refused by ``render_blocks`` (``unrenderable_reason``).
"""
from __future__ import annotations

import contextlib
import bisect
import collections
import difflib
import errno
import functools
import hashlib
import itertools
import os
import re
import secrets
import stat
import threading
from typing import Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from transforms.code.languages import fence_name, language_of as default_language_of
from transforms.records import Rejected

SEARCH_MARKER = "<<<<<<< SEARCH"
RENAME_PREFIX = "### RENAME "
RENAME_ARROW = " -> "
DIVIDER_MARKER = "======="
REPLACE_MARKER = ">>>>>>> REPLACE"
NO_NEWLINE_MARKER = "\\ No newline at end of file"
BLOCK_MARKERS = (SEARCH_MARKER, DIVIDER_MARKER, REPLACE_MARKER)

APPLY_ERROR_REASONS = (
    "search_not_found", "search_ambiguous", "file_not_found", "file_exists",
    "path_escape", "invalid_path", "inside_git",
    # found on disk by apply_blocks_to_directory
    "outside_root", "not_a_regular_file", "hard_link", "symlink_loop", "parent_not_a_directory",
    "name_too_long", "changed_on_disk",
    # a rename whose source or target path goes through a symlink (the link, not a file, would move)
    "rename_through_symlink",
)


class Block(NamedTuple):
    """One Search/Replace edit of one file, or (``rename_from`` set) the move of ``rename_from`` to ``path``."""

    path: str
    search: str
    replace: str
    rename_from: str | None = None

    @property
    def is_rename(self) -> bool:
        return self.rename_from is not None


def rename_block(old_path: str, new_path: str) -> Block:
    """The operation that moves ``old_path`` to ``new_path`` (contents unchanged)."""
    return Block(new_path, "", "", old_path)


def block_from_mapping(block) -> Block:
    """A ``Block`` from a block dict of a sample (``path``, ``search``, ``replace``, ``rename_from``) or a Block."""
    if isinstance(block, Block):
        return block
    return Block(block["path"], block["search"], block["replace"], block.get("rename_from"))


def block_parts(block: Block) -> tuple[str, ...]:
    """The strings that identify a block (for content ids): path, SEARCH, REPLACE; a rename
    adds a tag and its old path, so an edit's parts are what they always were."""
    if block.is_rename:
        return (block.path, block.search, block.replace, "\x00rename_from", block.rename_from)
    return (block.path, block.search, block.replace)


class ApplyError(ValueError):
    """A block could not be applied; ``reason`` is one of ``APPLY_ERROR_REASONS``."""

    def __init__(self, path: str, reason: str, detail: str = ""):
        self.path = path
        self.reason = reason
        self.detail = detail
        super().__init__(f"{path!r}: {reason}" + (f" ({detail})" if detail else ""))


class BlockParseError(ValueError):
    """Text meant to hold Search/Replace blocks has a malformed block."""

    def __init__(self, line_number: int, reason: str):
        self.line_number = line_number
        self.reason = reason
        super().__init__(f"line {line_number}: {reason}")


# --------------------------------------------------------------------------- text helpers

def split_lines(text: str) -> list[str]:
    """Lines split on ``\\n`` with their endings kept (``''.join`` gives ``text`` back)."""
    pieces = text.split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return lines


def count_occurrences(content: str, search: str, limit: int = 2) -> int:
    """Occurrences of a non-empty ``search`` in ``content``, overlapping ones included, capped at ``limit``."""
    count = 0
    position = content.find(search)
    while position != -1 and count < limit:
        count += 1
        position = content.find(search, position + 1)
    return count


# --------------------------------------------------------------------------- building blocks

class _Span(NamedTuple):
    """A non-equal opcode: before lines [i1, i2) become after lines [j1, j2)."""

    i1: int
    i2: int
    j1: int
    j2: int


class _Window(NamedTuple):
    """Spans ``first..last`` (indexes into the span list) plus context lines around them."""

    first: int
    last: int
    above: int
    below: int


# Line diff: below this many cells (before lines x after lines) the middle part goes straight to
# SequenceMatcher(autojunk=False), as it always did; larger ones are split at lines that occur once
# on each side first (patience diff), because the matcher is quadratic there (8,000 lines with every
# other one edited: 8 s; 50,000: past 900 s).
EXACT_DIFF_CELLS = 250_000
# A range without such anchors still goes to the matcher when this many matcher steps (the before
# lines' occurrences in the after range) suffice; otherwise it is one replaced region.
DIFF_WORK_LIMIT = 1_000_000


def _longest_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of ``pairs`` (sorted by first item) whose second items increase."""
    tails: list[int] = []  # tails[k]: second item ending the best run of length k + 1
    tail_index: list[int] = []
    previous = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            tail_index.append(index)
        else:
            tails[k], tail_index[k] = j, index
        previous[index] = tail_index[k - 1] if k else -1
    run, index = [], tail_index[-1] if tail_index else -1
    while index != -1:
        run.append(pairs[index])
        index = previous[index]
    return run[::-1]


def _unique_anchors(a: Sequence[str], alo: int, ahi: int, b: Sequence[str], blo: int, bhi: int) -> list[tuple[int, int]]:
    """(i, j) of lines that occur exactly once in a[alo:ahi] and once in b[blo:bhi], in order."""
    in_a: dict[str, int] = {}
    for i in range(alo, ahi):
        in_a[a[i]] = -1 if a[i] in in_a else i
    in_b: dict[str, int] = {}
    for j in range(blo, bhi):
        line = b[j]
        if in_a.get(line, -1) >= 0:
            in_b[line] = -1 if line in in_b else j
    pairs = sorted((in_a[line], j) for line, j in in_b.items() if j >= 0)
    return _longest_increasing(pairs)


def _matcher_work(a: Sequence[str], b: Sequence[str]) -> int:
    """Steps of one SequenceMatcher pass: how often each line of ``a`` occurs in ``b``."""
    counts: dict[str, int] = {}
    for line in b:
        counts[line] = counts.get(line, 0) + 1
    return sum(counts.get(line, 0) for line in a)


def _matching_runs(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int, int]]:
    """(i, j, size) runs of equal lines of ``a`` and ``b``, increasing in both (a valid diff)."""
    runs: list[tuple[int, int, int]] = []
    pending = [(0, len(a), 0, len(b))]
    while pending:
        alo, ahi, blo, bhi = pending.pop()
        start = alo
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            alo, blo = alo + 1, blo + 1
        if alo > start:
            runs.append((start, blo - (alo - start), alo - start))
        end = ahi
        while ahi > alo and bhi > blo and a[ahi - 1] == b[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
        if end > ahi:
            runs.append((ahi, bhi, end - ahi))
        if alo == ahi or blo == bhi:
            continue
        if (ahi - alo) * (bhi - blo) > EXACT_DIFF_CELLS:
            anchors = _unique_anchors(a, alo, ahi, b, blo, bhi)
            if anchors:
                bounds = [(alo - 1, blo - 1)] + anchors + [(ahi, bhi)]
                for (i1, j1), (i2, j2) in zip(bounds, bounds[1:]):
                    if i2 < ahi:
                        runs.append((i2, j2, 1))
                    pending.append((i1 + 1, i2, j1 + 1, j2))
                continue
            if _matcher_work(a[alo:ahi], b[blo:bhi]) > DIFF_WORK_LIMIT:
                continue  # one replaced region
        matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
        runs.extend((alo + i, blo + j, size) for i, j, size in matcher.get_matching_blocks() if size)
    runs.sort()
    return runs


def changed_spans(before_lines: Sequence[str], after_lines: Sequence[str]) -> list[tuple[int, int, int, int]]:
    """``(i1, i2, j1, j2)`` of every changed region of the line diff, as absolute line indices.

    The common head and tail are cut off first; a small middle part gets the non-equal opcodes of
    ``difflib.SequenceMatcher(autojunk=False)``, a large one is split at unique common lines first
    (``_matching_runs``), so the cost stays near-linear on large and repetitive files.
    """
    spans = []
    i = j = 0
    for i2, j2, size in _matching_runs(before_lines, after_lines) + [(len(before_lines), len(after_lines), 0)]:
        if i2 > i or j2 > j:
            spans.append((i, i2, j, j2))
        i, j = i2 + size, j2 + size
    return spans


# (digest of before, digest of after) -> changed_spans: the edit step and the SFT step (another
# stage, the same worker) diff the same file versions. Digests, so the cache holds no text.
TEXT_SPANS_CACHE_SIZE = 2048
_text_spans: collections.OrderedDict[tuple[bytes, bytes], tuple[tuple[int, int, int, int], ...]] = \
    collections.OrderedDict()
_text_spans_lock = threading.Lock()


def _text_digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def text_changed_spans(before: str, after: str) -> tuple[tuple[int, int, int, int], ...]:
    """``changed_spans`` of the lines (``split_lines``) of two texts, computed once per process
    for a pair of versions."""
    key = (_text_digest(before), _text_digest(after))
    with _text_spans_lock:
        spans = _text_spans.get(key)
        if spans is not None:
            _text_spans.move_to_end(key)
            return spans
    spans = tuple(changed_spans(split_lines(before), split_lines(after))) if before != after else ()
    with _text_spans_lock:
        _text_spans[key] = spans
        while len(_text_spans) > TEXT_SPANS_CACHE_SIZE:
            _text_spans.popitem(last=False)
    return spans


def _edit_spans(before_lines: list[str], after_lines: list[str]) -> list[_Span]:
    return [_Span(*span) for span in changed_spans(before_lines, after_lines)]


def _smallest_true(is_unique: Callable[[int], bool], low: int, high: int) -> int:
    """Smallest n in [low, high] with ``is_unique(n)``, given that ``is_unique(high)`` holds and the
    predicate is monotone (a longer window around a unique one is unique)."""
    probe, step, last_false = low, 1, low - 1
    while probe < high and not is_unique(probe):  # gallop: typical answers are 0-3 lines
        last_false = probe
        probe = min(high, probe + step)
        step *= 2
    if probe >= high:
        probe = high
    low, high = last_false + 1, probe
    while low < high:
        middle = (low + high) // 2
        if is_unique(middle):
            high = middle
        else:
            low = middle + 1
    return high


# Context searched line by line for the fewest lines; past this many lines a side the window grows
# evenly on both sides instead (a larger unique window, found in O(log n) checks).
CONTEXT_CAP = 32
# Candidate positions checked per window through the line index before counting in the text.
_INDEX_BUDGET = 2000


class _CurrentFile:
    """Occurrences of before-line windows in the file as it is when a block is applied,
    ``after[:pa] + before[pb:]``, without rebuilding that text per block.

    Lines are interned to ids; a window is looked for only where its rarest line occurs (found
    with numpy, per line id when first needed) and compared as a slice of ids, so a check costs
    the occurrences of the window's rarest line, not the file's length. Counts are exact
    substring counts (overlapping ones included): a window of whole lines ending with a newline
    can only match with its first line as the *end* of a line of the file and the others as
    whole lines. Windows whose last line has no newline, and windows whose rarest line is too
    common, are counted in the text itself (built once per state).
    """

    def __init__(self, before_lines: Sequence[str], after_lines: Sequence[str]):
        self.before, self.after = before_lines, after_lines
        # ids in order of first occurrence, before-lines first (C-level dict/map work, not a loop)
        self.lines = list(dict.fromkeys(itertools.chain(before_lines, after_lines)))
        ids = dict(zip(self.lines, itertools.count()))
        self.b_ids = list(map(ids.__getitem__, before_lines))
        self.a_ids = list(map(ids.__getitem__, after_lines))
        self._b_array = np.array(self.b_ids, dtype=np.int64)
        self._a_array = np.array(self.a_ids, dtype=np.int64)
        self._totals = (np.bincount(self._b_array, minlength=len(self.lines))
                        + np.bincount(self._a_array, minlength=len(self.lines)))  # id -> lines in both files
        self._where: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id -> (before, after) positions
        self._reversed: tuple[list[int], list[str]] | None = None  # built on the first one-line count
        self.pa = self.pb = 0
        self._text: str | None = None

    @property
    def by_reversed(self) -> list[int]:
        """Line ids sorted by their reversed text (lines that end with a given line are adjacent)."""
        return self._reversed_index()[0]

    @property
    def reversed_keys(self) -> list[str]:
        return self._reversed_index()[1]

    def _reversed_index(self) -> tuple[list[int], list[str]]:
        if self._reversed is None:
            order = sorted(range(len(self.lines)), key=lambda x: self.lines[x][::-1])
            self._reversed = order, [self.lines[x][::-1] for x in order]
        return self._reversed

    def at(self, pa: int, pb: int) -> None:
        """Look at the file with the first ``pa`` after lines in place of the first ``pb`` before lines."""
        if (pa, pb) != (self.pa, self.pb):
            self.pa, self.pb, self._text = pa, pb, None

    def _ids(self, lo: int, hi: int) -> list[int]:
        """Ids of current lines [lo, hi)."""
        pa, pb = self.pa, self.pb
        if hi <= pa:
            return self.a_ids[lo:hi]
        if lo >= pa:
            return self.b_ids[pb + lo - pa:pb + hi - pa]
        return self.a_ids[lo:pa] + self.b_ids[pb:pb + hi - pa]

    def _line(self, k: int) -> str:
        return self.after[k] if k < self.pa else self.before[self.pb + k - self.pa]

    def _positions_of(self, x: int) -> tuple[np.ndarray, np.ndarray]:
        where = self._where.get(x)
        if where is None:
            where = self._where[x] = (np.flatnonzero(self._b_array == x), np.flatnonzero(self._a_array == x))
        return where

    def _positions(self, x: int) -> Iterable[int]:
        """Current line numbers holding line id ``x``, in order."""
        before_positions, after_positions = self._positions_of(x)
        yield from after_positions[:int(np.searchsorted(after_positions, self.pa))].tolist()
        shift = self.pa - self.pb
        for i in before_positions[int(np.searchsorted(before_positions, self.pb)):].tolist():
            yield i + shift

    def _occurrences(self, x: int) -> int:
        before_positions, after_positions = self._positions_of(x)
        return (int(np.searchsorted(after_positions, self.pa))
                + len(before_positions) - int(np.searchsorted(before_positions, self.pb)))

    def _count_in_text(self, s: int, e: int) -> int:
        if self._text is None:
            self._text = "".join(self.after[:self.pa]) + "".join(self.before[self.pb:])
        return count_occurrences(self._text, "".join(self.before[s:e]))

    def count(self, s: int, e: int) -> int:
        """Occurrences (capped at 2) of before lines [s, e) (with s >= pb) in the current file."""
        first = self.before[s]
        if not self.before[e - 1].endswith("\n"):
            return self._count_in_text(s, e)
        if e - s == 1:  # lines that end with this line
            key = first[::-1]
            k = bisect.bisect_left(self.reversed_keys, key)
            found = 0
            for examined, k in enumerate(range(k, len(self.reversed_keys))):
                if not self.reversed_keys[k].startswith(key):
                    return found
                if examined > _INDEX_BUDGET:
                    return self._count_in_text(s, e)
                found += self._occurrences(self.by_reversed[k])
                if found >= 2:
                    return 2
            return found
        offset = int(np.argmin(self._totals[self._b_array[s + 1:e]]))  # the rarest line after the first
        target, size = self.b_ids[s + 1:e], e - s
        last = target[-1]
        length = self.pa + len(self.before) - self.pb
        found = 0
        for examined, position in enumerate(self._positions(self.b_ids[s + 1 + offset])):
            if examined > _INDEX_BUDGET:
                return self._count_in_text(s, e)
            k = position - offset - 1  # where the window's first line would be
            if k < 0 or k + size > length:
                continue
            if (self._ids(k + size - 1, k + size)[0] == last and self._ids(k + 1, k + size) == target
                    and self._line(k).endswith(first)):
                found += 1
                if found == 2:
                    return 2
        return found


def _shortest_unique_context(
    current: _CurrentFile, top: int, bottom: int, max_above: int, max_below: int,
) -> tuple[int, int] | None:
    """(above, below) context sizes around before lines [top, bottom) with the fewest lines in total
    whose text occurs exactly once in the current file; None when no window within the limits does.

    Up to ``CONTEXT_CAP`` lines a side: for a fixed ``above`` the smallest unique ``below`` is found
    by galloping/binary search, and it can only shrink as ``above`` grows, so the search costs
    O(best total x log) checks. Beyond the cap the window grows by the same number of lines on
    both sides (clipped at the limits) until it is unique.
    """
    def is_unique(above: int, below: int) -> bool:
        return current.count(top - above, bottom + below) == 1

    found = _capped_context(is_unique, bottom > top, min(max_above, CONTEXT_CAP), min(max_below, CONTEXT_CAP))
    if found is not None or (max_above <= CONTEXT_CAP and max_below <= CONTEXT_CAP):
        return found
    if not is_unique(max_above, max_below):
        return None
    even = _smallest_true(lambda t: is_unique(min(t, max_above), min(t, max_below)),
                          CONTEXT_CAP + 1, max(max_above, max_below))
    return min(even, max_above), min(even, max_below)


def _capped_context(is_unique: Callable[[int, int], bool], has_core: bool, max_above: int,
                    max_below: int) -> tuple[int, int] | None:
    candidates: list[tuple[int, int]] = []
    best_total: int | None = None
    below_limit = max_below
    min_context = 0 if has_core else 1  # a pure insertion needs an anchor line
    for above in range(max_above + 1):
        if best_total is not None and above > best_total:
            break
        high = below_limit if best_total is None else min(below_limit, best_total - above)
        low = max(0, min_context - above)
        if low > high:
            continue
        if not is_unique(above, high):
            continue
        below = _smallest_true(lambda below, above=above: is_unique(above, below), low, high)
        below_limit = below
        total = above + below
        if best_total is None or total < best_total:
            best_total, candidates = total, []
        candidates.append((above, below))
    if not candidates:
        return None
    return min(candidates, key=lambda ab: (abs(ab[0] - ab[1]), -ab[0]))


def _window_ranges(window: _Window, spans: Sequence[_Span]) -> tuple[int, int, int, int]:
    """(before start, before end, after start, after end) line ranges of a window."""
    first, last = spans[window.first], spans[window.last]
    return first.i1 - window.above, last.i2 + window.below, first.j1 - window.above, last.j2 + window.below


def _plan_windows(before_lines: list[str], after_lines: list[str], spans: list[_Span]) -> list[_Window]:
    windows: list[_Window] = []
    current = _CurrentFile(before_lines, after_lines)
    first = 0
    while first < len(spans):
        last = first
        while True:
            if windows:
                _, prev_before_end, _, prev_after_end = _window_ranges(windows[-1], spans)
            else:
                prev_before_end = prev_after_end = 0
            # The file when this block is applied: earlier blocks done, the rest still 'before'.
            current.at(prev_after_end, prev_before_end)
            top, bottom = spans[first].i1, spans[last].i2
            gap_above = top - prev_before_end
            has_next = last + 1 < len(spans)
            gap_below = (spans[last + 1].i1 if has_next else len(before_lines)) - bottom
            # Context may reach the file's start/end, but must stay clear of neighbouring edits.
            max_above = gap_above - 1 if windows else gap_above
            max_below = gap_below - 1 if has_next else gap_below
            context = None
            if max_above >= 0 and max_below >= 0:
                context = _shortest_unique_context(current, top, bottom, max_above, max_below)
            if context is not None:
                windows.append(_Window(first, last, *context))
                break
            if windows and (not has_next or gap_above <= gap_below):
                # Merge into the previous block and search its context again: the merged core
                # may need less, and (previous.above, 0) is a unique fallback because it contains
                # the previous block's SEARCH, so the next round always finds a window.
                first = windows.pop().first
                continue
            if not has_next:  # unreachable: with no neighbours the whole file is a unique window
                raise AssertionError("no unique window for a span")
            last += 1
        first = last + 1
    return windows


def make_blocks(before: str, after: str, path: str,
                spans: Sequence[tuple[int, int, int, int]] | None = None) -> list[Block]:
    """Search/Replace blocks turning ``before`` into ``after`` (see the module notes for the rules).

    ``spans``: the ``changed_spans`` of the two files' lines when the caller has them already.
    """
    if before == after:
        return []
    if not before:
        return [Block(path, "", after)]
    before_lines, after_lines = split_lines(before), split_lines(after)
    spans = [_Span(*span) for span in spans] if spans is not None else _edit_spans(before_lines, after_lines)
    blocks = []
    for window in _plan_windows(before_lines, after_lines, spans):
        i1, i2, j1, j2 = _window_ranges(window, spans)
        blocks.append(Block(path, "".join(before_lines[i1:i2]), "".join(after_lines[j1:j2])))
    return blocks


# --------------------------------------------------------------------------- applying blocks

_DRIVE = re.compile(r"^[A-Za-z]:")
# Code points HFS+ ignores in names, so ".g\u200cit" is ".git" on macOS (git's is_hfs_dotgit).
_HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def _is_git_name(part: str) -> bool:
    """Whether a path component names ``.git`` on some filesystem: any case (macOS, Windows),
    HFS+-ignored code points, trailing dots/spaces or an NTFS stream suffix (Windows drops
    them), or the NTFS short name ``git~1``."""
    name = _HFS_IGNORED.sub("", part).split(":")[0].rstrip(". ").lower()
    return name in (".git", "git~1")


def safe_relative_path(path: str) -> str:
    """``path`` as a clean '/'-separated relative path, or ``ApplyError`` when it is hostile.

    Refused as ``path_escape``: absolute paths, drive letters, any ``..`` component, any
    backslash (a Windows separator, so ``..\\x`` tricks). Refused as ``inside_git``: any
    component that names ``.git`` on some filesystem (``_is_git_name``: ``.GIT``, ``.git.``, ...;
    writing hooks or config would run code). Refused as ``invalid_path``: empty paths, control
    characters (NUL included), paths naming a directory. ``.`` components and repeated slashes
    are dropped. This is the textual check; ``apply_blocks_to_directory`` also checks where the
    path resolves on disk.
    """
    if not isinstance(path, str) or not path:
        raise ApplyError(str(path), "invalid_path", "empty path")
    if any(ord(ch) < 32 or ch == "\x7f" for ch in path):
        raise ApplyError(path, "invalid_path", "control character in path")
    if "\\" in path:
        raise ApplyError(path, "path_escape", "backslash in path")
    if path.startswith("/") or _DRIVE.match(path):
        raise ApplyError(path, "path_escape", "absolute path")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise ApplyError(path, "path_escape", "'..' component")
    if any(_is_git_name(part) for part in parts):
        raise ApplyError(path, "inside_git", "a '.git' component")
    if not parts or path.endswith("/"):
        raise ApplyError(path, "invalid_path", "names a directory")
    return "/".join(parts)


def apply_block(content: str | None, block: Block, path: str | None = None) -> str:
    """The file after one block; ``content`` None means the file does not exist."""
    path = block.path if path is None else path
    if block.search == "":
        if content:
            raise ApplyError(path, "file_exists", "empty SEARCH on a non-empty file")
        return block.replace
    if content is None:
        raise ApplyError(path, "file_not_found")
    found = count_occurrences(content, block.search)
    if found == 0:
        raise ApplyError(path, "search_not_found")
    if found > 1:
        raise ApplyError(path, "search_ambiguous")
    position = content.find(block.search)
    return content[:position] + block.replace + content[position + len(block.search):]


def apply_blocks(files: Mapping[str, str], blocks: Iterable[Block]) -> dict[str, str]:
    """Apply blocks in order to ``files`` (path -> contents); a new dict keyed by clean paths.
    A rename moves an entry (its source must be a key, its target must not).

    Raises ``ApplyError`` for the first block that cannot be applied; its ``detail`` names the
    block's index.
    """
    result: dict[str, str] = {}
    for path, content in files.items():
        result[safe_relative_path(path)] = content
    for index, block in enumerate(blocks):
        path = safe_relative_path(block.path)
        if block.is_rename:
            source = safe_relative_path(block.rename_from)
            if source not in result:
                raise ApplyError(source, "file_not_found", f"block {index}: rename source")
            if path in result:
                raise ApplyError(path, "file_exists", f"block {index}: rename target")
            result[path] = result.pop(source)
            continue
        try:
            result[path] = apply_block(result.get(path), block, path)
        except ApplyError as error:
            raise ApplyError(path, error.reason, f"block {index}" + (f": {error.detail}" if error.detail else "")) from None
    return result


# --------------------------------------------------------------------------- applying blocks on disk

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

# errno of a failed lstat -> ApplyError reason (ENOENT/ENOTDIR mean "absent": the walk up to the
# nearest existing directory then says which component is in the way).
_ERRNO_REASONS = {errno.ELOOP: "symlink_loop", errno.ENAMETOOLONG: "name_too_long"}


class _Root(NamedTuple):
    """The directory blocks are applied under, with what the checks need to know about it."""

    real: str              # its real path
    git_dir: str | None    # real path of the repository data ROOT/.git leads to, if any
    name_max: int
    path_max: int


class _Target(NamedTuple):
    """Where a block path lands on disk (``_inspect_target``)."""

    relative: str                 # the resolved path under the root, '/'-separated
    real: str                     # the same, absolute
    found: os.stat_result | None  # lstat of the regular file there, None when absent
    anchor: str                   # nearest existing directory on the way to the file
    anchor_id: tuple[int, int]    # its (st_dev, st_ino), checked again when writing
    missing: tuple[str, ...]      # directories to create under ``anchor``, outermost first


class _Change(NamedTuple):
    """One file to write (``after`` bytes) or remove (``after`` None); ``before`` None if absent;
    ``mode``: permission bits for a new file (a rename target keeps its source's), else None."""

    target: _Target
    before: bytes | None
    after: bytes | None
    mode: int | None = None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISLNK, "symlink"), (stat.S_ISREG, "regular file")):
        if test(mode):
            return name
    return "special file"


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    """Same inode, size and mtime: the file has not been replaced or edited in between."""
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns) == (b.st_dev, b.st_ino, b.st_size, b.st_mtime_ns)


def _lstat(path: str, relative: str) -> os.stat_result | None:
    """``os.lstat``, None when ``path`` is absent; a loop or an overlong name is an ``ApplyError``."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        if error.errno in _ERRNO_REASONS:
            raise ApplyError(relative, _ERRNO_REASONS[error.errno], error.strerror) from None
        raise


def _path_limit(path: str, name: str, default: int) -> int:
    try:
        value = os.pathconf(path, name)
    except (AttributeError, ValueError, OSError):
        return default
    return value if value > 0 else default


def _git_dir(real_root: str) -> str | None:
    """Where ROOT/.git leads: usually ROOT/.git itself, but a symlink or a ``gitdir: PATH`` file
    (``git init --separate-git-dir``, submodules, worktrees) may lead to a directory with
    another name, possibly inside ROOT."""
    real = os.path.realpath(os.path.join(real_root, ".git"))
    try:
        info = os.stat(real)
    except OSError:
        return None
    if stat.S_ISDIR(info.st_mode):
        return real
    if not stat.S_ISREG(info.st_mode):
        return None
    fd = os.open(real, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        line = handle.readline(4096).decode("utf-8", "replace").strip()
    if not line.startswith("gitdir:"):
        return None
    return os.path.realpath(os.path.join(real_root, line[len("gitdir:"):].strip()))


def _root(root: str | os.PathLike) -> _Root:
    real = os.path.realpath(root)
    if not os.path.isdir(real):
        raise NotADirectoryError(real)
    return _Root(real, _git_dir(real), _path_limit(real, "PC_NAME_MAX", 255), _path_limit(real, "PC_PATH_MAX", 4096))


def _is_inside(directory: str, path: str) -> bool:
    return os.path.commonpath([directory, path]) == directory


def _inspect_target(root: _Root, relative: str) -> _Target:
    """Resolve a clean block path under the root and check that the file may be written there.

    Symlinks and ``..`` in links are followed (``os.path.realpath``). Refused: a resolved path
    outside the root (``outside_root``); one with a ``.git`` component or inside the repository
    data ROOT/.git leads to (``inside_git``); a component over NAME_MAX bytes or a path over
    PATH_MAX (``name_too_long``); a symlink loop (``symlink_loop``); an existing target that is not a regular file (``not_a_regular_file``:
    directory, FIFO, socket, device) or has more than one hard link (``hard_link``: its other
    names may be anywhere, outside the root too); a nearest existing ancestor that is not a
    directory (``parent_not_a_directory``). Only lstat is used: nothing is opened here.
    """
    real_root = root.real
    real = os.path.realpath(os.path.join(real_root, *relative.split("/")))
    if not _is_inside(real_root, real):
        raise ApplyError(relative, "outside_root", f"resolves to {real!r}")
    if real == real_root:
        raise ApplyError(relative, "not_a_regular_file", "resolves to the root directory")
    parts = os.path.relpath(real, real_root).split(os.sep)
    resolved = "/".join(parts)
    if any(_is_git_name(part) for part in parts) or (root.git_dir is not None and _is_inside(root.git_dir, real)):
        raise ApplyError(relative, "inside_git", f"resolves to {resolved!r}")
    longest = max(len(os.fsencode(part)) for part in parts)
    if longest > root.name_max:
        raise ApplyError(relative, "name_too_long", f"a component is {longest} bytes, NAME_MAX is {root.name_max}")
    if len(os.fsencode(real)) >= root.path_max:
        raise ApplyError(relative, "name_too_long", f"{len(os.fsencode(real))} bytes, PATH_MAX is {root.path_max}")
    found = _lstat(real, relative)
    if found is not None:
        if stat.S_ISLNK(found.st_mode):  # realpath leaves a link unresolved only when it loops
            raise ApplyError(relative, "symlink_loop", f"{resolved!r} is a symlink loop")
        if not stat.S_ISREG(found.st_mode):
            raise ApplyError(relative, "not_a_regular_file", f"{resolved!r} is a {_kind(found.st_mode)}")
        if found.st_nlink > 1:
            raise ApplyError(relative, "hard_link", f"{resolved!r} has {found.st_nlink} hard links")
    anchor, missing = os.path.dirname(real), []
    anchor_stat = _lstat(anchor, relative)
    while anchor_stat is None and anchor != real_root:
        missing.insert(0, os.path.basename(anchor))
        anchor = os.path.dirname(anchor)
        anchor_stat = _lstat(anchor, relative)
    if anchor_stat is None:
        raise FileNotFoundError(errno.ENOENT, "root directory vanished", real_root)
    if stat.S_ISLNK(anchor_stat.st_mode):
        raise ApplyError(relative, "symlink_loop", f"{os.path.relpath(anchor, real_root)!r} is a symlink loop")
    if not stat.S_ISDIR(anchor_stat.st_mode):
        raise ApplyError(relative, "parent_not_a_directory",
                         f"{os.path.relpath(anchor, real_root)!r} is a {_kind(anchor_stat.st_mode)}")
    return _Target(resolved, real, found, anchor, (anchor_stat.st_dev, anchor_stat.st_ino), tuple(missing))


def _read_target(target: _Target) -> bytes:
    """The bytes of the regular file ``target.found``; opened with O_NOFOLLOW|O_NONBLOCK and checked
    with fstat to be that same file, so a swapped-in symlink or FIFO is never followed or waited on."""
    fd = os.open(target.real, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not _same_file(os.fstat(fd), target.found):
            raise ApplyError(target.relative, "changed_on_disk", "changed while it was checked")
        return handle.read()


def _plan_changes(root: _Root, blocks: Iterable[Block], remove_emptied: bool) -> list[_Change]:
    """Check every block against the files under the root and return what to write; no writes.

    Blocks are applied in memory under their resolved paths, so two names of one file (a path and
    a symlink to it) edit the same contents.
    """
    inspected: dict[str, _Target] = {}
    targets: dict[str, _Target] = {}  # resolved relative path -> target, in block order
    resolved_blocks = []
    rename_modes: dict[str, int | None] = {}  # rename target -> permission bits of what moves there
    for block in blocks:
        relative = safe_relative_path(block.path)
        names = [relative] if not block.is_rename else [safe_relative_path(block.rename_from), relative]
        for name in names:
            if name not in inspected:
                inspected[name] = _inspect_target(root, name)
            if block.is_rename and inspected[name].relative != name:
                raise ApplyError(name, "rename_through_symlink", f"resolves to {inspected[name].relative!r}")
            targets.setdefault(inspected[name].relative, inspected[name])
        resolved = block._replace(path=inspected[relative].relative)
        if block.is_rename:
            source = inspected[names[0]]
            rename_modes[relative] = rename_modes.get(names[0], stat.S_IMODE(source.found.st_mode)
                                                      if source.found is not None else None)
        resolved_blocks.append(resolved)
    new_dirs = {os.path.join(t.anchor, *t.missing[:i + 1]) for t in targets.values() for i in range(len(t.missing))}
    for target in targets.values():
        if target.real in new_dirs:
            raise ApplyError(target.relative, "parent_not_a_directory", "another block needs it as a directory")
    before = {relative: _read_target(t) for relative, t in targets.items() if t.found is not None}
    current = {relative: data.decode("utf-8", "surrogateescape") for relative, data in before.items()}
    updated = apply_blocks(current, resolved_blocks)
    changes = []
    for relative, target in targets.items():
        new, old = updated.get(relative), current.get(relative)  # new None: renamed away
        if new == old:
            continue
        remove = new is None or (remove_emptied and new == "" and bool(old))
        changes.append(_Change(target, before.get(relative),
                               None if remove else new.encode("utf-8", "surrogateescape"),
                               rename_modes.get(relative) if target.found is None else None))
    return changes


def _open_directory(path: str, identity: tuple[int, int], relative: str) -> int:
    """A descriptor of directory ``path``, which must still be the inode ``identity`` seen when checking."""
    fd = os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) != identity:
        os.close(fd)
        raise ApplyError(relative, "changed_on_disk", f"directory {path!r} was replaced after it was checked")
    return fd


def _replace_file(dir_fd: int, name: str, data: bytes, mode: int | None) -> None:
    """Atomically make ``name`` in ``dir_fd`` hold ``data``: a temp file next to it, fsync, os.replace.

    ``mode`` None (a new file) gives 0o666 minus the umask; otherwise those permission bits.
    """
    temp = f".{secrets.token_hex(8)}.shardsmith-tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC,
                 0o666 if mode is None else 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=dir_fd)
        raise


def _write_change(change: _Change, undo: list[tuple[str, Callable[[], None]]]) -> None:
    """Write (or remove) one file, creating its missing directories; push how to undo each step.

    Directories are entered by descriptor from the checked anchor (O_NOFOLLOW for new ones) and the
    file is checked again just before os.replace/unlink, which never follow a final symlink.
    """
    target = change.target
    name = os.path.basename(target.real)
    dir_fd = _open_directory(target.anchor, target.anchor_id, target.relative)
    try:
        path = target.anchor
        for part in target.missing:
            path = os.path.join(path, part)
            try:
                os.mkdir(part, 0o777, dir_fd=dir_fd)
                undo.append((path, functools.partial(os.rmdir, path)))
            except FileExistsError:  # made by an earlier change of this run
                pass
            child = os.open(part, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = child
        try:
            now = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        if (now is None) != (target.found is None) or (now is not None and not _same_file(now, target.found)):
            raise ApplyError(target.relative, "changed_on_disk", "changed after it was checked")
        if change.after is None:
            os.unlink(name, dir_fd=dir_fd)
        else:
            mode = change.mode if target.found is None else stat.S_IMODE(target.found.st_mode)
            _replace_file(dir_fd, name, change.after, mode)
        undo.append((target.relative, functools.partial(_restore, change)))
    finally:
        os.close(dir_fd)


def _restore(change: _Change) -> None:
    """Undo a written change: remove a created file, or put back the old bytes, mode and times."""
    target = change.target
    name = os.path.basename(target.real)
    dir_fd = os.open(os.path.dirname(target.real), os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        if change.before is None:
            os.unlink(name, dir_fd=dir_fd)
        else:
            _replace_file(dir_fd, name, change.before, stat.S_IMODE(target.found.st_mode))
            os.utime(name, ns=(target.found.st_atime_ns, target.found.st_mtime_ns), dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def _write_changes(changes: Sequence[_Change]) -> None:
    """Write all changes; if one fails, undo the earlier ones (newest first) and re-raise.

    When some undo step fails too, an ``OSError`` names the paths that could not be restored.
    """
    undo: list[tuple[str, Callable[[], None]]] = []
    try:
        for change in changes:
            _write_change(change, undo)
    except BaseException as error:
        not_restored = []
        for relative, action in reversed(undo):
            try:
                action()
            except OSError:
                not_restored.append(relative)
        if not_restored:
            raise OSError(f"{error}; and could not restore {', '.join(map(repr, not_restored))}") from error
        raise


def apply_blocks_to_directory(root: str | os.PathLike, blocks: Iterable[Block], *,
                              remove_emptied: bool = False, dry_run: bool = False) -> list[str]:
    """Apply blocks to the files under ``root``, all or nothing; the paths written (or removed), in order.

    Safe on untrusted blocks (a model's answer). First every block is checked, with nothing
    written: its path must pass ``safe_relative_path``, then it is resolved (symlinks followed)
    and refused by ``_inspect_target`` when it lands outside ``root`` or in a ``.git`` (or
    wherever ROOT/.git leads), is not a regular file (FIFOs and devices are never opened), has
    several hard links, loops, or needs a directory that cannot be created; existing files are
    read and every block is applied in memory (``apply_blocks``). Only when all of that succeeds
    is anything written, so any ``ApplyError`` from these checks leaves ``root`` untouched;
    ``dry_run`` stops there, after the same checks.

    Symlinks inside ``root`` that resolve to a regular file inside ``root`` (not in ``.git``) are
    followed: the file they point to is edited and the link stays, and the returned paths are
    the resolved ones. Files are read and written byte-exactly (no newline translation;
    undecodable bytes kept via ``surrogateescape``). Each file is written atomically (a temp file
    in its directory, fsync, ``os.replace``) keeping its permission bits (not its owner); new
    files and directories get the default modes minus the umask. With ``remove_emptied`` a file
    that had content and ends up empty is deleted (how a deletion block replays on disk).
    A rename operation removes the source file and creates the target with its (edited)
    contents and permission bits; neither path may go through a symlink
    (``rename_through_symlink``), the source must exist and the target must not.

    If writing fails midway (disk full, permissions, or a file changed since it was checked:
    ``changed_on_disk``), the files already written are restored from the contents read
    (bytes, mode and times; not the inode) and created files and directories are removed;
    what cannot be restored is named in the ``OSError``. Races with a concurrent local process
    are narrowed, not excluded: directories are re-entered by descriptor and identity-checked,
    new ones with O_NOFOLLOW, and each file is compared with what was read just before the
    rename. POSIX only (uses ``dir_fd``).
    """
    changes = _plan_changes(_root(root), blocks, remove_emptied)
    if not dry_run:
        _write_changes(changes)
    return [change.target.relative for change in changes]


def _first_difference(a: str, b: str) -> int:
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return min(len(a), len(b))


def roundtrip_check(before: Mapping[str, str] | str, after: Mapping[str, str] | str,
                    blocks: Sequence[Block]) -> Rejected | None:
    """None when replaying ``blocks`` on ``before`` gives ``after`` byte for byte, else
    ``Rejected('roundtrip_mismatch', '<path>: ...')``.

    ``before``/``after`` map path -> contents (absent or '' before for an added file, '' after
    for a deleted one; files missing from ``after`` must stay as they were, except the sources
    of renames, which must be gone). Plain strings stand for the single file the blocks edit.
    """
    if isinstance(before, str) or isinstance(after, str):
        path = blocks[0].path if blocks else "file"
        before = {path: before} if isinstance(before, str) else before
        after = {path: after} if isinstance(after, str) else after
    try:
        replayed = apply_blocks(before, blocks)
        expected = {safe_relative_path(path): content for path, content in after.items()}
        original = {safe_relative_path(path): content for path, content in before.items()}
    except ApplyError as error:
        detail = f"{error.path}: {error.reason}" + (f" ({error.detail})" if error.detail else "")
        return Rejected("roundtrip_mismatch", detail)
    try:
        moved = {safe_relative_path(b.rename_from) for b in blocks if b.is_rename}
    except ApplyError as error:
        return Rejected("roundtrip_mismatch", f"{error.path}: {error.reason}")
    for path in sorted(set(expected) | set(replayed) | moved):
        if path in expected:
            want = expected[path]
        else:
            want = None if path in moved else original.get(path, "")
        got = replayed.get(path, None if path in moved else "")
        if (got is None) != (want is None):
            state = "moved away" if got is None else "still present"
            return Rejected("roundtrip_mismatch", f"{path}: replay leaves the file {state}, after says otherwise")
        if got != want:
            offset = _first_difference(got, want)
            return Rejected("roundtrip_mismatch",
                            f"{path}: replay differs from after at character {offset} "
                            f"(replayed {len(got)} characters, expected {len(want)})")
    return None


# --------------------------------------------------------------------------- rendering and parsing

def _is_marker(line: str, marker: str) -> bool:
    return line.rstrip() == marker


def unrenderable_reason(block: Block) -> str | None:
    """Why a block cannot be rendered so that ``parse_blocks`` gives it back exactly, or None.

    ``bad_path``: empty path, line breaks, surrounding whitespace or backticks, `` -> `` or a
    leading ``RENAME `` (they would read as a rename line).
    ``marker_in_content``: a line of SEARCH/REPLACE reads as a block marker, or the text ends
    with a ``\\ No newline at end of file`` line.
    """
    for path in (block.path, block.rename_from) if block.is_rename else (block.path,):
        if (not path or "\n" in path or "\r" in path or path != path.strip().strip("`")
                or RENAME_ARROW in path or path.startswith("RENAME ")):
            return "bad_path"
    if block.is_rename:
        return None if block.search == block.replace == "" else "marker_in_content"
    for text in (block.search, block.replace):
        lines = split_lines(text)
        if any(line.rstrip() in BLOCK_MARKERS for line in lines):
            return "marker_in_content"
        if lines and text.endswith("\n") and _is_marker(lines[-1], NO_NEWLINE_MARKER):
            return "marker_in_content"
    return None


def fence_for(*texts: str) -> str:
    """A backtick fence longer than any backtick run that starts a line of the texts."""
    longest = 0
    for text in texts:
        if "```" not in text:  # most files: skip the line-by-line scan (the render's costliest regex)
            continue
        for match in re.finditer(r"^[ \t]*(`{3,})", text, re.MULTILINE):
            longest = max(longest, len(match.group(1)))
    return "`" * max(3, longest + 1)


def _render_text(text: str) -> str:
    if not text or text.endswith("\n"):
        return text
    return text + "\n" + NO_NEWLINE_MARKER + "\n"


def render_block(block: Block, language_of: Callable[[str], str | None] = default_language_of) -> str:
    """One block as a fenced ```lang block starting with ``### path`` (a rename: its one
    ``### RENAME old -> new`` line); ValueError if unrenderable."""
    reason = unrenderable_reason(block)
    if reason is not None:
        raise ValueError(f"{block.path!r}: {reason}")
    if block.is_rename:
        return f"```{fence_name(language_of(block.path))}\n{RENAME_PREFIX}{block.rename_from}{RENAME_ARROW}{block.path}\n```\n"
    fence = fence_for(block.search, block.replace)
    return (
        f"{fence}{fence_name(language_of(block.path))}\n### {block.path}\n{SEARCH_MARKER}\n"
        f"{_render_text(block.search)}{DIVIDER_MARKER}\n{_render_text(block.replace)}{REPLACE_MARKER}\n{fence}\n"
    )


def render_blocks(blocks: Iterable[Block], language_of: Callable[[str], str | None] = default_language_of) -> str:
    """Blocks in the Agentless / Aider format, one fenced block each, separated by a blank line."""
    return "\n".join(render_block(block, language_of) for block in blocks)


_FENCE_LINE = re.compile(r"^\s*(`{3,}|~{3,})")
_BARE_PATH = re.compile(r"^[\w.+@~-]+(?:/[\w.+@~-]+)*$")


def _looks_like_path(line: str) -> bool:
    return bool(_BARE_PATH.match(line)) and ("/" in line or "." in line) and not line.endswith(".")


def _block_text(lines: list[str]) -> str:
    if lines and _is_marker(lines[-1], NO_NEWLINE_MARKER):
        text = "".join(lines[:-1])
        return text[:-1] if text.endswith("\n") else text
    return "".join(lines)


def parse_blocks(text: str) -> list[Block]:
    """Read Search/Replace blocks back from text such as a model's answer.

    Tolerant of prose and fences around the blocks: the file path comes from the last
    ``### path`` line, or from a bare path on the line before a code fence (Aider style), and
    stays in force for following blocks; a ``### RENAME old -> new`` line is a rename operation
    and makes ``new`` the path. Strict about the blocks: the markers must be alone on
    their line (trailing whitespace and ``\\r`` allowed), in order SEARCH, divider, REPLACE;
    a marker out of place, a block without a path, or an unterminated block raises
    ``BlockParseError``. A ``=======`` line outside a block is prose (a Markdown heading rule).
    """
    blocks: list[Block] = []
    path: str | None = None
    state = "outside"
    search_lines: list[str] = []
    replace_lines: list[str] = []
    previous_prose = ""
    block_start = 0
    for number, line in enumerate(split_lines(text), 1):
        stripped = line.rstrip()
        if state == "outside":
            if stripped == SEARCH_MARKER:
                if path is None:
                    raise BlockParseError(number, "block without a file path")
                state, search_lines, block_start = "search", [], number
            elif stripped == REPLACE_MARKER:
                raise BlockParseError(number, "REPLACE marker outside a block")
            elif stripped.startswith(RENAME_PREFIX) and RENAME_ARROW in stripped[len(RENAME_PREFIX):]:
                old, _, new = stripped[len(RENAME_PREFIX):].partition(RENAME_ARROW)
                old, new = old.strip().strip("`"), new.strip().strip("`")
                if not old or not new:
                    raise BlockParseError(number, "rename without a path")
                blocks.append(rename_block(old, new))
                path = new
            elif stripped.startswith("### "):
                path = stripped[4:].strip().strip("`")
            elif _FENCE_LINE.match(stripped):
                if _looks_like_path(previous_prose):
                    path = previous_prose
                previous_prose = ""
            elif stripped:
                previous_prose = stripped.strip().strip("`")
        elif state == "search":
            if stripped == DIVIDER_MARKER:
                state, replace_lines = "replace", []
            elif stripped in (SEARCH_MARKER, REPLACE_MARKER):
                raise BlockParseError(number, f"{stripped!r} inside SEARCH text (block at line {block_start})")
            else:
                search_lines.append(line)
        else:
            if stripped == REPLACE_MARKER:
                blocks.append(Block(path, _block_text(search_lines), _block_text(replace_lines)))
                state = "outside"
            elif stripped in (SEARCH_MARKER, DIVIDER_MARKER):
                raise BlockParseError(number, f"{stripped!r} inside REPLACE text (block at line {block_start})")
            else:
                replace_lines.append(line)
    if state != "outside":
        raise BlockParseError(block_start, "unterminated block")
    return blocks

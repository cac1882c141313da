"""Crop long files to windows of lines around their Search/Replace blocks.

The Clean-PR paper cropped files over 100k tokens around the edits. Tokens here are counted by
``count_tokens``: every run of word characters (``\\w+``) and every other non-space character
is one token. That approximates a BPE count for code (a long identifier counts once where BPE
may split it, a run of punctuation counts per character where BPE may merge it), needs no
model, costs one regex pass and is additive over lines. Pass ``tokens=`` to count with a real
tokenizer instead.

``crop_file`` keeps every line holding part of an occurrence of a block's SEARCH text, plus
``margin_lines`` lines around it; the rest becomes one line per elided run::

    ... (lines 120-340 omitted) ...

numbered 1-based in the original file and ended like the file's first line (``\\r\\n`` in a
CRLF file); a lone line between windows is kept rather than replaced by a marker. When the
windows still exceed the budget, the margin is halved until they fit or it reaches 0. The
SEARCH lines themselves are never dropped, so every SEARCH stays whole and contiguous in the
cropped text, even when that means going over budget. Every occurrence of a SEARCH is kept:
in the before-file a later block's SEARCH may occur more than once (it is unique only once the
earlier blocks are applied), and a SEARCH that does not occur at all (it contains text an
earlier block inserts) has nothing to keep. With nothing to keep (no blocks, a new file) the
head of the file that fits the budget is kept.
"""
from __future__ import annotations

import bisect
import re
from typing import Callable, Iterable, Mapping, Sequence

from transforms.code.search_replace import Block, split_lines

DEFAULT_TOKEN_BUDGET = 100_000
DEFAULT_MARGIN_LINES = 20

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Tokens of ``text``: ``\\w+`` runs and single non-space, non-word characters."""
    return len(_TOKEN.findall(text))


def fits_budget(text: str, token_budget: int, tokens: Callable[[str], int] = count_tokens) -> bool:
    """``tokens(text) <= token_budget``; for ``count_tokens`` a text no longer than the budget
    fits without counting (each of its tokens is at least one character)."""
    if tokens is count_tokens and len(text) <= token_budget:
        return True
    return tokens(text) <= token_budget


def _search_text(block: Block | Mapping) -> str:
    return block["search"] if isinstance(block, Mapping) else block.search


def search_line_ranges(content: str, blocks: Iterable[Block | Mapping]) -> list[tuple[int, int]]:
    """Closed 1-based line ranges of every occurrence (overlapping ones too) of every non-empty
    SEARCH text in ``content``, sorted."""
    lines = split_lines(content)
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line))
    ranges: set[tuple[int, int]] = set()
    for block in blocks:
        search = _search_text(block)
        if not search:
            continue
        position = content.find(search)
        while position != -1:
            first = bisect.bisect_right(starts, position)
            last = bisect.bisect_right(starts, position + len(search) - 1)
            ranges.add((first, last))
            position = content.find(search, position + 1)
    return sorted(ranges)


def _merge(ranges: Iterable[tuple[int, int]], margin: int, line_count: int) -> list[tuple[int, int]]:
    """Ranges widened by ``margin``, clipped to the file, merged when they overlap or leave a
    single line between them (a marker would take that line's place for nothing)."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        first, last = max(1, first - margin), min(line_count, last + margin)
        if first > last:
            continue
        first = 1 if first == 2 else first
        last = line_count if last == line_count - 1 else last
        if merged and first <= merged[-1][1] + 2:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def omission_marker(first: int, last: int, newline: str = "\n") -> str:
    """The line standing for elided lines ``first..last`` (1-based, inclusive)."""
    lines = f"line {first}" if first == last else f"lines {first}-{last}"
    return f"... ({lines} omitted) ...{newline}"


def keep_line_windows(content: str, ranges: Iterable[tuple[int, int]], margin: int = 0) -> str:
    """``content`` with only the lines of ``ranges`` (closed, 1-based) widened by ``margin`` kept;
    each elided run becomes one ``omission_marker`` line. No ranges keeps nothing but a marker."""
    lines = split_lines(content)
    if not lines:
        return content
    newline = "\r\n" if lines[0].endswith("\r\n") else "\n"
    pieces: list[str] = []
    next_line = 1
    for first, last in _merge(ranges, margin, len(lines)):
        if first > next_line:
            pieces.append(omission_marker(next_line, first - 1, newline))
        pieces.extend(lines[first - 1:last])
        next_line = last + 1
    if next_line <= len(lines):  # the last kept line is not the file's last, so it ends with a newline
        pieces.append(omission_marker(next_line, len(lines), newline))
    return "".join(pieces)


def _head_that_fits(lines: Sequence[str], token_budget: int, tokens: Callable[[str], int]) -> int:
    """How many leading lines fit the budget (at least one)."""
    used = 0
    for count, line in enumerate(lines):
        used += tokens(line)
        if used > token_budget:
            return max(1, count)
    return len(lines)


def crop_file(content: str, blocks_for_file: Iterable[Block | Mapping], token_budget: int = DEFAULT_TOKEN_BUDGET,
              tokens: Callable[[str], int] = count_tokens,
              margin_lines: int = DEFAULT_MARGIN_LINES) -> tuple[str, bool]:
    """(text, was_cropped): ``content`` itself when it fits ``token_budget``, else windows of
    lines around every SEARCH occurrence (see the module notes)."""
    if fits_budget(content, token_budget, tokens):
        return content, False
    ranges = search_line_ranges(content, blocks_for_file)
    if not ranges:
        lines = split_lines(content)
        marker_cost = tokens(omission_marker(1, len(lines)))  # the longest marker this file can get
        return keep_line_windows(content, [(1, _head_that_fits(lines, token_budget - marker_cost, tokens))]), True
    margin = max(0, margin_lines)
    while True:
        cropped = keep_line_windows(content, ranges, margin)
        if margin == 0 or fits_budget(cropped, token_budget, tokens):
            return cropped, True
        margin //= 2

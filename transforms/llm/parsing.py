"""Strict parsers for what a model answers, and asking again when the answer does not parse.

An unparsable answer is a reject, never a crash: the parsers answer ``None`` (or
``(None, error)``), and ``with_retries`` / ``with_retries_many`` re-ask with the next
``sample_index`` (a new cache key, so a rerun replays the same attempts from the cache)
before the stage rejects (``bad_rubric`` and the like).
"""
from __future__ import annotations

import collections
import json
import re
import string
from typing import Any, Callable, NamedTuple, Sequence

from transforms.llm.client import Completion, LlmError

_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
# a complete leading <think>…</think> block, as reasoning models print without a reasoning parser
_THINK_BLOCK = re.compile(r"\A\s*<think>.*?</think>", re.DOTALL)
_FENCED = re.compile(r"\A\s*```[ \t]*(?:json)?[ \t]*\r?\n(.*?)\r?\n[ \t]*```\s*\Z", re.DOTALL | re.IGNORECASE)
_ANSWER_EDGE = string.whitespace + string.punctuation + "“”‘’«»。，！？：；\u00a0\u200b"


def _closing_brace(text: str, start: int) -> int | None:
    """Index of the brace closing the group opened just before ``start``; None if it never closes.

    ``\\{`` and ``\\}`` (and any other backslash pair) are literal, not grouping.
    """
    depth, i = 1, start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def extract_boxed(text: str | None) -> str | None:
    """Content of the last top-level ``\\boxed{…}`` (or ``\\fbox{…}``), nested braces kept.

    None when there is no box, when the box is empty, or when the last box never closes
    (a truncated answer: an earlier box is then not the final answer either).
    """
    if not text:
        return None
    last, pos = None, 0
    while (match := _BOX_OPEN.search(text, pos)) is not None:
        end = _closing_brace(text, match.end())
        if end is None:
            return None
        last, pos = text[match.end():end], end + 1
    if last is None:
        return None
    return last.strip() or None


def parse_yes_no(text: str | None) -> bool | None:
    """True for Yes, False for No, None for anything else.

    The whole answer must be the one word, in any letter case, once surrounding whitespace
    and punctuation (``**Yes.**``, ``"No"``) and a complete leading ``<think>`` block are
    removed; "Yes, because …" or "Yes\\nNo" are None.
    """
    if text is None:
        return None
    word = _THINK_BLOCK.sub("", text, count=1).strip(_ANSWER_EDGE).lower()
    return {"yes": True, "no": False}.get(word)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    value = dict(pairs)
    if len(value) != len(pairs):
        counts = collections.Counter(k for k, _ in pairs)
        duplicated = sorted(k for k, n in counts.items() if n > 1)
        raise ValueError(f"duplicate keys {duplicated[:10]}")
    return value


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json_object(text: str | None, schema_check: Callable[[dict], str | None] | None = None
                      ) -> tuple[dict | None, str | None]:
    """``(object, None)`` or ``(None, error)``.

    The answer must be exactly one JSON object, bare or as the only thing in one Markdown
    fence (```json or ```); no text around it, no duplicate keys, no NaN/Infinity.
    ``schema_check(object)`` answers an error message or None; an exception it raises
    (a check meeting a wrong type, say) also fails the answer, named in the error, since
    whatever the model wrote must end as a reject rather than a crash.
    """
    if text is None or not text.strip():
        return None, "empty answer"
    fenced = _FENCED.match(text)
    content = (fenced.group(1) if fenced else text).strip()
    try:
        value = json.loads(content, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    except RecursionError:  # nesting deeper than the interpreter's stack
        return None, "not JSON: nested too deeply"
    if not isinstance(value, dict):
        return None, f"not a JSON object but {type(value).__name__}"
    if schema_check is not None:
        try:
            problem = schema_check(value)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            return None, f"schema: {problem}"
    return value, None


class required:
    """Turns a value-or-None parser into a ``(value, error)`` parser for ``with_retries``.

    ``required(parse_yes_no, "not a plain Yes/No")``; a class, not a closure, so it pickles.
    """

    def __init__(self, parse: Callable[[str], Any], error: str):
        self.parse, self.error = parse, error

    def __call__(self, text: str) -> tuple[Any, str | None]:
        value = self.parse(text)
        return (None, self.error) if value is None else (value, None)


class Parsed(NamedTuple):
    """The outcome of asking until an answer parses.

    ``error`` is the last parse error, or the ``LlmError`` text when the request failed for
    good (then ``llm_error`` is set and no further attempt was made); ``texts`` are all
    answers seen, for a reject's detail or a trajectory.
    """

    value: Any
    error: str | None
    attempts: int
    texts: tuple[str, ...]
    llm_error: LlmError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


Answer = Completion | LlmError | str
Parser = Callable[[str], tuple[Any, str | None]]


def with_retries_many(ask: Callable[[list[tuple[int, int]]], Sequence[Answer]], parse: Parser, count: int,
                      attempts: int = 3) -> list[Parsed]:
    """Ask for ``count`` items in rounds until each answer parses or ``attempts`` rounds are spent.

    ``ask([(item, attempt), …])`` answers one ``Completion`` / ``LlmError`` / text per pair,
    in order — typically ``client.chat_many`` with ``sample_index=attempt``, so each round
    is one concurrent batch. ``parse(text)`` answers ``(value, error)``.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    outcomes: list[Parsed | None] = [None] * count
    texts: list[list[str]] = [[] for _ in range(count)]
    last_error: list[str | None] = [None] * count
    todo = list(range(count))
    for attempt in range(attempts):
        if not todo:
            break
        answers = list(ask([(item, attempt) for item in todo]))
        if len(answers) != len(todo):
            raise ValueError(f"ask answered {len(answers)} times for {len(todo)} questions")
        still = []
        for item, answer in zip(todo, answers):
            if isinstance(answer, LlmError):
                outcomes[item] = Parsed(None, str(answer), attempt + 1, tuple(texts[item]), answer)
                continue
            text = answer.text if isinstance(answer, Completion) else answer
            texts[item].append(text)
            value, error = parse(text)
            if error is None:
                outcomes[item] = Parsed(value, None, attempt + 1, tuple(texts[item]))
            else:
                last_error[item] = error
                still.append(item)
        todo = still
    for item in todo:
        outcomes[item] = Parsed(None, last_error[item], attempts, tuple(texts[item]))
    return outcomes  # type: ignore[return-value]


def with_retries(call: Callable[[int], Answer], parse: Parser, attempts: int = 3) -> Parsed:
    """Ask ``call(attempt)`` (use ``sample_index=attempt``) until ``parse`` succeeds; see ``with_retries_many``.

    An ``LlmError`` that ``call`` raises ends the attempts like a returned one.
    """
    def ask(pairs: list[tuple[int, int]]) -> list[Answer]:
        (_, attempt), = pairs
        try:
            return [call(attempt)]
        except LlmError as exc:
            return [exc]

    return with_retries_many(ask, parse, 1, attempts)[0]

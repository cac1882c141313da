"""Agentless-aligned SFT examples (``SFT_SAMPLE_SCHEMA`` records) from one Clean-PR edit sample.

``build_sft_examples(sample, repo_paths, file_contents)`` turns an ``EDIT_SAMPLE_SCHEMA`` dict
into three kinds of examples, in this order:

1. ``localization`` (one per sample): intent + repository tree -> the paths of the files the
   blocks edit, one per line, in the sample's file order.
2. ``navigation`` (one per edited file that existed before): intent + the before-file (cropped
   to ``token_budget`` around the blocks) -> the definitions enclosing the edited lines, one per
   line as ``kind: qualified name`` (``function: Greeter.greet``, ``class: Config``; kinds are
   those of ``parse.list_definitions``), in source order, then ``module: <path>`` when some
   edit lies outside every definition (and alone for a deleted file).
3. ``editing`` (one per edited file): intent + localized context -> ``render_blocks`` of that
   file's blocks (a renamed file: its ``### RENAME old -> new`` operation first; a pure move
   is the operation alone, shown with the file's head, and has no navigation example).
   Prompts show a renamed file under its old path (where it is at the base commit), and
   localization answers old paths. The context is the before-file reduced to the lines of every SEARCH text and
   of the innermost definitions enclosing the edits (those up to ``max_definition_lines`` long),
   each widened by ``context_margin`` lines; elided runs read ``... (lines a-b omitted) ...``.
   A new file shows ``(new file)``.

Edited lines come from the line diff of before -> after (``decontam.changed_line_ranges``): a
replaced/deleted line is enclosed by the innermost definition spanning it
(``parse.enclosing_definitions``); a pure insertion between lines p and p+1 by the innermost
definition spanning both (so a method added between two methods belongs to their class).

Distractor negatives (``is_negative`` true, completion exactly ``No changes needed.``), for
the two steps that do not localize: ``negatives_per_step`` per sample and step (default 1),
navigation from other files of the repository (``file_contents``: core files by the same path
rules as the edit samples, ``languages.is_core_file``, that the PR does not change at all), editing from other definitions of the edited files (whose windows stay clear of
the edits) and of the ``DISTRACTOR_FILES_PARSED`` other files most similar to the intent.
They are ranked by TF-IDF cosine similarity to the intent over identifier tokens
(``identifier_tokens``: identifiers split at ``_`` and camelCase humps, lowercased, stop
words and 1-letter parts dropped, multi-part identifiers also kept whole; weights
``(1 + ln tf) * idf``, ``idf = ln((1 + n) / (1 + df)) + 1`` over the candidates), rounded to
6 decimals, ties broken by path, then line. Prompts are laid out alike for positives and
negatives, and every instruction allows both answers.

The tree (``render_repo_tree``) indents 4 spaces per level, directories end with ``/``, and
is capped at ``tree_max_lines`` (500) lines: the paths to edit and their directories always
appear, other paths are added shallowest first (then by path) while they fit, and a last line
``... (N more files not shown)`` counts the rest. ``repo_paths`` should be the tree at the
base commit; paths the PR adds are removed from it anyway.

Ids: ``content_id(sample_id, step, path, completion, prompt)``; the prompt is part of the
hash so two distractors of one file (different functions) get different ids.
"""
from __future__ import annotations

import functools
import math
import re
from collections import Counter
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from transforms.code.crop import (
    DEFAULT_TOKEN_BUDGET, crop_file, fits_budget, keep_line_windows, search_line_ranges,
)
from transforms.code.decontam import changed_line_ranges
from transforms.code.languages import grammar_of, is_core_file
from transforms.code.parse import Definition, enclosing_definitions, list_definitions
from transforms.code.render import NO_CHANGES, render_file
from transforms.code.search_replace import Block, apply_blocks, block_from_mapping, render_blocks, split_lines
from transforms.records import content_id

DEFAULT_TREE_MAX_LINES = 500
DEFAULT_NEGATIVES_PER_STEP = 1
DEFAULT_CONTEXT_MARGIN = 5
DEFAULT_MAX_DEFINITION_LINES = 200
DISTRACTOR_FILES_PARSED = 5
TREE_INDENT = "    "

LOCALIZATION_INSTRUCTION = (
    "List the files that must be edited to resolve the issue below, one full path from the "
    "repository structure per line."
)
NAVIGATION_INSTRUCTION = (
    "List the functions and classes of the file below that must be edited to resolve the issue, one per "
    'line as "function: name" or "class: name" ("module: <path>" for code outside any definition), '
    f'or answer "{NO_CHANGES}" if this file needs no edit.'
)
EDITING_INSTRUCTION = (
    "Edit the code below to resolve the issue: answer with SEARCH/REPLACE blocks whose SEARCH text "
    f'is copied exactly from the file, or "{NO_CHANGES}" if this code needs no edit.'
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBWORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
STOP_WORDS = frozenset("""
a an and are as at be but by can could do does for from had has have how i if in into is it its
me my no not of on or our should so than that the their them then there these they this to too
was we were what when where which while who why will with would you your
def class return import self cls function func fn var let const public private protected static
void int new end true false none null nil else elif try except catch finally raise throw
""".split())


# --------------------------------------------------------------------------- repository tree

def _directories(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]


def render_repo_tree(paths: Iterable[str], max_lines: int = DEFAULT_TREE_MAX_LINES,
                     required: Iterable[str] = ()) -> str:
    """File paths as an indented tree of at most ``max_lines`` lines (``required`` paths always shown)."""
    all_paths = sorted({p.strip("/") for p in paths if p and p.strip("/")} | {p.strip("/") for p in required if p})
    must = sorted({p.strip("/") for p in required if p})
    budget = max_lines if len(all_paths) + len({d for p in all_paths for d in _directories(p)}) <= max_lines \
        else max_lines - 1  # room for the "more files" line
    chosen: set[str] = set()
    directories: set[str] = set()
    used = 0
    ordered = must + sorted(set(all_paths) - set(must), key=lambda p: (p.count("/"), p))
    for position, path in enumerate(ordered):
        new_directories = [d for d in _directories(path) if d not in directories]
        cost = len(new_directories) + 1
        if position >= len(must) and used + cost > budget:
            continue
        chosen.add(path)
        directories.update(new_directories)
        used += cost
    tree: dict = {}
    for path in chosen:
        node = tree
        for part in path.split("/")[:-1]:
            node = node.setdefault(part + "/", {})
        node[path.split("/")[-1]] = None
    lines: list[str] = []

    def walk(node: dict, depth: int) -> None:
        for name in sorted(node):
            lines.append(TREE_INDENT * depth + name)
            if node[name] is not None:
                walk(node[name], depth + 1)

    walk(tree, 0)
    hidden = len(all_paths) - len(chosen)
    if hidden:
        lines.append(f"... ({hidden} more file{'s' if hidden != 1 else ''} not shown)")
    return "".join(line + "\n" for line in lines)


# --------------------------------------------------------------------------- lexical similarity

@functools.lru_cache(maxsize=1 << 16)
def _identifier_terms(identifier: str) -> tuple[str, ...]:
    parts = [part.lower() for part in _SUBWORD.findall(identifier)]
    terms = [part for part in parts if len(part) > 1 and part not in STOP_WORDS]
    whole = identifier.strip("_").lower()
    if len(parts) > 1 and whole not in STOP_WORDS:
        terms.append(whole)
    return tuple(terms)


def identifier_tokens(text: str) -> list[str]:
    """Lowercased identifier parts of ``text`` (see the module notes), in order."""
    tokens: list[str] = []
    for identifier in _IDENTIFIER.findall(text):
        tokens.extend(_identifier_terms(identifier))
    return tokens


def _term_counts(text: str) -> Counter:
    """Counts of ``identifier_tokens(text)``: each distinct identifier split once (code repeats them)."""
    counts: Counter = Counter()
    for identifier, count in Counter(_IDENTIFIER.findall(text)).items():
        for term in _identifier_terms(identifier):
            counts[term] += count
    return counts


class _TermVector(NamedTuple):
    term_ids: np.ndarray  # int64 ``hash(term)``: a process's own ids, no vocabulary to grow or share
    log_tf: np.ndarray  # 1 + ln tf, per term


@functools.lru_cache(maxsize=1 << 14)
def _term_vector(text: str) -> _TermVector:
    # Cached: the same files and definitions are ranked for many samples of a repository.
    counts = _term_counts(text)
    ids = np.fromiter(map(hash, counts), dtype=np.int64, count=len(counts))
    log_tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
    return _TermVector(ids, log_tf)


def tfidf_similarities(query: str, documents: Sequence[str]) -> list[float]:
    """Cosine similarity of ``query`` to each document, TF-IDF over ``identifier_tokens``, 6 decimals."""
    vectors = [_term_vector(document) for document in documents]
    total = len(documents)
    if not total:
        return []
    sizes = np.fromiter((len(v.term_ids) for v in vectors), dtype=np.int64, count=total)
    if not sizes.sum():
        return [0.0] * total
    term_ids = np.concatenate([v.term_ids for v in vectors])
    log_tf = np.concatenate([v.log_tf for v in vectors])
    owner = np.repeat(np.arange(total), sizes)  # document of each entry
    terms, column, df = np.unique(term_ids, return_inverse=True, return_counts=True)
    idf = np.log((1.0 + total) / (1.0 + df)) + 1.0
    weights = log_tf * idf[column]
    norms = np.sqrt(np.bincount(owner, weights=weights * weights, minlength=total))
    query_weights = np.zeros(len(terms))
    query_norm_squared = 0.0
    unseen_idf = math.log(1 + total) + 1.0
    for term, count in _term_counts(query).items():
        term_id = hash(term)
        at = int(np.searchsorted(terms, term_id))
        seen = at < len(terms) and terms[at] == term_id
        weight = (1.0 + math.log(count)) * (idf[at] if seen else unseen_idf)
        query_norm_squared += weight * weight
        if seen:
            query_weights[at] = weight
    query_norm = math.sqrt(query_norm_squared)
    dots = np.bincount(owner, weights=weights * query_weights[column], minlength=total)
    with np.errstate(divide="ignore", invalid="ignore"):
        similarities = np.where((norms > 0) & (query_norm > 0), dots / (query_norm * norms), 0.0)
    return [round(value, 6) for value in similarities.tolist()]


# --------------------------------------------------------------------------- edited locations

@functools.lru_cache(maxsize=64)
def _edit_points(before: str, after: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(changed before-lines, insertion gaps) of before -> after; gap p lies between lines p and p+1.
    Cached: navigation and editing diff the same pair."""
    lines: list[int] = []
    gaps: list[int] = []
    for i1, i2 in changed_line_ranges(before, after):
        if i2 > i1:
            lines.extend(range(i1 + 1, i2 + 1))
        else:
            gaps.append(i1)
    return tuple(lines), tuple(gaps)


def _innermost(definitions: Iterable[Definition]) -> Definition | None:
    # the same choice as parse.enclosing_definitions: latest start, then shortest, then deepest
    return max(definitions, key=lambda d: (d.start_line, -d.end_line, d.qualified_name.count(".")), default=None)


def _gap_definition(definitions: Sequence[Definition], gap: int) -> Definition | None:
    return _innermost(d for d in definitions if d.start_line <= gap and gap + 1 <= d.end_line)


def _line_definition(definitions: Sequence[Definition], line: int) -> Definition | None:
    return _innermost(d for d in definitions if d.start_line <= line <= d.end_line)


def edited_locations(before: str, after: str, path: str, grammar: str | None = None) -> list[str]:
    """The navigation target of one file: ``kind: qualified name`` of the definitions enclosing
    the edits in source order, then ``module: <path>`` if an edit is outside every definition."""
    if not after:
        return [f"module: {path}"]
    grammar = grammar if grammar is not None else grammar_of(path, before)
    definitions = list_definitions(before, grammar, path) if grammar else []
    lines, gaps = _edit_points(before, after)
    names = set(enclosing_definitions(before, grammar, lines)) if grammar and lines else set()
    module_level = any(_line_definition(definitions, line) is None for line in lines)
    for gap in gaps:
        definition = _gap_definition(definitions, gap)
        if definition is None:
            module_level = True
        else:
            names.add(definition.qualified_name)
    locations: list[str] = []
    for definition in definitions:
        entry = f"{definition.kind}: {definition.qualified_name}"
        if definition.qualified_name in names and entry not in locations:
            names.discard(definition.qualified_name)
            locations.append(entry)
    if module_level or not locations:
        locations.append(f"module: {path}")
    return locations


def _edited_spans(before: str, after: str, definitions: Sequence[Definition],
                  max_definition_lines: int) -> list[tuple[int, int]]:
    """Line ranges of the edits and of their innermost enclosing definitions (the short enough ones)."""
    lines, gaps = _edit_points(before, after)
    spans = [(line, line) for line in lines] + [(max(1, gap), gap + 1) for gap in gaps]
    enclosing = [_line_definition(definitions, line) for line in lines] + [_gap_definition(definitions, gap) for gap in gaps]
    spans.extend((d.start_line, d.end_line) for d in enclosing
                 if d is not None and d.end_line - d.start_line + 1 <= max_definition_lines)
    return spans


# --------------------------------------------------------------------------- prompts and records

def _issue_section(intent: str) -> str:
    return f"--- BEGIN ISSUE ---\n{intent.strip()}\n--- END ISSUE ---\n"


def localization_prompt(intent: str, tree: str) -> str:
    """Instruction, issue, repository structure."""
    return (f"{LOCALIZATION_INSTRUCTION}\n\n{_issue_section(intent)}\n"
            f"--- BEGIN REPOSITORY STRUCTURE ---\n{tree}--- END REPOSITORY STRUCTURE ---\n")


def navigation_prompt(intent: str, path: str, content: str) -> str:
    """Instruction, issue, the (cropped) file."""
    return (f"{NAVIGATION_INSTRUCTION}\n\n{_issue_section(intent)}\n"
            f"--- BEGIN FILE ---\n{render_file(path, content)}--- END FILE ---\n")


def editing_prompt(intent: str, path: str, context: str | None) -> str:
    """Instruction, issue, the localized code (None: a file to create)."""
    return (f"{EDITING_INSTRUCTION}\n\n{_issue_section(intent)}\n"
            f"--- BEGIN CODE ---\n{render_file(path, context)}--- END CODE ---\n")


def _example(sample: Mapping, step: str, path: str | None, prompt: str, completion: str,
             similarity: float | None = None) -> dict:
    return {
        "id": content_id(sample["sample_id"], step, path or "", completion, prompt),
        "sample_id": sample["sample_id"],
        "repo": sample["repo"],
        "pr_number": sample["pr_number"],
        "language": sample.get("language"),
        "step": step,
        "path": path,
        "is_negative": similarity is not None,
        "distractor_similarity": similarity,
        "prompt": prompt,
        "completion": completion,
    }


def _blocks_of(sample: Mapping) -> list[Block]:
    return [block_from_mapping(block) for block in sample.get("blocks") or ()]


def _base_path(file: Mapping) -> str:
    """The file's path at the base commit (the old path of a rename)."""
    previous = file.get("previous_path")
    return previous if file.get("status") == "renamed" and previous else file["path"]


def _overlaps(span: tuple[int, int], ranges: Iterable[tuple[int, int]]) -> bool:
    return any(span[0] <= last and first <= span[1] for first, last in ranges)


# --------------------------------------------------------------------------- building

class _Candidate(NamedTuple):
    """A definition that may serve as an editing distractor."""

    path: str
    content: str
    definition: Definition


def _distractor_definitions(path: str, content: str, definitions: Iterable[Definition],
                            max_definition_lines: int, keep_out: Sequence[tuple[int, int]] = (),
                            margin: int = 0) -> list[_Candidate]:
    """Function/class definitions short enough, whose window (± ``margin``) misses ``keep_out``."""
    return [_Candidate(path, content, d) for d in definitions
            if d.kind != "module" and d.end_line - d.start_line + 1 <= max_definition_lines
            and not _overlaps((d.start_line - margin, d.end_line + margin), keep_out)]


def _edited_files(sample: Mapping, blocks_by_path: Mapping[str, list[Block]]) -> list[Mapping]:
    files = [f for f in sample.get("files") or () if f["path"] in blocks_by_path]
    missing = sorted(set(blocks_by_path) - {f["path"] for f in files})
    if missing:
        raise ValueError(f"blocks for files the sample does not list: {', '.join(missing)}")
    return files


def build_sft_examples(sample: Mapping, repo_paths: Iterable[str],
                       file_contents: Mapping[str, str] | None = None, *,
                       negatives_per_step: int = DEFAULT_NEGATIVES_PER_STEP,
                       tree_max_lines: int = DEFAULT_TREE_MAX_LINES,
                       token_budget: int = DEFAULT_TOKEN_BUDGET,
                       context_margin: int = DEFAULT_CONTEXT_MARGIN,
                       max_definition_lines: int = DEFAULT_MAX_DEFINITION_LINES) -> list[dict]:
    """Localization, navigation and editing examples of one edit sample, distractors last.

    ``repo_paths``: the repository's file paths at the base commit; ``file_contents``: contents
    of other files of the repository (path -> text), the pool for distractors. A block for a
    path the sample's ``files`` do not list raises ``ValueError``.
    """
    blocks = _blocks_of(sample)
    if not blocks:
        return []
    intent = sample.get("intent") or ""
    blocks_by_path: dict[str, list[Block]] = {}
    for block in blocks:
        blocks_by_path.setdefault(block.path, []).append(block)
    files = _edited_files(sample, blocks_by_path)

    existing = [f.get("previous_path") or f["path"] for f in files if f.get("status") != "added" and f.get("before")]
    created = {f["path"] for f in sample.get("files") or () if f.get("status") in ("added", "renamed")} - set(existing)
    tree = render_repo_tree([p for p in repo_paths if p not in created], tree_max_lines, existing)
    examples = [_example(sample, "localization", None, localization_prompt(intent, tree),
                         "\n".join(_base_path(f) for f in files))]

    same_file_candidates: list[_Candidate] = []
    for file in files:
        path, before, after = file["path"], file.get("before") or "", file.get("after")
        shown_path = _base_path(file)  # prompts show the file where it is at the base commit
        file_blocks = blocks_by_path[path]
        completion = render_blocks(file_blocks)
        if not before:
            examples.append(_example(sample, "editing", path, editing_prompt(intent, shown_path, None), completion))
            continue
        if after is None:  # blocks without contents: replay them for the after-file
            after = apply_blocks({shown_path: before}, file_blocks)[path]
        if after == before:  # a pure move: nothing to locate; the editing answer is the rename
            context, _ = crop_file(before, [], token_budget)
            examples.append(_example(sample, "editing", path, editing_prompt(intent, shown_path, context), completion))
            continue
        grammar = grammar_of(path, before)
        shown, _ = crop_file(before, file_blocks, token_budget)
        examples.append(_example(sample, "navigation", path, navigation_prompt(intent, shown_path, shown),
                                 "\n".join(edited_locations(before, after, shown_path, grammar))))
        definitions = list_definitions(before, grammar, shown_path) if grammar else []
        edited = search_line_ranges(before, file_blocks) + _edited_spans(before, after, definitions, max_definition_lines)
        context = keep_line_windows(before, edited, context_margin)
        if not fits_budget(context, token_budget):
            context, _ = crop_file(before, file_blocks, token_budget, margin_lines=context_margin)
        examples.append(_example(sample, "editing", path, editing_prompt(intent, shown_path, context), completion))
        same_file_candidates += _distractor_definitions(path, before, definitions, max_definition_lines,
                                                        edited, context_margin)
    if negatives_per_step <= 0:
        return examples

    # never a distractor: any file the PR changed (core or not), under either of its paths
    changed = sample.get("files") or ()
    excluded = ({f["path"] for f in changed} | {f["previous_path"] for f in changed if f.get("previous_path")}
                | created)
    ranked_files = _rank_other_files(intent, file_contents or {}, excluded)
    for score, path, content in ranked_files[:negatives_per_step]:
        shown, _ = crop_file(content, [], token_budget)
        examples.append(_example(sample, "navigation", path, navigation_prompt(intent, path, shown), NO_CHANGES, score))

    candidates = list(same_file_candidates)
    for _, path, content in ranked_files[:DISTRACTOR_FILES_PARSED]:
        grammar = grammar_of(path, content)
        definitions = list_definitions(content, grammar, path) if grammar else []
        candidates += _distractor_definitions(path, content, definitions, max_definition_lines)
    for score, candidate in _rank_definitions(intent, candidates)[:negatives_per_step]:
        definition = candidate.definition
        context = keep_line_windows(candidate.content, [(definition.start_line, definition.end_line)], context_margin)
        examples.append(_example(sample, "editing", candidate.path, editing_prompt(intent, candidate.path, context),
                                 NO_CHANGES, score))
    return examples


@functools.lru_cache(maxsize=1 << 16)
def _is_core_path(path: str) -> bool:
    # Cached: the path rules (Linguist's vendor patterns above all) are costly and every sample
    # of a repository ranks mostly the same paths.
    return is_core_file(path)


def _rank_other_files(intent: str, file_contents: Mapping[str, str], excluded: set[str]) -> list[tuple[float, str, str]]:
    """(similarity, path, content) of the core files (by the path rules of ``is_core_file``: not
    documentation, vendored or generated) not in ``excluded``, most similar first."""
    others = sorted((path, content) for path, content in file_contents.items()
                    if path not in excluded and content and content.strip() and _is_core_path(path))
    scores = tfidf_similarities(intent, [content for _, content in others])
    return sorted(((score, path, content) for score, (path, content) in zip(scores, others)),
                  key=lambda ranked: (-ranked[0], ranked[1]))


def _rank_definitions(intent: str, candidates: Sequence[_Candidate]) -> list[tuple[float, _Candidate]]:
    """(similarity, candidate) most similar first; ties by path, start line, qualified name."""
    lines_of: dict[str, list[str]] = {}
    texts = []
    for candidate in candidates:
        lines = lines_of.get(candidate.path)
        if lines is None:
            lines = lines_of[candidate.path] = split_lines(candidate.content)
        texts.append("".join(lines[candidate.definition.start_line - 1:candidate.definition.end_line]))
    scores = tfidf_similarities(intent, texts)
    return sorted(zip(scores, candidates), key=lambda ranked: (-ranked[0], ranked[1].path,
                                                             ranked[1].definition.start_line,
                                                             ranked[1].definition.qualified_name))

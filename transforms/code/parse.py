"""tree-sitter parsing for the 12 core languages: parse errors and the definitions around edits.

Grammars come from the per-language wheels (``tree_sitter_python.language()`` ...), never
from a download. ``parser_for`` builds one parser per grammar per process and caches it, so a
Beam ``DoFn`` can call it from ``setup`` and then per record.

Grammar names are the language ids of ``transforms.code.languages`` plus ``tsx`` (TypeScript
with JSX; ``languages.grammar_of`` picks it for .tsx files). An unknown name has no grammar:
the functions answer None / [] instead of raising.

Line numbers are 1-based, as editors and diffs show them.

Known grammar limitation: tree-sitter-kotlin 1.1.0 reports an error for a class body written
on a single line that contains a function (``class A { fun f() {} }``); multi-line bodies parse.
"""
from __future__ import annotations

import hashlib
import importlib
import itertools
import re
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Iterable, NamedTuple

import tree_sitter

# grammar -> (wheel module, function returning the language pointer)
GRAMMAR_MODULES: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "java": ("tree_sitter_java", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "csharp": ("tree_sitter_c_sharp", "language"),
    "php": ("tree_sitter_php", "language_php"),
    "ruby": ("tree_sitter_ruby", "language"),
    "kotlin": ("tree_sitter_kotlin", "language"),
}

_JS_DEFINITIONS = {
    "function_declaration": "function", "generator_function_declaration": "function",
    "method_definition": "function", "class_declaration": "class", "class": "class",
    "variable_declarator": "function",  # only when its value is a function, see _name_of
}
_TS_DEFINITIONS = {
    **_JS_DEFINITIONS, "abstract_class_declaration": "class", "interface_declaration": "class",
    "enum_declaration": "class", "internal_module": "module",
}

# grammar -> {definition node type: kind}; kinds are 'class', 'function' and 'module'.
DEFINITION_NODES: dict[str, dict[str, str]] = {
    "python": {"function_definition": "function", "class_definition": "class"},
    "java": {
        "class_declaration": "class", "interface_declaration": "class", "enum_declaration": "class",
        "record_declaration": "class", "annotation_type_declaration": "class",
        "method_declaration": "function", "constructor_declaration": "function",
        "compact_constructor_declaration": "function",
    },
    "javascript": _JS_DEFINITIONS,
    "typescript": _TS_DEFINITIONS,
    "tsx": _TS_DEFINITIONS,
    "go": {"function_declaration": "function", "method_declaration": "function", "type_spec": "class"},
    "rust": {
        "function_item": "function", "struct_item": "class", "enum_item": "class", "union_item": "class",
        "trait_item": "class", "impl_item": "class", "mod_item": "module",
    },
    "c": {"function_definition": "function", "struct_specifier": "class", "union_specifier": "class",
          "enum_specifier": "class"},
    "cpp": {
        "function_definition": "function", "class_specifier": "class", "struct_specifier": "class",
        "union_specifier": "class", "enum_specifier": "class", "namespace_definition": "module",
    },
    "csharp": {
        "class_declaration": "class", "struct_declaration": "class", "interface_declaration": "class",
        "enum_declaration": "class", "record_declaration": "class", "method_declaration": "function",
        "constructor_declaration": "function", "destructor_declaration": "function",
        "local_function_statement": "function", "operator_declaration": "function",
        "namespace_declaration": "module", "file_scoped_namespace_declaration": "module",
    },
    "php": {
        "function_definition": "function", "method_declaration": "function", "class_declaration": "class",
        "interface_declaration": "class", "trait_declaration": "class", "enum_declaration": "class",
    },
    "ruby": {"method": "function", "singleton_method": "function", "class": "class", "module": "module"},
    "kotlin": {"function_declaration": "function", "class_declaration": "class", "object_declaration": "class"},
}

_FUNCTION_VALUES = {"arrow_function", "function_expression", "function", "generator_function"}
_GENERIC_SUFFIX = re.compile(r"\s*<.*$", re.DOTALL)


class Definition(NamedTuple):
    """A function, class or module definition found by tree-sitter."""

    name: str
    qualified_name: str  # enclosing definition names joined with '.', e.g. 'Server.handle'
    kind: str  # 'class', 'function' or 'module'
    start_line: int  # 1-based, inclusive (decorators included)
    end_line: int  # 1-based, inclusive


@lru_cache(maxsize=None)
def language_for(grammar: str) -> tree_sitter.Language | None:
    """The tree-sitter ``Language`` of a grammar, or None when there is no such grammar/wheel."""
    spec = GRAMMAR_MODULES.get(grammar)
    if spec is None:
        return None
    module_name, function_name = spec
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return tree_sitter.Language(getattr(module, function_name)())


@lru_cache(maxsize=None)
def parser_for(grammar: str) -> tree_sitter.Parser | None:
    """A parser for the grammar, built once per process; None when there is no grammar."""
    language = language_for(grammar)
    return None if language is None else tree_sitter.Parser(language)


def _source_bytes(source: str | bytes) -> bytes:
    if isinstance(source, bytes):
        return source
    return source.encode("utf-8", "replace")  # lone surrogates cannot be parsed as they are anyway


def parse(source: str | bytes, grammar: str) -> tree_sitter.Tree | None:
    """The syntax tree of ``source``, or None when there is no grammar."""
    parser = parser_for(grammar)
    return None if parser is None else parser.parse(_source_bytes(source))


class _Parsed(NamedTuple):
    has_error: bool
    definitions: tuple  # tuple[Definition, ...]


# File versions; an entry is a flag and its definitions (some 240 bytes each). The SFT step runs
# after every edit sample and lists the definitions of their before-files again: on werkzeug
# (3,065 versions) a 2,048-entry cache made it re-parse 2,421 of them (8 of its 22 CPU s).
# Bounded by entries and by definitions held (about 48 MB at most), not by the repository.
PARSED_CACHE_SIZE = 4096
PARSED_CACHE_DEFINITIONS = 200_000
_parsed_definitions = [0]  # definitions held by _parsed_cache
_parsed_cache: OrderedDict[tuple[str, bytes], _Parsed] = OrderedDict()
_parsed_lock = threading.Lock()


# The trees of the last file versions parsed (bytes and tree by (grammar, digest)), and which of
# them is the latest version of a path: a PR's after-file is re-parsed from its before-file's
# tree, its before-file from the tree of the last version of that path seen (an older or newer
# commit of the same file), and tree-sitter re-parses only what the edits touched. Bounded by
# versions and by source bytes held: a tree takes some 10-20 bytes per source byte.
RECENT_TREES = 32
RECENT_TREE_BYTES = 4 << 20
_recent_trees: OrderedDict[tuple[str, bytes], tuple[bytes, tree_sitter.Tree]] = OrderedDict()
_recent_tree_bytes = [0]
_path_versions: dict[tuple[str, str], tuple[str, bytes]] = {}  # (grammar, path) -> key in _recent_trees
REPARSE_MIN_SHARED = 0.5  # incremental only when the unchanged bytes are this share of both versions
REPARSE_MAX_EDITS = 64  # more changed regions than this: a fresh parse


def _shared_prefix(a: bytes, b: bytes, limit: int) -> int:
    """Length of the longest common prefix of ``a`` and ``b`` (at most ``limit``), by bisection on
    slice equality (memcmp), not a byte-by-byte loop."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _changed_regions(old: bytes, new: bytes, by_lines: bool) -> list[tuple[int, int, int, int]]:
    """(old_start, old_end, new_start, new_end) byte ranges that differ, in order: the one range
    between the common prefix and suffix, or with ``by_lines`` the changed regions of a line diff
    of that range (two versions of one file differ in a few places far apart)."""
    limit = min(len(old), len(new))
    start = _shared_prefix(old, new, limit)
    suffix = _shared_prefix(old[start:][::-1], new[start:][::-1], limit - start)
    old_end, new_end = len(old) - suffix, len(new) - suffix
    if not by_lines or start == old_end or start == new_end:
        return [(start, old_end, start, new_end)]
    from transforms.code.search_replace import changed_spans  # search_replace imports languages, not parse

    start = old.rfind(b"\n", 0, start) + 1  # whole lines: the line diff starts and ends at line ends
    old_lines = old[start:old_end].splitlines(keepends=True)
    new_lines = new[start:new_end].splitlines(keepends=True)
    old_offsets = list(itertools.accumulate(map(len, old_lines), initial=start))
    new_offsets = list(itertools.accumulate(map(len, new_lines), initial=start))
    return [(old_offsets[i1], old_offsets[i2], new_offsets[j1], new_offsets[j2])
            for i1, i2, j1, j2 in changed_spans(old_lines, new_lines)]


def _reparse(parser: tree_sitter.Parser, data: bytes, previous: tuple[bytes, tree_sitter.Tree] | None,
             by_lines: bool = False) -> tree_sitter.Tree:
    """The tree of ``data``: an incremental re-parse of ``previous`` (bytes, tree; a copy of the
    tree is edited, the tree itself stays valid) when the two share most of their bytes, else a
    fresh parse. tree-sitter's incremental parse gives the tree a fresh parse gives.
    ``by_lines``: ``previous`` is another version of the same file, so the changed regions come
    from a line diff rather than one range from the first to the last difference."""
    if previous is None:
        return parser.parse(data)
    old = previous[0]
    regions = _changed_regions(old, data, by_lines)
    changed_old = sum(a1 - a0 for a0, a1, _, _ in regions)
    changed_new = sum(b1 - b0 for _, _, b0, b1 in regions)
    if (len(regions) > REPARSE_MAX_EDITS or len(old) - changed_old < REPARSE_MIN_SHARED * len(old)
            or len(data) - changed_new < REPARSE_MIN_SHARED * len(data)):
        return parser.parse(data)
    tree = previous[1].copy()
    row, counted = 0, 0  # rows of data[:counted]
    for old_start, old_end, new_start, new_end in regions:
        # The regions before this one are edited already: up to here the tree's text is data's.
        row, counted = row + data.count(b"\n", counted, new_start), new_start
        start_point = (row, new_start - (data.rfind(b"\n", 0, new_start) + 1))
        rows = old.count(b"\n", old_start, old_end)
        old_end_point = ((row + rows, old_end - (old.rfind(b"\n", old_start, old_end) + 1)) if rows
                         else (row, start_point[1] + old_end - old_start))
        row, counted = row + data.count(b"\n", counted, new_end), new_end
        tree.edit(start_byte=new_start, old_end_byte=new_start + old_end - old_start, new_end_byte=new_end,
                  start_point=start_point, old_end_point=old_end_point,
                  new_end_point=(row, new_end - (data.rfind(b"\n", 0, new_end) + 1)))
    return parser.parse(data, old_tree=tree)


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _remember_tree(key: tuple[str, bytes], data: bytes, tree: tree_sitter.Tree, path: str | None) -> None:
    # under _parsed_lock
    if key not in _recent_trees:
        _recent_tree_bytes[0] += len(data)
    _recent_trees[key] = (data, tree)
    _recent_trees.move_to_end(key)
    if path is not None:
        _path_versions[(key[0], path)] = key
    while len(_recent_trees) > RECENT_TREES or (_recent_tree_bytes[0] > RECENT_TREE_BYTES and len(_recent_trees) > 1):
        _, (dropped, _) = _recent_trees.popitem(last=False)
        _recent_tree_bytes[0] -= len(dropped)
    if len(_path_versions) > 4 * RECENT_TREES:
        for stale in [p for p, k in _path_versions.items() if k not in _recent_trees]:
            del _path_versions[stale]


def _parsed(source: str | bytes, grammar: str, base: str | bytes | None = None,
            path: str | None = None) -> _Parsed | None:
    """Parse errors and definitions of one file version, parsed once per process for both.

    Clean-PR asks for the same versions again and again: a PR's before-file is often the
    previous PR's after-file, and the SFT step lists the definitions of files whose parse errors
    the edit step checked. Keyed by a digest of the bytes, so the cache holds no source text.
    The tree to re-parse from: ``base``'s (the file's previous version, when the caller knows
    it) if it is among the recent trees, else the last recent version of ``path``, else the
    grammar's last parsed tree."""
    if parser_for(grammar) is None:
        return None
    data = _source_bytes(source)
    key = (grammar, _digest(data))
    by_lines = True
    with _parsed_lock:
        hit = _parsed_cache.get(key)
        if hit is not None:
            _parsed_cache.move_to_end(key)
            return hit
        previous = _recent_trees.get((grammar, _digest(_source_bytes(base)))) if base is not None else None
        if previous is None and path is not None:
            previous = _recent_trees.get(_path_versions.get((grammar, path)))
        if previous is None:
            by_lines = False  # another file: only a shared head and tail are worth reusing
            previous = next((_recent_trees[k] for k in reversed(_recent_trees) if k[0] == grammar), None)
    tree = _reparse(parser_for(grammar), data, previous, by_lines)
    result = _Parsed(tree.root_node.has_error, _definitions_of(tree, grammar))
    with _parsed_lock:
        if key not in _parsed_cache:
            _parsed_definitions[0] += len(result.definitions)
        _parsed_cache[key] = result
        _parsed_cache.move_to_end(key)
        while _parsed_cache and (len(_parsed_cache) > PARSED_CACHE_SIZE
                                 or _parsed_definitions[0] > PARSED_CACHE_DEFINITIONS):
            _parsed_definitions[0] -= len(_parsed_cache.popitem(last=False)[1].definitions)
        if not _parsed_cache:
            _parsed_definitions[0] = 0
        _remember_tree(key, data, tree, path)
    return result


def has_parse_errors(source: str | bytes, grammar: str, base: str | bytes | None = None,
                     path: str | None = None) -> bool | None:
    """True when tree-sitter finds ERROR or MISSING nodes; None when there is no grammar.
    ``base`` (the file's previous version) and ``path``, if known, only make the parse cheaper."""
    parsed = _parsed(source, grammar, base, path)
    return None if parsed is None else parsed.has_error


def _text(node: tree_sitter.Node | None) -> str:
    return "" if node is None else node.text.decode("utf-8", "replace")


def _c_declarator_name(node: tree_sitter.Node) -> str:
    """Follow a C/C++ declarator chain (pointer, reference, function ...) to the declared name."""
    while node is not None:
        inner = node.child_by_field_name("declarator")
        if inner is None:
            if node.type in ("reference_declarator", "parenthesized_declarator"):
                inner = next((c for c in node.named_children if "declarator" in c.type or "identifier" in c.type), None)
                if inner is None:
                    return _text(node)
            else:
                return _text(node)
        node = inner
    return ""


def _first_descendant(node: tree_sitter.Node, node_type: str) -> tree_sitter.Node | None:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == node_type:
            return current
        stack.extend(reversed(current.named_children))
    return None


def _name_of(node: tree_sitter.Node, grammar: str) -> str:
    """The name a definition node declares ('' for anonymous ones, which are skipped)."""
    kind = node.type
    if grammar in ("c", "cpp"):
        if kind == "function_definition":
            declarator = node.child_by_field_name("declarator")
            return "" if declarator is None else _c_declarator_name(declarator)
        if kind.endswith("_specifier") and node.child_by_field_name("body") is None:
            return ""  # a use such as 'struct P *p', not a definition
    if grammar == "rust" and kind == "impl_item":
        return _GENERIC_SUFFIX.sub("", _text(node.child_by_field_name("type")))
    if kind == "variable_declarator":
        value = node.child_by_field_name("value")
        if value is None or value.type not in _FUNCTION_VALUES:
            return ""
    name = node.child_by_field_name("name")
    if name is None and grammar == "kotlin":
        name = next((c for c in node.named_children if c.type in ("identifier", "type_identifier", "simple_identifier")), None)
    return _text(name)


def _scope_of(node: tree_sitter.Node, grammar: str, enclosing: str) -> str:
    """The qualified name a definition's name is appended to; a Go method is scoped by its receiver type."""
    if grammar == "go" and node.type == "method_declaration":
        receiver = node.child_by_field_name("receiver")
        receiver_type = None if receiver is None else _first_descendant(receiver, "type_identifier")
        if receiver_type is not None:
            return _text(receiver_type)
    return enclosing


def _span_node(node: tree_sitter.Node) -> tree_sitter.Node:
    """The node whose lines a definition covers: with its decorators / template / export wrapper."""
    parent = node.parent
    while parent is not None and parent.type in ("decorated_definition", "template_declaration", "export_statement"):
        node, parent = parent, parent.parent
    return node


def list_definitions(source: str | bytes, grammar: str, path: str | None = None) -> list[Definition]:
    """All named function/class/module definitions, in source order; [] when there is no grammar.
    ``path``, if known, only makes the parse cheaper (see ``has_parse_errors``)."""
    parsed = _parsed(source, grammar, path=path)
    return [] if parsed is None else list(parsed.definitions)


@lru_cache(maxsize=None)
def _definition_query(grammar: str) -> tree_sitter.Query | None:
    """One query capturing every definition node type of ``grammar`` (types the grammar lacks left out)."""
    language = language_for(grammar)
    if language is None:
        return None
    patterns = []
    for node_type in DEFINITION_NODES.get(grammar, {}):
        pattern = f"({node_type}) @definition"
        try:
            tree_sitter.Query(language, pattern)
        except (tree_sitter.QueryError, ValueError):  # a node type this grammar version does not have
            continue
        patterns.append(pattern)
    return tree_sitter.Query(language, "\n".join(patterns)) if patterns else None


def _definitions_of(tree: tree_sitter.Tree | None, grammar: str) -> tuple[Definition, ...]:
    # The definition nodes come from a tree-sitter query (found in C); only they are visited in
    # Python, each named by the nearest enclosing definition that has a name.
    query = _definition_query(grammar)
    if tree is None or query is None:
        return ()
    node_kinds = DEFINITION_NODES[grammar]
    nodes = tree_sitter.QueryCursor(query).captures(tree.root_node).get("definition", [])
    nodes.sort(key=lambda n: (n.start_byte, -n.end_byte))  # every enclosing definition before what it encloses
    qualified: dict[int, str] = {}  # node id -> qualified name, for named definitions
    definitions: list[Definition] = []
    for node in nodes:
        name = _name_of(node, grammar)
        if not name:
            continue
        enclosing, parent = "", node.parent
        while parent is not None:
            if parent.id in qualified:
                enclosing = qualified[parent.id]
                break
            parent = parent.parent
        span = _span_node(node)
        end_row = span.end_point.row
        if span.end_point.column == 0 and end_row > span.start_point.row:
            end_row -= 1  # the node ends at the start of the next line
        parent_scope = _scope_of(node, grammar, enclosing)
        scope = qualified[node.id] = f"{parent_scope}.{name}" if parent_scope else name
        definitions.append(Definition(name, scope, node_kinds[node.type], span.start_point.row + 1, end_row + 1))
    definitions.sort(key=lambda d: (d.start_line, -d.end_line))
    return tuple(definitions)


def enclosing_definitions(source: str | bytes, grammar: str, line_numbers: Iterable[int], *,
                          innermost: bool = True) -> list[str]:
    """Qualified names of the definitions enclosing the given 1-based lines.

    With ``innermost`` (the default) each line contributes only its innermost definition
    (``Server.handle`` rather than also ``Server``), as Agentless's navigation step lists
    locations; otherwise every enclosing definition. Names come in source order, each once;
    lines outside any definition contribute nothing.
    """
    definitions = list_definitions(source, grammar)
    wanted = sorted(set(line_numbers))
    found: set[Definition] = set()
    for line in wanted:
        enclosing = [d for d in definitions if d.start_line <= line <= d.end_line]
        if not enclosing:
            continue
        if innermost:
            found.add(max(enclosing, key=lambda d: (d.start_line, -d.end_line, d.qualified_name.count("."))))
        else:
            found.update(enclosing)
    names: list[str] = []
    for definition in definitions:
        if definition in found and definition.qualified_name not in names:
            names.append(definition.qualified_name)
    return names


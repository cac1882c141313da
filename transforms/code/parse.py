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


# The trees of the last file versions parsed (bytes and tree by (grammar, digest)): a PR's after-file
# is re-parsed from its before-file's tree (the previous PR's after-file, often), and tree-sitter
# re-parses only what an edit touched. Bounded: a tree takes some 10-20 bytes per source byte.
RECENT_TREES = 8
_recent_trees: OrderedDict[tuple[str, bytes], tuple[bytes, tree_sitter.Tree]] = OrderedDict()
REPARSE_MIN_SHARED = 0.5  # incremental only when the unchanged prefix + suffix are this share of the file


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


def _point(data: bytes, offset: int) -> tuple[int, int]:
    """tree-sitter's (row, byte column) of ``offset`` in ``data``."""
    return data.count(b"\n", 0, offset), offset - (data.rfind(b"\n", 0, offset) + 1)


def _reparse(parser: tree_sitter.Parser, data: bytes,
             previous: tuple[bytes, tree_sitter.Tree] | None) -> tree_sitter.Tree:
    """The tree of ``data``: an incremental re-parse of ``previous`` (bytes, tree; a copy of the
    tree is edited, the tree itself stays valid) when the two share most of their bytes, else a
    fresh parse. tree-sitter's incremental parse gives the tree a fresh parse gives."""
    if previous is not None:
        old, old_tree = previous[0], previous[1].copy()
        limit = min(len(old), len(data))
        start = _shared_prefix(old, data, limit)
        suffix = _shared_prefix(old[start:][::-1], data[start:][::-1], limit - start)
        if start + suffix >= REPARSE_MIN_SHARED * len(data) and start + suffix >= REPARSE_MIN_SHARED * len(old):
            old_end, new_end = len(old) - suffix, len(data) - suffix
            old_tree.edit(start_byte=start, old_end_byte=old_end, new_end_byte=new_end,
                          start_point=_point(old, start), old_end_point=_point(old, old_end),
                          new_end_point=_point(data, new_end))
            return parser.parse(data, old_tree=old_tree)
    return parser.parse(data)


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _parsed(source: str | bytes, grammar: str, base: str | bytes | None = None) -> _Parsed | None:
    """Parse errors and definitions of one file version, parsed once per process for both.

    Clean-PR asks for the same versions again and again: a PR's before-file is often the
    previous PR's after-file, and the SFT step lists the definitions of files whose parse errors
    the edit step checked. Keyed by a digest of the bytes, so the cache holds no source text.
    ``base`` (the file's previous version, when the caller knows it) is the tree to re-parse
    from if it is among the recent trees; else the grammar's last parsed tree is tried."""
    if parser_for(grammar) is None:
        return None
    data = _source_bytes(source)
    key = (grammar, _digest(data))
    with _parsed_lock:
        hit = _parsed_cache.get(key)
        if hit is not None:
            _parsed_cache.move_to_end(key)
            return hit
        previous = _recent_trees.get((grammar, _digest(_source_bytes(base)))) if base is not None else None
        if previous is None:
            previous = next((_recent_trees[k] for k in reversed(_recent_trees) if k[0] == grammar), None)
    tree = _reparse(parser_for(grammar), data, previous)
    result = _Parsed(tree.root_node.has_error, _definitions_of(tree, grammar))
    with _parsed_lock:
        _parsed_cache[key] = result
        _parsed_definitions[0] += len(result.definitions)
        while _parsed_cache and (len(_parsed_cache) > PARSED_CACHE_SIZE
                                 or _parsed_definitions[0] > PARSED_CACHE_DEFINITIONS):
            _parsed_definitions[0] -= len(_parsed_cache.popitem(last=False)[1].definitions)
        if not _parsed_cache:
            _parsed_definitions[0] = 0
        _recent_trees[key] = (data, tree)
        _recent_trees.move_to_end(key)
        while len(_recent_trees) > RECENT_TREES:
            _recent_trees.popitem(last=False)
    return result


def has_parse_errors(source: str | bytes, grammar: str, base: str | bytes | None = None) -> bool | None:
    """True when tree-sitter finds ERROR or MISSING nodes; None when there is no grammar.
    ``base``: the file's previous version, if known (it only makes the parse cheaper)."""
    parsed = _parsed(source, grammar, base)
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


def list_definitions(source: str | bytes, grammar: str) -> list[Definition]:
    """All named function/class/module definitions, in source order; [] when there is no grammar."""
    parsed = _parsed(source, grammar)
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


"""A Verus-aware parser on top of tree-sitter-rust.

tree-sitter-rust sees the body of ``verus! { ... }`` only as a flat token tree (and flags Verus
tokens such as ``=~=`` as errors inside it), so this module lexes and structures the body itself:

* ``tokenize`` is a Rust lexer that knows the Verus operators (``==>``, ``<==``, ``<==>``, ``===``,
  ``!==``, ``=~=``, ``=~~=``, ``&&&``, ``|||``, ``@``), raw strings, char literals vs lifetimes and
  nested block comments;
* the item parser finds functions with their mode (spec / proof / exec; ``axiom fn`` is a
  bodiless proof fn), qualifiers, attributes, signature clauses (requires, ensures, recommends,
  decreases, returns, ``atomically (au) { .. }``, ...) and ``by (solver)``; datatypes, impl / trait /
  mod blocks, ``broadcast use`` / ``broadcast group``, ``assume_specification`` (also of a const),
  ``spec`` / ``exec`` consts and statics (with ``ensures .. { body }``), state machine macros and
  other items; a ``{`` in a clause is a block expression after an attribute (``#![auto] {``), in a
  ``matches Path { .. }`` pattern, or when the block goes on (``ensures { .. },``);
* inside function bodies it finds loops with their clauses (invariant, invariant_except_break,
  ensures, decreases) and proof statements (``proof { }``, assert / assert-by / assert forall,
  assume, admit, reveal, calc!, vstd's assert_seqs_equal!-style macros, ghost / tracked lets,
  broadcast use).

``parse_verus`` answers ``Rejected("parse_error", detail)`` when:

* the source is empty, a string / char literal / block comment is unterminated, or a character
  is not Rust;
* ``()``, ``[]`` or ``{}`` are unbalanced or mismatched anywhere in the file;
* tree-sitter-rust reports an ERROR or MISSING node outside every ``verus!`` body (the code around
  the macro is plain Rust; errors inside a body are tree-sitter not knowing Verus, and are ignored);
* an item inside a body is not one this parser knows (detail names the token and line), or a
  function / loop has no body where one is required;

and ``Rejected("no_function", detail)`` when the Verus code is valid but holds no function at all
(only datatypes, or only ``macro_rules!`` templates of ``verus!`` code).

State machine macros (``state_machine!``, ``tokenized_state_machine!``) are items: their ``fn``s
(``#[invariant]`` predicates, ``#[inductive(..)]`` lemmas) are parsed as functions of container
``state_machine``; their ``fields`` and transitions (``init!``, ``transition!``, ``property!``) are
opaque. One that does not parse that way is an opaque ``macro`` item. A ``verus!`` inside a
``macro_rules!`` body is a template (``$x`` metavariables), left to the macro.

A file without any ``verus!`` invocation is accepted and parsed as one Verus body (snippets in
datasets often omit the wrapper); ``VerusProgram.wrapped`` says which case it was, and the
tree-sitter check applies only to wrapped files.

Positions are token indices into ``VerusProgram.tokens`` (significant tokens; comments are kept
apart in ``comments``); ranges are half-open ``[start, end)``.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from transforms.code.parse import parser_for
from transforms.records import Rejected

# ---------------------------------------------------------------------------------------- lexer


@dataclass(frozen=True)
class Token:
    """A lexical token: kind is ident, lifetime, number, str, char, punct or comment."""

    kind: str
    text: str
    start: int  # character offset in the source
    end: int
    line: int  # 1-based line of the first character


class VerusSyntaxError(ValueError):
    """Source that this parser cannot structure (becomes a ``parse_error`` reject)."""


_CHAR = re.compile(r"'(?:[^'\\\n]|\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F_]{1,6}\}|.))'")
_LIFETIME = re.compile(r"'[^\W\d]\w*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_RAW_STRING_OPEN = re.compile(r'[bc]?r(#*)"')
_BLOCK_COMMENT_MARK = re.compile(r"/\*|\*/")


_MASTER = re.compile(r"""
    (?P<ws>\s+)
  | (?P<special>//|/\*|[bc]?r\#*"|[bc]"|b'|"|')
  | (?P<ident>(?:r\#)?[^\W\d]\w*)
  | (?P<number>0[xob]\w*|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d[\d_]*)?\w*)
  | (?P<punct><==>|=~~=|===|!==|==>|<==|=~=|&&&|\|\|\||\.\.\.|\.\.=|<<=|>>=
              |::|->|=>|==|!=|<=|>=|&&|\|\||\+=|-=|\*=|/=|%=|\^=|&=|\|=|<<|>>|\.\.
              |[-+*/%^!&|=<>@.,;:\#$?~()\[\]{}])
""", re.X)


def tokenize(source: str) -> tuple[list[Token], list[Token]]:
    """Significant tokens and comments of Rust/Verus source; raises VerusSyntaxError."""
    tokens: list[Token] = []
    comments: list[Token] = []
    newlines = [m.start() for m in re.finditer("\n", source)]

    def line_of(offset: int) -> int:
        return bisect.bisect_right(newlines, offset - 1) + 1

    pos, n = 0, len(source)
    while pos < n:
        m = _MASTER.match(source, pos)
        if m is None:
            raise VerusSyntaxError(f"unexpected character {source[pos]!r} at line {line_of(pos)}")
        kind = m.lastgroup
        if kind == "ws":
            pos = m.end()
            continue
        if kind == "special":  # comments, strings and chars need a scanner, not one regex
            kind, end = _scan_token(source, pos, line_of(pos))
        else:
            end = m.end()
        (comments if kind == "comment" else tokens).append(Token(kind, source[pos:end], pos, end, line_of(pos)))
        pos = end
    return tokens, comments


def _scan_token(source: str, i: int, line: int) -> tuple[str, int]:
    """Kind and end offset of the comment, string or char literal / lifetime starting at ``i``."""
    c = source[i]
    if source.startswith("//", i):
        end = source.find("\n", i)
        return "comment", len(source) if end < 0 else end
    if source.startswith("/*", i):
        depth, j = 1, i + 2
        while depth:
            m = _BLOCK_COMMENT_MARK.search(source, j)
            if m is None:
                raise VerusSyntaxError(f"unterminated block comment at line {line}")
            depth += 1 if m.group() == "/*" else -1
            j = m.end()
        return "comment", j
    raw = _RAW_STRING_OPEN.match(source, i)
    if raw:
        closing = '"' + raw.group(1)
        end = source.find(closing, raw.end())
        if end < 0:
            raise VerusSyntaxError(f"unterminated raw string at line {line}")
        return "str", end + len(closing)
    if c in "bc" and source.startswith('"', i + 1):
        return "str", _string_end(source, i + 1, line)
    if c == "b":  # b'x'
        m = _CHAR.match(source, i + 1)
        if m is None:
            raise VerusSyntaxError(f"unterminated byte literal at line {line}")
        return "char", m.end()
    if c == '"':
        return "str", _string_end(source, i, line)
    m = _CHAR.match(source, i) or _LIFETIME.match(source, i)
    if m is None:
        raise VerusSyntaxError(f"unterminated char literal at line {line}")
    return ("char" if m.re is _CHAR else "lifetime"), m.end()


def _string_end(source: str, i: int, line: int) -> int:
    m = _STRING.match(source, i)
    if m is None:
        raise VerusSyntaxError(f"unterminated string at line {line}")
    return m.end()


_PAIRS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = frozenset(_PAIRS.values())


def match_delimiters(tokens: list[Token]) -> dict[int, int]:
    """Index of the partner of every bracket token (both ways); raises on imbalance."""
    stack: list[int] = []
    matching: dict[int, int] = {}
    for i, tok in enumerate(tokens):
        if tok.kind != "punct":
            continue
        if tok.text in _PAIRS:
            stack.append(i)
        elif tok.text in _CLOSERS:
            if not stack:
                raise VerusSyntaxError(f"unmatched {tok.text!r} at line {tok.line}")
            j = stack.pop()
            if _PAIRS[tokens[j].text] != tok.text:
                raise VerusSyntaxError(
                    f"{tokens[j].text!r} at line {tokens[j].line} closed by {tok.text!r} at line {tok.line}")
            matching[i], matching[j] = j, i
    if stack:
        tok = tokens[stack[-1]]
        raise VerusSyntaxError(f"unclosed {tok.text!r} at line {tok.line}")
    return matching


# ------------------------------------------------------------------------------- program model

FN_CLAUSES = ("requires", "ensures", "recommends", "decreases", "returns", "opens_invariants",
              "no_unwind", "default_ensures", "atomically")
SPEC_CLAUSES = ("requires", "ensures", "recommends", "returns", "atomically")
LOOP_CLAUSES = ("invariant", "invariant_except_break", "ensures", "decreases")
# Verus statements that are proof, never exec code.
PROOF_STATEMENTS = frozenset({"proof_block", "assert", "assert_by", "assert_forall", "assume", "admit",
                              "reveal", "reveal_with_fuel", "hide", "calc", "broadcast_use"})
# Attributes that tune the prover for a function: proof detail, not spec.
PROOF_TUNING_ATTRIBUTES = frozenset({"verifier::rlimit", "verifier::spinoff_prover",
                                     "verifier::loop_isolation", "verifier::nonlinear"})
_OLD_STYLE_ASSERTS = {  # vstd functions from before assert-by syntax: name -> (kind, solver)
    "assert_by": ("assert_by", None),
    "assert_forall_by": ("assert_forall", None),
    "assert_nonlinear_by": ("assert_by", "nonlinear_arith"),
    "assert_bit_vector": ("assert_by", "bit_vector"),
    "assert_bitvector_by": ("assert_by", "bit_vector"),
}
# vstd macros that are assert-by proofs (extensional equality, contradiction)
_PROOF_MACROS = frozenset({"assert_seqs_equal", "assert_sets_equal", "assert_maps_equal",
                           "assert_multisets_equal", "assert_by_contradiction"})
_MODES = ("spec", "proof", "exec")
# macros whose body is a Verus state machine (verus-lang/verus source/state_machines_macros)
STATE_MACHINE_MACROS = frozenset({"state_machine", "tokenized_state_machine", "tokenized_state_machine_vstd"})
# attributes that give a state machine's fn its mode (it is written without one)
_STATE_MACHINE_MODES = {"invariant": "spec", "inductive": "proof", "spec": "spec", "proof": "proof"}
_SIMPLE_QUALIFIERS = frozenset({"unsafe", "async", "default", "uninterp", "tracked", "ghost"})
# tokens that can follow a block expression in a clause, never a fn / loop body
_AFTER_BLOCK_EXPRESSION = frozenset({",", "==>", "<==>", "<==", "&&", "||", "==", "!=", "&&&", "|||"})
# identifiers after which an expression (not a function body) starts
EXPRESSION_KEYWORDS = frozenset(FN_CLAUSES + LOOP_CLAUSES + (
    "else", "return", "in", "move", "forall", "exists", "choose", "by", "implies"))


_VERIFIER_ATTRIBUTE = re.compile(r"(?:\bverifier::|\bverifier\(|\binternal\()(\w+)")


@dataclass(frozen=True)
class Attribute:
    """``#[...]`` / ``#![...]``: name normalized (``verifier(x)`` -> ``verifier::x``)."""

    name: str
    text: str  # the tokens between the brackets, joined without spaces
    start: int  # index of '#'
    end: int  # one past ']'
    inner: bool

    def names(self) -> frozenset[str]:
        """Its name and every verifier attribute it applies, also as ``verus::internal(x)`` or
        inside ``cfg_attr(pred, verifier::x, ..)`` (Verus builds with ``verus_keep_ghost`` set)."""
        return frozenset({self.name} | {"verifier::" + w for w in _VERIFIER_ATTRIBUTE.findall(self.text)})


@dataclass(frozen=True)
class Clause:
    """A signature / loop clause: keyword at ``start``, ends before the next clause or the body."""

    kind: str
    start: int
    end: int
    exprs: tuple[tuple[int, int], ...]  # comma-separated top-level expressions


@dataclass(frozen=True)
class Loop:
    """A ``while`` / ``loop`` / ``for`` loop with its clauses."""

    kind: str
    start: int  # the keyword
    body: tuple[int, int]  # indices of '{' and '}'
    clauses: tuple[Clause, ...]


@dataclass(frozen=True)
class Statement:
    """A proof or ghost statement inside a body (kinds: PROOF_STATEMENTS, ghost_let, tracked_let)."""

    kind: str
    start: int
    end: int  # one past the statement, trailing ';' included
    solver: str | None = None  # the ``by (solver)`` of an assert


@dataclass(frozen=True)
class Function:
    """A ``fn`` item with its Verus mode, signature clauses and what its body holds."""

    name: str
    mode: str  # 'spec', 'proof' or 'exec'
    qualifiers: tuple[str, ...]  # pub, open, closed, broadcast, uninterp, const, ...
    attributes: tuple[Attribute, ...]
    container: str  # '', 'impl', 'trait_impl' or 'trait'
    owner: str  # the impl'd type / trait name ('' at module level)
    start: int  # first token of the item (attributes included)
    name_index: int
    params: tuple[int, int]  # indices of '(' and ')'
    ret_arrow: int | None
    ret_name: str | None  # r in ``-> (r: T)``
    solver: str | None  # ``by (nonlinear_arith)`` etc. on the signature
    solver_span: tuple[int, int] | None
    clauses: tuple[Clause, ...]
    body: tuple[int, int] | None  # indices of '{' and '}'; None for ``fn f(...);``
    end: int
    loops: tuple[Loop, ...]
    statements: tuple[Statement, ...]
    calls: frozenset[str]  # names called in the body (``f(``, ``x.f(``, ``T::f(``)

    def has_attribute(self, name: str) -> bool:
        return any(name in a.names() for a in self.attributes)

    def clauses_of(self, kind: str) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.kind == kind)


@dataclass(frozen=True)
class Item:
    """Any item of a Verus body: fn, struct, enum, union, impl, trait, mod, use, broadcast_use,
    broadcast_group, assume_specification, const, static, type, global, extern (crate),
    extern_block, macro."""

    kind: str
    name: str
    start: int
    end: int
    attributes: tuple[Attribute, ...] = ()
    container: str = ""
    clauses: tuple[Clause, ...] = ()


@dataclass(frozen=True, eq=False)
class VerusProgram:
    """A parsed Verus source file."""

    source: str
    tokens: tuple[Token, ...]
    comments: tuple[Token, ...]
    matching: dict[int, int] = field(repr=False)
    wrapped: bool  # the Verus code sits in ``verus! { }`` (else the whole file is Verus)
    bodies: tuple[tuple[int, int], ...]  # token ranges inside each verus! body
    items: tuple[Item, ...]  # every item, nested ones included, in source order
    functions: tuple[Function, ...]

    def char_span(self, start: int, end: int) -> tuple[int, int]:
        """Character range of the token range [start, end)."""
        return self.tokens[start].start, self.tokens[end - 1].end

    def text(self, start: int, end: int) -> str:
        """Source text of the token range [start, end)."""
        if end <= start:
            return ""
        lo, hi = self.char_span(start, end)
        return self.source[lo:hi]

    def in_bodies(self, index: int) -> bool:
        return any(lo <= index < hi for lo, hi in self.bodies)

    def body_token_indices(self) -> list[int]:
        """Indices of the tokens inside the verus! bodies, in order."""
        return [i for lo, hi in self.bodies for i in range(lo, hi)]


# ------------------------------------------------------------------------------------ parsing


def parse_verus(source: str) -> VerusProgram | Rejected:
    """Parse a Verus source file; ``Rejected('parse_error', detail)`` when it does not parse."""
    if not source.strip():
        return Rejected("parse_error", "empty source")
    try:
        tokens, comments = tokenize(source)
        matching = match_delimiters(tokens)
        found = _verus_bodies(tokens, matching)
        wrapped = found.seen or bool(found.ranges)
        bodies = found.ranges
        if wrapped:
            error = _tree_sitter_error_outside(source, tokens, found.groups)
            if error:
                return Rejected("parse_error", error)
        else:
            bodies = [(0, len(tokens))]
        parser = _Parser(tokens, matching)
        for lo, hi in bodies:
            parser.items(lo, hi, "", "")
    except VerusSyntaxError as exc:
        return Rejected("parse_error", str(exc))
    if not parser.functions:
        return Rejected("no_function", "no functions in the Verus code")
    return VerusProgram(
        source=source, tokens=tuple(tokens), comments=tuple(comments), matching=matching,
        wrapped=wrapped, bodies=tuple(bodies),
        items=tuple(sorted(parser.item_list, key=lambda it: (it.start, -it.end))),
        functions=tuple(sorted(parser.functions, key=lambda f: f.start)),
    )


@dataclass(frozen=True)
class _Bodies:
    """Where the Verus code of a file is: item ranges, the macro groups tree-sitter cannot judge,
    and whether any ``verus!`` was seen (also one only inside a ``macro_rules!`` template)."""

    ranges: list[tuple[int, int]]
    groups: list[tuple[int, int]]  # indices of the delimiters of each verus! / state machine macro
    seen: bool


def _macro_aliases(tokens: list[Token]) -> set[str]:
    """``verus`` and every name it is imported under (vstd: ``use verus as verus_;``)."""
    names = {"verus"}
    for i in range(len(tokens) - 3):
        if (tokens[i].text == "verus" and tokens[i + 1].text == "as" and tokens[i + 2].kind == "ident"
                and tokens[i + 3].text == ";"):
            names.add(tokens[i + 2].text)
    return names


def _verus_bodies(tokens: list[Token], matching: dict[int, int]) -> _Bodies:
    """Token ranges inside every top-level ``verus!{...}`` (also ``verus!(...)`` / ``[...]``, and
    the macro under a ``use verus as x;`` alias), plus every top-level state machine macro
    invocation whole (it is an item of its own). A ``verus!`` inside a ``macro_rules!`` body is a
    template with ``$`` metavariables: the macro_rules item stays plain Rust."""
    names = _macro_aliases(tokens)
    ranges: list[tuple[int, int]] = []
    groups: list[tuple[int, int]] = []
    seen = False
    i, n = 0, len(tokens)
    while i < n - 2:
        tok = tokens[i]
        if tok.kind == "ident" and tokens[i + 1].text == "!":
            if tok.text == "macro_rules" and i + 3 < n and tokens[i + 3].text in _PAIRS:
                close = matching[i + 3]
                seen = seen or any(tokens[k].text in names and tokens[k + 1].text == "!"
                                   for k in range(i + 4, close - 1))
                i = close + 1
                continue
            if tokens[i + 2].text in _PAIRS and (tok.text in names or tok.text in STATE_MACHINE_MACROS):
                close = matching[i + 2]
                groups.append((i + 2, close))
                ranges.append((i + 3, close) if tok.text in names else (i, close + 1))
                seen = seen or tok.text in names
                i = close + 1
                continue
        i += 1
    return _Bodies(ranges, groups, seen)


def _tree_sitter_error_outside(source: str, tokens: list[Token], groups: list[tuple[int, int]]) -> str | None:
    """Detail of the first tree-sitter ERROR / MISSING node outside the Verus macro groups, else None."""
    parser = parser_for("rust")
    if parser is None:  # no grammar wheel: the lexer and item parser are the only checks
        return None
    data = source.encode("utf-8", "replace")
    tree = parser.parse(data)
    if not tree.root_node.has_error:
        return None

    def byte_offset(char_offset: int) -> int:
        return len(source[:char_offset].encode("utf-8", "replace"))

    ranges = [(byte_offset(tokens[lo].start), byte_offset(tokens[hi].end)) for lo, hi in groups]
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if not node.has_error:
            continue
        if any(lo <= node.start_byte and node.end_byte <= hi for lo, hi in ranges):
            continue
        if node.is_error and data[node.start_byte:node.start_byte + 2] == b"#[":
            continue  # an attribute on an expression: rustc parses it, tree-sitter-rust does not
        if node.is_error or node.is_missing:
            what = "missing " + node.type if node.is_missing else "syntax error"
            return f"tree-sitter: {what} outside verus! at line {node.start_point.row + 1}"
        stack.extend(reversed(node.children))
    return None


def operand_expected(prev: Token | None) -> bool:
    """After ``prev``, does an expression start (so '{' is a block and '|' opens a closure)?"""
    if prev is None:
        return True
    if prev.kind == "ident":
        return prev.text in EXPRESSION_KEYWORDS
    if prev.kind == "punct":
        return prev.text not in (")", "]", "}", "?", "@", ">", ">>")  # postfix / closing tokens
    return False


class _Parser:
    """Recursive item parser over the token list; collects items and functions."""

    def __init__(self, tokens: list[Token], matching: dict[int, int]):
        self.t = tokens
        self.m = matching
        self.n = len(tokens)
        self.item_list: list[Item] = []
        self.functions: list[Function] = []

    # -- helpers
    def text(self, i: int) -> str:
        return self.t[i].text if 0 <= i < self.n else ""

    def is_(self, i: int, text: str) -> bool:
        return 0 <= i < self.n and self.t[i].text == text

    def is_ident(self, i: int) -> bool:
        return 0 <= i < self.n and self.t[i].kind == "ident"

    def error(self, i: int, message: str) -> VerusSyntaxError:
        line = self.t[min(i, self.n - 1)].line if self.n else 1
        return VerusSyntaxError(f"{message} at line {line}")

    def until_semicolon(self, i: int, hi: int) -> int:
        """One past the ';' ending the item / statement at i (groups skipped)."""
        j = i
        while j < hi:
            x = self.text(j)
            if x in _PAIRS:
                j = self.m[j] + 1
                continue
            if x == ";":
                return j + 1
            if x in _CLOSERS:
                break
            j += 1
        raise self.error(i, f"missing ';' after {self.text(i)!r}")

    def optional_semicolon(self, j: int) -> int:
        return j + 1 if self.is_(j, ";") else j

    def skip_angles(self, j: int) -> int:
        """One past the '>' closing the generic arguments opened at j."""
        depth, k = 0, j
        while k < self.n:
            x = self.text(k)
            if x in _PAIRS:
                k = self.m[k] + 1
                continue
            if x == "<":
                depth += 1
            elif x == "<<":
                depth += 2
            elif x == ">":
                depth -= 1
            elif x == ">>":
                depth -= 2
            elif x in (";", "{") or x in _CLOSERS:
                break
            k += 1
            if depth <= 0:
                return k
        raise self.error(j, "unclosed '<'")

    def attribute(self, i: int) -> Attribute:
        inner = self.is_(i + 1, "!")
        open_ = i + 2 if inner else i + 1
        if not self.is_(open_, "["):
            raise self.error(i, "malformed attribute")
        close = self.m[open_]
        words = [self.text(k) for k in range(open_ + 1, close)]
        name_parts: list[str] = []
        for k, w in enumerate(words):
            if w in ("(", "=", "["):
                if name_parts == ["verifier"] and w == "(" and k + 1 < len(words):
                    name_parts = ["verifier", "::", words[k + 1]]
                break
            name_parts.append(w)
        return Attribute("".join(name_parts), "".join(words), i, close + 1, inner)

    # -- items
    def items(self, lo: int, hi: int, container: str, owner: str) -> None:
        i = lo
        while i < hi:
            start = i
            attributes: list[Attribute] = []
            while self.is_(i, "#") and i < hi:
                attribute = self.attribute(i)
                attributes.append(attribute)
                i = attribute.end
            if i >= hi:
                break
            qualifiers: list[str] = []
            mode = "exec"
            while True:
                x, nxt = self.text(i), self.text(i + 1)
                if x == "pub" or (x in ("open", "closed") and (nxt in _MODES or nxt in ("(", "fn"))):
                    qualifiers.append(x)
                    i += 1
                    if self.is_(i, "("):
                        i = self.m[i] + 1
                elif x in _SIMPLE_QUALIFIERS and nxt != "{" and nxt != "!":
                    qualifiers.append(x)
                    i += 1
                elif x == "extern" and i + 1 < self.n and self.t[i + 1].kind == "str" and self.text(i + 2) != "{":
                    qualifiers.append(x)
                    i += 2
                elif x == "const" and nxt in ("fn", "unsafe", "async", "extern") + _MODES:
                    qualifiers.append(x)
                    i += 1
                elif x == "broadcast" and nxt not in ("use", "group"):
                    qualifiers.append(x)
                    i += 1
                elif x in _MODES and (nxt in ("fn", "(", "const", "static") or nxt in _SIMPLE_QUALIFIERS):
                    mode = x
                    i += 1
                    if self.is_(i, "("):  # spec(checked)
                        i = self.m[i] + 1
                elif x == "axiom" and nxt == "fn":  # Verus: a proof fn without body, external_body
                    qualifiers.append(x)
                    mode = "proof"
                    i += 1
                else:
                    break
            i = self.item(start, i, hi, tuple(attributes), tuple(qualifiers), mode, container, owner)

    def item(self, start: int, i: int, hi: int, attributes: tuple[Attribute, ...],
             qualifiers: tuple[str, ...], mode: str, container: str, owner: str) -> int:
        """Parse the item whose keyword is at i; returns the index after it."""
        kw, nxt = self.text(i), self.text(i + 1)

        def add(kind: str, name: str, end: int, clauses: tuple[Clause, ...] = ()) -> int:
            self.item_list.append(Item(kind, name, start, end, attributes, container, clauses))
            return end

        if kw == "fn":
            fn = self.function(start, i, hi, attributes, qualifiers, mode, container, owner)
            self.functions.append(fn)
            return add("fn", fn.name, fn.end)
        if kw in ("struct", "enum") or (kw == "union" and self.is_ident(i + 1)):
            return add(kw, nxt, self.datatype_end(i, hi))
        if kw in ("impl", "trait"):
            open_, owner_name, trait_impl = self.block_header(i, hi)
            inner = "trait" if kw == "trait" else ("trait_impl" if trait_impl else "impl")
            self.items(open_ + 1, self.m[open_], inner, owner_name)
            return add(kw, owner_name, self.optional_semicolon(self.m[open_] + 1))
        if kw == "mod":
            if self.is_(i + 2, ";"):
                return add("mod", nxt, i + 3)
            if not self.is_(i + 2, "{"):
                raise self.error(i, "malformed mod")
            self.items(i + 3, self.m[i + 2], container, owner)
            return add("mod", nxt, self.m[i + 2] + 1)
        if kw == "broadcast" and nxt == "use":
            return add("broadcast_use", "", self.until_semicolon(i, hi))
        if kw == "broadcast" and nxt == "group":
            if not self.is_(i + 3, "{"):
                raise self.error(i, "malformed broadcast group")
            return add("broadcast_group", self.text(i + 2), self.optional_semicolon(self.m[i + 3] + 1))
        if kw == "assume_specification":
            name, end, clauses = self.assume_specification(i, hi)
            return add("assume_specification", name, end, clauses)
        if kw == "use":
            return add("use", "", self.until_semicolon(i, hi))
        if kw in ("const", "static"):
            end, clauses = self.const_end(i, hi)
            return add(kw, nxt if self.is_ident(i + 1) else "", end, clauses)
        if kw == "type" or (kw == "global" and self.is_ident(i + 1)):
            name = nxt if self.is_ident(i + 1) else ""
            return add(kw, name, self.until_semicolon(i, hi))
        if kw == "extern" and nxt == "crate":
            return add("extern", self.text(i + 2), self.until_semicolon(i, hi))
        if kw == "extern" and self.is_(i + 2, "{"):
            return add("extern_block", "", self.m[i + 2] + 1)
        if kw == "macro_rules" and nxt == "!" and self.text(i + 3) in _PAIRS:
            return add("macro", self.text(i + 2), self.optional_semicolon(self.m[i + 3] + 1))
        if kw in STATE_MACHINE_MACROS and nxt == "!" and self.text(i + 2) in _PAIRS:
            name = self.state_machine(i + 2)
            if name is not None:
                return add("state_machine", name, self.optional_semicolon(self.m[i + 2] + 1))
        if self.is_ident(i) and nxt == "!" and self.text(i + 2) in _PAIRS:
            if self.is_(i + 2, "{") and kw != "macro_rules":  # Verus items in a macro (exec_spec!, ..)
                self.try_items(i + 3, self.m[i + 2], container, owner)
            return add("macro", kw, self.optional_semicolon(self.m[i + 2] + 1))
        if kw == "fields" and container == "state_machine" and self.is_(i + 1, "{"):
            return add("fields", "", self.m[i + 1] + 1)
        if kw == ";" and not attributes and not qualifiers:
            return i + 1
        raise self.error(i, f"unexpected {kw!r} at item level")

    def const_end(self, i: int, hi: int) -> tuple[int, tuple[Clause, ...]]:
        """End of the const / static at i: ``= expr;``, ``;``, or Verus's ``ensures .. { body }``."""
        j = i + 1
        while j < hi:
            x = self.text(j)
            if x in ("(", "["):
                j = self.m[j] + 1
                continue
            if x == "<":
                j = self.skip_angles(j)
                continue
            if x in ("=", ";"):
                return self.until_semicolon(j, hi), ()
            if x in FN_CLAUSES or x == "{":
                clauses, stop = self.header(j, hi, FN_CLAUSES, j - 1)
                if not self.is_(stop, "{"):
                    raise self.error(i, f"{self.text(i)} without a body")
                return self.optional_semicolon(self.m[stop] + 1), tuple(clauses)
            j += 1
        raise self.error(i, f"missing ';' after {self.text(i)!r}")

    def state_machine(self, open_: int) -> str | None:
        """Parse the body of a state machine macro (``Name<T> { fields {..} init!{..} #[invariant]
        fn .. }``) as items of container ``state_machine``; None (nothing recorded) when it is not
        of that form."""
        close = self.m[open_]
        j = open_ + 1
        while self.is_(j, "#") and self.is_(j + 1, "["):  # #[verifier::reject_recursive_types(V)]
            j = self.m[j + 1] + 1
        if not self.is_ident(j):
            return None
        name = self.text(j)
        j += 1
        if self.is_(j, "<"):
            j = self.skip_angles(j)
        if not self.is_(j, "{") or self.m[j] + 1 != close:
            return None
        return name if self.try_items(j + 1, self.m[j], "state_machine", name) else None

    def try_items(self, lo: int, hi: int, container: str, owner: str) -> bool:
        """Parse [lo, hi) as items if it is items; else record nothing and answer False."""
        n_items, n_functions = len(self.item_list), len(self.functions)
        try:
            self.items(lo, hi, container, owner)
        except VerusSyntaxError:
            del self.item_list[n_items:], self.functions[n_functions:]
            return False
        return True

    def datatype_end(self, i: int, hi: int) -> int:
        j = i + 2
        while j < hi:
            x = self.text(j)
            if x == "<":
                j = self.skip_angles(j)
                continue
            if x in ("(", "["):
                j = self.m[j] + 1
                continue
            if x == "{":
                return self.m[j] + 1
            if x == ";":
                return j + 1
            j += 1
        raise self.error(i, f"{self.text(i)} without a body")

    def block_header(self, i: int, hi: int) -> tuple[int, str, bool]:
        """For impl / trait at i: index of the body '{', the owner name, whether it is ``impl T for X``."""
        j = i + 1
        if self.is_(j, "<"):
            j = self.skip_angles(j)
        name_start, trait_impl = j, False
        if self.text(i) == "trait":
            name_start = i + 1
        while j < hi and not self.is_(j, "{"):
            x = self.text(j)
            if x == "<":
                j = self.skip_angles(j)
                continue
            if x in ("(", "["):
                j = self.m[j] + 1
                continue
            if x == ";":
                raise self.error(i, f"{self.text(i)} without a body")
            if x == "for" and self.text(j + 1) != "<":
                trait_impl, name_start = True, j + 1
            j += 1
        if j >= hi:
            raise self.error(i, f"{self.text(i)} without a body")
        name_parts = []
        k = name_start
        while k < j and self.text(k) not in ("<", "where", "{", ":"):
            name_parts.append(self.text(k))
            k += 1
        return j, "".join(name_parts), trait_impl

    def header(self, j: int, hi: int, kinds: tuple[str, ...], prev_index: int) -> tuple[list[Clause], int]:
        """Clauses from j up to the body '{' or ';' (whose index is returned).

        A '{' opens the body unless an expression is still being written: after an operator,
        a clause keyword, ``else``, or as the block of a pending ``if`` / ``match``.
        """
        raw: list[tuple[str, int]] = []
        pending_blocks = 0
        prev = self.t[prev_index] if prev_index >= 0 else None
        while j < hi:
            tok = self.t[j]
            x = tok.text
            if tok.kind == "ident":
                if x in kinds and (prev is None or prev.text not in (".", "::")):
                    raw.append((x, j))
                    if x == "atomically" and self.is_(j + 1, "("):  # atomically (au) { spec },
                        prev, j = self.t[self.m[j + 1]], self.m[j + 1] + 1
                        if self.is_(j, "{"):
                            prev, j = self.t[self.m[j]], self.m[j] + 1
                        continue
                elif x in ("if", "match"):
                    pending_blocks += 1
                elif x == "matches":  # x matches Path { .. }: the braces are a pattern
                    k = self.pattern_path_end(j + 1)
                    if self.is_(k, "{"):
                        prev, j = self.t[self.m[k]], self.m[k] + 1
                        continue
            elif tok.kind == "punct" and x == "#" and (self.is_(j + 1, "[") or
                                                      (self.is_(j + 1, "!") and self.is_(j + 2, "["))):
                j = self.m[j + 1 if self.is_(j + 1, "[") else j + 2] + 1  # an attribute leaves prev as it was
                continue
            elif tok.kind == "punct":
                if x in ("(", "["):
                    prev, j = self.t[self.m[j]], self.m[j] + 1
                    continue
                if x == "{":
                    # right after a clause keyword or a trailing comma a '{' is the body (an empty
                    # clause), unless the block goes on as an expression (``ensures { .. },``)
                    if pending_blocks or (operand_expected(prev) and prev.text != ","
                                          and not (prev.kind == "ident" and prev.text in kinds)) or (
                            self.text(self.m[j] + 1) in _AFTER_BLOCK_EXPRESSION and self.m[j] + 1 < hi):
                        pending_blocks = max(pending_blocks - 1, 0)
                        prev, j = self.t[self.m[j]], self.m[j] + 1
                        continue
                    break
                if x == ";" or x in _CLOSERS:
                    break
            prev = tok
            j += 1
        clauses = []
        for k, (kind, start) in enumerate(raw):
            end = raw[k + 1][1] if k + 1 < len(raw) else j
            clauses.append(Clause(kind, start, end, tuple(self.split_exprs(start + 1, end))))
        return clauses, j

    def pattern_path_end(self, k: int) -> int:
        """One past the path (``a::B<T>``) starting at k."""
        while self.is_ident(k) or self.is_(k, "::"):
            k += 1
            if self.is_(k, "<"):
                k = self.skip_angles(k)
        return k

    def closing_pipe(self, k: int, hi: int) -> int | None:
        while k < hi:
            x = self.text(k)
            if x in _PAIRS:
                k = self.m[k] + 1
                continue
            if x == "|":
                return k
            k += 1
        return None

    def split_exprs(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Comma-separated expressions in [lo, hi), not splitting inside groups, closure /
        quantifier parameter lists or turbofish generics."""
        parts = []
        s, k = lo, lo
        prev = self.t[lo - 1] if lo > 0 else None
        while k < hi:
            tok = self.t[k]
            x = tok.text
            if tok.kind == "punct":
                if x in _PAIRS:
                    prev, k = self.t[self.m[k]], self.m[k] + 1
                    continue
                if x == "|" and operand_expected(prev):
                    close = self.closing_pipe(k + 1, hi)
                    if close is not None:
                        prev, k = self.t[close], close + 1
                        continue
                if x == "::" and self.is_(k + 1, "<"):
                    k = self.skip_angles(k + 1)
                    prev = self.t[k - 1]
                    continue
                if x == ",":
                    if k > s:
                        parts.append((s, k))
                    s = k + 1
            prev = tok
            k += 1
        if s < hi:
            parts.append((s, hi))
        return parts

    # -- functions
    def function(self, start: int, i: int, hi: int, attributes: tuple[Attribute, ...],
                 qualifiers: tuple[str, ...], mode: str, container: str, owner: str) -> Function:
        if not self.is_ident(i + 1):
            raise self.error(i, "fn without a name")
        name = self.text(i + 1)
        if container == "state_machine" and mode == "exec":
            mode = next((_STATE_MACHINE_MODES[a.name] for a in attributes if a.name in _STATE_MACHINE_MODES), "spec")
        j = i + 2
        if self.is_(j, "<"):
            j = self.skip_angles(j)
        if not self.is_(j, "("):
            raise self.error(i, f"fn {name} without parameters")
        params = (j, self.m[j])
        j = self.m[j] + 1
        ret_arrow = ret_name = None
        if self.is_(j, "->"):
            ret_arrow = j
            if self.is_(j + 1, "("):
                k = j + 2
                while self.text(k) in ("tracked", "ghost", "mut"):
                    k += 1
                if self.is_ident(k) and self.is_(k + 1, ":"):
                    ret_name = self.text(k)
        clauses, stop = self.header(j, hi, FN_CLAUSES + ("by", "where"), j - 1)
        solver = solver_span = None
        for clause in clauses:
            if clause.kind == "by" and self.is_(clause.start + 1, "("):
                close = self.m[clause.start + 1]
                solver = "".join(self.text(k) for k in range(clause.start + 2, close))
                solver_span = (clause.start, close + 1)
        clauses = [c for c in clauses if c.kind in FN_CLAUSES]
        if self.is_(stop, "{"):
            body: tuple[int, int] | None = (stop, self.m[stop])
            end = self.m[stop] + 1
            loops, statements, calls = self.scan_body(stop + 1, self.m[stop])
        elif self.is_(stop, ";"):
            body, end = None, stop + 1
            loops, statements, calls = [], [], set()
        else:
            raise self.error(i, f"fn {name} without a body")
        return Function(
            name=name, mode=mode, qualifiers=qualifiers, attributes=attributes, container=container,
            owner=owner, start=start, name_index=i + 1, params=params, ret_arrow=ret_arrow,
            ret_name=ret_name, solver=solver, solver_span=solver_span, clauses=tuple(clauses),
            body=body, end=end, loops=tuple(loops), statements=tuple(statements), calls=frozenset(calls),
        )

    def assume_specification(self, i: int, hi: int) -> tuple[str, int, tuple[Clause, ...]]:
        j = i + 1
        if self.is_(j, "<"):
            j = self.skip_angles(j)
        if not self.is_(j, "["):
            raise self.error(i, "assume_specification without [path]")
        path_close = self.m[j]
        idents, k = [], j + 1
        while k < path_close:  # the path's own segments, not its generic arguments
            if self.is_(k, "<"):
                k = self.skip_angles(k)
                continue
            if self.is_ident(k) and not self.is_(k + 1, "<"):
                idents.append(self.text(k))
            k += 1
        j = path_close + 1
        if self.is_(j, "("):  # a const's specification has no parameters
            j = self.m[j] + 1
        clauses, stop = self.header(j, hi, FN_CLAUSES, j - 1)
        if not self.is_(stop, ";"):
            raise self.error(i, "assume_specification without ';'")
        return (idents[-1] if idents else ""), stop + 1, tuple(clauses)

    # -- bodies
    def scan_body(self, lo: int, hi: int) -> tuple[list[Loop], list[Statement], set[str]]:
        """Loops, proof statements and called names in the token range of a body."""
        loops: list[Loop] = []
        statements: list[Statement] = []
        calls: set[str] = set()
        for j in range(lo, hi):
            tok = self.t[j]
            if tok.kind != "ident":
                continue
            x, prev, nxt = tok.text, self.text(j - 1), self.text(j + 1)
            if nxt == "(" and prev != "fn":
                calls.add(x)
            if nxt == "::" and self.is_(j + 2, "<"):  # f::<T>(...)
                after = self.skip_angles(j + 2)
                if self.is_(after, "("):
                    calls.add(x)
            if prev in (".", "::") and x not in _OLD_STYLE_ASSERTS:
                continue
            if x == "proof" and nxt == "{":
                statements.append(Statement("proof_block", j, self.optional_semicolon(self.m[j + 1] + 1)))
            elif x == "assert" and nxt == "(":
                statements.append(self.assert_statement(j, hi))
            elif x == "assert" and nxt == "forall":
                statements.append(self.assert_forall(j, hi))
            elif x in _OLD_STYLE_ASSERTS and nxt == "(":
                kind, solver = _OLD_STYLE_ASSERTS[x]
                statements.append(Statement(kind, j, self.optional_semicolon(self.m[j + 1] + 1), solver))
            elif x in ("assume", "admit", "reveal", "reveal_with_fuel", "hide") and nxt == "(" and prev != "fn":
                statements.append(Statement(x, j, self.optional_semicolon(self.m[j + 1] + 1)))
            elif x in _PROOF_MACROS and nxt == "!" and self.text(j + 2) in _PAIRS:
                statements.append(Statement("assert_by", j, self.optional_semicolon(self.m[j + 2] + 1)))
            elif x == "calc" and nxt == "!" and self.text(j + 2) in _PAIRS:
                statements.append(Statement("calc", j, self.optional_semicolon(self.m[j + 2] + 1)))
            elif x == "let" and nxt in ("ghost", "tracked"):
                statements.append(Statement(nxt + "_let", j, self.until_semicolon(j, hi)))
            elif x == "let" and prev in (";", "{", "}", "") and (wrapper := self.wrapped_ghost_let(j, hi)):
                statements.append(wrapper)
            elif x == "broadcast" and nxt == "use":
                statements.append(Statement("broadcast_use", j, self.until_semicolon(j, hi)))
            elif (x == "while" or (x == "loop" and prev != "atomically")  # f(x) atomically loop |au| { }
                  or (x == "for" and nxt != "<")):
                clauses, stop = self.header(j + 1, hi, LOOP_CLAUSES, j)
                if not self.is_(stop, "{"):
                    raise self.error(j, f"{x} loop without a body")
                loops.append(Loop(x, j, (stop, self.m[stop]), tuple(clauses)))
        return loops, statements, calls

    def wrapped_ghost_let(self, j: int, hi: int) -> Statement | None:
        """``let [mut] x[: T] = Ghost(..);`` / ``Tracked(..)`` at ``j``: a ghost / tracked let written
        with the wrapper (``ghost_let`` / ``tracked_let``), else None."""
        k = j + 1 + (self.text(j + 1) == "mut")
        if k >= hi or not self.is_ident(k):
            return None
        try:
            end = self.until_semicolon(j, hi)
        except VerusSyntaxError:
            return None  # the let's own statement reports it
        eq = next((i for i in range(k + 1, min(end, hi)) if self.text(i) == "="), None)
        if eq is None or self.text(eq + 1) not in ("Ghost", "Tracked") or not self.is_(eq + 2, "(") \
                or eq + 2 not in self.m:
            return None
        if self.m[eq + 2] + 1 != end - 1 or not self.is_(end - 1, ";"):
            return None  # more than the wrapper call on the right: exec code
        return Statement(self.text(eq + 1).lower() + "_let", j, end)

    def assert_statement(self, j: int, hi: int) -> Statement:
        k = self.m[j + 1] + 1
        if not self.is_(k, "by"):
            return Statement("assert", j, self.optional_semicolon(k))
        solver = None
        if self.is_(k + 1, "("):
            close = self.m[k + 1]
            solver = "".join(self.text(x) for x in range(k + 2, close))
            k = close + 1
            if self.is_(k, "requires"):
                _, k = self.header(k, hi, ("requires",), k - 1)
            if self.is_(k, "{"):
                k = self.m[k] + 1
        elif self.is_(k + 1, "{"):
            k = self.m[k + 1] + 1
        return Statement("assert_by", j, self.optional_semicolon(k), solver)

    def assert_forall(self, j: int, hi: int) -> Statement:
        k, solver = j + 2, None
        while k < hi:
            x = self.text(k)
            if x in _PAIRS:
                k = self.m[k] + 1
                continue
            if x == "by" and self.text(k + 1) in ("{", "("):
                if self.is_(k + 1, "("):
                    close = self.m[k + 1]
                    solver = "".join(self.text(y) for y in range(k + 2, close))
                    k = close + 1
                    if self.is_(k, "{"):
                        k = self.m[k] + 1
                else:
                    k = self.m[k + 1] + 1
                return Statement("assert_forall", j, self.optional_semicolon(k), solver)
            if x == ";":
                return Statement("assert_forall", j, k + 1)
            if x in _CLOSERS:
                break
            k += 1
        return Statement("assert_forall", j, k)


# ------------------------------------------------------------------- proof, spec and exec regions


def _name_references(program: VerusProgram) -> dict[str, list[int]]:
    refs: dict[str, list[int]] = {}
    for i, tok in enumerate(program.tokens):
        if tok.kind == "ident":
            refs.setdefault(tok.text, []).append(i)
    return refs


def _top_asserts(fn: Function) -> list[Statement]:
    """Plain asserts of a body not inside another proof statement (proof block, assert-by)."""
    wrappers = [s for s in fn.statements if s.kind in PROOF_STATEMENTS and s.kind != "assert"]
    return [s for s in fn.statements if s.kind == "assert"
            and not any(w.start < s.start and s.end <= w.end for w in wrappers)]


def proof_fn_roles(program: VerusProgram) -> dict[int, str]:
    """Role of every proof fn, keyed by its start token index:

    * ``trusted``: external_body / external, or no body: a trusted fact, kept verbatim;
    * ``interface``: declared in a trait or trait impl, or an ``#[inductive]`` lemma of a state
      machine: the trait / machine needs the item, so its signature stays and only its body is proof;
    * ``theorem``: has a non-empty ``ensures`` clause and its name is used nowhere outside its
      own body: a statement the program proves (its signature is spec, its body proof);
    * ``test``: no ``ensures``, its name used nowhere outside its own body, and a plain
      ``assert`` among its top-level statements: a test whose asserts are its only stated goal
      (``goal_asserts``); handled like an exec fn's body (proof statements but the goals go);
    * ``helper``: any other lemma (called from proofs, used by ``broadcast use`` or ``via``). A
      helper with a non-empty ``ensures`` is a lemma the task asks to prove (``lemma_fns``): its
      signature stays and its body is proof, like a theorem's; one without is removed whole.
    """
    refs = _name_references(program)
    roles = {}
    for fn in program.functions:
        if fn.mode != "proof":
            continue
        if fn.body is None or fn.has_attribute("verifier::external_body") or fn.has_attribute("verifier::external"):
            roles[fn.start] = "trusted"
        elif fn.container in ("trait", "trait_impl", "state_machine"):
            roles[fn.start] = "interface"
        elif any(c.exprs for c in fn.clauses_of("ensures")) and all(
                fn.start <= k < fn.end for k in refs.get(fn.name, ()) if k != fn.name_index):
            roles[fn.start] = "theorem"
        elif all(fn.start <= k < fn.end for k in refs.get(fn.name, ()) if k != fn.name_index) and _top_asserts(fn):
            roles[fn.start] = "test"
        else:
            roles[fn.start] = "helper"
    return roles


def lemma_fns(program: VerusProgram) -> list[Function]:
    """Proof fns a task keeps as statements to prove: theorems and helpers with a non-empty
    ``ensures`` (``proof_fn_roles``). Their signatures stay in the task with emptied bodies: a
    lemma the verified program proved is part of what the task asks for (not trusted context, which
    would need ``external_body``, a cheat marker); an answer must keep each signature unchanged
    (``tasks.cheating_reason``: ``dropped_goal``) and may add lemmas of its own."""
    roles = proof_fn_roles(program)
    return [fn for fn in program.functions if roles.get(fn.start) in ("theorem", "helper")
            and any(c.exprs for c in fn.clauses_of("ensures"))]


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint union of (start, end) ranges (empty ones dropped)."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(s for s in spans if s[1] > s[0]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def goal_asserts(program: VerusProgram) -> list[tuple[Function, Statement]]:
    """Plain ``assert(..)`` statements that are the only stated goal of an exec fn or of a
    proof fn test (role ``test``, ``proof_fn_roles``): one Verus verifies (a body, not external /
    external_body) with no ``ensures``, the assert not inside another proof statement (proof
    block, assert-by). A task keeps them (``proof_pieces``)."""
    out = []
    roles = proof_fn_roles(program)
    for fn in program.functions:
        if fn.mode == "proof" and roles.get(fn.start) != "test":
            continue
        if (fn.mode == "spec" or fn.body is None or any(c.exprs for c in fn.clauses_of("ensures"))
                or fn.has_attribute("verifier::external_body") or fn.has_attribute("verifier::external")):
            continue
        out += [(fn, s) for s in _top_asserts(fn)]
    return out


def hypothesis_assumes(program: VerusProgram) -> list[tuple[Function, Statement]]:
    """The assumptions of a havoc-style test (``let x = f(); assume(P(x)); assert(Q(x));``, as
    Verus's own tests and examples write them): ``assume(..)`` statements of an exec fn whose
    only goal is asserts (``goal_asserts``), not inside another proof statement, before its last
    goal assert. ``assume(false)`` is never one. A task keeps them, like ``requires``."""
    t = program.tokens
    goals: dict[int, list[Statement]] = {}
    for fn, s in goal_asserts(program):
        goals.setdefault(fn.start, []).append(s)
    out = []
    for fn in program.functions:
        if fn.start not in goals:
            continue
        last = max(s.start for s in goals[fn.start])
        wrappers = [s for s in fn.statements if s.kind in PROOF_STATEMENTS and s.kind not in ("assert", "assume")]
        for s in fn.statements:
            inner = [t[k].text for k in range(s.start, s.end) if t[k].text not in (";",)]
            if (s.kind == "assume" and s.start < last and inner[-3:] != ["(", "false", ")"]
                    and not any(w.start < s.start and s.end <= w.end for w in wrappers)):
                out.append((fn, s))
    return out


@dataclass(frozen=True)
class ProofPiece:
    """A character range of proof content and how ``strip_proof`` takes it out."""

    start: int
    end: int
    whole: bool  # a complete item / statement / clause group: comment lines right above go too
    replacement: str = ""  # e.g. '{}' for an assert that was a match arm's whole value


def proof_pieces(program: VerusProgram) -> list[ProofPiece]:
    """Proof content, piece by piece, sorted by start (pieces may nest; see ``proof_spans``).

    * helper proof fns without ``ensures`` (see ``proof_fn_roles``), whole;
    * theorem / interface proof fns and helpers with ``ensures`` (``lemma_fns``): their body
      contents, ``decreases`` and ``by (solver)``;
    * loop clauses (invariant, invariant_except_break, ensures, decreases);
    * proof statements in any body: ``proof { }``, assert / assert-by / assert forall, assume,
      admit, reveal / reveal_with_fuel / hide, calc!, broadcast use;
    * ``decreases`` of exec fns (termination proof) and the ``via`` part of spec fn decreases;
    * ``broadcast use`` / ``broadcast group`` items and prover-tuning attributes (rlimit, ...).

    Kept: spec fns, requires / ensures / recommends, exec code, datatypes, trusted proof fns,
    ghost / tracked lets (exec code may pass them on as ``Ghost(x)`` arguments), the asserts
    that are an exec fn's only goal (``goal_asserts``) and the assumptions before them
    (``hypothesis_assumes``).
    """
    t = program.tokens
    pieces: list[ProofPiece] = []

    def add(lo: int, hi: int, whole: bool = True, replacement: str = "") -> None:
        if hi > lo:
            pieces.append(ProofPiece(*program.char_span(lo, hi), whole, replacement))

    for item in program.items:
        if item.kind in ("broadcast_use", "broadcast_group"):
            add(item.start, item.end)
    roles = proof_fn_roles(program)
    goals = {s.start for _, s in goal_asserts(program) + hypothesis_assumes(program)}
    for fn in program.functions:
        role = roles.get(fn.start)
        if role == "trusted":
            continue
        if role == "helper" and not any(c.exprs for c in fn.clauses_of("ensures")):
            add(fn.start, fn.end)
            continue
        for attribute in fn.attributes:
            if attribute.name in PROOF_TUNING_ATTRIBUTES:
                add(attribute.start, attribute.end, whole=False)
        if fn.mode == "proof" and role != "test":  # theorem, lemma or interface: keep the signature only
            for clause in fn.clauses_of("decreases"):
                add(clause.start, clause.end)
            if fn.solver_span:
                add(*fn.solver_span, whole=False)
            if fn.body is not None:
                open_, close = fn.body
                lo, hi = t[open_].end, t[close].start
                if program.source[lo:hi].strip():
                    pieces.append(ProofPiece(lo, hi, False))
            continue
        for clause in fn.clauses_of("decreases"):
            if fn.mode != "spec":
                add(clause.start, clause.end)
            else:
                via = next((k for k in range(clause.start, clause.end) if t[k].text == "via"), None)
                if via is not None:
                    add(via, clause.end, whole=False)
        for loop in fn.loops:
            if loop.clauses:
                add(loop.clauses[0].start, loop.clauses[-1].end)
        for statement in fn.statements:
            if statement.kind in PROOF_STATEMENTS and statement.start not in goals:
                if statement.start > 0 and t[statement.start - 1].text == "=>":
                    end = statement.end - (t[statement.end - 1].text == ";")
                    add(statement.start, end, whole=False, replacement="{}")
                else:
                    add(statement.start, statement.end)
    return sorted(pieces, key=lambda p: (p.start, -p.end))


def outermost_pieces(pieces: list[ProofPiece]) -> list[ProofPiece]:
    """The pieces not inside another one, sorted (overlapping ones are joined)."""
    out: list[ProofPiece] = []
    for piece in sorted(pieces, key=lambda p: (p.start, -p.end)):
        if out and piece.start < out[-1].end:
            if piece.end > out[-1].end:
                last = out[-1]
                out[-1] = ProofPiece(last.start, piece.end, last.whole, "")
            continue
        out.append(piece)
    return out


def proof_spans(program: VerusProgram) -> list[tuple[int, int]]:
    """Character ranges of proof content: what a proof-completion task removes (sorted,
    disjoint; the pieces are listed in ``proof_pieces``)."""
    return merge_spans([(p.start, p.end) for p in proof_pieces(program)])


def spec_spans(program: VerusProgram) -> list[tuple[int, int]]:
    """Character ranges of specification: spec fns, requires / ensures / recommends / returns /
    atomically clauses, signatures of kept (theorem, interface, trusted) proof fns, assume_specification."""
    spans = []
    roles = proof_fn_roles(program)
    for fn in program.functions:
        if fn.mode == "spec":
            spans.append(program.char_span(fn.start, fn.end))
            continue
        if roles.get(fn.start, "helper") != "helper":
            sig_end = fn.body[0] if fn.body else fn.end
            spans.append(program.char_span(fn.start, sig_end))
        for clause in fn.clauses:
            if clause.kind in SPEC_CLAUSES and clause.end > clause.start:
                spans.append(program.char_span(clause.start, clause.end))
    for item in program.items:
        if item.kind == "assume_specification":
            spans.append(program.char_span(item.start, item.end))
    return merge_spans(spans)


def in_spans(spans: list[tuple[int, int]], offset: int) -> bool:
    """Whether a character offset lies in one of the sorted disjoint spans."""
    k = bisect.bisect_right(spans, (offset, float("inf"))) - 1
    return k >= 0 and spans[k][0] <= offset < spans[k][1]


def token_roles(program: VerusProgram) -> list[str]:
    """'exec', 'spec' or 'proof' for every token: proof spans win over spec spans, which win
    over the rest of proof fns; everything else (also code outside verus!) is exec."""
    proof = proof_spans(program)
    spec = spec_spans(program)
    proof_fns = merge_spans([program.char_span(f.start, f.end) for f in program.functions if f.mode == "proof"])
    roles = []
    for tok in program.tokens:
        if in_spans(proof, tok.start):
            roles.append("proof")
        elif in_spans(spec, tok.start):
            roles.append("spec")
        elif in_spans(proof_fns, tok.start):
            roles.append("proof")
        else:
            roles.append("exec")
    return roles

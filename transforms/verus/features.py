"""Verus feature counts of a parsed program: one int per ``schemas.verus.VERUS_FEATURES`` name,
escape hatches (``ESCAPE_HATCHES``) counted apart.

Counts cover the code inside the ``verus!`` bodies (the whole file when it has no wrapper) and
are occurrence counts; a program has a feature when its count is > 0. ``FEATURE_PATTERNS`` and
``ESCAPE_PATTERNS`` say how each one is detected. Tokens in ``use`` items are not counted
(``use vstd::seq::Seq;`` is an import, not a use of Seq).
"""
from __future__ import annotations

import re
from typing import Sequence

from schemas.verus import ESCAPE_HATCHES, VERUS_FEATURES
from transforms.verus.syntax import (
    Token, VerusProgram, operand_expected, proof_spans, token_roles,
)

FEATURE_PATTERNS: dict[str, str] = {
    "requires": "expressions (comma-separated) of `requires` clauses of fn signatures",
    "ensures": "expressions of `ensures` clauses of fn signatures",
    "recommends": "expressions of `recommends` clauses",
    "loop_invariant": "expressions of loop `invariant` clauses",
    "invariant_except_break": "expressions of loop `invariant_except_break` clauses",
    "loop_ensures": "expressions of loop `ensures` clauses",
    "decreases": "`decreases` clauses of fns and loops (one per clause: `decreases a, b` is one lexicographic measure)",
    "spec_fn": "`spec fn` items (open / closed / uninterp / trait)",
    "proof_fn": "`proof fn` items (incl. broadcast proof fn)",
    "proof_block": "`proof { ... }` blocks in any body",
    "assert": "`assert(...)` without `by` (Rust's `assert!` macro is exec code, not counted)",
    "assert_by": "`assert(...) by { }` / `by (solver)`, the old `assert_by(...)`-style calls and vstd's "
                 "`assert_seqs_equal!`-style macros",
    "assert_forall": "`assert forall|..| ... by { }` and `assert_forall_by(...)`",
    "forall": "`forall|` quantifiers (incl. the one of `assert forall`)",
    "exists": "`exists|` quantifiers",
    "choose": "`choose|` expressions",
    "trigger": "`#[trigger]` and `#![trigger ...]` attributes",
    "ghost": "identifiers `ghost` / `Ghost` (let ghost, Ghost<T>, Ghost(x))",
    "tracked": "identifiers `tracked` / `Tracked`",
    "seq": "identifier `Seq` and the `seq!` macro",
    "set": "identifier `Set` and the `set!` macro",
    "map": "identifier `Map` and the `map!` macro",
    "multiset": "identifier `Multiset`",
    "view": "the `@` operator and `.view()` calls",
    "ext_equal": "`=~=`, `=~~=` and `.ext_equal(` / `.ext_equal_deep(` calls",
    "nonlinear_arith": "`by (nonlinear_arith)` on asserts and proof fns, `assert_nonlinear_by(`",
    "bit_vector": "`by (bit_vector)` on asserts and proof fns, `assert_bit_vector(`",
    "integer_ring": "`by (integer_ring)` on proof fns / asserts",
    "compute": "`by (compute)` / `by (compute_only)`",
    "broadcast": "the `broadcast` keyword (broadcast proof fn, broadcast use, broadcast group)",
    "opaque": "`#[verifier::opaque]` / `#[verifier(opaque)]` / `opaque_outside_module` attributes",
    "reveal": "`reveal(` and `reveal_with_fuel(` calls",
    "fuel": "`reveal_with_fuel(` calls and attributes whose name mentions fuel",
    "recursive_lemma": "proof fns whose body calls the fn itself (induction)",
    "calc": "`calc! { }` proofs",
    "int_nat_cast": "`as int` / `as nat` casts",
    "old": "`old(` inside fn and loop `ensures` clauses",
    "is_matches": "`x is Variant`, `matches` (`x matches P`, `matches!`), field access `x->f`",
    "type_invariant": "fns with `#[verifier::type_invariant]`",
    "closure": "closures (`|x| ...`, `move |x|`, `|| ...`) in exec code, with or without requires/ensures",
    "spec_fn_closure": "`spec_fn(...)` / `FnSpec` types and closures in spec / proof code (quantifiers excluded)",
    "vstd_lemma": "calls of `lemma_*` / `axiom_*` fns not defined in the program, and `broadcast use` of "
                  "vstd paths or non-local `lemma_*` / `group_*` names",
}
ESCAPE_PATTERNS: dict[str, str] = {
    "assume": "`assume(` calls and calls of `assume_` (bare, or by a `builtin::` / `verus_builtin::` / `vstd::` "
              "path, or a `use .. as` alias)",
    "admit": "`admit(` calls (bare, by such a path, or an alias)",
    "external_body": "`external_body` attributes in any spelling (`verifier::`, `verifier(..)`, `verus::internal(..)`, "
                     "inside `cfg_attr`), and `axiom fn` items (Verus marks them external_body)",
    "assume_specification": "`assume_specification` items, `#[verifier::external_fn_specification]` and "
                            "`#[verifier::assume(externals_available_without_declaration)]`",
    "assume_termination": "`#[verifier::assume_termination]` attributes",
}

_SOLVER_FEATURES = {"nonlinear_arith": "nonlinear_arith", "bit_vector": "bit_vector",
                    "integer_ring": "integer_ring", "compute": "compute", "compute_only": "compute"}
_TYPE_FEATURES = {"Seq": "seq", "Set": "set", "Map": "map", "Multiset": "multiset"}
_MACRO_FEATURES = {"seq": "seq", "set": "set", "map": "map"}
_QUANTIFIERS = ("forall", "exists", "choose")
_FN_LIKE = frozenset({"fn", "Fn", "FnMut", "FnOnce", "FnSpec", "spec_fn", "proof_fn"})
_LEMMA_PREFIXES = ("lemma_", "axiom_")
_EXPR_ENDERS = (")", "]", "@", "}")


def extract_features(program: VerusProgram) -> dict[str, int]:
    """Occurrence count of every Verus feature (keys: exactly ``VERUS_FEATURES``)."""
    counts = dict.fromkeys(VERUS_FEATURES, 0)
    _count_structure(program, counts)
    _count_tokens(program, counts)
    return counts


def _count_structure(program: VerusProgram, counts: dict[str, int]) -> None:
    t = program.tokens

    def olds(clause) -> int:
        return sum(1 for k in range(clause.start, clause.end)
                   if t[k].text == "old" and k + 1 < len(t) and t[k + 1].text == "(")

    for fn in program.functions:
        if fn.mode == "spec":
            counts["spec_fn"] += 1
        elif fn.mode == "proof":
            counts["proof_fn"] += 1
            if fn.name in fn.calls:
                counts["recursive_lemma"] += 1
        for clause in fn.clauses:
            if clause.kind in ("requires", "ensures", "recommends"):
                counts[clause.kind] += len(clause.exprs)
            elif clause.kind == "decreases":
                counts["decreases"] += 1
            if clause.kind == "ensures":
                counts["old"] += olds(clause)
        for loop in fn.loops:
            for clause in loop.clauses:
                if clause.kind == "invariant":
                    counts["loop_invariant"] += len(clause.exprs)
                elif clause.kind == "invariant_except_break":
                    counts["invariant_except_break"] += len(clause.exprs)
                elif clause.kind == "ensures":
                    counts["loop_ensures"] += len(clause.exprs)
                    counts["old"] += olds(clause)
                elif clause.kind == "decreases":
                    counts["decreases"] += 1
        solvers = [fn.solver] + [s.solver for s in fn.statements]
        for solver in solvers:
            if solver in _SOLVER_FEATURES:
                counts[_SOLVER_FEATURES[solver]] += 1
        for statement in fn.statements:
            kind = statement.kind
            if kind in ("proof_block", "assert", "assert_by", "assert_forall", "calc"):
                counts[kind] += 1
        for attribute in fn.attributes:
            if attribute.name == "verifier::type_invariant":
                counts["type_invariant"] += 1
    for item in program.items:
        for attribute in item.attributes:
            if attribute.name in ("verifier::opaque", "verifier::opaque_outside_module"):
                counts["opaque"] += 1
            if "fuel" in attribute.name:
                counts["fuel"] += 1


def _counted_indices(program: VerusProgram) -> list[int]:
    """Body token indices outside ``use`` items."""
    uses = [(it.start, it.end) for it in program.items if it.kind == "use"]
    return [i for i in program.body_token_indices() if not any(lo <= i < hi for lo, hi in uses)]


def _count_tokens(program: VerusProgram, counts: dict[str, int]) -> None:
    t = program.tokens
    n = len(t)
    roles = token_roles(program)
    local_names = {fn.name for fn in program.functions}
    signature_arrows = {fn.ret_arrow for fn in program.functions if fn.ret_arrow is not None}

    def text(k: int) -> str:
        return t[k].text if 0 <= k < n else ""

    for i in _counted_indices(program):
        tok = t[i]
        x, prev, nxt = tok.text, text(i - 1), text(i + 1)
        if tok.kind == "ident":
            if x in _QUANTIFIERS and nxt in ("|", "||"):
                counts[x] += 1
            elif x in ("ghost", "Ghost"):
                counts["ghost"] += 1
            elif x in ("tracked", "Tracked"):
                counts["tracked"] += 1
            elif x in _TYPE_FEATURES:
                counts[_TYPE_FEATURES[x]] += 1
            elif x in _MACRO_FEATURES and nxt == "!":
                counts[_MACRO_FEATURES[x]] += 1
            elif x == "view" and prev == "." and nxt == "(":
                counts["view"] += 1
            elif x in ("ext_equal", "ext_equal_deep") and prev == "." and nxt == "(":
                counts["ext_equal"] += 1
            elif x == "broadcast":
                counts["broadcast"] += 1
            elif x in ("reveal", "reveal_with_fuel") and nxt == "(" and prev not in (".", "fn"):
                counts["reveal"] += 1
                if x == "reveal_with_fuel":
                    counts["fuel"] += 1
            elif x == "as" and nxt in ("int", "nat"):
                counts["int_nat_cast"] += 1
            elif x == "is" and i > 0 and (t[i - 1].kind in ("ident", "number") or prev in _EXPR_ENDERS) \
                    and i + 1 < n and t[i + 1].kind == "ident":
                counts["is_matches"] += 1
            elif x == "matches" and prev not in (".", "fn"):
                counts["is_matches"] += 1
            elif x in ("spec_fn", "FnSpec"):
                counts["spec_fn_closure"] += 1
            elif nxt == "(" and prev != "fn" and x.startswith(_LEMMA_PREFIXES) and x not in local_names:
                counts["vstd_lemma"] += 1
        elif tok.kind == "punct":
            if x in ("=~=", "=~~="):
                counts["ext_equal"] += 1
            elif x == "@":
                counts["view"] += 1
            elif x == "#" and (
                    (nxt == "[" and text(i + 2) == "trigger")
                    or (nxt == "!" and text(i + 2) == "[" and text(i + 3) == "trigger")):
                counts["trigger"] += 1
            elif x == "->" and i not in signature_arrows and _is_field_arrow(program, i):
                counts["is_matches"] += 1
            elif x in ("|", "||") and i > 0 and prev not in _QUANTIFIERS and operand_expected(t[i - 1]):
                counts["closure" if roles[i] == "exec" else "spec_fn_closure"] += 1
    counts["vstd_lemma"] += _broadcast_vstd_uses(program, local_names)


def _is_field_arrow(program: VerusProgram, i: int) -> bool:
    """``x->field`` / ``x->0`` (Verus datatype field access), not a return-type arrow."""
    t = program.tokens
    if i == 0 or i + 1 >= len(t) or t[i + 1].kind not in ("ident", "number"):
        return False
    prev = t[i - 1]
    if prev.text == ")":
        before = program.matching[i - 1] - 1
        return before >= 0 and t[before].text not in _FN_LIKE and t[before].text != "]"
    return prev.kind in ("ident", "number") or prev.text in ("]", "@")


def _broadcast_vstd_uses(program: VerusProgram, local_names: set[str]) -> int:
    """Paths in ``broadcast use`` (items and statements) naming vstd or non-local lemmas / groups."""
    t = program.tokens
    ranges = [(it.start, it.end) for it in program.items if it.kind == "broadcast_use"]
    ranges += [(s.start, s.end) for fn in program.functions for s in fn.statements if s.kind == "broadcast_use"]
    total = 0
    for lo, hi in ranges:
        path: list[str] = []
        for k in range(lo + 2, hi):  # after 'broadcast use'
            x = t[k].text
            if t[k].kind == "ident":
                path.append(x)
                if k + 1 < hi and t[k + 1].text == "::":
                    continue
                if "vstd" in path or (x.startswith(_LEMMA_PREFIXES + ("group_",)) and x not in local_names):
                    total += 1
            if x in (",", ";", "{", "}"):
                path = []
    return total


# The rules of Verus's --no-cheating (verus-lang/verus source/vir/src/well_formed.rs): an
# assume / admit expression (rust_verify maps ``verus_builtin::assume_`` / ``verus_builtin::admit``
# to them, whatever path or ``use .. as`` alias names them), external_body or assume_specification
# (also ``external_fn_specification``) outside vstd, ``#[verifier::assume_termination]``, and calls
# allowed by ``#[verifier::assume(externals_available_without_declaration)]`` (counted with
# assume_specification: both trust an external function). ``axiom fn`` is a proof fn the verus!
# macro marks external_body. Attributes count in every spelling: ``verifier::x``, ``verifier(x)``,
# ``verus::internal(x)`` and inside ``cfg_attr(.., verifier::x)``.
_ASSUME_CALLS = {"assume": "assume", "assume_": "assume", "admit": "admit"}
_BUILTIN_ROOTS = frozenset({"builtin", "verus_builtin", "vstd"})
_ATTRIBUTE_HEADS = frozenset({"verifier", "internal"})


def escape_aliases(tokens: Sequence[Token]) -> dict[str, str]:
    """Names that call assume / admit: the builtins and their ``use path::assume_ as x;`` aliases."""
    names = dict(_ASSUME_CALLS)
    in_use = False
    for i, tok in enumerate(tokens):
        if tok.text == "use" and tok.kind == "ident":
            in_use = True
        elif tok.text == ";":
            in_use = False
        elif (in_use and tok.text in _ASSUME_CALLS and i + 2 < len(tokens) and tokens[i + 1].text == "as"
              and tokens[i + 2].kind == "ident"):
            names[tokens[i + 2].text] = _ASSUME_CALLS[tok.text]
    return names


def _path_root(tokens: Sequence[Token], i: int) -> str | None:
    """First segment of the path ending at token i (``a::b::i``); None for a bare name."""
    root, k = None, i
    while k >= 2 and tokens[k - 1].text == "::" and tokens[k - 2].kind == "ident":
        root, k = tokens[k - 2].text, k - 2
    if root is None and k >= 1 and tokens[k - 1].text == "::":  # ::assume_ (a crate-absolute path)
        return ""
    return root


def escape_hatches_in_tokens(tokens: Sequence[Token], aliases: dict[str, str] | None = None) -> dict[str, int]:
    """Escape-hatch counts from tokens alone (works on code the item parser rejects)."""
    counts = dict.fromkeys(ESCAPE_HATCHES, 0)
    names = escape_aliases(tokens) if aliases is None else aliases
    n = len(tokens)
    in_use = False
    for i, tok in enumerate(tokens):
        if tok.kind != "ident":
            if tok.text == ";":
                in_use = False
            continue
        if tok.text == "use":
            in_use = True
        prev = tokens[i - 1].text if i else ""
        nxt = tokens[i + 1].text if i + 1 < n else ""
        head = tokens[i - 2].text if i >= 2 else ""
        if tok.text in names and nxt == "(" and prev not in (".", "fn") and not in_use:
            if prev != "::" or _path_root(tokens, i) in _BUILTIN_ROOTS | {""}:
                counts[names[tok.text]] += 1
        elif tok.text == "external_body" and prev in ("::", "(") and head in _ATTRIBUTE_HEADS:
            counts["external_body"] += 1
        elif tok.text == "axiom" and nxt == "fn":
            counts["external_body"] += 1
        elif tok.text == "assume_termination" and prev in ("::", "(") and head in _ATTRIBUTE_HEADS:
            counts["assume_termination"] += 1
        elif tok.text == "assume_specification" or (
                tok.text == "external_fn_specification" and prev in ("::", "(")) or (
                tok.text == "externals_available_without_declaration" and prev == "(" and head == "assume"):
            counts["assume_specification"] += 1
    return counts


def count_escape_hatches(program: VerusProgram) -> dict[str, int]:
    """Occurrence count of every escape hatch (keys: exactly ``ESCAPE_HATCHES``)."""
    return escape_hatches_in_tokens([program.tokens[i] for i in _counted_indices(program)],
                                    escape_aliases(program.tokens))


_ESCAPE_REGEXES = {
    "assume": re.compile(r"(?<![\w.])assume_?\s*\("),
    "admit": re.compile(r"(?<![\w.])admit\s*\("),
    "external_body": re.compile(r"(?:verifier|internal)\s*(?:::|\()\s*external_body\b|\baxiom\s+fn\b"),
    "assume_specification": re.compile(r"\bassume_specification\b|\bexternal_fn_specification\b"
                                       r"|\bexternals_available_without_declaration\b"),
    "assume_termination": re.compile(r"(?:verifier|internal)\s*(?:::|\()\s*assume_termination\b"),
}


def escape_hatches_in_text(source: str) -> dict[str, int]:
    """Escape-hatch counts by regular expressions, for text that does not even lex."""
    return {name: len(regex.findall(source)) for name, regex in _ESCAPE_REGEXES.items()}


def feature_columns(program: VerusProgram) -> dict[str, int]:
    """The ``feat_<name>`` and ``escape_<name>`` columns of the Verus schemas."""
    columns = {"feat_" + k: v for k, v in extract_features(program).items()}
    columns.update({"escape_" + k: v for k, v in count_escape_hatches(program).items()})
    return columns


def program_summary(program: VerusProgram) -> dict[str, int | bool]:
    """``has_spec``, ``has_proof`` and the exec / spec / proof line counts of the program schema.

    A line (non-blank, not only comments) takes the role of its first token
    (``syntax.token_roles``).
    """
    roles = token_roles(program)
    line_roles: dict[int, str] = {}
    for tok, role in zip(program.tokens, roles):
        line_roles.setdefault(tok.line, role)
    per_role = {"exec": 0, "spec": 0, "proof": 0}
    for role in line_roles.values():
        per_role[role] += 1
    has_spec = any(fn.mode == "spec" or any(c.kind in ("requires", "ensures") for c in fn.clauses)
                   for fn in program.functions)
    has_proof = bool(proof_spans(program)) or any(fn.mode == "proof" for fn in program.functions)
    return {
        "has_spec": has_spec, "has_proof": has_proof,
        "n_exec_lines": per_role["exec"], "n_spec_lines": per_role["spec"], "n_proof_lines": per_role["proof"],
    }

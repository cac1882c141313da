"""Proof-completion tasks: strip the proof, fingerprint specs + exec code, spot cheating.

``strip_proof`` removes ``syntax.proof_pieces`` (see there for the full list): loop
invariants / loop ensures / loop decreases, proof blocks, asserts of every kind, assume / admit,
reveal, calc!, broadcast use / groups, exec-fn ``decreases``, prover-tuning attributes, helper
lemmas without ``ensures`` and the bodies of lemmas with ``ensures`` (theorems nobody calls and
helpers other code calls alike, ``syntax.lemma_fns``: ``proof fn l(..) requires .. ensures .. {}``
stays, a statement the task asks to prove). Specs (spec fns, requires / ensures / recommends,
lemma signatures), exec code, datatypes, trusted (external_body) items, ghost / tracked lets,
the asserts that are an exec fn's only goal and the ``assume``s before them in a havoc-style
test (its hypotheses) stay. Comment lines directly above a
removed statement or item go with it; a line left empty by a removal is dropped; an assert that
was a match arm's whole value becomes ``{}`` so the task stays valid Rust.

``spec_code_fingerprint`` hashes the tokens ``strip_proof`` keeps, minus what a proof may add or
change without touching the spec or the code: comments and whitespace, ghost / tracked lets,
``use`` imports, trigger annotations, trailing commas, and spec fns that no kept spec or code
refers to (a proof's helper spec fns), and lemmas whole (an answer may add lemmas; the task's own
must stay as they are, which ``cheating_reason`` checks). So an added invariant, assert, proof block, helper lemma or
helper spec fn leaves it unchanged; a changed ensures / requires clause, a changed spec fn the spec
uses, or changed exec code changes it.
"""
from __future__ import annotations

import bisect
import re

from transforms.records import Rejected, content_id
from transforms.verus.features import (
    count_escape_hatches, escape_hatches_in_text, escape_hatches_in_tokens,
)
from transforms.verus.syntax import (
    FN_CLAUSES, LOOP_CLAUSES, ProofPiece, Token, VerusProgram, VerusSyntaxError, goal_asserts, hypothesis_assumes,
    in_spans, lemma_fns, merge_spans, outermost_pieces, parse_verus, proof_fn_roles, proof_pieces, proof_spans,
    tokenize,
)

_FINGERPRINT_SALT = "verus-spec-code-v1"
_UNPARSED_SALT = "verus-unparsed-v1"
_CLAUSE_KEYWORDS = frozenset(FN_CLAUSES + LOOP_CLAUSES)
_REST_OF_LINE = re.compile(r"[ \t]*(?://[^\n]*)?(?:\r?\n|\Z)")
_SPACES = re.compile(r"[ \t]*")


def _program(source: str | VerusProgram) -> VerusProgram:
    if isinstance(source, VerusProgram):
        return source
    program = parse_verus(source)
    if isinstance(program, Rejected):
        raise ValueError(f"not a parsable Verus program: {program.detail}")
    return program


# ------------------------------------------------------------------------------ strip_proof


def strip_proof(source: str | VerusProgram) -> str:
    """The program with its proof removed: the proof-completion task (raises ValueError when
    the source does not parse). A program that is all proof may keep no function at all."""
    program = _program(source)
    return _remove(program.source, outermost_pieces(proof_pieces(program)), program.comments)


def _line_start(source: str, offset: int) -> int:
    return source.rfind("\n", 0, offset) + 1


def _with_comments_above(source: str, comments: tuple[Token, ...], ends: list[int], s: int) -> int:
    """Move ``s`` (at the start of its line's code) up over the comment lines directly above."""
    while True:
        ls = _line_start(source, s)
        if source[ls:s].strip() or ls == 0:
            return s
        k = bisect.bisect_right(ends, ls) - 1
        if k < 0:
            return s
        comment = comments[k]
        gap = source[comment.end:ls]
        if gap.strip() or gap.count("\n") != 1 or source[_line_start(source, comment.start):comment.start].strip():
            return s
        s = comment.start


def _widen(source: str, s: int, e: int) -> tuple[int, int]:
    """Grow a removal to whole lines when it leaves only blanks (or a comment) on them."""
    ls = _line_start(source, s)
    lead_blank = not source[ls:s].strip()
    rest = _REST_OF_LINE.match(source, e)
    if rest and lead_blank:
        s, e = ls, rest.end()
        prev_blank = ls == 0 or not source[_line_start(source, ls - 1):ls].strip()
        next_line = _REST_OF_LINE.match(source, e)
        if prev_blank and e < len(source) and next_line and not next_line.group().strip():
            e = next_line.end()  # do not leave two blank lines where the removed piece was
        return s, e
    if rest:  # code before it on the line: drop the blanks before it and a trailing comment
        return ls + len(source[ls:s].rstrip()), rest.end() - len(rest.group()) + len(rest.group().rstrip("\r\n"))
    return s, _SPACES.match(source, e).end()


def _remove(source: str, pieces: list[ProofPiece], comments: tuple[Token, ...]) -> str:
    ends = [c.end for c in comments]
    out: list[str] = []
    pos = 0
    for piece in pieces:
        if piece.replacement:
            s, e = piece.start, piece.end
        else:
            s = _with_comments_above(source, comments, ends, piece.start) if piece.whole else piece.start
            s, e = _widen(source, s, piece.end)
        s = max(s, pos)
        if e <= s:
            continue
        out.append(source[pos:s])
        out.append(piece.replacement)
        pos = e
    out.append(source[pos:])
    return "".join(out)


# ------------------------------------------------------------------------------ fingerprint


def _trigger_spans(program: VerusProgram) -> list[tuple[int, int]]:
    """``#[trigger]`` and ``#![trigger ...]`` / ``#![auto]`` annotations."""
    t, spans = program.tokens, []
    for i, tok in enumerate(t[:-2]):
        if tok.text != "#":
            continue
        open_ = i + 2 if t[i + 1].text == "!" else i + 1
        if open_ < len(t) - 1 and t[open_].text == "[" and t[open_ + 1].text in ("trigger", "auto"):
            spans.append(program.char_span(i, program.matching[open_] + 1))
    return spans


def _outside_use_spans(program: VerusProgram) -> list[tuple[int, int]]:
    """``use ...;`` statements at the top level outside the verus! bodies."""
    if not program.wrapped:
        return []
    t, spans, depth = program.tokens, [], 0
    i = 0
    while i < len(t):
        if program.in_bodies(i):
            i += 1
            continue
        x = t[i].text
        if x in ("(", "[", "{"):
            depth += 1
        elif x in (")", "]", "}"):
            depth -= 1
        elif x == "use" and depth == 0:
            j = i
            while j < len(t) and t[j].text != ";":
                j += 1
            spans.append(program.char_span(i, min(j + 1, len(t))))
            i = j
        i += 1
    return spans


def spec_code_tokens(program: VerusProgram) -> list[Token]:
    """The tokens the fingerprint covers (see the module docstring), in source order."""
    t = program.tokens
    excluded = list(proof_spans(program))
    excluded += [program.char_span(s.start, s.end) for fn in program.functions for s in fn.statements
                 if s.kind in ("ghost_let", "tracked_let")]
    excluded += [program.char_span(it.start, it.end) for it in program.items if it.kind in ("use", "extern")]
    excluded += _trigger_spans(program) + _outside_use_spans(program)
    # goal asserts stay in a task, but an answer may add asserts next to them (cheating_reason
    # checks that it keeps the task's)
    excluded += [program.char_span(s.start, s.end) for _, s in goal_asserts(program) + hypothesis_assumes(program)]
    # lemmas (theorems and helpers) whole: an answer may add its own; the task's lemmas must stay
    # unchanged, which cheating_reason checks (lemma_goals)
    roles = proof_fn_roles(program)
    excluded += [program.char_span(f.start, f.end) for f in program.functions
                 if roles.get(f.start) in ("theorem", "helper")]
    excluded = merge_spans(excluded)
    kept = [i for i, tok in enumerate(t) if not in_spans(excluded, tok.start)]

    # spec fns count only when kept spec / code refers to them (directly or through other spec fns)
    optional = [f for f in program.functions if f.mode == "spec" and f.container != "trait"
                and not f.has_attribute("verifier::type_invariant")]
    starts = [f.start for f in optional]

    def owner(i: int) -> int | None:
        k = bisect.bisect_right(starts, i) - 1
        return k if k >= 0 and i < optional[k].end else None

    names: set[str] = set()

    def note(i: int) -> None:
        if t[i].kind == "ident":
            names.add(t[i].text)
        elif t[i].text == "@":
            names.add("view")

    by_owner: dict[int | None, list[int]] = {}
    for i in kept:
        by_owner.setdefault(owner(i), []).append(i)
    for i in by_owner.get(None, []):
        note(i)
    included: set[int] = set()
    changed = True
    while changed:
        changed = False
        for k, fn in enumerate(optional):
            if k not in included and fn.name in names:
                included.add(k)
                changed = True
                for i in by_owner.get(k, []):
                    note(i)
    kept = [i for i in kept if owner(i) is None or owner(i) in included]

    result: list[Token] = []
    for pos, i in enumerate(kept):
        following = t[kept[pos + 1]] if pos + 1 < len(kept) else None
        if t[i].text == ",":
            if following is None or following.text in (")", "]", "}", "{", ";") or (
                    following.kind == "ident" and following.text in _CLAUSE_KEYWORDS):
                continue  # trailing commas carry no meaning
        if t[i].text == "{" and following is not None and following.text == "}" and result \
                and result[-1].text == "=>":
            continue  # 'x => {}' is what strip_proof leaves of 'x => assert(..)'
        if t[i].text == "}" and len(result) >= 1 and result[-1].text == "=>" and pos > 0 \
                and t[kept[pos - 1]].text == "{":
            continue
        result.append(t[i])
    return result


def spec_code_text(source: str | VerusProgram) -> str:
    """The fingerprinted tokens joined by spaces (for inspection; raises ValueError when unparsable)."""
    return " ".join(tok.text for tok in spec_code_tokens(_program(source)))


def spec_code_fingerprint(source: str | VerusProgram) -> str:
    """Hash of specs + exec code, ignoring proofs, comments and whitespace (40 hex digits).

    Unparsable source gets a hash of its tokens under another salt, so it never equals the
    fingerprint of a parsed program.
    """
    if isinstance(source, str):
        program = parse_verus(source)
        if isinstance(program, Rejected):
            try:
                texts = [tok.text for tok in tokenize(source)[0]]
            except VerusSyntaxError:
                texts = source.split()
            return content_id(_UNPARSED_SALT, *texts, length=40)
    else:
        program = source
    return content_id(_FINGERPRINT_SALT, *(tok.text for tok in spec_code_tokens(program)), length=40)


# ------------------------------------------------------------------------------------ goals


def _trusted(fn) -> bool:
    return (fn.body is None or "axiom" in fn.qualifiers or fn.has_attribute("verifier::external_body")
            or fn.has_attribute("verifier::external"))


def goal_reason(source: str | VerusProgram) -> str | None:
    """None when the program states something to prove, else ``no_goal``.

    A goal is a non-empty ``ensures`` of a function Verus verifies (with a body, not
    external_body / external / axiom), an assert that is an exec fn's only goal
    (``syntax.goal_asserts``), an ``#[inductive]`` lemma of a state machine, or a call, from
    such a body, of a local function or assume_specification with a non-empty ``requires`` (its
    precondition is proven at the call).
    Implicit obligations (arithmetic overflow, index bounds) are not counted: a task whose only
    goal is one of those is ``no_goal``.
    """
    program = _program(source)
    verified = [fn for fn in program.functions if not _trusted(fn)]
    if any(c.exprs for fn in verified for c in fn.clauses_of("ensures")) or goal_asserts(program):
        return None
    if any(fn.container == "state_machine" and fn.mode == "proof" for fn in verified):
        return None  # an #[inductive(..)] lemma: the machine's invariant must be preserved
    guarded = {fn.name for fn in program.functions if any(c.exprs for c in fn.clauses_of("requires"))}
    guarded |= {it.name for it in program.items if it.kind == "assume_specification"
                and any(c.kind == "requires" and c.exprs for c in it.clauses)}
    if any(fn.calls & guarded for fn in verified if fn.mode != "spec"):
        return None
    return "no_goal"


# --------------------------------------------------------------------------------- cheating


_TRUSTED = ("verifier::external_body", "verifier::external")


def _escape_profile(source: str | VerusProgram | None) -> tuple[dict[str, int], list[str] | None]:
    """Escape-hatch counts and the trusted items, ``"<attribute> <kind> <name>"`` for every
    external_body / external item and axiom fn (None when the items are unknown)."""
    if source is None:
        return escape_hatches_in_text(""), []
    program = source if isinstance(source, VerusProgram) else parse_verus(source)
    if isinstance(program, Rejected):
        try:
            return escape_hatches_in_tokens(tokenize(source)[0]), None
        except VerusSyntaxError:
            return escape_hatches_in_text(source), None
    names = []
    for it in program.items:
        applied = frozenset().union(*(a.names() for a in it.attributes))
        names += [f"{attribute} {it.kind} {it.name}" for attribute in _TRUSTED if attribute in applied]
    names += [f"verifier::external_body fn {f.name}" for f in program.functions if "axiom" in f.qualifiers]
    return count_escape_hatches(program), sorted(names)


def _goal_texts(source: str | VerusProgram) -> list[str] | None:
    program = source if isinstance(source, VerusProgram) else parse_verus(source)
    if isinstance(program, Rejected):
        return None
    t = program.tokens
    return sorted([fn.name + ":" + " ".join(t[k].text for k in range(s.start, s.end) if t[k].text != ";")
                   for fn, s in goal_asserts(program)] + ["lemma " + g for g in lemma_goals(program)])


def _hypotheses(source: str | VerusProgram | None) -> list[str]:
    """The havoc-style assumptions (``syntax.hypothesis_assumes``) as ``fn:tokens`` (none when
    the source does not parse)."""
    if source is None:
        return []
    program = source if isinstance(source, VerusProgram) else parse_verus(source)
    if isinstance(program, Rejected):
        return []
    t = program.tokens
    return sorted(fn.name + ":" + " ".join(t[k].text for k in range(s.start, s.end) if t[k].text != ";")
                  for fn, s in hypothesis_assumes(program))


def _allowed_assumes(candidate, seed) -> int:
    """How many of the candidate's ``assume``s are test hypotheses: its own (without a seed), or
    those equal to one of the seed's (with one)."""
    mine = _hypotheses(candidate)
    if seed is None:
        return len(mine)
    remaining = _hypotheses(seed)
    allowed = 0
    for h in mine:
        if h in remaining:
            remaining.remove(h)
            allowed += 1
    return allowed


def lemma_goals(program: VerusProgram) -> list[str]:
    """Each kept lemma (``syntax.lemma_fns``) as text: its signature's tokens (attributes,
    ``decreases`` and trigger annotations left out) and those of the spec fns the signature
    refers to, directly or through other spec fns. Sorted."""
    t = program.tokens
    spec = {f.name: f for f in program.functions if f.mode == "spec" and f.body is not None}
    skip = _trigger_spans(program)

    def text(lo: int, hi: int, drop=()) -> str:
        spans = merge_spans(skip + [program.char_span(a, b) for a, b in drop])
        return " ".join(t[k].text for k in range(lo, hi) if not in_spans(spans, t[k].start))

    out = []
    for fn in lemma_fns(program):
        head = fn.name_index
        while head > fn.start and t[head - 1].kind == "ident":
            head -= 1  # the qualifiers before the name (pub, broadcast, proof, fn), not the attributes
        sig_end = fn.body[0] if fn.body else fn.end
        parts = [text(head, sig_end, [(c.start, c.end) for c in fn.clauses_of("decreases")])]
        names = {t[k].text for k in range(head, sig_end) if t[k].kind == "ident"}
        seen: set[str] = set()
        while names - seen:
            name = min(names - seen)
            seen.add(name)
            if name in spec and name != fn.name:
                f = spec[name]
                parts.append(text(f.name_index, f.end))
                names |= {t[k].text for k in range(f.name_index, f.end) if t[k].kind == "ident"}
        out.append(fn.name + ": " + " | ".join(parts))
    return sorted(out)


def _dropped_goal(candidate: str | VerusProgram, seed: str | VerusProgram) -> bool:
    """Whether the candidate lacks an assert that is a goal of the seed (same fn, same tokens)."""
    wanted, found = _goal_texts(seed), _goal_texts(candidate)
    if not wanted or found is None:
        return False
    remaining = list(found)
    for goal in wanted:
        if goal not in remaining:
            return True
        remaining.remove(goal)
    return False


def keeps_goals(candidate: str | VerusProgram, task: str | VerusProgram) -> bool:
    """Whether the candidate keeps every goal assert and lemma (``lemma_goals``) of the task."""
    return not _dropped_goal(candidate, task)


def cheating_reason(candidate: str | VerusProgram, seed: str | VerusProgram | None = None) -> str | None:
    """Why a candidate cannot be accepted even if it verifies, else None: Verus's ``--no-cheating``
    rules (``features.escape_hatches_in_tokens``), less what the seed itself had.

    Without a seed (a seed program judged on its own) this is ``--no-cheating`` itself: any
    ``assume`` / ``admit`` / ``external_body`` (``axiom fn`` included) / ``assume_specification`` /
    ``assume_termination`` is cheating (but the assumptions of a havoc-style test,
    ``syntax.hypothesis_assumes``: premises like ``requires``); ``#[verifier::external]`` is not (Verus then ignores the
    item, and verified code cannot use it). With a seed (an answer to a task made from it):
    ``assume`` / ``admit``: present at all (but the seed's own test hypotheses); ``external_body`` / ``external``: a trusted item the
    seed did not have (by attribute, kind and name; external_body by count when either side does
    not parse); ``assume_specification`` / ``assume_termination``: more of them than the seed had;
    ``dropped_goal``: an assert that is the seed's goal (``syntax.goal_asserts``) is missing, or
    one of its lemmas (``lemma_goals``: signature and the spec fns it names) is missing or changed.
    """
    found, found_external = _escape_profile(candidate)
    allowed, allowed_external = _escape_profile(seed)
    if seed is not None and _dropped_goal(candidate, seed):
        return "dropped_goal"
    if found["assume"] > _allowed_assumes(candidate, seed):
        return "assume"
    if found["admit"]:
        return "admit"
    if found_external is not None and allowed_external is not None:
        remaining = list(allowed_external)
        for name in found_external:
            if name not in remaining:
                if name.startswith("verifier::external_body"):
                    return "external_body"
                if seed is not None:
                    return "external"
                continue
            remaining.remove(name)
    elif found["external_body"] > allowed["external_body"]:
        return "external_body"
    if found["assume_termination"] > allowed["assume_termination"]:
        return "assume_termination"
    if found["assume_specification"] > allowed["assume_specification"]:
        return "assume_specification"
    return None


# ------------------------------------------------------------------------------ dedup key


def target_functions(program: VerusProgram) -> list:
    """The functions a task is about: exec fns Verus verifies with a non-empty ``ensures`` or goal
    asserts; without any, the lemmas (``syntax.lemma_fns``: theorems and helpers with ``ensures``,
    the same set in a program and in its task) and proof fn tests; else none. Helper lemmas, ``main``
    without asserts, spec fns and trusted items are context, not targets."""
    roles = proof_fn_roles(program)
    with_goal_asserts = {fn.start for fn, _ in goal_asserts(program)}

    def has_goal(fn) -> bool:
        return any(c.exprs for c in fn.clauses_of("ensures")) or fn.start in with_goal_asserts

    verified = [fn for fn in program.functions if not _trusted(fn) and fn.mode != "spec"]
    lemmas = lemma_fns(program)
    for chosen in ([fn for fn in verified if fn.mode == "exec" and has_goal(fn)],
                   [fn for fn in verified if fn in lemmas or roles.get(fn.start) == "test"]):
        if chosen:
            return chosen
    return []


def target_text(source: str | VerusProgram) -> str:
    """The dedup / decontamination key of a program: the tokens of its target functions
    (``target_functions``) with proof, comments, whitespace, trigger annotations and ghost lets
    removed, each followed by the spec fns it refers to (directly or through other spec fns),
    the per-function texts sorted. Shared context (other functions, datatypes, ``main``) is not
    part of it, so two targets in one context differ and one function in two contexts is equal.
    A program without a target (its task would have no goal) is keyed by all its tokens, proof
    included (comments and whitespace still left out); unparsable source by its whitespace-collapsed
    text."""
    if isinstance(source, str):
        parsed = parse_verus(source)
        if isinstance(parsed, Rejected):
            return " ".join(source.split())
        source = parsed
    program = source
    targets = target_functions(program)
    if not targets:
        return " ".join(tok.text for tok in program.tokens)
    t = program.tokens
    skip = list(proof_spans(program)) + _trigger_spans(program)
    skip += [program.char_span(s.start, s.end) for fn in program.functions for s in fn.statements
             if s.kind in ("ghost_let", "tracked_let")]
    skip = merge_spans(skip)
    spec = {f.name: f for f in program.functions if f.mode == "spec" and f.body is not None}

    def text(lo: int, hi: int) -> tuple[str, set[str]]:
        kept = [t[k].text for k in range(lo, hi) if not in_spans(skip, t[k].start)]
        kept = [x for x, after in zip(kept, kept[1:] + [None]) if x != "," or not (
            after is None or after in (")", "]", "}", "{", ";") or after in _CLAUSE_KEYWORDS)]  # trailing commas
        return " ".join(kept), {x for x in kept if x in spec}

    parts = []
    for fn in targets:
        own, names = text(fn.start, fn.end)
        seen: set[str] = set()
        extra = []
        while names - seen:
            name = min(names - seen)
            seen.add(name)
            spec_text, more = text(spec[name].start, spec[name].end)
            extra.append(spec_text)
            names |= more
        parts.append(" ".join([own] + sorted(extra)))
    return "\n".join(sorted(parts))


# ------------------------------------------------------------------------------ trivial specs


def trivial_spec_reason(source: str | VerusProgram) -> str | None:
    """Why a (synthesized) program's spec states nothing worth proving, else None:

    * ``no_ensures``: no verified fn has a non-empty ``ensures`` (asserts do not count: a
      synthesized program is to state what its code computes);
    * ``ensures_true``: every ``ensures`` expression is the literal ``true``;
    * ``requires_false``: a ``requires`` expression is the literal ``false`` (the fn is vacuous);
    * ``unused_requires``: a ``requires`` expression names none of its fn's parameters (nor
      ``self``): it constrains nothing the fn gets.
    """
    program = _program(source)
    t = program.tokens
    verified = [fn for fn in program.functions if not _trusted(fn) and fn.mode != "spec"]

    def words(expr: tuple[int, int]) -> list[str]:
        return [t[k].text for k in range(*expr) if t[k].text not in ("(", ")")]

    ensures = [e for fn in verified for c in fn.clauses_of("ensures") for e in c.exprs]
    if not ensures:
        return "no_ensures"
    if ensures and all(words(e) == ["true"] for e in ensures):
        return "ensures_true"
    for fn in verified:
        lo, hi = fn.params
        params = {t[k].text for k in range(lo + 1, hi) if t[k].kind == "ident" and k + 1 < hi
                  and t[k + 1].text == ":"} | {"self", "old"}
        for clause in fn.clauses_of("requires"):
            for expr in clause.exprs:
                if words(expr) == ["false"]:
                    return "requires_false"
                if not params & {t[k].text for k in range(*expr)}:
                    return "unused_requires"
    return None

"""Verus record families (issue 5): programs, proof-completion tasks, repair pairs, trajectories.

Features are flat columns, one int64 occurrence count per Verus feature, named
``feat_<name>`` for every name in ``VERUS_FEATURES``; the escape hatches are counted apart in
``escape_<name>`` columns (``ESCAPE_HATCHES``). A program has a feature when its count is > 0.
Flat columns are the easiest to query in DuckDB, with no struct syntax::

    SELECT count(*) FROM 'OUT/programs/*.parquet' WHERE feat_assert_by > 0;
    -- coverage of every feature (count and share of programs):
    SELECT name, count_if(n > 0) AS programs, avg((n > 0)::INT) AS share
    FROM (UNPIVOT (SELECT COLUMNS('^feat_') FROM 'OUT/programs/*.parquet') ON COLUMNS(*)
          INTO NAME name VALUE n)
    GROUP BY name ORDER BY name;

Every output (programs, tasks, repairs, trajectories) carries the feature columns of the
program it holds (the ground truth, the fixed program, the final candidate), so
``shardsmith stats`` reports coverage per output without joins.

Lists use an item field named ``element`` (the name Parquet's compliant nested layout uses),
so a shard read back has exactly the declared schema and the same ``fingerprint``.
"""
from __future__ import annotations

import pyarrow as pa

from schemas.common import field


def _list(type_: pa.DataType) -> pa.ListType:
    """A list type whose item field is named like Parquet names it, so round trips are exact."""
    return pa.list_(pa.field("element", type_))


_FEATURE_DOCS = (
    ("requires", "`requires` clauses (preconditions)"),
    ("ensures", "`ensures` clauses on functions (postconditions)"),
    ("recommends", "`recommends` clauses"),
    ("loop_invariant", "loop `invariant` clauses"),
    ("invariant_except_break", "loop `invariant_except_break` clauses"),
    ("loop_ensures", "`ensures` clauses on loops"),
    ("decreases", "`decreases` clauses (termination measures)"),
    ("spec_fn", "`spec fn` items (incl. open/closed spec fns)"),
    ("proof_fn", "`proof fn` items (lemmas)"),
    ("proof_block", "`proof { ... }` blocks inside exec code"),
    ("assert", "plain `assert(...)` statements"),
    ("assert_by", "`assert(...) by { ... }` / `by(...)` statements"),
    ("assert_forall", "`assert forall|...| ... by { ... }` statements"),
    ("forall", "`forall|...|` quantifiers"),
    ("exists", "`exists|...|` quantifiers"),
    ("choose", "`choose|...|` expressions"),
    ("trigger", "explicit triggers (`#[trigger]`, `#![trigger ...]`)"),
    ("ghost", "ghost code: `Ghost<...>` values, `ghost` variables"),
    ("tracked", "tracked code: `Tracked<...>`, `tracked` variables/params"),
    ("seq", "uses of `Seq` (vstd::seq)"),
    ("set", "uses of `Set` (vstd::set)"),
    ("map", "uses of `Map` (vstd::map)"),
    ("multiset", "uses of `Multiset` (vstd::multiset)"),
    ("view", "the view operator `@` / `.view()`"),
    ("ext_equal", "extensional equality `=~=` (and `=~~=`)"),
    ("nonlinear_arith", "`by (nonlinear_arith)` proofs"),
    ("bit_vector", "`by (bit_vector)` proofs"),
    ("integer_ring", "`by (integer_ring)` proofs"),
    ("compute", "`by (compute)` / `by (compute_only)` proofs"),
    ("broadcast", "`broadcast` lemmas, `broadcast use`, `broadcast group`"),
    ("opaque", "`#[verifier::opaque]` / `opaque` spec fns"),
    ("reveal", "`reveal(...)` / `reveal_with_fuel(...)` calls"),
    ("fuel", "fuel annotations: `#[verifier::fuel]`, `reveal_with_fuel`"),
    ("recursive_lemma", "proof fns that call themselves (induction)"),
    ("calc", "`calc! { ... }` proofs"),
    ("int_nat_cast", "casts to or from `int` / `nat` (`as int`, `as nat`)"),
    ("old", "`old(...)` in ensures clauses"),
    ("is_matches", "datatype tests `is Variant` / `matches` / `arrow` field access"),
    ("type_invariant", "`#[verifier::type_invariant]` functions"),
    ("closure", "exec closures (`|x| ...` with requires/ensures)"),
    ("spec_fn_closure", "`spec_fn(...)` types / spec closures"),
    ("vstd_lemma", "calls to vstd lemmas (`lemma_*` from vstd)"),
)
_ESCAPE_DOCS = (
    ("assume", "`assume(...)` statements (unsound escape hatch)"),
    ("admit", "`admit()` calls (unsound escape hatch)"),
    ("external_body", "`#[verifier::external_body]` functions (body not verified)"),
    ("assume_specification", "`assume_specification[...]` declarations (trusted specs)"),
    ("assume_termination", "`#[verifier::assume_termination]` fns (termination not proven)"),
)

VERUS_FEATURES = tuple(name for name, _ in _FEATURE_DOCS)
FEATURE_TERMS = dict(_FEATURE_DOCS)  # each feature in Verus terms (prompts, docs)
ESCAPE_HATCHES = tuple(name for name, _ in _ESCAPE_DOCS)
FEATURE_COLUMNS = tuple("feat_" + name for name in VERUS_FEATURES)
ESCAPE_COLUMNS = tuple("escape_" + name for name in ESCAPE_HATCHES)

ORIGINS = ("seed", "self_synthesis", "tutorial", "repair", "trajectory")
VERIFICATION_STATUSES = ("verified", "failed", "compile_error", "timeout", "crash")
TRAJECTORY_STATUSES = ("success", "error", "timeout")


def _feature_fields(of: str, nullable: bool = False) -> list[pa.Field]:
    """One int64 count column per feature and per escape hatch, describing program ``of``."""
    out = [field("feat_" + n, pa.int64(), f"{of}: number of {d}", nullable) for n, d in _FEATURE_DOCS]
    out += [field("escape_" + n, pa.int64(), f"{of}: number of {d}", nullable) for n, d in _ESCAPE_DOCS]
    return out


_STATUS_DOC = "'verified', 'failed', 'compile_error', 'timeout' or 'crash'"
_ERRORS_DOC = "verifier error messages (rendered diagnostics, in order)"

VERUS_PROGRAM_SCHEMA = pa.schema(
    [
        field("id", pa.string(), "stable id: content hash of the normalized program", False),
        field("origin", pa.string(), "'seed', 'self_synthesis', 'tutorial', 'repair' or 'trajectory'", False),
        field("source", pa.string(), "input file (relative to its --seeds path) or dataset the program (or its seed) came from"),
        field("source_id", pa.string(), "position in the source: file, '<file>:<index>' (files relative to their --seeds path) or task_id"),
        field("parent_id", pa.string(), "id of the seed / program this one was synthesized from; null for seeds"),
        field("target_feature", pa.string(), "for tutorial variants: the feature (VERUS_FEATURES name) the variant must exercise"),
        field("model", pa.string(), "LLM that wrote the program; null for seeds"),
        field("program", pa.string(), "full Rust/Verus source", False),
        field("program_without_proof", pa.string(), "the program with proofs stripped (specs and exec code kept): the proof-completion task", False),
        field("spec_fingerprint", pa.string(), "hash of specs + exec code ignoring proofs, comments and whitespace", False),
        field("has_spec", pa.bool_(), "the program has a specification (requires/ensures or spec fns)", False),
        field("has_proof", pa.bool_(), "the program has proof content (invariants, proof blocks/fns, asserts)", False),
        field("n_exec_lines", pa.int64(), "non-blank, non-comment lines of exec code", False),
        field("n_spec_lines", pa.int64(), "non-blank, non-comment lines of specification", False),
        field("n_proof_lines", pa.int64(), "non-blank, non-comment lines of proof", False),
        *_feature_fields("program"),
        field("verification_status", pa.string(), f"{_STATUS_DOC}; null when verification was skipped (no verus)"),
        field("verus_version", pa.string(), "version string of the verus that checked it; null when skipped"),
        field("n_verified", pa.int64(), "functions verified, from verification-results; null when skipped"),
        field("n_errors", pa.int64(), "verification errors, from verification-results; null when skipped"),
        field("verification_errors", _list(pa.string()), _ERRORS_DOC + "; empty when verified, null when skipped"),
        field("accepted", pa.bool_(), "verified with no assume/admit, external_body only where the seed had it, spec and code unchanged; null when skipped"),
    ]
)

PROOF_TASK_SCHEMA = pa.schema(
    [
        field("id", pa.string(), "stable id: content hash of the task text", False),
        field("program_id", pa.string(), "id of the program the task was derived from (OUT/programs id)", False),
        field("source", pa.string(), "input file or dataset"),
        field("source_id", pa.string(), "task_id of an imported task file, else the program's source_id"),
        field("task", pa.string(), "the program with proofs stripped: specs and exec code to keep, proofs to write", False),
        field("ground_truth", pa.string(), "a verified full program solving the task", False),
        field("spec_fingerprint", pa.string(), "spec-and-code fingerprint a solution must reproduce", False),
        field("verus_version", pa.string(), "verus version that verified the ground truth; null when skipped"),
        *_feature_fields("ground truth"),
    ]
)

REPAIR_PAIR_SCHEMA = pa.schema(
    [
        field("id", pa.string(), "stable id: content hash of failing program, errors and fixed program", False),
        field("origin", pa.string(), "'synthesis' (our repair loop) or 'imported' (debugging records of the input)", False),
        field("source", pa.string(), "input file or dataset"),
        field("source_id", pa.string(), "position in the source, or the trajectory id of the repair"),
        field("task_id", pa.string(), "proof task the failing candidate attempted, when there was one"),
        field("model", pa.string(), "LLM that wrote the fix; null when imported"),
        field("failing_program", pa.string(), "the candidate that did not verify", False),
        field("failing_status", pa.string(), "verdict on the failing program: 'failed', 'compile_error', 'timeout' or 'crash'", False),
        field("errors", pa.string(), "the verifier errors shown to the model, as text", False),
        field("fixed_program", pa.string(), "the repaired program, verified", False),
        field("fixed_program_id", pa.string(), "id of the fixed program (content hash, as in OUT/programs)", False),
        field("verus_version", pa.string(), "verus version that verified the fix"),
        *_feature_fields("fixed program"),
    ]
)

TURN_TYPE = pa.struct(
    [
        field("role", pa.string(), "'system', 'user', 'assistant' or 'verifier'", False),
        field("content", pa.string(), "message text (for the verifier: its rendered errors or success)", False),
        field("program", pa.string(), "program extracted from an assistant turn's ```rust fence; null otherwise"),
        field("verification_status", pa.string(), f"verdict on that program: {_STATUS_DOC}; null otherwise"),
    ]
)

TRAJECTORY_SCHEMA = pa.schema(
    [
        field("id", pa.string(), "stable id: content hash of the turns", False),
        field("loop", pa.string(), "synthesis loop: 'self_synthesis', 'tutorial', 'repair' or 'proof_completion'", False),
        field("task_id", pa.string(), "proof task or seed program id the episode started from"),
        field("model", pa.string(), "LLM that played the assistant"),
        field("status", pa.string(), "'success' (ended verified), 'error' (gave up or unparsable) or 'timeout'", False),
        field("n_turns", pa.int64(), "number of turns", False),
        field("turns", _list(TURN_TYPE), "generate → verify → repair messages, in order", False),
        field("final_program", pa.string(), "last candidate program; null when none was produced"),
        field("final_verification_status", pa.string(), f"verdict on the final program: {_STATUS_DOC}; null when none"),
        field("verus_version", pa.string(), "verus version used in the episode"),
        *_feature_fields("final program (null when it did not parse)", nullable=True),
    ]
)

"""Proof-completion tasks: strip_proof, the spec-and-code fingerprint, cheating checks."""
import pytest

from tests.transforms.verus.programs import BINARY_SEARCH
from transforms.records import Rejected
from transforms.verus.features import count_escape_hatches, extract_features
from transforms.verus.syntax import lemma_fns, parse_verus, token_roles
from transforms.verus.tasks import (
    cheating_reason, goal_reason, spec_code_fingerprint, spec_code_text, strip_proof,
)


BINARY_SEARCH_TASK = """\
use vstd::prelude::*;

verus! {

fn binary_search(v: &Vec<u64>, k: u64) -> (r: usize)
    requires
        forall|i: int, j: int| 0 <= i <= j < v.len() ==> v[i] <= v[j],
        exists|i: int| 0 <= i < v.len() && k == v[i],
    ensures
        r < v.len(),
        k == v[r as int],
{
    let mut i1: usize = 0;
    let mut i2: usize = v.len() - 1;
    while i1 != i2
    {
        let ix = i1 + (i2 - i1) / 2;
        if v[ix] < k {
            i1 = ix + 1;
        } else {
            i2 = ix;
        }
    }
    i1
}

fn main() {
}

} // verus!
"""

SUM = """\
use vstd::prelude::*;

verus! {

spec fn sum_to(n: nat) -> nat
    decreases n,
{
    if n == 0 { 0 } else { n + sum_to((n - 1) as nat) }
}

// Gauss: twice the sum is n * (n + 1)
proof fn lemma_sum_to_closed(n: nat)
    ensures
        2 * sum_to(n) == n * (n + 1),
    decreases n,
{
    if n > 0 {
        lemma_sum_to_closed((n - 1) as nat);
        assert(n * (n + 1) == (n - 1) * n + 2 * n) by (nonlinear_arith);
    }
}

/// Sums grow with n.
proof fn lemma_sum_monotonic(i: nat, j: nat)
    requires
        i <= j,
    ensures
        sum_to(i) <= sum_to(j),
    decreases j,
{
    if i < j {
        lemma_sum_monotonic(i, (j - 1) as nat);
    }
}

fn compute_sum(n: u64) -> (s: u64)
    requires
        sum_to(n as nat) <= u64::MAX,
    ensures
        s == sum_to(n as nat),
{
    let mut s: u64 = 0;
    let mut i: u64 = 0;
    while i < n
        invariant
            i <= n,
            s == sum_to(i as nat),
            sum_to(n as nat) <= u64::MAX,
        decreases n - i,
    {
        i = i + 1;
        proof {
            lemma_sum_monotonic(i as nat, n as nat);
        }
        s = s + i;
    }
    s
}

} // verus!
"""

# both lemmas have an ensures: their statements stay with emptied bodies (the called helper too)
SUM_TASK = """\
use vstd::prelude::*;

verus! {

spec fn sum_to(n: nat) -> nat
    decreases n,
{
    if n == 0 { 0 } else { n + sum_to((n - 1) as nat) }
}

// Gauss: twice the sum is n * (n + 1)
proof fn lemma_sum_to_closed(n: nat)
    ensures
        2 * sum_to(n) == n * (n + 1),
{}

/// Sums grow with n.
proof fn lemma_sum_monotonic(i: nat, j: nat)
    requires
        i <= j,
    ensures
        sum_to(i) <= sum_to(j),
{}

fn compute_sum(n: u64) -> (s: u64)
    requires
        sum_to(n as nat) <= u64::MAX,
    ensures
        s == sum_to(n as nat),
{
    let mut s: u64 = 0;
    let mut i: u64 = 0;
    while i < n
    {
        i = i + 1;
        s = s + i;
    }
    s
}

} // verus!
"""

MIXED = """\
use vstd::prelude::*;

verus! {

pub struct Buffer {
    data: Vec<u8>,
    cap: usize,
}

impl Buffer {
    #[verifier::type_invariant]
    spec fn inv(&self) -> bool {
        self.data.len() <= self.cap
    }

    pub closed spec fn view(&self) -> Seq<u8> {
        self.data@
    }

    pub fn push(&mut self, b: u8)
        requires
            old(self)@.len() < old(self).cap,
        ensures
            self@ == old(self)@.push(b),
    {
        proof {
            use_type_invariant(&*self);
        }
        self.data.push(b);
        assert(self@ =~= old(self)@.push(b));
    }
}

#[verifier::opaque]
spec fn is_even(x: int) -> bool {
    x % 2 == 0
}

spec fn prefix_ok(s: Seq<u8>, i: int) -> bool {
    forall|k: int| 0 <= k < i ==> s[k] < 128
}

pub broadcast proof fn lemma_even_plus_two(x: int)
    ensures
        #[trigger] is_even(x + 2) == is_even(x),
{
    reveal(is_even);
}

pub broadcast group group_even {
    lemma_even_plus_two,
}

#[verifier::external_body]
fn now() -> (t: u64)
    ensures
        t > 0,
{
    1
}

pub assume_specification[ core::cmp::max::<u64> ](a: u64, b: u64) -> (r: u64)
    ensures
        r == if a > b { a } else { b };

fn count_down(n: u64) -> (r: u64)
    ensures
        r == 0,
    decreases n,
{
    if n == 0 { 0 } else { count_down(n - 1) }
}

/// All bytes are ASCII.
#[verifier::rlimit(20)]
fn all_ascii(s: &Vec<u8>) -> (ok: bool)
    ensures
        ok == (forall|k: int| 0 <= k < s.len() ==> s[k] < 128),
{
    broadcast use group_even;
    let mut i: usize = 0;
    let ghost start = s@;
    while i < s.len()
        invariant
            i <= s.len(),
            prefix_ok(s@, i as int),
            s@ == start,
        decreases s.len() - i,
    {
        if s[i] >= 128 {
            return false;
        }
        // the new byte is fine
        assert(s[i as int] < 128);
        i = i + 1;
    }
    assert forall|k: int| 0 <= k < s.len() implies s[k] < 128 by {
        assert(prefix_ok(s@, i as int));
    }
    true
}

fn low_bit(x: u64, flag: Option<u64>) -> (r: u64)
    ensures
        r <= 1,
{
    let r = x & 1;
    assert(r <= 1) by (bit_vector) requires r == x & 1;
    match flag {
        Some(v) => assert(v >= 0),
        None => {}
    }
    let mut j: u64 = 0;
    while j < 3 invariant j <= 3 decreases 3 - j { j = j + 1; }
    proof {
        calc! {
            (==)
            r + 0; {}
            r;
        }
    }
    r
}

fn main() {
}

} // verus!
"""

PROOF_FEATURES = ("loop_invariant", "invariant_except_break", "loop_ensures", "proof_block", "assert",
                  "assert_by", "assert_forall", "calc", "reveal", "fuel", "broadcast", "nonlinear_arith",
                  "bit_vector", "recursive_lemma")
SPEC_FEATURES = ("recommends", "spec_fn", "old", "type_invariant", "opaque")


def _parse(source):
    program = parse_verus(source)
    assert not isinstance(program, Rejected), program
    return program


def test_strip_binary_search_removes_the_loop_clauses_only():
    assert strip_proof(BINARY_SEARCH) == BINARY_SEARCH_TASK


def test_strip_sum_keeps_the_statements_of_the_theorem_and_the_called_lemma():
    assert strip_proof(SUM) == SUM_TASK


@pytest.mark.parametrize("source", [BINARY_SEARCH, SUM, MIXED], ids=["binary_search", "sum", "mixed"])
def test_stripped_task_parses_and_holds_no_proof(source):
    original = _parse(source)
    task = strip_proof(source)
    stripped = _parse(task)
    before, after = extract_features(original), extract_features(stripped)
    broadcast_lemmas = sum("broadcast" in f.qualifiers for f in lemma_fns(original))
    for name in PROOF_FEATURES:
        assert after[name] == (broadcast_lemmas if name == "broadcast" else 0), name
    for name in SPEC_FEATURES:
        assert after[name] == before[name], name
    # spec and exec fns keep their clauses (helper lemmas take theirs along)
    clauses = {(f.name, c.kind, original.text(c.start, c.end)) for f in original.functions if f.mode != "proof"
               for c in f.clauses if c.kind != "decreases" or f.mode == "spec"}
    assert clauses <= {(f.name, c.kind, stripped.text(c.start, c.end)) for f in stripped.functions for c in f.clauses}
    escapes = count_escape_hatches(stripped)
    assert escapes["assume"] == escapes["admit"] == 0
    # every line of exec code and spec without proof on it is still there, word for word
    line_roles: dict[int, set[str]] = {}
    for tok, role in zip(original.tokens, token_roles(original)):
        line_roles.setdefault(tok.line, set()).add(role)
    lines, kept_lines = source.splitlines(), set(task.splitlines())
    for line_no, roles in line_roles.items():
        if "proof" not in roles:
            assert lines[line_no - 1] in kept_lines, lines[line_no - 1]
    assert strip_proof(task) == task  # nothing left to strip


def test_strip_mixed_program_details():
    task = strip_proof(MIXED)
    for gone in ("invariant\n", "invariant j", "assert", "proof {", "calc!", "reveal", "broadcast use",
                 "broadcast group", "use_type_invariant", "decreases n,", "decreases s.len()", "rlimit",
                 "the new byte is fine"):
        assert gone not in task, gone
    for kept in ("#[verifier::type_invariant]", "#[verifier::external_body]", "#[verifier::opaque]",
                 "pub assume_specification[ core::cmp::max::<u64> ]", "let ghost start = s@;",
                 "/// All bytes are ASCII.\nfn all_ascii", "spec fn prefix_ok",
                 "        Some(v) => {},\n", "    while j < 3 { j = j + 1; }\n",
                 "    let r = x & 1;\n    match flag {",
                 # a lemma with an ensures keeps its statement, body emptied
                 "pub broadcast proof fn lemma_even_plus_two(x: int)\n    ensures\n"
                 "        #[trigger] is_even(x + 2) == is_even(x),\n{}\n"):
        assert kept in task, kept


def test_fingerprint_ignores_proofs_comments_and_layout():
    base = spec_code_fingerprint(BINARY_SEARCH)
    assert len(base) == 40 and base == spec_code_fingerprint(strip_proof(BINARY_SEARCH))
    variants = [
        # a different invariant and an extra one
        BINARY_SEARCH.replace("            i2 < v.len(),\n", "            i1 <= i2 < v.len(),\n            0 <= i1,\n"),
        # an assert, a proof block calling a new helper lemma, a helper spec fn, a trigger
        BINARY_SEARCH.replace("        let ix = i1 + (i2 - i1) / 2;\n",
                              "        let ix = i1 + (i2 - i1) / 2;\n        assert(ix < v.len());\n"
                              "        proof { lemma_mid(i1 as int, i2 as int); }\n")
        .replace("fn main() {", "spec fn mid(a: int, b: int) -> int { a + (b - a) / 2 }\n\n"
                 "proof fn lemma_mid(a: int, b: int) requires a <= b ensures a <= mid(a, b) <= b {}\n\n"
                 "fn main() {")
        .replace("==> v[i] <= v[j],\n    ensures", "==> #[trigger] v[i] <= v[j],\n    ensures"),
        # comments, blank lines and trailing commas
        BINARY_SEARCH.replace("    let mut i1: usize = 0;\n", "    // left end\n\n    let mut i1: usize = 0;\n")
        .replace("        k == v[r as int],\n", "        k == v[r as int]\n"),
        # the task itself
        BINARY_SEARCH_TASK,
    ]
    for variant in variants:
        assert spec_code_fingerprint(variant) == base, spec_code_text(variant)


def test_fingerprint_catches_spec_and_code_changes():
    base = spec_code_fingerprint(BINARY_SEARCH)
    changed = [
        BINARY_SEARCH.replace("        r < v.len(),\n", "        r <= v.len(),\n"),  # ensures
        BINARY_SEARCH.replace("        exists|i: int| 0 <= i < v.len() && k == v[i],\n", ""),  # requires
        BINARY_SEARCH.replace("            i1 = ix + 1;", "            i1 = ix;"),  # exec code
        BINARY_SEARCH.replace("    ensures\n", "    ensures\n        r >= 0,\n"),  # added ensures
    ]
    for variant in changed:
        assert spec_code_fingerprint(variant) != base
    # a spec fn the exec spec uses is spec too
    sum_base = spec_code_fingerprint(SUM)
    assert spec_code_fingerprint(SUM.replace("n + sum_to((n - 1) as nat)", "n + 1")) != sum_base
    # lemmas (theorem and called helper alike) are outside the fingerprint, since an answer may add
    # lemmas of its own; changing a task's lemma is dropped_goal instead
    for old, new in (("2 * sum_to(n) == n * (n + 1)", "sum_to(n) >= n"),
                     ("sum_to(i) <= sum_to(j),", "sum_to(i) <= sum_to(j) + 0,"),
                     ("        i <= j,\n", "        i < j,\n")):
        changed = SUM.replace(old, new)
        assert changed != SUM and spec_code_fingerprint(changed) == sum_base
        assert cheating_reason(changed, strip_proof(SUM)) == "dropped_goal"
    assert cheating_reason(SUM, strip_proof(SUM)) is None


def test_fingerprint_of_the_mixed_program_is_stable_under_stripping():
    assert spec_code_fingerprint(MIXED) == spec_code_fingerprint(strip_proof(MIXED))
    assert spec_code_fingerprint(MIXED) != spec_code_fingerprint(MIXED.replace("self.data.len() <= self.cap", "true"))


def test_unparsable_sources():
    broken = BINARY_SEARCH.replace("fn main() {\n}", "fn main() {")
    assert spec_code_fingerprint(broken) != spec_code_fingerprint(BINARY_SEARCH)
    assert len(spec_code_fingerprint('verus! { let s = "open')) == 40
    with pytest.raises(ValueError, match="not a parsable Verus program"):
        strip_proof(broken)


def test_cheating_reason():
    assert cheating_reason(BINARY_SEARCH, BINARY_SEARCH_TASK) is None
    with_assume = BINARY_SEARCH.replace("    i1\n}", "    assume(k == v[i1 as int]);\n    i1\n}")
    assert cheating_reason(with_assume, BINARY_SEARCH_TASK) == "assume"
    with_admit = BINARY_SEARCH.replace("    i1\n}", "    proof { admit(); }\n    i1\n}")
    assert cheating_reason(with_admit, BINARY_SEARCH_TASK) == "admit"
    external = BINARY_SEARCH.replace("fn binary_search", "#[verifier::external_body]\nfn binary_search")
    assert cheating_reason(external, BINARY_SEARCH_TASK) == "external_body"
    assert cheating_reason(external, external) is None  # the seed had it already
    assert cheating_reason(MIXED, strip_proof(MIXED)) is None  # external_body and assume_specification kept
    extra_spec = MIXED.replace("fn main() {", "pub assume_specification[ core::cmp::min::<u64> ](a: u64, b: u64) "
                                               "-> (r: u64)\n    ensures r <= a;\n\nfn main() {")
    assert cheating_reason(extra_spec, MIXED) == "assume_specification"
    # an unparsable candidate is still checked, on its tokens
    assert cheating_reason(with_assume.replace("fn main() {\n}", "fn main() {"), BINARY_SEARCH) == "assume"
    assert cheating_reason(external.replace("fn main() {\n}", "fn main() {"), BINARY_SEARCH) == "external_body"


@pytest.mark.parametrize("source", [SUM, MIXED], ids=["sum", "mixed"])
def test_damaged_programs_never_crash_and_tasks_stay_consistent(source):
    """Every one-line deletion: parse answers a program or a reject; a parsed program's task
    re-parses (or is all proof) and has the program's fingerprint."""
    lines = source.splitlines(keepends=True)
    seed = _parse(source)
    for k in range(len(lines)):
        variant = "".join(lines[:k] + lines[k + 1:])
        program = parse_verus(variant)
        if isinstance(program, Rejected):
            assert program.reason == "parse_error"
            assert len(spec_code_fingerprint(variant)) == 40
            cheating_reason(variant, seed)
            continue
        cheating_reason(program, seed)
        extract_features(program)
        task = parse_verus(strip_proof(program))
        if isinstance(task, Rejected):
            assert "no functions" in task.detail, (k, task.detail)
        else:
            assert spec_code_fingerprint(task) == spec_code_fingerprint(program), k


# Verus's --no-cheating (verus-lang/verus source/vir/src/well_formed.rs, rust_verify's verus_items.rs):
# one snippet per form, written for the test.
_LEMMA_TASK = """\
use vstd::prelude::*;
verus! {
spec fn f(x: int) -> int { x + 1 }
proof fn target(x: int) ensures f(x) > x {
}
fn main() {}
}
"""


def _answer(body: str, before: str = "") -> str:
    return _LEMMA_TASK.replace("proof fn target(x: int) ensures f(x) > x {\n}",
                               before + "proof fn target(x: int) ensures f(x) > x {\n    " + body + "\n}")


@pytest.mark.parametrize("body, before, reason", [
    ("assume(false);", "", "assume"),
    ("assume_(false);", "", "assume"),  # the builtin the verus! macro calls
    ("verus_builtin::assume_(false);", "", "assume"),
    ("builtin::assume_(false);", "", "assume"),
    ("::verus_builtin::assume_(false);", "", "assume"),
    ("vstd::prelude::admit();", "", "admit"),
    ("verus_builtin::admit();", "", "admit"),
    ("skip();", "use vstd::prelude::admit as skip;\n", "admit"),
    ("trust(false);", "use verus_builtin::{assume_ as trust};\n", "assume"),
    ("lemma(x);", "#[verifier::external_body]\nproof fn lemma(x: int) ensures f(x) > x {}\n", "external_body"),
    ("lemma(x);", "#[verifier(external_body)]\nproof fn lemma(x: int) ensures f(x) > x {}\n", "external_body"),
    ("lemma(x);", "#[cfg_attr(verus_keep_ghost, verifier::external_body)]\nproof fn lemma(x: int) ensures f(x) > x "
                  "{}\n", "external_body"),
    ("lemma(x);", "#[verus::internal(external_body)]\nproof fn lemma(x: int) ensures f(x) > x {}\n", "external_body"),
    ("lemma(x);", "axiom fn lemma(x: int) ensures f(x) > x;\n", "external_body"),
    ("", "pub assume_specification[ core::cmp::min::<u64> ](a: u64, b: u64) -> (r: u64) ensures r <= a;\n",
     "assume_specification"),
    ("", "#[verifier::external_fn_specification]\npub fn ex_min(a: u64, b: u64) -> u64 { core::cmp::min(a, b) }\n",
     "assume_specification"),
    ("", "#[verifier::assume(externals_available_without_declaration)]\nfn g() {}\n", "assume_specification"),
    ("", "#[verifier::assume_termination]\nfn spin() { loop {} }\n", "assume_termination"),
    ("", "#[verifier::external]\nfn helper() {}\n", "external"),
])
def test_every_no_cheating_form_is_caught(body, before, reason):
    answer = _answer(body, before)
    assert not isinstance(parse_verus(answer), Rejected)
    assert cheating_reason(answer, _LEMMA_TASK) == reason


@pytest.mark.parametrize("body", [
    "my_mod::assume(x);",  # a user's fn named assume, by its own path
    "v.assume(x);",  # a method
    "let admit_count = 1;",
])
def test_user_code_named_like_an_escape_hatch_is_not_cheating(body):
    assert cheating_reason(_answer(body), _LEMMA_TASK) is None


def test_a_seed_is_judged_like_verus_no_cheating():
    """Seed mode (no task to compare with): what --no-cheating refuses is refused, even when the
    seed wrote it itself; #[verifier::external] is not (Verus ignores the item)."""
    trusted = _answer("lemma(x);", "#[verifier::external_body]\nproof fn lemma(x: int) ensures f(x) > x {}\n")
    assert cheating_reason(trusted) == "external_body"
    assert cheating_reason(trusted, trusted) is None  # an answer may keep its task's trusted items
    assert cheating_reason(_answer("", "axiom fn a(x: int) ensures f(x) > x;\n")) == "external_body"
    assert cheating_reason(_answer("", "#[verifier::external]\nfn helper() {}\n")) is None
    assert cheating_reason(_LEMMA_TASK) is None


def test_a_cfg_attr_external_body_lemma_is_trusted_and_kept_by_the_task():
    program = _parse(_answer("lemma(x);", "#[cfg_attr(verus_keep_ghost, verifier::external_body)]\n"
                                          "proof fn lemma(x: int) ensures f(x) > x {}\n"))
    task = strip_proof(program)
    assert "proof fn lemma(x: int) ensures f(x) > x {}" in task and "lemma(x);" not in task


@pytest.mark.parametrize("source, reason", [
    ("verus! {\nfn f(x: u64) -> (r: u64) ensures r == x { x }\n}", None),
    ("verus! {\nproof fn t(x: int) ensures x + 0 == x {}\n}", None),
    # a call's precondition is proven at the call
    ("verus! {\nfn g(x: u64) requires x < 10 {}\nfn main() { g(3); }\n}", None),
    ("verus! {\nfn f(x: u64) -> u64 { x }\nfn main() { f(3); }\n}", "no_goal"),
    # asserts were the only goal and the task removed them (examples/guide: fn test() { assert(..) })
    ("verus! {\nfn main() { }\n}", "no_goal"),
    # a trusted fn's ensures is an assumption, not a goal
    ("verus! {\n#[verifier::external_body]\nfn f() -> (r: u64) ensures r == 1 { 1 }\nfn main() { f(); }\n}",
     "no_goal"),
    ("verus! {\naxiom fn a(x: int) ensures x == x;\nfn main() {}\n}", "no_goal"),
    ("verus! {\nspec fn s(x: int) -> int recommends x > 0 { x }\nfn main() {}\n}", "no_goal"),
    # a state machine's inductive lemma must show its invariant is preserved
    ("verus! {\nstate_machine!{ M { fields { pub x: int } #[invariant] pub fn inv(&self) -> bool { self.x >= 0 }\n"
     "#[inductive(tr)] fn tr_inductive(pre: Self, post: Self) { } } }\nfn main() {}\n}", None),
])
def test_goal_reason(source, reason):
    assert goal_reason(source) == reason


def test_a_program_whose_task_has_no_goal_is_rejected_no_goal():
    from transforms.verus.programs import Features, task_of

    source = ("verus! {\nspec fn double(x: int) -> int { 2 * x }\nfn main() {\n"
              "    proof { assert(double(2) == 4); }\n}\n}\n")
    record = Features()({"program": source, "origin": "seed", "source": "t.rs", "source_id": "t.rs"})
    result = task_of(record, verification_ran=False)
    assert isinstance(result, Rejected) and result.reason == "no_goal"
    with_goal = source.replace("fn main() {", "fn four() -> (r: u64)\n    ensures r == 4,\n{").replace(
        "== 4); }\n}", "== 4); }\n    4\n}")
    assert not isinstance(task_of(Features()({"program": with_goal, "origin": "seed", "source": "t.rs",
                                                 "source_id": "t.rs"}), verification_ran=False), Rejected)


GOAL_ASSERTS = """\
use vstd::prelude::*;
verus! {
spec fn double(x: int) -> int { 2 * x }
fn test(v: Vec<u64>) {
    let n = v.len();
    assert(double(2) == 4) by {
        reveal(double);
    };
    proof { assert(double(1) == 2); }
    assert(n == v@.len());
}
fn main() {}
}
"""


def test_asserts_that_are_an_exec_fns_only_goal_stay_in_the_task():
    # examples/guide: exec test fns whose asserts are the only thing to prove
    task = strip_proof(GOAL_ASSERTS)
    assert "assert(n == v@.len());" in task
    assert "reveal" not in task and "proof {" not in task and "double(2)" not in task
    assert spec_code_fingerprint(task) == spec_code_fingerprint(GOAL_ASSERTS)
    assert goal_reason(task) is None
    # an answer may add asserts next to the goal, but not drop or change it
    hinted = task.replace("    assert(n == v@.len());", "    assert(v@.len() == n);\n    assert(n == v@.len());")
    assert spec_code_fingerprint(hinted) == spec_code_fingerprint(task)
    assert cheating_reason(hinted, task) is None
    assert cheating_reason(task.replace("    assert(n == v@.len());\n", ""), task) == "dropped_goal"
    assert cheating_reason(task.replace("assert(n == v@.len())", "assert(n >= 0)"), task) == "dropped_goal"
    # with an ensures the fn's asserts are proof again
    with_ensures = GOAL_ASSERTS.replace("fn test(v: Vec<u64>) {", "fn test(v: Vec<u64>)\n    ensures true,\n{")
    assert "assert(n == v@.len());" not in strip_proof(with_ensures)


CALLED_LEMMA = """\
use vstd::prelude::*;
verus! {
spec fn tri(n: nat) -> nat decreases n { if n == 0 { 0 } else { n + tri((n - 1) as nat) } }
proof fn lemma_tri_mono(i: nat, j: nat)
    requires i <= j,
    ensures tri(i) <= tri(j),
    decreases j,
{
    if i < j { lemma_tri_mono(i, (j - 1) as nat); }
}
proof fn lemma_no_statement(n: nat) {
    reveal_with_fuel(tri, 2);
}
fn tri_u64(n: u64) -> (r: u64)
    requires tri(n as nat) <= u64::MAX,
    ensures r == tri(n as nat),
{
    let mut r: u64 = 0;
    let mut i: u64 = 0;
    while i < n
        invariant i <= n, r == tri(i as nat), tri(n as nat) <= u64::MAX,
        decreases n - i,
    {
        i = i + 1;
        proof { lemma_tri_mono(i as nat, n as nat); lemma_no_statement(n as nat); }
        r = r + i;
    }
    r
}
}
"""


def test_a_called_lemma_keeps_its_statement_with_an_emptied_body():
    # examples/guide: a lemma the exec proof calls is part of the task (a statement to prove)
    task = strip_proof(CALLED_LEMMA)
    assert ("proof fn lemma_tri_mono(i: nat, j: nat)\n    requires i <= j,\n    ensures tri(i) <= tri(j),\n{}\n"
            in task)
    assert "decreases j" not in task and "lemma_tri_mono(i as nat" not in task
    assert "lemma_no_statement" not in task  # a lemma without ensures states nothing: removed whole
    assert goal_reason(task) is None and strip_proof(task) == task
    assert spec_code_fingerprint(task) == spec_code_fingerprint(CALLED_LEMMA)
    assert cheating_reason(CALLED_LEMMA, task) is None
    # an answer may add a lemma of its own; it may not drop or weaken the task's lemma
    extra = CALLED_LEMMA.replace("fn tri_u64", "proof fn lemma_tri_zero() ensures tri(0) == 0 {}\nfn tri_u64")
    assert spec_code_fingerprint(extra) == spec_code_fingerprint(task) and cheating_reason(extra, task) is None
    weaker = CALLED_LEMMA.replace("requires i <= j,", "requires i <= j, j < 10,")
    assert cheating_reason(weaker, task) == "dropped_goal"
    # a change of a spec fn the lemma states something about is a change of the lemma
    assert cheating_reason(CALLED_LEMMA.replace("n + tri((n - 1) as nat)", "n + tri((n - 1) as nat) + 0"),
                           task) == "dropped_goal"
    dropped = CALLED_LEMMA.replace("requires i <= j,\n    ensures tri(i) <= tri(j),\n", "")
    assert cheating_reason(dropped, task) == "dropped_goal"


PROOF_TEST = """\
use vstd::prelude::*;
verus! {
spec fn sq(x: int) -> int { x * x }
proof fn test_sq(a: int)
    requires a > 1,
{
    let b = a + 1;
    assert(sq(a) == a * a);
    assert(sq(b) > sq(a)) by (nonlinear_arith)
        requires b > a > 1;
    assert(b > a);
}
}
"""


def test_asserts_that_are_a_proof_fns_only_goal_stay_in_the_task():
    # source/rust_verify_test/tests: proof fn tests with no ensures, asserts as their goal
    task = strip_proof(PROOF_TEST)
    assert "let b = a + 1;" in task and "assert(sq(a) == a * a);" in task and "assert(b > a);" in task
    assert "nonlinear_arith" not in task and "requires a > 1" in task
    assert goal_reason(task) is None
    assert cheating_reason(PROOF_TEST, task) is None
    assert cheating_reason(PROOF_TEST.replace("    assert(b > a);\n", ""), task) == "dropped_goal"


HAVOC_TEST = """\
use vstd::prelude::*;
verus! {
spec fn f(x: int) -> int;
fn test_havoc(x: u64) {
    assume(f(x as int) > 10);
    proof { assert(f(x as int) > 5); }
    assert(f(x as int) >= 11);
}
fn main() {}
}
"""


def test_the_assumptions_of_a_havoc_style_test_stay_in_the_task():
    # source/rust_verify_test/tests/*.rs and examples/syntax.rs: assume(P(x)); assert(Q(x))
    task = strip_proof(HAVOC_TEST)
    assert "assume(f(x as int) > 10);" in task and "assert(f(x as int) >= 11);" in task
    assert "proof {" not in task and goal_reason(task) is None
    # a test's assumption is a premise (like requires), not a cheat; an answer may keep it
    assert cheating_reason(HAVOC_TEST) is None and cheating_reason(HAVOC_TEST, task) is None
    # ... but may not add one of its own, and assume(false) is never a premise
    added = HAVOC_TEST.replace("    assert(f(x as int) >= 11);", "    assume(f(x as int) >= 11);\n"
                               "    assert(f(x as int) >= 11);")
    assert cheating_reason(added, task) == "assume"
    vacuous = HAVOC_TEST.replace("assume(f(x as int) > 10);", "assume(false);")
    assert cheating_reason(vacuous) == "assume" and "assume(false)" not in strip_proof(vacuous)
    # an assume after the last goal assert is no premise of it
    late = HAVOC_TEST.replace("    assert(f(x as int) >= 11);\n", "    assert(f(x as int) >= 11);\n"
                              "    assume(f(x as int) > 20);\n")
    assert cheating_reason(late) == "assume" and "> 20" not in strip_proof(late)


WRAPPED_GHOST = """use vstd::prelude::*;
verus! {
fn f(x: u64) -> (r: u64)
    ensures r == x,
{
    let g = Ghost(x);
    let t: Tracked<u64> = Tracked(x);
    let y = Ghost(x).view();
    proof { assert(g@ == x); };
    x
}
}
"""


def test_wrapped_ghost_lets_are_proof_for_the_fingerprint_and_a_proof_block_takes_its_semicolon():
    """`let g = Ghost(..)` is how Verus code often writes a ghost let: an answer adding one keeps the
    task's spec (no spec_changed); a let doing more than wrapping stays exec code; stripping
    `proof { .. };` leaves no stray `;`."""
    plain = (WRAPPED_GHOST.replace("    let g = Ghost(x);\n", "").replace("    let t: Tracked<u64> = Tracked(x);\n", "")
             .replace("    proof { assert(g@ == x); };\n", ""))
    assert spec_code_fingerprint(WRAPPED_GHOST) == spec_code_fingerprint(plain)
    assert spec_code_fingerprint(WRAPPED_GHOST) != spec_code_fingerprint(plain.replace("    let y = Ghost(x).view();\n", ""))
    task = strip_proof(WRAPPED_GHOST)
    assert "proof" not in task and not any(line.strip() == ";" for line in task.splitlines())
    assert "let g = Ghost(x);" in task  # ghost lets stay in the task: exec code may pass them on


def test_if_let_is_not_taken_for_a_wrapped_ghost_let():
    from transforms.verus.syntax import parse_verus

    program = WRAPPED_GHOST.replace("    x\n}", "    if let Some(v) = Some(x) { v } else { x }\n}")
    assert not isinstance(parse_verus(program), Rejected)
    assert "if let Some(v) = Some(x)" in strip_proof(program)

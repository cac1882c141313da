"""Feature and escape-hatch counts of Verus programs (exact counts and presence of every feature)."""
import pytest

from schemas.verus import ESCAPE_COLUMNS, ESCAPE_HATCHES, FEATURE_COLUMNS, VERUS_FEATURES
from transforms.records import Rejected
from transforms.verus.features import (
    ESCAPE_PATTERNS, FEATURE_PATTERNS, count_escape_hatches, escape_hatches_in_text, extract_features,
    feature_columns, program_summary,
)
from transforms.verus.syntax import parse_verus

# Every feature of the schema at least once; the counts below were checked by hand.
KITCHEN_SINK = """\
use vstd::prelude::*;

verus! {

pub enum Tree {
    Leaf,
    Node { left: Box<Tree>, value: u64, right: Box<Tree> },
}

impl Tree {
    pub open spec fn size(self) -> nat
        decreases self,
    {
        match self {
            Tree::Leaf => 0,
            Tree::Node { left, value, right } => 1 + left.size() + right.size(),
        }
    }

    pub closed spec fn is_node(&self) -> bool {
        self is Node && self->value >= 0 && (*self matches Tree::Node { .. })
    }
}

pub struct Counter {
    count: u64,
    limit: u64,
    history: Ghost<Seq<u64>>,
}

impl Counter {
    #[verifier::type_invariant]
    spec fn inv(&self) -> bool {
        self.count <= self.limit
    }

    pub closed spec fn view(&self) -> nat {
        self.count as nat
    }

    fn incr(&mut self)
        requires
            old(self)@ < old(self).limit,
        ensures
            self@ == old(self)@ + 1,
            self.limit == old(self).limit,
    {
        proof { use_type_invariant(&*self); }
        self.count = self.count + 1;
        let ghost h = self.history@;
        self.history = Ghost(h.push(self.count));
    }
}

spec fn sum_to(n: nat) -> nat
    decreases n,
{
    if n == 0 { 0 } else { n + sum_to((n - 1) as nat) }
}

proof fn lemma_sum_to_monotonic(i: nat, j: nat)
    requires
        i <= j,
    ensures
        sum_to(i) <= sum_to(j),
    decreases j,
{
    if i < j {
        lemma_sum_to_monotonic(i, (j - 1) as nat);
    }
}

spec fn half(x: int) -> int
    recommends
        x % 2 == 0,
{
    x / 2
}

#[verifier::opaque]
spec fn double(x: int) -> int {
    2 * x
}

spec fn apply(f: spec_fn(int) -> int, x: int) -> int {
    f(x)
}

proof fn lemma_double_even(x: int)
    ensures
        double(x) % 2 == 0,
{
    reveal(double);
}

proof fn lemma_and_self(x: u64) by (bit_vector)
    ensures
        x & x == x,
{
}

proof fn lemma_ring(a: int, b: int) by (integer_ring)
    ensures
        (a + b) * (a + b) == a * a + 2 * a * b + b * b,
{
}

pub broadcast proof fn lemma_push_len(s: Seq<u64>, v: u64)
    ensures
        #[trigger] s.push(v).len() == s.len() + 1,
{
}

pub broadcast group group_counter {
    lemma_push_len,
}

broadcast use vstd::seq::group_seq_axioms;

#[verifier::external_body]
fn fast_hash(x: u64) -> (r: u64)
    ensures
        r == x,
{
    x
}

pub assume_specification[ core::cmp::max::<u64> ](a: u64, b: u64) -> (r: u64)
    ensures
        r == if a > b { a } else { b };

fn find_zero(v: &Vec<u64>) -> (idx: Option<usize>)
    ensures
        idx.is_some() ==> v@[idx.unwrap() as int] == 0,
{
    let mut i: usize = 0;
    loop
        invariant_except_break
            i <= v.len(),
        ensures
            i <= v.len(),
        decreases v.len() - i,
    {
        if i >= v.len() {
            return None;
        }
        if v[i] == 0 {
            return Some(i);
        }
        i = i + 1;
    }
}

fn squares(n: u64) -> (out: Vec<u64>)
    requires
        n < 1000,
    ensures
        out@.len() == n,
        forall|k: int| #![trigger out@[k]] 0 <= k < n ==> out@[k] == k * k,
{
    let mut out: Vec<u64> = Vec::new();
    for i in 0..n
        invariant
            n < 1000,
            out@.len() == i,
            forall|k: int| 0 <= k < i ==> #[trigger] out@[k] == k * k,
    {
        assert(i * i < 1_000_000) by (nonlinear_arith)
            requires i < 1000;
        out.push(i * i);
    }
    let add_one = |x: u64| -> (r: u64)
        requires x < 100
        ensures r == x + 1
    {
        x + 1
    };
    let _ = add_one(1);
    out
}

proof fn seq_facts(s: Seq<int>, m: Map<int, int>, st: Set<int>)
    requires
        s.len() > 0,
        exists|i: int| 0 <= i < s.len() && s[i] == 0,
{
    let t = s.subrange(0, s.len() as int);
    assert(t =~= s);
    let m2 = m.insert(1, 2);
    assert(m2.dom().contains(1));
    let w = choose|i: int| st.contains(i) || i == 0;
    assert forall|i: int| 0 <= i < s.len() implies s[i] == t[i] by {
        assert(t[i] == s[i]);
    }
    let f = |x: int| x + 1;
    assert(apply(f, 1) == 2);
    let ms = Multiset::<int>::empty();
    calc! {
        (==)
        s.len(); {}
        t.len();
    }
    assert(1u64 & 1u64 == 1u64) by (bit_vector);
    assert(2 + 2 == 4) by (compute);
    vstd::arithmetic::mul::lemma_mul_is_commutative(2, 3);
    lemma_mul_basics(4);
    reveal_with_fuel(apply, 2);
    let tracked x = 5int;
    assume(s.len() < 100);
    admit();
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


def _parse(source):
    program = parse_verus(source)
    assert not isinstance(program, Rejected), program
    return program


def test_documentation_covers_exactly_the_schema_names():
    assert tuple(FEATURE_PATTERNS) == VERUS_FEATURES
    assert tuple(ESCAPE_PATTERNS) == ESCAPE_HATCHES


def test_kitchen_sink_exact_counts():
    features = extract_features(_parse(KITCHEN_SINK))
    assert tuple(features) == VERUS_FEATURES
    assert features == {
        "requires": 5, "ensures": 11, "recommends": 1, "loop_invariant": 3, "invariant_except_break": 1,
        "loop_ensures": 1, "decreases": 4, "spec_fn": 8, "proof_fn": 6, "proof_block": 1, "assert": 4,
        "assert_by": 3, "assert_forall": 1, "forall": 3, "exists": 1, "choose": 1, "trigger": 3, "ghost": 3,
        "tracked": 1, "seq": 3, "set": 1, "map": 1, "multiset": 1, "view": 10, "ext_equal": 1,
        "nonlinear_arith": 1, "bit_vector": 2, "integer_ring": 1, "compute": 1, "broadcast": 3, "opaque": 1,
        "reveal": 2, "fuel": 1, "recursive_lemma": 1, "calc": 1, "int_nat_cast": 5, "old": 2,
        "is_matches": 3, "type_invariant": 1, "closure": 1, "spec_fn_closure": 2, "vstd_lemma": 3,
    }


@pytest.mark.parametrize("feature", VERUS_FEATURES)
def test_every_feature_is_detected(feature):
    assert extract_features(_parse(KITCHEN_SINK))[feature] > 0


def test_escape_hatches_are_counted_apart():
    program = _parse(KITCHEN_SINK)
    assert count_escape_hatches(program) == {"assume": 1, "admit": 1, "external_body": 1, "assume_specification": 1,
                                             "assume_termination": 0}
    assert escape_hatches_in_text(KITCHEN_SINK) == count_escape_hatches(program)
    columns = feature_columns(program)
    assert tuple(columns) == FEATURE_COLUMNS + ESCAPE_COLUMNS
    assert columns["feat_assert_by"] == 3 and columns["escape_admit"] == 1


def test_sum_program_counts_and_summary():
    program = _parse(SUM)
    features = extract_features(program)
    present = {k: v for k, v in features.items() if v}
    assert present == {
        "requires": 2, "ensures": 3, "loop_invariant": 3, "decreases": 4, "spec_fn": 1, "proof_fn": 2,
        "proof_block": 1, "assert_by": 1, "nonlinear_arith": 1, "recursive_lemma": 2, "int_nat_cast": 9,
    }
    assert count_escape_hatches(program) == dict.fromkeys(ESCAPE_HATCHES, 0)
    # spec: sum_to (5 lines), the theorem's statement (3), the helper lemma's requires / ensures (4,
    # a statement the task keeps), compute_sum's requires / ensures (4); proof: the theorem's
    # decreases and body (7), the helper lemma's name line and body (7), loop clauses (5), proof block (3)
    assert program_summary(program) == {
        "has_spec": True, "has_proof": True, "n_exec_lines": 14, "n_spec_lines": 16, "n_proof_lines": 22}


def test_plain_rust_has_no_features_and_no_proof():
    program = _parse("verus! {\nfn add(a: u64, b: u64) -> u64 {\n    a.wrapping_add(b)\n}\n}\n")
    assert not any(extract_features(program).values())
    summary = program_summary(program)
    assert not summary["has_spec"] and not summary["has_proof"]
    assert (summary["n_exec_lines"], summary["n_spec_lines"], summary["n_proof_lines"]) == (5, 0, 0)


def test_pattern_edge_cases():
    source = """\
verus! {
use vstd::seq::Seq;
spec fn lemma_local(x: int) -> int { x }
spec fn compose(f: spec_fn(int) -> int, g: spec_fn(int) -> int) -> spec_fn(int) -> int {
    |x: int| f(g(x))
}
fn run(v: Vec<u64>) -> (r: Option<u64>)
    ensures
        r is Some ==> r->0 == v@[0],
        forall|s: Seq<int>, t: Seq<int>| s.len() == t.len() ==> s.len() >= 0,
{
    let c = |a: u64, b: u64| a | b;
    let n = v.len() as u64 | 1;
    proof {
        let y = lemma_local(1);
        vstd::arithmetic::div_mod::lemma_fundamental_div_mod(7, 2);
    }
    assert!(n > 0);
    None
}
}
"""
    features = extract_features(_parse(source))
    # 'use vstd::seq::Seq' is not a use of Seq; the two quantified Seq<int> are
    assert features["seq"] == 2
    # one exec closure; '|' as bit-or and the quantifier's parameter bars are not closures
    assert features["closure"] == 1
    # two spec_fn parameter types, the spec_fn return type, one spec closure
    assert features["spec_fn_closure"] == 4
    # 'is Some' and 'r->0'; the signature arrows and 'spec_fn(int) -> int' are not field access
    assert features["is_matches"] == 2
    # a local lemma_ name is not vstd's; Rust's assert! is not a Verus assert
    assert features["vstd_lemma"] == 1 and features["assert"] == 0
    assert features["forall"] == 1 and features["ensures"] == 2

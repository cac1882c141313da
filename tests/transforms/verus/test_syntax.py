"""The Verus-aware parser: lexing, items, clauses, loops, proof statements, rejects."""
import pytest

from tests.transforms.verus.programs import BINARY_SEARCH
from transforms.records import Rejected
from transforms.verus.syntax import (
    VerusSyntaxError, match_delimiters, parse_verus, proof_fn_roles, proof_spans, token_roles, tokenize,
)


MODES = """\
verus! {

pub open spec fn double(x: int) -> int { 2 * x }

pub closed spec(checked) fn half(x: int) -> int
    recommends
        x % 2 == 0,
{
    x / 2
}

uninterp spec fn mystery(x: int) -> int;

#[verifier(external_body)]
pub proof fn axiom_mystery(x: int)
    ensures
        mystery(x) >= 0,
{
}

pub broadcast proof fn lemma_double(x: int)
    ensures
        #[trigger] double(x) == x + x,
{
}

proof fn lemma_mul_pos(x: int, y: int) by (nonlinear_arith)
    requires
        x > 0,
        y > 0,
    ensures
        x * y > 0,
{
}

#[verifier::external_body]
exec fn read_input() -> (r: u64)
    ensures
        r < 100,
{
    42
}

fn same(v: Vec<u64>) -> (r: Vec<u64>)
    ensures
        r@ == v@
{
    v
}

fn pick(a: u64, b: bool) -> (r: u64)
    ensures
        r == if b { a } else { 0 },
        match b { true => r == a, false => r == 0 },
{
    if b { a } else { 0 }
}

} // verus!
"""

STATEMENTS = """\
verus! {

spec fn f(n: nat) -> nat decreases n { if n == 0 { 0 } else { f((n - 1) as nat) } }

proof fn helper(n: nat) ensures f(n) == 0 decreases n {
    if n > 0 { helper((n - 1) as nat); }
}

fn g(v: Vec<u64>, x: u64) -> (r: u64)
    requires x < 10,
    ensures r == x,
{
    proof { helper(3); }
    assert(x < 10);
    assert(x * x < 100) by (nonlinear_arith) requires x < 10;
    assert(x & 1 <= 1) by (bit_vector);
    assert(f(0) == 0) by {
        reveal_with_fuel(f, 2);
    };
    assert forall|i: int| 0 <= i < v.len() implies v[i] == v@[i] by {
        assert(v[i] == v@[i]);
    }
    let ghost g = v@;
    let tracked t = 5int;
    assume(x >= 0);
    reveal(f);
    let mut i: usize = 0;
    loop invariant_except_break i <= 10, ensures i == 10, decreases 10 - i, {
        if i == 10 { break; }
        i = i + 1;
    }
    for j in 0..3 invariant i == 10 {
        i = i;
    }
    x
}

proof fn calculation(a: int)
    requires a <= 2,
{
    calc! {
        (<=)
        a; {}
        a + 3; {}
        5;
    }
    assert_seqs_equal!(seq![a], seq![a]);
    admit();
}

} // verus!
"""


def _program(source):
    program = parse_verus(source)
    assert not isinstance(program, Rejected), program
    return program


def _fn(program, name):
    return next(f for f in program.functions if f.name == name)


def test_tokenize_verus_operators_and_rust_literals():
    source = ("a ==> b <== c <==> d === e !== f =~= g =~~= h &&& i ||| j x@ 'x' '\\'' 'a: b '\\n'"
              ' r#"} {"# b"x" /* a /* nested */ b */ // tail')
    tokens, comments = tokenize(source)
    texts = [t.text for t in tokens]
    for op in ("==>", "<==", "<==>", "===", "!==", "=~=", "=~~=", "&&&", "|||", "@"):
        assert op in texts
    assert [t.kind for t in tokens if t.text.startswith("'")] == ["char", "char", "lifetime", "char"]
    assert 'r#"} {"#' in texts and 'b"x"' in texts
    assert [c.text for c in comments] == ["/* a /* nested */ b */", "// tail"]


@pytest.mark.parametrize("source, message", [
    ('let s = "abc;', "unterminated string"),
    ("/* a /* b */", "unterminated block comment"),
    ('let s = r#"abc"; ', "unterminated raw string"),
    ("let c = `x`;", "unexpected character"),
])
def test_tokenize_errors(source, message):
    with pytest.raises(VerusSyntaxError, match=message):
        tokenize(source)


def test_match_delimiters_pairs_and_errors():
    tokens, _ = tokenize("f(a[1], {b})")
    matching = match_delimiters(tokens)
    assert matching[1] == len(tokens) - 1 and matching[len(tokens) - 1] == 1
    with pytest.raises(VerusSyntaxError, match="closed by"):
        match_delimiters(tokenize("f(a]")[0])


def test_binary_search_structure():
    program = _program(BINARY_SEARCH)
    assert program.wrapped and len(program.bodies) == 1
    assert [(f.name, f.mode) for f in program.functions] == [("binary_search", "exec"), ("main", "exec")]
    fn = _fn(program, "binary_search")
    assert fn.ret_name == "r"
    assert [(c.kind, len(c.exprs)) for c in fn.clauses] == [("requires", 2), ("ensures", 2)]
    # the quantifier's 'i: int, j: int' does not split the expression
    assert program.text(*fn.clauses[0].exprs[0]).startswith("forall|i: int, j: int|")
    (loop,) = fn.loops
    assert loop.kind == "while"
    assert [(c.kind, len(c.exprs)) for c in loop.clauses] == [("invariant", 3), ("decreases", 1)]
    assert program.tokens[loop.body[0]].text == "{" and program.tokens[loop.body[1]].line == 28


def test_modes_qualifiers_attributes_and_solvers():
    program = _program(MODES)
    by_name = {f.name: f for f in program.functions}
    assert {n: f.mode for n, f in by_name.items()} == {
        "double": "spec", "half": "spec", "mystery": "spec", "axiom_mystery": "proof",
        "lemma_double": "proof", "lemma_mul_pos": "proof", "read_input": "exec", "same": "exec", "pick": "exec"}
    assert by_name["double"].qualifiers == ("pub", "open")
    assert by_name["half"].qualifiers == ("pub", "closed")
    assert [c.kind for c in by_name["half"].clauses] == ["recommends"]
    assert by_name["mystery"].body is None and "uninterp" in by_name["mystery"].qualifiers
    assert by_name["axiom_mystery"].has_attribute("verifier::external_body")  # verifier(...) form normalized
    assert by_name["read_input"].has_attribute("verifier::external_body")
    assert "broadcast" in by_name["lemma_double"].qualifiers
    assert by_name["lemma_mul_pos"].solver == "nonlinear_arith"
    assert [(c.kind, len(c.exprs)) for c in by_name["lemma_mul_pos"].clauses] == [("requires", 2), ("ensures", 1)]
    # a '{' after a postfix '@' is the body; if / match blocks inside ensures are expressions
    assert program.text(by_name["same"].body[0] + 1, by_name["same"].body[1]) == "v"
    pick = by_name["pick"]
    assert [(c.kind, len(c.exprs)) for c in pick.clauses] == [("ensures", 2)]
    assert program.text(pick.body[0], pick.body[1] + 1) == "{\n    if b { a } else { 0 }\n}"


def test_statements_and_loops():
    program = _program(STATEMENTS)
    g = _fn(program, "g")
    kinds = [(s.kind, s.solver) for s in g.statements]
    assert kinds == [
        ("proof_block", None), ("assert", None), ("assert_by", "nonlinear_arith"), ("assert_by", "bit_vector"),
        ("assert_by", None), ("reveal_with_fuel", None), ("assert_forall", None), ("assert", None),
        ("ghost_let", None), ("tracked_let", None), ("assume", None), ("reveal", None),
    ]
    assert program.text(g.statements[2].start, g.statements[2].end) == \
        "assert(x * x < 100) by (nonlinear_arith) requires x < 10;"
    assert program.text(g.statements[4].start, g.statements[4].end).endswith("};")
    loop_, for_ = g.loops
    assert loop_.kind == "loop" and [(c.kind, len(c.exprs)) for c in loop_.clauses] == [
        ("invariant_except_break", 1), ("ensures", 1), ("decreases", 1)]
    assert for_.kind == "for" and [c.kind for c in for_.clauses] == ["invariant"]
    calc = _fn(program, "calculation")
    assert [s.kind for s in calc.statements] == ["calc", "assert_by", "admit"]
    assert "helper" in g.calls and "helper" in _fn(program, "helper").calls


def test_datatypes_impls_and_other_items():
    source = """\
verus! {
pub struct Counter { count: u64 }
pub enum Shape { Circle(u64), Square { side: u64 } }
struct Unit;
impl Counter {
    #[verifier::type_invariant]
    spec fn inv(&self) -> bool { self.count < 100 }
    fn get(&self) -> u64 { self.count }
}
impl View for Counter {
    type V = nat;
    open spec fn view(&self) -> nat { self.count as nat }
}
pub trait Measured {
    spec fn measure(&self) -> nat;
    proof fn lemma_measure(&self) ensures self.measure() >= 0;
}
mod inner {
    pub const LIMIT: u64 = 100;
}
pub assume_specification[ core::cmp::min::<u64> ](a: u64, b: u64) -> (r: u64)
    ensures r <= a && r <= b;
broadcast use vstd::seq::group_seq_axioms;
pub broadcast group group_counter { lemma_a, lemma_b }
global size_of usize == 8;
}
"""
    program = _program(source)
    kinds = [(it.kind, it.name) for it in program.items]
    for expected in [("struct", "Counter"), ("enum", "Shape"), ("struct", "Unit"), ("impl", "Counter"),
                     ("impl", "Counter"), ("trait", "Measured"), ("mod", "inner"), ("const", "LIMIT"),
                     ("assume_specification", "min"), ("broadcast_use", ""),
                     ("broadcast_group", "group_counter"), ("global", "size_of"), ("type", "V")]:
        assert expected in kinds
    fns = {f.name: f for f in program.functions}
    assert fns["inv"].has_attribute("verifier::type_invariant") and fns["inv"].container == "impl"
    assert (fns["view"].container, fns["view"].owner) == ("trait_impl", "Counter")
    assert (fns["lemma_measure"].container, fns["lemma_measure"].body) == ("trait", None)
    spec_item = next(it for it in program.items if it.kind == "assume_specification")
    assert [c.kind for c in spec_item.clauses] == ["ensures"]


@pytest.mark.parametrize("source, detail", [
    ("verus! { fn f() { }", "unclosed '{'"),
    ("verus! { fn f() { ) }", "closed by"),
    ('verus! { fn f() { let s = "abc; } }', "unterminated string"),
    ("verus! { fn f() {} /* open", "unterminated block comment"),
    ("fn main() { let x = ; }\nverus! { fn f() {} }", "outside verus!"),
    ("verus! { struct A { x: u64 } }", "no functions"),
    ("verus! { foo bar; fn f() {} }", "unexpected 'foo'"),
    ("verus! { fn f() requires true }", "without a body"),
    ("verus! { fn f() { while x invariant true } }", "without a body"),
    ("   \n", "empty"),
])
def test_rejects_are_parse_errors(source, detail):
    result = parse_verus(source)
    assert isinstance(result, Rejected) and result.reason == "parse_error"
    assert detail in result.detail


def test_tree_sitter_errors_inside_the_body_are_ignored():
    # tree-sitter-rust flags '~' of '=~=' inside the macro's token tree; that is not an error here
    program = _program("use vstd::prelude::*;\nverus! {\nproof fn p(a: Seq<int>) ensures a =~= a {}\n}\nfn main() {}\n")
    assert [f.name for f in program.functions] == ["p"]


def test_file_without_the_macro_is_parsed_as_verus():
    program = _program("spec fn f(x: int) -> int { x + 1 }\nproof fn l() ensures f(1) == 2 {}\n")
    assert not program.wrapped
    assert [(f.name, f.mode) for f in program.functions] == [("f", "spec"), ("l", "proof")]


def test_proof_fn_roles_and_token_roles():
    source = """\
verus! {
spec fn f(n: nat) -> nat { n }
proof fn helper(n: nat) ensures f(n) == n {}
proof fn theorem(n: nat) ensures f(n) + 0 == n { helper(n); }
proof fn no_statement() { assert(f(1) == 1); }
#[verifier::external_body]
proof fn axiom_f(n: nat) ensures f(n) >= 0 {}
trait T { proof fn law(&self) ensures true { } }
fn exec_code(x: u64) -> u64 requires x < 5 { proof { theorem(1); } x + 1 }
}
"""
    program = _program(source)
    roles = {f.name: proof_fn_roles(program).get(f.start) for f in program.functions}
    assert roles == {"f": None, "helper": "helper", "theorem": "helper", "no_statement": "helper",
                     "axiom_f": "trusted", "law": "interface", "exec_code": None}
    # without the call from exec code, 'theorem' is a statement the program proves
    program = _program(source.replace("proof { theorem(1); } ", ""))
    assert proof_fn_roles(program)[_fn(program, "theorem").start] == "theorem"
    token_role = dict(zip((t.text for t in program.tokens), token_roles(program)))
    assert token_role["requires"] == "spec" and token_role["helper"] == "proof"
    assert token_role["exec_code"] == "exec"
    spans = proof_spans(program)
    assert all(a < b for a, b in spans) and all(spans[k][1] < spans[k + 1][0] for k in range(len(spans) - 1))

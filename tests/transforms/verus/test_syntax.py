"""The Verus-aware parser: lexing, items, clauses, loops, proof statements, rejects."""
import pytest

from tests.transforms.verus.programs import BINARY_SEARCH
from transforms.records import Rejected
from transforms.verus.features import extract_features
from transforms.verus.syntax import (
    VerusSyntaxError, match_delimiters, parse_verus, in_spans, proof_fn_roles, proof_spans, spec_spans, token_roles,
    tokenize,
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
    ("verus! { foo bar; fn f() {} }", "unexpected 'foo'"),
    ("verus! { fn f() requires true }", "without a body"),
    ("verus! { fn f() { while x invariant true } }", "without a body"),
    ("   \n", "empty"),
])
def test_rejects_are_parse_errors(source, detail):
    result = parse_verus(source)
    assert isinstance(result, Rejected) and result.reason == "parse_error"
    assert detail in result.detail


@pytest.mark.parametrize("source", [
    "verus! { struct A { x: u64 } }",  # only datatypes (vstd's resource/mod.rs)
    "verus! {\n/*\nfn commented_out() {}\n*/\n}\n",  # only a comment (the guide's opaque.rs)
    # code only in a macro_rules! template: $ metavariables are the macro's (vstd's wrapping.rs)
    "macro_rules! gen { ($t:ty) => { verus! { pub open spec fn id(x: $t) -> $t { x } } } }\ngen!(u8);\n",
])
def test_valid_verus_without_a_function_is_no_function_not_a_parse_error(source):
    result = parse_verus(source)
    assert isinstance(result, Rejected) and result.reason == "no_function"


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
    # an uncalled proof fn whose asserts are its only goal is a test
    assert roles == {"f": None, "helper": "helper", "theorem": "helper", "no_statement": "test",
                     "axiom_f": "trusted", "law": "interface", "exec_code": None}
    called = _program(source.replace("proof { theorem(1); }", "proof { theorem(1); no_statement(); }"))
    assert proof_fn_roles(called)[_fn(called, "no_statement").start] == "helper"
    # without the call from exec code, 'theorem' is a statement the program proves
    program = _program(source.replace("proof { theorem(1); } ", ""))
    assert proof_fn_roles(program)[_fn(program, "theorem").start] == "theorem"
    token_role = dict(zip((t.text for t in program.tokens), token_roles(program)))
    assert token_role["requires"] == "spec" and token_role["helper"] == "proof"
    assert token_role["exec_code"] == "exec"
    spans = proof_spans(program)
    assert all(a < b for a, b in spans) and all(spans[k][1] < spans[k + 1][0] for k in range(len(spans) - 1))


# Modern Verus (verus-lang/verus examples/ and source/vstd/): each snippet is written for the test
# after a construct found there; the file it was seen in is named.


def test_spec_open_and_exec_consts_and_exec_static_with_ensures():
    # examples/assert_by_compute.rs, examples/helping.rs, examples/statics.rs
    program = _program("""verus! {
spec const Q: nat = 12289;
pub open spec const FLAG: int = 2;
exec const LIMIT: u64 ensures LIMIT == 4 { 4 }
exec static COUNTER: AtomicU64 = AtomicU64::new(0);
exec static LAZY: Lazy<X>
    ensures
        LAZY.wf(),
{
    Lazy::<X>::new()
}
fn f() -> u64 { LIMIT }
}
""")
    items = [(it.kind, it.name, [c.kind for c in it.clauses]) for it in program.items if it.kind != "fn"]
    assert items == [("const", "Q", []), ("const", "FLAG", []), ("const", "LIMIT", ["ensures"]),
                     ("static", "COUNTER", []), ("static", "LAZY", ["ensures"])]
    assert [f.name for f in program.functions] == ["f"]


def test_axiom_fns_are_bodiless_trusted_proof_fns():
    # vstd/seq.rs: pub broadcast axiom fn ...; examples/float.rs
    program = _program("""verus! {
pub uninterp spec fn g(x: int) -> int;
pub broadcast axiom fn axiom_g(x: int)
    ensures
        #[trigger] g(x) > 0;
axiom fn axiom_g2<T>(x: T) ensures true;
proof fn uses(x: int) ensures g(x) > 0 { axiom_g(x); }
}
""")
    fns = {f.name: f for f in program.functions}
    for name in ("axiom_g", "axiom_g2"):
        assert (fns[name].mode, fns[name].body) == ("proof", None) and "axiom" in fns[name].qualifiers
        assert proof_fn_roles(program)[fns[name].start] == "trusted"
    assert "broadcast" in fns["axiom_g"].qualifiers
    assert [c.kind for c in fns["axiom_g"].clauses] == ["ensures"]


def test_a_block_after_a_trigger_attribute_or_a_block_clause_is_an_expression():
    # vstd/bytes.rs: forall|s| #![trigger f(s)] { &&& .. }; vstd/std_specs/iter.rs: ensures { let r = ..; .. },
    program = _program("""verus! {
spec fn f(x: int) -> int { x }
proof fn l()
    ensures
        forall|x: int| #![auto] { &&& f(x) == x &&& x == f(x) },
        forall|x: int| #![trigger f(x)] { f(x) == x },
{
}
axiom fn a(i: int)
    ensures
        {
            let r = f(i);
            r == i
        },
;
}
""")
    lemma, a = _fn(program, "l"), _fn(program, "a")
    assert [(c.kind, len(c.exprs)) for c in lemma.clauses] == [("ensures", 2)]
    assert program.text(lemma.body[0], lemma.body[1] + 1) == "{\n}"
    assert [(c.kind, len(c.exprs)) for c in a.clauses] == [("ensures", 1)] and a.body is None


def test_matches_with_a_struct_pattern():
    # examples/syntax.rs, vstd/resource/impls/frac_opt.rs
    program = _program("""verus! {
enum E { A { v: u64 }, B }
proof fn p(t: E)
    requires
        t matches E::A { v: a } && a == 3,
        t matches E::A { .. },
{
}
}
""")
    assert [(c.kind, len(c.exprs)) for c in _fn(program, "p").clauses] == [("requires", 2)]


def test_atomically_clause_and_atomically_loop_call():
    # examples/atomic_increment.rs, examples/guide/logatom.rs
    program = _program("""verus! {
pub fn increment(var: &PAtomicU64) -> (out: u64)
    atomically (au) {
        (perm: PermissionU64) -> (res: Result<PermissionU64, PermissionU64>),
        requires
            perm@.patomic == var.id(),
        ensures match res { Ok(p) => p@.value == perm@.value + 1, Err(p) => p@ == perm@ },
        outer_mask any,
        inner_mask none,
    },
    ensures
        out == perm@.value,
{
    0
}
fn caller(var: &PAtomicU64) {
    increment(var) atomically loop |update| {
        let tracked res = update(perm);
        break;
    };
    loop invariant true { break; }
}
}
""")
    inc = _fn(program, "increment")
    assert [c.kind for c in inc.clauses] == ["atomically", "ensures"]
    assert program.text(inc.body[0], inc.body[1] + 1) == "{\n    0\n}"
    assert [loop.kind for loop in _fn(program, "caller").loops] == ["loop"]  # the real loop only
    # the atomic update's spec is the function's spec
    assert token_roles(program)[inc.clauses[0].start] == "spec"
    assert in_spans(spec_spans(program), program.tokens[inc.clauses[0].start + 5].start)


def test_assume_specification_of_a_const():
    program = _program("verus! {\nassume_specification[EXTERNAL_C] -> u8\n    returns\n        7u8,\n;\nfn f() {}\n}\n")
    item = next(it for it in program.items if it.kind == "assume_specification")
    assert (item.name, [c.kind for c in item.clauses]) == ("EXTERNAL_C", ["returns"])


def test_attributes_on_expressions_outside_verus_and_on_statements():
    # examples/syntax_attr.rs: rustc parses (#[attr] expr); tree-sitter-rust does not
    program = _program("""use vstd::prelude::*;
verus! { fn g(x: u32) {} }
fn f() {
    (#[verus_spec(with Tracked(&mut y))]
    g(0u32));
}
""")
    assert [f.name for f in program.functions] == ["g"]
    assert isinstance(parse_verus("verus! { fn g() {} }\nfn f() { (g(0u32) }\n"), Rejected)


def test_the_verus_macro_under_an_alias():
    # vstd: use verus as verus_; verus_! { .. }
    program = _program("use verus as verus_;\nverus_! {\npub open spec fn f() -> int { 1 }\n}\n")
    assert program.wrapped and [f.name for f in program.functions] == ["f"]


def test_verus_in_a_macro_rules_template_is_left_to_the_macro():
    # vstd/bits.rs: macro_rules! { .. verus! { pub broadcast proof fn $name(x: $uN) .. } }
    program = _program("""macro_rules! lemma_gen {
    ($name:ident, $uN:ty) => { verus! { pub broadcast proof fn $name(x: $uN) ensures x == x {} } };
}
lemma_gen!(lemma_u8, u8);
verus! { proof fn kept() {} }
""")
    assert [f.name for f in program.functions] == ["kept"]


STATE_MACHINE = """use vstd::prelude::*;
tokenized_state_machine!{
    #[verifier::reject_recursive_types(T)]
    Counter<T> {
        fields {
            #[sharding(variable)]
            pub counter: nat,
        }
        init!{
            initialize() {
                init counter = 0;
            }
        }
        transition!{
            tr_inc() {
                require pre.counter < 10;
                update counter = pre.counter + 1;
            }
        }
        #[invariant]
        pub fn main_inv(&self) -> bool {
            &&& self.counter <= 10
        }
        #[inductive(tr_inc)]
        fn tr_inc_preserves(pre: Self, post: Self) {
            assert(post.counter == pre.counter + 1);
        }
    }
}
verus! {
state_machine!{ Small { fields { pub x: int } #[invariant] pub open spec fn inv(&self) -> bool { self.x >= 0 } } }
fn main() {}
}
"""


def test_state_machine_macros_are_items_whose_fns_count():
    # examples/state_machines/*.rs
    program = _program(STATE_MACHINE)
    machines = [(it.kind, it.name) for it in program.items if it.kind in ("state_machine", "macro", "fields")]
    assert machines == [("state_machine", "Counter"), ("fields", ""), ("macro", "init"), ("macro", "transition"),
                        ("state_machine", "Small"), ("fields", "")]
    fns = {f.name: f for f in program.functions}
    assert {n: (f.mode, f.container, f.owner) for n, f in fns.items() if n != "main"} == {
        "main_inv": ("spec", "state_machine", "Counter"), "tr_inc_preserves": ("proof", "state_machine", "Counter"),
        "inv": ("spec", "state_machine", "Small")}
    # the inductive lemma is part of the machine: its signature stays, its body is proof
    assert proof_fn_roles(program)[fns["tr_inc_preserves"].start] == "interface"
    assert [s.kind for s in fns["tr_inc_preserves"].statements] == ["assert"]
    features = extract_features(program)
    assert (features["spec_fn"], features["proof_fn"], features["assert"]) == (2, 1, 1)
    # one not of the Name { items } form stays an opaque item
    program = _program("verus! {\nstate_machine!(weird tokens => here);\nfn f() {}\n}\n")
    assert [(it.kind, it.name) for it in program.items if it.kind != "fn"] == [("macro", "state_machine")]


def test_verus_items_inside_an_item_macro_are_parsed():
    # examples/guide/exec_spec_unverified.rs, examples/*: struct_with_invariants! { .. }
    program = _program("verus! {\nexec_spec_unverified! {\nstruct P { x: i64 }\n"
                       "spec fn on(p: P) -> bool { p.x > 0 }\n}\n}\n")
    assert [(f.name, f.mode) for f in program.functions] == [("on", "spec")]

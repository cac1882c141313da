use vstd::prelude::*;

verus! {

spec fn sum_to(n: nat) -> nat
    decreases n,
{
    if n == 0 { 0 } else { n + sum_to((n - 1) as nat) }
}

// Gauss's formula, proved by induction on n.
proof fn lemma_sum_to_closed_form(n: nat)
    ensures
        2 * sum_to(n) == n * (n + 1),
    decreases n,
{
    if n > 0 {
        lemma_sum_to_closed_form((n - 1) as nat);
        assert(2 * sum_to(n) == 2 * n + (n - 1) * n) by (nonlinear_arith)
            requires 2 * sum_to((n - 1) as nat) == (n - 1) * n, sum_to(n) == n + sum_to((n - 1) as nat);
    }
}

fn main() {
}

} // verus!

use vstd::prelude::*;

verus! {

spec fn is_max(s: Seq<i32>, m: i32) -> bool {
    (exists|i: int| 0 <= i < s.len() && s[i] == m) && (forall|i: int| 0 <= i < s.len() ==> s[i] <= m)
}

fn find_max(v: &Vec<i32>) -> (m: i32)
    requires
        v.len() > 0,
    ensures
        is_max(v@, m),
{
    let mut m = v[0];
    let mut i: usize = 1;
    while i < v.len()
        invariant
            0 < i <= v.len(),
            exists|j: int| 0 <= j < i && v@[j] == m,
            forall|j: int| 0 <= j < i ==> v@[j] <= m,
        decreases v.len() - i,
    {
        if v[i] > m {
            m = v[i];
        }
        i += 1;
    }
    assert(v@.subrange(0, v.len() as int) =~= v@);
    m
}

fn main() {
}

} // verus!

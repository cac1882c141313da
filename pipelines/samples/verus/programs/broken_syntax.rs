use vstd::prelude::*;

verus! {

fn increment(x: u32) -> (r: u32)
    requires
        x < 100,
    ensures
        r == x + 1,
{
    x + 1
// the closing brace of the function is missing

} // verus!

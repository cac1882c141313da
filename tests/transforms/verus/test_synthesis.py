"""Synthesis loops against the local OpenAI-compatible test server (FakeOpenAIServer) and the fake
verus (transforms/testing/fake_verus.py): episodes, repairs, cheating, spec changes, the stop rule,
tutorial variants and cache replay."""
import shlex
import sys
from pathlib import Path

import pytest

from schemas.verus import FEATURE_TERMS, REPAIR_PAIR_SCHEMA, TRAJECTORY_SCHEMA, VERUS_PROGRAM_SCHEMA
from transforms.dedup.minhash import MinHashConfig
from transforms.llm.client import LlmClient, LlmConfig
from transforms.testing.openai_server import FakeOpenAIServer
from transforms.verus.synthesis import (
    ERRORS_HEADER, NearDupIndex, OutputFilter, episode, extract_rust_code, novelty_key, proof_completion, public,
    repair_synthesis, self_synthesis, tutorial_synthesis, verifier_fn,
)
from transforms.verus.tasks import strip_proof
from transforms.verus.verifier import VerusConfig
from transforms.testing import FAKE_VERUS

ROOT = Path(__file__).resolve().parents[3]


def sum_program(marker: str, ensures: str = "r == n", proof: str = "invariant i <= n,", name: str = "sum_to") -> str:
    return f"""use vstd::prelude::*;
verus! {{
fn {name}(n: u64) -> (r: u64)
    requires n < 1000,
    ensures {ensures},
{{
    let mut i: u64 = 0;
    while i < n
        {proof}
        decreases n - i,
    {{
        i = i + 1;
    }}
    i
}}
fn main() {{}}
}} // FAKE_VERUS: {marker}
"""


FAILING = sum_program("failed 1 1", proof="invariant i < n + 1000,")
FIXED = sum_program("verified 2")
CHEAT = sum_program("verified 2", proof="invariant i <= n,\n        // give up\n").replace(
    "    i\n}", "    assume(i == n);\n    i\n}")
SPEC_CHANGED = sum_program("verified 2", ensures="r <= n")
TASK = strip_proof(FIXED)
TUTORIAL_SEED = sum_program("verified 2").replace("    i\n}", "    assert(i == n) by {}\n    i\n}")


def fence(program: str) -> str:
    return f"Here is the program:\n```rust\n{program}```\n"


def distinct_program(k: int, body_marker: str = "verified 2") -> str:
    """A verified program unlike the others (k picks names, constants and operations)."""
    ops = ["+", "*", "-", "/", "%", "^", "&", "|"]
    op = ops[k % len(ops)]
    lines = "\n".join(f"    let v{k}_{j}: u64 = (a{k} {op} {j + 3 * k + 1}) {ops[(j + k) % 8]} b{k}_{j % 3};"
                      for j in range(8))
    return (f"use vstd::prelude::*;\nverus! {{\nfn calc_{k}(a{k}: u64, b{k}_0: u64, b{k}_1: u64, b{k}_2: u64) -> "
            f"(out{k}: u64)\n    requires a{k} < {100 + k},\n    ensures out{k} == a{k},\n{{\n{lines}\n"
            f"    assert(a{k} < {100 + k});\n    a{k}\n}}\nfn main() {{}}\n}} // FAKE_VERUS: {body_marker}\n")


class Script:
    """Answers by request content; ``turns`` counts the assistant messages already in the request."""

    def __call__(self, request, index):
        messages = request["messages"]
        turns = sum(1 for m in messages if m["role"] == "assistant")
        text = "\n".join(m["content"] for m in messages)
        last = messages[-1]["content"]
        first = messages[0]["content"]
        if "uses " + FEATURE_TERMS["assert_by"] in first:  # the feature in Verus terms, not its key
            k = request.get("seed", 0)
            if k in (0, 3):  # a new program with the feature; sample 3 repeats it
                return fence(distinct_program(7).replace("    assert(a7 < 107);", "    assert(a7 < 107) by {}"))
            if k == 2:  # the seed itself, verbatim
                return fence(TUTORIAL_SEED)
            if k == 4:  # a trivial spec
                return fence(distinct_program(8).replace("assert(a8 < 108);", "assert(a8 < 108) by {}")
                             .replace("ensures out8 == a8,", "ensures true,"))
            return fence(sum_program("verified 2", name="no_assert_by"))  # lacks the feature
        if first.startswith("Given a Verus program and its verification errors"):
            return fence(FIXED)  # the repair loop: fixed at once
        if "sum_to" in first and "SCENARIO" not in first:
            return fence(FAILING) if turns == 0 else fence(FIXED)
        if "SCENARIO cheat" in text:
            return fence(CHEAT) if turns == 0 else fence(FIXED)
        if "SCENARIO spec" in text:
            return fence(SPEC_CHANGED)
        if "Write a new, self-contained Rust program" in last:
            k = request.get("seed", 0)
            k = k if k < 3 else 0  # samples 3+ repeat the first program: duplicates
            return fence(f"fn plain_{k}() {{}}\n")
        if "Turn this Rust program into a Verus program" in last:
            k = int(last.split("fn plain_")[1].split("(")[0])
            return fence(distinct_program(k))
        return "I cannot help with that."


@pytest.fixture
def verus(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    path = bin_dir / "verus"
    path.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_VERUS))} \"$@\"\n")
    path.chmod(0o755)
    return verifier_fn(VerusConfig(binary=str(path), timeout_seconds=20.0, kill_grace_seconds=0.5,
                                   cache_dir=str(tmp_path / "verus-cache")), max_workers=4)


@pytest.fixture
def server():
    with FakeOpenAIServer(Script()) as fake:
        yield fake


def client_for(server, tmp_path) -> LlmClient:
    return LlmClient(LlmConfig(server.url, "fake-model", api_key="sk-test", max_retries=0, max_concurrency=8,
                               cache_dir=str(tmp_path / "llm-cache")))


def roles(trajectory):
    return [(t["role"], t["verification_status"]) for t in trajectory["turns"]]


def check_rows(rows, schema):
    names = set(schema.names)
    for row in rows:
        assert set(public(row)) == names, set(public(row)) ^ names


def test_extract_rust_code_reuses_the_pipeline_fence_parser():
    assert extract_rust_code("a\n```rust\nfn x() {}\n```\nb") == "fn x() {}\n"
    assert extract_rust_code("no fence") is None


def test_failed_then_fixed_task_episode_yields_repair_pair(server, verus, tmp_path):
    client = client_for(server, tmp_path)
    t = episode({"task": TASK, "task_id": "t1"}, client, verus, max_repairs=2)
    assert t["status"] == "success" and t["_accepted"] and t["final_program"] == FIXED
    assert roles(t) == [("user", None), ("assistant", "failed"), ("verifier", None), ("user", None),
                        ("assistant", "verified"), ("verifier", None)]
    repair_turn = t["turns"][3]["content"]
    assert ERRORS_HEADER in repair_turn and "```rust\n" + FAILING in repair_turn
    assert t["n_turns"] == 6 and t["task_id"] == "t1" and t["loop"] == "proof_completion"
    assert t["feat_loop_invariant"] == 1 and t["verus_version"]
    (pair,) = t["_repairs"]
    assert pair["failing_program"] == FAILING and pair["fixed_program"] == FIXED
    assert pair["failing_status"] == "failed" and pair["errors"] and pair["errors"] in repair_turn
    assert pair["origin"] == "synthesis" and pair["source_id"] == t["id"] and pair["task_id"] == "t1"
    check_rows([t], TRAJECTORY_SCHEMA)
    check_rows([pair], REPAIR_PAIR_SCHEMA)
    # the whole conversation went back to the model on the repair turn
    assert [m["role"] for m in server.requests[-1].body["messages"]] == ["user", "assistant", "user"]


def test_cheating_answer_is_rejected_then_repaired_without_a_pair(server, verus, tmp_path):
    client = client_for(server, tmp_path)
    t = episode({"task": TASK + "// SCENARIO cheat\n", "task_id": "c"}, client, verus, max_repairs=1)
    assert roles(t)[1] == ("assistant", None)  # not sent to verus
    assert "assume" in t["turns"][2]["content"]
    assert t["status"] == "success" and t["_repairs"] == []  # the rejected candidate had verified: no pair
    t0 = episode({"task": TASK + "// SCENARIO cheat\n", "task_id": "c"}, client, verus, max_repairs=0)
    assert t0["status"] == "error" and t0["_reason"] == "cheating:assume" and t0["final_program"] == CHEAT


def test_spec_changing_fix_is_rejected(server, verus, tmp_path):
    client = client_for(server, tmp_path)
    t = episode({"task": TASK + "// SCENARIO spec\n"}, client, verus, max_repairs=1)
    assert t["status"] == "error" and t["_reason"] == "spec_changed" and not t["_repairs"]
    assert [s for r, s in roles(t) if r == "assistant"] == [None, None]
    assert "specification" in t["turns"][2]["content"]


def test_no_code_answer_and_zero_repairs(server, verus, tmp_path):
    client = client_for(server, tmp_path)
    t = episode("Say something.", client, verus, max_repairs=0)
    assert t["status"] == "error" and t["_reason"] == "no_code" and t["final_program"] is None
    assert t["feat_assert"] is None and roles(t) == [("user", None), ("assistant", None), ("verifier", None)]


def test_repair_and_proof_completion_loops(server, verus, tmp_path):
    client = client_for(server, tmp_path)
    rows = list(repair_synthesis([{"program": FAILING, "errors": "error: postcondition not satisfied",
                                   "status": "failed"}], client, verus))
    kinds = [k for k, _ in rows]
    assert kinds == ["trajectory", "repair", "program"]
    pair, program = rows[1][1], rows[2][1]
    assert pair["failing_program"] == FAILING and pair["fixed_program"] == FIXED
    assert program["origin"] == "repair" and program["accepted"] and program["verification_status"] == "verified"
    check_rows([program], VERUS_PROGRAM_SCHEMA)
    rows = list(proof_completion([{"task": TASK, "task_id": "t1"}], client, verus))
    assert [k for k, _ in rows] == ["trajectory", "repair"]


def test_self_synthesis_near_dup_filter_and_stop_rule(server, verus, tmp_path):
    client = client_for(server, tmp_path)
    mh = MinHashConfig.for_code(num_perm=64, threshold=0.8)
    rows = list(self_synthesis(client, verus, batch_size=4, stop_duplicate_share=0.75, max_batches=5,
                               minhash=mh, max_repairs=0))
    programs = [r for k, r in rows if k == "program"]
    dups = [r for k, r in rows if k == "rejected" and r.reason == "near_duplicate_output"]
    trajectories = [r for k, r in rows if k == "trajectory"]
    assert rows[-1][0] == "stopped"
    stopped = rows[-1][1]
    # batch 1: samples 0..3 -> programs 0, 1, 2 and a repeat of 0; batch 2: all repeats -> stop
    assert stopped == {"reason": "duplicates", "batches": 2, "programs": 3, "last_duplicate_share": 1.0}
    assert len(programs) == 3 and len(dups) == 5 and len(trajectories) == 8
    assert {p["origin"] for p in programs} == {"self_synthesis"}
    assert all(p["accepted"] and p["verification_status"] == "verified" for p in programs)
    check_rows(programs, VERUS_PROGRAM_SCHEMA)
    check_rows(trajectories, TRAJECTORY_SCHEMA)
    t = trajectories[0]
    assert [turn["role"] for turn in t["turns"]] == ["user", "assistant", "user", "assistant", "verifier"]
    assert t["status"] == "success" and t["loop"] == "self_synthesis"
    # the same stop share not reached -> runs to max_batches
    rows = list(self_synthesis(client, verus, batch_size=4, stop_duplicate_share=1.0, max_batches=1,
                               minhash=mh, max_repairs=0))
    assert rows[-1][1]["reason"] == "max_batches"


def test_rerun_on_the_same_cache_makes_no_http_calls(verus, tmp_path):
    def run():
        with FakeOpenAIServer(Script()) as fake:
            client = client_for(fake, tmp_path)
            out = list(self_synthesis(client, verus, batch_size=4, stop_duplicate_share=0.75, max_batches=3,
                                      minhash=MinHashConfig.for_code(num_perm=64), max_repairs=0))
            out += list(proof_completion([{"task": TASK, "task_id": "t1"}], client, verus))
            return out, fake.call_count, client.counters()

    first, calls, _ = run()
    second, calls_again, counters = run()
    assert calls > 0 and calls_again == 0 and counters["calls"] == 0 and counters["cache_hits"] > 0
    strip = lambda rows: [(k, public(r) if isinstance(r, dict) else r) for k, r in rows]  # noqa: E731
    assert strip(first) == strip(second)


def test_tutorial_variants_rejected_by_feature_seed_copy_repeat_and_trivial_spec(server, verus, tmp_path):
    client = client_for(server, tmp_path)
    seed = TUTORIAL_SEED
    rows = list(tutorial_synthesis({"assert_by": seed}, client, verus, variants_per_seed=5, max_repairs=0))
    programs = [r for k, r in rows if k == "program"]
    rejected = [r for k, r in rows if k == "rejected"]
    assert len(programs) == 1 and programs[0]["target_feature"] == "assert_by"
    assert programs[0]["origin"] == "tutorial" and programs[0]["feat_assert_by"] >= 1
    # samples 1..4: no assert_by, the seed returned verbatim, a repeat of sample 0, `ensures true`
    assert programs[0]["parent_id"] and [r.reason for r in rejected] == [
        "missing_target_feature", "near_seed", "near_duplicate_output", "trivial_spec"]
    assert rejected[-1].detail.endswith("ensures_true")
    check_rows(programs, VERUS_PROGRAM_SCHEMA)
    with pytest.raises(ValueError):
        list(tutorial_synthesis({"no_such_feature": seed}, client, verus))


def test_near_dup_index():
    index = NearDupIndex(MinHashConfig.for_code(num_perm=64))
    a, b = distinct_program(1), distinct_program(2)
    assert index.add_many([a, b, a, a.replace("  ", "    ")]) == [False, False, True, True]
    assert index.add_many([distinct_program(1).replace("verified 2", "verified 3")]) == [True]
    assert len(index) == 2


def test_output_filter_trivial_specs_and_near_copies():
    seed = distinct_program(1)
    out = OutputFilter([seed], MinHashConfig.for_code(num_perm=64))
    base = distinct_program(2)
    reasons = out.reasons([
        base.replace("ensures out2 == a2,\n", ""),                       # no ensures
        base.replace("ensures out2 == a2,", "ensures true,"),
        base.replace("requires a2 < 102,", "requires false,"),
        base.replace("requires a2 < 102,", "requires 1 < 102,"),          # names no parameter
        seed.replace("// FAKE_VERUS", "// a comment\n// FAKE_VERUS"),   # the seed with a comment
        base, base.replace("    a2\n}", "    proof { assert(a2 == a2); }\n    a2\n}"),  # another proof only
        distinct_program(3),
    ])
    assert [(r.reason, r.detail) if r else None for r in reasons] == [
        ("trivial_spec", "no_ensures"), ("trivial_spec", "ensures_true"), ("trivial_spec", "requires_false"),
        ("trivial_spec", "unused_requires"), ("near_seed", "equal or near to a seed's target"), None,
        ("near_duplicate_output", "equal or near to an earlier output's target"), None]


def test_output_filter_rejects_a_verified_program_it_cannot_parse():
    # seen on verus-lang/verus examples/ through the fake verus: a fence cut short still "verified"
    [reason] = OutputFilter().reasons(["verus! { fn f(x: u64) -> (r: u64) ensures r == x { x "])
    assert reason.reason == "parse_error"


def test_a_seed_copy_is_near_seed_even_when_the_copy_does_not_verify(verus, tmp_path):
    """A tutorial seed that fails verification, returned verbatim: the copy is a near_seed (it adds no
    data), not a not_accepted:* that hides why it was dropped."""
    failing_seed = TUTORIAL_SEED.replace("verified 2", "failed 1 1")

    class CopyScript:
        def __call__(self, request, index):
            return fence(failing_seed)

    with FakeOpenAIServer(CopyScript()) as fake:
        rows = list(tutorial_synthesis({"assert_by": failing_seed}, client_for(fake, tmp_path), verus,
                                       variants_per_seed=2, max_repairs=0))
    rejected = [r for k, r in rows if k == "rejected"]
    assert [r.reason for r in rejected] == ["near_seed", "near_seed"]
    assert [k for k, _ in rows].count("trajectory") == 2  # the episodes are still recorded


def test_a_copy_that_only_renames_is_near_seed_and_distinct_programs_stay_apart():
    """The novelty key renames what a program declares (fns, parameters, lets, return bindings), so a
    seed with new names is still the seed; another program with the same library calls is not."""
    seed = FIXED
    renamed = (seed.replace("sum_to", "count_up").replace("(n: u64)", "(limit: u64)").replace("(r: u64)", "(total: u64)")
               .replace("n < 1000", "limit < 1000").replace("r == n", "total == limit")
               .replace("let mut i: u64", "let mut step: u64").replace("while i < n", "while step < limit")
               .replace("i <= n", "step <= limit").replace("n - i", "limit - step")
               .replace("i = i + 1", "step = step + 1").replace("    i\n}", "    step\n}"))
    assert novelty_key(renamed) == novelty_key(seed) and renamed != seed
    output_filter = OutputFilter([seed])
    assert output_filter.near_seed(renamed).reason == "near_seed"
    assert output_filter.reasons([renamed])[0].reason == "near_seed"
    assert output_filter.reasons([distinct_program(3)]) == [None]

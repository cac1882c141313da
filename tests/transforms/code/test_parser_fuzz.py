"""Hypothesis fuzzing of the parsers of untrusted text (issue 15): the Search/Replace block parser,
the line diff behind the blocks, and the Verus lexer/parser. Bounded: a fixed number of examples
of bounded size, each with a deadline, so a hang or a quadratic blow-up fails instead of stalling."""
from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.code.search_replace import (
    SEARCH_MARKER, DIVIDER_MARKER, REPLACE_MARKER, BlockParseError, make_blocks, parse_blocks, roundtrip_check,
)
from transforms.records import Rejected
from transforms.verus.syntax import VerusSyntaxError, parse_verus, tokenize

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 150)), deadline=timedelta(seconds=2),
                suppress_health_check=[HealthCheck.too_slow])

# Lines that make block text interesting: markers (also with trailing space / CR), fences, paths.
BLOCK_LINES = st.sampled_from([
    SEARCH_MARKER, DIVIDER_MARKER, REPLACE_MARKER, SEARCH_MARKER + " ", REPLACE_MARKER + "\r", "```python",
    "```", "~~~", "### src/a.py", "### ", "src/b.py", "\\ No newline at end of file", "", "x = 1", "    return None",
])
BLOCK_TEXT = st.lists(st.one_of(BLOCK_LINES, st.text(max_size=20)), max_size=30).map("\n".join)


@FUZZ
@given(text=BLOCK_TEXT)
def test_block_parser_raises_only_block_parse_errors(text):
    try:
        blocks = parse_blocks(text)
    except BlockParseError as error:
        assert error.line_number >= 1
        return
    for block in blocks:
        assert isinstance(block.path, str) and isinstance(block.search, str) and isinstance(block.replace, str)


UNIFIED_LINES = st.sampled_from([
    "--- a/x.py", "+++ b/x.py", "@@ -1,3 +1,4 @@", "@@ -0,0 +1 @@", "-old", "+new", " same", "\\ No newline at end of file",
    "diff --git a/x.py b/x.py", "x\r", "", "}", "    pass",
])
FILE_LINES = st.lists(st.one_of(UNIFIED_LINES, st.sampled_from(["a", "b", "a\r"]), st.text(max_size=8)), max_size=60)


@FUZZ
@given(before=FILE_LINES, after=FILE_LINES, final_newline=st.booleans())
def test_blocks_of_any_diff_replay_exactly(before, after, final_newline):
    """Diff text (unified-diff lines included) as file contents: blocks always replay byte for byte."""
    before_text = "\n".join(before) + ("\n" if final_newline and before else "")
    after_text = "\n".join(after)
    blocks = make_blocks(before_text, after_text, "x.py")
    assert roundtrip_check(before_text, after_text, blocks) is None


VERUS_PIECES = st.sampled_from([
    "verus! {", "}", "fn f(x: u64) -> (r: u64)", "requires x < 10,", "ensures r == x,", "{ x }", "proof fn p()",
    "assert(x > 0);", "/*", "*/", "//", '"', "'", "r#\"", "\"#", "'a", "b'x'", "<==>", "==>", "&&&", "|||", "::",
    "(", ")", "[", "]", "\n", " ", "\\", "forall|i: int|", "#[verifier::external_body]", "spec fn s() -> int { 1 }",
])
VERUS_TEXT = st.lists(st.one_of(VERUS_PIECES, st.text(max_size=6)), max_size=60).map("".join)


@FUZZ
@given(source=VERUS_TEXT)
def test_verus_lexer_and_parser_never_crash(source):
    try:
        tokens, comments = tokenize(source)
    except VerusSyntaxError:
        pass
    else:
        assert all(t.line >= 1 for t in tokens + comments)
    result = parse_verus(source)
    assert result is not None
    if isinstance(result, Rejected):
        assert result.reason in ("parse_error", "no_function")

import random
import re

from transforms.code.crop import (
    count_tokens,
    crop_file,
    keep_line_windows,
    omission_marker,
    search_line_ranges,
)
from transforms.code.search_replace import Block, apply_blocks, make_blocks

MARKER = re.compile(r"^\.\.\. \(lines? (\d+)(?:-(\d+))? omitted\) \.\.\.\r?$")


def numbered_file(count, newline="\n"):
    return "".join(f"value_{n} = compute({n}, 'item {n}')" + newline for n in range(1, count + 1))


def uncrop(cropped, original):
    """Put the omitted lines back; a faithful crop gives the original file exactly."""
    original_lines = original.splitlines(keepends=True)
    out = []
    for line in cropped.splitlines(keepends=True):
        match = MARKER.match(line.rstrip("\n"))
        if match:
            first = int(match[1])
            last = int(match[2] or first)
            out.extend(original_lines[first - 1:last])
        else:
            out.append(line)
    return "".join(out)


def test_count_tokens_counts_words_and_symbols():
    assert count_tokens("def f(x): return x+1") == 10
    assert count_tokens("") == 0
    assert count_tokens("snake_case_name  \n\t camelCase") == 2


def test_file_within_budget_is_untouched():
    content = numbered_file(50)
    blocks = make_blocks(content, content.replace("value_10 =", "value_10: int ="), "a.py")
    assert crop_file(content, blocks, token_budget=count_tokens(content)) == (content, False)


def test_keep_line_windows_marks_omitted_runs():
    content = "".join(f"line {n}\n" for n in range(1, 11))
    kept = keep_line_windows(content, [(5, 5)], margin=1)
    assert kept == "... (lines 1-3 omitted) ...\nline 4\nline 5\nline 6\n... (lines 7-10 omitted) ...\n"
    # a single line between two windows is kept: a marker would take its place for nothing
    assert keep_line_windows(content, [(1, 2), (4, 8)]) == content.replace("line 9\nline 10\n", "... (lines 9-10 omitted) ...\n")
    assert keep_line_windows(content, [(3, 3)]) == (
        "... (lines 1-2 omitted) ...\nline 3\n... (lines 4-10 omitted) ...\n")
    assert omission_marker(7, 7) == "... (line 7 omitted) ...\n"


def test_crop_keeps_every_search_inside_windows():
    before = numbered_file(3000)
    after = before.replace("value_500 = compute(500", "value_500 = compute_fast(500").replace(
        "value_2500 = compute(2500, 'item 2500')\n", "")
    blocks = make_blocks(before, after, "big.py")
    assert len(blocks) == 2
    cropped, was_cropped = crop_file(before, blocks, token_budget=2000, margin_lines=20)
    assert was_cropped
    assert count_tokens(cropped) <= 2000
    for block in blocks:
        assert block.search in cropped
    assert uncrop(cropped, before) == before  # kept lines are the file's own, markers number the rest
    apply_blocks({"big.py": cropped}, blocks)  # each SEARCH is still found exactly once
    markers = [line for line in cropped.splitlines() if MARKER.match(line)]
    assert markers[0] == "... (lines 1-479 omitted) ..." and markers[-1] == "... (lines 2521-3000 omitted) ..."
    assert crop_file(before, blocks, token_budget=2000, margin_lines=20) == (cropped, True)  # deterministic


def test_margin_shrinks_to_fit_and_search_survives_a_tiny_budget():
    before = numbered_file(400)
    after = before.replace("value_200 = compute(200", "value_200 = compute(-200")
    blocks = make_blocks(before, after, "a.py")
    wide, _ = crop_file(before, blocks, token_budget=1000, margin_lines=100)
    assert count_tokens(wide) <= 1000 and blocks[0].search in wide
    tiny, was_cropped = crop_file(before, blocks, token_budget=5, margin_lines=100)
    assert was_cropped and blocks[0].search in tiny
    assert tiny == keep_line_windows(before, search_line_ranges(before, blocks))  # margin 0: only the SEARCH lines
    assert uncrop(tiny, before) == before


def test_every_occurrence_of_a_repeated_search_is_kept():
    lines = [f"step_{n}()\n" for n in range(1, 301)]
    lines[49] = lines[249] = "reset()\n"
    before = "".join(lines)
    blocks = [Block("a.py", "step_49()\nreset()\n", "step_49()\nreset(True)\n"),
              Block("a.py", "reset()\n", "reset(False)\n")]  # unique only once the first block is applied
    apply_blocks({"a.py": before}, blocks)
    assert search_line_ranges(before, blocks) == [(49, 50), (50, 50), (250, 250)]
    cropped, _ = crop_file(before, blocks, token_budget=200, margin_lines=2)
    assert "step_249()\nreset()\nstep_251()\n" in cropped and "step_49()\nreset()\n" in cropped


def test_without_locatable_blocks_the_head_is_kept():
    before = numbered_file(1000)
    cropped, was_cropped = crop_file(before, [], token_budget=300)
    assert was_cropped and count_tokens(cropped) <= 300
    assert cropped.startswith("value_1 = compute(1, 'item 1')\n")
    assert MARKER.match(cropped.splitlines()[-1]) and uncrop(cropped, before) == before
    new_file = [Block("a.py", "", "x = 1\n")]
    assert crop_file(before, new_file, token_budget=300) == (cropped, True)


def test_crlf_file_gets_crlf_markers_and_a_custom_token_counter():
    before = numbered_file(200, "\r\n")
    after = before.replace("value_100 = compute(100", "value_100 = compute(1000")
    blocks = make_blocks(before, after, "a.py")
    cropped, was_cropped = crop_file(before, blocks, token_budget=2_000, tokens=len, margin_lines=3)
    assert was_cropped and len(cropped) <= 2_000
    assert "... (lines 1-96 omitted) ...\r\n" in cropped and cropped.endswith("... (lines 104-200 omitted) ...\r\n")
    assert blocks[0].search in cropped and uncrop(cropped, before) == before


def test_random_edits_always_keep_their_search_text():
    rng = random.Random(7)
    for trial in range(30):
        count = rng.randint(200, 600)
        before_lines = [f"v{rng.randint(0, 40)} = f({n % 17})\n" for n in range(count)]
        after_lines = list(before_lines)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(after_lines))
            choice = rng.random()
            if choice < 0.4:
                after_lines[position] = f"edited_{trial}_{position}()\n"
            elif choice < 0.7:
                after_lines.insert(position, f"inserted_{trial}_{position}()\n")
            else:
                del after_lines[position]
        before, after = "".join(before_lines), "".join(after_lines)
        blocks = make_blocks(before, after, "r.py")
        budget = rng.choice([20, 200, 1000])
        cropped, was_cropped = crop_file(before, blocks, token_budget=budget, margin_lines=rng.randint(0, 10))
        assert was_cropped == (count_tokens(before) > budget)
        assert uncrop(cropped, before) == before
        for block in blocks:
            if block.search in before:
                assert block.search in cropped


def test_fits_budget_is_the_token_count_against_the_budget():
    from transforms.code.crop import fits_budget

    for text in ("", "a", "a b", "x.y(z)", "word " * 7, "é+ñ\n\t-", "  \n  "):
        for budget in range(0, 12):
            assert fits_budget(text, budget) is (count_tokens(text) <= budget), (text, budget)
    # another token counter is always asked (no shortcut: a token may be shorter than a character)
    assert fits_budget("ab", 2, tokens=lambda text: 3 * len(text)) is False

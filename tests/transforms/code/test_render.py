from transforms.code.render import NO_CHANGES, render_edit_sample, render_file
from transforms.code.search_replace import Block, apply_blocks, make_blocks, parse_blocks


def test_render_edit_sample_layout_and_roundtrip():
    before = "def f(x):\n    return x\n"
    after = "def f(x):\n    return x + 1\n"
    blocks = make_blocks(before, after, "src/f.py") + make_blocks("", "package main\n", "cmd/main.go")
    text = render_edit_sample("Fix f\n\nIt is off by one.", {"src/f.py": before, "cmd/main.go": None}, blocks)
    assert text.startswith("--- BEGIN ISSUE ---\nFix f\n\nIt is off by one.\n--- END ISSUE ---\n\n--- BEGIN FILES ---\n")
    assert "### src/f.py\n```python\ndef f(x):\n    return x\n```\n" in text
    assert "### cmd/main.go\n(new file)\n" in text
    assert text.index("--- END ISSUE ---") < text.index("--- BEGIN FILES ---") < text.index("--- BEGIN EDITS ---")
    edits = text[text.index("--- BEGIN EDITS ---"):]
    assert "```python\n### src/f.py\n<<<<<<< SEARCH\n" in edits and "```go\n### cmd/main.go\n" in edits
    # The target part parses back to the blocks, which replay to the after-files.
    assert parse_blocks(edits) == blocks
    assert apply_blocks({"src/f.py": before}, parse_blocks(edits)) == {"src/f.py": after, "cmd/main.go": "package main\n"}
    assert text.endswith("--- END EDITS ---\n")


def test_render_without_blocks_says_no_changes():
    text = render_edit_sample("Intent", [("a.rb", "x = 1")], [])
    assert f"--- BEGIN EDITS ---\n{NO_CHANGES}\n--- END EDITS ---\n" in text
    assert "### a.rb\n```ruby\nx = 1\n```\n" in text  # a missing final newline still closes the fence


def test_render_file_fence_outgrows_backticks_in_content():
    content = 'DOC = """\n```python\nx\n```\n"""\n'
    rendered = render_file("doc.py", content)
    assert rendered.startswith("### doc.py\n````python\n") and rendered.endswith("\n````\n")
    assert render_file("notes.txt", "plain\n") == "### notes.txt\n```\nplain\n```\n"


def test_render_is_deterministic():
    blocks = [Block("a.py", "x\n", "y\n")]
    assert render_edit_sample("i", {"a.py": "x\n"}, blocks) == render_edit_sample("i", {"a.py": "x\n"}, blocks)

from schemas.pull_requests import SFT_SAMPLE_SCHEMA
from schemas.validate import check_record
from transforms.code.crop import count_tokens
from transforms.code.render import NO_CHANGES
from transforms.code.search_replace import apply_blocks, make_blocks, parse_blocks
from transforms.code.sft import (
    build_sft_examples,
    edited_locations,
    identifier_tokens,
    render_repo_tree,
    tfidf_similarities,
)

GREET = '''import math


class Greeter:
    """Says hello and goodbye."""

    def greet(self, name):
        return "Hello, " + name

    def farewell(self, name):
        return "Bye, " + name


def area(radius):
    return math.pi * radius ** 2
'''

TWO_FUNCTIONS = '''def alpha(values):
    total = 0
    for value in values:
        total += value
    return total


def beta(values):
    largest = None
    for value in values:
        if largest is None or value > largest:
            largest = value
    return largest
'''

INTENT = ("Greeting should end with an exclamation mark\n\n"
          "Greeter.greet returns 'Hello, name' without punctuation; the greeting needs an exclamation mark.")

OTHER_FILES = {
    "pkg/geometry.py": "def circle_area(radius):\n    return 3.14159 * radius * radius\n",
    "pkg/salutation.py": ("def greeting_for(name):\n    '''A greeting with an exclamation mark.'''\n"
                          "    return 'Hi ' + name + '!'\n"),
    "pkg/storage.py": "class Store:\n    def save(self, key, value):\n        self.data[key] = value\n",
    "docs/greeting.md": "greeting exclamation mark greeting",  # not source code: never a distractor
}
REPO_PATHS = ["pkg/__init__.py", "pkg/greet.py", *OTHER_FILES, "setup.py"]


def edit_sample(path, before, after, intent=INTENT, status="modified", sample_id="sample-1"):
    blocks = make_blocks(before, after, path)
    return {
        "sample_id": sample_id, "repo": "octo/greetings", "pr_number": 12, "language": "python",
        "title": intent.split("\n")[0], "body": "", "linked_issues": [], "intent": intent,
        "files": [{"path": path, "previous_path": None, "language": "python", "status": status, "is_core": True,
                   "before": before, "after": after}],
        "blocks": [block._asdict() for block in blocks],
    }


def by_step(examples, step, negative=False):
    return [e for e in examples if e["step"] == step and e["is_negative"] == negative]


def test_navigation_names_exactly_the_edited_function():
    after = TWO_FUNCTIONS.replace("value > largest", "value >= largest")
    examples = build_sft_examples(edit_sample("stats.py", TWO_FUNCTIONS, after, "beta keeps the first maximum"), ["stats.py"])
    (navigation,) = by_step(examples, "navigation")
    assert navigation["completion"] == "function: beta"
    assert navigation["path"] == "stats.py" and "### stats.py\n```python\ndef alpha(values):" in navigation["prompt"]
    method = GREET.replace('return "Hello, " + name', 'return f"Hello, {name}!"')
    (navigation,) = by_step(build_sft_examples(edit_sample("pkg/greet.py", GREET, method), REPO_PATHS), "navigation")
    assert navigation["completion"] == "function: Greeter.greet"


def test_edited_locations_for_insertions_and_module_level_edits():
    new_method = GREET.replace('        return "Hello, " + name\n\n',
                               '        return "Hello, " + name\n\n    def wave(self):\n        return "o/"\n\n')
    assert edited_locations(GREET, new_method, "pkg/greet.py") == ["class: Greeter"]
    assert edited_locations(GREET, GREET.replace("import math", "import cmath as math"), "pkg/greet.py") == ["module: pkg/greet.py"]
    both = GREET.replace("import math", "import cmath as math").replace("** 2", "** 2.0").replace('"Bye, "', '"Bye! "')
    assert edited_locations(GREET, both, "pkg/greet.py") == ["function: Greeter.farewell", "function: area", "module: pkg/greet.py"]
    assert edited_locations(GREET, "", "pkg/greet.py") == ["module: pkg/greet.py"]  # deleted file
    go_before = "package m\n\ntype S struct{}\n\nfunc (s S) Name() string {\n\treturn \"s\"\n}\n"
    go_after = go_before.replace('"s"', '"S"')
    assert edited_locations(go_before, go_after, "m/s.go") == ["function: S.Name"]


def test_editing_completion_parses_back_and_context_holds_every_search():
    after = GREET.replace('return "Hello, " + name', 'return f"Hello, {name}!"').replace("** 2", "** 2.0")
    sample = edit_sample("pkg/greet.py", GREET, after)
    (editing,) = by_step(build_sft_examples(sample, REPO_PATHS), "editing")
    blocks = parse_blocks(editing["completion"])
    assert [b._asdict() for b in blocks] == sample["blocks"]
    assert apply_blocks({"pkg/greet.py": GREET}, blocks) == {"pkg/greet.py": after}
    for block in blocks:
        assert block.search in editing["prompt"]
    assert "--- BEGIN CODE ---\n### pkg/greet.py\n```python\n" in editing["prompt"]


def test_editing_context_is_localized_in_a_long_file():
    filler = "".join(f"\n\ndef helper_{n}(x):\n    return x + {n}\n" for n in range(200))
    before = GREET + filler
    after = before.replace('return "Bye, " + name', 'return "Goodbye, " + name')
    (editing,) = by_step(build_sft_examples(edit_sample("pkg/greet.py", before, after), REPO_PATHS,
                                             context_margin=2), "editing")
    code = editing["prompt"].split("--- BEGIN CODE ---\n", 1)[1]
    assert "    def farewell(self, name):\n        return \"Bye, \" + name\n" in code
    assert "helper_150" not in code and "... (lines " in code
    assert count_tokens(code) < count_tokens(before) / 10


def test_localization_lists_edited_files_and_shows_them_in_the_tree():
    after = GREET.replace("** 2", "** 2.0")
    sample = edit_sample("pkg/greet.py", GREET, after)
    (localization,) = by_step(build_sft_examples(sample, REPO_PATHS), "localization")
    assert localization["completion"] == "pkg/greet.py" and localization["path"] is None
    assert "--- BEGIN REPOSITORY STRUCTURE ---\ndocs/\n    greeting.md\npkg/\n    __init__.py\n" in localization["prompt"]
    assert "    greet.py\n" in localization["prompt"]


def test_tree_is_capped_and_keeps_the_required_paths():
    paths = [f"src/module_{a}/part_{b}.py" for a in range(40) for b in range(50)]
    deep = "src/module_39/part_49.py"
    tree = render_repo_tree(paths, max_lines=30, required=[deep])
    lines = tree.splitlines()
    assert len(lines) == 30
    assert lines[:4] == ["src/", "    module_0/", "        part_0.py", "        part_1.py"]
    assert "    module_39/" in lines and "        part_49.py" in lines
    shown = sum(1 for line in lines if line.endswith(".py"))
    assert lines[-1] == f"... ({len(paths) - shown} more files not shown)"
    small = render_repo_tree(["b.py", "a/x.py", "a/y/z.py"])
    assert small == "a/\n    x.py\n    y/\n        z.py\nb.py\n"


def test_negatives_pick_the_most_similar_other_file():
    after = GREET.replace('return "Hello, " + name', 'return "Hello, " + name + "!"')
    examples = build_sft_examples(edit_sample("pkg/greet.py", GREET, after), REPO_PATHS, OTHER_FILES)
    (navigation_negative,) = by_step(examples, "navigation", negative=True)
    assert navigation_negative["path"] == "pkg/salutation.py"
    assert navigation_negative["completion"] == NO_CHANGES
    candidates = sorted(p for p in OTHER_FILES if p.endswith(".py"))
    scores = dict(zip(candidates, tfidf_similarities(INTENT, [OTHER_FILES[p] for p in candidates])))
    assert navigation_negative["distractor_similarity"] == scores["pkg/salutation.py"] == max(scores.values()) > 0
    assert "def greeting_for(name):" in navigation_negative["prompt"]
    (editing_negative,) = by_step(examples, "editing", negative=True)
    assert editing_negative["completion"] == NO_CHANGES and editing_negative["is_negative"]
    assert editing_negative["path"] == "pkg/salutation.py"
    assert all(e["distractor_similarity"] is None for e in examples if not e["is_negative"])


def test_negative_count_and_ties_by_path():
    twins = {"b/twin.py": "def greeting(): pass\n", "a/twin.py": "def greeting(): pass\n", "c/far.py": "x = 1\n"}
    after = GREET.replace("** 2", "** 2.0")
    examples = build_sft_examples(edit_sample("pkg/greet.py", GREET, after), REPO_PATHS, twins, negatives_per_step=2)
    paths = [e["path"] for e in by_step(examples, "navigation", negative=True)]
    assert paths == ["a/twin.py", "b/twin.py"]
    none = build_sft_examples(edit_sample("pkg/greet.py", GREET, after), REPO_PATHS, twins, negatives_per_step=0)
    assert not any(e["is_negative"] for e in none)


def test_editing_negative_can_be_another_function_of_the_same_file():
    filler = "".join(f"\n\ndef helper_{n}(x):\n    return x * {n}\n" for n in range(30))
    before = GREET + filler + "\n\ndef exclamation_mark_greeting(name):\n    return 'Greeting ' + name\n"
    after = before.replace("** 2", "** 2.0")
    examples = build_sft_examples(edit_sample("pkg/greet.py", before, after), REPO_PATHS, context_margin=2)
    (negative,) = by_step(examples, "editing", negative=True)
    assert negative["path"] == "pkg/greet.py"
    code = negative["prompt"].split("--- BEGIN CODE ---\n", 1)[1]
    assert "def exclamation_mark_greeting(name):" in code
    assert "math.pi" not in code and "def greet" not in code  # clear of the edited lines


def test_new_file_gets_only_an_editing_example():
    sample = edit_sample("pkg/extra.py", "", "def extra():\n    return 1\n", status="added")
    examples = build_sft_examples(sample, REPO_PATHS)
    assert [e["step"] for e in examples] == ["localization", "editing"]
    assert "### pkg/extra.py\n(new file)\n" in examples[1]["prompt"]
    assert parse_blocks(examples[1]["completion"])[0].search == ""


def test_records_match_the_schema_are_deterministic_and_unique():
    after = GREET.replace('return "Hello, " + name', 'return "Hello, " + name + "!"')
    sample = edit_sample("pkg/greet.py", GREET, after)
    first = build_sft_examples(sample, REPO_PATHS, OTHER_FILES, negatives_per_step=2)
    assert first == build_sft_examples(sample, list(reversed(REPO_PATHS)), dict(reversed(list(OTHER_FILES.items()))),
                                       negatives_per_step=2)
    assert len({e["id"] for e in first}) == len(first)
    for example in first:
        assert check_record(example, SFT_SAMPLE_SCHEMA) is None
        assert list(example) == SFT_SAMPLE_SCHEMA.names
        assert example["sample_id"] == "sample-1" and example["prompt"].split("\n", 1)[0].endswith(".")


def test_identifier_tokens_split_names():
    assert identifier_tokens("parseHTTPResponse snake_case_name self x") == [
        "parse", "http", "response", "parsehttpresponse", "snake", "case", "name", "snake_case_name"]

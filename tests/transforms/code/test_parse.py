import pytest

from transforms.code.parse import (
    GRAMMAR_MODULES,
    Definition,
    enclosing_definitions,
    has_parse_errors,
    list_definitions,
    parser_for,
)

# grammar -> (valid source, broken source)
SNIPPETS = {
    "python": ("def f(x):\n    return x + 1\n", "def f(x:\n    return x +\n"),
    "java": ("class A {\n  int f() { return 1; }\n}\n", "class A {\n  int f() { return 1 }\n"),
    "javascript": ("function f(a) {\n  return a * 2;\n}\n", "function f(a {\n  return a * ;\n}\n"),
    "typescript": ("function f(a: number): number {\n  return a;\n}\n", "function f(a: number): {\n  return a;\n"),
    "tsx": ("const A = () => <div>{1}</div>;\n", "const A = () => <div>{1}</span;\n"),
    "go": ("package main\n\nfunc main() {\n\tx := 1\n\t_ = x\n}\n", "package main\n\nfunc main() {\n\tx := \n"),
    "rust": ("fn main() {\n    let x = 1;\n}\n", "fn main() {\n    let x = ;\n"),
    "c": ("int main(void) {\n  return 0;\n}\n", "int main(void) {\n  return 0\n"),
    "cpp": ("namespace n {\nclass A {\n public:\n  int f() const { return 1; }\n};\n}\n",
            "namespace n {\nclass A {\n public\n  int f() const { return 1; \n"),
    "csharp": ("class A {\n  int F() { return 1; }\n}\n", "class A {\n  int F() { return 1 }\n"),
    "php": ("<?php\nfunction f($a) {\n  return $a;\n}\n", "<?php\nfunction f($a {\n  return $a\n"),
    "ruby": ("def f(a)\n  a + 1\nend\n", "def f(a)\n  a +\n"),
    "kotlin": ("fun f(a: Int): Int {\n    return a + 1\n}\n", "fun f(a: Int): Int {\n    return a +\n"),
}


def test_every_grammar_has_a_snippet():
    assert set(SNIPPETS) == set(GRAMMAR_MODULES)


@pytest.mark.parametrize("grammar", sorted(SNIPPETS))
def test_valid_parses_clean_and_broken_reports_errors(grammar):
    valid, broken = SNIPPETS[grammar]
    assert has_parse_errors(valid, grammar) is False
    assert has_parse_errors(broken, grammar) is True
    assert has_parse_errors(valid.encode(), grammar) is False


def test_parser_is_cached_and_unknown_grammar_is_none():
    assert parser_for("python") is parser_for("python")
    assert parser_for("cobol") is None
    assert has_parse_errors("x", "cobol") is None
    assert list_definitions("x", "cobol") == []
    assert enclosing_definitions("x", "cobol", [1]) == []


def test_lone_surrogates_do_not_crash():
    assert has_parse_errors("x = '\udc80'\n", "python") is False


PYTHON = '''\
import os


class Server:
    """Serves."""

    @property
    def port(self):
        return 1

    def handle(self, request):
        if request:
            return None
        return None


def main():
    def helper():
        pass
    return Server()
'''


def test_python_definitions():
    assert list_definitions(PYTHON, "python") == [
        Definition("Server", "Server", "class", 4, 14),
        Definition("port", "Server.port", "function", 7, 9),  # the decorator line belongs to it
        Definition("handle", "Server.handle", "function", 11, 14),
        Definition("main", "main", "function", 17, 20),
        Definition("helper", "main.helper", "function", 18, 19),
    ]


def test_python_enclosing_definitions():
    assert enclosing_definitions(PYTHON, "python", [13]) == ["Server.handle"]
    assert enclosing_definitions(PYTHON, "python", [7, 14, 19, 1]) == ["Server.port", "Server.handle", "main.helper"]
    assert enclosing_definitions(PYTHON, "python", [20]) == ["main"]
    assert enclosing_definitions(PYTHON, "python", [5]) == ["Server"]
    assert enclosing_definitions(PYTHON, "python", [13], innermost=False) == ["Server", "Server.handle"]
    assert enclosing_definitions(PYTHON, "python", [2, 16]) == []


JAVA = """\
package p;

public class Cache {
    private int size;

    public Cache(int size) {
        this.size = size;
    }

    public int get(int key) {
        return key % size;
    }

    interface Loader {
        int load(int key);
    }
}
"""

GO = """\
package main

type Server struct {
\tport int
}

func (s *Server) Handle(n int) int {
\treturn n + s.port
}

func main() {
\tprintln(1)
}
"""

RUST = """\
struct Stack {
    items: Vec<i32>,
}

impl Stack {
    fn push(&mut self, x: i32) {
        self.items.push(x);
    }
}

fn main() {
    let s = Stack { items: vec![] };
}
"""

JAVASCRIPT = """\
class Cart {
  add(item) {
    this.items.push(item);
  }
}

const total = (items) => {
  return items.length;
};

function main() {
  return new Cart();
}
"""

CPP = """\
namespace shop {

class Cart {
 public:
  void add(int item) {
    items_.push_back(item);
  }
};

int Cart::size() const {
  return items_.size();
}

}  // namespace shop
"""

TYPESCRIPT = """\
export class Repo<T> {
  find(id: number): T | undefined {
    return undefined;
  }
}
"""

CSHARP = """\
namespace Shop {
  class Cart {
    public void Add(int item) {
      items.Add(item);
    }
  }
}
"""

PHP = """\
<?php
class Cart {
    public function add($item) {
        $this->items[] = $item;
    }
}
"""

RUBY = """\
module Shop
  class Cart
    def add(item)
      @items << item
    end
  end
end
"""

KOTLIN = """\
class Cart {
    fun add(item: Int) {
        items.add(item)
    }
}
"""

C = """\
struct point {
  int x;
};

static int *make(int n) {
  return 0;
}
"""


@pytest.mark.parametrize("grammar, source, lines, expected", [
    ("java", JAVA, [7], ["Cache.Cache"]),
    ("java", JAVA, [11, 14], ["Cache.get", "Cache.Loader"]),
    ("go", GO, [8], ["Server.Handle"]),
    ("go", GO, [4, 12], ["Server", "main"]),
    ("rust", RUST, [7], ["Stack.push"]),
    ("rust", RUST, [2, 12], ["Stack", "main"]),
    ("javascript", JAVASCRIPT, [3, 8, 12], ["Cart.add", "total", "main"]),
    ("cpp", CPP, [6], ["shop.Cart.add"]),
    ("cpp", CPP, [11], ["shop.Cart::size"]),
    ("typescript", TYPESCRIPT, [3], ["Repo.find"]),
    ("csharp", CSHARP, [4], ["Shop.Cart.Add"]),
    ("php", PHP, [4], ["Cart.add"]),
    ("ruby", RUBY, [4], ["Shop.Cart.add"]),
    ("kotlin", KOTLIN, [3], ["Cart.add"]),
    ("c", C, [2, 6], ["point", "make"]),
])
def test_enclosing_definitions_across_languages(grammar, source, lines, expected):
    assert has_parse_errors(source, grammar) is False
    assert enclosing_definitions(source, grammar, lines) == expected


def test_definitions_kinds_and_lines():
    by_name = {d.qualified_name: d for d in list_definitions(RUST, "rust")}
    assert by_name["Stack"].kind == "class"
    assert by_name["Stack.push"] == Definition("push", "Stack.push", "function", 6, 8)
    assert {d.kind for d in list_definitions(CPP, "cpp")} == {"module", "class", "function"}


def test_one_parse_per_file_version_for_errors_and_definitions(monkeypatch):
    from transforms.code import parse as parse_module

    parsed = []
    real_reparse = parse_module._reparse  # noqa: SLF001
    monkeypatch.setattr(parse_module, "_reparse",
                        lambda parser, data, previous, *rest: parsed.append(parser.language) or real_reparse(parser, data, previous, *rest))
    monkeypatch.setattr(parse_module, "_parsed_cache", type(parse_module._parsed_cache)())  # noqa: SLF001
    source = "def only_once(x):\n    return x\n"
    assert has_parse_errors(source, "python") is False
    assert [d.qualified_name for d in list_definitions(source, "python")] == ["only_once"]
    assert list_definitions(source.encode(), "python") == list_definitions(source, "python")  # bytes: same version
    assert parsed == [parser_for("python").language]
    assert has_parse_errors(source, "ruby") is not None  # a grammar is its own key
    assert parsed == [parser_for("python").language, parser_for("ruby").language]
    assert has_parse_errors(source, "cobol") is None and list_definitions(source, "cobol") == []


def test_parse_cache_is_bounded(monkeypatch):
    from transforms.code import parse as parse_module

    monkeypatch.setattr(parse_module, "PARSED_CACHE_SIZE", 3)
    monkeypatch.setattr(parse_module, "_parsed_cache", type(parse_module._parsed_cache)())  # noqa: SLF001
    monkeypatch.setattr(parse_module, "_parsed_definitions", [0])  # noqa: SLF001
    for i in range(10):
        assert list_definitions(f"def f{i}():\n    pass\n", "python")[0].name == f"f{i}"
    assert len(parse_module._parsed_cache) == 3  # noqa: SLF001
    assert has_parse_errors("def f9(:\n", "python") is True


def test_parse_cache_is_bounded_by_the_definitions_it_holds(monkeypatch):
    from transforms.code import parse as parse_module

    monkeypatch.setattr(parse_module, "PARSED_CACHE_DEFINITIONS", 100)
    monkeypatch.setattr(parse_module, "_parsed_cache", type(parse_module._parsed_cache)())  # noqa: SLF001
    monkeypatch.setattr(parse_module, "_parsed_definitions", [0])  # noqa: SLF001
    for i in range(10):  # 30 definitions a version: at most 3 versions fit
        source = "".join(f"def g{i}_{k}():\n    pass\n" for k in range(30))
        assert len(list_definitions(source, "python")) == 30
    held = parse_module._parsed_cache  # noqa: SLF001
    assert len(held) == 3 and sum(len(v.definitions) for v in held.values()) == 90
    assert parse_module._parsed_definitions == [90]  # noqa: SLF001


def test_incremental_reparse_gives_the_fresh_parse(monkeypatch):
    # An after-file is re-parsed from its before-file's tree; the answer must be a fresh parse's,
    # whatever the edit: inside a token, across lines, breaking or repairing the syntax.
    import random

    from transforms.code import parse as parse_module

    monkeypatch.setattr(parse_module, "_parsed_cache", type(parse_module._parsed_cache)())  # noqa: SLF001
    rng = random.Random(7)
    reparsed = 0
    real_reparse = parse_module._reparse  # noqa: SLF001

    def counting(parser, data, previous, *rest):
        nonlocal reparsed
        reparsed += previous is not None
        return real_reparse(parser, data, previous, *rest)

    monkeypatch.setattr(parse_module, "_reparse", counting)
    pieces = ["", "x", "(", ")", "{", "}", ";", "\n", "  return a\n", "def g(:\n", "é", "0"]
    for grammar, (valid, broken) in SNIPPETS.items():
        source = (valid * 8 + broken + valid * 4).encode()
        for _ in range(12):
            start = rng.randrange(len(source))
            end = min(len(source), start + rng.randrange(8))
            edited = source[:start] + rng.choice(pieces).encode() + source[end:]
            for version in (source, edited):  # the before-file, then the after-file from its tree
                got = (has_parse_errors(version, grammar, base=source), list_definitions(version, grammar))
                tree = parser_for(grammar).parse(version)
                assert got == (tree.root_node.has_error, list(parse_module._definitions_of(tree, grammar))), (
                    grammar, version)  # noqa: SLF001
            source = edited
    assert reparsed > 100  # the incremental path was taken, not only fresh parses


def test_a_tree_re_parsed_from_stays_valid_and_recent_trees_are_bounded(monkeypatch):
    from transforms.code import parse as parse_module

    monkeypatch.setattr(parse_module, "_parsed_cache", type(parse_module._parsed_cache)())  # noqa: SLF001
    monkeypatch.setattr(parse_module, "_recent_trees", type(parse_module._recent_trees)())  # noqa: SLF001
    monkeypatch.setattr(parse_module, "_recent_tree_bytes", [0])  # noqa: SLF001
    base = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(40))
    assert has_parse_errors(base, "python") is False
    one = base.replace("return x + 3\n", "return (x + 3\n\n\n\n")  # broken, 3 lines longer
    two = base.replace("def f30(x):", "def f30(x, y):")
    assert has_parse_errors(one, "python", base=base) is True
    # the base's tree was re-parsed from once; re-parsing from it again must still be exact
    assert has_parse_errors(two, "python", base=base) is False
    fresh = parse_module._definitions_of(parser_for("python").parse(two.encode()), "python")  # noqa: SLF001
    assert list_definitions(two, "python") == list(fresh)
    assert [d.name for d in fresh] == [f"f{i}" for i in range(40)] and fresh[39].start_line == 118
    for i in range(2 * parse_module.RECENT_TREES):
        has_parse_errors(base + f"x{i} = {i}\n", "python", base=base)
    assert len(parse_module._recent_trees) == parse_module.RECENT_TREES  # noqa: SLF001
    monkeypatch.setattr(parse_module, "RECENT_TREE_BYTES", 3 * len(base))  # and by the source bytes they hold
    has_parse_errors(base + "y = 1\n", "python", base=base)
    held = [data for data, _ in parse_module._recent_trees.values()]  # noqa: SLF001
    assert len(held) == 2 and parse_module._recent_tree_bytes == [sum(map(len, held))]  # noqa: SLF001


def test_a_version_re_parsed_from_its_paths_last_version_gives_the_fresh_parse(monkeypatch):
    # Two commits of one file differ in several places far apart; the before-file of a PR is
    # re-parsed from the tree of the path's last version seen, one tree edit per changed region.
    import random

    from transforms.code import parse as parse_module

    monkeypatch.setattr(parse_module, "_parsed_cache", type(parse_module._parsed_cache)())  # noqa: SLF001
    rng = random.Random(11)
    regions_seen = []
    real_regions = parse_module._changed_regions  # noqa: SLF001

    def recording(old, new, by_lines):
        regions = real_regions(old, new, by_lines)
        regions_seen.append(len(regions) if by_lines else 0)
        return regions

    monkeypatch.setattr(parse_module, "_changed_regions", recording)
    pieces = ["", "x", "(", ")", "{", "}", ";", "\n", "  return a\n", "def g(:\n", "é", "0", "\n\n\n"]
    for grammar, (valid, broken) in SNIPPETS.items():
        lines = (valid * 12 + broken + valid * 6).splitlines(keepends=True)
        for _ in range(8):
            for _ in range(rng.randrange(2, 6)):  # edits spread over the file
                at = rng.randrange(len(lines))
                lines[at:at + rng.randrange(3)] = [rng.choice(pieces) + rng.choice(pieces)]
            version = "".join(lines).encode()
            got = (has_parse_errors(version, grammar, path=f"src/file.{grammar}"),
                   list_definitions(version, grammar, path=f"src/file.{grammar}"))
            tree = parser_for(grammar).parse(version)
            assert got == (tree.root_node.has_error, list(parse_module._definitions_of(tree, grammar))), (
                grammar, version)  # noqa: SLF001
    assert sum(n > 1 for n in regions_seen) > 20  # several tree edits per re-parse, not one range

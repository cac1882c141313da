"""Clean-PR end to end: real git repositories built in tmp dirs, PR records, decontamination, apply-blocks."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from schemas.pull_requests import RAW_PR_SCHEMA, SFT_STEPS
from tests.shared_data import shared_path
from transforms.code.decontam import shipped_index
from transforms.code.pr_sample import (
    CleanPrConfig, build_edit_sample, noise_reason, prepare_pr, repo_cap_keep,
)
from transforms.code.search_replace import Block, apply_blocks, block_from_mapping, render_blocks
from transforms.records import Rejected

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SWEBENCH_LITE_FILE = "benchmarks/swebench/swebench_lite.jsonl"
SWEBENCH_LITE = shared_path(SWEBENCH_LITE_FILE)
SHIPPED_INDEX_NOTE = ("decontaminated against the SWE-bench index swebench_index.bin.gz "
                      "(707 instances from swebench_lite.jsonl, swebench_verified.jsonl)")
T0 = 1_700_000_000
ALICE = ("Alice Liddell", "1234+alice@users.noreply.github.com")
BOB = ("Bob Merger", "bob@example.com")
CAROL = ("Carol", "carol@example.com")
DEPENDABOT = ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")
DAVE = ("Dave", "dave@example.com")

CART = '''class Cart:
    def __init__(self):
        self.items = []
        self.total = 0

    def add(self, item):
        self.items.append(item)
        self.total = 0
        for entry in self.items:
            self.total += entry.price
        return self.total

    def remove(self, item):
        self.items.remove(item)
        self.total = 0
        for entry in self.items:
            self.total += entry.price
        return self.total
'''
# The second loop changes; its lines also occur in add(), so anchors need more context.
CART_V1 = CART[:CART.rindex("self.total += entry.price")] + "self.total += entry.price * entry.quantity\n        return self.total\n"
GO_MAIN = '''package main

import (
	"fmt"
	"time"
)

func timeout() time.Duration {
	return 5 * time.Second
}

func main() {
	fmt.Println("serving with timeout", timeout())
}
'''
JAVA_ORDER = '''package shop;

public class Order {
    private final int quantity;

    public Order(int quantity) {
        this.quantity = quantity;
    }

    public int getQuantity() {
        return quantity;
    }
}
'''
TS_INDEX = '''export function formatPrice(cents: number): string {
  return "$" + (cents / 100).toFixed(2);
}

export function parsePrice(text: string): number {
  return Math.round(parseFloat(text.replace("$", "")) * 100);
}
'''
RUST_LIB = '''pub fn checksum(data: &[u8]) -> u32 {
    data.iter().map(|b| *b as u32).sum()
}
'''
WIN_PY = "def legacy_total(values):\r\n    total = 0\r\n    for value in values:\r\n        total += value\r\n    return total\r\n"
TAX = "RATE = 0.2\n\n\ndef tax(amount):\n    return amount * RATE\n"
TAX_V1 = "RATE = 0.2\n\n\ndef tax(amount):\n    return round(amount * RATE, 2)\n"
REPORT = "def report(total):\n    return 'total: ' + str(total)\n"
OLD_HELPERS = '''def slugify(text):
    return "-".join(text.lower().split())


def titlecase(text):
    return " ".join(word.capitalize() for word in text.split())
'''
PRICING = '''from shop.obsolete import LEGACY_DISCOUNT


def price(amount):
    return amount - LEGACY_DISCOUNT
'''
PRICING_V1 = '''def price(amount):
    return amount
'''


class Repo:
    """A throwaway repository driven by the git CLI with fixed identities and dates."""

    def __init__(self, path: Path, origin: str | None = None):
        self.path, self.clock = path, 0
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        if origin:
            self.git("remote", "add", "origin", origin)

    def env(self, author, committer=None) -> dict:
        committer = committer or author
        self.clock += 60
        when = f"{T0 + self.clock} +0000"
        return {"PATH": os.environ["PATH"], "HOME": str(self.path), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C",
                "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1], "GIT_AUTHOR_DATE": when,
                "GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1], "GIT_COMMITTER_DATE": when}

    def git(self, *args: str, author=CAROL, committer=None, input: str | None = None) -> str:
        proc = subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", *args],
                              cwd=self.path, env=self.env(author, committer), capture_output=True, check=True,
                              input=None if input is None else input.encode())
        return proc.stdout.decode().strip()

    def write(self, files: dict[str, str | None]) -> None:
        for rel, content in files.items():
            target = self.path / rel
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode())

    def commit(self, message: str, files: dict[str, str | None] | None = None, author=CAROL, committer=None) -> str:
        self.write(files or {})
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-F", "-", author=author, committer=committer, input=message)
        return self.git("rev-parse", "HEAD")

    def squash(self, number: int, title: str, files: dict, body: str = "", author=ALICE) -> str:
        return self.commit(f"{title} (#{number})\n\n{body}".strip() + "\n", files, author=author, committer=BOB)

    def merge(self, number: int, title: str, files: dict, author=ALICE) -> str:
        self.git("checkout", "-q", "-b", f"pr{number}")
        self.commit(f"{title} (work)", files, author=author)
        self.git("checkout", "-q", "main")
        self.git("merge", "-q", "--no-ff", "-m", f"Merge pull request #{number} from alice/pr{number}\n\n{title}",
                 f"pr{number}", author=BOB)
        self.git("branch", "-q", "-D", f"pr{number}")
        return self.git("rev-parse", "HEAD")

    def show(self, rev: str, path: str) -> str | None:
        proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=self.path, capture_output=True)
        return proc.stdout.decode() if proc.returncode == 0 else None


def build_shop(root: Path) -> Repo:
    """acme/shop: Python, Go, Java, TypeScript, Rust; one PR per situation the pipeline must handle."""
    repo = Repo(root / "shop", origin="https://github.com/acme/shop.git")
    repo.commit("Initial commit", {
        "README.md": "# shop\n", "docs/guide.md": "How to run the shop.\n", "shop/cart.py": CART,
        "server/main.go": GO_MAIN, "app/src/Order.java": JAVA_ORDER, "web/index.ts": TS_INDEX,
        "engine/src/lib.rs": RUST_LIB, "legacy/win.py": WIN_PY, "shop/old_helpers.py": OLD_HELPERS,
        "shop/obsolete.py": "LEGACY_DISCOUNT = 5\n", "shop/pricing.py": PRICING, "shop/tax.py": TAX,
        "shop/report.py": REPORT, "vendor/lib.js": "function vendored(a, b) {\n  return a + b;\n}\n",
        "go.mod": "module shop\n\ngo 1.21\n",
    })
    repo.merge(1, "Use quantity in cart totals", {"shop/cart.py": CART_V1, "README.md": "# shop\n\nCarts.\n"})
    repo.squash(2, "Raise the server timeout", {"server/main.go": GO_MAIN.replace("5 * time.Second", "30 * time.Second")},
                body="Fixes #40")
    repo.squash(3, "Bump go from 1.21 to 1.22", {"go.mod": "module shop\n\ngo 1.22\n",
                                                  "server/main.go": GO_MAIN.replace('"fmt"', '"fmt"\n\t"os"')},
                author=DEPENDABOT)
    repo.squash(4, "Document the guide", {"README.md": "# shop\n\nCarts and more.\n",
                                          "docs/guide.md": "How to run the shop, in detail.\n"})
    repo.merge(5, "Move the text helpers", {
        "shop/old_helpers.py": None,
        "shop/text_helpers.py": OLD_HELPERS.replace('"-".join', '"_".join')})
    repo.squash(6, "Drop the legacy discount", {"shop/obsolete.py": None, "shop/pricing.py": PRICING_V1})
    repo.squash(7, "Start legacy totals at one", {"legacy/win.py": WIN_PY.replace("total = 0", "total = 1")})
    repo.squash(8, "Expose order quantities to the web client", {
        "app/src/Order.java": JAVA_ORDER.replace("    public int getQuantity() {\n        return quantity;\n    }\n",
                                                 "    public int getQuantity() {\n        return quantity;\n    }\n\n"
                                                 "    public boolean isBulk() {\n        return quantity >= 10;\n    }\n"),
        "web/index.ts": TS_INDEX + "\nexport function isBulk(quantity: number): boolean {\n  return quantity >= 10;\n}\n"})
    repo.squash(9, "Add a xor checksum", {
        "engine/src/lib.rs": RUST_LIB + "\npub fn xor(data: &[u8]) -> u8 {\n    data.iter().fold(0, |a, b| a ^ b)\n}"})
    repo.squash(10, "Split the shop into modules", {
        f"shop/module_{name}.py": f"def {name}_handler(request):\n    return request.{name}\n"
        for name in ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")})
    # PR #11 was never merged: only its refs/pull/11/head remains.
    repo.git("checkout", "-q", "-b", "wip")
    head = repo.commit("Experimental cart rewrite", {"shop/cart.py": "class Cart:\n    pass\n"}, author=DAVE)
    repo.git("update-ref", "refs/pull/11/head", head)
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-q", "-D", "wip")
    repo.squash(12, "Update the vendored library", {"vendor/lib.js": "function vendored(a, b) {\n  return b + a;\n}\n"})
    repo.squash(13, "Annotate the report argument", {"shop/report.py": REPORT.replace("(total)", "(total: int")})
    repo.squash(16, "Round taxes to cents", {"shop/tax.py": TAX_V1})
    return repo


def build_fork(root: Path) -> Repo:
    """acme/shop-fork, read as a bare clone: its only PR is the very change of acme/shop#16."""
    work = Repo(root / "fork-work", origin="https://github.com/acme/shop-fork.git")
    work.commit("Initial commit", {"shop/tax.py": TAX, "shop/cli.py": "def main():\n    print('fork')\n"})
    work.squash(1, "Round taxes to cents", {"shop/tax.py": TAX_V1})
    bare = root / "shop-fork.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work.path), str(bare)], check=True, capture_output=True,
                   env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
    subprocess.run(["git", "--git-dir", str(bare), "remote", "set-url", "origin", "https://github.com/acme/shop-fork.git"],
                   check=True)
    return work


def build_broken(root: Path) -> Repo:
    """A clone whose PR commit lost its tree object: reading its PRs fails part-way."""
    repo = Repo(root / "broken")
    repo.commit("Initial commit", {"main.py": "print('hello')\n"})
    repo.squash(1, "Greet louder", {"main.py": "print('HELLO')\n"})
    tree = repo.git("rev-parse", "HEAD^{tree}")
    (repo.path / ".git" / "objects" / tree[:2] / tree[2:]).unlink()
    return repo


def table(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def reject_keys(out: Path) -> set[tuple]:
    """(repo, PR number, stage, reason) of every reject of a run."""
    keys = set()
    for row in table(out / "rejects"):
        record = json.loads(row["record_json"])
        keys.add((record.get("repo"), record.get("number", record.get("pr_number")), row["stage"], row["reason"]))
    return keys


def rows_holding(out: Path, text: str) -> dict[str, int]:
    """Dataset -> rows holding ``text`` in any column (each row cast to VARCHAR whole, nested columns too)."""
    con, found = duckdb.connect(), {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and any(p.glob("*.parquet"))):
        n = con.execute(f"SELECT count(*) FROM read_parquet('{folder}/*.parquet') AS t "
                        "WHERE contains(CAST(t AS VARCHAR), ?)", [text]).fetchone()[0]
        if n:
            found[folder.name] = n
    return found


def assert_replays(edits: list[dict]) -> None:
    """Every sample's operations, applied in order to its before-files (under their base paths),
    give its after-files byte for byte (under their head paths)."""
    for row in edits:
        core = [f for f in row["files"] if f["is_core"]]
        blocks = [block_from_mapping(b) for b in row["blocks"]]
        base = {(f["previous_path"] if f["status"] == "renamed" else f["path"]): f["before"] for f in core}
        replayed = apply_blocks(base, blocks)
        assert {f["path"]: f["after"] for f in core} == replayed, row["pr_number"]
        assert row["n_blocks"] == len(blocks) and row["n_core_files"] == len({b.path for b in blocks})
        edits_only = [b for b in blocks if not b.is_rename]
        assert render_blocks(blocks, lambda p: None).count("<<<<<<< SEARCH") == len(edits_only)
        assert row["text"].count("\n### RENAME ") == len(blocks) - len(edits_only)
        assert "<<<<<<< SEARCH" in row["text"] and "--- BEGIN ISSUE ---" in row["text"]


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean-pr")
    shop, fork, broken = build_shop(root), build_fork(root), build_broken(root)
    issues = root / "issues.jsonl"
    issues.write_text(json.dumps({"repo": "acme/shop", "number": 40, "title": "Server times out too early",
                                  "body": "Requests over five seconds fail."}) + "\n")
    out = root / "out"
    code = main(["clean-pr", "--git-repo", str(shop.path), "--git-repo", str(root / "shop-fork.git"),
                 "--git-repo", str(broken.path), "--issues", str(issues), "--output", str(out)])
    return shop, fork, out, code


def test_git_run_keeps_replayable_samples_and_rejects_the_rest(shop_run):
    shop, _, out, code = shop_run
    assert code == 0
    manifest = json.loads((out / "_manifest.json").read_text())
    edits = table(out / "edits")
    kept = {(r["repo"], r["pr_number"]) for r in edits}
    # the fork's PR is the same change set as acme/shop#16: one of them (the larger id) is a duplicate
    (duplicate,) = table(out / "duplicates")
    removed = json.loads(duplicate["record_json"])
    twin = next(r for r in edits if (r["repo"], r["pr_number"]) in {("acme/shop", 16), ("acme/shop-fork", 1)})
    assert (duplicate["method"], duplicate["kept_id"]) == ("exact", twin["sample_id"])
    assert duplicate["record_id"] > twin["sample_id"] and removed["blocks"] == twin["blocks"]
    assert kept | {(removed["repo"], removed["pr_number"])} == {
        ("acme/shop", n) for n in (1, 2, 5, 6, 7, 8, 9, 13, 16)} | {("acme/shop-fork", 1)}
    assert reject_keys(out) == {
        ("acme/shop", 3, "noise", "bot_author"), ("acme/shop", 4, "noise", "docs_only"),
        ("acme/shop", 10, "edit_samples", "too_many_files"), ("acme/shop", 11, "noise", "unmerged"),
        ("acme/shop", 12, "noise", "vendored"), ("broken", None, "read", "unreadable_repo"),
    }
    (unreadable,) = [r for r in table(out / "rejects") if r["reason"] == "unreadable_repo"]
    assert unreadable["detail"].startswith("broken: GitError: git --git-dir=broken/.git ")
    assert manifest["conservation"] == {"read": 16, "written": 9, "rejected": 6, "deduplicated": 1, "holds": True,
                                        "prs_known": 15, "prs_read_from_git": 15}
    repos = manifest["git_repositories"]
    assert {n: (r["pr_refs"], r["prs_known"], r["prs_read"], r["unreadable"]) for n, r in repos.items()} == {
        "acme/shop": (1, 14, 14, False), "acme/shop-fork": (0, 1, 1, False), "broken": (0, 1, 0, True)}  # listed, then failed: not checked
    assert SHIPPED_INDEX_NOTE in manifest["notes"]  # the default: the index shipped in the package
    assert_replays(edits)


def test_no_shard_holds_the_local_path_of_a_clone(shop_run, capsys):
    """Git-input records carry their clone's path between stages (for the SFT tree): never into a shard;
    publish --dry-run (which checks every shard, the card and the manifest) goes through."""
    _, _, out, _ = shop_run
    for root in {str(out.parent), os.path.realpath(out.parent)}:
        assert rows_holding(out, root) == {}
    assert rows_holding(out, "acme/shop") and rows_holding(out, "broken: GitError")  # the check does find text
    rejects = table(out / "rejects")
    assert all("_repo_path" not in json.loads(r["record_json"]) for r in rejects)
    assert {json.loads(r["record_json"]).get("repo") for r in rejects if r["stage"] == "noise"} == {"acme/shop"}
    assert "_repo_path" not in json.loads(table(out / "duplicates")[0]["record_json"])
    capsys.readouterr()
    assert main(["publish", str(out), "--repo-id", "acme/shop-edits", "--dry-run"]) == 0
    card = capsys.readouterr().out
    assert str(out.parent) not in card and os.path.realpath(out.parent) not in card
    assert '"<local>/shop-fork.git"' in card and '"output": "<local>/out"' in card


def test_samples_match_the_git_objects_byte_for_byte(shop_run):
    shop, _, out, _ = shop_run
    for row in table(out / "edits"):
        if row["repo"] != "acme/shop":
            continue
        for f in row["files"]:
            if not f["is_core"]:
                assert f["before"] is None and f["after"] is None and f["language"] is None
                continue
            assert f["before"] == (shop.show(row["base_sha"], f["previous_path"] or f["path"]) or "")
            assert f["after"] == (shop.show(row["head_sha"], f["path"]) or "")


def test_sample_details(shop_run):
    _, _, out, _ = shop_run
    edits = {r["pr_number"]: r for r in table(out / "edits") if r["repo"] == "acme/shop"}
    files = {n: {f["path"]: f for f in r["files"]} for n, r in edits.items()}
    # merge PR: the README stays listed but is not core; the ambiguous loop needs extra context
    assert files[1]["README.md"]["is_core"] is False and files[1]["shop/cart.py"]["status"] == "modified"
    (block,) = edits[1]["blocks"]
    assert CART.count(block["search"]) == 1 and "entry.quantity" in block["replace"]
    assert "self.items.remove(item)" in block["search"] or "def remove" in block["search"]
    # squash PR with a resolved issue reference
    assert edits[2]["language"] == "go" and edits[2]["title"] == "Raise the server timeout"
    assert edits[2]["linked_issues"] == [{"repo": "acme/shop", "number": 40, "title": "Server times out too early",
                                          "body": "Requests over five seconds fail."}]
    assert "Issue acme/shop#40: Server times out too early" in edits[2]["intent"]
    # rename: the move, then the old contents -> new contents under the new path
    renamed = files[5]["shop/text_helpers.py"]
    assert (renamed["status"], renamed["previous_path"], renamed["before"]) == ("renamed", "shop/old_helpers.py", OLD_HELPERS)
    assert [(b["rename_from"], b["path"]) for b in edits[5]["blocks"]] == [
        ("shop/old_helpers.py", "shop/text_helpers.py"), (None, "shop/text_helpers.py")]
    assert "### RENAME shop/old_helpers.py -> shop/text_helpers.py\n" in edits[5]["text"]
    assert "### shop/old_helpers.py\n```python\n" in edits[5]["text"]  # shown where it is at the base commit
    # deletion: the whole file as SEARCH, empty REPLACE, after ''
    deleted = files[6]["shop/obsolete.py"]
    assert (deleted["status"], deleted["after"]) == ("deleted", "")
    assert {"path": "shop/obsolete.py", "search": "LEGACY_DISCOUNT = 5\n", "replace": "",
            "rename_from": None} in edits[6]["blocks"]
    # CRLF kept inside the blocks
    assert all("\r\n" in b["search"] and "\r\n" in b["replace"] for b in edits[7]["blocks"])
    # two languages: Java changes more lines than TypeScript
    assert edits[8]["language"] == "java" and edits[8]["n_core_files"] == 2
    # a missing final newline is part of the last line's edit
    assert edits[9]["language"] == "rust" and not edits[9]["files"][0]["after"].endswith("\n")
    # parse columns
    assert edits[13]["introduces_parse_errors"] is True and files[13]["shop/report.py"]["parse_error_after"] is True
    assert edits[2]["introduces_parse_errors"] is False
    assert all(0.0 < r["quality_code_alphanumeric_fraction"] < 1.0 for r in edits.values())


def test_sft_dataset_has_three_steps_with_negatives(shop_run):
    _, _, out, _ = shop_run
    sft = table(out / "sft")
    sample_ids = {r["sample_id"] for r in table(out / "edits")}
    assert {r["sample_id"] for r in sft} == sample_ids
    assert {r["step"] for r in sft} == set(SFT_STEPS)
    negatives = [r for r in sft if r["is_negative"]]
    assert {r["step"] for r in negatives} == {"navigation", "editing"}
    assert all(r["completion"] == "No changes needed." for r in negatives)
    localization = [r for r in sft if r["step"] == "localization" and r["pr_number"] == 2 and r["repo"] == "acme/shop"]
    assert localization[0]["completion"] == "server/main.go"
    assert "engine/" in localization[0]["prompt"]  # the repository tree at the base commit


def test_prs_input_jsonl_and_parquet(tmp_path):
    def pr(number, files, **extra):
        return {"repo": "acme/tools", "number": number, "title": f"Change {number}", "body": None,
                "author_login": "erin", "author_type": "User", "merged": True, "base_sha": "b" * 40,
                "head_sha": "h" * 40, "files": files, **extra}

    ruby_before = "class Greeter\n  def greet(name)\n    \"Hello \" + name\n  end\nend\n"
    kotlin_before = "fun add(a: Int, b: Int): Int {\n    return a + b\n}\n"
    good = pr(1, [{"path": "lib/greeter.rb", "status": "modified", "before": ruby_before,
                   "after": ruby_before.replace('"Hello "', '"Hello, "'), "is_binary": False}],
              body="Closes acme/tools#7")
    patch_only = pr(2, [{"path": "src/main.c", "status": "modified", "patch": "@@ -1 +1 @@\n-a\n+b\n",
                         "is_binary": False}])
    broken = pr(3, [{"path": "src/add.kt", "status": "modified", "before": kotlin_before,
                     "after": kotlin_before.replace("return a + b\n}", "return a + b\n"), "is_binary": False}])
    jsonl = tmp_path / "prs.jsonl"
    with open(jsonl, "w") as handle:
        for record in (good, patch_only, broken, good, {"repo": "acme/tools", "title": "no number"}):
            handle.write(json.dumps(record) + "\n")
        handle.write("{not json\n")
    php_before = "<?php\nfunction area($r) {\n    return 3.14 * $r * $r;\n}\n"
    parquet = tmp_path / "prs.parquet"
    pq.write_table(pa.Table.from_pylist([pr(4, [
        {"path": "src/area.php", "previous_path": None, "status": "modified", "before": php_before,
         "after": php_before.replace("3.14", "M_PI"), "patch": None, "is_binary": False}])], schema=RAW_PR_SCHEMA),
        parquet)
    issues = tmp_path / "issues.jsonl"
    issues.write_text(json.dumps({"repo": "acme/tools", "number": 7, "title": "Greeting lacks a comma", "body": None}) + "\n")
    out = tmp_path / "out"
    assert main(["clean-pr", "--prs", str(jsonl), "--prs", str(parquet), "--issues", str(issues),
                 "--reject-parse-errors", "--no-decontam", "--output", str(out)]) == 0
    edits = {r["pr_number"]: r for r in table(out / "edits")}
    assert sorted(edits) == [1, 4]
    assert edits[1]["language"] == "ruby" and edits[4]["language"] == "php"
    assert edits[1]["linked_issues"][0]["title"] == "Greeting lacks a comma"
    assert_replays(edits.values())
    assert reject_keys(out) == {
        ("acme/tools", 2, "edit_samples", "missing_contents"),
        ("acme/tools", 3, "parse_errors", "introduces_parse_errors"),
        ("acme/tools", 1, "unique_prs", "duplicate_pr_id"),
        ("acme/tools", None, "prepare", "missing_field"),
        (None, None, "read", "invalid_json"),
    }
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["conservation"] == {"read": 7, "written": 2, "rejected": 5, "deduplicated": 0, "holds": True}
    assert "decontamination skipped (--no-decontam)" in manifest["notes"]
    sft = table(out / "sft")
    assert {r["step"] for r in sft} == set(SFT_STEPS)


def _gold_instance() -> dict:
    """The first SWE-bench Lite instance (by id) whose gold patch is one hunk in one Python file."""
    from transforms.code.decontam import parse_unified_diff

    rows = [json.loads(line) for line in SWEBENCH_LITE.read_text().splitlines() if line.strip()]
    for row in sorted(rows, key=lambda r: r["instance_id"]):
        (diff, *rest) = parse_unified_diff(row["patch"]) or [None]
        if not rest and diff and diff.old_path and diff.old_path.endswith(".py") and len(diff.hunks) == 1 \
                and len(diff.hunks[0].old_lines) >= 5 and diff.hunks[0].old_start > 20:
            return {"row": row, "path": diff.old_path, "hunk": diff.hunks[0]}
    raise AssertionError("no suitable SWE-bench instance")


@pytest.mark.shared_data(SWEBENCH_LITE_FILE)
def test_decontamination_drops_prs_touching_gold_hunks(tmp_path):
    gold = _gold_instance()
    owner, name = gold["row"]["repo"].split("/")
    instance_number = int(gold["row"]["instance_id"].rsplit("-", 1)[1])
    hunk = gold["hunk"]
    head = [f"setting_{i} = {i}\n" for i in range(1, hunk.old_start)]
    body = [line + "\n" for line in hunk.old_lines]
    tail = [f"other_{i} = {i}\n" for i in range(30)]
    original = "".join(head + body + tail)
    repo = Repo(tmp_path / name, origin=f"https://github.com/{owner}/{name}.git")
    repo.commit("Initial commit", {gold["path"]: original})
    middle = len(head) + len(body) // 2
    touched = head + body[:len(body) // 2] + [body[len(body) // 2].rstrip("\n") + "  # tweaked\n"] + body[len(body) // 2 + 1:] + tail
    repo.squash(5001, "Tweak a line", {gold["path"]: "".join(touched)})
    far = list(touched)
    far[len(far) - 5] = "other_25 = 2500\n"
    repo.squash(5002, "Change an unrelated setting", {gold["path"]: "".join(far)})
    numbered = list(far)
    numbered[1] = "setting_2 = 200\n"
    repo.squash(instance_number, "Change another setting", {gold["path"]: "".join(numbered)})
    assert middle > 0
    out = tmp_path / "out"
    assert main(["clean-pr", "--git-repo", str(repo.path), "--benchmarks", str(SWEBENCH_LITE),
                 "--output", str(out)]) == 0
    assert [r["pr_number"] for r in table(out / "edits")] == [5002]
    assert reject_keys(out) == {(f"{owner}/{name}", 5001, "decontam", "swebench_hunk_overlap"),
                                (f"{owner}/{name}", instance_number, "decontam", "swebench_instance")}
    details = {row["reason"]: row["detail"] for row in table(out / "rejects")}
    assert details["swebench_hunk_overlap"].startswith(gold["row"]["instance_id"])
    manifest = json.loads((out / "_manifest.json").read_text())
    assert "decontaminated against SWE-bench files swebench_lite.jsonl (300 instances)" in manifest["notes"]


# astropy__astropy-12907 (SWE-bench Lite and Verified): its gold patch's only hunk, old side, in
# astropy/modeling/separable.py '@@ -242,7 +242,7 @@'; the fix changes the 4th line ('= 1' -> '= right').
ASTROPY_GOLD_PATH = "astropy/modeling/separable.py"
ASTROPY_GOLD_OLD = (
    "        cright = _coord_matrix(right, 'right', noutp)\n"
    "    else:\n"
    "        cright = np.zeros((noutp, right.shape[1]))\n"
    "        cright[-right.shape[0]:, -right.shape[1]:] = 1\n"
    "\n"
    "    return np.hstack([cleft, cright])\n"
    "\n"
)


def test_default_decontamination_uses_the_shipped_index(tmp_path):
    """No shared data and no --benchmarks: a PR of astropy/astropy making astropy__astropy-12907's
    gold change is removed (swebench_patch), one editing a line of the gold hunk otherwise too
    (swebench_hunk_overlap), one editing other lines of the file is kept."""
    head = "".join(f"setting_{i} = {i}\n" for i in range(1, 60))  # the gold text sits at 60..66, not 242
    tail = "".join(f"other_{i} = {i}\n" for i in range(30))
    original = head + ASTROPY_GOLD_OLD + tail
    repo = Repo(tmp_path / "astropy", origin="https://github.com/astropy/astropy.git")
    repo.commit("Initial commit", {ASTROPY_GOLD_PATH: original})
    fixed = original.replace("-right.shape[1]:] = 1\n", "-right.shape[1]:] = right\n")
    repo.squash(5001, "Fix separability of nested compound models", {ASTROPY_GOLD_PATH: fixed})
    repo.squash(5002, "Change an unrelated setting", {ASTROPY_GOLD_PATH: fixed.replace("other_25 = 25", "other_25 = 2500")})
    final = fixed.replace("other_25 = 25", "other_25 = 2500").replace("setting_2 = 2\n", "setting_2 = 200\n")
    repo.squash(12907, "Change another setting", {ASTROPY_GOLD_PATH: final})
    repo.squash(5003, "Tweak the fill value", {ASTROPY_GOLD_PATH: final.replace("-right.shape[1]:] = right\n",
                                                                           "-right.shape[1]:] = 2\n")})
    out = tmp_path / "out"
    assert main(["clean-pr", "--git-repo", str(repo.path), "--output", str(out)]) == 0
    assert [r["pr_number"] for r in table(out / "edits")] == [5002]
    assert reject_keys(out) == {("astropy/astropy", 5001, "decontam", "swebench_patch"),
                                ("astropy/astropy", 5003, "decontam", "swebench_hunk_overlap"),
                                ("astropy/astropy", 12907, "decontam", "swebench_instance")}
    details = {row["reason"]: row["detail"] for row in table(out / "rejects")}
    assert details["swebench_patch"] == (f"astropy__astropy-12907: {ASTROPY_GOLD_PATH} changes every line of the "
                                         "gold change (1 removed, 1 added)")
    assert details["swebench_hunk_overlap"] == (f"astropy__astropy-12907: {ASTROPY_GOLD_PATH} lines 63-63 overlap "
                                                "gold hunk lines 60-66 (declared 242-248)")
    notes = json.loads((out / "_manifest.json").read_text())["notes"]
    assert SHIPPED_INDEX_NOTE in notes
    index = shipped_index()
    held = {source: sum(1 for i in index.instances.values() if i.repo == "astropy/astropy" and n in i.sources)
            for n, source in enumerate(["swebench_lite.jsonl", "swebench_verified.jsonl"])}
    assert (f"decontam: the input's 1 repositories have {held['swebench_lite.jsonl']} instances in swebench_lite.jsonl, "
            f"{held['swebench_verified.jsonl']} instances in swebench_verified.jsonl; removed swebench_instance 1 "
            "(1 of swebench_lite.jsonl, 1 of swebench_verified.jsonl); swebench_patch 1 (1 of swebench_lite.jsonl, "
            "1 of swebench_verified.jsonl); swebench_issue 0; swebench_hunk_overlap 1 (1 of swebench_lite.jsonl, "
            "1 of swebench_verified.jsonl); 0 sample(s) overlapping a gold hunk kept: merged before the instance's "
            "base commit") in notes
    # --no-decontam still turns it off
    out = tmp_path / "kept"
    assert main(["clean-pr", "--git-repo", str(repo.path), "--no-decontam", "--output", str(out)]) == 0
    assert sorted(r["pr_number"] for r in table(out / "edits")) == [5001, 5002, 5003, 12907]


def test_apply_blocks_command(tmp_path, capsys):
    entry = main
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.py").write_bytes(b"x = 1\r\ny = 2\r\n")
    blocks = [Block("a.py", "y = 2\r\n", "y = 3\r\n"), Block("pkg/new.py", "", "NEW = True\n")]
    blocks_file = tmp_path / "answer.md"
    blocks_file.write_bytes(("Here is the fix:\n\n" + render_blocks(blocks)).encode())
    assert entry(["apply-blocks", str(root), str(blocks_file), "--dry-run"]) == 0
    assert capsys.readouterr().out.split() == ["a.py", "pkg/new.py"]
    assert (root / "a.py").read_bytes() == b"x = 1\r\ny = 2\r\n" and not (root / "pkg").exists()
    assert entry(["apply-blocks", str(root), str(blocks_file)]) == 0
    assert capsys.readouterr().out.split() == ["a.py", "pkg/new.py"]
    assert (root / "a.py").read_bytes() == b"x = 1\r\ny = 3\r\n" and (root / "pkg/new.py").read_text() == "NEW = True\n"

    escape = tmp_path / "escape.md"
    escape.write_text(render_blocks([Block("../outside.py", "", "pwned = True\n")]))
    assert entry(["apply-blocks", str(root), str(escape)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shardsmith: error:") and "path_escape" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "outside.py").exists()
    stale = tmp_path / "stale.md"
    stale.write_text(render_blocks([Block("a.py", "y = 2\r\n", "y = 4\r\n")]))
    assert entry(["apply-blocks", str(root), str(stale)]) == 2
    assert "search_not_found" in capsys.readouterr().err
    broken = tmp_path / "broken.md"
    broken.write_text("### a.py\n<<<<<<< SEARCH\nx = 1\n")
    assert entry(["apply-blocks", str(root), str(broken)]) == 2
    assert "unterminated block" in capsys.readouterr().err


def test_own_git_history_smoke(tmp_path, capsys):
    """This project's history (a fresh CI clone may hold no PR commits at all): the run must work."""
    if not (PROJECT_ROOT / ".git").exists():
        pytest.skip("the project is not a git checkout")
    out = tmp_path / "out"
    assert main(["clean-pr", "--git-repo", str(PROJECT_ROOT), "--output", str(out)]) == 0
    assert json.loads((out / "_manifest.json").read_text())["conservation"]["holds"]


def test_non_repository_is_a_one_line_error(tmp_path, capsys):
    assert main(["clean-pr", "--git-repo", str(tmp_path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shardsmith: error:") and "not a git repository" in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- pure stage functions

def test_noise_reasons():
    config = CleanPrConfig()
    base = {"repo": "a/b", "number": 1, "merged": True, "author_login": "erin", "author_type": "User",
            "files": [{"path": "x.py", "status": "modified", "before": "a = 1\n", "after": "a = 2\n", "is_binary": False}]}
    assert noise_reason(base, config) is None
    assert noise_reason({**base, "author_login": "renovate"}, config).reason == "bot_author"
    assert noise_reason({**base, "author_type": "Bot"}, config).reason == "bot_author"
    assert noise_reason({**base, "merged": False}, config) == "unmerged"
    binary = {"path": "x.py", "status": "modified", "before": None, "after": None, "is_binary": True}
    assert noise_reason({**base, "files": [binary]}, config) == Rejected("binary", "x.py")
    withheld = {**binary, "is_binary": None}
    assert noise_reason({**base, "files": [withheld]}, config).reason == "oversized"
    generated = {"path": "api_pb2.py", "status": "modified", "before": "a = 1\n", "after": "a = 2\n", "is_binary": False}
    assert noise_reason({**base, "files": [generated]}, config).reason == "generated"
    shell = {"path": "run.sh", "status": "modified", "before": "a\n", "after": "b\n", "is_binary": False}
    assert noise_reason({**base, "files": [shell]}, config).reason == "no_core_files"
    assert noise_reason({**base, "files": []}, config).reason == "no_core_files"
    assert noise_reason(base, CleanPrConfig(extensions={".go": "go"})).reason == "no_core_files"


def test_edit_sample_rejects_and_ids():
    config = CleanPrConfig(max_core_files=2)
    pr = prepare_pr({"repo": "a/b", "number": 9, "title": "t", "merged": True, "files": [
        {"path": "b.py", "status": "modified", "before": "b = 1\n", "after": "b = 2\n", "is_binary": False},
        {"path": "a.py", "status": "renamed", "previous_path": "old.py", "before": "a = 1\n", "after": "a = 1\n",
         "is_binary": False}]})
    sample = build_edit_sample(pr, {}, config)
    assert [f["path"] for f in sample["files"]] == ["a.py", "b.py"] and sample["n_core_files"] == 2
    assert [(b["rename_from"], b["path"]) for b in sample["blocks"]] == [("old.py", "a.py"), (None, "b.py")]
    assert sample == build_edit_sample(pr, {}, config)  # deterministic
    two = {**pr, "files": pr["files"] + [{**pr["files"][0], "path": "c.py"}]}
    assert build_edit_sample(two, {}, config).reason == "too_many_files"  # the pure move counts
    only_rename = build_edit_sample({**pr, "files": [pr["files"][1]]}, {}, config)
    assert only_rename["blocks"] == [{"path": "a.py", "search": "", "replace": "", "rename_from": "old.py"}]
    assert only_rename["sample_id"] != build_edit_sample({**pr, "files": [{**pr["files"][1], "previous_path": "x.py"}]},
                                                         {}, config)["sample_id"]
    mode_only = {**pr, "files": [{**pr["files"][0], "after": "b = 1\n"}]}
    assert build_edit_sample(mode_only, {}, config).reason == "no_core_changes"
    marker = {**pr, "files": [{**pr["files"][0], "after": "b = 2\nsome_longer_identifier_name = 3\n=======\n"}]}
    assert build_edit_sample(marker, {}, config).reason == "unrenderable_block"
    assert prepare_pr({"repo": "a/b"}).reason == "missing_field"


def test_repo_cap_is_a_seeded_order_free_choice():
    ids = [f"s{i}" for i in range(50)]
    kept = repo_cap_keep(ids, 10, seed=1)
    assert len(kept) == 10 and kept == repo_cap_keep(list(reversed(ids)), 10, seed=1)
    assert kept != repo_cap_keep(ids, 10, seed=2)
    assert repo_cap_keep(ids, 0) == set(ids) == repo_cap_keep(ids, 50)


WIDGET_PATH = "widget/geometry.py"
WIDGET = ("".join(f"SETTING_{n} = {n}\n" for n in range(1, 30)) + "\n\ndef area(radius):\n    return 3.14 * radius\n\n\n"
          "def volume(radius):\n    return 4 * radius\n\n\n" + "".join(f"LIMIT_{n} = {n}\n" for n in range(30)))


def test_decontam_index_command_and_an_instance_of_a_real_clone(tmp_path, capsys):
    """A benchmark written for a repository built here: its instance's PR is removed, a later PR
    editing the gold hunk too, an earlier one editing it (an ancestor of the base commit) is kept."""
    repo = Repo(tmp_path / "widget", origin="git@github.com:acme/widget.git")
    repo.commit("Initial commit", {WIDGET_PATH: WIDGET})
    early = WIDGET.replace("def volume(radius):\n", "def volume(radius):  # a sphere\n")
    repo.squash(3, "Document volume", {WIDGET_PATH: early})
    base = repo.squash(4, "Raise a limit", {WIDGET_PATH: early.replace("LIMIT_20 = 20", "LIMIT_20 = 2000")})
    fixed = early.replace("LIMIT_20 = 20", "LIMIT_20 = 2000").replace("    return 3.14 * radius\n",
                                                                      "    return 3.14159 * radius ** 2\n")
    gold = repo.squash(17, "Fix area", {WIDGET_PATH: fixed})
    repo.squash(20, "Name the area formula", {WIDGET_PATH: fixed.replace("def area(radius):\n", "def area(radius):  # pi r^2\n")})
    repo.squash(21, "Lower a setting", {WIDGET_PATH: fixed.replace("def area(radius):\n", "def area(radius):  # pi r^2\n")
                                         .replace("SETTING_3 = 3\n", "SETTING_3 = 0\n")})
    patch = subprocess.run(["git", "diff", base, gold], cwd=repo.path, capture_output=True, check=True).stdout.decode()
    bench = tmp_path / "my_evals.jsonl"
    bench.write_text(json.dumps({"instance_id": "acme__widget-17", "repo": "acme/widget", "base_commit": base,
                                 "problem_statement": "area() returns the circumference", "patch": patch}) + "\n")
    index = tmp_path / "my_evals.bin.gz"
    assert main(["decontam-index", str(bench), "--output", str(index)]) == 0
    assert capsys.readouterr().out.startswith(f"{index}: 1 instances of 1 repositories from my_evals.jsonl, ")
    out = tmp_path / "out"
    assert main(["clean-pr", "--git-repo", str(repo.path), "--benchmarks", str(index), "--output", str(out)]) == 0
    assert sorted(r["pr_number"] for r in table(out / "edits")) == [3, 4, 21]
    assert reject_keys(out) == {("acme/widget", 17, "decontam", "swebench_instance"),
                                ("acme/widget", 20, "decontam", "swebench_hunk_overlap")}
    notes = json.loads((out / "_manifest.json").read_text())["notes"]
    assert "decontaminated against the SWE-bench index my_evals.bin.gz (1 instances from my_evals.jsonl)" in notes
    assert ("decontam: the input's 1 repositories have 1 instances in my_evals.jsonl; removed swebench_instance 1 "
            "(1 of my_evals.jsonl); swebench_patch 0; swebench_issue 0; swebench_hunk_overlap 1 (1 of my_evals.jsonl); "
            "1 sample(s) overlapping a gold hunk kept: merged before the instance's base commit") in notes
    # the JSONL itself decides alike; the shipped index knows nothing of acme/widget
    out = tmp_path / "jsonl"
    assert main(["clean-pr", "--git-repo", str(repo.path), "--benchmarks", str(bench), "--output", str(out)]) == 0
    assert sorted(r["pr_number"] for r in table(out / "edits")) == [3, 4, 21]
    out = tmp_path / "shipped"
    assert main(["clean-pr", "--git-repo", str(repo.path), "--output", str(out)]) == 0
    assert sorted(r["pr_number"] for r in table(out / "edits")) == [3, 4, 17, 20, 21]


def test_unusable_benchmark_files_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "evals.jsonl"
    bad.write_text('{"instance_id": "a__b-1", "repo": "a/b", "patch": ""}\n{"instance_id": 3}\n')
    assert main(["decontam-index", str(bad), "--output", str(tmp_path / "x.bin.gz")]) == 2
    err = capsys.readouterr().err
    assert err == f"shardsmith: error: decontam-index: {bad} line 2: 'instance_id' missing or not a string\n"
    assert not (tmp_path / "x.bin.gz").exists()
    repo = Repo(tmp_path / "widget", origin="https://github.com/acme/widget.git")
    repo.commit("Initial commit", {WIDGET_PATH: WIDGET})
    assert main(["clean-pr", "--git-repo", str(repo.path), "--benchmarks", str(bad), "--output", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"shardsmith: error: --benchmarks: {bad} line 2: 'instance_id' missing or not a string\n"


def build_widgets(path: Path, constant: int) -> Repo:
    """A clone without origin: one squash PR, and PR #2 fast-forwarded (its head is a plain main commit)."""
    repo = Repo(path)
    repo.commit("Initial commit", {"widgets/core.py": CART})
    repo.squash(1, "Add a constant", {"widgets/const.py": f"LIMIT = {constant}\n\n\ndef limit():\n    return LIMIT\n"})
    head = repo.commit("Use quantities", {"widgets/core.py": CART_V1}, author=ALICE)
    repo.git("update-ref", "refs/pull/2/head", head)
    return repo


def test_two_clones_without_origin_named_and_accounted(tmp_path, capsys):
    one, two = build_widgets(tmp_path / "one" / "widgets", 1), build_widgets(tmp_path / "two" / "widgets", 2)
    out = tmp_path / "out"
    # both would be named 'widgets' after their directories: their PR ids would collide
    assert main(["clean-pr", "--git-repo", str(one.path), "--git-repo", str(two.path), "--output", str(out)]) == 2
    assert "would both be named 'widgets'" in capsys.readouterr().err
    code = main(["clean-pr", "--git-repo", f"{one.path}=team-a/widgets", "--git-repo", str(two.path),
                 "--output", str(out)])
    assert code == 0
    manifest = json.loads((out / "_manifest.json").read_text())
    assert {r["repo"] for r in table(out / "edits")} == {"team-a/widgets", "widgets"}
    assert reject_keys(out) == {("team-a/widgets", 2, "noise", "merged_unattributable"),
                                ("widgets", 2, "noise", "merged_unattributable")}
    assert not any(r["reason"] == "duplicate_pr_id" for r in table(out / "rejects"))
    assert {n: (r["pr_refs"], r["prs_known"], r["prs_read"], r["by_rule"]) for n, r in manifest["git_repositories"].items()} == {
        n: (1, 2, 2, {"squash": 1, "unattributable": 1}) for n in ("team-a/widgets", "widgets")}
    c = manifest["conservation"]
    assert c["holds"] and (c["read"], c["prs_known"], c["prs_read_from_git"]) == (4, 4, 4)
    assert any(note.startswith("warning: widgets named after the clone's directory") for note in manifest["notes"])
    assert not any("team-a" in note for note in manifest["notes"] if note.startswith("warning"))


def test_accounting_check_fails_when_known_prs_are_not_read():
    from pipelines.clean_pr import git_accounting_check
    from transforms.code.stages import GIT_COUNTERS

    counters = {(GIT_COUNTERS, "pr_refs|acme/a"): 3, (GIT_COUNTERS, "prs_known|acme/a"): 4,
                (GIT_COUNTERS, "prs_read|acme/a"): 3, (GIT_COUNTERS, "rule:squash|acme/a"): 3}
    manifest = {"conservation": {"read": 3, "written": 1, "rejected": 2, "deduplicated": 0, "holds": True}, "notes": []}
    git_accounting_check(manifest, counters)
    assert manifest["conservation"]["holds"] is False
    assert manifest["notes"] == ["PR accounting broken: acme/a (4 known, 3 read)"]
    assert manifest["git_repositories"]["acme/a"]["by_rule"] == {"squash": 3}


def test_git_repo_spec_names(tmp_path):
    from pipelines.clean_pr import split_repo_spec
    from transforms.io.readers import InputError

    assert split_repo_spec("/src/x=acme/x") == ("/src/x", "acme/x")
    assert split_repo_spec("/src/x=group/sub/x/") == ("/src/x", "group/sub/x")
    assert split_repo_spec("/src/x") == ("/src/x", None)
    odd = tmp_path / "a=b/c"
    odd.mkdir(parents=True)
    assert split_repo_spec(str(odd)) == (str(odd), None)  # an existing path is a path
    for bad in ("/src/x=acme", "/src/x=acme/../x", "/src/x=acme/x y"):
        with pytest.raises(InputError, match="must be OWNER/NAME"):
            split_repo_spec(bad)


def test_a_clone_missing_some_blobs_reads_every_pr(tmp_path):
    # A partial or damaged clone (here: a loose blob deleted) must not lose the repository: git's
    # rename detection and patch ids fail on the commits that need the blob, and only the PR whose
    # files cannot be read is rejected, with that reason.
    repo = Repo(tmp_path / "partial", origin="https://github.com/acme/partial.git")
    moved = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(30))
    repo.commit("Initial commit", {"shop/tax.py": TAX, "shop/helpers.py": moved})
    repo.squash(1, "Round the tax", {"shop/tax.py": TAX_V1})
    repo.squash(2, "Move the helpers", {"shop/helpers.py": None,
                                         "shop/util/helpers.py": moved.replace("x + 3", "x + 33")})
    repo.squash(3, "Report the tax", {"shop/report.py": REPORT})
    lost = repo.git("rev-parse", "HEAD~3:shop/helpers.py")
    (repo.path / ".git" / "objects" / lost[:2] / lost[2:]).unlink()
    assert subprocess.run(["git", "cat-file", "-e", lost], cwd=repo.path).returncode != 0
    out = tmp_path / "out"
    assert main(["clean-pr", "--git-repo", str(repo.path), "--output", str(out)]) == 0
    assert sorted(r["pr_number"] for r in table(out / "edits")) == [1, 3]
    assert reject_keys(out) == {("acme/partial", 2, "edit_samples", "missing_contents")}
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["conservation"]["holds"] and manifest["conservation"]["read"] == 3
    assert manifest["git_repositories"]["acme/partial"]["unreadable"] is False

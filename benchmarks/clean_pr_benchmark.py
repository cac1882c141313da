"""Clean-PR throughput: PRs/second of the whole pipeline vs. ``git log -p`` over the same commits.

    python benchmarks/clean_pr_benchmark.py                       # synthetic history (seeded)
    python benchmarks/clean_pr_benchmark.py --git-repo ~/src/flask  # any local clone

``git log -p`` (``git_history.git_log_patch`` over ``pr_commit_pairs``: the same first-parent
diffs the pipeline reads) is the floor: producing the diffs at all. The pipeline does much more
per PR (full before/after contents, file rules, Search/Replace reconstruction and replay,
tree-sitter before/after, intent, cropping, SWE-bench decontamination, exact + MinHash dedup,
per-repository cap, SFT steps with the repository tree and distractors, Parquet shards), so
the ratio says what all of that costs on top of the floor. ``read_seconds`` is ``pr_records``
alone (contents read through ``git cat-file --batch``), for the breakdown. ``stage_seconds``
are the run manifest's own per-stage timings (``timings.stage_seconds``: time spent inside each
stage's function, so their sum is less than ``pipeline_seconds``, the rest being Beam's own work
and the Parquet writes); ``peak_rss_mb`` is the process's maximum resident set (the pipeline runs
in it; git's child processes are not included).

``cpu_seconds`` is the pipeline's CPU time (user + system of this process and of the git
processes it waited for, from ``getrusage``), the figure the 10x goal is about:
``ratio_cpu_to_git_log_first_parent_p`` divides it by the CPU time of plain ``git log
--first-parent -p`` of the clone's HEAD (``git_log_first_parent_p_cpu_seconds``, an independent
floor: git alone, none of this code). On a clone that lacks blobs the patches need, git cannot
produce them, so the floors and ratios are null. ``startup_seconds`` / ``startup_cpu_seconds``: median of
``--startup-runs`` fresh ``python -m pipelines.cli clean-pr`` processes on a 3-PR synthetic
repository (imports, pipeline construction and Beam's fixed cost; 0 runs skips it).

``--direct`` adds ``direct_cpu_seconds``: the CPU seconds (``time.process_time``, min of
``--direct-repeats`` runs, caches emptied before each) of the stage functions alone, called in a
plain loop without Beam: read (``pr_records``), prepare + noise, edit_samples and sft, the
stages that do the work per PR. Beside ``stage_seconds`` it tells the cost of the functions
from the cost of running them in Beam.

Without ``--git-repo`` a history is synthesized with ``git fast-import`` (seconds, not
minutes): ``--files`` source files in Python, Go, Java, TypeScript, Rust and C (20-60 small
functions each) plus docs and config, then ``--prs`` pull requests, 70% squash merges and 30%
merge commits of a one-commit branch. A PR edits 1-3 source files (change a constant, insert
a function, delete a function); some add, delete or rename a file; 5% are bot PRs on config
files, 5% docs-only, 2% touch more than five files. Everything is drawn from ``--seed``.

The pipeline runs in-process on Beam's FnApiRunner (``--workers`` > 1 uses
multi_processing); seconds are wall time from ``run()`` to the finished output, imports and
repository synthesis excluded. ``--repo-cap`` defaults to 0 here, so on one synthetic repository
every sample gets the full (SFT) work instead of 2,000 of them. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

T0 = 1_600_000_000
LANGUAGES = {
    "py": ("def fn_{name}(a, b):\n    value = a * {k} + b\n    if value > {m}:\n        return value - {m}\n"
           "    return value\n\n\n"),
    "go": ("func fn{Name}(a int, b int) int {{\n\tvalue := a*{k} + b\n\tif value > {m} {{\n\t\treturn value - {m}\n"
           "\t}}\n\treturn value\n}}\n\n"),
    "java": ("    public static int fn{Name}(int a, int b) {{\n        int value = a * {k} + b;\n"
             "        if (value > {m}) {{\n            return value - {m};\n        }}\n        return value;\n    }}\n\n"),
    "ts": ("export function fn{Name}(a: number, b: number): number {{\n  const value = a * {k} + b;\n"
           "  if (value > {m}) {{\n    return value - {m};\n  }}\n  return value;\n}}\n\n"),
    "rs": ("pub fn fn_{name}(a: i64, b: i64) -> i64 {{\n    let value = a * {k} + b;\n    if value > {m} {{\n"
           "        return value - {m};\n    }}\n    value\n}}\n\n"),
    "c": ("int fn_{name}(int a, int b) {{\n    int value = a * {k} + b;\n    if (value > {m}) {{\n"
          "        return value - {m};\n    }}\n    return value;\n}}\n\n"),
}
HEADERS = {"py": "", "go": "package {pkg}\n\n", "java": "package {pkg};\n\npublic class {Cls} {{\n\n",
           "ts": "", "rs": "", "c": "#include <stdio.h>\n\n"}
FOOTERS = {"java": "}\n"}
WORDS = ("parse render store fetch merge split count index cache queue token frame route scale filter "
         "encode decode verify sign pack unpack load save open close flush query match limit order").split()
DIRS = ("core", "api", "util", "net", "db", "ui", "cli", "io", "auth", "jobs")


class Synth:
    """Generates a history as a ``git fast-import`` stream; files are kept as lists of function texts."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.files: dict[str, list[str]] = {}
        self.counter = 0
        self.clock = T0

    def function(self, ext: str) -> str:
        self.counter += 1
        name = f"{self.rng.choice(WORDS)}_{self.rng.choice(WORDS)}_{self.counter}"
        capitalized = "".join(part.capitalize() for part in name.split("_"))
        return LANGUAGES[ext].format(name=name, Name=capitalized, k=self.rng.randint(2, 99), m=self.rng.randint(100, 999))

    def new_path(self, ext: str) -> str:
        self.counter += 1
        return f"{self.rng.choice(DIRS)}/{self.rng.choice(WORDS)}_{self.counter}.{ext}"

    def render(self, path: str) -> str:
        ext = path.rsplit(".", 1)[1]
        if ext not in LANGUAGES:
            return "".join(self.files[path])
        stem = path.rsplit("/", 1)[1].split(".")[0]
        header = HEADERS[ext].format(pkg=path.split("/")[0], Cls="".join(p.capitalize() for p in stem.split("_")))
        return header + "".join(self.files[path]) + FOOTERS.get(ext, "")

    def source_paths(self) -> list[str]:
        return sorted(p for p in self.files if p.rsplit(".", 1)[1] in LANGUAGES)

    def edit_source(self, path: str) -> None:
        functions = self.files[path]
        action = self.rng.random()
        ext = path.rsplit(".", 1)[1]
        if action < 0.6 or len(functions) < 3:
            index = self.rng.randrange(len(functions))
            old = functions[index]
            functions[index] = old.replace(" > ", " >= ", 1) if " > " in old else old.replace(">=", ">", 1)
            if functions[index] == old:
                functions[index] = self.function(ext)
        elif action < 0.85:
            functions.insert(self.rng.randrange(len(functions) + 1), self.function(ext))
        else:
            del functions[self.rng.randrange(len(functions))]

    def initial(self, n_files: int) -> dict[str, str]:
        exts = list(LANGUAGES)
        for i in range(n_files):
            ext = exts[i % len(exts)]
            self.files[self.new_path(ext)] = [self.function(ext) for _ in range(self.rng.randint(20, 60))]
        self.files["README.md"] = ["# synthetic\n", "A generated repository.\n"]
        self.files["docs/guide.md"] = ["# Guide\n"]
        self.files["config/settings.yaml"] = ["version: 1\n"]
        return {path: self.render(path) for path in self.files}

    def pull_request(self) -> tuple[str, dict[str, str | None], str]:
        """(kind, changes path -> contents or None for a deletion, author)."""
        roll = self.rng.random()
        if roll < 0.05:
            self.files["config/settings.yaml"].append(f"key_{self.counter}: {self.rng.randint(1, 9)}\n")
            self.counter += 1
            return "bot", {"config/settings.yaml": self.render("config/settings.yaml")}, "dependabot[bot]"
        if roll < 0.10:
            self.files["docs/guide.md"].append(f"Section {self.counter}: {self.rng.choice(WORDS)}.\n")
            self.counter += 1
            return "docs", {"docs/guide.md": self.render("docs/guide.md")}, "writer"
        changes: dict[str, str | None] = {}
        sources = self.source_paths()
        count = self.rng.randint(6, 8) if roll < 0.12 else self.rng.choice((1, 1, 1, 2, 2, 3))
        for path in self.rng.sample(sources, min(count, len(sources))):
            self.edit_source(path)
            changes[path] = self.render(path)
        structural = self.rng.random()
        if structural < 0.05:
            ext = self.rng.choice(list(LANGUAGES))
            path = self.new_path(ext)
            self.files[path] = [self.function(ext) for _ in range(self.rng.randint(3, 10))]
            changes[path] = self.render(path)
        elif structural < 0.08 and len(sources) > 50:
            victim = self.rng.choice([p for p in sources if p not in changes])
            del self.files[victim]
            changes[victim] = None
        elif structural < 0.11:
            old = self.rng.choice([p for p in sources if p not in changes])
            new = self.new_path(old.rsplit(".", 1)[1])
            self.files[new] = self.files.pop(old)
            self.edit_source(new)
            changes[old], changes[new] = None, self.render(new)
        return "code", changes, self.rng.choice(("alice", "bob", "carol", "dave", "erin"))

    def stamp(self, name: str) -> str:
        self.clock += 600
        return f"{name} <{name.replace('[bot]', '')}@example.com> {self.clock} +0000"


def _data(text: str) -> bytes:
    raw = text.encode("utf-8")
    return b"data %d\n" % len(raw) + raw + b"\n"


def _modifications(changes: dict[str, str | None]) -> bytes:
    out = b""
    for path, content in sorted(changes.items(), key=lambda item: item[1] is not None):  # deletions first
        out += f"D {path}\n".encode() if content is None else f"M 100644 inline {path}\n".encode() + _data(content)
    return out


def synthesize(path: Path, n_files: int, n_prs: int, seed: int) -> None:
    """Write a repository with ``n_prs`` squash/merge PRs into ``path`` through ``git fast-import``."""
    synth = Synth(seed)
    stream = bytearray()
    stream += b"commit refs/heads/main\nmark :1\n" + f"committer {synth.stamp('carol')}\n".encode()
    stream += _data("Initial commit") + _modifications(synth.initial(n_files))
    tip, mark = 1, 1
    for number in range(1, n_prs + 1):
        kind, changes, author = synth.pull_request()
        title = f"{kind.capitalize()} change {number}: {synth.rng.choice(WORDS)} {synth.rng.choice(WORDS)}"
        body = f"Part of the {synth.rng.choice(WORDS)} work." + (f" Fixes #{synth.rng.randint(1, number)}" if number % 4 == 0 else "")
        if synth.rng.random() < 0.7:
            mark += 1
            stream += f"commit refs/heads/main\nmark :{mark}\n".encode()
            stream += f"author {synth.stamp(author)}\ncommitter {synth.stamp('merger')}\n".encode()
            stream += _data(f"{title} (#{number})\n\n{body}\n") + f"from :{tip}\n".encode() + _modifications(changes)
        else:
            mark += 1
            branch = mark
            stream += f"commit refs/heads/pr-branch\nmark :{branch}\n".encode()
            stream += f"author {synth.stamp(author)}\ncommitter {synth.stamp(author)}\n".encode()
            stream += _data(title + "\n") + f"from :{tip}\n".encode() + _modifications(changes)
            mark += 1
            stream += f"commit refs/heads/main\nmark :{mark}\ncommitter {synth.stamp('merger')}\n".encode()
            stream += _data(f"Merge pull request #{number} from {author}/pr-{number}\n\n{title}\n\n{body}\n")
            stream += f"from :{tip}\nmerge :{branch}\n".encode() + _modifications(changes)
        tip = mark
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True, env=env)
    subprocess.run(["git", "--git-dir", str(path), "fast-import", "--quiet"], input=bytes(stream), check=True, env=env)
    subprocess.run(["git", "--git-dir", str(path), "update-ref", "-d", "refs/heads/pr-branch"], check=True, env=env)
    subprocess.run(["git", "--git-dir", str(path), "gc", "-q"], check=True, env=env)


def _clear_caches() -> None:
    """Empty the per-process caches of the Clean-PR functions (a repeat starts cold)."""
    import functools

    from transforms.code import linguist, parse, repo_tree, sft

    for module in (linguist, parse, repo_tree, sft):
        for value in vars(module).values():
            if isinstance(value, functools._lru_cache_wrapper) and value.__name__ not in (  # noqa: SLF001
                    "language_for", "parser_for", "_definition_query"):
                value.cache_clear()
    for name in ("_parsed_cache", "_recent_trees"):
        cache = getattr(parse, name, None)
        if cache is not None:
            cache.clear()
    from transforms.code import languages

    getattr(languages, "_content_verdicts", {}).clear()
    if hasattr(parse, "_parsed_definitions"):
        parse._parsed_definitions[0] = 0  # noqa: SLF001


def direct_cpu_seconds(repo: Path, repeats: int) -> dict:
    """CPU seconds of the per-PR stage functions run without Beam (see the module notes)."""
    from transforms.code.git_history import pr_records
    from transforms.code.pr_sample import REPO_PATH_FIELD, CleanPrConfig, prepare_pr, screen_pr
    from transforms.code.stages import BuildEditSample, SftRows
    from transforms.records import Rejected

    best: dict[str, float] = {}
    for _ in range(max(1, repeats)):
        _clear_caches()
        spent = {}
        started = time.process_time()
        records = list(pr_records(repo))
        spent["read"] = time.process_time() - started
        for record in records:
            record[REPO_PATH_FIELD] = str(repo)
        config = CleanPrConfig()
        started = time.process_time()
        prepared = [p for p in map(prepare_pr, records) if not isinstance(p, Rejected)]
        screened = [p for p in (screen_pr(p, config) for p in prepared) if not isinstance(p, Rejected)]
        spent["prepare+noise"] = time.process_time() - started
        build = BuildEditSample([], config)
        started = time.process_time()
        samples = [s for s in map(build, screened) if not isinstance(s, Rejected)]
        spent["edit_samples"] = time.process_time() - started
        rows = SftRows(1, config.token_budget)
        rows.setup()
        started = time.process_time()
        for sample in samples:
            rows(sample)
        spent["sft"] = time.process_time() - started
        rows.teardown()
        for stage, seconds in spent.items():
            best[stage] = min(best.get(stage, float("inf")), seconds)
    return {stage: round(seconds, 2) for stage, seconds in best.items()} | {"total": round(sum(best.values()), 2)}


def _rounded(value: float | None) -> float | None:
    """``round(value, 2)``; None (git could not give the floor) stays None."""
    return None if value is None else round(value, 2)


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def git_log_first_parent_p(repo: Path) -> tuple[float, float, int] | None:
    """(wall s, CPU s, bytes) of ``git log --first-parent -p HEAD`` in ``repo``, git's own work only;
    None when git cannot (a clone that lacks blobs: there is no floor to compare with)."""
    from transforms.code.git_history import git_dir_of, git_env

    argv = ["git", "--git-dir", git_dir_of(repo), "log", "--first-parent", "-p", "--no-color", "--no-ext-diff", "HEAD"]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as sink:
        child = subprocess.Popen(argv, stdout=sink, stderr=subprocess.DEVNULL, env=git_env())
        _, status, usage = os.wait4(child.pid, 0)
        size = sink.tell()
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, size


def startup_seconds(runs: int) -> tuple[float, float]:
    """Median (wall s, CPU s) of fresh ``shardsmith clean-pr`` processes on a 3-PR synthetic clone."""
    import statistics

    walls, cpus = [], []
    with tempfile.TemporaryDirectory(prefix="clean-pr-startup-") as tmp:
        repo = Path(tmp) / "tiny.git"
        synthesize(repo, 6, 3, 0)
        argv = [sys.executable, "-m", "pipelines.cli", "clean-pr", "--git-repo", f"{repo}=bench/tiny",
                "--output", str(Path(tmp) / "out"), "--overwrite"]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        for _ in range(runs):
            started = time.perf_counter()
            child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
            walls.append(time.perf_counter() - started)
            cpus.append(usage.ru_utime + usage.ru_stime)
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"{' '.join(argv)} failed")
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--git-repo", help="benchmark this local clone instead of a synthetic history "
                                           "(PATH or PATH=OWNER/NAME, as the pipeline's flag)")
    parser.add_argument("--prs", type=int, default=3000, help="synthetic PRs")
    parser.add_argument("--files", type=int, default=300, help="synthetic source files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="FnApiRunner workers (multi_processing when > 1)")
    parser.add_argument("--repo-cap", type=int, default=0,
                        help="the pipeline's --repo-cap (default 0 here: every sample of the one repository gets SFT work)")
    parser.add_argument("--direct", action="store_true",
                        help="also time the per-PR stage functions without Beam (direct_cpu_seconds)")
    parser.add_argument("--direct-repeats", type=int, default=2)
    parser.add_argument("--startup-runs", type=int, default=1,
                        help="fresh 3-PR processes timed for startup_seconds (0: skip)")
    parser.add_argument("--keep", help="keep the output (and synthetic repository) under this directory")
    args = parser.parse_args()

    import warnings

    warnings.filterwarnings("ignore")
    import logging

    logging.basicConfig(level=logging.ERROR)
    from pipelines.clean_pr import run
    from transforms.code.git_history import git_log_patch, pr_commit_pairs, pr_records

    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="clean-pr-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.git_repo:
        from pipelines.clean_pr import split_repo_spec

        repo = Path(split_repo_spec(args.git_repo)[0])  # PATH=OWNER/NAME names a clone without origin
    else:
        repo = workdir / "synthetic.git"
        if not repo.exists():
            synthesize(repo, args.files, args.prs, args.seed)

    from transforms.code.git_history import GitError

    started = time.perf_counter()
    pairs = pr_commit_pairs(repo)
    try:
        patch_bytes = git_log_patch(repo, pairs)
        git_log_seconds = time.perf_counter() - started
    except GitError:  # a clone that lacks blobs the patches need: git itself cannot diff it
        patch_bytes = git_log_seconds = None

    started = time.perf_counter()
    read = sum(1 for _ in pr_records(repo))
    read_seconds = time.perf_counter() - started

    argv = ["--git-repo", args.git_repo or str(repo), "--output", str(workdir / "out"), "--overwrite", f"--repo-cap={args.repo_cap}"]
    if args.workers > 1:
        argv += ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]
    floor_wall, floor_cpu, floor_bytes = git_log_first_parent_p(repo) or (None, None, None)
    started, cpu_started = time.perf_counter(), _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
    manifest = run(argv)
    pipeline_seconds = time.perf_counter() - started
    cpu_seconds = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - cpu_started
    conservation = manifest["conservation"]
    peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    direct = direct_cpu_seconds(repo, args.direct_repeats) if args.direct else None
    startup = startup_seconds(args.startup_runs) if args.startup_runs > 0 else None
    print(json.dumps({
        "repo": "synthetic" if not args.git_repo else str(repo),
        "seed": args.seed if not args.git_repo else None,
        "prs_read": conservation["read"],
        "merged_pr_commits": len(pairs),
        "edits_written": conservation["written"],
        "rejected": conservation["rejected"],
        "deduplicated": conservation["deduplicated"],
        "sft_rows": manifest["datasets"].get("sft", {}).get("rows", 0),
        "conservation_holds": conservation["holds"],
        "pipeline_seconds": round(pipeline_seconds, 2),
        "prs_per_second": round(conservation["read"] / pipeline_seconds, 1),
        "read_seconds": round(read_seconds, 2),
        "read_prs": read,
        "git_log_p_seconds": _rounded(git_log_seconds),
        "git_log_p_bytes": patch_bytes,
        "ratio_pipeline_to_git_log_p": None if git_log_seconds is None else round(pipeline_seconds / git_log_seconds, 1),
        "cpu_seconds": round(cpu_seconds, 2),
        "git_log_first_parent_p_seconds": _rounded(floor_wall),
        "git_log_first_parent_p_cpu_seconds": _rounded(floor_cpu),
        "git_log_first_parent_p_bytes": floor_bytes,
        "ratio_cpu_to_git_log_first_parent_p": None if floor_cpu is None else round(cpu_seconds / max(floor_cpu, 1e-3), 1),
        "stage_seconds": manifest.get("timings", {}).get("stage_seconds", {}),
        "stage_seconds_total": round(sum(manifest.get("timings", {}).get("stage_seconds", {}).values()), 2),
        "peak_rss_mb": peak_rss_mb,
        **({"direct_cpu_seconds": direct} if direct is not None else {}),
        **({"startup_seconds": round(startup[0], 2), "startup_cpu_seconds": round(startup[1], 2)}
           if startup is not None else {}),
        "repo_cap": args.repo_cap,
        "workers": args.workers,
        "cpus": os.cpu_count(),
    }, sort_keys=False))
    return 0 if conservation["holds"] else 1


if __name__ == "__main__":
    sys.exit(main())

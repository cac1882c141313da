"""Near-dup benchmark: shardsmith ``NearDedup`` (Beam, FnApiRunner) vs datatrove's MinHash pipeline.

Usage: ``python benchmarks/dedup_benchmark.py --docs 1000000 --tools shardsmith_cli,shardsmith_cli_2procs,rensa
--workdir /tmp/bench-1m`` (``--workdir`` keeps the corpus: a second run with the same corpus flags reuses
it; ``SHARDSMITH_BENCH_CODE=/path/to/other/checkout`` runs that checkout's code on it, for before/after
figures). The corpus is streamed to Parquet (only the planted clusters are held, as word-index arrays),
so 1M or 10M documents can be generated. datatrove is slow at 1M on a small machine and needs its
package: leave it out of ``--tools`` there and run it at 100k.

Corpus (deterministic for ``--seed``): documents of ~``--words`` words (0.8x-1.2x) drawn from
a 5,000-word random-letter vocabulary with Zipf(1.0) frequencies, rendered with sentence
capitalization and punctuation (normalization must remove it). About 30% of the documents
sit in planted clusters: a base document plus 1-3 copies in which random words were
replaced until the copy's word-5-gram Jaccard with the base fell to a level cycling through
0.95, 0.85, 0.75 and 0.6. The levels below the threshold test precision.

Ground truth: the exact Jaccard of word 5-gram sets (normalized text) for every pair inside a
planted cluster. Pairs across clusters or with background documents are taken as 0: two
independent Zipf documents share a given 5-gram with probability ~ (sum p_w^2)^5 ~ 3e-9, so
~3e-4 shared shingles per pair; the script checks this on ``--background-pairs`` random pairs
and reports the largest Jaccard seen ("background_max_jaccard").

Metrics (document level): a document is a true duplicate if some document has exact Jaccard
>= threshold with it; truth components are the connected components of those pairs, and a
perfect tool removes all but one document of each (``must_remove`` = sum of size - 1).
  precision = removed documents that are true duplicates / removed documents
  recall    = sum over truth components of min(removed in it, size - 1) / must_remove

Each tool runs in its own subprocess on the same Parquet input (``--workers`` files), with
``--workers`` parallel workers and the same ngram / num_perm / bands x rows / seed:
  shardsmith_cli: the ``shardsmith dedup`` command itself (read, prepare, unique ids, exact and
      near dedup, Parquet shards + manifest), in-process runner (in_memory, one worker).
  shardsmith_cli_2procs: the same with ``--sign-processes 2``: the in-process runner, and the
      MinHash signatures computed in 2 local worker processes (``NearDedup(sign_processes=2)``).
  rensa: a single-process script on the ``rensa`` Rust MinHash (RMinHash + RMinHashLSH, same
      word 5-grams, 25 x 10 bands -> 250 permutations, since rensa's LSH needs num_perm =
      bands x rows), greedy: a document is dropped when an earlier kept one in a shared bucket
      has estimated Jaccard >= threshold. What a user could write instead, on one core.
  shardsmith: ReadFromParquet -> NearDedup (records wait in a spill dir) -> kept ids to text files; FnApiRunner with
      direct_num_workers=workers, direct_running_mode=multi_processing (workers > 1).
      "shardsmith_in_memory" repeats it with running mode in_memory (one process, one
      worker): FnApiRunner moves data between processes over gRPC at ~25 MB/s, so on few
      cores the single in-process worker is as fast and uses far less memory.
      ``speed_ratio`` compares the multi_processing run, ``speed_ratio_in_memory`` the other.
  datatrove: MinhashDedupSignature -> MinhashDedupBuckets -> MinhashDedupCluster ->
      MinhashDedupFilter (+ JsonlWriter of kept ids) on LocalPipelineExecutor
      (tasks = workers, workers = workers; the buckets step needs tasks = bands). Two
      offline adaptations, both neutral or favourable to datatrove: the English word
      tokenizer is a whitespace split (NLTK is not installed; its text is already stripped
      of punctuation by simplify_text), and datatrove's xxhash wrapper, which passes str to
      xxhash (xxhash>=4 wants bytes), is given a UTF-8 encoding shim. The minhash module is
      loaded from its file because ``datatrove.pipeline.dedup/__init__`` imports the HF
      ``tokenizers`` package, which is not installed and not used by MinHash.
Seconds are wall time of the subprocess (start-up included); ``cpu_s`` the user + system CPU
seconds of its whole process tree (wait4, or the /proc samples where descendants were not
reaped); ``peak_rss_mb`` is the peak of the
summed RSS of the subprocess tree sampled every 50 ms (shared pages counted per process);
``max_process_rss_mb`` is ru_maxrss from wait4 (largest single process of the tree). The
corpus is generated in its own subprocess so the launcher stays small (ru_maxrss carries
the pre-exec size of a forked child). Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _code in (str(REPO), os.environ.get("SHARDSMITH_BENCH_CODE")):
    if _code and _code not in sys.path[:1]:
        sys.path.insert(0, _code)  # SHARDSMITH_BENCH_CODE (another checkout) before this one

LEVELS = (0.95, 0.85, 0.75, 0.6)
NGRAM = 5
VOCAB_SIZE = 5000


# ----------------------------------------------------------------------------- corpus

def _vocabulary(rng) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    out: list[str] = []
    while len(out) < VOCAB_SIZE:
        word = "".join(rng.choice(list(letters), size=int(rng.integers(2, 11))))
        if word not in words:
            words.add(word)
            out.append(word)
    return out


def _render(words: list[str], seed: int) -> str:
    """Sentences of 6-20 words, capitalized, ending with . ! or ?, one comma each."""
    rnd = random.Random(seed)
    parts, i = [], 0
    while i < len(words):
        n = rnd.randint(6, 20)
        sentence = list(words[i:i + n])
        sentence[0] = sentence[0].capitalize()
        if len(sentence) > 4:
            sentence[rnd.randint(1, len(sentence) - 2)] += ","
        parts.append(" ".join(sentence) + rnd.choice(".....!?"))
        i += n
    return " ".join(parts)


def _shingle_set(words) -> set:
    words = [int(w) for w in words]
    if len(words) < NGRAM:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + NGRAM]) for i in range(len(words) - NGRAM + 1)}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if (a or b) else 1.0


def _planted_copy(base, target: float, cdf, rng):
    """Replace random words until (S - changed) / (S + changed) <= target (changed shingles)."""
    import numpy as np

    copy = base.copy()
    n_shingles = len(base) - NGRAM + 1
    changed: set[int] = set()
    while (n_shingles - len(changed)) / (n_shingles + len(changed)) > target:
        p = int(rng.integers(0, len(copy)))
        copy[p] = int(np.searchsorted(cdf, rng.random(), side="right"))
        changed.update(range(max(0, p - NGRAM + 1), min(p, n_shingles - 1) + 1))
    return copy


class Corpus:
    """The deterministic corpus of ``docs`` documents, generated without holding it whole.

    Words are vocabulary indices (int16). Only the planted clusters (~30% of the documents)
    are kept in memory, as index arrays; background documents are drawn from their own random
    stream while the documents are written in shuffled order (``rows``), so 1M or 10M
    documents need memory for the clusters only.
    """

    def __init__(self, docs: int, words: int, seed: int):
        import numpy as np

        self.docs, self.words, self.seed = docs, words, seed
        rng = np.random.default_rng(seed)
        self.vocab = _vocabulary(rng)
        weights = 1.0 / np.arange(1, VOCAB_SIZE + 1)
        self.cdf = np.cumsum(weights / weights.sum())
        self.cdf[-1] = 1.0
        self.id_width = max(7, len(str(max(docs - 1, 0))))
        n_clusters = max(1, docs // 10)
        self.cluster_words: list = []  # planted documents in generation order
        self.clusters: list[list[int]] = []  # generation indices, mapped to positions below
        self.levels: list[float] = []
        c = 0
        while len(self.cluster_words) < docs and c < n_clusters:
            base = self._random_words(rng)
            level = LEVELS[c % len(LEVELS)]
            members = [len(self.cluster_words)]
            self.cluster_words.append(base)
            for _ in range(int(rng.integers(1, 4))):
                if len(self.cluster_words) >= docs:
                    break
                members.append(len(self.cluster_words))
                self.cluster_words.append(_planted_copy(base, level, self.cdf, rng))
            self.clusters.append(members)
            self.levels.append(level)
            c += 1
        # shuffled order, so clusters are spread over files and batches: position -> generation index
        self.order = rng.permutation(docs)
        self.position_of_planted = np.empty(len(self.cluster_words), dtype=np.int64)
        planted = self.order < len(self.cluster_words)
        self.position_of_planted[self.order[planted]] = np.flatnonzero(planted)
        self.clusters = [[int(self.position_of_planted[m]) for m in members] for members in self.clusters]
        self.render_seed = int(rng.integers(0, 2**63))
        self.background_seed = int(rng.integers(0, 2**63))

    def _random_words(self, rng):
        import numpy as np

        length = int(self.words * rng.uniform(0.8, 1.2))
        return np.searchsorted(self.cdf, rng.random(length), side="right").astype(np.int16)

    def doc_id(self, position: int) -> str:
        return f"doc{position:0{self.id_width}d}"

    def words_at(self):
        """(position, word indices) of every document, in position order (streamed)."""
        import numpy as np

        background = np.random.default_rng(self.background_seed)
        planted = len(self.cluster_words)
        for position, generated in enumerate(self.order):
            generated = int(generated)
            yield position, (self.cluster_words[generated] if generated < planted else self._random_words(background))

    def rows(self):
        """``{id, text}`` per document, in position order, and the background sample for the truth."""
        render = random.Random(self.render_seed)
        for position, words in self.words_at():
            yield {"id": self.doc_id(position), "text": _render([self.vocab[w] for w in words],
                                                                 render.getrandbits(63))}, words


def ground_truth(corpus: Corpus, threshold: float, background_pairs: int, sample: list) -> dict:
    """Exact Jaccard of every planted pair; ``sample``: (position, words) of documents for the
    background check (pairs across clusters)."""
    import numpy as np

    from transforms.dedup.components import reference_components

    true_edges = []
    by_level: dict[float, list[float]] = {}
    generated_of = {int(p): g for g, p in enumerate(corpus.position_of_planted)}
    for members, level in zip(corpus.clusters, corpus.levels):
        sets = {m: _shingle_set(corpus.cluster_words[generated_of[m]]) for m in members}
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                j = _jaccard(sets[a], sets[b])
                if a == members[0]:
                    by_level.setdefault(level, []).append(j)
                if j >= threshold:
                    true_edges.append((a, b))
    components: dict[int, list[int]] = {}
    for node, root in reference_components(true_edges).items():
        components.setdefault(root, []).append(node)
    rng = np.random.default_rng(corpus.seed + 1)
    cluster_of = {m: ci for ci, members in enumerate(corpus.clusters) for m in members}
    background_max, checked, n = 0.0, 0, len(sample)
    while checked < background_pairs and n > 1:
        (a, wa), (b, wb) = (sample[int(x)] for x in rng.integers(0, n, size=2))
        if a == b or (a in cluster_of and cluster_of.get(a) == cluster_of.get(b)):
            continue
        background_max = max(background_max, _jaccard(_shingle_set(wa), _shingle_set(wb)))
        checked += 1
    return {
        "true_duplicates": {x for edge in true_edges for x in edge},
        "components": list(components.values()),
        "must_remove": sum(len(c) - 1 for c in components.values()),
        "planted_base_copy_jaccard": {
            str(level): [round(min(v), 3), round(float(np.mean(v)), 3), round(max(v), 3)]
            for level, v in sorted(by_level.items(), reverse=True)
        },
        "background_pairs_checked": checked,
        "background_max_jaccard": round(background_max, 4),
    }


def score(removed_ids: set[str], truth: dict) -> dict:
    removed = {int(rid[3:]) for rid in removed_ids}
    true_dups = truth["true_duplicates"]
    tp = len(removed & true_dups)
    precision = tp / len(removed) if removed else 1.0
    recovered = sum(min(len(removed.intersection(c)), len(c) - 1) for c in truth["components"])
    recall = recovered / truth["must_remove"] if truth["must_remove"] else 1.0
    return {"removed": len(removed), "true_positive": tp, "precision": round(precision, 4),
            "recall": round(recall, 4)}


def write_parquet(corpus: Corpus, folder: Path, files: int, sample_size: int) -> list:
    """Stream the corpus into ``files`` Parquet files (row groups of 4096); returns a sample of
    (position, words) spread over the corpus, for the background check."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    per_file = -(-corpus.docs // files)
    every = max(1, corpus.docs // max(1, sample_size))
    sample, chunk, writer, current = [], [], None, -1
    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    for row, words in corpus.rows():
        position = int(row["id"][3:])
        if position // per_file != current:
            if writer is not None:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                writer.close()
            current, chunk = position // per_file, []
            writer = pq.ParquetWriter(folder / f"part-{current:05d}.parquet", schema)
        chunk.append(row)
        if len(chunk) == 4096:
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            chunk = []
        if position % every == 0:
            sample.append((position, words))
    if writer is not None:
        writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
        writer.close()
    return sample


# ----------------------------------------------------------------------------- tools

def _config(args):
    from transforms.dedup.minhash import MinHashConfig

    params = {"threshold": args.threshold, "ngram": NGRAM, "seed": 1}
    if args.num_perm:
        params["num_perm"] = args.num_perm
    if args.no_verify:
        params["verify"] = False
    return MinHashConfig(**params)


def run_shardsmith(args) -> None:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from transforms.dedup.beam import NearDedup

    config = _config(args)
    mode = args.running_mode or ("multi_processing" if args.workers > 1 else "in_memory")
    options = PipelineOptions(flags=[], direct_num_workers=args.workers, direct_running_mode=mode)
    with beam.Pipeline(runner=FnApiRunner(), options=options) as p:
        records = p | "Read" >> beam.io.ReadFromParquet(str(Path(args.input) / "*.parquet"))
        kept, _removed = records | "Near" >> NearDedup(config=config, spill_dir=str(Path(args.output) / "spill"))
        kept | "Ids" >> beam.Map(lambda r: r["id"]) | "Write" >> beam.io.WriteToText(
            str(Path(args.output) / "kept"), file_name_suffix=".txt")


def run_datatrove(args) -> None:
    import importlib.util

    import datatrove
    import datatrove.utils.hashes.xxhash as datatrove_xxhash
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.word_tokenizers import WordTokenizer

    datatrove_xxhash.xxhash64 = _xxhash64_str
    datatrove_xxhash.xxhash32 = _xxhash32_str

    # registered under its real name; "fork" workers inherit it, so unpickling never imports
    # the package __init__ (which needs the uninstalled HF tokenizers)
    name = "datatrove.pipeline.dedup.minhash"
    source = Path(datatrove.__file__).parent / "pipeline" / "dedup" / "minhash.py"
    spec = importlib.util.spec_from_file_location(name, source)
    minhash = importlib.util.module_from_spec(spec)
    sys.modules[name] = minhash
    spec.loader.exec_module(minhash)

    class WhitespaceTokenizer(WordTokenizer):
        def word_tokenize(self, text):
            return text.split()

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            return [(0, len(text))]

    ours = _config(args)
    bands, rows = ours.band_layout
    config = minhash.MinhashConfig(n_grams=NGRAM, num_buckets=bands, hashes_per_bucket=rows, seed=1)
    work = Path(args.output)
    workers = args.workers
    sigs = LocalPipelineExecutor(
        pipeline=[ParquetReader(args.input, glob_pattern="*.parquet"),
                  minhash.MinhashDedupSignature(str(work / "sigs"), config=config, language=WhitespaceTokenizer())],
        tasks=workers, workers=workers, logging_dir=str(work / "logs" / "signatures"), start_method="fork")
    buckets = LocalPipelineExecutor(
        pipeline=[minhash.MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=config)],
        tasks=bands, workers=workers, logging_dir=str(work / "logs" / "buckets"), start_method="fork", depends=sigs)
    cluster = LocalPipelineExecutor(
        pipeline=[minhash.MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=config)],
        tasks=1, logging_dir=str(work / "logs" / "cluster"), start_method="fork", depends=buckets)
    filtered = LocalPipelineExecutor(
        pipeline=[ParquetReader(args.input, glob_pattern="*.parquet"),
                  minhash.MinhashDedupFilter(str(work / "remove")),
                  JsonlWriter(str(work / "kept"), compression=None, adapter=_id_only)],
        tasks=workers, workers=workers, logging_dir=str(work / "logs" / "filter"), start_method="fork", depends=cluster)
    filtered.run()


def run_shardsmith_cli(args) -> None:
    """The product itself: ``shardsmith dedup`` (read, prepare, unique ids, exact + near, write)."""
    from pipelines import cli

    mode = args.running_mode or ("multi_processing" if args.workers > 1 else "in_memory")
    argv = ["dedup", str(Path(args.input)), "--text-column", "text", "--id-column", "id",
            "--output", str(Path(args.output) / "run"), "--threshold", str(args.threshold),
            "--ngram", str(NGRAM), f"--direct_running_mode={mode}"]
    if mode == "in_memory":  # one Beam worker; more processes only for the signatures
        argv += ["--direct_num_workers=1"] + ([f"--sign-processes={args.workers}"] if args.workers > 1 else [])
    else:
        argv += [f"--direct_num_workers={args.workers}"]
    if args.num_perm:
        argv += ["--num-perm", str(args.num_perm)]
    code = cli.main(argv)
    if code not in (0, None):
        raise SystemExit(code)


def run_rensa(args) -> None:
    """What a user could write instead: one process, rensa's Rust MinHash + LSH, same shingles and
    bands x rows; a document is removed when an earlier kept one in a shared bucket has an
    estimated Jaccard >= threshold (greedy, input order)."""
    import re

    import pyarrow.parquet as pq
    from rensa import RMinHash, RMinHashLSH

    bands, rows = _config(args).band_layout
    num_perm = bands * rows  # rensa's LSH uses every permutation in a band: 25 x 10 -> 250
    word = re.compile(r"\w+")
    lsh = RMinHashLSH(threshold=args.threshold, num_perm=num_perm, num_bands=bands)
    kept: list[str] = []
    minhashes: dict[int, RMinHash] = {}  # the LSH answers keys; the kept sketches verify candidates
    index = 0
    for path in sorted(Path(args.input).glob("*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096, columns=["id", "text"]):
            for doc_id, text in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist()):
                words = word.findall(text.lower())
                shingles = [" ".join(words[i:i + NGRAM]) for i in range(max(1, len(words) - NGRAM + 1))]
                m = RMinHash(num_perm=num_perm, seed=1)
                m.update(shingles)
                if any(m.jaccard(minhashes[c]) >= args.threshold for c in lsh.query(m)):
                    continue
                lsh.insert(index, m)
                minhashes[index] = m
                kept.append(doc_id)
                index += 1
    (Path(args.output) / "kept.txt").write_text("\n".join(kept) + "\n")


def _xxhash64_str(data):
    import xxhash

    return xxhash.xxh64_intdigest(data.encode("utf-8") if isinstance(data, str) else data)


def _xxhash32_str(data):
    import xxhash

    return xxhash.xxh32_intdigest(data.encode("utf-8") if isinstance(data, str) else data)


def _id_only(self, document) -> dict:
    return {"id": document.id}


def read_kept_ids(tool: str, output: Path) -> set[str]:
    ids: set[str] = set()
    if tool == "shardsmith_cli":
        import pyarrow.parquet as pq

        for path in (output / "run" / "kept").glob("*.parquet"):
            ids.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    elif tool in ("shardsmith", "rensa"):
        for path in output.glob("kept*.txt"):
            ids.update(line.strip() for line in path.read_text().splitlines() if line.strip())
    else:
        for path in (output / "kept").glob("*.jsonl"):
            ids.update(json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip())
    return ids


def _tree_rss_bytes(root_pid: int, cpu: dict | None = None) -> int:
    """Summed RSS of root_pid and all its descendants (from /proc); ``cpu[pid]`` gets each
    process's own user + system seconds so far."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    ticks: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ppid, resident = int(fields[1]), int(fields[21])
            ticks[int(entry)] = int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = resident * page
    total, stack = 0, [root_pid]
    hz = os.sysconf("SC_CLK_TCK")
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        if cpu is not None and pid in ticks:
            cpu[pid] = ticks[pid] / hz
        stack.extend(children.get(pid, []))
    return total


def measure(tool: str, args, input_dir: Path, output_dir: Path, running_mode: str | None = None,
            workers: int | None = None) -> dict:
    """Run one tool in a subprocess; wall seconds, sampled peak tree RSS, ru_maxrss."""
    workers = workers or args.workers
    if output_dir.exists():
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--run-tool", tool, "--input", str(input_dir),
           "--output", str(output_dir), "--threshold", str(args.threshold), "--workers", str(workers)]
    if args.num_perm:
        cmd += ["--num-perm", str(args.num_perm)]
    if args.no_verify:
        cmd.append("--no-verify")
    if running_mode:
        cmd += ["--running-mode", running_mode]
    env = _child_env()
    log_path = output_dir.parent / f"{tool}.log"
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
        peak = [0]
        cpu: dict[int, float] = {}
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], _tree_rss_bytes(proc.pid, cpu))
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{tool} failed with exit code {proc.returncode}:\n{tail}")
    # wait4 counts the child and the descendants it reaped; the samples also see descendants
    # that were never reaped (up to one 50 ms sample of each process's CPU is missed there)
    reaped = usage.ru_utime + usage.ru_stime
    return {"seconds": round(seconds, 2), "cpu_s": round(max(reaped, sum(cpu.values())), 2),
            "peak_rss_mb": round(peak[0] / 2**20, 1),
            "max_process_rss_mb": round(usage.ru_maxrss / 1024, 1)}


# ----------------------------------------------------------------------------- main

def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--num-perm", type=int, default=None, help="default: MinHashConfig's")
    parser.add_argument("--no-verify", action="store_true", help="shardsmith without signature verification")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--running-mode", choices=["in_memory", "multi_threading", "multi_processing"],
                        default=None, help=argparse.SUPPRESS)
    parser.add_argument("--also-in-memory", action=argparse.BooleanOptionalAction, default=True,
                        help="also time shardsmith with FnApiRunner in_memory (one process, one worker)")
    parser.add_argument("--skip-datatrove", action="store_true")
    parser.add_argument("--tools", default="shardsmith,shardsmith_in_memory,shardsmith_cli,shardsmith_cli_2procs,"
                                             "rensa,datatrove",
                        help="comma-separated runs (default: all; datatrove needs the datatrove package)")
    parser.add_argument("--background-pairs", type=int, default=2000)
    parser.add_argument("--workdir", default=None, help="kept afterwards if given")
    parser.add_argument("--run-tool", choices=["shardsmith", "shardsmith_cli", "rensa", "datatrove"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.run_tool == "shardsmith":
        return run_shardsmith(args)
    if args.run_tool == "datatrove":
        return run_datatrove(args)
    if args.run_tool == "shardsmith_cli":
        return run_shardsmith_cli(args)
    if args.run_tool == "rensa":
        return run_rensa(args)
    if args.prepare:
        return prepare(args, Path(args.prepare))

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="dedup-bench-"))
    try:
        # the corpus is built in a subprocess: this process stays small, so the tools it
        # launches do not inherit its memory high-water mark (exec keeps it in ru_maxrss)
        t0 = time.perf_counter()
        prepare_argv = ["--docs", str(args.docs), "--words", str(args.words), "--threshold", str(args.threshold),
                        "--seed", str(args.seed), "--workers", str(args.workers),
                        "--background-pairs", str(args.background_pairs)]
        stamp = workdir / "corpus.json"
        if not (args.workdir and stamp.exists() and json.loads(stamp.read_text()) == prepare_argv):
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--prepare", str(workdir), *prepare_argv],
                           check=True, env=_child_env(), cwd=str(REPO))
            stamp.write_text(json.dumps(prepare_argv))  # a --workdir run with the same corpus reuses it
        prep_seconds = time.perf_counter() - t0
        input_dir = workdir / "input"

        mode = "multi_processing" if args.workers > 1 else "in_memory"
        wanted = set(args.tools.split(","))
        if args.skip_datatrove:
            wanted.discard("datatrove")
        if not args.also_in_memory or mode == "in_memory":
            wanted.discard("shardsmith_in_memory")
        runs = [run for run in [("shardsmith", "shardsmith", mode, args.workers),
                                ("shardsmith_in_memory", "shardsmith", "in_memory", 1),
                                ("shardsmith_cli", "shardsmith_cli", "in_memory", 1),
                                ("shardsmith_cli_2procs", "shardsmith_cli", "in_memory", 2),
                                ("rensa", "rensa", None, 1),
                                ("datatrove", "datatrove", None, args.workers)] if run[0] in wanted]
        measured = {name: measure(tool, args, input_dir, workdir / f"out-{name}", running_mode, workers)
                    for name, tool, running_mode, workers in runs}

        with open(workdir / "truth.pkl", "rb") as f:
            truth = pickle.load(f)
        width = truth.pop("id_width")
        all_ids = {f"doc{i:0{width}d}" for i in range(args.docs)}
        result = {"docs": args.docs, "words": args.words, "threshold": args.threshold, "workers": args.workers,
                  "config": _config(args).describe(), "truth": truth.pop("summary"),
                  "prep_seconds": round(prep_seconds, 1)}
        for name, tool, running_mode, workers in runs:
            stats = measured[name]
            kept = read_kept_ids(tool, workdir / f"out-{name}")
            if not kept <= all_ids:
                raise RuntimeError(f"{tool} wrote ids that are not in the input")
            stats["docs_per_s"] = round(args.docs / stats["seconds"], 1)
            stats["rss_kb_per_doc"] = round(stats["peak_rss_mb"] * 1024 / args.docs, 2)
            stats.update(score(all_ids - kept, truth))
            stats["workers"] = workers
            if running_mode:
                stats["running_mode"] = running_mode
            result[name] = stats
        if "rensa" in result:
            for name in ("shardsmith", "shardsmith_in_memory", "shardsmith_cli", "shardsmith_cli_2procs"):
                if name in result:
                    result[f"cpu_vs_rensa_{name}"] = round(result[name]["cpu_s"] / result["rensa"]["cpu_s"], 2)
        if "datatrove" in result:
            for name in ("shardsmith", "shardsmith_in_memory"):
                if name in result:
                    suffix = name[len("shardsmith"):]
                    result["speed_ratio" + suffix] = round(
                        result[name]["docs_per_s"] / result["datatrove"]["docs_per_s"], 2)
        print(json.dumps(result))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def prepare(args, workdir: Path) -> None:
    """Write the corpus (Parquet, one file per worker) and the ground truth (truth.pkl)."""
    corpus = Corpus(args.docs, args.words, args.seed)
    sample = write_parquet(corpus, workdir / "input", args.workers, sample_size=4 * args.background_pairs)
    truth = ground_truth(corpus, args.threshold, args.background_pairs, sample)
    truth["id_width"] = corpus.id_width
    truth["summary"] = {
        "planted_docs": len(corpus.cluster_words), "true_duplicates": len(truth["true_duplicates"]),
        "must_remove": truth["must_remove"],
        "planted_base_copy_jaccard_min_mean_max": truth.pop("planted_base_copy_jaccard"),
        "background_pairs_checked": truth.pop("background_pairs_checked"),
        "background_max_jaccard": truth.pop("background_max_jaccard")}
    with open(workdir / "truth.pkl", "wb") as f:
        pickle.dump(truth, f)


def _child_env() -> dict:
    # SHARDSMITH_BENCH_CODE: another checkout whose code the tools run (before/after figures)
    code = os.environ.get("SHARDSMITH_BENCH_CODE", str(REPO))
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [code, str(REPO), os.environ.get("PYTHONPATH")])))


if __name__ == "__main__":
    main()

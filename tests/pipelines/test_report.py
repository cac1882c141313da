"""``shardsmith report``: figures from real sample runs (corpus, Dr. SCI, Verus, Clean-PR on a real git repo),
CLI errors, a hostile fake output, and the page loaded in headless Chromium (Debian's ``chromium``)."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from schemas.verus import ESCAPE_COLUMNS, FEATURE_COLUMNS
from transforms.io.readers import InputError
from transforms.io.report import INDEX_NAME, REPORT_DIR, collect_figures, render_chart, write_report

HERE = Path(__file__).resolve().parent

# The browser: Debian's chromium, never downloaded. CI sets SHARDSMITH_REQUIRE_BROWSER=1 so a missing one fails.
CHROMIUM = os.environ.get("SHARDSMITH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REQUIRE_BROWSER = os.environ.get("SHARDSMITH_REQUIRE_BROWSER") == "1"
HOSTILE = '<script>alert("x")</script>&<img src=x onerror=alert(1)> $\\frac{'


def _manifest(out: Path) -> dict:
    return json.loads((out / "_manifest.json").read_text())


def _sql(out: Path, sql: str) -> list[tuple]:
    return duckdb.sql(sql.replace("{out}", str(out))).fetchall()


def _chart(figures: dict, name: str) -> dict:
    (spec,) = [c for c in figures["charts"] if c["name"] == name]
    return spec


def _section(figures: dict) -> dict:
    (section,) = figures["sections"]
    return section


# --------------------------------------------------------------------------- real runs (each once per module)

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-runs")
    outs = {}
    for pipeline in ("corpus", "dr-sci", "verus"):
        outs[pipeline] = root / pipeline
        assert main([pipeline, "--output", str(outs[pipeline])]) == 0
    return outs


@pytest.fixture(scope="module")
def clean_pr_run(tmp_path_factory):
    """Clean-PR over the multi-language acme/shop repository the Clean-PR tests build with real git."""
    spec = importlib.util.spec_from_file_location("_clean_pr_test_helpers", HERE / "test_clean_pr.py")
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    root = tmp_path_factory.mktemp("report-clean-pr")
    shop = helpers.build_shop(root)
    out = root / "out"
    assert main(["clean-pr", "--git-repo", str(shop.path), "--output", str(out)]) == 0
    return out


def _fake_output(root: Path, pipeline: str, datasets: dict[str, pa.Table], *, success: bool = True,
                 extra: dict | None = None) -> Path:
    """A minimal finished-looking output: Parquet shards written with pyarrow and a hand-made manifest."""
    root.mkdir(parents=True, exist_ok=True)
    for name, table in datasets.items():
        (root / name).mkdir()
        pq.write_table(table, root / name / "part-00000-of-00001.parquet")
    manifest = {
        "pipeline": pipeline, "version": "0.0.0<b>", "options": {}, "primary_datasets": list(datasets)[:1],
        "stages": {"read": {"in": 5, "out": 4, "rejected": {HOSTILE: 1}, "removed": 0, "seconds": 0.1}},
        "rejects_by_stage_reason": {f"read/{HOSTILE}": 1}, "deduplicated_by_stage_method": {},
        "datasets": {name: {"rows": t.num_rows, "files": [{"path": f"{name}/part-00000-of-00001.parquet"}]}
                     for name, t in datasets.items()},
        "timings": {"total_seconds": 0.5}, "derived_stages": [],
        "conservation": {"read": 5, "written": 4, "rejected": 1, "deduplicated": 0, "holds": True},
        "notes": [f"note {HOSTILE}"], **(extra or {}),
    }
    (root / "_manifest.json").write_text(json.dumps(manifest))
    if success:
        (root / "_SUCCESS").write_text("")
    return root


# --------------------------------------------------------------------------- figures

@pytest.mark.parametrize("pipeline", ["corpus", "dr-sci", "verus"])
def test_funnel_and_stages_equal_the_manifest(runs, pipeline):
    out = runs[pipeline]
    manifest = _manifest(out)
    figures = collect_figures(str(out))
    c = manifest["conservation"]
    assert figures["conservation"] == c and c["holds"]
    funnel = figures["funnel"]
    assert (funnel["read"], funnel["kept"]) == (c["read"], c["written"])
    assert sum(funnel["rejected"].values()) == c["rejected"]
    assert sum(funnel["deduplicated"].values()) == c["deduplicated"]
    assert funnel["deduplicated"] == manifest["deduplicated_by_stage_method"]
    assert {**funnel["rejected"], **funnel["derived_rejected"]} == manifest["rejects_by_stage_reason"]
    chart = _chart(figures, "funnel")
    assert chart["values"][0] == c["read"] and chart["values"][-1] == c["written"]
    assert sum(v for v, cat in zip(chart["values"], chart["categories"]) if cat in ("rejected", "deduplicated")) \
        == c["rejected"] + c["deduplicated"]
    assert [s["stage"] for s in figures["stages"]] == list(manifest["stages"])
    for row in figures["stages"]:
        st = manifest["stages"][row["stage"]]
        assert (row["in"], row["out"], row["rejected"], row["removed"]) == (st["in"], st["out"], st["rejected"],
                                                                         st["removed"])
    assert figures["datasets"] == {k: {"rows": v["rows"], "files": len(v["files"])}
                                   for k, v in manifest["datasets"].items()}


def test_corpus_has_no_special_section(runs):
    figures = collect_figures(str(runs["corpus"]))
    assert figures["pipeline"] == "corpus" and figures["sections"] == []
    assert [c["name"] for c in figures["charts"]] == ["funnel"]
    assert figures["datasets"]["docs"]["rows"] == 10


def test_dr_sci_subject_split_and_skipped_difficulty(runs):
    out = runs["dr-sci"]
    figures = collect_figures(str(out))
    section = _section(figures)
    chart = _chart(figures, "dr_sci_subject_split")
    got = {(subject, split): n for split, values in chart["series"].items()
           for subject, n in zip(chart["labels"], values) if n}
    expected = {(s, sp): n for s, sp, n in _sql(
        out, "SELECT subject, split, count(*) FROM '{out}/questions/*.parquet' GROUP BY ALL")}
    assert got == expected and sum(got.values()) == _manifest(out)["conservation"]["written"]
    # The sample runs without an LLM endpoint: no difficulty chart, and the section says why.
    assert "dr_sci_difficulty" not in [c["name"] for c in figures["charts"]]
    assert any(m.startswith("difficulty: 11 question(s) without a difficulty") for m in section["messages"])


def test_verus_coverage_of_seeds_and_outputs_matches_the_manifest(runs):
    out = runs["verus"]
    coverage = _manifest(out)["verus"]["feature_coverage"]
    assert set(coverage) >= {"seeds", "programs", "tasks", "repairs"}
    chart = _chart(collect_figures(str(out)), "verus_feature_coverage")
    for label, table in coverage.items():
        values = chart["series"][f"{label} (n={table['n']})"]
        assert dict(zip(chart["labels"], values)) == {c: table["features"][c]["share"] for c in chart["labels"]}
    used = {c for t in coverage.values() for c, v in t["features"].items() if v["programs"]}
    assert set(chart["labels"]) == used and "feat_ensures" in used
    # The programs/ shares agree with a DuckDB count over the shards.
    n, having = _sql(out, "SELECT count(*), count_if(feat_ensures > 0) FROM '{out}/programs/*.parquet'")[0]
    assert coverage["programs"]["n"] == n and coverage["programs"]["features"]["feat_ensures"]["programs"] == having


def test_verus_coverage_falls_back_to_the_shards(tmp_path):
    """Without the manifest's per-output coverage (e.g. a remote run), it is computed with DuckDB."""
    columns = {c: [1, 0, 2] if c == "feat_requires" else [0, 0, 0] for c in FEATURE_COLUMNS + ESCAPE_COLUMNS}
    out = _fake_output(tmp_path / "verus", "verus", {"programs": pa.table({"id": ["a", "b", "c"], **columns})})
    figures = collect_figures(str(out))
    chart = _chart(figures, "verus_feature_coverage")
    assert chart["labels"] == ["feat_requires"] and chart["series"] == {"programs (n=3)": [0.6667]}
    messages = _section(figures)["messages"]
    assert "seed coverage: the manifest has no verus.feature_coverage.seeds" in messages
    assert "tasks coverage: no tasks/ dataset in this output" in messages


def test_clean_pr_languages_and_files_per_pr(clean_pr_run):
    out = clean_pr_run
    figures = collect_figures(str(out))
    languages = _chart(figures, "clean_pr_languages")
    expected = _sql(out, "SELECT language, count(*) FROM '{out}/edits/*.parquet' GROUP BY 1 ORDER BY 2 DESC, 1")
    assert list(zip(languages["labels"], languages["values"])) == expected
    assert {"python", "go", "java"} <= set(languages["labels"])
    files = _chart(figures, "clean_pr_files_per_pr")
    core = dict(_sql(out, "SELECT n_core_files, count(*) FROM '{out}/edits/*.parquet' GROUP BY 1"))
    changed = dict(_sql(out, "SELECT len(files), count(*) FROM '{out}/edits/*.parquet' GROUP BY 1"))
    assert {int(x): n for x, n in zip(files["labels"], files["series"]["core files edited"]) if n} == core
    assert {int(x): n for x, n in zip(files["labels"], files["series"]["changed files"]) if n} == changed
    assert sum(languages["values"]) == _manifest(out)["datasets"]["edits"]["rows"]


def test_missing_dataset_and_columns_are_reported_not_raised(tmp_path):
    questions = pa.table({"id": ["q1", "q2", "q3", "q4"], "subject": ["physics", None, "physics", "biology"],
                          "split": ["verifiable"] * 4})
    sci = collect_figures(str(_fake_output(tmp_path / "sci", "dr-sci", {"questions": questions})))
    assert "difficulty: questions/ has no column difficulty" in _section(sci)["messages"]
    chart = _chart(sci, "dr_sci_subject_split")
    assert dict(zip(chart["labels"], chart["series"]["verifiable"])) == {"(null)": 1, "biology": 1, "physics": 2}
    pr = collect_figures(str(_fake_output(tmp_path / "pr", "clean-pr", {"sft": pa.table({"id": ["s"]})})))
    assert _section(pr)["charts"] == [] and "languages: no edits/ dataset in this output" in _section(pr)["messages"]
    empty = collect_figures(str(_fake_output(tmp_path / "empty", "dedup", {})))
    assert empty["sections"] == [] and [c["name"] for c in empty["charts"]] == ["funnel"]


def test_difficulty_histogram_counts(tmp_path):
    difficulty = [0.125, 0.5, 0.5, None, 0.875, 0.5]
    questions = pa.table({"id": [f"q{i}" for i in range(6)], "subject": ["physics"] * 6,
                          "split": ["verifiable"] * 6, "difficulty": pa.array(difficulty, pa.float64())})
    out = _fake_output(tmp_path / "sci", "dr-sci", {"questions": questions})
    figures = collect_figures(str(out))
    chart = _chart(figures, "dr_sci_difficulty")
    assert dict(zip(chart["labels"], chart["values"])) == {"0.125": 1, "0.5": 3, "0.875": 1}
    assert "difficulty: 1 question(s) without a difficulty" in _section(figures)["messages"][0]


def test_charts_are_deterministic_pngs_with_hostile_labels():
    spec = {"name": "t", "kind": "barh", "title": HOSTILE, "xlabel": "x", "ylabel": "y",
            "labels": [HOSTILE, "$x$", "a" * 200], "values": [1, 2, 3]}
    png = render_chart(spec)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png == render_chart(spec)
    assert b"Software" not in png and b"matplotlib" not in png.lower()


# --------------------------------------------------------------------------- CLI

@pytest.mark.parametrize("case, message", [
    ("missing", "no such output directory"),
    ("no_manifest", "no _manifest.json"),
    ("unfinished", "not a finished run (no _SUCCESS)"),
])
def test_cli_user_errors_are_one_line_exit_2(tmp_path, capsys, case, message):
    out = tmp_path / "out"
    if case == "no_manifest":
        (out / "docs").mkdir(parents=True)
    elif case == "unfinished":
        _fake_output(out, "corpus", {"docs": pa.table({"id": ["a"]})}, success=False)
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("shardsmith: error: ") and str(out) in err and message in err
    assert not (out / REPORT_DIR).exists()
    with pytest.raises(InputError):
        write_report(str(out))


def test_cli_writes_a_self_contained_report(runs, tmp_path, capsys):
    out = runs["dr-sci"]
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert f"wrote {out / REPORT_DIR / INDEX_NAME}" in capsys.readouterr().out
    report = out / REPORT_DIR
    assert sorted(p.name for p in report.iterdir()) == ["dr_sci_subject_split.png", "funnel.png", INDEX_NAME]
    page = (report / INDEX_NAME).read_text()
    assert page.count("<img ") == 2 and page.count('src="data:image/png;base64,') == 2
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert not re.search(r"<(script|link|iframe|object|embed)\b", page, re.I)
    assert "conservation" in page and "read 23 = written 11 + rejected 9 + deduplicated 3" in page
    # _report/ never becomes a dataset; a second report gives the same bytes.
    assert "_report" not in collect_figures(str(out))["datasets"]
    first = {p.name: p.read_bytes() for p in report.iterdir()}
    assert main(["report", str(out), "--to", str(tmp_path / "again")]) == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "again").iterdir()} == first


def test_fsspec_output_and_target(runs):
    """OUT and --to may be fsspec URLs (here the in-memory filesystem)."""
    import fsspec

    fs = fsspec.filesystem("memory")
    src = runs["verus"]
    for path in src.rglob("*"):
        if path.is_file() and REPORT_DIR not in path.parts:
            fs.pipe(f"/report-test/{path.relative_to(src).as_posix()}", path.read_bytes())
    try:
        written = write_report("memory://report-test")
        assert written["index"] == f"memory://report-test/{REPORT_DIR}/{INDEX_NAME}"
        assert sorted(fs.ls(f"/report-test/{REPORT_DIR}", detail=False)) == sorted(
            f"/report-test/{REPORT_DIR}/{name}" for name in ["funnel.png", "verus_feature_coverage.png", INDEX_NAME])
        assert written["figures"]["funnel"]["read"] == _manifest(src)["conservation"]["read"]
    finally:
        fs.rm("/report-test", recursive=True)


def test_hostile_strings_are_escaped(tmp_path):
    questions = pa.table({"id": ["q1", "q2"], "subject": [HOSTILE, "physics"], "split": ["verifiable", HOSTILE],
                          "difficulty": [0.5, None]})
    out = _fake_output(tmp_path / "evil", "dr-sci", {"questions": questions})
    written = write_report(str(out))
    page = Path(written["index"]).read_text()
    assert "<script" not in page.lower() and "<img src=x" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "0.0.0&lt;b&gt;" in page and page.count("<img ") == 3


# --------------------------------------------------------------------------- headless Chromium

def _browser_or_skip() -> str:
    if os.path.exists(CHROMIUM) and shutil.which(CHROMIUM):
        return CHROMIUM
    if REQUIRE_BROWSER:
        pytest.fail(f"SHARDSMITH_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} not installed")


@pytest.fixture(scope="module")
def browser():
    executable = _browser_or_skip()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRE_BROWSER:
            pytest.fail("SHARDSMITH_REQUIRE_BROWSER=1 but the playwright package is missing")
        pytest.skip("playwright (Python package) not installed")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.mark.parametrize("pipeline, charts", [("verus", 2), ("clean-pr", 3)])
def test_page_renders_in_headless_chromium(browser, runs, clean_pr_run, tmp_path, pipeline, charts):
    out = clean_pr_run if pipeline == "clean-pr" else runs[pipeline]
    written = write_report(str(out), str(tmp_path / "report"))
    assert len(written["charts"]) == charts
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(Path(written["index"]).as_uri(), wait_until="load")
    images = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => ({complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}))")
    assert len(images) == charts
    assert all(i["complete"] and i["w"] > 0 and i["h"] > 0 for i in images), images
    assert page.title().startswith(f"shardsmith report: {pipeline}")
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 0
    if os.environ.get("SHARDSMITH_SCREENSHOT_DIR"):  # to look at the page by hand
        shutil.copy(tmp_path / "report.png", Path(os.environ["SHARDSMITH_SCREENSHOT_DIR"]) / f"{pipeline}.png")
    page.close()

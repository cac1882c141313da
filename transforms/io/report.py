"""The run report: a self-contained HTML page with PNG charts of a finished run.

    figures = collect_figures("out/sci")        # manifest + DuckDB aggregates -> plain dict
    charts = render_charts(figures)             # chart name -> PNG bytes (matplotlib, Agg)
    page = render_html(figures, charts)         # one HTML string, charts inlined as data: URIs
    write_report("out/sci")                     # all of the above into out/sci/_report/

Every run gets a header (pipeline, version, output, seconds, conservation), the stage funnel
(records read -> rejected by stage/reason, deduplicated by stage/method, kept), a stage table and
row counts per dataset. Clean-PR, Dr. SCI and Verus runs also get their distributions (languages
and files per PR; subject x split and the difficulty histogram; feature coverage of seeds vs
outputs). Distributions are DuckDB aggregates over the shards; a missing dataset or column turns
into a sentence in its section, never an exception. Every string from the data is escaped, the
page loads nothing from elsewhere (a Content-Security-Policy forbids it) and charts are rendered
deterministically (no timestamps, no software tag), so the same run gives the same report bytes.
"""
from __future__ import annotations

import base64
import html
import io
import posixpath

import duckdb
import fsspec

from transforms.io import manifest as mf
from transforms.errors import InputError
from transforms.io.outputs import check_not_overlapping

REPORT_DIR = "_report"
INDEX_NAME = "index.html"
GENERATOR = "shardsmith report"  # marks a folder as ours, so a later report may replace it
LABEL_WIDTH = 48  # chart labels longer than this are shortened

_COLORS = {"read": "#4c72b0", "rejected": "#c44e52", "deduplicated": "#dd8452", "kept": "#55a868"}
_SERIES_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


# --------------------------------------------------------------------------- checks and queries

def _fs_path(output: str):
    return fsspec.core.url_to_fs(output)


def load_finished_manifest(output: str) -> dict:
    """The manifest of the finished run in ``output``; InputError (one line, naming the path) otherwise."""
    fs, base = _fs_path(output)
    if not fs.isdir(base):
        raise InputError(f"{output}: no such output directory")
    if not fs.isfile(posixpath.join(base, mf.MANIFEST_NAME)):
        raise InputError(f"{output}: no {mf.MANIFEST_NAME} (not a shardsmith run?)")
    if not fs.isfile(posixpath.join(base, mf.SUCCESS_NAME)):
        raise InputError(f"{output}: not a finished run (no {mf.SUCCESS_NAME})")
    try:
        manifest = mf.read_manifest(output)
    except (ValueError, UnicodeError) as exc:
        raise InputError(f"{output}: unreadable {mf.MANIFEST_NAME}: {str(exc).splitlines()[0]}") from None
    if not isinstance(manifest, dict):
        raise InputError(f"{output}: {mf.MANIFEST_NAME} is not a JSON object")
    return manifest


class _Shards:
    """DuckDB views over the output's datasets, with the checks the sections need."""

    def __init__(self, output: str):
        from transforms.io.query import connect, view_name

        self._view_name = view_name
        try:
            self.con = connect(output)
        except InputError:  # no Parquet datasets at all
            self.con = None
        self.columns: dict[str, set[str]] = {}
        if self.con is not None:
            for (name,) in self.con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall():
                try:
                    described = self.con.execute(f'DESCRIBE "{name}"').fetchall()
                except duckdb.Error:  # unreadable shards: the dataset counts as missing
                    continue
                self.columns[name] = {row[0] for row in described}

    def missing(self, dataset: str, columns: tuple[str, ...] = ()) -> str | None:
        """A sentence saying what is missing for a query over ``dataset``/``columns``, or None."""
        view = self._view_name(dataset)
        if view not in self.columns:
            return f"no {dataset}/ dataset in this output"
        absent = [c for c in columns if c not in self.columns[view]]
        if absent:
            return f"{dataset}/ has no column {', '.join(absent)}"
        return None

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()


def _label(value) -> str:
    return "(null)" if value is None else str(value)


# --------------------------------------------------------------------------- figures

def _funnel(manifest: dict) -> dict:
    derived = {s.split("/", 1)[0] for s in manifest.get("derived_stages", [])}
    rejected = {k: int(n) for k, n in manifest.get("rejects_by_stage_reason", {}).items()
                if k.split("/", 1)[0] not in derived}
    derived_rejected = {k: int(n) for k, n in manifest.get("rejects_by_stage_reason", {}).items()
                        if k.split("/", 1)[0] in derived}
    c = manifest.get("conservation") or {}
    return {"read": c.get("read"), "kept": c.get("written"), "rejected": rejected,
            "deduplicated": {k: int(n) for k, n in manifest.get("deduplicated_by_stage_method", {}).items()},
            "derived_rejected": derived_rejected}


def _funnel_chart(funnel: dict) -> dict | None:
    bars = []
    if funnel["read"] is not None:
        bars.append(("records in (read)", funnel["read"], "read"))
    bars += [(f"rejected {k}", n, "rejected") for k, n in funnel["rejected"].items()]
    bars += [(f"deduplicated {k}", n, "deduplicated") for k, n in funnel["deduplicated"].items()]
    if funnel["kept"] is not None:
        bars.append(("kept (written)", funnel["kept"], "kept"))
    if not bars:
        return None
    return {"name": "funnel", "kind": "barh", "title": "Stage funnel: where every record read went",
            "xlabel": "records", "ylabel": "",
            "labels": [b[0] for b in bars], "values": [b[1] for b in bars], "categories": [b[2] for b in bars],
            "caption": "Records read, rejected (stage/reason), removed as duplicates (stage/method) and kept."}


def _stage_rows(manifest: dict) -> list[dict]:
    rows = []
    for name, st in manifest.get("stages", {}).items():
        rejected = {k: int(v) for k, v in (st.get("rejected") or {}).items()}
        rows.append({"stage": name, "in": st.get("in", 0), "out": st.get("out", 0), "rejected": rejected,
                     "rejected_total": sum(rejected.values()), "removed": st.get("removed", 0),
                     "seconds": st.get("seconds", 0.0)})
    return rows


def _section(key: str, title: str) -> dict:
    return {"key": key, "title": title, "charts": [], "tables": [], "messages": []}


def _clean_pr_section(shards: _Shards) -> dict:
    section = _section("clean_pr", "Clean-PR: edit samples")
    problem = shards.missing("edits", ("language",))
    if problem:
        section["messages"].append(f"languages: {problem}")
    else:
        rows = shards.rows("SELECT language, count(*) AS n FROM edits GROUP BY 1 ORDER BY n DESC, 1 NULLS LAST")
        if rows:
            section["charts"].append({
                "name": "clean_pr_languages", "kind": "barh", "title": "Edit samples by language",
                "xlabel": "samples", "ylabel": "language", "labels": [_label(r[0]) for r in rows],
                "values": [r[1] for r in rows], "caption": "Main language of each edit sample (edits.language)."})
        else:
            section["messages"].append("languages: edits/ has no rows")
    series = {}
    for column, sql_value, series_name in (("files", "len(files)", "changed files"),
                                           ("n_core_files", "n_core_files", "core files edited")):
        problem = shards.missing("edits", (column,))
        if problem:
            section["messages"].append(f"files per PR ({series_name}): {problem}")
            continue
        series[series_name] = dict(shards.rows(
            f"SELECT {sql_value} AS n, count(*) FROM edits WHERE {sql_value} IS NOT NULL GROUP BY 1 ORDER BY 1"))
    if series and any(series.values()):
        xs = sorted({x for counts in series.values() for x in counts})
        section["charts"].append({
            "name": "clean_pr_files_per_pr", "kind": "bars", "title": "Files per PR",
            "xlabel": "files in the PR", "ylabel": "samples", "labels": [str(x) for x in xs],
            "series": {name: [counts.get(x, 0) for x in xs] for name, counts in series.items()},
            "caption": "Samples by number of changed files (len(files)) and of core files edited (n_core_files)."})
    elif series:
        section["messages"].append("files per PR: edits/ has no rows")
    return section


def _dr_sci_section(shards: _Shards) -> dict:
    section = _section("dr_sci", "Dr. SCI: questions")
    problem = shards.missing("questions", ("subject", "split"))
    if problem:
        section["messages"].append(f"subject x split: {problem}")
    else:
        rows = shards.rows("SELECT subject, split, count(*) FROM questions GROUP BY ALL ORDER BY 1 NULLS LAST, 2")
        if rows:
            subjects = sorted({_label(r[0]) for r in rows})
            splits = sorted({_label(r[1]) for r in rows})
            counts = {(_label(r[0]), _label(r[1])): r[2] for r in rows}
            section["charts"].append({
                "name": "dr_sci_subject_split", "kind": "stacked_barh", "title": "Questions by subject and split",
                "xlabel": "questions", "ylabel": "subject", "labels": subjects,
                "series": {s: [counts.get((subject, s), 0) for subject in subjects] for s in splits},
                "caption": "questions.subject x questions.split."})
            section["tables"].append({
                "title": "Questions by subject x split", "columns": ["subject", *splits, "total"],
                "rows": [[subject, *[counts.get((subject, s), 0) for s in splits],
                          sum(counts.get((subject, s), 0) for s in splits)] for subject in subjects]})
        else:
            section["messages"].append("subject x split: questions/ has no rows")
    problem = shards.missing("questions", ("difficulty",))
    if problem:
        section["messages"].append(f"difficulty: {problem}")
    else:
        rows = shards.rows("SELECT round(difficulty, 4) AS d, count(*) FROM questions GROUP BY 1 ORDER BY 1 NULLS LAST")
        nulls = sum(n for d, n in rows if d is None)
        values = [(d, n) for d, n in rows if d is not None]
        if values:
            section["charts"].append({
                "name": "dr_sci_difficulty", "kind": "bar", "title": "Difficulty (pass rate of the solver rollouts)",
                "xlabel": "difficulty = n_correct / n_rollouts", "ylabel": "questions",
                "labels": [f"{d:g}" for d, _ in values], "values": [n for _, n in values],
                "caption": "Histogram of questions.difficulty (questions solved by every rollout are dropped)."})
        if nulls:
            section["messages"].append(f"difficulty: {nulls} question(s) without a difficulty "
                                       "(the LLM difficulty stage was skipped or failed for them)")
        if not rows:
            section["messages"].append("difficulty: questions/ has no rows")
    return section


def _coverage_from_shards(shards: _Shards, dataset: str, columns: list[str]) -> dict | None:
    view = shards._view_name(dataset)  # noqa: SLF001
    present = [c for c in columns if c in shards.columns.get(view, set())]
    if view not in shards.columns or not present:
        return None
    select = ", ".join(f'count_if("{c}" > 0)' for c in present)
    n, *having = shards.rows(f'SELECT count(*), {select} FROM "{view}"')[0]
    return {"n": n, "features": {c: {"programs": h, "share": round(h / n, 4) if n else 0.0}
                                 for c, h in zip(present, having)}}


def _verus_section(manifest: dict, shards: _Shards) -> dict:
    from schemas.verus import ESCAPE_COLUMNS, FEATURE_COLUMNS

    section = _section("verus", "Verus: feature coverage of seeds vs outputs")
    columns = list(FEATURE_COLUMNS + ESCAPE_COLUMNS)
    coverage = dict(((manifest.get("verus") or {}).get("feature_coverage")) or {})
    if "seeds" not in coverage:
        section["messages"].append("seed coverage: the manifest has no verus.feature_coverage.seeds")
    for dataset in ("programs", "tasks", "repairs", "synthesized", "synthesized_repairs"):
        if dataset in coverage:
            continue
        computed = _coverage_from_shards(shards, dataset, columns)
        if computed is not None:
            coverage[dataset] = computed
        elif dataset in ("programs", "tasks", "repairs"):
            section["messages"].append(f"{dataset} coverage: {shards.missing(dataset, ('feat_requires',))}")
    coverage = {label: table for label, table in coverage.items()
                if isinstance(table, dict) and isinstance(table.get("features"), dict)}
    if not coverage:
        return section
    names = [c for c in columns if any(c in t["features"] for t in coverage.values())]
    names += sorted({c for t in coverage.values() for c in t["features"]} - set(names))
    used = [c for c in names if any((t["features"].get(c) or {}).get("programs", 0) for t in coverage.values())]
    absent = [c for c in names if c not in used]
    labels = list(coverage)
    section["tables"].append({
        "title": "Programs having each feature (count, share)",
        "columns": ["feature", *[f"{label} (n={coverage[label].get('n', 0)})" for label in labels]],
        "rows": [[c, *[_coverage_cell(coverage[label]["features"].get(c)) for label in labels]] for c in used]})
    if used:
        section["charts"].append({
            "name": "verus_feature_coverage", "kind": "grouped_barh",
            "title": "Feature coverage: share of programs having each feature",
            "xlabel": "share of programs", "ylabel": "feature", "labels": used, "xlim": (0, 1),
            "series": {f"{label} (n={coverage[label].get('n', 0)})":
                       [float((coverage[label]["features"].get(c) or {}).get("share", 0.0)) for c in used]
                       for label in labels},
            "caption": "Share of programs with feat_*/escape_* > 0, for the seeds and each output dataset."})
    if absent:
        section["messages"].append(f"{len(absent)} feature(s) absent everywhere: " + ", ".join(absent))
    return section


def _coverage_cell(entry: dict | None) -> str:
    if not entry:
        return "-"
    return f"{entry.get('programs', 0)} ({float(entry.get('share', 0.0)):.0%})"


SECTIONS = {"clean-pr": lambda manifest, shards: _clean_pr_section(shards),
            "dr-sci": lambda manifest, shards: _dr_sci_section(shards),
            "verus": _verus_section}


def collect_figures(output: str) -> dict:
    """Everything the report shows, as plain data: header, funnel, stages, datasets, pipeline sections."""
    manifest = load_finished_manifest(output)
    shards = _Shards(output)
    funnel = _funnel(manifest)
    pipeline = str(manifest.get("pipeline", "?"))
    datasets = {name: {"rows": int(info.get("rows", 0)), "files": len(info.get("files", []))}
                for name, info in (manifest.get("datasets") or {}).items()}
    sections = []
    if pipeline in SECTIONS:
        try:
            sections.append(SECTIONS[pipeline](manifest, shards))
        except duckdb.Error as exc:  # unexpected column types and the like: say so, keep the rest
            section = _section(pipeline.replace("-", "_"), f"{pipeline}: distributions")
            section["messages"].append(f"could not compute the distributions: {str(exc).splitlines()[0]}")
            sections.append(section)
    charts = [c for c in [_funnel_chart(funnel)] if c] + [c for s in sections for c in s["charts"]]
    return {
        "output": output, "pipeline": pipeline, "version": str(manifest.get("version", "?")),
        "seconds": (manifest.get("timings") or {}).get("total_seconds"),
        "conservation": manifest.get("conservation"), "funnel": funnel, "stages": _stage_rows(manifest),
        "datasets": datasets, "primary_datasets": list(manifest.get("primary_datasets", [])),
        "notes": [str(n) for n in manifest.get("notes", [])], "sections": sections,
        "charts": charts,
    }


# --------------------------------------------------------------------------- charts

def _text(value, width: int = LABEL_WIDTH) -> str:
    """A label safe for matplotlib: no mathtext ($ escaped), one line, shortened."""
    text = str(value).replace("\n", " ").replace("\r", " ")
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.replace("$", r"\$")


def render_chart(spec: dict) -> bytes:
    """PNG bytes of one chart spec (kinds: barh, bar, bars, stacked_barh, grouped_barh)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    kind, labels = spec["kind"], [_text(x) for x in spec["labels"]]
    series = spec.get("series") or {}
    n = len(labels)
    horizontal = kind in ("barh", "stacked_barh", "grouped_barh")
    if horizontal:
        per_label = 0.12 * max(1, len(series)) + 0.08 if kind == "grouped_barh" else 0.32
        size = (9, min(40, max(2.6, 1.3 + per_label * n)))
    else:
        size = (max(6, min(14, 2 + 0.5 * n)), 4.2)
    with plt.rc_context({"font.size": 9}):
        fig, ax = plt.subplots(figsize=size, dpi=100)
        try:
            positions = np.arange(n)
            if kind == "barh":
                colors = [_COLORS.get(c, _SERIES_COLORS[0]) for c in spec.get("categories", ["read"] * n)]
                bars = ax.barh(positions, spec["values"], color=colors)
                ax.bar_label(bars, padding=2, fontsize=8)
                ax.set_yticks(positions, labels)
                ax.invert_yaxis()
            elif kind == "bar":
                bars = ax.bar(positions, spec["values"], color=_SERIES_COLORS[0])
                ax.bar_label(bars, padding=2, fontsize=8)
                ax.set_xticks(positions, labels)
            elif kind in ("bars", "grouped_barh"):
                width = 0.8 / max(1, len(series))
                for i, (name, values) in enumerate(series.items()):
                    offset = positions - 0.4 + width * (i + 0.5)
                    color = _SERIES_COLORS[i % len(_SERIES_COLORS)]
                    if kind == "bars":
                        ax.bar(offset, values, width, label=_text(name), color=color)
                    else:
                        ax.barh(offset, values, width, label=_text(name), color=color)
                if kind == "bars":
                    ax.set_xticks(positions, labels)
                else:
                    ax.set_yticks(positions, labels)
                    ax.invert_yaxis()
                ax.legend(loc="best", fontsize=8)
            elif kind == "stacked_barh":
                left = np.zeros(n)
                for i, (name, values) in enumerate(series.items()):
                    ax.barh(positions, values, left=left, label=_text(name),
                            color=_SERIES_COLORS[i % len(_SERIES_COLORS)])
                    left = left + np.asarray(values, dtype=float)
                ax.set_yticks(positions, labels)
                ax.invert_yaxis()
                ax.legend(loc="best", fontsize=8)
            else:
                raise ValueError(f"unknown chart kind {kind!r}")
            if spec.get("xlim"):
                ax.set_xlim(*spec["xlim"])
            else:  # counts: whole-number ticks
                (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
            ax.set_title(_text(spec["title"], 90))
            ax.set_xlabel(_text(spec.get("xlabel", ""), 90))
            ax.set_ylabel(_text(spec.get("ylabel", ""), 90))
            ax.grid(axis="x" if horizontal else "y", alpha=0.3)
            ax.set_axisbelow(True)
            fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", metadata={"Software": None})
            return buffer.getvalue()
        finally:
            plt.close(fig)


def render_charts(figures: dict) -> dict[str, bytes]:
    """Chart name -> PNG bytes for every chart of ``figures``, in page order."""
    return {spec["name"]: render_chart(spec) for spec in figures["charts"]}


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37;font-weight:bold}.broken{color:#c00;font-weight:bold}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.missing{color:#8a6d00}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}dd{margin:0}
"""
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _cell(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="n">{_e(value)}</td>'
    return f"<td>{_e(value)}</td>"


def _table(columns: list, rows: list[list], title: str | None = None) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    caption = f"<caption>{_e(title)}</caption>" if title else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(spec: dict, png: bytes | None) -> str:
    if png is None:
        return f'<p class="missing">chart {_e(spec["name"])} was not rendered</p>'
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="{_e(spec["name"])}"><img src="data:image/png;base64,{data}" alt="{_e(spec["title"])}">'
            f'<figcaption>{_e(spec.get("caption", spec["title"]))} ({_e(spec["name"])}.png)</figcaption></figure>')


def render_html(figures: dict, charts: dict[str, bytes]) -> str:
    """The self-contained report page: every data string escaped, charts inlined as data: URIs."""
    specs = {spec["name"]: spec for spec in figures["charts"]}
    c = figures.get("conservation")
    if c:
        verdict = "holds" if c.get("holds") else "BROKEN"
        conservation = (f'<span class="{"ok" if c.get("holds") else "broken"}">{verdict}</span>: read {_e(c.get("read"))}'
                        f' = written {_e(c.get("written"))} + rejected {_e(c.get("rejected"))} + deduplicated '
                        f'{_e(c.get("deduplicated"))}')
    else:
        conservation = '<span class="missing">the manifest has no conservation check</span>'
    seconds = figures.get("seconds")
    header = (f"<dl><dt>pipeline</dt><dd>{_e(figures['pipeline'])}</dd><dt>version</dt><dd>{_e(figures['version'])}</dd>"
              f"<dt>output</dt><dd>{_e(figures['output'])}</dd>"
              f"<dt>seconds</dt><dd>{_e(seconds if seconds is not None else '?')}</dd>"
              f"<dt>conservation</dt><dd>{conservation}</dd></dl>")
    parts = [f"<h1>shardsmith run report: {_e(figures['pipeline'])}</h1>", header, "<h2>Stage funnel</h2>"]
    if "funnel" in specs:
        parts.append(_figure(specs["funnel"], charts.get("funnel")))
    else:
        parts.append('<p class="missing">the manifest has no counts for a funnel</p>')
    derived = figures["funnel"].get("derived_rejected") or {}
    if derived:
        parts.append("<p>Rejected in derived stages (outside the conservation check): "
                     + ", ".join(f"{_e(k)} {_e(n)}" for k, n in derived.items()) + "</p>")
    parts.append("<h2>Stages</h2>")
    stage_rows = [[s["stage"], s["in"], s["out"], s["rejected_total"],
                   ", ".join(f"{k}: {n}" for k, n in s["rejected"].items()), s["removed"], s["seconds"]]
                  for s in figures["stages"]]
    parts.append(_table(["stage", "in", "out", "rejected", "rejected by reason", "removed", "seconds"], stage_rows)
                 if stage_rows else '<p class="missing">the manifest lists no stages</p>')
    parts.append("<h2>Datasets</h2>")
    primary = set(figures.get("primary_datasets", []))
    dataset_rows = [[name, "primary" if name in primary else "", d["rows"], d["files"]]
                    for name, d in figures["datasets"].items()]
    parts.append(_table(["dataset", "role", "rows", "files"], dataset_rows)
                 if dataset_rows else '<p class="missing">the manifest lists no datasets</p>')
    for section in figures["sections"]:
        parts.append(f'<section id="{_e(section["key"])}"><h2>{_e(section["title"])}</h2>')
        for spec in section["charts"]:
            parts.append(_figure(spec, charts.get(spec["name"])))
        for table in section["tables"]:
            parts.append(_table(table["columns"], table["rows"], table.get("title")))
        parts.extend(f'<p class="missing">{_e(m)}</p>' for m in section["messages"])
        parts.append("</section>")
    if figures.get("notes"):
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in figures["notes"]) + "</ul>")
    title = f"shardsmith report: {figures['pipeline']} {figures['output']}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta name="generator" content="{GENERATOR}">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


# --------------------------------------------------------------------------- writing

def check_report_dir(target: str, output: str) -> None:
    """A report goes into a new or empty folder, or one holding only an earlier report (its
    ``index.html`` made by this tool and PNG charts); anything else is an ``InputError``."""
    check_not_overlapping(target, [posixpath.join(output.rstrip("/"), name) for name in _dataset_names(output)],
                          what="--to")
    fs, base = fsspec.core.url_to_fs(target)
    if not fs.exists(base):
        return
    if not fs.isdir(base):
        raise InputError(f"--to {target}: exists and is not a directory")
    names = [posixpath.basename(p.rstrip("/")) for p in fs.ls(base, detail=False)]
    if not names:
        return
    index = posixpath.join(base, INDEX_NAME)
    ours = False
    if fs.isfile(index):
        with fs.open(index, "rb") as handle:
            ours = f'<meta name="generator" content="{GENERATOR}">'.encode() in handle.read(4096)
    foreign = [n for n in names if n != INDEX_NAME and not (n.endswith(".png") and fs.isfile(posixpath.join(base, n)))]
    if not ours or foreign:
        raise InputError(f"--to {target}: holds files that are not a shardsmith report "
                         f"({', '.join((foreign or names)[:3])}); choose a new or empty folder")


def _dataset_names(output: str) -> list[str]:
    fs, base = fsspec.core.url_to_fs(output)
    return [posixpath.basename(p.rstrip("/")) for p in fs.ls(base, detail=False)
            if fs.isdir(p) and posixpath.basename(p.rstrip("/")) != REPORT_DIR]


def write_report(output: str, to: str | None = None) -> dict:
    """Write ``index.html`` and one PNG per chart into ``to`` (default ``OUT/_report``); returns what was written."""
    figures = collect_figures(output)
    charts = render_charts(figures)
    page = render_html(figures, charts)
    target = to or posixpath.join(output.rstrip("/"), REPORT_DIR)
    check_report_dir(target, output)
    fs, base = fsspec.core.url_to_fs(target)
    fs.makedirs(base, exist_ok=True)
    written = []
    for name, png in charts.items():
        with fs.open(posixpath.join(base, f"{name}.png"), "wb") as handle:
            handle.write(png)
        written.append(f"{name}.png")
    with fs.open(posixpath.join(base, INDEX_NAME), "wb") as handle:
        handle.write(page.encode("utf-8"))
    return {"dir": target, "index": posixpath.join(target.rstrip("/"), INDEX_NAME), "charts": written,
            "figures": figures}


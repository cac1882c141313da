"""A pipeline as a declared list of steps; ``ShardRun.run_steps`` applies them in order.

Declaring steps imports no Beam: a step holds plain functions (``dict -> dict | Rejected``),
plain worker objects and options. The Beam wrappers that run them live in
``transforms.stages`` (map/filter/flatmap, unique, cap, batch, derive), ``transforms.io``
(read, checkpoint, write) and ``transforms.dedup.beam`` (dedup); the runner registers every
step's rejects and removals itself, so no step can forget them.

The vocabulary, in the order records meet them:

    Read / ReadFrom   files (JSONL, JSON, Parquet) / any items through a reader function;
                      consecutive reads form one ``read`` stage
    Map Filter FlatMap  a pure function per record (``transforms.stages.apply_stage``)
    Unique            one record per key value, the rest ``duplicate_<key>``
    Rate              quality raters' columns, batched
    Dedup             exact then MinHash near dedup -> ``duplicates/``; optional group resolver
    Cap               at most N records per group (seeded choice)
    Batch             a worker's method on batches of records (LLM, verifier): external calls
    Checkpoint        end of a phase: stored, resumable (``--resume``)
    Derive            a derived dataset made from the records at this point (outside conservation)
    Write             validate and shard the records into a dataset
    Custom            a pipeline-specific transform: ``apply(run, records, derived) -> records``
    Note              a manifest note (and optionally a console line); no records touched

``stage_table(steps)`` renders the list as the table each pipeline module's docstring shows
(``shardsmith steps CMD`` prints it; a test keeps the docstrings equal to it).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar


@dataclass(frozen=True)
class Step:
    """Common fields: the stage ``name`` (manifest, counters, rejects), what it does (``about``),
    the reject reasons or destinations it can give (``reasons``), a manifest ``note`` added when it runs."""

    name: str
    about: str = field(default="", kw_only=True)
    reasons: str = field(default="", kw_only=True)
    note: str | None = field(default=None, kw_only=True)
    kind: ClassVar[str] = ""


@dataclass(frozen=True)
class Read(Step):
    """Records of input files (``ShardRun.read``); ``adjust`` maps every record read (not a stage)."""

    files: tuple[str, ...] = ()
    position_field: str | None = None
    names: dict[str, str] | None = None
    adjust: Callable[[dict], dict] | None = None
    kind: ClassVar[str] = "read"


@dataclass(frozen=True)
class ReadFrom(Step):
    """Records of arbitrary items (git clones, seed files, CSVs): ``reader(item)`` yields records or
    ``transforms.io.readers.Unreadable``; an exception from it becomes one ``unreadable`` reject for
    the rest of the item. One worker per item, then the records are spread."""

    items: tuple[Any, ...] = ()
    reader: Callable[[Any], Any] | None = None
    adjust: Callable[[dict], dict] | None = None
    kind: ClassVar[str] = "read"


@dataclass(frozen=True)
class Map(Step):
    """``fn(record) -> record | Rejected``; ``counted=False``: a plain reshaping, not a stage."""

    fn: Callable = None
    id_field: str = "id"
    counted: bool = True
    kind: ClassVar[str] = "map"


@dataclass(frozen=True)
class Filter(Step):
    """``fn(record) -> None | reason | Rejected``."""

    fn: Callable = None
    id_field: str = "id"
    kind: ClassVar[str] = "filter"


@dataclass(frozen=True)
class FlatMap(Step):
    """``fn(record) -> iterable of records``; one ``Rejected`` among them rejects the input once."""

    fn: Callable = None
    id_field: str = "id"
    kind: ClassVar[str] = "flatmap"


@dataclass(frozen=True)
class Unique(Step):
    key_field: str = "id"
    kind: ClassVar[str] = "unique"


@dataclass(frozen=True)
class Dedup(Step):
    """Exact then near dedup as ``spec`` (``transforms.dedup.spec.DedupSpec``) says; the stages are
    ``dedup:exact`` and ``dedup:near`` (``name`` is only the label of the step)."""

    spec: Any = None
    kind: ClassVar[str] = "dedup"


@dataclass(frozen=True)
class Rate(Step):
    """Add every rater's ``quality_*`` columns (``transforms.quality.beam.RateRecords``: batched,
    models loaded once per worker, a record whose rating raises is a reject ``error:<Type>``)."""

    raters: tuple = ()
    text_field: str = "text"
    id_field: str = "id"
    kind: ClassVar[str] = "rate"


@dataclass(frozen=True)
class Cap(Step):
    """At most ``cap`` records per ``group_field`` value, chosen by ``keep(ids, cap, seed)``;
    ``detail`` formats the reject detail from ``group``, ``total`` and ``cap``."""

    group_field: str = ""
    id_field: str = "id"
    cap: int = 0
    seed: int = 0
    keep: Callable | None = None
    detail: str = "{group}: {total} records > cap {cap}"
    kind: ClassVar[str] = "cap"


@dataclass(frozen=True)
class Batch(Step):
    """``getattr(worker, method)(records) -> [record | Rejected, ...]`` on batches of up to
    ``batch_size``; ``worker.setup()`` / ``worker.close()`` once per worker when it has them. A batch
    whose call raises becomes rejects ``error:<Type>``."""

    worker: Any = None
    method: str = ""
    batch_size: int = 1
    kind: ClassVar[str] = "batch"


@dataclass(frozen=True)
class Checkpoint(Step):
    kind: ClassVar[str] = "checkpoint"


@dataclass(frozen=True)
class Derive(Step):
    """A derived dataset: ``fn(record) -> row | [rows] | None | Rejected`` on the records at this
    point (they flow on unchanged). A record that yields nothing is counted under stage ``name``
    (``rejected:<reason>``), not made a reject: its source record is written elsewhere. With
    ``unique``, one row per ``id`` (stage ``unique_<dataset>``)."""

    dataset: str = ""
    fn: Callable = None
    schema: Any = None
    sort_key: str = "id"
    unique: bool = False
    kind: ClassVar[str] = "derive"


@dataclass(frozen=True)
class Write(Step):
    """Validate against ``schema`` and shard into ``dataset`` (``name``); ``public`` maps each record
    first (e.g. drops private fields), not as a stage."""

    schema: Any = None
    primary: bool = False
    sort_key: str = "id"
    id_field: str = "id"
    public: Callable[[dict], dict] | None = None
    kind: ClassVar[str] = "write"


@dataclass(frozen=True)
class Custom(Step):
    """``apply(run, records, derived) -> records``: a transform only this pipeline has. ``derived``
    maps dataset names of earlier ``Derive`` steps to their rows. It registers its own rejects."""

    apply: Callable = None
    kind: ClassVar[str] = "custom"


@dataclass(frozen=True)
class Note(Step):
    """A manifest note (``note``); ``console`` also prints it to stderr."""

    console: bool = False
    kind: ClassVar[str] = "note"


def stage_table(steps: list[Step], width: int = 96) -> str:
    """The steps as an aligned text table: name (a dataset as ``name/``), kind, what it does, reasons."""
    rows = []
    for step in steps:
        if isinstance(step, Note):
            continue
        name = f"{step.dataset}/" if isinstance(step, Derive) else f"{step.name}/" if isinstance(step, Write) \
            else step.name
        rows.append((name, step.kind, step.about, step.reasons))
    if not rows:
        return ""
    name_w = max(len(r[0]) for r in rows) + 2
    kind_w = max(len(r[1]) for r in rows) + 2
    about_w = max(20, min(46, max(len(r[2]) for r in rows)))
    reason_w = max(20, width - name_w - kind_w - about_w - 2)
    lines = []
    for name, kind, about, reasons in rows:
        left = textwrap.wrap(about, about_w) or [""]
        right = textwrap.wrap(reasons, reason_w) or [""]
        for i in range(max(len(left), len(right))):
            a = left[i] if i < len(left) else ""
            r = right[i] if i < len(right) else ""
            first = i == 0
            lines.append(f"{name if first else '':<{name_w}}{kind if first else '':<{kind_w}}{a:<{about_w}}  {r}"
                         .rstrip())
    return "\n".join(lines)

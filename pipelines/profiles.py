"""What ``dedup`` and ``rate`` compare and score when they run on a build pipeline's output.

Each build pipeline declares here which dataset it builds and how that dataset is
deduplicated and rated afterwards (``shardsmith dedup OUT/edits --profile clean-pr``, the
Airflow DAGs): generic defaults (the ``text`` column, Gopher prose thresholds) are wrong for
code and for questions. Flags given explicitly override a profile. Beam-free, so the DAGs
and the CLI can read it cheaply; ``text_function`` is imported only when a run uses it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from transforms.errors import InputError

GENERIC = "generic"


@dataclass(frozen=True)
class Profile:
    """How the primary dataset of one build pipeline is deduplicated and rated."""

    dataset: str                      # the build's primary dataset folder
    id_column: str                    # its stable id
    text_column: str | None           # the column dedup and rate read ...
    text_function: str | None = None  # ... or "module:function" computing the text from a record
    text_reads: tuple[str, ...] = ()  # the columns that function reads
    shingles: str = "words"           # MinHash shingles: "words" or "code"
    raters: str = "gopher"            # what rate scores with
    default_thresholds: bool = True   # whether rate applies the Gopher prose thresholds
    why: str = ""

    def text_of(self) -> Callable[[dict], str] | None:
        """The function computing a record's text, or None when the text is a column."""
        if not self.text_function:
            return None
        module, _, name = self.text_function.partition(":")
        return getattr(importlib.import_module(module), name)


PROFILES: dict[str, Profile] = {
    "corpus": Profile("docs", "id", "text", why="prose documents: word shingles, Gopher thresholds"),
    "clean-pr": Profile("edits", "sample_id", None, "transforms.code.pr_sample:change_set_text", ("blocks",),
                        shingles="code",
                        raters="code", default_thresholds=False,
                        why="the change set (its Search/Replace blocks), not the rendered text with whole "
                            "files: PRs touching one large file are different PRs"),
    "dr-sci": Profile("questions", "id", "question", default_thresholds=False,
                      why="the question; Gopher's document thresholds (50+ words ...) reject most questions"),
    "verus": Profile("programs", "id", "program", shingles="code", raters="code", default_thresholds=False,
                     why="the program, with code shingles and the code rater"),
}


def profile(name: str | None) -> Profile | None:
    """The profile named by ``--profile`` (None for ``generic``); ``InputError`` for an unknown one."""
    if name in (None, "", GENERIC):
        return None
    if name not in PROFILES:
        raise InputError(f"--profile: unknown profile {name!r} (known: {', '.join([GENERIC, *PROFILES])})")
    return PROFILES[name]

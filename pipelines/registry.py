"""The pipelines the CLI knows: a Beam-free table, so listing them and ``--help`` import no Beam.

A pipeline module defines a ``PipelineOptions`` subclass whose flags come from
``pipelines.flags`` (so the same flags work from the CLI, ``python -m pipelines.cli NAME``,
Dataflow and Airflow's Beam operator) and a ``run(argv) -> manifest`` function. Built-in
pipelines are listed in ``BUILTIN`` with their run function as ``"module:function"``, imported
only when the pipeline runs. Third-party packages add pipelines through the
``shardsmith.pipelines`` entry point group (each entry point names a module that calls
``register(PipelineSpec(...))`` on import; ``flags`` may be ``OptionsClass._add_argparse_args``).
"""
from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Callable

from pipelines import flags
from transforms.errors import InputError


@dataclass(frozen=True)
class PipelineSpec:
    """What the CLI needs to know of a pipeline."""

    name: str
    help: str
    flags: tuple[Callable[[argparse.ArgumentParser], None], ...]  # every flag group the pipeline reads
    run: Callable[[list[str]], dict] | str  # or "module:function", imported when the pipeline runs
    positional_input: bool = False  # `shardsmith NAME INPUT ...` means `--input INPUT`

    def run_function(self) -> Callable[[list[str]], dict]:
        """The pipeline's ``run(argv)``, importing its module (and Beam) now."""
        if callable(self.run):
            return self.run
        module, _, function = self.run.partition(":")
        return getattr(importlib.import_module(module), function)

    def steps_function(self) -> Callable[[list[str]], list] | None:
        """The pipeline's ``steps_of(argv)`` (its declared step list), if its module has one."""
        module = self.run.__module__ if callable(self.run) else self.run.partition(":")[0]
        return getattr(importlib.import_module(module), "steps_of", None)


BUILTIN = (
    PipelineSpec("dedup", "exact + MinHash near-duplicate removal for any Parquet/JSONL dataset",
                 (flags.run_flags, flags.column_flags, flags.profile_flags, flags.dedup_flags), "pipelines.dedup:run",
                 positional_input=True),
    PipelineSpec("rate", "add quality_* scores (Gopher, code, fastText) to any Parquet/JSONL dataset "
                         "and apply thresholds",
                 (flags.run_flags, flags.column_flags, flags.profile_flags, flags.quality_flags, flags.rate_flags),
                 "pipelines.rate:run",
                 positional_input=True),
    PipelineSpec("corpus", "text corpus: rate, threshold and deduplicate documents into shards",
                 (flags.run_flags, flags.column_flags, flags.dedup_flags, flags.quality_flags), "pipelines.corpus:run"),
    PipelineSpec("clean-pr", "pull requests -> Search/Replace edit samples and Agentless-style SFT data",
                 (flags.run_flags, flags.dedup_flags, flags.clean_pr_flags), "pipelines.clean_pr:run"),
    PipelineSpec("dr-sci", "science Q/A sets -> questions with subject, split, difficulty and rubrics",
                 (flags.run_flags, flags.dedup_flags, flags.llm_flags, flags.column_map_flags, flags.dr_sci_flags,
                  flags.answer_flags),
                 "pipelines.dr_sci:run"),
    PipelineSpec("check-answers", "verdict (equivalent / different / unknown) of each row's answer against its "
                                  "reference, for any Parquet/JSONL table (an RL reward)",
                 (flags.run_flags, flags.answer_flags, flags.check_answers_flags), "pipelines.check_answers:run",
                 positional_input=True),
    PipelineSpec("verus", "Verus seed programs -> programs, proof-completion tasks, repair pairs, SFT export",
                 (flags.run_flags, flags.dedup_flags, flags.llm_flags, flags.column_map_flags, flags.verus_flags), "pipelines.verus:run"),
)
PIPELINES: dict[str, PipelineSpec] = {spec.name: spec for spec in BUILTIN}


def register(spec: PipelineSpec) -> PipelineSpec:
    """Make a pipeline available as ``shardsmith <name>``."""
    PIPELINES[spec.name] = spec
    return spec


def load_pipelines() -> dict[str, PipelineSpec]:
    """The built-in pipelines and any registered through entry points."""
    for ep in entry_points(group="shardsmith.pipelines"):
        importlib.import_module(ep.value)
    return PIPELINES


def _beam_parser() -> argparse.ArgumentParser:
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    seen = {}
    for cls in PipelineOptions.__subclasses__():
        seen.setdefault(str(cls), cls)
    for cls in seen.values():
        cls._add_argparse_args(parser)  # noqa: SLF001 - Beam's own way to list every flag
    return parser


def check_beam_args(args: list[str]) -> None:
    """Raise ``InputError`` for flags no pipeline or Beam option knows (Beam would only warn)."""
    _, unknown = _beam_parser().parse_known_args(args)
    if unknown:
        raise InputError(f"unknown option(s): {' '.join(unknown)}")

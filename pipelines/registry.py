"""Pipelines register themselves here; the CLI lists and runs what is registered.

A pipeline module defines a ``PipelineOptions`` subclass (so the same flags work from
the CLI, ``python -m pipelines.cli NAME``, Dataflow and Airflow's Beam operator) and a
``run(argv) -> manifest`` function, and calls ``register(PipelineSpec(...))``.
Third-party packages can add pipelines through the ``shardsmith.pipelines`` entry point
group (each entry point names a module that registers on import).
"""
from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Callable

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.io.readers import InputError

BUILTIN_MODULES = ("pipelines.dedup", "pipelines.rate", "pipelines.corpus", "pipelines.clean_pr", "pipelines.dr_sci",
                   "pipelines.verus")
PIPELINES: dict[str, "PipelineSpec"] = {}


@dataclass(frozen=True)
class PipelineSpec:
    """What the CLI needs to know of a pipeline."""

    name: str
    help: str
    options_classes: tuple[type[PipelineOptions], ...]  # every class whose flags the pipeline reads
    run: Callable[[list[str]], dict]
    positional_input: bool = False  # `shardsmith NAME INPUT ...` means `--input INPUT`


def register(spec: PipelineSpec) -> PipelineSpec:
    """Make a pipeline available as ``shardsmith <name>``."""
    PIPELINES[spec.name] = spec
    return spec


def load_pipelines() -> dict[str, PipelineSpec]:
    """Import the built-in pipeline modules and any registered through entry points."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in entry_points(group="shardsmith.pipelines"):
        importlib.import_module(ep.value)
    return PIPELINES


def _beam_parser() -> argparse.ArgumentParser:
    from apache_beam.options.pipeline_options import _BeamArgumentParser

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

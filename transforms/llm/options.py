"""Pipeline options of the LLM client (``--llm-*``), shared by every pipeline with LLM stages.

Beam parses all ``PipelineOptions`` subclasses into one namespace: these flags are
defined here only. Without ``--llm-base-url`` there is no config, the LLM stages are
skipped and their columns stay null (``skipped_note`` says so in the manifest and console).

The key is best given through ``SHARDSMITH_LLM_API_KEY`` or ``OPENAI_API_KEY``: it is then
read on each worker and never enters the pipeline options (which runners may show). A
``--llm-api-key`` value is redacted in the manifest (its name contains "key").

The cache defaults to ``$XDG_CACHE_HOME/shardsmith/llm`` (``~/.cache/shardsmith/llm``),
outside the output directory: outputs are replaced by ``--overwrite`` and written through a
temporary directory, while the cache should outlive runs so a rerun into a new output
costs no calls. The key leaves out the base URL, so runs against any replica of the same
model share it. ``--llm-cache-dir=none`` turns it off.

``--llm-log FILE`` appends each prompt and answer (cache hits included) to a JSONL file, so a
user can read what the model saw; ``--llm-timeout``, ``--llm-request-budget``,
``--llm-retry-after-max`` and ``--llm-run-max-retries`` bound the time spent on a request
(``transforms.llm.client`` explains each); ``--llm-max-tokens`` caps ``max_tokens`` for a server
with a small context window.
"""
from __future__ import annotations

import json

from pathlib import Path
from typing import Iterable

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.io.local_paths import user_cache_dir
from transforms.llm import flags
from transforms.llm.client import LlmConfig

CACHE_OFF = ("none", "off")


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/shardsmith/llm``, or ``~/.cache/shardsmith/llm``."""
    return user_cache_dir("llm")


class LlmOptions(PipelineOptions):
    """Endpoint, model, key, concurrency, retries, timeout and cache of the LLM client."""

    @classmethod
    def _add_argparse_args(cls, parser):
        flags.llm_flags(parser)


def config_from_options(options: PipelineOptions, *, model: str | None = None) -> LlmConfig | None:
    """The client config of a run, or None when no ``--llm-base-url`` was given.

    ``model`` overrides ``--llm-model`` for a stage that uses another model on the same
    endpoint (e.g. a verifier next to a solver).
    """
    opts = options.view_as(LlmOptions)
    if not opts.llm_base_url:
        return None
    model = model or opts.llm_model
    if not model:
        raise ValueError("--llm-model is required with --llm-base-url")
    cache_dir = opts.llm_cache_dir
    if cache_dir is None:
        cache_dir = default_cache_dir()
    elif cache_dir.strip().lower() in CACHE_OFF or not cache_dir.strip():
        cache_dir = None
    else:
        cache_dir = str(Path(cache_dir).expanduser().absolute())  # workers of a portable runner have their own cwd
    log_path = str(Path(opts.llm_log).expanduser().absolute()) if opts.llm_log else None
    return LlmConfig(base_url=opts.llm_base_url, model=model, api_key=opts.llm_api_key or None,
                     max_concurrency=opts.llm_max_concurrency, max_retries=opts.llm_max_retries,
                     timeout=opts.llm_timeout, cache_dir=cache_dir, request_budget=opts.llm_request_budget,
                     retry_after_max=opts.llm_retry_after_max, run_max_retries=opts.llm_run_max_retries,
                     log_path=log_path, max_tokens_cap=opts.llm_max_tokens,
                     extra_body=json.loads(opts.llm_extra_body) if opts.llm_extra_body else None)


def skipped_note(stages: Iterable[str]) -> str:
    """The manifest / console note of a run without an endpoint."""
    return (f"no --llm-base-url: LLM stages skipped ({', '.join(stages)}); their columns stay null")

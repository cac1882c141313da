"""The shared LLM client: OpenAI-compatible chat with concurrency, retries, a disk cache and strict parsing."""
from transforms.llm.client import (
    ChatRequest,
    Choice,
    Completion,
    LlmClient,
    LlmConfig,
    LlmError,
    ResponseCache,
    Secret,
    cache_key,
    llm_counters,
    request_body,
)
from transforms.llm.options import LlmOptions, config_from_options, default_cache_dir, skipped_note
from transforms.llm.parsing import (
    Parsed,
    extract_boxed,
    parse_json_object,
    parse_yes_no,
    required,
    with_retries,
    with_retries_many,
)

__all__ = [
    "ChatRequest", "Choice", "Completion", "LlmClient", "LlmConfig", "LlmError", "ResponseCache", "Secret",
    "cache_key", "llm_counters", "request_body",
    "LlmOptions", "config_from_options", "default_cache_dir", "skipped_note",
    "Parsed", "extract_boxed", "parse_json_object", "parse_yes_no", "required", "with_retries", "with_retries_many",
]

"""The shared LLM client: OpenAI-compatible chat with concurrency, retries, a disk cache and strict parsing.

Names are imported on first use (PEP 562), so ``transforms.llm.flags`` can be imported
without the client and Beam.
"""
import importlib

_MODULE_OF = {
    **dict.fromkeys(("ChatRequest", "Choice", "Completion", "LlmClient", "LlmConfig", "LlmError", "ResponseCache",
                     "Secret", "cache_key", "llm_counters", "request_body"), "transforms.llm.client"),
    **dict.fromkeys(("LlmOptions", "config_from_options", "default_cache_dir", "skipped_note"),
                    "transforms.llm.options"),
    **dict.fromkeys(("Parsed", "extract_boxed", "parse_json_object", "parse_yes_no", "required", "with_retries",
                     "with_retries_many"), "transforms.llm.parsing"),
}
__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'transforms.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)

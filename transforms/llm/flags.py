"""The ``--llm-*`` flags of the LLM client, declared without Beam (``pipelines.flags`` explains why)."""
from __future__ import annotations

from transforms.argtypes import at_least, json_object, positive


def llm_flags(parser) -> None:
    """Endpoint, model, key, concurrency, retries, deadlines, log and cache of the LLM client."""
    parser.add_argument("--llm-base-url", "--llm_base_url", dest="llm_base_url", default=None,
                        help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (vLLM); "
                             "without it LLM stages are skipped")
    parser.add_argument("--llm-model", "--llm_model", dest="llm_model", default=None,
                        help="model name sent with every request (part of the cache key)")
    parser.add_argument("--llm-api-key", "--llm_api_key", dest="llm_api_key", default=None,
                        help="API key; prefer the environment variable SHARDSMITH_LLM_API_KEY or OPENAI_API_KEY")
    parser.add_argument("--llm-max-concurrency", "--llm_max_concurrency", dest="llm_max_concurrency",
                        type=at_least(1), default=16, help="requests in flight per worker")
    parser.add_argument("--llm-max-retries", "--llm_max_retries", dest="llm_max_retries", type=at_least(0), default=5,
                        help="retries of a request after 429, 5xx, timeouts and connection errors")
    parser.add_argument("--llm-timeout", "--llm_timeout", dest="llm_timeout", type=positive, default=120.0,
                        help="seconds one attempt may take, the whole answer included")
    parser.add_argument("--llm-request-budget", "--llm_request_budget", dest="llm_request_budget", type=positive,
                        default=600.0, help="seconds one request may take in all, its retries and waits included; "
                                            "over it the record is rejected llm:timeout")
    parser.add_argument("--llm-retry-after-max", "--llm_retry_after_max", dest="llm_retry_after_max",
                        type=at_least(0, float), default=60.0,
                        help="longest Retry-After (seconds) honoured; a server asking for more is not retried "
                             "(llm:timeout)")
    parser.add_argument("--llm-run-max-retries", "--llm_run_max_retries", dest="llm_run_max_retries",
                        type=at_least(0), default=1000,
                        help="retries one stage may spend per worker in all; once spent, failures are final")
    parser.add_argument("--llm-max-tokens", "--llm_max_tokens", dest="llm_max_tokens", type=at_least(1), default=None,
                        help="upper bound of max_tokens in every request (a server with a small context window "
                             "refuses more than it holds)")
    parser.add_argument("--llm-extra-body", "--llm_extra_body", dest="llm_extra_body", type=json_object, default=None,
                        metavar="JSON", help="fields added to every request body, e.g. "
                                             "'{\"chat_template_kwargs\": {\"enable_thinking\": false}}' to turn off "
                                             "a hybrid model's thinking on vLLM/SGLang (part of the cache key)")
    parser.add_argument("--llm-log", "--llm_log", dest="llm_log", default=None,
                        help="append every prompt sent and answer received to this JSONL file "
                             "(local path, outside --output; no API key)")
    parser.add_argument("--llm-cache-dir", "--llm_cache_dir", dest="llm_cache_dir", default=None,
                        help="local directory of the completion cache (default ~/.cache/shardsmith/llm; "
                             "'none' turns it off)")

"""Strict parsing of model answers, and re-asking through FakeOpenAIServer until one parses."""
import json
import pickle

import pytest

from transforms.llm import (
    ChatRequest,
    LlmClient,
    LlmConfig,
    LlmError,
    extract_boxed,
    parse_json_object,
    parse_yes_no,
    required,
    with_retries,
    with_retries_many,
)
from transforms.llm.client import API_KEY_ENV_VARS
from transforms.testing.openai_server import FakeOpenAIServer, bad_request
from transforms.records import Rejected


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch):
    for name in API_KEY_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("text, expected", [
    ("so \\boxed{42}", "42"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("first \\boxed{1}, finally \\boxed{x^{2}+\\sqrt{y_{1}}}", "x^{2}+\\sqrt{y_{1}}"),
    ("\\boxed {7}", "7"),
    ("\\fbox{B}", "B"),
    ("$\\boxed{\\{1, 2\\}}$", "\\{1, 2\\}"),          # escaped braces are literal
    ("\\boxed{\\text{(A) } \\{a\\}}", "\\text{(A) } \\{a\\}"),
    ("\\boxed{\\boxed{3}}", "\\boxed{3}"),            # the last top-level box
    ("\\boxed{ 5 m/s }", "5 m/s"),
    ("\\boxed{}", None),
    ("\\boxed{  }", None),
    ("\\boxed{2} then \\boxed{3", None),               # truncated final box: no answer
    ("\\boxed{a\\\\b}", "a\\\\b"),                    # LaTeX line break inside
    ("no box here", None),
    ("\\boxedx{1}", None),
    ("", None),
    (None, None),
])
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Yes", True), ("No", False), ("yes", True), ("NO", False), (" Yes.\n", True), ("**No**", False),
    ('"Yes"', True), ("No!", False), ("<think>hmm, maybe no</think>\nYes", True),
    ("Yes, because the units match.", None), ("Yes\nNo", None), ("No. Yes.", None), ("Y", None),
    ("Yess", None), ("Not sure", None), ("The answer is Yes", None), ("", None), ("...", None), (None, None),
    ("<think>unfinished Yes", None),
])
def test_parse_yes_no_is_strict(text, expected):
    assert parse_yes_no(text) is expected


def rubric_check(value):
    items = value.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= 3:
        return "items must be a list of 1-3"
    if any(item.get("category") not in ("Essential", "Pitfall") for item in items):
        return "unknown category"
    return None


GOOD = {"items": [{"title": "t", "category": "Essential"}]}


@pytest.mark.parametrize("text", [
    json.dumps(GOOD),
    "```json\n" + json.dumps(GOOD, indent=2) + "\n```",
    "  ```JSON\n" + json.dumps(GOOD) + "\n```\n",
    "```\n" + json.dumps(GOOD) + "\n```",
])
def test_parse_json_object_accepts_bare_and_fenced(text):
    assert parse_json_object(text, rubric_check) == (GOOD, None)


@pytest.mark.parametrize("text, error", [
    ("Here is the rubric:\n```json\n" + json.dumps(GOOD) + "\n```", "not JSON"),
    (json.dumps(GOOD) + " I hope this helps", "not JSON"),
    ("```json\n" + json.dumps(GOOD) + "\n```\n```json\n{}\n```", "not JSON"),
    ('{"items": [], "items": []}', "not JSON: duplicate keys"),
    ('{"score": NaN}', "not JSON: NaN is not JSON"),
    ("[1, 2]", "not a JSON object but list"),
    ("{'items': []}", "not JSON"),
    ('{"items": [{"category": "Essential"}],}', "not JSON"),
    ('{"items": []}', "schema: items must be a list of 1-3"),
    ('{"items": [{"category": "Nice"}]}', "schema: unknown category"),
    ('{"items": [1]}', "schema: AttributeError"),  # the check met a wrong type: still a reject
    ("", "empty answer"),
    (None, "empty answer"),
])
def test_parse_json_object_is_strict(text, error):
    value, problem = parse_json_object(text, rubric_check)
    assert value is None and problem.startswith(error)


def test_schema_check_may_raise_value_errors():
    def check(value):
        raise KeyError("title")

    assert parse_json_object("{}", check) == (None, "schema: KeyError: 'title'")


def test_required_adapter_pickles():
    parse = pickle.loads(pickle.dumps(required(parse_yes_no, "not a plain Yes/No")))
    assert parse("Yes.") == (True, None) and parse("maybe") == (None, "not a plain Yes/No")


def rubric_script(request, call_index):
    """Chatty first answer, then malformed JSON, then a valid rubric; keyed by the seed sent."""
    attempt = request["seed"] - 100
    question = request["messages"][-1]["content"]
    if question == "hopeless":
        return "I cannot write a rubric."
    return ["Sure! Here it is: " + json.dumps(GOOD), '{"items": [', json.dumps(GOOD)][min(attempt, 2)]


def test_with_retries_reasks_then_parses_and_replays_from_cache(tmp_path):
    def run(server):
        client = LlmClient(LlmConfig(server.url, "writer", cache_dir=str(tmp_path), backoff_base=0.01))
        call = lambda attempt: client.chat([{"role": "user", "content": "q"}], seed=100, sample_index=attempt)  # noqa: E731
        return with_retries(call, lambda text: parse_json_object(text, rubric_check), attempts=3)

    with FakeOpenAIServer(rubric_script) as server:
        first = run(server)
        assert server.call_count == 3
        server.reset()
        second = run(server)
        assert server.call_count == 0
    assert first.ok and first.value == GOOD and first.attempts == 3 and len(first.texts) == 3
    assert second == first


def test_with_retries_many_batches_rounds_and_reports_failures():
    rounds = []
    with FakeOpenAIServer(rubric_script) as server:
        client = LlmClient(LlmConfig(server.url, "writer", backoff_base=0.01, max_retries=0))
        questions = ["q0", "hopeless", "q2", "broken"]

        def ask(pairs):
            rounds.append(pairs)
            requests = []
            for item, attempt in pairs:
                extra = {"response_format": "bad"} if questions[item] == "broken" else None
                requests.append(ChatRequest([{"role": "user", "content": questions[item]}], seed=100,
                                            sample_index=attempt, extra=extra))
            return client.chat_many(requests)

        server.script = lambda request, i: (bad_request("bad response_format") if "response_format" in request
                                            else rubric_script(request, i))
        results = with_retries_many(ask, lambda text: parse_json_object(text, rubric_check), len(questions), 3)
    assert rounds == [[(0, 0), (1, 0), (2, 0), (3, 0)], [(0, 1), (1, 1), (2, 1)], [(0, 2), (1, 2), (2, 2)]]
    assert [r.ok for r in results] == [True, False, True, False]
    hopeless, broken = results[1], results[3]
    assert hopeless.error.startswith("not JSON") and hopeless.attempts == 3 and hopeless.llm_error is None
    assert isinstance(broken.llm_error, LlmError) and broken.attempts == 1 and broken.texts == ()
    # what a stage makes of them
    assert Rejected("bad_rubric", hopeless.error).reason == "bad_rubric"
    assert broken.llm_error.to_rejected().reason == "llm:http_400"


def test_with_retries_on_plain_texts_and_raised_errors():
    answers = iter(["Maybe", "**Yes**"])
    parsed = with_retries(lambda attempt: next(answers), required(parse_yes_no, "not yes/no"), attempts=2)
    assert (parsed.value, parsed.attempts, parsed.texts) == (True, 2, ("Maybe", "**Yes**"))

    def failing(attempt):
        raise LlmError("timeout", "no answer", attempts=6)

    parsed = with_retries(failing, required(parse_yes_no, "not yes/no"))
    assert not parsed.ok and parsed.llm_error.kind == "timeout" and parsed.attempts == 1
    with pytest.raises(ValueError):
        with_retries(failing, required(parse_yes_no, "x"), attempts=0)

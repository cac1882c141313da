"""Hypothesis fuzz tests of the parsers that read what a model (or a server) sends: no exception
escapes, the answer has the promised shape, valid inputs round-trip, and hostile shapes (deep
nesting, many keys, long runs of braces) finish in bounded time."""
import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.llm import extract_boxed, parse_json_object, parse_yes_no, with_retries_many
from transforms.llm.client import _Failure, parse_chat_response
from transforms.llm.parsing import required

FUZZ = settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
BOUND = 2.0  # seconds any one hostile input may take

# text built from the characters the parsers care about, so the interesting paths are reached
answer_text = st.text(alphabet=st.sampled_from(list("\\{}boxedfbx ytesnoYESNO.*\"'`json\n\t<>/think:[],0123-"))
                      | st.characters(), max_size=300)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)


def hostile_inputs():
    """Shapes that make naive parsers recurse, loop quadratically or overflow."""
    n = 200_000
    return ["[" * n, "{" * n, '{"a":' * n, "\\boxed{" * n, "\\boxed{" + "{" * n, "}" * n + "\\boxed{1}",
            "\\boxed{x}" * (n // 10), "\\" * n, "<think>" * n, "```json\n" + "[" * n + "\n```",
            "{" + ",".join(f'"k{i}":{i}' for i in range(n // 4)) + ',"k0":0}',  # one duplicate among many keys
            json.dumps({"choices": [{"message": {"content": "x" * n}}] * 2})]


@FUZZ
@given(answer_text)
def test_extract_boxed_never_raises_and_answers_stripped_text(text):
    value = extract_boxed(text)
    assert value is None or (isinstance(value, str) and value == value.strip() and value)


@FUZZ
@given(st.text(alphabet=st.characters(blacklist_characters="\\{}"), max_size=60),
       st.text(alphabet=st.characters(blacklist_characters="\\{}"), max_size=60))
def test_extract_boxed_finds_a_final_box(before, inner):
    assert extract_boxed(f"{before} \\boxed{{{inner}}}") == (inner.strip() or None)
    assert extract_boxed(f"{before} \\boxed{{{{{inner}}}}}.") == "{" + inner + "}"  # braces nested once


@FUZZ
@given(answer_text)
def test_parse_yes_no_answers_a_boolean_or_none(text):
    assert parse_yes_no(text) in (True, False, None)


@FUZZ
@given(st.sampled_from(["yes", "No", "YES", "nO"]), st.text(alphabet=" \n*.\"'!", max_size=5),
       st.text(alphabet=" \n*.\"'!", max_size=5), st.text(max_size=40).filter(lambda t: "</think>" not in t))
def test_parse_yes_no_reads_a_wrapped_word(word, left, right, thought):
    assert parse_yes_no(f"<think>{thought}</think>{left}{word}{right}") is (word.lower() == "yes")


@FUZZ
@given(answer_text)
def test_parse_json_object_answers_an_object_or_an_error(text):
    value, error = parse_json_object(text, schema_check=lambda obj: None if "a" in obj else "no a")
    assert (isinstance(value, dict) and error is None) or (value is None and isinstance(error, str) and error)


@FUZZ
@given(json_objects, st.booleans())
def test_parse_json_object_round_trips_any_object(obj, fenced):
    text = json.dumps(obj, indent=1)
    if fenced:
        text = f"```json\n{text}\n```"
    assert parse_json_object(text) == (obj, None)


@FUZZ
@given(json_objects, st.sampled_from([KeyError, TypeError, RecursionError, ZeroDivisionError]))
def test_a_schema_check_that_raises_is_an_error(obj, exc_type):
    def check(value):
        raise exc_type("boom")

    assert parse_json_object(json.dumps(obj), check) == (None, f"schema: {exc_type.__name__}: {exc_type('boom')}")


@FUZZ
@given(st.binary(max_size=300) | answer_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
       st.integers(min_value=1, max_value=3))
def test_parse_chat_response_never_raises_on_bytes(raw, n):
    outcome = parse_chat_response(raw, n)
    assert isinstance(outcome, (dict, _Failure))


@FUZZ
@given(json_values, st.integers(min_value=1, max_value=3))
def test_parse_chat_response_never_raises_on_any_json(body, n):
    for value in (body, {"choices": body}, {"choices": [body] * n}, {"choices": [{"message": body}] * n},
                  {"choices": [{"message": {"content": body}, "index": body}] * n, "usage": body}):
        outcome = parse_chat_response(json.dumps(value).encode(), n)
        if isinstance(outcome, dict):
            assert len(outcome["choices"]) == n and all(isinstance(c["text"], str) for c in outcome["choices"])
            assert outcome["prompt_tokens"] >= 0 and outcome["completion_tokens"] >= 0
        else:
            assert isinstance(outcome, _Failure) and outcome.kind == "bad_response"


@FUZZ
@given(st.lists(answer_text | st.just("Yes") | st.just("no"), min_size=1, max_size=12),
       st.integers(min_value=1, max_value=3))
def test_with_retries_many_ends_every_item(answers, attempts):
    stream = iter(answers * attempts * 3)

    def ask(pairs):
        return [next(stream) for _ in pairs]

    count = max(1, len(answers) // 2)
    outcomes = with_retries_many(ask, required(parse_yes_no, "not yes/no"), count, attempts)
    assert len(outcomes) == count
    for outcome in outcomes:
        assert 1 <= outcome.attempts <= attempts and len(outcome.texts) == outcome.attempts
        assert outcome.ok == (outcome.value in (True, False)) and outcome.ok == (outcome.error is None)


def test_hostile_shapes_finish_in_bounded_time():
    for text in hostile_inputs():
        for parse in (extract_boxed, parse_yes_no, parse_json_object,
                      lambda t: parse_chat_response(t.encode("utf-8"), 2)):
            started = time.monotonic()
            outcome = parse(text)
            seconds = time.monotonic() - started
            assert seconds < BOUND, f"{parse} took {seconds:.1f}s on {text[:30]!r}…"
            if parse is parse_json_object and not text.startswith('{"choices"'):
                value, error = outcome
                assert value is None and error, text[:30]  # none of these is one valid object

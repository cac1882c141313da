"""Rubric stage end to end against FakeOpenAIServer (TEST DOUBLE: a real HTTP server on 127.0.0.1)."""
import json
import pickle
import threading
from collections import Counter

import pytest

from schemas.science import SCIENCE_QUESTION_SCHEMA
from schemas.validate import check_record
from transforms.llm import LlmConfig
from transforms.llm.client import API_KEY_ENV_VARS
from transforms.testing.openai_server import FakeOpenAIServer, rate_limited, server_error, slow
from transforms.records import Rejected
from transforms.science.adapters import adapt_rar_science, new_question
from transforms.science.answers import assign_split
from transforms.science.rubrics import (
    FINAL_ANSWER_TITLE,
    RubricParser,
    RubricStage,
    final_answer_item,
    rubric_problem,
)


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch):
    for name in API_KEY_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def config(server, cache_dir=None, **overrides):
    settings = dict(max_concurrency=8, max_retries=3, backoff_base=0.005, backoff_max=0.02, timeout=0.5,
                    cache_dir=None if cache_dir is None else str(cache_dir))
    settings.update(overrides)
    return LlmConfig(server.url, "rubric-model", **settings)


def open_question(qid, marker, subject="biology"):
    return assign_split(new_question(
        id=qid, source="test", source_id=qid, subject=subject,
        question=f"{marker}: Explain why the sky appears blue during the day but red at sunset.",
        reference_answer="Rayleigh scattering favours short wavelengths; at sunset light crosses more air, "
                         "so blue is scattered out and red remains."))


CATEGORIES = ["Essential", "Essential", "Essential", "Important", "Important", "Optional", "Pitfall", "Pitfall"]


def items(n=8, categories=None, **change):
    categories = categories or (CATEGORIES * 3)[:n]
    out = [{"title": f"Criterion {i}", "description": f"The response mentions point {i}.", "category": categories[i]}
           for i in range(n)]
    for index, fields in change.items():
        out[int(index.lstrip("_"))].update(fields)
    return out


def rubric_json(values, fenced=False):
    text = json.dumps({"items": values})
    return f"```json\n{text}\n```" if fenced else text


VALID = rubric_json(items(), fenced=True)
SCRIPT = {  # marker -> reply per attempt (body seed = attempt)
    "QVALID": [VALID],
    "QMALFORMED": ['{"items": [{"title": "Rayleigh", "description": "x", "category": "Essential"},', VALID],
    "QFEW": [rubric_json(items(3))] * 3,
    "QWRONGCAT": [rubric_json(items(8, _2={"category": "Critical"})),
                  rubric_json(items(8, _5={"title": "criterion  0"})),
                  rubric_json(items(9))],
    "QCHATTY": ["Here is the rubric:\n" + rubric_json(items())] * 3,
}


class Script:
    def __init__(self):
        self.lock = threading.Lock()
        self.seen = Counter()

    def __call__(self, body, call_index):
        text = body["messages"][-1]["content"]
        marker = text.split("Question:\n", 1)[1].split(":", 1)[0]
        with self.lock:
            self.seen[(marker, body["seed"])] += 1
            nth = self.seen[(marker, body["seed"])]
        if marker == "QFLAKY":
            return [rate_limited(0.01), server_error(500), slow(2.0, VALID)][nth - 1] if nth <= 3 else VALID
        if marker == "QDOWN":
            return server_error(500)
        return SCRIPT[marker][body["seed"]]


def calls(server, marker):
    return [r for r in server.requests if f"Question:\n{marker}:" in r.body["messages"][0]["content"]]


def test_rubrics_validated_retried_weighted_and_cached(tmp_path):
    markers = ["QVALID", "QMALFORMED", "QFEW", "QWRONGCAT", "QFLAKY", "QCHATTY"]
    questions = [open_question(m.lower(), m) for m in markers]
    verifiable = assign_split(new_question(id="v", source="test", source_id="v", question="QVERIF: 2+2?",
                                           reference_answer="4", subject="mathematics"))
    with FakeOpenAIServer(Script()) as server:
        stage = RubricStage(config(server, tmp_path / "cache"))
        first = stage.rubric_batch(questions + [verifiable])
        valid, malformed, few, wrongcat, flaky, chatty, passed = first

        assert passed is verifiable
        rubric = valid["rubrics"]
        assert valid["rubric_source"] == "generated" and len(rubric) == 9
        assert [i["weight"] for i in rubric[:8]] == [1.0, 1.0, 1.0, 0.7, 0.7, 0.3, 0.9, 0.9]
        assert rubric[-1] == final_answer_item(valid["reference_answer"])
        assert rubric[-1]["title"] == FINAL_ANSWER_TITLE and rubric[-1]["category"] == "Essential"
        assert rubric[-1]["weight"] == 4.0 and valid["reference_answer"] in rubric[-1]["description"]
        assert all(i["source_weight"] is None for i in rubric)
        assert check_record(valid, SCIENCE_QUESTION_SCHEMA) is None

        assert malformed["rubrics"] == rubric and len(calls(server, "QMALFORMED")) == 2
        assert few == Rejected("bad_rubric", "after 3 attempts: schema: 3 items, expected 7 to 20")
        assert [r.body["seed"] for r in calls(server, "QFEW")] == [0, 1, 2]
        assert len(wrongcat["rubrics"]) == 10 and [r.body["seed"] for r in calls(server, "QWRONGCAT")] == [0, 1, 2]
        assert chatty.reason == "bad_rubric" and "not JSON" in chatty.detail
        assert flaky["rubrics"] == rubric and len(calls(server, "QFLAKY")) == 4  # 429, 500, timeout, answer
        assert stage._client.counters()["retries"] == 3
        prompt = calls(server, "QVALID")[0].body
        assert prompt["model"] == "rubric-model" and (prompt["temperature"], prompt["max_tokens"]) == (0.7, 4096)
        content = prompt["messages"][0]["content"]
        assert "biology question" in content and "7 to 20 criteria" in content
        total = server.call_count
        stage.close()

        server.reset()
        rerun = RubricStage(config(server, tmp_path / "cache"))
        again = rerun.rubric_batch(questions + [verifiable])
        assert server.call_count == 0 and total == 1 + 2 + 3 + 3 + 4 + 3
        assert again == first
        rerun.close()


def test_transport_failure_and_single_record_call():
    with FakeOpenAIServer(Script()) as server:
        stage = RubricStage(config(server, max_retries=1), attempts=2)
        down = stage(open_question("d", "QDOWN"))
        ok = pickle.loads(pickle.dumps(stage))(open_question("v", "QVALID"))
    # the client retried once; the stage asks no second attempt after a transport failure
    assert down.reason == "llm:http_500" and len(calls(server, "QDOWN")) == 2
    assert len(ok["rubrics"]) == 9


def test_imported_rar_rubric_is_completed_not_regenerated():
    raw = {"question": "Why is the sky blue?", "reference_answer": "Rayleigh scattering of short wavelengths.",
           "question_source": "physics",
           "rubric": [{"title": "Names Rayleigh", "description": "Names Rayleigh scattering.", "weight": 5},
                      {"title": "Wavelength", "description": "Relates scattering to wavelength.", "weight": 3},
                      {"title": "Clarity", "description": "Is concise.", "weight": 1},
                      {"title": "Mie", "description": "Attributes the colour to Mie scattering.", "weight": -2}]}
    imported = assign_split(dict(adapt_rar_science(raw), subject="physics"))
    assert imported["split"] == "open_ended"
    with FakeOpenAIServer(Script()) as server:
        stage = RubricStage(config(server))
        (done,) = stage.rubric_batch([imported])
        (untouched,) = RubricStage(config(server), complete_imported=False).rubric_batch([imported])
        (twice,) = stage.rubric_batch([done])
    assert server.call_count == 0
    assert [(i["category"], i["weight"], i["source_weight"]) for i in done["rubrics"]] == [
        ("Essential", 1.0, 5), ("Important", 0.7, 3), ("Optional", 0.3, 1), ("Pitfall", 0.9, -2),
        ("Essential", 4.0, None)]
    assert done["rubric_source"] == "imported" and untouched is imported and twice is done
    assert check_record(done, SCIENCE_QUESTION_SCHEMA) is None


def test_import_rar_rubric_reuses_the_adapter_mapping_with_the_stage_weights():
    with FakeOpenAIServer() as server:
        stage = RubricStage(config(server), weights={"Essential": 2.0, "Important": 1.0, "Optional": 0.5, "Pitfall": 1.5})
    got, skipped = stage.import_rar_rubric([{"title": "A", "description": "a", "weight": 4},
                                            {"title": "B", "description": "b", "weight": -1},
                                            {"title": "C", "description": "c", "weight": "high"}])
    assert skipped == 1
    assert [(i["category"], i["weight"]) for i in got] == [("Important", 1.0), ("Pitfall", 1.5)]


@pytest.mark.parametrize("value, problem", [
    ({"items": items(7)}, None),
    ({"items": items(20)}, None),
    ({"items": items(6)}, "6 items, expected 7 to 20"),
    ({"items": items(21)}, "21 items, expected 7 to 20"),
    ({"rubric": items(8)}, "top-level keys"),
    ({"items": items(8), "note": "x"}, "top-level keys"),
    ({"items": "many"}, "not a list"),
    ({"items": items(7) + ["loose"]}, "item 7 is a str"),
    ({"items": items(8, _1={"weight": 3})}, "item 1 keys"),
    ({"items": items(8, _1={"description": "   "})}, "item 1 description must be a non-empty string"),
    ({"items": items(8, _1={"title": 7})}, "item 1 title must be a non-empty string"),
    ({"items": items(8, _3={"category": "essential"})}, "item 3 category 'essential'"),
    ({"items": items(8, _4={"title": "Criterion 1 "})}, "item 4 title 'Criterion 1' is a duplicate"),
    ({"items": items(8, _0={"title": "final  Answer"})}, "reserved"),
])
def test_rubric_problem(value, problem):
    found = rubric_problem(value)
    assert found is None if problem is None else problem in found


def test_parser_and_options():
    parse = RubricParser(2, 3, {"Essential": 1.0, "Important": 0.7, "Optional": 0.3, "Pitfall": 0.9})
    got, error = parse(json.dumps({"items": items(2)}))
    assert error is None and [i["weight"] for i in got] == [1.0, 1.0]
    assert parse('{"items": [], "items": []}')[1].startswith("not JSON")  # duplicate keys
    with FakeOpenAIServer() as server:
        with pytest.raises(ValueError):
            RubricStage(config(server), weights={"Essential": 1.0})
        with pytest.raises(ValueError):
            RubricStage(config(server), min_items=8, max_items=7)
        assert RubricStage(config(server), model="other").describe()["model"] == "other"

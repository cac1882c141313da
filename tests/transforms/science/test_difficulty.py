"""Difficulty stage end to end against FakeOpenAIServer (TEST DOUBLE: a real HTTP server on 127.0.0.1)."""
import pickle
import threading
from collections import Counter

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from schemas.science import SCIENCE_QUESTION_SCHEMA
from schemas.validate import check_record
from transforms.llm import LlmConfig
from transforms.llm.client import API_KEY_ENV_VARS
from transforms.testing.openai_server import FakeOpenAIServer, rate_limited, server_error, slow
from transforms.records import Rejected
from transforms.science.adapters import new_question
from transforms.science.answers import assign_split
from transforms.science.difficulty import DifficultyStage, render
from transforms.stages import apply_stage


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch):
    for name in API_KEY_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def config(server, cache_dir=None, **overrides):
    """Tiny backoff and a short timeout so retries cost milliseconds."""
    settings = dict(max_concurrency=8, max_retries=3, backoff_base=0.005, backoff_max=0.02, timeout=0.5,
                    cache_dir=None if cache_dir is None else str(cache_dir))
    settings.update(overrides)
    return LlmConfig(server.url, "solver-model", **settings)


def question(qid, text, reference, subject="physics", choices=None):
    return assign_split(new_question(id=qid, source="test", source_id=qid, question=text,
                                     reference_answer=reference, subject=subject, choices=choices))


GRAVITY = question("g", "QGRAV: What is the gravitational acceleration at Earth's surface?", "9.8 m/s^2")
EASY = question("mc", "QEASY: Which is a noble gas?\nA. O\nB. Ne\nC. N\nD. H", "B", "chemistry",
                ["O", "Ne", "N", "H"])
LEAVES = question("leaves", "QLEAVES: Why do leaves of deciduous trees turn yellow in autumn?",
                  "Chlorophyll breaks down in autumn, revealing the yellow and orange carotenoid pigments "
                  "that it had masked.", "biology")
FLAKY = question("flaky", "QFLAKY: What is 2 + 2?", "4", "mathematics")
DOWN = question("down", "QDOWN: How many protons does helium have?", "2", "chemistry")

GRAVITY_ROLLOUTS = ["So g = \\boxed{9.81 m/s^2}.", "\\boxed{9.8}", "roughly \\boxed{11 m/s^2}",
                    "I think it is 9.8 m/s^2.", "\\boxed{980 cm/s^2}", "\\boxed{4.9 m/s^2}",
                    "$\\boxed{9.8 \\text{ m/s}^2}$", "\\boxed{}"]
GRAVITY_VERDICTS = [True, True, False, False, True, False, True, False]
GOOD_LEAF = "Chlorophyll degrades and reveals the other pigments"
LEAVES_ROLLOUTS = [f"\\boxed{{{GOOD_LEAF}}}"] * 3 + [
    "\\boxed{Leaves get cold}", "\\boxed{Photosynthesis speeds up}", "\\boxed{Trees want to look nice}",
    "Because of the pigments.", f"Thus \\boxed{{{GOOD_LEAF}}}"]
VERIFIER_SCRIPT = {  # final answer -> replies by attempt
    GOOD_LEAF: ["Yes"],
    "Leaves get cold": ["No."],
    "Photosynthesis speeds up": ["Maybe, partly.", "**No**"],
    "Trees want to look nice": ["I cannot tell", "Yes and no", "yes, because"],
}
LEAVES_VERDICTS = [True, True, True, False, False, None, False, True]


class Script:
    """Scripted answers by request content; ``seed`` in the body is rollout index / attempt."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = Counter()

    def __call__(self, body, call_index):
        text = body["messages"][-1]["content"]
        seed = body["seed"]
        with self.lock:
            self.seen[(text, seed)] += 1
            nth = self.seen[(text, seed)]
        if text.startswith("You are checking"):
            final = text.split("Student's final answer:\n", 1)[1].split("\n\n", 1)[0]
            replies = VERIFIER_SCRIPT[final]
            return replies[min(seed, len(replies) - 1)]
        if "QGRAV" in text:
            return GRAVITY_ROLLOUTS[seed]
        if "QEASY" in text:
            return "The noble gas is neon: \\boxed{B}" if seed % 2 else "\\boxed{(B)}"
        if "QLEAVES" in text:
            return LEAVES_ROLLOUTS[seed]
        if "QFLAKY" in text:
            if seed == 0 and nth == 1:
                return rate_limited(0.01)
            if seed == 0 and nth == 2:
                return server_error(500)
            if seed == 1 and nth == 1:
                return slow(2.0, "\\boxed{4}")  # longer than the client's timeout
            return "\\boxed{5}" if seed == 7 else "\\boxed{4}"
        if "QDOWN" in text:
            return server_error(503)
        raise AssertionError(f"unscripted request: {text[:80]}")


def solver_calls(server, marker):
    return [r for r in server.requests if marker in r.body["messages"][-1]["content"]
            and not r.body["messages"][-1]["content"].startswith("You are checking")]


def verifier_calls(server):
    return [r for r in server.requests if r.body["messages"][-1]["content"].startswith("You are checking")]


def test_grades_rollouts_drops_solved_and_retries(tmp_path):
    with FakeOpenAIServer(Script()) as server:
        stage = DifficultyStage(config(server, tmp_path / "cache"), verifier_model="judge-model")
        stage.setup()
        first = stage.grade_batch([GRAVITY, EASY, LEAVES, FLAKY])

        gravity, easy, leaves, flaky = first
        # verifiable: rule checker per rollout; no box / empty box -> incorrect with no final answer
        assert [r["correct"] for r in gravity["rollouts"]] == GRAVITY_VERDICTS
        assert [r["index"] for r in gravity["rollouts"]] == list(range(8))
        assert {r["grader"] for r in gravity["rollouts"]} == {"rule"}
        assert gravity["rollouts"][3]["final_answer"] is None and gravity["rollouts"][7]["final_answer"] is None
        assert gravity["rollouts"][4]["final_answer"] == "980 cm/s^2"
        assert (gravity["n_rollouts"], gravity["n_correct"], gravity["difficulty"]) == (8, 4, 0.5)
        assert check_record(gravity, SCIENCE_QUESTION_SCHEMA) is None
        assert easy == Rejected("solved_by_all", "8/8 rollouts correct")

        # open-ended: the verifier (another model) decides; garbage is retried, then the verdict is null
        assert [r["correct"] for r in leaves["rollouts"]] == LEAVES_VERDICTS
        assert [r["grader"] for r in leaves["rollouts"]] == ["llm"] * 6 + ["rule", "llm"]
        assert (leaves["n_correct"], leaves["difficulty"]) == (4, 0.5)
        assert stage.counts["verdict_unparsable"] == 1 and stage.counts["solved_by_all"] == 1
        judged = verifier_calls(server)
        assert {r.body["model"] for r in judged} == {"judge-model"}
        assert {r.body["model"] for r in server.requests if r not in judged} == {"solver-model"}
        per_answer = Counter(r.body["messages"][0]["content"].split("Student's final answer:\n")[1].split("\n")[0]
                             for r in judged)
        assert per_answer == {GOOD_LEAF: 1, "Leaves get cold": 1, "Photosynthesis speeds up": 2,
                              "Trees want to look nice": 3}  # equal answers asked once; retries visible
        retried = sorted((r.body["seed"], r.body["temperature"]) for r in judged
                         if "Trees want" in r.body["messages"][0]["content"])
        assert retried == [(0, 0.0), (1, 0.7), (2, 0.7)]

        # 429, 500 and a timeout were retried by the client; the rollouts came through
        assert [r["correct"] for r in flaky["rollouts"]] == [True] * 7 + [False]
        assert (flaky["n_correct"], flaky["difficulty"]) == (7, 0.875)
        flaky_seeds = Counter(r.body["seed"] for r in solver_calls(server, "QFLAKY"))
        assert flaky_seeds[0] == 3 and flaky_seeds[1] == 2 and sum(flaky_seeds.values()) == 11
        # one request per rollout, temperature and max_tokens as configured, seed = rollout index
        grav = solver_calls(server, "QGRAV")
        assert sorted(r.body["seed"] for r in grav) == list(range(8))
        assert grav[0].body["messages"] == [{"role": "user", "content": render(stage.prompt, question=GRAVITY["question"])}]
        assert (grav[0].body["temperature"], grav[0].body["max_tokens"]) == (1.0, 8192)
        calls = server.call_count
        assert stage._solver.counters()["retries"] == 3
        stage.close()

        server.reset()
        rerun = DifficultyStage(config(server, tmp_path / "cache"), verifier_model="judge-model")
        again = rerun.grade_batch([GRAVITY, EASY, LEAVES, FLAKY])
        assert server.call_count == 0 and calls > 0
        assert again == first
        assert rerun._solver.counters()["cache_hits"] == 32 and rerun._solver.counters()["calls"] == 0
        rerun.close()


def test_transport_failure_is_the_llm_errors_reject_and_others_survive():
    with FakeOpenAIServer(Script()) as server:
        stage = DifficultyStage(config(server, max_retries=1), k=4, drop_solved=False)
        down, easy = stage.grade_batch([DOWN, EASY])
    assert down.reason == "llm:http_503" and "HTTP 503" in down.detail
    assert len(solver_calls(server, "QDOWN")) == 4 * 2  # each rollout: first try + one retry
    assert (easy["n_rollouts"], easy["n_correct"], easy["difficulty"]) == (4, 4, 1.0)  # kept: drop_solved=False


def test_verifier_transport_failure_rejects_the_question():
    def script(body, call_index):
        text = body["messages"][-1]["content"]
        return server_error(500) if text.startswith("You are checking") else LEAVES_ROLLOUTS[body["seed"]]

    with FakeOpenAIServer(script) as server:
        (leaves,) = DifficultyStage(config(server, max_retries=0)).grade_batch([LEAVES])
    assert leaves.reason == "llm:http_500"


def test_records_it_cannot_grade_are_rejected_without_calls():
    no_split = dict(GRAVITY, split=None)
    no_reference = dict(LEAVES, reference_answer=None)
    with FakeOpenAIServer(Script()) as server:
        stage = DifficultyStage(config(server), k=2)
        out = stage.grade_batch([dict(GRAVITY, question="  "), no_split, no_reference])
    assert [r.reason for r in out] == ["missing_question", "missing_split", "missing_reference"]
    assert server.call_count == 0


def test_single_record_call_pickles_and_runs_in_a_pipeline():
    with FakeOpenAIServer(Script()) as server:
        stage = DifficultyStage(config(server), k=8)
        graded = stage(GRAVITY)
        assert graded["n_correct"] == 4
        shipped = pickle.loads(pickle.dumps(stage))
        assert shipped._solver is None and shipped.describe() == stage.describe()

        with beam.Pipeline(runner=FnApiRunner()) as p:
            kept, rejects = apply_stage(p | beam.Create([GRAVITY, EASY]), "difficulty", shipped)
            assert_that(kept | beam.Map(lambda r: (r["id"], r["n_correct"], r["difficulty"])),
                        equal_to([("g", 4, 0.5)]), label="kept")
            assert_that(rejects | beam.Map(lambda r: (r["record_id"], r["reason"])),
                        equal_to([("mc", "solved_by_all")]), label="rejects")


def test_prompts_are_validated():
    with FakeOpenAIServer() as server:
        with pytest.raises(ValueError, match="question"):
            DifficultyStage(config(server), prompt="no placeholder")
        with pytest.raises(ValueError, match="final_answer"):
            DifficultyStage(config(server), verifier_prompt="{question} {reference_answer}")
        with pytest.raises(ValueError, match="k must"):
            DifficultyStage(config(server), k=0)

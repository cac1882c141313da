"""The LLM subject labeller: its answer parser, and the stage against the FakeOpenAIServer test
double (a real local HTTP server)."""
import pytest

from transforms.llm import LlmConfig
from transforms.records import Rejected
from transforms.science.subject_llm import LABELS, SubjectLabelStage, parse_subject_reply
from transforms.testing.openai_server import FakeOpenAIServer


@pytest.mark.parametrize("reply, label", [
    ("physics", "physics"), ("Computer Science", "computer_science"), ('{"subject": "biology"}', "biology"),
    ("`chemistry`", "chemistry"), ("Not science.", "not_science"), ("astronomy", "physics"),
    # sentences SmolLM2-135M-Instruct answered with
    ("The answer is mathematics.", "mathematics"), ("The question belongs to the category of general_science.", "general_science"),
    ("It is computer science.", "computer_science"),
])
def test_replies_naming_one_label_are_read(reply, label):
    assert parse_subject_reply(reply) == (label, None)


@pytest.mark.parametrize("reply", ["", "physics\nchemistry", "I think it is about rocks", '{"label": "physics"}', "{oops",
                                   "The question belongs to the subject of mathematics, specifically physics."])
def test_other_replies_are_errors(reply):
    label, error = parse_subject_reply(reply)
    assert label is None and error


class Script:
    """Physics for the pendulum, not_science for the treaty, chatter for the first try on the cell."""

    def __init__(self):
        self.cell_calls = 0

    def __call__(self, body, index):
        content = body["messages"][-1]["content"]
        assert all(label in content for label in LABELS)
        if "pendulum" in content:
            return "physics"
        if "treaty" in content:
            return '{"subject": "not_science"}'
        if "cell" in content:
            self.cell_calls += 1
            return "Let me think about that." if self.cell_calls == 1 else "Biology"
        return "no idea"


def test_the_stage_labels_rejects_and_falls_back(tmp_path):
    questions = [
        {"question": "What is the period of a 1 m pendulum?", "subject": "mathematics", "subject_method": "classifier"},
        {"question": "Which treaty ended the Thirty Years' War?", "subject": "mathematics", "subject_method": "classifier"},
        {"question": "What does a cell membrane do?", "subject": None, "subject_method": None},
        {"question": "Is a tomato a fruit?", "subject": "biology", "subject_method": "classifier"},
        {"question": "Balance this equation.", "subject": "chemistry", "subject_method": "metadata"},
    ]
    with FakeOpenAIServer(Script()) as server:
        stage = SubjectLabelStage(LlmConfig(server.url, "fake-model", cache_dir=str(tmp_path / "cache")))
        try:
            pendulum, treaty, cell, tomato, metadata = stage.label_batch(questions)
        finally:
            stage.close()
        asked = [r.body["messages"][-1]["content"] for r in server.requests]
    assert (pendulum["subject"], pendulum["subject_method"], pendulum["subject_confidence"]) == ("physics", "llm", None)
    assert isinstance(treaty, Rejected) and treaty.reason == "not_science"
    assert (cell["subject"], cell["subject_method"]) == ("biology", "llm")  # asked again after the chatter
    assert tomato == questions[3]  # no usable answer: the classifier's subject stands
    assert metadata == questions[4] and not any("Balance this equation" in text for text in asked)

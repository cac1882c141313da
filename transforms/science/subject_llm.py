"""Dr. SCI subjects from an LLM: the labeller used when an endpoint is set and ``--llm-subjects`` asks for it.

``SubjectLabelStage(config)`` asks the model which subject a question belongs to, for every
question whose subject the source metadata did not decide (``subject_method`` other than
``metadata``: the classifier's call, or none). The answer must name exactly one label of
``LABELS`` (the eight subjects and ``not_science``), alone, as ``{"subject": "..."}``, or in a
sentence that names no other label ("The answer is physics."; small models answer that way);
labels are compared as keys (``subjects.label_key``: "Computer Science" -> ``computer_science``),
and a source-style label the metadata table maps ("astronomy" -> ``physics``) is taken too.
Anything else is asked again (next ``sample_index``) up to ``attempts`` times.

Outcomes per question: a subject -> ``subject`` set, ``subject_method='llm'``,
``subject_confidence`` null (a chat answer carries no probability); ``not_science`` -> rejected
``not_science`` with the model's name in the detail; no usable answer (unparsable after every
attempt, or a request that failed for good) -> the question keeps the classifier's subject
unchanged, so a flaky endpoint costs labels, never questions. Greedy (temperature 0) and
short (``max_tokens`` 32): a label is one word. The prompt's ``{question}`` and ``{labels}``
are replaced literally.
"""
from __future__ import annotations

import dataclasses
import json
import re
from typing import Sequence

from schemas.science import SUBJECTS
from transforms.llm import ChatRequest, Completion, LlmClient, LlmConfig, LlmError
from transforms.llm.parsing import with_retries_many
from transforms.records import Rejected
from transforms.science.difficulty import render, user_message
from transforms.science.subjects import label_key, subject_of_label

NOT_SCIENCE = "not_science"
LABELS = (*SUBJECTS, NOT_SCIENCE)
DEFAULT_ATTEMPTS = 2
DEFAULT_MAX_TOKENS = 32

SUBJECT_PROMPT = """Which subject does this question belong to?

Question:
{question}

Answer with exactly one of these labels and nothing else: {labels}.
Use general_science for interdisciplinary science or engineering, and not_science for questions outside science (history, law, philosophy, psychology, politics, religion, business practice)."""


def parse_subject_reply(text: str) -> tuple[str | None, str | None]:
    """``(label, None)`` for an answer naming one of ``LABELS`` (bare or ``{"subject": ...}``), else ``(None, error)``."""
    reply = (text or "").strip().strip("`").strip()
    if reply.startswith("{"):
        try:
            value = json.loads(reply)
        except ValueError:
            return None, "not valid JSON"
        reply = value.get("subject") if isinstance(value, dict) else None
        if not isinstance(reply, str):
            return None, 'expected {"subject": "<label>"}'
    reply = reply.strip().strip(".\"'").strip()
    if not reply:
        return None, "expected one label"
    key = label_key(reply)
    if key in LABELS:
        return key, None
    mapped = subject_of_label(reply) if len(reply) <= 60 else None
    if mapped in LABELS:
        return mapped, None
    # a sentence ("The answer is mathematics.") naming exactly one label
    named = {label for label in LABELS if re.search(rf"(?<![a-z_]){label.replace('_', '[ _]')}(?![a-z_])", key.replace("_", " ") + " " + reply.lower())}
    if len(named) == 1:
        return named.pop(), None
    if named:
        return None, f"names several labels: {', '.join(sorted(named))}"
    return None, f"{reply[:40]!r} is not one of {', '.join(LABELS)}"


class SubjectLabelStage:
    """LLM subjects for the questions metadata left open; ``label_batch`` for batches, ``__call__`` for one."""

    def __init__(self, config: LlmConfig, model: str | None = None, attempts: int = DEFAULT_ATTEMPTS,
                 max_tokens: int = DEFAULT_MAX_TOKENS, seed: int | None = 0, prompt: str = SUBJECT_PROMPT):
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        if "{question}" not in prompt:
            raise ValueError("the subject prompt must contain {question}")
        self.config = dataclasses.replace(config, model=model or config.model)
        self.attempts, self.max_tokens, self.seed, self.prompt = attempts, max_tokens, seed, prompt
        self._client: LlmClient | None = None

    def setup(self) -> None:
        if self._client is None:
            self._client = LlmClient(self.config, "llm:subjects")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_client"] = None
        return state

    def describe(self) -> dict:
        return {"model": self.config.model, "attempts": self.attempts, "max_tokens": self.max_tokens,
                "seed": self.seed, "labels": list(LABELS)}

    def request(self, question: dict, attempt: int) -> ChatRequest:
        text = render(self.prompt, question=question["question"], labels=", ".join(LABELS))
        return ChatRequest(user_message(text), temperature=0.0, max_tokens=self.max_tokens, seed=self.seed,
                           sample_index=attempt)

    def __call__(self, question: dict) -> dict | Rejected:
        return self.label_batch([question])[0]

    def label_batch(self, questions: Sequence[dict]) -> list[dict | Rejected]:
        """Questions with LLM subjects (or ``not_science`` rejects), in order; one ``chat_many`` per attempt round."""
        results: list[dict | Rejected] = list(questions)
        todo = [i for i, q in enumerate(questions)
                if q.get("subject_method") != "metadata" and isinstance(q.get("question"), str) and q["question"].strip()]
        if not todo:
            return results
        self.setup()

        def ask(pairs: list[tuple[int, int]]) -> list[Completion | LlmError]:
            return self._client.chat_many([self.request(questions[todo[item]], attempt) for item, attempt in pairs])

        for i, outcome in zip(todo, with_retries_many(ask, parse_subject_reply, len(todo), self.attempts)):
            if outcome.llm_error is not None or not outcome.ok:
                continue  # no usable answer: the classifier's subject stands
            if outcome.value == NOT_SCIENCE:
                results[i] = Rejected(NOT_SCIENCE, f"LLM subject labeller ({self.config.model}) answered not_science")
            else:
                labelled = dict(questions[i])
                labelled.update(subject=outcome.value, subject_method="llm", subject_confidence=None)
                results[i] = labelled
        return results

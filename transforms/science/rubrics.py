"""Dr. SCI stage 7, rubrics: 7-20 weighted criteria per open-ended question, from an LLM.

``RubricStage(config)`` asks the model for one JSON object ``{"items": [{"title",
"description", "category"}, …]}`` per open-ended question and validates it strictly
(``rubric_problem``): exactly the key ``items`` at the top and exactly the three keys per
item; ``min_items`` to ``max_items`` items; every value a non-empty string (after stripping);
``category`` spelled exactly as one of ``RUBRIC_CATEGORIES``; no two titles equal ignoring
case and spacing; and no item titled "Final answer" (reserved, see below). An answer that
fails is asked again with the next ``sample_index`` (``with_retries_many``; a rerun replays
the same attempts from the cache) up to ``attempts`` times, then the question is rejected as
``bad_rubric`` with the last error in the detail. A request that fails for good is rejected
with the ``LlmError``'s reason (``llm:http_500``, ``llm:timeout``, …).

Weights come from the category (``weights``, default ``CATEGORY_WEIGHTS`` of the adapters:
Essential 1.0, Important 0.7, Optional 0.3, Pitfall 0.9; a Pitfall's weight is positive and a
grader subtracts it when the pitfall is hit). Every rubric then gets one more item, the
final-answer item, appended last: title ``"Final answer"``, category ``Essential`` (a correct
conclusion is the one thing a response cannot lack), weight ``final_answer_weight`` (4.0), and
a description that quotes the reference answer so a grader without the reference can apply
it. ``source_weight`` is null for generated items.

Verifiable questions pass through untouched (their reward is the rule checker). Open-ended
questions that already carry rubrics (RaR-Science, imported by the adapter with
``transforms.science.adapters.import_rubric``) are not regenerated; they get the final-answer
item when they lack one (``complete_imported``). ``RubricStage.import_rar_rubric`` reuses the
adapter's weight -> category mapping with the stage's weights instead of repeating it.

The prompt template's ``{question}``, ``{reference_answer}``, ``{subject}``, ``{min_items}``
and ``{max_items}`` are replaced literally (``str.replace``), so the JSON example in it needs
no escaping.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping, Sequence

from schemas.science import RUBRIC_CATEGORIES
from transforms.llm import ChatRequest, Completion, LlmClient, LlmConfig, LlmError, parse_json_object
from transforms.llm.parsing import with_retries_many
from transforms.records import Rejected
from transforms.science.adapters import CATEGORY_WEIGHTS, RAR_ESSENTIAL_MIN, RAR_IMPORTANT_MIN, import_rubric
from transforms.science.difficulty import render, user_message

MIN_ITEMS = 7
MAX_ITEMS = 20
DEFAULT_ATTEMPTS = 3
FINAL_ANSWER_TITLE = "Final answer"
FINAL_ANSWER_CATEGORY = "Essential"
FINAL_ANSWER_WEIGHT = 4.0
ITEM_KEYS = ("title", "description", "category")
DEFAULT_MAX_TOKENS = 4096

RUBRIC_PROMPT = """Write a grading rubric for responses to the following {subject} question.

Question:
{question}

Reference answer:
{reference_answer}

The rubric lists {min_items} to {max_items} criteria a grader checks one by one in a response. Each criterion has:
- "title": a short name (2-8 words), different from every other title;
- "description": one sentence stating what a response must contain (or, for a Pitfall, the mistake it must avoid);
- "category": exactly one of
  "Essential" (a fact, step or conclusion a correct response cannot lack),
  "Important" (a significant part of a complete, well-justified response),
  "Optional" (adds depth or clarity but is not required),
  "Pitfall" (a common mistake or misconception; describe the mistake).
Do not write a criterion about the final answer matching the reference answer: it is added separately.

Answer with one JSON object and nothing else, in this form:
{"items": [{"title": "...", "description": "...", "category": "Essential"}]}"""


def _title_key(title: str) -> str:
    return re.sub(r"\s+", " ", title).strip().casefold()


def rubric_problem(value: Mapping[str, Any], min_items: int = MIN_ITEMS, max_items: int = MAX_ITEMS) -> str | None:
    """What is wrong with a parsed rubric object (see the module doc), or None."""
    if set(value) != {"items"}:
        return f"top-level keys must be exactly ['items'], not {sorted(value)}"
    items = value["items"]
    if not isinstance(items, list):
        return f"items is a {type(items).__name__}, not a list"
    if not min_items <= len(items) <= max_items:
        return f"{len(items)} items, expected {min_items} to {max_items}"
    seen: set[str] = set()
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            return f"item {n} is a {type(item).__name__}, not an object"
        if set(item) != set(ITEM_KEYS):
            return f"item {n} keys must be exactly {sorted(ITEM_KEYS)}, not {sorted(item)}"
        for key in ITEM_KEYS:
            if not isinstance(item[key], str) or not item[key].strip():
                return f"item {n} {key} must be a non-empty string"
        if item["category"] not in RUBRIC_CATEGORIES:
            return f"item {n} category {item['category']!r} is not one of {list(RUBRIC_CATEGORIES)}"
        key = _title_key(item["title"])
        if key == _title_key(FINAL_ANSWER_TITLE):
            return f"item {n} title {FINAL_ANSWER_TITLE!r} is reserved for the final-answer item"
        if key in seen:
            return f"item {n} title {item['title'].strip()!r} is a duplicate"
        seen.add(key)
    return None


def rubric_items(value: Mapping[str, Any], weights: Mapping[str, float]) -> list[dict]:
    """Schema-shaped items (``RUBRIC_ITEM_TYPE``) of a validated rubric object."""
    return [{"title": item["title"].strip(), "description": item["description"].strip(),
             "category": item["category"], "weight": float(weights[item["category"]]),
             "source_weight": None} for item in value["items"]]


def final_answer_item(reference_answer: str | None, weight: float = FINAL_ANSWER_WEIGHT) -> dict:
    """The separate final-answer criterion (module doc)."""
    if isinstance(reference_answer, str) and reference_answer.strip():
        description = ("The response states a final answer that agrees in substance with the reference answer: "
                       + reference_answer.strip())
    else:
        description = "The response states a clear final answer that correctly resolves the question."
    return {"title": FINAL_ANSWER_TITLE, "description": description, "category": FINAL_ANSWER_CATEGORY,
            "weight": float(weight), "source_weight": None}


def has_final_answer_item(items: Sequence[Mapping[str, Any]]) -> bool:
    return any(_title_key(str(item.get("title", ""))) == _title_key(FINAL_ANSWER_TITLE) for item in items)


class RubricParser:
    """``(items, None)`` or ``(None, error)`` for one answer; a class so it pickles."""

    def __init__(self, min_items: int, max_items: int, weights: Mapping[str, float]):
        self.min_items, self.max_items, self.weights = min_items, max_items, dict(weights)

    def check(self, value: dict) -> str | None:
        return rubric_problem(value, self.min_items, self.max_items)

    def __call__(self, text: str) -> tuple[list[dict] | None, str | None]:
        value, error = parse_json_object(text, self.check)
        return (None, error) if value is None else (rubric_items(value, self.weights), None)


class RubricStage:
    """Generated rubrics for open-ended questions; ``rubric_batch`` for batches, ``__call__`` for one."""

    def __init__(self, config: LlmConfig, model: str | None = None, min_items: int = MIN_ITEMS,
                 max_items: int = MAX_ITEMS, attempts: int = DEFAULT_ATTEMPTS,
                 weights: Mapping[str, float] = CATEGORY_WEIGHTS, final_answer_weight: float = FINAL_ANSWER_WEIGHT,
                 temperature: float = 0.7, max_tokens: int | None = DEFAULT_MAX_TOKENS, seed: int | None = 0,
                 prompt: str = RUBRIC_PROMPT, complete_imported: bool = True):
        if not 1 <= min_items <= max_items:
            raise ValueError("need 1 <= min_items <= max_items")
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        if set(weights) != set(RUBRIC_CATEGORIES):
            raise ValueError(f"weights must cover exactly {RUBRIC_CATEGORIES}")
        if "{question}" not in prompt:
            raise ValueError("the rubric prompt must contain {question}")
        self.config = dataclasses.replace(config, model=model or config.model)
        self.min_items, self.max_items, self.attempts = min_items, max_items, attempts
        self.weights = {name: float(weights[name]) for name in RUBRIC_CATEGORIES}
        self.final_answer_weight = float(final_answer_weight)
        self.temperature, self.max_tokens, self.seed, self.prompt = temperature, max_tokens, seed, prompt
        self.complete_imported = complete_imported
        self.parser = RubricParser(min_items, max_items, self.weights)
        self._client: LlmClient | None = None

    def setup(self) -> None:
        if self._client is None:
            self._client = LlmClient(self.config, "llm:rubrics")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_client"] = None
        return state

    def describe(self) -> dict:
        return {"model": self.config.model, "min_items": self.min_items, "max_items": self.max_items,
                "attempts": self.attempts, "weights": dict(self.weights),
                "final_answer_weight": self.final_answer_weight, "temperature": self.temperature,
                "max_tokens": self.max_tokens, "seed": self.seed, "complete_imported": self.complete_imported}

    def import_rar_rubric(self, items: Any, essential_min: int = RAR_ESSENTIAL_MIN,
                          important_min: int = RAR_IMPORTANT_MIN) -> tuple[list[dict], int]:
        """RaR-Science items (title, description, integer weight) -> (schema items, items skipped).

        The adapter's mapping (``adapters.import_rubric``) with this stage's category weights.
        """
        return import_rubric(items, self.weights, essential_min, important_min)

    def request(self, question: dict, attempt: int) -> ChatRequest:
        text = render(self.prompt, question=question["question"],
                      reference_answer=question.get("reference_answer") or "(none given)",
                      subject=(question.get("subject") or "science").replace("_", " "),
                      min_items=str(self.min_items), max_items=str(self.max_items))
        return ChatRequest(user_message(text), temperature=self.temperature, max_tokens=self.max_tokens,
                           seed=self.seed, sample_index=attempt)

    def with_rubric(self, question: dict, items: list[dict], source: str) -> dict:
        """A copy of ``question`` with ``items`` plus the final-answer item as its rubric."""
        out = dict(question)
        out.update(rubrics=items + [final_answer_item(question.get("reference_answer"), self.final_answer_weight)],
                   rubric_source=source)
        return out

    def __call__(self, question: dict) -> dict | Rejected:
        """One record, for the engine's per-record stage wrapper."""
        return self.rubric_batch([question])[0]

    def rubric_batch(self, questions: Sequence[dict]) -> list[dict | Rejected]:
        """Questions with rubrics (or their rejects), in order; one ``chat_many`` per attempt round."""
        results: list[dict | Rejected | None] = [None] * len(questions)
        todo: list[int] = []
        for i, question in enumerate(questions):
            if question.get("split") != "open_ended":
                results[i] = question
            elif question.get("rubrics"):
                done = question
                if self.complete_imported and not has_final_answer_item(question["rubrics"]):
                    done = dict(question)
                    done["rubrics"] = list(question["rubrics"]) + [
                        final_answer_item(question.get("reference_answer"), self.final_answer_weight)]
                results[i] = done
            elif not isinstance(question.get("question"), str) or not question["question"].strip():
                results[i] = Rejected("missing_question", "no question text to write a rubric for")
            else:
                todo.append(i)
        if todo:
            self.setup()

            def ask(pairs: list[tuple[int, int]]) -> list[Completion | LlmError]:
                return self._client.chat_many([self.request(questions[todo[item]], attempt) for item, attempt in pairs])

            for i, outcome in zip(todo, with_retries_many(ask, self.parser, len(todo), self.attempts)):
                if outcome.llm_error is not None:
                    results[i] = outcome.llm_error.to_rejected()
                elif not outcome.ok:
                    results[i] = Rejected("bad_rubric", f"after {outcome.attempts} attempts: {outcome.error}")
                else:
                    results[i] = self.with_rubric(questions[i], outcome.value, "generated")
        return results  # type: ignore[return-value]

"""Dr. SCI stage 6, difficulty: k solver rollouts per question, graded, pass rate = correct / k.

``DifficultyStage(config, k=8)`` sends k rollouts of a solver model per question (rollout i
is ``sample_index`` i, and carries ``seed + i``, so rollouts differ, each is reproducible and
cached on its own), all rollouts of a batch in one ``chat_many`` call. Each rollout's final
answer is the last ``\\boxed{}`` of its text (``extract_boxed``). Grading:

* no box (or an empty or unclosed one, as in a truncated answer): ``correct=False``,
  ``final_answer=None``, ``grader='rule'`` (the rule "no final answer is wrong" decided; no
  verifier is asked);
* ``split='verifiable'``: the rule checker ``answers_equivalent(final, answer_canonical or
  reference_answer, answer_type)``, ``grader='rule'``;
* ``split='open_ended'``: an LLM verifier (``verifier_model``, default the solver's model)
  sees the question, the reference answer and the final answer and must answer exactly Yes or
  No (``parse_yes_no``); anything else is asked again (``with_retries_many``, next
  ``sample_index``, attempts after the first at ``verifier_retry_temperature`` so a greedy
  verifier can answer differently), up to ``verifier_attempts`` times. A verdict still
  unparsable then is stored as ``correct=None`` (``grader='llm'``), counts as not correct in
  ``n_correct``, and is counted in ``counts['verdict_unparsable']`` (Beam counter
  ``difficulty/verdict_unparsable``). Equal final answers of one question share one verifier
  request (same body, same cache key), so they get the same verdict.

The record gains ``rollouts`` (``schemas.science.ROLLOUT_TYPE``: index, final_answer,
correct, grader, in index order), ``n_rollouts=k``, ``n_correct`` and ``difficulty =
n_correct / k``. Rejects: ``solved_by_all`` (k/k correct, when ``drop_solved``), the
``LlmError``'s reason (``llm:http_500``, ``llm:timeout``, …) when any solver or verifier
request of the question failed for good after the client's retries, and
``missing_question`` / ``missing_split`` / ``missing_reference`` for records the stage cannot
grade.

Prompts are templates whose ``{question}`` (solver) and ``{question}``, ``{reference_answer}``,
``{final_answer}`` (verifier) are replaced literally (``str.replace``, no other formatting, so
LaTeX braces in templates need no escaping).
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, Sequence

from apache_beam.metrics import Metrics

from transforms.llm import ChatRequest, Completion, LlmClient, LlmConfig, LlmError, extract_boxed, parse_yes_no
from transforms.llm.parsing import required, with_retries_many
from transforms.records import Rejected
from transforms.science.answers import DEFAULT_REL_TOL, UNKNOWN, answer_verdict

METRICS_NAMESPACE = "difficulty"
DEFAULT_K = 8
DEFAULT_MAX_TOKENS = 8192
DEFAULT_VERIFIER_MAX_TOKENS = 1024  # room for a <think> block before the Yes/No
DEFAULT_VERIFIER_ATTEMPTS = 3

SOLVER_PROMPT = (
    "{question}\n\n"
    "Please reason step by step, and put your final answer within \\boxed{}. "
    "If the question asks for an explanation rather than a value, put a concise statement of your "
    "conclusion in the box."
)

VERIFIER_PROMPT = (
    "You are checking a student's final answer to a science question against the reference answer.\n\n"
    "Question:\n{question}\n\n"
    "Reference answer:\n{reference_answer}\n\n"
    "Student's final answer:\n{final_answer}\n\n"
    "Does the student's final answer agree with the reference answer in substance: the same "
    "conclusion, no contradiction, and no key element of the reference missing? Differences in "
    "wording, notation or level of detail do not matter.\n"
    "Answer with exactly one word: Yes or No."
)


def render(template: str, **values: str) -> str:
    """``template`` with each ``{name}`` replaced by its value (literally, nothing else interpreted)."""
    out = template
    for name, value in values.items():
        out = out.replace("{" + name + "}", value)
    return out


def user_message(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def reference_of(question: dict) -> str | None:
    """What a rollout is graded against: the canonical answer, else the reference answer."""
    for name in ("answer_canonical", "reference_answer"):
        value = question.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def input_problem(question: Any) -> Rejected | None:
    """Why the stage cannot grade ``question``, or None."""
    if not isinstance(question, dict) or not isinstance(question.get("question"), str) \
            or not question["question"].strip():
        return Rejected("missing_question", "no question text to solve")
    if question.get("split") not in ("verifiable", "open_ended"):
        return Rejected("missing_split", f"split is {question.get('split')!r}; the split stage runs first")
    if reference_of(question) is None:
        return Rejected("missing_reference", "no answer_canonical or reference_answer to grade against")
    return None


def rule_verdict(question: dict, final_answer: str, rel_tol: float = DEFAULT_REL_TOL) -> str:
    """The rule checker's verdict (equivalent / different / unknown) on a verifiable question's final answer."""
    return answer_verdict(final_answer, reference_of(question), question.get("answer_type"), rel_tol)


def summarize(question: dict, rollouts: list[dict], k: int) -> dict:
    """A copy of ``question`` with rollouts, n_rollouts, n_correct and difficulty set."""
    n_correct = sum(1 for r in rollouts if r["correct"] is True)
    out = dict(question)
    out.update(rollouts=rollouts, n_rollouts=k, n_correct=n_correct, difficulty=n_correct / k)
    return out


class DifficultyStage:
    """Solver rollouts + grading; ``grade_batch`` for batches, ``__call__`` for one record.

    Build clients in ``setup()`` (once per worker); pickling drops them.
    """

    def __init__(self, config: LlmConfig, k: int = DEFAULT_K, solver_model: str | None = None,
                 verifier_model: str | None = None, temperature: float = 1.0, max_tokens: int | None = DEFAULT_MAX_TOKENS,
                 top_p: float | None = None, seed: int | None = 0, prompt: str = SOLVER_PROMPT,
                 verifier_prompt: str = VERIFIER_PROMPT, verifier_temperature: float = 0.0,
                 verifier_retry_temperature: float = 0.7, verifier_max_tokens: int | None = DEFAULT_VERIFIER_MAX_TOKENS,
                 verifier_attempts: int = DEFAULT_VERIFIER_ATTEMPTS, drop_solved: bool = True,
                 rel_tol: float = DEFAULT_REL_TOL):
        if k < 1:
            raise ValueError("k must be >= 1")
        if verifier_attempts < 1:
            raise ValueError("verifier_attempts must be >= 1")
        if "{question}" not in prompt:
            raise ValueError("the solver prompt must contain {question}")
        for name in ("{question}", "{reference_answer}", "{final_answer}"):
            if name not in verifier_prompt:
                raise ValueError(f"the verifier prompt must contain {name}")
        self.solver_config = dataclasses.replace(config, model=solver_model or config.model)
        self.verifier_config = dataclasses.replace(config, model=verifier_model or self.solver_config.model)
        self.k, self.temperature, self.max_tokens, self.top_p, self.seed = k, temperature, max_tokens, top_p, seed
        self.prompt, self.verifier_prompt = prompt, verifier_prompt
        self.verifier_temperature, self.verifier_retry_temperature = verifier_temperature, verifier_retry_temperature
        self.verifier_max_tokens, self.verifier_attempts = verifier_max_tokens, verifier_attempts
        self.drop_solved, self.rel_tol = drop_solved, rel_tol
        self.counts: Counter = Counter()
        self._solver: LlmClient | None = None
        self._verifier: LlmClient | None = None
        self._metrics: dict[str, Any] = {}

    # ---- lifecycle ----------------------------------------------------------------------

    def setup(self) -> None:
        """Build the LLM clients (one when solver and verifier are the same model)."""
        if self._solver is None:
            self._solver = LlmClient(self.solver_config, "llm:difficulty")
            self._verifier = (self._solver if self.verifier_config == self.solver_config
                              else LlmClient(self.verifier_config, "llm:difficulty_verifier"))

    def close(self) -> None:
        for client in {id(c): c for c in (self._solver, self._verifier) if c is not None}.values():
            client.close()
        self._solver = self._verifier = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.update(_solver=None, _verifier=None, _metrics={}, counts=Counter())
        return state

    def describe(self) -> dict:
        """The stage's settings for a manifest."""
        return {"k": self.k, "solver_model": self.solver_config.model, "verifier_model": self.verifier_config.model,
                "temperature": self.temperature, "max_tokens": self.max_tokens, "top_p": self.top_p,
                "seed": self.seed, "verifier_temperature": self.verifier_temperature,
                "verifier_retry_temperature": self.verifier_retry_temperature,
                "verifier_attempts": self.verifier_attempts, "drop_solved": self.drop_solved}

    # ---- requests -----------------------------------------------------------------------

    def solver_request(self, question: dict, index: int) -> ChatRequest:
        return ChatRequest(user_message(render(self.prompt, question=question["question"])),
                           temperature=self.temperature, max_tokens=self.max_tokens, top_p=self.top_p,
                           seed=self.seed, sample_index=index)

    def verifier_request(self, question: dict, final_answer: str, attempt: int) -> ChatRequest:
        text = render(self.verifier_prompt, question=question["question"],
                      reference_answer=question.get("reference_answer") or reference_of(question),
                      final_answer=final_answer)
        temperature = self.verifier_temperature if attempt == 0 else self.verifier_retry_temperature
        return ChatRequest(user_message(text), temperature=temperature, max_tokens=self.verifier_max_tokens,
                           seed=self.seed, sample_index=attempt)

    # ---- grading ------------------------------------------------------------------------

    def __call__(self, question: dict) -> dict | Rejected:
        """One record, for the engine's per-record stage wrapper."""
        return self.grade_batch([question])[0]

    def grade_batch(self, questions: Sequence[dict]) -> list[dict | Rejected]:
        """Graded copies of ``questions`` (or their rejects), in order."""
        self.setup()
        results: list[dict | Rejected | None] = [input_problem(q) for q in questions]
        todo = [i for i, r in enumerate(results) if r is None]
        requests = [self.solver_request(questions[i], j) for i in todo for j in range(self.k)]
        answers = self._solver.chat_many(requests) if requests else []
        rollouts: dict[int, list[dict]] = {}
        for n, i in enumerate(todo):
            batch = answers[n * self.k:(n + 1) * self.k]
            failure = next((a for a in batch if isinstance(a, LlmError)), None)
            if failure is not None:
                results[i] = failure.to_rejected()
                continue
            rollouts[i] = self._rule_pass(questions[i], batch)
        self._verify(questions, rollouts, results)
        for i, graded in rollouts.items():
            if results[i] is not None:
                continue
            record = summarize(questions[i], graded, self.k)
            if self.drop_solved and record["n_correct"] == self.k:
                self._count("solved_by_all")
                results[i] = Rejected("solved_by_all", f"{self.k}/{self.k} rollouts correct")
            else:
                results[i] = record
        return results  # type: ignore[return-value]

    def _rule_pass(self, question: dict, answers: Sequence[Completion]) -> list[dict]:
        """Rollouts with their final answers; verdicts of boxless and verifiable rollouts filled in."""
        graded = []
        for index, answer in enumerate(answers):
            final = extract_boxed(answer.text)
            if final is None:
                self._count("no_box")
                graded.append({"index": index, "final_answer": None, "correct": False, "grader": "rule"})
            elif question["split"] == "verifiable":
                verdict = rule_verdict(question, final, self.rel_tol)
                if verdict == UNKNOWN:  # over the checker's limits: counted, graded not correct
                    self._count("rule_unknown")
                graded.append({"index": index, "final_answer": final, "correct": verdict == "equivalent",
                               "grader": "rule"})
            else:
                graded.append({"index": index, "final_answer": final, "correct": None, "grader": "llm"})
        return graded

    def _verify(self, questions: Sequence[dict], rollouts: dict[int, list[dict]],
                results: list[dict | Rejected | None]) -> None:
        """Ask the verifier about every open-ended rollout with a final answer (one batch per attempt)."""
        keys: list[tuple[int, str]] = []  # (question, final answer), each asked once
        for i, graded in rollouts.items():
            for rollout in graded:
                if rollout["grader"] == "llm" and (i, rollout["final_answer"]) not in keys:
                    keys.append((i, rollout["final_answer"]))
        if not keys:
            return

        def ask(pairs: list[tuple[int, int]]) -> list[Completion | LlmError]:
            return self._verifier.chat_many([self.verifier_request(questions[keys[item][0]], keys[item][1], attempt)
                                             for item, attempt in pairs])

        parsed = with_retries_many(ask, required(parse_yes_no, "not a plain Yes/No"), len(keys),
                                   self.verifier_attempts)
        verdicts = dict(zip(keys, parsed))
        for i, graded in rollouts.items():
            for rollout in graded:
                if rollout["grader"] != "llm":
                    continue
                outcome = verdicts[(i, rollout["final_answer"])]
                if outcome.llm_error is not None:
                    if results[i] is None:
                        results[i] = outcome.llm_error.to_rejected()
                elif outcome.ok:
                    rollout["correct"] = outcome.value
                else:
                    self._count("verdict_unparsable")
                    rollout["correct"] = None

    def _count(self, name: str) -> None:
        self.counts[name] += 1
        counter = self._metrics.get(name)
        if counter is None:
            counter = self._metrics[name] = Metrics.counter(METRICS_NAMESPACE, name)
        counter.inc()

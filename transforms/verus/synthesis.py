"""Synthesis loops of the Verus pipeline (issue 5, stage 5): generate -> verify -> repair episodes.

Everything is driven by an injected ``LlmClient`` (tests: ``transforms.testing.openai_server.FakeOpenAIServer``)
and an injected ``verify_fn(programs) -> [VerificationResult]`` (``verifier_fn(config)`` wraps
``verify_many``; tests point its ``VerusConfig`` at ``fake_verus.py``). Requests go out in batches
through ``chat_many``; every request carries a ``sample_index`` (and, when ``seed`` is set,
``seed + sample_index``), so samples of one prompt differ and a rerun on the same cache directory
replays every answer without an HTTP call.

Episode (``episodes`` / ``episode``): the start messages -> the model's answer -> its ```rust fence
-> static checks (no fence: ``no_code``; a task's spec-and-code fingerprint changed:
``spec_changed``; ``cheating_reason``: ``cheating:<why>``; these are not sent to verus) -> verify ->
while not accepted and repairs are left: a user turn with the candidate and why it was rejected, in
the SAFE layout (``REPAIR_PROMPT``, the fenced program, "The error messages are as follows:",
the errors) -> the fix -> checks again. Accepted = verified, no cheating, and the spec fingerprint
equal to the task's (for a free prompt: to the first candidate that parsed). The whole conversation
goes back to the model on every repair, and the trajectory (``TRAJECTORY_SCHEMA``) is that
conversation with one ``verifier`` turn after each candidate; assistant turns carry the extracted
program and its verdict. Status: ``success`` when accepted, ``timeout`` when the last verdict (or
the LLM failure that ended the episode) was a timeout, else ``error``. Every repair step from a
candidate that failed verification to an accepted fix yields a repair pair (``REPAIR_PAIR_SCHEMA``,
origin ``synthesis``). Fields starting with ``_`` (``_repairs``, ``_accepted``, ``_reason``,
``_result``, ...) travel with the trajectory and are never written (``public``).

Loops: ``self_synthesis`` (program, then its spec + proof; output filter on accepted programs;
stop rule), ``tutorial_synthesis`` (variants of one seed per feature that must use that feature),
``repair_synthesis`` (failing program + errors -> fix) and ``proof_completion`` (tasks). They yield
``(kind, row)`` pairs: ``program`` (``VERUS_PROGRAM_SCHEMA``), ``trajectory``, ``repair``,
``rejected`` (a ``Rejected`` with the trajectory id in the detail: ``not_accepted:<why>``,
``missing_target_feature``, and by ``OutputFilter``: ``trivial_spec``, ``near_seed``,
``near_duplicate_output``) and, last for ``self_synthesis``, ``stopped`` (why the loop ended).
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from schemas.verus import ESCAPE_COLUMNS, FEATURE_COLUMNS, FEATURE_TERMS, VERUS_FEATURES
from transforms.dedup.minhash import MinHashConfig, band_hashes, estimated_jaccard, signatures
from transforms.llm.client import ChatRequest, Completion, LlmClient, LlmError
from transforms.records import Rejected, content_id
from transforms.verus import programs
from transforms.verus.features import extract_features, feature_columns, program_summary
from transforms.verus.syntax import parse_verus
from transforms.verus.tasks import (cheating_reason, spec_code_fingerprint, strip_proof, target_text,
                                    trivial_spec_reason)
from transforms.verus.verifier import VerificationResult, VerusConfig, verify_many

VerifyFn = Callable[[Sequence[str]], Sequence[VerificationResult]]
ERRORS_HEADER = "The error messages are as follows:"
SELF_PROGRAM_PROMPT = ("Write a new, self-contained Rust program: one or two functions implementing a small "
                       "algorithm (loops, arrays or vectors, arithmetic). Executable code only, no specification "
                       "and no proof. Respond with the program in a ```rust fence.")
SELF_SPEC_PROOF_PROMPT = ("Turn this Rust program into a Verus program that Verus verifies: put it in verus! {{ }}, "
                          "write its specification (requires / ensures, spec fns where useful) and its proof (loop "
                          "invariants, assertions, lemmas). Do not use assume, admit or external_body. Respond with "
                          "the full program in a ```rust fence.\n\n{program}")
TUTORIAL_PROMPT = ("Here is a Verus program that uses {feature}:\n\n{seed}\n\nWrite a new, "
                   "different Verus program (other functions and data, not a copy of this one) that also uses "
                   "{feature}, with a specification (ensures clauses that state what the code computes) and a "
                   "proof that Verus verifies. Do not use assume, admit or external_body. "
                   "Respond with the full program in a ```rust fence.")
NO_CODE_FEEDBACK = "Your answer holds no ```rust fenced program. Respond with the full program in a ```rust fence."


def extract_rust_code(text: str | None) -> str | None:
    """The longest ```rust (or ```verus / bare) fence of ``text`` (``transforms.verus.programs.fenced_code``)."""
    return programs.fenced_code(text)


def verifier_fn(config: VerusConfig, max_workers: int = 4) -> VerifyFn:
    """A ``verify_fn`` running the real (or fake) verus through ``verify_many``."""
    return functools.partial(verify_many, config=config, max_workers=max_workers)


def public(row: Mapping[str, Any]) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("_")}


# --------------------------------------------------------------------------- episodes


@dataclass
class Start:
    """How an episode begins: the messages up to the first answer, and what the answer must respect.

    ``task``: a proof-completion task (the answer must keep its spec fingerprint; its own
    external_body items are allowed); ``reference``: a program whose fingerprint a fix must keep
    (repair loop); neither: the first candidate that parses fixes the spec.
    """

    messages: list[dict]
    loop: str = "proof_completion"
    task: str | None = None
    reference: str | None = None
    task_id: str | None = None
    sample_index: int = 0
    meta: dict = field(default_factory=dict)


def as_start(task_or_prompt, loop: str | None = None, sample_index: int = 0) -> Start:
    """A ``Start`` from itself, a task dict (``{task, task_id?}``), a task text (parses as Verus) or a prompt."""
    if isinstance(task_or_prompt, Start):
        return task_or_prompt
    if isinstance(task_or_prompt, Mapping):
        task, task_id = task_or_prompt["task"], task_or_prompt.get("task_id")
    elif not isinstance(parse_verus(task_or_prompt), Rejected):
        task, task_id = task_or_prompt, None
    else:
        return Start([{"role": "user", "content": task_or_prompt}], loop or "self_synthesis",
                     sample_index=sample_index)
    content = programs.TASK_PROMPT + "\n\n" + programs.fenced(task)
    return Start([{"role": "user", "content": content}], loop or "proof_completion", task=task,
                 task_id=task_id if task_id is not None else programs.program_id(task), sample_index=sample_index)


def _error_text(result: VerificationResult) -> str:
    messages = result.error_messages()
    if messages:
        return "\n".join(messages)
    return f"verification {result.status}" + (f": {result.detail}" if result.detail else "")


def _turn(role: str, content: str, program: str | None = None, status: str | None = None) -> dict:
    return {"role": role, "content": content, "program": program, "verification_status": status}


class _Episode:
    def __init__(self, start: Start):
        self.start = start
        self.messages = [dict(m) for m in start.messages]
        self.turns = [_turn(m["role"], m["content"]) for m in start.messages]
        fixed = start.task if start.task is not None else start.reference
        self.fingerprint = spec_code_fingerprint(fixed) if fixed is not None else None
        self.candidates: list[tuple[str | None, VerificationResult | None, str | None]] = []
        self.repairs: list[dict] = []
        self.done = False
        self.llm_error: LlmError | None = None
        self.model: str | None = None

    def check(self, program: str | None) -> str | None:
        """Static reason to reject a candidate before verifying it."""
        if program is None:
            return "no_code"
        parsed = parse_verus(program)
        if self.fingerprint is None and not isinstance(parsed, Rejected):
            self.fingerprint = spec_code_fingerprint(parsed)
        if self.fingerprint is not None and spec_code_fingerprint(program) != self.fingerprint:
            return "spec_changed"
        cheat = cheating_reason(program, self.start.task if self.start.task is not None else self.start.reference)
        return f"cheating:{cheat}" if cheat else None


def _request(ep: _Episode, temperature, max_tokens, seed) -> ChatRequest:
    return ChatRequest(messages=list(ep.messages), temperature=temperature, max_tokens=max_tokens, seed=seed,
                       sample_index=ep.start.sample_index)


def episodes(starts: Sequence, client: LlmClient, verify_fn: VerifyFn, *, max_repairs: int = 2,
             temperature: float | None = None, max_tokens: int | None = None, seed: int | None = None,
             model: str | None = None) -> list[dict]:
    """Run episodes in lock step (one ``chat_many`` and one ``verify_fn`` batch per round); trajectories in order."""
    if max_repairs < 0:
        raise ValueError("max_repairs must be >= 0")
    eps = [_Episode(as_start(s)) for s in starts]
    model = model or getattr(getattr(client, "config", None), "model", None)
    for round_ in range(max_repairs + 1):
        active = [ep for ep in eps if not ep.done]
        if not active:
            break
        answers = client.chat_many([_request(ep, temperature, max_tokens, seed) for ep in active])
        to_verify: list[tuple[_Episode, str]] = []
        for ep, answer in zip(active, answers):
            if isinstance(answer, LlmError):
                ep.llm_error, ep.done = answer, True
                continue
            text = answer.text if isinstance(answer, Completion) else str(answer)
            ep.model = (answer.model if isinstance(answer, Completion) else None) or model
            program = extract_rust_code(text)
            ep.messages.append({"role": "assistant", "content": text})
            reason = ep.check(program)
            if reason is None:
                to_verify.append((ep, program))
                ep.turns.append(_turn("assistant", text, program))  # verdict filled below
            else:
                ep.turns.append(_turn("assistant", text, program))
                ep.candidates.append((program, None, reason))
        results = list(verify_fn([p for _, p in to_verify])) if to_verify else []
        for (ep, program), result in zip(to_verify, results):
            ep.turns[-1]["verification_status"] = result.status
            ep.candidates.append((program, result, None if result.verified else f"not_verified:{result.status}"))
        for ep in active:
            if ep.done:
                continue
            program, result, reason = ep.candidates[-1]
            if reason is None:
                ep.turns.append(_turn("verifier", f"verified: {result.n_verified} verified, 0 errors"))
                _record_repair(ep, model)
                ep.done = True
                continue
            if result is not None:
                feedback = _error_text(result)
            elif reason == "no_code":
                feedback = NO_CODE_FEEDBACK
            elif reason == "spec_changed":
                feedback = ("error: the specification or the executable code was changed; keep them exactly "
                            "as given and change only the proof")
            else:
                feedback = f"error: the proof uses {reason.split(':', 1)[1]}, which is not allowed"
            ep.turns.append(_turn("verifier", feedback))
            if round_ == max_repairs:
                ep.done = True
                continue
            if program is None:
                message = NO_CODE_FEEDBACK
            else:
                message = (programs.REPAIR_PROMPT + "\n\n" + programs.fenced(program) + "\n\n" + ERRORS_HEADER
                           + "\n" + feedback)
            ep.messages.append({"role": "user", "content": message})
            ep.turns.append(_turn("user", message))
    return [_trajectory(ep, model) for ep in eps]


def episode(task_or_prompt, client: LlmClient, verify_fn: VerifyFn, *, max_repairs: int = 2, **kwargs) -> dict:
    """One generate -> verify -> repair episode; the trajectory dict (see the module docstring)."""
    return episodes([task_or_prompt], client, verify_fn, max_repairs=max_repairs, **kwargs)[0]


def _record_repair(ep: _Episode, model: str | None) -> None:
    """The last candidate was accepted: a repair pair when the one before it failed verification."""
    if len(ep.candidates) < 2:
        return
    failing, failing_result, _ = ep.candidates[-2]
    fixed, fixed_result, _ = ep.candidates[-1]
    if failing is None or failing_result is None or failing_result.verified:
        return
    errors = _error_text(failing_result)
    parsed = parse_verus(fixed)
    ep.repairs.append({
        "id": content_id("verus-repair", programs.normalize_program(failing), errors,
                         programs.normalize_program(fixed)),
        "origin": "synthesis", "source": f"synthesis:{ep.start.loop}", "source_id": None,
        "task_id": ep.start.task_id, "model": ep.model or model, "failing_program": failing,
        "failing_status": failing_result.status, "errors": errors, "fixed_program": fixed,
        "fixed_program_id": programs.program_id(fixed), "verus_version": fixed_result.verus_version,
        **feature_columns(parsed)})


def _trajectory(ep: _Episode, model: str | None) -> dict:
    final_program, final_result, reason = ep.candidates[-1] if ep.candidates else (None, None, None)
    accepted = bool(ep.candidates) and reason is None and ep.llm_error is None
    if accepted:
        status = "success"
    elif (ep.llm_error is not None and ep.llm_error.kind == "timeout") or (
            ep.llm_error is None and final_result is not None and final_result.status == "timeout"):
        status = "timeout"
    else:
        status = "error"
    if ep.llm_error is not None:
        reason = ep.llm_error.reason
    elif not ep.candidates:
        reason = "no_answer"
    parsed = parse_verus(final_program) if final_program else None
    features = (feature_columns(parsed) if parsed is not None and not isinstance(parsed, Rejected)
                else dict.fromkeys(FEATURE_COLUMNS + ESCAPE_COLUMNS))
    versions = [r.verus_version for _, r, _ in ep.candidates if r is not None and r.verus_version]
    tid = content_id("verus-trajectory", ep.start.loop, json.dumps(ep.turns, sort_keys=True, ensure_ascii=True))
    for pair in ep.repairs:
        pair["source_id"] = tid
    return {
        "id": tid, "loop": ep.start.loop, "task_id": ep.start.task_id, "model": ep.model or model,
        "status": status, "n_turns": len(ep.turns), "turns": ep.turns, "final_program": final_program,
        "final_verification_status": final_result.status if final_result is not None else None,
        "verus_version": versions[-1] if versions else None, **features,
        "_accepted": accepted, "_reason": None if accepted else reason, "_result": final_result,
        "_repairs": ep.repairs, "_start": ep.start,
    }


# --------------------------------------------------------------------------- records


def program_record(trajectory: Mapping[str, Any], origin: str, *, source: str | None = None,
                   parent_id: str | None = None, target_feature: str | None = None) -> dict:
    """The accepted final program of an episode as a ``VERUS_PROGRAM_SCHEMA`` row."""
    program = trajectory["final_program"]
    parsed = parse_verus(program)
    if isinstance(parsed, Rejected):
        raise ValueError(f"accepted program does not parse: {parsed.detail}")
    return {"id": programs.program_id(program), "origin": origin, "source": source or f"synthesis:{origin}",
            "source_id": trajectory["id"], "parent_id": parent_id, "target_feature": target_feature,
            "model": trajectory["model"], "program": program, "program_without_proof": strip_proof(parsed),
            "spec_fingerprint": spec_code_fingerprint(parsed), **program_summary(parsed), **feature_columns(parsed),
            **trajectory["_result"].record_fields(), "accepted": True}


def _not_accepted(trajectory: Mapping[str, Any]) -> Rejected:
    return Rejected(f"not_accepted:{trajectory['_reason']}", trajectory["id"])


def _episode_rows(trajectory: dict) -> Iterator[tuple[str, Any]]:
    yield "trajectory", trajectory
    for pair in trajectory["_repairs"]:
        yield "repair", pair


# --------------------------------------------------------------------------- near-dup filter


_WHITESPACE = re.compile(r"\s+")


class NearDupIndex:
    """Programs kept so far: exact (whitespace-collapsed) and MinHash LSH near-dup lookups.

    Candidates come from ``band_hashes`` buckets; with ``config.verify`` a candidate counts only
    when ``estimated_jaccard`` of the signatures reaches ``config.threshold``.
    """

    def __init__(self, config: MinHashConfig | None = None):
        self.config = config or MinHashConfig.for_code()
        self.bands, self.rows = self.config.band_layout
        self.exact: set[str] = set()
        self.buckets: dict[tuple[int, int], list[int]] = {}
        self.sigs: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.exact)

    def add_many(self, texts: Sequence[str], keep: bool = True) -> list[bool]:
        """For each text in order: True when it duplicates one kept before (earlier texts of the call
        included); texts that are not duplicates are kept (with ``keep=False``: only looked up)."""
        if not texts:
            return []
        sigs, has = signatures(list(texts), self.config)
        keys = band_hashes(sigs, self.bands, self.rows)
        out = []
        for i, text in enumerate(texts):
            norm = _WHITESPACE.sub(" ", text).strip()
            dup = norm in self.exact
            if not dup and has[i]:
                candidates = {j for b in range(self.bands) for j in self.buckets.get((b, int(keys[i, b])), ())}
                dup = any(not self.config.verify or estimated_jaccard(sigs[i], self.sigs[j]) >= self.config.threshold
                          for j in sorted(candidates))
            out.append(dup)
            if dup or not keep:
                continue
            self.exact.add(norm)
            if has[i]:
                index = len(self.sigs)
                self.sigs.append(sigs[i])
                for b in range(self.bands):
                    self.buckets.setdefault((b, int(keys[i, b])), []).append(index)
        return out


class OutputFilter:
    """What a synthesized program must not be: a trivial spec (``tasks.trivial_spec_reason``:
    ``trivial_spec``), equal or MinHash-near to a seed (``near_seed``) or to an output kept before
    (``near_duplicate_output``, across the loops sharing the filter). Programs are compared by
    ``novelty_key``: the target key (spec + exec code of the target fns, no proof) with the program's own
    names renamed in order of use."""

    def __init__(self, seeds: Sequence[str] = (), config: MinHashConfig | None = None):
        self.seeds = NearDupIndex(config)
        self.seeds.add_many([_key(p) for p in seeds])
        self.outputs = NearDupIndex(config)

    def near_seed(self, program: str | None) -> Rejected | None:
        """``near_seed`` for a program equal or near to a seed, whatever its verdict (a copy adds no
        data, and a seed that does not verify must not make its copy a ``not_accepted``)."""
        if not program or isinstance(parse_verus(program), Rejected) or not self.seeds.add_many([_key(program)], keep=False)[0]:
            return None
        return Rejected("near_seed", "equal or near to a seed's target")

    def reasons(self, programs_: Sequence[str]) -> list[Rejected | None]:
        """For each program in order: a Rejected (detail: why), or None when it is kept (and
        remembered as an output)."""
        out: list[Rejected | None] = []
        for program in programs_:
            parsed = parse_verus(program)
            if isinstance(parsed, Rejected):  # verified, yet not structured by parse_verus
                out.append(Rejected("parse_error", parsed.detail))
                continue
            why = trivial_spec_reason(parsed)
            key = _key(program)
            if why:
                out.append(Rejected("trivial_spec", why))
            elif self.seeds.add_many([key], keep=False)[0]:
                out.append(Rejected("near_seed", "equal or near to a seed's target"))
            elif self.outputs.add_many([key])[0]:
                out.append(Rejected("near_duplicate_output", "equal or near to an earlier output's target"))
            else:
                out.append(None)
        return out


# names a program declares: items and bindings (``fn f``, ``let mut x``, ``struct S``) and parameters,
# fields and return bindings (``(x: T``, ``, y: T``)
_DECLARED = re.compile(r"\b(?:fn|struct|enum|trait|type|const|static|let(?:\s+mut)?|ghost|tracked)\s+([A-Za-z_]\w*)"
                       r"|[(,{]\s*(?:mut\s+|ghost\s+|tracked\s+)?([A-Za-z_]\w*)\s*:(?!:)")
_NOT_NAMES = frozenset({"self", "Self", "mut", "_", "main"})


def novelty_key(program: str) -> str:
    """The target key (``tasks.target_text``) with the names the program declares -- fns, parameters,
    return bindings, lets, types, fields -- renamed ``n0, n1, ...`` in order of first use, so a copy
    that only renames is still a copy (library names and keywords stay)."""
    declared = {a or b for a, b in _DECLARED.findall(program)} - _NOT_NAMES
    tokens = target_text(program).split()
    order = {name: f"n{i}" for i, name in enumerate(dict.fromkeys(t for t in tokens if t in declared))}
    return " ".join(order.get(t, t) for t in tokens)


def _key(program: str) -> str:
    return novelty_key(program)


# --------------------------------------------------------------------------- loops


def self_synthesis(client: LlmClient, verify_fn: VerifyFn, *, batch_size: int = 500,
                   stop_duplicate_share: float = 0.95, max_batches: int = 10,
                   minhash: MinHashConfig | None = None, max_repairs: int = 2, temperature: float | None = 1.0,
                   max_tokens: int | None = None, seed: int | None = 0,
                   output_filter: OutputFilter | None = None) -> Iterator[tuple[str, Any]]:
    """Self-synthesis: per batch, ``batch_size`` programs, then each one's spec + proof (an episode).

    Accepted programs go through ``output_filter`` (``OutputFilter``: trivial spec, near a seed,
    near an earlier output, ``parse_error`` for a verified program ``parse_verus`` cannot structure); the loop stops after a batch in which at least
    ``stop_duplicate_share`` of the accepted programs were near a seed or an earlier output (a
    batch with none accepted does not count), or after ``max_batches``.
    """
    if batch_size < 1 or max_batches < 1 or not 0 < stop_duplicate_share <= 1:
        raise ValueError("batch_size and max_batches must be >= 1, stop_duplicate_share in (0, 1]")
    output_filter = output_filter or OutputFilter(config=minhash)
    first = {"role": "user", "content": SELF_PROGRAM_PROMPT}
    stopped = {"reason": "max_batches", "batches": max_batches, "programs": 0, "last_duplicate_share": None}
    total = 0
    for batch in range(max_batches):
        samples = [batch * batch_size + i for i in range(batch_size)]
        answers = client.chat_many([ChatRequest([first], temperature=temperature, max_tokens=max_tokens, seed=seed,
                                                sample_index=s) for s in samples])
        starts = []
        for s, answer in zip(samples, answers):
            if isinstance(answer, LlmError):
                yield "rejected", Rejected(answer.reason, f"sample {s}: {answer}")
                continue
            code = extract_rust_code(answer.text)
            if code is None:
                yield "rejected", Rejected("no_code", f"sample {s}: the program answer holds no ```rust fence")
                continue
            messages = [first, {"role": "assistant", "content": answer.text},
                        {"role": "user", "content": SELF_SPEC_PROOF_PROMPT.format(program=programs.fenced(code))}]
            starts.append(Start(messages, "self_synthesis", sample_index=s))
        trajectories = episodes(starts, client, verify_fn, max_repairs=max_repairs, temperature=temperature,
                                max_tokens=max_tokens, seed=seed)
        accepted = [i for i, t in enumerate(trajectories) if t["_accepted"]]
        verdicts = output_filter.reasons([trajectories[i]["final_program"] for i in accepted])
        verdict_of = dict(zip(accepted, verdicts))  # by position: equal episodes share a trajectory id
        dups = [v is not None and v.reason != "trivial_spec" for v in verdicts]
        for i, t in enumerate(trajectories):
            yield from _episode_rows(t)
            if not t["_accepted"] and (copy := output_filter.near_seed(t["final_program"])) is not None:
                yield "rejected", Rejected(copy.reason, f"{t['id']}: {copy.detail}")
            elif not t["_accepted"]:
                yield "rejected", _not_accepted(t)
            elif verdict_of[i] is not None:
                yield "rejected", Rejected(verdict_of[i].reason, f"{t['id']}: {verdict_of[i].detail}")
            else:
                total += 1
                yield "program", program_record(t, "self_synthesis")
        share = (sum(dups) / len(dups)) if dups else None
        stopped.update(batches=batch + 1, programs=total, last_duplicate_share=share)
        if share is not None and share >= stop_duplicate_share:
            stopped["reason"] = "duplicates"
            break
    yield "stopped", stopped


def tutorial_synthesis(seeds_by_feature: Mapping[str, str], client: LlmClient, verify_fn: VerifyFn, *,
                       variants_per_seed: int = 4, max_repairs: int = 2, temperature: float | None = 1.0,
                       max_tokens: int | None = None, seed: int | None = 0,
                       output_filter: OutputFilter | None = None) -> Iterator[tuple[str, Any]]:
    """Tutorial-based synthesis: ``variants_per_seed`` variants of the seed of each feature (the
    prompt names the feature in Verus terms, ``schemas.verus.FEATURE_TERMS``); an accepted variant
    that does not use its feature (``extract_features``) is rejected ``missing_target_feature``, one
    ``output_filter`` refuses (``OutputFilter``; by default against the tutorial seeds) by its reason."""
    output_filter = output_filter or OutputFilter(list(seeds_by_feature.values()))
    unknown = sorted(set(seeds_by_feature) - set(VERUS_FEATURES))
    if unknown:
        raise ValueError(f"unknown Verus features {unknown}; see schemas.verus.VERUS_FEATURES")
    starts = []
    for feature in sorted(seeds_by_feature):
        seed_program = seeds_by_feature[feature]
        parent = programs.program_id(seed_program)
        prompt = TUTORIAL_PROMPT.format(feature=FEATURE_TERMS[feature], seed=programs.fenced(seed_program))
        for i in range(variants_per_seed):
            starts.append(Start([{"role": "user", "content": prompt}], "tutorial", task_id=parent, sample_index=i,
                                meta={"feature": feature, "parent_id": parent}))
    for t in episodes(starts, client, verify_fn, max_repairs=max_repairs, temperature=temperature,
                      max_tokens=max_tokens, seed=seed):
        yield from _episode_rows(t)
        meta = t["_start"].meta
        if not t["_accepted"] and (copy := output_filter.near_seed(t["final_program"])) is not None:
            yield "rejected", Rejected(copy.reason, f"{t['id']}: {copy.detail}")
        elif not t["_accepted"]:
            yield "rejected", _not_accepted(t)
        elif isinstance(parsed := parse_verus(t["final_program"]), Rejected):
            yield "rejected", Rejected("parse_error", f"{t['id']}: {parsed.detail}")
        elif extract_features(parsed).get(meta["feature"], 0) <= 0:
            yield "rejected", Rejected("missing_target_feature", f"{t['id']}: no {meta['feature']}")
        elif (verdict := output_filter.reasons([t["final_program"]])[0]) is not None:
            yield "rejected", Rejected(verdict.reason, f"{t['id']}: {verdict.detail}")
        else:
            yield "program", program_record(t, "tutorial", parent_id=meta["parent_id"], target_feature=meta["feature"])


def repair_synthesis(failures: Sequence[Mapping[str, Any]], client: LlmClient, verify_fn: VerifyFn, *,
                     max_repairs: int = 1, temperature: float | None = None, max_tokens: int | None = None,
                     seed: int | None = 0) -> Iterator[tuple[str, Any]]:
    """Repair loop: ``{program, errors, task_id?}`` (a failed candidate and its verifier errors) -> fixes.

    The first request is the SAFE debugging layout; the fix must keep the failing program's spec
    fingerprint. Accepted fixes become programs (origin ``repair``) and repair pairs.
    """
    starts = []
    for failure in failures:
        message = (programs.REPAIR_PROMPT + "\n\n" + programs.fenced(failure["program"]) + "\n\n" + ERRORS_HEADER
                   + "\n" + failure["errors"])
        starts.append(Start([{"role": "user", "content": message}], "repair", reference=failure["program"],
                            task_id=failure.get("task_id") or programs.program_id(failure["program"]),
                            meta={"failing": failure["program"], "errors": failure["errors"],
                                  "status": failure.get("status") or programs.failing_status(failure["errors"])}))
    for t in episodes(starts, client, verify_fn, max_repairs=max_repairs, temperature=temperature,
                      max_tokens=max_tokens, seed=seed):
        meta = t["_start"].meta
        if t["_accepted"] and len([turn for turn in t["turns"] if turn["role"] == "assistant"]) == 1:
            # fixed at the first answer: the pair is the given failure -> this fix
            fixed = t["final_program"]
            t["_repairs"].append({
                "id": content_id("verus-repair", programs.normalize_program(meta["failing"]), meta["errors"],
                                 programs.normalize_program(fixed)),
                "origin": "synthesis", "source": "synthesis:repair", "source_id": t["id"], "task_id": t["task_id"],
                "model": t["model"], "failing_program": meta["failing"], "failing_status": meta["status"],
                "errors": meta["errors"], "fixed_program": fixed, "fixed_program_id": programs.program_id(fixed),
                "verus_version": t["verus_version"], **feature_columns(parse_verus(fixed))})
        yield from _episode_rows(t)
        if t["_accepted"]:
            yield "program", program_record(t, "repair")
        else:
            yield "rejected", _not_accepted(t)


def proof_completion(tasks: Sequence[Mapping[str, Any]], client: LlmClient, verify_fn: VerifyFn, *,
                     max_repairs: int = 2, samples_per_task: int = 1, temperature: float | None = None,
                     max_tokens: int | None = None, seed: int | None = 0) -> Iterator[tuple[str, Any]]:
    """Proof completion on ``{task, task_id?}`` tasks: trajectories and repair pairs (no programs:
    an accepted solution's spec and code are the task's, which is already a program)."""
    starts = [as_start(task, "proof_completion", sample_index=i) for task in tasks for i in range(samples_per_task)]
    for t in episodes(starts, client, verify_fn, max_repairs=max_repairs, temperature=temperature,
                      max_tokens=max_tokens, seed=seed):
        yield from _episode_rows(t)
        if not t["_accepted"]:
            yield "rejected", _not_accepted(t)

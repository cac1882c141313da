"""Dr. SCI pipeline end to end: the embedded sample without an endpoint, the LLM stages against the
FakeOpenAIServer test double (a real local HTTP server), decontamination with a real MMLU row, and
answer conflicts / equivalent duplicates."""
import hashlib
import json
import os
import threading

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from tests.shared_data import shared_path
from transforms.testing.openai_server import FakeOpenAIServer, malformed_json, rate_limited
from transforms.science.adapters import iter_mmlu_csv

MMLU_PHYSICS_FILE = "benchmarks/mmlu/college_physics_test.csv"


def _manifest(out):
    return json.loads((out / "_manifest.json").read_text())


def _rows(out, dataset):
    return pq.read_table(out / dataset).to_pylist()


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _rows_holding(out, text):
    """Dataset -> rows holding ``text`` in any column (each row cast to VARCHAR whole, nested columns too)."""
    con, found = duckdb.connect(), {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and any(p.glob("*.parquet"))):
        n = con.execute(f"SELECT count(*) FROM read_parquet('{folder}/*.parquet') AS t "
                        "WHERE contains(CAST(t AS VARCHAR), ?)", [text]).fetchone()[0]
        if n:
            found[folder.name] = n
    return found


def _write_sources(root):
    """Sources of every reader path: JSONL with ids and a broken line, a folder of id-less JSONL,
    an MMLU folder with a subfolder and an undecodable CSV."""
    root.mkdir(parents=True)
    wi = _write_jsonl(root / "wi.jsonl", [
        {"id": "wi-a", "question": "A 2 kg mass accelerates at 3 m/s^2. What net force in newtons acts on it?",
         "answer": "6 N", "category": "Physics"}])
    with open(wi, "a") as handle:
        handle.write('{"id": "wi-broken", "question": "truncated\n')
    (root / "nr").mkdir()
    _write_jsonl(root / "nr" / "part-0.jsonl", [
        {"question": "How many grams of water are in 2 moles of water, to the nearest gram?", "reference_answer": "36"},
        {"question": "   ", "reference_answer": "nothing asked"},
        {"question": "Explain why ice floats on liquid water.", "reference_answer": "Ice is less dense than water."}])
    (root / "mmlu" / "physics").mkdir(parents=True)
    (root / "mmlu" / "physics" / "college_physics_test.csv").write_text(
        '"What is the SI unit of electric charge?",ampere,coulomb,volt,ohm,B\n'
        '"Which quantity is conserved in an elastic collision besides momentum?",'
        'kinetic energy,force,acceleration,pressure,A\n')
    (root / "mmlu" / "broken_test.csv").write_bytes(b'"caf\xe9 latin-1",a,b,c,d,A\n')
    return [f"webinstruct_verified={wi}", f"natural_reasoning={root / 'nr'}", f"mmlu={root / 'mmlu'}"]


def _dr_sci_run(sources_root, out):
    argv = ["dr-sci", "--output", str(out), "--dedup-method", "none"]
    for spec in _write_sources(sources_root):
        argv += ["--source", spec]
    assert main(argv) == 0
    return out


def test_source_ids_and_audit_rows_name_files_relative_to_their_source(tmp_path, capsys):
    """--source with absolute paths: no shard holds them, publish --dry-run goes through; the same
    layout elsewhere gives the same rows."""
    first = _dr_sci_run(tmp_path / "alice" / "data", tmp_path / "out1")
    questions = {q["source_id"]: q for q in _rows(first, "questions")}
    assert {"wi-a", "part-0.jsonl#0", "part-0.jsonl#2", "college_physics_test:0", "college_physics_test:1"} == set(
        questions)
    rejects = {(r["stage"], r["reason"]): r for r in _rows(first, "rejects")}
    assert rejects[("adapt", "missing_question")]["record_id"] == "part-0.jsonl#1"
    assert rejects[("read", "invalid_json")]["detail"].startswith("wi.jsonl:2: ")
    assert json.loads(rejects[("read", "invalid_json")]["record_json"])["source"] == "wi.jsonl"
    assert rejects[("read", "unreadable_file")]["detail"].startswith("broken_test.csv: UnicodeDecodeError")
    assert json.loads(rejects[("read", "unreadable_file")]["record_json"]) == {"source": "broken_test.csv"}
    for root in {str(tmp_path), os.path.realpath(tmp_path)}:
        assert _rows_holding(first, root) == {}
    assert _rows_holding(first, "part-0.jsonl#")  # the check does see the relative names
    capsys.readouterr()
    assert main(["publish", str(first), "--repo-id", "org/sci", "--dry-run"]) == 0
    card = capsys.readouterr().out
    assert str(tmp_path) not in card and os.path.realpath(tmp_path) not in card
    assert '"mmlu=<local>/mmlu"' in card and '"natural_reasoning=<local>/nr"' in card

    moved = _dr_sci_run(tmp_path / "elsewhere" / "bob" / "copy", tmp_path / "out2")
    for dataset in ("questions", "rejects"):
        assert _rows(moved, dataset) == _rows(first, dataset)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sci") / "sample"
    assert main(["dr-sci", "--output", str(out)]) == 0
    return out


def test_sample_run_without_endpoint(sample_run, capsys):
    manifest = _manifest(sample_run)
    assert manifest["conservation"] == {"read": 23, "written": 11, "rejected": 9, "deduplicated": 3, "holds": True}
    assert manifest["rejects_by_stage_reason"] == {
        "adapt/missing_question": 1, "clean/empty_answer": 2, "clean/placeholder_answer": 1,
        "decontam/contaminated:mini_bench": 1, "dedup:conflicts/answer_conflict": 2, "read/invalid_json": 1,
        "split/open_ended_math": 1}
    # "across it, in volts" vs "across it in volts": a comma counts in the exact key, near dedup folds them
    assert manifest["deduplicated_by_stage_method"] == {"dedup:exact/exact": 1, "dedup:near/minhash": 2}
    questions = _rows(sample_run, "questions")
    assert {q["source"] for q in questions} == {"webinstruct_verified", "natural_reasoning", "rar_science", "mmlu"}
    splits = {q["split"] for q in questions}
    assert splits == {"verifiable", "open_ended"}
    assert all(q["difficulty"] is None and q["rollouts"] is None for q in questions)
    by_canonical = {q["answer_canonical"]: q for q in questions if q["split"] == "verifiable"}
    assert {"1/2", "C", "17", "20 V"} <= set(by_canonical)
    assert by_canonical["1/2"]["question"].startswith("Evaluate $")  # {eq} markup became LaTeX
    imported = [q for q in questions if q["rubric_source"] == "imported"]
    assert len(imported) == 2 and all(q["rubrics"][-1]["title"] == "Final answer" for q in imported)
    assert {q["subject_method"] for q in questions} == {"metadata", "classifier"}
    notes = "\n".join(manifest["notes"])
    assert "LLM stages skipped (difficulty, rubrics)" in notes
    assert "questions by subject/split/difficulty" in notes and "physics/verifiable/skipped" in notes
    assert manifest["dr_sci"]["llm_usage"] == {}
    assert sum(manifest["dr_sci"]["subject_split_difficulty"].values()) == 11
    capsys.readouterr()
    assert main(["stats", str(sample_run)]) == 0
    assert "questions by subject/split/difficulty" in capsys.readouterr().out


def test_conflicts_and_equivalent_duplicates(tmp_path):
    wi = _write_jsonl(tmp_path / "wi.jsonl", [
        {"id": "a", "question": "A spring with constant 200 N/m is stretched by 0.1 m. What force in newtons does it exert?",
         "answer": "20 N", "category": "Physics"},
        {"id": "b", "question": "What fraction of a pizza is left after eating three of its eight equal slices?",
         "answer": "5/8", "category": "Mathematics"},
    ])
    nr = _write_jsonl(tmp_path / "nr.jsonl", [
        {"question": "A spring with constant 200 N/m is stretched by 0.1 m. What force in newtons does it exert?",
         "reference_answer": "40 N"},
        {"question": "What fraction of a pizza is left after eating three of its eight equal slices?",
         "reference_answer": "0.625"},
    ])
    out = tmp_path / "out"
    assert main(["dr-sci", "--source", f"webinstruct_verified={wi}", "--source", f"natural_reasoning={nr}",
                 "--output", str(out)]) == 0
    rejects = [r for r in _rows(out, "rejects") if r["reason"] == "answer_conflict"]
    assert len(rejects) == 2 and {json.loads(r["record_json"])["source"] for r in rejects} == {
        "webinstruct_verified", "natural_reasoning"}
    assert set(json.loads(rejects[0]["detail"])["answers"]) == {"20 N", "40 N"}
    questions = _rows(out, "questions")
    assert [q["reference_answer"] for q in questions] == ["5/8"] or len(questions) == 1
    removed = _rows(out, "duplicates")
    assert len(removed) == 1 and removed[0]["kept_id"] == questions[0]["id"]
    assert _manifest(out)["conservation"]["holds"]


def test_dedup_keeps_distinct_questions_and_merges_real_copies(tmp_path):
    """Templated variants with their own answers stay (linked by near_duplicate_ids); an MMLU question
    copied with its options reordered, and asked free-form, is one question; exact copies disagreeing
    go by the majority."""
    stem = "Which organelle is the site of aerobic respiration in eukaryotic cells?"
    passage = ("A delivery company plans routes for its vans across a flat region with straight roads, no traffic "
               "lights and no stops for fuel, loading or rest along the way, so that every van keeps a constant "
               "speed from the depot to the customer. A car travels at {speed} km/h for 3 hours under these "
               "conditions. How far does it travel in kilometres?")
    mmlu = _write_jsonl(tmp_path / "mmlu.jsonl", [
        {"question": stem, "choices": ["Ribosome", "Mitochondrion", "Golgi apparatus", "Lysosome"], "answer": 1,
         "subject": "college_biology"},
    ])
    copies = _write_jsonl(tmp_path / "copies.jsonl", [
        {"q": stem, "opts": ["Mitochondrion", "Lysosome", "Ribosome", "Golgi apparatus"], "a": "A"},
        {"q": passage.format(speed=60), "a": "180 km"},
        {"q": passage.format(speed=80), "a": "240 km"},
    ])
    wi = _write_jsonl(tmp_path / "wi.jsonl", [
        {"id": f"spring{i}", "question": "A spring with constant 200 N/m is stretched by 0.1 m. What force in "
                                         "newtons does it exert?", "answer": answer, "category": "Physics"}
        for i, answer in enumerate(["20 N", "20.0 N", "40 N"])
    ])
    out = tmp_path / "out"
    assert main(["dr-sci", "--source", f"mmlu={mmlu}", "--source", f"generic:copies={copies}",
                 "--column-map", "question=q,reference_answer=a,choices=opts",
                 "--source", f"webinstruct_verified={wi}", "--output", str(out)]) == 0
    cars = [q for q in _rows(out, "questions") if q["question"].startswith("A delivery company")]
    assert sorted(q["reference_answer"] for q in cars) == ["180 km", "240 km"]
    assert cars[0]["near_duplicate_ids"] == [cars[1]["id"]] and cars[1]["near_duplicate_ids"] == [cars[0]["id"]]
    organelle = [q for q in _rows(out, "questions") if q["question"].startswith(stem)]
    springs = [q for q in _rows(out, "questions") if q["question"].startswith("A spring")]
    assert len(organelle) == 1 and organelle[0]["near_duplicate_ids"] is None
    assert len(springs) == 1 and springs[0]["answer_canonical"] == "20 N"
    rejects = {r["reason"]: r for r in _rows(out, "rejects")}
    assert set(rejects) == {"minority_answer"} and json.loads(rejects["minority_answer"]["detail"])["majority"] == "20 N"
    removed = {(r["record_id"], r["kept_id"]) for r in _rows(out, "duplicates")}
    assert len(removed) == 2 and organelle[0]["id"] in {kept for _, kept in removed}
    manifest = _manifest(out)
    assert manifest["conservation"]["holds"] and manifest["conservation"]["written"] == 4


@pytest.mark.shared_data(MMLU_PHYSICS_FILE)
def test_decontamination_with_a_real_mmlu_row(tmp_path):
    mmlu_dir = str(shared_path("benchmarks/mmlu"))
    path = shared_path(MMLU_PHYSICS_FILE)
    row = next(r for r in iter_mmlu_csv(path) if len(r["question"].split()) >= 13)
    wi = _write_jsonl(tmp_path / "wi.jsonl", [
        {"id": "copied", "question": row["question"], "answer": row["answer"], "category": "Physics"},
        {"id": "clean", "question": "A pendulum of length 2 m swings on the Moon. What sets its period?",
         "answer": "2.2 s", "category": "Physics"},
    ])
    out = tmp_path / "out"
    assert main(["dr-sci", "--source", f"webinstruct_verified={wi}", "--decontam-benchmark", mmlu_dir,
                 "--output", str(out)]) == 0
    rejects = _rows(out, "rejects")
    assert [(r["reason"], json.loads(r["record_json"])["source_id"]) for r in rejects] == [
        ("contaminated:mmlu", "copied")]
    assert [q["source_id"] for q in _rows(out, "questions")] == ["clean"]


RUBRIC = json.dumps({"items": [{"title": f"Point {i}", "description": f"Mentions point {i}.",
                                "category": "Essential" if i < 2 else "Important"} for i in range(7)]})


class Script:
    """Scripted answers by prompt: solver by question and seed, verifier Yes/No, rubric JSON."""

    def __init__(self):
        self.lock, self.rubric_calls, self.verifier_calls = threading.Lock(), 0, 0

    def __call__(self, body, index):
        content = body["messages"][-1]["content"]
        seed = body.get("seed", 0)
        if content.startswith("Write a grading rubric"):
            with self.lock:
                self.rubric_calls += 1
                first = self.rubric_calls == 1
            return "Sure! Here is a rubric: {items: oops" if first else RUBRIC
        if content.startswith("You are checking"):
            with self.lock:
                self.verifier_calls += 1
                first = self.verifier_calls == 1
            if first:
                return "Maybe."
            return "Yes" if "less dense" in content.split("Student's final answer:")[1] else "No"
        if "2 + 2" in content:
            return "The sum is \\boxed{4}."
        if "resistor" in content:
            return "\\boxed{20 V}" if seed % 2 == 0 else "\\boxed{30 V}"
        if "ice float" in content:
            return "\\boxed{ice is less dense than water}" if seed % 2 else "\\boxed{ice is cold}"
        return "no idea"


def _shard_digests(out):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "questions").glob("*.parquet"))}


def test_llm_stages_against_the_fake_server(tmp_path):
    wi = _write_jsonl(tmp_path / "wi.jsonl", [
        {"id": "easy", "question": "What is 2 + 2?", "answer": "4", "category": "Mathematics"},
        {"id": "half", "question": "A resistor of 10 ohms carries 2 A. What is the voltage across it?",
         "answer": "20 V", "category": "Physics"},
    ])
    nr = _write_jsonl(tmp_path / "nr.jsonl", [
        {"question": "Why does ice float on liquid water although both consist of the same molecules?",
         "reference_answer": "Hydrogen bonds give ice an open lattice, so it is less dense than liquid water."},
    ])
    cache = tmp_path / "cache"
    with FakeOpenAIServer(Script(), replies=[rate_limited(0.01), malformed_json()]) as server:
        def run(name):
            out = tmp_path / name
            argv = ["dr-sci", "--source", f"webinstruct_verified={wi}", "--source", f"natural_reasoning={nr}",
                    "--llm-base-url", server.url, "--llm-model", "fake-model", "--llm-cache-dir", str(cache),
                    "--llm-max-retries", "3", "--rollouts", "4", "--output", str(out)]
            assert main(argv) == 0
            return out

        first = run("first")
        calls = server.call_count
        assert calls > 0
        second = run("second")
        assert server.call_count == calls  # served fully from the cache
    manifest = _manifest(first)
    assert manifest["conservation"]["holds"]
    assert manifest["rejects_by_stage_reason"] == {"difficulty/solved_by_all": 1}
    usage = manifest["dr_sci"]["llm_usage"]
    assert usage["llm:difficulty"]["retries"] >= 2 and usage["llm:rubrics"]["requests"] == 2
    assert manifest["dr_sci"]["llm"]["difficulty"]["k"] == 4
    questions = {q["source_id"]: q for q in _rows(first, "questions")}
    half = questions["half"]
    assert (half["n_rollouts"], half["n_correct"], half["difficulty"]) == (4, 2, 0.5)
    assert [r["correct"] for r in half["rollouts"]] == [True, False, True, False]
    assert {r["grader"] for r in half["rollouts"]} == {"rule"} and half["rubrics"] is None
    (open_q,) = [q for q in questions.values() if q["split"] == "open_ended"]
    assert [r["grader"] for r in open_q["rollouts"]] == ["llm"] * 4
    assert open_q["n_correct"] == 2 and open_q["difficulty"] == 0.5
    assert open_q["rubric_source"] == "generated" and len(open_q["rubrics"]) == 8
    assert open_q["rubrics"][-1]["title"] == "Final answer" and open_q["rubrics"][-1]["weight"] == 4.0
    second_manifest = _manifest(second)
    assert second_manifest["dr_sci"]["llm_usage"]["llm:difficulty"].get("calls", 0) == 0
    assert _shard_digests(first) == _shard_digests(second)
    assert "physics/verifiable/2/4" in " ".join(manifest["notes"])


def test_each_generic_source_has_its_own_column_map(tmp_path):
    sciq = _write_jsonl(tmp_path / "sciq.jsonl", [
        {"question": "What gas do plants absorb from the air for photosynthesis?", "correct_answer": "carbon dioxide",
         "distractor1": "oxygen", "distractor2": "nitrogen"}])
    theorem = _write_jsonl(tmp_path / "theoremqa.jsonl", [
        {"Question": "How many edges does the complete graph on 6 vertices have?", "Answer": 15},
        {"Question": "Is every finite integral domain a field?", "Answer": True}])
    out = tmp_path / "out"
    assert main(["dr-sci", "--source", f"generic:sciq={sciq}", "--source", f"generic:theoremqa={theorem}",
                 "--column-map", "sciq:question=question,reference_answer=correct_answer",
                 "--column-map", "theoremqa:question=Question,reference_answer=Answer",
                 "--output", str(out)]) == 0
    questions = {q["source"]: q for q in _rows(out, "questions") if q["source"] == "sciq"}
    assert questions["sciq"]["reference_answer"] == "carbon dioxide"
    typed = {q["answer_canonical"] for q in _rows(out, "questions") if q["source"] == "theoremqa"}
    assert typed == {"15", "true"}
    assert _manifest(out)["conservation"]["holds"]


@pytest.mark.parametrize("maps, message", [
    (["nope:question=q"], "--column-map nope:...: no --source generic:nope=PATH"),
    (["sciq:question=q", "sciq:question=r"], "a second mapping for generic:sciq"),
])
def test_column_map_mistakes_are_one_line_errors(tmp_path, capsys, maps, message):
    sciq = _write_jsonl(tmp_path / "sciq.jsonl", [{"q": "Why is the sky blue?", "a": "Rayleigh scattering"}])
    argv = ["dr-sci", "--source", f"generic:sciq={sciq}", "--output", str(tmp_path / "out")]
    for value in maps:
        argv += ["--column-map", value]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_sampling_flags_and_extra_body_reach_every_request(tmp_path):
    """As the paper runs it: temperature, top_p, max tokens, seed, and a hybrid model's thinking off."""
    wi = _write_jsonl(tmp_path / "wi.jsonl", [
        {"id": "half", "question": "A resistor of 10 ohms carries 2 A. What is the voltage across it?",
         "answer": "20 V", "category": "Physics"}])
    with FakeOpenAIServer(Script()) as server:
        assert main(["dr-sci", "--source", f"webinstruct_verified={wi}", "--llm-base-url", server.url,
                     "--llm-model", "m", "--llm-cache-dir", "none", "--rollouts", "2",
                     "--solver-temperature", "0.6", "--solver-top-p", "0.95", "--solver-max-tokens", "512",
                     "--llm-seed", "7", "--llm-extra-body", '{"chat_template_kwargs": {"enable_thinking": false}}',
                     "--output", str(tmp_path / "out")]) == 0
        bodies = [request.body for request in server.requests]
    assert len(bodies) == 2
    assert all((b["temperature"], b["top_p"], b["max_tokens"]) == (0.6, 0.95, 512) for b in bodies)
    assert sorted(b["seed"] for b in bodies) == [7, 8]
    assert all(b["chat_template_kwargs"] == {"enable_thinking": False} for b in bodies)


@pytest.mark.parametrize("value, message", [
    ("[1]", "argument --llm-extra-body/--llm_extra_body: expected a JSON object"),
    ("{oops", "argument --llm-extra-body/--llm_extra_body: not JSON"),
    ('{"temperature": 0}', "--llm-extra-body may not set ['temperature']"),
])
def test_a_bad_extra_body_is_a_one_line_error(tmp_path, capsys, value, message):
    argv = ["dr-sci", "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m", "--llm-extra-body", value,
            "--output", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_llm_subject_labeller(tmp_path, capsys):
    nr = _write_jsonl(tmp_path / "nr.jsonl", [  # NaturalReasoning rows carry no subject metadata
        {"question": "A pendulum is 2 m long. What is its period in seconds on Earth?", "reference_answer": "2.84 s"},
        {"question": "In which year was the treaty of Westphalia signed?", "reference_answer": "1648"},
    ])
    wi = _write_jsonl(tmp_path / "wi.jsonl", [
        {"id": "meta", "question": "What is the pH of pure water at 25 C?", "answer": "7", "category": "Chemistry"},
    ])

    def script(body, index):
        content = body["messages"][-1]["content"]
        if content.startswith("Which subject"):
            return "not_science" if "treaty" in content else "Physics"
        return "no idea"

    with FakeOpenAIServer(script) as server:
        out = tmp_path / "out"
        argv = ["dr-sci", "--source", f"natural_reasoning={nr}", "--source", f"webinstruct_verified={wi}",
                "--llm-base-url", server.url, "--llm-model", "fake-model", "--llm-subjects", "--rollouts", "2",
                "--subject-classifier", "none",
                "--llm-cache-dir", str(tmp_path / "cache"), "--output", str(out)]
        assert main(argv) == 0
        subject_prompts = [r for r in server.requests if r.body["messages"][-1]["content"].startswith("Which subject")]
    manifest = _manifest(out)
    assert manifest["conservation"]["holds"]
    assert manifest["rejects_by_stage_reason"] == {"subject_llm/not_science": 1}
    assert len(subject_prompts) == 2  # the metadata-labelled question is not asked
    by_text = {q["question"][:10]: q for q in _rows(out, "questions")}
    assert (by_text["A pendulum"]["subject"], by_text["A pendulum"]["subject_method"]) == ("physics", "llm")
    assert (by_text["What is th"]["subject"], by_text["What is th"]["subject_method"]) == ("chemistry", "metadata")
    assert main(["dr-sci", "--source", f"natural_reasoning={nr}", "--llm-subjects", "--output", str(tmp_path / "x")]) != 0
    assert "--llm-subjects" in capsys.readouterr().err


LAW_QUESTION = ("A tenant signed a written lease with the landlord for three years. The landlord later sued the "
                "tenant for breach of contract. Will the court rule for the plaintiff?")
PHYSICS_QUESTION = ("A ball is thrown vertically upward with an initial velocity of 20 m/s. Neglecting air "
                    "resistance, what is the maximum height it reaches in metres?")


def _subject_sources(tmp_path):
    """Labelled rows (eight physics, two history) and two unlabelled ones: a law and a physics question."""
    labelled = [{"id": f"p{i}", "question": f"A {i + 2} kg mass accelerates at 3 m/s^2. What net force in newtons "
                                            "acts on it?", "answer": f"{3 * (i + 2)} N", "category": "Physics"}
                for i in range(8)]
    labelled += [{"id": f"h{i}", "question": f"In which year did the war of the {name} end?", "answer": str(year),
                  "category": "History"} for i, (name, year) in enumerate([("Roses", 1487), ("Spanish Succession", 1714)])]
    wi = _write_jsonl(tmp_path / "wi.jsonl", labelled)
    nr = _write_jsonl(tmp_path / "nr.jsonl", [{"question": LAW_QUESTION, "reference_answer": "No, the lease is void."},
                                               {"question": PHYSICS_QUESTION, "reference_answer": "20.4 m"}])
    return ["--source", f"webinstruct_verified={wi}", "--source", f"natural_reasoning={nr}", "--dedup-method", "none"]


def _subject_run(tmp_path, *flags):
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "out"
    assert main(["dr-sci", *_subject_sources(tmp_path), *flags, "--output", str(out)]) == 0
    manifest = _manifest(out)
    by_question = {q["question"]: q for q in _rows(out, "questions")}
    subject_rejects = [r for r in _rows(out, "rejects") if r["stage"] == "subject"]
    note = next(n for n in manifest["notes"] if n.startswith("subject classifier:"))
    return manifest, by_question, subject_rejects, note


def test_subject_classifier_builtin_is_the_default_and_rejects_not_science(tmp_path):
    manifest, questions, rejects, note = _subject_run(tmp_path)
    assert note.startswith("subject classifier: builtin (subjects.ftz")
    assert manifest["dr_sci"]["subject_classifier"] == {"choice": "builtin"}
    assert sorted(r["detail"].split(" ")[0] for r in rejects) == ["classifier", "label", "label"]
    by_label = sorted(r["detail"] for r in rejects if r["detail"].startswith("label"))
    assert by_label == ["label 'History'", "label 'History'"]
    (by_model,) = [r for r in rejects if r["detail"].startswith("classifier")]
    assert json.loads(by_model["record_json"])["question"] == LAW_QUESTION
    assert float(by_model["detail"].removeprefix("classifier p=")) >= 0.9
    assert all(r["reason"] == "not_science" for r in rejects)
    assert manifest["rejects_by_stage_reason"]["subject/not_science"] == 3
    physics = questions[PHYSICS_QUESTION]
    assert (physics["subject"], physics["subject_method"]) == ("physics", "classifier")
    assert "not_science" not in {q["subject"] for q in questions.values()} and manifest["conservation"]["holds"]


def test_subject_classifier_none_path_and_train(tmp_path):
    _, questions, rejects, note = _subject_run(tmp_path / "none", "--subject-classifier", "none")
    assert note.startswith("subject classifier: none")
    assert [r["detail"] for r in rejects] == ["label 'History'"] * 2  # metadata still says not_science
    assert questions[LAW_QUESTION]["subject"] is None and questions[PHYSICS_QUESTION]["subject_method"] is None

    from transforms.science.subjects import BUILTIN_MODEL
    _, by_path, path_rejects, note = _subject_run(tmp_path / "path", "--subject-classifier", str(BUILTIN_MODEL))
    assert note == f"subject classifier: {BUILTIN_MODEL}"
    assert len(path_rejects) == 3 and by_path[PHYSICS_QUESTION]["subject"] == "physics"  # the builtin run's outcome

    manifest, trained, _, note = _subject_run(tmp_path / "train", "--subject-classifier", "train")
    assert note.startswith("subject classifier: fastText trained in the driver on 10 metadata-labelled rows")
    assert manifest["dr_sci"]["subject_classifier"]["choice"] == "train"
    assert manifest["dr_sci"]["subject_classifier"]["label_counts"] == {"not_science": 2, "physics": 8}
    assert trained[PHYSICS_QUESTION]["subject_method"] == "classifier"


@pytest.mark.parametrize("value, message", [
    ("missing.ftz", "--subject-classifier missing.ftz: no such file (or use builtin, train, none)"),
    ("memory://models/absent.ftz", "--subject-classifier memory://models/absent.ftz: no such file"),
    ("", "--subject-classifier: empty"),
])
def test_a_missing_subject_classifier_is_a_one_line_error(tmp_path, capsys, value, message):
    assert main(["dr-sci", "--subject-classifier", value, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_subject_classifier_url_is_checked_and_loaded_with_fsspec():
    import fsspec

    from pipelines.dr_sci import check_subject_classifier
    from transforms.science.subjects import BUILTIN_MODEL, SubjectClassifier

    url = "memory://subject-models/subjects.ftz"
    with fsspec.open(url, "wb") as handle:
        handle.write(BUILTIN_MODEL.read_bytes())
    try:
        check_subject_classifier(url)  # exists: no error
        assert SubjectClassifier(url).predict([PHYSICS_QUESTION])[0][0] == "physics"
    finally:
        fsspec.filesystem("memory").rm(url.removeprefix("memory://"))

"""The shipped subject model's build script: the held-out split, a build from files, and the
shipped model's figures on the script's held-out split of the real MMLU / GSM8K files."""
import csv
import json

import pytest

from tests.shared_data import shared_path
from transforms.science.build_subject_model import (evaluate, gsm8k_examples, held_out_split, main, mmlu_examples,
                                                    question_stem, with_stems)
from transforms.science.subjects import BUILTIN_MODEL, SubjectClassifier


def test_held_out_split_is_stratified_reproducible_and_keeps_copies_together():
    examples = [(f"physics question {i}", "physics", "mmlu") for i in range(100)]
    examples += [(f"law question {i}", "not_science", "mmlu") for i in range(50)]
    examples += [("the same text", "physics", "mmlu")] * 3
    train, held = held_out_split(examples, 0.1, seed=0)
    assert len(train) + len(held) == len(examples)
    assert sum(label == "not_science" for _, label, _ in held) == 5
    assert 10 <= sum(label == "physics" for _, label, _ in held) <= 13
    copies = [e for e in held if e[0] == "the same text"]
    assert copies in ([], [examples[-1]] * 3)  # all three on one side
    again_train, again_held = held_out_split(list(reversed(examples)), 0.1, seed=0)
    assert sorted(again_held) == sorted(held) and sorted(again_train) == sorted(train)  # file order does not matter
    assert sorted(held_out_split(examples, 0.1, seed=1)[1]) != sorted(held)


def _write_mmlu(folder, stem, rows):
    with open(folder / f"{stem}_test.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


def test_stems_are_the_questions_without_their_options():
    text = "Which particle carries charge?\n\nA. electron\nB. neutron\nC. photon\nD. neutrino"
    assert question_stem(text) == "Which particle carries charge?"
    assert question_stem("Why does ice float on water?") == "Why does ice float on water?"
    examples = [(text, "physics", "mmlu"), ("Tom has 3 apples.", "mathematics", "gsm8k")]
    assert with_stems(examples) == examples + [("Which particle carries charge?", "physics", "mmlu_stem")]


def test_build_from_files_writes_a_quantized_model_and_prints_held_out_figures(tmp_path, capsys):
    mmlu = tmp_path / "mmlu"
    mmlu.mkdir()
    _write_mmlu(mmlu, "college_physics", [[f"What force acts on a mass of {i} kg accelerating at 2 m/s^2?",
                                           f"{2 * i} N", f"{i} N", "0 N", f"{i + 2} N", "A"] for i in range(1, 41)])
    _write_mmlu(mmlu, "high_school_us_history", [[f"Which president signed the treaty of year {1800 + i}?",
                                                  "Adams", "Jefferson", "Madison", "Monroe", "B"] for i in range(40)])
    _write_mmlu(mmlu, "miscellaneous", [["Which is a fruit?", "apple", "chair", "car", "stone", "A"]])
    gsm8k = tmp_path / "gsm8k.jsonl"
    gsm8k.write_text("".join(json.dumps({"question": f"Tom has {i} apples and buys {i + 3} more. How many now?",
                                         "answer": f"#### {2 * i + 3}"}) + "\n" for i in range(20)))
    output = tmp_path / "models" / "subjects.ftz"
    assert main([str(mmlu), "--gsm8k", str(gsm8k), "--output", str(output), "--held-out", "0.2"]) == 0
    printed = capsys.readouterr().out
    assert output.is_file() and "held-out MMLU 16 (8 science, 8 not)" in printed and "held-out GSM8K 4" in printed
    examples, left_out = mmlu_examples(str(mmlu))
    assert len(examples) == 80 and left_out == {"unlabelled:miscellaneous": 1}
    law = SubjectClassifier(output).predict(["Which president signed the treaty of year 1955?"])
    assert law[0][0] == "not_science"
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nothing"), "--output", str(output)])


@pytest.mark.shared_data("benchmarks/mmlu", "benchmarks/gsm8k/test.jsonl")
def test_the_shipped_model_on_its_held_out_split():
    """The figures in the README and the script's docstring, measured again on the shipped file
    (a model trained on the held-out questions would score far higher; a different split, too)."""
    examples, _ = mmlu_examples(shared_path("benchmarks/mmlu"))
    examples += gsm8k_examples(shared_path("benchmarks/gsm8k/test.jsonl"))
    _, held = held_out_split(examples, 0.1, seed=0)
    figures = evaluate(str(BUILTIN_MODEL), held)
    assert (figures["mmlu_held_out"], figures["science"], figures["gsm8k_held_out"]) == (1316, 567, 132)
    assert figures["top_label_accuracy"] == 0.9012 and figures["science_vs_not_accuracy"] == 0.943
    assert figures["not_science_thresholds"]["0.9"] == {"accuracy": 0.8875, "not_science_caught": 696,
                                                        "science_rejected": 26}
    assert figures["not_science_thresholds"]["0.5"]["science_rejected"] == 38
    # open-ended phrasing: the held-out questions' stems without options (trained on the training stems)
    assert figures["stems_held_out"] == 1316 and figures["stems_top_label_accuracy"] == 0.8533
    assert figures["gsm8k_mathematics"] == 0.9773 and figures["gsm8k_not_science"] == 0.0

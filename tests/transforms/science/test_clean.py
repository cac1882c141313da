"""Clean stage: mojibake repair, NFC, markup to LaTeX, and every answer reject reason."""
import pytest

from transforms.records import Rejected
from transforms.science.clean import (
    ANSWER_REASONS,
    answer_reject_reason,
    clean_question,
    clean_text,
    fix_mojibake,
    has_mojibake,
    latex_imbalance,
    markup_to_latex,
)


def mis_decode(text: str) -> str:
    """``text``'s UTF-8 bytes read as Windows-1252 (Latin-1 for the five bytes cp1252 leaves undefined)."""
    out = []
    for byte in text.encode("utf-8"):
        try:
            out.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(byte))
    return "".join(out)


@pytest.mark.parametrize("broken, fixed", [
    ("cafÃ© au lait", "café au lait"),
    ("itâ€™s 25 Â°C", "it’s 25 °C"),
    ("1 Î¼m", "1 μm"),
    ("Ã…ngstrÃ¶m", "Ångström"),
    ("â‰¤ 5", "≤ 5"),
])
def test_mojibake_is_repaired(broken, fixed):
    assert mis_decode(fixed) == broken
    assert fix_mojibake(broken) == fixed
    assert not has_mojibake(fixed)


@pytest.mark.parametrize("text", ["“quoted” — ΔG° = −5 kJ", "naïve 10⁻³ µm", "Schrödinger’s cat"])
def test_mojibake_encoded_once_or_twice_is_repaired(text):
    assert fix_mojibake(mis_decode(text)) == text
    assert fix_mojibake(mis_decode(mis_decode(text))) == text


@pytest.mark.parametrize("text", ["naïve café", "2×² = 4×", "25 °C ± 0.5", "Ångström", "μ = 0.3", "plain ASCII"])
def test_real_text_is_left_alone(text):
    assert fix_mojibake(text) == text
    assert not has_mojibake(text)


def test_unicode_normalization_and_invisible_characters():
    assert clean_text("e\u0301nergie") == "énergie"  # NFC
    assert clean_text("a\u00a0b\u200bc\ufeff") == "a bc"
    assert clean_text("line one\r\nline two  \n\n\n\nend\x07") == "line one\nline two\n\nend"
    assert clean_text("m²") == "m²"  # NFC, not NFKC


@pytest.mark.parametrize("source, latex", [
    ("Find {eq}x^2 + 1{/eq} at {eq} x = 2 {/eq}.", "Find $x^2 + 1$ at $x = 2$."),
    ("{EQ}\\frac{1}{2}{/EQ}", "$\\frac{1}{2}$"),
    ("<math>E = mc^2</math>", "$E = mc^2$"),
    ("[math]a+b[/math] and [tex]c[/tex]", "$a+b$ and $c$"),
    ("inline \\(v = at\\) and display \\[F = ma\\]", "inline $v = at$ and display $$F = ma$$"),
    ("H<sub>2</sub>O and x<sup>2</sup>", "H_{2}O and x^{2}"),
    ("a &lt; b &amp;&amp; c &gt; d&nbsp;e", "a < b && c > d\xa0e"),
    ("first<br/>second", "first\nsecond"),
    ("unclosed {eq}x^2", "unclosed $x^2"),
])
def test_markup_to_latex(source, latex):
    assert markup_to_latex(source) == latex


def test_clean_text_runs_all_steps():
    assert clean_text("The speed is {eq}3\\ \\text{m/s}{/eq}\u00c2\u00a0â€” fast") == "The speed is $3\\ \\text{m/s}$ — fast"


@pytest.mark.parametrize("answer, reason", [
    (None, "empty_answer"),
    ("", "empty_answer"),
    ("  \n ", "empty_answer"),
    (12, "empty_answer"),
    ("None", "placeholder_answer"),
    ("none.", "placeholder_answer"),
    ("N/A", "placeholder_answer"),
    ("$ANSWER", "placeholder_answer"),
    ("The answer is $ANSWER", "placeholder_answer"),
    ("\\boxed{}", "placeholder_answer"),
    ("$\\boxed{ }$", "placeholder_answer"),
    ("\\boxed{\\text{}}", "placeholder_answer"),
    ("...", "placeholder_answer"),
    ("caf\ufffd", "mojibake"),
    ("Ã©tÃ©", "mojibake"),
    ("\\frac{1}{2", "unbalanced_latex"),
    ("x}", "unbalanced_latex"),
    ("$x^2", "unbalanced_latex"),
    ("\\left( \\frac{a}{b}", "unbalanced_latex"),
    ("\\begin{pmatrix}1\\end{bmatrix}", "unbalanced_latex"),
    ("\\frac{1}{2}", None),
    ("$x^2$ and $$y$$", None),
    ("\\{1, 2\\}", None),
    ("costs \\$5", None),
    ("$1,500", None),  # money: an unescaped $ before a digit opens no formula
    ("$ 20 per month", None),
    ("$x$ costs $5", None),
    ("$\\frac{1}{2}", "unbalanced_latex"),
    ("\\left[ 0, 1 \\right)", None),
    ("x \\rightarrow \\infty", None),
    ("Na", None),
    ("No", None),
    ("None of the above", None),
])
def test_answer_reject_reason(answer, reason):
    assert answer_reject_reason(answer) == reason
    assert reason is None or reason in ANSWER_REASONS


@pytest.mark.parametrize("text, what", [
    ("{a}}", "braces"), ("$a", "dollars"), ("\\left(a", "left_right"), ("\\begin{a}", "environments"),
    ("\\end{a}", "environments"), ("\\{", None), ("\\$", None),
])
def test_latex_imbalance_names_the_problem(text, what):
    assert latex_imbalance(text) == what


def question(**fields):
    base = {"id": "q1", "question": "What is {eq}2+2{/eq}?", "reference_answer": " {eq}4{/eq} ", "choices": None}
    base.update(fields)
    return base


def test_clean_question_cleans_question_choices_and_answer():
    out = clean_question(question(choices=["caf\u00c3\u00a9", "two\u00a0words"]))
    assert out["question"] == "What is $2+2$?"
    assert out["reference_answer"] == "$4$"
    assert out["choices"] == ["café", "two words"]
    assert out["id"] == "q1"


@pytest.mark.parametrize("fields, reason", [
    ({"question": " \u200b "}, "missing_question"),
    ({"question": "What is caf\ufffd?"}, "mojibake"),
    ({"reference_answer": None}, "empty_answer"),
    ({"reference_answer": "N/A"}, "placeholder_answer"),
    ({"reference_answer": "$\\frac{1}{2$"}, "unbalanced_latex"),
    ({"reference_answer": "caf\ufffd"}, "mojibake"),
])
def test_clean_question_rejects(fields, reason):
    result = clean_question(question(**fields))
    assert isinstance(result, Rejected) and result.reason == reason


def test_missing_answer_allowed_when_not_required():
    out = clean_question(question(reference_answer=""), require_reference_answer=False)
    assert out["reference_answer"] is None
    broken = clean_question(question(reference_answer="None"), require_reference_answer=False)
    assert broken.reason == "placeholder_answer"


@pytest.mark.parametrize("damaged, repaired", [
    # shapes from the MMLU professional_law test questions (79 of them were rejected as mojibake)
    ("the department forgot to  \x80\x98include the message\x80\x99s date", "the department forgot to ‘include the message’s date"),
    ("Neither the rancher \x80\x94farmer deed nor the other", "Neither the rancher —farmer deed nor the other"),
    ('a purchase order for $1,000 CIF."\x9d Costco then sent', 'a purchase order for $1,000 CIF." Costco then sent'),
    ("help to create\x85", "help to create…"),
])
def test_lost_lead_bytes_and_lone_cp1252_punctuation_are_repaired(damaged, repaired):
    assert clean_text(damaged) == repaired and not has_mojibake(clean_text(damaged))


@pytest.mark.parametrize("damaged, repaired", [
    # UTF-8 read as Mac-Roman, shapes from MMLU questions (ftfy's repair; kept damaged before)
    ("the world‚Äôs most populous", "the world’s most populous"),
    ("rigid poses‚Äîrigid rules", "rigid poses—rigid rules"),
    ("as ‚Äúexcess‚Äù money", "as “excess” money"),
])
def test_other_mis_decodings_are_repaired_by_ftfy(damaged, repaired):
    assert clean_text(damaged) == repaired


@pytest.mark.parametrize("text", ["„Guten Tag“, sagte er ‚leise‘", "Olá, ação", "x ≤ y − 1 ± 0.1 Å"])
def test_ftfy_leaves_real_punctuation_alone(text):
    assert fix_mojibake(text) == text


def test_damage_without_a_sure_repair_stays_damage():
    for text in ["Wendy is a \x89ÛÏmerchant\x89", "a \x9d b", "caf\ufffd"]:
        assert has_mojibake(clean_text(text))

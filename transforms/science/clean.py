"""Clean stage of Dr. SCI: Unicode repair, NFC, source markup to LaTeX, and answer rejects.

``clean_text`` runs, in order:

1. ``fix_mojibake``: UTF-8 text that was decoded as Windows-1252 / Latin-1 ("Ã©" for "é",
   "â€™" for "’", "Â°" for "°") is re-decoded, sequence by sequence, up to ``max_passes``
   times (double-encoded text needs two). Only complete UTF-8 byte sequences are touched:
   a lead character (bytes C2-F4 read as cp1252) followed by the right number of
   continuation characters (bytes 80-BF), so ordinary accented text stays as it is.
   Then ftfy (``ftfy.fix_encoding`` and its lossy-sequence repairs, nothing that changes
   quotes, widths, ligatures or line breaks) repairs what those rules do not know: Mac-Roman
   readings such as "‚Äî" for "—" (14 MMLU questions kept their damage without it). ftfy runs
   second because on a lost lead byte ("\x80\x94" for "—") it answers "€”"; and its C1-control
   repair is off, so damage without a sure repair stays visible to ``has_mojibake``.
2. Invisible characters: BOM and zero-width characters dropped, NBSP and other
   Unicode spaces become a space, CR/LF becomes LF, C0 controls except TAB/LF are dropped.
3. Unicode NFC (not NFKC: "m²" and "µ" keep their look; matching code normalizes harder).
4. ``markup_to_latex``: ``{eq}…{/eq}`` (WebInstruct), ``<math>…</math>``, ``[math]…[/math]``,
   ``[tex]…[/tex]`` and ``\\(…\\)`` become ``$…$``; ``\\[…\\]`` becomes ``$$…$$``;
   ``<sup>``/``<sub>`` become ``^{…}``/``_{…}``; ``<br>`` a newline; the common HTML entities
   are unescaped. An unclosed tag still becomes ``$``, so the ``$`` parity check catches it.
5. Whitespace: runs of spaces/tabs collapse to one space, lines are right-stripped, three or
   more newlines become two, the ends are stripped.

``answer_reject_reason(answer)`` names why a reference answer is unusable (or None):
``empty_answer``, ``placeholder_answer``, ``mojibake``, ``unbalanced_latex``.
``clean_question(record)`` is the stage: it cleans question, choices and reference answer and
answers the record or a ``Rejected``.
"""
from __future__ import annotations

import html
import re
import unicodedata

import ftfy

from transforms.records import Rejected

ANSWER_REASONS = ("empty_answer", "placeholder_answer", "mojibake", "unbalanced_latex")
QUESTION_REASONS = ("missing_question", "mojibake")


# --------------------------------------------------------------------------- mojibake

def _cp1252_chars(byte_values: range) -> str:
    """The characters bytes show as when UTF-8 is mis-decoded: cp1252 where defined, else Latin-1."""
    chars = []
    for value in byte_values:
        raw = bytes([value])
        chars.append(raw.decode("latin-1"))
        try:
            decoded = raw.decode("cp1252")
        except UnicodeDecodeError:
            continue
        if decoded != chars[-1]:
            chars.append(decoded)
    return "".join(chars)


def _char_class(byte_values: range) -> str:
    return "[" + "".join(re.escape(c) for c in _cp1252_chars(byte_values)) + "]"


_TO_BYTE = {}
for _value in range(0x80, 0x100):
    _TO_BYTE[bytes([_value]).decode("latin-1")] = _value
    try:
        _TO_BYTE.setdefault(bytes([_value]).decode("cp1252"), _value)
    except UnicodeDecodeError:
        pass

_CONT = _char_class(range(0x80, 0xC0))
# 0xD7 is excluded as a lead byte: it reads as "×", and "×" before "²"/"³"/"°" is real math
# far more often than a mis-decoded Hebrew letter.
_LEAD2 = _char_class(range(0xC2, 0xD7)).rstrip("]") + _char_class(range(0xD8, 0xE0)).lstrip("[")
_MOJIBAKE_RE = re.compile(
    f"{_LEAD2}{_CONT}"
    f"|{_char_class(range(0xE0, 0xF0))}{_CONT}{{2}}"
    f"|{_char_class(range(0xF0, 0xF5))}{_CONT}{{3}}"
)
# C1 control characters never occur in real text; they are what undecodable bytes leave behind
_C1_CONTROLS_RE = re.compile("[\x80-\x9f]")


def _redecode(match: re.Match) -> str:
    text = match.group(0)
    try:
        return bytes(_TO_BYTE[c] for c in text).decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return text


# "â€˜" (UTF-8 E2 80 98 read as cp1252) with its "â" lost leaves two continuation bytes; the MMLU
# professional_law questions hold 71 such quotes and dashes. E2 + the two bytes restores them when
# the result is General Punctuation (U+2000-U+206F: quotes, dashes, ellipsis), and only then.
_CONT_CHARS = _char_class(range(0x80, 0xC0))
_LOST_LEAD_RE = re.compile(f"{_CONT_CHARS}{{2}}")


def _restore_lost_lead(match: re.Match) -> str:
    try:
        char = bytes([0xE2, *(_TO_BYTE[c] for c in match.group(0))]).decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return match.group(0)
    return char if "\u2000" <= char <= "\u206f" else match.group(0)


# ftfy's encoding repairs only: the other fixes rewrite real text (curly quotes, full-width
# characters, ligatures, line breaks); C1 controls are left to _cp1252_byte, and its per-sequence
# cp1252 heuristic (decode_inconsistent_utf8) to the stricter rules above ("2×²" is math, not "2ײ").
_FTFY_ENCODING_ONLY = ftfy.TextFixerConfig(
    unescape_html=False, remove_terminal_escapes=False, fix_c1_controls=False, fix_latin_ligatures=False,
    fix_character_width=False, uncurl_quotes=False, fix_line_breaks=False, remove_control_chars=False,
    decode_inconsistent_utf8=False, normalization=None, explain=True,
)


def fix_mojibake(text: str, max_passes: int = 3) -> str:
    """Re-decode UTF-8 sequences that were mis-decoded as cp1252/Latin-1 ("Ã©" -> "é"),
    punctuation whose first byte was lost ("\\x80\\x98" -> "‘") and lone cp1252 bytes ("\\x85" -> "…"),
    then let ftfy repair the other mis-decodings it knows ("‚Äî" -> "—")."""
    if text.isascii():
        return text
    text = _fix_cp1252_readings(text, max_passes)
    fixed, plan = ftfy.fix_and_explain(text, config=_FTFY_ENCODING_ONLY)
    # a repair is a re-decoding as UTF-8; a plan ending in another decoding ("\x89" -> "‰" as
    # windows-1252) only hides damage from has_mojibake
    if plan and all(encoding.startswith("utf-8") for step, encoding in plan if step == "decode"):
        return fixed
    return text


def _fix_cp1252_readings(text: str, max_passes: int) -> str:
    for _ in range(max_passes):
        fixed = _MOJIBAKE_RE.sub(_redecode, text)
        if fixed == text:
            break
        text = fixed
    if _C1_CONTROLS_RE.search(text):  # a lost lead byte always leaves a C1 control (0x80-0x9F)
        text = _LOST_LEAD_RE.sub(_restore_lost_lead, text)
        text = _C1_CONTROLS_RE.sub(_cp1252_byte, text)
    return text


def _cp1252_byte(match: re.Match) -> str:
    """A lone C1 control that is a cp1252 punctuation byte read as Latin-1 becomes it ("\\x85" -> "…");
    0x9D, undefined in cp1252, is what is left of a closing quote ('"\\x9d'): dropped right after a
    quote. Anything else stays (and is judged damage)."""
    char = match.group(0)
    if char in _CP1252_PUNCTUATION:
        return bytes([ord(char)]).decode("cp1252")
    before = match.string[match.start() - 1:match.start()]
    return "" if char == "\x9d" and before in ('"', "\u201d") else char


# the bytes whose cp1252 reading is punctuation (… ‘ ’ “ ” • – —); others (0x89 "‰" in Mac-Roman
# damage) stay and the text is judged damaged
_CP1252_PUNCTUATION = frozenset("\x85\x91\x92\x93\x94\x95\x96\x97")


def has_mojibake(text: str) -> bool:
    """True when ``text`` still shows encoding damage: U+FFFD, C1 controls or mis-decoded UTF-8."""
    return "\ufffd" in text or bool(_C1_CONTROLS_RE.search(text)) or bool(_MOJIBAKE_RE.search(text))


# --------------------------------------------------------------------------- invisible characters

_DROP_CHARS = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060\u00ad"), None)
_SPACE_CHARS = dict.fromkeys(map(ord, "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"), " ")
_C0_CONTROLS_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def _strip_invisible(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(_DROP_CHARS).translate(_SPACE_CHARS)
    return _C0_CONTROLS_RE.sub("", text)


# --------------------------------------------------------------------------- markup

_INLINE_MATH_RES = (
    re.compile(r"\{\s*eq\s*\}(.*?)\{\s*/\s*eq\s*\}", re.IGNORECASE | re.DOTALL),
    re.compile(r"<math[^>]*>(.*?)</math\s*>", re.IGNORECASE | re.DOTALL),
    re.compile(r"\[math\](.*?)\[/math\]", re.IGNORECASE | re.DOTALL),
    re.compile(r"\[tex\](.*?)\[/tex\]", re.IGNORECASE | re.DOTALL),
    re.compile(r"\\\((.*?)\\\)", re.DOTALL),
)
_DISPLAY_MATH_RE = re.compile(r"\\\[(.*?)\\\]", re.DOTALL)
_STRAY_MATH_TAG_RE = re.compile(r"\{\s*/?\s*eq\s*\}|</?math[^>]*>|\[/?(?:math|tex)\]", re.IGNORECASE)
_SUP_RE = re.compile(r"<sup>(.*?)</sup>", re.IGNORECASE | re.DOTALL)
_SUB_RE = re.compile(r"<sub>(.*?)</sub>", re.IGNORECASE | re.DOTALL)
_BREAK_RE = re.compile(r"<br\s*/?>|</?p\s*>", re.IGNORECASE)
# only well-formed entities: html.unescape alone would also turn "&lt" without ';' into '<'
_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|apos|nbsp|#\d{1,7}|#x[0-9a-fA-F]{1,6});")


def markup_to_latex(text: str) -> str:
    """Source math markup as LaTeX ``$…$`` / ``$$…$$``; sup/sub tags, breaks and entities resolved."""
    for pattern in _INLINE_MATH_RES:
        text = pattern.sub(lambda m: "$" + m.group(1).strip() + "$", text)
    text = _DISPLAY_MATH_RE.sub(lambda m: "$$" + m.group(1).strip() + "$$", text)
    text = _STRAY_MATH_TAG_RE.sub("$", text)
    text = _SUP_RE.sub(lambda m: "^{" + m.group(1).strip() + "}", text)
    text = _SUB_RE.sub(lambda m: "_{" + m.group(1).strip() + "}", text)
    text = _BREAK_RE.sub("\n", text)
    return _ENTITY_RE.sub(lambda m: html.unescape(m.group(0)), text)


_SPACES_RE = re.compile(r"[ \t]+")
_TRAILING_SPACE_RE = re.compile(r" +\n")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def _tidy_whitespace(text: str) -> str:
    text = _SPACES_RE.sub(" ", text)
    text = _TRAILING_SPACE_RE.sub("\n", text)
    return _BLANK_LINES_RE.sub("\n\n", text).strip()


def clean_text(text: str, max_mojibake_passes: int = 3) -> str:
    """Mojibake repaired, invisible characters handled, NFC, markup as LaTeX, whitespace tidied."""
    text = fix_mojibake(text, max_mojibake_passes)
    text = _strip_invisible(text)
    text = unicodedata.normalize("NFC", text)
    text = markup_to_latex(text)
    return _tidy_whitespace(text)


# --------------------------------------------------------------------------- answer rejects

PLACEHOLDER_ANSWERS = frozenset({
    "none", "null", "nil", "nan", "n/a", "n.a.", "answer", "$answer", "[answer]", "<answer>",
    "{answer}", "(answer)", "your answer", "your answer here", "final answer", "tbd", "todo", "...",
    "…", "-", "--", "?", "??", "not provided", "no answer", "not applicable", "see above",
    "see solution", "see explanation",
})
_ANSWER_TEMPLATE_RE = re.compile(r"\$ANSWER\b|\\boxed\{\s*\}|\\boxed\{\s*(?:\\text\{\s*\}|\.\.\.|\\ldots|\\dots)\s*\}")
_LEFT_RE = re.compile(r"\\left(?![A-Za-z])")
_RIGHT_RE = re.compile(r"\\right(?![A-Za-z])")
_ENV_RE = re.compile(r"\\(begin|end)\s*\{([^{}]*)\}")


def _placeholder_key(answer: str) -> str:
    key = answer.strip().lower()
    if len(key) >= 2 and key[0] == key[-1] == "$" and not key.startswith("$answer"):
        key = key[1:-1].strip()
    return key.rstrip(".").strip() if key not in ("...", "n.a.") else key


_CURRENCY_RE = re.compile(r"\$ ?\d")


def latex_imbalance(text: str) -> str | None:
    """What is unbalanced in ``text`` ('braces', 'dollars', 'left_right', 'environments'), or None.

    Escaped ``\\{``, ``\\}`` and ``\\$`` are literal characters and are not counted; an odd number
    of ``$`` is balanced when the odd one out is a currency sign (``$`` before a digit).
    """
    depth = 0
    dollars = currency = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2  # an escaped character (or the first letter of a command) is skipped
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return "braces"
        elif char == "$":
            dollars += 1
            currency += bool(_CURRENCY_RE.match(text, index))
        index += 1
    if depth:
        return "braces"
    if dollars % 2 and (dollars - currency) % 2:  # "$1,500" is money, not an open formula
        return "dollars"
    if len(_LEFT_RE.findall(text)) != len(_RIGHT_RE.findall(text)):
        return "left_right"
    stack: list[str] = []
    for kind, name in _ENV_RE.findall(text):
        if kind == "begin":
            stack.append(name.strip())
        elif not stack or stack.pop() != name.strip():
            return "environments"
    return "environments" if stack else None


def answer_reject_reason(answer) -> str | None:
    """Why a (cleaned) reference answer is unusable, or None when it is usable.

    ``empty_answer`` (None or blank), ``placeholder_answer`` (``None``, ``N/A``, ``$ANSWER``,
    an empty ``\\boxed{}`` ...), ``mojibake`` (encoding damage the repair could not undo),
    ``unbalanced_latex`` (braces, ``$`` parity, ``\\left``/``\\right``, environments).
    """
    if answer is None or not isinstance(answer, str) or not answer.strip():
        return "empty_answer"
    if _placeholder_key(answer) in PLACEHOLDER_ANSWERS or _ANSWER_TEMPLATE_RE.search(answer):
        return "placeholder_answer"
    if has_mojibake(answer):
        return "mojibake"
    if latex_imbalance(answer):
        return "unbalanced_latex"
    return None


# --------------------------------------------------------------------------- the stage

def clean_question(record: dict, *, require_reference_answer: bool = True, max_mojibake_passes: int = 3) -> dict | Rejected:
    """The clean stage: a copy of ``record`` with cleaned question, choices and reference answer.

    Rejects ``missing_question`` (blank after cleaning), ``mojibake`` (damaged question; detail
    says ``question``), and the ``answer_reject_reason`` reasons for the reference answer.
    With ``require_reference_answer=False`` a missing answer passes (open-ended, judged by rubrics)
    while a present but broken one is still rejected.
    """
    question = record.get("question")
    question = clean_text(question, max_mojibake_passes) if isinstance(question, str) else ""
    if not question:
        return Rejected("missing_question", "question is empty after cleaning")
    if has_mojibake(question):
        return Rejected("mojibake", f"question: {question[:200]}")
    out = dict(record)
    out["question"] = question
    choices = record.get("choices")
    if choices is not None:
        out["choices"] = [clean_text(c, max_mojibake_passes) if isinstance(c, str) else "" for c in choices]
    answer = record.get("reference_answer")
    if isinstance(answer, str):
        answer = clean_text(answer, max_mojibake_passes)
    out["reference_answer"] = answer if isinstance(answer, str) and answer else None
    reason = answer_reject_reason(out["reference_answer"])
    if reason == "empty_answer" and not require_reference_answer:
        return out
    if reason:
        shown = "" if out["reference_answer"] is None else out["reference_answer"][:200]
        return Rejected(reason, f"reference_answer: {shown!r}")
    return out

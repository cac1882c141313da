"""LaTeX and Python-style math -> sympy for the answer checker: the lexical gate
(``looks_like_expression``), ``latex_to_python`` (a small converter for the common subset), the
parsers behind it, and the symbolic time limit.

Part of ``transforms.science.answers`` (see its module doc).
"""
from __future__ import annotations

import contextlib
import math
import re
import signal
import threading
from fractions import Fraction
from functools import lru_cache
from tokenize import TokenError

MAX_ANSWER_CHARS = 200
MAX_INTEGER_POWER = 1000
MAX_DIGITS = 1000  # no constant part of an expression may exceed 10**MAX_DIGITS (or be below its inverse)
MAX_NODES = 400  # sympy tree nodes of one answer
_SYMBOL_SIZE = math.log10(4)  # variables are evaluated in [0.25, 2.25]


# --------------------------------------------------------------------------- expressions

_ALLOWED_COMMANDS = frozenset("""
frac sqrt pi sin cos tan sec csc cot arcsin arccos arctan sinh cosh tanh ln log exp cdot times infty
alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi rho sigma
tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega
le leq ge geq lt gt ne neq binom
""".split())
_FUNCTION_WORDS = frozenset("sin cos tan sec csc cot arcsin arccos arctan asin acos atan sinh cosh tanh "
                            "ln log exp sqrt abs Abs det factorial pi oo Matrix Eq".split())
# short lowercase words that are English, not products of variables
_ENGLISH_SHORT = frozenset("""
a an am and or of the is are was to in on at be by as it if no not so for but all any per its has can may
yes one two six ten top low off out our use way how why who new old few let get got had his her him she
they we you me my do did does too too via vs etc nor yet own own see saw set run ran put end
""".split())
_EXPRESSION_CHARS_RE = re.compile(r"^[A-Za-z0-9\s+\-*/^_()\[\]{}|.,=<>!'\\&]+$")
_COMMAND_RE = re.compile(r"\\([A-Za-z]+)")
_EXPLOSIVE_RE = re.compile(r"\d{4,}\s*\}?\s*!|\\binom\s*\{?\s*\d{4,}|\d{16,}")
_ENVIRONMENT_RE = re.compile(r"\\(?:begin|end)\s*\{\s*([A-Za-z*]+)\s*\}")
_MATRIX_ENVIRONMENTS = frozenset({"pmatrix", "bmatrix", "matrix", "vmatrix", "Bmatrix"})
_LETTER_RUN_RE = re.compile(r"(?<![A-Za-z\\])[A-Za-z]+")
_ELEMENTS = frozenset("""
H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr
Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir
Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr
""".split())
_FORMULA_TOKEN_RE = re.compile(r"([A-Z][a-z]?)(?:_?\{?(\d+)\}?)?")
_ASSIGNMENT_RE = re.compile(
    r"^(?:(?:\\[A-Za-z]+\s*)?[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?°?"  # x, V_0, \Delta H, \Delta G°
    r"|\\[A-Za-z]+(?:_\{?[A-Za-z0-9]+\}?)?"  # \lambda, \theta_1
    r"|[A-Za-z]\s*\(\s*[a-z](?:\s*,\s*[a-z])*\s*\))"  # f(x), g(x, y)
    r"\s*=\s*(?!=)"
)
# Python-style text (sympy's own printing included): explicit '*', '**', calls such as sqrt(...), pi
_PYTHON_STYLE_RE = re.compile(r"\*|\b(?:sqrt|exp|log|ln|sin|cos|tan|asin|acos|atan|sinh|cosh|tanh|Abs|factorial|Matrix|Eq)\(|\bpi\b")


def _is_chemical_formula(text: str) -> bool:
    compact = text.replace(" ", "")
    tokens = _FORMULA_TOKEN_RE.findall(compact)
    if len(tokens) < 2 or "".join(symbol + (f"_{n}" if n else "") for symbol, n in tokens) != re.sub(r"_?\{?(\d+)\}?", r"_\1", compact):
        return False
    if not all(symbol in _ELEMENTS for symbol, _ in tokens):
        return False
    return any(n for _, n in tokens) or any(len(symbol) == 2 for symbol, _ in tokens)


def looks_like_expression(text: str, max_chars: int = MAX_ANSWER_CHARS) -> bool:
    """The lexical gate: math characters, known commands, variables or function names only."""
    if not text or len(text) > max_chars or not _EXPRESSION_CHARS_RE.match(text):
        return False
    environments = _ENVIRONMENT_RE.findall(text)
    if any(name not in _MATRIX_ENVIRONMENTS for name in environments):
        return False
    text = _ENVIRONMENT_RE.sub(" ", text)
    if any(command not in _ALLOWED_COMMANDS for command in _COMMAND_RE.findall(text)):
        return False
    if re.search(r"[+\-*/^=<>,]\s*$", text) or text.count("(") != text.count(")"):
        return False
    if _EXPLOSIVE_RE.search(text):  # parsers evaluate factorials and binomials of literals eagerly
        return False
    for run in _LETTER_RUN_RE.findall(_COMMAND_RE.sub(" ", text)):
        if len(run) == 1 or run in _FUNCTION_WORDS:
            continue
        if len(run) <= 3 and run.islower() and run not in _ENGLISH_SHORT:
            continue
        return False
    return not _is_chemical_formula(text)


class SymbolicTimeout(BaseException):
    """Symbolic work ran out of time (a BaseException so library ``except Exception`` cannot swallow it)."""


class SymbolicLimit(SymbolicTimeout):
    """An expression is over a size limit (``check_limits``): evaluating it could run away."""


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise ``SymbolicTimeout`` after ``seconds`` (SIGALRM); a no-op outside the main thread,
    without SIGALRM, when ``seconds`` is falsy, or when a timer is already running."""
    usable = (
        seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise SymbolicTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _sympy():
    import sympy

    return sympy


@lru_cache(maxsize=1)
def _latex_parser():
    from latex2sympy2_extended import latex2sympy
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig

    config = ConversionConfig(lowercase_symbols=False)
    return lambda text: latex2sympy(text, normalization_config=None, conversion_config=config)


_UNSAFE_PYTHON_RE = re.compile(r"__|[A-Za-z_\])]\s*\.|['\"`;:@#$]|\blambda\b")


@lru_cache(maxsize=1)
def _sympy_namespace() -> dict:
    namespace: dict = {}
    exec("from sympy import *", namespace)  # what parse_expr's generated code refers to (Add, Mul, Integer ...)
    return namespace


def _python_parse(text: str, symbols_only: bool = False):
    """sympy's ``parse_expr`` on Python-style math; refuses anything that could be more than arithmetic
    (``parse_expr`` evaluates Python code, and this text comes from datasets). With ``symbols_only``
    (text made by ``latex_to_python``) ``E`` and ``I`` are variables, not Euler's number and i."""
    if _UNSAFE_PYTHON_RE.search(text):
        raise ValueError(f"refusing to evaluate {text[:80]!r}")
    sympy = _sympy()
    from sympy.parsing.sympy_parser import (
        convert_xor, implicit_multiplication_application, parse_expr, standard_transformations,
    )

    names = {"sqrt": sympy.sqrt, "exp": sympy.exp, "log": sympy.log, "ln": sympy.log, "sin": sympy.sin,
             "cos": sympy.cos, "tan": sympy.tan, "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan,
             "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "Abs": sympy.Abs,
             "factorial": sympy.factorial, "Matrix": sympy.Matrix, "Eq": sympy.Eq, "pi": sympy.pi,
             "E": sympy.E, "I": sympy.I, "oo": sympy.oo, "Integer": sympy.Integer, "Rational": sympy.Rational,
             "Float": sympy.Float, "Symbol": sympy.Symbol}
    if symbols_only:
        del names["E"], names["I"]
    local = {name: sympy.Symbol(name) for name in set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)) if name not in names}
    local.update(names)
    # latex_to_python writes every '*' itself; raw Python-style answers may rely on juxtaposition and '^'
    transformations = standard_transformations + (() if symbols_only else (implicit_multiplication_application, convert_xor))
    return parse_expr(text, local_dict=local, global_dict=dict(_sympy_namespace()), transformations=transformations,
                      evaluate=False)


class _Unsupported(Exception):
    """The fast LaTeX converter met something it does not handle; latex2sympy takes over."""


_LATEX_TOKEN_RE = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+|\\[A-Za-z]+|\\\\|[A-Za-z]|<=|>=|[-+*/^_(){}\[\]=<>,!|&])")
_LATEX_FUNCTIONS = {"sin": "sin", "cos": "cos", "tan": "tan", "sec": "sec", "csc": "csc", "cot": "cot",
                    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh",
                    "tanh": "tanh", "exp": "exp", "ln": "log", "log": "log"}
_GREEK = frozenset("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa mu nu xi rho sigma "
                   "tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split())
_RELATIONS = {"=": "==", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "\\le": "<=", "\\leq": "<=",
              "\\ge": ">=", "\\geq": ">=", "\\lt": "<", "\\gt": ">"}


class _LatexConverter:
    """Recursive descent over a LaTeX token list producing Python-syntax math for ``parse_expr``.

    Covers what short answers use: numbers, single-letter and subscripted variables, Greek
    letters, + - * / ^, \\frac, \\sqrt (with an index), \\cdot, \\times, \\pi, \\infty,
    functions with optional powers and log bases, factorials, groups, implicit multiplication and
    one relation. Anything else raises ``_Unsupported``. Names follow latex2sympy's (``e`` is
    Euler's number, ``\\log`` is base 10, ``\\ln`` natural), so both routes agree.
    """

    def __init__(self, text: str):
        tokens, position = [], 0
        while position < len(text):
            match = _LATEX_TOKEN_RE.match(text, position)
            if not match:
                if text[position:].strip():
                    raise _Unsupported(text[position:position + 10])
                break
            tokens.append(match.group(1))
            position = match.end()
        self.tokens, self.index = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _Unsupported(f"expected {expected!r}, got {token!r}")
        self.index += 1
        return token

    def convert(self) -> str:
        left = self.sequence(stop=set(_RELATIONS))
        token = self.peek()
        if token is None:
            return left
        relation = _RELATIONS[self.take()]
        right = self.sequence(stop=set())
        if self.peek() is not None:
            raise _Unsupported("more than one relation")
        return f"Eq({left}, {right})" if relation == "==" else f"({left}) {relation} ({right})"

    def sequence(self, stop: set) -> str:
        """Operands and + - * / up to a closing token or a stop token."""
        parts: list[str] = []
        previous_operand = False
        while True:
            token = self.peek()
            if token is None or token in stop or token in (")", "}", "]"):
                break
            if token in ("+", "-", "*", "/", "\\cdot", "\\times"):
                self.take()
                parts.append({"\\cdot": "*", "\\times": "*"}.get(token, token))
                previous_operand = False
                continue
            operand = self.postfix(self.atom())
            if previous_operand:
                parts.append("*")
            parts.append(operand)
            previous_operand = True
        if not parts or not previous_operand:
            raise _Unsupported("empty or dangling operator")
        return " ".join(parts)

    def group(self) -> str:
        """A braced group, or a single token's atom (``^2``, ``\\frac12`` already expanded)."""
        if self.peek() == "{":
            self.take("{")
            inner = self.sequence(stop=set())
            self.take("}")
            return f"({inner})"
        return self.atom()

    def postfix(self, operand: str) -> str:
        while self.peek() in ("^", "!"):
            if self.take() == "!":
                operand = f"factorial({operand})"
            else:
                operand = f"({operand})**({self.group()})"
        return operand

    def atom(self) -> str:
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            return token
        if token in ("(", "["):
            inner = self.sequence(stop=set())
            self.take(")" if token == "(" else "]")
            return f"({inner})"
        if token == "{":
            self.index -= 1
            return self.group()
        if len(token) == 1 and token.isalpha():
            if self.peek() == "_":
                return token + self.subscript()
            if token == "e":
                if self.peek() == "^":
                    self.take("^")
                    return f"exp({self.group()})"
                return "exp(1)"
            return token
        if token.startswith("\\"):
            return self.command(token[1:])
        raise _Unsupported(token)

    def subscript(self) -> str:
        self.take("_")
        if self.peek() == "{":
            self.take("{")
            pieces = []
            while self.peek() != "}":
                piece = self.take()
                if not piece.isalnum():
                    raise _Unsupported("subscript")
                pieces.append(piece)
            self.take("}")
        else:
            pieces = [self.take()]
        name = "".join(pieces)
        if not name.isalnum():
            raise _Unsupported("subscript")
        return "_" + name

    def command(self, name: str) -> str:
        if name == "frac":
            return f"(({self.group()})/({self.group()}))"
        if name == "sqrt":
            if self.peek() == "[":
                self.take("[")
                degree = self.sequence(stop=set())
                self.take("]")
                return f"(({self.group()})**(1/({degree})))"
            return f"sqrt({self.group()})"
        if name == "pi":
            return "pi"
        if name == "infty":
            return "oo"
        if name in _GREEK:
            return name + (self.subscript() if self.peek() == "_" else "")
        if name in _LATEX_FUNCTIONS:
            function = _LATEX_FUNCTIONS[name]
            power = base = None
            if name == "log" and self.peek() == "_":
                self.take("_")
                base = self.group()
            if self.peek() == "^":
                self.take("^")
                power = self.group()
            argument = self.group() if self.peek() in ("{", "(", "[") else self.postfix(self.atom())
            if argument[0] != "(":
                argument = f"({argument})"
            call = f"{function}{argument}"
            if name == "log":
                call = f"log({argument}, {base or 10})"
            if power is not None:
                if power.replace(" ", "").strip("()") == "-1":
                    if function in ("log", "exp"):
                        raise _Unsupported("inverse of log/exp")
                    return f"a{function}{argument}" if not function.startswith("a") else f"{function[1:]}{argument}"
                return f"({call})**({power})"
            return call
        raise _Unsupported(name)


def latex_to_python(text: str) -> str:
    """Python-syntax math for a LaTeX answer (the common subset); raises ``_Unsupported`` otherwise."""
    return _LatexConverter(text).convert()


def _parse_expression(text: str):
    """sympy object of a gated expression text, within ``check_limits``; raises on failure."""
    expr = _parse_cached(text)
    check_limits(expr)
    return expr


@lru_cache(maxsize=8192)
def _parse_cached(text: str):
    """sympy object of a gated expression text (LaTeX or Python style), unevaluated; raises on failure.

    Python-style text goes to ``parse_expr``; LaTeX first through ``latex_to_python`` (about a
    millisecond) and, for what that does not cover, through latex2sympy's ANTLR parser (tens
    of milliseconds per new shape).
    """
    if _PYTHON_STYLE_RE.search(text) and "\\" not in text:
        return _python_parse(text)
    if "\\begin" not in text:
        try:
            return _python_parse(latex_to_python(text), symbols_only=True)
        except (_Unsupported, SyntaxError, TypeError, ValueError, TokenError):
            pass
    return _latex_parser()(text)


def _size(node) -> float:
    """An upper bound of ``|log10 |value||`` of ``node`` with its variables in [0.25, 2.25], from the
    unevaluated tree alone (no arithmetic on the values themselves); ``inf`` when unbounded."""
    sympy = _sympy()
    if isinstance(node, sympy.Integer) or isinstance(node, sympy.Rational):
        return max(_digits(node.p), _digits(node.q))
    if isinstance(node, sympy.Float):
        return abs(math.log10(abs(float(node)))) if node and math.isfinite(float(node)) else 0.0
    if isinstance(node, (sympy.Symbol, sympy.NumberSymbol)) or node.is_Atom:
        return _SYMBOL_SIZE
    if isinstance(node, sympy.Mul):
        return sum(_size(arg) for arg in node.args)
    if isinstance(node, sympy.Pow):
        return _size(node.base) * _at_most(_size(node.exp))
    if isinstance(node, (sympy.factorial, sympy.gamma)):
        n = _at_most(_size(node.args[0]))
        return n * math.log10(max(n, 2.0))
    if isinstance(node, sympy.binomial):
        n, k = (_at_most(_size(arg)) for arg in node.args)
        return min(n * math.log10(2), k * math.log10(max(n, 2.0))) + 1
    if isinstance(node, sympy.exp):
        return _at_most(_size(node.args[0])) * math.log10(math.e)
    return max((_size(arg) for arg in node.args), default=0.0) + 1  # Add, functions, relations


def _digits(n) -> float:
    n = abs(int(n))
    return float(len(str(n))) if n >= 10 ** 15 else math.log10(max(n, 1))


def _at_most(size: float) -> float:
    """An upper bound of the value of a node of ``size`` (``inf`` beyond float range)."""
    return 10.0 ** size if size < 300 else math.inf


def check_limits(expr) -> None:
    """Raise ``SymbolicLimit`` when an expression could be too expensive to evaluate: more than
    ``MAX_NODES`` nodes, or a part whose value may exceed ``10**MAX_DIGITS`` (big powers, power
    towers, factorials and binomials of big numbers)."""
    sympy = _sympy()
    parts = list(expr) if isinstance(expr, sympy.MatrixBase) else [expr]
    nodes = 0
    for part in parts:
        if not isinstance(part, sympy.Basic):
            continue
        for _ in sympy.preorder_traversal(part):
            nodes += 1
            if nodes > MAX_NODES:
                raise SymbolicLimit(f"more than {MAX_NODES} nodes")
        size = _size(part)
        if not size <= MAX_DIGITS:
            raise SymbolicLimit(f"a value may have more than {MAX_DIGITS} digits")


SYMBOLIC_GRACE = 1.0  # seconds past the in-worker SIGALRM limit before the worker is killed


SYMBOLIC_PRELOAD = ("transforms.science.answer_latex:warm",)


def prestart_symbolic() -> None:
    """Boot this process's symbolic worker in the background (once per Beam worker, in ``setup``)."""
    from transforms.science import symbolic_pool

    symbolic_pool.shared_pool(SYMBOLIC_PRELOAD).prestart()


def run_symbolic(target: str, args: tuple, timeout: float | None):
    """``target(*args)`` (a "module:function" doing sympy work) in a worker subprocess, killed after
    ``timeout`` (+ ``SYMBOLIC_GRACE``) seconds in any thread; a deadline or a dead worker raises
    ``SymbolicTimeout``. Without a ``timeout`` the function runs here, unbounded."""
    from transforms.science import symbolic_pool

    if not timeout:
        return symbolic_pool._resolve(target)(*args)
    pool = symbolic_pool.shared_pool(SYMBOLIC_PRELOAD)
    try:
        return pool.call(target, args, timeout + SYMBOLIC_GRACE)
    except (symbolic_pool.DeadlineExceeded, symbolic_pool.WorkerFailed) as exc:
        raise SymbolicTimeout(str(exc)) from None


def warm() -> None:
    """Import sympy, the LaTeX parser and the modules whose functions run in a worker (a worker
    process calls this when it starts, so its first call does not pay for them)."""
    import importlib

    _sympy()
    _latex_parser()
    for module in ("transforms.science.answer_reader", "transforms.science.answer_compare"):
        importlib.import_module(module)


def _sympy_kind(expr) -> str | None:
    sympy = _sympy()
    if isinstance(expr, sympy.MatrixBase):
        return "matrix"
    if isinstance(expr, sympy.core.relational.Relational):
        return "relation"
    if isinstance(expr, sympy.Expr):
        return "expr"
    return None


def _bounded_powers(expr) -> bool:
    """False when evaluating could explode: big integer powers, factorials of big numbers."""
    sympy = _sympy()
    for node in list(expr.atoms(sympy.Pow)) + list(expr.atoms(sympy.factorial)):
        argument = node.exp if isinstance(node, sympy.Pow) else node.args[0]
        if not argument.is_number:
            continue
        try:
            size = abs(complex(argument.evalf(15)))
        except (TypeError, ValueError, OverflowError):
            return False
        if not math.isfinite(size) or size > MAX_INTEGER_POWER:
            return False
    return True


def _constant_rational(expr) -> Fraction | None:
    sympy = _sympy()
    if not isinstance(expr, sympy.Expr) or expr.free_symbols or not _bounded_powers(expr):
        return None
    value = expr.doit()
    if value.is_Rational:
        return Fraction(int(value.p), int(value.q))
    return None


def _expression_canonical(expr, text: str) -> str:
    """sympy's sstr when it parses back to the same object, else the normalized LaTeX."""
    sympy = _sympy()
    shown = sympy.sstr(expr)
    if "\n" not in shown and len(shown) <= 2 * MAX_ANSWER_CHARS:
        try:
            if _python_parse(shown) == expr:
                return shown
        except Exception:  # noqa: BLE001 - any parser failure means "no round trip"
            pass
    return text


def _strip_assignment(text: str) -> str:
    return _ASSIGNMENT_RE.sub("", text, count=1).strip()

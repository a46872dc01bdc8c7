"""Formulas with the numbers in: the working behind a figure, written as the course writes it.

A layer builds an expression from named quantities and numbers with Python's operators
(``K * K * C_in * C_out + C_out`` where ``K = Sym("K", 3)``); the expression knows its exact value
(ints and Fractions) and renders in three styles, each with its symbols or with the numbers
substituted: text (Unicode x, subscripts and floor brackets), ASCII (``*``, ``floor()``) where the
output's encoding lacks them, and LaTeX for Markdown and Jupyter. A ``Formula`` names the figure an
expression gives (params, MACs, an output size...), so a test can hold it to the analyzer's number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import reduce

Number = int | Fraction


class Expr:
    """An arithmetic expression over named quantities; ``value`` is exact."""
    value: Number

    def __add__(self, other): return Op("+", self, lift(other))
    def __radd__(self, other): return Op("+", lift(other), self)
    def __sub__(self, other): return Op("-", self, lift(other))
    def __rsub__(self, other): return Op("-", lift(other), self)
    def __mul__(self, other): return Op("*", self, lift(other))
    def __rmul__(self, other): return Op("*", lift(other), self)
    def __truediv__(self, other): return Op("/", self, lift(other))
    def __rtruediv__(self, other): return Op("/", lift(other), self)


def lift(x: Expr | Number) -> Expr:
    return x if isinstance(x, Expr) else Num(x)


@dataclass(frozen=True, eq=False)
class Num(Expr):
    """A number written the same with and without substitution (the 2 of 2P)."""
    number: Number

    @property
    def value(self) -> Number:
        return self.number


@dataclass(frozen=True, eq=False)
class Sym(Expr):
    """A named quantity: ``C_in`` (rendered C with subscript 'in'), ``K``, ``MACs``."""
    name: str
    number: Number

    @property
    def value(self) -> Number:
        return self.number


@dataclass(frozen=True, eq=False)
class Term(Expr):
    """A named part of a total: written as its name (a layer or block, never subscripted), substituted by
    its own working (``1*1*480*16``) or number."""
    name: str
    inner: Expr

    @property
    def value(self) -> Number:
        return self.inner.value


@dataclass(frozen=True, eq=False)
class Op(Expr):
    op: str  # '+', '-', '*', '/', or 'x': a product between groups, written with spaces
    left: Expr
    right: Expr

    @property
    def value(self) -> Number:
        a, b = self.left.value, self.right.value
        if self.op == "+":
            return a + b
        if self.op == "-":
            return a - b
        if self.op in "*x":
            return a * b
        return _whole(Fraction(a) / b)


@dataclass(frozen=True, eq=False)
class Call(Expr):
    """floor, ceil, max, min, gcd of their arguments."""
    function: str
    arguments: tuple[Expr, ...]

    @property
    def value(self) -> Number:
        values = [a.value for a in self.arguments]
        return {"floor": lambda: math.floor(values[0]), "ceil": lambda: math.ceil(values[0]),
                "max": lambda: max(values), "min": lambda: min(values),
                "gcd": lambda: math.gcd(*values)}[self.function]()


def floor(x: Expr) -> Expr:
    return Call("floor", (x,))


def ceil(x: Expr) -> Expr:
    return Call("ceil", (x,))


def call(function: str, *arguments: Expr | Number) -> Expr:
    return Call(function, tuple(lift(a) for a in arguments))


def product(factors: list[Expr]) -> Expr:
    return reduce(lambda a, b: a * b, factors)


def total(terms: list[Expr]) -> Expr:
    return reduce(lambda a, b: a + b, terms)


def times(*groups: Expr) -> Expr:
    """Groups multiplied with a spaced x: ``H_out*W_out*C_out x K*K*C_in`` (outputs x work per output)."""
    return reduce(lambda a, b: Op("x", a, b), groups)


def _whole(value: Number) -> Number:
    return int(value) if isinstance(value, Fraction) and value.denominator == 1 else value


# --- rendering --------------------------------------------------------------------------------

_SUBSCRIPTS = dict(zip("aehijklmnoprstuvx0123456789", "ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ₀₁₂₃₄₅₆₇₈₉"))


@dataclass(frozen=True)
class Style:
    name: str
    times: str
    spaced_times: str
    brackets: dict[str, tuple[str, str]]  # floor and ceil

    def symbol(self, name: str) -> str:
        base, _, sub = name.partition("_")
        if self.name == "latex":
            head = base if len(base) == 1 else r"\text{" + base + "}"
            return head + "_{" + (sub if len(sub) == 1 else r"\text{" + sub + "}") + "}" if sub else head
        if self.name == "text" and sub and all(c in _SUBSCRIPTS for c in sub):
            return base + "".join(_SUBSCRIPTS[c] for c in sub)
        return name

    def number(self, value: Number) -> str:
        text = format_number(value)
        return text.replace(",", "{,}") if self.name == "latex" else text


TEXT = Style("text", "×", " × ", {"floor": ("⌊", "⌋"), "ceil": ("⌈", "⌉")})
ASCII = Style("ascii", "*", " x ", {"floor": ("floor(", ")"), "ceil": ("ceil(", ")")})
LATEX = Style("latex", r" \cdot ", r" \times ", {"floor": (r"\lfloor ", r" \rfloor"), "ceil": (r"\lceil ", r" \rceil")})


def format_number(value: Number) -> str:
    """1792 -> '1,792'; 217/4 -> '54.25'; 1/3 -> '(1/3)' (parenthesized, so it reads as one number)."""
    value = _whole(value)
    if isinstance(value, int):
        return f"{value:,}"
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:
        digits = 0
        while (value * 10**digits).denominator != 1:
            digits += 1
        whole, fraction = divmod(int(value * 10**digits), 10**digits)
        return f"{whole:,}.{fraction:0{digits}d}"
    return f"({value.numerator}/{value.denominator})"


def _has_terms(expr: Expr) -> bool:
    if isinstance(expr, Op):
        return _has_terms(expr.left) or _has_terms(expr.right)
    return isinstance(expr, Term) or (isinstance(expr, Call) and any(_has_terms(a) for a in expr.arguments))


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "x": 2}


def render(expr: Expr, style: Style, substitute: bool, context: int = 0) -> str:
    """The expression in ``style``; with ``substitute``, every symbol replaced by its number."""
    if isinstance(expr, (Num, Sym)) and (substitute or isinstance(expr, Num)):
        text = style.number(expr.number)
        return f"({text})" if expr.number < 0 and context else text
    if isinstance(expr, Term):
        return render(expr.inner, style, True, context) if substitute else expr.name
    if isinstance(expr, Sym):
        return style.symbol(expr.name)
    if isinstance(expr, Call):
        inner = ", ".join(render(a, style, substitute) for a in expr.arguments)
        if expr.function in style.brackets:
            opening, closing = style.brackets[expr.function]
            return opening + inner + closing
        name = rf"\{expr.function}" if style.name == "latex" and expr.function != "gcd" else expr.function
        return f"{name}({inner})"
    level = _PRECEDENCE[expr.op]
    left = render(expr.left, style, substitute, level)
    right = render(expr.right, style, substitute, level + (expr.op in "-/"))
    if expr.op in "+-":
        text = f"{left} {expr.op} {right}"
    elif expr.op == "x":
        text = left + style.spaced_times + right
    elif expr.op == "/":
        text = f"{left}/{right}"
    elif not substitute and _juxtaposed(expr.left, expr.right):
        text = left + right
    else:
        text = left + style.times + right
    return f"({text})" if level < context else text


def _juxtaposed(left: Expr, right: Expr) -> bool:
    """'2P' and 'D(K-1)', as the course writes them, instead of 2*P and D*(K-1)."""
    single = lambda e: isinstance(e, Sym) and len(e.name.partition("_")[0]) == 1  # noqa: E731
    return (isinstance(left, Num) and single(right)) or (single(left) and isinstance(right, Op)
                                                         and right.op in "+-")


@dataclass(frozen=True)
class Formula:
    """One figure worked out: ``label = symbolic = substituted = value``, and a note in words."""
    figure: str  # what it gives: output, params, weights, buffers, macs, flops, memory, field, jump, tiling
    expression: Expr
    axis: str = ""  # 'height', 'channels'... for per-axis figures
    note: str = ""

    LABELS = {"output": "output", "params": "params", "weights": "weights (no bias)", "buffers": "buffers",
              "macs": "MACs", "flops": "FLOPs", "memory": "memory (values)", "field": "receptive field",
              "jump": "jump", "tiling": "exact output", "bytes": "memory (bytes)", "training": "training memory",
              "bytes_read": "bytes read", "bytes_written": "bytes written"}

    @property
    def value(self) -> Number:
        return self.expression.value

    @property
    def label(self) -> str:
        return " ".join(part for part in (self.LABELS.get(self.figure, self.figure), self.axis) if part)

    def parts(self, style: Style) -> list[str]:
        """Symbolic, substituted and result, leaving out a step that reads the same as the one before.
        A total of named parts keeps its names out of LaTeX (they go beside it, in words)."""
        steps = [render(self.expression, style, False), render(self.expression, style, True),
                 style.number(self.value)]
        if style is LATEX and _has_terms(self.expression):
            steps = steps[1:]
        return [step for index, step in enumerate(steps) if index == 0 or step != steps[index - 1]]

    def to_dict(self) -> dict:
        value = _whole(self.value)
        return {"figure": self.figure, "axis": self.axis, "symbolic": render(self.expression, ASCII, False),
                "substituted": render(self.expression, ASCII, True),
                "value": value if isinstance(value, int) else str(value),
                "latex": " = ".join(self.parts(LATEX)), "note": self.note}


def sizes(shape: tuple[int, ...], suffix: str = "") -> list[Sym]:
    """A tensor's axes as named sizes: C, H, W (C, L; C, D, H, W; F), with a suffix such as '_out'."""
    names = {1: ("F",), 2: ("C", "L"), 3: ("C", "H", "W"), 4: ("C", "D", "H", "W")}.get(len(shape))
    return [Sym(name + suffix, n) for name, n in zip(names or [f"N{i}" for i in range(len(shape))], shape)]


def values(shape: tuple[int, ...], suffix: str = "", channels_last: bool = False) -> Expr:
    """The values of a tensor, C x H x W; channels last as the course writes a layer's outputs
    (H_out x W_out x C_out)."""
    named = sizes(shape, suffix)
    return product(named[1:] + named[:1] if channels_last and len(named) > 1 else named)


def positions(shape: tuple[int, ...], suffix: str = "") -> Expr:
    """The spatial positions of a [C, ...] tensor: H x W."""
    return product(sizes(shape, suffix)[1:])


def mac_flops(macs: int, bias_adds: Expr | None) -> Formula:
    """FLOPs of a layer of multiply-accumulates, term by term: 2 per MAC, plus one per bias add."""
    products = 2 * Sym("MACs", macs)
    if bias_adds is None:
        return Formula("flops", products, note="a multiply and an add per MAC")
    return Formula("flops", products + bias_adds, note="a multiply and an add per MAC, one add per output for the bias")


def parameters(weights: Expr, bias: Expr | None) -> list[Formula]:
    """The weights, and the params with one bias per filter when there is a bias (the course's
    'params (no bias)' and 'params')."""
    if bias is None:
        return [Formula("params", weights, note="no bias")]
    return [Formula("weights", weights), Formula("params", weights + bias)]


AXES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def per_axis(figure: str, build, *columns, changed: list[bool] | None = None, note="") -> list[Formula]:
    """A formula per spatial axis from that axis' numbers (``build(*numbers)``), for the axes ``changed``
    says the layer changes; one for all axes when they have the same numbers. ``note`` is a string or,
    like ``build``, a function of the numbers."""
    rows = list(zip(*columns))
    names = AXES.get(len(rows), tuple(f"axis {i}" for i in range(len(rows))))
    chosen = [i for i in range(len(rows)) if changed is None or changed[i]]
    words = note if callable(note) else lambda *numbers: note
    if len(rows) > 1 and len(chosen) == len(rows) and len(set(rows)) == 1:
        return [Formula(figure, build(*rows[0]), " and ".join(names), words(*rows[0]))]
    return [Formula(figure, build(*rows[i]), names[i], words(*rows[i])) for i in chosen]

"""Numbers and shapes as people write them in papers, slides and READMEs, compared rounding-aware.

A figure written with k significant digits stands for every true value that rounds to it:
``3.2M`` accepts 3,211,264 and ``24M`` rejects 15,237,608. Trailing zeros of a whole number carry no
precision (``800K`` has one significant digit, as the cs231n slide writes 802,816); a plain integer
without a unit prefix (``1,728``, ``4096``) is exact, unless marked approximate (``~60,000``, ``about
60,000``). Decimal prefixes (K = 10^3, M = 10^6, G = 10^9); ``MiB``/``GiB`` are binary.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Literal

SCALES = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
UNITS = {"flop": "flops", "flops": "flops", "mac": "macs", "macs": "macs", "mult-adds": "macs",
         "multiply-adds": "macs", "madds": "macs", "ops": "ops", "b": "bytes", "byte": "bytes", "bytes": "bytes",
         "params": "count", "parameters": "count", "values": "count"}
Unit = Literal["count", "bytes", "flops", "macs", "ops"]

_NUMBER = re.compile(
    r"^(?P<approx>[~≈]|about\s|approx\.?\s)?\s*(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)\s*"
    r"(?P<prefix>Ki|Mi|Gi|Ti|[kKMGT])?\s*(?P<unit>(?!each\b)[A-Za-z\-]+)?\s*(?:each)?$")
_SHAPE_SEPARATORS = re.compile(r"\s*[x×,*]\s*")


class FigureError(ValueError):
    """A cell that is not a number or shape as people write them."""


@dataclass(frozen=True)
class Figure:
    text: str
    value: Decimal
    digits: int | None  # significant digits; None = exact
    unit: Unit | None  # None when the cell names no unit
    scale: int = 1  # the unit it is written in: 1, 10^3 (K), 2^10 (Ki), 1000 (a 'x1000' header)...

    def matches(self, true_value: int | float) -> bool:
        """True when ``true_value`` written with this figure's precision, in its unit, gives this figure
        (rounded in KiB, not in bytes: 1,560 B is '1.5 KiB' to 2 digits)."""
        true = Decimal(true_value)
        if self.digits is None:
            return true == self.value
        written = self.value / self.scale
        return round_significant(true / self.scale, self.digits) == round_significant(written, self.digits)

    def scaled(self, scale: int, label: str) -> Figure:
        """A bare cell read in its header's unit ('32' under 'Memory (KiB)'): rounded to that unit, so
        an integer is no longer exact."""
        digits = self.digits if self.digits is not None else significant_digits(self.text.strip())
        return Figure(f"{self.text.strip()} {label}", self.value * scale, digits, self.unit, self.scale * scale)

    @property
    def precision(self) -> str:
        return "exact" if self.digits is None else f"{self.digits} significant digit{'s' * (self.digits > 1)}"


def round_significant(value: Decimal, digits: int) -> Decimal:
    if value == 0:
        return value
    exponent = value.copy_abs().adjusted() - digits + 1
    quantum = Decimal(1).scaleb(exponent)
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def significant_digits(number: str) -> int:
    """'3.2' -> 2, '800' -> 1, '15.47' -> 4, '0.05' -> 1 (trailing zeros of a whole number don't count)."""
    digits = number.replace(",", "")
    if "." in digits:
        return len(digits.replace(".", "").lstrip("0")) or 1
    return len(digits.lstrip("0").rstrip("0")) or 1


def parse_figure(text: str) -> Figure:
    """Parse '1,728', '3.2M', '26.9K', '15.47 GFLOPs', '138M' (raises FigureError).

    >>> parse_figure('3.2M').matches(3_211_264)
    True
    >>> parse_figure('24M').matches(15_237_608)
    False
    """
    cleaned = text.strip().replace("\u202f", "").replace("\u00a0", " ")
    match = _NUMBER.match(cleaned)
    if not match:
        raise FigureError(f"'{text}' is not a number (expected forms like 1,728, 3.2M, 96MB, 15.47 GFLOPs)")
    number, prefix, unit_text = match["number"], match["prefix"] or "", match["unit"] or ""
    if unit_text and unit_text.lower() not in UNITS and (prefix + unit_text).lower() in UNITS:
        prefix, unit_text = "", prefix + unit_text  # '4096 MACs' is MACs, not mega-'ACs'
    unit = UNITS.get(unit_text.lower()) if unit_text else None
    if unit_text and unit is None:
        raise FigureError(f"'{text}': unknown unit '{unit_text}'")
    scale = BINARY.get(prefix) or SCALES[prefix]
    value = Decimal(number.replace(",", "")) * scale
    exact = prefix == "" and "." not in number and not match["approx"]
    return Figure(text, value, None if exact else significant_digits(number), unit, scale)


def parse_shape(text: str) -> tuple[int, ...]:
    """'224x224x64', '[7x7x512]', '(64, 112, 112)', '4096' -> a tuple of ints (as written)."""
    parts = _SHAPE_SEPARATORS.split(text.strip().strip("[]()").strip())
    if not all(part.isdecimal() for part in parts):
        raise FigureError(f"'{text}' is not a shape (expected forms like 224x224x64, [7x7x512], (64, 112, 112))")
    return tuple(int(part) for part in parts)


def shape_matches(written: tuple[int, ...], shape: tuple[int, ...]) -> str | None:
    """How a written shape matches the spec's (C, H, W): as written, channels last (H x W x C, as
    papers write), with a batch axis of 1 (as torchinfo prints), a vector as a 1 x 1 map (the cs231n
    slide's [1x1x4096]); None when it does not.

    >>> shape_matches((56, 56, 256), (256, 56, 56))
    'channels last'
    """
    shape = tuple(shape)
    if written == shape:
        return "as written"
    if len(shape) > 1 and written == shape[1:] + shape[:1]:
        return "channels last"
    if len(written) == len(shape) + 1 and written[0] == 1 and shape_matches(written[1:], shape):
        return f"with a batch axis, {shape_matches(written[1:], shape)}"
    if len(shape) == 1 and written in ((1, 1) + shape, shape + (1, 1)):
        return "a vector as a 1 x 1 map"
    return None


def format_exact(value: int | float | Decimal) -> str:
    value = Decimal(value)
    return f"{int(value):,}" if value == value.to_integral_value(ROUND_HALF_EVEN) else f"{value:,}"


_ARITHMETIC_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?P<prefix>Ki|Mi|Gi|Ti|[kKMGT])?"
    r"(?![A-Za-wyz\d])|(?P<op>[-+*/×x()]))")


def parse_arithmetic(text: str) -> Decimal:
    """The value of arithmetic as slides write it: figures (224, 1,728, 3.2M, 24M) with ``*``, ``×``,
    ``x``, ``/``, ``+``, ``-`` and parentheses (raises FigureError). Never ``eval``.

    >>> parse_arithmetic('(3*3*3)*64')
    Decimal('1728')
    >>> parse_arithmetic('24M × 4')
    Decimal('96000000')
    """
    if text.count("(") > 100:
        raise FigureError(f"'{text[:40]}...' nests more parentheses than arithmetic on a slide does (100)")
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _ARITHMETIC_TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FigureError(f"'{text}' is not arithmetic (expected numbers with * x / + - and parentheses)")
        tokens.append(match["op"] or (match["number"], match["prefix"] or ""))
        position = match.end()
    value, rest = _sum(tokens, text)
    if rest:
        raise FigureError(f"'{text}' is not arithmetic (unexpected '{_shown(rest[0])}')")
    return value


def _sum(tokens: list, text: str) -> tuple[Decimal, list]:
    value, tokens = _product(tokens, text)
    while tokens and tokens[0] in ("+", "-"):
        right, rest = _product(tokens[1:], text)
        value, tokens = (value + right if tokens[0] == "+" else value - right), rest
    return value, tokens


def _product(tokens: list, text: str) -> tuple[Decimal, list]:
    value, tokens = _operand(tokens, text)
    while tokens and tokens[0] in ("*", "×", "x", "/"):
        right, rest = _operand(tokens[1:], text)
        if tokens[0] == "/" and right == 0:
            raise FigureError(f"'{text}' divides by zero")
        value, tokens = (value / right if tokens[0] == "/" else value * right), rest
    return value, tokens


def _operand(tokens: list, text: str) -> tuple[Decimal, list]:
    if not tokens:
        raise FigureError(f"'{text}' ends where a number should follow")
    first = tokens[0]
    if first == "(":
        value, rest = _sum(tokens[1:], text)
        if not rest or rest[0] != ")":
            raise FigureError(f"'{text}' has an unclosed parenthesis")
        return value, rest[1:]
    if isinstance(first, tuple):
        number, prefix = first
        return Decimal(number.replace(",", "")) * (BINARY.get(prefix) or SCALES[prefix]), tokens[1:]
    raise FigureError(f"'{text}' is not arithmetic (unexpected '{_shown(first)}')")


def _shown(token) -> str:
    return "".join(token) if isinstance(token, tuple) else token

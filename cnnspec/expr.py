"""Safe arithmetic on block arguments: ``4 * width``, ``c // 2``, ``stride != 1 or down``.

Parsed with ``ast`` and walked here; nothing reaches Python's ``eval``. Only numbers, strings,
booleans, lists, names in scope, arithmetic, comparisons, ``and``/``or``/``not``, ``x if c else y``,
indexing (``in_shape[1]``, ``in_shape[1:]``), one-loop comprehensions over a list
(``sum(ceil(row[4] * d) for row in setting[:i])``) and the functions in ``FUNCTIONS`` are allowed.
"""
from __future__ import annotations

import ast
import functools
import math
import operator
from collections import ChainMap
from typing import Any, Mapping

from .layers.base import closest

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}
_MAX_POWER = 64


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """``v`` rounded to the nearest multiple of ``divisor``, at least ``min_value`` (default ``divisor``) and
    never more than 10% below ``v``: torchvision's ``_make_divisible`` (models/_utils.py), from TensorFlow's
    MobileNet, which MobileNet, EfficientNet and RegNet use for width multipliers.

    >>> make_divisible(32 * 0.75, 8), make_divisible(10, 8), make_divisible(4, 8, min_value=1)
    (24, 16, 8)
    """
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


FUNCTIONS = {"min": min, "max": max, "int": int, "round": round, "floor": math.floor, "ceil": math.ceil,
             "make_divisible": make_divisible, "len": len, "sum": sum}
"""What an expression may call; ``int`` truncates, ``round`` rounds half to even (both as Python's); ``len``
counts a list (the rows of a table given as an argument: ``repeat: len(setting)``) and ``sum`` adds one up."""
_KEYWORDS = {"make_divisible": {"min_value"}, "round": {"ndigits"}}


class ExpressionError(ValueError):
    pass


MAX_TEXT = 10_000
"""Characters in one expression; the longest in the built-in specs (RegNet's stage depths) has 111."""
MAX_DEPTH = 100
"""Operations nested in one expression; deeper ones would exhaust Python's stack (a 50,000-term sum)."""
MAX_INT_BITS = 256
"""Bits of any integer an expression makes (77 digits): far beyond a tensor size, small enough to compute at once."""
MAX_ITEMS = 1_000_000
"""Elements of any list, characters of any string, and evaluation steps in one expression: what an expression
may build ([1] * 10**9 would take 8 GB)."""


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> ast.expr | None:
    """The expression in ``text``, or None when the string is plain text ('same', 'max pool'). Cached: a
    repeated block parses the same few strings thousands of times (RegNet-Y-128GF: 1,257 for 30 distinct), and
    nothing here changes a tree. Too long or too deeply nested is an ExpressionError, before Python's parser
    can run out of stack."""
    if len(text) > MAX_TEXT:
        if not _EXPRESSION_MARKS.intersection(text):
            return None
        raise ExpressionError(f"'{_short(text)}' is {len(text):,} characters long; an expression may have "
                              f"{MAX_TEXT:,}")
    if _bracket_depth(text) > MAX_DEPTH:
        raise ExpressionError(f"'{_short(text)}' nests brackets more than {MAX_DEPTH} deep")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError):  # ValueError: a NUL character; an integer literal of 4,300+ digits
        return None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"'{_short(text)}' nests more than {MAX_DEPTH} operations deep") from None
    if _depth(tree) > MAX_DEPTH:
        raise ExpressionError(f"'{_short(text)}' nests more than {MAX_DEPTH} operations deep (a long chain of + "
                              "is nested too: add a list with sum() instead)")
    return tree


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _depth(tree: ast.AST) -> int:
    """How deep the tree nests, walked without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _short(text: str) -> str:
    """An expression as an error message quotes it: whole, or its start and end when long."""
    return text if len(text) <= 80 else f"{text[:40]} ... {text[-30:]}"


@functools.lru_cache(maxsize=4096)
def names_read(text: str) -> frozenset[str]:
    """The names an expression reads ('c // 4' reads c; a comprehension's own variable not); none for plain text.
    Cached as ``parse`` is: every instance of a block asks it of the same defaults."""
    tree = parse(text)
    if tree is None:
        return frozenset()
    bound = {g.target.id for node in ast.walk(tree) if isinstance(node, (ast.ListComp, ast.GeneratorExp))
             for g in node.generators if isinstance(g.target, ast.Name)}
    return frozenset({node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} - bound)


def is_bare_word(tree: ast.expr) -> bool:
    return isinstance(tree, ast.Name)


def evaluate(tree: ast.expr, names: Mapping[str, Any], text: str) -> Any:
    """Value of a parsed expression; unknown names, operations outside the language, values past the bounds
    (MAX_INT_BITS, MAX_ITEMS) and every failure of an operation raise ExpressionError naming ``text``."""
    return Evaluation(text).value(tree, names)


class Evaluation:
    """One expression being evaluated: its text for messages and the steps it has taken (MAX_ITEMS)."""

    def __init__(self, text: str):
        self.text = text
        self.steps = 0

    def fail(self, problem: str) -> ExpressionError:
        return ExpressionError(f"cannot evaluate '{_short(self.text)}': {problem}")

    def value(self, tree: ast.expr, names: Mapping[str, Any]) -> Any:
        try:
            return self.walk(tree, names)
        except ExpressionError:
            raise
        except OverflowError:
            raise self.fail("a number too large for a float (beyond 1.8e308)") from None
        except (ArithmeticError, TypeError, ValueError, IndexError, RecursionError, MemoryError) as error:
            raise self.fail(str(error) or type(error).__name__) from None

    def bounded(self, value: Any) -> Any:
        """``value``, if it is within what an expression may make."""
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            if value.bit_length() > MAX_INT_BITS:
                raise self.fail(f"an integer of more than {MAX_INT_BITS} bits (about {MAX_INT_BITS * 3 // 10} "
                                "digits), larger than any size")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail(f"the result is {value}, not a finite number")
        elif isinstance(value, (list, str)):
            if len(value) > MAX_ITEMS:
                raise self.fail(_too_long(value, len(value)))
        else:
            raise self.fail(f"the result {value!r} is not a number, string, boolean or list")
        return value

    def step(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_ITEMS:
            raise self.fail(f"it takes more than {MAX_ITEMS:,} steps")

    def walk(self, node: ast.expr, names: Mapping[str, Any]) -> Any:
        self.step()
        text = self.text
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
            return self.bounded(node.value)
        if isinstance(node, ast.Name):
            if node.id in names:
                return names[node.id]
            if node.id in ("true", "false"):
                return node.id == "true"
            known = ", ".join(sorted(names)) or "none"
            raise ExpressionError(f"unknown name '{node.id}' in '{_short(text)}'{closest(node.id, names)}; "
                                  f"names in scope: {known}")
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.walk(e, names) for e in node.elts]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return self.binary(node.op, self.walk(node.left, names), self.walk(node.right, names))
        if isinstance(node, ast.UnaryOp):
            value = self.walk(node.operand, names)
            if isinstance(node.op, ast.Not):
                return not value
            if isinstance(node.op, (ast.USub, ast.UAdd)) and isinstance(value, (int, float)):
                return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BoolOp):
            values = [self.walk(v, names) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            return self.compare(node, names)
        if isinstance(node, ast.IfExp):
            return self.walk(node.body, names) if self.walk(node.test, names) else self.walk(node.orelse, names)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, names)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)) and len(node.generators) == 1:
            return self.comprehension(node, names)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
                and all(k.arg in _KEYWORDS.get(node.func.id, ()) for k in node.keywords)):
            return self.call(node, names)
        raise ExpressionError(f"'{ast.unparse(node)}' is not allowed in '{_short(text)}': expressions take numbers, "
                              "names, arithmetic, comparisons, and/or/not, x if c else y, indexing, one-loop "
                              "comprehensions and the functions " + ", ".join(FUNCTIONS))

    def binary(self, op: ast.operator, left: Any, right: Any) -> Any:
        """``left op right``, refused before it is computed when the result would pass the bounds."""
        symbol = _SYMBOLS[type(op)]
        numbers = all(isinstance(v, (int, float)) for v in (left, right))
        if not numbers and not (isinstance(op, ast.Add) and type(left) is type(right) and isinstance(left, (list, str))
                                or isinstance(op, ast.Mult) and _repeats(left, right)):
            raise self.fail(f"{symbol} does not apply to {_kind(left)} and {_kind(right)}")
        if isinstance(op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > _MAX_POWER:
            raise ExpressionError(f"exponent {right} too large in '{_short(self.text)}'")
        if isinstance(op, ast.Pow) and isinstance(left, int) and isinstance(right, int) and right > 0 \
                and left.bit_length() * right > MAX_INT_BITS:
            raise self.fail(f"{left} ** {right} is an integer of more than {MAX_INT_BITS} bits")
        if isinstance(op, ast.Mult) and all(isinstance(v, int) for v in (left, right)) \
                and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
            raise self.fail(f"the product is an integer of more than {MAX_INT_BITS} bits")
        if not numbers:
            size = len(left) + len(right) if isinstance(op, ast.Add) else (
                len(left) * right if isinstance(left, (list, str)) else len(right) * left)
            if size > MAX_ITEMS:
                raise self.fail(_too_long(left if isinstance(left, (list, str)) else right, size))
            self.step(max(size, 0))
        result = _BINARY[type(op)](left, right)
        if isinstance(result, complex):
            raise self.fail("a negative number to a fractional power is not a real number")
        return self.bounded(result)

    def compare(self, node: ast.Compare, names: Mapping[str, Any]) -> bool:
        left = self.walk(node.left, names)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.walk(right_node, names)
            ordered = not isinstance(op, (ast.Eq, ast.NotEq))
            if ordered and not (all(isinstance(v, (int, float)) for v in (left, right)) or type(left) is type(right)):
                raise self.fail(f"cannot compare {_kind(left)} {_brief(left)} with {_kind(right)} {_brief(right)}")
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def subscript(self, node: ast.Subscript, names: Mapping[str, Any]) -> Any:
        sequence = self.walk(node.value, names)
        index = (slice(*(None if part is None else self.walk(part, names)
                         for part in (node.slice.lower, node.slice.upper, node.slice.step)))
                 if isinstance(node.slice, ast.Slice) else self.walk(node.slice, names))
        if not isinstance(sequence, (list, str)):
            raise ExpressionError(f"cannot index {_brief(sequence)} in '{_short(self.text)}': only lists (in_shape) and "
                                  "strings can be")
        return sequence[index]

    def comprehension(self, node: ast.ListComp | ast.GeneratorExp, names: Mapping[str, Any]) -> list:
        """``[element for name in a_list if condition]``: one loop over a list the spec holds, so it is as long
        as something written (no range), each element evaluated with ``name`` bound."""
        loop = node.generators[0]
        items = self.walk(loop.iter, names)
        if not isinstance(loop.target, ast.Name) or loop.is_async:
            raise ExpressionError(f"a comprehension in '{_short(self.text)}' loops one name over a list")
        if not isinstance(items, list):
            raise ExpressionError(f"a comprehension in '{_short(self.text)}' loops over a list. Received: {_brief(items)}")
        values = []
        for item in items:
            inner = ChainMap({loop.target.id: item}, names)
            if all(self.walk(condition, inner) for condition in loop.ifs):
                values.append(self.walk(node.elt, inner))
        return values

    def call(self, node: ast.Call, names: Mapping[str, Any]) -> Any:
        function = node.func.id
        arguments = [self.walk(a, names) for a in node.args]
        keywords = {k.arg: self.walk(k.value, names) for k in node.keywords}
        given = [*arguments, *keywords.values()]
        lists = function in ("min", "max", "sum", "len")
        if not all(_is_number(a) or (lists and isinstance(a, list) and (function == "len" or all(map(_is_number, a))))
                   or (function == "len" and isinstance(a, str)) for a in given if a is not None):
            raise ExpressionError(f"{function} takes numbers in '{_short(self.text)}'. Received: "
                                  + ", ".join(_brief(a) for a in given))
        if function in ("sum", "len") and (len(given) != 1 or not isinstance(given[0], (list, str))):
            raise self.fail(f"{function} takes one list. Received: {', '.join(_brief(a) for a in given) or 'nothing'}")
        if function in ("min", "max") and (not given or given in ([[]],)):
            raise self.fail(f"{function} of nothing")
        return self.bounded(FUNCTIONS[function](*arguments, **keywords))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _repeats(left: Any, right: Any) -> bool:
    """A list or string times an int: [1] * n."""
    return (isinstance(left, (list, str)) and type(right) is int) or (isinstance(right, (list, str)) and type(left) is int)


def _brief(value: Any) -> str:
    """``repr(value)``, cut to 60 characters: a message quotes a value, not a million-element list."""
    text = repr(value) if not isinstance(value, (list, str)) or len(value) < 100 else repr(value[:20])
    return text if len(text) <= 60 and len(text) == len(repr(value)) else f"{text[:50]}... ({len(value):,} items)" \
        if isinstance(value, (list, str)) else text[:60] + "..."


def _too_long(value: Any, size: int) -> str:
    what = "list" if isinstance(value, list) else "string"
    return f"a {what} of {size:,} {'items' if what == 'list' else 'characters'}; an expression may make {MAX_ITEMS:,}"


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}.get(
        type(value), type(value).__name__)


def substitute(value: Any, names: Mapping[str, Any]) -> Any:
    """Evaluate every expression inside a spec value (strings, lists); plain words stay strings.

    >>> substitute("4 * width", {"width": 16})
    64
    >>> substitute(["same", "c // 2"], {"c": 6})
    ['same', 3]
    """
    if isinstance(value, list):
        return [substitute(v, names) for v in value]
    if not isinstance(value, str):
        return value
    tree = parse(value)
    if tree is None and _EXPRESSION_MARKS.intersection(value):
        raise ExpressionError(broken_expression(value))
    if tree is None or (is_bare_word(tree) and tree.id not in names):
        return value
    return evaluate(tree, names, value)


_EXPRESSION_MARKS = frozenset("()[]{}*/+%<>=,")
"""Characters no plain-word value ('same', 'nearest') has: a string with one that does not parse was meant
as an expression."""


def broken_expression(text: str) -> str:
    """What is wrong with an expression that does not parse, and the usual cause: YAML's unquoted commas."""
    try:
        ast.parse(text.strip(), mode="eval")
        problem = "it does not parse"
    except SyntaxError as error:
        problem = error.msg
    if sum(text.count(c) for c in "([{") == sum(text.count(c) for c in ")]}"):
        return f"'{text}' is not a complete expression ({problem})"
    return (f"'{text}' is not a complete expression ({problem}); inside {{...}} or [...] YAML ends an "
            "unquoted value at its first comma, so quote an expression with commas whole: 'max(1, c)'")

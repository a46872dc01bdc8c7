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
from typing import Any, Mapping

from .layers.base import closest

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
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


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> ast.expr | None:
    """The expression in ``text``, or None when the string is plain text ('same', 'max pool'). Cached: a
    repeated block parses the same few strings thousands of times (RegNet-Y-128GF: 1,257 for 30 distinct), and
    nothing here changes a tree."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    return tree


def names_read(text: str) -> set[str]:
    """The names an expression reads ('c // 4' reads c; a comprehension's own variable not); none for plain text."""
    tree = parse(text)
    if tree is None:
        return set()
    bound = {g.target.id for node in ast.walk(tree) if isinstance(node, (ast.ListComp, ast.GeneratorExp))
             for g in node.generators if isinstance(g.target, ast.Name)}
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} - bound


def is_bare_word(tree: ast.expr) -> bool:
    return isinstance(tree, ast.Name)


def evaluate(tree: ast.expr, names: Mapping[str, Any], text: str) -> Any:
    """Value of a parsed expression; unknown names and operations raise ExpressionError."""
    def walk(node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in names:
                return names[node.id]
            if node.id in ("true", "false"):
                return node.id == "true"
            known = ", ".join(sorted(names)) or "none"
            raise ExpressionError(f"unknown name '{node.id}' in '{text}'{closest(node.id, names)}; "
                                  f"names in scope: {known}")
        if isinstance(node, (ast.List, ast.Tuple)):
            return [walk(e) for e in node.elts]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > _MAX_POWER:
                raise ExpressionError(f"exponent {right} too large in '{text}'")
            try:
                return _BINARY[type(node.op)](left, right)
            except (TypeError, ZeroDivisionError) as error:
                raise ExpressionError(f"cannot evaluate '{text}': {error}") from None
        if isinstance(node, ast.UnaryOp):
            value = walk(node.operand)
            if isinstance(node.op, ast.Not):
                return not value
            if isinstance(node.op, (ast.USub, ast.UAdd)) and isinstance(value, (int, float)):
                return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BoolOp):
            values = [walk(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            left = walk(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = walk(right_node)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return walk(node.body) if walk(node.test) else walk(node.orelse)
        if isinstance(node, ast.Subscript):
            return subscript(node)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)) and len(node.generators) == 1:
            return comprehension(node)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
                and all(k.arg in _KEYWORDS.get(node.func.id, ()) for k in node.keywords)):
            return call(node)
        raise ExpressionError(f"'{ast.unparse(node)}' is not allowed in '{text}': expressions take numbers, names, "
                              "arithmetic, comparisons, and/or/not, x if c else y, indexing, one-loop "
                              "comprehensions and the functions "
                              + ", ".join(FUNCTIONS))

    def subscript(node: ast.Subscript) -> Any:
        sequence = walk(node.value)
        index = (slice(*(None if part is None else walk(part) for part in (node.slice.lower, node.slice.upper,
                                                                             node.slice.step)))
                 if isinstance(node.slice, ast.Slice) else walk(node.slice))
        if not isinstance(sequence, (list, str)):
            raise ExpressionError(f"cannot index {sequence!r} in '{text}': only lists (in_shape) and strings can be")
        try:
            return sequence[index]
        except (IndexError, TypeError, ValueError) as error:
            raise ExpressionError(f"cannot evaluate '{text}': {error}") from None

    def comprehension(node: ast.ListComp | ast.GeneratorExp) -> list:
        """``[element for name in a_list if condition]``: one loop over a list the spec holds, so it is as long
        as something written (no range), each element evaluated with ``name`` bound."""
        loop = node.generators[0]
        items = walk(loop.iter)
        if not isinstance(loop.target, ast.Name) or loop.is_async:
            raise ExpressionError(f"a comprehension in '{text}' loops one name over a list")
        if not isinstance(items, list):
            raise ExpressionError(f"a comprehension in '{text}' loops over a list. Received: {items!r}")
        values = []
        for item in items:
            inner = {**names, loop.target.id: item}
            if all(evaluate(condition, inner, text) for condition in loop.ifs):
                values.append(evaluate(node.elt, inner, text))
        return values

    def call(node: ast.Call) -> Any:
        arguments = [walk(a) for a in node.args]
        keywords = {k.arg: walk(k.value) for k in node.keywords}
        if not all(isinstance(a, (int, float)) or (isinstance(a, list) and node.func.id in ("min", "max", "len", "sum"))
                   for a in [*arguments, *keywords.values()] if a is not None):
            raise ExpressionError(f"{node.func.id} takes numbers in '{text}'. Received: "
                                  + ", ".join(repr(a) for a in [*arguments, *keywords.values()]))
        try:
            return FUNCTIONS[node.func.id](*arguments, **keywords)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as error:
            raise ExpressionError(f"cannot evaluate '{text}': {error}") from None

    return walk(tree)


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

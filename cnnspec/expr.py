"""Safe arithmetic on block arguments: ``4 * width``, ``c // 2``, ``stride != 1 or down``.

Parsed with ``ast`` and walked here; nothing reaches Python's ``eval``. Only numbers, strings,
booleans, lists, names in scope, arithmetic, comparisons, ``and``/``or``/``not``, ``x if c else y``
and ``min``/``max`` are allowed.
"""
from __future__ import annotations

import ast
import operator
from typing import Any, Mapping

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}
_FUNCTIONS = {"min": min, "max": max}
_MAX_POWER = 64


class ExpressionError(ValueError):
    pass


def parse(text: str) -> ast.expr | None:
    """The expression in ``text``, or None when the string is plain text ('same', 'max pool')."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    return tree


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
            raise ExpressionError(f"unknown name '{node.id}' in '{text}' (names in scope: {known})")
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
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
                and not node.keywords):
            return _FUNCTIONS[node.func.id](*(walk(a) for a in node.args))
        raise ExpressionError(f"'{ast.unparse(node)}' is not allowed in '{text}': expressions take numbers, names, "
                              "arithmetic, comparisons, and/or/not, x if c else y, min and max")

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
    if tree is None or (is_bare_word(tree) and tree.id not in names):
        return value
    return evaluate(tree, names, value)

import re

import pytest

from cnnspec.expr import ExpressionError, names_read, substitute


@pytest.mark.parametrize("text, value", [
    ("4 * width", 256), ("width // 3", 21), ("width / 2", 32.0), ("2 ** 3", 8), ("-width", -64),
    ("width if deep else 1", 64), ("stride != 1 or deep", True), ("min(width, 32)", 32), ("[1, width]", [1, 64]),
    ("not deep", False), ("1 < stride <= 2", True), ("width % 10", 4),
])
def test_arithmetic(text, value):
    assert substitute(text, {"width": 64, "deep": True, "stride": 2}) == value


@pytest.mark.parametrize("text", ["same", "nearest", "hello world", "", "3x3 conv"])
def test_plain_words_stay_strings(text):
    assert substitute(text, {"width": 64}) == text


@pytest.mark.parametrize("text, message", [
    ("4 * widht", "unknown name 'widht'"), ("__import__('os')", "not allowed"), ("width.bit_length()", "not allowed"),
    ("2 ** 1000", "too large"), ("width // 0", "cannot evaluate"), ("[x for x in width]", "loops over a list"), ("{x: 1 for x in [1]}", "not allowed"),
    ("lambda: 1", "not allowed"),
])
def test_refused(text, message):
    with pytest.raises(ExpressionError, match=message):
        substitute(text, {"width": 64})


@pytest.mark.parametrize("text, value", [
    ("int(7.9)", 7), ("int(-7.9)", -7), ("round(2.5)", 2), ("round(3.5)", 4), ("round(2.675, 2)", 2.67),
    ("floor(-1.5)", -2), ("ceil(1 * 1.1)", 2), ("ceil(3 * 1.4)", 5), ("in_shape[1:]", [56, 56]), ("in_shape[0]", 64),
    ("in_shape[-1] // 2", 28), ("len(in_shape)", 3), ("len(in_shape[1:])", 2), ("sum(in_shape[1:])", 112),
    ("sum(ceil(n * 1.1) for n in in_shape[:2])", 71 + 62), ("[n // 8 for n in in_shape if n > 60]", [8]),
])
def test_functions_and_indexing(text, value):
    assert substitute(text, {"in_shape": [64, 56, 56]}) == value


@pytest.mark.parametrize("width_mult, stem", [(1.0, 32), (1.2, 40), (1.4, 48), (1.8, 56), (2.0, 64)])
def test_make_divisible_gives_efficientnets_stems(width_mult, stem):
    """EfficientNet-B0, B3, B4, B6, B7 stems (torchvision's efficientnet_b*: features[0] is 32, 40, 48, 56, 64
    channels), each _make_divisible(32 * width_mult, 8)."""
    assert substitute("make_divisible(32 * w, 8)", {"w": width_mult}) == stem


@pytest.mark.parametrize("text, value", [
    ("make_divisible(18, 8)", 24),  # rounds to 16, more than 10% below 18: one divisor more
    ("make_divisible(12, 8)", 16), ("make_divisible(3, 8)", 8), ("make_divisible(3, 8, min_value=1)", 9),
    ("make_divisible(3, 8, 2)", 10),  # min_value 1 or 2 is more than 10% below 3: plus one divisor, as torchvision ("make_divisible(960 // 4, 8)", 240), ("make_divisible(1280 * 0.5, 8)", 640),
])
def test_make_divisible_follows_torchvision(text, value):
    assert substitute(text, {}) == value


@pytest.mark.parametrize("text, message", [
    ("make_divisible(18)", "cannot evaluate"), ("make_divisible(18, 0)", "cannot evaluate"),
    ("ceil('a')", "ceil takes numbers"), ("floor(1, 2)", "cannot evaluate"), ("int(x=1)", "not allowed"),
    ("in_shape[3]", "index out of range"), ("width[0]", "cannot index 64"), ("max()", "cannot evaluate"),
])
def test_function_misuse_is_an_expression_error(text, message):
    with pytest.raises(ExpressionError, match=message):
        substitute(text, {"width": 64, "in_shape": [64, 56, 56]})


@pytest.mark.parametrize("text, message", [
    ("1e300 ** 2", "too large for a float"), ("1e308 * 10", "inf, not a finite number"), ("min()", "min of nothing"),
    ("max([])", "max of nothing"), ("'a' < 3", "cannot compare a string 'a' with a number 3"),
    ("((2**64)**64)**64", "more than 256 bits"), ("width ** 60 * width ** 60", "more than 256 bits"),
    ("int(1e300)", "more than 256 bits"), ("'%c' % 10**9", "% does not apply to a string and a number"),
    ("'%9999999999d' % 1", "% does not apply"), ("[1] * 10**9", "a list of 1,000,000,000 items"),
    ("'ab' * 10**7", "a string of 20,000,000 characters"), ("[[1] * 1000 for x in [1] * 2000]", "1,000,000 steps"),
    ("(-8) ** 0.5", "not a real number"), ("sum([[1], [2]])", "sum takes numbers"), ("sum(1, 2)", "sum takes one list"),
    ("+".join(["1"] * 3000), "nests more than 100 operations"), ("(" * 150 + "1" + ")" * 150, "nests brackets"),
    ("+".join(["1"] * 50_000), "99,999 characters long"), ("[1] + 2", "+ does not apply to a list and a number"),
])
def test_bounds_and_failures_are_expression_errors(text, message):
    """Every way an expression can fail, or build too much, is an ExpressionError naming it (issue 15)."""
    with pytest.raises(ExpressionError, match=re.escape(message)) as caught:
        substitute(text, {"width": 64})
    assert str(caught.value).count("'") >= 2  # the expression is quoted


def test_unknown_name_suggests_the_close_one():
    with pytest.raises(ExpressionError, match=r"unknown name 'use_bnn' in 'use_bnn and 1' \(did you mean 'use_bn'\?\); "
                                              r"names in scope: use_bn, width"):
        substitute("use_bnn and 1", {"use_bn": True, "width": 3})


@pytest.mark.parametrize("text, problem", [
    ("max(1", "'(' was never closed"), ("c)", "unmatched ')'"), ("[1, 2", "'[' was never closed"),
])
def test_broken_expression_says_to_quote_it(text, problem):
    with pytest.raises(ExpressionError) as caught:
        substitute(text, {"c": 1})
    assert str(caught.value) == (f"'{text}' is not a complete expression ({problem}); inside {{...}} or [...] YAML "
                                 "ends an unquoted value at its first comma, so quote an expression with commas "
                                 "whole: 'max(1, c)'")


def test_a_broken_expression_with_balanced_brackets_is_not_blamed_on_commas():
    with pytest.raises(ExpressionError) as caught:
        substitute("2 * (c +)", {"c": 1})
    assert str(caught.value) == "'2 * (c +)' is not a complete expression (invalid syntax)"


@pytest.mark.parametrize("text, message", [
    ("sum(n for n in 5)", "loops over a list. Received: 5"),
    ("[a for a, b in in_shape]", "loops one name over a list"),
    ("[n for n in in_shape for m in in_shape]", "is not allowed"),
    ("sum(n for n in nope)", "unknown name 'nope'"),
])
def test_comprehensions_loop_one_name_over_a_list(text, message):
    with pytest.raises(ExpressionError, match=message):
        substitute(text, {"in_shape": [64, 56, 56]})


def test_a_comprehensions_own_name_is_not_read():
    assert names_read("sum(ceil(row[4] * d) for row in setting[:i])") == {"sum", "ceil", "d", "setting", "i"}

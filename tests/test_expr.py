import pytest

from cnnspec.expr import ExpressionError, substitute


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
    ("2 ** 1000", "too large"), ("width // 0", "cannot evaluate"), ("[x for x in width]", "not allowed"),
    ("lambda: 1", "not allowed"),
])
def test_refused(text, message):
    with pytest.raises(ExpressionError, match=message):
        substitute(text, {"width": 64})

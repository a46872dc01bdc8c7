"""Numbers and shapes as people write them, and the rounding-aware comparison."""
import re

import pytest

from cnnspec.figures import FigureError, parse_figure, parse_shape, shape_matches


@pytest.mark.parametrize("text, value, digits, unit", [
    ("1,728", 1728, None, None), ("4096", 4096, None, None), ("3.2M", 3_200_000, 2, None),
    ("26.9K", 26_900, 3, None), ("112.9M", 112_900_000, 4, None), ("138M", 138_000_000, 3, None),
    ("96MB", 96_000_000, 2, "bytes"), ("15.47 GFLOPs", 15_470_000_000, 4, "flops"), ("800K each", 800_000, 1, None),
    ("~24M", 24_000_000, 2, None), ("60.95 MB", 60_950_000, 4, "bytes"), ("96 MiB", 96 * 2**20, 2, "bytes"),
    ("2.3 GMACs", 2_300_000_000, 2, "macs"), ("5.27M", 5_270_000, 3, None), ("1.8 Gops", 1_800_000_000, 2, "ops"),
    ("2,359,296 each", 2_359_296, None, None), ("0", 0, None, None), ("3.5M params", 3_500_000, 2, "count"),
    ("≈ 0.5 GB", 500_000_000, 1, "bytes"), ("1.2 GFLOPs", 1_200_000_000, 2, "flops"),
    ("0.05G", 50_000_000, 1, None), ("1,234.5K", 1_234_500, 5, None), ("4096 MACs", 4096, None, "macs"),
    ("5 Mult-Adds", 5, None, "macs"), ("~60,000", 60_000, 1, None), ("about 61,000", 61_000, 2, None),
])
def test_parse(text, value, digits, unit):
    figure = parse_figure(text)
    assert (figure.value, figure.digits, figure.unit) == (value, digits, unit)


@pytest.mark.parametrize("text, true, ok", [
    ("3.2M", 3_211_264, True), ("24M", 15_237_608, False), ("15M", 15_237_608, True), ("138M", 138_357_544, True),
    ("800K", 802_816, True), ("150K", 150_528, True), ("25K", 25_088, True), ("26.9K", 26_880, True),
    ("5.27M", 5_268_480, True), ("112.9M", 112_896_000, True), ("1,728", 1_728, True), ("1,728", 1_792, False),
    ("15.47 GFLOPs", 15_470_264_320, True), ("61 MB", 60_950_432, True), ("60.9 MB", 60_950_432, False),
    ("144M", 143_667_240, True), ("133M", 132_863_336, True), ("1.8G", 1_814_073_344, True),
    ("60,000", 61_706, False), ("~60,000", 61_706, True), ("~60,000", 65_000, False), ("100K", 99_960, True),
    ("96 MiB", 100_663_296, True), ("0", 0, True), ("0", 1, False),
])
def test_rounding_aware(text, true, ok):
    assert parse_figure(text).matches(true) is ok


@pytest.mark.parametrize("text, message", [
    ("", "'' is not a number"), ("big", "'big' is not a number"), ("3.2 zorks", "'3.2 zorks': unknown unit 'zorks'"),
    ("1,72,8", "'1,72,8' is not a number"), ("M", "'M' is not a number"), ("12x12", "'12x12' is not a number"),
    ("-5", "'-5' is not a number"), ("3.2.1M", "'3.2.1M' is not a number"),
])
def test_bad_cells(text, message):
    with pytest.raises(FigureError, match="^" + re.escape(message)):
        parse_figure(text)


@pytest.mark.parametrize("text, shape", [
    ("224x224x64", (224, 224, 64)), ("[7x7x512]", (7, 7, 512)), ("(64, 112, 112)", (64, 112, 112)),
    ("4096", (4096,)), ("56 × 56 × 256", (56, 56, 256)), ("[512, 7, 7]", (512, 7, 7)),
])
def test_parse_shape(text, shape):
    assert parse_shape(text) == shape


def test_shape_orders():
    assert shape_matches((224, 224, 64), (64, 224, 224)) == "channels last"
    assert shape_matches((64, 224, 224), (64, 224, 224)) == "as written"
    assert shape_matches((112, 112, 64), (64, 224, 224)) is None
    assert shape_matches((4096,), (4096,)) == "as written"
    assert shape_matches((1, 1, 4096), (4096,)) == shape_matches((4096, 1, 1), (4096,)) == "a vector as a 1 x 1 map"
    assert shape_matches((1, 64, 224, 224), (64, 224, 224)) == "with a batch axis, as written"
    assert shape_matches((1, 224, 224, 64), (64, 224, 224)) == "with a batch axis, channels last"
    assert shape_matches((2, 64, 224, 224), (64, 224, 224)) is None
    for bad in ("7 by 7", "", "[]", "7x", "7x-7"):
        with pytest.raises(FigureError, match="is not a shape"):
            parse_shape(bad)

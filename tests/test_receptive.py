from fractions import Fraction

from cnnspec.receptive import ReceptiveField
from tests.conftest import analyze_text


def field(size, start, jump=(1, 1)):
    return ReceptiveField(tuple(map(Fraction, size)), tuple(map(Fraction, jump)), tuple(map(Fraction, start)))


def test_union_covers_every_branch_axis_by_axis():
    tall, wide = field((7, 1), (3, 0)), field((1, 7), (0, 3))
    assert ReceptiveField.union([tall, wide]) == field((7, 7), (3, 3))
    shifted = field((3, 3), (0, 0)), field((3, 3), (2, 2))  # same size, centres 2 apart: 5 wide
    assert ReceptiveField.union(list(shifted)) == field((5, 5), (1, 1))
    assert ReceptiveField.union([tall]) == tall


def test_concat_of_1x3_and_3x1_branches_sees_3x3():
    analysis = analyze_text("""
input: [4, 8, 8]
layers:
  - {type: conv2d, out_channels: 2, kernel_size: [1, 3], padding: [0, 1], name: a}
  - {type: conv2d, out_channels: 2, kernel_size: [3, 1], padding: [1, 0], inputs: input, name: b}
  - {type: concat, inputs: [a, b], name: both}
""")
    assert analysis.row("both").receptive_size == "3x3"

"""Pixel shuffle and unshuffle: PyTorch's shapes, and the receptive field on the changed grid."""
import pytest
import torch

from cnnspec.layers import LAYERS
from cnnspec.shape import ArgumentError
from tests.conftest import analyze_text


def test_pixel_shuffle_trades_channels_for_resolution():
    shuffle = LAYERS["pixel_shuffle"].from_arguments({"upscale_factor": 3})
    assert shuffle.out_shape([(18, 4, 5)]) == (2, 12, 15) and shuffle.flops([(18, 4, 5)], (2, 12, 15)) == 0
    unshuffle = LAYERS["pixel_unshuffle"].from_arguments({"downscale_factor": 2})
    assert unshuffle.out_shape([(3, 8, 6)]) == (12, 4, 3)
    with pytest.raises(ArgumentError, match=r"square divide the input's channels \(8\). Received: upscale_factor=3"):
        shuffle.out_shape([(8, 4, 4)])
    with pytest.raises(ArgumentError, match=r"divide the input's height and width \(8x7\)"):
        unshuffle.out_shape([(3, 8, 7)])


def dependence(module, in_shape, out_position):
    """The input positions (rows, columns) that one output position's values depend on, by autograd."""
    x = torch.randn(1, *in_shape, requires_grad=True)
    module(x)[0, :, out_position[0], out_position[1]].sum().backward()
    rows, cols = x.grad[0].abs().sum(0).nonzero(as_tuple=True)
    return (rows.min().item(), rows.max().item()), (cols.min().item(), cols.max().item())


def test_receptive_fields_on_the_new_grid_are_what_autograd_sees():
    analysis = analyze_text("""
input: [4, 12, 12]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, name: conv}
  - {type: pixel_unshuffle, downscale_factor: 2, name: down}
  - {type: pixel_shuffle, upscale_factor: 4, name: up}
""")
    down = analysis.row("down").receptive_field
    assert down.size == (4, 4) and down.jump == (2, 2)  # a 2x2 block of 3x3 fields
    up = analysis.row("up").receptive_field
    assert up.size == (4, 4) and up.jump == (0.5, 0.5)  # nearest upsampling's geometry: the same size, finer
    model = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.PixelUnshuffle(2))
    assert dependence(model, (4, 12, 12), (2, 3)) == (span(down, 0, 2), span(down, 1, 3)) == ((3, 6), (5, 8))


def span(field, axis: int, position: int) -> tuple[int, int]:
    """First and last input index in the field of output ``position`` along ``axis``."""
    centre, half = field.start[axis] + position * field.jump[axis], (field.size[axis] - 1) / 2
    return int(centre - half), int(centre + half)

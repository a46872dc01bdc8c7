"""Shapes and the pure size arithmetic every layer shares.

A `Shape` is a tuple of ints without the batch dimension: ``(C, L)``, ``(C, H, W)``,
``(C, D, H, W)``, or ``(F,)`` for features. Formulas follow the PyTorch docs
(torch.nn.Conv2d, MaxPool2d, ConvTranspose2d "Shape" sections) and cs231n's
``floor((N - K + 2P) / S) + 1``.
"""
from __future__ import annotations

from fractions import Fraction
from math import prod

Shape = tuple[int, ...]


class ArgumentError(ValueError):
    """A layer argument or input shape a layer cannot accept; the graph adds file, line and layer."""

    def __init__(self, message: str, argument: str | None = None):
        super().__init__(message)
        self.argument = argument


def numel(shape: Shape) -> int:
    """Number of values in a tensor of this shape (one image)."""
    return prod(shape)


def format_shape(shape: Shape) -> str:
    """``(64, 112, 112)`` -> ``'64x112x112'``."""
    return "x".join(str(n) for n in shape)


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """A dilated kernel spans ``D*(K-1)+1`` input positions.

    >>> effective_kernel(3, 2)
    5
    """
    return dilation * (kernel - 1) + 1


def exact_conv_out(n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> Fraction:
    """``(N + 2P - D*(K-1) - 1) / S + 1`` before flooring; not an integer when the window does not tile."""
    return Fraction(n + 2 * padding - effective_kernel(kernel, dilation), stride) + 1


def conv_out(n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
             ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling window along one axis.

    >>> conv_out(50, 5, stride=3)
    16
    >>> conv_out(224, 11, stride=4)   # AlexNet conv1 on 224: 54.25 floored
    54
    """
    span = n + 2 * padding - effective_kernel(kernel, dilation)
    out = -(-span // stride) + 1 if ceil_mode else span // stride + 1
    if ceil_mode and (out - 1) * stride >= n + padding:
        out -= 1  # PyTorch: the last window must start inside the input or left padding
    return out


def conv_transpose_out(n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                       output_padding: int = 0) -> int:
    """Output length of a transposed convolution (torch.nn.ConvTranspose2d docs).

    >>> conv_transpose_out(28, 2, stride=2)
    56
    """
    return (n - 1) * stride - 2 * padding + effective_kernel(kernel, dilation) + output_padding


def same_padding(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """Left and right padding that keep the length at stride 1 (PyTorch puts the extra one on the right)."""
    total = effective_kernel(kernel, dilation) - 1
    return total // 2, total - total // 2


def as_tuple(value: int | list | tuple, ndim: int, name: str) -> tuple[int, ...]:
    """An int or a list of ``ndim`` ints, as PyTorch accepts for kernel_size, stride, padding..."""
    if isinstance(value, bool):
        raise ArgumentError(f"{name} must be an int or a list of {ndim} ints. Received: {name}={value!r}", name)
    if isinstance(value, int):
        return (value,) * ndim
    if isinstance(value, (list, tuple)) and len(value) == ndim and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    raise ArgumentError(f"{name} must be an int or a list of {ndim} ints. Received: {name}={value!r}", name)

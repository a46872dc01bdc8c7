"""The few torch modules PyTorch lacks: merges, global pooling, center crop, locally connected, stochastic
depth (torchvision's), slice, reshape, permute, and a channel shuffle that ONNX can export.

Imported only when building (torch is not needed to analyze).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class Add(nn.Module):
    """The sum of the inputs; in place, into the first (torchvision's ``out += identity``)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out.add_(x) if self.inplace else out + x
        return out


class Multiply(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim)


class GlobalPool(nn.Module):
    """[N, C, *spatial] -> [N, C] (or [N, C, 1, ...] with keepdim).

    The number of spatial axes is fixed at construction so that forward needs no x.dim(), which
    torch.fx cannot trace. The maximum is taken with ``max(dim)``, whose backward reads the indices,
    not ``amax``, whose backward reads the output that an in-place ReLU after it would overwrite.
    """

    def __init__(self, kind: str, keepdim: bool = False, spatial_axes: int = 2):
        super().__init__()
        self.kind, self.keepdim, self.spatial_axes = kind, keepdim, spatial_axes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(2, 2 + self.spatial_axes))
        if self.kind == "avg":
            return x.mean(dim=dims, keepdim=self.keepdim)
        out = x.flatten(2).max(dim=2).values
        for _ in dims if self.keepdim else ():
            out = out.unsqueeze(-1)
        return out


class CenterCrop(nn.Module):
    """Static centre crop of the spatial axes (U-Net's skip connections)."""

    def __init__(self, offsets: tuple[int, ...], size: tuple[int, ...]):
        super().__init__()
        self.offsets, self.size = tuple(offsets), tuple(size)

    def forward(self, x: torch.Tensor, *like: torch.Tensor) -> torch.Tensor:
        for axis, (start, length) in enumerate(zip(self.offsets, self.size)):
            x = x.narrow(2 + axis, start, length)
        return x


class LocallyConnected(nn.Module):
    """A convolution with its own filter bank at every output position (Keras LocallyConnected2D).

    weight: [positions, C_out, C_in * prod(kernel)]; bias: [C_out, *out_spatial].
    """

    def __init__(self, in_shape, out_shape, kernel, stride, padding, bias: bool = True):
        super().__init__()
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        self.kernel, self.stride, self.padding = tuple(kernel), tuple(stride), tuple(padding)
        self.out_spatial = tuple(out_shape[1:])
        positions = math.prod(self.out_spatial)
        fan_in = in_shape[0] * math.prod(kernel)
        self.weight = nn.Parameter(torch.empty(positions, out_shape[0], fan_in))
        self.bias = nn.Parameter(torch.empty(out_shape[0], *self.out_spatial)) if bias else None
        bound = 1 / math.sqrt(fan_in)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.kernel) == 1:  # unfold works on 2D: view a length as 1 x L
            patches = F.unfold(x.unsqueeze(2), (1, *self.kernel), padding=(0, *self.padding),
                               stride=(1, *self.stride))
        else:
            patches = F.unfold(x, self.kernel, padding=self.padding, stride=self.stride)
        # one matrix product per position: [P, N, C_in*K] @ [P, C_in*K, C_out] -> [P, N, C_out]
        # (bmm rather than einsum: fvcore counts bmm exactly, einsum to 4 significant digits)
        out = torch.bmm(patches.permute(2, 0, 1), self.weight.transpose(1, 2))
        out = out.permute(1, 2, 0).reshape(-1, *self.out_shape)  # constant shape: ONNX keeps it
        return out + self.bias if self.bias is not None else out


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth's semantics (Huang et al. 2016), without torchvision.

    Training: a Bernoulli(1 - p) keep mask of shape [N, 1, ...] (row) or [1, ...] (batch), scaled by
    1 / (1 - p) so the expectation is unchanged; inference, or p = 0: the input itself."""

    def __init__(self, p: float, mode: str = "row"):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((1,) if self.mode == "batch" else (x.shape[0], 1)).bernoulli_(keep)
        if keep > 0.0:
            mask = mask.div_(keep)
        if self.mode == "batch":
            return x * mask
        return (x.flatten(1) * mask).view_as(x)  # [N, 1] against [N, rest]: no x.dim(), which torch.fx cannot read

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


class Slice(nn.Module):
    """``x[:, start:end]`` along ``dim`` (with the batch axis), a view."""

    def __init__(self, dim: int, start: int, end: int):
        super().__init__()
        self.dim, self.start, self.end = dim, start, end

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.narrow(self.dim, self.start, self.end - self.start)


class ChannelShuffle(nn.Module):
    """nn.ChannelShuffle's result, written as torchvision's ShuffleNetV2 writes it (view, transpose,
    flatten), which ONNX exports and nn.ChannelShuffle's aten::channel_shuffle does not."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(1, (self.groups, -1)).transpose(1, 2).flatten(1, 2)


class Reshape(nn.Module):
    """``x.reshape(N, *shape)``: the batch axis kept, the rest to a fixed shape (every size known, so the
    batch is the -1: a constant shape, which ONNX keeps with a dynamic batch)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape((-1,) + self.shape)


class Permute(nn.Module):
    """``torch.permute(x, dims)``, dims with the batch axis (torchvision.ops.Permute)."""

    def __init__(self, dims: list[int]):
        super().__init__()
        self.dims = list(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)


class LayerNorm2d(nn.LayerNorm):
    """torchvision's ConvNeXt LayerNorm2d: nn.LayerNorm over the channels of [N, C, H, W] at each position."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """``x * gamma``, one learned factor per channel; ``shape`` broadcasts against x without the batch axis
    ([C, 1, 1] as torchvision's ConvNeXt, [C] for channels-last tokens as CaiT)."""

    def __init__(self, shape: tuple[int, ...], init: float = 1e-6):
        super().__init__()
        self.shape, self.init = tuple(shape), init
        self.gamma = nn.Parameter(torch.full(self.shape, float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma

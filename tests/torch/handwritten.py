"""VGG16, ResNet-50/152 and MobileNetV2 written by hand the way torchvision writes them: nn.Sequential
stages, a Bottleneck class whose forward ends ``out += identity``, a shared ReLU module called several
times, ``torch.flatten`` in forward, an InvertedResidual with ``x + self.conv(x)``. Written for these
tests from the papers' tables (not copied from torchvision), so that the importer meets models that
cnnspec did not build. Their published sizes: VGG16 138,357,544 params; ResNet-50 25,557,032 params and
4,089,184,256 MACs; MobileNetV2 3,504,872 params (torchvision's weights metadata).
"""
from __future__ import annotations

import torch
from torch import nn


class VGG(nn.Module):
    """Simonyan & Zisserman 2015, configuration D: 3x3 convs, 2x2 max pools, three FC layers."""

    def __init__(self, widths=(64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
                               "M"), num_classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in widths:
            if width == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = width
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=0.5),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=0.5),
            nn.Linear(4096, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided: "v1.5"), 1x1 expand to 4x; the shortcut projects where the shape changes."""
    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, blocks_per_stage=(3, 4, 6, 3), num_classes: int = 1000):
        super().__init__()
        self.channels = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._stage(64, blocks_per_stage[0], stride=1)
        self.layer2 = self._stage(128, blocks_per_stage[1], stride=2)
        self.layer3 = self._stage(256, blocks_per_stage[2], stride=2)
        self.layer4 = self._stage(512, blocks_per_stage[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)

    def _stage(self, width: int, count: int, stride: int) -> nn.Sequential:
        out_channels = width * Bottleneck.expansion
        downsample = None
        if stride != 1 or self.channels != out_channels:
            downsample = nn.Sequential(nn.Conv2d(self.channels, out_channels, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(out_channels))
        blocks = [Bottleneck(self.channels, width, stride, downsample)]
        self.channels = out_channels
        blocks += [Bottleneck(self.channels, width) for _ in range(1, count)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


def resnet50() -> ResNet:
    return ResNet((3, 4, 6, 3))


def resnet152() -> ResNet:
    return ResNet((3, 8, 36, 3))


def make_divisible(value: float, divisor: int = 8) -> int:
    """The nearest multiple of ``divisor``, never more than 10% below ``value`` (MobileNetV2's widths)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class ConvBNReLU6(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2,
                                   groups=groups, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """Sandler et al. 2018: 1x1 expansion (skipped when t = 1), 3x3 depthwise, linear 1x1 projection; the
    input is added back where stride is 1 and the channels stay."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = round(in_channels * expand_ratio)
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(in_channels, hidden, kernel_size=1))
        layers += [ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1)]  # t (expansion), c (channels), n (repeats), s (first stride): Table 2

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0):
        super().__init__()
        channels = make_divisible(32 * width_mult)
        last = make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [ConvBNReLU6(3, channels, stride=2)]
        for t, c, n, s in self.SETTINGS:
            out_channels = make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(channels, out_channels, s if i == 0 else 1, t))
                channels = out_channels
        features.append(ConvBNReLU6(channels, last, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return self.classifier(x)


def vgg16() -> VGG:
    return VGG()


def mobilenet_v2() -> MobileNetV2:
    return MobileNetV2()


class Modern(nn.Module):
    """ShuffleNetV2's split and shuffle written by hand, a ConvNeXt block (channels last: permute, LayerNorm,
    Linear on the last axis, a layer scale), GroupNorm and a pixel shuffle."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.branch = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.norm = nn.LayerNorm(8, eps=1e-6)
        self.pwconv = nn.Linear(8, 32)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(32, 8)
        self.gamma = nn.Parameter(torch.full((8, 1, 1), 1e-6))
        self.gn = nn.GroupNorm(2, 8)
        self.shuffle = nn.ChannelShuffle(2)
        self.up = nn.PixelShuffle(2)
        self.head = nn.Unflatten(1, (4, 16))

    def forward(self, x):
        x = self.stem(x)
        left, right = x.chunk(2, dim=1)
        x = torch.cat([left, self.branch(right)], 1)
        n, c, h, w = x.shape
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
        y = self.pwconv2(self.act(self.pwconv(self.norm(x.permute(0, 2, 3, 1))))).permute(0, 3, 1, 2)
        x = x + self.gamma * y
        x = self.up(self.shuffle(self.gn(x)))[:, :1]
        return self.head(torch.flatten(x.squeeze(1), 1)).unsqueeze(-1)

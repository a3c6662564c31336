"""The ``nn.Module`` built by :func:`tiledet.detect.fcn.fully_convolutional` (imports torch)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tiledet.errors import ConfigError


class FullyConvolutional(nn.Module):
    """A classifier's trunk plus its head as convolutions; output cropped to the input's whole windows.

    Attributes:
        window: side of the window each output cell scores, input px.
        stride: distance between neighbouring cells' windows, input px.
        exact: True when every cell equals the classifier on its cropped window (up to float rounding).
    """

    def __init__(self, trunk: list[Any], head: list[Any], window: int, stride: int, exact: bool) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*trunk)
        self.head = nn.Sequential(*head)
        self.window, self.stride, self.exact = int(window), int(stride), bool(exact)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C, (H - window) // stride + 1, (W - window) // stride + 1)."""
        height, width = x.shape[-2:]
        if height < self.window or width < self.window:
            raise ConfigError(f"input {width}x{height} is smaller than the {self.window} px window")
        maps = self.head(self.trunk(x))
        rows = (height - self.window) // self.stride + 1
        cols = (width - self.window) // self.stride + 1
        return maps[..., :rows, :cols]

    def for_inference(self) -> FullyConvolutional:
        """A copy for fast scoring: each Conv2d+BatchNorm2d pair folded into one convolution, weights in
        the channels-last layout (about 1.5x faster on CPU; outputs equal to about 1e-5)."""
        import copy

        fast = copy.deepcopy(self).eval()
        fast.trunk, fast.head = _fold_batchnorm(fast.trunk), _fold_batchnorm(fast.head)
        return fast.to(memory_format=torch.channels_last)

    def extra_repr(self) -> str:
        return f"window={self.window}, stride={self.stride}, exact={self.exact}"


def _fold_batchnorm(seq: nn.Module) -> nn.Module:
    """``seq`` with every Conv2d directly followed by a BatchNorm2d (in any nested Sequential) fused."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if not isinstance(seq, nn.Sequential):
        return seq
    layers, out = list(seq), []
    i = 0
    while i < len(layers):
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d) and nxt.track_running_stats:
            out.append(fuse_conv_bn_eval(layer, nxt))
            i += 2
            continue
        out.append(_fold_batchnorm(layer))
        i += 1
    return nn.Sequential(*out)

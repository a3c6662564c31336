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

    def extra_repr(self) -> str:
        return f"window={self.window}, stride={self.stride}, exact={self.exact}"

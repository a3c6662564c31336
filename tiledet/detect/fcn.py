"""A trained classifier as one fully-convolutional network (OverFeat): every window scored in one pass.

:func:`fully_convolutional` splits a classifier into its convolutional trunk and its head (from the
first ``Flatten``/``Linear``/global pooling on). The trunk runs unchanged on the whole image. The
first ``Linear`` after ``Flatten`` becomes a convolution whose kernel is the trunk's feature-map size
(weights reshaped in ``Flatten``'s ``(C, H, W)`` order); later ``Linear`` layers become 1×1
convolutions and ``BatchNorm1d`` a ``BatchNorm2d`` with the same statistics. An ``AdaptiveAvgPool2d``
whose input is ``m`` cells and output ``k`` cells becomes a stride-1 ``AvgPool2d(m / k)`` followed by a
convolution dilated by ``m / k``, so windows stay on the trunk's stride grid.

Window and stride come from the architecture: the stride is the product of the trunk's strides, the
window the smallest input that gives the trunk's feature size (or the model's ``input_size`` when it
has one and it is given). Output cell ``(i, j)`` is the window whose top-left corner is
``(j * stride, i * stride)`` (x, y) in input pixels. The network is *exact* (cell == classifier on the
cropped window, up to float rounding) when no trunk layer pads, no pooling uses ``ceil_mode`` and
every adaptive pooling divides evenly; otherwise ``fcn.exact`` is False and the scores near a window's
border differ (zero padding sees image pixels instead of zeros) — :func:`measure_agreement` reports how
much.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from tiledet.errors import ConfigError

#: Element-wise layers that pass through unchanged (eval mode).
_ELEMENTWISE = ("ReLU", "LeakyReLU", "GELU", "SiLU", "ELU", "Tanh", "Sigmoid", "Identity", "ReLU6")
_DROPOUT = ("Dropout", "Dropout2d", "Dropout1d", "AlphaDropout")


def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _leaves(module: Any) -> list[Any]:
    """Layers of (possibly nested) ``nn.Sequential`` in execution order; torchvision ResNets expanded."""
    import torch.nn as nn

    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaves(child)]
    if _is_resnet(module):
        trunk = [module.conv1, module.bn1, module.relu, module.maxpool]
        trunk += [module.layer1, module.layer2, module.layer3, module.layer4]
        return [*(leaf for m in trunk for leaf in _leaves(m)), module.avgpool, nn.Flatten(), module.fc]
    return [module]


def _is_resnet(module: Any) -> bool:
    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc")
    return all(hasattr(module, n) for n in names)


def _layer_geometry(layer: Any) -> tuple[int, int, int, bool] | None:
    """``(kernel_eff, stride, padding, ceil_mode)`` along one axis of a spatial layer; None if none."""
    import torch.nn as nn

    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        kernel, stride = _pair(layer.kernel_size), _pair(layer.stride)
        padding = layer.padding
        if isinstance(padding, str):
            raise ConfigError(f"{type(layer).__name__} with padding={padding!r} is not supported")
        padding = _pair(padding)
        dilation = _pair(getattr(layer, "dilation", 1))
        if (
            kernel[0] != kernel[1]
            or stride[0] != stride[1]
            or padding[0] != padding[1]
            or dilation[0] != dilation[1]
        ):
            raise ConfigError(
                f"{type(layer).__name__}: only square kernels, strides and paddings are supported"
            )
        return (
            dilation[0] * (kernel[0] - 1) + 1,
            stride[0],
            padding[0],
            bool(getattr(layer, "ceil_mode", False)),
        )
    return None


def _out_size(geometry: list[tuple[int, int, int, bool]], size: int) -> int:
    """Feature size after the trunk for an input of ``size`` px (PyTorch's size arithmetic)."""
    for kernel, stride, padding, ceil_mode in geometry:
        span = size + 2 * padding - kernel
        if span < 0:
            return 0
        size = (-(-span // stride) if ceil_mode else span // stride) + 1
    return size


def _is_trunk_layer(layer: Any) -> bool:
    import torch.nn as nn

    if _layer_geometry(layer) is not None or isinstance(layer, nn.BatchNorm2d):
        return True
    if type(layer).__name__ in _ELEMENTWISE + _DROPOUT:
        return True
    return type(layer).__name__ in ("BasicBlock", "Bottleneck")  # torchvision ResNet stages (padded)


def _split(layers: list[Any]) -> tuple[list[Any], list[Any]]:
    """Trunk (spatial layers) and head (from the first Flatten, Linear or adaptive pooling on)."""
    import torch.nn as nn

    for index, layer in enumerate(layers):
        if isinstance(layer, (nn.Flatten, nn.Linear, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            return layers[:index], layers[index:]
        if not _is_trunk_layer(layer):
            raise ConfigError(f"fully_convolutional: layer {type(layer).__name__} is not supported")
    raise ConfigError("fully_convolutional: the model has no Flatten/Linear head (is it a classifier?)")


def _trunk_geometry(trunk: list[Any]) -> tuple[list[tuple[int, int, int, bool]], bool]:
    """Per-layer geometry of the trunk and whether it is exact (no padding, no ceil mode, no blocks)."""
    geometry: list[tuple[int, int, int, bool]] = []
    exact = True
    for layer in trunk:
        name = type(layer).__name__
        if name in ("BasicBlock", "Bottleneck"):
            exact = False
            for sub in (layer.conv1, layer.conv2, getattr(layer, "conv3", None)):
                if sub is not None:
                    geometry.append(_layer_geometry(sub))  # type: ignore[arg-type]
            continue
        g = _layer_geometry(layer)
        if g is not None:
            geometry.append(g)
            exact = exact and g[2] == 0 and not g[3]
    return geometry, exact


def _trunk_channels(trunk: list[Any], default: int = 3) -> int:
    import torch.nn as nn

    channels = default
    for layer in trunk:
        for sub in layer.modules():
            if isinstance(sub, nn.Conv2d):
                channels = sub.out_channels
            elif isinstance(sub, nn.BatchNorm2d):
                channels = sub.num_features
    return channels


def _first_linear(head: list[Any]) -> Any:
    import torch.nn as nn

    for layer in head:
        if isinstance(layer, nn.Linear):
            return layer
    raise ConfigError("fully_convolutional: the model's head has no Linear layer (is it a classifier?)")


def _head_input_cells(head: list[Any], channels: int) -> tuple[int, int | None]:
    """Cells ``k`` (per side) the first Linear sees, and the adaptive pooling output if there is one."""
    import torch.nn as nn

    linear = _first_linear(head)
    cells = linear.in_features / channels
    side = math.isqrt(int(cells)) if cells == int(cells) else -1
    if side < 1 or side * side != cells:
        raise ConfigError(
            f"fully_convolutional: Linear in_features {linear.in_features} is not {channels} channels × k²"
        )
    pooled = next(
        (layer for layer in head if isinstance(layer, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d))), None
    )
    return side, (None if pooled is None else _pair(pooled.output_size)[0])


def _solve_window(geometry: list[tuple[int, int, int, bool]], cells: int, limit: int = 8192) -> int:
    """Smallest input size whose trunk output is ``cells`` per side."""
    for size in range(1, limit + 1):
        if _out_size(geometry, size) == cells:
            return size
        if _out_size(geometry, size) > cells:
            break
    raise ConfigError(f"fully_convolutional: no input size gives a {cells}×{cells} feature map")


def _convert_head(head: list[Any], channels: int, cells: int, dilation: int, pool: Any) -> list[Any]:
    """Head layers as convolutions: first Linear -> k×k conv (dilated), later Linear -> 1×1 conv."""
    import torch.nn as nn

    layers: list[Any] = []
    if pool is not None and dilation > 1:
        kind = nn.AvgPool2d if isinstance(pool, nn.AdaptiveAvgPool2d) else nn.MaxPool2d
        layers.append(kind(dilation, stride=1))
    first = True
    for layer in head:
        if (
            isinstance(layer, (nn.Flatten, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d))
            or type(layer).__name__ in _DROPOUT
        ):
            continue
        if isinstance(layer, nn.Linear):
            in_ch, kernel = (channels, cells) if first else (layer.in_features, 1)
            conv = nn.Conv2d(
                in_ch,
                layer.out_features,
                kernel,
                dilation=dilation if first else 1,
                bias=layer.bias is not None,
            )
            conv.weight.data.copy_(layer.weight.data.reshape(layer.out_features, in_ch, kernel, kernel))
            if layer.bias is not None:
                conv.bias.data.copy_(layer.bias.data)
            layers.append(conv)
            first = False
        elif isinstance(layer, nn.BatchNorm1d):
            bn = nn.BatchNorm2d(layer.num_features, eps=layer.eps, affine=layer.affine)
            bn.load_state_dict(layer.state_dict())
            layers.append(bn)
        elif type(layer).__name__ in _ELEMENTWISE:
            layers.append(copy.deepcopy(layer))
        else:
            raise ConfigError(f"fully_convolutional: head layer {type(layer).__name__} is not supported")
    return layers


def _build(model: Any, input_size: int | None) -> tuple[list[Any], list[Any], int, int, bool]:
    """Trunk and converted head layers, window, stride and exactness of ``model``."""
    import torch.nn as nn

    trunk, head = _split(_leaves(model))
    geometry, exact = _trunk_geometry(trunk)
    stride = math.prod(g[1] for g in geometry) if geometry else 1
    channels = _trunk_channels(trunk)
    cells, pooled = _head_input_cells(head, channels)
    pool = next(
        (layer for layer in head if isinstance(layer, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d))), None
    )
    if pooled is None:
        window = input_size if input_size is not None else _solve_window(geometry, cells)
        if _out_size(geometry, window) != cells:
            raise ConfigError(
                f"fully_convolutional: input size {window} gives a {_out_size(geometry, window)}-cell "
                f"feature map, the head expects {cells}"
            )
        return trunk, _convert_head(head, channels, cells, 1, None), window, stride, exact
    if input_size is None:
        raise ConfigError("fully_convolutional: a model with adaptive pooling needs its input_size")
    size = _out_size(geometry, input_size)
    if size < pooled or size % pooled:
        exact = False  # adaptive bins of unequal size: approximated by the nearest fixed pooling
    dilation = max(1, round(size / pooled))
    return trunk, _convert_head(head, channels, cells, dilation, pool), input_size, stride, exact


def fully_convolutional(model: Any, input_size: int | None = None) -> Any:
    """The classifier ``model`` as a fully-convolutional network scoring every window in one pass.

    Args:
        model: an ``nn.Sequential`` (possibly nested) of Conv2d, BatchNorm2d/1d, ReLU/LeakyReLU/GELU,
            MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Dropout, Flatten and Linear layers, or a
            torchvision ResNet; (N, 3, S, S) -> (N, C) logits. It is copied, not changed.
        input_size: the classifier's input side S in px; default ``model.input_size`` when set, else
            the smallest input its head accepts (required for models with adaptive pooling).

    Returns:
        A :class:`~tiledet.detect.fcn_module.FullyConvolutional` module in eval mode:
        (N, 3, H, W) -> (N, C, (H - window) // stride + 1, (W - window) // stride + 1);
        attributes ``window``, ``stride`` (ints, px) and ``exact`` (bool).

    Raises:
        ConfigError: on a layer it cannot convert or a model that is not a classifier.
    """
    if input_size is None:
        input_size = getattr(model, "input_size", None)
    model = copy.deepcopy(model).eval()
    trunk, head, window, stride, exact = _build(model, None if input_size is None else int(input_size))
    from tiledet.detect.fcn_module import FullyConvolutional

    return FullyConvolutional(trunk, head, window, stride, exact)


def measure_agreement(fcn: Any, model: Any, images: Any, cells: int = 64, seed: int = 0) -> float:
    """Largest absolute difference between ``fcn`` cells and ``model`` on the cropped windows.

    Args:
        fcn: from :func:`fully_convolutional`.
        model: the original classifier (eval mode).
        images: (N, 3, H, W) float tensor, H and W >= ``fcn.window``.
        cells: how many random cells to compare.
        seed: random seed of the cell choice.

    Returns:
        max |fcn(x)[n, :, i, j] - model(crop)| over the sampled cells.
    """
    import torch

    with torch.no_grad():
        maps = fcn(images)
        gen = torch.Generator().manual_seed(seed)
        n, _, rows, cols = maps.shape
        picks = [
            (
                int(torch.randint(n, (1,), generator=gen)),
                int(torch.randint(rows, (1,), generator=gen)),
                int(torch.randint(cols, (1,), generator=gen)),
            )
            for _ in range(cells)
        ]
        s, w = fcn.stride, fcn.window
        crops = torch.stack([images[k, :, i * s : i * s + w, j * s : j * s + w] for k, i, j in picks])
        expected = model(crops)
        got = torch.stack([maps[k, :, i, j] for k, i, j in picks])
    return float((got - expected).abs().max())

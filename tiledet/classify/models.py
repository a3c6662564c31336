"""One factory for every classifier: ``build_model(name, num_classes, input_size, **options)``.

Every model maps ``(N, 3, S, S)`` normalised float input to ``(N, C)`` logits, or ``(N, C + 4)`` with
``box_head=True`` (the last 4 outputs: the object box inside the window, ``(x0, y0, x1, y1) / S``,
trained towards [0, 1], clip when decoding). ``mlp``, ``cnn`` and ``vgg`` are ``nn.Sequential`` of
standard layers only (Conv2d, BatchNorm2d/1d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Dropout,
Flatten over (C, H, W), Linear), so :func:`tiledet.detect.fully_convolutional` can rewrite them.
Each builder registers under its name with ``@register_model`` (:mod:`tiledet.classify.registry`,
where the names, help and options are declared without torch).

Fully-convolutional exactness (the dense map equals crop-by-crop evaluation):

============  =======  ==========================================================================
model         exact    window / stride
============  =======  ==========================================================================
``mlp``       yes      window S, stride 1 (the first Linear is an S×S convolution)
``cnn``       yes      window S, stride 2^len(filters) (valid convolutions, pooling divides evenly)
``vgg``       no       zero padding (``same`` 3×3 convolutions) and global average pooling
``resnet18``  no       zero padding; not an ``nn.Sequential``
============  =======  ==========================================================================
"""

from __future__ import annotations

from typing import Any

from tiledet.classify.options import DOWNSAMPLE, CnnOptions, MlpOptions, ResnetOptions, VggOptions
from tiledet.classify.registry import model_builder, model_options, register_model
from tiledet.errors import ConfigError, InputError


def build_model(name: str, num_classes: int, input_size: int, **options: Any):
    """Build classifier ``name`` for ``num_classes`` classes and ``input_size``² RGB input.

    Args:
        name: a registered model (:func:`tiledet.classify.registry.list_models`): ``mlp``, ``cnn``,
            ``vgg``, ``resnet18`` or one of :func:`~tiledet.classify.registry.register_model`.
        num_classes: classes (>= 2).
        input_size: input side S in pixels.
        **options: fields of the model's options dataclass (:class:`MlpOptions`, :class:`CnnOptions`,
            :class:`VggOptions`, :class:`ResnetOptions`), e.g. ``filters=(32, 64)``, ``box_head=True``.

    Returns:
        A ``torch.nn.Module`` mapping ``(N, 3, S, S)`` to ``(N, num_classes [+ 4])``.

    Raises:
        ConfigError: unknown name or option, fewer than 2 classes, input too small for the network.
    """
    opts = model_options(name, options)
    if int(num_classes) < 2:
        raise ConfigError(f"a classifier needs at least 2 classes, got {num_classes}")
    if int(input_size) < 1:
        raise ConfigError(f"input_size must be >= 1 pixel, got {input_size}", field="input_size")
    outputs = int(num_classes) + (4 if opts.box_head else 0)
    return model_builder(name)(opts, outputs, int(input_size))


def _check_probability(value: float, what: str) -> None:
    if not 0 <= value < 1:
        raise ConfigError(f"model option {what} must be in [0, 1), got {value!r}")


@register_model("mlp", options=MlpOptions)
def _build_mlp(opts: MlpOptions, outputs: int, size: int):
    from torch import nn

    _check_probability(opts.dropout, "dropout")
    if any(h < 1 for h in opts.hidden):
        raise ConfigError(f"mlp hidden layer widths must be >= 1, got {list(opts.hidden)}")
    layers: list[nn.Module] = [nn.Flatten()]
    width = 3 * size * size
    for h in opts.hidden:
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        if opts.dropout > 0:
            layers.append(nn.Dropout(opts.dropout))
        width = h
    layers.append(nn.Linear(width, outputs))
    return nn.Sequential(*layers)


def _too_small(name: str, size: int, why: str) -> ConfigError:
    return ConfigError(
        f"input size {size} is too small for {name}: {why}; use a larger `input_size`", field="input_size"
    )


@register_model("cnn", options=CnnOptions)
def _build_cnn(opts: CnnOptions, outputs: int, size: int):
    from torch import nn

    if opts.downsample not in DOWNSAMPLE:
        raise ConfigError(f"cnn downsample must be one of {', '.join(DOWNSAMPLE)}, got {opts.downsample!r}")
    if opts.kernel < 1 or opts.convs_per_block < 1 or any(f < 1 for f in opts.filters):
        raise ConfigError("cnn kernel, convs_per_block and filters must be >= 1")
    _check_probability(opts.dropout, "dropout")
    layers: list[nn.Module] = []
    channels, side = 3, size

    def conv(out_ch: int, kernel: int, stride: int = 1) -> None:
        nonlocal channels, side
        side = (side - kernel) // stride + 1
        if side < 1:
            raise _too_small("cnn", size, f"the feature map vanishes (kernel {kernel})")
        layers.append(nn.Conv2d(channels, out_ch, kernel, stride=stride, bias=not opts.batch_norm))
        if opts.batch_norm:
            layers.append(nn.BatchNorm2d(out_ch))
        layers.append(nn.ReLU(inplace=True))
        channels = out_ch

    for filters in opts.filters:
        for i in range(opts.convs_per_block):
            last = i == opts.convs_per_block - 1
            kernel = opts.kernel + (1 if last and (side - opts.kernel + 1) % 2 else 0)
            conv(filters, kernel)
        if side < 2:
            raise _too_small("cnn", size, f"a {side}x{side} map cannot be downsampled 2x")
        if opts.downsample == "stride":
            conv(filters, 2, stride=2)
        else:
            layers.append(nn.MaxPool2d(2) if opts.downsample == "max" else nn.AvgPool2d(2))
            side //= 2
    if opts.head_conv:
        conv(opts.head_conv, min(opts.kernel, side))
    width = channels * side * side
    layers.append(nn.Flatten())
    if opts.hidden:
        layers += [nn.Linear(width, opts.hidden), nn.ReLU(inplace=True)]
        width = opts.hidden
    if opts.dropout > 0:
        layers.append(nn.Dropout(opts.dropout))
    layers.append(nn.Linear(width, outputs))
    return nn.Sequential(*layers)


@register_model("vgg", options=VggOptions)
def _build_vgg(opts: VggOptions, outputs: int, size: int):
    from torch import nn

    _check_probability(opts.dropout, "dropout")
    if size < 2 ** len(opts.filters):
        raise _too_small("vgg", size, f"{len(opts.filters)} blocks halve it to nothing")
    layers: list[nn.Module] = []
    channels = 3
    for filters in opts.filters:
        for _ in range(opts.convs_per_block):
            layers += [
                nn.Conv2d(channels, filters, 3, padding=1, bias=False),
                nn.BatchNorm2d(filters),
                nn.ReLU(inplace=True),
            ]
            channels = filters
        layers.append(nn.MaxPool2d(2))
    layers += [
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, opts.hidden),
        nn.ReLU(inplace=True),
    ]
    if opts.dropout > 0:
        layers.append(nn.Dropout(opts.dropout))
    layers.append(nn.Linear(opts.hidden, outputs))
    return nn.Sequential(*layers)


@register_model("resnet18", options=ResnetOptions)
def _build_resnet18(opts: ResnetOptions, outputs: int, size: int):
    import torch
    from torch import nn
    from torchvision.models import resnet18

    if size < 32:
        raise _too_small("resnet18", size, "it downsamples 32x")
    model = resnet18(weights=None)
    if opts.weights:
        state = _load_state_dict(opts.weights)
        fc = state.get("fc.weight")
        if fc is not None and tuple(fc.shape) != (outputs, 512):
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        model.fc = nn.Linear(512, outputs)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("fc.") for k in missing):
            raise ConfigError(f"{opts.weights}: not ResNet-18 weights (keys do not match torchvision's)")
        return model
    model.fc = nn.Linear(512, outputs)
    torch.nn.init.zeros_(model.fc.bias)
    return model


def _load_state_dict(path: str) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise InputError(f"{path}: weights file not found") from e
    except Exception as e:
        raise InputError(f"{path}: cannot read weights ({e})") from e
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: not a state dict")
    return state

"""Options of the classifier zoo's builders: one frozen dataclass per model, read from plain mappings.

Light (no torch): :mod:`tiledet.classify.registry` names them, so configs and the command line can
check option names before any model is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tiledet.errors import ConfigError

#: ``cnn`` downsampling steps (:class:`CnnOptions`).
DOWNSAMPLE = ("max", "avg", "stride")


@dataclass(frozen=True)
class MlpOptions:
    """``mlp``: flattened pixels -> hidden Linear + ReLU (+ Dropout) layers -> classes.

    Attributes:
        hidden: width of each hidden layer (may be empty: a linear classifier).
        dropout: dropout probability after each hidden layer.
        box_head: 4 extra outputs for the object box inside the window.
    """

    hidden: tuple[int, ...] = (512, 256)
    dropout: float = 0.2
    box_head: bool = False


@dataclass(frozen=True)
class CnnOptions:
    """``cnn``: blocks of valid (unpadded) convolutions, each followed by a 2× downsampling.

    Block ``b`` has ``convs_per_block`` convolutions of ``kernel``×``kernel`` with ``filters[b]``
    channels (+ BatchNorm + ReLU). When the map before a downsampling step has an odd side, the
    block's last convolution uses ``kernel + 1`` so 2× downsampling divides evenly (exactness).
    Then an optional ``head_conv`` valid ``kernel``×``kernel`` convolution, Flatten, Linear(hidden),
    ReLU, Dropout, Linear(classes).

    Attributes:
        filters: output channels per block; the number of blocks is ``len(filters)``.
        convs_per_block: convolutions per block (>= 1).
        kernel: convolution kernel side (odd or even, >= 1).
        downsample: ``max`` (MaxPool2d 2), ``avg`` (AvgPool2d 2) or ``stride`` (2×2 convolution, stride 2).
        head_conv: channels of the last convolution before Flatten (0: none).
        hidden: width of the hidden Linear layer (0: none, Flatten -> classes directly).
        batch_norm: BatchNorm2d after every convolution.
        dropout: dropout probability before the last Linear.
        box_head: 4 extra outputs for the object box inside the window.
    """

    filters: tuple[int, ...] = (32, 64)
    convs_per_block: int = 2
    kernel: int = 3
    downsample: str = "max"
    head_conv: int = 128
    hidden: int = 128
    batch_norm: bool = True
    dropout: float = 0.3
    box_head: bool = False


@dataclass(frozen=True)
class VggOptions:
    """``vgg``: blocks of ``same``-padded 3×3 convolutions + BatchNorm + ReLU, MaxPool 2 after each block,
    global average pooling, Linear(hidden), ReLU, Dropout, Linear(classes). Not exact (zero padding).

    Attributes:
        filters: output channels per block.
        convs_per_block: 3×3 convolutions per block.
        hidden: width of the hidden Linear layer.
        dropout: dropout probability before the last Linear.
        box_head: 4 extra outputs for the object box inside the window.
    """

    filters: tuple[int, ...] = (32, 64, 128)
    convs_per_block: int = 2
    hidden: int = 256
    dropout: float = 0.3
    box_head: bool = False


@dataclass(frozen=True)
class ResnetOptions:
    """``resnet18``: torchvision's ResNet-18, random init or weights from a local file (never downloaded).

    Attributes:
        weights: path of a local state dict (``.pt``/``.pth``); its ``fc`` layer is dropped when its
            shape differs from the classes. Empty: random init.
        box_head: 4 extra outputs for the object box inside the window.
    """

    weights: str = ""
    box_head: bool = False


def parse_options(cls: type, name: str, options: Mapping[str, Any] | None = None) -> Any:
    """Options dataclass ``cls`` of model ``name`` from a mapping (lists of whole numbers become tuples).

    Raises:
        ConfigError: a key that is no field of ``cls``, or a list field given something else.
    """
    fields = cls.__dataclass_fields__
    values = dict(options or {})
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"model {name!r} has no option {', '.join(map(repr, unknown))}; it takes {', '.join(fields)}"
        )
    for key, value in values.items():
        default = fields[key].default
        if isinstance(default, tuple):
            value = (value,) if isinstance(value, int) else value
            if not isinstance(value, Sequence) or isinstance(value, str):
                raise ConfigError(f"model option {key!r} must be a list of whole numbers, got {value!r}")
            values[key] = tuple(int(v) for v in value)
    return cls(**values)


def options_to_dict(opts: Any) -> dict[str, Any]:
    """Plain-data form (lists, not tuples) of an options dataclass, for checkpoints and configs."""
    out: dict[str, Any] = {}
    for key in opts.__dataclass_fields__:
        value = getattr(opts, key)
        out[key] = list(value) if isinstance(value, tuple) else value
    return out

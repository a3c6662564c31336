"""The frozen configurations of classifier training (``classify train``) and evaluation (``eval``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tiledet.classify.augment import parse_augment
from tiledet.classify.registry import get_model, model_options
from tiledet.device import DEFAULT_DEVICE, check_device_name
from tiledet.errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULERS = ("plateau", "cosine", "none")
BALANCE = ("none", "sampler", "loss")
MONITORS = ("accuracy", "macro_recall", "loss")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on.

    Attributes:
        data: image-folder root (see :mod:`tiledet.classify.data`).
        out: run folder (``best.pt``, ``last.pt``, ``history.csv``, ``metrics.json``, figures).
        model: a registered model (:func:`~tiledet.classify.registry.list_models`): ``mlp``, ``cnn``,
            ``vgg``, ``resnet18``, ...
        model_options: options of the model factory (e.g. ``{"filters": [32, 64]}``).
        box_head: also learn the object box inside the chip from ``chips.csv`` (4 more outputs).
        input_size: model input side in px; None: the model's default (``ModelSpec.input_size`` of
            :mod:`tiledet.classify.registry`: 32, 64 for resnet18).
        epochs: maximum epochs (>= 1).
        batch_size: images per step (>= 1).
        lr: initial learning rate (> 0).
        optimizer: ``adam``, ``adamw``, ``sgd`` (momentum, Nesterov) or ``rmsprop``.
        momentum: momentum of sgd and rmsprop.
        weight_decay: L2 penalty (decoupled for adamw), >= 0.
        scheduler: ``plateau`` (halve the lr when val loss stalls for ``max(1, patience // 3)`` epochs),
            ``cosine`` (to 0 over ``epochs``) or ``none``.
        patience: early stopping: stop after this many epochs without a better ``monitor``; 0 = never.
            The best weights are restored at the end either way.
        monitor: what "better" means on val: ``macro_recall`` (mean per-class recall: background-heavy
            chips cannot hide rare classes), ``accuracy`` (both: ties go to the lower loss) or ``loss``.
        augment: training augmentation names (see :mod:`tiledet.classify.augment`).
        balance: ``none``, ``sampler`` (draw classes equally often) or ``loss`` (class-weighted loss).
        label_smoothing: cross-entropy label smoothing in [0, 1).
        box_weight: weight of the box loss (smooth L1, beta 1/9) beside the cross entropy.
        val_fraction: share of each class to val when the data has no val split.
        test_fraction: share of each class to test when the data has no split folders.
        seed: seed of splits, initialisation, batch order, augmentation and dropout.
        device: ``auto`` (CUDA, then MPS, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``
            (:mod:`tiledet.device`; stored normalised).
        amp: mixed precision (float16) on CUDA; ignored on CPU.
        workers: image-decoding threads / streaming DataLoader workers (>= 0).
        memory_limit_gib: decode the data set into memory when it fits in this many GiB, else stream.
        plots: draw ``history.png``, ``confusion.png`` and ``mistakes.png``.
        resume: ``RUN/last.pt`` to continue from (model, classes and input size come from it).
        force: write into a non-empty folder not written by tiledet (never touching its files).
    """

    data: Path
    out: Path
    model: str = "cnn"
    model_options: dict[str, Any] = field(default_factory=dict)
    box_head: bool = False
    input_size: int | None = None
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    scheduler: str = "plateau"
    patience: int = 8
    monitor: str = "macro_recall"
    augment: str = "flip,rot90"
    balance: str = "none"
    label_smoothing: float = 0.0
    box_weight: float = 5.0
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0
    device: str = DEFAULT_DEVICE
    amp: bool = True
    workers: int = 2
    memory_limit_gib: float = 2.0
    plots: bool = True
    resume: Path | None = None
    force: bool = False

    def __post_init__(self) -> None:
        get_model(self.model)  # an unknown name fails first, listing the registered ones
        _choice(self.optimizer, OPTIMIZERS, "optimizer")
        _choice(self.scheduler, SCHEDULERS, "scheduler")
        _choice(self.balance, BALANCE, "balance")
        _choice(self.monitor, MONITORS, "monitor")
        object.__setattr__(self, "device", check_device_name(self.device))
        parse_augment(self.augment)
        opts = dict(self.model_options)
        opts.pop("box_head", None)
        model_options(self.model, opts)  # unknown option names fail here, before any work
        for name, low in (("epochs", 1), ("batch_size", 1), ("patience", 0), ("workers", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}", field=name)
        if self.input_size is not None and (not isinstance(self.input_size, int) or self.input_size < 4):
            raise ConfigError(
                f"input_size must be a whole number >= 4, got {self.input_size!r}", field="input_size"
            )
        checks = (
            ("lr", self.lr > 0, "> 0"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("box_weight", self.box_weight >= 0, ">= 0"),
            ("memory_limit_gib", self.memory_limit_gib >= 0, ">= 0"),
            ("val_fraction", 0 <= self.val_fraction < 1, "in [0, 1)"),
            ("test_fraction", 0 <= self.test_fraction < 1, "in [0, 1)"),
        )
        for name, ok, want in checks:
            if not ok:
                raise ConfigError(f"{name} must be {want}, got {getattr(self, name)!r}", field=name)

    @property
    def size(self) -> int:
        """The model input side: ``input_size`` or the model's default."""
        return self.input_size if self.input_size is not None else get_model(self.model).input_size

    def factory_options(self) -> dict[str, Any]:
        """Options for :func:`~tiledet.classify.models.build_model` (``box_head`` included)."""
        return {**dict(self.model_options), "box_head": self.box_head}

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (paths as strings) for checkpoints and ``config.json``."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
        return out


@dataclass(frozen=True)
class EvalConfig:
    """``tiledet classify eval`` settings.

    Attributes:
        checkpoint: ``RUN/best.pt``.
        data: image-folder root (split the same way as in training: the checkpoint's seed and fractions).
        split: ``train``, ``val`` or ``test``.
        out: folder for the evaluation files, or None (no files).
        batch_size: images per forward pass.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (:mod:`tiledet.device`).
        force: write into a non-empty folder not written by tiledet.
    """

    checkpoint: Path
    data: Path
    split: str = "test"
    out: Path | None = None
    batch_size: int = 256
    device: str = DEFAULT_DEVICE
    force: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", check_device_name(self.device))


def config_keys() -> tuple[str, ...]:
    """Names of every :class:`TrainConfig` field (the keys a sweep grid may set)."""
    return tuple(f.name for f in fields(TrainConfig))


def _choice(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}", field=name)

"""Classifier checkpoints that hold only tensors and plain data, and the loaded :class:`Classifier`.

A checkpoint is a dict ``{"format": "tiledet-classifier", "version": 1, "model_name", "model_options",
"class_names", "background_index", "input_size", "mean", "std", "chip_size", "context", "box_head",
"config", "state_dict", "train_state"}``; it loads with ``torch.load(weights_only=True)``, so it can
never run code. ``train_state`` (optimizer, scheduler, epoch, history, RNG state) is present in
``last.pt`` for ``--resume`` and empty in ``best.pt``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.classify.models import build_model
from tiledet.errors import InputError
from tiledet.ioutil import atomic_path

FORMAT = "tiledet-classifier"
VERSION = 1
BACKGROUND = "background"


class Preprocess:
    """uint8 RGB image(s) -> normalised float tensor; never resizes (used on whole scenes too).

    Args:
        mean: per-channel mean (RGB, 0-1 scale).
        std: per-channel standard deviation (RGB, 0-1 scale).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def __call__(self, images: Any, device: Any = None):
        """Args: ``images`` uint8 ``(H, W, 3)`` or ``(N, H, W, 3)`` (numpy or torch).
        Returns: float32 tensor ``(N, 3, H, W)``, ``(x / 255 - mean) / std``, on ``device``."""
        import torch

        x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[-1] != 3:
            raise InputError(f"preprocess expects (H, W, 3) or (N, H, W, 3) RGB images, got {tuple(x.shape)}")
        x = x.to(device) if device is not None else x
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std).contiguous()


@dataclass
class Classifier:
    """A loaded classifier (see the shared contract in the README).

    Attributes:
        model: ``nn.Module`` in eval mode, ``(N, 3, S, S)`` -> ``(N, C)`` logits
            (``(N, C + 4)`` with a box head).
        class_names: class names in output order (``background`` included when trained with it).
        background_index: index of ``background`` in ``class_names``, or None.
        input_size: S, the model's input side in pixels.
        preprocess: uint8 HWC RGB image(s) -> normalised ``(N, 3, H, W)`` float tensor (no resize).
        mean: per-channel normalisation mean (RGB, 0-1 scale).
        std: per-channel normalisation std (RGB, 0-1 scale).
        chip_size: chip side from ``chips.yaml`` (None when the data had none).
        context: chip context: the object fills the central ``1 / (1 + context)`` of a window (or None).
        box_head: whether the model's last 4 outputs are the object box ``(x0, y0, x1, y1) / window``.
        config: the full training config (plain data).
        model_name: factory name (``mlp``, ``cnn``, ``vgg``, ``resnet18``).
        model_options: factory options (plain data).
    """

    model: Any
    class_names: list[str]
    background_index: int | None
    input_size: int
    preprocess: Preprocess
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    chip_size: int | None
    context: float | None
    box_head: bool
    config: dict[str, Any]
    model_name: str = ""
    model_options: dict[str, Any] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    """Plain-data copy: tuples -> lists, Paths -> str, numpy scalars -> Python, recursively."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def checkpoint_dict(
    model: Any,
    *,
    model_name: str,
    model_options: Mapping[str, Any],
    class_names: Sequence[str],
    input_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    chip_size: int | None = None,
    context: float | None = None,
    config: Mapping[str, Any] | None = None,
    train_state: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict of ``model`` (state dict on CPU) and its metadata; see the module docstring."""
    names = [str(n) for n in class_names]
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {
        "format": FORMAT,
        "version": VERSION,
        "model_name": str(model_name),
        "model_options": _plain(model_options),
        "class_names": names,
        "background_index": names.index(BACKGROUND) if BACKGROUND in names else None,
        "input_size": int(input_size),
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "chip_size": None if chip_size is None else int(chip_size),
        "context": None if context is None else float(context),
        "box_head": bool(model_options.get("box_head", False)),
        "config": _plain(config or {}),
        "state_dict": state,
        "train_state": dict(train_state or {}),
    }


def save_checkpoint(path: str | Path, checkpoint: Mapping[str, Any]) -> None:
    """Write a checkpoint dict (from :func:`checkpoint_dict`) atomically with ``torch.save``."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(dict(checkpoint), tmp)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict with ``weights_only=True`` (no code can run) and check its format.

    Raises:
        InputError: missing or unreadable file, or not a tiledet classifier checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: cannot read checkpoint ({first})") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise InputError(f"{path}: not a tiledet classifier checkpoint (`tiledet classify train` makes them)")
    if int(ckpt.get("version", 0)) > VERSION:
        raise InputError(f"{path}: checkpoint version {ckpt['version']} is newer than this tiledet supports")
    return ckpt


def model_from_checkpoint(ckpt: Mapping[str, Any], source: str | Path = "checkpoint"):
    """Rebuild the model of a checkpoint dict and load its weights (train mode, CPU).

    Raises:
        InputError: the weights do not fit the model the checkpoint names.
    """

    options = dict(ckpt["model_options"])
    options.pop("weights", None)  # the weights are in the state dict; never re-read a file
    model = build_model(ckpt["model_name"], len(ckpt["class_names"]), ckpt["input_size"], **options)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        why = _first_line(e)
        raise InputError(f"{source}: weights do not fit model {ckpt['model_name']!r} ({why})") from e
    return model


def _first_line(e: Exception) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else (lines[0] if lines else type(e).__name__)


def classifier_from_checkpoint(ckpt: Mapping[str, Any], source: str | Path = "checkpoint") -> Classifier:
    """A :class:`Classifier` (model in eval mode, on CPU) from a checkpoint dict."""
    model = model_from_checkpoint(ckpt, source).eval()
    mean = tuple(float(m) for m in ckpt["mean"])
    std = tuple(float(s) for s in ckpt["std"])
    return Classifier(
        model=model,
        class_names=list(ckpt["class_names"]),
        background_index=ckpt.get("background_index"),
        input_size=int(ckpt["input_size"]),
        preprocess=Preprocess(mean, std),
        mean=mean,  # type: ignore[arg-type]
        std=std,  # type: ignore[arg-type]
        chip_size=ckpt.get("chip_size"),
        context=ckpt.get("context"),
        box_head=bool(ckpt.get("box_head", False)),
        config=dict(ckpt.get("config") or {}),
        model_name=str(ckpt["model_name"]),
        model_options=dict(ckpt["model_options"]),
    )


def load_classifier(path: str | Path) -> Classifier:
    """Load ``RUN/best.pt`` (or ``last.pt``) as a :class:`Classifier`; the model is in eval mode on CPU.

    Raises:
        InputError: missing/unreadable file, not a classifier checkpoint, or weights that do not fit.
    """
    return classifier_from_checkpoint(read_checkpoint(path), path)

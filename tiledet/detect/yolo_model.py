"""Building and loading Ultralytics YOLO detection models, offline (:mod:`tiledet.detect.offline`),
weights read safely (:mod:`tiledet.detect.safe_weights`); the torch device is :mod:`tiledet.device`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from tiledet.detect.offline import offline_ultralytics
from tiledet.detect.safe_weights import weights_loading
from tiledet.detect.yolo_data import resolve_model_source
from tiledet.errors import InputError, TiledetError

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A YOLO detection model ready for inference.

    Attributes:
        model: the fused ``DetectionModel`` in eval mode on ``device``.
        class_names: class names by index.
        stride: the largest stride of the model, px (inputs are padded to a multiple of it).
        train_imgsz: the ``imgsz`` the weights were trained at, or None when the checkpoint lacks it.
        end2end: True for NMS-free heads (outputs ``(B, K, 6)`` rows ``x0, y0, x1, y1, score, class``).
        weights: the checkpoint file.
    """

    model: object
    class_names: tuple[str, ...]
    stride: int
    train_imgsz: int | None
    end2end: bool
    weights: Path


def _check_weights_file(weights: Path) -> None:
    if not weights.exists():
        raise InputError(f"{weights}: weights file not found")
    if not weights.is_file():
        raise InputError(f"{weights}: weights must be a file (an Ultralytics .pt checkpoint)")
    if weights.suffix.lower() != ".pt":
        raise InputError(f"{weights}: weights must be an Ultralytics .pt checkpoint (suffix .pt)")


def load_detection_model(weights: str | Path, device: object, trust_weights: bool = False) -> LoadedModel:
    """Load an Ultralytics ``.pt`` detection checkpoint (local file only), fused, in eval mode.

    The file is unpickled by :func:`tiledet.detect.safe_weights.read_yolo_checkpoint` (it cannot run
    code) unless ``trust_weights`` (``--trust-weights``: Ultralytics' full unpickling).

    Raises:
        InputError: when the file is missing, not a checkpoint, not a detection model, or (unless
            ``trust_weights``) holds anything but the classes an Ultralytics checkpoint holds.
    """
    weights = Path(weights)
    _check_weights_file(weights)
    offline_ultralytics()
    from ultralytics.nn.tasks import load_checkpoint

    try:
        with weights_loading(weights, trust=trust_weights):
            model, ckpt = load_checkpoint(str(weights), device=device, fuse=True)
    except TiledetError:
        raise
    except Exception as e:  # torch/pickle errors of every kind: not a usable checkpoint
        reason = f"{type(e).__name__}: {e}"
        raise InputError(f"{weights}: cannot load as an Ultralytics checkpoint ({reason})") from e
    if type(model).__name__ != "DetectionModel":
        task = getattr(model, "task", type(model).__name__)
        raise InputError(f"{weights}: not a detection model (task {task!r}); a YOLO detect model is needed")
    names = getattr(model, "names", None) or {}
    class_names = tuple(str(names[i]) for i in sorted(names)) if isinstance(names, dict) else tuple(names)
    train_imgsz = (ckpt.get("train_args") or {}).get("imgsz")
    head = model.model[-1]
    return LoadedModel(
        model=model,
        class_names=class_names,
        stride=int(max(32, int(model.stride.max()))),
        train_imgsz=int(train_imgsz) if isinstance(train_imgsz, int) else None,
        end2end=bool(getattr(head, "end2end", False)),
        weights=weights,
    )


def build_training_model(model_cfg: str, num_classes: int, device: object,
                         trust_weights: bool = False) -> object:
    """A ``DetectionModel`` in train mode on ``device`` with Ultralytics' default hyper-parameters
    attached (so ``model(batch_dict)`` computes the detection loss); used by the memory profile.
    A ``.pt`` is read safely unless ``trust_weights`` (:mod:`tiledet.detect.safe_weights`)."""

    offline_ultralytics()
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel

    source = resolve_model_source(model_cfg)
    with weights_loading(source, trust=trust_weights):
        if source.suffix == ".pt":
            from ultralytics.nn.tasks import load_checkpoint

            base, _ = load_checkpoint(str(source), device="cpu")
            model = DetectionModel(base.yaml, nc=num_classes, verbose=False)
            model.load(base)
        else:
            model = DetectionModel(str(source), nc=num_classes, verbose=False)
    model.args = get_cfg()
    return model.to(device).train()

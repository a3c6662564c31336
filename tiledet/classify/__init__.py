"""Image classifiers: one model zoo, training, honest per-class evaluation, sweeps and checkpoints.

``load_classifier("RUN/best.pt")`` returns a :class:`~tiledet.classify.checkpoint.Classifier` with
``.model`` (eval mode), ``.class_names``, ``.background_index``, ``.input_size``, ``.preprocess``,
``.mean``, ``.std``, ``.chip_size``, ``.context``, ``.box_head`` and ``.config``. Torch is imported
only when a function runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiledet.classify.checkpoint import Classifier

__all__ = ["build_model", "load_classifier", "save_checkpoint"]


def load_classifier(path: str | Path) -> Classifier:
    """Load a checkpoint (``weights_only=True``); see :func:`tiledet.classify.checkpoint.load_classifier`."""
    from tiledet.classify.checkpoint import load_classifier as _load

    return _load(path)


def build_model(name: str, num_classes: int, input_size: int, **options: Any):
    """Build a classifier; see :func:`tiledet.classify.models.build_model`."""
    from tiledet.classify.models import build_model as _build

    return _build(name, num_classes, input_size, **options)


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> None:
    """Write a checkpoint dict atomically; see :func:`tiledet.classify.checkpoint.save_checkpoint`."""
    from tiledet.classify.checkpoint import save_checkpoint as _save

    _save(path, checkpoint)

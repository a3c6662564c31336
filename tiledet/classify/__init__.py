"""Image classifiers: one model zoo, training, honest per-class evaluation, sweeps and checkpoints.

``load_classifier("RUN/best.pt")`` returns a :class:`~tiledet.classify.checkpoint.Classifier` with
``.model`` (eval mode), ``.class_names``, ``.background_index``, ``.input_size``, ``.preprocess``,
``.mean``, ``.std``, ``.chip_size``, ``.context``, ``.box_head`` and ``.config``. Training, evaluation
and sweeps: ``train_classifier(TrainConfig(...))``, ``run_eval(EvalConfig(...))``, ``predict_images``,
``run_sweep``. Torch is imported only when a function runs (names load on first access).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiledet.classify.checkpoint import Classifier

__all__ = [
    "EvalConfig",
    "TrainConfig",
    "build_model",
    "load_classifier",
    "predict_images",
    "run_eval",
    "run_sweep",
    "save_checkpoint",
    "train_classifier",
]

#: Public name -> (module, attribute); ``train_classifier`` because ``train`` is the submodule's name.
_LAZY = {
    "TrainConfig": ("tiledet.classify.config", "TrainConfig"),
    "train_classifier": ("tiledet.classify.train", "train"),
    "EvalConfig": ("tiledet.classify.config", "EvalConfig"),
    "run_eval": ("tiledet.classify.evaluate", "run_eval"),
    "predict_images": ("tiledet.classify.evaluate", "predict_images"),
    "run_sweep": ("tiledet.classify.sweep", "run_sweep"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'tiledet.classify' has no attribute {name!r}")


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

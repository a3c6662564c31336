"""tiledet: find small objects in very large aerial and satellite images.

The public API is one flat namespace, imported lazily: ``import tiledet`` loads no torch,
Ultralytics, pycocotools or rich; each name below imports its module on first use.

>>> import tiledet
>>> tiledet.tile_offsets((1000, 600), 512, overlap=0.2)[:3].tolist()
[[0, 0, 512, 512], [410, 0, 922, 512], [488, 0, 1000, 512]]

Pixels: :func:`open_scene` opens any scene (GeoTIFF/COG window by window, PNG, JPEG) as a :class:`Scene`
(``scene.read((x0, y0, x1, y1))`` -> 8-bit RGB, ``crs``, ``transform``), by a :class:`Radiometry`
policy. Labels: :func:`load_labels` (any supported format, detected) -> :class:`LoadResult` of images
with :class:`Boxes`. Conversion: :func:`convert_labels` with a :class:`ConvertConfig` (plus
:class:`TileConfig` / :class:`ChipConfig`). Scoring: :func:`evaluate_detections` (in memory) and
:func:`run_evaluation` (writes metrics files) with an :class:`EvalConfig`; detectors write results with
:func:`detections_to_results` + :func:`write_results_json`. Geometry: :func:`tile_offsets`,
:func:`tile_stem`, :func:`parse_tile_stem`. Models: :func:`load_classifier`,
:func:`fully_convolutional`. Detectors: :class:`YoloPredictor` with a :class:`SliceConfig` (sliced YOLO
inference: ``tiledet.YoloPredictor("best.pt")(image_rgb) -> Boxes``), :func:`train_yolo` with a
:class:`YoloTrainConfig`, :class:`SlidingDetector` + :func:`detect_scene` with a :class:`SlidingConfig`
(a classifier as a sliding window), and :func:`merge_boxes` (NMS / greedy NMM across tiles).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# A library never prints: its log records reach the user only through handlers the application
# (the tiledet CLI, or the user's own logging setup) installs.
logging.getLogger(__name__).addHandler(logging.NullHandler())

#: Public name -> (module, attribute in it). Imported on first access by :func:`__getattr__`.
_EXPORTS: dict[str, tuple[str, str]] = {
    "Boxes": ("tiledet.boxes", "Boxes"),
    "ImageLabels": ("tiledet.labels", "ImageLabels"),
    "LabeledDataset": ("tiledet.labels", "LabeledDataset"),
    "LoadResult": ("tiledet.labels.load", "LoadResult"),
    "load_labels": ("tiledet.labels.load", "load_labels"),
    "tile_offsets": ("tiledet.geometry", "tile_offsets"),
    "open_scene": ("tiledet.scene", "open_scene"),
    "Scene": ("tiledet.scene", "Scene"),
    "Radiometry": ("tiledet.radiometry", "Radiometry"),
    "tile_stem": ("tiledet.geometry", "tile_stem"),
    "parse_tile_stem": ("tiledet.geometry", "parse_tile_stem"),
    "convert_labels": ("tiledet.convert.pipeline", "convert"),
    "ConvertConfig": ("tiledet.convert.config", "ConvertConfig"),
    "TileConfig": ("tiledet.convert.config", "TileConfig"),
    "ChipConfig": ("tiledet.convert.config", "ChipConfig"),
    "evaluate_detections": ("tiledet.evaluate.metrics", "evaluate"),
    "run_evaluation": ("tiledet.evaluate.report", "run_evaluation"),
    "EvalConfig": ("tiledet.evaluate.config", "EvalConfig"),
    "detections_to_results": ("tiledet.formats.results", "detections_to_results"),
    "write_results_json": ("tiledet.formats.results", "write_results_json"),
    "generate_scenes": ("tiledet.synth.generate", "generate_scenes"),
    "SynthConfig": ("tiledet.synth.config", "SynthConfig"),
    "draw_boxes": ("tiledet.draw", "draw_boxes"),
    "load_classifier": ("tiledet.classify", "load_classifier"),
    "fully_convolutional": ("tiledet.detect", "fully_convolutional"),
    "YoloPredictor": ("tiledet.detect.yolo_predict", "YoloPredictor"),
    "SliceConfig": ("tiledet.detect.config", "SliceConfig"),
    "train_yolo": ("tiledet.detect.yolo_train", "train_yolo"),
    "YoloTrainConfig": ("tiledet.detect.config", "TrainConfig"),
    "SlidingDetector": ("tiledet.detect.sliding", "SlidingDetector"),
    "SlidingConfig": ("tiledet.detect.config", "SlidingConfig"),
    "detect_scene": ("tiledet.detect.sliding", "detect_scene"),
    "merge_boxes": ("tiledet.detect.merge", "merge_boxes"),
    "TiledetError": ("tiledet.errors", "TiledetError"),
    "ConfigError": ("tiledet.errors", "ConfigError"),
    "InputError": ("tiledet.errors", "InputError"),
    "FormatError": ("tiledet.errors", "FormatError"),
}

__all__ = [
    "Boxes",
    "ChipConfig",
    "ConfigError",
    "ConvertConfig",
    "EvalConfig",
    "FormatError",
    "ImageLabels",
    "InputError",
    "LabeledDataset",
    "LoadResult",
    "Radiometry",
    "Scene",
    "SliceConfig",
    "SlidingConfig",
    "SlidingDetector",
    "SynthConfig",
    "TileConfig",
    "TiledetError",
    "YoloPredictor",
    "YoloTrainConfig",
    "__version__",
    "convert_labels",
    "detect_scene",
    "detections_to_results",
    "draw_boxes",
    "evaluate_detections",
    "fully_convolutional",
    "generate_scenes",
    "load_classifier",
    "load_labels",
    "merge_boxes",
    "open_scene",
    "parse_tile_stem",
    "run_evaluation",
    "tile_offsets",
    "tile_stem",
    "train_yolo",
    "write_results_json",
]

if TYPE_CHECKING:  # for type checkers and IDEs only; at run time names load in __getattr__
    from tiledet.boxes import Boxes
    from tiledet.classify import load_classifier
    from tiledet.convert.config import ChipConfig, ConvertConfig, TileConfig
    from tiledet.convert.pipeline import convert as convert_labels
    from tiledet.detect import fully_convolutional
    from tiledet.detect.config import SliceConfig, SlidingConfig
    from tiledet.detect.config import TrainConfig as YoloTrainConfig
    from tiledet.detect.merge import merge_boxes
    from tiledet.detect.sliding import SlidingDetector, detect_scene
    from tiledet.detect.yolo_predict import YoloPredictor
    from tiledet.detect.yolo_train import train_yolo
    from tiledet.draw import draw_boxes
    from tiledet.errors import ConfigError, FormatError, InputError, TiledetError
    from tiledet.evaluate.config import EvalConfig
    from tiledet.evaluate.metrics import evaluate as evaluate_detections
    from tiledet.evaluate.report import run_evaluation
    from tiledet.formats.results import detections_to_results, write_results_json
    from tiledet.geometry import parse_tile_stem, tile_offsets, tile_stem
    from tiledet.label_records import ImageLabels, LabeledDataset
    from tiledet.labels.load import LoadResult, load_labels
    from tiledet.radiometry import Radiometry
    from tiledet.scene import Scene, open_scene
    from tiledet.synth.config import SynthConfig
    from tiledet.synth.generate import generate_scenes


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access and cache the name in this module."""
    try:
        module_name, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'tiledet' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

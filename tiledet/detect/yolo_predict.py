"""Sliced YOLO inference over whole scenes: tiles batched through the model, boxes merged.

A scene is cut into windows by :func:`tiledet.geometry.tile_offsets`; every window of a scene has the
same size (``tile x tile``, or the scene's side where the scene is smaller). Windows go through the
network at their native resolution (no resizing), letterbox-padded as Ultralytics' predictor pads
them (grey 114, centred, to a multiple of the model stride), ``batch_size`` windows per model call.
Per window, boxes are decoded (:mod:`tiledet.detect.yolo_decode`) exactly like Ultralytics'
``non_max_suppression`` (best class above ``conf``, class-aware NMS at ``iou``, at most
``max_det``); then shifted to scene pixels, merged across overlaps (:mod:`tiledet.detect.merge`) and
capped at ``max_det`` per scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiledet.boxes import Boxes
from tiledet.detect.engines import ENGINES, build_engine
from tiledet.detect.merge import check_merge_options, merge_boxes, top_k
from tiledet.detect.yolo_decode import Letterbox, decode_predictions, fill_batch, to_window_boxes
from tiledet.detect.yolo_model import load_detection_model
from tiledet.device import check_device_name, resolve_device
from tiledet.errors import ConfigError
from tiledet.geometry import tile_offsets
from tiledet.pixels import to_model_rgb

#: Tile side used when neither ``--tile`` nor the checkpoint's training ``imgsz`` is known.
DEFAULT_TILE = 640


@dataclass(frozen=True)
class SliceConfig:
    """Settings of sliced inference.

    Attributes:
        tile: window side, px; None uses the ``imgsz`` the weights were trained at (640 if unknown).
        overlap: fraction shared by neighbouring windows, in [0, 1).
        batch_size: windows per model call (>= 1).
        conf: minimum class score of a box, in [0, 1].
        iou: IoU of the per-window NMS (Ultralytics' predictor default 0.7).
        merge: merger across windows (:func:`tiledet.detect.merge.merger_names`): ``greedy-nmm``
            (SAHI's default), ``nms`` or ``cluster-mean``.
        match: ``"ios"`` or ``"iou"`` overlap for merging (SAHI's default: ios).
        merge_threshold: boxes merge when their overlap is ``>= merge_threshold``.
        full_pass: also run the whole scene, shrunk to ``tile``, and merge its boxes in (large objects).
        max_det: most boxes kept per window and per scene after merging.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (:mod:`tiledet.device`).
        engine: ``torch``, ``torch-bf16``, ``onnx``, ``openvino`` or ``auto`` (:mod:`.engines`).
        trust_weights: unpickle the weights with Ultralytics' full unpickler, which can run code
            (``--trust-weights``); by default they load with an allow-list of classes
            (:mod:`tiledet.detect.safe_weights`).
    """

    tile: int | None = None
    overlap: float = 0.2
    batch_size: int = 16
    conf: float = 0.05
    iou: float = 0.7
    merge: str = "greedy-nmm"
    match: str = "ios"
    merge_threshold: float = 0.5
    full_pass: bool = False
    max_det: int = 10000
    device: str = "auto"
    engine: str = "torch"
    trust_weights: bool = False

    def __post_init__(self) -> None:
        if self.tile is not None and (int(self.tile) != self.tile or self.tile < 32):
            raise ConfigError(f"--tile must be a whole number of pixels >= 32, got {self.tile!r}")
        if not 0.0 <= float(self.overlap) < 1.0:
            raise ConfigError(f"--overlap must be in [0, 1), got {self.overlap}")
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise ConfigError(f"--batch-size must be a whole number >= 1, got {self.batch_size!r}")
        for name, value in (("--conf", self.conf), ("--iou", self.iou)):
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value}")
        check_merge_options(self.merge, self.match, self.merge_threshold)
        if int(self.max_det) != self.max_det or self.max_det < 1:
            raise ConfigError(f"--max-det must be a whole number >= 1, got {self.max_det!r}")
        object.__setattr__(self, "device", check_device_name(self.device))
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")


class YoloPredictor:
    """Sliced YOLO inference: ``YoloPredictor(weights)(image_rgb) -> Boxes`` (scene pixels, scores).

    Args:
        weights: an Ultralytics ``.pt`` detection checkpoint (local file).
        cfg: slicing, batching, merging and engine settings.
        probe_image: for ``engine="auto"``, an image whose first batch decides the engine
            (default: a synthetic image; see :func:`tiledet.detect.engines.choose_engine`).

    Raises:
        InputError: on missing or unusable weights; ConfigError on bad settings or an unavailable
            device or engine.
    """

    def __init__(
        self, weights: str | Path, cfg: SliceConfig | None = None, probe_image: np.ndarray | None = None
    ) -> None:

        self.cfg = cfg or SliceConfig()
        self.device = resolve_device(self.cfg.device)
        self.loaded = load_detection_model(weights, self.device, trust_weights=self.cfg.trust_weights)
        self.tile = int(self.cfg.tile or self.loaded.train_imgsz or DEFAULT_TILE)
        self.class_names = self.loaded.class_names
        self.stride = self.loaded.stride
        self.engine, self.engine_report = build_engine(self, probe_image)

    # -- batches of equal-size windows ------------------------------------------------------------
    def predict_windows(self, image_rgb: np.ndarray, windows: np.ndarray) -> list[Boxes]:
        """Boxes of each window (scene pixels, before merging), ``batch_size`` windows per model call.

        Args:
            image_rgb: (H, W, 3) uint8 RGB scene.
            windows: (K, 4) windows ``x0, y0, x1, y1`` inside the scene, all of one size.
        """
        if len(windows) == 0:
            return []
        w, h = int(windows[0, 2] - windows[0, 0]), int(windows[0, 3] - windows[0, 1])
        box = Letterbox.for_window((w, h), self.stride)
        bs = int(self.cfg.batch_size)
        buffer = np.empty((min(bs, len(windows)), box.in_h, box.in_w, 3), np.uint8)
        out: list[Boxes] = []
        for start in range(0, len(windows), bs):
            chunk = windows[start : start + bs]
            batch = fill_batch(image_rgb, chunk, box, buffer)
            dets = decode_predictions(
                self.engine(batch), self.cfg.conf, self.cfg.iou, self.cfg.max_det, self.loaded.end2end
            )
            out.extend(to_window_boxes(d, box, win) for d, win in zip(dets, chunk, strict=True))
        return out

    def full_scene(self, image_rgb: np.ndarray) -> Boxes:
        """Boxes of the whole scene shrunk to fit ``tile`` (Ultralytics' letterbox), in scene pixels."""
        import cv2

        h, w = image_rgb.shape[:2]
        r = min(1.0, self.tile / max(h, w))
        new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
        small = image_rgb if (new_w, new_h) == (w, h) else cv2.resize(
            image_rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR
        )
        boxes = self.predict_windows(small, np.array([[0, 0, new_w, new_h]]))[0]
        scale = np.array([w / new_w, h / new_h, w / new_w, h / new_h])
        return Boxes(boxes.xyxy * scale, boxes.class_ids, boxes.scores).clip((w, h))

    def windows(self, size_wh: tuple[int, int]) -> np.ndarray:
        """The (K, 4) windows of a scene of ``size_wh`` (``tile_offsets`` with this tile and overlap)."""
        return tile_offsets(size_wh, self.tile, self.cfg.overlap)

    def __call__(self, image_rgb: np.ndarray) -> Boxes:
        """Detections of one scene: sliced, merged, capped at ``max_det``.

        Args:
            image_rgb: (H, W, 3) uint8 RGB scene; any image :func:`tiledet.pixels.to_model_rgb` takes
                (grey, RGBA, 16-bit, ...) is converted by its rules first.

        Returns:
            Boxes in scene pixels with scores, highest first.

        Raises:
            InputError: for an image :func:`tiledet.pixels.to_model_rgb` refuses (e.g. float pixels).
        """
        image_rgb = to_model_rgb(image_rgb, source="image")
        h, w = image_rgb.shape[:2]
        parts = self.predict_windows(image_rgb, self.windows((w, h)))
        if self.cfg.full_pass:
            parts.append(self.full_scene(image_rgb))
        merged = merge_boxes(
            Boxes.concat(parts) if parts else Boxes.empty(True),
            self.cfg.merge, self.cfg.match, self.cfg.merge_threshold,
        )
        return top_k(merged, int(self.cfg.max_det))

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

from pathlib import Path

import numpy as np

from tiledet.boxes import Boxes
from tiledet.detect.config import SliceConfig
from tiledet.detect.engines import build_engine
from tiledet.detect.merge import merge_boxes, top_k
from tiledet.detect.yolo_decode import Letterbox, decode_predictions, fill_batch, to_window_boxes
from tiledet.detect.yolo_model import load_detection_model
from tiledet.device import resolve_device
from tiledet.geometry import tile_offsets
from tiledet.pixels import to_model_rgb

#: Tile side used when neither ``--tile`` nor the checkpoint's training ``imgsz`` is known.
DEFAULT_TILE = 640


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

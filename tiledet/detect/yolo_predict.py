"""Sliced YOLO inference over whole scenes: tiles batched through the model, boxes merged.

A scene is cut into windows by :func:`tiledet.geometry.tile_offsets`; every window of a scene has the
same size (``tile x tile``, or the scene's side where the scene is smaller). Windows go through the
network at their native resolution (no resizing), letterbox-padded as Ultralytics' predictor pads
them (grey 114, centred, to a multiple of the model stride), ``batch_size`` windows per model call.
Per window, boxes are decoded (:mod:`tiledet.detect.yolo_decode`) exactly like Ultralytics'
``non_max_suppression`` (best class above ``conf``, class-aware NMS at ``iou``, at most
``max_det``); then shifted to scene pixels, merged across overlaps (:mod:`tiledet.detect.merge`) and
capped at ``max_det`` per scene.

A scene is an (H, W, C) array or a :class:`tiledet.scene.Scene` (:func:`tiledet.scene.open_scene`): a
Scene is read batch by batch (:mod:`tiledet.detect.yolo_batches`), the next batch read in a worker
thread while the model runs this one, so memory grows with tile, batch and model, not with the
scene. Windows of pure nodata are not sent to the model. The whole-scene pass (``full_pass``) of a
Scene runs on its overview (:meth:`~tiledet.scene_base.Scene.overview`: area-averaged, from the
file's internal overviews when it has them); that of an array on the array resized as Ultralytics'
letterbox resizes (bilinear).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from tiledet.boxes import Boxes
from tiledet.detect.config import SliceConfig
from tiledet.detect.engines import build_engine
from tiledet.detect.merge import merge_boxes, top_k
from tiledet.detect.yolo_batches import Pixels, WindowCount, read_ahead, window_batches
from tiledet.detect.yolo_decode import Letterbox, decode_predictions, to_window_boxes
from tiledet.detect.yolo_model import load_detection_model
from tiledet.device import resolve_device
from tiledet.geometry import tile_offsets
from tiledet.pixels import to_model_rgb
from tiledet.scene_base import Scene

#: Tile side used when neither ``--tile`` nor the checkpoint's training ``imgsz`` is known.
DEFAULT_TILE = 640


class YoloPredictor:
    """Sliced YOLO inference: ``YoloPredictor(weights)(scene) -> Boxes`` (scene pixels, scores).

    Args:
        weights: an Ultralytics ``.pt`` detection checkpoint (local file).
        cfg: slicing, batching, merging, engine and radiometry settings.
        probe_image: for ``engine="auto"``, an image or Scene whose first batch of windows decides the
            engine (default: a synthetic image; see :func:`tiledet.detect.engines.choose_engine`).
        read_ahead: read the next batch of a scene in a worker thread while the model runs this one
            (False: one batch at a time, in the caller's thread; the same boxes).

    Raises:
        InputError: on missing or unusable weights; ConfigError on bad settings or an unavailable
            device or engine.
    """

    def __init__(
        self, weights: str | Path, cfg: SliceConfig | None = None, probe_image: Pixels | None = None,
        read_ahead: bool = True,
    ) -> None:

        self.cfg = cfg or SliceConfig()
        self.read_ahead = read_ahead
        self.device = resolve_device(self.cfg.device)
        self.loaded = load_detection_model(weights, self.device, trust_weights=self.cfg.trust_weights)
        self.tile = int(self.cfg.tile or self.loaded.train_imgsz or DEFAULT_TILE)
        self.class_names = self.loaded.class_names
        self.stride = self.loaded.stride
        self.engine, self.engine_report = build_engine(self, probe_image)

    # -- batches of equal-size windows ------------------------------------------------------------
    def predict_windows(
        self, image_rgb: Pixels, windows: np.ndarray, count: WindowCount | None = None
    ) -> list[Boxes]:
        """Boxes of each window (scene pixels, before merging), ``batch_size`` windows per model call.

        Args:
            image_rgb: (H, W, 3) uint8 RGB scene, or a Scene (windows read from it batch by batch).
            windows: (K, 4) windows ``x0, y0, x1, y1`` inside the scene, all of one size.
            count: updated with the windows and those of pure nodata (not sent to the model).

        Returns:
            K Boxes, one per window (none for a window of pure nodata).
        """
        out = [Boxes.empty(True) for _ in range(len(windows))]
        if len(windows) == 0:
            return out
        w, h = int(windows[0, 2] - windows[0, 0]), int(windows[0, 3] - windows[0, 1])
        box = Letterbox.for_window((w, h), self.stride)
        batches = window_batches(image_rgb, windows, box, int(self.cfg.batch_size), count)
        with contextlib.closing(read_ahead(batches, self.read_ahead)) as stream:
            for indexes, batch in stream:
                dets = decode_predictions(
                    self.engine(batch), self.cfg.conf, self.cfg.iou, self.cfg.max_det, self.loaded.end2end
                )
                for i, det in zip(indexes.tolist(), dets, strict=True):
                    out[i] = to_window_boxes(det, box, windows[i])
        return out

    def full_scene(self, image_rgb: Pixels) -> Boxes:
        """Boxes of the whole scene shrunk to fit ``tile``, in scene pixels.

        An array is resized as Ultralytics' letterbox does (bilinear); a Scene gives its overview.
        """
        if isinstance(image_rgb, Scene):
            (w, h), (small, _) = image_rgb.size_wh, image_rgb.overview(self.tile)
        else:
            small, (h, w) = _shrunk(image_rgb, self.tile), image_rgb.shape[:2]
        new_h, new_w = small.shape[:2]
        boxes = self.predict_windows(small, np.array([[0, 0, new_w, new_h]]))[0]
        scale = np.array([w / new_w, h / new_h, w / new_w, h / new_h])
        return Boxes(boxes.xyxy * scale, boxes.class_ids, boxes.scores).clip((w, h))

    def windows(self, size_wh: tuple[int, int]) -> np.ndarray:
        """The (K, 4) windows of a scene of ``size_wh`` (``tile_offsets`` with this tile and overlap)."""
        return tile_offsets(size_wh, self.tile, self.cfg.overlap)

    def __call__(self, image_rgb: np.ndarray | Scene) -> Boxes:
        """Detections of one scene: sliced, merged, capped at ``max_det`` (:meth:`detect`'s boxes)."""
        return self.detect(image_rgb)[0]

    def detect(self, image_rgb: np.ndarray | Scene) -> tuple[Boxes, WindowCount]:
        """Detections of one scene and its window count.

        Args:
            image_rgb: a Scene (:func:`tiledet.scene.open_scene`; its own radiometry applies), or an
                (H, W, C) image in band order: any image :func:`tiledet.pixels.to_model_rgb` takes
                (grey, RGBA, 16-bit, ...) is converted by its rules under ``cfg.radiometry`` first.

        Returns:
            ``(boxes, count)``: Boxes in scene pixels with scores, highest first; the windows of the
            scene and those of pure nodata, which were not sent to the model.

        Raises:
            InputError: for an image :func:`tiledet.pixels.to_model_rgb` refuses (e.g. float pixels),
                or a Scene whose data cannot be read (truncated, corrupt).
        """
        if isinstance(image_rgb, Scene):
            source: Pixels = image_rgb
            size_wh = image_rgb.size_wh
        else:
            source = to_model_rgb(image_rgb, self.cfg.radiometry, source="image")
            size_wh = (source.shape[1], source.shape[0])
        count = WindowCount()
        parts = self.predict_windows(source, self.windows(size_wh), count)
        if self.cfg.full_pass:
            parts.append(self.full_scene(source))
        merged = merge_boxes(
            Boxes.concat(parts) if parts else Boxes.empty(True),
            self.cfg.merge, self.cfg.match, self.cfg.merge_threshold,
        )
        return top_k(merged, int(self.cfg.max_det)), count


def _shrunk(image_rgb: np.ndarray, tile: int) -> np.ndarray:
    """``image_rgb`` resized so its longer side fits ``tile`` (bilinear, as Ultralytics' letterbox)."""
    import cv2

    h, w = image_rgb.shape[:2]
    r = min(1.0, tile / max(h, w))
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    if (new_w, new_h) == (w, h):
        return image_rgb
    return cv2.resize(image_rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)

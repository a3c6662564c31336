"""``tiledet detect sliding``: a classifier checkpoint as a sliding-window detector over scene files.

Scenes are opened one at a time (:func:`tiledet.scene.open_scene`, with the run's radiometry) and read
window by window: each is scored by :func:`tiledet.detect.sliding.detect_scene`, so memory grows with
the block size and the model, not with the scene (a PNG or JPEG is still decoded whole), and its
detections appended to a COCO results JSON (``file_name``, ``category_name``, ...). A scene that
cannot be read, whether at opening or at a window halfway through (a truncated TIFF: its boxes found
so far are dropped; :attr:`SlidingReport.unreadable`), or that is smaller than the window at every
pyramid scale (:attr:`SlidingReport.skipped`), is left out and reported; the other scenes are still
processed. Blocks of pure nodata are not scored (:attr:`SlidingReport.nodata_blocks`). The network
runs on the engine ``cfg.engine`` names (:mod:`tiledet.detect.fcn_engines`; ``auto`` probes a block of
the first scene), recorded with why in :attr:`SlidingReport.engine`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from tiledet.boxes import Boxes
from tiledet.classify import load_classifier
from tiledet.convert.chips_manifest import ChipsManifest
from tiledet.detect.config import SlidingConfig, SlidingRunConfig
from tiledet.detect.sliding import SlidingDetector, detect_scene, scene_scales
from tiledet.detect.yolo_run import SceneRef, collect_scenes
from tiledet.device import resolve_device
from tiledet.draw import draw_boxes
from tiledet.errors import ConfigError, InputError
from tiledet.formats.geo_results import prepare_detections_output, write_detections_output
from tiledet.formats.results import detections_to_results
from tiledet.outdir import OutputDir
from tiledet.progress import Progress, as_progress
from tiledet.scene import open_scene
from tiledet.scene_base import Scene

log = logging.getLogger(__name__)

#: Object sizes the pyramid covers when neither the user nor the training chips say (px, longer side).
DEFAULT_OBJECT_SIZE_PX = (8.0, 160.0)


@dataclass
class SlidingReport:
    """What :func:`run_sliding` did.

    Attributes:
        scenes: scenes scored.
        boxes: detections written.
        unreadable: scene file_name -> why it could not be read.
        skipped: scene file_name -> why it was read but not scored (smaller than the window).
        window, stride: the fully-convolutional network's window and stride (px).
        exact: whether the network equals crop-by-crop classification.
        scales: pyramid scale factors.
        object_size_px: the object size range the pyramid covers and where it came from.
        cells: windows scored over all scenes.
        nodata_blocks: blocks not scored over all scenes: every scene pixel they read is nodata.
        radiometry: how scene values became the classifier's 8-bit RGB (:meth:`Radiometry.to_dict`).
        engine: which engine ran the network and why: ``engine``, ``reason``, ``probe_seconds`` (each
            candidate's time on the probe block, s), ``agreement`` (each candidate's verdict) and
            ``setup_seconds`` (exports, probing; not in ``seconds``).
        seconds: wall time of the scoring.
        out: the results file.
        drawn: drawn scene files.
    """

    scenes: int = 0
    boxes: int = 0
    unreadable: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    window: int = 0
    stride: int = 0
    exact: bool = True
    scales: list[float] = field(default_factory=list)
    object_size_px: dict[str, Any] = field(default_factory=dict)
    cells: int = 0
    nodata_blocks: int = 0
    radiometry: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    out: Path | None = None
    drawn: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "scenes": self.scenes, "boxes": self.boxes, "unreadable": dict(self.unreadable),
            "skipped": dict(self.skipped),
            "window": self.window, "stride": self.stride, "exact": self.exact,
            "scales": [round(s, 4) for s in self.scales], "object_size_px": self.object_size_px,
            "cells": self.cells, "nodata_blocks": self.nodata_blocks, "radiometry": dict(self.radiometry),
            "engine": dict(self.engine), "seconds": round(self.seconds, 3), "out": str(self.out),
        }  # fmt: skip


def chips_object_size(clf: Any) -> tuple[float, float] | None:
    """The training chips' object size range (``chips.yaml`` ``object_size_px`` p02–p98, widened by
    2^(1/4) each way), or None when the classifier's data folder or that record is not there."""

    data = (clf.config or {}).get("data")
    if not data:
        return None
    try:
        manifest = ChipsManifest.load(Path(str(data)))
    except InputError as e:
        log.debug("no object sizes from the chips of %s: %s", data, e)
        return None
    return None if manifest is None else manifest.object_size_range(widen=2**0.25)


def _object_size(cfg: SlidingRunConfig, clf: Any) -> tuple[tuple[float, float], str]:
    if cfg.object_size_px is not None:
        return cfg.object_size_px, "--object-size"
    from_chips = chips_object_size(clf)
    if from_chips is not None:
        return from_chips, "training chips (chips.yaml)"
    return DEFAULT_OBJECT_SIZE_PX, "default"


def load_detector(cfg: SlidingRunConfig) -> tuple[SlidingDetector, SlidingConfig, dict[str, Any]]:
    """The detector of ``cfg.model`` and the sliding settings with the object-size range filled in.

    Raises:
        InputError: the checkpoint is missing or not a classifier.
        ConfigError: a device this machine lacks; a model that cannot be made fully convolutional; a
            scale range with no scale.
    """

    device = str(resolve_device(cfg.device))  # before the checkpoint: a missing device fails fast
    clf = load_classifier(cfg.model)
    detector = SlidingDetector.from_classifier(clf, device, cfg.sliding.context)
    size, source = _object_size(cfg, clf)
    sliding = replace(cfg.sliding, object_size_px=(float(size[0]), float(size[1])))
    if not scene_scales(detector, sliding):
        raise ConfigError(
            f"object_size_px={size[0]:g}-{size[1]:g} leaves no pyramid scale", field="object_size_px"
        )
    return detector, sliding, {"min": round(size[0], 2), "max": round(size[1], 2), "source": source}


def run_sliding(cfg: SlidingRunConfig, progress: Progress | None = None) -> SlidingReport:
    """Detect on every scene of ``cfg.images`` and write the COCO results JSON ``cfg.out``.

    Args:
        cfg: the settings.
        progress: one phase, ``detecting`` (one item per scene, skipped ones too); closed at the end.

    Returns:
        A :class:`SlidingReport`.
    """

    scenes = collect_scenes(cfg.images)
    sources = [*cfg.images, cfg.model]
    out = prepare_detections_output(cfg.out, scenes, command="detect sliding", sources=sources)
    detector, sliding, size = load_detector(cfg)
    detector, engine_report = _with_engine(cfg, detector, sliding, scenes)
    fcn = detector.fcn
    report = SlidingReport(
        window=fcn.window, stride=fcn.stride, exact=fcn.exact, out=out, object_size_px=size
    )
    report.scales = scene_scales(detector, sliding)
    report.radiometry, report.engine = cfg.radiometry.to_dict(), engine_report
    entries: list[dict] = []
    t0 = time.perf_counter()
    drawn_dir = (
        OutputDir(cfg.save_images, command="detect sliding", force=cfg.force, sources=sources,
                  what="--save-images")
        if cfg.save_images is not None
        else None
    )
    progress = as_progress(progress)
    progress.start("detecting", len(scenes))
    with contextlib.closing(progress), drawn_dir if drawn_dir is not None else contextlib.nullcontext():
        for scene in scenes:
            entries.extend(_score_scene(scene, detector, sliding, report, drawn_dir, cfg))
            progress.advance(1)
    report.seconds = time.perf_counter() - t0
    write_detections_output(out, entries, scenes, command="detect sliding")
    return report


def _with_engine(
    cfg: SlidingRunConfig, detector: SlidingDetector, sliding: SlidingConfig, scenes: Sequence[SceneRef]
) -> tuple[SlidingDetector, dict[str, Any]]:
    """``detector`` on the engine ``cfg.engine`` names and the engine report (``setup_seconds`` added);
    ``auto`` probes a block of the first scene (noise when it cannot be read)."""
    from tiledet.detect.fcn_engines import build_fcn_engine, probe_block

    t0 = time.perf_counter()
    probe = None
    if cfg.engine == "auto" and scenes:
        try:
            with open_scene(scenes[0].path, cfg.radiometry) as scene:
                probe = probe_block(detector, scene, scene_scales(detector, sliding), sliding.block_px)
        except InputError as e:  # its own detection reports it
            log.info("engine auto probes a noise block: %s", e)
    engine, report = build_fcn_engine(cfg.engine, detector, cfg.model, probe)
    log.info("engine %s: %s", report.engine, report.reason)
    return replace(detector, engine=engine), {**report.to_dict(), "setup_seconds": time.perf_counter() - t0}


def _score_scene(
    ref: SceneRef,
    detector: SlidingDetector,
    sliding: SlidingConfig,
    report: SlidingReport,
    drawn_dir: Any,
    cfg: SlidingRunConfig,
) -> list[dict]:
    """Results entries of one scene (none when unreadable or skipped); updates ``report``.

    The scene is opened once (``cfg.radiometry``) and closed after; an :class:`InputError` while
    opening or reading it puts it in ``report.unreadable`` and drops its boxes.
    """

    try:
        with open_scene(ref.path, cfg.radiometry) as scene:
            return _detect_in(scene, ref.file_name, detector, sliding, report, drawn_dir)
    except InputError as e:
        report.unreadable[ref.file_name] = str(e).removeprefix(f"{ref.path}: ")
        log.info("cannot read %s: %s", ref.file_name, report.unreadable[ref.file_name])
        return []


def _detect_in(
    scene: Scene, file_name: str, detector: SlidingDetector, sliding: SlidingConfig, report: SlidingReport,
    drawn_dir: Any,
) -> list[dict]:  # fmt: skip
    boxes, stats = detect_scene(detector, scene, sliding)
    if not stats.scales:
        width, height = scene.size_wh
        why = f"{width}x{height} is smaller than the {detector.fcn.window} px window at every scale"
        report.skipped[file_name] = why
        log.info("skipped %s: %s", file_name, why)
        return []
    drawn = None
    if drawn_dir is not None:  # the drawing is a whole-scene PNG: the scene is read whole for it
        drawn = _save_drawn(drawn_dir, file_name, scene.read(), boxes, detector.class_names)
    report.scenes += 1
    report.boxes += len(boxes)
    report.cells += stats.cells
    report.nodata_blocks += stats.nodata_blocks
    if drawn is not None:
        report.drawn.append(drawn)
    return detections_to_results(file_name, boxes, detector.class_names)


def _save_drawn(od: Any, file_name: str, image: np.ndarray, boxes: Boxes, names: Sequence[str]) -> Path:
    import cv2

    drawn = draw_boxes(image, boxes, names, thickness=2, style="dashed")
    ok, data = cv2.imencode(".png", cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{file_name}: cannot encode the drawn scene")
    return od.write_bytes(str(PurePosixPath(file_name).with_suffix(".png")), data.tobytes())

"""``tiledet detect yolo``: sliced YOLO inference over scene files, written as COCO results JSON.

Scenes are opened one at a time (:func:`tiledet.scene.open_scene`, under ``cfg.slicing.radiometry``)
and read window by window, batch by batch, so memory holds two batches of windows and the boxes found
so far, whatever the scene's size (a PNG or JPEG is decoded whole: those formats cannot be read by
window). A scene that cannot be opened, or whose data fails to read part-way (a truncated GeoTIFF),
is left out and reported (:attr:`DetectReport.unreadable`, its partial boxes dropped); the detections
of the others are still written.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from tiledet.boxes import Boxes
from tiledet.detect.config import DetectConfig
from tiledet.detect.yolo_predict import YoloPredictor
from tiledet.errors import ConfigError, InputError
from tiledet.formats.geo_results import prepare_detections_output, write_detections_output
from tiledet.formats.results import detections_to_results
from tiledet.ioutil import IMAGE_SUFFIXES, atomic_write_bytes
from tiledet.outdir import OutputDir
from tiledet.progress import Progress, as_progress
from tiledet.radiometry import AUTO, Radiometry
from tiledet.scene import Scene, open_scene, read_scene_rgb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SceneRef:
    """One scene to detect on: its file and the ``file_name`` written to the results."""

    path: Path
    file_name: str


@dataclass
class DetectReport:
    """What :func:`run_detection` did.

    Attributes:
        scenes: scenes detected on.
        boxes: detections written.
        unreadable: scene ``file_name`` -> why it could not be read (left out of the results).
        seconds: wall time of the detection.
        engine: which engine ran and why.
        out: the results file.
        drawn: drawn scene files.
        windows: windows of the scenes detected on.
        nodata_windows: those of them of pure nodata, not sent to the model.
        radiometry: the policy scenes were read under (:meth:`Radiometry.to_dict`).
        stretch: scene ``file_name`` -> the per-band limits it was stretched between (stretched
            scenes only; :meth:`tiledet.radiometry.Stretch.to_dict`).
    """

    scenes: int = 0
    boxes: int = 0
    unreadable: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    engine: dict = field(default_factory=dict)
    out: Path | None = None
    drawn: list[Path] = field(default_factory=list)
    windows: int = 0
    nodata_windows: int = 0
    radiometry: dict = field(default_factory=AUTO.to_dict)
    stretch: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"scenes": self.scenes, "boxes": self.boxes, "unreadable": dict(self.unreadable),
                "seconds": round(self.seconds, 3), "engine": self.engine, "out": str(self.out),
                "windows": self.windows, "nodata_windows": self.nodata_windows,
                "radiometry": self.radiometry, "stretch": dict(self.stretch)}


def collect_scenes(inputs: Sequence[Path]) -> list[SceneRef]:
    """Scene files of ``inputs``: files as given (``file_name`` = their name; any raster GDAL reads:
    ``.tif``, ``.vrt``, ``.jp2``, ``.img``, ...), folders searched recursively for image files
    (:data:`~tiledet.ioutil.IMAGE_SUFFIXES`; ``file_name`` = path relative to that folder, ``/``
    separators).

    Raises:
        InputError: for a missing input, a folder without images, or no scenes at all.
    """
    scenes: list[SceneRef] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise InputError(f"{item}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            scenes.extend(SceneRef(p, PurePosixPath(p.relative_to(item)).as_posix()) for p in found)
        elif item.is_file():
            scenes.append(SceneRef(item, item.name))
        else:
            raise InputError(f"{item}: image not found")
    if not scenes:
        raise InputError("no images given")
    names = [s.file_name for s in scenes]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(f"two scenes would both be named {dup!r} in the results; give their common folder")
    return scenes


def read_or_skip(
    scene: SceneRef, unreadable: dict[str, str], radiometry: Radiometry = AUTO
) -> np.ndarray | None:
    """The whole (H, W, 3) uint8 RGB the detectors see of ``scene`` (:func:`tiledet.scene.read_scene_rgb`);
    None when it cannot be read, with the reason in ``unreadable``.

    Args:
        scene: the scene.
        unreadable: ``file_name`` -> reason (the error message without its leading path).
        radiometry: how its values become 8-bit RGB.
    """
    try:
        return read_scene_rgb(scene.path, radiometry)
    except InputError as e:
        unreadable[scene.file_name] = _reason(e, scene)
        return None


def open_or_skip(scene: SceneRef, unreadable: dict[str, str], radiometry: Radiometry = AUTO) -> Scene | None:
    """``scene`` opened for windowed reading (:func:`tiledet.scene.open_scene`); None when it cannot be
    opened, with the reason in ``unreadable`` (``file_name`` -> the message without its leading path)."""
    try:
        return open_scene(scene.path, radiometry)
    except InputError as e:
        unreadable[scene.file_name] = _reason(e, scene)
        return None


def _reason(error: InputError, scene: SceneRef) -> str:
    return str(error).removeprefix(f"{scene.path}: ")


def _first_readable(scenes: Sequence[SceneRef], radiometry: Radiometry = AUTO) -> tuple[int, Scene | None]:
    """Index and opened Scene of the first scene that can be opened (the caller closes it);
    ``(-1, None)`` when none can."""
    for i, scene in enumerate(scenes):
        opened = open_or_skip(scene, {}, radiometry)
        if opened is not None:
            return i, opened
    return -1, None


def detect_scenes(
    predictor: YoloPredictor, scenes: Sequence[SceneRef], keep_image: bool = False
) -> Iterator[tuple[SceneRef, Boxes, np.ndarray | None]]:
    """Yield ``(scene, boxes, image or None)`` for each scene, opening one scene at a time and reading
    it window by window (``image``: the whole scene's pixels, read only with ``keep_image``).

    Raises:
        InputError: for a scene that cannot be read.
    """
    for scene in scenes:
        with open_scene(scene.path, predictor.cfg.radiometry) as opened:
            boxes = predictor(opened)
            image = opened.read() if keep_image else None
        yield scene, boxes, image
        del image


def _draw_module() -> object:
    try:
        from tiledet import draw
    except ImportError as e:  # pragma: no cover - tiledet.draw ships with tiledet
        raise ConfigError(
            "save_images needs tiledet.draw, which is not installed", field="save_images"
        ) from e
    return draw


def run_detection(cfg: DetectConfig, progress: Progress | None = None) -> DetectReport:
    """Detect on every scene of ``cfg.images`` and write the COCO results JSON ``cfg.out``.

    Args:
        cfg: the settings.
        progress: one phase, ``detecting`` (one item per scene, read or not); closed at the end.

    Returns:
        A :class:`DetectReport`; ``engine`` tells which engine ran and why. A scene that cannot be read
        (or fails to read part-way) is listed in ``unreadable`` and left out; the results of the others
        are written (an empty list when none could be read).
    """

    scenes = collect_scenes(cfg.images)
    sources = [*cfg.images, cfg.weights]
    out = prepare_detections_output(cfg.out, scenes, command="detect yolo", sources=sources)
    draw = _draw_module() if cfg.save_images is not None else None
    radiometry = cfg.slicing.radiometry
    # engine auto probes on the first readable scene; it stays open for its detection (one open per scene)
    first_index, first = _first_readable(scenes, radiometry) if cfg.slicing.engine == "auto" else (-1, None)
    with contextlib.ExitStack() as stack:
        if first is not None:
            stack.callback(first.close)
        predictor = YoloPredictor(cfg.weights, cfg.slicing, probe_image=first)
        report = DetectReport(engine=predictor.engine_report.to_dict(), out=out,
                              radiometry=radiometry.to_dict())
        log.info("engine %s: %s", report.engine["engine"], report.engine["reason"])
        t0 = time.perf_counter()
        drawn_dir = OutputDir(cfg.save_images, command="detect yolo", force=cfg.force, sources=sources,
                              what="--save-images") \
            if cfg.save_images is not None else None
        progress = as_progress(progress)
        progress.start("detecting", len(scenes))
        entries: list[dict] = []
        with contextlib.closing(progress), drawn_dir if drawn_dir is not None else contextlib.nullcontext():
            for i, scene in enumerate(scenes):
                opened, first = (first, None) if i == first_index else (None, first)
                entries.extend(_detect_scene(predictor, scene, report, drawn_dir, draw, opened))
                progress.advance(1)
        report.seconds = time.perf_counter() - t0
    write_detections_output(out, entries, scenes, command="detect yolo")
    return report


def _detect_scene(
    predictor: YoloPredictor, scene: SceneRef, report: DetectReport, drawn_dir: object, draw: object,
    opened: Scene | None = None,
) -> list[dict]:
    """Results entries of one scene (none when it cannot be read); updates ``report``.

    ``opened``: the scene when already open, else it is opened here; closed here either way. A read
    error part-way through the scene makes it unreadable: its boxes so far are dropped.
    """
    opened = open_or_skip(scene, report.unreadable, predictor.cfg.radiometry) if opened is None else opened
    if opened is None:
        return []
    with opened:
        try:
            boxes, count = predictor.detect(opened)
            image = opened.read() if drawn_dir is not None else None
        except InputError as e:
            report.unreadable[scene.file_name] = _reason(e, scene)
            return []
        if opened.stretch is not None:
            report.stretch[scene.file_name] = opened.stretch.to_dict()
    report.scenes += 1
    report.boxes += len(boxes)
    report.windows += count.windows
    report.nodata_windows += count.nodata
    if drawn_dir is not None:
        report.drawn.append(_save_drawn(drawn_dir, draw, scene, image, boxes, predictor.class_names))
    return detections_to_results(scene.file_name, boxes, predictor.class_names)


def _save_drawn(od: object, draw: object, scene: SceneRef, image: np.ndarray, boxes: Boxes,
                names: Sequence[str]) -> Path:
    import cv2

    drawn = draw.draw_boxes(image, boxes, names, thickness=2, style="dashed")  # type: ignore[attr-defined]
    path = od.path(str(PurePosixPath(scene.file_name).with_suffix(".png")))  # type: ignore[attr-defined]
    ok, data = cv2.imencode(".png", cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{path}: cannot encode the drawn scene")
    atomic_write_bytes(path, data.tobytes())
    return path

"""Sliding-window detection with a trained classifier: one fully-convolutional pass per pyramid scale.

For every scale of the pyramid (:mod:`tiledet.detect.pyramid`) and every one of the
``stride_multiple``² shifted cell grids, the resized scene is scored block by block by the
fully-convolutional form of the classifier (:mod:`tiledet.detect.fcn`). Each cell's softmax gives the
probability of every class; the best non-background class of a cell becomes a candidate when its
probability reaches that class's threshold. Its box is the central ``1 / (1 + context)`` square of the
window (where the chip geometry put the object) or, with a box head, the box the head predicts inside
the window; boxes are mapped back to scene pixels. Candidates of all scales are merged by a merger of
:mod:`tiledet.detect.merge` (``cluster-mean`` by default: NMS, each kept box moved to the mean of its
cluster; class-agnostic by default: one object fires for several classes and scales) and the
``max_det`` most confident are kept. ``iou`` and ``merge_iou`` keep torchvision's ``>`` meaning (a box
is dropped or clustered at IoU strictly above them); :func:`scene_merger` hands the merger their
``>=`` equivalents (:func:`tiledet.detect.merge.above`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiledet.boxes import Boxes
from tiledet.detect.config import SlidingConfig
from tiledet.detect.fcn import fully_convolutional
from tiledet.detect.fcn_engines import TorchFcn
from tiledet.detect.merge import Merger, above, cluster_mean, get_merger
from tiledet.detect.pyramid import (
    Block,
    Level,
    Pixels,
    cell_grid,
    prepared_batches,
    pyramid_scales,
    resized_size,
    size_of,
)
from tiledet.detect.read_ahead import read_ahead
from tiledet.errors import ConfigError

log = logging.getLogger(__name__)

#: Candidates kept before an intermediate NMS pass compacts them (bounds memory on huge scenes).
_COMPACT_AT = 200_000


@dataclass(eq=False)
class SlidingDetector:
    """A classifier ready for dense scoring.

    Attributes:
        fcn: fully-convolutional network (``window``, ``stride`` attributes), on ``device``.
        preprocess: uint8 (N, H, W, 3) RGB -> normalised float tensor (N, 3, H, W); takes ``device``.
        class_names: output class names (background included when trained with it).
        background_index: index of the background class, or None.
        context: chip context: the object fills the central ``1 / (1 + context)`` of a window.
        box_head: the last 4 outputs are the object box inside the window, ``xyxy / window``.
        device: torch device string.
        engine: what scores a preprocessed batch (:mod:`tiledet.detect.fcn_engines`: float (N, 3, H, W)
            tensor -> (N, C [+ 4], rows, cols) float32 numpy); None: ``fcn`` itself (torch).
    """

    fcn: Any
    preprocess: Callable[..., Any]
    class_names: list[str]
    background_index: int | None
    context: float
    box_head: bool = False
    device: str = "cpu"
    engine: Any = None

    @classmethod
    def from_classifier(cls, clf: Any, device: str = "cpu", context: float = 0.5) -> SlidingDetector:
        """From a :func:`tiledet.classify.load_classifier` result; ``context`` when it has none."""

        fcn = fully_convolutional(clf.model, input_size=clf.input_size).for_inference().to(device)
        ctx = float(clf.context) if clf.context is not None else float(context)
        return cls(
            fcn, clf.preprocess, list(clf.class_names), clf.background_index, ctx, bool(clf.box_head), device
        )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def class_threshold_array(detector: SlidingDetector, cfg: SlidingConfig) -> np.ndarray:
    """(C,) probability thresholds per class; ``inf`` for the background class.

    Raises:
        ConfigError: when a per-class threshold names an unknown class.
    """
    thresholds = np.full(detector.num_classes, float(cfg.threshold))
    for name, value in cfg.class_thresholds:
        if name not in detector.class_names:
            raise ConfigError(
                f"class_thresholds: unknown class {name!r} (classes: {', '.join(detector.class_names)})",
                field="class_thresholds",
            )
        thresholds[detector.class_names.index(name)] = float(value)
    if detector.background_index is not None:
        thresholds[detector.background_index] = np.inf
    return thresholds


def decode_cells(
    probs: np.ndarray,
    box_offsets: np.ndarray | None,
    origin_xy: tuple[float, float],
    stride: int,
    window: int,
    scale: float,
    context: float,
    thresholds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates of one block of cells.

    Args:
        probs: (R, C, K) class probabilities of R×C cells.
        box_offsets: (R, C, 4) box-head outputs ``xyxy / window`` or None (central square).
        origin_xy: resized-pixel top-left corner of cell (0, 0)'s window.
        stride, window: cell spacing and window side, resized px.
        scale: resize factor of this pyramid level (scene px = resized px / scale).
        context: the object fills the central ``1 / (1 + context)`` of a window.
        thresholds: (K,) per-class probability thresholds (``inf`` disables a class).

    Returns:
        ``(xyxy (M, 4) scene px, scores (M,), class_ids (M,))`` for the cells whose best enabled class
        reaches its threshold.
    """
    enabled = np.where(np.isfinite(thresholds), probs, -1.0)
    best = enabled.argmax(axis=2)
    score = np.take_along_axis(enabled, best[..., None], axis=2)[..., 0]
    rows, cols = np.nonzero(score >= thresholds[best])
    x0 = origin_xy[0] + cols * float(stride)
    y0 = origin_xy[1] + rows * float(stride)
    if box_offsets is None:
        half = window / (2.0 * (1.0 + context))
        cx, cy = x0 + window / 2.0, y0 + window / 2.0
        xyxy = np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)
    else:
        off = np.clip(box_offsets[rows, cols].astype(np.float64), 0.0, 1.0).reshape(-1, 4)
        lo, hi = np.minimum(off[:, :2], off[:, 2:]), np.maximum(off[:, :2], off[:, 2:])
        xyxy = np.concatenate([lo, hi], axis=1) * window + np.stack([x0, y0, x0, y0], axis=1)
    return (
        xyxy.reshape(-1, 4) / scale,
        score[rows, cols].astype(np.float64),
        best[rows, cols].astype(np.int64),
    )


def _scored(
    detector: SlidingDetector,
    source: Pixels,
    levels: Sequence[Level],
    cfg: SlidingConfig,
    stats: SceneStats,
) -> Iterator[tuple[float, Block, np.ndarray]]:
    """``(scale, block, outputs)`` of every block of ``levels``, the next batches read ahead (``cfg``);
    pure-nodata blocks are counted in ``stats.nodata_blocks``, not scored."""
    import torch

    fcn = detector.fcn
    forward = detector.engine if detector.engine is not None else TorchFcn(fcn)
    batches = prepared_batches(source, levels, fcn.window, fcn.stride, cfg.block_px, cfg.batch_size)
    for prepared in read_ahead(batches, cfg.read_ahead):
        stats.nodata_blocks += prepared.nodata
        if prepared.crops is None:
            continue
        with torch.inference_mode():
            out = forward(detector.preprocess(prepared.crops, device=detector.device))
        for block, maps in zip(prepared.blocks, out, strict=True):
            maps = np.ascontiguousarray(maps[:, : block.rows, : block.cols].transpose(1, 2, 0))
            yield prepared.scale, block, maps


def score_blocks(
    detector: SlidingDetector,
    pixels: Pixels,
    scale: float,
    offset_xy: tuple[int, int],
    cfg: SlidingConfig,
) -> Iterator[tuple[Block, np.ndarray]]:
    """Raw network outputs of every block of one scale and grid shift.

    Args:
        detector: the detector.
        pixels: (H, W, 3) uint8 RGB scene, or a :class:`~tiledet.scene_base.Scene` (read by window).
        scale: pyramid scale factor.
        offset_xy: shift of the cell grid in resized pixels.
        cfg: settings (``block_px``, ``batch_size``, ``read_ahead``).

    Yields:
        ``(block, outputs)`` with outputs (rows, cols, C [+ 4]) float32 for the block's cells (blocks of
        pure nodata are left out).
    """
    for _, block, maps in _scored(detector, pixels, [(scale, offset_xy)], cfg, SceneStats()):
        yield block, maps


def dense_map(
    detector: SlidingDetector,
    pixels: Pixels,
    scale: float,
    cfg: SlidingConfig,
    offset_xy: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Stitched (rows, cols, C [+ 4]) raw outputs of a whole scale (for tests and inspection)."""
    fcn = detector.fcn
    size_wh = resized_size(size_of(pixels), scale)

    rows = cell_grid(size_wh[1], fcn.window, fcn.stride, offset_xy[1])
    cols = cell_grid(size_wh[0], fcn.window, fcn.stride, offset_xy[0])
    out: np.ndarray | None = None
    for block, maps in score_blocks(detector, pixels, scale, offset_xy, cfg):
        if out is None:
            out = np.zeros((rows, cols, maps.shape[2]), np.float32)
        out[block.row0 : block.row0 + block.rows, block.col0 : block.col0 + block.cols] = maps
    return out if out is not None else np.zeros((rows, cols, 0), np.float32)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class SceneStats:
    """What scoring one scene did.

    Attributes:
        scales: scale factors scored.
        skipped_scales: scale factors skipped because the resized scene is smaller than the window.
        cells: windows scored.
        candidates: cells above threshold before NMS.
        nodata_blocks: blocks not scored because every scene pixel they read is nodata.
    """

    scales: list[float] = field(default_factory=list)
    skipped_scales: list[float] = field(default_factory=list)
    cells: int = 0
    candidates: int = 0
    nodata_blocks: int = 0


def scene_scales(detector: SlidingDetector, cfg: SlidingConfig) -> list[float]:
    """The pyramid's scale factors for this detector and config."""
    if cfg.scales:
        return [float(s) for s in cfg.scales]
    return pyramid_scales(cfg.object_size_px, detector.fcn.window, detector.context, cfg.scale_step)


def scene_merger(cfg: SlidingConfig, name: str | None = None) -> Merger:
    """The merger of candidates: ``name`` (default ``cfg.merge``) over IoU, torchvision's order.

    ``cfg.iou`` and ``cfg.merge_iou`` are ``>`` thresholds (torchvision's); the merger gets the ``>=``
    thresholds that decide every pair alike (:func:`tiledet.detect.merge.above`).
    """
    name = cfg.merge if name is None else name
    return get_merger(name, "iou", above(cfg.iou), **_merge_options(cfg, name))


def _merge_options(cfg: SlidingConfig, name: str) -> dict[str, Any]:
    options: dict[str, Any] = {"class_agnostic": cfg.class_agnostic, "order": "torchvision"}
    if name == "cluster-mean":
        options["cluster_threshold"] = above(cfg.merge_iou)
    return options


def _merge(candidates: Boxes, cfg: SlidingConfig, grids: int) -> Boxes:
    """The merged candidates (``support_score``: ranked by cluster mass over ``grids`` grids scored)."""
    if cfg.merge == "cluster-mean" and cfg.support_score:
        found, mass = cluster_mean(candidates, "iou", above(cfg.iou), **_merge_options(cfg, cfg.merge))
        return _by_support(found, mass, grids)
    return scene_merger(cfg)(candidates)


def detect_scene(
    detector: SlidingDetector, image_or_scene: Pixels, cfg: SlidingConfig
) -> tuple[Boxes, SceneStats]:
    """Detections of one scene.

    Args:
        detector: the detector.
        image_or_scene: (H, W, 3) uint8 RGB scene, or a :class:`~tiledet.scene_base.Scene`: every block
            is then resampled from window reads of it (memory grows with the block, not the scene),
            the next batches read ahead while the network scores (``cfg.read_ahead``), and blocks whose
            scene pixels are all nodata are not scored (``stats.nodata_blocks``).
        cfg: settings.

    Returns:
        ``(boxes, stats)``: boxes in scene pixels (clipped to the scene) with scores, most confident
        first, at most ``cfg.max_det``.

    Raises:
        InputError: a window of the scene cannot be read (truncated or corrupt file).
    """
    fcn, k = detector.fcn, detector.num_classes
    size_wh = size_of(image_or_scene)
    thresholds = class_threshold_array(detector, cfg)
    stats, found = SceneStats(), _Candidates(cfg, size_wh)
    levels: list[Level] = []
    for scale in scene_scales(detector, cfg):
        if min(resized_size(size_wh, scale)) < fcn.window:
            stats.skipped_scales.append(scale)
            continue
        stats.scales.append(scale)
        m = cfg.stride_multiple
        levels += [(scale, (round(dx * fcn.stride / m), round(dy * fcn.stride / m)))
                   for dy in range(m) for dx in range(m)]  # fmt: skip
    for scale, block, maps in _scored(detector, image_or_scene, levels, cfg, stats):
        stats.cells += block.rows * block.cols
        box = maps[..., k : k + 4] if detector.box_head else None
        found.add(*decode_cells(
            _softmax(maps[..., :k]), box, (block.x0, block.y0), fcn.stride, fcn.window, scale,
            detector.context, thresholds,
        ))  # fmt: skip
    stats.candidates = found.count
    return found.merged(len(stats.scales) * cfg.stride_multiple**2), stats


class _Candidates:
    """Candidate boxes of one scene, compacted by NMS when they pile up (:data:`_COMPACT_AT`)."""

    def __init__(self, cfg: SlidingConfig, size_wh: tuple[int, int]) -> None:
        self.cfg, self.size_wh = cfg, size_wh
        self.parts: list[Boxes] = []
        self.pending = self.count = 0

    def add(self, xyxy: np.ndarray, scores: np.ndarray, ids: np.ndarray) -> None:
        if len(scores):
            self.parts.append(Boxes(xyxy, ids, scores).clip(self.size_wh))
            self.pending += len(scores)
            self.count += len(scores)
        if self.pending > _COMPACT_AT:
            self.parts, self.pending = [scene_merger(self.cfg, "nms")(Boxes.concat(self.parts))], 0

    def merged(self, grids: int) -> Boxes:
        """The merged candidates, at most ``cfg.max_det``, most confident first."""
        if not self.parts:
            return Boxes.empty(with_scores=True)
        return _merge(Boxes.concat(self.parts), self.cfg, grids)[: self.cfg.max_det]


def _by_support(found: Boxes, mass: np.ndarray, grids: int) -> Boxes:
    """Score = 1 - exp(-cluster mass / grids): objects supported by many windows rank first."""
    scores = 1.0 - np.exp(-mass / max(1, grids) * 4.0)
    order = np.argsort(-scores, kind="stable")
    return Boxes(found.xyxy[order], found.class_ids[order], scores[order])

"""The central data type: axis-aligned boxes in absolute ``xyxy`` pixel coordinates.

Every reader produces :class:`Boxes`, every writer consumes them. Normalised YOLO values and COCO
``xywh`` exist only inside :mod:`tiledet.formats`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def _as_float_array(values: object, shape_desc: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        array = array.reshape(0, 4) if shape_desc == "xyxy" else array.reshape(0)
    return array


#: Overlap measures of two boxes: intersection over union, intersection over the smaller box's area.
OVERLAP_METRICS = ("iou", "ios")


def _paired_areas(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(intersection, area of a, area of b)`` of matching rows, each (N,) float64."""
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    wh = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0, None)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    return wh[:, 0] * wh[:, 1], area_a, area_b


def paired_iou_xyxy(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """IoU of matching rows: ``a[i]`` with ``b[i]`` (not all pairs, see :func:`iou_xyxy`).

    Args:
        a_xyxy, b_xyxy: (N, 4) boxes, same units.

    Returns:
        (N,) float64 IoU in [0, 1]; 0 where the union is empty. Negative widths count as 0 area.
    """
    inter, area_a, area_b = _paired_areas(a_xyxy, b_xyxy)
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def paired_ios_xyxy(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Intersection over the smaller box's area of matching rows (SAHI's IoS).

    Args:
        a_xyxy, b_xyxy: (N, 4) boxes, same units.

    Returns:
        (N,) float64 IoS in [0, 1]; 0 where the smaller box has no area.
    """
    inter, area_a, area_b = _paired_areas(a_xyxy, b_xyxy)
    smaller = np.minimum(area_a, area_b)
    return np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)


def paired_overlap_xyxy(a_xyxy: np.ndarray, b_xyxy: np.ndarray, metric: str) -> np.ndarray:
    """IoU or IoS of matching rows (symmetric in ``a`` and ``b``, bit for bit).

    Args:
        a_xyxy, b_xyxy: (N, 4) boxes, same units.
        metric: ``"iou"`` or ``"ios"`` (:data:`OVERLAP_METRICS`).

    Returns:
        (N,) float64 overlap in [0, 1]; 0 where the denominator is 0.

    Raises:
        ValueError: on another metric.
    """
    if metric == "iou":
        return paired_iou_xyxy(a_xyxy, b_xyxy)
    if metric == "ios":
        return paired_ios_xyxy(a_xyxy, b_xyxy)
    raise ValueError(f"overlap metric must be one of {', '.join(OVERLAP_METRICS)}, got {metric!r}")


def iou_xyxy(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two sets of ``xyxy`` boxes (numpy, float64, memory-frugal).

    Args:
        a_xyxy: (N, 4) boxes in pixels.
        b_xyxy: (M, 4) boxes in pixels.

    Returns:
        (N, M) float64 IoU in [0, 1]; 0 where the union is empty (two zero-area boxes).
        Peak memory is about four (N, M) float64 arrays.
    """
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    inter = np.maximum(a[:, None, 0], b[None, :, 0])
    iw = np.minimum(a[:, None, 2], b[None, :, 2])
    np.subtract(iw, inter, out=iw)
    np.maximum(iw, 0.0, out=iw)
    ih = np.maximum(a[:, None, 1], b[None, :, 1])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    np.subtract(y1, ih, out=ih)
    del y1
    np.maximum(ih, 0.0, out=ih)
    np.multiply(iw, ih, out=inter)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = np.add(area_a[:, None], area_b[None, :], out=ih)
    np.subtract(union, inter, out=union)
    iw.fill(0.0)
    return np.divide(inter, union, out=iw, where=union > 0)


@dataclass(frozen=True, eq=False)
class Boxes:
    """N axis-aligned boxes of one image.

    Attributes:
        xyxy: (N, 4) float64 array of ``x_min, y_min, x_max, y_max`` in pixels, with
            ``x_min <= x_max`` and ``y_min <= y_max``; all finite.
        class_ids: (N,) int64 array of contiguous class indices (>= 0).
        scores: optional (N,) float64 array of confidences (detections); None for ground truth.
    """

    xyxy: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = _as_float_array(self.xyxy, "xyxy")
        class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"Boxes.xyxy must have shape (N, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        if class_ids.shape != (n,):
            raise ValueError(f"Boxes.class_ids must have shape ({n},), got {class_ids.shape}")
        if not np.isfinite(xyxy).all():
            raise ValueError("Boxes.xyxy contains NaN or infinite values")
        if n and ((xyxy[:, 2] < xyxy[:, 0]).any() or (xyxy[:, 3] < xyxy[:, 1]).any()):
            raise ValueError("Boxes.xyxy must satisfy x_min <= x_max and y_min <= y_max")
        if n and class_ids.min() < 0:
            raise ValueError("Boxes.class_ids must be >= 0")
        scores = self.scores
        if scores is not None:
            scores = _as_float_array(scores, "scores").reshape(-1)
            if scores.shape != (n,):
                raise ValueError(f"Boxes.scores must have shape ({n},), got {scores.shape}")
            if not np.isfinite(scores).all():
                raise ValueError("Boxes.scores contains NaN or infinite values")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "class_ids", class_ids)
        object.__setattr__(self, "scores", scores)

    @classmethod
    def empty(cls, with_scores: bool = False) -> Boxes:
        """Zero boxes (with an empty score array when ``with_scores``)."""
        return cls(np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0) if with_scores else None)

    @classmethod
    def concat(cls, parts: Sequence[Boxes]) -> Boxes:
        """Concatenate boxes; scores are kept only when every part has them."""
        if not parts:
            return cls.empty()
        with_scores = all(p.scores is not None for p in parts)
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.class_ids for p in parts]),
            np.concatenate([p.scores for p in parts]) if with_scores else None,  # type: ignore[misc]
        )

    @classmethod
    def from_ultralytics(cls, result: Any) -> Boxes:
        """Boxes of one Ultralytics detection result (``model(img)[0]``, or its ``.boxes``).

        Args:
            result: an ``ultralytics.engine.results.Results`` with axis-aligned ``boxes`` (not OBB),
                or its ``Boxes`` object; tensors may live on any device.

        Returns:
            Boxes in the result's image pixels (``xyxy``), ``class_ids`` from ``cls`` and ``scores``
            from ``conf``.

        Raises:
            ValueError: when ``result`` holds no axis-aligned boxes (e.g. an OBB or classify result).
        """
        boxes = result.boxes if hasattr(result, "boxes") else result
        if boxes is None or not all(hasattr(boxes, k) for k in ("xyxy", "cls", "conf")):
            raise ValueError(
                "Boxes.from_ultralytics needs a detection result with axis-aligned boxes "
                f"(xyxy, cls, conf); got {type(result).__name__}"
            )

        def to_numpy(values: Any) -> np.ndarray:
            if hasattr(values, "detach"):
                values = values.detach().cpu().numpy()
            return np.asarray(values)

        conf = boxes.conf
        return cls(
            to_numpy(boxes.xyxy).astype(np.float64).reshape(-1, 4),
            np.rint(to_numpy(boxes.cls)).astype(np.int64).reshape(-1),
            None if conf is None else to_numpy(conf).astype(np.float64).reshape(-1),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: object) -> Boxes:
        """Select boxes by boolean mask, integer array or slice; always returns :class:`Boxes`."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 if int(index) != -1 else None)
        return Boxes(
            self.xyxy[index],  # type: ignore[index]
            self.class_ids[index],  # type: ignore[index]
            None if self.scores is None else self.scores[index],  # type: ignore[index]
        )

    @property
    def width(self) -> np.ndarray:
        """(N,) box widths in pixels."""
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def height(self) -> np.ndarray:
        """(N,) box heights in pixels."""
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    @property
    def area(self) -> np.ndarray:
        """(N,) box areas in square pixels."""
        return self.width * self.height

    def clip(self, size_wh: tuple[float, float]) -> Boxes:
        """Clip every box to ``[0, W] x [0, H]``; boxes entirely outside become zero-sized."""
        w, h = size_wh
        xyxy = self.xyxy.copy()
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0.0, float(w))
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0.0, float(h))
        return Boxes(xyxy, self.class_ids, self.scores)

    def translate(self, dx: float, dy: float) -> Boxes:
        """Shift every box by ``(dx, dy)`` pixels (e.g. from tile to scene coordinates)."""
        return Boxes(self.xyxy + np.array([dx, dy, dx, dy], dtype=np.float64), self.class_ids, self.scores)

    def min_side_at_least(self, min_side_px: float) -> np.ndarray:
        """(N,) bool mask of boxes whose width and height are both ``>= min_side_px``."""
        return (self.width >= min_side_px) & (self.height >= min_side_px)

    def equals(self, other: Boxes, atol: float = 0.0) -> bool:
        """True when both hold the same boxes in the same order (coordinates within ``atol``)."""
        if len(self) != len(other) or (self.scores is None) != (other.scores is None):
            return False
        same_scores = self.scores is None or np.allclose(self.scores, other.scores, atol=atol, rtol=0)  # type: ignore[arg-type]
        return bool(
            np.allclose(self.xyxy, other.xyxy, atol=atol, rtol=0)
            and np.array_equal(self.class_ids, other.class_ids)
            and same_scores
        )

    def iou(self, other: Boxes) -> np.ndarray:
        """Pairwise intersection over union with ``other`` (classes are ignored).

        Returns:
            (N, M) float64 array, ``N = len(self)``, ``M = len(other)``; 0 where the union is empty.
        """
        return iou_xyxy(self.xyxy, other.xyxy)

    def nms(self, iou: float, class_agnostic: bool = False) -> Boxes:
        """Non-maximum suppression (``torchvision.ops.batched_nms``; torch imported on first use).

        A box is dropped when a higher-scoring kept box of the same class (of any class when
        ``class_agnostic``) overlaps it with IoU strictly greater than ``iou``.

        Args:
            iou: IoU threshold in [0, 1].
            class_agnostic: suppress across classes too.

        Returns:
            The kept boxes, in decreasing score order.

        Raises:
            ValueError: when the boxes have no scores or ``iou`` is outside [0, 1].
        """
        if self.scores is None:
            raise ValueError("Boxes.nms needs scores (detections); these boxes have none")
        if not 0.0 <= float(iou) <= 1.0:
            raise ValueError(f"Boxes.nms: iou must be in [0, 1], got {iou}")
        if len(self) == 0:
            return self
        import torch
        from torchvision.ops import batched_nms

        groups = np.zeros(len(self), np.int64) if class_agnostic else self.class_ids
        keep = batched_nms(
            torch.from_numpy(self.xyxy),
            torch.from_numpy(self.scores),
            torch.from_numpy(groups),
            float(iou),
        )
        return self[keep.numpy()]

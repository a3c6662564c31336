"""Draw boxes and class names onto an image: ground truth solid, detections dashed (or any mix).

Boxes are drawn *inside* their pixel extent: a box ``xyxy = (10, 20, 30, 40)`` covers pixel columns
10..29 and rows 20..39, and a line of ``thickness`` t fills the outermost t pixels of that area, so
drawn outlines never hide the neighbouring pixels and can be checked exactly. Labels use OpenCV's
built-in Hershey font (nothing is downloaded).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tiledet.boxes import Boxes

#: Fixed RGB palette (Tableau 20 order); class ``i`` gets ``PALETTE[i % len(PALETTE)]``.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
)  # fmt: skip

STYLES = ("solid", "dashed")
_DASH_ON_PX = 6
_DASH_OFF_PX = 4


def class_color(class_id: int) -> tuple[int, int, int]:
    """RGB colour of a class: a fixed palette entry, the same in every image and run."""
    return PALETTE[int(class_id) % len(PALETTE)]


def _pixel_extent(xyxy: np.ndarray, size_wh: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Inclusive pixel rectangle ``(c0, r0, c1, r1)`` a box covers, clipped; None when outside."""
    w, h = size_wh
    c0, r0 = int(np.floor(xyxy[0])), int(np.floor(xyxy[1]))
    c1 = max(int(np.ceil(xyxy[2])) - 1, c0)
    r1 = max(int(np.ceil(xyxy[3])) - 1, r0)
    if c1 < 0 or r1 < 0 or c0 >= w or r0 >= h:
        return None
    return max(c0, 0), max(r0, 0), min(c1, w - 1), min(r1, h - 1)


def _dash_mask(length: int) -> np.ndarray:
    """(length,) bool: True where a dashed line is drawn."""
    return (np.arange(length) % (_DASH_ON_PX + _DASH_OFF_PX)) < _DASH_ON_PX


def _draw_outline(
    image: np.ndarray,
    rect: tuple[int, int, int, int],
    color: tuple[int, int, int],
    thickness: int,
    dashed: bool,
) -> None:
    """Paint the outermost ``thickness`` pixels of the inclusive rectangle ``rect`` in place."""
    c0, r0, c1, r1 = rect
    t = max(1, int(thickness))
    col = np.asarray(color, dtype=np.uint8)
    width, height = c1 - c0 + 1, r1 - r0 + 1
    across = _dash_mask(width) if dashed else np.ones(width, bool)
    down = _dash_mask(height) if dashed else np.ones(height, bool)
    cols = np.arange(c0, c1 + 1)[across]
    rows = np.arange(r0, r1 + 1)[down]
    for r in range(r0, min(r0 + t, r1 + 1)):  # top edge
        image[r, cols] = col
    for r in range(max(r1 - t + 1, r0), r1 + 1):  # bottom edge
        image[r, cols] = col
    for c in range(c0, min(c0 + t, c1 + 1)):  # left edge
        image[rows, c] = col
    for c in range(max(c1 - t + 1, c0), c1 + 1):  # right edge
        image[rows, c] = col


def _label_text(class_names: Sequence[str], class_id: int, score: float | None) -> str:
    name = class_names[class_id] if 0 <= class_id < len(class_names) else str(class_id)
    return name if score is None else f"{name} {score:.2f}"


def label_scale(size_wh: tuple[int, int]) -> float:
    """Font scale of the labels: 0.4 for a 1000 px image, proportional, within [0.25, 0.6]."""
    return float(np.clip(0.4 * min(size_wh) / 1000.0, 0.25, 0.6))


def _draw_label(
    image: np.ndarray, text: str, rect: tuple[int, int, int, int], color: tuple[int, int, int], scale: float
) -> None:
    """Write ``text`` on a filled box in ``color`` just above the box (inside it at the image top)."""
    import cv2

    font, weight = cv2.FONT_HERSHEY_SIMPLEX, 1
    (tw, th), baseline = cv2.getTextSize(text, font, scale, weight)
    c0, r0 = rect[0], rect[1]
    top = r0 - th - baseline - 2 if r0 - th - baseline - 2 >= 0 else r0
    bottom = min(top + th + baseline + 2, image.shape[0] - 1)
    right = min(c0 + tw + 2, image.shape[1] - 1)
    cv2.rectangle(image, (c0, top), (right, bottom), color, thickness=-1)
    text_rgb = (0, 0, 0) if sum(color) > 382 else (255, 255, 255)
    cv2.putText(image, text, (c0 + 1, bottom - baseline), font, scale, text_rgb, weight, cv2.LINE_AA)


def draw_boxes(
    image_rgb_uint8: np.ndarray,
    boxes: Boxes,
    class_names: Sequence[str],
    color: tuple[int, int, int] | None = None,
    thickness: int = 2,
    label: bool = True,
    style: str = "solid",
) -> np.ndarray:
    """Draw boxes (and their class names, and scores when present) onto a copy of an image.

    Args:
        image_rgb_uint8: (H, W, 3) uint8 RGB image (a (H, W) grey image is expanded to RGB); not modified.
        boxes: boxes in absolute ``xyxy`` pixels of this image; with ``scores`` the label shows them.
        class_names: names indexed by ``boxes.class_ids`` (an id beyond the list is shown as its number).
        color: one RGB colour for every box; None picks each class's colour from :data:`PALETTE`.
        thickness: outline width in pixels, drawn inside each box's pixel extent.
        label: write ``name`` (or ``name 0.87``) on a filled tag above each box, in a font scaled to
            the image size (:func:`label_scale`).
        style: ``"solid"`` (ground truth, by convention) or ``"dashed"`` (detections).

    Returns:
        A new (H, W, 3) uint8 RGB image.

    Raises:
        ValueError: on an image that is not (H, W, 3) / (H, W) uint8, or an unknown style.
    """
    image = np.asarray(image_rgb_uint8)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"draw_boxes needs an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    out = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image.copy()
    size_wh = (out.shape[1], out.shape[0])
    rects = [_pixel_extent(xyxy, size_wh) for xyxy in boxes.xyxy]
    colors = [color if color is not None else class_color(cid) for cid in boxes.class_ids]
    for rect, col in zip(rects, colors, strict=True):
        if rect is not None:
            _draw_outline(out, rect, tuple(int(v) for v in col), thickness, style == "dashed")
    if label:  # labels after every outline so no outline crosses a label
        scores = boxes.scores
        for i, (rect, col) in enumerate(zip(rects, colors, strict=True)):
            if rect is not None:
                score = None if scores is None else float(scores[i])
                text = _label_text(class_names, int(boxes.class_ids[i]), score)
                _draw_label(out, text, rect, tuple(int(v) for v in col), label_scale(size_wh))
    return out

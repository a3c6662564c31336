"""YOLO (Ultralytics) detection labels: one ``<stem>.txt`` per image, lines ``cls cx cy w h``.

``cx cy w h`` are the box centre and size divided by the image width/height, so every value of a box
inside its image lies in ``[0, 1]``. The centre is ``cx = (x_min + x_max) / 2 / W`` (a widely copied
converter wrongly uses ``(x_max - x_min) / 2``). Because the values are normalised, the reader learns
every image's size from its header.

Reading whole datasets (``data.yaml`` or a label folder) is :mod:`tiledet.formats.yolo_dataset`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tiledet.boxes import Boxes
from tiledet.ioutil import IMAGE_SUFFIXES, atomic_write_text, atomic_write_yaml

#: Normalised values may exceed [0, 1] by this much (float rounding in other writers) before a line
#: is reported as malformed.
NORM_TOLERANCE = 1e-3

#: Image suffixes searched in image folders (lower case).
YOLO_IMAGE_SUFFIXES = (*IMAGE_SUFFIXES, ".dng", ".mpo", ".pfm", ".heic")


def normalize_xyxy(xyxy: np.ndarray, size_wh: tuple[float, float]) -> np.ndarray:
    """Absolute pixel boxes to normalised YOLO values.

    Args:
        xyxy: (N, 4) ``x_min, y_min, x_max, y_max`` in pixels.
        size_wh: ``(width, height)`` of the image in pixels.

    Returns:
        (N, 4) float64 ``cx, cy, w, h`` divided by the image width/height (in ``[0, 1]`` for boxes
        inside the image).
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    scale = np.array([size_wh[0], size_wh[1]], dtype=np.float64)
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2.0 / scale
    size = (xyxy[:, 2:] - xyxy[:, :2]) / scale
    return np.concatenate([centre, size], axis=1)


def denormalize_cxcywh(cxcywh: np.ndarray, size_wh: tuple[float, float]) -> np.ndarray:
    """Normalised YOLO ``cx, cy, w, h`` (N, 4) to absolute pixel ``xyxy`` (N, 4) float64."""
    cxcywh = np.asarray(cxcywh, dtype=np.float64).reshape(-1, 4)
    scale = np.array([size_wh[0], size_wh[1]], dtype=np.float64)
    centre = cxcywh[:, :2] * scale
    half = cxcywh[:, 2:] * scale / 2.0
    return np.concatenate([centre - half, centre + half], axis=1)


def format_label_text(boxes: Boxes, size_wh: tuple[float, float]) -> str:
    """The content of one YOLO label file.

    Returns:
        One ``cls cx cy w h`` line per box (6 decimals, each line ``\\n``-terminated); ``""`` for no boxes.
    """
    if len(boxes) == 0:
        return ""
    values = normalize_xyxy(boxes.xyxy, size_wh)
    values[values == 0.0] = 0.0  # no "-0.000000"
    rows = zip(boxes.class_ids.tolist(), *values.T.tolist(), strict=True)
    return "".join(map("%d %.6f %.6f %.6f %.6f\n".__mod__, rows))


def write_label_file(path: str | Path, boxes: Boxes, size_wh: tuple[float, float]) -> None:
    """Write :func:`format_label_text` of ``boxes`` to ``path`` atomically (an empty file for no boxes)."""
    atomic_write_text(path, format_label_text(boxes, size_wh))


def write_data_yaml(out_dir: Path, splits: Mapping[str, str], class_names: Sequence[str]) -> Path:
    """Write ``out_dir/data.yaml`` for Ultralytics.

    Args:
        out_dir: dataset root; stored as the absolute ``path``.
        splits: split name -> images folder relative to ``out_dir`` (e.g. ``{"train": "images/train"}``).
        class_names: class names; written as ``names: {index: name}``.

    Returns:
        The path of the written file.
    """
    out_dir = Path(out_dir)
    data: dict[str, object] = {"path": str(out_dir.resolve())}
    data.update({str(k): str(v) for k, v in splits.items()})
    data["names"] = {i: str(n) for i, n in enumerate(class_names)}
    path = out_dir / "data.yaml"
    atomic_write_yaml(path, data)
    return path


# ----------------------------------------------------------------------------------------------------
# parsing


def _parse_line(tokens: list[str]) -> tuple[int, tuple[float, float, float, float]] | str:
    """``(class, cxcywh)`` of one split line, or the reason it is malformed."""
    n = len(tokens)
    if n != 5 and (n < 7 or n % 2 == 0):
        return f"expected 5 values 'cls cx cy w h' (or a polygon), got {n}"
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not _is_float(t))
        return f"not a number: {bad!r}"
    if not all(math.isfinite(v) for v in values):
        return "value is NaN or infinite"
    cls = values[0]
    if cls < 0 or cls != int(cls):
        return f"class {tokens[0]!r} is not a non-negative integer"
    if n == 5:
        cx, cy, w, h = values[1:]
        if w < 0 or h < 0:
            return f"negative size w={tokens[3]} h={tokens[4]}"
        coords = values[1:]
    else:
        xs, ys = values[1::2], values[2::2]
        coords = [min(xs), min(ys), max(xs), max(ys)]
        cx, cy, w, h = (
            (coords[0] + coords[2]) / 2,
            (coords[1] + coords[3]) / 2,
            coords[2] - coords[0],
            coords[3] - coords[1],
        )
    if min(coords) < -NORM_TOLERANCE or max(coords) > 1 + NORM_TOLERANCE:
        return "normalised value outside [0, 1]"
    return int(cls), (cx, cy, w, h)


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def parse_label_lines(
    text: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """Parse the text of one YOLO label file, keeping line numbers.

    Returns:
        ``(class_ids, cxcywh, line_numbers, bad)``: (N,) int64 class indices, (N, 4) float64 normalised
        ``cx, cy, w, h``, (N,) int64 1-based line numbers, and ``(line_number, reason)`` of every
        malformed line. Blank lines are skipped; CRLF is tolerated.
    """
    classes: list[int] = []
    values: list[tuple[float, float, float, float]] = []
    lines: list[int] = []
    bad: list[tuple[int, str]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        parsed = _parse_line(tokens)
        if isinstance(parsed, str):
            bad.append((line_no, parsed))
            continue
        classes.append(parsed[0])
        values.append(parsed[1])
        lines.append(line_no)
    return (
        np.asarray(classes, dtype=np.int64),
        np.asarray(values, dtype=np.float64).reshape(-1, 4),
        np.asarray(lines, dtype=np.int64),
        bad,
    )


def parse_label_text(text: str) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """Parse the text of one YOLO label file.

    Returns:
        ``(class_ids, cxcywh, bad)``: (N,) int64 class indices, (N, 4) float64 normalised
        ``cx, cy, w, h`` and ``(line_number, reason)`` of every malformed line.
    """
    class_ids, cxcywh, _, bad = parse_label_lines(text)
    return class_ids, cxcywh, bad


# ----------------------------------------------------------------------------------------------------
# reading


def label_path_for(image_path: str | Path) -> Path:
    """The label file of an image, the Ultralytics way: last ``/images/`` -> ``/labels/``, suffix .txt."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    text = str(image_path)
    return Path(sb.join(text.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")

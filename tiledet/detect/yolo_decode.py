"""YOLO network input and output, as Ultralytics' predictor does them: letterbox padding of equal-size
windows into one batch, and decoding raw outputs into boxes (``non_max_suppression``).

Shared by the sliced predictor (:mod:`tiledet.detect.yolo_predict`) and the exported engines'
agreement check (:mod:`tiledet.detect.engines`); imports neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tiledet.boxes import Boxes
from tiledet.scene_base import Scene

#: Ultralytics' letterbox padding value.
PAD_VALUE = 114
#: Ultralytics' cap on candidate boxes per image before NMS (``max_nms``).
MAX_NMS = 30000


@dataclass(frozen=True)
class Letterbox:
    """Padding of one window size: the network input is ``(in_h, in_w)``, the window at ``(top, left)``."""

    in_h: int
    in_w: int
    top: int
    left: int

    @classmethod
    def for_window(cls, window_wh: tuple[int, int], stride: int) -> Letterbox:
        """Ultralytics' ``LetterBox(auto=True, scaleup=False, center=True)`` of a window not larger than
        the network input: pad to the next multiple of ``stride``, half on each side."""
        w, h = window_wh
        dw, dh = (-w) % stride / 2, (-h) % stride / 2
        top, bottom = round(dh - 0.1), round(dh + 0.1)
        left, right = round(dw - 0.1), round(dw + 0.1)
        return cls(h + top + bottom, w + left + right, top, left)


def fill_batch(
    image_rgb: np.ndarray | Scene, windows: np.ndarray, box: Letterbox, out: np.ndarray | None = None
) -> np.ndarray:
    """Copy windows of a scene into a padded (B, in_h, in_w, 3) uint8 RGB batch.

    Args:
        image_rgb: (H, W, 3) uint8 RGB scene, or a :class:`~tiledet.scene_base.Scene` (each window read
            from it: ``scene[y0:y1, x0:x1]``).
        windows: (B, 4) int windows ``x0, y0, x1, y1`` of equal size.
        box: the padding of that window size.
        out: a reusable buffer of at least B images of that shape (padding already filled or rewritten).
    """
    n = len(windows)
    batch = out[:n] if out is not None and len(out) >= n else np.empty((n, box.in_h, box.in_w, 3), np.uint8)
    padded = (box.in_h, box.in_w) != (int(windows[0, 3] - windows[0, 1]), int(windows[0, 2] - windows[0, 0]))
    if padded:
        batch.fill(PAD_VALUE)
    for i, (x0, y0, x1, y1) in enumerate(windows.tolist()):
        batch[i, box.top : box.top + (y1 - y0), box.left : box.left + (x1 - x0)] = image_rgb[y0:y1, x0:x1]
    return batch


def decode_predictions(
    raw: object, conf: float, iou: float, max_det: int, end2end: bool = False
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Turn raw network outputs into boxes per image, as Ultralytics' ``non_max_suppression`` does.

    Args:
        raw: (B, 4 + nc, A) torch tensor of ``cx, cy, w, h`` and class scores (network-input pixels),
            or (B, K, 6) rows ``x0, y0, x1, y1, score, class`` for end-to-end heads.
        conf: keep boxes whose best class score is ``> conf``.
        iou: class-aware NMS IoU.
        max_det: most boxes per image.
        end2end: the outputs are already final (no NMS).

    Returns:
        Per image ``(xyxy (N, 4) float64, class_ids (N,) int64, scores (N,) float64)`` (the order of
        :class:`~tiledet.boxes.Boxes`' arguments), highest score first.
    """
    import torch
    from torchvision.ops import batched_nms

    pred = raw if isinstance(raw, torch.Tensor) else torch.as_tensor(np.asarray(raw))
    pred = pred.float()
    if end2end or pred.shape[-1] == 6:
        out = []
        for p in pred:
            p = p[p[:, 4] > conf][:max_det]
            out.append((p[:, :4].double().cpu().numpy(), p[:, 5].long().cpu().numpy(),
                        p[:, 4].double().cpu().numpy()))
        return out
    pred = pred.transpose(1, 2)  # (B, A, 4 + nc)
    scores, classes = pred[..., 4:].max(dim=2)
    out = []
    for b in range(pred.shape[0]):
        keep = torch.nonzero(scores[b] > conf).view(-1)
        if keep.numel() > MAX_NMS:
            keep = keep[scores[b, keep].argsort(descending=True)[:MAX_NMS]]
        xywh = pred[b, keep, :4]
        xyxy = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], dim=1)
        sc, cl = scores[b, keep], classes[b, keep]
        sel = batched_nms(xyxy, sc, cl, iou)[:max_det]
        out.append((xyxy[sel].double().cpu().numpy(), cl[sel].long().cpu().numpy(),
                    sc[sel].double().cpu().numpy()))
    return out


def to_window_boxes(
    det: tuple[np.ndarray, np.ndarray, np.ndarray], box: Letterbox, window: Sequence[int]
) -> Boxes:
    """Boxes of one window in scene pixels: remove the padding, clip to the window, shift by its origin."""
    xyxy, classes, scores = det
    x0, y0, x1, y1 = (int(v) for v in window)
    xyxy = xyxy - np.array([box.left, box.top, box.left, box.top], np.float64)
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, x1 - x0)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, y1 - y0)
    return Boxes(xyxy + np.array([x0, y0, x0, y0], np.float64), classes, scores)

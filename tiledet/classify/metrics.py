"""Classification metrics from labels and predictions: accuracy, per-class P/R/F1, macro, confusion.

Macro averages run over the classes present in the evaluated labels (support > 0); a class that is
never predicted has precision 0. Pure numpy, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tiledet.boxes import paired_iou_xyxy


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts: row = true class, column = predicted class."""
    labels = np.asarray(labels, np.int64)
    preds = np.asarray(preds, np.int64)
    flat = np.bincount(labels * num_classes + preds, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def classification_metrics(
    labels: np.ndarray, preds: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, macro averages and the confusion matrix.

    Args:
        labels: (N,) true class indices.
        preds: (N,) predicted class indices.
        class_names: C names.

    Returns:
        ``{"n", "accuracy", "macro_precision", "macro_recall", "macro_f1", "per_class": [{"class",
        "precision", "recall", "f1", "support"}...], "confusion": C×C list}``.
    """
    c = len(class_names)
    cm = confusion_matrix(labels, preds, c).astype(np.float64)
    tp = np.diag(cm)
    support = cm.sum(1)
    predicted = cm.sum(0)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    present = support > 0
    n = len(labels)

    def macro(values: np.ndarray) -> float:
        return float(values[present].mean()) if present.any() else 0.0

    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_precision": macro(precision),
        "macro_recall": macro(recall),
        "macro_f1": macro(f1),
        "per_class": [
            {
                "class": str(name),
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        ],
        "confusion": cm.astype(np.int64).tolist(),
    }


def box_iou(pred_xyxy: np.ndarray, true_xyxy: np.ndarray) -> np.ndarray:
    """(N,) IoU of matching rows of two (N, 4) box arrays (predictions clipped to [0, 1])."""
    return paired_iou_xyxy(np.clip(np.asarray(pred_xyxy, np.float64), 0, 1), true_xyxy)

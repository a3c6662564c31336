"""PNG figures of a classifier run (matplotlib, Agg backend): history, confusion matrix, mistakes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tiledet.ioutil import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")


def plot_history(history: Sequence[dict], path: Path) -> None:
    """Loss (left) and accuracy (right) per epoch, train and val, as a PNG."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for split in ("train", "val"):
        ax_loss.plot(epochs, [h[f"{split}_loss"] for h in history], marker=".", label=split)
        ax_acc.plot(epochs, [h[f"{split}_accuracy"] for h in history], marker=".", label=split)
    ax_acc.plot(
        epochs, [h["val_macro_recall"] for h in history], marker=".", ls="--", label="val macro recall"
    )
    for ax, title in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)
    plt.close(fig)


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: Path) -> None:
    """Heat map of the row-normalised confusion matrix (recall per row), counts written in the cells.

    Classes with neither samples nor predictions are left out of the figure (still in the CSV).
    """
    plt = _pyplot()
    cm = np.asarray(confusion, np.float64)
    keep = np.flatnonzero((cm.sum(0) > 0) | (cm.sum(1) > 0))
    if keep.size:
        cm = cm[np.ix_(keep, keep)]
        class_names = [class_names[i] for i in keep]
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    c = len(class_names)
    side = min(max(4.0, 0.45 * c + 2), 30)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    rotation = 0 if c <= 3 else (45 if c <= 12 else 90)
    ax.set_xticks(
        range(c), class_names, rotation=rotation, ha="right" if rotation == 45 else "center", fontsize=8
    )
    ax.set_yticks(range(c), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if c <= 30:
        for i in range(c):
            for j in range(c):
                if cm[i, j]:
                    color = "white" if norm[i, j] > 0.5 else "black"
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of true class")
    _save(fig, path)
    plt.close(fig)


def plot_mistakes(
    images: np.ndarray,
    true: np.ndarray,
    pred: np.ndarray,
    confidence: np.ndarray,
    class_names: Sequence[str],
    path: Path,
) -> None:
    """Grid of mistakes (already sorted, most confident first), titled ``true -> pred (p)``."""
    plt = _pyplot()
    n = len(images)
    cols = min(8, max(n, 1))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(images[k])
            ax.set_title(
                f"{class_names[true[k]]}\n→ {class_names[pred[k]]} ({confidence[k]:.2f})", fontsize=6
            )
    if n == 0:
        axes[0, 0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    _save(fig, path)
    plt.close(fig)

"""Figures of evaluation runs: precision-recall curves at IoU 0.5 and per-class AP50 bars.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend
switch, no GUI, no font downloads) and saved atomically as PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tiledet.evaluate.metrics import RunMetrics
from tiledet.ioutil import atomic_path

#: How many of the lowest-AP50 classes the PR figure highlights.
WORST_K = 5


def _figure(size_in: tuple[float, float]) -> object:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size_in, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: object, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")  # type: ignore[attr-defined]
    return path


def worst_classes(run: RunMetrics, k: int = WORST_K) -> list[int]:
    """Indices into ``run.per_class`` of the ``k`` present classes with the lowest AP50 (ties by name)."""
    present = [i for i, c in enumerate(run.per_class) if not np.isnan(c.ap50)]
    present.sort(key=lambda i: (run.per_class[i].ap50, run.per_class[i].name))
    return present[:k]


def plot_pr_curves(run: RunMetrics, path: Path) -> Path:
    """Save the PR curves of one run at IoU 0.5: every class with the mean, and the worst five.

    Args:
        run: evaluated run (uses ``pr_recall`` (R,) and ``pr_precision`` (K, R)).
        path: output PNG file.
    """
    fig = _figure((12.0, 5.0))
    ax_all, ax_worst = fig.subplots(1, 2, sharey=True)  # type: ignore[attr-defined]
    recall, precision = run.pr_recall, run.pr_precision
    valid = ~np.isnan(precision).all(axis=1)
    for row in precision[valid]:
        ax_all.plot(recall, row, color="0.7", linewidth=0.8)
    if valid.any():
        mean = precision[valid].mean(axis=0)
        ax_all.plot(recall, mean, color="C0", linewidth=2.5, label=f"mean (AP50 {run.summary['AP50']:.3f})")
        ax_all.legend(loc="lower left")
    for j, i in enumerate(worst_classes(run)):
        c = run.per_class[i]
        label = f"{c.name} ({c.ap50:.3f})"
        ax_worst.plot(recall, precision[i], color=f"C{j + 1}", linewidth=1.8, label=label)
    if worst_classes(run):
        ax_worst.legend(loc="lower left", fontsize="small", title="AP50")
    ax_all.set_title(f"{run.name}: all {int(valid.sum())} classes, IoU 0.5")
    ax_worst.set_title(f"the {min(WORST_K, int(valid.sum()))} classes with the lowest AP50")
    for ax in (ax_all, ax_worst):
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("recall")
        ax.grid(True, alpha=0.3)
    ax_all.set_ylabel("precision")
    return _save(fig, path)


def plot_ap50_bars(runs: Sequence[RunMetrics], path: Path) -> Path:
    """Save a horizontal bar chart of per-class AP50, runs side by side (classes absent from GT left out).

    Args:
        runs: evaluated runs against the same ground truth (same classes in the same order).
        path: output PNG file.
    """
    classes = [i for i, c in enumerate(runs[0].per_class) if c.num_gt > 0] if runs else []
    n_runs = max(len(runs), 1)
    fig = _figure((9.0, max(3.0, 0.28 * len(classes) * max(1.0, n_runs / 2) + 1.5)))
    ax = fig.add_subplot(1, 1, 1)  # type: ignore[attr-defined]
    y = np.arange(len(classes), dtype=np.float64)
    height = 0.8 / n_runs
    for r, run in enumerate(runs):
        values = [run.per_class[i].ap50 for i in classes]
        ax.barh(y + (r - (n_runs - 1) / 2) * height, values, height=height, label=run.name, color=f"C{r}")
    ax.set_yticks(y, [runs[0].per_class[i].name for i in classes] if runs else [])
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("AP50")
    ax.set_title("per-class AP at IoU 0.5")
    ax.grid(True, axis="x", alpha=0.3)
    if runs:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="run")
    return _save(fig, path)

"""Evaluate a classifier on a split, write the evaluation files, and predict classes of image files.

Evaluation files (in a run folder or ``classify eval --out``): ``metrics.json`` (accuracy, macro
precision/recall/F1, per class, confusion, box IoU with a box head), ``per_class.csv``,
``confusion.csv`` (rows true, columns predicted), ``confusion.png`` and ``mistakes.png`` (the most
confident mistakes, up to :data:`MISTAKES`).
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.classify import load_classifier
from tiledet.classify.config import EvalConfig
from tiledet.classify.data import Samples, decode_samples, discover, read_rgb
from tiledet.classify.loop import Trainer, iter_batches
from tiledet.classify.metrics import box_iou, classification_metrics
from tiledet.classify.plots import plot_confusion, plot_mistakes
from tiledet.device import DEFAULT_DEVICE, resolve_device
from tiledet.errors import ConfigError, InputError
from tiledet.ioutil import IMAGE_SUFFIXES
from tiledet.progress import Progress, as_progress

MISTAKES = 32


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, C)`` logits (float64)."""
    z = logits.astype(np.float64) - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def evaluate_samples(
    trainer: Any, samples: Samples, class_names: Sequence[str], cfg: Any
) -> tuple[dict, np.ndarray]:
    """Metrics of ``trainer.model`` on ``samples`` and its raw outputs ``(N, C [+ 4])``."""

    c = len(class_names)
    batches = iter_batches(samples, np.arange(len(samples)), cfg.batch_size, cfg.size, cfg.workers)
    outputs, loss = trainer.predict(batches)
    metrics = classification_metrics(samples.labels, outputs[:, :c].argmax(1), class_names)
    metrics["loss"] = loss
    if outputs.shape[1] == c + 4:
        has = ~np.isnan(samples.boxes).any(1)
        iou = box_iou(outputs[has, c:], samples.boxes[has]) if has.any() else np.zeros(0)
        metrics["box_mean_iou"] = float(iou.mean()) if iou.size else None
        metrics["box_samples"] = int(has.sum())
    return metrics, outputs


def _csv(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _mistakes(samples: Samples, outputs: np.ndarray, c: int, size: int):
    probs = softmax(outputs[:, :c]) if len(outputs) else np.zeros((0, c))
    pred = probs.argmax(1) if len(probs) else np.zeros(0, np.int64)
    wrong = np.flatnonzero(pred != samples.labels)
    conf = probs[wrong, pred[wrong]] if wrong.size else np.zeros(0)
    top = wrong[np.argsort(-conf, kind="stable")[:MISTAKES]]
    if samples.images is not None:
        images = samples.images[top]
    else:
        images = (
            np.stack([read_rgb(samples.paths[i], size) for i in top])
            if top.size
            else np.zeros((0, size, size, 3), np.uint8)
        )
    return images, samples.labels[top], pred[top], probs[top, pred[top]]


def write_eval_files(
    od: Any, metrics: dict, outputs: np.ndarray, samples: Samples, class_names: Sequence[str], size: int,
    extra: dict | None = None, plots: bool = True,
) -> None:  # fmt: skip
    """Write ``metrics.json``, ``per_class.csv``, ``confusion.csv`` (+ PNGs) into the OutputDir ``od``."""

    names = list(class_names)
    od.write_json("metrics.json", {**(extra or {}), **metrics, "class_names": names})
    rows = [("class", "precision", "recall", "f1", "support")]
    rows += [
        (p["class"], f"{p['precision']:.6f}", f"{p['recall']:.6f}", f"{p['f1']:.6f}", p["support"])
        for p in metrics["per_class"]
    ]
    od.write_text("per_class.csv", _csv(rows))
    cm = np.asarray(metrics["confusion"])
    od.write_text(
        "confusion.csv",
        _csv([["true \\ predicted", *names], *[[n, *r] for n, r in zip(names, cm.tolist(), strict=True)]]),
    )
    if plots:
        plot_confusion(cm, names, od.path("confusion.png"))
        plot_mistakes(*_mistakes(samples, outputs, len(names), size), names, od.path("mistakes.png"))


def _trainer_for(clf: Any, device: Any):

    return Trainer(clf.model, len(clf.class_names), clf.preprocess, device, box_head=clf.box_head)


def run_eval(cfg: EvalConfig, progress: Progress | None = None) -> dict:
    """Evaluate a checkpoint on one split of ``cfg.data``; returns the metrics dict (+ ``split``).

    ``progress``: one phase, ``decoding images`` (one item per image of the split); closed at the end.

    Raises:
        InputError: the data's classes differ from the checkpoint's, or the split is missing/empty.
    """
    from types import SimpleNamespace

    device = resolve_device(cfg.device)
    clf = load_classifier(cfg.checkpoint)
    train_cfg = clf.config
    fractions = float(train_cfg.get("val_fraction", 0.2)), float(train_cfg.get("test_fraction", 0.2))
    data = discover(cfg.data, *fractions, int(train_cfg.get("seed", 0)))
    if data.class_names != clf.class_names:
        raise InputError(
            f"{cfg.checkpoint}: trained on classes {clf.class_names}, but {cfg.data} has {data.class_names}"
        )
    if cfg.split not in data.splits or len(data.splits[cfg.split]) == 0:
        raise ConfigError(
            f"split={cfg.split}: {cfg.data} has no such split (has {', '.join(data.splits)})", field="split"
        )
    progress = as_progress(progress)
    progress.start("decoding images", len(data.splits[cfg.split]))
    with contextlib.closing(progress):
        samples = decode_samples(data.splits[cfg.split], clf.input_size, data.skipped, 2, progress)
    trainer = _trainer_for(clf, device)
    run_cfg = SimpleNamespace(batch_size=cfg.batch_size, size=clf.input_size, workers=0)
    metrics, outputs = evaluate_samples(trainer, samples, clf.class_names, run_cfg)
    metrics = {"split": cfg.split, "skipped": len(data.skipped), **metrics}
    if cfg.out is not None:
        from tiledet.outdir import OutputDir

        sources = [cfg.data, cfg.checkpoint]
        with OutputDir(cfg.out, command="classify eval", force=cfg.force, sources=sources) as od:
            write_eval_files(od, metrics, outputs, samples, clf.class_names, clf.input_size)
    return metrics


def image_files(inputs: Sequence[Path]) -> list[Path]:
    """Image files among ``inputs`` (folders searched recursively, sorted).

    Raises:
        InputError: a missing input, or no images at all.
    """

    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file():
            files.append(item)
        else:
            raise InputError(f"{item}: image or folder not found")
    if not files:
        raise InputError(f"no images found in {', '.join(map(str, inputs))}")
    return files


def predict_images(
    checkpoint: Path, inputs: Sequence[Path], top_k: int = 1, batch_size: int = 256,
    device: str = DEFAULT_DEVICE, progress: Progress | None = None,
) -> tuple[list[str], list[list[Any]], int]:  # fmt: skip
    """Classify image files. Returns ``(header, rows, skipped)`` of the predictions table.

    Columns: ``file``, ``class``, ``confidence``, then ``class_k``/``prob_k`` for k = 2..top_k, then the
    box (``box_x0``..``box_y1``, fraction of the image) when the checkpoint has a box head.
    ``progress``: one phase, ``classifying`` (one item per image file); closed at the end.
    """
    torch_device = resolve_device(device)
    clf = load_classifier(checkpoint)
    if top_k < 1:
        raise ConfigError(f"top_k must be >= 1, got {top_k}", field="top_k")
    k = min(top_k, len(clf.class_names))
    files = image_files(inputs)
    trainer = _trainer_for(clf, torch_device)
    header = ["file", "class", "confidence"] + [
        f"{w}_{j}" for j in range(2, k + 1) for w in ("class", "prob")
    ]
    header += ["box_x0", "box_y0", "box_x1", "box_y1"] if clf.box_head else []
    rows: list[list[Any]] = []
    skipped = 0
    progress = as_progress(progress)
    progress.start("classifying", len(files))
    with contextlib.closing(progress):
        for start in range(0, len(files), batch_size):
            chunk = files[start : start + batch_size]
            decoded = [(f, read_rgb(f, clf.input_size)) for f in chunk]
            skipped += sum(im is None for _, im in decoded)
            rows += _prediction_rows(clf, trainer, [(f, im) for f, im in decoded if im is not None], k)
            progress.advance(len(chunk))
    return header, rows, skipped


def _prediction_rows(
    clf: Any, trainer: Trainer, good: list[tuple[Path, np.ndarray]], k: int
) -> list[list[Any]]:
    """The predictions-table rows of the decoded images ``good`` (``(file, image)`` pairs, may be empty)."""
    import torch

    if not good:
        return []
    c = len(clf.class_names)
    with torch.no_grad():
        x = clf.preprocess(np.stack([im for _, im in good]), device=trainer.device)
        out = trainer.model(x).float().cpu().numpy()
    probs = softmax(out[:, :c])
    rows: list[list[Any]] = []
    for (f, _), p, o in zip(good, probs, out, strict=True):
        order = np.argsort(-p, kind="stable")[:k]
        row: list[Any] = [str(f)]
        for j in order:
            row += [clf.class_names[j], f"{p[j]:.6f}"]
        row += [f"{v:.4f}" for v in np.clip(o[c:], 0, 1)] if clf.box_head else []
        rows.append(row)
    return rows

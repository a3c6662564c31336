"""Tiny inputs for the safety tests: PNG scenes, CSV and COCO label files, a CLI runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tiledet.cli import main


def write_png(path: Path, size_wh: tuple[int, int] = (64, 48), value: int = 90) -> Path:
    """A grey RGB PNG of ``size_wh``; parents created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size_wh
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)
    return path


def write_csv(path: Path, rows: list[tuple[str, float, float, float, float, str]]) -> Path:
    """CSV labels ``image,xmin,ymin,xmax,ymax,class``."""
    lines = ["image,xmin,ymin,xmax,ymax,class"]
    lines += [",".join(str(v) for v in row) for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_coco(path: Path, images: list[tuple[str, int, int]], boxes: list[tuple[int, list[float]]]) -> Path:
    """COCO JSON: ``images`` as ``(file_name, w, h)`` (ids 1..), ``boxes`` as ``(image index, xywh)``."""
    doc = {
        "images": [
            {"id": i + 1, "file_name": n, "width": w, "height": h} for i, (n, w, h) in enumerate(images)
        ],
        "annotations": [
            {"id": k + 1, "image_id": i + 1, "category_id": 1, "bbox": list(b), "area": b[2] * b[3]}
            for k, (i, b) in enumerate(boxes)
        ],
        "categories": [{"id": 1, "name": "car"}],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def dataset(root: Path, names: tuple[str, ...] = ("a.png", "b.png")) -> tuple[Path, Path]:
    """``root/images/<names>`` (64x48) and ``root/labels.csv`` with one 'car' box per image."""
    for k, name in enumerate(names):
        write_png(root / "images" / name, value=40 + 30 * k)
    labels = write_csv(root / "labels.csv", [(n, 5, 5, 25, 20, "18") for n in names])
    return labels, root / "images"


def run_cli(args: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``tiledet ARGS`` in-process; returns (exit code, stderr)."""
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err

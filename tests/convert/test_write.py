"""A YOLO dataset as input: its ``images/<split>/`` names must not break the output's label lookup."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tiledet.convert.config import ConvertConfig
from tiledet.convert.pipeline import convert
from tiledet.convert.write import label_relpath, output_relpath
from tiledet.labels.load import load_dataset


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.png", "a.png"), ("sub/a.png", "sub/a.png"), ("images/val/a.jpg", "val/a.jpg"),
     ("x/images/labels/b.tif", "x/b.tif")],
)
def test_output_relpath_drops_images_and_labels_segments(name, expected):
    assert output_relpath(name) == expected
    assert label_relpath(name) == str(Path(expected).with_suffix(".txt"))


def _yolo_source(root: Path) -> Path:
    for split, n in (("train", 3), ("val", 2)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (40, 20)).save(root / "images" / split / f"{split}{i}.jpg")
            label = root / "labels" / split / f"{split}{i}.txt"
            label.write_text("0 0.5 0.5 0.25 0.5\n1 0.2 0.2 0.1 0.1\n")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames: [car, truck]\n")
    return root / "data.yaml"


@pytest.mark.parametrize("to", ["yolo", "coco"])
def test_yolo_source_converts_to_a_dataset_that_reads_back(tmp_path, to):
    data_yaml = _yolo_source(tmp_path / "src")
    out = tmp_path / "out"
    cfg = ConvertConfig(src=data_yaml, images_dir=tmp_path / "src", out=out, to=to)
    report = convert(cfg)
    assert report.to_dict()["written_boxes"] == 10
    source = load_dataset(data_yaml, "yolo", None).dataset
    back = (
        load_dataset(out / "data.yaml", "yolo", None).dataset
        if to == "yolo"
        else _concat_coco(out)
    )
    assert back.num_boxes == 10
    boxes = lambda ds: sorted(tuple(np.round(b, 6)) for im in ds.images for b in im.boxes.xyxy.tolist())  # noqa: E731
    assert boxes(back) == boxes(source)
    assert not any("images" in p.relative_to(out / "images").parts for p in (out / "images").rglob("*.jpg"))


def _concat_coco(out: Path):
    from tiledet.labels import LabeledDataset

    parts = [
        load_dataset(out / "annotations" / f"{s}.json", "coco", out / "images" / s).dataset
        for s in ("train", "val")
    ]
    return LabeledDataset(parts[0].class_names, parts[0].images + parts[1].images)

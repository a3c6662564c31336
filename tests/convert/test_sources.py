"""Convert straight from a dataset's own layout: kept splits, implied image folders, VisDrone, DOTA
``difficult``, x y w h CSV columns, class files with ids (issue 8)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tiledet.cli import main
from tiledet.convert.config import ConvertConfig, TileConfig
from tiledet.convert.pipeline import convert
from tiledet.errors import ConfigError
from tiledet.labels.load import load_labels


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def _yolo_dataset(root: Path) -> Path:
    """A small YOLO dataset: 3 train and 2 val images, one box each."""
    for split, n in (("train", 3), ("val", 2)):
        for i in range(n):
            img = root / "images" / split / f"{split}{i}.png"
            img.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (40, 30)).save(img)
            lbl = root / "labels" / split / f"{split}{i}.txt"
            lbl.parent.mkdir(parents=True, exist_ok=True)
            lbl.write_text("0 0.5 0.5 0.25 0.2\n")
    data = {"path": str(root), "train": "images/train", "val": "images/val", "names": {0: "car"}}
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    return root / "data.yaml"


def test_yolo_splits_kept_by_default_and_images_implied(tmp_path: Path) -> None:
    src = _yolo_dataset(tmp_path / "src")
    report = convert(ConvertConfig(src=src, images_dir=None, out=tmp_path / "out"))
    assert report.images_per_split == {"train": 3, "val": 2}
    val_labels = sorted(p.name for p in (tmp_path / "out" / "labels" / "val").rglob("*.txt"))
    assert val_labels == ["val0.txt", "val1.txt"]


def test_split_random_resplits_and_keep_needs_declared_splits(tmp_path: Path) -> None:
    src = _yolo_dataset(tmp_path / "src")
    out = tmp_path / "r"
    cfg = ConvertConfig(src=src, images_dir=None, out=out, split="random", val_fraction=0.4, seed=3)
    report = convert(cfg)
    assert report.images_per_split == {"train": 3, "val": 2}  # round(5 * 0.4) = 2 by the random rule
    csv = tmp_path / "l.csv"
    csv.write_text("image,x,y,w,h,class\nimages/train/train0.png,1,2,10,5,car\n")
    with pytest.raises(ConfigError, match="declares no train/val splits"):
        convert(ConvertConfig(src=csv, images_dir=tmp_path / "src", out=tmp_path / "k", split="keep"))
    with pytest.raises(ConfigError, match="images_dir is needed"):
        convert(ConvertConfig(src=csv, images_dir=None, out=tmp_path / "k2"))


def test_csv_xywh_through_the_cli(tmp_path: Path) -> None:
    img = tmp_path / "imgs" / "a.png"
    img.parent.mkdir()
    Image.new("RGB", (100, 50)).save(img)
    csv = tmp_path / "l.csv"
    csv.write_text("file,c1,c2,c3,c4,kind\na.png,10,20,30,10,car\n")
    (tmp_path / "classes.txt").write_text("car\n")
    out = tmp_path / "out"
    code = main(["convert", str(csv), "--images", str(img.parent), "--out", str(out), "--quiet",
                 "--classes", str(tmp_path / "classes.txt"),
                 "--csv-columns", "image=file,x=c1,y=c2,w=c3,h=c4,class=kind", "--val-fraction", "0"])
    assert code == 0
    # x,y,w,h (10,20,30,10) in a 100x50 image -> YOLO cx cy w h = 0.25 0.5 0.3 0.2
    values = [float(v) for v in (out / "labels" / "train" / "a.txt").read_text().split()]
    assert values == pytest.approx([0, 0.25, 0.5, 0.3, 0.2])


def test_xview_class_file_with_ids(tmp_path: Path) -> None:
    img = tmp_path / "imgs" / "a.png"
    img.parent.mkdir()
    Image.new("RGB", (100, 50)).save(img)
    csv = tmp_path / "l.csv"
    csv.write_text("image_id,xmin,ymin,xmax,ymax,type_id\na.png,1,1,20,20,73\na.png,30,5,40,15,18\n")
    classes = tmp_path / "xview_class_labels.txt"
    classes.write_text("18:Small Car\n73:Building\n")
    result = load_labels(csv, "csv", img.parent, str(classes))
    assert result.dataset.class_names == ("Small Car", "Building")
    assert result.dataset.images[0].boxes.class_ids.tolist() == [1, 0] and not result.drops


@pytest.mark.realdata
def test_coco8_yaml_split_kept_without_images_option(realdata: Path, tmp_path: Path) -> None:
    yaml_path = realdata / "coco8" / "coco8.yaml"
    if not yaml_path.is_file():
        pytest.skip(f"{yaml_path} not found")
    out = tmp_path / "c8"
    assert main(["convert", str(yaml_path), "--out", str(out), "--quiet"]) == 0
    report = _report(out)
    assert report["images"] == {"train": 4, "val": 4}
    source_val = {p.stem for p in (realdata / "coco8" / "images" / "val").glob("*.jpg")}
    written_val = {p.stem for p in (out / "labels" / "val").rglob("*.txt")}
    assert written_val == source_val


@pytest.mark.realdata
def test_visdrone_sample_converts_with_implied_images(realdata: Path, tmp_path: Path) -> None:
    ann = realdata / "visdrone" / "annotations"
    if not ann.is_dir():
        pytest.skip(f"{ann} not found")
    out = tmp_path / "vd"
    assert main(["convert", str(ann), "--out", str(out), "--quiet", "--strict"]) == 0  # ignored regions ok
    report = _report(out)
    dropped = report.get("dropped", {})
    assert dropped.get("ignored_region") == 4
    assert sum(report["boxes"].values()) == report["written_boxes"] == 252


@pytest.mark.realdata
def test_dota_skip_difficult(realdata: Path, tmp_path: Path) -> None:
    labels = realdata / "dota_vehicles" / "DOTA_demo" / "labelTxt"
    if not labels.is_dir():
        pytest.skip(f"{labels} not found")
    flagged = sum(
        1 for f in labels.glob("*.txt") for line in f.read_text().splitlines()
        if len(line.split()) == 10 and line.split()[9] == "1"
    )
    kept = load_labels(labels, "dota", labels.parent / "images")
    skipped = load_labels(labels, "dota", labels.parent / "images", skip_difficult=True)
    assert sum(d.reason == "difficult" for d in skipped.drops) == flagged > 0
    # every difficult box is gone (some of them may have been dropped for another reason anyway)
    assert kept.dataset.num_boxes - flagged <= skipped.dataset.num_boxes < kept.dataset.num_boxes


def test_summary_shows_user_counts_not_internals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _yolo_dataset(tmp_path / "src")
    out = tmp_path / "tiles"
    assert main(["convert", str(src), "--out", str(out), "--tile", "20", "--overlap", "0"]) == 0
    err = capsys.readouterr().err
    report = _report(out)
    assert "scenes" in err and "tiles" in err and "boxes written" in err
    assert "box_pieces" not in err and "pairs_below_visibility" not in err and "totals." not in err
    tiles = report["tiling"]["totals"]["tiles"]
    assert re.search(rf"tiles\s*│\s*\d+\s*│\s*\d+\s*│\s*{tiles}\s*│", err), err


def _keys(obj: object, depth: int) -> set[str]:
    """Keys of a report dict and of its nested dicts (not of per-split / per-class mappings)."""
    if not isinstance(obj, dict) or depth == 0:
        return set()
    out = set(obj)
    for key, value in obj.items():
        if key not in ("train", "val", "test", "class_folders", "counts", "drops_by_reason"):
            out |= _keys(value, depth - 1)
    return out


def test_every_report_key_is_documented_in_the_readme(tmp_path: Path) -> None:
    readme = Path(__file__).resolve().parents[2] / "README.md"
    text = readme.read_text(encoding="utf-8")
    section = text[text.index("<!-- section: convert -->") : text.index("<!-- end section: convert -->")]
    src = _yolo_dataset(tmp_path / "src")
    convert(ConvertConfig(src=src, images_dir=None, out=tmp_path / "t", tile=TileConfig(tile=20)))
    report = _report(tmp_path / "t")
    keys = _keys(report, 3) - {"train", "val"}
    keys |= set(report["dropped"])
    missing = sorted(k for k in keys if f"`{k}`" not in section)
    assert not missing, f"report.json keys not documented in README's convert section: {missing}"

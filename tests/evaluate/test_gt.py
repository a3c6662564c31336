"""Ground truth for evaluation: COCO JSON checks, YOLO data.yaml and label sources converted in memory."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from tiledet.boxes import Boxes
from tiledet.errors import FormatError, InputError
from tiledet.evaluate import detections_to_results, evaluate, load_ground_truth
from tiledet.evaluate.config import EvalConfig
from tiledet.evaluate.gt import validate_coco_gt

GT = {
    "images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 40}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 10, 5]}],
    "categories": [{"id": 3, "name": "car"}],
}


def variant(path: str, value: object) -> dict:
    """GT with one field replaced (``path`` like ``annotations.0.bbox``); None removes it."""
    obj = copy.deepcopy(GT)
    *parents, last = path.split(".")
    node: object = obj
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]  # type: ignore[index]
    if value is None:
        del node[last]  # type: ignore[union-attr]
    else:
        node[int(last) if isinstance(node, list) else last] = value  # type: ignore[index]
    return obj


def test_valid_gt_gets_missing_area_filled() -> None:
    obj = validate_coco_gt(copy.deepcopy(GT), "gt.json")
    assert obj["annotations"][0]["area"] == 50.0


@pytest.mark.parametrize(
    ("obj", "error", "message"),
    [
        ([], InputError, "expected a COCO JSON object"),
        (variant("images", None), InputError, "needs a list 'images'"),
        (variant("categories", {}), InputError, "needs a list 'categories'"),
        (variant("categories", []), InputError, "no categories"),
        (variant("annotations", []), InputError, "no annotations, so AP is undefined"),
        (variant("images.0.id", "1"), FormatError, r"images\[0\]: needs an integer 'id'"),
        (variant("images", [GT["images"][0]] * 2), InputError, "'images' ids are not unique"),
        (variant("annotations.0.image_id", 2), FormatError, "annotation 0: image_id 2 is not in 'images'"),
        (variant("annotations.0.category_id", 1), FormatError, "annotation 0: category_id 1 is not"),
        (variant("annotations.0.category_id", True), FormatError, "0: category_id must be .* got True"),
        (variant("annotations.0.category_id", 3.0), FormatError, "0: category_id must be .* got 3.0"),
        (variant("annotations.0.image_id", True), FormatError, "0: image_id must be an integer, got True"),
        (variant("annotations.0.id", False), FormatError, "annotation 0: id must be an integer, got False"),
        (variant("annotations.0.bbox", [True, 2, 3, 4]), FormatError, "annotation 0: bbox"),
        (variant("annotations.0.bbox", [1, 2, 3]), FormatError, "annotation 0: bbox"),
        (variant("annotations.0.bbox", [1, 2, -3, 4]), FormatError, "annotation 0: bbox"),
        (variant("annotations.0.bbox", [1, 2, float("nan"), 4]), FormatError, "annotation 0: bbox"),
        (variant("annotations.0.id", None), FormatError, "annotation 0: needs an 'id'"),
    ],
)
def test_bad_coco_gt_is_a_clear_error(obj: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message) as info:
        validate_coco_gt(obj, "gt.json")
    assert str(info.value).startswith("gt.json")


def test_coco_json_file(tmp_path: Path) -> None:
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(GT))
    gt = load_ground_truth(path)
    assert (gt.kind, gt.num_images, gt.num_annotations) == ("coco", 1, 1)
    assert gt.lookup().category_names == ("car",)


def test_coco_json_errors_name_the_position(tmp_path: Path) -> None:
    path = tmp_path / "gt.json"
    path.write_text('{"images": [\n  1,,\n]}')
    with pytest.raises(InputError, match=r"gt\.json:line 2 column 5: invalid JSON"):
        load_ground_truth(path)
    with pytest.raises(InputError, match="ground truth not found"):
        load_ground_truth(tmp_path / "missing.json")


def _png(path: Path, size_wh: tuple[int, int]) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size_wh).save(path)


def _yolo_dataset(root: Path) -> tuple[Path, dict[str, Boxes]]:
    from tiledet.formats.yolo import write_data_yaml, write_label_file

    truth = {
        "val/a.png": Boxes(np.array([[10.0, 10.0, 30.0, 25.0], [40.0, 5.0, 60.0, 45.0]]), np.array([0, 1])),
        "train/b.png": Boxes(np.array([[0.0, 0.0, 20.0, 20.0]]), np.array([1])),
    }
    for name, boxes in truth.items():
        _png(root / "images" / name, (100, 80))
        write_label_file(root / "labels" / name.replace(".png", ".txt"), boxes, (100, 80))
    return write_data_yaml(root, {"train": "images/train", "val": "images/val"}, ["car", "bus"]), truth


def test_yolo_data_yaml_split_is_converted_in_memory(tmp_path: Path) -> None:
    yaml_path, truth = _yolo_dataset(tmp_path / "ds")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    gt = load_ground_truth(yaml_path, split="val")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written
    assert gt.kind == "yolo" and gt.num_images == 1 and gt.num_annotations == 2
    assert [c["name"] for c in gt.coco["categories"]] == ["car", "bus"]
    boxes = truth["val/a.png"]
    scored = Boxes(boxes.xyxy, boxes.class_ids, np.array([0.9, 0.8]))
    dets = detections_to_results("a.png", scored, ["car", "bus"])
    run = evaluate(gt, [dets])[0]
    assert run.summary["AP"] == pytest.approx(1.0, abs=1e-12)
    assert [c.num_gt for c in run.per_class] == [1, 1]
    train = load_ground_truth(yaml_path, split="train")
    assert train.num_images == 1 and train.num_annotations == 1


def test_yolo_missing_split_is_an_error(tmp_path: Path) -> None:
    yaml_path, _ = _yolo_dataset(tmp_path / "ds")
    with pytest.raises(InputError, match="'test'"):
        evaluate(yaml_path, [[]], EvalConfig(split="test"))


@pytest.mark.parametrize("fmt", [None, "xview-geojson"])
def test_label_source_with_images_folder(tmp_path: Path, fmt: str | None) -> None:
    _png(tmp_path / "images" / "5.tif", (200, 100))
    features = [
        {"type": "Feature", "properties": {"bounds_imcoords": b, "type_id": t, "image_id": "5.tif"},
         "geometry": None}
        for b, t in (("10,10,40,30", 18), ("50,50,90,95", 73), ("0,0,5,5", 75))  # 75: not an xView class
    ]
    path = tmp_path / "xView_train.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    gt = load_ground_truth(path, images_dir=tmp_path / "images", fmt=fmt)  # None: auto-detected
    assert gt.kind == "xview-geojson" and gt.num_annotations == 2 and len(gt.coco["categories"]) == 60
    assert gt.drops == {"unknown_class": 1}
    dets = [{"file_name": "5.tif", "category_name": "Small Car", "bbox": [10, 10, 30, 20], "score": 0.9}]
    run = evaluate(gt, [dets])[0]
    by_name = {c.name: c for c in run.per_class}
    assert by_name["Small Car"].ap == pytest.approx(1.0, abs=1e-12)
    assert by_name["Building"].num_gt == 1 and by_name["Building"].ap == 0.0
    assert sum(c.num_gt == 0 for c in run.per_class) == 58


@pytest.mark.realdata
def test_real_coco8_val_split_against_direct_pycocotools(realdata: Path) -> None:
    """Real YOLO labels (Ultralytics coco8): perfect detections score 1; noisy ones equal pycocotools."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = load_ground_truth(realdata / "coco8" / "coco8.yaml", split="val")
    assert gt.num_images == 4 and len(gt.coco["categories"]) == 80 and gt.num_annotations > 0
    rng = np.random.default_rng(0)
    perfect, noisy = [], []
    for ann in gt.coco["annotations"]:
        x, y, w, h = ann["bbox"]
        image = next(im for im in gt.coco["images"] if im["id"] == ann["image_id"])
        base = {"file_name": image["file_name"].rsplit("/", 1)[-1], "category_id": ann["category_id"]}
        perfect.append({**base, "bbox": [x, y, w, h], "score": 1.0})
        dx, dy = rng.normal(0, 0.1, 2) * [w, h]
        noisy.append({"image_id": ann["image_id"], "category_id": ann["category_id"],
                      "bbox": [x + dx, y + dy, w, h], "score": float(rng.random())})
    run_perfect, run_noisy = evaluate(gt, [perfect, noisy])
    assert run_perfect.summary["AP"] == pytest.approx(1.0, abs=1e-12)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt.coco)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(noisy)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    expected = [np.nan if s == -1 else s for s in ev.stats]
    got = [run_noisy.summary[k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl",
                                          "AR@1", "AR@10", "AR@max", "ARs", "ARm", "ARl")]
    np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)

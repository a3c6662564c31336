from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tiledet.boxes import Boxes
from tiledet.errors import FormatError, InputError
from tiledet.formats import ReadOptions, get_reader
from tiledet.formats.coco import CROWD_DETAIL, parse_coco_dict, read, to_coco_dict, write_coco_json
from tiledet.labels import ImageLabels, LabeledDataset
from tiledet.labels.classes import ClassMap
from tiledet.labels.load import load_dataset, resolve


def _dataset() -> LabeledDataset:
    return LabeledDataset(
        ("car", "bus", "truck"),
        (
            ImageLabels("a.png", (640, 480), Boxes([[10.5, 20.0, 30.5, 60.0], [0, 0, 640, 480]], [2, 0])),
            ImageLabels("sub/b.jpg", (100, 50), Boxes.empty()),
            ImageLabels("c.tif", (33, 17), Boxes([[1, 2, 4, 10]], [1])),
        ),
    )


# ---------------------------------------------------------------------------------------------------
# writer


def test_to_coco_dict_field_by_field():
    obj = to_coco_dict(_dataset(), info={"images_dir": "/data/imgs"})
    assert obj["info"] == {"images_dir": "/data/imgs"}
    assert obj["images"] == [
        {"id": 1, "file_name": "a.png", "width": 640, "height": 480},
        {"id": 2, "file_name": "sub/b.jpg", "width": 100, "height": 50},
        {"id": 3, "file_name": "c.tif", "width": 33, "height": 17},
    ]
    assert obj["annotations"] == [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 3,
            "bbox": [10.5, 20.0, 20.0, 40.0],
            "area": 800.0,
            "iscrowd": 0,
        },
        {
            "id": 2,
            "image_id": 1,
            "category_id": 1,
            "bbox": [0.0, 0.0, 640.0, 480.0],
            "area": 307200.0,
            "iscrowd": 0,
        },
        {"id": 3, "image_id": 3, "category_id": 2, "bbox": [1.0, 2.0, 3.0, 8.0], "area": 24.0, "iscrowd": 0},
    ]
    assert obj["categories"] == [
        {"id": 1, "name": "car"},
        {"id": 2, "name": "bus"},
        {"id": 3, "name": "truck"},
    ]
    for ann in obj["annotations"]:
        assert all(type(v) is float for v in ann["bbox"]) and type(ann["area"]) is float
        assert type(ann["id"]) is int and type(ann["category_id"]) is int
    json.dumps(obj)  # JSON-serialisable as is (no numpy scalars)


@pytest.mark.parametrize("names", [("car",), ("a", "b", "c", "d")])
def test_to_coco_dict_empty_dataset_keeps_every_category(names):
    obj = to_coco_dict(LabeledDataset(names, ()))
    assert obj["images"] == [] and obj["annotations"] == [] and obj["info"] == {}
    assert [c["id"] for c in obj["categories"]] == list(range(1, len(names) + 1))
    assert [c["name"] for c in obj["categories"]] == list(names)


def test_written_file_loads_in_pycocotools(tmp_path):
    from pycocotools.coco import COCO

    path = tmp_path / "out" / "gt.json"
    write_coco_json(path, _dataset())
    coco = COCO(str(path))
    assert sorted(coco.getImgIds()) == [1, 2, 3]
    assert len(coco.getAnnIds(imgIds=[1])) == 2 and coco.getAnnIds(imgIds=[2]) == []
    assert coco.loadCats(coco.getCatIds(catNms=["truck"]))[0]["id"] == 3
    anns = coco.loadAnns(coco.getAnnIds())
    # independent check: pycocotools' own rle area of each bbox equals the written area
    from pycocotools import mask as mask_utils

    for ann in anns:
        img = coco.imgs[ann["image_id"]]
        rle = mask_utils.frPyObjects(np.array([ann["bbox"]]), img["height"], img["width"])
        assert mask_utils.area(rle)[0] == pytest.approx(ann["area"], abs=ann["bbox"][2] + ann["bbox"][3] + 1)
    assert sorted(p.name for p in path.parent.iterdir()) == ["gt.json"]  # no temp files left


def test_write_is_deterministic(tmp_path):
    write_coco_json(tmp_path / "1.json", _dataset())
    write_coco_json(tmp_path / "2.json", _dataset())
    assert (tmp_path / "1.json").read_bytes() == (tmp_path / "2.json").read_bytes()


# ---------------------------------------------------------------------------------------------------
# reader


def _coco(annotations, images=None, categories=None) -> dict:
    return {
        "images": images
        if images is not None
        else [{"id": 7, "file_name": "x.png", "width": 100, "height": 80}],
        "annotations": annotations,
        "categories": categories
        if categories is not None
        else [{"id": 5, "name": "bus"}, {"id": 2, "name": "car"}],
    }


def _ann(ann_id, bbox, image_id=7, category_id=2, **extra) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": bbox, **extra}


def test_parse_coco_dict_hand_computed():
    raw = parse_coco_dict(
        _coco([_ann(11, [10, 20, 30, 5]), _ann(12, [0.5, 0, 1, 1], category_id=5)]), "gt.json"
    )
    assert raw.images == {"x.png": (100, 80)}
    np.testing.assert_allclose(raw.xyxy, [[10, 20, 40, 25], [0.5, 0, 1.5, 1]])
    assert raw.class_keys == [2, 5]
    assert raw.class_names == ("car", "bus") and raw.class_ids == (2, 5)  # sorted by id
    assert raw.location_unit == "annotation id"
    assert [raw.location(i) for i in range(2)] == [
        ("gt.json", "annotation id 11"),
        ("gt.json", "annotation id 12"),
    ]
    assert raw.drops == []
    result = resolve(raw, ClassMap(raw.class_names, raw.class_ids), None)
    assert result.dataset.images[0].boxes.class_ids.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("ann", "detail_part"),
    [
        (_ann(3, [1, 2, 3]), "4 finite numbers"),
        (_ann(3, [1, 2, 3, "4"]), "4 finite numbers"),
        (_ann(3, None), "4 finite numbers"),
        (_ann(3, [1, 2, 3, float("nan")]), "4 finite numbers"),
        (_ann(3, [1, 2, True, 4]), "4 finite numbers"),
        (_ann(3, [1, 2, -3, 4]), "negative width or height"),
        (_ann(3, [1, 2, 3, -0.5]), "negative width or height"),
        (_ann(3, [1, 2, 3, 4], image_id=99), "unknown image_id 99"),
        (_ann(3, [1, 2, 3, 4], category_id=1), "unknown category_id 1"),
        (_ann(3, [1, 2, 3, 4], category_id=True, image_id=7), "category_id must be an integer, got True"),
        (_ann(3, [1, 2, 3, 4], category_id=2.0), "category_id must be an integer, got 2.0"),
        (_ann(3, [1, 2, 3, 4], category_id=2.5), "category_id must be an integer, got 2.5"),
        (_ann(3, [1, 2, 3, 4], image_id=True), "image_id must be an integer, got True"),
        (_ann(3, [1, 2, 3, 4], image_id="7"), "image_id must be an integer, got '7'"),
        (_ann(3, [1, 2, 3, 4], iscrowd=1), CROWD_DETAIL),
    ],
)
def test_parse_malformed_annotations(ann, detail_part):
    raw = parse_coco_dict(_coco([_ann(1, [0, 0, 5, 5]), ann]), "gt.json")
    assert len(raw) == 1 and raw.box_locations.tolist() == [1]  # the good annotation survives
    assert len(raw.drops) == 1
    drop = raw.drops[0]
    assert (drop.source, drop.location, drop.reason) == ("gt.json", "annotation id 3", "malformed")
    assert detail_part in drop.detail
    with pytest.raises(FormatError) as info:
        parse_coco_dict(_coco([ann]), "gt.json", strict=True)
    assert info.value.location == "annotation id 3" and detail_part in info.value.reason


def test_parse_malformed_images_categories_and_ids():
    obj = _coco(
        [{"image_id": 7, "category_id": 2, "bbox": [0, 0, 1, 1]}, _ann(2, [0, 0, 1, 1], image_id=8)],
        images=[
            {"id": 7, "file_name": "x.png", "width": 100, "height": 80},
            {"id": 8, "file_name": "y.png", "width": 0, "height": 80},
            {"id": 7, "file_name": "z.png", "width": 1, "height": 1},
        ],
        categories=[{"id": 2, "name": "car"}, {"id": "3", "name": "bus"}, {"id": 2, "name": "again"}],
    )
    raw = parse_coco_dict(obj, "gt.json")
    assert raw.images == {"x.png": (100, 80)}
    assert raw.class_names == ("car",) and len(raw) == 0
    got = [(d.location, d.reason) for d in raw.drops]
    assert got == [
        ("categories[1]", "malformed"),
        ("categories[2]", "malformed"),
        ("images[1]", "malformed"),
        ("images[2]", "malformed"),
        ("annotations[0]", "malformed"),
        ("annotation id 2", "malformed"),
    ]
    assert "duplicate image id 7" in raw.drops[3].detail


def test_parse_empty_and_boxless_images():
    raw = parse_coco_dict(
        _coco([], images=[{"id": 1, "file_name": "e.png", "width": 3, "height": 4}]), "g.json"
    )
    assert raw.images == {"e.png": (3, 4)} and len(raw) == 0 and raw.drops == []
    raw = parse_coco_dict({"images": [], "annotations": [], "categories": []}, "g.json")
    assert raw.images == {} and raw.class_names is None


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([{"image_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}], "detection results"),
        ({"annotations": []}, "expected a list of images"),
        ({"images": [], "annotations": {}}, "annotations"),
        ("text", "got str"),
    ],
)
def test_parse_not_a_coco_dataset(obj, message):
    with pytest.raises(FormatError, match=message):
        parse_coco_dict(obj, "g.json")


def test_read_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "images": [\n    {"id": 1,, }\n  ]\n}\n')
    with pytest.raises(InputError) as info:
        read(path, ReadOptions())
    assert str(info.value).startswith(f"{path}:line 3 column 14: invalid JSON")
    with pytest.raises(InputError, match="not found"):
        read(tmp_path / "missing.json", ReadOptions())


def test_reader_is_registered():
    assert get_reader("coco") is read


# ---------------------------------------------------------------------------------------------------
# round trip: LabeledDataset -> file -> read -> resolve -> same boxes


def test_roundtrip_declared_sizes(tmp_path):
    ds = _dataset()
    write_coco_json(tmp_path / "gt.json", ds)
    result = load_dataset(tmp_path / "gt.json", "coco", None)
    assert result.drops == [] and result.input_boxes == ds.num_boxes
    assert result.dataset.class_names == ds.class_names
    assert [im.file_name for im in result.dataset.images] == [im.file_name for im in ds.images]
    for got, ref in zip(result.dataset.images, ds.images, strict=True):
        assert got.size_wh == ref.size_wh
        assert got.boxes.equals(ref.boxes)  # exact: floats survive JSON unchanged


def test_roundtrip_with_image_folder(tmp_path):
    ds = _dataset()
    for im in ds.images:
        (tmp_path / "imgs" / im.file_name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", im.size_wh).save(tmp_path / "imgs" / im.file_name)
    write_coco_json(tmp_path / "gt.json", ds, info={"images_dir": str(tmp_path / "imgs")})
    result = load_dataset(tmp_path / "gt.json", "coco", tmp_path / "imgs")
    assert result.drops == []
    for got, ref in zip(result.dataset.images, ds.images, strict=True):
        assert got.file_name == ref.file_name and got.boxes.equals(ref.boxes)


def test_roundtrip_accounts_for_crowd_and_degenerate(tmp_path):
    obj = _coco([_ann(1, [95, 10, 10, 10]), _ann(2, [5, 5, 0.5, 9]), _ann(3, [1, 1, 9, 9], iscrowd=1)])
    (tmp_path / "gt.json").write_text(json.dumps(obj))
    result = load_dataset(tmp_path / "gt.json", "coco", None)
    np.testing.assert_allclose(result.dataset.images[0].boxes.xyxy, [[95, 10, 100, 20]])  # clipped at W=100
    assert sorted((d.location, d.reason) for d in result.drops) == [
        ("annotation id 2", "degenerate"),
        ("annotation id 3", "malformed"),
    ]
    assert result.input_boxes == 3 == result.dataset.num_boxes + len(result.drops)


def test_xyxy_to_xywh_hand_computed_and_copy():
    from tiledet.formats.coco import xyxy_to_xywh

    xyxy = np.array([[10.0, 20.0, 15.5, 30.0], [0.0, 0.0, 0.0, 0.0]])
    assert xyxy_to_xywh(xyxy).tolist() == [[10.0, 20.0, 5.5, 10.0], [0.0, 0.0, 0.0, 0.0]]
    assert xyxy[0, 2] == 15.5  # input untouched
    assert xyxy_to_xywh(np.zeros((0, 4))).shape == (0, 4)


def test_cli_boolean_category_id_is_no_class_1(tmp_path, capsys):
    from tiledet.cli import main

    (tmp_path / "in").mkdir()
    Image.new("RGB", (100, 80)).save(tmp_path / "in" / "x.png")
    gt = _coco([_ann(1, [0, 0, 5, 5]), _ann(2, [10, 10, 5, 5], category_id=True)],
               categories=[{"id": 1, "name": "bus"}, {"id": 2, "name": "car"}])  # fmt: skip
    (tmp_path / "in" / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dets.json").write_text(json.dumps([{"image_id": 7, "category_id": 1, "bbox": [10, 10, 5, 5],
                                                     "score": 0.9}]))  # fmt: skip
    source = tmp_path / "in" / "gt.json"
    convert = ["convert", str(source), "--images", str(tmp_path / "in"), "--to", "coco", "--quiet"]
    assert main([*convert, "--out", str(tmp_path / "a")]) == 0
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["written_boxes"] == 1 and report["dropped"]["malformed"] == 1
    assert report["drops"][0]["detail"] == "category_id must be an integer, got True"
    assert main([*convert, "--out", str(tmp_path / "b"), "--strict"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / 'in' / 'gt.json'}:annotation id 2: category_id must be an integer, got True"
    )
    assert main(["eval", str(tmp_path / "in" / "gt.json"), str(tmp_path / "dets.json"), "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / 'in' / 'gt.json'}:annotation 1: category_id must be an integer, got True"
    )

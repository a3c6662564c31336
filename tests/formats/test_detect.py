from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiledet.errors import InputError
from tiledet.formats import READERS
from tiledet.formats import detect as detect_module
from tiledet.formats.detect import detect_format

FEATURE_COLLECTION = json.dumps({"type": "FeatureCollection", "features": []})


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("xView_train.geojson", "", "xview-geojson"),
        ("labels.json", FEATURE_COLLECTION, "xview-geojson"),
        ("labels.json", '{"crs": {}, "features": [', "xview-geojson"),
        ("gt.json", json.dumps({"images": [], "annotations": [], "categories": []}), "coco"),
        ("data.yaml", "names: [a]\n", "yolo"),
        ("data.YML", "", "yolo"),
        ("labels.csv", "anything", "csv"),
        ("labels.txt", "image_id,xmin,ymin,xmax,ymax,type_id\n1.tif,1,2,3,4,73\n", "csv"),
        ("course.txt", "# comment\n@meta\nimg/1.tif;1;5;1,2,3,4;73\n", "semicolon"),
        ("course.txt", "img/1.tif;0\r\n", "semicolon"),
        ("P0003.txt", "imagesource:GoogleEarth\ngsd:0.11\n", "dota"),
        ("P0003.txt", "1 2 3 4 5 6 7 8 small-vehicle 0\n1.5 2 3 4 5 6 7 8 plane\n", "dota"),
        ("0001.txt", "0 0.5 0.5 0.1 0.2\r\n3 0.25 0.75 0.125 0.5\n", "yolo"),
    ],
)
def test_detect_file(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert detect_format(path) == expected
    assert expected in READERS


def test_only_the_head_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(detect_module, "SNIFF_BYTES", 64)
    path = tmp_path / "labels.txt"
    lines = ["0 0.5 0.5 0.1 0.2"] * 5 + ["this line would not parse as anything"] * 100
    path.write_text("\n".join(lines), encoding="utf-8")
    assert detect_format(path) == "yolo"  # the cut-off and later lines are never looked at


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"a.txt": "", "b.txt": "1 2 3 4 5 6 7 8 ship 0\n"}, "dota"),
        ({"classes.txt": "car\nboat\n", "labels/train/0.txt": "1 0.5 0.5 0.2 0.2\n"}, "yolo"),
    ],
)
def test_detect_folder_by_first_label_file(tmp_path, files, expected):
    for rel, content in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(content, encoding="utf-8")
    assert detect_format(tmp_path) == expected


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.txt", "hello world\n", "match no known label format"),
        ("empty.txt", "", "match no known label format"),
        ("other.json", '{"a": 1}', "match no known label format"),
        ("mixed.txt", "0 0.5 0.5 0.1 0.2\n1 2 3 4 5 6 7 8 ship 0\n", "match no known label format"),
    ],
)
def test_unknown_file_names_path_and_choices(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        detect_format(path)
    message = str(info.value)
    assert message.startswith(str(path)) and reason in message
    assert all(choice in message for choice in READERS)


def test_unknown_folders_and_missing_path(tmp_path):
    with pytest.raises(InputError, match=r"holds no \.txt label files"):
        detect_format(tmp_path)
    (tmp_path / "a.txt").write_text("")
    with pytest.raises(InputError, match=r"first 1 \.txt files is DOTA, YOLO or VisDrone.*--from"):
        detect_format(tmp_path)
    with pytest.raises(InputError, match="not found"):
        detect_format(tmp_path / "missing.geojson")


@pytest.mark.realdata
def test_detect_real_folders(realdata: Path):
    assert detect_format(realdata / "dota_vehicles" / "DOTA_demo" / "labelTxt") == "dota"
    assert detect_format(realdata / "coco8" / "labels") == "yolo"
    features = realdata / "xview_meta" / "xview_train_geojson_example_features.json"
    assert detect_format(features) == "xview-geojson"

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tiledet.boxes import Boxes
from tiledet.errors import FormatError, InputError
from tiledet.formats import ReadOptions, get_reader
from tiledet.formats.yolo import (
    denormalize_cxcywh,
    format_label_text,
    label_path_for,
    normalize_xyxy,
    parse_label_lines,
    parse_label_text,
    write_data_yaml,
    write_label_file,
)
from tiledet.formats.yolo_dataset import read
from tiledet.labels import ImageLabels, LabeledDataset
from tiledet.labels.classes import ClassMap
from tiledet.labels.load import load_dataset, resolve

# ---------------------------------------------------------------------------------------------------
# normalise / format, checked by hand


@pytest.mark.parametrize(
    ("xyxy", "size_wh", "expected"),
    [
        # centre = (xmin + xmax) / 2 / W = (60 + 80) / 2 / 100 = 0.7, not (80 - 60) / 2 / 100 = 0.1
        ([60, 10, 80, 30], (100, 100), "3 0.700000 0.200000 0.200000 0.200000\n"),
        # non-square image: cx = 20/100, cy = 40/200, w = 20/100, h = 40/200
        ([10, 20, 30, 60], (100, 200), "3 0.200000 0.200000 0.200000 0.200000\n"),
        # 6 decimals, rounded: 0.5/3 = 0.1666..., 1/3 = 0.3333...
        ([0, 0, 1, 1], (3, 3), "3 0.166667 0.166667 0.333333 0.333333\n"),
        # the whole image
        ([0, 0, 640, 480], (640, 480), "3 0.500000 0.500000 1.000000 1.000000\n"),
        # zero-size box at the origin: no "-0.000000"
        ([0, 0, 0, 0], (10, 10), "3 0.000000 0.000000 0.000000 0.000000\n"),
    ],
)
def test_format_label_text_hand_computed(xyxy, size_wh, expected):
    assert format_label_text(Boxes([xyxy], [3]), size_wh) == expected


def test_format_label_text_several_lines_and_empty():
    boxes = Boxes([[0, 0, 10, 10], [90, 40, 100, 50]], [0, 12])
    assert format_label_text(boxes, (100, 50)) == (
        "0 0.050000 0.100000 0.100000 0.200000\n12 0.950000 0.900000 0.100000 0.200000\n"
    )
    assert format_label_text(Boxes.empty(), (100, 50)) == ""


def test_normalize_and_denormalize_by_hand():
    xyxy = np.array([[60.0, 10.0, 80.0, 30.0], [0.0, 0.0, 50.0, 25.0]])
    cxcywh = normalize_xyxy(xyxy, (100, 50))
    np.testing.assert_allclose(cxcywh, [[0.7, 0.4, 0.2, 0.4], [0.25, 0.25, 0.5, 0.5]])
    np.testing.assert_allclose(denormalize_cxcywh(cxcywh, (100, 50)), xyxy)
    assert normalize_xyxy(np.zeros((0, 4)), (10, 10)).shape == (0, 4)
    assert denormalize_cxcywh(np.zeros((0, 4)), (10, 10)).shape == (0, 4)


@st.composite
def boxes_inside(draw):
    w = draw(st.integers(1, 10_000))
    h = draw(st.integers(1, 10_000))
    n = draw(st.integers(0, 8))
    coords = []
    for _ in range(n):
        x0, x1 = sorted(draw(st.floats(0, w, allow_nan=False)) for _ in range(2))
        y0, y1 = sorted(draw(st.floats(0, h, allow_nan=False)) for _ in range(2))
        coords.append([x0, y0, x1, y1])
    return np.asarray(coords, dtype=np.float64).reshape(-1, 4), (w, h)


@settings(max_examples=200, deadline=None)
@given(boxes_inside())
def test_normalised_values_in_unit_interval(case):
    xyxy, size_wh = case
    cxcywh = normalize_xyxy(xyxy, size_wh)
    assert cxcywh.shape == xyxy.shape
    assert ((cxcywh >= 0) & (cxcywh <= 1)).all()


@settings(max_examples=200, deadline=None)
@given(boxes_inside())
def test_denormalize_inverts_normalize(case):
    xyxy, size_wh = case
    back = denormalize_cxcywh(normalize_xyxy(xyxy, size_wh), size_wh)
    scale = np.array([size_wh[0], size_wh[1]] * 2, dtype=np.float64)
    assert (np.abs(back - xyxy) <= 1e-6 * scale).all()


@settings(max_examples=100, deadline=None)
@given(boxes_inside())
def test_written_text_parses_back_within_rounding(case):
    xyxy, size_wh = case
    boxes = Boxes(xyxy, np.arange(len(xyxy)))
    class_ids, cxcywh, bad = parse_label_text(format_label_text(boxes, size_wh))
    assert bad == []
    np.testing.assert_array_equal(class_ids, np.arange(len(xyxy)))
    np.testing.assert_allclose(cxcywh, normalize_xyxy(xyxy, size_wh), atol=5e-7 + 1e-12, rtol=0)


# ---------------------------------------------------------------------------------------------------
# the text parser


def test_parse_label_lines_blank_lines_crlf_and_line_numbers():
    text = "0 0.5 0.5 0.2 0.2\r\n\r\n  \n7 0.1 0.2 0.3 0.4\r\n"
    class_ids, cxcywh, lines, bad = parse_label_lines(text)
    assert class_ids.tolist() == [0, 7]
    np.testing.assert_allclose(cxcywh, [[0.5, 0.5, 0.2, 0.2], [0.1, 0.2, 0.3, 0.4]])
    assert lines.tolist() == [1, 4]
    assert bad == []


@pytest.mark.parametrize("text", ["", "\n\n", "   \r\n"])
def test_parse_empty_text(text):
    class_ids, cxcywh, bad = parse_label_text(text)
    assert class_ids.shape == (0,) and cxcywh.shape == (0, 4) and bad == []


@pytest.mark.parametrize(
    ("line", "reason_part"),
    [
        ("0 0.5 0.5 0.2", "got 4"),
        ("0 0.5 0.5 0.2 0.2 0.1", "got 6"),
        ("0 0.5 zero 0.2 0.2", "not a number: 'zero'"),
        ("car 0.5 0.5 0.2 0.2", "not a number: 'car'"),
        ("0 1.2 0.5 0.2 0.2", "outside [0, 1]"),
        ("0 0.5 -0.01 0.2 0.2", "outside [0, 1]"),
        ("0 0.5 0.5 -0.2 0.2", "negative size"),
        ("0 0.5 0.5 0.2 nan", "NaN"),
        ("0 inf 0.5 0.2 0.2", "NaN or infinite"),
        ("1.5 0.5 0.5 0.2 0.2", "not a non-negative integer"),
        ("-1 0.5 0.5 0.2 0.2", "not a non-negative integer"),
    ],
)
def test_parse_malformed_lines(line, reason_part):
    text = f"0 0.5 0.5 0.1 0.1\n{line}\n"
    class_ids, _, bad = parse_label_text(text)
    assert class_ids.tolist() == [0]  # the good line survives
    assert len(bad) == 1 and bad[0][0] == 2
    assert reason_part in bad[0][1]


def test_parse_tolerates_rounding_and_integral_class_floats():
    class_ids, cxcywh, bad = parse_label_text("2.0 1.0004 0.5 0.2 0.2\n")
    assert bad == [] and class_ids.tolist() == [2]
    assert cxcywh[0, 0] == pytest.approx(1.0004)


def test_parse_polygon_line_gives_enclosing_box():
    class_ids, cxcywh, bad = parse_label_text("4 0.1 0.2 0.5 0.2 0.3 0.6\n")
    assert bad == [] and class_ids.tolist() == [4]
    # x in [0.1, 0.5], y in [0.2, 0.6]
    np.testing.assert_allclose(cxcywh, [[0.3, 0.4, 0.4, 0.4]])


# ---------------------------------------------------------------------------------------------------
# writers


def test_write_label_file_atomic_and_empty(tmp_path):
    path = tmp_path / "labels" / "train" / "a.txt"
    write_label_file(path, Boxes([[60, 10, 80, 30]], [1]), (100, 100))
    assert path.read_text() == "1 0.700000 0.200000 0.200000 0.200000\n"
    write_label_file(path, Boxes.empty(), (100, 100))
    assert path.read_text() == ""
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]  # no temp files left


def test_write_data_yaml_content(tmp_path):
    import yaml

    path = write_data_yaml(tmp_path, {"train": "images/train", "val": "images/val"}, ["car", "bus"])
    assert path == tmp_path / "data.yaml"
    data = yaml.safe_load(path.read_text())
    assert data == {
        "path": str(tmp_path.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": {0: "car", 1: "bus"},
    }


def test_write_data_yaml_accepted_by_ultralytics(tmp_path):
    # In a subprocess: importing ultralytics patches PIL.Image.open process-wide (an unreadable image
    # then triggers a pip install attempt of pi-heif), which must not leak into the other tests.
    for split in ("train", "val"):
        _image(tmp_path / "ds" / "images" / split / "a.png", (32, 24))
        _write(tmp_path / "ds" / "labels" / split / "a.txt", "1 0.5 0.5 0.25 0.25\n")
    splits = {"train": "images/train", "val": "images/val"}
    yaml_path = write_data_yaml(tmp_path / "ds", splits, ["car", "bus"])
    code = (
        "import json, sys\n"
        "from ultralytics.data.utils import check_det_dataset\n"
        "d = check_det_dataset(sys.argv[1], autodownload=False)\n"
        "keep = {'nc': d['nc'], 'names': d['names'], 'train': str(d['train']), 'val': str(d['val'])}\n"
        "print(json.dumps(keep))\n"
    )
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(tmp_path / "cfg")}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(yaml_path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["nc"] == 2
    assert data["names"] == {"0": "car", "1": "bus"}
    assert Path(data["train"]) == (tmp_path / "ds" / "images" / "train").resolve()
    assert Path(data["val"]) == (tmp_path / "ds" / "images" / "val").resolve()


# ---------------------------------------------------------------------------------------------------
# readers


def _image(path: Path, size_wh: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size_wh).save(path)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_label_path_for_replaces_last_images_segment():
    p = Path("/data/images/set/images/train/a.b.jpg")
    assert label_path_for(p) == Path("/data/images/set/labels/train/a.b.txt")


@pytest.fixture
def yolo_ds(tmp_path):
    """A data.yaml with a train and a val split, a malformed line, an image without labels."""
    root = tmp_path / "ds"
    _image(root / "images/train/a.jpg", (200, 100))
    _image(root / "images/train/b.png", (50, 50))  # no label file
    _image(root / "images/val/c.jpg", (100, 100))
    _image(root / "images/val/d.jpg", (100, 100))  # empty label file
    _write(root / "labels/train/a.txt", "1 0.5 0.5 0.1 0.2\n0 0.25 0.25 x 0.1\n")
    _write(root / "labels/val/c.txt", "\n0 0.3 0.4 0.2 0.2\n")
    _write(root / "labels/val/d.txt", "")
    _write(root / "data.yaml", "path: .\ntrain: images/train\nval: images/val\nnames: [car, bus]\n")
    return root


def test_read_data_yaml_all_splits(yolo_ds):
    raw = read(yolo_ds / "data.yaml", ReadOptions())
    assert raw.images == {
        "images/train/a.jpg": (200, 100),
        "images/train/b.png": (50, 50),
        "images/val/c.jpg": (100, 100),
        "images/val/d.jpg": (100, 100),
    }
    assert raw.class_names == ("car", "bus")
    assert raw.box_images == ["images/train/a.jpg", "images/val/c.jpg"]
    # cx = 0.5 * 200 = 100, w = 0.1 * 200 = 20 -> x in [90, 110]; cy = 50, h = 20 -> y in [40, 60]
    np.testing.assert_allclose(raw.xyxy, [[90, 40, 110, 60], [20, 30, 40, 50]])
    assert raw.class_keys == [1, 0]
    assert [raw.location(i) for i in range(2)] == [
        (str(yolo_ds / "labels/train/a.txt"), "line 1"),
        (str(yolo_ds / "labels/val/c.txt"), "line 2"),
    ]
    assert len(raw.drops) == 1
    drop = raw.drops[0]
    assert (drop.source, drop.location, drop.reason) == (
        str(yolo_ds / "labels/train/a.txt"),
        "line 2",
        "malformed",
    )
    assert "not a number: 'x'" in drop.detail and drop.image == "images/train/a.jpg"


def test_read_data_yaml_one_split(yolo_ds):
    raw = read(yolo_ds / "data.yaml", ReadOptions(split="val"))
    assert list(raw.images) == ["images/val/c.jpg", "images/val/d.jpg"]
    assert len(raw) == 1 and raw.drops == []
    with pytest.raises(InputError, match="'test' is not listed"):
        read(yolo_ds / "data.yaml", ReadOptions(split="test"))


def test_read_data_yaml_names_relative_to_images_dir(yolo_ds):
    raw = read(yolo_ds / "data.yaml", ReadOptions(split="val", images_dir=yolo_ds / "images"))
    assert list(raw.images) == ["val/c.jpg", "val/d.jpg"]
    result = load_dataset(yolo_ds / "data.yaml", "yolo", yolo_ds, options=ReadOptions(split="val"))
    assert [im.file_name for im in result.dataset.images] == ["images/val/c.jpg", "images/val/d.jpg"]
    assert result.drops == [] and result.dataset.num_boxes == 1


def test_read_data_yaml_strict_raises_with_location(yolo_ds):
    with pytest.raises(FormatError) as info:
        read(yolo_ds / "data.yaml", ReadOptions(strict=True))
    assert info.value.source == str(yolo_ds / "labels/train/a.txt") and info.value.location == "line 2"


def test_read_data_yaml_txt_list_and_names_dict(tmp_path):
    root = tmp_path / "set"
    _image(root / "images/x/p.png", (10, 20))
    _image(root / "images/x/q.png", (10, 20))
    _write(root / "labels/x/p.txt", "2 0.5 0.5 1 1\n")
    _write(root / "train.txt", "./images/x/p.png\n\n")
    _write(root / "val.txt", f"{root / 'images/x/q.png'}\n")
    yaml_text = f"path: {root}\ntrain: train.txt\nval: [val.txt]\nnames: {{0: a, 1: b, 2: c}}\n"
    _write(tmp_path / "elsewhere" / "d.yaml", yaml_text)
    raw = read(tmp_path / "elsewhere" / "d.yaml", ReadOptions())
    assert raw.images == {"images/x/p.png": (10, 20), "images/x/q.png": (10, 20)}
    assert raw.class_names == ("a", "b", "c")
    np.testing.assert_allclose(raw.xyxy, [[0, 0, 10, 20]])


def test_read_missing_and_unreadable_images_are_accounted(tmp_path):
    root = tmp_path / "set"
    _image(root / "images/ok.png", (10, 10))
    (root / "images/broken.png").write_bytes(b"not an image")
    _write(root / "labels/broken.txt", "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.4 0.4\n")
    _write(root / "list.txt", "images/ok.png\nimages/gone.png\nimages/broken.png\n")
    _write(root / "data.yaml", "train: list.txt\nnames: [a]\n")
    raw = read(root / "data.yaml", ReadOptions())
    assert raw.images == {"images/ok.png": (10, 10)}
    got = sorted((d.location, d.reason, d.image) for d in raw.drops)
    assert got == [
        ("image", "missing_image", "images/gone.png"),
        ("line 1", "unreadable_image", "images/broken.png"),
        ("line 2", "unreadable_image", "images/broken.png"),
    ]


def test_read_data_yaml_accounts_for_label_files_without_an_image(yolo_ds, tmp_path, capsys):
    _write(yolo_ds / "labels/train/orphan.txt", "0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.1 0.1\nbad line\n")
    _write(yolo_ds / "labels/val/sub/empty_orphan.txt", "")
    _write(yolo_ds / "labels/val/classes.txt", "car\nbus\n")  # not a label file
    raw = read(yolo_ds / "data.yaml", ReadOptions())
    orphan, empty = str(yolo_ds / "labels/train/orphan.txt"), str(yolo_ds / "labels/val/sub/empty_orphan.txt")
    got = sorted((d.source, d.location, d.reason, d.image) for d in raw.drops if "orphan" in d.source)
    assert got == [
        (orphan, "line 1", "missing_image", "images/train/orphan"),
        (orphan, "line 2", "missing_image", "images/train/orphan"),
        (orphan, "line 3", "malformed", "images/train/orphan"),
        (empty, "image", "missing_image", "images/val/sub/empty_orphan"),
    ]
    missing = [d for d in raw.drops if d.reason == "missing_image"]
    assert all(d.detail == f"{d.source}: no image for this label file" for d in missing)
    assert len(read(yolo_ds / "data.yaml", ReadOptions(split="val")).drops) == 1  # only the val labels
    with pytest.raises(InputError, match=r"empty_orphan\.txt: no image for this label file"):
        read(yolo_ds / "data.yaml", ReadOptions(strict=True, split="val"))
    from tiledet.cli import main

    out = tmp_path / "out"
    assert main(["convert", str(yolo_ds / "data.yaml"), "--out", str(out), "--to", "coco", "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    # 2 boxes + 1 malformed line in the labels with images, 2 boxes + 1 malformed line in orphan.txt
    assert report["input_boxes"] == 6 and report["written_boxes"] == 2
    assert report["dropped"]["missing_image"] == 2 and report["dropped"]["malformed"] == 2
    assert report["input_boxes"] == report["written_boxes"] + report["dropped_boxes"]
    assert report["skipped_images"] == {"missing_image": 1}
    assert {d["source"] for d in report["drops"] if d["reason"] == "missing_image"} == {orphan, empty}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("train: images\n", "'names'"),
        ("names: [a]\n", "no split"),
        ("train: nowhere\nnames: [a]\n", "neither a folder nor an image list"),
        ("train: [images\nnames: [a]\n", "invalid YAML"),
        ("- a\n- b\n", "expected a mapping"),
        ("train: images\nnames: {0: a, 2: b}\n", "indices must be 0..1"),
    ],
)
def test_read_bad_data_yaml(tmp_path, yaml_text, message):
    (tmp_path / "images").mkdir()
    _write(tmp_path / "data.yaml", yaml_text)
    with pytest.raises(InputError, match=message) as info:
        read(tmp_path / "data.yaml", ReadOptions())
    assert str(tmp_path / "data.yaml") in str(info.value)


def test_read_label_folder_with_images_dir(tmp_path):
    _image(tmp_path / "imgs/a.tif", (40, 20))
    _image(tmp_path / "imgs/sub/b.png", (10, 10))
    _image(tmp_path / "imgs/c.jpg", (10, 10))  # no label file -> declared without boxes
    _write(tmp_path / "lbl/a.txt", "0 0.5 0.5 0.5 0.5\n")
    _write(tmp_path / "lbl/sub/b.txt", "1 0.5 0.5 1 1\n")
    _write(tmp_path / "lbl/zzz.txt", "1 0.5 0.5 1 1\n")  # no image
    raw = read(tmp_path / "lbl", ReadOptions(images_dir=tmp_path / "imgs"))
    assert raw.images == {"a.tif": (40, 20), "sub/b.png": (10, 10), "c.jpg": (10, 10)}
    np.testing.assert_allclose(raw.xyxy, [[10, 5, 30, 15], [0, 0, 10, 10]])
    assert raw.class_names is None and raw.class_keys == [0, 1]
    assert [(d.source, d.location, d.reason) for d in raw.drops] == [
        (str(tmp_path / "lbl/zzz.txt"), "line 1", "missing_image")
    ]
    with pytest.raises(InputError, match="needs the image folder"):
        read(tmp_path / "lbl", ReadOptions())


def test_read_label_folder_classes_txt(tmp_path):
    _image(tmp_path / "imgs/a.png", (10, 10))
    _write(tmp_path / "lbl/a.txt", "1 0.5 0.5 0.2 0.2\n")
    _write(tmp_path / "lbl/classes.txt", "car\nbus\n\n")
    raw = read(tmp_path / "lbl", ReadOptions(images_dir=tmp_path / "imgs"))
    assert raw.class_names == ("car", "bus")
    assert raw.sources == [str(tmp_path / "lbl/a.txt")] and raw.drops == []


def test_read_data_yaml_falls_back_to_its_folder(tmp_path):
    # Ultralytics-style relative path that does not exist here: the yaml's folder is the root
    _image(tmp_path / "images/val/a.png", (10, 10))
    _write(tmp_path / "labels/val/a.txt", "0 0.5 0.5 0.2 0.2\n")
    _write(tmp_path / "d.yaml", "path: ../datasets/nowhere\nval: images/val\nnames: [a]\n")
    raw = read(tmp_path / "d.yaml", ReadOptions())
    assert list(raw.images) == ["images/val/a.png"] and len(raw) == 1


def test_read_missing_source(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read(tmp_path / "nope", ReadOptions(images_dir=tmp_path))


def test_reader_is_registered():
    assert get_reader("yolo") is read


# ---------------------------------------------------------------------------------------------------
# round trip: LabeledDataset -> files -> read -> resolve -> same boxes


def _write_yolo_dataset(root: Path, splits: dict[str, LabeledDataset]) -> Path:
    for split, ds in splits.items():
        for im in ds.images:
            _image(root / "images" / split / im.file_name, im.size_wh)
            write_label_file(root / "labels" / split / f"{Path(im.file_name).stem}.txt", im.boxes, im.size_wh)
    names = next(iter(splits.values())).class_names
    return write_data_yaml(root, {s: f"images/{s}" for s in splits}, names)


def test_roundtrip_through_files(tmp_path):
    names = ("car", "bus", "truck")
    train = LabeledDataset(
        names,
        (
            ImageLabels("a.png", (640, 480), Boxes([[10.5, 20.25, 30, 60], [600, 400, 640, 480]], [2, 0])),
            ImageLabels("b.png", (33, 17), Boxes.empty()),
        ),
    )
    val = LabeledDataset(names, (ImageLabels("c.jpg", (1001, 999), Boxes([[0, 0, 1001, 999]], [1])),))
    yaml_path = _write_yolo_dataset(tmp_path, {"train": train, "val": val})
    result = load_dataset(yaml_path, "yolo", None)
    assert result.drops == [] and result.input_boxes == 3
    ds = result.dataset
    assert ds.class_names == names
    expected = {f"images/train/{im.file_name}": im for im in train.images}
    expected |= {f"images/val/{im.file_name}": im for im in val.images}
    assert [im.file_name for im in ds.images] == list(expected)
    for im in ds.images:
        ref = expected[im.file_name]
        assert im.size_wh == ref.size_wh
        # 6 decimals of a value normalised by W: error <= 0.5e-6 * W per coordinate
        assert im.boxes.equals(ref.boxes, atol=1e-6 * max(ref.size_wh))


def test_resolve_clips_yolo_boxes_past_the_edge(tmp_path):
    _image(tmp_path / "images/t/a.png", (100, 100))
    _write(tmp_path / "labels/t/a.txt", "0 0.99 0.5 0.02 0.2\n0 0.5 0.5 0 0.1\n")
    _write(tmp_path / "data.yaml", "train: images/t\nnames: [a]\n")
    raw = read(tmp_path / "data.yaml", ReadOptions())
    result = resolve(raw, ClassMap(raw.class_names), None)
    np.testing.assert_allclose(result.dataset.images[0].boxes.xyxy, [[98, 40, 100, 60]])
    assert [(d.location, d.reason) for d in result.drops] == [("line 2", "degenerate")]


# ---------------------------------------------------------------------------------------------------
# real data


@pytest.mark.realdata
@pytest.mark.parametrize("split", ["train", "val"])
def test_read_coco8(realdata, tmp_path, split):
    root = realdata / "coco8"
    if not (root / "images" / split).is_dir():
        pytest.skip(f"{root} has no images/{split}")
    import yaml

    names = yaml.safe_load((root / "coco8.yaml").read_text())["names"]
    data = {"path": str(root), "train": "images/train", "val": "images/val", "names": names}
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data))
    raw = read(tmp_path / "data.yaml", ReadOptions(split=split))
    label_files = sorted((root / "labels" / split).glob("*.txt"))
    naive = sum(1 for f in label_files for line in f.read_text().splitlines() if line.strip())
    assert len(raw) == naive > 0 and raw.drops == []
    assert len(raw.images) == len(list((root / "images" / split).glob("*.jpg")))
    assert raw.class_names is not None and len(raw.class_names) == 80
    result = resolve(raw, ClassMap(raw.class_names), None)
    assert result.dataset.num_boxes + len(result.drops) == naive
    assert all(name.startswith(f"images/{split}/") for name in raw.images)
    # independent check of one box: first line of the first label file, denormalised by hand
    first = label_files[0]
    cls, cx, cy, w, h = (float(v) for v in first.read_text().split()[:5])
    with Image.open(root / "images" / split / f"{first.stem}.jpg") as im:
        width, height = im.size
    i = raw.box_images.index(f"images/{split}/{first.stem}.jpg")
    expected = [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]
    np.testing.assert_allclose(raw.xyxy[i], expected)
    assert raw.class_keys[i] == int(cls)


@pytest.mark.realdata
def test_read_coco8_yaml_as_shipped(realdata):
    # coco8.yaml says path: ../datasets/coco8 (relative to Ultralytics' datasets dir); the reader falls
    # back to the yaml's own folder, where images/ and labels/ are.
    root = realdata / "coco8"
    if not (root / "coco8.yaml").is_file():
        pytest.skip(f"{root / 'coco8.yaml'} not found")
    raw = read(root / "coco8.yaml", ReadOptions())
    label_files = sorted((root / "labels").rglob("*.txt"))
    naive = sum(1 for f in label_files for line in f.read_text().splitlines() if line.strip())
    assert len(raw) == naive and raw.drops == []
    assert len(raw.images) == len(list((root / "images").rglob("*.jpg")))

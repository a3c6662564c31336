from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tiledet.errors import FormatError, InputError
from tiledet.formats import ReadOptions
from tiledet.formats.dota import parse_text, read
from tiledet.ioutil import image_size
from tiledet.labels.load import load_dataset

LABEL = (
    "imagesource:GoogleEarth\n"
    "gsd:0.115726939386\n"
    "937.0 913.0 921.0 912.0 923.0 874.0 940.0 875.0 small-vehicle 0\n"
    "\n"
    "1 2 5 0 7 4 3 6 large-vehicle 1\n"
    "10.5 20 30 20 30 40.25 10.5 40.25 plane\n"
)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("header", [True, False])
def test_hand_computed_enclosing_boxes(newline, header):
    text = LABEL if header else LABEL.split("\n", 2)[2]
    raw = parse_text(text.replace("\n", newline), image="P0003.png", source="P0003.txt")
    assert raw.xyxy.tolist() == [[921, 874, 940, 913], [1, 0, 7, 6], [10.5, 20, 30, 40.25]]
    assert raw.class_keys == ["small-vehicle", "large-vehicle", "plane"]
    assert raw.box_images == ["P0003.png"] * 3
    offset = 0 if header else 2
    assert raw.box_locations.tolist() == [3 - offset, 5 - offset, 6 - offset]
    assert raw.location(0) == ("P0003.txt", f"line {3 - offset}") and raw.drops == []


@pytest.mark.parametrize("text", ["", "imagesource:GoogleEarth\ngsd:0.1\n", "\n\n"])
def test_file_without_boxes_still_declares_its_image(text):
    raw = parse_text(text, image="empty.png")
    assert len(raw) == 0 and raw.images == {"empty.png": None} and raw.drops == []


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        ("1 2 3 4 5 6 7 car 0", "'car'] are not 8 finite numbers"),  # 9 tokens but only 7 numbers
        ("1 2 3 4 5 6 7 8", "got 8 tokens"),
        ("1 2 3 4 5 6 7 8 car 0 extra", "got 11 tokens"),
        ("1 2 3 x 5 6 7 8 car 0", "are not 8 finite numbers"),
        ("1 2 3 nan 5 6 7 8 car 0", "are not 8 finite numbers"),
    ],
)
def test_malformed_line_reported_and_rest_read(line, detail):
    text = f"0 0 1 0 1 1 0 1 a 0\n{line}\n2 2 3 2 3 3 2 3 b 0\n"
    raw = parse_text(text, image="i.png", source="i.txt")
    assert raw.class_keys == ["a", "b"] and raw.box_locations.tolist() == [1, 3]
    assert [(d.source, d.location, d.reason, d.image) for d in raw.drops] == [
        ("i.txt", "line 2", "malformed", "i.png")
    ]
    assert detail in raw.drops[0].detail
    with pytest.raises(FormatError, match=r"^i\.txt:line 2: "):
        parse_text(text, image="i.png", source="i.txt", strict=True)


def test_read_folder_sorted_with_image_suffix_from_images_dir(tmp_path):
    labels, images = tmp_path / "labelTxt", tmp_path / "images"
    labels.mkdir()
    images.mkdir()
    (labels / "b.txt").write_text("0 0 4 0 4 4 0 4 ship 0\n")
    (labels / "a.txt").write_text("imagesource:x\r\ngsd:1\r\n")
    (labels / "c.txt").write_text("1 1 2 1 2 2 1 2 ship 0")
    (labels / "notes.md").write_text("not a label")
    Image.new("RGB", (8, 8)).save(images / "a.jpg")
    Image.new("RGB", (8, 8)).save(images / "b.tif")
    Image.new("RGB", (8, 8)).save(images / "b.png")  # .tif comes first in IMAGE_SUFFIXES
    raw = read(labels, ReadOptions(images_dir=images))
    assert list(raw.images) == ["a.jpg", "b.tif", "c.png"]  # c has no image: default .png
    assert raw.box_images == ["b.tif", "c.png"]
    assert raw.sources == [str(labels / n) for n in ("a.txt", "b.txt", "c.txt")]
    assert [raw.location(i) for i in range(2)] == [(str(labels / f), "line 1") for f in ("b.txt", "c.txt")]
    single = read(labels / "b.txt", ReadOptions())
    assert list(single.images) == ["b.png"] and single.xyxy.tolist() == [[0, 0, 4, 4]]


def test_read_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read(tmp_path / "missing", ReadOptions())
    with pytest.raises(InputError, match=r"holds no DOTA label files"):
        read(tmp_path, ReadOptions())
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe 1 2")
    with pytest.raises(InputError, match=r"bad\.txt: cannot read"):
        read(bad, ReadOptions())


@pytest.mark.realdata
def test_real_dota_demo_reads_587_boxes_and_clips_on_load(realdata: Path):
    root = realdata / "dota_vehicles" / "DOTA_demo"
    raw = read(root / "labelTxt", ReadOptions(images_dir=root / "images"))
    assert len(raw) == 587 and raw.drops == []
    assert list(raw.images) == ["P0003.png", "P0004.png", "P0005.png", "P1478__1__853___962.png"]
    assert sorted(set(raw.class_keys)) == ["large-vehicle", "small-vehicle"]
    sizes = {name: image_size(root / "images" / name) for name in raw.images}
    wh = np.array([sizes[name] for name in raw.box_images], dtype=float)
    reaches = (raw.xyxy[:, 2] >= wh[:, 0]) | (raw.xyxy[:, 3] >= wh[:, 1])
    assert reaches.sum() == 1  # P0004 line 60: x = 824 on an 824 px wide image, 1 px past the last pixel
    i = int(np.flatnonzero(reaches)[0])
    assert raw.location(i)[1] == "line 60" and raw.box_images[i] == "P0004.png"

    result = load_dataset(root / "labelTxt", "dota", root / "images")
    assert result.input_boxes == 587
    assert result.dataset.num_boxes + len(result.drops) == 587
    # the two zero-width quads in the P1478 tile (lines 2 and 3) are dropped as degenerate
    assert sorted((d.image, d.location, d.reason) for d in result.drops) == [
        ("P1478__1__853___962.png", "line 2", "degenerate"),
        ("P1478__1__853___962.png", "line 3", "degenerate"),
    ]
    for im in result.dataset.images:
        w, h = image_size(root / "images" / im.file_name)
        assert im.size_wh == (w, h)
        xyxy = im.boxes.xyxy
        assert (xyxy >= 0).all() and (xyxy[:, [0, 2]] <= w).all() and (xyxy[:, [1, 3]] <= h).all()
    p0004 = next(im for im in result.dataset.images if im.file_name == "P0004.png")
    assert p0004.boxes.xyxy[:, 2].max() == p0004.size_wh[0] == 824


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=8, max_size=8),
        min_size=0,
        max_size=6,
    )
)
def test_enclosing_box_property(quads):
    text = "".join(" ".join(repr(float(c)) for c in quad) + " cls 0\n" for quad in quads)
    raw = parse_text(text, image="p.png")
    expected = np.array(quads, dtype=np.float64).reshape(-1, 8)
    xs, ys = expected[:, 0::2], expected[:, 1::2]
    np.testing.assert_array_equal(raw.xyxy, np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1))
    assert (raw.xyxy[:, :2] <= raw.xyxy[:, 2:]).all()


def test_skip_difficult_reports_difficult_drops():
    text = "imagesource:x\n0 0 10 0 10 10 0 10 car 1\n20 20 30 20 30 30 20 30 car 0\n1 1 5 1 5 5 1 5 bus\n"
    kept = parse_text(text, "a.png", source="a.txt")
    assert len(kept) == 3 and not kept.drops  # the default keeps difficult boxes
    raw = parse_text(text, "a.png", source="a.txt", skip_difficult=True)
    assert raw.xyxy.tolist() == [[20, 20, 30, 30], [1, 1, 5, 5]]
    assert [(d.reason, d.location) for d in raw.drops] == [("difficult", "line 2")]

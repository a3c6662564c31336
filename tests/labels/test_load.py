from __future__ import annotations

import numpy as np
from PIL import Image

from tiledet.labels import RawLabelsBuilder
from tiledet.labels.classes import ClassMap
from tiledet.labels.load import resolve


def _raw():
    b = RawLabelsBuilder(location_unit="line")
    src = b.add_source("labels.csv")
    b.add_box("a.png", (10, 10, 20, 30), 18, src, 2)  # kept
    b.add_box("a.png", (-5, 90, 8, 120), 73, src, 3)  # clipped to (0, 90, 8, 100)
    b.add_box("a.png", (99.5, 10, 120, 20), 18, src, 4)  # clipped width 0.5 -> degenerate
    b.add_box("a.png", (1, 1, 5, 5), 75, src, 5)  # unknown class
    b.add_box("missing.png", (1, 1, 5, 5), 18, src, 6)  # missing image
    b.add_box("a.png", (30, 10, 20, 30), 18, src, 7)  # reversed -> malformed
    b.add_box("bad.png", (1, 1, 5, 5), 18, src, 8)  # unreadable image
    b.add_image("empty.png")
    b.drop(src, 9, "not a number: 'x'")
    return b.build()


def test_resolve_accounts_for_every_box(tmp_path):
    Image.new("RGB", (100, 100)).save(tmp_path / "a.png")
    Image.new("RGB", (50, 40)).save(tmp_path / "empty.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    result = resolve(_raw(), ClassMap.xview(), tmp_path)
    ds = result.dataset
    assert [im.file_name for im in ds.images] == ["a.png", "empty.png"]
    a = ds.images[0]
    assert a.size_wh == (100, 100)
    np.testing.assert_array_equal(a.boxes.xyxy, [[10, 10, 20, 30], [0, 90, 8, 100]])
    assert a.boxes.class_ids.tolist() == [5, 48]
    assert len(ds.images[1].boxes) == 0 and ds.images[1].size_wh == (50, 40)
    reasons = {d.location: d.reason for d in result.drops}
    assert reasons == {
        "line 4": "degenerate",
        "line 5": "unknown_class",
        "line 6": "missing_image",
        "line 7": "malformed",
        "line 8": "unreadable_image",
        "line 9": "malformed",
    }
    assert result.input_boxes == 8
    assert result.input_boxes == ds.num_boxes + len(result.drops)
    assert all(d.source == "labels.csv" for d in result.drops)


def test_reader_image_drops_are_not_input_boxes(tmp_path):
    from tiledet.labels import Drop

    b = RawLabelsBuilder(location_unit="line")
    src = b.add_source("labels/a.txt")
    b.add_image("a.png")
    b.add_box("a.png", (1, 1, 5, 5), 0, src, 1)
    b.drops.append(Drop("list.txt", "image", "missing_image", "gone.png: image not found", "gone.png"))
    Image.new("RGB", (10, 10)).save(tmp_path / "a.png")
    result = resolve(b.build(), ClassMap.from_names(["car"]), tmp_path)
    assert result.input_boxes == 1 == result.dataset.num_boxes  # a box-less missing image is no box
    assert [d.image for d in result.drops] == ["gone.png"]


def test_resolve_without_images_uses_declared_sizes():
    b = RawLabelsBuilder()
    src = b.add_source("gt.json")
    b.add_image("x.jpg", (64, 48))
    b.add_box("x.jpg", (60, 40, 70, 50), "car", src, 1)
    result = resolve(b.build(), ClassMap.from_names(["car"]), None)
    assert result.dataset.images[0].boxes.xyxy.tolist() == [[60, 40, 64, 48]]
    assert result.drops == []


def test_integer_keys_without_names_map_to_themselves():
    from tiledet.labels.load import class_map_for

    b = RawLabelsBuilder()
    src = b.add_source("labels")
    for i, key in enumerate([2, 10, 0]):
        b.add_box("a.png", (0, 0, 5, 5), key, src, i + 1)
    cm = class_map_for(b.build(), "yolo", None)
    assert cm.lookup([2, 10, 0]).tolist() == [2, 10, 0]
    assert cm.names[10] == "10" and len(cm.names) == 11


def test_names_without_declared_classes_are_sorted():
    from tiledet.labels.load import class_map_for

    b = RawLabelsBuilder()
    src = b.add_source("labels")
    for i, key in enumerate(["small-vehicle", "Large-vehicle", "small-vehicle"]):
        b.add_box("a.png", (0, 0, 5, 5), key, src, i + 1)
    cm = class_map_for(b.build(), "dota", None)
    assert cm.names == ("Large-vehicle", "small-vehicle")

"""VisDrone-DET reader: hand-computed boxes from literal text, ignored regions as drops, real sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tiledet.errors import FormatError
from tiledet.formats import ReadOptions
from tiledet.formats.detect import detect_format
from tiledet.formats.visdrone import VISDRONE_CLASSES, parse_text, read
from tiledet.labels.load import load_dataset

TEXT = (
    "\ufeff684,8,273,116,0,0,0,0\r\n406,119,265,70,1,4,0,1,\n\n10,20,5,6,1,11,0,0\n1,2,3,4,0,1,0,0\nbad,line\n"
)


def test_parse_literal_text() -> None:
    raw = parse_text(TEXT, "a.jpg", source="a.txt")
    # x,y,w,h -> xyxy by hand: (406, 119, 671, 189) and (10, 20, 15, 26)
    assert np.array_equal(raw.xyxy, [[406, 119, 671, 189], [10, 20, 15, 26]])
    assert raw.class_keys == [4, 11]
    assert raw.box_locations.tolist() == [2, 4]
    assert raw.class_names == tuple(VISDRONE_CLASSES.values()) and raw.class_ids == tuple(range(1, 12))
    reasons = [(d.reason, d.location) for d in raw.drops]
    assert reasons == [("ignored_region", "line 1"), ("ignored_region", "line 5"), ("malformed", "line 6")]
    assert "684,8,273,116" in raw.drops[0].detail and "category 0" in raw.drops[0].detail
    assert "score 0" in raw.drops[1].detail


def test_strict_raises_on_malformed_but_not_on_ignored() -> None:
    parse_text("1,1,5,5,0,0,0,0\n", "a.jpg", strict=True)  # an ignored region is not an error
    with pytest.raises(FormatError, match=r"a\.txt:line 1: expected 8 numbers"):
        parse_text("1,2,3\n", "a.jpg", source="a.txt", strict=True)
    with pytest.raises(FormatError, match="negative width"):
        parse_text("1,2,-3,4,1,1,0,0\n", "a.jpg", source="a.txt", strict=True)


def test_detection_of_file_and_folder(tmp_path: Path) -> None:
    folder = tmp_path / "annotations"
    folder.mkdir()
    (folder / "b.txt").write_text("406,119,265,70,1,4,0,1\n")
    assert detect_format(folder / "b.txt") == "visdrone"
    assert detect_format(folder) == "visdrone"
    (tmp_path / "yolo.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    assert detect_format(tmp_path / "yolo.txt") == "yolo"


@pytest.mark.realdata
def test_real_visdrone_sample(realdata: Path) -> None:
    root = realdata / "visdrone"
    if not (root / "annotations").is_dir():
        pytest.skip(f"{root}/annotations not found")
    assert detect_format(root / "annotations") == "visdrone"
    raw = read(root / "annotations", ReadOptions(images_dir=root / "images"))
    # PROVENANCE.txt: 256 boxes of which 4 are ignored regions (category 0)
    assert len(raw) + len(raw.drops) == 256
    assert [d.reason for d in raw.drops] == ["ignored_region"] * 4
    assert set(raw.images) == {p.name for p in (root / "images").glob("*.jpg")}
    result = load_dataset(root / "annotations", "visdrone", root / "images")
    assert result.dataset.num_boxes + len(result.drops) == 256
    counts = {n: 0 for n in result.dataset.class_names}
    for im in result.dataset.images:
        assert im.size_wh == (455, 256)
        for cid in im.boxes.class_ids.tolist():
            counts[result.dataset.class_names[cid]] += 1
    dropped = [d.reason for d in result.drops if d.reason != "ignored_region"]
    # per-class counts from PROVENANCE.txt (minus any box clipped to nothing)
    expected = {"pedestrian": 24, "people": 68, "bicycle": 6, "car": 33, "van": 3, "truck": 1, "tricycle": 5,
                "awning-tricycle": 19, "motor": 93}
    assert sum(counts.values()) + len(dropped) == sum(expected.values())
    if not dropped:
        assert {k: v for k, v in counts.items() if v} == expected

"""Reading, matching and writing COCO results JSON (tiledet.evaluate.detections)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiledet.boxes import Boxes
from tiledet.errors import InputError
from tiledet.evaluate.detections import (
    GtLookup,
    detections_to_results,
    match_detections,
    parse_results_text,
    read_results_json,
    write_results_json,
)

GT = GtLookup(
    image_ids=(1, 2, 3, 7),
    file_names=("scenes/a.png", "scenes/b.png", "other/b.png", "c.tif"),
    category_ids=(5, 9),
    category_names=("Small Car", "Building"),
)


def det(**fields: object) -> dict:
    entry = {"bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.5}
    entry.update(fields)
    return entry


@pytest.mark.parametrize(
    ("entry", "image_id", "category_id"),
    [
        (det(image_id=7, category_id=9), 7, 9),
        (det(file_name="scenes/a.png", category_id=5), 1, 5),  # exact path
        (det(file_name="a.png", category_id=5), 1, 5),  # unique basename
        (det(file_name="/data/xview/c.tif", category_id=5), 7, 5),  # absolute path, unique basename
        (det(file_name="scenes\\a.png", category_id=5), 1, 5),  # Windows separators
        (det(file_name="other/b.png", category_name="small car"), 3, 5),  # exact beats ambiguous basename
        (det(image_id=1, category_name="  BUILDING "), 1, 9),  # case and whitespace
        (det(file_name="c.tif", image_id=1, category_name="building", category_id=5), 7, 9),  # names win
        (det(image_id=2.0, category_id=9), 2, 9),  # integral float id
    ],
)
def test_entries_are_matched_by_name_or_id(entry: dict, image_id: int, category_id: int) -> None:
    m = match_detections([entry], GT)
    assert (m.image_ids.tolist(), m.category_ids.tolist()) == ([image_id], [category_id])
    assert m.counts.used == 1 and m.counts.dropped == 0
    np.testing.assert_array_equal(m.xywh, [[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(m.scores, [0.5])


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        (det(file_name="b.png", category_id=5), "unknown_image"),  # ambiguous basename
        (det(file_name="zzz.png", category_id=5), "unknown_image"),
        (det(image_id=4, category_id=5), "unknown_image"),
        (det(image_id=True, category_id=5), "unknown_image"),
        (det(image_id=1.5, category_id=5), "unknown_image"),
        (det(image_id=float("nan"), category_id=5), "unknown_image"),
        (det(image_id=[1], category_id=5), "unknown_image"),
        (det(image_id=1, category_id=6), "unknown_category"),
        (det(image_id=1, category_name="tank"), "unknown_category"),
        (det(image_id=1, category_name="building", category_id=9, bbox=[0, 0, -1, 4]), "invalid_box"),
        (det(image_id=1, category_id=9, bbox=[0, 0, 3, 0]), "invalid_box"),
        (det(image_id=1, category_id=9, bbox=[float("nan"), 0, 3, 3]), "invalid_box"),
        (det(image_id=1, category_id=9, score=float("inf")), "invalid_box"),
        (det(image_id=1, category_id=9, bbox=[0, 0, 3]), "malformed"),
        (det(image_id=1, category_id=9, bbox=[0, 0, "3", None]), "malformed"),
        (det(image_id=1, category_id=9, score="high"), "malformed"),
        (det(image_id=1, category_id=9, score="0.5"), "malformed"),
        (det(image_id=1, category_id=9, bbox=[0, 0, [1], 1]), "malformed"),
        (det(image_id=1, category_id=9, bbox=[True, 0, 3, 3]), "malformed"),  # numpy would read 1
        (det(image_id=1, category_id=9, score=True), "malformed"),
        (det(image_id=1, category_id=True), "unknown_category"),
        ({"image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]}, "malformed"),  # no score
        (det(category_id=9), "malformed"),  # no image key
        (det(image_id=1), "malformed"),  # no category key
        ([1, 2, 3], "malformed"),
    ],
)
def test_bad_entries_are_counted_and_dropped(entry: object, kind: str) -> None:
    good = det(image_id=1, category_id=5)
    m = match_detections([good, entry, good], GT)
    assert len(m) == 2 and m.counts.used == 2 and m.counts.entries == 3
    assert getattr(m.counts, kind) == 1 and m.counts.dropped == 1
    assert m.counts.examples[kind][0].startswith("entry 1:")
    assert kind in m.counts.summary()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (det(file_name="zzz.png", category_id=5), "entry 0: unknown image 'zzz.png'"),
        (det(image_id=1, category_name="tank"), "entry 0: unknown category 'tank'"),
        (det(image_id=1, category_id=5, bbox=[0, 0, -1, 1]), "entry 0: invalid box"),
        (det(image_id=1, category_id=5, score="x"), "entry 0: non-numeric"),
        (det(image_id=1, category_id=5, score=False), "entry 0: non-numeric"),
        (det(image_id=True, category_id=5), "entry 0: unknown image image_id True is not an integer"),
        (det(image_id=1, category_id=5.5), "entry 0: unknown category category_id 5.5 is not an integer"),
        ({"bbox": [0, 0, 1, 1]}, "entry 0: malformed"),
    ],
)
def test_strict_mode_raises_with_file_and_entry(entry: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        match_detections([entry], GT, source="run.json", strict=True)
    assert str(info.value).startswith("run.json: ")


def test_empty_results_match_to_nothing() -> None:
    m = match_detections([], GT)
    assert len(m) == 0 and m.xywh.shape == (0, 4) and m.counts.summary() == ""
    assert m.to_coco_results() == []


def test_examples_are_capped() -> None:
    m = match_detections([det(image_id=99, category_id=5)] * 10, GT)
    assert m.counts.unknown_image == 10 and len(m.counts.examples["unknown_image"]) == 3


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [('[{"bbox": [1, 2, 3, 4],\n  "score": }]', 2, 12), ("[1, 2,", 1, 7), ("", 1, 1)],
)
def test_malformed_json_names_file_line_and_column(text: str, line: int, column: int) -> None:
    with pytest.raises(InputError, match=rf"^dets\.json:line {line} column {column}: invalid JSON"):
        parse_results_text(text, "dets.json")


@pytest.mark.parametrize("text", ['{"a": 1}', '"x"', "3"])
def test_results_must_be_a_list(text: str) -> None:
    with pytest.raises(InputError, match="expected a JSON list"):
        parse_results_text(text, "dets.json")


def test_a_coco_dict_with_annotations_is_accepted() -> None:
    assert parse_results_text('{"annotations": [{"x": 1}]}', "d.json") == [{"x": 1}]


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_results_json(tmp_path / "nope.json")


def test_writer_round_trip(tmp_path: Path) -> None:
    xyxy = np.array([[10.0, 20.0, 14.5, 30.0], [0.0, 0.0, 1.0, 2.0]])
    boxes = Boxes(xyxy, np.array([1, 0]), np.array([0.9, 0.25]))
    entries = detections_to_results("scenes/a.png", boxes, ["small car", "building"], image_id=1)
    assert entries[0] == {"file_name": "scenes/a.png", "image_id": 1, "category_name": "building",
                          "category_id": 2, "bbox": [10.0, 20.0, 4.5, 10.0], "score": 0.9}
    path = tmp_path / "out" / "dets.json"
    write_results_json(path, entries)
    loaded = read_results_json(path)
    assert loaded == json.loads(json.dumps(entries))
    m = match_detections(loaded, GT)
    np.testing.assert_array_equal(m.category_ids, [9, 5])  # matched by name, not by the written index + 1
    np.testing.assert_array_equal(m.xywh, [[10.0, 20.0, 4.5, 10.0], [0.0, 0.0, 1.0, 2.0]])


def test_writer_without_scores_or_image_id() -> None:
    entries = detections_to_results("a.png", Boxes(np.array([[0.0, 0.0, 2.0, 2.0]]), np.array([0])), ["car"])
    assert entries == [{"file_name": "a.png", "category_name": "car", "category_id": 1,
                        "bbox": [0.0, 0.0, 2.0, 2.0], "score": 1.0}]
    assert detections_to_results("a.png", Boxes.empty(with_scores=True), ["car"]) == []


def test_writer_rejects_class_ids_without_names() -> None:
    with pytest.raises(InputError, match="class id 3"):
        detections_to_results("a.png", Boxes(np.zeros((1, 4)), np.array([3])), ["car"])


_NAME = st.text(alphabet="abcXYZ019_-.", min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_NAME, min_size=1, max_size=3).map("/".join), min_size=1, max_size=8, unique=True))
def test_exact_paths_always_match_and_basenames_only_when_unique(paths: list[str]) -> None:
    lookup = GtLookup(tuple(range(1, len(paths) + 1)), tuple(paths), (1,), ("car",))
    entries = [det(file_name=p, category_id=1) for p in paths]
    entries += [det(file_name=p.rsplit("/", 1)[-1], category_id=1) for p in paths]
    m = match_detections(entries, lookup)
    assert m.image_ids.tolist()[: len(paths)] == list(range(1, len(paths) + 1))  # exact paths
    bases = [p.rsplit("/", 1)[-1] for p in paths]
    # a basename is itself an exact path of some image, else it matches when unique, else unknown
    expected = [
        paths.index(b) + 1 if b in paths else (i + 1 if bases.count(b) == 1 else -1)
        for i, b in enumerate(bases)
    ]
    assert m.image_ids.tolist()[len(paths) :] == [e for e in expected if e > 0]
    assert m.counts.unknown_image == expected.count(-1)

from __future__ import annotations

import numpy as np
import pytest

from tiledet.boxes import Boxes


def test_construction_validates_and_normalises_dtypes():
    b = Boxes([[0, 0, 10, 5]], [3])
    assert b.xyxy.dtype == np.float64 and b.class_ids.dtype == np.int64
    assert b.scores is None
    assert len(b) == 1
    assert b.area.tolist() == [50.0]


@pytest.mark.parametrize(
    ("xyxy", "cls", "scores", "message"),
    [
        ([[0, 0, 1]], [0], None, "shape"),
        ([[0, 0, 1, 1]], [0, 1], None, "class_ids"),
        ([[5, 0, 1, 1]], [0], None, "x_min <= x_max"),
        ([[0, 5, 1, 1]], [0], None, "x_min <= x_max"),
        ([[0, 0, np.nan, 1]], [0], None, "NaN"),
        ([[0, 0, 1, 1]], [-1], None, ">= 0"),
        ([[0, 0, 1, 1]], [0], [0.5, 0.2], "scores"),
        ([[0, 0, 1, 1]], [0], [np.inf], "scores"),
    ],
)
def test_invalid_boxes_are_rejected(xyxy, cls, scores, message):
    with pytest.raises(ValueError, match=message):
        Boxes(xyxy, cls, scores)


def test_empty_and_concat_and_indexing():
    empty = Boxes.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)
    a = Boxes([[0, 0, 2, 2]], [1], [0.9])
    b = Boxes([[1, 1, 3, 4]], [2], [0.1])
    both = Boxes.concat([a, b])
    assert both.class_ids.tolist() == [1, 2] and both.scores.tolist() == [0.9, 0.1]
    assert Boxes.concat([a, Boxes([[0, 0, 1, 1]], [0])]).scores is None
    assert both[1].equals(b)
    assert both[np.array([False, True])].equals(b)
    assert both[-1].equals(b)
    assert len(Boxes.concat([])) == 0


def test_clip_and_translate():
    b = Boxes([[-5, -5, 5, 5], [8, 8, 20, 30], [50, 50, 60, 60]], [0, 1, 2])
    c = b.clip((10, 12))
    assert c.xyxy.tolist() == [[0, 0, 5, 5], [8, 8, 10, 12], [10, 12, 10, 12]]
    assert c.min_side_at_least(1).tolist() == [True, True, False]
    t = b.translate(100, 200)
    assert t.xyxy[0].tolist() == [95, 195, 105, 205]
    assert not b.equals(t)

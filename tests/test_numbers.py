from __future__ import annotations

import math

import numpy as np
import pytest

from tiledet.numbers import is_finite_number, is_int, is_number


@pytest.mark.parametrize(
    ("value", "number", "finite", "integer"),
    [
        (3, True, True, True),
        (2.5, True, True, False),
        (1.0, True, True, False),
        (True, False, False, False),
        (math.nan, True, False, False),
        (math.inf, True, False, False),
        (-math.inf, True, False, False),
        ("3", False, False, False),
        (None, False, False, False),
        ([1], False, False, False),
        (np.float64(2.0), True, True, False),  # numpy float64 subclasses float
    ],
)
def test_one_number_check(value, number, finite, integer):
    assert (is_number(value), is_finite_number(value), is_int(value)) == (number, finite, integer)


def test_readers_agree_on_nan_and_inf(tmp_path):
    # the COCO label reader drops a NaN/inf bbox as malformed; the evaluator's GT check refuses it
    import json

    from tiledet.errors import FormatError
    from tiledet.evaluate.gt import validate_coco_gt
    from tiledet.formats.coco import parse_coco_dict

    for bad in (math.nan, math.inf):
        coco = {
            "images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}],
            "categories": [{"id": 1, "name": "car"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, bad, 2]}],
        }
        raw = parse_coco_dict(json.loads(json.dumps(coco)), "gt.json", strict=False)
        assert len(raw) == 0 and [d.reason for d in raw.drops] == ["malformed"]
        with pytest.raises(FormatError, match="finite"):
            validate_coco_gt(coco, "gt.json")

"""``tiledet draw`` of georeferenced detections: the layer lands on the same pixels as its COCO twin."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.formats.geotiffs import rotated_transform, write_geotiff

pytest.importorskip("rasterio")


@dataclass(frozen=True)
class _Scene:
    path: Path
    file_name: str


GT = {
    "images": [{"id": 1, "file_name": "a.tif", "width": 120, "height": 90}],
    "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 12, 20, 15], "area": 300, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [60, 40, 30, 25], "area": 750, "iscrowd": 0},
    ],
}
DETS = [
    {"file_name": "a.tif", "category_id": 1, "category_name": "car", "bbox": [11, 12, 19, 16], "score": 0.9},
    {"file_name": "a.tif", "category_id": 2, "category_name": "truck", "bbox": [58, 41, 31, 24],
     "score": 0.7},
]


@pytest.mark.parametrize("rotated", [False, True])
def test_geo_layer_draws_like_its_coco_results(tmp_path: Path, rotated: bool) -> None:
    from tiledet.cli import main
    from tiledet.formats.geo_results import prepare_detections_output, write_detections_output

    images = tmp_path / "scenes"
    images.mkdir()
    write_geotiff(images / "a.tif", size_wh=(120, 90), transform=rotated_transform() if rotated else None)
    (tmp_path / "gt.json").write_text(json.dumps(GT))
    scenes = [_Scene(images / "a.tif", "a.tif")]
    geo = tmp_path / "dets" / "d.geojson"
    geo.parent.mkdir()
    out = prepare_detections_output(geo, scenes, command="detect yolo")
    write_detections_output(out, DETS, scenes, command="detect yolo")
    coco = geo.with_suffix(".json")
    assert json.loads(coco.read_text()) == DETS  # the COCO twin, written beside
    for dets, folder in ((coco, "from_coco"), (geo, "from_geo")):
        argv = ["draw", str(dets), "--gt", str(tmp_path / "gt.json"), "--images", str(images),
                "--out", str(tmp_path / folder), "--quiet"]  # fmt: skip
        assert main(argv) == 0
    from_coco = cv2.imread(str(tmp_path / "from_coco" / "a.tif.png"))
    from_geo = cv2.imread(str(tmp_path / "from_geo" / "a.tif.png"))
    assert from_coco is not None and from_geo is not None
    np.testing.assert_array_equal(from_geo, from_coco)


def test_geo_layer_without_ground_truth_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tiledet.cli import main

    (tmp_path / "d.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    assert main(["draw", str(tmp_path / "d.geojson"), "--images", str(tmp_path), "--out",
                 str(tmp_path / "o"), "--quiet"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "detections in map coordinates are drawn on the scenes of a ground truth" in err

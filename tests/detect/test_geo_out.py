"""``detect yolo|sliding --out x.geojson|.gpkg|.parquet``: georeferenced detections beside the COCO JSON,
and a clear error before any work when a scene is not georeferenced."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.formats.geotiffs import rotated_transform, write_geotiff

from .yolo_data import make_firing_weights

pytest.importorskip("torch")
rasterio = pytest.importorskip("rasterio")
pyproj = pytest.importorskip("pyproj")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_firing_weights(tmp_path_factory.mktemp("weights") / "fire.pt")


def _args(weights: Path, *rest: object) -> list[str]:
    return ["detect", "yolo", str(weights), *map(str, rest), "--device", "cpu", "--max-det", "20"]


def test_detect_yolo_writes_geojson_and_its_coco_json(weights: Path, tmp_path: Path, capsys) -> None:
    from tiledet.cli import main

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_geotiff(scenes / "a.tif", size_wh=(160, 140))
    write_geotiff(scenes / "b.tif", size_wh=(150, 130), transform=rotated_transform(20.0), seed=2)
    out = tmp_path / "out" / "dets.geojson"
    assert main(_args(weights, scenes, "--out", out)) == 0
    assert f"-> {out}" in capsys.readouterr().out
    entries = json.loads(out.with_suffix(".json").read_text())
    features = json.loads(out.read_text())["features"]
    assert len(entries) == len(features) > 0 and {e["file_name"] for e in entries} == {"a.tif", "b.tif"}
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32633", always_xy=True)
    for entry, feature in zip(entries, features, strict=True):
        x, y, w, h = entry["bbox"]
        props = feature["properties"]
        assert (props["scene"], props["class"], props["class_id"], props["score"]) == (
            entry["file_name"], entry["category_name"], entry["category_id"] - 1, entry["score"])
        assert [props[k] for k in ("x0", "y0", "x1", "y1")] == pytest.approx([x, y, x + w, y + h], abs=1e-9)
        lonlat = np.array(feature["geometry"]["coordinates"][0])
        easting, northing = to_utm.transform(lonlat[:, 0], lonlat[:, 1])
        with rasterio.open(scenes / entry["file_name"]) as src:
            rows, cols = rasterio.transform.rowcol(src.transform, easting, northing, op=lambda v: v)
        pixel = np.column_stack([cols, rows])[:4]
        expected = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
        assert np.abs(np.sort(pixel, axis=0) - np.sort(expected, axis=0)).max() < 1e-6


def test_geo_out_with_a_png_scene_fails_before_loading_the_model(
    weights: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cv2

    import tiledet.detect.yolo_run as yolo_run
    from tiledet.cli import main

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(yolo_run, "YoloPredictor", no_model)
    tif = write_geotiff(tmp_path / "a.tif")
    png = tmp_path / "plain.png"
    cv2.imwrite(str(png), np.zeros((50, 60, 3), np.uint8))
    out = tmp_path / "out" / "d.gpkg"
    assert main(_args(weights, tif, png, "--out", out)) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: --out d.gpkg writes detections in map coordinates, but scene plain.png "
                   f"({png}) is not georeferenced (a PNG file carries no CRS or geotransform); give "
                   "GeoTIFF/COG scenes or a .json --out")  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_detect_sliding_checks_the_scenes_before_loading_the_checkpoint(tmp_path: Path, capsys) -> None:
    from tiledet.cli import main

    bare = write_geotiff(tmp_path / "bare.tif", crs=None)
    out = tmp_path / "d.parquet"
    code = main(["detect", "sliding", str(tmp_path / "missing.pt"), str(bare), "--out", str(out),
                 "--device", "cpu"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "scene bare.tif" in err and "(no CRS and no geotransform)" in err and "missing.pt" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare.tif"]

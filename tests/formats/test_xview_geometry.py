"""xView GeoJSON: boxes stay ``bounds_imcoords``; their geometry is checked against georeferenced images."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import Affine

from tiledet.formats import ReadOptions, get_reader
from tiledet.formats.xview_geometry import TOLERANCE_PX
from tiledet.labels.load import load_labels

from .geo_layers import write_raster

#: lon/lat pixels of about 0.37 m (xView-like), north up.
LONLAT = Affine(3.4e-6, 0.0, -90.541, 0.0, -3.4e-6, 14.570)


def feature(box: tuple[int, ...], transform: Affine, feature_id: int, shift_px: float = 0.0) -> dict:
    """An xView feature whose polygon is ``box`` mapped through ``transform`` (shifted by ``shift_px``)."""
    x0, y0, x1, y1 = (v + shift_px for v in box)
    ring = [list(transform @ (x, y)) for x, y in ((x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0))]
    return {
        "type": "Feature",
        "properties": {"bounds_imcoords": ",".join(map(str, box)), "type_id": 73, "image_id": "2355.tif",
                       "feature_id": feature_id},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }  # fmt: skip


def write_collection(path: Path, features: list[dict]) -> Path:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    collection = {"type": "FeatureCollection", "crs": crs, "features": features}
    path.write_text(json.dumps(collection), encoding="utf-8")
    return path


def test_disagreeing_geometry_is_reported_and_the_box_kept(tmp_path, caplog):
    boxes = [(100, 120, 140, 150), (300, 310, 330, 350), (500, 20, 520, 60)]
    features = [feature(boxes[0], LONLAT, 11), feature(boxes[1], LONLAT, 12, shift_px=2.5),
                feature(boxes[2], LONLAT, 13, shift_px=8.0)]  # fmt: skip
    src = write_collection(tmp_path / "xView_train.geojson", features)
    write_raster(tmp_path / "images" / "2355.tif", LONLAT, crs="EPSG:4326", size_wh=(600, 400))
    with caplog.at_level(logging.WARNING, logger="tiledet"):
        result = load_labels(src, "auto", tmp_path / "images", classes="xview")
    assert result.fmt == "xview-geojson"
    np.testing.assert_array_equal(result.dataset.images[0].boxes.xyxy, boxes)  # bounds_imcoords, as written
    notes = result.notes["xview_geometry"]
    assert (notes["images"], notes["checked"], notes["disagreeing"]) == (1, 3, 1)
    assert notes["tolerance_px"] == TOLERANCE_PX == 3.0
    assert notes["max_difference_px"] == pytest.approx(8.0, abs=1e-6)
    [first] = notes["first"]
    assert (first["feature"], first["feature_id"], first["image"]) == (2, 13, "2355.tif")
    np.testing.assert_allclose(first["geometry_px"], [508, 28, 528, 68], atol=1e-3)
    assert "1 of 3 boxes disagree with their geometry" in caplog.text


def test_no_check_without_a_georeferenced_image(tmp_path):
    src = write_collection(tmp_path / "x.geojson", [feature((1, 2, 30, 40), LONLAT, 1, shift_px=50)])
    write_raster(tmp_path / "images" / "2355.tif", None, crs=None, size_wh=(60, 60))
    read = get_reader("xview-geojson")
    assert read(src, ReadOptions(images_dir=tmp_path / "images")).notes == {}
    assert read(src, ReadOptions()).notes == {}


@pytest.mark.realdata
def test_real_xview_features_agree_with_a_fitted_georeference_and_not_with_a_shifted_one(tmp_path, realdata):
    path = realdata / "xview_meta" / "xview_train_geojson_example_features.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    xs, lons, ys, lats = [], [], [], []
    for f in data["features"]:  # the two real features: pixel bounds and lon/lat polygon of each
        x0, y0, x1, y1 = map(float, f["properties"]["bounds_imcoords"].split(","))
        ring = np.asarray(f["geometry"]["coordinates"][0])
        xs += [x0, x1]
        lons += [ring[:, 0].min(), ring[:, 0].max()]
        ys += [y0, y1]
        lats += [ring[:, 1].max(), ring[:, 1].min()]
    a, c = np.polyfit(xs, lons, 1)  # least-squares north-up georeference of image 2355.tif
    e, f_ = np.polyfit(ys, lats, 1)
    residual_x = np.abs((np.polyval([a, c], xs) - lons) / a).max()
    residual_px = max(residual_x, np.abs((np.polyval([e, f_], ys) - lats) / e).max())
    fitted = Affine(a, 0.0, c, 0.0, e, f_)
    read = get_reader("xview-geojson")
    write_raster(tmp_path / "fitted" / "2355.tif", fitted, crs="EPSG:4326", size_wh=(3000, 3000))
    notes = read(path, ReadOptions(images_dir=tmp_path / "fitted")).notes["xview_geometry"]
    assert (notes["checked"], notes["disagreeing"]) == (2, 0)
    assert notes["max_difference_px"] == pytest.approx(residual_px, abs=1e-3) and residual_px < 0.5
    shifted = fitted @ Affine.translation(-10, 0)  # the image's georeference 10 px off
    write_raster(tmp_path / "shifted" / "2355.tif", shifted, crs="EPSG:4326", size_wh=(3000, 3000))
    raw = read(path, ReadOptions(images_dir=tmp_path / "shifted"))
    notes = raw.notes["xview_geometry"]
    assert notes["disagreeing"] == 2
    assert [f["feature_id"] for f in notes["first"]] == [374410, 394393]
    np.testing.assert_array_equal(raw.xyxy, [[2712, 1145, 2746, 1177], [2720, 2233, 2760, 2288]])

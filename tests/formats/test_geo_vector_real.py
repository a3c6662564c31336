"""geo-vector on real third-party rasters (``../shared/data/real/geotiff``; see its PROVENANCE.txt).

OSBS_029.tif (NEON airborne RGB, EPSG:32617, 0.1 m) comes with 61 tree crowns as Pascal VOC pixel
boxes: they are turned into map polygons with rasterio's own transform (and into lon/lat with pyproj),
read back through the reader, and must equal the VOC boxes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tiledet.errors import InputError
from tiledet.formats import ReadOptions
from tiledet.formats.geo_options import GeoOptions
from tiledet.formats.geo_vector import read

from .geo_layers import map_polygon, reprojected, write_layer

pytestmark = pytest.mark.realdata


def voc_boxes(path: Path) -> list[tuple[float, float, float, float]]:
    root = ET.parse(path).getroot()
    return [
        tuple(float(obj.find("bndbox").find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
        for obj in root.iter("object")
    ]


@pytest.fixture
def osbs(realdata: Path) -> tuple[Path, object, str, list]:
    import rasterio

    tif = realdata / "geotiff" / "OSBS_029.tif"
    if not tif.is_file():
        pytest.skip(f"{tif} not found")
    with rasterio.open(tif) as src:
        transform, crs = src.transform, src.crs.to_string()
    return tif, transform, crs, voc_boxes(tif.with_suffix(".xml"))


@pytest.mark.parametrize(("suffix", "lonlat"), [(".gpkg", False), (".geojson", True), (".shp", False)])
def test_osbs_voc_boxes_round_trip_through_map_polygons(tmp_path, osbs, suffix, lonlat):
    tif, transform, crs, boxes = osbs
    assert len(boxes) == 61 and crs == "EPSG:32617"
    polygons = [map_polygon(transform, box) for box in boxes]
    layer_crs = "EPSG:4326" if lonlat else crs
    if lonlat:
        polygons = [reprojected(p, crs, layer_crs) for p in polygons]
    images = tmp_path / "images"
    images.mkdir()
    (images / tif.name).symlink_to(tif)  # the folder searched by footprint holds only this raster
    src = write_layer(tmp_path / f"trees{suffix}", polygons, {"name": ["Tree"] * 61}, crs=layer_crs)
    raw = read(src, ReadOptions(images_dir=images, geo=GeoOptions(class_field="name")))
    assert raw.box_images == [tif.name] * 61 and raw.drops == []
    np.testing.assert_allclose(raw.xyxy, boxes, rtol=0, atol=1e-6)


def test_osbs_by_image_field_in_the_real_folder(tmp_path, osbs):
    tif, transform, crs, boxes = osbs
    polygons = [map_polygon(transform, box) for box in boxes]
    fields = {"class": ["Tree"] * 61, "image": [tif.name] * 61}
    src = write_layer(tmp_path / "trees.gpkg", polygons, fields, crs=crs)
    raw = read(src, ReadOptions(images_dir=tif.parent, geo=GeoOptions(image_field="image")))
    np.testing.assert_allclose(raw.xyxy, boxes, rtol=0, atol=1e-6)
    assert raw.images == {tif.name: (400, 400)}


def test_real_rotated_raster_without_crs_is_an_error(tmp_path, realdata):
    rotated = realdata / "geotiff" / "rotated.tif"
    if not rotated.is_file():
        pytest.skip(f"{rotated} not found")
    import shapely

    fields = {"class": ["x"], "image": [rotated.name]}
    src = write_layer(tmp_path / "l.gpkg", [shapely.box(0, 0, 1, 1)], fields)
    with pytest.raises(InputError, match=r"rotated\.tif: the raster has no CRS or no geotransform"):
        read(src, ReadOptions(images_dir=rotated.parent, geo=GeoOptions(image_field="image")))

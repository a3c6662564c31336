"""Georeferenced detections (GeoJSON, GeoPackage, GeoParquet): written, then read back with pyogrio,
pyarrow, json and shapely directly, and checked against rasterio's transform and pyproj."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tiledet.errors import ConfigError, InputError
from tiledet.formats.geo_results import (
    SceneHeader,
    prepare_detections_output,
    read_geo_results,
    write_detections_output,
    write_geo_results,
)

from .geotiffs import rotated_transform, write_geotiff

rasterio = pytest.importorskip("rasterio")
pyproj = pytest.importorskip("pyproj")
shapely = pytest.importorskip("shapely")

ENTRIES = [
    {"file_name": "a.tif", "category_name": "car", "category_id": 1, "bbox": [10.25, 20.5, 5.0, 6.5],
     "score": 0.9},
    {"file_name": "a.tif", "category_name": "truck", "category_id": 2, "bbox": [0.0, 0.0, 120.0, 90.0],
     "score": 0.4},
    {"file_name": "b.tif", "category_name": "car", "category_id": 1, "bbox": [33.0, 44.0, 7.0, 3.0],
     "score": 0.75},
]  # fmt: skip


def _corners_xy(bbox: list[float]) -> np.ndarray:
    x, y, w, h = bbox
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])


def _rasterio_corners(tif: Path, bbox: list[float]) -> np.ndarray:
    """(4, 2) map corners by rasterio's own affine: ``transform * (col, row)``."""
    with rasterio.open(tif) as src:
        return np.array([src.transform @ (float(c), float(r)) for c, r in _corners_xy(bbox)])


def _assert_same_corners(ring: np.ndarray, expected: np.ndarray, tol: float) -> None:
    """A closed ring of 5 vertices whose 4 distinct vertices are ``expected`` (any start, any order)."""
    ring = np.asarray(ring, np.float64)
    assert ring.shape == (5, 2) and np.array_equal(ring[0], ring[-1])
    dist = np.linalg.norm(ring[:4, None, :] - expected[None, :, :], axis=2)
    assert dist.min(axis=0).max() < tol and sorted(dist.argmin(axis=0).tolist()) == [0, 1, 2, 3]


@pytest.fixture()
def scenes(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "scenes"
    folder.mkdir()
    return {"a.tif": write_geotiff(folder / "a.tif"),
            "b.tif": write_geotiff(folder / "b.tif", transform=rotated_transform(30.0), seed=1)}  # fmt: skip


def _headers(scenes: dict[str, Path]) -> dict[str, SceneHeader]:
    return {name: SceneHeader(path) for name, path in scenes.items()}


# 1e-6 px at 0.5 m pixels
TOL_M = 0.5e-6


def test_gpkg_polygons_are_rasterio_corners_in_the_scene_crs(scenes: dict[str, Path], tmp_path: Path) -> None:
    import pyogrio
    from pyogrio import raw

    out = tmp_path / "d.gpkg"
    write_geo_results(out, ENTRIES, _headers(scenes))
    assert pyogrio.list_layers(out).tolist() == [["epsg_32633", "Polygon"]]
    meta, _, wkb, values = raw.read(out, layer="epsg_32633")
    assert pyproj.CRS.from_user_input(meta["crs"]).to_epsg() == 32633
    props = dict(zip(meta["fields"].tolist(), values, strict=True))
    assert props["class"].tolist() == ["car", "truck", "car"] and props["class_id"].tolist() == [0, 1, 0]
    assert props["scene"].tolist() == ["a.tif", "a.tif", "b.tif"]
    assert props["score"].tolist() == [0.9, 0.4, 0.75] and props["x1"].tolist() == [15.25, 120.0, 40.0]
    for geom, entry in zip(shapely.from_wkb(wkb), ENTRIES, strict=True):
        ring = shapely.get_coordinates(geom.exterior)
        _assert_same_corners(ring, _rasterio_corners(scenes[entry["file_name"]], entry["bbox"]), TOL_M)
        assert geom.exterior.is_ccw


def test_rotated_raster_gives_rotated_polygons(scenes: dict[str, Path], tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "d.parquet"
    write_geo_results(out, ENTRIES[2:], {"b.tif": SceneHeader(scenes["b.tif"])})
    geom = shapely.from_wkb(pq.read_table(out).column("geometry").to_pylist()[0])
    ring = shapely.get_coordinates(geom.exterior)
    _assert_same_corners(ring, _rasterio_corners(scenes["b.tif"], ENTRIES[2]["bbox"]), TOL_M)
    edge = ring[1] - ring[0]
    angle = np.degrees(np.arctan2(edge[1], edge[0])) % 90
    assert angle == pytest.approx(60.0, abs=1e-9) or angle == pytest.approx(30.0, abs=1e-9)
    assert not geom.equals(geom.envelope)  # not an axis-aligned rectangle


def test_rings_are_counter_clockwise_also_on_a_south_up_raster(tmp_path: Path) -> None:
    from rasterio.transform import Affine

    flipped = write_geotiff(tmp_path / "a.tif", transform=Affine(0.5, 0, 500_000, 0, 0.5, 4_400_000))
    for suffix in (".gpkg", ".geojson"):
        write_geo_results(tmp_path / f"d{suffix}", ENTRIES[:2], {"a.tif": SceneHeader(flipped)})
        (layer,) = read_geo_results(tmp_path / f"d{suffix}")
        for geom, entry in zip(shapely.from_wkb(layer.wkb), ENTRIES[:2], strict=True):
            assert geom.exterior.is_ccw
            if suffix == ".gpkg":
                ring = shapely.get_coordinates(geom.exterior)
                _assert_same_corners(ring, _rasterio_corners(flipped, entry["bbox"]), TOL_M)


def test_geojson_is_rfc7946_lonlat_and_maps_back_to_the_pixel_corners(
    scenes: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "d.geojson"
    write_geo_results(out, ENTRIES, _headers(scenes))
    doc = json.loads(out.read_text())
    assert doc["type"] == "FeatureCollection" and "crs" not in doc and len(doc["features"]) == 3
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32633", always_xy=True)
    for feature, entry in zip(doc["features"], ENTRIES, strict=True):
        assert feature["properties"] == {
            "class": entry["category_name"], "class_id": entry["category_id"] - 1, "score": entry["score"],
            "scene": entry["file_name"], "x0": entry["bbox"][0], "y0": entry["bbox"][1],
            "x1": entry["bbox"][0] + entry["bbox"][2], "y1": entry["bbox"][1] + entry["bbox"][3],
        }  # fmt: skip
        lonlat = np.array(feature["geometry"]["coordinates"][0])
        assert 14.9 < lonlat[:, 0].min() < 15.1 and 40.6 < lonlat[:, 1].min() < 40.7  # lon, lat order
        assert shapely.LinearRing(lonlat).is_ccw  # right-hand rule
        easting, northing = to_utm.transform(lonlat[:, 0], lonlat[:, 1])
        with rasterio.open(scenes[entry["file_name"]]) as src:
            cols_rows = np.array([~src.transform @ (e, n) for e, n in zip(easting, northing, strict=True)])
        _assert_same_corners(cols_rows, _corners_xy(entry["bbox"]), 1e-6)


def test_geojson_read_back_through_gdal(scenes: dict[str, Path], tmp_path: Path) -> None:
    from pyogrio import raw

    out = tmp_path / "d.geojson"
    write_geo_results(out, ENTRIES, _headers(scenes))
    meta, _, wkb, _ = raw.read(out)
    assert pyproj.CRS.from_user_input(meta["crs"]).to_epsg() == 4326 and len(wkb) == 3
    doc = json.loads(out.read_text())
    for geom, feature in zip(shapely.from_wkb(wkb), doc["features"], strict=True):
        assert np.array_equal(shapely.get_coordinates(geom.exterior), feature["geometry"]["coordinates"][0])


def test_geoparquet_metadata_follows_the_specification(scenes: dict[str, Path], tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "d.parquet"
    write_geo_results(out, ENTRIES, _headers(scenes))
    table = pq.read_table(out)
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    column = geo["columns"]["geometry"]
    assert column["encoding"] == "WKB" and column["geometry_types"] == ["Polygon"]
    assert pyproj.CRS.from_json_dict(column["crs"]).to_epsg() == 32633
    assert table.schema.field("geometry").type == "binary"
    geoms = shapely.from_wkb(table.column("geometry").to_pylist())
    assert column["bbox"] == pytest.approx(list(shapely.total_bounds(geoms)), abs=0)
    assert table.column("scene").to_pylist() == ["a.tif", "a.tif", "b.tif"]
    for geom, entry in zip(geoms, ENTRIES, strict=True):
        expected = _rasterio_corners(scenes[entry["file_name"]], entry["bbox"])
        _assert_same_corners(shapely.get_coordinates(geom.exterior), expected, TOL_M)


def test_scenes_in_two_crss(tmp_path: Path) -> None:
    """GeoPackage: one layer per CRS, each exact; GeoParquet: reprojected to the first scene's CRS."""
    import pyarrow.parquet as pq
    import pyogrio
    from pyogrio import raw
    from rasterio.transform import Affine

    a = write_geotiff(tmp_path / "a.tif")
    zone34 = Affine(0.5, 0, 300_000, 0, -0.5, 4_500_000)
    b = write_geotiff(tmp_path / "b.tif", crs="EPSG:32634", transform=zone34)
    headers = {"a.tif": SceneHeader(a), "b.tif": SceneHeader(b)}
    write_geo_results(tmp_path / "d.gpkg", ENTRIES, headers)
    assert pyogrio.list_layers(tmp_path / "d.gpkg")[:, 0].tolist() == ["epsg_32633", "epsg_32634"]
    meta, _, wkb, values = raw.read(tmp_path / "d.gpkg", layer="epsg_32634")
    assert pyproj.CRS.from_user_input(meta["crs"]).to_epsg() == 32634 and values[3].tolist() == ["b.tif"]
    ring = shapely.get_coordinates(shapely.from_wkb(wkb[0]).exterior)
    _assert_same_corners(ring, _rasterio_corners(b, ENTRIES[2]["bbox"]), TOL_M)

    write_geo_results(tmp_path / "d.parquet", ENTRIES, headers)
    table = pq.read_table(tmp_path / "d.parquet")
    crs = json.loads(table.schema.metadata[b"geo"])["columns"]["geometry"]["crs"]
    assert pyproj.CRS.from_json_dict(crs).to_epsg() == 32633
    ring = shapely.get_coordinates(shapely.from_wkb(table.column("geometry").to_pylist()[2]).exterior)
    to_33 = pyproj.Transformer.from_crs("EPSG:32634", "EPSG:32633", always_xy=True)
    corners = _rasterio_corners(b, ENTRIES[2]["bbox"])
    expected = np.column_stack(to_33.transform(corners[:, 0], corners[:, 1]))
    _assert_same_corners(ring, expected, 1e-6)


def test_own_reader_matches_the_files(scenes: dict[str, Path], tmp_path: Path) -> None:
    for suffix, epsg in ((".geojson", 4326), (".gpkg", 32633), (".parquet", 32633)):
        out = tmp_path / f"d{suffix}"
        write_geo_results(out, ENTRIES, _headers(scenes))
        (layer,) = read_geo_results(out)
        assert layer.crs.to_epsg() == epsg and len(layer) == 3
        assert list(layer.properties["class"]) == ["car", "truck", "car"]
        assert [float(v) for v in layer.properties["y1"]] == [27.0, 90.0, 47.0]


def test_no_detections_write_valid_empty_files(scenes: dict[str, Path], tmp_path: Path) -> None:
    import pyarrow.parquet as pq
    from pyogrio import raw

    for suffix in (".geojson", ".gpkg", ".parquet"):
        write_geo_results(tmp_path / f"e{suffix}", [], _headers(scenes))
    assert json.loads((tmp_path / "e.geojson").read_text()) == {"type": "FeatureCollection", "features": []}
    meta, _, wkb, _ = raw.read(tmp_path / "e.gpkg")
    assert len(wkb) == 0 and pyproj.CRS.from_user_input(meta["crs"]).to_epsg() == 32633
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0


def _refs(scenes: dict[str, Path]) -> list[SimpleNamespace]:
    return [SimpleNamespace(path=path, file_name=name) for name, path in scenes.items()]


def test_detector_outputs_write_the_json_beside_and_record_both(
    scenes: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "dets.geojson"
    refs = _refs(scenes)
    assert prepare_detections_output(out, refs, command="detect yolo", sources=[tmp_path / "scenes"]) == out
    files = write_detections_output(out, ENTRIES, refs, command="detect yolo")
    assert files == [out.with_suffix(".json"), out]
    assert json.loads(out.with_suffix(".json").read_text()) == ENTRIES
    assert sorted(os.listdir(out.parent)) == [".dets.geojson.tiledet.json", ".dets.json.tiledet.json",
                                              "dets.geojson", "dets.json"]  # fmt: skip
    prepare_detections_output(out, refs, command="detect yolo")  # its own files: replaced
    with pytest.raises(ConfigError, match="written by `tiledet detect yolo`"):
        prepare_detections_output(out, refs, command="detect sliding")


@pytest.mark.parametrize("existing", ["dets.gpkg", "dets.json"])
def test_refuses_to_overwrite_a_file_tiledet_did_not_write(
    scenes: dict[str, Path], tmp_path: Path, existing: str
) -> None:
    (tmp_path / existing).write_bytes(b"mine")
    with pytest.raises(ConfigError, match=f"{existing} exists and was not written by tiledet"):
        prepare_detections_output(tmp_path / "dets.gpkg", _refs(scenes), command="detect yolo")
    assert (tmp_path / existing).read_bytes() == b"mine"


def test_scene_without_georeference_fails_before_anything_is_written(
    scenes: dict[str, Path], tmp_path: Path
) -> None:
    import cv2

    png = tmp_path / "plain.png"
    cv2.imwrite(str(png), np.zeros((20, 30, 3), np.uint8))
    bare = write_geotiff(tmp_path / "bare.tif", crs=None)
    no_crs = write_geotiff(tmp_path / "nocrs.tif", crs=None, transform=rotated_transform(0.0))
    cases = ((png, "a PNG file carries no CRS or geotransform"), (bare, "no CRS and no geotransform"),
             (no_crs, "no CRS"))  # fmt: skip
    for path, why in cases:
        refs = [*_refs(scenes), SimpleNamespace(path=path, file_name=path.name)]
        with pytest.raises(ConfigError) as info:
            prepare_detections_output(tmp_path / "out" / "d.geojson", refs, command="detect yolo")
        assert str(info.value).startswith("out d.geojson writes detections in map coordinates, but scene "
                                          f"{path.name} ({path}) is not georeferenced ({why})")  # fmt: skip
        assert info.value.field == "out" and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()
    assert prepare_detections_output(tmp_path / "d.json", [SimpleNamespace(path=png, file_name="p.png")],
                                     command="detect yolo") == tmp_path / "d.json"  # fmt: skip


def test_parquet_without_pyarrow_names_the_extra(
    scenes: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    with pytest.raises(ConfigError, match=r"GeoParquet needs pyarrow, .*: pip install 'tiledet\[geo\]'"):
        prepare_detections_output(tmp_path / "d.parquet", _refs(scenes), command="detect yolo")
    assert not (tmp_path / "d.json").exists()


def test_bad_geo_files_are_one_line_input_errors(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1]}), tmp_path / "plain.parquet")
    (tmp_path / "broken.gpkg").write_bytes(b"not a geopackage")
    (tmp_path / "broken.geojson").write_text("{")
    for name, why in (("plain.parquet", "not GeoParquet"), ("broken.gpkg", "cannot read as gpkg"),
                      ("broken.geojson", "cannot read as geojson"), ("none.gpkg", "not found")):  # fmt: skip
        with pytest.raises(InputError) as info:
            read_geo_results(tmp_path / name)
        assert str(info.value).startswith(f"{tmp_path / name}: ") and why in str(info.value)
        assert "\n" not in str(info.value)


def test_scene_header_reads_no_pixels_and_knows_the_gsd(scenes: dict[str, Path]) -> None:
    header = SceneHeader(scenes["b.tif"])
    assert header.size_wh == (120, 90) and header.georeferenced and header.gsd_m() == pytest.approx(0.5)
    with pytest.raises(InputError, match="holds no pixels"):
        header.read()

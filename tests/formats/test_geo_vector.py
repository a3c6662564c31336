"""Labels in map coordinates (``geo-vector``): vector layers placed on georeferenced rasters.

Rasters are written with rasterio, layers with pyogrio; expected pixel boxes come from the pixel
boxes the polygons were made of (round trips), or from rasterio's ``~transform`` and pyproj.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import shapely

from tiledet.errors import ConfigError, FormatError, InputError
from tiledet.formats import ReadOptions
from tiledet.formats.detect import detect_format
from tiledet.formats.geo_options import GeoOptions, check_geo_options
from tiledet.formats.geo_vector import read
from tiledet.labels.load import load_labels

from .geo_layers import (
    ORIGIN_XY,
    UTM,
    map_polygon,
    north_up,
    pixel_envelope,
    reprojected,
    rotated,
    write_layer,
    write_raster,
)

BOXES = [(10.0, 20.0, 30.5, 40.25), (150.0, 50.0, 199.0, 99.0), (0.0, 0.0, 3.0, 2.0)]
CLASSES = ["car", "boat", "car"]


def read_geo(path: Path, images: Path, strict: bool = False, **geo: object):
    return read(path, ReadOptions(images_dir=images, strict=strict, geo=GeoOptions(**geo)))


def drops_by_location(raw) -> dict[str, tuple[str, str]]:
    return {d.location: (d.reason, d.detail) for d in raw.drops}


# -- round trips and reference transforms ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp", ".fgb"])
@pytest.mark.parametrize("crs", [UTM, "EPSG:4326"])
def test_pixel_boxes_round_trip_through_map_polygons(tmp_path, suffix, crs):
    transform = north_up()
    write_raster(tmp_path / "images" / "scene.tif", transform)
    polygons = [map_polygon(transform, box) for box in BOXES]
    if crs != UTM:
        polygons = [reprojected(p, UTM, crs) for p in polygons]
    src = write_layer(tmp_path / f"labels{suffix}", polygons, {"class": CLASSES}, crs=crs)
    raw = read_geo(src, tmp_path / "images")
    assert raw.box_images == ["scene.tif"] * 3
    assert raw.images == {"scene.tif": (200, 100)}
    order = np.argsort(raw.xyxy[:, 0])  # FlatGeobuf stores features in spatial-index order
    np.testing.assert_allclose(raw.xyxy[order], sorted(BOXES), rtol=0, atol=1e-6)
    assert [raw.class_keys[i] for i in order] == [c for _, c in sorted(zip(BOXES, CLASSES, strict=True))]
    assert raw.drops == []
    assert raw.notes["geo_vector"]["matched_by"] == "footprint"


def test_lonlat_polygon_matches_pyproj_and_rasterio_inverse_transform(tmp_path):
    transform = north_up()
    write_raster(tmp_path / "images" / "scene.tif", transform)
    lon, lat = reprojected(shapely.Point(transform @ (80, 50)), UTM, "EPSG:4326").coords[0]
    polygon = shapely.Polygon([(lon, lat), (lon + 1e-4, lat + 2e-5), (lon + 5e-5, lat - 1e-4)])
    src = write_layer(tmp_path / "labels.gpkg", [polygon], {"class": ["car"]}, crs="EPSG:4326")
    raw = read_geo(src, tmp_path / "images")
    expected = pixel_envelope(transform, polygon, src="EPSG:4326", dst=UTM)
    np.testing.assert_allclose(raw.xyxy[0], expected, rtol=0, atol=1e-6)


def test_rotated_raster_gets_the_envelope_of_each_polygon_in_its_pixel_grid(tmp_path):
    transform = rotated(30.0)
    write_raster(tmp_path / "images" / "rotated.tif", transform, size_wh=(200, 200))
    cx, cy = transform @ (100, 120)
    square = shapely.box(cx - 5, cy - 5, cx + 5, cy + 5)  # north-up on the map, rotated in the pixels
    polygons = [map_polygon(transform, box) for box in BOXES] + [square]
    src = write_layer(tmp_path / "labels.gpkg", polygons, {"class": [*CLASSES, "tree"]})
    raw = read_geo(src, tmp_path / "images")
    np.testing.assert_allclose(raw.xyxy[:3], BOXES, rtol=0, atol=1e-6)
    expected = pixel_envelope(transform, square)
    np.testing.assert_allclose(raw.xyxy[3], expected, rtol=0, atol=1e-6)
    side = 10 / 0.5 * (np.cos(np.radians(30)) + np.sin(np.radians(30)))  # hand-computed: 27.32 px
    assert raw.xyxy[3][2] - raw.xyxy[3][0] == pytest.approx(side, abs=1e-6)


def test_multipolygon_envelope_covers_every_part(tmp_path):
    transform = north_up()
    write_raster(tmp_path / "images" / "scene.tif", transform)
    parts = shapely.MultiPolygon([map_polygon(transform, b) for b in ((10, 10, 20, 20), (40, 5, 50, 30))])
    raw = read_geo(write_layer(tmp_path / "l.gpkg", [parts], {"class": ["car"]}), tmp_path / "images")
    np.testing.assert_allclose(raw.xyxy, [[10, 5, 50, 30]], atol=1e-6)


def test_geojson_without_crs_is_lonlat(tmp_path):
    transform = north_up()
    write_raster(tmp_path / "images" / "scene.tif", transform)
    polygon = reprojected(map_polygon(transform, BOXES[0]), UTM, "EPSG:4326")
    geometry = shapely.geometry.mapping(polygon)
    feature = {"type": "Feature", "properties": {"label": "car"}, "geometry": geometry}
    path = tmp_path / "labels.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    raw = read_geo(path, tmp_path / "images")
    np.testing.assert_allclose(raw.xyxy, [BOXES[0]], atol=1e-6)
    assert raw.notes["geo_vector"]["crs"] == "EPSG:4326"


# -- points ------------------------------------------------------------------------------------------------


def test_points_become_squares_of_their_ground_size(tmp_path):
    transform = north_up(0.5)
    write_raster(tmp_path / "images" / "scene.tif", transform)
    centres = [(50.0, 40.0), (120.5, 60.25), (10.0, 10.0)]
    points = [shapely.Point(transform @ c) for c in centres]
    src = write_layer(tmp_path / "p.gpkg", points, {"class": CLASSES, "size_m": [10.0, 3.0, np.nan]})
    raw = read_geo(src, tmp_path / "images", size_field="size_m", point_size_m=2.0)
    half_px = [10.0, 3.0, 2.0]  # size in m / 0.5 m per px / 2
    expected = [(x - h, y - h, x + h, y + h) for (x, y), h in zip(centres, half_px, strict=True)]
    np.testing.assert_allclose(raw.xyxy, expected, atol=1e-6)


def test_points_on_a_geographic_raster_use_geodesic_pixel_sizes(tmp_path):
    from pyproj import Geod
    from rasterio.transform import from_origin

    transform = from_origin(-81.0, 29.7, 1e-5, 1e-5)
    write_raster(tmp_path / "images" / "geo.tif", transform, crs="EPSG:4326", size_wh=(300, 300))
    lon, lat = transform @ (100, 80)
    src = write_layer(tmp_path / "p.gpkg", [shapely.Point(lon, lat)], {"class": ["car"]}, crs="EPSG:4326")
    raw = read_geo(src, tmp_path / "images", point_size_m=5.0)
    geod = Geod(ellps="WGS84")
    metres_x = geod.inv(lon - 0.5e-5, lat, lon + 0.5e-5, lat)[2]
    metres_y = geod.inv(lon, lat - 0.5e-5, lon, lat + 0.5e-5)[2]
    hx, hy = 5.0 / metres_x / 2, 5.0 / metres_y / 2
    np.testing.assert_allclose(raw.xyxy[0], [100 - hx, 80 - hy, 100 + hx, 80 + hy], rtol=0, atol=1e-6)


def test_points_without_any_size_are_a_config_error(tmp_path):
    write_raster(tmp_path / "images" / "scene.tif", north_up())
    src = write_layer(tmp_path / "p.gpkg", [shapely.Point(*ORIGIN_XY)], {"class": ["car"]})
    with pytest.raises(ConfigError, match="point features") as info:
        read_geo(src, tmp_path / "images")
    assert info.value.fields == ("size_field", "point_size_m")


# -- matching features to rasters ------------------------------------------------------------------------


def test_footprint_first_raster_wins_ambiguity_counted_outside_dropped(tmp_path, caplog):
    ta, tb = north_up(), north_up(origin_xy=(ORIGIN_XY[0] + 50, ORIGIN_XY[1]))  # b overlaps a's right half
    write_raster(tmp_path / "images" / "a.tif", ta)
    write_raster(tmp_path / "images" / "sub" / "b.tif", tb)
    boxes_a = [(20, 20, 40, 40), (150, 20, 170, 40)]  # the second lies in b too
    only_b = (150, 60, 160, 70)  # in b's pixels: right of a
    polygons = [map_polygon(ta, b) for b in boxes_a]
    polygons += [map_polygon(tb, only_b), map_polygon(ta, (900, 0, 910, 10))]
    src = write_layer(tmp_path / "l.gpkg", polygons, {"class": ["car"] * 4})
    with caplog.at_level(logging.WARNING, logger="tiledet"):
        raw = read_geo(src, tmp_path / "images")
    assert "1 features lie inside several rasters" in caplog.text
    assert raw.box_images == ["a.tif", "a.tif", "sub/b.tif"]
    np.testing.assert_allclose(raw.xyxy, [*boxes_a, only_b], atol=1e-6)
    assert drops_by_location(raw)["fid 4"][0] == "outside_rasters"
    notes = raw.notes["geo_vector"]
    assert (notes["rasters"], notes["ambiguous_features"], notes["ambiguous_first"]) == (2, 1, [2])


def test_a_layer_outside_every_raster_is_an_error_naming_layer_and_rasters(tmp_path):
    write_raster(tmp_path / "images" / "a.tif", north_up())
    far = map_polygon(north_up(origin_xy=(300_000.0, 3_000_000.0)), BOXES[0])
    src = write_layer(tmp_path / "l.gpkg", [far], {"class": ["car"]})
    with pytest.raises(InputError, match=r"l\.gpkg: no label fell inside any raster") as info:
        read_geo(src, tmp_path / "images")
    assert "a.tif x 400000..400100, y 3.29995e+06..3.3e+06" in str(info.value)
    assert "\n" not in str(info.value)


def test_image_field_names_each_features_raster(tmp_path):
    ta, tb = north_up(), north_up(origin_xy=(500_000.0, 3_300_000.0))
    write_raster(tmp_path / "images" / "a.tif", ta)
    write_raster(tmp_path / "images" / "sub" / "b.tif", tb)
    box = (10, 10, 20, 20)
    polygons = [map_polygon(ta, box), map_polygon(tb, box), map_polygon(ta, box), map_polygon(ta, box),
                map_polygon(ta, box)]  # fmt: skip
    names = ["a.tif", "./sub/b.tif", "c.tif", "../a.tif", " "]
    src = write_layer(tmp_path / "l.gpkg", polygons, {"class": ["car"] * 5, "image_id": names})
    raw = read_geo(src, tmp_path / "images", image_field="image_id")
    assert raw.box_images == ["a.tif", "sub/b.tif"]
    np.testing.assert_allclose(raw.xyxy, [box, box], atol=1e-6)
    reasons = {loc: reason for loc, (reason, _) in drops_by_location(raw).items()}
    assert reasons == {"fid 3": "missing_image", "fid 4": "unsafe_name", "fid 5": "malformed"}
    assert raw.notes["geo_vector"]["matched_by"] == "image_field"


def test_boxes_at_and_beyond_the_raster_edge_are_clipped_or_dropped_by_the_loader(tmp_path):
    transform = north_up()
    write_raster(tmp_path / "images" / "a.tif", transform)
    boxes = [(190, 90, 230, 130), (200.2, 10, 210, 20), (1000, 10, 1010, 20)]
    polygons = [map_polygon(transform, b) for b in boxes]
    src = write_layer(tmp_path / "l.gpkg", polygons, {"class": ["car"] * 3, "image": ["a.tif"] * 3})
    result = load_labels(src, "geo-vector", tmp_path / "images", geo=GeoOptions(image_field="image"))
    np.testing.assert_allclose(result.dataset.images[0].boxes.xyxy, [(190, 90, 200, 100)], atol=1e-6)
    assert sorted(d.reason for d in result.drops) == ["degenerate", "out_of_bounds"]
    assert result.input_boxes == 3 and result.notes["geo_vector"]["rasters"] == 1


def test_unreadable_raster_in_the_folder_is_an_image_level_drop(tmp_path):
    transform = north_up()
    write_raster(tmp_path / "images" / "a.tif", transform)
    (tmp_path / "images" / "broken.tif").write_bytes(b"II*\x00garbage")
    src = write_layer(tmp_path / "l.gpkg", [map_polygon(transform, BOXES[0])], {"class": ["car"]})
    result = load_labels(src, "auto", tmp_path / "images")
    assert result.dataset.num_boxes == 1 and result.input_boxes == 1
    [drop] = result.drops
    assert (drop.location, drop.reason, drop.image) == ("image", "unreadable_image", "broken.tif")


# -- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_transform", [False, True])
def test_raster_without_georeference_is_an_error_naming_it_and_the_layer(tmp_path, with_transform):
    transform = north_up()
    write_raster(tmp_path / "images" / "a.tif", transform)
    write_raster(tmp_path / "images" / "plain.tif", transform if with_transform else None, crs=None)
    src = write_layer(tmp_path / "l.gpkg", [map_polygon(transform, BOXES[0])], {"class": ["car"]})
    with pytest.raises(InputError, match=r"plain\.tif: the raster has no CRS or no geotransform.*l\.gpkg"):
        read_geo(src, tmp_path / "images")


def test_untransformable_crs_is_an_error_naming_layer_and_raster(tmp_path):
    write_raster(tmp_path / "images" / "a.tif", north_up())
    mars = "IAU_2015:49900"
    src = write_layer(tmp_path / "mars.gpkg", [shapely.box(0, 0, 1, 1)], {"class": ["crater"]}, crs=mars)
    with pytest.raises(InputError, match=r"mars\.gpkg: its CRS .*Mars.* cannot be transformed .*a\.tif"):
        read_geo(src, tmp_path / "images")


def test_corrupt_geopackage_is_a_one_line_error(tmp_path):
    write_raster(tmp_path / "images" / "a.tif", north_up())
    path = tmp_path / "labels.gpkg"
    path.write_bytes(b"SQLite format 3\x00" + b"not a database" * 100)
    with pytest.raises(InputError, match=r"labels\.gpkg: cannot read vector labels") as info:
        read_geo(path, tmp_path / "images")
    assert "\n" not in str(info.value)


def test_shapefile_without_prj_is_an_error(tmp_path):
    write_raster(tmp_path / "images" / "a.tif", north_up())
    src = write_layer(tmp_path / "l.shp", [map_polygon(north_up(), BOXES[0])], {"class": ["car"]}, crs=None)
    with pytest.raises(InputError, match=r"l\.shp: the layer has no CRS"):
        read_geo(src, tmp_path / "images")


def test_bad_features_are_dropped_with_their_fid(tmp_path):
    transform = north_up()
    write_raster(tmp_path / "images" / "a.tif", transform)
    x0, y0 = transform @ (10, 10)
    x1, y1 = transform @ (30, 20)
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # self-intersecting
    features = [
        {"id": 7, "geometry": None, "class": "car"},
        {"id": 8, "geometry": shapely.LineString([(x0, y0), (x1, y1)]), "class": "car"},
        {"id": 9, "geometry": map_polygon(transform, BOXES[0]), "class": "  "},
        {"id": 10, "geometry": bowtie, "class": "car"},
        {"id": 11, "geometry": shapely.Polygon(), "class": "car"},
    ]
    path = tmp_path / "bad.geojson"
    crs = {"type": "name", "properties": {"name": UTM}}
    collection = {"type": "FeatureCollection", "crs": crs, "features": [
        {"type": "Feature", "id": f["id"], "properties": {"class": f["class"]},
         "geometry": None if f["geometry"] is None else shapely.geometry.mapping(f["geometry"])}
        for f in features
    ]}  # fmt: skip
    path.write_text(json.dumps(collection), encoding="utf-8")
    raw = read_geo(path, tmp_path / "images")
    drops = drops_by_location(raw)
    assert {loc: reason for loc, (reason, _) in drops.items()} == {
        "fid 7": "malformed", "fid 8": "malformed", "fid 9": "malformed", "fid 11": "malformed"
    }  # fmt: skip
    assert "null" in drops["fid 7"][1] and "LineString" in drops["fid 8"][1] and "empty" in drops["fid 9"][1]
    np.testing.assert_allclose(raw.xyxy, [(10, 10, 30, 20)], atol=1e-6)  # the bow tie's envelope
    notes = raw.notes["geo_vector"]
    assert (notes["invalid_polygons"], notes["invalid_polygons_first"]) == (1, [10])
    with pytest.raises(FormatError, match=r"bad\.geojson:fid 7: null"):
        read_geo(path, tmp_path / "images", strict=True)


def test_class_field_detection_and_integer_classes(tmp_path):
    transform = north_up()
    write_raster(tmp_path / "images" / "a.tif", transform)
    polygon = [map_polygon(transform, BOXES[0])]
    both = write_layer(tmp_path / "both.gpkg", polygon, {"Label": ["car"], "type_id": [73], "note": ["x"]})
    with pytest.raises(ConfigError, match=r"several candidates \(Label, type_id\)") as info:
        read_geo(both, tmp_path / "images")
    assert info.value.fields == ("class_field",)
    assert read_geo(both, tmp_path / "images", class_field="type_id").class_keys == [73]
    assert read_geo(both, tmp_path / "images", class_field="label").class_keys == ["car"]  # any case
    with pytest.raises(ConfigError, match=r"class_field 'kind' is not a field .*: Label, type_id, note"):
        read_geo(both, tmp_path / "images", class_field="kind")
    neither = write_layer(tmp_path / "neither.gpkg", polygon, {"note": ["x"]})
    with pytest.raises(ConfigError, match="none of class"):
        read_geo(neither, tmp_path / "images")


def test_several_layers_need_the_layer_option(tmp_path):
    transform = north_up()
    write_raster(tmp_path / "images" / "a.tif", transform)
    path = tmp_path / "l.gpkg"
    write_layer(path, [map_polygon(transform, BOXES[0])], {"class": ["car"]}, layer="cars")
    write_layer(path, [map_polygon(transform, BOXES[1])], {"class": ["boat"]}, layer="boats", append=True)
    with pytest.raises(ConfigError, match=r"`layer` is needed: .*l\.gpkg holds layers cars, boats"):
        read_geo(path, tmp_path / "images")
    raw = read_geo(path, tmp_path / "images", layer="boats")
    assert raw.class_keys == ["boat"] and raw.sources == [f"{path} (layer boats)"]
    with pytest.raises(ConfigError, match="layer 'trees' is not in"):
        read_geo(path, tmp_path / "images", layer="trees")


def test_no_images_folder_is_an_error(tmp_path):
    src = write_layer(tmp_path / "l.gpkg", [shapely.box(0, 0, 1, 1)], {"class": ["car"]})
    with pytest.raises(InputError, match="need the folder of their georeferenced rasters"):
        read(src, ReadOptions())


def test_options_are_checked():
    with pytest.raises(ConfigError, match="point_size_m must be a positive number"):
        GeoOptions(point_size_m=0)
    with pytest.raises(ConfigError, match="layer must be a non-empty name"):
        GeoOptions(layer=" ")
    with pytest.raises(ConfigError, match="`layer`, `point_size_m` only apply to geo-vector labels") as info:
        check_geo_options("coco", GeoOptions(layer="a", point_size_m=3))
    assert info.value.fields == ("layer", "point_size_m")
    check_geo_options("geo-vector", GeoOptions(layer="a"))
    check_geo_options("coco", GeoOptions())


# -- detection, load_labels, CLI ----------------------------------------------------------------------------


def test_auto_detection(tmp_path):
    plain = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"class": "a"},
                                                        "geometry": None}]}  # fmt: skip
    xview = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "bounds_imcoords": "1,2,3,4", "type_id": 73, "image_id": "1.tif"}, "geometry": None}]}  # fmt: skip
    cases = {"a.geojson": plain, "b.json": plain, "c.geojson": xview, "d.json": xview}
    for name, content in cases.items():
        (tmp_path / name).write_text(json.dumps(content), encoding="utf-8")
    for suffix in (".gpkg", ".shp", ".fgb"):
        (tmp_path / f"e{suffix}").write_bytes(b"\x00")
    found = {p.name: detect_format(p) for p in sorted(tmp_path.iterdir())}
    assert found == {"a.geojson": "geo-vector", "b.json": "geo-vector", "c.geojson": "xview-geojson",
                     "d.json": "xview-geojson", "e.fgb": "geo-vector", "e.gpkg": "geo-vector",
                     "e.shp": "geo-vector"}  # fmt: skip


def test_geo_options_given_to_another_format_are_refused(tmp_path):
    coco = tmp_path / "gt.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}), encoding="utf-8")
    with pytest.raises(ConfigError, match="`class_field` only apply to geo-vector labels"):
        load_labels(coco, geo=GeoOptions(class_field="x"))


def test_cli_convert_geopackage_to_yolo(tmp_path, capsys):
    from tiledet.cli import main

    transform = north_up()
    write_raster(tmp_path / "rasters" / "scene.tif", transform)
    polygons = [reprojected(map_polygon(transform, box), UTM, "EPSG:4326") for box in BOXES[:2]]
    src = write_layer(tmp_path / "labels.gpkg", polygons, {"kind": ["car", "boat"]}, crs="EPSG:4326")
    out = tmp_path / "out"
    code = main(["convert", str(src), "--images", str(tmp_path / "rasters"), "--out", str(out),
                 "--to", "yolo", "--class-field", "kind", "--val-fraction", "0", "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    lines = (out / "labels" / "train" / "scene.txt").read_text().splitlines()
    # classes sorted by name: boat 0, car 1; hand-normalised by the 200 x 100 raster
    expected = [[1, 20.25 / 200, 30.125 / 100, 20.5 / 200, 20.25 / 100], [0, 174.5 / 200, 0.745, 0.245, 0.49]]
    written = [[float(v) for v in line.split()] for line in lines]
    np.testing.assert_allclose(written, expected, rtol=0, atol=1e-6)
    report = json.loads((out / "report.json").read_text())
    assert report["format"] == "geo-vector" and report["written_boxes"] == 2
    assert report["notes"]["geo_vector"]["class_field"] == "kind"


def test_cli_geo_options_are_shown_as_flags(tmp_path, capsys):
    from tiledet.cli import main

    coco = tmp_path / "gt.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}), encoding="utf-8")
    images = tmp_path / "images"
    images.mkdir()
    args = ["convert", str(coco), "--images", str(images), "--out", str(tmp_path / "o")]
    assert main([*args, "--layer", "x"]) == 2
    assert "--layer only apply to geo-vector labels" in capsys.readouterr().err
    code = main([*args, "--point-size-m", "-1"])
    assert code == 2
    assert "--point-size-m must be a positive number" in capsys.readouterr().err


def test_cli_help_states_every_geo_default():
    import inspect

    from tiledet.cli.convert import convert_command

    params = inspect.signature(convert_command).parameters
    for name in ("layer", "class_field", "image_field", "size_field", "point_size_m"):
        option = params[name].default
        assert option.default is None and "Default: " in option.help, name

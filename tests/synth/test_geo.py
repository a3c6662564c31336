"""`tiledet synth --image-format cog`: georeferenced COG scenes and their labels in longitude/latitude.

References are independent of tiledet: rasterio reads the files (profile, tags, overviews, pixels,
``transform``, ``bounds``), pyproj reprojects, cv2 reads the PNG of the same seed, and the expected
scene origins are computed by hand from the documented grid (300 km E, 5000 km N, 100 m rounding, 100 m gap).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tiledet.errors import ConfigError
from tiledet.synth import generate_scenes
from tiledet.synth.config import SynthConfig

rasterio = pytest.importorskip("rasterio")
pyproj = pytest.importorskip("pyproj")

SIZE = (1100, 900)  # > one 512 px tile, so the COG has overviews
KW = {"scenes": 3, "size_wh": SIZE, "seed": 3}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in (".tiledet-manifest.json", ".tiledet.lock")}  # fmt: skip


@pytest.fixture(scope="module")
def cog_run(tmp_path_factory: pytest.TempPathFactory):
    return generate_scenes(SynthConfig(tmp_path_factory.mktemp("cog"), image_format="cog", **KW))


def test_cog_files_are_georeferenced_cloud_optimised_geotiffs(cog_run) -> None:
    assert [p.name for p in cog_run.image_paths] == ["synth_0000.tif", "synth_0001.tif", "synth_0002.tif"]
    # origins by hand: 1100 px * 0.3 m = 330 m -> 400 m + 100 m gap between west edges
    expected_west = [300_000.0, 300_500.0, 301_000.0]
    for path, west in zip(cog_run.image_paths, expected_west, strict=True):
        with rasterio.open(path) as src:
            assert src.driver == "GTiff" and (src.width, src.height) == SIZE and src.count == 3
            assert src.dtypes == ("uint8",) * 3
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert src.compression is not None and src.compression.name.lower() == "deflate"
            assert src.crs.to_epsg() == 32633
            assert tuple(src.transform)[:6] == pytest.approx((0.3, 0.0, west, 0.0, -0.3, 5_000_000.0))
            assert src.overviews(1) == [2, 4] and src.block_shapes[0] == (512, 512)
    assert not any(p.suffix == ".xml" for p in cog_run.images_dir.iterdir())  # no .aux.xml sidecars


def test_neighbouring_scenes_do_not_overlap(cog_run) -> None:
    bounds = []
    for path in cog_run.image_paths:
        with rasterio.open(path) as src:
            bounds.append(src.bounds)
    for i, a in enumerate(bounds):
        for b in bounds[i + 1:]:
            assert a.right <= b.left or b.right <= a.left or a.top <= b.bottom or b.top <= a.bottom


def test_cog_pixels_equal_the_png_of_the_same_seed(cog_run, tmp_path: Path) -> None:
    import cv2

    png = generate_scenes(SynthConfig(tmp_path / "png", image_format="png", **KW))
    for cog_path, png_path in zip(cog_run.image_paths, png.image_paths, strict=True):
        with rasterio.open(cog_path) as src:
            from_cog = src.read().transpose(1, 2, 0)
        from_png = cv2.cvtColor(cv2.imread(str(png_path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert from_cog.shape == from_png.shape and np.array_equal(from_cog, from_png)
    # the pixel labels are the same too
    png_csv = (png.out / "labels.csv").read_text().replace(".png,", ".tif,")
    assert png_csv == (cog_run.out / "labels.csv").read_text()


def _geo_features(run) -> list[dict]:
    doc = json.loads(run.geo_labels_path.read_text())
    assert doc["type"] == "FeatureCollection" and "crs" not in doc  # RFC 7946: lon/lat WGS 84, no crs member
    return doc["features"]


def test_geojson_corners_are_rasterio_transform_of_the_pixel_boxes_in_lon_lat(cog_run) -> None:
    features = _geo_features(cog_run)
    assert cog_run.geo_labels_path == cog_run.out / "labels.geojson"
    assert len(features) == cog_run.num_boxes > 0
    names = {int(line.split(":")[0]): line.split(":", 1)[1]
             for line in (cog_run.out / "classes.txt").read_text().splitlines()}  # fmt: skip
    k = 0
    for scene, path in zip(cog_run.scenes, cog_run.image_paths, strict=True):
        with rasterio.open(path) as src:
            transform, crs = src.transform, src.crs
        to_lonlat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        for (x0, y0, x1, y1), type_id in zip(scene.xyxy.tolist(), scene.type_ids.tolist(), strict=True):
            feature = features[k]
            k += 1
            assert feature["properties"]["scene"] == path.name
            assert feature["properties"]["class"] == names[type_id]
            assert feature["geometry"]["type"] == "Polygon"
            ring = np.asarray(feature["geometry"]["coordinates"][0])
            assert ring.shape == (5, 2) and np.array_equal(ring[0], ring[-1])
            corners = [(x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0)]
            want = np.array([to_lonlat.transform(*(transform @ c)) for c in corners])
            np.testing.assert_allclose(ring, want, rtol=0, atol=1e-12)
            lon, lat = ring[:, 0], ring[:, 1]
            assert np.sum(lon[:-1] * lat[1:] - lon[1:] * lat[:-1]) > 0  # counter-clockwise exterior ring


@pytest.mark.parametrize("name", ["labels.geojson", "xView_train.geojson"])
def test_geojson_corners_map_back_to_the_pixel_boxes_within_a_micro_pixel(cog_run, name: str) -> None:
    """Both files' polygons (xView's: its lon/lat geometry) land on the pixel box corners."""
    features = iter(json.loads((cog_run.out / name).read_text())["features"])
    for scene, path in zip(cog_run.scenes, cog_run.image_paths, strict=True):
        with rasterio.open(path) as src:
            inverse, crs = ~src.transform, src.crs
        to_map = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        for x0, y0, x1, y1 in scene.xyxy.tolist():
            ring = next(features)["geometry"]["coordinates"][0]
            cols_rows = np.array([inverse @ to_map.transform(lon, lat) for lon, lat in ring])
            want = np.array([(x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0)], np.float64)
            assert np.abs(cols_rows - want).max() < 1e-6


def test_same_seed_gives_same_cog_bytes(cog_run, tmp_path: Path) -> None:
    again = generate_scenes(SynthConfig(tmp_path, image_format="cog", **KW))
    files = _files(again.out)
    assert "labels.geojson" in files and "images/synth_0002.tif" in files
    assert files == _files(cog_run.out)


def test_synth_yaml_records_crs_and_gsd(cog_run) -> None:
    import yaml

    doc = yaml.safe_load((cog_run.out / "synth.yaml").read_text())
    assert doc["image_format"] == "cog" and doc["crs"] == "EPSG:32633" and doc["gsd_m"] == 0.3


def test_gsd_sets_the_pixel_size_and_the_grid(tmp_path: Path) -> None:
    run = generate_scenes(SynthConfig(tmp_path, scenes=2, size_wh=(256, 128), seed=1, image_format="cog",
                                      gsd_m=2.5))  # fmt: skip
    pitch = math.ceil(256 * 2.5 / 100) * 100 + 100  # 640 m -> 700 m + 100 m
    with rasterio.open(run.image_paths[1]) as src:
        assert tuple(src.transform)[:6] == pytest.approx((2.5, 0, 300_000.0 + pitch, 0, -2.5, 5_000_000.0))
        assert src.overviews(1) == []  # one tile: nothing to decimate


def test_xview_labels_of_cog_scenes_convert(cog_run, tmp_path: Path) -> None:
    from tiledet.convert.config import ConvertConfig
    from tiledet.convert.pipeline import convert

    report = convert(ConvertConfig(src=cog_run.out / "xView_train.geojson", images_dir=cog_run.images_dir,
                                   out=tmp_path / "y", classes=str(cog_run.out / "classes.txt")))  # fmt: skip
    assert report.input_boxes == report.written_boxes == cog_run.num_boxes


def test_cli_format_cog(tmp_path: Path) -> None:
    from tiledet.cli import main

    out = tmp_path / "cli"
    assert main(["synth", "--out", str(out), "--scenes", "1", "--size", "200", "150", "--format", "cog",
                 "--quiet"]) == 0  # fmt: skip
    with rasterio.open(out / "images" / "synth_0000.tif") as src:
        assert src.crs.to_epsg() == 32633 and src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    assert (out / "labels.geojson").is_file()


@pytest.mark.parametrize("gsd_m", [0, -0.3, 31.0, float("nan"), True, "0.3"])
def test_bad_gsd_is_a_config_error_naming_the_field(tmp_path: Path, gsd_m) -> None:
    with pytest.raises(ConfigError, match=r"^gsd_m must be in \(0, 30\] metres per pixel") as info:
        SynthConfig(tmp_path, image_format="cog", gsd_m=gsd_m)
    assert info.value.fields == ("gsd_m",)


def test_a_grid_past_the_equator_is_refused(tmp_path: Path) -> None:
    # 8000 px * 30 m = 240 km -> 1 scene per 400 km row, 240.1 km per row: 20 rows fit in 5000 km, 30 do not
    SynthConfig(tmp_path, scenes=20, size_wh=(8000, 8000), gsd_m=30.0, image_format="cog")
    with pytest.raises(ConfigError, match="do not fit in one UTM zone") as info:
        SynthConfig(tmp_path, scenes=30, size_wh=(8000, 8000), gsd_m=30.0, image_format="cog")
    assert set(info.value.fields) == {"scenes", "size_wh", "gsd_m"}
    SynthConfig(tmp_path, scenes=30, size_wh=(8000, 8000), gsd_m=30.0, image_format="png")  # no grid


def test_map_labels_read_back_through_the_geo_vector_reader(cog_run) -> None:
    """``labels.geojson`` is auto-detected as geo-vector and lands on the same pixel boxes and classes."""
    pytest.importorskip("tiledet.formats.geo_vector")
    from tiledet.labels.load import load_dataset

    names = {int(line.split(":")[0]): line.split(":", 1)[1]
             for line in (cog_run.out / "classes.txt").read_text().splitlines()}  # fmt: skip
    result = load_dataset(cog_run.geo_labels_path, "auto", cog_run.images_dir)
    assert result.fmt == "geo-vector" and result.drops == [] and result.input_boxes == cog_run.num_boxes
    got = {im.file_name: im for im in result.dataset.images}
    for scene in cog_run.scenes:
        have = got[scene.file_name]
        assert have.size_wh == SIZE
        order = np.lexsort(np.round(have.boxes.xyxy, 3).T[::-1])  # float noise must not reorder ties
        want_order = np.lexsort(scene.xyxy.T[::-1])
        np.testing.assert_allclose(have.boxes.xyxy[order], scene.xyxy[want_order], rtol=0, atol=1e-6)
        have_names = [result.dataset.class_names[c] for c in have.boxes.class_ids[order]]
        assert have_names == [names[t] for t in scene.type_ids[want_order].tolist()]

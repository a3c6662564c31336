"""``tiledet eval`` of detections in map coordinates: placed back on their scenes' pixels (checked with
rasterio's inverse transform and pyproj on the files as pyogrio/pyarrow read them), same mAP as the COCO
results they came from; every feature accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.formats.geotiffs import rotated_transform, write_geotiff
from tiledet.errors import ConfigError, InputError
from tiledet.evaluate import evaluate
from tiledet.evaluate.config import EvalConfig
from tiledet.evaluate.geo_dets import UNPLACED, read_geo_entries
from tiledet.evaluate.gt import GroundTruth, validate_coco_gt
from tiledet.evaluate.scenes import SceneCatalog
from tiledet.formats.geo_results import SceneHeader, write_geo_results

rasterio = pytest.importorskip("rasterio")
pyproj = pytest.importorskip("pyproj")
shapely = pytest.importorskip("shapely")

SIZES = {"a.tif": (200, 160), "sub/b.tif": (180, 150)}


def _gt() -> dict:
    images = [{"id": i + 1, "file_name": name, "width": w, "height": h}
              for i, (name, (w, h)) in enumerate(SIZES.items())]  # fmt: skip
    boxes = [(1, 1, [10, 10, 20, 12]), (1, 2, [60, 40, 30, 30]), (2, 1, [5, 100, 12, 8]),
             (2, 2, [120, 20, 40, 50]), (2, 1, [70, 70, 9, 9])]  # fmt: skip
    anns = [{"id": k + 1, "image_id": i, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
            for k, (i, c, b) in enumerate(boxes)]  # fmt: skip
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}]}  # fmt: skip


_ROWS = [  # scene, class, bbox, score
    ("a.tif", "car", [10.5, 9.25, 20.0, 12.0], 0.9),
    ("a.tif", "truck", [62.0, 41.0, 30.0, 28.5], 0.8),
    ("a.tif", "car", [150.0, 100.0, 10.0, 10.0], 0.7),
    ("sub/b.tif", "car", [5.0, 101.0, 12.0, 8.0], 0.6),
    ("sub/b.tif", "truck", [118.0, 25.0, 40.0, 45.0], 0.95),
    ("sub/b.tif", "car", [0.125, 0.5, 3.0, 4.0], 0.2),
]
RESULTS = [{"file_name": f, "category_name": c, "category_id": 1 + (c == "truck"), "bbox": b, "score": s}
           for f, c, b, s in _ROWS]  # fmt: skip


@pytest.fixture()
def scenes(tmp_path: Path) -> Path:
    folder = tmp_path / "scenes"
    (folder / "sub").mkdir(parents=True)
    write_geotiff(folder / "a.tif", size_wh=SIZES["a.tif"])
    turned = rotated_transform(25.0, (501_000.0, 4_500_000.0))
    write_geotiff(folder / "sub" / "b.tif", size_wh=SIZES["sub/b.tif"], transform=turned)
    return folder


def _ground() -> GroundTruth:
    return GroundTruth(validate_coco_gt(_gt(), "<gt>"), "<gt>", "coco")


def _write(path: Path, scenes: Path, entries: list[dict] = RESULTS) -> Path:
    write_geo_results(path, entries, {name: SceneHeader(scenes / name) for name in SIZES})
    return path


def _independent_pixel_boxes(path: Path, scenes: Path) -> list[list[float]]:
    """Envelope of every feature's vertices in its scene's pixels: the file read with pyogrio or
    pyarrow, reprojected with pyproj, and rasterio's inverse transform (``~transform``)."""
    from pyogrio import raw

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        geo = json.loads(table.schema.metadata[b"geo"])
        crs = pyproj.CRS.from_json_dict(geo["columns"]["geometry"]["crs"])
        layers = [(crs, table.column("geometry").to_pylist(), table.column("scene").to_pylist())]
    else:
        import pyogrio

        layers = []
        for name in pyogrio.list_layers(path)[:, 0]:
            meta, _, wkb, values = raw.read(path, layer=name)
            layers.append((pyproj.CRS.from_user_input(meta["crs"]), list(wkb),
                           list(values[list(meta["fields"]).index("scene")])))  # fmt: skip
    out = []
    for crs, wkbs, names in layers:
        for wkb, name in zip(wkbs, names, strict=True):
            xy = shapely.get_coordinates(shapely.from_wkb(wkb))
            with rasterio.open(scenes / name) as src:
                scene_crs = pyproj.CRS.from_wkt(src.crs.to_wkt())
                to_scene = pyproj.Transformer.from_crs(crs, scene_crs, always_xy=True)
                east, north = to_scene.transform(xy[:, 0], xy[:, 1])
                px = np.array([~src.transform @ (e, n) for e, n in zip(east, north, strict=True)])
            lo, hi = px.min(axis=0), px.max(axis=0)
            out.append([*lo.tolist(), *(hi - lo).tolist()])
    return out


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".parquet"])
def test_round_trip_gives_the_pixel_boxes_and_the_same_map(
    scenes: Path, tmp_path: Path, suffix: str
) -> None:
    geo = _write(tmp_path / f"dets{suffix}", scenes)
    ground = _ground()
    entries = read_geo_entries(geo, ground.lookup(), SceneCatalog(scenes, tuple(SIZES)))
    assert len(entries) == len(RESULTS)
    independent = sorted(_independent_pixel_boxes(geo, scenes))
    assert np.abs(np.array(sorted(e["bbox"] for e in entries)) - np.array(independent)).max() < 1e-6
    for entry, original in zip(entries, RESULTS, strict=True):
        for key in ("file_name", "category_name", "score"):
            assert entry[key] == original[key], key
        assert np.abs(np.array(entry["bbox"]) - original["bbox"]).max() < 1e-6
    coco_json = tmp_path / "dets.json"
    coco_json.write_text(json.dumps(RESULTS))
    cfg = EvalConfig(images_dir=scenes)
    from_json, from_geo = evaluate(ground, [coco_json, geo], cfg)
    assert from_geo.counts.used == len(RESULTS) and from_geo.counts.dropped == 0
    assert 0 < from_json.summary["AP50"] < 1
    for key, value in from_json.summary.items():
        assert from_geo.summary[key] == pytest.approx(value, abs=1e-9, nan_ok=True), key


def _lonlat_feature(scene_tif: Path, bbox: list[float], props: dict) -> dict:
    """A GeoJSON feature made with rasterio's transform and pyproj only."""
    x, y, w, h = bbox
    with rasterio.open(scene_tif) as src:
        corners = [src.transform @ c for c in ((x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y))]
        scene_crs = pyproj.CRS.from_wkt(src.crs.to_wkt())
        to_lonlat = pyproj.Transformer.from_crs(scene_crs, "EPSG:4326", always_xy=True)
    ring = [list(to_lonlat.transform(e, n)) for e, n in corners]
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def test_features_without_scene_are_placed_by_footprint_and_every_feature_is_counted(
    scenes: Path, tmp_path: Path
) -> None:
    a, b = scenes / "a.tif", scenes / "sub" / "b.tif"
    car = {"class": "car", "score": 0.4}
    features = [
        _lonlat_feature(b, [5.0, 101.0, 12.0, 8.0], {"class": "car", "score": 0.6}),
        _lonlat_feature(a, [10.0, 10.0, 20.0, 12.0], {"class_id": 0, "score": 0.9}),
        _lonlat_feature(a, [5000.0, 5000.0, 10.0, 10.0], car),  # outside every scene
        _lonlat_feature(a, [1.0, 1.0, 3.0, 3.0], {**car, "scene": "zz"}),  # a scene the GT lacks
        {"type": "Feature", "properties": car, "geometry": {"type": "Point", "coordinates": [15.0, 40.6]}},
        _lonlat_feature(a, [1.0, 1.0, 3.0, 3.0], {**car, "scene": "b.tif"}),  # basename of sub/b.tif
    ]  # fmt: skip
    geo = tmp_path / "hand.geojson"
    geo.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    ground = _ground()
    entries = read_geo_entries(geo, ground.lookup(), SceneCatalog(scenes, tuple(SIZES)))
    names = [e.get("file_name") for e in entries]
    assert names == ["sub/b.tif", "a.tif", UNPLACED, "zz", None, "sub/b.tif"]
    assert np.abs(np.array(entries[0]["bbox"]) - [5.0, 101.0, 12.0, 8.0]).max() < 1e-6
    assert np.abs(np.array(entries[1]["bbox"]) - [10.0, 10.0, 20.0, 12.0]).max() < 1e-6
    assert entries[1]["category_id"] == 1 and "category_name" not in entries[1]
    (run,) = evaluate(ground, [geo], EvalConfig(images_dir=scenes))
    counts = run.counts
    assert (counts.entries, counts.used, counts.unknown_image, counts.malformed) == (6, 3, 2, 1)
    assert counts.examples["unknown_image"] == [f"entry 2: {UNPLACED!r}", "entry 3: 'zz'"]


def test_geo_detections_need_the_scene_folder_and_its_rasters(scenes: Path, tmp_path: Path) -> None:
    geo = _write(tmp_path / "d.gpkg", scenes)
    with pytest.raises(ConfigError, match="need `images_dir`") as info:
        evaluate(_gt(), [geo], EvalConfig())
    assert info.value.field == "images_dir"
    (scenes / "sub" / "b.tif").unlink()
    with pytest.raises(InputError, match=r"b.tif: image not found \(scene sub/b.tif of the detections in "):
        evaluate(_gt(), [geo], EvalConfig(images_dir=scenes))


def test_cli_eval_of_a_gpkg(scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tiledet.cli import main

    (tmp_path / "gt.json").write_text(json.dumps(_gt()))
    geo = _write(tmp_path / "d.gpkg", scenes)
    args = ["eval", str(tmp_path / "gt.json"), str(geo), "--images", str(scenes), "--format", "json"]
    assert main(args) == 0
    metrics = json.loads(capsys.readouterr().out)
    (run,) = metrics["runs"]
    assert run["detections"]["used"] == len(RESULTS) and run["summary"]["AP50"] > 0
    assert [r["label"] for r in run["by_area_m2"]] == ["<10", "10-100", ">100"]
    assert metrics["params"]["area_m2_edges"] == [10.0, 100.0]


def test_ground_truth_in_map_coordinates(scenes: Path, tmp_path: Path) -> None:
    """GT as a label layer in map coordinates (the geo-vector reader, through eval's label-source path)."""
    from tiledet.formats import READERS

    if "geo-vector" not in READERS:
        pytest.skip("the geo-vector label reader is not registered")
    gt = _gt()
    names = {im["id"]: im["file_name"] for im in gt["images"]}
    classes = {c["id"]: c["name"] for c in gt["categories"]}
    labels = [{"file_name": names[a["image_id"]], "category_name": classes[a["category_id"]],
               "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
              for a in gt["annotations"]]  # fmt: skip
    layer = _write(tmp_path / "labels.gpkg", scenes, labels)
    dets = _write(tmp_path / "dets.geojson", scenes)
    coco_json = tmp_path / "dets.json"
    coco_json.write_text(json.dumps(RESULTS))
    (reference,) = evaluate(_ground(), [coco_json], EvalConfig())
    (run,) = evaluate(layer, [dets], EvalConfig(images_dir=scenes, fmt="geo-vector"))
    assert run.counts.used == len(RESULTS)
    for key, value in reference.summary.items():
        assert run.summary[key] == pytest.approx(value, abs=1e-9, nan_ok=True), key

"""AP by object size in m²: a hand-made case on two scenes of different GSD, against values computed by
hand (COCO's 101-point interpolated AP), with both backends; absent, with the reason, when a GSD is
unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rasterio.transform import Affine

from tests.formats.geotiffs import write_geotiff
from tiledet.evaluate import evaluate
from tiledet.evaluate.area_m2 import area_ranges
from tiledet.evaluate.config import EvalConfig

pytest.importorskip("rasterio")

#: a.tif: 0.5 m pixels; c.tif: 2 m pixels (both UTM 33N). Cars of 4 m² and 400 m² in a.tif, 64 m² in c.tif.
GT = {
    "images": [{"id": 1, "file_name": "a.tif", "width": 200, "height": 200},
               {"id": 2, "file_name": "c.tif", "width": 100, "height": 100}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 4, 4], "area": 16, "iscrowd": 0},  # 4 m²
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 40, 40], "area": 1600, "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [20, 20, 4, 4], "area": 16, "iscrowd": 0},  # 64 m²
    ],
    "categories": [{"id": 1, "name": "car"}],
}  # fmt: skip
DETS = [
    {"image_id": 1, "category_id": 1, "bbox": [10, 10, 4, 4], "score": 0.9},  # finds the 4 m² car
    {"image_id": 2, "category_id": 1, "bbox": [20, 20, 4, 4], "score": 0.8},  # finds the 64 m² car
    {"image_id": 1, "category_id": 1, "bbox": [100, 100, 10, 10], "score": 0.95},  # false, 25 m² (100 px²)
]


@pytest.fixture()
def scenes(tmp_path: Path) -> Path:
    folder = tmp_path / "scenes"
    folder.mkdir()
    write_geotiff(folder / "a.tif", size_wh=(200, 200))
    write_geotiff(folder / "c.tif", size_wh=(100, 100), transform=Affine(2.0, 0, 600_000, 0, -2.0, 4_500_000))
    return folder


def test_area_ranges_labels() -> None:
    assert area_ranges((10, 100)) == [("<10", 0.0, 10.0), ("10-100", 10.0, 100.0), (">100", 100.0, 1e10)]
    assert [r[0] for r in area_ranges((2.5,))] == ["<2.5", ">2.5"]


@pytest.mark.parametrize("backend", ["faster", "pycocotools"])
def test_hand_made_case(scenes: Path, backend: str) -> None:
    (run,) = evaluate(json.loads(json.dumps(GT)), [DETS], EvalConfig(images_dir=scenes, backend=backend))
    table = {a.label: a for a in run.by_area_m2}
    assert list(table) == ["<10", "10-100", ">100"] and run.area_m2_note == ""
    assert [table[k].num_gt for k in table] == [1, 1, 1]
    # < 10 m²: its one car found first (the 25 and 64 m² boxes lie outside and are ignored)
    assert (table["<10"].ap, table["<10"].ap50, table["<10"].ar) == (pytest.approx(1.0),) * 3
    # 10-100 m²: the false 25 m² box outranks the 64 m² hit: precision 1/2 at recall 1 everywhere
    assert table["10-100"].ap == pytest.approx(0.5) and table["10-100"].ap50 == pytest.approx(0.5)
    assert table["10-100"].ar == pytest.approx(1.0)
    # > 100 m²: the 400 m² car is missed
    assert (table[">100"].ap, table[">100"].ar) == (0.0, 0.0)
    # COCO's pixel ranges see it otherwise: all three hits and the false box are "small" (< 32² px²)
    assert run.summary["APs"] == pytest.approx(2 / 3) and run.summary["APm"] == 0.0
    assert run.to_dict()["by_area_m2"][1] == {"label": "10-100", "range_m2": [10.0, 100.0], "num_gt": 1,
                                              "AP": pytest.approx(0.5), "AP50": pytest.approx(0.5),
                                              "AR": pytest.approx(1.0)}  # fmt: skip


def test_own_edges(scenes: Path) -> None:
    (run,) = evaluate(GT, [DETS], EvalConfig(images_dir=scenes, area_m2_edges=(50.0,)))
    table = {a.label: a for a in run.by_area_m2}
    assert list(table) == ["<50", ">50"] and [a.num_gt for a in run.by_area_m2] == [1, 2]
    # < 50 m²: the false 25 m² box (0.95) outranks the 4 m² hit: precision 1/2 at recall 1
    assert table["<50"].ap == pytest.approx(0.5)
    # > 50 m²: one of two cars found, by the only detection in range: precision 1 up to recall 1/2
    assert table[">50"].ap == pytest.approx(51 / 101)


def test_no_table_when_a_gsd_is_unknown(scenes: Path, tmp_path: Path) -> None:
    write_geotiff(scenes / "c.tif", size_wh=(100, 100), crs="EPSG:4326",
                  transform=Affine(1e-5, 0, 15.0, 0, -1e-5, 40.0))  # fmt: skip
    (run,) = evaluate(GT, [DETS], EvalConfig(images_dir=scenes))
    assert run.by_area_m2 != ()  # lon/lat (xView's EPSG:4326): the GSD from geodesic pixel sides
    write_geotiff(scenes / "c.tif", size_wh=(100, 100), crs=None,
                  transform=Affine(1.0, 0, 15.0, 0, -1.0, 40.0))  # a transform without a CRS  # fmt: skip
    (run,) = evaluate(GT, [DETS], EvalConfig(images_dir=scenes))
    assert run.by_area_m2 == ()
    assert run.area_m2_note.startswith("scene c.tif: not georeferenced")
    assert run.to_dict()["by_area_m2"] is None
    (scenes / "c.tif").unlink()
    (run,) = evaluate(GT, [DETS], EvalConfig(images_dir=scenes))
    assert run.area_m2_note == f"scene c.tif: {scenes / 'c.tif'}: image not found"
    png_gt = json.loads(json.dumps(GT))
    png_gt["images"][1]["file_name"] = "c.png"
    (run,) = evaluate(png_gt, [DETS], EvalConfig(images_dir=scenes))
    assert run.by_area_m2 == () and run.area_m2_note == ""  # PNG scenes: the question does not arise


def test_cli_table_and_option(scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tiledet.cli import main

    (tmp_path / "gt.json").write_text(json.dumps(GT))
    (tmp_path / "dets.json").write_text(json.dumps(DETS))
    args = ["eval", str(tmp_path / "gt.json"), str(tmp_path / "dets.json"), "--images", str(scenes)]
    assert main([*args, "--area-m2-edges", "10, 100"]) == 0
    out = capsys.readouterr().out
    assert "by object size on the ground (m²)" in out and "areas in m² from each scene's GSD" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 4}
    assert "0.5000" in rows["10-100"] and "1.0000" in rows["<10"] and "0.0000" in rows[">100"]
    assert main([*args, "--area-m2-edges", "100,10"]) == 2
    err = capsys.readouterr().err
    assert "error: --area-m2-edges must be increasing numbers > 0 (m²), got (100.0, 10.0)" in err
    assert main([*args, "--area-m2-edges", "ten"]) == 2
    assert "error: --area-m2-edges must be comma-separated numbers" in capsys.readouterr().err

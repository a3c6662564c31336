"""``tiledet eval``: outputs, JSON mode, exit codes and one-line errors; plots and CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tiledet.cli import main
from tiledet.evaluate import evaluate
from tiledet.evaluate.config import EvalConfig
from tiledet.evaluate.plots import worst_classes
from tiledet.evaluate.report import per_class_csv

GT = {
    "images": [
        {"id": 1, "file_name": "scenes/a.png", "width": 200, "height": 200},
        {"id": 2, "file_name": "scenes/b.png", "width": 200, "height": 200},
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 50, 40, 30], "area": 1200, "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [100, 100, 10, 10], "area": 100, "iscrowd": 0},
    ],
    "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}, {"id": 3, "name": "tank"}],
}
GOOD = [
    {"file_name": "a.png", "category_name": "car", "bbox": [10, 10, 20, 20], "score": 0.9},
    {"file_name": "a.png", "category_name": "Truck", "bbox": [52, 50, 40, 30], "score": 0.7},
    {"file_name": "b.png", "category_name": "car", "bbox": [100, 100, 10, 10], "score": 0.8},
    {"file_name": "c.png", "category_name": "car", "bbox": [1, 1, 5, 5], "score": 0.3},  # unknown image
]
WEAK = [{"image_id": 1, "category_id": 1, "bbox": [12, 12, 20, 20], "score": 0.5}]


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"gt": tmp_path / "gt.json", "good": tmp_path / "good.json", "weak": tmp_path / "weak.json"}
    paths["gt"].write_text(json.dumps(GT))
    paths["good"].write_text(json.dumps(GOOD))
    paths["weak"].write_text(json.dumps(WEAK))
    return paths


def _png_ok(path: Path) -> bool:
    from PIL import Image

    with Image.open(path) as im:
        im.verify()
        return im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100


def test_outputs_with_out(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report"
    code = main(["eval", str(files["gt"]), str(files["good"]), str(files["weak"]), "--out", str(out)])
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [".tiledet-manifest.json", ".tiledet.lock", "ap50_per_class.png", "metrics.json",
                     "per_class.csv", "pr_curve_good.png", "pr_curve_weak.png"]
    assert all(_png_ok(out / n) for n in names if n.endswith(".png"))
    metrics = json.loads((out / "metrics.json").read_text())
    runs = evaluate(files["gt"], [files["good"], files["weak"]])
    assert [r["name"] for r in metrics["runs"]] == ["good", "weak"]
    for got, ref in zip(metrics["runs"], runs, strict=True):
        assert got["summary"]["AP"] == ref.summary["AP"]
        assert got["summary"]["APl"] is None  # no large objects: pycocotools -1 -> null
    assert metrics["runs"][0]["detections"]["unknown_image"] == 1
    rows = list(csv.DictReader((out / "per_class.csv").open()))
    assert [r["class"] for r in rows] == ["car", "truck", "tank"]
    assert rows[2]["AP_good"] == "n/a" and rows[2]["num_gt"] == "0"
    assert float(rows[0]["AP50_good"]) == runs[0].per_class[0].ap50
    printed = capsys.readouterr().out
    assert "AP50" in printed and "1 unknown_image" in printed and "n/a" in printed


def test_json_format_prints_only_json(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    code = main(["eval", str(files["gt"]), str(files["good"]), "--format", "json", "--max-dets", "5"])
    assert code == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["params"]["max_dets"] == [1, 5, 10]
    assert data["runs"][0]["max_dets"] == 5
    assert "unknown_image" in captured.err  # the note goes to stderr


def test_no_plots(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main(["eval", str(files["gt"]), str(files["weak"]), "--out", str(out), "--no-plots"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [".tiledet-manifest.json", ".tiledet.lock", "metrics.json", "per_class.csv"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{gt}", "{bad}"], "bad.json:line 2 column 12: invalid JSON"),
        (["{gt}", "{good}", "--strict"], "good.json: entry 3: unknown image 'c.png'"),
        (["{missing}", "{good}"], "missing.json: ground truth not found"),
        (["{gt}", "{missing}"], "missing.json: detections file not found"),
        (["{gt}", "{good}", "--max-dets", "0"], "--max-dets must be an integer >= 1"),
        (["{gt}", "{good}", "--iou-type", "segm"], "only 'bbox'"),
        (["{gt}", "{good}", "--format", "xml"], "--format must be table or json"),
        (["{gt}", "{good}", "--backend", "gpu"], "--backend must be one of"),
        (["{empty_gt}", "{good}"], "no annotations"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    (tmp_path / "bad.json").write_text('[{"bbox": [1, 2, 3, 4],\n  "score": }]')
    (tmp_path / "empty_gt.json").write_text(json.dumps({**GT, "annotations": []}))
    paths = {**{k: str(v) for k, v in files.items()}, "bad": str(tmp_path / "bad.json"),
             "missing": str(tmp_path / "missing.json"), "empty_gt": str(tmp_path / "empty_gt.json")}
    code = main(["eval", *(a.format(**paths) for a in args)])
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_usage_error_without_detections(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", str(files["gt"])]) == 2
    assert "Missing argument" in capsys.readouterr().err


def test_per_class_csv_and_worst_classes() -> None:
    dets = [dict(d, image_id=1) for d in WEAK]
    runs = evaluate(GT, [GOOD, dets], EvalConfig(), names=["a", "b"])
    text = per_class_csv(runs)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["class", "category_id", "num_gt", "AP_a", "AP50_a", "num_det_a", "AP_b", "AP50_b",
                       "num_det_b"]
    assert rows[1][:3] == ["car", "1", "2"] and rows[3][3:5] == ["n/a", "n/a"]
    # run b: car AP50 0.5 (one of two found), truck 0: truck is worst, tank (no GT) never listed
    assert [runs[1].per_class[i].name for i in worst_classes(runs[1])] == ["truck", "car"]
    assert math.isclose(runs[1].per_class[0].ap50, 0.5049504950495048, abs_tol=1e-12)
    assert np.isnan(runs[1].pr_precision[2]).all()


@pytest.mark.realdata
def test_real_dota_folder_as_ground_truth(
    realdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Real DOTA labels (auto-detected folder) with --images: 587 vehicles, 2 degenerate after clipping."""
    demo = realdata / "dota_vehicles" / "DOTA_demo"
    dets = tmp_path / "none.json"
    dets.write_text("[]")
    args = [str(demo / "labelTxt"), str(dets), "--images", str(demo / "images"), "--format", "json"]
    code = main(["eval", *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)
    gt = data["ground_truth"]
    assert (gt["kind"], gt["images"]) == ("dota", 4)
    assert gt["annotations"] + sum(gt["dropped"].values()) == 587
    names = {c["name"]: c for c in data["runs"][0]["per_class"]}
    assert set(names) == {"large-vehicle", "small-vehicle"} and names["small-vehicle"]["AP"] == 0.0
    assert "degenerate" in captured.err


def test_table_hides_classes_nobody_saw(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    # "tank" has no GT and no detection: terminal only (still in per_class.csv); a false-positive tank shows
    assert main(["eval", str(files["gt"]), str(files["good"])]) == 0
    printed = capsys.readouterr().out
    assert "tank" not in printed and "1 class with neither ground truth nor detections" in printed
    fp = tmp_path / "fp.json"
    fp.write_text(json.dumps([*GOOD, {"file_name": "a.png", "category_name": "tank", "bbox": [1, 1, 5, 5],
                                      "score": 0.2}]))
    assert main(["eval", str(files["gt"]), str(fp)]) == 0
    printed = capsys.readouterr().out
    assert "tank" in printed and "neither ground truth" not in printed


def test_summary_printed_before_per_class_table(files: dict[str, Path], capsys) -> None:
    assert main(["eval", str(files["gt"]), str(files["good"])]) == 0
    printed = capsys.readouterr().out
    assert printed.index("summary") < printed.index("per class")
    assert printed.index("ground truth:") < printed.index("summary")

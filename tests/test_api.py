"""The flat ``tiledet`` namespace: lazy (no heavy imports), complete, and ``load_labels``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import tiledet
from tiledet.errors import ConfigError, FormatError, InputError

HEAVY = ("torch", "torchvision", "ultralytics", "pycocotools", "rich")


def _imported_after(code: str) -> list[str]:
    """Heavy modules present in a fresh interpreter after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_tiledet_imports_no_heavy_module():
    assert _imported_after("import tiledet") == []


def test_public_names_resolve_without_heavy_imports():
    # every name is reachable; looking one up imports its module but none of torch/ultralytics/...
    code = "import tiledet\nfor n in tiledet.__all__:\n    getattr(tiledet, n, None)"
    assert _imported_after(code) == []


def test_every_public_name_resolves():
    for name in tiledet.__all__:
        assert getattr(tiledet, name) is not None, name


def test_namespace_names_are_the_library_objects():
    from tiledet.convert.pipeline import convert
    from tiledet.evaluate.metrics import evaluate

    assert tiledet.convert_labels is convert and tiledet.evaluate_detections is evaluate
    assert set(tiledet.__all__) == {"__version__", *tiledet._EXPORTS} and set(tiledet.__all__) <= set(
        dir(tiledet)
    )
    assert {"Boxes", "load_labels", "tile_offsets", "detections_to_results"} <= set(tiledet.__all__)
    from tiledet.detect.config import TrainConfig
    from tiledet.detect.sliding import detect_scene
    from tiledet.detect.yolo_predict import YoloPredictor

    assert tiledet.YoloPredictor is YoloPredictor and tiledet.YoloTrainConfig is TrainConfig
    assert tiledet.detect_scene is detect_scene
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tiledet.nope  # noqa: B018


def test_package_docstring_example_runs():
    import doctest

    assert doctest.testmod(tiledet, raise_on_error=True).attempted >= 2


def _dota(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (100, 80)).save(tmp_path / "images" / "p1.png")
    labels = tmp_path / "labelTxt"
    labels.mkdir()
    (labels / "p1.txt").write_text(
        "10 10 30 10 30 20 10 20 plane 0\n"  # kept
        "90 70 130 70 130 90 90 90 ship 0\n"  # clipped to 90..100 x 70..80
        "5 5 5.5 5 5.5 6 5 6 ship 0\n"  # narrower than 1 px -> degenerate
    )
    return labels


def test_load_labels_detects_the_format_and_accounts_for_boxes(tmp_path):
    labels = _dota(tmp_path)
    result = tiledet.load_labels(labels, images_dir=tmp_path / "images")
    assert result.fmt == "dota" and result.input_boxes == 3
    (image,) = result.dataset.images
    assert image.file_name == "p1.png" and image.size_wh == (100, 80)
    np.testing.assert_array_equal(image.boxes.xyxy, [[10, 10, 30, 20], [90, 70, 100, 80]])
    assert [result.dataset.class_names[c] for c in image.boxes.class_ids] == ["plane", "ship"]
    assert [d.reason for d in result.drops] == ["degenerate"]
    with pytest.raises(FormatError, match="degenerate"):
        tiledet.load_labels(labels, "dota", tmp_path / "images", strict=True)


def test_load_labels_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        tiledet.load_labels(tmp_path / "missing.json")
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(InputError, match="empty"):
        tiledet.load_labels(tmp_path / "empty.json")
    with pytest.raises(ConfigError, match="label format"):
        tiledet.load_labels(_dota(tmp_path), fmt="pascal")
    with pytest.raises(InputError, match="image folder not found"):
        tiledet.load_labels(tmp_path / "labelTxt", images_dir=tmp_path / "nope")

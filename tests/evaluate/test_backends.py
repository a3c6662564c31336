"""faster-coco-eval (the default backend) agrees with pycocotools (the reference) to 1e-9.

Compared on the full accumulated precision/recall arrays and on tiledet's summary and per-class
numbers, over varied data: crowd regions, images without ground truth (with and without false
positives), tied scores, ``--max-dets`` caps below the detections per image, no detections at all,
and real COCO8 / DOTA ground truth with jittered detections.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tiledet.evaluate import evaluate, load_ground_truth
from tiledet.evaluate.config import EvalConfig
from tiledet.evaluate.metrics import _Backend

pytest.importorskip("faster_coco_eval", reason="faster-coco-eval not installed")

TOL = 1e-9


def _random_case(seed: int, ties: bool, n_img: int = 30, n_cat: int = 4) -> tuple[dict, list[dict]]:
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []

    def score() -> float:
        return float(np.round(rng.random(), 1)) if ties else float(rng.random())

    for i in range(1, n_img + 1):
        images.append({"id": i, "file_name": f"{i}.png", "width": 640, "height": 480})
        for _ in range(0 if i % 6 == 0 else int(rng.integers(0, 20))):  # every 6th image: no GT
            x, y, bw, bh = rng.uniform(0, 580), rng.uniform(0, 420), rng.uniform(2, 150), rng.uniform(2, 150)
            cat = int(rng.integers(1, n_cat + 1))
            crowd = int(rng.random() < 0.1)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": cat, "bbox": [x, y, bw, bh],
                         "area": bw * bh, "iscrowd": crowd})
            for _ in range(int(rng.integers(0, 3))):  # 0-2 detections per object, jittered
                j = rng.normal(0, 0.15 * min(bw, bh) + 1, 4)
                dcat = cat if rng.random() < 0.9 else int(rng.integers(1, n_cat + 1))
                dets.append({"image_id": i, "category_id": dcat, "score": score(),
                             "bbox": [x + j[0], y + j[1], max(1.0, bw + j[2]), max(1.0, bh + j[3])]})
        for _ in range(int(rng.integers(0, 6)) if i % 3 == 0 else 0):  # false positives, empty images too
            box = [float(rng.uniform(0, 500)), float(rng.uniform(0, 400)), float(rng.uniform(3, 90)),
                   float(rng.uniform(3, 90))]
            dets.append({"image_id": i, "category_id": int(rng.integers(1, n_cat + 1)), "bbox": box,
                         "score": score()})
    cats = [{"id": c, "name": f"class{c}"} for c in range(1, n_cat + 1)]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def _assert_same_arrays(gt: object, dets: list[dict], max_dets: list[int]) -> None:
    """Accumulated precision and recall arrays of both backends, element by element."""
    from tiledet.evaluate.gt import GroundTruth, validate_coco_gt

    ground = gt if isinstance(gt, GroundTruth) else GroundTruth(validate_coco_gt(gt, "<t>"), "<t>", "coco")
    p_ref, r_ref, _ = _Backend(ground, "pycocotools").evaluate(dets, max_dets)
    p_new, r_new, _ = _Backend(ground, "faster").evaluate(dets, max_dets)
    assert p_ref.shape == p_new.shape and r_ref.shape == r_new.shape
    np.testing.assert_allclose(p_new, p_ref, rtol=0, atol=TOL)
    np.testing.assert_allclose(r_new, r_ref, rtol=0, atol=TOL)


def _assert_same_metrics(gt: object, dets: list[dict], max_dets: int) -> None:
    ref = evaluate(gt, [dets], EvalConfig(backend="pycocotools", max_dets=max_dets))[0]
    new = evaluate(gt, [dets], EvalConfig(backend="faster", max_dets=max_dets))[0]
    for key, value in ref.summary.items():
        assert new.summary[key] == pytest.approx(value, abs=TOL, nan_ok=True), key
    for a, b in zip(ref.per_class, new.per_class, strict=True):
        assert (a.name, a.num_gt, a.num_det) == (b.name, b.num_gt, b.num_det)
        assert b.ap == pytest.approx(a.ap, abs=TOL, nan_ok=True)
        assert b.ap50 == pytest.approx(a.ap50, abs=TOL, nan_ok=True)


def test_default_backend_is_faster() -> None:
    assert EvalConfig().backend == "faster"


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("max_dets", [100, 5, 1])
def test_backends_agree_on_random_data(seed: int, ties: bool, max_dets: int) -> None:
    gt, dets = _random_case(seed, ties)
    assert any(a["iscrowd"] for a in gt["annotations"])
    _assert_same_metrics(gt, dets, max_dets)
    _assert_same_arrays(gt, dets, sorted({1, 10, max_dets}))


def test_backends_agree_without_detections_and_for_a_class_without_ground_truth() -> None:
    gt, dets = _random_case(3, ties=False)
    _assert_same_metrics(gt, [], 100)
    no_class1 = {**gt, "annotations": [a for a in gt["annotations"] if a["category_id"] != 1]}
    assert any(d["category_id"] == 1 for d in dets)  # detections of a class nobody labelled
    _assert_same_metrics(no_class1, dets, 100)
    _assert_same_arrays(no_class1, dets, [1, 10, 100])


def _jittered(coco: dict, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    dets = []
    for ann in coco["annotations"]:
        if rng.random() < 0.15:
            continue  # a missed object
        x, y, w, h = ann["bbox"]
        j = rng.normal(0, 0.1 * min(w, h) + 0.5, 4)
        box = [x + j[0], y + j[1], max(1.0, w + j[2]), max(1.0, h + j[3])]
        dets.append({"image_id": ann["image_id"], "category_id": ann["category_id"], "bbox": box,
                     "score": float(rng.random())})
    cat_ids = [c["id"] for c in coco["categories"]]
    for im in coco["images"]:
        for _ in range(3):
            x, y = float(rng.uniform(0, im["width"] / 2)), float(rng.uniform(0, im["height"] / 2))
            box = [x, y, float(rng.uniform(5, 80)), float(rng.uniform(5, 80))]
            dets.append({"image_id": im["id"], "category_id": int(rng.choice(cat_ids)), "bbox": box,
                         "score": float(rng.random())})
    return dets


@pytest.mark.realdata
@pytest.mark.parametrize("which", ["coco8", "dota"])
def test_backends_agree_on_real_ground_truth(realdata: Path, which: str) -> None:
    if which == "coco8":
        path, images = realdata / "coco8" / "coco8.yaml", None
    else:
        path = realdata / "dota_vehicles" / "DOTA_demo" / "labelTxt"
        images = path.parent / "images"
    if not path.exists():
        pytest.skip(f"{path} not found")
    gt = load_ground_truth(path, images_dir=images)
    assert gt.num_annotations > 10
    dets = _jittered(gt.coco, seed=7)
    for max_dets in (100, 10):
        _assert_same_metrics(gt, dets, max_dets)
    _assert_same_arrays(gt, dets, [1, 10, 100])

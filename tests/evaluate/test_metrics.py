"""tiledet.evaluate.metrics against direct pycocotools calls and hand-computed values."""

from __future__ import annotations

import contextlib
import copy
import io
import math

import numpy as np
import pytest

from tiledet.errors import ConfigError, InputError
from tiledet.evaluate import evaluate
from tiledet.evaluate.config import EvalConfig
from tiledet.evaluate.metrics import SUMMARY_KEYS, run_names

# --------------------------------------------------------------------------- fixtures / references


def random_case(seed: int, n_images: int = 8, n_classes: int = 4) -> tuple[dict, list[dict]]:
    """Random GT (some images without boxes, the last class absent) and noisy detections (ids)."""
    rng = np.random.default_rng(seed)
    images = [
        {"id": i + 1, "file_name": f"d/img_{i}.png", "width": 300, "height": 300} for i in range(n_images)
    ]
    cats = [{"id": 10 + k, "name": f"class{k}"} for k in range(n_classes)]
    anns, dets = [], []
    for im in images[: n_images - 2]:  # the last two images have no GT
        for _ in range(int(rng.integers(0, 12))):
            x, y = rng.uniform(0, 250, 2)
            w, h = rng.uniform(2, 120, 2)  # small, medium and large areas
            cid = 10 + int(rng.integers(0, n_classes - 1))  # class n_classes-1 never in GT
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": cid,
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
            if rng.random() < 0.8:
                jitter = rng.normal(0, 0.1, 4) * [w, h, w, h]
                dets.append({"image_id": im["id"], "category_id": cid, "score": float(rng.random()),
                             "bbox": [x + jitter[0], y + jitter[1], max(w + jitter[2], 1.0),
                                      max(h + jitter[3], 1.0)]})
    for _ in range(int(rng.integers(5, 25))):  # false positives, also on box-less images and absent class
        x, y = rng.uniform(0, 250, 2)
        image_id, cid = int(rng.integers(1, n_images + 1)), 10 + int(rng.integers(0, n_classes))
        dets.append({"image_id": image_id, "category_id": cid, "score": float(rng.random()),
                     "bbox": [x, y, *rng.uniform(2, 60, 2).tolist()]})
    return {"images": images, "annotations": anns, "categories": cats}, dets


def direct_cocoeval(gt: dict, dets: list[dict], max_dets: int) -> object:
    """A plain pycocotools evaluation with params.maxDets = [1, 10, max_dets]."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.maxDets = [1, 10, max_dets]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def naive_mean(values: np.ndarray) -> float:
    """Mean over entries > -1 with a plain loop; NaN when there are none."""
    kept = [float(v) for v in np.ravel(values) if v > -1]
    return sum(kept) / len(kept) if kept else math.nan


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_summary_equals_pycocotools_summarize(seed: int) -> None:
    gt, dets = random_case(seed)
    ev = direct_cocoeval(gt, dets, 100)
    run = evaluate(gt, [dets])[0]
    expected = [math.nan if s == -1 else float(s) for s in ev.stats]
    got = [run.summary[k] for k in SUMMARY_KEYS]
    assert all(same(g, e) for g, e in zip(got, expected, strict=True)), (got, expected)


@pytest.mark.parametrize(("seed", "max_dets"), [(4, 3), (5, 20), (6, 1), (7, 250)])
def test_summary_at_other_max_dets_equals_precision_array(seed: int, max_dets: int) -> None:
    gt, dets = random_case(seed)
    ev = direct_cocoeval(gt, dets, max_dets)
    p, prec, rec = ev.params, ev.eval["precision"], ev.eval["recall"]
    m = list(p.maxDets).index(max_dets)
    run = evaluate(gt, [dets], EvalConfig(max_dets=max_dets))[0]
    assert same(run.summary["AP"], naive_mean(prec[:, :, :, 0, m]))
    assert same(run.summary["AP50"], naive_mean(prec[0, :, :, 0, m]))
    assert same(run.summary["AP75"], naive_mean(prec[5, :, :, 0, m]))
    for key, a in (("APs", 1), ("APm", 2), ("APl", 3)):
        assert same(run.summary[key], naive_mean(prec[:, :, :, a, m]))
    assert same(run.summary["AR@max"], naive_mean(rec[:, :, 0, m]))
    assert same(run.summary["AR@1"], naive_mean(rec[:, :, 0, list(p.maxDets).index(1)]))


@pytest.mark.parametrize("seed", [8, 9])
def test_per_class_and_pr_curve_equal_precision_array(seed: int) -> None:
    gt, dets = random_case(seed)
    ev = direct_cocoeval(gt, dets, 100)
    prec = ev.eval["precision"]
    run = evaluate(gt, [dets])[0]
    assert [c.category_id for c in run.per_class] == [10, 11, 12, 13]
    for k, cls in enumerate(run.per_class):
        assert same(cls.ap, naive_mean(prec[:, :, k, 0, 2]))
        assert same(cls.ap50, naive_mean(prec[0, :, k, 0, 2]))
        assert cls.num_gt == sum(a["category_id"] == cls.category_id for a in gt["annotations"])
        assert cls.num_det == sum(d["category_id"] == cls.category_id for d in dets)
    absent = run.per_class[-1]
    assert absent.num_gt == 0 and math.isnan(absent.ap) and math.isnan(absent.ap50)
    expected_pr = np.where(prec[0, :, :, 0, 2].T > -1, prec[0, :, :, 0, 2].T, np.nan)
    np.testing.assert_allclose(run.pr_precision, expected_pr, rtol=0, atol=1e-12)  # default backend: faster
    np.testing.assert_array_equal(run.pr_recall, np.linspace(0, 1, 101))


def test_names_and_ids_give_the_same_numbers() -> None:
    gt, dets = random_case(11)
    names = {im["id"]: im["file_name"] for im in gt["images"]}
    cats = {c["id"]: c["name"].upper() for c in gt["categories"]}
    by_name = [{"file_name": names[d["image_id"]].split("/")[-1], "category_name": cats[d["category_id"]],
                "bbox": d["bbox"], "score": d["score"]} for d in dets]
    by_id, named = evaluate(gt, [dets, by_name])
    assert named.summary == pytest.approx(by_id.summary, nan_ok=True, abs=0)
    assert named.summary["AP"] > 0
    assert named.counts.used == len(dets)


def test_perfect_detections_score_one() -> None:
    gt, _ = random_case(12)
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in gt["annotations"]]
    run = evaluate(gt, [perfect])[0]
    for key in ("AP", "AP50", "AP75", "AR@max"):
        assert run.summary[key] == pytest.approx(1.0, abs=1e-12)
    assert all(c.ap == pytest.approx(1.0, abs=1e-12) for c in run.per_class if c.num_gt)


def test_box_order_does_not_change_the_result() -> None:
    gt, dets = random_case(13)
    shuffled = [dets[i] for i in np.random.default_rng(0).permutation(len(dets))]
    gt_shuffled = copy.deepcopy(gt)
    gt_shuffled["annotations"].reverse()
    a, b = evaluate(gt, [dets])[0], evaluate(gt_shuffled, [shuffled])[0]
    assert a.summary == pytest.approx(b.summary, nan_ok=True, abs=1e-12)


def test_empty_detections_give_zero_for_present_classes_and_nan_for_absent() -> None:
    gt, _ = random_case(14)
    run = evaluate(gt, [[]])[0]
    assert run.summary["AP"] == 0.0 and run.summary["AR@max"] == 0.0
    assert [math.isnan(c.ap) for c in run.per_class] == [c.num_gt == 0 for c in run.per_class]
    assert all(c.ap == 0.0 for c in run.per_class if c.num_gt)
    assert run.counts.entries == 0 and run.counts.used == 0


def test_max_dets_caps_an_image_with_more_objects_than_the_cap() -> None:
    """30 objects, 30 perfect detections: recall is N/30 at cap N; AP = (recall points <= N/30) / 101."""
    images = [{"id": 1, "file_name": "a.png", "width": 1000, "height": 1000}]
    anns = [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": [30.0 * i, 10.0, 20.0, 20.0],
             "area": 400.0, "iscrowd": 0} for i in range(30)]
    gt = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "car"}]}
    dets = [{"image_id": 1, "category_id": 1, "bbox": a["bbox"], "score": 1.0 - 0.01 * i}
            for i, a in enumerate(anns)]
    for cap in (10, 20, 30, 100):
        run = evaluate(gt, [dets], EvalConfig(max_dets=cap))[0]
        n = min(cap, 30)
        hand_ap = sum(1 for r in np.linspace(0, 1, 101) if r <= n / 30 + 1e-12) / 101
        assert run.summary["AR@max"] == pytest.approx(n / 30, abs=1e-12)
        assert run.summary["AP"] == pytest.approx(hand_ap, abs=1e-9)
        ev = direct_cocoeval(gt, dets, cap)
        m = list(ev.params.maxDets).index(cap)
        assert same(run.summary["AP"], naive_mean(ev.eval["precision"][:, :, :, 0, m]))
        if cap != 100:
            assert ev.stats[0] == -1  # summarize() looks for 100 and finds nothing: why we do not use it


def test_several_runs_side_by_side_are_independent() -> None:
    gt, dets = random_case(15)
    alone = [evaluate(gt, [d])[0] for d in (dets, dets[::2], [])]
    together = evaluate(gt, [dets, dets[::2], []], names=["full", "half", "none"])
    assert [r.name for r in together] == ["full", "half", "none"]
    for a, b in zip(alone, together, strict=True):
        assert a.summary == pytest.approx(b.summary, nan_ok=True, abs=0)
    assert together[0].summary["AP"] != together[1].summary["AP"]


def test_faster_backend_matches_pycocotools() -> None:
    pytest.importorskip("faster_coco_eval", reason="faster-coco-eval (bench extra) not installed")
    for seed in (16, 17):
        gt, dets = random_case(seed)
        ref = evaluate(gt, [dets])[0]
        fast = evaluate(gt, [dets], EvalConfig(backend="faster"))[0]
        assert fast.summary == pytest.approx(ref.summary, nan_ok=True, abs=1e-12)
        np.testing.assert_allclose(fast.pr_precision, ref.pr_precision, atol=1e-12, equal_nan=True)


def test_gt_without_annotations_is_a_clear_error() -> None:
    gt, dets = random_case(18)
    gt["annotations"] = []
    with pytest.raises(InputError, match="no annotations"):
        evaluate(gt, [dets])


@pytest.mark.parametrize(
    "kwargs", [{"max_dets": 0}, {"max_dets": 2.5}, {"iou_type": "segm"}, {"backend": "mine"}]
)
def test_bad_config_is_rejected(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        EvalConfig(**kwargs)


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (["a/dets.json", "b/dets.json", "c/dets.json"], ["dets", "dets-2", "dets-3"]),
        (["", "x y.json"], ["run1", "x_y"]),
        ([], []),
    ],
)
def test_run_names_are_unique_and_file_safe(sources: list[str], expected: list[str]) -> None:
    assert run_names(sources) == expected


def test_run_names_count_must_match() -> None:
    gt, dets = random_case(19)
    with pytest.raises(ConfigError, match="run names"):
        evaluate(gt, [dets], names=["a", "b"])

"""Merging detections: literal cases, a naive reference, torchvision and SAHI, through the registry as
each detector calls it (``detect yolo``: :func:`merge_boxes`; ``detect sliding``: ``scene_merger``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tiledet.detect.merge as merge_mod
import tiledet.detect.merge_registry as merge_registry
from tiledet.boxes import Boxes, paired_overlap_xyxy
from tiledet.detect.config import SliceConfig, SlidingConfig
from tiledet.detect.merge import (
    ORDERS,
    above,
    below,
    get_merger,
    merge_boxes,
    merger_help,
    merger_names,
    register_merger,
    top_k,
)
from tiledet.errors import ConfigError


def boxes(
    rows: list[list[float]], classes: list[int] | None = None, scores: list[float] | None = None
) -> Boxes:
    n = len(rows)
    return Boxes(np.array(rows, float).reshape(-1, 4), classes or [0] * n,
                 scores if scores is not None else np.linspace(0.9, 0.5, n))


# A 40 x 20 px object at x 80..120 cut by a tile seam at x = 100: the left tile sees its left half
# (x 80..100), the right tile sees all of it. Their IoU is 0.5, their IoS 1.0.
HALF = [80.0, 10.0, 100.0, 30.0]
WHOLE = [80.0, 10.0, 120.0, 30.0]


def test_half_and_whole_across_a_seam_become_one_box_with_ios() -> None:
    got = merge_boxes(boxes([WHOLE, HALF], scores=[0.8, 0.9]), "greedy-nmm", "ios", 0.6)
    assert len(got) == 1
    np.testing.assert_allclose(got.xyxy[0], WHOLE)  # union of the two
    assert got.scores[0] == pytest.approx(0.9)  # the better score


def test_iou_does_not_merge_the_half_at_a_threshold_above_one_half() -> None:
    assert len(merge_boxes(boxes([WHOLE, HALF]), "greedy-nmm", "iou", 0.6)) == 2
    assert len(merge_boxes(boxes([WHOLE, HALF]), "greedy-nmm", "iou", 0.5)) == 1  # >= threshold matches


def test_two_partial_halves_merge_into_the_union() -> None:
    left, right = [80.0, 10.0, 104.0, 30.0], [96.0, 10.0, 120.0, 30.0]  # each sees the seam overlap
    # intersection 8 x 20 = 160, each area 480: IoS 1/3, IoU 0.2
    assert len(merge_boxes(boxes([left, right]), "greedy-nmm", "ios", 0.3)) == 1
    got = merge_boxes(boxes([left, right]), "greedy-nmm", "ios", 0.3)
    np.testing.assert_allclose(got.xyxy[0], [80, 10, 120, 30])
    assert len(merge_boxes(boxes([left, right]), "greedy-nmm", "ios", 0.4)) == 2


def test_nms_keeps_the_best_box_unchanged() -> None:
    got = merge_boxes(boxes([HALF, WHOLE], scores=[0.9, 0.8]), "nms", "ios", 0.5)
    assert len(got) == 1
    np.testing.assert_allclose(got.xyxy[0], HALF)
    assert got.scores[0] == pytest.approx(0.9)


def test_merging_is_class_aware() -> None:
    got = merge_boxes(boxes([WHOLE, HALF], classes=[0, 1]), "greedy-nmm", "ios", 0.5)
    assert sorted(got.class_ids.tolist()) == [0, 1]


def test_merge_rechecks_against_the_grown_box() -> None:
    # B matches A; C matches A but not A grown by B (SAHI re-checks each merge on the merged box)
    a, b, c = [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 30.0, 10.0], [0.0, 0.0, 10.0, 14.0]
    # IoU(a, b) = 1/3, IoU(a, c) = 100/140; IoU(a+b, c) = 100/340 < 0.3
    got = merge_boxes(boxes([a, b, c], scores=[0.9, 0.8, 0.7]), "greedy-nmm", "iou", 0.3)
    assert len(got) == 1  # c was claimed by a, so it is not a keeper of its own...
    np.testing.assert_allclose(got.xyxy[0], [0, 0, 30, 10])  # ...but it did not grow the box


def test_pair_overlap_values() -> None:
    a = np.array([WHOLE, [0, 0, 10, 10]], float)
    b = np.array([HALF, [20, 20, 30, 30]], float)
    np.testing.assert_allclose(paired_overlap_xyxy(a, b, "iou"), [0.5, 0.0])
    np.testing.assert_allclose(paired_overlap_xyxy(a, b, "ios"), [1.0, 0.0])
    zero = np.array([[5.0, 5.0, 5.0, 5.0]])
    assert paired_overlap_xyxy(zero, zero, "iou")[0] == 0.0


def _random_boxes(n: int, seed: int, classes: int = 3, extent: float = 400.0) -> Boxes:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, extent, (n, 2))
    wh = rng.uniform(4, 40, (n, 2))
    return Boxes(np.hstack([xy, xy + wh]), rng.integers(0, classes, n), rng.uniform(0.05, 1.0, n))


@pytest.mark.parametrize("match", ["iou", "ios"])
def test_touching_then_matching_equals_a_naive_all_pairs_loop(match: str) -> None:
    b = _random_boxes(300, seed=1)
    b = Boxes(np.vstack([b.xyxy, [[50, 50, 50, 80]]]), [*b.class_ids, 0], [*b.scores, 0.5])  # zero-area box
    touching = merge_mod._Touching(b.xyxy)
    n, found = len(b), 0
    for i in range(n):
        got = set(merge_mod.matching(b.xyxy, i, touching(i), match, 0.2).tolist()) - {i}
        others = np.array([j for j in range(n) if j != i])
        ok = paired_overlap_xyxy(b.xyxy[others], np.repeat(b.xyxy[i : i + 1], n - 1, 0), match) >= 0.2
        assert got == set(others[ok].tolist()), i
        found += len(got)
    assert found > 50  # the case is not trivial


def _yolo_route(method: str, match: str, threshold: float) -> Callable[[Boxes], Boxes]:
    """The merge ``detect yolo`` runs (``YoloPredictor``: :func:`merge_boxes`; ``>=`` threshold)."""
    return lambda b: merge_boxes(b, method, match, threshold)


def _sliding_route(method: str, match: str, threshold: float) -> Callable[[Boxes], Boxes]:
    """The merge ``detect sliding`` runs, per class, at the ``--iou`` that matches at ``>= threshold``."""
    pytest.importorskip("torch")
    from tiledet.detect.sliding import scene_merger

    assert match == "iou"  # the sliding window merges over IoU
    return scene_merger(SlidingConfig(merge=method, iou=below(threshold), class_agnostic=False))


ROUTES = {"yolo": _yolo_route, "sliding": _sliding_route}


@pytest.mark.parametrize("detector", ROUTES)
def test_crowded_low_confidence_boxes_merge_like_torchvision(detector: str) -> None:
    """A young model at conf 0.001: thousands of large boxes that all overlap (was quadratic memory)."""
    torch = pytest.importorskip("torch")
    from torchvision.ops import batched_nms

    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 1000, (6000, 2))
    wh = rng.uniform(10, 320, (6000, 2))
    b = Boxes(np.hstack([xy, xy + wh]), rng.integers(0, 2, 6000), rng.uniform(0.001, 0.2, 6000))
    got = ROUTES[detector]("nms", "iou", 0.5)(b)
    as_t = torch.from_numpy
    keep = batched_nms(as_t(b.xyxy), as_t(b.scores), as_t(b.class_ids), 0.5)
    assert got.equals(b[keep.numpy()], atol=1e-9)


@pytest.mark.parametrize("detector", ROUTES)
def test_nms_iou_equals_torchvision_batched_nms(detector: str) -> None:
    torch = pytest.importorskip("torch")
    from torchvision.ops import batched_nms

    b = _random_boxes(500, seed=2)
    got = ROUTES[detector]("nms", "iou", 0.45)(b)
    as_t = torch.from_numpy
    keep = batched_nms(as_t(b.xyxy), as_t(b.scores), as_t(b.class_ids), 0.45)
    ref = b[keep.numpy()]
    assert got.equals(ref, atol=1e-9)
    assert 50 < len(got) < len(b)


@pytest.mark.parametrize(
    ("detector", "method", "match"),
    [("yolo", "greedy-nmm", "ios"), ("yolo", "greedy-nmm", "iou"), ("yolo", "nms", "ios"),
     ("yolo", "nms", "iou"), ("sliding", "greedy-nmm", "iou"), ("sliding", "nms", "iou")],
)  # fmt: skip
def test_equals_sahi_postprocess(detector: str, method: str, match: str) -> None:
    pytest.importorskip("sahi", reason="sahi (bench extra) is the reference implementation")
    from sahi.postprocess.combine import GreedyNMMPostprocess, NMSPostprocess
    from sahi.prediction import ObjectPrediction

    b = _random_boxes(400, seed=3)
    preds = [
        ObjectPrediction(bbox=xyxy.tolist(), category_id=int(c), category_name=str(c), score=float(s),
                         full_shape=[1000, 1000])
        for xyxy, c, s in zip(b.xyxy, b.class_ids, b.scores, strict=True)
    ]
    post = (GreedyNMMPostprocess if method == "greedy-nmm" else NMSPostprocess)(
        match_threshold=0.4, match_metric=match.upper(), class_agnostic=False
    )
    ref = post(preds)
    ref_rows = sorted((p.category.id, round(p.score.value, 9), *np.round(p.bbox.to_xyxy(), 6)) for p in ref)
    got = ROUTES[detector](method, match, 0.4)(b)
    got_rows = sorted(
        (int(c), round(float(s), 9), *np.round(x, 6)) for x, c, s in zip(got.xyxy, got.class_ids, got.scores,
                                                                        strict=True)
    )
    assert len(got_rows) == len(ref_rows)
    np.testing.assert_allclose(np.array(got_rows, float), np.array(ref_rows, float), atol=1e-4)


def test_output_is_sorted_by_score_and_top_k_keeps_the_best() -> None:
    b = _random_boxes(200, seed=4)
    got = merge_boxes(b, "greedy-nmm", "ios", 0.5)
    assert (np.diff(got.scores) <= 0).all()
    best = top_k(got, 5)
    np.testing.assert_allclose(best.scores, np.sort(got.scores)[::-1][:5])
    assert top_k(got, 10**6) is got


def test_empty_input_and_bad_options() -> None:
    assert len(merge_boxes(Boxes.empty(with_scores=True))) == 0
    with pytest.raises(ConfigError, match=r"^merge must"):
        merge_boxes(boxes([HALF]), "wbf", "iou", 0.5)
    with pytest.raises(ConfigError, match=r"^match must"):
        merge_boxes(boxes([HALF]), "nms", "giou", 0.5)
    with pytest.raises(ConfigError, match=r"^merge_threshold must"):
        merge_boxes(boxes([HALF]), "nms", "iou", 0.0)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("class_agnostic", [False, True])
@pytest.mark.parametrize("metric", ["iou", "ios"])
@pytest.mark.parametrize("name", merger_names())
def test_every_merger_returns_valid_boxes(name: str, metric: str, class_agnostic: bool, order: str) -> None:
    if order == "torchvision":
        pytest.importorskip("torch")
    merge = get_merger(name, metric, 0.5, class_agnostic=class_agnostic, order=order)
    for empty in (Boxes.empty(), Boxes.empty(with_scores=True)):
        got = merge(empty)
        assert isinstance(got, Boxes) and len(got) == 0 and got.scores is not None
    one = merge(boxes([HALF], classes=[2], scores=[0.7]))  # cluster-mean: 0.7 * x / 0.7, within 1 ulp
    np.testing.assert_allclose(one.xyxy, [HALF], rtol=1e-15)
    assert one.class_ids.tolist() == [2] and one.scores.tolist() == [0.7]
    unscored = merge(Boxes(np.array([HALF]), [0]))
    assert unscored.xyxy.tolist() == [HALF] and unscored.scores.tolist() == [1.0]
    dupes = merge(boxes([WHOLE, WHOLE, WHOLE], scores=[0.5, 0.9, 0.7]))
    np.testing.assert_allclose(dupes.xyxy, [WHOLE], rtol=1e-15)
    assert dupes.scores.tolist() == [0.9] and dupes.class_ids.tolist() == [0]
    assert dupes.xyxy.dtype == np.float64 and dupes.class_ids.dtype == np.int64


@pytest.mark.parametrize("name", merger_names())
def test_threshold_matches_at_equal_overlap(name: str) -> None:
    """One rule: boxes match when their overlap is >= the threshold (HALF/WHOLE: IoU exactly 0.5)."""
    pair = boxes([WHOLE, HALF], scores=[0.9, 0.8])
    assert paired_overlap_xyxy(pair.xyxy[:1], pair.xyxy[1:], "iou")[0] == 0.5
    assert len(get_merger(name, "iou", 0.5)(pair)) == 1
    assert len(get_merger(name, "iou", above(0.5))(pair)) == 2
    assert len(get_merger(name, "ios", 1.0)(pair)) == 1  # IoS exactly 1
    assert len(get_merger(name, "ios", above(1.0))(pair)) == 2  # above 1: nothing matches


def test_threshold_semantics_of_the_references_and_the_sliding_iou() -> None:
    """SAHI matches at >=, torchvision suppresses at >; detect sliding --iou keeps torchvision's >."""
    torch = pytest.importorskip("torch")
    from torchvision.ops import nms

    from tiledet.detect.sliding import scene_merger

    pair = boxes([WHOLE, HALF], scores=[0.9, 0.8])
    assert len(nms(torch.from_numpy(pair.xyxy), torch.from_numpy(pair.scores), 0.5)) == 2  # IoU 0.5: kept
    for merge in merger_names():
        assert len(scene_merger(SlidingConfig(merge=merge, iou=0.5))(pair)) == 2
        assert len(scene_merger(SlidingConfig(merge=merge, iou=below(0.5)))(pair)) == 1
    pytest.importorskip("sahi")
    from sahi.postprocess.utils import has_match
    from sahi.prediction import ObjectPrediction

    a, b = (
        ObjectPrediction(bbox=box, category_id=0, score=0.9, full_shape=[200, 200]) for box in (WHOLE, HALF)
    )
    assert has_match(a, b, "IOU", 0.5) and not has_match(a, b, "IOU", above(0.5))


def test_above_and_below_decide_every_overlap_alike() -> None:
    rng = np.random.default_rng(0)
    for t in [0.0, 1.0, 0.3, 0.5, 1 / 3, *rng.uniform(0, 1, 50)]:
        assert below(above(t)) == t
        x = np.array([np.nextafter(t, -1), t, np.nextafter(t, 2), rng.uniform(0, 1)])
        assert np.array_equal(x > t, x >= above(t)) and np.array_equal(x >= t, x > below(t))


def test_order_decides_equal_scores() -> None:
    """Equal scores: SAHI visits the box with the smaller x0 first, torchvision the earlier box."""
    pytest.importorskip("torch")
    pair = boxes([[2.0, 0.0, 12.0, 10.0], [0.0, 0.0, 10.0, 10.0]], scores=[0.8, 0.8])  # IoU 2/3
    for name in merger_names():
        sahi = get_merger(name, "iou", 0.5, order="sahi")(pair)
        first = get_merger(name, "iou", 0.5, order="torchvision")(pair)
        assert sahi.xyxy[0, 0] <= first.xyxy[0, 0]
        if name == "nms":
            assert sahi.xyxy.tolist() == [[0, 0, 10, 10]] and first.xyxy.tolist() == [[2, 0, 12, 10]]


def test_torchvision_order_visits_like_torchvision_nms_on_tied_grid_boxes() -> None:
    """The STRtree NMS in torchvision's order (used for IoS and greedy NMM) keeps what torchvision keeps."""
    torch = pytest.importorskip("torch")
    from torchvision.ops import nms

    rng = np.random.default_rng(7)
    for t in (0.3, 1 / 3, 0.5):
        cells = rng.integers(0, 30, (800, 2)) * 8.0 / 0.8408964152537145
        xyxy = np.hstack([cells, cells + 24.0 / 0.8408964152537145])  # sliding windows of one scale
        scores = rng.choice([1.0, 0.99, 0.7], 800)  # saturated probabilities tie
        ref = nms(torch.from_numpy(xyxy), torch.from_numpy(scores), t).numpy()
        got = merge_mod._nms_one_group(xyxy, scores, "iou", above(t), "torchvision")
        assert np.array_equal(got, ref)


def test_bad_merger_options_name_the_option() -> None:
    for kwargs, message in [
        ({"name": "wbf"}, r"^merge must"), ({"metric": "giou"}, r"^match must"),
        ({"order": "random"}, "merge order"), ({"threshold": 0.0}, "threshold"),
    ]:  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            get_merger(**{"name": "nms", **kwargs})


def test_a_registered_merger_is_offered_everywhere() -> None:
    """Room for wbf: a new name is one decorated factory; get_merger, the --merge help and the detector
    configs take it."""

    @register_merger("keep-all", "keep every box")
    def keep_all(metric: str, threshold: float, **_: object) -> Callable[[Boxes], Boxes]:
        return lambda b: b

    try:
        assert "keep-all" in merger_names()
        assert "keep-all (keep every box)" in merger_help("How boxes are merged", "nms")
        assert len(get_merger("keep-all", "iou", 0.5)(boxes([WHOLE, WHOLE]))) == 2
        assert SliceConfig(merge="keep-all").merge == SlidingConfig(merge="keep-all").merge == "keep-all"
    finally:
        del merge_registry._MERGERS["keep-all"]
    assert "keep-all" not in merger_names()


def test_merger_help_lists_every_merger_and_the_default() -> None:
    text = merger_help("How boxes of overlapping tiles are merged", "greedy-nmm")
    assert text.startswith("How boxes of overlapping tiles are merged: nms (")
    assert all(f"{name} (" in text for name in merger_names()) and text.endswith("Default: greedy-nmm.")

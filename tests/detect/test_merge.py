"""Merging detections of overlapping tiles: literal cases, a naive reference, torchvision and SAHI."""

from __future__ import annotations

import numpy as np
import pytest

import tiledet.detect.merge as merge_mod
from tiledet.boxes import Boxes
from tiledet.detect.merge import merge_boxes, pair_overlap, top_k
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
    np.testing.assert_allclose(pair_overlap(a, b, "iou"), [0.5, 0.0])
    np.testing.assert_allclose(pair_overlap(a, b, "ios"), [1.0, 0.0])
    zero = np.array([[5.0, 5.0, 5.0, 5.0]])
    assert pair_overlap(zero, zero, "iou")[0] == 0.0


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
        ok = pair_overlap(b.xyxy[others], np.repeat(b.xyxy[i : i + 1], n - 1, 0), match) >= 0.2
        assert got == set(others[ok].tolist()), i
        found += len(got)
    assert found > 50  # the case is not trivial


def test_crowded_low_confidence_boxes_merge_like_torchvision() -> None:
    """A young model at conf 0.001: thousands of large boxes that all overlap (was quadratic memory)."""
    torch = pytest.importorskip("torch")
    from torchvision.ops import batched_nms

    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 1000, (6000, 2))
    wh = rng.uniform(10, 320, (6000, 2))
    b = Boxes(np.hstack([xy, xy + wh]), rng.integers(0, 2, 6000), rng.uniform(0.001, 0.2, 6000))
    got = merge_boxes(b, "nms", "iou", 0.5)
    as_t = torch.from_numpy
    keep = batched_nms(as_t(b.xyxy), as_t(b.scores), as_t(b.class_ids), 0.5)
    assert got.equals(b[keep.numpy()], atol=1e-9)


def test_nms_iou_equals_torchvision_batched_nms() -> None:
    torch = pytest.importorskip("torch")
    from torchvision.ops import batched_nms

    b = _random_boxes(500, seed=2)
    got = merge_boxes(b, "nms", "iou", 0.45)
    as_t = torch.from_numpy
    keep = batched_nms(as_t(b.xyxy), as_t(b.scores), as_t(b.class_ids), 0.45)
    ref = b[keep.numpy()]
    assert got.equals(ref, atol=1e-9)
    assert 50 < len(got) < len(b)


@pytest.mark.parametrize(("method", "match"), [("greedy-nmm", "ios"), ("greedy-nmm", "iou"), ("nms", "ios")])
def test_equals_sahi_postprocess(method: str, match: str) -> None:
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
    got = merge_boxes(b, method, match, 0.4)
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
    with pytest.raises(ConfigError, match="--merge"):
        merge_boxes(boxes([HALF]), "wbf", "iou", 0.5)
    with pytest.raises(ConfigError, match="--match"):
        merge_boxes(boxes([HALF]), "nms", "giou", 0.5)
    with pytest.raises(ConfigError, match="--merge-threshold"):
        merge_boxes(boxes([HALF]), "nms", "iou", 0.0)

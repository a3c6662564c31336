from __future__ import annotations

import numpy as np
import pytest

from tiledet.boxes import Boxes


def test_construction_validates_and_normalises_dtypes():
    b = Boxes([[0, 0, 10, 5]], [3])
    assert b.xyxy.dtype == np.float64 and b.class_ids.dtype == np.int64
    assert b.scores is None
    assert len(b) == 1
    assert b.area.tolist() == [50.0]


@pytest.mark.parametrize(
    ("xyxy", "cls", "scores", "message"),
    [
        ([[0, 0, 1]], [0], None, "shape"),
        ([[0, 0, 1, 1]], [0, 1], None, "class_ids"),
        ([[5, 0, 1, 1]], [0], None, "x_min <= x_max"),
        ([[0, 5, 1, 1]], [0], None, "x_min <= x_max"),
        ([[0, 0, np.nan, 1]], [0], None, "NaN"),
        ([[0, 0, 1, 1]], [-1], None, ">= 0"),
        ([[0, 0, 1, 1]], [0], [0.5, 0.2], "scores"),
        ([[0, 0, 1, 1]], [0], [np.inf], "scores"),
    ],
)
def test_invalid_boxes_are_rejected(xyxy, cls, scores, message):
    with pytest.raises(ValueError, match=message):
        Boxes(xyxy, cls, scores)


def test_empty_and_concat_and_indexing():
    empty = Boxes.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)
    a = Boxes([[0, 0, 2, 2]], [1], [0.9])
    b = Boxes([[1, 1, 3, 4]], [2], [0.1])
    both = Boxes.concat([a, b])
    assert both.class_ids.tolist() == [1, 2] and both.scores.tolist() == [0.9, 0.1]
    assert Boxes.concat([a, Boxes([[0, 0, 1, 1]], [0])]).scores is None
    assert both[1].equals(b)
    assert both[np.array([False, True])].equals(b)
    assert both[-1].equals(b)
    assert len(Boxes.concat([])) == 0


def test_clip_and_translate():
    b = Boxes([[-5, -5, 5, 5], [8, 8, 20, 30], [50, 50, 60, 60]], [0, 1, 2])
    c = b.clip((10, 12))
    assert c.xyxy.tolist() == [[0, 0, 5, 5], [8, 8, 10, 12], [10, 12, 10, 12]]
    assert c.min_side_at_least(1).tolist() == [True, True, False]
    t = b.translate(100, 200)
    assert t.xyxy[0].tolist() == [95, 195, 105, 205]
    assert not b.equals(t)


def test_iou_hand_computed():
    a = Boxes([[0, 0, 10, 10], [0, 0, 0, 0]], [0, 1])
    b = Boxes([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 0, 0], [2, 2, 4, 6]], [0, 0, 0, 0, 0])
    iou = a.iou(b)
    assert iou.shape == (2, 5) and iou.dtype == np.float64
    # 50 / (100 + 100 - 50); identical; disjoint; empty union -> 0; contained: 8 / 100
    assert iou[0].tolist() == pytest.approx([1 / 3, 1.0, 0.0, 0.0, 0.08])
    assert iou[1].tolist() == [0.0] * 5
    assert Boxes.empty().iou(b).shape == (0, 5) and b.iou(Boxes.empty()).shape == (5, 0)


def _random_boxes(rng, n, classes=3, scores=True):
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(0, 60, (n, 2))
    return Boxes(np.hstack([xy, xy + wh]), rng.integers(0, classes, n), rng.random(n) if scores else None)


def test_iou_matches_torchvision_on_random_boxes():
    torch = pytest.importorskip("torch")
    from torchvision.ops import box_iou

    rng = np.random.default_rng(1)
    a, b = _random_boxes(rng, 300), _random_boxes(rng, 170)
    expected = box_iou(torch.from_numpy(a.xyxy), torch.from_numpy(b.xyxy)).numpy()
    np.testing.assert_allclose(a.iou(b), expected, rtol=0, atol=1e-12)


def _naive_nms(boxes: Boxes, thr: float, agnostic: bool) -> list[int]:
    """Greedy NMS by a plain loop over boxes in decreasing score order (independent reference)."""
    order = sorted(range(len(boxes)), key=lambda i: -boxes.scores[i])
    kept: list[int] = []
    for i in order:
        x0, y0, x1, y1 = boxes.xyxy[i]
        ok = True
        for j in kept:
            if not agnostic and boxes.class_ids[i] != boxes.class_ids[j]:
                continue
            u0, v0, u1, v1 = boxes.xyxy[j]
            inter = max(0.0, min(x1, u1) - max(x0, u0)) * max(0.0, min(y1, v1) - max(y0, v0))
            union = (x1 - x0) * (y1 - y0) + (u1 - u0) * (v1 - v0) - inter
            if union > 0 and inter / union > thr:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


def test_nms_hand_computed():
    b = Boxes(
        [[0, 0, 10, 10], [5, 0, 15, 10], [1, 0, 11, 10], [50, 50, 60, 60]],
        [0, 0, 1, 0],
        [0.9, 0.8, 0.7, 0.95],
    )
    # per class: class 0 keeps 3 (0.95), 0 (0.9), 1 (IoU 1/3 with box 0 is not above 0.5); class 1 keeps 2
    kept = b.nms(0.5)
    assert kept.scores.tolist() == [0.95, 0.9, 0.8, 0.7]
    # class-agnostic: box 2 overlaps box 0 with IoU 90/110 > 0.5 -> dropped
    assert b.nms(0.5, class_agnostic=True).scores.tolist() == [0.95, 0.9, 0.8]
    # threshold 0.3: box 1 (IoU 1/3 with box 0) is dropped too
    assert b.nms(0.3).scores.tolist() == [0.95, 0.9, 0.7]
    assert len(Boxes.empty(with_scores=True).nms(0.5)) == 0


@pytest.mark.parametrize("agnostic", [False, True])
def test_nms_matches_naive_loop_and_torchvision_on_random_boxes(agnostic):
    torch = pytest.importorskip("torch")
    from torchvision.ops import batched_nms

    rng = np.random.default_rng(7)
    boxes = _random_boxes(rng, 400)
    kept = boxes.nms(0.45, class_agnostic=agnostic)
    expected = _naive_nms(boxes, 0.45, agnostic)
    assert 0 < len(kept) < len(boxes)
    assert kept.equals(boxes[np.array(expected)])
    groups = torch.zeros(len(boxes), dtype=torch.int64) if agnostic else torch.from_numpy(boxes.class_ids)
    tv = batched_nms(torch.from_numpy(boxes.xyxy), torch.from_numpy(boxes.scores), groups, 0.45).numpy()
    assert kept.equals(boxes[tv])


def test_nms_rejects_missing_scores_and_bad_threshold():
    with pytest.raises(ValueError, match="needs scores"):
        Boxes([[0, 0, 1, 1]], [0]).nms(0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Boxes([[0, 0, 1, 1]], [0], [0.5]).nms(1.5)


class _FakeTensor:
    """Stands in for a torch tensor: ``detach().cpu().numpy()``."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float32)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.values


def test_from_ultralytics_reads_result_and_boxes_objects():
    from types import SimpleNamespace

    ub = SimpleNamespace(
        xyxy=_FakeTensor([[1, 2, 3, 4], [5, 6, 7.5, 8]]),
        cls=_FakeTensor([2, 0]),
        conf=_FakeTensor([0.5, 0.25]),
    )
    for source in (SimpleNamespace(boxes=ub), ub):
        b = Boxes.from_ultralytics(source)
        assert b.xyxy.tolist() == [[1, 2, 3, 4], [5, 6, 7.5, 8]]
        assert b.class_ids.tolist() == [2, 0] and b.scores.tolist() == [0.5, 0.25]
    with pytest.raises(ValueError, match="axis-aligned"):
        Boxes.from_ultralytics(SimpleNamespace(boxes=None, obb=object()))


def test_from_ultralytics_reads_a_real_results_object():
    torch = pytest.importorskip("torch")
    from tiledet.ultra import import_ultralytics

    import_ultralytics()
    from ultralytics.engine.results import Results

    data = torch.tensor([[10.0, 20.0, 30.5, 40.0, 0.9, 3.0], [0.0, 0.0, 5.0, 5.0, 0.4, 0.0]])
    result = Results(np.zeros((50, 60, 3), np.uint8), path="a.png", names={0: "a", 3: "d"}, boxes=data)
    b = Boxes.from_ultralytics(result)
    np.testing.assert_allclose(b.xyxy, [[10, 20, 30.5, 40], [0, 0, 5, 5]])
    assert b.class_ids.tolist() == [3, 0]
    np.testing.assert_allclose(b.scores, [0.9, 0.4], rtol=1e-6)
    empty = Results(np.zeros((8, 8, 3), np.uint8), path="b.png", names={0: "a"}, boxes=torch.zeros((0, 6)))
    assert len(Boxes.from_ultralytics(empty)) == 0


def test_paired_iou_is_the_diagonal_of_the_pairwise_iou() -> None:
    from tiledet.boxes import iou_xyxy, paired_iou_xyxy

    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 50, (40, 2))
    a = np.hstack([xy, xy + rng.uniform(0, 20, (40, 2))])
    b = a + rng.uniform(-10, 10, (40, 4))
    b[:, 2:] = np.maximum(b[:, 2:], b[:, :2])  # valid boxes, some of zero area
    b[0] = [5, 5, 5, 5]  # a point: IoU 0
    assert np.allclose(paired_iou_xyxy(a, b), np.diag(iou_xyxy(a, b)), atol=1e-12)
    assert paired_iou_xyxy(a, b)[0] == 0.0
    assert paired_iou_xyxy(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0,)
    assert paired_iou_xyxy([[0, 0, 2, 2]], [[1, 0, 3, 2]])[0] == pytest.approx(2 / 6)  # hand-computed


def test_paired_ios_and_overlap_hand_computed_and_symmetric() -> None:
    from tiledet.boxes import paired_ios_xyxy, paired_iou_xyxy, paired_overlap_xyxy

    a = np.array([[0, 0, 4, 2], [0, 0, 2, 2], [0, 0, 1, 1], [5, 5, 5, 9]], float)
    b = np.array([[2, 0, 4, 2], [1, 1, 5, 5], [3, 3, 4, 4], [5, 5, 5, 9]], float)
    # intersections 4, 1, 0, 0 (a line); smaller areas 4, 4, 1, 0
    assert paired_ios_xyxy(a, b).tolist() == [1.0, 0.25, 0.0, 0.0]
    assert paired_overlap_xyxy(a, b, "ios").tolist() == paired_ios_xyxy(a, b).tolist()
    assert paired_overlap_xyxy(a, b, "iou").tolist() == paired_iou_xyxy(a, b).tolist() == [0.5, 1 / 19, 0, 0]
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 50, (200, 2))
    c = np.hstack([xy, xy + rng.uniform(0, 20, (200, 2))])
    d = c[rng.permutation(200)]
    for metric in ("iou", "ios"):
        assert np.array_equal(paired_overlap_xyxy(c, d, metric), paired_overlap_xyxy(d, c, metric))
    with pytest.raises(ValueError, match="iou, ios"):
        paired_overlap_xyxy(a, b, "giou")

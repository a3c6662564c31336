"""Metrics against a hand-computed confusion matrix; augmentation moves box targets with the image."""

from __future__ import annotations

import numpy as np
import pytest

from tiledet.classify.augment import Augmenter, parse_augment
from tiledet.classify.loop import class_weights, epoch_order
from tiledet.classify.metrics import box_iou, classification_metrics, confusion_matrix
from tiledet.errors import ConfigError


def test_metrics_hand_computed() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    preds = np.array([0, 1, 0, 1, 2, 2])
    m = classification_metrics(labels, preds, ["a", "b", "c", "d"])
    assert m["confusion"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    per = {p["class"]: p for p in m["per_class"]}
    assert per["a"]["precision"] == 1.0 and per["a"]["recall"] == pytest.approx(2 / 3)
    assert per["a"]["f1"] == pytest.approx(0.8)
    assert per["c"]["precision"] == 0.5 and per["c"]["recall"] == 1.0
    assert per["d"]["support"] == 0 and per["d"]["precision"] == 0.0
    # macro over the classes present in the labels (a, b, c)
    assert m["macro_precision"] == pytest.approx(2 / 3)
    assert m["macro_recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_confusion_matches_naive_loop() -> None:
    rng = np.random.default_rng(0)
    labels, preds = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    naive = np.zeros((5, 5), int)
    for t, p in zip(labels, preds, strict=True):
        naive[t, p] += 1
    np.testing.assert_array_equal(confusion_matrix(labels, preds, 5), naive)


def test_box_iou() -> None:
    iou = box_iou(
        np.array([[0, 0, 0.5, 0.5], [0, 0, 1.2, 1]]), np.array([[0.25, 0, 0.75, 0.5], [0, 0, 1, 1]])
    )
    np.testing.assert_allclose(iou, [1 / 3, 1.0])


def test_sampler_and_class_weights() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    order = np.concatenate([epoch_order(labels, 0, e, "sampler", 2) for e in range(20)])
    share = (labels[order] == 1).mean()
    assert 0.45 < share < 0.55  # balanced draws
    assert sorted(epoch_order(labels, 0, 1, "none", 2)) == list(range(100))
    np.testing.assert_allclose(class_weights(labels, 3), [100 / 180, 100 / 20, 0])


def _white_box(image: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(image[..., 0] > 128)
    s = image.shape[0]
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]) / s


@pytest.mark.parametrize("names", ["flip", "rot90", "aerial"])
def test_geometric_augment_moves_box(names: str) -> None:
    images = np.zeros((40, 20, 20, 3), np.uint8)
    boxes = np.zeros((40, 4), np.float32)
    rng = np.random.default_rng(1)
    for i in range(40):
        x0, y0 = rng.integers(0, 10, 2)
        w, h = rng.integers(2, 10, 2)
        images[i, y0 : y0 + h, x0 : x0 + w] = 255
        boxes[i] = np.array([x0, y0, x0 + w, y0 + h]) / 20
    boxes[0] = np.nan  # unknown box (background chip): stays unknown
    aug = Augmenter(parse_augment(names), seed=0)
    before = images.copy()
    out_images, out_boxes = aug(images, boxes)
    assert np.isnan(out_boxes[0]).all()
    changed = 0
    for i in range(1, 40):
        # colour shifts (aerial) keep the white box the brightest region
        np.testing.assert_allclose(out_boxes[i], _white_box(out_images[i]), atol=1e-6)
        changed += not np.allclose(out_boxes[i], boxes[i])
    assert changed > 10
    np.testing.assert_array_equal(images, before)  # inputs untouched


def test_augment_names() -> None:
    assert parse_augment("none") == ()
    assert parse_augment("aerial") == ("flip", "rot90", "color")
    assert parse_augment("flip, flip,rot90") == ("flip", "rot90")
    assert parse_augment(["shift", "color"]) == ("shift", "color")
    with pytest.raises(ConfigError, match="unknown augmentation 'cutmix'"):
        parse_augment("cutmix")

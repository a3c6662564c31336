"""Batching of the training loop: every sample once, no batch of one (batch norm needs two)."""

from __future__ import annotations

import numpy as np
import pytest

from tiledet.classify.loop import _chunks, class_weights


@pytest.mark.parametrize(
    ("n", "batch_size", "sizes"),
    [
        (0, 4, []),
        (1, 4, [1]),  # a single sample cannot join anything
        (4, 4, [4]),
        (5, 4, [5]),  # 2 batches, trailing 1 joins the first
        (9, 4, [4, 5]),  # 3 batches, trailing 1 joins the second
        (13, 4, [4, 4, 5]),
        (10, 4, [4, 4, 2]),
        (3, 1, [1, 2]),  # batch size 1: the last two samples still form one batch
    ],
)
def test_chunks_cover_every_sample_once(n: int, batch_size: int, sizes: list[int]) -> None:
    order = np.random.default_rng(0).permutation(n)
    batches = _chunks(order, batch_size)
    assert [len(b) for b in batches] == sizes
    joined = np.concatenate(batches) if batches else np.array([], dtype=order.dtype)
    assert np.array_equal(joined, order)  # same samples, same order


def test_class_weights_balance_present_classes() -> None:
    labels = np.array([0, 0, 0, 2])
    weights = class_weights(labels, 3)
    assert weights == pytest.approx([4 / 6, 0.0, 2.0])
    assert (weights[labels]).sum() == pytest.approx(len(labels))

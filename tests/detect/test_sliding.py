"""Sliding window: pyramid scales, block resampling and stitching, decoding, NMS, scene detection."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from tiledet.boxes import Boxes  # noqa: E402
from tiledet.detect.fcn import fully_convolutional  # noqa: E402
from tiledet.detect.pyramid import blocks, pyramid_scales, resample_block  # noqa: E402
from tiledet.detect.sliding import (  # noqa: E402
    SlidingConfig,
    SlidingDetector,
    decode_cells,
    dense_map,
    detect_scene,
)
from tiledet.errors import ConfigError  # noqa: E402


def _preprocess(images: np.ndarray, device: str | None = None) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images))
    x = x[None] if x.ndim == 3 else x
    return x.permute(0, 3, 1, 2).float().div(255.0).sub(0.5)


def _detector(box_head: bool = False, classes: int = 3) -> SlidingDetector:
    torch.manual_seed(0)
    out = classes + (4 if box_head else 0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 2 * 2, out),
    ).eval()  # fmt: skip
    names = [f"c{i}" for i in range(classes - 1)] + ["background"]
    return SlidingDetector(fully_convolutional(model), _preprocess, names, classes - 1, 0.5, box_head)


def test_pyramid_scales_hand_computed() -> None:
    # window 32, context 0.5: an object of o px is at trained size at scale 32 / (1.5 o)
    scales = pyramid_scales((16, 64), 32, 0.5, step=2.0)
    assert scales == pytest.approx([32 / 24, 32 / 48, 32 / 96])
    assert len(pyramid_scales((8, 160), 32, 0.5)) == math.floor(4 * math.log2(20)) + 1
    with pytest.raises(ConfigError, match="object_size_px"):
        pyramid_scales((50, 10), 32, 0.5)


def test_blocks_tile_the_cell_grid_once() -> None:
    layout = list(blocks((100, 70), window=12, stride=4, block_px=20, offset_xy=(2, 1)))
    rows, cols = (70 - 1 - 12) // 4 + 1, (100 - 2 - 12) // 4 + 1
    seen = np.zeros((rows, cols), int)
    for b in layout:
        seen[b.row0 : b.row0 + b.rows, b.col0 : b.col0 + b.cols] += 1
        assert (b.x0, b.y0) == (2 + b.col0 * 4, 1 + b.row0 * 4)
        assert (b.width, b.height) == ((b.cols - 1) * 4 + 12, (b.rows - 1) * 4 + 12)
    assert (seen == 1).all()


@pytest.mark.parametrize("scale", [1.0, 0.6, 1.7])
def test_resampled_blocks_equal_the_whole_resized_scene(scale: float) -> None:
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (61, 83, 3), dtype=np.uint8)
    width, height = round(83 * scale), round(61 * scale)
    whole = resample_block(scene, scale, 0, 0, width, height)
    for x0, y0, w, h in [(0, 0, 10, 7), (13, 9, 21, 17), (width - 5, height - 4, 5, 4)]:
        np.testing.assert_array_equal(
            resample_block(scene, scale, x0, y0, w, h), whole[y0 : y0 + h, x0 : x0 + w]
        )
    if scale == 1.0:
        np.testing.assert_array_equal(whole, scene)


@pytest.mark.parametrize("scale", [1.0, 0.7])
def test_block_stitched_map_equals_one_whole_pass(scale: float) -> None:
    det = _detector()
    scene = np.random.default_rng(1).integers(0, 256, (90, 117, 3), dtype=np.uint8)
    small = dense_map(det, scene, scale, SlidingConfig(block_px=16, batch_size=3))
    whole = dense_map(det, scene, scale, SlidingConfig(block_px=10_000))
    assert small.shape == whole.shape and small.shape[:2] == (
        (round(90 * scale) - det.fcn.window) // det.fcn.stride + 1,
        (round(117 * scale) - det.fcn.window) // det.fcn.stride + 1,
    )
    np.testing.assert_allclose(small, whole, atol=1e-5, rtol=0)
    if scale == 1.0:  # and every cell is the classifier on its window
        with torch.no_grad():
            for i, j in [(0, 0), (3, 5), (small.shape[0] - 1, small.shape[1] - 1)]:
                crop = scene[i * 4 : i * 4 + det.fcn.window, j * 4 : j * 4 + det.fcn.window]
                expected = det.fcn.trunk(_preprocess(crop))
                expected = det.fcn.head(expected)[0, :, 0, 0].numpy()
                np.testing.assert_allclose(small[i, j], expected, atol=1e-4)


def test_decode_central_square_hand_computed() -> None:
    probs = np.zeros((2, 3, 3))
    probs[..., 2] = 1.0  # background everywhere ...
    probs[1, 2] = [0.7, 0.2, 0.1]  # ... except cell (row 1, col 2): class 0
    probs[0, 0] = [0.1, 0.3, 0.6]  # background wins the argmax, but class 1 (0.3) is below threshold
    thresholds = np.array([0.5, 0.5, np.inf])
    xyxy, scores, ids = decode_cells(probs, None, (10, 20), 4, 12, 0.5, 0.5, thresholds)
    # window top-left (10 + 2*4, 20 + 1*4) = (18, 24), side 12 -> central square of side 8 at (20, 26)
    # resized px -> scene px: / 0.5
    np.testing.assert_allclose(xyxy, [[40, 52, 56, 68]])
    assert scores.tolist() == [0.7] and ids.tolist() == [0]


def test_decode_box_head_hand_computed() -> None:
    probs = np.array([[[0.1, 0.8, 0.1]]])
    offsets = np.array([[[0.5, 0.25, 0.1, 1.2]]])  # x0 > x1 gets sorted, 1.2 clipped to 1
    xyxy, scores, ids = decode_cells(probs, offsets, (8, 4), 4, 20, 2.0, 0.5, np.array([0.5, 0.5, np.inf]))
    # window (8, 4)-(28, 24): x 8 + [0.1, 0.5] * 20 = [10, 18]; y 4 + [0.25, 1.0] * 20 = [9, 24]; / 2
    np.testing.assert_allclose(xyxy, [[5, 4.5, 9, 12]])
    assert ids.tolist() == [1] and scores.tolist() == [0.8]


def test_nms_on_literal_boxes() -> None:
    boxes = Boxes(
        [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], [0, 1, 0, 0], [0.9, 0.8, 0.7, 0.6]
    )
    # IoU(0, 1) = 81 / 119 = 0.68, IoU(0, 3) = 0.9
    agnostic = boxes.nms(0.3, class_agnostic=True)
    assert agnostic.scores.tolist() == [0.9, 0.7]
    per_class = boxes.nms(0.3, class_agnostic=False)
    assert per_class.scores.tolist() == [0.9, 0.8, 0.7]


def test_detect_scene_finds_a_planted_response_and_respects_max_det() -> None:
    """A 'classifier' that fires on bright windows: the detection lands on the bright square."""
    conv = nn.Conv2d(3, 1, 8, bias=False)
    conv.weight.data.fill_(1.0 / (3 * 64))
    head = nn.Linear(1, 2)
    head.weight.data.copy_(torch.tensor([[10.0], [-10.0]]))
    head.bias.data.copy_(torch.tensor([-5.0, 5.0]))
    model = nn.Sequential(conv, nn.AvgPool2d(2), nn.Flatten(), nn.Linear(1, 1), nn.ReLU(), head).eval()
    model[3].weight.data.fill_(1.0)
    model[3].bias.data.fill_(0.0)
    fcn = fully_convolutional(model)
    assert (fcn.window, fcn.stride) == (9, 2)
    det = SlidingDetector(
        fcn, lambda im, device=None: _preprocess(im) + 0.5, ["bright", "background"], 1, 0.0
    )
    scene = np.zeros((60, 80, 3), np.uint8)
    scene[20:29, 40:49] = 255
    boxes, stats = detect_scene(det, scene, SlidingConfig(scales=(1.0,), threshold=0.9, max_det=5))
    assert stats.scales == [1.0] and 1 <= len(boxes) <= 5
    assert boxes.xyxy[0].tolist() == [40, 20, 49, 29]  # context 0: the whole window
    assert (np.diff(boxes.scores) <= 0).all()
    too_small, stats = detect_scene(det, scene[:8], SlidingConfig(scales=(1.0,)))
    assert len(too_small) == 0 and stats.skipped_scales == [1.0]
    odd = np.zeros((60, 80, 3), np.uint8)
    odd[21:30, 41:50] = 255  # off the stride-2 grid: only the shifted grid of --stride-multiple 2 aligns
    coarse, _ = detect_scene(det, odd, SlidingConfig(scales=(1.0,), threshold=0.9, merge="nms"))
    fine, stats = detect_scene(
        det, odd, SlidingConfig(scales=(1.0,), threshold=0.9, merge="nms", stride_multiple=2)
    )
    assert coarse.xyxy[0].tolist() != [41, 21, 50, 30] and fine.xyxy[0].tolist() == [41, 21, 50, 30]
    assert stats.cells > 3 * (((60 - 9) // 2 + 1) * ((80 - 9) // 2 + 1))  # 4 grids of (roughly) the same size


def test_config_errors_name_the_field() -> None:
    for kwargs, field in [
        ({"stride_multiple": 0}, "stride_multiple"),
        ({"threshold": 1.5}, "threshold"),
        ({"iou": -0.1}, "iou"),
        ({"max_det": 0}, "max_det"),
        ({"scales": (0.0,)}, "scales"),
        ({"merge": "wbf"}, "merge"),
        ({"merge": True}, "merge"),  # was a bool: merge or not
        ({"merge_iou": 1.5}, None),
    ]:
        with pytest.raises(ConfigError, match=f"^{field} must" if field else "merge IoU") as e:
            SlidingConfig(**kwargs)
        assert e.value.field == field


def test_cli_parsers() -> None:
    from tiledet.cli.detect_sliding import parse_object_size, parse_scales, parse_threshold

    assert parse_object_size("8-160") == (8.0, 160.0) and parse_object_size("24") == (24.0, 24.0)
    assert parse_object_size(None) is None
    assert parse_threshold("0.4,car=0.6, bus=0.3") == (0.4, (("car", 0.6), ("bus", 0.3)))
    assert parse_threshold("car=0.7") == (0.5, (("car", 0.7),))
    assert parse_scales("1,0.5") == (1.0, 0.5) and parse_scales(None) == ()
    for bad in ("8-", "x-9", "0-10", "20-10"):
        with pytest.raises(ConfigError, match="--object-size"):
            parse_object_size(bad)
    with pytest.raises(ConfigError, match="--threshold"):
        parse_threshold("car=high")


def _naive_merge(
    candidates: Boxes, kept: Boxes, iou: float, class_agnostic: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Every kept box against every candidate, one pair at a time."""
    merged, mass = kept.xyxy.copy(), np.zeros(len(kept))
    for i, a in enumerate(kept.xyxy):
        total, acc = 0.0, np.zeros(4)
        for b, cls, score in zip(candidates.xyxy, candidates.class_ids, candidates.scores, strict=True):
            ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
            same = class_agnostic or cls == kept.class_ids[i]
            if union > 0 and ix * iy / union > iou and same:
                total += score
                acc += score * b
        mass[i] = total
        if total > 0:
            merged[i] = acc / total
    return merged, mass


@pytest.mark.parametrize("class_agnostic", [True, False])
@pytest.mark.parametrize("n", [0, 1, 60])
def test_merge_clusters_equals_naive_loop(n: int, class_agnostic: bool) -> None:
    from tiledet.detect.merge import above, merge_clusters

    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 120, (n, 2))
    wh = rng.uniform(0, 30, (n, 2))  # includes near-degenerate boxes
    candidates = Boxes(np.hstack([xy, xy + wh]), rng.integers(0, 2, n), rng.uniform(0.5, 1, n))
    kept = candidates.nms(0.3, class_agnostic=class_agnostic) if n else candidates
    merged, mass = merge_clusters(candidates, kept, "iou", above(0.5), class_agnostic)  # IoU > 0.5
    ref_xyxy, ref_mass = _naive_merge(candidates, kept, 0.5, class_agnostic)
    assert np.array_equal(mass, ref_mass) and np.array_equal(merged.xyxy, ref_xyxy)  # bit for bit
    assert np.array_equal(merged.class_ids, kept.class_ids) and np.array_equal(merged.scores, kept.scores)
    if n:
        assert (mass >= kept.scores - 1e-12).all()  # a kept box is in its own cluster


def _grid_candidates(n: int, seed: int) -> Boxes:
    """Windows of two scales on a stride grid with saturated (tied) probabilities: exact IoU ties."""
    rng = np.random.default_rng(seed)
    scale = rng.choice([1.0, 0.8408964152537145], n)
    cells = rng.integers(0, 25, (n, 2)) * 8.0 / scale[:, None]
    side = rng.choice([16.0, 21.333333333333332], n) / scale
    xyxy = np.hstack([cells, cells + side[:, None]])
    return Boxes(xyxy, rng.integers(0, 3, n), rng.choice([1.0, 0.99, 0.7], n))


@pytest.mark.parametrize("class_agnostic", [True, False])
@pytest.mark.parametrize("iou", [0.3, 1 / 3, 0.5])
def test_default_merge_is_the_old_nms_and_cluster_loop_bit_for_bit(iou: float, class_agnostic: bool) -> None:
    """cluster-mean through the registry = what detect_scene ran before: torchvision NMS at IoU > iou,
    then each kept box the mean of the candidates at IoU > merge_iou (the naive loop above)."""
    from tiledet.detect.sliding import scene_merger

    candidates = _grid_candidates(400, seed=int(iou * 100) + class_agnostic)
    cfg = SlidingConfig(iou=iou, class_agnostic=class_agnostic)
    assert cfg.merge == "cluster-mean"
    kept = candidates.nms(iou, class_agnostic=class_agnostic)
    ref_xyxy, _ = _naive_merge(candidates, kept, cfg.merge_iou, class_agnostic)
    got = scene_merger(cfg)(candidates)
    assert np.array_equal(got.xyxy, ref_xyxy) and np.array_equal(got.scores, kept.scores)
    assert np.array_equal(got.class_ids, kept.class_ids)
    assert scene_merger(cfg, "nms")(candidates).equals(kept)  # --merge nms: the NMS alone


@pytest.mark.parametrize(
    ("merge", "expected"),
    [
        ("cluster-mean", [np.array([1.0, 0.0, 16.0, 15.0]) / 1.5, [0, 0, 10, 3]]),  # (A + B / 2) / 1.5, D
        ("nms", [[0, 0, 10, 10], [0, 0, 10, 3]]),  # A, D
        ("greedy-nmm", [[0, 0, 12, 10], [0, 0, 10, 3]]),  # A | B (C: IoU 50/170 with A | B), D
    ],
)
def test_sliding_merges_hand_computed(merge: str, expected: list) -> None:
    """IoU(A, B) 2/3, IoU(A, C) 1/3, IoU(A, D) exactly 0.3: --iou 0.3 drops or merges B and C, not D;
    cluster-mean's clusters (IoU > 0.5): A with B, D alone."""
    from tiledet.detect.sliding import scene_merger

    a, b, c, d = [0, 0, 10, 10], [2, 0, 12, 10], [0, 5, 10, 15], [0, 0, 10, 3]
    candidates = Boxes([a, b, c, d], [0, 0, 0, 0], [1.0, 0.5, 0.25, 0.125])
    got = scene_merger(SlidingConfig(merge=merge, iou=0.3))(candidates)
    assert np.array_equal(got.xyxy, np.array(expected, float)), got.xyxy.tolist()
    assert got.scores.tolist() == [1.0, 0.125]

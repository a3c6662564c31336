"""Sliced YOLO inference: Ultralytics' own predictor as the reference, batching, shifting, merging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.recording import RecordingProgress
from tiledet.boxes import Boxes
from tiledet.detect.config import SliceConfig
from tiledet.detect.yolo_decode import Letterbox, fill_batch, to_window_boxes
from tiledet.detect.yolo_predict import YoloPredictor
from tiledet.errors import ConfigError, InputError
from tiledet.radiometry import FIXED

from .yolo_data import TILE, make_firing_weights

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_firing_weights(tmp_path_factory.mktemp("weights") / "fire.pt")


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """A 300 x 220 RGB scene with blobs (deterministic)."""
    rng = np.random.default_rng(7)
    image = rng.integers(60, 120, (220, 300, 3), dtype=np.uint8)
    for _ in range(25):
        x, y = rng.integers(0, 280), rng.integers(0, 200)
        image[y : y + rng.integers(8, 20), x : x + rng.integers(8, 30)] = rng.integers(0, 256, 3)
    return image


def contiguous(predictor: YoloPredictor) -> YoloPredictor:
    """Run the torch model in the contiguous (NCHW) layout, as Ultralytics' predictor does."""
    from tiledet.detect.engines import TorchEngine

    model = predictor.loaded.model.to(memory_format=torch.contiguous_format)
    predictor.engine = TorchEngine(model, predictor.device, channels_last=False)
    return predictor


def test_boxes_match_ultralytics_predictor_on_a_single_tile(weights: Path, scene: np.ndarray) -> None:
    from tiledet.detect.offline import offline_ultralytics

    offline_ultralytics()
    from ultralytics import YOLO

    cfg = SliceConfig(conf=0.05, iou=0.7, max_det=300, device="cpu", engine="torch")
    predictor = contiguous(YoloPredictor(weights, cfg))
    x0, y0 = 100, 60
    tile = scene[y0 : y0 + TILE, x0 : x0 + TILE]
    ours = predictor.predict_windows(scene, np.array([[x0, y0, x0 + TILE, y0 + TILE]]))[0]
    bgr = np.ascontiguousarray(tile[:, :, ::-1])
    result = YOLO(str(weights)).predict(bgr, imgsz=TILE, conf=0.05, iou=0.7, max_det=300, verbose=False,
                                        device="cpu")[0]
    reference = Boxes.from_ultralytics(result).translate(x0, y0)
    assert len(reference) > 10  # the check compares real boxes
    assert ours.equals(reference, atol=1e-3)


def test_channels_last_gives_the_same_outputs(weights: Path, scene: np.ndarray) -> None:
    # Raw outputs, not boxes: the firing weights give many boxes of equal score, whose NMS order a
    # 1e-7 difference between the two memory layouts may flip.
    cfg = SliceConfig(conf=0.05, max_det=300, device="cpu", engine="torch")
    fast = YoloPredictor(weights, cfg)
    plain = contiguous(YoloPredictor(weights, cfg))
    assert fast.engine.channels_last and not plain.engine.channels_last
    windows = fast.windows((scene.shape[1], scene.shape[0]))
    batch = fill_batch(scene, windows, Letterbox.for_window((TILE, TILE), 32))
    a, b = fast.engine(batch), plain.engine(batch)
    assert a.shape == b.shape
    assert float((a - b).abs().max()) <= 1e-4 * max(1.0, float(b.abs().max()))


def test_batched_prediction_equals_one_tile_at_a_time(weights: Path, scene: np.ndarray) -> None:
    cfg = SliceConfig(conf=0.05, max_det=300, batch_size=4, device="cpu", engine="torch")
    batched = YoloPredictor(weights, cfg)
    single = YoloPredictor(weights, SliceConfig(**{**cfg.__dict__, "batch_size": 1}))
    windows = batched.windows((scene.shape[1], scene.shape[0]))
    assert len(windows) == 6  # 300 x 220 at 128 px, overlap 0.2: 3 x 2, with a partial last batch
    got = batched.predict_windows(scene, windows)
    ref = [single.predict_windows(scene, windows[i : i + 1])[0] for i in range(len(windows))]
    assert sum(len(b) for b in got) > 50
    for a, b in zip(got, ref, strict=True):
        assert a.equals(b, atol=1e-4)


def test_window_boxes_are_shifted_to_scene_coordinates(weights: Path, scene: np.ndarray) -> None:
    # the same patch pasted at two places gives the same boxes, offset by the paste position
    patch = scene[:TILE, :TILE]
    big = np.full((400, 500, 3), 90, np.uint8)
    big[10 : 10 + TILE, 20 : 20 + TILE] = patch
    big[200 : 200 + TILE, 300 : 300 + TILE] = patch
    predictor = YoloPredictor(weights, SliceConfig(conf=0.05, max_det=300, device="cpu", engine="torch"))
    windows = np.array([[20, 10, 20 + TILE, 10 + TILE], [300, 200, 300 + TILE, 200 + TILE]])
    a, b = predictor.predict_windows(big, windows)
    assert len(a) > 5
    assert b.equals(a.translate(280, 190), atol=1e-3)


def test_to_window_boxes_removes_padding_clips_and_shifts() -> None:
    box = Letterbox(in_h=128, in_w=128, top=14, left=4)
    xyxy = np.array([[0.0, 10.0, 50.0, 60.0], [100.0, 100.0, 130.0, 140.0]])  # network-input pixels
    det = (xyxy, np.array([1, 0]), np.array([0.9, 0.5]))  # Boxes order: xyxy, class ids, scores
    got = to_window_boxes(det, box, [1000, 2000, 1120, 2100])
    np.testing.assert_allclose(got.xyxy, [[1000, 2000, 1046, 2046], [1096, 2086, 1120, 2100]])
    np.testing.assert_array_equal(got.class_ids, [1, 0])
    np.testing.assert_allclose(got.scores, [0.9, 0.5])


@pytest.mark.parametrize("window_wh", [(100, 70), (128, 128), (33, 127), (1, 1)])
def test_padding_equals_ultralytics_letterbox(window_wh: tuple[int, int]) -> None:
    from tiledet.detect.offline import offline_ultralytics

    offline_ultralytics()
    from ultralytics.data.augment import LetterBox

    w, h = window_wh
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    box = Letterbox.for_window((w, h), 32)
    ours = fill_batch(image, np.array([[0, 0, w, h]]), box)[0]
    reference = LetterBox(TILE, auto=True, scaleup=False, stride=32)(image=image)
    np.testing.assert_array_equal(ours, reference)


def test_scene_smaller_than_the_tile_is_one_padded_window(weights: Path, scene: np.ndarray) -> None:
    small = scene[:70, :100]
    predictor = YoloPredictor(weights, SliceConfig(conf=0.05, max_det=300, device="cpu", engine="torch"))
    assert predictor.windows((100, 70)).tolist() == [[0, 0, 100, 70]]
    boxes = predictor(small)
    assert len(boxes) > 0
    assert (boxes.xyxy[:, [0, 2]] <= 100).all() and (boxes.xyxy[:, [1, 3]] <= 70).all()


def test_scene_call_merges_sorts_and_caps(weights: Path, scene: np.ndarray) -> None:
    cfg = SliceConfig(conf=0.05, max_det=300, device="cpu", engine="torch", merge="nms", match="iou",
                      merge_threshold=0.5)
    predictor = YoloPredictor(weights, cfg)
    boxes = predictor(scene)
    parts = predictor.predict_windows(scene, predictor.windows((300, 220)))
    raw = Boxes.concat(parts)
    assert 0 < len(boxes) < len(raw)  # overlaps were merged
    assert (np.diff(boxes.scores) <= 0).all()
    assert (boxes.xyxy >= 0).all() and (boxes.xyxy[:, 2] <= 300).all() and (boxes.xyxy[:, 3] <= 220).all()
    capped = YoloPredictor(weights, SliceConfig(conf=0.05, max_det=5, device="cpu", engine="torch"))(scene)
    assert len(capped) == 5


def test_full_pass_adds_boxes_of_the_shrunk_scene(weights: Path, scene: np.ndarray) -> None:
    base = SliceConfig(conf=0.05, max_det=300, device="cpu", engine="torch")
    predictor = YoloPredictor(weights, SliceConfig(**{**base.__dict__, "full_pass": True}))
    whole = predictor.full_scene(scene)
    assert len(whole) > 0
    assert (whole.xyxy[:, 2] <= 300).all() and (whole.xyxy[:, 3] <= 220).all()


def test_grey_and_rgba_scenes_are_accepted(weights: Path, scene: np.ndarray) -> None:
    predictor = YoloPredictor(weights, SliceConfig(conf=0.05, max_det=300, device="cpu", engine="torch"))
    rgba = np.dstack([scene, np.full(scene.shape[:2], 255, np.uint8)])
    assert predictor(rgba).equals(predictor(scene))
    assert len(predictor(scene[:, :, 0])) > 0


def test_bad_inputs_give_clear_errors(tmp_path: Path, weights: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        YoloPredictor(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot load"):
        YoloPredictor(junk)
    cls = make_firing_weights(tmp_path / "cls.pt", task_yaml="yolo11n-cls.yaml")
    with pytest.raises(InputError, match="not a detection model"):
        YoloPredictor(cls)
    with pytest.raises(InputError, match=r"\.pt"):
        YoloPredictor(tmp_path)
    with pytest.raises(ConfigError, match=r"^overlap must"):
        SliceConfig(overlap=1.0)
    with pytest.raises(ConfigError, match=r"^engine must"):
        SliceConfig(engine="tpu")
    with pytest.raises(InputError, match="float"):  # the fixed radiometry maps 8 and 16 bit only
        YoloPredictor(weights, SliceConfig(device="cpu", radiometry=FIXED))(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ConfigError, match=r"^radiometry must be a Radiometry"):
        SliceConfig(radiometry="auto")  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            YoloPredictor(weights, SliceConfig(device="cuda"))


def test_library_prints_nothing(weights: Path, scene: np.ndarray, tmp_path: Path,
                                capfd: pytest.CaptureFixture[str]) -> None:
    import cv2

    from tiledet.detect.config import DetectConfig
    from tiledet.detect.yolo_run import run_detection

    cv2.imwrite(str(tmp_path / "scene.png"), scene[:, :, ::-1])
    progress = RecordingProgress()
    capfd.readouterr()
    cfg = DetectConfig(weights=weights, images=(tmp_path / "scene.png",), out=tmp_path / "d.json",
                       slicing=SliceConfig(conf=0.05, device="cpu"))
    report = run_detection(cfg, progress=progress)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert progress.phases[0].steps == [1] and report.boxes > 0

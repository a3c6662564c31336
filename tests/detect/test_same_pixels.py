"""Issue 18: a 16-bit scene gives the same 8-bit pixels to both detectors and to ``tiledet draw``.

Issue 19: those pixels are the per-scene stretch (the default radiometry ``auto``), not the high byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from .yolo_data import make_firing_weights

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_firing_weights(tmp_path_factory.mktemp("weights") / "fire.pt")


def _tiny_sliding_detector():
    """An untrained 16 px window classifier made fully convolutional (two classes + background)."""
    from tiledet.detect.fcn import fully_convolutional
    from tiledet.detect.sliding import SlidingDetector

    def preprocess(images: np.ndarray, device: str | None = None) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(images))
        x = x[None] if x.ndim == 3 else x
        return x.permute(0, 3, 1, 2).float().div(255.0).sub(0.5)

    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 3),
    ).eval()  # fmt: skip
    return SlidingDetector(fully_convolutional(model), preprocess, ["c0", "c1", "background"], 2, 0.5)


def _whole(pixels: object) -> np.ndarray:
    """A copy of the whole scene a detector was given: an array, or a Scene read whole."""
    from tiledet.scene import Scene

    return pixels.read() if isinstance(pixels, Scene) else np.array(pixels)


def _per_scene_stretch(bgr16: np.ndarray) -> np.ndarray:
    """(H, W, 3) R, G, B of a 16-bit B, G, R image stretched per band between its 2nd and 98th
    percentiles (numpy, float64: the reference of the ``auto`` radiometry)."""
    rgb = bgr16[:, :, ::-1].astype(np.float64)
    lo, hi = np.percentile(rgb.reshape(-1, 3), [2, 98], axis=0)
    return np.clip(np.rint(255 * (rgb - lo) / (hi - lo)), 0, 255)


def _sliding_input(scene: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """The pixels ``detect sliding``'s run feeds its detector for ``scene``."""
    import tiledet.detect.sliding_run as sliding_run
    from tiledet.detect.config import SlidingConfig

    fed: list[np.ndarray] = []
    score = sliding_run.detect_scene

    def spy(detector, pixels, cfg):  # type: ignore[no-untyped-def]
        fed.append(_whole(pixels))
        return score(detector, pixels, cfg)

    size = {"min": 8, "max": 16, "source": "test"}
    detector = (_tiny_sliding_detector(), SlidingConfig(scales=(1.0,)), size)
    monkeypatch.setattr(sliding_run, "load_detector", lambda cfg: detector)
    monkeypatch.setattr(sliding_run, "detect_scene", spy)
    model = tmp_path / "classifier.pt"
    model.write_bytes(b"stands in for a checkpoint; load_detector is replaced")
    cfg = sliding_run.SlidingRunConfig(model=model, images=(scene,), out=tmp_path / "sliding.json")
    report = sliding_run.run_sliding(cfg)
    assert report.scenes == 1 and len(fed) == 1
    return fed[0]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_scene_gives_the_same_pixels_to_detectors_and_drawing(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    import tiledet.draw
    import tiledet.visualize
    from tiledet.cli import main
    from tiledet.detect.yolo_predict import YoloPredictor
    from tiledet.visualize import output_name

    bgr = np.random.default_rng(11).integers(0, 65536, (120, 150, 3), dtype=np.uint16)
    scene = tmp_path / "scenes" / f"scene{suffix}"
    scene.parent.mkdir()
    assert cv2.imwrite(str(scene), bgr)
    yolo_fed: list[np.ndarray] = []
    detect = YoloPredictor.detect

    def spy_detect(self, image):  # type: ignore[no-untyped-def]
        yolo_fed.append(_whole(image))
        return detect(self, image)

    monkeypatch.setattr(YoloPredictor, "detect", spy_detect)
    dets = tmp_path / "yolo.json"
    assert main(["detect", "yolo", str(weights), str(scene), "--out", str(dets), "--device", "cpu",
                 "--max-det", "5", "--quiet"]) == 0  # fmt: skip
    expected = yolo_fed[0]
    reference = _per_scene_stretch(bgr)
    diff = np.abs(expected - reference)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999  # float32 stretch against float64 numpy
    assert (expected != (bgr >> 8).astype(np.uint8)[:, :, ::-1]).mean() > 0.5  # not the high byte
    np.testing.assert_array_equal(_sliding_input(scene, tmp_path, monkeypatch), expected)

    drawn: list[tuple[np.ndarray, np.ndarray]] = []
    draw_boxes = tiledet.draw.draw_boxes

    def spy_draw(image, *args, **kwargs):  # type: ignore[no-untyped-def]
        out = draw_boxes(image, *args, **kwargs)
        drawn.append((np.array(image), out))
        return out

    monkeypatch.setattr(tiledet.visualize, "draw_boxes", spy_draw)  # where tiledet draw calls it
    out = tmp_path / "drawn"
    assert main(["draw", str(dets), "--images", str(scene.parent), "--out", str(out), "--no-labels",
                 "--thickness", "1", "--score-threshold", "0", "--quiet"]) == 0  # fmt: skip
    np.testing.assert_array_equal(drawn[0][0], expected)  # the drawing's background: the detector's pixels
    picture = cv2.imread(str(out / output_name(scene.name)), cv2.IMREAD_COLOR)[:, :, ::-1]
    np.testing.assert_array_equal(picture, drawn[-1][1])
    inside = np.zeros(expected.shape[:2], bool)
    for entry in json.loads(dets.read_text()):
        x, y, w, h = entry["bbox"]
        inside[int(np.floor(y)) : int(np.ceil(y + h)), int(np.floor(x)) : int(np.ceil(x + w))] = True
    changed = (picture != expected).any(axis=2)
    assert changed.any() and not (changed & ~inside).any(), "only box outlines differ from the detector's"

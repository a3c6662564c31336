"""Engines of sliced YOLO: installed, exported once by Ultralytics, cached, agreeing with PyTorch; auto."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tiledet.detect.config import SliceConfig
from tiledet.detect.engine_probe import AGREE_CONF
from tiledet.detect.engines import auto_candidates, cache_dir, missing_packages, outputs_agree
from tiledet.detect.export_cache import file_sha256
from tiledet.detect.yolo_decode import Letterbox, fill_batch
from tiledet.detect.yolo_export import export_yolo
from tiledet.detect.yolo_predict import YoloPredictor
from tiledet.errors import ConfigError

from .yolo_data import make_firing_weights

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_firing_weights(tmp_path_factory.mktemp("engines") / "fire.pt")


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    windows = np.array([[0, 0, 128, 128], [100, 50, 228, 178], [272, 172, 400, 300]])
    return fill_batch(image, windows, Letterbox.for_window((128, 128), 32))


def _independent_torch(weights: Path, batch: np.ndarray) -> object:
    """Ultralytics' own model (its loader, its forward) on the batch: the reference of every engine."""
    from tiledet.detect.offline import offline_ultralytics

    offline_ultralytics()
    from ultralytics import YOLO

    model = YOLO(str(weights)).model.fuse().eval()
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        y = model(x)
    return y[0] if isinstance(y, (tuple, list)) else y


def test_every_engine_package_is_installed() -> None:
    for engine in ("onnx", "openvino", "openvino-int8", "onnx-int8"):
        assert missing_packages(engine) == [], engine


@pytest.mark.parametrize("engine", ["onnx", "openvino"])
def test_exported_engine_agrees_with_torch_and_is_cached(engine: str, weights: Path,
                                                         batch: np.ndarray) -> None:
    other = YoloPredictor(weights, SliceConfig(device="cpu", engine=engine))
    assert other.engine_report.engine == engine
    raw_ref, raw = _independent_torch(weights, batch), other.engine(batch)
    assert raw.shape == raw_ref.shape
    # fp32 engines match closely; OpenVINO may run in bf16 on CPUs with AMX
    tolerance = 1e-3 if engine == "onnx" else 0.1
    assert float((raw - raw_ref).abs().max()) < tolerance * float(raw_ref.abs().max())
    assert outputs_agree(raw_ref, raw, end2end=False)[0]
    # keyed by (weights, engine, imgsz = the tile, batch = the batch size)
    folder = cache_dir(weights) / f"{engine}-imgsz128-batch16"
    assert cache_dir(weights).name == file_sha256(weights)[:16]
    assert other.engine_report.model is not None and Path(other.engine_report.model).is_relative_to(folder)
    cached = export_yolo(weights, engine, 128, 16)
    mtime = cached.stat().st_mtime_ns
    assert export_yolo(weights, engine, 128, 16).stat().st_mtime_ns == mtime  # exported once
    assert not list(weights.parent.glob("*_openvino_model")) and not list(weights.parent.glob("*.onnx"))


@pytest.mark.parametrize("engine", ["torch-bf16", "torch-fp16"])
def test_torch_autocast_agrees_with_torch(engine: str, weights: Path, batch: np.ndarray) -> None:
    fp32 = _independent_torch(weights, batch)
    low = YoloPredictor(weights, SliceConfig(device="cpu", engine=engine)).engine(batch)
    assert low.dtype == fp32.dtype and low.shape == fp32.shape
    assert outputs_agree(fp32, low, end2end=False)[0]
    assert not torch.equal(fp32, low)  # it really ran in reduced precision


def _matched_share(a: object, b: object, iou: float = 0.8) -> float:
    """Share of the boxes of each side with a same-class partner at IoU >= ``iou`` (torchvision's IoU)."""
    from torchvision.ops import box_iou

    if len(a) == 0 or len(b) == 0:
        return float(len(a) == len(b))
    m = box_iou(torch.as_tensor(a.xyxy), torch.as_tensor(b.xyxy)) >= iou
    m &= torch.as_tensor(a.class_ids)[:, None] == torch.as_tensor(b.class_ids)[None, :]
    return min(float(m.any(1).float().mean()), float(m.any(0).float().mean()))


def test_auto_is_the_default_and_its_boxes_agree_with_torch(weights: Path) -> None:
    assert SliceConfig().engine == "auto"
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (256, 384, 3), dtype=np.uint8)
    predictor = YoloPredictor(weights, SliceConfig(device="cpu"), probe_image=image)
    report = predictor.engine_report
    assert report.engine in ("torch", "torch-bf16", "onnx", "openvino")
    assert report.agreement[report.engine].startswith(("agrees", "reference"))
    assert set(report.agreement) == {"torch", "torch-bf16", "onnx", "openvino"}  # never INT8
    assert {"torch", "onnx", "openvino"} <= set(report.timings_s)  # installed: all were timed
    assert report.reason.startswith("auto: ") and "probe batch of" in report.reason
    torch_boxes = YoloPredictor(weights, SliceConfig(device="cpu", engine="torch"))(image)
    auto_boxes = predictor(image)
    assert len(torch_boxes) > 5
    # agreement is defined at AGREE_CONF: below it this untrained model's tied scores (all 0.095)
    # are ordered by float noise, and which of them survive NMS differs between engines
    confident = lambda b: b[b.scores >= AGREE_CONF]  # noqa: E731
    assert len(confident(torch_boxes)) > 5
    assert _matched_share(confident(torch_boxes), confident(auto_boxes)) >= 0.95


def test_auto_candidates_never_int8() -> None:
    assert auto_candidates(cuda=False) == ("torch-bf16", "onnx", "openvino")
    assert auto_candidates(cuda=True) == ("torch-fp16", "tensorrt")


def test_disagreeing_outputs_are_detected(weights: Path, batch: np.ndarray) -> None:
    raw = YoloPredictor(weights, SliceConfig(device="cpu", engine="torch")).engine(batch)
    shifted = raw.clone()
    shifted[:, 0] += raw[:, 2] / 2  # every box half its width to the right: IoU 1/3
    swapped = raw.clone()
    swapped[:, 4:] = raw[:, 4:].roll(1, dims=1)
    swapped[:, 4] = 0  # the winning class of every box changes
    assert outputs_agree(raw, raw.clone(), end2end=False)[0]
    assert not outputs_agree(raw, shifted, end2end=False)[0]
    assert not outputs_agree(raw, swapped, end2end=False)[0]


def test_missing_engine_packages_name_them(weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_onnxruntime(name: str, *args: object) -> object:
        return None if name == "onnxruntime" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_onnxruntime)
    with pytest.raises(ConfigError, match=r"^engine=onnx needs the Python packages onnxruntime \(") as e:
        YoloPredictor(weights, SliceConfig(device="cpu", engine="onnx"))
    assert "\n" not in str(e.value)


def test_device_bound_engines_are_refused_elsewhere(weights: Path) -> None:
    with pytest.raises(ConfigError, match=r"^engine=tensorrt runs on CUDA; use device=cuda"):
        YoloPredictor(weights, SliceConfig(device="cpu", engine="tensorrt"))


def test_auto_remembers_its_choice_per_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tiledet.detect import engines

    weights = make_firing_weights(tmp_path / "fire.pt")
    image = np.random.default_rng(6).integers(0, 256, (256, 384, 3), dtype=np.uint8)
    first = YoloPredictor(weights, SliceConfig(device="cpu"), probe_image=image).engine_report
    path = cache_dir(weights) / "auto-cpu-imgsz128-batch16.json"
    record = json.loads(path.read_text())
    assert record["engine"] == first.engine and record["fingerprint"]["threads"] >= 1
    timed: list[str] = []
    real_time = engines.time_engine
    monkeypatch.setattr(engines, "time_engine", lambda e, b: timed.append(e.name) or real_time(e, b))
    second = YoloPredictor(weights, SliceConfig(device="cpu"), probe_image=image[::-1].copy()).engine_report
    assert second.engine == first.engine and timed == []  # nothing timed again
    assert "remembered on this machine" in second.reason
    # a choice timed on a smaller probe (a small scene) is timed again on a larger one
    path.write_text(json.dumps({**record, "windows": 2}))
    YoloPredictor(weights, SliceConfig(device="cpu"), probe_image=image)
    assert "torch" in timed and json.loads(path.read_text())["windows"] == record["windows"] > 2
    # another machine (fingerprint) probes again
    timed.clear()
    record["fingerprint"]["cpu"] = "another CPU"
    path.write_text(json.dumps(record))
    YoloPredictor(weights, SliceConfig(device="cpu"), probe_image=image)
    assert "torch" in timed and json.loads(path.read_text())["fingerprint"]["cpu"] != "another CPU"
    # a remembered engine that disagrees with torch on this run's probe is not used
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "engine": "onnx"}))
    monkeypatch.setattr(engines, "outputs_agree", lambda ref, out, end2end: (False, "forced"))
    report = YoloPredictor(weights, SliceConfig(device="cpu"), probe_image=image).engine_report
    assert report.engine == "torch" and report.reason.startswith("auto: no other engine agreed")

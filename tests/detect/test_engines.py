"""ONNX Runtime and OpenVINO engines: exported once by Ultralytics, cached, agreeing with PyTorch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tiledet.detect.config import SliceConfig
from tiledet.detect.engines import export_engine, missing_packages, outputs_agree
from tiledet.detect.yolo_decode import Letterbox, fill_batch
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


@pytest.mark.parametrize("engine", ["onnx", "openvino"])
def test_exported_engine_agrees_with_torch_and_is_cached(
    engine: str, weights: Path, batch: np.ndarray
) -> None:
    missing = ", ".join(missing_packages(engine))
    if missing:
        pytest.skip(f"{engine} engine needs {missing} (pip install 'tiledet[engines]')")
    reference = YoloPredictor(weights, SliceConfig(device="cpu"))
    other = YoloPredictor(weights, SliceConfig(device="cpu", engine=engine))
    assert other.engine_report.engine == engine
    raw_ref, raw = reference.engine(batch), other.engine(batch)
    assert raw.shape == raw_ref.shape
    # fp32 engines match closely; OpenVINO may run in bf16 on CPUs with AMX
    tolerance = 1e-3 if engine == "onnx" else 0.1
    assert float((raw - raw_ref).abs().max()) < tolerance * float(raw_ref.abs().max())
    assert outputs_agree(raw_ref, raw, end2end=False)[0]
    cached = export_engine(weights, engine, 128)
    assert cached.is_file() and weights.name + ".tiledet-engines" in str(cached)
    mtime = cached.stat().st_mtime_ns
    assert export_engine(weights, engine, 128).stat().st_mtime_ns == mtime  # exported once
    assert not list(weights.parent.glob("*_openvino_model")) and not list(weights.parent.glob("*.onnx"))


def test_torch_bf16_agrees_with_torch(weights: Path, batch: np.ndarray) -> None:
    fp32 = YoloPredictor(weights, SliceConfig(device="cpu")).engine(batch)
    bf16_predictor = YoloPredictor(weights, SliceConfig(device="cpu", engine="torch-bf16"))
    bf16 = bf16_predictor.engine(batch)
    assert bf16.dtype == fp32.dtype and bf16.shape == fp32.shape
    assert outputs_agree(fp32, bf16, end2end=False)[0]
    assert not torch.equal(fp32, bf16)  # it really ran in reduced precision


def test_auto_picks_an_engine_that_agrees(weights: Path) -> None:
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (256, 384, 3), dtype=np.uint8)
    predictor = YoloPredictor(weights, SliceConfig(device="cpu", engine="auto"), probe_image=image)
    report = predictor.engine_report
    assert report.engine in ("torch", "torch-bf16", "onnx", "openvino")
    assert report.agreement[report.engine].startswith(("agrees", "reference"))
    assert set(report.timings_s) >= {"torch"}
    assert len(predictor(image)) > 0


def test_disagreeing_outputs_are_detected(weights: Path, batch: np.ndarray) -> None:
    raw = YoloPredictor(weights, SliceConfig(device="cpu")).engine(batch)
    shifted = raw.clone()
    shifted[:, 0] += raw[:, 2] / 2  # every box half its width to the right: IoU 1/3
    swapped = raw.clone()
    swapped[:, 4:] = raw[:, 4:].roll(1, dims=1)
    swapped[:, 4] = 0  # the winning class of every box changes
    assert outputs_agree(raw, raw.clone(), end2end=False)[0]
    assert not outputs_agree(raw, shifted, end2end=False)[0]
    assert not outputs_agree(raw, swapped, end2end=False)[0]


def test_missing_engine_packages_give_an_install_hint(weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_onnxruntime(name: str, *args: object) -> object:
        return None if name == "onnxruntime" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_onnxruntime)
    with pytest.raises(ConfigError, match=r"tiledet\[engines\]"):
        YoloPredictor(weights, SliceConfig(device="cpu", engine="onnx"))

"""The sliding window's network on ONNX Runtime / OpenVINO: export, cache, equality, auto, fallback."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
nn = torch.nn

from tests.detect.test_fcn import _cnn, _crops_reference, _randomise  # noqa: E402
from tiledet.detect import fcn_engines  # noqa: E402
from tiledet.detect.fcn import fully_convolutional  # noqa: E402
from tiledet.detect.fcn_engines import (  # noqa: E402
    build_fcn_engine,
    choose_fcn_engine,
    make_fcn_engine,
    outputs_agree,
    probe_block,
)
from tiledet.detect.sliding import SlidingConfig, SlidingDetector, detect_scene  # noqa: E402
from tiledet.errors import ConfigError, InputError  # noqa: E402

EXPORTED = ("onnx", "openvino")


def _preprocess(images: np.ndarray, device: str | None = None) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images))
    x = x[None] if x.ndim == 3 else x
    return x.permute(0, 3, 1, 2).float().div(255.0).sub(0.5).contiguous()


def _classifier(box_head: bool = True) -> nn.Module:
    """The random CNN of test_fcn (BN, max/avg pooling, GELU, BN1d head): 3 classes (+ 4 box outputs)."""
    torch.manual_seed(3)
    model = _cnn()
    model[-1] = nn.Linear(16, 3 + (4 if box_head else 0))
    return _randomise(model)


def _detector(model: nn.Module, box_head: bool = True, device: str = "cpu") -> SlidingDetector:
    fcn = fully_convolutional(model).for_inference()
    return SlidingDetector(fcn, _preprocess, ["a", "b", "background"], 2, 0.5, box_head, device)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "model" / "best.pt"
    path.parent.mkdir()
    path.write_bytes(b"stands in for the classifier checkpoint (keys the export cache)")
    return path


@pytest.mark.parametrize("engine", EXPORTED)
def test_exported_network_equals_the_classifier_on_every_window(engine: str, checkpoint: Path) -> None:
    """Dynamic height and width: one export scores blocks of several shapes; every cell equals the
    classifier on its cropped window (naive loop), and the torch network's cells."""
    model = _classifier()
    det = _detector(model)
    run = make_fcn_engine(engine, det, checkpoint)
    window, stride = det.fcn.window, det.fcn.stride
    gen = torch.Generator().manual_seed(5)
    for n, rows, cols in [(1, 1, 1), (2, 5, 3), (3, 9, 12)]:
        x = torch.randn(n, 3, window + (rows - 1) * stride, window + (cols - 1) * stride, generator=gen)
        got = run(x)
        with torch.no_grad():
            naive = _crops_reference(model, x, window, stride).numpy()
            torch_cells = det.fcn(x).numpy()
        assert got.shape == naive.shape == (n, 7, rows, cols)
        np.testing.assert_allclose(got, naive, atol=1e-4, rtol=0)
        np.testing.assert_allclose(got, torch_cells, atol=1e-5, rtol=0)


@pytest.mark.parametrize("engine", EXPORTED)
def test_detections_equal_torch(engine: str, checkpoint: Path) -> None:
    """Same boxes and scores within 1e-4 on a scene of flat patches (logits scaled up: probabilities
    spread over 0.78-0.87, the top few % above the threshold)."""
    import cv2

    model = _classifier()
    with torch.no_grad():
        model[-1].weight.mul_(100.0)
    det = _detector(model)
    patches = np.random.default_rng(2).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    scene = cv2.resize(patches, (170, 150), interpolation=cv2.INTER_NEAREST)
    cfg = SlidingConfig(scales=(1.0, 0.8), threshold=0.85, block_px=40, batch_size=3)
    ref, ref_stats = detect_scene(det, scene, cfg)
    got, stats = detect_scene(replace(det, engine=make_fcn_engine(engine, det, checkpoint)), scene, cfg)
    assert len(ref) > 10 and stats.cells == ref_stats.cells
    np.testing.assert_array_equal(got.class_ids, ref.class_ids)
    np.testing.assert_allclose(got.xyxy, ref.xyxy, atol=1e-3, rtol=0)
    np.testing.assert_allclose(got.scores, ref.scores, atol=1e-4, rtol=0)


def _count_exports(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"onnx": 0, "openvino": 0}
    write_onnx, write_openvino = fcn_engines._write_onnx, fcn_engines._write_openvino

    def onnx(*args):  # type: ignore[no-untyped-def]
        calls["onnx"] += 1
        return write_onnx(*args)

    def openvino(*args):  # type: ignore[no-untyped-def]
        calls["openvino"] += 1
        return write_openvino(*args)

    monkeypatch.setattr(fcn_engines, "_write_onnx", onnx)
    monkeypatch.setattr(fcn_engines, "_write_openvino", openvino)
    return calls


def test_export_is_cached_beside_the_checkpoint(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_exports(monkeypatch)
    model = _classifier()
    make_fcn_engine("openvino", _detector(model), checkpoint)  # exports the ONNX file, then converts it
    assert calls == {"onnx": 1, "openvino": 1}
    for engine in EXPORTED:  # a second run (a new network object from the same checkpoint): no export
        make_fcn_engine(engine, _detector(model), checkpoint)
    assert calls == {"onnx": 1, "openvino": 1}
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    root = checkpoint.parent / "best.pt.tiledet-engines" / digest
    window = _detector(model).fcn.window
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("model.*")) == [
        f"fcn-onnx-imgsz{window}-batch1/model.onnx", f"fcn-openvino-imgsz{window}-batch1/model.bin",
        f"fcn-openvino-imgsz{window}-batch1/model.xml"]  # fmt: skip
    assert not [p for p in root.iterdir() if p.is_dir() and p.name.startswith(".")]  # no staging left
    with torch.no_grad():  # other weights, other graph: exported again
        model[-1].bias.add_(1.0)
    make_fcn_engine("onnx", _detector(model), checkpoint)
    assert calls["onnx"] == 2


def test_export_goes_to_the_user_cache_when_the_checkpoint_folder_is_read_only(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: access(p, mode) and Path(p) != checkpoint.parent)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TILEDET_ENGINE_CACHE", raising=False)
    path = fcn_engines.export_fcn(_detector(_classifier()).fcn, checkpoint, "onnx")
    assert path.is_relative_to(tmp_path / "cache" / "tiledet" / "engines") and path.is_file()
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == ["best.pt"]


class _Fixed:
    """An engine returning given outputs (a stand-in for a fast engine)."""

    def __init__(self, name: str, outputs: np.ndarray) -> None:
        self.name, self.outputs = name, outputs

    def __call__(self, x: torch.Tensor) -> np.ndarray:
        return self.outputs


def _probe(det: SlidingDetector) -> np.ndarray:
    side = det.fcn.window + 6 * det.fcn.stride
    return np.random.default_rng(4).integers(0, 256, (1, side, side, 3), dtype=np.uint8)


def test_auto_never_picks_an_engine_that_disagrees(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Probe times injected: onnx is fastest but its logits are off by 0.01 (probabilities by more than
    1e-4): rejected; openvino, correct and faster than torch, is chosen."""
    det = _detector(_classifier())
    probe = _probe(det)
    with torch.no_grad():
        truth = det.fcn(_preprocess(probe)).numpy()
    wrong = truth.copy()
    wrong[:, 0] += 0.01
    engines = {"onnx": _Fixed("onnx", wrong), "openvino": _Fixed("openvino", truth)}
    times = {"torch": 1.0, "onnx": 0.1, "openvino": 0.5}
    monkeypatch.setattr(fcn_engines, "make_fcn_engine", lambda name, d, c: engines[name])
    monkeypatch.setattr(fcn_engines, "_time", lambda engine, x: (engine(x), times[engine.name]))
    engine, report = choose_fcn_engine(det, checkpoint, probe)
    assert engine is engines["openvino"] and report.engine == "openvino"
    assert report.agreement["onnx"].startswith("disagrees")
    assert report.agreement["openvino"].startswith("agrees")
    assert report.timings_s == times
    engines["openvino"] = _Fixed("openvino", wrong)  # both wrong: torch runs
    engine, report = choose_fcn_engine(det, checkpoint, probe)
    assert report.engine == "torch" and engine.name == "torch"


def test_outputs_agree_on_probabilities_hand_computed() -> None:
    logits = np.zeros((1, 2, 1, 1))
    shifted = logits.copy()
    shifted[0, 0] = 1e-3  # softmax(1e-3, 0)[0] = 0.5 + 2.5e-4 (to first order): differs by 2.5e-4
    agree, diff = outputs_agree(logits, shifted, 2)
    assert not agree and diff == pytest.approx(1 / (1 + np.exp(-1e-3)) - 0.5, rel=1e-6)
    assert outputs_agree(logits, logits + 5.0, 2) == (True, 0.0)  # same probabilities: the same scores
    with_box = np.zeros((1, 6, 1, 1))
    moved = with_box.copy()
    moved[0, 4] = 2e-4  # a box-head output off by 2e-4
    assert outputs_agree(with_box, moved, 2) == (False, pytest.approx(2e-4))
    assert outputs_agree(logits, np.zeros((1, 2, 1, 2)), 2) == (False, float("inf"))
    assert outputs_agree(logits, np.full((1, 2, 1, 1), np.nan), 2) == (False, float("inf"))


def test_export_failure_falls_back_to_torch(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unsupported(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("Exporting the operator 'aten::strange' to ONNX opset 17 is not supported")

    monkeypatch.setattr(torch.onnx, "export", unsupported)
    det = _detector(_classifier())
    engine, report = build_fcn_engine("auto", det, checkpoint, _probe(det))
    assert report.engine == engine.name == "torch"
    for name in EXPORTED:  # openvino converts the ONNX export: it fails with it
        assert report.agreement[name] == (
            "failed: onnx export failed (RuntimeError: Exporting the operator 'aten::strange' to ONNX "
            "opset 17 is not supported)"
        )
    engine, report = build_fcn_engine("openvino", det, checkpoint, None)
    assert engine.name == "torch" and report.reason.startswith("--engine openvino fell back to torch: onnx")
    assert not list(checkpoint.parent.rglob("*.onnx"))


def test_exported_engines_need_the_cpu(checkpoint: Path) -> None:
    det = _detector(_classifier(), device="cuda")  # only the name: nothing runs on it
    with pytest.raises(ConfigError, match="engine=onnx runs on the CPU") as e:
        make_fcn_engine("onnx", det, checkpoint)
    assert e.value.fields == ("engine", "device")
    _, report = build_fcn_engine("auto", det, checkpoint, _probe(det))
    assert report.engine == "torch" and "CPU only" in report.reason
    assert report.agreement == {"onnx": "not tried (CPU only)", "openvino": "not tried (CPU only)"}


def test_probe_block_is_the_scenes_first_block_cut_to_the_probe_size() -> None:
    det = _detector(_classifier())
    window, stride = det.fcn.window, det.fcn.stride
    scene = np.random.default_rng(6).integers(0, 256, (300, 700, 3), dtype=np.uint8)
    probe = probe_block(det, scene, [4.0, 1.0], block_px=512)  # 4.0: the first scale, upsampled
    side = window + (256 - window) // stride * stride  # hand: 30 + 56 * 4 = 254
    assert probe.shape == (1, side, side, 3) and side == 254
    probe = probe_block(det, scene, [1.0], block_px=64)  # a block of 16 cells: 30 + 15 * 4 = 90 px
    np.testing.assert_array_equal(probe[0], scene[:90, :90])
    tiny = scene[:20, :20]  # smaller than the window: noise of the probe size
    noise = probe_block(det, tiny, [1.0], 512)
    assert noise.shape == (1, 254, 254, 3) and noise.std() > 50


def test_export_error_is_one_line_input_error(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(fcn: object, path: Path) -> None:
        raise ValueError("first line\n  and a long traceback-like tail")

    monkeypatch.setattr(fcn_engines, "_write_onnx", fails)
    with pytest.raises(InputError, match=r"^onnx export failed \(ValueError: first line\)$"):
        make_fcn_engine("onnx", _detector(_classifier()), checkpoint)


def test_a_runtime_refusing_the_export_falls_back(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Refuses:
        def __init__(self, path: Path, fcn: object) -> None:
            raise RuntimeError("[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation")

    monkeypatch.setattr(fcn_engines, "OnnxFcn", Refuses)
    det = _detector(_classifier())
    refused = r"^onnx cannot load the exported network .*model\.onnx \(RuntimeError: \[ONNXRuntimeError\]"
    with pytest.raises(InputError, match=refused):
        make_fcn_engine("onnx", det, checkpoint)
    engine, report = build_fcn_engine("onnx", det, checkpoint, None)
    assert engine.name == "torch" and "NOT_IMPLEMENTED" in report.reason

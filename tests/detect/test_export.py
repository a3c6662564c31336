"""``tiledet detect export`` and the export cache as ``detect yolo`` uses it: keys, INT8, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tiledet.cli import main
from tiledet.detect.config import SliceConfig
from tiledet.detect.engines import cache_dir
from tiledet.detect.yolo_predict import YoloPredictor

from .yolo_data import make_firing_weights, make_tiled_dataset

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_firing_weights(tmp_path_factory.mktemp("export") / "fire.pt")


@pytest.fixture(scope="module")
def data_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny tiled dataset (2 scenes of 256 px -> 128 px tiles): the INT8 calibration images."""
    return make_tiled_dataset(tmp_path_factory.mktemp("calib"), scenes=2, size=256)


@pytest.fixture
def export_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Every call of Ultralytics' ``Model.export`` (still run), with its arguments."""
    from tiledet.detect.offline import offline_ultralytics

    offline_ultralytics()
    from ultralytics.engine.model import Model

    calls: list[dict] = []
    real = Model.export

    def counting(self: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return real(self, **kwargs)

    monkeypatch.setattr(Model, "export", counting)
    return calls


def _batch(n: int = 2, side: int = 128) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def _torch_reference(weights: Path, batch: np.ndarray) -> np.ndarray:
    """Ultralytics' own fused model forward (NCHW floats in [0, 1])."""
    from ultralytics import YOLO

    model = YOLO(str(weights)).model.fuse().eval()
    with torch.no_grad():
        y = model(torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255.0)
    return (y[0] if isinstance(y, (tuple, list)) else y).numpy()


def test_cache_key_imgsz_and_batch(weights: Path, export_calls: list[dict]) -> None:
    def engine_of(**cfg: object) -> Path:
        predictor = YoloPredictor(weights, SliceConfig(device="cpu", engine="onnx", **cfg))  # type: ignore[arg-type]
        return Path(predictor.engine_report.model or "")

    first = engine_of()
    assert len(export_calls) == 1 and export_calls[0]["imgsz"] == 128 and export_calls[0]["batch"] == 16
    assert first.parent.name == "onnx-imgsz128-batch16"
    assert engine_of() == first and len(export_calls) == 1  # same key: a hit, no export
    other_batch, other_tile = engine_of(batch_size=4), engine_of(tile=160)
    assert len(export_calls) == 3
    assert (export_calls[1]["batch"], export_calls[2]["imgsz"]) == (4, 160)
    assert other_batch.parent.name == "onnx-imgsz128-batch4"
    assert other_tile.parent.name == "onnx-imgsz160-batch16"
    key = json.loads((other_tile.parent / "key.json").read_text())
    assert (key["engine"], key["imgsz"], key["batch"]) == ("onnx", 160, 16)
    assert first.is_file() and other_batch.is_file() and other_tile.is_file()


def test_export_onnx_equals_torch(weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import shutil

    import onnxruntime as ort

    weights = Path(shutil.copy(weights, tmp_path / "fire.pt"))  # a fresh cache
    out = tmp_path / "exp"
    assert main(["detect", "export", str(weights), "--format", "onnx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and printed[0].endswith(str(out / "model.onnx"))
    key = json.loads((out / "key.json").read_text())
    assert (key["engine"], key["imgsz"], key["batch"], key["model"]) == ("onnx", 128, 16, "model.onnx")
    assert not cache_dir(weights).exists()  # --out: nothing in the cache
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    batch = _batch(3, 160)  # dynamic batch and size
    x = batch.transpose(0, 3, 1, 2).astype(np.float32) / 255
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    want = _torch_reference(weights, batch)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-3 * float(np.abs(want).max()))


def test_int8_openvino_export_runs_and_detect_yolo_uses_it(
    weights: Path, data_yaml: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """NNCF calibration on 8 val tiles of 128 px (about 15 s on 2 cores)."""
    import openvino as ov

    assert main(["detect", "export", str(weights), "--int8", "--data", str(data_yaml), "--batch", "4"]) == 0
    printed = capfd.readouterr()
    assert printed.err == "" and len(printed.out.strip().splitlines()) == 2  # NNCF's bars kept off
    folder = cache_dir(weights) / "openvino-int8-imgsz128-batch4"
    xml = folder / "model_int8_openvino_model" / "model.xml"
    key = json.loads((folder / "key.json").read_text())
    assert key["extra"]["calibration_data"] == str(data_yaml.resolve())
    assert 'type="FakeQuantize"' in xml.read_text()  # really quantized
    compiled = ov.Core().compile_model(str(xml), "CPU")
    batch = _batch(2)
    got = compiled(batch.transpose(0, 3, 1, 2).astype(np.float32) / 255)[0]
    assert got.shape == _torch_reference(weights, batch).shape and np.isfinite(got).all()
    # detect yolo --engine openvino-int8 without --data: the export in the cache
    predictor = YoloPredictor(weights, SliceConfig(device="cpu", engine="openvino-int8", batch_size=4))
    assert predictor.engine_report.model == str(xml)
    assert predictor.engine(batch).shape == got.shape


def test_int8_engine_without_data_or_export_is_one_line(weights: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "scene.png"), _batch(1)[0])
    code = main(["detect", "yolo", str(weights), str(tmp_path / "scene.png"), "--out",
                 str(tmp_path / "d.json"), "--engine", "openvino-int8", "--batch-size", "3",
                 "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: --engine openvino-int8 needs calibration images the first time: "
                          "give --data DATA.yaml")
    assert not (tmp_path / "d.json").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--int8"], "error: --int8 needs --data DATA.yaml"),
    (["--format", "tflite"], "error: --format must be one of openvino, onnx, got 'tflite'"),
    (["--data", "d.yaml"], "error: --data only applies with --int8"),
    (["--imgsz", "16"], "error: --imgsz must be a whole number >= 32"),
    (["--int8", "--data", "missing.yaml"], "missing.yaml: dataset yaml not found"),
])  # fmt: skip
def test_export_bad_options_are_one_line(weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                         args: list[str], message: str) -> None:
    args = [str(tmp_path / a) if a.endswith(".yaml") else a for a in args]
    assert main(["detect", "export", str(weights), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_export_missing_or_bad_weights(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["detect", "export", str(tmp_path / "nope.pt")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope.pt'}: weights file not found"
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["detect", "export", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "junk.pt: cannot load as an Ultralytics checkpoint" in err


def test_calibration_data_without_val_images(weights: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "ds"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    import cv2

    cv2.imwrite(str(root / "images" / "train" / "a.png"), np.zeros((32, 32, 3), np.uint8))
    (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    data = root / "data.yaml"
    data.write_text("path: .\ntrain: images/train\nval: images/val\nnames: [a]\n")
    assert main(["detect", "export", str(weights), "--int8", "--data", str(data)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {data}: the val split holds no images to calibrate INT8 on"


def test_export_openvino_into_out_twice(weights: Path, tmp_path: Path) -> None:
    import openvino as ov

    out = tmp_path / "ov"
    for _ in range(2):  # the second run replaces its own files
        assert main(["detect", "export", str(weights), "--out", str(out), "--quiet"]) == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert {"key.json", "model_openvino_model/model.xml", "model_openvino_model/model.bin"} <= set(files)
    batch = _batch(2)
    got = ov.Core().compile_model(str(out / "model_openvino_model" / "model.xml"), "CPU")(
        batch.transpose(0, 3, 1, 2).astype(np.float32) / 255)[0]
    want = _torch_reference(weights, batch)
    np.testing.assert_allclose(got, want, atol=0.1 * float(np.abs(want).max()))  # bf16 on AMX CPUs
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "x.txt").write_text("user file")
    assert main(["detect", "export", str(weights), "--out", str(tmp_path / "mine"), "--quiet"]) == 2

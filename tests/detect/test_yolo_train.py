"""``tiledet detect train-yolo`` and ``detect yolo``: a tiny offline training run, then inference."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest

from tiledet.cli import main
from tiledet.detect.yolo_data import inspect_dataset, resolve_model_source
from tiledet.errors import ConfigError, InputError

from .yolo_data import TILE, make_firing_weights, make_tiled_dataset

torch = pytest.importorskip("torch")


def _files(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two epochs of yolo11n from its YAML on 128 px tiles of three 384 px scenes (seconds on CPU),
    with every network connection attempt recorded (and refused)."""
    from tiledet.detect.config import TrainConfig
    from tiledet.detect.yolo_train import train_yolo

    root = tmp_path_factory.mktemp("yolo")
    data = make_tiled_dataset(root)
    before = _files(data.parent)
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args[:2]))
        raise OSError("network disabled in tests")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", refuse)
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        report = train_yolo(TrainConfig(data=data, out=root / "run", epochs=2, batch=8, workers=0, plots=True,
                                        gpu_memory="6GiB", device="cpu"))
    return {"root": root, "data": data, "report": report, "before": before, "after": _files(data.parent),
            "attempts": attempts}


def test_training_is_offline_and_leaves_the_dataset_untouched(trained: dict) -> None:
    assert trained["attempts"] == []
    assert trained["after"] == trained["before"]  # no labels/*.cache or anything else written there


def test_cpu_training_resets_the_thread_count_ultralytics_lowers(monkeypatch: pytest.MonkeyPatch) -> None:
    from tiledet.detect import yolo_train

    monkeypatch.setattr(yolo_train, "cpu_threads", lambda: 2)
    callbacks: dict = {}

    class Recorder:  # stands in for ultralytics.YOLO: only add_callback is used
        def add_callback(self, event: str, fn: object) -> None:
            callbacks[event] = fn

    before = torch.get_num_threads()
    try:
        assert yolo_train._use_cpu_threads(Recorder()) == 2
        torch.set_num_threads(1)  # what Ultralytics' select_device does on a 2-core machine
        callbacks["on_train_start"](None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    from ultralytics.utils.callbacks.base import default_callbacks

    assert "on_train_start" in default_callbacks  # the event still exists in this Ultralytics


def test_run_folder_keeps_config_batch_reason_weights_curves_and_full_scene_metrics(trained: dict) -> None:
    run = trained["root"] / "run"
    info = json.loads((run / "run.json").read_text())
    assert info["batch"] == 8 and "not applicable on cpu" in info["batch_reason"]
    assert info["gpu_memory"] == {"applicable": False}
    from tiledet.ultra import cpu_threads

    assert info["cpu_threads"] == cpu_threads()  # the suite sets OMP_NUM_THREADS=1 (tests/conftest.py)
    assert info["config"]["optimizer"] == "AdamW" and info["config"]["lr0"] == 0.002
    assert info["imgsz"] == TILE and "tile size" in info["imgsz_reason"]
    assert (run / "weights" / "best.pt").is_file() and (run / "results.csv").is_file()
    assert any(run.glob("*.png"))  # curves drawn with a local font
    full = info["val_full"]
    assert full["scenes"] == 1 and 0.0 <= full["AP50"] <= 1.0
    metrics = json.loads((run / "val_full" / "metrics.json").read_text())
    assert metrics["runs"][0]["summary"]["AP50"] == full["AP50"]
    manifest = json.loads((run / ".tiledet-manifest.json").read_text())
    assert {"run.json", "weights/best.pt", "val_full/dets.json", "results.csv"} <= set(manifest["files"])
    assert manifest["complete"] is True


def test_trained_weights_load_in_the_predictor_and_the_cli(trained: dict, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from tiledet.detect.config import SliceConfig
    from tiledet.detect.yolo_predict import YoloPredictor

    best = trained["root"] / "run" / "weights" / "best.pt"
    predictor = YoloPredictor(best, SliceConfig(conf=0.001, device="cpu"))
    assert predictor.tile == TILE and len(predictor.class_names) == 60
    boxes = predictor(np.zeros((200, 300, 3), np.uint8))
    assert boxes.scores is not None
    images = trained["root"] / "synth" / "images"
    out = tmp_path / "dets.json"
    code = main(["detect", "yolo", str(best), str(images), "--out", str(out), "--conf", "0.001",
                 "--save-images", str(tmp_path / "drawn"), "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    dets = json.loads(out.read_text())
    assert isinstance(dets, list)
    assert {d["file_name"] for d in dets} <= {p.name for p in images.iterdir()}
    assert len(list((tmp_path / "drawn").glob("*.png"))) == 3
    assert "3 scenes" in capsys.readouterr().out


def test_cli_train_yolo_refuses_an_unknown_model_yaml(trained: dict, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["detect", "train-yolo", str(trained["data"]), "--out", str(tmp_path / "r"), "--model",
                 "yolo99z.yaml", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "yolo99z.yaml" in err and "Traceback" not in err


def test_dataset_without_labels_is_refused(trained: dict, tmp_path: Path) -> None:
    src = trained["data"].parent
    copy = tmp_path / "nolabels"
    (copy / "images").mkdir(parents=True)
    for split in ("train", "val"):
        (copy / "images" / split).symlink_to(src / "images" / split)
    yaml_text = f"path: {copy}\ntrain: images/train\nval: images/val\nnames: {{0: car}}\n"
    (copy / "data.yaml").write_text(yaml_text)
    with pytest.raises(InputError, match="no labels"):
        inspect_dataset(copy / "data.yaml")


def test_dataset_and_model_checks(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        inspect_dataset(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(InputError, match="not a dataset yaml"):
        inspect_dataset(bad)
    with pytest.raises(InputError, match="never downloads"):
        resolve_model_source("yolo11n.pt")
    with pytest.raises(ConfigError, match="shipped with Ultralytics"):
        resolve_model_source("yolo99z.yaml")
    with pytest.raises(ConfigError, match=r"\.yaml"):
        resolve_model_source("model.onnx")
    assert resolve_model_source("yolo11n.yaml") == Path("yolo11n.yaml")


def test_a_yaml_or_checkpoint_that_is_not_a_detection_model_is_refused(trained: dict, tmp_path: Path) -> None:
    from tiledet.detect.config import TrainConfig
    from tiledet.detect.yolo_train import train_yolo

    cls = make_firing_weights(tmp_path / "cls.pt", task_yaml="yolo11n-cls.yaml")
    with pytest.raises(InputError, match="not a detection model"):
        train_yolo(TrainConfig(data=trained["data"], out=tmp_path / "r1", model=str(cls), device="cpu"))
    not_model = tmp_path / "notmodel.yaml"
    not_model.write_text("names: {0: a}\n")
    with pytest.raises(InputError, match="not a YOLO model"):
        train_yolo(TrainConfig(data=trained["data"], out=tmp_path / "r2", model=str(not_model), device="cpu"))


def test_bad_options_and_devices(trained: dict, tmp_path: Path) -> None:
    from tiledet.detect.config import TrainConfig
    from tiledet.detect.yolo_train import train_yolo

    with pytest.raises(ConfigError, match=r"^batch must"):
        TrainConfig(data=trained["data"], out=tmp_path / "r", batch="lots")
    with pytest.raises(ConfigError, match=r"^gpu_memory"):
        train_yolo(TrainConfig(data=trained["data"], out=tmp_path / "r", gpu_memory="plenty", device="cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            train_yolo(TrainConfig(data=trained["data"], out=tmp_path / "r", device="cuda"))
    with pytest.raises(ConfigError, match="overlaps the input"):
        train_yolo(TrainConfig(data=trained["data"], out=trained["data"].parent / "run", device="cpu"))

"""YOLO weights never run code: the allow-list unpickler, the model-config check, ``--trust-weights``."""

from __future__ import annotations

import builtins
import copy
import functools
import json
import logging
import os
import pathlib
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tiledet.cli import main
from tiledet.errors import InputError

from .yolo_data import TILE, make_tiled_dataset

torch = pytest.importorskip("torch")


class Harmless:
    """A class no allow-list knows: loads only with ``--trust-weights``."""

    def __init__(self) -> None:
        self.note = "harmless"


class _Touch:
    """Pickles as ``os.system('touch MARKER')``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


class _PathTouch(_Touch):
    """Pickles as ``pathlib.Path(MARKER).touch()`` (through ``getattr``)."""

    def __reduce__(self) -> tuple:
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


class _Rebuild:
    """Pickles as ``DetectionModel(cfg)``: an allow-listed class called with a crafted config."""

    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg

    def __reduce__(self) -> tuple:
        from ultralytics.nn.tasks import DetectionModel

        return DetectionModel, (self.cfg,)


def save_like_the_trainer(path: Path, extra: dict | None = None, activation: str | None = None) -> Path:
    """yolo11n (3 classes, from its YAML, offline) saved the way Ultralytics' trainer saves a checkpoint
    (``BaseTrainer.save_model``): half-precision EMA, optimizer state, train args and metrics."""
    from tiledet.detect.offline import offline_ultralytics

    offline_ultralytics()
    from datetime import datetime

    from ultralytics import YOLO, __version__
    from ultralytics.cfg import get_cfg
    from ultralytics.utils.torch_utils import ModelEMA, convert_optimizer_state_dict_to_fp16

    torch.manual_seed(0)
    model = YOLO("yolo11n.yaml", task="detect").model
    model.names = {i: f"class{i}" for i in range(3)}
    model.args = get_cfg(overrides={"imgsz": TILE, "data": "data.yaml", "model": "yolo11n.yaml"})
    if activation is not None:
        model.yaml["activation"] = activation
    ema = ModelEMA(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    ckpt = {
        "epoch": 0, "best_fitness": 0.1, "stopper": {"best_fitness": 0.1, "best_epoch": 0}, "model": None,
        "ema": copy.deepcopy(ema.ema).half(), "updates": ema.updates, "modelopt": None,
        "optimizer": convert_optimizer_state_dict_to_fp16(copy.deepcopy(optimizer.state_dict())),
        "scaler": torch.amp.GradScaler("cpu", enabled=False).state_dict(), "train_args": vars(model.args),
        "train_metrics": {"metrics/mAP50(B)": 0.1, "fitness": 0.1}, "train_results": {"epoch": [1.0]},
        "date": datetime.now().isoformat(), "version": __version__, "git": {"root": None},
        "license": "AGPL-3.0 (https://ultralytics.com/license)", "docs": "https://docs.ultralytics.com",
        **(extra or {}),
    }
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_like_the_trainer(tmp_path_factory.mktemp("real") / "real.pt")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("scene") / "scene.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)).save(path)
    return path


def _detect(weights: Path, scene: Path, out: Path, *extra: str) -> int:
    return main(["detect", "yolo", str(weights), str(scene), "--out", str(out), "--device", "cpu",
                 "--quiet", *extra])


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_the_allow_list_holds_classes_only_never_a_builtin_or_function() -> None:
    from tiledet.detect.safe_weights import allowed_globals

    allowed = allowed_globals()
    assert all(isinstance(g, type) for g in allowed)
    names = {f"{g.__module__}.{g.__qualname__}" for g in allowed}
    assert {"ultralytics.nn.tasks.DetectionModel", "ultralytics.nn.modules.head.Detect",
            "torch.nn.modules.conv.Conv2d", "ultralytics.utils.IterableSimpleNamespace"} <= names
    assert all(n.startswith(("torch.nn.modules.", "ultralytics.nn.")) for n in names - {
        "ultralytics.utils.IterableSimpleNamespace"})
    forbidden = {builtins.getattr, builtins.eval, builtins.exec, builtins.__import__, os.system,
                 subprocess.Popen, subprocess.run, functools.partial, pathlib.Path, torch.load}
    assert not forbidden & set(allowed)
    assert not any(g.__module__ in ("builtins", "os", "posix", "subprocess", "functools") for g in allowed)


def test_a_crafted_reduce_is_refused_by_detect_yolo_and_runs_nothing(
    tmp_path: Path, scene: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "MARKER"
    for name, payload in (("EVIL.pt", _Touch(marker)), ("EVIL2.pt", _PathTouch(marker))):
        evil = tmp_path / name
        torch.save({"model": payload, "train_args": {"imgsz": TILE}}, evil)
        assert _detect(evil, scene, tmp_path / "dets.json") == 2
        err = _one_line_error(capsys)
        assert f"{evil}: refusing to load: it would run " in err and "--trust-weights" in err
        assert not marker.exists()
    with pytest.raises(InputError, match=r"EVIL\.pt: refusing to load: it would run posix\.system"):
        _load(tmp_path / "EVIL.pt")


def _load(path: Path) -> object:
    from tiledet.detect.safe_weights import read_yolo_checkpoint

    return read_yolo_checkpoint(path)


def test_an_allow_listed_class_called_with_a_config_that_would_eval_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    layer = [[-1, 1, "Conv", [16, 3, 2]], [-1, 1, "Detect", ["nc"]]]
    bad = {"activation": f"__import__('os').system('touch {marker}')"}
    cases = [bad, {"activation": "nn.SiLU(__import__('os').getcwd())"},
             {"backbone": [[-1, 1, "torch_load", [str(tmp_path / "x.pt")]]]}]
    for i, cfg in enumerate(cases):
        evil = tmp_path / f"cfg{i}.pt"
        torch.save({"model": _Rebuild({"nc": 1, "backbone": layer[:1], "head": layer[1:], **cfg})}, evil)
        with pytest.raises(InputError, match=rf"{evil.name}: refusing to build the model"):
            _load(evil)
    assert not marker.exists()


def test_train_yolo_refuses_a_checkpoint_whose_config_would_eval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tiledet.detect.yolo_model import build_training_model

    marker = tmp_path / "MARKER"
    activation = f"__import__('os').system('touch {marker}')"
    evil = save_like_the_trainer(tmp_path / "EVIL.pt", activation=activation)
    with pytest.raises(InputError, match=r"EVIL\.pt: refusing to build the model: its activation"):
        build_training_model(str(evil), 3, torch.device("cpu"))
    crafted = tmp_path / "CRAFTED.pt"
    torch.save({"model": _Touch(marker)}, crafted)
    data = make_tiled_dataset(tmp_path / "data", scenes=2, size=256)
    for weights, message in ((crafted, "refusing to load: it would run posix.system"),
                             (evil, "refusing to build the model")):
        code = main(["detect", "train-yolo", str(data), "--out", str(tmp_path / "run"), "--model",
                     str(weights), "--epochs", "1", "--batch", "4", "--workers", "0", "--device", "cpu",
                     "--quiet"])
        assert code == 2 and message in _one_line_error(capsys)
    assert not marker.exists()


def test_a_checkpoint_saved_like_the_trainer_loads_and_predicts(
    real: Path, scene: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = _load(real)
    keys = {"ema", "optimizer", "train_args", "train_metrics", "train_results", "date", "version"}
    assert keys <= set(ckpt)
    assert type(ckpt["ema"]).__name__ == "DetectionModel" and type(ckpt["ema"].args).__name__ == (
        "IterableSimpleNamespace")
    out = tmp_path / "dets.json"
    assert _detect(real, scene, out, "--conf", "0.0") == 0, capsys.readouterr().err
    assert isinstance(json.loads(out.read_text()), list)
    from tiledet.detect.config import SliceConfig
    from tiledet.detect.yolo_predict import YoloPredictor

    predictor = YoloPredictor(real, SliceConfig(conf=0.0, device="cpu"))
    assert predictor.tile == TILE and predictor.class_names == ("class0", "class1", "class2")
    assert len(predictor(np.zeros((150, 170, 3), np.uint8))) > 0


def test_trust_weights_loads_a_foreign_class_and_says_so(
    tmp_path: Path, scene: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    weights = save_like_the_trainer(tmp_path / "foreign.pt", extra={"extra": Harmless()})
    out = tmp_path / "dets.json"
    assert _detect(weights, scene, out) == 2
    assert f"it would run {__name__}.Harmless" in _one_line_error(capsys)
    with caplog.at_level(logging.WARNING, logger="tiledet.detect.safe_weights"):
        assert _detect(weights, scene, out, "--trust-weights") == 0, capsys.readouterr().err
    assert f"loading {weights} with full unpickling (--trust-weights): it can run code" in caplog.text
    assert out.is_file()


def test_outside_tiledet_loading_ultralytics_behaves_as_shipped(real: Path) -> None:
    from tiledet.detect.safe_weights import weights_loading

    with weights_loading(real):
        pass  # installs the routing
    from ultralytics.utils.patches import torch_load

    assert torch_load(str(real), map_location="cpu")["version"]  # its own loader, as without tiledet


@pytest.mark.parametrize(("spec", "ok"), [
    ("nn.SiLU()", True), ("torch.nn.LeakyReLU(0.1, inplace=True)", True), ("nn.ReLU(**{})", False),
    ("nn.SiLU(print(1))", False), ("os.system('x')", False), ("nn.functional.relu(1)", False),
    ("nn.Module.__subclasses__()", False), ("lambda: 0", False),
])
def test_activation_specs(spec: str, ok: bool) -> None:
    from tiledet.detect.safe_weights import check_model_config

    if ok:
        check_model_config({"activation": spec, "backbone": [[-1, 1, "nn.Upsample", [None, 2]]]}, "m.pt")
    else:
        with pytest.raises(InputError, match=r"m\.pt: refusing to build the model"):
            check_model_config({"activation": spec}, "m.pt")


def test_the_engine_export_reads_the_weights_safely(tmp_path: Path) -> None:
    from tiledet.detect.engines import _run_export

    marker = tmp_path / "MARKER"
    evil = tmp_path / "EVIL.pt"
    torch.save({"model": _Touch(marker)}, evil)
    with pytest.raises(InputError, match=r"refusing to load: it would run posix\.system"):
        _run_export(evil, "torchscript", 64, evil, trust_weights=False)
    assert not marker.exists()

"""Checkpoints: plain data + tensors only (weights_only=True), round trip, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tiledet.classify import build_model, load_classifier
from tiledet.classify.checkpoint import checkpoint_dict, save_checkpoint
from tiledet.errors import InputError


def _save(path: Path, box_head: bool = False) -> torch.nn.Module:
    torch.manual_seed(1)
    model = build_model("cnn", 3, 32, filters=[8, 16], head_conv=16, hidden=16, box_head=box_head)
    ckpt = checkpoint_dict(
        model,
        model_name="cnn",
        model_options={"filters": (8, 16), "head_conv": 16, "hidden": 16, "box_head": box_head},
        class_names=["car", "truck", "background"],
        input_size=32,
        mean=(0.5, 0.4, 0.3),
        std=(0.2, 0.25, 0.3),
        chip_size=64,
        context=0.5,
        config={"data": Path("/x"), "lr": 1e-3, "filters": (8, 16)},
    )
    save_checkpoint(path, ckpt)
    return model.eval()


def test_round_trip_weights_only(tmp_path: Path) -> None:
    model = _save(tmp_path / "best.pt", box_head=True)
    raw = torch.load(tmp_path / "best.pt", weights_only=True)
    assert raw["format"] == "tiledet-classifier"
    clf = load_classifier(tmp_path / "best.pt")
    assert clf.class_names == ["car", "truck", "background"]
    assert clf.background_index == 2
    assert clf.input_size == 32 and clf.chip_size == 64 and clf.context == 0.5 and clf.box_head
    assert clf.config == {"data": "/x", "lr": 1e-3, "filters": [8, 16]}
    assert not clf.model.training
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    x = clf.preprocess(images)
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.float32
    expected = (images[1, 5, 7, 2] / 255 - 0.3) / 0.3
    assert float(x[1, 2, 5, 7]) == pytest.approx(expected, abs=1e-6)
    assert clf.preprocess(images[0]).shape == (1, 3, 32, 32)
    assert clf.preprocess(np.zeros((40, 50, 3), np.uint8)).shape == (1, 3, 40, 50)  # no resize
    with torch.no_grad():
        torch.testing.assert_close(clf.model(x), model(x))
        assert clf.model(x).shape == (2, 7)


def test_bad_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="checkpoint not found"):
        load_classifier(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        load_classifier(tmp_path / "junk.pt")
    torch.save({"a": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a tiledet classifier"):
        load_classifier(tmp_path / "other.pt")
    _save(tmp_path / "ok.pt")
    ckpt = torch.load(tmp_path / "ok.pt", weights_only=True)
    ckpt["class_names"] = ["a", "b", "c", "d"]
    torch.save(ckpt, tmp_path / "mismatch.pt")
    with pytest.raises(InputError, match="weights do not fit"):
        load_classifier(tmp_path / "mismatch.pt")


def test_package_exports() -> None:
    import tiledet.classify as c
    from tiledet.classify.config import TrainConfig
    from tiledet.classify.train import train

    assert c.train_classifier is train and c.TrainConfig is TrainConfig
    assert callable(c.run_sweep) and callable(c.run_eval) and callable(c.predict_images)
    with pytest.raises(AttributeError):
        c.no_such_name  # noqa: B018

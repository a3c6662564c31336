"""Classifier registry: every name builds, names list without torch, own models join everywhere."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from tiledet.classify.config import TrainConfig
from tiledet.classify.models import CnnOptions, build_model
from tiledet.classify.registry import get_model, list_models, register_model, unregister_model
from tiledet.cli import main
from tiledet.errors import ConfigError

BUILT_IN = ("mlp", "cnn", "vgg", "resnet18")
TINY = "tiny-test"


@dataclass(frozen=True)
class TinyOptions:
    """Options of the test model."""

    width: int = 4
    box_head: bool = False


@pytest.fixture
def tiny() -> Iterator[str]:
    """A model registered for one test, removed afterwards."""

    @register_model(TINY, options=TinyOptions, help="mean colour through a small Linear layer", input_size=8)
    def _build_tiny(opts: TinyOptions, outputs: int, size: int) -> torch.nn.Module:
        from torch import nn

        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, opts.width), nn.ReLU(),
                             nn.Linear(opts.width, outputs))  # fmt: skip

    yield TINY
    unregister_model(TINY)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_maps_a_batch_to_logits(name: str) -> None:
    size = get_model(name).input_size
    model = build_model(name, 3, size).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, size, size)).shape == (2, 3)


def test_built_in_names_in_order() -> None:
    assert list_models()[: len(BUILT_IN)] == BUILT_IN
    assert get_model("cnn").options is CnnOptions and get_model("resnet18").input_size == 64


def test_listing_names_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from tiledet.classify.registry import get_model, list_models\n"
        "import tiledet.classify.config\n"
        "assert [get_model(n).help for n in list_models()]\n"
        "tiledet.classify.config.TrainConfig(data='d', out='o', model='vgg', model_options={'hidden': 8})\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "print(','.join(list_models()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ",".join(BUILT_IN)


def test_own_model_joins_registry_config_factory_and_help(
    tiny: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tiny in list_models()
    cfg = TrainConfig(data=tmp_path, out=tmp_path / "o", model=tiny, model_options={"width": 6})
    assert cfg.size == 8
    with pytest.raises(ConfigError, match=f"model '{tiny}' has no option 'depth'; it takes width, box_head"):
        TrainConfig(data=tmp_path, out=tmp_path / "o", model=tiny, model_options={"depth": 2})
    model = build_model(tiny, 4, 8, box_head=True, **cfg.model_options)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 8)
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["classify", "train", "--help"]) == 0
    text = capsys.readouterr().out
    assert f"{tiny} (mean colour through a small Linear layer)" in text
    assert text.count("Default: cnn") == 1


def test_unregistered_model_is_gone(tiny: str, tmp_path: Path) -> None:
    unregister_model(tiny)
    assert tiny not in list_models()
    with pytest.raises(ConfigError, match=f"model '{tiny}': unknown"):
        TrainConfig(data=tmp_path, out=tmp_path / "o", model=tiny)


def test_unknown_name_is_a_one_line_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = "model 'transformer': unknown; choose one of mlp, cnn, vgg, resnet18"
    for call in (
        lambda: TrainConfig(data=tmp_path, out=tmp_path / "o", model="transformer"),
        lambda: build_model("transformer", 3, 32),
        lambda: get_model("transformer"),
    ):
        with pytest.raises(ConfigError) as caught:
            call()
        assert str(caught.value) == message
    code = main(["classify", "train", str(tmp_path), "--out", str(tmp_path / "o"), "--model", "transformer"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == f"error: {message}"


def test_registration_is_checked() -> None:
    def builder(opts: object, outputs: int, size: int) -> None:
        raise AssertionError("never built")

    with pytest.raises(ValueError, match="differs from the declaration"):
        register_model("cnn", options=TinyOptions)(builder)
    with pytest.raises(ValueError, match="one non-empty line"):
        register_model("no-help", options=TinyOptions)(builder)
    with pytest.raises(ValueError, match="box_head"):
        register_model("no-box", options=dict, help="a dict")(builder)
    with pytest.raises(ValueError, match="built in"):
        unregister_model("mlp")
    assert "no-help" not in list_models() and "no-box" not in list_models()
    assert get_model("cnn").builder == "_build_cnn"

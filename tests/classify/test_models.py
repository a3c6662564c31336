"""Model factory: forward shapes, options, bad input, and fully-convolutional exactness of mlp/cnn."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tiledet.classify.models import build_model, model_options
from tiledet.errors import ConfigError


@pytest.mark.parametrize(
    ("name", "size", "options"),
    [
        ("mlp", 16, {}),
        ("mlp", 12, {"hidden": []}),
        ("cnn", 32, {}),
        ("cnn", 64, {}),
        ("cnn", 29, {"downsample": "avg"}),
        ("cnn", 40, {"downsample": "stride", "batch_norm": False, "hidden": 0}),
        ("vgg", 32, {}),
        ("resnet18", 32, {}),
    ],
)
@pytest.mark.parametrize("box_head", [False, True])
def test_forward_shape(name: str, size: int, options: dict, box_head: bool) -> None:
    model = build_model(name, 5, size, box_head=box_head, **options).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 5 + (4 if box_head else 0))


def test_sequential_of_standard_layers() -> None:
    allowed = (nn.Conv2d, nn.BatchNorm2d, nn.BatchNorm1d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d,
               nn.AdaptiveAvgPool2d, nn.Dropout, nn.Flatten, nn.Linear)  # fmt: skip
    for name in ("mlp", "cnn", "vgg"):
        model = build_model(name, 3, 32)
        assert isinstance(model, nn.Sequential)
        assert all(isinstance(m, allowed) for m in model), name


def _dense(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Naive fully-convolutional rewrite for the test: Flatten+Linear -> conv with the map's kernel."""
    layers: list[nn.Module] = []
    shape = None
    probe = torch.zeros(1, 3, 32, 32)
    mods = list(model)
    for i, m in enumerate(mods):
        if isinstance(m, nn.Flatten):
            shape = probe.shape[1:]
            continue
        if isinstance(m, nn.Linear):
            if shape is not None:
                c, h, w = shape
                conv = nn.Conv2d(c, m.out_features, (h, w))
                conv.weight.data = m.weight.data.view(m.out_features, c, h, w)
                shape = None
            else:
                conv = nn.Conv2d(m.in_features, m.out_features, 1)
                conv.weight.data = m.weight.data.view(m.out_features, m.in_features, 1, 1)
            conv.bias.data = m.bias.data
            layers.append(conv)
            probe = torch.zeros(1, m.out_features, 1, 1)
            continue
        if isinstance(m, nn.BatchNorm1d):
            raise AssertionError("unexpected")
        layers.append(m)
        if i < len(mods):
            probe = m(probe)
    return nn.Sequential(*layers)(x)


@pytest.mark.parametrize(
    ("name", "options", "stride"),
    [("mlp", {"hidden": [16]}, 1), ("cnn", {}, 4), ("cnn", {"downsample": "avg"}, 4),
     ("cnn", {"downsample": "stride"}, 4),
     ("cnn", {"filters": [8, 8, 8], "convs_per_block": 1, "head_conv": 0}, 8)],
)  # fmt: skip
def test_exact_fully_convolutional(name: str, options: dict, stride: int) -> None:
    torch.manual_seed(0)
    model = build_model(name, 4, 32, box_head=True, **options).eval()
    for m in model.modules():  # non-trivial batch-norm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 3, 32 + 3 * stride + 1, 32 + 2 * stride + 3)
    with torch.no_grad():
        dense = _dense(model, x)
        assert dense.shape[2:] == ((x.shape[2] - 32) // stride + 1, (x.shape[3] - 32) // stride + 1)
        for i in range(dense.shape[2]):
            for j in range(dense.shape[3]):
                crop = x[:, :, i * stride : i * stride + 32, j * stride : j * stride + 32]
                torch.testing.assert_close(dense[0, :, i, j], model(crop)[0], atol=1e-4, rtol=1e-4)


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="model 'transformer': unknown; choose one of"):
        build_model("transformer", 3, 32)
    with pytest.raises(ConfigError, match="no option 'filterz'"):
        build_model("cnn", 3, 32, filterz=[1])
    with pytest.raises(ConfigError, match="too small for cnn"):
        build_model("cnn", 3, 8)
    with pytest.raises(ConfigError, match="at least 2 classes"):
        build_model("mlp", 1, 8)
    with pytest.raises(ConfigError, match="downsample"):
        build_model("cnn", 3, 32, downsample="median")
    assert model_options("cnn", {"filters": [4, 8]}).filters == (4, 8)


def test_resnet18_local_weights(tmp_path) -> None:
    from torchvision.models import resnet18

    from tiledet.errors import InputError

    torch.manual_seed(3)
    source = resnet18(num_classes=1000)
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    model = build_model("resnet18", 4, 64, weights=str(tmp_path / "r18.pth"))
    torch.testing.assert_close(model.conv1.weight, source.conv1.weight)  # backbone loaded
    assert model.fc.out_features == 4  # the 1000-class head is replaced
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ConfigError, match="not ResNet-18 weights"):
        build_model("resnet18", 4, 64, weights=str(tmp_path / "other.pth"))
    with pytest.raises(InputError, match="weights file not found"):
        build_model("resnet18", 4, 64, weights=str(tmp_path / "missing.pth"))

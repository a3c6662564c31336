"""fully_convolutional: dense maps equal the classifier on cropped windows (exact models), window/stride."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from tiledet.detect import fully_convolutional  # noqa: E402
from tiledet.detect.fcn import measure_agreement  # noqa: E402
from tiledet.errors import ConfigError  # noqa: E402


def _randomise(model: nn.Module) -> nn.Module:
    """Random batch-norm statistics so eval-mode BN is not the identity."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)
    return model.eval()


def _cnn() -> nn.Module:
    # nested Sequential, BN, max and avg pooling, valid convs, BN1d and dropout in the head
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Conv2d(6, 8, 3), nn.LeakyReLU(0.1), nn.AvgPool2d(2),
        nn.Conv2d(8, 8, 3), nn.GELU(), nn.Dropout2d(0.2),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(16, 5),
    )  # fmt: skip


def _crops_reference(model: nn.Module, x: torch.Tensor, window: int, stride: int) -> torch.Tensor:
    """Naive loop: the classifier on every window, (N, C, rows, cols)."""
    _n, _, h, w = x.shape
    rows, cols = (h - window) // stride + 1, (w - window) // stride + 1
    out = []
    for i in range(rows):
        row = [
            model(x[:, :, i * stride : i * stride + window, j * stride : j * stride + window])
            for j in range(cols)
        ]
        out.append(torch.stack(row, dim=-1))
    return torch.stack(out, dim=-2)


@pytest.mark.parametrize(("height", "width"), [(30, 30), (77, 91), (45, 33)])
def test_cnn_maps_equal_the_classifier_on_every_window(height: int, width: int) -> None:
    torch.manual_seed(1)
    model = _randomise(_cnn())
    fcn = fully_convolutional(model)
    # hand-computed: 30 -> conv3 28 -> pool 14 -> conv3 12 -> pool 6 -> conv3 4: window 30, stride 4
    assert (fcn.window, fcn.stride, fcn.exact) == (30, 4, True)
    x = torch.randn(2, 3, height, width)
    with torch.no_grad():
        maps = fcn(x)
        expected = _crops_reference(model, x, 30, 4)
    assert maps.shape == (2, 5, (height - 30) // 4 + 1, (width - 30) // 4 + 1)
    torch.testing.assert_close(maps, expected, atol=1e-4, rtol=0)


def test_mlp_is_a_stride_one_window() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(3 * 9 * 9, 12), nn.ReLU(), nn.Dropout(0.5), nn.Linear(12, 3)
    ).eval()
    fcn = fully_convolutional(model)
    assert (fcn.window, fcn.stride, fcn.exact) == (9, 1, True)
    x = torch.randn(1, 3, 17, 14)
    with torch.no_grad():
        torch.testing.assert_close(fcn(x), _crops_reference(model, x, 9, 1), atol=1e-4, rtol=0)


def test_adaptive_pooling_becomes_a_dilated_head() -> None:
    torch.manual_seed(3)
    model = _randomise(
        nn.Sequential(
            nn.Conv2d(3, 4, 3),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 4, 3),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(16, 6),
            nn.ReLU(),
            nn.Linear(6, 3),
        )
    )
    fcn = fully_convolutional(model, input_size=26)  # 26 -> 24 -> 12 -> 10: adaptive 2x2 bins of 5
    assert (fcn.window, fcn.stride, fcn.exact) == (26, 2, True)
    x = torch.randn(1, 3, 41, 37)
    with torch.no_grad():
        torch.testing.assert_close(fcn(x), _crops_reference(model, x, 26, 2), atol=1e-4, rtol=0)
    with pytest.raises(ConfigError, match="input_size"):
        fully_convolutional(model)


def test_cell_to_window_mapping_on_a_one_hot_image() -> None:
    """A model that sums the window's top-left pixel: cell (i, j) must read pixel (4i, 4j)."""
    conv = nn.Conv2d(1, 1, 2, stride=2, bias=False)
    conv.weight.data.copy_(torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]]))
    first = nn.Conv2d(3, 1, 1, bias=False)
    first.weight.data.fill_(1.0)
    pool = nn.MaxPool2d(2)  # window 2x2 -> keeps the max; with a one-hot image it locates the pixel
    model = nn.Sequential(first, conv, pool, nn.Flatten(), nn.Linear(1, 1, bias=False)).eval()
    model[-1].weight.data.fill_(1.0)
    fcn = fully_convolutional(model)
    assert (fcn.window, fcn.stride) == (4, 4)
    x = torch.zeros(1, 3, 13, 13)
    x[0, 0, 8, 4] = 1.0  # pixel (x=4, y=8): the top-left of the window at cell (row 2, col 1)
    with torch.no_grad():
        maps = fcn(x)[0, 0]
    assert maps.shape == (3, 3)
    assert torch.nonzero(maps).tolist() == [[2, 1]]


def test_resnet18_is_approximate_and_reports_agreement() -> None:
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(4)
    model = torchvision.models.resnet18(num_classes=3).eval()
    fcn = fully_convolutional(model, input_size=64)
    assert (fcn.window, fcn.stride, fcn.exact) == (64, 32, False)
    x = torch.randn(1, 3, 64 + 32 * 3, 64 + 32 * 2)
    assert fcn(x).shape == (1, 3, 4, 3)
    diff = measure_agreement(fcn, model, x, cells=6)
    assert 0.0 < diff < float("inf")  # zero padding sees image pixels instead of zeros: not exact


def test_unsupported_layers_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="LSTM"):
        fully_convolutional(nn.Sequential(nn.LSTM(3, 3), nn.Flatten(), nn.Linear(3, 2)))
    with pytest.raises(ConfigError, match="Linear"):
        fully_convolutional(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))


def test_build_model_cnn_is_exact_when_available() -> None:
    models = pytest.importorskip("tiledet.classify.models")
    torch.manual_seed(5)
    model = _randomise(models.build_model("cnn", 4, 32, box_head=True))
    fcn = fully_convolutional(model, input_size=32)
    assert fcn.exact and fcn.window <= 32
    x = torch.randn(1, 3, 57, 49)
    assert measure_agreement(fcn, model, x, cells=16) < 1e-4


def test_inference_copy_folds_batchnorm_and_keeps_the_maps() -> None:
    torch.manual_seed(2)
    model = _randomise(_cnn())
    fcn = fully_convolutional(model)
    fast = fcn.for_inference()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())  # the 2d BN before ReLU is folded
    assert any(isinstance(m, nn.BatchNorm2d) for m in fcn.modules())  # the original is untouched
    assert (fast.window, fast.stride, fast.exact) == (fcn.window, fcn.stride, fcn.exact)
    x = torch.randn(2, 3, 61, 53)
    with torch.no_grad():
        expected = _crops_reference(model, x, 30, 4)
        torch.testing.assert_close(fast(x), expected, atol=1e-4, rtol=0)
        nhwc = x.contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(fast(nhwc), expected, atol=1e-4, rtol=0)

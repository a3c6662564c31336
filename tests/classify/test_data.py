"""Classifier image data: the pixel limit is checked from the header, before anything is decoded."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.classify.tinydata import make_folder
from tiledet.classify.data import (
    MAX_IMAGE_PIXELS,
    Samples,
    check_streamable,
    decode_samples,
    header_size,
    read_rgb,
)
from tiledet.cli import main
from tiledet.errors import InputError


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def big_png(path: Path, width: int, height: int) -> Path:
    """A black 8-bit grey PNG of ``width`` x ``height``: a small file that decodes to gigabytes."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def bigs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("big")
    return {
        "over": big_png(root / "over.png", 9000, 8000),  # over the limit, under Pillow's own
        "bomb": big_png(root / "bomb.png", 14000, 13000),  # Pillow refuses to open its header
    }


def _samples(paths: list[Path]) -> Samples:
    n = len(paths)
    return Samples(paths, np.zeros(n, np.int64), np.full((n, 4), np.nan, np.float32))


def test_limit_from_header(bigs: dict[str, Path], tmp_path: Path) -> None:
    assert MAX_IMAGE_PIXELS == 8192 * 8192
    with pytest.raises(InputError) as info:
        read_rgb(bigs["over"], 16)
    message = str(info.value)
    assert str(bigs["over"]) in message and "9000x8000" in message and "67,108,864" in message
    bomb = r"bomb\.png: image is 14000x13000 \(182,000,000 pixels\), over the limit of 67,108,864"
    with pytest.raises(InputError, match=bomb):
        header_size(bigs["bomb"])
    small = make_folder(tmp_path / "d", per_class=1, classes=("a",)) / "a" / "a_000.png"
    assert header_size(small) == (16, 16) and read_rgb(small, 8).shape == (8, 8, 3)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert header_size(tmp_path / "junk.png") is None and read_rgb(tmp_path / "junk.png", 8) is None


def test_decode_and_stream_refuse(bigs: dict[str, Path], tmp_path: Path) -> None:
    data = make_folder(tmp_path / "d", per_class=3, classes=("a",))
    (data / "a" / "junk.png").write_bytes(b"not an image")
    paths = sorted((data / "a").iterdir())
    skipped: dict[str, str] = {}
    assert len(decode_samples(_samples(paths), 16, skipped)) == 3
    assert skipped == {str(data / "a" / "junk.png"): "cannot decode image"}
    skipped.clear()
    assert len(check_streamable(_samples(paths), skipped)) == 3
    assert skipped == {str(data / "a" / "junk.png"): "cannot read image header"}
    for big in bigs.values():
        with pytest.raises(InputError, match="over the limit"):
            decode_samples(_samples([*paths, big]), 16, {}, workers=2)
        with pytest.raises(InputError, match="over the limit"):
            check_streamable(_samples([*paths, big]), {})


def test_cli_train_refuses(bigs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_folder(tmp_path / "d", per_class=4, classes=("a", "b"))
    big = data / "b" / "big.png"
    big.write_bytes(bigs["over"].read_bytes())
    for memory in ("4", "0"):  # decoded in memory, then streamed
        code = main(["classify", "train", str(data), "--out", str(tmp_path / "run"), "--memory-limit", memory,
                     "--epochs", "1", "--input-size", "16", "--quiet"])  # fmt: skip
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1, err
        assert lines[0] == (
            f"error: {big}: image is 9000x8000 (72,000,000 pixels), over the limit of 67,108,864 pixels "
            "(8192 x 8192) for classifier images"
        )
        assert not [f for f in (tmp_path / "run").glob("*") if not f.name.startswith(".")]  # nothing written


def test_predict_refuses(bigs: dict[str, Path], tmp_path: Path) -> None:
    from tiledet.classify import build_model
    from tiledet.classify.checkpoint import checkpoint_dict, save_checkpoint
    from tiledet.classify.evaluate import predict_images

    options = {"filters": (8,), "head_conv": 8, "hidden": 8}
    model = build_model("cnn", 2, 16, **options)
    ckpt = checkpoint_dict(model, model_name="cnn", model_options=options, class_names=["a", "b"],
                           input_size=16, mean=(0.5,) * 3, std=(0.25,) * 3, chip_size=None, context=None,
                           config={})  # fmt: skip
    save_checkpoint(tmp_path / "best.pt", ckpt)
    folder = make_folder(tmp_path / "d", per_class=2, classes=("a",)) / "a"
    assert len(predict_images(tmp_path / "best.pt", [folder])[1]) == 2
    (folder / "big.png").write_bytes(bigs["over"].read_bytes())
    with pytest.raises(InputError, match=r"big\.png: image is 9000x8000 .* over the limit"):
        predict_images(tmp_path / "best.pt", [folder])

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tiledet.decode import UnreadableImage, read_scene


def _noise(shape):
    return np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg", ".bmp"])
@pytest.mark.parametrize("shape", [(40, 30), (40, 30, 3)])
def test_complete_scenes_decode_like_cv2(tmp_path, suffix, shape):
    import cv2

    path = tmp_path / f"s{suffix}"
    cv2.imwrite(str(path), _noise(shape))
    expected = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(read_scene(path, (30, 40)), expected)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg"])
@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_truncated_scenes_are_unreadable_not_garbage(tmp_path, suffix, keep):
    path = tmp_path / f"s{suffix}"
    Image.fromarray(_noise((64, 48, 3))).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(UnreadableImage, match=path.name):
        read_scene(path, (48, 64))


def test_size_mismatch_is_unreadable(tmp_path):
    path = tmp_path / "s.png"
    Image.fromarray(_noise((10, 12))).save(path)
    with pytest.raises(UnreadableImage, match="differs"):
        read_scene(path, (10, 10))

"""Radiometry policies: validation, band picking and the per-scene stretch, against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from tiledet.errors import ConfigError, InputError
from tiledet.pixels import to_model_rgb
from tiledet.radiometry import AUTO, FIXED, Radiometry, parse_bands, pick_bands


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip(np.rint((values.astype(np.float64) - low) * 255.0 / (high - low)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, None), ("", None), ("3,2,1", (3, 2, 1)), (" 4, 3 ,2", (4, 3, 2)), ("2", (2,))],
)
def test_parse_bands(text: str | None, expected: tuple | None) -> None:
    assert parse_bands(text) == expected


@pytest.mark.parametrize("text", ["3,2", "0,1,2", "a,b,c", "1,2,3,4", "-1,2,3"])
def test_bad_bands_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="bands") as info:
        parse_bands(text)
    assert info.value.field == "bands"


@pytest.mark.parametrize(("low", "high"), [(50, 50), (-1, 90), (10, 101), (90, 10)])
def test_bad_percentiles_are_refused(low: float, high: float) -> None:
    with pytest.raises(ConfigError, match="0 <= low < high <= 100"):
        Radiometry(kind="percentile", low=low, high=high)


@pytest.mark.parametrize(
    ("count", "asked", "names", "expected"),
    [
        (3, None, ["red", "green", "blue"], (1, 2, 3)),
        (4, None, ["blue", "green", "red", "alpha"], (3, 2, 1)),
        (4, None, ["gray", "undefined", "undefined", "undefined"], (1, 2, 3)),
        (1, None, ["gray"], (1, 1, 1)),
        (2, None, None, (1, 1, 1)),
        (8, (5, 3, 2), None, (5, 3, 2)),
        (8, (7,), None, (7, 7, 7)),
    ],
)
def test_pick_bands(count: int, asked: tuple | None, names: list | None, expected: tuple) -> None:
    assert pick_bands(count, asked, names, "s.tif") == expected


def test_pick_bands_refuses_missing_bands() -> None:
    with pytest.raises(InputError, match=r"s\.tif: has 3 band\(s\); band 4 asked for"):
        pick_bands(3, (4, 3, 2), None, "s.tif")


def test_auto_keeps_8_bit_and_stretches_16_bit_arrays() -> None:
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert to_model_rgb(u8, AUTO) is u8
    deep = rng.integers(300, 1800, (20, 30, 3), dtype=np.uint16)
    expected = np.dstack(
        [
            _stretch(deep[:, :, b], np.percentile(deep[:, :, b], 2), np.percentile(deep[:, :, b], 98))
            for b in range(3)
        ]
    )
    np.testing.assert_array_equal(to_model_rgb(deep), expected)
    np.testing.assert_array_equal(to_model_rgb(deep, FIXED), (deep >> 8).astype(np.uint8))


def test_percentile_stretches_8_bit_and_floats_too() -> None:
    grey = np.linspace(0, 1, 101, dtype=np.float32).reshape(1, 101)  # reflectance 0..1, one band
    got = to_model_rgb(grey, Radiometry(kind="percentile", low=10, high=90))
    expected = _stretch(grey[0], np.percentile(grey, 10), np.percentile(grey, 90))
    for band in range(3):
        np.testing.assert_array_equal(got[0, :, band], expected)
    u8 = np.arange(0, 200, 2, dtype=np.uint8).reshape(10, 10)
    stretched = to_model_rgb(u8, Radiometry(kind="percentile", low=0, high=100))
    np.testing.assert_array_equal(stretched[:, :, 0], _stretch(u8, 0, 198))


def test_constant_and_non_finite_values() -> None:
    flat = np.full((4, 4, 3), 500, np.uint16)
    np.testing.assert_array_equal(to_model_rgb(flat), 0)  # no contrast: all at the low limit
    holes = np.array([[np.nan, 1.0], [2.0, 3.0]], np.float32)
    got = to_model_rgb(holes, Radiometry(kind="percentile", low=0, high=100))
    assert got[0, 0, 0] == 0 and got[1, 1, 0] == 255
    with pytest.raises(InputError, match=r"img: no valid pixel"):
        to_model_rgb(np.full((2, 2), np.nan, np.float32), source="img")


def test_bands_on_arrays() -> None:
    five = np.dstack([np.full((2, 2), v, np.uint8) for v in (10, 20, 30, 40, 50)])
    got = to_model_rgb(five, Radiometry(kind="fixed", bands=(5, 4, 1)))
    np.testing.assert_array_equal(got[0, 0], [50, 40, 10])

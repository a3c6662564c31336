"""How a scene's stored values become the models' 8-bit values: one policy, resolved once per scene.

A :class:`Radiometry` says which bands are shown as R, G, B and how values map to 0-255:

- ``kind="auto"`` (the default): ``uint8`` scenes unchanged (byte for byte); every other dtype
  (11/12/16-bit satellite data stored as ``uint16``, reflectance floats, signed integers) stretched
  per band between its ``low`` and ``high`` percentiles (2 and 98 by default, as QGIS's default
  cumulative cut), computed once per scene from an overview with nodata masked.
- ``kind="fixed"``: one fixed scale per dtype: ``uint8`` unchanged, ``uint16`` by its high byte
  (``v >> 8``, what Ultralytics' loader and OpenCV's ``IMREAD_COLOR`` do to 16-bit files), other
  dtypes refused.
- ``kind="percentile"``: the per-scene stretch for every dtype, ``uint8`` included.

A stretched value is ``round(255 * (v - lo) / (hi - lo))`` clipped to 0-255; nodata pixels become 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiledet.errors import ConfigError, InputError

#: Kinds of :class:`Radiometry` (module docstring).
RADIOMETRY_KINDS = ("auto", "fixed", "percentile")

#: Help text of the CLI's ``--radiometry`` option.
RADIOMETRY_HELP = (
    "How stored values become the models' 8-bit values, one policy per scene: auto (8-bit scenes as "
    "they are, other dtypes stretched per band between the scene's 2nd and 98th percentiles, nodata "
    "masked), fixed (8-bit as is, 16-bit by the high byte, others refused) or percentile (the stretch "
    "for every dtype)."
)

#: Help text of the CLI's ``--bands`` option.
BANDS_HELP = (
    "The three bands shown as R,G,B, 1-based, e.g. 3,2,1 or 4,3,2 for a false-colour view. Default: "
    "the bands the file labels red, green, blue, else the first three (a grey band repeated)."
)


@dataclass(frozen=True)
class Radiometry:
    """Which bands and how their values become 8-bit (module docstring).

    Attributes:
        kind: one of :data:`RADIOMETRY_KINDS`.
        low, high: percentiles of the stretch, ``0 <= low < high <= 100``.
        bands: 1-based bands shown as R, G, B (three, or one repeated), None for the file's own.
    """

    kind: str = "auto"
    low: float = 2.0
    high: float = 98.0
    bands: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in RADIOMETRY_KINDS:
            kinds = ", ".join(RADIOMETRY_KINDS)
            raise ConfigError(
                f"radiometry kind must be one of {kinds}, got {self.kind!r}", field="radiometry"
            )
        if not 0 <= self.low < self.high <= 100:
            raise ConfigError(
                f"stretch percentiles must satisfy 0 <= low < high <= 100, got {self.low}, {self.high}",
                field="radiometry",
            )
        if self.bands is not None:
            bands = tuple(self.bands)
            if len(bands) not in (1, 3) or any(not isinstance(b, int) or b < 1 for b in bands):
                raise ConfigError(
                    f"bands must be one or three 1-based band numbers (e.g. 3,2,1), got {self.bands!r}",
                    field="bands",
                )
            object.__setattr__(self, "bands", bands)

    def is_fixed(self, dtype: np.dtype) -> bool:
        """True when values of ``dtype`` map by a fixed scale (no per-scene statistics)."""
        dtype = np.dtype(dtype)
        return self.kind == "fixed" or (self.kind == "auto" and dtype == np.uint8)

    def to_dict(self) -> dict:
        """JSON-ready form (recorded in manifests and reports)."""
        return {"kind": self.kind, "low": self.low, "high": self.high,
                "bands": None if self.bands is None else list(self.bands)}


#: The default policy.
AUTO = Radiometry()
#: The fixed policy (8-bit as is, 16-bit by its high byte).
FIXED = Radiometry(kind="fixed")


def parse_bands(text: str | None) -> tuple[int, ...] | None:
    """``"3,2,1"`` → ``(3, 2, 1)``; None or ``""`` → None.

    Raises:
        ConfigError: for anything but one or three positive integers.
    """
    if text is None or not str(text).strip():
        return None
    try:
        bands = tuple(int(part) for part in str(text).split(","))
    except ValueError as e:
        raise ConfigError(
            f"bands must be like 3,2,1 (1-based band numbers), got {text!r}", field="bands"
        ) from e
    return Radiometry(bands=bands).bands


@dataclass(frozen=True)
class Stretch:
    """Per-band limits a scene's values are stretched between (the resolved radiometry of one scene).

    Attributes:
        low, high: (3,) float64 stored values mapped to 0 and 255, one per shown band.
    """

    low: np.ndarray
    high: np.ndarray

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"low": [float(v) for v in self.low], "high": [float(v) for v in self.high]}


def pick_bands(
    count: int, asked: tuple[int, ...] | None, colorinterp: list[str] | None, source: str
) -> tuple[int, int, int]:
    """The three 1-based bands shown as R, G, B.

    Args:
        count: bands in the file.
        asked: the user's bands (one is repeated), or None.
        colorinterp: the file's band names (``"red"``, ``"green"``, ``"blue"``, ``"alpha"``, ...), or None.
        source: the file, for errors.

    Raises:
        InputError: a band the file does not have.
    """
    if asked is not None:
        missing = [b for b in asked if b > count]
        if missing:
            raise InputError(f"{source}: has {count} band(s); band {missing[0]} asked for (--bands)")
        return (asked * 3)[:3] if len(asked) == 1 else (asked[0], asked[1], asked[2])
    if colorinterp is not None and all(c in colorinterp for c in ("red", "green", "blue")):
        return tuple(colorinterp.index(c) + 1 for c in ("red", "green", "blue"))  # type: ignore[return-value]
    if count >= 3:
        return 1, 2, 3
    return 1, 1, 1


def resolve_radiometry(
    radiometry: Radiometry, sample: np.ndarray, valid: np.ndarray | None, source: str
) -> Stretch | None:
    """The stretch of one scene from a sample of its pixels (an overview), or None for a fixed scale.

    Args:
        radiometry: the policy.
        sample: (h, w, 3) stored values of the shown bands (any dtype).
        valid: (h, w) bool, True where the sample holds data; None when all does.
        source: the file, for errors.

    Raises:
        InputError: the fixed policy on a dtype it cannot map, or no valid pixel to stretch on.
    """
    if radiometry.is_fixed(sample.dtype):
        if sample.dtype not in (np.uint8, np.uint16):
            raise InputError(
                f"{source}: {sample.dtype} pixels; the fixed radiometry maps only uint8 (as is) and uint16 "
                "(high byte) images to 8 bit: use --radiometry auto or percentile (a per-scene stretch)"
            )
        return None
    values = sample.reshape(-1, sample.shape[-1]).astype(np.float64)
    keep = np.all(np.isfinite(values), axis=1)
    if valid is not None:
        keep &= valid.reshape(-1)
    if not keep.any():
        raise InputError(f"{source}: no valid pixel (every pixel is nodata or not finite)")
    low, high = np.percentile(values[keep], [radiometry.low, radiometry.high], axis=0)
    high = np.where(high > low, high, low + 1.0)
    return Stretch(low=low, high=high)


def apply_stretch(values: np.ndarray, stretch: Stretch | None, valid: np.ndarray | None) -> np.ndarray:
    """(h, w, 3) uint8 of (h, w, 3) stored values: the fixed scale when ``stretch`` is None, else the
    stretch; pixels where ``valid`` is False become 0.

    The fixed scale takes ``uint8`` as is and ``uint16`` by its high byte.
    """
    if stretch is None:
        out = values if values.dtype == np.uint8 else (values >> 8).astype(np.uint8)
    else:
        scaled = (values.astype(np.float64) - stretch.low) * 255.0 / (stretch.high - stretch.low)
        out = np.clip(np.rint(np.nan_to_num(scaled, nan=0.0)), 0, 255).astype(np.uint8)
    if valid is not None and not valid.all():
        out = np.where(valid[:, :, None], out, 0).astype(np.uint8)
    return np.ascontiguousarray(out)

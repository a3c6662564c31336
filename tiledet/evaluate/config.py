"""The settings of ``tiledet eval`` (:class:`EvalConfig`).

Light on purpose (no pycocotools, no evaluation code): the CLI states its defaults from this class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tiledet.errors import ConfigError
from tiledet.numbers import is_finite_number

#: Backends: ``faster`` (faster-coco-eval's C++ core, the default: its AP/AR agree with pycocotools
#: to 1e-9, see tests/evaluate/test_backends.py) and ``pycocotools`` (the reference).
BACKENDS = ("faster", "pycocotools")


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation.

    Attributes:
        max_dets: detections per image and class kept (by score); maxDets becomes ``[1, 10, max_dets]``.
        iou_type: only ``"bbox"`` is supported.
        split: YOLO ground truth only: the ``data.yaml`` split to evaluate on.
        images_dir: image folder for label sources that do not declare image sizes.
        fmt: ground-truth format (a READERS key); None guesses it.
        classes: class map for label sources (``"xview"`` or a class file); None uses the source's own.
        strict: raise on any detection entry that cannot be evaluated instead of counting it.
        backend: ``"faster"`` (faster-coco-eval, default) or ``"pycocotools"`` (the reference).
        area_m2_edges: ascending edges (m²) of the ranges of AP by object size on the ground, computed
            when every scene's GSD is known (:mod:`tiledet.evaluate.area_m2`); ``(10, 100)``: < 10 m²
            (cars, vans: a car is 7–10 m²), 10–100 m² (trucks, buses, small buildings), > 100 m²
            (buildings, ships, aircraft).
    """

    max_dets: int = 100
    iou_type: str = "bbox"
    split: str = "val"
    images_dir: Path | None = None
    fmt: str | None = None
    classes: str | None = None
    strict: bool = False
    backend: str = "faster"
    area_m2_edges: tuple[float, ...] = (10.0, 100.0)

    def __post_init__(self) -> None:
        if isinstance(self.max_dets, bool) or not isinstance(self.max_dets, int) or self.max_dets < 1:
            raise ConfigError(f"max_dets must be an integer >= 1, got {self.max_dets!r}", field="max_dets")
        if self.iou_type != "bbox":
            raise ConfigError(f"iou_type {self.iou_type!r} is not supported; only 'bbox'", field="iou_type")
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}", field="backend"
            )
        edges = self.area_m2_edges
        if not (isinstance(edges, tuple) and edges and all(is_finite_number(e) and e > 0 for e in edges)
                and list(edges) == sorted(set(edges))):  # fmt: skip
            raise ConfigError(
                f"area_m2_edges must be increasing numbers > 0 (m²), got {edges!r}", field="area_m2_edges"
            )

    @property
    def max_dets_list(self) -> list[int]:
        """pycocotools' ``params.maxDets``: ``[1, 10, max_dets]`` sorted, without duplicates."""
        return sorted({1, 10, self.max_dets})

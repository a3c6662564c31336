"""One machine-readable line per benchmark figure, collected by ``benchmarks/run_all.py``.

A benchmark calls :func:`report` once per headline figure; the line it prints starts with
``BENCH-RESULT`` followed by JSON, so ``run_all.py`` can build one table from every benchmark.
"""

from __future__ import annotations

import json

PREFIX = "BENCH-RESULT "


def report(
    figure: str, peer: str, ratio: float | None, target: str, value: str = "", ok: bool | None = None
) -> None:
    """Print one figure.

    Args:
        figure: what was measured, e.g. ``"xView GeoJSON -> YOLO labels, speed"``.
        peer: what it is measured against, e.g. ``"ultralytics xView.yaml convert_labels"``.
        ratio: peer / tiledet for times (> 1 means tiledet is faster), or another stated ratio; None when
            there is no peer figure (e.g. an accuracy target).
        target: the target in words, e.g. ``">= 5x"`` or ``"acc >= 0.98"``.
        value: the measured numbers in words, e.g. ``"10.2 s vs 166.2 s"``.
        ok: whether the target was met (None when not judged).
    """
    line = {"figure": figure, "peer": peer, "ratio": ratio, "target": target, "value": value, "ok": ok}
    print(PREFIX + json.dumps(line, ensure_ascii=False), flush=True)

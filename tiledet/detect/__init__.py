"""Detectors: a trained classifier as a fully-convolutional sliding window (:mod:`.sliding`), YOLO.

``fully_convolutional`` is importable from here without importing torch until it is called.
"""

from __future__ import annotations

from tiledet.detect.fcn import fully_convolutional

__all__ = ["fully_convolutional"]

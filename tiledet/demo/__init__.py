"""``tiledet demo``: the main job end to end on synthetic (or the user's own) scenes.

Synthetic xView-format scenes → tiled YOLO dataset + classifier chips + untiled validation ground
truth → a CNN classifier run as a fully-convolutional sliding-window detector, and YOLO trained on
tiles run with batched sliced inference → both scored with ``tiledet eval`` → one side-by-side table.
Every step is a stand-alone ``tiledet`` command (see :mod:`tiledet.demo.steps`).
"""

from __future__ import annotations

from tiledet.demo.runner import DemoResult, StepResult, run_demo
from tiledet.demo.steps import PRESETS, DemoConfig, Preset, Step

__all__ = ["PRESETS", "DemoConfig", "DemoResult", "Preset", "Step", "StepResult", "run_demo"]

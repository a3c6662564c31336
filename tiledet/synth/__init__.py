"""Synthetic xView-format scenes: textured ground, roads, fields, water and objects with xView type ids.

Public API: :class:`~tiledet.synth.config.SynthConfig`, :func:`~tiledet.synth.generate.generate_scenes`
(writes images plus GeoJSON, CSV and semicolon labels) and :func:`~tiledet.synth.generate.render_scene`
(one scene in memory). The recipe lives in ``datasets/synthetic_xview.yaml``. ``image_format="cog"``
writes georeferenced Cloud-Optimised GeoTIFFs and the labels in lon/lat too (:mod:`tiledet.synth.geo`).
"""

from __future__ import annotations

from tiledet.synth.config import SynthConfig
from tiledet.synth.generate import RenderedScene, SynthResult, generate_scenes, render_scene

__all__ = ["RenderedScene", "SynthConfig", "SynthResult", "generate_scenes", "render_scene"]

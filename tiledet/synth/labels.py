"""Write the labels of synthetic scenes in the three xView label formats, plus ``synth.yaml``.

* ``xView_train.geojson``: a FeatureCollection like the official file; each feature has
  ``properties.bounds_imcoords`` (string ``"xmin,ymin,xmax,ymax"`` of ints), ``type_id``, ``image_id``,
  ``feature_id`` and a Polygon geometry: the box in lon/lat for georeferenced (``cog``) scenes, else
  fake lon/lat derived from the pixel box.
* ``labels.csv``: header ``image_id,xmin,ymin,xmax,ymax,type_id``, one row per box.
* ``labels_semicolon.txt``: one line per image, ``relpath;N;obj_id;x1,y1,x2,y2;type_id;...``, after a
  ``#`` comment header; ``relpath`` is the image file name relative to the images folder.

Every file is written atomically; the output depends only on its inputs (no timestamps).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.ioutil import atomic_write_text, atomic_write_yaml

#: Fake geo-referencing: degrees per pixel (about 0.3 m) and the origin of scene 0.
DEG_PER_PX = 2.7e-6
LON0, LAT0 = -90.55, 14.58

GEOJSON_NAME = "xView_train.geojson"
CSV_NAME = "labels.csv"
SEMICOLON_NAME = "labels_semicolon.txt"


@dataclass(frozen=True, eq=False)
class SceneLabels:
    """The boxes of one synthetic scene.

    Attributes:
        file_name: image file name, relative to the images folder (e.g. ``synth_0000.tif``).
        size_wh: ``(width, height)`` in px.
        xyxy: (N, 4) int64 tight boxes in px (pixel edges: ``xmax`` is one past the last column).
        type_ids: (N,) int64 xView type ids.
        feature_ids: (N,) int64 ids of the boxes, unique over the whole data set.
    """

    file_name: str
    size_wh: tuple[int, int]
    xyxy: np.ndarray
    type_ids: np.ndarray
    feature_ids: np.ndarray


def _polygon(scene_index: int, box: Sequence[int]) -> list[list[list[float]]]:
    lon0 = LON0 + 0.05 * scene_index
    x0, y0, x1, y1 = (float(v) for v in box)
    lons = [round(lon0 + x * DEG_PER_PX, 9) for x in (x0, x1)]
    lats = [round(LAT0 - y * DEG_PER_PX, 9) for y in (y1, y0)]
    corners = ((0, 0), (0, 1), (1, 1), (1, 0), (0, 0))
    return [[[lons[i], lats[j]] for i, j in corners]]


def geojson_dict(scenes: Sequence[SceneLabels], rings: Sequence[np.ndarray] | None = None) -> dict[str, Any]:
    """The xView-style FeatureCollection of ``scenes`` (features in scene order).

    Args:
        scenes: the scenes' boxes.
        rings: per scene, (N, 5, 2) lon/lat rings of its boxes (georeferenced scenes); None: fake
            lon/lat derived from the pixel boxes (:data:`DEG_PER_PX` from a per-scene origin).
    """
    features = []
    for index, scene in enumerate(scenes):
        polygons = None if rings is None else rings[index].tolist()
        for k, (box, type_id, fid) in enumerate(zip(scene.xyxy.tolist(), scene.type_ids.tolist(),
                                                    scene.feature_ids.tolist(), strict=True)):  # fmt: skip
            props = {
                "bounds_imcoords": ",".join(str(int(v)) for v in box),
                "type_id": int(type_id),
                "image_id": scene.file_name,
                "feature_id": int(fid),
                "cat_id": "tiledet-synth",
            }
            coordinates = _polygon(index, box) if polygons is None else [polygons[k]]
            geometry = {"type": "Polygon", "coordinates": coordinates}
            features.append({"type": "Feature", "properties": props, "geometry": geometry})
    return {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": features,
    }


def csv_text(scenes: Sequence[SceneLabels]) -> str:
    """``labels.csv`` content: header ``image_id,xmin,ymin,xmax,ymax,type_id`` and one row per box."""
    lines = ["image_id,xmin,ymin,xmax,ymax,type_id"]
    for scene in scenes:
        rows = np.column_stack([scene.xyxy, scene.type_ids]).tolist()
        lines.extend(f"{scene.file_name}," + ",".join(str(int(v)) for v in row) for row in rows)
    return "\n".join(lines) + "\n"


def semicolon_text(scenes: Sequence[SceneLabels]) -> str:
    """``labels_semicolon.txt`` content: a ``#`` header, then one line per image (also box-less ones)."""
    lines = ["# relpath;N;obj_id;x1,y1,x2,y2;type_id;... (tiledet synth; x2,y2 exclusive pixel edges)"]
    for scene in scenes:
        parts = [scene.file_name, str(len(scene.type_ids))]
        for box, type_id, fid in zip(scene.xyxy.tolist(), scene.type_ids.tolist(), scene.feature_ids.tolist(),
                                     strict=True):
            parts += [str(int(fid)), ",".join(str(int(v)) for v in box), str(int(type_id))]
        lines.append(";".join(parts))
    return "\n".join(lines) + "\n"


def write_label_files(out: Path, scenes: Sequence[SceneLabels],
                      rings: Sequence[np.ndarray] | None = None) -> dict[str, Path]:  # fmt: skip
    """Write the three label files into ``out``; returns ``{format: path}`` (READERS keys).

    ``rings``: the boxes' lon/lat rings per scene for the GeoJSON geometry (see :func:`geojson_dict`).
    """
    paths = {
        "xview-geojson": out / GEOJSON_NAME,
        "csv": out / CSV_NAME,
        "semicolon": out / SEMICOLON_NAME,
    }
    atomic_write_text(paths["xview-geojson"], json.dumps(geojson_dict(scenes, rings), indent=1) + "\n")
    atomic_write_text(paths["csv"], csv_text(scenes))
    atomic_write_text(paths["semicolon"], semicolon_text(scenes))
    return paths


def write_synth_yaml(path: Path, settings: Mapping[str, Any], recipe: Mapping[str, Any]) -> None:
    """Record the generator settings and the full recipe used, as YAML (keys in insertion order)."""
    doc = {"generator": "tiledet synth", **settings, "recipe": dict(recipe)}
    atomic_write_yaml(path, doc)

"""Driver of ``tiledet synth``: render scenes, write images and xView-format labels.

Scene ``i`` is drawn from its own random stream ``numpy.random.default_rng([seed, i])``, so every
output file depends only on the seed, the size, the scene count and the recipe: the same settings
give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tiledet.errors import InputError
from tiledet.ioutil import atomic_path
from tiledet.outdir import OutputDir
from tiledet.progress import Progress, as_progress
from tiledet.synth import geo
from tiledet.synth.config import GEO_CRS, SynthConfig
from tiledet.synth.labels import (
    CSV_NAME,
    GEOJSON_NAME,
    SEMICOLON_NAME,
    SceneLabels,
    write_label_files,
    write_synth_yaml,
)
from tiledet.synth.placement import place_objects
from tiledet.synth.recipe import Recipe, load_synth_recipe
from tiledet.synth.scene import paint_ground


@dataclass(frozen=True, eq=False)
class RenderedScene:
    """One scene in memory.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        xyxy: (N, 4) int64 tight object boxes, px.
        type_ids: (N,) int64 xView type ids.
        ground: (H, W, 3) uint8 RGB background before objects, or None unless asked for.
        object_mask: (H, W) bool union of object pixels (shadows excluded), or None unless asked for.
    """

    image: np.ndarray
    xyxy: np.ndarray
    type_ids: np.ndarray
    ground: np.ndarray | None = None
    object_mask: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class SynthResult:
    """What :func:`generate_scenes` wrote.

    Attributes:
        out: the output folder.
        scenes: labels of every scene, in order.
        image_paths: one image per scene.
        label_paths: ``{format: path}`` for ``xview-geojson``, ``csv`` and ``semicolon``.
        settings_path: ``synth.yaml``.
        geo_labels_path: ``labels.geojson`` (boxes in longitude/latitude) for ``cog`` scenes, else None.
    """

    out: Path
    scenes: tuple[SceneLabels, ...]
    image_paths: tuple[Path, ...]
    label_paths: dict[str, Path] = field(default_factory=dict)
    settings_path: Path | None = None
    geo_labels_path: Path | None = None

    @property
    def images_dir(self) -> Path:
        """The folder holding the scene images."""
        return self.out / "images"

    @property
    def num_boxes(self) -> int:
        """Total number of boxes over all scenes."""
        return sum(len(s.type_ids) for s in self.scenes)

    def class_counts(self) -> dict[int, int]:
        """Boxes per xView type id, ascending type id."""
        ids = np.concatenate([s.type_ids for s in self.scenes]) if self.scenes else np.zeros(0, np.int64)
        values, counts = np.unique(ids, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


def render_scene(
    size_wh: tuple[int, int], seed: int, index: int, recipe: Recipe, debug: bool = False
) -> RenderedScene:
    """Paint scene ``index`` of ``seed`` in memory.

    Args:
        size_wh: ``(width, height)``, px.
        seed: the data set seed (>= 0).
        index: scene number (>= 0); with ``seed`` it selects the random stream.
        recipe: the recipe.
        debug: also return the background and the object mask.
    """

    rng = np.random.default_rng([int(seed), int(index)])
    ground = paint_ground(rng, size_wh, recipe)
    image, placed = place_objects(rng, ground, recipe, keep_mask=debug)
    background = ground.image if debug else None
    return RenderedScene(image, placed.xyxy, placed.type_ids, background, placed.object_mask)


def write_image(path: Path, image_rgb: np.ndarray) -> None:
    """Write an RGB image atomically: TIFF with LZW compression or PNG, no metadata that varies.

    Raises:
        InputError: when the encoder fails (e.g. the folder is not writable).
    """
    import cv2

    suffix = path.suffix.lower()
    tiff = suffix in {".tif", ".tiff"}
    params = [cv2.IMWRITE_TIFF_COMPRESSION, 5] if tiff else [cv2.IMWRITE_PNG_COMPRESSION, 3]  # 5 = LZW
    bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    try:
        with atomic_path(path) as tmp:
            if not cv2.imwrite(str(tmp), bgr, params):
                raise InputError(f"{path}: cannot write image")
    except cv2.error as e:
        raise InputError(f"{path}: cannot write image ({e})") from e


#: The class list ``synth`` writes beside the labels.
CLASSES_NAME = "classes.txt"


def class_list_text(recipe: Recipe) -> str:
    """The recipe's classes as ``type_id:name`` lines in type-id order (xView's class-file format)."""
    pairs = sorted({(c.type_id, c.name) for c in recipe.classes})
    return "".join(f"{type_id}:{name}\n" for type_id, name in pairs)


def generate_scenes(cfg: SynthConfig, progress: Progress | None = None) -> SynthResult:
    """Render ``cfg.scenes`` scenes and write images, the three label files and ``synth.yaml``.

    Writes ``OUT/images/synth_0000.{tif|png}``..., ``OUT/xView_train.geojson``, ``OUT/labels.csv``,
    ``OUT/labels_semicolon.txt``, ``OUT/synth.yaml`` and ``OUT/classes.txt`` (the recipe's classes as
    ``type_id:name`` lines, as xView's own class list; ``convert --classes`` takes it). ``cog`` scenes
    are georeferenced COGs (``.tif``) and their boxes are also written in longitude/latitude to
    ``OUT/labels.geojson`` (see :mod:`tiledet.synth.geo`).
    ``OUT`` is a :class:`tiledet.outdir.OutputDir`:
    a non-empty folder tiledet did not write is refused unless ``cfg.force``; files of a previous run
    there that this run does not write (e.g. more scenes) are removed, nothing else.

    Args:
        cfg: the settings.
        progress: one phase, ``rendering scenes`` (one item per scene written); closed at the end.
    """
    recipe = load_synth_recipe(cfg.recipe)
    recipe_file = Path(cfg.recipe) if Path(cfg.recipe).is_file() else None
    progress = as_progress(progress)
    try:
        with OutputDir(cfg.out, command="synth", force=cfg.force, sources=[recipe_file]) as od:
            result = _generate(cfg, recipe, od, progress)
            od.remove_stale()
    finally:
        progress.close()
    return result


def _generate(
    cfg: SynthConfig, recipe: Recipe, od: OutputDir, progress: Progress
) -> SynthResult:
    """Render and write every scene and the label files into the open output folder ``od``."""
    scenes: list[SceneLabels] = []
    paths: list[Path] = []
    transforms: list = []
    next_id = 1
    progress.start("rendering scenes", cfg.scenes)
    for index in range(cfg.scenes):
        rendered = render_scene(cfg.size_wh, cfg.seed, index, recipe)
        name = f"synth_{index:04d}{cfg.image_suffix}"
        if cfg.image_format == "cog":
            transforms.append(geo.scene_transform(index, cfg.size_wh, cfg.gsd_m))
            geo.write_cog(od.path(f"images/{name}"), rendered.image, transforms[-1])
        else:
            write_image(od.path(f"images/{name}"), rendered.image)
        n = len(rendered.type_ids)
        ids = np.arange(next_id, next_id + n, dtype=np.int64)
        next_id += n
        scenes.append(SceneLabels(name, cfg.size_wh, rendered.xyxy, rendered.type_ids, ids))
        paths.append(cfg.out / "images" / name)
        progress.advance(1)
    for label_name in (GEOJSON_NAME, CSV_NAME, SEMICOLON_NAME):
        od.path(label_name)  # checked and recorded; written by write_label_files
    rings = None  # lon/lat box rings of georeferenced scenes
    if transforms:
        rings = [geo.box_rings_lonlat(s.xyxy, t) for s, t in zip(scenes, transforms, strict=True)]
    label_paths = write_label_files(cfg.out, scenes, rings)
    geo_path = None
    if rings is not None:
        names = {c.type_id: c.name for c in recipe.classes}
        geo_path = geo.write_geo_labels(od.path(geo.GEO_LABELS_NAME), scenes, rings, names)
    write_synth_yaml(od.path("synth.yaml"), _settings(cfg, recipe, scenes), recipe.raw)
    od.write_text(CLASSES_NAME, class_list_text(recipe))
    return SynthResult(cfg.out, tuple(scenes), tuple(paths), label_paths, cfg.out / "synth.yaml", geo_path)


def _settings(cfg: SynthConfig, recipe: Recipe, scenes: list[SceneLabels]) -> dict:
    """What ``synth.yaml`` records of the run (``cog``: also the CRS and the GSD)."""
    settings = {
        "seed": cfg.seed,
        "scenes": cfg.scenes,
        "size_wh": list(cfg.size_wh),
        "image_format": cfg.image_format,
        "recipe_name": recipe.name,
        "boxes": sum(len(s.type_ids) for s in scenes),
    }
    if cfg.image_format == "cog":
        settings.update(crs=GEO_CRS, gsd_m=cfg.gsd_m)
    return settings

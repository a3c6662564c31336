"""``tiledet draw``: labels and/or detections drawn onto their images, one output picture per image.

Ground truth comes from any label source ``tiledet eval`` reads (COCO JSON, YOLO ``data.yaml``,
DOTA, xView GeoJSON, CSV, ...); detections from a COCO results JSON (a JSON list). Ground-truth boxes
are solid, detections dashed, both in their class's colour (:mod:`tiledet.draw`), on the pixels the
detectors see (:func:`tiledet.pixels.read_scene_rgb`: 16-bit scenes by their high byte, alpha dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.boxes import Boxes
from tiledet.draw import draw_boxes
from tiledet.draw_config import DrawConfig
from tiledet.errors import ConfigError, InputError
from tiledet.evaluate.detections import GtLookup, match_detections, read_results_json
from tiledet.evaluate.geo_dets import is_geo_detections, read_geo_entries
from tiledet.evaluate.gt import load_ground_truth
from tiledet.evaluate.scenes import SceneCatalog
from tiledet.formats.layout import declared_images_dir
from tiledet.outdir import OutputDir
from tiledet.progress import Progress, as_progress
from tiledet.scene import read_scene_rgb

#: Suffixes kept for drawn pictures; every other image is written as ``<name>.png``.
_KEPT_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class DrawReport:
    """What ``tiledet draw`` did.

    Attributes:
        out: the output folder.
        images: pictures written.
        gt_boxes: ground-truth boxes drawn.
        detections: detections drawn (at or above the score threshold).
        below_threshold: detections not drawn because of their score.
        missing_images: image names that could not be found or decoded (not drawn).
        unreadable: the same images, name -> why (``image not found``, ``cannot decode image ...``).
        skipped_detections: ``reason -> count`` of detection entries that match no image/class.
    """

    out: Path
    images: int = 0
    gt_boxes: int = 0
    detections: int = 0
    below_threshold: int = 0
    missing_images: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    skipped_detections: dict[str, int] = field(default_factory=dict)


def is_results_file(path: Path) -> bool:
    """True when ``path`` holds detections: a JSON file whose top level is a list (COCO results, by
    its first byte), or a georeferenced detections file (``.geojson``/``.gpkg``/``.parquet``)."""
    if is_geo_detections(path) and path.is_file():
        return True
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    with path.open("rb") as f:
        head = f.read(4096).lstrip()
    return head.startswith(b"[")


def _pseudo_gt(entries: list) -> dict:
    """A box-less COCO dict naming the images and classes the detections mention (no ground truth)."""
    files = sorted({str(e["file_name"]) for e in entries if isinstance(e, dict) and e.get("file_name")})
    names: set[str] = set()
    for e in entries:
        if isinstance(e, dict):
            name = e.get("category_name", e.get("category_id"))
            if name is not None:
                names.add(str(name))
    if not files:
        raise InputError("detections without --gt must name their images with 'file_name'")
    numeric = sorted(int(n) for n in names if n.isdigit())
    named = sorted((n for n in names if not n.isdigit()), key=str.casefold)
    first_free = (numeric[-1] + 1) if numeric else 1
    categories = [{"id": i, "name": str(i)} for i in numeric]
    categories += [{"id": first_free + j, "name": n} for j, n in enumerate(named)]
    return {
        "images": [{"id": i + 1, "file_name": f} for i, f in enumerate(files)],
        "annotations": [],
        "categories": categories,
    }


def _coco_boxes(coco: dict) -> dict[int, Boxes]:
    """Ground-truth boxes by image id, class index = position in ``categories``."""
    index = {int(c["id"]): j for j, c in enumerate(coco["categories"])}
    by_image: dict[int, list[tuple[list[float], int]]] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(int(ann["image_id"]), []).append((ann["bbox"], index[int(ann["category_id"])]))
    out = {}
    for iid, rows in by_image.items():
        xywh = np.asarray([r[0] for r in rows], np.float64).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        out[iid] = Boxes(xyxy, np.asarray([r[1] for r in rows], np.int64))
    return out


def _lookup(coco: dict) -> GtLookup:
    cats = coco["categories"]
    return GtLookup(
        image_ids=tuple(int(im["id"]) for im in coco["images"]),
        file_names=tuple(str(im.get("file_name", "")) for im in coco["images"]),
        category_ids=tuple(int(c["id"]) for c in cats),
        category_names=tuple(str(c.get("name", c["id"])) for c in cats),
    )


def _detection_entries(path: Path, coco: dict, root: Path) -> list:
    """Results entries of ``path``; a geo file's polygons turned back into pixel boxes through the
    georeference of the ground truth's scenes under ``root`` (:mod:`tiledet.evaluate.geo_dets`)."""
    if not is_geo_detections(path):
        return read_results_json(path)
    if not coco["images"]:
        raise ConfigError(
            f"{path}: detections in map coordinates are drawn on the scenes of a ground truth: give gt",
            field="gt",
        )
    lookup = _lookup(coco)
    return read_geo_entries(path, lookup, SceneCatalog(root, lookup.file_names))


def _detection_boxes(
    path: Path, coco: dict, report: DrawReport, threshold: float, root: Path
) -> dict[int, Boxes]:
    """Detections of ``path`` by image id (scores kept), matched to ``coco``'s images and classes."""

    entries = _detection_entries(path, coco, root)
    if not coco["images"]:
        coco.update(_pseudo_gt(entries))
    cats = coco["categories"]
    lookup = _lookup(coco)
    matched = match_detections(entries, lookup, str(path))
    kinds = ("unknown_image", "unknown_category", "invalid_box", "malformed")
    report.skipped_detections = {k: getattr(matched.counts, k) for k in kinds if getattr(matched.counts, k)}
    keep = matched.scores >= threshold
    report.below_threshold = int((~keep).sum())
    index = {int(c["id"]): j for j, c in enumerate(cats)}
    class_ids = np.asarray([index[int(c)] for c in matched.category_ids.tolist()], np.int64)
    xyxy = np.concatenate([matched.xywh[:, :2], matched.xywh[:, :2] + matched.xywh[:, 2:]], axis=1)
    out = {}
    for iid in np.unique(matched.image_ids[keep]).tolist():
        sel = keep & (matched.image_ids == iid)
        out[int(iid)] = Boxes(xyxy[sel], class_ids[sel], matched.scores[sel])
    return out


def _images_root(cfg: DrawConfig, gt_path: Path | None) -> Path:
    if cfg.images_dir is not None:
        return cfg.images_dir

    root = declared_images_dir(gt_path) if gt_path is not None else None
    if root is None:
        raise ConfigError(
            "images_dir is needed: the labels do not say where their images are", field="images_dir"
        )
    return root


def output_name(file_name: str) -> str:
    """Relative name of the drawn picture: the image's name (``.tif`` and others get ``.png`` added)."""
    name = Path(file_name).name if Path(file_name).is_absolute() else file_name
    return name if Path(name).suffix.lower() in _KEPT_SUFFIXES else f"{name}.png"


def _read_rgb(path: Path, file_name: str, report: DrawReport) -> np.ndarray | None:
    """The (H, W, 3) uint8 RGB the detectors see of the image (:func:`tiledet.pixels.read_scene_rgb`):
    the drawing's background; None when it cannot be read, recorded in ``report`` under ``file_name``."""

    try:
        return read_scene_rgb(path)
    except InputError as e:
        report.missing_images.append(file_name)
        report.unreadable[file_name] = str(e).removeprefix(f"{path}: ")
        return None


def _encode(name: str, rgb: np.ndarray) -> bytes:
    import cv2

    suffix = Path(name).suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise InputError(f"cannot encode the drawing of {name}")
    return data.tobytes()


def draw_dataset(
    cfg: DrawConfig,
    progress: Progress | None = None,
) -> DrawReport:
    """Draw ground truth and/or detections onto every image they name; see :class:`DrawConfig`.

    Args:
        cfg: what to draw.
        progress: one phase, ``drawing images`` (one item per image, drawn or not); closed at the end.

    Returns:
        A :class:`DrawReport`; the pictures are in ``cfg.out`` (``<image name>``, ``.png`` added
        to names that are not PNG or JPEG). An image that cannot be read is not drawn and is listed
        in ``missing_images`` and ``unreadable``; the others are still drawn.
    """

    report = DrawReport(out=cfg.out)
    root, coco, unusable, boxes = _load_boxes(cfg, report)
    names = [str(c.get("name", c["id"])) for c in coco["categories"]]
    todo = [(str(im.get("file_name", "")), im) for im in coco["images"]] + [(n, None) for n in unusable]
    todo.sort(key=lambda item: item[0])  # images the labels name but the loader left out, too
    if cfg.limit:
        todo = todo[: cfg.limit]
    progress = as_progress(progress)
    progress.start("drawing images", len(todo))
    sources = [cfg.source, cfg.gt, root]
    try:
        with OutputDir(cfg.out, command="draw", force=cfg.force, sources=sources) as od:
            for file_name, im in todo:
                if im is None:
                    report.missing_images.append(file_name)
                    report.unreadable[file_name] = unusable[file_name]
                else:
                    path = Path(file_name) if Path(file_name).is_absolute() else root / file_name
                    _draw_image(od, cfg, (path, file_name, int(im["id"])), boxes, names, report)
                progress.advance(1)
    finally:
        progress.close()
    return report


def _load_boxes(
    cfg: DrawConfig, report: DrawReport
) -> tuple[Path, dict, dict[str, str], tuple[dict[int, Boxes], dict[int, Boxes]]]:
    """The images root, the ground truth as COCO, its unusable images (name -> why) and the boxes by
    image id: ``(ground truth, detections)``."""

    dets_path = cfg.source if is_results_file(cfg.source) else None
    gt_path = cfg.gt if dets_path is not None else cfg.source
    if dets_path is None and cfg.gt is not None:
        raise ConfigError(
            f"gt is for drawing detections; {cfg.source} is not a COCO results JSON list", field="gt"
        )
    root = _images_root(cfg, gt_path)
    coco: dict = {"images": [], "annotations": [], "categories": []}
    unusable: dict[str, str] = {}
    if gt_path is not None:
        gt = load_ground_truth(gt_path, cfg.split, root, cfg.fmt, cfg.classes)
        coco, unusable = gt.coco, gt.unusable_images
    dets = _detection_boxes(dets_path, coco, report, cfg.score_threshold, root) if dets_path else {}
    return root, coco, unusable, (_coco_boxes(coco), dets)


def _draw_image(
    od: Any, cfg: DrawConfig, image: tuple[Path, str, int], boxes: tuple[dict[int, Boxes], dict[int, Boxes]],
    names: list[str], report: DrawReport,
) -> None:  # fmt: skip
    """Draw one image's boxes and write the picture (``image``: path, file name, id); updates ``report``."""

    path, file_name, image_id = image
    rgb = _read_rgb(path, file_name, report)
    if rgb is None:
        return
    gt = boxes[0].get(image_id, Boxes.empty())
    dets = boxes[1].get(image_id, Boxes.empty(with_scores=True))
    style = {"thickness": cfg.thickness, "label": cfg.labels}
    rgb = draw_boxes(rgb, gt, names, style="solid", **style)
    rgb = draw_boxes(rgb, dets, names, style="dashed", **style)
    name = output_name(file_name)
    od.write_bytes(name, _encode(name, rgb))
    report.images += 1
    report.gt_boxes += len(gt)
    report.detections += len(dets)

"""The ground truth's scene rasters under ``--images``, read from their headers only (georeference, GSD).

Used to turn detections in map coordinates back into pixels (:mod:`tiledet.evaluate.geo_dets`) and for
AP by object size in m² (:mod:`tiledet.evaluate.area_m2`). Each header is read once, when first asked.
"""

from __future__ import annotations

from pathlib import Path

from tiledet.errors import InputError
from tiledet.formats.geo_results import SceneHeader
from tiledet.scene import DECODED_SUFFIXES


class SceneCatalog:
    """Scene headers of ground-truth images, by ``file_name`` (relative to ``images_dir``).

    Args:
        images_dir: the scene folder (``--images``); None when not given.
        file_names: the ground truth's image file names, in ground-truth order.
    """

    def __init__(self, images_dir: Path | None, file_names: tuple[str, ...]) -> None:
        self.images_dir = None if images_dir is None else Path(images_dir)
        self.file_names = file_names
        self._headers: dict[str, SceneHeader | str] = {}

    def path(self, file_name: str) -> Path | None:
        """Where ``file_name``'s raster is (None without ``images_dir``)."""
        return None if self.images_dir is None else self.images_dir / file_name

    def header(self, file_name: str) -> SceneHeader | None:
        """The scene's header, or None when there is no ``images_dir`` or its file cannot be read
        (:meth:`problem` says why)."""
        found = self._lookup(file_name)
        return found if isinstance(found, SceneHeader) else None

    def problem(self, file_name: str) -> str:
        """Why :meth:`header` is None for ``file_name`` (the path and the reason); empty otherwise."""
        found = self._lookup(file_name)
        return "" if isinstance(found, SceneHeader) else found

    def _lookup(self, file_name: str) -> SceneHeader | str:
        if file_name not in self._headers:
            path = self.path(file_name)
            if path is None:
                self._headers[file_name] = "no scene folder given (images_dir)"
            else:
                try:
                    self._headers[file_name] = SceneHeader(path)
                except InputError as e:
                    self._headers[file_name] = str(e)
        return self._headers[file_name]

    def gsd_m(self) -> tuple[dict[str, float] | None, str]:
        """Metres per pixel of every ground-truth scene by ``file_name``, or None and why not.

        Returns:
            ``(gsd_by_file, "")``; ``(None, why)`` naming the first raster without a GSD; ``(None, "")``
            when the question does not arise: no ``images_dir``, no images, or a PNG/JPEG/BMP/WebP scene
            (no georeference; decided by the names alone, no file is opened).
        """
        if self.images_dir is None or not self.file_names:
            return None, ""
        if any(Path(name).suffix.lower() in DECODED_SUFFIXES for name in self.file_names):
            return None, ""
        out: dict[str, float] = {}
        for name in self.file_names:
            header = self.header(name)
            gsd = None if header is None else header.gsd_m()
            if gsd is None:
                return None, f"scene {name}: {self._no_gsd(name, header)}"
            out[name] = gsd
        return out, ""

    def _no_gsd(self, name: str, header: SceneHeader | None) -> str:
        if header is None:
            return self.problem(name)
        if not header.georeferenced:
            return f"not georeferenced ({header.missing_georeference()})"
        return f"its CRS has no unit of length ({header.crs})"

"""Where a label source keeps its images, when its own layout says so (``--images`` optional).

* a YOLO ``data.yaml`` (or a folder holding one): its dataset root (``path``), which its image
  names are relative to;
* a DOTA or VisDrone label folder (``labelTxt/``, ``annotations/``) or a file in one: the ``images``
  folder beside it, as in the official releases (``DOTA/{labelTxt,images}``,
  ``VisDrone2019-DET-val/{annotations,images}``).

Anything else (COCO JSON, xView GeoJSON, CSV) names images relative to a folder it does not state.
"""

from __future__ import annotations

from pathlib import Path

from tiledet.formats.yolo_dataset import declared_images_root

#: Names of label folders whose sibling ``images`` folder holds the images.
LABEL_FOLDER_NAMES = frozenset({"labeltxt", "annotations", "labels"})


def declared_images_dir(src: Path) -> Path | None:
    """The image folder ``src`` declares (see the module docstring), or None.

    Args:
        src: a label file or folder.
    """

    src = Path(src)
    root = declared_images_root(src)
    if root is not None:
        return root
    folder = src if src.is_dir() else src.parent
    sibling = folder.parent / "images"
    if folder.name.casefold() in LABEL_FOLDER_NAMES and sibling.is_dir():
        return sibling
    return None

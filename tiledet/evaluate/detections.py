"""Matching COCO results (detections) to the ground truth; the file format itself is
:mod:`tiledet.formats.results` (read, parse, write; re-exported here).

A results file is a JSON list of objects ``{"bbox": [x, y, w, h], "score": s, ...}`` (pixels, ``x, y``
the top-left corner) that name their image by ``file_name`` or ``image_id`` and their class by
``category_name`` or ``category_id``. When both are present the name wins (``file_name`` over
``image_id``, ``category_name`` over ``category_id``): names survive re-numbering of the ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tiledet.errors import InputError
from tiledet.formats.results import (
    detections_to_results,
    parse_results_text,
    read_results_json,
    write_results_json,
)
from tiledet.numbers import is_finite_number, is_number

__all__ = [
    "DetectionCounts",
    "GtLookup",
    "MatchedDetections",
    "detections_to_results",
    "match_detections",
    "parse_results_text",
    "read_results_json",
    "write_results_json",
]

#: How many offending values each kind of problem keeps for messages.
_EXAMPLES = 3
_MALFORMED = "needs bbox [x, y, w, h], score, file_name or image_id, category_name or category_id"


def _norm_name(name: str) -> str:
    return " ".join(str(name).split()).casefold()


def _norm_path(name: str) -> str:
    return str(name).replace("\\", "/").strip()


@dataclass(frozen=True)
class GtLookup:
    """What detections are matched against: the ground truth's image and category keys.

    Attributes:
        image_ids: image id of each image, in ground-truth order.
        file_names: file name of each image (same order; empty string when the GT has none).
        category_ids: COCO category ids, in ground-truth order.
        category_names: name of each category (same order).
    """

    image_ids: tuple[int, ...]
    file_names: tuple[str, ...]
    category_ids: tuple[int, ...]
    category_names: tuple[str, ...]

    def image_resolver(self) -> _Resolver:
        """Maps a detection's ``file_name`` (exact path, else unique basename) or ``image_id``."""
        exact = {_norm_path(f): i for f, i in zip(self.file_names, self.image_ids, strict=True) if f}
        base: dict[str, int] = {}
        for name, iid in exact.items():
            key = name.rsplit("/", 1)[-1]
            base[key] = -2 if key in base else iid  # -2 marks an ambiguous basename
        return _Resolver(exact, base, frozenset(self.image_ids), basename=True)

    def category_resolver(self) -> _Resolver:
        """Maps a detection's ``category_name`` (case-insensitive) or ``category_id``."""
        names = {_norm_name(n): c for n, c in zip(self.category_names, self.category_ids, strict=True)}
        return _Resolver(names, {}, frozenset(self.category_ids), basename=False)


@dataclass
class _Resolver:
    by_name: dict[str, int]
    by_base: dict[str, int]
    ids: frozenset[int]
    basename: bool
    memo_name: dict[str, int] = field(default_factory=dict)

    def __call__(self, name: object, ident: object) -> int:
        """GT id for a name (preferred) or an integer id; -1 when unknown."""
        if name is None:
            if not is_finite_number(ident):
                return -1
            return int(ident) if ident == int(ident) and int(ident) in self.ids else -1
        if not isinstance(name, str):
            return -1
        hit = self.memo_name.get(name)
        if hit is None:
            hit = self._resolve_name(name)
            self.memo_name[name] = hit
        return hit

    def _resolve_name(self, name: str) -> int:
        if not self.basename:
            return self.by_name.get(_norm_name(name), -1)
        path = _norm_path(name)
        hit = self.by_name.get(path)
        if hit is None:
            hit = self.by_base.get(path.rsplit("/", 1)[-1], -1)
        return -1 if hit == -2 else hit


@dataclass
class DetectionCounts:
    """What happened to the entries of one results file.

    Attributes:
        entries: entries in the file.
        used: entries evaluated.
        unknown_image: entries naming an image that is not in the ground truth (or an ambiguous basename).
        unknown_category: entries naming a category that is not in the ground truth.
        invalid_box: entries whose box has a NaN/infinite value or a width or height <= 0,
            or whose score is not finite.
        malformed: entries lacking ``bbox``/``score``/an image/a category key, or of the wrong type.
        examples: a few offending values per kind, for messages.
    """

    entries: int = 0
    used: int = 0
    unknown_image: int = 0
    unknown_category: int = 0
    invalid_box: int = 0
    malformed: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        """Entries not evaluated."""
        return self.entries - self.used

    def note(self, kind: str, example: str) -> None:
        """Count one problem of ``kind`` and keep the first few examples."""
        setattr(self, kind, getattr(self, kind) + 1)
        kept = self.examples.setdefault(kind, [])
        if len(kept) < _EXAMPLES:
            kept.append(example)

    def to_dict(self) -> dict:
        """JSON-ready counts (and examples)."""
        return {
            "entries": self.entries,
            "used": self.used,
            "unknown_image": self.unknown_image,
            "unknown_category": self.unknown_category,
            "invalid_box": self.invalid_box,
            "malformed": self.malformed,
            "examples": {k: list(v) for k, v in self.examples.items()},
        }

    def summary(self) -> str:
        """One line such as ``'12 unknown_image (e.g. 'a.png'), 3 invalid_box'``; empty when all used."""
        parts = []
        for kind in ("unknown_image", "unknown_category", "invalid_box", "malformed"):
            n = getattr(self, kind)
            if n:
                ex = ", ".join(self.examples.get(kind, []))
                parts.append(f"{n} {kind} (e.g. {ex})")
        return "; ".join(parts)


@dataclass(frozen=True, eq=False)
class MatchedDetections:
    """Detections of one results file, matched to ground-truth ids.

    Attributes:
        source: the results file (or ``"<list>"`` description).
        image_ids: (N,) int64 GT image id of each kept detection.
        category_ids: (N,) int64 GT category id.
        xywh: (N, 4) float64 boxes ``x, y, w, h`` in pixels (w, h > 0).
        scores: (N,) float64 confidences.
        counts: what happened to every entry.
    """

    source: str
    image_ids: np.ndarray
    category_ids: np.ndarray
    xywh: np.ndarray
    scores: np.ndarray
    counts: DetectionCounts

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def to_coco_results(self) -> list[dict]:
        """Plain COCO results entries (``image_id``, ``category_id``, ``bbox``, ``score``) for ``loadRes``."""
        return [
            {"image_id": i, "category_id": c, "bbox": b, "score": s}
            for i, c, b, s in zip(
                self.image_ids.tolist(),
                self.category_ids.tolist(),
                self.xywh.tolist(),
                self.scores.tolist(),
                strict=True,
            )
        ]


def _fields(entry: object) -> tuple[object, object, object, object, object, object] | None:
    """``(file_name, image_id, category_name, category_id, bbox, score)`` or None when malformed."""
    if not isinstance(entry, dict):
        return None
    bbox, score = entry.get("bbox"), entry.get("score")
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or score is None:
        return None
    fname, iid = entry.get("file_name"), entry.get("image_id")
    cname, cid = entry.get("category_name"), entry.get("category_id")
    if (fname is None and iid is None) or (cname is None and cid is None):
        return None
    return fname, iid, cname, cid, bbox, score


def _key_detail(name: object, ident: object, key: str) -> str:
    """What an entry named its image or class by, for messages (an id that is no integer says so)."""
    if name is not None:
        return repr(name)
    if not is_finite_number(ident) or ident != int(ident):  # type: ignore[call-overload]
        return f"{key} {ident!r} is not an integer"
    return repr(ident)


def _has_bool(rows: list) -> bool:
    """Whether a row holds a ``bool`` (numpy reads ``[True, 0, 5, 5, 0.9]`` as numbers)."""
    return any(type(v) is bool for row in rows for v in row)


def _numeric(rows: list, counts: DetectionCounts, index: list[int]) -> tuple[np.ndarray, list[int]]:
    """(M, 5) float64 ``x, y, w, h, score`` of ``rows``; rows with non-numbers become NaN and are noted."""
    try:
        array = np.array(rows)
        if not rows or (array.dtype.kind in "fi" and array.ndim == 2 and not _has_bool(rows)):
            return array.astype(np.float64).reshape(-1, 5), []
    except (TypeError, ValueError):
        pass
    out = np.full((len(rows), 5), np.nan)
    bad = []
    for j, row in enumerate(rows):
        if all(is_number(v) for v in row):
            out[j] = row
        else:
            bad.append(j)
            counts.note("malformed", f"entry {index[j]}: non-numeric bbox or score {list(row)!r}")
    return out, bad


def match_detections(
    entries: Sequence, gt: GtLookup, source: str = "<list>", strict: bool = False
) -> MatchedDetections:
    """Match results entries to the ground truth and drop what cannot be evaluated.

    Args:
        entries: COCO results entries (see the module docstring).
        gt: image and category keys of the ground truth.
        source: the file the entries came from, for messages.
        strict: raise on the first entry that would be dropped instead of counting it.

    Raises:
        InputError: in strict mode, naming the file, the entry index and the reason.
    """
    counts = DetectionCounts(entries=len(entries))
    image_of, category_of = gt.image_resolver(), gt.category_resolver()
    keep_index: list[int] = []
    rows: list = []
    ids: list[tuple[int, int]] = []
    for i, entry in enumerate(entries):
        f = _fields(entry)
        if f is None:
            _problem(counts, strict, source, "malformed", i, _MALFORMED)
            continue
        fname, iid, cname, cid, bbox, score = f
        img = image_of(fname, iid)
        if img < 0:
            _problem(counts, strict, source, "unknown_image", i, _key_detail(fname, iid, "image_id"))
            continue
        cat = category_of(cname, cid)
        if cat < 0:
            _problem(counts, strict, source, "unknown_category", i, _key_detail(cname, cid, "category_id"))
            continue
        keep_index.append(i)
        rows.append((*bbox, score))
        ids.append((img, cat))
    values, bad = _numeric(rows, counts, keep_index)
    if bad and strict:
        raise InputError(f"{source}: entry {keep_index[bad[0]]}: non-numeric bbox or score")
    finite = np.isfinite(values).all(axis=1)
    ok = finite & (values[:, 2] > 0) & (values[:, 3] > 0)
    ok[bad] = False
    bad_set = set(bad)
    for j in np.flatnonzero(~ok).tolist():
        if j not in bad_set:
            detail = f"bbox {values[j, :4].tolist()} score {values[j, 4]}"
            _problem(counts, strict, source, "invalid_box", keep_index[j], detail)
    id_array = np.asarray(ids, dtype=np.int64).reshape(-1, 2)[ok]
    counts.used = int(ok.sum())
    return MatchedDetections(source, id_array[:, 0], id_array[:, 1], values[ok, :4], values[ok, 4], counts)


def _problem(counts: DetectionCounts, strict: bool, source: str, kind: str, index: int, detail: str) -> None:
    if strict:
        raise InputError(f"{source}: entry {index}: {kind.replace('_', ' ')} {detail}")
    counts.note(kind, f"entry {index}: {detail}")

"""The demo's plan: which stand-alone ``tiledet`` commands run, in which order, with which settings.

The plan is pure data (:func:`plan_steps`): every step is one ordinary command a user could type,
so the demo prints each command before it runs it and a user can repeat any step alone.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tiledet.device import DEFAULT_DEVICE, check_device_name
from tiledet.errors import ConfigError

#: Detector names as they appear in the final table (and the detections file names).
DETECTORS = ("sliding", "yolo")


@dataclass(frozen=True)
class Preset:
    """Sizes and budgets of one demo flavour (all counts and epochs for 2 CPU cores).

    Attributes:
        scenes: synthetic scenes generated (``--real``: unused).
        size_px: side of each synthetic scene in px.
        val_fraction: share of scenes held out for detection scoring.
        tile_px: YOLO tile side (also its ``imgsz``).
        yolo_epochs: YOLO training epochs.
        yolo_batch: YOLO batch size (``auto``: 16 on CPU, planned from memory on CUDA). From scratch on
            a few hundred tiles, batch 4 learns far faster per epoch than 16: four times the steps.
        chip_px: classifier chip side (its input size).
        clf_epochs: classifier training epochs.
        background: background chips per scene.
    """

    scenes: int
    size_px: int
    val_fraction: float
    tile_px: int
    yolo_epochs: int
    yolo_batch: str
    chip_px: int
    clf_epochs: int
    background: int


#: The recipe of the synthetic demo scenes (five xView classes, densely packed; see ``datasets/``).
DEMO_RECIPE = "synthetic_xview_demo.yaml"

PRESETS = {
    "full": Preset(scenes=6, size_px=1600, val_fraction=0.34, tile_px=320, yolo_epochs=12, yolo_batch="4",
                   chip_px=32, clf_epochs=8, background=200),
    "quick": Preset(scenes=3, size_px=1024, val_fraction=0.34, tile_px=320, yolo_epochs=15, yolo_batch="4",
                    chip_px=32, clf_epochs=3, background=100),
    "real": Preset(scenes=0, size_px=0, val_fraction=0.25, tile_px=320, yolo_epochs=100, yolo_batch="8",
                   chip_px=32, clf_epochs=30, background=200),
}


@dataclass(frozen=True)
class DemoConfig:
    """Settings of ``tiledet demo``.

    Attributes:
        out: output folder; every step writes a sub-folder of it.
        quick: the small preset (about 3 minutes on 2 cores) instead of the full one (about 15).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (:mod:`tiledet.device`), passed to
            the training and detection steps.
        seed: seed of every step (scenes, split, sampling, training).
        redo: redo steps whose outputs are complete.
        real: a folder with the user's own labelled scenes (``images/`` and a label source) instead of
            synthetic ones.
        labels: the label source inside ``real`` (None: found by :func:`find_label_source`).
    """

    out: Path
    quick: bool = False
    device: str = DEFAULT_DEVICE
    seed: int = 0
    redo: bool = False
    real: Path | None = None
    labels: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "device", check_device_name(self.device))
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}", field="seed")
        if self.real is not None and self.quick:
            raise ConfigError(
                "quick applies to the synthetic demo only, not with `real`", field=("quick", "real")
            )
        if self.labels is not None and self.real is None:
            raise ConfigError("labels needs `real`", field=("labels", "real"))

    @property
    def preset(self) -> Preset:
        """The sizes this run uses."""
        return PRESETS["real" if self.real is not None else "quick" if self.quick else "full"]


@dataclass(frozen=True)
class Step:
    """One demo step: a stand-alone ``tiledet`` command.

    Attributes:
        name: short key (``synth``, ``tiles``, …), also the name of its log file.
        what: one sentence saying what the step does.
        argv: the command's arguments after ``tiledet``.
        outputs: paths whose presence (and, for folders, a complete tiledet manifest) means done.
        detector: which detector the step belongs to (for the table's time and memory rows), if any.
        kind: ``train``, ``detect`` or ``other`` (what its time counts as in the table).
    """

    name: str
    what: str
    argv: tuple[str, ...]
    outputs: tuple[Path, ...] = field(default_factory=tuple)
    detector: str | None = None
    kind: str = "other"

    @property
    def command(self) -> str:
        """The shell command that repeats this step alone."""
        return shlex.join(["tiledet", *self.argv])


@dataclass(frozen=True)
class Layout:
    """Where the demo puts everything under ``out``."""

    out: Path

    @property
    def synth(self) -> Path:
        return self.out / "synth"

    @property
    def tiles(self) -> Path:
        return self.out / "tiles"

    @property
    def chips(self) -> Path:
        return self.out / "chips"

    @property
    def classifier(self) -> Path:
        return self.out / "classifier"

    @property
    def yolo(self) -> Path:
        return self.out / "yolo"

    @property
    def dets(self) -> Path:
        return self.out / "detections"

    @property
    def eval(self) -> Path:
        return self.out / "eval"

    @property
    def drawn(self) -> Path:
        return self.out / "drawn"

    @property
    def gt(self) -> Path:
        """COCO ground truth of the untiled validation scenes (written by the tiling step)."""
        return self.tiles / "annotations" / "val_full.json"

    def detections(self, detector: str) -> Path:
        """The detector's COCO results JSON (written beside :meth:`geo_detections` for COG scenes)."""
        return self.dets / f"{detector}.json"

    def geo_detections(self, detector: str) -> Path:
        """The detector's detections as a GeoJSON layer (synthetic COG scenes only)."""
        return self.dets / f"{detector}.geojson"


#: Label sources ``--real`` looks for inside the folder, in this order.
_LABEL_CANDIDATES = ("labelTxt", "labels", "annotations", "xView_train.geojson", "labels.csv")


def find_label_source(real: Path) -> Path:
    """The label source inside a ``--real`` folder: ``labelTxt/``, ``labels/``, ``annotations/`` or a file.

    Raises:
        ConfigError: when the folder has no ``images/`` or no recognisable label source.
    """
    if not (real / "images").is_dir():
        raise ConfigError(f"real {real}: expected an images/ folder with the scenes inside it", field="real")
    for name in _LABEL_CANDIDATES:
        if (real / name).exists():
            return real / name
    suffixes = (".json", ".geojson", ".csv", ".txt")
    files = [p for p in real.iterdir() if p.is_file() and p.suffix.lower() in suffixes]
    if len(files) == 1:
        return files[0]
    raise ConfigError(
        f"real {real}: no label source found (looked for {', '.join(_LABEL_CANDIDATES)} or a single "
        "label file); name it with `labels`",
        field=("real", "labels"),
    )


def data_steps(cfg: DemoConfig) -> list[Step]:
    """The steps that make the data sets (pure: nothing is read or written, except listing ``--real``).

    Synthetic: ``synth`` → ``tiles`` (YOLO tiles + untiled validation ground truth) → ``chips``. With
    ``--real`` the ``synth`` step is left out and the user's scenes are converted instead.
    """
    p, lay, seed = cfg.preset, Layout(cfg.out), str(cfg.seed)
    images, labels = scene_source(cfg)
    steps: list[Step] = []
    if cfg.real is None:
        steps.append(Step(
            "synth", f"generate {p.scenes} synthetic scenes of {p.size_px}×{p.size_px} px as georeferenced "
            "COGs (UTM 33N, 0.3 m/px), labels in map coordinates",
            ("synth", "--out", str(lay.synth), "--scenes", str(p.scenes), "--size", str(p.size_px),
             str(p.size_px), "--seed", seed, "--image-format", "cog", "--recipe", DEMO_RECIPE),
            (lay.synth,),
        ))
    common = ("--val-fraction", str(p.val_fraction), "--seed", seed)
    if cfg.real is None:  # the recipe's five classes, not all 60 of xView
        common += ("--classes", str(Layout(cfg.out).synth / "classes.txt"))
    steps.append(Step(
        "tiles", f"cut the training scenes into {p.tile_px} px tiles for YOLO; keep validation scenes whole",
        ("convert", str(labels), "--images", str(images), "--out", str(lay.tiles), *common,
         "--tile", str(p.tile_px), "--overlap", "0.2", "--empty-fraction", "0.1"),
        (lay.tiles, lay.gt),
    ))
    steps.append(Step(
        "chips", f"cut {p.chip_px} px object chips and background chips for the classifier",
        ("convert", str(labels), "--images", str(images), "--out", str(lay.chips), *common,
         "--to", "chips", "--chip-size", str(p.chip_px), "--background", str(p.background)),
        (lay.chips,),
    ))
    return steps


def scene_source(cfg: DemoConfig) -> tuple[Path, Path]:
    """``(images folder, label source)`` of the scenes the demo converts."""
    if cfg.real is None:
        lay = Layout(cfg.out)
        return lay.synth / "images", lay.synth / "labels.geojson"  # map coordinates (EPSG:4326)
    labels = cfg.labels if cfg.labels is not None else find_label_source(cfg.real)
    return cfg.real / "images", labels


def detector_steps(cfg: DemoConfig, val_scenes: Sequence[Path]) -> list[Step]:
    """Train both detectors, run them on the validation scenes, score them.

    Args:
        cfg: the demo settings.
        val_scenes: image files of the untiled validation scenes (the ground truth's images).
    """
    p, lay, seed, dev = cfg.preset, Layout(cfg.out), str(cfg.seed), ("--device", cfg.device)
    scenes = tuple(str(s) for s in val_scenes)

    def out(detector: str) -> tuple[tuple[str, ...], tuple[Path, ...]]:
        """``--out`` and outputs: a GeoJSON layer (and its COCO twin) on the synthetic COGs."""
        if cfg.real is not None:
            return ("--out", str(lay.detections(detector))), (lay.detections(detector),)
        geo = lay.geo_detections(detector)
        return ("--out", str(geo)), (geo, lay.detections(detector))

    return [
        Step("classifier", f"train the default CNN classifier on the chips ({p.clf_epochs} epochs)",
             ("classify", "train", str(lay.chips), "--model", "cnn", "--out", str(lay.classifier),
              "--epochs", str(p.clf_epochs), "--balance", "loss", "--seed", seed, *dev),
             (lay.classifier, lay.classifier / "best.pt"), "sliding", "train"),
        Step("sliding", "run the classifier as a fully-convolutional sliding-window detector",
             ("detect", "sliding", str(lay.classifier / "best.pt"), *scenes,
              *out("sliding")[0], *dev),
             out("sliding")[1], "sliding", "detect"),
        Step("yolo-train", f"train YOLO (yolo11n from YAML, {p.yolo_epochs} epochs) on the tiles",
             ("detect", "train-yolo", str(lay.tiles / "data.yaml"), "--model", "yolo11n.yaml",
              "--out", str(lay.yolo), "--epochs", str(p.yolo_epochs), "--imgsz", str(p.tile_px),
              "--batch", p.yolo_batch, "--workers", "1", "--seed", seed, *dev),
             (lay.yolo,), "yolo", "train"),
        Step("yolo", "run YOLO over the whole validation scenes with batched sliced inference",
             ("detect", "yolo", str(lay.yolo / "weights" / "best.pt"), *scenes,
              "--tile", str(p.tile_px), "--conf", "0.001", "--merge", "nms",  # as mAP is scored
              *out("yolo")[0], *dev),
             out("yolo")[1], "yolo", "detect"),
        Step("eval", "score both detectors with COCO mAP against the untiled validation ground truth",
             ("eval", str(lay.gt), *(str(lay.detections(d)) for d in DETECTORS),
              "--max-dets", "1000", "--out", str(lay.eval)),
             (lay.eval / "metrics.json",)),
    ]


def step_names(steps: Sequence[Step]) -> list[str]:
    """Names of the steps, in order."""
    return [s.name for s in steps]

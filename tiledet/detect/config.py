"""The settings of the detectors: sliced YOLO (:class:`SliceConfig`, ``detect yolo``'s
:class:`DetectConfig`, ``detect train-yolo``'s :class:`TrainConfig`) and the sliding window
(:class:`SlidingConfig`, ``detect sliding``'s :class:`SlidingRunConfig`).

Light on purpose (no torch, Ultralytics or detector code): the CLI states its defaults from these
classes; merger names are checked against :mod:`tiledet.detect.merge_registry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tiledet.detect.merge_registry import check_merge_options, merger_names
from tiledet.device import DEFAULT_DEVICE, check_device_name
from tiledet.errors import ConfigError
from tiledet.radiometry import AUTO, Radiometry

#: Inference engines of sliced YOLO (:mod:`tiledet.detect.engines`).
ENGINES = ("auto", "torch", "torch-bf16", "torch-fp16", "onnx", "openvino", "openvino-int8", "onnx-int8",
           "tensorrt")
#: The engines that run an INT8 export (calibrated on ``int8_data`` the first time).
INT8_ENGINES = ("openvino-int8", "onnx-int8")


@dataclass(frozen=True)
class SliceConfig:
    """Settings of sliced inference.

    Attributes:
        tile: window side, px; None uses the ``imgsz`` the weights were trained at (640 if unknown).
        overlap: fraction shared by neighbouring windows, in [0, 1).
        batch_size: windows per model call (>= 1).
        conf: minimum class score of a box, in [0, 1].
        iou: IoU of the per-window NMS (Ultralytics' predictor default 0.7).
        merge: merger across windows (:func:`tiledet.detect.merge_registry.merger_names`): ``greedy-nmm``
            (SAHI's default), ``nms`` or ``cluster-mean``.
        match: ``"ios"`` or ``"iou"`` overlap for merging (SAHI's default: ios).
        merge_threshold: boxes merge when their overlap is ``>= merge_threshold``.
        full_pass: also run the whole scene, shrunk to ``tile``, and merge its boxes in (large objects).
        max_det: most boxes kept per window and per scene after merging.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (:mod:`tiledet.device`).
        engine: ``auto`` (the fastest engine whose output agrees with torch's on a probe batch; never
            INT8), ``torch``, ``torch-bf16``, ``torch-fp16``, ``onnx``, ``openvino``, ``openvino-int8``,
            ``onnx-int8`` or ``tensorrt`` (:mod:`.engines`).
        int8_data: INT8 engines: the YOLO ``data.yaml`` whose val images calibrate the export the
            first time; None uses the INT8 export already cached.
        trust_weights: unpickle the weights with Ultralytics' full unpickler, which can run code
            (``--trust-weights``); by default they load with an allow-list of classes
            (:mod:`tiledet.detect.safe_weights`).
        radiometry: how scene values become the model's 8-bit RGB (bands, per-scene stretch;
            :class:`tiledet.radiometry.Radiometry`), for scene files and arrays alike.
    """

    tile: int | None = None
    overlap: float = 0.2
    batch_size: int = 16
    conf: float = 0.05
    iou: float = 0.7
    merge: str = "greedy-nmm"
    match: str = "ios"
    merge_threshold: float = 0.5
    full_pass: bool = False
    max_det: int = 10000
    device: str = DEFAULT_DEVICE
    engine: str = "auto"
    int8_data: Path | None = None
    trust_weights: bool = False
    radiometry: Radiometry = AUTO

    def __post_init__(self) -> None:
        if not isinstance(self.radiometry, Radiometry):
            raise ConfigError(
                f"radiometry must be a Radiometry, got {self.radiometry!r}", field="radiometry"
            )
        if self.tile is not None and (int(self.tile) != self.tile or self.tile < 32):
            raise ConfigError(f"tile must be a whole number of pixels >= 32, got {self.tile!r}", field="tile")
        if not 0.0 <= float(self.overlap) < 1.0:
            raise ConfigError(f"overlap must be in [0, 1), got {self.overlap}", field="overlap")
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise ConfigError(
                f"batch_size must be a whole number >= 1, got {self.batch_size!r}", field="batch_size"
            )
        for name, value in (("conf", self.conf), ("iou", self.iou)):
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value}", field=name)
        check_merge_options(self.merge, self.match, self.merge_threshold)
        if int(self.max_det) != self.max_det or self.max_det < 1:
            raise ConfigError(f"max_det must be a whole number >= 1, got {self.max_det!r}", field="max_det")
        object.__setattr__(self, "device", check_device_name(self.device))
        if self.engine not in ENGINES:
            raise ConfigError(
                f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}", field="engine"
            )
        if self.int8_data is not None and self.engine not in INT8_ENGINES:
            raise ConfigError(f"int8_data only applies with engine={' or '.join(INT8_ENGINES)}",
                              field=("int8_data", "engine"))


@dataclass(frozen=True)
class DetectConfig:
    """Settings of :func:`~tiledet.detect.yolo_run.run_detection`.

    Attributes:
        weights: Ultralytics ``.pt`` detection checkpoint.
        images: scene files and/or folders (searched recursively for image files).
        out: the COCO results JSON to write.
        slicing: tiling, batching, merging and engine settings.
        save_images: folder for scenes with the detections drawn (PNG), or None.
        force: replace an existing ``out`` that tiledet did not write.
    """

    weights: Path
    images: tuple[Path, ...]
    out: Path
    slicing: SliceConfig = field(default_factory=SliceConfig)
    save_images: Path | None = None
    force: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`~tiledet.detect.yolo_train.train_yolo`.

    Attributes:
        data: the dataset's ``data.yaml`` (e.g. from ``tiledet convert --tile``).
        out: the run folder.
        model: a model YAML shipped with Ultralytics (``yolo11n.yaml``) or a local ``.yaml``/``.pt``
            (a ``.pt`` starts from its weights: the way to faster training on real imagery).
        epochs: training epochs (>= 1).
        imgsz: network input side, px; None: the dataset's tile size from ``report.json``, else 640.
        batch: images per step (>= 1), or ``"auto"`` (planned from GPU memory on CUDA, 16 on CPU).
        gpu_memory: budget such as ``"6GiB"`` for the batch planner and the CUDA memory cap.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (:mod:`tiledet.device`).
        workers: dataloader worker processes.
        seed: random seed (Ultralytics ``deterministic=True``).
        optimizer: Ultralytics optimizer name.
        lr0: initial learning rate.
        nbs: Ultralytics' nominal batch size, which it accumulates gradients up to; None: the batch
            size (an optimizer step per batch; Ultralytics' own 64 leaves a small tiled dataset with
            a handful of updates per epoch).
        patience: epochs without improvement before stopping early.
        force: write into a non-empty ``out`` that tiledet did not create.
        verbose: let Ultralytics print its progress (the CLI sets it).
        evaluate_full: score sliced inference on ``annotations/val_full.json`` when present.
        plots: let Ultralytics draw its curves and sample batches (local font, no download).
        trust_weights: unpickle a ``.pt`` model (and the checkpoints training writes) with
            Ultralytics' full unpickler, which can run code (``--trust-weights``); by default every
            checkpoint loads with an allow-list of classes (:mod:`tiledet.detect.safe_weights`).
    """

    data: Path
    out: Path
    model: str = "yolo11n.yaml"
    epochs: int = 30
    imgsz: int | None = None
    batch: int | str = "auto"
    gpu_memory: str | None = None
    device: str = DEFAULT_DEVICE
    workers: int = 2
    seed: int = 0
    optimizer: str = "AdamW"
    lr0: float = 0.002
    nbs: int | None = None
    patience: int = 100
    force: bool = False
    verbose: bool = False
    evaluate_full: bool = True
    plots: bool = True
    trust_weights: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "out", Path(self.out))
        for name, value, low in (("epochs", self.epochs, 1), ("workers", self.workers, 0),
                                 ("seed", self.seed, 0), ("patience", self.patience, 1)):
            if int(value) != value or value < low:
                raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}", field=name)
        if self.imgsz is not None and (int(self.imgsz) != self.imgsz or self.imgsz < 32):
            raise ConfigError(f"imgsz must be a whole number >= 32, got {self.imgsz!r}", field="imgsz")
        if not (self.batch == "auto" or (str(self.batch).isdigit() and int(self.batch) >= 1)):
            raise ConfigError(
                f"batch must be a whole number >= 1 or 'auto', got {self.batch!r}", field="batch"
            )
        if self.nbs is not None and (int(self.nbs) != self.nbs or self.nbs < 1):
            raise ConfigError(f"nbs must be a whole number >= 1, got {self.nbs!r}", field="nbs")
        if not 0.0 < float(self.lr0) < 1.0:
            raise ConfigError(f"lr0 must be in (0, 1), got {self.lr0}", field="lr0")
        object.__setattr__(self, "device", check_device_name(self.device))


@dataclass(frozen=True)
class SlidingConfig:
    """Settings of the sliding-window detector.

    Attributes:
        object_size_px: ``(min, max)`` longer object side in scene pixels the pyramid covers.
        scales: explicit image scale factors; when non-empty they replace ``object_size_px``.
        scale_step: ratio between neighbouring pyramid object sizes (default ``2 ** 0.25``).
        stride_multiple: K: evaluate K×K shifted cell grids, effective stride ``stride / K``.
        threshold: minimum class probability of a detection.
        class_thresholds: per-class overrides ``((class_name, threshold), ...)``.
        iou: merge IoU threshold: a box whose IoU with a better one is above it is dropped (``nms``,
            ``cluster-mean``) or merged into it (``greedy-nmm``).
        class_agnostic: merge across classes (True) or per class.
        max_det: detections kept per image (most confident).
        block_px: side of a scoring block in resized pixels (memory: one block at a time).
        batch_size: blocks of equal size scored per forward pass.
        context: chip context to assume when the checkpoint has none.
        merge: merger name (:func:`tiledet.detect.merge_registry.merger_names`): ``cluster-mean``, ``nms`` or
            ``greedy-nmm``.
        merge_iou: ``cluster-mean``: a candidate is in a kept box's cluster at IoU above it.
        support_score: ``cluster-mean``: score = 1 - exp(-4 · cluster mass / grids scored).
        read_ahead: batches of blocks read and resampled on a worker thread while the network scores
            (>= 0; 0 reads in the scoring thread). The detections are the same either way.
    """

    object_size_px: tuple[float, float] = (8.0, 160.0)
    scales: tuple[float, ...] = ()
    scale_step: float = 2**0.25
    stride_multiple: int = 1
    threshold: float = 0.5
    class_thresholds: tuple[tuple[str, float], ...] = ()
    iou: float = 0.3
    class_agnostic: bool = True
    max_det: int = 1000
    block_px: int = 512
    batch_size: int = 4
    context: float = 0.5
    merge: str = "cluster-mean"
    merge_iou: float = 0.5
    support_score: bool = False
    read_ahead: int = 1

    def __post_init__(self) -> None:
        checks = [
            (int(self.stride_multiple) == self.stride_multiple and self.stride_multiple >= 1,
             "stride_multiple", f"must be a whole number >= 1, got {self.stride_multiple!r}"),
            (0.0 <= self.threshold <= 1.0, "threshold", f"must be in [0, 1], got {self.threshold!r}"),
            (all(0.0 <= t <= 1.0 for _, t in self.class_thresholds), None,
             "per-class thresholds must be in [0, 1]"),
            (0.0 <= self.iou <= 1.0, "iou", f"must be in [0, 1], got {self.iou!r}"),
            (self.merge in merger_names(), "merge",
             f"must be one of {', '.join(merger_names())}, got {self.merge!r}"),
            (0.0 <= self.merge_iou <= 1.0, None, f"merge IoU must be in [0, 1], got {self.merge_iou!r}"),
            (int(self.max_det) == self.max_det and self.max_det >= 1, "max_det",
             f"must be >= 1, got {self.max_det!r}"),
            (self.block_px >= 1, None, f"block size must be >= 1 px, got {self.block_px!r}"),
            (int(self.batch_size) == self.batch_size and self.batch_size >= 1, "batch_size",
             f"must be >= 1, got {self.batch_size!r}"),
            (all(s > 0 and np.isfinite(s) for s in self.scales), "scales",
             f"must be > 0, got {self.scales!r}"),
            (self.context >= 0, None, f"context must be >= 0, got {self.context!r}"),
            (int(self.read_ahead) == self.read_ahead and self.read_ahead >= 0, "read_ahead",
             f"must be a whole number >= 0, got {self.read_ahead!r}"),
        ]  # fmt: skip
        for ok, name, message in checks:
            if not ok:
                raise ConfigError(message if name is None else f"{name} {message}", field=name)


#: Engines of the sliding window's network (:mod:`tiledet.detect.fcn_engines`).
SLIDING_ENGINES = ("torch", "onnx", "openvino", "auto")


@dataclass(frozen=True)
class SlidingRunConfig:
    """Settings of :func:`~tiledet.detect.sliding_run.run_sliding`.

    Attributes:
        model: classifier checkpoint (``tiledet classify train`` ``best.pt``).
        images: scene files and/or folders (searched recursively for images).
        out: COCO results JSON to write.
        sliding: detector settings; ``object_size_px`` None-like handling: see ``object_size_px``.
        object_size_px: ``(min, max)`` object sizes, or None: the training chips' 2nd–98th percentile
            (``chips.yaml`` of the classifier's data) widened by 2^(1/4) each way, else 8–160.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (:mod:`tiledet.device`).
        save_images: folder for PNG scenes with the detections drawn, or None.
        force: replace an ``out`` file (or write into a ``save_images`` folder) tiledet did not write.
        radiometry: how each scene's values become the classifier's 8-bit RGB (bands, per-scene
            stretch; :class:`tiledet.radiometry.Radiometry`).
        engine: what runs the network (:data:`SLIDING_ENGINES`): ``torch``, ``onnx``, ``openvino``
            (exported once, cached beside the checkpoint) or ``auto``: the fastest whose class
            probabilities agree with torch's within 1e-4 on a probe block of the first scene.
    """

    model: Path
    images: tuple[Path, ...]
    out: Path
    sliding: SlidingConfig = field(default_factory=SlidingConfig)
    object_size_px: tuple[float, float] | None = None
    device: str = DEFAULT_DEVICE
    save_images: Path | None = None
    force: bool = False
    radiometry: Radiometry = AUTO
    engine: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", check_device_name(self.device))
        if not isinstance(self.radiometry, Radiometry):
            raise ConfigError(f"radiometry must be a Radiometry, got {self.radiometry!r}", field="radiometry")
        if self.engine not in SLIDING_ENGINES:
            raise ConfigError(
                f"engine must be one of {', '.join(SLIDING_ENGINES)}, got {self.engine!r}", field="engine"
            )

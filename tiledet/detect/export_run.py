"""``tiledet detect export``: sliced YOLO's weights exported to ONNX or OpenVINO, fp32 or INT8.

Through Ultralytics' own exporter (:mod:`tiledet.detect.yolo_export`), into the engine cache that
``detect yolo --engine onnx|openvino|openvino-int8|onnx-int8`` reads (or into an ``--out`` folder).
The export's key is the one ``detect yolo`` looks up: imgsz = its tile side (the weights' training
imgsz by default), batch = its batch size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tiledet.detect.config import SliceConfig
from tiledet.errors import ConfigError, InputError

#: ``tiledet detect export --format`` values.
EXPORT_FORMATS = ("openvino", "onnx")
#: Input side of an export when neither ``imgsz`` nor the weights' training imgsz is known, px.
DEFAULT_IMGSZ = 640


@dataclass(frozen=True)
class ExportConfig:
    """Settings of :func:`run_export`.

    Attributes:
        weights: Ultralytics ``.pt`` detection checkpoint.
        format: ``openvino`` or ``onnx``.
        int8: INT8 quantization (OpenVINO: NNCF; ONNX: ONNX Runtime static), calibrated on ``data``.
        data: YOLO ``data.yaml`` whose val images calibrate INT8 (needed with ``int8``, only then).
        imgsz: input side the export is traced and calibrated at, px; None: the weights' training imgsz
            (640 if unknown), which is ``detect yolo``'s default tile.
        batch: batch size of the export's key (``detect yolo --batch-size``).
        out: folder to write the export into instead of the engine cache; None: the cache.
        force: write into a non-empty ``out`` that tiledet did not write.
        trust_weights: unpickle the weights in full (``--trust-weights``).
    """

    weights: Path
    format: str = "openvino"
    int8: bool = False
    data: Path | None = None
    imgsz: int | None = None
    batch: int = SliceConfig.batch_size
    out: Path | None = None
    force: bool = False
    trust_weights: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", Path(self.weights))
        if self.format not in EXPORT_FORMATS:
            raise ConfigError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {self.format!r}",
                              field="format")
        if self.int8 and self.data is None:
            raise ConfigError("int8 needs data=DATA.yaml: a YOLO data.yaml whose val images calibrate "
                              "the INT8 model", field=("int8", "data"))
        if self.data is not None and not self.int8:
            raise ConfigError("data only applies with `int8` (calibration images)", field=("data", "int8"))
        if self.imgsz is not None and (int(self.imgsz) != self.imgsz or self.imgsz < 32):
            raise ConfigError(f"imgsz must be a whole number >= 32, got {self.imgsz!r}", field="imgsz")
        if int(self.batch) != self.batch or self.batch < 1:
            raise ConfigError(f"batch must be a whole number >= 1, got {self.batch!r}", field="batch")


@dataclass(frozen=True)
class ExportResult:
    """What :func:`run_export` did.

    Attributes:
        engine: the ``detect yolo --engine`` that runs this export.
        model: the exported model file (``.onnx`` or OpenVINO ``.xml``).
        imgsz: input side of the export, px.
        batch: batch size of its key.
        cached: True when the cache already held it (nothing exported).
        seconds: wall time of the export (0 on a cache hit).
    """

    engine: str
    model: Path
    imgsz: int
    batch: int
    cached: bool
    seconds: float


def run_export(cfg: ExportConfig) -> ExportResult:
    """Export ``cfg.weights`` (checked first: a local YOLO detection checkpoint) to the engine cache or
    ``cfg.out``; an export already cached is not redone.

    Raises:
        InputError: missing or unusable weights or data, or a failed export.
        ConfigError: an ``out`` refused, a cache that cannot be created.
    """
    from tiledet.detect.export_cache import cached_model, entry_dir
    from tiledet.detect.yolo_export import engine_name, export_key, export_yolo, export_yolo_to
    from tiledet.detect.yolo_model import load_detection_model

    try:
        loaded = load_detection_model(cfg.weights, "cpu", trust_weights=cfg.trust_weights)
    except InputError as e:  # torch's unpickling errors span lines
        raise InputError(" ".join(str(e).split())) from e
    imgsz = int(cfg.imgsz or loaded.train_imgsz or DEFAULT_IMGSZ)
    engine = engine_name(cfg.format, cfg.int8)
    t0 = time.perf_counter()
    if cfg.out is not None:
        model = export_yolo_to(cfg.out, cfg.weights, engine, imgsz, cfg.batch, cfg.data, cfg.trust_weights,
                               cfg.force)
        return ExportResult(engine, model, imgsz, cfg.batch, False, time.perf_counter() - t0)
    key = export_key(cfg.weights, engine, imgsz, cfg.batch, cfg.data)
    cached = cached_model(entry_dir(cfg.weights, key), key) is not None
    model = export_yolo(cfg.weights, engine, imgsz, cfg.batch, cfg.data, cfg.trust_weights)
    return ExportResult(engine, model, imgsz, cfg.batch, cached, 0.0 if cached else time.perf_counter() - t0)

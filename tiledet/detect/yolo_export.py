"""Sliced YOLO's weights exported to inference engines by Ultralytics' own exporter, once per key.

Every export has dynamic batch, height and width (one export serves every window size) and lands in
the cache of :mod:`tiledet.detect.export_cache`, keyed by (weights sha256, engine, imgsz, batch):

=================  ====================  =========================================================
engine             Ultralytics format    model in the entry
=================  ====================  =========================================================
``onnx``           ``onnx`` (fp32)       ``model.onnx``
``onnx-int8``      ``onnx``, INT8        ``model_int8.onnx`` (ONNX Runtime static quantization)
``openvino``       ``openvino`` (fp32)   ``model_openvino_model/model.xml``
``openvino-int8``  ``openvino``, INT8    ``model_int8_openvino_model/model.xml`` (NNCF)
``tensorrt``       ``engine`` (fp16)     ``model.engine`` (CUDA only)
=================  ====================  =========================================================

INT8 exports are calibrated on the ``val`` images of a YOLO ``data.yaml`` (Ultralytics'
``get_int8_calibration_dataloader``, letterboxed to ``imgsz``); the data's digest joins the key, and
an INT8 engine asked for without data uses the INT8 export already in the cache, whatever it was
calibrated on. Nothing is installed at run time (``YOLO_AUTOINSTALL=false``,
:func:`tiledet.ultra.import_ultralytics`) and nothing is written into the dataset
(:mod:`tiledet.detect.offline`). The exporter's own output (NNCF progress bars, ONNX Runtime notes)
is kept off the terminal.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tiledet.detect.export_cache import (
    KEY_FILE,
    ExportKey,
    cached_model,
    entry_dir,
    export_once,
    file_sha256,
)
from tiledet.detect.offline import offline_ultralytics, ultralytics_verbosity
from tiledet.detect.safe_weights import weights_loading
from tiledet.errors import ConfigError, InputError, TiledetError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineExport:
    """How one engine is exported: Ultralytics format, INT8 or not, the model path in the entry."""

    format: str
    int8: bool
    model: str
    packages: tuple[str, ...]


#: Exported engines of sliced YOLO (see the module docstring).
EXPORTS = {
    "onnx": EngineExport("onnx", False, "model.onnx", ("onnx", "onnxruntime", "onnxslim")),
    "onnx-int8": EngineExport("onnx", True, "model_int8.onnx", ("onnx", "onnxruntime", "onnxslim")),
    "openvino": EngineExport("openvino", False, "model_openvino_model/model.xml", ("openvino",)),
    "openvino-int8": EngineExport("openvino", True, "model_int8_openvino_model/model.xml",
                                  ("openvino", "nncf")),
    "tensorrt": EngineExport("engine", False, "model.engine", ("tensorrt",)),
}


def engine_name(fmt: str, int8: bool) -> str:
    """The engine of an export format (``onnx``, ``openvino``), INT8 or not."""
    return f"{fmt}-int8" if int8 else fmt


def missing_packages(engine: str) -> list[str]:
    """Import names ``engine`` needs that are not installed (empty for the torch engines)."""
    spec = EXPORTS.get(engine)
    return [m for m in (spec.packages if spec else ()) if importlib.util.find_spec(m) is None]


def check_packages(engine: str) -> None:
    """Raise ConfigError (field ``engine``) naming the missing packages of ``engine``."""
    missing = missing_packages(engine)
    if not missing:
        return
    where = "a CUDA machine with TensorRT (pip install tensorrt)" if engine == "tensorrt" else (
        "tiledet's dependencies; reinstall tiledet (pip install tiledet) to get them")
    raise ConfigError(f"engine={engine} needs the Python packages {', '.join(missing)} ({where})",
                      field="engine")


def calibration(data: Path) -> tuple[str, dict[str, str]]:
    """The calibration ``data.yaml`` checked and resolved: (yaml text with an absolute ``path``, key extra).

    Raises:
        InputError: a missing or malformed data.yaml, a missing split folder, or no ``val`` images.
    """
    from tiledet.detect.yolo_data import inspect_dataset, write_resolved_yaml
    from tiledet.ioutil import IMAGE_SUFFIXES

    info = inspect_dataset(data)
    entries = info.data["val"] if isinstance(info.data["val"], list) else [info.data["val"]]
    folders = [Path(e) if Path(e).is_absolute() else info.root / e for e in entries]
    if not any(p.suffix.lower() in IMAGE_SUFFIXES for f in folders for p in f.rglob("*")):
        raise InputError(f"{data}: the val split holds no images to calibrate INT8 on")
    text = write_resolved_yaml(info)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return text, {"calibration_data": str(Path(data).resolve()), "calibration_sha256": digest}


def export_key(weights: Path, engine: str, imgsz: int, batch: int, data: Path | None = None) -> ExportKey:
    """The cache key of an export of ``weights`` (hashes the file; with ``data``, the calibration's
    digest joins the key of an INT8 engine)."""
    extra = calibration(data)[1] if data is not None and EXPORTS[engine].int8 else {}
    return ExportKey(file_sha256(weights), engine, int(imgsz), int(batch), extra)


def export_yolo(weights: Path, engine: str, imgsz: int, batch: int, data: Path | None = None,
                trust_weights: bool = False) -> Path:
    """The cached export of ``weights`` to ``engine`` (exported on a miss), as a model file.

    Args:
        weights: the ``.pt`` checkpoint.
        engine: a name of :data:`EXPORTS`.
        imgsz: trace / calibration input side, px (the tile side).
        batch: trace / calibration batch size.
        data: INT8 engines: the calibration ``data.yaml``; None uses the INT8 export already cached.
        trust_weights: unpickle the weights in full (:mod:`tiledet.detect.safe_weights`).

    Raises:
        ConfigError: missing packages; an INT8 engine without ``data`` and no INT8 export cached.
        InputError: unreadable weights or data, or a failed export (one line).
    """
    spec = EXPORTS[engine]
    check_packages(engine)
    key = export_key(weights, engine, imgsz, batch, data)
    if spec.int8 and data is None:
        hit = cached_model(entry_dir(weights, key))
        if hit is None:
            raise ConfigError(
                f"engine={engine} needs calibration images the first time: give int8_data=DATA.yaml (a YOLO "
                "data.yaml; its val images calibrate the INT8 model), or export it first with `tiledet "
                f"detect export`; no INT8 export for imgsz {imgsz}, batch {batch} in "
                f"{entry_dir(weights, key)}",
                field=("engine", "int8_data"))
        return hit
    resolved = calibration(data)[0] if spec.int8 and data is not None else None
    return export_once(weights, key, spec.model,
                       lambda folder: export_into(folder, weights, key, resolved, trust_weights))


def export_yolo_to(out: Path, weights: Path, engine: str, imgsz: int, batch: int, data: Path | None = None,
                   trust_weights: bool = False, force: bool = False) -> Path:
    """Export ``weights`` into the folder ``out`` (an :class:`~tiledet.outdir.OutputDir` of
    ``detect export``) instead of the cache: the model files and ``key.json``. Returns the model file.

    Raises:
        ConfigError: as :func:`export_yolo`, an INT8 engine without ``data``, or an ``out`` refused.
        InputError: as :func:`export_yolo`.
    """
    from tiledet.outdir import OutputDir

    spec = EXPORTS[engine]
    check_packages(engine)
    if spec.int8 and data is None:
        raise ConfigError(f"engine={engine} needs calibration data: give data=DATA.yaml", field="data")
    resolved = calibration(data)[0] if data is not None else None
    key = export_key(weights, engine, imgsz, batch, data)
    with OutputDir(out, command="detect export", force=force, sources=[weights, data]) as od, \
            tempfile.TemporaryDirectory(prefix="tiledet_export_") as tmp:
        export_into(Path(tmp), weights, key, resolved, trust_weights)
        for path in sorted(p for p in Path(tmp).rglob("*") if p.is_file()):
            od.write_bytes(path.relative_to(tmp).as_posix(), path.read_bytes())  # atomic, recorded
        od.write_json(KEY_FILE, {**key.to_dict(), "model": spec.model})
        return od.check(spec.model)


def export_into(folder: Path, weights: Path, key: ExportKey, calibration_yaml: str | None,
                trust_weights: bool) -> None:
    """Run Ultralytics' export of ``key.engine`` and move its output into ``folder``.

    The export runs on a copy of the weights in a fresh temporary folder (Ultralytics names outputs
    with ``str.replace(".pt", ...)`` on the whole path, so that folder's path holds no ``.pt``).
    """
    spec = EXPORTS[key.engine]
    with tempfile.TemporaryDirectory(prefix="tiledet_export_") as tmp:
        work = Path(tmp)
        if ".pt" in str(work):
            raise InputError(f"{work}: temporary folder path contains '.pt'; set TMPDIR elsewhere")
        shutil.copy2(weights, work / "model.pt")
        data = None
        if calibration_yaml is not None:
            data = work / "calibration.yaml"
            data.write_text(calibration_yaml, encoding="utf-8")
        _run_export(work / "model.pt", spec.format, key.imgsz, weights, trust_weights, batch=key.batch,
                    int8=spec.int8, data=data)
        top = spec.model.split("/")[0]
        if not (work / spec.model).exists():
            raise InputError(f"{weights}: Ultralytics' {key.engine} export wrote no {spec.model}")
        shutil.move(str(work / top), str(folder / top))


def _precision_args(fmt: str, int8: bool) -> dict:
    """Ultralytics' precision arguments: ``quantize`` (8.4+) or the older ``int8``/``half``."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    if "quantize" in DEFAULT_CFG_DICT:
        return {"quantize": 8 if int8 else 16 if fmt == "engine" else None}
    return {"int8": int8, "half": fmt == "engine"}


def _run_export(pt: Path, fmt: str, imgsz: int, weights: Path, trust_weights: bool, *, batch: int = 1,
                int8: bool = False, data: Path | None = None) -> None:
    """Ultralytics' export of ``pt`` (a copy of the user's ``weights``, named in errors) to ``fmt``."""
    offline_ultralytics()
    from ultralytics import YOLO

    args: dict = {"format": fmt, "imgsz": int(imgsz), "batch": int(batch), "dynamic": True,
                  "device": 0 if fmt == "engine" else "cpu", **_precision_args(fmt, int8)}
    if fmt == "onnx":
        args["simplify"] = importlib.util.find_spec("onnxslim") is not None
    if data is not None:
        args["data"] = str(data)
    what = f"{'INT8 ' if int8 else ''}{fmt} export of {weights}"
    try:
        with weights_loading(weights, trust=trust_weights), ultralytics_verbosity(False), _quiet():
            YOLO(str(pt)).export(**args)
    except TiledetError:
        raise
    except Exception as e:  # the exporter raises many kinds; report them in one line
        reason = " ".join(str(e).split())[:400]
        raise InputError(f"{what} failed ({type(e).__name__}: {reason})") from e


class _DropRecords(logging.Filter):
    """Drops every record (logged again at DEBUG under this module)."""

    def filter(self, record: logging.LogRecord) -> bool:
        log.debug("export: %s: %s", record.name, record.getMessage())
        return False


#: Loggers of the exporter's libraries kept at ERROR during an export (their children inherit it).
_NOISY_LOGGERS = ("nncf", "torch", "onnxruntime", "onnxslim")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep the exporter's libraries off the terminal: NNCF's progress bars (stdout), ONNX Runtime's
    notes on the root logger, NNCF's and torch's log lines, Python warnings (torch.jit deprecations)."""
    drop, root = _DropRecords(), logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    root.addFilter(drop)  # records logged on the root logger itself (logging.warning(...))
    captured = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(captured):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeFilter(drop)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if captured.getvalue().strip():
            log.debug("export output: %s", captured.getvalue().strip()[-2000:])

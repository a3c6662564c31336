"""Inference engines for sliced YOLO: PyTorch, ONNX Runtime, OpenVINO, and ``auto`` selection.

Every engine maps a (B, H, W, 3) uint8 RGB batch to the raw network output (B, 4 + nc, A) as a
torch tensor; decoding is shared (:func:`tiledet.detect.yolo_decode.decode_predictions`).

- ``torch``: the fused PyTorch model; channels-last memory layout on CPU (faster there), on
  :func:`tiledet.ultra.cpu_threads` threads (Ultralytics would leave torch on ``cores - 1``).
- ``torch-bf16``: the same under ``torch.autocast`` to bfloat16 (about 2x faster on CPUs with AMX,
  slower on CPUs without native bf16; ``auto`` measures which).
- ``onnx`` / ``openvino``: the model exported once by Ultralytics' own exporter (dynamic input
  size) and cached beside the weights in ``<weights>.tiledet-engines/<sha256 prefix>/`` (or in
  ``~/.cache/tiledet/engines/`` when that folder is not writable). OpenVINO runs at its CPU default
  precision (bf16 on CPUs with AMX, else fp32). Both need the optional packages of
  ``pip install 'tiledet[engines]'`` (onnx, onnxruntime, onnxslim, openvino).
- ``auto``: tries every available engine on one probe batch and keeps the fastest one whose output
  agrees with PyTorch's (:func:`outputs_agree`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tiledet.boxes import iou_xyxy
from tiledet.detect.config import ENGINES as ENGINES
from tiledet.detect.offline import offline_ultralytics, ultralytics_verbosity
from tiledet.detect.safe_weights import weights_loading
from tiledet.detect.yolo_batches import Pixels, window_batches
from tiledet.detect.yolo_decode import Letterbox, decode_predictions, fill_batch
from tiledet.errors import ConfigError, InputError, TiledetError
from tiledet.ultra import cpu_threads

if TYPE_CHECKING:
    from tiledet.detect.yolo_predict import YoloPredictor

log = logging.getLogger(__name__)

#: Python packages each exported engine needs (import names).
_REQUIRES = {"onnx": ("onnx", "onnxruntime"), "openvino": ("openvino",)}
#: Agreement check of ``auto``: confidence of the compared boxes, IoU of a match, share that must match.
AGREE_CONF, AGREE_IOU, AGREE_SHARE = 0.25, 0.8, 0.95
#: With fewer torch boxes than this on the probe, raw class scores are compared instead (max abs diff).
AGREE_MIN_BOXES, AGREE_SCORE_DIFF = 5, 0.05

Engine = Callable[[np.ndarray], object]


@dataclass
class EngineReport:
    """What engine runs and why (for RUN files and the CLI)."""

    engine: str
    reason: str
    timings_s: dict[str, float] = field(default_factory=dict)
    agreement: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"engine": self.engine, "reason": self.reason, "probe_seconds": self.timings_s,
                "agreement": self.agreement}


def missing_packages(engine: str) -> list[str]:
    """Import names ``engine`` needs that are not installed (empty for torch)."""
    return [m for m in _REQUIRES.get(engine, ()) if importlib.util.find_spec(m) is None]


class TorchEngine:
    """The PyTorch model; ``channels_last`` uses the NHWC memory layout (the batch already is NHWC);
    ``bf16`` runs it under bfloat16 autocast (outputs returned as float32)."""

    def __init__(self, model: object, device: object, channels_last: bool, bf16: bool = False) -> None:
        import torch

        self.name = "torch-bf16" if bf16 else "torch"
        self.device = device
        # Ultralytics' select_device (run by any YOLO predictor or trainer in this process) resets the
        # thread count, so it is checked on every call.
        self.threads = cpu_threads() if getattr(device, "type", "cpu") == "cpu" else None
        self.channels_last = channels_last
        self.bf16 = bf16
        self.model = model.to(memory_format=torch.channels_last) if channels_last else model  # type: ignore[attr-defined]

    def __call__(self, batch: np.ndarray) -> object:
        import torch

        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        if not self.channels_last:
            x = x.contiguous()
        with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):  # type: ignore[attr-defined]
            y = self.model(x)  # type: ignore[operator]
        y = y[0] if isinstance(y, (tuple, list)) else y
        return y.float() if self.bf16 else y


def _nchw_float(batch: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
    x *= 1.0 / 255.0
    return x


class OnnxEngine:
    """ONNX Runtime session over an exported model with dynamic input size."""

    name = "onnx"

    def __init__(self, path: Path, cuda: bool) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        providers = ["CUDAExecutionProvider"] if cuda and "CUDAExecutionProvider" in available else []
        self.session = ort.InferenceSession(str(path), providers=[*providers, "CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> object:
        import torch

        return torch.from_numpy(self.session.run(None, {self.input_name: _nchw_float(batch)})[0])


class OpenVinoEngine:
    """OpenVINO CPU model, compiled once per input size with a dynamic batch dimension."""

    name = "openvino"

    def __init__(self, xml_path: Path) -> None:
        import openvino as ov

        self.core = ov.Core()
        self.xml_path = xml_path
        self.compiled: dict[tuple[int, int], object] = {}

    def _compiled(self, h: int, w: int) -> object:
        if (h, w) not in self.compiled:
            model = self.core.read_model(str(self.xml_path))
            model.reshape([-1, 3, h, w])
            self.compiled[(h, w)] = self.core.compile_model(model, "CPU").create_infer_request()
        return self.compiled[(h, w)]

    @property
    def precision(self) -> str:
        """The CPU plugin's inference precision (``bf16`` or ``f32``)."""
        return str(self.core.get_property("CPU", "INFERENCE_PRECISION_HINT"))

    def __call__(self, batch: np.ndarray) -> object:
        import torch

        request = self._compiled(batch.shape[1], batch.shape[2])
        request.infer({0: _nchw_float(batch)})  # type: ignore[attr-defined]
        return torch.from_numpy(np.array(request.get_output_tensor(0).data))  # type: ignore[attr-defined]


# -- export cache -----------------------------------------------------------------------------------
def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def cache_dir(weights: Path) -> Path:
    """Folder of the exported engines of ``weights``: beside them, else in ``~/.cache/tiledet``."""
    digest = _digest(weights)
    beside = weights.parent / f"{weights.name}.tiledet-engines"
    if os.access(weights.parent, os.W_OK) and (not beside.exists() or os.access(beside, os.W_OK)):
        return beside / digest
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tiledet" / "engines" / digest


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _exported_path(folder: Path, engine: str) -> Path:
    return folder / ("model.onnx" if engine == "onnx" else "model_openvino_model/model.xml")


def export_engine(weights: Path, engine: str, imgsz: int, trust_weights: bool = False) -> Path:
    """Export ``weights`` to ``engine`` once (Ultralytics' exporter, dynamic shapes) and return the file.

    The export runs in a temporary folder that is renamed into the cache when complete, so an
    interrupted export never leaves a half-written model behind. The weights are unpickled safely
    (:mod:`tiledet.detect.safe_weights`) unless ``trust_weights``.

    Raises:
        ConfigError: when the engine's packages are not installed.
        InputError: when the export fails, or the weights hold classes a checkpoint should not.
    """
    missing = missing_packages(engine)
    if missing:
        raise ConfigError(
            f"engine={engine} needs the Python packages {', '.join(missing)}; install them with "
            "pip install 'tiledet[engines]'",
            field="engine",
        )
    folder = cache_dir(weights) / engine
    target = _exported_path(folder, engine)
    if target.is_file():
        return target
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Ultralytics names outputs with str.replace(".pt", ...) on the whole path, so the export runs in a
    # fresh temporary folder (random name, no dots) and the result is moved into the cache.
    work = Path(tempfile.mkdtemp(prefix="tiledet_export_"))
    staging = Path(tempfile.mkdtemp(prefix=f".{engine}-", dir=folder.parent))
    try:
        if ".pt" in str(work):
            raise InputError(f"{work}: temporary folder path contains '.pt'; set TMPDIR elsewhere")
        shutil.copy2(weights, work / "model.pt")
        _run_export(work / "model.pt", engine, imgsz, weights, trust_weights)
        exported = _exported_path(work, engine)
        if not exported.is_file():
            raise InputError(f"{weights}: Ultralytics' {engine} export wrote no model")
        source = exported if engine == "onnx" else exported.parent
        shutil.move(str(source), str(staging / source.name))
        os.chmod(staging, 0o777 & ~_umask())
        if not target.is_file():
            if folder.exists():  # an incomplete export of ours from an earlier run
                shutil.rmtree(folder)
            os.replace(staging, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    if not target.is_file():
        raise InputError(f"{weights}: {engine} export did not produce {target}")
    return target


def _run_export(pt: Path, engine: str, imgsz: int, weights: Path, trust_weights: bool) -> None:
    """Ultralytics' export of ``pt`` (a copy of the user's ``weights``, named in errors)."""
    import warnings

    offline_ultralytics()
    from ultralytics import YOLO

    args: dict = {"format": engine, "imgsz": imgsz, "dynamic": True, "half": False, "device": "cpu"}
    if engine == "onnx":
        args["simplify"] = importlib.util.find_spec("onnxslim") is not None
    try:
        with (weights_loading(weights, trust=trust_weights), ultralytics_verbosity(False),
              warnings.catch_warnings()):
            warnings.simplefilter("ignore")  # torch.jit deprecation notes from the exporter
            YOLO(str(pt)).export(**args)
    except TiledetError:
        raise
    except Exception as e:  # the exporter raises many kinds; report them in one line
        raise InputError(f"{engine} export of {pt.name} failed ({type(e).__name__}: {e})") from e


# -- building and choosing ----------------------------------------------------------------------------
def _make(predictor: YoloPredictor, name: str) -> Engine:
    cuda = getattr(predictor.device, "type", "cpu") == "cuda"
    if name in ("torch", "torch-bf16"):
        return TorchEngine(predictor.loaded.model, predictor.device, channels_last=not cuda,
                           bf16=name == "torch-bf16")
    if name == "openvino" and cuda:
        raise ConfigError(
            "engine=openvino runs on the CPU; use device=cpu (or engine=torch on CUDA)",
            field=("engine", "device"),
        )
    path = export_engine(predictor.loaded.weights, name, predictor.tile, predictor.cfg.trust_weights)
    return OnnxEngine(path, cuda) if name == "onnx" else OpenVinoEngine(path)


def build_engine(predictor: YoloPredictor, probe_image: Pixels | None) -> tuple[Engine, EngineReport]:
    """The engine ``predictor.cfg.engine`` names, or (``auto``) the fastest that agrees with torch."""
    name = predictor.cfg.engine
    if name != "auto":
        return _make(predictor, name), EngineReport(name, "requested with --engine")
    return choose_engine(predictor, probe_image)


def probe_batch(predictor: YoloPredictor, probe_image: Pixels | None) -> np.ndarray:
    """The first ``batch_size`` windows of ``probe_image`` that hold data, padded.

    ``probe_image``: an (H, W, 3) uint8 RGB array or a Scene (only those windows are read from it);
    None, or a Scene whose windows cannot be read (its detection reports it), gives a seeded noise image.
    """
    if probe_image is not None:
        try:
            return _probe_windows(predictor, probe_image)
        except InputError as e:
            log.warning("engine auto probes a noise image: %s", e)
    rng = np.random.default_rng(0)
    return _probe_windows(predictor, rng.integers(0, 256, (predictor.tile, predictor.tile * 2, 3), np.uint8))


def _probe_windows(predictor: YoloPredictor, image: Pixels) -> np.ndarray:
    windows = predictor.windows((image.shape[1], image.shape[0]))
    w, h = int(windows[0, 2] - windows[0, 0]), int(windows[0, 3] - windows[0, 1])
    box = Letterbox.for_window((w, h), predictor.stride)
    batches = window_batches(image, windows, box, predictor.cfg.batch_size)
    first = next(batches, None)  # None: every window is nodata
    return fill_batch(image, windows[: predictor.cfg.batch_size], box) if first is None else first[1]


def _time(engine: Engine, batch: np.ndarray, repeats: int = 2) -> tuple[object, float]:
    out = engine(batch)  # warm-up (compiles / allocates)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = engine(batch)
        best = min(best, time.perf_counter() - t0)
    return out, best


def outputs_agree(reference: object, candidate: object, end2end: bool) -> tuple[bool, str]:
    """Whether an engine's raw output on the probe batch agrees with PyTorch's.

    With at least ``AGREE_MIN_BOXES`` torch boxes at conf ``AGREE_CONF``: at least ``AGREE_SHARE``
    of the boxes on each side have a same-class partner with IoU >= ``AGREE_IOU``. Otherwise (too
    few boxes to judge): the largest class-score difference is <= ``AGREE_SCORE_DIFF``.
    """

    ref = decode_predictions(reference, AGREE_CONF, 0.7, 1000, end2end)
    cand = decode_predictions(candidate, AGREE_CONF, 0.7, 1000, end2end)
    n_ref = sum(len(r[0]) for r in ref)
    if n_ref < AGREE_MIN_BOXES:
        diff = float((reference[:, 4:] - candidate[:, 4:]).abs().max())  # type: ignore[index]
        return diff <= AGREE_SCORE_DIFF, f"max class-score difference {diff:.4f} (limit {AGREE_SCORE_DIFF})"
    matched_ref = matched_cand = n_cand = 0
    for (rx, rc, _), (cx, cc, _) in zip(ref, cand, strict=True):
        n_cand += len(cx)
        if len(rx) and len(cx):
            ok = (iou_xyxy(rx, cx) >= AGREE_IOU) & (rc[:, None] == cc[None, :])
            matched_ref += int(ok.any(axis=1).sum())
            matched_cand += int(ok.any(axis=0).sum())
    share = min(matched_ref / n_ref, matched_cand / max(n_cand, 1))
    return share >= AGREE_SHARE, f"{share:.1%} of boxes matched at IoU>={AGREE_IOU} ({n_ref} torch boxes)"


def choose_engine(predictor: YoloPredictor, probe_image: Pixels | None) -> tuple[Engine, EngineReport]:
    """Time every available engine on one probe batch; keep the fastest that agrees with torch."""
    batch = probe_batch(predictor, probe_image)
    torch_engine = _make(predictor, "torch")
    reference, best_time = _time(torch_engine, batch)
    report = EngineReport("torch", "", {"torch": best_time}, {"torch": "reference"})
    best: Engine = torch_engine
    cuda = getattr(predictor.device, "type", "cpu") == "cuda"
    for name in ("torch-bf16", "onnx", "openvino"):
        if missing_packages(name) or (name == "openvino" and cuda):
            hint = "" if cuda else " (pip install 'tiledet[engines]')"
            report.agreement[name] = "not available" + hint
            continue
        try:
            engine = _make(predictor, name)
            out, seconds = _time(engine, batch)
        except (ConfigError, InputError) as e:
            report.agreement[name] = f"failed: {e}"
            continue
        agree, detail = outputs_agree(reference, out, predictor.loaded.end2end)
        report.timings_s[name] = seconds
        report.agreement[name] = ("agrees: " if agree else "disagrees: ") + detail
        if agree and seconds < best_time:
            best, best_time, report.engine = engine, seconds, name
    report.reason = f"auto: fastest engine agreeing with torch on a probe batch of {len(batch)} windows"
    return best, report

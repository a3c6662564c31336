"""Inference engines for sliced YOLO: PyTorch, ONNX Runtime, OpenVINO, TensorRT, and ``auto``.

Every engine maps a (B, H, W, 3) uint8 RGB batch to the raw network output (B, 4 + nc, A) as a
torch tensor; decoding is shared (:func:`tiledet.detect.yolo_decode.decode_predictions`).

- ``torch``: the fused PyTorch model; channels-last memory layout on CPU (faster there), on
  :func:`tiledet.ultra.cpu_threads` threads (Ultralytics would leave torch on ``cores - 1``).
- ``torch-bf16`` / ``torch-fp16``: the same under ``torch.autocast`` to bfloat16 / float16 (bf16 is
  about 2x faster on CPUs with AMX, slower on CPUs without native bf16; fp16 is for CUDA).
- ``onnx`` / ``openvino``: the model exported once by Ultralytics' own exporter (dynamic batch and
  size) into the cache of :mod:`tiledet.detect.export_cache` (beside the weights, keyed by weights
  sha256, engine, imgsz = the tile side, batch = the batch size; :mod:`tiledet.detect.yolo_export`).
  OpenVINO runs at its CPU default precision (bf16 on CPUs with AMX, else fp32).
- ``openvino-int8`` / ``onnx-int8``: the INT8 exports (calibrated on a data.yaml's val images, the
  first time; ``tiledet detect export --int8``). Never chosen by ``auto``.
- ``tensorrt``: Ultralytics' fp16 TensorRT export, run by its ``AutoBackend`` (CUDA, when the
  ``tensorrt`` package is installed).
- ``auto``: tries the candidates of the device (:func:`~.engine_probe.auto_candidates`) on one probe
  batch and keeps the fastest whose output agrees with PyTorch's (:func:`~.engine_probe.outputs_agree`);
  the choice is remembered per machine and re-checked for agreement on each run (:mod:`.engine_probe`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tiledet.detect.config import ENGINES as ENGINES
from tiledet.detect.engine_probe import (
    auto_candidates,
    decision_path,
    machine_fingerprint,
    native_bf16,
    outputs_agree,
    probe_batch,
    read_decision,
    time_engine,
    write_decision,
)
from tiledet.detect.export_cache import cache_root, file_sha256
from tiledet.detect.yolo_export import _run_export as _run_export
from tiledet.detect.yolo_export import check_packages, export_yolo
from tiledet.detect.yolo_export import missing_packages as missing_packages
from tiledet.errors import ConfigError, InputError
from tiledet.ultra import cpu_threads

if TYPE_CHECKING:
    from tiledet.detect.yolo_batches import Pixels
    from tiledet.detect.yolo_predict import YoloPredictor

log = logging.getLogger(__name__)

#: Engines that run on the CPU only / on CUDA only.
CPU_ONLY, CUDA_ONLY = ("openvino", "openvino-int8"), ("tensorrt",)

Engine = Callable[[np.ndarray], object]


@dataclass
class EngineReport:
    """What engine runs and why (for RUN files and the CLI).

    Attributes:
        engine: the engine that runs.
        reason: why, in one line.
        timings_s: seconds per probe batch of each engine timed (``auto``).
        agreement: each candidate's verdict against torch (``auto``): agrees/disagrees with the
            measure, skipped or not available and why, or failed with the reason.
        model: the exported model file the engine runs (None for the torch engines).
    """

    engine: str
    reason: str
    timings_s: dict[str, float] = field(default_factory=dict)
    agreement: dict[str, str] = field(default_factory=dict)
    model: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"engine": self.engine, "reason": self.reason, "probe_seconds": self.timings_s,
                "agreement": self.agreement, "model": self.model}


class TorchEngine:
    """The PyTorch model; ``channels_last`` uses the NHWC memory layout (the batch already is NHWC);
    ``autocast`` (``"bf16"`` or ``"fp16"``) runs it under that autocast (outputs returned as float32)."""

    def __init__(
        self, model: object, device: object, channels_last: bool, autocast: str | None = None
    ) -> None:
        import torch

        self.name = f"torch-{autocast}" if autocast else "torch"
        self.device = device
        # Ultralytics' select_device (run by any YOLO predictor or trainer in this process) resets the
        # thread count, so it is checked on every call.
        self.threads = cpu_threads() if getattr(device, "type", "cpu") == "cpu" else None
        self.channels_last = channels_last
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[autocast]
        self.model = model.to(memory_format=torch.channels_last) if channels_last else model  # type: ignore[attr-defined]

    def __call__(self, batch: np.ndarray) -> object:
        import torch

        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        if not self.channels_last:
            x = x.contiguous()
        with torch.inference_mode(), torch.autocast(self.device.type, self.dtype or torch.float32,  # type: ignore[attr-defined]
                                                    enabled=self.dtype is not None):
            y = self.model(x)  # type: ignore[operator]
        y = y[0] if isinstance(y, (tuple, list)) else y
        return y.float() if self.dtype is not None else y


def _nchw_float(batch: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
    x *= 1.0 / 255.0
    return x


class OnnxEngine:
    """ONNX Runtime session over an exported model with dynamic input size."""

    def __init__(self, path: Path, cuda: bool, name: str = "onnx") -> None:
        import onnxruntime as ort

        self.name, self.path = name, path
        available = ort.get_available_providers()
        providers = ["CUDAExecutionProvider"] if cuda and "CUDAExecutionProvider" in available else []
        self.session = ort.InferenceSession(str(path), providers=[*providers, "CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> object:
        import torch

        return torch.from_numpy(self.session.run(None, {self.input_name: _nchw_float(batch)})[0])


class OpenVinoEngine:
    """OpenVINO CPU model (read once), compiled once per input size with a dynamic batch dimension."""

    def __init__(self, xml_path: Path, name: str = "openvino") -> None:
        import openvino as ov

        self.name = name
        self.core = ov.Core()
        self.xml_path = self.path = xml_path
        self.model = self.core.read_model(str(xml_path))  # in memory: the cache entry may be replaced
        self.compiled: dict[tuple[int, int], object] = {}

    def _compiled(self, h: int, w: int) -> object:
        if (h, w) not in self.compiled:
            model = self.model.clone()
            model.reshape([-1, 3, h, w])
            self.compiled[(h, w)] = self.core.compile_model(model, "CPU").create_infer_request()
        return self.compiled[(h, w)]

    @property
    def precision(self) -> str:
        """The CPU plugin's inference precision (``bf16`` or ``f32``)."""
        value = self.core.get_property("CPU", "INFERENCE_PRECISION_HINT")
        return str(value.get_type_name()) if hasattr(value, "get_type_name") else str(value)

    def __call__(self, batch: np.ndarray) -> object:
        import torch

        request = self._compiled(batch.shape[1], batch.shape[2])
        request.infer({0: _nchw_float(batch)})  # type: ignore[attr-defined]
        return torch.from_numpy(np.array(request.get_output_tensor(0).data))  # type: ignore[attr-defined]


class TensorRtEngine:
    """Ultralytics' fp16 TensorRT export run by its ``AutoBackend`` on a CUDA device."""

    name = "tensorrt"

    def __init__(self, path: Path, device: object) -> None:
        from tiledet.detect.offline import offline_ultralytics

        offline_ultralytics()
        from ultralytics.nn.autobackend import AutoBackend

        self.device, self.path = device, path
        self.backend = AutoBackend(str(path), device=device, fp16=True, verbose=False)

    def __call__(self, batch: np.ndarray) -> object:
        import torch

        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).contiguous().half().div_(255.0)
        with torch.inference_mode():
            y = self.backend(x)
        y = y[0] if isinstance(y, (tuple, list)) else y
        return y.float()


def cache_dir(weights: Path) -> Path:
    """Folder of the exported engines of ``weights`` (:func:`tiledet.detect.export_cache.cache_root`)."""
    return cache_root(weights, file_sha256(weights))


# -- building and choosing ----------------------------------------------------------------------------
def _check_device(name: str, cuda: bool) -> None:
    if name in CPU_ONLY and cuda:
        raise ConfigError(f"engine={name} runs on the CPU; use device=cpu (or engine=torch on CUDA)",
                          field=("engine", "device"))
    if name in CUDA_ONLY and not cuda:
        raise ConfigError(f"engine={name} runs on CUDA; use device=cuda (or engine=auto on the CPU)",
                          field=("engine", "device"))


def _make(predictor: YoloPredictor, name: str) -> Engine:
    cuda = getattr(predictor.device, "type", "cpu") == "cuda"
    if name.startswith("torch"):
        autocast = name.split("-", 1)[1] if "-" in name else None
        return TorchEngine(predictor.loaded.model, predictor.device, not cuda, autocast=autocast)
    _check_device(name, cuda)
    check_packages(name)
    cfg = predictor.cfg
    path = export_yolo(predictor.loaded.weights, name, predictor.tile, int(cfg.batch_size),
                       data=cfg.int8_data, trust_weights=cfg.trust_weights)
    if name == "tensorrt":
        return TensorRtEngine(path, predictor.device)
    return OnnxEngine(path, cuda, name) if name.startswith("onnx") else OpenVinoEngine(path, name)


def build_engine(predictor: YoloPredictor, probe_image: Pixels | None) -> tuple[Engine, EngineReport]:
    """The engine ``predictor.cfg.engine`` names, or (``auto``) the fastest that agrees with torch."""
    name = predictor.cfg.engine
    if name == "auto":
        return choose_engine(predictor, probe_image)
    engine = _make(predictor, name)
    return engine, EngineReport(name, "requested by name (not auto)", model=_model_of(engine))


def _model_of(engine: Engine) -> str | None:
    path = getattr(engine, "path", None)
    return None if path is None else str(path)


def choose_engine(predictor: YoloPredictor, probe_image: Pixels | None) -> tuple[Engine, EngineReport]:
    """``auto``: the engine chosen earlier on this machine (on a probe at least as large) if it still
    agrees with torch on this probe batch, else the fastest agreeing engine of a new probe (remembered;
    :mod:`.engine_probe`)."""
    batch = probe_batch(predictor, probe_image)
    torch_engine = _make(predictor, "torch")
    weights = predictor.loaded.weights
    fingerprint = machine_fingerprint(predictor.device)
    path = decision_path(weights, file_sha256(weights), predictor.device, predictor.tile,
                         predictor.cfg.batch_size)
    remembered = read_decision(path, fingerprint)
    # a choice timed on fewer windows than this probe holds (a small scene) is measured again
    if remembered is not None and int(remembered.get("windows", 0)) >= len(batch):
        chosen = _remembered(predictor, remembered, torch_engine, batch)
        if chosen is not None:
            return chosen
    engine, report = _probe_all(predictor, torch_engine, batch)
    write_decision(path, fingerprint, report.engine, report.timings_s, report.agreement, len(batch))
    return engine, report


def _remembered(predictor: YoloPredictor, record: dict, torch_engine: Engine, batch: np.ndarray
                ) -> tuple[Engine, EngineReport] | None:
    """The remembered engine when it can be built and agrees with torch on ``batch``; else None."""
    name = record["engine"]
    report = EngineReport(name, "", dict(record["timings_s"]), dict(record.get("agreement") or {}))
    if name == "torch":
        report.reason = _auto_reason(report, int(record.get("windows", 0))) + " (remembered on this machine)"
        return torch_engine, report
    try:
        engine = _make(predictor, name)
        agree, detail = outputs_agree(torch_engine(batch), engine(batch), predictor.loaded.end2end)
    except (ConfigError, InputError, KeyError) as e:
        log.info("engine auto: the remembered %s cannot run (%s); probing again", name, e)
        return None
    if not agree:
        log.info("engine auto: the remembered %s disagrees with torch here (%s); probing again", name, detail)
        return None
    report.reason = (_auto_reason(report, int(record.get("windows", 0))) + f"; remembered on this machine, "
                     f"it agrees with torch on this run's probe batch too ({detail})")
    report.model = _model_of(engine)
    return engine, report


def _probe_all(predictor: YoloPredictor, torch_engine: Engine, batch: np.ndarray
               ) -> tuple[Engine, EngineReport]:
    """Time torch and every available candidate on ``batch``; keep the fastest that agrees."""
    reference, torch_time = time_engine(torch_engine, batch)
    report = EngineReport("torch", "", {"torch": torch_time}, {"torch": "reference"})
    best: Engine = torch_engine
    best_time = torch_time
    cuda = getattr(predictor.device, "type", "cpu") == "cuda"
    for name in auto_candidates(cuda):
        missing = missing_packages(name)
        if missing:
            report.agreement[name] = f"not available (needs {', '.join(missing)})"
            continue
        if name == "torch-bf16" and not native_bf16():
            report.agreement[name] = "skipped: no native bf16 on this CPU (avx512_bf16, amx_bf16)"
            continue
        try:
            engine = _make(predictor, name)
            out, seconds = time_engine(engine, batch)
        except (ConfigError, InputError) as e:
            report.agreement[name] = f"failed: {e}"
            continue
        agree, detail = outputs_agree(reference, out, predictor.loaded.end2end)
        report.timings_s[name] = seconds
        report.agreement[name] = ("agrees: " if agree else "disagrees: ") + detail
        if agree and seconds < best_time:
            best, best_time, report.engine = engine, seconds, name
    report.reason = _auto_reason(report, len(batch))
    report.model = _model_of(best)
    return best, report


def _auto_reason(report: EngineReport, windows: int) -> str:
    """One line: what ``auto`` chose, how much faster than torch, on what probe."""
    probe = f"a probe batch of {windows} windows"
    if report.engine == "torch":
        return f"auto: no other engine agreed with torch and was faster on {probe}"
    speedup = report.timings_s["torch"] / max(report.timings_s[report.engine], 1e-9)
    return (f"auto: fastest engine agreeing with torch on {probe} ({speedup:.1f}x torch; "
            f"{report.agreement[report.engine].split(': ', 1)[1]})")

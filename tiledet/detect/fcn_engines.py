"""Engines of the sliding window's fully-convolutional network: PyTorch, ONNX Runtime, OpenVINO, ``auto``.

Every engine maps the classifier's preprocessed batch, a float32 torch tensor (N, 3, H, W) with H and
W at least the window (blocks are stride-aligned), to the raw cell outputs, a float32 numpy array
(N, C [+ 4], (H - window) // stride + 1, (W - window) // stride + 1): what
:class:`~tiledet.detect.fcn_module.FullyConvolutional` returns.

- ``torch``: the network itself (batch norm folded, channels-last memory layout).
- ``onnx``: exported once by ``torch.onnx.export`` (TorchScript exporter, opset :data:`OPSET`, dynamic
  batch, height and width) and run by ONNX Runtime on the CPU.
- ``openvino``: that ONNX file converted once by ``openvino.convert_model`` (weights kept in fp32)
  and run on the CPU at fp32 inference precision (the CPU plugin's bf16 default on AMX CPUs would not
  agree within 1e-4), compiled once with dynamic shapes and, for a block shape seen
  :data:`STATIC_AFTER` times, once more for that shape (a few % faster), kept in memory.
- ``auto``: every available engine scores one probe block (:func:`probe_block`); the fastest whose
  outputs agree with torch's (:func:`outputs_agree`: class probabilities and box-head outputs within
  :data:`AGREE_MAX_DIFF`) runs. A network that cannot be exported runs on torch, the reason reported.

The exported files are cached as YOLO's are (:mod:`tiledet.detect.export_cache`: beside the
checkpoint in ``<checkpoint>.tiledet-engines/<sha256 prefix>/fcn-<engine>-imgsz<window>-batch1/``, or
under ``~/.cache/tiledet/engines/`` when the checkpoint's folder is not writable; written in a
temporary folder renamed into place, once also across processes), keyed as well by the network's
layers and weights (:func:`graph_key`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tiledet.detect.engines import EngineReport
from tiledet.errors import ConfigError, InputError, TiledetError

if TYPE_CHECKING:
    from tiledet.detect.sliding import SlidingDetector

log = logging.getLogger(__name__)

#: ONNX opset of the export (ONNX Runtime >= 1.12 and OpenVINO >= 2022 run it).
OPSET = 17
#: Largest difference of a class probability (softmax of the logits) or a box-head output (fraction of
#: the window) between an engine and torch that ``auto`` accepts.
AGREE_MAX_DIFF = 1e-4
#: Most pixels per side of the block ``auto`` times every engine on.
PROBE_PX = 256
#: OpenVINO compiles a block shape of its own once it has scored this many batches of it.
STATIC_AFTER = 3
#: Most block shapes OpenVINO keeps a compiled model of (each holds a copy of the weights).
STATIC_MAX = 8
#: Python packages (import names) each exported engine needs.
_PACKAGES = {"onnx": ("onnxruntime",), "openvino": ("openvino",)}
#: Bumped when the exported graph changes for the same network.
_EXPORT_VERSION = 1

FcnEngine = Callable[[Any], np.ndarray]


def _cells(fcn: Any, height: int, width: int) -> tuple[int, int]:
    return (height - fcn.window) // fcn.stride + 1, (width - fcn.window) // fcn.stride + 1


class TorchFcn:
    """The PyTorch network on its device (channels-last input)."""

    name = "torch"

    def __init__(self, fcn: Any) -> None:
        self.fcn = fcn

    def __call__(self, x: Any) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.fcn(x.contiguous(memory_format=torch.channels_last))
        return out.float().cpu().numpy()


def _threads() -> int:
    import torch

    return max(1, torch.get_num_threads())  # the threads torch runs on: engines compared like for like


class OnnxFcn:
    """ONNX Runtime session (CPU) over the exported network; as many threads as torch."""

    name = "onnx"

    def __init__(self, path: Path, fcn: Any) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = _threads(), 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.fcn = fcn

    def __call__(self, x: Any) -> np.ndarray:
        rows, cols = _cells(self.fcn, x.shape[2], x.shape[3])
        out = self.session.run(None, {self.input_name: _numpy(x)})[0]
        return out[:, :, :rows, :cols]


class OpenVinoFcn:
    """OpenVINO CPU model at fp32: compiled with dynamic shapes, and per block shape once it repeats."""

    name = "openvino"

    def __init__(self, xml_path: Path, fcn: Any) -> None:
        import openvino as ov

        self.core, self.xml_path, self.fcn = ov.Core(), xml_path, fcn
        self.config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": _threads()}
        self.dynamic = self.core.compile_model(str(xml_path), "CPU", self.config).create_infer_request()
        self.static: dict[tuple[int, ...], Any] = {}
        self.uses: dict[tuple[int, ...], int] = {}

    def _request(self, shape: tuple[int, ...]) -> Any:
        if shape in self.static:
            return self.static[shape]
        self.uses[shape] = self.uses.get(shape, 0) + 1
        if self.uses[shape] < STATIC_AFTER or len(self.static) >= STATIC_MAX:
            return self.dynamic
        model = self.core.read_model(str(self.xml_path))
        model.reshape(list(shape))
        self.static[shape] = self.core.compile_model(model, "CPU", self.config).create_infer_request()
        return self.static[shape]

    def __call__(self, x: Any) -> np.ndarray:
        rows, cols = _cells(self.fcn, x.shape[2], x.shape[3])
        data = _numpy(x)
        request = self._request(tuple(data.shape))
        request.infer({0: data})
        return np.array(request.get_output_tensor(0).data[:, :, :rows, :cols])


def _numpy(x: Any) -> np.ndarray:
    return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)


# -- export cache -------------------------------------------------------------------------------------
def graph_key(fcn: Any) -> str:
    """Digest of what the exported graph depends on: the layers, window, stride and every weight."""
    h = hashlib.sha256(f"v{_EXPORT_VERSION} opset{OPSET} {fcn!r}".encode())
    for name, tensor in fcn.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def export_fcn(fcn: Any, checkpoint: Path, engine: str) -> Path:
    """The ``engine`` (``onnx`` or ``openvino``) file of ``fcn``, exported on the first call only.

    The cache entry (:func:`tiledet.detect.export_cache.export_once`) is keyed by the checkpoint's
    sha256, the engine (``fcn-onnx``, ``fcn-openvino``), the window (as ``imgsz``), batch 1 (the
    trace's; the batch stays dynamic) and :func:`graph_key`.

    Args:
        fcn: a :class:`~tiledet.detect.fcn_module.FullyConvolutional` (any device).
        checkpoint: the classifier checkpoint it came from.
        engine: ``onnx`` or ``openvino`` (converted from the ``onnx`` export, itself cached).

    Returns:
        The ``model.onnx`` / ``model.xml`` file in the cache.

    Raises:
        InputError: the export failed (a layer the exporter cannot handle), in one line.
    """
    from tiledet.detect.export_cache import ExportKey, export_once, file_sha256

    key = ExportKey(file_sha256(checkpoint), f"fcn-{engine}", fcn.window, 1, {"graph": graph_key(fcn)})
    source = export_fcn(fcn, checkpoint, "onnx") if engine == "openvino" else None
    name = "model.onnx" if engine == "onnx" else "model.xml"
    return export_once(
        checkpoint, key, name, lambda folder: _write_export(fcn, engine, folder / name, source)
    )


def _write_export(fcn: Any, engine: str, path: Path, onnx_source: Path | None) -> None:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
            if engine == "onnx":
                _write_onnx(fcn, path)
            else:
                _write_openvino(onnx_source, path)  # type: ignore[arg-type]
    except TiledetError:
        raise
    except Exception as e:  # the exporters raise many kinds: one line, the fallback reports it
        raise InputError(f"{engine} export failed ({_one_line(e)})") from e


def _one_line(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def _write_onnx(fcn: Any, path: Path) -> None:
    """``fcn``'s trunk and head (no crop: the engines crop) as ONNX with dynamic N, H and W."""
    import copy

    import torch

    net = copy.deepcopy(fcn).cpu().float().to(memory_format=torch.contiguous_format).eval()
    graph = torch.nn.Sequential(net.trunk, net.head).eval()
    sample = torch.zeros(1, 3, fcn.window + 2 * fcn.stride, fcn.window + 3 * fcn.stride)
    axes = {"images": {0: "batch", 2: "height", 3: "width"}, "maps": {0: "batch", 2: "rows", 3: "cols"}}
    with torch.no_grad():
        torch.onnx.export(graph, (sample,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=["images"], output_names=["maps"], dynamic_axes=axes)  # fmt: skip


def _write_openvino(onnx_path: Path, path: Path) -> None:
    import openvino as ov

    ov.save_model(ov.convert_model(str(onnx_path)), str(path), compress_to_fp16=False)


# -- building and choosing ------------------------------------------------------------------------------
def make_fcn_engine(name: str, detector: SlidingDetector, checkpoint: Path) -> FcnEngine:
    """The engine ``name`` (``torch``, ``onnx``, ``openvino``) of ``detector``'s network.

    Raises:
        ConfigError: an exported engine on a device other than the CPU, or its packages missing.
        InputError: the export failed.
    """
    if name == "torch":
        return TorchFcn(detector.fcn)
    if str(detector.device) != "cpu":
        raise ConfigError(
            f"engine={name} runs on the CPU; use device=cpu (or engine=torch on {detector.device})",
            field=("engine", "device"),
        )
    missing = [m for m in _PACKAGES[name] if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"engine={name} needs the Python packages {', '.join(missing)} "
                          "(dependencies of tiledet: reinstall it)", field="engine")  # fmt: skip
    path = export_fcn(detector.fcn, checkpoint, name)
    try:
        return OnnxFcn(path, detector.fcn) if name == "onnx" else OpenVinoFcn(path, detector.fcn)
    except Exception as e:  # a runtime refusing the exported graph (an operator it lacks)
        raise InputError(f"{name} cannot load the exported network {path} ({_one_line(e)})") from e


def outputs_agree(reference: np.ndarray, candidate: np.ndarray, num_classes: int) -> tuple[bool, float]:
    """Whether an engine's outputs agree with torch's: ``(agree, max abs difference)``.

    Compared: the class probabilities (softmax over the first ``num_classes`` outputs of each cell)
    and the box-head outputs after them (fractions of the window); they agree when every one differs
    by at most :data:`AGREE_MAX_DIFF` (a shape mismatch or NaN never agrees: difference ``inf``).
    """
    if reference.shape != candidate.shape:
        return False, float("inf")
    ref, cand = reference.astype(np.float64), candidate.astype(np.float64)
    diffs = [np.abs(_softmax(ref[:, :num_classes]) - _softmax(cand[:, :num_classes]))]
    if ref.shape[1] > num_classes:
        diffs.append(np.abs(ref[:, num_classes:] - cand[:, num_classes:]))
    diff = max(float(d.max()) if d.size else 0.0 for d in diffs)
    diff = diff if np.isfinite(diff) else float("inf")
    return diff <= AGREE_MAX_DIFF, diff


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _time(engine: FcnEngine, x: Any, repeats: int = 2) -> tuple[np.ndarray, float]:
    """``engine``'s outputs on ``x`` and its best time of ``repeats`` runs after a warm-up (s)."""
    out, best = engine(x), float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = engine(x)
        best = min(best, time.perf_counter() - t0)
    return out, best


def build_fcn_engine(
    requested: str, detector: SlidingDetector, checkpoint: Path, probe: np.ndarray | None
) -> tuple[FcnEngine, EngineReport]:
    """The engine ``requested`` names, or (``auto``) the fastest that agrees with torch on ``probe``.

    Args:
        requested: ``torch``, ``onnx``, ``openvino`` or ``auto``.
        detector: the detector whose network runs.
        checkpoint: its checkpoint (keys the export cache).
        probe: (1, H, W, 3) uint8 block for ``auto`` (:func:`probe_block`); unused otherwise.

    Returns:
        ``(engine, report)``; an exported engine whose export fails falls back to torch, the reason in
        the report (and a warning when it was requested by name).

    Raises:
        ConfigError: an exported engine requested by name on a device other than the CPU.
    """
    if requested == "auto":
        return choose_fcn_engine(detector, checkpoint, _noise_block(detector) if probe is None else probe)
    try:
        return make_fcn_engine(requested, detector, checkpoint), EngineReport(requested, "--engine")
    except InputError as e:
        log.warning("engine %s unavailable, torch runs instead: %s", requested, e)
        return TorchFcn(detector.fcn), EngineReport("torch", f"--engine {requested} fell back to torch: {e}")


def choose_fcn_engine(
    detector: SlidingDetector, checkpoint: Path, probe: np.ndarray
) -> tuple[FcnEngine, EngineReport]:
    """Time every engine on ``probe`` ((1, H, W, 3) uint8); keep the fastest that agrees with torch."""
    import torch

    best: FcnEngine = TorchFcn(detector.fcn)
    if str(detector.device) != "cpu":
        reason = f"auto on {detector.device}: the exported engines run on the CPU only"
        return best, EngineReport("torch", reason, {}, {n: "not tried (CPU only)" for n in _EXPORTED})
    with torch.inference_mode():
        x = detector.preprocess(probe, device=detector.device)
    reference, best_time = _time(best, x)
    report = EngineReport("torch", "", {"torch": best_time}, {"torch": "reference"})
    for name in _EXPORTED:
        try:
            engine = make_fcn_engine(name, detector, checkpoint)
            out, seconds = _time(engine, x)
        except (TiledetError, RuntimeError, ValueError, OSError) as e:  # export or runtime failure
            report.agreement[name] = f"failed: {e}"
            continue
        agree, diff = outputs_agree(reference, out, detector.num_classes)
        report.timings_s[name] = seconds
        report.agreement[name] = f"{'agrees' if agree else 'disagrees'}: max difference {diff:.1e}"
        if agree and seconds < best_time:
            best, best_time, report.engine = engine, seconds, name
    report.reason = (
        f"auto: the fastest engine whose class probabilities{' and boxes' if detector.box_head else ''} "
        f"agree with torch's within {AGREE_MAX_DIFF:g} on a {probe.shape[2]}x{probe.shape[1]} px probe block"
    )
    return best, report


#: The exported engines ``auto`` tries besides torch.
_EXPORTED = ("onnx", "openvino")


def _noise_block(detector: SlidingDetector) -> np.ndarray:
    side = _probe_side(PROBE_PX, detector.fcn.window, detector.fcn.stride)
    return np.random.default_rng(0).integers(0, 256, (1, side, side, 3), dtype=np.uint8)


def _probe_side(size: int, window: int, stride: int) -> int:
    """The largest stride-aligned block side (``window + k * stride``) within ``size`` px."""
    return window + max(0, (size - window) // stride) * stride


def probe_block(detector: SlidingDetector, source: Any, scales: list[float], block_px: int) -> np.ndarray:
    """The block ``auto`` times the engines on: (1, H, W, 3) uint8, H and W at most :data:`PROBE_PX`.

    The top-left part of the first block holding data (among the first 8) of the first pyramid scale at
    which ``source`` (an (H, W, 3) array or a Scene) holds a window; seeded noise when ``source`` is
    None, has no such block, or cannot be read.
    """
    from tiledet.detect.pyramid import prepared_batches, resized_size, size_of

    window, stride = detector.fcn.window, detector.fcn.stride
    if source is not None:
        fits = [s for s in scales if min(resized_size(size_of(source), s)) >= window]
        try:
            batches = prepared_batches(source, [(fits[0], (0, 0))] if fits else [], window, stride,
                                       block_px, 1)  # fmt: skip
            for _, prepared in zip(range(8), batches, strict=False):  # the first 8 at most
                if prepared.crops is not None:
                    crop = prepared.crops[:, :PROBE_PX, :PROBE_PX]
                    h, w = (_probe_side(n, window, stride) for n in crop.shape[1:3])
                    return np.ascontiguousarray(crop[:, :h, :w])
        except InputError as e:
            log.info("engine auto probes a noise block: %s", e)
    return _noise_block(detector)

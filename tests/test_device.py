"""One device resolver (:mod:`tiledet.device`): the names, the errors, and every ``--device`` option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tiledet.cli import main
from tiledet.device import DEVICE_HELP, check_device_name, resolve_device, ultralytics_device
from tiledet.errors import ConfigError

UNKNOWN = "not a device name; use auto, cpu, cuda, cuda:N (N = 0, 1, ...) or mps"
NO_CUDA = "CUDA is not available on this machine (use cpu or auto)"
#: Every command that runs a network, so every command with --device.
DEVICE_COMMANDS = [
    ["classify", "eval"], ["classify", "predict"], ["classify", "train"], ["demo"],
    ["detect", "sliding"], ["detect", "train-yolo"], ["detect", "yolo"],
]  # fmt: skip


def _machine(monkeypatch: pytest.MonkeyPatch, cuda: int, mps: bool) -> None:
    """Pretend this machine has ``cuda`` CUDA devices and MPS or not."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(
    ("name", "cuda", "mps", "expected"),
    [
        ("auto", 0, False, "cpu"),
        ("auto", 2, False, "cuda"),
        ("auto", 0, True, "mps"),
        ("auto", 1, True, "cuda"),  # CUDA before MPS
        (" Auto ", 0, False, "cpu"),
        ("cpu", 2, True, "cpu"),
        ("CPU", 0, False, "cpu"),
        (" cpu ", 0, False, "cpu"),
        ("cuda", 1, False, "cuda"),
        ("cuda", 0, False, f"device 'cuda': {NO_CUDA}"),
        ("cuda:0", 1, False, "cuda:0"),
        ("CUDA:01", 2, False, "cuda:1"),
        ("cuda:0", 0, True, f"device 'cuda:0': {NO_CUDA}"),
        ("cuda:9", 1, False, "device 'cuda:9': no such CUDA device (1 available)"),
        ("mps", 0, True, "mps"),
        ("mps", 1, False, "device 'mps': MPS is not available on this machine (use cpu or auto)"),
        ("tpu", 1, True, f"device 'tpu': {UNKNOWN}"),
        ("", 1, True, f"device '': {UNKNOWN}"),
        ("cuda:x", 1, False, f"device 'cuda:x': {UNKNOWN}"),
        ("cuda:", 1, False, f"device 'cuda:': {UNKNOWN}"),
        ("cpu:0", 0, False, f"device 'cpu:0': {UNKNOWN}"),
        (None, 0, False, f"device None: {UNKNOWN}"),
    ],
)
def test_resolve_device(
    monkeypatch: pytest.MonkeyPatch, name: str, cuda: int, mps: bool, expected: str
) -> None:
    _machine(monkeypatch, cuda, mps)
    if expected.startswith("device "):
        with pytest.raises(ConfigError) as info:
            resolve_device(name)
        assert str(info.value) == expected
    else:
        assert resolve_device(name) == torch.device(expected)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("auto", "auto"), (" CPU ", "cpu"), ("Cuda", "cuda"), ("cuda:007", "cuda:7"), ("MPS", "mps")],
)
def test_check_device_name_normalises(name: str, expected: str) -> None:
    assert check_device_name(name) == expected


def test_check_device_name_needs_no_torch() -> None:
    code = (
        "import sys; from tiledet.device import check_device_name; check_device_name('cuda:3'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize(
    ("device", "expected"),
    [(torch.device("cpu"), "cpu"), (torch.device("cuda"), "0"), (torch.device("cuda:2"), "2"),
     (torch.device("mps"), "mps")],
)
def test_ultralytics_device(device: torch.device, expected: str) -> None:
    assert ultralytics_device(device) == expected


def test_configs_store_the_normalised_name(tmp_path: Path) -> None:
    from tiledet.classify.config import TrainConfig
    from tiledet.classify.evaluate import EvalConfig
    from tiledet.demo.steps import DemoConfig
    from tiledet.detect.config import SliceConfig, SlidingRunConfig
    from tiledet.detect.config import TrainConfig as YoloTrainConfig

    path = tmp_path / "x"
    configs = [
        TrainConfig(data=path, out=path, device=" CUDA:1 "), EvalConfig(path, path, device=" CUDA:1 "),
        DemoConfig(out=path, device=" CUDA:1 "), SlidingRunConfig(path, (path,), path, device=" CUDA:1 "),
        SliceConfig(device=" CUDA:1 "), YoloTrainConfig(data=path, out=path, device=" CUDA:1 "),
    ]  # fmt: skip
    assert [c.device for c in configs] == ["cuda:1"] * len(configs)


# -- the command line -------------------------------------------------------------------------------


def _device_options() -> dict[tuple[str, ...], object]:
    """Command path -> its click command, for every command of the CLI with a ``--device`` option."""
    from tiledet.cli import _command, _register_commands

    _register_commands()
    found: dict[tuple[str, ...], object] = {}
    stack: list[tuple[tuple[str, ...], object]] = [((), _command())]
    while stack:
        path, cmd = stack.pop()
        subs = getattr(cmd, "commands", None)
        if subs:
            stack.extend(((*path, name), sub) for name, sub in subs.items())
        elif any("--device" in getattr(p, "opts", ()) for p in cmd.params):  # type: ignore[attr-defined]
            found[path] = cmd
    return found


def _required_args(cmd: object, tmp_path: Path) -> list[str]:
    """Values for the required arguments and options of ``cmd`` (files that need not exist)."""
    args: list[str] = []
    for param in cmd.params:  # type: ignore[attr-defined]
        if not param.required:
            continue
        value = str(tmp_path / f"{param.name}.png")
        args += [value] if param.param_type_name == "argument" else [param.opts[0], value]
    return args


def _one_line_error(code: int, err: str, message: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0] == f"error: {message}", lines[0]


def test_every_device_option_states_the_same_help() -> None:
    commands = _device_options()
    assert sorted(commands) == sorted(map(tuple, DEVICE_COMMANDS))
    for path, cmd in commands.items():
        option = next(p for p in cmd.params if "--device" in p.opts)  # type: ignore[attr-defined]
        assert option.help == DEVICE_HELP and option.default == "auto", path


@pytest.mark.parametrize("command", DEVICE_COMMANDS, ids=" ".join)
def test_unknown_device_refused_by_every_command(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cmd = _device_options()[tuple(command)]
    code = main([*command, *_required_args(cmd, tmp_path), "--device", "tpu"])
    _one_line_error(code, capsys.readouterr().err, f"device 'tpu': {UNKNOWN}")


@pytest.mark.parametrize("command", [["classify", "train"], ["detect", "sliding"]], ids=" ".join)
def test_missing_cuda_device_is_a_one_line_error(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _machine(monkeypatch, 0, False)
    args = _required_args(_device_options()[tuple(command)], tmp_path)
    for arg in args:  # the scenes must exist: they are listed before anything is loaded
        if arg.endswith("images.png"):
            Path(arg).write_bytes(b"")
    code = main([*command, *args, "--device", "cuda:0"])
    _one_line_error(code, capsys.readouterr().err, f"device 'cuda:0': {NO_CUDA}")

"""The CLI without a top-level ``click`` module: usage errors, unexpected errors, exit codes.

Typer >= 0.29 vendors click, so ``import click`` fails on a clean install without the bench extra.
These tests run ``tiledet.cli.main`` in a subprocess whose import system refuses ``click``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_RUNNER = textwrap.dedent(
    """
    import sys

    class _NoClick:
        def find_spec(self, name, path=None, target=None):
            if name == "click" or name.startswith("click."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, _NoClick())
    for mod in [m for m in sys.modules if m == "click" or m.startswith("click.")]:
        del sys.modules[mod]
    {setup}
    from tiledet.cli import main
    code = main(sys.argv[1:])
    assert "click" not in sys.modules, "click was imported"
    sys.exit(code)
    """
)


def run_without_click(args: list[str], cwd: Path, setup: str = "") -> subprocess.CompletedProcess[str]:
    script = _RUNNER.replace("{setup}", setup)
    return subprocess.run(
        [sys.executable, "-c", script, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "COLUMNS": "100"},
    )


def test_click_really_is_blocked(tmp_path: Path) -> None:
    proc = run_without_click([], tmp_path, setup="import click")
    assert proc.returncode != 0 and "No module named 'click'" in proc.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["convert", "--bogus"], "No such option: --bogus"),
        (["eval"], "Missing argument 'GT'"),
        (["convert", "x", "--images", "y", "--out", "z", "--tile", "abc"], "'--tile'"),
        (["synth", "--size", "1"], "--size"),
    ],
)
def test_usage_errors_show_typer_message_and_exit_2(tmp_path: Path, args: list[str], fragment: str) -> None:
    proc = run_without_click(args, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr and "ModuleNotFoundError" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written by a usage error


def test_tiledet_error_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = run_without_click(["convert", "missing.csv", "--images", ".", "--out", "o"], tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "missing.csv" in lines[0]


_BOOM = (
    "import tiledet.cli.synth as s\n"
    "def _boom(*a, **k):\n"
    "    raise RuntimeError('boom happened')\n"
    "s.synth.__globals__['_print_summary'] = _boom\n"
    "import tiledet.synth.generate as g\n"
    "g.generate_scenes = _boom\n"
)


def test_unexpected_error_is_one_line_exit_1(tmp_path: Path) -> None:
    proc = run_without_click(["synth", "--out", "o", "--scenes", "1", "--size", "64", "64"], tmp_path, _BOOM)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "RuntimeError" in lines[0] and "boom happened" in lines[0] and "--debug" in lines[0]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    args = ["--debug", "synth", "--out", "o", "--scenes", "1", "--size", "64", "64"]
    proc = run_without_click(args, tmp_path, _BOOM)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and "boom happened" in proc.stderr


def test_keyboard_interrupt_exits_130(tmp_path: Path) -> None:
    setup = (
        "import tiledet.synth.generate as g\n"
        "def _interrupt(*a, **k):\n"
        "    raise KeyboardInterrupt\n"
        "g.generate_scenes = _interrupt\n"
    )
    proc = run_without_click(["synth", "--out", "o", "--scenes", "1", "--size", "64", "64"], tmp_path, setup)
    assert proc.returncode == 130
    assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr

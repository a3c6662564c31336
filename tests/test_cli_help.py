"""``--help`` a person can read: no Python types, each default once; ``--version``."""

from __future__ import annotations

import re

import pytest

import tiledet
from tiledet.cli import main
from tiledet.cli.helptext import plain_type_name

COMMANDS = ["convert", "synth", "eval", "draw"]


def _leaf_commands() -> list[list[str]]:
    """Every command path of the CLI (``["classify", "train"]``, ...), from the registered tree."""
    from tiledet.cli import _command, _register_commands

    _register_commands()
    out: list[list[str]] = []
    stack: list[tuple[list[str], object]] = [([], _command())]
    while stack:
        path, cmd = stack.pop()
        subs = getattr(cmd, "commands", None)
        if subs:
            stack.extend(([*path, name], sub) for name, sub in subs.items())
        elif path:
            out.append(path)
    return sorted(out)


def test_no_command_shows_python_types(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: E501
    monkeypatch.setenv("COLUMNS", "200")
    paths = _leaf_commands()
    assert ["draw"] in paths and ["eval"] in paths
    for path in paths:
        text = _help(capsys, *path)
        for bad in ("<list[", "<path>", "<bool>", "<int>", "<float>", "<str>", "[required]"):
            assert bad not in text, f"tiledet {' '.join(path)} --help shows {bad}"


def _help(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main([*args, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_no_python_types_and_no_repeated_default(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    text = _help(capsys, command)
    assert "<list[" not in text and "<path>" not in text and "<bool>" not in text and "<int>" not in text
    assert "[required]" not in text, "help texts already say Required."
    for line in text.splitlines():
        if "[default:" in line:
            assert "Default:" not in line, f"default stated twice: {line.strip()}"
    assert re.search(r"--quiet", text), f"{command} lacks --quiet"


def test_top_level_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys)
    assert "draw" in text and "<bool>" not in text
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tiledet {tiledet.__version__}"


@pytest.mark.parametrize(
    ("typer_type", "shown"),
    [("<list[Path]>", "PATH..."), ("<path>", "PATH"), ("<float>", "NUMBER"), ("<bool>", ""),
     ("<int,int>...", "INTEGER INTEGER"), ("yolo|coco", "yolo|coco"), (None, None)],
)
def test_plain_type_name(typer_type: str | None, shown: str | None) -> None:
    assert plain_type_name(typer_type) == shown


#: Commands whose ``--quiet`` means something else, and so keeps its own help.
OWN_MEANING = {("--quiet", "classify eval"), ("--quiet", "demo")}


def _alias_help(alias: object) -> str:
    from typing import get_args

    return get_args(alias)[1].help


def test_shared_options_state_their_help_once() -> None:
    from tiledet.cli import _command
    from tiledet.cli import options as shared

    helps = {
        "--force": {_alias_help(shared.Force), _alias_help(shared.ForceSaveImages)},
        "--quiet": {_alias_help(shared.Quiet), _alias_help(shared.QuietProgress)},
        "--device": {_alias_help(shared.Device)},
        "--save-images": {_alias_help(shared.SaveImages)},
    }
    root, seen = _command(), {flag: 0 for flag in helps}
    for path in _leaf_commands():
        cmd = root
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        for param in cmd.params:  # type: ignore[attr-defined]
            flag = next((opt for opt in param.opts if opt in helps), None)
            if flag is None or (flag, " ".join(path)) in OWN_MEANING:
                continue
            seen[flag] += 1
            assert param.help in helps[flag], f"tiledet {' '.join(path)} {flag}: own help text"
    assert seen == {"--force": 11, "--quiet": 11, "--device": 7, "--save-images": 2}

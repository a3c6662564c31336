"""Library errors name config fields; the CLI shows the command's flags instead (tiledet/cli/flags.py)."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import pytest

from tiledet.cli import main
from tiledet.cli.flags import flag_of, user_message
from tiledet.errors import ConfigError

PACKAGE = Path(__file__).resolve().parents[1] / "tiledet"

#: ConfigError texts outside tiledet/cli that still name flags: another command's (``tiledet convert
#: --to chips``), ``--force`` of whichever command writes the folder, and an off-switch
#: (``--no-structured-negatives``), which no field name says.
FLAG_ON_PURPOSE = {
    ("classify/train.py", "--to chips"),
    ("outdir.py", "--force"),
    ("convert/chips.py", "--background"),
    ("convert/chips.py", "--negatives"),
    ("convert/chips.py", "--no-structured-negatives"),
}


def test_flag_of_the_rule_and_the_overrides() -> None:
    assert flag_of("convert", "val_fraction") == "--val-fraction"
    assert flag_of("synth", "size_wh") == "--size" and flag_of("convert", "images_dir") == "--images"
    assert flag_of("classify train", "memory_limit_gib") == "--memory-limit"
    assert flag_of("eval", "size_wh") == "--size-wh"  # overrides are per command


@pytest.mark.parametrize(
    ("message", "field", "shown"),
    [
        ("overlap must be in [0, 1), got 1.5", "overlap", "--overlap must be in [0, 1), got 1.5"),
        ("split=keep: a/split b declares none; use split=random", "split",
         "--split keep: a/split b declares none; use --split random"),
        ("tile=16 with overlap=0.5: 9 tiles, 3 times those without overlap; use a smaller `overlap`",
         ("tile", "overlap"), "--tile 16 with --overlap 0.5: 9 tiles, 3 times those without overlap; "
         "use a smaller --overlap"),
        ("size_wh 1 2 is too large", "size_wh", "--size 1 2 is too large"),
        ("got 'overlap' in overlaps/overlap", "overlap", "got 'overlap' in overlaps/overlap"),
        ("momentum must be in [0, 1)", "momentum", "momentum must be in [0, 1)"),  # no such option
        ("overlap must be in [0, 1)", None, "overlap must be in [0, 1)"),
    ],
)  # fmt: skip
def test_user_message_shows_flags_where_the_message_names_fields(
    message: str, field: str | tuple[str, ...] | None, shown: str
) -> None:
    flags = {"--overlap", "--tile", "--split", "--size"}
    command = "synth" if "size" in message else "convert"
    assert user_message(ConfigError(message, field=field), command, flags) == shown


def test_config_error_field_survives_pickling() -> None:
    text = "tile cannot be combined with to=chips"
    error = pickle.loads(pickle.dumps(ConfigError(text, field=("tile", "to"))))
    assert error.fields == ("tile", "to") and str(error) == text
    assert ConfigError("x").fields == () and ConfigError("x", field="tile").fields == ("tile",)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["synth", "--scenes", "100000000"], "--scenes 100,000,000 would write 100,000,000 images"),
        (["synth", "--size", "100000", "100000"], "--size 100000 100000 is 10,000,000,000 px per scene"),
        (["classify", "train", "d", "--memory-limit", "-1"], "--memory-limit must be >= 0, got -1.0"),
        (["detect", "sliding", "m.pt", "x.png", "--stride-multiple", "0"], "--stride-multiple must be"),
        (["demo", "--labels", "x"], "--labels needs --real"),
        (["convert", "l.csv", "--tile", "64", "--to", "chips"], "--tile cannot be combined with --to chips"),
    ],
)
def test_cli_errors_show_flags(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and f"error: {message}" in err and "\n" not in err.strip(), err


def _config_error_texts(path: Path) -> list[str]:
    """The literal text of every ``ConfigError(...)`` message in ``path``."""
    texts = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ConfigError" and node.args:
            parts = [n.value for n in ast.walk(node.args[0]) if isinstance(n, ast.Constant)]
            texts.append("".join(p for p in parts if isinstance(p, str)))
    return texts


def test_library_config_errors_name_fields_not_flags() -> None:
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("cli/"):
            continue
        for text in _config_error_texts(path):
            for flag in re.findall(r"--[a-z][a-z-]*(?: chips)?", text):
                found.add((rel, flag))
    assert found <= FLAG_ON_PURPOSE, sorted(found - FLAG_ON_PURPOSE)

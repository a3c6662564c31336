"""CLI defaults are stated once: options default to None, the config classes own the values."""

from __future__ import annotations

import inspect

import pytest

from tiledet.cli import main
from tiledet.cli.defaults import default_of, given
from tiledet.convert.config import ChipConfig, ConvertConfig, TileConfig

#: convert option -> the config class that owns its default
OWNERS = {
    "fmt": ConvertConfig, "to": ConvertConfig, "val_fraction": ConvertConfig, "seed": ConvertConfig,
    "workers": ConvertConfig, "overlap": TileConfig, "min_visibility": TileConfig,
    "empty_fraction": TileConfig, "chip_size": ChipConfig, "context": ChipConfig, "background": ChipConfig,
}  # fmt: skip


def test_given_and_default_of():
    assert given(a=None, b=0, c=False) == {"b": 0, "c": False}
    assert default_of(TileConfig, "overlap") == 0.2 and default_of(ConvertConfig, "csv_columns") == {}
    with pytest.raises(KeyError):
        default_of(TileConfig, "tile")  # required: no default
    with pytest.raises(KeyError):
        default_of(TileConfig, "nope")


def test_convert_options_default_to_none_and_help_quotes_the_config_default():
    from tiledet.cli.convert import convert_command

    params = inspect.signature(convert_command).parameters
    for name, owner in OWNERS.items():
        option = params[name].default
        assert option.default is None, name
        assert f"Default: {default_of(owner, name)}" in option.help, name


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--overlap", "0.2"], "--overlap only apply with --tile"),  # given, even at the default value
        (["--context", "0.5", "--background", "0"], "--context, --background only apply with --to chips"),
    ],
)
def test_convert_rejects_given_options_that_would_be_ignored(tmp_path, capsys, extra, message):
    code = main(["convert", str(tmp_path / "labels.json"), "--out", str(tmp_path / "out"), *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_eval_options_default_to_none_and_help_quotes_the_config_default():
    from tiledet.cli.evaluate import eval_command
    from tiledet.evaluate.config import EvalConfig

    params = inspect.signature(eval_command).parameters
    for name in ("split", "max_dets", "iou_type", "backend"):
        option = params[name].default
        assert option.default is None, name
        assert f"Default: {default_of(EvalConfig, name)}." in option.help, name
    assert params["fmt"].default.default is None


def test_synth_options_default_to_none_and_help_quotes_the_config_default():
    from tiledet.cli.synth import synth
    from tiledet.synth.config import SynthConfig

    params = inspect.signature(synth).parameters
    for name, field in (
        ("scenes", "scenes"),
        ("seed", "seed"),
        ("image_format", "image_format"),
        ("recipe", "recipe"),
    ):
        option = params[name].default
        assert option.default is None, name
        assert f"Default: {default_of(SynthConfig, field)}." in option.help, name
    width, height = default_of(SynthConfig, "size_wh")
    assert (
        params["size"].default.default is None
        and f"Default: {width} {height}." in params["size"].default.help
    )


def test_draw_options_default_to_none_and_help_quotes_the_config_default():
    from tiledet.cli.draw import draw_command
    from tiledet.draw_config import DrawConfig

    params = inspect.signature(draw_command).parameters
    for name in ("split", "score_threshold", "thickness", "limit"):
        option = params[name].default
        assert option.default is None, name
        assert f"Default: {default_of(DrawConfig, name)}" in option.help, name

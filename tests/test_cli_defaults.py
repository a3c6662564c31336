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


def _configs() -> dict[str, tuple[type, ...]]:
    """Every command -> the config classes its options fill (none for ``classify predict|sweep``)."""
    from tiledet.classify.config import EvalConfig as ClassifyEvalConfig
    from tiledet.classify.config import TrainConfig as ClassifyTrainConfig
    from tiledet.demo import DemoConfig
    from tiledet.detect.config import DetectConfig, SliceConfig, SlidingConfig, SlidingRunConfig
    from tiledet.detect.config import TrainConfig as YoloTrainConfig
    from tiledet.detect.export_run import ExportConfig
    from tiledet.draw_config import DrawConfig
    from tiledet.evaluate.config import EvalConfig
    from tiledet.synth.config import SynthConfig

    return {
        "convert": (ConvertConfig, TileConfig, ChipConfig), "synth": (SynthConfig,), "eval": (EvalConfig,),
        "draw": (DrawConfig,), "classify train": (ClassifyTrainConfig,),
        "classify eval": (ClassifyEvalConfig,), "classify predict": (), "classify sweep": (),
        "detect yolo": (DetectConfig, SliceConfig), "detect train-yolo": (YoloTrainConfig,),
        "detect export": (ExportConfig,),
        "detect sliding": (SlidingRunConfig, SlidingConfig), "demo": (DemoConfig,),
    }  # fmt: skip


def _options(command: str) -> dict[str, object]:
    """Flag -> click option of ``tiledet COMMAND`` (both flags of an on/off pair)."""
    from tiledet.cli import _command, _register_commands

    _register_commands()
    cmd = _command()
    for name in command.split():
        cmd = cmd.commands[name]
    return {flag: p for p in cmd.params for flag in (*p.opts, *p.secondary_opts) if flag.startswith("--")}


def _field_defaults(classes: tuple[type, ...]) -> dict[str, object]:
    """Field -> default of the first class that has the field with a default."""
    import contextlib
    import dataclasses

    out: dict[str, object] = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.name not in out:
                with contextlib.suppress(KeyError):  # a required field
                    out[f.name] = default_of(cls, f.name)
    return out


def _leaf_commands() -> set[str]:
    from tiledet.cli import _command, _register_commands

    _register_commands()
    out, stack = set(), [("", _command())]
    while stack:
        path, cmd = stack.pop()
        subs = getattr(cmd, "commands", None)
        if subs:
            stack.extend((f"{path} {name}".strip(), sub) for name, sub in subs.items())
        else:
            out.add(path)
    return out


def test_every_command_takes_each_option_default_from_its_config_field():
    from tiledet.cli.defaults import shown
    from tiledet.cli.flags import flag_of

    configs = _configs()
    assert set(configs) == _leaf_commands()
    checked: dict[str, int] = {}
    for command, classes in configs.items():
        options = _options(command)
        for field, default in _field_defaults(classes).items():
            option = options.get(flag_of(command, field))
            if option is None:
                continue  # no option of this command sets the field (or it is an argument)
            checked[command] = checked.get(command, 0) + 1
            where = f"tiledet {command} {flag_of(command, field)}"
            if option.default is not None:
                assert option.default == default, where
            elif default is not None and default not in ({}, ()):  # "none" defaults are said in words
                help_text = option.help or ""
                assert f"Default: {shown(default)}" in help_text or f"Default: {default}" in help_text, where
    assert checked == {
        "convert": 25, "synth": 6, "eval": 9, "draw": 10, "classify train": 26, "classify eval": 5,
        "detect yolo": 17, "detect train-yolo": 15, "detect sliding": 16, "demo": 6, "detect export": 8,
    }  # fmt: skip

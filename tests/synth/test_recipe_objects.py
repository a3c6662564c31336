"""Synthetic recipe validation, object sprites (hypothesis), and the `tiledet synth` CLI."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiledet.errors import ConfigError, InputError
from tiledet.labels.classes import ClassMap
from tiledet.recipes import load_recipe
from tiledet.synth.objects import DESIGNS, make_sprite
from tiledet.synth.recipe import LOOKS, load_synth_recipe, parse_recipe


def test_bundled_recipe_uses_xview_ids_and_names() -> None:
    recipe = load_synth_recipe()
    xview = dict(zip(ClassMap.xview().ids or (), ClassMap.xview().names, strict=True))
    assert {c.type_id for c in recipe.classes} >= {18, 19, 23, 73, 86, 11, 12, 40}
    for cls in recipe.classes:
        assert xview[cls.type_id] == cls.name
        assert cls.look in LOOKS
    car = next(c for c in recipe.classes if c.type_id == 18)
    assert car.size_px == (8, 20)


def _raw() -> dict:
    return copy.deepcopy(load_recipe("synthetic_xview.yaml"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["classes"][0].update(name="Bus"), "type id 18"),
        (lambda r: r["classes"][0].update(look="blob"), "unknown look"),
        (lambda r: r["classes"][0].update(size_px=[20, 8]), "size_px"),
        (lambda r: r["classes"][0].update(count=[-1, 3]), "count"),
        (lambda r: r["classes"][0].update(on_road=1.5), "on_road"),
        (lambda r: r["classes"][0].pop("type_id"), "type_id"),
        (lambda r: r["classes"].append(dict(r["classes"][0])), "once"),
        (lambda r: r.update(classes=[]), "non-empty"),
    ],
)
def test_invalid_recipe_raises_config_error_naming_the_entry(change, message: str) -> None:
    raw = _raw()
    change(raw)
    with pytest.raises(ConfigError, match=message):
        parse_recipe(raw, "my.yaml")


def test_recipe_from_file_and_missing_recipe(tmp_path: Path) -> None:
    import yaml

    raw = _raw()
    raw["classes"] = raw["classes"][:1]
    path = tmp_path / "cars.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert [c.type_id for c in load_synth_recipe(path).classes] == [18]
    with pytest.raises(InputError, match=r"nope\.yaml"):
        load_synth_recipe("nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(InputError, match=r"bad\.yaml"):
        load_synth_recipe(bad)


@settings(max_examples=60, deadline=None)
@given(
    look=st.sampled_from(sorted(DESIGNS)),
    size=st.floats(8, 150),
    angle=st.floats(0, 2 * np.pi),
    sun=st.floats(0, 2 * np.pi),
    seed=st.integers(0, 2**16),
)
def test_sprite_box_is_tight_and_has_the_requested_size(look, size, angle, sun, seed) -> None:
    sprite = make_sprite(look, np.random.default_rng(seed), size, angle, (np.cos(sun), np.sin(sun)))
    x0, y0, x1, y1 = sprite.box_xyxy
    ys, xs = np.nonzero(sprite.mask)
    assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert abs(max(x1 - x0, y1 - y0) - size) <= 1.0
    assert not (sprite.shadow & sprite.mask).any()
    # the whole canvas border is empty, so a placed sprite never reaches past its canvas
    footprint = sprite.mask | sprite.shadow
    assert not footprint[0].any() and not footprint[-1].any()
    assert not footprint[:, 0].any() and not footprint[:, -1].any()


def test_cli_writes_dataset_and_reports_bad_options(tmp_path: Path, capsys) -> None:
    from tiledet.cli import main

    out = tmp_path / "out"
    code = main(["synth", "--out", str(out), "--scenes", "1", "--size", "256", "200", "--seed", "4",
                 "--image-format", "png"])
    assert code == 0
    assert (out / "images" / "synth_0000.png").is_file()
    assert (out / "labels.csv").read_text().startswith("image_id,xmin,ymin,xmax,ymax,type_id\n")
    assert main(["synth", "--out", str(tmp_path / "x"), "--scenes", "0"]) == 2
    assert "scenes" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "y"), "--size", "0", "100"]) == 2
    assert main(["synth", "--out", str(tmp_path / "z"), "--image-format", "bmp"]) == 2
    assert not (tmp_path / "x").exists()

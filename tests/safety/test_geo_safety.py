"""Issue 19's new paths never touch the user's files: COG scenes, map-coordinate labels, geo outputs.

Inputs are built under ``tmp_path``, the whole tree (bytes and modes) is snapshot, the CLI or library
runs, and the file system is checked afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from .data import run_cli
from .snapshot import assert_preserved, snapshot

pytest.importorskip("rasterio")


def _modes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): os.lstat(p).st_mode for p in root.rglob("*")}


@pytest.fixture
def cogs(tmp_path: Path) -> Path:
    from tiledet.synth.config import SynthConfig
    from tiledet.synth.generate import generate_scenes

    generate_scenes(SynthConfig(tmp_path / "ds", scenes=2, size_wh=(256, 192), image_format="cog"))
    for path in (tmp_path / "ds").rglob("*"):
        if path.is_file():
            path.chmod(0o444)  # read-only inputs: nothing may need to write them
    return tmp_path / "ds"


@pytest.mark.parametrize(
    "extra", [["--tile", "128"], ["--to", "chips"], ["--tile", "128", "--block-size", "30m"]]
)
def test_convert_from_map_coordinates_writes_only_into_out(
    tmp_path: Path, cogs: Path, capsys: pytest.CaptureFixture, extra: list[str]
) -> None:
    before, modes = snapshot(tmp_path), _modes(tmp_path)
    args = ["convert", cogs / "labels.geojson", "--images", cogs / "images", "--out", tmp_path / "out",
            "--quiet", "--workers", 1, "--val-fraction", 0.5, *extra]  # fmt: skip
    code, err = run_cli(args, capsys)
    assert code == 0, err
    assert_preserved(before, tmp_path, inside="out")
    assert {k: v for k, v in _modes(tmp_path).items() if k in modes} == modes  # no chmod of inputs


@dataclass(frozen=True)
class _Scene:
    path: Path
    file_name: str


@pytest.mark.parametrize("users", ["dets.geojson", "dets.json"])
def test_geo_output_never_replaces_a_file_tiledet_did_not_write(
    tmp_path: Path, cogs: Path, users: str
) -> None:
    """A geo ``--out`` also writes its COCO twin: a user's file under either name is refused, untouched."""
    from tiledet.errors import TiledetError
    from tiledet.formats.geo_results import prepare_detections_output

    (tmp_path / "o").mkdir()
    (tmp_path / "o" / users).write_bytes(b"the user's own file")
    before = snapshot(tmp_path)
    scenes = [_Scene(cogs / "images" / "synth_0000.tif", "synth_0000.tif")]
    with pytest.raises(TiledetError, match=users.replace(".", r"\.")):
        prepare_detections_output(tmp_path / "o" / "dets.geojson", scenes, command="detect yolo")
    assert snapshot(tmp_path) == before

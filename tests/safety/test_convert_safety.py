"""Issue 7 findings, one test each: ``tiledet convert`` never destroys, never escapes ``--out``, never lies.

Every test builds its inputs under ``tmp_path``, snapshots the whole tree, runs the CLI, and checks the
file system afterwards (pre-existing entries unchanged, nothing new outside ``--out``) and the exit code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .data import dataset, run_cli, write_coco, write_csv, write_png
from .snapshot import assert_preserved, snapshot

MANIFEST = ".tiledet-manifest.json"


def _convert(labels: Path, images: Path, out: Path, *extra: object) -> list[object]:
    return ["convert", labels, "--images", images, "--out", out, "--quiet", "--workers", 1, *extra]


# ----------------------------------------------------------------- 1. deleting the user's files


def _users_folder(out: Path) -> None:
    """A folder that looks like an output but is the user's: every managed name is taken."""
    for rel in ("images/train/x.png", "labels/train/notes.txt", "annotations/train.json", "data.yaml",
                "chips.csv", "chips.yaml", "train/car/c.png", "val/car/d.png", "report.json"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(f"the user's {rel}".encode())


@pytest.mark.parametrize("extra", [[], ["--tile", "32"], ["--to", "chips"], ["--to", "coco"]])
def test_non_empty_out_without_manifest_is_refused(tmp_path: Path, capsys, extra: list[str]) -> None:
    labels, images = dataset(tmp_path / "ds")
    out = tmp_path / "out"
    _users_folder(out)
    before = snapshot(tmp_path)
    code, err = run_cli(_convert(labels, images, out, *extra), capsys)
    assert code == 2
    assert "not empty and was not written by tiledet" in err and "--force" in err and str(out) in err
    assert_preserved(before, tmp_path)
    assert snapshot(tmp_path) == before  # not even a manifest


def test_force_writes_beside_the_users_files_and_deletes_none(tmp_path: Path, capsys) -> None:
    labels, images = dataset(tmp_path / "ds")
    out = tmp_path / "out"
    for rel in ("labels/train/notes.txt", "chips.yaml", "train/car/c.png", "images/keep.png"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(f"the user's {rel}".encode())
    before = snapshot(tmp_path)
    code, err = run_cli(_convert(labels, images, out, "--force", "--val-fraction", 0), capsys)
    assert code == 0, err
    assert_preserved(before, tmp_path, inside="out")
    assert (out / "labels/train/a.txt").is_file() and (out / "report.json").is_file()
    owned = json.loads((out / MANIFEST).read_text())
    assert "labels/train/notes.txt" not in owned["files"] and owned["complete"] is True
    # a second run (now the folder has a manifest) still leaves the user's files alone
    code, err = run_cli(_convert(labels, images, out, "--val-fraction", 0, "--to", "coco"), capsys)
    assert code == 0, err
    assert_preserved(before, tmp_path, inside="out")
    assert not (out / "labels/train/a.txt").exists()  # ours, stale after switching to COCO: removed


def test_force_never_overwrites_a_users_file_in_the_way(tmp_path: Path, capsys) -> None:
    labels, images = dataset(tmp_path / "ds")
    out = tmp_path / "out"
    write_png(out / "whatever.png")
    (out / "data.yaml").write_text("the user's data.yaml\n")
    before = snapshot(tmp_path)
    code, err = run_cli(_convert(labels, images, out, "--force"), capsys)
    assert code == 2 and "data.yaml exists and was not written by tiledet" in err
    assert_preserved(before, tmp_path, inside="out")


def test_rerun_removes_only_what_the_previous_run_wrote(tmp_path: Path, capsys) -> None:
    labels, images = dataset(tmp_path / "ds", ("a.png", "b.png", "c.png"))
    out = tmp_path / "out"
    assert run_cli(_convert(labels, images, out, "--val-fraction", 0), capsys)[0] == 0
    (out / "labels/train/notes.txt").write_text("mine")  # the user adds a file to our folder
    write_csv(labels, [("a.png", 5, 5, 25, 20, "18")])  # fewer images: b and c become stale
    before = snapshot(tmp_path)
    assert run_cli(_convert(labels, images, out, "--val-fraction", 0), capsys)[0] == 0
    assert (out / "labels/train/notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (out / "labels/train").iterdir()) == ["a.txt", "notes.txt"]
    gone = {rel for rel in before if rel not in snapshot(tmp_path)}
    assert gone == {"out/images/train/b.png", "out/images/train/c.png",
                    "out/labels/train/b.txt", "out/labels/train/c.txt"}


# --------------------------------------------------------------------- 2. deleting the source data


@pytest.mark.parametrize(
    ("images_rel", "out_rel"),
    [
        ("ds/images", "ds"),  # out contains the images and the labels
        ("ds/images", "ds/images"),  # out is the images folder
        ("ds/images", "ds/images/out"),  # out inside the images
        ("ds/images/train", "ds"),  # YOLO-style root around the split folder
    ],
)
@pytest.mark.parametrize("extra", [[], ["--tile", "32"]])
def test_out_overlapping_the_sources_is_refused_before_anything(
    tmp_path: Path, capsys, images_rel: str, out_rel: str, extra: list[str]
) -> None:
    images = tmp_path / images_rel
    for k, name in enumerate(("a.png", "b.png")):
        write_png(images / name, value=50 + k)
    rows = [("a.png", 5, 5, 25, 20, "18"), ("b.png", 1, 1, 9, 9, "18")]
    labels = write_csv(tmp_path / "ds/labels.csv", rows)
    before = snapshot(tmp_path)
    code, err = run_cli(_convert(labels, images, tmp_path / out_rel, *extra), capsys)
    assert code == 2 and "overlaps the input" in err
    assert snapshot(tmp_path) == before


def test_out_reaching_the_images_through_a_symlink_is_refused(tmp_path: Path, capsys) -> None:
    labels, images = dataset(tmp_path / "ds")
    (tmp_path / "alias").symlink_to(tmp_path / "ds")
    before = snapshot(tmp_path)
    code, err = run_cli(_convert(labels, images, tmp_path / "alias/images/sub"), capsys)
    assert code == 2 and "overlaps the input" in err
    assert snapshot(tmp_path) == before


def test_out_being_the_label_folder_is_refused(tmp_path: Path, capsys) -> None:
    """``convert labelTxt --images images --out labelTxt``-like: the label source is a folder."""
    write_png(tmp_path / "images/P1.png")
    (tmp_path / "labelTxt").mkdir()
    (tmp_path / "labelTxt/P1.txt").write_text("1 1 20 1 20 20 1 20 plane 0\n")
    before = snapshot(tmp_path)
    code, err = run_cli(_convert(tmp_path / "labelTxt", tmp_path / "images", tmp_path / "labelTxt"), capsys)
    assert code == 2 and "overlaps the input" in err
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------ 3. writing outside --out


def _victim(tmp_path: Path) -> Path:
    victim = write_png(tmp_path / "victim/photo.png", value=7)
    (tmp_path / "victim/photo.txt").write_text("the victim's notes\n")
    return victim


@pytest.mark.parametrize("strict", [False, True])
def test_names_climbing_out_are_dropped_as_unsafe(tmp_path: Path, capsys, strict: bool) -> None:
    labels, images = dataset(tmp_path / "ds")
    _victim(tmp_path)
    rows = [("a.png", 5, 5, 25, 20, "18"), ("../../victim/photo.png", 5, 5, 25, 20, "18"),
            (str(tmp_path / "victim/photo.png"), 1, 1, 20, 20, "18")]
    write_csv(labels, rows)
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    args = _convert(labels, images, out, "--val-fraction", 0, "--copy") + (["--strict"] if strict else [])
    code, err = run_cli(args, capsys)
    assert_preserved(before, tmp_path, inside="out")
    if strict:
        assert code == 2 and "unsafe_name" in err and "outside the images folder" in err
        return
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["dropped"]["unsafe_name"] == 2 and report["written_boxes"] == 1
    assert sorted(p.name for p in (out / "images/train").iterdir()) == ["a.png"]


def test_coco_file_name_climbing_out_writes_nothing_outside(tmp_path: Path, capsys) -> None:
    write_png(tmp_path / "ds/images/a.png")
    _victim(tmp_path)
    coco = write_coco(
        tmp_path / "ds/coco.json",
        [("a.png", 64, 48), ("../../victim/photo.png", 64, 48), ("../../../victim/v.png", 64, 48)],
        [(0, [5, 5, 20, 15]), (1, [1, 1, 10, 10]), (2, [1, 1, 10, 10])],
    )
    before = snapshot(tmp_path)
    for extra in ([], ["--tile", "32"], ["--to", "chips"]):
        out = tmp_path / f"out{len(extra)}{extra[-1] if extra else ''}"
        code, err = run_cli(_convert(coco, tmp_path / "ds/images", out, "--val-fraction", 0, *extra), capsys)
        assert code == 0, err
        assert json.loads((out / "report.json").read_text())["dropped"]["unsafe_name"] == 2
    assert_preserved(before, tmp_path)
    new = {rel for rel in snapshot(tmp_path) if rel not in before}
    assert all(rel.startswith("out") for rel in new), sorted(new)


def test_absolute_and_dotdot_names_inside_images_are_kept_relative(tmp_path: Path, capsys) -> None:
    labels, images = dataset(tmp_path / "ds", ("a.png", "sub/b.png"))
    rows = [(str(images / "a.png"), 5, 5, 25, 20, "18"), ("sub/../sub/b.png", 5, 5, 25, 20, "18")]
    write_csv(labels, rows)
    out = tmp_path / "out"
    code, err = run_cli(_convert(labels, images, out, "--val-fraction", 0), capsys)
    assert code == 0, err
    assert (out / "labels/train/a.txt").is_file() and (out / "labels/train/sub/b.txt").is_file()
    assert (out / "images/train/a.png").resolve() == (images / "a.png").resolve()


# ----------------------------------------------------------------------- 5. success on failure


def test_no_box_written_from_a_non_empty_input_fails(tmp_path: Path, capsys) -> None:
    labels, images = dataset(tmp_path / "ds")
    write_csv(labels, [("a.png", 5, 5, 5.5, 20, "18"), ("b.png", 9, 9, 9.2, 9.2, "18")])  # all degenerate
    out = tmp_path / "out"
    code, err = run_cli(_convert(labels, images, out), capsys)
    assert code == 2 and "no box was written" in err and "2 degenerate" in err
    assert json.loads((out / "report.json").read_text())["written_boxes"] == 0


def test_interrupted_tiling_exits_130_and_leaves_no_stale_report(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tiledet.convert.tiling as tiling

    labels, images = dataset(tmp_path / "ds", ("a.png", "b.png", "c.png"))
    out = tmp_path / "out"
    assert run_cli(_convert(labels, images, out, "--tile", "32", "--val-fraction", 0), capsys)[0] == 0
    assert (out / "report.json").is_file()
    real = tiling._tile_scene
    calls = []

    def interrupted(task):  # Ctrl-C while the second scene is being cut
        calls.append(task.image.file_name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(tiling, "_tile_scene", interrupted)
    code, err = run_cli(_convert(labels, images, out, "--tile", "24", "--val-fraction", 0), capsys)
    assert code == 130 and "interrupted" in err
    assert not (out / "report.json").exists()  # the previous report does not vouch for this output
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] is False
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*")
               if p.is_file() and p.name not in (MANIFEST, ".tiledet.lock")}
    assert on_disk <= set(manifest["files"])  # every partial file is listed, so the next run can clean it
    monkeypatch.setattr(tiling, "_tile_scene", real)
    code, err = run_cli(_convert(labels, images, out, "--tile", "24", "--val-fraction", 0), capsys)
    assert code == 0, err
    assert json.loads((out / MANIFEST).read_text())["complete"] is True
    tiles = sorted(p.name for p in (out / "images/train").iterdir())
    assert tiles and all("__x" in t for t in tiles) and not any(t.endswith("x32_y0.png") for t in tiles)


# ------------------------------------------------------------------------------ 6. silently wrong


@pytest.mark.parametrize("to", ["coco", "yolo"])
def test_names_colliding_in_the_output_are_an_error_naming_both(tmp_path: Path, capsys, to: str) -> None:
    labels, images = dataset(tmp_path / "ds", ("a.png", "images/a.png", "labels/a.png"))
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    code, err = run_cli(_convert(labels, images, out, "--to", to, "--val-fraction", 0), capsys)
    assert code == 2 and "'a.png'" in err and "'images/a.png'" in err
    assert snapshot(tmp_path) == before  # refused before --out was created


def test_absurd_coordinates_are_out_of_bounds_not_full_image_boxes(tmp_path: Path, capsys) -> None:
    labels, images = dataset(tmp_path / "ds")
    write_csv(labels, [("a.png", 5, 5, 25, 20, "18"), ("b.png", 0, 0, 1e308, 1e308, "18"),
                       ("b.png", -100, 2, 30, 30, "18"), ("b.png", -60, -40, 120, 90, "18")])
    out = tmp_path / "out"
    code, err = run_cli(_convert(labels, images, out, "--val-fraction", 0), capsys)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["dropped"]["out_of_bounds"] == 2  # 1e308 and x0 = -100 (more than one width out)
    assert report["written_boxes"] == 2
    # the box reaching less than one image size out is clipped to the full 64x48 image
    line = (out / "labels/train/b.txt").read_text().split()
    assert line[1:] == ["0.500000", "0.500000", "1.000000", "1.000000"]


@pytest.mark.parametrize("strict", [False, True])
def test_over_long_name_gives_a_clear_message(tmp_path: Path, capsys, strict: bool) -> None:
    write_png(tmp_path / "ds/images/a.png")
    long_name = "x" * 296 + ".png"
    coco = write_coco(tmp_path / "ds/c.json", [("a.png", 64, 48), (long_name, 64, 48)],
                      [(0, [5, 5, 20, 15]), (1, [1, 1, 10, 10])])
    out = tmp_path / "out"
    args = _convert(coco, tmp_path / "ds/images", out, *(["--strict"] if strict else []))
    code, err = run_cli(args, capsys)
    if strict:
        assert code == 2 and "longer than 255 bytes" in err and "Errno" not in err
        return
    assert code == 0, err
    drops = json.loads((out / "report.json").read_text())["drops"]
    assert [d["reason"] for d in drops] == ["unsafe_name"] and "255 bytes" in drops[0]["detail"]


def test_tile_names_too_long_for_the_file_system_are_refused_clearly(tmp_path: Path, capsys) -> None:
    name = "y" * 245 + ".png"  # fine as a scene; its tiles' names get "__x0_y0" and pass 255 bytes
    labels, images = dataset(tmp_path / "ds", (name,))
    out = tmp_path / "out"
    code, err = run_cli(_convert(labels, images, out, "--tile", "32"), capsys)
    assert code == 2 and "longer than the 255 bytes" in err and "Traceback" not in err
    assert not out.exists()


def test_absurd_tile_count_is_refused_with_the_number(tmp_path: Path, capsys) -> None:
    labels, images = dataset(tmp_path / "ds")
    out = tmp_path / "out"
    code, err = run_cli(_convert(labels, images, out, "--tile", "16", "--overlap", "0.999"), capsys)
    # 64x48 scenes, tile 16, stride 1: 49 x 33 = 1617 tiles each, 3234 in all vs 24 without overlap
    assert code == 2 and "3,234 tiles" in err and "24 tiles without overlap" in err
    assert not out.exists()


def test_huge_chip_size_is_refused(tmp_path: Path, capsys) -> None:
    labels, images = dataset(tmp_path / "ds")
    args = _convert(labels, images, tmp_path / "out", "--to", "chips", "--chip-size", 100000)
    code, err = run_cli(args, capsys)
    assert code == 2 and "chip-size" in err and "100000" in err and "limit 4096" in err
    assert not (tmp_path / "out").exists()


def test_huge_synth_scene_is_refused(tmp_path: Path, capsys) -> None:
    code, err = run_cli(["synth", "--out", tmp_path / "s", "--size", 100000, 100000, "--quiet"], capsys)
    assert code == 2 and "10,000,000,000 px" in err and "GiB" in err
    assert not (tmp_path / "s").exists()


def test_synth_refuses_a_users_folder_and_removes_only_its_own_stale_scenes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s"
    (out / "images").mkdir(parents=True)
    (out / "images/holiday.png").write_bytes(b"the user's photo")
    before = snapshot(tmp_path)
    args = ["synth", "--out", out, "--size", 64, 64, "--scenes", 2, "--quiet"]
    code, err = run_cli(args, capsys)
    assert code == 2 and "not empty" in err
    assert snapshot(tmp_path) == before
    assert run_cli([*args, "--force"], capsys)[0] == 0
    assert run_cli(["synth", "--out", out, "--size", 64, 64, "--scenes", 1, "--quiet"], capsys)[0] == 0
    assert sorted(p.name for p in (out / "images").iterdir()) == ["holiday.png", "synth_0000.tif"]
    assert_preserved(before, tmp_path, inside="s")


def test_eval_gt_with_duplicate_file_names_is_an_error(tmp_path: Path, capsys) -> None:
    gt = write_coco(tmp_path / "gt.json", [("a.png", 64, 48), ("a.png", 64, 48)],
                    [(0, [5, 5, 20, 15]), (1, [1, 1, 10, 10])])
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"file_name": "a.png", "category_id": 1, "bbox": [5, 5, 20, 9], "score": 1}]))
    before = snapshot(tmp_path)
    code, err = run_cli(["eval", gt, dets, "--out", tmp_path / "ev"], capsys)
    assert code == 2 and "images 1 and 2 have the same file_name 'a.png'" in err
    assert snapshot(tmp_path) == before


def test_eval_out_refuses_a_users_folder(tmp_path: Path, capsys) -> None:
    gt = write_coco(tmp_path / "gt.json", [("a.png", 64, 48)], [(0, [5, 5, 20, 15])])
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"file_name": "a.png", "category_id": 1, "bbox": [5, 5, 20, 9], "score": 1}]))
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev/metrics.json").write_text("the user's metrics")
    before = snapshot(tmp_path)
    code, err = run_cli(["eval", gt, dets, "--out", tmp_path / "ev", "--quiet"], capsys)
    assert code == 2 and "not empty" in err
    code, err = run_cli(["eval", gt, dets, "--out", tmp_path / "ev", "--quiet", "--force"], capsys)
    assert code == 2 and "metrics.json exists and was not written by tiledet" in err
    assert_preserved(before, tmp_path, inside="ev")


def test_names_just_under_the_limit_convert(tmp_path: Path, capsys) -> None:
    """A 254-byte name is legal; the temporary file beside it must not push it over 255 bytes."""
    name = "z" * 250 + ".png"
    labels, images = dataset(tmp_path / "ds", (name,))
    out = tmp_path / "out"
    code, err = run_cli(_convert(labels, images, out, "--copy", "--val-fraction", 0), capsys)
    assert code == 0, err
    assert (out / "images/train" / name).read_bytes() == (images / name).read_bytes()
    assert (out / "labels/train" / ("z" * 250 + ".txt")).is_file()


@pytest.mark.parametrize(("extra", "taken"), [
    (["--tile", "32"], "images/train/a__x0_y0.png"),  # written by a worker process
    (["--to", "chips"], "train/Small_Car/a__00000.png"),
])
def test_force_workers_never_overwrite_a_users_file(
    tmp_path: Path, capsys, extra: list[str], taken: str
) -> None:
    labels, images = dataset(tmp_path / "ds")
    out = tmp_path / "out"
    (out / taken).parent.mkdir(parents=True)
    (out / taken).write_bytes(b"the user's picture")
    before = snapshot(tmp_path)
    code, err = run_cli(_convert(labels, images, out, "--force", "--val-fraction", 0, *extra), capsys)
    assert code == 2 and "exists and was not written by tiledet" in err and "Traceback" not in err
    assert_preserved(before, tmp_path, inside="out")

"""Ownership, containment and source checks of tiledet.outdir, with the file system checked after."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiledet.errors import ConfigError
from tiledet.outdir import (
    MANIFEST,
    OutputDir,
    UnsafePathError,
    prepare_output_file,
    record_output_file,
    safe_relpath,
)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative name -> bytes), links by their target."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
    return out


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.txt", "a.txt"), ("./x/y.png", "x/y.png"), ("x//y", "x/y"), ("ünï/çodé.png", "ünï/çodé.png")],
)
def test_safe_relpath_accepts(name: str, expected: str) -> None:
    assert str(safe_relpath(name)) == expected


@pytest.mark.parametrize("name", ["", ".", "/etc/passwd", "../a", "a/../../b", "a/..", "x\x00y", "a" * 256])
def test_safe_relpath_rejects(name: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_relpath(name)


def test_refuses_non_empty_foreign_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    refused = pytest.raises(ConfigError, match="not empty and was not written by tiledet")
    with refused, OutputDir(out, command="test"):
        pass
    assert snapshot(tmp_path) == before


def test_force_never_overwrites_foreign_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with OutputDir(out, command="test", force=True) as od:
        od.write_text("result.txt", "ours")
        with pytest.raises(ConfigError, match="not written by tiledet"):
            od.write_text("notes.txt", "clobber")
    assert (out / "notes.txt").read_text() == "mine"
    manifest = json.loads((out / MANIFEST).read_text())
    st = os.lstat(out / "result.txt")
    assert manifest["files"] == {"result.txt": [st.st_size, st.st_mtime_ns, st.st_ino]}
    assert (manifest["tool"], manifest["version"], manifest["command"]) == ("tiledet", 2, "test")
    assert manifest["root"] == os.path.realpath(out) and manifest["complete"] is True


def test_remove_stale_only_touches_own_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with OutputDir(out, command="test") as od:
        od.write_text("labels/a.txt", "1")
        od.write_text("labels/b.txt", "2")
    (out / "labels" / "user.txt").write_text("user")
    with OutputDir(out, command="test") as od:
        od.write_text("labels/a.txt", "1")
        assert od.remove_stale() == 1
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["a.txt", "user.txt"]
    assert list(json.loads((out / MANIFEST).read_text())["files"]) == ["labels/a.txt"]


def test_remove_stale_prunes_empty_folders(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with OutputDir(out, command="test") as od:
        od.write_text("old/deep/x.txt", "1")
    with OutputDir(out, command="test") as od:
        od.write_text("new.txt", "2")
        od.remove_stale()
    assert not (out / "old").exists()


def test_exception_marks_manifest_incomplete_and_keeps_ownership(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), OutputDir(out, command="test") as od:
        od.write_text("part.txt", "x")
        raise KeyboardInterrupt
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] is False
    assert list(manifest["files"]) == ["part.txt"]
    with OutputDir(out, command="test") as od:  # the partial folder is ours: no --force, and clean-up works
        assert not od.previous_complete
        od.remove_stale()
    assert not (out / "part.txt").exists()


@pytest.mark.parametrize("layout", ["equal", "inside", "contains"])
def test_refuses_overlap_with_sources(tmp_path: Path, layout: str) -> None:
    src = tmp_path / "data"
    (src / "images").mkdir(parents=True)
    (src / "images" / "a.png").write_bytes(b"png")
    out = {"equal": src, "inside": src / "images" / "out", "contains": tmp_path}[layout]
    before = snapshot(tmp_path)
    refused = pytest.raises(ConfigError, match="overlaps the input")
    with refused, OutputDir(out, command="test", sources=[src / "images"]):
        pass
    assert snapshot(tmp_path) == before


def test_refuses_source_through_symlink(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    link = tmp_path / "link"
    link.symlink_to(images)
    refused = pytest.raises(ConfigError, match="overlaps")
    with refused, OutputDir(link / "out", command="test", sources=[images]):
        pass
    assert list(images.iterdir()) == []


def test_symlinked_subfolder_cannot_escape(tmp_path: Path) -> None:
    out = tmp_path / "out"
    victim = tmp_path / "victim"
    victim.mkdir()
    with OutputDir(out, command="test") as od:
        od.write_text("a.txt", "1")
    (out / "sub").symlink_to(victim)
    with OutputDir(out, command="test") as od, pytest.raises(UnsafePathError, match="outside"):
        od.write_text("sub/x.txt", "escape")
    assert list(victim.iterdir()) == []


def test_single_file_outputs(tmp_path: Path) -> None:
    user = tmp_path / "dets.json"
    user.write_text("user data")
    for _ in range(2):
        with pytest.raises(ConfigError, match="not written by tiledet"):
            prepare_output_file(user, command="test")
    assert user.read_text() == "user data"
    ours = prepare_output_file(tmp_path / "sub" / "mine.json", command="test")
    ours.write_text("[]")
    record_output_file(ours, command="test")
    assert prepare_output_file(ours, command="test") == ours  # ours: may be replaced
    assert not (ours.parent / MANIFEST).exists()  # one file never makes its folder tiledet's
    with pytest.raises(ConfigError, match="written by `tiledet test`"):
        prepare_output_file(ours, command="other")
    with pytest.raises(ConfigError, match="overlaps"):
        prepare_output_file(tmp_path / "in" / "d.json", command="test", sources=[tmp_path / "in"])


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_no_name_escapes(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    root = tmp_path_factory.mktemp("prop")
    out = root / "out"
    with OutputDir(out, command="test") as od:
        try:
            path = od.check(name)
        except ConfigError:
            return
        real_out = Path(os.path.realpath(out))
        real_parent = Path(os.path.realpath(path.parent))
        assert real_parent == real_out or real_out in real_parent.parents


def test_files_workers_wrote_are_listed_when_the_run_fails_anywhere(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "tiles").mkdir(parents=True)
    (out / "tiles" / "users.png").write_bytes(b"the user's")
    with pytest.raises(RuntimeError), OutputDir(out, command="test", force=True) as od:
        protected = od.watch(["tiles"])
        (out / "tiles" / "w0.png").write_bytes(b"a worker wrote this")  # never told to od
        raise RuntimeError("the consumer failed, not the workers")
    assert protected == {"tiles/users.png"}
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] is False and list(manifest["files"]) == ["tiles/w0.png"]
    with OutputDir(out, command="test") as od:  # the next run owns the worker's file and cleans it
        assert od.remove_stale() == 1
    assert sorted(p.name for p in (out / "tiles").iterdir()) == ["users.png"]

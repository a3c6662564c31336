"""Ownership that cannot be borrowed (tiledet.ownership through OutputDir), with the file system checked.

Each test plants, edits, copies or replaces what a manifest describes and checks that the user's
files keep their names, bytes and modes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tiledet.convert.write import place_image
from tiledet.errors import ConfigError
from tiledet.outdir import MANIFEST, OutputDir, prepare_output_file, record_output_file
from tiledet.ownership import LOCK, output_complete, read_ownership, sidecar_path


def digest(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: relative name -> (sha256 of its bytes or link target, mode)."""
    out = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            p = Path(folder) / name
            st = os.lstat(p)
            data = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
            out[p.relative_to(root).as_posix()] = (hashlib.sha256(data).hexdigest(), st.st_mode)
    return out


def _run(out: Path, command: str = "convert", **kw) -> OutputDir:
    with OutputDir(out, command=command, **kw) as od:
        od.write_text("labels/a.txt", "0 0.5 0.5 0.1 0.1\n")
        od.remove_stale()
    return od


def test_manifest_is_signed_and_bound_to_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(out)
    own = read_ownership(out)
    assert own.trusted and own.command == "convert" and own.complete
    assert set(own.files) == {"labels/a.txt"}


@pytest.mark.parametrize("planted", ["names-only", "forged-fingerprints", "edited"])
def test_a_planted_manifest_never_deletes_the_users_file(tmp_path: Path, planted: str) -> None:
    out = tmp_path / "out"
    if planted == "edited":  # a real manifest of ours, with the user's file added by hand
        _run(out)
    out.mkdir(exist_ok=True)
    thesis = out / "thesis.txt"
    thesis.write_text("four years of work")
    st = os.lstat(thesis)
    if planted == "names-only":  # the manifest format earlier tiledet versions trusted
        data = {"tool": "tiledet", "complete": True, "files": ["thesis.txt"]}
    else:
        data = json.loads((out / MANIFEST).read_text()) if planted == "edited" else {
            "tool": "tiledet", "version": 2, "command": "convert", "root": os.path.realpath(out),
            "complete": True, "files": {}, "signature": "0" * 64,
        }
        data["files"]["thesis.txt"] = [st.st_size, st.st_mtime_ns, st.st_ino]  # copied from stat
    (out / MANIFEST).write_text(json.dumps(data))
    before = digest(tmp_path)
    for force in (False, True):
        with pytest.raises(ConfigError, match="proves nothing"):
            _run(out, force=force)
    assert digest(tmp_path) == before


def test_a_copied_output_folder_is_not_trusted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(out)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, symlinks=True)
    before = digest(copy)
    with pytest.raises(ConfigError, match="copied or moved"):
        _run(copy)
    assert digest(copy) == before


def test_a_file_the_user_replaced_is_the_users_again(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with OutputDir(out, command="convert") as od:
        od.write_text("labels/a.txt", "ours")
        od.write_text("labels/b.txt", "ours")
    (out / "labels" / "b.txt").unlink()
    (out / "labels" / "b.txt").write_text("the user's now")  # same name, new inode and bytes
    before = digest(out / "labels")
    with OutputDir(out, command="convert") as od:
        assert od.owns("labels/a.txt") and not od.owns("labels/b.txt")
        with pytest.raises(ConfigError, match="not written by tiledet"):
            od.write_text("labels/b.txt", "clobber")
        od.remove_stale()
    assert (out / "labels" / "b.txt").read_text() == "the user's now"
    assert digest(out / "labels")["b.txt"] == before["b.txt"]
    assert not (out / "labels" / "a.txt").exists()


@pytest.mark.parametrize(("first", "second"), [("classify train", "synth"), ("convert", "detect sliding")])
def test_one_command_never_cleans_another_commands_folder(tmp_path: Path, first: str, second: str) -> None:
    out = tmp_path / "run"
    _run(out, command=first)
    before = digest(tmp_path)
    for force in (False, True):
        with pytest.raises(ConfigError, match=f"written by `tiledet {first}`"):
            _run(out, command=second, force=force)
    assert digest(tmp_path) == before


def test_a_single_file_output_never_makes_its_folder_tiledets(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    dets = prepare_output_file(home / "dets.json", command="detect yolo")
    dets.write_text("[]")
    record_output_file(dets, command="detect yolo")
    assert output_complete(dets)
    assert not (home / MANIFEST).exists() and sidecar_path(dets).is_file()
    before = digest(tmp_path)
    with pytest.raises(ConfigError, match="not empty and was not written by tiledet"):
        _run(home, command="eval")
    with OutputDir(home, command="eval", force=True) as od:  # --force: beside the user's files
        od.write_text("metrics.json", "{}")
        od.remove_stale()
    after = digest(tmp_path)
    assert all(after[k] == v for k, v in before.items())
    dets.write_text('[{"edited": true}]')  # changed by the user: no longer ours, never replaced
    assert not output_complete(dets)
    with pytest.raises(ConfigError, match="changed since tiledet wrote it"):
        prepare_output_file(dets, command="detect yolo")


def test_a_second_concurrent_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with OutputDir(out, command="convert") as od:
        od.write_text("a.txt", "1")
        before = digest(out)
        with pytest.raises(ConfigError, match="another tiledet run is writing into this folder"):
            OutputDir(out, command="convert").open()
        assert digest(out) == before
    _run(out)  # released at the end of the first run


def test_the_lock_holds_across_processes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    holder = textwrap.dedent(f"""
        import sys, time
        from tiledet.outdir import OutputDir
        od = OutputDir({str(out)!r}, command="convert").open()
        print("locked", flush=True)
        sys.stdin.readline()
        od.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match="another tiledet run"):
            _run(out)
    finally:
        proc.communicate("\n", timeout=60)
    assert proc.returncode == 0
    _run(out)
    assert (out / LOCK).is_file() and LOCK not in read_ownership(out).files


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_linking_an_image_never_changes_its_mode_or_owner(tmp_path: Path) -> None:
    source = tmp_path / "shared" / "scene.png"
    source.parent.mkdir()
    source.write_bytes(b"\x89PNG not really")
    os.chown(source, 65534, 65534)  # a dataset owned by someone else, read-only
    source.chmod(0o400)
    before = os.stat(source)
    with OutputDir(tmp_path / "out", command="convert") as od:
        place_image(source, od.path("images/train/scene.png"), copy=False)
    after = os.stat(source)
    assert (after.st_mode, after.st_uid, after.st_gid, after.st_mtime_ns) == (
        before.st_mode, before.st_uid, before.st_gid, before.st_mtime_ns)
    assert os.readlink(tmp_path / "out" / "images" / "train" / "scene.png") == str(source)

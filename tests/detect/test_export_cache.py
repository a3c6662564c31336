"""The export cache: keyed by (weights sha256, engine, imgsz, batch), exported once, never half-written."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from pathlib import Path

import pytest

from tiledet.detect.export_cache import (
    CACHE_ENV,
    KEY_FILE,
    ExportKey,
    cache_root,
    cached_model,
    entry_dir,
    export_once,
    file_sha256,
)
from tiledet.errors import InputError


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "w" / "best.pt"
    path.parent.mkdir()
    path.write_bytes(b"weights " * 1000)
    return path


def _writer(calls: list[Path], body: bytes = b"model") -> object:
    def export(folder: Path) -> None:
        calls.append(folder)
        (folder / "sub").mkdir()
        (folder / "sub" / "m.bin").write_bytes(body)

    return export


def test_sha256_is_hashlibs_also_after_a_change(weights: Path) -> None:
    import os

    assert file_sha256(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()
    weights.write_bytes(b"other weights")
    os.utime(weights, ns=(1, 1))  # whatever the clock's resolution
    assert file_sha256(weights) == hashlib.sha256(b"other weights").hexdigest()
    with pytest.raises(InputError, match=r"missing\.pt: cannot read"):
        file_sha256(weights.parent / "missing.pt")


def test_key_is_in_the_folder_name_and_key_json(weights: Path) -> None:
    sha = file_sha256(weights)
    calls: list[Path] = []
    model = export_once(weights, ExportKey(sha, "onnx", 320, 8), "sub/m.bin", _writer(calls))
    root = weights.parent / "best.pt.tiledet-engines" / sha[:16]
    assert model == root / "onnx-imgsz320-batch8" / "sub" / "m.bin"
    key = json.loads((model.parents[1] / KEY_FILE).read_text())
    assert key == {"weights_sha256": sha, "engine": "onnx", "imgsz": 320, "batch": 8, "extra": {},
                   "model": "sub/m.bin"}
    assert len(calls) == 1 and not calls[0].exists()  # the staging folder was renamed away


def test_same_key_hits_other_imgsz_batch_or_extra_miss(weights: Path) -> None:
    sha = file_sha256(weights)
    calls: list[Path] = []
    first = export_once(weights, ExportKey(sha, "onnx", 320, 8), "sub/m.bin", _writer(calls))
    assert export_once(weights, ExportKey(sha, "onnx", 320, 8), "sub/m.bin", _writer(calls)) == first
    assert len(calls) == 1
    other_size = export_once(weights, ExportKey(sha, "onnx", 640, 8), "sub/m.bin", _writer(calls))
    other_batch = export_once(weights, ExportKey(sha, "onnx", 320, 16), "sub/m.bin", _writer(calls))
    assert len(calls) == 3 and len({first, other_size, other_batch}) == 3
    assert first.is_file()  # the other entries left it alone
    # same folder, other extra (e.g. other calibration data): replaced by a new export
    calibrated = ExportKey(sha, "onnx", 320, 8, {"calibration_sha256": "ab"})
    again = export_once(weights, calibrated, "sub/m.bin", _writer(calls, b"new"))
    assert again == first and again.read_bytes() == b"new" and len(calls) == 4
    assert cached_model(first.parents[1]) == first  # any complete entry
    assert cached_model(first.parents[1], ExportKey(sha, "onnx", 320, 8)) is None


def test_an_incomplete_entry_is_not_a_hit(weights: Path) -> None:
    key = ExportKey(file_sha256(weights), "openvino", 320, 8)
    folder = entry_dir(weights, key)
    folder.mkdir(parents=True)
    (folder / "sub").mkdir()
    (folder / "sub" / "m.bin").write_bytes(b"half")  # no key.json: an interrupted copy
    assert cached_model(folder, key) is None
    calls: list[Path] = []
    assert export_once(weights, key, "sub/m.bin", _writer(calls)).read_bytes() == b"model"
    assert len(calls) == 1


def test_an_export_that_writes_nothing_or_fails_leaves_no_entry(weights: Path) -> None:
    key = ExportKey(file_sha256(weights), "onnx", 320, 8)
    with pytest.raises(InputError, match=r"best\.pt: the onnx export wrote no sub/m\.bin"):
        export_once(weights, key, "sub/m.bin", lambda folder: None)

    def boom(folder: Path) -> None:
        (folder / "partial").write_bytes(b"x")
        raise InputError("exporter failed")

    with pytest.raises(InputError, match="exporter failed"):
        export_once(weights, key, "sub/m.bin", boom)
    root = cache_root(weights, key.weights_sha256)
    assert not entry_dir(weights, key).exists()
    assert [p.name for p in root.iterdir()] == [".onnx-imgsz320-batch8.lock"]


def test_cache_root_env_and_read_only_weights_folder(weights: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    sha = file_sha256(weights)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert cache_root(weights, sha) == tmp_path / "c" / sha[:16]
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("os.access", lambda path, mode: False)
    assert cache_root(weights, sha) == tmp_path / "xdg" / "tiledet" / "engines" / sha[:16]


def _slow_export(weights: str, events: str, tag: str) -> None:
    """In a child process: export with a slow exporter that logs when it starts and what it saw."""

    def export(folder: Path) -> None:
        with open(events, "a") as f:
            f.write(f"{tag} start\n")
        (folder / "sub").mkdir()
        for i in range(5):  # written piece by piece, slowly
            with open(folder / "sub" / "m.bin", "ab") as f:
                f.write(b"x" * 100)
            time.sleep(0.1 if i else 0.2)

    w = Path(weights)
    model = export_once(w, ExportKey(file_sha256(w), "onnx", 64, 1), "sub/m.bin", export)
    with open(events, "a") as f:
        f.write(f"{tag} sees {model.stat().st_size}\n")


def test_a_concurrent_process_waits_and_sees_the_whole_export(weights: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_slow_export, args=(str(weights), str(events), t)) for t in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = events.read_text().splitlines()
    assert sum(line.endswith("start") for line in lines) == 1  # exported once
    assert sorted(line for line in lines if "sees" in line) == ["a sees 500", "b sees 500"]

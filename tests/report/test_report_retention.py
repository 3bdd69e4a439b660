"""Raw run folders and the sweeper (no kernel)."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from testkey_nb.report import default_raw_root, sweep_raw
from testkey_nb.report.retention import MARKER_NAME, make_run_dir, run_dir_age


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_run_dir_is_private_and_marked(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    run = make_run_dir(root, now=1_000_000.0)
    assert run.parent == root and run.name.startswith("run-19700112T134640-")
    assert _mode(root) == 0o700 and _mode(run) & 0o777 == 0o700
    marker = json.loads((run / MARKER_NAME).read_text())
    assert marker == {"created": 1_000_000.0, "pid": os.getpid()}
    assert _mode(run / MARKER_NAME) == 0o600
    assert run_dir_age(run, 1_000_010.0) == pytest.approx(10.0)


def test_sweeper_removes_stale_keeps_fresh(tmp_path: Path) -> None:
    now = time.time()
    stale = make_run_dir(tmp_path, now=now - 301)
    fresh = make_run_dir(tmp_path, now=now - 10)
    (stale / "executed.ipynb").write_text("raw provider data")
    (stale / "sub").mkdir()
    (stale / "sub" / "x").write_text("x")
    assert sweep_raw(tmp_path, retention_s=300, now=now) == [stale]
    assert not stale.exists() and fresh.exists()
    assert sweep_raw(tmp_path, retention_s=300, now=now) == []
    assert sweep_raw(tmp_path, retention_s=0, now=now) == [fresh]


def test_sweeper_without_marker_uses_mtime(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path)
    (run / MARKER_NAME).unlink()  # a crash between mkdir and the marker write
    old = time.time() - 1000
    os.utime(run, (old, old))
    assert sweep_raw(tmp_path, retention_s=300) == [run]


def test_sweeper_touches_only_run_folders(tmp_path: Path) -> None:
    keep_dir = tmp_path / "notes"
    keep_dir.mkdir()
    keep_file = tmp_path / "run-20000101T000000-deadbeef"  # a file with a run-like name
    keep_file.write_text("not a folder")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    link = tmp_path / "run-20000101T000000-cafebabe"
    link.symlink_to(outside, target_is_directory=True)
    old = time.time() - 10_000
    for path in (keep_dir, keep_file):
        os.utime(path, (old, old))
    assert sweep_raw(tmp_path, retention_s=0) == []
    assert keep_dir.exists() and keep_file.exists() and (outside / "precious").exists() and link.is_symlink()


def test_sweeper_on_missing_root(tmp_path: Path) -> None:
    assert sweep_raw(tmp_path / "nope") == []


def test_default_raw_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTKEY_NB_RAW", str(tmp_path / "custom" / "raw"))
    root = default_raw_root()
    assert root == tmp_path / "custom" / "raw" and _mode(root) == 0o700
    monkeypatch.delenv("TESTKEY_NB_RAW")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = default_raw_root()
    assert root == tmp_path / "cache" / "testkey-nb" / "raw" and _mode(root) == 0o700

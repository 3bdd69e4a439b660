"""Private raw run folders and the retention sweeper.

A render writes its raw data (the executed notebook, the kernel's connection file and stderr, any file
a notebook cell writes into its working directory) into one run folder, mode 0700, under a raw root.
The render deletes its folder when it ends; :func:`sweep_raw` deletes any run folder older than the
retention window, and at once any folder whose owner (the process named in its marker) is gone: raw
data of a run killed with SIGKILL is removed by the next start, whatever its age (every render and
every batch sweeps at its start; the CLI does at every start). A process id reused by a later process
is told apart by its start time (after the marker's last refresh: not the owner). The raw root is a
local folder: owners are looked up on this machine.

Only entries that look like run folders (``run-YYYYMMDDTHHMMSS-<hex>``, real directories, not
symlinks) are ever deleted: a raw root shared with other files is safe.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from testkey_nb._procs import process_started

__all__ = ["MARKER_NAME", "RAW_ENV", "default_raw_root", "make_run_dir", "remove_run_dir", "run_dir_age", "sweep_raw"]

#: Environment variable naming the raw root (else ``$XDG_CACHE_HOME`` or ``~/.cache``/testkey-nb/raw).
RAW_ENV: Final = "TESTKEY_NB_RAW"
#: Written first into every run folder: ``{"created": <unix time>, "pid": <pid>}``.
MARKER_NAME: Final = ".testkey-run.json"
_RUN_RE: Final = re.compile(r"^run-\d{8}T\d{6}-[0-9a-f]{8,32}$")


def _ensure_private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def default_raw_root() -> Path:
    """``$TESTKEY_NB_RAW``, else ``$XDG_CACHE_HOME/testkey-nb/raw``, else ``~/.cache/testkey-nb/raw``.

    Created (with parents) if missing; the folder itself is set to mode 0700.
    """
    configured = os.environ.get(RAW_ENV)
    if configured:
        root = Path(configured).expanduser()
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(cache).expanduser() / "testkey-nb" / "raw"
    return _ensure_private_dir(root.absolute())


def make_run_dir(raw_root: Path, *, now: float | None = None) -> Path:
    """Create a fresh private run folder (0700) with its marker file; return its path."""
    created = time.time() if now is None else now
    _ensure_private_dir(raw_root)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(created))
    while True:
        path = raw_root / f"run-{stamp}-{secrets.token_hex(6)}"
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        break
    os.chmod(path, 0o700)
    marker = path / MARKER_NAME
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"created": created, "pid": os.getpid()}, fh)
    return path


def run_dir_age(path: Path, now: float) -> float:
    """Seconds since the run folder was created: the marker's time, else the folder's mtime."""
    try:
        created = float(json.loads((path / MARKER_NAME).read_text(encoding="utf-8"))["created"])
    except (OSError, ValueError, KeyError, TypeError):
        created = path.lstat().st_mtime
    return now - created


def _owner_gone(path: Path) -> bool:
    """True when the marker names a process that no longer runs (or a later process that reuses its id)."""
    try:
        marker = json.loads((path / MARKER_NAME).read_text(encoding="utf-8"))
        pid, created = int(marker["pid"]), float(marker["created"])
    except (OSError, ValueError, KeyError, TypeError):
        return False  # no marker (yet): the age rule alone decides
    if pid <= 0 or pid == os.getpid():
        return False
    started = process_started(pid)
    return started is None or started > created + 1.0


def _ignore_vanished(func: Callable[..., object], path: str, exc: object) -> None:
    # Another sweeper (another process) may be deleting the same folder at the same time.
    error = exc[1] if isinstance(exc, tuple) else exc
    if isinstance(error, FileNotFoundError):
        return
    if isinstance(error, BaseException):
        raise error
    raise OSError(f"cannot remove {path}")  # pragma: no cover


def remove_run_dir(path: Path) -> None:
    """Delete one run folder (symlinks inside are removed, never followed)."""
    if sys.version_info >= (3, 12):  # pragma: no cover - the project runs 3.11 today
        shutil.rmtree(path, onexc=_ignore_vanished)
    else:
        shutil.rmtree(path, onerror=_ignore_vanished)


def sweep_raw(raw_root: Path, retention_s: float = 300, now: float | None = None) -> list[Path]:
    """Delete run folders under ``raw_root`` at least ``retention_s`` old, or whose owner process is gone;
    return what was removed.

    ``retention_s=0`` removes every run folder (including ones a live render still uses).
    A missing ``raw_root`` is not an error.
    """
    current = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(raw_root))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not _RUN_RE.match(entry.name):
            continue
        path = Path(entry.path)
        try:
            if not stat.S_ISDIR(path.lstat().st_mode):
                continue
            if run_dir_age(path, current) < retention_s and not _owner_gone(path):
                continue
        except FileNotFoundError:
            continue
        remove_run_dir(path)
        removed.append(path)
    return removed

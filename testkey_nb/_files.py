"""Small file-system helpers shared by the modules that write reports and read key files, and where
the data that ships inside the package is (the notebooks and the billing scenarios)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from importlib import resources
from pathlib import Path
from typing import Final

__all__ = [
    "NOTEBOOKS_DIR",
    "SCENARIOS_DIR",
    "disk_full",
    "package_dir",
    "private_file_problem",
    "scenario_path",
    "write_atomic",
]


def package_dir(name: str) -> Path:
    """A data folder shipped inside the package (``testkey_nb/<name>``), as a file-system path.

    Found with :mod:`importlib.resources`, so it is the installed copy (a wheel's site-packages, or the
    checkout for an editable install). Papermill and Lab need real files: a zipped install is refused.
    """
    ref = resources.files(__package__ or "testkey_nb").joinpath(name)
    if not isinstance(ref, Path):
        raise RuntimeError(f"testkey-nb's {name}/ is not on the file system ({ref!r}): install the package unzipped")
    return ref


#: The notebooks the reports are rendered from (``key_report``, ``billing_lifecycle``, ``fleet_history``).
NOTEBOOKS_DIR: Final = package_dir("notebooks")
#: The example billing scenarios (TOML), e.g. ``bursty_chatbot.toml``.
SCENARIOS_DIR: Final = NOTEBOOKS_DIR / "scenarios"


def scenario_path(value: Path | str) -> Path:
    """A ``--scenario`` argument as a path: the file named, else a bundled scenario by its name
    (``bursty_chatbot`` or ``bursty_chatbot.toml``), else the path as given (its loader says it is missing)."""
    path = Path(value)
    if path.exists() or path.parent != Path("."):
        return path
    bundled = SCENARIOS_DIR / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    return bundled if bundled.is_file() else path

#: The operating system's words for ENOSPC and EDQUOT (what an error that lost its errno still says).
_FULL_TEXTS = ("no space left on device", "disk quota exceeded")


def disk_full(exc: BaseException | str | None) -> bool:
    """True when ``exc`` (an exception with ``errno`` ENOSPC/EDQUOT, or an error's text) says the disk (or
    the quota) is full."""
    if exc is None:
        return False
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return any(t in text for t in _FULL_TEXTS)


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o644) -> int:
    """Write ``data`` to ``path`` through a temporary file and a rename; return the bytes written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return len(payload)


def sweep_partial_writes(folder: Path) -> int:
    """Remove what `write_atomic` left half-written in ``folder`` (``.NAME.XXXX.tmp``: a process killed between
    its write and its rename); the number removed. Call it only as the folder's one writer."""
    removed = 0
    for tmp in Path(folder).glob(".*.tmp"):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            tmp.unlink()
            removed += 1
    return removed


def private_file_problem(path: Path, what: str, *, shown: str | None = None) -> str | None:
    """Why ``path`` is not a regular file readable only by its owner (you), or None when it is.

    ``what`` names the file in the message, e.g. "key file"; ``shown`` is how the message names the
    path (a masked form for a key reference, whose path may be a key pasted by mistake); by default
    the path itself.
    """
    name = str(path) if shown is None else shown
    chmod_hint = f"`chmod 600 {path}`" if shown is None else "`chmod 600` on it"
    try:
        st = path.stat()
    except FileNotFoundError:
        return f"{what} {name} does not exist"
    except OSError as exc:
        return f"{what} {name} cannot be read: {exc.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return f"{what} {name} is not a regular file"
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (
            f"{what} {name} is readable by group or others (mode {stat.S_IMODE(st.st_mode):04o}): "
            f"run {chmod_hint} first"
        )
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"{what} {name} must be owned by you"
    return None

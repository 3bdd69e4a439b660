"""Is a process still there? (the history's runs and the raw folders' owners ask the same question)."""

from __future__ import annotations

import os

__all__ = ["process_started"]


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (unix time), or None if it is gone (no such process, or a zombie
    that was killed and not reaped yet). ``0.0``: it runs, its start time is not readable."""
    if pid <= 0:
        return None
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except OSError:
            return 0.0
        return 0.0
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(proc.create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.Error:  # AccessDenied: another user's process, alive
        return 0.0

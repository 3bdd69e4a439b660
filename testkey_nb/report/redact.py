"""Redaction for a render: one-line error reasons and log filters attached for its length.

The redactor and the log filter themselves are :mod:`testkey_nb.secrets` (one home).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from testkey_nb.secrets import REDACTED, RedactingFilter, redact_text, variants

__all__ = ["REDACTED", "RedactingFilter", "one_line", "redact_text", "redacting_logs", "variants"]

#: Longest reason kept (after redaction, so a cut never leaves part of a secret behind).
MAX_REASON: Final = 400


def one_line(text: str, values: Sequence[str], *, limit: int = MAX_REASON) -> str:
    """Redacted, whitespace collapsed to single spaces, cut to ``limit`` characters."""
    flat = " ".join(redact_text(text, values).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# Serialises attach/detach; filter lists are replaced, never mutated, so a record being filtered in
# another thread keeps iterating a stable list.
_FILTERS_LOCK: Final = threading.Lock()


@contextmanager
def redacting_logs(values: Sequence[str], logger_names: Sequence[str]) -> Iterator[None]:
    """Attach a :class:`RedactingFilter` to the named loggers while the block runs (thread-safe)."""
    filt = RedactingFilter(values)
    loggers = [logging.getLogger(name) for name in logger_names]
    with _FILTERS_LOCK:
        for logger in loggers:
            logger.filters = [*logger.filters, filt]
    try:
        yield
    finally:
        with _FILTERS_LOCK:
            for logger in loggers:
                logger.filters = [f for f in logger.filters if f is not filt]

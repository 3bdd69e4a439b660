"""Scrubbing secrets from error text and log records."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final
from urllib.parse import quote

__all__ = ["REDACTED", "RedactingFilter", "one_line", "redact_text", "redacting_logs", "variants"]

REDACTED: Final = "[redacted]"
_ANSI_RE: Final = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
# Anything shaped like an API key: one token of 24+ key characters with 3+ digits and 3+ letters
# (sk-..., JWT parts, Baseten "prefix.secret", hex/base64 tokens). Errs towards over-redaction.
_KEY_SHAPE_RE: Final = re.compile(
    r"(?<![A-Za-z0-9_\-.+/=])"
    r"(?=(?:[A-Za-z_\-.+/=]*[0-9]){3})(?=(?:[0-9_\-.+/=]*[A-Za-z]){3})"  # lookaheads stay in the token
    r"[A-Za-z0-9][A-Za-z0-9_\-.+/=]{22,}[A-Za-z0-9=]"
    r"(?![A-Za-z0-9_\-.+/=])"
)
#: Longest reason kept (after redaction, so a cut never leaves part of a secret behind).
MAX_REASON: Final = 400


def variants(value: str) -> list[str]:
    """The forms a value takes in error text: itself, JSON/repr-escaped, URL-quoted."""
    forms = [value, json.dumps(value)[1:-1], repr(value)[1:-1], quote(value, safe="")]
    return [f for f in dict.fromkeys(forms) if f]


def redact_text(text: str, values: Iterable[str], *, key_shapes: bool = True) -> str:
    """``text`` without ANSI escapes, without any form of ``values``, without key-shaped tokens."""
    out = _ANSI_RE.sub("", text)
    forms = sorted({f for v in values if v for f in variants(v)}, key=len, reverse=True)
    for form in forms:
        out = out.replace(form, REDACTED)
    if key_shapes:
        out = _KEY_SHAPE_RE.sub(REDACTED, out)
    return out


def one_line(text: str, values: Sequence[str], *, limit: int = MAX_REASON) -> str:
    """Redacted, whitespace collapsed to single spaces, cut to ``limit`` characters."""
    flat = " ".join(redact_text(text, values).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message with :func:`redact_text`.

    nbclient logs every kernel message at DEBUG ("content: ...", including error values) through
    papermill's logger; attached to that logger for the length of a render, this keeps a secret that
    reached a traceback out of the logs.
    """

    def __init__(self, values: Sequence[str]) -> None:
        super().__init__()
        self._values = tuple(values)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw template only
            message = str(record.msg)
        cleaned = redact_text(message, self._values)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info), self._values)
            record.exc_info = None
        return True


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

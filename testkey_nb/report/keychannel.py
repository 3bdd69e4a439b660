"""Kernel side of the one-shot key channel: how a render's key reaches a (possibly pre-started) kernel.

The renderer starts every kernel with the read end of a fresh pipe (``pass_fds``) and the pipe's
fd number in ``TESTKEY_NB_KEY_FD`` (a number, not a secret). When a render takes the kernel, it
writes one JSON object ``{name: value}`` into the pipe and closes its end. The first :func:`take`
in the kernel reads the pipe to its end, closes it and removes ``TESTKEY_NB_KEY_FD`` from the
environment: afterwards the values live only in this process's memory. So the key is never in the
kernel's environment, in executed code (``In``/``_ih``, history), in a file, or in another kernel
(each kernel gets its own pipe; the parent's write end is not inheritable).

Without a channel (a kernel the analyst started in JupyterLab), :func:`take` falls back to the
environment variable ``name`` and **removes it from** ``os.environ`` once read, so a subprocess a
cell starts later does not inherit the key. A second :func:`take` of the same name (a cell run
again) gets the same value back from memory.

Only the standard library is imported here: this runs in every kernel.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pickle
import zlib
from typing import Final

__all__ = ["CHECK_NAME", "KEY_FD_ENV", "KeyChannelError", "decode_check", "encode_check", "take", "take_check"]

#: Names the fd (a decimal number) of the kernel's one-shot channel.
KEY_FD_ENV: Final = "TESTKEY_NB_KEY_FD"
_MAX_BYTES: Final = 1 << 20
#: The name a batch sends the key's finished check under (the round probed it already: no second probe).
CHECK_NAME: Final = "TESTKEY_NB_CHECK"


class KeyChannelError(RuntimeError):
    """The channel could not be read (never carries the channel's content)."""


class _Received:
    """What this kernel has been handed, by name (one per process: a kernel is single-use)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.channel_read = False

    def read_channel(self) -> None:
        if self.channel_read:
            return
        self.channel_read = True
        raw_fd = os.environ.pop(KEY_FD_ENV, None)
        if raw_fd is None:
            return
        try:
            fd = int(raw_fd)
        except ValueError:
            raise KeyChannelError(f"{KEY_FD_ENV} is not a file descriptor number") from None
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > _MAX_BYTES:
                    raise KeyChannelError("the key channel sent more than 1 MiB")
                chunks.append(chunk)
        except OSError as exc:
            raise KeyChannelError(f"cannot read the key channel: {exc.strerror}") from None
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
        data = b"".join(chunks)
        if not data:
            return
        try:
            payload = json.loads(data.decode("utf-8"))
        except ValueError:
            raise KeyChannelError("the key channel sent something that is not JSON") from None
        if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
            raise KeyChannelError("the key channel sent something that is not a {name: value} object")
        self.values.update(payload)


_RECEIVED = _Received()


def take(name: str) -> str | None:
    """The value the renderer sent under ``name``, else environment variable ``name`` (then removed
    from the environment), else None."""
    _RECEIVED.read_channel()
    value = _RECEIVED.values.get(name)
    if value is not None:
        return value
    value = os.environ.pop(name, None)
    if value is not None:
        _RECEIVED.values[name] = value
    return value


def encode_check(check: object) -> str:
    """A ``KeyCheck`` as ASCII for a kernel's channel (pickle, zlib, base64: about 15 KB a key; no key in it)."""
    return base64.b64encode(zlib.compress(pickle.dumps(check, protocol=pickle.HIGHEST_PROTOCOL), 6)).decode("ascii")


def decode_check(text: str) -> object:
    """The kernel's side of :func:`encode_check` (the channel is a private pipe from the renderer)."""
    return pickle.loads(zlib.decompress(base64.b64decode(text.encode("ascii"))))


def take_check() -> object | None:
    """The check the renderer sent under :data:`CHECK_NAME` (decoded), else None."""
    _RECEIVED.read_channel()
    text = _RECEIVED.values.get(CHECK_NAME)
    return decode_check(text) if text else None

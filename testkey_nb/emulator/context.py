"""What the Baseten emulator's hosts share: the request context (`Ctx`) and the answer (`Reply`).

`app.py` builds a `Ctx` per request and sends the `Reply` that `faults.py`, `inference.py` or
`management.py` produced. Emulator assumptions are marked "Assumption:" where they are made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.datastructures import QueryParams

    from testkey_nb.emulator.faults import Fault
    from testkey_nb.emulator.state import KeyRecord

JSON = "application/json"
BAD_KEY_BODY = b'{"error":"please check the api-key you provided"}\n'  # recorded, 50 bytes
TOO_MANY = b'{"error":"Too many requests"}'
CHAT_PATH = "/v1/chat/completions"
NOT_FOUND = b'{"error":"Not Found"}'


@dataclass
class Reply:
    """What a handler answers; role-specific headers are added by `_finalize`.

    ``kind`` picks the base headers: ``gateway`` (inference gateway), ``engine`` (a model answered:
    X-Baseten-* headers), ``catalog`` (the Django app behind /v1/models), ``plain`` (no base headers).
    """

    status: int
    body: bytes = b""
    content_type: str | None = JSON
    kind: str = "gateway"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Callable[[], AsyncIterator[bytes]] | None = None
    tokens: bool = False  # a chat completion produced tokens (billable)


@dataclass
class Ctx:
    role: str
    method: str
    path: str
    host: str
    port: int
    query: QueryParams
    scheme: str | None
    key_presented: bool
    record: KeyRecord | None
    digest: bytes | None
    path_faults: list[Fault]
    global_faults: list[tuple[int, Fault]]
    applied: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.record is not None and self.record.accepted

    @property
    def can_infer(self) -> bool:
        return self.record is not None and self.record.scenario.can_infer

    @property
    def label(self) -> str | None:
        if self.record is not None:
            return self.record.label
        return "unknown" if self.key_presented else None

    def find(self, kind: str) -> tuple[int | None, Fault] | None:
        """The first fault of this kind: from the path prefix (index None) or the global set."""
        for f in self.path_faults:
            if f.kind == kind:
                return None, f
        for i, f in self.global_faults:
            if f.kind == kind:
                return i, f
        return None

    def use(self, kind: str) -> bool:
        """Whether a flag-like fault (hostile_strings, enforce_rate_limits) is on; marks it applied."""
        if self.find(kind) is None:
            return False
        self.mark(kind)
        return True

    def mark(self, name: str) -> None:
        if name not in self.applied:
            self.applied.append(name)


def json_reply(data: Any, status: int = 200, kind: str = "plain") -> Reply:
    return Reply(status, json.dumps(data).encode("utf-8"), kind=kind)


def short_id(seed: str, n: int) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big")
    out = []
    for _ in range(n):
        value, r = divmod(value, 36)
        out.append(alphabet[r])
    return "".join(out)

"""The mutable state of one running emulator: keys, faults, rate windows, the request log.

One `EmulatorState` per emulator; it is handed to the ASGI app. Every mutation holds ``_lock``: the
app runs on the server thread, the test or CLI calls ``set_faults``/``request_log`` from another.
Keys are stored only as SHA-256 digests for lookup (``emu.keys`` keeps the generated ones so callers
can use them); no key or Authorization value ever reaches the log.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from testkey_nb.emulator.catalog import Catalog
from testkey_nb.emulator.faults import Fault
from testkey_nb.emulator.scenarios import SCENARIOS, WORKSPACES, GeneratedKeys, Scenario, key_prefix
from testkey_nb.emulator.usage import WorkspaceUsage, compute_usage

COSTS: tuple[str, ...] = ("read", "rejected", "billable", "write")


@dataclass(frozen=True)
class RequestLogEntry:
    """One request as the emulator saw it. Never holds the Authorization value or the key."""

    method: str
    host_role: str
    path: str
    status: int
    auth_scheme: str | None  # "Bearer" | "Api-Key" | "x-api-key" | None
    key_label: str | None  # scenario label or mode, "unknown" for an unknown key, None when no key was sent
    fault: str | None  # name(s) of the fault(s) that shaped the answer, "+"-joined
    cost: str  # "read" | "rejected" | "billable" | "write"


@dataclass(frozen=True)
class KeyRecord:
    label: str
    scenario: Scenario
    prefix: str

    @property
    def accepted(self) -> bool:
        return self.scenario.accepted


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class RequestLog:
    """The requests an emulator saw, in order: the server thread appends, a test or the CLI reads.
    The one home of the log for every emulator's state (Baseten's and each provider host's)."""

    def __init__(self) -> None:
        self._log_lock = threading.Lock()
        self._log: list[RequestLogEntry] = []

    def log(self, entry: RequestLogEntry) -> None:
        with self._log_lock:
            self._log.append(entry)

    def request_log(self) -> list[RequestLogEntry]:
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()


class EmulatorState(RequestLog):
    def __init__(self, generated: GeneratedKeys, faults: Iterable[Fault], now: datetime) -> None:
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.now = now
        self.catalog = Catalog.load()
        self.roles_by_port: dict[int, str] = {}
        self.origins: dict[str, str] = {}
        self.decoy_prefixes: Mapping[tuple[str, str], str] = generated.decoy_prefixes
        self._generated: dict[str, str] = dict(generated.keys)
        self._records: dict[bytes, KeyRecord] = {}
        self._order: list[KeyRecord] = []
        for label, key in generated.keys.items():
            self.add_key(key, label)
        RequestLog.__init__(self)
        self._faults: tuple[Fault, ...] = ()
        self._burst: dict[int, int] = {}
        self.set_faults(faults)
        self._windows: dict[bytes, deque[float]] = {}
        self._usage: dict[str, WorkspaceUsage] = {}
        self._extra_spend: dict[str, Decimal] = {}

    # keys ---------------------------------------------------------------------------------------
    @property
    def generated_keys(self) -> dict[str, str]:
        return dict(self._generated)

    def add_key(self, key: str, scenario: str) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        if not key or any(c.isspace() for c in key):
            raise ValueError("a key must be non-empty and contain no whitespace")
        record = KeyRecord(scenario, SCENARIOS[scenario], key_prefix(key))
        with self._lock:
            self._records[key_digest(key)] = record
            self._order.append(record)

    def lookup(self, key: str) -> KeyRecord | None:
        with self._lock:
            return self._records.get(key_digest(key))

    def key_records(self) -> dict[str, KeyRecord]:
        """The first accepted key registered for each scenario label (its prefix names it)."""
        with self._lock:
            out: dict[str, KeyRecord] = {}
            for rec in self._order:
                if rec.accepted:
                    out.setdefault(rec.label, rec)
            return out

    def listed_keys(self, workspace: str) -> list[KeyRecord]:
        """Accepted keys of a workspace, in registration order, one per prefix."""
        with self._lock:
            seen: set[str] = set()
            out = []
            for rec in self._order:
                if rec.scenario.workspace == workspace and rec.accepted and rec.prefix not in seen:
                    seen.add(rec.prefix)
                    out.append(rec)
            return out

    # faults -------------------------------------------------------------------------------------
    def set_faults(self, faults: Iterable[Fault]) -> None:
        faults = tuple(faults)
        for f in faults:
            if not isinstance(f, Fault):
                raise TypeError("set_faults takes Fault objects")
        with self._lock:
            self._faults = faults
            self._burst = {i: f.effective_count for i, f in enumerate(faults) if f.kind == "rate_limit_burst"}

    def faults_for(self, role: str) -> list[tuple[int, Fault]]:
        with self._lock:
            return [(i, f) for i, f in enumerate(self._faults) if f.applies_to(role)]

    def take_burst(self, index: int) -> bool:
        """Consume one request of a global ``rate_limit_burst``; False once it is spent."""
        with self._lock:
            left = self._burst.get(index, 0)
            if left <= 0:
                return False
            self._burst[index] = left - 1
            return True

    # rate limiting ------------------------------------------------------------------------------
    def admit_chat(self, digest: bytes, rpm: int, enforce: bool) -> float | None:
        """Record an accepted chat request; with ``enforce``, refuse it (seconds to wait) over the RPM."""
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(digest, deque())
            while window and window[0] <= now - 60.0:
                window.popleft()
            if enforce and len(window) >= rpm:
                return max(0.0, window[0] + 60.0 - now)
            window.append(now)
            return None

    # changes between two checks (monitoring tests and demos) -------------------------------------
    def withdraw_model(self, model_id: str) -> None:
        """The provider withdrew a Model APIs model: /v1/models stops listing it, chat refuses it."""
        with self._lock:
            self.catalog = self.catalog.without(model_id)
            self._usage.clear()

    def spend(self, workspace: str, usd: Decimal | float | str) -> None:
        """Add Model APIs spend to the workspace's today (its credits used rise, what is left falls)."""
        if workspace not in WORKSPACES:
            raise ValueError(f"unknown workspace {workspace!r}; known: {', '.join(WORKSPACES)}")
        amount = Decimal(str(usd))
        if amount <= 0:
            raise ValueError("spend a positive amount")
        with self._lock:
            self._extra_spend[workspace] = self._extra_spend.get(workspace, Decimal(0)) + amount
            self._usage.pop(workspace, None)

    # usage --------------------------------------------------------------------------------------
    def usage(self, workspace: str) -> WorkspaceUsage:
        with self._lock:
            cached = self._usage.get(workspace)
            extra = self._extra_spend.get(workspace, Decimal(0))
            catalog = self.catalog
        if cached is not None:
            return cached
        computed = compute_usage(WORKSPACES[workspace], catalog, self.now, extra)
        with self._lock:
            return self._usage.setdefault(workspace, computed)


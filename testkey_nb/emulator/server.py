"""Run the emulator: one uvicorn server in a daemon thread serving pre-bound 127.0.0.1 sockets.

Baseten (the default) gets four sockets (inference, management, two impostors); another provider
(``EmulatorConfig(provider="anthropic")``) gets one socket serving that provider's host from its data
(``emulator/providers/<id>/host.yaml``).

uvicorn and starlette are imported when an emulator starts, not at import time (CLI start-up cost).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from testkey_nb.emulator.faults import FAULT_NAMES, ROLES, Fault, is_fault_name
from testkey_nb.emulator.scenarios import generate_keys
from testkey_nb.emulator.state import EmulatorState, RequestLogEntry

if TYPE_CHECKING:
    from testkey_nb.emulator.providers.host import Host

HOST = "127.0.0.1"
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class EmulatorConfig:
    """``faults``: active from the start; ``seed``: reproducible keys (random when None); ``now``: the
    fixed instant usage and deployment dates are relative to (default: current UTC time); ``port``: 0 for
    free ports, else inference on ``port`` and management/impostor roles on ``port+1..port+3``;
    ``provider``: which host to play (``baseten``, or one of ``emulator.providers.PROVIDER_IDS``, served
    on ``port`` alone)."""

    faults: tuple[Fault, ...] = ()
    seed: int | None = None
    now: datetime | None = None
    port: int = 0
    provider: str = "baseten"


def _bind(port: int) -> socket.socket:
    # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (else Nagle adds ~40 ms)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class RunningEmulator:
    """A started emulator. Use `run_emulator` (or this object as a context manager) to stop it."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        config = config or EmulatorConfig()
        self.config = config
        now = config.now or datetime.now(UTC)
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        self._host: Host | None = None
        self._state: Any
        if config.provider == "baseten":
            self._state = EmulatorState(generate_keys(config.seed), config.faults, now)
            self._roles: tuple[str, ...] = ROLES
        else:
            from testkey_nb.emulator.providers.app import ProviderState
            from testkey_nb.emulator.providers.host import load_host

            self._host = load_host(config.provider)
            self._state = ProviderState(self._host, config.seed, now)
            self._state.set_faults(config.faults)
            self._roles = (config.provider,)
        self._sockets: list[socket.socket] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.ports: dict[str, int] = {}

    # lifecycle ----------------------------------------------------------------------------------
    def start(self) -> RunningEmulator:
        import uvicorn

        try:
            for offset, role in enumerate(self._roles):
                sock = _bind(self.config.port + offset if self.config.port else 0)
                self._sockets.append(sock)
                self.ports[role] = sock.getsockname()[1]
        except OSError:
            self._close_sockets()
            raise
        app: Any
        if self._host is None:
            from testkey_nb.emulator.app import EmulatorApp

            self._state.roles_by_port.update({port: role for role, port in self.ports.items()})
            self._state.origins.update({role: f"http://{HOST}:{port}" for role, port in self.ports.items()})
            app = EmulatorApp(self._state)
        else:
            from testkey_nb.emulator.providers.app import ProviderApp

            app = ProviderApp(self._state)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            server_header=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server = server
        thread = threading.Thread(target=server.run, kwargs={"sockets": self._sockets}, daemon=True,
                                  name=f"{self.config.provider}-emulator")
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator server failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._state.stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(_STOP_TIMEOUT)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(_STOP_TIMEOUT)
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()

    def __enter__(self) -> RunningEmulator:
        return self if self._server is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # URLs ---------------------------------------------------------------------------------------
    @property
    def provider(self) -> str:
        return self.config.provider

    @property
    def host(self) -> Host | None:
        """The played provider's host data (paths, auth scheme, modes); None for Baseten."""
        return self._host

    def _url(self, role: str) -> str:
        if role not in self.ports:
            raise ValueError(f"the {self.provider} emulator has no {role} host (roles: {', '.join(self.ports)})")
        return f"http://{HOST}:{self.ports[role]}/v1"

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` of the first host (Baseten: inference)."""
        return f"http://{HOST}:{self.ports[self._roles[0]]}"

    @property
    def base_url(self) -> str:
        """The provider's API base, as its SDKs configure it (Groq ``.../openai/v1``, DeepInfra ``.../v1/openai``)."""
        return self._url("inference") if self._host is None else self.origin + self._host.base_path

    @property
    def inference_url(self) -> str:
        return self.base_url

    @property
    def management_url(self) -> str:
        """Baseten's management host; for another provider its management base (Hugging Face ``/api``) or the
        API base itself."""
        if self._host is None:
            return self._url("management")
        return self.origin + (self._host.management_path or self._host.base_path)

    @property
    def impostor_openai_url(self) -> str:
        return self._url("impostor_openai")

    @property
    def impostor_openai_headers_url(self) -> str:
        return self._url("impostor_openai_headers")

    def fault_url(self, role: str, fault: str) -> str:
        """Base URL whose requests all get one named fault (default parameters)."""
        if self._host is not None:
            raise ValueError("fault injection is served by the Baseten emulator only (provider='baseten')")
        if role not in self.ports:
            raise ValueError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
        if not is_fault_name(fault):
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULT_NAMES)}")
        return f"http://{HOST}:{self.ports[role]}/_fault/{fault}/v1"

    # keys, faults, log --------------------------------------------------------------------------
    @property
    def keys(self) -> dict[str, str]:
        """Scenario label (Baseten) or mode (``valid``, ``bad-key``, ``no-balance``, ``rate-limited``) ->
        generated key (a copy)."""
        keys: dict[str, str] = self._state.generated_keys
        return keys

    def add_key(self, key: str, scenario: str) -> None:
        """Register another key (e.g. a canary) that behaves like the scenario's (or mode's) key."""
        self._state.add_key(key, scenario)

    def withdraw_model(self, model_id: str) -> None:
        """The provider withdrew a model: the catalog stops listing it and chat refuses it (thread-safe)."""
        self._state.withdraw_model(model_id)

    def spend(self, workspace: str, usd: float | str) -> None:
        """Add Model APIs spend to a workspace's today: its credits used rise, what is left falls."""
        self._state.spend(workspace, usd)

    def set_faults(self, *faults: Fault) -> None:
        """Replace the active global faults (thread-safe; burst counters restart)."""
        self._state.set_faults(faults)

    def request_log(self) -> list[RequestLogEntry]:
        log: list[RequestLogEntry] = self._state.request_log()
        return log

    def clear_log(self) -> None:
        self._state.clear_log()

    @property
    def now(self) -> datetime:
        """The fixed instant usage data is relative to."""
        now: datetime = self._state.now
        return now

    def __repr__(self) -> str:  # never shows keys
        return f"RunningEmulator(provider={self.provider!r}, ports={self.ports!r})"


@contextmanager
def run_emulator(config: EmulatorConfig | None = None, *, provider: str | None = None) -> Iterator[RunningEmulator]:
    """Start an emulator on 127.0.0.1 and stop it (bounded) on exit.

    ``run_emulator()`` plays Baseten; ``run_emulator(provider="anthropic")`` (or ``EmulatorConfig(provider=...)``)
    plays another provider's host."""
    if provider is not None:
        config = replace(config or EmulatorConfig(), provider=provider)
    emu = RunningEmulator(config).start()
    try:
        yield emu
    finally:
        emu.stop()

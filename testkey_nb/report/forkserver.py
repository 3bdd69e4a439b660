"""A kernel fork server: one warm parent that has imported the report's libraries forks every kernel.

A render's kernel is still a process of its own, used once (isolation), but it no longer pays the
imports (polars, Altair, jsonschema, ipykernel, the package's notebook glue: about a second of CPU):
the fork server (``python -m testkey_nb.report.warm_kernel --fork-server SOCKET``) imports them once,
then forks a kernel per request. The server never runs a cell or touches a key: every kernel is a copy
of that pristine state. What a render left in its kernel dies with the kernel.

A request (over a socket pair the server inherited: no path another process could connect to) carries the kernel's argv,
environment and working folder as JSON, and two file descriptors (``SCM_RIGHTS``): the read end of
the kernel's one-shot key channel and its stderr file. The child starts its own session (process
group), moves to its folder, takes the environment and the descriptors, and runs the kernel exactly
as ``warm_kernel`` does (parent watch first). The server answers with the child's pid once the child
has its session.

No process outlives the batch: the server watches its parent (the batch) and exits when it is gone;
each kernel watches its parent (the server) and kills its process group when that is gone.
The server ignores SIGCHLD (its children are reaped by the system); the client side watches a kernel
through a pidfd (:class:`ForkedProcess`), and :class:`ForkProvisioner` is jupyter_client's local
provisioner with the launch done by the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final

from jupyter_client.provisioning.local_provisioner import LocalProvisioner

__all__ = ["ForkProvisioner", "ForkServer", "ForkServerError", "ForkedProcess", "serve"]

_READY: Final = b"ready\n"
_MAX_REQUEST: Final = 1 << 20
_POLL_S: Final = 0.2


class ForkServerError(RuntimeError):
    """The fork server could not start a kernel (the caller may start one the usual way)."""


# --- the server (runs in its own process) -----------------------------------------------------------


def serve(channel_fd: int, parent: int) -> None:
    """The fork server's body: import, then fork kernels on request until ``parent`` or the channel is gone."""
    from testkey_nb.report import warm_kernel

    if sys.path and sys.path[0] in ("", ".", os.getcwd()):
        del sys.path[0]
    warm_kernel.preload()  # the imports every kernel would pay
    warm_kernel.preload_kernel_machinery()  # and those ipykernel's start-up would pay in every fork

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the system
    channel = socket.socket(fileno=channel_fd)
    channel.settimeout(_POLL_S)
    channel.send(_READY)
    while True:
        if parent > 1 and os.getppid() != parent:  # the batch is gone: so are we (our kernels follow)
            os._exit(0)
        try:
            message, fds, _, _ = socket.recv_fds(channel, _MAX_REQUEST, 2)
        except TimeoutError:
            continue
        except OSError:
            os._exit(1)
        if not message:  # the client closed its end
            os._exit(0)
        try:
            pid = _fork_one(message, fds, channel)
            reply = {"pid": pid} if pid else {"error": "the kernel died as it started"}
        except Exception as exc:  # one bad request must not stop the server
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        channel.send(json.dumps(reply).encode())


def _fork_one(message: bytes, fds: list[int], channel: socket.socket) -> int:
    request = json.loads(message.decode("utf-8"))
    if len(fds) != 2:
        raise ForkServerError("a request needs two file descriptors")
    ready_r, ready_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the kernel
        try:
            os.close(ready_r)
            channel.close()
            _become_kernel(request, fds[0], fds[1], ready_w)
        finally:
            os._exit(1)
    os.close(ready_w)
    with os.fdopen(ready_r, "rb") as ready:
        started = ready.read(1) == b"1"  # the child has its own session (or died trying)
    return pid if started else 0


def _become_kernel(request: Mapping[str, Any], key_fd: int, out_fd: int, ready_w: int) -> None:
    from testkey_nb.report import warm_kernel
    from testkey_nb.report.keychannel import KEY_FD_ENV

    os.setsid()  # its own session and process group, as jupyter_client starts a kernel
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(str(request["cwd"]))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(null)
    os.close(out_fd)
    env = {str(k): str(v) for k, v in dict(request["env"]).items()}
    if KEY_FD_ENV in env:
        env[KEY_FD_ENV] = str(key_fd)  # the channel's number in this process
    else:
        os.close(key_fd)
    env[warm_kernel.PARENT_ENV] = str(os.getppid())  # the server: the kernel dies with it
    os.environ.clear()
    os.environ.update(env)
    os.write(ready_w, b"1")
    os.close(ready_w)
    sys.argv = [str(a) for a in request["argv"]]
    warm_kernel.run_kernel(watch=True)
    os._exit(0)


# --- the client (in the rendering process) --------------------------------------------------------


class ForkServer:
    """Starts and talks to one fork server (working in ``folder``, a private run folder of the pool),
    over a socket pair: no path another process could connect to."""

    def __init__(self, folder: Path, *, start_timeout_s: float = 120.0) -> None:
        self.folder = Path(folder)
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._channel: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> ForkServer:
        from testkey_nb.report.execute import WARM_KERNEL_MODULE, kernel_environment
        from testkey_nb.report.warm_kernel import FORK_SERVER_FLAG, PARENT_ENV

        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._stderr = open(self.folder / "forkserver.stderr", "wb")  # noqa: SIM115 - closed by close()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", WARM_KERNEL_MODULE, FORK_SERVER_FLAG, str(theirs.fileno())],
                env=kernel_environment({PARENT_ENV: str(os.getpid())}),
                cwd=str(self.folder),
                stdin=subprocess.DEVNULL,
                stdout=self._stderr,
                stderr=self._stderr,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        finally:
            theirs.close()
        self._channel = mine
        mine.settimeout(self.start_timeout_s)
        try:
            ready = mine.recv(64)
        except OSError:
            ready = b""
        if ready != _READY:
            self.close()
            raise ForkServerError("the kernel fork server did not start")
        mine.settimeout(60)
        return self

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and self._channel is not None

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], cwd: str, key_fd: int, out_fd: int) -> int:
        """Fork a kernel; its pid. The descriptors are sent, not closed (the caller closes its copies)."""
        request = json.dumps({"argv": list(argv), "env": dict(env), "cwd": cwd}).encode()
        with self._lock:
            channel = self._channel
            if channel is None or not self.alive():
                raise ForkServerError("the kernel fork server is not running")
            socket.send_fds(channel, [request], [key_fd, out_fd])
            reply = channel.recv(65536)
        try:
            answer = json.loads(reply.decode("utf-8"))
        except ValueError:
            raise ForkServerError("the kernel fork server gave no answer") from None
        if "pid" not in answer:
            raise ForkServerError(f"the kernel fork server refused: {answer.get('error')}")
        return int(answer["pid"])

    def close(self) -> None:
        """Stop the server (kernels it forked and still running see it go and end themselves)."""
        proc, self._proc = self._proc, None
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()
        if proc is not None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(10)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


class ForkedProcess:
    """The ``subprocess.Popen`` surface jupyter_client uses, for a kernel forked by the server (not our
    child: it is watched through a pidfd; its exit status is not ours to read, so it is 0 or -9)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._killed = False
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:
            self._pidfd = None
            self.returncode = 0

    def poll(self) -> int | None:
        if self.returncode is None and self._pidfd is not None:
            readable, _, _ = select.select([self._pidfd], [], [], 0)
            if readable:
                self._ended()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            assert self._pidfd is not None
            select.select([self._pidfd], [], [], 0.1)
        return self.returncode or 0

    def _ended(self) -> None:
        self.returncode = -signal.SIGKILL if self._killed else 0
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            if signum == signal.SIGKILL:
                self._killed = True
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def __del__(self) -> None:
        if getattr(self, "_pidfd", None) is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)  # type: ignore[arg-type]


class ForkProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner; the launch is a fork of the server (``fork_server``)."""

    fork_server: ForkServer | None = None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        server = self.fork_server
        if server is None:
            return await super().launch_kernel(cmd, **kwargs)
        out: Any = kwargs.get("stdout")
        out_fd = out.fileno() if hasattr(out, "fileno") else int(out)
        key_fds = tuple(kwargs.get("pass_fds") or ())
        key_fd = key_fds[0] if key_fds else os.open(os.devnull, os.O_RDONLY)
        try:
            module = cmd.index("-m")
            argv = [cmd[module + 1], *cmd[module + 2 :]]
            pid = server.spawn(argv, kwargs.get("env") or {}, str(kwargs.get("cwd") or os.getcwd()), key_fd, out_fd)
        except (ForkServerError, OSError):  # the server is gone (or its folder): start the kernel the usual way
            return await super().launch_kernel(cmd, **kwargs)
        finally:
            if not key_fds:
                os.close(key_fd)
        self.process = ForkedProcess(pid)  # type: ignore[assignment]  # duck-types the Popen it replaces
        self.pid = pid
        self.pgid = pid  # the child made its own session before the server answered
        self.cwd = kwargs.get("cwd", Path.cwd())
        return self.connection_info

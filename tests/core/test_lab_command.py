"""`testkey-nb lab`: real keys by reference in the kernel (and nowhere else), the kept workspace, the
demo emulator, no news prompt, throwaway copies swept, committed notebooks saved without outputs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkey_nb.cli.lab import (
    NOTEBOOKS_ENV,
    WORKSPACE_ENV,
    LabError,
    LabKey,
    collect_keys,
    keys_markdown,
    strip_committed_outputs,
    sweep_throwaway_copies,
)
from tests.conftest import CANARY

PASSED = "b10_PaSsEd42.PaSsEdPaSsEdPaSsEdPaSsEdPaSsEdPaSs"
UNPASSED = "b10_NoTpAsS1.NoTpAsSNoTpAsSNoTpAsSNoTpAsSNoTpAsS"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    proc: subprocess.Popen[str]
    url: str
    token: str
    runtime: Path
    log: Path

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}"}
        return httpx.request(method, f"{self.url.rstrip('/')}{path}", headers=headers, timeout=30.0, **kwargs)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_lab(
    tmp_path: Path,
    *args: str,
    extra_env: dict[str, str] | None = None,
    command: tuple[str, ...] = (sys.executable, "-m", "testkey_nb"),
    cwd: Path | None = None,
    base_env: Mapping[str, str] | None = None,
) -> Iterator[Lab]:
    """Start ``testkey-nb lab ARGS --no-browser`` (``command`` is testkey-nb, run in ``cwd`` with ``base_env``,
    default this process's environment) on a free port; stop it with SIGINT at the end."""
    port = _free_port()
    runtime = tmp_path / "rt"
    env = {**(os.environ if base_env is None else base_env),
           "JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), **(extra_env or {})}  # fmt: skip
    log = tmp_path / "lab.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [*command, "lab", "--no-browser", "--port", str(port), *args],
            stdout=fh, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True, cwd=cwd,
        )  # fmt: skip
    try:
        info = None
        for _ in range(1200):  # bounded wait for the server to come up, not a timing assertion
            if proc.poll() is not None:
                break
            files = sorted(runtime.glob("jpserver-*.json"))
            if files:
                try:
                    info = json.loads(files[0].read_text())
                    if httpx.get(f"{info['url']}api/status", headers={"Authorization": f"token {info['token']}"},
                                 timeout=2.0).status_code == 200:  # fmt: skip
                        break
                except (ValueError, httpx.HTTPError):
                    pass
            time.sleep(0.25)
        assert proc.poll() is None and info, log.read_text()
        yield Lab(proc, info["url"], info["token"], runtime, log)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _execute(lab: Lab, code: str) -> str:
    """Start a kernel through the server, run ``code`` in it with jupyter_client, return its stdout."""
    from jupyter_client import BlockingKernelClient

    kernel = lab.api("POST", "/api/kernels", json={"name": "python3"}).json()
    connection = lab.runtime / f"kernel-{kernel['id']}.json"
    kc = BlockingKernelClient(connection_file=str(connection))
    kc.load_connection_file()
    # no heartbeat: the server owns the kernel, and a heartbeat not yet beating on a loaded machine reads as
    # "Kernel died" to jupyter_client; kernel_info answering is the readiness signal
    kc.start_channels(hb=False)
    chunks: list[str] = []
    try:
        kc.wait_for_ready(timeout=240)
        reply = kc.execute_interactive(
            code, timeout=180,
            output_hook=lambda msg: chunks.append(msg["content"].get("text", "")) if msg["msg_type"] == "stream"
            else chunks.append(json.dumps(msg["content"].get("data", {})) if msg["msg_type"] == "error"
                               or "data" in msg["content"] else ""),
        )  # fmt: skip
        assert reply["content"]["status"] == "ok", "".join(chunks)
    finally:
        kc.stop_channels()
        lab.api("DELETE", f"/api/kernels/{kernel['id']}")
    return "".join(chunks)


@pytest.mark.slow
def test_lab_with_real_keys_by_reference(tmp_path: Path, emu: Any) -> None:
    keys = tmp_path / "keys.env"
    keys.write_text(f"BASETEN_API_KEY={CANARY}\n")
    keys.chmod(0o600)
    workspace = tmp_path / "work"
    (tmp_path / "tmp" / "testkey-nb-lab-old" / "notebooks").mkdir(parents=True)  # an earlier run's copy
    env = {"PASSED_KEY": PASSED, "UNPASSED_KEY": UNPASSED, "TMPDIR": str(tmp_path / "tmp")}
    with running_lab(tmp_path, "--keys-env", str(keys), "--pass-env", "PASSED_KEY", "--workspace", str(workspace),
                     extra_env=env) as lab:  # fmt: skip
        # the Jupyter server (whose environment every kernel and terminal started from Lab inherits) holds
        # no key: read from /proc/<pid>/environ while it runs
        server_pid = json.loads(sorted(lab.runtime.glob("jpserver-*.json"))[0].read_text())["pid"]
        server_env = Path(f"/proc/{server_pid}/environ").read_bytes()
        assert b"TESTKEY_NB_LAB_KEYS=" in server_env
        for secret in (CANARY, PASSED, UNPASSED):
            assert secret.encode() not in server_env
        code = (
            "import os, testkey_nb as tk\n"
            f"c = tk.check('env:BASETEN_API_KEY', base_url={emu.inference_url!r}, "
            f"management_url={emu.management_url!r}, claim='baseten')\n"
            f"again = tk.check('env:BASETEN_API_KEY', base_url={emu.inference_url!r}, claim='baseten')\n"
            f"passed = tk.check('env:PASSED_KEY', base_url={emu.inference_url!r}, claim='baseten')\n"
            "print('VERDICT', c.decision.verdict, c.identification.provider)\n"
            "print('AGAIN', again.identification.provider, passed.identification.provider)\n"
            "print('PASSED', 'PASSED_KEY' in os.environ, 'UNPASSED', 'UNPASSED_KEY' in os.environ)\n"
            "print('EMU', 'TESTKEY_NB_BASE_URL' in os.environ)\n"
            "print('ENVIRON', open('/proc/self/environ', 'rb').read().hex())\n"
            "try:\n    tk.check('env:BASETEN_APIKEY', claim='baseten')\n"
            "except Exception as e:\n    print('TYPO', e)\n"
            "c\n"
        )
        out = _execute(lab, code)
        assert "VERDICT" in out and "baseten" in out
        # env:NAME resolves from Lab's keys file, any number of times; no key in the kernel's environment
        assert "AGAIN baseten baseten" in out
        assert "PASSED False UNPASSED False" in out
        kernel_env = bytes.fromhex(out.split("ENVIRON ", 1)[1].split("\n", 1)[0])
        assert b"TESTKEY_NB_LAB_KEYS=" in kernel_env and b"BASETEN_API_KEY=" not in kernel_env
        for secret in (CANARY, PASSED, UNPASSED):
            assert secret.encode() not in kernel_env
        assert "EMU False" in out  # --keys-env alone: no emulator, no silent fallback to it
        assert "is not set; key variables here: BASETEN_API_KEY, PASSED_KEY" in out
        assert "tk-card" in out  # the KeyCheck displayed as its card
        # the analyst saves a notebook with that output in the workspace: kept, with no key in it
        nb = {"type": "notebook", "content": {"cells": [{"cell_type": "code", "source": code, "metadata": {},
              "execution_count": 1, "outputs": [{"output_type": "stream", "name": "stdout", "text": out}]}],
              "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}  # fmt: skip
        assert lab.api("PUT", "/api/contents/scratch.ipynb", json=nb).status_code in (200, 201)
        saved = json.loads((workspace / "scratch.ipynb").read_text())
        assert saved["cells"][0]["outputs"], "the workspace keeps outputs"
        listing = lab.api("GET", "/api/contents").json()
        assert {"KEYS.md", "scratch.ipynb", "package-notebooks"} <= {c["name"] for c in listing["content"]}
        copies = lab.api("GET", "/api/contents/package-notebooks").json()
        assert {"key_report.ipynb", "billing_lifecycle.ipynb"} <= {c["name"] for c in copies["content"]}
        news = lab.api("GET", "/lab/api/settings/@jupyterlab/apputils-extension:notification").json()
        defaults = news["schema"]["properties"]  # Lab applies overrides.json to the schema's defaults
        assert defaults["fetchNews"]["default"] == "false" and defaults["checkForUpdates"]["default"] is False
    keys_md = (workspace / "KEYS.md").read_text()
    assert "BASETEN_API_KEY" in keys_md and "baseten-api-key" in keys_md and "PASSED_KEY" in keys_md
    assert (workspace / ".gitignore").read_text().strip().endswith("*")
    assert not (tmp_path / "tmp" / "testkey-nb-lab-old").exists()
    assert (workspace / "scratch.ipynb").exists(), "the workspace outlives Lab"
    log = lab.output()
    assert "BASETEN_API_KEY (baseten-api-key)" in log and "Emulator: off" in log
    for secret in (CANARY, PASSED, UNPASSED):
        assert secret not in log
        for path in workspace.rglob("*"):
            if path.is_file():
                assert secret not in path.read_text(errors="replace"), path


@pytest.mark.slow
def test_make_lab_keeps_the_emulator_demo(tmp_path: Path) -> None:
    import shutil
    import uuid

    from testkey_nb._files import NOTEBOOKS_DIR

    name = f"lab-test-{uuid.uuid4().hex[:8]}"
    workspace = NOTEBOOKS_DIR / name  # inside the notebooks (`make lab`): Lab serves them with the workspace in it
    committed = NOTEBOOKS_DIR / f"{name}.ipynb"  # stands for a committed notebook (removed below)
    cell = {"cell_type": "code", "source": "1", "metadata": {}, "execution_count": 1,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "1"}]}  # fmt: skip
    nb = {"type": "notebook", "content": {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}
    try:
        with running_lab(tmp_path, "--workspace", str(workspace)) as lab:
            server_pid = json.loads(sorted(lab.runtime.glob("jpserver-*.json"))[0].read_text())["pid"]
            server_env = Path(f"/proc/{server_pid}/environ").read_bytes()
            assert b"b10_" not in server_env and b"TESTKEY_NB_LAB_KEYS=" in server_env  # demo keys: the file only
            listing = lab.api("GET", f"/api/contents/{name}").json()
            assert "KEYS.md" in {c["name"] for c in listing["content"]}
            assert {"key_report.ipynb", name} <= {c["name"] for c in lab.api("GET", "/api/contents").json()["content"]}
            assert lab.api("PUT", f"/api/contents/{name}.ipynb", json=nb).status_code in (200, 201)
            assert lab.api("PUT", f"/api/contents/{name}/mine.ipynb", json=nb).status_code in (200, 201)
            stripped = json.loads(committed.read_text())["cells"][0]
            kept = json.loads((workspace / "mine.ipynb").read_text())["cells"][0]
        assert stripped["outputs"] == [] and stripped["execution_count"] is None  # the pre_save_hook ran
        assert not (workspace / "package-notebooks").exists()  # the committed notebooks are served themselves
        assert kept["outputs"] and kept["execution_count"] == 1
        log = lab.output()
        assert "Emulator: inference http://127.0.0.1:" in log and "DEMO_FULL_ACCESS" in log
        assert "b10_" not in log  # the demo keys go into Lab's keys file, never to the terminal
        keys_md = (workspace / "KEYS.md").read_text()
        assert "DEMO_FULL_ACCESS" in keys_md and "the emulator" in keys_md and "b10_" not in keys_md
    finally:
        committed.unlink(missing_ok=True)
        shutil.rmtree(workspace, ignore_errors=True)


def test_pass_env_never_prints_a_key_back() -> None:
    # a key pasted where the NAME belongs: not a name (a dot), or name-shaped (Groq's gsk_...) and unset
    for pasted in (PASSED, "gsk_" + "W7cAnArY" * 6):
        with pytest.raises(LabError) as err:
            collect_keys(None, [pasted], environ={"OTHER": "x"})
        assert pasted not in str(err.value) and pasted[4:] not in str(err.value)
        assert f"({len(pasted)} chars)" in str(err.value)


def test_lab_keys_file_is_private_and_gone_afterwards() -> None:
    from testkey_nb.cli.lab import lab_keys_file
    from testkey_nb.secrets import lab_keys

    with lab_keys_file({"MY_KEY": CANARY}) as path:
        assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)
        assert lab_keys(path) == {"MY_KEY": CANARY}
    assert not path.exists() and not path.parent.exists()


def test_a_lab_kernel_resolves_env_names_from_its_keys_file_only(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from testkey_nb.cli.lab import lab_keys_file
    from testkey_nb.secrets import LAB_KEYS_ENV, KeyRefError, resolve

    monkeypatch.setenv("IN_ENV_ONLY", PASSED)
    with lab_keys_file({"MY_KEY": CANARY}) as path:
        monkeypatch.setenv(LAB_KEYS_ENV, str(path))
        assert [resolve("env:MY_KEY").reveal() for _ in range(3)] == [CANARY] * 3
        with pytest.raises(KeyRefError, match="is not set"):
            resolve("env:IN_ENV_ONLY")  # os.environ is never read in a Lab kernel
        path.chmod(0o644)
        with pytest.raises(KeyRefError, match="readable by group or others"):
            resolve("env:MY_KEY")


def test_collect_keys_errors_name_no_value(tmp_path: Path) -> None:
    keys = tmp_path / "keys.env"
    keys.write_text(f"MY_KEY={CANARY}\n")
    keys.chmod(0o644)
    with pytest.raises(LabError, match="chmod 600"):
        collect_keys(keys, [])
    keys.chmod(0o600)
    found, values = collect_keys(keys, ["OTHER"], environ={"OTHER": PASSED})
    assert [k.name for k in found] == ["MY_KEY", "OTHER"] and values == {"MY_KEY": CANARY, "OTHER": PASSED}
    with pytest.raises(LabError, match="did you mean OTHER_KEY") as err:
        collect_keys(None, ["OTHER_KEX"], environ={"OTHER_KEY": PASSED})
    assert PASSED not in str(err.value)
    md = keys_markdown(found, None)
    assert "MY_KEY" in md and CANARY not in md and "No emulator" in md


def test_package_notebooks_are_copied_and_an_edited_copy_is_kept(tmp_path: Path) -> None:
    from testkey_nb.cli.lab import copy_package_notebooks

    package, workspace = tmp_path / "package", tmp_path / "ws"
    package.mkdir()
    (package / "a.ipynb").write_text("a1")
    (package / "b.ipynb").write_text("b1")
    (package / "notes.md").write_text("not a notebook")
    assert copy_package_notebooks(workspace, package) == []
    copies = workspace / "package-notebooks"
    assert sorted(p.name for p in copies.iterdir()) == ["a.ipynb", "b.ipynb"]
    (copies / "b.ipynb").write_text("b1 with the analyst's outputs")
    (package / "a.ipynb").write_text("a2")  # a newer package
    (package / "b.ipynb").write_text("b2")
    assert copy_package_notebooks(workspace, package) == ["b.ipynb"]
    assert (copies / "a.ipynb").read_text() == "a2"  # untouched copy: refreshed
    assert (copies / "b.ipynb").read_text() == "b1 with the analyst's outputs"  # edited copy: kept
    (copies / "a.ipynb").unlink()  # a deleted copy comes back
    assert copy_package_notebooks(workspace, package) == ["b.ipynb"]
    assert (copies / "a.ipynb").read_text() == "a2"


def test_lab_default_workspace_is_in_the_current_folder() -> None:
    from typer.testing import CliRunner

    from testkey_nb.cli.lab import DEFAULT_WORKSPACE
    from testkey_nb.cli.main import app

    assert DEFAULT_WORKSPACE == "testkey-nb-lab"
    assert "./testkey-nb-lab/" in CliRunner().invoke(app, ["lab", "--help"]).output


def test_sweep_throwaway_copies(tmp_path: Path) -> None:
    (tmp_path / "testkey-nb-lab-abc").mkdir()
    (tmp_path / "other").mkdir()
    assert sweep_throwaway_copies(tmp_path) == 1
    assert not (tmp_path / "testkey-nb-lab-abc").exists() and (tmp_path / "other").exists()


def test_pre_save_hook_strips_committed_notebooks_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebooks = tmp_path / "notebooks"
    (notebooks / "work").mkdir(parents=True)
    monkeypatch.setenv(NOTEBOOKS_ENV, str(notebooks))
    monkeypatch.setenv(WORKSPACE_ENV, str(notebooks / "work"))

    class Manager:
        root_dir = str(notebooks)

    def model() -> dict[str, Any]:
        cell = {"cell_type": "code", "execution_count": 3, "metadata": {"execution": {}},
                "outputs": [{"output_type": "stream", "text": "x"}], "source": ""}  # fmt: skip
        return {"type": "notebook", "content": {"cells": [cell]}}

    committed, own = model(), model()
    strip_committed_outputs(committed, "key_report.ipynb", Manager())
    strip_committed_outputs(own, "/work/scratch.ipynb", Manager())
    stripped = committed["content"]["cells"][0]
    assert stripped["outputs"] == [] and stripped["execution_count"] is None
    assert "execution" not in stripped["metadata"]
    assert own["content"]["cells"][0]["outputs"], "the workspace keeps its outputs"


def test_demo_keys_have_one_name(tmp_path: Path) -> None:
    from testkey_nb.batch.keysfile import load_keys_env
    from testkey_nb.cli.emulator import env_name, write_keys_file

    assert env_name("full-access") == "DEMO_FULL_ACCESS"
    path = tmp_path / "demo.env"
    write_keys_file(path, {"full-access": "b10_x.y"})
    assert [label for label, _ in load_keys_env(path)] == ["demo-full-access"]  # = `testkey-nb demo`'s label
    assert LabKey("DEMO_FULL_ACCESS", "demo-full-access", "the emulator", demo=True).demo


def test_lab_opens_keys_md_first_with_the_hook_and_no_news(tmp_path: Path) -> None:
    from testkey_nb.cli.lab import lab_command

    root = tmp_path / "notebooks"
    cmd = lab_command(root / "work", root, port=8899, open_browser=False, settings_dir=tmp_path / "s")
    assert "--LabApp.default_url=/lab/tree/work/KEYS.md" in cmd
    assert "--FileContentsManager.pre_save_hook=testkey_nb.cli.lab.strip_committed_outputs" in cmd
    assert "--LabApp.news_url=None" in cmd and "--ServerApp.ip=127.0.0.1" in cmd and "--no-browser" in cmd

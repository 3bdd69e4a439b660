"""The wheel is the product: ``python -m build`` of this checkout, installed in a fresh virtual environment
outside it, renders the demo fleet, one key, the history and Lab, and answers through the Python API.

The venv gets the wheel alone (``pip install --no-deps``); the third-party packages it needs come from the
interpreter running this test through a ``.pth`` line (a directory a ``.pth`` names is added as is: its own
``.pth`` files, among them the editable install's finder for this checkout, are not run) and their data files
(nbconvert's templates, Lab's assets) through ``JUPYTER_PATH``/``JUPYTERLAB_DIR``. So everything
``testkey_nb`` is comes from the wheel, which the test asserts; a full ``pip install`` of the wheel with its
dependencies is CI's job (``.ci/run``), where it costs about a minute more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CANARY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: The environment variable the rendered key is read from (a key reference, never a value on a command line).
KEY_VAR = "WHEEL_TEST_KEY"


@dataclass(frozen=True)
class Installed:
    venv: Path
    home: Path  # the working directory of every command: outside the checkout
    env: dict[str, str]

    @property
    def cli(self) -> str:
        return str(self.venv / "bin" / "testkey-nb")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=self.home, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip


def _tracked_data_files() -> set[str]:
    """The files under ``testkey_nb/`` git tracks that are not Python modules (the package's data)."""
    out = subprocess.run(["git", "ls-files", "testkey_nb"], cwd=ROOT, capture_output=True, text=True, check=True)
    return {p for p in out.stdout.splitlines() if not p.endswith((".py", "README.md"))}


def _clean_copy(dest: Path) -> Path:
    """The checkout's files as a fresh clone has them (tracked or not ignored, as in the working tree), in
    ``dest``: a build here reads no leftover ``*.egg-info/SOURCES.txt``, which would add files the
    configuration no longer ships, and leaves nothing in the checkout."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist, source = tmp_path_factory.mktemp("dist"), _clean_copy(tmp_path_factory.mktemp("src"))
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
                           capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheels = sorted(dist.glob("testkey_nb-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel-venv")
    assert not base.resolve().is_relative_to(ROOT)
    venv, home = base / "venv", base / "home"
    # no PYTHONPATH: it may name the checkout (and pip would take its egg-info for an installed testkey-nb)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300, env=env)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, timeout=300, env=env, cwd=base)  # fmt: skip
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, env=env).stdout.strip()  # fmt: skip
    ours = sysconfig.get_paths()
    (Path(site) / "_wheel_test_deps.pth").write_text(f"{ours['purelib']}\n{ours['platlib']}\n", encoding="utf-8")
    home.mkdir()
    env.update({
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(base / "jupyter-config"), "JUPYTER_DATA_DIR": str(base / "jupyter-data"),
        # the data files of those packages (nbconvert's templates, Lab's assets) are under their prefix
        "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
        "JUPYTERLAB_DIR": str(Path(sys.prefix) / "share" / "jupyter" / "lab"),
    })  # fmt: skip
    yield Installed(venv, home, env)


def test_the_wheel_holds_every_data_file_and_the_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    missing = _tracked_data_files() - names
    assert not missing, f"data files the package reads but the wheel lacks: {sorted(missing)}"
    assert {"testkey_nb/notebooks/key_report.ipynb", "testkey_nb/notebooks/scenarios/bursty_chatbot.toml"} <= names
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "benchmarks/", "testkey_nb/notebooks/work/"))]
    assert "License-Expression: Apache-2.0" in metadata and "Name: testkey-nb" in metadata


def test_the_installed_package_is_the_wheel(installed: Installed, emu: Any) -> None:
    env = {**installed.env, KEY_VAR: CANARY}
    code = (
        "import json, testkey_nb\n"
        f"c = testkey_nb.check('env:{KEY_VAR}', base_url={emu.inference_url!r}, "
        f"management_url={emu.management_url!r}, claim='baseten')\n"
        "print(json.dumps({'file': testkey_nb.__file__, 'provider': c.identification.provider,"
        " 'verdict': c.decision.verdict}))\n"
    )
    out = subprocess.run([installed.python, "-c", code], cwd=installed.home, env=env, capture_output=True,
                         text=True, timeout=300, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).resolve().is_relative_to(installed.venv.resolve()), result["file"]
    assert not Path(result["file"]).resolve().is_relative_to(ROOT)
    assert (result["provider"], result["verdict"]) == ("baseten", "ready")
    assert CANARY not in out.stdout + out.stderr
    from importlib.metadata import version

    shown = installed.run(installed.cli, "--version")
    assert shown.returncode == 0 and shown.stdout.strip() == f"testkey-nb {version('testkey-nb')}", shown


def test_the_wheel_renders_the_demo_and_its_history(installed: Installed) -> None:
    from testkey_nb.cli.demo import DEMO_FLEET
    from testkey_nb.emulator.scenarios import SCENARIOS

    out = installed.home / "demo"
    demo = installed.run(installed.cli, "demo", "--out", str(out), timeout=1200)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    labels = {f"demo-{s}" for s in SCENARIOS} | {"demo-impostor-openai", "demo-behind-waf"}
    labels |= {f"demo-{provider}-{mode}" for provider, modes in DEMO_FLEET.items() for mode in modes}
    html = {p.name for p in out.glob("*.html")}
    assert html == {f"{label}.html" for label in labels} | {"index.html", "scenario-bursty_chatbot.html"}
    rows = json.loads((out / "index.json").read_text())
    assert {row["label"] for row in rows} == labels
    history = installed.run(installed.cli, "history", "--out", str(out), "--json", "--report")
    assert history.returncode == 0, history.stderr[-3000:]
    assert {k["label"] for k in json.loads(history.stdout)} == labels
    assert (out / "fleet-history.html").stat().st_size > 0  # the fleet_history notebook, from the wheel


def test_the_wheel_renders_one_key(installed: Installed, emu: Any) -> None:
    out = installed.home / "one"
    env = {**installed.env, KEY_VAR: CANARY}
    rendered = subprocess.run(
        [installed.cli, "render", f"env:{KEY_VAR}", "--label", "wheel-key", "--claim", "baseten", "--base-url",
         emu.inference_url, "--management-url", emu.management_url, "--out", str(out)],
        cwd=installed.home, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stdout[-3000:] + rendered.stderr[-3000:]
    report = (out / "wheel-key.html").read_text(encoding="utf-8")
    assert "tk-ready" in report and "Ten key capabilities" in report  # the verdict badge, the capability matrix
    assert CANARY not in report and CANARY not in rendered.stdout + rendered.stderr
    history = installed.run(installed.cli, "history", "--out", str(out), "--json")
    assert history.returncode == 0, history.stderr[-3000:]
    [key] = json.loads(history.stdout)
    assert key["label"] == "wheel-key" and len(key["snapshots"]) == 1
    scenario = installed.run(installed.cli, "billing", "--scenario", "free_credits_no_card", "--json")
    assert scenario.returncode == 0, scenario.stderr[-3000:]
    assert json.loads(scenario.stdout)["deactivated_at"] == "2026-03-02T00:52:00Z"  # the bundled scenario


def test_the_wheel_runs_lab_with_a_workspace_in_the_current_folder(installed: Installed, tmp_path: Path) -> None:
    from tests.core.test_lab_command import _execute, running_lab

    with running_lab(tmp_path, base_env=installed.env, command=(installed.cli,), cwd=installed.home) as lab:
        listing = {c["name"] for c in lab.api("GET", "/api/contents").json()["content"]}
        assert {"KEYS.md", "package-notebooks"} <= listing
        out = _execute(lab, "import testkey_nb\nprint('FILE', testkey_nb.__file__)\n")
    workspace = installed.home / "testkey-nb-lab"
    assert "DEMO_FULL_ACCESS" in (workspace / "KEYS.md").read_text()
    kernel_file = Path(out.split("FILE", 1)[1].strip()).resolve()
    assert kernel_file.is_relative_to(installed.venv.resolve()) and not kernel_file.is_relative_to(ROOT)
    committed = ROOT / "testkey_nb" / "notebooks" / "key_report.ipynb"
    assert (workspace / "package-notebooks" / "key_report.ipynb").read_bytes() == committed.read_bytes()

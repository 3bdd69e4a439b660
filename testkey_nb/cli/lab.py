"""``testkey-nb lab``: JupyterLab as the analyst's home, with their own keys (by reference) or the
emulator's demo keys.

* Keys come from a 0600 dotenv file (``--keys-env FILE``) or from named variables of this shell
  (``--pass-env NAME``). They go into one private keys file (JSON, mode 0600, in a 0700 folder of its
  own, removed when Lab exits) whose *path* the server and its kernels get in ``TESTKEY_NB_LAB_KEYS``.
  No key is in any environment: not the Jupyter server's, not a kernel's, not a terminal's started
  from Lab. Notebooks read keys by reference (``testkey_nb.check("env:NAME", ...)``): in a Lab kernel
  ``env:NAME`` resolves from that file, never from ``os.environ``, as many times as it is asked. Keys
  go nowhere else: not into a notebook, a parameter, ``KEYS.md`` or a log line; a message quoting what
  was given (``--pass-env`` with a key pasted as the name) masks it.
* ``--emulator`` (the default when no key is given: ``make lab``) starts the emulator and adds its
  demo keys as ``DEMO_<SCENARIO>`` (the names ``testkey-nb emulator --keys-out`` writes). Only those
  keys default to the emulator's URLs; a real key with an empty ``base_url`` goes to its claimed
  provider's official hosts.
* Lab serves the analyst's persistent, git-ignored workspace: ``./testkey-nb-lab/`` in the folder it is
  started from, or ``--workspace DIR``. The package's notebooks are copied into its ``package-notebooks/``
  (a copy the analyst has not changed is refreshed from the installed package at every start; an edited
  one is kept). A workspace inside the package's own notebooks folder (``make lab`` in a checkout:
  ``testkey_nb/notebooks/work/``) makes Lab serve that folder instead, so the committed notebooks can
  be edited: saving one strips its outputs (a ``pre_save_hook``, :func:`strip_committed_outputs`);
  notebooks in the workspace keep theirs. ``KEYS.md`` (labels and variable names only) is opened first,
  so the Lab window says which keys and which emulator are in use. Throwaway copies left by earlier
  versions in the temp folder are swept.
* No network prompts: Lab's news and update check are off (``news_url=None``, settings overrides).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

#: The analyst's workspace when no ``--workspace`` is given: this folder in the current directory.
DEFAULT_WORKSPACE: Final = "testkey-nb-lab"
#: In a workspace outside the package: the copies of the package's notebooks.
PACKAGE_COPY: Final = "package-notebooks"
#: What was copied there (file name -> sha256), to tell an untouched copy from the analyst's edits.
_COPY_MANIFEST: Final = ".testkey-nb/package-notebooks.json"
KEYS_MD: Final = "KEYS.md"
#: Environment variables the Lab server reads (never secrets): where the committed notebooks and the
#: workspace are, for :func:`strip_committed_outputs`.
NOTEBOOKS_ENV: Final = "TESTKEY_NB_LAB_NOTEBOOKS"
WORKSPACE_ENV: Final = "TESTKEY_NB_LAB_WORKSPACE"
_THROWAWAY_PREFIX: Final = "testkey-nb-lab-"
#: Lab settings that keep an offline tool offline: no news prompt, no update check.
_SETTINGS_OVERRIDES: Final = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    # KEYS.md (and any Markdown) opens rendered, not as source
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}},
}


class LabError(ValueError):
    """Lab cannot start as asked (bad keys file, missing variable, ...). One line, no key."""


@dataclass(frozen=True)
class LabKey:
    """One key in the kernel's environment: its variable NAME, label and origin. Never the value."""

    name: str
    label: str
    origin: str
    demo: bool = False


def _env_name(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in label).upper()


#: The folder prefix of Lab's private keys file (not swept as a throwaway copy: Lab removes it itself).
_KEYS_DIR_PREFIX: Final = "testkey-nb-keys-"


@contextmanager
def lab_keys_file(values: Mapping[str, str]) -> Iterator[Path]:
    """A private keys file holding ``values`` (``{NAME: key}`` JSON, 0600, in a fresh 0700 folder) for as
    long as the context lasts; its path goes into ``TESTKEY_NB_LAB_KEYS``, the keys into no environment."""
    folder = Path(tempfile.mkdtemp(prefix=_KEYS_DIR_PREFIX))
    path = folder / "keys.json"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(dict(values), fh)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def collect_keys(
    keys_env: Path | None, pass_env: Sequence[str], environ: Mapping[str, str] | None = None
) -> tuple[list[LabKey], dict[str, str]]:
    """The analyst's keys: ``(descriptions, {NAME: value})``. Raises :class:`LabError` (no value in it)."""
    from testkey_nb.batch.keysfile import KeysFileError, load_keys_env
    from testkey_nb.secrets import mask

    env = os.environ if environ is None else environ
    keys: list[LabKey] = []
    values: dict[str, str] = {}
    if keys_env is not None:
        try:
            entries = load_keys_env(keys_env)
        except KeysFileError as exc:
            raise LabError(str(exc)) from None
        for label, secret in entries:
            name = _env_name(label)
            keys.append(LabKey(name, label, f"{keys_env} line {(secret.source or '').rsplit(':', 1)[-1]}"))
            values[name] = secret.reveal()
    for name in pass_env:
        # what was given is quoted masked: a key pasted where a NAME belongs is never printed back
        shown = mask(name)
        if not name.isidentifier() or not name.isascii():
            raise LabError(f"--pass-env {shown} is not an environment variable name (give the NAME of the "
                           "variable that holds the key, never the key)")  # fmt: skip
        if name not in env:
            import difflib

            close = difflib.get_close_matches(name, [n for n in env if n.isidentifier()], n=3, cutoff=0.6)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            raise LabError(f"--pass-env {shown}: the variable is not set in this shell{hint}")
        if not env[name].strip():
            raise LabError(f"--pass-env {shown}: the variable is empty")
        if name in values:
            raise LabError(f"--pass-env {shown}: the keys file defines that variable already")
        keys.append(LabKey(name, name.lower().replace("_", "-"), "this shell (--pass-env)"))
        values[name] = env[name].strip()
    return keys, values


def sweep_throwaway_copies(tmp: Path | None = None) -> int:
    """Delete the ``testkey-nb-lab-*`` copies earlier versions left in the temp folder; return how many."""
    root = Path(tmp or tempfile.gettempdir())
    swept = 0
    for path in root.glob(f"{_THROWAWAY_PREFIX}*"):
        try:
            if path.is_symlink() or not path.is_dir() or (hasattr(os, "getuid") and path.stat().st_uid != os.getuid()):
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        swept += 1
    return swept


def prepare_workspace(workspace: Path) -> None:
    """Create the workspace (kept between runs) and make git ignore it wherever it is."""
    workspace.mkdir(parents=True, exist_ok=True)
    ignore = workspace / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# testkey-nb lab: the analyst's own notebooks; never committed\n*\n", encoding="utf-8")


def copy_package_notebooks(workspace: Path, notebooks: Path) -> list[str]:
    """Copy the package's notebooks into ``workspace/package-notebooks/``: a missing copy or one the
    analyst has not changed since it was copied gets the installed version; an edited one is kept.
    Returns the names of the edited copies that were kept."""
    import hashlib

    target = workspace / PACKAGE_COPY
    target.mkdir(parents=True, exist_ok=True)
    manifest_path = workspace / _COPY_MANIFEST
    try:
        copied: dict[str, str] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        copied = {}
    kept = []
    for source in sorted(notebooks.glob("*.ipynb")):
        dest = target / source.name
        if dest.exists():
            current = hashlib.sha256(dest.read_bytes()).hexdigest()
            if current != copied.get(source.name):
                kept.append(source.name)
                continue
        data = source.read_bytes()
        dest.write_bytes(data)
        copied[source.name] = hashlib.sha256(data).hexdigest()
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(copied, indent=1, sort_keys=True), encoding="utf-8")
    return kept


def keys_markdown(keys: Sequence[LabKey], emulator: Mapping[str, str] | None, *, in_checkout: bool = False) -> str:
    """``KEYS.md``: which keys (variable names and labels) and which emulator this Lab uses. No values."""
    lines = ["# Keys in this Lab", "", "Variable names and labels only: the keys are in Lab's private keys file,",
             "never in a notebook or an environment.", ""]  # fmt: skip
    if keys:
        lines += ["| variable | label | from | empty `base_url` goes to |", "|---|---|---|---|"]
        for k in keys:
            target = "the emulator" if k.demo else "the claimed provider's official hosts"
            lines.append(f"| `{k.name}` | {k.label} | {k.origin} | {target} |")
    else:
        lines.append("No keys: start with `testkey-nb lab --keys-env FILE` or `--pass-env NAME`.")
    lines.append("")
    if emulator:
        lines += [f"Emulator (fake Baseten on loopback): inference `{emulator['inference']}`, "
                  f"management `{emulator['management']}`.", ""]  # fmt: skip
    else:
        lines += ["No emulator: every request goes to the host you name (or the claimed provider's).", ""]
    example = next((k for k in keys if not k.demo), keys[0] if keys else None)
    if example is not None:
        if example.demo and emulator:  # a demo key goes to the emulator, named in full: never to the real Baseten
            where = (f'base_url="{emulator["inference"]}",\n                 '
                     f'management_url="{emulator["management"]}", claim="baseten"')  # fmt: skip
        else:
            where = 'claim="baseten"'
        lines += [
            "From a notebook in this folder:", "", "```python", "import testkey_nb as tk", "",
            f'check = tk.check("env:{example.name}", {where})',
            "check  # its summary card", "check.models_frame()  # a compact table; .write_csv(\"models.csv\") saves it",
            "```", "",
        ]  # fmt: skip
    lines.append("Notebooks saved in this folder keep their outputs (it is git-ignored).")
    if in_checkout:
        lines.append("Saving a committed notebook (outside this folder) strips its outputs.")
    else:
        lines += [f"`{PACKAGE_COPY}/` holds copies of the package's notebooks: an unchanged copy is refreshed",
                  "at every start, an edited one is kept."]  # fmt: skip
    return "\n".join(lines) + "\n"


def strip_committed_outputs(model: dict[str, Any], path: str, contents_manager: Any, **kwargs: Any) -> None:
    """Jupyter ``pre_save_hook``: clear outputs and counts of a notebook saved outside the workspace
    but inside the committed notebooks folder (the workspace keeps its outputs)."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    notebooks = os.environ.get(NOTEBOOKS_ENV)
    workspace = os.environ.get(WORKSPACE_ENV)
    root = getattr(contents_manager, "root_dir", "")
    target = Path(os.path.realpath(os.path.join(root, path.lstrip("/"))))
    if not notebooks or not _inside(target, Path(os.path.realpath(notebooks))):
        return
    if workspace and _inside(target, Path(os.path.realpath(workspace))):
        return
    for cell in model["content"].get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            if isinstance(cell.get("metadata"), dict):
                cell["metadata"].pop("execution", None)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@contextmanager
def _demo_env(
    enabled: bool,
) -> Iterator[tuple[list[LabKey], dict[str, str], dict[str, str], dict[str, str] | None]]:
    """The emulator's demo keys (for the keys file), its URLs (for the environment) and their display
    (nothing when ``enabled`` is False)."""
    if not enabled:
        yield [], {}, {}, None
        return
    from testkey_nb.check.targets import BASE_URL_ENV, EMULATOR_KEYS_ENV, MANAGEMENT_URL_ENV
    from testkey_nb.cli.emulator import env_name
    from testkey_nb.emulator import run_emulator

    with run_emulator() as emu:
        keys = [LabKey(env_name(s), f"demo-{s}", "the emulator", demo=True) for s in emu.keys]
        values = {env_name(s): key for s, key in emu.keys.items()}
        keys.append(LabKey("TESTKEY_NB_KEY", "demo-full-access", "the emulator (the notebooks' default)", demo=True))
        values["TESTKEY_NB_KEY"] = emu.keys["full-access"]
        extra = {
            BASE_URL_ENV: emu.inference_url,
            MANAGEMENT_URL_ENV: emu.management_url,
            EMULATOR_KEYS_ENV: ",".join(k.name for k in keys),
        }
        yield keys, values, extra, {"inference": emu.inference_url, "management": emu.management_url}


def lab_command(workspace: Path, root: Path, *, port: int, open_browser: bool, settings_dir: Path) -> list[str]:
    """The ``jupyter lab`` command line: loopback, our pre-save hook, no news, KEYS.md first."""
    rel = os.path.relpath(workspace / KEYS_MD, root).replace(os.sep, "/")
    cmd = [
        sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--FileContentsManager.pre_save_hook={__name__}.strip_committed_outputs",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.app_settings_dir={settings_dir}", f"--LabApp.default_url=/lab/tree/{rel}",
    ]  # fmt: skip
    if not open_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root; Lab refuses without it
    return cmd


def run_lab(
    *,
    keys_env: Path | None = None,
    pass_env: Sequence[str] = (),
    emulator: bool | None = None,
    workspace: Path | None = None,
    open_browser: bool = True,
    port: int = 8888,
) -> int:
    """Run JupyterLab until it exits. ``emulator=None``: on when no key is given (``make lab``)."""
    from rich.console import Console
    from rich.markup import escape

    from testkey_nb._files import NOTEBOOKS_DIR
    from testkey_nb.report.execute import kernel_environment
    from testkey_nb.secrets import KEY_NAMES_ENV, LAB_KEYS_ENV

    console = Console(stderr=True)
    keys, values = collect_keys(keys_env, pass_env)
    if emulator is None:
        emulator = not keys
    workspace = (workspace or Path(DEFAULT_WORKSPACE)).expanduser().absolute()
    in_checkout = _inside(workspace.resolve(), NOTEBOOKS_DIR.resolve())
    root = NOTEBOOKS_DIR if in_checkout else workspace
    prepare_workspace(workspace)
    edited = [] if in_checkout else copy_package_notebooks(workspace, NOTEBOOKS_DIR)
    swept = sweep_throwaway_copies()
    settings_dir = workspace / ".testkey-nb" / "lab-settings"
    settings_dir.mkdir(parents=True, exist_ok=True)
    (settings_dir / "overrides.json").write_text(json.dumps(_SETTINGS_OVERRIDES, indent=1), encoding="utf-8")
    with _demo_env(emulator) as (demo_keys, demo_values, demo_env, emu_urls), \
            lab_keys_file({**values, **demo_values}) as keys_path:
        all_keys = [*keys, *demo_keys]
        (workspace / KEYS_MD).write_text(keys_markdown(all_keys, emu_urls, in_checkout=in_checkout), encoding="utf-8")
        # names, URLs and the keys file's path only: no key in the server's (so no kernel's) environment
        extra = {
            **demo_env, KEY_NAMES_ENV: ",".join(k.name for k in all_keys), LAB_KEYS_ENV: str(keys_path),
            NOTEBOOKS_ENV: str(NOTEBOOKS_DIR), WORKSPACE_ENV: str(workspace),
        }  # fmt: skip
        env = kernel_environment(extra)
        names = ", ".join(f"{k.name} ({k.label})" for k in keys) or "none"
        console.print(
            f"Keys for the kernels, in a private file (names and labels; values never shown): {escape(names)}",
            soft_wrap=True,
        )
        if emu_urls:
            console.print(f"Emulator: inference {emu_urls['inference']}, management {emu_urls['management']}; "
                          f"demo keys {', '.join(k.name for k in demo_keys)}.", soft_wrap=True)  # fmt: skip
        else:
            console.print("Emulator: off (--emulator to add its demo keys).")
        console.print(f"Workspace (kept, git-ignored): {workspace}; key list in {workspace / KEYS_MD}.", soft_wrap=True)
        for name in edited:
            console.print(f"Kept your edited {PACKAGE_COPY}/{name} (the installed one: {NOTEBOOKS_DIR / name}).",
                          soft_wrap=True)  # fmt: skip
        if swept:
            console.print(f"Swept {swept} throwaway Lab copies left by earlier runs.")
        cmd = lab_command(workspace, root, port=port, open_browser=open_browser, settings_dir=settings_dir)
        try:
            return subprocess.call(cmd, env=env)
        except KeyboardInterrupt:
            return 130

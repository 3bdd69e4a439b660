"""Body of ``testkey-nb emulator``: run the Baseten emulator (or, with ``--provider ID``, another
provider's host) in the foreground until Ctrl-C.

Prints the base URLs and the demo keys by variable name only. ``--keys-out FILE`` writes
``export DEMO_<SCENARIO>='key'`` lines (mode 0600): ``source FILE`` exports them, ``--keys-env FILE``
reads them, and the command prints ready-to-paste commands (names, never values). Heavy imports happen
inside the function (CLI start-up is benchmarked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def env_name(label: str) -> str:
    """Scenario label -> variable name, e.g. ``full-access`` -> ``DEMO_FULL_ACCESS``: the one name the
    demo keys have everywhere (``--keys-out``, ``testkey-nb lab``; its dotenv label is ``demo-full-access``,
    as in ``testkey-nb demo``)."""
    return "DEMO_" + "".join(c if c.isalnum() else "_" for c in label).upper()


def write_keys_file(path: Path, keys: dict[str, str]) -> None:
    """Write ``export NAME='key'`` lines to ``path`` with mode 0600 (``source`` exports them; the
    dotenv reader of ``--keys-env`` takes them too).

    Refuses a symlink, a non-regular file, or an existing file readable/writable by group or others.
    """
    import os
    import stat

    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            raise PermissionError(f"{path} exists and is not a regular file; refusing to write keys")
        if info.st_mode & 0o077:
            raise PermissionError(
                f"{path} exists with mode {stat.S_IMODE(info.st_mode):04o}; refusing to write keys into a "
                "file others can read (remove it or chmod 600 first)"
            )
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        text = "".join(f"export {env_name(label)}='{key}'\n" for label, key in keys.items())
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)


def paste_commands(keys_out: Path, key_name: str, base_url: str, management_url: str, claim: str) -> list[str]:
    """Ready-to-paste commands for the written keys file: variable names and URLs, never a key."""
    import shlex

    path = shlex.quote(str(keys_out))
    where = f"--base-url {base_url} --management-url {management_url} --claim {claim}"
    return [
        f"source {path}",
        f"testkey-nb probe env:{key_name} {where}",
        f"testkey-nb render --keys-env {path} {where}",
        f"testkey-nb lab --keys-env {path}   # then tk.check(\"env:{key_name}\", base_url=\"{base_url}\", ...)",
    ]


def emulator(
    port: int = typer.Option(
        0, "--port", help="Inference port; management and impostor roles use PORT+1..PORT+3. 0 = free ports."
    ),
    keys_out: Path | None = typer.Option(
        None, "--keys-out", help="Write the demo keys as export NAME='key' lines (mode 0600)."
    ),
    provider: str = typer.Option(
        "baseten", "--provider", help="Which host to play: baseten (default), openai, anthropic, openrouter, "
        "deepseek, groq, together, cerebras, mistral, fireworks, deepinfra, huggingface.",
    ),
) -> None:
    """Run an emulator on 127.0.0.1 until Ctrl-C: Baseten (inference, management and impostor hosts) or,
    with --provider, another provider's host with a key per mode (valid, bad-key, no-balance, rate-limited)."""
    import signal
    import threading

    from rich.console import Console

    from testkey_nb.emulator.server import EmulatorConfig, RunningEmulator

    console = Console()
    if not console.is_terminal:
        console = Console(width=140)  # piped output: do not squeeze the table to 80 columns
    try:
        emu = RunningEmulator(EmulatorConfig(port=port, provider=provider))
    except ValueError as exc:
        typer.echo(f"testkey-nb: error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    last = port + (3 if provider == "baseten" else 0)
    try:
        emu.start()
    except OSError as exc:
        ports = f"port {port}" if last == port else f"ports {port}..{last}"
        typer.echo(f"testkey-nb: error: cannot listen on 127.0.0.1 {ports}: {exc.strerror}", err=True)
        raise typer.Exit(code=1) from None
    stop = threading.Event()  # SIGTERM handled from here on: a stop during start-up is a clean stop
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if keys_out is not None:
            try:
                write_keys_file(keys_out, emu.keys)
            except OSError as exc:
                typer.echo(f"testkey-nb: error: {exc}", err=True)
                raise typer.Exit(code=2) from None
        if provider == "baseten":
            _print_baseten(console, emu)
        else:
            _print_provider(console, emu)
        if keys_out is not None:
            console.print(f"Keys written to {keys_out} (mode 0600), one export NAME='key' per line. Paste:")
            first = env_name(next(iter(emu.keys), "full-access"))
            for line in paste_commands(keys_out, first, emu.inference_url, emu.management_url, provider):
                console.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)
        else:
            console.print("Use --keys-out FILE to get the keys as a 0600 dotenv file.")
        console.print("Press Ctrl-C to stop.")
        console.file.flush()

        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emu.stop()
    console.print(f"{'Baseten' if provider == 'baseten' else provider} emulator stopped.")


def _print_baseten(console: Any, emu: Any) -> None:
    from rich import box
    from rich.table import Table

    from testkey_nb.emulator.scenarios import SCENARIOS, WORKSPACES

    console.print("[bold]Baseten emulator[/bold] on 127.0.0.1")
    console.print(f"  inference                {emu.inference_url}")
    console.print(f"  management               {emu.management_url}")
    console.print(f"  impostor_openai          {emu.impostor_openai_url}")
    console.print(f"  impostor_openai_headers  {emu.impostor_openai_headers_url}")
    table = Table(title="Demo keys (variable names; keys are never printed)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)  # fmt: skip
    names = [env_name(label) for label in SCENARIOS]
    # the variable names are what a user copies: never cut, never wrapped; the rest wraps between words
    table.add_column("variable", no_wrap=True, min_width=max(map(len, names)))
    table.add_column("scenario", no_wrap=True)
    table.add_column("key type, workspace, tier", overflow="fold")
    for name, (label, sc) in zip(names, SCENARIOS.items(), strict=True):
        ws = WORKSPACES.get(sc.workspace or "")
        key_type = sc.key_type or f"({sc.status})"
        tier = f"{ws.tier.name}: {ws.tier.rpm} RPM / {ws.tier.tpm:,} TPM" if ws else "no tier"
        table.add_row(name, label, f"{key_type}, {sc.workspace or 'no workspace'}, {tier}")
    console.print(table)


_MODE_TEXT = {
    "valid": "accepted: catalog 200, a refused chat gets the validation error and the rate-limit headers",
    "bad-key": "a well-shaped key the host does not know: its refusal (401, or the provider's own)",
    "no-balance": "accepted, out of credit: the billing refusal (and the balance endpoints show it)",
    "no-plan": "accepted, its plan or subscription window used up: the chat gets the plan refusal",
    "rate-limited": "accepted, over its limit: chat answers 429 with the rate-limit headers",
    "geo-blocked": "every path refused for the route or region, before the key is looked at",
}
#: how each host scheme carries the key (the printout's words)
_SCHEME_TEXT = {"bearer": "Authorization: Bearer", "x-api-key": "x-api-key", "api-key": "api-key",
                "x-goog-api-key": "x-goog-api-key or ?key="}  # fmt: skip


def _print_provider(console: Any, emu: Any) -> None:
    from rich import box
    from rich.table import Table

    from testkey_nb.emulator.providers import load_host

    host = load_host(emu.provider)
    auth = _SCHEME_TEXT[host.auth]
    if host.version_header:
        auth += f" + {host.version_header[0]}: {host.version_header[1]}"
    console.print(f"[bold]{host.display_name} emulator[/bold] on 127.0.0.1 ({auth})")
    console.print(f"  base URL     {emu.base_url}")
    if host.management_path:
        console.print(f"  management   {emu.management_url}")
    for route in host.routes:
        note = "  (public)" if route.public else ""
        note += f"  ({_SCHEME_TEXT[route.auth]})" if route.auth else ""
        note += "".join(f"  (needs ?{q}=)" for q in route.query_required)
        console.print(f"  {route.method:<5} {', '.join(route.paths)}{note}")
    table = Table(title="Keys per mode (variable names; keys are never printed)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)  # fmt: skip
    table.add_column("variable", no_wrap=True, min_width=max(len(env_name(mode)) for mode in emu.keys))
    table.add_column("mode", no_wrap=True)
    table.add_column("what the host answers")
    for mode in emu.keys:
        table.add_row(env_name(mode), mode, _MODE_TEXT[mode])
    console.print(table)

"""The `testkey-nb` command: one module per command, wired up in `main`."""

from __future__ import annotations


def main() -> None:
    from testkey_nb.cli.main import main as _main

    _main()

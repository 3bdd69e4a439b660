"""``python -m testkey_nb.emulator [--port N] [--keys-out FILE]``: the same body as ``testkey-nb emulator``."""

import typer

from testkey_nb.cli.emulator import emulator

if __name__ == "__main__":
    typer.run(emulator)

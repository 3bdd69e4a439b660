"""The emulator plays the other providers' hosts from data: ``<id>/host.yaml`` per provider.

`load_host` reads one; `ProviderApp` (app.py) serves it. The documented answers the data is checked
against live in ``tests/providers/<id>/answers.yaml``.
"""

from __future__ import annotations

from testkey_nb.emulator.providers.host import MODES, PROVIDER_IDS, Host, load_host

__all__ = ["MODES", "PROVIDER_IDS", "Host", "load_host"]

"""Provider data: one folder per provider (provider.toml, probes.toml, [interpret.py]).

The loader lives in `testkey_nb.identify.registry`; this package holds data only.
"""

"""Provider folders: one per provider (provider.toml, probes.toml, [permissions.toml], [interpret.py]).

The loader lives in `testkey_nb.identify.loader` (the types in `identify.schema`); a folder's
`interpret.py` is loaded by path by `testkey_nb.check.interpret` (folders are not packages: adding a
provider is adding a folder).
"""

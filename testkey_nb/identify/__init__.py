"""Identification: `schema.py` (what a provider folder declares), `loader.py` (`testkey_nb/providers/*`
-> schema), `evidence.py` (what identification reads) and `score.py` (evidence -> identification)."""

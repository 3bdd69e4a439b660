"""Identification: the provider registry (loaded from `testkey_nb/providers/*`) and evidence scoring."""

"""The read-only probe engine: probe specs and plans, the write guard, httpx execution, observations."""

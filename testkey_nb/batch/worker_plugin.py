"""Warm kernel parents on Dask workers: a ``distributed`` worker plugin (``testkey-nb[cluster]``).

:class:`KernelParentPlugin` gives each worker, for as long as it is registered, a
:class:`~testkey_nb.report.kernels.KernelPool` whose kernels are forked by one fork server that has
imported the report's libraries (``report.forkserver``): a render on the worker takes a started
kernel, used once, instead of starting a Python that imports polars and Altair. ``DaskExecutor``
registers it when a round starts and removes it when the round ends (the pool's raw folders go with
it, so a worker's raw root is empty between rounds, like a local batch's). The pool holds no key.
"""

from __future__ import annotations

from typing import Any, Final

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["PLUGIN_NAME", "KernelParentPlugin", "worker_pool"]

#: The plugin's name on the cluster (one per cluster: a second batch's registration replaces it).
PLUGIN_NAME: Final = "testkey-nb-kernel-parents"


class KernelParentPlugin(WorkerPlugin):
    """A warm kernel pool per worker (``size``: the worker's threads), under the worker's raw root."""

    name = PLUGIN_NAME

    def __init__(self, retention_s: float = 300.0) -> None:
        self.retention_s = retention_s
        self.pool: Any = None

    def setup(self, worker: Any) -> None:
        from testkey_nb.report.kernels import KernelPool
        from testkey_nb.report.retention import default_raw_root

        root = default_raw_root()
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        size = max(1, int(getattr(getattr(worker, "state", None), "nthreads", 1) or 1))
        self.pool = KernelPool(size, root, retention_s=self.retention_s).start()

    def teardown(self, worker: Any) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.close()

    def __getstate__(self) -> dict[str, Any]:  # travels to the workers without a pool
        return {"retention_s": self.retention_s, "pool": None}


def worker_pool() -> Any:
    """The warm kernel pool of the worker this task runs on, or None (no plugin, not on a worker)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    plugin = worker.plugins.get(PLUGIN_NAME)
    return getattr(plugin, "pool", None)

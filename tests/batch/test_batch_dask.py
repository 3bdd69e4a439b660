"""The Dask path: a LocalCluster of processes on loopback renders the same reports as the local pool."""

from __future__ import annotations

import logging
import os
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import FleetRun, canary, secret_parts

from testkey_nb.batch import (
    BatchInputError,
    DaskExecutor,
    InsecureClusterError,
    SealedKey,
    check_cluster_address,
    render_on_worker,
    run_batch,
)
from testkey_nb.batch.keysfile import load_keys_file
from testkey_nb.batch.probing import _without_exchanges
from testkey_nb.report.keyreport import KeyJob

#: A few keys of the fleet batch: a good one, an invalid one, an impostor, a faulty provider, a bad ref.
SUBSET = ["full-access", "invalid", "provider-5xx", "impostor-openai", "missing-ref"]  # file order
#: Fields that depend on the run, not on the key (a runway runs to the check time: it moves between runs;
#: ``rendered``: the local fleet's index may come from its re-run, which kept every report).
VOLATILE = {"seconds", "rendered_at", "checked_at", "rendered", "runway"}


@pytest.mark.parametrize(
    "address",
    ["tcp://127.0.0.1:8786", "127.0.0.1:8786", "tcp://127.9.9.9:1", "tcp://localhost:8786", "tcp://[::1]:8786",
     "tls://scheduler.example:8786", "tls://203.0.113.5:8786", "inproc://abc/1/2"],
)  # fmt: skip
def test_batch_cluster_addresses_accepted(address: str) -> None:
    assert check_cluster_address(address) is False


@pytest.mark.parametrize(
    "address",
    ["tcp://203.0.113.5:8786", "203.0.113.5:8786", "tcp://scheduler.example:8786", "ws://[2001:db8::1]:8786",
     "tcp://localhost.example:8786", "ucx://198.51.100.7:13337"],
)  # fmt: skip
def test_batch_cluster_addresses_refused_without_tls(address: str) -> None:
    with pytest.raises(InsecureClusterError, match="--allow-insecure-cluster"):
        check_cluster_address(address)
    with pytest.raises(InsecureClusterError):
        DaskExecutor(address)  # refused before any connection is attempted
    assert check_cluster_address(address, allow_insecure=True) is True


def test_batch_cluster_address_empty() -> None:
    with pytest.raises(BatchInputError):
        check_cluster_address("  ")


def test_batch_sealed_key_pickles_but_never_shows() -> None:
    key = canary(42)
    sealed = SealedKey(key)
    assert key not in repr(sealed) and key not in str(sealed) and key not in f"{sealed!r} {[sealed]}"
    assert pickle.loads(pickle.dumps(sealed)).open() == key


def test_batch_worker_task_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A render that fails before its kernel starts: a redacted error, the worker's run folder gone."""
    monkeypatch.setenv("TESTKEY_NB_RAW", str(tmp_path / "raw"))
    key = canary(43)
    job = KeyJob(label="w", base_url=f"http://127.0.0.1:9/{key}")  # the key in a parameter is refused
    out = render_on_worker(job, SealedKey(key), 300)
    assert out["label"] == "w" and out["html_bytes"] is None and out["summary"] is None
    assert out["error"] and key not in out["error"]
    assert list((tmp_path / "raw").iterdir()) == []


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    distributed = pytest.importorskip("distributed")
    raw = tmp_path_factory.mktemp("worker-raw")
    stderr = tmp_path_factory.mktemp("worker-stderr") / "workers.stderr"
    with pytest.MonkeyPatch.context() as mp, stderr.open("ab") as sink:
        mp.setenv("TESTKEY_NB_RAW", str(raw))  # worker processes inherit it
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)  # the worker processes inherit this stderr: the log check reads it
        try:
            cluster = distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0", worker_dashboard_address=None,
                # INFO, distributed's default: the workers print what they log (at silence_logs=40 only
                # errors reached their stderr, and a key in an INFO or WARNING line went unseen)
                silence_logs=logging.INFO,
            )  # fmt: skip
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        try:
            yield {"address": cluster.scheduler_address, "raw": raw, "cluster": cluster, "stderr": stderr}
        finally:
            cluster.close(timeout=20)


@pytest.mark.slow
def test_batch_dask_renders_the_same_reports(cluster: dict[str, Any], fleet: FleetRun, tmp_path: Path) -> None:
    address = cluster["address"]
    assert address.startswith("tcp://127.0.0.1:")
    entries = [e.with_defaults(**fleet.defaults) for e in load_keys_file(fleet.keys_file) if e.label in SUBSET]
    out = tmp_path / "dask-reports"
    executor = DaskExecutor(address)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in fleet.env.items():
            mp.setenv(name, value)
        result = run_batch(entries, out, executor=executor, progress=False)
    assert [k.label for k in result.keys] == SUBSET
    assert [k.state for k in result.keys] == ["rendered"] * 4 + ["failed"]

    local = {r["label"]: r for r in fleet.index()}
    dask_rows = {r["label"]: r for r in result_rows(out)}
    for label in SUBSET:
        # the same facts; which request of a round carried each one (its exchange id) depends on timing, and
        # free text may word a round's timing (a usage window, a rate limiter's counts): action names must agree
        text = {"actions", "lenses", "verdict_summary", "status_detail"}
        mine = _without_exchanges({k: v for k, v in dask_rows[label].items() if k not in VOLATILE | text})
        theirs = _without_exchanges({k: v for k, v in local[label].items() if k not in VOLATILE | text})
        assert mine == theirs, label
        assert [a["action"] for a in dask_rows[label]["actions"] or []] == [
            a["action"] for a in local[label]["actions"] or []
        ], label
        assert (dask_rows[label]["runway"] is None) == (local[label]["runway"] is None), label  # facts came back
        if theirs["report"]:
            page = (out / theirs["report"]).read_text(encoding="utf-8")
            drawn = page.count('class="tk-chart"') + page.count('class="tk-chart-note"')  # a chart, or why none
            assert f"tk-{theirs['verdict']}" in page and drawn >= 4
    assert sorted(p.name for p in out.glob("*.html")) == sorted(
        ["index.html", *(f"{label}.html" for label in SUBSET if local[label]["report"])]
    )

    # task names hold no key and no label; the keys left no trace on the workers or in their logs
    assert len(executor.task_names) == 4
    for name in executor.task_names:
        assert re.fullmatch(r"render-\d+-[0-9a-f]{32}", name), name
    assert list(Path(cluster["raw"]).iterdir()) == []
    needles = [part.decode() for label in SUBSET if label in fleet.keys for part in secret_parts(fleet.keys[label])]
    logs = cluster_logs(cluster)
    assert "distributed.worker - INFO" in logs  # the workers' own stderr, at INFO, is read too
    assert not any(n in logs for n in needles)
    for path in out.rglob("*"):
        if path.is_file():
            assert not any(n.encode() in path.read_bytes() for n in needles)


def cluster_logs(cluster: dict[str, Any]) -> str:
    """Every log line of the cluster as one text: what its workers and scheduler keep, and what the
    worker processes printed on their stderr."""
    from distributed import Client

    with Client(cluster["address"], set_as_default=False) as client:
        kept = str(client.get_worker_logs()) + str(client.get_scheduler_logs())
    return kept + Path(cluster["stderr"]).read_text(encoding="utf-8", errors="replace")


def test_batch_dask_log_check_would_catch_a_key(cluster: dict[str, Any]) -> None:
    """Control: a key logged at INFO and at WARNING on a worker and on the scheduler is found by the check
    above (a key that is in no fleet entry, so the real check is not affected)."""
    from distributed import Client

    planted = canary(77)
    info, warning = planted[:22], planted[22:]

    def plant() -> None:
        import logging as _logging

        _logging.getLogger("distributed.worker").info("planted %s", info)
        _logging.getLogger("distributed.worker").warning("planted %s", warning)

    def plant_on_scheduler() -> None:
        import logging as _logging

        _logging.getLogger("distributed.scheduler").info("planted %s", info)

    with Client(cluster["address"], set_as_default=False) as client:
        client.run(plant)
        client.run_on_scheduler(plant_on_scheduler)
    logs = cluster_logs(cluster)
    assert info in logs and warning in logs
    printed = Path(cluster["stderr"]).read_text(encoding="utf-8", errors="replace")
    assert f"INFO - planted {info}" in printed and f"WARNING - planted {warning}" in printed


def result_rows(out: Path) -> list[dict[str, Any]]:
    import json

    return json.loads((out / "index.json").read_text(encoding="utf-8"))


def test_batch_dask_unreachable_scheduler_is_an_input_error(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    executor = DaskExecutor(f"tcp://127.0.0.1:{port}", connect_timeout_s=2)
    with pytest.raises(BatchInputError, match="cannot connect to the Dask scheduler"):
        executor.start(300)


def _probe_worker_pool(dask_worker: Any) -> dict[str, int]:
    """On a worker: take a kernel from the plugin's warm pool; who forked it."""
    from testkey_nb.batch.worker_plugin import PLUGIN_NAME
    from testkey_nb.report.retention import remove_run_dir

    pool = dask_worker.plugins[PLUGIN_NAME].pool
    kernel = pool.take(120)
    try:
        stat = Path(f"/proc/{kernel.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return {"server": pool.fork_server.pid, "ppid": int(stat[1]), "worker": os.getpid()}
    finally:
        kernel.shutdown()
        remove_run_dir(kernel.run_dir)


@pytest.mark.slow
def test_batch_dask_workers_keep_warm_kernel_parents(cluster: dict[str, Any]) -> None:
    """The worker plugin: each worker forks its kernels from a warm fork server while the plugin is
    registered; unregistered, the servers are gone and the workers' raw root is empty again."""
    import time

    import psutil
    from distributed import Client

    from testkey_nb.batch.worker_plugin import PLUGIN_NAME, KernelParentPlugin

    with Client(cluster["address"], set_as_default=False) as client:
        client.register_plugin(KernelParentPlugin(300), name=PLUGIN_NAME)
        try:
            found = client.run(_probe_worker_pool)
        finally:
            client.unregister_worker_plugin(PLUGIN_NAME)
    assert len(found) == 2
    for info in found.values():
        assert info["ppid"] == info["server"] != info["worker"]
    servers = [info["server"] for info in found.values()]
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in servers):
        assert time.monotonic() < deadline, "the fork servers outlived the plugin"
        time.sleep(0.1)
    assert list(Path(cluster["raw"]).iterdir()) == []

"""Render cost per key beside the floor, measured in the same run; prints JSON.

floor     = the same machinery on a notebook with no code but the parameters cell: kernel start,
            papermill, HTML export (no chart, so no vega bundle), atomic write, cleanup.
per key   = the two-chart fixture notebook (polars table, two Altair charts, markdown).
Each is rendered ``--runs`` times (interleaved) after one warm-up render (the first render in a
process pays imports and vl-convert's ~0.9 s bundle build: reported as ``first_render_s``). Also
split for one run: execution vs HTML export. Memory: the parent's peak RSS, the tracemalloc peak of
one extra traced render (tracemalloc slows a render down, so timings run untraced), and each
kernel's own peak RSS (``VmHWM`` of the parent's child processes, sampled from /proc every 20 ms;
``RUSAGE_CHILDREN`` is not used: a child forked from a big parent reports the parent's pages).

Also, as a new user meets it (``--cli-runs``, fresh processes, interleaved): one
``testkey-nb render env:K`` of the emulator's full-access key (its own process: imports, kernel,
probe, six charts, export) beside the floor any papermill report pays: ``papermill`` executing a
one-cell Altair notebook, then ``jupyter nbconvert --to html`` of it (two CLI processes).

    .venv/bin/python benchmarks/render_bench.py [--runs 5] [--cli-runs 3] [--notebook NB.ipynb]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

from testkey_nb._files import NOTEBOOKS_DIR
from testkey_nb.report import RenderRequest, render_notebook
from testkey_nb.report.execute import execute_in_run_dir
from testkey_nb.report.export import export_html
from testkey_nb.report.retention import make_run_dir, remove_run_dir

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "report" / "fixtures"
KEY_ENV = "TESTKEY_NB_KEY"


def _request(
    notebook: Path, out: Path, secret: str, label: str, params: dict[str, object] | None = None
) -> RenderRequest:
    return RenderRequest(
        notebook=notebook,
        out_html=out,
        parameters=params or {"key_env": KEY_ENV},
        kernel_env={KEY_ENV: secret},
        redact=[secret],
        label=label,
    )


def _series(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


class ChildPeakSampler:
    """Max ``VmHWM`` (peak RSS, KiB) over this process's child processes, sampled from /proc."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _children(self) -> list[int]:
        me = str(os.getpid())
        pids: list[int] = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(entry.path, "stat").read_text()
                except OSError:
                    continue
                if stat.rsplit(")", 1)[1].split()[1] == me:
                    pids.append(int(entry.name))
        return pids

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self._children():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_kib = max(self.peak_kib, int(line.split()[1]))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> ChildPeakSampler:
        if Path("/proc/self/status").exists():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def _split(notebook: Path, raw_root: Path, secret: str, params: dict[str, object] | None = None) -> dict[str, float]:
    run_dir = make_run_dir(raw_root)
    try:
        t0 = time.perf_counter()
        outcome = execute_in_run_dir(
            notebook,
            run_dir,
            parameters=params or {"key_env": KEY_ENV},
            kernel_env={KEY_ENV: secret},
            timeout_s=300,
            cell_timeout_s=120,
        )
        t1 = time.perf_counter()
        if outcome.nb is None:
            raise SystemExit(f"execution failed: {type(outcome.error).__name__}")
        export_html(outcome.nb, title="split")
        t2 = time.perf_counter()
    finally:
        remove_run_dir(run_dir)
    return {"execute_s": round(t1 - t0, 3), "export_s": round(t2 - t1, 3)}


_FLOOR_CELL = (
    "import altair as alt\n"
    "alt.Chart(alt.Data(values=[{'x': 'a', 'y': 1}, {'x': 'b', 'y': 2}])).mark_bar().encode(x='x:N', y='y:Q')"
)


def _cli_side_by_side(emu: object, base: Path, runs: int) -> dict[str, object]:
    """One `testkey-nb render` vs papermill + nbconvert of a one-cell Altair notebook, as CLIs."""
    import nbformat

    bin_dir = Path(sys.executable).parent
    floor_nb = base / "floor-altair.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(_FLOOR_CELL)]
    nbformat.write(nb, floor_nb)
    env = {**os.environ, "TK_BENCH_KEY": emu.keys["full-access"], "TESTKEY_NB_RAW": str(base / "cli-raw")}  # type: ignore[attr-defined]
    render_cmd = [str(bin_dir / "testkey-nb"), "render", "env:TK_BENCH_KEY", "--base-url", emu.inference_url,  # type: ignore[attr-defined]
                  "--management-url", emu.management_url, "--out", str(base / "cli-out"), "--label", "bench"]  # type: ignore[attr-defined]  # fmt: skip
    ours, floor = [], []
    for i in range(runs):
        t = time.perf_counter()
        subprocess.run(render_cmd, env=env, check=True, capture_output=True)
        ours.append(time.perf_counter() - t)
        executed = base / f"floor-{i}.ipynb"
        t = time.perf_counter()
        subprocess.run([str(bin_dir / "papermill"), str(floor_nb), str(executed), "-k", "python3", "--no-progress-bar"],
                       env=env, check=True, capture_output=True)  # fmt: skip
        subprocess.run([str(bin_dir / "jupyter-nbconvert"), "--to", "html", str(executed)], env=env, check=True,
                       capture_output=True)  # fmt: skip
        floor.append(time.perf_counter() - t)
    return {
        "runs": runs,
        "testkey_nb_render_s": _series(ours),
        "papermill_plus_nbconvert_floor_s": _series(floor),
        "render_to_floor_ratio": round(statistics.median(ours) / statistics.median(floor), 2),
        "render_report_bytes": (base / "cli-out" / "bench.html").stat().st_size,
        "floor_report_bytes": (base / f"floor-{runs - 1}.html").stat().st_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--notebook", type=Path, default=NOTEBOOKS_DIR / "key_report.ipynb")
    parser.add_argument("--floor-notebook", type=Path, default=FIXTURES / "report_empty.ipynb")
    parser.add_argument("--cli-runs", type=int, default=3, help="fresh-process runs of render vs the CLI floor")
    args = parser.parse_args()

    from testkey_nb.emulator import run_emulator

    with (
        run_emulator() as emu,
        tempfile.TemporaryDirectory(prefix="render-bench-") as tmp,
        ChildPeakSampler() as kernels,
    ):
        # the per-key case is the real key report, probing the emulator's full-access key
        secret = emu.keys["full-access"]
        params: dict[str, object] = {
            "key_env": KEY_ENV,
            "label": "bench",
            "base_url": emu.inference_url,
            "management_url": emu.management_url,
            "deadline_s": 30.0,
        }
        base = Path(tmp)
        raw_root = base / "raw"
        cli = _cli_side_by_side(emu, base, args.cli_runs) if args.cli_runs else None
        kernels.peak_kib = 0  # the CLI processes above were children too: count kernels from here on
        t = time.perf_counter()
        render_notebook(_request(args.notebook, base / "warm.html", secret, "warm", params), raw_root=raw_root)
        first = time.perf_counter() - t

        floor: list[float] = []
        per_key: list[float] = []
        sizes: dict[str, int] = {}
        for i in range(args.runs):  # interleaved, so drift hits both alike
            r = render_notebook(
                _request(args.floor_notebook, base / f"floor{i}.html", secret, "floor"), raw_root=raw_root
            )
            floor.append(r.seconds)
            sizes["floor"] = r.bytes
            r = render_notebook(
                _request(args.notebook, base / f"key{i}.html", secret, "key", params), raw_root=raw_root
            )
            per_key.append(r.seconds)
            sizes["per_key"] = r.bytes
        split = {"floor": _split(args.floor_notebook, raw_root, secret)}
        split["per_key"] = _split(args.notebook, raw_root, secret, params)
        tracemalloc.start()
        render_notebook(_request(args.notebook, base / "traced.html", secret, "traced", params), raw_root=raw_root)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    kib = 1024 if sys.platform != "darwin" else 1024 * 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    report = {
        "notebook": str(args.notebook.relative_to(ROOT) if args.notebook.is_relative_to(ROOT) else args.notebook),
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "first_render_s": round(first, 3),
        "floor_s": _series(floor),
        "per_key_s": _series(per_key),
        "per_key_over_floor_s": round(statistics.median(per_key) - statistics.median(floor), 3),
        "per_key_to_floor_ratio": round(statistics.median(per_key) / statistics.median(floor), 2),
        "split_one_run": split,
        "report_bytes": sizes,
        "parent_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kib / 2**20, 1),
        "parent_tracemalloc_peak_mb": round(traced_peak / 2**20, 1),
        "kernel_peak_rss_mb": round(kernels.peak_kib / 1024, 1) if kernels.peak_kib else None,
        "cli_side_by_side": cli,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

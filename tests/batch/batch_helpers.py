"""Helpers for the batch tests (a uniquely named module: the tests folders have no __init__.py)."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCENARIOS = ["rate-limited", "full-access", "personal", "inference-scoped", "metrics-only", "revoked", "invalid",
             "old-format", "basic-unverified", "pro", "lifecycle", "no-credits"]  # fmt: skip
EXPECTED_VERDICT = {
    "full-access": "ready", "personal": "ready", "inference-scoped": "needs_work", "metrics-only": "reject",
    "revoked": "reject", "invalid": "reject", "old-format": "ready", "basic-unverified": "ready", "pro": "ready",
    "lifecycle": "ready", "no-credits": "needs_work", "rate-limited": "needs_work",
}  # fmt: skip
#: Keys the fleet batch expects to fail, and the start of their reason.
EXPECTED_FAILED = {
    "missing-ref": "key reference: environment variable env:TK_B…(18 chars) is not set",
    "nb-fails": "probe: CheckError: no endpoint to probe",
}
#: A key of no known shape: with no base URL and no claim the notebook has nowhere to go and fails.
SHAPELESS_KEY = "zzCaNaRyShapeless0123456789abcdefXYZ"


def canary(i: int) -> str:
    """A distinct fake key per entry, in Baseten's new key shape."""
    return f"b10_BtCh{i:04d}." + f"BATCHcanary{i:05d}" + "K" * 16


def secret_parts(key: str) -> list[bytes]:
    """What must never appear anywhere: the key, and its secret half."""
    return [key.encode(), key.split(".", 1)[-1].encode()]


def files_with(root: Path, needles: Iterable[bytes]) -> list[str]:
    """Files under ``root`` containing any needle."""
    needles = list(needles)
    hits = []
    for path in Path(root).rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(n in data for n in needles):
                hits.append(str(path))
    return hits


def write_private(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def fleet_keys_file(emu: Any, folder: Path) -> tuple[str, dict[str, str], dict[str, str]]:
    """The 19-entry keys file of the fleet batch: (toml text, env vars to set, label -> key)."""
    env: dict[str, str] = {}
    keys: dict[str, str] = {}
    blocks: list[str] = []
    inference, management = emu.inference_url, emu.management_url

    def add(label: str, scenario: str, *, via: str = "env", **fields: str) -> None:
        key = canary(len(keys))
        emu.add_key(key, scenario)
        keys[label] = key
        if via == "env":
            var = "TK_BATCH_" + label.upper().replace("-", "_")
            env[var] = key
            ref = f"env:{var}"
        else:  # a file next to the keys file, referenced by a relative path
            write_private(folder / f"{label}.key", key + "\n")
            ref = f"file:{label}.key"
        lines = [f"[keys.{label}]", f'ref = "{ref}"']
        lines += [f'{name} = "{value}"' for name, value in fields.items()]
        blocks.append("\n".join(lines))

    for scenario in SCENARIOS:
        via = "file" if scenario in ("personal", "pro") else "env"
        fields = {"base_url": inference}
        if scenario == "full-access":
            fields["claim"] = "baseten"
        # management_url comes from the batch-wide default for every entry but one
        if scenario == "invalid":
            fields["management_url"] = management
        add(scenario, scenario, via=via, **fields)
    add("provider-5xx", "full-access", base_url=emu.fault_url("inference", "http_5xx"))
    add("provider-waf", "full-access", base_url=emu.fault_url("inference", "waf_html"))
    add("impostor-openai", "full-access", base_url=emu.impostor_openai_url, claim="openai")
    add("impostor-headers", "full-access", base_url=emu.impostor_openai_headers_url, claim="openai")
    add("mgmt-down", "full-access", base_url=inference, management_url=emu.fault_url("management", "http_5xx"))
    add("hostile-strings", "full-access", base_url=emu.fault_url("inference", "hostile_strings"))
    blocks.append(
        '# the variable is never set: a per-key failure, no kernel\n[keys.missing-ref]\nref = "env:TK_BATCH_UNSET_VAR"'
    )
    return "# fleet of test keys\n\n" + "\n\n".join(blocks) + "\n", env, keys


@dataclass
class FleetRun:
    folder: Path
    keys_file: Path
    keys_env: Path
    out: Path
    raw: Path
    env: dict[str, str]
    keys: dict[str, str]  # label -> key
    code: int
    stdout: str
    stderr: str
    seconds: float
    defaults: dict[str, Any]

    def index(self) -> list[dict[str, Any]]:
        return json.loads((self.out / "index.json").read_text(encoding="utf-8"))

    def rerun(self, **overrides: Any) -> tuple[int, str, str]:
        from testkey_nb.batch import render_many

        args: dict[str, Any] = {
            "keys_file": self.keys_file, "keys_env": self.keys_env, "out": self.out, "jobs": 2, "force": False,
            "dask": None, "allow_insecure_cluster": False, "retention_s": 300.0, **self.defaults,
        }  # fmt: skip
        args.update(overrides)
        out, err = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as mp:
            for name, value in self.env.items():
                mp.setenv(name, value)
            mp.setenv("TESTKEY_NB_RAW", str(self.raw))
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = render_many(**args)
        return code, out.getvalue(), err.getvalue()


def fake_prober(summary_of: Any, fail: dict[str, str] | None = None) -> Any:
    """A prober without a network: ``summary_of(task)`` is each key's summary (its facts: none), or the
    probe fails with ``fail[label]``. Keys then render from their executor's summary (no payload)."""
    from testkey_nb.batch import Probed

    def probe(tasks: Any) -> dict[int, Any]:
        out = {}
        for task in tasks:
            if fail and task.label in fail:
                out[task.index] = Probed(task.label, None, None, fail[task.label], 0.01)
            else:
                out[task.index] = Probed(task.label, summary_of(task), None, None, 0.01)
        return out

    return probe

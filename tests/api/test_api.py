"""The notebook Python API: testkey_nb.check / check_async, KeyCheck's card and frames, compare()."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import testkey_nb as tk
from testkey_nb.check.result import CheckError
from testkey_nb.check.targets import BASE_URL_ENV, EMULATOR_KEYS_ENV, MANAGEMENT_URL_ENV
from testkey_nb.secrets import KEY_NAMES_ENV, KeyRefError
from tests.conftest import CANARY


@pytest.fixture(scope="module")
def checked(emu: Any) -> tk.KeyCheck:
    env = {"MY_KEY": CANARY}
    return tk.check("env:MY_KEY", base_url=emu.inference_url, management_url=emu.management_url,
                    claim="baseten", label="acme-prod", environ=env)  # fmt: skip


def test_import_is_cheap_and_all_names_resolve() -> None:
    code = (
        "import sys, testkey_nb as tk\n"
        "heavy = [m for m in ('httpx', 'polars', 'altair', 'papermill', 'nbconvert') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "for name in tk.__all__: getattr(tk, name)\n"
        "assert callable(tk.check) and tk.check.run.check_key is not None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_public_surface_is_one_family() -> None:
    from testkey_nb.check.result import KeyCheck as CheckResult
    from testkey_nb.history import load

    assert sorted(tk.__all__) == sorted(
        ["check", "check_async", "compare", "load_history", "render_key", "run_batch", "Secret", "KeyCheck"]
    )
    assert tk.load_history is load and issubclass(tk.KeyCheck, CheckResult)
    with pytest.raises(AttributeError):
        tk.check_key  # noqa: B018 - an older name, gone from the surface


def test_check_outside_a_loop(checked: tk.KeyCheck) -> None:
    assert type(checked) is tk.KeyCheck
    assert checked.label == "acme-prod"
    assert checked.key_ref == "env:MY_KEY"
    assert checked.decision.verdict in ("ready", "needs_work", "reject")
    assert checked.identification.provider == "baseten"
    assert CANARY not in repr(checked) and len(repr(checked)) < 200


def test_check_inside_a_running_loop_and_awaitable(emu: Any) -> None:
    env = {"MY_KEY": CANARY}

    async def in_a_cell() -> tuple[tk.KeyCheck, tk.KeyCheck]:
        # a Jupyter cell runs inside the kernel's loop: the sync call must not call asyncio.run there
        sync = tk.check("env:MY_KEY", base_url=emu.inference_url, claim="baseten", environ=env)
        awaited = await tk.check_async("env:MY_KEY", base_url=emu.inference_url, claim="baseten", environ=env)
        return sync, awaited

    sync, awaited = asyncio.run(in_a_cell())
    assert sync.profile.status.code == awaited.profile.status.code
    assert sync.identification.provider == "baseten"


def test_card_is_escaped_and_folds_the_details(emu: Any, checked: tk.KeyCheck) -> None:
    card = checked._repr_html_()
    assert checked.decision.verdict in card and "baseten" in card
    assert card.count("<details>") == 4
    for action in checked.decision.actions:
        assert action.action in card
    assert CANARY not in card
    hostile = tk.check(tk.Secret(CANARY, label="x"), base_url=emu.inference_url, claim="baseten",
                       label="<img src=x onerror=alert(1)>")  # fmt: skip
    html = hostile._repr_html_()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_frames_write_to_csv_and_parquet(tmp_path: Path, checked: tk.KeyCheck) -> None:
    for name in ("models_frame", "capabilities_frame", "metrics_frame"):
        frame = getattr(checked, name)()
        assert isinstance(frame, pl.DataFrame) and frame.height > 0
        frame.write_csv(tmp_path / f"{name}.csv")
        frame.write_parquet(tmp_path / f"{name}.parquet")
        assert pl.read_parquet(tmp_path / f"{name}.parquet").shape == frame.shape
        assert pl.read_csv(tmp_path / f"{name}.csv").height == frame.height
    models = checked.models_frame()
    assert models.schema["features"] == pl.String  # lists joined for CSV
    assert isinstance(checked.models_frame(join_lists=False).schema["features"], pl.List)
    assert checked.capabilities_frame().height == 10


def test_compare_puts_keys_side_by_side(emu: Any, checked: tk.KeyCheck) -> None:
    other = tk.check(tk.Secret(emu.keys["no-credits"], label="nc"), base_url=emu.inference_url,
                     management_url=emu.management_url, claim="baseten", label="no-credits")  # fmt: skip
    frame = tk.compare([checked, other])
    assert frame["label"].to_list() == ["acme-prod", "no-credits"]
    assert {"verdict", "provider", "status", "allowed_models", "model catalog"} <= set(frame.columns)
    assert "<table" in frame._repr_html_()
    frame.write_csv(Path(pytest.importorskip("tempfile").mkdtemp()) / "compare.csv")
    with pytest.raises(TypeError):
        tk.compare(["not a check"])  # type: ignore[list-item]


def test_a_key_typo_is_one_line_naming_the_keys_that_exist() -> None:
    env = {"BASETEN_API_KEY": CANARY, "DEMO_FULL_ACCESS": "b10_x.y", KEY_NAMES_ENV: "BASETEN_API_KEY,DEMO_FULL_ACCESS"}
    with pytest.raises(KeyRefError) as err:
        tk.check("env:BASETEN_APIKEY", claim="baseten", environ=env)
    message = str(err.value)
    assert message.endswith("is not set; key variables here: BASETEN_API_KEY, DEMO_FULL_ACCESS")
    assert CANARY not in message and "\n" not in message
    assert err.value._render_traceback_() == [f"testkey-nb: error: {message}"]
    # outside Lab: the close names, never a value
    with pytest.raises(KeyRefError, match="did you mean BASETEN_API_KEY"):
        tk.check("env:BASETEN_APIKEY", claim="baseten", environ={"BASETEN_API_KEY": CANARY})


def test_empty_base_url_goes_to_the_emulator_only_for_its_demo_keys(emu: Any) -> None:
    env = {"DEMO_FULL_ACCESS": emu.keys["full-access"], "REAL_KEY": CANARY, EMULATOR_KEYS_ENV: "DEMO_FULL_ACCESS",
           BASE_URL_ENV: emu.inference_url, MANAGEMENT_URL_ENV: emu.management_url}  # fmt: skip
    demo = tk.check("env:DEMO_FULL_ACCESS", environ=env)
    assert demo.targets.inference == emu.inference_url.rstrip("/")
    with pytest.raises(CheckError, match="no endpoint to probe"):
        tk.check("env:REAL_KEY", environ=env)
    assert CheckError("x")._render_traceback_() == ["testkey-nb: error: x"]


def test_money_is_read_or_given_never_assumed(emu: Any, checked: tk.KeyCheck) -> None:
    # Baseten exposes no balance (its documented $30 grant is not one): none is shown, none is assumed
    assert checked.profile.balance is None and checked.profile.balances == ()
    data = checked.to_json()
    assert (data["balance"], data["balances"], data["payment_method"]) == (None, [], None)
    given = tk.check("env:MY_KEY", base_url=emu.inference_url, management_url=emu.management_url, claim="baseten",
                     credits_remaining=12.5, payment_method="card", environ={"MY_KEY": CANARY})  # fmt: skip
    want = {"scope": "workspace", "currency": "USD", "remaining": 12.5, "limit": None, "used": None, "granted": None,
            "provenance": "given", "probe": None, "exchange": None}  # fmt: skip
    assert given.to_json()["balances"] == [want] and given.summary()["balance"] == want
    assert given.summary()["payment_method"] == "card"
    with pytest.raises(CheckError, match=r"^payment_method must be card or none"):  # Python words in Python
        tk.check("env:MY_KEY", base_url=emu.inference_url, payment_method="cash", environ={"MY_KEY": CANARY})
    with pytest.raises(CheckError, match=r"^credits_remaining must be an amount"):
        tk.check("env:MY_KEY", base_url=emu.inference_url, credits_remaining=-1, environ={"MY_KEY": CANARY})


def test_a_url_error_masks_what_it_quotes() -> None:
    pasted = "gsk_" + "W7cAnArY" * 6  # a key pasted where the URL belongs
    for bad in (pasted, f"https://{pasted}:x/v1"):
        with pytest.raises(CheckError) as err:
            tk.check("env:MY_KEY", base_url=bad, claim="groq", environ={"MY_KEY": CANARY})
        assert pasted not in str(err.value) and pasted[4:12] not in str(err.value), str(err.value)
        said = str(err.value)
        assert "base_url" in said and "--base-url" not in said and f"({len(bad)} chars)" in said

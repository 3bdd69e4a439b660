"""Charts in a live Lab go out as Lab's own Vega 5; inside a report render, as Vega-Lite for the exporter."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl
import pytest

from testkey_nb.report import _embed
from testkey_nb.report.charts import limit_matrix
from testkey_nb.report.models import OUTBOX_ENV


def _chart() -> alt.TopLevelMixin:
    models = pl.DataFrame({"model": ["a"], "rpm": [120], "tpm": [100_000], "limits_provenance": ["observed"]})
    return limit_matrix(models, pl.DataFrame({"tier": ["t1"], "rpm": [60], "tpm": [500_000]}))


def test_lab_bundle_is_vega_5_with_the_vega_lite_spec_beside_it() -> None:
    data, metadata = _embed.lab_mimebundle(_chart())
    assert data[_embed.LAB_VEGA_MIME]["$schema"].endswith("/vega/v5.json")  # what Lab's Vega 5.33 renders
    major = alt.SCHEMA_VERSION.lstrip("v").split(".")[0]
    spec = data[f"application/vnd.vegalite.v{major}+json"]
    assert spec["$schema"].startswith(f"https://vega.github.io/schema/vega-lite/v{major}.")
    assert _embed.LAB_VEGALITE_MIME not in data  # Lab's Vega-Lite 5.6 would warn on an Altair 6 spec
    assert metadata[_embed.LAB_VEGA_MIME]["embed_options"]["mode"] == "vega"


@pytest.mark.parametrize("in_render", [True, False])
def test_show_picks_the_bundle_by_context(monkeypatch: pytest.MonkeyPatch, in_render: bool) -> None:
    shown: list[dict[str, Any]] = []
    monkeypatch.setattr("IPython.display.display", lambda data, **_: shown.append(data))
    if in_render:
        monkeypatch.setenv(OUTBOX_ENV, "/nonexistent")
    else:
        monkeypatch.delenv(OUTBOX_ENV, raising=False)
    _embed.show(_chart())
    assert (_embed.LAB_VEGALITE_MIME in shown[0]) is in_render
    assert (_embed.LAB_VEGA_MIME in shown[0]) is not in_render


def test_altair_renderer_entry_point() -> None:
    assert "testkey-nb" in alt.renderers.names()
    data, _ = _embed.lab_renderer(_chart().to_dict())
    assert _embed.LAB_VEGA_MIME in data

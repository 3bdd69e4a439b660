"""Frames that read well in Lab: a polars DataFrame whose notebook display is a compact, formatted table.

:class:`LabFrame` *is* a :class:`polars.DataFrame` (``write_csv``, ``filter``, ``to_pandas`` all work; what
they return is a plain DataFrame); only its ``_repr_html_`` differs from polars' own (which prints every
column at full width, 2,300 px for the models frame): headers with their units, cells through the one
formatter (:mod:`testkey_nb._format`), enum codes through the one label mapping (:mod:`testkey_nb._labels`),
lists joined, at most ``ROWS`` rows with the rest counted, words wrapped between words only.
"""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from testkey_nb._format import column_header, format_cell
from testkey_nb._labels import label, plural

__all__ = ["ROWS", "LabFrame", "frame_html", "lab_frame"]

#: rows a frame shows in Lab (the frame holds them all)
ROWS: Final = 20

#: column -> the label kind its codes read through
_ENUM_COLUMNS: Final = {
    "status": "capability_status",
    "key_status": "status",
    "status_reason": "status_reason",
    "verdict": "verdict",
    "provenance": "provenance",
    "limits_provenance": "provenance",
    "price_provenance": "provenance",
    "grade": "grade",
    "lens": "lens",
    "cost": "cost",
    "outcome": "outcome",
}

_CSS: Final = (
    "<style>"
    ".tk-lab-frame{max-width:100%;overflow-x:auto;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}"
    ".tk-lab-frame table{border-collapse:collapse;font-size:12px;table-layout:auto;margin:2px 0}"
    ".tk-lab-frame th,.tk-lab-frame td{border-bottom:1px solid #e0e0e0;padding:2px 6px;text-align:left;"
    "vertical-align:top;overflow-wrap:normal;word-break:normal;hyphens:manual;max-width:28em}"
    ".tk-lab-frame th{font-weight:600;background:#fafafa}"
    ".tk-lab-frame td.tk-num{text-align:right;white-space:nowrap}"
    ".tk-lab-frame .tk-lab-shape{font-size:11px;color:#757575;margin:0}"
    "</style>"
)


class LabFrame(pl.DataFrame):
    """A polars DataFrame that displays in Lab as a compact formatted table."""

    #: what one row is, for the caption ("13 models")
    _tk_noun: str = "row"

    def _repr_html_(self, *, _from_series: bool = False) -> str:
        return frame_html(self, noun=self._tk_noun)


def _keeps_display(name: str) -> None:
    """``LabFrame.<name>(...)`` returns a LabFrame too (``models_frame().select(...).head(5)`` stays compact)."""
    method = getattr(pl.DataFrame, name)

    def wrapped(self: LabFrame, *args: Any, **kwargs: Any) -> Any:
        out = method(self, *args, **kwargs)
        return lab_frame(out, getattr(self, "_tk_noun", "row")) if isinstance(out, pl.DataFrame) else out

    wrapped.__name__ = wrapped.__qualname__ = name
    wrapped.__doc__ = method.__doc__
    setattr(LabFrame, name, wrapped)


for _name in ("select", "head", "tail", "limit", "filter", "sort", "with_columns", "drop", "rename", "unique",
              "slice", "sample", "join"):
    _keeps_display(_name)


def lab_frame(frame: pl.DataFrame, noun: str = "row") -> LabFrame:
    """``frame`` as a :class:`LabFrame` (the same data, not a copy of it), its rows called ``noun``."""
    out = LabFrame(frame)
    out._tk_noun = noun
    return out


def _cell(column: str, value: Any) -> tuple[str, bool]:
    """(text, is a number) of one cell."""
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, (list, tuple, pl.Series)):
        items = list(value)
        return (", ".join(str(v) for v in items) if items else "(none)"), False
    if column in _ENUM_COLUMNS and isinstance(value, str):
        return label(_ENUM_COLUMNS[column], value), False
    if isinstance(value, (int, float)):
        return format_cell(column, value), True
    return format_cell(column, value), False


def frame_html(frame: pl.DataFrame, *, noun: str = "row", rows: int = ROWS) -> str:
    """A compact, escaped HTML table of ``frame`` (at most ``rows`` rows; a caption says how many there are)."""
    from testkey_nb.report.views import esc

    columns = list(frame.columns)
    head = "".join(f"<th>{esc(column_header(c))}</th>" for c in columns)
    body = []
    for row in frame.head(rows).iter_rows():
        cells = []
        for column, value in zip(columns, row, strict=True):
            text, numeric = _cell(column, value)
            cells.append(f'<td class="tk-num">{esc(text)}</td>' if numeric else f"<td>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    shown = f", the first {rows} shown" if frame.height > rows else ""
    shape = f"{plural(frame.height, noun)} x {plural(len(columns), 'column')}{shown}"
    caption = f'<p class="tk-lab-shape">{esc(shape)}</p>'
    return (f'{_CSS}<div class="tk-lab-frame">{caption}<table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')  # fmt: skip

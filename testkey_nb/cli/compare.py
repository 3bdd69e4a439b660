"""``testkey-nb compare``: several keys side by side, or one key across two checks, on one offline page."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["compare"]


def compare(
    items: list[str] = typer.Argument(
        ...,
        metavar="FILE.json|LABEL ...",
        help="probe --json files, or labels from the history (one label: its last two checks)",
    ),
    out: Path = typer.Option(Path("reports/compare.html"), "--out", help="the HTML page to write"),
    history: Path | None = typer.Option(
        None, "--history", help="history database for labels (default reports/.history/history.duckdb)"
    ),
) -> None:
    """Compare checks on one offline page (differences first): keys side by side, or one key over time."""
    from testkey_nb.report.compare import CompareError, build_comparison, load_documents

    try:
        comparison = build_comparison(load_documents(items, history=history))
        written = comparison.write_html(out)
    except CompareError as exc:
        typer.echo(f"testkey-nb: error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"testkey-nb: error: cannot write {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    what = "one key across checks" if comparison.mode == "over time" else f"{len(comparison.checks)} keys"
    typer.echo(f"{written} ({what}: {len(comparison.differences)} of {len(comparison.rows)} facts differ)")

"""The batch's progress: a rich bar with a line per key on a terminal, plain lines otherwise, or nothing."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from testkey_nb.batch.models import KeyStatus

__all__ = ["Progress"]


class Progress:
    """A rich progress bar with a status line per key on a terminal; plain lines otherwise; or nothing."""

    def __init__(self, enabled: bool, total: int, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.total = total
        self.done = 0
        self.bar: Any = None
        self.task: Any = None
        tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        if tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("[bold]rendering[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=Console(file=self.stream, highlight=False),
                transient=False,
            )

    def __enter__(self) -> Progress:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task("", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def running(self, labels: Sequence[str]) -> None:
        if self.bar is not None:
            shown = ", ".join(labels[:4]) + (f" +{len(labels) - 4}" if len(labels) > 4 else "")
            self.bar.update(self.task, description=shown)

    def stage(self, text: str) -> None:
        """What the round does now (the bar's description only: plain output stays one line per key)."""
        if self.bar is not None:
            self.bar.update(self.task, description=text)

    def note(self, text: str) -> None:
        if self.bar is not None:
            from rich.markup import escape

            self.bar.console.print(f"[yellow]{escape(text)}[/]")
        elif self.enabled:
            print(text, file=self.stream, flush=True)

    def key(self, status: KeyStatus) -> None:
        self.done += 1
        if status.state == "rendered":
            text = f"ok, verdict {status.verdict or 'unknown'} ({status.seconds:.1f} s)"
            style, mark = "green", "ok"
        elif status.state == "unchanged":
            text, style, mark = "probed, nothing changed: report kept (--force renders it again)", "dim", "--"
        elif status.state == "interrupted":
            text, style, mark = "interrupted", "yellow", "!!"
        else:
            text, style, mark = f"failed: {status.error}", "red", "FAILED"
        if self.bar is not None:
            from rich.markup import escape

            self.bar.console.print(f"[{style}]{escape(mark):>6}[/] {escape(status.label)}: {escape(text)}")
            self.bar.update(self.task, completed=self.done)
        elif self.enabled:
            print(f"[{self.done}/{self.total}] {status.label}: {text}", file=self.stream, flush=True)



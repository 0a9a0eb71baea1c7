"""Progress display for building tables: one rich bar (done / total, ETA) and one spinner.

Profiling and measuring networks both show the same bar, so it lives here once. Both are no-ops
when progress is off (tests, benchmarks, `--no-progress`), so callers never branch on it. rich is
imported only when a bar is actually shown. lowering/tuning.py keeps its own bar on purpose:
lowering must not import latency_tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Self, TypeVar

T = TypeVar("T")


class ProgressBar:
    """Items finished / total with ETA, or nothing when `enabled` is False.

    `transient` clears the bar when done (per-phase bars of a table build); `stderr` keeps the bar
    off stdout where stdout carries results.
    """

    def __init__(self, label: str, total: int, *, enabled: bool, transient: bool = False,
                 stderr: bool = False) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.transient, self.stderr = transient, stderr
        self._prog: Any = None
        self._task: Any = None

    def __enter__(self) -> Self:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), console=Console(stderr=True) if self.stderr else None,
                                  transient=self.transient)
            self._prog.__enter__()
            self._task = self._prog.add_task(self.label, total=self.total)
        return self

    def describe(self, text: str) -> None:
        """Replace the label (e.g. with the current measuring round)."""
        if self._prog is not None:
            self._prog.update(self._task, description=text)

    def advance(self) -> None:
        if self._prog is not None:
            self._prog.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._prog is not None:
            self._prog.__exit__(*exc)


def iter_progress(items: Iterable[T], total: int, label: str, enabled: bool,
                  transient: bool = True) -> Iterator[T]:
    """Yield `items` while a bar counts them; no bar when off or there is nothing to count."""
    with ProgressBar(label, total, enabled=enabled and total > 0, transient=transient) as bar:
        for item in items:
            yield item
            bar.advance()


class status_spinner:
    """A rich spinner with a message while a phase without per-item progress runs (compiling)."""

    def __init__(self, message: str, enabled: bool) -> None:
        self.message, self.enabled, self._ctx = message, enabled, None

    def __enter__(self) -> None:
        if self.enabled:
            from rich.console import Console

            self._ctx = Console(stderr=True).status(self.message)
            self._ctx.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(*exc)

"""Progress display for long work: one rich bar (done / total, with ETA or elapsed time), one spinner.

Profiling, measuring networks and tuning all show the same bar, so it lives here once, at the top
of the package where every stage may import it (lowering must not import latency_tables). Both are
no-ops when progress is off (tests, benchmarks, output not a terminal), so callers never branch on
it; rich is imported only when a bar is actually shown.

`Say` is how a long stage function reports a finished step as a line (the CLI passes `click.echo`,
so the user sees the tuning result before profiling starts); by default it says nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, Self, TypeVar

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

T = TypeVar("T")


class Say(Protocol):
    """Where a stage function's step lines go (`err`: a warning, for stderr)."""

    def __call__(self, message: str, err: bool = False) -> None: ...


def silent(message: str, err: bool = False) -> None:
    """A `Say` that says nothing: stage functions called from Python return everything they did."""


class ProgressBar:
    """Items finished / total, or nothing when `enabled` is False.

    `transient` clears the bar when done (per-phase bars of a table build); `stderr` keeps the bar
    off stdout where stdout carries results; `elapsed` shows the time spent instead of an ETA (work
    whose items differ too much in cost for an ETA, such as tuning). More rows under the same bar
    come from `add_row`; `describe` and `advance` address row 0 unless told otherwise.
    """

    def __init__(self, label: str, total: int, *, enabled: bool, transient: bool = False,
                 stderr: bool = False, elapsed: bool = False) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.transient, self.stderr, self.elapsed = transient, stderr, elapsed
        self._prog: Progress | None = None
        self._rows: list[TaskID | None] = []

    def __enter__(self) -> Self:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            clock = TimeElapsedColumn() if self.elapsed else TimeRemainingColumn()
            self._prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), clock,
                                  console=Console(stderr=True) if self.stderr else None, transient=self.transient)
            self._prog.__enter__()
        self.add_row(self.label, self.total)
        return self

    def add_row(self, label: str, total: int) -> int:
        """Another bar under this one; returns its row number (0 is the first)."""
        self._rows.append(None if self._prog is None else self._prog.add_task(label, total=total))
        return len(self._rows) - 1

    def describe(self, text: str, row: int = 0) -> None:
        """Replace a row's label (e.g. with the current measuring round)."""
        task = self._rows[row]
        if self._prog is not None and task is not None:
            self._prog.update(task, description=text)

    def advance(self, n: int = 1, row: int = 0) -> None:
        task = self._rows[row]
        if self._prog is not None and task is not None:
            self._prog.advance(task, n)

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

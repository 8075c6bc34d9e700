"""A progress bar on stderr for long simulations, in virtual time.

The bar measures how far the simulated clock has come between the window's start and end, and
shows the virtual time reached; it is drawn only on a terminal (so ``-o json`` piped to a file,
CI logs and tests see nothing) and disappears when the run ends.
"""

from __future__ import annotations

import sys
from datetime import datetime
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from ccc.simulate.result import iso


class SimulationProgress:
    """Context manager: ``with SimulationProgress(start, end) as p: ... p.update(now)``.

    Args:
        start, end: the simulated window.
        console: where to draw (default: stderr).
        enabled: draw at all; default: only when the console is a terminal.
    """

    def __init__(
        self,
        start: datetime,
        end: datetime,
        *,
        console: Console | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.start = start
        self.end = end
        self.console = console or Console(file=sys.stderr)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self._total_s = max(1.0, (end - start).total_seconds())
        self._progress = Progress(
            TextColumn("simulating"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[now]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not self.enabled,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> SimulationProgress:
        self._progress.start()
        self._task = self._progress.add_task("simulate", total=self._total_s, now=iso(self.start))
        return self

    def update(self, now: datetime) -> None:
        """The simulated clock has reached ``now``."""
        if self._task is None:
            return
        done = min(self._total_s, max(0.0, (now - self.start).total_seconds()))
        self._progress.update(self._task, completed=done, now=iso(now))

    @property
    def fraction(self) -> float:
        """How much of the window is simulated (0.0 to 1.0)."""
        if self._task is None:
            return 0.0
        return self._progress.tasks[0].completed / self._total_s

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

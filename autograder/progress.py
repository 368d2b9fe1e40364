"""A progress line per finished job, and a live bar on a terminal."""
import sys
import time


class Progress:
    """Counts, rate and time left, as one line per finished job (any log) and, on a terminal,
    a live bar (rich)."""

    def __init__(self, total, log, live=None):
        self.total, self.log, self.done, self.t0 = total, log, 0, time.time()
        self.bar = None
        if live is None:
            live = log is print and sys.stdout.isatty()
        if live and total:
            try:
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
                self.bar = RichProgress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                                        TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
                self.task = self.bar.add_task("grading", total=total)
                self.bar.start()
            except Exception:
                self.bar = None

    def eta(self):
        if not self.done:
            return "?"
        left = (time.time() - self.t0) / self.done * (self.total - self.done)
        return f"{int(left // 60)}m{int(left % 60):02d}s"

    def tick(self, line):
        self.done += 1
        text = f"[{self.done}/{self.total}, {self.eta()} left] {line}"
        if self.bar is not None:
            self.bar.console.print(text, highlight=False, markup=False)
            self.bar.update(self.task, completed=self.done)
        else:
            self.log(text)

    def close(self):
        if self.bar is not None:
            self.bar.stop()


"""Terminal progress bar (rows, rows/s, ETA) and the end-of-run summary for batch scoring."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn)
from rich.table import Table
from rich.text import Text

from models.scaling import GRADES
from service.batch.local_engine import BatchSummary, Progress as ProgressFn

TOP_REJECT_RULES = 5


def _rate(task: Task) -> float | None:
    """Average rows/s since the start (rich's own speed resets whenever the estimated total moves)."""
    return task.completed / task.elapsed if task.elapsed and task.completed else None


class RowsPerSecond(ProgressColumn):
    """Rows scored per second."""

    def render(self, task: Task) -> Text:
        rate = _rate(task)
        return Text(f"{rate:,.0f} rows/s" if rate else "– rows/s", style="progress.data.speed")


class Eta(ProgressColumn):
    """Time left at the average rate, for the estimated total."""

    def render(self, task: Task) -> Text:
        rate = _rate(task)
        if not rate or task.total is None:
            return Text("ETA –", style="progress.remaining")
        left = int(max(task.total - task.completed, 0) / rate)
        return Text(f"ETA {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}", style="progress.remaining")


@contextmanager
def progress_bar(console: Console, enabled: bool) -> Iterator[ProgressFn | None]:
    """A live bar on `console` when enabled (a terminal and not --quiet), else no callback."""
    if not enabled:
        yield None
        return
    columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), RowsPerSecond(), TimeElapsedColumn(), Eta())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("scoring", total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=max(total, done) if total else None)

        yield update


def summary_table(s: BatchSummary) -> Table:
    """Rows scored and rejected, grade counts, the commonest reject rules, time and files."""
    table = Table(title="Batch scoring summary", show_header=False)
    table.add_column("item")
    table.add_column("value", justify="right")
    table.add_row("rows read", f"{s.rows:,}")
    table.add_row("scored", f"{s.scored:,}")
    table.add_row("rejected", f"{s.rejected:,} ({s.reject_rate:.2%})")
    for grade in GRADES:
        if s.grade_counts.get(grade):
            table.add_row(f"  grade {grade}", f"{s.grade_counts[grade]:,}")
    for (fld, rule), count in s.reject_rules.most_common(TOP_REJECT_RULES):
        table.add_row(f"  reject {fld or '(line)'}: {rule}", f"{count:,}")
    for name, count in sorted(s.normalised.items()):  # nothing is changed silently
        table.add_row(f"  normalised {name}", f"{count:,}")
    table.add_row("time", f"{s.seconds:,.1f} s ({s.rows / s.seconds if s.seconds else 0:,.0f} rows/s)")
    table.add_row("output", str(s.output))
    if s.rejects_path:
        table.add_row("rejects", str(s.rejects_path))
    return table

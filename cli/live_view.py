"""The live view of ``peakops rehearse`` on stderr, read from the run directory as it grows.

On a terminal a Rich panel, redrawn twice a second; otherwise (CI logs, pipes) one plain
line every few seconds and a last one at the end. The figures come from the run's own
files (``collectors.live_state``), like every later stage: this process only reads them.
stdout is never touched, so ``--output json`` prints the verdict alone.

The run directory is found as the rehearsal creates it: the first new directory under
the runs folder whose ``run.json`` names this plan.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from rich.console import Console, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table

from collectors.cleanup import cleanup_note
from collectors.live_state import LiveSnapshot, LiveState, RunTail
from collectors.rundir import RunDir
from rollout.gate import GateResult
from slo.plan import Plan
from slo.runfiles import HEADER_FILE

__all__ = ["PLAIN_EVERY_S", "LiveView", "find_run", "panel", "plain_line", "run_with_live_view"]

REFRESH_S = 0.5
PLAIN_EVERY_S = 5.0
"""How often a plain line is printed when stderr is not a terminal."""
OVERSELL = "judged at the end"
"""The live drift re-check of the load process is not recorded in the run directory."""


def run_with_live_view(
    plan: Plan,
    root: Path,
    processes: int,
    hosts: frozenset[str] = frozenset(),
    plan_dir: Path | None = None,
    *,
    console: Console,
) -> GateResult:
    """Run the rehearsal of ``plan`` with the live view on ``console`` (stderr)."""
    from rehearsal.run import rehearse

    with LiveView(root, plan, console):
        result = rehearse(plan, root, processes=processes, allowed_hosts=hosts, plan_dir=plan_dir)
    note = cleanup_note(RunDir(result.run_dir))  # beside the verdict, never part of it
    if note:
        console.print(f"peakops: {note}", highlight=False, markup=False)
    return result


def find_run(root: Path, before: set[str], plan_name: str) -> Path | None:
    """The newest directory under ``root`` not in ``before`` whose header names ``plan_name``."""
    try:
        fresh = sorted((p for p in root.iterdir() if p.name not in before), reverse=True)
    except OSError:  # the runs folder is not made yet
        return None
    for path in fresh:
        try:
            header = json.loads((path / HEADER_FILE).read_bytes())
        except (OSError, ValueError):
            continue  # not a run, or its header not written yet
        plan = header.get("plan") if isinstance(header, dict) else None
        if isinstance(plan, dict) and plan.get("name") == plan_name:
            return path
    return None


class LiveView:
    """A context manager showing the rehearsal started inside it (see the module doc)."""

    def __init__(
        self,
        root: Path,
        plan: Plan,
        console: Console,
        *,
        clock: Callable[[], float] = time.time,
        interactive: bool | None = None,
    ) -> None:
        self.root = root
        self.plan = plan
        self.console = console
        self.clock = clock
        self.interactive = console.is_terminal if interactive is None else interactive
        self.run_path: Path | None = None
        self._before = {p.name for p in root.iterdir()} if root.is_dir() else set()
        self._tail: RunTail | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="live-view", daemon=True)
        self._live: Live | None = None
        self._printed_at = -PLAIN_EVERY_S
        self._failed = False

    def poll(self) -> LiveSnapshot | None:
        """Read what the run appended since the last poll (None: no run directory yet)."""
        if self._tail is None:
            self.run_path = find_run(self.root, self._before, self.plan.name)
            if self.run_path is None:
                return None
            self._tail = RunTail(self.run_path, LiveState(self.plan.load.duration_s))
        return self._tail.poll(self.clock())

    def show(self, snapshot: LiveSnapshot | None, *, last: bool = False) -> None:
        """Draw the panel, or print a plain line when one is due (or ``last``)."""
        if self._live is not None:
            self._live.update(panel(snapshot, self._title()))
            return
        now = time.monotonic()
        if snapshot is not None and (last or now - self._printed_at >= PLAIN_EVERY_S):
            self._printed_at = now
            self.console.print(plain_line(snapshot), highlight=False, markup=False)

    def _title(self) -> str:
        run = f" {self.run_path.name}" if self.run_path is not None else ""
        return f"peakops rehearse{run}"

    def _loop(self) -> None:
        while not self._stop.wait(REFRESH_S) and self._refresh():
            pass

    def _refresh(self, *, last: bool = False) -> bool:
        """Poll and show; False (said once) when the view failed: it never stops a run."""
        if self._failed:
            return False
        try:
            self.show(self.poll(), last=last)
        except Exception as err:  # a bug of the view, an unreadable folder
            self.console.print(f"peakops: live view stopped: {err}", markup=False)
            self._failed = True
            return False
        return True

    def __enter__(self) -> LiveView:
        if self.interactive:
            self._live = Live(
                panel(None, self._title()), console=self.console, refresh_per_second=4,
                redirect_stdout=False, redirect_stderr=True,
            )  # fmt: skip
            self._live.start()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self._refresh(last=True)
        finally:
            if self._live is not None:
                self._live.stop()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _per_min(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}/min"


def _figures(s: LiveSnapshot) -> dict[str, str]:
    """Each figure as both views show it."""
    window = f"last {s.window_s:.0f} s" if s.window_s else "last interval"
    return {
        "load": f"{min(s.elapsed_s, s.planned_s):.0f}/{s.planned_s:.0f} s",
        "arrivals": f"{s.arrivals_sent}/{s.arrivals_planned:.0f} sent "
        f"({s.arrivals_dropped} dropped)",
        "interval": f"{window}: p95 {_ms(s.p95_ms)}, errors {_ratio(s.error_ratio)}, "
        f"orders {_per_min(s.orders_per_min)}",
        "faults": (", ".join(s.faults) or "none")
        + (f" ({s.faults_ended} ended)" if s.faults_ended else ""),
        "alerts": ", ".join(s.alerts) or "none firing",
        "oversell": OVERSELL,
    }


def plain_line(s: LiveSnapshot) -> str:
    """One line for logs: ``peakops: flood 23/60 s | arrivals ... | oversell: ...``."""
    f = _figures(s)
    skipped = f" | {s.skipped} unreadable record(s) skipped" if s.skipped else ""
    return (
        f"peakops: {s.phase} {f['load']} | arrivals {f['arrivals']} | {f['interval']} | "
        f"faults: {f['faults']} | alerts: {f['alerts']} | oversell: {f['oversell']}{skipped}"
    )


def panel(s: LiveSnapshot | None, title: str = "peakops rehearse") -> Panel:
    """The terminal view of ``s`` (None: the run directory is not there yet)."""
    if s is None:
        return Panel("starting...", title=title, expand=False)
    f = _figures(s)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    load = Table.grid(padding=(0, 1))
    done = min(s.elapsed_s, s.planned_s)
    load.add_row(ProgressBar(total=max(s.planned_s, 1e-9), completed=done, width=30), f["load"])
    rows: list[tuple[str, RenderableType]] = [
        ("phase", s.phase), ("load", load), ("arrivals", f["arrivals"]),
        ("interval", f["interval"]), ("faults", f["faults"]), ("alerts", f["alerts"]),
        ("oversell", f["oversell"]),
    ]  # fmt: skip
    if s.skipped:
        rows.append(("skipped", f"{s.skipped} unreadable record(s)"))
    for name, value in rows:
        grid.add_row(name, value)
    return Panel(grid, title=title, expand=False)

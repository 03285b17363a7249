"""Stock probes: what the source of truth and every channel view say, over time.

Probes read one SKU at a time (truth, then each channel's view) at a steady rate,
alternating between the hottest SKUs and a rotating sample of the rest, into
``stock.jsonl``. A run starts with a full truth snapshot (the drift checker's
baseline) and ends with a settle phase, which waits (bounded) until the views agree
with the truth, then a final snapshot. Reads the OMS could not answer (a target under
chaos: ``UNANSWERED``) are counted, not fatal; anything else an adapter call raises is
a bug: it is reported (a ``probe_failed`` event, the traceback in the log) and
probing stops, since further probes would only repeat it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from collectors.adapter import UNANSWERED, OmsAdapter, StockRow

__all__ = [
    "EventSink",
    "ProbeFailed",
    "ProbeFailure",
    "ProbeSchedule",
    "StockProber",
    "probe_until_failed",
]

logger = logging.getLogger(__name__)

Sink = Callable[[dict[str, Any]], None]


class EventSink(Protocol):
    """Where the run's events go (``collectors.rundir.EventLog``)."""

    def emit(self, type_: str, **fields: Any) -> None: ...


@dataclass(frozen=True)
class ProbeFailure:
    """The adapter call that raised a bug, and what it raised ("KeyError: 'x'")."""

    call: str
    error: str


class ProbeFailed(Exception):
    """A probe's adapter call raised a bug (already reported): stop probing."""

    def __init__(self, failure: ProbeFailure) -> None:
        super().__init__(f"stock probe {failure.call} failed: {failure.error}")
        self.failure = failure


class ProbeSchedule:
    """Which SKU to probe next: every other probe a hot SKU, else the next of the rest."""

    def __init__(self, hot: Sequence[str], rest: Sequence[str]) -> None:
        self._hot: Iterator[str] = itertools.cycle(hot) if hot else iter(())
        self._rest: Iterator[str] = itertools.cycle(rest) if rest else iter(())
        self._turn = itertools.cycle((True, False))

    def next_sku(self) -> str | None:
        first, second = (self._hot, self._rest) if next(self._turn) else (self._rest, self._hot)
        return next(first, None) or next(second, None)


class StockProber:
    """Reads truth and views through the adapter and writes one record per row."""

    def __init__(
        self,
        adapter: OmsAdapter,
        sink: Sink,
        *,
        events: EventSink,
        channels: Sequence[str],
        source: str = "probe",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.adapter = adapter
        self.sink = sink
        self.events = events
        self.channels = tuple(channels)
        self.source = source
        self.clock = clock
        self.reads = 0  # adapter calls attempted
        self.errors = 0  # ... that the OMS could not answer
        self.failure: ProbeFailure | None = None  # the first that raised a bug

    @property
    def failed(self) -> bool:
        return self.failure is not None

    def snapshot(self, phase: str, view_skus: Sequence[str] = ()) -> None:
        """All of the truth in one read, then the views of ``view_skus``."""
        self._read(phase, "truth", None, self.adapter.read_all_truth)
        for sku in view_skus:
            self._views(sku, phase)

    def probe(self, sku: str, phase: str = "run") -> dict[str, Any]:
        """Truth and every view of one SKU; returns {(kind, channel, location): available}."""
        seen: dict[Any, Any] = {}
        for row in self._read(phase, "truth", None, self.adapter.read_truth, sku):
            seen[("truth", None, row.location)] = row.available
        for channel in self.channels:
            for row in self._read(phase, "view", channel, self.adapter.read_view, sku, channel):
                seen[("view", channel, row.location)] = row.available
        return seen

    def settle(
        self, skus: Sequence[str], *, timeout_s: float, sleep: Callable[[float], Any]
    ) -> bool:
        """Re-probe ``skus`` until every view equals the truth, or ``timeout_s`` passes."""
        deadline = self.clock() + timeout_s
        pending = list(skus)
        while pending and self.clock() < deadline:
            pending = [sku for sku in pending if not _agrees(self.probe(sku, "settle"))]
            if pending:
                sleep(0.2)
        return not pending

    def settle_views(
        self, skus: Sequence[str], *, timeout_s: float, sleep: Callable[[float], Any]
    ) -> dict[str, Any]:
        """``settle`` at the end of a run, as the fields of a ``views_settled`` event.

        Skipped (``skipped``, not converged) once probing has failed: the failing call
        would only be repeated in a loop.
        """
        started = self.clock()
        converged, skipped = False, self.failed
        if not skipped:
            with contextlib.suppress(ProbeFailed):  # reported already
                converged = self.settle(skus, timeout_s=timeout_s, sleep=sleep)
        fields = {"converged": converged, "skus": len(skus),
                  "seconds": round(self.clock() - started, 3)}  # fmt: skip
        return {**fields, "skipped": True} if skipped else fields

    def final_snapshot(self, view_skus: Sequence[str]) -> None:
        """The end-of-run snapshot, tried once even after a failure (reported if it fails)."""
        with contextlib.suppress(ProbeFailed):
            self.snapshot("final", view_skus)

    def _views(self, sku: str, phase: str) -> None:
        for channel in self.channels:
            self._read(phase, "view", channel, self.adapter.read_view, sku, channel)

    def _read(
        self, phase: str, kind: str, channel: str | None, call: Callable[..., list[StockRow]],
        *args: Any,
    ) -> list[StockRow]:  # fmt: skip
        t0 = self.clock()
        self.reads += 1
        try:
            rows = call(*args)
        except UNANSWERED:  # a target under chaos: count it, keep probing
            self.errors += 1
            return []
        except Exception as err:  # a bug: report it, stop
            raise self._failed(phase, call, args, err) from err
        t = self.clock()
        for row in rows:
            self.sink(
                {
                    "t": t, "t0": t0, "kind": kind, "sku": row.sku, "location": row.location,
                    "channel": channel, "available": row.available, "on_hand": row.on_hand,
                    "reserved": row.reserved, "committed": row.committed, "phase": phase,
                    "source": self.source,
                }
            )  # fmt: skip
        return rows

    def _failed(
        self, phase: str, call: Callable[..., Any], args: tuple[Any, ...], err: Exception
    ) -> ProbeFailed:
        name = getattr(call, "__name__", repr(call))
        failure = ProbeFailure(call=name, error=f"{type(err).__name__}: {err}")
        logger.exception(
            "stock probe %s%r (phase %s) raised a bug, not an oms that could not answer: "
            "probing stops",
            name, args, phase,
        )  # fmt: skip
        self.events.emit(
            "probe_failed", error=failure.error, call=name, args=list(args), phase=phase
        )
        if self.failure is None:
            self.failure = failure
        return ProbeFailed(failure)


def probe_until_failed(
    prober: StockProber,
    schedule: ProbeSchedule,
    *,
    period_s: float,
    sleep: Callable[[float], Any],
    on_probe: Callable[[str], Any] = lambda sku: None,
) -> None:
    """Probe the schedule's next SKU every ``period_s``, until a probe raises a bug.

    Runs until its caller stops it (the end of the load), or returns once a probe
    failed (reported by the prober: ``probe_failed``, the traceback in the log).
    """
    while True:
        sku = schedule.next_sku()
        if sku is not None:
            try:
                prober.probe(sku)
            except ProbeFailed:
                return
            on_probe(sku)
        sleep(period_s)


def _agrees(seen: dict[Any, Any]) -> bool:
    truth = {loc: n for (kind, _, loc), n in seen.items() if kind == "truth"}
    views = [(loc, n) for (kind, _, loc), n in seen.items() if kind == "view"]
    return bool(truth) and all(truth.get(loc) == n for loc, n in views)

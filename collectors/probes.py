"""Stock probes: what the source of truth and every channel view say, over time.

Probes read one SKU at a time (truth, then each channel's view) at a steady rate,
alternating between the hottest SKUs and a rotating sample of the rest, into
``stock.jsonl``. A run starts with a full truth snapshot (the drift checker's
baseline) and ends with a settle phase, which waits (bounded) until the views agree
with the truth, then a final snapshot. Probe failures (a target under chaos) are
counted, not fatal.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from collectors.adapter import OmsAdapter, StockRow

__all__ = ["ProbeSchedule", "StockProber"]


Sink = Callable[[dict[str, Any]], None]


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
        channels: Sequence[str],
        source: str = "probe",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.adapter = adapter
        self.sink = sink
        self.channels = tuple(channels)
        self.source = source
        self.clock = clock
        self.errors = 0

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

    def _views(self, sku: str, phase: str) -> None:
        for channel in self.channels:
            self._read(phase, "view", channel, self.adapter.read_view, sku, channel)

    def _read(
        self, phase: str, kind: str, channel: str | None, call: Callable[..., list[StockRow]],
        *args: Any,
    ) -> list[StockRow]:  # fmt: skip
        t0 = self.clock()
        try:
            rows = call(*args)
        except Exception:  # a target under chaos: count it, keep probing
            self.errors += 1
            return []
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


def _agrees(seen: dict[Any, Any]) -> bool:
    truth = {loc: n for (kind, _, loc), n in seen.items() if kind == "truth"}
    views = [(loc, n) for (kind, _, loc), n in seen.items() if kind == "view"]
    return bool(truth) and all(truth.get(loc) == n for loc, n in views)

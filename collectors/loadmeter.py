"""The load generator's own figures, per interval: was the planned load really sent?

Alongside latency, every load process records each second: arrivals planned, sent
and dropped; requests planned per endpoint; orders confirmed; the most journeys in
flight; and its own CPU use. The gate reads these to compare sent with planned, and
to call a run inconclusive when the generator itself was the bottleneck.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["LoadMeter"]


Sink = Callable[[dict[str, Any]], None]


class LoadMeter:
    """Counts one interval of generator activity and emits it when the interval closes.

    Like ``IntervalRecorder`` it is driven from the load process's single thread:
    ``flush`` is called a few times a second by the same loop that records.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        cpu_percent: Callable[[], float],
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        source: str = "",
    ) -> None:
        self._sink = sink
        self._cpu = cpu_percent
        self._interval = interval_s
        self._clock = clock
        self._source = source
        self._index = int(clock() // interval_s)
        self._final = False
        self._bounds()
        self._reset()
        self.active = 0
        self.total_confirmed = 0

    def _bounds(self) -> None:
        # The open interval on the clock: ``_roll`` within it is two comparisons.
        self._since = self._index * self._interval
        self._until = (self._index + 1) * self._interval

    def _reset(self) -> None:
        self.arrivals_planned = 0.0
        self.arrivals_sent = 0
        self.arrivals_dropped = 0
        self.orders_confirmed = 0
        self.planned: Counter[str] = Counter()
        self.active_max = getattr(self, "active", 0)

    def plan(self, endpoints: Iterable[str], arrivals: float = 1.0) -> None:
        """An arrival was planned that will call ``endpoints`` (once per item)."""
        self._roll()
        self.arrivals_planned += arrivals
        self.planned.update(endpoints)

    def plan_expected(self, arrivals: float, per_endpoint: dict[str, float]) -> None:
        """Closed model: the profile planned ``arrivals`` (fractional) in this interval."""
        self._roll()
        self.arrivals_planned += arrivals
        for endpoint, count in per_endpoint.items():
            self.planned[endpoint] += count  # type: ignore[assignment]

    def sent(self) -> None:
        if not self._since <= self._clock() < self._until:
            self._roll()
        self.arrivals_sent += 1
        active = self.active = self.active + 1
        if active > self.active_max:
            self.active_max = active

    def finished(self) -> None:
        self.active -= 1

    def dropped(self) -> None:
        self._roll()
        self.arrivals_dropped += 1

    def confirmed(self) -> None:
        self._roll()
        self.orders_confirmed += 1
        self.total_confirmed += 1

    def flush(self, *, final: bool = False) -> None:
        """Emit the interval if it has closed (or always, when ``final``).

        After the final flush only intervals that counted something are emitted:
        the interval it cut short is never written twice."""
        if final:
            self._close(int(self._clock() // self._interval))
            self._final = True
        else:
            self._roll()

    def _roll(self) -> None:
        index = int(self._clock() // self._interval)
        if index != self._index:
            self._close(index)

    def _close(self, index: int) -> None:
        """Emit the open interval and open ``index``. The meter moves on before the
        sink runs: a sink that yields (gevent: a lock held by a scrape) lets other
        greenlets count, and they must count into the new interval, not emit the
        old one again."""
        record = self._record()
        self._index = index
        self._bounds()
        self._reset()
        if record is not None:
            self._sink(record)

    def _record(self) -> dict[str, Any] | None:
        counted = self.arrivals_planned or self.arrivals_sent or self.arrivals_dropped
        if self._final and not (counted or self.orders_confirmed or self.planned):
            return None
        return {
            "t": round(self._index * self._interval, 3),
            "interval_s": self._interval,
            "source": self._source,
            "arrivals_planned": round(self.arrivals_planned, 3),
            "arrivals_sent": self.arrivals_sent,
            "arrivals_dropped": self.arrivals_dropped,
            "orders_confirmed": self.orders_confirmed,
            "active_max": self.active_max,
            "planned": {k: round(v, 3) for k, v in sorted(self.planned.items())},
            "cpu_percent": round(self._cpu(), 1),
        }
